#!/usr/bin/env bash
# The device parts (tenant/devparts.h) through one import batch (components/dtc/batch.c),
# run by tests/integration/dtc/dtc_driver against the test PostgreSQL: each part's rows read
# back through the servers' own GET APIs exactly as a twin device made with those APIs;
# per-row failures (EUI of another tenant, the tenant's limit, a bad key, keys without the
# right) with nothing half-written; the same batch twice → UNCHANGED; a dry run writes
# nothing. Two tenants: every check looks at the other one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ns_lib.sh"

DRV="${LW_DTC_DRIVER:-$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)/tests/integration/dtc/dtc_driver}"
[ -x "$DRV" ] || { echo "dtc_driver not found at $DRV" >&2; exit 1; }

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
JS_KEK=000102030405060708090a0b0c0d0e0f
NS_KEK=101112131415161718191a1b1c1d1e1f
AS_KEK=303132333435363738393a3b3c3d3e3f
lw_t_stack stack "$port" --js.key-encryption-key "$JS_KEK" --ns.key-encryption-key "$NS_KEK" \
    --as.key-encryption-key "$AS_KEK" --as.key-encryption-key-label as-rest \
    --gs.downlink.answer-not-connected=false --ns.dev-addr-prefixes 26000000/8
api="http://127.0.0.1:$port/api/v3"
adm() { lw_t_adm "$@"; }
body() { lw_t_body "$@"; }
# drv TENANT [flags] < templates: one result line per row.
drv() {
    local t=$1; shift
    "$DRV" --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" --http.listen 127.0.0.1:0 \
        --log.level error --js.key-encryption-key "$JS_KEK" --ns.key-encryption-key "$NS_KEK" \
        --as.key-encryption-key "$AS_KEK" --as.key-encryption-key-label as-rest batch --tenant "$t" \
        --application app1 "$@" 2>>"$LW_T_DIR/driver.log"
}
results() { tee -a "$LW_T_DIR/results.log" | jq -c '[.device_id, .outcome, .error, .field] | map(select(. != null)) | join(" ")' -r; }
count() { lw_t_psql -c "SELECT count(*) FROM t_$1.$2"; }

ns_tenant acme
ns_tenant globex
ns_device globex taken 0004A30B00000099 70B3D57ED0000001

APPKEY=2B7E151628AED2A6ABF7158809CF4F3C
OTAA='{"ids":{"device_id":"otaa1","application_ids":{"application_id":"app1"},"dev_eui":"0004A30B00000001","join_eui":"70B3D57ED0000001"},"name":"Otaa one","description":"a sensor","attributes":{"site":"north"},"version_ids":{"brand_id":"acme-brand","model_id":"m1"},"frequency_plan_id":"EU_863_870_TTN","lorawan_version":"MAC_V1_0_3","lorawan_phy_version":"RP001_V1_0_3_REV_A","supports_join":true,"root_keys":{"app_key":{"key":"'$APPKEY'"}},"net_id":"000013","resets_join_nonces":true}'
OTAA_PATHS='["ids.dev_eui","ids.join_eui","name","description","attributes.site","version_ids.brand_id","version_ids.model_id","frequency_plan_id","lorawan_version","lorawan_phy_version","supports_join","root_keys.app_key.key","net_id","resets_join_nonces"]'
ABP='{"ids":{"device_id":"abp1","dev_eui":"0004A30B00000002"},"name":"Abp one","frequency_plan_id":"EU_863_870_TTN","lorawan_version":"MAC_V1_0_3","lorawan_phy_version":"RP001_V1_0_3_REV_A"}'
ABP_PATHS='["ids.dev_eui","name","frequency_plan_id","lorawan_version","lorawan_phy_version"]'
BADKEY='{"ids":{"device_id":"badkey","dev_eui":"0004A30B00000003","join_eui":"70B3D57ED0000001"},"supports_join":true,"root_keys":{"app_key":{"key":"XYZ"}}}'
TAKEN='{"ids":{"device_id":"mine","dev_eui":"0004A30B00000099","join_eui":"70B3D57ED0000001"},"name":"not mine"}'
BADNAME='{"ids":{"device_id":"badname"},"name":7}'
UNKNOWN='{"ids":{"device_id":"unknown1"},"colour":"red"}'
line() { printf '{"end_device":%s,"field_mask":{"paths":%s}}\n' "$1" "$2"; }
batch1() {
    line "$OTAA" "$OTAA_PATHS"
    line "$ABP" "$ABP_PATHS"
    line "$BADKEY" '["ids.dev_eui","ids.join_eui","supports_join","root_keys.app_key.key"]'
    line "$TAKEN" '["ids.dev_eui","ids.join_eui","name"]'
    line "$BADNAME" '["name"]'
    line "$UNKNOWN" '["colour"]'
}

