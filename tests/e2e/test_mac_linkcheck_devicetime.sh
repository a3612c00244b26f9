#!/usr/bin/env bash
# Acceptance (issue 9): LinkCheckReq → LinkCheckAns with the margin and the gateway count, and
# DeviceTimeReq → DeviceTimeAns, end to end over UDP. Each device puts both requests in the
# FOpts of its uplink; the NS's downlink is read independently (lora-packet verifies the MIC
# and decrypts the FOpts or an FPort 0 FRMPayload; tests/e2e/lwmac.js parses the commands byte
# by byte). Acme's device is LoRaWAN 1.0.3 (NwkSKey), globex's 1.1 (MIC with SNwkSIntKey,
# commands encrypted with NwkSEncKey; its first uplink also carries ResetInd).
#   LinkCheckAns (LoRaWAN 1.0.4 §5.2, TTS pkg/networkserver/mac/link_check.go): Margin = the
#   best gateway's SNR minus the demodulation floor of the uplink's data rate, whole dB
#   (truncated); GwCnt = the gateways that received the uplink.
#     acme:   DR5 (SF7/125, floor -7.5 dB), 3 gateways with SNR 6, 5, 4 dB → 13, 3
#     globex: DR0 (SF12/125, floor -20 dB), 2 gateways with SNR -3, -4 dB → 17, 2
#   DeviceTimeAns (§5.9): the GPS time of the uplink's reception, seconds and 1/256 s: it must
#   match the Gateway Server's reception time (received_at of the uplink on lw.gs.up and
#   lw.ns.up) as GPS time (Unix - 315964800 s + 18 leap seconds), truncated: at most two
#   1/256 s steps below it (the NS truncates to the millisecond, then to 1/256 s); and within
#   100 ms of the first gateway copy (copies reach the GS a few ms apart). No check of the
#   stack's speed.
# Two tenants, each with its own gateways; each answer names its own uplink's gateways.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "LinkCheck and DeviceTime"
lw_e2e_need_node
lw_e2e_start
lw_e2e_tenant acme
lw_e2e_tenant globex
lw_e2e_tap ns.up,gs.up,events,gs.down,gs.txack

declare -A GWS=([acme]=3 [globex]=2) DR=([acme]=5 [globex]=0) SNR=([acme]=6 [globex]=-3) VER=([acme]=1.0.3 [globex]=1.1)
for t in acme globex; do
    lw_e2e_sim $t --seed "lc-$t" --gateways "${GWS[$t]}" --devices 1 --abp --lorawan-version "${VER[$t]}" --dr "${DR[$t]}" --provision-only \
        --keys-out "$LW_T_DIR/$t.state" >/dev/null
    lw_e2e_rx1_1s $t sim "$LW_T_DIR/$t.state"
done

# round TENANT N [plain]: one uplink with LinkCheckReq and DeviceTimeReq (plain: without) through
# all of the tenant's gateways, then its receive windows.
round() {
    local req=(--link-check --device-time)
    [ "${3:-}" != plain ] || req=()
    lw_e2e_sim_udp --seed "lc-$1" --keys-file "$LW_T_DIR/$1.state" --keys-out "$LW_T_DIR/$1.state" \
        --gateways "${GWS[$1]}" --copies "${GWS[$1]}" --abp --lorawan-version "${VER[$1]}" "${req[@]}" \
        --snr "${SNR[$1]}" --rssi -80 --uplinks-per-device 1 --duration 0 --rate 10 --drain 2.5 \
        --events "$LW_T_DIR/$1.$2.ev" --json >"$LW_T_DIR/$1.$2.json"
}
# Once the matcher consumes (lw_e2e_wait_matcher); should a downlink still miss both receive
# windows (a loaded machine), the round is repeated, at most three times.
lw_e2e_wait_matcher
for try in 1 2 3; do
    round acme $try &
    pa=$!
    round globex $try
    wait $pa
    n=$(cat "$LW_T_DIR"/acme.$try.ev "$LW_T_DIR"/globex.$try.ev | jq -c 'select(.event == "downlink" and .result == "ok")' | wc -l)
    [ "$n" -ge 2 ] && break
    echo "note: try $try: $n of 2 devices heard a downlink in time; again"
done
# Once the devices answered the network's first commands (an uplink whose FOpts their answers
# fill), a second round: the answers then travel in FOpts (encrypted with NwkSEncKey in
# LoRaWAN 1.1, §4.3.1.6), each with the figures of its own uplink.
round acme answers plain &
pa=$!
round globex answers plain
wait $pa
second=$((try + 1))
round acme $second &
pa=$!
round globex $second
wait $pa

