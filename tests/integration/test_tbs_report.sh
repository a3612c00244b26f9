#!/usr/bin/env bash
# Usage reporting (billing/report.c, issue 11 item 5) against the local Stripe, two tenants
# (alpha, bravo) throughout:
#  1. a storm of 429 (with and without Stripe-Should-Retry) and 500 answers, and a lost answer
#     → every closed period reported exactly once: one accepted usage record per idempotency
#     key at Stripe, the ledger's quantity, a timestamp inside its period;
#  2. Stripe down (connection refused) → rows stay pending with the error; Stripe up again
#     → sent, once; the other tenant's rows untouched;
#  3. tbs.backend manual → rows sent locally, and the local Stripe received no request at all;
#  4. tbs.reporting.mode meter-events → one meter event per key.
# The ledger's rows (usage_periods, usage_ledger of migration 0007) are written here by hand.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/stripe_lib.sh"

lw_t_pg_start
lw_t_kafka_start 2
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
lw_t_eq "migration 0008_usage_reports applied" 1 \
    "$(lw_t_psql -c "SELECT count(*) FROM lw_control.schema_migrations WHERE name = '0008_usage_reports.sql'")"

lw_t_stripe_start
lw_t_stripe_plan plan_base licensed 1000 sum
lw_t_stripe_plan plan_devices metered 50 last_during_period
lw_t_stripe_plan plan_uplinks metered 1 sum
cus_a=$(lw_t_stripe_customer ops@alpha.example)
cus_b=$(lw_t_stripe_customer ops@bravo.example)
sub_a_json=$(lw_t_stripe_subscribe "$cus_a" plan_base,plan_devices,plan_uplinks tenant-id=alpha)
sub_b_json=$(lw_t_stripe_subscribe "$cus_b" plan_devices,plan_uplinks tenant-id=bravo)
item() { jq -r --arg p "$2" '.items.data[] | select(.plan.id == $p) | .id' <<<"$1"; }
si_a_dev=$(item "$sub_a_json" plan_devices); si_a_up=$(item "$sub_a_json" plan_uplinks)
si_b_dev=$(item "$sub_b_json" plan_devices); si_b_up=$(item "$sub_b_json" plan_uplinks)

# Billing's own rows, as the webhook would have made them (items created three hours ago).
# Periods: hourly, three closed; the hour h0 is closed later for each tenant (made then,
# already closed: an open period would be the ledger's to close).
# The hours before the current one: every period has ended (a closed one always has).
h0=$(( $(date +%s) / 3600 * 3600 - 3600 ))
lw_t_psql <<SQL
INSERT INTO lw_control.billing_accounts (tenant_id, backend, customer_id, subscription_id,
  subscription_status, plan_id, billing_state) VALUES
  ('alpha', 'stripe', '$cus_a', '$(jq -r .id <<<"$sub_a_json")', 'active', 'plan_base', 'STATE_APPROVED'),
  ('bravo', 'stripe', '$cus_b', '$(jq -r .id <<<"$sub_b_json")', 'active', 'plan_devices', 'STATE_APPROVED');
INSERT INTO lw_control.billing_subscription_items (item_id, tenant_id, subscription_id, price_id,
  meter, action, meter_event_name, created_at) VALUES
  ('$(item "$sub_a_json" plan_base)', 'alpha', 'sub_a', 'plan_base', NULL, NULL, NULL, to_timestamp($h0 - 4 * 3600)),
  ('$si_a_dev', 'alpha', 'sub_a', 'plan_devices', 'end_devices', 'set', 'lw_end_devices', to_timestamp($h0 - 4 * 3600)),
  ('$si_a_up', 'alpha', 'sub_a', 'plan_uplinks', 'uplinks', 'increment', 'lw_uplinks', to_timestamp($h0 - 4 * 3600)),
  ('$si_b_dev', 'bravo', 'sub_b', 'plan_devices', 'end_devices', 'set', 'lw_end_devices', to_timestamp($h0 - 4 * 3600)),
  ('$si_b_up', 'bravo', 'sub_b', 'plan_uplinks', 'uplinks', 'increment', 'lw_uplinks', to_timestamp($h0 - 4 * 3600));
INSERT INTO lw_control.usage_periods (tenant_id, period_start, period_end, closed_at)
  SELECT t, to_timestamp($h0 - k * 3600), to_timestamp($h0 - (k - 1) * 3600), now()
    FROM unnest(ARRAY['alpha', 'bravo']) t, generate_series(1, 3) k;
