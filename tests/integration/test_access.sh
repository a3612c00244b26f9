#!/usr/bin/env bash
# The access checker of the servers that are not the Identity Server (tenant/access.h,
# issue 9): a separate process (tn_access_driver: the tenant component and one route that
# asks the checker, linking tenant only, as the GS, NS and JS) asks a running lwstack's IS
# GET /api/v3/<entities>/{id}/rights with the caller's key and tenant. Two tenants, `one`
# (changed) and `two` (checked untouched), each with an application `app1`:
#   - keys with and without the rights asked: the rights as the IS expands them, or the IS's
#     errors (insufficient_/no_application_rights naming the missing right, unauthenticated);
#   - the other tenant's key never works on this tenant's entity of the same ID;
#   - answers are cached (counted in the driver's metrics): a repeated check asks nothing,
#     concurrent checks of one key make one request;
#   - a revoked key loses access in the driver through lw.is.revocations while its answer is
#     cached with a TTL of an hour; a narrowed key likewise; the other keys' answers stay;
#   - a collaborator's changed or removed rights reach the driver the same way, and a
#     tenant's change of state drops its answers (lw.tenant);
#   - an IS that cannot be reached is `unavailable`.
# The IS's /rights endpoint itself is checked as The Things Stack answers it (anonymous and
# unknown entities: no rights; a key of another entity: none).
. "$(dirname "$0")/lib.sh"

driver="$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)/tests/integration/tenant/tn_access_driver"
[ -x "$driver" ] || { echo "tn_access_driver not found at $driver" >&2; exit 1; }

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
lw_t_stack stack "$port" --tenancy.refresh-interval 1h
api="http://127.0.0.1:$port/api/v3"
PASS='Secret-passw0rd'
adm() { lw_t_adm "$@"; }
bearer() { lw_t_bearer "$@"; }
body() { lw_t_body "$@"; }

for t in one two; do
    r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$t\"},\"state\":\"STATE_APPROVED\"},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"$PASS\"}}")
    lw_t_eq "create tenant $t" 200 "${r%% *}"
    r=$(adm $t POST /users/admin/applications '{"application":{"ids":{"application_id":"app1"}}}')
    lw_t_eq "$t: application app1" 200 "${r%% *}"
done
r=$(adm one POST /users/admin/gateways '{"gateway":{"ids":{"gateway_id":"gw1","eui":"58A0CBFFFE800001"}}}')
lw_t_eq "one: gateway gw1" 200 "${r%% *}"
key() { # TENANT PATH RIGHTS_JSON → "ID KEY"
    local r
    r=$(adm "$1" POST "$2/api-keys" "{\"name\":\"k\",\"rights\":$3}")
    printf '%s %s' "$(body "$r" | jq -r .id)" "$(body "$r" | jq -r .key)"
}
read -r ALL_ID ALL <<<"$(key one /applications/app1 '["RIGHT_APPLICATION_ALL"]')"
read -r READ_ID READ <<<"$(key one /applications/app1 '["RIGHT_APPLICATION_DEVICES_READ"]')"
read -r NARROW_ID NARROW <<<"$(key one /applications/app1 '["RIGHT_APPLICATION_DEVICES_READ","RIGHT_APPLICATION_DEVICES_WRITE"]')"
read -r GW_ID GW <<<"$(key one /gateways/gw1 '["RIGHT_GATEWAY_LINK"]')"
read -r TWO_ID TWO <<<"$(key two /applications/app1 '["RIGHT_APPLICATION_ALL"]')"
lw_t_eq "keys made" 5 "$(printf '%s\n' "$ALL" "$READ" "$NARROW" "$GW" "$TWO" | grep -c '^NNSXS\.')"

