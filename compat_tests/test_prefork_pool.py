"""-P prefork: child processes run the tasks (Celery's default pool).

A crash or a hard time limit costs one child, never the worker; CPU-bound tasks use every
core; children are recycled by task count and memory; shutdown waits for or kills them.
"""

import os
import re
import signal
import time

import pytest
from billiard.exceptions import WorkerLostError
from celery import chord, group
from celery.exceptions import TimeLimitExceeded

from pytest_cworker import queued_task_ids, stored_record
from pytest_cworker.canvas import MIXED_ROUTE, result_of
from pytest_cworker.plugin import RESULT_TIMEOUT, close_app, wait_unacked_empty
from pytest_cworker.waiting import wait_until
from pytest_cworker.worker import is_gone

pytestmark = pytest.mark.cworker_only  # cworker's pool; the reference worker runs solo


def prefork(cworker, *args, concurrency=2, **kwargs):
    worker = cworker.start(*args, pool="prefork", concurrency=concurrency, **kwargs)
    wait_until(lambda: len(worker.child_pids()) == concurrency, 10, interval=0.05)
    return worker


def test_banner_and_one_process_per_child(cworker, tasks):
    worker = prefork(cworker, concurrency=3)
    assert "concurrency: 3 (prefork)" in worker.stdout_text()
    children = worker.child_pids()
    assert len(children) == 3
    for child in children:
        with open(f"/proc/{child}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        assert b"--pool-child" in argv, argv
    # Tasks run in the children, not in the worker process.
    pids = group(tasks.pid.s() for _ in range(6))().get(timeout=RESULT_TIMEOUT)
    assert set(pids) <= set(children)
    assert worker.proc.pid not in pids


def test_prefork_is_the_default_pool(cworker_binary, redis_server, tmp_path):
    from pytest_cworker.worker import CworkerHandle, CworkerFactory

    factory = CworkerFactory(
        cworker_binary, str(tmp_path), redis_server.url(0), redis_server.url(1)
    )
    cmd = factory.command()
    at = cmd.index("-P")
    del cmd[at : at + 4]  # no -P and no -c: Celery's defaults, prefork with one child per CPU
    assert "-c" not in cmd
    handle = CworkerHandle("default-pool", cmd, factory.environment(), str(tmp_path))
    cpus = os.cpu_count()
    try:
        handle.wait_ready(20)
        assert f"concurrency: {cpus} (prefork)" in handle.stdout_text()
        wait_until(lambda: len(handle.child_pids()) == cpus, 10, interval=0.05)
    finally:
        assert handle.stop(signal.SIGTERM, 15) == 0


def test_crash_is_a_worker_lost_failure_and_the_pool_recovers(cworker, tasks, results):
    worker = prefork(cworker)
    before = worker.child_pids()
    result = tasks.crash.delay()
    with pytest.raises(WorkerLostError, match=r"Worker exited prematurely: signal 6 \(SIGABRT\)"):
        result.get(timeout=RESULT_TIMEOUT)
    record = stored_record(results, result.id)
    assert record["status"] == "FAILURE"
    assert record["result"]["exc_module"] == "billiard.exceptions"
    worker.wait_for_log(r"Process 'ForkPoolWorker-\d' pid:\d+ exited with 'signal 6 \(SIGABRT\)'")
    worker.wait_for_log(r"Task handler raised error: WorkerLostError\(")
    # The child was replaced: the pool keeps its size and serves on.
    wait_until(lambda: len(worker.child_pids()) == 2, 10, interval=0.05)
    assert worker.child_pids() != before
    assert group(tasks.add.s(i, i) for i in range(10))().get(timeout=RESULT_TIMEOUT) == [
        2 * i for i in range(10)
    ]
    assert worker.is_alive()


def test_acks_late_crash_is_requeued_with_reject_on_worker_lost(cworker, tasks, broker):
    # crash_once is acks_late: it aborts its child on the first run only.
    worker = prefork(cworker, "--reject-on-worker-lost")
    broker.delete("cw:crash_once")
    result = tasks.crash_once.delay("cw:crash_once")
    assert result.get(timeout=RESULT_TIMEOUT) == 2  # ran again, after the requeue
    worker.wait_for_log(rf"Task tasks.crash_once\[{result.id}\] rejected \(requeued\)")
    wait_unacked_empty(broker)


def test_acks_late_crash_without_reject_is_a_failure_and_acked(cworker, tasks, broker):
    prefork(cworker)
    broker.delete("cw:crash_once")
    result = tasks.crash_once.delay("cw:crash_once")
    with pytest.raises(WorkerLostError):
        result.get(timeout=RESULT_TIMEOUT)
    wait_unacked_empty(broker)
    assert result.id not in queued_task_ids(broker, "celery")
    assert int(broker.get("cw:crash_once")) == 1


def test_hard_time_limit_kills_the_child_within_a_second(cworker, tasks):
    worker = prefork(cworker, "--time-limit", "1")
    before = worker.child_pids()
    start = time.monotonic()
    result = tasks.sleep.delay(30)
    with pytest.raises(TimeLimitExceeded):
        result.get(timeout=RESULT_TIMEOUT)
    assert time.monotonic() - start < 1 + 1.0
    worker.wait_for_log(rf"Hard time limit \(1s\) exceeded for tasks.sleep\[{result.id}\]")
    worker.wait_for_log(r"exited with 'signal 9 \(SIGKILL\)'")
    wait_until(lambda: len(worker.child_pids()) == 2, 10, interval=0.05)
    assert set(worker.child_pids()) != set(before)
    assert tasks.add.delay(2, 2).get(timeout=RESULT_TIMEOUT) == 4


def test_hard_time_limit_stops_a_task_that_never_yields(cworker, tasks):
    # What the green pool cannot do: a pure CPU loop is ended by killing its process.
    prefork(cworker)
    start = time.monotonic()
    result = tasks.cpu.apply_async((10**12,), time_limit=1)
    with pytest.raises(TimeLimitExceeded):
        result.get(timeout=RESULT_TIMEOUT)
    assert time.monotonic() - start < 1 + 1.0


def test_soft_time_limit_lets_the_task_clean_up(cworker, tasks):
    worker = prefork(cworker, "--soft-time-limit", "0.5")
    start = time.monotonic()
    result = tasks.soft_limited.delay(30)
    assert result.get(timeout=RESULT_TIMEOUT) == "cleaned up"
    assert 0.5 <= time.monotonic() - start < 3.0
    worker.wait_for_log(
        rf"WARNING/ForkPoolWorker-\d\] Soft time limit \(0.5s\) exceeded for "
        rf"tasks.soft_limited\[{result.id}\]"
    )


def test_soft_time_limit_at_a_checkpoint_of_a_cpu_bound_task(cworker, tasks):
    prefork(cworker)
    start = time.monotonic()
    result = tasks.spin.apply_async((30,), soft_time_limit=0.5)
    assert result.get(timeout=RESULT_TIMEOUT) == "cleaned up"
    assert time.monotonic() - start < 3.0


def test_limits_from_the_message(cworker, tasks):
    prefork(cworker)
    hard = tasks.sleep.apply_async((30,), time_limit=1)
    soft = tasks.soft_limited.apply_async((30,), soft_time_limit=0.3)
    assert soft.get(timeout=RESULT_TIMEOUT) == "cleaned up"
    with pytest.raises(TimeLimitExceeded):
        hard.get(timeout=RESULT_TIMEOUT)


def _cpu_size_for(tasks, seconds):
    """An n for which cpu(n) takes about ``seconds`` on this build (sanitizers are slower)."""
    n = 20_000_000
    while True:
        start = time.monotonic()
        tasks.cpu.delay(n).get(timeout=120)
        took = time.monotonic() - start
        if took >= 0.25:
            return int(n * seconds / took)
        n *= 4


def test_two_cpu_tasks_on_two_children_run_in_parallel(cworker, tasks):
    # Proven by order, not by timing (a timed assertion fails on a busy machine): the worker
    # takes a message only when a child is free, so the second task being received before the
    # first one finished means both ran at once, on the two children.
    worker = prefork(cworker)
    n = _cpu_size_for(tasks, 1.0)
    result = group(tasks.cpu.s(n) for _ in range(2))()
    both = result.get(timeout=120)
    assert both[0] == both[1]
    ids = {r.id for r in result.results}

    # The result is stored before the "succeeded" line is written (the calibration's last line
    # may also land late): wait for both lines of these two tasks, and look at only them.
    def events():
        return [m.group(2) for m in
                re.finditer(r"Task tasks\.cpu\[(\S+)\] (received|succeeded)", worker.log_text())
                if m.group(1) in ids]

    wait_until(lambda: events().count("succeeded") == 2, 10)
    assert events() == ["received", "received", "succeeded", "succeeded"], worker.log_text()


def test_a_long_task_does_not_hold_back_queued_work(cworker, tasks):
    # -Ofair: while one child runs a long task, the other takes every queued message.
    prefork(cworker)
    long = tasks.sleep.delay(4)
    time.sleep(0.2)
    start = time.monotonic()
    assert group(tasks.add.s(i, 1) for i in range(20))().get(timeout=RESULT_TIMEOUT) == [
        i + 1 for i in range(20)
    ]
    assert time.monotonic() - start < 2.0
    assert long.get(timeout=RESULT_TIMEOUT) == 4


def test_max_tasks_per_child_replaces_children(cworker, tasks):
    worker = prefork(cworker, "--max-tasks-per-child", "1", concurrency=1)
    pids = [tasks.pid.delay().get(timeout=RESULT_TIMEOUT) for _ in range(4)]
    assert len(set(pids)) == 4, pids
    assert worker.proc.pid not in pids
    wait_until(lambda: len(worker.child_pids()) == 1, 10, interval=0.05)


def _rss_kib(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1])


