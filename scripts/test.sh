#!/usr/bin/env bash
# scripts/test.sh — the whole test suite on a fresh machine: installs the pinned tools (idempotent),
# builds the contracts, lints, then runs every unit and integration test against real anvil,
# real HTTP and the real node binary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh

# CI builds once from a clean clone on a disk of unknown size: incremental caches (≈ 2 GB here)
# would never be reused, and line tables in ~40 test binaries double their size. Panic messages
# keep their file and line without debug info.
if [[ "${CI:-}" == true ]]; then
    export CARGO_INCREMENTAL=0 CARGO_PROFILE_DEV_DEBUG=false
fi
report_disk "before the build"

ensure_apt curl jq
scripts/setup.sh
scripts/lint.sh
# The JavaScript that runs inside workerd, unit by unit (it also runs end to end in cargo's tests).
node --test src/workerd/js/
python3 -m unittest discover -s benches/packets -q
python3 -m unittest discover -s benches/loader_ab -q
cargo test --all-targets 2>&1
report_disk "after the tests"
