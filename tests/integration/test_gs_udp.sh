#!/usr/bin/env bash
# The Gateway Server's Semtech UDP front-end against a running `lwstack start is gs` (issue 9
# items 2, 4, 5, 11): gateways registered through the Identity Server in two tenants talk real
# UDP datagrams (tests/integration/gs/gs_driver.c simulates the packet forwarders); PUSH_ACK
# and PULL_ACK bytes exact; the lw.gs.up message decoded field by field; an unknown EUI is not
# acknowledged and is counted; malformed datagrams are counted by reason; a GsDown on the bus
# becomes a PULL_RESP with the right tmst/freq/datr, the TX_ACK becomes a GsTxAck; a downlink
# without PULL_DATA is answered no_downlink_path; the connection stats API with rights; the
# gs.* events; a suspended tenant's gateway is disconnected and dropped within 5 s while the
# other tenant's gateway carries on.
. "$(dirname "$0")/lib.sh"

drv="$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)/tests/integration/gs/gs_driver"
[ -x "$drv" ] || { echo "gs_driver not found at $drv" >&2; exit 1; }

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
lw_t_spawn stack --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" \
    --http.listen "127.0.0.1:$port" --tenancy.admin-keys "$LW_T_ADMIN_KEY" \
    --gs.udp.listen 127.0.0.1:0 --gs.basic-station.listen 127.0.0.1:0 \
    --tenancy.refresh-interval 1h start is gs
STACK_PID=$LW_T_LAST_PID
lw_t_wait_for "stack ready" 30 curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" || {
    tail -30 "$LW_T_DIR/stack.log" >&2
    exit 1
}
udp=$(sed -nE 's/.*semtech udp listening.* port=([0-9]+).*/\1/p' "$LW_T_DIR/stack.log" | head -1)
[ -n "$udp" ] || { echo "no UDP port in the log" >&2; exit 1; }
api="http://127.0.0.1:$port/api/v3"
metrics() { curl -sS "http://127.0.0.1:$port/metrics" >"$LW_T_DIR/metrics.txt"; cat "$LW_T_DIR/metrics.txt"; }
metric() { metrics | grep -F "$1" | awk '{print $NF}' | head -1; }
body() { lw_t_body "$@"; }

N_EUI=58a0cbfffe800001
S_EUI=58a0cbfffe800002
X_EUI=58a0cbfffe8000ff
for t in north south; do
    r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$t\"},\"state\":\"STATE_APPROVED\"},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"Secret-passw0rd\"}}")
    lw_t_eq "create tenant $t" 200 "${r%% *}"
done
r=$(lw_t_adm north POST /users/admin/gateways "{\"gateway\":{\"ids\":{\"gateway_id\":\"n-gw\",\"eui\":\"${N_EUI^^}\"},\"frequency_plan_id\":\"EU_863_870_TTN\"}}")
lw_t_eq "north: gateway n-gw" 200 "${r%% *}"
r=$(lw_t_adm south POST /users/admin/gateways "{\"gateway\":{\"ids\":{\"gateway_id\":\"s-gw\",\"eui\":\"${S_EUI^^}\"},\"frequency_plan_id\":\"EU_863_870_TTN\"}}")
lw_t_eq "south: gateway s-gw" 200 "${r%% *}"
r=$(lw_t_adm north POST /gateways/n-gw/api-keys '{"name":"status","rights":["RIGHT_GATEWAY_STATUS_READ"]}')
N_KEY=$(body "$r" | jq -r .key)
r=$(lw_t_adm north POST /gateways/n-gw/api-keys '{"name":"info","rights":["RIGHT_GATEWAY_INFO"]}')
N_INFO_KEY=$(body "$r" | jq -r .key)
r=$(lw_t_adm south POST /gateways/s-gw/api-keys '{"name":"status","rights":["RIGHT_GATEWAY_STATUS_READ"]}')
S_KEY=$(body "$r" | jq -r .key)
[ -n "$N_KEY" ] && [ "$N_KEY" != null ] && [ -n "$S_KEY" ] || { echo "no API keys: $r" >&2; exit 1; }

