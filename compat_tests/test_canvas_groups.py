"""Groups and chords across a mixed deployment (C++ members on the worker under test, Python
members on a real Python Celery worker).

Celery's Redis chord protocol: the client stores the header size at
``celery-taskset-meta-<group>.s``; every member that finishes ZADDs its result (scored by
its group index) to ``celery-taskset-meta-<group>.j``; whichever worker finishes the *last*
member (C++ or Python) joins the results, deletes the ``.j``/``.s``/``.t`` keys and sends the
body exactly once (or, when a member failed, stores a ``ChordError`` FAILURE for the body and
calls its errbacks).
"""

import pytest
from celery import chain, chord, group

from pytest_cworker.canvas import (
    MIXED_ROUTE,
    chain_results,
    counter,
    record,
    settle,
    wait_list,
    wait_record,
)
from pytest_cworker.plugin import RESULT_TIMEOUT


@pytest.fixture(scope="module")
def worker_args():
    return MIXED_ROUTE


def mixed_header(tasks, pyside, n):
    """``n`` members alternating C++ (``tasks.add(i, i)``) and Python (``pyside.double(i)``):
    member i returns 2 * i."""
    return [tasks.add.s(i, i) if i % 2 == 0 else pyside.double.s(i) for i in range(n)]


def received_count(handles, task_id):
    return sum(handle.received_ids().count(task_id) for handle in handles)


# --- groups -------------------------------------------------------------------------------
def test_group_of_cpp_and_python_tasks(worker, python_worker, tasks, pyside, results):
    result = group(
        tasks.add.s(1, 1), pyside.double.s(5), tasks.mul.s(3, 4), pyside.add.s(2, 3),
        tasks.xsum.s([1, 2, 3]),
    ).apply_async()
    assert result.get(timeout=RESULT_TIMEOUT) == [2, 10, 12, 5, 6]
    members = result.results
    assert [m.id in worker.received_ids() for m in members] == [True, False, True, False, True]
    assert [m.id in python_worker.received_ids() for m in members] == [
        False, True, False, True, False,
    ]
    for member in members:
        meta = record(results, member.id)
        assert meta["status"] == "SUCCESS"
        assert meta["group_id"] == result.id
        assert "parent_id" not in meta


def test_group_results_keep_order_with_slow_first_member(worker, python_worker, tasks, pyside):
    result = group(
        pyside.slow_add.s(1, 1, 0.3), tasks.add.s(2, 2), pyside.double.s(3), tasks.mul.s(2, 2)
    ).apply_async()
    assert result.get(timeout=RESULT_TIMEOUT) == [2, 4, 6, 4]


# --- chords -------------------------------------------------------------------------------
@pytest.mark.parametrize("body", ["cpp", "python"])
def test_chord_mixed_header(worker, python_worker, tasks, pyside, results, body):
    callback = tasks.xsum.s() if body == "cpp" else pyside.tsum.s()
    result = chord(mixed_header(tasks, pyside, 10), callback).apply_async()
    assert result.get(timeout=RESULT_TIMEOUT) == 90
    header = result.parent
    assert header.get(timeout=1) == [2 * i for i in range(10)]
    settle(tasks, pyside, RESULT_TIMEOUT)
    assert received_count([worker, python_worker], result.id) == 1
    body_runner = worker if body == "cpp" else python_worker
    assert result.id in body_runner.received_ids()
    meta = record(results, result.id)
    assert meta["status"] == "SUCCESS" and meta["result"] == 90
    for member in header.results:
        assert record(results, member.id)["group_id"] == header.id
    assert results.keys(f"celery-taskset-meta-{header.id}*") == []  # bookkeeping removed


def test_chord_body_runs_exactly_once(worker, python_worker, tasks, pyside, results):
    key = "chord-body-count"
    result = chord(mixed_header(tasks, pyside, 12), pyside.count.s(key)).apply_async()
    assert result.get(timeout=RESULT_TIMEOUT) == [2 * i for i in range(12)]
    settle(tasks, pyside, RESULT_TIMEOUT)
    assert counter(results, key) == 1


