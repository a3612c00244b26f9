#!/usr/bin/env bash
# The Identity Server's accounts and access (issue 4): registration, profile updates and
# admin-only fields, user and organization API keys (list, get, update, revoke through the
# cache), organizations owning gateways, password change revoking tokens, logout, user
# delete / purge, collaborator removal, and tenant limits under concurrent creates. A second
# tenant is checked untouched.
. "$(dirname "$0")/lib.sh"

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
# Self-registration is off by default (issue 8.5): this suite registers users as an open
# deployment does.
lw_t_stack stack "$port" --is.user-registration.enabled=true \
    --is.user-registration.admin-approval.required=false
api="http://127.0.0.1:$port/api/v3"
PASS='Secret-passw0rd'
NEWPASS='Another-passw0rd'

adm() { lw_t_adm "$@"; }
bearer() { lw_t_bearer "$@"; }
body() { lw_t_body "$@"; }
count() { lw_t_psql -c "SELECT count(*) FROM $1"; }
login() {
    lw_t_http POST "$api/auth/login" -H "X-Tenant-ID: $1" -d "{\"user_id\":\"$2\",\"password\":\"$3\"}"
}

for t in one two; do
    extra=""
    [ $t = two ] && extra=',"max_applications":"2"'
    r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$t\"},\"state\":\"STATE_APPROVED\"$extra},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"$PASS\"}}")
    lw_t_eq "create tenant $t → 200" 200 "${r%% *}"
done

# ---- registration and profile ---------------------------------------------------------------
r=$(lw_t_http POST "$api/users" -H "X-Tenant-ID: one" -d "{\"user\":{\"ids\":{\"user_id\":\"carol\"},\"password\":\"$PASS\",\"name\":\"Carol\",\"primary_email_address\":\"carol@one.example\"}}")
lw_t_eq "register carol → 200, password never echoed" "200 false" "${r%% *} $(body "$r" | jq 'has("password")')"
lw_t_eq "carol is approved, not admin" "f|1" "$(lw_t_psql -c "SELECT admin || '|' || state FROM t_one.users WHERE user_id = 'carol'" | sed 's/false/f/')"
CAROL=$(body "$(login one carol "$PASS")" | jq -r .access_token)
r=$(bearer "$CAROL" one GET '/users/carol?field_mask=name,primary_email_address')
lw_t_eq "carol reads herself" '{"name":"Carol","primary_email_address":"carol@one.example"}' "$(body "$r" | jq -cS '{name, primary_email_address}')"
r=$(bearer "$CAROL" one PUT /users/carol '{"user":{"name":"Caroline"},"field_mask":{"paths":["name"]}}')
lw_t_eq "carol renames herself" "200 Caroline" "${r%% *} $(body "$r" | jq -r .name)"
r=$(bearer "$CAROL" one PUT /users/carol '{"user":{"admin":true},"field_mask":{"paths":["admin"]}}')
lw_t_eq "carol cannot make herself admin → 403 no_admin" "403 no_admin" "$(lw_t_status_name "$r")"
r=$(bearer "$CAROL" one GET /users/admin)
lw_t_eq "carol cannot read admin → 403 no_user_rights" "403 no_user_rights" "$(lw_t_status_name "$r")"
r=$(bearer "$CAROL" one GET /users)
lw_t_eq "carol cannot list users → 403 no_admin" "403 no_admin" "$(lw_t_status_name "$r")"
r=$(adm one GET '/users?field_mask=name&order=user_id')
lw_t_eq "the admin key lists users" "admin,carol" "$(body "$r" | jq -r '[.users[].ids.user_id] | join(",")')"

