#!/usr/bin/env bash
# Durability of joins (issue 9 item 7: a restart never makes a device rejoin): the NS sends a
# join-accept towards a gateway only once the pending session it starts is durable. A
# join-accept sent before would be lost with a crash: after the restart the join-request is
# replayed, the Join Server refuses its DevNonce (used), and the device holds a session the
# NS no longer knows. Here acme's state writes are held (a transaction locks acme's
# ns_devices), a join-request is answered by the JS, the NS is SIGKILLed and restarted:
# no join-accept reached lw.gs.down for it, the replayed join-request is refused, and the
# device's next join-request (a new DevNonce) joins, its join-accept sent once its session
# is in PostgreSQL. globex's device joins meanwhile, its state not held. Then a slow JS: a
# late gateway copy of a join-request waiting behind its join is a duplicate. Two tenants.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ns_lib.sh"

# The test plays the GS on the bus: the stack's own GS must not answer the downlinks of
# gateways it does not hold (gs.downlink.answer-not-connected).
lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
jsport=$(lw_t_free_port)
KEK=101112131415161718191a1b1c1d1e1f
args=(--gs.downlink.answer-not-connected=false --js.listen "127.0.0.1:$jsport"
    --js.key-encryption-key 000102030405060708090a0b0c0d0e0f --js.keks.dev "$KEK"
    --js.network-server-kek-label dev --ns.keks.dev "$KEK"
    --ns.join-server-uri "http://127.0.0.1:$jsport/" --ns.net-id 000013
    --ns.key-encryption-key 202122232425262728292a2b2c2d2e2f)
lw_t_stack stack "$port" "${args[@]}"
STACK_PID=$LW_T_LAST_PID
api="http://127.0.0.1:$port/api/v3"

ns_tenant acme
ns_tenant globex
JOIN_EUI=70b3d57ed0001234
declare -A DEV_EUI=([acme]=0004a30b001c0540 [globex]=0004a30b001c0541)
declare -A APP_KEY=([acme]=2b7e151628aed2a6abf7158809cf4f3c [globex]=a1a2a3a4a5a6a7a8a9aaabacadaeafa0)
for t in acme globex; do
    ns_device $t dev1 "${DEV_EUI[$t]}" "$JOIN_EUI"
    r=$(lw_t_adm $t PUT /js/applications/app1/devices/dev1 "{\"end_device\":{\"ids\":{\"device_id\":\"dev1\",\"application_ids\":{\"application_id\":\"app1\"}},\"root_keys\":{\"app_key\":{\"key\":\"${APP_KEY[$t]}\"}}},\"field_mask\":{\"paths\":[\"root_keys.app_key.key\"]}}")
    lw_t_eq "$t: JS root keys → 200" 200 "${r%% *}"
    r=$(lw_t_adm $t PUT /ns/applications/app1/devices/dev1 '{"end_device":{"lorawan_version":"MAC_V1_0_3","lorawan_phy_version":"RP001_V1_0_3_REV_A","frequency_plan_id":"EU_863_870_TTN","supports_join":true},"field_mask":{"paths":["lorawan_version","lorawan_phy_version","frequency_plan_id","supports_join"]}}')
    lw_t_eq "$t: NS part (OTAA) → 200" 200 "${r%% *}"
done

up="$LW_T_DIR/up.jsonl"; down="$LW_T_DIR/down.jsonl"; ev="$LW_T_DIR/events.jsonl"
ns_consume ns.up "$up"
ns_consume gs.down "$down"
ns_consume events "$ev"
sleep 1
join() { # TENANT DEVNONCE TIMESTAMP
    echo "up $1 gw-$1 00000000000000a1 $("$NSD" join --join-eui "$JOIN_EUI" --dev-eui "${DEV_EUI[$1]}" --dev-nonce "$2" --app-key "${APP_KEY[$1]}") 868300000 10 5.0 -70 $3" | ns_send
}
accepts() { ns_count "$down" ".join_accept==true and .tenant==\"$1\""; }
paddr() { lw_t_psql -c "SELECT coalesce(pending_dev_addr, '-') || ' ' || coalesce(dev_addr, '-') FROM t_$1.ns_devices WHERE device_id = 'dev1'"; }