# ---- a dry run writes nothing -------------------------------------------------------------------
out=$(batch1 | drv acme --keys --dry-run | results)
lw_t_eq "acme: dry run → the outcomes a real run would have" \
    "otaa1 CREATED|abp1 CREATED|badkey FAILED invalid_field root_keys.app_key.key|mine FAILED already_exists ids.dev_eui|badname FAILED invalid_field name|unknown1 FAILED unknown_field colour" \
    "$(printf '%s' "$out" | paste -sd'|')"
lw_t_eq "acme: dry run → no rows" "0 0" "$(count acme end_devices) $(count acme js_devices)"

# ---- the batch: two created, each failure named, nothing half-written --------------------------
out=$(batch1 | drv acme --keys | results)
lw_t_eq "acme: batch → created, created, then each failure with its name and path" \
    "otaa1 CREATED|abp1 CREATED|badkey FAILED invalid_field root_keys.app_key.key|mine FAILED already_exists ids.dev_eui|badname FAILED invalid_field name|unknown1 FAILED unknown_field colour" \
    "$(printf '%s' "$out" | paste -sd'|')"
lw_t_eq "acme: registry rows of otaa1 and abp1 only; a JS row for otaa1 only" "abp1,otaa1 otaa1" \
    "$(lw_t_psql -c "SELECT string_agg(device_id, ',' ORDER BY device_id) FROM t_acme.end_devices") $(lw_t_psql -c "SELECT string_agg(device_id, ',') FROM t_acme.js_devices")"
lw_t_eq "the EUI index: otaa1 in acme (abp1 has no JoinEUI), taken still globex's" \
    "acme/otaa1 globex/taken" \
    "$(lw_t_psql -c "SELECT string_agg(tenant_id || '/' || device_id, ' ' ORDER BY tenant_id) FROM lw_control.end_device_euis")"
lw_t_eq "acme: the AppKey is wrapped at rest (not in clear)" "0" \
    "$(lw_t_psql -c "SELECT position(lower('$APPKEY') in lower(app_key)) FROM t_acme.js_devices")"
lw_t_eq "globex: untouched (its one device, no JS row)" "1 0" "$(count globex end_devices) $(count globex js_devices)"

# ---- read back through the servers' APIs, as a twin made with those APIs ------------------------
TWIN=$(printf '%s' "$OTAA" | jq -c '.ids.device_id = "twin1" | .ids.dev_eui = "0004A30B00000011"')
r=$(adm acme POST /applications/app1/devices "{\"end_device\":$(printf '%s' "$TWIN" | jq -c 'del(.root_keys, .net_id, .resets_join_nonces)')}")
lw_t_eq "acme: the twin made with POST .../devices" 200 "${r%% *}"
r=$(adm acme PUT /js/applications/app1/devices/twin1 "{\"end_device\":$TWIN,\"field_mask\":{\"paths\":[\"root_keys.app_key.key\",\"net_id\",\"resets_join_nonces\"]}}")
lw_t_eq "acme: the twin's JS part made with PUT /js/..." 200 "${r%% *}"
norm='del(.created_at, .updated_at) | .ids |= del(.device_id, .dev_eui)'
FM=name,description,attributes,version_ids,frequency_plan_id,lorawan_version,lorawan_phy_version,supports_join,network_server_address,application_server_address,join_server_address
imp=$(body "$(adm acme GET "/applications/app1/devices/otaa1?field_mask=$FM")" | jq -cS "$norm")
twin=$(body "$(adm acme GET "/applications/app1/devices/twin1?field_mask=$FM")" | jq -cS "$norm")
lw_t_eq "acme: IS GET of the imported device = the twin's" "$twin" "$imp"
lw_t_eq "acme: IS GET shows the imported values" \
    '{"attributes":{"site":"north"},"description":"a sensor","frequency_plan_id":"EU_863_870_TTN","ids":{"application_ids":{"application_id":"app1"},"join_eui":"70B3D57ED0000001"},"lorawan_phy_version":"RP001_V1_0_3_REV_A","lorawan_version":"MAC_V1_0_3","name":"Otaa one","supports_join":true,"version_ids":{"brand_id":"acme-brand","model_id":"m1"}}' "$imp"
