#!/usr/bin/env bash
# The Network Server's downlinks (issue 9 item 6), on the bus as the GS and the AS see them:
# a class A downlink queued through lw.as.down goes out on lw.gs.down after the next uplink
# on the best gateway with RX1 (uplink channel, RX1 data rate) and RX2 (the plan's); the
# GS's TX result becomes downlink_sent / downlink_failed with its reason; confirmed
# downlinks end in downlink_ack or downlink_nack; a confirmed uplink is acknowledged; the
# queue has a capacity (downlink_queue_capacity) and items for an old counter are handed back;
# a class C device gets its downlink without an uplink. Two tenants throughout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ns_lib.sh"

# The test plays the GS on the bus: the stack's own GS must not answer the downlinks of
# gateways it does not hold (gs.downlink.answer-not-connected).
lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
lw_t_stack stack "$port" --gs.downlink.answer-not-connected=false --ns.dev-addr-prefixes 26000000/8 --ns.downlink-queue-capacity 2
api="http://127.0.0.1:$port/api/v3"

ns_tenant acme
ns_tenant globex
ns_device acme dev1
ns_device globex dev1
KA=11111111111111111111111111111111
KG=22222222222222222222222222222222
AS=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
r=$(ns_abp acme dev1 26000001 "$KA")
lw_t_eq "acme/dev1 (ABP) → 200" 200 "${r%% *}"
r=$(ns_abp globex dev1 26000001 "$KG" ',"supports_class_c":true' ',"supports_class_c"')
lw_t_eq "globex/dev1 (ABP, class C) → 200" 200 "${r%% *}"

up="$LW_T_DIR/up.jsonl"; down="$LW_T_DIR/down.jsonl"
ns_consume ns.up "$up"
ns_consume gs.down "$down"
sleep 1

uplink() { # TENANT KEY FCNT TIMESTAMP [frame args]: one copy from gw1 (SF7, 868.1 MHz)
    local t=$1 k=$2 f=$3 ts=$4; shift 4
    local fr; fr=$(ns_frame 26000001 "$k" "$AS" "$f" "$@")
    echo "up $t gw-$t 00000000000000a1 $fr 868100000 7 7.5 -40 $ts" | ns_send
}
A=acme/app1/dev1
G=globex/app1/dev1
# The FCnt the AS encrypts the next downlink for: MAC-only downlinks take counters too
# (LoRaWAN 1.0.x has one FCntDown), so ask the NS (its state is written within ms).
next_fcnt() {
    sleep 0.3
    local r
    r=$(lw_t_adm "${1:-acme}" GET '/ns/applications/app1/devices/dev1?field_mask=session.last_n_f_cnt_down')
    lw_t_body "$r" | jq -r '(.session.last_n_f_cnt_down // -1) + 1'
}

# The session key id the AS learns from the first uplink.
uplink acme "$KA" 1 1000000 --f-port 1 --payload 01
ns_wait "$up" '.type=="uplink_message" and .tenant=="acme"' 1
SK=$(jq -r 'select(.type=="uplink_message" and .tenant=="acme") | .session_key_id' "$up" | head -1)
lw_t_eq "the uplink carries the session key id" 32 "${#SK}"
# The first uplink draws a MAC-only downlink (the ABP device's desired parameters: the
# plan's channels, RX1 delay, RX2): more than FOpts hold, so alone on FPort 0.
ns_wait "$down" '.device=="dev1" and .tenant=="acme"' 1
lw_t_eq "MAC requests go out alone on FPort 0" "UnconfirmedDataDown 0 true" \
    "$(jq -r 'select(.tenant=="acme") | "\(.mtype) \(.f_port) \(.frm_payload | length > 30)"' "$down" | head -1)"
D0=$(jq -r 'select(.tenant=="acme") | .downlink_id' "$down" | head -1)
echo "txack $A $D0 0" | ns_send

# ---- class A: queued, sent after the next uplink -------------------------------------------
FC=$(next_fcnt)
echo "push $A $SK 2 $FC cafe" | ns_send
ns_wait "$up" '.type=="downlink_queued" and .tenant=="acme"' 1
uplink acme "$KA" 2 2000000 --f-port 1 --payload 02
ns_wait "$down" '.tenant=="acme" and .f_port==2' 1
line=$(jq -c 'select(.tenant=="acme" and .f_port==2)' "$down" | head -1)
lw_t_eq "the downlink goes to the uplink's gateway, keyed by it" "gw-acme acme/gw-acme" \
    "$(jq -r '"\(.gateway_id) \(.key)"' <<<"$line")"
