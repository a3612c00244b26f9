#!/usr/bin/env bash
# Acceptance (issue 9 item 7): SIGKILL of the Network Server under traffic, then a restart.
# The GS (with the IS and JS) and the NS run as two processes on one bus; acme's devices are
# OTAA (they join first), globex's ABP, and both send throughout. Then, per tenant:
# - every uplink the GS published appears on lw.ns.up exactly once by message id (one id per
#   device and FCnt; a result the NS published before the kill but had not made durable is
#   published again after the restart with its id, and a consumer drops it by id; counted);
# - no FCnt goes backwards: per device, in lw.ns.up order with copies dropped by id, and
#   the NS's session.last_f_cnt_up afterwards is the device's last FCnt;
# - no device rejoins: one join-request and one join_accept per OTAA device (none for ABP),
#   its uplinks carry the DevAddr it joined with, and every device is heard after the
#   restart without a new activation.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "the NS SIGKILL test"
lw_e2e_need js "the NS SIGKILL test (acme's OTAA devices)"
lw_e2e_prepare
NS_HTTP=$(lw_t_free_port)
lw_e2e_split_ns "$NS_HTTP" tenant is gs js
ns_pid=$LW_T_LAST_PID
lw_e2e_tenant acme
lw_e2e_tenant globex
lw_e2e_tap ns.up,gs.up

N=20
pids=()
for t in acme globex; do
    lw_e2e_sim $t --seed $t --gateways 3 --copies 2 --devices $N "$([ $t = acme ] && echo --otaa || echo --abp)" \
        --rate 20 --duration 24 --drain 8 --keys-out "$LW_T_DIR/$t.keys" --json >"$LW_T_DIR/$t.json" &
    pids+=($!)
done
up() { echo "._topic == \"ns.up\" and .uplink_message != null and .envelope.tenant_id == \"$1\""; }
ja() { echo "._topic == \"ns.up\" and .join_accept != null and .envelope.tenant_id == \"$1\""; }
jreq() { echo "._topic == \"gs.up\" and .envelope.tenant_id == \"$1\" and (.raw_payload | startswith(\"00\"))"; }
# The kill comes once acme's devices have joined and data flows in both tenants.
lw_e2e_wait_bus $N "$(ja acme)" 30
lw_e2e_wait_bus 40 "$(up acme)" 30
lw_e2e_wait_bus 40 "$(up globex)" 30
kill -KILL "$ns_pid"
lw_t_wait_exit "$ns_pid" 10
lw_t_eq "the NS died of SIGKILL" 137 "$LW_T_RC"
sleep 3
lw_e2e_spawn ns2 "$NS_HTTP" ns
t_restart=$(date +%s%N)
wait "${pids[@]}"
sleep 5
api="$E2E_NS_API/api/v3"
for t in acme globex; do
    sent=$(jq -r .uplinks.sent "$LW_T_DIR/$t.json")
    # Distinct data uplinks the GS published (a copy per gateway: count the PHYPayloads once).
    gs=$(lw_e2e_bus_select "._topic == \"gs.up\" and .envelope.tenant_id == \"$t\" and (.raw_payload | startswith(\"00\") | not)" |
        jq -r .raw_payload | sort -u | wc -l)
    lw_t_eq "$t: the GS published every uplink the devices sent" "$sent" "$gs"
    # Exactly once by message id (DESIGN.md §3): as many distinct ids as uplinks sent, one
    # per (device, FCnt), and never one uplink under two ids nor an id on two uplinks.
    all=$(lw_e2e_bus_count "$(up $t)")
    lw_e2e_bus_select "$(up $t)" |
        jq -r '"\(.envelope.id) \(.end_device_ids.device_id) \(.uplink_message.f_cnt // 0)"' |
        sort -u >"$LW_T_DIR/$t.ids"
    lw_t_eq "$t: each on lw.ns.up exactly once by message id (ids, device and FCnt pairs, both)" \
        "$sent $sent $sent" \
        "$(cut -d' ' -f1 "$LW_T_DIR/$t.ids" | sort -u | wc -l) $(cut -d' ' -f2- "$LW_T_DIR/$t.ids" | sort -u | wc -l) $(wc -l <"$LW_T_DIR/$t.ids")"
    echo "# $t: $all results on lw.ns.up for $sent uplinks ($((all - sent)) redelivered with their id after the SIGKILL)"
    # What a consumer sees: each device's results in lw.ns.up order, a copy dropped by id.
    lw_t_eq "$t: per device, FCnt strictly increasing in lw.ns.up order (copies dropped by id)" 0 \
        "$(lw_e2e_bus_select "$(up $t)" | jq -s -r 'group_by(.end_device_ids.device_id)
            | map(sort_by(._partition, ._offset)
                | reduce .[] as $m ({seen: {}, f: []}; if .seen[$m.envelope.id] then . else .seen[$m.envelope.id] = true | .f += [$m.uplink_message.f_cnt // 0] end)
                | .f | select(. as $f | any(range(1; length); $f[.] <= $f[. - 1])))
            | length')"
    # No rejoin: the OTAA devices joined once, before the kill; the ABP ones never.
    joins=$([ $t = acme ] && echo $N || echo 0)
    lw_t_eq "$t: join-requests and join_accepts: one per OTAA device, none for ABP" "$joins $joins $joins" \
        "$(lw_e2e_bus_select "$(jreq $t)" | jq -r .raw_payload | sort -u | wc -l) $(lw_e2e_bus_count "$(ja $t)") $(lw_e2e_bus_select "$(ja $t)" | jq -r .end_device_ids.device_id | sort -u | wc -l)"
    lw_t_eq "$t: each device's uplinks carry its DevAddr (joined or provisioned)" 0 \
        "$(jq -s -r --slurpfile k "$LW_T_DIR/$t.keys" '($k | map({key: ("sim-" + .dev_eui), value: .dev_addr}) | from_entries) as $a
            | map(select(.end_device_ids.dev_addr != $a[.end_device_ids.device_id])) | length' \
            <(lw_e2e_bus_select "$(up $t) or ($(ja $t))"))"
    # (received_at: when the first copy reached the GS, Unix ns.)
    lw_t_eq "$t: every device heard after the restart (its session kept)" $N \
        "$(lw_e2e_bus_select "$(up $t)" | jq -r "select(([.uplink_message.rx_metadata[].received_at] | min) > $t_restart) | .end_device_ids.device_id" | sort -u | wc -l)"
    # The restarted NS's state: each device's session and its last FCnt.
    bad=0
    while read -r dev addr f; do
        r=$(lw_t_adm $t GET "/ns/applications/sim/devices/$dev?field_mask=session.dev_addr,session.last_f_cnt_up")
        [ "$(lw_t_body "$r" | jq -r '"\(.session.dev_addr) \(.session.last_f_cnt_up // 0)"')" = "$addr $f" ] ||
            { bad=$((bad + 1)); echo "# $t/$dev: expected $addr $f, got $r" >&2; }
    done < <(jq -r '"sim-\(.dev_eui) \(.dev_addr | ascii_upcase) \(.f_cnt_up - 1)"' "$LW_T_DIR/$t.keys")
    lw_t_eq "$t: the NS's session of every device, last_f_cnt_up its last FCnt sent (NS API)" 0 "$bad"
done
lw_t_done
