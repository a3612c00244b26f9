#!/usr/bin/env bash
# Webhooks (issue 10, item 5): The Things Stack's registry (POST/GET/PUT/DELETE
# /api/v3/as/webhooks/{app}[/{webhook_id}], GET /api/v3/as/webhook-formats) with its rights,
# field masks and named errors, and delivery from lw.as.up (AsUp published here by
# tests/integration/as/as_up_pub.c as the AS worker would) to real HTTP endpoints
# (tests/integration/as/webhook_receiver.py): paths per message type, TTS's headers, basic
# auth from base_url, the webhook's field_mask, order per device, nothing twice for a
# replayed envelope id, health_status; the webhook downlink endpoints authenticated by
# X-Downlink-Apikey. Two tenants, acme and globex, each with `app1`; every check looks at the
# other tenant.
. "$(dirname "$0")/lib.sh"

build="$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)"
pub="$build/tests/integration/as/as_up_pub"
recv="$LWSTACK_SRC/tests/integration/as/webhook_receiver.py"
[ -x "$pub" ] || { echo "as_up_pub not found at $pub" >&2; exit 1; }

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
lw_t_stack stack "$port" --as.webhooks.downlink.public-address "http://lns.example.com:1885/api/v3/" \
    --as.key-encryption-key 303132333435363738393a3b3c3d3e3f --as.key-encryption-key-label as-rest
api="http://127.0.0.1:$port/api/v3"
adm() { lw_t_adm "$@"; }
body() { lw_t_body "$@"; }
name() { lw_t_status_name "$1"; }
field() { body "$1" | jq -r '.details[0].attributes.field // empty'; }
for t in acme globex; do
    r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$t\"},\"state\":\"STATE_APPROVED\"},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"Secret-passw0rd\",\"primary_email_address\":\"admin@$t.example\"}}")
    lw_t_eq "create tenant $t → 200" 200 "${r%% *}"
    r=$(adm $t POST /users/admin/applications '{"application":{"ids":{"application_id":"app1"}}}')
    lw_t_eq "$t: create app1 → 200" 200 "${r%% *}"
