# Helpers of the e2e tests (bash), sourced after tests/integration/lib.sh.
#
# lw_e2e_skip MESSAGE: the test cannot run yet (a part of the stack is missing): prints why
# and exits 77, which ctest reports as skipped (never as passed).
lw_e2e_skip() {
    echo "SKIPPED: $*" >&2
    exit 77
}

# The components this lwstack was built with (from `lwstack help`).
lw_e2e_components() {
    local h
    h=$("$LWSTACK_BIN" help 2>&1 || true)
    printf '%s\n' "$h" | sed -n 's/^components://p'
}

# lw_e2e_need COMPONENT WHAT...: skips unless lwstack has COMPONENT.
lw_e2e_need() {
    local c=$1; shift
    case " $(lw_e2e_components) " in
        *" $c "*) ;;
        *) lw_e2e_skip "needs the $c component ($*), which this lwstack was built without" ;;
    esac
}

lw_e2e_need_node() {
    command -v node >/dev/null 2>&1 || lw_e2e_skip "node is not installed (ops/install installs it)"
    [ -f "$LWSTACK_SRC/tests/crosscheck/node_modules/lora-packet/package.json" ] ||
        lw_e2e_skip "tests/crosscheck/node_modules is missing: run 'npm ci' in tests/crosscheck"
}

# The e2e bus tool (tests/e2e/e2e_bus.c) next to lwstack's build tree, or $LW_E2E_BUS.
lw_e2e_bus_bin() {
    local d=${LW_E2E_BUS:-"$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)/tests/e2e/e2e_bus"}
    [ -x "$d" ] || { echo "lib_e2e.sh: e2e_bus not found at $d (set LW_E2E_BUS)" >&2; return 1; }
    echo "$d"
}

# True when `lwstack config --docs` knows configuration key $1. The text is read whole (once):
# a grep -q would stop at the match and lwstack's SIGPIPE would fail the pipeline (pipefail).
lw_e2e_has_key() {
    [ -n "${E2E_DOCS:-}" ] || E2E_DOCS=$("$LWSTACK_BIN" config --docs 2>/dev/null || true)
    case "$E2E_DOCS" in *"| \`$1\` |"*) return 0 ;; esac
    return 1
}

# lw_e2e_start [extra lwstack args...]: PostgreSQL, a broker, migrations and `lwstack start
# all` with every data-path listener on a free port of 127.0.0.1. Sets E2E_HTTP (port),
# E2E_UDP (the Semtech UDP port), E2E_BS_WS and E2E_BS_WSS (the Basics Station LNS, ws:// and
# wss://; the wss listener needs --gs.basic-station.tls.* among the extra args), E2E_JS
# (Backend Interfaces), api (…/api/v3), E2E_API.
E2E_NS_KEK=101112131415161718191a1b1c1d1e1f
E2E_AS_KEK=202122232425262728292a2b2c2d2e2f
lw_e2e_start() {
    lw_e2e_prepare
    lw_t_stack stack "$E2E_HTTP" "${E2E_ARGS[@]}" "$@"
    E2E_API="http://127.0.0.1:$E2E_HTTP"
    api="$E2E_API/api/v3"
}

# lw_e2e_prepare: lw_e2e_start without starting lwstack: sets E2E_ARGS (the listeners'
# flags), E2E_HTTP, E2E_UDP, E2E_BS_WS, E2E_BS_WSS, E2E_JS.
lw_e2e_prepare() {
    lw_t_pg_start
    lw_t_kafka_start 4
    "$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
    E2E_HTTP=$(lw_t_free_port)
    E2E_UDP=$(lw_t_free_port)
    E2E_JS=$(lw_t_free_port)
    E2E_BS_WS=$(lw_t_free_port)
    E2E_BS_WSS=$(lw_t_free_port)
    local args=()
    lw_e2e_has_key gs.udp.listen && args+=(--gs.udp.listen "127.0.0.1:$E2E_UDP")
    lw_e2e_has_key gs.basic-station.listen && args+=(--gs.basic-station.listen "127.0.0.1:$E2E_BS_WS")
    lw_e2e_has_key gs.basic-station.listen-tls && args+=(--gs.basic-station.listen-tls "127.0.0.1:$E2E_BS_WSS")
    if lw_e2e_has_key js.listen; then
        args+=(--js.listen "127.0.0.1:$E2E_JS" --js.key-encryption-key 000102030405060708090a0b0c0d0e0f
            --js.keks.ns-dev "$E2E_NS_KEK" --js.keks.as-dev "$E2E_AS_KEK"
            --js.network-server-kek-label ns-dev)
    fi
    # The NS reaches this JS on its free port, and unwraps the keys it sends (label ns-dev).
    lw_e2e_has_key ns.join-server-uri && args+=(--ns.join-server-uri "http://127.0.0.1:$E2E_JS/")
    lw_e2e_has_key 'ns.keks.*' && args+=(--ns.keks.ns-dev "$E2E_NS_KEK")
    E2E_ARGS=("${args[@]}")
}

