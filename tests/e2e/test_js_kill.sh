#!/usr/bin/env bash
# Acceptance (issue 9): SIGKILL of the Join Server under traffic, then a restart. The JS runs
# as its own process beside one with the IS, GS and NS, on one database and bus. globex's
# OTAA devices have all joined before the kill and send data throughout; acme's are joining
# when the JS dies. Then:
# - no device rejoins: one join_accept per device on lw.ns.up, the DevAddr of its data
#   uplinks is the one it joined with;
# - joins in flight in the JS when it dies (made certain by holding acme's js_devices rows)
#   and join-requests that reach the NS while the JS is down are dropped with a clear reason
#   (ns.up.join.drop `join_server_unavailable`, counted), every join-request has exactly one
#   outcome (a join_accept or that drop), and the device's retry with a new DevNonce joins;
# - JoinNonce never goes back: what the devices accepted before the kill had been persisted
#   (at most the JS's last_join_nonce at the kill), what they accepted after is above it,
#   and the JS ends on each device's accepted DevNonce and JoinNonce (no later join-accept);
# - after the restart, a device that joined before the kill: its join-request replayed
#   (the DevNonce it joined with) is refused, its next DevNonce joins with the next JoinNonce;
#   globex's (1.0.3, used DevNonces kept as a set) replayed is refused too;
# - every data uplink the GS published appears on lw.ns.up exactly once by message id, and
#   no FCnt goes backwards.
. "$LWSTACK_SRC/tests/integration/lib.sh"
. "$LWSTACK_SRC/tests/e2e/lib_e2e.sh"

lw_e2e_need_data_path "the JS SIGKILL test"
lw_e2e_need js "the JS SIGKILL test"
lw_e2e_prepare
JS_HTTP=$(lw_t_free_port)
lw_e2e_spawn front "$E2E_HTTP" tenant is gs ns
front_pid=$LW_T_LAST_PID
# The JS process asks the front's Identity Server for callers' rights.
lw_e2e_has_key tenancy.identity-server-uri &&
    E2E_ARGS+=(--tenancy.identity-server-uri "http://127.0.0.1:$E2E_HTTP")
lw_e2e_spawn js1 "$JS_HTTP" js
js_pid=$LW_T_LAST_PID
E2E_API="http://127.0.0.1:$E2E_HTTP"
api="$E2E_API/api/v3"
lw_e2e_tenant acme
lw_e2e_tenant globex
lw_e2e_tap ns.up,gs.up,events

# sim TENANT ARGS...: a simulated OTAA fleet of the tenant, provisioned through the front (IS, NS)
# and the JS process, every join and downlink in $t.ev.
sim() {
    local t=$1; shift
    lw_e2e_sim "$t" --js-api "http://127.0.0.1:$JS_HTTP" --seed "$t" --otaa --gateways 2 --copies 2 \
        --events "$LW_T_DIR/$t.ev" --keys-out "$LW_T_DIR/$t.keys" --json "$@" >"$LW_T_DIR/$t.json"
}
ja() { echo "._topic == \"ns.up\" and .join_accept != null and .envelope.tenant_id == \"$1\""; }
up() { echo "._topic == \"ns.up\" and .uplink_message != null and .envelope.tenant_id == \"$1\""; }
drop() { echo "._topic == \"events\" and ._key == \"$1\" and .value.name == \"ns.up.join.drop\""; }
NA=24 NG=6
sim globex --lorawan-version 1.0.3 --devices $NG --rate 12 --duration 22 --drain 2 &
gpid=$!
lw_e2e_wait_bus $NG "$(ja globex)" 20
sim acme --lorawan-version 1.1 --devices $NA --rate 8 --duration 21 --drain 2 &
apid=$!
lw_e2e_wait_bus 6 "$(ja acme)" 20
# Joins in flight when the JS dies, for certain: acme's js_devices held, so that the JS's
# join transactions wait on their row (SELECT ... FOR UPDATE) until the kill.
lw_t_bg lock psql "$LW_T_DB_URI" -X -q -v ON_ERROR_STOP=1 -c "SET application_name = 'lw_test_lock'" \
    -c "BEGIN; LOCK TABLE t_acme.js_devices IN EXCLUSIVE MODE; SELECT pg_sleep(60); COMMIT"
