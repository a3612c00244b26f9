#!/usr/bin/env bash
# The Identity Server over HTTP (issue 4): two tenants, each with its own registry; the same
# application ID in both; gateway EUIs and JoinEUI/DevEUI pairs unique across tenants;
# API keys (rights, expiry, tampering, another tenant's key); rights through organizations;
# field masks; pagination; soft delete / purge; bad input naming the field with nothing
# written; tenant limits. Every data check looks at the other tenant too.
. "$(dirname "$0")/lib.sh"

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
# Self-registration is off by default (issue 8.5): this suite registers users as an open
# deployment does.
lw_t_stack stack "$port" --tenancy.base-domains=lwstack.test --is.user-registration.enabled=true \
    --is.user-registration.admin-approval.required=false
api="http://127.0.0.1:$port/api/v3"
PASS='Secret-passw0rd'

adm() { lw_t_adm "$@"; }
bearer() { lw_t_bearer "$@"; }
body() { lw_t_body "$@"; }
field() { body "$1" | jq -r '.details[0].attributes.field // empty'; }
count() { lw_t_psql -c "SELECT count(*) FROM $1"; }

# ---- two tenants, each with its first admin user ------------------------------------------
for t in acme globex; do
    extra=""
    [ $t = globex ] && extra=',"max_applications":"2"'
    r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$t\"},\"state\":\"STATE_APPROVED\"$extra},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"$PASS\",\"primary_email_address\":\"admin@$t.example\"}}")
    lw_t_eq "create tenant $t with initial_user → 200" 200 "${r%% *}"
done
lw_t_eq "initial user of acme is an approved admin" "t|1" \
    "$(lw_t_psql -c "SELECT admin || '|' || state FROM t_acme.users WHERE user_id = 'admin'" | sed 's/true/t/')"
lw_t_eq "initial user's password is stored hashed" "PBKDF2" \
    "$(lw_t_psql -c "SELECT split_part(password_hash, '\$', 1) FROM t_acme.users WHERE user_id = 'admin'")"
r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"weak\"},\"state\":\"STATE_APPROVED\"},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"short\"}}")
lw_t_eq "initial_user with a short password → 400 naming initial_user.password" \
    "400 password_strength_min_length initial_user.password" "$(lw_t_status_name "$r") $(field "$r")"
r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"weak\"},\"state\":\"STATE_APPROVED\"},\"initial_user\":{\"ids\":{\"user_id\":\"A\"},\"password\":\"$PASS\"}}")
lw_t_eq "initial_user with a bad ID → 400 naming initial_user.ids.user_id" \
    "400 invalid_field initial_user.ids.user_id" "$(lw_t_status_name "$r") $(field "$r")"
lw_t_eq "no tenant `weak`" 0 "$(count "lw_control.tenants WHERE tenant_id = 'weak'")"

# Login: a short-lived access token usable as Bearer.
login() { # tenant user password
    lw_t_http POST "$api/auth/login" -H "X-Tenant-ID: $1" -d "{\"user_id\":\"$2\",\"password\":\"$3\"}"
}
r=$(login acme admin "$PASS")
lw_t_eq "login → 200" 200 "${r%% *}"
ACME_TOKEN=$(body "$r" | jq -r .access_token)
lw_t_eq "access token has The Things Stack's format" 1 \
    "$(printf '%s' "$ACME_TOKEN" | grep -cE '^MFRWG\.[A-Z2-7]{39}\.[A-Z2-7]{52}$')"
r=$(login acme admin "wrong-password")
lw_t_eq "wrong password → 401 no_user_id_password_match" "401 no_user_id_password_match" "$(lw_t_status_name "$r")"
r=$(login acme nobody "$PASS")
lw_t_eq "unknown user → 401 no_user_id_password_match" "401 no_user_id_password_match" "$(lw_t_status_name "$r")"
r=$(login globex admin "$PASS")
GLOBEX_TOKEN=$(body "$r" | jq -r .access_token)
r=$(bearer "$ACME_TOKEN" acme GET /auth_info)
lw_t_eq "auth_info names the user behind the token" "admin true" \
    "$(body "$r" | jq -r '.oauth_access_token.user_ids.user_id + " " + (.is_admin|tostring)')"
