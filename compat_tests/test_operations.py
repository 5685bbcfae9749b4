"""Operating a cworker the way a Celery worker is operated: `revoke(terminate=True)`, revokes
kept across restarts (--statedb), add/cancel_consumer, rate_limit, time_limit,
pool_grow/pool_shrink, and the --http listener's /healthz and /metrics.

Each test names its pool; scripts/check.sh runs this file in the solo and ASan passes only.
"""

import json
import time
from datetime import datetime
import urllib.error
import urllib.request

import pytest
from celery.exceptions import TimeLimitExceeded

from pytest_cworker import stored_record
from pytest_cworker.plugin import RESULT_TIMEOUT, wait_unacked_empty
from pytest_cworker.waiting import wait_until

pytestmark = pytest.mark.cworker_only


def node(worker):
    return worker.wait_for_log(r"(\S+@\S+) ready\.").group(1)


def control(celery_app, name, command, **arguments):
    """One worker's reply to a control command, as `app.control` returns it."""
    replies = celery_app.control.broadcast(command, arguments=arguments, destination=[name],
                                           reply=True, timeout=3)
    assert len(replies) == 1, replies
    return replies[0][name]


def wait_running(celery_app, name, task_id):
    inspect = celery_app.control.inspect(destination=[name], timeout=1.5)
    wait_until(lambda: any(t["id"] == task_id for t in (inspect.active() or {}).get(name, [])),
               10, interval=0.1)


# -- revoke(terminate=True) -------------------------------------------------------------------


def test_revoke_terminate_kills_the_child_running_the_task(cworker, tasks, celery_app, results):
    worker = cworker.start(pool="prefork", concurrency=2)
    name = node(worker)
    wait_until(lambda: len(worker.child_pids()) == 2, 10, interval=0.05)
    running = tasks.sleep.delay(30)
    wait_running(celery_app, name, running.id)
    before = set(worker.child_pids())

    reply = celery_app.control.revoke(running.id, terminate=True, signal="SIGKILL",
                                      destination=[name], reply=True, timeout=3)
    assert reply == [{name: {"ok": f"terminate: {running.id}"}}]
    wait_until(lambda: running.state == "REVOKED", 10)
    record = stored_record(results, running.id)
    assert record["result"] == {"exc_type": "TaskRevokedError", "exc_message": ["terminated"],
                                "exc_module": "celery.exceptions"}
    worker.wait_for_log(rf"Terminating {running.id} \(9\)")
    # The child is replaced and the pool keeps serving.
    wait_until(lambda: len(worker.child_pids()) == 2 and set(worker.child_pids()) != before, 10)
    assert tasks.add.delay(2, 2).get(timeout=RESULT_TIMEOUT) == 4
    # Unknown (finished) tasks: Celery's reply.
    again = celery_app.control.revoke(running.id, terminate=True, destination=[name],
                                      reply=True, timeout=3)
    assert again == [{name: {"ok": "terminate: tasks unknown"}}]
    assert worker.stop() == 0


def test_revoke_terminate_cancels_a_green_task_at_its_yield_point(cworker, tasks, celery_app):
    worker = cworker.start(pool="green", concurrency=4)
    name = node(worker)
    doomed = tasks.sleep.delay(30)
    other = tasks.sleep.delay(1)
    wait_running(celery_app, name, doomed.id)
    reply = celery_app.control.revoke(doomed.id, terminate=True, destination=[name], reply=True,
                                      timeout=3)
    assert reply == [{name: {"ok": f"terminate: {doomed.id}"}}]
    wait_until(lambda: doomed.state == "REVOKED", 10)
    assert other.get(timeout=RESULT_TIMEOUT) == 1  # its neighbour on the loop is untouched


def test_revoke_terminate_in_solo_flags_the_id_only(cworker, tasks, celery_app):
    worker = cworker.start(pool="solo")
    name = node(worker)
    running = tasks.sleep.delay(1)
    worker.wait_received(running.id)
    reply = control(celery_app, name, "revoke", task_id=running.id, terminate=True)
    assert reply == {"ok": "terminate: tasks unknown"}  # the solo pool cannot end a call
    assert running.get(timeout=RESULT_TIMEOUT) == 1


# -- revokes across restarts ------------------------------------------------------------------


def test_statedb_keeps_revoked_ids_across_a_restart(cworker, tasks, celery_app, tmp_path,
                                                    results):
    statedb = tmp_path / "worker.state"
    first = cworker.start("--statedb", statedb, pool="solo")
    name = node(first)
    doomed_id = "7f6b8f1e-0000-4000-8000-00000000beef"
    reply = control(celery_app, name, "revoke", task_id=[doomed_id])
    assert reply == {"ok": f"tasks {doomed_id} flagged as revoked"}
    assert doomed_id in json.loads(statedb.read_text())["revoked"]
    assert first.stop() == 0

    second = cworker.start("--statedb", statedb, pool="solo")
    second.wait_for_log(r"Loaded 1 revoked task id\(s\)")
    doomed = tasks.add.apply_async((1, 1), task_id=doomed_id)
    second.wait_for_log(rf"Discarding revoked task: tasks.add\[{doomed_id}\]")
    wait_until(lambda: doomed.state == "REVOKED", 10)
    assert tasks.add.delay(1, 1).get(timeout=RESULT_TIMEOUT) == 2

    # A corrupt state file is set aside, not fatal.
    assert second.stop() == 0
    statedb.write_text("{broken")
    third = cworker.start("--statedb", statedb, pool="solo")
    third.wait_for_log(r"moved it to .*worker\.state\.corrupt")
    assert (tmp_path / "worker.state.corrupt").read_text() == "{broken"
    assert tasks.add.delay(2, 2).get(timeout=RESULT_TIMEOUT) == 4


