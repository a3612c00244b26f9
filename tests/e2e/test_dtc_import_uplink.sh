#!/usr/bin/env bash
# Acceptance (issue 12): devices imported with their sessions carry on without a rejoin. An
# ABP device imported with FCntUp 1000 and an OTAA device imported with its session send
# their next uplink over UDP (lwstack simulate, continuing from a keys file): the NS accepts
# them, the AS decrypts them with the imported AppSKey and mosquitto_sub sees them on MQTT
# with FCnt 1001 and 42, and no join. An OTAA device imported without a session joins
# through the JS with its imported AppKey, then its uplink reaches MQTT. Two tenants: globex
# imports the same file's devices under other EUIs and addresses, and neither sees the
# other's messages.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "uplinks of imported devices"
lw_e2e_need js "OTAA joins (the Join Server)"
lw_e2e_need as "the Application Server"
lw_e2e_need dtc "the import"
command -v mosquitto_sub >/dev/null || { echo "mosquitto-clients missing (ops/install)" >&2; exit 1; }
lw_e2e_start --js.application-server-kek-label as-dev --as.keks.as-dev "$E2E_AS_KEK"
mport=$(sed -nE 's/.*msg="mqtt listening".* port=([0-9]+).*/\1/p' "$LW_T_DIR/stack.log" | head -1)
[ -n "$mport" ] || { echo "no MQTT port in the log" >&2; exit 1; }

APPKEY=000102030405060708090A0B0C0D0E0F
V='"lorawan_version":"MAC_V1_0_3","lorawan_phy_version":"PHY_V1_0_3_REV_A","frequency_plan_id":"EU_863_870_TTN"'
# fleet TENANT_NIBBLE: the three devices of a tenant (DevEUIs, DevAddrs and keys differ by
# tenant: EUIs are unique across the deployment).
fleet() {
    local n=$1
    cat <<EOF
{"ids":{"device_id":"abp-1000","dev_eui":"70B3D57ED00${n}0001"},$V,"supports_join":false,"session":{"dev_addr":"260B${n}001","keys":{"f_nwk_s_int_key":{"key":"1111111111111111111111111111111${n}"},"app_s_key":{"key":"2222222222222222222222222222222${n}"}},"last_f_cnt_up":1000}}
{"ids":{"device_id":"otaa-sess","dev_eui":"70B3D57ED00${n}0002","join_eui":"70B3D57ED0000000"},$V,"supports_join":true,"root_keys":{"app_key":{"key":"$APPKEY"}},"session":{"dev_addr":"260B${n}002","keys":{"session_key_id":"AQID","f_nwk_s_int_key":{"key":"3333333333333333333333333333333${n}"},"app_s_key":{"key":"4444444444444444444444444444444${n}"}},"last_f_cnt_up":41}}
{"ids":{"device_id":"otaa-new","dev_eui":"70B3D57ED00${n}0003","join_eui":"70B3D57ED0000000"},$V,"supports_join":true,"root_keys":{"app_key":{"key":"$APPKEY"}}}
EOF
}
# keys TENANT_NIBBLE: the same devices as lwstack simulate's keys file, where they left off
keys() {
    local n=$1
    cat <<EOF
{"dev_eui":"70B3D57ED00${n}0001","join_eui":"0000000000000000","lorawan_version":"1.0.3","activation":"abp","dev_addr":"260B${n}001","nwk_s_key":"1111111111111111111111111111111${n}","app_s_key":"2222222222222222222222222222222${n}","f_cnt_up":1001}
{"dev_eui":"70B3D57ED00${n}0002","join_eui":"70B3D57ED0000000","lorawan_version":"1.0.3","activation":"otaa","app_key":"$APPKEY","dev_addr":"260B${n}002","nwk_s_key":"3333333333333333333333333333333${n}","app_s_key":"4444444444444444444444444444444${n}","f_cnt_up":42}
{"dev_eui":"70B3D57ED00${n}0003","join_eui":"70B3D57ED0000000","lorawan_version":"1.0.3","activation":"otaa","app_key":"$APPKEY","dev_nonce":1}
EOF
}
declare -A NIB=([acme]=1 [globex]=2) KEY
for t in acme globex; do
    lw_e2e_tenant $t
    r=$(lw_t_adm $t POST /users/admin/applications '{"application":{"ids":{"application_id":"app1"}}}')
    lw_t_eq "$t: app1 created" 200 "${r%% *}"
    gw=58A0CBFFFE80000${NIB[$t]}
    r=$(lw_t_adm $t POST /users/admin/gateways "{\"gateway\":{\"ids\":{\"gateway_id\":\"gw-$t\",\"eui\":\"$gw\"},\"frequency_plan_ids\":[\"EU_863_870_TTN\"],\"enforce_duty_cycle\":false}}")
    lw_t_eq "$t: gateway $gw created" 200 "${r%% *}"
    r=$(lw_t_adm $t POST /applications/app1/api-keys '{"name":"mqtt","rights":["RIGHT_APPLICATION_TRAFFIC_READ"]}')
    KEY[$t]=$(lw_t_body "$r" | jq -r .key)
    lw_t_bg "$t.mqtt" mosquitto_sub -h 127.0.0.1 -p "$mport" -u "app1@$t" -P "${KEY[$t]}" -t '#' -v -q 1
    fleet "${NIB[$t]}" >"$LW_T_DIR/$t.json"
    keys "${NIB[$t]}" >"$LW_T_DIR/$t.keys"
done

