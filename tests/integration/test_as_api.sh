#!/usr/bin/env bash
# The Application Server's registry over HTTP (issue 10, item 1): the AS part of end devices
# (GET/PUT/DELETE /api/v3/as/applications/{app}/devices/{dev}) with TTS's JSON and field
# masks, an ABP session whose AppSKey is stored wrapped (as.key-encryption-key) and shown only
# with RIGHT_APPLICATION_DEVICES_READ_KEYS, the application link with default_formatters,
# downlink validation errors by name, and up/simulate through the worker onto lw.as.up. Two
# tenants with the same application and device IDs: every check looks at the other tenant.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ns_lib.sh"

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
AS_KEK=303132333435363738393a3b3c3d3e3f
lw_t_stack stack "$port" --as.key-encryption-key "$AS_KEK" --as.key-encryption-key-label as-rest
api="http://127.0.0.1:$port/api/v3"
adm() { lw_t_adm "$@"; }
body() { lw_t_body "$@"; }
name() { lw_t_status_name "$1"; }
field() { body "$1" | jq -r '.details[0].attributes.field // empty'; }
key() { body "$(adm "$1" POST /applications/app1/api-keys "{\"name\":\"k\",\"rights\":$2}")" | jq -r .key; }
# lw.as.up and lw.as.down from their beginning into bus.jsonl (tests/e2e/e2e_bus.c: bytes in
# hex, enums by name, proto3 defaults left out).
EB="$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)/tests/e2e/e2e_bus"
lw_t_bg tap "$EB" consume --brokers "$LW_T_BROKERS" --topics as.up,as.down --out "$LW_T_DIR/bus.jsonl" \
    --ready "$LW_T_DIR/tap.ready"
lw_t_wait_for "the bus tap" 60 test -s "$LW_T_DIR/tap.ready"
BUS="$LW_T_DIR/bus.jsonl"
touch "$BUS"
DOWN='._topic == "as.down"'
UP='._topic == "as.up"'

# EUIs are unique across the deployment: each tenant's dev1 has its own DevEUI.
ns_tenant acme
ns_tenant globex
ns_device acme dev1 0004A30B001C0530 800000000000000C
ns_device globex dev1 0004A30B001C0531 800000000000000C
DEV=/as/applications/app1/devices/dev1
APPSKEY=2B7E151628AED2A6ABF7158809CF4F3C

# ---- PUT: an ABP session and formatters in acme only -----------------------------------------
r=$(adm acme PUT $DEV '{"end_device":{"ids":{"device_id":"dev1","application_ids":{"application_id":"app1"},"dev_eui":"0004A30B001C0530"},"formatters":{"up_formatter":"FORMATTER_CAYENNELPP"},"version_ids":{"brand_id":"acme-brand","model_id":"m1"},"session":{"dev_addr":"260B1234","keys":{"session_key_id":"AQID","app_s_key":{"key":"'$APPSKEY'"}}}},"field_mask":{"paths":["formatters","version_ids","session.dev_addr","session.keys.session_key_id","session.keys.app_s_key.key"]}}')
lw_t_eq "acme: PUT → 200" 200 "${r%% *}"
lw_t_eq "acme: PUT answers ids, formatters, version_ids, the session (no key in the answer unless asked)" \
    '{"ids":{"device_id":"dev1","application_ids":{"application_id":"app1"},"dev_eui":"0004A30B001C0530"},"formatters":{"up_formatter":"FORMATTER_CAYENNELPP"},"version_ids":{"brand_id":"acme-brand","model_id":"m1"},"session":{"dev_addr":"260B1234","keys":{"session_key_id":"AQID","app_s_key":{"key":"'$APPSKEY'"}}}}' \
    "$(body "$r" | jq -c 'del(.created_at, .updated_at)')"
lw_t_eq "acme: the AppSKey is wrapped at rest with as-rest (never in clear)" "as-rest|0" \
    "$(lw_t_psql -c "SELECT (session->'keys'->'app_s_key'->>'kek_label') || '|' || (position(lower('$APPSKEY') in lower(session::text)))::text FROM t_acme.as_devices")"
lw_t_eq "globex: nothing stored" 0 "$(lw_t_psql -c 'SELECT count(*) FROM t_globex.as_devices')"

# ---- GET: masks, keys, the other tenant ------------------------------------------------------
r=$(adm acme GET "$DEV?field_mask=formatters,session")
lw_t_eq "acme: GET formatters,session with the admin key (READ_KEYS) → the AppSKey in clear" \
    "FORMATTER_CAYENNELPP 260B1234 $APPSKEY" \
    "$(body "$r" | jq -r '"\(.formatters.up_formatter) \(.session.dev_addr) \(.session.keys.app_s_key.key)"')"
r=$(adm acme GET "$DEV?field_mask=version_ids.brand_id")
lw_t_eq "acme: GET version_ids.brand_id → only that" '{"brand_id":"acme-brand"} null null' \
    "$(body "$r" | jq -c '.version_ids, .formatters, .session' | xargs -0 printf '%s' | tr '\n' ' ' | sed 's/ $//')"
RO=$(key acme '["RIGHT_APPLICATION_DEVICES_READ"]')
r=$(lw_t_bearer "$RO" acme GET "$DEV?field_mask=session")
lw_t_eq "acme: a key without READ_KEYS → the session without the AppSKey" "260B1234 AQID null" \
    "$(body "$r" | jq -r '"\(.session.dev_addr) \(.session.keys.session_key_id) \(.session.keys.app_s_key)"')"
r=$(lw_t_bearer "$RO" acme GET "$DEV?field_mask=session.keys.app_s_key.key")
lw_t_eq "acme: naming the key without READ_KEYS → 403 insufficient_application_rights" \
    "403 insufficient_application_rights" "$(name "$r")"
r=$(lw_t_bearer "$RO" acme PUT $DEV '{"end_device":{"formatters":{"up_formatter":"FORMATTER_NONE"}},"field_mask":{"paths":["formatters"]}}')
lw_t_eq "acme: a read-only key cannot PUT → 403" 403 "${r%% *}"
r=$(lw_t_bearer "$RO" globex GET "$DEV")
lw_t_eq "acme's key in globex → 401" 401 "${r%% *}"
r=$(adm globex GET "$DEV")
lw_t_eq "globex: GET → 404 as_device_not_found" "404 as_device_not_found" "$(name "$r")"
r=$(adm acme GET "$DEV?field_mask=colour")
lw_t_eq "acme: unknown mask path → 400 naming field_mask" "400 invalid_field field_mask" "$(name "$r") $(field "$r")"

# ---- bad input, named; nothing written ---------------------------------------------------------
r=$(adm globex PUT $DEV '{"end_device":{"formatters":{"up_formatter":"FORMATTER_LUA"}},"field_mask":{"paths":["formatters"]}}')
lw_t_eq "globex: unknown formatter → 400 naming formatters.up_formatter" \
    "400 invalid_field formatters.up_formatter" "$(name "$r") $(field "$r")"
r=$(adm globex PUT $DEV '{"end_device":{"session":{"dev_addr":"XYZ"}},"field_mask":{"paths":["session.dev_addr"]}}')
lw_t_eq "globex: bad dev_addr → 400 naming session.dev_addr" "400 invalid_field session.dev_addr" "$(name "$r") $(field "$r")"
r=$(adm globex PUT /as/applications/app1/devices/nodev '{"end_device":{"formatters":{}},"field_mask":{"paths":["formatters"]}}')
lw_t_eq "globex: a device the IS does not know → 404 as_registry_device_not_found" \
    "404 as_registry_device_not_found" "$(name "$r")"
lw_t_eq "globex: still nothing stored" 0 "$(lw_t_psql -c 'SELECT count(*) FROM t_globex.as_devices')"

# ---- the link -------------------------------------------------------------------------------------
r=$(adm globex GET /as/applications/app1/link)
lw_t_eq "globex: no link yet → 404 as_link_not_found" "404 as_link_not_found" "$(name "$r")"
r=$(adm globex PUT /as/applications/app1/link '{"link":{"default_formatters":{"up_formatter":"FORMATTER_JAVASCRIPT","up_formatter_parameter":"function decodeUplink(i){return {data:{}};}"}},"field_mask":{"paths":["default_formatters"]}}')
lw_t_eq "globex: PUT link → 200 with default_formatters" "200 FORMATTER_JAVASCRIPT" \
    "${r%% *} $(body "$r" | jq -r .default_formatters.up_formatter)"
r=$(adm acme GET /as/applications/app1/link)
lw_t_eq "acme: its application has no link" "404 as_link_not_found" "$(name "$r")"
r=$(adm globex DELETE /as/applications/app1/link)
lw_t_eq "globex: DELETE link → 200, gone" "200 0" "${r%% *} $(lw_t_psql -c 'SELECT count(*) FROM t_globex.as_links')"

# ---- downlinks: validation by name ------------------------------------------------------------
PUSH=$DEV/down/push
r=$(adm acme POST $PUSH '{"downlinks":[{"f_port":224,"frm_payload":"AQ=="}]}')
lw_t_eq "acme: f_port 224 → 400 as_invalid_f_port" "400 as_invalid_f_port" "$(name "$r")"
r=$(adm acme POST $PUSH '{"downlinks":[{"f_port":0,"frm_payload":"AQ=="}]}')
lw_t_eq "acme: f_port 0 → 400 as_invalid_f_port" "400 as_invalid_f_port" "$(name "$r")"
r=$(adm acme POST $PUSH '{"downlinks":[{"f_port":2}]}')
lw_t_eq "acme: neither frm_payload nor decoded_payload → 400 as_no_payload" "400 as_no_payload" "$(name "$r")"
r=$(adm acme POST $PUSH '{"downlinks":[{"f_port":2,"frm_payload":"***"}]}')
lw_t_eq "acme: bad base64 → 400 naming downlinks[0].frm_payload" "400 invalid_field downlinks[0].frm_payload" "$(name "$r") $(field "$r")"
r=$(adm acme POST $PUSH '{"downlinks":[{"f_port":2,"frm_payload":"AQ==","priority":"URGENT"}]}')
lw_t_eq "acme: bad priority → 400 naming downlinks[0].priority" "400 invalid_field downlinks[0].priority" "$(name "$r") $(field "$r")"
r=$(adm globex POST $PUSH '{"downlinks":[{"f_port":2,"frm_payload":"AQ=="}]}')
lw_t_eq "globex: push to a device without an AS part → 404 as_device_not_found" "404 as_device_not_found" "$(name "$r")"

# ---- a push takes counters under the row lock; lw.as.down carries the encrypted payload ------
r=$(adm acme POST $PUSH '{"downlinks":[{"f_port":2,"frm_payload":"AQID","priority":"HIGH","confirmed":true},{"f_port":3,"frm_payload":"BAU="}]}')
lw_t_eq "acme: push two → 200 {}" "200 {}" "${r%% *} $(body "$r" | jq -c .)"
ns_wait "$BUS" "$DOWN"' and .envelope.tenant_id == "acme"' 1
lw_t_eq "acme: one AsDown PUSH with FCnt 0 and 1, session key id AQID, priority HIGH" "PUSH 0,1 010203 HIGH" \
    "$(jq -r "select($DOWN)"' | select(.envelope.tenant_id == "acme") | "\(.operation // "PUSH") \([.downlinks[] | .f_cnt // 0] | join(",")) \(.downlinks[0].session_key_id) \(.downlinks[0].priority)"' "$BUS" | head -1)"
lw_t_eq "acme: the payload is encrypted (not 010203)" "true" \
    "$(jq -r "select($DOWN)"' | select(.envelope.tenant_id == "acme") | .downlinks[0].frm_payload != "010203"' "$BUS" | head -1)"
lw_t_eq "acme: last_a_f_cnt_down 1 stored" 1 "$(lw_t_psql -c "SELECT session->>'last_a_f_cnt_down' FROM t_acme.as_devices")"
r=$(adm acme POST $DEV/down/replace '{"downlinks":[{"f_port":2,"frm_payload":"AQ=="}]}')
ns_wait "$BUS" "$DOWN"' and .envelope.tenant_id == "acme"' 2
lw_t_eq "acme: replace → REPLACE with the next counter (2)" "200 REPLACE 2" \
    "${r%% *} $(jq -r "select($DOWN)"' | select(.envelope.tenant_id == "acme") | "\(.operation) \(.downlinks[0].f_cnt)"' "$BUS" | tail -1)"
# The NS has no part of this device: it answers each push with downlink_failed, which the AS
# publishes with the payload decrypted again.
ns_wait "$BUS" "$UP"' and .type == "AS_UP_DOWNLINK_FAILED" and .envelope.tenant_id == "acme"' 1
lw_t_eq "acme: downlink_failed on lw.as.up with the NS's error and the payload in clear" \
    "pkg/networkserver device_not_found AQID 2" \
    "$(jq -r "select($UP)"' | select(.type == "AS_UP_DOWNLINK_FAILED" and .envelope.tenant_id == "acme") | .json' "$BUS" | head -1 | perl -ne 'chomp; print pack("H*", $_)' | jq -r '"\(.downlink_failed.error.namespace) \(.downlink_failed.error.name) \(.downlink_failed.downlink.frm_payload) \(.downlink_failed.downlink.f_port)"')"
lw_t_eq "globex: no AsDown" 0 "$(ns_count "$BUS" "$DOWN and .envelope.tenant_id == \"globex\"")"

# ---- up/simulate through the worker --------------------------------------------------------------
r=$(adm acme POST $DEV/up/simulate '{"uplink_message":{"f_port":5,"frm_payload":"AQIDBA=="}}')
lw_t_eq "acme: simulate → 200" 200 "${r%% *}"
SIM="$UP"' and .type == "AS_UP_UPLINK_MESSAGE"'
ns_wait "$BUS" "$SIM"' and .envelope.tenant_id == "acme"' 1
lw_t_eq "acme: the simulated uplink on lw.as.up: simulated, frm_payload as given, version_ids" \
    'true AQIDBA== 5 {"brand_id":"acme-brand","model_id":"m1"}' \
    "$(jq -r "select($SIM)"' | select(.envelope.tenant_id == "acme") | .json' "$BUS" | head -1 | perl -ne 'chomp; print pack("H*", $_)' | jq -r '"\(.simulated) \(.uplink_message.frm_payload) \(.uplink_message.f_port) \(.uplink_message.version_ids | tojson)"')"
lw_t_eq "globex: nothing on lw.as.up" 0 "$(ns_count "$BUS" "$UP and .envelope.tenant_id == \"globex\"")"

# ---- DELETE ------------------------------------------------------------------------------------------
r=$(adm globex DELETE $DEV)
lw_t_eq "globex: DELETE of nothing → 404 as_device_not_found" "404 as_device_not_found" "$(name "$r")"
r=$(adm acme DELETE $DEV)
lw_t_eq "acme: DELETE → 200, row gone" "200 0" "${r%% *} $(lw_t_psql -c 'SELECT count(*) FROM t_acme.as_devices')"
lw_t_eq "no AppSKey in the stack's log" 0 "$(grep -ci "$APPSKEY" "$LW_T_DIR/stack.log" || true)"
lw_t_done
