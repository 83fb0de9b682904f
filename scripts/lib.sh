# Set-up shared by the check scripts that run the binaries, sourced with the script's name:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" check-NAME [--no-binaries]
# Sets root (the checkout), sync_bin and sim_bin ($NOTION_SYNC_BIN and $NOTION_SIM_BIN, default
# $CARGO_TARGET_DIR/debug/notion-sync and notion-sim; both must exist unless --no-binaries), a scratch directory $work and the
# array pids. On exit every process in pids is stopped (`run` adds the commands it starts), $work is removed
# and one line says how the script ended and how long it took.

check_name=$1
started=$SECONDS
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$HOME/.cache/notion-sync/target}
sync_bin=$(realpath -m "${NOTION_SYNC_BIN:-$target/debug/notion-sync}")
sim_bin=$(realpath -m "${NOTION_SIM_BIN:-$target/debug/notion-sim}")

exec 3>&1 # the summary line goes here even when the script stops inside a redirected command
work=$(mktemp -d "${TMPDIR:-/tmp}/$check_name.XXXXXX")
pids=()

# Commands run first when the script ends (services that stop themselves, e.g. PostgreSQL's pg_ctl).
on_exit=()

cleanup() {
    local rc=$?
    for hook in "${on_exit[@]}"; do
        eval "$hook" || true
    done
    # Asked to stop, then given 5 s before they are killed (Azurite's graceful stop takes minutes).
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
    echo "$check_name: $([[ $rc == 0 ]] && echo ok || echo "FAILED (exit $rc)") in $((SECONDS - started)) s" >&3
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step() { echo "==> $*"; }
fail() { echo "$check_name: $*" >&2; exit 1; }

# Runs a command in the background so that the trap can stop it, and returns its exit code.
run() {
    "$@" &
    pids+=("$!")
    local rc=0
    wait "$!" || rc=$?
    return "$rc"
}

if [[ ${2:-} != --no-binaries ]]; then
    for bin in "$sync_bin" "$sim_bin"; do
        [[ -x $bin ]] || fail "$bin not found: build with cargo build -p notion-sync -p notion-sim"
    done
fi

# Installs the ODBC driver manager and PostgreSQL's ODBC driver from Debian when they are missing (the
# build links unixODBC; the warehouse tests reach PostgreSQL through psqlODBC).
need_odbc() {
    if [[ -e /usr/include/sql.h ]] && find /usr/lib -name psqlodbcw.so 2>/dev/null | grep -q .; then
        return 0
    fi
    local sudo=
    [[ $(id -u) == 0 ]] || sudo=sudo
    echo "installing unixodbc-dev and odbc-postgresql" >&2
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq unixodbc-dev odbc-postgresql >/dev/null
}
