#!/usr/bin/env bash
# Issue 9 item 7, rebalance: the device worker's partitions move between Network Server
# processes under traffic and nothing is lost or processed twice. One process holds the GS
# (with the IS); NS process ns1 starts alone, ns2 joins the consumer group while the devices
# send (the partitions are split between them), then ns1 stops (SIGTERM: its partitions go
# to ns2). Each new owner reloads the devices' state from PostgreSQL and replays what was not
# committed. Then, for each of two tenants:
# - every uplink the GS published appears on lw.ns.up exactly once by message id (one id per
#   device and FCnt, never one uplink under two ids);
# - per device, the FCnt only goes up in lw.ns.up order;
# - every device keeps its session (heard after both moves, no new activation);
# and both processes did part of the work (their processed-uplink counters).
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "the NS rebalance test"
lw_e2e_prepare
# What is checked is a clean stop that hands the partitions over, not how fast it is: on a
# loaded machine (CI runs two tests at once under ASan) leaving the group in the middle of a
# rebalance has taken longer than the default 4.5 s.
E2E_ARGS+=(--runtime.stop-deadline 20s)
NS1_HTTP=$(lw_t_free_port)
NS2_HTTP=$(lw_t_free_port)
lw_e2e_split_ns "$NS1_HTTP"
ns1_pid=$LW_T_LAST_PID
lw_e2e_tenant acme
lw_e2e_tenant globex
lw_e2e_tap ns.up,gs.up

pids=()
for t in acme globex; do
    lw_e2e_sim $t --seed $t --gateways 3 --copies 2 --devices 20 --abp --rate 20 --duration 30 \
        --drain 8 --json >"$LW_T_DIR/$t.json" &
    pids+=($!)
done
up() { echo "._topic == \"ns.up\" and .uplink_message != null and .envelope.tenant_id == \"$1\""; }
processed() {
    curl -s "http://127.0.0.1:$1/metrics" |
        awk -F'[{}" ]+' '$1 == "lwstack_ns_uplinks_total" && $3 == "processed" { print $4; f = 1 } END { if (!f) print 0 }'
}
lw_e2e_wait_bus 40 "$(up acme)" 30
lw_e2e_spawn ns2 "$NS2_HTTP" ns
ns2_pid=$LW_T_LAST_PID
# Both members hold partitions once ns2 processes uplinks too.
lw_t_wait_for "ns2 processing uplinks" 30 bash -c "[ \"\$(curl -s http://127.0.0.1:$NS2_HTTP/metrics | awk -F'[{}\" ]+' '\$1 == \"lwstack_ns_uplinks_total\" && \$3 == \"processed\" { print \$4 }')\" -gt 0 ] 2>/dev/null"
sleep 4
n1=$(processed "$NS1_HTTP")
kill -TERM "$ns1_pid"
lw_t_wait_exit "$ns1_pid" 30
lw_t_eq "ns1 stopped cleanly on SIGTERM" 0 "$LW_T_RC"
wait "${pids[@]}"
for t in acme globex; do
    sent=$(jq -r .uplinks.sent "$LW_T_DIR/$t.json")
    lw_e2e_wait_bus "$sent" "$(up $t)" 30 || true
done
sleep 2
n2=$(processed "$NS2_HTTP")
lw_t_eq "both NS processes processed uplinks (ns1 before it stopped, ns2 after it joined)" "true true" \
    "$([ "$n1" -gt 0 ] && echo true || echo "$n1") $([ "$n2" -gt 0 ] && echo true || echo "$n2")"
for t in acme globex; do
    sent=$(jq -r .uplinks.sent "$LW_T_DIR/$t.json")
    gs=$(lw_e2e_bus_select "._topic == \"gs.up\" and .envelope.tenant_id == \"$t\"" | jq -r .raw_payload | sort -u | wc -l)
    lw_t_eq "$t: the GS published every uplink the devices sent" "$sent" "$gs"
    all=$(lw_e2e_bus_count "$(up $t)")
    lw_e2e_bus_select "$(up $t)" |
        jq -r '"\(.envelope.id) \(.end_device_ids.device_id) \(.uplink_message.f_cnt // 0)"' |
        sort -u >"$LW_T_DIR/$t.ids"
    lw_t_eq "$t: each on lw.ns.up exactly once by message id (ids, device and FCnt pairs, both)" \
        "$sent $sent $sent" \
        "$(cut -d' ' -f1 "$LW_T_DIR/$t.ids" | sort -u | wc -l) $(cut -d' ' -f2- "$LW_T_DIR/$t.ids" | sort -u | wc -l) $(wc -l <"$LW_T_DIR/$t.ids")"
    echo "# $t: $all results on lw.ns.up for $sent uplinks ($((all - sent)) redelivered with their id across the two moves)"
    lw_t_eq "$t: per device, FCnt only goes up in lw.ns.up order" 0 \
        "$(lw_e2e_bus_select "$(up $t)" | jq -s -r 'group_by(.end_device_ids.device_id) | map(sort_by(._partition, ._offset) | [.[].uplink_message.f_cnt // 0] | select(. != sort)) | length')"
    last=$(jq -r '.uplinks.sent / 20 | floor' "$LW_T_DIR/$t.json")
    lw_t_eq "$t: every device heard in its last seconds, after both moves (sessions kept)" 20 \
        "$(lw_e2e_bus_select "$(up $t)" | jq -r '"\(.end_device_ids.device_id) \(.uplink_message.f_cnt // 0)"' | awk -v l="$last" '$2 >= l - 3 { print $1 }' | sort -u | wc -l)"
done
lw_t_done
