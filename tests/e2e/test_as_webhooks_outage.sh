#!/usr/bin/env bash
# Acceptance (issue 10, webhooks): on the whole stack, acme's webhook endpoint is down for
# 60 s while its simulated OTAA devices keep sending, and lwstack is stopped (SIGTERM) and
# started again in the middle of the outage: once the endpoint is back every uplink the
# Application Server published (lw.as.up) reaches it, in FCnt order per device, none twice.
# Meanwhile globex's webhook keeps delivering its own devices' uplinks. Two tenants.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "AS webhooks"
lw_e2e_need js "OTAA joins (the Join Server)"
lw_e2e_need as "the Application Server"
recv="$LWSTACK_SRC/tests/integration/as/webhook_receiver.py"
lw_e2e_prepare
ARGS=("${E2E_ARGS[@]}" --js.application-server-kek-label as-dev --as.keks.as-dev "$E2E_AS_KEK"
    --as.webhooks.backoff.base 200ms --as.webhooks.backoff.max 2s)
lw_t_stack stack "$E2E_HTTP" "${ARGS[@]}"
STACK_PID=$LW_T_LAST_PID
E2E_API="http://127.0.0.1:$E2E_HTTP"
api="$E2E_API/api/v3"
declare -A RPORT RPID
recv_start() {
    rm -f "$LW_T_DIR/$1.ready"
    lw_t_bg "$1.recv" python3 "$recv" --port "${RPORT[$1]}" --out "$LW_T_DIR/$1.hook.jsonl" --ready "$LW_T_DIR/$1.ready"
    RPID[$1]=$LW_T_LAST_PID
    lw_t_wait_for "$1's endpoint" 20 test -s "$LW_T_DIR/$1.ready"
}
for t in acme globex; do
    lw_e2e_tenant $t
    r=$(lw_t_adm $t POST /users/admin/applications '{"application":{"ids":{"application_id":"app1"}}}')
    lw_t_eq "$t: app1 created" 200 "${r%% *}"
    RPORT[$t]=$(lw_t_free_port)
    touch "$LW_T_DIR/$t.hook.jsonl"
    recv_start $t
    r=$(lw_t_adm $t POST /as/webhooks/app1 '{"webhook":{"ids":{"webhook_id":"hook1"},"base_url":"http://127.0.0.1:'${RPORT[$t]}'","uplink_message":{"path":"/up"},"join_accept":{"path":"/join"}}}')
    lw_t_eq "$t: webhook hook1 created" 200 "${r%% *}"
done
lw_e2e_tap as.up
lw_e2e_wait_matcher
lw_t_wait_for "webhook outboxes loaded" 30 grep -q 'webhook outboxes loaded' "$LW_T_DIR/stack.log"

# Two OTAA devices per tenant join and send 2 uplinks each; then 3 more rounds of 1 uplink
# each, the first while the endpoint is down, the next two around a restart of lwstack.
sim_round() { # TENANT ROUND [FIRST ARGS...]
    local t=$1 n=$2
    shift 2
    if [ "$n" = 0 ]; then
        lw_e2e_sim $t --seed "$t-outage" --application app1 --otaa --lorawan-version 1.0.3 --devices 2 \
            --uplinks-per-device 2 --rate 1 --keys-out "$LW_T_DIR/$t.state" --gateways 2 --copies 2 \
            --duration 0 --json --fport 3 --payload 0102 --events "$LW_T_DIR/$t.$n.ev" >"$LW_T_DIR/$t.$n.json"
    else
        lw_e2e_sim_udp --seed "$t-outage" --keys-file "$LW_T_DIR/$t.state" --keys-out "$LW_T_DIR/$t.state" \
            --uplinks-per-device 1 --rate 10 --gateways 2 --copies 2 --duration 0 --json \
            --events "$LW_T_DIR/$t.$n.ev" >"$LW_T_DIR/$t.$n.json"
    fi
}
# "dev:fcnt" of the AsUp uplinks of tenant T on lw.as.up, per device in order, unique.
bus_seq() {
    lw_e2e_bus_select "._topic == \"as.up\" and .envelope.tenant_id == \"$1\" and .type == \"AS_UP_UPLINK_MESSAGE\"" |
        jq -r .json | while read -r h; do perl -e 'print pack("H*", $ARGV[0]), "\n"' "$h"; done |
        jq -r '"\(.end_device_ids.device_id):\(.uplink_message.f_cnt // 0)"' | awk '!seen[$0]++' | sort -t: -k1,1 -s
}
hook_seq() { jq -r 'select(.path == "/up") | "\(.body.end_device_ids.device_id):\(.body.uplink_message.f_cnt // 0)"' "$LW_T_DIR/$1.hook.jsonl" | sort -t: -k1,1 -s; }
pids=()
for t in acme globex; do
    sim_round $t 0 &
    pids+=($!)
