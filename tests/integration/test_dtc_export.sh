#!/usr/bin/env bash
# GET /api/v3/applications/{app}/devices/export (components/dtc/export.c): devices made with
# the IS, JS, NS and AS APIs come out as The Things Stack's EndDevice JSON, one a line, with
# every part as those servers' GETs answer; root and session keys only with
# include_keys=true and RIGHT_APPLICATION_DEVICES_READ_KEYS; paged (dtc.export.page-size 2
# here, five devices); the export imported again (dtc_driver) changes nothing. Two tenants:
# each exports only its own.
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
KEKS=(--js.key-encryption-key "$JS_KEK" --ns.key-encryption-key "$NS_KEK"
    --as.key-encryption-key "$AS_KEK" --as.key-encryption-key-label as-rest)
lw_t_stack stack "$port" "${KEKS[@]}" --dtc.export.page-size 2
api="http://127.0.0.1:$port/api/v3"
adm() { lw_t_adm "$@"; }
body() { lw_t_body "$@"; }
export_of() { # export_of TENANT [QUERY] [AUTH]: the body, one device a line
    curl -s -H "X-Tenant-ID: $1" -H "Authorization: ${3:-TenantAdminKey $LW_T_ADMIN_KEY}" \
        "$api/applications/app1/devices/export${2:+?$2}"
}
status_of() {
    curl -s -o /dev/null -w '%{http_code}' -H "X-Tenant-ID: $1" -H "Authorization: ${3:-TenantAdminKey $LW_T_ADMIN_KEY}" \
        "$api/applications/app1/devices/export${2:+?$2}"
}

ns_tenant acme
ns_tenant globex
APPKEY=2B7E151628AED2A6ABF7158809CF4F3C NK=11111111111111111111111111111111 AK=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
NSF='"frequency_plan_id":"EU_863_870_TTN","lorawan_version":"MAC_V1_0_3","lorawan_phy_version":"RP001_V1_0_3_REV_A"'
# otaa1: IS, JS (AppKey), NS (no session); abp1: IS, NS (session), AS (formatters, AppSKey);
# reg1..reg3: the registry only.
r=$(adm acme POST /applications/app1/devices "{\"end_device\":{\"ids\":{\"device_id\":\"otaa1\",\"dev_eui\":\"0004A30B00000001\",\"join_eui\":\"70B3D57ED0000001\"},\"name\":\"Otaa\",\"attributes\":{\"k\":\"v\"},$NSF,\"supports_join\":true}}")
lw_t_eq "acme: otaa1 in the IS" 200 "${r%% *}"
r=$(adm acme PUT /js/applications/app1/devices/otaa1 "{\"end_device\":{\"root_keys\":{\"app_key\":{\"key\":\"$APPKEY\"}},\"net_id\":\"000013\"},\"field_mask\":{\"paths\":[\"root_keys.app_key.key\",\"net_id\"]}}")
lw_t_eq "acme: otaa1 in the JS" 200 "${r%% *}"
r=$(adm acme PUT /ns/applications/app1/devices/otaa1 "{\"end_device\":{\"ids\":{\"dev_eui\":\"0004A30B00000001\",\"join_eui\":\"70B3D57ED0000001\"},$NSF,\"supports_join\":true,\"mac_settings\":{\"rx2_data_rate_index\":\"DATA_RATE_3\"}},\"field_mask\":{\"paths\":[\"frequency_plan_id\",\"lorawan_version\",\"lorawan_phy_version\",\"supports_join\",\"mac_settings.rx2_data_rate_index\"]}}")
lw_t_eq "acme: otaa1 in the NS" 200 "${r%% *}"
r=$(adm acme PUT /as/applications/app1/devices/otaa1 '{"end_device":{"ids":{"dev_eui":"0004A30B00000001","join_eui":"70B3D57ED0000001"}},"field_mask":{"paths":[]}}')
lw_t_eq "acme: otaa1 in the AS" 200 "${r%% *}"
r=$(adm acme POST /applications/app1/devices "{\"end_device\":{\"ids\":{\"device_id\":\"abp1\",\"dev_eui\":\"0004A30B00000002\"},$NSF}}")
lw_t_eq "acme: abp1 in the IS" 200 "${r%% *}"
r=$(adm acme PUT /ns/applications/app1/devices/abp1 "{\"end_device\":{\"ids\":{\"dev_eui\":\"0004A30B00000002\"},$NSF,\"supports_join\":false,\"session\":{\"dev_addr\":\"26000001\",\"keys\":{\"f_nwk_s_int_key\":{\"key\":\"$NK\"}}}},\"field_mask\":{\"paths\":[\"lorawan_version\",\"lorawan_phy_version\",\"frequency_plan_id\",\"supports_join\",\"session.dev_addr\",\"session.keys.f_nwk_s_int_key.key\"]}}")
lw_t_eq "acme: abp1 in the NS (ABP session)" 200 "${r%% *}"
SKID=$(body "$(adm acme GET "/ns/applications/app1/devices/abp1?field_mask=session.keys.session_key_id")" | jq -r .session.keys.session_key_id)
r=$(adm acme PUT /as/applications/app1/devices/abp1 "{\"end_device\":{\"ids\":{\"dev_eui\":\"0004A30B00000002\"},\"formatters\":{\"up_formatter\":\"FORMATTER_CAYENNELPP\"},\"session\":{\"dev_addr\":\"26000001\",\"keys\":{\"session_key_id\":\"$SKID\",\"app_s_key\":{\"key\":\"$AK\"}},\"last_a_f_cnt_down\":3}},\"field_mask\":{\"paths\":[\"formatters\",\"session.dev_addr\",\"session.keys.session_key_id\",\"session.keys.app_s_key.key\",\"session.last_a_f_cnt_down\"]}}")
lw_t_eq "acme: abp1 in the AS (formatters, AppSKey)" 200 "${r%% *}"
for d in reg1 reg2 reg3; do ns_device acme $d; done
ns_device globex other1 0004A30B00000099