def test_max_memory_per_child_replaces_a_child_that_grew(cworker, tasks):
    # A child's own size depends on the build (sanitizers add ~80 MB): measure it first.
    probe = prefork(cworker, concurrency=1)
    child = tasks.pid.delay().get(timeout=RESULT_TIMEOUT)
    limit = _rss_kib(child) + 40_000
    assert probe.stop(signal.SIGTERM, 15) == 0

    worker = prefork(cworker, "--max-memory-per-child", str(limit), concurrency=1)
    small = tasks.pid.delay().get(timeout=RESULT_TIMEOUT)
    assert tasks.pid.delay().get(timeout=RESULT_TIMEOUT) == small  # under the limit: kept
    hog = tasks.hog.delay(100).get(timeout=RESULT_TIMEOUT)  # + 100 MiB: over the limit
    assert hog == small
    worker.wait_for_log(
        rf"child process exiting after exceeding memory limit \(\d+KiB / {limit}KiB\)"
    )
    after = tasks.pid.delay().get(timeout=RESULT_TIMEOUT)
    assert after != small


def test_tasks_sent_from_a_child_go_through_the_parent(cworker, tasks, celery_app, python_worker):
    # TaskContext::Send in a child: the parent publishes (it owns Redis and the routes).
    prefork(cworker, *MIXED_ROUTE)
    chain_id = tasks.send_chain.delay(4).get(timeout=RESULT_TIMEOUT)
    assert result_of(celery_app, chain_id, RESULT_TIMEOUT) == (4 + 1) * 2 * 10


