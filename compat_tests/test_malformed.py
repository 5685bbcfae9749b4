"""Malformed and unusual messages: never crash, never execute what must not run, keep serving.

After each bad message a normal task must still succeed, the queue must be empty (the bad
message was dropped, not requeued) and, checked by the ``clean_redis`` fixture, nothing
may stay in ``unacked``.
"""

import base64
import re
import uuid

import pytest
from celery import Celery
from celery.exceptions import InvalidTaskError
from celery.result import AsyncResult
from kombu.exceptions import ContentDisallowed, DecodeError

from pytest_cworker import encode_body, make_envelope, push_envelope, stored_record
from pytest_cworker.plugin import RESULT_TIMEOUT, close_app

# The pickled body of add(1, 2) as kombu 5.2.4 sent it (captures/serializer_pickle_rejected).
PICKLED_ADD_BODY = (
    "gASVOgAAAAAAAABLAUsChpR9lH2UKIwJY2FsbGJhY2tzlE6MCGVycmJhY2tzlE6MBWNoYWlulE6MBWNob3JklE51h5Qu"
)
YAML_ADD_BODY = b"- [1, 2]\n- {}\n- {callbacks: null, errbacks: null, chain: null, chord: null}\n"


def assert_still_serving(celery_app, broker):
    """A normal task succeeds afterwards and the bad message is not back in the queue."""
    assert celery_app.send_task("tasks.add", args=(20, 22)).get(timeout=RESULT_TIMEOUT) == 42
    assert broker.llen("celery") == 0, "the bad message was requeued instead of dropped"


def assert_stored_exception(results, task_id, exc_module, exc_type):
    """The stored record is a FAILURE carrying exactly that exception class."""
    record = stored_record(results, task_id)
    assert record["status"] == "FAILURE", "a message that cannot be decoded was executed"
    assert (record["result"]["exc_module"], record["result"]["exc_type"]) == (exc_module, exc_type)


GARBAGE = {
    "not-json": b"this is not json {",
    "binary": bytes(range(256)),
    "json-array": b'[1, 2, 3]',
    "json-string": b'"just a string"',
    "empty-object": b"{}",
    "no-body": b'{"headers": {"task": "tasks.add", "id": "x"}, "properties": {}}',
}


@pytest.mark.cworker_only  # kombu 5.2.4's consumer dies on a non-JSON list element
@pytest.mark.parametrize("payload", list(GARBAGE.values()), ids=list(GARBAGE))
def test_garbage_is_logged_and_dropped(worker, celery_app, broker, payload):
    mark = worker.log_mark()
    broker.lpush("celery", payload)
    worker.wait_for_log(r"(ERROR|WARNING|CRITICAL)/", since=mark)
    assert_still_serving(celery_app, broker)


REJECTED_CONTENT = {
    "pickle": dict(
        raw_body=PICKLED_ADD_BODY,
        content_type="application/x-python-serialize",
        content_encoding="binary",
    ),
    "yaml": dict(
        body=YAML_ADD_BODY, content_type="application/x-yaml", content_encoding="utf-8"
    ),
    "msgpack-unconfigured": dict(
        body=b"\x93\x92\x01\x02\x80\x80",
        content_type="application/x-msgpack",
        content_encoding="binary",
    ),
}


@pytest.mark.cworker_only
@pytest.mark.parametrize("options", list(REJECTED_CONTENT.values()), ids=list(REJECTED_CONTENT))
def test_disallowed_content_type_fails_with_content_disallowed(
    worker, celery_app, broker, results, options
):
    envelope = make_envelope("tasks.add", args=(1, 2), **options)
    task_id = push_envelope(broker, envelope)
    with pytest.raises(ContentDisallowed):
        AsyncResult(task_id, app=celery_app).get(timeout=RESULT_TIMEOUT)
    assert_stored_exception(results, task_id, "kombu.exceptions", "ContentDisallowed")
    assert not re.search(r"\[" + task_id + r"\] succeeded", worker.log_text())
    assert_still_serving(celery_app, broker)


@pytest.mark.cworker_only
def test_bad_base64_body_fails_with_decode_error(worker, celery_app, broker, results):
    envelope = make_envelope("tasks.add", args=(1, 2), raw_body="%%% not base64 ***")
    task_id = push_envelope(broker, envelope)
    with pytest.raises(DecodeError):
        AsyncResult(task_id, app=celery_app).get(timeout=RESULT_TIMEOUT)
    assert_stored_exception(results, task_id, "kombu.exceptions", "DecodeError")
    assert_still_serving(celery_app, broker)


@pytest.mark.cworker_only
@pytest.mark.parametrize(
    "body",
    [{"args": [1, 2]}, "just a string", 42, [[1, 2], "kwargs-not-an-object", {}]],
    ids=["object", "string", "number", "kwargs-not-object"],
)
def test_body_not_args_kwargs_embed_fails_with_invalid_task_error(
    worker, celery_app, broker, results, body
):
    task_id = push_envelope(broker, make_envelope("tasks.add", body=body))
    with pytest.raises(InvalidTaskError):
        AsyncResult(task_id, app=celery_app).get(timeout=RESULT_TIMEOUT)
    assert_stored_exception(results, task_id, "celery.exceptions", "InvalidTaskError")
    assert_still_serving(celery_app, broker)


