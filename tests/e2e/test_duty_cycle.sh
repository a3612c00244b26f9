#!/usr/bin/env bash
# Acceptance (issue 9): an exhausted duty cycle → downlink_failed with the reason, never
# silently. Over Semtech UDP, a gateway enforcing the duty cycle (EU868, enforce_duty_cycle)
# and a class C ABP device whose RX2 the NS moves to 869.85 MHz SF12 (mac_settings
# desired_rx2_*: RXParamSetupReq, answered by the simulated device) — the 869.7-870 MHz
# sub-band, 1 % duty cycle, of which a NORMAL-priority downlink may use 70 % (TTS's
# DefaultDutyCycleCeilings): 25.2 s of airtime an hour. The AS queues 11 class C downlinks
# of 51 bytes (2.79 s each at SF12) at once: the GS sends as many as fit, the rest are
# answered duty_cycle: downlink_failed on lw.ns.up (pkg/gatewayserver, duty_cycle),
# SCHEDULE_FAILED on lw.gs.txack and gs.down.tx.fail on lw.events, and the gateway never gets
# them. The expected split is computed here with the LoRa time-on-air formula (Semtech
# AN1200.13) from what the gateway was sent in that sub-band. Globex's gateway, with the same
# device settings, sends its own class C downlink meanwhile: the budget is per gateway.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "duty cycle"
lw_e2e_start
lw_e2e_tenant acme
lw_e2e_tenant globex
lw_e2e_tap ns.up,gs.down,gs.txack,events

RX2_FREQ=869850000
SB_LO=869700000 SB_HI=870000000 SB_PPM=10000 # RX2_FREQ's sub-band (components/lorawan)
NORMAL_PCT=70
N_PUSH=11
PLAIN=$(printf '5a%.0s' $(seq 51)) # 51 bytes: the most EU868 DR0 carries
declare -A GW=([acme]=00000000000dc001 [globex]=00000000000dc002)
declare -A DEV F0
common=(--abp --class-c --devices 1 --gateways 1 --json)
for t in acme globex; do
    lw_e2e_sim $t --seed "dc-$t" --gateway-eui-start "${GW[$t]}" --provision-only \
        --keys-out "$LW_T_DIR/$t.state" "${common[@]}" >"$LW_T_DIR/$t.prov.json"
    DEV[$t]="sim-$(jq -r .dev_eui "$LW_T_DIR/$t.state")"
    r=$(lw_t_adm $t PUT "/ns/applications/sim/devices/${DEV[$t]}" "{\"end_device\":{\"mac_settings\":{\"desired_rx2_frequency\":{\"value\":\"$RX2_FREQ\"},\"desired_rx2_data_rate_index\":{\"value\":\"DATA_RATE_0\"}},\"mac_state\":null},\"field_mask\":{\"paths\":[\"mac_settings.desired_rx2_frequency\",\"mac_settings.desired_rx2_data_rate_index\",\"mac_state\"]}}")
    lw_t_eq "$t: the device's desired RX2: $RX2_FREQ Hz, DR0" 200 "${r%% *}"
    lw_t_eq "$t: its gateway enforces the duty cycle" true \
        "$(lw_t_body "$(lw_t_adm $t GET "/gateways/sim-gw-${GW[$t]}?field_mask=enforce_duty_cycle")" | jq -r .enforce_duty_cycle)"
done

lw_e2e_wait_matcher
# Uplinks: the NS sends RXParamSetupReq (and its other MAC commands), the device answers; then
# the simulator listens on (class C) while the downlinks are queued.
pids=()
for t in acme globex; do
    lw_e2e_sim_udp --seed "dc-$t" --gateway-eui-start "${GW[$t]}" --keys-file "$LW_T_DIR/$t.state" --uplinks-per-device 3 --rate 0.5 \
        --duration 0 --drain 12 --events "$LW_T_DIR/$t.ev" "${common[@]}" >"$LW_T_DIR/$t.json" &
    pids+=($!)