# ---- without keys ---------------------------------------------------------------------------------
out=$(export_of acme)
lw_t_eq "acme: five devices, one a line, in device ID order (three pages of two)" "abp1 otaa1 reg1 reg2 reg3" \
    "$(printf '%s\n' "$out" | jq -r .ids.device_id | paste -sd' ')"
lw_t_eq "acme: no key anywhere without include_keys" "0" \
    "$(printf '%s' "$out" | grep -ci "$APPKEY\|$NK\|$AK\|\"key\"" || true)"
# Each device = the merge of the servers' own GETs (times aside; the NS's ids are the IS's).
merged() { # merged DEV [KEYS]: the GETs of the four servers, merged
    local d=$1 is js ns as
    is=$(body "$(adm acme GET "/applications/app1/devices/$d?field_mask=name,description,attributes,version_ids,network_server_address,application_server_address,join_server_address,frequency_plan_id,lorawan_version,lorawan_phy_version,supports_class_b,supports_class_c,supports_join,serial_number,locations,lora_alliance_profile_ids")")
    js=$(adm acme GET "/js/applications/app1/devices/$d?field_mask=${2:+root_keys,}resets_join_nonces,net_id,application_server_id,application_server_kek_label,network_server_kek_label,provisioner_id,provisioning_data,last_dev_nonce,used_dev_nonces,last_join_nonce,last_rj_count_0,last_rj_count_1,application_server_address,network_server_address")
    [ "${js%% *}" = 200 ] && js=$(body "$js") || js='{}'
    ns=$(adm acme GET "/ns/applications/app1/devices/$d?field_mask=mac_settings,session,pending_session,lorawan_version,lorawan_phy_version,frequency_plan_id,supports_join,supports_class_c")
    [ "${ns%% *}" = 200 ] && ns=$(body "$ns") || ns='{}'
    as=$(adm acme GET "/as/applications/app1/devices/$d?field_mask=formatters,skip_payload_crypto_override,session")
    [ "${as%% *}" = 200 ] && as=$(body "$as") || as='{}'
    # The registry's values first; what it lacks comes from the others (the same where both).
    jq -cnS --argjson isj "$is" --argjson jsj "$js" --argjson nsj "$ns" --argjson asj "$as" \
        '[($jsj | del(.ids, .created_at, .updated_at)), ($nsj | del(.ids, .created_at, .updated_at)), ($asj | del(.ids, .created_at, .updated_at)), $isj] | reduce .[] as $x ({}; . * $x)'
}
for d in otaa1 abp1 reg1; do
    lw_t_eq "acme: $d exported = the servers' GETs merged (no keys)" \
        "$(merged $d | jq -cS 'del(.session.keys.f_nwk_s_int_key, .session.keys.app_s_key) | if .session.keys == {} then del(.session.keys) else . end')" \
        "$(printf '%s\n' "$out" | jq -cS "select(.ids.device_id == \"$d\")")"