r=$(bearer "$ACME_TOKEN" globex GET /auth_info)
lw_t_eq "acme's token on globex → 401" 401 "${r%% *}"

# ---- the same application ID in two tenants ----------------------------------------------
r=$(bearer "$ACME_TOKEN" acme POST /users/admin/applications '{"application":{"ids":{"application_id":"app1"},"name":"Acme app","description":"first"}}')
lw_t_eq "acme: create app1 → 200" "200 app1" "${r%% *} $(body "$r" | jq -r .ids.application_id)"
r=$(bearer "$GLOBEX_TOKEN" globex POST /users/admin/applications '{"application":{"ids":{"application_id":"app1"},"name":"Globex app"}}')
lw_t_eq "globex: create app1 → 200" 200 "${r%% *}"
lw_t_eq "acme's app1 keeps its name" "Acme app" "$(body "$(adm acme GET '/applications/app1?field_mask=name')" | jq -r .name)"
lw_t_eq "globex's app1 has its own" "Globex app" "$(body "$(adm globex GET '/applications/app1?field_mask=name')" | jq -r .name)"
r=$(bearer "$ACME_TOKEN" acme POST /users/admin/applications '{"application":{"ids":{"application_id":"app1"}}}')
lw_t_eq "acme: app1 again → 409 already_exists" "409 already_exists" "$(lw_t_status_name "$r")"

# ---- field masks ---------------------------------------------------------------------------
r=$(adm acme GET /applications/app1)
lw_t_eq "GET without a mask → ids and timestamps only" "created_at,ids,updated_at" "$(body "$r" | jq -r 'keys | join(",")')"
r=$(adm acme GET '/applications/app1?field_mask=name,description')
lw_t_eq "GET ?field_mask=name,description" '{"description":"first","name":"Acme app"}' "$(body "$r" | jq -cS '{name, description}')"
r=$(adm acme PUT /applications/app1 '{"application":{"ids":{"application_id":"app1"},"name":"Renamed","description":"ignored"},"field_mask":{"paths":["name"]}}')
lw_t_eq "PUT with mask [name] → 200 with name" "200 Renamed" "${r%% *} $(body "$r" | jq -r .name)"
r=$(adm acme GET '/applications/app1?field_mask=name,description')
lw_t_eq "PUT with mask [name] leaves description" '{"description":"first","name":"Renamed"}' "$(body "$r" | jq -cS '{name, description}')"
r=$(adm acme GET '/applications/app1?field_mask=colour')
lw_t_eq "unknown mask path → 400 naming field_mask" "400 invalid_field field_mask" "$(lw_t_status_name "$r") $(field "$r")"

# ---- gateway EUIs are unique across tenants -----------------------------------------------
gw() { # tenant id eui
    adm "$1" POST /users/admin/gateways "{\"gateway\":{\"ids\":{\"gateway_id\":\"$2\",\"eui\":\"$3\"},\"frequency_plan_ids\":[\"EU_863_870\"],\"status_public\":true}}"
}
r=$(gw acme gw1 0011223344556677)
lw_t_eq "acme: gateway with EUI → 200" "200 0011223344556677" "${r%% *} $(body "$r" | jq -r .ids.eui)"
r=$(gw globex gw1 0011223344556677)
lw_t_eq "globex: same EUI → 409 already_exists" "409 already_exists" "$(lw_t_status_name "$r")"
lw_t_eq "globex holds no gateway" 0 "$(count t_globex.gateways)"
lw_t_eq "the EUI index names acme" "acme gw1" "$(lw_t_psql -c "SELECT tenant_id || ' ' || gateway_id FROM lw_control.gateway_euis WHERE eui = '0011223344556677'")"
r=$(gw globex gw2 00112233445566)
lw_t_eq "bad EUI → 400 naming gateway.ids.eui" "400 invalid_field gateway.ids.eui" "$(lw_t_status_name "$r") $(field "$r")"
r=$(adm acme DELETE /gateways/gw1)
lw_t_eq "acme: delete gw1 → 200" 200 "${r%% *}"
r=$(gw globex gw1 0011223344556677)
lw_t_eq "globex: the released EUI → 200" 200 "${r%% *}"
r=$(gw acme gw1 0011223344556688)
lw_t_eq "acme: deleted gw1's ID stays taken → 409" "409 already_exists" "$(lw_t_status_name "$r")"
r=$(adm acme POST /gateways/gw1/restore)
lw_t_eq "acme: restore gw1 while its EUI is globex's → 409" "409 already_exists" "$(lw_t_status_name "$r")"