# Bus readers (private groups from the beginning of each topic).
for topic in gs.up gs.txack events; do
    "$drv" consume --brokers "$LW_T_BROKERS" --topic "$topic" --out "$LW_T_DIR/$topic.jsonl" \
        2>"$LW_T_DIR/consume-$topic.err" &
    LW_T_PIDS+=("$!")
    touch "$LW_T_DIR/$topic.jsonl"
done

# Simulated packet forwarders: commands on a FIFO, received datagrams in NAME.out.
gateway() {
    local name=$1 fd=$2
    mkfifo "$LW_T_DIR/$name.in"
    "$drv" udp --to "127.0.0.1:$udp" <"$LW_T_DIR/$name.in" >"$LW_T_DIR/$name.out" 2>"$LW_T_DIR/$name.err" &
    LW_T_PIDS+=("$!")
    eval "exec $fd>\"$LW_T_DIR/$name.in\""
}
gateway north 5
gateway south 6
gateway stranger 7
hexb64() { printf '%b' "$(printf '%s' "$1" | sed 's/../\\x&/g')" | base64 -w0; }
rxpk() { # TMST FREQ DATR PHY_HEX
    local b64
    b64=$(hexb64 "$4")
    printf '{"rxpk":[{"time":"2026-12-01T10:00:00.5Z","tmst":%s,"chan":2,"rfch":0,"freq":%s,"stat":1,"modu":"LORA","datr":"%s","codr":"4/5","rssi":-57,"lsnr":7.5,"size":%d,"data":"%s"}]}' \
        "$1" "$2" "$3" $(( ${#4} / 2 )) "$b64"
}
DATA_UP=400100002600010001aa11223344 # DevAddr 26000001, FCnt 1, FPort 1
JOIN_REQ=00010000d07ed5b37031051c000ba304000100aabbccdd # JoinEUI 70b3d57ed0000001, DevEUI 0004a30b001c0531

# ---- PULL_DATA / PUSH_DATA and their acks ---------------------------------------------------
echo "pull 2 a1b2 $N_EUI" >&5
lw_t_wait_line "$LW_T_DIR/north.out" '^recv ' 10 || true
lw_t_eq "PULL_DATA v2 → PULL_ACK bytes" "recv 02a1b204" "$(grep -m1 '^recv ' "$LW_T_DIR/north.out")"
echo "push 2 c3d4 $N_EUI $(rxpk 1000000 868.1 SF7BW125 $DATA_UP)" >&5
lw_t_wait_line "$LW_T_DIR/north.out" '^recv 02c3d401$' 10 || true
lw_t_eq "PUSH_DATA v2 → PUSH_ACK bytes" 1 "$(grep -c '^recv 02c3d401$' "$LW_T_DIR/north.out")"
lw_t_wait_line "$LW_T_DIR/gs.up.jsonl" '"26000001"' 10 || true
up=$(grep -m1 '"key":"26000001"' "$LW_T_DIR/gs.up.jsonl")
lw_t_eq "gs.up: key is the DevAddr" 26000001 "$(jq -r .key <<<"$up")"
lw_t_eq "gs.up: envelope tenant, schema, id length" "north 1 32" \
    "$(jq -r '"\(.envelope.tenant_id) \(.envelope.schema_version) \(.envelope.id | length)"' <<<"$up")"
lw_t_eq "gs.up: raw_payload" "$DATA_UP" "$(jq -r .raw_payload <<<"$up")"
lw_t_eq "gs.up: gateway_ids" "n-gw $N_EUI north" \
    "$(jq -r '.rx_metadata.gateway_ids | "\(.gateway_id) \(.eui) \(.tenant_id)"' <<<"$up")"
lw_t_eq "gs.up: rx_metadata timestamp rssi snr channel antenna" "1000000 -57 7.5 2 0" \
    "$(jq -r '.rx_metadata | "\(.timestamp) \(.rssi) \(.snr) \(.channel_index) \(.antenna_index)"' <<<"$up")"
lw_t_eq "gs.up: settings" "868100000 1000000 7 125000 4/5" \
    "$(jq -r '.settings | "\(.frequency) \(.timestamp) \(.data_rate.lora.spreading_factor) \(.data_rate.lora.bandwidth) \(.data_rate.lora.coding_rate)"' <<<"$up")"
lw_t_eq "gs.up: uplink token names this gateway (41 bytes)" "82 01$N_EUI" \
    "$(jq -r '.rx_metadata.uplink_token | "\(length) \(.[0:18])"' <<<"$up")"
lw_t_eq "gs.up: rx_metadata.time from rxpk time, no gps_time without tmms" "1796119200500000000 0" \
    "$(jq -r '"\(.rx_metadata.time) \(.rx_metadata.gps_time)"' <<<"$up")"
lw_t_eq "gs.up: received_at set" true "$(jq '.received_at > 0 and .rx_metadata.received_at == .received_at' <<<"$up")"
TOKEN=$(jq -r .rx_metadata.uplink_token <<<"$up")

echo "push 1 0001 $N_EUI $(rxpk 1500000 868.3 SF9BW125 $JOIN_REQ)" >&5
lw_t_wait_line "$LW_T_DIR/north.out" '^recv 01000101$' 10 || true
lw_t_eq "PUSH_DATA v1 → PUSH_ACK v1 bytes" 1 "$(grep -c '^recv 01000101$' "$LW_T_DIR/north.out")"
lw_t_wait_line "$LW_T_DIR/gs.up.jsonl" '"key":"70b3d57ed00000010004a30b001c0531"' 10 || true
lw_t_eq "gs.up: a join-request is keyed JoinEUI+DevEUI" 1 \
    "$(grep -c '"key":"70b3d57ed00000010004a30b001c0531"' "$LW_T_DIR/gs.up.jsonl")"

# The south gateway: uplinks, no PULL_DATA.
echo "push 2 0101 $S_EUI $(rxpk 7000000 868.5 SF8BW125 $DATA_UP)" >&6
lw_t_wait_line "$LW_T_DIR/south.out" '^recv 02010101$' 10 || true
lw_t_eq "south: PUSH_ACK" 1 "$(grep -c '^recv 02010101$' "$LW_T_DIR/south.out")"
lw_t_wait_line "$LW_T_DIR/gs.up.jsonl" '"tenant_id":"south"' 10 || true
lw_t_eq "south's uplink on lw.gs.up in its own tenant" "south s-gw" \
    "$(grep '"gateway_id":"s-gw"' "$LW_T_DIR/gs.up.jsonl" | head -1 | jq -r '"\(.envelope.tenant_id) \(.rx_metadata.gateway_ids.gateway_id)"')"

# Another address claiming south's EUI within gs.udp.addr-change-block: dropped, not acked.
gateway spoof 8
echo "push 2 0bad $S_EUI $(rxpk 7100000 868.5 SF8BW125 $DATA_UP)" >&8
lw_t_wait_for "address_changed counted" 10 bash -c "curl -sS http://127.0.0.1:$port/metrics | grep -qF 'reason=\"address_changed\"} 1'"
lw_t_eq "PUSH_DATA of a connected EUI from another address: dropped, counted" 1 \
    "$(metric 'lwstack_gs_dropped_total{protocol="udp",reason="address_changed"}')"
lw_t_eq "PUSH_DATA from another address: not acknowledged" 0 "$(grep -c '^recv' "$LW_T_DIR/spoof.out" || true)"

# ---- unknown EUI and malformed datagrams ---------------------------------------------------
echo "push 2 beef $X_EUI $(rxpk 1000 868.1 SF7BW125 $DATA_UP)" >&7
echo "pull 2 bef0 $X_EUI" >&7
lw_t_wait_for "unknown_gateway counted" 10 bash -c "curl -sS http://127.0.0.1:$port/metrics | grep -qF 'lwstack_gs_dropped_total{protocol=\"udp\",reason=\"unknown_gateway\"} 2'"
lw_t_eq "unknown EUI: PUSH_DATA and PULL_DATA counted" 2 \
    "$(metric 'lwstack_gs_dropped_total{protocol="udp",reason="unknown_gateway"}')"
lw_t_eq "unknown EUI: never acknowledged" 0 "$(grep -c '^recv' "$LW_T_DIR/stranger.out")"
echo "send 02" >&7                                   # short
echo "send 09000102${N_EUI}" >&7                     # version 9
echo "send 0200010a${N_EUI}" >&7                     # identifier 10
echo "send 02000100${N_EUI}7b727870" >&7             # PUSH_DATA, JSON "{rxp"
echo "send 02000100${N_EUI}$(printf '{"rxpk":[{"tmst":1}]}' | od -An -tx1 | tr -d ' \n')" >&7 # no freq
echo "send 020001" >&7                               # short
lw_t_wait_for "malformed counted" 10 bash -c "curl -sS http://127.0.0.1:$port/metrics | grep -qF 'reason=\"missing_field\"} 1'"
for reason in "short 2" "bad_version 1" "unknown_identifier 1" "bad_json 1" "missing_field 1"; do
    set -- $reason
    lw_t_eq "malformed datagram counted: $1" "$2" "$(metric "lwstack_gs_dropped_total{protocol=\"udp\",reason=\"$1\"}")"
done
lw_t_eq "malformed datagrams: never acknowledged" 0 "$(grep -c '^recv' "$LW_T_DIR/stranger.out")"
lw_t_eq "still ready after malformed input" 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")"

# ---- downlinks ------------------------------------------------------------------------------
down() { "$drv" down --brokers "$LW_T_BROKERS" --key "$1" --json "$2" 2>>"$LW_T_DIR/down.err"; }
# A PULL_DATA keep-alive (the downlink path lasts gs.udp.downlink-path-expires) and a fresh
# uplink so the clock is recent; then the downlink in RX1 five seconds later (a
# join-accept delay: well beyond this machine's scheduling lead).
echo "pull 2 a1b3 $N_EUI" >&5
echo "push 2 c3d5 $N_EUI $(rxpk 2000000 868.1 SF7BW125 $DATA_UP)" >&5
lw_t_wait_line "$LW_T_DIR/north.out" '^recv 02c3d501$' 10 || true
lw_t_wait_line "$LW_T_DIR/gs.up.jsonl" '"timestamp":2000000' 10 || true
TOKEN=$(grep '"timestamp":2000000' "$LW_T_DIR/gs.up.jsonl" | head -1 | jq -r .rx_metadata.uplink_token)
spec() { # DOWNLINK_ID GATEWAY_TENANT GATEWAY_ID TOKEN TIMESTAMP
    printf '{"tenant_id":"north","gateway_ids":{"gateway_id":"%s","tenant_id":"%s"},"downlink_id":"%s","raw_payload":"60010000260000010001bb55667788","uplink_token":"%s","timing":"TIMESTAMP","timestamp":%s,"rx1_delay":5,"join_accept":false,"priority":3,"end_device_ids":{"application_id":"app","device_id":"dev"},"rx1":{"frequency":868100000,"sf":7,"bw":125000,"dr_index":5},"rx2":{"frequency":869525000,"sf":9,"bw":125000,"dr_index":3}}' \
        "$3" "$2" "$1" "$4" "$5"
}
DL1=000102030405060708090a0b0c0d0e0f
down north/n-gw "$(spec $DL1 north n-gw "$TOKEN" 2000000)"
lw_t_eq "gs.down published" 0 $?
lw_t_wait_line "$LW_T_DIR/north.out" '^json ' 10 || true
txpk=$(grep -m1 '^json ' "$LW_T_DIR/north.out" | cut -d' ' -f2-)
lw_t_eq "PULL_RESP txpk: tmst freq datr codr ipol size" "7000000 868.1 SF7BW125 4/5 true 15" \
    "$(jq -r '.txpk | "\(.tmst) \(.freq) \(.datr) \(.codr) \(.ipol) \(.size)"' <<<"$txpk")"
lw_t_eq "PULL_RESP txpk: data" "$(hexb64 60010000260000010001bb55667788)" "$(jq -r .txpk.data <<<"$txpk")"
resp=$(grep -m1 -B1 '^json ' "$LW_T_DIR/north.out" | head -1)
lw_t_eq "PULL_RESP header: version 2, identifier 3" "02 03" "${resp:5:2} ${resp:11:2}"
rtoken=${resp:7:4}
echo "txack 2 $rtoken $N_EUI {\"txpk_ack\":{\"error\":\"NONE\"}}" >&5
lw_t_wait_line "$LW_T_DIR/gs.txack.jsonl" "\"downlink_id\":\"$DL1\"" 10 || true
ack=$(grep -m1 "\"downlink_id\":\"$DL1\"" "$LW_T_DIR/gs.txack.jsonl")
lw_t_eq "gs.txack after TX_ACK: result window timestamp key tenant" "SUCCESS 1 7000000 north/app/dev north" \
    "$(jq -r '"\(.result) \(.rx_window) \(.timestamp) \(.key) \(.envelope.tenant_id)"' <<<"$ack")"
lw_t_eq "gs.txack: gateway and device ids" "n-gw north dev app" \
    "$(jq -r '"\(.gateway_ids.gateway_id) \(.gateway_ids.tenant_id) \(.end_device_ids.device_id) \(.end_device_ids.application_id)"' <<<"$ack")"

# A TX_ACK with an error → that result.
echo "pull 2 a1b4 $N_EUI" >&5
echo "push 2 c3d6 $N_EUI $(rxpk 3000000 868.1 SF7BW125 $DATA_UP)" >&5
lw_t_wait_line "$LW_T_DIR/gs.up.jsonl" '"timestamp":3000000' 10 || true
TOKEN=$(grep '"timestamp":3000000' "$LW_T_DIR/gs.up.jsonl" | head -1 | jq -r .rx_metadata.uplink_token)
DL2=100102030405060708090a0b0c0d0e0f
down north/n-gw "$(spec $DL2 north n-gw "$TOKEN" 3000000)"
lw_t_wait_line "$LW_T_DIR/north.out" '^json ' 10 2 || true
resp=$(grep -B1 '^json ' "$LW_T_DIR/north.out" | grep '^recv' | sed -n 2p)
lw_t_eq "second PULL_RESP at tmst 8000000" 8000000 "$(grep '^json ' "$LW_T_DIR/north.out" | sed -n 2p | cut -d' ' -f2- | jq .txpk.tmst)"
echo "txack 2 ${resp:7:4} $N_EUI {\"txpk_ack\":{\"error\":\"TOO_LATE\"}}" >&5
lw_t_wait_line "$LW_T_DIR/gs.txack.jsonl" "\"downlink_id\":\"$DL2\"" 10 || true
lw_t_eq "TX_ACK TOO_LATE → gs.txack TOO_LATE too_late" "TOO_LATE too_late TOO_LATE" \
    "$(grep -m1 "\"downlink_id\":\"$DL2\"" "$LW_T_DIR/gs.txack.jsonl" | jq -r '"\(.result) \(.error_name) \(.raw_error)"')"

# South's gateway never sent PULL_DATA: no downlink path.
TOKEN_S=$(grep '"gateway_id":"s-gw"' "$LW_T_DIR/gs.up.jsonl" | tail -1 | jq -r .rx_metadata.uplink_token)
TS_S=$(grep '"gateway_id":"s-gw"' "$LW_T_DIR/gs.up.jsonl" | tail -1 | jq -r .rx_metadata.timestamp)
DL3=200102030405060708090a0b0c0d0e0f
echo "push 2 0102 $S_EUI $(rxpk 9000000 868.5 SF8BW125 $DATA_UP)" >&6
lw_t_wait_line "$LW_T_DIR/gs.up.jsonl" '"timestamp":9000000' 10 || true
TOKEN_S=$(grep '"timestamp":9000000' "$LW_T_DIR/gs.up.jsonl" | head -1 | jq -r .rx_metadata.uplink_token)
down south/s-gw "$(spec $DL3 south s-gw "$TOKEN_S" 9000000 | sed 's/"tenant_id":"north","gateway_ids"/"tenant_id":"south","gateway_ids"/')"
lw_t_wait_line "$LW_T_DIR/gs.txack.jsonl" "\"downlink_id\":\"$DL3\"" 10 || true
lw_t_eq "downlink without PULL_DATA → no_downlink_path" "SCHEDULE_FAILED no_downlink_path south" \
    "$(grep -m1 "\"downlink_id\":\"$DL3\"" "$LW_T_DIR/gs.txack.jsonl" | jq -r '"\(.result) \(.error_name) \(.envelope.tenant_id)"')"
lw_t_eq "south received no PULL_RESP" 0 "$(grep -c '^json' "$LW_T_DIR/south.out")"
DL4=300102030405060708090a0b0c0d0e0f
down north/gone-gw "$(spec $DL4 north gone-gw "$TOKEN" 3000000)"
lw_t_wait_line "$LW_T_DIR/gs.txack.jsonl" "\"downlink_id\":\"$DL4\"" 10 || true
lw_t_eq "downlink for a gateway not connected → gateway_not_connected" "SCHEDULE_FAILED gateway_not_connected" \
    "$(grep -m1 "\"downlink_id\":\"$DL4\"" "$LW_T_DIR/gs.txack.jsonl" | jq -r '"\(.result) \(.error_name)"')"
