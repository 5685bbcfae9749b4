#!/usr/bin/python3
"""The article's experiment: a chord of N calls to a 2 s HTTP API, summed by a callback.

    chord(get_number.s() for _ in range(N))(sum_numbers.s())

sent by a Python Celery producer to one worker at a time, in one run on this machine:
Python Celery's prefork (-c 4) and gevent (-c N) pools, cworker's solo and green (-c N) pools.
For each run it reports

    wall_s       from just before apply_async to the chord's result
    send_s       how long the Python producer took to send the chord (part of wall_s)
    after_send_s wall_s - send_s: what is left once the last message is in Redis
    cpu_s        user+system CPU of the worker's process tree during the run
    peak_rss_mb  sum of VmHWM over the worker's process tree (overstates pages shared by
                 prefork children)

Usage: bench/article_chord.py [--quick] [--sizes 5,100,1000,5000]
           [--configs celery-prefork4,celery-gevent,cworker-green] [--output docs/benchmarks.md]
Needs build/bin/cworker (scripts/build.sh) and python3-gevent (scripts/install-deps.sh).
"""

import argparse
import os
import pathlib
import resource
import shutil
import signal
import subprocess
import sys
import tempfile

from benchlib import (FIXTURES, PYTHON, ROOT, STARTED, cleanup, cpu_seconds,
                      machine, peak_rss_mb, start, start_redis, stop, tree, wait_for)

# Four processes and a 2 s API: N = 1000 would take 500 s. Bounded configurations stop here.
BOUNDED_MAX_N = 100
CONFIGS = {
    # name: (kind, pool, concurrency (None: N), bounded)
    "celery-prefork4": ("celery", "prefork", 4, True),
    "celery-gevent": ("celery", "gevent", None, False),
    "cworker-solo": ("cworker", "solo", 1, True),
    "cworker-prefork4": ("cworker", "prefork", 4, True),
    # Four tasks at a time on fibers, as prefork -c 4 runs them in processes.
    "cworker-green4": ("cworker", "green", 4, True),
    "cworker-green": ("cworker", "green", None, False),
}


def worker_command(config, n, broker, backend):
    kind, pool, concurrency, _ = CONFIGS[config]
    c = str(concurrency or n)
    if kind == "celery":
        return [PYTHON, "-m", "celery", "-A", "tasks", "worker", "-P", pool, "-c", c, "-Q", "celery",
                "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info"]
        # broker and backend: $CELERY_BROKER_URL / $CELERY_RESULT_BACKEND, read by tasks.py
    return [str(ROOT / "build/bin/cworker"), "-A", str(ROOT / "build/lib/libtasks.so"),
            "-P", pool, "-c", c, "-Q", "celery", "-l", "info", "-b", broker,
            "--result-backend", backend]


def run_one(config, n, env, redis_port, tmp, timeout):
    broker = f"redis://127.0.0.1:{redis_port}/0"
    backend = f"redis://127.0.0.1:{redis_port}/1"
    subprocess.run(["redis-cli", "-p", str(redis_port), "flushall"], check=True,
                   stdout=subprocess.DEVNULL)
    log_path = pathlib.Path(tmp) / f"{config}-{n}.log"
    with open(log_path, "w") as log:
        worker = start(worker_command(config, n, broker, backend), log, cwd=FIXTURES, env=env)
    try:
        wait_for(lambda: "ready." in log_path.read_text() or worker.poll() is not None, 60,
                 f"{config} not ready")
        if worker.poll() is not None:
            return {"ok": f"n/a (worker exited {worker.returncode})"}
        cpu_before = cpu_seconds(tree(worker.pid))
        driver = subprocess.run(
            [PYTHON, "-c", PRODUCER, str(n), str(timeout)], cwd=FIXTURES, env=env,
            capture_output=True, text=True, timeout=timeout + 60)
        pids = tree(worker.pid)
        cpu = cpu_seconds(pids) - cpu_before
        rss = peak_rss_mb(pids)
        if driver.returncode != 0:
            tail = (driver.stderr or driver.stdout).strip().splitlines()[-1:]
            return {"ok": "failed: " + (tail[0] if tail else f"exit {driver.returncode}")}
        send_s, wall_s, total = driver.stdout.split()
        ok = "yes" if int(total) == n else f"wrong sum {total}"
        return {"wall_s": float(wall_s), "send_s": float(send_s),
                "after_send_s": float(wall_s) - float(send_s), "cpu_s": cpu,
                "peak_rss_mb": rss, "ok": ok}
    except (TimeoutError, subprocess.TimeoutExpired) as e:
        return {"ok": f"timeout ({e})"}
    finally:
        stop(worker)


