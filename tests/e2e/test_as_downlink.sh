#!/usr/bin/env bash
# Acceptance (issue 10): a downlink pushed on the AS API (POST .../down/push, frm_payload in
# clear) is encrypted by the AS for the device's next FCntDown with the AppSKey of its join,
# queued at the NS on lw.as.down, and received by the simulated OTAA device in a receive
# window of its next uplink, which decrypts it (the simulator derives its own AppSKey). When
# the NS has meanwhile used counters for MAC-only downlinks it hands the item back
# (downlink_queue_invalidated) and the AS encrypts it again for the NS's next counter, by
# itself. lw.as.up carries downlink_queued and downlink_sent with the payload in clear. Two
# tenants: globex's device (LoRaWAN 1.1: the AS encrypts for the AFCntDown) gets only its own
# downlink, acme's only acme's. Then a second AS process joins, and
# GET .../down answers the same on both processes, whichever holds the device.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "AS downlinks"
lw_e2e_need js "OTAA joins (the Join Server)"
lw_e2e_need as "the Application Server"
lw_e2e_start --js.application-server-kek-label as-dev --as.keks.as-dev "$E2E_AS_KEK"
lw_e2e_tenant acme
lw_e2e_tenant globex
lw_e2e_tap as.up,ns.up
lw_e2e_wait_matcher

common=(--gateways 1 --copies 1 --duration 0 --json)
declare -A ver=([acme]=1.0.3 [globex]=1.1) # 1.1: the AS encrypts for the AFCntDown
pids=()
for t in acme globex; do
    lw_e2e_sim $t --seed "$t-dl" --application app1 --otaa --lorawan-version "${ver[$t]}" --devices 1 \
        --uplinks-per-device 2 --rate 0.25 --keys-out "$LW_T_DIR/$t.state" \
        --events "$LW_T_DIR/$t.0.ev" "${common[@]}" >"$LW_T_DIR/$t.0.json" &
    pids+=($!)
done
wait "${pids[@]}"
asup() { echo "._topic == \"as.up\" and .envelope.tenant_id == \"$1\" and .type == \"$2\""; }
asjson() {
    lw_e2e_bus_select "$1" | jq -r .json | while read -r h; do
        perl -e 'print pack("H*", $ARGV[0]), "\n"' "$h"
    done
}
for t in acme globex; do lw_e2e_wait_bus 2 "$(asup $t AS_UP_UPLINK_MESSAGE)" 20; done

DEV="sim-$(jq -r .dev_eui "$LW_T_DIR/acme.state")"
r=$(lw_t_admin POST "$api/as/applications/app1/devices/$DEV/down/push" -H "X-Tenant-ID: acme" \
    -d '{"downlinks":[{"f_port":5,"frm_payload":"yv4B","priority":"NORMAL","correlation_ids":["test:dl1"]}]}')
lw_t_eq "acme: push → 200 {}" "200 {}" "${r%% *} $(lw_t_body "$r" | jq -c .)"
r=$(lw_t_admin POST "$api/as/applications/app1/devices/$DEV/down/push" -H "X-Tenant-ID: globex" \
    -d '{"downlinks":[{"f_port":5,"frm_payload":"yv4B"}]}')
lw_t_eq "globex: the same push for acme's device → 404 as_device_not_found" \
    "404 as_device_not_found" "$(lw_t_status_name "$r")"
GDEV="sim-$(jq -r .dev_eui "$LW_T_DIR/globex.state")"
r=$(lw_t_admin POST "$api/as/applications/app1/devices/$GDEV/down/push" -H "X-Tenant-ID: globex" \
    -d '{"downlinks":[{"f_port":9,"frm_payload":"Bw=="}]}')
lw_t_eq "globex: push to its own (LoRaWAN 1.1) device → 200 {}" "200 {}" "${r%% *} $(lw_t_body "$r" | jq -c .)"
lw_e2e_wait_bus 1 "$(asup acme AS_UP_DOWNLINK_QUEUED)" 10
lw_e2e_wait_bus 1 "$(asup globex AS_UP_DOWNLINK_QUEUED)" 10

# The device's next uplinks (at most four rounds: MAC downlinks may take counters first).
got() { cat "$LW_T_DIR"/acme.[1-9].ev 2>/dev/null | jq -r 'select(.event == "downlink" and .result == "ok" and .payload == "cafe01" and .fport == 5) | .dev_eui'; }
ggot() { cat "$LW_T_DIR"/globex.[1-9].ev 2>/dev/null | jq -r 'select(.event == "downlink" and .result == "ok" and .payload == "07" and .fport == 9) | .dev_eui'; }
for round in 1 2 3 4; do
    pids=()
    for t in acme globex; do
        lw_e2e_sim_udp --seed "$t-dl" --keys-file "$LW_T_DIR/$t.state" --keys-out "$LW_T_DIR/$t.state" \
            --uplinks-per-device 1 --rate 100 --events "$LW_T_DIR/$t.$round.ev" "${common[@]}" >"$LW_T_DIR/$t.$round.json" &
        pids+=($!)
    done
    wait "${pids[@]}"
    [ -n "$(got)" ] && [ -n "$(ggot)" ] && break
    echo "note: round $round: no downlink yet ($(lw_e2e_bus_count "._topic == \"ns.up\" and .downlink_queue_invalidated != null") invalidations so far)"
    sleep 1
