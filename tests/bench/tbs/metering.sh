#!/usr/bin/env bash
# ops/bench: usage events metered per second by the Tenant Billing Server's ledger
# (billing/ledger.c). UsageBatch messages for 100 tenants (10 uplinks, 1 downlink and 5
# active devices each, as an NS process publishes them every usage.interval) are published
# on lw.usage first (tests/e2e/e2e_bus usage-publish); then `lwstack start tenant tbs`
# applies them, each transaction writing counters, active devices, batch ids and offsets;
# timed from the first committed offset to the last. Prints batches/s and usage events/s.
# Env: LWSTACK_BIN, LWSTACK_SRC; args: [BATCHES (default 20000)].
set -euo pipefail
. "$LWSTACK_SRC/tests/integration/lib.sh"
n=${1:-20000}
bus=${LW_E2E_BUS:-"$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)/tests/e2e/e2e_bus"}
lw_t_pg_start
lw_t_kafka_start 16
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
tenants=$(seq -f 'bench%03g' 1 100 | paste -sd,)
"$bus" usage-publish --brokers "$LW_T_BROKERS" --tenant "$tenants" --batches $((n / 100)) \
    --uplinks 10 --devices 5 --interval-start $(( ($(date +%s) - 7200) / 3600 * 3600000 )) \
    --interval-ms 10000 >"$LW_T_DIR/pub.json"
total=$(jq .batches "$LW_T_DIR/pub.json")
port=$(lw_t_free_port)
lw_t_spawn tbs --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" --http.listen "127.0.0.1:$port" \
    --tbs.backend manual --log.level warn start tenant tbs
applied() { lw_t_psql -c "SELECT coalesce(sum(next_offset), 0) FROM lw_control.usage_offsets WHERE group_id = 'tbs.usage'"; }
t0=""
deadline=$(( $(date +%s) + 300 ))
while :; do
    a=$(applied)
    [ -z "$t0" ] && [ "$a" -gt 0 ] && { t0=$(date +%s%N); a0=$a; }
    [ "$a" -ge "$total" ] && break
    [ "$(date +%s)" -lt "$deadline" ] || { echo "tbs: only $a of $total usage batches applied in 300 s" >&2; exit 1; }
    sleep 0.05
done
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
ms=$(( ms > 0 ? ms : 1 ))
b=$(( total - a0 ))
echo "tbs: $(( b * 1000 / ms )) usage batches/s, $(( b * 11 * 1000 / ms )) usage events metered/s into the ledger ($b batches of 10 uplinks + 1 downlink and 5 devices for 100 tenants in ${ms} ms; counters, active devices, batch ids and offsets in one PostgreSQL transaction per up to 500)"
