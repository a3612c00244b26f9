#!/usr/bin/env bash
# The local Stripe itself (tests/stripe-fake/server.js): the webhooks it sends verify as
# Stripe's do (HMAC-SHA256 over "t.body", checked here with openssl), idempotency keys
# replay, injected faults answer as asked and status changes emit the right events. Two
# customers (tenants alpha and bravo) throughout: what happens to one leaves the other as
# it was.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/stripe_lib.sh"

# A webhook receiver: stores each delivery (Stripe-Signature header and raw body) as
# hook.N.sig / hook.N.body and answers 200.
hooks="$LW_T_DIR/hooks"
mkdir -p "$hooks"
cat >"$LW_T_DIR/receiver.py" <<'PY'
import http.server, os, sys
d = sys.argv[1]
n = [0]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        n[0] += 1
        with open(os.path.join(d, "hook.%d.body" % n[0]), "wb") as f: f.write(body)
        with open(os.path.join(d, "hook.%d.sig" % n[0]), "w") as f:
            f.write(self.headers.get("Stripe-Signature", ""))
        os.rename(os.path.join(d, "hook.%d.body" % n[0]), os.path.join(d, "hook.%d.json" % n[0]))
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(os.path.join(d, "port"), "w").write(str(s.server_address[1]))
s.serve_forever()
PY
lw_t_bg receiver python3 "$LW_T_DIR/receiver.py" "$hooks"
lw_t_wait_for "receiver port" 10 test -s "$hooks/port"
hook_url="http://127.0.0.1:$(cat "$hooks/port")/api/v3/tbs/stripe"

lw_t_stripe_start "$hook_url"

# Loopback only.
lw_t_eq "listens on 127.0.0.1 only" "127.0.0.1:$LW_T_STRIPE_PORT" \
    "$(ss -Hltn "sport = :$LW_T_STRIPE_PORT" | awk '{print $4}' | sort -u | tr '\n' ' ' | sed 's/ $//')"

# The signing helper reproduces Stripe's own test vector (stripe-node 23.1.0).
lw_t_eq "lw_t_stripe_sign: Stripe's vector" \
    "t=1700000000,v1=288a8569005f6f6eda7efad3157a76f2bc8aa4aef7668946ada5f906bf5984b4" \
    "$(lw_t_stripe_sign '{"id":"evt_test_1","object":"event","type":"invoice.payment_failed"}' \
        whsec_test_secret_for_vectors 1700000000)"

hook_count() { find "$hooks" -name 'hook.*.json' | wc -l; }
# hook_wait N: until N deliveries arrived.
hook_wait() { lw_t_wait_for "$1 webhook deliveries" 30 test "$(hook_count)" -ge "$1"; }
# verify N [SECRET]: "ok" when delivery N's signature verifies (any v1, HMAC over t.body).
verify() {
    local n=$1 secret=${2:-$LW_T_STRIPE_WHSEC} sig t mac v
    sig=$(cat "$hooks/hook.$n.sig")
    t=$(printf '%s' "$sig" | tr ',' '\n' | sed -n 's/^t=//p')
    [ -n "$t" ] || { echo "no t"; return; }
    mac=$( { printf '%s.' "$t"; cat "$hooks/hook.$n.json"; } | openssl dgst -sha256 -hmac "$secret" | sed 's/^.*= //')
    for v in $(printf '%s' "$sig" | tr ',' '\n' | sed -n 's/^v1=//p'); do
        [ "$v" = "$mac" ] && { echo ok; return; }
    done
    echo "no match"
}
hook_t() { tr ',' '\n' <"$hooks/hook.$1.sig" | sed -n 's/^t=//p'; }
hook() { jq -r "$2" "$hooks/hook.$1.json"; }

# ---- customers, plans, subscriptions (created → customer.subscription.created) ----------
lw_t_stripe_plan plan_base licensed 1000 sum max-end-devices=10
lw_t_stripe_plan plan_devices metered 50 last_during_period
r=$(lw_t_stripe_api POST /v1/prices -d product=$(lw_t_body "$(lw_t_stripe_api GET /v1/plans/plan_devices)" | jq -r .product) \
    -d currency=eur -d unit_amount=2 -d 'recurring[interval]=month' -d 'recurring[usage_type]=metered')
