#!/usr/bin/env bash
# THE test command (CI runs it through .ci/run):
#   1. install missing Debian packages (scripts/install-deps.sh)
#   2. build build/ (RelWithDebInfo), then build-asan/ (Debug, address+undefined sanitizers) in
#      the background at the lowest priority while the suites run on build/
#   3. ctest in both build trees
#   4. a 20 s libFuzzer run over the protocol decoders (scripts/fuzz.sh)
#   5. docs/*.md snippets checked against examples/tasks/tasks.cc; src/ includes checked
#      against the layering table of docs/architecture.md
#   6. the compat suite (pytest compat_tests) against build/bin/cworker (on -P solo and green)
#      and build-asan/bin/cworker (on -P prefork)
# Every step runs even if an earlier one failed; the exit status is non-zero if anything
# failed, and the last line is the plain summary "N passed, M failed" (ctest + pytest).
# Set CHECK_SKIP_ASAN=1 to skip the sanitizer tree (local quick runs only).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"

PYTHON=/usr/bin/python3
LOG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/cworker-check-XXXXXX")"
passed=0
failed=0
problems=()

note_failure() { problems+=("$1"); }

# count_ctest LOG: adds the "N tests failed out of M" numbers to the totals.
count_ctest() {
  local log="$1" line total bad
  line="$(grep -E '[0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)"
  if [[ -z "$line" ]]; then
    failed=$((failed + 1))
    return
  fi
  bad="$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")"
  total="$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")"
  passed=$((passed + total - bad))
  failed=$((failed + bad))
}

# count_pytest LOG STATUS: adds pytest's "N passed, M failed, K errors" to the totals.
count_pytest() {
  local log="$1" status="$2" line p f e
  line="$(grep -E '[0-9]+ (passed|failed|errors?)' "$log" | tail -n 1 || true)"
  p="$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || echo 0)"
  f="$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' || echo 0)"
  e="$(grep -oE '[0-9]+ errors?' <<<"$line" | grep -oE '[0-9]+' || echo 0)"
  passed=$((passed + p))
  failed=$((failed + f + e))
  # A non-zero exit without a counted failure (no tests: 5, usage/internal error) fails too.
  if ((status != 0 && f + e == 0)); then
    failed=$((failed + 1))
  fi
}

run_logged() {  # run_logged LOG CMD... : tee output to LOG, return CMD's status
  local log="$1"
  shift
  set +e
  "$@" 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  set -e
  return "$status"
}

build_tree() {  # build_tree DIR CMAKE-ARGS...
  local dir="$1"
  shift
  if run_logged "$LOG_DIR/build-$dir.log" scripts/build.sh "$dir" "$@"; then
    return 0
  fi
  note_failure "build of $dir/ failed (log: $LOG_DIR/build-$dir.log)"
  failed=$((failed + 1))
  return 1
}

run_ctest() {  # run_ctest DIR
  local dir="$1" status=0
  say "check: ctest in $dir/"
  run_logged "$LOG_DIR/ctest-$dir.log" \
    ctest --test-dir "$dir" --output-on-failure --no-tests=error -j 2 || status=$?
  count_ctest "$LOG_DIR/ctest-$dir.log"
  ((status == 0)) || note_failure "ctest in $dir/ failed (exit $status)"
}

run_compat() {  # run_compat DIR [POOL CONCURRENCY [PYTEST-ARGS...]]: the suite on POOL (default solo)
  local dir="$1" pool="${2:-solo}" concurrency="${3:-1}" status=0
  local extra=("${@:4}")
  local log="$LOG_DIR/compat-$dir-$pool.log"
  say "check: compat suite against $dir/bin/cworker, -P $pool -c $concurrency"
  CWORKER_BIN="$REPO_ROOT/$dir/bin/cworker" CWORKER_TEST_POOL="$pool" \
    CWORKER_TEST_CONCURRENCY="$concurrency" run_logged "$log" \
    "$PYTHON" -m pytest compat_tests -q -p no:cacheprovider --durations=12 "${extra[@]}" || status=$?
  count_pytest "$log" "$status"
  ((status == 0)) || note_failure "compat suite against $dir/ (-P $pool) failed (exit $status)"
}

say "check: installing dependencies"
if ! scripts/install-deps.sh; then
  note_failure "install-deps failed"
  failed=$((failed + 1))
fi

