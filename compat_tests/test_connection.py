"""Broker availability: a worker started before Redis waits for it instead of exiting."""

import pytest
from celery import Celery

from pytest_cworker import free_port
from pytest_cworker.plugin import RESULT_TIMEOUT, close_app, wait_unacked_empty

CONNECTION_ERROR = (
    r"(?i)(cannot connect|connection refused|error 111|connection error|unable to connect)"
)


def _client_app(url):
    """A Celery client app of its own for a Redis that is not the session's."""
    app = Celery("tasks", broker=f"{url}/0", backend=f"{url}/1")
    app.conf.result_expires = 86400
    return app


@pytest.mark.slow
def test_worker_waits_for_redis_then_serves(redis_factory, cworker):
    port = free_port()
    url = f"redis://127.0.0.1:{port}"
    worker = cworker.start(broker_url=f"{url}/0", backend_url=f"{url}/1", wait_ready=False)
    worker.wait_for_log(CONNECTION_ERROR, timeout=15)
    assert worker.is_alive(), "worker exited instead of retrying the broker connection"

    server = redis_factory(port=port)
    worker.wait_ready(timeout=30)

    app = _client_app(url)
    try:
        assert app.send_task("tasks.add", args=(2, 3)).get(timeout=RESULT_TIMEOUT) == 5
    finally:
        close_app(app)
    assert worker.stop() == 0
    with server.client(0) as client:
        wait_unacked_empty(client)


@pytest.mark.slow
def test_worker_survives_a_redis_restart(redis_factory, cworker):
    """Redis goes away under an idle worker and comes back: the worker logs it, reconnects with
    backoff and serves again, without exiting or losing the task sent after the restart."""
    server = redis_factory()
    url = f"redis://127.0.0.1:{server.port}"
    worker = cworker.start(broker_url=f"{url}/0", backend_url=f"{url}/1")
    app = _client_app(url)
    try:
        assert app.send_task("tasks.add", args=(1, 1)).get(timeout=RESULT_TIMEOUT) == 2
        mark = worker.log_mark()
        server.stop()
        worker.wait_for_log(CONNECTION_ERROR, timeout=15, since=mark)
        assert worker.is_alive(), "worker exited when Redis went away"

        restarted = redis_factory(port=server.port)
        close_app(app)
        app = _client_app(url)
        assert app.send_task("tasks.add", args=(2, 3)).get(timeout=RESULT_TIMEOUT) == 5
    finally:
        close_app(app)
    assert worker.stop() == 0
    with restarted.client(0) as client:
        wait_unacked_empty(client)
