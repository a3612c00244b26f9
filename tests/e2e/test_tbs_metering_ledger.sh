#!/usr/bin/env bash
# The usage ledger (issue 11 item 4, billing/ledger.c), fed with UsageBatch messages as the
# producers publish them (e2e_bus usage-publish): three tenants, every batch published twice
# (a producer's retry: counted once), the Tenant Billing Server killed with SIGKILL while it
# applies them and started again (it resumes at the offsets PostgreSQL holds: nothing
# counted twice, nothing dropped), periods closed with the registered counts, usage_active
# pruned, a batch for a closed period added to the open one; the usage API (own tenant
# only) and the operator export (JSON and CSV equal to the ledger).
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need tbs "the usage ledger"
lw_e2e_need is "tenants with their first user"
lw_e2e_prepare
lw_e2e_spawn front "$E2E_HTTP" tenant is
E2E_API="http://127.0.0.1:$E2E_HTTP"
api="$E2E_API/api/v3"
for t in acme globex initech; do lw_e2e_tenant $t; done
# Registered entities, counted when a period is closed: acme 1 application, 2 devices,
# 1 gateway; globex 1 application, 1 device; initech none.
reg() { local r; r=$(lw_t_adm "$1" POST "$2" "$3"); [ "${r%% *}" = 200 ] || echo "creating $2 in $1: $r" >&2; }
for t in acme globex; do reg $t /users/admin/applications '{"application":{"ids":{"application_id":"app1"}}}'; done
reg acme /applications/app1/devices '{"end_device":{"ids":{"device_id":"dev1","application_ids":{"application_id":"app1"}}}}'
reg acme /applications/app1/devices '{"end_device":{"ids":{"device_id":"dev2","application_ids":{"application_id":"app1"}}}}'
reg globex /applications/app1/devices '{"end_device":{"ids":{"device_id":"dev1","application_ids":{"application_id":"app1"}}}}'
reg acme /users/admin/gateways '{"gateway":{"ids":{"gateway_id":"gw1","eui":"0102030405060708"},"frequency_plan_id":"EU_863_870_TTN"}}'
declare -A REG=([acme]="1 2 1" [globex]="1 1 0" [initech]="0 0 0")
bus=$(lw_e2e_bus_bin)

TBS=$(lw_t_free_port)
E2E_ARGS+=(--usage.interval 1s --tbs.metering.period 4s --tbs.metering.close-delay 2s
    --tbs.backend manual --tenancy.identity-server-uri "$E2E_API")
start_tbs() {
    lw_e2e_spawn "tbs$1" "$TBS" tenant tbs
    TBS_PID=$LW_T_LAST_PID
}
ledger() { lw_t_psql -c "$1"; }
# total T METER: the ledger's sum for a tenant.
total() { ledger "SELECT coalesce(sum(value), 0) FROM lw_control.usage_ledger WHERE tenant_id = '$1' AND meter = '$2'"; }
wait_total() { # T METER N
    lw_t_wait_for "$1's $2 reach $3" 60 bash -c "[ \"\$(psql '$LW_T_DB_URI' -X -q -A -t -c \"SELECT coalesce(sum(value), 0) FROM lw_control.usage_ledger WHERE tenant_id = '$1' AND meter = '$2'\")\" -ge $3 ]" || true
}

# tbs.metering.period must be a multiple of usage.interval, the close delay above it.
bad() { # WANT ARGS...: exits non-zero, saying WANT
    local want=$1 out rc=0
    shift
    out=$("$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" --http.listen 127.0.0.1:0 \
        --tbs.backend manual "$@" start tenant tbs 2>&1) || rc=$?
    printf '%s %s\n' "$([ $rc -ne 0 ] && echo refused || echo started)" "$(case $out in *"$want"*) echo said ;; *) echo silent ;; esac)"
}
lw_t_eq "a period of 5 s with usage.interval 2 s: refused at start, said so" "refused said" \
    "$(bad 'tbs.metering.period (5000 ms) must be a multiple of usage.interval (2000 ms)' --tbs.metering.period 5s --usage.interval 2s)"
lw_t_eq "a close delay not above usage.interval: refused at start, said so" "refused said" \
    "$(bad 'tbs.metering.close-delay (1000 ms) must exceed usage.interval (1000 ms)' --tbs.metering.close-delay 1s --usage.interval 1s --tbs.metering.period 4s)"
