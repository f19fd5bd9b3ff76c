#!/usr/bin/env bash
# scripts/setup.sh — installs the pinned local tools and builds the contracts.
#
#   scripts/setup.sh [--force]     (--force: recompile the contracts even if unchanged)
#
# 1. Installs the npm packages pinned in scripts/tools/package.json + package-lock.json
#    (workerd, anvil, cast, solc-js) into .tools/ with `npm ci --ignore-scripts`. Skipped — npm is
#    not called at all — when .tools/.manifest.sha256 matches the manifest and the binaries are
#    there, so later runs work offline.
# 2. Links stable paths .tools/bin/{workerd,anvil,cast} and checks each runs (--version).
# 3. Compiles contracts/ into build/contracts/<Name>.json (node scripts/compile-contracts.mjs;
#    only when a .sol file changed, or with --force).
# 4. Reports the cgroup hierarchies it finds (report only; never fails on cgroups).
# 5. Installs the cgroup v2 VM test tier's QEMU, busybox and Debian kernel (scripts/vm/setup.sh;
#    apt is skipped when .tools/vm/kernel/ is complete).
# 6. Installs the WebAssembly toolchains of examples/wasm/ and tests/wasm*.rs: Debian's clang,
#    lld, wasi-libc and libclang-rt-14-dev-wasm32 (C to wasm32-wasi; apt is skipped when they
#    are installed) and checks that clang links a WASI command; AssemblyScript (`asc`) comes
#    with the npm packages of step 1.
# 7. Installs Debian's prometheus (promtool for the alert rules' tests, a real Prometheus for
#    tests/observability.rs); apt is skipped when it is installed; its service is not started.
# 8. Installs Debian's haproxy (tests/haproxy*.rs and scripts/cluster.sh; apt is skipped when
#    it is installed) and checks it parses deploy/haproxy/haproxy.cfg.
set -euo pipefail

START_NS=$(date +%s%N)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MANIFEST_DIR="$ROOT/scripts/tools"
TOOLS="$ROOT/.tools"
STAMP="$TOOLS/.manifest.sha256"

FORCE=0
for arg in "$@"; do
    case "$arg" in
        --force) FORCE=1 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "setup: unknown argument: $arg (usage: scripts/setup.sh [--force])" >&2; exit 2 ;;
    esac
done

# shellcheck source=scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"

say()  { echo "setup: $*"; }
warn() { echo "setup: WARNING: $*"; }
die()  { echo "setup: ERROR: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node is not on PATH (Node 18+ is needed for solc-js)"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum is not on PATH"

# ---------------------------------------------------------------- 1. npm packages
# name in bin/  npm package                          (pinned in scripts/tools/package.json)
TOOL_NAMES=(workerd anvil cast)
declare -A TOOL_PKG=(
    [workerd]="@cloudflare/workerd-linux-64"
    [anvil]="@foundry-rs/anvil-linux-amd64"
    [cast]="@foundry-rs/cast-linux-amd64"
)

case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) ;;
    *) die "only linux x86_64 is supported by the pinned tool packages (this is $(uname -s)-$(uname -m))" ;;
esac

[[ -f "$MANIFEST_DIR/package.json" && -f "$MANIFEST_DIR/package-lock.json" ]] \
    || die "missing $MANIFEST_DIR/package.json or package-lock.json"

manifest_hash() {
    cat "$MANIFEST_DIR/package.json" "$MANIFEST_DIR/package-lock.json" | sha256sum | cut -d' ' -f1
}

# version of an installed package, or empty
installed_version() {
    local pj="$TOOLS/node_modules/$1/package.json"
    [[ -f "$pj" ]] || return 0
    node -e 'try{process.stdout.write(require(process.argv[1]).version||"")}catch{}' "$pj"
}

# exact versions wanted, from the manifest
wanted_version() {
    node -e 'const p=require(process.argv[1]);process.stdout.write((p.dependencies||{})[process.argv[2]]||"")' \
        "$MANIFEST_DIR/package.json" "$1"
}

