"""Celery events (-E) as Flower reads them: a real ``app.events.Receiver`` on the broker's
pub/sub, feeding a real ``app.events.State`` (Flower's model of workers and tasks)."""

import datetime
import threading
import time

import pytest

from pytest_cworker.plugin import RESULT_TIMEOUT
from pytest_cworker.waiting import wait_until

pytestmark = pytest.mark.cworker_only  # sw_ident and the exact event set are cworker's


class EventLog:
    """Captures every event the broker publishes while it runs (a Receiver thread)."""

    def __init__(self, app, broker):
        self.app = app
        self.events = []
        self.state = app.events.State()
        self._receiver = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._broker = broker

    def _on_event(self, event):
        self.events.append(event)
        self.state.event(event)

    def _run(self):
        with self.app.connection_for_read() as conn:
            self._receiver = self.app.events.Receiver(conn, handlers={"*": self._on_event})
            self._receiver.capture(limit=None, timeout=None, wakeup=False)

    def __enter__(self):
        before = self._broker.execute_command("PUBSUB", "NUMPAT")
        self._thread.start()
        wait_until(lambda: self._broker.execute_command("PUBSUB", "NUMPAT") > before, 10)
        return self

    def __exit__(self, *exc):
        if self._receiver is not None:
            self._receiver.should_stop = True
        self._thread.join(timeout=10)

    def of(self, kind, uuid=None):
        return [e for e in self.events if e["type"] == kind and (uuid is None or e.get("uuid") == uuid)]

    def wait(self, kind, uuid=None, timeout=RESULT_TIMEOUT):
        wait_until(lambda: self.of(kind, uuid), timeout, message=lambda: f"no {kind} event for "
                   f"{uuid}; got {[(e['type'], e.get('uuid')) for e in self.events]}")
        return self.of(kind, uuid)[0]


def test_task_and_worker_events_reach_a_receiver(cworker, tasks, celery_app, broker):
    with EventLog(celery_app, broker) as log:
        worker = cworker.start("-E")
        assert ".> task events: ON" in worker.stdout_text()
        hostname = log.wait("worker-online")["hostname"]
        assert hostname.startswith("w") and "@" in hostname

        ok = tasks.add.delay(2, 2)
        assert ok.get(timeout=RESULT_TIMEOUT) == 4
        received = log.wait("task-received", ok.id)
        assert received["name"] == "tasks.add"
        assert received["args"] == "(2, 2)" and received["kwargs"] == "{}"
        assert received["root_id"] == ok.id and received["parent_id"] is None
        assert received["retries"] == 0 and received["eta"] is None
        log.wait("task-started", ok.id)
        succeeded = log.wait("task-succeeded", ok.id)
        assert succeeded["result"] == "4" and isinstance(succeeded["runtime"], float)

        bad = tasks.fail.delay("boom")
        with pytest.raises(ValueError):
            bad.get(timeout=RESULT_TIMEOUT)
        failed = log.wait("task-failed", bad.id)
        assert "ValueError('boom')" in failed["exception"] and "Traceback" in failed["traceback"]

        retried = tasks.retry_until.delay(1)
        assert retried.get(timeout=RESULT_TIMEOUT) == 1
        log.wait("task-retried", retried.id)

        past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
        expired = tasks.add.apply_async((1, 1), expires=past)
        revoked = log.wait("task-revoked", expired.id)
        assert revoked["expired"] is True and revoked["terminated"] is False

        beat = log.wait("worker-heartbeat", timeout=5)
        for field in ("freq", "sw_ident", "sw_ver", "sw_sys", "active", "processed", "loadavg"):
            assert field in beat, field
        assert beat["freq"] == 2.0 and beat["sw_ident"] == "cworker" and len(beat["loadavg"]) == 3

        # Flower's model of the cluster, built from the same events.
        assert log.state.workers[hostname].alive
        assert log.state.tasks[ok.id].state == "SUCCESS"
        assert log.state.tasks[ok.id].name == "tasks.add"
        assert log.state.tasks[bad.id].state == "FAILURE"
        assert log.state.tasks[expired.id].state == "REVOKED"

        clocks = [e["clock"] for e in log.events if e["hostname"] == hostname]
        assert clocks == sorted(clocks) and len(set(clocks)) == len(clocks)

        assert worker.stop() == 0
        offline = log.wait("worker-offline", timeout=5)
        assert offline["hostname"] == hostname
        assert offline["processed"] >= 4


def test_without_e_only_worker_events_are_sent(cworker, tasks, celery_app, broker):
    with EventLog(celery_app, broker) as log:
        worker = cworker.start()
        log.wait("worker-online")
        assert tasks.add.delay(1, 2).get(timeout=RESULT_TIMEOUT) == 3
        log.wait("worker-heartbeat", timeout=5)
        assert worker.stop() == 0
        log.wait("worker-offline", timeout=5)
    assert not [e for e in log.events if e["type"].startswith("task-")]


def test_a_requeued_task_is_a_task_rejected_event(cworker, tasks, celery_app, broker):
    broker.delete("cw:crash_once_ev")
    with EventLog(celery_app, broker) as log:
        cworker.start("-E", "--reject-on-worker-lost", pool="prefork", concurrency=2)
        result = tasks.crash_once.delay("cw:crash_once_ev")
        assert result.get(timeout=RESULT_TIMEOUT) == 2
        rejected = log.wait("task-rejected", result.id)
        assert rejected["requeue"] is True
        log.wait("task-succeeded", result.id)
        time.sleep(0.1)


def test_without_heartbeat_and_celerys_other_without_flags(cworker, tasks, celery_app, broker):
    with EventLog(celery_app, broker) as log:
        worker = cworker.start("--without-heartbeat", "--without-gossip", "--without-mingle")
        log.wait("worker-online")
        assert tasks.add.delay(1, 1).get(timeout=RESULT_TIMEOUT) == 2
        time.sleep(2.5)  # a heartbeat would have come after 2 s
        assert worker.stop() == 0
        log.wait("worker-offline", timeout=5)
    assert not log.of("worker-heartbeat")
