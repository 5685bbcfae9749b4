#!/usr/bin/env bash
# The benchmark, one command: Python Celery and cworker side by side on this machine.
#   bench/run.sh [--quick]
# Installs what is missing (plus python3-matplotlib for the plots), builds build/ (RelWithDebInfo:
# -O2), then runs bench/throughput.py (throughput, latency, CPU, cost, the Redis ceiling) and
# bench/article_chord.py (the article's chord, N = 5 .. 5000), each on a private Redis, and
# writes docs/benchmarks/: results.md, results.json, chord.md and the plots. docs/benchmarks.md
# explains them. Takes about 20 minutes on 2 cores; --quick takes about two.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"
cd "$REPO_ROOT"

quick=()
[[ "${1:-}" == "--quick" ]] && quick=(--quick)
scripts/install-deps.sh
if ! dpkg-query -W -f='${Status}' python3-matplotlib 2>/dev/null | grep -q "install ok installed"; then
  SUDO=(); [[ "$(id -u)" != 0 ]] && SUDO=(sudo)
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    python3-matplotlib
fi
scripts/build.sh build

out="docs/benchmarks"
[[ ${#quick[@]} -gt 0 ]] && out="$(mktemp -d "${TMPDIR:-/tmp}/cworker-bench-XXXXXX")"
mkdir -p "$out"
say "bench: throughput, latency, cpu, cost, Redis ceiling -> $out"
/usr/bin/python3 bench/throughput.py "${quick[@]}" --json "$out/results.json" \
  --markdown "$out/results.md" --plots "$out"
say "bench: the article's chord -> $out/chord.md"
if [[ ${#quick[@]} -gt 0 ]]; then
  /usr/bin/python3 bench/article_chord.py --quick --output "$out/chord.md"
else
  /usr/bin/python3 bench/article_chord.py --sizes 5,100,1000,5000 \
    --configs celery-prefork4,cworker-prefork4,celery-gevent,cworker-green --output "$out/chord.md"
fi
say "bench: done: $out"
