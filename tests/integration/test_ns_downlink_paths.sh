#!/usr/bin/env bash
# The Network Server's downlink paths, retries and queue (issue 9 item 6), on the bus as the
# GS and the AS see them. The test plays the GS (it answers each GsDown on lw.gs.txack) and
# the AS (lw.as.down):
#   - a refused downlink goes to the next gateway of the uplink, best first as TTS orders
#     them (channel RSSI adjusted for SNR), the same frame, until one sends it; a gateway of
#     the other tenant that heard the device is a path too;
#   - when every gateway refused: downlink_failed with the last reason, and the frame's
#     counter is given back;
#   - a nacked confirmed downlink is not sent again with its counter; its confirmed_retry
#     comes back with the nack for the AS;
#   - MAC commands ride in the FOpts of the application downlink, with FPending while more
#     is queued;
#   - LIST is answered with the queue (request_id, order), device_not_found for a device
#     the NS does not have; a session change hands the queue back;
#   - class C: retried on the next gateway, failed when every one refused or none ever
#     heard the device, a confirmed one waits for its ACK class_c_timeout at most (then
#     downlink_nack) before the next confirmed goes, and a GsDown nobody answers fails
#     with no_tx_ack.
# Two tenants throughout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ns_lib.sh"

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
args=(--gs.downlink.answer-not-connected=false --ns.dev-addr-prefixes 26000000/8
    --ns.downlink-queue-capacity 2 --ns.downlink-tx-ack-timeout 6s)
lw_t_stack stack "$port" "${args[@]}"
STACK_PID=$LW_T_LAST_PID
api="http://127.0.0.1:$port/api/v3"

ns_tenant acme
ns_tenant globex
ns_device acme dev1
ns_device globex dev1
ns_device globex dev2
KA=11111111111111111111111111111111
KG=22222222222222222222222222222222
K2=33333333333333333333333333333333
AS=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
# acme/dev1 waits 15 s for RX1 (RX2 at 16 s): room for a test to answer three GsDowns.
r=$(ns_abp acme dev1 26000001 "$KA" \
    ',"mac_settings":{"rx1_delay":"RX_DELAY_15","desired_rx1_delay":"RX_DELAY_15"}' \
    ',"mac_settings.rx1_delay","mac_settings.desired_rx1_delay"')
lw_t_eq "acme/dev1 (ABP, RX1 delay 15 s) → 200" 200 "${r%% *}"
r=$(ns_abp globex dev1 26000001 "$KG" ',"supports_class_c":true,"mac_settings":{"class_c_timeout":"5s"}' \
    ',"supports_class_c","mac_settings.class_c_timeout"')
lw_t_eq "globex/dev1 (ABP, class C, class_c_timeout 5 s) → 200" 200 "${r%% *}"
r=$(ns_abp globex dev2 26000002 "$K2" ',"supports_class_c":true' ',"supports_class_c"')
lw_t_eq "globex/dev2 (ABP, class C, never heard) → 200" 200 "${r%% *}"

up="$LW_T_DIR/up.jsonl"; down="$LW_T_DIR/down.jsonl"
ns_consume ns.up "$up"
ns_consume gs.down "$down"
sleep 1

A=acme/app1/dev1
G=globex/app1/dev1
# copy TENANT GW SNR RSSI: one gateway's copy line of the frame in $FR (868.1 MHz, SF7).
copy() { echo "up $1 $2 00000000000000$3 $FR 868100000 7 $4 $5 $TS"; }
next_fcnt() { # TENANT DEV: the FCnt the AS encrypts the next downlink for
    sleep 0.3
    local r
    r=$(lw_t_adm "$1" GET "/ns/applications/app1/devices/$2?field_mask=session.last_n_f_cnt_down")
    lw_t_body "$r" | jq -r '(.session.last_n_f_cnt_down // -1) + 1'
}
ack_all() { # TENANT: every GsDown of the tenant's devices so far answered SUCCESS
    for id in $(jq -r "select(.tenant==\"$1\") | .downlink_id" "$down"); do
        grep -qx "$id" "$LW_T_DIR/acked" 2>/dev/null && continue
        echo "$id" >>"$LW_T_DIR/acked"
        echo "txack $2 $id 0"
    done | ns_send
}

