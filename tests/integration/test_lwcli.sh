#!/usr/bin/env bash
# lwcli end to end against a running lwstack (issue 4, item 8): with the tenant admin key it
# creates two tenants (each with its first admin user), logs in, creates an application, a
# device and an API key, lists them as tables and as JSON, uses the key, and checks the
# error paths: duplicate (exit 1, `error: already_exists: ...`), missing rights, tenant
# limit, unknown flag and missing argument (exit 2 with usage), unreachable server (exit 1
# naming the URL), no credentials after logout. The second tenant is checked untouched.
. "$(dirname "$0")/lib.sh"

: "${LWCLI_BIN:?LWCLI_BIN must point at the lwcli executable}"
[ -x "$LWCLI_BIN" ] || { echo "lwcli not found at $LWCLI_BIN" >&2; exit 1; }

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
lw_t_stack stack "$port"

# lwcli talks to this stack only, keeps its token in the test's folder, and takes no
# settings from the caller's environment.
unset LWCLI_TENANT LWCLI_API_KEY LWCLI_TENANT_ADMIN_KEY
export LWCLI_URL="http://127.0.0.1:$port"
export XDG_CONFIG_HOME="$LW_T_DIR/config"
ADMIN=(--tenant-admin-key "$LW_T_ADMIN_KEY")
PASSWORD='Lw-Test-Passw0rd!'

# ---- tenants (TenantAdminKey) -----------------------------------------------------------

LW_T_CLI_IN=$PASSWORD lw_t_cli "${ADMIN[@]}" tenants create acme --name Acme --state approved \
    --max-applications 3 --initial-user-id admin --initial-user-email admin@acme.test \
    --initial-user-password-stdin
lw_t_eq "tenants create acme → exit 0" "0 " "$LW_T_RC $LW_T_ERR"
lw_t_eq "tenants create acme prints its ID" acme "$(lw_t_kv ids.tenant_id)"
lw_t_eq "tenants create acme prints its name" Acme "$(lw_t_kv name)"
lw_t_eq "tenants create acme prints its state" STATE_APPROVED "$(lw_t_kv state)"
LW_T_CLI_IN=$PASSWORD lw_t_cli "${ADMIN[@]}" --json tenants create globex --name Globex \
    --state STATE_APPROVED --max-applications 1 --initial-user-id boss \
    --initial-user-password-stdin
lw_t_eq "tenants create globex --json → exit 0" 0 "$LW_T_RC"
lw_t_eq "tenants create globex --json prints the server's JSON" "globex Globex" \
    "$(printf '%s' "$LW_T_OUT" | jq -r '"\(.ids.tenant_id) \(.name)"')"
unset LW_T_CLI_IN

lw_t_cli "${ADMIN[@]}" tenants create acme
lw_t_eq "duplicate tenant → exit 1" 1 "$LW_T_RC"
lw_t_eq "duplicate tenant error line" "error: already_exists:" "$(lw_t_cli_err)"

lw_t_cli "${ADMIN[@]}" tenants list --order tenant_id
lw_t_eq "tenants list → exit 0" 0 "$LW_T_RC"
lw_t_eq "tenants list table" "ID      NAME    STATE           CREATED
acme    Acme    STATE_APPROVED  TIME
globex  Globex  STATE_APPROVED  TIME" "$(printf '%s\n' "$LW_T_OUT" | lw_t_times)"
lw_t_eq "tenants list prints X-Total-Count on stderr" "total: 2" "$LW_T_ERR"

lw_t_cli tenants list
lw_t_eq "tenants list without the admin key → exit 2" 2 "$LW_T_RC"
lw_t_eq "tenants list without the admin key says so" \
    "error: this command needs --tenant-admin-key (or LWCLI_TENANT_ADMIN_KEY)" "$LW_T_ERR"

# ---- login ------------------------------------------------------------------------------

