#!/usr/bin/env bash
# scripts/cluster.sh — a local cluster behind HAProxy: anvil on a free loopback port, our
# contracts, N nodes (default 3) each configured and registered on the one Executors by its
# owner (the steps of scripts/demo.sh, shared through scripts/lib/node.sh; each node pays gas
# with its own anvil development key), and HAProxy running deploy/haproxy/haproxy.cfg in front
# of them. Prints the balancer URL and the stats page, then waits until Ctrl-C; everything is
# stopped by PID on exit.
#
# usage: scripts/cluster.sh [--dev|--release] [--nodes N] [--slots S1,S2,...] [--node-config JSON]
#                           [-- COMMAND...]
#   --nodes N       1..6 nodes (default 3)
#   --slots LIST    each node's direct_run_capacity (default 4 for every node)
#   --node-config   more config keys for every node, e.g. '{"execution_mode": "isolate"}'
#   -- COMMAND...   instead of waiting, run COMMAND with LB_URL, LB_STATS_URL, ETH_RPC_URL,
#                   DEPLOYMENT (the deploy JSON), USER_KEY, BIN_DIR (the binaries) and
#                   NODE_URLS (space-separated)
#                   exported, then stop everything (its exit status is the script's), e.g.
#                   scripts/cluster.sh -- sh -c 'curl -s "$LB_URL/ready"'
# Release builds unless --dev. Logs and configs in .cluster/. Needs root (the nodes create
# cgroups). Nothing listens beyond 127.0.0.1.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh

die() { echo "cluster.sh: ERROR: $*" >&2; exit 1; }
# Ports below the kernel's ephemeral range: a port that common.sh's free_port just released is
# likely handed out again by the next bind(0), e.g. to a node's pre-bound workerd listeners
# before the node binds its HTTP port. With N nodes and their pools, that happened.
free_port() {
    python3 - "$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)" <<'PY'
import random, socket, sys
low = max(1025, int(sys.argv[1]) - 12000)
for _ in range(200):
    port = random.randrange(low, low + 10000)
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            continue
    print(port)
    break
else:
    sys.exit("no free port")
PY
}
say() { echo "cluster.sh: $*" >&2; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2; }

PROFILE=release NODES=3 SLOTS="" NODE_CONFIG="{}"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dev) PROFILE=dev; shift ;;
        --release) PROFILE=release; shift ;;
        --nodes) [[ $# -ge 2 ]] || die "--nodes needs a number"; NODES=$2; shift 2 ;;
        --slots) [[ $# -ge 2 ]] || die "--slots needs a list"; SLOTS=$2; shift 2 ;;
        --node-config) [[ $# -ge 2 ]] || die "--node-config needs a JSON object"; NODE_CONFIG=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        *) usage; die "unknown argument: $1" ;;
    esac
done
[[ "$NODES" =~ ^[1-6]$ ]] || die "--nodes must be 1..6 (deploy/haproxy/haproxy.cfg has six server lines)"
IFS=, read -r -a SLOT_LIST <<<"${SLOTS:-}"
for ((i = 0; i < NODES; i++)); do
    SLOT_LIST[i]=${SLOT_LIST[i]:-4}
    [[ "${SLOT_LIST[i]}" =~ ^[0-9]+$ ]] || die "--slots must be numbers separated by commas"
done
jq -e 'type == "object"' <<<"$NODE_CONFIG" >/dev/null 2>&1 || die "--node-config must be a JSON object"

ensure_apt curl jq
if ! [[ -x .tools/bin/workerd && -x .tools/bin/anvil && -f build/contracts/Jobs.json ]] \
    || ! command -v haproxy >/dev/null; then
    scripts/setup.sh
fi

# shellcheck source=scripts/lib/node.sh
source scripts/lib/node.sh
say "building the node ($PROFILE)"
build_bins

BASE="$ROOT/.cluster"
WORK=$BASE
begin_run

start_anvil
deploy_contracts
DEPLOYMENT="$BASE/deploy.json"

# anvil's development keys #2, #4..#8: one gas account per node, so their nonces never collide.
GAS_KEYS=(
    0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
    0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a
    0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba
    0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e
    0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356
    0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97
)
NODE_URL_LIST=()
HAPROXY_ENV=()
for ((i = 0; i < NODES; i++)); do
    n=$((i + 1))
    WORK="$BASE/node$n" && mkdir -p "$WORK"
    agent_port=$(free_port)
    slots=${SLOT_LIST[i]}
    # Each node its own cgroup parent, job directory and chain checkpoint (the defaults are
    # shared paths: one node's start would clean another's jobs).
    extra=$(jq -n --argjson base "$NODE_CONFIG" --argjson agent "$agent_port" --argjson slots "$slots" \
        --arg parent "serverless-executor-cluster-$n" \
        --arg dir "$WORK" \
        '$base + {lb_agent_port: $agent, direct_run_capacity: $slots, cgroup_parent: $parent,
                  job_dir: ($dir + "/jobs"), state_dir: ($dir + "/state")}')
    # shellcheck disable=SC2034 # read by configure_node (scripts/lib/node.sh)
    GAS_KEY=${GAS_KEYS[i]}
    start_node "$BIN_DIR/serverless-executor" "$extra"
    configure_node >/dev/null
    register_node
    wait_for 30 "node $n to see its registration" node_registered || die "node $n did not notice its registration"
    NODE_URL_LIST+=("$NODE")
    HAPROXY_ENV+=("EXECUTOR_$n=127.0.0.1:$NODE_PORT" "EXECUTOR_${n}_AGENT=$agent_port"
        "EXECUTOR_${n}_SLOTS=$slots" "EXECUTOR_${n}_WEIGHT=$((slots * 10))")
    say "node $n: $NODE (pid $NODE_PID, enclave $ENCLAVE, $slots direct slots, agent port $agent_port)"
done
WORK=$BASE

LB_PORT=$(free_port) STATS_PORT=$(free_port)
env "${HAPROXY_ENV[@]}" LB_BIND="127.0.0.1:$LB_PORT" LB_STATS_BIND="127.0.0.1:$STATS_PORT" \
    haproxy -db -f deploy/haproxy/haproxy.cfg >"$BASE/haproxy.log" 2>&1 &
PIDS+=("$!")
LB_URL="http://127.0.0.1:$LB_PORT"
LB_STATS_URL="http://127.0.0.1:$STATS_PORT/stats"
all_up() { [[ $(curl -sf "$LB_STATS_URL;csv" | awk -F, '$1 == "executors" && $2 ~ /^node/ && $18 == "UP"' | wc -l) -eq $NODES ]]; }
wait_for 30 "HAProxy to see every node UP" all_up || die "HAProxy does not see every node UP (see $BASE/haproxy.log)"

echo "balancer: $LB_URL   stats: $LB_STATS_URL   chain: $ETH_RPC_URL   logs: $BASE"
if [[ $# -gt 0 ]]; then
    NODE_URLS="${NODE_URL_LIST[*]}"
    export LB_URL LB_STATS_URL ETH_RPC_URL DEPLOYMENT USER_KEY NODE_URLS BIN_DIR
    "$@"
    exit $?
fi
say "Ctrl-C stops everything"
while true; do sleep 3600; done
