#!/usr/bin/env bash
# The Tenant Billing Server component (billing/component.c): `lwstack start tbs` runs next to
# the tenant component, its migration creates the billing tables, every tbs.* key of issue 11
# item 9 is registered, and `lwstack config` never prints the Stripe secrets.
. "$(dirname "$0")/lib.sh"

SK=sk_test_51NotARealKeyButLongEnough0123456789
WHSEC=whsec_test_not_a_real_secret_0123456789

# ---- configuration: every key registered, secrets redacted ---------------------------------
out=$("$LWSTACK_BIN" --tbs.stripe.api-key "$SK" --tbs.stripe.endpoint-secret-key "$WHSEC" \
    --tbs.tenant-admin-key 00112233445566778899aabbccddeeff config)
lw_t_eq "tbs.stripe.api-key, endpoint-secret-key and tenant-admin-key redacted" \
    "tbs.stripe.api-key: <redacted>  # flag|tbs.stripe.endpoint-secret-key: <redacted>  # flag|tbs.tenant-admin-key: <redacted>  # flag" \
    "$(grep -E '^tbs\.(stripe\.(api-key|endpoint-secret-key)|tenant-admin-key):' <<<"$out" | sort | paste -sd'|')"
lw_t_eq "no secret in the config output" 0 "$(grep -cE "$SK|$WHSEC|00112233445566778899aabbccddeeff" <<<"$out" || true)"
for k in tbs.backend tbs.stripe.api-base tbs.stripe.recurring-plan-ids tbs.stripe.metered-plan-ids \
    tbs.grace-period tbs.metering.period tbs.metering.close-delay tbs.reporting.interval \
    tbs.reporting.mode tbs.signature-tolerance; do
    grep -q "^$k:" <<<"$out" && lw_t_ok "$k is registered" || lw_t_fail "$k is not registered"
done
lw_t_eq "defaults: backend stripe, api-base Stripe's, reporting usage-records" \
    'tbs.backend: stripe  # default|tbs.reporting.mode: usage-records  # default|tbs.stripe.api-base: "https://api.stripe.com"  # default' \
    "$(grep -E '^tbs\.(backend|reporting\.mode|stripe\.api-base):' <<<"$out" | sort | paste -sd'|')"
docs=$("$LWSTACK_BIN" config --docs)
lw_t_eq "the docs mark the Stripe keys secret" 2 \
    "$(grep -cE 'tbs\.stripe\.(api-key|endpoint-secret-key).*\(secret\)' <<<"$docs" || true)"
set +e
out=$("$LWSTACK_BIN" --tbs.backend paypal config 2>&1); rc=$?
set -e
lw_t_eq "tbs.backend paypal → exit 2 naming the key" "2 yes" "$rc $(grep -q 'tbs.backend' <<<"$out" && echo yes)"

# ---- start: tbs next to the tenant component -----------------------------------------------
lw_t_pg_start
lw_t_kafka_start 2
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
lw_t_eq "migration 0006_billing applied" 1 \
    "$(lw_t_psql -tAc "SELECT count(*) FROM lw_control.schema_migrations WHERE name = '0006_billing.sql'")"
lw_t_eq "the billing tables exist" \
    "billing_accounts,billing_events,billing_invoices,billing_plans,billing_subscription_items" \
    "$(lw_t_psql -tAc "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'lw_control' AND table_name LIKE 'billing\_%'")"

port=$(lw_t_free_port)
set +e
out=$("$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" --http.listen 127.0.0.1:0 \
    --tbs.metering.period 7s start tbs 2>&1); rc=$?
set -e
lw_t_eq "a usage period that is no multiple of usage.interval → exit 2, named" \
    "2 lwstack: component tbs: tbs.metering.period (7000 ms) must be a multiple of usage.interval (10000 ms)" \
    "$rc $(tail -1 <<<"$out")"
set +e
out=$("$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" --http.listen 127.0.0.1:0 \
    --usage.interval 5s --tbs.metering.close-delay 5s start tbs 2>&1); rc=$?
set -e
lw_t_eq "a close delay not beyond usage.interval → exit 2, named" \
    "2 lwstack: component tbs: tbs.metering.close-delay (5000 ms) must exceed usage.interval (5000 ms)" \
    "$rc $(tail -1 <<<"$out")"
set +e
out=$("$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" --http.listen 127.0.0.1:0 \
    --tbs.stripe.recurring-plan-ids p1,p2 --tbs.stripe.metered-plan-ids p2 start tbs 2>&1); rc=$?
set -e
lw_t_eq "a plan in both lists → exit 2, named" \
    "2 lwstack: component tbs: tbs.stripe.recurring-plan-ids and tbs.stripe.metered-plan-ids both name plan \`p2\`" \
    "$rc $(tail -1 <<<"$out")"
set +e
out=$("$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" --http.listen 127.0.0.1:0 \
    --tbs.plans.p9.max-gateways 3 start tbs 2>&1); rc=$?
set -e
lw_t_eq "an override of a plan in neither list → exit 2, named" \
    "2 lwstack: component tbs: tbs.plans.p9: the plan is in neither tbs.stripe.recurring-plan-ids nor tbs.stripe.metered-plan-ids" \
    "$rc $(tail -1 <<<"$out")"

lw_t_spawn tbs --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" \
    --http.listen "127.0.0.1:$port" --tenancy.admin-keys "$LW_T_ADMIN_KEY" \
    --tbs.stripe.api-key "$SK" --tbs.stripe.endpoint-secret-key "$WHSEC" start tbs
lw_t_wait_for "tbs ready" 30 curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" ||
    tail -20 "$LW_T_DIR/tbs.log" >&2
lw_t_eq "start tbs → ready" 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")"
lw_t_wait_line "$LW_T_DIR/tbs.log" 'tenant billing server started' 10
lw_t_eq "the tenant registry runs next to it" 200 \
    "$(lw_t_admin GET "http://127.0.0.1:$port/api/v3/tenants" | cut -d' ' -f1)"
lw_t_eq "no secret in the log" 0 "$(grep -cE "$SK|$WHSEC" "$LW_T_DIR/tbs.log" || true)"

lw_t_done
