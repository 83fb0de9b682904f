#!/usr/bin/env bash
# Runs a command with the services the object-store tests need, on loopback, and stops them afterwards
# (also when the command fails or is interrupted):
#   - an S3-compatible server (moto, from PyPI, pinned in tests/services/requirements-moto.lock) that
#     supports conditional put (If-None-Match), exported as NOTION_SYNC_TEST_S3;
#   - a second one that checks credentials (moto's IAM authentication), as NOTION_SYNC_TEST_S3_AUTH;
#   - a throwaway PostgreSQL 15 cluster (Debian's postgresql-15, run as the `postgres` user, password
#     authentication) on a free loopback port, reached through psqlODBC: the ODBC connection string (no
#     database schema; tests make their own) is exported as NOTION_SYNC_TEST_POSTGRES, and ODBCSYSINI
#     points at an odbcinst.ini of this run's own that turns psqlODBC's communication log off;
#   - Azurite, the Azure Blob Storage emulator (from npm, pinned in tests/services/package-lock.json), with
#     a container `nsync`, as NOTION_SYNC_TEST_AZURE (and AZURITE_BLOB_STORAGE_URL, which the Azure object
#     store reads when the emulator is on).
#
# Usage: scripts/services.sh COMMAND [ARGS...]     e.g. scripts/services.sh cargo test --test it s3
# Venvs live under $NOTION_SYNC_VENVS (default $HOME/.cache/notion-sync/venvs), npm packages under
# $NOTION_SYNC_NODE (default $HOME/.cache/notion-sync/node). Needs python3 and node/npm.
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

# The npm packages of the lock, installed once (named by the lock's hash).
node_dir=${NOTION_SYNC_NODE:-$HOME/.cache/notion-sync/node}/services-$(sha256sum "$root/tests/services/package-lock.json" | cut -c1-12)
if [[ ! -f $node_dir/.complete ]]; then
    rm -rf "$node_dir"
    mkdir -p "$node_dir"
    cp "$root/tests/services/package.json" "$root/tests/services/package-lock.json" "$node_dir/"
    (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    touch "$node_dir/.complete"
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until `endpoint`/PATH answers HTTP (any status); shows the service's log if it never does.
await_http() {
    local name=$1 path=$2
    for _ in $(seq 1 300); do
        if python3 - "$endpoint$path" 2>/dev/null <<'PY'
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=1)
except urllib.error.HTTPError:
    pass
PY
        then
            return 0
        fi
        sleep 0.2
    done
    echo "services: $name did not start; its log:" >&2
    cat "$work/$name.log" >&2
    return 1
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
    await_http "$name" /moto-api/
}

# Starts Azurite's blob service on a free loopback port, in memory; sets `endpoint`.
start_azurite() {
    local port
    port=$(free_port)
    "$node_dir/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$port" \
        --inMemoryPersistence --skipApiVersionCheck --silent >"$work/azurite.log" 2>&1 &
    pids+=("$!")
    endpoint="http://127.0.0.1:$port"
    await_http azurite /devstoreaccount1
}

# PostgreSQL: initdb and pg_ctl as the postgres user (initdb refuses root), stopped by pg_ctl at exit.
start_postgres() {
    need_odbc
    local bin=${NOTION_SYNC_PG_BIN:-/usr/lib/postgresql/15/bin} port driver password=nsync-pg-test-pw
    [[ -x $bin/initdb ]] || fail "PostgreSQL 15 not found in $bin (set NOTION_SYNC_PG_BIN)"
    local as=()
    [[ $(id -u) == 0 ]] && as=(runuser -u postgres --)
    chmod o+x "$work"
    pg_dir=$work/postgres
    mkdir -p "$pg_dir"
    echo "$password" >"$pg_dir/pwfile"
    [[ $(id -u) == 0 ]] && chown -R postgres "$pg_dir"
    "${as[@]}" "$bin/initdb" -D "$pg_dir/data" -U postgres --auth=scram-sha-256 \
        --pwfile="$pg_dir/pwfile" -E UTF8 --locale=C.UTF-8 >"$pg_dir/initdb.log" 2>&1 \
        || { cat "$pg_dir/initdb.log" >&2; fail "initdb failed"; }
    port=$(free_port)
    on_exit+=("${as[*]} $bin/pg_ctl -D $pg_dir/data stop -m immediate -w >/dev/null 2>&1")
    "${as[@]}" "$bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
        -o "-p $port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" \
        start >/dev/null || { cat "$pg_dir/server.log" >&2; fail "PostgreSQL did not start"; }
    driver=$(find /usr/lib -name psqlodbcw.so 2>/dev/null | head -1)
    printf '[PostgreSQL Unicode]\nDriver=%s\nCommLog=0\nDebug=0\n' "$driver" >"$work/odbcinst.ini"
    export ODBCSYSINI=$work
    export NOTION_SYNC_TEST_POSTGRES="Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=$port;Database=postgres;Uid=postgres;Pwd=$password;"
    postgres_port=$port
}

endpoint=
start_postgres
start_moto s3
export NOTION_SYNC_TEST_S3=$endpoint
start_moto s3-auth INITIAL_NO_AUTH_ACTION_COUNT=0
export NOTION_SYNC_TEST_S3_AUTH=$endpoint
start_azurite
python3 "$root/tests/services/azurite_container.py" "$endpoint" nsync
export NOTION_SYNC_TEST_AZURE=$endpoint AZURITE_BLOB_STORAGE_URL=$endpoint
echo "services: S3 at $NOTION_SYNC_TEST_S3, S3 with authentication at $NOTION_SYNC_TEST_S3_AUTH," \
    "Azurite at $NOTION_SYNC_TEST_AZURE, PostgreSQL on 127.0.0.1:$postgres_port" >&2

run "$@"
