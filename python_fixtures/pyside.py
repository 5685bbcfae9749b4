"""Python-only tasks for mixed-deployment tests: a Python Celery worker serves these on queue
``python`` beside a cworker serving the C++ ``tasks.*`` library.

Celery app ``pyside``; every ``pyside.*`` task is routed to queue ``python``. Configuration
comes from the environment at import time, as in ``tasks.py``:

* ``CELERY_BROKER_URL`` (default ``redis://localhost:6379/0``)
* ``CELERY_RESULT_BACKEND`` (default: the broker URL); ``count`` and ``record_error`` also
  write their bookkeeping keys to the result backend's Redis database

Run a worker with ``celery -A pyside worker -Q python -P threads -c 4`` from this directory.
"""

import os
import time

from celery import Celery

BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0")
RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or BROKER_URL

app = Celery("pyside", broker=BROKER_URL, backend=RESULT_BACKEND)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    enable_utc=True,
    timezone="UTC",
    task_routes={"pyside.*": {"queue": "python"}},
)

def store():
    """redis-py client on the result backend's database (where tests read counters): the
    backend's own client, so a worker started with ``--result-backend URL`` uses that URL."""
    return app.backend.client


@app.task
def double(x):
    return x * 2


@app.task
def add(x, y):
    return x + y


@app.task
def tsum(numbers):
    return sum(numbers)


@app.task
def fail(msg):
    raise ValueError(msg)


@app.task
def count(x, key):
    """INCR ``key`` (a callback-execution counter) and pass ``x`` through."""
    store().incr(key)
    return x


@app.task
def record_error(task_id, *, key):
    """An old-style errback: Celery calls it with the failed task's id first.

    ``key`` is keyword-only on purpose: Celery calls an errback whose function takes more
    than one positional parameter *inline* with ``(request, exc, traceback)`` when the
    failing task runs in a worker that knows the errback; with one positional parameter it
    is always sent as a task with the id (``pyside.record_error.s(key=...)``).
    LPUSHes ``task_id`` to ``key`` and returns it.
    """
    store().lpush(key, task_id)
    return task_id


@app.task
def slow_add(x, y, delay):
    time.sleep(delay)
    return x + y
