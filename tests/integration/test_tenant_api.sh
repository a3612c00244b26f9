#!/usr/bin/env bash
# The tenant API handlers (tenant/api.c) on the API pipeline (cluster/api.h), beyond the
# registry's life cycle in test_tenants.sh: query parameters (field_mask, order, limit,
# page, deleted) and their errors naming the parameter, body checks, update field-mask
# rules, empty lists, and purge of an unknown tenant rolled back.
. "$(dirname "$0")/lib.sh"

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
lw_t_stack stack "$port"
api="http://127.0.0.1:$port/api/v3"

field() { lw_t_body "$1" | jq -r '.details[0].attributes.field // empty'; }
create() { # id name
    lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$1\"},\"name\":\"$2\",\"description\":\"d-$1\"}}"
}

# An empty registry lists no tenant, with the list present and a total of 0.
hdrs="$LW_T_DIR/empty.headers"
body=$(curl -sS -D "$hdrs" -H "Authorization: TenantAdminKey $LW_T_ADMIN_KEY" "$api/tenants")
lw_t_eq "empty list → {\"tenants\":[]}" '{"tenants":[]}' "$(printf '%s' "$body" | jq -c .)"
lw_t_eq "empty list: X-Total-Count 0" 0 "$(grep -i '^x-total-count:' "$hdrs" | tr -d '\r' | awk '{print $2}')"

for t in "aaa Zed" "bbb Alpha" "ccc Mid"; do create $t >/dev/null; done

# Field masks select what is rendered; ids and times always; unknown paths are named.
r=$(lw_t_admin GET "$api/tenants/aaa?field_mask=name,tenant.state")
lw_t_eq "get with a mask → name and state only" "Zed|STATE_REQUESTED|null" \
    "$(lw_t_body "$r" | jq -r '[.name, .state, (.description // "null")] | join("|")')"
lw_t_eq "get always has ids and created_at" "aaa|true" \
    "$(lw_t_body "$r" | jq -r '[.ids.tenant_id, (.created_at | test("Z$"))] | join("|")')"
r=$(lw_t_admin GET "$api/tenants/aaa?field_mask=name,colour")
lw_t_eq "unknown mask path → 400 naming field_mask" "400 invalid_field field_mask" \
    "$(lw_t_status_name "$r") $(field "$r")"
lw_t_eq "unknown mask path named" colour "$(lw_t_body "$r" | jq -r '.details[0].attributes.path')"

# order: whitelisted, descending with -, anything else named.
r=$(lw_t_admin GET "$api/tenants?order=name&field_mask=name")
lw_t_eq "order=name" "bbb,ccc,aaa" "$(lw_t_body "$r" | jq -r '[.tenants[].ids.tenant_id] | join(",")')"
r=$(lw_t_admin GET "$api/tenants?order=-tenant_id")
lw_t_eq "order=-tenant_id" "ccc,bbb,aaa" "$(lw_t_body "$r" | jq -r '[.tenants[].ids.tenant_id] | join(",")')"
r=$(lw_t_admin GET "$api/tenants?order=name%3BDROP")
lw_t_eq "bad order → 400 naming order" "400 invalid_field order" "$(lw_t_status_name "$r") $(field "$r")"

# limit and page: bounds named; a page past the end is empty with the total.
r=$(lw_t_admin GET "$api/tenants?limit=1001")
lw_t_eq "limit 1001 → 400 naming limit" "400 invalid_field limit" "$(lw_t_status_name "$r") $(field "$r")"
r=$(lw_t_admin GET "$api/tenants?page=x")
lw_t_eq "page x → 400 naming page" "400 invalid_field page" "$(lw_t_status_name "$r") $(field "$r")"
body=$(curl -sS -D "$hdrs" -H "Authorization: TenantAdminKey $LW_T_ADMIN_KEY" "$api/tenants?limit=2&page=5")
lw_t_eq "page past the end → empty list" '{"tenants":[]}' "$(printf '%s' "$body" | jq -c .)"
lw_t_eq "page past the end keeps the total" 3 "$(grep -i '^x-total-count:' "$hdrs" | tr -d '\r' | awk '{print $2}')"

