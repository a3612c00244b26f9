#!/usr/bin/env bash
# Acceptance (issue 10, events): `POST /api/v3/events` (curl -N) streams a device's events as
# they happen while a simulated OTAA device joins and sends through the whole stack (three
# UDP gateways, GS → NS → JS → AS): the application's stream sees the join and the uplinks
# (js.join.accept, ns.up.join.process, gs.up.receive is the gateway's, as.up.data.receive,
# as.up.data.forward), a device stream opened after the join sees the next uplinks, `names`
# narrows it, `tail` replays the last ones. A key with no right on the application is
# refused (403 no_application_rights), a key with RIGHT_APPLICATION_INFO only gets none of
# the traffic, and the other tenant's stream sees only its own device. Two tenants.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "events"
lw_e2e_need js "OTAA joins (the Join Server)"
lw_e2e_need as "the Application Server"
lw_e2e_start --js.application-server-kek-label as-dev --as.keks.as-dev "$E2E_AS_KEK" \
    --events.heartbeat-interval 1s
declare -A KEY INFO PIDS
for t in acme globex; do
    lw_e2e_tenant $t
    for a in app1 app2; do
        r=$(lw_t_adm $t POST /users/admin/applications "{\"application\":{\"ids\":{\"application_id\":\"$a\"}}}")
        lw_t_eq "$t: $a created" 200 "${r%% *}"
    done
    KEY[$t]=$(lw_t_body "$(lw_t_adm $t POST /applications/app1/api-keys '{"name":"ev","rights":["RIGHT_APPLICATION_TRAFFIC_READ"]}')" | jq -r .key)
    INFO[$t]=$(lw_t_body "$(lw_t_adm $t POST /applications/app1/api-keys '{"name":"info","rights":["RIGHT_APPLICATION_INFO"]}')" | jq -r .key)
done
APP2KEY=$(lw_t_body "$(lw_t_adm acme POST /applications/app2/api-keys '{"name":"app2","rights":["RIGHT_APPLICATION_ALL"]}')" | jq -r .key)
APP1='{"application_ids":{"application_id":"app1"}}'

# stream NAME KEY TENANT BODY: curl -N in the background, lines into NAME.out.
stream() {
    lw_t_bg "$1" curl -sN -X POST "$api/events" -H "Authorization: Bearer $2" -H "X-Tenant-ID: $3" -d "$4"
    PIDS[$1]=$LW_T_LAST_PID
    lw_t_wait_line "$LW_T_DIR/$1.out" 'events.stream.start' 10
}
# names FILE [DEV]: the names streamed (not the start, not heartbeats), in order; with DEV
# only that device's.
names() {
    grep -v '^$' "$1" | jq -r --arg d "${2:-}" '.result | select(.name != "events.stream.start") |
        select($d == "" or (.identifiers[0].device_ids.device_id == $d)) | .name' | paste -sd' '
}
devices() { grep -v '^$' "$1" | jq -r '.result.identifiers[]?.device_ids.device_id // empty' | sort -u | paste -sd' '; }

r=$(lw_t_http POST "$api/events" -H "Authorization: Bearer $APP2KEY" -H 'X-Tenant-ID: acme' -d "{\"identifiers\":[$APP1]}")
lw_t_eq "acme: a key of app2 on app1's events → 403 no_application_rights" "403 no_application_rights" "$(lw_t_status_name "$r")"
for t in acme globex; do
    stream "$t.app" "${KEY[$t]}" $t "{\"identifiers\":[$APP1]}"
    stream "$t.info" "${INFO[$t]}" $t "{\"identifiers\":[$APP1]}"
done
# The events server reads lw.events from its end once its group has the partitions: the
# stream's first heartbeat comes from the same loop, and the matcher's start takes longer.
lw_e2e_wait_matcher
lw_t_wait_for "lw.events assigned" 30 grep -q 'partitions assigned.*lw\.events' "$LW_T_DIR/stack.log"
sleep 1

common=(--gateways 3 --copies 3 --duration 0 --json --fport 7 --payload 01020304)
pids=()
for t in acme globex; do
    lw_e2e_sim $t --seed "$t-events" --application app1 --otaa --lorawan-version 1.0.3 --devices 1 \
        --uplinks-per-device 2 --rate 0.5 --keys-out "$LW_T_DIR/$t.state" "${common[@]}" \
        >"$LW_T_DIR/$t.0.json" &
    pids+=($!)
done
wait "${pids[@]}"
for t in acme globex; do
    lw_t_wait_line "$LW_T_DIR/$t.app.out" 'as.up.data.forward' 30 2
