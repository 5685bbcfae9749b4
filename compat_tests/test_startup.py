"""Command line, banner and log format: what an operator of a Celery worker expects."""

import json
import os
import re
import subprocess
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pytest_cworker.plugin import RESULT_TIMEOUT
from pytest_cworker.worker import CworkerFactory, task_library_dir

EXAMPLE_TASKS = [
    "tasks.add",
    "tasks.cpu",
    "tasks.crash",
    "tasks.echo",
    "tasks.fail",
    "tasks.get_number",
    "tasks.mul",
    "tasks.sleep",
    "tasks.sum_numbers",
    "tasks.xsum",
]
LOG_LINE_RE = re.compile(
    r"^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}: "
    r"(DEBUG|INFO|WARNING|ERROR|CRITICAL)/[\w-]+\] \S"
)


def test_banner_on_stdout(worker, redis_server):
    banner = worker.stdout_text()
    pool, concurrency = CworkerFactory.default_pool, CworkerFactory.default_concurrency
    assert f".> concurrency: {concurrency} ({pool})" in banner
    assert f".> transport:   redis://127.0.0.1:{redis_server.port}/0" in banner
    assert f".> results:     redis://127.0.0.1:{redis_server.port}/1" in banner
    assert re.search(r"\.> celery\s+exchange=celery\(direct\) key=celery", banner)
    assert "[tasks]" in banner
    listed = re.findall(r"^  \. (\S+)$", banner, re.M)
    assert set(EXAMPLE_TASKS) <= set(listed), f"missing from [tasks]: {listed}"


def test_log_lines_use_celery_format_and_ready_line(worker):
    lines = [line for line in worker.log_text().splitlines() if line.startswith("[")]
    assert lines, "nothing logged on stderr"
    bad = [line for line in lines if not LOG_LINE_RE.match(line)]
    assert not bad, f"lines not in Celery's log format: {bad[:5]}"
    ready = [line for line in lines if line.endswith(" ready.")]
    assert len(ready) == 1
    assert f"@{socket.gethostname()} ready." in ready[0], "-n name@%h must expand %h"
    assert "INFO/MainProcess]" in ready[0]


def test_node_name_is_used_verbatim(cworker, tasks):
    worker = cworker.start(nodename="alpha.beta@example-host")
    worker.wait_for_log(r"alpha\.beta@example-host ready\.")


def test_queues_listed_in_banner(cworker):
    worker = cworker.start(queues="fast,slow")
    banner = worker.stdout_text()
    assert re.search(r"\.> fast\s+exchange=fast\(direct\) key=fast", banner)
    assert re.search(r"\.> slow\s+exchange=slow\(direct\) key=slow", banner)
    assert not re.search(r"\.> celery\s+exchange=", banner)


@pytest.mark.cworker_only
def test_app_given_as_path_to_library(cworker, cworker_binary, tasks):
    library = os.path.join(task_library_dir(cworker_binary), "libtasks.so")
    cworker.start(app=library, env={"CWORKER_PATH": "/nonexistent"})
    assert tasks.add.delay(3, 4).get(timeout=RESULT_TIMEOUT) == 7


def test_broker_and_backend_from_environment(cworker, redis_server, tasks):
    cworker.start(
        broker_url=False,
        backend_url=False,
        env={
            "CELERY_BROKER_URL": redis_server.url(0),
            "CELERY_RESULT_BACKEND": redis_server.url(1),
        },
    )
    assert tasks.add.delay(5, 6).get(timeout=RESULT_TIMEOUT) == 11


