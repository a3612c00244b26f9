#!/usr/bin/env bash
# Acceptance (issue 9): LoRa Basics Station on both LNS ports, through the whole stack. Two
# tenants each have a station gateway (EU868) and an OTAA LoRaWAN 1.0.3 device behind it:
# acme's station on ws:// (no credentials, accepted by its registered EUI with
# gs.basic-station.allow-unauthenticated), globex's on wss:// with a gateway API key carrying
# RIGHT_GATEWAY_LINK. Each station (tests/integration/gs/bs_station.py --radio, on its own
# xtime clock, dntxed when the TX starts) connects through /router-info, gets a router_config
# of its plan; the device's join-request goes up as jreq, through NS and JS, and comes back as
# a dnmsg for RX1 (DevEui, dC, diid, RxDelay 5, RX1 at the uplink's frequency and data rate,
# the jreq's xtime and rctx) whose pdu lora-packet decrypts and verifies with the AppKey; the
# device's updf reaches lw.ns.up; a downlink the AS queues on lw.as.down goes down in RX1 of the
# next updf (lora-packet checks MIC and payload), the station's dntxed becomes downlink_sent on
# lw.ns.up. Refused: a wrong key, a key of the other tenant, no key on wss, an unknown EUI at
# /router-info and at /traffic. Each tenant's station, device and results stay its own.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "Basics Station end to end"
lw_e2e_need js "Basics Station joins (the Join Server)"
lw_e2e_has_key gs.basic-station.listen-tls || lw_e2e_skip "needs gs.basic-station.listen-tls"
lw_e2e_need_node
station="$LWSTACK_SRC/tests/integration/gs/bs_station.py"
lwjoin="$LWSTACK_SRC/tests/integration/js/lwjoin.js"
lwdevice="$LWSTACK_SRC/tests/e2e/lwdevice.js"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$LW_T_DIR/lns.key" -out "$LW_T_DIR/lns.crt" 2>"$LW_T_DIR/openssl.log"
CA="$LW_T_DIR/lns.crt"
lw_e2e_start --gs.basic-station.tls.certificate "$LW_T_DIR/lns.crt" \
    --gs.basic-station.tls.key "$LW_T_DIR/lns.key" --gs.basic-station.allow-unauthenticated=true
WS=$(sed -nE 's/.*Basics Station LNS listening.*scheme=ws port=([0-9]+).*/\1/p' "$LW_T_DIR/stack.log" | tail -1)
WSS=$(sed -nE 's/.*Basics Station LNS listening.*scheme=wss port=([0-9]+).*/\1/p' "$LW_T_DIR/stack.log" | tail -1)
[ -n "$WS" ] && [ -n "$WSS" ] || { echo "no LNS ports in the log" >&2; exit 1; }
lw_e2e_tenant acme
lw_e2e_tenant globex
lw_e2e_tap ns.up,gs.down,gs.txack

# The stations' EUIs and their id6 forms (basic-station.md §1).
declare -A EUI=([acme]=0000000000000a01 [globex]=b827ebfffe123456)
declare -A ID6=([acme]='::a01' [globex]='b827:ebff:fe12:3456')
declare -A FD=([acme]=5 [globex]=6)
# The devices: acme's two (acme, acme2) behind acme's station, globex's one behind its own;
# the channel each uses (DR, frequency; RX1 is the same in EU868 at offset 0). At DR3 (SF9)
# a join-accept is 250 ms on air: acme's two overlap in RX1 whatever the load.
DEVS="acme acme2 globex"
declare -A TEN=([acme]=acme [acme2]=acme [globex]=globex)
declare -A DR=([acme]=3 [acme2]=3 [globex]=5)
declare -A FREQ=([acme]=868100000 [acme2]=868300000 [globex]=868500000)
for t in acme globex; do
    lw_e2e_sim $t --seed "bs-$t" --provision-only --otaa --devices $([ $t = acme ] && echo 2 || echo 1) \
        --gateways 1 --gateway-eui-start "${EUI[$t]}" --keys-out "$LW_T_DIR/$t.all.keys" --json >"$LW_T_DIR/$t.prov.json"
