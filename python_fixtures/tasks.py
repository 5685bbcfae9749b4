"""The Python twin of cworker's example task library (``libtasks.so``).

Same module name (``tasks``), same twenty-two task names and semantics, so a Python Celery
worker can serve the same queues as cworker (mixed deployments) and tests can compare
cworker's answers with ``tasks.<fn>(...)`` run locally.

Configuration comes from the environment at import time:

* ``CELERY_BROKER_URL`` (default ``redis://localhost:6379/0``)
* ``CELERY_RESULT_BACKEND`` (default: the broker URL)
* ``NUMBER_API_URL`` for ``get_number`` (read at call time, default ``http://localhost:8000``)

``pyside.*`` tasks (``pyside.py``, Python-only) are routed to queue ``python``, here as in the
reference worker; ``send_python`` and ``send_chain`` send them.

Run a Python worker on it with ``celery -A tasks worker -P solo`` from this directory.
"""

import json
import os
import time
import urllib.request
from datetime import datetime, timedelta, timezone

from celery import Celery, chain, signature
from celery.exceptions import SoftTimeLimitExceeded

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
    task_routes={"pyside.*": {"queue": "python"}},
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


@app.task(acks_late=True)
def crash_once(key):
    """INCR ``key``; aborts the process on the first run, returns the count on a later one."""
    import redis
    runs = redis.Redis.from_url(app.conf.broker_url).incr(key)
    if runs == 1:
        os.abort()
    return runs


@app.task
def pid():
    """The id of the process running the task."""
    return os.getpid()


_kept = []


@app.task
def hog(mib):
    """Keeps ``mib`` MiB for the life of the process; returns its id."""
    _kept.append(bytearray(b"x" * (mib * 1024 * 1024)))
    return os.getpid()


@app.task
def shout(text):
    """Prints ``text``; returns its length."""
    print(text, flush=True)
    return len(text)


@app.task
def spin(seconds):
    """Busy for ``seconds``; a soft time limit interrupts it and it returns ``"cleaned up"``."""
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            pass
    except SoftTimeLimitExceeded:
        return "cleaned up"
    return "finished"


@app.task(bind=True)
def retry_until(self, n):
    """Retries itself (0.1 s countdown) until it runs as retry number ``n``; returns ``n``."""
    if self.request.retries < n:
        raise self.retry(countdown=0.1, max_retries=max(n, 3) + 1)
    return self.request.retries


@app.task(bind=True)
def retry_forever(self):
    """Retries (0.05 s countdown, max_retries=2) until Celery raises MaxRetriesExceededError."""
    raise self.retry(countdown=0.05, max_retries=2)


@app.task(track_started=True)
def tracked_sleep(seconds):
    time.sleep(seconds)
    return seconds


@app.task(acks_late=True)
def late_sleep(seconds):
    time.sleep(seconds)
    return seconds


@app.task(ignore_result=True)
def quiet_add(x, y):
    return x + y


@app.task(queue="special")
def special_add(x, y):
    return x + y


@app.task
def on_error(task_id):
    """An old-style errback: one parameter, so Celery sends it the failed task's id."""
    return "handled " + task_id


@app.task(bind=True, autoretry_for=(ValueError,), max_retries=5, retry_backoff=1,
          retry_backoff_max=1, retry_jitter=False)
def flaky(self, n):
    """Raises ValueError (retried automatically, 1 s apart) until retry number ``n``."""
    if self.request.retries < n:
        raise ValueError(f"flaky attempt {self.request.retries}")
    return self.request.retries


@app.task(bind=True)
def retry_exc(self, n):
    """Always retries; after ``n`` retries fails with ValueError('attempt n')."""
    raise self.retry(countdown=0.1, max_retries=n,
                     exc=ValueError(f"attempt {self.request.retries}"))


@app.task(bind=True)
def retry_eta(self, n):
    """Retries itself at an ETA 0.2 s ahead until it runs as retry number ``n``; returns ``n``."""
    if self.request.retries < n:
        raise self.retry(eta=datetime.now(timezone.utc) + timedelta(seconds=0.2),
                         max_retries=n + 1)
    return self.request.retries


@app.task(bind=True)
def send_python(self, x):
    """Sends the Python-only ``pyside.double(x)``; returns its task id."""
    return self.app.send_task("pyside.double", args=(x,)).id


@app.task(bind=True)
def send_chain(self, x):
    """Sends ``add(x, 1) | pyside.double() | mul(10)``; returns the chain's (last task's) id."""
    return chain(signature("tasks.add", (x, 1)), signature("pyside.double"),
                 signature("tasks.mul", (10,))).apply_async().id


@app.task
def soft_limited(seconds):
    """Sleeps; a soft time limit interrupts it and it returns ``"cleaned up"``."""
    try:
        time.sleep(seconds)
    except SoftTimeLimitExceeded:
        return "cleaned up"
    return "finished"


@app.task
def visit_slowly(key, seconds):
    """INCR ``key``, then sleep ``seconds``; returns the count (the kill tests' probe)."""
    import redis
    count = redis.Redis.from_url(app.conf.broker_url).incr(key)
    time.sleep(seconds)
    return count


@app.task
def count_visit(key):
    """INCR ``key`` on the broker's Redis; returns the new count."""
    import redis
    return redis.Redis.from_url(app.conf.broker_url).incr(key)