LW_T_CLI_IN=$PASSWORD lw_t_cli --tenant acme login --user-id admin
lw_t_eq "login → exit 0" 0 "$LW_T_RC"
lw_t_eq "login says who" "logged in as admin in tenant acme" "${LW_T_OUT%%,*}"
token_file="$XDG_CONFIG_HOME/lwcli/token-acme"
lw_t_eq "token file is private (0600)" 600 "$(stat -c %a "$token_file" 2>/dev/null)"
lw_t_eq "token file holds an access token" MFRWG \
    "$(jq -r '.access_token' "$token_file" 2>/dev/null | cut -d. -f1)"
lw_t_eq "login never prints the token unasked" 0 "$(printf '%s\n%s' "$LW_T_OUT" "$LW_T_ERR" | grep -c MFRWG || true)"
LW_T_CLI_IN='wrong-password' lw_t_cli --tenant acme login --user-id admin
lw_t_eq "login with a wrong password → exit 1" 1 "$LW_T_RC"
lw_t_eq "failed login leaves the stored token" MFRWG \
    "$(jq -r '.access_token' "$token_file" 2>/dev/null | cut -d. -f1)"
unset LW_T_CLI_IN

# ---- applications (logged-in user of acme; TenantAdminKey in globex) --------------------

lw_t_cli --tenant acme applications create app1 --name "First app" --description "made by lwcli"
lw_t_eq "applications create app1 → exit 0" "0 " "$LW_T_RC $LW_T_ERR"
lw_t_eq "applications create prints the ID" app1 "$(lw_t_kv ids.application_id)"
lw_t_eq "applications create prints the name" "First app" "$(lw_t_kv name)"

lw_t_cli --tenant acme applications create app1 --name again
lw_t_eq "duplicate application → exit 1" 1 "$LW_T_RC"
lw_t_eq "duplicate application → error: already_exists" "error: already_exists:" \
    "$(lw_t_cli_err)"
lw_t_eq "duplicate application prints nothing on stdout" "" "$LW_T_OUT"

lw_t_cli "${ADMIN[@]}" --tenant globex applications create app1 --user-id boss --name "Globex app"
lw_t_eq "the same application ID in globex → exit 0" "0 " "$LW_T_RC $LW_T_ERR"
lw_t_cli "${ADMIN[@]}" --tenant globex applications create app2 --user-id boss
lw_t_eq "globex's second application → exit 1 (max_applications 1)" 1 "$LW_T_RC"
lw_t_eq "globex's second application → error: tenant_entity_limit" "error: tenant_entity_limit:" \
    "$(lw_t_cli_err)"

lw_t_cli --tenant acme applications create app2
lw_t_cli --tenant acme applications create app3 --name Third
lw_t_cli --tenant acme applications list --order application_id
lw_t_eq "applications list → exit 0" 0 "$LW_T_RC"
lw_t_eq "applications list table" "ID    NAME       CREATED
app1  First app  TIME
app2             TIME
app3  Third      TIME" "$(printf '%s\n' "$LW_T_OUT" | lw_t_times)"
lw_t_eq "applications list total" "total: 3" "$LW_T_ERR"
lw_t_cli --tenant acme applications list --order application_id --limit 1 --page 2
lw_t_eq "applications list page 2 of 1" "ID    NAME  CREATED
app2        TIME" "$(printf '%s\n' "$LW_T_OUT" | lw_t_times)"
lw_t_eq "applications list page 2 total" "total: 3" "$LW_T_ERR"
lw_t_cli --tenant acme --json applications list --order application_id
lw_t_eq "applications list --json" '["app1","app2","app3"]' \
    "$(printf '%s' "$LW_T_OUT" | jq -c '[.applications[].ids.application_id]')"
lw_t_cli --tenant acme applications get app1
lw_t_eq "applications get shows the description (field mask)" "made by lwcli" "$(lw_t_kv description)"
lw_t_cli --tenant acme applications update app1 --name Renamed
lw_t_eq "applications update → exit 0" 0 "$LW_T_RC"
lw_t_cli --tenant acme --json applications get app1
lw_t_eq "update changed the name only" "Renamed|made by lwcli" \
    "$(printf '%s' "$LW_T_OUT" | jq -r '"\(.name)|\(.description)"')"
lw_t_cli --tenant acme applications update app1
lw_t_eq "update without fields → exit 2" 2 "$LW_T_RC"

