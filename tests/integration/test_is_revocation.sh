#!/usr/bin/env bash
# Credentials end in every process at once (issue 8 item 2). Two lwstack processes share one
# PostgreSQL and one broker; tenants `charlie` (the one changed) and `delta` (checked
# untouched after every step). The periodic registry reload is an hour and is.auth-cache-ttl
# keeps its default (10 s), so only lw.tenant and lw.is.revocations can end a credential that
# a process has cached within the bounded polls (3 s) below:
#   (a) charlie's token, charlie purged and created again with another admin password: the
#       old token is refused at once by the process that purged and by the other one, and
#       lists none of the new tenant's users;
#   (b) an API key revoked through process one while process two has it cached;
#   (c) a user deleted: its token is refused by both; a token logged out likewise;
#   (d) a tenant suspended: refused by the other process (tenant_not_active).
# A control shows that process two does serve from its cache: a key whose row is deleted
# behind the Identity Server's back still works there.
. "$(dirname "$0")/lib.sh"

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
p1=$(lw_t_free_port)
p2=$(lw_t_free_port)
while [ "$p2" = "$p1" ]; do p2=$(lw_t_free_port); done
common=(--tenancy.refresh-interval 1h)
lw_t_stack one "$p1" "${common[@]}"
lw_t_stack two "$p2" "${common[@]}"
a1="http://127.0.0.1:$p1/api/v3"
a2="http://127.0.0.1:$p2/api/v3"
lw_t_wait_for "process two assigned lw.tenant" 30 grep -q 'partitions assigned' "$LW_T_DIR/two.log"
PASS1='Secret-passw0rd'
PASS2='Other-passw0rd2'

body() { lw_t_body "$@"; }
# on API TOKEN TENANT METHOD PATH [BODY]
on() {
    local a=$1; shift
    local api=$a
    lw_t_bearer "$@"
}
adm_on() { # API TENANT METHOD PATH [BODY]
    local a=$1; shift
    local api=$a
    lw_t_adm "$@"
}
login() { # API TENANT USER PASSWORD → token (empty on failure)
    body "$(lw_t_http POST "$1/auth/login" -H "X-Tenant-ID: $2" -d "{\"user_id\":\"$3\",\"password\":\"$4\"}")" |
        jq -r '.access_token // empty'
}
create_tenant() { # API TENANT PASSWORD
    lw_t_admin POST "$1/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$2\"},\"state\":\"STATE_APPROVED\"},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"$3\",\"primary_email_address\":\"admin@$2.example\"}}"
}
# refused_within SECS API TOKEN TENANT PATH: polls until the request answers 401 (true), or
# gives up after SECS (false). Sets $seen to the statuses answered and the time it took, for
# the log (measured, never asserted: the bound only ends the poll).
refused_within() {
    local secs=$1 a=$2 tok=$3 t=$4 p=$5 start end r
    start=$(date +%s%N)
    end=$(( start + secs * 1000000000 ))
    seen=""
    while :; do
        r=$(on "$a" "$tok" "$t" GET "$p")
        seen="$seen ${r%% *}"
        if [ "${r%% *}" = 401 ]; then
            seen="$seen; refused after $(( ($(date +%s%N) - start) / 1000000 )) ms"
            return 0
        fi
        [ "$(date +%s%N)" -gt "$end" ] && return 1
        sleep 0.05
    done
}
status() { local r; r=$(on "$@"); printf '%s' "${r%% *}"; }
# delta_ok STEP: delta's admin token works on both processes and sees its users
# ($DELTA_USERS), nothing more.
DELTA_USERS=admin
delta_ok() {
    lw_t_eq "$1: delta untouched on process one" "200 $DELTA_USERS" \
        "$(r=$(on "$a1" "$DELTA" delta GET /users); echo "${r%% *} $(body "$r" | jq -r '[.users[].ids.user_id] | join(",")')")"
    lw_t_eq "$1: delta untouched on process two" "200 $DELTA_USERS" \
        "$(r=$(on "$a2" "$DELTA" delta GET /users); echo "${r%% *} $(body "$r" | jq -r '[.users[].ids.user_id] | join(",")')")"
}

for t in charlie delta; do
    r=$(create_tenant "$a1" $t "$PASS1")
    lw_t_eq "create $t through process one" 200 "${r%% *}"
