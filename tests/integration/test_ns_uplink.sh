#!/usr/bin/env bash
# The Network Server's uplink path (issue 9, items 6, 7, 10), driven on the bus as the GS
# would (lw.gs.up copies built by ns_driver) with the NS API for the devices:
# two tenants with ABP devices sharing one DevAddr, each uplink reaching its own device;
# three gateway copies merged into one lw.ns.up with three rx_metadata; a late copy dropped;
# a replayed FCnt rejected with an event; 32-bit FCnt rollover; the API's rights and keys.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ns_lib.sh"

# The test plays the GS on the bus: the stack's own GS must not answer the downlinks of
# gateways it does not hold (gs.downlink.answer-not-connected).
lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
lw_t_stack stack "$port" --gs.downlink.answer-not-connected=false --ns.dev-addr-prefixes 26000000/8 \
    --ns.key-encryption-key 000102030405060708090a0b0c0d0e0f
api="http://127.0.0.1:$port/api/v3"

ns_tenant acme
ns_tenant globex
ns_device acme dev1
ns_device globex dev1
ns_device acme dev2

KA=11111111111111111111111111111111   # acme/dev1 NwkSKey
KG=22222222222222222222222222222222   # globex/dev1 NwkSKey
KA2=33333333333333333333333333333333  # acme/dev2 NwkSKey
AS=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa   # AppSKey (the NS never sees it)

# ---- the NS API ---------------------------------------------------------------------------
r=$(ns_abp acme dev1 26000001 "$KA")
lw_t_eq "PUT acme/dev1 (ABP) → 200" 200 "${r%% *}"
lw_t_eq "the answer names the session's DevAddr" 26000001 "$(lw_t_body "$r" | jq -r .session.dev_addr)"
r=$(ns_abp globex dev1 26000001 "$KG")
lw_t_eq "PUT globex/dev1 with the same DevAddr → 200" 200 "${r%% *}"
r=$(ns_abp acme dev2 26000002 "$KA2" ',"mac_settings":{"supports_32_bit_f_cnt":{"value":true}}' ',"mac_settings"')
lw_t_eq "PUT acme/dev2 with mac_settings → 200" 200 "${r%% *}"
r=$(ns_abp acme nodev 26000003 "$KA")
lw_t_eq "PUT a device the IS does not know → 404" "404 ns_registry_device_not_found" "$(lw_t_status_name "$r")"
r=$(ns_abp acme dev1 2600000 "$KA")
lw_t_eq "PUT with a 7-digit DevAddr → 400 naming the field" "400 invalid_field end_device.session.dev_addr" \
    "$(lw_t_status_name "$r") $(lw_t_body "$r" | jq -r '.details[0].attributes.field')"
r=$(lw_t_adm acme PUT /ns/applications/app1/devices/dev1 '{"end_device":{"frequency_plan_id":"NOPE"},"field_mask":{"paths":["frequency_plan_id"]}}')
lw_t_eq "PUT an unknown frequency plan → 400" "400 ns_unknown_frequency_plan" "$(lw_t_status_name "$r")"
r=$(lw_t_adm acme GET '/ns/applications/app1/devices/dev1?field_mask=session,lorawan_version,frequency_plan_id,mac_state')
lw_t_eq "GET acme/dev1 shows its key to an admin" "$KA" "$(lw_t_body "$r" | jq -r .session.keys.f_nwk_s_int_key.key | tr A-F a-f)"
lw_t_eq "GET acme/dev1 lorawan_version" MAC_V1_0_3 "$(lw_t_body "$r" | jq -r .lorawan_version)"
lw_t_eq "GET acme/dev1 mac_state: RX1 delay the ABP device uses" RX_DELAY_1 "$(lw_t_body "$r" | jq -r .mac_state.current_parameters.rx1_delay)"
r=$(lw_t_adm globex GET '/ns/applications/app1/devices/dev1?field_mask=session')
lw_t_eq "GET globex/dev1 shows globex's key" "$KG" "$(lw_t_body "$r" | jq -r .session.keys.f_nwk_s_int_key.key | tr A-F a-f)"
lw_t_eq "keys are wrapped at rest (no clear key in the row)" 0 \
    "$(lw_t_psql -c "SELECT count(*) FROM t_acme.ns_devices WHERE position(decode('$KA','hex') in state) > 0")"
r=$(lw_t_http GET "$api/ns/applications/app1/devices/dev1?field_mask=session" -H "X-Tenant-ID: acme")
lw_t_eq "GET without credentials → 401" 401 "${r%% *}"
r=$(lw_t_adm acme GET '/ns/applications/app1/devices/nodev')
lw_t_eq "GET an unknown device → 404" "404 ns_device_not_found" "$(lw_t_status_name "$r")"
if grep -qi "$KA\|$KG" "$LW_T_DIR/stack.log"; then lw_t_fail "a key appears in the log"; else lw_t_ok "no key in the log"; fi

