#!/usr/bin/env bash
# The Gateway Server's LoRa Basics Station LNS front-end against a running `lwstack start is gs`
# (issue 9 item 3): simulated stations (tests/integration/gs/bs_station.py, a WebSocket client
# on Python's standard library sending what station 2.0.6 sends) in two tenants go through
# /router-info and /traffic on both listeners (ws:// without credentials, accepted by EUI with
# gs.basic-station.allow-unauthenticated; wss:// with a gateway API key and a test
# certificate); each gets a router_config of its frequency plan (EU868, US915 FSB 2); updf and
# jreq reach lw.gs.up with the PHYPayload rebuilt; a GsDown becomes a dnmsg (class A with the
# uplink's xtime and RxDelay, class C with RX2 only), the station's dntxed becomes a GsTxAck;
# timesync is answered; pings go out; a wrong key, a key of another tenant, an unknown EUI and
# a missing key are refused; malformed messages are counted and the socket stays up; a
# suspended tenant's station is closed while the other tenant's carries on.
. "$(dirname "$0")/lib.sh"

drv="$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)/tests/integration/gs/gs_driver"
[ -x "$drv" ] || { echo "gs_driver not found at $drv" >&2; exit 1; }
station="$LWSTACK_SRC/tests/integration/gs/bs_station.py"

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"

# A test certificate for 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$LW_T_DIR/lns.key" -out "$LW_T_DIR/lns.crt" 2>"$LW_T_DIR/openssl.log"
CA="$LW_T_DIR/lns.crt"

port=$(lw_t_free_port)
start_stack() { # NAME [extra flags]
    local name=$1; shift
    lw_t_spawn "$name" --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" \
        --http.listen "127.0.0.1:$port" --tenancy.admin-keys "$LW_T_ADMIN_KEY" \
        --gs.udp.listen 127.0.0.1:0 --gs.basic-station.listen 127.0.0.1:0 \
        --gs.basic-station.listen-tls 127.0.0.1:0 \
        --gs.basic-station.tls.certificate "$LW_T_DIR/lns.crt" \
        --gs.basic-station.tls.key "$LW_T_DIR/lns.key" \
        --gs.basic-station.ws-ping-interval 1s --tenancy.refresh-interval 1h --log.level debug "$@" start is gs
    STACK_PID=$LW_T_LAST_PID
    lw_t_wait_for "$name ready" 30 curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" || {
        tail -30 "$LW_T_DIR/$name.log" >&2
        exit 1
    }
    WS=$(sed -nE 's/.*Basics Station LNS listening.*scheme=ws port=([0-9]+).*/\1/p' "$LW_T_DIR/$name.log" | head -1)
    WSS=$(sed -nE 's/.*Basics Station LNS listening.*scheme=wss port=([0-9]+).*/\1/p' "$LW_T_DIR/$name.log" | head -1)
    [ -n "$WS" ] && [ -n "$WSS" ] || { echo "no LNS ports in the log" >&2; tail -30 "$LW_T_DIR/$name.log" >&2; exit 1; }
}
start_stack stack --gs.basic-station.allow-unauthenticated=true
api="http://127.0.0.1:$port/api/v3"
metric() { curl -sS "http://127.0.0.1:$port/metrics" | grep -F "$1" | awk '{print $NF}' | head -1; }
body() { lw_t_body "$@"; }

N_EUI=00000000000000b1 # the EUI of basic-station.md's recordings
S_EUI=b827ebfffe123456
X_EUI=00000000000000ff
for t in north south; do
    r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$t\"},\"state\":\"STATE_APPROVED\"},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"Secret-passw0rd\"}}")
    lw_t_eq "create tenant $t" 200 "${r%% *}"
