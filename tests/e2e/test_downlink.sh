#!/usr/bin/env bash
# Acceptance (issue 9): a class A downlink queued through lw.as.down is sent in RX1 of the
# next uplink (each device on a gateway of its own; test_downlink_rx2.sh shares one, so that
# RX1 cannot be made for one of them); a class C downlink is sent without waiting for an uplink. The
# simulated devices check the timing relative to the uplink (exactly RX1 / RX2), the window's
# frequency and data rate as the device knows them, the MIC, and decrypt the payload. The
# devices keep their state between simulator runs (--keys-out, --keys-file), as a device does.
# Two tenants: globex's device never receives acme's downlinks, and results stay per tenant.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "downlinks from lw.as.down"
lw_e2e_start
lw_e2e_tenant acme
lw_e2e_tenant globex
lw_e2e_tap ns.up,gs.down,gs.txack

# Acme has two ABP devices, each heard by a gateway of its own; globex one device. Three uplinks each, 8 s apart per
# device (the NS moves RX1 to 5 s): the network's MAC commands go down and their answers up,
# so that the devices have every downlink the NS sent when the application's are queued.
common=(--gateways 1 --abp --duration 0 --json)
acme=(--gateways 2 --copies 1)
lw_e2e_sim acme --seed acme --devices 2 --uplinks-per-device 3 --rate 0.25 --keys-out "$LW_T_DIR/acme.state" \
    --events "$LW_T_DIR/a0.ev" "${common[@]}" "${acme[@]}" >"$LW_T_DIR/a0.json" &
p0=$!
lw_e2e_sim globex --seed globex --devices 1 --uplinks-per-device 3 --rate 0.125 --keys-out "$LW_T_DIR/globex.state" \
    --events "$LW_T_DIR/g0.ev" "${common[@]}" >"$LW_T_DIR/g0.json"
wait $p0
up='._topic == "ns.up" and .uplink_message != null'
lw_e2e_wait_bus 9 "$up" 20
sleep 2

A1=$(sed -n 1p "$LW_T_DIR/acme.state"); A2=$(sed -n 2p "$LW_T_DIR/acme.state")
lw_e2e_as_down acme sim "$A1" cafe01
lw_e2e_as_down acme sim "$A2" cafe02
queued='._topic == "ns.up" and .downlink_queued != null and .envelope.tenant_id == "acme"'
lw_e2e_wait_bus 2 "$queued" 10
lw_t_eq "lw.ns.up: downlink_queued for both acme devices" 2 "$(lw_e2e_bus_count "$queued")"

# Both acme devices uplink 10 ms apart, each through its gateway; globex's at the same time.
# When the NS had sent MAC downlinks in between, it invalidates the queue (naming its last
# FCntDown): the downlinks are encrypted again for the next FCnt and replace the queue, as an
# AS does, and the devices uplink again (at most three rounds).
inval='._topic == "ns.up" and .downlink_queue_invalidated != null and .envelope.tenant_id == "acme"'
got() { cat "$LW_T_DIR"/a1.*.ev | jq -r "select(.event == \"downlink\" and .result == \"ok\" and .payload == \"$1\") | .dev_eui"; }
for round in 1 2 3; do
    n_inval=$(lw_e2e_bus_count "$inval")
    lw_e2e_sim_udp --seed acme --keys-file "$LW_T_DIR/acme.state" --keys-out "$LW_T_DIR/acme.state" \
        --uplinks-per-device 1 --rate 100 --events "$LW_T_DIR/a1.$round.ev" "${common[@]}" "${acme[@]}" >"$LW_T_DIR/a1.$round.json" &
    pa=$!
    lw_e2e_sim_udp --seed globex --keys-file "$LW_T_DIR/globex.state" --keys-out "$LW_T_DIR/globex.state" \
        --uplinks-per-device 1 --rate 100 --events "$LW_T_DIR/g1.$round.ev" "${common[@]}" >"$LW_T_DIR/g1.$round.json" &
    pg=$!
    wait $pa $pg
    [ -n "$(got cafe01)" ] && [ -n "$(got cafe02)" ] && break
    sleep 1
    [ "$(lw_e2e_bus_count "$inval")" -gt "$n_inval" ] || break
    echo "note: round $round: the NS invalidated a queue; pushing again for its next FCnt"
    A1=$(sed -n 1p "$LW_T_DIR/acme.state"); A2=$(sed -n 2p "$LW_T_DIR/acme.state")
    [ -n "$(got cafe01)" ] || lw_e2e_as_down acme sim "$A1" cafe01 --operation replace
    [ -n "$(got cafe02)" ] || lw_e2e_as_down acme sim "$A2" cafe02 --operation replace
    sleep 1