done
wait "${pids[@]}"
for t in acme globex; do
    lw_e2e_wait_bus 4 "._topic == \"as.up\" and .envelope.tenant_id == \"$t\" and .type == \"AS_UP_UPLINK_MESSAGE\"" 30
done
lw_t_wait_for "acme's first 4 at the webhook" 30 bash -c "[ \$(grep -c '\"path\": \"/up\"' '$LW_T_DIR/acme.hook.jsonl') -ge 4 ]"

kill "${RPID[acme]}"
refused() { ! curl -s -o /dev/null -X POST "http://127.0.0.1:${RPORT[acme]}/up"; }
lw_t_wait_for "acme's endpoint down" 10 refused
DOWN_AT=$(date +%s)
for t in acme globex; do sim_round $t 1; done
sleep 2
kill -TERM "$STACK_PID"
lw_t_wait_exit "$STACK_PID" 30
lw_t_eq "lwstack stopped during the outage → exit 0" 0 "$LW_T_RC"
lw_t_stack stack2 "$E2E_HTTP" "${ARGS[@]}"
STACK_PID=$LW_T_LAST_PID
lw_e2e_wait_matcher "$LW_T_DIR/stack2.log"
lw_t_wait_for "webhook outboxes loaded again" 30 grep -q 'webhook outboxes loaded' "$LW_T_DIR/stack2.log"
for round in 2 3; do
    for t in acme globex; do sim_round $t $round; done
done
lw_e2e_wait_bus 10 "._topic == \"as.up\" and .envelope.tenant_id == \"globex\" and .type == \"AS_UP_UPLINK_MESSAGE\"" 30
sleep 3
lw_t_eq "globex: every uplink on lw.as.up reached its webhook meanwhile, in order per device" \
    "$(bus_seq globex | xargs)" "$(hook_seq globex | xargs)"
lw_t_eq "globex: 10 uplinks (2 devices × 5)" 10 "$(hook_seq globex | wc -l | tr -d ' ')"
left=$(( 60 - ($(date +%s) - DOWN_AT) ))
[ "$left" -gt 0 ] && sleep "$left"
lw_t_eq "acme: the endpoint was down 60 s" yes "$([ $(( $(date +%s) - DOWN_AT )) -ge 60 ] && echo yes || echo no)"
recv_start acme
want=$(bus_seq acme | wc -l | tr -d ' ')
lw_t_wait_for "acme: all $want uplinks at the webhook" 60 bash -c "[ \$(grep -c '\"path\": \"/up\"' '$LW_T_DIR/acme.hook.jsonl') -ge $want ]"
sleep 2
lw_t_eq "acme: 10 uplinks published by the AS (2 devices × 5)" 10 "$want"
lw_t_eq "acme: after 60 s down and a restart, every uplink delivered, in FCnt order per device" \
    "$(bus_seq acme | xargs)" "$(hook_seq acme | xargs)"
lw_t_eq "acme: none twice" "$want" "$(jq -r 'select(.path == "/up") | "\(.body.end_device_ids.device_id):\(.body.uplink_message.f_cnt // 0)"' "$LW_T_DIR/acme.hook.jsonl" | wc -l | tr -d ' ')"
lw_t_eq "nothing of the other tenant at either endpoint" "0 0" \
    "$(jq -r 'select(.body.end_device_ids.application_ids.application_id != "app1" or (.body.correlation_ids | tostring | test("globex")))' "$LW_T_DIR/acme.hook.jsonl" | wc -l | tr -d ' ') $(jq -r 'select(.body.uplink_message.network_ids.tenant_id != null and .body.uplink_message.network_ids.tenant_id != "globex")' "$LW_T_DIR/globex.hook.jsonl" | wc -l | tr -d ' ')"
lw_t_done
