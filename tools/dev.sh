#!/usr/bin/env bash
# The developer entry point, and what the README's quick start runs.
#   tools/dev.sh demo   build hmr and hello_server, and run the server under hmr
#   tools/dev.sh demo reload   the hot reload demo: counter_server, whose handler reloads
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

# The demos without a terminal (CI): hmr runs in the background without keys, its output
# in $demo_log; each step waits for the line it expects and fails after a minute.
demo_log=build/demo/demo.log
demo_pid=
start_scripted() {
  "$1" --no-keys "${@:2}" >"$demo_log" 2>&1 &
  demo_pid=$!
}
# wait_for_line PATTERN [COUNT]: until PATTERN appears COUNT (default 1) times in the log.
wait_for_line() {
  local deadline=$((SECONDS + 60))
  until [ "$(grep -c -- "$1" "$demo_log")" -ge "${2:-1}" ]; do
    kill -0 "$demo_pid" 2>/dev/null || { cat "$demo_log"; die "hmr ended before: $1"; }
    [ "$SECONDS" -lt "$deadline" ] || { kill -INT "$demo_pid"; cat "$demo_log"; die "no '$1' within 60 s"; }
    sleep 0.1
  done
}
# finish_scripted: Ctrl-C, which must end hmr with exit code 0; then the log.
finish_scripted() {
  local status=0
  kill -INT "$demo_pid"
  wait "$demo_pid" || status=$?
  cat "$demo_log"
  [ "$status" -eq 0 ] || die "hmr exited with $status after Ctrl-C (expected 0)"
}
# ask LINE EXPECTED: sends LINE on the open connection (fd 3), checks the answer.
ask() {
  local reply=
  printf '%s\n' "$1" >&3
  read -r -t 10 reply <&3 || true
  [ "$reply" = "$2" ] || { kill -INT "$demo_pid"; cat "$demo_log"; die "asked '$1': got '$reply', expected '$2'"; }
  echo "  asked '$1', got '$reply'"
}

demo_restart_scripted() {
  echo "tools/dev.sh demo: no terminal, so a scripted run: start, save greeting.hpp, quit"
  start_scripted "$@"
  wait_for_line 'hello_server generation 1'
  # A real edit: a save that leaves the built server as it was is "no effect", not a restart.
  local greeting=examples/hello_server/greeting.hpp
  cp "$greeting" build/demo/greeting.hpp.saved
  trap 'mv build/demo/greeting.hpp.saved examples/hello_server/greeting.hpp' EXIT
  sed -i 's/"Hello from hmr!"/"Hello again from hmr!"/' "$greeting"
  wait_for_line 'hello_server generation 2'
  finish_scripted
}

# The hot reload demo without a terminal: the handler saved unchanged is no effect and the
# connection and count go on; main.cpp saved restarts the server by the --restart-on rule.
demo_reload_scripted() {
  echo "tools/dev.sh demo reload: no terminal, so a scripted run"
  start_scripted "$@"
  wait_for_line 'counter_server listening on'
  local port
  port=$(sed -n 's/^counter_server listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$demo_log" | head -n1)
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  ask one 'hello #1: one'
  touch examples/counter_server/handler.cpp
  wait_for_line 'no effect'
  ask two 'hello #2: two'
  touch examples/counter_server/main.cpp
  wait_for_line 'counter_server restarted: change'
  exec 3<&-
  exec 3<>"/dev/tcp/127.0.0.1/$(sed -n 's/^counter_server listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$demo_log" | tail -n1)"
  ask three 'hello #1: three'
  exec 3<&-
  finish_scripted
}

case "${1:-}" in
  demo)
    check_toolchain
    have dpkg-query && apt_install ninja-build
    cmake --preset demo >/dev/null
    if [ "${2:-}" = reload ]; then
      cmake --build build/demo --target hmr_cli counter_server counter_handler
      demo=(build/demo/examples/cli/hmr -w examples/counter_server
            --reload build/demo/examples/counter_server/libcounter_handler.so
            --restart-on main.cpp
            --build "cmake --build build/demo --target counter_server counter_handler"
            -- build/demo/examples/counter_server/counter_server)
      if ! [ -t 0 ] || ! [ -t 1 ]; then
        demo_reload_scripted "${demo[@]}" 0  # port 0: any free one
        exit 0
      fi
      cat <<'EOF'

hmr is running counter_server with its handler as a hot-reloadable module. In another
terminal: nc 127.0.0.1 8081, and type a few lines. Then:
  - edit greeting in examples/counter_server/handler.cpp and save: reloaded, the count and
    your connection survive;
  - edit examples/counter_server/main.cpp and save: restarted (the --restart-on rule);
  - add a field to counter_state in handler.cpp and save: the reload is refused, naming
    the slot, and hmr restarts the server instead.
Keys: r reload, R restart, b rebuild, h help, q quit. Walkthrough: docs/hot-reload.md

EOF
      exec "${demo[@]}" 8081
    fi
    cmake --build --preset demo
    demo=(build/demo/examples/cli/hmr --watch examples/hello_server
          --build "cmake --build build/demo --target hello_server"
          -- build/demo/examples/hello_server)
    if [ -t 0 ] && [ -t 1 ]; then
      cat <<'EOF'

hmr is running hello_server. Edit examples/hello_server/greeting.hpp and save: hmr
rebuilds the server and restarts it. Ask it with: curl http://127.0.0.1:8080/
Keys: r restart, b rebuild, p pause, h help, q quit.

EOF
      exec "${demo[@]}"
    fi
    demo_restart_scripted "${demo[@]}"
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
    echo "usage: tools/dev.sh demo [reload] | test | deps" >&2
    exit 2
    ;;
esac
