#!/usr/bin/env bash
# The packaging test: install hmr to a staging prefix, move it (installs must be
# relocatable), then build and run one consumer three ways: find_package, pkg-config,
# and as a Meson subproject. Usage: tests/package/run.sh [WORKDIR]
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=${1:-$(mktemp -d)}
rm -rf "$work" && mkdir -p "$work" && work=$(cd "$work" && pwd)
consumer="$src/tests/package/consumer"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
step() { echo "== package test: $*"; }

step "install with the options packagers pass (tests off, no absolute destinations), CLI on"
cmake -S "$src" -B "$work/hmr-build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release --no-warn-unused-cli \
  -DHMR_BUILD_TESTS=OFF -DHMR_BUILD_EXAMPLES=OFF -DHMR_BUILD_CLI=ON \
  -DCMAKE_ERROR_ON_ABSOLUTE_INSTALL_DESTINATION=ON -DCMAKE_INSTALL_PREFIX=/opt/hmr-never-used >/dev/null
cmake --build "$work/hmr-build" >/dev/null
DESTDIR="$work/stage" cmake --install "$work/hmr-build" >/dev/null
# Move the installed tree away from where it was staged: nothing may point back.
mv "$work/stage/opt/hmr-never-used" "$work/prefix"
prefix="$work/prefix"
test -f "$prefix/include/hmr/hmr.hpp"
test -f "$prefix/share/cmake/hmr/hmrConfig.cmake"
test -f "$prefix/share/cmake/hmr/hmrConfigVersion.cmake"
test -f "$prefix/share/pkgconfig/hmr.pc"
if grep -rq "$work/stage\|hmr-never-used\|$src" "$prefix/share"; then
  echo "the installed package files name a build or staging path:" >&2
  grep -rn "$work/stage\|hmr-never-used\|$src" "$prefix/share" >&2
  exit 1
fi
version=$(sed -n 's/.*version_string = "\([0-9.]*\)".*/\1/p' "$src/include/hmr/version.hpp")

step "the installed hmr runs"
cli_version=$("$prefix/bin/hmr" --version)
[ "$cli_version" = "hmr $version" ] || { echo "bin/hmr --version says '$cli_version', expected 'hmr $version'" >&2; exit 1; }

step "find_package(hmr CONFIG REQUIRED) + hmr::hmr"
cmake -S "$consumer" -B "$work/cmake-consumer" "${generator[@]}" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake-consumer" >/dev/null
"$work/cmake-consumer/consumer"
step "find_package(hmr $version EXACT) accepts the installed version"
mkdir -p "$work/version-check"
cat > "$work/version-check/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.25)
project(version_check LANGUAGES CXX)
find_package(hmr $version EXACT CONFIG REQUIRED)
CMAKE
cmake -S "$work/version-check" -B "$work/version-check/build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null

step "pkg-config"
export PKG_CONFIG_PATH="$prefix/share/pkgconfig"
pc_version=$(pkg-config --modversion hmr)
[ "$pc_version" = "$version" ] || { echo "hmr.pc says $pc_version, version.hpp says $version" >&2; exit 1; }
# shellcheck disable=SC2046
${CXX:-c++} -std=c++20 $(pkg-config --cflags hmr) "$consumer/main.cpp" $(pkg-config --libs hmr) \
  -o "$work/pkgconfig-consumer"
"$work/pkgconfig-consumer"

step "Meson subproject (dependency('hmr'))"
mkdir -p "$work/meson-consumer/subprojects"
cp "$consumer/meson.build" "$consumer/main.cpp" "$work/meson-consumer/"
ln -s "$src" "$work/meson-consumer/subprojects/hmr"
meson setup "$work/meson-consumer/build" "$work/meson-consumer" >/dev/null
meson compile -C "$work/meson-consumer/build" >/dev/null
"$work/meson-consumer/build/consumer"
meson_version=$(sed -n "s/^  version: '\([0-9.]*\)',$/\1/p" "$src/meson.build")
[ "$meson_version" = "$version" ] || { echo "meson.build says $meson_version, version.hpp says $version" >&2; exit 1; }

step "all three consumers built and ran"
