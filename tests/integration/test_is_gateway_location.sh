#!/usr/bin/env bash
# The IS applies the gateway locations the Gateway Server reports (issue 9 item 2): a
# gs.status.receive event on lw.events (The Things Stack's event shape, data a GatewayStatus
# with antenna_locations, keyed by the gateway's tenant) sets the gateway's antennas'
# locations, source SOURCE_GPS, keeping the rest of each antenna, when the gateway has
# update_location_from_status; the gateway index (lw_control.gateways) follows in the same
# statement and a gateway.update event goes out. Tenants `one` (changed) and `two`, each with
# a gateway `gw1`: a report for one's gw1 never touches two's. With the debounce (1 h, as The
# Things Stack) the next report is skipped until the gateway is changed through the API.
# Malformed reports are dropped and counted.
. "$(dirname "$0")/lib.sh"

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
lw_t_stack stack "$port" --is.gateway-location-debounce-time 1h
api="http://127.0.0.1:$port/api/v3"
adm() { lw_t_adm "$@"; }
body() { lw_t_body "$@"; }
lw_t_wait_line "$LW_T_DIR/stack.log" 'partitions assigned.*is\.gateway-locations|is\.gateway-locations.*partitions assigned' 30

for t in one two; do
    r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$t\"},\"state\":\"STATE_APPROVED\"},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"Secret-passw0rd\"}}")
    lw_t_eq "create tenant $t" 200 "${r%% *}"
done
r=$(adm one POST /users/admin/gateways '{"gateway":{"ids":{"gateway_id":"gw1","eui":"58A0CBFFFE800001"},"update_location_from_status":true,"antennas":[{"gain":3,"placement":"OUTDOOR","location":{"latitude":1.5,"longitude":2.5,"source":"SOURCE_REGISTRY"}}]}}')
lw_t_eq "one: gw1 follows its status" 200 "${r%% *}"
r=$(adm one POST /users/admin/gateways '{"gateway":{"ids":{"gateway_id":"gw2"},"antennas":[{"location":{"latitude":5,"longitude":6,"source":"SOURCE_REGISTRY"}}]}}')
lw_t_eq "one: gw2 does not" 200 "${r%% *}"
r=$(adm two POST /users/admin/gateways '{"gateway":{"ids":{"gateway_id":"gw1"},"update_location_from_status":true}}')
lw_t_eq "two: gw1 (same ID) follows its status" 200 "${r%% *}"

# status TENANT GATEWAY LOCATIONS_JSON: publishes a gs.status.receive event as the GS does.
status() {
    printf '{"name":"gs.status.receive","time":"2026-12-01T12:00:00Z","identifiers":[{"gateway_ids":{"gateway_id":"%s"}}],"data":{"@type":"type.googleapis.com/ttn.lorawan.v3.GatewayStatus","time":"2026-12-01T12:00:00Z","antenna_locations":%s},"correlation_ids":["gs:status:test"],"context":{"tenant-id":"%s"}}\n' "$2" "$3" "$1" |
        kcat -P -b "$LW_T_BROKERS" -t lw.events -k "$1"
}
antennas() { body "$(adm "$1" GET "/gateways/$2?field_mask=antennas")" | jq -cS '.antennas // []'; }
metric() {
    curl -s "http://127.0.0.1:$port/metrics" |
        awk -v r="result=\"$1\"" '$1 ~ /^lwstack_is_gateway_locations_total/ && index($1, r) { print $2 }' | head -1
}
wait_metric() { lw_t_wait_for "locations $1 = $2" 20 bash -c "[ \"\$(curl -s http://127.0.0.1:$port/metrics | awk -v r='result=\"$1\"' '\$1 ~ /^lwstack_is_gateway_locations_total/ && index(\$1, r) { print \$2 }' | head -1)\" = '$2' ]"; }
index_row() { lw_t_psql -c "SELECT concat_ws(' ', latitude, longitude, altitude, accuracy, location_source, antenna_gain) FROM lw_control.gateways WHERE tenant_id = '$1' AND gateway_id = '$2'"; }

status one gw1 '[{"latitude":52.25,"longitude":4.5,"altitude":12,"accuracy":7,"source":"SOURCE_REGISTRY"}]'
wait_metric updated 1
lw_t_eq "one's gw1: the reported location, SOURCE_GPS, gain and placement kept" \
    '[{"gain":3,"location":{"accuracy":7,"altitude":12,"latitude":52.25,"longitude":4.5,"source":"SOURCE_GPS"},"placement":"OUTDOOR"}]' \
    "$(antennas one gw1)"
lw_t_eq "the gateway index follows" "52.25 4.5 12 7 SOURCE_GPS 3" "$(index_row one gw1)"
lw_t_eq "two's gw1 untouched" "[]" "$(antennas two gw1)"
lw_t_eq "a gateway.update event for one's gw1" 1 \
    "$(kcat -C -b "$LW_T_BROKERS" -t lw.events -o beginning -e -q -f '%k %s\n' 2>/dev/null | grep '^one ' | grep -c '"name":"gateway.update".*"unique_id":"is:location/one/gw1"')"

status one gw2 '[{"latitude":9,"longitude":9}]'
wait_metric unchanged 1
lw_t_eq "gw2 without update_location_from_status keeps its location" \
    '[{"location":{"latitude":5,"longitude":6,"source":"SOURCE_REGISTRY"}}]' "$(antennas one gw2)"

