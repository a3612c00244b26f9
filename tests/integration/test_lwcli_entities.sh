#!/usr/bin/env bash
# lwcli over the rest of the Identity Server's API (issue 4, item 8), with the tenant admin
# key: users, organizations, gateways (an EUI belongs to one tenant), collaborators, API key
# update and revocation, field-masked updates, device delete (ID and EUIs free again at
# once), application delete/restore/purge. Two tenants; the second is checked untouched.
. "$(dirname "$0")/lib.sh"

: "${LWCLI_BIN:?LWCLI_BIN must point at the lwcli executable}"
[ -x "$LWCLI_BIN" ] || { echo "lwcli not found at $LWCLI_BIN" >&2; exit 1; }

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
lw_t_stack stack "$port"

unset LWCLI_TENANT LWCLI_API_KEY
export LWCLI_URL="http://127.0.0.1:$port"
export XDG_CONFIG_HOME="$LW_T_DIR/config"
export LWCLI_TENANT_ADMIN_KEY="$LW_T_ADMIN_KEY"
PASSWORD='Lw-Test-Passw0rd!'

ids() { printf '%s\n' "$LW_T_OUT" | sed 1d | awk '{print $1}' | paste -sd' '; }

LW_T_CLI_IN=$PASSWORD lw_t_cli tenants create one --state approved --initial-user-id owner1 \
    --initial-user-password-stdin
lw_t_eq "tenant one → exit 0" "0 " "$LW_T_RC $LW_T_ERR"
LW_T_CLI_IN=$PASSWORD lw_t_cli tenants create two --state approved --initial-user-id owner2 \
    --initial-user-password-stdin
lw_t_eq "tenant two → exit 0" "0 " "$LW_T_RC $LW_T_ERR"

# ---- users ------------------------------------------------------------------------------

LW_T_CLI_IN=$PASSWORD lw_t_cli --tenant one users create alice --name Alice \
    --primary-email-address alice@one.test --password-stdin
lw_t_eq "users create alice → exit 0" "0 alice" "$LW_T_RC $(lw_t_kv ids.user_id)"
lw_t_eq "users create never shows the password" "" "$(lw_t_kv password)"
lw_t_cli --tenant one users create bob
lw_t_eq "users create without a password → refused by the server" 1 "$LW_T_RC"
lw_t_cli --tenant one users list --order user_id
lw_t_eq "users list IDs" "alice owner1" "$(ids)"
lw_t_eq "users list header" "ID NAME EMAIL ADMIN STATE CREATED" \
    "$(printf '%s\n' "$LW_T_OUT" | head -1 | tr -s ' ')"
lw_t_cli --tenant one users get alice
lw_t_eq "users get shows the email (field mask)" alice@one.test "$(lw_t_kv primary_email_address)"

# ---- organizations and collaborators ----------------------------------------------------

lw_t_cli --tenant one organizations create org1 --user-id alice --name "Org One"
lw_t_eq "organizations create → exit 0" "0 org1" "$LW_T_RC $(lw_t_kv ids.organization_id)"
lw_t_cli --tenant one organizations create alice --user-id owner1
lw_t_eq "an organization cannot take a user's ID → error: already_exists" \
    "1 error: already_exists:" "$LW_T_RC $(lw_t_cli_err)"
lw_t_cli --tenant one organizations list
lw_t_eq "organizations list" "ID    NAME     CREATED
org1  Org One  TIME" "$(printf '%s\n' "$LW_T_OUT" | lw_t_times)"

lw_t_cli --tenant one applications create app1 --organization-id org1 --name "Org app"
lw_t_eq "applications create for an organization → exit 0" "0 app1" \
    "$LW_T_RC $(lw_t_kv ids.application_id)"
lw_t_cli --tenant one applications list --organization-id org1
lw_t_eq "applications list of the organization" "app1" "$(ids)"
lw_t_cli --tenant one applications collaborators set app1 --user-id owner1 \
    --right-application-info --right RIGHT_APPLICATION_DEVICES_READ