-- A period before the items existed: never reported.
INSERT INTO lw_control.usage_periods VALUES ('alpha', to_timestamp($h0 - 6 * 3600), to_timestamp($h0 - 5 * 3600), now());
INSERT INTO lw_control.usage_ledger (tenant_id, period_start, meter, value)
  SELECT t, to_timestamp($h0 - k * 3600), m, v * k + (t = 'bravo')::int * 1000
    FROM unnest(ARRAY['alpha', 'bravo']) t, generate_series(1, 3) k,
         (VALUES ('end_devices', 10), ('uplinks', 333), ('downlinks', 7)) AS x(m, v);
INSERT INTO lw_control.usage_ledger VALUES ('alpha', to_timestamp($h0 - 6 * 3600), 'uplinks', 5);
SQL

report_rows() {  # tenant: "item meter quantity state" per row, ordered
    lw_t_psql -c "SELECT item_id || ' ' || meter || ' ' || extract(epoch FROM period_start)::bigint || ' ' || quantity || ' ' || state
                    FROM lw_control.usage_reports WHERE tenant_id = '$1' ORDER BY item_id, period_start" | paste -sd'|'
}
expected_rows() {  # tenant dev_item up_item state
    local t=$1 dev=$2 up=$3 st=$4 k add=0 out=()
    [ "$t" = bravo ] && add=1000
    for k in 3 2 1; do out+=("$dev end_devices $((h0 - k * 3600)) $((10 * k + add)) $st"); done
    for k in 3 2 1; do out+=("$up uplinks $((h0 - k * 3600)) $((333 * k + add)) $st"); done
    printf '%s\n' "${out[@]}" | sort -k1,1 -k3,3n | paste -sd'|'
}
all_sent() { [ "$(lw_t_psql -c "SELECT count(*) FROM lw_control.usage_reports WHERE state <> 'sent'")" = 0 ] &&
             [ "$(lw_t_psql -c "SELECT count(*) FROM lw_control.usage_reports")" = "$1" ]; }

# ---- 1. a storm of 429 and 500 answers ----------------------------------------------------
ur='^/v1/subscription_items/[^/]+/usage_records$'
lw_t_stripe_fault "{\"method\":\"POST\",\"path\":\"$ur\",\"count\":3,\"status\":429,\"should_retry\":true}"
lw_t_stripe_fault "{\"method\":\"POST\",\"path\":\"$ur\",\"count\":3,\"status\":500}"
lw_t_stripe_fault "{\"method\":\"POST\",\"path\":\"$ur\",\"count\":2,\"status\":429}"
lw_t_stripe_fault "{\"method\":\"POST\",\"path\":\"$ur\",\"count\":2,\"status\":500,\"after\":true}"
lw_t_stripe_fault "{\"method\":\"POST\",\"path\":\"$ur\",\"count\":2,\"status\":503,\"should_retry\":true}"
port=$(lw_t_free_port)
api="http://127.0.0.1:$port/api/v3"
tbs_args=(--db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" --http.listen "127.0.0.1:$port"
    --tenancy.admin-keys "$LW_T_ADMIN_KEY" --tbs.stripe.api-key "$LW_T_STRIPE_KEY"
    --tbs.stripe.endpoint-secret-key "$LW_T_STRIPE_WHSEC" --tbs.stripe.api-base "$LW_T_STRIPE_URL")
lw_t_spawn tbs "${tbs_args[@]}" --tbs.reporting.interval 300ms start tbs
tbs_pid=$LW_T_LAST_PID
lw_t_wait_for "tbs ready" 30 curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" || tail -20 "$LW_T_DIR/tbs.log" >&2
lw_t_wait_for "12 rows sent through the storm" 90 all_sent 12 || lw_t_psql -c "SELECT * FROM lw_control.usage_reports" >&2
lw_t_eq "alpha: a row per closed period and metered item, the ledger's quantity, sent" \
    "$(expected_rows alpha "$si_a_dev" "$si_a_up" sent)" "$(report_rows alpha)"
lw_t_eq "bravo: its own rows and quantities, sent" \
    "$(expected_rows bravo "$si_b_dev" "$si_b_up" sent)" "$(report_rows bravo)"