price_uplinks=$(lw_t_body "$r" | jq -r .id)
cus_a=$(lw_t_stripe_customer ops@alpha.example)
cus_b=$(lw_t_stripe_customer ops@bravo.example)
sub_a_json=$(lw_t_stripe_subscribe "$cus_a" plan_base,plan_devices tenant-id=alpha admin-email=ops@alpha.example)
sub_a=$(jq -r .id <<<"$sub_a_json")
si_a=$(jq -r '.items.data[] | select(.plan.id == "plan_devices") | .id' <<<"$sub_a_json")
# An item by price only (the mock alone refuses it: it builds items from plans).
r=$(lw_t_stripe_api POST /v1/subscriptions -d "customer=$cus_b" -d "items[0][price]=$price_uplinks" \
    -d 'metadata[tenant-id]=bravo')
lw_t_eq "subscription by price: 200" 200 "${r%% *}"
sub_b_json=$(lw_t_body "$r")
sub_b=$(jq -r .id <<<"$sub_b_json")
si_b=$(jq -r '.items.data[0].id' <<<"$sub_b_json")
lw_t_eq "subscription by price: item's price and plan" "$price_uplinks $price_uplinks metered" \
    "$(jq -r '.items.data[0] | "\(.price.id) \(.plan.id) \(.plan.usage_type)"' <<<"$sub_b_json")"

hook_wait 2
lw_t_eq "two created events" "customer.subscription.created customer.subscription.created" \
    "$(hook 1 .type) $(hook 2 .type)"
lw_t_eq "created events: both subscriptions, their tenant-id" "$sub_a alpha $sub_b bravo" \
    "$(for n in 1 2; do hook $n '"\(.data.object.id) \(.data.object.metadata["tenant-id"])"'; done | sort -k2 | tr '\n' ' ' | sed 's/ $//')"
lw_t_eq "created event: the event shape" "event false 2020-08-27 active" \
    "$(hook 1 '"\(.object) \(.livemode) \(.api_version) \(.data.object.status)"')"
lw_t_eq "delivery 1 verifies with the secret (openssl)" ok "$(verify 1)"
lw_t_eq "delivery 2 verifies with the secret (openssl)" ok "$(verify 2)"
lw_t_eq "delivery 1 does not verify with another secret" "no match" "$(verify 1 whsec_other)"
now=$(date +%s)
t1=$(hook_t 1)
lw_t_eq "signature timestamp is now (±60 s)" 1 "$(( t1 <= now && t1 >= now - 60 ))"

# ---- status changes → the right events; the other subscription untouched ------------------
r=$(lw_t_stripe_status "$sub_a" past_due)
lw_t_eq "past_due: delivered, receiver 200" 200 "$(jq -r '.deliveries[0].status' <<<"$r")"
hook_wait 3
lw_t_eq "past_due → customer.subscription.updated, status, previous_attributes" \
    "customer.subscription.updated $sub_a past_due active" \
    "$(hook 3 '"\(.type) \(.data.object.id) \(.data.object.status) \(.data.previous_attributes.status)"')"
lw_t_eq "past_due event verifies" ok "$(verify 3)"
lw_t_stripe_status "$sub_a" unpaid >/dev/null
hook_wait 4
lw_t_eq "unpaid → updated" "customer.subscription.updated unpaid past_due" \
    "$(hook 4 '"\(.type) \(.data.object.status) \(.data.previous_attributes.status)"')"
lw_t_stripe_status "$sub_a" active >/dev/null
hook_wait 5
lw_t_eq "active again → updated" "customer.subscription.updated active unpaid" \
    "$(hook 5 '"\(.type) \(.data.object.status) \(.data.previous_attributes.status)"')"
lw_t_eq "bravo's subscription still active" active \
    "$(lw_t_body "$(lw_t_stripe_api GET "/v1/subscriptions/$sub_b")" | jq -r .status)"
lw_t_eq "alpha's subscription active at the API" active \
    "$(lw_t_body "$(lw_t_stripe_api GET "/v1/subscriptions/$sub_a")" | jq -r .status)"

# The public API: a plan change (items) and metadata merge → updated; DELETE → deleted.
r=$(lw_t_stripe_api POST "/v1/subscriptions/$sub_b" -d 'metadata[admin-user]=bob')
hook_wait 6
lw_t_eq "metadata merged, not replaced" "bravo bob" \
    "$(lw_t_body "$r" | jq -r '"\(.metadata["tenant-id"]) \(.metadata["admin-user"])"')"
lw_t_eq "metadata update → updated event" "customer.subscription.updated $sub_b" \
    "$(hook 6 '"\(.type) \(.data.object.id)"')"
r=$(lw_t_stripe_api DELETE "/v1/subscriptions/$sub_b")
lw_t_eq "DELETE: canceled" "200 canceled" "${r%% *} $(lw_t_body "$r" | jq -r .status)"
hook_wait 7
lw_t_eq "DELETE → customer.subscription.deleted" "customer.subscription.deleted $sub_b canceled" \
    "$(hook 7 '"\(.type) \(.data.object.id) \(.data.object.status)"')"
