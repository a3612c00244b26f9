#!/usr/bin/env bash
# Acceptance (issue 10, webhooks): a simulated OTAA device joins and sends through three
# gateways; the application's webhook (a real HTTP endpoint,
# tests/integration/as/webhook_receiver.py) receives join_accept and uplink_message at their
# paths with the same JSON mosquitto_sub gets and The Things Stack's headers (Content-Type,
# the webhook's own, X-Downlink-Apikey, X-Downlink-Push, X-Downlink-Replace, X-Tts-Domain).
# The endpoint then pushes a downlink to the X-Downlink-Push URL it was given, with the key it
# was given: downlink_queued at its path, the device decrypts the payload after its next
# uplink, downlink_sent. Two tenants (acme, globex) with an application `app1` each: neither
# sees the other's messages.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "AS webhooks"
lw_e2e_need js "OTAA joins (the Join Server)"
lw_e2e_need as "the Application Server"
command -v mosquitto_sub >/dev/null || { echo "mosquitto-clients missing (ops/install)" >&2; exit 1; }
recv="$LWSTACK_SRC/tests/integration/as/webhook_receiver.py"
lw_e2e_prepare
lw_t_stack stack "$E2E_HTTP" "${E2E_ARGS[@]}" --js.application-server-kek-label as-dev \
    --as.keks.as-dev "$E2E_AS_KEK" --as.webhooks.downlink.public-address "http://127.0.0.1:$E2E_HTTP/api/v3"
E2E_API="http://127.0.0.1:$E2E_HTTP"
api="$E2E_API/api/v3"
mport=$(sed -nE 's/.*msg="mqtt listening".* port=([0-9]+).*/\1/p' "$LW_T_DIR/stack.log" | head -1)
[ -n "$mport" ] || { echo "no MQTT port in the log" >&2; exit 1; }
declare -A KEY RPORT
for t in acme globex; do
    lw_e2e_tenant $t
    r=$(lw_t_adm $t POST /users/admin/applications '{"application":{"ids":{"application_id":"app1"}}}')
    lw_t_eq "$t: app1 created" 200 "${r%% *}"
    r=$(lw_t_adm $t POST /applications/app1/api-keys \
        '{"name":"hook","rights":["RIGHT_APPLICATION_TRAFFIC_READ","RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE"]}')
    KEY[$t]=$(lw_t_body "$r" | jq -r .key)
    RPORT[$t]=$(lw_t_free_port)
    touch "$LW_T_DIR/$t.hook.jsonl"
    lw_t_bg "$t.recv" python3 "$recv" --port "${RPORT[$t]}" --out "$LW_T_DIR/$t.hook.jsonl" --ready "$LW_T_DIR/$t.ready"
    lw_t_wait_for "$t's endpoint" 20 test -s "$LW_T_DIR/$t.ready"
    r=$(lw_t_adm $t POST /as/webhooks/app1 '{"webhook":{"ids":{"webhook_id":"hook1"},"base_url":"http://127.0.0.1:'${RPORT[$t]}'/'$t'","headers":{"X-Tenant":"'$t'"},"downlink_api_key":"'${KEY[$t]}'","uplink_message":{"path":"/up"},"join_accept":{"path":"/join"},"downlink_queued":{"path":"/down/queued"},"downlink_sent":{"path":"/down/sent"}}}')
    lw_t_eq "$t: webhook hook1 created" 200 "${r%% *}"
    lw_t_bg "$t.mqtt" mosquitto_sub -h 127.0.0.1 -p "$mport" -u "app1@$t" -P "${KEY[$t]}" -t '#' -v -q 1
done
lw_e2e_wait_matcher
lw_t_wait_for "two MQTT subscribers" 10 bash -c "[ \"\$(curl -sS $E2E_API/metrics | grep '^lwstack_as_mqtt_connections ' | awk '{print \$NF}')\" = 2 ]"
lw_t_wait_for "lw.as.up assigned to the MQTT server" 30 grep -q 'partitions assigned.*lw.as.up' "$LW_T_DIR/stack.log"
lw_t_wait_for "webhook outboxes loaded" 30 grep -q 'webhook outboxes loaded' "$LW_T_DIR/stack.log"
sleep 1

common=(--gateways 3 --copies 3 --duration 0 --json --fport 7 --payload 01020304)
pids=()
for t in acme globex; do
    lw_e2e_sim $t --seed "$t-hook" --application app1 --otaa --lorawan-version 1.0.3 --devices 1 \
        --uplinks-per-device 2 --rate 0.5 --keys-out "$LW_T_DIR/$t.state" \
        --events "$LW_T_DIR/$t.0.ev" "${common[@]}" >"$LW_T_DIR/$t.0.json" &
    pids+=($!)
done
wait "${pids[@]}"
for t in acme globex; do
    lw_t_wait_for "$t: join and 2 uplinks at the webhook" 30 bash -c \
        "[ \$(grep -c '\"path\": \"/$t/up\"' '$LW_T_DIR/$t.hook.jsonl') -ge 2 ] && grep -q '\"path\": \"/$t/join\"' '$LW_T_DIR/$t.hook.jsonl'"
    lw_t_wait_for "$t: join and 2 uplinks on MQTT" 30 bash -c \
        "[ \$(grep -c '/up ' '$LW_T_DIR/$t.mqtt.out') -ge 2 ] && grep -q '/join ' '$LW_T_DIR/$t.mqtt.out'"
