#!/usr/bin/env bash
# The Storage Integration inside a running stack (`lwstack start all`, issue 10 item 7):
# ApplicationUps on lw.as.up (published here by tests/integration/as/as_up_pub.c as the AS
# worker does) written per tenant in batches, kept for applications with a default
# association of the storage-integration package (TTS's packages/associations API), served by
# GET /api/v3/as/applications/{app}[/devices/{dev}]/packages/storage/{type}[/count] with
# limit, order, after, before, last, f_port and field_mask as TTS's `{"result": ...}` lines;
# RIGHT_APPLICATION_TRAFFIC_READ checked; retention and the per-device cap delete in the
# background; a redelivered message stored once. Two tenants, acme and globex, each with
# applications app1 and app2; every check also looks at the other tenant. Queries read 7 rows
# per statement (as.storage.query-page), so most answers here are streamed page by page.
. "$(dirname "$0")/lib.sh"

build="$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)"
pub="$build/tests/integration/as/as_up_pub"
[ -x "$pub" ] || { echo "as_up_pub not found at $pub" >&2; exit 1; }

lw_t_pg_start
lw_t_kafka_start 2
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
lw_t_stack stack "$port" --as.mqtt.listen 127.0.0.1:0 --as.storage.flush-interval 100ms \
    --as.storage.retention 1h --as.storage.retention-interval 300ms \
    --as.storage.max-per-device 60 --as.storage.default-limit 100 --as.storage.max-limit 150 \
    --as.storage.query-page 7
api="http://127.0.0.1:$port/api/v3"
adm() { lw_t_adm "$@"; }
body() { lw_t_body "$@"; }
metric() { curl -sS "http://127.0.0.1:$port/metrics" | grep -F "$1" | awk '{print $NF}' | head -1; }
PASS='Secret-passw0rd'
for t in acme globex; do
    r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$t\"},\"state\":\"STATE_APPROVED\"},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"$PASS\",\"primary_email_address\":\"admin@$t.example\"}}")
    lw_t_eq "create tenant $t → 200" 200 "${r%% *}"
    for a in app1 app2; do
        r=$(adm $t POST /users/admin/applications "{\"application\":{\"ids\":{\"application_id\":\"$a\"}}}")
        lw_t_eq "$t: create $a → 200" 200 "${r%% *}"
    done