lw_t_eq "class A timing after the uplink's timestamp" "TIMESTAMP 2000000 1" \
    "$(jq -r '"\(.timing) \(.timestamp) \(.rx1_delay)"' <<<"$line")"
lw_t_eq "RX1 on the uplink channel at SF7 (DR5)" "868100000 5 7" \
    "$(jq -r '"\(.rx1.frequency) \(.rx1.dr) \(.rx1.sf)"' <<<"$line")"
lw_t_eq "RX2 the ABP device uses (band default 869.525 MHz, DR0)" "869525000 0 12" \
    "$(jq -r '"\(.rx2.frequency) \(.rx2.dr) \(.rx2.sf)"' <<<"$line")"
lw_t_eq "the AS's payload and counter, unconfirmed" "cafe $FC UnconfirmedDataDown" \
    "$(jq -r '"\(.frm_payload) \(.f_cnt) \(.mtype)"' <<<"$line")"
lw_t_eq "the uplink token is copied back" 1 "$(jq -r '.uplink_token | length > 0' <<<"$line" | grep -c true)"
D1=$(jq -r .downlink_id <<<"$line")
echo "txack $A $D1 0" | ns_send
ns_wait "$up" '.type=="downlink_sent" and .tenant=="acme"' 1
lw_t_eq "TX success → downlink_sent with the payload" "cafe $FC" \
    "$(jq -r 'select(.type=="downlink_sent") | "\(.downlink.frm_payload) \(.downlink.f_cnt)"' "$up" | head -1)"

# ---- confirmed: ack, then nack ---------------------------------------------------------------
FC=$(next_fcnt)
echo "push $A $SK 3 $FC 0c confirmed" | ns_send
ns_wait "$up" '.type=="downlink_queued" and .downlink.f_cnt=='$FC 1
uplink acme "$KA" 3 3000000 --f-port 1 --payload 03
ns_wait "$down" '.tenant=="acme" and .f_port==3' 1
lw_t_eq "a confirmed downlink" ConfirmedDataDown "$(jq -r 'select(.tenant=="acme" and .f_port==3) | .mtype' "$down")"
echo "txack $A $(jq -r 'select(.tenant=="acme" and .f_port==3) | .downlink_id' "$down") 0" | ns_send
ns_wait "$up" '.type=="downlink_sent" and .downlink.f_cnt=='$FC 1
uplink acme "$KA" 4 4000000 --f-port 1 --payload 04 --ack
ns_wait "$up" '.type=="downlink_ack"' 1
lw_t_eq "the next uplink's ACK → downlink_ack" "$FC 0c" \
    "$(jq -r 'select(.type=="downlink_ack") | "\(.downlink.f_cnt) \(.downlink.frm_payload)"' "$up")"
FC=$(next_fcnt)
echo "push $A $SK 3 $FC 0d confirmed" | ns_send
ns_wait "$up" '.type=="downlink_queued" and .downlink.f_cnt=='$FC 1
uplink acme "$KA" 5 5000000 --f-port 1 --payload 05
ns_wait "$down" '.tenant=="acme" and .f_port==3 and .frm_payload=="0d"' 1
echo "txack $A $(jq -r 'select(.tenant=="acme" and .frm_payload=="0d") | .downlink_id' "$down") 0" | ns_send
ns_wait "$up" '.type=="downlink_sent" and .downlink.f_cnt=='$FC 1
uplink acme "$KA" 6 6000000 --f-port 1 --payload 06
ns_wait "$up" '.type=="downlink_nack"' 1
lw_t_eq "an uplink without ACK → downlink_nack" "$FC" "$(jq -r 'select(.type=="downlink_nack") | .downlink.f_cnt' "$up")"