JFM=root_keys,net_id,resets_join_nonces,last_dev_nonce,last_join_nonce
imp=$(body "$(adm acme GET "/js/applications/app1/devices/otaa1?field_mask=$JFM")" | jq -cS "$norm")
twin=$(body "$(adm acme GET "/js/applications/app1/devices/twin1?field_mask=$JFM")" | jq -cS "$norm")
lw_t_eq "acme: JS GET of the imported device (root keys) = the twin's" "$twin" "$imp"
lw_t_eq "acme: JS GET shows the AppKey" "$APPKEY 000013" \
    "$(printf '%s' "$imp" | jq -r '"\(.root_keys.app_key.key) \(.net_id)"')"
r=$(adm acme GET /js/applications/app1/devices/abp1)
lw_t_eq "acme: no JS part for the ABP device" "404" "${r%% *}"
r=$(adm globex GET /applications/app1/devices/otaa1)
lw_t_eq "globex: no otaa1" "404 not_found" "$(lw_t_status_name "$r")"

# ---- the same batch again: unchanged; a change updates only what the mask names -------------------
out=$(batch1 | drv acme --keys | results | head -2)
lw_t_eq "acme: the same batch again → UNCHANGED" "otaa1 UNCHANGED|abp1 UNCHANGED" "$(printf '%s' "$out" | paste -sd'|')"
r=$(adm acme PUT /applications/app1/devices/otaa1 '{"end_device":{"serial_number":"SN-1"},"field_mask":{"paths":["serial_number"]}}')
before=$(lw_t_psql -c "SELECT updated_at FROM t_acme.js_devices WHERE device_id = 'otaa1'")
out=$(line "$(printf '%s' "$OTAA" | jq -c '.name = "Renamed"')" '["name","root_keys.app_key.key"]' | drv acme --keys | results)
lw_t_eq "acme: a new name → UPDATED" "otaa1 UPDATED" "$out"
lw_t_eq "acme: the name changed, the field set outside the mask (serial_number) and the description stay" \
    "Renamed SN-1 a sensor" \
    "$(body "$(adm acme GET "/applications/app1/devices/otaa1?field_mask=name,serial_number,description")" | jq -r '"\(.name) \(.serial_number) \(.description)"')"
lw_t_eq "acme: the JS row was not rewritten (its AppKey is the same)" "$before" \
    "$(lw_t_psql -c "SELECT updated_at FROM t_acme.js_devices WHERE device_id = 'otaa1'")"

# ---- keys need the right ---------------------------------------------------------------------------
out=$(line "$(printf '%s' "$OTAA" | jq -c '.ids.device_id = "otaa2" | .ids.dev_eui = "0004A30B00000004"')" "$OTAA_PATHS" | drv acme | results)
lw_t_eq "acme: root keys without the keys right → permission_denied naming the key" \
    "otaa2 FAILED permission_denied root_keys.app_key.key" "$out"
lw_t_eq "acme: otaa2 written nowhere" "0 0" \
    "$(lw_t_psql -c "SELECT count(*) FROM t_acme.end_devices WHERE device_id = 'otaa2'") $(lw_t_psql -c "SELECT count(*) FROM lw_control.end_device_euis WHERE device_id = 'otaa2'")"

# ---- The Things Stack's status fields and what is not kept: accepted, not stored ----------------
out=$(line '{"ids":{"device_id":"status1"},"name":"s","activated_at":"2024-01-01T00:00:00Z","battery_percentage":0.5,"power_state":"POWER_BATTERY","last_dev_status_received_at":"2024-01-02T00:00:00Z","skip_payload_crypto":true,"mac_state":{"device_class":"CLASS_A"},"last_seen_at":"2024-01-03T00:00:00Z"}' \
    '["name","activated_at","battery_percentage","power_state","last_dev_status_received_at","skip_payload_crypto","mac_state.device_class","last_seen_at"]' | drv acme | results)
lw_t_eq "acme: a device exported with status fields → CREATED" "status1 CREATED" "$out"
lw_t_eq "acme: the registry keeps its name only" '{"name":"s"}' \
    "$(lw_t_psql -c "SELECT data::text FROM t_acme.end_devices WHERE device_id = 'status1'" | jq -c .)"
