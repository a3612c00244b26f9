#!/usr/bin/env bash
# `lwstack simulate` against a stand-in network built on lora-packet (fake_network.js), no
# stack: every frame the simulator sends is verified by an implementation that is not ours,
# and every downlink it receives was built by one. Two fleets (seeds) run side by side, as
# two tenants' devices would, and each checks that the other's frames stay the other's.
#   ABP 1.0.3, 3 gateways, 3 copies, confirmed: MIC and payload verified by lora-packet, one
#     uplink per FCnt plus two more copies; the ACK downlink in RX1 (then RX2) decrypted,
#     radio settings as the plan says, TX_ACK NONE; a downlink in the past → TX_ACK TOO_LATE.
#   OTAA 1.0.3: lora-packet's join-accept decrypted and verified, the derived session keys
#     accepted by lora-packet on the next uplinks.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_node
sim() { "$LWSTACK_BIN" simulate "$@"; }

# fake NAME ANSWER KEYS: starts a fake network; sets FAKE_PORT.
fake() {
    rm -f "$LW_T_DIR/$1.port"
    lw_t_bg "$1" node "$LWSTACK_SRC/tests/e2e/fake_network.js" --keys "$3" --out "$LW_T_DIR/$1.jsonl" \
        --port-file "$LW_T_DIR/$1.port" --answer "$2"
    lw_t_wait_for "fake network $1" 10 test -s "$LW_T_DIR/$1.port"
    FAKE_PORT=$(cat "$LW_T_DIR/$1.port")
}
ev() { jq -c "select(.event == \"$2\")" "$LW_T_DIR/$1"; }

# ---- ABP, confirmed, RX1, two fleets ---------------------------------------------------------
sim --seed north --devices 2 --keys-out "$LW_T_DIR/north.keys" --provision-only
sim --seed south --devices 2 --dev-addr-start 26000100 --keys-out "$LW_T_DIR/south.keys" --provision-only
cat "$LW_T_DIR/north.keys" "$LW_T_DIR/south.keys" >"$LW_T_DIR/both.keys"
fake net1 rx1 "$LW_T_DIR/both.keys"
pids=()
for f in north south; do
    sim --seed "$f" --devices 2 --gateways 3 --copies 3 --rate 20 --uplinks-per-device 2 --duration 0 \
        --confirmed --udp "127.0.0.1:$FAKE_PORT" --json --events "$LW_T_DIR/$f.ev" $([ $f = south ] && echo --dev-addr-start 26000100) \
        >"$LW_T_DIR/$f.json" &
    pids+=($!)
done
wait "${pids[@]}"
n=$(jq -r '.uplinks.sent' "$LW_T_DIR/north.json")
lw_t_eq "north: 4 uplinks sent, 12 PUSH_DATA acknowledged" "4 12 12" \
    "$n $(jq -r '.uplinks.push_data, .uplinks.push_ack' "$LW_T_DIR/north.json" | xargs)"
lw_t_eq "lora-packet: 8 uplinks, every MIC valid" "8 8" \
    "$(ev net1.jsonl uplink | wc -l) $(ev net1.jsonl uplink | jq -r 'select(.mic_ok)' | jq -s length)"
lw_t_eq "lora-packet: 16 more copies of them (3 gateways each)" 16 "$(ev net1.jsonl copy | wc -l)"
lw_t_eq "lora-packet: payload = the FCnt, big-endian, in both fleets" "00000000 00000001" \
    "$(ev net1.jsonl uplink | jq -r 'select(.dev_addr == "26000100") | .payload' | xargs)"
lw_t_eq "lora-packet: confirmed uplinks at SF7 on a join channel" "true" \
    "$(ev net1.jsonl uplink | jq -s 'all(.confirmed and .datr == "SF7BW125" and (.freq == 868.1 or .freq == 868.3 or .freq == 868.5))')"
lw_t_eq "lora-packet: RSSI/SNR of copy k are -50-3k / 9-k" "-50 9" \
    "$(ev net1.jsonl uplink | jq -r 'select(.dev_addr == "26000100") | "\(.rssi) \(.lsnr)"' | head -1)"
for f in north south; do
    lw_t_eq "$f: 4 ACKs in RX1 (1 s after the uplink), radio as RX1, none late" "4 4 0 4" \
        "$(jq -r '.downlinks.received, .downlinks.rx1, .downlinks.too_late, .uplinks.confirmed_acked' "$LW_T_DIR/$f.json" | xargs)"
    lw_t_eq "$f: each downlink decrypted (FPort 1 \"ok\"), delay 1000000 µs, radio_ok" "true" \
        "$(ev $f.ev downlink | jq -s 'length == 4 and all(.result == "ok" and .payload == "6f6b" and .fport == 1 and .ack and .delay_us == 1000000 and .radio_ok)')"
