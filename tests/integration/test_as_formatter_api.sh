#!/usr/bin/env bash
# The formatter test endpoints of the Application Server (TTS's AppAs DecodeUplink,
# EncodeDownlink, DecodeDownlink): POST /api/v3/as/applications/{app}/devices/{dev}/up/decode,
# .../down/encode, .../down/decode on a running stack, with two tenants: the formatter's
# results and errors as TTS answers them, RIGHT_APPLICATION_TRAFFIC_READ required, another
# tenant's key refused.
. "$(dirname "$0")/lib.sh"

lw_t_pg_start
lw_t_kafka_start 2
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
lw_t_stack stack "$port" --as.formatter.workers 2 --as.formatter.timeout 1s
api="http://127.0.0.1:$port/api/v3"
adm() { lw_t_adm "$@"; }
body() { lw_t_body "$@"; }
PASS='Secret-passw0rd'
for t in acme globex; do
    r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$t\"},\"state\":\"STATE_APPROVED\"},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"$PASS\",\"primary_email_address\":\"admin@$t.example\"}}")
    lw_t_eq "create tenant $t → 200" 200 "${r%% *}"
    r=$(adm $t POST /users/admin/applications '{"application":{"ids":{"application_id":"app1"}}}')
    lw_t_eq "$t: create app1 → 200" 200 "${r%% *}"