done
r=$(lw_t_adm north POST /users/admin/gateways "{\"gateway\":{\"ids\":{\"gateway_id\":\"n-gw\",\"eui\":\"${N_EUI^^}\"},\"frequency_plan_id\":\"EU_863_870_TTN\"}}")
lw_t_eq "north: gateway n-gw (EU868)" 200 "${r%% *}"
r=$(lw_t_adm south POST /users/admin/gateways "{\"gateway\":{\"ids\":{\"gateway_id\":\"s-gw\",\"eui\":\"${S_EUI^^}\"},\"frequency_plan_id\":\"US_902_928_FSB_2\"}}")
lw_t_eq "south: gateway s-gw (US915 FSB 2)" 200 "${r%% *}"
R_EUI=00000000000000c1
r=$(lw_t_adm south POST /users/admin/gateways "{\"gateway\":{\"ids\":{\"gateway_id\":\"r-gw\",\"eui\":\"${R_EUI^^}\"},\"frequency_plan_id\":\"EU_863_870_TTN\",\"require_authenticated_connection\":true}}")
lw_t_eq "south: gateway r-gw requiring authenticated connections" 200 "${r%% *}"
key() { # TENANT GATEWAY RIGHT
    body "$(lw_t_adm "$1" POST "/gateways/$2/api-keys" "{\"name\":\"k\",\"rights\":[\"$3\"]}")" | jq -r .key
}
N_LINK=$(key north n-gw RIGHT_GATEWAY_LINK)
N_INFO=$(key north n-gw RIGHT_GATEWAY_INFO)
S_LINK=$(key south s-gw RIGHT_GATEWAY_LINK)
[ -n "$N_LINK" ] && [ "$N_LINK" != null ] && [ -n "$S_LINK" ] && [ "$S_LINK" != null ] || {
    echo "no API keys" >&2
    exit 1
}

for topic in gs.up gs.txack events; do
    "$drv" consume --brokers "$LW_T_BROKERS" --topic "$topic" --out "$LW_T_DIR/$topic.jsonl" \
        2>"$LW_T_DIR/consume-$topic.err" &
    LW_T_PIDS+=("$!")
    touch "$LW_T_DIR/$topic.jsonl"
done

ri() { python3 "$station" router-info "$@"; }

# ---- discovery ------------------------------------------------------------------------------
a=$(ri "ws://127.0.0.1:$WS/router-info" '"::b1"')
lw_t_eq "router-info (ws, id6, no key): traffic URI with port and path" \
    "{\"router\":\"::b1\",\"muxs\":\"muxs-::0\",\"uri\":\"ws://127.0.0.1:$WS/traffic/eui-$N_EUI\"}" "$a"
a=$(ri "wss://127.0.0.1:$WSS/router-info" '"b827:ebff:fe12:3456"' --cafile "$CA" --auth "Bearer $S_LINK")
lw_t_eq "router-info (wss, key with RIGHT_GATEWAY_LINK): wss URI" \
    "wss://127.0.0.1:$WSS/traffic/eui-$S_EUI" "$(jq -r .uri <<<"$a")"
a=$(ri "ws://127.0.0.1:$WS/router-info" '"::ff"')
lw_t_eq "router-info: unknown EUI → error answer" \
    '{"router":"::ff","error":"gateway `00000000000000FF` not found"}' "$a"
a=$(ri "wss://127.0.0.1:$WSS/router-info" '"::b1"' --cafile "$CA" --auth "Bearer $N_INFO")
lw_t_eq "router-info: key without RIGHT_GATEWAY_LINK → error answer" "::b1 true" \
    "$(jq -r '"\(.router) \(has("error") and (has("uri") | not))"' <<<"$a")"
a=$(ri "wss://127.0.0.1:$WSS/router-info" '"b827:ebff:fe12:3456"' --cafile "$CA" --auth "Bearer $N_LINK")
lw_t_eq "router-info: north's key for south's gateway → error answer" true "$(jq 'has("error")' <<<"$a")"
a=$(ri "ws://127.0.0.1:$WS/router-info" '"zz"')
lw_t_eq "router-info: malformed request → error answer" \
    '{"error":"malformed router-info request: field"}' "$a"

# ---- traffic: refusals before the upgrade ---------------------------------------------------
tr1() { python3 "$station" traffic "$@" </dev/null | head -1; }
lw_t_eq "traffic: unknown EUI → 404 gateway_not_found" "http 404 gateway_not_found" \
    "$(tr1 "ws://127.0.0.1:$WS/traffic/eui-$X_EUI" | sed -E 's/^(http [0-9]+) (.*)/\1 \2/' | { read -r h s b; echo "$h $s $(jq -r '.details[0].name' <<<"$b")"; })"