# Each check reads the downlink (lwmac.js) and the bus once: one jq each.
for r in $try $second; do
for t in acme globex; do
    ev="$LW_T_DIR/$t.$r.ev"
    m=$(lw_e2e_down_macs "$(cat "$LW_T_DIR/$t.state")" "$ev")
    echo "note: $t ($r)'s downlink: $m"
    IFS='|' read -r win mic answers lc lc_sim dt dt_s fopts <<<"$(jq -rs '
        (map(select(.window == "rx1" or .window == "rx2") | .radio_ok | tostring) | group_by(.) | map("\(length) \(.[0])") | join(",")) as $win
        | (.[0] // {}) as $d | ($d.cmds // []) as $c
        | ($c | map(select(.name == "DeviceTimeAns")) | .[0] // {}) as $t
        | [$win, $d.mic_ok,
           ([$c[].name] | [.[] | select(endswith("Ans") or endswith("Conf"))] as $a
               | if .[0:($a | length)] == $a then $a | join(" ") else "order: " + join(",") end),
           ($c | map(select(.name == "LinkCheckAns") | "\(.margin) \(.gw_cnt)") | join(",")),
           "\($d.link_check.margin) \($d.link_check.gw_cnt)",
           (if $t.gps_seconds then $t.gps_seconds * 256 + $t.fractional else null end),
           "\($t.gps_seconds) \($d.device_time_gps_s)", "\($d.fport) \(($d.fopts_hex // "") | length > 0)"]
        | map(tostring) | join("|")' <<<"$m")"
    lw_t_eq "$t ($r): one downlink, in RX1 or RX2 on that window's radio settings" "1 true" "$win"
    lw_t_eq "$t ($r): lora-packet verifies the downlink's MIC" true "$mic"
    # The 1.1 ABP device sends ResetInd until it hears ResetConf (LoRaWAN 1.1 §5.1).
    want_ans=$([ $t = globex ] && [ $r = $try ] && echo "ResetConf LinkCheckAns DeviceTimeAns" || echo "LinkCheckAns DeviceTimeAns")
    lw_t_eq "$t ($r): the answers first, in the order of the requests: $want_ans" "$want_ans" "$answers"
    want_margin=$([ $t = acme ] && echo "13 3" || echo "17 2")
    lw_t_eq "$t ($r): LinkCheckAns margin and gateway count (SNR ${SNR[$t]} dB at DR${DR[$t]} through ${GWS[$t]} gateways), as lwmac.js and the simulated device read it" \
        "$want_margin $want_margin" "$lc $lc_sim"
    lw_t_eq "$t ($r): DeviceTimeAns seconds as the simulated device read them" "$(cut -d' ' -f1 <<<"$dt_s")" "$(cut -d' ' -f2 <<<"$dt_s")"
    if [ $r = $second ]; then
        lw_t_eq "$t ($r): the second downlink's commands are in FOpts (no FPort)" "null true" "$fopts"
    fi

    # The uplink this downlink answers, as the GS and the NS received it; GPS times in 1/256 s.
    IFS='|' read -r n_md copies dt_ns dt_gs note <<<"$(jq -rs --arg t $t --argjson ans "${dt:-null}" \
        --arg phy "$(jq -r 'select(.event == "uplink") | .phy' "$ev")" --argjson f "$(jq -r 'select(.event == "uplink") | .f_cnt' "$ev")" '
        def gps256: (. / 1e9 - 315964800 + 18) * 256;
        (map(select(._topic == "ns.up" and .uplink_message != null and .envelope.tenant_id == $t and (.uplink_message.f_cnt // 0) == $f))
            | .[0].uplink_message // {}) as $u
        | map(select(._topic == "gs.up" and .raw_payload == $phy)) as $g
        | ($u.received_at | gps256) as $ns | ($g | map(.received_at) | min | gps256) as $gs
        | [($u.rx_metadata | length),
           ([$g[] | .rx_metadata, (.more_rx_metadata // [])[]] | "\(length) \(all(.gateway_ids.tenant_id == $t))"),
           ($ans != null and ($ns - $ans) >= -0.01 and ($ns - $ans) < 2), ($ans != null and (($gs - $ans) | fabs) < 25.6),
           "DeviceTimeAns \($ans)/256 s GPS; reception (lw.ns.up) \($ns), first copy on lw.gs.up \($gs)"]
        | map(tostring) | join("|")' "$LW_T_DIR/bus.jsonl")"
    echo "note: $t ($r): $note"
    lw_t_eq "$t ($r): its uplink on lw.ns.up with ${GWS[$t]} rx_metadata" "${GWS[$t]}" "$n_md"
    lw_t_eq "$t ($r): on lw.gs.up, its ${GWS[$t]} gateway copies all $t's" "${GWS[$t]} true" "$copies"
    lw_t_eq "$t ($r): DeviceTimeAns = the reception time on lw.ns.up as GPS time, truncated (less than 2/256 s below it)" true "$dt_ns"
    lw_t_eq "$t ($r): DeviceTimeAns within 100 ms of the GS's reception of the first gateway copy" true "$dt_gs"
done
done
lw_t_eq "lw.events: each tenant's requests and answers, each naming its command" \
    "$(for t in acme globex; do echo "$t ns.mac.device_time.answer DeviceTimeAns|$t ns.mac.device_time.request DeviceTimeReq|$t ns.mac.link_check.answer LinkCheckAns|$t ns.mac.link_check.request LinkCheckReq"; done | paste -sd'|')" \
    "$(lw_e2e_bus_select '._topic == "events" and (.value.name | test("^ns\\.mac\\.(link_check|device_time)\\."))' |
        jq -r '.value | "\(.context."tenant-id") \(.name) \(.data.command)"' | sort -u | paste -sd'|')"
lw_t_eq "no downlink reached a device of the other tenant (none unmatched)" 0 \
    "$(cat "$LW_T_DIR"/*.json | jq -s 'map(.downlinks.unmatched) | add')"
lw_t_done
