#!/usr/bin/env bash
# Acceptance (issue 11, metering): 10,000 uplinks over three tenants through the real GS and
# NS → the ledger's uplink counts equal exactly what was sent per tenant; the Tenant Billing
# Server killed with SIGKILL mid-way and started again → still exact; the operator's CSV
# export equals the ledger. The stack (tenant, is, gs, ns) runs in one process publishing
# usage every second; the TBS in another, so that it can be killed alone.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "metering of real traffic"
lw_e2e_need tbs "the usage ledger"
lw_e2e_prepare
E2E_ARGS+=(--usage.interval 1s)
lw_e2e_spawn front "$E2E_HTTP" tenant is gs ns
E2E_API="http://127.0.0.1:$E2E_HTTP"
api="$E2E_API/api/v3"
lw_e2e_wait_matcher "$LW_T_DIR/front.log"
declare -A DEVICES=([acme]=100 [globex]=100 [initech]=100) PER=([acme]=40 [globex]=35 [initech]=25)
for t in acme globex initech; do lw_e2e_tenant $t; done
lw_e2e_tap ns.up

TBS=$(lw_t_free_port)
E2E_ARGS+=(--tbs.metering.period 10s --tbs.metering.close-delay 3s --tbs.backend manual)
start_tbs() {
    lw_e2e_spawn "tbs$1" "$TBS" tenant tbs
    TBS_PID=$LW_T_LAST_PID
}
ledger() { lw_t_psql -c "$1"; }
total() { ledger "SELECT coalesce(sum(value), 0) FROM lw_control.usage_ledger WHERE tenant_id = '$1' AND meter = '$2'"; }
start_tbs 1

# The fleets first (provisioning only), then their traffic at once: 4,000 + 3,500 + 2,500.
for t in acme globex initech; do
    lw_e2e_sim $t --seed "m-$t" --devices "${DEVICES[$t]}" --configured --provision-only \
        >"$LW_T_DIR/$t.prov" 2>&1 || { tail -5 "$LW_T_DIR/$t.prov" >&2; lw_t_fail "$t provisioned"; }
done
prov_done=$(date +%s) # periods closed before this saw part of the fleet registered
pids=()
for t in acme globex initech; do
    lw_e2e_sim_udp --seed "m-$t" --devices "${DEVICES[$t]}" --rate 100 --duration 0 \
        --uplinks-per-device "${PER[$t]}" --json >"$LW_T_DIR/$t.json" &
    pids+=($!)
done
# SIGKILL once the ledger holds some of it, then a start again.
lw_t_wait_for "the ledger under way" 120 bash -c "[ \"\$(psql '$LW_T_DB_URI' -X -q -A -t -c \"SELECT coalesce(sum(value), 0) FROM lw_control.usage_ledger WHERE meter = 'uplinks'\")\" -gt 500 ]" || true
kill -9 "$TBS_PID"
wait "$TBS_PID" 2>/dev/null || true
echo "TBS killed with $(ledger "SELECT coalesce(sum(value), 0) FROM lw_control.usage_ledger WHERE meter = 'uplinks'") uplinks in the ledger"
sleep 2
start_tbs 2
wait "${pids[@]}"
sent=0
for t in acme globex initech; do
    s=$(jq .uplinks.sent "$LW_T_DIR/$t.json")
    sent=$((sent + s))
    lw_t_eq "$t: the simulator sent ${DEVICES[$t]} × ${PER[$t]} uplinks" $((DEVICES[$t] * PER[$t])) "$s"
done
lw_t_eq "10,000 uplinks sent" 10000 "$sent"
lw_e2e_wait_bus 10000 '._topic == "ns.up" and .uplink_message != null' 60
for t in acme globex initech; do
    n=$((DEVICES[$t] * PER[$t]))
    lw_t_wait_for "$t's $n uplinks in the ledger" 60 bash -c "[ \"\$(psql '$LW_T_DB_URI' -X -q -A -t -c \"SELECT coalesce(sum(value), 0) FROM lw_control.usage_ledger WHERE tenant_id = '$t' AND meter = 'uplinks'\")\" -ge $n ]" || true
done
sleep 3 # a batch counted twice would be applied by now
for t in acme globex initech; do
    n=$((DEVICES[$t] * PER[$t]))
    lw_t_eq "$t: every uplink accepted by the NS (lw.ns.up)" "$n" \
        "$(lw_e2e_bus_count "._topic == \"ns.up\" and .uplink_message != null and .envelope.tenant_id == \"$t\"")"
    lw_t_eq "$t: the ledger's uplinks = sent, across the SIGKILL" "$n" "$(total $t uplinks)"
done
# Periods close (10 s, 3 s later): wait for every ended one, then the export = the ledger.
lw_t_wait_for "the periods that ended closed" 60 bash -c "[ \"\$(psql '$LW_T_DB_URI' -X -q -A -t -c \"SELECT count(*) FROM lw_control.usage_periods WHERE closed_at IS NULL AND period_end < now() - interval '8 seconds'\")\" = 0 ]" || true
for t in acme globex initech; do
    lw_t_eq "$t: each period closed after provisioning counts its registered devices (${DEVICES[$t]}) and the one gateway" "true" \
        "$(ledger "SELECT CASE WHEN bool_and(v) THEN 'true' ELSE 'false' END FROM (SELECT (sum(value) FILTER (WHERE meter = 'end_devices') = ${DEVICES[$t]} AND sum(value) FILTER (WHERE meter = 'gateways') = 1) AS v FROM lw_control.usage_ledger l JOIN lw_control.usage_periods p USING (tenant_id, period_start) WHERE tenant_id = '$t' AND p.closed_at IS NOT NULL AND p.closed_at > to_timestamp($prov_done) GROUP BY period_start) s")"
    lw_t_eq "$t: distinct active devices per period never above the fleet" "true" \
        "$(ledger "SELECT CASE WHEN coalesce(bool_and(value BETWEEN 0 AND ${DEVICES[$t]}), true) THEN 'true' ELSE 'false' END FROM lw_control.usage_ledger WHERE tenant_id = '$t' AND meter = 'active_end_devices'")"
done
from=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)
to=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
curl -sf -H "Authorization: TenantAdminKey $LW_T_ADMIN_KEY" \
    "http://127.0.0.1:$TBS/api/v3/tbs/ledger?from=$from&to=$to&format=csv" >"$LW_T_DIR/ledger.csv"
want=$(ledger "SELECT l.tenant_id || ',' || to_char(l.period_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') || ',' || l.meter || ',' || l.value FROM lw_control.usage_ledger l ORDER BY 1")
lw_t_eq "the CSV export equals the ledger, row for row" "$want" \
    "$(tail -n +2 "$LW_T_DIR/ledger.csv" | tr -d '\r' | awk -F, '{ print $1 "," $2 "," $5 "," $6 }' | sort)"
for t in acme globex initech; do
    lw_t_eq "$t: the CSV's uplinks = sent" $((DEVICES[$t] * PER[$t])) \
        "$(awk -F, -v t=$t '$1 == t && $5 == "uplinks" { s += $6 } END { print s + 0 }' "$LW_T_DIR/ledger.csv")"
done
lw_t_done