# A gateway's EUI changes through the mask path ids.eui, in the deployment-wide index too.
r=$(gw acme gw-move 00000000000000A1)
lw_t_eq "acme: gw-move → 200" 200 "${r%% *}"
r=$(adm acme PUT /gateways/gw-move '{"gateway":{"ids":{"gateway_id":"gw-move","eui":"0011223344556677"}},"field_mask":{"paths":["ids.eui"]}}')
lw_t_eq "acme: moving to globex's EUI → 409 already_exists" "409 already_exists" "$(lw_t_status_name "$r")"
r=$(adm acme PUT /gateways/gw-move '{"gateway":{"ids":{"gateway_id":"gw-move","eui":"00000000000000A2"},"name":"Moved"},"field_mask":{"paths":["ids.eui","name"]}}')
lw_t_eq "acme: new EUI → 200" "200 00000000000000A2 Moved" "${r%% *} $(body "$r" | jq -r '.ids.eui + " " + .name')"
lw_t_eq "the index follows the EUI" "acme gw-move" "$(lw_t_psql -c "SELECT tenant_id || ' ' || gateway_id FROM lw_control.gateway_euis WHERE eui = '00000000000000A2'")"
lw_t_eq "the old EUI is free" 0 "$(count "lw_control.gateway_euis WHERE eui = '00000000000000A1'")"
r=$(adm acme DELETE /gateways/gw-move)
lw_t_eq "acme: delete gw-move" 200 "${r%% *}"

# ---- end devices: JoinEUI/DevEUI pairs unique across tenants, free again at delete --------
dev() { # tenant app id devEUI
    adm "$1" POST "/applications/$2/devices" "{\"end_device\":{\"ids\":{\"device_id\":\"$3\",\"application_ids\":{\"application_id\":\"$2\"},\"dev_eui\":\"$4\",\"join_eui\":\"70B3D57ED0000000\"},\"name\":\"Device $3\",\"lorawan_version\":\"MAC_V1_0_3\",\"lorawan_phy_version\":\"RP001_V1_0_3_REV_A\",\"frequency_plan_id\":\"EU_863_870\",\"supports_join\":true}}"
}
r=$(dev acme app1 dev1 0004A30B001C0530)
lw_t_eq "acme: device → 200" "200 0004A30B001C0530" "${r%% *} $(body "$r" | jq -r .ids.dev_eui)"
r=$(dev globex app1 dev1 0004A30B001C0530)
lw_t_eq "globex: same JoinEUI/DevEUI → 409 already_exists" "409 already_exists" "$(lw_t_status_name "$r")"
lw_t_eq "globex holds no device" 0 "$(count t_globex.end_devices)"
r=$(dev acme app1 dev2 0004A30B001C0530)
lw_t_eq "acme: same pair, other device → 409" "409 already_exists" "$(lw_t_status_name "$r")"
r=$(adm acme DELETE /applications/app1/devices/dev1)
lw_t_eq "acme: delete dev1 → 200" 200 "${r%% *}"
r=$(dev acme app1 dev1 0004A30B001C0530)
lw_t_eq "acme: dev1 with the same EUIs again at once → 200" 200 "${r%% *}"
r=$(dev acme app1 bad 0004A30B001C05ZZ)
lw_t_eq "bad DevEUI → 400 naming end_device.ids.dev_eui" "400 invalid_field end_device.ids.dev_eui" "$(lw_t_status_name "$r") $(field "$r")"
r=$(adm acme GET '/applications/app1/devices/dev1?field_mask=name,lorawan_version,supports_join')
lw_t_eq "device GET with mask" '{"lorawan_version":"MAC_V1_0_3","name":"Device dev1","supports_join":true}' "$(body "$r" | jq -cS '{name, lorawan_version, supports_join}')"
lw_t_eq "device lookup index names acme" "acme app1 dev1" \
    "$(lw_t_psql -c "SELECT tenant_id || ' ' || application_id || ' ' || device_id FROM lw_control.end_device_euis WHERE dev_eui = '0004A30B001C0530'")"