# lw_e2e_spawn NAME HTTP_PORT COMPONENTS...: `lwstack start COMPONENTS` on the test's
# database and broker with the listeners of E2E_ARGS and the Backend Interfaces token of
# lib.sh (LW_T_BI_TOKEN), its API on HTTP_PORT; waits until ready. Sets LW_T_LAST_PID.
lw_e2e_spawn() {
    local name=$1 port=$2; shift 2
    lw_t_bi_args "${E2E_ARGS[@]}"
    lw_t_spawn "$name" --db.uri "$LW_T_DB_URI" --bus.brokers "$LW_T_BROKERS" \
        --http.listen "127.0.0.1:$port" --tenancy.admin-keys "$LW_T_ADMIN_KEY" \
        "${LW_T_BI_ARGS[@]}" "${E2E_ARGS[@]}" start "$@"
    local pid=$LW_T_LAST_PID
    lw_t_wait_for "$name ready on port $port" 30 curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" || {
        tail -30 "$LW_T_DIR/$name.log" >&2
        return 1
    }
    LW_T_LAST_PID=$pid
}

# lw_e2e_split_ns NS_PORT [FRONT COMPONENTS...]: after lw_e2e_prepare, the stack as two
# processes on one database and bus: "front" (default tenant is gs, and js when built) on
# E2E_HTTP, and the NS alone as "ns1" on NS_PORT, which asks the front's Identity Server for
# callers' rights. Sets E2E_NS_API, E2E_API, api, LW_T_LAST_PID (ns1's pid).
lw_e2e_split_ns() {
    local ns_port=$1; shift
    local front=("$@")
    if [ ${#front[@]} -eq 0 ]; then
        front=(tenant is gs)
        case " $(lw_e2e_components) " in *" js "*) front+=(js) ;; esac
    fi
    lw_e2e_spawn front "$E2E_HTTP" "${front[@]}"
    E2E_FRONT_PID=$LW_T_LAST_PID
    lw_e2e_has_key tenancy.identity-server-uri &&
        E2E_ARGS+=(--tenancy.identity-server-uri "http://127.0.0.1:$E2E_HTTP")
    lw_e2e_spawn ns1 "$ns_port" ns
    E2E_NS_API="http://127.0.0.1:$ns_port"
    E2E_API="http://127.0.0.1:$E2E_HTTP"
    api="$E2E_API/api/v3"
}

# lw_e2e_tenant T: a tenant with its first admin user `admin`.
lw_e2e_tenant() {
    local r
    r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$1\"},\"state\":\"STATE_APPROVED\"},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"Secret-passw0rd\",\"primary_email_address\":\"admin@$1.example\"}}")
    [ "${r%% *}" = 200 ] || { echo "lib_e2e.sh: creating tenant $1: $r" >&2; return 1; }
}

# lw_e2e_sim TENANT ARGS...: `lwstack simulate` provisioning in TENANT through the API (the
# tenant admin key) and sending to the stack's UDP port.
# E2E_NS_API: the NS's API when it runs in a process of its own (lw_e2e_spawn).
lw_e2e_sim() {
    local t=$1; shift
    "$LWSTACK_BIN" simulate --api "$E2E_API" ${E2E_NS_API:+--ns-api "$E2E_NS_API"} --tenant "$t" \
        --admin-key "$LW_T_ADMIN_KEY" --udp "127.0.0.1:$E2E_UDP" "$@"
}