done
lw_t_eq "acme: the device received and decrypted cafe01 on FPort 5" "$(jq -r .dev_eui "$LW_T_DIR/acme.state")" "$(got | head -1)"
lw_t_eq "globex: its 1.1 device received and decrypted 07 on FPort 9 (AFCntDown)" "$(jq -r .dev_eui "$LW_T_DIR/globex.state")" "$(ggot | head -1)"
lw_t_eq "each device received only its own application downlink" "acme:cafe01:5 globex:07:9" \
    "$(for t in acme globex; do cat "$LW_T_DIR"/$t.*.ev | jq -r --arg t $t 'select(.event == "downlink" and .result == "ok" and .fport != null and .fport > 0) | "\($t):\(.payload):\(.fport)"'; done | sort -u | xargs)"
lw_e2e_wait_bus 1 "$(asup acme AS_UP_DOWNLINK_SENT)" 10
lw_t_eq "acme: downlink_queued on lw.as.up with the payload in clear and the caller's correlation id" "yv4B 5 true" \
    "$(asjson "$(asup acme AS_UP_DOWNLINK_QUEUED)" | head -1 | jq -r '"\(.downlink_queued.frm_payload) \(.downlink_queued.f_port) \(.downlink_queued.correlation_ids | index("test:dl1") != null)"')"
lw_t_eq "acme: downlink_sent on lw.as.up with the payload in clear" "yv4B 5" \
    "$(asjson "$(asup acme AS_UP_DOWNLINK_SENT)" | tail -1 | jq -r '"\(.downlink_sent.frm_payload) \(.downlink_sent.f_port)"')"
lw_e2e_wait_bus 1 "$(asup globex AS_UP_DOWNLINK_SENT)" 10
lw_t_eq "globex: its downlink messages on lw.as.up carry its own payload only" "Bw==:9" \
    "$(asjson "._topic == \"as.up\" and .envelope.tenant_id == \"globex\" and (.type | startswith(\"AS_UP_DOWNLINK\"))" | jq -r '(.downlink_queued // .downlink_sent) | "\(.frm_payload):\(.f_port)"' | sort -u | xargs)"
r=$(lw_t_admin GET "$api/as/applications/app1/devices/$DEV/down" -H "X-Tenant-ID: acme")
lw_t_eq "acme: GET .../down after it was sent → 200, empty queue" "200 {}" "${r%% *} $(lw_t_body "$r" | jq -c .)"

# A second AS process: the device's worker is in one of the two, and GET .../down answers
# the same from both (the owner hands the NS's answer to the asker on lw.as.replies).
AS2_HTTP=$(lw_t_free_port)
E2E_ARGS+=(--as.keks.as-dev "$E2E_AS_KEK" --as.mqtt.listen 127.0.0.1:0)
lw_e2e_has_key tenancy.identity-server-uri && E2E_ARGS+=(--tenancy.identity-server-uri "$E2E_API")
lw_e2e_spawn as2 "$AS2_HTTP" tenant as
lw_t_wait_for "as2 holds partitions of lw.ns.up" 30 grep -q 'msg="partitions assigned" group=as ' "$LW_T_DIR/as2.log"
lw_t_wait_for "the stack's AS gave up some" 30 bash -c "grep 'group=as ' '$LW_T_DIR/stack.log' | grep -q 'partitions revoked'"
sleep 2 # the stack's AS takes its new set after the revoke
r=$(lw_t_admin POST "$api/as/applications/app1/devices/$DEV/down/push" -H "X-Tenant-ID: acme" \
    -d '{"downlinks":[{"f_port":6,"frm_payload":"AQI=","correlation_ids":["test:dl2"]}]}')
lw_t_eq "acme: a second push (the device sends nothing more: it stays queued) → 200" 200 "${r%% *}"
for port in "$E2E_HTTP" "$AS2_HTTP"; do
    r=$(lw_t_admin GET "http://127.0.0.1:$port/api/v3/as/applications/app1/devices/$DEV/down" -H "X-Tenant-ID: acme")
    lw_t_eq "acme: GET .../down on port $port → the queued item, in clear" "200 AQI= 6" \
        "${r%% *} $(lw_t_body "$r" | jq -r '.downlinks | map("\(.frm_payload) \(.f_port)") | join(",")')"
done
GDEV="sim-$(jq -r .dev_eui "$LW_T_DIR/globex.state")"
r=$(lw_t_admin GET "http://127.0.0.1:$AS2_HTTP/api/v3/as/applications/app1/devices/$GDEV/down" -H "X-Tenant-ID: globex")
lw_t_eq "globex: GET .../down of its own device on as2 → 200, nothing of acme's" "200 {}" "${r%% *} $(lw_t_body "$r" | jq -c .)"
lw_t_done
