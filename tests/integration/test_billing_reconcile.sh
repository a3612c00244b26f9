#!/usr/bin/env bash
# `lwstack billing reconcile` (billing/reconcile.c, issue 11 item 7) against the local Stripe
# and a running tbs, two tenants (alpha, bravo): clean → exit 0; a usage record deleted at
# Stripe (alpha) and a tenant state changed behind billing's back (bravo) → exit 1 listing
# both and nothing else; --fix → both fixed (the record made again under its own key, the
# state set through the tenant API); the next run → exit 0. Bad arguments and an unreachable
# database → exit 2.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/stripe_lib.sh"

lw_t_pg_start
lw_t_kafka_start 2
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"

lw_t_stripe_start
lw_t_stripe_plan plan_devices metered 50 last_during_period
lw_t_stripe_plan plan_uplinks metered 1 sum
cus_a=$(lw_t_stripe_customer ops@alpha.example)
cus_b=$(lw_t_stripe_customer ops@bravo.example)
sub_a_json=$(lw_t_stripe_subscribe "$cus_a" plan_devices,plan_uplinks tenant-id=alpha)
sub_b_json=$(lw_t_stripe_subscribe "$cus_b" plan_devices,plan_uplinks tenant-id=bravo)
sub_a=$(jq -r .id <<<"$sub_a_json"); sub_b=$(jq -r .id <<<"$sub_b_json")
item() { jq -r --arg p "$2" '.items.data[] | select(.plan.id == $p) | .id' <<<"$1"; }
si_a_dev=$(item "$sub_a_json" plan_devices); si_a_up=$(item "$sub_a_json" plan_uplinks)
si_b_dev=$(item "$sub_b_json" plan_devices); si_b_up=$(item "$sub_b_json" plan_uplinks)

# Three closed hours on the 10th of last month.
month=$(date -u -d "$(date -u +%Y-%m-01) -1 month" +%Y-%m)
t0=$(date -u -d "$month-10T00:00:00Z" +%s)
lw_t_psql <<SQL
INSERT INTO lw_control.billing_accounts (tenant_id, backend, customer_id, subscription_id,
  subscription_status, plan_id, billing_state) VALUES
  ('alpha', 'stripe', '$cus_a', '$sub_a', 'active', 'plan_devices', 'STATE_APPROVED'),
  ('bravo', 'stripe', '$cus_b', '$sub_b', 'active', 'plan_devices', 'STATE_APPROVED');
INSERT INTO lw_control.billing_subscription_items (item_id, tenant_id, subscription_id, price_id,
  meter, action, created_at) VALUES
  ('$si_a_dev', 'alpha', '$sub_a', 'plan_devices', 'end_devices', 'set', to_timestamp($t0 - 86400)),
  ('$si_a_up', 'alpha', '$sub_a', 'plan_uplinks', 'uplinks', 'increment', to_timestamp($t0 - 86400)),
  ('$si_b_dev', 'bravo', '$sub_b', 'plan_devices', 'end_devices', 'set', to_timestamp($t0 - 86400)),
  ('$si_b_up', 'bravo', '$sub_b', 'plan_uplinks', 'uplinks', 'increment', to_timestamp($t0 - 86400));
INSERT INTO lw_control.usage_periods (tenant_id, period_start, period_end, closed_at)
  SELECT t, to_timestamp($t0 + k * 3600), to_timestamp($t0 + (k + 1) * 3600), now()
    FROM unnest(ARRAY['alpha', 'bravo']) t, generate_series(0, 2) k;
INSERT INTO lw_control.usage_ledger (tenant_id, period_start, meter, value)
  SELECT t, to_timestamp($t0 + k * 3600), m, v * (k + 1) + (t = 'bravo')::int * 100
    FROM unnest(ARRAY['alpha', 'bravo']) t, generate_series(0, 2) k,
         (VALUES ('end_devices', 10), ('uplinks', 333)) AS x(m, v);
SQL