done
cat "$LW_T_DIR"/a1.*.ev >"$LW_T_DIR/a1.ev"
cat "$LW_T_DIR"/g1.*.ev >"$LW_T_DIR/g1.ev"
jq -s '{downlinks: {too_late: (map(.downlinks.too_late) | add), unmatched: (map(.downlinks.unmatched) | add)}}' \
    "$LW_T_DIR"/a1.*.json >"$LW_T_DIR/a1.json"
dl='select(.event == "downlink" and .type == "data" and .fport == 2)'
lw_t_eq "acme: both downlinks received, decrypted, MIC verified" "cafe01 cafe02" \
    "$(jq -r "$dl | select(.result == \"ok\") | .payload" "$LW_T_DIR/a1.ev" | sort | xargs)"
# The windows are the device's: RX1 after its RX1 delay (as the NS set it, RXTimingSetupReq),
# RX2 one second later; the simulator checks the exact microsecond.
lw_t_eq "acme: both in RX1 of their uplinks (after the RX1 delay the NS set), on the RX1 radio" "true" \
    "$(jq -c "$dl" "$LW_T_DIR/a1.ev" | jq -s 'length == 2 and all(.window == "rx1" and .radio_ok)')"
echo "note: acme's downlinks: $(jq -r "$dl"' | "\(.window) \(.delay_us / 1000000) s \(.freq_hz) Hz DR\(.dr)"' "$LW_T_DIR/a1.ev" | paste -sd';')"
lw_t_eq "acme: no downlink too late, none unmatched" "0 0" "$(jq -r '.downlinks.too_late, .downlinks.unmatched' "$LW_T_DIR/a1.json" | xargs)"
lw_t_eq "globex: no application downlink reached its device" 0 "$(jq -c "$dl" "$LW_T_DIR/g1.ev" | wc -l)"
sent='._topic == "ns.up" and .downlink_sent != null'
lw_e2e_wait_bus 2 "$sent and .envelope.tenant_id == \"acme\"" 10
lw_t_eq "lw.ns.up: downlink_sent for both acme devices, none for globex" "2 0" \
    "$(lw_e2e_bus_count "$sent and .envelope.tenant_id == \"acme\"") $(lw_e2e_bus_count "$sent and .envelope.tenant_id == \"globex\"")"
# The downlinks that carried the application payloads, and their TX_ACKs on lw.gs.txack.
ids=$(lw_e2e_bus_select '._topic == "gs.down" and .envelope.tenant_id == "acme"' |
    jq -r --slurpfile ev <(jq -c "$dl" "$LW_T_DIR/a1.ev") 'select(.raw_payload as $p | $ev | map(.phy) | index($p)) | .downlink_id' | sort -u)
lw_t_eq "lw.gs.txack: SUCCESS for both application downlinks" "SUCCESS SUCCESS" \
    "$(for id in $ids; do lw_e2e_bus_select "._topic == \"gs.txack\" and .downlink_id == \"$id\"" | jq -r '.result // "SUCCESS"' | tail -1; done | xargs)"

# Class C: a downlink while the device only listens (queued after its last uplink).
lw_e2e_sim globex --seed globexc --application classc --devices 1 --class-c --uplinks-per-device 2 \
    --rate 0.25 --drain 12 --events "$LW_T_DIR/c.ev" --keys-out "$LW_T_DIR/c.state" "${common[@]}" >"$LW_T_DIR/c.json" &
pc=$!
lw_e2e_wait_bus 2 "$up and .end_device_ids.application_ids.application_id == \"classc\"" 20
sleep 2
lw_e2e_as_down globex classc "$(cat "$LW_T_DIR/c.state")" c1a55c
# Invalidated (the NS's FCntDown moved on with MAC downlinks): again for the NS's next FCnt.
cinval='._topic == "ns.up" and .downlink_queue_invalidated != null and .end_device_ids.application_ids.application_id == "classc"'
lw_e2e_wait_bus 1 "$cinval" 3 2>/dev/null
if [ "$(lw_e2e_bus_count "$cinval")" -gt 0 ]; then
    echo "note: class C: the NS invalidated the queue; pushing again for its next FCnt"
    lw_e2e_as_down globex classc "$(cat "$LW_T_DIR/c.state")" c1a55c --operation replace
fi
wait $pc
lw_t_eq "class C: sent without an uplink (immediate, or at a gateway time no uplink asked for), on the RX2 radio the device knows, decrypted" "class-c true c1a55c ok" \
    "$(jq -r "$dl"' | "\(if .window == "immediate" or .window == "scheduled" then "class-c" else .window end) \(.radio_ok) \(.payload) \(.result)"' "$LW_T_DIR/c.ev")"
lw_t_eq "class C: acme's devices got nothing of it" 0 \
    "$(cat "$LW_T_DIR"/a*.ev | jq -r 'select(.payload == "c1a55c")' | wc -l)"
lw_t_done