run_static() {  # run_static DESCRIPTION SCRIPT: a repository check counted as one test
  say "check: $1"
  if "$PYTHON" "$2"; then
    passed=$((passed + 1))
  else
    note_failure "$1 ($2)"
    failed=$((failed + 1))
  fi
}
run_static "docs quote the example code" scripts/check-doc-snippets.py
run_static "includes follow the layering of docs/architecture.md" scripts/check-layers.py

asan_build_pid=""
start_asan_build() {
  # The sanitizer tree compiles in the background, at the lowest CPU priority, while the
  # suites below run on build/: those mostly wait on Redis and on the tasks' sleeps, so the
  # compiler gets the idle CPU and the tests keep theirs. About four minutes saved on 2 cores.
  [[ "${CHECK_SKIP_ASAN:-0}" == 1 ]] && return 0
  say "check: building build-asan/ in the background (log: $LOG_DIR/build-build-asan.log)"
  nice -n 19 scripts/build.sh build-asan -DCWORKER_SANITIZE='address;undefined' \
    -DCMAKE_BUILD_TYPE=Debug >"$LOG_DIR/build-build-asan.log" 2>&1 &
  asan_build_pid=$!
}

if build_tree build -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
  start_asan_build
  run_ctest build
  run_compat build
  # The same suite with every worker on the green pool, four tasks at a time: chords,
  # retries, ETAs, malformed input and shutdown must not depend on running one task at a time.
  # (Modules that pin their own pools need not repeat: the pools' own, remote control,
  # operations, the Docker files, the benchmark, the kill, Redis fault and scale-out tests; nor
  # those about the command line, start-up, security, JSON values and routing, which no pool
  # changes.) The prefork
  # pass is the sanitizer tree's below: the whole suite on -P prefork -c 2.
  run_compat build green 4 --ignore=compat_tests/test_prefork_pool.py \
    --ignore=compat_tests/test_remote_control.py --ignore=compat_tests/test_operations.py \
    --ignore=compat_tests/test_docker_files.py --ignore=compat_tests/test_bench.py \
    --ignore=compat_tests/test_reliability.py --ignore=compat_tests/test_redis_faults.py \
    --ignore=compat_tests/test_scale_out.py --ignore=compat_tests/test_startup.py \
    --ignore=compat_tests/test_security.py --ignore=compat_tests/test_connection.py \
    --ignore=compat_tests/test_json_values.py --ignore=compat_tests/test_routing.py
fi

asan_built() {  # waits for the background build (or builds now if it never started)
  if [[ -z "$asan_build_pid" ]]; then
    build_tree build-asan -DCWORKER_SANITIZE='address;undefined' -DCMAKE_BUILD_TYPE=Debug
    return
  fi
  say "check: waiting for the build-asan/ build"
  if wait "$asan_build_pid"; then
    tail -n 3 "$LOG_DIR/build-build-asan.log"
    return 0
  fi
  tail -n 40 "$LOG_DIR/build-build-asan.log"
  note_failure "build of build-asan/ failed (log: $LOG_DIR/build-build-asan.log)"
  failed=$((failed + 1))
  return 1
}

# A short libFuzzer run over the envelope, body and result decoders (clang, ASan + UBSan),
# seeded from the captured fixtures and the kept regressions; counted as one test.
say "check: fuzzing the protocol decoders for ${CHECK_FUZZ_SECONDS:-20}s"
if run_logged "$LOG_DIR/fuzz.log" scripts/fuzz.sh "${CHECK_FUZZ_SECONDS:-20}"; then
  passed=$((passed + 1))
else
  note_failure "the fuzz run found a crash (log: $LOG_DIR/fuzz.log; input kept in protocol/fuzz/regressions/)"
  failed=$((failed + 1))
fi

if [[ "${CHECK_SKIP_ASAN:-0}" != 1 ]]; then
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  if asan_built; then
    run_ctest build-asan
    # prefork under the sanitizers covers the parent's fiber runtime (async Redis, the pipe
    # protocol) and the children at once.
    # (The Docker files' checks and their compose run are not about this binary's memory; the
    # kill tests SIGKILL it; the scale-out tests start many workers, for time.)
    run_compat build-asan prefork 2 --ignore=compat_tests/test_docker_files.py \
      --ignore=compat_tests/test_bench.py --ignore=compat_tests/test_reliability.py \
      --ignore=compat_tests/test_scale_out.py
  fi
  unset ASAN_OPTIONS UBSAN_OPTIONS
fi

echo
echo "check: logs in $LOG_DIR"
for problem in "${problems[@]}"; do
  echo "check: FAILED: $problem"
done
echo "${passed} passed, ${failed} failed"
((failed == 0 && ${#problems[@]} == 0))
