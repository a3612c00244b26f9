#!/usr/bin/env bash
# Joins/s through the Join Server against a private stack (PostgreSQL, kafka-dev,
# `lwstack start all`): one tenant, N devices registered through the IS and JS APIs, then
# tests/bench/js/bench_js.js. Usage: run.sh [DEVICES] [CONNECTIONS] [SECONDS]
# Environment: LWSTACK_BIN (lwstack), LWSTACK_SRC (checkout).
LWSTACK_SRC=${LWSTACK_SRC:-$(cd "$(dirname "$0")/../../.." && pwd)}
export LWSTACK_SRC
. "$LWSTACK_SRC/tests/integration/lib.sh"
ndev=${1:-32} nconn=${2:-8} secs=${3:-5}
lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
jsport=$(lw_t_free_port)
# The benchmark is the network server of NetID 000013, with its Backend Interfaces token.
token=${LW_T_BI_TOKEN:-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}
lw_t_stack stack "$port" --log.level warn --js.listen "127.0.0.1:$jsport" \
    --js.key-encryption-key 000102030405060708090a0b0c0d0e0f --js.bi.tokens.000013 "$token" \
    --tenancy.rate-limit.requests-per-tenant "1000000/1s"
api="http://127.0.0.1:$port/api/v3"
APP_KEY=2b7e151628aed2a6abf7158809cf4f3c
lw_t_admin POST "$api/tenants" -d '{"tenant":{"ids":{"tenant_id":"bench"},"state":"STATE_APPROVED"},"initial_user":{"ids":{"user_id":"admin"},"password":"Secret-passw0rd","primary_email_address":"a@b.example"}}' >/dev/null
lw_t_adm bench POST /users/admin/applications '{"application":{"ids":{"application_id":"app"}}}' >/dev/null
for ((d = 0; d < ndev; d++)); do
    eui=$(printf '0004a30b0000%04x' "$d")
    lw_t_adm bench POST /applications/app/devices "{\"end_device\":{\"ids\":{\"device_id\":\"dev$d\",\"join_eui\":\"70b3d57ed0001234\",\"dev_eui\":\"$eui\"}}}" >/dev/null
    lw_t_adm bench PUT "/js/applications/app/devices/dev$d" "{\"end_device\":{\"root_keys\":{\"app_key\":{\"key\":\"$APP_KEY\"}}},\"field_mask\":{\"paths\":[\"root_keys.app_key.key\"]}}" >/dev/null
done
LW_BI_TOKEN=$token node "$LWSTACK_SRC/tests/bench/js/bench_js.js" "http://127.0.0.1:$jsport/" 70b3d57ed0001234 0004a30b0000 "$ndev" "$APP_KEY" "$nconn" "$secs"
