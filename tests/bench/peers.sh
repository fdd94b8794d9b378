# Sourced by the side-by-side benchmarks' run.sh: installs the peer tools they compare
# hmr with, unless NO_INSTALL=1. A peer that cannot be installed is skipped, not fatal.
# Needs `say` from the caller.

# apt_peers COMMAND=PACKAGE...: installs, with apt-get, each PACKAGE whose COMMAND is missing.
apt_peers() {
  [ -z "${NO_INSTALL:-}" ] || return 0
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%=*}" >/dev/null || missing+=("${pair#*=}")
  done
  ((${#missing[@]})) || return 0
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get install -y -q "${missing[@]}" >/dev/null ||
    { "${sudo[@]}" apt-get update -q >/dev/null && "${sudo[@]}" apt-get install -y -q "${missing[@]}" >/dev/null; } ||
    say "could not install ${missing[*]}; those peers are skipped"
}

# npm_peer DIR PACKAGE@VERSION FILE: installs PACKAGE into DIR/node_modules with npm unless
# DIR/node_modules/FILE exists already.
npm_peer() {
  [ -z "${NO_INSTALL:-}" ] || return 0
  [ ! -f "$1/node_modules/$3" ] && command -v npm >/dev/null || return 0
  say "installing ${2%@*} into $1"
  (cd "$1" && npm install --no-audit --no-fund --silent "$2" >/dev/null) ||
    say "could not install ${2%@*}; it is skipped"
}
