#!/usr/bin/env bash
# Metering, the producer side (issue 11 item 4, tenant/usage.h): the NS publishes one
# UsageBatch per tenant and usage.interval on lw.usage, never one message per uplink, with
# the deduplicated uplinks it accepted (one per frame, not per gateway copy), the data
# downlinks and join-accepts it handed to the GS and the distinct devices with traffic.
# Two tenants: acme with ABP devices through three gateways, globex with OTAA devices; each
# tenant's batches count its own traffic only.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "usage metering"
lw_e2e_need js "usage metering of join-accepts (the Join Server)"
lw_e2e_start --usage.interval 1s
lw_e2e_tenant acme
lw_e2e_tenant globex
lw_e2e_tap usage,ns.up,gs.down

lw_e2e_sim acme --seed acme --gateways 3 --copies 3 --devices 3 --abp --rate 20 --duration 0 \
    --uplinks-per-device 4 --json >"$LW_T_DIR/acme.json"
lw_e2e_sim globex --seed globex --otaa --gateways 2 --copies 2 --devices 2 --rate 10 \
    --duration 0 --uplinks-per-device 2 --json >"$LW_T_DIR/globex.json"

ups() { echo "._topic == \"ns.up\" and .uplink_message != null and .envelope.tenant_id == \"$1\""; }
usage() { echo "._topic == \"usage\" and .tenant_id == \"$1\""; }
sum() { lw_e2e_bus_select "$(usage "$1")" | jq -s "map(.$2) | add // 0"; }
lw_e2e_wait_bus 12 "$(ups acme)" 30
lw_e2e_wait_bus 2 "$(ups globex)" 30
# The accepted uplinks' batches come within an interval (1 s) of the last: wait until the
# metered uplinks of each tenant are those on lw.ns.up (under load both may still grow).
settled() {
    local t
    for t in acme globex; do
        [ "$(sum $t uplinks)" = "$(lw_e2e_bus_count "$(ups $t)")" ] || return 1
    done
    [ "$(sum acme uplinks)" -ge 12 ] && [ "$(sum globex uplinks)" -ge 2 ]
}
for _ in $(seq 60); do settled && break; sleep 0.5; done
sleep 3 # a batch that counted anything twice would come within the next interval

for t in acme globex; do
    want_up=$(lw_e2e_bus_count "$(ups $t)")
    # A frame another gateway is asked to send after a refusal is one downlink: distinct
    # frames (PHYPayloads) count.
    want_down=$(lw_e2e_bus_select "._topic == \"gs.down\" and .envelope.tenant_id == \"$t\" and (.join_accept // false) == false" | jq -s 'map(.raw_payload) | unique | length')
    want_ja=$(lw_e2e_bus_select "._topic == \"gs.down\" and .envelope.tenant_id == \"$t\" and .join_accept == true" | jq -s 'map(.raw_payload) | unique | length')
    lw_t_eq "$t: metered uplinks = accepted uplinks on lw.ns.up (one per frame)" "$want_up" "$(sum $t uplinks)"
    lw_t_eq "$t: metered downlinks = data downlinks handed to the GS" "$want_down" "$(sum $t downlinks)"
    lw_t_eq "$t: metered join-accepts = join-accepts handed to the GS" "$want_ja" "$(sum $t join_accepts)"
    lw_t_eq "$t: active devices = the devices with uplinks" \
        "$(lw_e2e_bus_select "$(ups $t)" | jq -r '"\(.end_device_ids.application_ids.application_id)/\(.end_device_ids.device_id)"' | sort -u)" \
        "$(lw_e2e_bus_select "$(usage $t)" | jq -r '.active_devices[]' | sort -u)"
    lw_t_eq "$t: batches span one aligned 1 s interval, produced by the NS" "true" \
        "$(lw_e2e_bus_select "$(usage $t)" | jq -s 'length > 0 and all(.interval_end - .interval_start == 1000 and .interval_start % 1000 == 0 and (.producer | test("^([a-z]+\\+)*ns(\\+[a-z]+)*@.+:[0-9]+$")))')"
    lw_t_eq "$t: at most one batch per interval (none per uplink)" "true" \
        "$(lw_e2e_bus_select "$(usage $t)" | jq -s 'group_by(.interval_start) | all(length == 1)')"
    lw_t_eq "$t: batch ids distinct, 16 bytes" "true" \
        "$(lw_e2e_bus_select "$(usage $t)" | jq -s '(map(.id) | unique | length) == length and all(.id | length == 32)')"
done
lw_t_eq "acme: 12 uplinks (3 devices × 4), whatever the 3 gateway copies" 12 "$(sum acme uplinks)"
lw_t_eq "acme: no join-accepts (ABP)" 0 "$(sum acme join_accepts)"
lw_t_eq "globex: at least one join-accept per device" "true" "$(sum globex join_accepts | awk '{ print ($1 >= 2) ? "true" : $1 }')"
lw_t_eq "the other tenant's devices never in a batch" "0 0" \
    "$(lw_e2e_bus_select "$(usage acme)" | jq -r '.active_devices[]' | grep -c -F -f <(lw_e2e_bus_select "$(ups globex)" | jq -r .end_device_ids.device_id) || true) $(lw_e2e_bus_select "$(usage globex)" | jq -r '.active_devices[]' | grep -c -F -f <(lw_e2e_bus_select "$(ups acme)" | jq -r .end_device_ids.device_id) || true)"
# The process's own count (lwstack_usage_counted_total) is what the batches carry.
metrics=$(curl -sf "$E2E_API/metrics")
lw_t_eq "lwstack_usage_counted_total{kind=uplink} = the batches' uplinks" "$(( $(sum acme uplinks) + $(sum globex uplinks) ))" \
    "$(printf '%s\n' "$metrics" | awk '/^lwstack_usage_counted_total\{kind="uplink"\}/ { print $2 + 0 }')"
lw_t_done
