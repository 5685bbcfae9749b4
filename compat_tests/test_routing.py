"""Queues and priorities: kombu's Redis semantics (lower number first, -Q selects lists)."""

import pytest

from pytest_cworker import queue_key, queued_task_ids
from pytest_cworker.plugin import RESULT_TIMEOUT


@pytest.mark.slow
def test_priorities_are_served_in_kombu_order(cworker, tasks, broker):
    """Priority 0 first, then the 3-5 step, then 9; FIFO inside one priority."""
    sent = []
    for priority, marker in [(9, "p9-a"), (0, "p0-a"), (4, "p4"), (0, "p0-b"), (9, "p9-b")]:
        sent.append((marker, tasks.echo.apply_async(args=(marker,), priority=priority)))
    assert broker.llen(queue_key("celery", 9)) == 2
    assert broker.llen(queue_key("celery", 4)) == 1
    assert broker.llen("celery") == 2

    worker = cworker.start(prefetch_multiplier=1)
    for marker, result in sent:
        assert result.get(timeout=RESULT_TIMEOUT) == {"args": [marker], "kwargs": {}}

    order = {result.id: marker for marker, result in sent}
    received = [order[task_id] for task_id in worker.received_ids() if task_id in order]
    assert received == ["p0-a", "p0-b", "p4", "p9-a", "p9-b"]


def test_worker_consumes_only_its_queues(cworker, tasks, broker):
    worker = cworker.start(queues="fast")
    ignored = tasks.add.apply_async((1, 1))  # default queue "celery"
    served = tasks.add.apply_async((2, 3), queue="fast")
    assert served.get(timeout=RESULT_TIMEOUT) == 5
    assert queued_task_ids(broker, "celery") == [ignored.id]
    assert ignored.id not in worker.received_ids()
    assert ignored.state == "PENDING"


def test_worker_consumes_several_queues(cworker, tasks, broker):
    cworker.start(queues=["q1", "q2"])
    first = tasks.add.apply_async((1, 2), queue="q1")
    second = tasks.mul.apply_async((2, 3), queue="q2")
    assert first.get(timeout=RESULT_TIMEOUT) == 3
    assert second.get(timeout=RESULT_TIMEOUT) == 6
    assert broker.llen("q1") == 0 and broker.llen("q2") == 0

