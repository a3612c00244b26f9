#!/usr/bin/env bash
# Control migration 0005 (the gateway index, lw_control.gateways) on a deployment that has
# gateways already: two tenants register gateways (one with settings, one deleted, one
# without an EUI); then the database is taken back to before 0005 (its table, function and
# bookkeeping row dropped, as a deployment that predates it has none of them) and
# `lwstack migrate` applies 0005 again, which indexes every live gateway of every tenant
# with its settings, and the lookups of tenant/euis.h answer them.
. "$(dirname "$0")/lib.sh"

driver="$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)/tests/integration/tenant/tn_euis_driver"
[ -x "$driver" ] || { echo "tn_euis_driver not found at $driver" >&2; exit 1; }
lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate1.log"
port=$(lw_t_free_port)
lw_t_stack stack "$port"
pid=$LW_T_LAST_PID
api="http://127.0.0.1:$port/api/v3"
adm() { lw_t_admin "$2" "$api$3" -H "X-Tenant-ID: $1" -d "$4"; }
for t in east west; do
    r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$t\"},\"state\":\"STATE_APPROVED\"},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"Secret-passw0rd\"}}")
    lw_t_eq "create tenant $t" 200 "${r%% *}"
done
r=$(adm east POST /users/admin/gateways '{"gateway":{"ids":{"gateway_id":"e-gw","eui":"0000000000000E01"},"frequency_plan_id":"EU_863_870_TTN","enforce_duty_cycle":true,"schedule_anytime_delay":"1.5s","antennas":[{"gain":2.5,"location":{"latitude":48.5,"longitude":-2.25,"altitude":40}}]}}')
lw_t_eq "east: gateway with settings" 200 "${r%% *}"
r=$(adm east POST /users/admin/gateways '{"gateway":{"ids":{"gateway_id":"e-gone","eui":"0000000000000E02"}}}')
lw_t_eq "east: a gateway to delete" 200 "${r%% *}"
r=$(lw_t_admin DELETE "$api/gateways/e-gone" -H "X-Tenant-ID: east")
lw_t_eq "east: delete it" 200 "${r%% *}"
r=$(adm west POST /users/admin/gateways '{"gateway":{"ids":{"gateway_id":"w-gw"},"status_public":true}}')
lw_t_eq "west: gateway without EUI" 200 "${r%% *}"
kill -TERM "$pid"
lw_t_wait_exit "$pid" 20
lw_t_eq "stack stopped" 0 "$LW_T_RC"
# A deployment from before 0005 has none of the later control migrations either (the
# migrator applies them in order only): their tables go too, and they are applied again
# after 0005. A new control migration adds its tables here.
later_tables=(billing_accounts billing_subscription_items billing_events billing_invoices
    billing_plans usage_ledger usage_active usage_periods usage_offsets usage_batches
    usage_reports)
later_max=$(ls "$LWSTACK_SRC/migrations/control" | sed -n 's/^0*\([0-9][0-9]*\)_.*\.sql$/\1/p' | sort -n | tail -1)
lw_t_eq "the later control migrations are those this test knows (0006 .. 0008)" 8 "$later_max"
lw_t_psql -c "DROP TABLE lw_control.gateways; DROP FUNCTION lw_control.gateway_settings(jsonb);
    $(printf 'DROP TABLE lw_control.%s CASCADE; ' "${later_tables[@]}")
    DELETE FROM lw_control.schema_migrations WHERE kind = 'control' AND version >= 5"
lw_t_eq "before 0005: no index table" "" "$(lw_t_psql -c "SELECT to_regclass('lw_control.gateways')")"

"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate2.log"
lw_t_eq "0005 applied" 1 "$(lw_t_psql -c "SELECT count(*) FROM lw_control.schema_migrations WHERE kind = 'control' AND version = 5")"
lw_t_eq "and the later ones after it" "$((later_max - 5))" "$(lw_t_psql -c "SELECT count(*) FROM lw_control.schema_migrations WHERE kind = 'control' AND version > 5")"
lw_t_eq "live gateways indexed, the deleted one not" "east/e-gw,west/w-gw" \
    "$(lw_t_psql -c "SELECT string_agg(tenant_id || '/' || gateway_id, ',' ORDER BY tenant_id) FROM lw_control.gateways")"
lw_t_eq "east's settings from its data" \
    '{"dc":true,"delay":1500,"eui":"0000000000000E01","fps":["EU_863_870_TTN"],"gain":2.5,"loc":{"accuracy":0,"altitude":40,"latitude":48.5,"longitude":-2.25,"source":"SOURCE_UNKNOWN"}}' \
    "$("$driver" "$LW_T_DB_URI" gateway-full 0000000000000E01 | jq -cS '{eui, fps: .frequency_plan_ids, dc: .enforce_duty_cycle, delay: .schedule_anytime_delay_ms, gain: .antenna_gain, loc: .location}')"
lw_t_eq "west's by ID" "true null" \
    "$("$driver" "$LW_T_DB_URI" gateway-id west w-gw | jq -r '"\(.status_public) \(.eui)"')"
lw_t_eq "no west gateway in east" none "$("$driver" "$LW_T_DB_URI" gateway-id east w-gw)"

lw_t_done
