"""Hand-made kombu envelopes, for messages a Celery client would never produce.

The shape and key order copy what kombu 5.2.4 LPUSHes (see
``shared/protocol/captures/simple_task.message.json``)::

    {"body": <base64>, "content-encoding": "utf-8", "content-type": "application/json",
     "headers": {<protocol v2 task headers>}, "properties": {...}}
"""

import base64
import json
import os
import socket
import uuid

PRIORITY_SEP = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)
EMPTY_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def dumps(value):
    """JSON the way kombu writes it (``json.dumps`` defaults: ", " / ": ", ASCII only)."""
    return json.dumps(value)


def queue_key(queue="celery", priority=0):
    """The Redis list holding ``queue`` messages of ``priority`` (kombu's priority steps)."""
    priority = min(max(int(priority), 0), 9)
    step = max(s for s in PRIORITY_STEPS if s <= priority)
    return queue if step == 0 else f"{queue}{PRIORITY_SEP}{step}"


def task_headers(task, task_id, args=(), kwargs=None, **overrides):
    """Protocol v2 headers in Celery 5.2.6's order; ``overrides`` replace or add keys."""
    headers = {
        "lang": "py",
        "task": task,
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": repr(tuple(args)),
        "kwargsrepr": repr(kwargs or {}),
        "origin": f"gen{os.getpid()}@{socket.gethostname()}",
        "ignore_result": False,
    }
    headers.update(overrides)
    return headers


def encode_body(payload):
    """base64 text of ``payload`` (bytes, or any JSON value which is serialised first)."""
    if not isinstance(payload, bytes):
        payload = dumps(payload).encode("utf-8")
    return base64.b64encode(payload).decode("ascii")


def make_envelope(
    task="tasks.add",
    args=(),
    kwargs=None,
    task_id=None,
    body=None,
    raw_body=None,
    headers=None,
    content_type="application/json",
    content_encoding="utf-8",
    queue="celery",
    priority=0,
):
    """Build an envelope dict like kombu's.

    ``body``: the decoded payload to use instead of ``[args, kwargs, embed]`` (any JSON
    value, or bytes for a non-JSON serialiser); it is base64-encoded. ``raw_body``: the
    exact string to put in the envelope's ``body`` field (for broken base64).
    ``headers``: a dict merged over the default v2 headers, or any non-dict value to use
    as the headers field verbatim.
    """
    task_id = task_id or str(uuid.uuid4())
    kwargs = kwargs or {}
    if raw_body is None:
        payload = [list(args), kwargs, EMPTY_EMBED] if body is None else body
        raw_body = encode_body(payload)
    if headers is None or isinstance(headers, dict):
        header_field = task_headers(task, task_id, args, kwargs, **(headers or {}))
    else:
        header_field = headers
    return {
        "body": raw_body,
        "content-encoding": content_encoding,
        "content-type": content_type,
        "headers": header_field,
        "properties": {
            "correlation_id": task_id,
            "reply_to": str(uuid.uuid4()),
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": priority,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }


def envelope_task_id(envelope):
    """The task id an envelope carries (``properties.correlation_id``)."""
    return envelope["properties"]["correlation_id"]


def push_envelope(client, envelope, queue=None, priority=None):
    """LPUSH ``envelope`` (a dict, or str/bytes sent verbatim) the way kombu publishes.

    The list is chosen from the envelope's routing key and priority unless given.
    Returns the task id for dict envelopes, else None.
    """
    if isinstance(envelope, dict):
        props = envelope.get("properties") or {}
        queue = queue or props.get("delivery_info", {}).get("routing_key", "celery")
        priority = props.get("priority", 0) if priority is None else priority
        client.lpush(queue_key(queue, priority or 0), dumps(envelope))
        return props.get("correlation_id")
    client.lpush(queue_key(queue or "celery", priority or 0), envelope)
    return None


def queued_task_ids(client, queue="celery"):
    """Task ids of every envelope waiting in ``queue`` (all priority lists), oldest first."""
    ids = []
    for step in PRIORITY_STEPS:
        for raw in reversed(client.lrange(queue_key(queue, step), 0, -1)):
            try:
                message = json.loads(raw)
                headers = message.get("headers") or {}
                ids.append(headers.get("id") or message["properties"]["correlation_id"])
            except (ValueError, KeyError, TypeError, AttributeError):
                ids.append(None)
    return ids
