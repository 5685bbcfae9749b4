"""The Python twin of cworker's example task library (``libtasks.so``).

Same module name (``tasks``), same eleven task names and semantics, so a Python Celery
worker can serve the same queues as cworker (mixed deployments) and tests can compare
cworker's answers with ``tasks.<fn>(...)`` run locally.

Configuration comes from the environment at import time:

* ``CELERY_BROKER_URL`` (default ``redis://localhost:6379/0``)
* ``CELERY_RESULT_BACKEND`` (default: the broker URL)
* ``NUMBER_API_URL`` for ``get_number`` (read at call time, default ``http://localhost:8000``)

Run a Python worker on it with ``celery -A tasks worker -P solo`` from this directory.
"""

import json
import os
import time
import urllib.request

from celery import Celery

BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0")
RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or BROKER_URL

app = Celery("tasks", broker=BROKER_URL, backend=RESULT_BACKEND)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    enable_utc=True,
    timezone="UTC",
)

XORSHIFT_SEED = 88172645463325252
MASK64 = (1 << 64) - 1


@app.task
def add(x, y):
    return x + y


@app.task
def mul(x, y):
    return x * y


@app.task
def xsum(numbers):
    return sum(numbers)


@app.task
def sum_numbers(numbers):
    return sum(numbers)


@app.task
def echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


@app.task
def fail(message):
    raise ValueError(message)


@app.task
def sleep(seconds):
    time.sleep(seconds)
    return seconds


@app.task
def get_number():
    url = os.environ.get("NUMBER_API_URL", "http://localhost:8000")
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)["number"]


@app.task
def cpu(n):
    """``n`` rounds of xorshift64 from a fixed seed; the low 63 bits of the state."""
    x = XORSHIFT_SEED
    for _ in range(n):
        x ^= (x << 13) & MASK64
        x ^= x >> 7
        x ^= (x << 17) & MASK64
    return x & ((1 << 63) - 1)


@app.task
def crash():
    os.abort()


@app.task(bind=True)
def retry_until(self, n):
    """Retries itself (0.1 s countdown) until it runs as retry number ``n``; returns ``n``."""
    if self.request.retries < n:
        raise self.retry(countdown=0.1, max_retries=max(n, 3) + 1)
    return self.request.retries
