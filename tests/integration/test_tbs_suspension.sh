#!/usr/bin/env bash
# Issue 11 acceptance bullet 2 with the real stack (GS, NS, JS, AS, tbs) and the local
# Stripe: invoice.payment_failed and past_due → flagged (traffic still flows); unpaid →
# suspended: the tenant's API answers 403 tenant_not_active, its gateway's uplinks are
# dropped (GS metric) and its MQTT client is disconnected within 5 s, its data intact; the
# other tenant unaffected throughout; payment (active again, invoice.paid) → approved and
# traffic resumes. Tenants are created by their Stripe subscriptions.
. "$(dirname "$0")/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"
. "$(dirname "$0")/stripe_lib.sh"

lw_e2e_need_data_path "suspension by billing"
lw_e2e_need js "OTAA joins"
lw_e2e_need as "the Application Server's MQTT"
command -v mosquitto_sub >/dev/null || { echo "mosquitto-clients missing (ops/install)" >&2; exit 1; }
lw_e2e_prepare
lw_t_stripe_start "http://127.0.0.1:$E2E_HTTP/api/v3/tbs/stripe"
lw_t_stack stack "$E2E_HTTP" "${E2E_ARGS[@]}" --js.application-server-kek-label as-dev \
    --as.keks.as-dev "$E2E_AS_KEK" --tbs.stripe.api-key "$LW_T_STRIPE_KEY" \
    --tbs.stripe.endpoint-secret-key "$LW_T_STRIPE_WHSEC" --tbs.stripe.api-base "$LW_T_STRIPE_URL" \
    --tbs.stripe.recurring-plan-ids plan_basic
E2E_API="http://127.0.0.1:$E2E_HTTP"
api="$E2E_API/api/v3"
log="$LW_T_DIR/stack.log"
mport=$(sed -nE 's/.*msg="mqtt listening".* port=([0-9]+).*/\1/p' "$log" | head -1)
[ -n "$mport" ] || { echo "no MQTT port in the log" >&2; exit 1; }
metric() { curl -sS "$E2E_API/metrics" | grep -v '^#' | grep -F "$1" | awk '{print $NF}' | head -1 || true; }
state() { lw_t_admin GET "$api/tenants/$1?field_mask=state" | cut -d' ' -f2- | jq -r '.state // "none"'; }
state_is() { [ "$(state "$1")" = "$2" ]; }
wait_state() { lw_t_wait_for "$1 $2" 10 state_is "$1" "$2"; }
mqtt_conns() { [ "$(metric 'lwstack_as_mqtt_connections ')" = "$1" ]; }
ups() { grep -c "^v3/app1@$1/devices/[^/]*/up " "$LW_T_DIR/$1.mqtt$2.out" 2>/dev/null || true; }

lw_t_stripe_plan plan_basic licensed 1000 sum max-end-devices=10 max-gateways=5
declare -A SUB KEY
for t in acme globex; do
    cus=$(lw_t_stripe_customer "admin@$t.example")
    SUB[$t]=$(lw_t_stripe_subscribe "$cus" plan_basic tenant-id=$t admin-user=admin \
        admin-password=Secret-passw0rd admin-email=admin@$t.example | jq -r .id)
done
for t in acme globex; do
    wait_state $t STATE_APPROVED
    lw_t_eq "$t: created approved by its subscription" STATE_APPROVED "$(state $t)"
    r=$(lw_t_adm $t POST /users/admin/applications '{"application":{"ids":{"application_id":"app1"}}}')
    lw_t_eq "$t: app1 created" 200 "${r%% *}"
    r=$(lw_t_adm $t POST /applications/app1/api-keys '{"name":"mqtt","rights":["RIGHT_APPLICATION_TRAFFIC_READ","RIGHT_APPLICATION_INFO"]}')
    KEY[$t]=$(lw_t_body "$r" | jq -r .key)
    lw_t_bg "$t.mqtt1" mosquitto_sub -h 127.0.0.1 -p "$mport" -u "app1@$t" -P "${KEY[$t]}" -t '#' -v
done
lw_e2e_wait_matcher
lw_t_wait_for "two MQTT subscribers" 10 mqtt_conns 2
lw_t_wait_for "lw.as.up assigned to the MQTT server" 30 grep -q 'partitions assigned.*lw.as.up' "$log"
sleep 1

common=(--gateways 1 --copies 1 --duration 0 --json --fport 7 --payload 01020304)
# send T ROUND: one uplink of T's device (its session continues from the keys file).
send() {
    lw_e2e_sim_udp --seed "$1-tbs" --keys-file "$LW_T_DIR/$1.state" --keys-out "$LW_T_DIR/$1.state" \
        --uplinks-per-device 1 --rate 100 "${common[@]}" >"$LW_T_DIR/$1.$2.json" 2>&1 || true
}
for t in acme globex; do
    lw_e2e_sim $t --seed "$t-tbs" --application app1 --otaa --lorawan-version 1.0.3 --devices 1 \
        --uplinks-per-device 1 --rate 1 --keys-out "$LW_T_DIR/$t.state" "${common[@]}" \
        >"$LW_T_DIR/$t.0.json"
done
upn() { [ "$(ups "$1" "$2")" -ge "$3" ]; }
for t in acme globex; do
    lw_t_wait_for "$t: first uplink on MQTT" 30 upn $t 1 1
    lw_t_eq "$t: its uplink reached its MQTT client" 1 "$(ups $t 1)"