done
lw_t_eq "north's downlinks went to north's devices only" "" \
    "$(ev north.ev downlink | jq -r 'select(.dev_addr == "26000100" or .dev_addr == "26000101") | .dev_addr')"
lw_t_eq "8 TX_ACK NONE" 8 "$(ev net1.jsonl tx_ack | jq -r 'select(.error == "NONE")' | jq -s length)"
lw_t_eq "each gateway sent a stat" 6 "$(ev net1.jsonl stat | wc -l)"

# ---- RX2 and too late ------------------------------------------------------------------------
fake net2 rx2 "$LW_T_DIR/north.keys"
sim --seed north --devices 1 --rate 20 --uplinks-per-device 1 --duration 0 --confirmed \
    --udp "127.0.0.1:$FAKE_PORT" --json --events "$LW_T_DIR/rx2.ev" >"$LW_T_DIR/rx2.json"
lw_t_eq "RX2: one downlink in RX2 on 869.525 MHz DR0 (the band's RX2 an ABP device starts with), acknowledged" \
    "rx2 2000000 869525000 0 true ok" \
    "$(ev rx2.ev downlink | jq -r '"\(.window) \(.delay_us) \(.freq_hz) \(.dr) \(.radio_ok) \(.result)"')"
fake net3 late "$LW_T_DIR/north.keys"
sim --seed north --devices 1 --rate 20 --uplinks-per-device 1 --duration 0 --confirmed \
    --udp "127.0.0.1:$FAKE_PORT" --json --events "$LW_T_DIR/late.ev" >"$LW_T_DIR/late.json"
lw_t_eq "a downlink for a time already past → too late, not received, TX_ACK TOO_LATE" \
    "1 0 too_late TOO_LATE" \
    "$(jq -r '.downlinks.too_late, .uplinks.confirmed_acked' "$LW_T_DIR/late.json" | xargs) $(ev late.ev downlink | jq -r .result) $(ev net3.jsonl tx_ack | jq -r .error)"

# ---- OTAA 1.0.3 ------------------------------------------------------------------------------
sim --seed west --otaa --devices 3 --keys-out "$LW_T_DIR/west.keys" --provision-only
fake net4 rx1 "$LW_T_DIR/west.keys"
sim --seed west --otaa --devices 3 --gateways 2 --copies 2 --rate 30 --uplinks-per-device 2 --duration 0 \
    --confirmed --udp "127.0.0.1:$FAKE_PORT" --json --events "$LW_T_DIR/otaa.ev" >"$LW_T_DIR/otaa.json"
lw_t_eq "OTAA: 3 join-requests with valid MICs (lora-packet)" "3 true" \
    "$(ev net4.jsonl join_request | wc -l) $(ev net4.jsonl join_request | jq -s 'all(.mic_ok and .dev_nonce == 1)')"
lw_t_eq "OTAA: 3 join-accepts in RX1 (5 s), decrypted and verified, DevAddr from lora-packet" \
    "3 3 true" \
    "$(jq -r '.joins.sent, .joins.accepted' "$LW_T_DIR/otaa.json" | xargs) $(ev otaa.ev downlink | jq -s '[.[] | select(.type == "join_accept")] | all(.window == "rx1" and .delay_us == 5000000 and .result == "ok" and .radio_ok and .net_id == 19 and (.dev_addr | startswith("27")))')"
lw_t_eq "OTAA: 6 data uplinks in the new sessions, MICs valid for lora-packet's session keys" "6 6" \
    "$(jq -r .uplinks.sent "$LW_T_DIR/otaa.json") $(ev net4.jsonl uplink | jq -r 'select(.mic_ok and (.dev_addr | startswith("27")))' | jq -s length)"
lw_t_eq "OTAA: 6 acknowledged" 6 "$(jq -r .uplinks.confirmed_acked "$LW_T_DIR/otaa.json")"

# ---- bad input -------------------------------------------------------------------------------
set +e
err=$(sim --udp 127.0.0.1:1 --copies 3 2>&1 >/dev/null); rc=$?
set -e
lw_t_eq "--copies above --gateways → usage error naming the flag" "2 simulate: --copies: at most --gateways" \
    "$rc $(printf '%s\n' "$err" | head -1)"
printf '{"dev_eui":"00"}\n' >"$LW_T_DIR/bad.keys"
set +e
err=$(sim --udp 127.0.0.1:1 --keys-file "$LW_T_DIR/bad.keys" 2>&1 >/dev/null); rc=$?
set -e
lw_t_eq "a bad keys file → exit 1 naming the line and field" "1 simulate: $LW_T_DIR/bad.keys:1: \`dev_eui\` must be 16 hex digits" \
    "$rc $err"
lw_t_done
