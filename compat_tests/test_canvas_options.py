"""Task options and worker settings the canvas work brings: ignore_result, track_started
(per task and ``--track-started``), ``--result-extended`` records, acks_late (per task and
``--acks-late``): what is stored, and when the message leaves kombu's ``unacked``.
"""

import socket

import pytest
from celery import chain

from pytest_cworker.canvas import MIXED_ROUTE, record, require_tasks, wait_state
from pytest_cworker.plugin import RESULT_TIMEOUT
from pytest_cworker.waiting import wait_until

EXTENDED_KEY_ORDER = [
    "status", "result", "traceback", "children", "date_done",
    "name", "args", "kwargs", "worker", "retries", "queue", "task_id",
]


@pytest.fixture(scope="module")
def worker_args():
    return MIXED_ROUTE


def nodename(handle):
    return f"{handle.name}@{socket.gethostname()}"


def unacked_while_running(broker, result, timeout):
    """HLEN unacked, sampled until ``result`` is ready (samples taken before it was)."""
    samples = []

    def check():
        count = broker.hlen("unacked")
        if result.ready():
            return True
        samples.append(count)
        return False

    wait_until(check, timeout, interval=0.01)
    return samples


def succeeded_line(worker, result, value):
    return worker.wait_for_log(
        r"Task [\w.]+\[" + result.id + r"\] succeeded in [^:]+: " + value,
        timeout=RESULT_TIMEOUT,
    )


# --- ignore_result ------------------------------------------------------------------------
def test_ignore_result_task_stores_nothing(worker, tasks, results):
    require_tasks(tasks, "quiet_add")
    result = tasks.quiet_add.delay(1, 2)
    succeeded_line(worker, result, "3")
    assert tasks.add.delay(0, 0).get(timeout=RESULT_TIMEOUT) == 0  # the worker moved on
    assert record(results, result.id) is None
    assert result.state == "PENDING"


def test_ignore_result_option_stores_nothing(worker, tasks, results):
    result = tasks.add.apply_async((1, 2), ignore_result=True)
    succeeded_line(worker, result, "3")
    assert tasks.add.delay(0, 0).get(timeout=RESULT_TIMEOUT) == 0
    assert record(results, result.id) is None
    assert result.state == "PENDING"


# --- track_started ------------------------------------------------------------------------
def test_track_started_task_stores_started_while_running(worker, tasks, celery_app, results):
    require_tasks(tasks, "tracked_sleep")
    result = tasks.tracked_sleep.delay(0.5)
    wait_state(celery_app, result.id, "STARTED", RESULT_TIMEOUT)
    meta = record(results, result.id)
    if meta["status"] == "STARTED":  # (unless it finished in between)
        assert meta["result"]["hostname"] == nodename(worker)
        # The process that runs it: the worker itself, or one of its prefork children.
        assert meta["result"]["pid"] in [worker.proc.pid, *worker.child_pids()]
        assert meta["date_done"] is None and meta["traceback"] is None
    assert result.get(timeout=RESULT_TIMEOUT) == 0.5
    assert record(results, result.id)["status"] == "SUCCESS"


def test_no_started_state_without_tracking(worker, tasks, celery_app):
    result = tasks.sleep.delay(0.4)
    worker.wait_received(result.id)
    seen = []

    def done():
        state = celery_app.AsyncResult(result.id).state
        seen.append(state)
        return state == "SUCCESS"

    wait_until(done, RESULT_TIMEOUT, interval=0.01)
    assert "STARTED" not in seen


def test_track_started_flag(cworker, tasks, celery_app, results):
    worker = cworker.start("--track-started", *MIXED_ROUTE)
    result = tasks.sleep.delay(0.5)
    wait_state(celery_app, result.id, "STARTED", RESULT_TIMEOUT)
    meta = record(results, result.id)
    if meta["status"] == "STARTED":
        assert meta["result"]["hostname"] == nodename(worker)
        # The process that runs it: the worker itself, or one of its prefork children.
        assert meta["result"]["pid"] in [worker.proc.pid, *worker.child_pids()]
    assert result.get(timeout=RESULT_TIMEOUT) == 0.5


# --- result_extended ----------------------------------------------------------------------
def test_result_extended_records(cworker, tasks, results):
    worker = cworker.start("--result-extended", *MIXED_ROUTE)
    result = tasks.add.apply_async((2,), {"y": 3})
    assert result.get(timeout=RESULT_TIMEOUT) == 5
    meta = record(results, result.id)
    assert list(meta) == EXTENDED_KEY_ORDER
    assert meta["name"] == "tasks.add"
    assert meta["args"] == [2] and meta["kwargs"] == {"y": 3}
    assert meta["worker"] == nodename(worker)
    assert meta["retries"] == 0 and meta["queue"] == "celery"

    step = chain(tasks.add.s(1, 1), tasks.mul.s(3)).apply_async()
    assert step.get(timeout=RESULT_TIMEOUT) == 6
    meta = record(results, step.id)
    order = EXTENDED_KEY_ORDER[:5] + ["parent_id"] + EXTENDED_KEY_ORDER[5:]
    assert list(meta) == order
    assert meta["parent_id"] == step.parent.id
    assert (meta["name"], meta["args"], meta["kwargs"]) == ("tasks.mul", [2, 3], {})

    failed = tasks.fail.delay("oops")
    with pytest.raises(ValueError):
        failed.get(timeout=RESULT_TIMEOUT)
    meta = record(results, failed.id)
    assert meta["status"] == "FAILURE" and meta["name"] == "tasks.fail"
    assert meta["args"] == ["oops"] and meta["queue"] == "celery"


def test_result_extended_from_config_file(cworker, tasks, results, tmp_path):
    config = tmp_path / "celeryconfig.json"
    config.write_text('{"result_extended": true, "task_routes": {"pyside.*": {"queue": "python"}}}')
    worker = cworker.start("--config", str(config))
    result = tasks.mul.delay(6, 7)
    assert result.get(timeout=RESULT_TIMEOUT) == 42
    meta = record(results, result.id)
    assert list(meta) == EXTENDED_KEY_ORDER
    assert meta["worker"] == nodename(worker)


# --- acks_late ----------------------------------------------------------------------------
def test_acks_late_task_stays_unacked_while_running(worker, tasks, broker):
    require_tasks(tasks, "late_sleep")
    result = tasks.late_sleep.delay(0.6)
    worker.wait_received(result.id)
    samples = unacked_while_running(broker, result, RESULT_TIMEOUT)
    assert len(samples) > 5 and set(samples) == {1}, samples
    wait_until(lambda: broker.hlen("unacked") == 0, 5, message="not acked after the run")
    assert result.get(timeout=1) == 0.6


@pytest.mark.cworker_only  # Celery 5.2.6's solo pool on Redis leaves the message in unacked
# until the task returns even without acks_late; cworker acks before running (documented).
def test_early_ack_by_default(worker, tasks, broker):
    result = tasks.sleep.delay(0.6)
    worker.wait_received(result.id)
    samples = unacked_while_running(broker, result, RESULT_TIMEOUT)
    assert samples and samples[-1] == 0, samples  # acked before it finished


def test_acks_late_flag(cworker, tasks, broker):
    worker = cworker.start("--acks-late", *MIXED_ROUTE)
    result = tasks.sleep.delay(0.6)
    worker.wait_received(result.id)
    samples = unacked_while_running(broker, result, RESULT_TIMEOUT)
    assert len(samples) > 5 and set(samples) == {1}, samples
    wait_until(lambda: broker.hlen("unacked") == 0, 5, message="not acked after the run")
