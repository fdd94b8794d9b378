#!/usr/bin/env bash
# Module reload latency: image complete -> new code running in the host, for a ~15 KB and a
# ~1 MB module, with hmr::module (sync and automatic modes) and, when CR_H names a cr.h,
# with cr.h side by side. Builds everything with g++ -O2 and prints a markdown table
# (also written to $OUT/results.md).
#
# Usage: tests/bench/module/run.sh [module_bench options, e.g. --reloads=500]
# Environment:
#   OUT=DIR    where the builds and results.md go (default build/bench-module)
#   CXX=...    the compiler (default g++)
#   CR_H=PATH  a cr.h (https://github.com/fungos/cr) to compare with; skipped when unset
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
here=$src/tests/bench/module
out=${OUT:-$src/build/bench-module}
cxx=${CXX:-g++}
mkdir -p "$out"
say() { echo "== run.sh: $*" >&2; }

# The big module's generated code: 2,400 functions and a table of pointers to them
# (code plus relocations, as a real module has), about 1 MB once built.
if [ ! -f "$out/big.inc" ]; then
  say "generating big.inc"
  awk 'BEGIN {
    n = 2400
    for (i = 0; i < n; ++i) {
      printf "static std::uint64_t g%d(std::uint64_t x) {\n", i
      printf "  for (int k = 0; k < %d; ++k) {\n", 3 + i % 5
      printf "    switch ((x >> k) & 7) {\n"
      for (c = 0; c < 8; ++c) printf "      case %d: x = x * %d + %d; x ^= x >> %d; break;\n", c, 2 * (i + c) + 1, i * 7 + c, 1 + (i + c) % 31
      printf "    }\n  }\n  return x;\n}\n"
    }
    printf "static std::uint64_t (*const table[%d])(std::uint64_t) = {\n", n
    for (i = 0; i < n; ++i) printf "  &g%d,\n", i
    printf "};\n"
    printf "static std::uint64_t big_work(std::uint64_t x) { return table[x %% %d](x); }\n", n
  }' > "$out/big.inc"
fi

flags=(-std=c++20 -O2 -fPIC -shared -fvisibility=hidden -Wl,-Bsymbolic "-I$src/include" "-I$here" "-I$out")
"$cxx" --version 2>&1 | grep -q clang || flags+=(-fno-gnu-unique)
for id in 1 2; do
  say "building the modules, id $id"
  "$cxx" "${flags[@]}" -DBENCH_ID=$id "$here/bench_module.cpp" -o "$out/small$id.so"
  "$cxx" "${flags[@]}" -DBENCH_ID=$id -DBENCH_BIG "$here/bench_module.cpp" -o "$out/big$id.so"
done
driver_flags=(-std=c++20 -O2 -DNDEBUG -pthread "-I$src/include" "-I$here")
cr_args=()
if [ -n "${CR_H:-}" ]; then
  say "building the cr.h side with $CR_H"
  driver_flags+=("-DHMR_BENCH_CR_H=\"$CR_H\"")
  for id in 1 2; do
    "$cxx" "${flags[@]}" "-DHMR_BENCH_CR_H=\"$CR_H\"" -DBENCH_ID=$id "$here/cr_guest.cpp" -o "$out/cr_small$id.so"
    "$cxx" "${flags[@]}" "-DHMR_BENCH_CR_H=\"$CR_H\"" -DBENCH_ID=$id -DBENCH_BIG "$here/cr_guest.cpp" -o "$out/cr_big$id.so"
  done
  cr_args=("--cr-pair=small:$out/cr_small1.so:$out/cr_small2.so" "--cr-pair=big:$out/cr_big1.so:$out/cr_big2.so")
else
  say "CR_H is not set: the cr.h side is skipped"
fi
say "building the driver"
"$cxx" "${driver_flags[@]}" "$here/module_bench.cpp" -o "$out/module_bench" -ldl
say "running"
"$out/module_bench" "--pair=small:$out/small1.so:$out/small2.so" \
  "--pair=big:$out/big1.so:$out/big2.so" ${cr_args[@]+"${cr_args[@]}"} "$@" | tee "$out/results.md"