lw_t_eq "traffic: wrong key → 401" "http 401" \
    "$(tr1 "wss://127.0.0.1:$WSS/traffic/eui-$N_EUI" --cafile "$CA" --auth "Bearer NNSXS.WRONG.KEY" | cut -d' ' -f1-2)"
lw_t_eq "traffic: key without RIGHT_GATEWAY_LINK → 403" "http 403" \
    "$(tr1 "wss://127.0.0.1:$WSS/traffic/eui-$N_EUI" --cafile "$CA" --auth "Bearer $N_INFO" | cut -d' ' -f1-2)"
lw_t_eq "traffic: north's key on south's gateway → 401 (unknown in tenant south)" "http 401" \
    "$(tr1 "wss://127.0.0.1:$WSS/traffic/eui-$S_EUI" --cafile "$CA" --auth "$N_LINK" | cut -d' ' -f1-2)"
lw_t_eq "traffic: no key for a gateway requiring authentication → 401 (allow-unauthenticated on)" "http 401" \
    "$(tr1 "ws://127.0.0.1:$WS/traffic/eui-$R_EUI" | cut -d' ' -f1-2)"
lw_t_eq "traffic: bad gateway ID → 400" "http 400" \
    "$(tr1 "ws://127.0.0.1:$WS/traffic/eui-xyz" | cut -d' ' -f1-2)"
lw_t_eq "refusals counted" true \
    "$(m=$(metric 'lwstack_gs_dropped_total{protocol="basicstation",reason="gateway_not_found"}'); [ "${m:-0}" -ge 2 ] && echo true)"

# ---- traffic: two stations ------------------------------------------------------------------
station_run() { # NAME FD URL [args]
    local name=$1 fd=$2 url=$3; shift 3
    mkfifo "$LW_T_DIR/$name.in"
    python3 "$station" traffic "$url" --out "$LW_T_DIR/$name.out" "$@" <"$LW_T_DIR/$name.in" \
        2>"$LW_T_DIR/$name.err" &
    LW_T_PIDS+=("$!")
    eval "exec $fd>\"$LW_T_DIR/$name.in\""
}
station_run north 5 "ws://127.0.0.1:$WS/traffic/eui-$N_EUI"
station_run south 6 "wss://127.0.0.1:$WSS/traffic/eui-$S_EUI" --cafile "$CA" --auth "Bearer $S_LINK"
lw_t_wait_line "$LW_T_DIR/north.out" '"router_config"' 10 || true
lw_t_wait_line "$LW_T_DIR/south.out" '"router_config"' 10 || true
rc_n=$(grep -m1 '"router_config"' "$LW_T_DIR/north.out" | cut -d' ' -f2-)
rc_s=$(grep -m1 '"router_config"' "$LW_T_DIR/south.out" | cut -d' ' -f2-)
lw_t_eq "north: router_config EU868" "EU868 sx1301/1 [863000000,870000000] 9 [868300000,0,6] 1" \
    "$(jq -c -r '"\(.region) \(.hwspec) \(.freq_range) \(.upchannels | length) \(.upchannels[1]) \(.sx1301_conf | length)"' <<<"$rc_n")"
lw_t_eq "north: router_config DRs and radios" "[12,125,0] [7,250,0] [0,0,0] 867500000 868450000 true" \
    "$(jq -c -r '"\(.DRs[0]) \(.DRs[6]) \(.DRs[7]) \(.sx1301_conf[0].radio_0.freq) \(.sx1301_conf[0].radio_1.freq) \(.nodc)"' <<<"$rc_n")"
lw_t_eq "south: router_config US915 FSB 2" "US915 [902000000,928000000] [903900000,0,3] [904600000,4,4] [12,500,1]" \
    "$(jq -c -r '"\(.region) \(.freq_range) \(.upchannels[0]) \(.upchannels[8]) \(.DRs[8])"' <<<"$rc_s")"
lw_t_eq "stations connected (events)" "north south" \
    "$(lw_t_wait_line "$LW_T_DIR/events.jsonl" '"name":"gs.gateway.connect"' 10 2; grep '"name":"gs.gateway.connect"' "$LW_T_DIR/events.jsonl" | jq -r '.context["tenant-id"]' | sort | tr '\n' ' ' | sed 's/ $//')"

