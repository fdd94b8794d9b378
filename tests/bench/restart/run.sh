#!/usr/bin/env bash
# Side-by-side restart-latency benchmark: hmr::restart_strategy against `entr -r` and nodemon,
# all restarting the same child, in one run. Installs the peers when they are missing, builds
# the driver and the child, runs everything (about 4 minutes) and writes the table to
# build/bench-restart/results.md.
#
# Usage: tests/bench/restart/run.sh [restart_bench options...]   (see README.md)
# Environment:
#   OUT=DIR         where the binaries and results.md go (default build/bench-restart)
#   PEERS=DIR       where nodemon is installed with npm (default build/bench-peers, shared
#                   with the watch benchmark)
#   WORK=DIR        scratch directory for the FIFO and watched files (default /tmp/rbench-work)
#   NO_INSTALL=1    do not install missing peers (they are skipped instead)
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
here=$src/tests/bench/restart
out=${OUT:-$src/build/bench-restart}
peers=${PEERS:-$src/build/bench-peers}
mkdir -p "$out" "$peers"
say() { echo "== run.sh: $*"; }

# The peers: entr from apt, nodemon from npm into a private dir.
source "$src/tests/bench/peers.sh"
apt_peers entr=entr
npm_peer "$peers" nodemon@3 nodemon/bin/nodemon.js

say "building the child and the driver (g++ -O2 -DNDEBUG)"
g++ -O2 -Wl,--as-needed "$here/child.cpp" -o "$out/restart_child"
g++ -O2 -DNDEBUG -std=c++20 -I"$src/include" "$here/restart_bench.cpp" \
  -o "$out/restart_bench" -pthread

args=(--child="$out/restart_child" --out="$out/results.md" --work="${WORK:-/tmp/rbench-work}")
command -v node >/dev/null && [ -f "$peers/node_modules/nodemon/bin/nodemon.js" ] &&
  args+=(--nodemon="$peers/node_modules/nodemon/bin/nodemon.js")
say "running: restart_bench ${args[*]} $*"
"$out/restart_bench" "${args[@]}" "$@"
say "table written to $out/results.md"
