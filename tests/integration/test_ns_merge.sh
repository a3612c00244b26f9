#!/usr/bin/env bash
# The NS matcher's merge of gateway copies (components/ns/matcher.c), driven on the bus as the
# GS would: the copies of one frame for one device that the matcher reads in one batch go out
# as ONE lw.ns.dev message with every copy's rx_metadata, its id the first copy's and the
# others' in copy_ids; acme and globex devices share a DevAddr and are never merged together.
# The device worker remembers the merged ids: re-publishing a copy whose id is only in
# copy_ids is dropped as already_processed, before and after an NS restart.
# One batch: the stack is stopped (SIGSTOP) while the copies are published, then goes on
# (SIGCONT) and fetches them together. Each "exactly N" is checked after a later message on
# the same partition (the same device) has arrived.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ns_lib.sh"

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
args=(--gs.downlink.answer-not-connected=false --ns.dev-addr-prefixes 26000000/8 --ns.key-encryption-key 000102030405060708090a0b0c0d0e0f)
lw_t_stack stack "$port" "${args[@]}"
STACK_PID=$LW_T_LAST_PID
api="http://127.0.0.1:$port/api/v3"
metric() { curl -sS "http://127.0.0.1:$port/metrics" | grep -F "$1" | awk '{print $NF}' | head -1; }

ns_tenant acme
ns_tenant globex
ns_device acme dev1
ns_device globex dev1
KA=11111111111111111111111111111111 # acme/dev1 NwkSKey
KG=22222222222222222222222222222222 # globex/dev1 NwkSKey, same DevAddr
AS=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
r=$(ns_abp acme dev1 26000001 "$KA")
lw_t_eq "PUT acme/dev1 (ABP, DevAddr 26000001)" 200 "${r%% *}"
r=$(ns_abp globex dev1 26000001 "$KG")
lw_t_eq "PUT globex/dev1 (ABP, the same DevAddr)" 200 "${r%% *}"

dev="$LW_T_DIR/dev.jsonl"; up="$LW_T_DIR/up.jsonl"; ev="$LW_T_DIR/events.jsonl"
ns_consume ns.dev "$dev"
ns_consume ns.up "$up"
ns_consume events "$ev"
id() { printf '%032x' "$1"; } # message ids: acme's 1xx, globex's 2xx
fa() { ns_frame 26000001 "$KA" "$AS" "$1" --f-port 1 --payload "$(printf '%02x' "$1")"; }
fg() { ns_frame 26000001 "$KG" "$AS" "$1" --f-port 1 --payload "$(printf '%02x' "$1")"; }
upd() { jq -c "select(.type==\"uplink_message\" and .tenant==\"$1\" and .f_cnt==$2)" "$up"; }
devs() { jq -c "select(.tenant==\"$1\" and .f_cnt==$2)" "$dev"; }

# A first uplink of each device: the matcher consumes.
ns_send <<CMDS
up acme gw1 0000000000000001 $(fa 1) 868100000 7 7.5 -40 1000 $(id 101)
up globex gw8 0000000000000008 $(fg 1) 868100000 7 7.5 -40 1000 $(id 201)
CMDS
ns_wait "$up" '.type=="uplink_message" and .f_cnt==1' 2 30

# ---- one batch: three copies of acme's frame 2, two of globex's ------------------------------
kill -STOP "$STACK_PID"
ns_send <<CMDS
up acme gw1 0000000000000001 $(fa 2) 868100000 7 7.5 -40 2000 $(id 102)
up acme gw2 0000000000000002 $(fa 2) 868100000 7 3.0 -80 2100 $(id 103)
up globex gw8 0000000000000008 $(fg 2) 868100000 7 6.0 -50 2200 $(id 202)
up acme gw3 0000000000000003 $(fa 2) 868100000 7 1.0 -90 2300 $(id 104)
up globex gw9 0000000000000009 $(fg 2) 868100000 7 2.0 -70 2400 $(id 203)
CMDS
lw_t_eq "five gs.up copies published while the stack is stopped" 0 $?
kill -CONT "$STACK_PID"
ns_wait "$up" '.type=="uplink_message" and .f_cnt==2' 2 15
# Later frames of each device (same lw.ns.dev and lw.ns.up partitions): once they are out,
# everything of frame 2 is.
ns_send <<CMDS
up acme gw1 0000000000000001 $(fa 3) 868100000 7 7.5 -40 3000 $(id 105)
up globex gw8 0000000000000008 $(fg 3) 868100000 7 7.5 -40 3000 $(id 205)
CMDS
ns_wait "$up" '.type=="uplink_message" and .f_cnt==3' 2 15
ns_wait "$dev" '.f_cnt==3' 2 15

lw_t_eq "acme: three copies in one batch → ONE lw.ns.dev message" 1 "$(devs acme 2 | wc -l)"
lw_t_eq "… its id the first copy's, copy_ids the other two" "$(id 102) $(id 103),$(id 104)" \
    "$(devs acme 2 | jq -r '"\(.id) \(.copy_ids | join(","))"')"
lw_t_eq "… with the three copies' rx_metadata, all acme's, for acme/dev1" "gw1:acme,gw2:acme,gw3:acme dev1" \
    "$(devs acme 2 | jq -r '"\([.rx_metadata[] | "\(.gateway_id):\(.tenant_id)"] | join(",")) \(.device)"')"