# ---- the first uplink: the session key id; its MAC downlink answered -------------------------
FR=$(ns_frame 26000001 "$KA" "$AS" 1 --f-port 1 --payload 01); TS=1000000
copy acme gw-a1 a1 9.5 -80 | ns_send
ns_wait "$up" '.type=="uplink_message" and .tenant=="acme"' 1
SK=$(jq -r 'select(.type=="uplink_message" and .tenant=="acme") | .session_key_id' "$up" | head -1)
ns_wait "$down" '.tenant=="acme"' 1
ack_all acme "$A"

# ---- class A: refused twice, sent by the third gateway ----------------------------------------
FC=$(next_fcnt acme dev1)
echo "push $A $SK 2 $FC ca01" | ns_send
ns_wait "$up" '.type=="downlink_queued" and .downlink.frm_payload=="ca01"' 1
# Three copies: gw-a1 has the best SNR, gw-a2 the best adjusted RSSI (TTS's order), and
# globex's gw-g9 heard acme's device too.
FR=$(ns_frame 26000001 "$KA" "$AS" 2 --f-port 1 --payload 02); TS=2000000
{ copy acme gw-a1 a1 9.5 -80; copy acme gw-a2 a2 2 -50; copy globex gw-g9 b9 -3 -95; } | ns_send
sel='.tenant=="acme" and .frm_payload=="ca01"'
ns_wait "$down" "$sel" 1
id1=$(jq -r "select($sel) | .downlink_id" "$down" | sed -n 1p)
echo "txack $A $id1 9 conflict" | ns_send
ns_wait "$down" "$sel" 2
id2=$(jq -r "select($sel) | .downlink_id" "$down" | sed -n 2p)
echo "txack $A $id2 9 duty_cycle" | ns_send
ns_wait "$down" "$sel" 3
id3=$(jq -r "select($sel) | .downlink_id" "$down" | sed -n 3p)
echo "txack $A $id3 0" | ns_send
ns_wait "$up" '.type=="downlink_sent" and .downlink.frm_payload=="ca01"' 1
lw_t_eq "tried best first (adjusted RSSI), the other tenant's gateway last, keyed by gateway" \
    "acme/gw-a2 acme/gw-a1 globex/gw-g9" "$(jq -r "select($sel) | .key" "$down" | tr '\n' ' ' | sed 's/ $//')"
lw_t_eq "the same frame on each, a new downlink id each time" "1 3" \
    "$(jq -r "select($sel) | .raw" "$down" | sort -u | wc -l) $(jq -r "select($sel) | .downlink_id" "$down" | sort -u | wc -l)"
lw_t_eq "each attempt keeps its gateway's timestamp and both windows" \
    "2000000 15 868100000 869525000" \
    "$(jq -r "select($sel) | \"\(.timestamp) \(.rx1_delay) \(.rx1.frequency) \(.rx2.frequency)\"" "$down" | sort -u)"
lw_t_eq "one downlink_sent at the AS's counter, no downlink_failed" "1 $FC 0" \
    "$(ns_count "$up" '.type=="downlink_sent" and .downlink.frm_payload=="ca01'"\"") $(jq -r 'select(.type=="downlink_sent" and .downlink.frm_payload=="ca01") | .downlink.f_cnt' "$up") $(ns_count "$up" '.type=="downlink_failed" and .tenant=="acme"')"

# ---- class A: every gateway refused ----------------------------------------------------------------
FC=$(next_fcnt acme dev1)
echo "push $A $SK 2 $FC ca02" | ns_send
ns_wait "$up" '.type=="downlink_queued" and .downlink.frm_payload=="ca02"' 1
FR=$(ns_frame 26000001 "$KA" "$AS" 3 --f-port 1 --payload 03); TS=3000000
{ copy acme gw-a1 a1 9.5 -80; copy acme gw-a2 a2 2 -50; } | ns_send
sel='.tenant=="acme" and .frm_payload=="ca02"'
ns_wait "$down" "$sel" 1
echo "txack $A $(jq -r "select($sel) | .downlink_id" "$down" | sed -n 1p) 9 conflict" | ns_send
ns_wait "$down" "$sel" 2
echo "txack $A $(jq -r "select($sel) | .downlink_id" "$down" | sed -n 2p) 9 too_late 2" | ns_send
ns_wait "$up" '.type=="downlink_failed" and .downlink.frm_payload=="ca02"' 1
lw_t_eq "every gateway refused → downlink_failed with the last reason, the GS's" \
    "too_late pkg/gatewayserver $FC" \
    "$(jq -r 'select(.type=="downlink_failed" and .downlink.frm_payload=="ca02") | "\(.error) \(.error_namespace) \(.downlink.f_cnt)"' "$up")"
