#!/usr/bin/env bash
# Builds Catch2 3 (what vcpkg and Conan ship) into build/catch2-v3/prefix, so the tests can
# be checked against it as well as Debian 12's Catch2 2.13: `cmake --workflow --preset catch2-v3`.
# The source comes from Debian's own archive (the next release's catch2 source package),
# fetched with apt-get into a private directory: the machine's apt setup is left as it is.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD/build/catch2-v3"
prefix="$root/prefix"
if [ -f "$prefix/lib/cmake/Catch2/Catch2Config.cmake" ]; then
  echo "Catch2 3 is already in $prefix"
  exit 0
fi
rm -rf "$root" && mkdir -p "$root/apt/lists/partial" "$root/src"
echo "deb-src http://deb.debian.org/debian trixie main" > "$root/apt/sources.list"
apt_opts=(-q -o "Dir::Etc::SourceList=$root/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$root/apt/lists" -o APT::Sandbox::User=root)
apt-get "${apt_opts[@]}" update >/dev/null
(cd "$root/src" && apt-get "${apt_opts[@]}" source --download-only catch2 >/dev/null)
tarball=$(ls "$root"/src/catch2_3.*.orig.tar.gz 2>/dev/null | head -n1)
[ -n "$tarball" ] || { echo "tools/catch2-v3.sh: Debian's archive offered no Catch2 3 source" >&2; exit 1; }
tar -xzf "$tarball" -C "$root/src"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$root"/src/Catch2-3.* -B "$root/build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_TESTING=OFF -DCATCH_INSTALL_DOCS=OFF >/dev/null
cmake --build "$root/build" >/dev/null
cmake --install "$root/build" --prefix "$prefix" >/dev/null
echo "Catch2 $(basename "$tarball" | sed 's/catch2_\(.*\)\.orig.*/\1/') installed in $prefix"