# ---- API keys ------------------------------------------------------------------------------
key() { # tenant app rights-json [extra]
    adm "$1" POST "/applications/$2/api-keys" "{\"name\":\"k\",\"rights\":$3${4:-}}"
}
r=$(key acme app1 '["RIGHT_APPLICATION_DEVICES_READ"]')
lw_t_eq "create a key with DEVICES_READ → 200" 200 "${r%% *}"
READ_KEY=$(body "$r" | jq -r .key)
READ_KEY_ID=$(body "$r" | jq -r .id)
lw_t_eq "key has The Things Stack's format" 1 "$(printf '%s' "$READ_KEY" | grep -cE '^NNSXS\.[A-Z2-7]{39}\.[A-Z2-7]{52}$')"
lw_t_eq "the key is stored hashed, never in clear" 0 "$(count "t_acme.api_keys WHERE key_hash LIKE '%$(printf '%s' "$READ_KEY" | cut -d. -f3)%'")"
r=$(bearer "$READ_KEY" acme GET /applications/app1/devices)
lw_t_eq "read key lists devices" "200 dev1" "${r%% *} $(body "$r" | jq -r '.end_devices[0].ids.device_id')"
r=$(bearer "$READ_KEY" acme POST /applications/app1/devices '{"end_device":{"ids":{"device_id":"dev9"}}}')
lw_t_eq "read key creating a device → 403 insufficient_application_rights" "403 insufficient_application_rights" "$(lw_t_status_name "$r")"
lw_t_eq "no dev9" 0 "$(count "t_acme.end_devices WHERE device_id = 'dev9'")"
r=$(bearer "$READ_KEY" acme GET /applications/app1/rights)
lw_t_eq "read key's rights" '["RIGHT_APPLICATION_DEVICES_READ"]' "$(body "$r" | jq -c .rights)"
tampered="${READ_KEY%?}A"
[ "$tampered" = "$READ_KEY" ] && tampered="${READ_KEY%?}B"
r=$(bearer "$tampered" acme GET /applications/app1/devices)
lw_t_eq "tampered secret (key cached) → 401" "401 invalid_authorization" "$(lw_t_status_name "$r")"
r=$(bearer "$READ_KEY" globex GET /applications/app1/devices)
lw_t_eq "acme's key on globex (X-Tenant-ID) → 401" 401 "${r%% *}"
r=$(lw_t_http GET "$api/applications/app1/devices" -H "Host: globex.lwstack.test" -H "Authorization: Bearer $READ_KEY")
lw_t_eq "acme's key on globex's host → 401, no data" "401 false" "${r%% *} $(body "$r" | jq 'has("end_devices")')"
r=$(lw_t_http GET "$api/applications/app1/devices" -H "Host: acme.lwstack.test" -H "Authorization: Bearer $READ_KEY")
lw_t_eq "acme's key on acme's host → 200" 200 "${r%% *}"
r=$(key acme app1 '["RIGHT_APPLICATION_INFO"]')
FRESH_KEY=$(body "$r" | jq -r .key)
tampered="${FRESH_KEY%?}A"
[ "$tampered" = "$FRESH_KEY" ] && tampered="${FRESH_KEY%?}B"
r=$(bearer "$tampered" acme GET /applications/app1)
lw_t_eq "tampered secret (not cached) → 401" "401 invalid_authorization" "$(lw_t_status_name "$r")"
r=$(key acme app1 '["RIGHT_APPLICATION_INFO"]')
EXP_KEY=$(body "$r" | jq -r .key)
lw_t_psql -c "UPDATE t_acme.api_keys SET expires_at = now() - interval '1 second' WHERE key_id = '$(body "$r" | jq -r .id)'" >/dev/null
r=$(bearer "$EXP_KEY" acme GET /applications/app1)
lw_t_eq "expired key → 401 api_key_expired" "401 api_key_expired" "$(lw_t_status_name "$r")"
r=$(key acme app1 '["RIGHT_APPLICATION_INFO"]' ',"expires_at":"2001-01-01T00:00:00Z"')
lw_t_eq "key expiring in the past → 400 naming expires_at" "400 expires_at" "${r%% *} $(field "$r")"
r=$(key acme app1 '["RIGHT_GATEWAY_INFO"]')
lw_t_eq "gateway right on an application key → 400 naming rights" "400 rights" "${r%% *} $(field "$r")"
r=$(bearer "$READ_KEY" acme POST /applications/app1/api-keys '{"rights":["RIGHT_APPLICATION_ALL"]}')
lw_t_eq "a key without SETTINGS_API_KEYS cannot make keys → 403" 403 "${r%% *}"
r=$(adm acme DELETE "/applications/app1/api-keys/$READ_KEY_ID")
lw_t_eq "revoke the read key → 200" 200 "${r%% *}"
r=$(bearer "$READ_KEY" acme GET /applications/app1/devices)
lw_t_eq "revoked key (was cached) → 401" 401 "${r%% *}"