lw_t_eq "... saying how many gateways were tried" 1 \
    "$(jq -r 'select(.type=="downlink_failed" and .downlink.frm_payload=="ca02") | .error_message' "$up" | grep -c '2 gateways tried')"
lw_t_eq "no third attempt" 2 "$(ns_count "$down" "$sel")"
lw_t_eq "the refused frame gave its counter back" "$FC" "$(next_fcnt acme dev1)"

# ---- MAC in the FOpts of the application downlink, FPending ----------------------------------------
FC=$(next_fcnt acme dev1)
printf 'push %s %s 3 %s cb01\npush %s %s 3 %s cb02\n' "$A" "$SK" "$FC" "$A" "$SK" $((FC + 1)) | ns_send
ns_wait "$up" '.type=="downlink_queued" and .downlink.frm_payload=="cb02"' 1
n0=$(ns_count "$down" '.tenant=="acme"')
# LinkCheckReq in the uplink's FOpts: its answer (3 bytes) is due with this downlink.
FR=$(ns_frame 26000001 "$KA" "$AS" 4 --f-port 1 --payload 04 --fopts 02); TS=4000000
copy acme gw-a1 a1 9.5 -80 | ns_send
ns_wait "$down" '.tenant=="acme" and .frm_payload=="cb01"' 1
line=$(jq -c 'select(.tenant=="acme" and .frm_payload=="cb01")' "$down")
lw_t_eq "the application frame, FPending: one more queued" "3 $FC true" \
    "$(jq -r '"\(.f_port) \(.f_cnt) \(.f_pending)"' <<<"$line")"
# LinkCheckAns: CID 02, margin 17 dB (SNR 9.5 over SF7's -7.5), 1 gateway (1.0.x: in clear).
lw_t_eq "... with LinkCheckAns in its FOpts" 1 "$(jq -r '.fopts' <<<"$line" | grep -c 021101)"
sleep 0.5
lw_t_eq "no frame of MAC alone for that uplink" $((n0 + 1)) "$(ns_count "$down" '.tenant=="acme"')"
ack_all acme "$A"
ns_wait "$up" '.type=="downlink_sent" and .downlink.frm_payload=="cb01"' 1

# ---- LIST ---------------------------------------------------------------------------------------------
printf 'list %s 0102030405060708090a0b0c0d0e0f10\nlist %s 1112131415161718191a1b1c1d1e1f20\nlist acme/app1/nodev 2122232425262728292a2b2c2d2e2f30\n' "$A" "$G" | ns_send
ns_wait "$up" '.type=="downlink_queue_list"' 3
lw_t_eq "LIST → the queue in order, for the request" "0102030405060708090a0b0c0d0e0f10 cb02 null" \
    "$(jq -r 'select(.type=="downlink_queue_list" and .tenant=="acme" and .device=="dev1") | "\(.request_id) \([.downlinks[].frm_payload] | join(",")) \(.error)"' "$up")"
lw_t_eq "... the other tenant's device: its own queue (empty)" "1112131415161718191a1b1c1d1e1f20 0 globex/app1/dev1" \
    "$(jq -r 'select(.type=="downlink_queue_list" and .tenant=="globex") | "\(.request_id) \(.downlinks | length) \(.key)"' "$up")"
lw_t_eq "... a device the NS does not have: device_not_found" "2122232425262728292a2b2c2d2e2f30 device_not_found" \
    "$(jq -r 'select(.type=="downlink_queue_list" and .device=="nodev") | "\(.request_id) \(.error)"' "$up")"

