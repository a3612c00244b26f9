#!/usr/bin/env bash
# OTAA through the Network Server and the cluster's Join Server (issue 9 items 6, 8, 9):
# a LoRaWAN 1.0.3 join-request on lw.gs.up → the NS asks the JS over Backend Interfaces
# (network keys wrapped under a shared KEK) → a join-accept on lw.gs.down in the join-accept
# windows, which decrypts and verifies with the AppKey, with a DevAddr from the tenant's
# prefix; the session is pending until the device's first uplink, which activates it; a
# replayed DevNonce is refused with an event. Two tenants, each with its own prefix. The NS
# shows its Backend Interfaces token (ns.join-server-token) to the cluster's Join Server only,
# never to another operator's (an ns.join-servers range).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/ns_lib.sh"

# The test plays the GS on the bus: the stack's own GS must not answer the downlinks of
# gateways it does not hold (gs.downlink.answer-not-connected).
lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
jsport=$(lw_t_free_port)
deadport=$(lw_t_free_port) # a Join Server that is down: nothing listens there
# A Join Server of another operator (python): it records each request's Authorization and
# SenderID, and refuses it 401 UnknownSender as lwstack's JS refuses a token it does not know.
mockport=$(lw_t_free_port)
cat >"$LW_T_DIR/mock_js.py" <<'PY'
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with open(sys.argv[2], "a") as f:
            f.write("%s %s\n" % (self.headers.get("Authorization", "-"), body.get("SenderID")))
        out = json.dumps({"ProtocolVersion": "1.1", "MessageType": "JoinAns",
                          "SenderID": body.get("ReceiverID"), "ReceiverID": body.get("SenderID"),
                          "Result": {"ResultCode": "UnknownSender",
                                     "Description": "wrong token for sender %s" % body.get("SenderID")}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
lw_t_bg mock_js python3 "$LW_T_DIR/mock_js.py" "$mockport" "$LW_T_DIR/mock_js.requests"
lw_t_wait_for "the mock Join Server" 10 bash -c "echo >/dev/tcp/127.0.0.1/$mockport"
KEK=101112131415161718191a1b1c1d1e1f
lw_t_stack stack "$port" --gs.downlink.answer-not-connected=false --js.listen "127.0.0.1:$jsport" \
    --js.key-encryption-key 000102030405060708090a0b0c0d0e0f --js.keks.dev "$KEK" \
    --js.network-server-kek-label dev --ns.keks.dev "$KEK" \
    --ns.join-server-uri "http://127.0.0.1:$jsport/" --ns.net-id 000013 \
    --ns.join-servers "70b3d57ed000dead/64=http://127.0.0.1:$deadport/,70b3d57ed000beef/64=http://127.0.0.1:$mockport/" \
    --ns.key-encryption-key 202122232425262728292a2b2c2d2e2f
api="http://127.0.0.1:$port/api/v3"

ns_tenant acme
ns_tenant globex
# globex assigns from its own prefix (tenant configuration, TTS Enterprise's shape).
r=$(lw_t_admin PUT "$api/tenants/globex" -d '{"tenant":{"configuration":{"default_cluster":{"ns":{"dev_addr_prefixes":["27ab0000/16"]}}}},"field_mask":{"paths":["configuration"]}}')
lw_t_eq "globex's DevAddr prefix configured" 200 "${r%% *}"

JOIN_EUI=70b3d57ed0001234
declare -A DEV_EUI=([acme]=0004a30b001c0530 [globex]=0004a30b001c0531)
declare -A APP_KEY=([acme]=2b7e151628aed2a6abf7158809cf4f3c [globex]=a1a2a3a4a5a6a7a8a9aaabacadaeafa0)
for t in acme globex; do
    ns_device $t dev1 "${DEV_EUI[$t]}" "$JOIN_EUI"
    r=$(lw_t_adm $t PUT /js/applications/app1/devices/dev1 "{\"end_device\":{\"ids\":{\"device_id\":\"dev1\",\"application_ids\":{\"application_id\":\"app1\"}},\"root_keys\":{\"app_key\":{\"key\":\"${APP_KEY[$t]}\"}}},\"field_mask\":{\"paths\":[\"root_keys.app_key.key\"]}}")
    lw_t_eq "$t: JS root keys → 200" 200 "${r%% *}"
    r=$(lw_t_adm $t PUT /ns/applications/app1/devices/dev1 '{"end_device":{"lorawan_version":"MAC_V1_0_3","lorawan_phy_version":"RP001_V1_0_3_REV_A","frequency_plan_id":"EU_863_870_TTN","supports_join":true},"field_mask":{"paths":["lorawan_version","lorawan_phy_version","frequency_plan_id","supports_join"]}}')
    lw_t_eq "$t: NS part (OTAA) → 200" 200 "${r%% *}"
done

up="$LW_T_DIR/up.jsonl"; down="$LW_T_DIR/down.jsonl"; ev="$LW_T_DIR/events.jsonl"
ns_consume ns.up "$up"
ns_consume gs.down "$down"
ns_consume events "$ev"
sleep 1

for t in acme globex; do
    jr=$("$NSD" join --join-eui "$JOIN_EUI" --dev-eui "${DEV_EUI[$t]}" --dev-nonce 7 --app-key "${APP_KEY[$t]}")
    echo "up $t gw-$t 00000000000000a1 $jr 868300000 10 5.0 -70 5000000" | ns_send
done
ns_wait "$down" '.join_accept==true' 2 20
for t in acme globex; do
    line=$(jq -c "select(.join_accept==true and .tenant==\"$t\")" "$down" | head -1)
    lw_t_eq "$t: join-accept in the join-accept windows (5 s), RX1 on the uplink channel" \
        "JoinAccept TIMESTAMP 5000000 5 868300000 2 gw-$t" \
        "$(jq -r '"\(.mtype) \(.timing) \(.timestamp) \(.rx1_delay) \(.rx1.frequency) \(.rx1.dr) \(.gateway_id)"' <<<"$line")"
    lw_t_eq "$t: RX2 of the plan (869.525 MHz, SF9)" "869525000 3" \
        "$(jq -r '"\(.rx2.frequency) \(.rx2.dr)"' <<<"$line")"
    acc=$("$NSD" accept --app-key "${APP_KEY[$t]}" --phy "$(jq -r .raw <<<"$line")" --dev-nonce 7)
    lw_t_eq "$t: the join-accept decrypts and its MIC verifies with the AppKey" mic=ok \
        "$(tr ' ' '\n' <<<"$acc" | grep ^mic=)"
    lw_t_eq "$t: NetID 000013, RX1 delay 5 s, RX2 SF9 (DLSettings 03), the plan's 5 extra channels" \
        "net_id=000013 dl_settings=03 rx_delay=5 cf=1" \
        "$(tr ' ' '\n' <<<"$acc" | grep -E '^(net_id|rx_delay|dl_settings)=' | tr '\n' ' ')cf=$(tr ' ' '\n' <<<"$acc" | grep -c '^cflist=[0-9a-f]\{32\}')"
    declare -g "ADDR_$t=$(tr ' ' '\n' <<<"$acc" | sed -n 's/^dev_addr=//p')"
    declare -g "NWK_$t=$(tr ' ' '\n' <<<"$acc" | sed -n 's/^nwk_s_key=//p')"
    declare -g "APPS_$t=$(tr ' ' '\n' <<<"$acc" | sed -n 's/^app_s_key=//p')"
done
lw_t_eq "acme's DevAddr from the deployment's prefix (26000000/7 of NetID 000013)" 1 \
    "$(grep -c '^2[67]' <<<"$ADDR_acme")"
lw_t_eq "globex's DevAddr from its own prefix 27ab0000/16" 27ab "${ADDR_globex:0:4}"
ns_wait "$up" '.type=="join_accept"' 2
lw_t_eq "join_accept results on lw.ns.up with the DevAddr, each to its tenant" "acme $ADDR_acme globex $ADDR_globex" \
    "$(jq -r 'select(.type=="join_accept") | "\(.tenant) \(.dev_addr)"' "$up" | sort | tr '\n' ' ' | sed 's/ $//')"
lw_t_eq "the AppSKey envelope is passed on" 1 "$(jq -r 'select(.type=="join_accept" and .tenant=="acme") | .app_s_key | length > 0' "$up" | grep -c true)"
r=$(lw_t_adm acme GET '/ns/applications/app1/devices/dev1?field_mask=pending_session,session')
lw_t_eq "acme: a pending session, no active one yet" "$(tr a-f A-F <<<"$ADDR_acme") null" \
    "$(lw_t_body "$r" | jq -r '"\(.pending_session.dev_addr) \(.session)"')"
lw_t_eq "the network key the NS holds is the one the device derives" "$NWK_acme" \
    "$(lw_t_body "$r" | jq -r '.pending_session.keys.f_nwk_s_int_key.key' | tr A-F a-f)"

# The AS may queue for the pending session (TTS keeps a pending session's queue): the item
# waits for the session, and goes out after the uplink that activates it.
SKA=$(jq -r 'select(.type=="join_accept" and .tenant=="acme") | .session_key_id' "$up")
echo "push acme/app1/dev1 $SKA 9 0 beef" | ns_send
ns_wait "$up" '.tenant=="acme" and (.type=="downlink_queued" or .type=="downlink_failed")' 1
lw_t_eq "acme: a downlink for the pending session is queued" downlink_queued \
    "$(jq -r 'select(.tenant=="acme" and (.type=="downlink_queued" or .type=="downlink_failed")) | .type' "$up")"

# The first uplink activates the session.
for t in acme globex; do
    a="ADDR_$t"; n="NWK_$t"; s="APPS_$t"
    fr=$(ns_frame "${!a}" "${!n}" "${!s}" 0 --f-port 1 --payload 0102)
    echo "up $t gw-$t 00000000000000a1 $fr 868100000 7 7.5 -40 9000000" | ns_send
done
ns_wait "$up" '.type=="uplink_message"' 2 20
lw_t_eq "the first uplink of each session reaches its device" "acme 0 globex 0" \
    "$(jq -r 'select(.type=="uplink_message") | "\(.tenant) \(.f_cnt)"' "$up" | sort | tr '\n' ' ' | sed 's/ $//')"
ns_wait "$down" '.tenant=="acme" and .frm_payload=="beef"' 1
lw_t_eq "acme: ... sent after the activating uplink, at its counter" "9 0 0" \
    "$(jq -r 'select(.tenant=="acme" and .frm_payload=="beef") | "\(.f_port) \(.f_cnt) \(.timestamp - 9000000)"' "$down")"
lw_t_eq "acme: nothing handed back for it" 0 "$(ns_count "$up" '.type=="downlink_queue_invalidated"')"
sleep 1
r=$(lw_t_adm acme GET '/ns/applications/app1/devices/dev1?field_mask=pending_session,session.dev_addr,mac_state')
lw_t_eq "acme: the session is active" "$(tr a-f A-F <<<"$ADDR_acme") null RX_DELAY_5" \
    "$(lw_t_body "$r" | jq -r '"\(.session.dev_addr) \(.pending_session) \(.mac_state.current_parameters.rx1_delay)"')"

# A replayed join-request (DevNonce 7 again): the JS refuses it, the NS says so.
jr=$("$NSD" join --join-eui "$JOIN_EUI" --dev-eui "${DEV_EUI[acme]}" --dev-nonce 7 --app-key "${APP_KEY[acme]}")
echo "up acme gw-acme 00000000000000a1 $jr 868300000 10 5.0 -70 12000000" | ns_send
ns_wait "$ev" '.name=="ns.up.join.drop"' 1 20
lw_t_eq "replayed DevNonce → ns.up.join.drop on acme" acme "$(jq -r 'select(.name=="ns.up.join.drop") | .key' "$ev" | head -1)"
lw_t_eq "no second join-accept" 2 "$(ns_count "$down" '.join_accept==true')"
r=$(lw_t_adm acme GET '/ns/applications/app1/devices/dev1?field_mask=session.dev_addr')
lw_t_eq "the active session stays" "$(tr a-f A-F <<<"$ADDR_acme")" "$(lw_t_body "$r" | jq -r .session.dev_addr)"

# A join-request whose Join Server is down (ns.join-servers → a port nothing listens on):
# dropped at once with its reason, on its own tenant, and counted apart from the refusals.
ns_device globex dev2 0004a30b001c0532 70b3d57ed000dead
r=$(lw_t_adm globex PUT /ns/applications/app1/devices/dev2 '{"end_device":{"lorawan_version":"MAC_V1_0_3","lorawan_phy_version":"RP001_V1_0_3_REV_A","frequency_plan_id":"EU_863_870_TTN","supports_join":true},"field_mask":{"paths":["lorawan_version","lorawan_phy_version","frequency_plan_id","supports_join"]}}')
lw_t_eq "globex: dev2 (JoinEUI of the down Join Server) → 200" 200 "${r%% *}"
sleep 1
jr=$("$NSD" join --join-eui 70b3d57ed000dead --dev-eui 0004a30b001c0532 --dev-nonce 1 --app-key "${APP_KEY[globex]}")
echo "up globex gw-globex 00000000000000a1 $jr 868300000 10 5.0 -70 14000000" | ns_send
ns_wait "$ev" '.name=="ns.up.join.drop"' 2 20
lw_t_eq "Join Server down → ns.up.join.drop join_server_unavailable on globex's dev2" \
    "globex dev2 join_server_unavailable" \
    "$(jq -r 'select(.name=="ns.up.join.drop" and .data.reason != "JoinReqFailed") | "\(.key) \(.identifiers[0].device_ids.device_id) \(.data.reason)"' "$ev")"
lw_t_eq "the replay's drop carries the JS's ResultCode" "acme JoinReqFailed" \
    "$(jq -r 'select(.name=="ns.up.join.drop" and .data.reason == "JoinReqFailed") | "\(.key) \(.data.reason)"' "$ev")"
m=$(curl -s "http://127.0.0.1:$port/metrics")
lw_t_eq "counted: join_server_unavailable 1, join_rejected (the JS refused) 1" "1 1" \
    "$(awk '/^lwstack_ns_dropped_total\{reason="join_server_unavailable"\}/ { print $2 }' <<<"$m") $(awk '/^lwstack_ns_dropped_total\{reason="join_rejected"\}/ { print $2 }' <<<"$m")"
lw_t_eq "no join-accept for it" 2 "$(ns_count "$down" '.join_accept==true')"

# Backend Interfaces authentication: the NS sends ns.join-server-token (lib.sh's LW_T_BI_TOKEN,
# which this stack's JS knows as js.bi.tokens.000013: every join above went through) to the
# cluster's Join Server only; another operator's (ns.join-servers) gets no Authorization, and
# its 401 becomes a drop carrying its ResultCode and Description.
ns_device globex dev3 0004a30b001c0533 70b3d57ed000beef
r=$(lw_t_adm globex PUT /ns/applications/app1/devices/dev3 '{"end_device":{"lorawan_version":"MAC_V1_0_3","lorawan_phy_version":"RP001_V1_0_3_REV_A","frequency_plan_id":"EU_863_870_TTN","supports_join":true},"field_mask":{"paths":["lorawan_version","lorawan_phy_version","frequency_plan_id","supports_join"]}}')
lw_t_eq "globex: dev3 (JoinEUI of the other operator's Join Server) → 200" 200 "${r%% *}"
sleep 1
jr=$("$NSD" join --join-eui 70b3d57ed000beef --dev-eui 0004a30b001c0533 --dev-nonce 1 --app-key "${APP_KEY[globex]}")
echo "up globex gw-globex 00000000000000a1 $jr 868300000 10 5.0 -70 16000000" | ns_send
ns_wait "$ev" '.name=="ns.up.join.drop"' 3 20
lw_t_eq "the other operator's Join Server got no Authorization, and the NS's NetID as SenderID" "- 000013" \
    "$(cat "$LW_T_DIR/mock_js.requests")"
lw_t_eq "its 401 → ns.up.join.drop on globex's dev3 with the JS's ResultCode and Description" \
    "globex dev3 UnknownSender wrong token for sender 000013" \
    "$(jq -r 'select(.name=="ns.up.join.drop" and .data.reason == "UnknownSender") | "\(.key) \(.identifiers[0].device_ids.device_id) \(.data.reason) \(.data.description)"' "$ev")"
lw_t_eq "the token is in no log" 0 "$(grep -c "$LW_T_BI_TOKEN" "$LW_T_DIR/stack.log" || true)"
lw_t_done