lw_t_eq "collaborators set → exit 0" "0 " "$LW_T_RC $LW_T_ERR"
lw_t_cli --tenant one --json applications collaborators get app1 --user-id owner1
lw_t_eq "collaborators get --json" '["RIGHT_APPLICATION_DEVICES_READ","RIGHT_APPLICATION_INFO"]' \
    "$(printf '%s' "$LW_T_OUT" | jq -c '.rights | sort')"
lw_t_cli --tenant one applications collaborators list app1
lw_t_eq "collaborators list header" "ID TYPE RIGHTS" "$(printf '%s\n' "$LW_T_OUT" | head -1 | tr -s ' ')"
lw_t_eq "collaborators list rows" "org1 organization|owner1 user" \
    "$(printf '%s\n' "$LW_T_OUT" | sed 1d | awk '{print $1, $2}' | sort | paste -sd'|')"
lw_t_cli --tenant one applications collaborators delete app1 --user-id owner1
lw_t_eq "collaborators delete → exit 0" 0 "$LW_T_RC"
lw_t_cli --tenant one applications collaborators get app1 --user-id owner1
lw_t_eq "a removed collaborator → exit 1" 1 "$LW_T_RC"
lw_t_cli --tenant one applications collaborators set app1 --right RIGHT_APPLICATION_ALL
lw_t_eq "collaborators set without a collaborator → exit 2" 2 "$LW_T_RC"

# ---- rights of a key --------------------------------------------------------------------

lw_t_cli --tenant one applications api-keys create app1 --name reader --right-application-info \
    --right-application-devices-read
reader=$(lw_t_kv key)
lw_t_cli --tenant one --api-key "$reader" applications rights app1
lw_t_eq "applications rights with a key lists exactly its rights" \
    "0 RIGHT_APPLICATION_DEVICES_READ RIGHT_APPLICATION_INFO" "$LW_T_RC $(printf '%s\n' "$LW_T_OUT" | sort | paste -sd' ')"

# ---- gateways: an EUI belongs to one tenant ---------------------------------------------

lw_t_cli --tenant one gateways create gw1 --user-id owner1 --gateway-eui 58A0CBFFFE800001 \
    --frequency-plan-id EU_863_870_TTN --name Roof
lw_t_eq "gateways create → exit 0" "0 gw1" "$LW_T_RC $(lw_t_kv ids.gateway_id)"
lw_t_cli --tenant one gateways list
lw_t_eq "gateways list" "ID   EUI               NAME  FREQUENCY PLAN  CREATED
gw1  58A0CBFFFE800001  Roof  EU_863_870_TTN  TIME" "$(printf '%s\n' "$LW_T_OUT" | lw_t_times)"
lw_t_cli --tenant two gateways create gw1 --user-id owner2 --gateway-eui 58A0CBFFFE800001 \
    --frequency-plan-id EU_863_870_TTN
lw_t_eq "the same EUI in tenant two → error: already_exists" "1 error: already_exists:" \
    "$LW_T_RC $(lw_t_cli_err)"
lw_t_cli --tenant one gateways update gw1 --description "on the roof"
lw_t_eq "gateways update → exit 0" 0 "$LW_T_RC"
lw_t_cli --tenant one --json gateways get gw1
lw_t_eq "update kept the name and set the description" "Roof|on the roof" \
    "$(printf '%s' "$LW_T_OUT" | jq -r '"\(.name)|\(.description)"')"

# ---- API keys: update and revoke --------------------------------------------------------

lw_t_cli --tenant one gateways api-keys create gw1 --name link --right-gateway-link
lw_t_eq "gateways api-keys create → exit 0" 0 "$LW_T_RC"
key_id=$(lw_t_kv id)
lw_t_cli --tenant one gateways api-keys update gw1 "$key_id" --name renamed
lw_t_eq "api-keys update → exit 0" 0 "$LW_T_RC"
lw_t_cli --tenant one --json gateways api-keys get gw1 "$key_id"
lw_t_eq "api-keys update kept the rights" '["renamed",["RIGHT_GATEWAY_LINK"]]' \
    "$(printf '%s' "$LW_T_OUT" | jq -c '[.name, .rights]')"