done
sed -n 1p "$LW_T_DIR/acme.all.keys" >"$LW_T_DIR/acme.keys"
sed -n 2p "$LW_T_DIR/acme.all.keys" >"$LW_T_DIR/acme2.keys"
cp "$LW_T_DIR/globex.all.keys" "$LW_T_DIR/globex.keys"
GW_G="sim-gw-${EUI[globex]}"
key() { # TENANT GATEWAY RIGHT
    lw_t_body "$(lw_t_adm "$1" POST "/gateways/$2/api-keys" "{\"name\":\"k\",\"rights\":[\"$3\"]}")" | jq -r .key
}
G_LINK=$(key globex "$GW_G" RIGHT_GATEWAY_LINK)
A_LINK=$(key acme "sim-gw-${EUI[acme]}" RIGHT_GATEWAY_LINK)
[ -n "$G_LINK" ] && [ "$G_LINK" != null ] && [ -n "$A_LINK" ] && [ "$A_LINK" != null ] || {
    echo "no gateway API keys" >&2
    exit 1
}

# ---- discovery and refusals -----------------------------------------------------------------
ri() { python3 "$station" router-info "$@"; }
tr1() { timeout 10 python3 "$station" traffic "$@" </dev/null | head -1 | cut -d' ' -f1-2; }
a=$(ri "ws://127.0.0.1:$WS/router-info" "\"${ID6[acme]}\"")
lw_t_eq "acme: /router-info over ws (no key): the traffic URI" \
    "{\"router\":\"${ID6[acme]}\",\"muxs\":\"muxs-::0\",\"uri\":\"ws://127.0.0.1:$WS/traffic/eui-${EUI[acme]}\"}" "$a"
URI_acme=$(jq -r .uri <<<"$a")
a=$(ri "wss://127.0.0.1:$WSS/router-info" "\"${ID6[globex]}\"" --cafile "$CA" --auth "Bearer $G_LINK")
lw_t_eq "globex: /router-info over wss with its RIGHT_GATEWAY_LINK key: the wss traffic URI" \
    "wss://127.0.0.1:$WSS/traffic/eui-${EUI[globex]}" "$(jq -r .uri <<<"$a")"
URI_globex=$(jq -r .uri <<<"$a")
lw_t_eq "/router-info: unknown gateway EUI → error answer" \
    '{"router":"::bad","error":"gateway `0000000000000BAD` not found"}' "$(ri "ws://127.0.0.1:$WS/router-info" '"::bad"')"
lw_t_eq "/router-info over wss: acme's key for globex's gateway → error answer" "true false" \
    "$(ri "wss://127.0.0.1:$WSS/router-info" "\"${ID6[globex]}\"" --cafile "$CA" --auth "Bearer $A_LINK" | jq -r '"\(has("error")) \(has("uri"))"')"
lw_t_eq "/traffic over wss: a wrong key → 401" "http 401" \
    "$(tr1 "$URI_globex" --cafile "$CA" --auth "Bearer NNSXS.WRONGKEY.WRONGKEY")"
lw_t_eq "/traffic over wss: acme's key on globex's gateway → 401" "http 401" \
    "$(tr1 "$URI_globex" --cafile "$CA" --auth "Bearer $A_LINK")"
lw_t_eq "/traffic: unknown gateway EUI → 404" "http 404" \
    "$(tr1 "ws://127.0.0.1:$WS/traffic/eui-0000000000000bad")"

