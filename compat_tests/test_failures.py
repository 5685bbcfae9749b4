"""Failing tasks: Python clients re-raise the right builtin exception with its message."""

import re

import pytest
from celery.exceptions import NotRegistered

from pytest_cworker import BASIC_KEY_ORDER, NAIVE_ISO_RE, stored_record
from pytest_cworker.plugin import RESULT_TIMEOUT


def test_fail_raises_python_value_error(worker, tasks, results):
    result = tasks.fail.delay("boom")
    with pytest.raises(ValueError) as raised:
        result.get(timeout=RESULT_TIMEOUT)
    assert type(raised.value) is ValueError, "must be the builtin class, not a synthesised one"
    assert raised.value.args == ("boom",)
    assert result.status == "FAILURE"
    assert isinstance(result.traceback, str) and result.traceback.strip()

    record = stored_record(results, result.id)
    assert list(record) == BASIC_KEY_ORDER
    assert record["result"] == {
        "exc_type": "ValueError",
        "exc_message": ["boom"],
        "exc_module": "builtins",
    }
    assert record["children"] == []
    assert NAIVE_ISO_RE.match(record["date_done"])


def test_fail_message_keeps_unicode(worker, tasks):
    with pytest.raises(ValueError) as raised:
        tasks.fail.delay("Zoë 🚀 ошибка").get(timeout=RESULT_TIMEOUT)
    assert raised.value.args == ("Zoë 🚀 ошибка",)


def test_failure_is_logged_as_error(worker, tasks):
    mark = worker.log_mark()
    result = tasks.fail.delay("logged")
    with pytest.raises(ValueError):
        result.get(timeout=RESULT_TIMEOUT)
    worker.wait_for_log(
        r"ERROR/\w+\].*Task tasks\.fail\[" + re.escape(result.id) + r"\] raised unexpected",
        since=mark,
    )


def test_get_without_propagate_returns_the_exception(worker, tasks):
    result = tasks.fail.delay("quiet")
    value = result.get(timeout=RESULT_TIMEOUT, propagate=False)
    assert isinstance(value, ValueError) and value.args == ("quiet",)
    assert result.failed() and not result.successful()


@pytest.mark.parametrize(
    "task_name,args,kwargs",
    [
        ("add", ("a", 2), {}),
        ("add", (1,), {}),
        ("add", (1, 2, 3), {}),
        ("add", (1,), {"z": 2}),
        ("mul", (None, 2), {}),
        ("xsum", ([1, "a"],), {}),
    ],
    ids=["wrong-type", "missing-arg", "extra-arg", "unknown-kwarg", "null-arg", "bad-element"],
)
def test_wrong_arguments_raise_type_error(worker, celery_app, task_name, args, kwargs):
    # send_task skips the client-side signature check that .delay() would do.
    result = celery_app.send_task(f"tasks.{task_name}", args=args, kwargs=kwargs)
    with pytest.raises(TypeError) as raised:
        result.get(timeout=RESULT_TIMEOUT)
    assert type(raised.value) is TypeError
    assert result.status == "FAILURE"
    # The worker survived and still computes.
    assert celery_app.send_task("tasks.add", args=(20, 22)).get(timeout=RESULT_TIMEOUT) == 42


def test_unregistered_task_fails_with_not_registered(worker, celery_app, results):
    mark = worker.log_mark()
    result = celery_app.send_task("tasks.not_registered", args=(1,))
    with pytest.raises(NotRegistered) as raised:
        result.get(timeout=RESULT_TIMEOUT)
    assert raised.value.args == ("tasks.not_registered",)

    record = stored_record(results, result.id)
    assert record["status"] == "FAILURE"
    assert record["result"] == {
        "exc_type": "NotRegistered",
        "exc_message": ["tasks.not_registered"],
        "exc_module": "celery.exceptions",
    }
    assert record["traceback"] is None
    worker.wait_for_log(
        r"ERROR/\w+\] Received unregistered task of type 'tasks\.not_registered'", since=mark
    )
    assert celery_app.send_task("tasks.add", args=(1, 2)).get(timeout=RESULT_TIMEOUT) == 3