DL5=400102030405060708090a0b0c0d0e0f
down north/n-gw "$(spec $DL5 north n-gw "$TOKEN" 3000000 | sed 's/"raw_payload":"[0-9a-f]*"/"raw_payload":""/')"
lw_t_wait_line "$LW_T_DIR/gs.txack.jsonl" "\"downlink_id\":\"$DL5\"" 10 || true
lw_t_eq "downlink without payload → invalid_downlink" "SCHEDULE_FAILED invalid_downlink" \
    "$(grep -m1 "\"downlink_id\":\"$DL5\"" "$LW_T_DIR/gs.txack.jsonl" | jq -r '"\(.result) \(.error_name)"')"

# ---- status and connection stats -----------------------------------------------------------
echo "push 2 0d0e $N_EUI {\"stat\":{\"time\":\"2026-12-01 10:00:00 GMT\",\"lati\":52.1,\"long\":4.3,\"alti\":10,\"rxnb\":5,\"rxok\":4,\"rxfw\":4,\"ackr\":100.0,\"dwnb\":2,\"txnb\":2}}" >&5
lw_t_wait_line "$LW_T_DIR/north.out" '^recv 020d0e01$' 10 || true
lw_t_wait_line "$LW_T_DIR/events.jsonl" '"name":"gs.status.receive"' 10 || true
r=$(lw_t_bearer "$N_KEY" north GET /gs/gateways/n-gw/connection/stats)
lw_t_eq "stats with RIGHT_GATEWAY_STATUS_READ → 200" 200 "${r%% *}"
s=$(body "$r")
lw_t_eq "stats: protocol, counts (uplinks, downlinks received, TX_ACK round trips)" "udp 4 3 2" \
    "$(jq -r '"\(.protocol) \(.uplink_count) \(.downlink_count) \(.round_trip_times.count)"' <<<"$s")"
