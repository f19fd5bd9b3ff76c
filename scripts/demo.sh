#!/usr/bin/env bash
# scripts/demo.sh — the whole node lifecycle on a local chain, as an owner would do it:
#   anvil on a free loopback port → our contracts deployed → a fresh enclave key → the node
#   started → owner and gas key configured through the admin routes (the gas key call signed by
#   the owner) → the signed registration message fetched → registerExecutor sent by the owner →
#   the node noticing ExecutorRegistered → the prime-factor example uploaded through the code
#   contract and run through POST /api/serverless, its output and receipt signature verified →
#   a job created on Jobs, run by the node and answered on chain (JobResponded, signer = enclave).
# Everything stays on 127.0.0.1. Processes are stopped on exit and on Ctrl-C.
# With --keep, the chain and the node stay up after the demo (until Ctrl-C) and
# .demo/kit.env holds what the developer kit's quickstart needs (README, "Developer kit").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "demo: ERROR: $*" >&2; exit 1; }

KEEP=0
[[ "${1:-}" == "--keep" ]] && KEEP=1

ensure_apt curl jq
scripts/setup.sh
step "Building the node"
cargo build --quiet --bin serverless-executor
NODE_BIN="$ROOT/target/debug/serverless-executor"

WORK="$ROOT/.demo"
DEMO="$WORK"
# shellcheck source=scripts/lib/node.sh
source scripts/lib/node.sh
begin_run

step "Starting anvil"
start_anvil
echo "anvil on $ETH_RPC_URL (pid $ANVIL_PID)"

step "Deploying Executors, Jobs, the code contract and the tokens"
deploy_contracts
jq . "$DEMO/deploy.json"

step "Generating an enclave key and starting the node"
start_node "$NODE_BIN"
echo "node on $NODE (pid $NODE_PID), log: $DEMO/node.log"

step "Owner configures the node"
configure_node
curl -sf "$NODE/executor-details" | jq .

step "Fetching the signed registration message and registering on Executors"
register_node
echo "$REGISTRATION" | jq .
echo "registerExecutor mined in block $(cast to-dec "$(jq -r .blockNumber "$DEMO/register.json")")"

step "The node notices ExecutorRegistered"
wait_for 30 "the node to see its registration" node_registered || die "the node did not notice its registration"
grep -m1 "Executor registered on chain." "$DEMO/node.log"
curl -sf "$NODE/health" | jq .
step "Uploading the prime-factor example through the code contract"
PRIME_FACTORS='export default {
  async fetch(request) {
    const { num } = await request.json();
    let n = num; const factors = [];
    for (let d = 2; d * d <= n; d++) { while (n % d === 0) { factors.push(d); n /= d; } }
    if (n > 1) factors.push(n);
    return new Response(factors.join(","));
  }
};'
CODE_TX=$(cast send "$CODE_CONTRACT" "saveCodeInCallData(string)" "$PRIME_FACTORS" \
    --private-key "$GAS_KEY" --json | jq -r .transactionHash)
echo "code transaction: $CODE_TX"

step "Running it through POST /api/serverless with input {\"num\": 600}"
INPUT='{"num":600}'
curl -sf -D "$DEMO/run.headers" -o "$DEMO/run.body" -X POST "$NODE/api/serverless" \
    -H 'content-type: application/json' -d "{\"tx_hash\": \"$CODE_TX\", \"input\": $INPUT}"
header() { grep -i "^$1:" "$DEMO/run.headers" | cut -d' ' -f2 | tr -d '\r'; }
OUTPUT=$(cat "$DEMO/run.body")
echo "output: $OUTPUT   error code: $(header x-executor-error-code)   total time: $(header x-executor-total-time-ms) ms"
[[ "$OUTPUT" == "2,2,2,3,5,5" && "$(header x-executor-error-code)" == "0" ]] || die "unexpected job result"
RECEIPT=$(jq -n --arg tx "$CODE_TX" --arg ih "$(cast keccak "$INPUT")" --arg oh "$(cast keccak "$OUTPUT")" \
    --argjson t "$(header x-executor-total-time-ms)" --argjson ts "$(header x-executor-sign-timestamp)" \
    --argjson chain "$CHAIN_ID" '{
  types: {
    EIP712Domain: [{name: "name", type: "string"}, {name: "version", type: "string"}, {name: "chainId", type: "uint256"}],
    DirectRunReceipt: [{name: "codeTx", type: "bytes32"}, {name: "inputHash", type: "bytes32"}, {name: "outputHash", type: "bytes32"},
                       {name: "totalTime", type: "uint256"}, {name: "errorCode", type: "uint8"}, {name: "signTimestamp", type: "uint256"}]
  },
  primaryType: "DirectRunReceipt",
  domain: {name: "serverless-executor.DirectRun", version: "1", chainId: $chain},
  message: {codeTx: $tx, inputHash: $ih, outputHash: $oh, totalTime: $t, errorCode: 0, signTimestamp: $ts}
}')
cast wallet verify --address "$ENCLAVE" --data "$RECEIPT" "$(header x-executor-signature)" \
    || die "the receipt does not recover to the enclave"

