#!/usr/bin/env bash
# Acceptance (issue 10): an OTAA device joins and sends through three gateways; the
# Application Server unwraps its AppSKey (the JS wraps it with as-dev, the AS holds
# as.keks.as-dev), decrypts the FRMPayload and publishes The Things Stack's ApplicationUp on
# lw.as.up: a join_accept, then an uplink_message with the plaintext frm_payload and one
# rx_metadata per gateway. Two tenants (acme's device on LoRaWAN 1.0.3, globex's on 1.1);
# each AsUp carries its own tenant and key.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "AS uplinks"
lw_e2e_need js "OTAA joins (the Join Server)"
lw_e2e_need as "the Application Server"
lw_e2e_start --js.application-server-kek-label as-dev --as.keks.as-dev "$E2E_AS_KEK"
lw_e2e_tenant acme
lw_e2e_tenant globex
lw_e2e_tap as.up,ns.up
lw_e2e_wait_matcher

# acme's device speaks LoRaWAN 1.0.3, globex's 1.1 (the AppSKey derived from the AppKey, the
# JS's 1.1 join-accept; the AS decrypts both the same way once it holds the key).
declare -A ver=([acme]=1.0.3 [globex]=1.1)
pids=()
for t in acme globex; do
    lw_e2e_sim $t --seed "$t-as" --application app1 --otaa --lorawan-version "${ver[$t]}" \
        --gateways 3 --copies 3 --devices 1 --rate 1 --duration 0 --uplinks-per-device 2 \
        --fport 7 --payload 01020304 --events "$LW_T_DIR/$t.ev" --keys-out "$LW_T_DIR/$t.keys" \
        --json >"$LW_T_DIR/$t.json" &
    pids+=($!)
done
wait "${pids[@]}"
# The ApplicationUp JSON of each selected AsUp (e2e_bus writes bytes in hex), one per line.
asjson() {
    lw_e2e_bus_select "$1" | jq -r .json | while read -r h; do
        perl -e 'print pack("H*", $ARGV[0]), "\n"' "$h"
    done
}
asup() { echo "._topic == \"as.up\" and .envelope.tenant_id == \"$1\" and .type == \"$2\""; }
for t in acme globex; do
    lw_e2e_wait_bus 1 "$(asup $t AS_UP_JOIN_ACCEPT)" 30
    lw_e2e_wait_bus 2 "$(asup $t AS_UP_UPLINK_MESSAGE)" 30
done
for t in acme globex; do
    dev="sim-$(jq -r .dev_eui "$LW_T_DIR/$t.keys")"
    ups=$(asjson "$(asup $t AS_UP_UPLINK_MESSAGE)" | jq -c .)
    lw_t_eq "$t: 1 join accepted" 1 "$(jq -r .joins.accepted "$LW_T_DIR/$t.json")"
    lw_t_eq "$t: one join_accept on lw.as.up, keyed $t/app1/$dev" "1 $t/app1/$dev" \
        "$(lw_e2e_bus_count "$(asup $t AS_UP_JOIN_ACCEPT)") $(lw_e2e_bus_select "$(asup $t AS_UP_JOIN_ACCEPT)" | jq -r ._key)"
    lw_t_eq "$t: join_accept JSON: end_device_ids and session_key_id" "$dev app1 true" \
        "$(asjson "$(asup $t AS_UP_JOIN_ACCEPT)" | jq -r '"\(.end_device_ids.device_id) \(.end_device_ids.application_ids.application_id) \(.join_accept.session_key_id != null)"')"
    lw_t_eq "$t: two uplink_message, FCnt 0 and 1" "0 1" \
        "$(jq -r '.uplink_message.f_cnt // 0' <<<"$ups" | sort -n | xargs)"
    lw_t_eq "$t: frm_payload decrypted (01020304 → AQIDBA==), f_port 7" "AQIDBA== 7|AQIDBA== 7" \
        "$(jq -r '"\(.uplink_message.frm_payload) \(.uplink_message.f_port)"' <<<"$ups" | paste -sd'|')"
    lw_t_eq "$t: three rx_metadata, one per gateway" "3 3" \
        "$(jq -r '.uplink_message.rx_metadata | map(.gateway_ids.gateway_id) | unique | length' <<<"$ups" | xargs)"
    lw_t_eq "$t: the envelope of TTS (end_device_ids with dev_eui and dev_addr, correlation_ids, received_at, settings)" "true true" \
        "$(jq -r --arg eui "$(jq -r .dev_eui "$LW_T_DIR/$t.keys" | tr a-f A-F)" '(.end_device_ids.dev_eui == $eui and (.end_device_ids.dev_addr | test("^[0-9A-F]{8}$")) and (.correlation_ids | any(startswith("as:up:"))) and (.received_at | test("Z$")) and (.uplink_message.settings.frequency | type == "string") and (.uplink_message.network_ids.tenant_id == "'"$t"'"))' <<<"$ups" | xargs)"
    lw_t_eq "$t: one AsUp per lw.ns.up result (uplinks, join), with its envelope id" \
        "$(lw_e2e_bus_select "._topic == \"ns.up\" and .envelope.tenant_id == \"$t\" and (.uplink_message != null or .join_accept != null)" | jq -r .envelope.id | sort | xargs)" \
        "$(lw_e2e_bus_select "._topic == \"as.up\" and .envelope.tenant_id == \"$t\"" | jq -r .envelope.id | sort | xargs)"
    lw_t_eq "$t: only $t's devices in its AsUp messages" "$dev" \
        "$(lw_e2e_bus_select "._topic == \"as.up\" and .envelope.tenant_id == \"$t\"" | jq -r .device_id | sort -u | xargs)"
done
lw_t_eq "no AppSKey in the stack's log" 0 \
    "$(cat "$LW_T_DIR"/*.keys | jq -r '.app_s_key // empty' | grep -ciFf - "$LW_T_DIR/stack.log" || true)"
lw_t_done