start_tbs 1
# 3 tenants × 2000 batches (intervals of 250 ms, so 125 periods of 4 s, a day ago), 7 uplinks and 1
# downlink each, 3 devices; each batch twice.
day_ago=$(( ($(date +%s) - 86400) / 4 * 4 * 1000 ))
"$bus" usage-publish --brokers "$LW_T_BROKERS" --tenant acme,globex,initech --batches 2000 \
    --uplinks 7 --devices 3 --interval-start "$day_ago" --interval-ms 250 --repeat 2 \
    >"$LW_T_DIR/pub1.json" &
pub=$!
# SIGKILL once the ledger has applied some but not all.
lw_t_wait_for "the ledger under way" 60 bash -c "[ \"\$(psql '$LW_T_DB_URI' -X -q -A -t -c \"SELECT coalesce(sum(value), 0) FROM lw_control.usage_ledger WHERE meter = 'uplinks'\")\" -gt 0 ]" || true
kill -9 "$TBS_PID"
wait "$TBS_PID" 2>/dev/null || true
mid=$(ledger "SELECT coalesce(sum(value), 0) FROM lw_control.usage_ledger WHERE meter = 'uplinks'")
echo "killed with $mid of 42000 uplinks applied"
wait "$pub"
lw_t_eq "12000 messages published (6000 batches, each twice)" 12000 "$(jq .batches "$LW_T_DIR/pub1.json")"
start_tbs 2
for t in acme globex initech; do wait_total $t uplinks 14000; done
# Every period a day ago is due: closed within a tick or two.
lw_t_wait_for "every period closed" 60 bash -c "[ \"\$(psql '$LW_T_DB_URI' -X -q -A -t -c \"SELECT count(*) FROM lw_control.usage_periods WHERE closed_at IS NULL AND period_end < now() - interval '1 hour'\")\" = 0 ]" || true
sleep 2
for t in acme globex initech; do
    lw_t_eq "$t: uplinks exact after SIGKILL and restart (2000 × 7, duplicates once)" 14000 "$(total $t uplinks)"
    lw_t_eq "$t: downlinks exact" 2000 "$(total $t downlinks)"
    lw_t_eq "$t: 125 closed periods a day ago" 125 \
        "$(ledger "SELECT count(*) FROM lw_control.usage_periods WHERE tenant_id = '$t' AND closed_at IS NOT NULL AND period_start < now() - interval '1 hour'")"
    # A period closed while the publisher still ran (the ledger had caught up meanwhile)
    # sends its later batches to the open period: they are the late ones.
    lw_t_eq "$t: the old periods' uplinks + the late batches' = 14000" 14000 \
        "$(ledger "SELECT (SELECT coalesce(sum(value), 0) FROM lw_control.usage_ledger WHERE tenant_id = '$t' AND meter = 'uplinks' AND period_start < now() - interval '1 hour') + 7 * (SELECT count(*) FROM lw_control.usage_batches WHERE tenant_id = '$t' AND late)")"
    lw_t_eq "$t: each closed period: 1..3 active devices, the registered counts" 125 \
        "$(ledger "SELECT count(*) FROM (SELECT period_start FROM lw_control.usage_ledger WHERE tenant_id = '$t' AND period_start < now() - interval '1 hour' GROUP BY period_start HAVING sum(value) FILTER (WHERE meter = 'active_end_devices') BETWEEN 1 AND 3 AND count(*) FILTER (WHERE meter IN ('end_devices', 'gateways', 'applications')) = 3) s")"
    lw_t_eq "$t: registered applications, end devices, gateways of its schema in every closed period" "${REG[$t]}" \
        "$(ledger "SELECT string_agg(DISTINCT v, ',') FROM (SELECT period_start, (sum(value) FILTER (WHERE meter = 'applications')) || ' ' || (sum(value) FILTER (WHERE meter = 'end_devices')) || ' ' || (sum(value) FILTER (WHERE meter = 'gateways')) AS v FROM lw_control.usage_ledger WHERE tenant_id = '$t' AND period_start < now() - interval '1 hour' GROUP BY period_start) s")"
done
lw_t_eq "usage_active pruned for closed periods" 0 \
    "$(ledger "SELECT count(*) FROM lw_control.usage_active a JOIN lw_control.usage_periods p USING (tenant_id, period_start) WHERE p.closed_at IS NOT NULL")"
