#!/usr/bin/python3
"""Several cworkers draining one queue on one Redis: throughput of 1, 2 and 4 workers, and what
each task costs Redis (its CPU, from INFO cpu, per task), so that docs/scaling.md can say what
limits a deployment as workers are added.

    bench/scale_out.py [--tasks 50000] [--workers 1,2,4] [--pool solo] [--concurrency 1]
                       [--json out.json] [--quick]

The backlog is staged as in throughput.py (one real Celery message copied N times) and RENAMEd
onto the queue once every worker waits on it. Needs build/bin/cworker (scripts/build.sh).
"""

import argparse
import json
import signal
import sys
import tempfile
import time

from benchlib import cleanup, cpu_seconds, machine, start_redis, stop, tree
from throughput import Bench, worker_command


def redis_cpu(client):
    info = client.info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def command_usec(client):
    return {name[len("cmdstat_"):] if name.startswith("cmdstat_") else name: v["usec"]
            for name, v in client.info("commandstats").items()}


def drain(bench, workers, n, pool, concurrency, queue="bench"):
    bench.b.flushall()
    bench.stage("tasks.add", [2, 2], n)
    procs = []
    try:
        for k in range(workers):
            cmd = worker_command("cworker", pool, concurrency, bench.broker, bench.backend, queue,
                                 extra=("-n", f"scale{k}@%h"))
            procs.append(bench.start_worker(f"scale{workers}-{k}", cmd))
        # Every worker waits on the queue (each has read it under client tracking).
        deadline = time.monotonic() + 30
        while sum(1 for c in bench.b.client_list() if c.get("cmd") == "exists") < workers:
            if time.monotonic() > deadline:
                raise TimeoutError("workers not all waiting")
            time.sleep(0.05)
        pids = [p for proc in procs for p in tree(proc.pid)]
        cpu0, rcpu0, usec0 = cpu_seconds(pids), redis_cpu(bench.b), command_usec(bench.b)
        t0 = time.monotonic()
        bench.b.rename("staging", queue)
        while bench.r.dbsize() < n:
            if time.monotonic() - t0 > max(120, n / 200):
                raise TimeoutError(f"{bench.r.dbsize()} of {n}")
            time.sleep(0.01)
        seconds = time.monotonic() - t0
        usec = command_usec(bench.b)
        per_command = {k: (v - usec0.get(k, 0)) / n for k, v in usec.items()}
        top = dict(sorted(per_command.items(), key=lambda kv: -kv[1])[:6])
        return {"redis_usec_per_task_by_command": {k: round(v, 2) for k, v in top.items()},
                "workers": workers, "tasks": n, "seconds": seconds, "rate": n / seconds,
                "worker_cpu_per_task_us": 1e6 * (cpu_seconds(pids) - cpu0) / n,
                "redis_cpu_per_task_us": 1e6 * (redis_cpu(bench.b) - rcpu0) / n}
    finally:
        for proc in procs:
            stop(proc, timeout=30)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=50000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--pool", default="solo")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--json")
    parser.add_argument("--quick", action="store_true", help="200 tasks, 1 and 2 workers")
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.workers = 200, "1,2"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    rows = []
    with tempfile.TemporaryDirectory(prefix="cworker-scale-") as tmp:
        try:
            bench = Bench(tmp, start_redis(tmp))
            for workers in (int(w) for w in args.workers.split(",")):
                row = drain(bench, workers, args.tasks, args.pool, args.concurrency)
                rows.append(row)
                print(f"{workers} x cworker -P {args.pool} -c {args.concurrency}: "
                      f"{row['rate']:,.0f} tasks/s, Redis {row['redis_cpu_per_task_us']:.1f} us "
                      f"CPU per task, workers {row['worker_cpu_per_task_us']:.1f} us; Redis us "
                      f"per task by command: {row['redis_usec_per_task_by_command']}",
                      flush=True)
        finally:
            cleanup()
    result = {"machine": machine(), "pool": args.pool, "concurrency": args.concurrency,
              "rows": rows}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