# ---- end devices ------------------------------------------------------------------------

lw_t_cli --tenant acme end-devices create app1 dev1 --dev-eui 70B3D57ED0000001 \
    --join-eui 0000000000000001 --name "Sensor 1" --frequency-plan-id EU_863_870_TTN \
    --lorawan-version 1.0.3 --lorawan-phy-version 1.0.3-a
lw_t_eq "end-devices create → exit 0" "0 " "$LW_T_RC $LW_T_ERR"
lw_t_eq "end-devices create prints the device ID" dev1 "$(lw_t_kv ids.device_id)"
lw_t_cli --tenant acme end-devices list app1
lw_t_eq "end-devices list table" "ID    DEV EUI           JOIN EUI          NAME      CREATED
dev1  70B3D57ED0000001  0000000000000001  Sensor 1  TIME" "$(printf '%s\n' "$LW_T_OUT" | lw_t_times)"
lw_t_eq "end-devices list total" "total: 1" "$LW_T_ERR"
lw_t_cli --tenant acme --json end-devices get app1 dev1
lw_t_eq "end-devices get --json (versions as enum names)" \
    "Sensor 1|EU_863_870_TTN|MAC_V1_0_3|PHY_V1_0_3_REV_A" \
    "$(printf '%s' "$LW_T_OUT" | jq -r '"\(.name)|\(.frequency_plan_id)|\(.lorawan_version)|\(.lorawan_phy_version)"')"
lw_t_cli "${ADMIN[@]}" --tenant globex end-devices create app1 dev9 --dev-eui 70B3D57ED0000001 \
    --join-eui 0000000000000001
lw_t_eq "the same JoinEUI/DevEUI in globex → exit 1" 1 "$LW_T_RC"
lw_t_eq "the same JoinEUI/DevEUI in globex → error: already_exists" "error: already_exists:" \
    "$(lw_t_cli_err)"

# ---- API keys ---------------------------------------------------------------------------

lw_t_cli --tenant acme applications api-keys create app1 --name ci-key \
    --right-application-devices-read --right RIGHT_APPLICATION_INFO
lw_t_eq "api-keys create → exit 0" 0 "$LW_T_RC"
key=$(lw_t_kv key)
key_id=$(lw_t_kv id)
lw_t_eq "api-keys create prints the key once" NNSXS "${key%%.*}"
lw_t_eq "the key's middle part is its ID" "$key_id" "$(printf '%s' "$key" | cut -d. -f2)"
lw_t_eq "api-keys create tells to store the key" \
    "note: the key is shown only this once; store it now" "$LW_T_ERR"
lw_t_cli --tenant acme applications api-keys list app1
lw_t_eq "api-keys list → exit 0" 0 "$LW_T_RC"
lw_t_eq "api-keys list shows the key's ID and name" "$key_id ci-key" \
    "$(printf '%s\n' "$LW_T_OUT" | sed -n 2p | awk '{print $1, $2}')"
lw_t_eq "api-keys list header" "ID NAME RIGHTS CREATED EXPIRES" \
    "$(printf '%s\n' "$LW_T_OUT" | head -1 | tr -s ' ')"
lw_t_eq "api-keys list never shows the secret" 0 "$(printf '%s' "$LW_T_OUT" | grep -cF -- "${key:-no key}" || true)"
lw_t_cli --tenant acme --json applications api-keys list app1
lw_t_eq "api-keys list --json rights" '["RIGHT_APPLICATION_DEVICES_READ","RIGHT_APPLICATION_INFO"]' \
    "$(printf '%s' "$LW_T_OUT" | jq -c '.api_keys[0].rights | sort')"

lw_t_cli --tenant acme --api-key "$key" end-devices list app1
lw_t_eq "the key lists devices" "dev1" "$(printf '%s\n' "$LW_T_OUT" | sed -n 2p | awk '{print $1}')"
lw_t_cli --tenant acme --api-key "$key" end-devices create app1 dev2 --dev-eui 70B3D57ED0000002 \
    --join-eui 0000000000000001