# ---- uplinks --------------------------------------------------------------------------------
XT_N=19140298685263198 # basic-station.md §4
echo '{"msgtype": "updf", "MHdr": 64, "DevAddr": -535761673, "FCtrl": 129, "FCnt": 0, "FOpts": "02", "FPort": 1, "FRMPayload": "5A171220B0C6", "MIC": -1022408746, "RefTime": 0, "DR": 0, "Freq": 868300000, "upinfo": {"rctx": 0, "xtime": '$XT_N', "gpstime": 0, "fts": -1, "rssi": -110, "snr": -12.5, "rxtime": 1796107812.284651}}' >&5
lw_t_wait_line "$LW_T_DIR/gs.up.jsonl" '"key":"e010ecf7"' 10 || true
up=$(grep -m1 '"key":"e010ecf7"' "$LW_T_DIR/gs.up.jsonl")
lw_t_eq "updf → gs.up: PHYPayload rebuilt" 40f7ec10e081000002015a171220b0c6d6470fc3 "$(jq -r .raw_payload <<<"$up")"
lw_t_eq "updf → gs.up: tenant and gateway" "north n-gw $N_EUI" \
    "$(jq -r '"\(.envelope.tenant_id) \(.rx_metadata.gateway_ids.gateway_id) \(.rx_metadata.gateway_ids.eui)"' <<<"$up")"
lw_t_eq "updf → gs.up: timestamp (xtime low 32 bits) rssi snr" "$((XT_N & 0xffffffff)) -110 -12.5" \
    "$(jq -r '.rx_metadata | "\(.timestamp) \(.rssi) \(.snr)"' <<<"$up")"
lw_t_eq "updf → gs.up: settings (DR0 = SF12/125)" "868300000 12 125000" \
    "$(jq -r '.settings | "\(.frequency) \(.data_rate.lora.spreading_factor) \(.data_rate.lora.bandwidth)"' <<<"$up")"
TOKEN_N=$(jq -r .rx_metadata.uplink_token <<<"$up")

XT_S=21110623522444888
echo '{"msgtype": "jreq", "MHdr": 0, "JoinEui": "70-B3-D5-7E-D0-00-12-34", "DevEui": "01-23-45-67-89-AB-CD-EF", "DevNonce": 5, "MIC": 158362105, "RefTime": 0, "DR": 3, "Freq": 904100000, "upinfo": {"rctx": 0, "xtime": '$XT_S', "gpstime": 0, "fts": -1, "rssi": -80, "snr": 2, "rxtime": 1796107812.487502}}' >&6
lw_t_wait_line "$LW_T_DIR/gs.up.jsonl" '"key":"70b3d57ed00012340123456789abcdef"' 10 || true
up=$(grep -m1 '"key":"70b3d57ed00012340123456789abcdef"' "$LW_T_DIR/gs.up.jsonl")
lw_t_eq "jreq → gs.up in south: PHYPayload rebuilt, US915 DR3 = SF7" \
    "south 00341200d07ed5b370efcdab89674523010500f9697009 7 904100000" \
    "$(jq -r '"\(.envelope.tenant_id) \(.raw_payload) \(.settings.data_rate.lora.spreading_factor) \(.settings.frequency)"' <<<"$up")"
TOKEN_S=$(jq -r .rx_metadata.uplink_token <<<"$up")