# ---- the GS could not send: downlink_failed with its reason ---------------------------------
FC=$(next_fcnt)
echo "push $A $SK 4 $FC 0e" | ns_send
ns_wait "$up" '.type=="downlink_queued" and .downlink.f_cnt=='$FC 1
uplink acme "$KA" 7 7000000 --f-port 1 --payload 07
ns_wait "$down" '.tenant=="acme" and .frm_payload=="0e"' 1
echo "txack $A $(jq -r 'select(.tenant=="acme" and .frm_payload=="0e") | .downlink_id' "$down") 9 duty_cycle 0" | ns_send
ns_wait "$up" '.type=="downlink_failed"' 1
lw_t_eq "exhausted duty cycle → downlink_failed duty_cycle" "$FC duty_cycle" \
    "$(jq -r 'select(.type=="downlink_failed") | "\(.downlink.f_cnt) \(.error)"' "$up")"

# ---- queue capacity and stale counters ------------------------------------------------------
FC=$(next_fcnt)
ns_send <<CMDS
push $A $SK 5 $((FC - 1)) 10
push $A $SK 5 $((FC + 3)) 11
push $A $SK 5 $((FC + 4)) 12
CMDS
ns_wait "$up" '.type=="downlink_failed" and .error=="downlink_queue_capacity"' 1
lw_t_eq "a third item on a queue of 2 → downlink_queue_capacity" $((FC + 4)) \
    "$(jq -r 'select(.error=="downlink_queue_capacity") | .downlink.f_cnt' "$up")"
uplink acme "$KA" 8 8000000 --f-port 1 --payload 08
ns_wait "$up" '.type=="downlink_queue_invalidated"' 1
lw_t_eq "an item behind the session's counter is handed back" "1 $((FC - 1))" \
    "$(jq -r 'select(.type=="downlink_queue_invalidated") | "\(.count) \(.last_f_cnt_down)"' "$up")"
ns_wait "$down" '.tenant=="acme" and .frm_payload=="11"' 1
lw_t_eq "... and the valid one goes out at its counter" "$((FC + 3))" \
    "$(jq -r 'select(.tenant=="acme" and .frm_payload=="11") | .f_cnt' "$down")"
echo "txack $A $(jq -r 'select(.tenant=="acme" and .frm_payload=="11") | .downlink_id' "$down") 0" | ns_send

# ---- a confirmed uplink is acknowledged ---------------------------------------------------------
n=$(ns_count "$down" '.tenant=="acme"')
uplink acme "$KA" 9 9000000 --f-port 1 --payload 09 --confirmed
ns_wait "$down" '.tenant=="acme"' $((n + 1))
lw_t_eq "confirmed uplink → a downlink with ACK" true \
    "$(jq -r 'select(.tenant=="acme") | .ack' "$down" | tail -1)"

# ---- class C: sent without waiting for an uplink --------------------------------------------
uplink globex "$KG" 1 100 --f-port 1 --payload 01
ns_wait "$up" '.type=="uplink_message" and .tenant=="globex"' 1
SG=$(jq -r 'select(.type=="uplink_message" and .tenant=="globex") | .session_key_id' "$up")
sleep 1.5
# The MAC answer downlink of that uplink first, if any, is acknowledged.
for id in $(jq -r 'select(.tenant=="globex") | .downlink_id' "$down"); do echo "txack $G $id 0"; done | ns_send
sleep 0.5
FC=$(next_fcnt globex)
echo "push $G $SG 7 $FC c1" | ns_send
ns_wait "$down" '.tenant=="globex" and .frm_payload=="c1"' 1
line=$(jq -c 'select(.tenant=="globex" and .frm_payload=="c1")' "$down")
lw_t_eq "class C: IMMEDIATE on the last gateway, RX2 only" "IMMEDIATE gw-globex null 869525000" \
    "$(jq -r '"\(.timing) \(.gateway_id) \(.rx1) \(.rx2.frequency)"' <<<"$line")"
lw_t_eq "no acme downlink went to globex's gateway" 0 "$(ns_count "$down" '.tenant=="acme" and .gateway_id=="gw-globex"')"
lw_t_eq "no globex result under acme" 0 "$(ns_count "$up" '.tenant=="globex" and (.key|startswith("acme"))')"

# The counters are durable and readable.
sleep 0.5
r=$(lw_t_adm acme GET '/ns/applications/app1/devices/dev1?field_mask=session.last_n_f_cnt_down,session.last_f_cnt_up')
lw_t_eq "GET: last_f_cnt_up 9" 9 "$(lw_t_body "$r" | jq -r .session.last_f_cnt_up)"
lw_t_done
