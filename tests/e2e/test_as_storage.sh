#!/usr/bin/env bash
# Acceptance (issue 10, stored uplinks): on the whole stack, simulated OTAA devices send 100
# uplinks through three gateways; the application's Storage Integration (a default
# association of the storage-integration package, as in The Things Stack) keeps them, and
# GET .../packages/storage/uplink_message?limit=10&order=-received_at returns the newest 10,
# newest first, each line {"result": the ApplicationUp exactly as the AS published it on
# lw.as.up}. The device variant, after/before, last and field_mask on the same data; a key
# without RIGHT_APPLICATION_TRAFFIC_READ is refused. Two tenants: globex's 10 uplinks are its
# own, and neither sees the other's.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "stored uplinks"
lw_e2e_need js "OTAA joins (the Join Server)"
lw_e2e_need as "the Application Server"
lw_e2e_start --js.application-server-kek-label as-dev --as.keks.as-dev "$E2E_AS_KEK" \
    --as.mqtt.listen 127.0.0.1:0 --as.storage.flush-interval 100ms
declare -A KEY
for t in acme globex; do
    lw_e2e_tenant $t
    r=$(lw_t_adm $t POST /users/admin/applications '{"application":{"ids":{"application_id":"app1"}}}')
    lw_t_eq "$t: app1 created" 200 "${r%% *}"
    r=$(lw_t_adm $t POST /applications/app1/api-keys \
        '{"name":"storage","rights":["RIGHT_APPLICATION_TRAFFIC_READ","RIGHT_APPLICATION_SETTINGS_PACKAGES"]}')
    KEY[$t]=$(lw_t_body "$r" | jq -r .key)
    r=$(lw_t_bearer "${KEY[$t]}" $t PUT /as/applications/app1/packages/associations/100 \
        '{"default":{"package_name":"storage-integration"},"field_mask":{"paths":["package_name"]}}')
    lw_t_eq "$t: the storage integration activated for app1 (default association)" 200 "${r%% *}"
done
r=$(lw_t_adm acme POST /applications/app1/api-keys '{"name":"info","rights":["RIGHT_APPLICATION_INFO"]}')
ACME_INFO=$(lw_t_body "$r" | jq -r .key)
lw_e2e_tap as.up
lw_e2e_wait_matcher
lw_t_wait_for "lw.as.up assigned to as.storage" 30 grep -q 'partitions assigned.*as.storage' "$LW_T_DIR/stack.log"

# acme: 4 devices x 25 uplinks (100), globex: 1 device x 10.
common=(--gateways 3 --copies 3 --duration 0 --json --fport 7 --payload 01020304 --otaa --lorawan-version 1.0.3)
lw_e2e_sim acme --seed acme-storage --application app1 --devices 4 --uplinks-per-device 25 --rate 8 \
    --keys-out "$LW_T_DIR/acme.keys" "${common[@]}" >"$LW_T_DIR/acme.json" &
p1=$!
lw_e2e_sim globex --seed globex-storage --application app1 --devices 1 --uplinks-per-device 10 --rate 2 \
    --keys-out "$LW_T_DIR/globex.keys" "${common[@]}" >"$LW_T_DIR/globex.json" &
p2=$!
wait $p1 $p2
asup() { echo "._topic == \"as.up\" and .envelope.tenant_id == \"$1\" and .type == \"AS_UP_UPLINK_MESSAGE\""; }
lw_e2e_wait_bus 100 "$(asup acme)" 60
lw_e2e_wait_bus 10 "$(asup globex)" 60
lw_t_eq "acme: 100 uplink_message on lw.as.up, globex 10" "100 10" \
    "$(lw_e2e_bus_count "$(asup acme)") $(lw_e2e_bus_count "$(asup globex)")"

sget() {
    local k=$1 t=$2 p=$3; shift 3
    curl -sS -G -H "X-Tenant-ID: $t" -H "Authorization: Bearer $k" "$@" "$api$p"
}
count() { sget "${KEY[$1]}" $1 /as/applications/app1/packages/storage/uplink_message/count | jq '[.count[]?] | add // 0'; }
lw_t_wait_for "acme's 100 stored" 30 bash -c "[ \"\$(curl -sS -G -H 'X-Tenant-ID: acme' -H 'Authorization: Bearer ${KEY[acme]}' '$api/as/applications/app1/packages/storage/uplink_message/count' | jq '[.count[]?] | add // 0')\" = 100 ]"
lw_t_wait_for "globex's 10 stored" 30 bash -c "[ \"\$(curl -sS -G -H 'X-Tenant-ID: globex' -H 'Authorization: Bearer ${KEY[globex]}' '$api/as/applications/app1/packages/storage/uplink_message/count' | jq '[.count[]?] | add // 0')\" = 10 ]"
lw_t_eq "stored: acme 100, globex 10" "100 10" "$(count acme) $(count globex)"