# Runs in python_fixtures/ with the benchmark's environment: prints send_s wall_s sum.
PRODUCER = r"""
import sys, time
from celery import chord
import tasks
n, timeout = int(sys.argv[1]), float(sys.argv[2])
start = time.monotonic()
result = chord(tasks.get_number.s() for _ in range(n))(tasks.sum_numbers.s())
sent = time.monotonic()
# follow_parents=False: by default get() also fetches every header result (N GETs from Python,
# 27 s for N = 5000 here), which measures the client, not the worker.
total = result.get(timeout=timeout, follow_parents=False)
done = time.monotonic()
print(f"{sent - start:.3f} {done - start:.3f} {total}")
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="5,100,1000,5000")
    parser.add_argument("--configs", default="celery-prefork4,cworker-green,celery-gevent")
    parser.add_argument("--quick", action="store_true",
                        help="sizes 5,100; celery-prefork4 and cworker-prefork4 at N = 5 only, "
                             "cworker-green at both")
    parser.add_argument("--delay", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--output", help="also write the table (Markdown) to this file")
    args = parser.parse_args()
    bounded_max = BOUNDED_MAX_N
    if args.quick:  # the README's first command: prefork at N = 5 only (N = 100 takes 50 s)
        args.sizes, args.configs, bounded_max = "5,100", "celery-prefork4,cworker-prefork4,cworker-green", 5
    sizes = [int(s) for s in args.sizes.split(",")]
    configs = args.configs.split(",")
    for c in configs:
        if c not in CONFIGS:
            sys.exit(f"unknown configuration {c}; known: {', '.join(CONFIGS)}")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    tmp = tempfile.mkdtemp(prefix="cworker-bench-")
    redis_port = start_redis(tmp)
    api = subprocess.Popen([PYTHON, str(FIXTURES / "number_api.py"), "--delay", str(args.delay)],
                           stdout=subprocess.PIPE, text=True)
    STARTED.append(api)
    api_url = api.stdout.readline().strip().rsplit(" ", 1)[-1]
    env = dict(os.environ, NUMBER_API_URL=api_url + "/?number=1",
               CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
               CELERY_RESULT_BACKEND=f"redis://127.0.0.1:{redis_port}/1",
               CWORKER_PATH=str(ROOT / "build/lib"))

    plan = [(c, n) for c in configs for n in sizes if not (CONFIGS[c][3] and n > bounded_max)]
    rows = []
    print(f"article chord: API delay {args.delay}s; {machine()}", flush=True)
    for i, (config, n) in enumerate(plan, 1):
        print(f"[{i}/{len(plan)}] {config} N={n} ...", end=" ", flush=True)
        r = run_one(config, n, env, redis_port, tmp, args.timeout)
        rows.append((config, n, r))
        print(f"{r['wall_s']:.2f} s" if "wall_s" in r else r["ok"], flush=True)

    lines = [f"Machine: {machine()}. API delay {args.delay} s. Worker concurrency: 4 for "
             f"`*-prefork4` and `cworker-green4`, 1 for `cworker-solo`, N for the others. Bounded pools run only "
             f"N ≤ {bounded_max}.", "",
             "| configuration | N | wall s | send s | after send s | worker CPU s | peak RSS MB | ok |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for config, n, r in rows:
        if "wall_s" in r:
            lines.append(f"| {config} | {n} | {r['wall_s']:.2f} | {r['send_s']:.2f} | "
                         f"{r['after_send_s']:.2f} | {r['cpu_s']:.2f} | {r['peak_rss_mb']:.0f} | "
                         f"{r['ok']} |")
        else:
            lines.append(f"| {config} | {n} | | | | | | {r['ok']} |")
    table = "\n".join(lines)
    print("\n" + table)
    if args.output:
        pathlib.Path(args.output).write_text(table + "\n")
    cleanup()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        main()
    finally:
        cleanup()
