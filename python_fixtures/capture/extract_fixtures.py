#!/usr/bin/python3
"""Rebuild protocol/fixtures/ from the captured Celery traffic (shared/protocol/captures).

The captures were recorded with `redis-cli MONITOR` while real Python producers and workers
(Celery 5.2.6 + kombu 5.2.4, and Celery 5.5.3 + kombu 5.5.4) ran; see
shared/protocol/capture/README.md.  This script copies a curated subset, byte for byte:

  protocol/fixtures/celery-5.2.6/NAME.message.json   first task envelope LPUSHed (copied)
  protocol/fixtures/celery-5.5/NAME.message.json     same for Celery 5.5.3
  protocol/fixtures/*/NAME.message.json (extra)      later envelopes, cut out of NAME.monitor.txt
  protocol/fixtures/results/NAME.json                 exact value of a SETEX, from the monitor

Message files end with one "\\n" (as the capture driver writes them); result files hold the
stored value only, without a newline.  protocol/fixtures/README.md is regenerated too.

Usage (standard library only):
    /usr/bin/python3 python_fixtures/capture/extract_fixtures.py [--captures DIR] [--out DIR]
"""
import argparse
import json
import re
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CAPTURES = REPO.parent / "shared" / "protocol" / "captures"
DEFAULT_OUT = REPO / "protocol" / "fixtures"

VERSIONS = {
    "celery-5.2.6": ("", "Celery 5.2.6, kombu 5.2.4, redis-py 4.3.4 (Debian python3-celery)"),
    "celery-5.5": ("celery-5.5", "Celery 5.5.3, kombu 5.5.4 (upstream sources on Debian's "
                                 "billiard 4.1.0 / vine 5.0.0)"),
}

# First LPUSHed envelope of each scenario, copied as is.
MESSAGES = [
    "simple_task", "kwargs_unicode", "priority", "protocol_v1", "compression",
    "serializer_pickle_rejected", "unregistered", "chain", "chord", "group", "countdown",
    "expires", "retry", "link_callbacks", "failure", "ignore_result", "result_extended",
    "time_limit", "routing_queue",
]

# Later envelopes: (output name, scenario, command, key or None, nth match, description).
EXTRA_MESSAGES = [
    ("priority_4", "priority", "LPUSH", b"celery\x06\x163", 0,
     "apply_async(priority=4): the envelope LPUSHed to celery\\x06\\x163"),
    ("priority_9", "priority", "LPUSH", b"celery\x06\x169", 0,
     "apply_async(priority=9): the envelope LPUSHed to celery\\x06\\x169"),
    ("retry_republished", "retry", "LPUSH", b"celery", 1,
     "the message a worker republished for self.retry() (retries 1, eta, leaked properties)"),
    ("chain_step2", "chain", "LPUSH", b"celery", 1,
     "second chain step sent by the worker (parent_id set, chain shortened)"),
    ("restored_redelivered", "shutdown_restore", "RPUSH", b"celery", 0,
     "an envelope restored at worker shutdown (redelivered flags in headers and delivery_info)"),
]

# Result records: (output name, version, scenario, predicate on the decoded record, description).
RESULTS = [
    ("success", "celery-5.2.6", "simple_task", lambda v: v.get("status") == "SUCCESS",
     "add(2, 2) SUCCESS"),
    ("failure", "celery-5.2.6", "failure", lambda v: v.get("status") == "FAILURE",
     "fail('boom') FAILURE with traceback"),
    ("not_registered", "celery-5.2.6", "unregistered", lambda v: v.get("status") == "FAILURE",
     "NotRegistered FAILURE (traceback null)"),
    ("started", "celery-5.2.6", "track_started", lambda v: v.get("status") == "STARTED",
     "STARTED record (track_started)"),
    ("success_float", "celery-5.2.6", "track_started", lambda v: v.get("status") == "SUCCESS",
     "SUCCESS with a float result"),
    ("retry", "celery-5.2.6", "retry", lambda v: v.get("status") == "RETRY",
     "RETRY record with exception and traceback"),
    ("success_parent_id", "celery-5.2.6", "chain", lambda v: "parent_id" in v,
     "chain step: parent_id and children"),
    ("success_group_id", "celery-5.2.6", "group", lambda v: "group_id" in v,
     "group member: group_id"),
    ("success_group_and_parent", "celery-5.2.6", "link_callbacks",
     lambda v: "group_id" in v and "parent_id" in v, "errback: group_id then parent_id"),
    ("extended", "celery-5.2.6", "result_extended", lambda v: "name" in v,
     "result_extended=True record"),
    ("success_unicode", "celery-5.2.6", "kwargs_unicode", lambda v: v.get("status") == "SUCCESS",
     "echo() result holding non-ASCII text (ensure_ascii escapes)"),
    ("group_result", "celery-5.2.6", "group", lambda v: list(v) == ["result"],
     "GroupResult.save() record (celery-taskset-meta-<gid>)"),
    ("success_celery55", "celery-5.5", "simple_task", lambda v: v.get("status") == "SUCCESS",
     "Celery 5.5 SUCCESS (date_done with +00:00)"),
    ("failure_celery55", "celery-5.5", "failure", lambda v: v.get("status") == "FAILURE",
     "Celery 5.5 FAILURE"),
]

LINE = re.compile(r"^(\d+\.\d+) \[(\d+) (\S+)\] (.*)$")
ESCAPES = {"n": b"\n", "r": b"\r", "t": b"\t", "a": b"\a", "b": b"\b"}