lw_t_eq "alpha untouched by bravo's cancel" active \
    "$(lw_t_body "$(lw_t_stripe_api GET "/v1/subscriptions/$sub_a")" | jq -r .status)"

# ---- invoices ---------------------------------------------------------------------------
r=$(lw_t_stripe_ctl POST /invoices "{\"subscription\":\"$sub_a\",\"type\":\"invoice.payment_failed\"}")
inv=$(jq -r .invoice.id <<<"$r")
hook_wait 8
lw_t_eq "invoice.payment_failed event" "invoice.payment_failed $inv $sub_a $cus_a open 1000" \
    "$(hook 8 '"\(.type) \(.data.object.id) \(.data.object.subscription) \(.data.object.customer) \(.data.object.status) \(.data.object.amount_due)"')"
lw_t_stripe_ctl POST /invoices "{\"subscription\":\"$sub_a\",\"type\":\"invoice.paid\"}" >/dev/null
hook_wait 9
lw_t_eq "invoice.paid event" "invoice.paid paid" "$(hook 9 '"\(.type) \(.data.object.status)"')"
lw_t_eq "GET /v1/invoices?subscription=: alpha's two, newest first" "paid open" \
    "$(lw_t_body "$(lw_t_stripe_api GET "/v1/invoices?subscription=$sub_a")" | jq -r '[.data[].status] | join(" ")')"
lw_t_eq "GET /v1/invoices?customer=: bravo has none" 0 \
    "$(lw_t_body "$(lw_t_stripe_api GET "/v1/invoices?customer=$cus_b")" | jq '.data | length')"
lw_t_eq "GET /v1/events lists all nine, newest first" "9 invoice.paid" \
    "$(lw_t_body "$(lw_t_stripe_api GET '/v1/events?limit=100')" | jq -r '"\(.data | length) \(.data[0].type)"')"
lw_t_eq "GET /v1/events?type=invoice.*" 2 \
    "$(lw_t_body "$(lw_t_stripe_api GET '/v1/events?type=invoice.*')" | jq '.data | length')"

# ---- event options: wrong secret, old timestamp, duplicate, replay by id, no signature ----
n=$(hook_count)
lw_t_stripe_event customer.subscription.updated "$(hook 3 .data.object)" '{"secret":"whsec_wrong"}' >/dev/null
hook_wait $((n + 1))
lw_t_eq "secret option: does not verify with the real secret" "no match" "$(verify $((n + 1)))"
lw_t_eq "secret option: verifies with the one given" ok "$(verify $((n + 1)) whsec_wrong)"
lw_t_stripe_event customer.subscription.updated "$(hook 3 .data.object)" '{"age":600}' >/dev/null
hook_wait $((n + 2))
t=$(hook_t $((n + 2)))
lw_t_eq "age option: signed, t 600 s in the past" "ok 1" \
    "$(verify $((n + 2))) $(( $(date +%s) - t >= 600 && $(date +%s) - t < 660 ))"
r=$(lw_t_stripe_event invoice.paid '{"id":"in_x","object":"invoice"}' '{"duplicate":true}')
hook_wait $((n + 4))
lw_t_eq "duplicate option: two deliveries of one event" "2 $(hook $((n + 3)) .id)" \
    "$(jq -r '.deliveries | length' <<<"$r") $(hook $((n + 4)) .id)"
ev_id=$(hook 1 .id)
lw_t_stripe_event customer.subscription.created null "{\"id\":\"$ev_id\"}" >/dev/null
hook_wait $((n + 5))
lw_t_eq "id option: a replay of event 1, byte for byte" "$(cat "$hooks/hook.1.json")" \
    "$(cat "$hooks/hook.$((n + 5)).json")"
lw_t_stripe_event invoice.paid '{"id":"in_y","object":"invoice"}' '{"no_signature":true}' >/dev/null
hook_wait $((n + 6))
lw_t_eq "no_signature option: no header" "" "$(cat "$hooks/hook.$((n + 6)).sig")"

# ---- usage records: idempotency --------------------------------------------------------
ur() { lw_t_stripe_api POST "/v1/subscription_items/$1/usage_records" -H "Idempotency-Key: $2" \
    -d "quantity=$3" -d "timestamp=$4" -d "action=$5" -D "$LW_T_DIR/ur.headers"; }
ts=$(( $(date +%s) - 7200 ))
r1=$(ur "$si_a" lw-usage-alpha-$si_a-end_devices-$ts 7 "$ts" set)
lw_t_eq "usage record: 200, fields" "200 7 $ts set $si_a" \
    "${r1%% *} $(lw_t_body "$r1" | jq -r '"\(.quantity) \(.timestamp) \(.action) \(.subscription_item)"')"
