#!/usr/bin/env bash
# The NS's MAC-only downlinks under refusals (components/ns/downlink.c ns_downlink_txack,
# ns_mac_downlink_lost), on the bus as the GS would answer them (lw.gs.txack). An ABP device
# whose plan wants NewChannelReq & co. draws a MAC-only downlink (FPort 0) at its first
# uplink; the test's GS refuses it `conflict`:
#  - the requests never reached the device: no ns.mac.*.request event, and no
#    ns.mac.command.unanswered at the next uplinks;
#  - MAC-only downlinks back off: none at the next uplink, one at the one after; refused
#    again, none at the next two; transmitted (SUCCESS), the request events are published
#    then and the back-off ends;
#  - a confirmed uplink during a back-off still gets its ACK, and the MAC rides on it; an
#    uplink asking something of the network (LinkCheckReq) is answered.
# Each uplink is heard by one gateway (one downlink path). globex's device, whose downlinks
# are all transmitted, gets a MAC downlink at every uplink throughout. "No downlink for
# uplink N" is checked once the downlink of a later uplink (the same gateway: the same
# lw.gs.down partition) has arrived.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ns_lib.sh"

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
lw_t_stack stack "$port" --gs.downlink.answer-not-connected=false --ns.dev-addr-prefixes 26000000/8
STACK_PID=$LW_T_LAST_PID
api="http://127.0.0.1:$port/api/v3"

ns_tenant acme
ns_tenant globex
ns_device acme dev1
ns_device globex dev1
KA=11111111111111111111111111111111
KG=22222222222222222222222222222222
AS=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
r=$(ns_abp acme dev1 26000001 "$KA")
lw_t_eq "acme/dev1 (ABP, EU868: the plan's channels to set up)" 200 "${r%% *}"
r=$(ns_abp globex dev1 26000002 "$KG")
lw_t_eq "globex/dev1 (ABP)" 200 "${r%% *}"

up="$LW_T_DIR/up.jsonl"; down="$LW_T_DIR/down.jsonl"; ev="$LW_T_DIR/events.jsonl"
ns_consume ns.up "$up"
ns_consume gs.down "$down"
ns_consume events "$ev"
A=acme/app1/dev1
G=globex/app1/dev1

# uplink TENANT FCNT [frame args]: one copy from gw-TENANT, timestamp FCNT * 1,000,000; waits
# for its result on lw.ns.up.
uplink() {
    local t=$1 f=$2 k=$KA a=26000001; shift 2
    [ "$t" = globex ] && k=$KG a=26000002
    echo "up $t gw-$t 00000000000000a1 $(ns_frame $a "$k" "$AS" "$f" --f-port 1 --payload 01 "$@") 868100000 7 7.5 -40 $((f * 1000000))" | ns_send
    ns_wait "$up" ".type==\"uplink_message\" and .tenant==\"$t\" and .f_cnt==$f" 1 20
}
# downs TENANT FCNT: the downlinks that answered that uplink (by its timestamp).
downs() { jq -c "select(.tenant==\"$1\" and .timestamp==$(($2 * 1000000)))" "$down"; }
# wait_down TENANT FCNT: waits for the downlink answering that uplink; prints its id.
wait_down() {
    ns_wait "$down" ".tenant==\"$1\" and .timestamp==$(($2 * 1000000))" 1 15 || true
    downs "$1" "$2" | head -1 | jq -r .downlink_id
}
# txack TENANT ID RESULT [ERROR_NAME]: the GS's answer; waits until the NS has taken it (a
# refusal's ns.down.transmission.fail event, or a success's next request events).
FAILS_acme=0 FAILS_globex=0
txack() {
    local t=$1 id=$2 res=$3 name=${4:-} key
    key=$t/app1/dev1
    [ -n "$id" ] || { lw_t_fail "$t: no downlink to answer"; return; }
    echo "txack $key $id $res${name:+ $name 1}" | ns_send
    if [ "$res" != 0 ]; then
        eval "FAILS_$t=\$((FAILS_$t + 1))"
        ns_wait "$ev" ".name==\"ns.down.transmission.fail\" and .key==\"$t\"" "$(eval echo "\$FAILS_$t")" 15 || true
    fi
}
# evs TENANT NAME_REGEX: how many events of that tenant's device match.
evs() { ns_count "$ev" ".key==\"$1\" and .identifiers[0].device_ids.device_id==\"dev1\" and (.name|test(\"$2\"))"; }
requests() { # TENANT: the NS's ns.mac.*.request events by command, sorted (not the device's)
    jq -r "select(.key==\"$1\" and .name!=\"ns.mac.link_check.request\" and (.name|test(\"^ns\\\\.mac\\\\..*\\\\.request\$\"))) | .name" "$ev" | sort | uniq -c | awk '{print $2 "=" $1}' | xargs
}

