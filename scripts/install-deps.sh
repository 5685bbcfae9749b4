#!/usr/bin/env bash
# Installs (with apt-get, Debian 12) whatever the build and the tests need and is missing.
# Idempotent: checks each package with dpkg-query first and touches apt only if needed.
#   scripts/install-deps.sh            install what is missing
#   scripts/install-deps.sh --check    only report; exit 1 if something is missing
#   scripts/install-deps.sh --build    only what building the worker needs (docker/Dockerfile)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libhiredis-dev rapidjson-dev libuv1-dev libboost-dev libboost-context-dev
  libcli11-dev libspdlog-dev libfmt-dev
  libcurl4-openssl-dev zlib1g-dev libmicrohttpd-dev
)
TEST_PACKAGES=(
  libgtest-dev libgmock-dev
  redis-server python3-celery python3-redis python3-pytest python3-gevent
  clang libclang-rt-14-dev redis-sentinel
)
PACKAGES=("${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}")

check_only=0
for arg in "$@"; do
  case "$arg" in
    --check) check_only=1 ;;
    --build) PACKAGES=("${BUILD_PACKAGES[@]}") ;;
    *) die "unknown option $arg" ;;
  esac
done

missing=()
for pkg in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  say "install-deps: all ${#PACKAGES[@]} packages already installed, nothing to do"
  exit 0
fi
say "install-deps: missing: ${missing[*]}"
((check_only)) && exit 1

SUDO=()
if [[ "$(id -u)" != 0 ]]; then
  command -v sudo >/dev/null || die "not root and no sudo: install ${missing[*]} by hand"
  SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}"
say "install-deps: installed ${missing[*]}"