done
up='._topic == "ns.up" and .uplink_message != null'
lw_e2e_wait_bus 6 "$up" 20
sleep 0.5 # the last uplink's class A answer is built with its result
for t in acme globex; do
    lw_t_eq "$t: the device's RX2 is now $RX2_FREQ Hz DR0 (RXParamSetupAns applied)" "$RX2_FREQ 0" \
        "$(lw_t_body "$(lw_t_adm $t GET "/ns/applications/sim/devices/${DEV[$t]}?field_mask=mac_state")" |
            jq -r '.mac_state.current_parameters | "\(.rx2_frequency) \(.rx2_data_rate_index // "DATA_RATE_0" | tostring | ltrimstr("DATA_RATE_"))"')"
done

# The next FCntDown: one above the last data downlink the NS built (every one goes to lw.gs.down).
fcnt_of='def fcnt: (.raw_payload[14:16] + .raw_payload[12:14]) | ascii_downcase | explode
    | map(if . >= 97 then . - 87 else . - 48 end) | reduce .[] as $d (0; . * 16 + $d);'
next_fcnt() { # TENANT
    lw_e2e_bus_select "._topic == \"gs.down\" and .envelope.tenant_id == \"$1\" and (.raw_payload | test(\"^(60|a0)\"))" |
        jq -s "$fcnt_of"' map(fcnt) | if length == 0 then 0 else max + 1 end'
}
bus=$(lw_e2e_bus_bin)
for t in acme globex; do
    n=$([ $t = acme ] && echo $N_PUSH || echo 1)
    F0[$t]=$(next_fcnt $t)
    "$bus" as-down --brokers "$LW_T_BROKERS" --tenant $t --app sim --dev "${DEV[$t]}" --f-port 2 \
        --f-cnt "${F0[$t]}" --count $n --plain "$PLAIN" --app-s-key "$(jq -r .app_s_key "$LW_T_DIR/$t.state")" \
        --dev-addr "$(jq -r .dev_addr "$LW_T_DIR/$t.state")" --session-key-id "$(lw_e2e_session_key_id $t "${DEV[$t]}")" >/dev/null
done
res='._topic == "ns.up" and (.downlink_sent != null or .downlink_failed != null)'
lw_e2e_wait_bus $((N_PUSH + 1)) "$res" 15
wait "${pids[@]}"

# What the gateway was sent in the sub-band before (MAC answers in RX2) and the share left.
airtime='def airtime: (.datr | capture("SF(?<sf>[0-9]+)BW(?<bw>[0-9]+)") | {sf: (.sf | tonumber), bw: (.bw | tonumber)}) as $m
    | ((.phy | length) / 2) as $pl | (if $m.sf >= 11 and $m.bw == 125 then 1 else 0 end) as $de
    | (8 + ([(((8 * $pl - 4 * $m.sf + 28) / (4 * ($m.sf - 2 * $de))) | ceil) * 5, 0] | max)) as $n
    | (($n + 12.25) * pow(2; $m.sf) * 1000 / $m.bw | floor);'
in_sb="select(.event == \"downlink\" and .freq_hz >= $SB_LO and .freq_hz <= $SB_HI)"
usable=$((3600 * SB_PPM * NORMAL_PCT / 100)) # µs of airtime an hour
before=$(jq -s "$airtime map($in_sb | select(.fport != 2) | airtime) | add // 0" "$LW_T_DIR/acme.ev")
each=$(jq -n "$airtime"' {datr: "SF12BW125", phy: ("00" * 64)} | airtime')
fit=$(((usable - before) / each))
echo "note: sub-band $SB_LO-$SB_HI: $before µs used before, $each µs per downlink, $usable µs usable: $fit fit"
lw_t_eq "a 64-byte SF12 downlink takes 2.793472 s" 2793472 "$each"
[ "$fit" -ge 1 ] && [ "$fit" -lt $N_PUSH ] || lw_t_fail "the test needs 1 ≤ fit < $N_PUSH (fit $fit)"
f0=${F0[acme]}
sent=$(seq $f0 $((f0 + fit - 1)) | xargs)
failed=$(seq $((f0 + fit)) $((f0 + N_PUSH - 1)) | xargs)
a="._topic == \"ns.up\" and .envelope.tenant_id == \"acme\""
lw_t_eq "acme: downlink_sent for the first $fit (FCnt $sent)" "$sent" \
    "$(lw_e2e_bus_select "$a and .downlink_sent != null" | jq -r '.downlink_sent.f_cnt // 0' | sort -n | xargs)"
