"""``link`` / ``link_error`` callbacks across a mixed deployment.

The worker that ran the task sends its callbacks: ``link`` signatures get the result
prepended to their args (one callback: sent alone; several: sent as one group), ``link_error``
signatures of the old one-parameter shape get the failed task's id. ``pyside.count`` INCRs a
counter so that every callback execution is counted exactly.
"""

import pytest
from pytest_cworker.canvas import (
    MIXED_ROUTE,
    counter,
    record,
    require_tasks,
    result_of,
    settle,
    wait_list,
    wait_record,
)
from pytest_cworker.plugin import RESULT_TIMEOUT


@pytest.fixture(scope="module")
def worker_args():
    return MIXED_ROUTE


def frozen(sig):
    """``sig`` with its task id fixed now (so the test can wait on the callback's result)."""
    sig.freeze()
    return sig


def test_link_python_callback_runs_once_with_the_result(worker, python_worker, tasks, pyside,
                                                        celery_app, results):
    key = "link-count"
    callback = frozen(pyside.count.s(key))
    result = tasks.add.apply_async((2, 2), link=callback)
    assert result.get(timeout=RESULT_TIMEOUT) == 4
    assert result_of(celery_app, callback.id, RESULT_TIMEOUT) == 4
    settle(tasks, pyside, RESULT_TIMEOUT)
    assert counter(results, key) == 1
    assert python_worker.received_ids().count(callback.id) == 1
    meta = record(results, callback.id)
    assert meta["status"] == "SUCCESS" and meta["parent_id"] == result.id
    # Sent from inside the task: Celery lists it in the task's children.
    assert record(results, result.id)["children"] == [[[callback.id, None], None]]


def test_multiple_links_all_run_once(worker, python_worker, tasks, pyside, celery_app, results):
    key = "multi-link-count"
    callbacks = [frozen(pyside.count.s(key)), frozen(tasks.mul.s(10)), frozen(pyside.double.s())]
    result = tasks.add.apply_async((2, 2), link=callbacks)
    assert result.get(timeout=RESULT_TIMEOUT) == 4
    values = [
        result_of(celery_app, cb.id, RESULT_TIMEOUT) for cb in callbacks
    ]
    assert values == [4, 40, 8]
    settle(tasks, pyside, RESULT_TIMEOUT)
    assert counter(results, key) == 1
    for callback in callbacks:
        assert record(results, callback.id)["parent_id"] == result.id
    received = worker.received_ids() + python_worker.received_ids()
    assert [received.count(cb.id) for cb in callbacks] == [1, 1, 1]


def test_link_partial_args_and_kwargs(worker, python_worker, tasks, celery_app):
    callback = frozen(tasks.echo.s(1, k="v"))
    immutable = frozen(tasks.mul.si(3, 3))
    result = tasks.add.apply_async((2, 2), link=[callback, immutable])
    assert result.get(timeout=RESULT_TIMEOUT) == 4
    echoed = result_of(celery_app, callback.id, RESULT_TIMEOUT)
    assert echoed == {"args": [4, 1], "kwargs": {"k": "v"}}
    assert result_of(celery_app, immutable.id, RESULT_TIMEOUT) == 9


def test_python_task_links_cpp_callback(worker, python_worker, tasks, pyside, celery_app,
                                        results):
    callback = frozen(tasks.add.s(0))
    result = pyside.double.apply_async((21,), link=callback)
    assert result.get(timeout=RESULT_TIMEOUT) == 42
    assert result_of(celery_app, callback.id, RESULT_TIMEOUT) == 42
    assert callback.id in worker.received_ids()
    assert record(results, callback.id)["parent_id"] == result.id


def test_link_error_python_errback_gets_failed_task_id(worker, python_worker, tasks, pyside,
                                                       results):
    key = "errback-ids"
    result = tasks.fail.apply_async(("x",), link_error=pyside.record_error.s(key=key))
    with pytest.raises(ValueError, match="^x$"):
        result.get(timeout=RESULT_TIMEOUT)
    assert wait_list(results, key, 1, RESULT_TIMEOUT) == [result.id.encode()]
    settle(tasks, pyside, RESULT_TIMEOUT)
    assert results.lrange(key, 0, -1) == [result.id.encode()]


@pytest.mark.parametrize("failing", ["cpp", "python"])
def test_link_error_cpp_errback(worker, python_worker, tasks, pyside, celery_app, results,
                                failing):
    require_tasks(tasks, "on_error")
    errback = frozen(tasks.on_error.s())
    task = tasks.fail if failing == "cpp" else pyside.fail
    result = task.apply_async(("y",), link_error=errback)
    with pytest.raises(ValueError, match="^y$"):
        result.get(timeout=RESULT_TIMEOUT)
    handled = result_of(celery_app, errback.id, RESULT_TIMEOUT)
    assert handled == f"handled {result.id}"
    meta = record(results, errback.id)
    assert meta["parent_id"] == result.id
    settle(tasks, pyside, RESULT_TIMEOUT)
    assert worker.received_ids().count(errback.id) == 1


def test_callbacks_only_for_their_outcome(worker, python_worker, tasks, pyside, results):
    ok = tasks.add.apply_async((1, 1), link_error=pyside.record_error.s(key="errbacks"))
    bad = tasks.fail.apply_async(("z",), link=pyside.count.s("callbacks"))
    assert ok.get(timeout=RESULT_TIMEOUT) == 2
    with pytest.raises(ValueError, match="^z$"):
        bad.get(timeout=RESULT_TIMEOUT)
    settle(tasks, pyside, RESULT_TIMEOUT)
    assert results.llen("errbacks") == 0
    assert counter(results, "callbacks") == 0
    assert wait_record(results, bad.id, 1, "FAILURE")["children"] == []