recs=$(lw_t_stripe_ctl GET /usage_records)
lw_t_eq "Stripe: 12 usage records, one per idempotency key" "12 12" \
    "$(jq '.usage_records | length' <<<"$recs") $(jq '[.usage_records[].idempotency_key] | unique | length' <<<"$recs")"
lw_t_eq "the keys are the contract's (lw-usage-<tenant>-<item>-<meter>-<period_start>)" \
    "$(lw_t_psql -c "SELECT idempotency_key FROM lw_control.usage_reports ORDER BY 1" | paste -sd' ')" \
    "$(jq -r '[.usage_records[].idempotency_key] | sort | join(" ")' <<<"$recs")"
lw_t_eq "every key of the form" 12 \
    "$(lw_t_psql -c "SELECT count(*) FROM lw_control.usage_reports WHERE idempotency_key = 'lw-usage-' || tenant_id || '-' || item_id || '-' || meter || '-' || extract(epoch FROM period_start)::bigint")"
lw_t_eq "records: quantity, action, timestamp inside the period (set: its last second)" \
    "$(lw_t_psql -c "SELECT item_id || ' ' || quantity || ' ' || action || ' ' || (extract(epoch FROM period_start)::bigint + CASE WHEN action = 'set' THEN 3599 ELSE 0 END) FROM lw_control.usage_reports ORDER BY 1" | paste -sd'|')" \
    "$(jq -r '.usage_records[] | "\(.subscription_item) \(.quantity) \(.action) \(.timestamp)"' <<<"$recs" | sort | paste -sd'|')"
lw_t_eq "stripe_id is Stripe's record id" \
    "$(jq -r '.usage_records[] | "\(.idempotency_key) \(.id)"' <<<"$recs" | sort | paste -sd'|')" \
    "$(lw_t_psql -c "SELECT idempotency_key || ' ' || stripe_id FROM lw_control.usage_reports ORDER BY 1" | paste -sd'|')"
faults=$(lw_t_stripe_ctl GET /requests | jq '[.requests[] | select(.fault != null)] | length')
lw_t_eq "every injected fault was met (12)" 12 "$faults"
lw_t_eq "the lost answers were replayed by Stripe (same key, 2 replays)" 2 \
    "$(lw_t_stripe_ctl GET /requests | jq '[.requests[] | select(.replayed)] | length')"
lw_t_eq "attempts counted: 12 rows + 12 faults" 24 \
    "$(lw_t_psql -c "SELECT sum(attempts) FROM lw_control.usage_reports")"
lw_t_eq "every request: Bearer key, Idempotency-Key, form body" "24 24 24" \
    "$(lw_t_stripe_ctl GET /requests | jq -r --arg re "$ur" '[.requests[] | select(.path | test($re))] | "\([.[] | select(.auth == "Bearer")] | length) \([.[] | select(.idempotency_key != null)] | length) \([.[] | select(.body.quantity != null)] | length)"')"
lw_t_eq "no usage of the period before the items" 0 \
    "$(lw_t_psql -c "SELECT count(*) FROM lw_control.usage_reports WHERE period_start = to_timestamp($h0 - 6 * 3600)")"
lw_t_eq "no key in the log" 0 "$(grep -c "$LW_T_STRIPE_KEY" "$LW_T_DIR/tbs.log" || true)"
lw_t_eq "the rate limits and errors are logged as kept for later" 1 \
    "$(grep -c 'msg="usage report not sent, kept for later"' "$LW_T_DIR/tbs.log" | awk '{print ($1 > 0)}')"

# A pass on demand: operators only; nothing left to send.
r=$(lw_t_http POST "$api/tbs/report")
lw_t_eq "POST /tbs/report without the key: 401" 401 "${r%% *}"
r=$(lw_t_admin POST "$api/tbs/report")
lw_t_eq "POST /tbs/report: a pass, nothing new" '200 {"created":0,"sent":0,"retried":0,"failed":0,"pending_left":0}' "$r"
lw_t_eq "still 12 records at Stripe" 12 "$(lw_t_stripe_ctl GET /usage_records | jq '.usage_records | length')"

