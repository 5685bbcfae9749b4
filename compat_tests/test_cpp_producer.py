"""A C++ program as the producer: ``examples/send_task`` (``cw::canvas::Producer``, the code a
cworker uses for chain steps and callbacks) sends tasks that a real Python Celery worker and the
worker under test run, and reads their results as a Python client would."""

import json
import os
import subprocess

import pytest

from pytest_cworker.canvas import MIXED_ROUTE
from pytest_cworker.plugin import BROKER_DB, RESULT_DB
from pytest_cworker.worker import REPO_ROOT

SEND_TASK = os.path.join(REPO_ROOT, "build", "bin", "send_task")


@pytest.fixture(scope="module")
def worker_args():
    return MIXED_ROUTE


@pytest.fixture(scope="module")
def send_task(redis_server):
    if not os.access(SEND_TASK, os.X_OK):
        pytest.fail(f"{SEND_TASK} not built (scripts/build.sh)", pytrace=False)

    def run(name, args, *extra):
        proc = subprocess.run(
            [SEND_TASK, redis_server.url(BROKER_DB), redis_server.url(RESULT_DB), name,
             json.dumps(args), *extra],
            capture_output=True, text=True, timeout=60, check=False)
        return proc.returncode, proc.stdout, proc.stderr

    return run


def test_cpp_producer_reaches_a_python_worker(worker, python_worker, send_task, results):
    code, out, err = send_task("pyside.double", [21], "--route", "pyside.*=python")
    assert code == 0, err
    record = json.loads(out)
    assert record["status"] == "SUCCESS" and record["result"] == 42
    assert record["task_id"] in python_worker.received_ids()
    # The message looked like any Python producer's: a top-level task is its own root.
    assert record.get("parent_id") is None


def test_cpp_producer_reaches_cworker(worker, python_worker, send_task):
    code, out, err = send_task("tasks.add", [2, 3])
    assert code == 0, err
    record = json.loads(out)
    assert record["result"] == 5
    assert f"tasks.add[{record['task_id']}] received" in worker.log_text()


def test_cpp_producer_sees_a_python_failure(worker, python_worker, send_task):
    code, out, _ = send_task("pyside.fail", ["from C++"], "--route", "pyside.*=python")
    assert code == 1
    record = json.loads(out)
    assert record["status"] == "FAILURE"
    assert record["result"]["exc_type"] == "ValueError"
    assert record["result"]["exc_message"] == ["from C++"]