lw_t_psql -c "DELETE FROM t_acme.end_devices WHERE device_id = 'status1'" >/dev/null

# ---- a row the database refuses fails alone: the batch runs again one row a transaction --------
out=$( (line '{"ids":{"device_id":"sql1"},"name":"one"}' '["name"]'
    line '{"ids":{"device_id":"sql2"},"provisioning_data":{"x":"a\u0000b"}}' '["provisioning_data"]'
    line '{"ids":{"device_id":"sql3"},"name":"three"}' '["name"]') | drv acme --keys | results)
lw_t_eq "acme: jsonb refuses provisioning_data with NUL → that row fails with db_query, the others are created" \
    "sql1 CREATED|sql2 FAILED db_query|sql3 CREATED" "$(printf '%s' "$out" | paste -sd'|')"
lw_t_eq "acme: sql2 written in no part" "sql1,sql3 0" \
    "$(lw_t_psql -c "SELECT string_agg(device_id, ',' ORDER BY device_id) FROM t_acme.end_devices WHERE device_id LIKE 'sql%'") $(lw_t_psql -c "SELECT count(*) FROM t_acme.js_devices WHERE device_id LIKE 'sql%'")"
lw_t_psql -c "DELETE FROM t_acme.end_devices WHERE device_id LIKE 'sql%'" >/dev/null

# ---- the tenant's limit, counting the batch's own rows ---------------------------------------------
lw_t_psql -c "UPDATE lw_control.tenants SET max_end_devices = 3 WHERE tenant_id = 'globex'" >/dev/null
out=$(for i in 1 2 3; do line "{\"ids\":{\"device_id\":\"lim$i\",\"dev_eui\":\"0004A30B0000010$i\",\"join_eui\":\"70B3D57ED0000001\"},\"supports_join\":true,\"root_keys\":{\"app_key\":{\"key\":\"$APPKEY\"}}}" '["ids.dev_eui","ids.join_eui","supports_join","root_keys.app_key.key"]'; done | drv globex --keys | results)
lw_t_eq "globex: max_end_devices 3 with one device → two created, the third tenant_entity_limit" \
    "lim1 CREATED|lim2 CREATED|lim3 FAILED tenant_entity_limit" "$(printf '%s' "$out" | paste -sd'|')"
lw_t_eq "globex: lim3 written in no part and not in the EUI index" "0 0 0" \
    "$(lw_t_psql -c "SELECT count(*) FROM t_globex.end_devices WHERE device_id = 'lim3'") $(lw_t_psql -c "SELECT count(*) FROM t_globex.js_devices WHERE device_id = 'lim3'") $(lw_t_psql -c "SELECT count(*) FROM lw_control.end_device_euis WHERE device_id = 'lim3'")"
lw_t_eq "acme: unaffected by globex's limit" "3 2" "$(count acme end_devices) $(count acme js_devices)"
lw_t_psql -c "UPDATE lw_control.tenants SET max_end_devices = NULL WHERE tenant_id = 'globex'" >/dev/null

