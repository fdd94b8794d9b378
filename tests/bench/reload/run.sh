#!/usr/bin/env bash
# Save -> reloaded versus save -> restarted on the counter_server example, through the real
# `hmr` binary, excluding the compile. Builds hmr, the server and two builds of its handler
# (greeting "hello" and "bonjour") with g++ -O2, then runs the driver (about 30 s for 100
# samples of each) and writes the table to build/bench-reload/results.md.
#
# Usage: tests/bench/reload/run.sh [reload_bench options...]   (see README.md)
# Environment:
#   OUT=DIR    where the binaries and results.md go (default build/bench-reload)
#   WORK=DIR   scratch directory watched by hmr (default /tmp/reload-bench-work; emptied)
#   HMR=PATH   an hmr binary to use instead of building one
#   CXX=...    the compiler (default g++)
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
here=$src/tests/bench/reload
example=$src/examples/counter_server
out=${OUT:-$src/build/bench-reload}
cxx=${CXX:-g++}
mkdir -p "$out"
say() { echo "== run.sh: $*"; }

flags=(-std=c++20 -O2 -DNDEBUG -I"$src/include")
if [ -z "${HMR:-}" ]; then
  say "building hmr ($cxx -O2)"
  "$cxx" "${flags[@]}" "$src/examples/cli/main.cpp" -o "$out/hmr" -pthread
  HMR=$out/hmr
fi
say "building counter_server and two builds of its handler"
"$cxx" "${flags[@]}" "$example/main.cpp" -o "$out/counter_server" -pthread
module_flags=(-shared -fPIC -fvisibility=hidden -Wl,-Bsymbolic)   # as hmr_add_module
"$cxx" --version | grep -qi clang || module_flags+=(-fno-gnu-unique)
for greeting in hello bonjour; do
  sed "s/greeting = \"hello\"/greeting = \"$greeting\"/" "$example/handler.cpp" > "$out/handler_$greeting.cpp"
  grep -q "greeting = \"$greeting\"" "$out/handler_$greeting.cpp"
  "$cxx" "${flags[@]}" -I"$example" "${module_flags[@]}" "$out/handler_$greeting.cpp" -o "$out/handler_$greeting.so"
done
"$cxx" "${flags[@]}" "$here/reload_bench.cpp" -o "$out/reload_bench"

args=(--hmr="$HMR" --server="$out/counter_server" --hello="$out/handler_hello.so"
      --bonjour="$out/handler_bonjour.so" --work="${WORK:-/tmp/reload-bench-work}" --out="$out/results.md")
say "running: reload_bench ${args[*]} $*"
"$out/reload_bench" "${args[@]}" "$@"
say "table written to $out/results.md"
