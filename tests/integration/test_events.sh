#!/usr/bin/env bash
# The events server (issue 10 item 8) over HTTP: POST /api/v3/events streams TTS's
# {"result": event} lines (events.stream.start first) of the entities the caller has rights
# on, with the `names` filter (exact and /regex/), `tail` and `after` from the recent history,
# over HTTP/1.1 and HTTP/2; TTS's errors before the stream (no_identifiers,
# no_application_rights, invalid_regexp, unknown_field); the visibility of each event by the
# caller's rights; a key revoked while its stream is open ends the stream with an error line.
# Events are put on lw.events with kcat, as the components publish them (keyed by tenant).
# Two tenants with the same application and device IDs: no stream sees the other's events.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ns_lib.sh"

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
lw_t_stack stack "$port" --events.heartbeat-interval 500ms --events.history-count 5
STACK_PID=$LW_T_LAST_PID
api="http://127.0.0.1:$port/api/v3"
adm() { lw_t_adm "$@"; }
name() { lw_t_status_name "$1"; }
key() { lw_t_body "$(adm "$1" POST "/applications/$2/api-keys" "{\"name\":\"k\",\"rights\":$3}")" | jq -r .key; }

ns_tenant acme
ns_tenant globex
r=$(adm acme POST /users/admin/applications '{"application":{"ids":{"application_id":"app2"}}}')
lw_t_eq "acme: app2 created" 200 "${r%% *}"
K_TR=$(key acme app1 '["RIGHT_APPLICATION_TRAFFIC_READ"]')
K_INFO=$(key acme app1 '["RIGHT_APPLICATION_INFO"]')
K_APP2=$(key acme app2 '["RIGHT_APPLICATION_ALL"]')
r=$(adm acme POST /applications/app1/api-keys '{"name":"k","rights":["RIGHT_APPLICATION_TRAFFIC_READ"]}')
K_REV=$(lw_t_body "$r" | jq -r .key)
K_REV_ID=$(lw_t_body "$r" | jq -r .id)
G_TR=$(key globex app1 '["RIGHT_APPLICATION_TRAFFIC_READ"]')

DEV1='{"device_ids":{"device_id":"dev1","application_ids":{"application_id":"app1"}}}'
APP1='{"application_ids":{"application_id":"app1"}}'
APP2='{"application_ids":{"application_id":"app2"}}'

# stream NAME KEY TENANT BODY [curl args]: POST /api/v3/events in the background, lines into
# $LW_T_DIR/NAME.out; the curl's pid in PIDS[NAME].
declare -A PIDS
stream() {
    local n=$1 k=$2 t=$3 b=$4; shift 4
    lw_t_bg "$n" curl -sN -X POST "$api/events" -H "Authorization: Bearer $k" -H "X-Tenant-ID: $t" \
        -H 'Content-Type: application/json' -d "$b" "$@"
    PIDS[$n]=$LW_T_LAST_PID
    lw_t_wait_line "$LW_T_DIR/$n.out" 'events.stream.start' 10
}
# names FILE: the names of the events streamed, in order, without the start and blank lines.
names() { grep -v '^$' "$1" | jq -r '.result.name // "error:" + .error.details[0].name' | grep -v '^events.stream.start$' | paste -sd' '; }
# ev TENANT NAME IDS [VISIBILITY]: publishes one event on lw.events.
n=0
ev() {
    n=$((n + 1))
    local vis=${4:+,\"visibility\":{\"rights\":[\"$4\"]\}}
    printf '{"name":"%s","time":"2026-01-01T00:00:%02d.000000Z","identifiers":[%s],"data":{"n":%d},"correlation_ids":["test:%d"],"context":{"tenant-id":"%s"},"unique_id":"u%d"%s}\n' \
        "$2" "$n" "$3" "$n" "$n" "$1" "$n" "$vis" |
        kcat -P -b "$LW_T_BROKERS" -t lw.events -k "$1" 2>/dev/null
}

# ---- errors before the stream ------------------------------------------------------------------
post() { lw_t_http POST "$api/events" -H "Authorization: Bearer $1" -H "X-Tenant-ID: $2" -d "$3"; }
lw_t_eq "no identifiers → 400 no_identifiers" "400 no_identifiers" "$(name "$(post "$K_TR" acme '{}')")"
lw_t_eq "a key of app2 on app1 → 403 no_application_rights" "403 no_application_rights" \
    "$(name "$(post "$K_APP2" acme "{\"identifiers\":[$APP1]}")")"
lw_t_eq "… naming app1@acme" "app1@acme" \
    "$(lw_t_body "$(post "$K_APP2" acme "{\"identifiers\":[$APP2,$APP1]}")" | jq -r '.details[0].attributes.uid')"
lw_t_eq "acme's key in globex → 401" 401 "$(post "$K_TR" globex "{\"identifiers\":[$APP1]}" | cut -d' ' -f1)"
lw_t_eq "no key → 401 unauthenticated" "401 unauthenticated" \
    "$(name "$(lw_t_http POST "$api/events" -H 'X-Tenant-ID: acme' -d "{\"identifiers\":[$APP1]}")")"
lw_t_eq "a bad regexp → 400 invalid_regexp" "400 invalid_regexp" \
    "$(name "$(post "$K_TR" acme "{\"identifiers\":[$APP1],\"names\":[\"/as.(/\"]}")")"
lw_t_eq "an unknown field → 400 unknown_field" "400 unknown_field" \
    "$(name "$(post "$K_TR" acme "{\"identifiers\":[$APP1],\"colour\":1}")")"
lw_t_eq "a bad after → 400 invalid_field" "400 invalid_field after" \
    "$(r=$(post "$K_TR" acme "{\"identifiers\":[$APP1],\"after\":\"yesterday\"}"); echo "$(name "$r") $(lw_t_body "$r" | jq -r '.details[0].attributes.field')")"

# ---- live streams ------------------------------------------------------------------------------
# Until the events server reads what is published now (its consumer starts at the end): a
# device of app2 the other streams do not ask for.
WARM='{"device_ids":{"device_id":"warm","application_ids":{"application_id":"app2"}}}'
stream warm "$K_APP2" acme "{\"identifiers\":[$WARM]}"
lw_t_wait_for "the events server reads lw.events" 30 bash -c \
    "printf '%s\n' '{\"name\":\"as.up.data.receive\",\"identifiers\":[$WARM],\"unique_id\":\"warm\"}' | kcat -P -b $LW_T_BROKERS -t lw.events -k acme 2>/dev/null; sleep 0.2; grep -q as.up.data.receive $LW_T_DIR/warm.out"
stream dev1 "$K_TR" acme "{\"identifiers\":[$DEV1]}"
stream app1 "$K_TR" acme "{\"identifiers\":[$APP1]}"
stream names "$K_TR" acme "{\"identifiers\":[$APP1],\"names\":[\"as.up.data.forward\",\"/^ns\\\\.up\\\\./\"]}"
stream info "$K_INFO" acme "{\"identifiers\":[$APP1]}"
stream h2 "$K_TR" acme "{\"identifiers\":[$DEV1]}" --http2-prior-knowledge
stream g "$G_TR" globex "{\"identifiers\":[$DEV1]}"
stream rev "$K_REV" acme "{\"identifiers\":[$APP1]}"
for f in dev1 app1 names info h2 g rev; do
    lw_t_eq "$f: the first line is TTS's events.stream.start" "events.stream.start" \
        "$(head -1 "$LW_T_DIR/$f.out" | jq -r .result.name)"
done
lw_t_eq "events.stream.start names the identifiers and the names asked for" \
    "$APP1 [\"as.up.data.forward\",\"/^ns\\\\.up\\\\./\"]" \
    "$(head -1 "$LW_T_DIR/names.out" | jq -c '.result.identifiers[0], .result.data.value' | paste -sd' ')"

DEV2='{"device_ids":{"device_id":"dev2","application_ids":{"application_id":"app1"}}}'
ev acme as.up.data.receive "$DEV1" RIGHT_APPLICATION_TRAFFIC_READ
ev acme ns.up.data.receive "$DEV1"
ev acme as.up.data.forward "$DEV2" RIGHT_APPLICATION_TRAFFIC_READ
ev acme application.update "$APP1"
ev acme as.up.data.forward "$(printf '%s' "$DEV1" | sed 's/app1/app2/')" RIGHT_APPLICATION_TRAFFIC_READ
ev globex as.up.data.forward "$DEV1" RIGHT_APPLICATION_TRAFFIC_READ
ev acme gs.up.receive '{"gateway_ids":{"gateway_id":"gw1"}}'
ev acme as.up.data.forward "$DEV1" RIGHT_APPLICATION_TRAFFIC_READ
lw_t_wait_line "$LW_T_DIR/dev1.out" 'as.up.data.forward' 10
lw_t_wait_line "$LW_T_DIR/g.out" 'as.up.data.forward' 10
lw_t_wait_line "$LW_T_DIR/app1.out" '"u8"' 10
lw_t_wait_line "$LW_T_DIR/info.out" '"u4"' 10
lw_t_wait_line "$LW_T_DIR/h2.out" '"u8"' 10
lw_t_wait_line "$LW_T_DIR/names.out" '"u8"' 10

lw_t_eq "acme dev1: its events, in order (not dev2's, app2's, the gateway's, globex's)" \
    "as.up.data.receive ns.up.data.receive as.up.data.forward" "$(names "$LW_T_DIR/dev1.out")"
lw_t_eq "acme app1: its devices' events and its own, visible with TRAFFIC_READ (not application.update: INFO)" \
    "as.up.data.receive ns.up.data.receive as.up.data.forward as.up.data.forward" "$(names "$LW_T_DIR/app1.out")"
lw_t_eq "acme app1 with names as.up.data.forward and /^ns\\.up\\./" \
    "ns.up.data.receive as.up.data.forward as.up.data.forward" "$(names "$LW_T_DIR/names.out")"
lw_t_eq "acme app1 with only RIGHT_APPLICATION_INFO: application.update, no traffic" \
    "application.update" "$(names "$LW_T_DIR/info.out")"
lw_t_eq "acme dev1 over HTTP/2: the same as over HTTP/1.1" \
    "$(names "$LW_T_DIR/dev1.out")" "$(names "$LW_T_DIR/h2.out")"
lw_t_eq "globex dev1: only globex's event" "as.up.data.forward" "$(names "$LW_T_DIR/g.out")"
lw_t_eq "globex dev1: the event as published (data, correlation_ids, context)" \
    '{"n":6} ["test:6"] {"tenant-id":"globex"} u6' \
    "$(grep '"u6"' "$LW_T_DIR/g.out" | jq -c '.result.data, .result.correlation_ids, .result.context' | paste -sd' ') $(grep '"u6"' "$LW_T_DIR/g.out" | jq -r .result.unique_id)"
lw_t_eq "acme streams never carry a globex event" 0 \
    "$(cat "$LW_T_DIR"/{dev1,app1,names,info,h2,rev}.out | grep -c globex || true)"
lw_t_wait_line "$LW_T_DIR/dev1.out" '^$' 10
lw_t_eq "heartbeats are blank lines between events" yes "$(grep -qx '' "$LW_T_DIR/dev1.out" && echo yes)"

# ---- history: tail and after -------------------------------------------------------------------
tail_of() {
    curl -sN -m 3 -X POST "$api/events" -H "Authorization: Bearer $K_TR" -H "X-Tenant-ID: acme" -d "$1" \
        >"$LW_T_DIR/hist.out" 2>/dev/null || true
    names "$LW_T_DIR/hist.out"
}
lw_t_eq "tail 2 on app1: the last two of its visible events, oldest first" \
    "as.up.data.forward as.up.data.forward" "$(tail_of "{\"identifiers\":[$APP1],\"tail\":2}")"
lw_t_eq "tail 10 on dev1: the history holds acme's last 5 events (events.history-count)" \
    "as.up.data.forward" "$(tail_of "{\"identifiers\":[$DEV1],\"tail\":10}")"
lw_t_eq "after 00:00:02Z on app1: the visible events after it" \
    "as.up.data.forward as.up.data.forward" \
    "$(tail_of "{\"identifiers\":[$APP1],\"after\":\"2026-01-01T00:00:02Z\"}")"
lw_t_eq "after with an offset (+01:00) is the same instant" \
    "as.up.data.forward as.up.data.forward" \
    "$(tail_of "{\"identifiers\":[$APP1],\"after\":\"2026-01-01T01:00:02+01:00\"}")"
lw_t_eq "after and tail 1: the last one after it" "as.up.data.forward" \
    "$(tail_of "{\"identifiers\":[$APP1],\"after\":\"2026-01-01T00:00:01Z\",\"tail\":1}")"

# ---- the Console's WebSocket ---------------------------------------------------------------------
WSC="$(dirname "$0")/events/ws_client.py"
# Debian's python3 (python3-websockets is a Debian package, ops/install), not another first in PATH.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
WSURL="ws://127.0.0.1:$port/api/v3/console/internal/events/"
# wsc NAME FD TENANT [KEY]: a client whose input is the FIFO on FD, lines into NAME.out.
wsc() {
    local n=$1 fd=$2; shift 2
    mkfifo "$LW_T_DIR/$n.in"
    eval "exec $fd<>\"\$LW_T_DIR/\$n.in\""
    # Not lw_t_bg: a background command's stdin would be /dev/null.
    "$PY" "$WSC" "$WSURL" "$@" <"$LW_T_DIR/$n.in" >"$LW_T_DIR/$n.out" 2>"$LW_T_DIR/$n.err" &
    PIDS[$n]=$!
    LW_T_PIDS+=("$!")
    lw_t_wait_line "$LW_T_DIR/$n.out" '^#' 10
}
# The non-publish answers, sorted: "type id error-name".
answers() { grep -v '^#' "$1" | jq -r 'select(.type != "publish") | "\(.type) \(.id) \(.error.details[0].name // "")"' | sed 's/ $//' | sort | paste -sd','; }
publishes() { grep -v '^#' "$1" | jq -r 'select(.type == "publish") | "\(.id):\(.event.unique_id)"' | sort -V | paste -sd' '; }

wsc nokey 5 acme
lw_t_eq "WebSocket without a token → 401" "#status 401" "$(cat "$LW_T_DIR/nokey.out")"
wsc ws1 6 acme "$K_TR"
lw_t_eq "WebSocket: the 101 chooses TTS's subprotocol" "#protocol ttn.lorawan.v3.console.internal.events.v1" \
    "$(head -1 "$LW_T_DIR/ws1.out")"
wsc gws 8 globex "$G_TR"
wsc wsrev 9 acme "$K_REV"
printf '%s\n' "{\"type\":\"subscribe\",\"id\":1,\"identifiers\":[$DEV1]}" >&8
printf '%s\n' "{\"type\":\"subscribe\",\"id\":1,\"identifiers\":[$APP1]}" >&9
{
    printf '%s\n' "{\"type\":\"subscribe\",\"id\":1,\"identifiers\":[$DEV1]}"
    printf '%s\n' "{\"type\":\"subscribe\",\"id\":2,\"identifiers\":[$APP1],\"names\":[\"as.up.data.forward\"]}"
    printf '%s\n' "{\"type\":\"subscribe\",\"id\":3,\"identifiers\":[$APP2]}"
} >&6
lw_t_wait_line "$LW_T_DIR/ws1.out" '"type":"(subscribe|error)"' 10 3
{
    printf '%s\n' "{\"type\":\"subscribe\",\"id\":1,\"identifiers\":[$APP1]}"
    printf '%s\n' '{"type":"unsubscribe","id":9}'
    printf '%s\n' '{"type":"frob","id":4}'
    printf '%s\n' '{"type":"subscribe","id":7}'
} >&6
lw_t_wait_line "$LW_T_DIR/ws1.out" '"type":"(subscribe|error)"' 10 7
lw_t_wait_line "$LW_T_DIR/gws.out" '"type":"subscribe"' 10
lw_t_wait_line "$LW_T_DIR/wsrev.out" '"type":"subscribe"' 10
lw_t_eq "WebSocket: subscribe 1 (dev1) and 2 (app1) answered; 3 (app2), a second 1, unsubscribe 9, type frob, no identifiers: TTS's errors" \
    "error 1 already_subscribed,error 3 no_application_rights,error 4 message_type,error 7 no_identifiers,error 9 not_subscribed,subscribe 1,subscribe 2" \
    "$(answers "$LW_T_DIR/ws1.out")"
ev acme as.up.data.receive "$DEV1" RIGHT_APPLICATION_TRAFFIC_READ
ev acme as.up.data.forward "$DEV1" RIGHT_APPLICATION_TRAFFIC_READ
ev globex as.up.data.forward "$DEV1" RIGHT_APPLICATION_TRAFFIC_READ
lw_t_wait_line "$LW_T_DIR/ws1.out" '"publish"' 10 3
lw_t_wait_line "$LW_T_DIR/gws.out" '"publish"' 10
printf '%s\n' '{"type":"unsubscribe","id":2}' >&6
lw_t_wait_line "$LW_T_DIR/ws1.out" '"type":"unsubscribe"' 10
lw_t_eq "WebSocket: unsubscribe 2 → its answer" '{"type":"unsubscribe","id":2}' \
    "$(grep '"type":"unsubscribe"' "$LW_T_DIR/ws1.out" | jq -c .)"
ev acme as.up.data.forward "$DEV1" RIGHT_APPLICATION_TRAFFIC_READ
lw_t_wait_line "$LW_T_DIR/ws1.out" '"u12"' 10
printf '%s\n' "{\"type\":\"subscribe\",\"id\":5,\"identifiers\":[$DEV1],\"tail\":1}" >&6
lw_t_wait_line "$LW_T_DIR/ws1.out" '"id":5,"event"' 10
lw_t_eq "WebSocket acme: dev1's events on 1, app1's forwards on 2 until unsubscribed, tail 1 on 5; no globex event" \
    "1:u9 1:u10 1:u12 2:u10 5:u12" "$(publishes "$LW_T_DIR/ws1.out")"
lw_t_eq "WebSocket: the publish is TTS's {type, id, event}" \
    '["publish",1,"as.up.data.forward",["test:12"]]' \
    "$(grep '"u12"' "$LW_T_DIR/ws1.out" | head -1 | jq -c '[.type, .id, .event.name, .event.correlation_ids]')"
lw_t_eq "WebSocket: subscribe 5 is answered before its history" "subscribe publish" \
    "$(grep '"id":5' "$LW_T_DIR/ws1.out" | jq -r .type | paste -sd' ')"
lw_t_eq "WebSocket globex: only globex's event" "1:u11" "$(publishes "$LW_T_DIR/gws.out")"

# ---- revocation: the stream of a deleted key ends with TTS's error ------------------------------
# A second process on the same database and bus, serving only the API's tenants and events
# (its access checks go to the first one's Identity Server): the revocation reaches it over
# lw.is.revocations (ARCHITECTURE.md), and its stream ends too.
port3=$(lw_t_free_port)
lw_t_spawn stack3 --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" --http.listen "127.0.0.1:$port3" \
    --tenancy.admin-keys "$LW_T_ADMIN_KEY" --tenancy.identity-server-uri "http://127.0.0.1:$port" start tenant
lw_t_wait_for "stack3 ready" 30 curl -sf -o /dev/null "http://127.0.0.1:$port3/readyz"
api1=$api
api="http://127.0.0.1:$port3/api/v3"
stream rev3 "$K_REV" acme "{\"identifiers\":[$APP1]}"
api=$api1
# Revocations are read from the end once the private group has the partitions.
lw_t_wait_line "$LW_T_DIR/stack3.log" 'partitions assigned.*lw\.is\.revocations' 30
r=$(adm acme DELETE "/applications/app1/api-keys/$K_REV_ID")
lw_t_eq "acme: the key is deleted" 200 "${r%% *}"
lw_t_wait_line "$LW_T_DIR/rev.out" '"error"' 10
lw_t_eq "the revoked key's stream ends with an error line (unauthenticated)" \
    "error:unauthenticated" "$(grep '"error"' "$LW_T_DIR/rev.out" | jq -r '"error:" + .error.details[0].name')"
lw_t_wait_line "$LW_T_DIR/rev3.out" '"error"' 15
lw_t_eq "… and in the other process" \
    "error:unauthenticated" "$(grep '"error"' "$LW_T_DIR/rev3.out" | jq -r '"error:" + .error.details[0].name')"
ev acme as.up.data.forward "$DEV1" RIGHT_APPLICATION_TRAFFIC_READ
lw_t_wait_line "$LW_T_DIR/dev1.out" '"u13"' 10
lw_t_eq "…and it carried nothing after the revocation" 0 "$(grep -c '"u13"' "$LW_T_DIR/rev.out" || true)"
lw_t_eq "the other acme streams go on" 1 "$(grep -c '"u13"' "$LW_T_DIR/app1.out")"
lw_t_wait_line "$LW_T_DIR/wsrev.out" '^#closed' 10
lw_t_eq "the revoked key's WebSocket is closed (1008), as TTS terminates it" "#closed 1008" \
    "$(grep '^#closed' "$LW_T_DIR/wsrev.out")"

m=$(curl -s "http://127.0.0.1:$port/metrics")
lw_t_eq "lwstack_events_dropped_total{reason=rights_revoked}: the stream and the WebSocket" 2 \
    "$(printf '%s\n' "$m" | sed -nE 's/^lwstack_events_dropped_total\{reason="rights_revoked"\} ([0-9]+)$/\1/p')"

# ---- a gateway's events: visible by the gateway's rights ----------------------------------------
r=$(adm acme POST /users/admin/gateways '{"gateway":{"ids":{"gateway_id":"gw1","eui":"58A0CBFFFE800001"}}}')
lw_t_eq "acme: gw1 created" 200 "${r%% *}"
GK=$(lw_t_body "$(adm acme POST /gateways/gw1/api-keys '{"name":"g","rights":["RIGHT_GATEWAY_STATUS_READ"]}')" | jq -r .key)
GW='{"gateway_ids":{"gateway_id":"gw1"}}'
lw_t_eq "a gateway key on app1 → 403 no_application_rights" "403 no_application_rights" \
    "$(name "$(post "$GK" acme "{\"identifiers\":[$APP1]}")")"
stream gw "$GK" acme "{\"identifiers\":[$GW]}"
GWEV='{"gateway_ids":{"gateway_id":"gw1","eui":"58A0CBFFFE800001"}}'
ev acme gs.up.receive "$GWEV"
ev acme gs.status.receive "$GWEV"
ev globex gs.status.receive "$GWEV"
lw_t_wait_line "$LW_T_DIR/gw.out" '"u15"' 10
lw_t_eq "acme gw1 with RIGHT_GATEWAY_STATUS_READ: its status, not its traffic (TRAFFIC_READ), not globex's gw1" \
    "gs.status.receive" "$(names "$LW_T_DIR/gw.out")"

# ---- a stop with streams open: each ends cleanly (the last chunk), the process exits 0 ---------
kill -TERM "$STACK_PID"
lw_t_wait_exit "$STACK_PID" 30
lw_t_eq "SIGTERM with streams and WebSockets open → exit 0" 0 "$LW_T_RC"
lw_t_eq "no sanitizer report" 0 "$(grep -c 'Sanitizer' "$LW_T_DIR/stack.log" || true)"
lw_t_wait_exit "${PIDS[dev1]}" 10
lw_t_eq "dev1's curl saw the stream end cleanly (exit 0)" 0 "$LW_T_RC"
lw_t_wait_exit "${PIDS[h2]}" 10
lw_t_eq "… over HTTP/2 too" 0 "$LW_T_RC"
lw_t_wait_line "$LW_T_DIR/ws1.out" '^#closed' 10
lw_t_eq "the WebSocket is closed by the stop" 1 "$(grep -c '^#closed' "$LW_T_DIR/ws1.out")"
# ---- events.enabled false: a process that serves no events (and reads none) --------------------
port2=$(lw_t_free_port)
lw_t_stack stack2 "$port2" --events.enabled=false
r=$(lw_t_http POST "http://127.0.0.1:$port2/api/v3/events" -H "Authorization: Bearer $K_TR" \
    -H 'X-Tenant-ID: acme' -d "{\"identifiers\":[$APP1]}")
lw_t_eq "events.enabled false → POST /api/v3/events 404" "404 not_found" "$(name "$r")"
lw_t_eq "… and it reads nothing of lw.events" "" \
    "$(curl -s "http://127.0.0.1:$port2/metrics" | grep '^lwstack_events_read_total [1-9]' || true)"
lw_t_done
