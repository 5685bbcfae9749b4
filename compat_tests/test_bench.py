"""The benchmark's code still runs (bench/throughput.py --quick on the solo pools): every
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
    assert len(results["latency"]) == 2
    for r in results["latency"].values():
        assert 0 < r["p50_ms"] <= r["p99_ms"]
    assert set(results["cpu"]) == {"celery", "cworker"}
    assert "| `add` | solo |" in (tmp_path / "results.md").read_text()