# -- queues -----------------------------------------------------------------------------------


def test_add_and_cancel_consumer(cworker, tasks, celery_app, broker):
    worker = cworker.start(pool="green", concurrency=2)
    name = node(worker)
    waiting = tasks.add.apply_async((20, 22), queue="extra")
    time.sleep(1.2)
    assert waiting.state == "PENDING"  # nobody consumes "extra" yet

    assert control(celery_app, name, "add_consumer", queue="extra") == {"ok": "add consumer extra"}
    assert waiting.get(timeout=RESULT_TIMEOUT) == 42
    queues = celery_app.control.inspect(destination=[name], timeout=1.5).active_queues()[name]
    assert [q["name"] for q in queues] == ["celery", "extra"]
    assert broker.sismember("_kombu.binding.extra", b"extra\x06\x16\x06\x16extra")

    reply = control(celery_app, name, "cancel_consumer", queue="extra")
    assert reply == {"ok": "no longer consuming from extra"}
    time.sleep(1.2)  # the consumer's current BRPOP (at most 1 s) ends first
    left = tasks.add.apply_async((1, 1), queue="extra")
    time.sleep(1.5)
    assert left.state == "PENDING" and broker.llen("extra") == 1
    assert tasks.add.delay(1, 2).get(timeout=RESULT_TIMEOUT) == 3  # "celery" still served


# -- rate and time limits ---------------------------------------------------------------------


def test_rate_limit_spaces_the_starts_of_one_task(cworker, tasks, celery_app, results):
    worker = cworker.start(pool="green", concurrency=10)
    name = node(worker)
    assert control(celery_app, name, "rate_limit", task_name="tasks.add",
                   rate_limit="4/s") == {"ok": "new rate limit set successfully"}
    assert control(celery_app, name, "rate_limit", task_name="tasks.nope",
                   rate_limit="4/s") == {"error": "unknown task"}
    bad = control(celery_app, name, "rate_limit", task_name="tasks.add", rate_limit="x/s")
    assert bad["error"].startswith("Invalid rate limit string")

    limited = [tasks.add.delay(i, i) for i in range(5)]
    free = tasks.mul.delay(3, 3)  # another task is not held back
    assert free.get(timeout=RESULT_TIMEOUT) == 9
    reserved = celery_app.control.inspect(destination=[name], timeout=1.5).reserved()[name]
    assert 1 <= len(reserved) <= 4 and all(r["name"] == "tasks.add" for r in reserved)
    assert [r.get(timeout=RESULT_TIMEOUT) for r in limited] == [0, 2, 4, 6, 8]
    done = sorted(datetime.fromisoformat(stored_record(results, r.id)["date_done"])
                  for r in limited)
    # 5 starts at 4/s take at least 4 intervals of 0.25 s.
    assert (done[-1] - done[0]).total_seconds() >= 0.9, done

    assert control(celery_app, name, "rate_limit", task_name="tasks.add",
                   rate_limit="0") == {"ok": "rate limit disabled successfully"}
    t0 = time.monotonic()
    assert [r.get(timeout=RESULT_TIMEOUT) for r in [tasks.add.delay(1, 1) for _ in range(5)]] \
        == [2] * 5
    assert time.monotonic() - t0 < 0.9


def test_time_limit_command_applies_to_later_calls(cworker, tasks, celery_app):
    worker = cworker.start(pool="green", concurrency=2)
    name = node(worker)
    assert control(celery_app, name, "time_limit", task_name="tasks.sleep", soft=None,
                   hard=0.5) == {"ok": "time limits set successfully"}
    assert control(celery_app, name, "time_limit", task_name="tasks.nope",
                   hard=1) == {"error": "unknown task"}
    with pytest.raises(TimeLimitExceeded):
        tasks.sleep.delay(5).get(timeout=RESULT_TIMEOUT)
    worker.wait_for_log(r"New time limits for tasks of type tasks.sleep: soft=None hard=0.5")
    control(celery_app, name, "time_limit", task_name="tasks.sleep", soft=None, hard=None)
    assert tasks.sleep.delay(0.7).get(timeout=RESULT_TIMEOUT) == 0.7


# -- pool size --------------------------------------------------------------------------------