lw_t_eq "api-keys get never shows the secret" "" "$(printf '%s' "$LW_T_OUT" | jq -r '.key // empty')"
lw_t_cli --tenant one gateways api-keys delete gw1 "$key_id"
lw_t_eq "api-keys delete → exit 0" "0 " "$LW_T_RC $LW_T_OUT"
lw_t_cli --tenant one gateways api-keys list gw1
lw_t_eq "no key left" "ID  NAME  RIGHTS  CREATED  EXPIRES" "$LW_T_OUT"
lw_t_cli --tenant one gateways api-keys update gw1 "$key_id"
lw_t_eq "api-keys update without fields → exit 2" 2 "$LW_T_RC"

# ---- devices: delete frees the ID and the EUIs at once ----------------------------------

dev=(--dev-eui 70B3D57ED0000010 --join-eui 0000000000000002 --frequency-plan-id EU_863_870_TTN
    --lorawan-version MAC_V1_0_3 --lorawan-phy-version rp001-1.0.3-a)
lw_t_cli --tenant one end-devices create app1 dev1 "${dev[@]}"
lw_t_eq "end-devices create → exit 0" "0 " "$LW_T_RC $LW_T_ERR"
lw_t_cli --tenant one end-devices update app1 dev1 --name "Renamed device"
lw_t_cli --tenant one --json end-devices get app1 dev1
lw_t_eq "end-devices update kept the versions" "Renamed device|MAC_V1_0_3|RP001_V1_0_3_REV_A" \
    "$(printf '%s' "$LW_T_OUT" | jq -r '"\(.name)|\(.lorawan_version)|\(.lorawan_phy_version)"')"
lw_t_cli --tenant one end-devices delete app1 dev1
lw_t_eq "end-devices delete → exit 0" "0 " "$LW_T_RC $LW_T_OUT"
lw_t_cli --tenant one end-devices get app1 dev1
lw_t_eq "a deleted device → error: not_found" "1 error: not_found:" "$LW_T_RC $(lw_t_cli_err)"
lw_t_cli --tenant one end-devices create app1 dev1 "${dev[@]}"
lw_t_eq "its ID and EUIs are free again" "0 " "$LW_T_RC $LW_T_ERR"

# ---- applications: delete, restore, purge -----------------------------------------------

lw_t_cli --tenant one applications create app9 --user-id owner1
lw_t_cli --tenant one applications delete app9
lw_t_eq "applications delete → exit 0" 0 "$LW_T_RC"
lw_t_cli --tenant one applications create app9 --user-id owner1
lw_t_eq "a deleted application's ID stays taken" "1 error: already_exists:" "$LW_T_RC $(lw_t_cli_err)"
lw_t_cli --tenant one applications restore app9
lw_t_eq "applications restore → exit 0" 0 "$LW_T_RC"
lw_t_cli --tenant one applications get app9
lw_t_eq "the restored application is back" "0 app9" "$LW_T_RC $(lw_t_kv ids.application_id)"
lw_t_cli --tenant one applications delete app9
lw_t_cli --tenant one applications purge app9
lw_t_eq "applications purge → exit 0" 0 "$LW_T_RC"
lw_t_cli --tenant one applications create app9 --user-id owner1
lw_t_eq "a purged application's ID is free" 0 "$LW_T_RC"

# ---- tenant two is untouched ------------------------------------------------------------

lw_t_cli --tenant two applications list
lw_t_eq "tenant two has no application" "ID  NAME  CREATED" "$LW_T_OUT"
lw_t_cli --tenant two gateways list
lw_t_eq "tenant two has no gateway" "ID  EUI  NAME  FREQUENCY PLAN  CREATED" "$LW_T_OUT"
lw_t_cli --tenant two users list
lw_t_eq "tenant two has only its owner" "owner2" "$(ids)"

lw_t_eq "the password never appears in lwcli's output" 0 \
    "$(grep -c -- "$PASSWORD" "$LW_T_DIR/cli.log" || true)"

lw_t_done
