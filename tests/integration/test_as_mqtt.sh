#!/usr/bin/env bash
# The Application Server's MQTT server (components/as/mqtt_server.c, issue 10 item 4) with
# real clients over TCP: Debian's mosquitto_sub / mosquitto_pub and Eclipse Paho
# (python3-paho-mqtt), MQTT 3.1.1 and 5.0, two tenants (acme, globex) that both have an
# application `app1`, and a suspended tenant (initech). The server runs alone in
# tests/integration/as/mqtt_harness.c, which answers its auth callback from a key table and
# publishes on command; the wiring into the AS and its rights checks are tested by
# test_as_mqtt_stack.sh.
#
# Checks: CONNACK by key and tenant (wrong key, other tenant's key, key without traffic
# rights, suspended tenant, bad user name, will message) for both versions; subscriptions
# narrowed as TTS does and refused outside the client's application; a read-only key cannot
# publish downlinks; a client of acme never receives globex's `app1`; QoS 1 persistent
# sessions (mosquitto -c and Paho clean_session=False / 5.0 session expiry) receive what was
# published while away, in order, up to as.mqtt.session-queue; a subscriber that never reads
# is disconnected (slow_subscriber) while another keeps receiving everything; keepalive;
# malformed packets; QoS 2 refused; a tenant's connections closed on demand.
. "$(dirname "$0")/lib.sh"

build="$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)"
harness="$build/tests/integration/as/as_mqtt_harness"
clients="$LWSTACK_SRC/tests/integration/as/mqtt_clients.py"
[ -x "$harness" ] || { echo "as_mqtt_harness not found at $harness" >&2; exit 1; }
command -v mosquitto_sub >/dev/null || { echo "mosquitto-clients missing (ops/install)" >&2; exit 1; }
# Debian's python3-paho-mqtt is installed for Debian's python3 (a python3 earlier on PATH,
# e.g. pyenv's, may not see it).
PY=python3
/usr/bin/python3 -c 'import paho.mqtt' 2>/dev/null && PY=/usr/bin/python3
"$PY" -c 'import paho.mqtt' 2>/dev/null || { echo "python3-paho-mqtt missing (ops/install)" >&2; exit 1; }

# A development certificate for MQTT over TLS.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$LW_T_DIR/key.pem" -out "$LW_T_DIR/cert.pem" 2>/dev/null
# A harness with its stdin on a FIFO (fd 7) and its stdout in $LW_T_DIR/harness.out.
mkfifo "$LW_T_DIR/h.in"
exec 7<>"$LW_T_DIR/h.in" # read-write: opening does not wait for the other end
"$harness" \
    --key acme:app1:k-acme-rw:rw --key acme:app2:k-acme2-r:r --key acme:app3:k-acme3-none:- \
    --key globex:app1:k-globex-rw:rw --key initech:app1:k-initech-rw:rw --suspended initech \
    --session-queue 5 --output-cap 65536 --tls "$LW_T_DIR/cert.pem:$LW_T_DIR/key.pem" <&7 >"$LW_T_DIR/harness.out" 2>"$LW_T_DIR/harness.err" &
LW_T_PIDS+=($!)
H=$LW_T_DIR/harness.out
lw_t_wait_for "harness port" 10 grep -q '^port ' "$H"
port=$(sed -n 's/^port //p' "$H")
tport=$(sed -n 's/^tls-port //p' "$H")