lw_t_eq "stats: times present" "true true true true" \
    "$(jq -r '[has("connected_at"), has("last_uplink_received_at"), has("last_downlink_received_at"), has("last_status_received_at")] | map(tostring) | join(" ")' <<<"$s")"
lw_t_eq "stats: last_status metrics and location" "5 4 52.1 4.3" \
    "$(jq -r '.last_status | "\(.metrics.rxin) \(.metrics.rxok) \(.antenna_locations[0].latitude) \(.antenna_locations[0].longitude)"' <<<"$s")"
lw_t_eq "stats: round trip times are durations" true \
    "$(jq '.round_trip_times | (.min | test("^[0-9.]+s$")) and (.median | test("^[0-9.]+s$"))' <<<"$s")"
lw_t_eq "stats: EU868 sub-bands with limits" "true" \
    "$(jq '(.sub_bands | length) > 0 and (.sub_bands | map(.downlink_utilization_limit > 0) | all)' <<<"$s")"
r=$(lw_t_bearer "$N_INFO_KEY" north GET /gs/gateways/n-gw/connection/stats)
lw_t_eq "stats without RIGHT_GATEWAY_STATUS_READ → 403" "403" "${r%% *}"
r=$(lw_t_http GET "$api/gs/gateways/n-gw/connection/stats" -H "X-Tenant-ID: north")
lw_t_eq "stats without credentials → 401" 401 "${r%% *}"
r=$(lw_t_bearer "$N_KEY" south GET /gs/gateways/s-gw/connection/stats)
lw_t_eq "north's key in tenant south → 401" 401 "${r%% *}"
r=$(lw_t_bearer "$S_KEY" south GET /gs/gateways/s-gw/connection/stats)
lw_t_eq "south's stats with its own key" "200 udp 2 1" "${r%% *} $(body "$r" | jq -r '"\(.protocol) \(.uplink_count) \(.downlink_count)"')"