step "Creating a job on Jobs for the same code with input {\"num\": 10}"
USER=$(cast wallet address --private-key "$USER_KEY")
cast send "$USDC" "mint(address,uint256)" "$USER" 100000 --private-key "$USER_KEY" >/dev/null
cast send "$USDC" "approve(address,uint256)" "$JOBS" 100000 --private-key "$USER_KEY" >/dev/null
JOB_INPUT=$(cast from-utf8 '{"num":10}')
cast send "$JOBS" "createJob(uint8,bytes32,bytes,uint256)" 1 "$CODE_TX" "$JOB_INPUT" 5000 \
    --private-key "$USER_KEY" --json >"$DEMO/create.json"
JOB_ID=$(cast to-dec "$(jq -r --arg jobs "$JOBS" '.logs[] | select(.address == $jobs) | .topics[1]' "$DEMO/create.json")")
echo "job $JOB_ID created; the node is the selected executor"

step "Waiting for the node's submitOutput (JobResponded)"
JOB_RESPONDED=0x44e2fe4ddd3ee1cc7d02ec47111be654474a6fc73411e678e3152b806bfc0233
responded() { cast logs --address "$JOBS" "$JOB_RESPONDED" --from-block 0 --json | jq -e 'length > 0' >/dev/null; }
wait_for 30 "JobResponded" responded || die "the node did not submit the output"
LOG=$(cast logs --address "$JOBS" "$JOB_RESPONDED" --from-block 0 --json | jq '.[0]')
DECODED=$(cast decode-abi --input "f(bytes,uint256,uint8,uint8)" "$(echo "$LOG" | jq -r .data)")
CHAIN_OUTPUT=$(cast to-utf8 "$(echo "$DECODED" | sed -n 1p)")
EXECUTOR=0x$(echo "$LOG" | jq -r '.topics[2]' | cut -c27-)
echo "JobResponded: output $CHAIN_OUTPUT, total time $(echo "$DECODED" | sed -n 2p | cut -d' ' -f1) ms, error code $(echo "$DECODED" | sed -n 3p), executor $EXECUTOR"
[[ "$CHAIN_OUTPUT" == "2,5" ]] || die "unexpected output on chain: $CHAIN_OUTPUT"
# Jobs recovers the signer from the enclave's SubmitOutput signature and emits it as executor.
[[ "$EXECUTOR" == "$ENCLAVE" ]] || die "the output's signature does not recover to the enclave"
# The node confirms the inclusion on its next check of pending transactions (every second).
wait_for 10 "the node to confirm its submission" grep -q "Output submitted on chain." "$DEMO/node.log" \
    || die "the node did not confirm its submission"
grep -m1 "Output submitted on chain." "$DEMO/node.log"

printf '\n\033[1mDemo complete:\033[0m enclave %s registered by owner %s, seen by the node, and a job\nrun in workerd with its output %s signed by the enclave; job %s on Jobs answered %s by the\nenclave.\n' "$ENCLAVE" "$OWNER" "$OUTPUT" "$JOB_ID" "$CHAIN_OUTPUT"

cat >"$DEMO/kit.env" <<ENV
export ETH_RPC_URL=$ETH_RPC_URL ETH_WS_URL=${ETH_RPC_URL/#http/ws} JOBS=$JOBS EXECUTORS=$EXECUTORS CODE_CONTRACT=$CODE_CONTRACT USDC=$USDC
export USER_KEY_FILE=$DEMO/user.key
ENV
printf '%s\n' "$USER_KEY" >"$DEMO/user.key" && chmod 600 "$DEMO/user.key"
if [[ $KEEP == 1 ]]; then
    printf '\nChain and node kept running; `source .demo/kit.env` for the quickstart. Ctrl-C stops them.\n'
    while true; do sleep 3600 & wait $!; done   # wait: Ctrl-C runs the trap at once
fi
