#!/usr/bin/env bash
# examples/wasm/build.sh — builds the WebAssembly examples into examples/wasm/build/:
#
#   examples/wasm/build.sh                 build only
#   examples/wasm/build.sh --upload NAME   build, then upload build/NAME through the code contract
#                                          with `serverless-executor code upload` (env: RPC_URL,
#                                          KEY_FILE — a file holding the key, never the key
#                                          itself — CODE_CONTRACT, and SE, the binary, default
#                                          target/debug/serverless-executor); prints the
#                                          upload's tx hash, the `tx_hash` of a job
#
# - c/*.c → build/<name>.wasm: WASI preview 1 commands (clang --target=wasm32-wasi, Debian's
#   clang + lld + wasi-libc + libclang-rt-14-dev-wasm32, as scripts/setup.sh installs them);
# - assemblyscript/ → build/prime_factors_as.tar: a bundle (ustar) of the JS entry index.js
#   and factor.wasm, compiled by the pinned AssemblyScript (.tools/bin/asc).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT="${OUT:-$HERE/build}"   # the tests build into their own directory
mkdir -p "$OUT"

for source in "$HERE"/c/*.c; do
    name=$(basename "$source" .c)
    clang --target=wasm32-wasi --sysroot=/usr -Oz -Wl,--strip-all -o "$OUT/$name.wasm" "$source"
    echo "build: $OUT/$name.wasm ($(stat -c %s "$OUT/$name.wasm") bytes)"
done

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
cp "$HERE/assemblyscript/index.js" "$STAGE/"
node "$ROOT/.tools/bin/asc" "$HERE/assemblyscript/factor.ts" -o "$STAGE/factor.wasm" -O3 --runtime stub --use abort=
# ustar, one 512-byte block per record (no padding to 10 KiB: calldata costs gas), files listed
# explicitly with index.js (the entry) first.
tar --format=ustar -b 1 -cf "$OUT/prime_factors_as.tar" -C "$STAGE" index.js factor.wasm
echo "build: $OUT/prime_factors_as.tar ($(stat -c %s "$OUT/prime_factors_as.tar") bytes)"

if [[ "${1:-}" == --upload ]]; then
    file="$OUT/${2:?usage: build.sh --upload NAME (a file in build/)}"
    : "${RPC_URL:?}" "${KEY_FILE:?}" "${CODE_CONTRACT:?}"
    # The kit decodes the calldata with the node's own decoder and refuses code over the cap;
    # the key comes from a file, so it never shows in `ps` or the shell's history.
    "${SE:-$ROOT/target/debug/serverless-executor}" code upload "$file" \
        --rpc "$RPC_URL" --code-contract "$CODE_CONTRACT" --key-file "$KEY_FILE"
fi
