#!/usr/bin/env bash
# Application Server figures for ops/bench (issue 10), printed, not asserted: against a
# private stack (PostgreSQL, a kafka-dev broker; the Network Server in a process of its own,
# the Identity, Gateway, Join and Application Servers in the other), with `lwstack simulate`
# as the gateways and ABP devices (their AppSKey provisioned on the AS) and an MQTT subscriber
# (QoS 0; tests/bench/mqtt_sink on libmosquitto) as the application:
#   - device uplinks/s UDP in → MQTT `up` out, 3 gateway copies each, no formatter, with
#     p50/p99 latency beyond the deduplication window (the subscriber's receive time - the
#     first gateway's reception time - the window);
#   - the same with a JavaScript decodeUplink as the application's default formatter.
# Webhook deliveries/s: tests/bench/as/webhooks.sh (ops/bench runs both).
#
# Environment: LWSTACK_BIN, LWSTACK_SRC (as the tests); BENCH_AS_DEVICES (10000),
# BENCH_AS_RATES ("2000 5000 10000 20000" uplinks/s), BENCH_AS_SECONDS (10 per rate),
# BENCH_GATEWAYS (30).
set -euo pipefail
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

say() { echo "application server: $*"; }
case " $(lw_e2e_components) " in
    *" as "*) ;;
    *) say "skipped: lwstack was built without the Application Server"; exit 0 ;;
esac
command -v mosquitto_sub >/dev/null || { say "skipped: mosquitto_sub missing (ops/install)"; exit 0; }
devices=${BENCH_AS_DEVICES:-10000}
rates=${BENCH_AS_RATES:-2000 5000 10000 20000}
secs=${BENCH_AS_SECONDS:-10}
gws=${BENCH_GATEWAYS:-30}
window_ms=200

lw_e2e_prepare
mqtt_port=$(lw_t_free_port)
E2E_ARGS+=(--log.level "${BENCH_AS_LOG_LEVEL:-warn}" --tenancy.rate-limit.requests-per-tenant "1000000/1s"
    --is.rate-limit.per-api-key "1000000/1s" --as.mqtt.listen "127.0.0.1:$mqtt_port")
lw_e2e_has_key gs.rate-limit.uplinks-per-gateway && E2E_ARGS+=(--gs.rate-limit.uplinks-per-gateway 0)
front=(tenant is gs as)
case " $(lw_e2e_components) " in *" js "*) front+=(js) ;; esac
lw_e2e_split_ns "$(lw_t_free_port)" "${front[@]}"
lw_e2e_tenant bench
ns_knows_tenant() {
    ! curl -s -H "X-Tenant-ID: bench" -H "Authorization: Bearer $LW_T_ADMIN_KEY" \
        "$E2E_NS_API/api/v3/ns/applications/none/devices/none" | grep -q tenant_not_found
}
lw_t_wait_for "the Network Server process to know the tenant" 30 ns_knows_tenant

# Two applications: `plain` without a formatter, `jsapp` with a JavaScript decodeUplink as its
# link's default formatter.
js='function decodeUplink(input) { var b = input.bytes; return { data: { counter: (b[0] << 8) | b[1], temperature: ((b[2] << 8) | b[3]) / 100, flags: b.slice(4).map(function (x) { return x & 0x0f; }) }, warnings: [] }; }'
lw_t_adm bench POST /users/admin/applications '{"application":{"ids":{"application_id":"jsapp"}}}' >/dev/null
r=$(lw_t_adm bench PUT /as/applications/jsapp/link "$(jq -nc --arg js "$js" '{link: {default_formatters: {up_formatter: "FORMATTER_JAVASCRIPT", up_formatter_parameter: $js}}, field_mask: {paths: ["default_formatters"]}}')")
[ "${r%% *}" = 200 ] || say "setting the link's formatter: $r"
for app in plain jsapp; do
    t0=$(date +%s)
    "$LWSTACK_BIN" simulate --api "$E2E_API" --ns-api "$E2E_NS_API" --tenant bench \
        --admin-key "$LW_T_ADMIN_KEY" --seed "bench-as-$app" --application "$app" --gateways "$gws" \
        --devices "$devices" --abp --configured --parts is,ns,as --provision-only >/dev/null
    say "provisioned $gws gateways and $devices ABP devices in application $app (IS, NS and the AS's AppSKey) in $(( $(date +%s) - t0 )) s"
done
declare -A key
for app in plain jsapp; do
    r=$(lw_t_adm bench POST "/applications/$app/api-keys" \
        '{"name":"bench","rights":["RIGHT_APPLICATION_TRAFFIC_READ"]}')
    key[$app]=$(lw_t_body "$r" | jq -r .key)
done

# counters: the front's and the NS's counters that say where uplinks went, one per line
# ("name{labels} value"), to compare before and after a run.
counters() {
    { curl -s "$E2E_API/metrics"; curl -s "$E2E_NS_API/metrics"; } |
        grep -E '^lwstack_(ns_uplinks_total|as_uplinks_total|as_dropped_total|as_mqtt_(delivered|dropped|disconnects)_total)[{ ]' |
        sort
}