lw_t_eq "usage_offsets at the end of every partition (12000 messages)" 12000 \
    "$(ledger "SELECT sum(next_offset) FROM lw_control.usage_offsets WHERE group_id = 'tbs.usage'")"
lw_t_eq "the restarted TBS started at PostgreSQL's offsets: no message below them fetched" 0 \
    "$(curl -sf "http://127.0.0.1:$TBS/metrics" | awk '/^lwstack_tbs_usage_replayed_total/ { print $2 + 0 }')"
lw_t_eq "6000 batch ids recorded once each" 6000 "$(ledger "SELECT count(*) FROM lw_control.usage_batches")"

# A batch for a closed period: into acme's open period, logged with the reason.
late0=$(ledger "SELECT count(*) FROM lw_control.usage_batches WHERE late")
acme_recent0=$(ledger "SELECT coalesce(sum(value), 0) FROM lw_control.usage_ledger WHERE tenant_id = 'acme' AND meter = 'uplinks' AND period_start > now() - interval '1 hour'")
late_log0=$(grep -c 'added to the open period.*reason=period_closed' "$LW_T_DIR/tbs2.log" || true)
"$bus" usage-publish --brokers "$LW_T_BROKERS" --tenant acme --batches 1 --uplinks 5 --devices 1 \
    --interval-start "$day_ago" --interval-ms 1000 >/dev/null
wait_total acme uplinks 14005
lw_t_eq "late batch: acme's total still exact" 14005 "$(total acme uplinks)"
lw_t_eq "late batch: added to the open period (now's)" $((acme_recent0 + 5)) \
    "$(ledger "SELECT coalesce(sum(value), 0) FROM lw_control.usage_ledger WHERE tenant_id = 'acme' AND meter = 'uplinks' AND period_start > now() - interval '1 hour'")"
lw_t_eq "late batch: recorded as late" $((late0 + 1)) "$(ledger "SELECT count(*) FROM lw_control.usage_batches WHERE late")"
lw_t_eq "late batch: logged with the reason" $((late_log0 + 1)) "$(grep -c 'added to the open period.*reason=period_closed' "$LW_T_DIR/tbs2.log")"
lw_t_eq "the other tenants' totals unchanged" "14000 14000" "$(total globex uplinks) $(total initech uplinks)"

# The operator export: CSV and JSON equal to the ledger.
from=$(date -u -d "@$(( day_ago / 1000 - 10 ))" +%Y-%m-%dT%H:%M:%SZ)
to=$(date -u -d "@$(( $(date +%s) + 3600 ))" +%Y-%m-%dT%H:%M:%SZ)
r=$(lw_t_admin GET "http://127.0.0.1:$TBS/api/v3/tbs/ledger?from=$from&to=$to&format=csv")
lw_t_eq "export CSV: 200" 200 "${r%% *}"
curl -sf -H "Authorization: TenantAdminKey $LW_T_ADMIN_KEY" "http://127.0.0.1:$TBS/api/v3/tbs/ledger?from=$from&to=$to&format=csv" >"$LW_T_DIR/ledger.csv"
lw_t_eq "export CSV: the header" "tenant_id,period_start,period_end,closed_at,meter,value" "$(head -1 "$LW_T_DIR/ledger.csv" | tr -d '\r')"
want=$(ledger "SELECT l.tenant_id || ',' || to_char(l.period_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') || ',' || l.meter || ',' || l.value FROM lw_control.usage_ledger l ORDER BY 1")
lw_t_eq "export CSV: every ledger row, equal" "$want" "$(tail -n +2 "$LW_T_DIR/ledger.csv" | tr -d '\r' | awk -F, '{ print $1 "," $2 "," $5 "," $6 }' | sort)"
lw_t_eq "export CSV: closed_at set for the closed periods" "true" \
    "$(tail -n +2 "$LW_T_DIR/ledger.csv" | awk -F, -v old="$(date -u -d '-1 hour' +%Y-%m-%dT%H)" '$2 < old && $4 == "" { bad = 1 } END { print bad ? "false" : "true" }')"
