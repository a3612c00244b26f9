#!/usr/bin/env bash
# Durability (issue 9 item 7): SIGKILL of the Network Server under traffic, then a restart.
# Every uplink the GS published (one id per frame, three gateway copies each) appears on
# lw.ns.up exactly once by message id; no frame counter goes backwards; the devices need no
# new session; an old counter is still refused after the restart. Two tenants.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ns_lib.sh"

# The test plays the GS on the bus: the stack's own GS must not answer the downlinks of
# gateways it does not hold (gs.downlink.answer-not-connected).
lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
args=(--gs.downlink.answer-not-connected=false --ns.dev-addr-prefixes 26000000/8 --ns.key-encryption-key 000102030405060708090a0b0c0d0e0f)
lw_t_stack stack "$port" "${args[@]}"
STACK_PID=$LW_T_LAST_PID
api="http://127.0.0.1:$port/api/v3"

ns_tenant acme
ns_tenant globex
DEVS=4
AS=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
key() { printf '%s%030x' "$([ "$1" = acme ] && echo a1 || echo b2)" "$2"; }
addr() { printf '2600%02x%02x' "$([ "$1" = acme ] && echo 1 || echo 2)" "$2"; }
for t in acme globex; do
    for i in $(seq 1 $DEVS); do
        ns_device $t "dev$i"
        r=$(ns_abp $t "dev$i" "$(addr $t $i)" "$(key $t $i)")
        [ "${r%% *}" = 200 ] || lw_t_fail "PUT $t/dev$i: $r"
    done
done
lw_t_ok "$((2 * DEVS)) ABP devices in two tenants"

up="$LW_T_DIR/up.jsonl"
ns_consume ns.up "$up"
sleep 1

# The traffic: ROUNDS uplinks per device, three copies each, one id per frame (its first
# copy's), 50 ms apart.
ROUNDS=30
cmds="$LW_T_DIR/traffic.txt"
: >"$cmds"
n=0
for f in $(seq 1 $ROUNDS); do
    for t in acme globex; do
        for i in $(seq 1 $DEVS); do
            fr=$(ns_frame "$(addr $t $i)" "$(key $t $i)" "$AS" "$f" --f-port 1 --payload "$(printf '%02x' "$f")")
            n=$((n + 1))
            id=$(printf '%032x' "$n")
            echo "up $t gw1-$t 0000000000000001 $fr 868100000 7 7.5 -40 $((f * 1000)) $id" >>"$cmds"
            echo "up $t gw2-$t 0000000000000002 $fr 868100000 7 2.5 -70 $((f * 1000)) $(printf '%032x' $((100000 + n)))" >>"$cmds"
            echo "up $t gw3-$t 0000000000000003 $fr 868100000 7 1.5 -80 $((f * 1000)) $(printf '%032x' $((200000 + n)))" >>"$cmds"
        done
    done
    echo "sleep 50" >>"$cmds"
done
TOTAL=$n
# (A background job's stdin is /dev/null unless the job itself redirects it.)
lw_t_bg traffic bash -c '"$1" send --brokers "$2" <"$3"' _ "$NSD" "$LW_T_BROKERS" "$cmds"
TRAFFIC=$LW_T_LAST_PID

# SIGKILL while the traffic flows (a third of the way), then start again.
ns_wait "$up" '.type=="uplink_message"' $((TOTAL / 3)) 60
kill -KILL "$STACK_PID"
lw_t_wait_exit "$STACK_PID" 10
before=$(ns_count "$up" '.type=="uplink_message"')
lw_t_ok "NS killed after $before of $TOTAL uplinks"
lw_t_stack stack2 "$port" "${args[@]}"
lw_t_wait_exit "$TRAFFIC" 120
lw_t_eq "the GS side published everything" 0 "$LW_T_RC"
# (Counted by id: a result republished after the crash carries the same id.)
lw_t_wait_for "$TOTAL distinct uplink ids" 90 bash -c \
    '[ "$(jq -r "select(.type==\"uplink_message\") | .id" "$1" | sort -u | wc -l)" -ge "$2" ]' _ "$up" "$TOTAL" || true

ids=$(jq -r 'select(.type=="uplink_message") | .id' "$up" | sort -u | wc -l | tr -d ' ')
lw_t_eq "every uplink on lw.ns.up by message id" "$TOTAL" "$ids"
want=$(seq 1 "$TOTAL" | while read -r i; do printf '%032x\n' "$i"; done | sort)
got=$(jq -r 'select(.type=="uplink_message") | .id' "$up" | sort -u)
lw_t_eq "... the id of each frame's first copy" "$want" "$got"
dups=$(jq -r 'select(.type=="uplink_message") | .id' "$up" | sort | uniq -d | wc -l | tr -d ' ')
echo "republished after the crash (same id): $dups"
lw_t_eq "one result per (device, FCnt)" "$TOTAL" \
    "$(jq -r 'select(.type=="uplink_message") | "\(.tenant) \(.device) \(.f_cnt)"' "$up" | sort -u | wc -l | tr -d ' ')"
# In the order they came out (a copy republished after the crash is the same id), each
# device's counters never go back.
back=$(jq -r 'select(.type=="uplink_message") | "\(.id) \(.tenant)/\(.device) \(.f_cnt)"' "$up" |
    awk '!seen[$1]++ { if (($2 in last) && $3 <= last[$2]) b++; last[$2] = $3 } END { print b + 0 }')
lw_t_eq "no FCnt went backwards" 0 "$back"
lw_t_eq "three gateways in every result" 0 "$(ns_count "$up" '.type=="uplink_message" and (.gateways|length) != 3')"

sleep 0.5
for t in acme globex; do
    r=$(lw_t_adm $t GET '/ns/applications/app1/devices/dev1?field_mask=session.last_f_cnt_up,session.dev_addr')
    lw_t_eq "$t/dev1 kept its session and its counter" "$(addr $t 1 | tr a-f A-F) $ROUNDS" \
        "$(lw_t_body "$r" | jq -r '"\(.session.dev_addr) \(.session.last_f_cnt_up)"')"
done
# An old counter after the restart is a replay.
fr=$(ns_frame "$(addr acme 1)" "$(key acme 1)" "$AS" 5 --f-port 1 --payload 05)
echo "up acme gw1-acme 0000000000000001 $fr 868100000 7 7.5 -40 99 $(printf '%032x' 999999)" | ns_send
sleep 1.5
lw_t_eq "FCnt 5 after the restart is refused" 0 "$(ns_count "$up" '.id=="'"$(printf '%032x' 999999)"'"')"
lw_t_done
