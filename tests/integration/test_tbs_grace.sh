#!/usr/bin/env bash
# The grace policy (billing/grace.c): a tenant billing flagged (past_due) for
# tbs.grace-period is suspended, on a timer that survives restarts (billing_accounts.
# flagged_at); an `active` subscription then approves it again (billing set the suspension);
# a tenant flagged and then suspended by hand is not billing's to change. Without a grace
# period (the default) a flagged tenant stays flagged. Two tenants; the other is checked
# untouched every time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/stripe_lib.sh"

lw_t_pg_start
lw_t_kafka_start 2
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
api="http://127.0.0.1:$port/api/v3"
lw_t_stripe_start "$api/tbs/stripe"
tbs=(--tbs.stripe.api-key "$LW_T_STRIPE_KEY" --tbs.stripe.endpoint-secret-key "$LW_T_STRIPE_WHSEC"
    --tbs.stripe.api-base "$LW_T_STRIPE_URL" --tbs.stripe.recurring-plan-ids plan_basic)
# start NAME [args]: tenant and tbs only, on the test's port.
start() {
    local name=$1; shift
    lw_t_spawn "$name" --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" \
        --http.listen "127.0.0.1:$port" --tenancy.admin-keys "$LW_T_ADMIN_KEY" "${tbs[@]}" "$@" \
        start tenant is tbs
    STACK_PID=$LW_T_LAST_PID
    lw_t_wait_for "$name ready" 30 curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" ||
        { tail -20 "$LW_T_DIR/$name.log" >&2; exit 1; }
}
state() { lw_t_admin GET "$api/tenants/$1?field_mask=state" | cut -d' ' -f2- | jq -r '.state // "none"'; }
state_is() { [ "$(state "$1")" = "$2" ]; }
wait_state() { lw_t_wait_for "$1 $2" "${3:-10}" state_is "$1" "$2"; }
flagged_at() { lw_t_psql -c "SELECT COALESCE(flagged_at::text, '-') FROM lw_control.billing_accounts WHERE tenant_id = '$1'"; }

start s0
lw_t_stripe_plan plan_basic licensed 1000 sum
declare -A SUB
for t in acme globex initech; do
    cus=$(lw_t_stripe_customer "admin@$t.example")
    SUB[$t]=$(lw_t_stripe_subscribe "$cus" plan_basic tenant-id=$t admin-password=Secret-passw0rd | jq -r .id)
    wait_state $t STATE_APPROVED
done

# Without a grace period: flagged stays flagged.
lw_t_stripe_status "${SUB[acme]}" past_due >/dev/null
wait_state acme STATE_FLAGGED
lw_t_eq "past_due → acme flagged, flagged_at recorded" "STATE_FLAGGED yes" \
    "$(state acme) $([ "$(flagged_at acme)" != - ] && echo yes)"
sleep 2
lw_t_eq "no grace period: acme still flagged, globex approved" "STATE_FLAGGED STATE_APPROVED" \
    "$(state acme) $(state globex)"
kill -TERM "$STACK_PID"
lw_t_wait_exit "$STACK_PID" 10

# With a grace period of 4 s, across a restart: acme (flagged above, more than 2 s ago) is
# suspended once 4 s have passed since it was flagged, by the restarted process.
start s1 --tbs.grace-period 4s --tbs.grace-check-interval 200ms
wait_state acme STATE_SUSPENDED 10
lw_t_eq "after the grace period (across a restart) acme is suspended, globex untouched" \
    "STATE_SUSPENDED STATE_APPROVED" "$(state acme) $(state globex)"
lw_t_wait_line "$LW_T_DIR/s1.log" 'msg="tenant suspended after its grace period" tenant=acme' 5
lw_t_eq "billing recorded its suspension, flagged_at cleared" "STATE_SUSPENDED -" \
    "$(lw_t_psql -c "SELECT billing_state FROM lw_control.billing_accounts WHERE tenant_id = 'acme'") $(flagged_at acme)"
lw_t_stripe_status "${SUB[acme]}" active >/dev/null
wait_state acme STATE_APPROVED
lw_t_eq "active → billing's own suspension lifted: acme approved" "STATE_APPROVED STATE_APPROVED" \
    "$(state acme) $(state globex)"

# Flagged by billing, then suspended by hand, then the grace period passes and the
# subscription becomes active: the operator's suspension stays.
lw_t_stripe_status "${SUB[initech]}" past_due >/dev/null
wait_state initech STATE_FLAGGED
r=$(lw_t_admin PUT "$api/tenants/initech" -d '{"tenant":{"state":"STATE_SUSPENDED"},"field_mask":{"paths":["state"]}}')
lw_t_eq "the operator suspends initech by hand" 200 "${r%% *}"
sleep 5
lw_t_eq "the grace timer leaves a hand-suspended tenant alone (billing_state still flagged)" \
    "STATE_SUSPENDED STATE_FLAGGED" \
    "$(state initech) $(lw_t_psql -c "SELECT billing_state FROM lw_control.billing_accounts WHERE tenant_id = 'initech'")"
lw_t_stripe_status "${SUB[initech]}" active >/dev/null
lw_t_wait_line "$LW_T_DIR/s1.log" 'msg="stripe event applied".*tenant=initech.*reason="tenant state set by an operator"' 10
lw_t_eq "active does not lift initech's hand suspension; acme and globex approved" \
    "STATE_SUSPENDED STATE_APPROVED STATE_APPROVED" "$(state initech) $(state acme) $(state globex)"
lw_t_done