done
lw_t_wait_for "process two knows charlie and delta" 5 bash -c \
    "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Tenant-ID: charlie' $a2/auth_info)\" != 404 ] &&
     [ \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Tenant-ID: delta' $a2/auth_info)\" != 404 ]"
lw_t_ok "process two knows both tenants"
OLD=$(login "$a1" charlie admin "$PASS1")
DELTA=$(login "$a1" delta admin "$PASS1")
lw_t_eq "charlie's admin logs in" 1 "$(printf '%s' "$OLD" | grep -c '^MFRWG\.')"
delta_ok "start"

# ---- (a) purge charlie and create it again ------------------------------------------------
r=$(adm_on "$a1" charlie POST /users '{"user":{"ids":{"user_id":"olduser"},"password":"'"$PASS1"'","state":"STATE_APPROVED"}}')
lw_t_eq "old charlie: a second user" 200 "${r%% *}"
# Cache the old token in both processes (the second call on each is a cache hit).
for a in "$a1" "$a2" "$a1" "$a2"; do
    lw_t_eq "old token works on $a" 200 "$(status "$a" "$OLD" charlie GET /users)"
done
r=$(lw_t_admin DELETE "$a1/tenants/charlie?purge=true")
lw_t_eq "purge charlie through process one" 200 "${r%% *}"
r=$(on "$a1" "$OLD" charlie GET /users)
lw_t_eq "purged: the old token on process one → 404 tenant_not_found" "404 tenant_not_found" "$(lw_t_status_name "$r")"
r=$(create_tenant "$a1" charlie "$PASS2")
lw_t_eq "create charlie again with another admin password" 200 "${r%% *}"
r=$(on "$a1" "$OLD" charlie GET /users)
lw_t_eq "re-created: the old token on process one → 401 at once, no users listed" "401 false" \
    "${r%% *} $(body "$r" | jq 'has("users")')"
r=$(on "$a1" "$OLD" charlie GET /auth_info)
lw_t_eq "re-created: the old token's auth_info on process one → 401" 401 "${r%% *}"
if refused_within 3 "$a2" "$OLD" charlie /users; then
    lw_t_ok "re-created: process two refuses the old token (answers:$seen)"
else
    lw_t_fail "re-created: process two still accepts the old token after 3 s (answers:$seen)"
fi
r=$(on "$a2" "$OLD" charlie GET /users)
lw_t_eq "re-created: the old token on process two → 401, no users listed" "401 false" \
    "${r%% *} $(body "$r" | jq 'has("users")')"
lw_t_eq "the old password no longer logs in" "" "$(login "$a2" charlie admin "$PASS1")"
NEW=$(login "$a2" charlie admin "$PASS2")
lw_t_eq "the new admin password logs in" 1 "$(printf '%s' "$NEW" | grep -c '^MFRWG\.')"
r=$(on "$a1" "$NEW" charlie GET /users)
lw_t_eq "the new tenant has only its own admin" "200 admin" "${r%% *} $(body "$r" | jq -r '[.users[].ids.user_id] | join(",")')"
lw_t_eq "the new token works on process two" 200 "$(status "$a2" "$NEW" charlie GET /users)"
delta_ok "(a)"

# ---- (b) an API key revoked through process one while process two has it cached ----------
r=$(on "$a1" "$NEW" charlie POST /users/admin/applications '{"application":{"ids":{"application_id":"app1"}}}')
lw_t_eq "charlie: create app1" 200 "${r%% *}"
newkey() { # API TOKEN TENANT APP → "id key"
    body "$(on "$1" "$2" "$3" POST "/applications/$4/api-keys" '{"name":"k","rights":["RIGHT_APPLICATION_INFO"]}')" |
        jq -r '.id + " " + .key'
}
read -r KID KEY <<<"$(newkey "$a1" "$NEW" charlie app1)"
read -r CID CKEY <<<"$(newkey "$a1" "$NEW" charlie app1)"
r=$(on "$a1" "$DELTA" delta POST /users/admin/applications '{"application":{"ids":{"application_id":"app1"}}}')
read -r DKID DKEY <<<"$(newkey "$a1" "$DELTA" delta app1)"
for a in "$a2" "$a2" "$a1"; do
    lw_t_eq "charlie's key works on $a" 200 "$(status "$a" "$KEY" charlie GET /applications/app1)"
    lw_t_eq "the control key works on $a" 200 "$(status "$a" "$CKEY" charlie GET /applications/app1)"
    lw_t_eq "delta's key works on $a" 200 "$(status "$a" "$DKEY" delta GET /applications/app1)"
done
# Control: the control key's row goes behind the Identity Server's back (no revocation):
# process two still accepts it, from its cache.
lw_t_psql -c "DELETE FROM t_charlie.api_keys WHERE key_id = '$CID'" >/dev/null
lw_t_eq "control: a key deleted by SQL only is still served from process two's cache" 200 \
    "$(status "$a2" "$CKEY" charlie GET /applications/app1)"
r=$(on "$a1" "$NEW" charlie DELETE "/applications/app1/api-keys/$KID")
lw_t_eq "revoke charlie's key through process one" 200 "${r%% *}"
lw_t_eq "revoked: refused on process one at once" 401 "$(status "$a1" "$KEY" charlie GET /applications/app1)"
if refused_within 3 "$a2" "$KEY" charlie /applications/app1; then
    lw_t_ok "revoked: process two refuses the cached key (answers:$seen)"
else
    lw_t_fail "revoked: process two still accepts the cached key after 3 s (answers:$seen)"
fi
lw_t_eq "delta's key still works on process two" 200 "$(status "$a2" "$DKEY" delta GET /applications/app1)"
lw_t_eq "delta's key still works on process one" 200 "$(status "$a1" "$DKEY" delta GET /applications/app1)"
delta_ok "(b)"

# ---- (c) a user deleted; a token logged out ------------------------------------------------
r=$(adm_on "$a1" charlie POST /users '{"user":{"ids":{"user_id":"bob"},"password":"'"$PASS1"'","state":"STATE_APPROVED"}}')
lw_t_eq "charlie: create bob" 200 "${r%% *}"
r=$(adm_on "$a1" delta POST /users '{"user":{"ids":{"user_id":"bob"},"password":"'"$PASS1"'","state":"STATE_APPROVED"}}')
lw_t_eq "delta: create its own bob" 200 "${r%% *}"
DELTA_USERS=admin,bob
BOB=$(login "$a1" charlie bob "$PASS1")
DBOB=$(login "$a1" delta bob "$PASS1")
BOB2=$(login "$a1" charlie bob "$PASS1")
for a in "$a1" "$a2" "$a1" "$a2"; do
    lw_t_eq "bob's token works on $a" 200 "$(status "$a" "$BOB" charlie GET /users/bob)"
    lw_t_eq "bob's second token works on $a" 200 "$(status "$a" "$BOB2" charlie GET /users/bob)"
    lw_t_eq "delta's bob works on $a" 200 "$(status "$a" "$DBOB" delta GET /users/bob)"
done
r=$(on "$a1" "$BOB2" charlie POST /auth/logout)
lw_t_eq "bob logs his second token out through process one" 200 "${r%% *}"
lw_t_eq "logged out: refused on process one" 401 "$(status "$a1" "$BOB2" charlie GET /users/bob)"
if refused_within 3 "$a2" "$BOB2" charlie /users/bob; then
    lw_t_ok "logged out: process two refuses the token (answers:$seen)"
else
    lw_t_fail "logged out: process two still accepts the token after 3 s (answers:$seen)"
fi
r=$(adm_on "$a1" charlie DELETE /users/bob)
lw_t_eq "delete charlie's bob through process one" 200 "${r%% *}"
lw_t_eq "deleted user: refused on process one" 401 "$(status "$a1" "$BOB" charlie GET /users/bob)"
if refused_within 3 "$a2" "$BOB" charlie /users/bob; then
    lw_t_ok "deleted user: process two refuses his token (answers:$seen)"
else
    lw_t_fail "deleted user: process two still accepts his token after 3 s (answers:$seen)"
fi
lw_t_eq "delta's bob still works on process two" 200 "$(status "$a2" "$DBOB" delta GET /users/bob)"
lw_t_eq "delta's bob still works on process one" 200 "$(status "$a1" "$DBOB" delta GET /users/bob)"
delta_ok "(c)"

# ---- (d) a tenant suspended ------------------------------------------------------------------
lw_t_eq "charlie's token works on process two" 200 "$(status "$a2" "$NEW" charlie GET /users)"
r=$(lw_t_admin PUT "$a1/tenants/charlie" -d '{"tenant":{"state":"STATE_SUSPENDED"},"field_mask":{"paths":["state"]}}')
lw_t_eq "suspend charlie through process one" 200 "${r%% *}"
lw_t_eq "suspended: process one → 403 tenant_not_active" "403 tenant_not_active" \
    "$(lw_t_status_name "$(on "$a1" "$NEW" charlie GET /users)")"
lw_t_wait_for "process two refuses suspended charlie" 3 \
    bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Tenant-ID: charlie' -H 'Authorization: Bearer $NEW' $a2/users)\" = 403 ]" &&
    lw_t_ok "suspended: process two refuses charlie within 3 s" ||
    lw_t_fail "suspended: process two still serves charlie after 3 s"
lw_t_eq "suspended: process two → 403 tenant_not_active" "403 tenant_not_active" \
    "$(lw_t_status_name "$(on "$a2" "$NEW" charlie GET /users)")"
delta_ok "(d)"

lw_t_done
