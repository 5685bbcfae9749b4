#!/usr/bin/env bash
# Runs a command next to a private redis-server:
#   scripts/with-redis.sh CMD [ARGS...]
# starts redis-server on a free 127.0.0.1 port (no persistence, own temp dir), exports
# CW_TEST_REDIS_URL=redis://127.0.0.1:PORT/0, runs CMD, and kills redis when CMD ends.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

(($# > 0)) || die "usage: scripts/with-redis.sh CMD [ARGS...]"
start_private_redis REDIS
trap 'stop_private_redis REDIS' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
export CW_TEST_REDIS_URL="redis://127.0.0.1:${REDIS_PORT}/0"
say "with-redis: redis-server on port ${REDIS_PORT}"
status=0
"$@" || status=$?
exit "$status"
