#!/usr/bin/env bash
# scripts/loadgen.sh — puts load on a fresh local node: anvil on a free loopback port, our
# contracts, a node configured and registered by its owner (the same steps as scripts/demo.sh,
# shared through scripts/lib/node.sh), then the `loadgen` binary with the arguments given.
#
# usage: scripts/loadgen.sh [--dev] [--node-config JSON] direct|chain|burst [loadgen flags...]
#   scripts/loadgen.sh direct --concurrency 4 --duration 10s
#   scripts/loadgen.sh direct --rate 20 --warmup 2s --duration 30s --workload cpu
#   scripts/loadgen.sh chain --rate 2 --duration 10s
#   scripts/loadgen.sh burst --size 20 --rounds 5
#   scripts/loadgen.sh --node-config '{"job_capacity": 8}' direct --rate 50 --duration 20s
# The script fills in --node-url (direct, burst), --rpc-url, --deployment and a funded --key (anvil's
# development key #3; the node pays gas with #2). Release builds unless --dev. The report and
# its two SVG plots go to results/ unless --out is given; logs to .loadgen/{anvil,node}.log.
# Everything listens on 127.0.0.1 and is stopped by PID on exit and on Ctrl-C. Needs root (the
# node creates cgroups), as scripts/demo.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh

die() { echo "loadgen.sh: ERROR: $*" >&2; exit 1; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2; }

PROFILE=release NODE_CONFIG="{}"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dev) PROFILE=dev; shift ;;
        --node-config) [[ $# -ge 2 ]] || die "--node-config needs a JSON object"; NODE_CONFIG=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) break ;;
    esac
done
MODE=${1:-}
[[ "$MODE" == direct || "$MODE" == chain || "$MODE" == burst ]] || { usage; die "the first argument must be direct, chain or burst"; }
shift
jq -e 'type == "object"' <<<"$NODE_CONFIG" >/dev/null 2>&1 || die "--node-config must be a JSON object"

ensure_apt curl jq
# Tools and contract artifacts: installed once by scripts/setup.sh (idempotent, skipped if present).
[[ -x .tools/bin/workerd && -x .tools/bin/anvil && -f build/contracts/Jobs.json ]] || scripts/setup.sh

echo "loadgen.sh: building the node and loadgen ($PROFILE)" >&2
cargo build --quiet --profile "$PROFILE" --bin serverless-executor --bin loadgen
BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/$([[ $PROFILE == dev ]] && echo debug || echo "$PROFILE")"

WORK="$ROOT/.loadgen"
rm -rf "$WORK" && mkdir -p "$WORK"
PIDS=()
# shellcheck source=scripts/lib/node.sh
source scripts/lib/node.sh
trap stop_pids EXIT
trap 'exit 130' INT TERM

start_anvil
deploy_contracts
start_node "$BIN_DIR/serverless-executor" "$NODE_CONFIG"
configure_node >/dev/null
register_node
wait_for 30 "the node to see its registration" node_registered || die "the node did not notice its registration"
echo "loadgen.sh: anvil $ETH_RPC_URL, node $NODE (enclave $ENCLAVE) registered; logs in $WORK" >&2

ARGS=(--rpc-url "$ETH_RPC_URL" --deployment "$WORK/deploy.json" --key "$USER_KEY")
[[ "$MODE" == direct || "$MODE" == burst ]] && ARGS+=(--node-url "$NODE")
"$BIN_DIR/loadgen" "$MODE" "${ARGS[@]}" "$@"
