"""Redis faults under a busy worker: killed and restarted, put to sleep, paused.

Redis keeps an append-only file fsynced on every write, so a SIGKILL loses nothing Redis had
answered. Every task of the backlog must then run exactly once: nothing acked is lost
(a message whose pop reached Redis but whose reply did not is restored after the visibility
timeout), and nothing is acked or run twice (acks and results lost with the connection are
sent again). (A worker started before Redis, and an idle worker across a restart, are in
test_connection.py.)
"""

import collections
import re
import threading
import time

import pytest
from celery import Celery

from pytest_cworker.canvas import require_tasks
from pytest_cworker.plugin import RESULT_TIMEOUT, close_app
from pytest_cworker.waiting import wait_until

CONNECTION_ERROR = r"(?i)(cannot connect|connection refused|connection .*lost|error 111)"


def client_app(server):
    app = Celery("tasks", broker=server.url(0), backend=server.url(1))
    app.conf.result_expires = 86400
    return app


def counts(client, n, prefix="visit"):
    values = client.mget([f"{prefix}:{i}" for i in range(n)])
    return [int(v) if v is not None else 0 for v in values]


@pytest.fixture(autouse=True)
def _need_tasks(tasks):
    require_tasks(tasks, "visit_slowly", "count_visit")


@pytest.mark.parametrize("pool,concurrency", [("solo", 1), ("green", 10)])
def test_redis_killed_and_restarted_under_a_busy_worker(redis_factory, cworker, pool,
                                                        concurrency):
    # `sleep` touches no Redis of its own (a task whose own Redis call fails is the task's
    # error, as in Python): each run is counted from the worker's "succeeded" lines.
    n = 1000
    server = redis_factory(persistent=True)
    # Sent by an app without a result backend: Celery's client subscribes to each result's
    # channel when it sends with one, and its pub/sub connection, reconnecting across the
    # restart, sometimes retries an UNSUBSCRIBE forever (the client's issue, not the
    # worker's). The results are read after the restart by a fresh client.
    sender = Celery("tasks", broker=server.url(0))
    app = None
    try:
        with sender.producer_or_acquire() as producer:
            ids = [sender.send_task("tasks.sleep", args=(0.002,), producer=producer).id
                   for _ in range(n)]
        worker = cworker.start("--visibility-timeout", 3, pool=pool, concurrency=concurrency,
                               broker_url=server.url(0), backend_url=server.url(1))

        def runs():
            return re.findall(r"Task tasks\.sleep\[([0-9a-f-]+)\] succeeded", worker.log_text())

        wait_until(lambda: len(runs()) >= 300, 30)
        mark = worker.log_mark()
        server.restart(down_for=1.0)
        worker.wait_for_log(CONNECTION_ERROR, timeout=15, since=mark)
        assert len(runs()) < n, "finished before the fault"

        # Every result arrives (those stored before the kill are in the append-only file).
        app = client_app(server)
        sent = [app.AsyncResult(task_id) for task_id in ids]
        assert [r.get(timeout=RESULT_TIMEOUT + 10) for r in sent] == [0.002] * n
        with server.client(0) as client:
            wait_until(lambda: client.hlen("unacked") == 0 and client.llen("celery") == 0, 20)
        ran = collections.Counter(runs())
        assert set(ran) == set(ids)
        twice = [task_id for task_id, times in ran.items() if times > 1]
        assert not twice, f"ran twice: {twice[:20]}"
        assert worker.is_alive()
        assert worker.stop() == 0
    finally:
        close_app(sender)
        if app is not None:
            close_app(app)


def test_redis_asleep_and_paused_under_a_busy_worker(redis_factory, cworker):
    """DEBUG SLEEP (Redis answers nobody) and CLIENT PAUSE (writes wait) while tasks flow: the
    worker waits them out; every task runs once and its result arrives."""
    server = redis_factory(options={"enable-debug-command": "yes"})
    app = client_app(server)
    client = server.client(0)
    admin = server.client(0, socket_timeout=30)
    try:
        worker = cworker.start(pool="green", concurrency=4, broker_url=server.url(0),
                               backend_url=server.url(1))
        n = 200
        sent = []

        def produce():
            for i in range(n):
                sent.append(app.send_task("tasks.count_visit", args=(f"visit:{i}",)))
                time.sleep(0.02)

        producer = threading.Thread(target=produce)
        producer.start()
        time.sleep(0.5)
        admin.execute_command("DEBUG", "SLEEP", "2")
        time.sleep(0.5)
        admin.execute_command("CLIENT", "PAUSE", "1500", "WRITE")
        time.sleep(2)
        admin.execute_command("CLIENT", "PAUSE", "1000", "ALL")
        producer.join(timeout=60)
        assert [r.get(timeout=RESULT_TIMEOUT) for r in sent] == [1] * n
        assert counts(client, n) == [1] * n
        assert worker.is_alive()
        assert worker.stop() == 0
    finally:
        admin.close()
        client.close()
        close_app(app)