# ---- the IS's /rights as The Things Stack answers it ----------------------------------------
r=$(bearer "$GW" one GET /gateways/gw1/rights)
lw_t_eq "IS: gateway key's rights, LINK implies INFO" '200 ["RIGHT_GATEWAY_INFO","RIGHT_GATEWAY_LINK"]' "${r%% *} $(body "$r" | jq -c .rights)"
r=$(bearer "$GW" one GET /applications/app1/rights)
lw_t_eq "IS: gateway key on an application → no rights" '200 {}' "${r%% *} $(body "$r" | jq -c .)"
r=$(lw_t_http GET "$api/applications/app1/rights" -H "X-Tenant-ID: one")
lw_t_eq "IS: anonymous → no rights" '200 {}' "${r%% *} $(body "$r" | jq -c .)"
r=$(bearer "$ALL" one GET /applications/nope/rights)
lw_t_eq "IS: unknown application → no rights" '200 {}' "${r%% *} $(body "$r" | jq -c .)"
r=$(adm one GET /applications/nope/rights)
lw_t_eq "IS: unknown application, admin → 404" 404 "${r%% *}"
r=$(adm one GET /applications/app1/rights)
lw_t_eq "IS: admin key → the application's rights only" "15 0" \
    "$(body "$r" | jq -r '[.rights | length, (map(select(startswith("RIGHT_APPLICATION_") | not)) | length)] | join(" ")')"

# ---- the checker, in another process --------------------------------------------------------
dport=$(lw_t_free_port)
while [ "$dport" = "$port" ]; do dport=$(lw_t_free_port); done
"$driver" --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" --http.listen "127.0.0.1:$dport" \
    --tenancy.identity-server-uri "http://127.0.0.1:$port" --tenancy.access-cache-ttl 1h \
    --tenancy.refresh-interval 1h >"$LW_T_DIR/driver.log" 2>&1 &
LW_T_PIDS+=("$!")
lw_t_wait_for "driver ready" 30 curl -sf -o /dev/null "http://127.0.0.1:$dport/readyz" ||
    { tail -20 "$LW_T_DIR/driver.log" >&2; exit 1; }
lw_t_wait_for "driver assigned lw.is.revocations" 30 grep -q 'partitions assigned' "$LW_T_DIR/driver.log"
# check KEY TENANT TYPE ID [NEED] → "STATUS <rights JSON | error name>"
check() {
    local auth=() r
    [ -n "$1" ] && auth=(-H "Authorization: $1")
    r=$(lw_t_http GET "http://127.0.0.1:$dport/check/$3/$4?need=${5:-}" -H "X-Tenant-ID: $2" "${auth[@]}")
    if [ "${r%% *}" = 200 ]; then
        printf '200 %s' "$(body "$r" | jq -c .rights)"
    else
        lw_t_status_name "$r"
    fi
}
# error_attr KEY TENANT TYPE ID NEED ATTR → the error's attribute
error_attr() {
    lw_t_http GET "http://127.0.0.1:$dport/check/$3/$4?need=$5" -H "X-Tenant-ID: $2" \
        -H "Authorization: Bearer $1" | cut -d' ' -f2- | jq -r ".details[0].attributes.$6"
}
asked() {
    curl -s "http://127.0.0.1:$dport/metrics" |
        awk -v r="result=\"$1\"" '$1 ~ /^lwstack_tenant_access_checks_total/ && index($1, r) { print $2 }' | head -1
}

lw_t_eq "RIGHT_APPLICATION_ALL holds DEVICES_WRITE; rights expanded" "200 15 true" \
    "$(r=$(check "Bearer $ALL" one application app1 RIGHT_APPLICATION_DEVICES_WRITE); echo "${r%% *} $(echo "${r#* }" | jq -r 'length, index("RIGHT_APPLICATION_ALL") != null' | tr '\n' ' ' | sed 's/ $//')")"
lw_t_eq "read key, reading → its rights" '200 ["RIGHT_APPLICATION_DEVICES_READ"]' \
    "$(check "Bearer $READ" one application app1 RIGHT_APPLICATION_DEVICES_READ)"
lw_t_eq "read key, writing → 403 insufficient_application_rights" "403 insufficient_application_rights" \
    "$(check "Bearer $READ" one application app1 RIGHT_APPLICATION_DEVICES_READ,RIGHT_APPLICATION_DEVICES_WRITE)"
lw_t_eq "… naming the missing right and the entity" "RIGHT_APPLICATION_DEVICES_WRITE app1@one" \
    "$(error_attr "$READ" one application app1 RIGHT_APPLICATION_DEVICES_WRITE missing) $(error_attr "$READ" one application app1 RIGHT_APPLICATION_DEVICES_WRITE uid)"
lw_t_eq "gateway key on the application → 403 no_application_rights" "403 no_application_rights" \
    "$(check "Bearer $GW" one application app1 RIGHT_APPLICATION_INFO)"
