# shellcheck shell=bash
# Globals set here are read by the scripts that source this file.
# shellcheck disable=SC2034
# Shared steps of scripts/demo.sh and scripts/loadgen.sh (sourced after common.sh, not run): a
# local anvil, our contracts, and a node configured and registered by its owner, all on 127.0.0.1.
#
# The caller sets ROOT (the repository) and WORK (a scratch folder), then calls begin_run (which
# empties WORK and stops "${PIDS[@]}" on exit). Each function documents the globals it sets.

# anvil's well-known development keys (local chain only): deployer, owner, gas payer, a user.
DEPLOYER_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
OWNER_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
GAS_KEY=0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
USER_KEY=0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6

# cast looks unknown revert selectors up online unless its cache has them: keep it local.
cast() { HOME="$ROOT/.tools/foundry-home" "$ROOT/.tools/bin/cast" "$@"; }

# stop_pids: kills then reaps every pid in PIDS (for `trap stop_pids EXIT`).
stop_pids() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}

# begin_run: a fresh run in $WORK (emptied and created), PIDS=(), and everything in PIDS stopped
# on exit and on Ctrl-C. Sets PIDS.
begin_run() {
    rm -rf "$WORK" && mkdir -p "$WORK"
    PIDS=()
    trap stop_pids EXIT
    trap 'exit 130' INT TERM
}

# build_bins: builds the node and loadgen with cargo profile $PROFILE. Sets BIN_DIR (where they
# are).
build_bins() {
    cargo build --quiet --profile "$PROFILE" --bin serverless-executor --bin loadgen
    BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/$([[ $PROFILE == dev ]] && echo debug || echo "$PROFILE")"
}

# start_anvil: anvil on a free loopback port, log in $WORK/anvil.log.
# Sets ANVIL_PORT, ETH_RPC_URL (exported, cast reads it) and ANVIL_PID.
start_anvil() {
    ANVIL_PORT=$(free_port)
    export ETH_RPC_URL="http://127.0.0.1:$ANVIL_PORT"
    "$ROOT/.tools/bin/anvil" --host 127.0.0.1 --port "$ANVIL_PORT" >"$WORK/anvil.log" 2>&1 &
    ANVIL_PID=$!
    PIDS+=("$ANVIL_PID")
    wait_for 20 "anvil" cast chain-id
}

# deploy_contracts: Executors, Jobs, the code contract and the tokens, into $WORK/deploy.json.
# Sets CHAIN_ID, EXECUTORS, JOBS, CODE_CONTRACT, POND, USDC.
deploy_contracts() {
    "$ROOT/scripts/deploy-contracts.sh" --rpc-url "$ETH_RPC_URL" --private-key "$DEPLOYER_KEY" \
        --out "$WORK/deploy.json" >/dev/null
    CHAIN_ID=$(jq .chain_id "$WORK/deploy.json")
    EXECUTORS=$(jq -r .executors "$WORK/deploy.json")
    JOBS=$(jq -r .jobs "$WORK/deploy.json")
    CODE_CONTRACT=$(jq -r .code_contract "$WORK/deploy.json")
    POND=$(jq -r .pond "$WORK/deploy.json")
    USDC=$(jq -r .usdc "$WORK/deploy.json")
}

# start_node NODE_BIN [EXTRA_CONFIG_JSON]: a fresh enclave key, a config for this chain (plus the
# keys of EXTRA_CONFIG_JSON, e.g. '{"job_capacity": 8}'), the node on a free port, log in
# $WORK/node.log. Sets NODE (its URL), NODE_PORT and NODE_PID.
start_node() {
    local node_bin=$1 extra=${2:-"{}"}
    "$node_bin" keygen --out "$WORK/enclave.sec"
    NODE_PORT=$(free_port)
    jq -n --argjson extra "$extra" \
        --arg runtime "$ROOT/.tools/bin/" --argjson chain "$CHAIN_ID" \
        --arg rpc "$ETH_RPC_URL" --arg ws "ws://127.0.0.1:$ANVIL_PORT" \
        --arg executors "$EXECUTORS" --arg jobs "$JOBS" --arg code "$CODE_CONTRACT" \
        --arg key "$WORK/enclave.sec" '{
  workerd_runtime_path: $runtime,
  common_chain_id: $chain,
  http_rpc_url: $rpc,
  web_socket_url: $ws,
  executors_contract_addr: $executors,
  jobs_contract_addr: $jobs,
  code_contract_addr: $code,
  enclave_signer_file: $key,
  execution_buffer_time: 10,
  num_selected_executors: 1
} + $extra' >"$WORK/config.json"
    "$node_bin" --port "$NODE_PORT" --config-file "$WORK/config.json" >"$WORK/node.log" 2>&1 &
    NODE_PID=$!
    PIDS+=("$NODE_PID")
    NODE="http://127.0.0.1:$NODE_PORT"
    wait_for 30 "the node" curl -sf "$NODE/"
}