# ---- the stations ---------------------------------------------------------------------------
for t in acme globex; do
    mkfifo "$LW_T_DIR/$t.in"
    extra=()
    [ $t = globex ] && extra=(--cafile "$CA" --auth "Bearer $G_LINK")
    eval "URI=\$URI_$t"
    python3 "$station" traffic "$URI" --radio --out "$LW_T_DIR/$t.out" "${extra[@]}" \
        <"$LW_T_DIR/$t.in" 2>"$LW_T_DIR/$t.err" &
    LW_T_PIDS+=("$!")
    eval "exec ${FD[$t]}>\"$LW_T_DIR/$t.in\""
done
# EU_863_870_TTN as the station needs it (basic-station.md §3): 8 multi-SF channels, the DR6
# (SF7/250 kHz) channel and the FSK one, EU868 data rates, the band's frequency range.
want_up='[[868100000,0,5],[868300000,0,6],[868500000,0,5],[867100000,0,5],[867300000,0,5],[867500000,0,5],[867700000,0,5],[867900000,0,5],[868800000,7,7]]'
want_drs='[[12,125,0],[11,125,0],[10,125,0],[9,125,0],[8,125,0],[7,125,0],[7,250,0],[0,0,0]]'
for t in acme globex; do
    lw_t_wait_line "$LW_T_DIR/$t.out" '"router_config"' 10 || true
    rc=$(grep -m1 '"router_config"' "$LW_T_DIR/$t.out" | cut -d' ' -f2-)
    lw_t_eq "$t: router_config of the gateway's plan (EU_863_870_TTN)" \
        "EU868 sx1301/1 [863000000,870000000] $want_up $want_drs" \
        "$(jq -c -r '"\(.region) \(.hwspec) \(.freq_range) \(.upchannels) \(.DRs[0:8])"' <<<"$rc")"
done

# ---- join -----------------------------------------------------------------------------------
# acme's two devices send their join-requests together: one join-accept gets RX1, the other
# cannot (the radio is busy then) and goes in RX2, 6 s after its jreq, on 869.525 MHz DR3
# (its dntxed comes more than gs.tx-ack-timeout after the dnmsg).
kv() { jq -r ".$2" "$LW_T_DIR/$1.keys"; } # DEVICE FIELD
dash() { sed -E 's/(..)/\1-/g; s/-$//' <<<"${1^^}"; }
out() { grep "^$2 " "$LW_T_DIR/$1.out" | cut -d' ' -f2-; } # STATION TAG: its messages of that kind
lw_e2e_wait_matcher # the NS takes lw.gs.up: the join-accepts can make their windows
jreq_line() { echo "up $(node "$lwjoin" request "$(kv $1 app_key)" "$(kv $1 join_eui)" "$(kv $1 dev_eui)" 1) ${DR[$1]} ${FREQ[$1]}"; }
printf '%s\n%s\n' "$(jreq_line acme)" "$(jreq_line acme2)" >&5
jreq_line globex >&6
lw_t_wait_line "$LW_T_DIR/acme.out" '"dnmsg"' 15 2 || true
lw_t_wait_line "$LW_T_DIR/globex.out" '"dnmsg"' 15 || true
declare -A JWIN
for d in $DEVS; do
    s=${TEN[$d]}
    jreq=$(out $s sent | jq -c "select(.msgtype == \"jreq\" and .DevEui == \"$(dash "$(kv $d dev_eui)")\")")
    lw_t_eq "$d: the jreq as the station sends it (JoinEui, DevEui in dash form, DevNonce 1)" \
        "$(dash "$(kv $d join_eui)") 1" "$(jq -r '"\(.JoinEui) \(.DevNonce)"' <<<"$jreq")"
    dn=$(out $s recv | jq -c "select(.msgtype == \"dnmsg\" and .DevEui == \"$(dash "$(kv $d dev_eui)")\")")
    JWIN[$d]=$(out $s txplan | jq -r "select(.diid == $(jq .diid <<<"$dn")) | .window")
    case ${JWIN[$d]} in
    rx1) want="${DR[$d]} ${FREQ[$d]} null null" ;;
    *) want="null null 3 869525000" ;;
    esac
    lw_t_eq "$d: join-accept dnmsg: dC 0, RxDelay 5, the jreq's xtime and rctx, a diid; the window's DR and frequency (${JWIN[$d]})" \
        "0 5 $(jq .upinfo.xtime <<<"$jreq") 0 true $want" \
        "$(jq -r '"\(.dC) \(.RxDelay) \(.xtime) \(.rctx) \(.diid | type == "number") \(.RX1DR) \(.RX1Freq) \(.RX2DR) \(.RX2Freq)"' <<<"$dn")"
    ja=$(node "$lwjoin" accept 1.0.3 "$(kv $d app_key)" "$(kv $d app_key)" "$(kv $d join_eui)" "$(kv $d dev_eui)" 1 "$(jq -r .pdu <<<"$dn")")
    lw_t_eq "$d: lora-packet decrypts the pdu with the AppKey and verifies its MIC" true "$(jq .mic_ok <<<"$ja")"
    echo "$ja" >"$LW_T_DIR/$d.session"
    echo "$dn" >"$LW_T_DIR/$d.ja"
