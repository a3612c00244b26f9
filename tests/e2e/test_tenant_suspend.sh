#!/usr/bin/env bash
# Acceptance (issue 9 item 11): a suspended tenant's traffic stops within 5 s of the change
# (its gateways disconnected and its uplinks dropped, with an event); the other tenant's
# traffic continues untouched.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "tenant suspension on the data path"
lw_e2e_start
lw_e2e_tenant acme
lw_e2e_tenant globex
lw_e2e_tap ns.up,gs.up,events

pids=()
for t in acme globex; do
    lw_e2e_sim $t --seed $t --gateways 3 --copies 2 --devices 5 --abp --rate 10 --duration 25 \
        --json >"$LW_T_DIR/$t.json" &
    pids+=($!)
done
up() { echo "._topic == \"ns.up\" and .uplink_message != null and .envelope.tenant_id == \"$1\""; }
lw_e2e_wait_bus 20 "$(up acme)" 30
lw_e2e_wait_bus 20 "$(up globex)" 30
t_suspend=$(date +%s%N)
r=$(lw_t_admin PUT "$api/tenants/acme" -d '{"tenant":{"state":"STATE_SUSPENDED"},"field_mask":{"paths":["state"]}}')
lw_t_eq "suspend acme → 200" 200 "${r%% *}"
wait "${pids[@]}"
t_end=$(date +%s%N)
limit=$((t_suspend + 5000000000))
# When the first copy of each uplink reached the GS (rx_metadata received_at, Unix ns).
recv='([.uplink_message.rx_metadata[].received_at] | min)'
lw_t_eq "acme: no result for an uplink received more than 5 s after the suspension" 0 \
    "$(lw_e2e_bus_select "$(up acme)" | jq -r "select($recv > $limit)" | wc -l)"
lw_t_eq "acme: no gateway copy published more than 5 s after it" 0 \
    "$(lw_e2e_bus_count "._topic == \"gs.up\" and .envelope.tenant_id == \"acme\" and .received_at > $limit")"
lw_t_eq "globex: results continue after the 5 s (its devices kept sending)" "yes" \
    "$([ "$(lw_e2e_bus_select "$(up globex)" | jq -r "select($recv > $limit)" | wc -l)" -ge 50 ] && echo yes || echo no)"
lw_t_eq "globex: every one of its uplinks has its result (none lost)" \
    "$(jq -r .uplinks.sent "$LW_T_DIR/globex.json")" "$(lw_e2e_bus_count "$(up globex)")"
lw_t_eq "events: acme's gateways disconnected (gs.gateway.disconnect), globex's not" "yes 0" \
    "$([ "$(lw_e2e_bus_count '._topic == "events" and .value.name == "gs.gateway.disconnect" and ._key == "acme"')" -ge 1 ] && echo yes || echo no) $(lw_e2e_bus_count '._topic == "events" and .value.name == "gs.gateway.disconnect" and ._key == "globex"')"
echo "note: acme's last result: $(( ( $(lw_e2e_bus_select "$(up acme)" | jq -r "$recv" | sort -n | tail -1) - t_suspend) / 1000000 )) ms after the suspension; run $(( (t_end - t_suspend) / 1000000000 )) s after it"
lw_t_done
