#!/usr/bin/env bash
# scripts/deploy-contracts.sh — deploys the local serverless-v2 contracts (build/contracts, made by
# scripts/setup.sh) to a LOCAL chain (anvil) with .tools/bin/cast, wires them, and prints one JSON
# object on stdout:
#   {"chain_id":31337,"deployer":"0x..","pond":"0x..","usdc":"0x..","verifier":"0x..",
#    "executors":"0x..","jobs":"0x..","code_contract":"0x..","deploy_block":1}
# (addresses lowercase; deploy_block = block of the first deployment). Progress goes to stderr.
#
# usage: scripts/deploy-contracts.sh --rpc-url URL --private-key 0xKEY [--out FILE]
#          [--nodes-to-select N (1)] [--min-stake WEI (1e18)] [--attestation-max-age S (3600)]
#          [--sign-max-age S (600)] [--execution-buffer S (10)] [--slash-bips B (500)]
#          [--env E (1)] [--fee-per-ms F (1)] [--reward-per-ms R (1)]
#
# Only loopback RPC URLs (127.0.0.0/8, localhost, [::1]) are accepted.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CAST="$ROOT/.tools/bin/cast"
# cast runs with HOME=.tools/foundry-home: its signature cache there is seeded with every selector
# of our contracts (scripts/compile-contracts.mjs), so a reverting `cast send` decodes the error
# locally instead of looking it up at api.4byte.sourcify.dev (keeps all traffic on loopback).
CAST_HOME="$ROOT/.tools/foundry-home"
ART="$ROOT/build/contracts"

die() { echo "deploy: ERROR: $*" >&2; exit 1; }
say() { echo "deploy: $*" >&2; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2; }

RPC_URL="" PRIVATE_KEY="" OUT=""
NODES=1 MIN_STAKE=1000000000000000000 ATT_MAX_AGE=3600 SIGN_MAX_AGE=600 BUFFER=10 SLASH_BIPS=500
ENV_ID=1 FEE_PER_MS=1 REWARD_PER_MS=1

need_val() { [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rpc-url) need_val "$@"; RPC_URL=$2; shift 2 ;;
        --private-key) need_val "$@"; PRIVATE_KEY=$2; shift 2 ;;
        --out) need_val "$@"; OUT=$2; shift 2 ;;
        --nodes-to-select) need_val "$@"; NODES=$2; shift 2 ;;
        --min-stake) need_val "$@"; MIN_STAKE=$2; shift 2 ;;
        --attestation-max-age) need_val "$@"; ATT_MAX_AGE=$2; shift 2 ;;
        --sign-max-age) need_val "$@"; SIGN_MAX_AGE=$2; shift 2 ;;
        --execution-buffer) need_val "$@"; BUFFER=$2; shift 2 ;;
        --slash-bips) need_val "$@"; SLASH_BIPS=$2; shift 2 ;;
        --env) need_val "$@"; ENV_ID=$2; shift 2 ;;
        --fee-per-ms) need_val "$@"; FEE_PER_MS=$2; shift 2 ;;
        --reward-per-ms) need_val "$@"; REWARD_PER_MS=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage; die "unknown argument: $1" ;;
    esac
done
[[ -n "$RPC_URL" ]] || { usage; die "--rpc-url is required"; }
[[ -n "$PRIVATE_KEY" ]] || { usage; die "--private-key is required"; }
[[ "$PRIVATE_KEY" =~ ^0x[0-9a-fA-F]{64}$ ]] || die "--private-key must be 0x followed by 64 hex digits"
for v in NODES MIN_STAKE ATT_MAX_AGE SIGN_MAX_AGE BUFFER SLASH_BIPS ENV_ID FEE_PER_MS REWARD_PER_MS; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a decimal integer (got '${!v}')"
done
[[ $NODES -ge 1 ]] || die "--nodes-to-select must be >= 1"
[[ $ENV_ID -le 255 ]] || die "--env must fit in uint8"
[[ $SLASH_BIPS -le 10000 ]] || die "--slash-bips must be <= 10000"

# ---- loopback only
host=$(sed -E 's#^[a-zA-Z][a-zA-Z0-9+.-]*://##; s#^[^@/]*@##; s#[/?].*$##' <<<"$RPC_URL")
if [[ "$host" == \[*\]* ]]; then host=${host%%]*}; host="${host#[}"; else host=${host%%:*}; fi
if [[ "$host" != localhost && "$host" != "::1" && ! "$host" =~ ^127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]]; then
    die "refusing non-loopback RPC URL '$RPC_URL' (host '$host'); these contracts are for local chains only"