# lw_e2e_sim_udp ARGS...: `lwstack simulate` against the stack's UDP port, no provisioning
# (a run that continues from a keys file: --keys-file).
lw_e2e_sim_udp() {
    "$LWSTACK_BIN" simulate --udp "127.0.0.1:$E2E_UDP" "$@"
}

# lw_e2e_session_key_id TENANT DEVICE_ID: the session_key_id of the device's latest uplink
# result on lw.ns.up (what an AS copies into its downlinks).
lw_e2e_session_key_id() {
    lw_e2e_bus_select "._topic == \"ns.up\" and .uplink_message != null and .envelope.tenant_id == \"$1\" and .end_device_ids.device_id == \"$2\"" |
        tail -1 | jq -r '.uplink_message.session_key_id // empty'
}

# lw_e2e_tap TOPICS: consumes the topics (comma-separated short names) from their
# beginning into $LW_T_DIR/bus.jsonl (one JSON line per message, e2e_bus.c).
lw_e2e_tap() {
    local bin; bin=$(lw_e2e_bus_bin)
    rm -f "$LW_T_DIR/tap.ready"
    lw_t_bg tap "$bin" consume --brokers "$LW_T_BROKERS" --topics "$1" --out "$LW_T_DIR/bus.jsonl" \
        --ready "$LW_T_DIR/tap.ready"
    lw_t_wait_for "the bus tap" 60 test -s "$LW_T_DIR/tap.ready"
    touch "$LW_T_DIR/bus.jsonl"
}

# lw_e2e_bus_select JQ_FILTER: the tapped messages the filter selects, one per line.
lw_e2e_bus_select() {
    jq -c "select($1)" "$LW_T_DIR/bus.jsonl"
}

# lw_e2e_need_data_path WHAT: skips unless the Gateway Server (with its Semtech UDP port) and
# the Network Server are built.
lw_e2e_need_data_path() {
    lw_e2e_need gs "$*"
    lw_e2e_need ns "$*"
    lw_e2e_has_key gs.udp.listen || lw_e2e_skip "needs gs.udp.listen (the Gateway Server's Semtech UDP front-end) for $*"
}

# lw_e2e_wait_bus N JQ_FILTER SECONDS: waits until the tap holds at least N messages the
# filter selects.
# Never fails: a wait that times out says so, and the checks after it report what is missing.
lw_e2e_wait_bus() {
    lw_t_wait_for "$1 bus message(s) matching $2" "$3" \
        bash -c '[ "$(jq -c "select($2)" "$3" 2>/dev/null | wc -l)" -ge "$1" ]' _ "$1" "$2" "$LW_T_DIR/bus.jsonl" ||
        true
}

# lw_e2e_bus_count JQ_FILTER: how many tapped messages the filter selects.
lw_e2e_bus_count() {
    jq -c "select($1)" "$LW_T_DIR/bus.jsonl" | wc -l
}

# The FRMPayload (hex) of a data uplink PHYPayload without FOpts: after MHDR, DevAddr, FCtrl,
# FCnt and FPort, before the MIC. jq: phy | frm.
# (MHDR, DevAddr, FCtrl, FCnt, FOptsLen bytes of FOpts, FPort, FRMPayload, MIC: a device
# answering MAC commands in FOpts shifts the FRMPayload.)
E2E_JQ_FRM='def frm: (.[11:12] | ascii_downcase) as $n | ("0123456789abcdef" | index($n)) as $fl
    | .[(18 + 2 * $fl):(length - 8)];'

# lw_e2e_as_down TENANT APP KEYS_LINE PLAIN_HEX [e2e_bus options]: pushes one downlink on
# lw.as.down for the device of KEYS_LINE (a --keys-out line) as the AS would: FPort 2, the
# payload encrypted with its AppSKey for the FCnt the NS will use next (as last told by an
# invalidation), the session_key_id of its latest uplink result. Extra options go to
# e2e_bus (--operation replace after an invalidation).
lw_e2e_as_down() {
    local t=$1 app=$2 keys=$3 plain=$4; shift 4
    local dev="sim-$(jq -r .dev_eui <<<"$keys")"
    local skid; skid=$(lw_e2e_session_key_id "$t" "$dev")
    "$(lw_e2e_bus_bin)" as-down --brokers "$LW_T_BROKERS" --tenant "$t" --app "$app" --dev "$dev" \
        --f-port 2 --f-cnt "$(lw_e2e_next_f_cnt_down "$t" "$dev" "$keys")" --plain "$plain" \
        --app-s-key "$(jq -r .app_s_key <<<"$keys")" --dev-addr "$(jq -r .dev_addr <<<"$keys")" \
        ${skid:+--session-key-id "$skid"} "$@" >/dev/null
}