# ---- the NS part: sessions carried over, accepted at the next uplink without a join -------------
NK=11111111111111111111111111111111 NKG=22222222222222222222222222222222 NKO=44444444444444444444444444444444
AS=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
NSF='"frequency_plan_id":"EU_863_870_TTN","lorawan_version":"MAC_V1_0_3","lorawan_phy_version":"RP001_V1_0_3_REV_A"'
NSP='"frequency_plan_id","lorawan_version","lorawan_phy_version"'
abp() { # abp DEV DEVEUI DEVADDR KEY FCNT
    line "{\"ids\":{\"device_id\":\"$1\",\"dev_eui\":\"$2\"},$NSF,\"supports_join\":false,\"mac_settings\":{\"rx2_data_rate_index\":\"DATA_RATE_3\",\"supports_32_bit_f_cnt\":true},\"session\":{\"dev_addr\":\"$3\",\"keys\":{\"session_key_id\":\"AQI=\",\"f_nwk_s_int_key\":{\"key\":\"$4\"}},\"last_f_cnt_up\":$5,\"last_n_f_cnt_down\":7}}" \
        "[\"ids.dev_eui\",$NSP,\"supports_join\",\"mac_settings.rx2_data_rate_index\",\"mac_settings.supports_32_bit_f_cnt\",\"session.dev_addr\",\"session.keys.session_key_id\",\"session.keys.f_nwk_s_int_key.key\",\"session.last_f_cnt_up\",\"session.last_n_f_cnt_down\"]"
}
otaa_s() {
    line "{\"ids\":{\"device_id\":\"otaas\",\"dev_eui\":\"0004A30B00000021\",\"join_eui\":\"70B3D57ED0000001\"},$NSF,\"supports_join\":true,\"root_keys\":{\"app_key\":{\"key\":\"$APPKEY\"}},\"session\":{\"dev_addr\":\"26000021\",\"keys\":{\"f_nwk_s_int_key\":{\"key\":\"$NKO\"}},\"last_f_cnt_up\":41}}" \
        "[\"ids.dev_eui\",\"ids.join_eui\",$NSP,\"supports_join\",\"root_keys.app_key.key\",\"session.dev_addr\",\"session.keys.f_nwk_s_int_key.key\",\"session.last_f_cnt_up\"]"
}
up="$LW_T_DIR/up.jsonl"
ns_consume ns.up "$up"
sleep 1
out=$( (abp abp2 0004A30B00000020 26000010 $NK 1000; otaa_s) | drv acme --keys | results)
lw_t_eq "acme: an ABP device with FCnt 1000 and an OTAA device with a session → CREATED" \
    "abp2 CREATED|otaas CREATED" "$(printf '%s' "$out" | paste -sd'|')"
out=$(abp abp2 0004A30B00000030 26000010 $NKG 5 | drv globex --keys | results)
lw_t_eq "globex: its own abp2 on the same DevAddr, another key" "abp2 CREATED" "$out"
lw_t_eq "acme: the session keys are wrapped at rest" 0 \
    "$(lw_t_psql -c "SELECT count(*) FROM t_acme.ns_devices WHERE position(decode('$NK','hex') in state) > 0")"
lw_t_eq "acme: dev_addr columns and gen of a new row" "26000010 1 1" \
    "$(lw_t_psql -c "SELECT dev_addr || ' ' || gen || ' ' || state_gen FROM t_acme.ns_devices WHERE device_id = 'abp2'")"
# The twin through PUT /ns/...: the same answer but for the session's start.
ns_device acme twin2 0004A30B00000022
TB=$(abp twin2 0004A30B00000022 26000012 $NK 1000 | jq -c '{end_device: (.end_device | .ids.application_ids = {"application_id":"app1"}), field_mask}')
r=$(adm acme PUT /ns/applications/app1/devices/twin2 "$TB")
lw_t_eq "acme: the twin's NS part made with PUT /ns/..." 200 "${r%% *}"
NFM=frequency_plan_id,lorawan_version,lorawan_phy_version,supports_join,mac_settings,session,mac_state
nnorm='del(.created_at, .updated_at, .ids, .session.started_at, .session.dev_addr)'
imp=$(body "$(adm acme GET "/ns/applications/app1/devices/abp2?field_mask=$NFM")" | jq -cS "$nnorm")
twin=$(body "$(adm acme GET "/ns/applications/app1/devices/twin2?field_mask=$NFM")" | jq -cS "$nnorm")
lw_t_eq "acme: NS GET of the imported device = the twin's (settings, session, keys, MAC state)" "$twin" "$imp"
lw_t_eq "acme: NS GET shows the session carried over" "26000010 1000 7 AQI= $NK" \
    "$(body "$(adm acme GET "/ns/applications/app1/devices/abp2?field_mask=session")" | jq -r '.session | "\(.dev_addr) \(.last_f_cnt_up) \(.last_n_f_cnt_down) \(.keys.session_key_id) \(.keys.f_nwk_s_int_key.key)"')"
f=$(ns_frame 26000010 "$NK" "$AS" 1001 --f-port 1 --payload 0a0b)
fo=$(ns_frame 26000021 "$NKO" "$AS" 42 --f-port 2 --payload 0c)
fg=$(ns_frame 26000010 "$NKG" "$AS" 6 --f-port 3 --payload 0d)
ns_send <<CMDS
up acme gw1 0000000000000001 $f 868100000 7 7.5 -40 1000
up acme gw1 0000000000000001 $fo 868300000 7 7.5 -40 2000
up globex gw9 0000000000000009 $fg 868100000 7 5.0 -60 3000
CMDS
ns_wait "$up" '.type=="uplink_message"' 3 20
lw_t_eq "the next uplinks are accepted without a join: acme/abp2 FCnt 1001, acme/otaas FCnt 42, globex/abp2 FCnt 6" \
    "acme abp2 1001|acme otaas 42|globex abp2 6" \
    "$(jq -r 'select(.type=="uplink_message") | "\(.tenant) \(.device) \(.f_cnt)"' "$up" | sort | paste -sd'|')"
