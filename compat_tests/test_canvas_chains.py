"""Chains across a mixed deployment: C++ steps on the worker under test (queue ``celery``),
Python-only steps (``pyside.*``) on a real Python Celery worker (queue ``python``).

Each step's worker sends the next step (Celery's chain protocol: the remaining steps travel
in the message's ``chain`` field), so these check what the worker under test publishes:
routing, ``parent_id``/``root_id``, and the FAILURE it writes for the steps a failure stops.
"""

import pytest
from celery import chain

from pytest_cworker.canvas import (
    MIXED_ROUTE,
    chain_results,
    settle,
    wait_held,
    wait_record,
)
from pytest_cworker.plugin import RESULT_TIMEOUT


@pytest.fixture(scope="module")
def worker_args():
    return MIXED_ROUTE


def test_chain_cpp_python_cpp(worker, python_worker, tasks, pyside, results):
    result = chain(tasks.add.s(2, 2), pyside.double.s(), tasks.mul.s(10)).apply_async()
    assert result.get(timeout=RESULT_TIMEOUT) == 80
    add, double, mul = chain_results(result)
    # A step's worker sends the next step *before* it stores its own result (Celery's order,
    # so that the record can list the next step in ``children``): wait for earlier records.
    assert wait_record(results, add.id, RESULT_TIMEOUT)["result"] == 4
    assert wait_record(results, double.id, RESULT_TIMEOUT)["result"] == 8
    assert add.id in worker.received_ids() and mul.id in worker.received_ids()
    assert double.id in python_worker.received_ids()
    assert double.id not in worker.received_ids()


def test_chain_python_cpp_python(worker, python_worker, tasks, pyside):
    result = chain(pyside.double.s(3), tasks.add.s(4), pyside.double.s()).apply_async()
    assert result.get(timeout=RESULT_TIMEOUT) == 20
    first, add, last = chain_results(result)
    assert add.id in worker.received_ids()
    assert {first.id, last.id} <= set(python_worker.received_ids())


def test_parent_id_in_each_step_record(worker, python_worker, tasks, pyside, results):
    result = chain(
        tasks.add.s(1, 2), pyside.double.s(), tasks.mul.s(5), tasks.add.s(1)
    ).apply_async()
    assert result.get(timeout=RESULT_TIMEOUT) == 31
    steps = chain_results(result)
    metas = [wait_record(results, step.id, RESULT_TIMEOUT) for step in steps]
    assert [m["status"] for m in metas] == ["SUCCESS"] * 4
    assert [m["result"] for m in metas] == [3, 6, 30, 31]
    assert "parent_id" not in metas[0]  # the first step was sent by the client
    for previous, meta in zip(steps, metas[1:]):
        assert meta["parent_id"] == previous.id
    for step, meta in zip(steps, metas):
        assert meta["task_id"] == step.id
        assert "group_id" not in meta


def test_each_step_record_lists_the_next_step_as_child(worker, python_worker, tasks, pyside,
                                                        results):
    """The next step is sent from inside the step's task context, so Celery stores it in
    the step's ``children`` (what ``AsyncResult.children`` and ``collect()`` read)."""
    result = chain(tasks.add.s(1, 2), pyside.double.s(), tasks.mul.s(5)).apply_async()
    assert result.get(timeout=RESULT_TIMEOUT) == 30
    steps = chain_results(result)
    children = [wait_record(results, step.id, RESULT_TIMEOUT)["children"] for step in steps]
    assert children == [[[[steps[1].id, None], None]], [[[steps[2].id, None], None]], []]
    assert [c.id for c in steps[0].children] == [steps[1].id]


@pytest.mark.parametrize("sender", ["cpp", "python"])
def test_follow_up_headers_carry_root_and_parent(worker, python_worker, tasks, pyside, broker,
                                                 sender):
    """The step after ``sender``'s goes to a queue nobody consumes: its headers show what the
    sender published (``root_id`` = the chain's first task, ``parent_id`` = the sender)."""
    middle = tasks.add.s(1) if sender == "cpp" else pyside.double.s()
    result = chain(tasks.add.s(2, 2), pyside.double.s(), middle,
                   tasks.mul.s(10).set(queue="held")).apply_async()
    first, _, sending, last = chain_results(result)
    [(headers, body)] = wait_held(broker, "held", 1, RESULT_TIMEOUT)
    assert headers["id"] == last.id
    assert headers["task"] == "tasks.mul"
    assert headers["root_id"] == first.id
    assert headers["parent_id"] == sending.id
    assert headers["retries"] == 0 and headers["group"] is None
    args, kwargs, embed = body
    expected = 9 if sender == "cpp" else 16
    assert args == [expected, 10] and kwargs == {}
    assert not embed["chain"] and embed["chord"] is None  # Celery sends [] for the last step


def test_long_chain_alternating_languages(worker, python_worker, tasks, pyside):
    steps = [tasks.add.s(0, 1)]
    for i in range(1, 60):
        steps.append(pyside.add.s(i) if i % 2 else tasks.add.s(i))
    result = chain(*steps).apply_async()
    assert result.get(timeout=RESULT_TIMEOUT) == sum(range(60)) + 1
    ids = [step.id for step in chain_results(result)]
    assert len(ids) == 60
    cpp, python = set(worker.received_ids()), set(python_worker.received_ids())
    assert [i for i, task_id in enumerate(ids) if task_id in cpp] == list(range(0, 60, 2))
    assert [i for i, task_id in enumerate(ids) if task_id in python] == list(range(1, 60, 2))


@pytest.mark.parametrize("failing", ["cpp", "python"])
def test_failing_step_fails_the_rest_of_the_chain(worker, python_worker, tasks, pyside,
                                                  results, failing):
    fail = tasks.fail.si("boom") if failing == "cpp" else pyside.fail.si("boom")
    result = chain(
        tasks.add.s(1, 1), fail, pyside.double.s(), tasks.mul.s(3), pyside.add.s(1)
    ).apply_async()
    with pytest.raises(ValueError, match="^boom$"):
        result.get(timeout=RESULT_TIMEOUT)
    add, failed, *rest = chain_results(result)
    assert wait_record(results, add.id, RESULT_TIMEOUT)["status"] == "SUCCESS"
    failure = wait_record(results, failed.id, RESULT_TIMEOUT, "FAILURE")
    assert failure["result"]["exc_type"] == "ValueError"
    assert failure["result"]["exc_message"] == ["boom"]
    for step in rest:
        meta = wait_record(results, step.id, RESULT_TIMEOUT)
        assert meta["status"] == "FAILURE", step
        assert meta["result"]["exc_type"] == "ValueError"
        assert meta["result"]["exc_message"] == ["boom"]
        with pytest.raises(ValueError, match="^boom$"):
            step.get(timeout=1, propagate=True)
    settle(tasks, pyside, RESULT_TIMEOUT)
    ran = set(worker.received_ids()) | set(python_worker.received_ids())
    assert not ran & {step.id for step in rest}, "a step after the failure was executed"
