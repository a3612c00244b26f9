#!/usr/bin/env bash
# Acceptance (issue 9): frame-counter rules and join replays end to end over UDP.
#  - 32-bit FCnt rollover: acme's ABP device has session.last_f_cnt_up 0xFFFF (provisioned);
#    its next uplinks carry FCnt 0x0000 and 0x0001 in the 16-bit field and are accepted as
#    65536 and 65537 (lw.ns.up f_cnt), the MIC computed over the 32-bit counter (lora-packet
#    verifies it, tests/e2e/lwmac.js).
#  - A replayed uplink: the very datagram bytes of FCnt 65536, and of 65537 (the last
#    accepted), sent again through acme's gateway after the deduplication cooldown (a new
#    PUSH_DATA, PUSH_ACKed, on lw.gs.up) → no result on lw.ns.up, an `ns.up.data.drop`
#    event with reason `f_cnt_replay` (and the counter) for each, the drop counted in
#    lwstack_ns_dropped_total{reason="f_cnt_replay"}.
#  - A replayed join-request: globex's OTAA device (LoRaWAN 1.0.3) joins; its join-request
#    (same DevNonce) is sent again → the Join Server refuses it, `js.join.reject` with
#    `reuse_dev_nonce`, the NS's `ns.up.join.drop`, no second join-accept; the device's
#    session goes on (its next uplink is accepted).
# Tenants: acme's replays leave globex without drop events and the reverse; each tenant's
# results stay its own.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "frame-counter replays and rollover"
lw_e2e_need js "join-request replays (the Join Server)"
lw_e2e_need_node
drv="$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)/tests/integration/gs/gs_driver"
[ -x "$drv" ] || { echo "gs_driver not found at $drv (build target gs_driver)" >&2; exit 1; }
lw_e2e_start
lw_e2e_tenant acme
lw_e2e_tenant globex
lw_e2e_tap ns.up,gs.up,events

# acme: ABP, the counter at the 16-bit boundary. globex: OTAA, joining.
lw_e2e_wait_matcher
lw_e2e_sim acme --seed rr-acme --gateways 1 --devices 1 --abp --f-cnt-start 65536 --uplinks-per-device 2 \
    --rate 2 --duration 0 --drain 0.5 --events "$LW_T_DIR/acme.ev" --keys-out "$LW_T_DIR/acme.state" --json >"$LW_T_DIR/acme.json" &
pa=$!
lw_e2e_sim globex --seed rr-globex --gateways 1 --devices 1 --otaa --uplinks-per-device 1 --rate 2 --duration 0 --drain 0.5 \
    --events "$LW_T_DIR/globex.ev" --keys-out "$LW_T_DIR/globex.state" --json >"$LW_T_DIR/globex.json"
wait $pa
A=$(jq -r '"sim-" + .dev_eui' "$LW_T_DIR/acme.state")
G=$(jq -r '"sim-" + .dev_eui' "$LW_T_DIR/globex.state")
up() { echo "._topic == \"ns.up\" and .uplink_message != null and .envelope.tenant_id == \"$1\""; }
ev() { echo "._topic == \"events\" and .value.name == \"$1\""; }

# Rollover.
lw_t_eq "acme: the device sent FCnt 65536 and 65537 with 16-bit fields 0000 and 0100 (little-endian)" \
    "65536 0000 65537 0100" "$(jq -r 'select(.event == "uplink") | "\(.f_cnt) \(.phy[12:16])"' "$LW_T_DIR/acme.ev" | xargs)"
lw_t_eq "acme: lora-packet verifies both MICs with the 32-bit counter (FCntMSBytes 0001), neither with 0 and 1" "true true false false" \
    "$(keys=$(cat "$LW_T_DIR/acme.state")
       for f in 65536 65537 0 1; do
           phy=$(jq -r "select(.event == \"uplink\" and .f_cnt % 65536 == $f % 65536) | .phy" "$LW_T_DIR/acme.ev")
           node "$LWSTACK_SRC/tests/e2e/lwmac.js" up "$keys" "$phy" $f | jq -r .mic_ok
       done | xargs)"
