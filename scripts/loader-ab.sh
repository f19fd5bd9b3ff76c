#!/usr/bin/env bash
# scripts/loader-ab.sh — our loader's JavaScript at two revisions, side by side on bare workerds:
# the CPU and latency one job costs in each (benches/loader_ab/loader_ab.py says how). For a
# change to the loader, entry or WASI shim, measured without the node around it.
#
# usage: scripts/loader-ab.sh REV_A REV_B [loader_ab.py options: --form js, --pairs N, --rounds R]
#   REV is a git revision, or `worktree` for the files as they are now.
#   scripts/loader-ab.sh HEAD worktree --form wasi
#   scripts/loader-ab.sh HEAD HEAD            # A/A: the harness's own spread
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
[[ $# -ge 2 ]] || { echo "usage: scripts/loader-ab.sh REV_A REV_B [--form js|wasi] [--pairs N] [--rounds R]" >&2; exit 2; }
[[ -x .tools/bin/workerd ]] || { echo "no .tools/bin/workerd: run scripts/setup.sh first" >&2; exit 1; }
A_REV=$1
B_REV=$2
shift 2

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The loader's files at REV, flat in DIR, as the node writes them for each process.
export_loader() {
  local rev=$1 dir=$2
  mkdir -p "$dir"
  if [[ $rev == worktree ]]; then
    cp src/workerd/js/*.js src/workerd/js/config.capnp "$dir"/
  else
    git archive "$rev" src/workerd/js | tar -x -C "$dir" --strip-components=3
  fi
  rm -f "$dir"/*.test.mjs
}

export_loader "$A_REV" "$WORK/a"
export_loader "$B_REV" "$WORK/b"
echo "A = $A_REV, B = $B_REV"
python3 benches/loader_ab/loader_ab.py "$WORK/a" "$WORK/b" "$@"