# ---- events ---------------------------------------------------------------------------------
for ev in gs.gateway.connect gs.up.receive gs.status.receive gs.down.send gs.down.tx.success gs.down.tx.fail; do
    lw_t_eq "event $ev for n-gw in tenant north" true \
        "$(grep "\"name\":\"$ev\"" "$LW_T_DIR/events.jsonl" | jq -s 'map(select(.identifiers[0].gateway_ids.gateway_id == "n-gw" and .context["tenant-id"] == "north")) | length > 0')"
done
lw_t_eq "events of s-gw are south's only" 0 \
    "$(grep '"gateway_id":"s-gw"' "$LW_T_DIR/events.jsonl" | jq -s 'map(select(.context["tenant-id"] != "south")) | length')"

# ---- registry changes reach the cache --------------------------------------------------------
# The stranger's EUI was looked up (not found, cached as such); registering it in south makes
# it welcome at once (gateway.create drops the negative answers).
r=$(lw_t_adm south POST /users/admin/gateways "{\"gateway\":{\"ids\":{\"gateway_id\":\"x-gw\",\"eui\":\"${X_EUI^^}\"},\"frequency_plan_id\":\"EU_863_870_TTN\"}}")
lw_t_eq "south: register the stranger's EUI as x-gw" 200 "${r%% *}"
for i in $(seq 1 50); do
    tok=$(printf '%04x' $((0x7000 + i)))
    echo "push 2 $tok $X_EUI $(rxpk $((20000000 + i)) 868.1 SF7BW125 $DATA_UP)" >&7
    sleep 0.2
    grep -q "^recv 02${tok}01$" "$LW_T_DIR/stranger.out" && break