waiting="SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%js_devices%FOR UPDATE%'"
lw_t_wait_for "a join in the JS waiting on its row" 10 bash -c '[ "$(psql "$1" -X -A -t -c "$2")" -ge 1 ]' _ "$LW_T_DB_URI" "$waiting" || true
inflight=$(lw_t_psql -c "$waiting")
kill -KILL "$js_pid"
lw_t_wait_exit "$js_pid" 10
lw_t_eq "the JS died of SIGKILL" 137 "$LW_T_RC"
lw_t_psql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'lw_test_lock'" >/dev/null
# What the JS had made durable when it died.
lw_t_psql -F ' ' -c "SELECT device_id, last_join_nonce FROM t_acme.js_devices" >"$LW_T_DIR/nonces.kill"
# Join-requests reach the NS while the JS is down: each is dropped with its reason.
lw_e2e_wait_bus 1 "$(drop acme)" 10
lw_t_eq "the NS is still answering while the JS is down" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$E2E_HTTP/readyz")"
sleep 1
lw_e2e_spawn js2 "$JS_HTTP" js
wait "$gpid" "$apid"
sleep 2

for t in acme globex; do
    n=$([ $t = acme ] && echo $NA || echo $NG)
    lw_t_eq "$t: every device joined once (simulator: accepted, failed)" "$n 0" \
        "$(jq -r '"\(.joins.accepted) \(.joins.failed)"' "$LW_T_DIR/$t.json")"
    lw_t_eq "$t: one join_accept per device on lw.ns.up (no rejoin, no second accept)" "$n $n" \
        "$(lw_e2e_bus_select "$(ja $t)" | jq -r .end_device_ids.device_id | sort | uniq | wc -l) $(lw_e2e_bus_count "$(ja $t)")"
    lw_t_eq "$t: each device's data uplinks carry the DevAddr it joined with" 0 \
        "$(jq -s -r '(map(select(.join_accept != null)) | map({key: .end_device_ids.device_id, value: .end_device_ids.dev_addr}) | from_entries) as $a | map(select(.uplink_message != null and $a[.end_device_ids.device_id] != .end_device_ids.dev_addr)) | length' \
            <(lw_e2e_bus_select "._topic == \"ns.up\" and .envelope.tenant_id == \"$t\""))"
    # Every data uplink the GS published, once by message id (one id per device and FCnt).
    sent=$(jq -r .uplinks.sent "$LW_T_DIR/$t.json")
    gs=$(lw_e2e_bus_select "._topic == \"gs.up\" and .envelope.tenant_id == \"$t\" and (.raw_payload | startswith(\"00\") | not)" |
        jq -r .raw_payload | sort -u | wc -l)
    lw_t_eq "$t: the GS published every data uplink the devices sent" "$sent" "$gs"
    lw_e2e_bus_select "$(up $t)" |
        jq -r '"\(.envelope.id) \(.end_device_ids.device_id) \(.uplink_message.f_cnt // 0)"' >"$LW_T_DIR/$t.ids"
    lw_t_eq "$t: each on lw.ns.up exactly once by message id (results, ids, device and FCnt pairs)" \
        "$sent $sent $sent" \
        "$(wc -l <"$LW_T_DIR/$t.ids") $(cut -d' ' -f1 "$LW_T_DIR/$t.ids" | sort -u | wc -l) $(cut -d' ' -f2- "$LW_T_DIR/$t.ids" | sort -u | wc -l)"
    lw_t_eq "$t: per device, FCnt strictly increasing in lw.ns.up order (copies dropped by id)" 0 \
        "$(lw_e2e_bus_select "$(up $t)" | jq -s -r 'group_by(.end_device_ids.device_id)
            | map(sort_by(._partition, ._offset)
                | reduce .[] as $m ({seen: {}, f: []}; if .seen[$m.envelope.id] then . else .seen[$m.envelope.id] = true | .f += [$m.uplink_message.f_cnt // 0] end)
                | .f | select(. as $f | any(range(1; length); $f[.] <= $f[. - 1])))
            | length')"
    lw_t_eq "$t: every device sent data in its session" "$n" \
        "$(lw_e2e_bus_select "$(up $t)" | jq -r .end_device_ids.device_id | sort -u | wc -l)"
done

# acme: the joins the kill hit. Each join-request (its gateway copies) has exactly one outcome,
# found by the correlation id of one of its copies: a join_accept on lw.ns.up or an
# ns.up.join.drop event.
# outcomes: per join-request (distinct PHYPayload) of acme, its outcomes, then how many outcomes.
outcomes() {
    lw_e2e_bus_select "(._topic == \"gs.up\" and .envelope.tenant_id == \"acme\" and (.raw_payload | startswith(\"00\"))) or ($(ja acme)) or ($(drop acme))" |
        jq -s -r '(map(select(._topic == "gs.up")) | group_by(.raw_payload) | map({p: .[0].raw_payload, c: map(.envelope.correlation_ids[])})) as $g
            | map(select(._topic != "gs.up") | if ._topic == "ns.up" then {o: "join_accept", c: .envelope.correlation_ids} else {o: .value.data.reason, c: .value.correlation_ids} end) as $o
            | ($g[] | . as $x | "\($x.p) \([$o[] | select(any(.c[]; . as $c | any($x.c[]; . == $c))) | .o] | sort | join(","))"), "outcomes \($o | length)"'
}
drops=$(lw_e2e_bus_count "$(drop acme) and .value.data.reason == \"join_server_unavailable\"")
lw_t_eq "acme: joins in flight at the kill (waiting in the JS) and join-requests while the JS was down dropped as join_server_unavailable; globex: none dropped" \
    "yes yes 0" "$([ "$inflight" -ge 1 ] && echo yes || echo no) $([ "$drops" -gt "$inflight" ] && echo yes || echo no) $(lw_e2e_bus_count "$(drop globex)")"
outcomes >"$LW_T_DIR/outcomes"
jr=$(grep -vc '^outcomes ' "$LW_T_DIR/outcomes")
lw_t_eq "acme: every join-request has one outcome, join_accept or join_server_unavailable (by correlation id)" \
    "$jr $jr $jr" \
    "$(grep -Ecx '[0-9a-fA-F]+ (join_accept|join_server_unavailable)' "$LW_T_DIR/outcomes") $(sed -n 's/^outcomes //p' "$LW_T_DIR/outcomes") $((NA + drops))"
echo "# acme: $jr join-requests, $drops dropped while the JS was down ($inflight in flight in the JS at the kill)"
# JoinNonce across the kill, per device: accepted J, the JS's last_join_nonce at the kill K.
lw_t_psql -F ' ' -c "SELECT device_id, last_join_nonce, last_dev_nonce FROM t_acme.js_devices" >"$LW_T_DIR/nonces.end"
before=0 after=0 bad=0 early=""
while read -r d j n; do
    k=$(awk -v d="$d" '$1 == d { print $2 }' "$LW_T_DIR/nonces.kill")
    e=$(awk -v d="$d" '$1 == d { print $2 " " $3 }' "$LW_T_DIR/nonces.end")
    [ "$e" = "$j $n" ] || { bad=$((bad + 1)); echo "# $d: accepted JoinNonce $j DevNonce $n, JS ends on $e" >&2; }
    if [ "$j" -le "${k:-0}" ]; then
        before=$((before + 1))
        [ -n "$early" ] || early="$d $j $n"
        [ "$j" = "$k" ] || { bad=$((bad + 1)); echo "# $d: accepted $j before the kill, JS had $k" >&2; }
    else
        after=$((after + 1))
    fi
done < <(jq -r 'select(.event == "downlink" and .type == "join_accept" and .result == "ok") | "sim-\(.dev_eui) \(.join_nonce) \(.dev_nonce)"' "$LW_T_DIR/acme.ev")
lw_t_eq "acme: JoinNonce persisted before its answer, above the kill's after it, JS ends on each accepted (DevNonce, JoinNonce)" \
    "0 $NA yes yes" "$bad $((before + after)) $([ $before -ge 6 ] && echo yes || echo no) $([ $after -ge 1 ] && echo yes || echo no)"
echo "# acme: $before devices joined before the kill, $after after the restart"

# After the restart, a device that joined before the kill: its join-request replayed with the
# DevNonce it joined with is refused (the JS kept the DevNonce across the kill), and its next
# DevNonce joins, with the next JoinNonce (kept across the kill too).
read -r rd rj rn <<<"$early"
keys() { jq -c --argjson n "$1" "select(\"sim-\" + .dev_eui == \"$rd\") | {dev_eui, join_eui, app_key, nwk_key, lorawan_version, activation, dev_nonce: \$n}" "$LW_T_DIR/acme.keys"; }
keys "$rn" >"$LW_T_DIR/replay.keys"
keys $((rn + 1)) >"$LW_T_DIR/next.keys"
# globex (LoRaWAN 1.0.3, a set of used DevNonces): one of its devices' join-request replayed.
jq -c --slurpfile e "$LW_T_DIR/globex.ev" '($e | map(select(.event == "downlink" and .type == "join_accept" and .result == "ok")) | first) as $a
    | select(.dev_eui == $a.dev_eui) | {dev_eui, join_eui, app_key, lorawan_version, activation, dev_nonce: $a.dev_nonce}' \
    "$LW_T_DIR/globex.keys" >"$LW_T_DIR/replay-globex.keys"
lw_e2e_sim_udp --seed globex --gateways 2 --copies 1 --keys-file "$LW_T_DIR/replay-globex.keys" --rate 1 --duration 1 \
    --drain 1 --json >"$LW_T_DIR/replay-globex.json" &
gr=$!
for k in replay next; do
    lw_e2e_sim_udp --seed acme --gateways 2 --copies 1 --keys-file "$LW_T_DIR/$k.keys" --rate 1 --duration 1 \
        --drain 1 --json >"$LW_T_DIR/$k.json"
done
wait "$gr"
lw_e2e_wait_bus $((NA + 1)) "$(ja acme)" 10
lw_e2e_wait_bus 1 "$(drop acme) and .value.data.reason != \"join_server_unavailable\"" 10
lw_e2e_wait_bus 1 "$(drop globex)" 10
outcomes >"$LW_T_DIR/outcomes2"
lw_t_eq "acme: the replay refused by the restarted JS (js.join.reject dev_nonce_too_small, the NS's drop JoinReqFailed), the next DevNonce accepted" \
    "dev_nonce_too_small JoinReqFailed,join_accept join_accept" \
    "$(lw_e2e_bus_select "._topic == \"events\" and ._key == \"acme\" and .value.name == \"js.join.reject\"" | jq -r .value.data.name | xargs) $(comm -13 <(sort "$LW_T_DIR/outcomes") <(sort "$LW_T_DIR/outcomes2") | grep -v '^outcomes ' | cut -d' ' -f2 | sort | xargs)"
lw_t_eq "acme: $rd: the JS ends on the next DevNonce and JoinNonce" "$((rj + 1)) $((rn + 1))" \
    "$(lw_t_psql -c "SELECT last_join_nonce || ' ' || last_dev_nonce FROM t_acme.js_devices WHERE device_id = '$rd'")"
lw_t_eq "globex: its replayed DevNonce refused too (js.join.reject, the NS's drop JoinReqFailed), no second join_accept" \
    "$(jq -r '"sim-" + .dev_eui' "$LW_T_DIR/replay-globex.keys") reuse_dev_nonce JoinReqFailed $NG" \
    "$(lw_e2e_bus_select "._topic == \"events\" and ._key == \"globex\" and .value.name == \"js.join.reject\"" | jq -r '"\(.value.identifiers[0].device_ids.device_id) \(.value.data.name)"' | xargs) $(lw_e2e_bus_select "$(drop globex)" | jq -r .value.data.reason | xargs) $(lw_e2e_bus_count "$(ja globex)")"
m=$(curl -s "http://127.0.0.1:$E2E_HTTP/metrics")
lw_t_eq "the NS counted the drops: join_server_unavailable, and the JS's refusals (join_rejected)" "$drops 2" \
    "$(awk '/^lwstack_ns_dropped_total\{reason="join_server_unavailable"\}/ { print $2 }' <<<"$m") $(awk '/^lwstack_ns_dropped_total\{reason="join_rejected"\}/ { print $2 }' <<<"$m")"
lw_t_eq "the front process ran through (no restart)" 0 "$(kill -0 "$front_pid" && echo 0 || echo 1)"
lw_t_done
