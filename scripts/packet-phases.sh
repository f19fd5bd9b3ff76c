#!/usr/bin/env bash
# scripts/packet-phases.sh — runs a command (a bench, loadgen) while capturing loopback TCP, then
# splits each direct job (paced, at half load, at saturation) into the node's time before
# workerd, workerd's own and the node's time after, from packet timestamps, with the floor's
# workerd time beside it (benches/packets/phases.py says how). Installs tcpdump if it is
# missing. Needs root.
#
# usage: scripts/packet-phases.sh [--out DIR] -- COMMAND...
#   NODE_ADDED_MODES=isolate,isolate@binary=/tmp/old/serverless-executor \
#     scripts/packet-phases.sh -- cargo bench --bench node_added
# The capture (capture.pcap, ~10 MB a bench run) and the port map go to DIR (results/packets).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh

OUT=results/packets
if [[ "${1:-}" == --out ]]; then OUT=$2; shift 2; fi
[[ "${1:-}" == -- ]] || { echo "usage: scripts/packet-phases.sh [--out DIR] -- COMMAND..." >&2; exit 2; }
shift
ensure_apt tcpdump
OUT=$(mkdir -p "$OUT" && cd "$OUT" && pwd)

# -Z root: keep writing the capture as root into a root-owned directory.
tcpdump -i lo -s 640 -B 65536 -Z root -w "$OUT/capture.pcap" tcp 2>"$OUT/tcpdump.log" &
TCPDUMP=$!
python3 benches/packets/watch_ports.py "$OUT/ports.json" &
WATCHER=$!
trap 'kill "$TCPDUMP" "$WATCHER" 2>/dev/null || true' EXIT

STATUS=0
"$@" || STATUS=$?
kill -INT "$TCPDUMP"; wait "$TCPDUMP" || true
kill -TERM "$WATCHER"; wait "$WATCHER" || true
tail -n 2 "$OUT/tcpdump.log" >&2
(cd benches/packets && python3 phases.py "$OUT/capture.pcap" "$OUT/ports.json")
exit "$STATUS"