# ---- confirmed: nacked, never sent again with its counter ------------------------------------------
echo "replace $A" | ns_send
FC=$(next_fcnt acme dev1)
echo "push $A $SK 4 $FC cc01 confirmed attempt=2" | ns_send
ns_wait "$up" '.type=="downlink_queued" and .downlink.frm_payload=="cc01"' 1
FR=$(ns_frame 26000001 "$KA" "$AS" 5 --f-port 1 --payload 05); TS=5000000
copy acme gw-a1 a1 9.5 -80 | ns_send
ns_wait "$down" '.tenant=="acme" and .frm_payload=="cc01"' 1
ack_all acme "$A"
ns_wait "$up" '.type=="downlink_sent" and .downlink.frm_payload=="cc01"' 1
FR=$(ns_frame 26000001 "$KA" "$AS" 6 --f-port 1 --payload 06); TS=6000000
copy acme gw-a1 a1 9.5 -80 | ns_send
ns_wait "$up" '.type=="downlink_nack"' 1
lw_t_eq "no ACK in the next uplink → downlink_nack with its confirmed_retry for the AS" "$FC cc01 2" \
    "$(jq -r 'select(.type=="downlink_nack") | "\(.downlink.f_cnt) \(.downlink.frm_payload) \(.downlink.attempt)"' "$up")"
sleep 1
lw_t_eq "the NS does not send it again (LoRaWAN 1.0.4 §4.3.1.3)" 1 "$(ns_count "$down" '.frm_payload=="cc01"')"
ack_all acme "$A"

# ---- the session changes: the queue is handed back -------------------------------------------------
FC=$(next_fcnt acme dev1)
printf 'push %s %s 5 %s cd01\npush %s %s 5 %s cd02\n' "$A" "$SK" "$FC" "$A" "$SK" $((FC + 1)) | ns_send
ns_wait "$up" '.type=="downlink_queued" and .downlink.frm_payload=="cd02"' 1
r=$(ns_abp acme dev1 26000003 44444444444444444444444444444444)
lw_t_eq "a new ABP session → 200" 200 "${r%% *}"
ns_wait "$up" '.type=="downlink_queue_invalidated" and .count==2' 1
lw_t_eq "the session change hands both items back" "2 acme" \
    "$(jq -r 'select(.type=="downlink_queue_invalidated" and .count==2) | "\(.count) \(.tenant)"' "$up")"
echo "list $A 3132333435363738393a3b3c3d3e3f40" | ns_send
ns_wait "$up" '.type=="downlink_queue_list" and .request_id=="3132333435363738393a3b3c3d3e3f40"' 1
lw_t_eq "... and the queue is empty" 0 \
    "$(jq -r 'select(.request_id=="3132333435363738393a3b3c3d3e3f40") | .downlinks | length' "$up")"

# ---- class C ---------------------------------------------------------------------------------------------
FR=$(ns_frame 26000001 "$KG" "$AS" 1 --f-port 1 --payload 01); TS=100
{ copy globex gw-g1 c1 8 -60; copy globex gw-g2 c2 1 -100; } | ns_send
ns_wait "$up" '.type=="uplink_message" and .tenant=="globex"' 1
SG=$(jq -r 'select(.type=="uplink_message" and .tenant=="globex") | .session_key_id' "$up")
sleep 1.5
ack_all globex "$G"
sleep 0.5
FC=$(next_fcnt globex dev1)
echo "push $G $SG 7 $FC c101" | ns_send
sel='.tenant=="globex" and .frm_payload=="c101"'
ns_wait "$down" "$sel" 1
echo "txack $G $(jq -r "select($sel) | .downlink_id" "$down" | sed -n 1p) 9 conflict" | ns_send
ns_wait "$down" "$sel" 2
echo "txack $G $(jq -r "select($sel) | .downlink_id" "$down" | sed -n 2p) 9 gateway_not_connected" | ns_send
ns_wait "$up" '.type=="downlink_failed" and .downlink.frm_payload=="c101"' 1
lw_t_eq "class C: IMMEDIATE on the last uplink's gateways, best first" "IMMEDIATE globex/gw-g1 IMMEDIATE globex/gw-g2" \
    "$(jq -r "select($sel) | \"\(.timing) \(.key)\"" "$down" | tr '\n' ' ' | sed 's/ $//')"
lw_t_eq "... both refused → downlink_failed with the last reason" gateway_not_connected \
    "$(jq -r 'select(.type=="downlink_failed" and .downlink.frm_payload=="c101") | .error' "$up")"

