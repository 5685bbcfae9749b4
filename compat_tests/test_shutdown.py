"""Warm and cold shutdown: finish or give back, never lose what was not started."""

import signal

import pytest

from pytest_cworker import queued_task_ids, stored_record
from pytest_cworker.plugin import RESULT_TIMEOUT


@pytest.mark.slow
@pytest.mark.cworker_only  # Celery's single-threaded solo pool aborts the running task
def test_warm_shutdown_finishes_running_task_and_keeps_later_ones(
    cworker, tasks, broker, results
):
    worker = cworker.start()
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
    worker = cworker.start(prefetch_multiplier=4)
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
