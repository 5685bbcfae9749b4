#!/usr/bin/python3
"""Capture fresh task envelopes from a real Python Celery producer, with no worker running.

Each scenario publishes one task (or canvas) the way a Python client does, then pops the oldest
envelope from the queue's Redis lists and writes its exact bytes (plus one "\\n", the
convention of shared/protocol/captures) to OUT/<scenario>.message.json. Nothing consumes the
messages, so what is written is precisely what a producer LPUSHed.

Run it with Debian's interpreter and python3-celery (Celery 5.2.6, kombu 5.2.4, redis-py 4.3.4):

    /usr/bin/python3 python_fixtures/capture/capture_messages.py --port 6391 --out /tmp/msgs
    /usr/bin/python3 python_fixtures/capture/capture_messages.py --spawn-redis --out /tmp/msgs

--spawn-redis starts a private redis-server on a free loopback port and stops it afterwards.
With --port, use a scratch server: the script deletes the queue lists it reads (celery, fast and
their priority lists) in the broker database before every scenario.
"""
import argparse
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis
from celery import Celery, chain, chord, group

SEP = b"\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)


def make_app(port, broker_db, backend_db):
    app = Celery("tasks", broker=f"redis://127.0.0.1:{port}/{broker_db}",
                 backend=f"redis://127.0.0.1:{port}/{backend_db}")
    app.conf.broker_connection_max_retries = 1

    # Producer-side twins of the worker's tasks: only their names matter here.
    @app.task(name="tasks.add")
    def add(x, y):
        return x + y

    @app.task(name="tasks.echo")
    def echo(*args, **kwargs):
        return {"args": list(args), "kwargs": kwargs}

    @app.task(name="tasks.tsum")
    def tsum(numbers):
        return sum(numbers)

    return app


def sig(app, name, *args):
    return app.signature(name, args=args)


def protocol_v1(app):
    # Celery caches the message factory per protocol; drop it around the switch.
    app.conf.task_protocol = 1
    app.amqp.__dict__.pop("create_task_message", None)
    try:
        app.send_task("tasks.add", args=(40, 2))
    finally:
        app.conf.task_protocol = 2
        app.amqp.__dict__.pop("create_task_message", None)


UNICODE_KWARGS = {"name": "Zo\u00eb", "emoji": "\U0001F680",
                  "nested": {"list": [1, 2.5, None, True]}}

# name -> (queue, publish function)
SCENARIOS = {
    "simple_task": ("celery", lambda app: app.send_task("tasks.add", args=(2, 2))),
    "kwargs_unicode": ("celery", lambda app: app.send_task(
        "tasks.echo", args=(1, "two"), kwargs=UNICODE_KWARGS)),
    "priority_4": ("celery", lambda app: app.send_task("tasks.add", args=(4, 1), priority=4)),
    "priority_9": ("celery", lambda app: app.send_task("tasks.add", args=(9, 1), priority=9)),
    "countdown": ("celery", lambda app: app.send_task("tasks.add", args=(3, 4), countdown=3)),
    "expires": ("celery", lambda app: app.send_task("tasks.add", args=(5, 5), countdown=3,
                                                    expires=1)),
    "time_limit": ("celery", lambda app: app.send_task("tasks.add", args=(1, 1), time_limit=1,
                                                       soft_time_limit=0.5)),
    "ignore_result": ("celery", lambda app: app.send_task("tasks.add", args=(21, 0),
                                                          ignore_result=True)),
    "compression": ("celery", lambda app: app.send_task("tasks.add", args=(6, 7),
                                                        compression="zlib")),
    "serializer_pickle_rejected": ("celery", lambda app: app.send_task(
        "tasks.add", args=(1, 2), serializer="pickle")),
    "unregistered": ("celery", lambda app: app.send_task("tasks.not_registered", args=(1,))),
    "routing_queue": ("fast", lambda app: app.send_task("tasks.add", args=(1, 1), queue="fast")),
    "link_callbacks": ("celery", lambda app: app.send_task(
        "tasks.add", args=(2, 2), link=sig(app, "tasks.add", 100))),
    "protocol_v1": ("celery", protocol_v1),
    "chain": ("celery", lambda app: chain(sig(app, "tasks.add", 1, 2), sig(app, "tasks.add", 3),
                                          sig(app, "tasks.add", 4)).apply_async()),
    "group": ("celery", lambda app: group(sig(app, "tasks.add", i, i)
                                          for i in range(3)).apply_async()),
    "chord": ("celery", lambda app: chord([sig(app, "tasks.add", 1, 1),
                                           sig(app, "tasks.add", 2, 2)],
                                          sig(app, "tasks.tsum")).apply_async()),
}


def queue_keys(queue):
    base = queue.encode()
    return [base if step == 0 else base + SEP + str(step).encode() for step in PRIORITY_STEPS]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn_redis():
    if shutil.which("redis-server") is None:
        sys.exit("redis-server not found")
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port)
    for _ in range(100):
        try:
            client.ping()
            return port, proc
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.terminate()
    sys.exit("redis-server did not start")


def capture(port, out, names, broker_db, backend_db):
    broker = redis.Redis(host="127.0.0.1", port=port, db=broker_db)
    broker.ping()  # fail fast instead of letting Celery retry forever
    app = make_app(port, broker_db, backend_db)
    out.mkdir(parents=True, exist_ok=True)
    every_key = [k for q in ("celery", "fast") for k in queue_keys(q)]
    for name in names:
        queue, publish = SCENARIOS[name]
        broker.delete(*every_key)
        publish(app)
        raw = None
        for key in queue_keys(queue):  # step 0 first, like a consumer's BRPOP order
            raw = broker.rpop(key)
            if raw is not None:
                break
        if raw is None:
            sys.exit(f"{name}: nothing was published to {queue}")
        (out / f"{name}.message.json").write_bytes(raw + b"\n")
        envelope = json.loads(raw)
        headers = envelope["headers"]
        print(f"{name}: task={headers.get('task', '(v1)')} "
              f"priority={envelope['properties'].get('priority')} "
              f"content-type={envelope['content-type']} ({len(raw)} bytes)")
    broker.delete(*every_key)
    app.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int, help="a running scratch redis-server on 127.0.0.1")
    where.add_argument("--spawn-redis", action="store_true",
                       help="start a private redis-server on a free port, stop it at the end")
    parser.add_argument("--out", type=Path, default=Path("captured-messages"),
                        help="output folder (default: %(default)s)")
    parser.add_argument("--broker-db", type=int, default=0)
    parser.add_argument("--backend-db", type=int, default=1)
    parser.add_argument("scenarios", nargs="*",
                        help="scenarios to capture (default: all): " + ", ".join(SCENARIOS))
    opts = parser.parse_args()
    unknown = sorted(set(opts.scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    names = opts.scenarios or list(SCENARIOS)
    proc = None
    port = opts.port
    if opts.spawn_redis:
        port, proc = spawn_redis()
    try:
        capture(port, opts.out, names, opts.broker_db, opts.backend_db)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
