#!/usr/bin/env bash
# Runs bench_is against a private stack: PostgreSQL, a kafka-dev broker and `lwstack start
# all` as in the integration tests. Usage: run.sh [bench_is args...]
# Environment: LWSTACK_BIN (lwstack), BENCH_IS (bench_is), LWSTACK_SRC (checkout).
LWSTACK_SRC=${LWSTACK_SRC:-$(cd "$(dirname "$0")/../../.." && pwd)}
export LWSTACK_SRC
. "$LWSTACK_SRC/tests/integration/lib.sh"
BENCH_IS=${BENCH_IS:-$(dirname "$LWSTACK_BIN")/../../tests/bench/is/bench_is}
lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
# One tenant and one API key make every request: the default per-tenant and per-key rate
# limits (100/s, 50/s) would measure the limits, so they are set far above what this
# machine serves (the limiter still runs on every request).
lw_t_stack stack "$port" --log.level warn \
    --tenancy.rate-limit.requests-per-tenant "1000000/1s" --is.rate-limit.per-api-key "1000000/1s"
"$BENCH_IS" --url "http://127.0.0.1:$port" --admin-key "$LW_T_ADMIN_KEY" "$@"