done
key() { body "$(adm "$1" POST /applications/app1/api-keys "{\"name\":\"k\",\"rights\":[\"$2\"]}")" | jq -r .key; }
ACME_READ=$(key acme RIGHT_APPLICATION_TRAFFIC_READ)
ACME_DEVICES=$(key acme RIGHT_APPLICATION_DEVICES_READ)
GLOBEX_READ=$(key globex RIGHT_APPLICATION_TRAFFIC_READ)

script=$(jq -Rs . < "$LWSTACK_SRC/tests/integration/as/formatters/modern.js")
dev=/as/applications/app1/devices/dev1
up_body() { printf '{"end_device_ids":{"device_id":"dev1","application_ids":{"application_id":"app1"}},"uplink":{"f_port":%s,"frm_payload":"%s","received_at":"2026-12-01T17:00:00.123Z"},"formatter":"%s","parameter":%s}' "$1" "$2" "$3" "$4"; }

# decodeUplink with the traffic-read key: decoded_payload, the uplink echoed
r=$(lw_t_bearer "$ACME_READ" acme POST "$dev/up/decode" "$(up_body 1 AQEKAv8EA2Q= FORMATTER_JAVASCRIPT "$script")")
lw_t_eq "acme: up/decode → 200" 200 "${r%% *}"
lw_t_eq "decoded_payload as the script computes it" \
    '26.6 -25.2 100 "Tue, 01 Dec 2026 17:00:00 GMT" 1 "AQEKAv8EA2Q="' \
    "$(body "$r" | jq -c -r '.uplink | [.decoded_payload.temperature, .decoded_payload.humidity, .decoded_payload.battery, (.decoded_payload.received|tojson), .f_port, (.frm_payload|tojson)] | join(" ")')"
# warnings
r=$(lw_t_bearer "$ACME_READ" acme POST "$dev/up/decode" "$(up_body 1 CQ== FORMATTER_JAVASCRIPT "$script")")
lw_t_eq "decode with a warning → decoded_payload_warnings" '["unknown type 0x09"]' "$(body "$r" | jq -c .uplink.decoded_payload_warnings)"
# errors[] → output_errors; a throw → script
r=$(lw_t_bearer "$ACME_READ" acme POST "$dev/up/decode" "$(up_body 5 AA== FORMATTER_JAVASCRIPT "$script")")
lw_t_eq "errors[] → 409 output_errors" "409 output_errors" "$(lw_t_status_name "$r")"
lw_t_eq "the message is the errors, as TTS formats it" "error:pkg/messageprocessors/javascript:output_errors (unknown fPort 5)" "$(body "$r" | jq -r .message)"
r=$(lw_t_bearer "$ACME_READ" acme POST "$dev/up/decode" "$(up_body 1 AA== FORMATTER_JAVASCRIPT '"function decodeUplink(i) { throw new Error(\"nope\") }"')")
lw_t_eq "a throw → 409 script" "409 script" "$(lw_t_status_name "$r")"
r=$(lw_t_bearer "$ACME_READ" acme POST "$dev/up/decode" "$(up_body 1 AA== FORMATTER_JAVASCRIPT '"function decodeUplink(i) { while (true) {} }"')")
lw_t_eq "a loop → 504 script_timeout" "504 script_timeout" "$(lw_t_status_name "$r")"
# CayenneLPP
r=$(lw_t_bearer "$ACME_READ" acme POST "$dev/up/decode" "$(up_body 1 A2cBEAVnAP8= FORMATTER_CAYENNELPP '""')")
lw_t_eq "CayenneLPP → temperature_3, temperature_5" '{"temperature_3":27.2,"temperature_5":25.5}' "$(body "$r" | jq -c .uplink.decoded_payload)"
# encodeDownlink, decodeDownlink
r=$(lw_t_bearer "$ACME_READ" acme POST "$dev/down/encode" "{\"downlink\":{\"f_port\":0,\"decoded_payload\":{\"interval\":120,\"led\":true,\"mode\":\"eco\"}},\"formatter\":\"FORMATTER_JAVASCRIPT\",\"parameter\":$script}")
lw_t_eq "down/encode → frm_payload and the encoder's f_port" '200 "AHgBAQ==" 10' "${r%% *} $(body "$r" | jq -c -r '[(.downlink.frm_payload|tojson), .downlink.f_port] | join(" ")')"
r=$(lw_t_bearer "$ACME_READ" acme POST "$dev/down/decode" "{\"downlink\":{\"f_port\":10,\"frm_payload\":\"AHgBAQ==\"},\"formatter\":\"FORMATTER_JAVASCRIPT\",\"parameter\":$script}")
lw_t_eq "down/decode → decoded_payload" '{"interval":120,"led":true}' "$(body "$r" | jq -c .downlink.decoded_payload)"
r=$(lw_t_bearer "$ACME_READ" acme POST "$dev/down/encode" '{"downlink":{"f_port":2,"decoded_payload":{"value_1":1.5}},"formatter":"FORMATTER_CAYENNELPP"}')
lw_t_eq "CayenneLPP down/encode → 01 0096" '"AQCW" 2' "$(body "$r" | jq -c -r '[(.downlink.frm_payload|tojson), .downlink.f_port] | join(" ")')"

# Rights and tenants
r=$(lw_t_bearer "$ACME_DEVICES" acme POST "$dev/up/decode" "$(up_body 1 AA== FORMATTER_CAYENNELPP '""')")
lw_t_eq "a key without TRAFFIC_READ → 403 insufficient_application_rights" "403 insufficient_application_rights" "$(lw_t_status_name "$r")"
r=$(lw_t_bearer "$GLOBEX_READ" acme POST "$dev/up/decode" "$(up_body 1 A2cBEA== FORMATTER_CAYENNELPP '""')")
lw_t_eq "globex's key on acme → refused" "401" "${r%% *}"
r=$(lw_t_bearer "$GLOBEX_READ" globex POST "$dev/up/decode" "$(up_body 1 A2cBEA== FORMATTER_CAYENNELPP '""')")
lw_t_eq "globex's key on globex → 200" '200 {"temperature_3":27.2}' "${r%% *} $(body "$r" | jq -c .uplink.decoded_payload)"
r=$(lw_t_http POST "$api$dev/up/decode" -H "X-Tenant-ID: acme" -d "$(up_body 1 AA== FORMATTER_CAYENNELPP '""')")
lw_t_eq "no key → 401" 401 "${r%% *}"
r=$(lw_t_bearer "$ACME_READ" acme POST "$dev/up/decode" "$(up_body 1 '!!' FORMATTER_CAYENNELPP '""')")
lw_t_eq "bad base64 → 400 invalid_field" "400" "${r%% *}"
r=$(lw_t_bearer "$ACME_READ" acme POST "$dev/up/decode" "$(up_body 1 AA== FORMATTER_NOPE '""')")
lw_t_eq "unknown formatter → 400" "400" "${r%% *}"

# The workers are the stack's children (one may be being replaced after the loop: waited for).
pid=$LW_T_LAST_PID
two_workers() { [ "$(pgrep -P "$pid" -f formatter-worker | wc -l)" = 2 ]; }
if lw_t_wait_for "two formatter workers" 10 two_workers; then
    lw_t_ok "two formatter workers run under the stack"
else
    lw_t_fail "two formatter workers run under the stack: $(pgrep -P "$pid" -f formatter-worker | wc -l)"
fi
lw_t_done
