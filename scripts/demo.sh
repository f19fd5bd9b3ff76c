#!/usr/bin/env bash
# scripts/demo.sh — the whole node lifecycle on a local chain, as an owner would do it:
#   anvil on a free loopback port → our contracts deployed → a fresh enclave key → the node
#   started → owner and gas key configured through the admin routes (the gas key call signed by
#   the owner) → the signed registration message fetched → registerExecutor sent by the owner →
#   the node noticing ExecutorRegistered → the prime-factor example uploaded through the code
#   contract and run through POST /api/serverless, its output and receipt signature verified →
#   a job created on Jobs, run by the node and answered on chain (JobResponded, signer = enclave).
# Everything stays on 127.0.0.1. Processes are stopped on exit and on Ctrl-C.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "demo: ERROR: $*" >&2; exit 1; }

ensure_apt curl jq
scripts/setup.sh
step "Building the node"
cargo build --quiet --bin serverless-executor
NODE_BIN="$ROOT/target/debug/serverless-executor"

DEMO="$ROOT/.demo"
rm -rf "$DEMO" && mkdir -p "$DEMO"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# cast looks unknown revert selectors up online unless its cache has them: keep it local.
cast() { HOME="$ROOT/.tools/foundry-home" "$ROOT/.tools/bin/cast" "$@"; }

# anvil's well-known development keys (local chain only): deployer, owner, gas payer.
DEPLOYER_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
OWNER_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
GAS_KEY=0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
OWNER=$(cast wallet address --private-key "$OWNER_KEY" | tr A-F a-f)

step "Starting anvil"
ANVIL_PORT=$(free_port)
export ETH_RPC_URL="http://127.0.0.1:$ANVIL_PORT"
.tools/bin/anvil --host 127.0.0.1 --port "$ANVIL_PORT" >"$DEMO/anvil.log" 2>&1 &
PIDS+=($!)
wait_for 20 "anvil" cast chain-id
echo "anvil on $ETH_RPC_URL (pid ${PIDS[0]})"

step "Deploying Executors, Jobs, the code contract and the tokens"
scripts/deploy-contracts.sh --rpc-url "$ETH_RPC_URL" --private-key "$DEPLOYER_KEY" --out "$DEMO/deploy.json" >/dev/null
jq . "$DEMO/deploy.json"
EXECUTORS=$(jq -r .executors "$DEMO/deploy.json")
POND=$(jq -r .pond "$DEMO/deploy.json")

step "Generating an enclave key and starting the node"
"$NODE_BIN" keygen --out "$DEMO/enclave.sec"
NODE_PORT=$(free_port)
cat >"$DEMO/config.json" <<JSON
{
  "workerd_runtime_path": "$ROOT/.tools/bin/",
  "common_chain_id": $(jq .chain_id "$DEMO/deploy.json"),
  "http_rpc_url": "$ETH_RPC_URL",
  "web_socket_url": "ws://127.0.0.1:$ANVIL_PORT",
  "executors_contract_addr": "$EXECUTORS",
  "jobs_contract_addr": "$(jq -r .jobs "$DEMO/deploy.json")",
  "code_contract_addr": "$(jq -r .code_contract "$DEMO/deploy.json")",
  "enclave_signer_file": "$DEMO/enclave.sec",
  "execution_buffer_time": 10,
  "num_selected_executors": 1
}
JSON
"$NODE_BIN" --port "$NODE_PORT" --config-file "$DEMO/config.json" >"$DEMO/node.log" 2>&1 &
PIDS+=($!)
NODE="http://127.0.0.1:$NODE_PORT"
wait_for 30 "the node" curl -sf "$NODE/"
echo "node on $NODE (pid ${PIDS[1]}), log: $DEMO/node.log"

step "Owner configures the node"
curl -sf -X POST "$NODE/immutable-config" -H 'content-type: application/json' \
    -d "{\"owner_address_hex\": \"$OWNER\"}"
ENCLAVE=$(curl -sf "$NODE/executor-details" | jq -r .enclave_address)
# Once the owner is set, /mutable-config must carry the owner's EIP-712 AdminRequest signature.
BODY="{\"gas_key_hex\": \"$GAS_KEY\"}"
EXPIRY=$(( $(date +%s) + 120 ))
TYPED=$(jq -n --arg body_hash "$(cast keccak "$BODY")" --arg enclave "$ENCLAVE" --argjson expiry "$EXPIRY" \
    --argjson chain "$(jq .chain_id "$DEMO/deploy.json")" '{
  types: {
    EIP712Domain: [{name: "name", type: "string"}, {name: "version", type: "string"}, {name: "chainId", type: "uint256"}],
    AdminRequest: [{name: "route", type: "string"}, {name: "bodyHash", type: "bytes32"}, {name: "enclave", type: "address"},
                   {name: "nonce", type: "uint64"}, {name: "expiry", type: "uint64"}]
  },
  primaryType: "AdminRequest",
  domain: {name: "serverless-executor.Admin", version: "1", chainId: $chain},
  message: {route: "/mutable-config", bodyHash: $body_hash, enclave: $enclave, nonce: 1, expiry: $expiry}
}')
OWNER_SIG=$(cast wallet sign --private-key "$OWNER_KEY" --data "$TYPED")
curl -sf -X POST "$NODE/mutable-config" -H 'content-type: application/json' \
    -H "x-owner-signature: $OWNER_SIG" -H "x-owner-nonce: 1" -H "x-owner-expiry: $EXPIRY" -d "$BODY"
curl -sf "$NODE/executor-details" | jq .

step "Fetching the signed registration message"
REGISTRATION=$(curl -sf "$NODE/signed-registration-message")
echo "$REGISTRATION" | jq .
PUBKEY=$(curl -sf "$NODE/executor-details" | jq -r .enclave_public_key)

step "Owner registers the node on Executors"
cast send "$POND" "mint(address,uint256)" "$OWNER" 10ether --private-key "$OWNER_KEY" >/dev/null
cast send "$POND" "approve(address,uint256)" "$EXECUTORS" 10ether --private-key "$OWNER_KEY" >/dev/null
TS=$(echo "$REGISTRATION" | jq -r .sign_timestamp)
cast send "$EXECUTORS" \
    "registerExecutor(bytes,(bytes,bytes,bytes,bytes,uint256),uint256,uint256,bytes,uint256,uint8)" \
    0x "($PUBKEY,0x,0x,0x,$(( $(date +%s) * 1000 )))" \
    "$(echo "$REGISTRATION" | jq -r .job_capacity)" "$TS" "$(echo "$REGISTRATION" | jq -r .signature)" \
    1ether "$(echo "$REGISTRATION" | jq -r .env)" \
    --private-key "$OWNER_KEY" --json >"$DEMO/register.json"
echo "registerExecutor mined in block $(cast to-dec "$(jq -r .blockNumber "$DEMO/register.json")")"

step "The node notices ExecutorRegistered"
registered() { curl -sf "$NODE/health" | jq -e '.registered == true'; }
wait_for 30 "the node to see its registration" registered || die "the node did not notice its registration"
grep -m1 "Executor registered on chain." "$DEMO/node.log"
curl -sf "$NODE/health" | jq .
step "Uploading the prime-factor example through the code contract"
CODE_CONTRACT=$(jq -r .code_contract "$DEMO/deploy.json")
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
    --argjson chain "$(jq .chain_id "$DEMO/deploy.json")" '{
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
JOBS=$(jq -r .jobs "$DEMO/deploy.json")
USDC=$(jq -r .usdc "$DEMO/deploy.json")
USER_KEY=0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6
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
