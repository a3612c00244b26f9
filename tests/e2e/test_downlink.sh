#!/usr/bin/env bash
# Acceptance (issue 9): a class A downlink queued through lw.as.down is sent in RX1 of the
# next uplink, or in RX2 when RX1 cannot be made (here: another device's RX1 on the same
# gateway at the same time); a class C downlink is sent without waiting for an uplink. The
# simulated devices check the timing relative to the uplink (exactly RX1 / RX2), the window's
# frequency and data rate, the MIC and decrypt the payload. Two tenants: globex's device
# never receives acme's downlinks, and its results stay globex's.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "downlinks from lw.as.down"
lw_e2e_start
lw_e2e_tenant acme
lw_e2e_tenant globex
lw_e2e_tap ns.up,gs.down,gs.txack

# One gateway each; acme has two ABP devices, globex one (RX1 delay 1 s).
run() { # tenant devices f_cnt_start events [extra]
    local t=$1 n=$2 f=$3 ev=$4; shift 4
    lw_e2e_sim "$t" --seed "$t" --gateways 1 --devices "$n" --abp --rate 100 --duration 0 \
        --uplinks-per-device 1 --f-cnt-start "$f" --events "$LW_T_DIR/$ev" --json \
        --keys-out "$LW_T_DIR/$t.keys" "$@" >"$LW_T_DIR/${ev%.ev}.json"
}
run acme 2 0 a0.ev
run globex 1 0 g0.ev
up='._topic == "ns.up" and .uplink_message != null'
lw_e2e_wait_bus 3 "$up" 20
sleep 3 # the MAC exchange of the first uplink, if any, is over

A1=$(sed -n 1p "$LW_T_DIR/acme.keys"); A2=$(sed -n 2p "$LW_T_DIR/acme.keys"); G1=$(cat "$LW_T_DIR/globex.keys")
eui() { jq -r .dev_eui <<<"$1"; }
f1=$(lw_e2e_next_f_cnt_down "$LW_T_DIR/a0.ev" "$(eui "$A1")")
f2=$(lw_e2e_next_f_cnt_down "$LW_T_DIR/a0.ev" "$(eui "$A2")")
lw_e2e_as_down acme sim "sim-$(eui "$A1")" "$f1" cafe01 "$A1"
lw_e2e_as_down acme sim "sim-$(eui "$A2")" "$f2" cafe02 "$A2"
lw_e2e_wait_bus 2 '._topic == "ns.up" and .downlink_queued != null and .envelope.tenant_id == "acme"' 10 ||
    echo "note: no downlink_queued results on lw.ns.up" >&2

# Both acme devices uplink 10 ms apart through the one gateway; globex's at the same time.
run acme 2 1 a1.ev &
pa=$!
run globex 1 1 g1.ev &
pg=$!
wait $pa $pg
dl='select(.event == "downlink" and .type == "data" and .fport == 2)'
lw_t_eq "acme: both downlinks received, decrypted, MIC verified" "cafe01 cafe02" \
    "$(jq -r "$dl | select(.result == \"ok\") | .payload" "$LW_T_DIR/a1.ev" | sort | xargs)"
lw_t_eq "acme: one in RX1 (1 s after its uplink), the other in RX2 (2 s), each on its window's radio" \
    "rx1 1000000 true|rx2 2000000 true" \
    "$(jq -r "$dl"' | "\(.window) \(.delay_us) \(.radio_ok)"' "$LW_T_DIR/a1.ev" | sort | paste -sd'|')"
lw_t_eq "acme: RX2 on the plan's RX2 (869.525 MHz, DR3)" "869525000 3" \
    "$(jq -r "$dl"' | select(.window == "rx2") | "\(.freq_hz) \(.dr)"' "$LW_T_DIR/a1.ev")"
lw_t_eq "acme: no downlink too late, none unmatched" "0 0" "$(jq -r '.downlinks.too_late, .downlinks.unmatched' "$LW_T_DIR/a1.json" | xargs)"
lw_t_eq "globex: no application downlink reached its device" 0 "$(jq -c "$dl" "$LW_T_DIR/g1.ev" | wc -l)"
lw_e2e_wait_bus 2 '._topic == "ns.up" and .downlink_sent != null and .envelope.tenant_id == "acme"' 10
lw_t_eq "lw.ns.up: downlink_sent for both acme devices, none for globex" "2 0" \
    "$(lw_e2e_bus_count '._topic == "ns.up" and .downlink_sent != null and .envelope.tenant_id == "acme"') $(lw_e2e_bus_count '._topic == "ns.up" and .downlink_sent != null and .envelope.tenant_id == "globex"')"
lw_t_eq "lw.gs.txack: the gateway's TX_ACKs reported as SUCCESS for acme" "true" \
    "$(lw_e2e_bus_select '._topic == "gs.txack" and .envelope.tenant_id == "acme"' | jq -s 'length >= 2 and all((.result // "SUCCESS") == "SUCCESS")')"

# Class C: a downlink while the device only listens (no uplink after it is queued).
lw_e2e_sim globex --seed globexc --application classc --gateways 1 --devices 1 --abp --class-c \
    --rate 10 --duration 0 --uplinks-per-device 1 --drain 12 --events "$LW_T_DIR/c.ev" --json \
    --keys-out "$LW_T_DIR/c.keys" >"$LW_T_DIR/c.json" &
pc=$!
lw_e2e_wait_bus 1 "$up and .end_device_ids.application_ids.application_id == \"classc\"" 20
C1=$(cat "$LW_T_DIR/c.keys")
sleep 3
fc=$(lw_e2e_next_f_cnt_down "$LW_T_DIR/c.ev" "$(eui "$C1")")
lw_e2e_as_down globex classc "sim-$(eui "$C1")" "$fc" c1a55c "$C1"
wait $pc
lw_t_eq "class C: sent at once (immediate), on RX2's radio, decrypted" "immediate true c1a55c ok" \
    "$(jq -r "$dl"' | "\(.window) \(.radio_ok) \(.payload) \(.result)"' "$LW_T_DIR/c.ev")"
lw_t_eq "class C: acme's devices got nothing of it" 0 \
    "$(cat "$LW_T_DIR"/a*.ev | jq -r 'select(.payload == "c1a55c")' | wc -l)"
lw_t_done