# ---- uplinks ------------------------------------------------------------------------------
up="$LW_T_DIR/up.jsonl"; ev="$LW_T_DIR/events.jsonl"
ns_consume ns.up "$up"
ns_consume events "$ev"
sleep 1

fa=$(ns_frame 26000001 "$KA" "$AS" 1 --f-port 1 --payload 0a0b)
fg=$(ns_frame 26000001 "$KG" "$AS" 1 --f-port 1 --payload 0c0d)
ns_send <<CMDS
up acme gw1 0000000000000001 $fa 868100000 7 7.5 -40 1000
up globex gw9 0000000000000009 $fg 868100000 7 5.0 -60 2000
CMDS
ns_wait "$up" '.type=="uplink_message"' 2
lw_t_eq "acme's frame reached acme/dev1" "acme dev1 1 1" \
    "$(jq -r 'select(.type=="uplink_message" and .tenant=="acme") | "\(.tenant) \(.device) \(.f_cnt) \(.f_port)"' "$up")"
lw_t_eq "globex's frame reached globex/dev1" "globex dev1 1" \
    "$(jq -r 'select(.type=="uplink_message" and .tenant=="globex") | "\(.tenant) \(.device) \(.f_cnt)"' "$up")"
lw_t_eq "ns.up is keyed tenant/app/device" "acme/app1/dev1" \
    "$(jq -r 'select(.type=="uplink_message" and .tenant=="acme") | .key' "$up")"

# Three gateways within the window → one result with three rx_metadata.
f2=$(ns_frame 26000001 "$KA" "$AS" 2 --f-port 1 --payload 0102)
ns_send <<CMDS
up acme gw1 0000000000000001 $f2 868100000 7 7.5 -40 3000
up acme gw2 0000000000000002 $f2 868100000 7 3.0 -80 3100
up globex gw3 0000000000000003 $f2 868100000 7 1.0 -90 3200
CMDS
ns_wait "$up" '.type=="uplink_message" and .tenant=="acme" and .f_cnt==2' 1
sleep 0.5
# A copy after the window (200 ms) but within the cooldown (1 s): a duplicate, dropped.
ns_send <<CMDS
up acme gw4 0000000000000004 $f2 868100000 7 2.0 -85 3300
CMDS
sleep 1
lw_t_eq "three copies → one uplink_message" 1 "$(ns_count "$up" '.type=="uplink_message" and .tenant=="acme" and .f_cnt==2')"
lw_t_eq "... with the three gateways" "gw1,gw2,gw3" \
    "$(jq -r 'select(.type=="uplink_message" and .f_cnt==2) | .gateways | sort | join(",")' "$up")"

# Replay: FCnt 2 again, after the cooldown → rejected with an event.
sleep 1
ns_send <<CMDS
up acme gw1 0000000000000001 $f2 868100000 7 7.5 -40 4000
CMDS
ns_wait "$ev" '.name=="ns.up.data.drop" and .data.reason=="f_cnt_replay"' 1
lw_t_eq "the replay event names the device and the counters" "acme dev1 2 2" \
    "$(jq -r 'select(.name=="ns.up.data.drop" and .data.reason=="f_cnt_replay") | "\(.key) \(.identifiers[0].device_ids.device_id) \(.data.f_cnt) \(.data.last_f_cnt_up)"' "$ev" | head -1)"
lw_t_eq "the replay produced no uplink" 1 "$(ns_count "$up" '.type=="uplink_message" and .tenant=="acme" and .f_cnt==2')"
lw_t_eq "globex saw no acme event" 0 "$(ns_count "$ev" '.key=="globex" and .data.reason=="f_cnt_replay"')"

# 32-bit rollover: the API sets acme/dev2's counter to 0xffff; the next frame carries 0x0000.
r=$(lw_t_adm acme PUT /ns/applications/app1/devices/dev2 '{"end_device":{"session":{"last_f_cnt_up":65535}},"field_mask":{"paths":["session.last_f_cnt_up"]}}')
lw_t_eq "PUT session.last_f_cnt_up → 200" 200 "${r%% *}"
sleep 0.5
fr=$(ns_frame 26000002 "$KA2" "$AS" 65536 --f-port 2 --payload ff)
ns_send <<CMDS
up acme gw1 0000000000000001 $fr 868300000 9 7.5 -40 5000
CMDS
ns_wait "$up" '.type=="uplink_message" and .device=="dev2"' 1
lw_t_eq "FCnt 0xffff → 0x10000 (32-bit rollover)" 65536 \
    "$(jq -r 'select(.type=="uplink_message" and .device=="dev2") | .f_cnt' "$up")"