# ---- user API keys ---------------------------------------------------------------------------
r=$(bearer "$CAROL" one POST /users/carol/api-keys '{"name":"cli","rights":["RIGHT_USER_ALL","RIGHT_APPLICATION_ALL"]}')
lw_t_eq "carol makes a user key → 200" 200 "${r%% *}"
UKEY=$(body "$r" | jq -r .key)
UKEY_ID=$(body "$r" | jq -r .id)
r=$(bearer "$UKEY" one POST /users/carol/applications '{"application":{"ids":{"application_id":"c-app"}}}')
lw_t_eq "user key creates an application → 200" 200 "${r%% *}"
r=$(bearer "$UKEY" one GET /applications/c-app/rights)
lw_t_eq "user key's rights on its application: collaborator ∩ key" 1 "$(body "$r" | jq '.rights | index("RIGHT_APPLICATION_ALL") != null | if . then 1 else 0 end')"
r=$(bearer "$UKEY" one GET /auth_info)
lw_t_eq "auth_info of a user key" "carol cli" "$(body "$r" | jq -r '.api_key.entity_ids.user_ids.user_id + " " + .api_key.api_key.name')"
out=$(curl -sS -D "$LW_T_DIR/h" -H "X-Tenant-ID: one" -H "Authorization: Bearer $CAROL" "$api/users/carol/api-keys")
lw_t_eq "list user keys" "$UKEY_ID" "$(printf '%s' "$out" | jq -r '[.api_keys[].id] | join(",")')"
lw_t_eq "list never shows the secret" false "$(printf '%s' "$out" | jq '.api_keys[0] | has("key")')"
lw_t_eq "X-Total-Count of keys" 1 "$(tr -d '\r' <"$LW_T_DIR/h" | awk -F': ' 'tolower($1) == "x-total-count" {print $2}')"
r=$(bearer "$CAROL" one GET "/users/carol/api-keys/$UKEY_ID")
lw_t_eq "get one key" "cli" "$(body "$r" | jq -r .name)"
r=$(bearer "$CAROL" one PUT "/users/carol/api-keys/$UKEY_ID" '{"api_key":{"rights":["RIGHT_USER_INFO"]},"field_mask":{"paths":["rights"]}}')
lw_t_eq "narrow the key's rights → 200" '200 ["RIGHT_USER_INFO"]' "${r%% *} $(body "$r" | jq -c .rights)"
r=$(bearer "$UKEY" one POST /users/carol/applications '{"application":{"ids":{"application_id":"c-app2"}}}')
lw_t_eq "narrowed key (was cached) cannot create → 403 insufficient_user_rights" "403 insufficient_user_rights" "$(lw_t_status_name "$r")"
r=$(bearer "$CAROL" one PUT "/users/carol/api-keys/$UKEY_ID" '{"api_key":{"rights":[]},"field_mask":{"paths":["rights"]}}')
lw_t_eq "update to no rights deletes the key → 200" 200 "${r%% *}"
r=$(bearer "$UKEY" one GET /auth_info)
lw_t_eq "deleted key → 401" 401 "${r%% *}"
r=$(bearer "$CAROL" one GET "/users/carol/api-keys/$UKEY_ID")
lw_t_eq "deleted key → 404 api_key_not_found" "404 api_key_not_found" "$(lw_t_status_name "$r")"

# ---- organizations owning gateways, organization keys ----------------------------------------
r=$(bearer "$CAROL" one POST /users/carol/organizations '{"organization":{"ids":{"organization_id":"c-org"},"name":"Carol Org"}}')
lw_t_eq "carol creates c-org → 200" 200 "${r%% *}"
r=$(bearer "$CAROL" one POST /organizations/c-org/gateways '{"gateway":{"ids":{"gateway_id":"c-gw","eui":"AA00000000000001"}}}')
lw_t_eq "gateway owned by c-org → 200" 200 "${r%% *}"
r=$(bearer "$CAROL" one GET /organizations/c-org/gateways)
lw_t_eq "c-org's gateways" c-gw "$(body "$r" | jq -r '[.gateways[].ids.gateway_id] | join(",")')"
r=$(bearer "$CAROL" one GET /gateways)
lw_t_eq "carol sees c-gw through c-org" c-gw "$(body "$r" | jq -r '[.gateways[].ids.gateway_id] | join(",")')"
r=$(bearer "$CAROL" one GET /users/carol/organizations)
lw_t_eq "carol's organizations" c-org "$(body "$r" | jq -r '[.organizations[].ids.organization_id] | join(",")')"
r=$(bearer "$CAROL" one POST /organizations/c-org/api-keys '{"rights":["RIGHT_GATEWAY_INFO","RIGHT_ORGANIZATION_INFO"]}')
OKEY=$(body "$r" | jq -r .key)
r=$(bearer "$OKEY" one GET '/gateways/c-gw?field_mask=name')
lw_t_eq "organization key reads the org's gateway → 200" 200 "${r%% *}"
r=$(bearer "$OKEY" one DELETE /gateways/c-gw)
lw_t_eq "organization key without GATEWAY_DELETE → 403 insufficient_gateway_rights" "403 insufficient_gateway_rights" "$(lw_t_status_name "$r")"
r=$(bearer "$OKEY" one GET /applications/c-app)
lw_t_eq "organization key on carol's own application → 403 no_application_rights" "403 no_application_rights" "$(lw_t_status_name "$r")"