def split_monitor_args(text):
    """The arguments of one MONITOR line (redis sdscatrepr quoting) as raw bytes."""
    args, i = [], 0
    while i < len(text):
        if text[i] != '"':
            i += 1
            continue
        i, buf = i + 1, bytearray()
        while text[i] != '"':
            if text[i] == "\\":
                nxt = text[i + 1]
                if nxt == "x":
                    buf.append(int(text[i + 2:i + 4], 16))
                    i += 4
                    continue
                buf += ESCAPES.get(nxt, nxt.encode())
                i += 2
                continue
            buf += text[i].encode()
            i += 1
        args.append(bytes(buf))
        i += 1
    return args


def monitor_commands(path):
    for line in path.read_text().splitlines():
        m = LINE.match(line)
        if m:
            yield split_monitor_args(m.group(4))


def find_push(captures, scenario, command, key, nth):
    found = [a[2] for a in monitor_commands(captures / f"{scenario}.monitor.txt")
             if a and a[0].upper() == command.encode() and len(a) == 3 and a[1] == key]
    if len(found) <= nth:
        sys.exit(f"{scenario}: no {command} #{nth} to {key!r}")
    return found[nth]


def find_setex(captures, scenario, predicate):
    for args in monitor_commands(captures / f"{scenario}.monitor.txt"):
        if args and args[0].upper() == b"SETEX" and len(args) == 4:
            try:
                value = json.loads(args[3])
            except ValueError:
                continue
            if isinstance(value, dict) and predicate(value):
                return args[1], args[3]
    sys.exit(f"{scenario}: no matching SETEX")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--captures", type=Path, default=DEFAULT_CAPTURES,
                        help="the captures folder (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="the fixtures folder to write (default: %(default)s)")
    opts = parser.parse_args()
    captures, out = opts.captures.resolve(), opts.out.resolve()
    if not (captures / "simple_task.message.json").is_file():
        sys.exit(f"no captures in {captures}")

    rows = {version: [] for version in VERSIONS}
    for version, (subdir, _) in VERSIONS.items():
        src = captures / subdir if subdir else captures
        dst = out / version
        dst.mkdir(parents=True, exist_ok=True)
        for name in MESSAGES:
            if not (src / f"{name}.message.json").is_file():
                continue  # e.g. routing_queue was not replayed with Celery 5.5
            data = (src / f"{name}.message.json").read_bytes()
            # Provenance check: the copied bytes are one of the pushes the monitor recorded.
            pushed = {a[2] + b"\n" for a in monitor_commands(src / f"{name}.monitor.txt")
                      if a and a[0].upper() in (b"LPUSH", b"RPUSH") and len(a) == 3}
            if data not in pushed:
                sys.exit(f"{src / name}.message.json is not a recorded LPUSH")
            shutil.copyfile(src / f"{name}.message.json", dst / f"{name}.message.json")
            rows[version].append((f"{name}.message.json",
                                  f"`{(subdir + '/') if subdir else ''}{name}.message.json`"))
        for out_name, scenario, command, key, nth, what in EXTRA_MESSAGES:
            if not (src / f"{scenario}.monitor.txt").is_file():
                continue
            data = find_push(src, scenario, command, key, nth)
            (dst / f"{out_name}.message.json").write_bytes(data + b"\n")
            rows[version].append((f"{out_name}.message.json",
                                  f"{command} #{nth + 1} in `{(subdir + '/') if subdir else ''}"
                                  f"{scenario}.monitor.txt`: {what}"))

    results = out / "results"
    results.mkdir(parents=True, exist_ok=True)
    result_rows = []
    for out_name, version, scenario, predicate, what in RESULTS:
        subdir = VERSIONS[version][0]
        src = captures / subdir if subdir else captures
        key, value = find_setex(src, scenario, predicate)
        (results / f"{out_name}.json").write_bytes(value)
        result_rows.append((f"{out_name}.json", version,
                            f"SETEX {key.decode()} in `{(subdir + '/') if subdir else ''}"
                            f"{scenario}.monitor.txt`: {what}"))

    write_readme(out, rows, result_rows)
    total = sum(len(r) for r in rows.values()) + len(result_rows)
    print(f"wrote {total} fixtures into {out}")


def write_readme(out, rows, result_rows):
    lines = [
        "# Protocol fixtures",
        "",
        "Real Celery traffic, extracted byte for byte from the captures in",
        "`shared/protocol/captures/` (recorded with `redis-cli MONITOR` while Python producers",
        "and workers ran, see `shared/protocol/capture/README.md`). Do not edit by hand:",
        "regenerate with",
        "",
        "```",
        "/usr/bin/python3 python_fixtures/capture/extract_fixtures.py [--captures DIR]",
        "```",
        "",
        "`*.message.json` end with one newline (as the capture driver wrote them); the files in",
        "`results/` hold the exact SETEX value with no newline. Fresh envelopes from a live",
        "producer can be captured with `python_fixtures/capture/capture_messages.py`.",
        "",
    ]
    for version, (subdir, stack) in VERSIONS.items():
        lines += [f"## `{version}/`: {stack}", "", "| file | source |", "| --- | --- |"]
        lines += [f"| `{name}` | {src} |" for name, src in rows[version]]
        lines.append("")
    lines += ["## `results/`: result backend records", "", "| file | version | source |",
              "| --- | --- | --- |"]
    lines += [f"| `{name}` | {version} | {src} |" for name, version, src in result_rows]
    lines.append("")
    (out / "README.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
