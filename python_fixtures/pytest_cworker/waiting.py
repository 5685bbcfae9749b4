"""Bounded polling: the only way the fixtures and tests wait for anything."""

import time


class WaitTimeout(AssertionError):
    """A polled condition did not become true in time (an assertion failure)."""


def wait_until(predicate, timeout, interval=0.02, message=None):
    """Poll ``predicate()`` until it returns a truthy value; return that value.

    Raises :class:`WaitTimeout` after ``timeout`` seconds. ``message`` may be a string or a
    zero-argument callable (evaluated only on failure, e.g. to include a log excerpt).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise WaitTimeout(text or f"condition not met within {timeout:.1f}s")
        time.sleep(interval)
