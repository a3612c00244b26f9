#!/usr/bin/env bash
# ops/run from clones in a folder only their owner can enter (mode 700, as /root is):
# each brings the stack to /readyz 200 with its private PostgreSQL where the server's user
# can reach it, one per checkout; Ctrl-C (SIGINT to ops/run's process group, as a terminal
# sends it) leaves nothing of that checkout running; a run killed outright (SIGKILL, its
# postmaster.pid left naming a pid now used by another process) is recovered by the next.
# The clones are of the committed HEAD of $LWSTACK_SRC; ops/run runs the lwstack that ctest
# built (LWSTACK_BIN) instead of building its own.
. "$(dirname "$0")/lib.sh"

if ! git -C "$LWSTACK_SRC" rev-parse --verify -q HEAD >/dev/null; then
    echo "skip: $LWSTACK_SRC is not a git checkout"
    exit 77
fi

root=0
[ "$(id -u)" = 0 ] && root=1
chmod 700 "$LW_T_DIR"
closed="$LW_T_DIR/closed"
install -d -m 700 "$closed"
git clone -q "$LWSTACK_SRC" "$closed/a/lwstack"
git clone -q "$LWSTACK_SRC" "$closed/b/lwstack"
chmod 700 "$closed/a" "$closed/b"
clone_a=$(cd "$closed/a/lwstack" && pwd -P)
clone_b=$(cd "$closed/b/lwstack" && pwd -P)

# Where ops/run keeps a checkout's PostgreSQL: /var/lib/lwstack/<folder name>-<hash of the
# path> as root, else in the checkout.
expected_pgdir() {
    if [ "$root" = 1 ]; then
        echo "/var/lib/lwstack/lwstack-$(printf '%s' "$1" | sha256sum | cut -c1-12)/pg"
    else
        echo "$1/.lwstack/pg"
    fi
}
pgdir_a=$(expected_pgdir "$clone_a")
pgdir_b=$(expected_pgdir "$clone_b")

# ops_procs FOLDER...: "pid command" of every process working in or naming one of the
# folders (pure bash: no helper process carries the folders in its own command line).
ops_procs() {
    local p cwd cmd d
    for p in /proc/[0-9]*; do
        cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
        cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
        [ -n "$cmd" ] || continue
        for d in "$@"; do
            if [[ "$cwd/" == "$d/"* || "$cmd" == *"$d"* ]]; then
                echo "${p#/proc/} $cmd"
                break
            fi
        done
    done
}

ops_cleanup() {
    local pid
    for pid in $(ops_procs "$clone_a" "$clone_b" "$pgdir_a" "$pgdir_b" | cut -d' ' -f1); do
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ "$root" = 1 ]; then rm -rf "$(dirname "$pgdir_a")" "$(dirname "$pgdir_b")"; fi
}
trap 'ops_cleanup; lw_t_cleanup' EXIT

# ops_run NAME CLONE PORT: starts CLONE/ops/run in its own session (so in a process group of
# its own, SIGINT not ignored as it is for a script's background jobs); waits until /readyz
# answers 200. Sets OPS_PID (= its process group) and OPS_PGDIR (the folder it printed).
ops_run() {
    local name=$1 clone=$2 port=$3 end
    LWSTACK_BIN="$LWSTACK_BIN" LWSTACK_HTTP_LISTEN="127.0.0.1:$port" LWSTACK_GS_UDP_LISTEN=127.0.0.1:0 \
        LWSTACK_GS_BASIC_STATION_LISTEN=127.0.0.1:0 LWSTACK_GS_BASIC_STATION_LISTEN_TLS=127.0.0.1:0 \
        setsid env --default-signal=INT "$clone/ops/run" >"$LW_T_DIR/$name.log" 2>&1 &
    OPS_PID=$!
    end=$(($(date +%s) + 120))
    until curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"; do
        if ! kill -0 "$OPS_PID" 2>/dev/null || [ "$(date +%s)" -gt "$end" ]; then
            echo "ops/run $name did not become ready:" >&2
            tail -30 "$LW_T_DIR/$name.log" >&2
            return 1
        fi
        sleep 0.2
    done
    OPS_PGDIR=$(sed -nE 's|^  PostgreSQL: +data in (.*)/data, socket in .*|\1|p' "$LW_T_DIR/$name.log")
}

