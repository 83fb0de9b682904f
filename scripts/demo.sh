#!/usr/bin/env bash
# The demo: a simulated Notion workspace synced into ./lakehouse-demo, edited, and synced again.
set -euo pipefail
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/notion-sync/target}"
exec cargo run --manifest-path "$(dirname "$0")/../Cargo.toml" -- demo "$@"
