#!/usr/bin/env bash
# Metered usage from the bus to Stripe, end to end (issue 11 items 4 and 5): usage batches
# on lw.usage (as the NS publishes them; tests/e2e/e2e_bus usage-publish, one redelivered)
# for three tenants → the TBS's ledger closes the periods → reporting sends them to the
# local Stripe through a storm of 429 and 500 answers and lost answers → Stripe's recorded
# usage equals the ledger exactly, one usage record per (tenant, item, meter, period), and
# equals what was published.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/stripe_lib.sh"

bus=${LW_E2E_BUS:-"$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)/tests/e2e/e2e_bus"}
[ -x "$bus" ] || { echo "e2e_bus is not built ($bus): skipped"; exit 77; }

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
lw_t_stripe_start
lw_t_stripe_plan plan_uplinks metered 1 sum
lw_t_stripe_plan plan_downlinks metered 1 sum
lw_t_stripe_plan plan_active metered 1 sum

declare -A sub_json
for t in alpha bravo charlie; do
    cus=$(lw_t_stripe_customer "ops@$t.example")
    case $t in
    alpha) plans=plan_uplinks,plan_downlinks ;;
    bravo) plans=plan_uplinks,plan_active ;;
    charlie) plans=plan_uplinks ;;
    esac
    sub_json[$t]=$(lw_t_stripe_subscribe "$cus" "$plans" "tenant-id=$t")
    sub=$(jq -r .id <<<"${sub_json[$t]}")
    lw_t_psql -c "INSERT INTO lw_control.billing_accounts (tenant_id, backend, customer_id, subscription_id, subscription_status, billing_state) VALUES ('$t', 'stripe', '$cus', '$sub', 'active', 'STATE_APPROVED')"
    jq -r '.items.data[] | "\(.id) \(.plan.id)"' <<<"${sub_json[$t]}" | while read -r si plan; do
        case $plan in
        plan_uplinks) meter=uplinks ;;
        plan_downlinks) meter=downlinks ;;
        plan_active) meter=active_end_devices ;;
        esac
        lw_t_psql -c "INSERT INTO lw_control.billing_subscription_items (item_id, tenant_id, subscription_id, price_id, meter, action, created_at) VALUES ('$si', '$t', '$sub', '$plan', '$meter', 'increment', now() - interval '1 day')"
    done
done

# Two whole 20 s periods that ended a while ago: four 10 s intervals per tenant.
p0=$(( ($(date +%s) / 20) * 20 - 80 ))
"$bus" usage-publish --brokers "$LW_T_BROKERS" --tenant alpha,bravo --batches 4 --uplinks 7 \
    --devices 3 --interval-start $((p0 * 1000)) --interval-ms 10000 >"$LW_T_DIR/pub1.json"
"$bus" usage-publish --brokers "$LW_T_BROKERS" --tenant charlie --batches 4 --uplinks 13 \
    --devices 2 --interval-start $((p0 * 1000)) --interval-ms 10000 --repeat 2 >"$LW_T_DIR/pub2.json"
lw_t_eq "published: 8 batches, and charlie's 4 twice" "8 8" \
    "$(jq .batches "$LW_T_DIR/pub1.json") $(jq .batches "$LW_T_DIR/pub2.json")"

ur='^/v1/subscription_items/[^/]+/usage_records$'
lw_t_stripe_fault "{\"method\":\"POST\",\"path\":\"$ur\",\"count\":4,\"status\":429}"
lw_t_stripe_fault "{\"method\":\"POST\",\"path\":\"$ur\",\"count\":3,\"status\":500}"
lw_t_stripe_fault "{\"method\":\"POST\",\"path\":\"$ur\",\"count\":3,\"status\":500,\"after\":true}"
lw_t_stripe_fault "{\"method\":\"POST\",\"path\":\"$ur\",\"count\":2,\"status\":429,\"should_retry\":true}"
port=$(lw_t_free_port)
lw_t_spawn tbs --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" --http.listen "127.0.0.1:$port" \
    --tenancy.admin-keys "$LW_T_ADMIN_KEY" --tbs.stripe.api-key "$LW_T_STRIPE_KEY" \
    --tbs.stripe.api-base "$LW_T_STRIPE_URL" --tbs.metering.period 20s --tbs.metering.close-delay 11s \
    --tbs.reporting.interval 500ms start tenant tbs
lw_t_wait_for "tbs ready" 30 curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" || tail -20 "$LW_T_DIR/tbs.log" >&2
sent() { [ "$(lw_t_psql -c "SELECT count(*) FROM lw_control.usage_reports WHERE state = 'sent'")" = "$1" ]; }
lw_t_wait_for "10 usage reports sent" 120 sent 10 ||
    lw_t_psql -c "SELECT tenant_id, item_id, meter, state, attempts, last_error FROM lw_control.usage_reports" >&2

lw_t_eq "the ledger: per tenant and period, what was published (charlie's redelivery once)" \
    "alpha active_end_devices 3 3|alpha downlinks 2 2|alpha uplinks 14 14|bravo active_end_devices 3 3|bravo downlinks 2 2|bravo uplinks 14 14|charlie active_end_devices 2 2|charlie downlinks 2 2|charlie uplinks 26 26" \
    "$(lw_t_psql -c "SELECT tenant_id || ' ' || meter || ' ' || string_agg(value::text, ' ' ORDER BY period_start) FROM lw_control.usage_ledger l WHERE period_start >= to_timestamp($p0) AND period_start < to_timestamp($p0 + 40) AND meter IN ('uplinks', 'downlinks', 'active_end_devices') AND tenant_id IN ('alpha', 'bravo', 'charlie') GROUP BY tenant_id, meter ORDER BY 1" | paste -sd'|')"
recs=$(lw_t_stripe_ctl GET /usage_records)
lw_t_eq "Stripe: 10 usage records, one per key" "10 10" \
    "$(jq -r '"\(.usage_records | length) \([.usage_records[].idempotency_key] | unique | length)"' <<<"$recs")"
lw_t_eq "Stripe's records equal the ledger, key by key" \
    "$(lw_t_psql -c "SELECT r.idempotency_key || ' ' || l.value FROM lw_control.usage_reports r JOIN lw_control.usage_ledger l USING (tenant_id, period_start, meter) ORDER BY 1" | paste -sd'|')" \
    "$(jq -r '.usage_records[] | "\(.idempotency_key) \(.quantity)"' <<<"$recs" | sort | paste -sd'|')"
total() {  # tenant meter: the sum of Stripe's records on that tenant's item for the meter
    local si
    si=$(lw_t_psql -c "SELECT item_id FROM lw_control.billing_subscription_items WHERE tenant_id = '$1' AND meter = '$2'")
    jq --arg si "$si" '[.usage_records[] | select(.subscription_item == $si) | .quantity] | add' <<<"$recs"
}
lw_t_eq "per tenant at Stripe: alpha 28 uplinks 4 downlinks, bravo 28 uplinks 6 active devices, charlie 52 uplinks" \
    "28 4 28 6 52" \
    "$(total alpha uplinks) $(total alpha downlinks) $(total bravo uplinks) $(total bravo active_end_devices) $(total charlie uplinks)"
lw_t_eq "every injected fault was met (12), the lost answers replayed (3)" "12 3" \
    "$(lw_t_stripe_ctl GET /requests | jq '"\([.requests[] | select(.fault != null)] | length) \([.requests[] | select(.replayed)] | length)"' -r)"
lw_t_eq "no Stripe key in the log" 0 "$(grep -c "$LW_T_STRIPE_KEY" "$LW_T_DIR/tbs.log" || true)"

lw_t_done
