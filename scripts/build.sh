#!/usr/bin/env bash
# Configures and builds cworker with CMake + Ninja.
#   scripts/build.sh [build-dir] [extra cmake args...]
# build-dir defaults to build/ (relative paths are relative to the repository root);
# the build type defaults to RelWithDebInfo unless -DCMAKE_BUILD_TYPE=... is passed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

build_dir="${1:-build}"
(($# > 0)) && shift
[[ "$build_dir" = /* ]] || build_dir="$REPO_ROOT/$build_dir"

type_arg=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
for arg in "$@"; do
  [[ "$arg" == -DCMAKE_BUILD_TYPE=* ]] && type_arg=()
done

say "build: configuring $build_dir"
cmake -S "$REPO_ROOT" -B "$build_dir" -G Ninja "${type_arg[@]}" "$@"
say "build: compiling $build_dir"
cmake --build "$build_dir"
