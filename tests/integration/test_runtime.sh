#!/usr/bin/env bash
# The node runtime (issue 2): configuration errors and precedence, secrets kept out of
# `lwstack config`, health, readiness across a PostgreSQL restart, metrics, and a clean
# SIGTERM that loses nothing published before it.
. "$(dirname "$0")/lib.sh"

# ---- configuration ------------------------------------------------------------------------
set +e
out=$("$LWSTACK_BIN" --db.pool-size=abc config 2>&1); rc=$?
lw_t_eq "bad flag value → exit 2" 2 "$rc"
lw_t_eq "bad flag value names key, value and why" \
    "lwstack: invalid value \`abc\` for \`db.pool-size\`: not an integer" "$out"
out=$("$LWSTACK_BIN" --db.pool-size=0 config 2>&1); rc=$?
lw_t_eq "out-of-range value → exit 2 with bounds" "2 lwstack: invalid value \`0\` for \`db.pool-size\`: must be between 1 and 256" "$rc $out"
out=$("$LWSTACK_BIN" --no-such-flag config 2>&1); rc=$?
lw_t_eq "unknown flag → exit 2" 2 "$rc"
lw_t_eq "unknown flag is named" "lwstack: unknown flag --no-such-flag" "$(printf '%s' "$out" | head -1)"
out=$("$LWSTACK_BIN" config --no-such-flag 2>&1); rc=$?
lw_t_eq "unknown flag after the command → exit 2" 2 "$rc"
out=$("$LWSTACK_BIN" frobnicate 2>&1); rc=$?
lw_t_eq "unknown command → exit 2 with usage" "2 yes" "$rc $(grep -q '^usage: lwstack' <<<"$out" && echo yes)"
out=$(LWSTACK_LOG_LEVEL=loud "$LWSTACK_BIN" config 2>&1); rc=$?
lw_t_eq "bad environment value → exit 2 naming the variable and key" \
    "2 lwstack: environment variable LWSTACK_LOG_LEVEL: invalid value \`loud\` for \`log.level\`: must be one of debug info warn error" "$rc $out"
printf 'db:\n  pool-size: 7\n  colour: red\n' >"$LW_T_DIR/bad.yaml"
out=$("$LWSTACK_BIN" -c "$LW_T_DIR/bad.yaml" config 2>&1); rc=$?
lw_t_eq "unknown key in the file → exit 2 naming it" \
    "2 lwstack: $LW_T_DIR/bad.yaml: unknown configuration key \`db.colour\`" "$rc $out"
printf 'db:\n  pool-size: [1\n' >"$LW_T_DIR/broken.yaml"
out=$("$LWSTACK_BIN" -c "$LW_T_DIR/broken.yaml" config 2>&1); rc=$?
lw_t_eq "broken YAML → exit 2" 2 "$rc"
lw_t_eq "broken YAML names the file and line" yes "$(grep -q "broken.yaml: YAML error at line" <<<"$out" && echo yes)"
out=$("$LWSTACK_BIN" -c "$LW_T_DIR/missing.yaml" config 2>&1); rc=$?
lw_t_eq "missing file → exit 2" 2 "$rc"
out=$("$LWSTACK_BIN" --tenancy.admin-keys=abc config 2>&1); rc=$?
lw_t_eq "bad admin key → exit 2, key named, value not echoed" \
    "2 lwstack: invalid value \`<redacted>\` for \`tenancy.admin-keys\`: a tenant admin key is 16, 24 or 32 bytes in hex" "$rc $out"
set -e

# Precedence: flags > environment > file > defaults.
printf 'db:\n  pool-size: 7\n  query-timeout: 9s\nlog:\n  level: warn\n' >"$LW_T_DIR/good.yaml"
out=$(LWSTACK_DB_POOL_SIZE=5 LWSTACK_LOG_LEVEL=debug "$LWSTACK_BIN" -c "$LW_T_DIR/good.yaml" --db.pool-size=3 config)
lw_t_eq "flag beats environment and file" "db.pool-size: 3  # flag" "$(printf '%s\n' "$out" | grep '^db.pool-size:')"
lw_t_eq "environment beats file" "log.level: debug  # env" "$(printf '%s\n' "$out" | grep '^log.level:')"
lw_t_eq "file beats default" "db.query-timeout: 9s  # file" "$(printf '%s\n' "$out" | grep '^db.query-timeout:')"
lw_t_eq "default when unset" "log.format: logfmt  # default" "$(printf '%s\n' "$out" | grep '^log.format:')"

# Secrets never appear in `lwstack config`.
out=$(LWSTACK_BUS_KAFKA_SASL_PASSWORD=kafkasecret "$LWSTACK_BIN" --db.uri 'postgresql://u:dbsecret@db/lw' \
    --tenancy.admin-keys "$LW_T_ADMIN_KEY" config)
lw_t_eq "no secret in config output" "" "$(printf '%s' "$out" | grep -E "dbsecret|kafkasecret|$LW_T_ADMIN_KEY" || true)"
lw_t_eq "db.uri redacted" "db.uri: <redacted>  # flag" "$(printf '%s\n' "$out" | grep '^db.uri:')"
lw_t_eq "kafka password redacted" "bus.kafka.sasl.password: <redacted>  # env" "$(printf '%s\n' "$out" | grep '^bus.kafka.sasl.password:')"