done
acks=$(grep -c '^recv 02....01$' "$LW_T_DIR/stranger.out" || true)
lw_t_wait_line "$LW_T_DIR/gs.up.jsonl" '"gateway_id":"x-gw"' 10 || true
lw_t_eq "registered EUI: acknowledged, its uplinks in south" "true south" \
    "$([ "$acks" -ge 1 ] && echo true) $(grep '"gateway_id":"x-gw"' "$LW_T_DIR/gs.up.jsonl" | head -1 | jq -r .envelope.tenant_id)"
r=$(lw_t_adm south DELETE /gateways/x-gw)
lw_t_eq "south: delete x-gw" 200 "${r%% *}"
lw_t_wait_for "x-gw disconnected" 10 bash -c "grep '\"name\":\"gs.gateway.disconnect\"' '$LW_T_DIR/events.jsonl' | grep -q '\"x-gw\"'"
lw_t_eq "deleted gateway: disconnected with an event naming why" "gateway deleted" \
    "$(grep '"name":"gs.gateway.disconnect"' "$LW_T_DIR/events.jsonl" | jq -r 'select(.identifiers[0].gateway_ids.gateway_id == "x-gw") | .data.error')"
n_before=$(grep -c '^recv' "$LW_T_DIR/stranger.out" || true)
echo "push 2 7fff $X_EUI $(rxpk 30000000 868.1 SF7BW125 $DATA_UP)" >&7
sleep 1
lw_t_eq "deleted gateway: its datagrams are not acknowledged" "$n_before" "$(grep -c '^recv' "$LW_T_DIR/stranger.out")"