r2=$(ur "$si_a" lw-usage-alpha-$si_a-end_devices-$ts 7 "$ts" set)
lw_t_eq "same key again: the same record, replayed" "$(lw_t_body "$r1" | jq -r .id) true" \
    "$(lw_t_body "$r2" | jq -r .id) $(grep -i '^idempotent-replayed:' "$LW_T_DIR/ur.headers" | tr -d '\r' | awk '{print $2}')"
r3=$(ur "$si_a" lw-usage-alpha-$si_a-end_devices-$ts 8 "$ts" set)
lw_t_eq "same key, other quantity: 400 idempotency_error" "400 idempotency_error" \
    "${r3%% *} $(lw_t_body "$r3" | jq -r .error.type)"
r=$(ur "$si_b" lw-usage-bravo-$si_b-uplinks-$ts 40 "$ts" increment)
lw_t_eq "bravo's record" 200 "${r%% *}"
r=$(ur si_nope k-nope 1 "$ts" set)
lw_t_eq "unknown item: 404 resource_missing" "404 resource_missing" "${r%% *} $(lw_t_body "$r" | jq -r .error.code)"
r=$(ur "$si_a" k-future 1 $(( $(date +%s) + 3600 )) set)
lw_t_eq "a timestamp in the future: 400" "400 timestamp" "${r%% *} $(lw_t_body "$r" | jq -r .error.param)"
lw_t_eq "no key: 401 at the extension routes too" 401 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$LW_T_STRIPE_URL/v1/subscription_items/$si_a/usage_records" -d quantity=1)"
lw_t_eq "records stored: one per key (alpha 1, bravo 1)" "1 1" \
    "$(lw_t_stripe_ctl GET "/usage_records?subscription_item=$si_a" | jq '.usage_records | length') $(lw_t_stripe_ctl GET "/usage_records?subscription_item=$si_b" | jq '.usage_records | length')"
lw_t_eq "summary (last_during_period): the set value" \
    7 "$(lw_t_body "$(lw_t_stripe_api GET "/v1/subscription_items/$si_a/usage_record_summaries")" | jq '.data[0].total_usage')"

# ---- faults ---------------------------------------------------------------------------
ur_path="/v1/subscription_items/$si_b/usage_records"
lw_t_stripe_fault "{\"method\":\"POST\",\"path\":\"^$ur_path\$\",\"count\":1,\"status\":429,\"should_retry\":true}"
lw_t_stripe_fault "{\"method\":\"POST\",\"path\":\"^$ur_path\$\",\"count\":1,\"status\":429,\"should_retry\":false}"
lw_t_stripe_fault "{\"method\":\"POST\",\"path\":\"^$ur_path\$\",\"count\":1,\"status\":429}"
lw_t_stripe_fault "{\"method\":\"POST\",\"path\":\"^$ur_path\$\",\"count\":1,\"status\":500}"
lw_t_stripe_fault "{\"method\":\"POST\",\"path\":\"^$ur_path\$\",\"count\":1,\"status\":500,\"after\":true}"
key=lw-usage-bravo-$si_b-downlinks-$ts
sr() { grep -i '^stripe-should-retry:' "$LW_T_DIR/ur.headers" | tr -d '\r' | awk '{print $2}'; }
r=$(ur "$si_b" "$key" 3 "$ts" increment)
lw_t_eq "fault 1: 429, Stripe-Should-Retry: true" "429 rate_limit_error true" "${r%% *} $(lw_t_body "$r" | jq -r .error.type) $(sr)"
r=$(ur "$si_b" "$key" 3 "$ts" increment)
lw_t_eq "fault 2: 429, Stripe-Should-Retry: false" "429 false" "${r%% *} $(sr)"
r=$(ur "$si_b" "$key" 3 "$ts" increment)
lw_t_eq "fault 3: 429 without the header" "429 " "${r%% *} $(sr)"
r=$(ur "$si_b" "$key" 3 "$ts" increment)
lw_t_eq "fault 4: 500 api_error" "500 api_error" "${r%% *} $(lw_t_body "$r" | jq -r .error.type)"
lw_t_eq "no record made by faults before the request runs" 1 \
    "$(lw_t_stripe_ctl GET "/usage_records?subscription_item=$si_b" | jq '.usage_records | length')"
r=$(ur "$si_b" "$key" 3 "$ts" increment)
lw_t_eq "fault 5 (after): the request ran, the answer was a 500" "500 2" \
    "${r%% *} $(lw_t_stripe_ctl GET "/usage_records?subscription_item=$si_b" | jq '.usage_records | length')"
