#!/usr/bin/env bash
# The full test suite: formatting, lints, unit tests and the end-to-end tests (the real binary against the
# Notion simulator over HTTP, Delta tables read back from disk), then the OpenLineage events against the
# spec's JSON schemas, the Airflow DAGs under real Airflow (and, when present, the packaging checks). Needs
# the Rust toolchain, Python 3.11 with venv, Node.js with npm and PostgreSQL 15's server binaries; Python
# packages come from PyPI into venvs under $HOME/.cache/notion-sync/venvs, the OpenLineage schemas from a
# crates.io package, unixODBC and psqlODBC from Debian's apt when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Keep build artefacts outside the checkout so reruns (and fresh clones) build incrementally.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/notion-sync/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"

# The build links unixODBC (the warehouse sink); the warehouse tests use psqlODBC.
source scripts/lib.sh test --no-binaries
need_odbc

step() { printf '\n==> %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (with the local S3, Azure and PostgreSQL services, scripts/services.sh)"
start=$(date +%s)
bash scripts/services.sh cargo test --workspace --locked -- --test-threads="${TEST_THREADS:-2}"
echo "tests finished in $(( $(date +%s) - start ))s"

# `cargo test` built both binaries (the integration tests run them); build them only if it did not.
for bin in notion-sync notion-sim; do
    [[ -x "$CARGO_TARGET_DIR/debug/$bin" ]] || cargo build --locked -p "$bin"
done
step "openlineage"
bash scripts/check-lineage.sh
step "airflow"
bash scripts/check-airflow.sh
if [[ -f scripts/check-packaging.sh ]]; then
    step "packaging"
    bash scripts/check-packaging.sh
fi