def test_chord_across_children(cworker, tasks):
    prefork(cworker)
    result = chord(tasks.add.s(i, i) for i in range(20))(tasks.xsum.s())
    assert result.get(timeout=RESULT_TIMEOUT) == sum(2 * i for i in range(20))


@pytest.mark.slow
def test_warm_shutdown_finishes_the_running_task(cworker, tasks, results):
    worker = prefork(cworker)
    children = worker.child_pids()
    running = tasks.sleep.delay(2)
    worker.wait_received(running.id)
    time.sleep(0.2)
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert worker.is_alive(), "warm shutdown did not wait for the running task"
    assert worker.wait(timeout=15) == 0
    assert running.get(timeout=RESULT_TIMEOUT) == 2
    assert stored_record(results, running.id)["status"] == "SUCCESS"
    for pid in children:
        assert is_gone(pid), f"child {pid} survived"


@pytest.mark.slow
def test_cold_shutdown_kills_children_and_restores_acks_late_work(cworker, tasks, broker):
    worker = prefork(cworker)
    children = worker.child_pids()
    running = tasks.late_sleep.delay(30)
    worker.wait_received(running.id)
    time.sleep(0.3)
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    worker.send_signal(signal.SIGTERM)  # the second signal: cold
    assert worker.wait(timeout=10) == 1
    wait_until(lambda: all(is_gone(p) for p in children), 5, interval=0.05)
    assert running.id in queued_task_ids(broker, "celery"), "the running task was not restored"
    broker.delete("celery")