@pytest.mark.cworker_only  # kombu 5.2.4's consumer dies on non-mapping headers
@pytest.mark.parametrize(
    "headers", [["not", "an", "object"], "text", 7], ids=["list", "string", "number"]
)
def test_headers_not_an_object_is_dropped(worker, celery_app, broker, headers):
    mark = worker.log_mark()
    push_envelope(broker, make_envelope("tasks.add", args=(1, 2), headers=headers))
    worker.wait_for_log(r"(ERROR|WARNING|CRITICAL)/", since=mark)
    assert_still_serving(celery_app, broker)


def test_compressed_body_is_decompressed(worker, tasks):
    result = tasks.add.apply_async((2, 2), compression="zlib")
    assert result.get(timeout=RESULT_TIMEOUT) == 4


def test_protocol_v1_message_from_a_celery_producer_succeeds(worker, redis_server):
    app = Celery("tasks", broker=redis_server.url(0), backend=redis_server.url(1))
    app.conf.update(task_protocol=1, result_expires=86400)
    try:
        result = app.send_task("tasks.add", args=(40, 2))
        assert result.get(timeout=RESULT_TIMEOUT) == 42
        echoed = app.send_task("tasks.echo", args=("v1",), kwargs={"k": "Zoë"})
        assert echoed.get(timeout=RESULT_TIMEOUT) == {"args": ["v1"], "kwargs": {"k": "Zoë"}}
    finally:
        close_app(app)


def test_hand_made_protocol_v1_message_succeeds(worker, celery_app, broker, results):
    """Exact shape of captures/protocol_v1.message.json: empty headers, all in the body."""
    task_id = str(uuid.uuid4())
    body = {
        "task": "tasks.add",
        "id": task_id,
        "args": [40],
        "kwargs": {"y": 2},
        "group": None,
        "group_index": None,
        "retries": 0,
        "eta": None,
        "expires": None,
        "utc": True,
        "callbacks": None,
        "errbacks": None,
        "timelimit": [None, None],
        "taskset": None,
        "chord": None,
    }
    envelope = make_envelope(task_id=task_id, body=body, headers={})
    envelope["headers"] = {}
    push_envelope(broker, envelope)
    assert AsyncResult(task_id, app=celery_app).get(timeout=RESULT_TIMEOUT) == 42
    assert stored_record(results, task_id)["status"] == "SUCCESS"
    assert broker.llen("celery") == 0


def test_base64_helper_matches_kombu_capture():
    """Guard for the envelope helper itself: the captured add(2, 2) body."""
    captured = (
        "W1syLCAyXSwge30sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJhY2tzIjogbnVsbCwg"
        "ImNoYWluIjogbnVsbCwgImNob3JkIjogbnVsbH1d"
    )
    built = make_envelope("tasks.add", args=(2, 2))["body"]
    assert built == captured == encode_body(base64.b64decode(captured))


@pytest.mark.cworker_only  # kombu 5.2.4 (installed here) would hand the marker dicts to the task
def test_kombu_53_type_markers_arrive_as_plain_values(worker, celery_app, broker):
    """A producer on kombu >= 5.3 sends datetimes, decimals, UUIDs and bytes as
    {"__type__", "__value__"} objects; the task sees what kombu 5.2 would have sent."""
    args = [
        {"__type__": "datetime", "__value__": "2024-01-02T03:04:05+00:00"},
        {"__type__": "decimal", "__value__": "1.50"},
        {"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678"}},
        {"__type__": "bytes", "__value__": "raw text"},
    ]
    kwargs = {
        "when": {"__type__": "date", "__value__": "2024-01-02"},
        "not_a_marker": {"__type__": "datetime", "__value__": "x", "extra": 1},
    }
    task_id = push_envelope(broker, make_envelope("tasks.echo", args=args, kwargs=kwargs))
    result = AsyncResult(task_id, app=celery_app).get(timeout=RESULT_TIMEOUT)
    assert result["args"] == [
        "2024-01-02T03:04:05+00:00",
        "1.50",
        "12345678-1234-5678-1234-567812345678",
        "raw text",
    ]
    assert result["kwargs"] == {
        "when": "2024-01-02",
        "not_a_marker": {"__type__": "datetime", "__value__": "x", "extra": 1},
    }


@pytest.mark.cworker_only  # Celery has no such limit: it decodes whatever arrives
def test_a_message_over_the_size_limit_is_refused_with_a_failure(cworker, celery_app, broker,
                                                                 results):
    """--max-message-size: the body is never decoded; the client gets a DecodeError naming the
    limit, and the worker goes on serving."""
    worker = cworker.start("--max-message-size", "100000")
    big = celery_app.send_task("tasks.echo", args=("x" * 150_000,))
    with pytest.raises(DecodeError, match=r"larger than this worker accepts \(100000 bytes"):
        big.get(timeout=RESULT_TIMEOUT)
    assert_stored_exception(results, big.id, "kombu.exceptions", "DecodeError")
    worker.wait_for_log(r"ERROR/MainProcess\] Received invalid task message: message of \d+ bytes")
    small = celery_app.send_task("tasks.echo", args=("x" * 1000,))
    assert small.get(timeout=RESULT_TIMEOUT)["args"] == ["x" * 1000]
    assert broker.llen("celery") == 0