done
sleep 1
for t in acme globex; do
    dev="sim-$(jq -r .dev_eui "$LW_T_DIR/$t.state")"
    H="$LW_T_DIR/$t.hook.jsonl"
    out="$LW_T_DIR/$t.mqtt.out"
    lw_t_eq "$t: the webhook got one join_accept at /$t/join and two uplink_message at /$t/up, in order" \
        "/$t/join /$t/up /$t/up" "$(jq -r .path "$H" | tr '\n' ' ' | sed 's/ $//')"
    lw_t_eq "$t: the webhook's join_accept is MQTT's join, the same JSON" "same" \
        "$([ "$(jq -c -S 'select(.path == "/'$t'/join") | .body' "$H")" = "$(grep '/join ' "$out" | cut -d' ' -f2- | jq -c -S .)" ] && echo same || echo different)"
    lw_t_eq "$t: the webhook's two uplinks are MQTT's up messages, the same JSON, in order" "same" \
        "$([ "$(jq -c -S 'select(.path == "/'$t'/up") | .body' "$H")" = "$(grep '/up ' "$out" | cut -d' ' -f2- | jq -c -S .)" ] && echo same || echo different)"
    lw_t_eq "$t: uplinks decrypted, FCnt 0 and 1, three gateways each" "AQIDBA==:0:3 AQIDBA==:1:3" \
        "$(jq -r 'select(.path == "/'$t'/up") | "\(.body.uplink_message.frm_payload):\(.body.uplink_message.f_cnt // 0):\(.body.uplink_message.rx_metadata | length)"' "$H" | tr '\n' ' ' | sed 's/ $//')"
    lw_t_eq "$t: TTS's headers on every request" \
        "application/json|$t|${KEY[$t]}|$api/as/applications/app1/webhooks/hook1/devices/$dev/down/push|$api/as/applications/app1/webhooks/hook1/devices/$dev/down/replace|127.0.0.1:$E2E_HTTP" \
        "$(jq -r '.headers | "\(."content-type")|\(."x-tenant")|\(."x-downlink-apikey")|\(."x-downlink-push")|\(."x-downlink-replace")|\(."x-tts-domain")"' "$H" | sort -u)"
    lw_t_eq "$t: nothing of the other tenant" 0 "$(jq -r 'select(.body.end_device_ids.device_id != "'$dev'")' "$H" | wc -l | tr -d ' ')"
done

# The endpoint answers with a downlink on the URL and key it was given.
H="$LW_T_DIR/acme.hook.jsonl"
PUSH=$(jq -r 'select(.path == "/acme/up") | .headers."x-downlink-push"' "$H" | tail -1)
HKEY=$(jq -r 'select(.path == "/acme/up") | .headers."x-downlink-apikey"' "$H" | tail -1)
r=$(lw_t_http POST "$PUSH" -H "X-Tenant-ID: acme" -H "X-Downlink-Apikey: $HKEY" -d '{"downlinks":[{"f_port":5,"frm_payload":"yv4B"}]}')
lw_t_eq "acme: POST X-Downlink-Push with X-Downlink-Apikey → 200" 200 "${r%% *}"
lw_t_wait_for "downlink_queued at the webhook" 20 grep -q '"path": "/acme/down/queued"' "$H"
lw_t_eq "acme: downlink_queued with the payload in clear, at its path" "yv4B 5" \
    "$(jq -r 'select(.path == "/acme/down/queued") | "\(.body.downlink_queued.frm_payload) \(.body.downlink_queued.f_port)"' "$H" | head -1)"
got() { cat "$LW_T_DIR"/acme.[1-9].ev 2>/dev/null | jq -r 'select(.event == "downlink" and .result == "ok" and .payload == "cafe01" and .fport == 5) | .dev_eui'; }
sim1=(--gateways 1 --copies 1 --duration 0 --json)
for round in 1 2 3 4; do
    lw_e2e_sim_udp --seed "acme-hook" --keys-file "$LW_T_DIR/acme.state" --keys-out "$LW_T_DIR/acme.state" \
        --uplinks-per-device 1 --rate 100 --events "$LW_T_DIR/acme.$round.ev" "${sim1[@]}" >"$LW_T_DIR/acme.$round.json"
    [ -n "$(got)" ] && break
    sleep 1
done
lw_t_eq "acme: the device received and decrypted cafe01 on FPort 5" "$(jq -r .dev_eui "$LW_T_DIR/acme.state")" "$(got | head -1)"
lw_t_wait_for "downlink_sent at the webhook" 20 grep -q '"path": "/acme/down/sent"' "$H"
lw_t_eq "acme: downlink_sent with the payload in clear" "yv4B 5" \
    "$(jq -r 'select(.path == "/acme/down/sent") | "\(.body.downlink_sent.frm_payload) \(.body.downlink_sent.f_port)"' "$H" | tail -1)"
lw_t_eq "globex: no downlink messages at its endpoint" 0 "$(jq -r 'select(.path | test("/down/"))' "$LW_T_DIR/globex.hook.jsonl" | wc -l | tr -d ' ')"
lw_t_eq "globex: acme's key and push URL refused in globex → 401" 401 \
    "$(lw_t_http POST "$PUSH" -H "X-Tenant-ID: globex" -H "X-Downlink-Apikey: $HKEY" -d '{"downlinks":[{"f_port":5,"frm_payload":"yv4B"}]}' | cut -d' ' -f1)"
lw_t_done