out=$( (abp abp2 0004A30B00000020 26000010 $NK 1000; otaa_s) | drv acme --keys | results)
lw_t_eq "acme: the same two again → UNCHANGED (the worker's FCnt 1001 is kept)" "abp2 UNCHANGED|otaas UNCHANGED" "$(printf '%s' "$out" | paste -sd'|')"
# FCnt 2000 imported over a device the worker holds: RELOAD makes it take the new state.
out=$(abp abp2 0004A30B00000020 26000010 $NK 2000 | drv acme --keys | results)
lw_t_eq "acme: FCnt 2000 → UPDATED, gen and state_gen bumped together" "abp2 UPDATED" "$out"
f1=$(ns_frame 26000010 "$NK" "$AS" 1500 --f-port 1 --payload 01)
f2=$(ns_frame 26000010 "$NK" "$AS" 2001 --f-port 1 --payload 02)
sleep 2
ns_send <<CMDS
up acme gw1 0000000000000001 $f1 868100000 7 7.5 -40 5000
up acme gw1 0000000000000001 $f2 868100000 7 7.5 -40 9000000
CMDS
ns_wait "$up" '.type=="uplink_message"' 4 20
lw_t_eq "acme: after the reload FCnt 1500 is a replay, 2001 is accepted" "1001 2001" \
    "$(jq -r 'select(.type=="uplink_message" and .tenant=="acme" and .device=="abp2") | .f_cnt' "$up" | paste -sd' ')"
lw_t_eq "globex: its abp2 untouched (FCnt kept by the worker, gen 1)" "1" \
    "$(lw_t_psql -c "SELECT gen FROM t_globex.ns_devices WHERE device_id = 'abp2'")"
out=$(abp abp3 0004A30B00000040 26000013 $NK 1 | drv acme | results)
lw_t_eq "acme: session keys without the keys right → permission_denied" "abp3 FAILED permission_denied session.keys" "$out"
out=$(line "{\"ids\":{\"device_id\":\"badfp\"},\"frequency_plan_id\":\"NOPE\",\"lorawan_version\":\"MAC_V1_0_3\",\"lorawan_phy_version\":\"RP001_V1_0_3_REV_A\"}" "[$NSP]" | drv acme | results)
lw_t_eq "acme: an unknown frequency plan → ns_unknown_frequency_plan, no registry row" "badfp FAILED ns_unknown_frequency_plan 0" \
    "$out $(lw_t_psql -c "SELECT count(*) FROM t_acme.end_devices WHERE device_id = 'badfp'")"

# ---- the AS part: formatters and the AppSKey, the worker told; the uplink decrypted and decoded ----
EB="$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)/tests/e2e/e2e_bus"
lw_t_bg tap "$EB" consume --brokers "$LW_T_BROKERS" --topics as.up --out "$LW_T_DIR/asup.jsonl" \
    --ready "$LW_T_DIR/tap.ready"
lw_t_wait_for "the bus tap" 60 test -s "$LW_T_DIR/tap.ready"
ASUP="$LW_T_DIR/asup.jsonl"
touch "$ASUP"
NK3=55555555555555555555555555555555 AK=2B7E151628AED2A6ABF7158809CF4F3C
asdev() { # asdev DEV DEVEUI DEVADDR AFCNT
    line "{\"ids\":{\"device_id\":\"$1\",\"dev_eui\":\"$2\"},$NSF,\"version_ids\":{\"brand_id\":\"b\",\"model_id\":\"m\"},\"formatters\":{\"up_formatter\":\"FORMATTER_CAYENNELPP\"},\"session\":{\"dev_addr\":\"$3\",\"keys\":{\"session_key_id\":\"AQM=\",\"f_nwk_s_int_key\":{\"key\":\"$NK3\"},\"app_s_key\":{\"key\":\"$AK\"}},\"last_f_cnt_up\":50,\"last_a_f_cnt_down\":$4}}" \
        "[\"ids.dev_eui\",$NSP,\"version_ids.brand_id\",\"version_ids.model_id\",\"formatters.up_formatter\",\"session.dev_addr\",\"session.keys.session_key_id\",\"session.keys.f_nwk_s_int_key.key\",\"session.keys.app_s_key.key\",\"session.last_f_cnt_up\",\"session.last_a_f_cnt_down\"]"
}
out=$(asdev asdev 0004A30B00000050 26000050 9 | drv acme --keys | results)
lw_t_eq "acme: a device with formatters and an AppSKey → CREATED" "asdev CREATED" "$out"
lw_t_eq "acme: the AppSKey wrapped at rest with as-rest" "as-rest|0" \
    "$(lw_t_psql -c "SELECT (session->'keys'->'app_s_key'->>'kek_label') || '|' || (position(lower('$AK') in lower(session::text)))::text FROM t_acme.as_devices WHERE device_id = 'asdev'")"
