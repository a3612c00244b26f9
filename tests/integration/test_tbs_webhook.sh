#!/usr/bin/env bash
# The Tenant Billing Server's Stripe webhook (billing/webhook.c) with the running stack and
# the local Stripe (tests/stripe-fake), issue 11 acceptance bullets 1 and 3:
#  - a subscription with metadata tenant-id → an approved tenant with the plan's limits
#    (plan metadata max-*) and an initial user who can log in; a plan change → new limits;
#  - a bad signature, a stale timestamp, a missing signature → 400 with the error's name and
#    a log line, nothing changed; a replayed event id → 200, nothing changed; an unmanaged
#    plan, another customer → ignored, logged; a tenant suspended by hand stays suspended
#    after `active`; invoice.payment_failed → flagged, invoice.paid → approved;
# and the billing views (the tenant's own, the operator's list). Two tenants: every check
# also looks at the other.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/stripe_lib.sh"

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
api="http://127.0.0.1:$port/api/v3"
hook="$api/tbs/stripe"
lw_t_stripe_start "$hook"
lw_t_stack stack "$port" --tbs.stripe.api-key "$LW_T_STRIPE_KEY" \
    --tbs.stripe.endpoint-secret-key "$LW_T_STRIPE_WHSEC" --tbs.stripe.api-base "$LW_T_STRIPE_URL" \
    --tbs.stripe.recurring-plan-ids plan_basic,plan_pro --tbs.stripe.metered-plan-ids plan_devices \
    --tbs.plans.plan_pro.max-users 50
log="$LW_T_DIR/stack.log"

tenant() { lw_t_admin GET "$api/tenants/$1?field_mask=state,max_applications,max_end_devices,max_gateways,max_users" | cut -d" " -f2-; }
state() { tenant "$1" | jq -r '.state // "none"'; }
limits() { tenant "$1" | jq -r '[.max_applications, .max_end_devices, .max_gateways, .max_users] | map(. // "-") | join(",")'; }
# wait_state TENANT STATE: until the registry says so (webhooks are delivered asynchronously).
state_is() { [ "$(state "$1")" = "$2" ]; }
wait_state() { lw_t_wait_for "$1 $2" 10 state_is "$1" "$2"; }
max_devices_is() { [ "$(tenant "$1" | jq -r .max_end_devices)" = "$2" ]; }
deliveries() { lw_t_stripe_ctl GET /deliveries | jq -r "[.deliveries[] | select(.event_id == \"$1\" or .event == \"$1\")] | length"; }

lw_t_stripe_plan plan_basic licensed 1000 sum max-end-devices=10 max-gateways=2 max-users=5
lw_t_stripe_plan plan_pro licensed 5000 sum max-end-devices=100 max-gateways=20
lw_t_stripe_plan plan_devices metered 10 last_during_period
lw_t_stripe_plan plan_other licensed 100 sum max-end-devices=1
cus_a=$(lw_t_stripe_customer boss@acme.example)
cus_g=$(lw_t_stripe_customer ops@globex.example)

# ---- bullet 1: a subscription creates an approved tenant with the plan's limits -----------
sub_a=$(lw_t_stripe_subscribe "$cus_a" plan_basic,plan_devices tenant-id=acme tenant-name=Acme \
    admin-user=boss admin-email=boss@acme.example admin-password=Secret-passw0rd)
sub_a_id=$(jq -r .id <<<"$sub_a")
wait_state acme STATE_APPROVED
lw_t_eq "acme: approved, limits from plan_basic's metadata (applications, devices, gateways, users)" \
    "STATE_APPROVED -,10,2,5" "$(state acme) $(limits acme)"
lw_t_wait_line "$log" 'msg="stripe event applied".*tenant=acme' 5
r=$(lw_t_http POST "$api/auth/login" -H "X-Tenant-ID: acme" -d '{"user_id":"boss","password":"Secret-passw0rd"}')
lw_t_eq "acme's initial user (admin-user, admin-password) logs in" 200 "${r%% *}"
tok_a=$(lw_t_body "$r" | jq -r .access_token)
lw_t_eq "the initial user is an admin of acme" true \
    "$(lw_t_bearer "$tok_a" acme GET /auth_info | cut -d' ' -f2- | jq -r .is_admin)"
lw_t_eq "the metered item is recorded with its meter and action, the recurring one without" \
    "plan_basic|||true plan_devices|end_devices|set|true" \
    "$(lw_t_psql -c "SELECT price_id || '|' || COALESCE(meter, '') || '|' || COALESCE(action, '') || '|' || active FROM lw_control.billing_subscription_items WHERE tenant_id = 'acme' ORDER BY price_id" | paste -sd' ')"

