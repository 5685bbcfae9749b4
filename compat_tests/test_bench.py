"""The benchmarks' code still runs (bench/throughput.py --quick on the solo pools, and
bench/scale_out.py --quick): every
figure it reports is there and plausible. It times nothing: docs/benchmarks.md has the numbers."""

import json
import os
import subprocess

import pytest

pytestmark = pytest.mark.cworker_only

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_throughput_benchmark_runs_on_a_tiny_size(tmp_path):
    out = tmp_path / "results.json"
    run = subprocess.run(
        ["/usr/bin/python3", os.path.join(ROOT, "bench", "throughput.py"), "--quick",
         "--pools", "solo", "--json", str(out), "--markdown", str(tmp_path / "results.md")],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["tasks"] == 200
    for name in ("celery-solo-stored", "cworker-solo-stored", "celery-solo-ignored",
                 "cworker-solo-ignored"):
        r = results["throughput"][name]
        assert r["tasks"] == 200 and r["rate"] > 0 and r["peak_rss_mb"] > 0, name
        assert r["redis_commands_per_task"] >= 3, name  # at least a pop, an ack and a record
    assert results["ceiling"]["tasks_per_s"]["stored"] > 0
    # Redis's own CPU for each drain, and the ceiling for cworker's command mix: its commands
    # for the backlog replayed (the replay checks it drained the queue and stored every result).
    assert results["throughput"]["cworker-solo-stored"]["redis_cpu_us_per_task"] > 0
    for kind in ("stored", "ignored"):
        replay = results["replay"][f"cworker-solo-{kind}"]
        assert replay["tasks"] == 200 and replay["tasks_per_s"] > 0, kind
        assert replay["messages_per_fetch"] == max(
            1, round(results["throughput"][f"cworker-solo-{kind}"]["messages_per_fetch"]))
    assert "its command mix replayed" in (tmp_path / "results.md").read_text()
    assert len(results["latency"]) == 2 and len(results["latency_apply_async"]) == 2
    for r in [*results["latency"].values(), *results["latency_apply_async"].values()]:
        assert 0 < r["p50_ms"] <= r["p99_ms"]
    assert set(results["cpu"]) == {"celery", "cworker"}
    assert "| `add` | solo |" in (tmp_path / "results.md").read_text()


def test_scale_out_benchmark_runs_on_a_tiny_size(tmp_path):
    out = tmp_path / "scale.json"
    run = subprocess.run(
        ["/usr/bin/python3", os.path.join(ROOT, "bench", "scale_out.py"), "--quick",
         "--json", str(out)],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert [r["workers"] for r in rows] == [1, 2]
    for r in rows:
        assert r["tasks"] == 200 and r["rate"] > 0
        # (200 tasks may cost a worker less than one clock tick of CPU.)
        assert r["redis_cpu_per_task_us"] > 0 and r["worker_cpu_per_task_us"] >= 0
        assert "evalsha" in r["redis_usec_per_task_by_command"]  # the pop script ran
