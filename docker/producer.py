"""The Python producer of docker/compose.yml: the article's deployment driven from Python.

C++ tasks go to two cworkers by queue (`io`: green pool for waiting, `cpu`: prefork for
crunching), Python-only tasks to a Python Celery worker (`python`), with one routing table.
Sends a chord of IO-bound calls, CPU-bound calls, and a chain that crosses languages; prints
what came back and how long it took; exits non-zero if anything is wrong.

    CELERY_BROKER_URL=redis://... python3 producer.py [--io-calls N] [--wait-workers S]
"""

import argparse
import sys
import time

from celery import chain, chord, group

import pyside  # noqa: F401  (registers pyside.* for the client)
import tasks

# The one routing table; the cworkers get the same one with --route (compose.yml).
ROUTES = {
    "tasks.sleep": {"queue": "io"},
    "tasks.get_number": {"queue": "io"},
    "tasks.cpu": {"queue": "cpu"},
    "tasks.add": {"queue": "cpu"},
    "tasks.xsum": {"queue": "cpu"},
    "pyside.*": {"queue": "python"},
}


def wait_for_workers(app, count, timeout):
    deadline = time.monotonic() + timeout
    names = set()
    while time.monotonic() < deadline:
        names = {name for reply in app.control.ping(timeout=1.0) for name in reply}
        if len(names) >= count:
            return names
        time.sleep(0.5)
    raise SystemExit(f"producer: only {sorted(names)} answered ping after {timeout}s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--io-calls", type=int, default=50)
    parser.add_argument("--wait-workers", type=float, default=60)
    parser.add_argument("--workers", type=int, default=3, help="workers to wait for")
    args = parser.parse_args()

    app = tasks.app
    app.conf.task_routes = ROUTES
    names = wait_for_workers(app, args.workers, args.wait_workers)
    print(f"workers: {', '.join(sorted(names))}")
    failures = []

    t0 = time.monotonic()
    total = chord(tasks.sleep.s(1) for _ in range(args.io_calls))(tasks.xsum.s()).get(timeout=60)
    io_seconds = time.monotonic() - t0
    print(f"io chord: {args.io_calls} calls of 1 s, sum {total}, in {io_seconds:.2f} s")
    if total != args.io_calls:
        failures.append(f"io chord sum {total} != {args.io_calls}")

    t0 = time.monotonic()
    crunched = group(tasks.cpu.s(2_000_000) for _ in range(4))().get(timeout=120)
    print(f"cpu group: 4 x cpu(2e6) in {time.monotonic() - t0:.2f} s")
    if len(set(crunched)) != 1:
        failures.append(f"cpu results differ: {crunched}")

    mixed = chain(tasks.add.s(20, 1), pyside.double.s()).apply_async().get(timeout=30)
    print(f"chain C++ add(20, 1) -> Python double: {mixed}")
    if mixed != 42:
        failures.append(f"mixed chain gave {mixed}, not 42")

    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
