#!/usr/bin/env bash
# Rights among collaborators and API keys (issue 8, item 1), as The Things Stack rules them:
# a caller may create, change or delete an API key or a collaborator only if it holds every
# right that key or collaborator holds before and after the change, and an application,
# gateway or organization never loses its last collaborator with its _ALL right
# (<kind>_needs_collaborator). Applications, gateways, organizations and users' own keys.
# Each refusal is followed by the exact state (collaborators and keys of every entity, read
# with the tenant admin key): unchanged in tenant one, and tenant two, set up the same way,
# untouched throughout.
. "$(dirname "$0")/lib.sh"

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
lw_t_stack stack "$port"
api="http://127.0.0.1:$port/api/v3"
PASS='Secret-passw0rd'

adm() { lw_t_adm "$@"; }
bearer() { lw_t_bearer "$@"; }
body() { lw_t_body "$@"; }
login() {
    body "$(lw_t_http POST "$api/auth/login" -H "X-Tenant-ID: $1" -d "{\"user_id\":\"$2\",\"password\":\"$PASS\"}")" | jq -r .access_token
}
collab() { printf '{"collaborator":{"ids":{"user_ids":{"user_id":"%s"}},"rights":%s}}' "$1" "$2"; }
org_collab() { printf '{"collaborator":{"ids":{"organization_ids":{"organization_id":"%s"}},"rights":%s}}' "$1" "$2"; }

# The collaborators and keys of every entity of tenant $1, one line: what a refusal leaves
# exactly as it was.
snap() {
    local t=$1 e out=""
    for e in applications/app1 gateways/gw1 organizations/org1; do
        out+="$e collaborators=$(body "$(adm "$t" GET "/$e/collaborators")" | jq -c '[.collaborators[] | [(.ids.user_ids.user_id // .ids.organization_ids.organization_id), (.rights | sort)]] | sort')"
        out+=" keys=$(body "$(adm "$t" GET "/$e/api-keys")" | jq -c '[.api_keys[] | [.name, (.rights | sort), .expires_at]] | sort') "
    done
    out+="users/owner keys=$(body "$(adm "$t" GET /users/owner/api-keys)" | jq -c '[.api_keys[] | [.name, (.rights | sort), .expires_at]] | sort')"
    printf '%s' "$out"
}
# refused DESC "STATUS NAME" RESPONSE BEFORE: the answer, tenant one as it was before the
# request, tenant two as it was set up.
refused() {
    lw_t_eq "$1" "$2" "$(lw_t_status_name "$3")"
    lw_t_eq "$1: tenant one unchanged" "$4" "$(snap one)"
    lw_t_eq "$1: tenant two untouched" "$TWO" "$(snap two)"
}
# The rights of one collaborator of tenant one, sorted, as JSON ("" when none).
rights_of() { body "$(adm one GET "/$1/$2")" | jq -c '.rights // empty | sort'; }
# The key named $3 of entity $1/$2 in tenant one: [name, rights, expires_at].
key_of() { body "$(adm one GET "/$1/api-keys")" | jq -c --arg n "$2" '[.api_keys[] | select(.name == $n) | [.name, (.rights | sort), .expires_at]] | .[0] // empty'; }

