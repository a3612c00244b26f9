#!/usr/bin/env bash
# The tenant registry over HTTP (issue 2): creation with a schema holding every tenant
# migration, duplicate and invalid IDs, authentication, get/list/update/delete/purge, and
# two tenants that never touch each other.
. "$(dirname "$0")/lib.sh"

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
lw_t_stack stack "$port"
api="http://127.0.0.1:$port/api/v3"
n_tenant_migrations=$(find "$LWSTACK_SRC"/migrations/tenant -maxdepth 2 -name '*.sql' | wc -l)

create() { # id [extra JSON fields]
    lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$1\"},\"name\":\"Tenant $1\",\"state\":\"STATE_APPROVED\"${2:-}}}"
}

# Two tenants, two schemas, each holding every tenant migration.
r=$(create acme ',"max_gateways":"10"')
lw_t_eq "create acme → 200" 200 "${r%% *}"
lw_t_eq "create acme returns its id" acme "$(printf '%s' "${r#* }" | jq -r .ids.tenant_id)"
lw_t_eq "create acme returns its limit as a string" '"10"' "$(printf '%s' "${r#* }" | jq -c .max_gateways)"
r=$(create globex)
lw_t_eq "create globex → 200" 200 "${r%% *}"
for t in acme globex; do
    lw_t_eq "schema t_$t exists" 1 "$(lw_t_psql -c "SELECT count(*) FROM pg_namespace WHERE nspname = 't_$t'")"
    lw_t_eq "schema t_$t holds every tenant migration" "$n_tenant_migrations" \
        "$(lw_t_psql -c "SELECT count(*) FROM lw_control.schema_migrations WHERE schema_name = 't_$t' AND kind = 'tenant'")"
done

# An existing ID → 409 already_exists; nothing changes.
r=$(create acme)
lw_t_eq "duplicate acme → 409 already_exists" "409 already_exists" "$(lw_t_status_name "$r")"
lw_t_eq "still two tenants" 2 "$(lw_t_psql -c "SELECT count(*) FROM lw_control.tenants")"

# Invalid IDs → 400 naming the field; nothing created.
for bad in ab -ab a--b ab- abcdefghijabcdefghijabcdefghijabcdefg ACME "a_b" ""; do
    r=$(create "$bad")
    lw_t_eq "tenant id [$bad] → 400 invalid_field" "400 invalid_field" "$(lw_t_status_name "$r")"
    lw_t_eq "tenant id [$bad] error names the field" "tenant.ids.tenant_id" \
        "$(printf '%s' "${r#* }" | jq -r '.details[0].attributes.field')"
done
r=$(lw_t_admin POST "$api/tenants" -d '{"tenant":{"ids":{"tenant_id":"fine"},"colour":"red"}}')
lw_t_eq "unknown field → 400 unknown_field" "400 unknown_field" "$(lw_t_status_name "$r")"
lw_t_eq "unknown field is named" "tenant.colour" "$(printf '%s' "${r#* }" | jq -r '.details[0].attributes.field')"
r=$(lw_t_admin POST "$api/tenants" -d '{"tenant":{"ids":{"tenant_id":"fine"},"max_users":"-3"}}')
lw_t_eq "negative limit → 400 naming tenant.max_users" "400 tenant.max_users" \
    "${r%% *} $(printf '%s' "${r#* }" | jq -r '.details[0].attributes.field')"
r=$(lw_t_admin POST "$api/tenants" -d '{"tenant":')
lw_t_eq "bad JSON → 400 invalid_json" "400 invalid_json" "$(lw_t_status_name "$r")"
lw_t_eq "nothing created by bad requests" 2 "$(lw_t_psql -c "SELECT count(*) FROM lw_control.tenants")"
lw_t_eq "no stray schema" 2 "$(lw_t_psql -c "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 't\\_%'")"

# Authentication: no key, a wrong key, a Bearer token → 401/403, nothing created.
body='{"tenant":{"ids":{"tenant_id":"intruder"},"state":"STATE_APPROVED"}}'
r=$(lw_t_http POST "$api/tenants" -d "$body")
lw_t_eq "no key → 401 unauthenticated" "401 unauthenticated" "$(lw_t_status_name "$r")"
r=$(lw_t_http POST "$api/tenants" -H "Authorization: TenantAdminKey 00112233445566778899aabbccddeeff00112233445566778899aabbccddee00" -d "$body")
lw_t_eq "wrong key → 401 invalid_tenant_admin_key" "401 invalid_tenant_admin_key" "$(lw_t_status_name "$r")"
r=$(lw_t_http POST "$api/tenants" -H "Authorization: TenantAdminKey zz" -d "$body")
lw_t_eq "malformed key → 401" 401 "${r%% *}"
r=$(lw_t_http POST "$api/tenants" -H "Authorization: Bearer NNSXS.ABC.DEF" -d "$body")
lw_t_eq "Bearer token → 403 permission_denied" "403 permission_denied" "$(lw_t_status_name "$r")"
r=$(lw_t_http GET "$api/tenants")
lw_t_eq "list without key → 401" 401 "${r%% *}"
lw_t_eq "no intruder tenant" 0 "$(lw_t_psql -c "SELECT count(*) FROM lw_control.tenants WHERE tenant_id = 'intruder'")"

# Get with and without a field mask.
r=$(lw_t_admin GET "$api/tenants/acme")
lw_t_eq "get without mask → ids and timestamps only" "created_at,ids,updated_at" \
    "$(printf '%s' "${r#* }" | jq -r 'keys | join(",")')"
r=$(lw_t_admin GET "$api/tenants/acme?field_mask=name,state,max_gateways")
lw_t_eq "get with mask" '{"max_gateways":"10","name":"Tenant acme","state":"STATE_APPROVED"}' \
    "$(printf '%s' "${r#* }" | jq -cS '{name, state, max_gateways}')"
r=$(lw_t_admin GET "$api/tenants/acme?field_mask=colour")
lw_t_eq "unknown mask path → 400 invalid_field" "400 invalid_field" "$(lw_t_status_name "$r")"
r=$(lw_t_admin GET "$api/tenants/nobody")
lw_t_eq "unknown tenant → 404 tenant_not_found" "404 tenant_not_found" "$(lw_t_status_name "$r")"

# Update with a field mask: only masked fields change; acme's change leaves globex alone.
r=$(lw_t_admin PUT "$api/tenants/acme" -d '{"tenant":{"name":"Acme Corp","description":"ignored","max_applications":2},"field_mask":{"paths":["name","max_applications"]}}')
lw_t_eq "update acme → 200" 200 "${r%% *}"
lw_t_eq "update applied name and limit, not description" "Acme Corp|2|" \
    "$(lw_t_psql -c "SELECT name || '|' || max_applications || '|' || description FROM lw_control.tenants WHERE tenant_id = 'acme'")"
lw_t_eq "globex untouched by acme's update" "Tenant globex||" \
    "$(lw_t_psql -c "SELECT name || '|' || coalesce(max_applications::text, '') || '|' || description FROM lw_control.tenants WHERE tenant_id = 'globex'")"

# List: pagination and X-Total-Count.
for t in t-one t-two t-three; do create "$t" >/dev/null; done
hdrs="$LW_T_DIR/list.headers"
body=$(curl -sS -D "$hdrs" -H "Authorization: TenantAdminKey $LW_T_ADMIN_KEY" "$api/tenants?limit=2&page=2&order=tenant_id")
lw_t_eq "list page 2 of 2 by id" "t-one,t-three" "$(printf '%s' "$body" | jq -r '[.tenants[].ids.tenant_id] | join(",")')"
lw_t_eq "X-Total-Count: 5" 5 "$(grep -i '^x-total-count:' "$hdrs" | tr -d '\r' | awk '{print $2}')"

# Delete keeps the data; purge drops the schema.
r=$(lw_t_admin DELETE "$api/tenants/t-one")
lw_t_eq "delete t-one → 200" 200 "${r%% *}"
lw_t_eq "deleted tenant keeps its schema" 1 "$(lw_t_psql -c "SELECT count(*) FROM pg_namespace WHERE nspname = 't_t_one'")"
r=$(lw_t_admin GET "$api/tenants/t-one")
lw_t_eq "deleted tenant → 404" "404 tenant_not_found" "$(lw_t_status_name "$r")"
r=$(lw_t_admin DELETE "$api/tenants/t-two?purge=true")
lw_t_eq "purge t-two → 200" 200 "${r%% *}"
lw_t_eq "purged tenant's schema is gone" 0 "$(lw_t_psql -c "SELECT count(*) FROM pg_namespace WHERE nspname = 't_t_two'")"
lw_t_eq "purged tenant's row is gone" 0 "$(lw_t_psql -c "SELECT count(*) FROM lw_control.tenants WHERE tenant_id = 't-two'")"
lw_t_eq "purged tenant's versions are gone" 0 "$(lw_t_psql -c "SELECT count(*) FROM lw_control.schema_migrations WHERE schema_name = 't_t_two'")"
r=$(create t-two)
lw_t_eq "a purged ID can be created again" 200 "${r%% *}"
lw_t_eq "acme and globex schemas untouched" 2 "$(lw_t_psql -c "SELECT count(*) FROM pg_namespace WHERE nspname IN ('t_acme', 't_globex')")"

lw_t_done
