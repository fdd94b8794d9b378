#!/usr/bin/env bash
# End-to-end benchmark: a watched file saved -> the new child's first line, through the real
# `hmr` binary, side by side with `entr -r` and `nodemon --delay 0`, all supervising the same
# child, in one run. Installs the peers when missing, builds the driver and the child, builds
# `hmr` (Release) when no binary is given, runs everything (about 6 minutes) and writes the
# table to $OUT/results.md.
#
# Usage: tests/bench/cli/run.sh [HMR_BINARY] [cli_bench options...]   (see README.md)
# Environment:
#   HMR=PATH        the hmr binary to measure (or the first argument, when it is not an
#                   --option). Default: $OUT/hmr-build/examples/cli/hmr, configured and built here
#                   from this source tree with -DCMAKE_BUILD_TYPE=Release when it is missing.
#   OUT=DIR         binaries and results.md (default build/bench-cli)
#   PEERS=DIR       where nodemon is installed with npm (default build/bench-peers, shared
#                   with the restart and watch benchmarks)
#   WORK=DIR        scratch directory for the watched files and logs (default /tmp/cli-bench-work)
#   NO_INSTALL=1    do not install missing peers (they are skipped instead)
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
here=$src/tests/bench/cli
out=${OUT:-$src/build/bench-cli}
peers=${PEERS:-$src/build/bench-peers}
mkdir -p "$out" "$peers"
say() { echo "== run.sh: $*"; }

hmr=${HMR:-}
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then hmr=$1; shift; fi
if [ -z "$hmr" ]; then
  hmr=$out/hmr-build/examples/cli/hmr
  if [ ! -x "$hmr" ]; then
    say "building hmr (Release) in $out/hmr-build"
    cmake -S "$src" -B "$out/hmr-build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DHMR_BUILD_TESTS=OFF >/dev/null
    cmake --build "$out/hmr-build" --target hmr_cli -j1
  fi
fi
[ -x "$hmr" ] || { echo "run.sh: no hmr binary at $hmr (give one: HMR=PATH or first argument)" >&2; exit 2; }

# The peers: entr from apt, nodemon from npm into a private dir.
source "$src/tests/bench/peers.sh"
apt_peers entr=entr
npm_peer "$peers" nodemon@3 nodemon/bin/nodemon.js

say "building the child and the driver (-O2)"
g++ -O2 -Wl,--as-needed "$here/child.cpp" -o "$out/cli_bench_child"
g++ -O2 -DNDEBUG -std=c++20 "$here/cli_bench.cpp" -o "$out/cli_bench"

args=(--hmr="$hmr" --child="$out/cli_bench_child" --out="$out/results.md"
      --work="${WORK:-/tmp/cli-bench-work}")
command -v node >/dev/null && [ -f "$peers/node_modules/nodemon/bin/nodemon.js" ] &&
  args+=(--nodemon="$peers/node_modules/nodemon/bin/nodemon.js")
say "running: cli_bench ${args[*]} $*"
"$out/cli_bench" "${args[@]}" "$@"
say "table written to $out/results.md"
