#!/usr/bin/env bash
# Builds notion-sync and the benchmark harness in release and runs the scenarios (all, or those named:
# throughput, budget, incremental, content, content-budget, query, s3 and warehouse (both under scripts/services.sh); --quick runs a
# tenth of the sizes). Results:
# benches/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/notion-sync/bench-target}"
cargo build --release --locked -p notion-sync -p notion-bench
exec "$CARGO_TARGET_DIR/release/notion-bench" --bin "$CARGO_TARGET_DIR/release/notion-sync" "$@"
