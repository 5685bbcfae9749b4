#!/usr/bin/python3
"""Python Celery and cworker side by side on one Redis and one machine, in one run:

    throughput  drain a backlog of N trivial tasks: tasks.add (results stored) and
                tasks.quiet_add (ignore_result), per pool: solo, prefork -c CPUs, and the
                green pool (Celery: gevent) -c 100; tasks/s and cworker/Celery
    latency     one producer pushing at a fixed moderate rate; enqueue -> result stored
                (the record's date_done against the LPUSH), p50 and p99, per pool; and
                once through Python's apply_async
    cpu         200 cpu(n) tasks on prefork -c CPUs, for each
    cost        worker CPU seconds per 1,000 tasks, peak RSS, Redis commands per task
                (INFO commandstats before and after)
    ceiling     what Redis itself does on this machine for the command mix of one task, two
                ways: cworker's own commands for the backlog (scripts included, at the batch
                size the worker used) replayed by redis-cli --pipe after each cworker drain;
                and redis-benchmark, pipelined, per plain command (the mix's rate is the
                harmonic sum)

The backlog is made by sending one message with Python Celery, then copying it N times with
fresh ids and delivery tags into a staging list that is RENAMEd onto the queue once the
worker is ready: the worker starts on a full queue, and the clock starts with the RENAME.

    bench/throughput.py [--tasks 50000] [--json out.json] [--markdown out.md] [--plots DIR]
                        [--quick]  (small sizes; what the test suite runs)
Needs build/bin/cworker (scripts/build.sh); plots need python3-matplotlib (bench/run.sh
installs it).
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone

import redis

from benchlib import (FIXTURES, PYTHON, ROOT, cleanup, cpu_seconds, machine, peak_rss_mb,
                      start, start_redis, stop, tree)

CPUS = os.cpu_count() or 1
POOLS = {  # name: (Celery's -P, cworker's -P, concurrency)
    "solo": ("solo", "solo", 1),
    "prefork": ("prefork", "prefork", CPUS),
    "green": ("gevent", "green", 100),
}
# One task's Redis commands on cworker's path (fetch script, ack, result script), for the
# ceiling. The script calls are counted by what they run.
TASK_MIX = {
    "stored": ["RPOP", "ZADD", "HSET", "ZREM", "HDEL", "GET", "SETEX", "PUBLISH"],
    "ignored": ["RPOP", "ZADD", "HSET", "ZREM", "HDEL"],
}


def worker_command(kind, pool, concurrency, broker, backend, queue, extra=()):
    if kind == "celery":
        return [PYTHON, "-m", "celery", "-A", "tasks", "worker", "-P", pool, "-c",
                str(concurrency), "-Q", queue, "--without-gossip", "--without-mingle",
                "--without-heartbeat", "-l", "warning", *extra]
    return [str(ROOT / "build/bin/cworker"), "-A", str(ROOT / "build/lib/libtasks.so"), "-P",
            pool, "-c", str(concurrency), "-Q", queue, "-l", "warning", "-b", broker,
            "--result-backend", backend, *extra]


class Bench:
    def __init__(self, tmp, port):
        self.tmp = pathlib.Path(tmp)
        self.port = port
        self.broker = f"redis://127.0.0.1:{port}/0"
        self.backend = f"redis://127.0.0.1:{port}/1"
        self.env = dict(os.environ, CELERY_BROKER_URL=self.broker,
                        CELERY_RESULT_BACKEND=self.backend, CWORKER_PATH=str(ROOT / "build/lib"))
        self.b = redis.Redis(port=port, db=0)
        self.r = redis.Redis(port=port, db=1)

    def template(self, task, args):
        """One real message as Python Celery sends it (raw bytes from the queue)."""
        code = (f"import tasks; tasks.app.send_task({task!r}, args={args!r}, queue='template')")
        subprocess.run([PYTHON, "-c", code], cwd=FIXTURES, env=self.env, check=True)
        raw = self.b.rpop("template")
        msg = json.loads(raw)
        return raw.decode(), msg["headers"]["id"], msg["properties"]["delivery_tag"]

    def stage(self, task, args, n, key="staging"):
        """n copies of one real message in `key`, oldest first; their (task id, tag) pairs."""
        raw, task_id, tag = self.template(task, args)
        pipe = self.b.pipeline(transaction=False)
        staged = []
        for i in range(n):
            new_id, new_tag = str(uuid.uuid4()), str(uuid.uuid4())
            pipe.lpush(key, raw.replace(task_id, new_id).replace(tag, new_tag))
            staged.append((new_id, new_tag))
            if i % 5000 == 4999:
                pipe.execute()
        pipe.execute()
        return staged

    def commands(self, name=None):
        stats = self.b.info("commandstats")
        if name:
            return stats.get(f"cmdstat_{name}", {}).get("calls", 0)
        return sum(v["calls"] for v in stats.values())

    def start_worker(self, name, cmd):
        log_path = self.tmp / f"{name}.log"
        log = open(log_path, "w")
        worker = start(cmd, log, cwd=FIXTURES, env=self.env)
        deadline = time.monotonic() + 60
        # Ready once it waits on its (still empty) queue: Celery in BRPOP, cworker subscribed
        # for the queue keys' invalidations after reading them (EXISTS). Both print their
        # "ready" lines at levels the benchmark turns off to keep logging out of the measurement.
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                raise RuntimeError(f"{name} exited: {log_path.read_text()[-2000:]}")
            clients = self.b.client_list()
            if any(c.get("cmd") in ("brpop", "exists") for c in clients):
                return worker
            time.sleep(0.05)
        raise TimeoutError(f"{name} not consuming after 60 s")

    def drain(self, name, cmd, task, args, n, stored, queue="bench"):
        """Seconds to run n staged messages and what they cost."""
        self.b.flushall()
        self.stage(task, args, n)
        worker = self.start_worker(name, worker_command(*cmd, self.broker, self.backend, queue))
        try:
            pids = tree(worker.pid)
            cpu0, cmds0, redis0 = cpu_seconds(pids), self.commands(), self.redis_cpu()
            scripts0 = self.commands("evalsha")
            t0 = time.monotonic()
            self.b.rename("staging", queue)  # wakes the waiting worker, as an LPUSH would
            deadline = t0 + max(120, n / 100)

            def done():
                if stored:
                    return self.r.dbsize() >= n
                return self.b.llen(queue) == 0 and self.b.hlen("unacked") == 0

            while not done():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name}: {self.r.dbsize()} of {n} after {deadline - t0:.0f}s")
                if worker.poll() is not None:
                    raise RuntimeError(f"{name} exited")
                time.sleep(0.01)
            seconds = time.monotonic() - t0
            redis_cpu = self.redis_cpu() - redis0
            pids = tree(worker.pid)
            cpu = cpu_seconds(pids) - cpu0
            # cworker's script calls are its batch pops and, when stored, one per result.
            pops = self.commands("evalsha") - scripts0 - (n if stored else 0)
            return {"tasks": n, "seconds": seconds, "rate": n / seconds,
                    "cpu_per_1000": 1000 * cpu / n, "peak_rss_mb": peak_rss_mb(pids),
                    # Redis's own CPU per task for this worker's traffic: one Redis core serves
                    # at most 1 / this, so rate x this is how busy the worker kept Redis.
                    "redis_cpu_us_per_task": 1e6 * redis_cpu / n,
                    "redis_busy": redis_cpu / seconds,
                    "redis_commands_per_task": (self.commands() - cmds0) / n,
                    "messages_per_fetch": n / pops if pops > 0 else None}
        finally:
            stop(worker, timeout=30)

    def latency(self, name, cmd, rate, n):
        """Enqueue -> result, at `rate` tasks/s: messages made by Python Celery beforehand (as
        for the backlog) and pushed one at a time with LPUSH, so the send time is the moment the
        message enters Redis, not the Python producer's own ~0.5 ms of building it. p50/p99 of
        the result record's date_done minus the time just before the LPUSH (same clock)."""
        self.b.flushall()
        raw, task_id, tag = self.template("tasks.add", [2, 2])
        messages = []
        for _ in range(n):
            new_id = str(uuid.uuid4())
            messages.append((new_id, raw.replace(task_id, new_id).replace(tag, str(uuid.uuid4()))))
        worker = self.start_worker(name, worker_command(*cmd, self.broker, self.backend, "celery"))
        try:
            sent = {}
            t0 = time.time()
            for i, (new_id, body) in enumerate(messages):
                pause = t0 + i / rate - time.time()
                if pause > 0:
                    time.sleep(pause)
                sent[new_id] = time.time()
                self.b.lpush("celery", body)
            deadline = time.monotonic() + 60
            while self.r.dbsize() < n and time.monotonic() < deadline:
                time.sleep(0.05)
            return self.latencies(sent, rate, n)
        finally:
            stop(worker, timeout=30)

    def latency_apply_async(self, name, cmd, rate, n):
        """The same through Python Celery's apply_async (its send time includes building the
        message in Python)."""
        self.b.flushall()
        worker = self.start_worker(name, worker_command(*cmd, self.broker, self.backend, "celery"))
        try:
            code = r"""
import json, sys, time
import tasks
rate, n = float(sys.argv[1]), int(sys.argv[2])
sent = {}
t0 = time.time()
for i in range(n):
    pause = t0 + i / rate - time.time()
    if pause > 0:
        time.sleep(pause)
    t = time.time()  # before the send: a fast worker may finish before apply_async returns
    r = tasks.add.apply_async((i, i))
    sent[r.id] = t
for task_id in sent:
    tasks.app.AsyncResult(task_id).get(timeout=60)
print(json.dumps(sent))
"""
            out = subprocess.run([PYTHON, "-c", code, str(rate), str(n)], cwd=FIXTURES,
                                 env=self.env, capture_output=True, text=True, timeout=n / rate + 120)
            if out.returncode != 0:
                raise RuntimeError(out.stderr[-2000:])
            return self.latencies(json.loads(out.stdout), rate, n)
        finally:
            stop(worker, timeout=30)

    def latencies(self, sent, rate, n):
        lat = []
        for task_id, t in sent.items():
            meta = json.loads(self.r.get(f"celery-task-meta-{task_id}"))
            done = datetime.fromisoformat(meta["date_done"]).replace(tzinfo=timezone.utc)
            lat.append((done.timestamp() - t) * 1000)
        lat.sort()
        return {"rate": rate, "tasks": n, "p50_ms": statistics.median(lat),
                "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))]}

    def redis_cpu(self):
        info = self.b.info("cpu")
        return info["used_cpu_user"] + info["used_cpu_sys"]

    def ceiling(self, requests):
        """Commands/s redis-benchmark gets for each command of the mix (-P 64, 4 clients)."""
        rates = {}
        argv = {
            "RPOP": ["RPOP", "bench-list"], "ZADD": ["ZADD", "bench-z", "1", "__rand_int__"],
            "HSET": ["HSET", "bench-h", "__rand_int__", "x" * 400],
            "ZREM": ["ZREM", "bench-z", "__rand_int__"], "HDEL": ["HDEL", "bench-h", "__rand_int__"],
            "GET": ["GET", "key:__rand_int__"], "SETEX": ["SETEX", "key:__rand_int__", "86400", "x" * 200],
            "PUBLISH": ["PUBLISH", "chan", "x" * 200],
        }
        for name, cmd in argv.items():
            out = subprocess.run(["redis-benchmark", "-p", str(self.port), "-n", str(requests),
                                  "-P", "64", "-c", "4", "-r", "100000", "-q", "--csv", *cmd],
                                 capture_output=True, text=True, check=True).stdout
            rows = [l for l in out.splitlines() if l and not l.startswith('"test"')]
            rates[name] = float(rows[-1].split(",")[1].strip('"'))
        self.b.flushall()
        mix = {kind: 1 / sum(1 / rates[c] for c in cmds) for kind, cmds in TASK_MIX.items()}
        return {"commands_per_s": rates, "tasks_per_s": mix}


def resp(*args):
    """One command in Redis's wire format (RESP), as redis-cli --pipe reads it."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def replay_ceiling(bench, task, args, n, batch, stored, queue="bench"):
    """Tasks/s Redis serves of exactly the commands cworker sends for n tasks (its pop script
    every `batch` messages, each message's ack, and its result script when stored), written
    ahead of time and replayed by two `redis-cli --pipe` (the broker's and the backend's
    connections, as the worker has) as fast as Redis answers: the worker's own cost taken out."""
    bench.b.flushall()
    staged = bench.stage(task, args, n, key=queue)
    pop_sha = bench.b.script_load((ROOT / "src/broker/pop_batch.lua").read_text())
    store_sha = bench.b.script_load((ROOT / "src/backend/store_result.lua").read_text())
    # kombu's priority keys (steps 0, 3, 6, 9), in the order the worker pops them.
    keys = [queue] + [f"{queue}\x06\x16{p}" for p in (3, 6, 9)]
    broker, backend = [], [resp("SELECT", 1)]
    for first in range(0, n, batch):
        score = f"{time.time():.6f}"
        broker.append(resp("EVALSHA", pop_sha, 2 + len(keys), "unacked_index", "unacked", *keys,
                           batch, score, *([queue] * len(keys))))
        for _, tag in staged[first:first + batch]:
            broker += [resp("ZREM", "unacked_index", tag), resp("HDEL", "unacked", tag)]
    if stored:
        done = datetime.now(timezone.utc).replace(tzinfo=None).isoformat()
        for task_id, _ in staged:
            record = json.dumps({"status": "SUCCESS", "result": 4, "traceback": None,
                                 "children": [], "date_done": done, "task_id": task_id})
            backend.append(resp("EVALSHA", store_sha, 1, f"celery-task-meta-{task_id}", record,
                                86400))
    streams = []
    for name, commands in (("broker", broker), ("backend", backend)):
        path = bench.tmp / f"replay-{name}.resp"
        path.write_bytes(b"".join(commands))
        streams.append(path)
    redis0 = bench.redis_cpu()
    t0 = time.monotonic()
    pipes = [subprocess.Popen(["redis-cli", "-p", str(bench.port), "--pipe"],
                              stdin=open(path, "rb"), stdout=subprocess.PIPE, text=True)
             for path in streams]
    outputs = [p.communicate(timeout=300)[0] for p in pipes]
    seconds = time.monotonic() - t0
    redis_cpu = bench.redis_cpu() - redis0
    for p, out in zip(pipes, outputs):
        if p.returncode != 0 or "errors: 0," not in out:
            raise RuntimeError(f"replay failed: {out[-500:]}")
    if bench.b.llen(queue) or bench.b.hlen("unacked") or bench.r.dbsize() != (n if stored else 0):
        raise RuntimeError("the replay did not drain the backlog as the worker would")
    return {"tasks": n, "messages_per_fetch": batch, "tasks_per_s": n / seconds,
            "redis_cpu_us_per_task": 1e6 * redis_cpu / n}


def table(rows, header):
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def report(results):
    out = [f"Machine: {results['machine']}. Backlog: {results['tasks']} tasks per run.", ""]
    rows = []
    for kind in ("stored", "ignored"):
        for pool in POOLS:
            c = results["throughput"].get(f"celery-{pool}-{kind}")
            w = results["throughput"].get(f"cworker-{pool}-{kind}")
            if not (c and w):
                continue
            ceiling = results["ceiling"]["tasks_per_s"][kind]
            replay = results.get("replay", {}).get(f"cworker-{pool}-{kind}")
            mix = replay["tasks_per_s"] if replay else None
            rows.append([f"`{'add' if kind == 'stored' else 'quiet_add'}`", pool,
                         f"{c['rate']:.0f}", f"{w['rate']:.0f}", f"{w['rate'] / c['rate']:.1f}x",
                         (f"{100 * w['rate'] / mix:.0f}% of {mix:,.0f} / " if mix else "")
                         + f"{100 * w['rate'] / ceiling:.0f}%",
                         f"{c['cpu_per_1000']:.3f} / {w['cpu_per_1000']:.3f}",
                         f"{c['peak_rss_mb']:.0f} / {w['peak_rss_mb']:.0f}",
                         f"{c['redis_commands_per_task']:.1f} / {w['redis_commands_per_task']:.1f}"])
    out.append(table(rows, ["task", "pool", "Celery tasks/s", "cworker tasks/s", "ratio",
                            "cworker / Redis ceiling (its command mix replayed / plain commands)",
                            "CPU s per 1000 (Celery / cworker)",
                            "peak RSS MB", "Redis commands per task"]))
    ceil = results["ceiling"]
    out += ["", "Redis ceiling (redis-benchmark -P 64, commands/s): " + ", ".join(
        f"{k} {v:,.0f}" for k, v in ceil["commands_per_s"].items()) + "; for one task's mix: "
        + ", ".join(f"{k} {v:,.0f} tasks/s" for k, v in ceil["tasks_per_s"].items()) + "."]
    out += ["", "Redis ceiling for cworker's command mix: the commands the worker sends for the "
            "backlog (its pop script with the batch size it used, the acks, the result script), "
            "written ahead of time and replayed by redis-cli --pipe on two connections as fast "
            "as Redis answers, right after that worker's drain: " + ", ".join(
                f"{k.removeprefix('cworker-')} {v['tasks_per_s']:,.0f} tasks/s "
                f"({v['messages_per_fetch']} per fetch)"
                for k, v in results.get("replay", {}).items()) + "."]
    if results.get("latency"):
        out += ["", table([[k, f"{v['rate']:.0f}/s", v["tasks"], f"{v['p50_ms']:.2f}",
                            f"{v['p99_ms']:.2f}"] for k, v in results["latency"].items()],
                          ["worker (messages pushed with LPUSH)", "send rate", "tasks",
                           "p50 ms", "p99 ms"])]
    if results.get("latency_apply_async"):
        out += ["", table([[k, f"{v['rate']:.0f}/s", v["tasks"], f"{v['p50_ms']:.2f}",
                            f"{v['p99_ms']:.2f}"]
                           for k, v in results["latency_apply_async"].items()],
                          ["worker (sent by Python's apply_async)", "send rate", "tasks",
                           "p50 ms", "p99 ms"])]
    if results.get("cpu"):
        out += ["", table([[k, v["tasks"], v["n"], f"{v['seconds']:.2f}",
                            f"{v['rate']:.1f}"] for k, v in results["cpu"].items()],
                          ["worker (prefork)", "tasks", "cpu(n), n =", "seconds", "tasks/s"])]
    return "\n".join(out)


def plots(results, directory):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plots skipped: python3-matplotlib is not installed", file=sys.stderr)
        return []
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    made = []
    for kind in ("stored", "ignored"):
        fig, ax = plt.subplots(figsize=(7, 4))
        pools = [p for p in POOLS if f"cworker-{p}-{kind}" in results["throughput"]]
        x = range(len(pools))
        for offset, system in ((-0.2, "celery"), (0.2, "cworker")):
            ax.bar([i + offset for i in x],
                   [results["throughput"][f"{system}-{p}-{kind}"]["rate"] for p in pools],
                   width=0.4, label="Python Celery" if system == "celery" else "cworker")
        ax.axhline(results["ceiling"]["tasks_per_s"][kind], color="grey", linestyle="--",
                   label="Redis ceiling (the mix's commands, redis-benchmark)")
        replays = [(i, results.get("replay", {}).get(f"cworker-{p}-{kind}"))
                   for i, p in enumerate(pools)]
        replays = [(i, r["tasks_per_s"]) for i, r in replays if r]
        if replays:
            ax.scatter([i + 0.2 for i, _ in replays], [v for _, v in replays], marker="_",
                       s=900, color="black", zorder=3,
                       label="Redis ceiling (cworker's command mix replayed)")

        ax.set_xticks(list(x), pools)
        ax.set_yscale("log")
        ax.set_ylim(top=8 * results["ceiling"]["tasks_per_s"][kind])  # room for the legend
        ax.set_ylabel("tasks/s (log)")
        ax.set_title(f"Draining {results['tasks']} {'add' if kind == 'stored' else 'quiet_add'}"
                     " tasks")
        ax.legend(loc="upper left", fontsize="small", markerscale=0.4)
        path = directory / f"throughput-{kind}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        made.append(path)
    return made


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=50000)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the test suite's run)")
    parser.add_argument("--pools", default=",".join(POOLS))
    parser.add_argument("--systems", default="celery,cworker",
                        help="profiling: one side only (the report then has no ratios)")
    parser.add_argument("--only", default="throughput,latency,cpu")
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    parser.add_argument("--plots")
    args = parser.parse_args()
    n = 200 if args.quick else args.tasks
    pools = args.pools.split(",")
    tmp = tempfile.mkdtemp(prefix="cworker-throughput-")
    bench = Bench(tmp, start_redis(tmp))
    results = {"machine": machine(), "tasks": n, "throughput": {}, "replay": {}, "latency": {},
               "cpu": {}}
    try:
        results["ceiling"] = bench.ceiling(20000 if args.quick else 400000)
        print(f"Redis ceiling: {results['ceiling']['tasks_per_s']}", flush=True)
        for kind, task, stored in (("stored", "tasks.add", True),
                                   ("ignored", "tasks.quiet_add", False)):
            for pool in pools:
                celery_pool, cworker_pool, c = POOLS[pool]
                for system, p in (("celery", celery_pool), ("cworker", cworker_pool)):
                    if system not in args.systems or "throughput" not in args.only:
                        continue
                    name = f"{system}-{pool}-{kind}"
                    print(f"{name}: {n} tasks ...", end=" ", flush=True)
                    r = bench.drain(name, (system, p, c), task, [2, 2], n, stored)
                    results["throughput"][name] = r
                    print(f"{r['rate']:.0f} tasks/s", flush=True)
                    if system == "cworker":
                        batch = max(1, round(r["messages_per_fetch"] or 1))
                        replay = replay_ceiling(bench, task, [2, 2], n, batch, stored)
                        results["replay"][name] = replay
                        print(f"  its command mix replayed ({batch} per fetch): "
                              f"{replay['tasks_per_s']:.0f} tasks/s", flush=True)
        rate, count = (50, 50) if args.quick else (200, 2000)
        for pool in pools:
            for system, p in (("celery", POOLS[pool][0]), ("cworker", POOLS[pool][1])):
                if system not in args.systems or "latency" not in args.only:
                    continue
                c = POOLS[pool][2]
                key = f"{system} {p} -c {c}"
                r = bench.latency(f"latency-{system}-{pool}", (system, p, c), rate, count)
                results["latency"][key] = r
                print(f"latency {key}: p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms",
                      flush=True)
        for system in ("celery", "cworker"):  # the Python producer's own share, for reference
            if system not in args.systems or "latency" not in args.only:
                continue
            key = f"{system} prefork -c {CPUS}"
            r = bench.latency_apply_async(f"latency-apply-{system}", (system, "prefork", CPUS),
                                          rate, count)
            results.setdefault("latency_apply_async", {})[key] = r
            print(f"latency via apply_async {key}: p50 {r['p50_ms']:.2f} ms", flush=True)
        cpu_n, cpu_tasks = (20000, 20) if args.quick else (300000, 200)
        for system in ("celery", "cworker"):
            if system not in args.systems or "cpu" not in args.only:
                continue
            r = bench.drain(f"cpu-{system}", (system, "prefork", CPUS), "tasks.cpu", [cpu_n],
                            cpu_tasks, True)
            r["n"] = cpu_n
            results["cpu"][system] = r
            print(f"cpu {system}: {r['seconds']:.2f} s", flush=True)
    finally:
        cleanup()
    text = report(results)
    print("\n" + text)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    if args.markdown:
        pathlib.Path(args.markdown).write_text(text + "\n")
    if args.plots:
        for path in plots(results, args.plots):
            print(f"plot: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