# where BEFORE AFTER: the counters that moved during the run, "name{labels} +delta; ...".
where() {
    python3 - "$1" "$2" <<'PY'
import sys
def read(p):
    d = {}
    for line in open(p):
        k, _, v = line.rstrip("\n").rpartition(" ")
        d[k] = float(v)
    return d
a, b = read(sys.argv[1]), read(sys.argv[2])
print("; ".join(f"{k} +{b[k] - a.get(k, 0):.0f}" for k in sorted(b) if b[k] != a.get(k, 0)))
PY
}

# The subscriber: tests/bench/mqtt_sink (libmosquitto, QoS 0, lines written in 64 KiB pieces)
# where it was built, else mosquitto_sub, which flushes every line and tops out near 7,000
# messages/s here.
sink="$(dirname "$LWSTACK_BIN")/../../tests/bench/mqtt_sink"
say "subscriber: $([ -x "$sink" ] && echo "mqtt_sink (libmosquitto)" || echo "mosquitto_sub")"

# run APP NAME RATE F_CNT: one rate for secs seconds; prints what the subscriber saw.
run() {
    local app=$1 name=$2 rate=$3 fcnt=$4 out="$LW_T_DIR/$2.mqtt"
    counters >"$LW_T_DIR/$name.before"
    if [ -x "$sink" ]; then
        "$sink" 127.0.0.1 "$mqtt_port" "$app@bench" "${key[$app]}" "v3/$app@bench/devices/+/up" \
            "$out" 2>"$out.err" &
    else
        mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -u "$app@bench" -P "${key[$app]}" -q 0 \
            -t "v3/$app@bench/devices/+/up" -F '%U %p' >"$out" 2>"$out.err" &
    fi
    local sub=$!
    sleep 1
    "$LWSTACK_BIN" simulate --udp "127.0.0.1:$E2E_UDP" --seed "bench-as-$app" --gateways "$gws" --copies 3 \
        --devices "$devices" --abp --rate "$rate" --duration "$secs" --f-cnt-start "$fcnt" \
        --fport 7 --payload 0102030405060708 --drain 3 --json >"$LW_T_DIR/$name.json"
    local n last=-1 same=0
    for _ in $(seq 60); do
        n=$(wc -l <"$out")
        if [ "$n" = "$last" ]; then same=$((same + 1)); else same=0; fi
        [ "$same" -ge 3 ] && break
        last=$n
        sleep 1
    done
    kill "$sub" 2>/dev/null || true
    wait "$sub" 2>/dev/null || true
    counters >"$LW_T_DIR/$name.after"
    python3 - "$out" "$LW_T_DIR/$name.json" "$rate" "$window_ms" <<'EOF'
import json, sys, datetime
out, sim, rate, window = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
s = json.load(open(sim))
sent = s["uplinks"]["sent"]
def ts(v):  # RFC 3339 with up to 9 fraction digits -> Unix seconds
    d, _, f = v.rstrip("Z").partition(".")
    t = datetime.datetime.strptime(d, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc).timestamp()
    return t + (float("0." + f) if f else 0.0)
lat, first, last, decoded, n = [], None, None, 0, 0
for line in open(out):
    t, _, body = line.partition(" ")
    try:
        t = float(t); up = json.loads(body)["uplink_message"]
    except (ValueError, KeyError):
        continue
    n += 1
    first = t if first is None else min(first, t)
    last = t if last is None else max(last, t)
    if "decoded_payload" in up:
        decoded += 1
    rx = [ts(m["received_at"]) for m in up.get("rx_metadata", []) if "received_at" in m]
    if rx:
        lat.append((t - min(rx)) * 1000 - window)
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0
per_s = n / (last - first) if last and first and last > first else 0
print(f"uplinks at {rate}/s asked: simulator sent {sent / s['sending_s']:.0f}/s ({sent} in {s['sending_s']:.1f} s, 3 copies each); "
      f"MQTT up {per_s:.0f}/s from first to last ({n} messages, {100 * n / sent if sent else 0:.1f}% of sent, {decoded} with decoded_payload); "
      f"latency beyond the {window:.0f} ms window p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms")
EOF
    echo "    counters that moved: $(where "$LW_T_DIR/$name.before" "$LW_T_DIR/$name.after")"
}

# Warm-up until the subscriber hears uplinks (the MQTT server reads lw.as.up from its end once
# its group has the partitions).
declare -A fcnt=([plain]=1 [jsapp]=1)
for app in plain jsapp; do
    for _ in $(seq 10); do
        w=$(secs=1 run "$app" "warm-$app" 50 "${fcnt[$app]}")
        fcnt[$app]=$((fcnt[$app] + 2))
        case "$w" in *"(0 messages"*) sleep 2 ;; *) break ;; esac
    done
done
for rate in $rates; do
    say "no formatter: $(run plain "plain$rate" "$rate" "${fcnt[plain]}")"
    fcnt[plain]=$((fcnt[plain] + rate * secs / devices + 2))
done
for rate in $rates; do
    say "JavaScript formatter: $(run jsapp "js$rate" "$rate" "${fcnt[jsapp]}")"
    fcnt[jsapp]=$((fcnt[jsapp] + rate * secs / devices + 2))
done
