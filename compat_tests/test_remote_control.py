"""Remote control over kombu's pidbox: the real `celery inspect` / `celery control` command
line and `app.control` against a cworker."""

import json
import os
import subprocess
import time

import pytest

from pytest_cworker import stored_record
from pytest_cworker.plugin import RESULT_TIMEOUT
from pytest_cworker.waiting import wait_until

pytestmark = pytest.mark.cworker_only  # cworker's own stats/conf contents

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "python_fixtures")


def celery_cli(redis_server, *args, timeout=30):
    """`celery -A tasks <args>` with the twin module, as an operator would run it."""
    env = dict(os.environ)
    env["CELERY_BROKER_URL"] = redis_server.url(0)
    env["CELERY_RESULT_BACKEND"] = redis_server.url(1)
    return subprocess.run(
        ["/usr/bin/python3", "-m", "celery", "-A", "tasks", *args],
        cwd=FIXTURES, env=env, capture_output=True, text=True, timeout=timeout,
    )


def node(worker):
    return worker.wait_for_log(r"(\S+@\S+) ready\.").group(1)


def test_inspect_ping_registered_stats_from_the_command_line(cworker, redis_server):
    worker = cworker.start()
    name = node(worker)
    out = celery_cli(redis_server, "inspect", "ping", "-d", name, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {name: {"ok": "pong"}}

    out = celery_cli(redis_server, "inspect", "registered", "-d", name, "--json")
    assert out.returncode == 0, out.stderr
    registered = json.loads(out.stdout)[name]
    assert "tasks.add" in registered and "tasks.crash" in registered

    out = celery_cli(redis_server, "inspect", "stats", "-d", name, "--json")
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stdout)[name]
    assert stats["pid"] == worker.proc.pid
    assert stats["pool"]["max-concurrency"] >= 1
    assert stats["sw_ident"] == "cworker"

    out = celery_cli(redis_server, "inspect", "active_queues", "-d", name, "--json")
    assert out.returncode == 0, out.stderr
    assert [q["name"] for q in json.loads(out.stdout)[name]] == ["celery"]


def test_inspect_active_and_scheduled(cworker, tasks, celery_app, redis_server):
    worker = cworker.start()
    name = node(worker)
    later = tasks.add.apply_async((1, 2), countdown=5)
    worker.wait_received(later.id)  # held until its ETA (solo: before the sleep occupies it)
    running = tasks.sleep.delay(3)
    worker.wait_received(running.id)
    out = celery_cli(redis_server, "inspect", "active", "-d", name, "--json")
    assert out.returncode == 0, out.stderr
    assert [t["id"] for t in json.loads(out.stdout)[name]] == [running.id]
    inspect = celery_app.control.inspect(destination=[name], timeout=2)
    active = inspect.active()[name]
    assert [t["id"] for t in active] == [running.id]
    assert active[0]["name"] == "tasks.sleep" and active[0]["args"] == [3]
    scheduled = inspect.scheduled()[name]
    assert [s["request"]["id"] for s in scheduled] == [later.id]
    assert inspect.reserved()[name] == []
    stats = inspect.stats()[name]
    assert stats["total"].get("tasks.sleep") == 1
    assert running.get(timeout=RESULT_TIMEOUT) == 3
    celery_app.control.revoke(later.id)  # discarded when its ETA comes: nothing left unacked
    wait_until(lambda: later.state == "REVOKED", 10)


def test_revoke_an_eta_task_from_the_command_line(cworker, tasks, redis_server, results):
    worker = cworker.start()
    name = node(worker)
    held = tasks.add.apply_async((2, 3), countdown=1.5)
    worker.wait_received(held.id)
    out = celery_cli(redis_server, "control", "revoke", held.id, "-d", name)
    assert out.returncode == 0, out.stderr + out.stdout
    assert "flagged as revoked" in out.stdout
    wait_until(lambda: (stored_record(results, held.id) or {}).get("status") == "REVOKED", 10)
    record = stored_record(results, held.id)
    assert record["result"]["exc_type"] == "TaskRevokedError"
    worker.wait_for_log(rf"Discarding revoked task: tasks.add\[{held.id}\]")
    # A revoked id sent again later is discarded too (kept for the worker's life).
    again = tasks.add.apply_async((2, 3), task_id=held.id)
    worker.wait_for_log(rf"Discarding revoked task: tasks.add\[{again.id}\]", since=0)
    revoked = json.loads(
        celery_cli(redis_server, "inspect", "revoked", "-d", name, "--json").stdout)[name]
    assert held.id in revoked


def test_shutdown_from_the_command_line(cworker, redis_server):
    worker = cworker.start()
    name = node(worker)
    out = celery_cli(redis_server, "control", "shutdown", "-d", name)
    # A Celery worker does not answer `shutdown` (it raises WorkerShutdown), so the command line
    # reports "No nodes replied" (exit 69) for Python workers and for cworker alike.
    assert out.returncode in (0, 69), out.stderr
    assert worker.wait(timeout=15) == 0
    assert "Got shutdown from remote" in worker.log_text()


def test_only_the_addressed_worker_answers_and_unknown_commands_get_an_error(
    cworker, celery_app
):
    a = cworker.start()
    b = cworker.start()
    name_a, name_b = node(a), node(b)
    replies = celery_app.control.ping(timeout=1.5)
    names = {n for reply in replies for n in reply}
    assert {name_a, name_b} <= names
    only_b = celery_app.control.ping(destination=[name_b], timeout=1.5)
    assert only_b == [{name_b: {"ok": "pong"}}]
    unknown = celery_app.control.broadcast("no_such_thing", destination=[name_a], reply=True,
                                           timeout=1.5)
    assert "error" in unknown[0][name_a]


def test_enable_and_disable_events(cworker, celery_app):
    worker = cworker.start()
    name = node(worker)
    reply = celery_app.control.enable_events(destination=[name], reply=True, timeout=1.5)
    assert reply == [{name: {"ok": "task events enabled"}}]
    conf = celery_app.control.inspect(destination=[name], timeout=1.5).conf()[name]
    assert conf["worker_send_task_events"] is True
    reply = celery_app.control.disable_events(destination=[name], reply=True, timeout=1.5)
    assert reply == [{name: {"ok": "task events disabled"}}]
    time.sleep(0.1)
