"""Warm and cold shutdown: finish or give back, never lose what was not started."""

import signal

import pytest

from pytest_cworker import queued_task_ids, stored_record
from pytest_cworker.plugin import RESULT_TIMEOUT


@pytest.mark.slow
def test_warm_shutdown_finishes_running_task_and_keeps_later_ones(cworker, tasks, broker, results):
    worker = cworker.start()
    running = tasks.sleep.delay(2)
    worker.wait_received(running.id)

    mark = worker.log_mark()
    worker.send_signal(signal.SIGTERM)
    late = tasks.add.delay(1, 2)  # sent after the signal, before the worker exits
    code = worker.wait(timeout=15)

    assert code == 0
    assert running.get(timeout=RESULT_TIMEOUT) == 2
    assert stored_record(results, running.id)["status"] == "SUCCESS"
    assert "Warm shutdown" in worker.log_text()[mark:]
    assert late.id in queued_task_ids(broker, "celery"), "message sent during shutdown was lost"
    assert stored_record(results, late.id) is None, "worker ran a task after SIGTERM"


@pytest.mark.slow
def test_warm_shutdown_gives_back_prefetched_messages(cworker, tasks, broker):
    waiting_first = [tasks.add.delay(i, 1) for i in range(3)]
    running = tasks.sleep.apply_async((1.5,), priority=0)
    worker = cworker.start(prefetch_multiplier=4)
    worker.wait_received(running.id)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0
    assert running.get(timeout=RESULT_TIMEOUT) == 1.5
    finished = {r.id for r in waiting_first if r.state == "SUCCESS"}
    queued = set(queued_task_ids(broker, "celery"))
    lost = {r.id for r in waiting_first} - finished - queued
    assert not lost, f"prefetched messages lost at warm shutdown: {lost}"


@pytest.mark.slow
def test_second_signal_is_a_cold_shutdown(cworker, tasks, broker):
    running = tasks.sleep.delay(10)
    held = [tasks.add.delay(i, i) for i in range(3)]
    worker = cworker.start(prefetch_multiplier=4)
    worker.wait_received(running.id)

    worker.send_signal(signal.SIGTERM)
    worker.wait_for_log(r"[Ww]arm shutdown", timeout=5)
    worker.send_signal(signal.SIGINT)
    worker.wait(timeout=5)  # far sooner than the 10 s task

    queued = set(queued_task_ids(broker, "celery"))
    missing = [r.id for r in held if r.id not in queued]
    assert not missing, f"messages not back in the queue after cold shutdown: {missing}"
    assert all(r.state == "PENDING" for r in held)