lw_t_eq "the read-only key cannot create a device → exit 1" 1 "$LW_T_RC"
lw_t_eq "the refusal names the missing rights" "error: insufficient_application_rights:" \
    "$(lw_t_cli_err)"
lw_t_eq "the refusal does not echo the key" 0 "$(printf '%s' "$LW_T_ERR" | grep -cF -- "${key:-no key}" || true)"
lw_t_cli --tenant globex --api-key "$key" end-devices list app1
lw_t_eq "acme's key on globex → exit 1" 1 "$LW_T_RC"
lw_t_eq "acme's key on globex shows no data" "" "$LW_T_OUT"

# ---- the other tenant is untouched ------------------------------------------------------

lw_t_cli "${ADMIN[@]}" --tenant globex applications list
lw_t_eq "globex has only its own application" "ID    NAME        CREATED
app1  Globex app  TIME" "$(printf '%s\n' "$LW_T_OUT" | lw_t_times)"
lw_t_cli "${ADMIN[@]}" --tenant globex end-devices list app1
lw_t_eq "globex's app1 has no device" "ID  DEV EUI  JOIN EUI  NAME  CREATED" "$LW_T_OUT"
lw_t_eq "globex's device total" "total: 0" "$LW_T_ERR"

# ---- usage and connection errors --------------------------------------------------------

lw_t_cli --tenant acme applications list --bogus
lw_t_eq "unknown flag → exit 2" 2 "$LW_T_RC"
lw_t_eq "unknown flag is named" "error: unknown flag --bogus" "$(printf '%s\n' "$LW_T_ERR" | head -1)"
lw_t_eq "unknown flag → usage" "usage: lwcli applications list [flags]" \
    "$(printf '%s\n' "$LW_T_ERR" | sed -n 2p)"
lw_t_cli --tenant acme applications create
lw_t_eq "missing ID → exit 2" 2 "$LW_T_RC"
lw_t_eq "missing ID is named" "error: missing --application-id" "$(printf '%s\n' "$LW_T_ERR" | head -1)"
lw_t_cli frobnicate
lw_t_eq "unknown command → exit 2" 2 "$LW_T_RC"
lw_t_eq "unknown command is named" "error: unknown command \`frobnicate\`" \
    "$(printf '%s\n' "$LW_T_ERR" | head -1)"
lw_t_cli --url http://127.0.0.1:1 --tenant acme applications list
lw_t_eq "unreachable server → exit 1" 1 "$LW_T_RC"
lw_t_eq "unreachable server names the URL" "error: request to http://127.0.0.1:1 failed:" \
    "$(printf '%s\n' "$LW_T_ERR" | cut -d' ' -f1-5)"

# ---- logout, tenant deletion ------------------------------------------------------------

lw_t_cli --tenant acme logout
lw_t_eq "logout → exit 0" "0 logged out" "$LW_T_RC $LW_T_OUT"
lw_t_eq "logout removes the token file" no "$([ -e "$token_file" ] && echo yes || echo no)"
lw_t_cli --tenant acme applications list
lw_t_eq "no credentials after logout → exit 1" 1 "$LW_T_RC"
lw_t_eq "no credentials → error: unauthenticated" "error: unauthenticated:" \
    "$(lw_t_cli_err)"

lw_t_cli "${ADMIN[@]}" tenants delete globex --purge
lw_t_eq "tenants delete --purge → exit 0" "0" "$LW_T_RC"
lw_t_cli "${ADMIN[@]}" tenants get globex
lw_t_eq "purged tenant → error: tenant_not_found" "1 error: tenant_not_found:" \
    "$LW_T_RC $(printf '%s' "$LW_T_ERR" | head -1 | cut -d' ' -f1-2)"
lw_t_cli "${ADMIN[@]}" tenants get acme
lw_t_eq "acme is still there" "0 acme" "$LW_T_RC $(lw_t_kv ids.tenant_id)"

# No command ever printed the password.
lw_t_eq "the password never appears in lwcli's output" 0 "$(grep -c -- "$PASSWORD" "$LW_T_DIR/cli.log" || true)"

lw_t_done