# ---- uplink 1: a MAC-only downlink, refused ---------------------------------------------------
uplink acme 1
D=$(wait_down acme 1)
lw_t_eq "uplink 1: a MAC-only downlink (FPort 0, no ACK, no application payload)" "UnconfirmedDataDown 0 false true" \
    "$(downs acme 1 | jq -r '"\(.mtype) \(.f_port) \(.ack) \(.frm_payload | length > 0)"')"
MAC1=$(downs acme 1 | jq -r .frm_payload)
txack acme "$D" 9 conflict
lw_t_eq "refused (conflict): ns.down.transmission.fail names it" "conflict" \
    "$(jq -r 'select(.key=="acme" and .name=="ns.down.transmission.fail") | .data.error_name' "$ev")"
lw_t_eq "… and no ns.mac.*.request event for the refused frame" "" "$(requests acme)"
# globex: the same first uplink, transmitted.
uplink globex 1
DG=$(wait_down globex 1)
txack globex "$DG" 0
ns_wait "$ev" '.key=="globex" and .name=="ns.mac.new_channel.request"' 1 15
GREQ=$(requests globex)
lw_t_eq "globex: transmitted → its request events, one per command" \
    "ns.mac.new_channel.request=5 ns.mac.rx_param_setup.request=1 ns.mac.rx_timing_setup.request=1" "$GREQ"

# ---- uplink 2: backing off (1) ----------------------------------------------------------------
uplink acme 2
uplink acme 3
D=$(wait_down acme 3)
lw_t_eq "uplink 2: no MAC-only downlink (back-off 1)" 0 "$(downs acme 2 | wc -l)"
lw_t_eq "uplink 3: the MAC-only downlink again" "0 false true" \
    "$(downs acme 3 | jq -r '"\(.f_port) \(.ack) \(.frm_payload | length > 0)"')"
lw_t_eq "uplinks 2 and 3 report nothing unanswered (the refused requests never reached the device)" 0 \
    "$(evs acme '^ns\\.mac\\.command\\.unanswered$')"
txack acme "$D" 9 conflict
lw_t_eq "refused again: still no request event" "" "$(requests acme)"

# ---- uplinks 4 and 5: backing off (2) ---------------------------------------------------------
uplink acme 4
uplink acme 5
uplink acme 6
D=$(wait_down acme 6)
lw_t_eq "uplinks 4 and 5: no MAC-only downlink (back-off 2)" "0 0" "$(downs acme 4 | wc -l) $(downs acme 5 | wc -l)"
lw_t_eq "uplink 6: the MAC-only downlink" "0 false" "$(downs acme 6 | jq -r '"\(.f_port) \(.ack)"')"
lw_t_eq "… still nothing unanswered" 0 "$(evs acme '^ns\\.mac\\.command\\.unanswered$')"
txack acme "$D" 0
ns_wait "$ev" '.key=="acme" and .name=="ns.mac.new_channel.request"' 1 15 || true
lw_t_eq "transmitted (SUCCESS) → the request events now, one per command (as globex's)" "$GREQ" "$(requests acme)"