# Debounced: the next report of one's gw1 is skipped ...
status one gw1 '[{"latitude":40,"longitude":5}]'
wait_metric debounced 1
lw_t_eq "debounced report not applied" "52.25" "$(antennas one gw1 | jq -r '.[0].location.latitude')"
# ... until the gateway is changed through the API.
r=$(adm one PUT /gateways/gw1 '{"gateway":{"name":"Roof"},"field_mask":{"paths":["name"]}}')
lw_t_eq "one: rename gw1" 200 "${r%% *}"
# The rename's gateway.update is on the topic (same key, so same partition) before the next
# report: the IS reads them in that order.
renamed() {
    kcat -C -b "$LW_T_BROKERS" -t lw.events -o beginning -e -q -f '%k %s\n' 2>/dev/null |
        grep '^one ' | grep '"name":"gateway.update"' | grep -v 'is:location/' | grep -q '"gateway_id":"gw1"'
}
lw_t_wait_for "the rename's gateway.update on lw.events" 20 renamed
status one gw1 '[{"latitude":41,"longitude":6},{"latitude":42,"longitude":7,"altitude":3}]'
lw_t_wait_for "second location applied" 20 bash -c "[ \"\$(curl -s -H 'Authorization: TenantAdminKey $LW_T_ADMIN_KEY' -H 'X-Tenant-ID: one' '$api/gateways/gw1?field_mask=antennas' | jq -r '.antennas[0].location.latitude')\" = 41 ]"
lw_t_eq "after the change: both antennas, the second one new" \
    '[{"gain":3,"location":{"latitude":41,"longitude":6,"source":"SOURCE_GPS"},"placement":"OUTDOOR"},{"location":{"altitude":3,"latitude":42,"longitude":7,"source":"SOURCE_GPS"}}]' \
    "$(antennas one gw1)"

# Malformed reports: dropped and counted, nothing changes.
dropped=$(metric dropped)
status two gw1 '[{"latitude":200,"longitude":5}]'
printf 'not json "gs.status.receive"\n' | kcat -P -b "$LW_T_BROKERS" -t lw.events -k two
status nosuchtenant gw1 '[{"latitude":1,"longitude":1}]'
wait_metric dropped "$((dropped + 3))"
lw_t_eq "two's gw1 still without location" "[]" "$(antennas two gw1)"
# A report for two's gw1 changes two's only.
status two gw1 '[{"latitude":-33.5,"longitude":151.25}]'
lw_t_wait_for "two's location applied" 20 bash -c "[ \"\$(curl -s -H 'Authorization: TenantAdminKey $LW_T_ADMIN_KEY' -H 'X-Tenant-ID: two' '$api/gateways/gw1?field_mask=antennas' | jq -r '.antennas[0].location.latitude')\" = -33.5 ]"
lw_t_eq "two's gw1 located" '[{"location":{"latitude":-33.5,"longitude":151.25,"source":"SOURCE_GPS"}}]' "$(antennas two gw1)"
lw_t_eq "one's gw1 untouched by two's report" 41 "$(antennas one gw1 | jq -r '.[0].location.latitude')"
# End to end: a Semtech UDP gateway's `stat` with its position, through the Gateway Server's
# gs.status.receive, reaches the registry.
drv="$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)/tests/integration/gs/gs_driver"
udp=$(sed -nE 's/.*semtech udp listening.* port=([0-9]+).*/\1/p' "$LW_T_DIR/stack.log" | head -1)
if [ -x "$drv" ] && [ -n "$udp" ]; then
    r=$(adm one POST /users/admin/gateways '{"gateway":{"ids":{"gateway_id":"gw3","eui":"58A0CBFFFE800003"},"frequency_plan_id":"EU_863_870_TTN","update_location_from_status":true}}')
    lw_t_eq "one: gw3, a UDP gateway that follows its status" 200 "${r%% *}"
    echo 'push 2 0d0e 58a0cbfffe800003 {"stat":{"time":"2026-12-01 12:00:00 GMT","lati":52.125,"long":4.875,"alti":17,"rxnb":1,"rxok":1,"rxfw":1,"ackr":100.0,"dwnb":0,"txnb":0}}' |
        "$drv" udp --to "127.0.0.1:$udp" >"$LW_T_DIR/gw3.out" 2>"$LW_T_DIR/gw3.err"
    lw_t_eq "the GS acknowledged the stat (PUSH_ACK)" 1 "$(grep -c '^recv 020d0e01$' "$LW_T_DIR/gw3.out")"
    lw_t_wait_for "gw3's reported location applied" 20 bash -c "[ \"\$(curl -s -H 'Authorization: TenantAdminKey $LW_T_ADMIN_KEY' -H 'X-Tenant-ID: one' '$api/gateways/gw3?field_mask=antennas' | jq -r '.antennas[0].location.latitude')\" = 52.125 ]"
    lw_t_eq "gw3 located from its stat" '[{"location":{"altitude":17,"latitude":52.125,"longitude":4.875,"source":"SOURCE_GPS"}}]' "$(antennas one gw3)"
    lw_t_eq "gw3's index row (no antenna gain)" "52.125 4.875 17 0 SOURCE_GPS" "$(index_row one gw3)"
else
    echo "skip - end to end through the GS (no gs_driver or GS UDP listener)"
fi

r=$(curl -sf -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")
lw_t_eq "the stack is alive" 200 "$r"

lw_t_done
