"""pytest fixtures and hooks for testing cworker against real Redis and real Celery.

Load with ``pytest_plugins = ["pytest_cworker.plugin"]`` or ``from pytest_cworker.plugin
import *`` in a conftest (``python_fixtures/`` must be on ``sys.path``).

Scopes, in the spirit of Dragonfly's ``df_factory``:

* ``redis_server`` (session): one private redis-server; broker db 0, results db 1.
* ``clean_redis`` (autouse, function): FLUSHALL before each test; after it, asserts that
  no message was left in ``unacked``/``unacked_index``.
* ``cworker`` (function): a factory; workers it started are stopped after the test and
  must exit 0 without sanitizer reports.
* ``worker`` (function): one default worker shared by a test module (restarted if a test
  killed it); for tests that only send tasks.
* ``celery_app`` / ``tasks`` (session): the Python twin module configured for that Redis.
* ``pyside`` (session): the Python-only task module (queue ``python``) configured likewise.
* ``python_worker`` (function): a real Python Celery worker serving ``pyside`` on queue
  ``python``, shared by a test module, beside the worker under test (mixed deployments);
  ``python_workers`` (function): a factory for Python workers with other options.
"""

import gc
import importlib
import os
import subprocess
import sys
import types

import celery.exceptions
import celery.result
import pytest

from .redis_server import BROKER_DB, RESULT_DB, RedisServer
from .waiting import WaitTimeout, wait_until
from .worker import (
    CworkerFactory,
    PythonWorkerFactory,
    is_reference_worker,
    resolve_binary,
    task_library_dir,
)

RESULT_TIMEOUT = float(os.environ.get("CW_TEST_RESULT_TIMEOUT", "20"))
READY_TIMEOUT = float(os.environ.get("CW_TEST_READY_TIMEOUT", "30"))
_REPORTED = pytest.StashKey[list]()
_LOGS_SHOWN = pytest.StashKey[bool]()
_SHARED_FACTORIES = []  # factories of module-shared workers currently set up
_SHARED_PYTHON_FACTORIES = []  # factories of module-shared Python workers currently set up


def _attach(item, handle, since=0):
    """Remember that ``item`` used ``handle`` (its log from ``since`` goes in a failure report)."""
    item.stash.setdefault(_REPORTED, []).append((handle, since))


# --- hooks ------------------------------------------------------------------------------
def pytest_configure(config):
    # CI runs as root, and cworker refuses root without consent (Celery's C_FORCE_ROOT, which
    # every worker the tests start inherits); test_security.py checks the refusal itself.
    os.environ["C_FORCE_ROOT"] = "1"
    config.addinivalue_line("markers", "slow: takes seconds (shutdown, reconnect); still run")
    config.addinivalue_line(
        "markers", "cworker_only: behaviour cworker defines differently from Python Celery"
    )
    # Debian's kombu/celery 5.2 use a deprecated importlib.metadata API: not our concern.
    config.addinivalue_line(
        "filterwarnings", "ignore:SelectableGroups dict interface:DeprecationWarning"
    )


