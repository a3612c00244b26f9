#!/usr/bin/env bash
# Acceptance (issue 10, MQTT): mosquitto_sub, connected with an application API key, receives
# what the whole stack makes of a simulated OTAA device's traffic through three gateways: the
# `join`, then `up` with the decrypted frm_payload and one rx_metadata per gateway, The
# Things Stack's topics and JSON. mosquitto_pub on `down/push` queues a downlink: `down/queued`
# on MQTT, the device receives and decrypts it after its next uplink, then `down/sent`; a
# confirmed one gives `down/ack` when the device acknowledges it, `down/nack` (and a new push)
# when its next uplink does not. Two
# tenants (acme, globex) with an application `app1` each: neither sees the other's messages.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "AS over MQTT"
lw_e2e_need js "OTAA joins (the Join Server)"
lw_e2e_need as "the Application Server"
command -v mosquitto_sub >/dev/null || { echo "mosquitto-clients missing (ops/install)" >&2; exit 1; }
lw_e2e_start --js.application-server-kek-label as-dev --as.keks.as-dev "$E2E_AS_KEK"
mport=$(sed -nE 's/.*msg="mqtt listening".* port=([0-9]+).*/\1/p' "$LW_T_DIR/stack.log" | head -1)
[ -n "$mport" ] || { echo "no MQTT port in the log" >&2; exit 1; }
metric() { curl -sS "$E2E_API/metrics" | grep -F "$1" | awk '{print $NF}' | head -1; }
declare -A KEY
for t in acme globex; do
    lw_e2e_tenant $t
    r=$(lw_t_adm $t POST /users/admin/applications '{"application":{"ids":{"application_id":"app1"}}}')
    lw_t_eq "$t: app1 created" 200 "${r%% *}"
    r=$(lw_t_adm $t POST /applications/app1/api-keys \
        '{"name":"mqtt","rights":["RIGHT_APPLICATION_TRAFFIC_READ","RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE"]}')
    KEY[$t]=$(lw_t_body "$r" | jq -r .key)
    lw_t_bg "$t.mqtt" mosquitto_sub -h 127.0.0.1 -p "$mport" -u "app1@$t" -P "${KEY[$t]}" -t '#' -v -q 1
done
lw_e2e_tap as.up,ns.up
lw_e2e_wait_matcher
lw_t_wait_for "two MQTT subscribers" 10 bash -c "[ \"\$(curl -sS $E2E_API/metrics | grep '^lwstack_as_mqtt_connections ' | awk '{print \$NF}')\" = 2 ]"
# The MQTT server reads lw.as.up from its end once its private group has the partitions.
lw_t_wait_for "lw.as.up assigned to the MQTT server" 30 grep -q 'partitions assigned.*lw.as.up' "$LW_T_DIR/stack.log"
sleep 1

common=(--gateways 3 --copies 3 --duration 0 --json --fport 7 --payload 01020304)
pids=()
for t in acme globex; do
    lw_e2e_sim $t --seed "$t-mqtt" --application app1 --otaa --lorawan-version 1.0.3 --devices 1 \
        --uplinks-per-device 2 --rate 0.5 --keys-out "$LW_T_DIR/$t.state" \
        --events "$LW_T_DIR/$t.0.ev" "${common[@]}" >"$LW_T_DIR/$t.0.json" &
    pids+=($!)
done
wait "${pids[@]}"
lines() { grep -c "^v3/app1@$1/devices/[^/]*/$2 " "$LW_T_DIR/$1.mqtt.out" || true; }
for t in acme globex; do
    lw_t_wait_for "$t: join and 2 uplinks on MQTT" 30 bash -c \
        "[ \$(grep -c '/up ' '$LW_T_DIR/$t.mqtt.out') -ge 2 ] && grep -q '/join ' '$LW_T_DIR/$t.mqtt.out'"
