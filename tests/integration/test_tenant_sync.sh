#!/usr/bin/env bash
# Tenant changes reach every process (issue 2): two lwstack processes share one PostgreSQL
# and one broker (`lwstack kafka-dev`); a tenant suspended through the first is refused by
# the second within 5 s, and approved again likewise. The periodic reload is set to an hour
# so only lw.tenant can carry the change. Also: request resolution by host name, header and
# default, with tenant_not_found / tenant_not_active.
. "$(dirname "$0")/lib.sh"

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >/dev/null
p1=$(lw_t_free_port)
p2=$(lw_t_free_port)
while [ "$p2" = "$p1" ]; do p2=$(lw_t_free_port); done
common=(--tenancy.refresh-interval 1h --tenancy.base-domains lwstack.test --tenancy.default-id dflt)
lw_t_stack one "$p1" "${common[@]}"
lw_t_stack two "$p2" "${common[@]}"
a1="http://127.0.0.1:$p1/api/v3"
a2="http://127.0.0.1:$p2/api/v3"

# Wait until the second process's lw.tenant consumer holds its partitions.
lw_t_wait_for "process two assigned lw.tenant" 30 grep -q 'partitions assigned' "$LW_T_DIR/two.log"

for t in acme globex; do
    r=$(lw_t_admin POST "$a1/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$t\"},\"state\":\"STATE_APPROVED\"}}")
    lw_t_eq "create $t through process one" 200 "${r%% *}"
done

# A tenant-scoped route answers without credentials with 401 for an active tenant; a
# suspended one gets 403 tenant_not_active before any authentication.
scoped() { # api tenant → "status name"
    lw_t_status_name "$(lw_t_http GET "$1/auth_info" -H "X-Tenant-ID: $2")"
}
lw_t_wait_for "process two knows acme" 5 bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Tenant-ID: acme' $a2/auth_info)\" != 404 ]"
lw_t_ok "a tenant created through process one is known to process two within 5 s"
before=$(scoped "$a2" acme)
lw_t_eq "process two serves active acme" no "$(case "$before" in 403*|404*) echo yes ;; *) echo no ;; esac)"

t0=$(date +%s%N)
r=$(lw_t_admin PUT "$a1/tenants/acme" -d '{"tenant":{"state":"STATE_SUSPENDED","state_description":"unpaid"},"field_mask":{"paths":["state","state_description"]}}')
lw_t_eq "suspend acme through process one" 200 "${r%% *}"
lw_t_wait_for "process two sees acme suspended" 5 \
    bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Tenant-ID: acme' $a2/auth_info)\" = 403 ]"
t1=$(date +%s%N)
lw_t_ok "process two refused suspended acme after $(( (t1 - t0) / 1000000 )) ms"
lw_t_eq "process two: 403 tenant_not_active" "403 tenant_not_active" "$(scoped "$a2" acme)"
lw_t_eq "process one: 403 tenant_not_active" "403 tenant_not_active" "$(scoped "$a1" acme)"
lw_t_eq "globex untouched on process two" "$before" "$(scoped "$a2" globex)"

r=$(lw_t_admin PUT "$a1/tenants/acme" -d '{"tenant":{"state":"STATE_APPROVED"},"field_mask":{"paths":["state"]}}')
lw_t_wait_for "process two sees acme approved again" 5 \
    bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Tenant-ID: acme' $a2/auth_info)\" != 403 ]"
lw_t_ok "process two serves acme again within 5 s"
lw_t_eq "the state description was cleared with the state change" "" \
    "$(lw_t_psql -c "SELECT state_description FROM lw_control.tenants WHERE tenant_id = 'acme'")"

# Deletion through process two reaches process one.
r=$(lw_t_admin DELETE "$a2/tenants/globex")
lw_t_wait_for "process one sees globex deleted" 5 \
    bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Tenant-ID: globex' $a1/auth_info)\" = 404 ]"
lw_t_eq "deleted tenant → 404 tenant_not_found" "404 tenant_not_found" "$(scoped "$a1" globex)"

# Resolution: host name under a base domain, then header, then default.
lw_t_eq "unknown tenant by header → 404" "404 tenant_not_found" "$(scoped "$a1" nobody)"
r=$(lw_t_http GET "$a1/auth_info" -H "Host: nobody.lwstack.test")
lw_t_eq "unknown tenant by host → 404" "404 tenant_not_found" "$(lw_t_status_name "$r")"
r=$(lw_t_http GET "$a1/auth_info" -H "Host: acme.lwstack.test" -H "X-Tenant-ID: nobody")
lw_t_eq "host name wins over the header" "$before" "$(lw_t_status_name "$r")"
r=$(lw_t_http GET "$a1/auth_info")
lw_t_eq "no host, no header → default tenant dflt (absent: 404)" "404 tenant_not_found" "$(lw_t_status_name "$r")"
lw_t_eq "the error names the default tenant" dflt "$(printf '%s' "${r#* }" | jq -r '.details[0].attributes.tenant_id')"

lw_t_done
