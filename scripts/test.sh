#!/usr/bin/env bash
# scripts/test.sh — the whole test suite on a fresh machine: installs the pinned tools (idempotent),
# builds the contracts, lints, then runs every unit and integration test against real anvil,
# real HTTP and the real node binary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh

ensure_apt curl jq
scripts/setup.sh
scripts/lint.sh
# The JavaScript that runs inside workerd, unit by unit (it also runs end to end in cargo's tests).
node --test src/workerd/js/
cargo test --all-targets 2>&1