tools_ok() {
    [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(manifest_hash)" ]] || return 1
    local t
    for t in "${TOOL_NAMES[@]}"; do
        [[ -n "$(find "$TOOLS/node_modules/${TOOL_PKG[$t]}" -type f -name "$t" -perm -u+x -print -quit 2>/dev/null)" ]] \
            || return 1
    done
    [[ -f "$TOOLS/node_modules/solc/package.json" ]] || return 1
    [[ -f "$TOOLS/node_modules/assemblyscript/package.json" ]] || return 1
    [[ -x "$TOOLS/node_modules/@esbuild/linux-x64/bin/esbuild" ]] || return 1
}

NPM_RAN=0
if tools_ok; then
    say "tools already installed (manifest unchanged); not calling npm"
else
    command -v npm >/dev/null 2>&1 || die "npm is not on PATH and .tools/ is missing or out of date"
    say "installing pinned tools into .tools/ with npm ci (first run: ~270 MB in .tools/node_modules)"
    mkdir -p "$TOOLS"
    rm -f "$STAMP"
    cp "$MANIFEST_DIR/package.json" "$MANIFEST_DIR/package-lock.json" "$TOOLS/"
    NPM_LOG="$TOOLS/npm-install.log"
    if ! (cd "$TOOLS" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >"$NPM_LOG" 2>&1; then
        grep -v 'Unknown user config' "$NPM_LOG" | tail -n 25 | sed 's/^/setup:   npm: /' >&2 || true
        die "npm ci failed in $TOOLS (full log: $NPM_LOG); is the npm registry reachable?"
    fi
    NPM_RAN=1
    # double-check the exact pinned versions landed
    for pkg in "${TOOL_PKG[@]}" solc assemblyscript @esbuild/linux-x64; do
        want=$(wanted_version "$pkg")
        have=$(installed_version "$pkg")
        [[ -n "$want" && "$have" == "$want" ]] || die "$pkg: installed version '${have:-none}' != pinned '${want:-?}'"
    done
    manifest_hash >"$STAMP"
fi

# ---------------------------------------------------------------- 2. stable binary paths
mkdir -p "$TOOLS/bin"
declare -A TOOL_VERSION
for t in "${TOOL_NAMES[@]}"; do
    pkgdir="$TOOLS/node_modules/${TOOL_PKG[$t]}"
    link="$TOOLS/bin/$t"
    # keep a working link; otherwise find the executable named $t inside the package (not a .js shim)
    if [[ ! -L "$link" || ! -x "$link" || "$(readlink "$link")" != ../node_modules/* ]]; then
        real=$(find "$pkgdir" -type f -name "$t" -perm -u+x -print -quit 2>/dev/null)
        [[ -n "$real" ]] || die "no executable '$t' found under $pkgdir"
        ln -sfn "../node_modules/${real#"$TOOLS/node_modules/"}" "$link"
    fi
    if ! out=$("$link" --version 2>&1); then
        echo "$out" | awk 'NR <= 5 { print "setup:   " $0 }' >&2
        die "$link --version failed"
    fi
    TOOL_VERSION[$t]=$(echo "$out" | awk 'NR == 1')
    say "$t: $(echo "${TOOL_VERSION[$t]}" | tr -s ' ') ($link)"
done
SOLC_VERSION=$(installed_version solc)
[[ -n "$SOLC_VERSION" ]] || die "solc is missing from .tools/node_modules"
say "solc-js: $SOLC_VERSION"
ASC_VERSION=$(installed_version assemblyscript)
[[ -n "$ASC_VERSION" ]] || die "assemblyscript is missing from .tools/node_modules"
ln -sfn ../node_modules/assemblyscript/bin/asc.js "$TOOLS/bin/asc"
say "assemblyscript: $ASC_VERSION ($TOOLS/bin/asc)"
ln -sfn ../node_modules/@esbuild/linux-x64/bin/esbuild "$TOOLS/bin/esbuild"
ESBUILD_VERSION=$("$TOOLS/bin/esbuild" --version) || die "$TOOLS/bin/esbuild --version failed"
say "esbuild: $ESBUILD_VERSION ($TOOLS/bin/esbuild)"

# ---------------------------------------------------------------- 3. contracts
COMPILE_ARGS=()
[[ $FORCE -eq 1 ]] && COMPILE_ARGS+=(--force)
if ! node "$ROOT/scripts/compile-contracts.mjs" "${COMPILE_ARGS[@]}" 2>&1 | sed 's/^compile: /setup: contracts: /'; then
    die "contract compilation failed"
fi
N_CONTRACTS=$(find "$ROOT/build/contracts" -maxdepth 1 -name '*.json' | wc -l)

# ---------------------------------------------------------------- 4. cgroups (report only)
CG=/sys/fs/cgroup
CG_SUMMARY="none"
fstype() { stat -f -L -c %T "$1" 2>/dev/null || echo none; }
count_workerd() { find "$1" -maxdepth 1 -type d -name 'workerd_*' 2>/dev/null | wc -l; }
rw() { if [[ -w "$1" ]]; then echo writable; else echo read-only; fi; }

if [[ "$(fstype "$CG")" == "cgroup2fs" ]]; then
    ctrls=$(tr '\n' ' ' <"$CG/cgroup.controllers" 2>/dev/null | sed 's/ *$//')
    say "cgroup v2 (unified) at $CG: controllers: ${ctrls:-<none>} ($(rw "$CG"), $(count_workerd "$CG") workerd_* groups)"
    CG_SUMMARY="v2"
    for c in memory cpu pids; do
        [[ " $ctrls " == *" $c "* ]] || warn "cgroup v2 controller '$c' is not available at $CG"
    done
elif [[ -d "$CG" ]]; then
    found=()
    for c in memory cpu pids; do
        if [[ "$(fstype "$CG/$c")" == "cgroupfs" ]]; then
            say "cgroup v1 $c: $CG/$c ($(rw "$CG/$c"), $(count_workerd "$CG/$c") workerd_* groups)"
            found+=("$c")
        else
            warn "no cgroup v1 '$c' hierarchy at $CG/$c"
        fi
    done
    if [[ "$(fstype "$CG/unified")" == "cgroup2fs" ]]; then
        ctrls=$(tr '\n' ' ' <"$CG/unified/cgroup.controllers" 2>/dev/null | sed 's/ *$//')
        say "cgroup v2 (hybrid) at $CG/unified: controllers: ${ctrls:-<none>}"
    fi
    if [[ ${#found[@]} -gt 0 ]]; then CG_SUMMARY="v1 ($(IFS=,; echo "${found[*]}"))"; fi
else
    warn "no $CG: cgroup limits will not be available"
fi

# ---------------------------------------------------------------- 5. VM test tier
"$ROOT/scripts/vm/setup.sh" || die "the cgroup v2 VM tier could not be set up (scripts/vm/setup.sh)"
VM_KERNEL=$(cat "$TOOLS/vm/kernel/release")

# ---------------------------------------------------------------- 6. WebAssembly toolchains
ensure_apt --no-install-recommends clang lld wasi-libc libclang-rt-14-dev-wasm32 \
    || die "apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32 failed"
WASM_CHECK=$(mktemp -d)
printf 'int main(void) { return 0; }\n' >"$WASM_CHECK/check.c"
clang --target=wasm32-wasi --sysroot=/usr -o "$WASM_CHECK/check.wasm" "$WASM_CHECK/check.c" \
    || die "clang cannot build a wasm32-wasi command (see above)"
rm -rf "$WASM_CHECK"
CLANG_VERSION=$(clang --version | awk 'NR == 1')
say "wasm32-wasi: $CLANG_VERSION with wasi-libc"

# ---------------------------------------------------------------- 7. Prometheus
# promtool runs the alert rules' unit tests, and tests/observability.rs scrapes a real node
# with a real Prometheus. Debian's package; its service is never started by us (the tests start
# their own instance on a free loopback port).
ensure_apt --no-install-recommends prometheus || die "apt-get install prometheus failed"
PROMETHEUS_VERSION=$(prometheus --version 2>&1 | awk 'NR == 1')
say "prometheus: $PROMETHEUS_VERSION"

# ---------------------------------------------------------------- 8. HAProxy
ensure_apt --no-install-recommends haproxy || die "apt-get install haproxy failed"
HAPROXY_VERSION=$(haproxy -v | awk 'NR == 1 { print $3 }')
say "haproxy $HAPROXY_VERSION"

# ---------------------------------------------------------------- summary
ELAPSED_MS=$(( ($(date +%s%N) - START_NS) / 1000000 ))
say "ok in $((ELAPSED_MS / 1000)).$(printf %03d $((ELAPSED_MS % 1000)))s: npm $([[ $NPM_RAN -eq 1 ]] && echo ran || echo skipped); workerd $(installed_version "${TOOL_PKG[workerd]}"), anvil $(installed_version "${TOOL_PKG[anvil]}"), cast $(installed_version "${TOOL_PKG[cast]}"), solc $SOLC_VERSION, haproxy $HAPROXY_VERSION, assemblyscript $ASC_VERSION, esbuild $ESBUILD_VERSION; $N_CONTRACTS contracts in build/contracts; cgroups: $CG_SUMMARY; vm kernel $VM_KERNEL"
