#!/usr/bin/env bash
# Rate limits (issue 8 item 3): logins per user, per client address and per tenant answer 429
# rate_limit_exceeded (The Things Stack's pkg/ratelimit error) with Retry-After; a tenant's
# password hashes get a bounded share of the worker pool, so a flood on tenant alpha neither
# queues nor slows bravo's logins; requests per tenant and per API key are limited too, and
# counted in lwstack_ratelimit_*_total{class}. Four processes on one database, each with the
# limits one check needs (small ones, so that windows pass in seconds):
#   def   the defaults: the issue's reproduction (60 wrong logins, then the right one)
#   lim   per user 3/15s, per tenant 8/5m, per address 12/10m
#   fair  2 workers, 1 hash per tenant, slow hashes for unknown users, no rate limits
#   api   30/5m per tenant, 5/1m per API key, per address 2/10m behind trusted proxies
# A limit of N/PERIOD burst N lets N through at once and one more every PERIOD/N: the
# periods are long enough that no request of a check falls past the first PERIOD/N.
. "$(dirname "$0")/lib.sh"

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
PASS='Secret-passw0rd!'

p_def=$(lw_t_free_port)
lw_t_stack def "$p_def"
api="http://127.0.0.1:$p_def/api/v3"
for t in alpha bravo; do
    r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$t\"},\"state\":\"STATE_APPROVED\"},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"$PASS\"}}")
    lw_t_eq "create tenant $t → 200" 200 "${r%% *}"
done
r=$(lw_t_adm alpha POST /users "{\"user\":{\"ids\":{\"user_id\":\"carol\"},\"password\":\"$PASS\"}}")
lw_t_eq "create alpha/carol → 200" 200 "${r%% *}"
# The other processes read the registry from PostgreSQL when they start.
p_lim=$(lw_t_free_port)
lw_t_stack lim "$p_lim" --is.rate-limit.login.per-user "3/15s" \
    --is.rate-limit.login.per-tenant "8/5m" --is.rate-limit.login.per-address "12/10m"
p_fair=$(lw_t_free_port)
lw_t_stack fair "$p_fair" --runtime.workers 2 --is.rate-limit.login.hashing-per-tenant 1 \
    --is.password.iterations 2000000 --is.rate-limit.login.per-user 0 \
    --is.rate-limit.login.per-address 0 --is.rate-limit.login.per-tenant 0
p_api=$(lw_t_free_port)
lw_t_stack api "$p_api" --tenancy.rate-limit.requests-per-tenant "30/5m" \
    --is.rate-limit.per-api-key "5/1m" --is.rate-limit.login.per-address "2/10m" \
    --is.rate-limit.trusted-proxies "127.0.0.1,192.0.2.1"

# login PORT TENANT USER PASSWORD: "STATUS BODY"
login() {
    lw_t_http POST "http://127.0.0.1:$1/api/v3/auth/login" -H "X-Tenant-ID: $2" \
        -d "{\"user_id\":\"$3\",\"password\":\"$4\"}"
}
# login_h PORT TENANT USER PASSWORD: the status and the Retry-After header's value.
login_h() {
    curl -s -o /dev/null -D - -w '%{http_code}\n' -X POST "http://127.0.0.1:$1/api/v3/auth/login" \
        -H "X-Tenant-ID: $2" -d "{\"user_id\":\"$3\",\"password\":\"$4\"}" |
        tr -d '\r' | awk 'tolower($1) == "retry-after:" { ra = $2 } /^[0-9]+$/ { s = $1 } END { print s, ra }'
}
attr() { lw_t_body "$1" | jq -r ".details[0].attributes.$2 // empty"; }
shape() { lw_t_body "$1" | jq -r '[.details[0].namespace, .details[0].name, .code] | join(" ")'; }
metric() { curl -s "http://127.0.0.1:$1/metrics" | sed -nE "s/^$2\{class=\"$3\"\} ([0-9]+).*/\1/p"; }

# ---- the issue's reproduction, with the defaults: 60 wrong logins, then the right one -------
codes=""
for i in $(seq 1 60); do
    r=$(login "$p_def" alpha admin "wrong-$i")
    codes="$codes ${r%% *}"
done
lw_t_eq "60 wrong logins (defaults: 10/1m burst 5 per user): 5 × 401, then 55 × 429" "5 55" \
    "$(echo $codes | tr ' ' '\n' | grep -c 401) $(echo $codes | tr ' ' '\n' | grep -c 429)"
r=$(login "$p_def" alpha admin "$PASS")
lw_t_eq "the right password while limited → 429 rate_limit_exceeded" "429 rate_limit_exceeded" \
    "$(lw_t_status_name "$r")"
lw_t_eq "... in The Things Stack's shape (pkg/ratelimit, code 8 ResourceExhausted)" \
    "pkg/ratelimit rate_limit_exceeded 8" "$(shape "$r")"
lw_t_eq "... naming the user's key and the rate per minute" "is:login:user:alpha/admin 10" \
    "$(attr "$r" key) $(attr "$r" rate)"
