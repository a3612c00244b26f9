#!/usr/bin/env bash
# Acceptance (issue 10): payload formatters on the whole stack. acme's application has a
# JavaScript uplink formatter as its link's default (tests/integration/as/formatters/
# e2e_up.js): its uplinks carry the decoded_payload (and the warnings) the script computes.
# globex's formatter loops forever: its uplinks still arrive, with frm_payload only and the
# script_timeout in decoded_payload_warnings, and acme's keep being decoded meanwhile.
# Then globex's link gets a formatter with normalizeUplink: its device, loaded in the AS worker
# already, decodes its next uplinks with it (lw.as.links), each followed by one
# uplink_normalized per normalized item; acme's link is untouched.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "AS formatters"
lw_e2e_need js "OTAA joins (the Join Server)"
lw_e2e_need as "the Application Server"
lw_e2e_start --js.application-server-kek-label as-dev --as.keks.as-dev "$E2E_AS_KEK"
fdir=$LWSTACK_SRC/tests/integration/as/formatters
for t in acme globex; do
    lw_e2e_tenant $t
    r=$(lw_t_adm $t POST /users/admin/applications '{"application":{"ids":{"application_id":"app1"}}}')
    lw_t_eq "$t: app1 created" 200 "${r%% *}"
done
link() {
    local script; script=$(jq -Rs . <"$2")
    lw_t_adm "$1" PUT /as/applications/app1/link "{\"link\":{\"default_formatters\":{\"up_formatter\":\"FORMATTER_JAVASCRIPT\",\"up_formatter_parameter\":$script}},\"field_mask\":{\"paths\":[\"default_formatters\"]}}"
}
r=$(link acme "$fdir/e2e_up.js")
lw_t_eq "acme: link with a JavaScript uplink formatter" 200 "${r%% *}"
r=$(link globex "$fdir/loop.js")
lw_t_eq "globex: link with a formatter that loops" 200 "${r%% *}"
lw_e2e_tap as.up
lw_e2e_wait_matcher

pids=()
for t in acme globex; do
    lw_e2e_sim $t --seed "$t-fmt" --application app1 --otaa --lorawan-version 1.0.3 \
        --gateways 1 --copies 1 --devices 1 --rate 1 --duration 0 --uplinks-per-device 3 \
        --fport 7 --payload 01020304 --keys-out "$LW_T_DIR/$t.keys" --json >"$LW_T_DIR/$t.json" &
    pids+=($!)
done
wait "${pids[@]}"
asjson() {
    lw_e2e_bus_select "$1" | jq -r .json | while read -r h; do
        perl -e 'print pack("H*", $ARGV[0]), "\n"' "$h"
    done
}
asup() { echo "._topic == \"as.up\" and .envelope.tenant_id == \"$1\" and .type == \"AS_UP_UPLINK_MESSAGE\""; }
for t in acme globex; do lw_e2e_wait_bus 3 "$(asup $t)" 60; done

ups=$(asjson "$(asup acme)" | jq -c .uplink_message)
lw_t_eq "acme: three uplinks, each decoded as the script computes" \
    '{"first":1,"hex":"01020304","port":"p7","rest":[2,3,4],"sum":10} ["saw a 4"] AQIDBA==' \
    "$(jq -c -r '"\(.decoded_payload | tojson) \(.decoded_payload_warnings | tojson) \(.frm_payload)"' <<<"$ups" | sort -u | xargs -0 | tr -d '\n')"
lw_t_eq "acme: 3 of them" 3 "$(jq -c . <<<"$ups" | wc -l)"
ups=$(asjson "$(asup globex)" | jq -c .uplink_message)
lw_t_eq "globex: three uplinks, undecoded, frm_payload kept, the timeout in the warnings" \
    'null AQIDBA== ["script timeout"]' \
    "$(jq -c -r '"\(.decoded_payload | tojson) \(.frm_payload) \(.decoded_payload_warnings | tojson)"' <<<"$ups" | sort -u | xargs -0 | tr -d '\n')"
lw_t_eq "globex: 3 of them" 3 "$(jq -c . <<<"$ups" | wc -l)"

# The link changes while the device is loaded: its next uplinks use the new formatter, one
# with normalizeUplink (tests/integration/as/formatters/norm.js): each uplink_message carries
# the normalized payload, and one uplink_normalized follows per item of it.
r=$(link globex "$fdir/norm.js")
lw_t_eq "globex: link changed to a formatter with normalizeUplink" 200 "${r%% *}"
r=$(lw_t_adm acme GET "/as/applications/app1/link?field_mask=default_formatters")
lw_t_eq "acme: its link still names its own script" "$(jq -Rs . <"$fdir/e2e_up.js")" \
    "$(jq -c .default_formatters.up_formatter_parameter <<<"${r#* }")"
sleep 1 # the change reaches the worker on its broadcast consumer
lw_e2e_sim_udp --seed "globex-fmt" --keys-file "$LW_T_DIR/globex.keys" --keys-out "$LW_T_DIR/globex.keys" \
    --gateways 1 --copies 1 --devices 1 --rate 1 --duration 0 --uplinks-per-device 2 \
    --fport 7 --payload 0102032794 --json >"$LW_T_DIR/globex.2.json"
lw_e2e_wait_bus 5 "$(asup globex)" 60
ups=$(asjson "$(asup globex)" | jq -c .uplink_message | tail -n 2)
lw_t_eq "globex: the device's next uplinks are decoded and normalized by the new link's formatter" \
    '{"hpa":1013.2,"rh":3,"t":2.58} [{"air":{"pressure":1013.2,"relativeHumidity":3,"temperature":2.58}},{"wind":{"direction":270,"speed":3.5}}]' \
    "$(jq -c -S -r '"\(.decoded_payload | tojson) \(.normalized_payload | tojson)"' <<<"$ups" | sort -u | xargs -0 | tr -d '\n')"
norm() { echo "._topic == \"as.up\" and .envelope.tenant_id == \"$1\" and .type == \"AS_UP_UPLINK_NORMALIZED\""; }
lw_e2e_wait_bus 4 "$(norm globex)" 30
lw_t_eq "globex: two uplink_normalized per uplink, one per item, with the uplink's FCnt" \
    "$(jq -r '.f_cnt' <<<"$ups" | while read -r f; do echo "$f:air $f:wind"; done | xargs)" \
    "$(asjson "$(norm globex)" | jq -r '.uplink_normalized | "\(.f_cnt):\(.normalized_payload | keys[0])"' | xargs)"
lw_t_eq "globex: each uplink_normalized its own envelope id" 4 \
    "$(lw_e2e_bus_select "$(norm globex)" | jq -r .envelope.id | sort -u | wc -l | tr -d ' ')"
lw_t_eq "acme: no uplink_normalized (its formatter has no normalizeUplink)" 0 "$(lw_e2e_bus_count "$(norm acme)")"
lw_t_eq "acme: still its 3 uplinks, nothing of globex's" 3 "$(asjson "$(asup acme)" | wc -l)"
lw_t_done
