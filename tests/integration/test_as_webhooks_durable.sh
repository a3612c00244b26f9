#!/usr/bin/env bash
# Webhooks that never lose a message (issue 10, item 5): an endpoint down for 60 s with lwstack
# restarted in the middle of it → every uplink delivered once it is back, in order per device,
# none twice; meanwhile the other tenant's webhook keeps delivering; health_status unhealthy
# with TTS's failure details and as.webhook.fail events; an endpoint that answers 503 for good
# → dead letters (as.webhook.deadletter), listed, replayed once it is fixed; a suspended
# tenant's webhooks stop within 5 s and resume with nothing lost on reactivation. Two tenants,
# acme and globex; AsUp published by tests/integration/as/as_up_pub.c, endpoints
# tests/integration/as/webhook_receiver.py.
. "$(dirname "$0")/lib.sh"

build="$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)"
pub="$build/tests/integration/as/as_up_pub"
EB="$build/tests/e2e/e2e_bus"
recv="$LWSTACK_SRC/tests/integration/as/webhook_receiver.py"
[ -x "$pub" ] && [ -x "$EB" ] || { echo "as_up_pub or e2e_bus not built" >&2; exit 1; }

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
FAST=(--as.webhooks.backoff.base 100ms --as.webhooks.backoff.max 1s --as.webhooks.timeout 2s
    --as.webhooks.max-queued 3) # 3: most of the backlogs below wait in the outbox only
lw_t_stack stack "$port" "${FAST[@]}"
STACK_PID=$LW_T_LAST_PID
api="http://127.0.0.1:$port/api/v3"
adm() { lw_t_adm "$@"; }
body() { lw_t_body "$@"; }
for t in acme globex; do
    r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$t\"},\"state\":\"STATE_APPROVED\"},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"Secret-passw0rd\",\"primary_email_address\":\"admin@$t.example\"}}")
    lw_t_eq "create tenant $t → 200" 200 "${r%% *}"
    r=$(adm $t POST /users/admin/applications '{"application":{"ids":{"application_id":"app1"}}}')
    lw_t_eq "$t: create app1 → 200" 200 "${r%% *}"
done
lw_t_bg tap "$EB" consume --brokers "$LW_T_BROKERS" --topics events --out "$LW_T_DIR/events.jsonl" \
    --ready "$LW_T_DIR/tap.ready"
lw_t_wait_for "the events tap" 60 test -s "$LW_T_DIR/tap.ready"
EV="$LW_T_DIR/events.jsonl"

A="$LW_T_DIR/acme.jsonl"
G="$LW_T_DIR/globex.jsonl"
touch "$A" "$G"
rport_a=$(lw_t_free_port)
rport_g=$(lw_t_free_port)
recv_start() { # NAME PORT OUT
    rm -f "$LW_T_DIR/$1.ready"
    lw_t_bg "recv-$1" python3 "$recv" --port "$2" --out "$3" --status-file "$LW_T_DIR/$1.status" \
        --ready "$LW_T_DIR/$1.ready"
    lw_t_wait_for "receiver $1" 20 test -s "$LW_T_DIR/$1.ready"
}
recv_start acme "$rport_a" "$A"
RA=$LW_T_LAST_PID
recv_start globex "$rport_g" "$G"
for t in acme globex; do
    p=$rport_a
    [ $t = globex ] && p=$rport_g
    r=$(adm $t POST /as/webhooks/app1 '{"webhook":{"ids":{"webhook_id":"wh1"},"base_url":"http://127.0.0.1:'$p'/'$t'","uplink_message":{"path":"/up"}}}')
    lw_t_eq "$t: webhook wh1 → 200" 200 "${r%% *}"
