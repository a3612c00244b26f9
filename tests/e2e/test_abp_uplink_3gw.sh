#!/usr/bin/env bash
# Acceptance (issue 9): one uplink through three gateways → one result on lw.ns.up with three
# rx_metadata; a copy after the deduplication window is dropped as a duplicate. Two tenants,
# each with its own three gateways and ABP devices; every result carries its own tenant.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "ABP uplinks through three gateways"
lw_e2e_start
lw_e2e_tenant acme
lw_e2e_tenant globex
lw_e2e_tap ns.up,gs.up

for t in acme globex; do
    lw_e2e_sim $t --seed $t --gateways 3 --copies 3 --devices 2 --abp --rate 10 --duration 0 \
        --uplinks-per-device 3 --events "$LW_T_DIR/$t.ev" --keys-out "$LW_T_DIR/$t.keys" --json \
        >"$LW_T_DIR/$t.json"
done
up() { echo "._topic == \"ns.up\" and .uplink_message != null and .envelope.tenant_id == \"$1\""; }
# gs_up_rx T [FILTER]: every gateway copy's rx_metadata on lw.gs.up with envelope tenant T.
gs_up_rx() {
    lw_e2e_bus_select "._topic == \"gs.up\" and .envelope.tenant_id == \"$1\"${2:+ and $2}" |
        jq -c '.rx_metadata, (.more_rx_metadata // [])[]'
}
lw_e2e_wait_bus 6 "$(up acme)" 20
lw_e2e_wait_bus 6 "$(up globex)" 20
sleep 2 # a second result for one uplink would come within the cooldown
for t in acme globex; do
    # The GS merges the copies of one frame it reads in one loop turn into one message
    # (rx_metadata + more_rx_metadata): count copies, not messages.
    lw_t_eq "$t: 18 gateway copies on lw.gs.up, each in the gateway's tenant" "18 18" \
        "$(gs_up_rx "$t" | jq -s "map(select(.gateway_ids.tenant_id == \"$t\")) | length") $(gs_up_rx "$t" | jq -s length)"
    lw_t_eq "$t: at most one lw.gs.up message per copy, at least one per uplink" "true" \
        "$(lw_e2e_bus_count "._topic == \"gs.up\" and .envelope.tenant_id == \"$t\"" | awk '{ print ($1 >= 6 && $1 <= 18) ? "true" : $1 }')"
    lw_t_eq "$t: exactly one lw.ns.up per uplink (2 devices × FCnt 0..2)" \
        "6 6" "$(lw_e2e_bus_count "$(up $t)") $(lw_e2e_bus_select "$(up $t)" | jq -r '"\(.end_device_ids.device_id) \(.uplink_message.f_cnt // 0)"' | sort -u | wc -l)"
    lw_t_eq "$t: each with the three gateways' rx_metadata, all $t's" "true" \
        "$(lw_e2e_bus_select "$(up $t)" | jq -s "all(.uplink_message.rx_metadata | length == 3 and all(.gateway_ids.tenant_id == \"$t\"))")"
    lw_t_eq "$t: keyed <tenant>/<application>/<device>, device IDs the fleet's" "true" \
        "$(lw_e2e_bus_select "$(up $t)" | jq -s "all(._key == \"$t/sim/\" + .end_device_ids.device_id and (.end_device_ids.device_id | startswith(\"sim-\")))")"
    # The FRMPayload is still encrypted: the bytes the device sent.
    want=$(jq -r "$E2E_JQ_FRM"'select(.event == "uplink") | "\(.dev_addr) \(.f_cnt) \(.phy | frm)"' "$LW_T_DIR/$t.ev" | sort)
    got=$(lw_e2e_bus_select "$(up $t)" | jq -r '"\(.end_device_ids.dev_addr) \(.uplink_message.f_cnt // 0) \(.uplink_message.frm_payload)"' | sort)
    lw_t_eq "$t: FCnt and FRMPayload (encrypted) as sent" "$want" "$got"
    lw_t_eq "$t: f_port 1, RSSI of the best copy -50" "true" \
        "$(lw_e2e_bus_select "$(up $t)" | jq -s 'all(.uplink_message.f_port == 1 and ([.uplink_message.rx_metadata[].rssi] | max) == -50)')"
    lw_t_eq "$t: every PUSH_DATA acknowledged" "18 18" "$(jq -r '.uplinks.push_data, .uplinks.push_ack' "$LW_T_DIR/$t.json" | xargs)"
done

# A copy 500 ms late (window 200 ms, cooldown 1 s): dropped; the result has two rx_metadata.
lw_e2e_sim acme --seed acme --gateways 3 --copies 3 --devices 1 --abp --rate 10 --duration 0 \
    --uplinks-per-device 1 --f-cnt-start 10 --late-copy-ms 500 --json >"$LW_T_DIR/late.json"
late="$(up acme) and .uplink_message.f_cnt == 10"
lw_e2e_wait_bus 1 "$late" 20
sleep 2
lw_t_eq "late copy: still one result, with the two copies in the window" "1 2" \
    "$(lw_e2e_bus_count "$late") $(lw_e2e_bus_select "$late" | jq '.uplink_message.rx_metadata | length')"
addr=$(jq -r .dev_addr "$LW_T_DIR/acme.keys" | head -1)
le=${addr:6:2}${addr:4:2}${addr:2:2}${addr:0:2}
lw_t_eq "late copy: all three copies reached lw.gs.up" 3 \
    "$(gs_up_rx acme "(.raw_payload | startswith(\"40${le}000a00\"))" | wc -l)"
lw_t_eq "globex has no result for acme's late uplink" 0 "$(lw_e2e_bus_count "$(up globex) and .uplink_message.f_cnt == 10")"
lw_t_done
