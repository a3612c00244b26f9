#!/usr/bin/env bash
# Acceptance (issue 9): two devices sharing a DevAddr in two tenants → each uplink reaches
# its own device (the matcher tells them apart by MIC). Acme's device is heard by acme's
# gateways; globex's by acme's gateways too (a gateway serves devices of another tenant),
# then by its own. The matcher keeps ONE expanded integrity key (ns.matcher.key-contexts 1):
# every uplink of the other device evicts it, so each match also exercises the cache's
# eviction and re-expansion.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "two tenants' devices sharing a DevAddr"
lw_e2e_start --ns.matcher.key-contexts 1
lw_e2e_tenant acme
lw_e2e_tenant globex
lw_e2e_tap ns.up

ADDR=26aa0001
common=(--abp --devices 1 --dev-addr-start "$ADDR" --rate 10 --duration 0 --uplinks-per-device 2 --json)
lw_e2e_sim acme --seed acme --gateways 2 --copies 2 "${common[@]}" --keys-out "$LW_T_DIR/acme.keys" >"$LW_T_DIR/acme.json"
acme_gw=$("$LWSTACK_BIN" simulate --seed acme --provision-json --provision-only --parts is |
    jq -r 'select(.path | endswith("/gateways")) | .body.gateway.ids.eui')
# Globex's device through acme's gateways (their EUIs are acme's: globex's gateway creates
# answer already_exists, which the simulator takes as done), then through globex's own.
lw_e2e_sim globex --seed globex --gateways 2 --copies 2 --gateway-eui-start "$acme_gw" "${common[@]}" \
    --keys-out "$LW_T_DIR/globex.keys" >"$LW_T_DIR/globex1.json"
lw_e2e_sim globex --seed globex --gateways 2 --copies 2 "${common[@]}" --f-cnt-start 2 >"$LW_T_DIR/globex2.json"

lw_t_eq "the two devices share DevAddr $ADDR with different keys" "$ADDR $ADDR different" \
    "$(jq -r .dev_addr "$LW_T_DIR/acme.keys") $(jq -r .dev_addr "$LW_T_DIR/globex.keys") $([ "$(jq -r .nwk_s_key "$LW_T_DIR/acme.keys")" != "$(jq -r .nwk_s_key "$LW_T_DIR/globex.keys")" ] && echo different)"
up='._topic == "ns.up" and .uplink_message != null'
lw_e2e_wait_bus 6 "$up" 20
sleep 2
dev() { echo "sim-$(jq -r .dev_eui "$LW_T_DIR/$1.keys")"; }
lw_t_eq "acme: FCnt 0 and 1 to acme's device" "acme $(dev acme) 0
acme $(dev acme) 1" \
    "$(lw_e2e_bus_select "$up and .envelope.tenant_id == \"acme\"" | jq -r '"\(.envelope.tenant_id) \(.end_device_ids.device_id) \(.uplink_message.f_cnt // 0)"' | sort)"
lw_t_eq "globex: FCnt 0..3 to globex's device, none to acme's" "globex $(dev globex) 0
globex $(dev globex) 1
globex $(dev globex) 2
globex $(dev globex) 3" \
    "$(lw_e2e_bus_select "$up and .envelope.tenant_id == \"globex\"" | jq -r '"\(.envelope.tenant_id) \(.end_device_ids.device_id) \(.uplink_message.f_cnt // 0)"' | sort)"
lw_t_eq "globex's first two uplinks came through acme's gateways (gateway tenant acme)" "acme acme" \
    "$(lw_e2e_bus_select "$up and .envelope.tenant_id == \"globex\" and (.uplink_message.f_cnt // 0) < 2" | jq -r '[.uplink_message.rx_metadata[].gateway_ids.tenant_id] | unique | .[]' | xargs)"
lw_t_eq "globex's last two through its own" "globex" \
    "$(lw_e2e_bus_select "$up and .envelope.tenant_id == \"globex\" and (.uplink_message.f_cnt // 0) >= 2" | jq -r '.uplink_message.rx_metadata[].gateway_ids.tenant_id' | sort -u | xargs)"
lw_t_eq "six results in all (no device got the other's frame)" 6 "$(lw_e2e_bus_count "$up")"
lw_t_done