# A key never exceeds its creator: a key with SETTINGS_API_KEYS + INFO cannot mint DEVICES_WRITE.
r=$(key acme app1 '["RIGHT_APPLICATION_SETTINGS_API_KEYS","RIGHT_APPLICATION_INFO"]')
KEYS_KEY=$(body "$r" | jq -r .key)
r=$(bearer "$KEYS_KEY" acme POST /applications/app1/api-keys '{"rights":["RIGHT_APPLICATION_DEVICES_WRITE"]}')
lw_t_eq "key creating a key beyond its rights → 403 insufficient_application_rights" "403 insufficient_application_rights" "$(lw_t_status_name "$r")"
r=$(bearer "$KEYS_KEY" acme POST /applications/app1/api-keys '{"rights":["RIGHT_APPLICATION_INFO"]}')
lw_t_eq "key creating a key within its rights → 200" 200 "${r%% *}"

# ---- rights through an organization --------------------------------------------------------
r=$(lw_t_http POST "$api/users" -H "X-Tenant-ID: acme" -d "{\"user\":{\"ids\":{\"user_id\":\"bob\"},\"password\":\"$PASS\",\"primary_email_address\":\"bob@acme.example\"}}")
lw_t_eq "register bob → 200" 200 "${r%% *}"
r=$(lw_t_http POST "$api/users" -H "X-Tenant-ID: acme" -d '{"user":{"ids":{"user_id":"eve"},"password":"short"}}')
lw_t_eq "short password → 400 naming user.password" "400 password_strength_min_length user.password" "$(lw_t_status_name "$r") $(field "$r")"
r=$(lw_t_http POST "$api/users" -H "X-Tenant-ID: acme" -d "{\"user\":{\"ids\":{\"user_id\":\"eve\"},\"password\":\"$PASS\",\"admin\":true}}")
lw_t_eq "self-registration as admin → 403 no_admin" "403 no_admin" "$(lw_t_status_name "$r")"
lw_t_eq "no eve" 0 "$(count "t_acme.users WHERE user_id = 'eve'")"
r=$(adm acme POST /users/admin/organizations '{"organization":{"ids":{"organization_id":"org1"},"name":"Org"}}')
lw_t_eq "create org1 → 200" 200 "${r%% *}"
r=$(adm acme POST /users/admin/organizations '{"organization":{"ids":{"organization_id":"bob"}}}')
lw_t_eq "org with a user's ID → 409 (one namespace)" "409 already_exists" "$(lw_t_status_name "$r")"
r=$(adm acme PUT /organizations/org1/collaborators '{"collaborator":{"ids":{"user_ids":{"user_id":"bob"}},"rights":["RIGHT_APPLICATION_TRAFFIC_READ"]}}')
lw_t_eq "bob joins org1 with TRAFFIC_READ only → 200" 200 "${r%% *}"
r=$(adm acme PUT /applications/app1/collaborators '{"collaborator":{"ids":{"organization_ids":{"organization_id":"org1"}},"rights":["RIGHT_APPLICATION_ALL"]}}')
lw_t_eq "org1 gets APPLICATION_ALL on app1 → 200" 200 "${r%% *}"
r=$(adm acme GET /applications/app1/collaborators)
lw_t_eq "app1's collaborators" "admin,org1" "$(body "$r" | jq -r '[.collaborators[].ids | (.user_ids.user_id // .organization_ids.organization_id)] | join(",")')"
r=$(adm acme GET /applications/app1/collaborator/organization/org1)
lw_t_eq "one collaborator" '["RIGHT_APPLICATION_ALL"]' "$(body "$r" | jq -c .rights)"
BOB=$(body "$(login acme bob "$PASS")" | jq -r .access_token)
r=$(bearer "$BOB" acme GET /applications/app1/rights)
lw_t_eq "bob's rights on app1 = user→org ∩ org→app" '["RIGHT_APPLICATION_TRAFFIC_READ"]' "$(body "$r" | jq -c .rights)"
r=$(bearer "$BOB" acme POST /applications/app1/devices '{"end_device":{"ids":{"device_id":"bobdev"}}}')
lw_t_eq "bob cannot write devices → 403 insufficient_application_rights" "403 insufficient_application_rights" "$(lw_t_status_name "$r")"
r=$(bearer "$BOB" acme GET /applications/app1)
lw_t_eq "bob cannot read app info → 403" 403 "${r%% *}"
r=$(bearer "$BOB" acme GET /applications)
lw_t_eq "bob lists app1 through org1" "200 app1 1" "${r%% *} $(body "$r" | jq -r '.applications[0].ids.application_id') $(body "$r" | jq '.applications | length')"
r=$(bearer "$BOB" acme GET /users/admin/applications)
lw_t_eq "bob cannot list admin's applications → 403 no_user_rights" "403 no_user_rights" "$(lw_t_status_name "$r")"
r=$(bearer "$BOB" acme PUT /applications/app1/collaborators '{"collaborator":{"ids":{"user_ids":{"user_id":"bob"}},"rights":["RIGHT_APPLICATION_ALL"]}}')
lw_t_eq "bob cannot make himself a collaborator → 403" 403 "${r%% *}"