def test_chord_with_100_member_header(worker, python_worker, tasks, pyside):
    header = [tasks.add.s(i, i) if i % 2 else pyside.add.s(i, i) for i in range(100)]
    result = chord(header, tasks.xsum.s()).apply_async()
    assert result.get(timeout=RESULT_TIMEOUT) == sum(2 * i for i in range(100))
    settle(tasks, pyside, RESULT_TIMEOUT)
    assert received_count([worker, python_worker], result.id) == 1


def test_chord_header_containing_chains(worker, python_worker, tasks, pyside):
    header = [
        chain(tasks.add.s(1, 1), pyside.double.s()),  # 4
        pyside.double.s(10),  # 20
        chain(pyside.add.s(2, 3), tasks.mul.s(2), pyside.double.s()),  # 20
        tasks.add.s(3, 3),  # 6
    ]
    result = chord(header, tasks.xsum.s()).apply_async()
    assert result.get(timeout=RESULT_TIMEOUT) == 50
    settle(tasks, pyside, RESULT_TIMEOUT)
    assert received_count([worker, python_worker], result.id) == 1


@pytest.mark.parametrize("spelling", ["chord", "group-then-task"])
def test_chain_containing_a_chord(worker, python_worker, tasks, pyside, results, spelling):
    """``chain(add(1,1), chord([double, mul(3)], xsum), mul(2))``: the header members get 2,
    the body gets [4, 6], the last step 10 * 2. ``group | task`` inside a chain is upgraded
    to the same chord by Celery."""
    header = [pyside.double.s(), tasks.mul.s(3)]
    if spelling == "chord":
        canvas = chain(tasks.add.s(1, 1), chord(header, tasks.xsum.s()), tasks.mul.s(2))
    else:
        canvas = tasks.add.s(1, 1) | group(header) | tasks.xsum.s() | tasks.mul.s(2)
    result = canvas.apply_async()
    assert result.get(timeout=RESULT_TIMEOUT) == 20
    body = chain_results(result)[-2]
    assert wait_record(results, body.id, RESULT_TIMEOUT)["result"] == 10


def test_chord_body_linked_to_further_work(worker, python_worker, tasks, pyside):
    result = chord(mixed_header(tasks, pyside, 4), tasks.xsum.s()).apply_async()
    assert result.get(timeout=RESULT_TIMEOUT) == 12
    follow = (chord(mixed_header(tasks, pyside, 4), tasks.xsum.s()) | pyside.double.s())
    assert follow.apply_async().get(timeout=RESULT_TIMEOUT) == 24


@pytest.mark.parametrize("failing", ["cpp", "python"])
def test_chord_with_failing_member(worker, python_worker, tasks, pyside, results, failing):
    key = "chord-errback"
    bad = tasks.fail.si("bad member") if failing == "cpp" else pyside.fail.si("bad member")
    header = [tasks.add.s(1, 1), pyside.double.s(2), bad, tasks.add.s(3, 3), pyside.double.s(4)]
    body = tasks.xsum.s().on_error(pyside.record_error.s(key=key))
    result = chord(header, body).apply_async()
    # get() re-raises the failed member's error first (the header is the body's parent).
    with pytest.raises(ValueError, match="^bad member$"):
        result.get(timeout=RESULT_TIMEOUT)
    failed_member = result.parent.results[2]
    meta = wait_record(results, result.id, RESULT_TIMEOUT, "FAILURE")
    assert meta["result"]["exc_type"] == "ChordError"
    [message] = meta["result"]["exc_message"]
    assert message.startswith(f"Dependency {failed_member.id} raised ValueError(")
    assert "bad member" in message
    # The body's errback (old-style: called with the body's id) ran once; the body never ran.
    errback = wait_list(results, key, 1, RESULT_TIMEOUT)
    settle(tasks, pyside, RESULT_TIMEOUT)
    assert errback == [result.id.encode()]
    assert results.lrange(key, 0, -1) == [result.id.encode()]
    assert received_count([worker, python_worker], result.id) == 0