# ---- the back-off ended: the next uplink gets one (the device did not answer) -----------------
uplink acme 7
D=$(wait_down acme 7)
lw_t_eq "uplink 7 (after a transmission): a MAC-only downlink at once" "0 false" "$(downs acme 7 | jq -r '"\(.f_port) \(.ack)"')"
lw_t_eq "… uplink 7 did not answer the transmitted requests: unanswered now" 7 "$(evs acme '^ns\\.mac\\.command\\.unanswered$')"
txack acme "$D" 9 conflict

# ---- a confirmed uplink during the back-off: its ACK, with the MAC ----------------------------
uplink acme 8 --confirmed
D=$(wait_down acme 8)
lw_t_eq "confirmed uplink 8 during back-off 1: a downlink with ACK carrying the MAC" "true true" \
    "$(downs acme 8 | jq -r '"\(.ack) \((.f_port == 0 and (.frm_payload | length > 0)) or .fopts_len > 0)"')"
txack acme "$D" 0
ns_wait "$ev" '.key=="acme" and .name=="ns.mac.new_channel.request"' 10 15 || true
lw_t_eq "… transmitted: its request events" "ns.mac.new_channel.request=10 ns.mac.rx_param_setup.request=2 ns.mac.rx_timing_setup.request=2" "$(requests acme)"
uplink acme 9 # unanswered again: a MAC-only downlink at once (the transmission ended the back-off)
D=$(wait_down acme 9)
lw_t_eq "uplink 9: a MAC-only downlink (no back-off after a transmission)" "0 false" "$(downs acme 9 | jq -r '"\(.f_port) \(.ack)"')"
txack acme "$D" 0

# ---- the device's own need during a back-off: its LinkCheckReq is answered at once ----------
uplink acme 10 # unanswered again: a MAC-only downlink, refused
txack acme "$(wait_down acme 10)" 9 conflict
uplink acme 11 --fopts 02
D=$(wait_down acme 11)
lw_t_eq "uplink 11 with LinkCheckReq during back-off 1: answered (a MAC downlink, no ACK)" "1 false true" \
    "$(downs acme 11 | wc -l) $(downs acme 11 | jq -r '"\(.ack) \((.f_port == 0 and (.frm_payload | length > 0)) or .fopts_len > 0)"')"
txack acme "$D" 0

# ---- globex throughout: one MAC downlink per uplink -------------------------------------------
uplink globex 2
txack globex "$(wait_down globex 2)" 0
uplink globex 3
txack globex "$(wait_down globex 3)" 0
lw_t_eq "globex: a MAC-only downlink at each of its uplinks" "1 1 1" \
    "$(for f in 1 2 3; do downs globex $f | wc -l; done | xargs)"
lw_t_eq "globex: none of acme's refusals" 0 "$(ns_count "$ev" '.key=="globex" and .name=="ns.down.transmission.fail"')"
lw_t_eq "no acme downlink on globex's gateway, nor the reverse" "0 0" \
    "$(ns_count "$down" '.tenant=="acme" and .gateway_id!="gw-acme"') $(ns_count "$down" '.tenant=="globex" and .gateway_id!="gw-globex"')"
lw_t_eq "acme: every MAC-only downlink of uplinks 1..10 as long as the first (the same requests)" "true" \
    "$(jq -s --arg m "$MAC1" '[.[] | select(.tenant=="acme" and .f_port==0 and .ack==false and .timestamp <= 10000000) | .frm_payload | length] | unique == [$m | length]' "$down")"

kill -TERM "$STACK_PID"
lw_t_wait_exit "$STACK_PID" 20
lw_t_eq "the stack stops cleanly" 0 "$LW_T_RC"
lw_t_eq "no sanitizer report" 0 "$(grep -cE 'AddressSanitizer|LeakSanitizer|runtime error' "$LW_T_DIR/stack.log")"
lw_t_done