done
lw_t_eq "acme: one join-accept in RX1, the other in RX2 (the radio is busy in its RX1)" "rx1 rx2" \
    "$(printf '%s\n' "${JWIN[acme]}" "${JWIN[acme2]}" | sort | xargs)"
lw_t_eq "globex: its join-accept in RX1" rx1 "${JWIN[globex]}"
sess() { jq -r ".$2" "$LW_T_DIR/$1.session"; }
ja='._topic == "ns.up" and .join_accept != null'
lw_e2e_wait_bus 3 "$ja" 10
for d in $DEVS; do
    lw_t_eq "$d: join_accept on lw.ns.up in its tenant, DevAddr as the device got it" \
        "${TEN[$d]} $(sess $d dev_addr)" \
        "$(lw_e2e_bus_select "$ja and .end_device_ids.device_id == \"sim-$(kv $d dev_eui)\"" | jq -r '"\(.envelope.tenant_id) \(.end_device_ids.dev_addr)"' | xargs)"
done
# ---- data uplink, then an application downlink in RX1 of the next one ------------------------
# The join-accepts' dntxed come when their TX starts (5 s, 6 s after the jreq); acme's first
# device and globex's then send data, as a device does once its join-accept is on air.
up_phy() { # DEVICE FCNT PLAIN
    node "$lwdevice" up "$(sess $1 nwk_s_key)" "$(sess $1 app_s_key)" "$(sess $1 dev_addr)" "$2" 1 "$3"
}
txd='._topic == "gs.txack"'
for d in acme globex acme2; do
    did=$(lw_e2e_bus_select "._topic == \"gs.down\" and .join_accept == true and .raw_payload == \"$(jq -r .pdu "$LW_T_DIR/$d.ja")\"" | jq -r .downlink_id | head -1)
    lw_e2e_wait_bus 1 "$txd and .downlink_id == \"$did\"" 10
    lw_t_eq "$d: the join-accept's dntxed (${JWIN[$d]}) → lw.gs.txack SUCCESS in window ${JWIN[$d]#rx}" "SUCCESS ${JWIN[$d]#rx}" \
        "$(lw_e2e_bus_select "$txd and .downlink_id == \"$did\"" | jq -r '"\(.result // "SUCCESS") \(.rx_window) \(.error_name // "")"' | head -1 | xargs)"
    [ $d = acme2 ] && continue
    up_phy $d 0 01aa >"$LW_T_DIR/$d.up0"
    echo "up $(cat "$LW_T_DIR/$d.up0") ${DR[$d]} ${FREQ[$d]}" >&"${FD[$d]}"