lw_e2e_wait_bus 2 "$(up acme)" 15
lw_t_eq "acme: lw.ns.up results with f_cnt 65536 and 65537" "65536 65537" \
    "$(lw_e2e_bus_select "$(up acme)" | jq -r .uplink_message.f_cnt | sort -n | xargs)"
lw_t_eq "acme: each FRMPayload as sent (encrypted for the 32-bit counter)" \
    "$(jq -r "$E2E_JQ_FRM"'select(.event == "uplink") | .phy | frm' "$LW_T_DIR/acme.ev" | xargs)" \
    "$(lw_e2e_bus_select "$(up acme)" | jq -r .uplink_message.frm_payload | xargs)"

# The join.
lw_t_eq "globex: joined (1 join-accept, checked by the device) and sent its first uplink" "1 1" \
    "$(jq -r '"\(.joins.accepted) \(.uplinks.sent)"' "$LW_T_DIR/globex.json")"
lw_e2e_wait_bus 1 "$(up globex)" 15
lw_e2e_wait_bus 1 "$(ev js.join.accept)" 5

# replay TENANT EVENT...: the frames of the simulator's EVENT lines (uplinks, join-requests)
# again, each as a new PUSH_DATA of the tenant's gateway (its EUI from lw.gs.up), through one
# socket of the test's own (gs_driver), after a PULL_DATA from that socket (the GS takes
# PUSH_DATA of a connected gateway from a new address only from its downlink path, as TTS's
# addr-change-block). Prints the number of PUSH_ACKs.
replay() {
    local t=$1 eui ev i=0
    shift
    eui=$(lw_e2e_bus_select "._topic == \"gs.up\" and .envelope.tenant_id == \"$t\"" | head -1 | jq -r .rx_metadata.gateway_ids.eui)
    {
        printf 'pull 2 0001 %s\n' "$eui"
        sleep 0.3
        for ev in "$@"; do
            i=$((i + 1))
            jq -r --arg eui "$eui" --arg tok "$(printf '%04x' $i)" --arg b64 "$(jq -r .phy <<<"$ev" | xxd -r -p | base64 -w0)" \
                '{rxpk: [{tmst: (1000000 * (.t_us % 4000)), chan: 0, rfch: 0, freq: (.freq_hz / 1e6), stat: 1,
                    modu: "LORA", datr: (["SF12","SF11","SF10","SF9","SF8","SF7"][.dr] + "BW125"), codr: "4/5",
                    lsnr: 7.5, rssi: -60, size: (.phy | length / 2), data: $b64}]} | "push 2 \($tok) \($eui) \(tojson)"' <<<"$ev"
        done
    } | "$drv" udp --to "127.0.0.1:$E2E_UDP" | tee -a "$LW_T_DIR/replay.out" | grep -c '^recv 02....01$' || true
}

# Replays, after the cooldown (1 s) of the originals: acme's two uplinks, globex's
# join-request (same DevNonce).
sleep 1.5
n_gs=$(lw_e2e_bus_count "._topic == \"gs.up\" and .envelope.tenant_id == \"acme\"")
lw_t_eq "acme: the replays of FCnt 65536 and 65537 PUSH_ACKed" 2 \
    "$(replay acme "$(jq -c 'select(.event == "uplink" and .f_cnt == 65536)' "$LW_T_DIR/acme.ev")" \
        "$(jq -c 'select(.event == "uplink" and .f_cnt == 65537)' "$LW_T_DIR/acme.ev")")"
lw_t_eq "globex: the join-request again PUSH_ACKed" 1 \
    "$(replay globex "$(jq -c 'select(.event == "join_request")' "$LW_T_DIR/globex.ev" | tail -1)")"
drop="$(ev ns.up.data.drop) and .value.context.\"tenant-id\" == \"acme\""
lw_e2e_wait_bus 2 "$drop" 10
lw_t_eq "acme: both replays reached lw.gs.up" 2 \
    "$(( $(lw_e2e_bus_count "._topic == \"gs.up\" and .envelope.tenant_id == \"acme\"") - n_gs ))"
