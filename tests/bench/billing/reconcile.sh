#!/usr/bin/env bash
# ops/bench: the time `lwstack billing reconcile` takes for 1,000 tenants and a month: each
# tenant with a subscription at the local Stripe (one metered item) and 720 hourly periods in
# the ledger and usage_reports (720,000 rows), all reported; the run reads them, asks Stripe for
# every item's usage summary and every subscription's status, and finds nothing to fix
# (exit 0). Stripe is the local one (tests/stripe-fake), so its answers cost loopback only;
# it holds each item's month as one record (the summary Stripe answers is one figure anyway).
#   LWSTACK_BIN=... LWSTACK_SRC=... tests/bench/billing/reconcile.sh [TENANTS]
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/integration/stripe_lib.sh"

n=${1:-1000}
periods=720
month=$(date -u -d "$(date -u +%Y-%m-01) -1 month" +%Y-%m)
m0=$(date -u -d "$month-01T00:00:00Z" +%s)

lw_t_pg_start
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
lw_t_stripe_start
lw_t_stripe_plan plan_uplinks metered 1 sum
node "$LWSTACK_SRC/tests/bench/billing/seed.js" "$LW_T_STRIPE_URL" "$LW_T_STRIPE_KEY" "$n" \
    plan_uplinks $((periods * 5)) $((m0 + 3600)) >"$LW_T_DIR/seed.tsv"
lw_t_psql <<SQL
CREATE TEMP TABLE seed(tenant text, cus text, sub text, si text);
\copy seed FROM '$LW_T_DIR/seed.tsv'
INSERT INTO lw_control.tenants (tenant_id, name, state) SELECT tenant, tenant, 1 FROM seed;
INSERT INTO lw_control.billing_accounts (tenant_id, backend, customer_id, subscription_id,
  subscription_status, plan_id, billing_state)
  SELECT tenant, 'stripe', cus, sub, 'active', 'plan_uplinks', 'STATE_APPROVED' FROM seed;
INSERT INTO lw_control.billing_subscription_items (item_id, tenant_id, subscription_id, price_id,
  meter, action, created_at)
  SELECT si, tenant, sub, 'plan_uplinks', 'uplinks', 'increment', to_timestamp($m0 - 86400) FROM seed;
INSERT INTO lw_control.usage_periods (tenant_id, period_start, period_end, closed_at)
  SELECT tenant, to_timestamp($m0 + k * 3600), to_timestamp($m0 + (k + 1) * 3600), now()
    FROM seed, generate_series(0, $periods - 1) k;
INSERT INTO lw_control.usage_ledger (tenant_id, period_start, meter, value)
  SELECT tenant_id, period_start, 'uplinks', 5 FROM lw_control.usage_periods;
INSERT INTO lw_control.usage_reports (tenant_id, period_start, item_id, meter, quantity, action,
  idempotency_key, state, attempts, stripe_id, sent_at)
  SELECT p.tenant_id, p.period_start, s.si, 'uplinks', 5, 'increment',
         'lw-usage-' || p.tenant_id || '-' || s.si || '-uplinks-' || extract(epoch FROM p.period_start)::bigint,
         'sent', 1, 'mbur_seeded', now()
    FROM lw_control.usage_periods p JOIN seed s ON s.tenant = p.tenant_id;
VACUUM ANALYZE;
SQL
rows=$(lw_t_psql -c "SELECT count(*) FROM lw_control.usage_reports")
t0=$(date +%s%N)
set +e
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" --tbs.stripe.api-key "$LW_T_STRIPE_KEY" \
    --tbs.stripe.api-base "$LW_T_STRIPE_URL" billing reconcile --period "$month" >"$LW_T_DIR/out" 2>&1
rc=$?
set -e
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
calls=$(lw_t_stripe_count GET '^/v1/(subscription_items/[^/]+/usage_record_summaries|subscriptions/[^/]+)$')
echo "billing: reconcile of $n tenants for a month ($periods hourly periods each, $rows usage rows, $calls Stripe reads on loopback): ${ms} ms (exit $rc: $(tail -1 "$LW_T_DIR/out"))"
