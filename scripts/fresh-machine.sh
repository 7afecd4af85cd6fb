#!/usr/bin/env bash
# The README's set-up as a new user meets it: a clean clone, an empty cache, and none of the
# system tools the emulated host must not depend on (qemu-system-x86_64, busybox, flex, bison,
# bc). Inside a private mount namespace every copy of those tools on PATH is covered by an
# empty, non-executable file; then the README's two commands run with no other command.
#
#   scripts/fresh-machine.sh [--cache DIR] [--demo-only | --run CMD] REPO WORKDIR
#
# REPO is what `git clone` takes; the clone goes to WORKDIR/vfio. The cache is WORKDIR/cache
# (through XDG_CACHE_HOME) unless --cache names another one, so the first run is cold.
# --demo-only stops after `npm install && npm run demo`; --run CMD runs `npm install && CMD`
# instead (one step cold, e.g. --run 'npx vfio-vm kernel build'). Needs root (unshare -m) and gcc/make,
# the prerequisites the README names for `npm test`.
set -euo pipefail

usage() { echo "usage: $0 [--cache DIR] [--demo-only | --run CMD] REPO WORKDIR" >&2; exit 2; }
cache='' demo_only=0 run=''
while [ $# -gt 0 ]; do
  case "$1" in
    --cache) [ $# -ge 2 ] || usage; cache="$2"; shift 2 ;;
    --demo-only) demo_only=1; shift ;;
    --run) [ $# -ge 2 ] || usage; run="$2"; shift 2 ;;
    -*) usage ;;
    *) break ;;
  esac
done
[ $# -eq 2 ] || usage
repo="$1" work="$2"
[ "$(id -u)" -eq 0 ] || { echo "$0: needs root for its mount namespace (unshare -m)" >&2; exit 2; }
[ ! -e "$work/vfio" ] || { echo "$0: $work/vfio exists: give an empty WORKDIR" >&2; exit 2; }
mkdir -p "$work"
work="$(cd "$work" && pwd)"
cache="${cache:-$work/cache}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"

git clone -q "$repo" "$work/vfio"
blocker="$work/not-a-program"
: >"$blocker"
chmod 0644 "$blocker"

hidden=(qemu-system-x86_64 busybox flex bison bc)
commands='npm install && npm run demo'
[ "$demo_only" -eq 1 ] || commands="$commands && npm test"
[ -z "$run" ] || commands="npm install && $run"

# The namespace's script: cover each tool's every copy (a symbolic link and its target), prove
# none still runs, then the README's commands.
inner() {
  set -euo pipefail
  local t f
  for t in "${hidden[@]}"; do
    IFS=: read -ra dirs <<<"$PATH"
    for f in "${dirs[@]/%//$t}"; do
      [ -e "$f" ] || continue
      mount --bind "$blocker" "$f"
      [ "$(readlink -f "$f")" = "$f" ] || mount --bind "$blocker" "$(readlink -f "$f")"
    done
  done
  for t in "${hidden[@]}"; do
    if "$t" --version >/dev/null 2>&1; then echo "still runs: $t" >&2; exit 97; fi
  done
  echo "==> hidden: ${hidden[*]}; cache: $cache; $(date -u +%FT%TZ)"
  cd "$work/vfio"
  XDG_CACHE_HOME="$cache" bash -c "$commands"
  echo "==> green: $commands; $(date -u +%FT%TZ)"
}
export -f inner
export blocker cache work commands
export hidden_list="${hidden[*]}"
exec unshare -m --propagation private -- bash -c 'read -ra hidden <<<"$hidden_list"; inner'
