# Shared helpers for the scripts in scripts/ (sourced, not executed).
#   REPO_ROOT      absolute path of the repository
#   say MSG        progress line on stderr: "==> MSG"
#   die MSG        error line on stderr, exit 1
#   start_private_redis VAR_PREFIX
#                  starts redis-server on a free 127.0.0.1 port, no persistence, own temp dir;
#                  sets ${VAR_PREFIX}_PORT, ${VAR_PREFIX}_PID, ${VAR_PREFIX}_DIR
#   stop_private_redis VAR_PREFIX
#                  kills it (by pid) and removes its directory

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export REPO_ROOT

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

_port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_private_redis() {
  local prefix="$1" port dir pid attempt i
  command -v redis-server >/dev/null || die "redis-server not installed (scripts/install-deps.sh)"
  for attempt in $(seq 1 20); do
    port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    _port_in_use "$port" && continue
    dir="$(mktemp -d "${TMPDIR:-/tmp}/cw-redis-${port}-XXXXXX")"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
      --dir "$dir" --daemonize no --logfile "$dir/redis.log" </dev/null >/dev/null 2>&1 &
    pid=$!
    for i in $(seq 1 250); do  # up to ~5 s
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
        printf -v "${prefix}_PORT" '%s' "$port"
        printf -v "${prefix}_PID" '%s' "$pid"
        printf -v "${prefix}_DIR" '%s' "$dir"
        return 0
      fi
      sleep 0.02
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$dir"
  done
  die "could not start a private redis-server"
}

stop_private_redis() {
  local prefix="$1" pid_var="${1}_PID" dir_var="${1}_DIR"
  local pid="${!pid_var:-}" dir="${!dir_var:-}"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 250); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  [[ -n "$dir" ]] && rm -rf "$dir"
  printf -v "${prefix}_PID" '%s' ""
}