# schedule_downlink_late turned on through the IS: the connected gateway's settings are
# re-read (gateway.update) and its next downlink is handed over just before its time.
r=$(lw_t_adm north PUT /gateways/n-gw '{"gateway":{"schedule_downlink_late":true},"field_mask":{"paths":["schedule_downlink_late"]}}')
lw_t_eq "north: n-gw schedules downlinks late" "200 true" "${r%% *} $(body "$r" | jq -r .schedule_downlink_late)"
sleep 1 # the gateway.update event reaches the GS, which re-reads the gateway
echo "pull 2 a1b5 $N_EUI" >&5
echo "push 2 c3d7 $N_EUI $(rxpk 40000000 868.1 SF7BW125 $DATA_UP)" >&5
lw_t_wait_line "$LW_T_DIR/gs.up.jsonl" '"timestamp":40000000' 10 || true
TOKEN=$(grep '"timestamp":40000000' "$LW_T_DIR/gs.up.jsonl" | head -1 | jq -r .rx_metadata.uplink_token)
DL6=500102030405060708090a0b0c0d0e0f
n_resp=$(grep -c '^json ' "$LW_T_DIR/north.out")
down north/n-gw "$(spec $DL6 north n-gw "$TOKEN" 40000000)"
sleep 1
lw_t_eq "schedule late: nothing handed over a second after the GsDown (RX1 is 5 s after the uplink)" \
    "$n_resp" "$(grep -c '^json ' "$LW_T_DIR/north.out")"