r=$(ur "$si_b" "$key" 3 "$ts" increment)
lw_t_eq "the retry with the same key: 200, the stored record replayed, still one" \
    "200 true 2" "${r%% *} $(grep -i '^idempotent-replayed:' "$LW_T_DIR/ur.headers" | tr -d '\r' | awk '{print $2}') $(lw_t_stripe_ctl GET "/usage_records?subscription_item=$si_b" | jq '.usage_records | length')"
r=$(ur "$si_b" "$key" 3 "$ts" increment)
lw_t_eq "faults used up: 200" 200 "${r%% *}"
lw_t_stripe_fault "{\"method\":\"GET\",\"path\":\"^/v1/subscriptions/$sub_a\$\",\"count\":1,\"delay_ms\":1500}"
rc=0; curl -s -o /dev/null --max-time 0.5 -H "Authorization: Bearer $LW_T_STRIPE_KEY" "$LW_T_STRIPE_URL/v1/subscriptions/$sub_a" || rc=$?
lw_t_eq "delay fault: the client times out (curl 28)" 28 "$rc"
r=$(lw_t_stripe_api GET "/v1/subscriptions/$sub_a")
lw_t_eq "delay used up: answers" 200 "${r%% *}"
lw_t_eq "alpha's records untouched by bravo's faults" 1 \
    "$(lw_t_stripe_ctl GET "/usage_records?subscription_item=$si_a" | jq '.usage_records | length')"

# ---- meter events ----------------------------------------------------------------------
me() { lw_t_stripe_api POST /v1/billing/meter_events -d event_name=uplinks -d "payload[stripe_customer_id]=$1" \
    -d "payload[value]=$2" -d "identifier=$3" -d "timestamp=$ts"; }
r=$(me "$cus_a" 12 lw-usage-alpha-x-uplinks-$ts)
lw_t_eq "meter event: 200" "200 billing.meter_event 12" "${r%% *} $(lw_t_body "$r" | jq -r '"\(.object) \(.payload.value)"')"
r=$(me "$cus_a" 12 lw-usage-alpha-x-uplinks-$ts)
lw_t_eq "meter event, same identifier: 400" 400 "${r%% *}"
me "$cus_b" 5 lw-usage-bravo-x-uplinks-$ts >/dev/null
lw_t_eq "meter events stored: one per identifier" "lw-usage-alpha-x-uplinks-$ts lw-usage-bravo-x-uplinks-$ts" \
    "$(lw_t_stripe_ctl GET /meter_events | jq -r '[.meter_events[].identifier] | join(" ")')"

# ---- the request log ----------------------------------------------------------------------
lw_t_eq "log: POST usage_records of bravo, by status" "5 3" \
    "$(( $(lw_t_stripe_count POST "^$ur_path\$" 429) + $(lw_t_stripe_count POST "^$ur_path\$" 500) )) $(lw_t_stripe_count POST "^$ur_path\$" 200)"
lw_t_eq "log: keys and faults recorded" "$key 500 true" \
    "$(lw_t_stripe_ctl GET /requests | jq -r --arg p "$ur_path" '[.requests[] | select(.path == $p and .fault.after == true)][0] | "\(.idempotency_key) \(.status) \(.fault.after)"')"
lw_t_eq "log: the API key never stored" 0 "$(lw_t_stripe_ctl GET /requests | grep -c "$LW_T_STRIPE_KEY" || true)"
lw_t_eq "log: /_test/ calls not listed" 0 "$(lw_t_stripe_count GET '^/_test/')"
lw_t_stripe_ctl DELETE /requests >/dev/null
lw_t_eq "log cleared" 0 "$(lw_t_stripe_count GET .)"
lw_t_stripe_ctl DELETE "/usage_records/$(lw_t_body "$r1" | jq -r .id)" >/dev/null
lw_t_eq "a deleted usage record is gone from the summary" 0 \
    "$(lw_t_body "$(lw_t_stripe_api GET "/v1/subscription_items/$si_a/usage_record_summaries")" | jq '.data[0].total_usage')"

# The mock's own routes still answer, with its own idempotency.
r=$(lw_t_stripe_api POST /v1/customers -H 'Idempotency-Key: cus-c' -d email=c@x.example)
r2=$(lw_t_stripe_api POST /v1/customers -H 'Idempotency-Key: cus-c' -d email=c@x.example)
lw_t_eq "pass-through idempotency: same customer" "$(lw_t_body "$r" | jq -r .id)" "$(lw_t_body "$r2" | jq -r .id)"

lw_t_done
