#!/usr/bin/env bash
# Starts one cworker. The same script is the container's entrypoint (docker/Dockerfile) and
# starts the worker of the README's local run (scripts/demo.sh), so both run it alike.
#   start-worker.sh [more cworker flags...]
# Settings come from the environment, as in a compose file (defaults in brackets):
#   CELERY_BROKER_URL      the broker (required)
#   CELERY_RESULT_BACKEND  where results go [the broker]
#   CWORKER_APP            -A, the task library [tasks]
#   CWORKER_POOL           -P [prefork]          CWORKER_CONCURRENCY  -c [CPUs]
#   CWORKER_QUEUES         -Q [celery]           CWORKER_HOSTNAME     -n [cworker@%h]
#   CWORKER_LOGLEVEL       -l [INFO]             CWORKER_HTTP         --http [off]
#   CWORKER_BIN            the binary [build/bin/cworker beside this script, else on PATH]
#   CWORKER_PATH           where -A libraries are looked up (read by cworker itself)
# It execs cworker, so signals reach the worker itself: SIGTERM (docker stop) is a warm
# shutdown, a second one or SIGQUIT a cold one.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${CWORKER_BIN:-}"
if [[ -z "$bin" ]]; then
  if [[ -x "$here/../build/bin/cworker" ]]; then
    bin="$here/../build/bin/cworker"
  else
    bin="$(command -v cworker || true)"
  fi
fi
[[ -n "$bin" && -x "$bin" ]] || { echo "start-worker: no cworker binary (set CWORKER_BIN)" >&2; exit 2; }
[[ -n "${CELERY_BROKER_URL:-}" ]] || { echo "start-worker: CELERY_BROKER_URL is not set" >&2; exit 2; }

args=(-A "${CWORKER_APP:-tasks}"
      -b "$CELERY_BROKER_URL"
      --result-backend "${CELERY_RESULT_BACKEND:-$CELERY_BROKER_URL}"
      -P "${CWORKER_POOL:-prefork}"
      -l "${CWORKER_LOGLEVEL:-INFO}"
      -n "${CWORKER_HOSTNAME:-cworker@%h}")
[[ -n "${CWORKER_CONCURRENCY:-}" ]] && args+=(-c "$CWORKER_CONCURRENCY")
[[ -n "${CWORKER_QUEUES:-}" ]] && args+=(-Q "$CWORKER_QUEUES")
[[ -n "${CWORKER_HTTP:-}" ]] && args+=(--http "$CWORKER_HTTP")
exec "$bin" "${args[@]}" "$@"