# Update: a masked field absent from the body is cleared; no field at all is refused; the
# body's ID must match the path; unknown keys are named.
r=$(lw_t_admin PUT "$api/tenants/aaa" -d '{"tenant":{"name":"Zed 2"},"field_mask":{"paths":["name","description"]}}')
lw_t_eq "update → 200" 200 "${r%% *}"
lw_t_eq "masked description cleared, name set" "Zed 2|" \
    "$(lw_t_psql -c "SELECT name || '|' || description FROM lw_control.tenants WHERE tenant_id = 'aaa'")"
r=$(lw_t_admin PUT "$api/tenants/bbb" -d '{"tenant":{"description":"new"}}')
lw_t_eq "no mask: the body's fields" "Alpha|new" \
    "$(lw_t_psql -c "SELECT name || '|' || description FROM lw_control.tenants WHERE tenant_id = 'bbb'")"
r=$(lw_t_admin PUT "$api/tenants/bbb" -d '{"tenant":{}}')
lw_t_eq "nothing to update → 400 naming field_mask" "400 invalid_field field_mask" "$(lw_t_status_name "$r") $(field "$r")"
r=$(lw_t_admin PUT "$api/tenants/bbb" -d '{"tenant":{"ids":{"tenant_id":"ccc"},"name":"x"}}')
lw_t_eq "body ID ≠ path → 400" "400 invalid_field tenant.ids.tenant_id" "$(lw_t_status_name "$r") $(field "$r")"
r=$(lw_t_admin PUT "$api/tenants/bbb" -d '{"tenant":{"name":"x"},"colour":1}')
lw_t_eq "unknown body key → 400 unknown_field" "400 unknown_field colour" "$(lw_t_status_name "$r") $(field "$r")"
r=$(lw_t_admin PUT "$api/tenants/bbb" -d '{"tenant":{"name":"x"},"field_mask":{"paths":["colour"]}}')
lw_t_eq "unknown update mask path → 400" "400 invalid_field field_mask" "$(lw_t_status_name "$r") $(field "$r")"
r=$(lw_t_admin PUT "$api/tenants/nope" -d '{"tenant":{"name":"x"}}')
lw_t_eq "update unknown tenant → 404" "404 tenant_not_found" "$(lw_t_status_name "$r")"

# deleted=true lists the deleted ones only.
lw_t_admin DELETE "$api/tenants/ccc" >/dev/null
body=$(curl -sS -D "$hdrs" -H "Authorization: TenantAdminKey $LW_T_ADMIN_KEY" "$api/tenants?deleted=true")
lw_t_eq "deleted=true → ccc" ccc "$(printf '%s' "$body" | jq -r '[.tenants[].ids.tenant_id] | join(",")')"
lw_t_eq "deleted=true → deleted_at set" true "$(printf '%s' "$body" | jq -r '.tenants[0].deleted_at | test("Z$")')"
lw_t_eq "deleted=true: X-Total-Count 1" 1 "$(grep -i '^x-total-count:' "$hdrs" | tr -d '\r' | awk '{print $2}')"
r=$(lw_t_admin DELETE "$api/tenants/ccc")
lw_t_eq "delete again → 404" "404 tenant_not_found" "$(lw_t_status_name "$r")"

# Purging an unknown tenant is a 404 and leaves nothing behind (the transaction rolls back).
r=$(lw_t_admin DELETE "$api/tenants/nope?purge=true")
lw_t_eq "purge unknown → 404" "404 tenant_not_found" "$(lw_t_status_name "$r")"
lw_t_eq "no transaction left open" 0 \
    "$(lw_t_psql -c "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'")"

# Without the admin key nothing is answered but 401.
r=$(lw_t_http GET "$api/tenants")
lw_t_eq "no key → 401" "401 unauthenticated" "$(lw_t_status_name "$r")"

lw_t_done
