#!/usr/bin/env bash
# The developer entry point, and what the README's quick start runs.
#   tools/dev.sh demo   build the examples and run the demo on this checkout
#   tools/dev.sh test   build and run every test (the `dev` CMake workflow preset)
#   tools/dev.sh deps   install what the build, tests, CI, benchmarks and fuzzers need
# It needs git, a C++20 compiler and CMake >= 3.25; anything else it installs with
# apt-get when it is missing (as root, or through sudo).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { echo "tools/dev.sh: $*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# apt_install PKG...: installs the Debian packages among PKG that are not installed yet.
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  have apt-get || die "missing ${missing[*]}: install them with your package manager, then run this again"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    have sudo || die "missing ${missing[*]}: run 'apt-get install ${missing[*]}' as root, then run this again"
    sudo=(sudo)
  fi
  echo "tools/dev.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine may have no package lists yet; refresh them once before installing.
  if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

check_toolchain() {
  have cmake || die "CMake >= 3.25 is needed: apt-get install cmake"
  have c++ || have g++ || have clang++ || die "a C++20 compiler is needed: apt-get install g++"
}

case "${1:-}" in
  demo)
    check_toolchain
    have dpkg-query && apt_install ninja-build
    cmake --preset demo >/dev/null
    cmake --build --preset demo
    exec build/demo/examples/hmr_demo "$PWD"
    ;;
  test)
    check_toolchain
    # python3: the process tests run a small loopback server behind a shell.
    have dpkg-query && apt_install ninja-build catch2 python3
    cmake --workflow --preset dev
    ;;
  deps)
    apt_install ninja-build catch2 python3 meson pkg-config clang libclang-rt-14-dev libbenchmark-dev
    ;;
  *)
    echo "usage: tools/dev.sh demo | test | deps" >&2
    exit 2
    ;;
esac