# lw_e2e_next_f_cnt_down TENANT DEVICE_ID [KEYS_LINE]: the FCnt the Network Server will give
# the device's next application downlink, as an AS learns it: one above the last FCntDown it
# knows of: the latest downlink_queue_invalidated result's last_f_cnt_down, and the last
# downlink the device received (its state in a --keys-out line: the one FCntDown of 1.0.x,
# AFCntDown in 1.1); 0 before any.
lw_e2e_next_f_cnt_down() {
    local last dev
    last=$(lw_e2e_bus_select "._topic == \"ns.up\" and .downlink_queue_invalidated != null and .envelope.tenant_id == \"$1\" and .end_device_ids.device_id == \"$2\"" |
        tail -1 | jq -r '.downlink_queue_invalidated.last_f_cnt_down // empty')
    dev=""
    [ -z "${3:-}" ] || dev=$(jq -r 'if .f_nwk_s_int_key != null then .a_f_cnt_down else .n_f_cnt_down end // empty' <<<"$3")
    jq -n --arg a "$last" --arg b "$dev" '[$a, $b] | map(select(. != "") | tonumber) | if length == 0 then 0 else max + 1 end'
}

# lw_e2e_rx1_1s TENANT APP KEYS_FILE: the device of KEYS_FILE (a --keys-out file of one
# device) gets mac_settings.desired_rx1_delay 1 s and its mac_state starts again from its
# settings: the NS sends it no RXTimingSetupReq (its default desired RX1 delay is 5 s, as
# TTS's), so that a class A round takes RX2 + 1 s. Fails unless the API answers 200.
lw_e2e_rx1_1s() {
    local r
    r=$(lw_t_admin PUT "$api/ns/applications/$2/devices/sim-$(jq -r .dev_eui "$3")" -H "X-Tenant-ID: $1" \
        -d '{"end_device":{"mac_settings":{"desired_rx1_delay":"RX_DELAY_1"}},
             "field_mask":{"paths":["mac_settings.desired_rx1_delay","mac_state"]}}')
    [ "${r%% *}" = 200 ] || { echo "lib_e2e.sh: desired_rx1_delay of $3 in $1: $r" >&2; return 1; }
}

# lw_e2e_down_macs KEYS_LINE EVENTS_FILE: the data downlinks a device received (simulator
# --events), each read independently by tests/e2e/lwmac.js (lora-packet verifies the MIC and
# decrypts an FPort 0 FRMPayload; the commands are parsed byte by byte): one JSON line each,
# with the simulator's own reading added (.sim_mac: the command names, .window, .radio_ok,
# .dr, .link_check, .device_time_gps_s).
lw_e2e_down_macs() {
    local ev
    jq -c 'select(.event == "downlink" and .type == "data" and .result == "ok")' "$2" |
        while IFS= read -r ev; do
            node "$LWSTACK_SRC/tests/e2e/lwmac.js" down "$1" "$(jq -r .phy <<<"$ev")" "$(jq -r .f_cnt <<<"$ev")" |
                jq -c --argjson ev "$ev" '. + {sim_mac: $ev.mac, window: $ev.window, radio_ok: $ev.radio_ok, dr: $ev.dr,
                    link_check: $ev.link_check, device_time_gps_s: $ev.device_time_gps_s}'
        done
}

# lw_e2e_wait_matcher [LOG]: waits until the NS's matcher consumes lw.gs.up (its consumer
# group ns-matcher assigned, in the stack's log). That comes two group joins after the start,
# about 6 s: the session index loads once lw.ns.sessions is assigned, and only then does the
# matcher subscribe. Uplinks sent before wait on the bus, and their downlinks miss the
# receive windows.
lw_e2e_wait_matcher() {
    lw_t_wait_line "${1:-$LW_T_DIR/stack.log}" 'partitions assigned.*group=ns-matcher' 30
}
