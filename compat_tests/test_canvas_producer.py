"""Tasks that start work themselves (Celery's ``send_task`` / ``sig.apply_async()`` inside a
task): ``tasks.send_python`` sends ``pyside.double`` to the Python worker, ``tasks.send_chain``
sends a chain that crosses C++ -> Python -> C++. The worker under test routes them with
``--route 'pyside.*=python'`` and makes itself their parent.
"""

import pytest

from pytest_cworker.canvas import MIXED_ROUTE, record, require_tasks, result_of, wait_record
from pytest_cworker.plugin import RESULT_TIMEOUT


@pytest.fixture(scope="module")
def worker_args():
    return MIXED_ROUTE


def test_send_python_from_a_task(worker, python_worker, tasks, celery_app, results):
    require_tasks(tasks, "send_python")
    sender = tasks.send_python.delay(21)
    child_id = sender.get(timeout=RESULT_TIMEOUT)
    assert isinstance(child_id, str) and child_id != sender.id
    assert result_of(celery_app, child_id, RESULT_TIMEOUT) == 42
    assert child_id in python_worker.received_ids()
    assert record(results, child_id)["parent_id"] == sender.id


def test_sent_task_is_listed_in_the_senders_children(worker, python_worker, tasks, celery_app,
                                                     results):
    require_tasks(tasks, "send_python")
    sender = tasks.send_python.delay(1)
    child_id = sender.get(timeout=RESULT_TIMEOUT)
    assert record(results, sender.id)["children"] == [[[child_id, None], None]]
    assert [child.id for child in celery_app.AsyncResult(sender.id).children] == [child_id]


def test_send_chain_from_a_task(worker, python_worker, tasks, celery_app, results):
    require_tasks(tasks, "send_chain")
    sender = tasks.send_chain.delay(1)
    last_id = sender.get(timeout=RESULT_TIMEOUT)
    assert result_of(celery_app, last_id, RESULT_TIMEOUT) == 40  # (1 + 1) * 2 * 10
    # parent_id links lead back from the chain's last step to the sender.
    mul = record(results, last_id)
    double = wait_record(results, mul["parent_id"], RESULT_TIMEOUT)
    add = wait_record(results, double["parent_id"], RESULT_TIMEOUT)
    assert (add["result"], double["result"], mul["result"]) == (2, 4, 40)
    assert add["parent_id"] == sender.id
    assert double["task_id"] in python_worker.received_ids()
    assert add["task_id"] in worker.received_ids() and last_id in worker.received_ids()
