#!/usr/bin/env bash
# The packaging test: install hmr to a staging prefix, move it (installs must be
# relocatable), then build and run one consumer three ways: find_package, pkg-config,
# and as a Meson subproject. Then the package channels that cannot run here (no conan, no
# vcpkg) are checked through what they rely on: the Conan recipe's steps with a stand-in
# for conan (conan_check.py), the vcpkg portfile with stand-ins for vcpkg's helpers
# (vcpkg-stubs.cmake), and the Meson wrap fetched from a local clone. The CLI is compiled
# once and reused. Usage: tests/package/run.sh [WORKDIR]
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=${1:-$(mktemp -d)}
rm -rf "$work" && mkdir -p "$work" && work=$(cd "$work" && pwd)
consumer="$src/tests/package/consumer"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
step() { echo "== package test [${SECONDS}s]: $*"; }

step "install with the options packagers pass (tests off, no absolute destinations), CLI on"
cmake -S "$src" -B "$work/hmr-build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release --no-warn-unused-cli \
  -DHMR_BUILD_TESTS=OFF -DHMR_BUILD_EXAMPLES=OFF -DHMR_BUILD_CLI=ON \
  -DCMAKE_ERROR_ON_ABSOLUTE_INSTALL_DESTINATION=ON -DCMAKE_INSTALL_PREFIX=/opt/hmr-never-used >/dev/null
# CMAKE_ERROR_ON_ABSOLUTE_INSTALL_DESTINATION only takes effect when the install script
# itself is given it (cmake --install does not pass the cache on), so look for what it
# would reject: an install rule with an absolute destination.
if grep -rl --include=cmake_install.cmake "CMAKE_ABSOLUTE_DESTINATION_FILES" "$work/hmr-build"; then
  echo "the install rules above have an absolute DESTINATION (vcpkg rejects them)" >&2
  exit 1
fi
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
cmake -S "$work/version-check" -B "$work/version-check/build" "${generator[@]}" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null

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
# --force-fallback-for: otherwise the hmr.pc on PKG_CONFIG_PATH (above) satisfies dependency().
meson setup --force-fallback-for=hmr "$work/meson-consumer/build" "$work/meson-consumer" >/dev/null
meson compile -C "$work/meson-consumer/build" >/dev/null
"$work/meson-consumer/build/consumer"
meson_version=$(sed -n "s/^  version: '\([0-9.]*\)',$/\1/p" "$src/meson.build")
[ "$meson_version" = "$version" ] || { echo "meson.build says $meson_version, version.hpp says $version" >&2; exit 1; }

step "Conan recipe (no conan here): metadata, export, build/package for cli=False and cli=True, test_package"
python3 "$src/tests/package/conan_check.py" "$src" "$work/conan" "$work/hmr-build"

step "vcpkg port (no vcpkg here): the portfile with emulated helpers, hmr[core] and hmr[cli]"
cmake_generator=()
command -v ninja >/dev/null && cmake_generator=(-DGENERATOR=Ninja)
cmake -DSRC="$src" -DWORK="$work/vcpkg-core" -DFEATURES=core "${cmake_generator[@]}" \
  -P "$src/tests/package/vcpkg-stubs.cmake"
# hmr[cli] reuses the CLI build above: reconfigured with vcpkg's options, nothing recompiles.
cmake -DSRC="$src" -DWORK="$work/vcpkg" "-DFEATURES=core;cli" -DREUSE_BUILD="$work/hmr-build" \
  "${cmake_generator[@]}" -P "$src/tests/package/vcpkg-stubs.cmake"