sub_g=$(lw_t_stripe_subscribe "$cus_g" plan_pro tenant-id=globex admin-email=ops@globex.example)
sub_g_id=$(jq -r .id <<<"$sub_g")
wait_state globex STATE_APPROVED
lw_t_eq "globex: approved with plan_pro's limits, max_users from tbs.plans.plan_pro.max-users" \
    "STATE_APPROVED -,100,20,50" "$(state globex) $(limits globex)"
lw_t_eq "acme untouched by globex's subscription" "STATE_APPROVED -,10,2,5" "$(state acme) $(limits acme)"
lw_t_eq "globex's initial user is the tenant ID (no admin-user)" 1 \
    "$(lw_t_adm globex GET /users | cut -d' ' -f2- | jq '[.users[] | select(.ids.user_id == "globex")] | length')"

# The billing views: the tenant's own (its admin), the operator's list.
v=$(lw_t_bearer "$tok_a" acme GET /tbs/tenants/acme)
lw_t_eq "acme's admin reads acme's plan, limits and billing state" \
    "200 plan_basic recurring STATE_APPROVED active 10" \
    "${v%% *} $(lw_t_body "$v" | jq -r '[.plan.plan_id, .plan.kind, .billing.billing_state, .billing.subscription_status, .limits.max_end_devices] | join(" ")')"
v=$(lw_t_http GET "$api/tbs/tenants/globex" -H "X-Tenant-ID: acme" -H "Authorization: Bearer $tok_a")
lw_t_eq "acme's admin cannot read globex's billing" "401 unauthenticated" "$(lw_t_status_name "$v")"
v=$(lw_t_http GET "$api/tbs/tenants/acme")
lw_t_eq "no credential → 401" "401 unauthenticated" "$(lw_t_status_name "$v")"
v=$(lw_t_http GET "$api/tbs/tenants" -H "Authorization: Bearer $tok_a" -H "X-Tenant-ID: acme")
lw_t_eq "the operator list wants the tenant admin key" "403 permission_denied" "$(lw_t_status_name "$v")"
v=$(lw_t_admin GET "$api/tbs/tenants")
lw_t_eq "the operator lists every tenant with its plan and billing state" \
    "acme:plan_basic:STATE_APPROVED globex:plan_pro:STATE_APPROVED" \
    "$(lw_t_body "$v" | jq -r '[.tenants[] | "\(.ids.tenant_id):\(.plan.plan_id):\(.billing.billing_state)"] | join(" ")')"

# A plan change → the new limits; globex untouched.
si=$(jq -r '.items.data[] | select(.plan.id == "plan_basic") | .id' <<<"$sub_a")
lw_t_stripe_api POST "/v1/subscriptions/$sub_a_id" -d "items[0][id]=$si" -d "items[0][plan]=plan_pro" >/dev/null
lw_t_wait_for "acme's new limits" 10 max_devices_is acme 100
lw_t_eq "plan change → acme has plan_pro's limits" "STATE_APPROVED -,100,20,50" "$(state acme) $(limits acme)"
lw_t_eq "the account names the new plan" plan_pro \
    "$(lw_t_psql -c "SELECT plan_id FROM lw_control.billing_accounts WHERE tenant_id = 'acme'")"
lw_t_eq "globex untouched by acme's plan change" "STATE_APPROVED -,100,20,50" "$(state globex) $(limits globex)"