# The truth: lw.as.up's ApplicationUp JSON, newest received_at first (e2e_bus: bytes in hex).
bus_json() {
    lw_e2e_bus_select "$(asup $1)" | jq -s -r 'sort_by(.received_at) | reverse | .[].json' |
        while read -r h; do perl -e 'print pack("H*", $ARGV[0]), "\n"' "$h"; done
}
bus_json acme >"$LW_T_DIR/acme.bus"
bus_json globex >"$LW_T_DIR/globex.bus"
sget "${KEY[acme]}" acme /as/applications/app1/packages/storage/uplink_message -d limit=10 -d order=-received_at >"$LW_T_DIR/newest"
lw_t_eq "limit=10&order=-received_at: 10 lines" 10 "$(wc -l <"$LW_T_DIR/newest")"
lw_t_eq "... the newest 10 of the 100, newest first, each {\"result\": the AsUp's JSON byte for byte}" \
    "$(head -10 "$LW_T_DIR/acme.bus" | sed 's/^/{"result":/; s/$/}/')" "$(cat "$LW_T_DIR/newest")"
lw_t_eq "... received_at strictly decreasing" "true" \
    "$(jq -s '[.[].result.received_at] | . == (sort | reverse) and (unique | length) == 10' "$LW_T_DIR/newest")"
all=$(sget "${KEY[acme]}" acme /as/applications/app1/packages/storage/uplink_message -d limit=1000)
lw_t_eq "all 100, oldest first (the default order), as on the bus" \
    "$(tac "$LW_T_DIR/acme.bus" | sed 's/^/{"result":/; s/$/}/' | md5sum)" "$(printf '%s\n' "$all" | md5sum)"
lw_t_eq "... decrypted frm_payload, FPort 7, three rx_metadata each" "100 100" \
    "$(jq -r 'select(.result.uplink_message.frm_payload == "AQIDBA==" and .result.uplink_message.f_port == 7) | 1' <<<"$all" | wc -l) $(jq -r 'select((.result.uplink_message.rx_metadata | length) == 3) | 1' <<<"$all" | wc -l)"

dev=$(jq -r 'select(.result.end_device_ids.device_id != null) | .result.end_device_ids.device_id' <<<"$all" | sort -u | head -1)
lw_t_eq "device $dev: its 25, newest first, f_cnt 24..20 on top" "25 24,23,22,21,20" \
    "$(sget "${KEY[acme]}" acme /as/applications/app1/devices/$dev/packages/storage/uplink_message -d order=-received_at | wc -l) $(sget "${KEY[acme]}" acme /as/applications/app1/devices/$dev/packages/storage/uplink_message -d order=-received_at -d limit=5 | jq -r '.result.uplink_message.f_cnt // 0' | paste -sd, -)"
# after/before: between the 20th and the 31st oldest (exclusive) → the 21st..30th
t20=$(jq -r -s '.[19].result.received_at' <<<"$all")
t31=$(jq -r -s '.[30].result.received_at' <<<"$all")
lw_t_eq "after=20th, before=31st: the 10 between" \
    "$(jq -c -s '.[20:30][].result.correlation_ids' <<<"$all")" \
    "$(sget "${KEY[acme]}" acme /as/applications/app1/packages/storage/uplink_message --data-urlencode after=$t20 --data-urlencode before=$t31 | jq -c .result.correlation_ids)"
lw_t_eq "last=1h: all 100 (default limit 100)" 100 \
    "$(sget "${KEY[acme]}" acme /as/applications/app1/packages/storage/uplink_message -d last=1h | wc -l)"
lw_t_eq "last=1ns: none" 0 \
    "$(sget "${KEY[acme]}" acme /as/applications/app1/packages/storage/uplink_message -d last=1ns | wc -l)"
lw_t_eq "field_mask=up.uplink_message.frm_payload,received_at" \
    "$(head -2 "$LW_T_DIR/acme.bus" | jq -c '{result: {received_at, uplink_message: {frm_payload: .uplink_message.frm_payload}}}')" \
    "$(sget "${KEY[acme]}" acme /as/applications/app1/packages/storage/uplink_message -d limit=2 -d order=-received_at -d field_mask=up.uplink_message.frm_payload,received_at)"
r=$(sget "$ACME_INFO" acme /as/applications/app1/packages/storage/uplink_message -d limit=10)
lw_t_eq "a key without RIGHT_APPLICATION_TRAFFIC_READ → refused" "insufficient_application_rights" \
    "$(jq -r '.details[0].name' <<<"$r")"

# ---- the other tenant --------------------------------------------------------------------------
g=$(sget "${KEY[globex]}" globex /as/applications/app1/packages/storage/uplink_message -d order=-received_at)
lw_t_eq "globex: its 10 exactly as on its lw.as.up, newest first" \
    "$(sed 's/^/{"result":/; s/$/}/' "$LW_T_DIR/globex.bus")" "$g"
lw_t_eq "no device of one tenant in the other's store" "" \
    "$(comm -12 <(jq -r .result.end_device_ids.device_id <<<"$all" | sort -u) <(jq -r .result.end_device_ids.device_id <<<"$g" | sort -u))"
r=$(sget "${KEY[globex]}" acme /as/applications/app1/packages/storage/uplink_message)
lw_t_eq "globex's key on acme's application → unauthenticated" "16 unauthenticated" "$(jq -r '"\(.code) \(.details[0].name)"' <<<"$r")"
lw_t_done