done
up='._topic == "ns.up" and .uplink_message != null'
lw_e2e_wait_bus 2 "$up" 10
for t in acme globex; do
    u=$(lw_e2e_bus_select "$up and .envelope.tenant_id == \"$t\"" | head -1)
    phy=$(cat "$LW_T_DIR/$t.up0")
    lw_t_eq "$t: the updf on lw.ns.up: its device, FCnt 0, FPort 1, FRMPayload still encrypted, through its station" \
        "sim-$(kv $t dev_eui) 0 1 $(jq -rn --arg p "$phy" "$E2E_JQ_FRM"' $p | frm') sim-gw-${EUI[$t]} ${FREQ[$t]}" \
        "$(jq -r '"\(.end_device_ids.device_id) \(.uplink_message.f_cnt // 0) \(.uplink_message.f_port) \(.uplink_message.frm_payload) \(.uplink_message.rx_metadata[0].gateway_ids.gateway_id) \(.uplink_message.settings.frequency)"' <<<"$u")"
done
sleep 0.5 # a MAC downlink answering the updf was built with the result: its dnmsg is here now
# The data dnmsg of a device as "DNMSG<TAB>lwdevice.js down", one per line.
data_dn() { # DEVICE
    out ${TEN[$1]} recv | jq -c "select(.msgtype == \"dnmsg\" and .DevEui == \"$(dash "$(kv $1 dev_eui)")\" and (.pdu | test(\"^(60|a0)\")))" |
        while read -r dn; do
            printf '%s\t%s\n' "$dn" "$(node "$lwdevice" down "$(sess $1 nwk_s_key)" "$(sess $1 app_s_key)" "$(jq -r .pdu <<<"$dn")")"
        done
}
# The AS's downlink: encrypted for the NS's next FCntDown, one above the last data downlink
# the device got (a keys line as lw_e2e_as_down takes it), pushed again when the NS
# invalidates the queue (it sent a MAC downlink in between).
keys_line() { # DEVICE
    jq -nc --arg e "$(kv $1 dev_eui)" --arg k "$(sess $1 app_s_key)" --arg a "$(sess $1 dev_addr)" \
        --arg f "$(data_dn $1 | cut -f2 | jq -s 'map(.f_cnt) | max // empty')" \
        '{dev_eui: $e, app_s_key: $k, dev_addr: $a} + (if $f == "" then {} else {n_f_cnt_down: ($f | tonumber)} end)'
}
declare -A PLAIN=([acme]=a0a0a0 [globex]=60b0e0)
pids=()
for t in acme globex; do
    lw_e2e_as_down $t sim "$(keys_line $t)" "${PLAIN[$t]}" &
    pids+=($!)
done
wait "${pids[@]}"
queued='._topic == "ns.up" and .downlink_queued != null'
lw_e2e_wait_bus 2 "$queued" 10
declare -A APP
inval='._topic == "ns.up" and .downlink_queue_invalidated != null'
fcnt=1
for round in 1 2 3; do
    n_inval=$(lw_e2e_bus_count "$inval")
    for t in acme globex; do
        [ -n "${APP[$t]:-}" ] && continue
        n=$(grep -c '"dnmsg"' "$LW_T_DIR/$t.out")
        up_phy $t $fcnt "0${fcnt}bb" >"$LW_T_DIR/$t.up$fcnt"
        echo "up $(cat "$LW_T_DIR/$t.up$fcnt") ${DR[$t]} ${FREQ[$t]}" >&"${FD[$t]}"
        lw_t_wait_line "$LW_T_DIR/$t.out" '"dnmsg"' 3 $((n + 1)) 2>/dev/null || true
    done
    fcnt=$((fcnt + 1))
    for t in acme globex; do
        [ -n "${APP[$t]:-}" ] || APP[$t]=$(data_dn $t | while IFS=$'\t' read -r dn chk; do
            [ "$(jq -r .f_port <<<"$chk")" = 2 ] && printf '%s\t%s\n' "$dn" "$chk"; done | tail -1)
    done
    [ -n "${APP[acme]:-}" ] && [ -n "${APP[globex]:-}" ] && break
    sleep 0.5
    for t in acme globex; do
        if [ -z "${APP[$t]:-}" ] && [ "$(lw_e2e_bus_count "$inval and .envelope.tenant_id == \"$t\"")" -gt 0 ]; then
            echo "note: $t round $round: the NS invalidated the queue; pushing again for its next FCnt"
            lw_e2e_as_down $t sim "$(keys_line $t)" "${PLAIN[$t]}" --operation replace
        fi
    done
    sleep 0.5
done
for t in acme globex; do
    IFS=$'\t' read -r dn chk <<<"${APP[$t]}"
    sent=$(out $t sent | jq -c 'select(.msgtype == "updf")' | tail -1)
    lw_t_eq "$t: application downlink dnmsg: DevEui, dC 0, RxDelay as joined, RX1 at the updf's DR and frequency, the updf's xtime" \
        "$(dash "$(kv $t dev_eui)") 0 $(sess $t rx_delay) ${DR[$t]} ${FREQ[$t]} $(jq .upinfo.xtime <<<"$sent")" \
        "$(jq -r '"\(.DevEui) \(.dC) \(.RxDelay) \(.RX1DR) \(.RX1Freq) \(.xtime)"' <<<"$dn")"
    lw_t_eq "$t: lora-packet verifies the downlink's MIC and decrypts the payload (FPort 2)" \
        "true $(sess $t dev_addr) 2 ${PLAIN[$t]}" "$(jq -r '"\(.mic_ok) \(.dev_addr) \(.f_port) \(.payload)"' <<<"$chk")"
    lw_t_eq "$t: the station can make RX1 of it" rx1 \
        "$(out $t txplan | jq -r "select(.diid == $(jq .diid <<<"$dn")) | .window")"
    echo "$chk" >"$LW_T_DIR/$t.appdn"
done
# The dntxed comes when the TX starts (RxDelay after the updf): downlink_sent on lw.ns.up.
dsent='._topic == "ns.up" and .downlink_sent != null'
lw_e2e_wait_bus 2 "$dsent" 15
for t in acme globex; do
    lw_t_eq "$t: the station's dntxed → downlink_sent on lw.ns.up for its device, with the FCnt and FPort sent" \
        "sim-$(kv $t dev_eui) $(jq .f_cnt "$LW_T_DIR/$t.appdn") 2" \
        "$(lw_e2e_bus_select "$dsent and .envelope.tenant_id == \"$t\"" | jq -r '"\(.end_device_ids.device_id) \(.downlink_sent.f_cnt // 0) \(.downlink_sent.f_port)"' | xargs)"