# ---- pagination ----------------------------------------------------------------------------
r=$(adm globex DELETE /gateways/gw1)
lw_t_eq "globex: delete gw1 (deleted gateways are not listed) → 200" 200 "${r%% *}"
for i in 01 02 03 04 05 06 07 08 09 10; do
    r=$(adm globex POST /users/admin/gateways "{\"gateway\":{\"ids\":{\"gateway_id\":\"page-$i\"}}}")
    [ "${r%% *}" = 200 ] || lw_t_fail "create page-$i: $r"
done
out=$(curl -sS -D "$LW_T_DIR/h" -H "X-Tenant-ID: globex" -H "Authorization: TenantAdminKey $LW_T_ADMIN_KEY" \
    "$api/gateways?limit=3&page=4&order=gateway_id" | jq -r '[.gateways[].ids.gateway_id] | join(",")')
total=$(tr -d '\r' <"$LW_T_DIR/h" | awk -F': ' 'tolower($1) == "x-total-count" {print $2}')
lw_t_eq "?limit=3&page=4 → the tenth only" "page-10" "$out"
lw_t_eq "X-Total-Count: 10" 10 "$total"
out=$(curl -sS -D "$LW_T_DIR/h" -H "X-Tenant-ID: globex" -H "Authorization: TenantAdminKey $LW_T_ADMIN_KEY" \
    "$api/gateways?limit=3&page=4&order=-gateway_id" | jq -r '[.gateways[].ids.gateway_id] | join(",")')
