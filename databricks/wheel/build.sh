#!/usr/bin/env bash
# Builds dist/notion_sync-*.whl around a prebuilt Linux x86_64 notion-sync binary (see ../README.md for
# building one that runs on Databricks runtimes). The binary comes from $NOTION_SYNC_BINARY, default
# the cargo-zigbuild output for glibc 2.28 in the repository's target directory.
set -euo pipefail
cd "$(dirname "$0")"
repo="$(cd ../.. && pwd)"
binary="${NOTION_SYNC_BINARY:-${CARGO_TARGET_DIR:-$repo/target}/x86_64-unknown-linux-gnu/release/notion-sync}"
# The platform the binary runs on: glibc 2.28+ on x86_64 (Databricks LTS runtimes have newer glibc).
platform="${NOTION_SYNC_WHEEL_PLATFORM:-manylinux_2_28_x86_64}"
python="${PYTHON:-python3}"

if [ ! -x "$binary" ]; then
    echo "error: no executable notion-sync at $binary (set NOTION_SYNC_BINARY)" >&2
    exit 1
fi
install -D -m 0755 "$binary" src/notion_sync/bin/notion-sync
trap 'rm -rf src/notion_sync/bin build src/*.egg-info' EXIT
rm -rf dist
"$python" -m pip wheel --no-deps --wheel-dir dist .
# The wheel holds a native executable: tag it for its platform instead of py3-none-any.
"$python" -m wheel tags --remove --platform-tag "$platform" dist/*.whl
ls dist/*.whl