done
key() { body "$(adm "$1" POST /applications/app1/api-keys "{\"name\":\"k\",\"rights\":$2}")" | jq -r .key; }
ACME_ALL=$(key acme '["RIGHT_APPLICATION_SETTINGS_BASIC","RIGHT_APPLICATION_TRAFFIC_READ","RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE"]')
ACME_READ=$(key acme '["RIGHT_APPLICATION_TRAFFIC_READ"]')
ACME_SETTINGS=$(key acme '["RIGHT_APPLICATION_SETTINGS_BASIC"]')
ACME_DOWN=$(key acme '["RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE"]')

# Two endpoints: acme's and globex's.
rport_a=$(lw_t_free_port)
rport_g=$(lw_t_free_port)
lw_t_bg recv-acme python3 "$recv" --port "$rport_a" --out "$LW_T_DIR/acme.jsonl" --ready "$LW_T_DIR/acme.ready"
lw_t_bg recv-globex python3 "$recv" --port "$rport_g" --out "$LW_T_DIR/globex.jsonl" --ready "$LW_T_DIR/globex.ready"
lw_t_wait_for "the receivers" 20 test -s "$LW_T_DIR/acme.ready" -a -s "$LW_T_DIR/globex.ready"
touch "$LW_T_DIR/acme.jsonl" "$LW_T_DIR/globex.jsonl"
A="$LW_T_DIR/acme.jsonl"
G="$LW_T_DIR/globex.jsonl"
lines() { wc -l <"$1" | tr -d ' '; }
wait_lines() { lw_t_wait_for "$2 request(s) in $(basename "$1")" "${3:-20}" bash -c '[ "$(wc -l <"$1")" -ge "$2" ]' _ "$1" "$2"; }

# ---- formats ------------------------------------------------------------------------------
r=$(adm acme GET /as/webhook-formats)
lw_t_eq "webhook-formats → TTS's ApplicationWebhookFormats" '200 {"formats":{"json":"JSON"}}' "${r%% *} $(body "$r" | jq -c .)"

# ---- create, get, list ------------------------------------------------------------------------
WH1='{"webhook":{"ids":{"webhook_id":"wh1","application_ids":{"application_id":"app1"}},"base_url":"http://hook%40user:pa%3Ass@127.0.0.1:'$rport_a'/hooks/","headers":{"X-Custom":"v1"},"format":"json","downlink_api_key":"'$ACME_DOWN'","uplink_message":{"path":"up"},"join_accept":{"path":"/join"},"downlink_queued":{}},"field_mask":{"paths":["base_url","headers","format","downlink_api_key","uplink_message","join_accept","downlink_queued"]}}'
r=$(lw_t_bearer "$ACME_ALL" acme POST /as/webhooks/app1 "$WH1")
lw_t_eq "acme: POST wh1 → 200 with what was set (the key shown to a SETTINGS_BASIC holder)" \
    '200 {"base_url":"http://hook%40user:pa%3Ass@127.0.0.1:'$rport_a'/hooks/","downlink_api_key":"'$ACME_DOWN'","downlink_queued":{},"format":"json","headers":{"X-Custom":"v1"},"ids":{"application_ids":{"application_id":"app1"},"webhook_id":"wh1"},"join_accept":{"path":"/join"},"uplink_message":{"path":"up"}}' \
    "${r%% *} $(body "$r" | jq -c -S 'del(.created_at, .updated_at)')"
lw_t_eq "acme: created_at and updated_at are RFC 3339" "true true" \
    "$(body "$r" | jq -r '[.created_at, .updated_at] | map(test("^[0-9-]+T[0-9:.]+Z$")) | map(tostring) | join(" ")')"
lw_t_eq "acme: the key is stored apart from the webhook JSON, sealed with as.key-encryption-key (never in clear)" "1 f f t" \
    "$(lw_t_psql -c "SELECT count(*), bool_or(webhook::text LIKE '%$ACME_DOWN%'), bool_or(downlink_api_key LIKE '%$ACME_DOWN%'), bool_and(downlink_api_key LIKE 'gcm:as-rest:%') FROM t_acme.as_webhooks" | tr '|' ' ')"
r=$(lw_t_bearer "$ACME_READ" acme GET /as/webhooks/app1/wh1)
lw_t_eq "acme: GET without field_mask → ids, times and TTS's implicit base_url, format" \
    'base_url,created_at,format,ids,updated_at' "$(body "$r" | jq -r 'keys | join(",")')"
r=$(lw_t_bearer "$ACME_READ" acme GET "/as/webhooks/app1/wh1?field_mask=uplink_message,downlink_api_key,headers")
lw_t_eq "acme: a TRAFFIC_READ key sees the masked fields but never the downlink key" \
    '{"base_url":"http://hook%40user:pa%3Ass@127.0.0.1:'$rport_a'/hooks/","format":"json","headers":{"X-Custom":"v1"},"uplink_message":{"path":"up"}}' \
    "$(body "$r" | jq -c -S 'del(.created_at, .updated_at, .ids)')"
r=$(lw_t_bearer "$ACME_ALL" acme GET "/as/webhooks/app1/wh1?field_mask=downlink_api_key")
lw_t_eq "acme: a SETTINGS_BASIC holder sees it" "$ACME_DOWN" "$(body "$r" | jq -r .downlink_api_key)"
r=$(lw_t_bearer "$ACME_READ" acme GET "/as/webhooks/app1?field_mask=join_accept")
lw_t_eq "acme: list → wh1 with its join_accept" '[{"id":"wh1","join":{"path":"/join"}}]' \
    "$(body "$r" | jq -c '[.webhooks[] | {id: .ids.webhook_id, join: .join_accept}]')"
r=$(adm globex GET /as/webhooks/app1)
lw_t_eq "globex: its app1 has no webhooks → {}" "200 {}" "${r%% *} $(body "$r" | jq -c .)"
r=$(adm globex GET /as/webhooks/app1/wh1)
lw_t_eq "globex: acme's wh1 → 404 webhook_not_found" "404 webhook_not_found" "$(name "$r")"
r=$(lw_t_bearer "$ACME_READ" globex GET /as/webhooks/app1/wh1)
lw_t_eq "globex with acme's key → 401" 401 "${r%% *}"

# ---- rights -----------------------------------------------------------------------------------
r=$(lw_t_bearer "$ACME_READ" acme PUT /as/webhooks/app1/wh1 '{"webhook":{"paused":true},"field_mask":{"paths":["paused"]}}')
lw_t_eq "acme: TRAFFIC_READ alone cannot write → 403 naming SETTINGS_BASIC" \
    "403 insufficient_application_rights RIGHT_APPLICATION_SETTINGS_BASIC" \
    "$(name "$r") $(body "$r" | jq -r '.details[0].attributes.missing')"
r=$(lw_t_bearer "$ACME_SETTINGS" acme PUT /as/webhooks/app1/wh1 '{"webhook":{"paused":true},"field_mask":{"paths":["paused"]}}')
lw_t_eq "acme: SETTINGS_BASIC without TRAFFIC_READ (TTS asks for both and DOWN_WRITE) → 403" \
    "403 insufficient_application_rights" "$(name "$r")"
r=$(lw_t_bearer "$ACME_SETTINGS" acme GET /as/webhooks/app1/wh1)
lw_t_eq "acme: GET needs TRAFFIC_READ → 403" "403 insufficient_application_rights" "$(name "$r")"
r=$(lw_t_bearer "$ACME_READ" acme DELETE /as/webhooks/app1/wh1)
lw_t_eq "acme: DELETE with TRAFFIC_READ alone → 403" 403 "${r%% *}"
lw_t_eq "acme: wh1 unchanged" "1 null" "$(lw_t_psql -c "SELECT count(*), max(webhook->>'paused') FROM t_acme.as_webhooks" | sed 's/|$/|null/' | tr '|' ' ')"

# ---- errors, named; nothing written -----------------------------------------------------------
bad() { # DESCRIPTION EXPECTED BODY
    local r
    r=$(adm acme POST /as/webhooks/app1 "$3")
    lw_t_eq "acme: $1" "$2" "$(name "$r") $(field "$r")"
}
bad "base_url not http(s) → invalid_field webhook.base_url" "400 invalid_field webhook.base_url" \
    '{"webhook":{"ids":{"webhook_id":"bad1"},"base_url":"ftp://x/","uplink_message":{}}}'
bad "base_url missing on create → invalid_field webhook.base_url" "400 invalid_field webhook.base_url" \
    '{"webhook":{"ids":{"webhook_id":"bad1"},"uplink_message":{}}}'
bad "unknown message type → unknown_field webhook.uplink_messages" "400 unknown_field webhook.uplink_messages" \
    '{"webhook":{"ids":{"webhook_id":"bad1"},"base_url":"http://x/","uplink_messages":{"path":"/u"}}}'
bad "a message with paht → unknown_field webhook.uplink_message.paht" "400 unknown_field webhook.uplink_message.paht" \
    '{"webhook":{"ids":{"webhook_id":"bad1"},"base_url":"http://x/","uplink_message":{"paht":"/u"}}}'
bad "a path with a space → invalid_field webhook.uplink_message.path" "400 invalid_field webhook.uplink_message.path" \
    '{"webhook":{"ids":{"webhook_id":"bad1"},"base_url":"http://x/","uplink_message":{"path":"/a b"}}}'
bad "format protobuf → invalid_field webhook.format" "400 invalid_field webhook.format" \
    '{"webhook":{"ids":{"webhook_id":"bad1"},"base_url":"http://x/","format":"protobuf"}}'
bad "a header name with a colon → invalid_field webhook.headers" "400 invalid_field webhook.headers" \
    '{"webhook":{"ids":{"webhook_id":"bad1"},"base_url":"http://x/","headers":{"X:Y":"1"}}}'
bad "field_mask of the message naming no ApplicationUp path → invalid_field webhook.field_mask.paths" \
    "400 invalid_field webhook.field_mask.paths" \
    '{"webhook":{"ids":{"webhook_id":"bad1"},"base_url":"http://x/","field_mask":{"paths":["up.uplink_mesage"]}}}'
bad "a webhook_id with capitals → invalid_field webhook.ids.webhook_id" "400 invalid_field webhook.ids.webhook_id" \
    '{"webhook":{"ids":{"webhook_id":"WH1"},"base_url":"http://x/"}}'
bad "no webhook_id → invalid_field webhook.ids.webhook_id" "400 invalid_field webhook.ids.webhook_id" \
    '{"webhook":{"base_url":"http://x/"}}'
bad "an unknown field_mask path → invalid_field field_mask" "400 invalid_field field_mask" \
    '{"webhook":{"ids":{"webhook_id":"bad1"},"base_url":"http://x/"},"field_mask":{"paths":["colour"]}}'
r=$(adm acme PUT /as/webhooks/app1/wh1 '{"webhook":{"ids":{"webhook_id":"wh2"},"paused":true},"field_mask":{"paths":["paused"]}}')
lw_t_eq "acme: PUT with another webhook_id in the body → invalid_field webhook.ids.webhook_id" \
    "400 invalid_field webhook.ids.webhook_id" "$(name "$r") $(field "$r")"
lw_t_eq "acme: none of them written" 1 "$(lw_t_psql -c 'SELECT count(*) FROM t_acme.as_webhooks')"

# ---- globex: its own webhook on the same IDs, all message types ------------------------------------
r=$(adm globex POST /as/webhooks/app1 '{"webhook":{"ids":{"webhook_id":"wh1"},"base_url":"http://127.0.0.1:'$rport_g'","uplink_message":{"path":"/u?x=1"},"downlink_sent":{"path":"/sent"}}}')
lw_t_eq "globex: POST wh1 without field_mask (the body's fields) → 200" \
    '200 {"downlink_sent":{"path":"/sent"},"format":"json","uplink_message":{"path":"/u?x=1"}}' \
    "${r%% *} $(body "$r" | jq -c -S 'del(.created_at, .updated_at, .ids, .base_url)')"

# ---- acme: a second webhook with a field_mask on the message -----------------------------------
r=$(adm acme POST /as/webhooks/app1 '{"webhook":{"ids":{"webhook_id":"wh2"},"base_url":"http://127.0.0.1:'$rport_a'/masked","uplink_message":{"path":""},"join_accept":{"path":"join"},"field_mask":{"paths":["end_device_ids.device_id","up.uplink_message.f_cnt","up.join_accept"]}}}')
lw_t_eq "acme: POST wh2 with field_mask → 200" '200 {"paths":["end_device_ids.device_id","up.uplink_message.f_cnt","up.join_accept"]}' \
    "${r%% *} $(body "$r" | jq -c .field_mask)"

# ---- delivery ------------------------------------------------------------------------------------
UPJ='{"end_device_ids":{"device_id":"%DEV%","application_ids":{"application_id":"app1"},"dev_eui":"0004A30B001C0530"},"correlation_ids":["as:up:%SEQ%"],"received_at":"2026-12-01T20:00:00Z","uplink_message":{"f_port":1,"f_cnt":%SEQ%,"frm_payload":"AQI="}}'
out=$("$pub" --brokers "$LW_T_BROKERS" --tenant acme --app app1 --dev dev --devs 2 --type 1 --json "$UPJ" --count 6)
lw_t_eq "acme: 6 uplinks of dev0 and dev1 published" "published=6 delivered=6 failed=0" "$out"
"$pub" --brokers "$LW_T_BROKERS" --tenant globex --app app1 --dev dev --devs 1 --type 1 --json "$UPJ" --count 2 >/dev/null
wait_lines "$A" 12
wait_lines "$G" 2
sleep 1
lw_t_eq "acme: 12 requests (6 to wh1, 6 to wh2), nothing more" 12 "$(lines "$A")"
lw_t_eq "acme: wh1 at base_url + path, in order per device" \
    "/hooks/up dev0 0,2,4 dev1 1,3,5" \
    "$(jq -rs '[.[] | select(.path == "/hooks/up")] | "\(.[0].path) dev0 \([.[] | select(.body.end_device_ids.device_id == "dev0") | .body.uplink_message.f_cnt] | map(tostring) | join(",")) dev1 \([.[] | select(.body.end_device_ids.device_id == "dev1") | .body.uplink_message.f_cnt] | map(tostring) | join(","))"' "$A")"
lw_t_eq "acme: wh1's body is the AsUp's JSON as published" \
    '{"correlation_ids":["as:up:3"],"end_device_ids":{"application_ids":{"application_id":"app1"},"dev_eui":"0004A30B001C0530","device_id":"dev1"},"received_at":"2026-12-01T20:00:00Z","uplink_message":{"f_cnt":3,"f_port":1,"frm_payload":"AQI="}}' \
    "$(jq -c -S 'select(.path == "/hooks/up" and .body.uplink_message.f_cnt == 3) | .body' "$A")"
AUTH="Basic $(printf 'hook@user:pa:ss' | base64)"
lw_t_eq "acme: TTS's headers (basic auth from base_url's userinfo, X-Downlink-*, X-Tts-Domain)" \
    "application/json|v1|$AUTH|$ACME_DOWN|http://lns.example.com:1885/api/v3/as/applications/app1/webhooks/wh1/devices/dev1/down/push|http://lns.example.com:1885/api/v3/as/applications/app1/webhooks/wh1/devices/dev1/down/replace|lns.example.com:1885" \
    "$(jq -r 'select(.path == "/hooks/up" and .body.uplink_message.f_cnt == 3) | .headers | "\(."content-type")|\(."x-custom")|\(.authorization)|\(."x-downlink-apikey")|\(."x-downlink-push")|\(."x-downlink-replace")|\(."x-tts-domain")"' "$A")"
lw_t_eq "acme: a User-Agent is sent" "true" \
    "$(jq -r 'select(.path == "/hooks/up") | .headers."user-agent" | test("lwstack")' "$A" | sort -u)"
lw_t_eq "acme: wh2 (empty path: base_url itself) gets the message as its field_mask selects it" \
    '{"end_device_ids":{"device_id":"dev1"},"uplink_message":{"f_cnt":3}}' \
    "$(jq -c -S 'select(.path == "/masked" and .body.uplink_message.f_cnt == 3) | .body' "$A")"
lw_t_eq "acme: wh2 has no downlink key: no X-Downlink-* headers, no Authorization" "null null null" \
    "$(jq -r 'select(.path == "/masked") | .headers | "\(."x-downlink-apikey") \(."x-downlink-push") \(.authorization)"' "$A" | sort -u)"
lw_t_eq "globex: its 2 uplinks at its own path (a query path kept), nothing of acme's" \
    "/u?x=1 /u?x=1 0" "$(jq -r '.path' "$G" | tr '\n' ' ')$(jq -r 'select(.body.end_device_ids.device_id != "dev0")' "$G" | wc -l | tr -d ' ')"
lw_t_eq "globex: no X-Downlink headers without a downlink key; X-Tts-Domain kept" "null lns.example.com:1885" \
    "$(jq -r '.headers | "\(."x-downlink-apikey") \(."x-tts-domain")"' "$G" | sort -u)"
outbox_empty() { [ "$(lw_t_psql -c 'SELECT (SELECT count(*) FROM t_acme.as_webhook_outbox) + (SELECT count(*) FROM t_globex.as_webhook_outbox)')" = 0 ]; }
lw_t_wait_for "the outboxes empty" 10 outbox_empty || true
lw_t_eq "both outboxes are empty once delivered" "0 0" \
    "$(lw_t_psql -c 'SELECT (SELECT count(*) FROM t_acme.as_webhook_outbox), (SELECT count(*) FROM t_globex.as_webhook_outbox)' | tr '|' ' ')"
r=$(adm acme GET "/as/webhooks/app1/wh1?field_mask=health_status")
lw_t_eq "acme: wh1 healthy after its deliveries" '{"healthy":{}}' "$(body "$r" | jq -c .health_status)"

# A type without a path, and a replayed envelope id: nothing, and once.
"$pub" --brokers "$LW_T_BROKERS" --tenant acme --app app1 --dev dev0 --type 4 --json '{"downlink_sent":{}}' >/dev/null
ID=0123456789abcdef0123456789abcdef
"$pub" --brokers "$LW_T_BROKERS" --tenant acme --app app1 --dev dev0 --type 2 --json '{"end_device_ids":{"device_id":"dev0"},"join_accept":{"session_key_id":"AQ=="}}' --id $ID --count 3 >/dev/null
wait_lines "$A" 14
sleep 2
lw_t_eq "acme: downlink_sent (no path in wh1 or wh2) not sent; a join_accept sent 3 times with one id → once per webhook" \
    "14 /hooks/join /masked/join" "$(lines "$A") $(tail -2 "$A" | jq -r .path | sort | tr '\n' ' ' | sed 's/ $//')"
lw_t_eq "acme: wh2's mask takes up.join_accept whole and the device ID" \
    '{"end_device_ids":{"device_id":"dev0"},"join_accept":{"session_key_id":"AQ=="}}' \
    "$(jq -c -S 'select(.path == "/masked/join") | .body' "$A")"

# ---- update, paused ----------------------------------------------------------------------------
r=$(adm acme PUT /as/webhooks/app1/wh2 '{"webhook":{"paused":true},"field_mask":{"paths":["paused"]}}')
lw_t_eq "acme: PUT wh2 paused → 200" "200 true" "${r%% *} $(body "$r" | jq -c .paused)"
sleep 1
"$pub" --brokers "$LW_T_BROKERS" --tenant acme --app app1 --dev dev0 --type 1 --json "$UPJ" --count 1 >/dev/null
wait_lines "$A" 15
sleep 2
lw_t_eq "acme: a paused webhook gets nothing (TTS), wh1 still does" "15 /hooks/up" "$(lines "$A") $(tail -1 "$A" | jq -r .path)"

# ---- downlinks through a webhook's endpoint ---------------------------------------------------------
DL='{"downlinks":[{"f_port":1,"frm_payload":"AQ=="}]}'
dl() { lw_t_http POST "$api/as/applications/app1/webhooks/$1/devices/dev0/down/$2" -H "X-Tenant-ID: $3" "${@:4}" -d "$DL"; }
r=$(dl wh1 push acme -H "X-Downlink-Apikey: $ACME_DOWN")
lw_t_eq "acme: down/push with X-Downlink-Apikey reaches the downlink entry point (dev0 has no AS part)" \
    "404 as_device_not_found" "$(name "$r")"
r=$(dl wh1 replace acme -H "Authorization: Bearer $ACME_DOWN")
lw_t_eq "acme: down/replace with Authorization likewise" "404 as_device_not_found" "$(name "$r")"
r=$(dl wh1 push acme)
lw_t_eq "acme: no key → 401" 401 "${r%% *}"
r=$(dl wh1 push acme -H "X-Downlink-Apikey: $ACME_READ")
lw_t_eq "acme: a key without TRAFFIC_DOWN_WRITE → 403" "403 insufficient_application_rights" "$(name "$r")"
r=$(dl wh9 push acme -H "X-Downlink-Apikey: $ACME_DOWN")
lw_t_eq "acme: an unknown webhook → 404 webhook_not_found" "404 webhook_not_found" "$(name "$r")"
r=$(dl wh2 push acme -H "X-Downlink-Apikey: $ACME_DOWN")
lw_t_eq "acme: a paused webhook → 406 webhook_paused (TTS: 406)" "406 webhook_paused" "$(name "$r")"
r=$(dl wh1 push globex -H "X-Downlink-Apikey: $ACME_DOWN")
lw_t_eq "globex: acme's key → 401" 401 "${r%% *}"
r=$(lw_t_http POST "$api/as/applications/app1/webhooks/wh1/devices/dev0/down/push" -H "X-Tenant-ID: acme" -H "X-Downlink-Apikey: $ACME_DOWN" -d '{"downlink":[]}')
lw_t_eq "acme: a body that is not ApplicationDownlinks → unknown_field downlink" "400 unknown_field downlink" "$(name "$r") $(field "$r")"

# ---- delete -----------------------------------------------------------------------------------------
r=$(adm acme DELETE /as/webhooks/app1/wh2)
lw_t_eq "acme: DELETE wh2 → 200 {}" "200 {}" "${r%% *} $(body "$r" | jq -c .)"
r=$(adm acme DELETE /as/webhooks/app1/wh2)
lw_t_eq "acme: DELETE again → 404 webhook_not_found" "404 webhook_not_found" "$(name "$r")"
r=$(adm acme GET /as/webhooks/app1)
lw_t_eq "acme: wh1 left" "wh1" "$(body "$r" | jq -r '[.webhooks[].ids.webhook_id] | join(",")')"
r=$(adm globex GET /as/webhooks/app1)
lw_t_eq "globex: its wh1 untouched" "wh1" "$(body "$r" | jq -r '[.webhooks[].ids.webhook_id] | join(",")')"

lw_t_done