done
declare -A DEV
for t in acme globex; do
    DEV[$t]="sim-$(jq -r .dev_eui "$LW_T_DIR/$t.state")"
    d=${DEV[$t]}
    lw_t_eq "$t app1: the device's join and two uplinks, as they happened" \
        "js.join.accept ns.up.join.process as.up.data.receive as.up.data.forward as.up.data.receive as.up.data.forward" \
        "$(names "$LW_T_DIR/$t.app.out" "$d" | tr ' ' '\n' | grep -E '^(js.join.accept|ns.up.join.process|as.up.data.(receive|forward))$' | paste -sd' ')"
    lw_t_eq "$t app1: only its own device" "$d" "$(devices "$LW_T_DIR/$t.app.out")"
    lw_t_eq "$t app1: every event is the tenant's" "$t" \
        "$(grep -v '^$' "$LW_T_DIR/$t.app.out" | jq -r '.result.context["tenant-id"] // empty' | sort -u | paste -sd' ')"
    lw_t_eq "$t app1 with RIGHT_APPLICATION_INFO only: none of the traffic" "" "$(names "$LW_T_DIR/$t.info.out")"
done
lw_t_eq "the devices differ between the tenants" yes "$([ "${DEV[acme]}" != "${DEV[globex]}" ] && echo yes)"
lw_t_eq "acme's stream never names globex's device" 0 "$(grep -c "${DEV[globex]}" "$LW_T_DIR/acme.app.out" || true)"
lw_t_eq "globex's stream never names acme's device" 0 "$(grep -c "${DEV[acme]}" "$LW_T_DIR/globex.app.out" || true)"

# The device's own stream, then two more uplinks through the stack.
DEVIDS="{\"device_ids\":{\"device_id\":\"${DEV[acme]}\",\"application_ids\":{\"application_id\":\"app1\"}}}"
stream dev "${KEY[acme]}" acme "{\"identifiers\":[$DEVIDS]}"
stream fwd "${KEY[acme]}" acme "{\"identifiers\":[$DEVIDS],\"names\":[\"as.up.data.forward\"]}"
lw_e2e_sim_udp --seed "acme-events" --keys-file "$LW_T_DIR/acme.state" --keys-out "$LW_T_DIR/acme.state" \
    --uplinks-per-device 2 --rate 0.5 "${common[@]}" >"$LW_T_DIR/acme.1.json"
lw_t_wait_line "$LW_T_DIR/dev.out" 'as.up.data.forward' 30 2
lw_t_wait_line "$LW_T_DIR/fwd.out" 'as.up.data.forward' 30 2
lw_t_eq "acme device stream: the next two uplinks as they happen" \
    "as.up.data.receive as.up.data.forward as.up.data.receive as.up.data.forward" \
    "$(names "$LW_T_DIR/dev.out" | tr ' ' '\n' | grep -E '^as\.up\.data\.' | paste -sd' ')"
lw_t_eq "acme device stream with names [as.up.data.forward]: only those" \
    "as.up.data.forward as.up.data.forward" "$(names "$LW_T_DIR/fwd.out")"
lw_t_eq "as.up.data.forward carries the ApplicationUp it forwarded (TTS's @type, the device, the uplink)" \
    "type.googleapis.com/ttn.lorawan.v3.ApplicationUp ${DEV[acme]} true|type.googleapis.com/ttn.lorawan.v3.ApplicationUp ${DEV[acme]} true" \
    "$(grep -v '^$' "$LW_T_DIR/fwd.out" | jq -r '.result | select(.name == "as.up.data.forward") | "\(.data["@type"]) \(.data.end_device_ids.device_id) \(.data.uplink_message.f_cnt != null)"' | paste -sd'|')"
lw_t_eq "globex saw none of acme's new uplinks" 0 "$(grep -c "${DEV[acme]}" "$LW_T_DIR/globex.app.out" || true)"
r=$(curl -sN -m 3 -X POST "$api/events" -H "Authorization: Bearer ${KEY[acme]}" -H 'X-Tenant-ID: acme' \
    -d "{\"identifiers\":[$DEVIDS],\"names\":[\"as.up.data.forward\"],\"tail\":3}" || true)
lw_t_wait_line "$LW_T_DIR/acme.app.out" 'as.up.data.forward' 30 4
lw_t_eq "tail 3 of the device's forwards: the last three, oldest first (as app1's stream had them)" \
    "$(grep -v '^$' "$LW_T_DIR/acme.app.out" | jq -r '.result | select(.name == "as.up.data.forward") | .unique_id' | tail -3 | paste -sd' ')" \
    "$(printf '%s\n' "$r" | grep -v '^$' | jq -r '.result | select(.name == "as.up.data.forward") | .unique_id' | paste -sd' ')"
lw_t_done