fi
[[ "$RPC_URL" =~ ^(https?|wss?):// ]] || die "RPC URL must start with http://, https://, ws:// or wss://"

[[ -x "$CAST" ]] || die "$CAST not found; run scripts/setup.sh first"
for c in TestToken PermissiveAttestationVerifier Executors Jobs CodeContract; do
    [[ -f "$ART/$c.json" ]] || die "$ART/$c.json not found; run scripts/setup.sh first"
done

[[ -f "$CAST_HOME/.foundry/cache/signatures" ]] || die "$CAST_HOME/.foundry/cache/signatures missing; run scripts/setup.sh"
cast_() { HOME="$CAST_HOME" "$CAST" "$@"; }
CAST_RPC=(--rpc-url "$RPC_URL")

# json_str FIELD < json : first "FIELD":"value" string of a flat JSON text (cast receipts, our
# artifacts). Pure bash on purpose: a node start costs ~130 ms and this runs ~20 times.
json_str() {
    local s re
    s=$(cat)
    re="\"$1\"[[:space:]]*:[[:space:]]*\"([^\"]*)\""
    [[ "$s" =~ $re ]] || return 1
    printf '%s' "${BASH_REMATCH[1]}"
}

# send_tx DESCRIPTION cast-send-args... ; prints the receipt JSON, dies unless status 0x1
send_tx() {
    local what=$1; shift
    local out status
    if ! out=$(cast_ send "${CAST_RPC[@]}" --private-key "$PRIVATE_KEY" --json "$@" 2>&1); then
        echo "$out" | tail -n 5 | sed 's/^/deploy:   /' >&2
        die "$what failed"
    fi
    status=$(json_str status <<<"$out") || die "$what: unreadable receipt: $(head -c 300 <<<"$out")"
    [[ "$status" == "0x1" ]] || die "$what: transaction reverted (status $status)"
    printf '%s' "$out"
}

FIRST_BLOCK=""
# deploy NAME ARTIFACT [CONSTRUCTOR_SIG ARGS...] ; prints the lowercase address
deploy() {
    local label=$1 artifact=$2; shift 2
    local bytecode enc="" receipt addr block
    bytecode=$(json_str bytecode <"$ART/$artifact.json") || die "cannot read bytecode of $artifact"
    [[ "$bytecode" =~ ^0x[0-9a-f]+$ ]] || die "bad bytecode in $ART/$artifact.json"
    if [[ $# -gt 0 ]]; then
        enc=$(cast_ abi-encode "$@" 2>&1) || die "cannot ABI-encode constructor args of $artifact: $enc"
        enc=${enc#0x}
    fi
    receipt=$(send_tx "deploying $label ($artifact)" --create "$bytecode$enc") || exit 1
    addr=$(json_str contractAddress <<<"$receipt" | tr 'A-F' 'a-f')
    block=$(json_str blockNumber <<<"$receipt") || die "deploying $label: no block number in receipt"
    [[ "$addr" =~ ^0x[0-9a-f]{40}$ ]] || die "deploying $label: no contract address in receipt"
    say "$label ($artifact) at $addr (block $((block)))"
    printf '%s %s' "$addr" "$((block))"
}

call_eq() { # call_eq DESCRIPTION EXPECTED ADDRESS SIG [ARGS...]
    local what=$1 want=$2; shift 2
    local got
    got=$(cast_ call "${CAST_RPC[@]}" "$@" 2>&1) || die "check $what: call failed: $got"
    got=$(tr 'A-F' 'a-f' <<<"$got")
    [[ "$got" == "$want" ]] || die "check $what: got $got, expected $want"
}

START_NS=$(date +%s%N)
CHAIN_ID=$(cast_ chain-id "${CAST_RPC[@]}" 2>&1) || die "cannot reach $RPC_URL: $CHAIN_ID"
[[ "$CHAIN_ID" =~ ^[0-9]+$ ]] || die "unexpected chain id reply: $CHAIN_ID"
DEPLOYER=$(cast_ wallet address --private-key "$PRIVATE_KEY" 2>&1 | tr 'A-F' 'a-f') || die "bad private key"
say "chain $CHAIN_ID at $RPC_URL, deployer $DEPLOYER"

read -r POND FIRST_BLOCK < <(deploy POND TestToken "constructor(string,string)" "Marlin POND (local)" "POND"; echo)
[[ -n "$POND" ]] || exit 1
read -r USDC _ < <(deploy USDC TestToken "constructor(string,string)" "USD Coin (local)" "USDC"; echo)
[[ -n "$USDC" ]] || exit 1
read -r VERIFIER _ < <(deploy verifier PermissiveAttestationVerifier; echo)
[[ -n "$VERIFIER" ]] || exit 1
read -r EXECUTORS _ < <(deploy executors Executors "constructor(address,address,uint256,uint256)" \
    "$VERIFIER" "$POND" "$MIN_STAKE" "$ATT_MAX_AGE"; echo)
[[ -n "$EXECUTORS" ]] || exit 1
read -r JOBS _ < <(deploy jobs Jobs \
    "constructor(address,address,address,uint256,uint256,uint256,address,address,uint256)" \
    "$POND" "$USDC" "$EXECUTORS" "$SIGN_MAX_AGE" "$BUFFER" "$NODES" "$DEPLOYER" "$DEPLOYER" "$SLASH_BIPS"; echo)
[[ -n "$JOBS" ]] || exit 1
read -r CODE _ < <(deploy code_contract CodeContract; echo)
[[ -n "$CODE" ]] || exit 1

send_tx "Executors.setJobs" "$EXECUTORS" "setJobs(address)" "$JOBS" >/dev/null || exit 1
say "Executors.setJobs($JOBS)"
send_tx "Jobs.addGlobalEnv" "$JOBS" "addGlobalEnv(uint8,uint256,uint256)" "$ENV_ID" "$FEE_PER_MS" "$REWARD_PER_MS" >/dev/null || exit 1
say "Jobs.addGlobalEnv($ENV_ID, fee $FEE_PER_MS/ms, reward $REWARD_PER_MS/ms)"

# ---- sanity checks against protocol.md's appendix
call_eq "Jobs domain separator" 0x92348788277b460cc420185f9a17ff6b57b89f1c70d19a46fce67bb5b5319731 "$JOBS" "DOMAIN_SEPARATOR()(bytes32)"
call_eq "SubmitOutput typehash" 0x42945626249c0945b404564212f1ba09d966575b80478b5e114d067e3ca59bf6 "$JOBS" "SUBMIT_OUTPUT_TYPEHASH()(bytes32)"
call_eq "Executors domain separator" 0x871063a5a882629313a49affd6d5731126799cfa9053a1481fe360bb79fd49a3 "$EXECUTORS" "DOMAIN_SEPARATOR()(bytes32)"
call_eq "Register typehash" 0xcb0a8deacc8469b7863064f592608a4aaa1d53f404c1fb80308ea559b5911317 "$EXECUTORS" "REGISTER_TYPEHASH()(bytes32)"
call_eq "JOBS_ROLE" 0x2464ce10d3e48aedc0f9ee5bb7129700dbde33b46f59f849f204831f1e2e1b5c "$EXECUTORS" "JOBS_ROLE()(bytes32)"
call_eq "Executors.JOBS" "$JOBS" "$EXECUTORS" "JOBS()(address)"
call_eq "env $ENV_ID initialised" true "$EXECUTORS" "isTreeInitialized(uint8)(bool)" "$ENV_ID"

JSON=$(printf '{"chain_id":%s,"deployer":"%s","pond":"%s","usdc":"%s","verifier":"%s","executors":"%s","jobs":"%s","code_contract":"%s","deploy_block":%s}' \
    "$CHAIN_ID" "$DEPLOYER" "$POND" "$USDC" "$VERIFIER" "$EXECUTORS" "$JOBS" "$CODE" "$FIRST_BLOCK")
if [[ -n "$OUT" ]]; then
    mkdir -p "$(dirname "$OUT")"
    { printf '%s\n' "$JSON" >"$OUT.tmp.$$" && mv "$OUT.tmp.$$" "$OUT"; } || die "cannot write $OUT"
    say "wrote $OUT"
fi
ELAPSED_MS=$(( ($(date +%s%N) - START_NS) / 1000000 ))
say "done in ${ELAPSED_MS} ms (nodes_to_select $NODES, min_stake $MIN_STAKE, attestation_max_age ${ATT_MAX_AGE}s, sign_max_age ${SIGN_MAX_AGE}s, execution_buffer ${BUFFER}s, slash_bips $SLASH_BIPS)"
printf '%s\n' "$JSON"