# ---- downlinks ------------------------------------------------------------------------------
down() { "$drv" down --brokers "$LW_T_BROKERS" --key "$1" --json "$2" 2>>"$LW_T_DIR/down.err"; }
DL1=000102030405060708090a0b0c0d0e0f
down north/n-gw "{\"tenant_id\":\"north\",\"gateway_ids\":{\"gateway_id\":\"n-gw\",\"tenant_id\":\"north\"},\"downlink_id\":\"$DL1\",\"raw_payload\":\"6004030201000100deadbeef\",\"uplink_token\":\"$TOKEN_N\",\"timing\":\"TIMESTAMP\",\"timestamp\":$((XT_N & 0xffffffff)),\"rx1_delay\":5,\"join_accept\":true,\"priority\":3,\"end_device_ids\":{\"application_id\":\"app\",\"device_id\":\"dev\"},\"rx1\":{\"frequency\":868300000,\"sf\":12,\"bw\":125000,\"dr_index\":0},\"rx2\":{\"frequency\":869525000,\"sf\":9,\"bw\":125000,\"dr_index\":3}}"
lw_t_wait_line "$LW_T_DIR/north.out" '"dnmsg"' 10 || true
dn=$(grep -m1 '"dnmsg"' "$LW_T_DIR/north.out" | cut -d' ' -f2-)
lw_t_eq "GsDown → dnmsg class A in RX1 with the uplink's xtime and RxDelay" \
    "0 6004030201000100deadbeef 5 0 868300000 0 false \"xtime\":$XT_N" \
    "$(jq -r '"\(.dC) \(.pdu) \(.RxDelay) \(.RX1DR) \(.RX1Freq) \(.rctx) \(has("RX2DR"))"' <<<"$dn") $(grep -o '"xtime":[0-9]*' <<<"$dn")"
lw_t_eq "dnmsg: non-zero DevEui, diid" true "$(jq '(.DevEui != "00-00-00-00-00-00-00-00") and (.diid | type == "number")' <<<"$dn")"
lw_t_wait_line "$LW_T_DIR/gs.txack.jsonl" "\"downlink_id\":\"$DL1\"" 10 || true
lw_t_eq "dntxed → gs.txack SUCCESS in RX1, device key" "SUCCESS 1 north/app/dev north" \
    "$(grep -m1 "\"downlink_id\":\"$DL1\"" "$LW_T_DIR/gs.txack.jsonl" | jq -r '"\(.result) \(.rx_window) \(.key) \(.envelope.tenant_id)"')"

DL2=100102030405060708090a0b0c0d0e0f
down south/s-gw "{\"tenant_id\":\"south\",\"gateway_ids\":{\"gateway_id\":\"s-gw\",\"tenant_id\":\"south\"},\"downlink_id\":\"$DL2\",\"raw_payload\":\"a00102030400000001ff\",\"uplink_token\":\"\",\"timing\":\"IMMEDIATE\",\"priority\":3,\"end_device_ids\":{\"application_id\":\"app\",\"device_id\":\"cdev\"},\"rx2\":{\"frequency\":923300000,\"sf\":12,\"bw\":500000,\"dr_index\":8}}"
lw_t_wait_line "$LW_T_DIR/south.out" '"dnmsg"' 10 || true
dn=$(grep -m1 '"dnmsg"' "$LW_T_DIR/south.out" | cut -d' ' -f2-)
lw_t_eq "class C GsDown → dnmsg dC 2, RX2 only, no xtime" "2 8 923300000 false false" \
    "$(jq -r '"\(.dC) \(.RX2DR) \(.RX2Freq) \(has("RX1DR")) \(has("xtime"))"' <<<"$dn")"
lw_t_wait_line "$LW_T_DIR/gs.txack.jsonl" "\"downlink_id\":\"$DL2\"" 10 || true
lw_t_eq "class C dntxed → gs.txack SUCCESS in south" "SUCCESS south/app/cdev south" \
    "$(grep -m1 "\"downlink_id\":\"$DL2\"" "$LW_T_DIR/gs.txack.jsonl" | jq -r '"\(.result) \(.key) \(.envelope.tenant_id)"')"
lw_t_eq "north's station got no south downlink" 1 "$(grep -c '"dnmsg"' "$LW_T_DIR/north.out")"

# ---- timesync, pings, malformed messages ------------------------------------------------------
echo '{"msgtype": "timesync", "txtime": 803635260}' >&5
lw_t_wait_line "$LW_T_DIR/north.out" '"timesync"' 10 || true
lw_t_eq "timesync answered: txtime echoed, GPS time now" "803635260 true" \
    "$(grep -m1 '"timesync"' "$LW_T_DIR/north.out" | cut -d' ' -f2- | jq -r '"\(.txtime) \(.gpstime > 1400000000000000 and .MuxTime > 1700000000)"')"