def pytest_collection_modifyitems(config, items):
    if not is_reference_worker(resolve_binary()):
        return
    skip = pytest.mark.skip(reason="cworker-specific behaviour (reference worker in use)")
    for item in items:
        if "cworker_only" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failing test (or fixture), append the logs of the workers it used.

    ``CW_TEST_SHOW_LOGS=1`` attaches them to passing tests too (see them with ``-rP``).
    """
    outcome = yield
    report = outcome.get_result()
    show_always = os.environ.get("CW_TEST_SHOW_LOGS") == "1" and report.when == "call"
    if (report.failed or show_always) and not item.stash.get(_LOGS_SHOWN, False):
        item.stash[_LOGS_SHOWN] = True
        for handle, since in item.stash.get(_REPORTED, []):
            report.sections.append((f"cworker {handle.name} output", handle.describe(since)))


# --- Redis ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def redis_server():
    """A redis-server on a free 127.0.0.1 port, answering PING, for the whole session.

    Has ``port``, ``url(db)``, ``client(db)`` and ``flushall()``; killed at the end.
    """
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_factory():
    """Start extra redis-servers (``redis_factory(port=None, persistent=False, options=None)``);
    all killed after the test."""
    servers = []

    def start(port=None, **kwargs):
        server = RedisServer(port=port, **kwargs).start()
        servers.append(server)
        return server

    yield start
    # Celery AsyncResults of the test's own apps may sit in reference cycles; collected later,
    # once their server is gone, each would retry its UNSUBSCRIBE for ~20 s inside __del__
    # (stalling whichever test the garbage collector happens to run in). Collect them now.
    gc.collect()
    for server in servers:
        server.stop()


@pytest.fixture
def broker(redis_server):
    """``redis.Redis`` client on the broker database (db 0), decoded replies off."""
    with redis_server.client(BROKER_DB) as client:
        yield client


@pytest.fixture
def results(redis_server):
    """``redis.Redis`` client on the result database (db 1)."""
    with redis_server.client(RESULT_DB) as client:
        yield client


def unacked_state(client):
    """``(HLEN unacked, ZCARD unacked_index)`` on the broker database."""
    return client.hlen("unacked"), client.zcard("unacked_index")


def wait_unacked_empty(client, timeout=5.0):
    """Wait until the broker holds no unacknowledged message; fail with what remains."""
    wait_until(
        lambda: unacked_state(client) == (0, 0),
        timeout,
        message=lambda: f"messages left unacked: {client.hgetall('unacked')!r}, "
        f"index {client.zrange('unacked_index', 0, -1, withscores=True)!r}",
    )


@pytest.fixture(autouse=True)
def clean_redis(redis_server):
    """Every test starts with empty databases and must end with nothing in ``unacked``.

    Torn down after the test's workers were stopped, so a leftover is a real leak (a
    worker still running from the module-shared ``worker`` gets 5 s to ack).
    """
    redis_server.flushall()
    yield
    with redis_server.client(BROKER_DB) as client:
        wait_unacked_empty(client)


# --- the article's slow HTTP API -------------------------------------------------------------
NUMBER_API_DELAY = 2.0


@pytest.fixture(scope="module")
def number_api():
    """``python_fixtures/number_api.py`` on a free port (every answer takes 2 s): its URL."""
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "number_api.py")
    proc = subprocess.Popen(
        ["/usr/bin/python3", script, "--delay", str(NUMBER_API_DELAY)],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    assert "listening on" in line, f"number_api did not start: {line!r}"
    yield line.rsplit(" ", 1)[-1]
    proc.terminate()
    proc.wait(timeout=10)


# --- Celery client ----------------------------------------------------------------------
def _import_fixture_module(name, redis_server):
    """Import (or reload) ``python_fixtures/<name>.py`` configured for ``redis_server``."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if here not in sys.path:
        sys.path.insert(0, here)
    # The fixture modules read these at import. They are removed again afterwards: Celery
    # lets CELERY_BROKER_URL override the broker of *every* app in the process, which would
    # send the messages of a test's own Celery(broker=...) app to this server instead.
    saved = {k: os.environ.get(k) for k in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")}
    os.environ["CELERY_BROKER_URL"] = redis_server.url(BROKER_DB)
    os.environ["CELERY_RESULT_BACKEND"] = redis_server.url(RESULT_DB)
    try:
        if name in sys.modules:
            return importlib.reload(sys.modules[name])
        return importlib.import_module(name)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def celery_app(redis_server):
    """The twin module's Celery app, publishing to ``redis_server`` db 0, results in db 1.

    Results expire after 86400 s (Celery's default, set explicitly).
    """
    app = _import_fixture_module("tasks", redis_server).app
    if not app.conf.task_routes:
        # What tasks.py's own task_routes say: Python-only tasks (pyside.*) on queue python.
        app.conf.task_routes = {"pyside.*": {"queue": "python"}}
    app.conf.update(
        result_expires=86400,
        broker_connection_timeout=5,
        broker_connection_max_retries=3,
        redis_socket_timeout=30,
        redis_socket_connect_timeout=5,
    )
    original_get = _explain_result_timeouts()
    yield app
    celery.result.AsyncResult.get = original_get
    close_app(app)


def _explain_result_timeouts():
    """Make a ``result.get()`` that times out say which side lost the result: whether the
    record is stored in the backend, and whether the client is subscribed to its channel.
    Returns the original ``get``. Nothing else changes (the same exception type is raised)."""
    original = celery.result.AsyncResult.get

    def get(self, *args, **kwargs):
        try:
            return original(self, *args, **kwargs)
        except celery.exceptions.TimeoutError as e:
            raise celery.exceptions.TimeoutError(f"{e} [{_timeout_diagnosis(self)}]") from e

    celery.result.AsyncResult.get = get
    return original


def _timeout_diagnosis(result):
    backend = result.backend
    key = backend.get_key_for_task(result.id)
    try:
        raw = backend.client.get(key)
        stored = "nothing stored" if raw is None else f"stored: {raw[:120]!r}"
    except Exception as e:  # noqa: BLE001 - a diagnosis must not hide the timeout
        stored = f"record unreadable: {e!r}"
    consumer = getattr(backend, "result_consumer", None)
    pubsub = getattr(consumer, "_pubsub", None)
    if pubsub is None:
        return f"{stored}; the client has no result subscription"
    channel = key.encode() if isinstance(key, str) else key
    return (f"{stored}; client subscribed to it: {key in consumer.subscribed_to}"
            f" (redis-py channels: {channel in pubsub.channels},"
            f" subscribed flag: {pubsub.subscribed})")


def close_app(app):
    """Close the app's pools and its result subscription (so late GC of AsyncResults does
    not try to UNSUBSCRIBE on a Redis that is already gone)."""
    consumer = getattr(app.backend, "result_consumer", None)
    pubsub = getattr(consumer, "_pubsub", None)
    if pubsub is not None:
        try:
            pubsub.close()
        finally:
            consumer._pubsub = None
    app.close()


@pytest.fixture(scope="session")
def tasks(celery_app):
    """The twin ``tasks`` module itself (``tasks.add.delay(2, 2)``, ``tasks.add(2, 2)``)."""
    return sys.modules["tasks"]


@pytest.fixture(scope="session")
def pyside(celery_app, redis_server):
    """The Python-only tasks (``python_fixtures/pyside.py``) as a producer sees them:
    ``pyside.double.s()``, ``pyside.add.delay(1, 2)``, ... are tasks of the *client's* app
    (``celery_app``), registered under their ``pyside.*`` names and routed to queue
    ``python`` by its ``task_routes``, so canvases mixing ``tasks.*`` and ``pyside.*`` are
    built, sent and awaited through one app as a real producer would. ``pyside.module`` is
    the imported module itself (its own app serves the Python worker).
    """
    module = _import_fixture_module("pyside", redis_server)
    close_app(module.app)
    client = types.SimpleNamespace(app=celery_app, module=module)
    for name, task in sorted(module.app.tasks.items()):
        if not name.startswith("pyside."):
            continue
        if name not in celery_app.tasks:
            celery_app.task(name=name)(task.run)
        setattr(client, name.split(".", 1)[1], celery_app.tasks[name])
    return client


# --- workers ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def cworker_binary():
    """Absolute path of the worker under test; the session fails if it is missing."""
    binary = resolve_binary()
    if not os.access(binary, os.X_OK):
        pytest.fail(
            f"worker binary {binary} not found: build it (scripts/build.sh) or set CWORKER_BIN",
            pytrace=False,
        )
    if not is_reference_worker(binary):
        lib = os.path.join(task_library_dir(binary), "libtasks.so")
        if not os.path.exists(lib):
            pytest.fail(f"example task library {lib} not found", pytrace=False)
    return binary


@pytest.fixture(scope="session")
def reference_mode(cworker_binary):
    """True when the tests run against the Python Celery stand-in, not cworker."""
    return is_reference_worker(cworker_binary)


def _finish(factory):
    """Stop a factory's workers; return failure descriptions (bad exit, sanitizer report)."""
    problems = []
    codes = factory.close()
    for handle in factory.handles:
        if handle.checked:
            continue
        handle.checked = True
        if handle in codes and codes[handle] != 0:
            problems.append(
                f"worker {handle.name} exited with {codes[handle]} on SIGTERM (expected 0)"
            )
        reports = handle.sanitizer_reports()
        if reports:
            problems.append(f"worker {handle.name} sanitizer report: {reports[:5]}")
        if not handle.is_alive():
            # A prefork worker's children die with it: none may outlive it.
            try:
                wait_until(lambda: not handle.leftover_pids(), 5.0, interval=0.05)
            except WaitTimeout:
                problems.append(
                    f"worker {handle.name} left processes behind: {handle.leftover_pids()}"
                )
    return problems


@pytest.fixture
def cworker(request, cworker_binary, redis_server, tmp_path):
    """Factory: ``cworker.start(*args, env=None, queues=None, wait_ready=True, ...)``.

    Each worker logs to files under the test's tmp dir (shown when the test fails) and is
    warm-stopped after the test, which then must exit 0 and print no sanitizer report.
    The module-shared ``worker`` is stopped first, so these workers are the only consumers.
    """
    paused = [problem for shared in _SHARED_FACTORIES for problem in _finish(shared)]
    if paused:
        pytest.fail("module-shared worker: " + "\n".join(paused), pytrace=False)
    factory = CworkerFactory(
        cworker_binary, str(tmp_path), redis_server.url(BROKER_DB), redis_server.url(RESULT_DB)
    )
    original_start = factory.start

    def start(*args, **kwargs):
        kwargs.setdefault("ready_timeout", READY_TIMEOUT)
        handle = original_start(*args, **kwargs)
        _attach(request.node, handle)
        return handle

    factory.start = start
    yield factory
    problems = _finish(factory)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def worker_args():
    """Extra command-line arguments of the module-shared ``worker`` (none by default).

    Override in a test module to share a differently configured worker, e.g.::

        @pytest.fixture(scope="module")
        def worker_args():
            return ["--route", "pyside.*=python", "--result-extended"]
    """
    return []


@pytest.fixture(scope="module")
def _module_worker(cworker_binary, redis_server, tmp_path_factory):
    """Holder of the module-shared default worker (started lazily by ``worker``)."""
    factory = CworkerFactory(
        cworker_binary,
        str(tmp_path_factory.mktemp("shared-worker")),
        redis_server.url(BROKER_DB),
        redis_server.url(RESULT_DB),
    )
    _SHARED_FACTORIES.append(factory)
    yield factory
    _SHARED_FACTORIES.remove(factory)
    problems = _finish(factory)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def worker(request, _module_worker, redis_server, worker_args):
    """A ready default worker (``-P solo -c 1``, queue ``celery``, plus the module's
    ``worker_args``), shared by the module.

    Restarted when a previous test left it dead; a test that kills it fails in teardown.
    """
    live = [h for h in _module_worker.handles if h.is_alive()]
    handle = (
        live[-1]
        if live
        else _module_worker.start(*worker_args, ready_timeout=READY_TIMEOUT)
    )
    _attach(request.node, handle, handle.log_mark())
    yield handle
    if not handle.is_alive():
        pytest.fail(f"the shared worker died during the test:\n{handle.describe()}", pytrace=False)


def _python_factory(workdir, redis_server):
    return PythonWorkerFactory(workdir, redis_server.url(BROKER_DB), redis_server.url(RESULT_DB))


@pytest.fixture(scope="module")
def _module_python_worker(redis_server, tmp_path_factory):
    """Holder of the module-shared Python worker (started lazily by ``python_worker``)."""
    factory = _python_factory(str(tmp_path_factory.mktemp("python-worker")), redis_server)
    _SHARED_PYTHON_FACTORIES.append(factory)
    yield factory
    _SHARED_PYTHON_FACTORIES.remove(factory)
    problems = _finish(factory)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def python_worker(request, _module_python_worker, pyside):
    """A ready Python Celery worker serving ``pyside`` on queue ``python`` (``-P solo``),
    shared by the module; it keeps running beside workers started by ``cworker``.

    Restarted when a previous test left it dead; a test during which it dies fails.
    """
    live = [h for h in _module_python_worker.handles if h.is_alive()]
    handle = live[-1] if live else _module_python_worker.start(ready_timeout=READY_TIMEOUT)
    _attach(request.node, handle, handle.log_mark())
    yield handle
    if not handle.is_alive():
        pytest.fail(
            f"the shared Python worker died during the test:\n{handle.describe()}", pytrace=False
        )


@pytest.fixture
def python_workers(request, redis_server, pyside, tmp_path):
    """Factory: ``python_workers.start(*args, queues="python", concurrency=1, pool="solo",
    app="pyside", ...)`` starts Python Celery workers with cworker's command line (through
    ``reference-worker``); stopped after the test, which then must exit 0. The module's
    shared ``python_worker`` is stopped first (restarted by the next test that asks for it),
    so these are the only Python workers."""
    paused = [problem for shared in _SHARED_PYTHON_FACTORIES for problem in _finish(shared)]
    if paused:
        pytest.fail("module-shared Python worker: " + "\n".join(paused), pytrace=False)
    factory = _python_factory(str(tmp_path), redis_server)
    original_start = factory.start

    def start(*args, **kwargs):
        kwargs.setdefault("ready_timeout", READY_TIMEOUT)
        handle = original_start(*args, **kwargs)
        _attach(request.node, handle)
        return handle

    factory.start = start
    yield factory
    problems = _finish(factory)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


__all__ = [
    "RESULT_TIMEOUT",
    "WaitTimeout",
    "broker",
    "number_api",
    "celery_app",
    "clean_redis",
    "cworker",
    "close_app",
    "cworker_binary",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_runtest_makereport",
    "redis_factory",
    "redis_server",
    "reference_mode",
    "results",
    "tasks",
    "wait_unacked_empty",
    "worker",
    "worker_args",
    "_module_worker",
    "pyside",
    "python_worker",
    "python_workers",
    "_module_python_worker",
]
