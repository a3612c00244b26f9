#!/usr/bin/env bash
# Data-path figures for ops/bench (issue 9), printed, not asserted: against a private stack
# (PostgreSQL, a kafka-dev broker, `lwstack start all`), with `lwstack simulate` as the
# gateways and devices and e2e_bus counting lw.ns.up:
#   - device uplinks/s through GS+NS: UDP in → lw.ns.up out, 3 gateway copies each, 10,000+
#     ABP devices, the NS's state durable as configured; p50/p99 latency beyond the
#     deduplication window (lw.ns.up consumed - first copy received by the GS - window);
#   - joins/s (OTAA, GS+NS+JS);
#   - the stack's RSS growth per 100,000 active devices (each sends one uplink).
# The simulator runs on the same machine and takes its share of the cores: what it managed
# to send is printed next to what came out.
#
# Environment: LWSTACK_BIN, LWSTACK_SRC (as the tests); BENCH_DEVICES (10000),
# BENCH_RATES ("2000 5000 10000 20000" uplinks/s), BENCH_SECONDS (15 per rate),
# BENCH_JOINS (2000 devices), BENCH_RSS_DEVICES (100000), BENCH_GATEWAYS (30),
# BENCH_PARTS ("uplinks joins memory": which parts run), BENCH_STACK_ARGS (more arguments of
# `lwstack start`, e.g. "--bus.kafka.linger.ms 1" to compare settings), BENCH_SPLIT (1, the
# default: the Network Server in a process of its own beside the others, as a deployment runs
# it, so the two loops use both cores, and the memory figure is the sum of both processes;
# 0: every component in one process).
set -euo pipefail
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

say() { echo "data path: $*"; }
missing=""
for c in gs ns; do
    case " $(lw_e2e_components) " in *" $c "*) ;; *) missing="$missing $c" ;; esac
done
if [ -n "$missing" ] || ! lw_e2e_has_key gs.udp.listen; then
    say "skipped: needs the Gateway Server (with gs.udp.listen) and the Network Server; not built:${missing:- gs.udp.listen}"
    exit 0
fi
devices=${BENCH_DEVICES:-10000}
rates=${BENCH_RATES:-2000 5000 10000 20000}
secs=${BENCH_SECONDS:-15}
joins=${BENCH_JOINS:-2000}
rss_devices=${BENCH_RSS_DEVICES:-100000}
gws=${BENCH_GATEWAYS:-30}
parts=" ${BENCH_PARTS:-uplinks joins memory} "
part() { case "$parts" in *" $1 "*) return 0 ;; esac; return 1; }
# shellcheck disable=SC2206 # word splitting wanted: the arguments as the caller wrote them
stack_args=(${BENCH_STACK_ARGS:-})

# Rate limits far above what the bench drives (one tenant, one key, a few gateways carrying
# every device): it measures the path, not the limits.
limits=(--tenancy.rate-limit.requests-per-tenant "1000000/1s" --is.rate-limit.per-api-key "1000000/1s")
lw_e2e_has_key gs.rate-limit.uplinks-per-gateway && limits+=(--gs.rate-limit.uplinks-per-gateway 0)
# The memory figures read RSS a few seconds after each step, once the runtime has handed
# what the allocator holds free back to the system (runtime.memory-trim-interval, 30 s by
# default): they count what devices keep, not what a burst left behind.
lw_e2e_has_key runtime.memory-trim-interval && limits+=(--runtime.memory-trim-interval 1s)
if [ "${BENCH_SPLIT:-1}" != 0 ]; then
    lw_e2e_prepare
    E2E_ARGS+=(--log.level warn "${limits[@]}" "${stack_args[@]}")
    lw_e2e_split_ns "$(lw_t_free_port)"
    stack_pids=("$E2E_FRONT_PID" "$LW_T_LAST_PID")
    apis=("$E2E_API" "$E2E_NS_API")
    say "the Network Server runs in a process of its own"
else
    lw_e2e_start --log.level warn "${limits[@]}" "${stack_args[@]}"
    stack_pids=("$LW_T_LAST_PID")
    apis=("$E2E_API")
fi
lw_e2e_tenant bench
if [ -n "${E2E_NS_API:-}" ]; then
    ns_knows_tenant() {
        ! curl -s -H "X-Tenant-ID: bench" -H "Authorization: Bearer $LW_T_ADMIN_KEY" \
            "$E2E_NS_API/api/v3/ns/applications/none/devices/none" | grep -q tenant_not_found
    }
    lw_t_wait_for "the Network Server process to know the tenant" 30 ns_knows_tenant