# h CMD PREFIX: sends CMD, waits for the next line starting with PREFIX, prints it.
h() {
    local before
    before=$(grep -c "^$2" "$H" || true)
    echo "$1" >&7
    lw_t_wait_for "harness: $1" 30 bash -c "[ \$(grep -c '^$2' '$H') -gt $before ]"
    grep "^$2" "$H" | tail -1
}
stat() { h stats stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
py() { "$PY" "$clients" "$@"; }
sub_bg() { # NAME ARGS...: mosquitto_sub in the background, output in $LW_T_DIR/NAME.out
    local name=$1; shift
    lw_t_bg "$name" mosquitto_sub -h 127.0.0.1 -p "$port" "$@"
}
# Waits until the server counts $1 open connections.
conns() {
    local end=$((SECONDS + 10))
    while [ "$(stat connections)" != "$1" ]; do
        [ $SECONDS -lt $end ] || { echo "timed out waiting for $1 connections" >&2; return 1; }
        sleep 0.1
    done
}

# ---- CONNECT: keys, tenants, rights ---------------------------------------------------------
for v in 3 5; do
    V=$([ $v = 3 ] && echo mqttv311 || echo mqttv5)
    want_denied=$([ $v = 3 ] && echo 5 || echo 135)
    lw_t_eq "$V: acme's key for app1@acme accepted" "rc 0" "$(py connect "$port" $v app1@acme k-acme-rw)"
    lw_t_eq "$V: a wrong key → not authorized" "rc $want_denied" "$(py connect "$port" $v app1@acme wrong)"
    lw_t_eq "$V: globex's key for app1@acme → not authorized" "rc $want_denied" \
        "$(py connect "$port" $v app1@acme k-globex-rw)"
    lw_t_eq "$V: acme's key for app1@globex → not authorized" "rc $want_denied" \
        "$(py connect "$port" $v app1@globex k-acme-rw)"
    lw_t_eq "$V: a key without traffic rights → not authorized" "rc $want_denied" \
        "$(py connect "$port" $v app3@acme k-acme3-none)"
    lw_t_eq "$V: a suspended tenant's key → not authorized" "rc $want_denied" \
        "$(py connect "$port" $v app1@initech k-initech-rw)"
    lw_t_eq "$V: a user name without tenant → bad user name or password" \
        "rc $([ $v = 3 ] && echo 4 || echo 134)" "$(py connect "$port" $v app1 k-acme-rw)"
    lw_t_eq "$V: a will message is refused" "rc $([ $v = 3 ] && echo 5 || echo 131)" \
        "$(py connect "$port" $v app1@acme k-acme-rw will)"
    out=$(mosquitto_pub -h 127.0.0.1 -p "$port" -V $V -u app1@acme -P wrong -t x -m y 2>&1 || true)
    lw_t_eq "$V: mosquitto_pub with a wrong key is refused" "yes" \
        "$(grep -qi 'not authori[sz]ed' <<<"$out" && echo yes || echo "no: $out")"
done
lw_t_eq "globex's key for app1@globex accepted" "rc 0" "$(py connect "$port" 3 app1@globex k-globex-rw)"

# ---- subscriptions -------------------------------------------------------------------------
lw_t_eq "3.1.1: own filters granted (QoS 2 → 1), other applications refused" \
    "granted 0x01 0x00 0x01 0x80 0x80 0x80 0x80" \
    "$(py subscribe "$port" 3 app1@acme k-acme-rw 'v3/app1@acme/devices/+/up:2' '#:0' \
        'v3/+/devices/dev1/join:1' 'v3/app1@globex/#:0' 'v3/app2@acme/#:0' '+/app1@acme/#:0' '$SYS/#:0')"
lw_t_eq "5.0: other tenant's application refused with 0x87, shared subscription 0x9e" \
    "granted 0x01 0x87 0x9e" \
    "$(py subscribe "$port" 5 app1@acme k-acme-rw 'v3/#:1' 'v3/app1@globex/#:1' '$share/g/v3/app1@acme/#:0')"

# acme's and globex's `app1` each get their own messages only, whatever the filter.
sub_bg acme_all -V mqttv311 -u app1@acme -P k-acme-rw -t '#' -v -C 3
sub_bg globex_all -V mqttv5 -u app1@globex -P k-globex-rw -t 'v3/+/devices/+/up' -v -C 1
sleep 0.3
conns 2
lw_t_eq "an acme uplink reaches acme's subscriber only" "published 1" \
    "$(h 'publish acme app1 dev1 up {"n":1}' published)"
lw_t_eq "a globex uplink reaches globex's subscriber only" "published 1" \
    "$(h 'publish globex app1 dev1 up {"n":2}' published)"
h 'publish acme app1 dev1 join {"n":3}' published >/dev/null
h 'publish acme app1 dev2 down/ack {"n":4}' published >/dev/null
lw_t_eq "an application nobody listens to: no session" "published 0" \
    "$(h 'publish acme app2 dev1 up {"n":5}' published)"
lw_t_wait_for "acme subscriber done" 10 bash -c "[ \$(wc -l <'$LW_T_DIR/acme_all.out') -ge 3 ]"
lw_t_eq "acme's '#' (narrowed to v3/app1@acme/#) got its three messages" \
    'v3/app1@acme/devices/dev1/up {"n":1}
v3/app1@acme/devices/dev1/join {"n":3}
v3/app1@acme/devices/dev2/down/ack {"n":4}' "$(cat "$LW_T_DIR/acme_all.out")"
lw_t_wait_for "globex subscriber done" 10 bash -c "[ -s '$LW_T_DIR/globex_all.out' ]"
lw_t_eq "globex's v3/+/devices/+/up got globex's uplink only" 'v3/app1@globex/devices/dev1/up {"n":2}' \
    "$(cat "$LW_T_DIR/globex_all.out")"

# ---- downlinks -----------------------------------------------------------------------------
for v in mqttv311 mqttv5; do
    mosquitto_pub -h 127.0.0.1 -p "$port" -V $v -u app1@acme -P k-acme-rw -q 1 \
        -t v3/app1@acme/devices/dev1/down/push -m "{\"downlinks\":[{\"f_port\":1,\"frm_payload\":\"AQ==\"}]}"
    lw_t_eq "$v: a QoS 1 down/push is handed to the AS" \
        'downlink acme app1 dev1 push {"downlinks":[{"f_port":1,"frm_payload":"AQ=="}]}' \
        "$(grep '^downlink' "$H" | tail -1)"
done
mosquitto_pub -h 127.0.0.1 -p "$port" -u app1@globex -P k-globex-rw -t v3/app1@globex/devices/dev9/down/replace -m '{"downlinks":[]}'
lw_t_eq "globex's down/replace names globex" 'downlink globex app1 dev9 replace {"downlinks":[]}' \
    "$(grep '^downlink' "$H" | tail -1)"
denied0=$(stat downlinks_denied)
mosquitto_pub -h 127.0.0.1 -p "$port" -u app2@acme -P k-acme2-r -q 1 -t v3/app2@acme/devices/dev1/down/push -m '{"downlinks":[]}'
mosquitto_pub -h 127.0.0.1 -p "$port" -u app1@acme -P k-acme-rw -q 1 -t v3/app1@globex/devices/dev1/down/push -m '{"downlinks":[]}'
mosquitto_pub -h 127.0.0.1 -p "$port" -u app1@acme -P k-acme-rw -q 1 -t v3/app1@acme/devices/dev1/up -m '{}'
lw_t_eq "read-only key, another tenant's topic, an up topic: three publishes denied" "$((denied0 + 3))" \
    "$(stat downlinks_denied)"
lw_t_eq "... and none reached the AS" "3" "$(grep -c '^downlink' "$H")"
out=$(mosquitto_pub -h 127.0.0.1 -p "$port" -u app1@acme -P k-acme-rw -q 2 -t v3/app1@acme/devices/dev1/down/push -m '{"downlinks":[]}' 2>&1 || true)
lw_t_eq "QoS 2 publish: connection closed, nothing handed over" "3" "$(grep -c '^downlink' "$H")"

# ---- persistent sessions -------------------------------------------------------------------
# mosquitto_sub -c (3.1.1 clean session 0) subscribes at QoS 1 and leaves; 8 uplinks while it
# is away; it comes back and gets the first 5 (as.mqtt.session-queue) in order, the rest
# counted as dropped.
mosquitto_sub -h 127.0.0.1 -p "$port" -u app1@acme -P k-acme-rw -c -i mosq-pers -q 1 \
    -t 'v3/app1@acme/devices/+/up' -W 1 >/dev/null 2>&1 || true
conns 0
dropped0=$(stat dropped_queue_full)
h 'publishn 8 acme app1 dev1 up 40' published >/dev/null
lw_t_eq "8 published while away, 3 over the queue limit" "$((dropped0 + 3))" "$(stat dropped_queue_full)"
out=$(timeout 10 mosquitto_sub -h 127.0.0.1 -p "$port" -u app1@acme -P k-acme-rw -c -i mosq-pers -q 1 \
    -t 'v3/app1@acme/devices/+/up' -C 5 | sed -E 's/"pad":"x*"//')
lw_t_eq "mosquitto_sub -c back: the 5 queued, in order" \
    '{"n":0,}
{"n":1,}
{"n":2,}
{"n":3,}
{"n":4,}' "$out"
# The same with Paho, 3.1.1 and 5.0 (session expiry 3600 s), and a client of another
# application with the same client ID: its own session, nothing of acme's.
for v in 3 5; do
    py receive "$port" $v app1@acme k-acme-rw 'v3/app1@acme/devices/+/up' 1 0 0.2 paho-pers-$v persistent >/dev/null
    py receive "$port" $v app1@globex k-globex-rw 'v3/app1@globex/devices/+/up' 1 0 0.2 paho-pers-$v persistent >/dev/null
    conns 0
    h 'publishn 3 acme app1 dev7 up 20' published >/dev/null
    out=$(py receive "$port" $v app1@acme k-acme-rw 'v3/app1@acme/devices/+/up' 1 3 5 paho-pers-$v persistent | sed -E 's/"pad":"x*"//')
    lw_t_eq "Paho $v persistent session: the 3 published while away" \
        'subscribed
got 3
v3/app1@acme/devices/dev7/up {"n":0,}
v3/app1@acme/devices/dev7/up {"n":1,}
v3/app1@acme/devices/dev7/up {"n":2,}' "$out"
    out=$(py receive "$port" $v app1@globex k-globex-rw 'v3/app1@globex/devices/+/up' 1 1 0.5 paho-pers-$v persistent)
    lw_t_eq "Paho $v: globex's session with the same client ID got nothing of acme's" \
        'subscribed
got 0' "$out"
done
out=$(py receive "$port" 3 app1@acme k-acme-rw 'v3/app1@acme/devices/+/up' 1 1 0.5 paho-clean)
h 'publishn 2 acme app1 dev7 up 20' published >/dev/null
out=$(py receive "$port" 3 app1@acme k-acme-rw 'v3/app1@acme/devices/+/up' 1 1 0.5 paho-clean)
lw_t_eq "a clean session keeps nothing" 'subscribed
got 0' "$out"

# ---- a slow subscriber ---------------------------------------------------------------------
# A second server with as.mqtt.session-queue 200 and 64 KiB of output per connection. A raw
# client with a 4 KiB receive buffer that never reads, and mosquitto_sub reading; 5000
# uplinks of 2 KB (10 MB, more than the kernel buffers hold): the slow one lags, then is
# disconnected (slow_subscriber); the other gets all 5000 in order.
mkfifo "$LW_T_DIR/h2.in"
exec 8<>"$LW_T_DIR/h2.in"
"$harness" --key acme:app1:k-acme-rw:rw --session-queue 200 --output-cap 65536 \
    <&8 >"$LW_T_DIR/harness2.out" 2>"$LW_T_DIR/harness2.err" &
LW_T_PIDS+=($!)
H2=$LW_T_DIR/harness2.out
lw_t_wait_for "harness2 port" 10 grep -q '^port ' "$H2"
port2=$(sed -n 's/^port //p' "$H2")
h2() {
    local before
    before=$(grep -c "^$2" "$H2" || true)
    echo "$1" >&8
    lw_t_wait_for "harness2: $1" 60 bash -c "[ \$(grep -c '^$2' '$H2') -gt $before ]"
    grep "^$2" "$H2" | tail -1
}
stat2() { h2 stats stats | tr ' ' '\n' | sed -n "s/^$1=//p"; }
lw_t_bg slow "$PY" "$clients" slow "$port2" app1@acme k-acme-rw 'v3/app1@acme/devices/+/up' 8
lw_t_bg fast mosquitto_sub -h 127.0.0.1 -p "$port2" -u app1@acme -P k-acme-rw \
    -t 'v3/app1@acme/devices/+/up' -C 5000
lw_t_wait_for "slow subscribed" 10 grep -q subscribed "$LW_T_DIR/slow.out"
end=$((SECONDS + 10))
while [ "$(stat2 connections)" != 2 ] && [ $SECONDS -lt $end ]; do sleep 0.1; done
sleep 0.3 # mosquitto_sub's SUBSCRIBE
h2 'publishn 5000 acme app1 dev1 up 2000' published >/dev/null
lw_t_wait_for "fast got 5000" 30 bash -c "[ \$(wc -l <'$LW_T_DIR/fast.out') -ge 5000 ]" || true
lw_t_eq "the reading subscriber got all 5000, in order" "0 4999 5000" \
    "$(sed -E 's/^\{"n":([0-9]+).*/\1/' "$LW_T_DIR/fast.out" | awk 'NR==1{f=$1} {if ($1 != NR-1) bad=1; l=$1} END{print (bad?"out of order ":"") f, l, NR}')"
lw_t_eq "the slow one was disconnected once (slow_subscriber)" "1" "$(stat2 slow_disconnects)"
lw_t_wait_for "slow client done" 20 grep -qE '^(closed|open)' "$LW_T_DIR/slow.out"
lw_t_eq "the slow client saw its connection closed" "closed" "$(tail -1 "$LW_T_DIR/slow.out")"
echo quit >&8
exec 8>&-

# ---- keepalive, malformed packets ----------------------------------------------------------
lw_t_eq "a client silent beyond 1.5 × keep alive 1 s is disconnected" "closed" \
    "$(py silent "$port" app1@acme k-acme-rw 1 6)"
mal0=$(stat malformed)
lw_t_eq "SUBSCRIBE with reserved flags 0000: closed" "closed" \
    "$(py malformed "$port" app1@acme k-acme-rw 8006000100016100)"
lw_t_eq "PUBLISH with packet identifier 0: closed" "closed" \
    "$(py malformed "$port" app1@acme k-acme-rw 32070003612f620000)"
lw_t_eq "a Remaining Length of five bytes: closed" "closed" \
    "$(py malformed "$port" app1@acme k-acme-rw 30ffffffff7f)"
lw_t_eq "three malformed packets counted" "$((mal0 + 3))" "$(stat malformed)"

# ---- MQTT over TLS (the same server behind a second listener) ------------------------------
lw_t_bg tls_sub mosquitto_sub -h localhost -p "$tport" --cafile "$LW_T_DIR/cert.pem" \
    -u app1@globex -P k-globex-rw -t 'v3/+/devices/+/up' -C 2
sleep 0.5
conns 1
h 'publish globex app1 dev5 up {"tls":1}' published >/dev/null
h 'publishn 1 globex app1 dev5 up 30000' published >/dev/null
lw_t_wait_for "TLS subscriber done" 10 bash -c "[ \$(wc -l <'$LW_T_DIR/tls_sub.out') -ge 2 ]"
lw_t_eq "TLS: mosquitto_sub gets a small and a 30 kB message (several TLS records)" \
    '{"tls":1} 30000' "$(head -1 "$LW_T_DIR/tls_sub.out") $(tail -1 "$LW_T_DIR/tls_sub.out" | tr -d '\n' | wc -c)"
n0=$(grep -c '^downlink' "$H")
mosquitto_pub -h localhost -p "$tport" --cafile "$LW_T_DIR/cert.pem" -V mqttv5 -u app1@acme \
    -P k-acme-rw -q 1 -t v3/app1@acme/devices/dev1/down/push -m '{"downlinks":[]}'
lw_t_eq "TLS: a 5.0 QoS 1 down/push is handed over" "$((n0 + 1)) downlink acme app1 dev1 push {\"downlinks\":[]}" \
    "$(grep -c '^downlink' "$H") $(grep '^downlink' "$H" | tail -1)"
lw_t_eq "TLS: Paho connects with acme's key" "rc 0" \
    "$(MQTT_CA="$LW_T_DIR/cert.pem" py connect "$tport" 3 app1@acme k-acme-rw)"
lw_t_eq "TLS: Paho with globex's key for app1@acme → not authorized" "rc 135" \
    "$(MQTT_CA="$LW_T_DIR/cert.pem" py connect "$tport" 5 app1@acme k-globex-rw)"
lw_t_eq "TLS 1.1 is refused" "refused" \
    "$(echo | timeout 5 openssl s_client -connect "127.0.0.1:$tport" -tls1_1 >/dev/null 2>&1 && echo accepted || echo refused)"
out=$(timeout 5 mosquitto_pub -h 127.0.0.1 -p "$tport" -u app1@acme -P k-acme-rw -t x -m y 2>&1 || true)
lw_t_eq "plain MQTT on the TLS port gets no CONNACK" "no" "$(grep -qi 'refused\|not author' <<<"$out" && echo yes || echo no)"
lw_t_eq "... and plain MQTT on the plain port still works" "rc 0" "$(py connect "$port" 3 app1@acme k-acme-rw)"

# ---- closing a tenant's connections --------------------------------------------------------
sub_bg acme_a -V mqttv311 -u app1@acme -P k-acme-rw -t '#'
sub_bg acme_b -V mqttv5 -u app2@acme -P k-acme2-r -t '#'
ACME_B=$LW_T_LAST_PID
sub_bg globex_c -V mqttv311 -u app1@globex -P k-globex-rw -t '#' -v
sleep 0.3
conns 3
lw_t_eq "suspending acme closes acme's two connections" "closed 2" "$(h 'suspend acme' closed)"
conns 1
lw_t_eq "globex's subscriber still receives (and globex's two Paho sessions away queue it)" \
    "published 3" "$(h 'publish globex app1 dev3 up {"after":1}' published)"
lw_t_wait_for "globex got it" 10 grep -q after "$LW_T_DIR/globex_c.out"
lw_t_ok "globex's connection untouched by acme's closing"

echo quit >&7
exec 7>&-
lw_t_done