port=$(lw_t_free_port)
api="http://127.0.0.1:$port/api/v3"
common=(--db.uri "$LW_T_DB_URI" --http.listen "127.0.0.1:$port" --tenancy.admin-keys "$LW_T_ADMIN_KEY"
    --tbs.stripe.api-key "$LW_T_STRIPE_KEY" --tbs.stripe.api-base "$LW_T_STRIPE_URL")
lw_t_spawn tbs "${common[@]}" --bus.brokers "$LW_T_BROKERS" \
    --tbs.stripe.endpoint-secret-key "$LW_T_STRIPE_WHSEC" --tbs.reporting.interval 1h start tbs
lw_t_wait_for "tbs ready" 30 curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" || tail -20 "$LW_T_DIR/tbs.log" >&2
for t in alpha bravo; do
    r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$t\"},\"name\":\"$t\",\"state\":\"STATE_APPROVED\"}}")
    lw_t_eq "tenant $t created" 200 "${r%% *}"
done
lw_t_wait_for "12 rows sent" 60 bash -c "[ \"\$(psql '$LW_T_DB_URI' -XtAc \"SELECT count(*) FROM lw_control.usage_reports WHERE state = 'sent'\")\" = 12 ]"

reconcile() {
    set +e
    LW_T_OUT=$("$LWSTACK_BIN" "${common[@]}" billing reconcile "$@" 2>"$LW_T_DIR/reconcile.err")
    LW_T_RC=$?
    set -e
    { echo "\$ reconcile $*"; echo "$LW_T_OUT"; cat "$LW_T_DIR/reconcile.err"; echo "rc=$LW_T_RC"; } >>"$LW_T_DIR/reconcile.log"
}

# ---- clean -------------------------------------------------------------------------------
reconcile --period "$month"
lw_t_eq "clean: exit 0, no differences" "0 reconcile $month: no differences" "$LW_T_RC $LW_T_OUT"
reconcile --period "$month" --json
lw_t_eq "clean, JSON" "0 {\"period\":\"$month\",\"differences\":[],\"remaining\":0,\"fixed\":false,\"tenant_id\":null}" \
    "$LW_T_RC $LW_T_OUT"

# ---- a record lost at Stripe (alpha), a state changed behind billing's back (bravo) ----------
last_key="lw-usage-alpha-$si_a_up-uplinks-$((t0 + 7200))"
rec=$(lw_t_stripe_ctl GET "/usage_records?subscription_item=$si_a_up" | jq -r --arg k "$last_key" '.usage_records[] | select(.idempotency_key == $k) | .id')
lw_t_stripe_ctl DELETE "/usage_records/$rec" >/dev/null
# A report row lost from the database (bravo's devices, the middle hour); the server's next
# pass is an hour away (its first ran at start).
lw_t_psql -c "DELETE FROM lw_control.usage_reports WHERE item_id = '$si_b_dev' AND period_start = to_timestamp($((t0 + 3600)))"
r=$(lw_t_admin PUT "$api/tenants/bravo" -d '{"tenant":{"state":"STATE_SUSPENDED"},"field_mask":{"paths":["state"]}}')
lw_t_eq "bravo suspended by hand" 200 "${r%% *}"
reconcile --period "$month" --json
lw_t_eq "differences: exit 1" 1 "$LW_T_RC"
lw_t_eq "differences: bravo's unreported hour, alpha's uplinks (ledger 1998, Stripe 999) and bravo's state, nothing else" \
    "unreported bravo $si_b_dev end_devices $month 1 false|usage alpha $si_a_up uplinks $month 1998 999 false|state bravo $sub_b active STATE_APPROVED STATE_SUSPENDED false" \
    "$(jq -r '.differences[] | if .kind == "state" then "state \(.tenant_id) \(.subscription_id) \(.subscription_status) \(.expected) \(.actual) \(.fixed)" elif .kind == "unreported" then "unreported \(.tenant_id) \(.item_id) \(.meter) \(.period) \(.periods) \(.fixed)" else "\(.kind) \(.tenant_id) \(.item_id) \(.meter) \(.period) \(.ledger) \(.stripe) \(.fixed)" end' <<<"$LW_T_OUT" | paste -sd'|')"