# ---- bullet 3: refused and ignored events ---------------------------------------------------
unpaid_a=$(jq -c '.status = "unpaid"' <<<"$sub_a")
body=$(jq -cn --argjson o "$unpaid_a" '{id:"evt_forged",object:"event",type:"customer.subscription.updated",created:now|floor,data:{object:$o}}')
post() { lw_t_http POST "$hook" -H "Content-Type: application/json" "$@" --data-binary "$body"; }
r=$(post -H "Stripe-Signature: $(lw_t_stripe_sign "$body" whsec_wrong)")
lw_t_eq "wrong secret → 400 signature_mismatch" "400 signature_mismatch" "$(lw_t_status_name "$r")"
lw_t_wait_line "$log" 'msg="stripe webhook refused" reason=signature_mismatch' 5
r=$(post -H "Stripe-Signature: $(lw_t_stripe_sign "$body" "$LW_T_STRIPE_WHSEC" $(( $(date +%s) - 600 )))")
lw_t_eq "timestamp 600 s old → 400 timestamp_out_of_tolerance" "400 timestamp_out_of_tolerance" "$(lw_t_status_name "$r")"
lw_t_wait_line "$log" 'msg="stripe webhook refused" reason=timestamp_out_of_tolerance' 5
r=$(post)
lw_t_eq "no Stripe-Signature → 400 missing_signature" "400 missing_signature" "$(lw_t_status_name "$r")"
lw_t_wait_line "$log" 'msg="stripe webhook refused" reason=missing_signature' 5
r=$(post -H "Stripe-Signature: t=$(date +%s),v0=deadbeef")
lw_t_eq "no v1 entry → 400 invalid_signature" "400 invalid_signature" "$(lw_t_status_name "$r")"
good=$(lw_t_stripe_sign "$body")
body2="$body "
r=$(lw_t_http POST "$hook" -H "Stripe-Signature: $good" --data-binary "$body2")
lw_t_eq "the body changed by one byte → 400 signature_mismatch" "400 signature_mismatch" "$(lw_t_status_name "$r")"
lw_t_eq "after the refused events acme is still approved, globex too" "STATE_APPROVED STATE_APPROVED" \
    "$(state acme) $(state globex)"
lw_t_eq "refused events are not recorded" 0 \
    "$(lw_t_psql -c "SELECT count(*) FROM lw_control.billing_events WHERE event_id = 'evt_forged'")"
lw_t_eq "refusals are counted by reason" 1 \
    "$(curl -s "http://127.0.0.1:$port/metrics" | grep -c 'lwstack_tbs_webhooks_refused_total{reason="timestamp_out_of_tolerance"} 1')"

# A replayed event id: the first delivery flags globex; after globex is approved again, the
# same event once more changes nothing.
pd_g=$(jq -c '.status = "past_due"' <<<"$sub_g")
out=$(lw_t_stripe_event customer.subscription.updated "$pd_g" '{"id":"evt_replay_1"}')
lw_t_eq "past_due → 200" 200 "$(jq -r '.deliveries[0].status' <<<"$out")"
wait_state globex STATE_FLAGGED
lw_t_eq "past_due → globex flagged, acme untouched" "STATE_FLAGGED STATE_APPROVED" "$(state globex) $(state acme)"
lw_t_stripe_status "$sub_g_id" active >/dev/null
wait_state globex STATE_APPROVED
out=$(lw_t_stripe_event customer.subscription.updated "$pd_g" '{"id":"evt_replay_1"}')
lw_t_eq "the replayed event id → 200 outcome replayed" "200 replayed" \
    "$(jq -r '.deliveries[0].status' <<<"$out") $(jq -r '.deliveries[0].body' <<<"$out" | jq -r .outcome)"
lw_t_wait_line "$log" 'msg="stripe event already handled" event=evt_replay_1' 5
lw_t_eq "… and changes nothing: globex stays approved, acme too" "STATE_APPROVED STATE_APPROVED" \
    "$(state globex) $(state acme)"

# Out of order: a past_due created before the last applied event is stale.
old=$(jq -cn --argjson o "$pd_g" '{id:"evt_stale",object:"event",type:"customer.subscription.updated",created:((now|floor) - 100),data:{object:$o}}')
r=$(lw_t_http POST "$hook" -H "Stripe-Signature: $(lw_t_stripe_sign "$old")" --data-binary "$old")
lw_t_eq "an event older than the last applied one → 200 ignored" "200 ignored" \
    "${r%% *} $(lw_t_body "$r" | jq -r .outcome)"
lw_t_wait_line "$log" 'msg="stripe event ignored" event=evt_stale.*reason="out of order' 5
lw_t_eq "… globex stays approved, acme too" "STATE_APPROVED STATE_APPROVED" "$(state globex) $(state acme)"

# Two events of one customer at once (a new subscription's created, delivered twice under
# two event ids): handled one after the other, so the second finds the tenant the first
# created instead of failing to create it again.
cus_h=$(lw_t_stripe_customer ops@hooli.example)
hooli=$(jq -c --arg c "$cus_h" '.customer = $c | .id = "sub_hooli" | .metadata = {"tenant-id":"hooli","admin-password":"Secret-passw0rd"}' <<<"$sub_g")
hpids=()
for n in 1 2; do
    ev=$(jq -cn --argjson o "$hooli" --arg id "evt_hooli_$n" '{id:$id,object:"event",type:"customer.subscription.created",created:now|floor,data:{object:$o}}')
    curl -sS -o "$LW_T_DIR/hooli.$n" -w '%{http_code}\n' -X POST "$hook" -H "Stripe-Signature: $(lw_t_stripe_sign "$ev")" --data-binary "$ev" >"$LW_T_DIR/hooli.$n.status" &
    hpids+=($!)