lw_t_eq "order=-gateway_id, page 4 → the first only" "page-01" "$out"
r=$(adm globex GET '/gateways?order=colour')
lw_t_eq "bad order → 400 naming order" "400 order" "${r%% *} $(field "$r")"
r=$(adm globex GET '/gateways?limit=-1')
lw_t_eq "bad limit → 400 naming limit" "400 limit" "${r%% *} $(field "$r")"
lw_t_eq "acme holds none of globex's gateways" 0 "$(count "t_acme.gateways WHERE gateway_id LIKE 'page-%'")"

# ---- delete / purge ------------------------------------------------------------------------
r=$(adm acme DELETE /applications/app1)
lw_t_eq "delete an application with devices → 400 application_has_devices" "400 application_has_devices 1" \
    "$(lw_t_status_name "$r") $(body "$r" | jq -r '.details[0].attributes.count')"
r=$(adm acme GET /applications/Bad_App)
lw_t_eq "invalid ID in the path → 400 naming application_ids.application_id" "400 application_ids.application_id" "${r%% *} $(field "$r")"
adm acme POST /users/admin/applications '{"application":{"ids":{"application_id":"tmp-app"}}}' >/dev/null
TMP_KEY=$(body "$(key acme tmp-app '["RIGHT_APPLICATION_INFO"]')" | jq -r .key)
r=$(bearer "$TMP_KEY" acme GET /applications/tmp-app)
lw_t_eq "tmp-app's key works" 200 "${r%% *}"
r=$(adm acme DELETE /applications/tmp-app)
lw_t_eq "delete tmp-app → 200" 200 "${r%% *}"
r=$(bearer "$TMP_KEY" acme GET /applications/tmp-app)
lw_t_eq "a deleted application's key (was cached) → 401" 401 "${r%% *}"
r=$(adm acme GET /applications/tmp-app)
lw_t_eq "deleted app → 404 not_found" "404 not_found" "$(lw_t_status_name "$r")"
r=$(adm acme POST /users/admin/applications '{"application":{"ids":{"application_id":"tmp-app"}}}')
lw_t_eq "same ID after delete → 409 already_exists" "409 already_exists" "$(lw_t_status_name "$r")"
r=$(bearer "$BOB" acme DELETE /applications/tmp-app/purge)
lw_t_eq "purge by a non-admin → 403" 403 "${r%% *}"
r=$(adm acme DELETE /applications/tmp-app/purge)
lw_t_eq "purge → 200" 200 "${r%% *}"
r=$(adm acme POST /users/admin/applications '{"application":{"ids":{"application_id":"tmp-app"}}}')
lw_t_eq "same ID after purge → 200" 200 "${r%% *}"
adm acme DELETE /applications/tmp-app >/dev/null
r=$(adm acme POST /applications/tmp-app/restore)
lw_t_eq "restore → 200" 200 "${r%% *}"
r=$(adm acme GET /applications/tmp-app)
lw_t_eq "restored app is back" 200 "${r%% *}"