# hold TABLE: writes to TABLE (and FOR UPDATE reads) wait until release.
hold() {
    lw_t_bg lock psql "$LW_T_DB_URI" -X -q -v ON_ERROR_STOP=1 \
        -c "SET application_name = 'lw_test_lock'" \
        -c "BEGIN; LOCK TABLE $1 IN EXCLUSIVE MODE; SELECT pg_sleep(120); COMMIT"
    lw_t_wait_for "the lock on $1" 10 bash -c \
        "[ \"\$(psql '$LW_T_DB_URI' -X -A -t -c \"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lw_test_lock' AND query LIKE '%pg_sleep%'\")\" = 1 ]"
}
release() {
    lw_t_psql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'lw_test_lock'" >/dev/null
}

# acme's state writes wait behind this lock until the test ends the transaction.
hold t_acme.ns_devices
join acme 7 5000000
ns_wait "$up" '.type=="join_accept" and .tenant=="acme"' 1 20
lw_t_ok "acme: the JS answered the join-request (join_accept result on lw.ns.up)"
sleep 1.5
lw_t_eq "acme: no join-accept on lw.gs.down while its pending session is not durable" "0 - -" \
    "$(accepts acme) $(paddr acme)"

kill -KILL "$STACK_PID"
lw_t_wait_exit "$STACK_PID" 10
lw_t_eq "the NS died of SIGKILL" 137 "$LW_T_RC"
release
lw_t_stack stack2 "$port" "${args[@]}"
# The join-request is replayed (its offset was not committed): the JS knows its DevNonce.
ns_wait "$ev" '.name=="ns.up.join.drop" and .key=="acme"' 1 20
lw_t_eq "acme: after the restart the replayed join-request is refused by the JS (DevNonce used)" \
    "JoinReqFailed 0" \
    "$(jq -r 'select(.name=="ns.up.join.drop" and .key=="acme") | .data.reason' "$ev" | xargs) $(accepts acme)"

# The device, never answered, tries again with its next DevNonce; globex joins too.
join acme 8 9000000
join globex 7 9100000
for t in acme globex; do
    ns_wait "$down" ".join_accept==true and .tenant==\"$t\"" 1 20
    # The pending session was in PostgreSQL when the join-accept was published: read now.
    acc=$("$NSD" accept --app-key "${APP_KEY[$t]}" --phy "$(jq -r -n "first(inputs | select(.join_accept==true and .tenant==\"$t\")) | .raw" "$down")" \
        --dev-nonce "$([ $t = acme ] && echo 8 || echo 7)")
    addr=$(tr ' ' '\n' <<<"$acc" | sed -n 's/^dev_addr=//p')
    lw_t_eq "$t: one join-accept, sent with its pending session durable (DevAddr in ns_devices)" \
        "1 $addr -" "$(accepts $t) $(paddr $t)"
done
lw_t_eq "acme: the join-accept decrypts with the AppKey" "mic=ok" \
    "$(tr ' ' '\n' <<<"$("$NSD" accept --app-key "${APP_KEY[acme]}" --phy "$(jq -r -n 'first(inputs | select(.join_accept==true and .tenant=="acme")) | .raw' "$down")" --dev-nonce 8)" | grep ^mic=)"

# A slow Join Server (acme's js_devices held for 2.5 s): a second gateway's copy of the
# join-request, after the deduplication window, waits behind the join in progress; it is
# still a late copy of that join-request (dropped as a duplicate), not a second join.
hold t_acme.js_devices
jr=$("$NSD" join --join-eui "$JOIN_EUI" --dev-eui "${DEV_EUI[acme]}" --dev-nonce 9 --app-key "${APP_KEY[acme]}")
printf '%s\n' "up acme gw-acme 00000000000000a1 $jr 868300000 10 5.0 -70 20000000" "sleep 400" \
    "up acme gw2-acme 00000000000000a2 $jr 868300000 10 2.0 -90 30000000" | ns_send
sleep 2.5
release
ns_wait "$down" '.join_accept==true and .tenant=="acme"' 2 20
sleep 1
lw_t_eq "acme: one join for the two copies (join-accepts, join drops, duplicates counted)" "2 1 1" \
    "$(accepts acme) $(ns_count "$ev" '.name=="ns.up.join.drop" and .key=="acme"') $(curl -s "http://127.0.0.1:$port/metrics" | awk '/^lwstack_ns_dropped_total\{reason="duplicate"\}/ { print $2 }')"
lw_t_done
