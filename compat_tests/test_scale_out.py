"""Scale-out: many workers on one Redis, and Redis Sentinel.

- Three cworkers and a Python Celery worker share one queue: every task of 5,000 runs exactly
  once and every worker takes a share.
- A master, a replica and a sentinel on loopback ports: a cworker found through the sentinel
  serves tasks; the master is killed; after the sentinel's failover the worker carries on with
  the new master, the results stored before the failover are still there, and nothing is lost.
"""

import collections
import os
import re
import shutil
import signal
import subprocess
import time

import pytest
from celery import Celery

from pytest_cworker import free_port
from pytest_cworker.plugin import RESULT_TIMEOUT, close_app
from pytest_cworker.redis_server import RedisServer
from pytest_cworker.waiting import wait_until


def test_three_cworkers_and_a_python_worker_share_one_queue(celery_app, cworker, python_workers,
                                                            broker):
    n = 5000
    # All four wait on the empty queue, then the tasks arrive as a producer sends them.
    workers = [cworker.start(pool=pool, concurrency=c)
               for pool, c in [("solo", 1), ("green", 4), ("prefork", 2)]]
    py = python_workers.start(app="tasks", queues="celery")
    with celery_app.producer_or_acquire() as producer:
        sent = [celery_app.send_task("tasks.add", args=(i, 1), producer=producer)
                for i in range(n)]
    assert [r.get(timeout=RESULT_TIMEOUT * 3) for r in sent] == [i + 1 for i in range(n)]
    runs = collections.Counter()
    shares = {}
    for handle in workers + [py]:
        ids = re.findall(r"Task tasks\.add\[([0-9a-f-]+)\] succeeded", handle.log_text())
        shares[handle.name] = len(ids)
        runs.update(ids)
    assert set(runs) == {r.id for r in sent}
    assert max(runs.values()) == 1, "a task ran twice"
    assert all(count > 0 for count in shares.values()), shares
    assert broker.llen("celery") == 0
    # Each is its own node to remote control (and so to Flower).
    replies = celery_app.control.inspect(timeout=2).ping() or {}
    names = {name.split("@")[0] for name in replies}
    assert {h.name for h in workers + [py]} <= names, replies


def test_broker_and_backend_on_separate_servers(redis_factory, cworker):
    broker_server, backend_server = redis_factory(), redis_factory()
    app = Celery("tasks", broker=broker_server.url(0), backend=backend_server.url(3))
    try:
        worker = cworker.start(broker_url=broker_server.url(0), backend_url=backend_server.url(3))
        assert app.send_task("tasks.add", args=(4, 5)).get(timeout=RESULT_TIMEOUT) == 9
        with broker_server.client(0) as b, backend_server.client(3) as r:
            assert r.keys("celery-task-meta-*") and not b.keys("celery-task-meta-*")
            assert b.exists("_kombu.binding.celery") and not r.exists("_kombu.binding.celery")
        assert worker.stop() == 0
    finally:
        close_app(app)


# --- Sentinel ---------------------------------------------------------------------------------

def _sentinel_binary():
    found = shutil.which("redis-sentinel")
    return [found] if found else [shutil.which("redis-server") or "redis-server", "--sentinel"]


class Sentinel:
    """One redis-sentinel monitoring ``mymaster``; fails over 1 s after the master goes."""

    def __init__(self, master_port, workdir):
        self.port = free_port()
        self.conf = os.path.join(workdir, f"sentinel-{self.port}.conf")
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(f"port {self.port}\nbind 127.0.0.1\ndir {workdir}\n"
                    f"sentinel monitor mymaster 127.0.0.1 {master_port} 1\n"
                    "sentinel down-after-milliseconds mymaster 1000\n"
                    "sentinel failover-timeout mymaster 5000\n")
        cmd = _sentinel_binary()
        self.proc = subprocess.Popen([cmd[0], self.conf] + cmd[1:],
                                     stdout=open(self.conf + ".log", "w", encoding="utf-8"),
                                     stderr=subprocess.STDOUT)
        self.client = RedisServer(port=self.port).client(0)

    def master_port(self):
        try:
            return int(self.client.execute_command("SENTINEL", "get-master-addr-by-name",
                                                   "mymaster")[1])
        except Exception:  # not up yet
            return None

    def replicas(self):
        try:
            return self.client.execute_command("SENTINEL", "replicas", "mymaster")
        except Exception:
            return []

    def stop(self):
        self.client.close()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


@pytest.fixture
def sentinel_setup(redis_factory, tmp_path):
    master = redis_factory()
    replica = redis_factory(options={"replicaof": f"127.0.0.1 {master.port}"})
    sentinel = Sentinel(master.port, str(tmp_path))
    try:
        wait_until(lambda: sentinel.master_port() == master.port, 15)
        wait_until(lambda: sentinel.replicas(), 20, interval=0.2,
                   message="the sentinel never saw the replica")
        yield master, replica, sentinel
    finally:
        sentinel.stop()


