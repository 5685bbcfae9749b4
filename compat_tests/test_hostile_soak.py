"""A seeded soak of hostile messages: hundreds of mutated envelopes, then a normal task.

Each mutation starts from a valid kombu envelope and breaks one thing (bytes of the text, a header
set to a value of the wrong type, the body, the content type, nesting, sizes). The worker must
survive all of them, log an outcome for each, leave nothing in ``unacked``, and then serve.
The seed is fixed, so a failure reproduces; CW_SOAK_SEED and CW_SOAK_COUNT change the run.
"""

import base64
import json
import os
import random

from celery.result import AsyncResult

from pytest_cworker import make_envelope
from pytest_cworker.plugin import RESULT_TIMEOUT, wait_unacked_empty

SEED = int(os.environ.get("CW_SOAK_SEED", "20261124"))
COUNT = int(os.environ.get("CW_SOAK_COUNT", "300"))

HOSTILE_VALUES = [
    None, True, -1, 2**63, 2**64 + 1, 1e308, -0.0, "", "x" * 10000, "\u0000", "🚀",
    [], [None], {}, {"a": [1, {"b": None}]}, [[[[[[[[[[[[]]]]]]]]]]]],
]
HEADER_KEYS = [
    "task", "id", "shadow", "eta", "expires", "group", "group_index", "retries", "timelimit",
    "root_id", "parent_id", "argsrepr", "kwargsrepr", "origin", "ignore_result",
]


def _flip_bytes(rng, text):
    data = bytearray(text.encode("utf-8"))
    for _ in range(rng.randint(1, 8)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def _mutate(rng, envelope):
    """One hostile variant of ``envelope`` (a dict), as the raw bytes to LPUSH."""
    kind = rng.randrange(9)
    env = json.loads(json.dumps(envelope))
    if kind == 0:
        return _flip_bytes(rng, json.dumps(env))
    if kind == 1:
        text = json.dumps(env)
        return text[: rng.randrange(len(text))].encode("utf-8")
    if kind == 2:
        env["headers"][rng.choice(HEADER_KEYS)] = rng.choice(HOSTILE_VALUES)
    elif kind == 3:
        env[rng.choice(["headers", "properties", "body", "content-type"])] = rng.choice(
            HOSTILE_VALUES
        )
    elif kind == 4:
        body = base64.b64decode(env["body"])
        env["body"] = base64.b64encode(_flip_bytes(rng, body.decode("latin-1"))).decode()
    elif kind == 5:
        depth = rng.choice([100, 600, 5000])
        env["body"] = base64.b64encode(
            ("[" * depth + "]" * depth).encode()
        ).decode()
    elif kind == 6:
        env["content-type"] = rng.choice(
            ["application/x-python-serialize", "application/x-yaml", "text/plain", "", "json"]
        )
    elif kind == 7:
        args = [rng.choice(HOSTILE_VALUES) for _ in range(rng.randrange(4))]
        body = [args, {rng.choice(["x", "y", "z"]): rng.choice(HOSTILE_VALUES)}, None]
        env["body"] = base64.b64encode(json.dumps(body).encode()).decode()
    else:
        env["properties"]["priority"] = rng.choice(HOSTILE_VALUES)
        env["properties"]["delivery_tag"] = rng.choice(HOSTILE_VALUES)
    return json.dumps(env).encode("utf-8")


def test_worker_survives_a_soak_of_hostile_messages(worker, celery_app, broker, results):
    rng = random.Random(SEED)
    bases = [
        make_envelope("tasks.add", args=(1, 2)),
        make_envelope("tasks.echo", args=("Zoë",), kwargs={"k": [1.5, None]}),
        make_envelope("tasks.sum_numbers", args=([1, 2, 3],)),
    ]
    for _ in range(COUNT):
        broker.lpush("celery", _mutate(rng, rng.choice(bases)))

    probe = celery_app.send_task("tasks.add", args=(40, 2))
    assert probe.get(timeout=RESULT_TIMEOUT * 3) == 42, "the worker stopped serving"
    assert worker.is_alive()
    assert broker.llen("celery") == 0
    wait_unacked_empty(broker)
    # Every message was answered or dropped deliberately, each with its own log line.
    log = worker.log_text()
    outcomes = sum(
        log.count(marker)
        for marker in (
            "Received invalid message",
            "Received invalid task message",
            "Received unregistered task",
            "] succeeded in ",
            "] raised unexpected: ",
        )
    )
    assert outcomes >= COUNT + 1, f"only {outcomes} outcome log lines for {COUNT + 1} messages"
    for raw_id in results.keys("celery-task-meta-*"):
        record = json.loads(results.get(raw_id))
        assert record["status"] in ("SUCCESS", "FAILURE"), record
    assert AsyncResult(probe.id, app=celery_app).state == "SUCCESS"