def test_the_articles_deployment_io_and_cpu_workers(cworker, redis_server, number_api):
    """Two workers as the README recommends: `-P green -c 100 -Q io` for the API calls and
    `-P prefork -c 4 -Q cpu` for CPU-bound work, with a Python producer routing by task name."""
    from celery import Celery

    routes = {"tasks.get_number": "io", "tasks.sum_numbers": "io", "tasks.cpu": "cpu"}
    # The same task_routes everywhere, as with a shared celeryconfig: the io worker sends the
    # chord's body itself.
    shared = [f"--route={name}={queue}" for name, queue in routes.items()]
    io = cworker.start(
        *shared, pool="green", concurrency=100, queues="io", env={"NUMBER_API_URL": number_api}
    )
    cpu = cworker.start(*shared, pool="prefork", concurrency=4, queues="cpu")
    producer = Celery("producer", broker=redis_server.url(0), backend=redis_server.url(1))
    producer.conf.task_routes = {name: {"queue": queue} for name, queue in routes.items()}
    try:
        start = time.monotonic()
        header = [producer.signature("tasks.get_number") for _ in range(50)]
        total = chord(header)(producer.signature("tasks.sum_numbers"))
        crunch = [producer.send_task("tasks.cpu", args=(1_000_000,)) for _ in range(8)]
        assert isinstance(total.get(timeout=RESULT_TIMEOUT), int)
        elapsed = time.monotonic() - start
        assert len({r.get(timeout=RESULT_TIMEOUT) for r in crunch}) == 1
    finally:
        close_app(producer)
    # 50 calls of 2 s at once on the io worker: about one call, not 50.
    assert elapsed < 2 * 2.0 + 1, f"the chord took {elapsed:.2f}s"
    io_log, cpu_log = io.log_text(), cpu.log_text()
    assert io_log.count("Task tasks.get_number[") >= 100  # received + succeeded, all 50
    assert "tasks.cpu[" not in io_log
    assert cpu_log.count("Task tasks.cpu[") >= 16
    assert "tasks.get_number[" not in cpu_log
    assert "concurrency: 4 (prefork)" in cpu.stdout_text()


def test_child_output_does_not_corrupt_the_pipe(cworker, tasks):
    # A child's stdout is the worker's stderr, not the frame pipe: printing is harmless.
    worker = prefork(cworker)
    text = "shouted " + "x" * 70_000
    assert tasks.shout.delay(text).get(timeout=RESULT_TIMEOUT) == len(text)
    worker.wait_for_log("shouted xxxx")
    assert tasks.add.delay(1, 1).get(timeout=RESULT_TIMEOUT) == 2
    assert worker.is_alive()