def _sentinel_app(sentinel):
    url = f"sentinel://127.0.0.1:{sentinel.port}"
    app = Celery("tasks", broker=f"{url}/0", backend=f"{url}/1")
    app.conf.broker_transport_options = {"master_name": "mymaster"}
    app.conf.result_backend_transport_options = {"master_name": "mymaster"}
    app.conf.result_expires = 86400
    return app


def test_sentinel_failover_under_a_worker(sentinel_setup, cworker):
    master, replica, sentinel = sentinel_setup
    url = f"sentinel://127.0.0.1:{sentinel.port}"
    worker = cworker.start("--broker-transport-option", "master_name=mymaster",
                           broker_url=f"{url}/0", backend_url=f"{url}/1")
    app = _sentinel_app(sentinel)
    try:
        before = [app.send_task("tasks.add", args=(i, i)) for i in range(20)]
        assert [r.get(timeout=RESULT_TIMEOUT) for r in before] == [2 * i for i in range(20)]
        with master.client(0) as m:
            assert m.execute_command("WAIT", 1, 5000) == 1  # the replica has every result

        mark = worker.log_mark()
        master.proc.send_signal(signal.SIGKILL)
        master.proc.wait(timeout=10)
        wait_until(lambda: sentinel.master_port() == replica.port, 30, interval=0.2,
                   message="no failover")
        worker.wait_for_log(r"(?i)(cannot connect|lost|refused)", timeout=15, since=mark)

        close_app(app)
        app = _sentinel_app(sentinel)
        after = [app.send_task("tasks.add", args=(i, 100)) for i in range(20)]
        assert [r.get(timeout=RESULT_TIMEOUT * 2) for r in after] == [i + 100 for i in range(20)]
        # What was acknowledged before the failover survived it.
        assert [app.AsyncResult(r.id).get(timeout=5) for r in before] == [2 * i for i in range(20)]
        assert worker.is_alive()
        assert worker.stop() == 0
        with replica.client(0) as new_master:
            assert new_master.hlen("unacked") == 0
            assert new_master.llen("celery") == 0
    finally:
        close_app(app)


def test_sentinel_url_needs_a_master_name(cworker):
    proc = subprocess.run(cworker.command(broker_url="sentinel://127.0.0.1:26379/0"),
                          env=cworker.environment({}), capture_output=True, text=True,
                          timeout=30, check=False)
    assert proc.returncode == 2
    assert "master_name" in proc.stderr


# --- global_keyprefix -------------------------------------------------------------------------

def test_global_keyprefix_keeps_two_applications_apart(cworker, broker, results):
    """kombu 5.3's global_keyprefix (broker) and Celery 5.3's (backend): every key and channel
    gets the prefix, so two applications share one Redis and one queue name without meeting.
    (Debian's kombu 5.2 has no such option: the messages are pushed where a kombu 5.3 producer
    with the prefix pushes them, and the records read where Celery 5.3 writes them.)"""
    import json

    from pytest_cworker import envelope_task_id, make_envelope

    workers = {}
    for app in ("app1", "app2"):
        workers[app] = cworker.start(
            "--broker-transport-option", f"global_keyprefix={app}:",
            "--result-backend-transport-option", f"global_keyprefix={app}")
    sent = {}
    for app, x in (("app1", 1), ("app2", 10)):
        env = make_envelope("tasks.add", args=(x, x))
        broker.lpush(f"{app}:celery", json.dumps(env))
        sent[app] = envelope_task_id(env)
    for app, x in (("app1", 1), ("app2", 10)):
        key = f"{app}_celery-task-meta-{sent[app]}"  # Celery adds "_" to a bare prefix
        record = wait_until(lambda k=key: results.get(k), RESULT_TIMEOUT)
        assert json.loads(record)["status"] == "SUCCESS"
        assert json.loads(record)["result"] == 2 * x
        workers[app].wait_received(sent[app])
    # Each worker saw only its own application's task.
    assert sent["app2"] not in workers["app1"].log_text()
    assert sent["app1"] not in workers["app2"].log_text()
    # Nothing unprefixed: bindings, queues, unacked bookkeeping, results.
    keys = {k.decode() for k in broker.keys("*")} | {k.decode() for k in results.keys("*")}
    assert "app1:_kombu.binding.celery" in keys and "app2:_kombu.binding.celery" in keys
    assert all(k.startswith(("app1", "app2")) for k in keys), sorted(keys)
    assert broker.hlen("app1:unacked") == 0 and broker.hlen("app2:unacked") == 0


def test_a_duplicate_node_name_is_warned_about(cworker, python_workers):
    """As Celery's DuplicateNodenameWarning: a worker starting under a node name another
    worker (here Python Celery) already uses says so."""
    python_workers.start(app="tasks", queues="other", nodename="same@%h")
    second = cworker.start(nodename="same@%h", queues="celery")
    third = cworker.start(nodename="unique@%h", queues="celery")
    started = time.monotonic()
    second.wait_for_log(r"DuplicateNodenameWarning: another worker \(pid \d+\) runs with the "
                        r"node name same@", timeout=10)
    time.sleep(max(0.0, 5.5 - (time.monotonic() - started)))  # the third's check is over
    assert "DuplicateNodenameWarning" not in third.log_text()