done
for t in acme globex; do
    dev="sim-$(jq -r .dev_eui "$LW_T_DIR/$t.state")"
    out="$LW_T_DIR/$t.mqtt.out"
    lw_t_eq "$t: one join on v3/app1@$t/devices/$dev/join" "1 1" \
        "$(lines $t join) $(grep -c "^v3/app1@$t/devices/$dev/join " "$out")"
    lw_t_eq "$t: join JSON names the device and a session key id" "$dev app1 true" \
        "$(grep '/join ' "$out" | cut -d' ' -f2- | jq -r '"\(.end_device_ids.device_id) \(.end_device_ids.application_ids.application_id) \(.join_accept.session_key_id != null)"')"
    ups=$(grep "^v3/app1@$t/devices/$dev/up " "$out" | cut -d' ' -f2-)
    lw_t_eq "$t: two up messages, FCnt 0 and 1" "0 1" "$(jq -r '.uplink_message.f_cnt // 0' <<<"$ups" | sort -n | xargs)"
    lw_t_eq "$t: frm_payload decrypted (01020304 → AQIDBA==) on FPort 7" "AQIDBA== 7|AQIDBA== 7" \
        "$(jq -r '"\(.uplink_message.frm_payload) \(.uplink_message.f_port)"' <<<"$ups" | paste -sd'|')"
    lw_t_eq "$t: three rx_metadata, one per gateway" "3 3" \
        "$(jq -r '.uplink_message.rx_metadata | map(.gateway_ids.gateway_id) | unique | length' <<<"$ups" | xargs)"
    lw_t_eq "$t: the MQTT payload is the AsUp's JSON, byte for byte" "same" \
        "$(diff <(grep '/up ' "$out" | cut -d' ' -f2- | sort) <(lw_e2e_bus_select "._topic == \"as.up\" and .envelope.tenant_id == \"$t\" and .type == \"AS_UP_UPLINK_MESSAGE\"" | jq -r .json | while read -r h; do perl -e 'print pack("H*", $ARGV[0]), "\n"' "$h"; done | sort) >/dev/null && echo same || echo different)"
    lw_t_eq "$t: nothing of the other tenant" 0 "$(grep -vc "^v3/app1@$t/" "$out" || true)"
done

# A downlink from MQTT: queued, received by the device at its next uplink, then sent.
DEV="sim-$(jq -r .dev_eui "$LW_T_DIR/acme.state")"
mosquitto_pub -h 127.0.0.1 -p "$mport" -u app1@acme -P "${KEY[acme]}" -q 1 \
    -t "v3/app1@acme/devices/$DEV/down/push" -m '{"downlinks":[{"f_port":5,"frm_payload":"yv4B","priority":"NORMAL"}]}'
lw_t_wait_for "down/queued on MQTT" 20 grep -q "^v3/app1@acme/devices/$DEV/down/queued " "$LW_T_DIR/acme.mqtt.out"
lw_t_eq "acme: down/queued with the payload in clear" "yv4B 5" \
    "$(grep "/down/queued " "$LW_T_DIR/acme.mqtt.out" | head -1 | cut -d' ' -f2- | jq -r '"\(.downlink_queued.frm_payload) \(.downlink_queued.f_port)"')"
got() { cat "$LW_T_DIR"/acme.[1-9].ev 2>/dev/null | jq -r 'select(.event == "downlink" and .result == "ok" and .payload == "cafe01" and .fport == 5) | .dev_eui'; }
sim1=(--gateways 1 --copies 1 --duration 0 --json)
for round in 1 2 3 4; do
    lw_e2e_sim_udp --seed "acme-mqtt" --keys-file "$LW_T_DIR/acme.state" --keys-out "$LW_T_DIR/acme.state" \
        --uplinks-per-device 1 --rate 100 --events "$LW_T_DIR/acme.$round.ev" "${sim1[@]}" >"$LW_T_DIR/acme.$round.json"
    [ -n "$(got)" ] && break
    sleep 1
done
lw_t_eq "acme: the device received and decrypted cafe01 on FPort 5" "$(jq -r .dev_eui "$LW_T_DIR/acme.state")" "$(got | head -1)"
lw_t_wait_for "down/sent on MQTT" 20 grep -q "^v3/app1@acme/devices/$DEV/down/sent " "$LW_T_DIR/acme.mqtt.out"
lw_t_eq "acme: down/sent with the payload in clear" "yv4B 5" \
    "$(grep "/down/sent " "$LW_T_DIR/acme.mqtt.out" | tail -1 | cut -d' ' -f2- | jq -r '"\(.downlink_sent.frm_payload) \(.downlink_sent.f_port)"')"