# ---- the same setup in both tenants ------------------------------------------------------------
# owner: creates app1, gw1, org1 (their only collaborator with full rights: APPLICATION_ALL,
# GATEWAY_ALL, and RIGHT_ALL on the organization, as The Things Stack gives its creator); mallory: a collaborator
# with the entity's INFO and SETTINGS_COLLABORATORS (SETTINGS_MEMBERS for org1) only. Keys on
# each: "all" (<kind>_ALL) and "keys" (SETTINGS_API_KEYS only); the owner's own user keys
# "user-all" (USER_ALL) and "user-keys" (USER_SETTINGS_API_KEYS).
declare -A ALL_ID KEYS KEYS_ID
for t in one two; do
    r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$t\"},\"state\":\"STATE_APPROVED\"},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"$PASS\"}}")
    lw_t_eq "$t: create tenant → 200" 200 "${r%% *}"
    for u in owner mallory bob; do
        r=$(adm "$t" POST /users "{\"user\":{\"ids\":{\"user_id\":\"$u\"},\"password\":\"$PASS\"}}")
        lw_t_eq "$t: create user $u → 200" 200 "${r%% *}"
    done
    OWNER=$(login "$t" owner)
    r=$(bearer "$OWNER" "$t" POST /users/owner/applications '{"application":{"ids":{"application_id":"app1"}}}')
    lw_t_eq "$t: owner creates app1 → 200" 200 "${r%% *}"
    r=$(bearer "$OWNER" "$t" POST /users/owner/gateways '{"gateway":{"ids":{"gateway_id":"gw1"}}}')
    lw_t_eq "$t: owner creates gw1 → 200" 200 "${r%% *}"
    r=$(bearer "$OWNER" "$t" POST /users/owner/organizations '{"organization":{"ids":{"organization_id":"org1"}}}')
    lw_t_eq "$t: owner creates org1 → 200" 200 "${r%% *}"
    for e in "applications/app1 APPLICATION SETTINGS_COLLABORATORS" "gateways/gw1 GATEWAY SETTINGS_COLLABORATORS" \
        "organizations/org1 ORGANIZATION SETTINGS_MEMBERS"; do
        set -- $e
        r=$(bearer "$OWNER" "$t" PUT "/$1/collaborators" "$(collab mallory "[\"RIGHT_$2_INFO\",\"RIGHT_$2_$3\"]")")
        lw_t_eq "$t: owner makes mallory a collaborator of $1 → 200" 200 "${r%% *}"
        r=$(bearer "$OWNER" "$t" POST "/$1/api-keys" "{\"name\":\"all\",\"rights\":[\"RIGHT_$2_ALL\"]}")
        lw_t_eq "$t: owner makes the $1 key \"all\" → 200" 200 "${r%% *}"
        ALL_ID[$t/$1]=$(body "$r" | jq -r .id)
        r=$(bearer "$OWNER" "$t" POST "/$1/api-keys" "{\"name\":\"keys\",\"rights\":[\"RIGHT_$2_SETTINGS_API_KEYS\"]}")
        lw_t_eq "$t: owner makes the $1 key \"keys\" → 200" 200 "${r%% *}"
        KEYS[$t/$1]=$(body "$r" | jq -r .key)
        KEYS_ID[$t/$1]=$(body "$r" | jq -r .id)
    done
    r=$(bearer "$OWNER" "$t" POST /users/owner/api-keys '{"name":"user-all","rights":["RIGHT_USER_ALL"]}')
    lw_t_eq "$t: owner makes the user key \"user-all\" → 200" 200 "${r%% *}"
    ALL_ID[$t/users/owner]=$(body "$r" | jq -r .id)
    r=$(bearer "$OWNER" "$t" POST /users/owner/api-keys '{"name":"user-keys","rights":["RIGHT_USER_SETTINGS_API_KEYS"]}')
    lw_t_eq "$t: owner makes the user key \"user-keys\" → 200" 200 "${r%% *}"
    KEYS[$t/users/owner]=$(body "$r" | jq -r .key)
    KEYS_ID[$t/users/owner]=$(body "$r" | jq -r .id)
done
TWO=$(snap two)
START=$(snap one)
lw_t_eq "both tenants start the same" "$START" "$TWO"
OWNER=$(login one owner)
MALLORY=$(login one mallory)

# ---- reproduction 1: a collaborator demotes, then removes its owner ------------------------------
before=$(snap one)
r=$(bearer "$MALLORY" one PUT /applications/app1/collaborators "$(collab owner '["RIGHT_APPLICATION_INFO"]')")
refused "mallory (INFO + SETTINGS_COLLABORATORS) sets the owner's rights to INFO → 403" \
    "403 insufficient_application_rights" "$r" "$before"
r=$(bearer "$MALLORY" one DELETE /applications/app1/collaborator/user/owner)
refused "mallory removes the owner → 403" "403 insufficient_application_rights" "$r" "$before"
r=$(bearer "$MALLORY" one PUT /applications/app1/collaborators "$(collab owner '[]')")
refused "mallory removes the owner with no rights → 403" "403 insufficient_application_rights" "$r" "$before"
lw_t_eq "app1 keeps its owner with APPLICATION_ALL" '["RIGHT_APPLICATION_ALL"]' \
    "$(rights_of applications/app1 collaborator/user/owner)"
r=$(bearer "$MALLORY" one PUT /applications/app1/collaborators "$(collab mallory '["RIGHT_APPLICATION_INFO","RIGHT_APPLICATION_SETTINGS_COLLABORATORS","RIGHT_APPLICATION_DEVICES_WRITE"]')")
refused "mallory gives herself a right she lacks → 403" "403 insufficient_application_rights" "$r" "$before"

# ---- reproduction 2: a key with only SETTINGS_API_KEYS manages an _ALL key -------------------------
K=${KEYS[one/applications/app1]} A=${ALL_ID[one/applications/app1]}
r=$(bearer "$K" one PUT "/applications/app1/api-keys/$A" '{"api_key":{"name":"pwned"},"field_mask":{"paths":["name"]}}')
refused "SETTINGS_API_KEYS key renames the APPLICATION_ALL key → 403" "403 insufficient_application_rights" "$r" "$before"
r=$(bearer "$K" one PUT "/applications/app1/api-keys/$A" '{"api_key":{"expires_at":"2030-01-01T00:00:00Z"},"field_mask":{"paths":["expires_at"]}}')
refused "SETTINGS_API_KEYS key sets the expiry of the APPLICATION_ALL key → 403" "403 insufficient_application_rights" "$r" "$before"
r=$(bearer "$K" one DELETE "/applications/app1/api-keys/$A")
refused "SETTINGS_API_KEYS key deletes the APPLICATION_ALL key → 403" "403 insufficient_application_rights" "$r" "$before"
r=$(bearer "$K" one PUT "/applications/app1/api-keys/$A" '{"api_key":{"rights":["RIGHT_APPLICATION_SETTINGS_API_KEYS"]},"field_mask":{"paths":["rights"]}}')
refused "SETTINGS_API_KEYS key narrows the APPLICATION_ALL key to its own rights → 403" "403 insufficient_application_rights" "$r" "$before"
r=$(bearer "$K" one PUT "/applications/app1/api-keys/$A" '{"api_key":{"rights":[]},"field_mask":{"paths":["rights"]}}')
refused "SETTINGS_API_KEYS key deletes the APPLICATION_ALL key with no rights → 403" "403 insufficient_application_rights" "$r" "$before"
r=$(bearer "$K" one POST /applications/app1/api-keys '{"name":"more","rights":["RIGHT_APPLICATION_ALL"]}')
refused "a key cannot create a key with more rights than itself → 403" "403 insufficient_application_rights" "$r" "$before"
r=$(bearer "$K" one PUT "/applications/app1/api-keys/${KEYS_ID[one/applications/app1]}" '{"api_key":{"rights":["RIGHT_APPLICATION_SETTINGS_API_KEYS","RIGHT_APPLICATION_DEVICES_WRITE"]},"field_mask":{"paths":["rights"]}}')
refused "a key cannot widen its own rights → 403" "403 insufficient_application_rights" "$r" "$before"
r=$(lw_t_http GET "$api/applications/app1" -H "X-Tenant-ID: one" -H "Authorization: Bearer $K")
lw_t_eq "the SETTINGS_API_KEYS key itself has no INFO" "403 insufficient_application_rights" "$(lw_t_status_name "$r")"

# ---- gateways and organizations the same -----------------------------------------------------------
for e in "gateways/gw1 gateway GATEWAY RIGHT_GATEWAY_ALL" "organizations/org1 organization ORGANIZATION RIGHT_ALL"; do
    set -- $e
    path=$1 kind=$2 KIND=$3 full=$4
    err="403 insufficient_${kind}_rights"
    before=$(snap one)
    r=$(bearer "$MALLORY" one PUT "/$path/collaborators" "$(collab owner "[\"RIGHT_${KIND}_INFO\"]")")
    refused "$path: mallory sets the owner's rights to INFO → 403" "$err" "$r" "$before"
    r=$(bearer "$MALLORY" one DELETE "/$path/collaborator/user/owner")
    refused "$path: mallory removes the owner → 403" "$err" "$r" "$before"
    r=$(bearer "$MALLORY" one PUT "/$path/collaborators" "$(collab owner '[]')")
    refused "$path: mallory removes the owner with no rights → 403" "$err" "$r" "$before"
    lw_t_eq "$path keeps its owner with $full" "[\"$full\"]" "$(rights_of "$path" collaborator/user/owner)"
    K=${KEYS[one/$path]} A=${ALL_ID[one/$path]}
    r=$(bearer "$K" one PUT "/$path/api-keys/$A" '{"api_key":{"name":"pwned"},"field_mask":{"paths":["name"]}}')
    refused "$path: SETTINGS_API_KEYS key renames the ${KIND}_ALL key → 403" "$err" "$r" "$before"
    r=$(bearer "$K" one PUT "/$path/api-keys/$A" '{"api_key":{"expires_at":"2030-01-01T00:00:00Z"},"field_mask":{"paths":["expires_at"]}}')
    refused "$path: SETTINGS_API_KEYS key sets the expiry of the ${KIND}_ALL key → 403" "$err" "$r" "$before"
    r=$(bearer "$K" one DELETE "/$path/api-keys/$A")
    refused "$path: SETTINGS_API_KEYS key deletes the ${KIND}_ALL key → 403" "$err" "$r" "$before"
    r=$(bearer "$K" one POST "/$path/api-keys" "{\"name\":\"more\",\"rights\":[\"RIGHT_${KIND}_ALL\"]}")
    refused "$path: a key cannot create a key with more rights than itself → 403" "$err" "$r" "$before"
done

# ---- users' own keys ---------------------------------------------------------------------------------
before=$(snap one)
K=${KEYS[one/users/owner]} A=${ALL_ID[one/users/owner]}
r=$(bearer "$K" one PUT "/users/owner/api-keys/$A" '{"api_key":{"name":"pwned"},"field_mask":{"paths":["name"]}}')
refused "USER_SETTINGS_API_KEYS key renames the USER_ALL key → 403" "403 insufficient_user_rights" "$r" "$before"
r=$(bearer "$K" one PUT "/users/owner/api-keys/$A" '{"api_key":{"expires_at":"2030-01-01T00:00:00Z"},"field_mask":{"paths":["expires_at"]}}')
refused "USER_SETTINGS_API_KEYS key sets the expiry of the USER_ALL key → 403" "403 insufficient_user_rights" "$r" "$before"
r=$(bearer "$K" one DELETE "/users/owner/api-keys/$A")
refused "USER_SETTINGS_API_KEYS key deletes the USER_ALL key → 403" "403 insufficient_user_rights" "$r" "$before"
r=$(bearer "$K" one POST /users/owner/api-keys '{"name":"more","rights":["RIGHT_USER_ALL"]}')
refused "a user key cannot create a key with more rights than itself → 403" "403 insufficient_user_rights" "$r" "$before"

# ---- the last collaborator with full rights: through update and delete --------------------------------
for e in "applications/app1 application APPLICATION" "gateways/gw1 gateway GATEWAY" "organizations/org1 organization ORGANIZATION"; do
    set -- $e
    path=$1 kind=$2 KIND=$3
    err="400 ${kind}_needs_collaborator"
    before=$(snap one)
    r=$(bearer "$OWNER" one PUT "/$path/collaborators" "$(collab owner "[\"RIGHT_${KIND}_INFO\"]")")
    refused "$path: the only owner demotes itself → 400" "$err" "$r" "$before"
    r=$(bearer "$OWNER" one DELETE "/$path/collaborator/user/owner")
    refused "$path: the only owner removes itself → 400" "$err" "$r" "$before"
    r=$(bearer "$OWNER" one PUT "/$path/collaborators" "$(collab owner '[]')")
    refused "$path: the only owner removes itself with no rights → 400" "$err" "$r" "$before"
    r=$(adm one DELETE "/$path/collaborator/user/owner")
    refused "$path: the tenant admin key removes the only owner → 400" "$err" "$r" "$before"
    r=$(adm one PUT "/$path/collaborators" "$(collab owner "[\"RIGHT_${KIND}_INFO\"]")")
    refused "$path: the tenant admin key demotes the only owner → 400" "$err" "$r" "$before"
done

# ---- a caller holding the rights succeeds; the state after is exact -------------------------------------
r=$(bearer "$MALLORY" one PUT /applications/app1/collaborators "$(collab bob '["RIGHT_APPLICATION_INFO"]')")
lw_t_eq "mallory adds bob with a right she holds → 200" 200 "${r%% *}"
lw_t_eq "bob's rights on app1" '["RIGHT_APPLICATION_INFO"]' "$(rights_of applications/app1 collaborator/user/bob)"
r=$(bearer "$MALLORY" one DELETE /applications/app1/collaborator/user/bob)
lw_t_eq "mallory removes bob (his rights are hers) → 200" 200 "${r%% *}"
lw_t_eq "bob is gone" "" "$(rights_of applications/app1 collaborator/user/bob)"
lw_t_eq "after mallory's changes: only bob came and went" "$START" "$(snap one)"
lw_t_eq "tenant two untouched" "$TWO" "$(snap two)"

K=${KEYS[one/applications/app1]}
r=$(bearer "$K" one POST /applications/app1/api-keys '{"name":"peer","rights":["RIGHT_APPLICATION_SETTINGS_API_KEYS"]}')
lw_t_eq "SETTINGS_API_KEYS key creates a key within its rights → 200" 200 "${r%% *}"
PEER_ID=$(body "$r" | jq -r .id)
r=$(bearer "$K" one PUT "/applications/app1/api-keys/$PEER_ID" '{"api_key":{"name":"peer2","expires_at":"2030-01-01T00:00:00Z"},"field_mask":{"paths":["name","expires_at"]}}')
lw_t_eq "... renames it and sets its expiry → 200" 200 "${r%% *}"
lw_t_eq "the renamed key" '["peer2",["RIGHT_APPLICATION_SETTINGS_API_KEYS"],"2030-01-01T00:00:00.000000Z"]' "$(key_of applications/app1 peer2)"
r=$(bearer "$K" one DELETE "/applications/app1/api-keys/$PEER_ID")
lw_t_eq "... deletes it → 200" 200 "${r%% *}"
lw_t_eq "after the key's changes: as at the start" "$START" "$(snap one)"

A=${ALL_ID[one/applications/app1]}
r=$(bearer "$OWNER" one PUT "/applications/app1/api-keys/$A" '{"api_key":{"name":"all2","expires_at":"2030-01-01T00:00:00Z"},"field_mask":{"paths":["name","expires_at"]}}')
lw_t_eq "the owner (APPLICATION_ALL) renames the APPLICATION_ALL key and sets its expiry → 200" 200 "${r%% *}"
lw_t_eq "the changed key" '["all2",["RIGHT_APPLICATION_ALL"],"2030-01-01T00:00:00.000000Z"]' "$(key_of applications/app1 all2)"
r=$(adm one PUT "/gateways/gw1/api-keys/${ALL_ID[one/gateways/gw1]}" '{"api_key":{"name":"gw-all2"},"field_mask":{"paths":["name"]}}')
lw_t_eq "the tenant admin key renames the GATEWAY_ALL key → 200" 200 "${r%% *}"
lw_t_eq "the renamed gateway key" '["gw-all2",["RIGHT_GATEWAY_ALL"],null]' "$(key_of gateways/gw1 gw-all2)"
r=$(bearer "$OWNER" one DELETE "/organizations/org1/api-keys/${ALL_ID[one/organizations/org1]}")
lw_t_eq "the owner deletes the ORGANIZATION_ALL key → 200" 200 "${r%% *}"
lw_t_eq "the organization's keys: \"keys\" only" '["keys"]' "$(body "$(adm one GET /organizations/org1/api-keys)" | jq -c '[.api_keys[].name]')"
r=$(bearer "$OWNER" one PUT "/users/owner/api-keys/${ALL_ID[one/users/owner]}" '{"api_key":{"rights":["RIGHT_USER_INFO"]},"field_mask":{"paths":["rights"]}}')
lw_t_eq "the owner narrows its USER_ALL key → 200" '200 ["RIGHT_USER_INFO"]' "${r%% *} $(body "$r" | jq -c .rights)"
lw_t_eq "tenant two untouched by the key changes" "$TWO" "$(snap two)"

# Another full collaborator lets the owner go: mallory gets APPLICATION_ALL, the owner
# demotes itself, mallory removes it; mallory is then the last and cannot leave.
r=$(bearer "$OWNER" one PUT /applications/app1/collaborators "$(collab mallory '["RIGHT_APPLICATION_ALL"]')")
lw_t_eq "the owner gives mallory APPLICATION_ALL → 200" 200 "${r%% *}"
r=$(bearer "$OWNER" one PUT /applications/app1/collaborators "$(collab owner '["RIGHT_APPLICATION_INFO"]')")
lw_t_eq "the owner demotes itself while mallory holds APPLICATION_ALL → 200" 200 "${r%% *}"
r=$(bearer "$MALLORY" one DELETE /applications/app1/collaborator/user/owner)
lw_t_eq "mallory (APPLICATION_ALL) removes the former owner → 200" 200 "${r%% *}"
lw_t_eq "app1's collaborators: mallory with APPLICATION_ALL" '[["mallory",["RIGHT_APPLICATION_ALL"]]]' \
    "$(body "$(adm one GET /applications/app1/collaborators)" | jq -c '[.collaborators[] | [.ids.user_ids.user_id, .rights]]')"
before=$(snap one)
r=$(bearer "$MALLORY" one DELETE /applications/app1/collaborator/user/mallory)
refused "mallory, now the last with APPLICATION_ALL, cannot leave → 400" "400 application_needs_collaborator" "$r" "$before"

# An organization collaborator with GATEWAY_ALL counts (as in The Things Stack: any
# collaborator, user or organization, holding the _ALL right).
r=$(bearer "$OWNER" one PUT /gateways/gw1/collaborators "$(org_collab org1 '["RIGHT_GATEWAY_ALL"]')")
lw_t_eq "the owner gives org1 GATEWAY_ALL on gw1 → 200" 200 "${r%% *}"
r=$(bearer "$OWNER" one DELETE /gateways/gw1/collaborator/user/owner)
lw_t_eq "the owner leaves gw1 while org1 holds GATEWAY_ALL → 200" 200 "${r%% *}"
before=$(snap one)
r=$(adm one DELETE /gateways/gw1/collaborator/organization/org1)
refused "org1, now the last with GATEWAY_ALL on gw1, cannot be removed → 400" "400 gateway_needs_collaborator" "$r" "$before"
r=$(adm one PUT /gateways/gw1/collaborators "$(org_collab org1 '["RIGHT_GATEWAY_INFO"]')")
refused "org1 cannot be demoted → 400" "400 gateway_needs_collaborator" "$r" "$before"
lw_t_eq "gw1's collaborators: mallory and org1" '[["mallory",["RIGHT_GATEWAY_INFO","RIGHT_GATEWAY_SETTINGS_COLLABORATORS"]],["org1",["RIGHT_GATEWAY_ALL"]]]' \
    "$(body "$(adm one GET /gateways/gw1/collaborators)" | jq -c '[.collaborators[] | [(.ids.user_ids.user_id // .ids.organization_ids.organization_id), (.rights | sort)]] | sort')"

# Two owners removing each other at once: the changes to one entity's collaborators run one
# at a time, so exactly one removal passes and one owner stays, on every application.
for i in 1 2 3 4; do
    r=$(bearer "$OWNER" one POST /users/owner/applications "{\"application\":{\"ids\":{\"application_id\":\"race-$i\"}}}")
    r2=$(bearer "$OWNER" one PUT "/applications/race-$i/collaborators" "$(collab mallory '["RIGHT_APPLICATION_ALL"]')")
    lw_t_eq "race-$i: owner and mallory both hold APPLICATION_ALL" "200 200" "${r%% *} ${r2%% *}"
done
# Plain curl in the background: a backgrounded shell function would run lib.sh's EXIT trap.
pids=()
for i in 1 2 3 4; do
    for who in owner:mallory mallory:owner; do
        tok=$OWNER
        [ "${who%%:*}" = mallory ] && tok=$MALLORY
        curl -sS -o "$LW_T_DIR/race-$i-$who" -w '%{http_code}' -X DELETE \
            "$api/applications/race-$i/collaborator/user/${who##*:}" -H "X-Tenant-ID: one" \
            -H "Authorization: Bearer $tok" >"$LW_T_DIR/race-$i-$who.status" &
        pids+=($!)
    done
done
wait "${pids[@]}"
for i in 1 2 3 4; do
    a=$(cat "$LW_T_DIR/race-$i-owner:mallory.status") b=$(cat "$LW_T_DIR/race-$i-mallory:owner.status")
    lw_t_eq "race-$i: one of the two removals passes" 1 "$(printf '%s\n%s\n' "$a" "$b" | grep -c '^200$')"
    lw_t_eq "race-$i: one collaborator with APPLICATION_ALL remains" 1 \
        "$(body "$(adm one GET "/applications/race-$i/collaborators")" | jq '[(.collaborators // [])[] | select(.rights == ["RIGHT_APPLICATION_ALL"])] | length')"
done

lw_t_eq "tenant two: still as set up" "$TWO" "$(snap two)"
lw_t_eq "tenant two: no application race-*" "" "$(lw_t_psql -c "SELECT string_agg(application_id, ',') FROM t_two.applications WHERE application_id LIKE 'race-%'")"
lw_t_eq "tenant two: the owner still owns app1, gw1 and org1" '["RIGHT_APPLICATION_ALL"] ["RIGHT_GATEWAY_ALL"] ["RIGHT_ALL"]' \
    "$(for e in applications/app1 gateways/gw1 organizations/org1; do body "$(adm two GET "/$e/collaborator/user/owner")" | jq -c .rights; done | paste -sd' ')"

lw_t_done
