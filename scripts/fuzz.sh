#!/usr/bin/env bash
# Builds the protocol fuzz target with clang's libFuzzer (ASan + UBSan) and runs it.
#   scripts/fuzz.sh [SECONDS]     (default 30; 0 only builds)
# (pointer-overflow is recoverable so that protocol/fuzz/ubsan.supp can exempt one RapidJSON
# header; every other report stops the run.)
# The corpus starts from the captured fixtures (each through all three decoders: the first
# byte picks envelope, body or result record) and the kept regressions; it grows in
# build-fuzz/corpus between runs. A crash fails the run; its input is copied to
# protocol/fuzz/regressions/, where the protocol_fuzz_replay test replays it in every build
# from then on (commit it with the fix).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"

seconds="${1:-30}"
out="$REPO_ROOT/build-fuzz"
CLANGXX="${CLANGXX:-$(command -v clang++ || command -v clang++-14 || true)}"
[[ -n "$CLANGXX" ]] || die "fuzz: clang++ not found (scripts/install-deps.sh installs clang)"
mkdir -p "$out/corpus" "$out/artifacts"

sources=(protocol/src/*.cc protocol/fuzz/decode_fuzz.cc)
binary="$out/decode_fuzz"
if [[ ! -x "$binary" ]] || [[ -n "$(find "${sources[@]}" protocol/include include -newer "$binary" -print -quit)" ]]; then
  say "fuzz: building $binary with $CLANGXX"
  "$CLANGXX" -std=c++20 -O1 -g -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -fsanitize-recover=pointer-overflow \
    -Iprotocol/include -Iinclude "${sources[@]}" -lz -o "$binary.tmp"
  mv "$binary.tmp" "$binary"
fi
((seconds > 0)) || exit 0

seeds="$out/seeds"
rm -rf "$seeds"
mkdir -p "$seeds"
i=0
for file in protocol/fixtures/*/*.json; do
  for mode in 0 1 2; do
    { printf "\\$(printf '%03o' "$mode")"; cat "$file"; } >"$seeds/fixture-$i-$mode"
  done
  i=$((i + 1))
done
cp protocol/fuzz/regressions/*.bin "$seeds/"
for crash in protocol/fuzz/regressions/crash-*; do [[ -e "$crash" ]] && cp "$crash" "$seeds/"; done

say "fuzz: running for ${seconds}s (corpus $out/corpus)"
set +e
ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$REPO_ROOT/protocol/fuzz/ubsan.supp" \
  "$binary" "$out/corpus" "$seeds" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -max_len=65536 -print_final_stats=1 -artifact_prefix="$out/artifacts/" 2>&1 | tail -n 40
status=${PIPESTATUS[0]}
set -e
if ((status != 0)); then
  for artifact in "$out"/artifacts/*; do
    [[ -e "$artifact" ]] || continue
    cp "$artifact" protocol/fuzz/regressions/
    say "fuzz: kept $(basename "$artifact") in protocol/fuzz/regressions/"
  done
  die "fuzz: the target failed (exit $status)"
fi
say "fuzz: no crash in ${seconds}s"