# ops_interrupt NAME PID: SIGINT to the process group, as Ctrl-C in a terminal; waits.
ops_interrupt() {
    kill -INT -- "-$2"
    lw_t_wait_exit "$2" 60
    lw_t_eq "$1: ops/run exits on Ctrl-C with 130" 130 "$LW_T_RC"
}

readyz() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz"; }

if [ "$root" = 1 ]; then
    if runuser -u postgres -- test -x "$clone_a"; then r=reachable; else r=closed; fi
    lw_t_eq "the clone is closed to the postgres user" closed "$r"
fi

# ---- two clones running side by side ------------------------------------------------------
port_a=$(lw_t_free_port)
ops_run a1 "$clone_a" "$port_a"
pid_a=$OPS_PID
lw_t_eq "a: ops/run leads its process group" "$pid_a" "$(ps -o pgid= -p "$pid_a" | tr -d ' ')"
lw_t_eq "a: /readyz" 200 "$(readyz "$port_a")"
lw_t_eq "a: PostgreSQL folder printed" "$pgdir_a" "$OPS_PGDIR"
if [ "$root" = 1 ]; then
    lw_t_eq "a: the folder names its checkout" "$clone_a" "$(cat "$(dirname "$pgdir_a")/checkout")"
fi
pm=$(head -n 1 "$pgdir_a/data/postmaster.pid")
lw_t_eq "a: its postmaster works in that folder" "$pgdir_a/data" "$(readlink "/proc/$pm/cwd")"
# What "nothing left" is checked against: ops_procs sees the stack while it runs.
procs=$(ops_procs "$clone_a" "$pgdir_a")
lw_t_eq "a: ops_procs sees lwstack running" 1 "$(grep -c "^[0-9]* $LWSTACK_BIN start all" <<<"$procs")"
lw_t_eq "a: ops_procs sees the postmaster running" 1 "$(grep -c "^$pm " <<<"$procs")"

key=$(cat "$clone_a/.lwstack/tenant-admin-key")
tenant='{"tenant":{"ids":{"tenant_id":"kept"},"name":"Kept","state":"STATE_APPROVED"}}'
r=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: TenantAdminKey $key" \
    "http://127.0.0.1:$port_a/api/v3/tenants" -d "$tenant")
lw_t_eq "a: tenant created" 200 "$r"
lw_t_eq "a: the generated admin key is printed" 1 "$(grep -c "^  Tenant admin key:  $key " "$LW_T_DIR/a1.log")"

# The private PostgreSQL is reachable only by root and the server's user: another local user
# cannot reach its socket, and whoever reaches it needs the password (no trust).
if [ "$root" = 1 ]; then
    sock_a=$(sed -nE 's|^  PostgreSQL: +data in .*/data, socket in (.*), log .*|\1|p' "$LW_T_DIR/a1.log")
    lw_t_eq "a: socket folder closed to others" "700 postgres" "$(stat -c '%a %U' "$sock_a")"
    lw_t_eq "a: password file closed to others" "600 postgres" "$(stat -c '%a %U' "$pgdir_a/pgpass")"
    for role in lwstack postgres; do
        if runuser -u nobody -- psql -X -w -h "$sock_a" -U "$role" -d lwstack -c 'select 1' \
            >"$LW_T_DIR/nobody-$role.out" 2>&1; then r=connected; else r=refused; fi
        lw_t_eq "a: user nobody cannot connect as $role" refused "$r"
    done
    if PGPASSFILE=/dev/null psql -X -w "postgresql:///lwstack?host=$sock_a&user=lwstack" \
        -c 'select 1' >"$LW_T_DIR/nopass.out" 2>&1; then r=connected; else r=refused; fi
    lw_t_eq "a: without the password, not even root connects" refused "$r"
    lw_t_eq "a: refused for the password" 1 "$(grep -q 'password' "$LW_T_DIR/nopass.out" && echo 1 || echo 0)"
    r=$(psql -X -w "postgresql:///lwstack?host=$sock_a&user=lwstack&passfile=$pgdir_a/pgpass" \
        -tAc "SELECT count(*) FROM lw_control.tenants WHERE tenant_id = 'kept'")
    lw_t_eq "a: with the password file the stack's data is there" 1 "$r"