done
# pubn TENANT COUNT DEVS BATCH: COUNT uplinks round-robin over dev0..dev<DEVS-1>, f_cnt 0..COUNT-1,
# "batch:<BATCH>" as their correlation ID.
pubn() { # TENANT COUNT DEVS BATCH
    local j='{"end_device_ids":{"device_id":"%DEV%","application_ids":{"application_id":"app1"}},"correlation_ids":["batch:'$4'"],"uplink_message":{"f_cnt":%SEQ%,"frm_payload":"AQ=="}}'
    "$pub" --brokers "$LW_T_BROKERS" --tenant "$1" --app app1 --dev dev --devs "$3" --type 1 --json "$j" --count "$2" >/dev/null
}
lines() { wc -l <"$1" | tr -d ' '; }
wait_lines() { lw_t_wait_for "$2 request(s) in $(basename "$1")" "${3:-30}" bash -c '[ "$(wc -l <"$1")" -ge "$2" ]' _ "$1" "$2"; }
# "batch:N f_cnt" of the 2xx deliveries of a device, in arrival order.
seq_of() { jq -r 'select(.status == 200 and .body.end_device_ids.device_id == "'$2'") | "\(.body.correlation_ids[0]):\(.body.uplink_message.f_cnt)"' "$1" | tr '\n' ' ' | sed 's/ $//'; }
expect_seq() { # DEV BATCH... (each batch: 10 messages over dev0/dev1 → f_cnt 0,2,4,6,8 or 1,3,5,7,9)
    local dev=$1 out="" b k start
    shift
    start=${dev#dev}
    for b in "$@"; do
        for k in $(seq "$start" 2 9); do out="$out batch:$b:$k"; done
    done
    printf '%s' "${out# }"
}

# ---- a first delivery: both healthy ---------------------------------------------------------
pubn acme 10 2 1
pubn globex 10 2 1
wait_lines "$A" 10
wait_lines "$G" 10
lw_t_eq "acme: batch 1 delivered in order per device" "$(expect_seq dev0 1) | $(expect_seq dev1 1)" "$(seq_of "$A" dev0) | $(seq_of "$A" dev1)"

# ---- acme's endpoint down for 60 s, lwstack restarted in the middle ---------------------------
kill "$RA"
wait "$RA" 2>/dev/null || true
DOWN_AT=$(date +%s)
pubn acme 10 2 2
pubn globex 10 2 2
wait_lines "$G" 20
lw_t_eq "globex: its webhook keeps delivering while acme's endpoint is down" \
    "$(expect_seq dev0 1 2) | $(expect_seq dev1 1 2)" "$(seq_of "$G" dev0) | $(seq_of "$G" dev1)"
unhealthy() { [ "$(body "$(adm acme GET "/as/webhooks/app1/wh1?field_mask=health_status")" | jq -r '.health_status.unhealthy.failed_attempts // 0')" -ge 2 ]; }
lw_t_wait_for "acme's wh1 unhealthy" 20 unhealthy
r=$(adm acme GET "/as/webhooks/app1/wh1?field_mask=health_status")
lw_t_eq "acme: health_status unhealthy with TTS's request error (webhook_id, url, no status: refused)" \
    "request pkg/applicationserver/io/web/sink wh1 http://127.0.0.1:$rport_a/acme/up null connection_failed true" \
    "$(body "$r" | jq -r '.health_status.unhealthy | "\(.last_failed_attempt_details.name) \(.last_failed_attempt_details.namespace) \(.last_failed_attempt_details.attributes.webhook_id) \(.last_failed_attempt_details.attributes.url) \(.last_failed_attempt_details.attributes.status_code) \(.last_failed_attempt_details.cause.name) \(.last_failed_attempt_at | test("Z$"))"')"
r=$(adm globex GET "/as/webhooks/app1/wh1?field_mask=health_status")
lw_t_eq "globex: healthy" '{"healthy":{}}' "$(body "$r" | jq -c .health_status)"
lw_t_eq "as.webhook.fail events of acme's devices, none of globex" "yes 0" \
    "$([ "$(jq -c 'select(.value.name == "as.webhook.fail" and .value.context."tenant-id" == "acme")' "$EV" | wc -l)" -ge 2 ] && echo yes || echo no) $(jq -c 'select(.value.name == "as.webhook.fail" and .value.context."tenant-id" == "globex")' "$EV" | wc -l | tr -d ' ')"
lw_t_eq "acme: batch 2 is in the outbox" 10 "$(lw_t_psql -c 'SELECT count(*) FROM t_acme.as_webhook_outbox')"

kill -TERM "$STACK_PID"
lw_t_wait_exit "$STACK_PID" 30
lw_t_eq "lwstack stopped during the outage (SIGTERM) → exit 0" 0 "$LW_T_RC"
lw_t_eq "acme: nothing lost from the outbox by the stop" 10 "$(lw_t_psql -c 'SELECT count(*) FROM t_acme.as_webhook_outbox')"
pubn acme 10 2 3 # while lwstack is down: on the bus only
lw_t_stack stack2 "$port" "${FAST[@]}"
STACK_PID=$LW_T_LAST_PID
pubn acme 10 2 4
pubn globex 10 2 3
wait_lines "$G" 30
outbox30() { [ "$(lw_t_psql -c 'SELECT count(*) FROM t_acme.as_webhook_outbox')" = 30 ]; }
lw_t_wait_for "acme's 30 undelivered in the outbox" 30 outbox30
lw_t_eq "acme: batches 2, 3, 4 wait in the outbox after the restart" 30 "$(lw_t_psql -c 'SELECT count(*) FROM t_acme.as_webhook_outbox')"
lw_t_eq "globex: batch 3 delivered after the restart, in order" \
    "$(expect_seq dev0 1 2 3) | $(expect_seq dev1 1 2 3)" "$(seq_of "$G" dev0) | $(seq_of "$G" dev1)"
left=$(( 60 - ($(date +%s) - DOWN_AT) ))
[ "$left" -gt 0 ] && sleep "$left"
recv_start acme "$rport_a" "$A"
wait_lines "$A" 40 60
sleep 2
lw_t_eq "acme: after 60 s down and a restart, every uplink delivered once, in order per device" \
    "40 $(expect_seq dev0 1 2 3 4) | $(expect_seq dev1 1 2 3 4)" "$(lines "$A") $(seq_of "$A" dev0) | $(seq_of "$A" dev1)"
lw_t_eq "acme: the outbox empty" 0 "$(lw_t_psql -c 'SELECT count(*) FROM t_acme.as_webhook_outbox')"
healthy() { [ "$(body "$(adm acme GET "/as/webhooks/app1/wh1?field_mask=health_status")" | jq -c .health_status)" = '{"healthy":{}}' ]; }
lw_t_wait_for "acme healthy again" 10 healthy
lw_t_eq "acme: healthy again" '{"healthy":{}}' "$(body "$(adm acme GET "/as/webhooks/app1/wh1?field_mask=health_status")" | jq -c .health_status)"

# ---- a permanent failure: dead letters, replayed -----------------------------------------------
kill -TERM "$STACK_PID"
lw_t_wait_exit "$STACK_PID" 30
lw_t_stack stack3 "$port" "${FAST[@]}" --as.webhooks.dead-letter.attempts 2 --as.webhooks.backoff.max 200ms
STACK_PID=$LW_T_LAST_PID
echo 503 >"$LW_T_DIR/globex.status"
pubn globex 4 2 5
pubn acme 10 2 5
dead4() { [ "$(lw_t_psql -c 'SELECT count(*) FROM t_globex.as_webhook_dead_letters')" = 4 ]; }
lw_t_wait_for "globex's 4 messages dead" 30 dead4
wait_lines "$A" 50
lw_t_eq "acme: batch 5 delivered while globex's endpoint fails" \
    "$(expect_seq dev0 1 2 3 4 5) | $(expect_seq dev1 1 2 3 4 5)" "$(seq_of "$A" dev0) | $(seq_of "$A" dev1)"
lw_t_eq "globex: each message tried twice (dead-letter.attempts), answered 503" "8 503" \
    "$(jq -c 'select(.body.correlation_ids[0] == "batch:5")' "$G" | wc -l | tr -d ' ') $(jq -r 'select(.body.correlation_ids[0] == "batch:5") | .status' "$G" | sort -u)"
r=$(adm globex GET "/as/webhooks/app1/wh1/dead-letters")
lw_t_eq "globex: 4 dead letters, in order per device, with attempts, the 503 and the message" \
    "dev0:0:2:503:uplink_message dev0:2:2:503:uplink_message | dev1:1:2:503:uplink_message dev1:3:2:503:uplink_message" \
    "$(body "$r" | jq -r '[.dead_letters[] | select(.device_id == "dev0") | "\(.device_id):\(.message.uplink_message.f_cnt):\(.attempts):\(.last_error.attributes.status_code):\(.type)"] | join(" ")') | $(body "$r" | jq -r '[.dead_letters[] | select(.device_id == "dev1") | "\(.device_id):\(.message.uplink_message.f_cnt):\(.attempts):\(.last_error.attributes.status_code):\(.type)"] | join(" ")')"
ids=$(body "$r" | jq -r '[.dead_letters[].id] | join(" ")')
first=${ids%% *}
r=$(adm globex GET "/as/webhooks/app1/wh1/dead-letters?limit=2&after=$first")
lw_t_eq "globex: a page after the first id, limit 2 → the second and third" "$(echo "$ids" | cut -d' ' -f2-3)" \
    "$(body "$r" | jq -r '[.dead_letters[].id] | join(" ")')"
lw_t_eq "as.webhook.deadletter events: 4 of globex, none of acme" "4 0" \
    "$(jq -c 'select(.value.name == "as.webhook.deadletter" and .value.context."tenant-id" == "globex")' "$EV" | wc -l | tr -d ' ') $(jq -c 'select(.value.name == "as.webhook.deadletter" and .value.context."tenant-id" == "acme")' "$EV" | wc -l | tr -d ' ')"
r=$(adm acme GET "/as/webhooks/app1/wh1/dead-letters")
lw_t_eq "acme: no dead letters" "200 {}" "${r%% *} $(body "$r" | jq -c .)"
r=$(adm acme POST "/as/webhooks/app1/wh1/dead-letters/replay" '{}')
lw_t_eq "acme: replaying globex's letters from acme replays nothing" '200 {"replayed":0}' "${r%% *} $(body "$r" | jq -c .)"
r=$(adm globex GET "/as/webhooks/app1/wh9/dead-letters")
lw_t_eq "globex: dead letters of an unknown webhook → 404 webhook_not_found" "404 webhook_not_found" "$(lw_t_status_name "$r")"
rm -f "$LW_T_DIR/globex.status"
nb=$(lines "$G")
r=$(adm globex POST "/as/webhooks/app1/wh1/dead-letters/replay" '{}')
lw_t_eq "globex: replay all → 4" '200 {"replayed":4}' "${r%% *} $(body "$r" | jq -c .)"
wait_lines "$G" $((nb + 4))
sleep 1
lw_t_eq "globex: the 4 replayed messages delivered once, in order per device" \
    "4 batch:5:0 batch:5:2 | batch:5:1 batch:5:3" \
    "$(( $(lines "$G") - nb )) $(tail -4 "$G" | jq -r 'select(.body.end_device_ids.device_id == "dev0") | "\(.body.correlation_ids[0]):\(.body.uplink_message.f_cnt)"' | tr '\n' ' ')| $(tail -4 "$G" | jq -r 'select(.body.end_device_ids.device_id == "dev1") | "\(.body.correlation_ids[0]):\(.body.uplink_message.f_cnt)"' | tr '\n' ' ' | sed 's/ $//')"
lw_t_eq "globex: no dead letters left, the outbox empty" "0 0" \
    "$(lw_t_psql -c 'SELECT (SELECT count(*) FROM t_globex.as_webhook_dead_letters), (SELECT count(*) FROM t_globex.as_webhook_outbox)' | tr '|' ' ')"

# ---- a suspended tenant's webhooks stop within 5 s ------------------------------------------------
r=$(lw_t_admin PUT "$api/tenants/acme" -d '{"tenant":{"state":"STATE_SUSPENDED"},"field_mask":{"paths":["state"]}}')
lw_t_eq "suspend acme → 200" 200 "${r%% *}"
sleep 5
na=$(lines "$A")
ng=$(lines "$G")
pubn acme 10 2 6
pubn globex 10 2 6
wait_lines "$G" $((ng + 10))
sleep 3
lw_t_eq "acme suspended: nothing sent, its messages kept; globex's delivered" "$na 10 10" \
    "$(lines "$A") $(lw_t_psql -c 'SELECT count(*) FROM t_acme.as_webhook_outbox') $(( $(lines "$G") - ng ))"
r=$(lw_t_admin PUT "$api/tenants/acme" -d '{"tenant":{"state":"STATE_APPROVED"},"field_mask":{"paths":["state"]}}')
lw_t_eq "reactivate acme → 200" 200 "${r%% *}"
wait_lines "$A" $((na + 10))
sleep 1
lw_t_eq "acme reactivated: batch 6 delivered, in order, nothing lost" \
    "$(expect_seq dev0 1 2 3 4 5 6) | $(expect_seq dev1 1 2 3 4 5 6)" "$(seq_of "$A" dev0) | $(seq_of "$A" dev1)"

lw_t_done
