"""ETA/countdown and ``expires``: held messages stay in kombu's ``unacked`` until they run,
expired tasks are REVOKED, and ``--eta-task-limit`` still completes every task.
"""

import re
from datetime import datetime, timedelta, timezone

import pytest
from celery import chain
from celery.exceptions import TaskRevokedError

from pytest_cworker.canvas import MIXED_ROUTE, Stopwatch, record, wait_record
from pytest_cworker.plugin import RESULT_TIMEOUT
from pytest_cworker.waiting import wait_until


@pytest.fixture(scope="module")
def worker_args():
    return MIXED_ROUTE


def test_countdown_task_is_held_unacked_then_runs(worker, tasks, broker, results):
    elapsed = Stopwatch()
    result = tasks.add.apply_async((1, 2), countdown=1)
    worker.wait_received(result.id, timeout=RESULT_TIMEOUT)
    wait_until(lambda: broker.hlen("unacked") == 1, 2, message="ETA message not in unacked")
    assert broker.zcard("unacked_index") == 1
    assert broker.llen("celery") == 0
    if elapsed() < 0.8:
        assert record(results, result.id) is None  # not run yet
    assert result.get(timeout=RESULT_TIMEOUT) == 3
    assert elapsed() >= 1.0
    wait_until(lambda: broker.hlen("unacked") == 0, 5, message="ETA message never acked")


def test_eta_in_a_chain_step(worker, python_worker, tasks, pyside):
    elapsed = Stopwatch()
    result = chain(tasks.add.s(1, 1), pyside.double.s().set(countdown=0.5),
                   tasks.mul.s(3)).apply_async()
    assert result.get(timeout=RESULT_TIMEOUT) == 12
    assert elapsed() >= 0.5


def test_expired_task_is_revoked(worker, tasks, results):
    past = datetime.now(timezone.utc) - timedelta(seconds=10)
    result = tasks.add.apply_async((1, 1), expires=past)
    with pytest.raises(TaskRevokedError):
        result.get(timeout=RESULT_TIMEOUT)
    meta = record(results, result.id)
    assert meta["status"] == "REVOKED"
    assert meta["result"]["exc_type"] == "TaskRevokedError"
    worker.wait_received(result.id)
    assert not re.search(re.escape(result.id) + r"\] succeeded", worker.log_text())
    assert tasks.add.delay(2, 2).get(timeout=RESULT_TIMEOUT) == 4


def test_task_expiring_while_held_is_revoked(worker, tasks, results):
    result = tasks.add.apply_async((1, 1), countdown=1, expires=0.5)
    with pytest.raises(TaskRevokedError):
        result.get(timeout=RESULT_TIMEOUT)
    assert wait_record(results, result.id, 1, "REVOKED")["result"]["exc_type"] == (
        "TaskRevokedError"
    )


def test_expired_chain_step_is_revoked(worker, python_worker, tasks, pyside, results):
    """A chain step's ``expires`` in seconds counts from when the previous step's worker
    sends it (a negative value: already expired; a datetime in a step's options is not
    usable: Celery 5.2 serialises it to a string its own send_task cannot compare)."""
    result = chain(tasks.add.s(1, 1), pyside.double.s().set(expires=-10)).apply_async()
    with pytest.raises(TaskRevokedError):
        result.get(timeout=RESULT_TIMEOUT)
    assert wait_record(results, result.parent.id, RESULT_TIMEOUT)["result"] == 2
    assert record(results, result.id)["status"] == "REVOKED"
    python_worker.wait_received(result.id)


def test_eta_task_limit_still_completes_everything(cworker, reference_mode, tasks, broker,
                                                   results):
    """``--eta-task-limit 2`` with 5 countdown tasks and then 1 immediate task.

    Asserted in both modes: every task completes with its value and no countdown task runs
    before its ETA. Python Celery 5.2.6 has no such limit (it holds all five and runs the
    immediate task at once); cworker holds at most 2 and stops fetching until one is due, so
    (checked only against cworker) ``unacked`` never holds more than 3 messages (2 held, 1
    being fetched or run) and the immediate task, queued behind three more countdown tasks,
    completes no earlier than their ETA.
    """
    worker = cworker.start("--eta-task-limit", "2", *MIXED_ROUTE)
    sent = datetime.utcnow()  # date_done is naive UTC
    delayed = [tasks.add.apply_async((i, i), countdown=1) for i in range(5)]
    immediate = tasks.add.delay(100, 1)
    samples = []

    def all_done():
        samples.append(broker.hlen("unacked"))
        return all(r.ready() for r in delayed + [immediate])

    wait_until(all_done, RESULT_TIMEOUT, interval=0.01)
    assert [r.get(timeout=1) for r in delayed] == [0, 2, 4, 6, 8]
    assert immediate.get(timeout=1) == 101
    for r in delayed:
        done = datetime.fromisoformat(record(results, r.id)["date_done"])
        assert done >= sent + timedelta(seconds=1), (done, sent)
    assert len(worker.received_ids()) == 6
    if not reference_mode:
        assert max(samples) <= 3, samples
        # Fetching stopped while two ETA tasks were held: the immediate task, queued behind
        # the other three, ran only once they had become due.
        done = datetime.fromisoformat(record(results, immediate.id)["date_done"])
        assert done >= sent + timedelta(seconds=1), (done, sent)
