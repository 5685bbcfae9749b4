"""Helpers for the mixed-deployment canvas tests (``compat_tests/test_canvas_*.py``).

A mixed deployment: the worker under test serves ``celery`` (and other queues) with the
``tasks.*`` library and is started with ``MIXED_ROUTE`` (``--route 'pyside.*=python'``), so
the follow-up messages it sends for Python-only tasks reach the real Python worker that the
``python_worker`` fixture runs on queue ``python``.
"""

import base64
import json
import time

import pytest
from celery.result import AsyncResult

from .envelope import queue_key
from .results import stored_record
from .waiting import wait_until

MIXED_ROUTE = ["--route", "pyside.*=python"]


def require_tasks(module, *names):
    """Skip when the client's twin module lacks one of ``names`` (a task not added yet)."""
    missing = [name for name in names if not hasattr(module, name)]
    if missing:
        pytest.skip(f"{module.__name__}.py has no {', '.join(missing)} yet")


def chain_results(result):
    """``[first, ..., result]``: the AsyncResults of a chain, following ``.parent``."""
    steps = []
    node = result
    while node is not None:
        steps.append(node)
        node = node.parent
    return list(reversed(steps))


def record(results, task_id):
    """The stored result record of ``task_id`` (dict), or None."""
    return stored_record(results, task_id)


def wait_record(results, task_id, timeout, status=None):
    """Wait until a record exists (with ``status`` if given); return it."""

    def check():
        meta = stored_record(results, task_id)
        if meta is not None and (status is None or meta["status"] == status):
            return meta
        return None

    return wait_until(
        check,
        timeout,
        message=lambda: f"no {status or 'stored'} record for {task_id}: "
        f"{stored_record(results, task_id)!r}",
    )


def result_of(app, task_id, timeout, propagate=True):
    """The result of ``task_id`` (a callback, errback or follow-up the test did not send),
    polling the backend until it is ready.

    Not ``AsyncResult(task_id).get()`` at once: Celery 5.2's Redis result consumer can miss
    a record that is stored while it subscribes, and then waits until the timeout.
    """
    wait_until(
        lambda: AsyncResult(task_id, app=app).ready(),
        timeout,
        message=lambda: f"{task_id} not ready: {AsyncResult(task_id, app=app).state}",
    )
    return AsyncResult(task_id, app=app).get(timeout=timeout, propagate=propagate)


def wait_state(app, task_id, state, timeout):
    """Poll ``AsyncResult(task_id).state`` until it is ``state``; return the result's info."""
    result = AsyncResult(task_id, app=app)
    seen = []

    def check():
        current = AsyncResult(task_id, app=app).state  # fresh: no cached meta
        if not seen or seen[-1] != current:
            seen.append(current)
        return current == state

    wait_until(check, timeout, interval=0.01, message=lambda: f"states seen: {seen}")
    return result


def counter(results, key):
    """The integer a ``pyside.count`` callback INCRed at ``key`` (0 if never)."""
    value = results.get(key)
    return 0 if value is None else int(value)


def wait_list(results, key, length, timeout):
    """Wait until the Redis list ``key`` (e.g. ``pyside.record_error``'s) has ``length``
    items; return its items (newest first, as LPUSHed)."""
    wait_until(
        lambda: results.llen(key) >= length,
        timeout,
        message=lambda: f"{key}: {results.lrange(key, 0, -1)!r}, want {length} items",
    )
    return results.lrange(key, 0, -1)


def settle(tasks, pyside, timeout, queues=("celery",)):
    """Round-trip a task through every worker (``queues`` for ``tasks.add``, ``python`` for
    ``pyside.add``) so that what those workers already fetched has run: the point after
    which an exactly-once count may be read."""
    pending = [tasks.add.apply_async((0, 0), queue=queue) for queue in queues]
    pending.append(pyside.add.delay(0, 0))
    for result in pending:
        assert result.get(timeout=timeout) == 0


def held_messages(broker, queue):
    """The messages waiting in ``queue`` (priority 0), oldest first, as
    ``(headers, [args, kwargs, embed])``."""
    messages = []
    for raw in reversed(broker.lrange(queue_key(queue), 0, -1)):
        envelope = json.loads(raw)
        body = json.loads(base64.b64decode(envelope["body"]))
        messages.append((envelope["headers"], body))
    return messages


def wait_held(broker, queue, count, timeout):
    """Wait until ``queue`` holds ``count`` messages; return them (see :func:`held_messages`)."""
    wait_until(
        lambda: broker.llen(queue_key(queue)) >= count,
        timeout,
        message=lambda: f"{broker.llen(queue_key(queue))} messages in {queue!r}, want {count}",
    )
    return held_messages(broker, queue)


class Stopwatch:
    """Seconds since creation (``time.monotonic``)."""

    def __init__(self):
        self.start = time.monotonic()

    def __call__(self):
        return time.monotonic() - self.start
