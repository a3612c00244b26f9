#!/usr/bin/env bash
# The Gateway Server's merging of gateway copies and its gs.up.receive rate limit, against a
# running `lwstack start is gs` with real UDP (tests/integration/gs/gs_driver.c simulates the
# packet forwarders), gateways in two tenants:
#  - the copies of one frame (same PHYPayload, frequency, data rate) of one tenant's gateways
#    read in one loop turn are ONE lw.gs.up message: rx_metadata the first copy's,
#    more_rx_metadata the others', each with its own uplink_token; different frames, the same
#    frame on another frequency or data rate, and the other tenant's copy stay apart;
#  - gs.events.uplinks-per-gateway (default 10/1s): 15 uplinks of a gateway in one turn all
#    reach lw.gs.up, only 10 get a gs.up.receive event, per gateway; with 0 every one does.
# Datagrams of several gateways are read in one turn by stopping the stack (SIGSTOP) while
# they are sent, then letting it go on (SIGCONT): the GS reads what waits in its socket in
# one go. Each "exactly N" is checked after a later message on the same bus partition (the
# same DevAddr for lw.gs.up, the same tenant for lw.events) has arrived.
. "$(dirname "$0")/lib.sh"

drv="$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)/tests/integration/gs/gs_driver"
[ -x "$drv" ] || { echo "gs_driver not found at $drv" >&2; exit 1; }

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
api="http://127.0.0.1:$port/api/v3"
stack() { # NAME [extra args]
    local name=$1; shift
    lw_t_spawn "$name" --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" \
        --http.listen "127.0.0.1:$port" --tenancy.admin-keys "$LW_T_ADMIN_KEY" \
        --gs.udp.listen 127.0.0.1:0 --gs.basic-station.listen 127.0.0.1:0 \
        --tenancy.refresh-interval 1h "$@" start is gs
    STACK_PID=$LW_T_LAST_PID
    lw_t_wait_for "$name ready" 30 curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" || {
        tail -30 "$LW_T_DIR/$name.log" >&2
        exit 1
    }
    udp=$(sed -nE 's/.*semtech udp listening.* port=([0-9]+).*/\1/p' "$LW_T_DIR/$name.log" | head -1)
    [ -n "$udp" ] || { echo "no UDP port in $name.log" >&2; exit 1; }
}
stack stack
metric() { curl -sS "http://127.0.0.1:$port/metrics" | grep -F "$1" | awk '{print $NF}' | head -1; }

N_EUI=58a0cbfffe810001  # n-gw, north
N2_EUI=58a0cbfffe810003 # n-gw2, north
S_EUI=58a0cbfffe810002  # s-gw, south
NB_EUI=58a0cbfffe810005 # n-burst, north
SB_EUI=58a0cbfffe810006 # s-burst, south
for t in north south; do
    r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$t\"},\"state\":\"STATE_APPROVED\"},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"Secret-passw0rd\"}}")
    lw_t_eq "create tenant $t" 200 "${r%% *}"
done
# n-gw's antenna location is public (rx_metadata carries it), n-gw2's is not.
loc() { echo "\"antennas\":[{\"location\":{\"latitude\":$1,\"longitude\":$2,\"altitude\":$3,\"source\":\"SOURCE_REGISTRY\"}}],\"location_public\":$4,"; }
declare -A extra=([n-gw]="$(loc 52.3740301 4.8897 12 true)" [n-gw2]="$(loc 48.85 2.35 30 false)")
for g in "north n-gw $N_EUI" "north n-gw2 $N2_EUI" "south s-gw $S_EUI" "north n-burst $NB_EUI" "south s-burst $SB_EUI"; do
    set -- $g
    r=$(lw_t_adm "$1" POST /users/admin/gateways "{\"gateway\":{\"ids\":{\"gateway_id\":\"$2\",\"eui\":\"${3^^}\"},${extra[$2]:-}\"frequency_plan_id\":\"EU_863_870_TTN\"}}")
    lw_t_eq "$1: gateway $2" 200 "${r%% *}"
done

for topic in gs.up events; do
    "$drv" consume --brokers "$LW_T_BROKERS" --topic "$topic" --out "$LW_T_DIR/$topic.jsonl" \
        2>"$LW_T_DIR/consume-$topic.err" &
    LW_T_PIDS+=("$!")
    touch "$LW_T_DIR/$topic.jsonl"
done