lw_t_wait_line "$LW_T_DIR/north.out" '^ping$' 5 || true
lw_t_eq "the LNS pings the station" true "$(grep -q '^ping$' "$LW_T_DIR/north.out" && echo true)"
echo 'not json' >&5
echo '{"msgtype":"foo_bar"}' >&5
echo '{"msgtype":"updf","MHdr":64,"DevAddr":1,"FCtrl":1,"FCnt":0,"FOpts":"","FPort":1,"FRMPayload":"","MIC":0,"DR":0,"Freq":868100000,"upinfo":{"xtime":5}}' >&5
echo '{"msgtype": "updf", "MHdr": 128, "DevAddr": 16909060, "FCtrl": 3, "FCnt": 0, "FOpts": "067307", "FPort": 10, "FRMPayload": "E264D4F7", "MIC": -1059973151, "DR": 5, "Freq": 868100000, "upinfo": {"rctx": 0, "xtime": '$((XT_N + 3000000))', "rssi": -57, "snr": 7.25}}' >&5
lw_t_wait_line "$LW_T_DIR/gs.up.jsonl" '"key":"01020304"' 10 || true
lw_t_eq "after malformed messages the socket still carries uplinks" 80040302010300000673070ae264d4f7e117d2c0 \
    "$(grep -m1 '"key":"01020304"' "$LW_T_DIR/gs.up.jsonl" | jq -r .raw_payload)"
for reason in json msgtype field; do
    lw_t_eq "malformed message counted: $reason" 1 \
        "$(metric "lwstack_gs_dropped_total{protocol=\"basicstation\",reason=\"$reason\"}")"
done
lw_t_eq "gs.up of each tenant from its own station only" "north:n-gw south:s-gw" \
    "$(jq -r '"\(.envelope.tenant_id):\(.rx_metadata.gateway_ids.gateway_id)"' "$LW_T_DIR/gs.up.jsonl" | sort -u | tr '\n' ' ' | sed 's/ $//')"
lw_t_eq "uplinks counted for basicstation" 3 "$(metric 'lwstack_gs_uplinks_total{protocol="basicstation"}')"

# ---- suspension -----------------------------------------------------------------------------
r=$(lw_t_admin PUT "$api/tenants/north" -d '{"tenant":{"state":"STATE_SUSPENDED"},"field_mask":{"paths":["state"]}}')
lw_t_eq "suspend north" 200 "${r%% *}"
lw_t_wait_line "$LW_T_DIR/north.out" '^closed' 5 || true
lw_t_eq "north's station closed within 5 s" "closed 1000" "$(grep -m1 '^closed' "$LW_T_DIR/north.out")"
echo '{"msgtype": "timesync", "txtime": 42}' >&6
lw_t_wait_line "$LW_T_DIR/south.out" '"txtime":42' 5 || true
lw_t_eq "south's station carries on" 1 "$(grep -c '"txtime":42' "$LW_T_DIR/south.out")"
lw_t_eq "suspended tenant's station refused on reconnect" "http 403" \
    "$(tr1 "ws://127.0.0.1:$WS/traffic/eui-$N_EUI" | cut -d' ' -f1-2)"
exec 5>&- 6>&-

# ---- without allow-unauthenticated a station without a key is refused -----------------------
kill "$STACK_PID"
lw_t_wait_exit "$STACK_PID" 15
start_stack stack2
lw_t_eq "no key, allow-unauthenticated off → 401" "http 401" \
    "$(tr1 "ws://127.0.0.1:$WS/traffic/eui-$S_EUI" | cut -d' ' -f1-2)"
a=$(ri "ws://127.0.0.1:$WS/router-info" '"b827:ebff:fe12:3456"')
lw_t_eq "no key, allow-unauthenticated off → router-info error" true "$(jq 'has("error")' <<<"$a")"
lw_t_eq "with the key over wss still accepted" "\"router_config\"" \
    "$(timeout 10 python3 "$station" traffic "wss://127.0.0.1:$WSS/traffic/eui-$S_EUI" --cafile "$CA" --auth "Bearer $S_LINK" </dev/null | grep -m1 -o '"router_config"')"

lw_t_done