lw_t_eq "gateway key on its gateway, LINK" '200 ["RIGHT_GATEWAY_INFO","RIGHT_GATEWAY_LINK"]' \
    "$(check "Bearer $GW" one gateway gw1 RIGHT_GATEWAY_LINK)"
lw_t_eq "unknown application → 403 no_application_rights" "403 no_application_rights" \
    "$(check "Bearer $ALL" one application nope RIGHT_APPLICATION_INFO)"
lw_t_eq "no Authorization → 401 unauthenticated" "401 unauthenticated" \
    "$(check "" one application app1 RIGHT_APPLICATION_INFO)"
tampered="${READ%?}A"; [ "$tampered" = "$READ" ] && tampered="${READ%?}B"
lw_t_eq "tampered secret → 401 unauthenticated" "401 unauthenticated" \
    "$(check "Bearer $tampered" one application app1 RIGHT_APPLICATION_INFO)"
lw_t_eq "tenant admin key → every application right" "200 15" \
    "$(r=$(check "TenantAdminKey $LW_T_ADMIN_KEY" one application app1 RIGHT_APPLICATION_DELETE); echo "${r%% *} $(echo "${r#* }" | jq length)")"
lw_t_eq "unserved entity type → 400 invalid_field" "400 invalid_field" \
    "$(check "Bearer $ALL" one client app1 RIGHT_CLIENT_ALL)"
# Tenants: the same application ID in both, each key only in its own.
lw_t_eq "two's key on one's app1 → 401" "401 unauthenticated" \
    "$(check "Bearer $TWO" one application app1 RIGHT_APPLICATION_INFO)"
lw_t_eq "one's key on two's app1 → 401" "401 unauthenticated" \
    "$(check "Bearer $ALL" two application app1 RIGHT_APPLICATION_INFO)"
lw_t_eq "two's key on two's app1 → 200" "200 15" \
    "$(r=$(check "Bearer $TWO" two application app1 RIGHT_APPLICATION_DEVICES_WRITE); echo "${r%% *} $(echo "${r#* }" | jq length)")"

# ---- cache ----------------------------------------------------------------------------------
before=$(asked asked)
cached=$(asked cached)
check "Bearer $READ" one application app1 RIGHT_APPLICATION_DEVICES_READ >/dev/null
check "Bearer $ALL" one application app1 RIGHT_APPLICATION_INFO >/dev/null
check "Bearer $TWO" two application app1 RIGHT_APPLICATION_INFO >/dev/null
lw_t_eq "repeated checks ask the IS nothing" "$before" "$(asked asked)"
lw_t_eq "… and are answered from the cache" "$((cached + 3))" "$(asked cached)"
failed=$(asked failed)
lw_t_eq "errors are not cached: the tampered key asks again" "$((failed + 1))" \
    "$(check "Bearer $tampered" one application app1 RIGHT_APPLICATION_INFO >/dev/null; asked failed)"