def test_pool_grow_and_shrink_prefork(cworker, tasks, celery_app):
    worker = cworker.start(pool="prefork", concurrency=1)
    name = node(worker)
    wait_until(lambda: len(worker.child_pids()) == 1, 10, interval=0.05)
    assert control(celery_app, name, "pool_grow", n=2) == {"ok": "pool will grow"}
    wait_until(lambda: len(worker.child_pids()) == 3, 15, interval=0.05)
    stats = celery_app.control.inspect(destination=[name], timeout=1.5).stats()[name]
    assert stats["pool"]["max-concurrency"] == 3
    # Three sleeps at once now: done in about one sleep, not three.
    t0 = time.monotonic()
    assert [r.get(timeout=RESULT_TIMEOUT) for r in [tasks.sleep.delay(1) for _ in range(3)]] \
        == [1, 1, 1]
    assert time.monotonic() - t0 < 2.5

    assert control(celery_app, name, "pool_shrink", n=2) == {"ok": "pool will shrink"}
    wait_until(lambda: len(worker.child_pids()) == 1, 15, interval=0.05)
    assert "error" in control(celery_app, name, "pool_shrink", n=1)  # never below one
    assert tasks.add.delay(1, 1).get(timeout=RESULT_TIMEOUT) == 2
    assert worker.stop() == 0


def test_pool_grow_green_and_solo(cworker, tasks, celery_app):
    green = cworker.start(pool="green", concurrency=1)
    name = node(green)
    assert control(celery_app, name, "pool_grow", n=3) == {"ok": "pool will grow"}
    t0 = time.monotonic()
    assert [r.get(timeout=RESULT_TIMEOUT) for r in [tasks.sleep.delay(1) for _ in range(4)]] \
        == [1] * 4
    assert time.monotonic() - t0 < 2.5
    assert green.stop() == 0
    solo = cworker.start(pool="solo")
    reply = control(celery_app, node(solo), "pool_grow", n=1)
    assert "cannot grow" in reply["error"]


# -- /healthz and /metrics --------------------------------------------------------------------


def http_port(worker):
    return int(worker.wait_for_log(r"Serving /healthz and /metrics on http://127\.0\.0\.1:(\d+)")
               .group(1))


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def parse_metrics(text):
    """{'name{labels}': value} of every sample line."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            samples[key] = float(value)
    return samples


@pytest.mark.parametrize("pool", ["prefork", "green"])
def test_metrics_count_what_the_worker_did(cworker, tasks, celery_app, pool):
    worker = cworker.start("--http", "127.0.0.1:0", pool=pool, concurrency=2)
    port = http_port(worker)
    status, body = get(port, "/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"

    assert [tasks.add.delay(i, 1).get(timeout=RESULT_TIMEOUT) for i in range(3)] == [1, 2, 3]
    with pytest.raises(Exception):
        tasks.fail.delay("no").get(timeout=RESULT_TIMEOUT)
    assert tasks.retry_until.delay(1).get(timeout=RESULT_TIMEOUT) is not None

    # Results reach the client a moment before the worker counts them: wait for the last count.
    wait_until(lambda: parse_metrics(get(port, "/metrics")[1])
               .get("cworker_tasks_processed_total") == 6, 10, interval=0.05)
    status, text = get(port, "/metrics")
    assert status == 200
    m = parse_metrics(text)
    assert m['cworker_tasks_received_total{name="tasks.add"}'] == 3
    assert m['cworker_tasks_succeeded_total{name="tasks.add"}'] == 3
    assert m['cworker_tasks_failed_total{name="tasks.fail"}'] == 1
    assert m['cworker_tasks_retried_total{name="tasks.retry_until"}'] == 1
    assert m['cworker_tasks_received_total{name="tasks.retry_until"}'] == 2
    assert m['cworker_task_runtime_seconds_count{name="tasks.add"}'] == 3
    assert m['cworker_task_runtime_seconds_bucket{name="tasks.add",le="+Inf"}'] == 3
    assert m["cworker_tasks_active"] == 0
    assert m["cworker_tasks_prefetched"] == 0
    assert m["cworker_pool_concurrency"] == 2
    assert m["cworker_up"] == 1
    assert m["cworker_tasks_processed_total"] == 3 + 1 + 2
    assert get(port, "/nothing")[0] == 404
    assert worker.stop() == 0


@pytest.mark.slow
def test_healthz_follows_redis(redis_factory, cworker):
    server = redis_factory()
    url = f"redis://127.0.0.1:{server.port}"
    worker = cworker.start("--http", "127.0.0.1:0", broker_url=f"{url}/0",
                           backend_url=f"{url}/1", pool="green", concurrency=2)
    port = http_port(worker)
    worker.wait_for_log(r"ready\.")
    assert get(port, "/healthz")[0] == 200
    server.stop()
    status, body = get(port, "/healthz")
    assert status == 503 and json.loads(body)["broker"] != "ok", body
    restarted = redis_factory(port=server.port)
    wait_until(lambda: get(port, "/healthz")[0] == 200, 20, interval=0.3)
    m = parse_metrics(get(port, "/metrics")[1])
    wait_until(lambda: parse_metrics(get(port, "/metrics")[1])
               ["cworker_broker_reconnects_total"] >= 1, 20, interval=0.3)
    assert m["cworker_up"] == 1
    assert worker.stop() == 0
    with restarted.client(0) as client:
        wait_unacked_empty(client)
