# Shared helpers for the integration tests (bash). Source it:
#   . "$(dirname "$0")/lib.sh"
# Each test gets its own scratch folder, its own PostgreSQL (private cluster on a Unix
# socket) and, when asked, its own Kafka broker (`lwstack kafka-dev`), and leaves nothing
# running: everything started here is stopped by the EXIT trap.
#
# Environment (set by ctest from CMake): LWSTACK_BIN (the lwstack executable),
# LWSTACK_SRC (the checkout).
set -euo pipefail

: "${LWSTACK_BIN:?LWSTACK_BIN must point at the lwstack executable}"
: "${LWSTACK_SRC:?LWSTACK_SRC must point at the checkout}"

# The data path's listeners have fixed default ports (js.listen :1886, ...): in tests, where
# several stacks and worktrees run at once, they bind any free port unless a test passes its
# own (a flag beats the environment).
export LWSTACK_JS_LISTEN=${LWSTACK_JS_LISTEN:-127.0.0.1:0}
export LWSTACK_AS_MQTT_LISTEN=${LWSTACK_AS_MQTT_LISTEN:-127.0.0.1:0}

LW_T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lwtest.XXXXXX")
LW_T_PIDS=()
LW_T_PGDATA=""
LW_T_PGHOME=""
LW_T_FAILS=0
LW_T_PASSES=0

lw_t_pg_bin() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && { echo "$d"; return; }
    done
    echo "lib.sh: PostgreSQL server binaries not found (run ops/install)" >&2
    return 1
}