# ---- collaborators ---------------------------------------------------------------------------
# carol is c-app's only collaborator with APPLICATION_ALL, which cannot be removed (issue 8,
# test_is_rights.sh): admin becomes a second one first.
r=$(adm one PUT /applications/c-app/collaborators '{"collaborator":{"ids":{"user_ids":{"user_id":"admin"}},"rights":["RIGHT_APPLICATION_ALL"]}}')
lw_t_eq "admin becomes a second owner of c-app → 200" 200 "${r%% *}"
r=$(adm one DELETE /applications/c-app/collaborator/user/carol)
lw_t_eq "remove carol from c-app → 200" 200 "${r%% *}"
r=$(bearer "$CAROL" one GET /applications/c-app)
lw_t_eq "carol lost c-app → 403 no_application_rights" "403 no_application_rights" "$(lw_t_status_name "$r")"
r=$(adm one GET /applications/c-app/collaborator/user/carol)
lw_t_eq "no such collaborator → 404" "404 collaborator_not_found" "$(lw_t_status_name "$r")"
r=$(adm one PUT /applications/c-app/collaborators '{"collaborator":{"ids":{"user_ids":{"user_id":"nobody"}},"rights":["RIGHT_APPLICATION_INFO"]}}')
lw_t_eq "unknown collaborator → 404" 404 "${r%% *}"

# ---- password change, logout ------------------------------------------------------------------
r=$(bearer "$CAROL" one PUT /users/carol/password "{\"old\":\"wrong-one\",\"new\":\"$NEWPASS\"}")
lw_t_eq "wrong old password → 400 naming old" "400 old" "${r%% *} $(body "$r" | jq -r '.details[0].attributes.field')"
r=$(bearer "$CAROL" one PUT /users/carol/password "{\"old\":\"$PASS\",\"new\":\"short\"}")
lw_t_eq "weak new password → 400 naming new" "400 new" "${r%% *} $(body "$r" | jq -r '.details[0].attributes.field')"
r=$(bearer "$CAROL" one PUT /users/carol/password "{\"old\":\"$PASS\",\"new\":\"$NEWPASS\",\"revoke_all_access\":true}")
lw_t_eq "password change → 200" 200 "${r%% *}"
r=$(bearer "$CAROL" one GET /auth_info)
lw_t_eq "revoked token (was cached) → 401" 401 "${r%% *}"
r=$(login one carol "$PASS")
lw_t_eq "old password → 401" 401 "${r%% *}"
CAROL=$(body "$(login one carol "$NEWPASS")" | jq -r .access_token)
r=$(bearer "$CAROL" one POST /auth/logout)
lw_t_eq "logout → 200" 200 "${r%% *}"
r=$(bearer "$CAROL" one GET /users/carol)
lw_t_eq "logged-out token → 401" 401 "${r%% *}"
lw_t_psql -c "UPDATE t_one.access_tokens SET expires_at = now() - interval '1 second'" >/dev/null
CAROL=$(body "$(login one carol "$NEWPASS")" | jq -r .access_token)
lw_t_psql -c "UPDATE t_one.access_tokens SET expires_at = now() - interval '1 second'" >/dev/null
r=$(bearer "$CAROL" one GET /users/carol)
lw_t_eq "expired token → 401 token_expired" "401 token_expired" "$(lw_t_status_name "$r")"