# Confirmed downlinks: acknowledged in the device's next uplink → down/ack; an uplink without
# the ACK bit (the device's ACK lost: ack_next cleared in its state) → down/nack, and the AS
# pushes the item again (confirmed_retry.attempt 1).
confirmed_round() { # PAYLOAD_HEX TAG: uplinks until the device has received PAYLOAD_HEX
    local want=$1 tag=$2 round
    for round in 1 2 3 4; do
        lw_e2e_sim_udp --seed "acme-mqtt" --keys-file "$LW_T_DIR/acme.state" --keys-out "$LW_T_DIR/acme.state" \
            --uplinks-per-device 1 --rate 100 --events "$LW_T_DIR/acme.$tag$round.ev" "${sim1[@]}" >"$LW_T_DIR/acme.$tag$round.json"
        cat "$LW_T_DIR"/acme."$tag"*.ev | jq -e --arg p "$want" 'select(.event == "downlink" and .result == "ok" and .payload == $p)' >/dev/null && return 0
        sleep 1
    done
    return 1
}
mosquitto_pub -h 127.0.0.1 -p "$mport" -u app1@acme -P "${KEY[acme]}" -q 1 \
    -t "v3/app1@acme/devices/$DEV/down/push" -m '{"downlinks":[{"f_port":6,"frm_payload":"AQ==","confirmed":true}]}'
lw_t_eq "acme: the device received the confirmed downlink 01" 0 "$(confirmed_round 01 c; echo $?)"
lw_t_eq "acme: its state says the next uplink acknowledges it" true "$(jq -r .ack_next "$LW_T_DIR/acme.state")"
lw_e2e_sim_udp --seed "acme-mqtt" --keys-file "$LW_T_DIR/acme.state" --keys-out "$LW_T_DIR/acme.state" \
    --uplinks-per-device 1 --rate 100 --events "$LW_T_DIR/acme.ack.ev" "${sim1[@]}" >"$LW_T_DIR/acme.ack.json"
lw_t_wait_for "down/ack on MQTT" 20 grep -q "^v3/app1@acme/devices/$DEV/down/ack " "$LW_T_DIR/acme.mqtt.out"
lw_t_eq "acme: down/ack names the confirmed downlink, in clear" "AQ== 6 true" \
    "$(grep "/down/ack " "$LW_T_DIR/acme.mqtt.out" | head -1 | cut -d' ' -f2- | jq -r '"\(.downlink_ack.frm_payload) \(.downlink_ack.f_port) \(.downlink_ack.confirmed)"')"
mosquitto_pub -h 127.0.0.1 -p "$mport" -u app1@acme -P "${KEY[acme]}" -q 1 \
    -t "v3/app1@acme/devices/$DEV/down/push" -m '{"downlinks":[{"f_port":6,"frm_payload":"Ag==","confirmed":true}]}'
lw_t_eq "acme: the device received the confirmed downlink 02" 0 "$(confirmed_round 02 n; echo $?)"
jq -c '.ack_next = false' "$LW_T_DIR/acme.state" >"$LW_T_DIR/acme.state.tmp" && mv "$LW_T_DIR/acme.state.tmp" "$LW_T_DIR/acme.state"
lw_e2e_sim_udp --seed "acme-mqtt" --keys-file "$LW_T_DIR/acme.state" --keys-out "$LW_T_DIR/acme.state" \
    --uplinks-per-device 1 --rate 100 --events "$LW_T_DIR/acme.nack.ev" "${sim1[@]}" >"$LW_T_DIR/acme.nack.json"
lw_t_wait_for "down/nack on MQTT" 20 grep -q "^v3/app1@acme/devices/$DEV/down/nack " "$LW_T_DIR/acme.mqtt.out"
lw_t_eq "acme: down/nack names the unacknowledged downlink, in clear" "Ag== 6" \
    "$(grep "/down/nack " "$LW_T_DIR/acme.mqtt.out" | head -1 | cut -d' ' -f2- | jq -r '"\(.downlink_nack.frm_payload) \(.downlink_nack.f_port)"')"
lw_t_wait_for "the nacked downlink queued again" 20 bash -c "grep '/down/queued ' '$LW_T_DIR/acme.mqtt.out' | cut -d' ' -f2- | jq -e 'select(.downlink_queued.frm_payload == \"Ag==\" and .downlink_queued.confirmed_retry.attempt == 1)' >/dev/null"
lw_t_eq "acme: pushed again with confirmed_retry.attempt 1 and a new FCnt" "yes" \
    "$(grep '/down/queued ' "$LW_T_DIR/acme.mqtt.out" | cut -d' ' -f2- | jq -s -r '[.[] | .downlink_queued | select(.frm_payload == "Ag==")] | if length == 2 and .[0].f_cnt != .[1].f_cnt then "yes" else "no: \(tojson)" end')"
lw_t_eq "globex: no downlink topics" 0 "$(grep -c '/down/' "$LW_T_DIR/globex.mqtt.out" || true)"
lw_t_eq "MQTT deliveries counted at QoS 1" "yes" \
    "$([ "$(metric 'lwstack_as_mqtt_delivered_total{qos="1"}')" -ge 8 ] && echo yes || echo no)"
lw_t_done
