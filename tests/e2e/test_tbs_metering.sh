#!/usr/bin/env bash
# Acceptance (issue 11, metering): 10,000 uplinks over three tenants through the real GS and
# NS → the ledger's uplink counts equal exactly what was sent per tenant, and so does the
# usage Stripe recorded on each tenant's metered subscription item (the local Stripe), one
# usage record per item and period; the Tenant Billing Server killed with SIGKILL mid-way and
# started again, and a storm of 429 and 500 answers (some after Stripe took the record) →
# still exact, every period reported once; the operator's CSV export equals the ledger. The
# stack (tenant, is, gs, ns) runs in one process publishing usage every second; the TBS in
# another, so that it can be killed alone.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/integration/stripe_lib.sh"
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

# Each tenant's subscription at the local Stripe: a metered uplinks plan (its item is where the
# uplinks are reported) beside a licensed one, as an operator sells them.
lw_t_stripe_start
lw_t_stripe_plan plan_base licensed 900
lw_t_stripe_plan plan_uplinks metered 1 sum
declare -A ITEM
for t in acme globex initech; do
    cus=$(lw_t_stripe_customer "billing@$t.example")
    sj=$(lw_t_stripe_subscribe "$cus" plan_base,plan_uplinks "tenant-id=$t")
    sub=$(jq -r .id <<<"$sj")
    ITEM[$t]=$(jq -r '.items.data[] | select(.plan.id == "plan_uplinks") | .id' <<<"$sj")
    lw_t_psql -c "INSERT INTO lw_control.billing_accounts (tenant_id, backend, customer_id, subscription_id, subscription_status, billing_state) VALUES ('$t', 'stripe', '$cus', '$sub', 'active', 'STATE_APPROVED')"
    lw_t_psql -c "INSERT INTO lw_control.billing_subscription_items (item_id, tenant_id, subscription_id, price_id, meter, action, created_at) VALUES ('${ITEM[$t]}', '$t', '$sub', 'plan_uplinks', 'uplinks', 'increment', now() - interval '1 day')"
done
# The storm: 429s and 500s, some of them after Stripe recorded the usage (the answer lost).
ur='^/v1/subscription_items/[^/]+/usage_records$'
lw_t_stripe_fault "{\"method\":\"POST\",\"path\":\"$ur\",\"count\":5,\"status\":429}"
lw_t_stripe_fault "{\"method\":\"POST\",\"path\":\"$ur\",\"count\":4,\"status\":500}"
lw_t_stripe_fault "{\"method\":\"POST\",\"path\":\"$ur\",\"count\":4,\"status\":500,\"after\":true}"
lw_t_stripe_fault "{\"method\":\"POST\",\"path\":\"$ur\",\"count\":3,\"status\":429,\"should_retry\":true}"

TBS=$(lw_t_free_port)
E2E_ARGS+=(--tbs.metering.period 10s --tbs.metering.close-delay 3s --tbs.backend stripe
    --tbs.stripe.api-key "$LW_T_STRIPE_KEY" --tbs.stripe.api-base "$LW_T_STRIPE_URL"
    --tbs.reporting.interval 500ms)
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

# Stripe: every period with uplinks closes (10 s, then 3 s) and is reported once, through the
# kill and the storm.
q_open="SELECT count(*) FROM lw_control.usage_ledger l JOIN lw_control.usage_periods p USING (tenant_id, period_start) WHERE l.meter = 'uplinks' AND l.value > 0 AND p.closed_at IS NULL"
q_unsent="SELECT (SELECT count(*) FROM lw_control.usage_reports WHERE state <> 'sent') + (SELECT count(*) FROM lw_control.usage_ledger l WHERE l.meter = 'uplinks' AND l.value > 0 AND NOT EXISTS (SELECT 1 FROM lw_control.usage_reports r WHERE r.tenant_id = l.tenant_id AND r.period_start = l.period_start AND r.meter = 'uplinks'))"
none() { [ "$(ledger "$1")" = 0 ]; }
lw_t_wait_for "every period with uplinks closed" 60 none "$q_open" || true
lw_t_wait_for "every period with uplinks reported to Stripe" 90 none "$q_unsent" ||
    ledger "SELECT tenant_id, period_start, meter, state, attempts, last_error FROM lw_control.usage_reports WHERE state <> 'sent'" >&2
recs=$(lw_t_stripe_ctl GET /usage_records)
for t in acme globex initech; do
    n=$((DEVICES[$t] * PER[$t]))
    lw_t_eq "$t: Stripe's recorded uplinks = the ledger = sent, across the SIGKILL and the storm" "$n $n" \
        "$(jq --arg si "${ITEM[$t]}" '[.usage_records[] | select(.subscription_item == $si) | .quantity] | add // 0' <<<"$recs") $(total $t uplinks)"
    nrep=$(ledger "SELECT count(*) FROM lw_control.usage_reports WHERE tenant_id = '$t' AND meter = 'uplinks'")
    lw_t_eq "$t: one usage record per reported period, each of its own key" "$nrep $nrep" \
        "$(jq -r --arg si "${ITEM[$t]}" '[.usage_records[] | select(.subscription_item == $si)] | "\(length) \([.[].idempotency_key] | unique | length)"' <<<"$recs")"
done
# (a period of a subscribed item without uplinks is reported too, as 0)
lw_t_eq "Stripe's records equal the ledger, key by key" \
    "$(ledger "SELECT r.idempotency_key || ' ' || coalesce(l.value, 0) FROM lw_control.usage_reports r LEFT JOIN lw_control.usage_ledger l USING (tenant_id, period_start, meter) WHERE r.meter = 'uplinks' ORDER BY 1" | paste -sd'|')" \
    "$(jq -r '.usage_records[] | "\(.idempotency_key) \(.quantity)"' <<<"$recs" | sort | paste -sd'|')"
lw_t_eq "every injected fault was met (16)" 16 \
    "$(lw_t_stripe_ctl GET /requests | jq '[.requests[] | select(.fault != null)] | length')"
lw_t_eq "no Stripe key in the TBS's logs" 0 "$(cat "$LW_T_DIR"/tbs*.log | grep -c "$LW_T_STRIPE_KEY" || true)"
lw_t_done