done

# ---- with keys ---------------------------------------------------------------------------------------
outk=$(export_of acme include_keys=true)
lw_t_eq "acme: include_keys=true → the AppKey, the NwkSKey and the AppSKey" "$APPKEY $NK $AK" \
    "$(printf '%s\n' "$outk" | jq -r 'select(.ids.device_id == "otaa1") | .root_keys.app_key.key') $(printf '%s\n' "$outk" | jq -r 'select(.ids.device_id == "abp1") | "\(.session.keys.f_nwk_s_int_key.key | ascii_upcase) \(.session.keys.app_s_key.key)"')"
for d in otaa1 abp1; do
    lw_t_eq "acme: $d exported with keys = the servers' GETs with keys merged" \
        "$(merged $d keys)" "$(printf '%s\n' "$outk" | jq -cS "select(.ids.device_id == \"$d\")")"
done
RO=$(body "$(adm acme POST /applications/app1/api-keys '{"name":"ro","rights":["RIGHT_APPLICATION_DEVICES_READ"]}')" | jq -r .key)
lw_t_eq "acme: a key without READ_KEYS: 200 without keys, 403 with include_keys=true" "200 403" \
    "$(status_of acme "" "Bearer $RO") $(status_of acme include_keys=true "Bearer $RO")"
lw_t_eq "acme: no credentials → 401" 401 "$(status_of acme "" "Bearer NNSXS.X.Y")"
lw_t_eq "acme: include_keys=maybe → 400" 400 "$(status_of acme include_keys=maybe)"
lw_t_eq "acme's key in globex → 401" 401 "$(status_of globex "" "Bearer $RO")"

# ---- the other tenant; an application without devices ---------------------------------------------
lw_t_eq "globex: its own device only" "other1" "$(export_of globex | jq -r .ids.device_id | paste -sd' ')"
r=$(adm globex POST /users/admin/applications '{"application":{"ids":{"application_id":"empty1"}}}')
lw_t_eq "globex: an application without devices → 200, empty" "200 0" \
    "$(curl -s -o "$LW_T_DIR/empty.out" -w '%{http_code}' -H 'X-Tenant-ID: globex' -H "Authorization: TenantAdminKey $LW_T_ADMIN_KEY" "$api/applications/empty1/devices/export") $(wc -c < "$LW_T_DIR/empty.out" | tr -d ' ')"

# ---- imported again: nothing changes -------------------------------------------------------------
printf '%s\n' "$outk" | jq -c '{end_device: ., field_mask: {paths: [paths(scalars) | map(tostring) | join(".")]}}' >"$LW_T_DIR/again.ndjson"
res=$("$DRV" --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" --http.listen 127.0.0.1:0 \
    --log.level error "${KEKS[@]}" batch --tenant acme --application app1 --keys \
    <"$LW_T_DIR/again.ndjson" 2>>"$LW_T_DIR/driver.log" | tee "$LW_T_DIR/again.out" | jq -r '"\(.device_id) \(.outcome) \(.error // "")"' | paste -sd'|')
lw_t_eq "acme: the export imported again → every device UNCHANGED" \
    "abp1 UNCHANGED |otaa1 UNCHANGED |reg1 UNCHANGED |reg2 UNCHANGED |reg3 UNCHANGED " "$res"
if grep -qi "$APPKEY\|$NK\|$AK" "$LW_T_DIR/stack.log"; then lw_t_fail "a key in the log"; else lw_t_ok "no key in the log"; fi

lw_t_done