class _NumberHandler(BaseHTTPRequestHandler):
    calls = 0

    def do_GET(self):  # noqa: N802 (http.server API)
        type(self).calls += 1
        body = json.dumps({"number": 1234, "other": "ignored"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_get_number_calls_the_http_api(cworker, tasks):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NumberHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        cworker.start(env={"NUMBER_API_URL": url})
        assert tasks.get_number.delay().get(timeout=RESULT_TIMEOUT) == 1234
        assert _NumberHandler.calls >= 1
    finally:
        server.shutdown()
        server.server_close()


def test_retry_until_retries_then_succeeds(worker, tasks):
    if "tasks.retry_until" not in worker.stdout_text():
        pytest.skip("tasks.retry_until is not in this worker's [tasks] list yet")
    mark = worker.log_mark()
    result = tasks.retry_until.delay(2)
    assert result.get(timeout=RESULT_TIMEOUT) == 2
    assert worker.received_ids(since=mark).count(result.id) == 3


@pytest.mark.cworker_only
@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["-A", "no_such_tasks"],
            r"Unable to load task library\. The module no_such_tasks was not found",
        ),
        (["-A", "{lib}/libcw_protocol.so"], r"is not a cworker task library \(no CW_MODULE"),
        (["-A", "tasks", "-b", "amqp://guest@localhost//"], r"unsupported broker URL"),
        (["-A", "tasks", "--result-backend", "redis://h:99999/0"], r"bad port"),
        (["-A", "tasks", "-P", "threads"], r"--pool"),
        (["-A", "tasks", "-l", "chatty"], r"unknown log level chatty"),
    ],
    ids=["missing-library", "not-a-task-library", "amqp-broker", "bad-port", "pool", "loglevel"],
)
def test_startup_errors_are_clear_and_exit_non_zero(cworker_binary, tmp_path, argv, message):
    lib = task_library_dir(cworker_binary)
    cmd = [cworker_binary] + [a.replace("{lib}", lib) for a in argv]
    env = dict(os.environ, CWORKER_PATH="")
    proc = subprocess.run(
        cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode != 0
    assert re.search(message, proc.stderr + proc.stdout), proc.stderr
    assert "ready." not in proc.stderr


def _run_cworker(cworker_binary, tmp_path, argv):
    env = dict(os.environ, CWORKER_PATH=task_library_dir(cworker_binary))
    env.pop("CELERY_BROKER_URL", None)
    env.pop("CELERY_RESULT_BACKEND", None)
    return subprocess.run(
        [cworker_binary] + argv,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.cworker_only
@pytest.mark.parametrize(
    "content, message",
    [
        ('{"broker_url": ', r"cworker\.json: not valid JSON"),
        ('["broker_url"]', r"expected a JSON object of settings, got list"),
        ('{"task_acks_late": "yes"}', r"'task_acks_late' must be true or false, got str"),
        ('{"worker_concurrency": -1}', r"'worker_concurrency' must be a non-negative integer"),
        ('{"task_routes": ["python"]}', r"'task_routes' must be an object"),
        ('{"task_routes": {"pyside.*": 3}}', r"'task_routes\[\"pyside\.\*\"\]' must be a queue name"),
        (None, r"cworker\.json: cannot read: No such file or directory"),
    ],
    ids=["bad-json", "not-an-object", "bool-type", "negative-int", "routes-type", "route-type",
         "missing-file"],
)
def test_bad_config_file_exits_non_zero_with_a_clear_message(
    cworker_binary, tmp_path, content, message
):
    config = tmp_path / "cworker.json"
    if content is not None:
        config.write_text(content)
    proc = _run_cworker(cworker_binary, tmp_path, ["-A", "tasks", "--config", str(config)])
    assert proc.returncode != 0
    assert re.search(r"Error: Invalid value for '--config': .*" + message, proc.stderr), proc.stderr
    assert "ready." not in proc.stderr
    assert "[queues]" not in proc.stdout


@pytest.mark.cworker_only
@pytest.mark.parametrize("route", ["pyside.*", "=python", "pyside.*="])
def test_malformed_route_exits_non_zero(cworker_binary, tmp_path, route):
    proc = _run_cworker(cworker_binary, tmp_path, ["-A", "tasks", "--route", route])
    assert proc.returncode != 0
    assert re.search(r"--route: expects PATTERN=QUEUE", proc.stderr + proc.stdout), proc.stderr
    assert route in proc.stderr + proc.stdout
    assert "ready." not in proc.stderr


@pytest.mark.cworker_only
def test_config_file_settings_and_unknown_key_warning(cworker, redis_server, tasks, tmp_path):
    config = tmp_path / "cworker.json"
    config.write_text(
        json.dumps(
            {
                "broker_url": redis_server.url(0),
                "result_backend": redis_server.url(1),
                "task_default_queue": "celery",
                "task_routes": {"pyside.*": "python"},
                "task_queuez": ["typo"],
            }
        )
    )
    # The file gives the broker and the backend; -Q is not given, so the worker consumes
    # task_default_queue.
    worker = cworker.start("--config", str(config), broker_url=False, backend_url=False)
    assert re.search(r"\.> celery\s+exchange=celery\(direct\) key=celery", worker.stdout_text())
    assert re.search(r"WARNING/MainProcess\].*'task_queuez'", worker.log_text())
    assert tasks.add.delay(2, 3).get(timeout=RESULT_TIMEOUT) == 5


@pytest.mark.cworker_only
def test_default_queue_is_consumed_without_q(cworker):
    worker = cworker.start("--default-queue", "cpp", "--route", "pyside.*=python")
    banner = worker.stdout_text()
    assert re.search(r"\.> cpp\s+exchange=cpp\(direct\) key=cpp", banner)
    assert not re.search(r"\.> celery\s+exchange=", banner)