done
key() { body "$(adm "$1" POST /applications/$2/api-keys "{\"name\":\"k\",\"rights\":$3}")" | jq -r .key; }
ACME_R=$(key acme app1 '["RIGHT_APPLICATION_TRAFFIC_READ"]')
ACME_PKG=$(key acme app1 '["RIGHT_APPLICATION_SETTINGS_PACKAGES"]')
ACME_INFO=$(key acme app1 '["RIGHT_APPLICATION_INFO","RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE"]')
ACME2_ALL=$(key acme app2 '["RIGHT_APPLICATION_ALL"]')
GLOBEX_ALL=$(key globex app1 '["RIGHT_APPLICATION_ALL"]')

# GET on the storage API: "STATUS CONTENT-TYPE" then the body as it came (lines kept).
sget() {
    local k=$1 t=$2 p=$3; shift 3
    curl -sS -G -o "$LW_T_DIR/sget.body" -w '%{http_code} %{content_type}' \
        -H "X-Tenant-ID: $t" -H "Authorization: Bearer $k" "$@" "$api$p"
    echo
    cat "$LW_T_DIR/sget.body"
}
# The f_cnt of each line of a stream, comma-separated.
fcnts() { sget "$@" | tail -n +2 | jq -r '.result.uplink_message.f_cnt' | paste -sd, -; }
seqcsv() { seq "$@" | paste -sd, -; }

# ---- associations: TTS's ApplicationPackageRegistry, the storage-integration package ------
r=$(lw_t_bearer "$ACME_PKG" acme PUT /as/applications/app1/packages/associations/100 \
    '{"default":{"package_name":"storage-integration"},"field_mask":{"paths":["package_name"]}}')
lw_t_eq "acme: app1's default association → 200, TTS's ApplicationPackageDefaultAssociation" \
    '200 {"ids":{"application_ids":{"application_id":"app1"},"f_port":100},"created_at":"TIME","updated_at":"TIME","package_name":"storage-integration"}' \
    "${r%% *} $(body "$r" | lw_t_times)"
r=$(lw_t_bearer "$ACME_PKG" acme GET /as/applications/app1/packages/associations)
lw_t_eq "acme: list app1's default associations" \
    '200 {"defaults":[{"ids":{"application_ids":{"application_id":"app1"},"f_port":100},"created_at":"TIME","updated_at":"TIME","package_name":"storage-integration"}]}' \
    "${r%% *} $(body "$r" | lw_t_times)"
r=$(lw_t_bearer "$ACME_PKG" acme PUT /as/applications/app1/packages/associations/7 \
    '{"default":{"package_name":"lora-cloud-geolocation-v3"}}')
lw_t_eq "an unknown package → 400 invalid_field" "400 invalid_field" "$(lw_t_status_name "$r")"
r=$(lw_t_bearer "$ACME_PKG" acme PUT /as/applications/app1/packages/associations/256 \
    '{"default":{"package_name":"storage-integration"}}')
lw_t_eq "FPort 256 → 400 invalid_field" "400 invalid_field" "$(lw_t_status_name "$r")"
r=$(lw_t_bearer "$ACME_R" acme PUT /as/applications/app1/packages/associations/100 \
    '{"default":{"package_name":"storage-integration"}}')
lw_t_eq "without RIGHT_APPLICATION_SETTINGS_PACKAGES → 403" "403 insufficient_application_rights" \
    "$(lw_t_status_name "$r")"
r=$(lw_t_bearer "$ACME2_ALL" acme GET /as/applications/app2/packages/associations/100)
lw_t_eq "acme: app2 has no association → 404" "404 not_found" "$(lw_t_status_name "$r")"
# acme's app2: only dev5 stores (a device association).
r=$(lw_t_bearer "$ACME2_ALL" acme PUT /as/applications/app2/devices/dev5/packages/associations/1 \
    '{"association":{"package_name":"storage-integration","data":{"note":"x"}}}')
lw_t_eq "acme: app2/dev5's association → 200, with its data" \
    '200 {"ids":{"end_device_ids":{"device_id":"dev5","application_ids":{"application_id":"app2"}},"f_port":1},"created_at":"TIME","updated_at":"TIME","package_name":"storage-integration","data":{"note":"x"}}' \
    "${r%% *} $(body "$r" | lw_t_times)"
r=$(lw_t_bearer "$GLOBEX_ALL" globex PUT /as/applications/app1/packages/associations/100 \
    '{"default":{"package_name":"storage-integration"}}')
lw_t_eq "globex: app1's default association → 200" 200 "${r%% *}"
r=$(lw_t_bearer "$GLOBEX_ALL" globex GET /as/applications/app1/devices/dev5/packages/associations)
lw_t_eq "globex: its dev5 lists none (acme's dev5 association is acme's)" "200 {}" "$r"
r=$(lw_t_bearer "$ACME2_ALL" acme GET /as/applications/app2/devices/dev5/packages/associations)
lw_t_eq "acme: app2/dev5 lists its association" 1 "$(body "$r" | jq '.associations | length')"

# ---- traffic -----------------------------------------------------------------------------
lw_t_wait_for "lw.as.up assigned to as.storage" 30 grep -q 'partitions assigned.*as.storage' "$LW_T_DIR/stack.log"
S=1000000000
NOW=$(($(date +%s) * S))
BASE=$((NOW - 30 * 60 * S)) # 30 minutes ago
up() { "$pub" --brokers "$LW_T_BROKERS" "$@" >/dev/null; }
# An uplink_message ApplicationUp: device, application, FPort; f_cnt the index (%SEQ%, printf-escaped).
upj() {
    printf '{"end_device_ids":{"device_id":"%s","application_ids":{"application_id":"%s"}},"received_at":"%%TIME%%","uplink_message":{"f_port":%s,"f_cnt":%%SEQ%%,"frm_payload":"AQ=="}}' "$1" "$2" "$3"
}
# acme app1: 100 uplinks, dev1 (FPort 1) and dev2 (FPort 2) one second apart in turn, f_cnt
# 0..49 each: dev1 at BASE + 2i s, dev2 at BASE + (2i + 1) s.
up --tenant acme --app app1 --dev dev1 --type 1 --count 50 --received-at $BASE --step $((2 * S)) --json "$(upj dev1 app1 1)"
up --tenant acme --app app1 --dev dev2 --type 1 --count 50 --received-at $((BASE + S)) --step $((2 * S)) --json "$(upj dev2 app1 2)"
# and three join_accepts of dev1
up --tenant acme --app app1 --dev dev1 --type 2 --count 3 --received-at $((BASE + S / 2)) --step $((10 * S)) \
    --json '{"end_device_ids":{"device_id":"dev1","application_ids":{"application_id":"app1"}},"received_at":"%TIME%","join_accept":{"session_key_id":"AQ=="}}'
# acme app2: dev5 has an association, dev6 none
up --tenant acme --app app2 --dev dev5 --type 1 --count 4 --received-at $BASE --step $S --json "$(upj dev5 app2 1)"
up --tenant acme --app app2 --dev dev6 --type 1 --count 4 --received-at $BASE --step $S --json "$(upj dev6 app2 1)"
# globex app1: its own dev1, at the same times as acme's
up --tenant globex --app app1 --dev dev1 --type 1 --count 5 --received-at $BASE --step $((2 * S)) --json "$(upj dev1 app1 1)"
# older than the retention (1 h): stored, then deleted by the retention pass
up --tenant acme --app app1 --dev dev3 --type 1 --count 20 --received-at $((NOW - 2 * 3600 * S)) --step $S --json "$(upj dev3 app1 1)"
up --tenant globex --app app1 --dev dev3 --type 1 --count 5 --received-at $((NOW - 2 * 3600 * S)) --step $S --json "$(upj dev3 app1 1)"
# dev4: 70 uplinks, above the cap of 60 per device
up --tenant acme --app app1 --dev dev4 --type 1 --count 70 --received-at $((NOW - 70 * S)) --step $S --json "$(upj dev4 app1 3)"
# dev9: 10 uplinks with one and the same received_at (pages must not lose or repeat ties)
up --tenant acme --app app1 --dev dev9 --type 1 --count 10 --received-at $((NOW - 20 * S)) --step 0 --json "$(upj dev9 app1 1)"
# dev7: one message delivered twice (a replay after a crash: the same envelope id)
REPLAY=00112233445566778899aabbccddeeff
up --tenant acme --app app1 --dev dev7 --type 1 --received-at $NOW --json "$(upj dev7 app1 1)" --id $REPLAY
up --tenant acme --app app1 --dev dev7 --type 1 --received-at $NOW --json "$(upj dev7 app1 1)" --id $REPLAY

cnt() { sget "$1" "$2" "$3" | tail -n +2; }
lw_t_wait_for "acme app1's uplinks written" 30 bash -c \
    "[ \"\$(curl -sS -H 'X-Tenant-ID: acme' -H 'Authorization: Bearer $ACME_R' '$api/as/applications/app1/packages/storage/uplink_message/count' | jq -c .)\" = '{\"count\":{\"dev1\":50,\"dev2\":50,\"dev4\":60,\"dev7\":1,\"dev9\":10}}' ]" ||
    cnt "$ACME_R" acme /as/applications/app1/packages/storage/uplink_message/count >&2
lw_t_wait_for "globex's uplinks written, the old ones gone" 30 bash -c \
    "[ \"\$(curl -sS -H 'X-Tenant-ID: globex' -H 'Authorization: Bearer $GLOBEX_ALL' '$api/as/applications/app1/packages/storage/uplink_message/count' | jq -c .)\" = '{\"count\":{\"dev1\":5}}' ]"
lw_t_eq "stored: 100 + 3 + 4 + 5 + 25 old + 70 + 10 + 1 (dev6's 4 skipped, dev7's copy skipped)" \
    "218 5" "$(metric 'lwstack_as_storage_rows_total{result="stored"}') $(metric 'lwstack_as_storage_rows_total{result="skipped"}')"
lw_t_wait_for "retention: the 25 old ones deleted" 10 bash -c \
    "[ \"\$(curl -sS http://127.0.0.1:$port/metrics | grep -F 'lwstack_as_storage_deleted_total{reason=\"retention\"}' | awk '{print \$NF}')\" = 25 ]"
lw_t_eq "retention deleted 25 (acme's 20, globex's 5), the cap 10 of dev4" "25 10" \
    "$(metric 'lwstack_as_storage_deleted_total{reason="retention"}') $(metric 'lwstack_as_storage_deleted_total{reason="device_cap"}')"

# ---- GetStoredApplicationUp -----------------------------------------------------------------
newest=""
for i in $(seq 49 -1 45); do newest="$newest${newest:+,}dev2:$i,dev1:$i"; done
pairs() { sget "$@" | tail -n +2 | jq -r '"\(.result.end_device_ids.device_id):\(.result.uplink_message.f_cnt)"' | paste -sd, -; }
# (dev4's and dev7's are newer: before= leaves them out; the e2e test asks without it)
BEFORE=$(date -u -d @$((NOW / S - 600)) +%FT%TZ)
r=$(sget "$ACME_R" acme /as/applications/app1/packages/storage/uplink_message -d limit=10 -d order=-received_at -d before=$BEFORE)
lw_t_eq "limit=10&order=-received_at → 200 application/json, 10 lines" "200 application/json 10" \
    "$(head -1 <<<"$r") $(tail -n +2 <<<"$r" | wc -l)"
lw_t_eq "... the newest 10 of the 100, newest first" "$newest" \
    "$(pairs "$ACME_R" acme /as/applications/app1/packages/storage/uplink_message -d limit=10 -d order=-received_at -d before=$BEFORE)"
line=$(tail -n +2 <<<"$r" | head -1)
lw_t_eq "... each line {\"result\": the ApplicationUp as published}" \
    "{\"result\":{\"end_device_ids\":{\"device_id\":\"dev2\",\"application_ids\":{\"application_id\":\"app1\"}},\"received_at\":\"$(date -u -d @$((BASE / S + 99)) +%FT%T).000000000Z\",\"uplink_message\":{\"f_port\":2,\"f_cnt\":49,\"frm_payload\":\"AQ==\"}}}" \
    "$line"
r=$(sget "$ACME_R" acme /as/applications/app1/packages/storage/uplink_message -H 'Accept: text/event-stream' -d limit=1)
lw_t_eq "Accept: text/event-stream → that content type (TTS's gateway)" "200 text/event-stream" "$(head -1 <<<"$r")"
lw_t_eq "default order received_at: the oldest first (dev3's are gone)" "dev1:0,dev2:0,dev1:1" \
    "$(pairs "$ACME_R" acme /as/applications/app1/packages/storage/uplink_message -d limit=3)"
lw_t_eq "device dev1, limit=5, -received_at" "dev1:49,dev1:48,dev1:47,dev1:46,dev1:45" \
    "$(pairs "$ACME_R" acme /as/applications/app1/devices/dev1/packages/storage/uplink_message -d limit=5 -d order=-received_at)"
A=$(date -u -d @$((BASE / S + 10)) +%FT%TZ)
B=$(date -u -d @$((BASE / S + 15)) +%FT%TZ)
lw_t_eq "after and before: strictly between (11..14 s)" "dev2:5,dev1:6,dev2:6,dev1:7" \
    "$(pairs "$ACME_R" acme /as/applications/app1/packages/storage/uplink_message -d after=$A -d before=$B)"
lw_t_eq "device dev2 between them" "dev2:5,dev2:6" \
    "$(pairs "$ACME_R" acme /as/applications/app1/devices/dev2/packages/storage/uplink_message -d after=$A -d before=$B)"
lw_t_eq "f_port=2: dev2's only" "dev2:0,dev2:1" \
    "$(pairs "$ACME_R" acme /as/applications/app1/packages/storage/uplink_message -d f_port=2 -d limit=2)"
lw_t_eq "last=5m: dev4's 60, dev9's 10 and dev7's (the 100 are 30 min old)" "71" \
    "$(sget "$ACME_R" acme /as/applications/app1/packages/storage/uplink_message -d last=5m | tail -n +2 | wc -l)"
lw_t_eq "dev4 keeps its newest 60 (f_cnt 10..69)" "$(seqcsv 10 69)" \
    "$(sget "$ACME_R" acme /as/applications/app1/devices/dev4/packages/storage/uplink_message | tail -n +2 | jq -r .result.uplink_message.f_cnt | paste -sd, -)"
lw_t_eq "limit above as.storage.max-limit (150): 150 lines" "150" \
    "$(sget "$ACME_R" acme /as/applications/app1/packages/storage/uplink_message -d limit=100000 | tail -n +2 | wc -l)"
lw_t_eq "no limit: as.storage.default-limit (100)" "100" \
    "$(sget "$ACME_R" acme /as/applications/app1/packages/storage/uplink_message | tail -n +2 | wc -l)"
lw_t_eq "dev9's 10 of one received_at, both orders, over two pages: each once" "10 10 0,1,2,3,4,5,6,7,8,9" \
    "$(sget "$ACME_R" acme /as/applications/app1/devices/dev9/packages/storage/uplink_message | tail -n +2 | jq -r .result.uplink_message.f_cnt | sort -un | wc -l) $(sget "$ACME_R" acme /as/applications/app1/devices/dev9/packages/storage/uplink_message -d order=-received_at | tail -n +2 | jq -r .result.uplink_message.f_cnt | sort -un | wc -l) $(sget "$ACME_R" acme /as/applications/app1/devices/dev9/packages/storage/uplink_message | tail -n +2 | jq -r '.result.uplink_message.f_cnt // 0' | sort -n | paste -sd, -)"
framing() { curl -sS -G -D - -o /dev/null -H "X-Tenant-ID: acme" -H "Authorization: Bearer $ACME_R" "$@" | tr -d '\r' | grep -ioE '^(transfer-encoding: chunked|content-length: [0-9]+)' | tr A-Z a-z; }
lw_t_eq "more than a page (7): streamed (chunked); a page or less: one body" \
    "transfer-encoding: chunked|content-length: $(sget "$ACME_R" acme /as/applications/app1/packages/storage/uplink_message -d limit=7 | tail -n +2 | wc -c)" \
    "$(framing -d limit=8 "$api/as/applications/app1/packages/storage/uplink_message")|$(framing -d limit=7 "$api/as/applications/app1/packages/storage/uplink_message")"
r=$(sget "$ACME_R" acme /as/applications/app1/devices/dev1/packages/storage/uplink_message -d limit=2 -d order=-received_at \
    -d field_mask=up.uplink_message.f_cnt,end_device_ids.device_id)
lw_t_eq "field_mask: only the paths, in the ApplicationUp's order" \
    '200 application/json
{"result":{"end_device_ids":{"device_id":"dev1"},"uplink_message":{"f_cnt":49}}}
{"result":{"end_device_ids":{"device_id":"dev1"},"uplink_message":{"f_cnt":48}}}' "$r"
lw_t_eq "join_accept: dev1's three" "3" \
    "$(sget "$ACME_R" acme /as/applications/app1/devices/dev1/packages/storage/join_accept | tail -n +2 | jq -r .result.join_accept.session_key_id | grep -c AQ==)"
r=$(sget "$ACME_R" acme /as/applications/app1/packages/storage/join_accept/count)
lw_t_eq "join_accept count" '200 application/json
{"count":{"dev1":3}}' "$r"
r=$(sget "$ACME_R" acme /as/applications/app1/devices/dev2/packages/storage/uplink_message/count -d after=$A)
lw_t_eq "device count after A" '200 application/json
{"count":{"dev2":45}}' "$r"
r=$(sget "$ACME_R" acme /as/applications/app1/packages/storage/downlink_sent/count)
lw_t_eq "a type without messages: {}" '200 application/json
{}' "$r"
r=$(sget "$ACME_R" acme /as/applications/app1/packages/storage/downlink_ack)
lw_t_eq "a type without messages: an empty stream" "200 application/json" "$r"
r=$(sget "$ACME2_ALL" acme /as/applications/app2/packages/storage/uplink_message/count)
lw_t_eq "acme app2: dev5's (associated) only, dev6's not stored" '200 application/json
{"count":{"dev5":4}}' "$r"

# ---- errors --------------------------------------------------------------------------------
st() { sget "$@" | tail -n +2 | jq -r '"\(.code) \(.details[0].name) \(.details[0].attributes.field // "")"'; }
lw_t_eq "unknown type → invalid_field type" "3 invalid_field type" \
    "$(st "$ACME_R" acme /as/applications/app1/packages/storage/uplinks)"
lw_t_eq "uplink_normalized has no count (TTS)" "3 invalid_field type" \
    "$(st "$ACME_R" acme /as/applications/app1/packages/storage/uplink_normalized/count)"
lw_t_eq "order=time → invalid_field order" "3 invalid_field order" \
    "$(st "$ACME_R" acme /as/applications/app1/packages/storage/uplink_message -d order=time)"
lw_t_eq "last with after → invalid_field last" "3 invalid_field last" \
    "$(st "$ACME_R" acme /as/applications/app1/packages/storage/uplink_message -d last=1h -d after=$A)"
lw_t_eq "field_mask=colour → invalid_field field_mask" "3 invalid_field field_mask" \
    "$(st "$ACME_R" acme /as/applications/app1/packages/storage/uplink_message -d field_mask=colour)"
lw_t_eq "after=yesterday → invalid_field after" "3 invalid_field after" \
    "$(st "$ACME_R" acme /as/applications/app1/packages/storage/uplink_message -d after=yesterday)"
r=$(sget "$ACME_INFO" acme /as/applications/app1/packages/storage/uplink_message)
lw_t_eq "a key without RIGHT_APPLICATION_TRAFFIC_READ → 403" "403" "$(head -1 <<<"$r" | cut -d' ' -f1)"
lw_t_eq "... insufficient_application_rights naming the right" "insufficient_application_rights RIGHT_APPLICATION_TRAFFIC_READ" \
    "$(tail -n +2 <<<"$r" | jq -r '"\(.details[0].name) \(.details[0].attributes.missing)"')"
r=$(sget "$ACME_INFO" acme /as/applications/app1/devices/dev1/packages/storage/uplink_message/count)
lw_t_eq "... also for a device's count" "403" "$(head -1 <<<"$r" | cut -d' ' -f1)"
r=$(sget "$GLOBEX_ALL" acme /as/applications/app1/packages/storage/uplink_message)
lw_t_eq "globex's key on acme → 401" "401" "$(head -1 <<<"$r" | cut -d' ' -f1)"
r=$(sget "$ACME_R" globex /as/applications/app1/packages/storage/uplink_message)
lw_t_eq "acme's key on globex → 401" "401" "$(head -1 <<<"$r" | cut -d' ' -f1)"
r=$(sget "" acme /as/applications/app1/packages/storage/uplink_message)
lw_t_eq "no key → 401" "401" "$(head -1 <<<"$r" | cut -d' ' -f1)"

# ---- the other tenant ------------------------------------------------------------------------
lw_t_eq "globex sees its own 5 of dev1, none of acme's" "dev1:4,dev1:3,dev1:2,dev1:1,dev1:0" \
    "$(pairs "$GLOBEX_ALL" globex /as/applications/app1/packages/storage/uplink_message -d order=-received_at)"
lw_t_eq "globex: no join_accept (acme's are acme's)" "200 application/json" \
    "$(sget "$GLOBEX_ALL" globex /as/applications/app1/packages/storage/join_accept)"
lw_t_eq "in PostgreSQL: acme 100+3+60+10+1+4 rows, globex 5" "178 5" \
    "$(lw_t_psql -tAc 'SELECT count(*) FROM t_acme.as_stored_up') $(lw_t_psql -tAc 'SELECT count(*) FROM t_globex.as_stored_up')"

# ---- associations removed: nothing new stored ------------------------------------------------
r=$(lw_t_bearer "$ACME_PKG" acme DELETE /as/applications/app1/packages/associations/100)
lw_t_eq "acme: delete app1's default association → 200 {}" "200 {}" "$r"
r=$(lw_t_bearer "$ACME_PKG" acme DELETE /as/applications/app1/packages/associations/100)
lw_t_eq "... again → 404" "404 not_found" "$(lw_t_status_name "$r")"
up --tenant acme --app app1 --dev dev8 --type 1 --received-at $NOW --json "$(upj dev8 app1 1)"
up --tenant globex --app app1 --dev dev8 --type 1 --received-at $NOW --json "$(upj dev8 app1 1)"
lw_t_wait_for "globex's dev8 stored, acme's skipped" 20 bash -c \
    "curl -sS -H 'X-Tenant-ID: globex' -H 'Authorization: Bearer $GLOBEX_ALL' '$api/as/applications/app1/devices/dev8/packages/storage/uplink_message' | grep -q dev8 &&
     [ \"\$(curl -sS http://127.0.0.1:$port/metrics | grep -F 'lwstack_as_storage_rows_total{result=\"skipped\"}' | awk '{print \$NF}')\" = 6 ]"
lw_t_eq "acme's dev8 (no association any more) not stored; the rest as it was" "178 6" \
    "$(lw_t_psql -tAc 'SELECT count(*) FROM t_acme.as_stored_up') $(lw_t_psql -tAc 'SELECT count(*) FROM t_globex.as_stored_up')"

# ---- PostgreSQL away: the batch waits (offsets uncommitted) and goes in once it is back ------
lw_t_pg_down
up --tenant globex --app app1 --dev dev10 --type 1 --count 20 --received-at $NOW --step 1000 --json "$(upj dev10 app1 1)"
r=$(sget "$GLOBEX_ALL" globex /as/applications/app1/packages/storage/uplink_message/count)
lw_t_eq "a query while PostgreSQL is away → 503 (or the access check's 503)" "503" "$(head -1 <<<"$r" | cut -d' ' -f1)"
sleep 2 # flushes fail meanwhile and wait to be tried again
lw_t_pg_up
lw_t_wait_for "globex's dev10: its 20 written once PostgreSQL is back" 30 bash -c \
    "[ \"\$(psql '$LW_T_DB_URI' -XAtc \"SELECT count(*) FROM t_globex.as_stored_up WHERE device_id = 'dev10'\" 2>/dev/null)\" = 20 ]"
lw_t_eq "... each once, nothing dropped" "20 20 0" \
    "$(lw_t_psql -tAc "SELECT count(*), count(DISTINCT up::text) FROM t_globex.as_stored_up WHERE device_id = 'dev10'" | tr '|' ' ') $(curl -sS "http://127.0.0.1:$port/metrics" | grep -c '^lwstack_as_storage_dropped_total{')"
lw_t_done