vcpkg_tree="$work/vcpkg/packages/hmr_x64-linux"
vcpkg_cli_version=$("$vcpkg_tree/tools/hmr/hmr" --version)
[ "$vcpkg_cli_version" = "hmr $version" ] || { echo "tools/hmr/hmr --version says '$vcpkg_cli_version'" >&2; exit 1; }
# What the vcpkg toolchain does for a consumer: the installed tree on CMAKE_PREFIX_PATH.
cmake -S "$consumer" -B "$work/vcpkg-consumer" "${generator[@]}" -DCMAKE_PREFIX_PATH="$vcpkg_tree" >/dev/null
cmake --build "$work/vcpkg-consumer" >/dev/null
"$work/vcpkg-consumer/consumer"
vcpkg_cflags=$(PKG_CONFIG_PATH="$vcpkg_tree/share/pkgconfig" pkg-config --cflags hmr)
vcpkg_include=$(cd "$(echo "$vcpkg_cflags" | sed 's/^-I//; s/ *$//')" && pwd)
[ "$vcpkg_include" = "$vcpkg_tree/include" ] || { echo "vcpkg tree: hmr.pc gives '$vcpkg_cflags'" >&2; exit 1; }

step "Meson wrap (packaging/meson/hmr.wrap, [wrap-git] from a local clone): dependency('hmr')"
# A git repository holding the working tree as it is (committed or not), for the wrap to clone.
mkdir -p "$work/hmr-git"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  git -C "$src" ls-files -z -co --exclude-standard \
    | (cd "$src" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) \
    | tar -C "$src" --null -T - -cf - | tar -C "$work/hmr-git" -xf -
else
  tar -C "$src" --exclude=./build --exclude=./.git -cf - . | tar -C "$work/hmr-git" -xf -
fi
git -C "$work/hmr-git" -c init.defaultBranch=main init -q
git -C "$work/hmr-git" add -A
git -C "$work/hmr-git" -c user.name=package-test -c user.email=package-test@invalid commit -qm snapshot
wrap_consumer="$work/meson-wrap-consumer"
mkdir -p "$wrap_consumer/subprojects"
cp "$src/tests/package/wrap-consumer/meson.build" "$src/test_package/main.cpp" "$wrap_consumer/"
# The shipped wrap file with only its url changed, as its comment tells users to do.
[ "$(grep -c '^url = ' "$src/packaging/meson/hmr.wrap")" = 1 ]
sed "s|^url = .*|url = file://$work/hmr-git|" "$src/packaging/meson/hmr.wrap" > "$wrap_consumer/subprojects/hmr.wrap"
# --force-fallback-for: the hmr.pc found through PKG_CONFIG_PATH above must not satisfy it.
meson setup --force-fallback-for=hmr "$wrap_consumer/build" "$wrap_consumer" >/dev/null
test -f "$wrap_consumer/subprojects/hmr/include/hmr/hmr.hpp"  # cloned through the wrap
meson compile -C "$wrap_consumer/build" >/dev/null
"$wrap_consumer/build/consumer"
meson_tests=$(meson introspect "$wrap_consumer/build" --tests)
[ "$meson_tests" = "[]" ] || { echo "without -Dhmr:cli=true, find_program('hmr') found one: $meson_tests" >&2; exit 1; }

step "Meson option cli: -Dhmr:cli=true installs bin/hmr and answers find_program('hmr') (configured, not compiled)"
meson setup --force-fallback-for=hmr -Dhmr:cli=true "$wrap_consumer/build-cli" "$wrap_consumer" >/dev/null
python3 - "$wrap_consumer/build-cli" <<'PY'
import json, subprocess, sys
build = sys.argv[1]
def introspect(what):
    return json.loads(subprocess.run(["meson", "introspect", build, what], check=True,
                                     capture_output=True, text=True).stdout)
hmr = [t for t in introspect("--targets") if t["name"] == "hmr" and t["type"] == "executable"]
assert len(hmr) == 1 and hmr[0]["installed"], f"no installed hmr executable: {hmr}"
assert [f for f in hmr[0]["install_filename"] if f.endswith("/bin/hmr")], hmr[0]["install_filename"]
tests = [t["name"] for t in introspect("--tests")]
assert tests == ["hmr --version"], f"find_program('hmr') did not find the subproject's: {tests}"
PY

step "all consumers built and ran; the Conan recipe, vcpkg port and Meson wrap checked"