# ---- delete, purge a user ---------------------------------------------------------------------
r=$(adm one DELETE /users/carol)
lw_t_eq "delete carol → 200" 200 "${r%% *}"
r=$(login one carol "$NEWPASS")
lw_t_eq "deleted user cannot log in → 401" 401 "${r%% *}"
r=$(lw_t_http POST "$api/users" -H "X-Tenant-ID: one" -d "{\"user\":{\"ids\":{\"user_id\":\"carol\"},\"password\":\"$PASS\"}}")
lw_t_eq "deleted user's ID stays taken → 409" "409 already_exists" "$(lw_t_status_name "$r")"
r=$(adm one DELETE /users/carol/purge)
lw_t_eq "purge carol → 200" 200 "${r%% *}"
r=$(lw_t_http POST "$api/users" -H "X-Tenant-ID: one" -d "{\"user\":{\"ids\":{\"user_id\":\"carol\"},\"password\":\"$PASS\"}}")
lw_t_eq "purged user's ID is free → 200" 200 "${r%% *}"

# ---- user states ------------------------------------------------------------------------------
r=$(lw_t_http POST "$api/users" -H "X-Tenant-ID: one" -d "{\"user\":{\"ids\":{\"user_id\":\"dave\"},\"password\":\"$PASS\"}}")
lw_t_eq "register dave → 200" 200 "${r%% *}"
DAVE=$(body "$(login one dave "$PASS")" | jq -r .access_token)
r=$(bearer "$DAVE" one GET /users/dave)
lw_t_eq "dave's token works" 200 "${r%% *}"
r=$(adm one PUT /users/dave '{"user":{"state":"STATE_SUSPENDED","state_description":"unpaid"},"field_mask":{"paths":["state","state_description"]}}')
lw_t_eq "the admin key suspends dave" "200 STATE_SUSPENDED" "${r%% *} $(body "$r" | jq -r .state)"
r=$(bearer "$DAVE" one GET /users/dave)
lw_t_eq "suspended user's token (was cached) → 401" 401 "${r%% *}"
r=$(login one dave "$PASS")
lw_t_eq "suspended user cannot log in → 403 user_not_approved" "403 user_not_approved" "$(lw_t_status_name "$r")"
r=$(adm one PUT /users/dave '{"user":{"state":"STATE_APPROVED"},"field_mask":{"paths":["state"]}}')
lw_t_eq "approve dave again" 200 "${r%% *}"
r=$(login one dave "$PASS")
lw_t_eq "approved user logs in again" 200 "${r%% *}"
r=$(adm one GET '/users/dave?field_mask=state,state_description,admin')
lw_t_eq "state after approval; description kept, admin omitted" '{"state":"STATE_APPROVED","state_description":"unpaid"}' "$(body "$r" | jq -cS 'del(.ids, .created_at, .updated_at)')"

# ---- limits under concurrent creates ------------------------------------------------------------
# Plain curl in the background: a backgrounded shell function would run lib.sh's EXIT trap.
pids=()
for i in 1 2 3 4 5 6; do
    curl -sS -o "$LW_T_DIR/race-$i" -w '%{http_code}' -X POST "$api/users/admin/applications" \
        -H "X-Tenant-ID: two" -H "Authorization: TenantAdminKey $LW_T_ADMIN_KEY" \
        -d "{\"application\":{\"ids\":{\"application_id\":\"race-$i\"}}}" >"$LW_T_DIR/race-$i.status" &
    pids+=($!)
done
wait "${pids[@]}"
ok=0 limited=0
for i in 1 2 3 4 5 6; do
    r="$(cat "$LW_T_DIR/race-$i.status") $(cat "$LW_T_DIR/race-$i")"
    case "$(lw_t_status_name "$r")" in
    200) ok=$((ok + 1)) ;;
    *tenant_entity_limit) limited=$((limited + 1)) ;;
    esac
done
lw_t_eq "six concurrent creates with max_applications 2: two pass, four hit the limit" "2 4" "$ok $limited"
lw_t_eq "tenant two holds exactly two applications" 2 "$(count t_two.applications)"

# ---- the other tenant is untouched -------------------------------------------------------------
lw_t_eq "tenant two: users" admin "$(lw_t_psql -c "SELECT string_agg(user_id, ',') FROM t_two.users")"
lw_t_eq "tenant two: no keys, tokens, organizations, gateways" "0 0 0 0" \
    "$(count t_two.api_keys) $(count t_two.access_tokens) $(count t_two.organizations) $(count t_two.gateways)"
lw_t_eq "tenant one: no application race-*" 0 "$(count "t_one.applications WHERE application_id LIKE 'race-%'")"

lw_t_done