fi

port_b=$(lw_t_free_port)
# b is given its admin key: ops/run uses it and never prints it.
key_b=$(openssl rand -hex 32)
LWSTACK_TENANCY_ADMIN_KEYS=$key_b ops_run b1 "$clone_b" "$port_b"
pid_b=$OPS_PID
lw_t_eq "b: /readyz" 200 "$(readyz "$port_b")"
lw_t_eq "b: a given admin key is not printed" 0 "$(grep -c "$key_b" "$LW_T_DIR/b1.log" || true)"
lw_t_eq "b: it says where the key comes from" 1 \
    "$(grep -c '^  Tenant admin key:  (your key from LWSTACK_TENANCY_ADMIN_KEYS)$' "$LW_T_DIR/b1.log")"
r=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: TenantAdminKey $key_b" \
    "http://127.0.0.1:$port_b/api/v3/tenants")
lw_t_eq "b: the given key works" 200 "$r"
lw_t_eq "b: its own PostgreSQL folder" "$pgdir_b" "$OPS_PGDIR"
lw_t_eq "b: not a's" 1 "$([ "$pgdir_a" != "$pgdir_b" ] && echo 1)"

ops_interrupt a1 "$pid_a"
lw_t_eq "a: nothing left running after Ctrl-C" "" "$(ops_procs "$clone_a" "$pgdir_a")"
lw_t_eq "b: still ready" 200 "$(readyz "$port_b")"

# ---- a run killed outright, then run again -------------------------------------------------
ops_run a2 "$clone_a" "$port_a"
pid_a=$OPS_PID
lw_t_eq "a, second run: /readyz" 200 "$(readyz "$port_a")"
for pid in $(ops_procs "$clone_a" "$pgdir_a" | cut -d' ' -f1); do kill -KILL "$pid" 2>/dev/null || true; done
lw_t_wait_exit "$pid_a" 10
for _ in $(seq 100); do
    [ -n "$(ops_procs "$clone_a" "$pgdir_a")" ] || break
    sleep 0.1
done
lw_t_eq "a: nothing left after SIGKILL" "" "$(ops_procs "$clone_a" "$pgdir_a")"
# The pid in the stale postmaster.pid now belongs to another process of the server's user.
if [ "$root" = 1 ]; then
    setpriv --reuid=postgres --regid=postgres --clear-groups sleep 600 &
else
    sleep 600 &
fi
LW_T_PIDS+=("$!")
sed -i "1s/.*/$!/" "$pgdir_a/data/postmaster.pid"

ops_run a3 "$clone_a" "$port_a"
pid_a=$OPS_PID
lw_t_eq "a, after the kill: /readyz" 200 "$(readyz "$port_a")"
lw_t_eq "a, after the kill: the stale postmaster.pid was removed" 1 \
    "$(grep -c 'removing .*postmaster.pid left by a server that is gone' "$LW_T_DIR/a3.log")"
r=$(curl -s -H "Authorization: TenantAdminKey $key" "http://127.0.0.1:$port_a/api/v3/tenants/kept?field_mask=name" |
    jq -r '.name')
lw_t_eq "a, after the kill: the same data" Kept "$r"
ops_interrupt a3 "$pid_a"
lw_t_eq "a: nothing left running after Ctrl-C" "" "$(ops_procs "$clone_a" "$pgdir_a")"

ops_interrupt b1 "$pid_b"
lw_t_eq "b: nothing left running after Ctrl-C" "" "$(ops_procs "$clone_b" "$pgdir_b")"

lw_t_done
