"""Sends a tour of tasks to a running worker and prints what came back, with timings.

    CELERY_BROKER_URL=redis://127.0.0.1:6379/0 CELERY_RESULT_BACKEND=redis://127.0.0.1:6379/1 \
        /usr/bin/python3 python_fixtures/demo.py [--worker-log FILE] [--timeout S]

Exit status 0 when every call behaved as expected (including the two expected failures).
"""

import argparse
import os
import sys
import time

from celery.exceptions import NotRegistered

import tasks


def call(label, send, expect):
    """Run one call; return a table row (label, outcome, detail, ms, ok)."""
    started = time.perf_counter()
    try:
        value = send()
        outcome, detail = "returned", repr(value)
        ok = expect(value, None)
    except Exception as exc:  # noqa: BLE001 - the demo shows every exception
        value = None
        outcome, detail = "raised", f"{type(exc).__module__}.{type(exc).__qualname__}: {exc!r}"
        ok = expect(None, exc)
    elapsed_ms = (time.perf_counter() - started) * 1000
    return label, outcome, detail, elapsed_ms, ok


def print_table(rows):
    widths = [max(len(str(row[i])) for row in rows) for i in range(2)]
    widths = [max(w, len(h)) for w, h in zip(widths, ("call", "outcome"))]
    print(f"{'call':<{widths[0]}}  {'outcome':<{widths[1]}}  {'ms':>8}  ok  value / exception")
    print("-" * (widths[0] + widths[1] + 40))
    for label, outcome, detail, ms, ok in rows:
        mark = "ok" if ok else "NO"
        print(f"{label:<{widths[0]}}  {outcome:<{widths[1]}}  {ms:8.1f}  {mark}  {detail}")


def print_log_tail(path, lines=25):
    if not path or not os.path.exists(path):
        return
    with open(path, encoding="utf-8", errors="replace") as handle:
        tail = handle.read().splitlines()[-lines:]
    print(f"\n--- last {len(tail)} lines of the worker log ({path})")
    print("\n".join(tail))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker-log", help="worker stderr file to show the tail of")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per result")
    options = parser.parse_args()
    timeout = options.timeout
    nested = {"ключ": ["值", 1.5, None, True]}

    def returns(expected):
        return lambda value, exc: exc is None and value == expected

    def raises(kind, text=None):
        return lambda value, exc: isinstance(exc, kind) and (text is None or text in str(exc))

    plan = [
        ("add(2, 2)", lambda: tasks.add.delay(2, 2).get(timeout=timeout), returns(4)),
        ("mul(6, 7)", lambda: tasks.mul.delay(6, 7).get(timeout=timeout), returns(42)),
        (
            "xsum([1..10])",
            lambda: tasks.xsum.delay(list(range(1, 11))).get(timeout=timeout),
            returns(55),
        ),
        (
            "echo('Zoë', emoji='🚀', nested=…)",
            lambda: tasks.echo.delay("Zoë", emoji="🚀", nested=nested).get(timeout=timeout),
            returns({"args": ["Zoë"], "kwargs": {"emoji": "🚀", "nested": nested}}),
        ),
        (
            "cpu(1000000)",
            lambda: tasks.cpu.delay(1_000_000).get(timeout=timeout),
            lambda value, exc: exc is None and isinstance(value, int),
        ),
        ("sleep(0.25)", lambda: tasks.sleep.delay(0.25).get(timeout=timeout), returns(0.25)),
        (
            "fail('boom')",
            lambda: tasks.fail.delay("boom").get(timeout=timeout),
            raises(ValueError, "boom"),
        ),
        (
            "tasks.not_registered(1)",
            lambda: tasks.app.send_task("tasks.not_registered", args=(1,)).get(timeout=timeout),
            raises(NotRegistered),
        ),
    ]

    print(f"broker:  {tasks.BROKER_URL}\nresults: {tasks.RESULT_BACKEND}\n")
    rows = []
    for label, send, expect in plan:
        print(f"==> demo: {label}", file=sys.stderr, flush=True)
        rows.append(call(label, send, expect))
    print()
    print_table(rows)
    print_log_tail(options.worker_log)
    bad = [row[0] for row in rows if not row[4]]
    if bad:
        print(f"\nunexpected outcome for: {', '.join(bad)}")
        return 1
    print(f"\nall {len(rows)} calls behaved as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
