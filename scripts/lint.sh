#!/usr/bin/env bash
# scripts/lint.sh — formatting, clippy with warnings as errors, docs with warnings as errors, and
# the minified job-isolate JavaScript up to date with its sources.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo fmt --all --check
cargo clippy --all-targets -- -D warnings
RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps --quiet
scripts/minify-js.sh --check