done
lw_t_eq "no downlink failed in either tenant" 0 "$(lw_e2e_bus_count '._topic == "ns.up" and .downlink_failed != null')"
lw_t_eq "no transmission failed on lw.gs.txack" 0 "$(lw_e2e_bus_count '._topic == "gs.txack" and (.result // "SUCCESS") != "SUCCESS"')"
for t in acme globex; do
    mine=$(jq -r .dev_eui "$LW_T_DIR/$t.all.keys" | sort)
    lw_t_eq "$t: its station got dnmsg for its own devices only" "$(for e in $mine; do dash "$e"; done | xargs)" \
        "$(out $t recv | jq -r 'select(.msgtype == "dnmsg") | .DevEui' | sort -u | xargs)"
    lw_t_eq "$t: results on lw.ns.up in its tenant name its own devices only" "$(for e in $mine; do echo "sim-$e"; done | xargs)" \
        "$(lw_e2e_bus_select "._topic == \"ns.up\" and .envelope.tenant_id == \"$t\"" | jq -r .end_device_ids.device_id | sort -u | xargs)"
done
exec 5>&- 6>&-
lw_t_eq "no key in the stack's log" 0 \
    "$(cat "$LW_T_DIR"/*.keys | jq -r '.app_key' | cat - <(cat "$LW_T_DIR"/*.session | jq -r '.nwk_s_key, .app_s_key') <(echo "$G_LINK") | grep -ciFf - "$LW_T_DIR/stack.log" || true)"
lw_t_done