done
wait "${hpids[@]}"
lw_t_eq "two simultaneous events of one customer: both 200 applied" "200 applied 200 applied" \
    "$(cat "$LW_T_DIR/hooli.1.status") $(jq -r .outcome "$LW_T_DIR/hooli.1") $(cat "$LW_T_DIR/hooli.2.status") $(jq -r .outcome "$LW_T_DIR/hooli.2")"
lw_t_eq "… hooli approved once, acme and globex untouched" "STATE_APPROVED STATE_APPROVED STATE_APPROVED" \
    "$(state hooli) $(state acme) $(state globex)"

# An unmanaged plan: ignored, logged, no tenant.
cus_i=$(lw_t_stripe_customer it@initech.example)
lw_t_stripe_subscribe "$cus_i" plan_other tenant-id=initech >/dev/null
lw_t_wait_line "$log" 'msg="stripe event ignored".*reason="no_managed_plan' 10
lw_t_eq "an unmanaged plan's subscription creates no tenant" none "$(state initech)"
lw_t_eq "… and changes no other tenant" "STATE_APPROVED STATE_APPROVED -,100,20,50" \
    "$(state acme) $(state globex) $(limits acme)"

# Another customer naming acme: ignored (customer_id_mismatch).
cus_x=$(lw_t_stripe_customer mallory@example.com)
evil=$(jq -c --arg c "$cus_x" '.status = "canceled" | .customer = $c | .id = "sub_evil"' <<<"$sub_a")
out=$(lw_t_stripe_event customer.subscription.deleted "$evil")
lw_t_eq "a customer that is not acme's → 200 ignored" "200 ignored" \
    "$(jq -r '.deliveries[0].status' <<<"$out") $(jq -r '.deliveries[0].body' <<<"$out" | jq -r .outcome)"
lw_t_wait_line "$log" 'msg="stripe event ignored".*tenant=acme.*reason=customer_id_mismatch' 5
lw_t_eq "… acme stays approved, globex too" "STATE_APPROVED STATE_APPROVED" "$(state acme) $(state globex)"

# invoice.payment_failed → flagged (recorded); invoice.paid → approved again.
out=$(lw_t_stripe_ctl POST /invoices "{\"subscription\":\"$sub_a_id\",\"type\":\"invoice.payment_failed\"}")
wait_state acme STATE_FLAGGED
lw_t_eq "invoice.payment_failed → acme flagged, globex untouched" "STATE_FLAGGED STATE_APPROVED" \
    "$(state acme) $(state globex)"
lw_t_eq "the invoice is recorded for acme" "acme $cus_a $sub_a_id" \
    "$(lw_t_psql -c "SELECT tenant_id || ' ' || customer_id || ' ' || subscription_id FROM lw_control.billing_invoices WHERE customer_id = '$cus_a'" | head -1)"
lw_t_stripe_ctl POST /invoices "{\"subscription\":\"$sub_a_id\",\"type\":\"invoice.paid\"}" >/dev/null
wait_state acme STATE_APPROVED
lw_t_eq "invoice.paid (subscription active) → acme approved again" "STATE_APPROVED STATE_APPROVED" \
    "$(state acme) $(state globex)"

# A tenant suspended by hand stays suspended after `active`.
r=$(lw_t_admin PUT "$api/tenants/globex" -d '{"tenant":{"state":"STATE_SUSPENDED"},"field_mask":{"paths":["state"]}}')
lw_t_eq "the operator suspends globex by hand" "200 STATE_SUSPENDED" "${r%% *} $(state globex)"
lw_t_stripe_status "$sub_g_id" active >/dev/null
lw_t_wait_line "$log" 'msg="stripe event applied".*tenant=globex.*reason="tenant state set by an operator"' 10
lw_t_eq "an active subscription does not lift a suspension made by hand; acme untouched" \
    "STATE_SUSPENDED STATE_APPROVED" "$(state globex) $(state acme)"
lw_t_stripe_status "$sub_g_id" unpaid >/dev/null
lw_t_stripe_status "$sub_g_id" active >/dev/null
sleep 1
lw_t_eq "… nor do later events" "STATE_SUSPENDED STATE_APPROVED" "$(state globex) $(state acme)"

lw_t_eq "no Stripe secret in the log" 0 "$(grep -cE "$LW_T_STRIPE_KEY|$LW_T_STRIPE_WHSEC|Secret-passw0rd" "$log" || true)"
lw_t_done