lw_t_eq "bravo/admin meanwhile → 200" 200 "$(login "$p_def" bravo admin "$PASS" | cut -d' ' -f1)"
lw_t_eq "alpha/carol meanwhile → 200" 200 "$(login "$p_def" alpha carol "$PASS" | cut -d' ' -f1)"

lw_t_eq "lwstack_ratelimit_exceeded_total{class=login_user} = 56" 56 \
    "$(metric "$p_def" lwstack_ratelimit_exceeded_total login_user)"

# ---- per user, per tenant, per address (lim) -----------------------------------------------
for i in 1 2 3; do
    lw_t_eq "lim: wrong login $i of alpha/admin → 401" 401 \
        "$(login "$p_lim" alpha admin "wrong-$i" | cut -d' ' -f1)"
done
out=$(login_h "$p_lim" alpha admin "$PASS")
ra=${out#* }
lw_t_eq "lim: the right password, limited → 429 with Retry-After 1..5 s (got $ra)" "429 1" \
    "${out%% *} $(( ra >= 1 && ra <= 5 ))"
lw_t_eq "lim: alpha/carol → 200 (another user)" 200 "$(login "$p_lim" alpha carol "$PASS" | cut -d' ' -f1)"
lw_t_eq "lim: carol's success does not reset admin's count → 429" 429 \
    "$(login "$p_lim" alpha admin "$PASS" | cut -d' ' -f1)"
lw_t_eq "lim: bravo/admin → 200 (another tenant)" 200 "$(login "$p_lim" bravo admin "$PASS" | cut -d' ' -f1)"
sleep "$ra"
lw_t_eq "lim: after Retry-After the right password → 200" 200 \
    "$(login "$p_lim" alpha admin "$PASS" | cut -d' ' -f1)"
# alpha has counted 5 (3 wrong, carol, admin): 3 more users, then the tenant is at 8.
for u in dave erin frank; do login "$p_lim" alpha "$u" "$PASS" >/dev/null; done
r=$(login "$p_lim" alpha gina "$PASS")
lw_t_eq "lim: alpha's 9th login within five minutes → 429 naming the tenant" \
    "429 rate_limit_exceeded is:login:tenant:alpha" "$(lw_t_status_name "$r") $(attr "$r" key)"
lw_t_eq "lim: bravo/admin still → 200" 200 "$(login "$p_lim" bravo admin "$PASS" | cut -d' ' -f1)"
# The address has counted 10 (alpha 8 and bravo 2; refused attempts count nowhere): 2 more
# logins, then the 13th within ten minutes is refused whatever the tenant and user.
login "$p_lim" bravo u1 "$PASS" >/dev/null
login "$p_lim" bravo u2 "$PASS" >/dev/null
r=$(login "$p_lim" bravo u3 "$PASS")
lw_t_eq "lim: the address's 13th login → 429 naming the address" \
    "429 rate_limit_exceeded is:login:address:127.0.0.1" "$(lw_t_status_name "$r") $(attr "$r" key)"
for c in login_user:2 login_tenant:1 login_address:1; do
    lw_t_eq "lim: lwstack_ratelimit_exceeded_total{class=${c%:*}} = ${c#*:}" "${c#*:}" \
        "$(metric "$p_lim" lwstack_ratelimit_exceeded_total "${c%:*}")"
done

# ---- fairness (fair: 2 workers, at most 1 of a tenant's hashes in them) ---------------------
# 16 logins of unknown alpha users at once, each a 2,000,000-iteration hash: one is hashed,
# the others are refused at once instead of queueing; bravo's login meanwhile finds a free
# worker. (Before: all 16 queue, bravo's waits behind 8 rounds of them.)
flood_pids=""
for i in $(seq 1 16); do
    (login "$p_fair" alpha "ghost$i" "$PASS" | cut -d' ' -f1 >"$LW_T_DIR/flood.$i") &
    flood_pids="$flood_pids $!"
done
sleep 0.5
r=$(login "$p_fair" bravo admin "$PASS")
hashed_before=$(cat "$LW_T_DIR"/flood.* 2>/dev/null | grep -c '^401$' || true)
lw_t_eq "fair: bravo/admin during alpha's flood → 200" 200 "${r%% *}"
# Queued behind alpha's 16 hashes on 2 workers, bravo's would be answered after most of them;
# with one place per tenant at most alpha's one hash can have been answered before it.
lw_t_eq "fair: ... not queued behind alpha's hashes (alpha's answered hashes then: at most 1)" 1 \
    "$(( hashed_before <= 1 ))"
wait $flood_pids
flood=$(cat "$LW_T_DIR"/flood.* | sort | uniq -c | awk '{ printf "%s×%s ", $2, $1 }')
lw_t_eq "fair: alpha's 16 concurrent logins: 1 hashed (401), 15 refused (429)" "401×1 429×15 " "$flood"
lw_t_eq "fair: lwstack_ratelimit_exceeded_total{class=login_hashing} = 15" 15 \
    "$(metric "$p_fair" lwstack_ratelimit_exceeded_total login_hashing)"
r=$(login "$p_fair" alpha admin "$PASS")
lw_t_eq "fair: once the flood is over alpha/admin → 200 (the place was given back)" 200 "${r%% *}"

# ---- the rest of the API (api: 30/5m per tenant, 5/1m per API key) --------------------------
api="http://127.0.0.1:$p_api/api/v3"
r=$(lw_t_adm alpha POST /users/admin/api-keys '{"name":"k","rights":["RIGHT_USER_INFO"]}')
lw_t_eq "api: create a user API key → 200" 200 "${r%% *}"
KEY=$(lw_t_body "$r" | jq -r .key)
KEY_ID=$(lw_t_body "$r" | jq -r .id)
for i in 1 2 3 4 5; do
    lw_t_eq "api: request $i with the key → 200" 200 "$(lw_t_bearer "$KEY" alpha GET /auth_info | cut -d' ' -f1)"
done
r=$(lw_t_bearer "$KEY" alpha GET /auth_info)
lw_t_eq "api: the key's 6th request within the minute → 429 naming the key" \
    "429 rate_limit_exceeded is:api-key:alpha/$KEY_ID" "$(lw_t_status_name "$r") $(attr "$r" key)"
lw_t_eq "api: another credential of alpha (admin key) → 200" 200 \
    "$(lw_t_adm alpha GET /users/admin | cut -d' ' -f1)"
# alpha has counted 8 (key create, 6 with the key, 1 admin); 22 more, then one over.
for i in $(seq 1 22); do lw_t_adm alpha GET /users/admin >/dev/null; done
out=$(curl -s -D - -o "$LW_T_DIR/api.body" -H "X-Tenant-ID: alpha" \
    -H "Authorization: TenantAdminKey $LW_T_ADMIN_KEY" "$api/users/admin" | tr -d '\r')
out=$(printf '%s\n' "$out" | awk 'NR == 1 { s = $2 } tolower($1) == "retry-after:" { ra = $2 } END { print s, ra }')
ra=${out#* }
lw_t_eq "api: alpha's 31st request → 429 with Retry-After 1..10 s (got $ra)" "429 1" \
    "${out%% *} $(( ra >= 1 && ra <= 10 ))"
lw_t_eq "api: ... naming the tenant and its rate per minute" "rate_limit_exceeded tenant:alpha 6" \
    "$(jq -r '[.details[0].name, .details[0].attributes.key, (.details[0].attributes.rate | tostring)] | join(" ")' "$LW_T_DIR/api.body")"
lw_t_eq "api: bravo meanwhile → 200" 200 "$(lw_t_adm bravo GET /users/admin | cut -d' ' -f1)"
lw_t_eq "api: lwstack_ratelimit_exceeded_total{class=api_tenant} = 1" 1 \
    "$(metric "$p_api" lwstack_ratelimit_exceeded_total api_tenant)"
lw_t_eq "api: lwstack_ratelimit_exceeded_total{class=api_key} = 1" 1 \
    "$(metric "$p_api" lwstack_ratelimit_exceeded_total api_key)"

# Behind trusted proxies (127.0.0.1 and 192.0.2.1) the address is the rightmost
# X-Forwarded-For entry that is not one; what the client wrote left of it is not believed.
xlogin() { # X-Forwarded-For value
    lw_t_http POST "$api/auth/login" -H "X-Tenant-ID: bravo" -H "X-Forwarded-For: $1" \
        -d "{\"user_id\":\"admin\",\"password\":\"$PASS\"}"
}
lw_t_eq "api: login via proxies for 198.51.100.7 → 200" 200 "$(xlogin "198.51.100.7, 192.0.2.1" | cut -d' ' -f1)"
lw_t_eq "api: again, a forged entry on the left → 200" 200 "$(xlogin "203.0.113.9, 198.51.100.7" | cut -d' ' -f1)"
r=$(xlogin "203.0.113.10, 198.51.100.7")
lw_t_eq "api: 198.51.100.7's 3rd login → 429 naming that address" \
    "429 rate_limit_exceeded is:login:address:198.51.100.7" "$(lw_t_status_name "$r") $(attr "$r" key)"
lw_t_eq "api: 198.51.100.8 through the same proxy → 200" 200 "$(xlogin "198.51.100.8" | cut -d' ' -f1)"

# ---- configuration ------------------------------------------------------------------------
out=$("$LWSTACK_BIN" --is.rate-limit.login.per-user "ten a minute" config 2>&1 || true)
lw_t_eq "a malformed rate is refused naming the key" 1 \
    "$(printf '%s' "$out" | grep -c 'is.rate-limit.login.per-user')"
lw_t_eq "config --docs lists the rate limit keys" 7 \
    "$("$LWSTACK_BIN" config --docs 2>/dev/null | grep -cE 'is\.rate-limit\.(login\.per-user|login\.per-address|login\.per-tenant|login\.hashing-per-tenant|per-api-key|trusted-proxies)|tenancy\.rate-limit\.requests-per-tenant')"

lw_t_done
