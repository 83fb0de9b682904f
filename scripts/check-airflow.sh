#!/usr/bin/env bash
# Checks the Airflow DAGs in airflow/: ruff, the DB-free pytest suite (on Airflow 3 and 2.x), then real
# `airflow dags test` runs of the bash runner against a notion-sim started here: one must succeed, one with
# a bad token must fail without a retry.
#
# Usage: scripts/check-airflow.sh [VENV_DIR]     (default: $HOME/.cache/notion-sync/venvs)
# Binaries: $NOTION_SYNC_BIN and $NOTION_SIM_BIN (default: $CARGO_TARGET_DIR/debug/notion-sync, notion-sim).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" check-airflow
venvs=${1:-$HOME/.cache/notion-sync/venvs}
tools_pins=(uv==0.13.9 ruff==0.17.6)

step "tools venv ($venvs/tools)"
tools=$venvs/tools
if [[ "$(cat "$tools/.pins" 2>/dev/null)" != "${tools_pins[*]}" ]]; then
    rm -rf "$tools"
    python3 -m venv "$tools"
    "$tools/bin/pip" install -q --disable-pip-version-check "${tools_pins[@]}"
    echo "${tools_pins[*]}" > "$tools/.pins"
fi

# Prints the path of a venv holding exactly LOCK, creating it unless it exists (named by the lock's hash).
venv_from_lock() {
    local lock=$1 venv
    venv=$venvs/airflow-$(sha256sum "$lock" | cut -c1-12)
    if [[ ! -f $venv/.complete ]]; then
        rm -rf "$venv"
        "$tools/bin/uv" venv -q --no-python-downloads -p 3.11 "$venv" >&2
        "$tools/bin/uv" pip sync -q -p "$venv/bin/python" "$lock" >&2
        touch "$venv/.complete"
    fi
    echo "$venv"
}

step "Airflow venvs (from airflow/requirements.lock and airflow/requirements-airflow2.lock)"
af=$(venv_from_lock "$root/airflow/requirements.lock")
af2=$(venv_from_lock "$root/airflow/requirements-airflow2.lock")
echo "$af, $af2"

step "ruff check --select AIR3,F,E9,I; ruff format --check"
"$tools/bin/ruff" check --no-cache --select AIR3,F,E9,I "$root/airflow"
"$tools/bin/ruff" format --no-cache --check "$root/airflow"

export AIRFLOW__CORE__LOAD_EXAMPLES=False AIRFLOW__CORE__DAGS_FOLDER=$root/airflow/dags

for venv in "$af" "$af2"; do
    version=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("apache-airflow"))')
    step "pytest airflow/tests on Airflow $version"
    AIRFLOW_HOME=$(mktemp -d "$work/pytest.XXXXXX") \
        run "$venv/bin/python" -m pytest -q -p no:cacheprovider -p no:warnings "$root/airflow/tests"
done

export AIRFLOW_HOME=$work/home
mkdir -p "$AIRFLOW_HOME"

step "notion-sim"
"$sim_bin" --port 0 --workspace demo --requests-per-minute 0 > "$work/sim.env" &
pids+=("$!")
for _ in $(seq 100); do
    grep -q '_DB_ID=' "$work/sim.env" 2>/dev/null && break
    sleep 0.1
done
base_url=$(sed -n 's/^NOTION_API_BASE_URL=//p' "$work/sim.env")
token=$(sed -n 's/^NOTION_API_KEY=//p' "$work/sim.env")
[[ -n $base_url && -n $token ]] || fail "notion-sim printed no base URL or token"
databases=$(sed -n 's/^NOTION_\(.*\)_DB_ID=\(.*\)$/\1 \2/p' "$work/sim.env" |
    awk '{ printf "%s\"%s\": \"%s\"", (NR > 1 ? ", " : ""), tolower($1), $2 }')
echo "$base_url, databases {$databases}"

export NOTION_SYNC_RUNNER=bash NOTION_SYNC_BIN=$sync_bin NOTION_REQUESTS_PER_MINUTE=6000
export AIRFLOW_VAR_NOTION_SYNC_DATABASES="{\"lakehouse_uri\": \"$work/lake\", \"retries\": 2,
    \"retry_delay_seconds\": 5, \"databases\": {$databases}}"
connection() { printf '{"conn_type": "http", "host": "%s", "password": "%s"}' "$base_url" "$1"; }
airflow=$af/bin/airflow

# Task id, state and tries of each task of the latest notion_sync run.
tries() {
    "$af/bin/python" - "$AIRFLOW_HOME/airflow.db" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute(
    "SELECT task_id, state, try_number FROM task_instance WHERE dag_id = 'notion_sync' AND run_id = "
    "(SELECT run_id FROM dag_run WHERE dag_id = 'notion_sync' ORDER BY id DESC LIMIT 1) ORDER BY task_id"
)
for row in rows:
    print(*row)
EOF
}

step "airflow db migrate, pool"
run "$airflow" db migrate > "$work/migrate.log" 2>&1 || { cat "$work/migrate.log"; fail "db migrate failed"; }
run "$airflow" pools set notion_api_default 1 "Notion token notion_default" > /dev/null

step "airflow dags test notion_sync (must succeed)"
AIRFLOW_CONN_NOTION_DEFAULT=$(connection "$token") run "$airflow" dags test notion_sync > "$work/ok.log" 2>&1 ||
    { tail -n 60 "$work/ok.log"; fail "the notion_sync run failed"; }
tries | tee "$work/ok.tries"
if grep -qv ' success 1$' "$work/ok.tries"; then fail "a task did not succeed in one try"; fi
versions=$(find "$work/lake/bronze/notion_raw_pages/_delta_log" -name '*.json' | wc -l)
((versions >= 2)) || fail "notion_raw_pages has no commit after init-tables"
events=$("$af/bin/python" -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(
    'SELECT count(*) FROM asset_event').fetchone()[0])" "$AIRFLOW_HOME/airflow.db")
((events > 0)) || fail "no Asset events were recorded"
echo "notion_raw_pages: $versions commits; $events Asset events"
grep -q "$token" "$work/ok.log" && fail "the token appears in the Airflow output"

step "airflow dags test notion_sync with a bad token (must fail, without retries)"
if AIRFLOW_CONN_NOTION_DEFAULT=$(connection ntn_bad_token) run "$airflow" dags test notion_sync \
    > "$work/bad.log" 2>&1; then
    fail "the run with a bad token succeeded"
fi
tries | tee "$work/bad.tries"
grep -q '^init_tables success 1$' "$work/bad.tries" || fail "init_tables should have succeeded"
sync_rows=$(grep -c '^sync_' "$work/bad.tries" || true)
failed_once=$(grep -c '^sync_.* failed 1$' "$work/bad.tries" || true)
((sync_rows > 0 && failed_once == sync_rows)) || fail "every sync task must fail in its first try"
grep -q 'exited with 3' "$work/bad.log" || fail "the failure does not name exit code 3"