# ---- 2. Stripe down, then up ----------------------------------------------------------------
# tbs talks to Stripe through a forwarder the test stops (connection refused) and restarts.
lw_t_stop_pid() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
lw_t_stop_pid "$tbs_pid"
cat >"$LW_T_DIR/fwd.py" <<'PY'
import socket, sys, threading
lport, dport = int(sys.argv[1]), int(sys.argv[2])
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except OSError: pass
    finally:
        for s in (a, b):
            try: s.shutdown(socket.SHUT_RDWR)
            except OSError: pass
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", lport)); s.listen(64)
while True:
    c, _ = s.accept()
    u = socket.create_connection(("127.0.0.1", dport))
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
PY
fport=$(lw_t_free_port)
fwd_up() {
    lw_t_bg fwd python3 "$LW_T_DIR/fwd.py" "$fport" "$LW_T_STRIPE_PORT"
    fwd_pid=$LW_T_LAST_PID
    lw_t_wait_for "forwarder" 10 curl -sf -o /dev/null "http://127.0.0.1:$fport/_test/faults"
}
tbs_args=("${tbs_args[@]/$LW_T_STRIPE_URL/http://127.0.0.1:$fport}")
# Stripe down: nothing listens on the forwarder's port.
lw_t_psql -c "INSERT INTO lw_control.usage_periods VALUES ('alpha', to_timestamp($h0), to_timestamp($h0 + 3600), now())"
lw_t_psql -c "INSERT INTO lw_control.usage_ledger VALUES ('alpha', to_timestamp($h0), 'end_devices', 44), ('alpha', to_timestamp($h0), 'uplinks', 4444)"
bravo_before=$(lw_t_psql -c "SELECT string_agg(idempotency_key || sent_at::text || attempts, ',' ORDER BY 1) FROM lw_control.usage_reports WHERE tenant_id = 'bravo'")
lw_t_stripe_ctl DELETE /requests >/dev/null
lw_t_spawn tbs2 "${tbs_args[@]}" --tbs.reporting.interval 1h start tbs
tbs_pid=$LW_T_LAST_PID
lw_t_wait_for "tbs ready" 30 curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" || tail -20 "$LW_T_DIR/tbs2.log" >&2
lw_t_wait_line "$LW_T_DIR/tbs2.log" 'msg="usage report not sent, kept for later"' 30
r=$(lw_t_admin POST "$api/tbs/report")
lw_t_eq "on demand while Stripe is down: created nothing more, nothing sent" "200 0 0" \
    "${r%% *} $(lw_t_body "$r" | jq -r '"\(.created) \(.sent)"')"
lw_t_eq "alpha's new period: two rows, pending, with the error" \
    "end_devices 44 pending stripe_unreachable|uplinks 4444 pending stripe_unreachable" \
    "$(lw_t_psql -c "SELECT meter || ' ' || quantity || ' ' || state || ' ' || CASE WHEN last_error LIKE 'Stripe could not be reached%' THEN 'stripe_unreachable' ELSE coalesce(last_error, '-') END FROM lw_control.usage_reports WHERE tenant_id = 'alpha' AND period_start = to_timestamp($h0) ORDER BY meter" | paste -sd'|')"
lw_t_eq "Stripe received nothing meanwhile" 0 "$(lw_t_stripe_count POST .)"
# Stripe up: the next pass (on demand here; the interval is an hour) sends them, once.
fwd_up
lw_t_psql -c "UPDATE lw_control.usage_reports SET next_attempt_at = now() WHERE state = 'pending'"
r=$(lw_t_admin POST "$api/tbs/report")
lw_t_eq "on demand once Stripe is back: both sent" "200 2 0" \
    "${r%% *} $(lw_t_body "$r" | jq -r '"\(.sent) \(.pending_left)"')"
lw_t_eq "alpha's new period: sent, once each at Stripe" "sent 1|sent 1" \
    "$(lw_t_psql -c "SELECT state || ' ' || (SELECT count(*) FROM jsonb_array_elements('$(lw_t_stripe_ctl GET /usage_records | jq -c .usage_records)'::jsonb) e WHERE e->>'idempotency_key' = idempotency_key) FROM lw_control.usage_reports WHERE tenant_id = 'alpha' AND period_start = to_timestamp($h0) ORDER BY meter" | paste -sd'|')"
lw_t_eq "Stripe: 14 records, one per key" "14 14" \
    "$(lw_t_stripe_ctl GET /usage_records | jq '"\(.usage_records | length) \([.usage_records[].idempotency_key] | unique | length)"' -r)"
