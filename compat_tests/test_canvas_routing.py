"""Where the worker under test sends follow-up messages (chain steps): Celery's precedence is
an explicit ``queue`` option on the signature, then the task's own ``queue``, then
``task_routes`` (``--route`` / ``--config``), then ``task_default_queue``
(``--default-queue``). The ``queue`` field of ``result_extended`` records shows where each
step was consumed from.
"""

import json
import socket

import pytest
from celery import chain

from pytest_cworker.canvas import (
    MIXED_ROUTE,
    chain_results,
    record,
    require_tasks,
    wait_held,
    wait_record,
)
from pytest_cworker.envelope import queued_task_ids
from pytest_cworker.plugin import RESULT_TIMEOUT


@pytest.fixture(scope="module")
def worker_args():
    return MIXED_ROUTE + ["--result-extended"]


def queues_of(results, result):
    """The ``queue`` of every step's record (waiting: a step's record is stored after the
    next step was sent)."""
    return [
        wait_record(results, step.id, RESULT_TIMEOUT)["queue"] for step in chain_results(result)
    ]


def test_follow_up_goes_to_the_tasks_own_queue(cworker, tasks, results):
    require_tasks(tasks, "special_add")
    cworker.start("--result-extended", *MIXED_ROUTE, queues="celery,special")
    result = chain(tasks.add.s(1, 2), tasks.special_add.s(3), tasks.mul.s(2)).apply_async()
    assert result.get(timeout=RESULT_TIMEOUT) == 12
    assert queues_of(results, result) == ["celery", "special", "celery"]


def test_explicit_queue_wins_over_the_tasks_own_queue(cworker, tasks, results):
    require_tasks(tasks, "special_add")
    cworker.start("--result-extended", *MIXED_ROUTE, queues="celery,special")
    result = chain(tasks.add.s(1, 2), tasks.special_add.s(3).set(queue="celery")).apply_async()
    assert result.get(timeout=RESULT_TIMEOUT) == 6
    assert queues_of(results, result) == ["celery", "celery"]


def test_tasks_own_queue_wins_over_routes(cworker, tasks, results):
    require_tasks(tasks, "special_add")
    cworker.start("--result-extended", "--route", "tasks.special_add=celery", *MIXED_ROUTE,
                  queues="celery,special")
    result = chain(tasks.add.s(1, 2), tasks.special_add.s(3)).apply_async()
    assert result.get(timeout=RESULT_TIMEOUT) == 6
    assert queues_of(results, result) == ["celery", "special"]


def test_default_queue_for_follow_ups(cworker, tasks, results, broker):
    cworker.start("--default-queue", "other", "--result-extended", *MIXED_ROUTE,
                  queues="other")
    result = chain(tasks.add.s(1, 1).set(queue="other"), tasks.mul.s(5),
                   tasks.add.s(1)).apply_async()
    assert result.get(timeout=RESULT_TIMEOUT) == 11
    assert queues_of(results, result) == ["other", "other", "other"]
    assert queued_task_ids(broker, "celery") == []


@pytest.mark.parametrize("how", ["route-flag", "config-file"])
def test_routes_for_follow_ups(cworker, python_worker, tasks, pyside, results, tmp_path, how):
    if how == "route-flag":
        args = ["--result-extended", "--route", "tasks.mul=muls", *MIXED_ROUTE]
    else:
        config = tmp_path / "cworker.json"
        config.write_text(json.dumps({
            "result_extended": True,
            "task_routes": {"tasks.mul": {"queue": "muls"}, "pyside.*": {"queue": "python"}},
        }))
        args = ["--config", str(config)]
    cworker.start(*args, queues="celery,muls")
    result = chain(tasks.add.s(1, 1), pyside.double.s(), tasks.add.s(1),
                   tasks.mul.s(3)).apply_async()
    assert result.get(timeout=RESULT_TIMEOUT) == 15
    add, double, add_one, mul = chain_results(result)
    assert double.id in python_worker.received_ids()
    assert wait_record(results, add_one.id, RESULT_TIMEOUT)["queue"] == "celery"
    assert record(results, mul.id)["queue"] == "muls"


def test_python_steps_consumed_from_the_python_queue(worker, python_workers, tasks, pyside,
                                                    results):
    python = python_workers.start("--result-extended")
    result = chain(tasks.add.s(1, 1), pyside.double.s(), tasks.add.s(1)).apply_async()
    assert result.get(timeout=RESULT_TIMEOUT) == 5
    add, double, add_one = chain_results(result)
    meta = wait_record(results, double.id, RESULT_TIMEOUT)
    assert (meta["name"], meta["queue"], meta["args"]) == ("pyside.double", "python", [2])
    assert meta["worker"] == f"{python.name}@{socket.gethostname()}"
    assert wait_record(results, add.id, RESULT_TIMEOUT)["queue"] == "celery"


def test_explicit_queue_wins_over_routes(worker, python_worker, tasks, pyside, broker):
    result = chain(tasks.add.s(1, 1), pyside.double.s().set(queue="held")).apply_async()
    [(headers, body)] = wait_held(broker, "held", 1, RESULT_TIMEOUT)
    assert headers["task"] == "pyside.double" and headers["id"] == result.id
    assert body[0] == [2]
    assert result.id not in python_worker.received_ids()