ns_device acme twin3 0004A30B00000051
TB=$(asdev twin3 0004A30B00000051 26000051 9 | jq -c '{end_device: (.end_device | .ids.application_ids = {"application_id":"app1"}), field_mask: {paths: [.field_mask.paths[] | select(startswith("formatters") or startswith("version_ids") or startswith("session"))]}}')
r=$(adm acme PUT /as/applications/app1/devices/twin3 "$TB")
lw_t_eq "acme: the twin's AS part made with PUT /as/..." 200 "${r%% *}"
anorm='del(.created_at, .updated_at, .ids, .session.dev_addr)'
AFM=formatters,version_ids,session,skip_payload_crypto_override
imp=$(body "$(adm acme GET "/as/applications/app1/devices/asdev?field_mask=$AFM")" | jq -cS "$anorm")
twin=$(body "$(adm acme GET "/as/applications/app1/devices/twin3?field_mask=$AFM")" | jq -cS "$anorm")
lw_t_eq "acme: AS GET of the imported device = the twin's" "$twin" "$imp"
lw_t_eq "acme: AS GET shows the AppSKey and the counter" "$AK 9 FORMATTER_CAYENNELPP" \
    "$(printf '%s' "$imp" | jq -r '"\(.session.keys.app_s_key.key) \(.session.last_a_f_cnt_down) \(.formatters.up_formatter)"')"
ns_wait "$up" '.type=="unknown" and .device=="asdev"' 1
lw_t_eq "acme: NsUp.as_device_changed for asdev on lw.ns.up, keyed tenant/app/device" "acme/app1/asdev" \
    "$(jq -r 'select(.type=="unknown" and .device=="asdev") | .key' "$up" | head -1)"
f=$(ns_frame 26000050 "$NK3" "$AK" 51 --f-port 3 --payload 016700ff)
ns_send <<CMDS
up acme gw1 0000000000000001 $f 868100000 7 7.5 -40 20000000
CMDS
AUP='._topic == "as.up" and .type == "AS_UP_UPLINK_MESSAGE"'
ns_wait "$ASUP" "$AUP"' and .envelope.tenant_id == "acme"' 1 20
lw_t_eq "acme: the uplink FCnt 51 decrypted with the imported AppSKey and decoded (CayenneLPP)" \
    '51 {"temperature_1":25.5}' \
    "$(jq -r "select($AUP)"' | select(.envelope.tenant_id == "acme") | .json' "$ASUP" | head -1 | perl -ne 'chomp; print pack("H*", $_)' | jq -c -r '"\(.uplink_message.f_cnt) \(.uplink_message.decoded_payload | tojson)"')"
out=$(asdev asdev 0004A30B00000050 26000050 3 | drv acme --keys | results)
lw_t_eq "acme: again with an older AFCntDown → UNCHANGED (counters never go back)" "asdev UNCHANGED" "$out"
lw_t_eq "acme: one as_device_changed only" 1 "$(ns_count "$up" '.type=="unknown" and .device=="asdev"')"
out=$(asdev asdev2 0004A30B00000052 26000052 1 | drv acme | results)
lw_t_eq "acme: an AppSKey without the keys right → permission_denied (the NS's keys named first)" \
    "asdev2 FAILED permission_denied session.keys" "$out"
lw_t_eq "globex: one AS row, its abp2's, without an AppSKey" "abp2:none" \
    "$(lw_t_psql -c "SELECT string_agg(device_id || ':' || coalesce(session->'keys'->>'app_s_key', 'none'), ',') FROM t_globex.as_devices")"

lw_t_done