lw_t_eq "bravo's rows untouched" "$bravo_before" \
    "$(lw_t_psql -c "SELECT string_agg(idempotency_key || sent_at::text || attempts, ',' ORDER BY 1) FROM lw_control.usage_reports WHERE tenant_id = 'bravo'")"
lw_t_stop_pid "$tbs_pid"

# ---- 3. the manual backend: no outbound call ----------------------------------------------
lw_t_psql -c "INSERT INTO lw_control.usage_periods VALUES ('bravo', to_timestamp($h0), to_timestamp($h0 + 3600), now())"
lw_t_psql -c "INSERT INTO lw_control.usage_ledger VALUES ('bravo', to_timestamp($h0), 'end_devices', 55)"
alpha_before=$(lw_t_psql -c "SELECT string_agg(idempotency_key || sent_at::text || attempts, ',' ORDER BY 1) FROM lw_control.usage_reports WHERE tenant_id = 'alpha'")
lw_t_stripe_ctl DELETE /requests >/dev/null
lw_t_spawn tbs3 "${tbs_args[@]}" --tbs.reporting.interval 300ms --tbs.backend manual start tbs
tbs_pid=$LW_T_LAST_PID
lw_t_wait_for "tbs ready" 30 curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" || tail -20 "$LW_T_DIR/tbs3.log" >&2
lw_t_wait_for "bravo's new rows sent" 30 all_sent 16
lw_t_eq "manual: bravo's new period sent locally, no Stripe id, no attempt" \
    "end_devices 55 sent - 0|uplinks 0 sent - 0" \
    "$(lw_t_psql -c "SELECT meter || ' ' || quantity || ' ' || state || ' ' || coalesce(stripe_id, '-') || ' ' || attempts FROM lw_control.usage_reports WHERE tenant_id = 'bravo' AND period_start = to_timestamp($h0) ORDER BY meter" | paste -sd'|')"
r=$(lw_t_admin POST "$api/tbs/report")
lw_t_eq "manual: a pass on demand" 200 "${r%% *}"
lw_t_eq "manual: the local Stripe received no request at all" 0 "$(lw_t_stripe_count "" .)"
lw_t_eq "manual: alpha's rows untouched" "$alpha_before" \
    "$(lw_t_psql -c "SELECT string_agg(idempotency_key || sent_at::text || attempts, ',' ORDER BY 1) FROM lw_control.usage_reports WHERE tenant_id = 'alpha'")"
lw_t_stop_pid "$tbs_pid"

# ---- 4. meter events ------------------------------------------------------------------------
lw_t_psql -c "DELETE FROM lw_control.usage_reports WHERE period_start >= to_timestamp($h0 - 3600)"
lw_t_stripe_fault "{\"method\":\"POST\",\"path\":\"^/v1/billing/meter_events\$\",\"count\":2,\"status\":429}"
lw_t_spawn tbs4 "${tbs_args[@]}" --tbs.reporting.interval 300ms --tbs.reporting.mode meter-events start tbs
tbs_pid=$LW_T_LAST_PID
lw_t_wait_for "tbs ready" 30 curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" || tail -20 "$LW_T_DIR/tbs4.log" >&2
lw_t_wait_for "rows sent as meter events" 60 all_sent 16
ev=$(lw_t_stripe_ctl GET /meter_events)
lw_t_eq "meter events: one per key, the ledger's values, each tenant's customer" \
    "$(lw_t_psql -c "SELECT r.idempotency_key || ' ' || i.meter_event_name || ' ' || a.customer_id || ' ' || r.quantity FROM lw_control.usage_reports r JOIN lw_control.billing_subscription_items i USING (item_id) JOIN lw_control.billing_accounts a ON a.tenant_id = r.tenant_id WHERE r.period_start >= to_timestamp($h0 - 3600) ORDER BY 1" | paste -sd'|')" \
    "$(jq -r '.meter_events[] | "\(.identifier) \(.event_name) \(.payload.stripe_customer_id) \(.payload.value)"' <<<"$ev" | sort | paste -sd'|')"
lw_t_eq "meter events: stripe_id is the identifier" 0 \
    "$(lw_t_psql -c "SELECT count(*) FROM lw_control.usage_reports WHERE period_start >= to_timestamp($h0 - 3600) AND stripe_id IS DISTINCT FROM idempotency_key")"

lw_t_done
