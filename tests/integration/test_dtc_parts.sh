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
lw_t_stack stack "$port" --js.key-encryption-key "$JS_KEK"
api="http://127.0.0.1:$port/api/v3"
adm() { lw_t_adm "$@"; }
body() { lw_t_body "$@"; }
# drv TENANT [flags] < templates: one result line per row.
drv() {
    local t=$1; shift
    "$DRV" --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" --http.listen 127.0.0.1:0 \
        --log.level error --js.key-encryption-key "$JS_KEK" batch --tenant "$t" \
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

# ---- the tenant's limit, counting the batch's own rows ---------------------------------------------
lw_t_psql -c "UPDATE lw_control.tenants SET max_end_devices = 3 WHERE tenant_id = 'globex'" >/dev/null
out=$(for i in 1 2 3; do line "{\"ids\":{\"device_id\":\"lim$i\",\"dev_eui\":\"0004A30B0000010$i\",\"join_eui\":\"70B3D57ED0000001\"},\"supports_join\":true,\"root_keys\":{\"app_key\":{\"key\":\"$APPKEY\"}}}" '["ids.dev_eui","ids.join_eui","supports_join","root_keys.app_key.key"]'; done | drv globex --keys | results)
lw_t_eq "globex: max_end_devices 3 with one device → two created, the third tenant_entity_limit" \
    "lim1 CREATED|lim2 CREATED|lim3 FAILED tenant_entity_limit" "$(printf '%s' "$out" | paste -sd'|')"
lw_t_eq "globex: lim3 written in no part and not in the EUI index" "0 0 0" \
    "$(lw_t_psql -c "SELECT count(*) FROM t_globex.end_devices WHERE device_id = 'lim3'") $(lw_t_psql -c "SELECT count(*) FROM t_globex.js_devices WHERE device_id = 'lim3'") $(lw_t_psql -c "SELECT count(*) FROM lw_control.end_device_euis WHERE device_id = 'lim3'")"
lw_t_eq "acme: unaffected by globex's limit" "3 2" "$(count acme end_devices) $(count acme js_devices)"

lw_t_done