lw_t_wait_line "$LW_T_DIR/north.out" '^json ' 10 $((n_resp + 1)) || true
lw_t_eq "schedule late: then the PULL_RESP for tmst 45000000" 45000000 \
    "$(grep '^json ' "$LW_T_DIR/north.out" | sed -n "$((n_resp + 1))p" | cut -d' ' -f2- | jq .txpk.tmst)"
resp=$(grep '^recv 02....03' "$LW_T_DIR/north.out" | tail -1)
echo "txack 2 ${resp:7:4} $N_EUI {\"txpk_ack\":{\"error\":\"NONE\"}}" >&5
lw_t_wait_line "$LW_T_DIR/gs.txack.jsonl" "\"downlink_id\":\"$DL6\"" 10 || true
lw_t_eq "schedule late: gs.txack SUCCESS in RX1" "SUCCESS 1" \
    "$(grep -m1 "\"downlink_id\":\"$DL6\"" "$LW_T_DIR/gs.txack.jsonl" | jq -r '"\(.result) \(.rx_window)"')"

# ---- suspension -----------------------------------------------------------------------------
ups_north=$(grep -c '"tenant_id":"north","correlation_ids"' "$LW_T_DIR/gs.up.jsonl" || true)
ups_north=$(jq -s 'map(select(.envelope.tenant_id == "north")) | length' "$LW_T_DIR/gs.up.jsonl")
t0=$(date +%s%N)
r=$(lw_t_admin PUT "$api/tenants/north" -d '{"tenant":{"state":"STATE_SUSPENDED"},"field_mask":{"paths":["state"]}}')
lw_t_eq "suspend north" 200 "${r%% *}"
lw_t_wait_line "$LW_T_DIR/events.jsonl" '"name":"gs.gateway.disconnect".*"gateway_id":"n-gw"' 5 || true
t1=$(date +%s%N)
echo "suspension → gs.gateway.disconnect in $(( (t1 - t0) / 1000000 )) ms"
lw_t_eq "north's gateway disconnected with an event" 1 \
    "$(grep '"name":"gs.gateway.disconnect"' "$LW_T_DIR/events.jsonl" | jq -s 'map(select(.identifiers[0].gateway_ids.gateway_id == "n-gw")) | length')"
echo "push 2 dead $N_EUI $(rxpk 4000000 868.1 SF7BW125 $DATA_UP)" >&5
echo "push 2 0103 $S_EUI $(rxpk 11000000 868.5 SF8BW125 $DATA_UP)" >&6
lw_t_wait_line "$LW_T_DIR/south.out" '^recv 02010301$' 10 || true
lw_t_wait_line "$LW_T_DIR/gs.up.jsonl" '"timestamp":11000000' 10 || true
lw_t_eq "south's gateway still acked and forwarded" "1 1" \
    "$(grep -c '^recv 02010301$' "$LW_T_DIR/south.out") $(grep -c '"timestamp":11000000' "$LW_T_DIR/gs.up.jsonl")"
lw_t_eq "suspended tenant's gateway: no ack" 0 "$(grep -c '^recv 02dead01$' "$LW_T_DIR/north.out")"
lw_t_eq "suspended tenant's gateway: dropped and counted" 1 \
    "$(metric 'lwstack_gs_dropped_total{protocol="udp",reason="tenant_not_active"}')"
lw_t_eq "no new uplink of north on lw.gs.up" "$ups_north" \
    "$(jq -s 'map(select(.envelope.tenant_id == "north")) | length' "$LW_T_DIR/gs.up.jsonl")"
lw_t_eq "uplinks counted per protocol" "$(jq -s length "$LW_T_DIR/gs.up.jsonl")" \
    "$(metric 'lwstack_gs_uplinks_total{protocol="udp"}')"

exec 5>&- 6>&- 7>&- 8>&-
kill -TERM "$STACK_PID"
lw_t_wait_exit "$STACK_PID" 15
lw_t_eq "the stack stops cleanly" 0 "$LW_T_RC"
lw_t_eq "no sanitizer report" 0 "$(grep -cE 'AddressSanitizer|LeakSanitizer|runtime error' "$LW_T_DIR/stack.log")"
lw_t_done