set +e
out=$(env -u LWSTACK_DB_URI "$LWSTACK_BIN" --bus.brokers embedded --http.listen 127.0.0.1:0 start all 2>&1); rc=$?
set -e
lw_t_eq "start without db.uri → exit 2 naming db.uri" "2 yes" "$rc $(grep -q 'db.uri' <<<"$out" && echo yes)"

# ---- a running stack ------------------------------------------------------------------------
lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >/dev/null
port=$(lw_t_free_port)
lw_t_stack stack "$port" --tenancy.refresh-interval 1h
pid=$LW_T_LAST_PID
base="http://127.0.0.1:$port"

lw_t_eq "/healthz → 200" '200 {"status":"ok"}' "$(lw_t_http GET "$base/healthz")"
lw_t_eq "/readyz → 200" '200 {"status":"ready","db":"up","bus":"up"}' "$(lw_t_http GET "$base/readyz")"
metrics=$(curl -sS "$base/metrics")
lw_t_eq "/metrics shows dependency readiness" 'lwstack_dependency_ready{dependency="db"} 1' \
    "$(printf '%s\n' "$metrics" | grep '^lwstack_dependency_ready{dependency="db"}')"
lw_t_eq "/metrics is Prometheus text" yes "$(grep -q '^# TYPE lwstack_dependency_ready gauge' <<<"$metrics" && echo yes)"
lw_t_eq "/metrics counts HTTP requests by route" yes \
    "$(curl -sS "$base/metrics" | grep '^lwstack_http_requests_total{route="/healthz",method="GET",status="200"} 1' >/dev/null && echo yes)"
lw_t_eq "/metrics shows the pool" 'lwstack_db_connections{state="pool"} 4' \
    "$(curl -sS "$base/metrics" | grep '^lwstack_db_connections{state="pool"}')"
r=$(lw_t_http GET "$base/api/v3/no-such-thing")
lw_t_eq "unknown route → 404 in TTS error shape" "404 not_found" "$(lw_t_status_name "$r")"

# PostgreSQL stopped and started under the running stack: /readyz 503, then 200, no restart.
lw_t_pg_down
lw_t_wait_for "/readyz 503 after PostgreSQL stopped" 15 \
    bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $base/readyz)\" = 503 ]"
lw_t_eq "/readyz says db down" '503 {"status":"not ready","db":"down","bus":"up"}' "$(lw_t_http GET "$base/readyz")"
lw_t_pg_up
lw_t_wait_for "/readyz 200 after PostgreSQL restarted" 20 curl -sf -o /dev/null "$base/readyz"
lw_t_ok "/readyz 200 again after PostgreSQL restarted"
lw_t_eq "same lwstack process throughout" yes "$(kill -0 "$pid" 2>/dev/null && echo yes)"
r=$(lw_t_admin POST "$base/api/v3/tenants" -d '{"tenant":{"ids":{"tenant_id":"after-restart"},"state":"STATE_APPROVED"}}')
lw_t_eq "queries work after the restart" 200 "${r%% *}"

# SIGTERM right after a burst of changes: exit 0 within 5 s, every change on lw.tenant.
for i in $(seq 1 20); do
    lw_t_admin PUT "$base/api/v3/tenants/after-restart" -d "{\"tenant\":{\"name\":\"n$i\"}}" >/dev/null
done
t0=$(date +%s%N)
kill -TERM "$pid"
lw_t_wait_exit "$pid" 10
t1=$(date +%s%N)
lw_t_eq "SIGTERM → exit 0" 0 "$LW_T_RC"
lw_t_eq "SIGTERM → exit within 5 s" yes "$([ $(( (t1 - t0) / 1000000 )) -lt 5000 ] && echo yes)"
count=$(kcat -C -b "$LW_T_BROKERS" -t lw.tenant -o beginning -e -q -f '%k\n' 2>/dev/null | grep -c '^after-restart$' || true)
lw_t_eq "all 21 changes published before SIGTERM are on lw.tenant" 21 "$count"
lw_t_eq "clean stop logged" yes "$(grep -q 'msg=stopped' "$LW_T_DIR/stack.log" && echo yes)"

# Started while PostgreSQL is down: not ready (and says what it waits for: the tenant
# registry, and the Tenant Billing Server's plans, written at start) until PostgreSQL is
# back, then ready without a restart.
lw_t_pg_down
port=$(lw_t_free_port)
lw_t_spawn late --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" \
    --http.listen "127.0.0.1:$port" --tenancy.admin-keys "$LW_T_ADMIN_KEY" \
    --gs.udp.listen 127.0.0.1:0 --gs.basic-station.listen 127.0.0.1:0 start all
lw_t_wait_for "late stack listening" 30 curl -s -o /dev/null "http://127.0.0.1:$port/healthz"
r=$(lw_t_http GET "http://127.0.0.1:$port/readyz")
lw_t_eq "/readyz 503 waiting for the database, the tenant registry and the billing plans" \
    '503 {"status":"not ready","db":"down","waiting_for":["tenant","tbs"]}' \
    "${r%% *} $(printf '%s' "${r#* }" | jq -c '{status, db, waiting_for}')"
lw_t_pg_up
lw_t_wait_for "/readyz 200 once the registry is read" 20 curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"
lw_t_ok "/readyz 200 once PostgreSQL is up and the registry is read"
lw_t_eq "the registry load is logged" yes "$(grep -q 'msg="registry loaded"' "$LW_T_DIR/late.log" && echo yes)"

lw_t_done
