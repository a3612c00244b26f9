#!/usr/bin/env bash
# Webhook figures for ops/bench (issue 10), printed, not asserted: against a private stack
# (PostgreSQL, a kafka-dev broker, `lwstack start all`), BENCH_WH_MESSAGES uplink_message
# AsUp (a 700-byte ApplicationUp each, over BENCH_WH_DEVICES devices) are published on
# lw.as.up as the AS worker publishes them (tests/integration/as/as_up_pub.c), and the
# application's webhook delivers them to tests/bench/as/webhook_sink.c (the project's HTTP
# server answering 200) through the whole durable path: outbox rows written in batches,
# offsets committed, requests on libcurl multi, rows deleted. Deliveries/s is the sink's count
# over the time from its first request to its last; the outbox is checked empty at the end.
#
# Environment: LWSTACK_BIN, LWSTACK_SRC (as the tests); BENCH_WH_MESSAGES (50000),
# BENCH_WH_DEVICES (1000), BENCH_WH_INFLIGHT (as.webhooks.max-in-flight, 64).
set -euo pipefail
. "$LWSTACK_SRC/tests/integration/lib.sh"

say() { echo "webhooks: $*"; }
build="$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)"
pub="$build/tests/integration/as/as_up_pub"
sink="$build/tests/bench/webhook_sink"
[ -x "$pub" ] && [ -x "$sink" ] || { say "skipped: as_up_pub or webhook_sink not built"; exit 0; }
"$LWSTACK_BIN" --help 2>&1 | grep -q formatter-worker || { say "skipped: no Application Server"; exit 0; }
n=${BENCH_WH_MESSAGES:-50000}
devs=${BENCH_WH_DEVICES:-1000}
inflight=${BENCH_WH_INFLIGHT:-64}

lw_t_pg_start
lw_t_kafka_start 16 # the mock broker keeps 5 MiB per partition: room for the backlog
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
lw_t_stack stack "$port" --log.level warn --tenancy.rate-limit.requests-per-tenant "1000000/1s" \
    --as.webhooks.max-in-flight "$inflight"
api="http://127.0.0.1:$port/api/v3"
r=$(lw_t_admin POST "$api/tenants" -d '{"tenant":{"ids":{"tenant_id":"bench"},"state":"STATE_APPROVED"},"initial_user":{"ids":{"user_id":"admin"},"password":"Secret-passw0rd","primary_email_address":"admin@bench.example"}}')
[ "${r%% *}" = 200 ] || { say "tenant: $r"; exit 1; }
lw_t_adm bench POST /users/admin/applications '{"application":{"ids":{"application_id":"app1"}}}' >/dev/null
lw_t_bg sink "$sink" --port-file "$LW_T_DIR/sink.port" --out "$LW_T_DIR/sink.json"
lw_t_wait_for "the sink" 10 test -s "$LW_T_DIR/sink.port"
sport=$(cat "$LW_T_DIR/sink.port")
r=$(lw_t_adm bench POST /as/webhooks/app1 '{"webhook":{"ids":{"webhook_id":"bench"},"base_url":"http://127.0.0.1:'$sport'/hook","headers":{"X-Bench":"1"},"uplink_message":{"path":"/up"}}}')
[ "${r%% *}" = 200 ] || { say "webhook: $r"; exit 1; }
sleep 2 # the consumer's assignment and its outbox load

# An ApplicationUp as the AS builds it (three gateways), ~700 bytes.
rx='{"gateway_ids":{"gateway_id":"gw-%SEQ%","eui":"0102030405060708"},"time":"2026-12-01T20:00:00.123456Z","timestamp":123456789,"rssi":-70,"channel_rssi":-70,"snr":7.5,"uplink_token":"ChYKFAoIZ3ctMDAwMDESCAECAwQFBgcIEMX9/3M=","channel_index":2}'
json='{"end_device_ids":{"device_id":"%DEV%","application_ids":{"application_id":"app1"},"dev_eui":"0004A30B001C0530","dev_addr":"260B1234"},"correlation_ids":["as:up:%SEQ%","gs:uplink:%SEQ%"],"received_at":"2026-12-01T20:00:00.223456Z","uplink_message":{"session_key_id":"AQID","f_port":1,"f_cnt":%SEQ%,"frm_payload":"AQIDBAUGBwg=","rx_metadata":['"$rx,$rx,$rx"'],"settings":{"data_rate":{"lora":{"bandwidth":125000,"spreading_factor":7,"coding_rate":"4/5"}},"frequency":"868100000","timestamp":123456789},"received_at":"2026-12-01T20:00:00.213456Z","consumed_airtime":"0.061696s","network_ids":{"net_id":"000000","tenant_id":"bench"}}}'
t0=$(date +%s%N)
out=$("$pub" --brokers "$LW_T_BROKERS" --tenant bench --app app1 --dev dev --devs "$devs" --type 1 \
    --json "$json" --count "$n")
t1=$(date +%s%N)
# Until all are in, or nothing more came for 30 s.
seen=-1 still=0
while :; do
    got=$(jq -r .requests "$LW_T_DIR/sink.json" 2>/dev/null || echo 0)
    [ "$got" -ge "$n" ] && break
    if [ "$got" = "$seen" ]; then still=$((still + 1)); else still=0; seen=$got; fi
    [ "$still" -ge 300 ] && { say "only $got of $n delivered (nothing more for 30 s)"; break; }
    sleep 0.1
done
sleep 0.5
got=$(jq -r .requests "$LW_T_DIR/sink.json")
first=$(jq -r .first_ns "$LW_T_DIR/sink.json")
last=$(jq -r .last_ns "$LW_T_DIR/sink.json")
ms=$(( (last - first) / 1000000 ))
left=$(lw_t_psql -c 'SELECT count(*) FROM t_bench.as_webhook_outbox')
say "$(( got * 1000 / (ms > 0 ? ms : 1) )) deliveries/s to a local HTTP server ($got of $n in ${ms} ms from the first request to the last, ${#json}-byte template, $devs devices, max-in-flight $inflight, outbox rows left $left; published in $(( (t1 - t0) / 1000000 )) ms: $out; load $(cut -d' ' -f1-3 /proc/loadavg))"
