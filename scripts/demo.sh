#!/usr/bin/env bash
# THE demo: builds cworker, starts it on Redis, drives it from Python Celery, stops it.
#   1. install missing packages, build build/
#   2. broker: $CELERY_BROKER_URL (results: $CELERY_RESULT_BACKEND, default the broker), or
#      a private redis-server on a free loopback port (db 0 broker, db 1 results)
#   3. cworker -A tasks -P prefork -c 2 (the default pool), waits for "ready."
#   4. python_fixtures/demo.py: sends add, mul, xsum, echo (unicode), cpu, sleep, a failing
#      fail('boom') and an unregistered task; prints a table and the worker's log tail
#   5. SIGTERM (warm shutdown) and the worker's exit code
#   6. the article's experiment at a small size: bench/article_chord.py --quick (a chord of N
#      calls to a 2 s HTTP API; Python prefork -c 4 vs cworker prefork -c 4 vs cworker -P green),
#      on a Redis of its own
# Env: CWORKER_BIN overrides the worker binary; DEMO_SKIP_BUILD=1 skips steps 1's build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"

PYTHON=/usr/bin/python3
if [[ "$(id -u)" == 0 && -z "${C_FORCE_ROOT:-}" ]]; then
  # cworker refuses to run as root without consent; the demo gives it (docs/robustness.md).
  say "demo: running as root: the worker starts with C_FORCE_ROOT=1 (use --uid in production)"
  export C_FORCE_ROOT=1
fi
WORKER_BIN="${CWORKER_BIN:-$REPO_ROOT/build/bin/cworker}"
RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/cworker-demo-XXXXXX")"
WORKER_LOG="$RUN_DIR/worker.stderr.log"
WORKER_OUT="$RUN_DIR/worker.stdout.log"
worker_pid=""

cleanup() {
  if [[ -n "$worker_pid" ]] && kill -0 "$worker_pid" 2>/dev/null; then
    kill -KILL "$worker_pid" 2>/dev/null || true
    wait "$worker_pid" 2>/dev/null || true
  fi
  stop_private_redis REDIS
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "demo: step 1/6: dependencies"
scripts/install-deps.sh
if [[ "${DEMO_SKIP_BUILD:-0}" != 1 ]]; then
  say "demo: step 1/6: building build/"
  scripts/build.sh build
fi
[[ -x "$WORKER_BIN" ]] || die "worker binary $WORKER_BIN not found"

say "demo: step 2/6: broker"
REDIS_PID=""
if [[ -z "${CELERY_BROKER_URL:-}" ]]; then
  start_private_redis REDIS
  export CELERY_BROKER_URL="redis://127.0.0.1:${REDIS_PORT}/0"
  export CELERY_RESULT_BACKEND="redis://127.0.0.1:${REDIS_PORT}/1"
  say "demo: private redis-server on port ${REDIS_PORT}"
else
  export CELERY_RESULT_BACKEND="${CELERY_RESULT_BACKEND:-$CELERY_BROKER_URL}"
  say "demo: using CELERY_BROKER_URL=${CELERY_BROKER_URL}"
fi

say "demo: step 3/6: starting $WORKER_BIN"
(
  cd "$RUN_DIR"
  # The container's entrypoint too (docker/Dockerfile): one way to start a worker.
  CWORKER_PATH="$(dirname "$WORKER_BIN")/../lib" CWORKER_BIN="$WORKER_BIN" \
    CWORKER_POOL=prefork CWORKER_CONCURRENCY=2 CWORKER_HOSTNAME=demo@%h \
    exec "$REPO_ROOT/scripts/start-worker.sh" >"$WORKER_OUT" 2>"$WORKER_LOG"
) &
worker_pid=$!
for _ in $(seq 1 1500); do  # up to ~30 s
  grep -q ' ready\.' "$WORKER_LOG" 2>/dev/null && break
  kill -0 "$worker_pid" 2>/dev/null || { cat "$WORKER_OUT" "$WORKER_LOG" >&2; die "worker exited"; }
  sleep 0.02
done
grep -q ' ready\.' "$WORKER_LOG" || { cat "$WORKER_LOG" >&2; die "worker not ready after 30 s"; }
cat "$WORKER_OUT"
say "demo: worker ready (pid $worker_pid)"

say "demo: step 4/6: sending tasks from Python Celery"
demo_status=0
(cd "$REPO_ROOT/python_fixtures" && "$PYTHON" demo.py --worker-log "$WORKER_LOG") || demo_status=$?

say "demo: step 5/6: warm shutdown (SIGTERM)"
kill -TERM "$worker_pid"
worker_status=0
for _ in $(seq 1 1000); do  # up to ~20 s
  kill -0 "$worker_pid" 2>/dev/null || break
  sleep 0.02
done
if kill -0 "$worker_pid" 2>/dev/null; then
  say "demo: worker still running after 20 s, killing it"
  kill -KILL "$worker_pid"
fi
wait "$worker_pid" || worker_status=$?
worker_pid=""
tail -n 5 "$WORKER_LOG"
echo "worker exit code: $worker_status"

# The article's point in one run: a chord of N calls to an API that answers after 2 s. Four at a
# time (Python prefork -c 4, cworker -c 4) takes 4 s for N = 5; a green pool takes ~2 s for any N.
# It uses a private Redis of its own (it flushes it between runs).
say "demo: step 6/6: the article's chord experiment (bench/article_chord.py --quick)"
bench_status=0
"$PYTHON" bench/article_chord.py --quick || bench_status=$?
((demo_status == 0 && worker_status == 0 && bench_status == 0))