fi
window_ms=200
if lw_e2e_has_key ns.deduplication-window; then
    w=$("$LWSTACK_BIN" config 2>/dev/null | sed -n 's/^ns\.deduplication-window[:=] *//p' | head -1)
    case "$w" in *ms) window_ms=${w%ms} ;; *s) window_ms=$(( ${w%s} * 1000 )) ;; esac
fi
bus=$(lw_e2e_bus_bin)
rss_kib() {
    local p n=0
    for p in "${stack_pids[@]}"; do n=$((n + $(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status"))); done
    echo "$n"
}
# Each process's RSS (MiB), for the breakdown.
rss_each() {
    local p
    for p in "${stack_pids[@]}"; do echo "$(( $(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status") / 1024 ))"; done
}

# The live C heap of every process (KiB): lwstack_process_heap_bytes{state="in_use"}, what
# live allocations use, without what the allocator holds free (RSS counts that too).
heap_kib() {
    local a n=0 v
    for a in "${apis[@]}"; do
        v=$(curl -s "$a/metrics" | awk '/^lwstack_process_heap_bytes\{state="in_use"\}/ { printf "%d", $2 / 1024 }')
        n=$((n + ${v:-0}))
    done
    echo "$n"
}

# count NAME: starts counting lw.ns.up from now; stop with count_stop NAME.
count_start() {
    rm -f "$LW_T_DIR/$1.ready" "$LW_T_DIR/$1.count"
    "$bus" count --brokers "$LW_T_BROKERS" --topics ns.up --out "$LW_T_DIR/$1.count" \
        --ready "$LW_T_DIR/$1.ready" --window-ms "$window_ms" 2>"$LW_T_DIR/$1.err" &
    COUNT_PID=$!
    LW_T_PIDS+=("$COUNT_PID")
    lw_t_wait_for "the counter" 20 test -s "$LW_T_DIR/$1.ready"
}
# count_stop NAME [EXPECTED]: once the results stop coming (the count, written every second,
# unchanged for 3 s, or EXPECTED reached; at most 120 s), stops the counter.
count_stop() {
    local f="$LW_T_DIR/$1.count" want=${2:-0} last=-1 same=0 n i
    for i in $(seq 120); do
        n=$(jq -r '.uplinks + .join_accepts' "$f" 2>/dev/null || echo 0)
        { [ "$want" -gt 0 ] && [ "$n" -ge "$want" ]; } && break
        if [ "$n" = "$last" ]; then same=$((same + 1)); else same=0; fi
        [ "$same" -ge 3 ] && break
        last=$n
        sleep 1
    done
    kill -TERM "$COUNT_PID"
    wait "$COUNT_PID" || true
}

t0=$(date +%s)
"$LWSTACK_BIN" simulate --api "$E2E_API" ${E2E_NS_API:+--ns-api "$E2E_NS_API"} --tenant bench --admin-key "$LW_T_ADMIN_KEY" --seed bench \
    --gateways "$gws" --devices "$devices" --abp --configured --provision-only >/dev/null
say "provisioned $gws gateways and $devices ABP devices (set up already: the plan's channels, RX2 and RX1 delay as desired, no DevStatus polling) through the API in $(( $(date +%s) - t0 )) s"

# Bus messages per uplink: what one run of 1,000 uplinks (3 copies each) adds to what the
# stack published on each topic (its lwstack_bus_published_total counters).
topics="gs.up ns.dev ns.up gs.down gs.txack events"
published() {
    local a
    for a in "${apis[@]}"; do curl -s "$a/metrics"; done |
        awk -v t="lw.$1" -F'[{}" ]+' '$1 == "lwstack_bus_published_total" && $3 == t { n += $4 } END { print n + 0 }'
}
declare -A before
for t in $topics; do before[$t]=$(published "$t"); done
"$LWSTACK_BIN" simulate --udp "127.0.0.1:$E2E_UDP" --seed bench --gateways "$gws" --copies 3 \
    --devices 1000 --abp --rate 200 --duration 0 --uplinks-per-device 1 --json >"$LW_T_DIR/msgs.json"
sleep 3
line="" total=0
for t in $topics; do
    n=$(( $(published "$t") - before[$t] ))
    total=$((total + n))
    line="$line lw.$t $(awk -v n="$n" 'BEGIN { printf "%.2f", n / 1000 }'),"
done
say "bus messages per uplink (3 gateway copies, 1,000 uplinks, first uplink of each device):${line%,}; $(awk -v n="$total" 'BEGIN { printf "%.2f", n / 1000 }') in all"