lw_t_eq "differences: remaining 3" 3 "$(jq .remaining <<<"$LW_T_OUT")"
reconcile --period "$month"
lw_t_eq "the table: a header, both rows, the count" \
    "KIND TENANT SUBJECT LEDGER/EXPECTED STRIPE/ACTUAL FIX|unreported bravo $si_b_dev end_devices $month 1 periods no report -|usage alpha $si_a_up uplinks $month 1998 999 -|state bravo $sub_b active STATE_APPROVED STATE_SUSPENDED -|reconcile $month: 3 differences, 3 remaining" \
    "$(tr -s ' ' <<<"$LW_T_OUT" | paste -sd'|')"
reconcile --period "$month" --tenant alpha --json
lw_t_eq "--tenant alpha: only alpha's" "1 usage alpha" \
    "$LW_T_RC $(jq -r '[.differences[] | "\(.kind) \(.tenant_id)"] | join(",")' <<<"$LW_T_OUT")"

# ---- --fix, then clean ------------------------------------------------------------------------
reconcile --period "$month" --fix --json
lw_t_eq "--fix: all fixed (bravo's unreported row made, then sent as an unsent one), exit 0" \
    "0 unreported:true,usage:true,unsent:true,state:true 0" \
    "$LW_T_RC $(jq -r '[.differences[] | "\(.kind):\(.fixed)"] | join(",")' <<<"$LW_T_OUT") $(jq .remaining <<<"$LW_T_OUT")"
lw_t_eq "the lost row is back, sent under its own key" \
    "sent lw-usage-bravo-$si_b_dev-end_devices-$((t0 + 3600)) 120" \
    "$(lw_t_psql -c "SELECT state || ' ' || idempotency_key || ' ' || quantity FROM lw_control.usage_reports WHERE item_id = '$si_b_dev' AND period_start = to_timestamp($((t0 + 3600)))")"
recs=$(lw_t_stripe_ctl GET /usage_records)
lw_t_eq "Stripe: 12 records again, one per key, the lost one made again" "12 12 1" \
    "$(jq -r --arg k "$last_key" '"\(.usage_records | length) \([.usage_records[].idempotency_key] | unique | length) \([.usage_records[] | select(.idempotency_key == $k)] | length)"' <<<"$recs")"
lw_t_eq "bravo approved again through the tenant API" STATE_APPROVED \
    "$(lw_t_body "$(lw_t_admin GET "$api/tenants/bravo?field_mask=state")" | jq -r .state)"
lw_t_eq "billing_accounts: bravo's billing_state follows" "alpha STATE_APPROVED|bravo STATE_APPROVED" \
    "$(lw_t_psql -c "SELECT tenant_id || ' ' || billing_state FROM lw_control.billing_accounts ORDER BY 1" | paste -sd'|')"
lw_t_eq "bravo's records untouched by the fix" "3 3" \
    "$(jq -r --arg a "$si_b_dev" --arg b "$si_b_up" '"\([.usage_records[] | select(.subscription_item == $a)] | length) \([.usage_records[] | select(.subscription_item == $b)] | length)"' <<<"$recs")"
reconcile --period "$month"
lw_t_eq "after --fix: exit 0" "0 reconcile $month: no differences" "$LW_T_RC $LW_T_OUT"

# ---- errors ----------------------------------------------------------------------------------
reconcile --period 2026-13
lw_t_eq "--period 2026-13: exit 2 naming it" "2 yes" "$LW_T_RC $(grep -q -- '--period' "$LW_T_DIR/reconcile.err" && echo yes)"
reconcile --bogus
lw_t_eq "an unknown flag: exit 2" 2 "$LW_T_RC"
set +e
"$LWSTACK_BIN" --db.uri "postgresql:///nope?host=$LW_T_DIR/none" billing reconcile >/dev/null 2>&1
rc=$?
set -e
lw_t_eq "no database: exit 2" 2 "$rc"
lw_t_eq "no API key in the output or log" 0 "$(grep -c "$LW_T_STRIPE_KEY" "$LW_T_DIR/reconcile.log" || true)"

lw_t_done