lw_t_eq "acme: ns.up.data.drop for each replay: reason f_cnt_replay, its counter, the last accepted 65537, the device" \
    "f_cnt_replay 65536 65537 $A|f_cnt_replay 65537 65537 $A" \
    "$(lw_e2e_bus_select "$drop" | jq -r '.value | "\(.data.reason) \(.data.f_cnt) \(.data.last_f_cnt_up) \(.identifiers[0].device_ids.device_id)"' | sort | paste -sd'|')"
lw_t_eq "acme: still exactly one lw.ns.up result per FCnt" "65536 65537" \
    "$(lw_e2e_bus_select "$(up acme)" | jq -r .uplink_message.f_cnt | sort -n | xargs)"
metric=$(curl -sf "http://127.0.0.1:$E2E_HTTP/metrics" | grep '^lwstack_ns_dropped_total{.*reason="f_cnt_replay"' | awk '{print $2}' || true)
lw_t_eq "lwstack_ns_dropped_total{reason=\"f_cnt_replay\"} counts both" 2 "${metric:-none}"

rej="$(ev js.join.reject) and .value.context.\"tenant-id\" == \"globex\""
lw_e2e_wait_bus 1 "$rej" 10
lw_e2e_wait_bus 1 "$(ev ns.up.join.drop)" 5
lw_t_eq "globex: js.join.reject, reuse_dev_nonce, for the device's DevNonce" "1 reuse_dev_nonce" \
    "$(lw_e2e_bus_count "$rej") $(lw_e2e_bus_select "$rej" | jq -r '.value.data.name')"
lw_t_eq "globex: the NS's ns.up.join.drop for the device, with the Join Server's result (Backend Interfaces JoinReqFailed)" "$G JoinReqFailed" \
    "$(lw_e2e_bus_select "$(ev ns.up.join.drop) and .value.context.\"tenant-id\" == \"globex\"" | jq -r '.value | "\(.identifiers[0].device_ids.device_id) \(.data.reason)"' | xargs)"
lw_t_eq "globex: one join_accept result on lw.ns.up, not two" 1 \
    "$(lw_e2e_bus_count '._topic == "ns.up" and .join_accept != null and .envelope.tenant_id == "globex"')"
# The session the device has is still the NS's: its next uplink is accepted.
lw_e2e_sim_udp --seed rr-globex --keys-file "$LW_T_DIR/globex.state" --keys-out "$LW_T_DIR/globex.state" --gateways 1 \
    --otaa --uplinks-per-device 1 --rate 2 --duration 0 --drain 0 --json >/dev/null
lw_e2e_wait_bus 2 "$(up globex)" 10
lw_t_eq "globex: the device's next uplink (FCnt 1) accepted in its session" "0 1 $(jq -r .dev_addr "$LW_T_DIR/globex.state")" \
    "$(lw_e2e_bus_select "$(up globex)" | jq -r '.uplink_message.f_cnt // 0' | sort -n | xargs) $(lw_e2e_bus_select "$(up globex)" | jq -r .end_device_ids.dev_addr | sort -u | xargs)"

# Each tenant's drops are its own.
lw_t_eq "globex: no ns.up.data.drop; acme: no join rejection" "0 0" \
    "$(lw_e2e_bus_count "$(ev ns.up.data.drop) and .value.context.\"tenant-id\" == \"globex\"") $(lw_e2e_bus_count "($(ev js.join.reject) or $(ev ns.up.join.drop)) and .value.context.\"tenant-id\" == \"acme\"")"
lw_t_eq "acme's results name acme's device only, globex's globex's" "$A $G" \
    "$(lw_e2e_bus_select "$(up acme)" | jq -r .end_device_ids.device_id | sort -u | xargs) $(lw_e2e_bus_select "$(up globex)" | jq -r .end_device_ids.device_id | sort -u | xargs)"
lw_t_done