done

# ---- payment failed, past_due: flagged, traffic flows ----------------------------------------
lw_t_stripe_ctl POST /invoices "{\"subscription\":\"${SUB[acme]}\",\"type\":\"invoice.payment_failed\"}" >/dev/null
wait_state acme STATE_FLAGGED
lw_t_eq "invoice.payment_failed → acme flagged, globex approved" "STATE_FLAGGED STATE_APPROVED" \
    "$(state acme) $(state globex)"
lw_t_stripe_status "${SUB[acme]}" past_due >/dev/null
lw_t_wait_line "$log" 'msg="stripe event applied" .*type=customer.subscription.updated tenant=acme' 10
lw_t_eq "past_due → acme still flagged" STATE_FLAGGED "$(state acme)"
send acme 1
lw_t_wait_for "acme (flagged): its uplink still on MQTT" 20 upn acme 1 2
lw_t_eq "a flagged tenant's traffic still flows" 2 "$(ups acme 1)"

# ---- unpaid: suspended everywhere within 5 s --------------------------------------------------
dropped0=$(metric 'lwstack_gs_dropped_total{protocol="udp",reason="tenant_not_active"}')
closed0=$(metric 'lwstack_as_mqtt_disconnects_total{reason="tenant_closed"}')
lw_t_stripe_status "${SUB[acme]}" unpaid >/dev/null
t0=$(date +%s%N)
wait_state acme STATE_SUSPENDED
lw_t_wait_for "acme's MQTT client disconnected" 5 mqtt_conns 1 &&
    lw_t_ok "unpaid → acme's MQTT client disconnected within 5 s of the suspension, globex's still connected"
t_closed=$(date +%s%N)
lw_t_eq "… closed as tenant_closed" "$(( ${closed0:-0} + 1 ))" \
    "$(metric 'lwstack_as_mqtt_disconnects_total{reason="tenant_closed"}')"
r=$(lw_t_adm acme GET /applications/app1)
lw_t_eq "acme's API → 403 tenant_not_active" "403 tenant_not_active" "$(lw_t_status_name "$r")"
r=$(lw_t_http GET "$api/applications/app1" -H "X-Tenant-ID: acme" -H "Authorization: Bearer ${KEY[acme]}")
lw_t_eq "acme's API key too → 403 tenant_not_active" "403 tenant_not_active" "$(lw_t_status_name "$r")"
send acme 2
dropped_more() { [ "$(metric 'lwstack_gs_dropped_total{protocol="udp",reason="tenant_not_active"}')" -gt "${dropped0:-0}" ]; }
lw_t_wait_for "acme's gateway traffic dropped" 5 dropped_more &&
    lw_t_ok "acme's gateway uplinks are dropped (lwstack_gs_dropped_total{reason=tenant_not_active})"
echo "# suspension: acme's MQTT connection closed $(( (t_closed - t0) / 1000000 )) ms after the unpaid status was set at the local Stripe"
lw_t_eq "acme's MQTT client got nothing more" 2 "$(ups acme 1)"
send globex 2
lw_t_wait_for "globex: its uplink still on MQTT" 20 upn globex 1 2
lw_t_eq "globex unaffected: approved, its uplink on MQTT, its API answers" "STATE_APPROVED 2 200" \
    "$(state globex) $(ups globex 1) $(lw_t_adm globex GET /applications/app1 | cut -d' ' -f1)"
lw_t_eq "acme's data intact while suspended (its application and device rows)" "1 1" \
    "$(lw_t_psql -c "SELECT (SELECT count(*) FROM t_acme.applications), (SELECT count(*) FROM t_acme.end_devices)" | tr '|' ' ')"

# ---- payment: approved, traffic resumes ----------------------------------------------------------
lw_t_stripe_ctl POST /invoices "{\"subscription\":\"${SUB[acme]}\",\"type\":\"invoice.paid\"}" >/dev/null
lw_t_stripe_status "${SUB[acme]}" active >/dev/null
wait_state acme STATE_APPROVED
lw_t_eq "paid, active → acme approved" "STATE_APPROVED STATE_APPROVED" "$(state acme) $(state globex)"
lw_t_eq "the invoices are recorded" "open paid" \
    "$(lw_t_psql -c "SELECT string_agg(status, ' ' ORDER BY updated_at) FROM lw_control.billing_invoices WHERE tenant_id = 'acme'")"
r=$(lw_t_adm acme GET /applications/app1)
lw_t_eq "acme's API answers again, its application as it was" "200 app1" \
    "${r%% *} $(lw_t_body "$r" | jq -r .ids.application_id)"
lw_t_bg acme.mqtt2 mosquitto_sub -h 127.0.0.1 -p "$mport" -u app1@acme -P "${KEY[acme]}" -t '#' -v
lw_t_wait_for "acme's MQTT client back" 10 mqtt_conns 2
sleep 1
for round in 3 4 5; do
    send acme $round
    upn acme 2 1 && break
    sleep 1
done
lw_t_wait_for "acme: traffic resumes on MQTT" 20 upn acme 2 1
lw_t_eq "acme's traffic resumes: a new uplink on its MQTT client" 1 "$([ "$(ups acme 2)" -ge 1 ] && echo 1 || echo 0)"
lw_t_eq "globex got nothing of acme's" 0 "$(grep -c 'app1@acme' "$LW_T_DIR/globex.mqtt1.out" || true)"
lw_t_done