json=$(curl -sf -H "Authorization: TenantAdminKey $LW_T_ADMIN_KEY" "http://127.0.0.1:$TBS/api/v3/tbs/ledger?from=$from&to=$to&tenant_id=globex")
lw_t_eq "export JSON for globex: its rows only, sum of uplinks" "14000 true" \
    "$(jq -r '([.entries[] | select(.meter == "uplinks") | .value | tonumber] | add | tostring) + " " + (all(.entries[]; .tenant_id == "globex") | tostring)' <<<"$json")"
lw_t_eq "export without the admin key: 401 unauthenticated" "401 unauthenticated" \
    "$(lw_t_status_name "$(lw_t_http GET "http://127.0.0.1:$TBS/api/v3/tbs/ledger")")"
lw_t_eq "export with ?format=xml: 400 invalid_field" "400 invalid_field" \
    "$(lw_t_status_name "$(lw_t_admin GET "http://127.0.0.1:$TBS/api/v3/tbs/ledger?format=xml")")"

# The tenant's usage API: its own tenant only, tenant admins (the IS's auth_info).
tok=$(lw_t_body "$(lw_t_http POST "$api/auth/login" -H "X-Tenant-ID: acme" -d '{"user_id":"admin","password":"Secret-passw0rd"}')" | jq -r .access_token)
u=$(lw_t_http GET "http://127.0.0.1:$TBS/api/v3/tbs/tenants/acme/usage?from=$from&to=$to" -H "X-Tenant-ID: acme" -H "Authorization: Bearer $tok")
lw_t_eq "usage API (acme's admin): 200" 200 "${u%% *}"
lw_t_eq "usage API: totals as the ledger, as strings; 125 closed periods and the open one(s)" '"14005" "2001" true' \
    "$(lw_t_body "$u" | jq -r '"\(.totals.uplinks | tojson) \(.totals.downlinks | tojson) \(.periods | length >= 126)"')"
lw_t_eq "usage API: a closed period with every meter" "112 3 true" \
    "$(lw_t_body "$u" | jq -r '.periods[0] | "\(.uplinks) \(.active_end_devices) \(.closed_at != null and .end_devices != null and .gateways != null and .applications != null)"')"
lw_t_eq "usage API: another tenant's id → 403 usage_other_tenant" "403 usage_other_tenant" \
    "$(lw_t_status_name "$(lw_t_http GET "http://127.0.0.1:$TBS/api/v3/tbs/tenants/globex/usage" -H "X-Tenant-ID: acme" -H "Authorization: Bearer $tok")")"
reg acme /users '{"user":{"ids":{"user_id":"bob"},"password":"Secret-passw0rd","primary_email_address":"bob@acme.example"}}'
bob=$(lw_t_body "$(lw_t_http POST "$api/auth/login" -H "X-Tenant-ID: acme" -d '{"user_id":"bob","password":"Secret-passw0rd"}')" | jq -r .access_token)
lw_t_eq "usage API: acme's user who is no tenant admin → 403 permission_denied" "403 permission_denied" \
    "$(lw_t_status_name "$(lw_t_http GET "http://127.0.0.1:$TBS/api/v3/tbs/tenants/acme/usage" -H "X-Tenant-ID: acme" -H "Authorization: Bearer $bob")")"
lw_t_eq "usage API: no credentials → 401" "401 unauthenticated" \
    "$(lw_t_status_name "$(lw_t_http GET "http://127.0.0.1:$TBS/api/v3/tbs/tenants/acme/usage" -H "X-Tenant-ID: acme")")"
lw_t_eq "usage API: acme's token for globex's tenant → 401 (not globex's credential)" "401 unauthenticated" \
    "$(lw_t_status_name "$(lw_t_http GET "http://127.0.0.1:$TBS/api/v3/tbs/tenants/globex/usage" -H "X-Tenant-ID: globex" -H "Authorization: Bearer $tok")")"
lw_t_eq "usage API: bad from → 400 invalid_field" "400 invalid_field" \
    "$(lw_t_status_name "$(lw_t_http GET "http://127.0.0.1:$TBS/api/v3/tbs/tenants/acme/usage?from=yesterday" -H "X-Tenant-ID: acme" -H "Authorization: Bearer $tok")")"
lw_t_eq "usage API with the tenant admin key: globex's" '"14000"' \
    "$(lw_t_body "$(lw_t_admin GET "http://127.0.0.1:$TBS/api/v3/tbs/tenants/globex/usage?from=$from&to=$to")" | jq -c .totals.uplinks)"
lw_t_done