# configure_node: the owner sets itself with /immutable-config, then installs the gas key with
# an owner-signed /mutable-config (EIP-712 AdminRequest). Sets OWNER and ENCLAVE.
configure_node() {
    OWNER=$(cast wallet address --private-key "$OWNER_KEY" | tr A-F a-f)
    curl -sf -X POST "$NODE/immutable-config" -H 'content-type: application/json' \
        -d "{\"owner_address_hex\": \"$OWNER\"}"
    ENCLAVE=$(curl -sf "$NODE/executor-details" | jq -r .enclave_address)
    # Once the owner is set, /mutable-config must carry the owner's EIP-712 AdminRequest signature.
    local body="{\"gas_key_hex\": \"$GAS_KEY\"}" expiry typed signature
    expiry=$(( $(date +%s) + 120 ))
    typed=$(jq -n --arg body_hash "$(cast keccak "$body")" --arg enclave "$ENCLAVE" \
        --argjson expiry "$expiry" --argjson chain "$CHAIN_ID" '{
  types: {
    EIP712Domain: [{name: "name", type: "string"}, {name: "version", type: "string"}, {name: "chainId", type: "uint256"}],
    AdminRequest: [{name: "route", type: "string"}, {name: "bodyHash", type: "bytes32"}, {name: "enclave", type: "address"},
                   {name: "nonce", type: "uint64"}, {name: "expiry", type: "uint64"}]
  },
  primaryType: "AdminRequest",
  domain: {name: "serverless-executor.Admin", version: "1", chainId: $chain},
  message: {route: "/mutable-config", bodyHash: $body_hash, enclave: $enclave, nonce: 1, expiry: $expiry}
}')
    signature=$(cast wallet sign --private-key "$OWNER_KEY" --data "$typed")
    curl -sf -X POST "$NODE/mutable-config" -H 'content-type: application/json' \
        -H "x-owner-signature: $signature" -H "x-owner-nonce: 1" -H "x-owner-expiry: $expiry" -d "$body"
}

# register_node: fetches the signed registration message, and the owner stakes and calls
# Executors.registerExecutor with it (receipt in $WORK/register.json). Sets REGISTRATION.
register_node() {
    REGISTRATION=$(curl -sf "$NODE/signed-registration-message")
    local public_key timestamp
    public_key=$(curl -sf "$NODE/executor-details" | jq -r .enclave_public_key)
    cast send "$POND" "mint(address,uint256)" "$OWNER" 10ether --private-key "$OWNER_KEY" >/dev/null
    cast send "$POND" "approve(address,uint256)" "$EXECUTORS" 10ether --private-key "$OWNER_KEY" >/dev/null
    timestamp=$(echo "$REGISTRATION" | jq -r .sign_timestamp)
    cast send "$EXECUTORS" \
        "registerExecutor(bytes,(bytes,bytes,bytes,bytes,uint256),uint256,uint256,bytes,uint256,uint8)" \
        0x "($public_key,0x,0x,0x,$(( $(date +%s) * 1000 )))" \
        "$(echo "$REGISTRATION" | jq -r .job_capacity)" "$timestamp" "$(echo "$REGISTRATION" | jq -r .signature)" \
        1ether "$(echo "$REGISTRATION" | jq -r .env)" \
        --private-key "$OWNER_KEY" --json >"$WORK/register.json"
}

# node_registered: whether the node reports its registration on /health.
node_registered() { curl -sf "$NODE/health" | jq -e '.registered == true' >/dev/null; }
