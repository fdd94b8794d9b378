#!/usr/bin/env bash
# Side-by-side file watcher benchmark (issue 3): hmr_watch against inotifywait, fswatch and
# chokidar-cli, all in one run on the same trees. Installs the peers when they are missing,
# builds the driver and hmr_watch, runs everything (about 5 minutes) and writes the table
# to build/bench-watch/results.md.
#
# Usage: tests/bench/watch/run.sh [watch_bench options...]   (see README.md)
# Environment:
#   HMR_WATCH=PATH  use this hmr_watch instead of building examples/watch/main.cpp
#   WORK=DIR        where the trees go (default /tmp/hmr-watch-bench)
#   KEEP_TREE=1     keep the 100k-file tree for the next run (saves ~10 s)
#   NO_INSTALL=1    do not install missing peers (they are skipped instead)
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
out=$src/build/bench-watch
peers=$src/build/bench-peers
mkdir -p "$out" "$peers"
say() { echo "== run.sh: $*"; }

# The peers: inotify-tools and fswatch from apt, chokidar-cli from npm into a private dir.
source "$src/tests/bench/peers.sh"
apt_peers inotifywait=inotify-tools fswatch=fswatch
npm_peer "$peers" chokidar-cli@3 chokidar-cli/index.js

say "building the driver"
g++ -O2 -std=c++20 -I"$src/include" "$src/tests/bench/watch/watch_bench.cpp" \
  -o "$out/watch_bench" -pthread

hmr=${HMR_WATCH:-}
if [ -z "$hmr" ] && [ -f "$src/examples/watch/main.cpp" ]; then
  say "building hmr_watch (g++ -O2 -DNDEBUG)"
  if g++ -O2 -DNDEBUG -std=c++20 -I"$src/include" "$src/examples/watch/main.cpp" \
    -o "$out/hmr_watch" -pthread 2>"$out/hmr_watch.build.log"; then
    hmr=$out/hmr_watch
  else
    say "hmr_watch does not build (see $out/hmr_watch.build.log); running the peers only"
    head -20 "$out/hmr_watch.build.log" >&2 || true
  fi
fi

args=(--out="$out/results.md" --work="${WORK:-/tmp/hmr-watch-bench}")
[ -n "$hmr" ] && args+=(--hmr="$hmr")
command -v node >/dev/null && [ -f "$peers/node_modules/chokidar-cli/index.js" ] &&
  args+=(--chokidar="$peers/node_modules/chokidar-cli/index.js")
[ -n "${KEEP_TREE:-}" ] && args+=(--keep-tree)
say "running: watch_bench ${args[*]} $*"
"$out/watch_bench" "${args[@]}" "$@"
say "table written to $out/results.md"