# A confirmed class C downlink waits for its ACK before the next confirmed one goes.
FC=$(next_fcnt globex dev1)
printf 'push %s %s 7 %s c201 confirmed\npush %s %s 7 %s c202 confirmed\n' "$G" "$SG" "$FC" "$G" "$SG" $((FC + 1)) | ns_send
ns_wait "$down" '.tenant=="globex" and .frm_payload=="c201"' 1
ack_all globex "$G"
ns_wait "$up" '.type=="downlink_sent" and .downlink.frm_payload=="c201"' 1
sleep 1
lw_t_eq "the second confirmed one waits for the first's ACK" 0 "$(ns_count "$down" '.frm_payload=="c202"')"
ns_wait "$up" '.type=="downlink_nack" and .downlink.frm_payload=="c201"' 1 20
lw_t_eq "no ACK within class_c_timeout → downlink_nack" "$FC" \
    "$(jq -r 'select(.type=="downlink_nack" and .downlink.frm_payload=="c201") | .downlink.f_cnt' "$up")"
ns_wait "$down" '.tenant=="globex" and .frm_payload=="c202"' 1
lw_t_eq "... then the next one goes, at its counter" $((FC + 1)) \
    "$(jq -r 'select(.frm_payload=="c202") | .f_cnt' "$down")"
# Nobody answers that one: no_tx_ack after ns.downlink-tx-ack-timeout.
ns_wait "$up" '.type=="downlink_failed" and .downlink.frm_payload=="c202"' 1 20
lw_t_eq "a GsDown nobody answers → downlink_failed no_tx_ack" no_tx_ack \
    "$(jq -r 'select(.type=="downlink_failed" and .downlink.frm_payload=="c202") | .error' "$up")"

# A class C device no gateway ever heard: failed at once, not kept forever.
r=$(lw_t_adm globex GET '/ns/applications/app1/devices/dev2?field_mask=session.keys.session_key_id')
S2=$(lw_t_body "$r" | jq -r .session.keys.session_key_id | base64 -d | od -An -tx1 | tr -d ' \n')
lw_t_eq "globex/dev2 has a session key id" 1 "$([ -n "$S2" ] && echo 1)"
echo "push globex/app1/dev2 $S2 7 0 c301" | ns_send
ns_wait "$up" '.type=="downlink_failed" and .device=="dev2"' 1
lw_t_eq "class C device no gateway heard → downlink_failed no_downlink_path" "no_downlink_path c301" \
    "$(jq -r 'select(.type=="downlink_failed" and .device=="dev2") | "\(.error) \(.downlink.frm_payload)"' "$up")"

# A class C downlink handed to the GS before a crash and never answered still fails with
# no_tx_ack after it: the deadline is armed again when the device is loaded (here by a LIST).
FC=$(next_fcnt globex dev1)
echo "push $G $SG 7 $FC c401" | ns_send
ns_wait "$down" '.frm_payload=="c401"' 1
sleep 1 # its state (in flight) and the push's offset durable
kill -KILL "$STACK_PID"
lw_t_wait_exit "$STACK_PID" 10
lw_t_stack stack2 "$port" "${args[@]}"
echo "list $G 4142434445464748494a4b4c4d4e4f50" | ns_send
ns_wait "$up" '.type=="downlink_queue_list" and .request_id=="4142434445464748494a4b4c4d4e4f50"' 1 30
ns_wait "$up" '.type=="downlink_failed" and .downlink.frm_payload=="c401"' 1 30
lw_t_eq "in flight across a restart, never answered → downlink_failed no_tx_ack" "no_tx_ack 1" \
    "$(jq -r 'select(.type=="downlink_failed" and .downlink.frm_payload=="c401") | .error' "$up") $(ns_count "$down" '.frm_payload=="c401"')"

lw_t_eq "no acme downlink went to a globex gateway but the one that heard it" 0 \
    "$(ns_count "$down" '.tenant=="acme" and .gateway_tenant=="globex" and .gateway_id!="gw-g9"')"
lw_t_eq "no globex result under acme" 0 "$(ns_count "$up" '.tenant=="globex" and (.key|startswith("acme"))')"
lw_t_done
