"""Warm and cold shutdown: finish or give back, never lose what was not started."""

import json
import signal

import pytest

from pytest_cworker import queued_task_ids, stored_record
from pytest_cworker.plugin import RESULT_TIMEOUT


@pytest.mark.slow
@pytest.mark.cworker_only  # Celery's single-threaded solo pool aborts the running task
def test_warm_shutdown_finishes_running_task_and_keeps_later_ones(
    cworker, tasks, broker, results
):
    worker = cworker.start(concurrency=1)  # the running task holds the only slot
    running = tasks.sleep.delay(2)
    worker.wait_received(running.id)

    mark = worker.log_mark()
    worker.send_signal(signal.SIGTERM)
    late = tasks.add.delay(1, 2)  # sent after the signal, before the worker exits
    assert worker.is_alive(), "warm shutdown did not wait for the running 2 s task"
    code = worker.wait(timeout=15)

    assert code == 0
    assert running.get(timeout=RESULT_TIMEOUT) == 2
    assert stored_record(results, running.id)["status"] == "SUCCESS"
    assert "Warm shutdown" in worker.log_text()[mark:]
    assert late.id in queued_task_ids(broker, "celery"), "message sent during shutdown was lost"
    assert stored_record(results, late.id) is None, "worker ran a task after SIGTERM"


@pytest.mark.slow
@pytest.mark.cworker_only  # Celery's single-threaded solo pool aborts the running task
def test_warm_shutdown_gives_back_prefetched_messages(cworker, tasks, broker):
    running = tasks.sleep.delay(1.5)
    held = [tasks.add.delay(i, 1) for i in range(3)]
    worker = cworker.start(prefetch_multiplier=4, concurrency=1)  # one slot, busy
    worker.wait_received(running.id)

    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0
    assert running.get(timeout=RESULT_TIMEOUT) == 1.5
    queued = set(queued_task_ids(broker, "celery"))
    missing = [r.id for r in held if r.id not in queued]
    assert not missing, f"prefetched messages not given back at warm shutdown: {missing}"
    assert all(r.state == "PENDING" for r in held), "a task was started after SIGTERM"


@pytest.mark.slow
def test_second_signal_is_a_cold_shutdown(cworker, tasks, broker):
    running = tasks.sleep.delay(10)
    held = [tasks.add.delay(i, i) for i in range(3)]
    worker = cworker.start(prefetch_multiplier=4, concurrency=1)  # one slot, busy
    worker.wait_received(running.id)

    worker.send_signal(signal.SIGTERM)
    worker.wait_for_log(r"[Ww]arm shutdown", timeout=5)
    worker.send_signal(signal.SIGINT)
    worker.wait(timeout=5)  # far sooner than the 10 s task

    queued = set(queued_task_ids(broker, "celery"))
    missing = [r.id for r in held if r.id not in queued]
    assert not missing, f"messages not back in the queue after cold shutdown: {missing}"
    assert all(r.state == "PENDING" for r in held)


def _queued_envelopes(broker, queue="celery"):
    return [json.loads(raw) for raw in broker.lrange(queue, 0, -1)]


def test_warm_shutdown_restores_eta_held_messages(cworker, tasks, broker):
    """A countdown task waits in the worker's memory while its message sits in `unacked`; a warm
    shutdown must put it back on its queue, marked redelivered, as kombu does at channel close."""
    worker = cworker.start()
    later = tasks.add.apply_async((1, 2), countdown=60)
    worker.wait_received(later.id)
    assert broker.hlen("unacked") == 1, "an ETA task's message must stay in unacked while held"

    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0
    assert broker.hlen("unacked") == 0 and broker.zcard("unacked_index") == 0
    back = [e for e in _queued_envelopes(broker) if e["headers"]["id"] == later.id]
    assert len(back) == 1, "the held ETA message was not restored"
    assert back[0]["headers"]["redelivered"] is True
    assert back[0]["properties"]["delivery_info"]["redelivered"] is True
    assert "Restoring 1 unacknowledged message(s)" in worker.log_text()
    assert later.state == "PENDING"


@pytest.mark.slow
@pytest.mark.cworker_only  # Python's solo pool runs the task in the thread that gets the signal
def test_cold_shutdown_restores_the_running_acks_late_task(cworker, tasks, broker):
    """With --acks-late the running task's message is still unacked; a cold shutdown kills the
    task and gives that message back together with the ETA-held one."""
    worker = cworker.start("--acks-late")
    running = tasks.sleep.delay(30)
    later = tasks.add.apply_async((2, 2), countdown=60)
    worker.wait_received(running.id)
    worker.send_signal(signal.SIGTERM)
    worker.wait_for_log(r"Warm shutdown", timeout=5)
    worker.send_signal(signal.SIGQUIT)
    assert worker.wait(timeout=10) != 0
    queued = set(queued_task_ids(broker, "celery"))
    assert running.id in queued, "the running acks_late task was lost by the cold shutdown"
    assert later.id in queued
    assert broker.hlen("unacked") == 0