lw_t_eq "credentials never in the driver's log" 0 \
    "$(grep -c -e "${READ##*.}" -e "${ALL##*.}" -e "${TWO##*.}" "$LW_T_DIR/driver.log" "$LW_T_DIR/stack.log" | awk -F: '{s+=$2} END {print s}')"

# Concurrent checks of one key share one request to the IS.
read -r GW2_ID GW2 <<<"$(key one /gateways/gw1 '["RIGHT_GATEWAY_INFO"]')"
a0=$(asked asked); s0=$(( $(asked shared) + $(asked cached) ))
pids=()
for i in 1 2 3 4 5 6 7 8; do
    { check "Bearer $GW2" one gateway gw1 RIGHT_GATEWAY_INFO; echo; } >"$LW_T_DIR/par.$i" &
    pids+=("$!")
done
wait "${pids[@]}"
lw_t_eq "8 concurrent checks: all answered" 8 "$(cat "$LW_T_DIR"/par.* | grep -c '^200 \["RIGHT_GATEWAY_INFO"\]$')"
lw_t_eq "… with one request to the IS, the others shared or cached" "$((a0 + 1)) $((s0 + 7))" \
    "$(asked asked) $(( $(asked shared) + $(asked cached) ))"

# ---- revocation -----------------------------------------------------------------------------
# denied_within SECS WANT CHECK-ARGS...: polls the driver until it answers WANT (bounded; the
# answer is cached for an hour, so only lw.is.revocations can change it).
denied_within() {
    local secs=$1 want=$2; shift 2
    local end=$(( $(date +%s%N) + secs * 1000000000 ))
    while [ "$(check "$@")" != "$want" ]; do
        [ "$(date +%s%N)" -gt "$end" ] && return 1
        sleep 0.1
    done
}
r=$(adm one DELETE "/applications/app1/api-keys/$READ_ID")
lw_t_eq "one: delete the read key" 200 "${r%% *}"
denied_within 10 "401 unauthenticated" "Bearer $READ" one application app1 RIGHT_APPLICATION_DEVICES_READ
lw_t_eq "revoked key refused by the driver (cached answer dropped)" "401 unauthenticated" \
    "$(check "Bearer $READ" one application app1 RIGHT_APPLICATION_DEVICES_READ)"
n=$(asked asked)
lw_t_eq "the other keys' answers stay cached" "200 200 $n" \
    "$(a=$(check "Bearer $ALL" one application app1 RIGHT_APPLICATION_INFO); b=$(check "Bearer $TWO" two application app1 RIGHT_APPLICATION_INFO); echo "${a%% *} ${b%% *} $(asked asked)")"
lw_t_eq "narrow key writes (cached)" "200" \
    "$(r=$(check "Bearer $NARROW" one application app1 RIGHT_APPLICATION_DEVICES_WRITE); echo "${r%% *}")"
r=$(adm one PUT "/applications/app1/api-keys/$NARROW_ID" '{"api_key":{"rights":["RIGHT_APPLICATION_DEVICES_READ"]},"field_mask":{"paths":["rights"]}}')
lw_t_eq "one: narrow the key to reading" 200 "${r%% *}"
denied_within 10 "403 insufficient_application_rights" "Bearer $NARROW" one application app1 RIGHT_APPLICATION_DEVICES_WRITE
lw_t_eq "narrowed key: writing refused by the driver" "403 insufficient_application_rights" \
    "$(check "Bearer $NARROW" one application app1 RIGHT_APPLICATION_DEVICES_WRITE)"
lw_t_eq "narrowed key: still reads" '200 ["RIGHT_APPLICATION_DEVICES_READ"]' \
    "$(check "Bearer $NARROW" one application app1 RIGHT_APPLICATION_DEVICES_READ)"
lw_t_eq "two untouched after one's revocations" "200 15" \
    "$(r=$(check "Bearer $TWO" two application app1 RIGHT_APPLICATION_DEVICES_WRITE); echo "${r%% *} $(echo "${r#* }" | jq length)")"
# A deleted application: every answer of the tenant goes (an entity revocation); the IS
# refuses a deleted entity's keys.
r=$(adm one POST /users/admin/applications '{"application":{"ids":{"application_id":"app2"}}}')
read -r APP2_ID APP2 <<<"$(key one /applications/app2 '["RIGHT_APPLICATION_ALL"]')"
lw_t_eq "app2 key (cached)" 200 "$(r=$(check "Bearer $APP2" one application app2 RIGHT_APPLICATION_INFO); echo "${r%% *}")"
r=$(adm one DELETE /applications/app2)
lw_t_eq "one: delete app2" 200 "${r%% *}"
denied_within 10 "401 unauthenticated" "Bearer $APP2" one application app2 RIGHT_APPLICATION_INFO
lw_t_eq "deleted application: its key refused by the driver" "401 unauthenticated" \
    "$(check "Bearer $APP2" one application app2 RIGHT_APPLICATION_INFO)"
lw_t_eq "two still cached and working" "200" \
    "$(r=$(check "Bearer $TWO" two application app1 RIGHT_APPLICATION_INFO); echo "${r%% *}")"

# Collaborator rights: no credential ends, but a changed collaborator drops the tenant's
# cached answers (a revocation naming no key) in the driver.
r=$(adm one POST /users "{\"user\":{\"ids\":{\"user_id\":\"carol\"},\"password\":\"$PASS\",\"primary_email_address\":\"carol@one.example\"}}")
lw_t_eq "one: user carol" 200 "${r%% *}"
read -r CAROL_ID CAROL <<<"$(key one /users/carol '["RIGHT_USER_ALL","RIGHT_APPLICATION_ALL"]')"
r=$(adm one PUT /applications/app1/collaborators '{"collaborator":{"ids":{"user_ids":{"user_id":"carol"}},"rights":["RIGHT_APPLICATION_DEVICES_READ"]}}')
lw_t_eq "one: carol collaborates on app1, reading" 200 "${r%% *}"
lw_t_eq "carol's key: collaborator ∩ key = reading (cached)" '200 ["RIGHT_APPLICATION_DEVICES_READ"]' \
    "$(check "Bearer $CAROL" one application app1 RIGHT_APPLICATION_DEVICES_READ)"
r=$(adm one PUT /applications/app1/collaborators '{"collaborator":{"ids":{"user_ids":{"user_id":"carol"}},"rights":["RIGHT_APPLICATION_DEVICES_READ","RIGHT_APPLICATION_DEVICES_WRITE"]}}')
lw_t_eq "one: carol may write too" 200 "${r%% *}"
denied_within 10 '200 ["RIGHT_APPLICATION_DEVICES_READ","RIGHT_APPLICATION_DEVICES_WRITE"]' "Bearer $CAROL" one application app1 RIGHT_APPLICATION_DEVICES_WRITE
lw_t_eq "the driver sees the new rights" '200 ["RIGHT_APPLICATION_DEVICES_READ","RIGHT_APPLICATION_DEVICES_WRITE"]' \
    "$(check "Bearer $CAROL" one application app1 RIGHT_APPLICATION_DEVICES_WRITE)"
r=$(adm one DELETE /applications/app1/collaborator/user/carol)
lw_t_eq "one: carol removed from app1" 200 "${r%% *}"
denied_within 10 "403 no_application_rights" "Bearer $CAROL" one application app1 RIGHT_APPLICATION_DEVICES_READ
lw_t_eq "removed collaborator: no rights in the driver" "403 no_application_rights" \
    "$(check "Bearer $CAROL" one application app1 RIGHT_APPLICATION_DEVICES_READ)"
lw_t_eq "two untouched by one's collaborator changes" "200" \
    "$(n=$(asked asked); r=$(check "Bearer $TWO" two application app1 RIGHT_APPLICATION_INFO); [ "$(asked asked)" = "$n" ] && echo "${r%% *}")"

# A tenant change (suspended, then approved again) drops the tenant's answers in the driver.
# Anonymous checks tell the driver's view of the tenant without asking the IS.
lw_t_eq "one's answer for the full key cached" "200" \
    "$(r=$(check "Bearer $ALL" one application app1 RIGHT_APPLICATION_INFO); echo "${r%% *}")"
r=$(lw_t_admin PUT "$api/tenants/one" -d '{"tenant":{"state":"STATE_SUSPENDED"},"field_mask":{"paths":["state"]}}')
lw_t_eq "suspend one" 200 "${r%% *}"
denied_within 10 "403 tenant_not_active" "" one application app1 RIGHT_APPLICATION_INFO
r=$(lw_t_admin PUT "$api/tenants/one" -d '{"tenant":{"state":"STATE_APPROVED"},"field_mask":{"paths":["state"]}}')
lw_t_eq "approve one again" 200 "${r%% *}"
denied_within 10 "401 unauthenticated" "" one application app1 RIGHT_APPLICATION_INFO
n=$(asked asked)
lw_t_eq "after the tenant change the driver asks the IS again" "200 $((n + 1))" \
    "$(r=$(check "Bearer $ALL" one application app1 RIGHT_APPLICATION_INFO); echo "${r%% *} $(asked asked)")"
lw_t_eq "two's answer still cached" "200 $((n + 1))" \
    "$(r=$(check "Bearer $TWO" two application app1 RIGHT_APPLICATION_INFO); echo "${r%% *} $(asked asked)")"

# ---- an IS that cannot be reached ----------------------------------------------------------
dead=$(lw_t_free_port)
d2=$(lw_t_free_port)
"$driver" --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" --http.listen "127.0.0.1:$d2" \
    --tenancy.identity-server-uri "http://127.0.0.1:$dead" >"$LW_T_DIR/driver2.log" 2>&1 &
LW_T_PIDS+=("$!")
lw_t_wait_for "driver 2 ready" 30 curl -sf -o /dev/null "http://127.0.0.1:$d2/readyz"
r=$(lw_t_http GET "http://127.0.0.1:$d2/check/application/app1?need=RIGHT_APPLICATION_INFO" -H "X-Tenant-ID: one" -H "Authorization: Bearer $ALL")
lw_t_eq "IS unreachable → 503 unavailable" "503 unavailable" "$(lw_t_status_name "$r")"

lw_t_done
