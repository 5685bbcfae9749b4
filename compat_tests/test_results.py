"""Well-formed tasks: return values, and the result record exactly as Celery stores it."""

import datetime

import pytest

from pytest_cworker import BASIC_KEY_ORDER, NAIVE_ISO_RE, result_key, stored_record
from pytest_cworker.plugin import RESULT_TIMEOUT

# (task, args, kwargs, expected value)
CASES = [
    ("add", (2, 2), {}, 4),
    ("add", (-7, 3), {}, -4),
    ("mul", (6, 7), {}, 42),
    ("xsum", ([1, 2, 3, 4],), {}, 10),
    ("xsum", ([],), {}, 0),
    ("sum_numbers", ([10, 20, 30],), {}, 60),
    ("echo", (1, "two"), {"b": 2, "a": 1}, {"args": [1, "two"], "kwargs": {"b": 2, "a": 1}}),
    ("echo", (), {}, {"args": [], "kwargs": {}}),
    ("sleep", (0.2,), {}, 0.2),
    ("cpu", (0,), {}, 88172645463325252),
    ("cpu", (100000,), {}, None),
]


def case_id(case):
    name, args, kwargs, _ = case
    return f"{name}{args!r}{kwargs or ''}".replace(" ", "")


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_result_matches_python_twin(worker, tasks, case):
    name, args, kwargs, expected = case
    task = getattr(tasks, name)
    result = task.apply_async(args=args, kwargs=kwargs)
    value = result.get(timeout=RESULT_TIMEOUT)
    assert value == task(*args, **kwargs), "differs from the Python implementation"
    if expected is not None:
        assert value == expected
    assert type(value) is type(task(*args, **kwargs))
    assert result.status == "SUCCESS"


def test_success_record_has_celery_layout(worker, tasks, results):
    before = datetime.datetime.utcnow()
    result = tasks.add.delay(2, 2)
    assert result.get(timeout=RESULT_TIMEOUT) == 4
    after = datetime.datetime.utcnow()

    record = stored_record(results, result.id)
    assert list(record) == BASIC_KEY_ORDER
    assert record["status"] == "SUCCESS"
    assert record["result"] == 4
    assert record["traceback"] is None
    assert record["children"] == []
    assert record["task_id"] == result.id
    assert NAIVE_ISO_RE.match(record["date_done"]), record["date_done"]
    done = datetime.datetime.fromisoformat(record["date_done"])
    slack = datetime.timedelta(seconds=5)
    assert before - slack <= done <= after + slack, "date_done is not naive UTC 'now'"


def test_result_key_expires_after_one_day(worker, tasks, results):
    result = tasks.mul.delay(3, 5)
    assert result.get(timeout=RESULT_TIMEOUT) == 15
    ttl = results.ttl(result_key(result.id))
    assert 86400 - 60 <= ttl <= 86400


def test_result_lives_in_result_db_not_broker_db(worker, tasks, broker, results):
    result = tasks.add.delay(1, 1)
    assert result.get(timeout=RESULT_TIMEOUT) == 2
    assert results.exists(result_key(result.id)) == 1
    assert broker.exists(result_key(result.id)) == 0


def test_echo_preserves_argument_and_keyword_order(worker, tasks):
    kwargs = {"zeta": 1, "alpha": 2, "mid": [1, {"b": 1, "a": 2}]}
    value = tasks.echo.delay(3, "x", None, **kwargs).get(timeout=RESULT_TIMEOUT)
    assert value == {"args": [3, "x", None], "kwargs": kwargs}
    assert list(value) == ["args", "kwargs"]
    assert list(value["kwargs"]) == ["zeta", "alpha", "mid"]
    assert list(value["kwargs"]["mid"][1]) == ["b", "a"]


@pytest.mark.parametrize(
    "task_name,args,kwargs,expected",
    [
        ("add", (), {"x": 1, "y": 2}, 3),
        ("add", (), {"y": 2, "x": 10}, 12),
        ("add", (1,), {"y": 5}, 6),
        ("mul", (), {"y": 3, "x": 4}, 12),
        ("xsum", (), {"numbers": [5, 6]}, 11),
    ],
)
def test_keyword_arguments_bind_by_name(worker, tasks, task_name, args, kwargs, expected):
    task = getattr(tasks, task_name)
    assert task.apply_async(args=args, kwargs=kwargs).get(timeout=RESULT_TIMEOUT) == expected


def test_many_tasks_in_a_row_all_succeed(worker, tasks):
    sent = [tasks.add.delay(i, i) for i in range(50)]
    assert [r.get(timeout=RESULT_TIMEOUT) for r in sent] == [2 * i for i in range(50)]


def test_log_shows_received_and_succeeded_lines(worker, tasks):
    mark = worker.log_mark()
    result = tasks.add.delay(2, 2)
    assert result.get(timeout=RESULT_TIMEOUT) == 4
    worker.wait_received(result.id, since=mark)
    worker.wait_for_log(
        r"Task tasks\.add\[" + result.id + r"\] succeeded in \d+(\.\d+)?(e-?\d+)?s: 4",
        since=mark,
    )
