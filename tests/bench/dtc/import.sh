#!/usr/bin/env bash
# Devices imported per second through the server-side import (components/dtc/import*.c),
# against a private stack (PostgreSQL, kafka-dev, the importing process): a file of The Things
# Stack JSON with every part of every device (registry fields, JS root keys, NS MAC settings
# and session with its counters, AS session and formatters; half OTAA with a session, half
# ABP) sent by `lwcli devices import` in parts, timed from the first part to the job's end.
# First a tenth of the fleet, then the fleet, into two applications: lwstack's peak RSS after
# each shows that memory does not grow with the file. Then the fleet again, into a third
# application, with a Network Server and Application Server process running beside it as a
# deployment has them (each reloads every device the import announces): what an operator
# moving a fleet into a live stack sees.
# Usage: import.sh [DEVICES]. Environment: LWSTACK_BIN, LWSTACK_SRC, LWCLI_BIN (default: next
# to lwstack).
LWSTACK_SRC=${LWSTACK_SRC:-$(cd "$(dirname "$0")/../../.." && pwd)}
export LWSTACK_SRC
. "$LWSTACK_SRC/tests/integration/lib.sh"
n=${1:-100000}
export LW_T_KEEP=${LW_T_KEEP:-0}
LWCLI_BIN=${LWCLI_BIN:-$(dirname "$LWSTACK_BIN")/lwcli}
lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
# The importing process: the API (tenancy, the Identity Server for the callers' rights, the
# DTC). Every server's device part is registered in every process, so it writes all of them;
# the NS and AS processes that would reload the devices it announces are not running (they
# load a device when it is next heard of), so the figures are the import's own.
lw_t_spawn importer --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" --http.listen "127.0.0.1:$port" \
    --tenancy.admin-keys "$LW_T_ADMIN_KEY" --log.level warn --tenancy.rate-limit.requests-per-tenant "1000000/1s" \
    --as.key-encryption-key 303132333435363738393a3b3c3d3e3f --js.key-encryption-key 404142434445464748494a4b4c4d4e4f \
    start tenant is dtc
pid=$LW_T_LAST_PID
lw_t_wait_for "the importer ready on port $port" 30 curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" ||
    { tail -20 "$LW_T_DIR/importer.log" >&2; exit 1; }
api="http://127.0.0.1:$port/api/v3"
lw_t_admin POST "$api/tenants" -d '{"tenant":{"ids":{"tenant_id":"bench"},"state":"STATE_APPROVED"},"initial_user":{"ids":{"user_id":"admin"},"password":"Secret-passw0rd","primary_email_address":"a@b.example"}}' >/dev/null
for app in small fleet; do
    lw_t_adm bench POST /users/admin/applications "{\"application\":{\"ids\":{\"application_id\":\"$app\"}}}" >/dev/null
done

# fleet FILE COUNT BASE: COUNT devices, DevEUIs and DevAddrs from BASE
fleet() {
    python3 - "$1" "$2" "$3" <<'PY'
import sys
path, count, base = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
v = '"lorawan_version":"MAC_V1_0_3","lorawan_phy_version":"PHY_V1_0_3_REV_A","frequency_plan_id":"EU_863_870_TTN"'
with open(path, "w") as f:
    for i in range(base, base + count):
        eui, addr = "70B3D57E%08X" % i, "26%06X" % i
        k = "%032X" % ((i + 1) * 2654435761 % (1 << 128))
        sess = ('"session":{"dev_addr":"%s","keys":{"session_key_id":"AQID","f_nwk_s_int_key":{"key":"%s"},'
                '"app_s_key":{"key":"%s"}},"last_f_cnt_up":%d,"last_n_f_cnt_down":%d}' % (addr, k, k[::-1], 1000 + i % 5000, i % 17))
        common = ('"name":"device %d","attributes":{"site":"s%d"},%s,"mac_settings":{"rx2_data_rate_index":3},'
                  '"formatters":{"up_formatter":"FORMATTER_CAYENNELPP"},%s' % (i, i % 100, v, sess))
        if i % 2 == 0:
            f.write('{"ids":{"device_id":"dev-%d","dev_eui":"%s","join_eui":"70B3D57ED0000000"},"supports_join":true,'
                    '"root_keys":{"app_key":{"key":"%s"}},%s}\n' % (i, eui, k, common))
        else:
            f.write('{"ids":{"device_id":"dev-%d","dev_eui":"%s"},"supports_join":false,%s}\n' % (i, eui, common))
PY
}
hwm_mib() { echo $(( $(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status") / 1024 )); }
rss_mib() { echo $(( $(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status") / 1024 )); }
before=$(rss_mib)
small=$((n / 10))
for step in "small $small 0" "fleet $n $small" "live $n $((n + small))"; do
    read -r app count base <<<"$step"
    if [ "$app" = live ]; then
        lw_t_adm bench POST /users/admin/applications '{"application":{"ids":{"application_id":"live"}}}' >/dev/null
        nsas=$(lw_t_free_port)
        lw_t_spawn nsas --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" --http.listen "127.0.0.1:$nsas" \
            --tenancy.admin-keys "$LW_T_ADMIN_KEY" --log.level warn --tenancy.identity-server-uri "http://127.0.0.1:$port" \
            --as.key-encryption-key 303132333435363738393a3b3c3d3e3f start tenant ns as
        lw_t_wait_for "the NS and AS process ready" 30 curl -sf -o /dev/null "http://127.0.0.1:$nsas/readyz" ||
            { tail -20 "$LW_T_DIR/nsas.log" >&2; exit 1; }
    fi
    fleet "$LW_T_DIR/$app.json" "$count" "$base"
    size=$(stat -c %s "$LW_T_DIR/$app.json")
    t0=$(date +%s%N)
    "$LWCLI_BIN" --url "http://127.0.0.1:$port" --tenant bench --tenant-admin-key "$LW_T_ADMIN_KEY" --json \
        devices import "$app" "$LW_T_DIR/$app.json" --format the-things-stack >"$LW_T_DIR/$app.out" 2>"$LW_T_DIR/$app.err" || true
    t1=$(date +%s%N)
    ms=$(( (t1 - t0) / 1000000 ))
    summary=$(jq -r '"\(.state): \(.created) created, \(.failed) failed"' "$LW_T_DIR/$app.out" 2>/dev/null || echo "no answer: $(head -1 "$LW_T_DIR/$app.err")")
    echo "dtc import$([ "$app" = live ] && echo ", with an NS and AS process reloading each device"): $(( count * 1000 / (ms > 0 ? ms : 1) )) devices imported/s ($count devices with all parts and sessions, $(( size / 1048576 )) MiB of JSON, in ${ms} ms; $summary); the importing process's peak RSS $(hwm_mib) MiB (RSS $before MiB before the first import)"
done
