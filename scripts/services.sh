#!/usr/bin/env bash
# Runs a command with the services the object-store tests need, on loopback, and stops them afterwards
# (also when the command fails or is interrupted):
#   - an S3-compatible server (moto, from PyPI, pinned in tests/services/requirements-moto.lock) that
#     supports conditional put (If-None-Match), exported as NOTION_SYNC_TEST_S3;
#   - a second one that checks credentials (moto's IAM authentication), as NOTION_SYNC_TEST_S3_AUTH.
#
# Usage: scripts/services.sh COMMAND [ARGS...]     e.g. scripts/services.sh cargo test --test it s3
# Venvs live under $NOTION_SYNC_VENVS (default $HOME/.cache/notion-sync/venvs).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" services --no-binaries
venvs=${NOTION_SYNC_VENVS:-$HOME/.cache/notion-sync/venvs}
lock=$root/tests/services/requirements-moto.lock

# A venv holding exactly the lock, made once (named by the lock's hash).
venv=$venvs/moto-$(sha256sum "$lock" | cut -c1-12)
if [[ ! -f $venv/.complete ]]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --require-hashes --no-deps -r "$lock"
    touch "$venv/.complete"
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts moto on a free loopback port with the given environment (in this shell, so that the trap stops
# it); sets `endpoint` once it answers.
start_moto() {
    local name=$1 port
    shift
    port=$(free_port)
    env "$@" "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/$name.log" 2>&1 &
    pids+=("$!")
    endpoint="http://127.0.0.1:$port"
    for _ in $(seq 1 300); do
        if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
            "$endpoint/moto-api/" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    echo "services: $name did not start; its log:" >&2
    cat "$work/$name.log" >&2
    return 1
}

endpoint=
start_moto s3
export NOTION_SYNC_TEST_S3=$endpoint
start_moto s3-auth INITIAL_NO_AUTH_ACTION_COUNT=0
export NOTION_SYNC_TEST_S3_AUTH=$endpoint
echo "services: S3 at $NOTION_SYNC_TEST_S3, S3 with authentication at $NOTION_SYNC_TEST_S3_AUTH" >&2

run "$@"