# CPU time (ticks) a process used so far, and the shell's exited children (the simulator).
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# (`times` in this shell, not in a $(...) subshell, whose children are not the simulator.)
child_ticks() {
    times >"$LW_T_DIR/times"
    CHILD_TICKS=$(awk -v hz="$(getconf CLK_TCK)" 'NR == 2 { split($1, u, "m"); split($2, s, "m"); printf "%d", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * hz }' "$LW_T_DIR/times")
}
cpu_names=(); cpu_pids=()
if [ ${#stack_pids[@]} -eq 2 ]; then
    cpu_names=("the GS process" "the NS process"); cpu_pids=("${stack_pids[@]}")
else
    cpu_names=("the stack"); cpu_pids=("${stack_pids[0]}")
fi
cpu_names+=("the broker"); cpu_pids+=("$LW_T_KAFKA_PID")
f_cnt=1
part uplinks || rates=""
rcvbuf_errors() { awk '/^Udp:/ { n++; if (n == 1) for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; if (n == 2) print $c }' /proc/net/snmp; }
for rate in $rates; do
    count_start "up$rate"
    drops0=$(rcvbuf_errors)
    for t in $topics; do before[$t]=$(published "$t"); done
    declare -A t0; for i in "${!cpu_pids[@]}"; do t0[$i]=$(ticks "${cpu_pids[$i]}"); done
    child_ticks; c0=$CHILD_TICKS
    "$LWSTACK_BIN" simulate --udp "127.0.0.1:$E2E_UDP" --seed bench --gateways "$gws" --copies 3 \
        --devices "$devices" --abp --rate "$rate" --duration "$secs" --f-cnt-start "$f_cnt" \
        --drain 3 --json >"$LW_T_DIR/up$rate.json"
    child_ticks; c1=$CHILD_TICKS
    count_stop "up$rate" "$(jq -r .uplinks.sent "$LW_T_DIR/up$rate.json")"
    out=$(jq -r .uplinks "$LW_T_DIR/up$rate.count")
    # CPU per result: each process's CPU time over the run, divided by the results.
    hz=$(getconf CLK_TCK) line=""
    for i in "${!cpu_pids[@]}"; do
        line="$line ${cpu_names[$i]} $(awk -v d="$(( $(ticks "${cpu_pids[$i]}") - t0[$i] ))" -v o="$out" -v hz="$hz" 'BEGIN { printf "%.0f", (o > 0 ? d / hz * 1e6 / o : 0) }') µs,"
    done
    line="$line the simulator $(awk -v d="$((c1 - c0))" -v o="$out" -v hz="$hz" 'BEGIN { printf "%.0f", (o > 0 ? d / hz * 1e6 / o : 0) }') µs"
    say "uplinks at $rate/s: CPU time per result:$line"
    line="" total=0
    for t in $topics; do
        n=$(( $(published "$t") - before[$t] ))
        total=$((total + n))
        line="$line lw.$t $(awk -v n="$n" -v o="$out" 'BEGIN { printf "%.2f", (o > 0 ? n / o : 0) }'),"
    done
    say "uplinks at $rate/s: bus messages per result:${line%,}; $(awk -v n="$total" -v o="$out" 'BEGIN { printf "%.2f", (o > 0 ? n / o : 0) }') in all; $(( $(rcvbuf_errors) - drops0 )) datagrams dropped by the kernel for full socket buffers (machine-wide: the simulator's socket counts too)"
    f_cnt=$((f_cnt + rate * secs / devices + 2))
    sent=$(jq -r .uplinks.sent "$LW_T_DIR/up$rate.json")
    acked=$(jq -r '"\(.uplinks.push_ack) of \(.uplinks.push_data)"' "$LW_T_DIR/up$rate.json")
    sending=$(jq -r .sending_s "$LW_T_DIR/up$rate.json")
    jq -r --argjson sent "$sent" --argjson s "$sending" --arg rate "$rate" --arg w "$window_ms" --arg acked "$acked" '
        def r: . * 10 | round / 10;
        "data path: uplinks at \($rate)/s asked: simulator sent \(($sent / $s) | round)/s (\($sent) in \($s | r) s, 3 copies each; PUSH_ACK for \($acked) datagrams); lw.ns.up \(if .last_ns > .first_ns then (.uplinks / ((.last_ns - .first_ns) / 1e9)) | round else 0 end)/s from first to last result (\(.uplinks) results, \(.distinct) distinct, \(if $sent > 0 then (.uplinks * 1000 / $sent | round) / 10 else 0 end)% of sent); latency beyond the \($w) ms window p50 \((.latency_us.p50 // 0) / 1000 | r) ms, p99 \((.latency_us.p99 // 0) / 1000 | r) ms"
    ' "$LW_T_DIR/up$rate.count"
done

if part joins; then
# Joins: OTAA devices, each joins once.
# Gateways without duty-cycle enforcement: joins/s of the stack, not of 1% of the air.
"$LWSTACK_BIN" simulate --api "$E2E_API" ${E2E_NS_API:+--ns-api "$E2E_NS_API"} --tenant bench --admin-key "$LW_T_ADMIN_KEY" --seed bench-otaa \
    --application joins --gateways "$gws" --devices "$joins" --otaa --no-duty-cycle --provision-only >/dev/null
count_start joins
"$LWSTACK_BIN" simulate --udp "127.0.0.1:$E2E_UDP" --seed bench-otaa --gateways "$gws" --copies 3 \
    --devices "$joins" --otaa --rate 1000 --duration 0 --uplinks-per-device 1 --json >"$LW_T_DIR/joins.json"
count_stop joins
jq -r '"data path: joins: \(.joins.accepted) of \(.joins.sent) join-requests accepted, \(((.joins.latency_us.p50 // 0) / 1000) | round) ms p50 / \(((.joins.latency_us.p99 // 0) / 1000) | round) ms p99 from join-request to join-accept at the gateway (RX1 is 5 s after the request)"' "$LW_T_DIR/joins.json"
jq -r --slurpfile s "$LW_T_DIR/joins.json" '"data path: joins/s: \(if .last_ns > .first_ns then (.join_accepts / ((.last_ns - .first_ns) / 1e9)) | round else .join_accepts end) join_accept results/s on lw.ns.up (\(.join_accepts) in all)"' "$LW_T_DIR/joins.count"

fi

if part memory; then
# Memory per active device: RSS growth while rss_devices more devices are provisioned and
# each sends once, in two halves. The first half also pays for what grows once with load
# (buffers, the allocator's high-water mark, hash tables), so the second half's growth is
# the figure per device; both are printed.
half=$((rss_devices / 2))
rss_step() { # SEED: provisions and activates half more devices; sets r0 r1 r2 (KiB), e0 e1 e2
    local t0
    sleep 3
    r0=$(rss_kib); h0=$(heap_kib); mapfile -t e0 < <(rss_each)
    t0=$(date +%s)
    "$LWSTACK_BIN" simulate --api "$E2E_API" ${E2E_NS_API:+--ns-api "$E2E_NS_API"} --tenant bench --admin-key "$LW_T_ADMIN_KEY" --seed "$1" \
        --application "$1" --gateways "$gws" --devices "$half" --abp --provision-only >/dev/null
    say "provisioned $half more ABP devices in $(( $(date +%s) - t0 )) s"
    sleep 3
    r1=$(rss_kib); h1=$(heap_kib); mapfile -t e1 < <(rss_each)
    count_start "$1"
    "$LWSTACK_BIN" simulate --udp "127.0.0.1:$E2E_UDP" --seed "$1" --gateways "$gws" --copies 1 \
        --devices "$half" --abp --rate 5000 --duration 0 --uplinks-per-device 1 --json >"$LW_T_DIR/$1.json"
    count_stop "$1" "$half"
    sleep 3
    r2=$(rss_kib); h2=$(heap_kib); mapfile -t e2 < <(rss_each)
    active=$(jq -r .uplinks "$LW_T_DIR/$1.count")
    say "live heap (allocations in use, all processes): $((h0 / 1024)) → $((h1 / 1024)) → $((h2 / 1024)) MiB: $(per $((h2 - h0)) "$half") bytes per device provisioned and active ($(per $((h1 - h0)) "$half") provisioned, $(per $((h2 - h1)) "$active") for activity)"
    if [ ${#stack_pids[@]} -eq 2 ]; then
        say "memory by process: the GS process (IS, GS, JS, tenancy) ${e0[0]} → ${e1[0]} → ${e2[0]} MiB, the NS process ${e0[1]} → ${e1[1]} → ${e2[1]} MiB (before → provisioned → active)"
    fi
}
per() { awk -v k="$1" -v n="$2" 'BEGIN { printf "%d", (n > 0 ? k * 1024 / n : 0) }'; }
rss_step rss-a
a0=$r0 a1=$r1 a2=$r2 a_active=$active
say "memory, first $half devices: RSS $((r0 / 1024)) → $((r1 / 1024)) MiB provisioned → $((r2 / 1024)) MiB after $active were active: $(per $((r2 - r0)) "$half") bytes per device ($(per $((r2 - r1)) "$active") for activity alone)"
rss_step rss-b
say "memory, next $half devices: RSS $((r0 / 1024)) → $((r1 / 1024)) MiB provisioned → $((r2 / 1024)) MiB after $active were active: $(per $((r2 - r0)) "$half") bytes per device provisioned and active ($(per $((r1 - r0)) "$half") provisioned, $(per $((r2 - r1)) "$active") for activity); $(( (r2 - r0) * 100000 / (half > 0 ? half : 1) / 1024 )) MiB per 100,000 (all $rss_devices: $(per $((r2 - a0)) "$rss_devices") bytes per device)"
fi
