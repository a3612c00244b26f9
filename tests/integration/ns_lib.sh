# Helpers of the Network Server tests (test_ns_*.sh), sourced after lib.sh. Not a test itself
# (the glob takes test_*.sh only).

# The NS test driver (tests/integration/ns/ns_driver.c).
lw_t_ns_driver() {
    if [ -n "${LW_NS_DRIVER:-}" ]; then echo "$LW_NS_DRIVER"; return; fi
    local d
    d="$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)/tests/integration/ns/ns_driver"
    [ -x "$d" ] || { echo "ns_lib.sh: ns_driver not found at $d (set LW_NS_DRIVER)" >&2; return 1; }
    echo "$d"
}
NSD=$(lw_t_ns_driver)

# ns_tenant ID: a tenant with its admin user `admin`, an application app1.
ns_tenant() {
    local r
    r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$1\"},\"state\":\"STATE_APPROVED\"},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"Secret-passw0rd\",\"primary_email_address\":\"admin@$1.example\"}}")
    [ "${r%% *}" = 200 ] || { echo "tenant $1: $r" >&2; return 1; }
    r=$(lw_t_adm "$1" POST /users/admin/applications '{"application":{"ids":{"application_id":"app1"}}}')
    [ "${r%% *}" = 200 ] || { echo "app1 of $1: $r" >&2; return 1; }
}

# ns_device TENANT DEV [DEV_EUI [JOIN_EUI]]: registers the device in the IS.
ns_device() {
    local ids="\"device_id\":\"$2\",\"application_ids\":{\"application_id\":\"app1\"}"
    [ -n "${3:-}" ] && ids="$ids,\"dev_eui\":\"$3\",\"join_eui\":\"${4:-70B3D57ED0000000}\""
    local r
    r=$(lw_t_adm "$1" POST /applications/app1/devices "{\"end_device\":{\"ids\":{$ids}}}")
    [ "${r%% *}" = 200 ] || { echo "device $2 of $1: $r" >&2; return 1; }
}

# ns_abp TENANT DEV DEVADDR NWKSKEY [EXTRA_JSON_FIELDS [EXTRA_PATHS]]: the device's NS part,
# ABP, LoRaWAN 1.0.3, EU868. Prints the lw_t_http line.
ns_abp() {
    local extra=${5:-} paths=${6:-}
    lw_t_adm "$1" PUT "/ns/applications/app1/devices/$2" "{\"end_device\":{\"ids\":{\"device_id\":\"$2\",\"application_ids\":{\"application_id\":\"app1\"}},\"lorawan_version\":\"MAC_V1_0_3\",\"lorawan_phy_version\":\"RP001_V1_0_3_REV_A\",\"frequency_plan_id\":\"EU_863_870_TTN\",\"supports_join\":false,\"session\":{\"dev_addr\":\"$3\",\"keys\":{\"f_nwk_s_int_key\":{\"key\":\"$4\"}}}$extra},\"field_mask\":{\"paths\":[\"lorawan_version\",\"lorawan_phy_version\",\"frequency_plan_id\",\"supports_join\",\"session.dev_addr\",\"session.keys.f_nwk_s_int_key.key\"$paths]}}"
}

# ns_frame ADDR NWKSKEY APPSKEY FCNT [more ns_driver frame args]: an uplink's PHYPayload hex.
ns_frame() {
    local a=$1 n=$2 s=$3 f=$4; shift 4
    "$NSD" frame --dev-addr "$a" --nwk-s-key "$n" --app-s-key "$s" --f-cnt "$f" "$@"
}

# ns_send: sends the commands of stdin (ns_driver send).
ns_send() { "$NSD" send --brokers "$LW_T_BROKERS"; }

# ns_consume TOPIC FILE: consumes TOPIC from its beginning into FILE (background).
ns_consume() {
    lw_t_bg "consume-$1" "$NSD" consume --brokers "$LW_T_BROKERS" --topic "$1" --out "$2"
}

# ns_count FILE JQ_FILTER: how many lines of FILE the jq select() filter keeps.
ns_count() { jq -c "select($2)" "$1" 2>/dev/null | wc -l | tr -d ' '; }

# ns_wait FILE JQ_FILTER N [SECONDS]: waits until N lines match.
ns_wait() {
    lw_t_wait_for "$3 line(s) $2 in $(basename "$1")" "${4:-15}" \
        bash -c '[ "$(jq -c "select($2)" "$1" 2>/dev/null | wc -l)" -ge "$3" ]' _ "$1" "$2" "$3"
}