lw_t_eq "acme: downlink_failed for the other $((N_PUSH - fit)), each duty_cycle from pkg/gatewayserver" \
    "$(for f in $failed; do echo "$f pkg/gatewayserver duty_cycle"; done)" \
    "$(lw_e2e_bus_select "$a and .downlink_failed != null" | jq -r '"\(.downlink_failed.downlink.f_cnt // 0) \(.downlink_failed.error.namespace) \(.downlink_failed.error.name)"' | sort -n)"
dl="select(.event == \"downlink\" and .type == \"data\" and .fport == 2)"
lw_t_eq "acme's gateway got exactly the sent ones, on $RX2_FREQ Hz SF12, decrypted, on the device's RX2" \
    "$(for f in $sent; do echo "$f $RX2_FREQ SF12BW125 $PLAIN ok true"; done)" \
    "$(jq -r "$dl"' | "\(.f_cnt) \(.freq_hz) \(.datr) \(.payload) \(.result) \(.radio_ok)"' "$LW_T_DIR/acme.ev" | sort -n)"
lw_t_eq "acme's gateway: the sub-band's airtime stays within the NORMAL share" true \
    "$(jq -s "$airtime map($in_sb | airtime) | add <= $usable" "$LW_T_DIR/acme.ev")"
ids=$(lw_e2e_bus_select "._topic == \"gs.down\" and .envelope.tenant_id == \"acme\"" |
    jq -r "$fcnt_of"' select((.raw_payload | test("^(60|a0)")) and fcnt >= '"$((f0 + fit))"') | .downlink_id')
lw_t_eq "lw.gs.txack: SCHEDULE_FAILED duty_cycle for each refused one" \
    "$(for f in $failed; do echo "SCHEDULE_FAILED duty_cycle"; done)" \
    "$(for id in $ids; do lw_e2e_bus_select "._topic == \"gs.txack\" and .downlink_id == \"$id\"" | jq -r '"\(.result) \(.error_name)"'; done)"
lw_t_eq "lw.events: gs.down.tx.fail naming duty_cycle for each, on acme's gateway" \
    "$(for id in $ids; do echo "sim-gw-${GW[acme]} duty_cycle"; done)" \
    "$(for id in $ids; do lw_e2e_bus_select "._topic == \"events\" and .value.name == \"gs.down.tx.fail\" and .value.data.downlink_id == \"$id\"" |
        jq -r '"\(.value.identifiers[0].gateway_ids.gateway_id) \(.value.data.error)"'; done)"

g="._topic == \"ns.up\" and .envelope.tenant_id == \"globex\""
lw_t_eq "globex: its class C downlink sent by its own gateway meanwhile, nothing failed" "${F0[globex]} 0" \
    "$(lw_e2e_bus_select "$g and .downlink_sent != null" | jq -r '.downlink_sent.f_cnt // 0' | xargs) $(lw_e2e_bus_count "$g and .downlink_failed != null")"
lw_t_eq "globex's gateway got it on $RX2_FREQ Hz; no acme downlink reached it" "${F0[globex]} $RX2_FREQ 0" \
    "$(jq -r "$dl"' | "\(.f_cnt) \(.freq_hz)"' "$LW_T_DIR/globex.ev" | xargs) $(jq -r "select(.event == \"downlink\" and .dev_eui != null and .dev_eui != \"$(jq -r .dev_eui "$LW_T_DIR/globex.state")\")" "$LW_T_DIR/globex.ev" | wc -l)"
lw_t_done