# Until every server's device part is registered the import cannot write whole devices.
parts_ready() {
    local r j i
    r=$(lw_t_adm "$1" POST /applications/app1/devices/import '{"dry_run":true,"templates":[{"end_device":{"ids":{"device_id":"probe"},"session":{"dev_addr":"01020304"},"formatters":{"up_formatter":"FORMATTER_NONE"}},"field_mask":{"paths":["formatters.up_formatter","session.dev_addr"]}}]}')
    j=$(lw_t_body "$r" | jq -r .job_id)
    for i in $(seq 1 50); do
        r=$(lw_t_adm "$1" GET "/applications/app1/devices/import/$j")
        case "$(lw_t_body "$r" | jq -r .state)" in DONE | FAILED) break ;; esac
        sleep 0.2
    done
    [ "$(lw_t_body "$r" | jq -r '.results[0].error.details[0].name // ""')" != unknown_field ]
}
parts_ready acme || lw_e2e_skip "the NS and AS device parts are not registered yet"

# ---- the import (lwcli, through the server-side job) -----------------------------------------
for t in acme globex; do
    lw_t_cli --url "$E2E_API" --tenant $t --tenant-admin-key "$LW_T_ADMIN_KEY" \
        devices import app1 "$LW_T_DIR/$t.json" --format the-things-stack
    lw_t_eq "$t: lwcli imports the 3 devices (exit 0)" "0 3" "$LW_T_RC $(printf '%s\n' "$LW_T_OUT" | awk '$1 == "created" {print $2}')"
done

lw_e2e_wait_matcher
lw_t_wait_for "two MQTT subscribers" 10 bash -c "[ \"\$(curl -sS $E2E_API/metrics | grep '^lwstack_as_mqtt_connections ' | awk '{print \$NF}')\" = 2 ]"
lw_t_wait_for "lw.as.up assigned to the MQTT server" 30 grep -q 'partitions assigned.*lw.as.up' "$LW_T_DIR/stack.log"
sleep 1

# ---- the next uplinks -------------------------------------------------------------------------
for t in acme globex; do
    for round in 1 2 3; do
        lw_e2e_sim_udp --keys-file "$LW_T_DIR/$t.keys" --keys-out "$LW_T_DIR/$t.keys.out" \
            --gateway-eui-start 58A0CBFFFE80000${NIB[$t]} --gateways 1 --copies 1 --duration 0 \
            --uplinks-per-device 1 --rate 10 --fport 7 --payload 01020304 --json \
            --events "$LW_T_DIR/$t.$round.ev" >"$LW_T_DIR/$t.$round.json"
        [ "$(grep -c '/up ' "$LW_T_DIR/$t.mqtt.out" 2>/dev/null || true)" -ge 3 ] && break
        # a device whose uplink was not answered continues from where it is
        cp "$LW_T_DIR/$t.keys.out" "$LW_T_DIR/$t.keys"
        sleep 2
    done
done
for t in acme globex; do
    lw_t_wait_for "$t: 3 uplinks on MQTT" 30 bash -c "[ \$(grep -c '/up ' '$LW_T_DIR/$t.mqtt.out') -ge 3 ]" || true
done
up() { # TENANT DEVICE: "FCnt FRMPayload FPort" of its first up on MQTT
    grep "^v3/app1@$1/devices/$2/up " "$LW_T_DIR/$1.mqtt.out" | head -1 | cut -d' ' -f2- |
        jq -r '"\(.uplink_message.f_cnt // 0) \(.uplink_message.frm_payload) \(.uplink_message.f_port)"'
}
for t in acme globex; do
    out="$LW_T_DIR/$t.mqtt.out"
    lw_t_eq "$t: the imported ABP device's next uplink: FCnt 1001, decrypted with the imported AppSKey" \
        "1001 AQIDBA== 7" "$(up $t abp-1000)"
    lw_t_eq "$t: the imported OTAA session's next uplink: FCnt 42, decrypted" "42 AQIDBA== 7" "$(up $t otaa-sess)"
    lw_t_eq "$t: no join for the devices imported with a session (MQTT and the air)" "0 0" \
        "$(grep -c "^v3/app1@$t/devices/\(abp-1000\|otaa-sess\)/join " "$out" || true) $(cat "$LW_T_DIR"/$t.*.ev | jq -c 'select(.event == "join_request" or (.event == "downlink" and .type == "join_accept")) | select((.dev_eui | ascii_upcase) != "70B3D57ED00'"${NIB[$t]}"'0003")' | wc -l)"
    lw_t_eq "$t: the OTAA device imported without a session joins (one join on MQTT), then its uplink arrives" \
        "1 0 AQIDBA== 7" "$(grep -c "^v3/app1@$t/devices/otaa-new/join " "$out" || true) $(up $t otaa-new)"
    lw_t_eq "$t: nothing of the other tenant on its MQTT" 0 "$(grep -vc "^v3/app1@$t/" "$out" || true)"
done
# (the NS persists its state in batches: its API answers the stored state)
last=$(cat "$LW_T_DIR"/acme.*.ev | jq -r 'select(.event == "uplink" and .dev_eui == "70b3d57ed0010001") | .f_cnt' | sort -n | tail -1)
ns_fcnt() { lw_t_body "$(lw_t_adm acme GET "/ns/applications/app1/devices/abp-1000?field_mask=session")" | jq -r .session.last_f_cnt_up; }
lw_t_wait_for "the NS's stored FCnt of abp-1000" 20 bash -c "[ \"\$(curl -sS -H 'Authorization: TenantAdminKey $LW_T_ADMIN_KEY' -H 'X-Tenant-ID: acme' '$api/ns/applications/app1/devices/abp-1000?field_mask=session' | jq -r .session.last_f_cnt_up)\" = '$last' ]" || true
lw_t_eq "acme: the NS's session of abp-1000 at the device's last FCnt (1001 or above)" "$last" "$(ns_fcnt)"

lw_t_done