# ---- bad input: 400 naming the field, nothing written --------------------------------------
before=$(count t_acme.applications)
r=$(adm acme POST /users/admin/applications '{"application":')
lw_t_eq "bad JSON → 400 invalid_json" "400 invalid_json" "$(lw_t_status_name "$r")"
r=$(adm acme POST /users/admin/applications '{"application":{"ids":{"application_id":"x-app"},"colour":"red"}}')
lw_t_eq "unknown field → 400 naming application.colour" "400 unknown_field application.colour" "$(lw_t_status_name "$r") $(field "$r")"
r=$(adm acme POST /users/admin/applications '{"application":{"ids":{"application_id":"x-app","extra":1}}}')
lw_t_eq "unknown ids field → 400 naming it" "400 unknown_field application.ids.extra" "$(lw_t_status_name "$r") $(field "$r")"
r=$(adm acme POST /users/admin/applications '{"application":{"ids":{"application_id":"X_App"}}}')
lw_t_eq "invalid ID → 400 naming application.ids.application_id" "400 invalid_field application.ids.application_id" "$(lw_t_status_name "$r") $(field "$r")"
r=$(adm acme POST /users/admin/applications "{\"application\":{\"ids\":{\"application_id\":\"x-app\"},\"name\":\"$(head -c 51 /dev/zero | tr '\0' n)\"}}")
lw_t_eq "name over 50 characters → 400 naming application.name" "400 invalid_field application.name" "$(lw_t_status_name "$r") $(field "$r")"
r=$(adm acme POST /users/admin/applications '{"application":{"ids":{"application_id":"x-app"},"name":5}}')
lw_t_eq "name of the wrong type → 400 naming application.name" "400 invalid_field application.name" "$(lw_t_status_name "$r") $(field "$r")"
head -c 1100000 /dev/zero | tr '\0' a >"$LW_T_DIR/big"
r=$(lw_t_admin POST "$api/users/admin/applications" -H "X-Tenant-ID: acme" --data-binary "@$LW_T_DIR/big")
lw_t_eq "oversize body → 413 request_too_large" "413 request_too_large" "$(lw_t_status_name "$r")"
r=$(adm acme POST /users/admin/gateways '{"gateway":{"ids":{"gateway_id":"gw-x"},"antennas":[{"location":{"latitude":91}}]}}')
lw_t_eq "latitude out of range → 400 naming the field" "400 gateway.antennas[0].location.latitude" "${r%% *} $(field "$r")"
r=$(adm acme POST /applications/app1/devices '{"end_device":{"ids":{"device_id":"d-x"},"lorawan_version":"MAC_V9"}}')
lw_t_eq "unknown enum → 400 naming end_device.lorawan_version" "400 end_device.lorawan_version" "${r%% *} $(field "$r")"
lw_t_eq "nothing written by bad requests" "$before" "$(count t_acme.applications)"
lw_t_eq "no gw-x" 0 "$(count "t_acme.gateways WHERE gateway_id = 'gw-x'")"

# ---- tenant limits -------------------------------------------------------------------------
r=$(adm globex POST /users/admin/applications '{"application":{"ids":{"application_id":"app2"}}}')
lw_t_eq "globex: second application (max 2) → 200" 200 "${r%% *}"
r=$(adm globex POST /users/admin/applications '{"application":{"ids":{"application_id":"app3"}}}')
lw_t_eq "globex: third application → tenant_entity_limit" "tenant_entity_limit applications 2" \
    "$(body "$r" | jq -r '.details[0] | .name + " " + .attributes.entity_type + " " + (.attributes.limit|tostring)')"
lw_t_eq "globex holds two applications" 2 "$(count t_globex.applications)"

# ---- events on lw.events, keyed by tenant -----------------------------------------------------
if command -v kcat >/dev/null; then
    kcat -C -b "$LW_T_BROKERS" -t lw.events -o beginning -e -q -f '%k %s\n' >"$LW_T_DIR/events" 2>/dev/null || true
    ev() { grep "^$1 " "$LW_T_DIR/events" | cut -d' ' -f2- | jq -r "select(.name == \"$2\") | .identifiers[0] | tostring" | head -1; }
    lw_t_eq "event application.create for acme's app1" '{"application_ids":{"application_id":"app1"}}' "$(ev acme application.create)"
    lw_t_eq "event end_device.delete names the device" '{"device_ids":{"device_id":"dev1","application_ids":{"application_id":"app1"}}}' "$(ev acme end_device.delete)"
    lw_t_eq "event gateway.delete in globex" '{"gateway_ids":{"gateway_id":"gw1"}}' "$(ev globex gateway.delete)"
    lw_t_eq "no event for a refused create (acme app1 twice)" 1 "$(grep -c '^acme .*"application.create".*"app1"' "$LW_T_DIR/events")"
else
    lw_t_fail "kcat is not installed (ops/install)"
fi

# ---- the other tenant is untouched ---------------------------------------------------------
lw_t_eq "globex users: admin only" admin "$(lw_t_psql -c "SELECT string_agg(user_id, ',') FROM t_globex.users")"
lw_t_eq "globex has no API keys" 0 "$(count t_globex.api_keys)"
lw_t_eq "globex has no organizations" 0 "$(count t_globex.organizations)"
lw_t_eq "globex app1 keeps its name" "Globex app" "$(lw_t_psql -c "SELECT data->>'name' FROM t_globex.applications WHERE application_id = 'app1'")"

lw_t_done