lw_t_cleanup() {
    local pid i
    # Newest first: lwstack processes stop before the broker they use.
    for ((i = ${#LW_T_PIDS[@]} - 1; i >= 0; i--)); do
        pid=${LW_T_PIDS[$i]}
        [ -n "$pid" ] || continue
        kill -TERM "$pid" 2>/dev/null || continue
        timeout 10 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    done
    if [ -n "$LW_T_PGDATA" ] && [ -f "$LW_T_PGDATA/postmaster.pid" ]; then
        lw_t_as_pg "$(lw_t_pg_bin)/pg_ctl" -D "$LW_T_PGDATA" -m immediate stop >/dev/null 2>&1 || true
    fi
    if [ "${LW_T_KEEP:-0}" != 1 ]; then
        rm -rf "$LW_T_DIR"
        [ -z "$LW_T_PGHOME" ] || rm -rf "$LW_T_PGHOME"
    else
        echo "kept $LW_T_DIR ${LW_T_PGHOME:+(PostgreSQL in $LW_T_PGHOME)}" >&2
    fi
}
trap lw_t_cleanup EXIT

# PostgreSQL refuses to run as root: run its binaries as the `postgres` user then, from /
# (the test's working folder may be in a checkout closed to that user).
lw_t_as_pg() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# Starts a private PostgreSQL; sets LW_T_DB_URI (database `lwstack`, owner postgres/current).
# Its data and socket are in $LW_T_DIR, else, when the server's user cannot reach that
# (TMPDIR inside a folder closed to `postgres`) or the socket path would be too long, in a
# folder of their own in /tmp (LW_T_PGHOME, removed with $LW_T_DIR).
lw_t_pg_start() {
    local bin; bin=$(lw_t_pg_bin)
    local home=$LW_T_DIR
    chmod 755 "$LW_T_DIR"
    if [ ${#LW_T_DIR} -gt 80 ] ||
       { [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$LW_T_DIR"; }; then
        LW_T_PGHOME=$(mktemp -d /tmp/lwtest-pg.XXXXXX)
        chmod 755 "$LW_T_PGHOME"
        home=$LW_T_PGHOME
    fi
    LW_T_PGDATA="$home/pg"
    LW_T_PGSOCK="$home/pgsock"
    LW_T_PGLOG="$home/pg.log"
    mkdir -p "$LW_T_PGDATA" "$LW_T_PGSOCK"
    [ "$(id -u)" = 0 ] && chown -R postgres "$home"
    # Trust authentication, for the test's speed and simplicity, but behind a socket folder
    # only the server's user (and root) can enter: no other local user reaches it.
    chmod 700 "$LW_T_PGSOCK"
    # A copy of a cluster made once per machine and PostgreSQL version (initdb and createdb
    # cost 1.5-3 s a test; the copy 0.1 s). Made under a lock: tests run in parallel.
    local tmpl; tmpl=$(lw_t_pg_template "$bin") || return 1
    rmdir "$LW_T_PGDATA"
    lw_t_as_pg cp -a "$tmpl/pg" "$LW_T_PGDATA"
    lw_t_pg_up
    LW_T_DB_URI="postgresql:///lwstack?host=$LW_T_PGSOCK&user=lwstack"
    export LW_T_DB_URI
}

# lw_t_pg_template BIN: prints the folder of a template cluster ($folder/pg: initdb'd with
# the test settings, database `lwstack` created), making it first if it is not there yet.
lw_t_pg_template() {
    local bin=$1 ver
    ver=$(basename "$(dirname "$bin")")
    local t="${TMPDIR:-/tmp}/lwtest-pgtemplate.$(id -u).$ver.v1"
    if [ ! -f "$t/ready" ]; then
        (
            flock 9
            if [ ! -f "$t/ready" ]; then
                rm -rf "$t"
                mkdir -p "$t/pg" "$t/sock"
                chmod 755 "$t"
                chmod 700 "$t/sock"
                [ "$(id -u)" = 0 ] && chown -R postgres "$t"
                lw_t_as_pg "$bin/initdb" -D "$t/pg" -U lwstack --auth=trust -E UTF8 >"$t/initdb.log" 2>&1 &&
                    lw_t_as_pg "$bin/pg_ctl" -D "$t/pg" -w -l "$t/pg.log" \
                        -o "-c listen_addresses='' -c unix_socket_directories='$t/sock' -c fsync=off" start >/dev/null &&
                    lw_t_as_pg "$bin/createdb" -h "$t/sock" -U lwstack lwstack &&
                    lw_t_as_pg "$bin/pg_ctl" -D "$t/pg" -m fast -w stop >/dev/null &&
                    touch "$t/ready" || { echo "lib.sh: the template cluster was not made (see $t)" >&2; exit 1; }
            fi
        ) 9>"${TMPDIR:-/tmp}/lwtest-pgtemplate.$(id -u).lock" >&2
    fi
    echo "$t"
}

# (Re)starts the private PostgreSQL created by lw_t_pg_start.
lw_t_pg_up() {
    lw_t_as_pg "$(lw_t_pg_bin)/pg_ctl" -D "$LW_T_PGDATA" -w -l "$LW_T_PGLOG" \
        -o "-c listen_addresses='' -c unix_socket_directories='$LW_T_PGSOCK' -c fsync=off" start >/dev/null
}

lw_t_pg_down() {
    lw_t_as_pg "$(lw_t_pg_bin)/pg_ctl" -D "$LW_T_PGDATA" -m fast -w stop >/dev/null
}

lw_t_psql() {
    psql "$LW_T_DB_URI" -X -q -A -t -v ON_ERROR_STOP=1 "$@"
}

# Starts a standalone Kafka broker (librdkafka mock cluster); sets LW_T_BROKERS and
# LW_T_KAFKA_PID.
lw_t_kafka_start() {
    local f="$LW_T_DIR/bootstrap"
    "$LWSTACK_BIN" kafka-dev --partitions "${1:-4}" --bootstrap-file "$f" >"$LW_T_DIR/kafka.log" 2>&1 &
    LW_T_KAFKA_PID=$!
    LW_T_PIDS+=("$!")
    lw_t_wait_for "kafka-dev bootstrap file" 10 test -s "$f"
    LW_T_BROKERS=$(cat "$f")
    export LW_T_BROKERS
}

# Runs lwstack in the background with the given arguments; its output goes to
# $LW_T_DIR/<name>.log; sets LW_T_LAST_PID.
lw_t_spawn() {
    local name=$1; shift
    "$LWSTACK_BIN" "$@" >"$LW_T_DIR/$name.log" 2>&1 &
    LW_T_LAST_PID=$!
    LW_T_PIDS+=("$LW_T_LAST_PID")
}

# lw_t_wait_for WHAT SECONDS CMD...: polls CMD every 0.1 s until it succeeds.
lw_t_wait_for() {
    local what=$1 secs=$2; shift 2
    local end=$(( $(date +%s%N) + secs * 1000000000 ))
    while ! "$@" >/dev/null 2>&1; do
        if [ "$(date +%s%N)" -gt "$end" ]; then
            echo "timed out after ${secs}s waiting for $what" >&2
            return 1
        fi
        sleep 0.1
    done
}

# A free TCP port on 127.0.0.1.
lw_t_free_port() {
    python3 - <<'PY' 2>/dev/null || shuf -i 20000-60000 -n 1
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

# Assertions: each prints one line; the test ends with lw_t_done.
lw_t_ok() { LW_T_PASSES=$((LW_T_PASSES + 1)); echo "ok   - $1"; }
lw_t_fail() { LW_T_FAILS=$((LW_T_FAILS + 1)); echo "FAIL - $1" >&2; }
# lw_t_eq DESCRIPTION EXPECTED ACTUAL
lw_t_eq() {
    if [ "$2" == "$3" ]; then lw_t_ok "$1"; else lw_t_fail "$1: expected [$2], got [$3]"; fi
}
lw_t_done() {
    echo "$LW_T_PASSES passed, $LW_T_FAILS failed"
    [ "$LW_T_FAILS" -eq 0 ]
}

# The bus test driver (tests/integration/bus/bus_driver.c): $LW_BUS_DRIVER, else next to
# the lwstack build tree.
lw_t_bus_driver() {
    local d
    if [ -n "${LW_BUS_DRIVER:-}" ]; then echo "$LW_BUS_DRIVER"; return; fi
    d="$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)/tests/integration/bus/bus_driver"
    [ -x "$d" ] || { echo "lib.sh: bus_driver not found at $d (set LW_BUS_DRIVER)" >&2; return 1; }
    echo "$d"
}

# lw_t_bg NAME CMD...: runs CMD in the background, output in $LW_T_DIR/NAME.{out,err};
# sets LW_T_LAST_PID; stopped by the EXIT trap.
lw_t_bg() {
    local name=$1; shift
    "$@" >"$LW_T_DIR/$name.out" 2>"$LW_T_DIR/$name.err" &
    LW_T_LAST_PID=$!
    LW_T_PIDS+=("$LW_T_LAST_PID")
}

# lw_t_wait_exit PID SECONDS: waits for a child of this shell to exit; sets LW_T_RC to its
# status, or to "timeout". (Not in $(...): a subshell cannot wait for our children.)
lw_t_wait_exit() {
    local pid=$1 secs=$2 end
    end=$(( $(date +%s%N) + secs * 1000000000 ))
    while kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; do
        if [ "$(date +%s%N)" -gt "$end" ]; then LW_T_RC=timeout; return; fi
        sleep 0.05
    done
    LW_T_RC=0
    wait "$pid" || LW_T_RC=$?
}

# ---- lwstack processes --------------------------------------------------------------------

LW_T_ADMIN_KEY=${LW_T_ADMIN_KEY:-00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff}

# Backend Interfaces between a stack's NS and JS are authenticated (js.bi.tokens.<NetID>,
# ns.join-server-token): one token generated per test, given to every stack lw_t_stack (and
# lib_e2e.sh's lw_e2e_spawn) starts, under the NS's NetID (its --ns.net-id, else 000000).
# A test that posts to the JS itself sends "Authorization: Bearer $LW_T_BI_TOKEN";
# LW_T_BI_TOKEN= (empty) starts stacks without tokens.
LW_T_BI_TOKEN=${LW_T_BI_TOKEN-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}
# lw_t_bi_args ARGS...: sets LW_T_BI_ARGS to the token flags for a stack started with ARGS.
lw_t_bi_args() {
    LW_T_BI_ARGS=()
    [ -n "$LW_T_BI_TOKEN" ] || return 0
    local a prev="" net_id=000000
    for a in "$@"; do
        case "$a" in --ns.net-id=*) net_id=${a#*=} ;; esac
        [ "$prev" = --ns.net-id ] && net_id=$a
        prev=$a
    done
    LW_T_BI_ARGS=("--js.bi.tokens.${net_id,,}" "$LW_T_BI_TOKEN" --ns.join-server-token "$LW_T_BI_TOKEN")
}

# lw_t_stack NAME PORT [extra args...]: starts `lwstack start all` against the test's
# PostgreSQL and broker on 127.0.0.1:PORT and waits until /readyz answers 200. The Gateway
# Server's UDP and Basics Station ports are ephemeral ones (tests run in parallel; the
# defaults are :1700 and :1887).
lw_t_stack() {
    local name=$1 port=$2; shift 2
    lw_t_bi_args "$@"
    lw_t_spawn "$name" --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" \
        --http.listen "127.0.0.1:$port" --tenancy.admin-keys "$LW_T_ADMIN_KEY" \
        --gs.udp.listen 127.0.0.1:0 --gs.basic-station.listen 127.0.0.1:0 "${LW_T_BI_ARGS[@]}" \
        "$@" start all
    lw_t_wait_for "$name ready on port $port" 30 \
        curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" || {
        tail -30 "$LW_T_DIR/$name.log" >&2
        return 1
    }
}

# lw_t_http METHOD URL [curl args...]: prints "STATUS BODY" (body on one line).
lw_t_http() {
    local method=$1 url=$2; shift 2
    local out
    out=$(curl -sS -X "$method" -w '\n%{http_code}' "$@" "$url")
    local status=${out##*$'\n'}
    local body=${out%$'\n'*}
    printf '%s %s\n' "$status" "$(printf '%s' "$body" | tr -d '\n')"
}

# lw_t_admin METHOD URL [curl args]: as lw_t_http with the tenant admin key.
lw_t_admin() {
    local method=$1 url=$2; shift 2
    lw_t_http "$method" "$url" -H "Authorization: TenantAdminKey $LW_T_ADMIN_KEY" "$@"
}

# The status and error name of an lw_t_http line: "409 already_exists".
lw_t_status_name() {
    local line=$1
    local status=${line%% *} body=${line#* }
    local name
    name=$(printf '%s' "$body" | jq -r '.details[0].name // empty' 2>/dev/null || true)
    printf '%s %s' "$status" "$name" | sed 's/ $//'
}

# The PostgreSQL pool/migration test driver (tests/integration/db/db_driver.c): from
# LW_DB_DRIVER or next to lwstack's build tree.
lw_t_db_driver() {
    local d
    if [ -n "${LW_DB_DRIVER:-}" ]; then echo "$LW_DB_DRIVER"; return; fi
    d="$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)/tests/integration/db/db_driver"
    [ -x "$d" ] || { echo "lib.sh: db_driver not found at $d (set LW_DB_DRIVER)" >&2; return 1; }
    echo "$d"
}

# lw_t_wait_line FILE PATTERN SECONDS [N]: waits until FILE holds at least N (default 1)
# lines matching the extended regex PATTERN.
lw_t_wait_line() {
    local file=$1 pat=$2 secs=$3 n=${4:-1}
    lw_t_wait_for "$n line(s) /$pat/ in $(basename "$file")" "$secs" \
        bash -c '[ "$(grep -cE -- "$1" "$2" 2>/dev/null)" -ge "$3" ]' _ "$pat" "$file" "$n"
}

# The HTTP test driver (tests/integration/http/http_driver.c): $LW_HTTP_DRIVER, else in
# lwstack's build tree. Sets LW_HTTP_DRIVER.
lw_t_http_driver_find() {
    if [ -z "${LW_HTTP_DRIVER:-}" ]; then
        LW_HTTP_DRIVER="$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)/tests/integration/http/http_driver"
    fi
    [ -x "$LW_HTTP_DRIVER" ] || { echo "lib.sh: http_driver not found at $LW_HTTP_DRIVER (set LW_HTTP_DRIVER)" >&2; return 1; }
    export LW_HTTP_DRIVER
}

# lw_t_http_driver_start NAME ARGS...: runs the HTTP driver in the background (log in
# $LW_T_DIR/NAME.log), waits until it listens; sets LW_T_HTTP_PID and LW_T_HTTP_PORT.
lw_t_http_driver_start() {
    local name=$1; shift
    local pf="$LW_T_DIR/$name.port"
    rm -f "$pf"
    "$LW_HTTP_DRIVER" "$@" --port-file "$pf" >"$LW_T_DIR/$name.log" 2>&1 &
    LW_T_HTTP_PID=$!
    LW_T_PIDS+=("$LW_T_HTTP_PID")
    lw_t_wait_for "http_driver $name port file" 10 test -s "$pf"
    LW_T_HTTP_PORT=$(cat "$pf")
}

# ---- lwcli ------------------------------------------------------------------------------
# (tests/integration/test_lwcli*.sh; LWCLI_BIN is set by ctest.)

# lw_t_cli ARGS...: runs $LWCLI_BIN; sets LW_T_OUT (stdout), LW_T_ERR (stderr), LW_T_RC.
# Stdin is $LW_T_CLI_IN (plus a newline) when that is set, else /dev/null. Every call is
# logged to $LW_T_DIR/cli.log.
lw_t_cli() {
    set +e
    if [ -n "${LW_T_CLI_IN+x}" ]; then
        LW_T_OUT=$(printf '%s\n' "$LW_T_CLI_IN" | "$LWCLI_BIN" "$@" 2>"$LW_T_DIR/cli.err")
    else
        LW_T_OUT=$("$LWCLI_BIN" "$@" 2>"$LW_T_DIR/cli.err" </dev/null)
    fi
    LW_T_RC=$?
    set -e
    LW_T_ERR=$(cat "$LW_T_DIR/cli.err")
    { echo "\$ lwcli $*"; echo "$LW_T_OUT"; echo "$LW_T_ERR"; echo "rc=$LW_T_RC"; } >>"$LW_T_DIR/cli.log"
}
# Filter: RFC 3339 timestamps → TIME, so tables compare exactly.
lw_t_times() { sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]+(\.[0-9]+)?(Z|[+-][0-9:]+)/TIME/g'; }
# lw_t_kv KEY: the value of the "KEY: value" line of the last lwcli output.
lw_t_kv() { printf '%s\n' "$LW_T_OUT" | sed -nE "s/^$1: +//p"; }
# "error: <name>:" from the first line of the last lwcli stderr.
lw_t_cli_err() { printf '%s\n' "$LW_T_ERR" | head -1 | cut -d' ' -f1-2; }

# ---- tenant-scoped API requests (need $api, e.g. http://127.0.0.1:PORT/api/v3) --------------

# lw_t_adm TENANT METHOD PATH [BODY]: with the tenant admin key, within TENANT.
lw_t_adm() {
    local t=$1 m=$2 p=$3
    if [ $# -ge 4 ]; then
        lw_t_admin "$m" "$api$p" -H "X-Tenant-ID: $t" -d "$4"
    else
        lw_t_admin "$m" "$api$p" -H "X-Tenant-ID: $t"
    fi
}
# lw_t_bearer TOKEN TENANT METHOD PATH [BODY]: with an API key or access token.
lw_t_bearer() {
    local k=$1 t=$2 m=$3 p=$4
    if [ $# -ge 5 ]; then
        lw_t_http "$m" "$api$p" -H "X-Tenant-ID: $t" -H "Authorization: Bearer $k" -d "$5"
    else
        lw_t_http "$m" "$api$p" -H "X-Tenant-ID: $t" -H "Authorization: Bearer $k"
    fi
}
# The body of an lw_t_http line.
lw_t_body() { printf '%s' "${1#* }"; }
