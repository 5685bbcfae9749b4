"""-P green: IO-bound tasks share one thread, each on its own fiber (Celery's -P gevent).

The article's workload at test size: a chord of ``get_number`` calls to an HTTP API that answers
after 2 s, summed by ``sum_numbers``. With a fiber per task they all wait at once, so the chord
takes about one API call, whatever its size; a sanity bound here, not a benchmark (bench/ has
that).
"""

import signal
import time

import pytest
from celery import chord, group
from celery.exceptions import TimeLimitExceeded

from pytest_cworker.plugin import RESULT_TIMEOUT
from pytest_cworker.waiting import wait_until

pytestmark = pytest.mark.cworker_only  # cworker's pool; the reference worker has gevent's

from pytest_cworker.plugin import NUMBER_API_DELAY as API_DELAY


def test_chord_of_200_api_calls_takes_about_one_call(cworker, tasks, number_api):
    worker = cworker.start(
        pool="green", concurrency=200, env={"NUMBER_API_URL": number_api + "?number=1"}
    )
    assert "concurrency: 200 (green)" in worker.stdout_text()

    start = time.monotonic()
    result = chord(tasks.get_number.s() for _ in range(200))(tasks.sum_numbers.s())
    assert result.get(timeout=RESULT_TIMEOUT) == 200
    elapsed = time.monotonic() - start

    # One after another this is 400 s; at once, one 2 s call plus the chord's bookkeeping.
    assert elapsed < 2 * API_DELAY, f"chord took {elapsed:.2f}s"
    assert elapsed >= API_DELAY


def test_sleeping_tasks_overlap(cworker, tasks):
    worker = cworker.start(pool="green", concurrency=50)
    start = time.monotonic()
    results = group(tasks.sleep.s(1) for _ in range(50))().get(timeout=RESULT_TIMEOUT)
    elapsed = time.monotonic() - start
    assert results == [1] * 50
    assert elapsed < 4.0, f"50 x sleep(1) on -c 50 took {elapsed:.2f}s"
    # received + succeeded for all 50 (a result may be read before its "succeeded" line is out)
    wait_until(lambda: worker.log_text().count("tasks.sleep[") >= 100, 5)


def test_concurrency_is_bounded_by_c(cworker, tasks):
    cworker.start(pool="green", concurrency=2)
    start = time.monotonic()
    group(tasks.sleep.s(0.5) for _ in range(4))().get(timeout=RESULT_TIMEOUT)
    elapsed = time.monotonic() - start
    assert elapsed >= 0.95, f"4 x sleep(0.5) on -c 2 took only {elapsed:.2f}s"


def test_ten_thousand_fibers(cworker, tasks):
    worker = cworker.start(pool="green", concurrency=10000)
    assert "concurrency: 10000 (green)" in worker.stdout_text()
    results = group(tasks.sleep.s(1) for _ in range(2000))().get(timeout=60)
    assert results == [1] * 2000


def test_soft_time_limit_is_raised_at_the_next_yield_point(cworker, tasks):
    worker = cworker.start("--soft-time-limit", "0.5", pool="green", concurrency=4)
    start = time.monotonic()
    result = tasks.soft_limited.delay(30)
    assert result.get(timeout=RESULT_TIMEOUT) == "cleaned up"
    assert time.monotonic() - start < 3.0
    worker.wait_for_log(rf"Soft time limit \(0.5s\) exceeded for tasks.soft_limited\[{result.id}\]")


def test_hard_time_limit_ends_the_task(cworker, tasks):
    worker = cworker.start("--time-limit", "1", pool="green", concurrency=4)
    start = time.monotonic()
    result = tasks.sleep.delay(30)
    with pytest.raises(TimeLimitExceeded):
        result.get(timeout=RESULT_TIMEOUT)
    assert time.monotonic() - start < 1 + 1.5
    worker.wait_for_log(rf"Hard time limit \(1s\) exceeded for tasks.sleep\[{result.id}\]")
    assert tasks.add.delay(2, 2).get(timeout=RESULT_TIMEOUT) == 4  # the pool goes on


def test_time_limit_from_the_message(cworker, tasks):
    cworker.start(pool="green", concurrency=4)
    result = tasks.sleep.apply_async((30,), time_limit=1)
    with pytest.raises(TimeLimitExceeded):
        result.get(timeout=RESULT_TIMEOUT)
    soft = tasks.soft_limited.apply_async((30,), soft_time_limit=0.3)
    assert soft.get(timeout=RESULT_TIMEOUT) == "cleaned up"


def test_a_task_that_blocks_the_loop_is_named(cworker, tasks):
    worker = cworker.start("--blocking-threshold", "0.2", pool="green", concurrency=4)
    result = tasks.cpu.delay(1_500_000_000)
    result.get(timeout=60)
    worker.wait_for_log(rf"tasks.cpu\[{result.id}\] blocked the event loop for \d+\.\d\ds")


def test_redis_helper_shares_the_loop(cworker, tasks, broker):
    broker.delete("cw:visits")
    cworker.start(pool="green", concurrency=100)
    counts = group(tasks.count_visit.s("cw:visits") for _ in range(100))().get(
        timeout=RESULT_TIMEOUT
    )
    assert sorted(counts) == list(range(1, 101))
    assert int(broker.get("cw:visits")) == 100


@pytest.mark.slow
def test_warm_shutdown_waits_for_running_fibers(cworker, tasks):
    worker = cworker.start(pool="green", concurrency=10)
    running = [tasks.sleep.delay(1.5) for _ in range(5)]
    for r in running:
        worker.wait_received(r.id)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=15) == 0
    assert [r.get(timeout=RESULT_TIMEOUT) for r in running] == [1.5] * 5