# Simulated packet forwarders: commands on a FIFO (fd), received datagrams in NAME.out.
gateway() { # NAME FD
    local name=$1 fd=$2
    mkfifo "$LW_T_DIR/$name.in"
    "$drv" udp --to "127.0.0.1:$udp" <"$LW_T_DIR/$name.in" >"$LW_T_DIR/$name.out" 2>"$LW_T_DIR/$name.err" &
    LW_T_PIDS+=("$!")
    eval "exec $fd>\"$LW_T_DIR/$name.in\""
}
# sync NAME FD: returns once the forwarder has sent everything asked of it so far.
SYNC=0
sync_gw() {
    SYNC=$((SYNC + 1))
    echo "mark $SYNC" >&"$2"
    lw_t_wait_line "$LW_T_DIR/$1.out" "^mark $SYNC\$" 10 || true
}
# connect NAME FD EUI: a PULL_DATA, and its PULL_ACK.
CONNECTS=0
connect() {
    local tok
    CONNECTS=$((CONNECTS + 1))
    tok=$(printf '%04x' $((0xa000 + CONNECTS)))
    echo "pull 2 $tok $3" >&"$2"
    lw_t_wait_line "$LW_T_DIR/$1.out" "^recv 02${tok}04\$" 10 || true
    lw_t_eq "$1: PULL_ACK" 1 "$(grep -c "^recv 02${tok}04\$" "$LW_T_DIR/$1.out")"
}
hexb64() { printf '%b' "$(printf '%s' "$1" | sed 's/../\\x&/g')" | base64 -w0; }
# frame FCNT: an unconfirmed data uplink of DevAddr 26000011 (every frame of this test has
# it: one lw.gs.up partition, in order) with that FCnt, FPort 1.
frame() { printf '4011000026%s%02x%02x01aa11223344' 00 $(($1 & 255)) $(($1 >> 8)); }
# rx TMST FREQ DATR PHY_HEX RSSI RFCH: one rxpk object.
rx() {
    printf '{"time":"2026-12-01T10:00:00.5Z","tmst":%s,"chan":2,"rfch":%s,"freq":%s,"stat":1,"modu":"LORA","datr":"%s","codr":"4/5","rssi":%s,"lsnr":7.5,"size":%d,"data":"%s"}' \
        "$1" "$6" "$2" "$3" "$5" $(( ${#4} / 2 )) "$(hexb64 "$4")"
}
# push FD TOKEN EUI RXPK...: one PUSH_DATA carrying these rxpk.
push() {
    local fd=$1 tok=$2 eui=$3 list
    shift 3
    list=$(IFS=,; echo "$*")
    echo "push 2 $tok $eui {\"rxpk\":[$list]}" >&"$fd"
}
# The lw.gs.up messages of frame FCNT, as compact JSON lines.
ups() { jq -c --arg p "$(frame "$1")" 'select(.raw_payload == $p)' "$LW_T_DIR/gs.up.jsonl"; }
# sentinel FCNT: a lone uplink of n-gw after the others; once it is on lw.gs.up, so is
# everything published before it.
sentinel() {
    push 5 "$(printf '%04x' "$1")" "$N_EUI" "$(rx 9000000 868.5 SF7BW125 "$(frame "$1")" -40 0)"
    lw_t_wait_line "$LW_T_DIR/gs.up.jsonl" "\"raw_payload\":\"$(frame "$1")\"" 10 || true
}

gateway north 5
gateway south 6
gateway north2 7
connect north 5 "$N_EUI"
connect south 6 "$S_EUI"
connect north2 7 "$N2_EUI"
connect north 5 "$NB_EUI"
connect south 6 "$SB_EUI"

# ---- one datagram: copies of one frame, different frames, other frequency, other data rate
push 5 0a01 "$N_EUI" "$(rx 1000000 868.1 SF7BW125 "$(frame 1)" -50 0)" "$(rx 1000000 868.1 SF7BW125 "$(frame 1)" -60 1)"
push 5 0a02 "$N_EUI" "$(rx 1100000 868.1 SF7BW125 "$(frame 2)" -50 0)" "$(rx 1100000 868.1 SF7BW125 "$(frame 3)" -50 0)"
push 5 0a03 "$N_EUI" "$(rx 1200000 868.1 SF7BW125 "$(frame 4)" -50 0)" "$(rx 1200000 868.3 SF7BW125 "$(frame 4)" -50 0)"
push 5 0a04 "$N_EUI" "$(rx 1300000 868.1 SF7BW125 "$(frame 5)" -50 0)" "$(rx 1300000 868.1 SF8BW125 "$(frame 5)" -50 0)"
lw_t_wait_line "$LW_T_DIR/north.out" '^recv 020a0401$' 10 || true
lw_t_eq "PUSH_ACK for each of the four datagrams" 4 "$(grep -cE '^recv 020a0[1-4]01$' "$LW_T_DIR/north.out")"

# ---- one turn: the same frame from n-gw, n-gw2 (north) and s-gw (south) -------------------
kill -STOP "$STACK_PID"
push 5 0b01 "$N_EUI" "$(rx 2000000 868.1 SF7BW125 "$(frame 6)" -70 0)"
sync_gw north 5
push 7 0b02 "$N2_EUI" "$(rx 2100000 868.1 SF7BW125 "$(frame 6)" -80 0)"
sync_gw north2 7
push 6 0b03 "$S_EUI" "$(rx 2200000 868.1 SF7BW125 "$(frame 6)" -90 0)"
sync_gw south 6
# 15 uplinks of n-burst and of s-burst, each in one datagram.
nb=() sb=()
for i in $(seq 1 15); do
    nb+=("$(rx $((2500000 + i)) 868.1 SF7BW125 "$(frame $((100 + i)))" -50 0)")
    sb+=("$(rx $((2600000 + i)) 868.1 SF7BW125 "$(frame $((200 + i)))" -50 0)")
done
push 5 0c01 "$NB_EUI" "${nb[@]}"
sync_gw north 5
push 6 0c02 "$SB_EUI" "${sb[@]}"
sync_gw south 6
sleep 0.2 # loopback delivery is done when send(2) returns; this is a margin only
kill -CONT "$STACK_PID"
for g in "north 0b01" "north2 0b02" "south 0b03" "north 0c01" "south 0c02"; do
    set -- $g
    lw_t_wait_line "$LW_T_DIR/$1.out" "^recv 02${2}01\$" 10 || true
done
lw_t_eq "PUSH_ACK for each datagram sent while the stack was stopped" "1 1 1 1 1" \
    "$(for g in "north 0b01" "north2 0b02" "south 0b03" "north 0c01" "south 0c02"; do set -- $g; grep -c "^recv 02${2}01\$" "$LW_T_DIR/$1.out"; done | xargs)"
# Status of the burst gateways after their uplinks: sentinels on lw.events (one partition per
# tenant) for the event counts below.
echo "push 2 0d01 $NB_EUI {\"stat\":{\"time\":\"2026-12-01 10:00:00 GMT\",\"rxnb\":15,\"rxok\":15,\"rxfw\":15,\"ackr\":100.0,\"dwnb\":0,\"txnb\":0}}" >&5
echo "push 2 0d02 $SB_EUI {\"stat\":{\"time\":\"2026-12-01 10:00:00 GMT\",\"rxnb\":15,\"rxok\":15,\"rxfw\":15,\"ackr\":100.0,\"dwnb\":0,\"txnb\":0}}" >&6
sentinel 999

# Frame 1: two rxpk of one datagram (antennas 0 and 1): one message.
lw_t_eq "frame twice in one datagram (antenna 0 and 1) → ONE lw.gs.up message" 1 "$(ups 1 | wc -l)"
u=$(ups 1 | head -1)
lw_t_eq "… rx_metadata: n-gw north, antenna 0, rssi -50" "n-gw north 0 -50" \
    "$(jq -r '.rx_metadata | "\(.gateway_ids.gateway_id) \(.gateway_ids.tenant_id) \(.antenna_index) \(.rssi)"' <<<"$u")"
lw_t_eq "… more_rx_metadata: [n-gw north, antenna 1, rssi -60]" "1 n-gw north 1 -60" \
    "$(jq -r '.more_rx_metadata | "\(length) \(.[0].gateway_ids.gateway_id) \(.[0].gateway_ids.tenant_id) \(.[0].antenna_index) \(.[0].rssi)"' <<<"$u")"
lw_t_eq "… each copy its own uplink_token (41 bytes, naming n-gw)" "82 82 01$N_EUI 01$N_EUI true" \
    "$(jq -r '"\(.rx_metadata.uplink_token | length) \(.more_rx_metadata[0].uplink_token | length) \(.rx_metadata.uplink_token[0:18]) \(.more_rx_metadata[0].uplink_token[0:18]) \(.rx_metadata.uplink_token != .more_rx_metadata[0].uplink_token)"' <<<"$u")"
lw_t_eq "… envelope tenant north, settings of the frame" "north 868100000 1000000 7" \
    "$(jq -r '"\(.envelope.tenant_id) \(.settings.frequency) \(.settings.timestamp) \(.settings.data_rate.lora.spreading_factor)"' <<<"$u")"
lw_t_eq "… one gs.up.receive event per copy (antennas 0 and 1)" "0 1" \
    "$(jq -r 'select(.name == "gs.up.receive" and .data.rx_metadata[0].timestamp == 1000000) | .data.rx_metadata[0].antenna_index' "$LW_T_DIR/events.jsonl" | sort | xargs)"
# Frames 2 and 3: two frames in one datagram: two messages.
lw_t_eq "two different frames in one datagram → two messages, one copy each" "1 0 1 0" \
    "$(for f in 2 3; do ups $f | jq -r '"\(.more_rx_metadata | length)"' | wc -l; ups $f | jq -r '.more_rx_metadata | length'; done | xargs)"
# Frame 4 on 868.1 and 868.3; frame 5 at SF7 and SF8.
lw_t_eq "same frame on two frequencies in one datagram → two messages" "868100000:0 868300000:0" \
    "$(ups 4 | jq -r '"\(.settings.frequency):\(.more_rx_metadata | length)"' | sort | xargs)"
lw_t_eq "same frame at two data rates in one datagram → two messages" "7:0 8:0" \
    "$(ups 5 | jq -r '"\(.settings.data_rate.lora.spreading_factor):\(.more_rx_metadata | length)"' | sort | xargs)"
# Frame 6: n-gw, n-gw2 (north) and s-gw (south) in one turn.
lw_t_eq "same frame from three gateways in one turn → one message per tenant" "north south" \
    "$(ups 6 | jq -r .envelope.tenant_id | sort | xargs)"
lw_t_eq "north's: rx_metadata n-gw (read first), more_rx_metadata [n-gw2], all north" \
    "n-gw:north:2000000:-70 n-gw2:north:2100000:-80" \
    "$(ups 6 | jq -r 'select(.envelope.tenant_id == "north") | (.rx_metadata, .more_rx_metadata[]) | "\(.gateway_ids.gateway_id):\(.gateway_ids.tenant_id):\(.timestamp):\(.rssi)"' | xargs)"
lw_t_eq "north's: n-gw's copy with its public antenna location, n-gw2's (private) without" \
    '{"altitude":12,"latitude":52.3740301,"longitude":4.8897,"source":"SOURCE_REGISTRY"} null' \
    "$(ups 6 | jq -c -r 'select(.envelope.tenant_id == "north") | "\(.rx_metadata.location | tojson) \(.more_rx_metadata[0].location | tojson)"')"
lw_t_eq "south's: s-gw's copy alone, in south" "s-gw:south:2200000 0" \
    "$(ups 6 | jq -r 'select(.envelope.tenant_id == "south") | "\(.rx_metadata.gateway_ids.gateway_id):\(.rx_metadata.gateway_ids.tenant_id):\(.rx_metadata.timestamp) \(.more_rx_metadata | length)"')"
lw_t_eq "north's merged message names no south gateway, south's no north one" "0" \
    "$(ups 6 | jq -s '[.[] | .envelope.tenant_id as $t | (.rx_metadata, .more_rx_metadata[]) | select(.gateway_ids.tenant_id != $t)] | length')"

# ---- gs.events.uplinks-per-gateway (10/1s) --------------------------------------------------
lw_t_wait_line "$LW_T_DIR/events.jsonl" '"name":"gs.status.receive".*"n-burst"' 10 || true
lw_t_wait_line "$LW_T_DIR/events.jsonl" '"name":"gs.status.receive".*"s-burst"' 10 || true
rxs() { # GATEWAY LO HI: rx entries of that gateway on lw.gs.up with timestamps in [LO, HI]
    jq -r --arg g "$1" --argjson lo "$2" --argjson hi "$3" '(.rx_metadata, .more_rx_metadata[]) | select(.gateway_ids.gateway_id == $g and .timestamp >= $lo and .timestamp <= $hi) | .timestamp' "$LW_T_DIR/gs.up.jsonl" | sort -u | wc -l
}
receives() { # GATEWAY LO HI: gs.up.receive events of that gateway for those timestamps
    jq -r --arg g "$1" --argjson lo "$2" --argjson hi "$3" 'select(.name == "gs.up.receive" and .identifiers[0].gateway_ids.gateway_id == $g and .data.rx_metadata[0].timestamp >= $lo and .data.rx_metadata[0].timestamp <= $hi) | "\(.context["tenant-id"]) \(.data.rx_metadata[0].timestamp)"' "$LW_T_DIR/events.jsonl"
}
lw_t_eq "n-burst: 15 uplinks in one datagram → 15 copies on lw.gs.up" 15 "$(rxs n-burst 2500001 2500015)"
lw_t_eq "s-burst: 15 uplinks → 15 copies on lw.gs.up" 15 "$(rxs s-burst 2600001 2600015)"
lw_t_eq "n-burst: only 10 gs.up.receive events (the first 10), in north" \
    "10 north 2500001 north 2500010" \
    "$(receives n-burst 2500000 2500099 | sort -u | wc -l) $(receives n-burst 2500000 2500099 | sort -k2n | sed -n '1p;$p' | xargs)"
lw_t_eq "s-burst (same turn, other tenant): its own 10 events, in south" \
    "10 south 2600001 south 2600010" \
    "$(receives s-burst 2600000 2600099 | sort -u | wc -l) $(receives s-burst 2600000 2600099 | sort -k2n | sed -n '1p;$p' | xargs)"
lw_t_eq "every copy counted as an uplink" "$(jq '1 + (.more_rx_metadata | length)' "$LW_T_DIR/gs.up.jsonl" | awk '{ s += $1 } END { print s }')" \
    "$(metric 'lwstack_gs_uplinks_total{protocol="udp"}')"

exec 5>&- 6>&- 7>&-
kill -TERM "$STACK_PID"
lw_t_wait_exit "$STACK_PID" 15
lw_t_eq "the stack stops cleanly" 0 "$LW_T_RC"

# ---- gs.events.uplinks-per-gateway 0: an event per uplink ------------------------------------
stack stack2 --gs.events.uplinks-per-gateway 0
gateway north-b 5
gateway south-b 6
connect north-b 5 "$NB_EUI"
connect south-b 6 "$SB_EUI"
nb=() sb=()
for i in $(seq 1 15); do
    nb+=("$(rx $((3500000 + i)) 868.1 SF7BW125 "$(frame $((300 + i)))" -50 0)")
    sb+=("$(rx $((3600000 + i)) 868.1 SF7BW125 "$(frame $((400 + i)))" -50 0)")
done
push 5 0e01 "$NB_EUI" "${nb[@]}"
push 6 0e02 "$SB_EUI" "${sb[@]}"
echo "push 2 0e03 $NB_EUI {\"stat\":{\"time\":\"2026-12-01 10:00:01 GMT\",\"rxnb\":15,\"rxok\":15,\"rxfw\":15,\"ackr\":100.0,\"dwnb\":0,\"txnb\":0}}" >&5
echo "push 2 0e04 $SB_EUI {\"stat\":{\"time\":\"2026-12-01 10:00:01 GMT\",\"rxnb\":15,\"rxok\":15,\"rxfw\":15,\"ackr\":100.0,\"dwnb\":0,\"txnb\":0}}" >&6
lw_t_wait_line "$LW_T_DIR/events.jsonl" '"name":"gs.status.receive".*"n-burst"' 10 2 || true
lw_t_wait_line "$LW_T_DIR/events.jsonl" '"name":"gs.status.receive".*"s-burst"' 10 2 || true
lw_t_eq "limit 0: n-burst's 15 uplinks → 15 gs.up.receive events" 15 "$(receives n-burst 3500001 3500015 | sort -u | wc -l)"
lw_t_eq "limit 0: s-burst's 15 → 15 events, in south" "15 south" \
    "$(receives s-burst 3600001 3600015 | sort -u | wc -l) $(receives s-burst 3600001 3600015 | cut -d' ' -f1 | sort -u | xargs)"

exec 5>&- 6>&-
kill -TERM "$STACK_PID"
lw_t_wait_exit "$STACK_PID" 15
lw_t_eq "the second stack stops cleanly" 0 "$LW_T_RC"
lw_t_eq "no sanitizer report" 0 "$(cat "$LW_T_DIR/stack.log" "$LW_T_DIR/stack2.log" | grep -cE 'AddressSanitizer|LeakSanitizer|runtime error')"
lw_t_done
