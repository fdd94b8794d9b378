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
if [ -z "${NO_INSTALL:-}" ]; then
  if ! command -v entr >/dev/null; then
    sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    say "installing entr"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get install -y -q entr >/dev/null ||
      { "${sudo[@]}" apt-get update -q >/dev/null && "${sudo[@]}" apt-get install -y -q entr >/dev/null; } ||
      say "could not install entr; it is skipped"
  fi
  if [ ! -f "$peers/node_modules/nodemon/bin/nodemon.js" ] && command -v npm >/dev/null; then
    say "installing nodemon into $peers"
    (cd "$peers" && npm install --no-audit --no-fund --silent nodemon@3 >/dev/null) ||
      say "could not install nodemon; it is skipped"
  fi
fi

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
