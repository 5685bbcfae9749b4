"""Retries: explicit ``self.retry`` (countdown, eta, exc), automatic retries with backoff
(``autoretry_for``), and what a retry keeps: the chain after the task, its callbacks (run
once, on the final outcome) and the ``retries`` counter in ``result_extended`` records.

The module's shared worker runs with ``--result-extended`` (records carry ``retries``).
``retry_forever`` exhausts its retries without an exception of its own and ends in Celery's
``MaxRetriesExceededError``; ``retry_exc`` and ``flaky`` re-raise the task's own exception.
"""

import pytest
from celery import chain

from pytest_cworker.canvas import (
    MIXED_ROUTE,
    Stopwatch,
    counter,
    record,
    require_tasks,
    settle,
    wait_list,
    wait_state,
)
from pytest_cworker.plugin import RESULT_TIMEOUT


@pytest.fixture(scope="module")
def worker_args():
    return MIXED_ROUTE + ["--result-extended"]


def test_retry_until_counts_retries_in_extended_record(worker, tasks, results):
    mark = worker.log_mark()
    result = tasks.retry_until.delay(3)
    assert result.get(timeout=RESULT_TIMEOUT) == 3
    assert worker.received_ids(since=mark).count(result.id) == 4
    meta = record(results, result.id)
    assert meta["status"] == "SUCCESS"
    assert (meta["name"], meta["args"], meta["kwargs"]) == ("tasks.retry_until", [3], {})
    assert meta["retries"] == 3
    assert meta["queue"] == "celery"


def test_retry_exc_fails_with_the_last_exception(worker, tasks, results):
    require_tasks(tasks, "retry_exc")
    mark = worker.log_mark()
    result = tasks.retry_exc.delay(2)
    with pytest.raises(ValueError, match=r"^attempt 2$"):
        result.get(timeout=RESULT_TIMEOUT)
    assert worker.received_ids(since=mark).count(result.id) == 3
    meta = record(results, result.id)
    assert meta["status"] == "FAILURE"
    assert meta["result"]["exc_type"] == "ValueError"
    assert meta["result"]["exc_message"] == ["attempt 2"]
    assert meta["retries"] == 2


def test_retry_eta(worker, tasks, results):
    require_tasks(tasks, "retry_eta")
    mark = worker.log_mark()
    elapsed = Stopwatch()
    result = tasks.retry_eta.delay(2)
    assert result.get(timeout=RESULT_TIMEOUT) == 2
    assert elapsed() >= 0.4  # two retries, each with eta = now + 0.2 s
    assert worker.received_ids(since=mark).count(result.id) == 3
    assert record(results, result.id)["retries"] == 2


def test_autoretry_with_backoff(worker, tasks, celery_app, results):
    """``flaky(2)``: ValueError on tries 0 and 1, each retried after min(1 * 2**retries, 1)
    = 1 s (retry_backoff=1, retry_backoff_max=1, no jitter); RETRY is stored in between."""
    require_tasks(tasks, "flaky")
    mark = worker.log_mark()
    elapsed = Stopwatch()
    result = tasks.flaky.delay(2)
    wait_state(celery_app, result.id, "RETRY", RESULT_TIMEOUT)
    meta = record(results, result.id)
    assert meta["status"] == "RETRY"
    assert meta["result"]["exc_type"] == "ValueError"
    assert meta["result"]["exc_message"][0] in ("flaky attempt 0", "flaky attempt 1")
    assert meta["date_done"] is None
    assert result.get(timeout=RESULT_TIMEOUT) == 2
    # 2 s of backoff; an uncapped backoff (1 s + 2 s) would take 3 s.
    assert 2.0 <= elapsed() < 2.9, elapsed()
    assert worker.received_ids(since=mark).count(result.id) == 3
    final = record(results, result.id)
    assert final["status"] == "SUCCESS" and final["retries"] == 2


def test_autoretry_gives_up_after_max_retries(worker, tasks, results):
    """``flaky(9)`` with max_retries=5: after 5 retries (1 s apart) the ValueError of the
    last try is the FAILURE."""
    require_tasks(tasks, "flaky")
    mark = worker.log_mark()
    result = tasks.flaky.delay(9)
    with pytest.raises(ValueError, match=r"^flaky attempt 5$"):
        result.get(timeout=RESULT_TIMEOUT)
    assert worker.received_ids(since=mark).count(result.id) == 6
    meta = record(results, result.id)
    assert meta["status"] == "FAILURE" and meta["retries"] == 5


def test_retried_task_keeps_its_chain(worker, python_worker, tasks, pyside):
    result = chain(tasks.retry_until.s(2), pyside.double.s(), tasks.add.s(1)).apply_async()
    assert result.get(timeout=RESULT_TIMEOUT) == 5


def test_callbacks_run_once_on_the_final_outcome(worker, python_worker, tasks, pyside, results):
    require_tasks(tasks, "retry_exc")
    ok = tasks.retry_until.apply_async((2,), link=pyside.count.s("ok-count"),
                                       link_error=pyside.record_error.s(key="ok-errors"))
    bad = tasks.retry_exc.apply_async((2,), link=pyside.count.s("bad-count"),
                                      link_error=pyside.record_error.s(key="bad-errors"))
    assert ok.get(timeout=RESULT_TIMEOUT) == 2
    with pytest.raises(ValueError, match=r"^attempt 2$"):
        bad.get(timeout=RESULT_TIMEOUT)
    assert wait_list(results, "bad-errors", 1, RESULT_TIMEOUT) == [bad.id.encode()]
    settle(tasks, pyside, RESULT_TIMEOUT)
    assert counter(results, "ok-count") == 1
    assert results.llen("ok-errors") == 0
    assert counter(results, "bad-count") == 0
    assert results.lrange("bad-errors", 0, -1) == [bad.id.encode()]


def test_retries_exhausted_raise_max_retries_exceeded(worker, tasks, celery_app, results):
    require_tasks(tasks, "retry_forever")
    from celery.exceptions import MaxRetriesExceededError

    r = tasks.retry_forever.delay()
    with pytest.raises(MaxRetriesExceededError) as info:
        r.get(timeout=RESULT_TIMEOUT)
    assert f"tasks.retry_forever[{r.id}]" in str(info.value)
    stored = record(results, r.id)
    assert stored["status"] == "FAILURE"
    assert stored["result"]["exc_module"] == "celery.exceptions"
    assert stored.get("retries") == 2
