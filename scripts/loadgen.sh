#!/usr/bin/env bash
# scripts/loadgen.sh — puts load on a fresh local node: anvil on a free loopback port, our
# contracts, a node configured and registered by its owner (the same steps as scripts/demo.sh,
# shared through scripts/lib/node.sh), then the `loadgen` binary with the arguments given.
#
# usage: scripts/loadgen.sh [--dev] [--node-config JSON] [--cluster N] direct|chain|burst [loadgen flags...]
#   scripts/loadgen.sh direct --concurrency 4 --duration 10s
#   scripts/loadgen.sh direct --rate 20 --warmup 2s --duration 30s --workload cpu
#   scripts/loadgen.sh chain --rate 2 --duration 10s
#   scripts/loadgen.sh burst --size 20 --rounds 5
#   scripts/loadgen.sh --node-config '{"job_capacity": 8}' direct --rate 50 --duration 20s
#   scripts/loadgen.sh --cluster 3 direct --rate 50 --duration 20s
# --cluster N: N registered nodes behind HAProxy (scripts/cluster.sh) instead of one node; in
# direct mode the same loadgen run goes first to node 1 directly, then through the balancer
# (reports results/lb-direct.json and results/lb-haproxy.json), so p50/p99 can be compared.
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

PROFILE=release NODE_CONFIG="{}" CLUSTER=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dev) PROFILE=dev; shift ;;
        --node-config) [[ $# -ge 2 ]] || die "--node-config needs a JSON object"; NODE_CONFIG=$2; shift 2 ;;
        --cluster) [[ $# -ge 2 ]] || die "--cluster needs a node count"; CLUSTER=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) break ;;
    esac
done
MODE=${1:-}
[[ "$MODE" == direct || "$MODE" == chain || "$MODE" == burst ]] || { usage; die "the first argument must be direct, chain or burst"; }
shift
jq -e 'type == "object"' <<<"$NODE_CONFIG" >/dev/null 2>&1 || die "--node-config must be a JSON object"

ensure_apt curl jq

if [[ -n "$CLUSTER" ]]; then
    [[ "$MODE" == direct ]] || die "--cluster is for direct runs (chain jobs never pass the balancer)"
    mkdir -p results
    # shellcheck disable=SC2016 # expanded by the inner shell, in the cluster's environment
    exec scripts/cluster.sh "$([[ $PROFILE == dev ]] && echo --dev || echo --release)" \
        --nodes "$CLUSTER" --node-config "$NODE_CONFIG" -- bash -c '
        set -euo pipefail
        common=(direct --rpc-url "$ETH_RPC_URL" --deployment "$DEPLOYMENT" --key "$USER_KEY")
        first=${NODE_URLS%% *}
        echo "== directly to node 1 ($first)"
        "$BIN_DIR/loadgen" "${common[@]}" --node-url "$first" --out results/lb-direct.json "$@"
        echo "== through HAProxy ($LB_URL)"
        "$BIN_DIR/loadgen" "${common[@]}" --node-url "$LB_URL" --out results/lb-haproxy.json "$@"
        curl -s "$LB_STATS_URL;csv" | awk -F, '"'"'$1 == "executors" { print "   " $2 ": " $8 " requests, status " $18 }'"'"'
    ' loadgen-cluster "$@"
fi
# Tools and contract artifacts: installed once by scripts/setup.sh (idempotent, skipped if present).
[[ -x .tools/bin/workerd && -x .tools/bin/anvil && -f build/contracts/Jobs.json ]] || scripts/setup.sh

# shellcheck source=scripts/lib/node.sh
source scripts/lib/node.sh
echo "loadgen.sh: building the node and loadgen ($PROFILE)" >&2
build_bins

WORK="$ROOT/.loadgen"
begin_run

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