# Unknown DevAddr / wrong key: dropped with a reason, counted.
fx=$(ns_frame 26000009 "$KA" "$AS" 1 --f-port 1 --payload 00)
fw=$(ns_frame 26000001 "$KA2" "$AS" 7 --f-port 1 --payload 00)
ns_send <<CMDS
up acme gw1 0000000000000001 $fx 868100000 7 7.5 -40 6000
up acme gw1 0000000000000001 $fw 868100000 7 7.5 -40 6100
CMDS
ns_wait "$ev" '.name=="ns.up.data.drop" and .data.reason=="mic_mismatch"' 1
lw_t_eq "unknown DevAddr → drop event to the gateway's tenant" 1 \
    "$(ns_count "$ev" '.name=="ns.up.data.drop" and .data.reason=="unknown_dev_addr" and .key=="acme"')"
m=$(curl -s "http://127.0.0.1:$port/metrics")
lw_t_eq "drops counted by reason" 1 "$(printf '%s\n' "$m" | grep -c 'lwstack_ns_dropped_total{reason="mic_mismatch"} 1')"

# last_seen_at and the counter are durable.
sleep 0.5
r=$(lw_t_adm acme GET '/ns/applications/app1/devices/dev1?field_mask=session.last_f_cnt_up,last_seen_at')
lw_t_eq "GET shows last_f_cnt_up 2" 2 "$(lw_t_body "$r" | jq -r .session.last_f_cnt_up)"
lw_t_eq "GET shows last_seen_at" 1 "$(lw_t_body "$r" | jq -r '.last_seen_at // empty' | grep -c T)"

# DELETE removes the NS part only.
r=$(lw_t_adm acme DELETE /ns/applications/app1/devices/dev2)
lw_t_eq "DELETE acme/dev2 → 200" 200 "${r%% *}"
lw_t_eq "acme/dev2's NS row is gone, the registry's stays" "0 1" \
    "$(lw_t_psql -c "SELECT (SELECT count(*) FROM t_acme.ns_devices WHERE device_id='dev2') || ' ' || (SELECT count(*) FROM t_acme.end_devices WHERE device_id='dev2')")"
lw_t_eq "globex's devices untouched" 1 "$(lw_t_psql -c "SELECT count(*) FROM t_globex.ns_devices")"

# A suspended tenant's traffic stops (within 5 s); the other tenant's goes on.
r=$(lw_t_admin PUT "$api/tenants/globex" -d '{"tenant":{"state":"STATE_SUSPENDED"},"field_mask":{"paths":["state"]}}')
lw_t_eq "suspend globex → 200" 200 "${r%% *}"
sleep 5
fg3=$(ns_frame 26000001 "$KG" "$AS" 3 --f-port 1 --payload 0e)
fa3=$(ns_frame 26000001 "$KA" "$AS" 3 --f-port 1 --payload 0f)
ns_send <<CMDS
up globex gw9 0000000000000009 $fg3 868100000 7 5.0 -60 7000
up acme gw1 0000000000000001 $fa3 868100000 7 7.5 -40 7100
CMDS
ns_wait "$up" '.type=="uplink_message" and .tenant=="acme" and .f_cnt==3' 1
sleep 0.5
lw_t_eq "globex's uplink is dropped while it is suspended" 0 \
    "$(ns_count "$up" '.type=="uplink_message" and .tenant=="globex" and .f_cnt==3')"
lw_t_eq "... counted" 1 "$(curl -s "http://127.0.0.1:$port/metrics" | grep -c 'lwstack_ns_dropped_total{reason="tenant_not_active"}')"

# Deleting the device in the IS deletes its NS part; its DevAddr then matches nobody.
r=$(lw_t_adm acme DELETE /applications/app1/devices/dev1)
lw_t_eq "IS: delete acme/dev1 → 200" 200 "${r%% *}"
lw_t_eq "its NS part went with it" 0 "$(lw_t_psql -c "SELECT count(*) FROM t_acme.ns_devices WHERE device_id='dev1'")"
sleep 1
fa4=$(ns_frame 26000001 "$KA" "$AS" 4 --f-port 1 --payload 10)
echo "up acme gw1 0000000000000001 $fa4 868100000 7 7.5 -40 8000" | ns_send
sleep 1
lw_t_eq "no uplink for the deleted device" 0 "$(ns_count "$up" '.type=="uplink_message" and .tenant=="acme" and .f_cnt==4')"
lw_t_done