lw_t_eq "globex (same DevAddr, same batch): its own message, its two copies" \
    "1 $(id 202) $(id 203) gw8:globex,gw9:globex" \
    "$(devs globex 2 | wc -l) $(devs globex 2 | jq -r '"\(.id) \(.copy_ids | join(",")) \([.rx_metadata[] | "\(.gateway_id):\(.tenant_id)"] | join(","))"')"
lw_t_eq "lw.ns.up: one acme result with the three gateways" "1 gw1,gw2,gw3 $(id 102)" \
    "$(upd acme 2 | wc -l) $(upd acme 2 | jq -r '"\(.gateways | sort | join(",")) \(.id)"')"
lw_t_eq "lw.ns.up: one globex result with its two gateways" "1 gw8,gw9" \
    "$(upd globex 2 | wc -l) $(upd globex 2 | jq -r '.gateways | sort | join(",")')"
lw_t_eq "lone copies: one message each, no copy_ids" "1:0 1:0" \
    "$(for t in acme globex; do echo "$(devs $t 3 | wc -l):$(devs $t 3 | jq '.copy_ids | length')"; done | xargs)"
lw_t_eq "uplinks on lw.ns.dev: rx entries = messages + copy_ids = the 9 copies" "9 9" \
    "$(jq -s 'map(select(.raw != "") | .rx_metadata | length) | add' "$dev") $(jq -s 'map(select(.raw != "") | 1 + (.copy_ids | length)) | add' "$dev")"

# ---- replays of a merged copy's id ------------------------------------------------------------
# After the cooldown (1 s), acme's second copy again, alone: its id is only in copy_ids.
sleep 1.2
echo "up acme gw2 0000000000000002 $(fa 2) 868100000 7 3.0 -80 2100 $(id 103)" | ns_send
lw_t_wait_for "already_processed counted" 15 bash -c "curl -sS http://127.0.0.1:$port/metrics | grep -qF 'lwstack_ns_dropped_total{reason=\"already_processed\"} 1'" || true
lw_t_eq "a copy whose id is in copy_ids, again → dropped already_processed, counted" 1 \
    "$(metric 'lwstack_ns_dropped_total{reason="already_processed"}')"

kill -TERM "$STACK_PID"
lw_t_wait_exit "$STACK_PID" 20
lw_t_eq "the stack stops cleanly" 0 "$LW_T_RC"
lw_t_stack stack2 "$port" "${args[@]}"
STACK_PID=$LW_T_LAST_PID
# After the restart, in one batch: a new copy of acme's frame 2 (id 107, read first) with
# its third copy (104), which the matcher merges into one message whose own id is new and
# whose copy_ids names a processed copy; globex's second copy (203) alone. Then a new frame
# of each device, which goes through (and, on the same partitions, comes after the replays).
kill -STOP "$STACK_PID"
ns_send <<CMDS
up acme gw4 0000000000000004 $(fa 2) 868100000 7 2.0 -85 2500 $(id 107)
up acme gw3 0000000000000003 $(fa 2) 868100000 7 1.0 -90 2300 $(id 104)
up globex gw9 0000000000000009 $(fg 2) 868100000 7 2.0 -70 2400 $(id 203)
CMDS
kill -CONT "$STACK_PID"
ns_send <<CMDS
up acme gw1 0000000000000001 $(fa 4) 868100000 7 7.5 -40 4000 $(id 108)
up globex gw8 0000000000000008 $(fg 4) 868100000 7 7.5 -40 4000 $(id 206)
CMDS
ns_wait "$up" '.type=="uplink_message" and .f_cnt==4' 2 30
lw_t_wait_for "already_processed counted after the restart" 10 bash -c "curl -sS http://127.0.0.1:$port/metrics | grep -qF 'lwstack_ns_dropped_total{reason=\"already_processed\"} 2'" || true
lw_t_eq "after the restart: the replays of merged copies recognised (already_processed)" 2 \
    "$(metric 'lwstack_ns_dropped_total{reason="already_processed"}')"
fr=$(metric 'lwstack_ns_dropped_total{reason="f_cnt_replay"}' || true)
lw_t_eq "… not taken for FCnt replays" 0 "${fr:-0}"
ns_wait "$dev" '.f_cnt==4' 2 15
lw_t_eq "… acme's replay was one message: a new id, the processed copy in copy_ids" "1 $(id 104)" \
    "$(jq -c "select(.id==\"$(id 107)\")" "$dev" | wc -l) $(jq -r "select(.id==\"$(id 107)\") | .copy_ids | join(\",\")" "$dev")"
lw_t_eq "… and no second result for frame 2" "1 1" "$(upd acme 2 | wc -l) $(upd globex 2 | wc -l)"
lw_t_eq "the next frames go through, each in its own tenant" "acme:dev1 globex:dev1" \
    "$(jq -r 'select(.type=="uplink_message" and .f_cnt==4) | "\(.tenant):\(.device)"' "$up" | sort | xargs)"

kill -TERM "$STACK_PID"
lw_t_wait_exit "$STACK_PID" 20
lw_t_eq "the second stack stops cleanly" 0 "$LW_T_RC"
lw_t_eq "no sanitizer report" 0 "$(cat "$LW_T_DIR/stack.log" "$LW_T_DIR/stack2.log" | grep -cE 'AddressSanitizer|LeakSanitizer|runtime error')"
lw_t_done
