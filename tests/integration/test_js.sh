#!/usr/bin/env bash
# The Join Server (issue 9 items 8 and 10) against a running lwstack: two tenants, devices
# registered through the IS API and given root keys through the JS API; Backend Interfaces
# JoinReq built by the device's side (tests/integration/js/lwjoin.js, the npm package
# lora-packet) and the JoinAns checked with it: the join-accept decrypts and verifies and
# the session keys match what the device derives. A replayed DevNonce is refused with an
# event; the JoinNonce keeps increasing across a SIGKILL; AppSKeyReq; the other tenant's
# devices are out of reach; no key reaches a log. Every Backend Interfaces caller shows its
# sender's token (js.bi.tokens.<sender>): without it, with a wrong one or another sender's,
# 401 UnknownSender and no nonce moves; js.bi.allow-unauthenticated lets it in without one.
. "$(dirname "$0")/lib.sh"

lwjoin="$LWSTACK_SRC/tests/integration/js/lwjoin.js"
if [ ! -f "$LWSTACK_SRC/tests/crosscheck/node_modules/lora-packet/package.json" ]; then
    echo "lora-packet missing: run 'npm ci' in tests/crosscheck" >&2
    exit 1
fi

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
jsport=$(lw_t_free_port)
ROOT_KEK=000102030405060708090a0b0c0d0e0f
NS_KEK=101112131415161718191a1b1c1d1e1f
AS_KEK=202122232425262728292a2b2c2d2e2f
# The Backend Interfaces callers: a network server of NetID 000013 and the AS `as.local`.
NS_TOKEN=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
AS_TOKEN=$(od -An -tx1 -N24 /dev/urandom | base64 | tr -d '\n')
stack_args=(--js.listen "127.0.0.1:$jsport" --js.key-encryption-key "$ROOT_KEK"
    --js.keks.ns-dev "$NS_KEK" --js.keks.as-dev "$AS_KEK" --js.network-server-kek-label ns-dev
    --js.dev-nonce-limit 3 --js.bi.tokens.000013 "$NS_TOKEN" --js.bi.tokens.as.local "$AS_TOKEN")
lw_t_stack stack "$port" "${stack_args[@]}"
api="http://127.0.0.1:$port/api/v3"
bi="http://127.0.0.1:$jsport/"
curl_tls=()
PASS='Secret-passw0rd'

adm() { lw_t_adm "$@"; }
body() { lw_t_body "$@"; }
count() { lw_t_psql -c "SELECT count(*) FROM $1"; }

# Keys (big-endian hex as consoles print them).
ACME_APP_KEY=2b7e151628aed2a6abf7158809cf4f3c
GLOBEX_APP_KEY=a1a2a3a4a5a6a7a8a9aaabacadaeafa0
GLOBEX_NWK_KEY=0f1e2d3c4b5a69788796a5b4c3d2e1f0
JOIN_EUI=70b3d57ed0001234
ACME_DEV_EUI=0004a30b001c0530
GLOBEX_DEV_EUI=0004a30b001c0531

# ---- two tenants, an application and a device each (IS API) --------------------------------
for t in acme globex; do
    r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$t\"},\"state\":\"STATE_APPROVED\"},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"$PASS\",\"primary_email_address\":\"admin@$t.example\"}}")
    lw_t_eq "create tenant $t → 200" 200 "${r%% *}"
    r=$(adm $t POST /users/admin/applications '{"application":{"ids":{"application_id":"app1"}}}')
    lw_t_eq "$t: create app1 → 200" 200 "${r%% *}"
done
r=$(adm acme POST /applications/app1/devices "{\"end_device\":{\"ids\":{\"device_id\":\"dev1\",\"join_eui\":\"$JOIN_EUI\",\"dev_eui\":\"$ACME_DEV_EUI\"}}}")
lw_t_eq "acme: create dev1 in the IS → 200" 200 "${r%% *}"
r=$(adm globex POST /applications/app1/devices "{\"end_device\":{\"ids\":{\"device_id\":\"dev1\",\"join_eui\":\"$JOIN_EUI\",\"dev_eui\":\"$GLOBEX_DEV_EUI\"}}}")
lw_t_eq "globex: create dev1 in the IS → 200" 200 "${r%% *}"

# ---- the JS device API ----------------------------------------------------------------------
r=$(adm acme PUT /js/applications/app1/devices/dev1 "{\"end_device\":{\"ids\":{\"device_id\":\"dev1\",\"application_ids\":{\"application_id\":\"app1\"}},\"root_keys\":{\"app_key\":{\"key\":\"$ACME_APP_KEY\"}}},\"field_mask\":{\"paths\":[\"root_keys.app_key.key\"]}}")
lw_t_eq "acme: PUT JS dev1 with an AppKey → 200" 200 "${r%% *}"
lw_t_eq "the answer shows the fields set (the admin key holds READ_KEYS)" "${ACME_APP_KEY^^}" "$(body "$r" | jq -r '.root_keys.app_key.key')"
r=$(adm acme GET /js/applications/app1/devices/dev1)
lw_t_eq "GET without a field mask: ids and times only, no keys" "created_at,ids,updated_at" "$(body "$r" | jq -r 'keys | join(",")')"
r=$(adm globex PUT /js/applications/app1/devices/dev1 "{\"end_device\":{\"root_keys\":{\"app_key\":{\"key\":\"$GLOBEX_APP_KEY\"},\"nwk_key\":{\"key\":\"$GLOBEX_NWK_KEY\"}},\"net_id\":\"000013\"},\"field_mask\":{\"paths\":[\"root_keys\",\"net_id\"]}}")
lw_t_eq "globex: PUT JS dev1 with AppKey, NwkKey and NetID → 200" 200 "${r%% *}"
r=$(adm acme GET '/js/applications/app1/devices/dev1?field_mask=root_keys,resets_join_nonces')
lw_t_eq "acme: GET root_keys → acme's AppKey (uppercase hex) and the EUIs from the IS" \
    "${ACME_APP_KEY^^} null 70B3D57ED0001234 0004A30B001C0530" \
    "$(body "$r" | jq -r '[.root_keys.app_key.key, (.root_keys.nwk_key|tostring), .ids.join_eui, .ids.dev_eui] | join(" ")')"
r=$(adm globex GET '/js/applications/app1/devices/dev1?field_mask=root_keys,net_id')
lw_t_eq "globex: the same IDs show globex's keys" "${GLOBEX_APP_KEY^^} ${GLOBEX_NWK_KEY^^} 000013" \
    "$(body "$r" | jq -r '[.root_keys.app_key.key, .root_keys.nwk_key.key, .net_id] | join(" ")')"
lw_t_eq "root keys are stored wrapped (48 hex digits, not the key)" "48 false" \
    "$(lw_t_psql -c "SELECT length(app_key) || ' ' || (app_key = '$ACME_APP_KEY') FROM t_acme.js_devices")"
r=$(adm acme PUT /js/applications/app1/devices/nodev "{\"end_device\":{\"resets_join_nonces\":true},\"field_mask\":{\"paths\":[\"resets_join_nonces\"]}}")
lw_t_eq "PUT for a device the IS does not have → 404" "404 not_found" "$(lw_t_status_name "$r")"
r=$(adm acme PUT /js/applications/app1/devices/dev1 '{"end_device":{"root_keys":{"app_key":{"key":"00"}}},"field_mask":{"paths":["root_keys.app_key.key"]}}')
lw_t_eq "a short key → 400 naming the field" "400 invalid_field end_device.root_keys.app_key.key" \
    "$(lw_t_status_name "$r") $(body "$r" | jq -r '.details[0].attributes.field')"
r=$(adm acme PUT /js/applications/app1/devices/dev1 '{"end_device":{"colour":"red"}}')
lw_t_eq "an unknown field → 400 unknown_field" "400 unknown_field" "$(lw_t_status_name "$r")"
r=$(lw_t_http GET "$api/js/applications/app1/devices/dev1" -H "X-Tenant-ID: acme")
lw_t_eq "no credentials → 401" 401 "${r%% *}"
lw_t_eq "acme still holds one JS device, globex one" "1 1" "$(count t_acme.js_devices) $(count t_globex.js_devices)"

# ---- rights (tenant/access.h asks the IS): API keys with and without the key rights --------
key() { # tenant rights-json → the key
    body "$(adm "$1" POST /applications/app1/api-keys "{\"name\":\"k\",\"rights\":$2}")" | jq -r .key
}
bearer() { lw_t_bearer "$@"; }
READ=$(key acme '["RIGHT_APPLICATION_DEVICES_READ"]')
KEYS=$(key acme '["RIGHT_APPLICATION_DEVICES_READ","RIGHT_APPLICATION_DEVICES_READ_KEYS"]')
WRITE=$(key acme '["RIGHT_APPLICATION_DEVICES_READ","RIGHT_APPLICATION_DEVICES_WRITE"]')
INFO=$(key acme '["RIGHT_APPLICATION_INFO"]')
GLOBEX_ALL=$(key globex '["RIGHT_APPLICATION_ALL"]')
r=$(bearer "$READ" acme GET '/js/applications/app1/devices/dev1?field_mask=resets_join_nonces')
lw_t_eq "DEVICES_READ: GET without keys → 200" "200 false" "${r%% *} $(body "$r" | jq -r .resets_join_nonces)"
r=$(bearer "$READ" acme GET '/js/applications/app1/devices/dev1?field_mask=root_keys')
lw_t_eq "DEVICES_READ: GET root_keys → 403 naming READ_KEYS" "403 1" \
    "${r%% *} $(body "$r" | grep -c RIGHT_APPLICATION_DEVICES_READ_KEYS)"
r=$(bearer "$KEYS" acme GET '/js/applications/app1/devices/dev1?field_mask=root_keys.app_key')
lw_t_eq "DEVICES_READ_KEYS: GET root_keys.app_key → the AppKey" "200 ${ACME_APP_KEY^^}" "${r%% *} $(body "$r" | jq -r .root_keys.app_key.key)"
r=$(bearer "$INFO" acme GET /js/applications/app1/devices/dev1)
lw_t_eq "APPLICATION_INFO only: GET → 403 insufficient_application_rights" "403 insufficient_application_rights" "$(lw_t_status_name "$r")"
r=$(bearer "$WRITE" acme PUT /js/applications/app1/devices/dev1 '{"end_device":{"resets_join_nonces":false},"field_mask":{"paths":["resets_join_nonces"]}}')
lw_t_eq "DEVICES_WRITE: PUT resets_join_nonces → 200" 200 "${r%% *}"
r=$(bearer "$WRITE" acme PUT /js/applications/app1/devices/dev1 "{\"end_device\":{\"root_keys\":{\"app_key\":{\"key\":\"$GLOBEX_APP_KEY\"}}},\"field_mask\":{\"paths\":[\"root_keys.app_key.key\"]}}")
lw_t_eq "DEVICES_WRITE without WRITE_KEYS: PUT root_keys → 403" "403 insufficient_application_rights" "$(lw_t_status_name "$r")"
r=$(bearer "$GLOBEX_ALL" acme GET /js/applications/app1/devices/dev1)
lw_t_eq "globex's key on acme's device → 401" 401 "${r%% *}"
r=$(bearer "$GLOBEX_ALL" globex GET '/js/applications/app1/devices/dev1?field_mask=root_keys')
lw_t_eq "globex's key on globex's device → globex's keys" "200 ${GLOBEX_APP_KEY^^}" "${r%% *} $(body "$r" | jq -r .root_keys.app_key.key)"
lw_t_eq "acme's AppKey unchanged by the refused write" "${ACME_APP_KEY^^}" \
    "$(body "$(adm acme GET '/js/applications/app1/devices/dev1?field_mask=root_keys')" | jq -r .root_keys.app_key.key)"

# ---- Backend Interfaces: JoinReq → JoinAns (LoRaWAN 1.0.3) ------------------------------------
# join_body VERSION(BI) MAC PHY DEVEUI [CFLIST [SENDER]]: the JoinReq an NS of NetID
# SENDER (000013) sends; join_req: posted with that NS's token (AUTH: another header).
join_body() {
    local cf=""
    [ -n "${5:-}" ] && cf=",\"CFList\":\"$5\""
    printf '%s' "{\"ProtocolVersion\":\"$1\",\"TransactionID\":42,\"MessageType\":\"JoinReq\",\"SenderID\":\"${6:-000013}\",\"SenderNSID\":\"70B3D57ED0000001\",\"ReceiverID\":\"${JOIN_EUI^^}\",\"MACVersion\":\"$2\",\"PHYPayload\":\"$3\",\"DevEUI\":\"${4^^}\",\"DevAddr\":\"26011234\",\"DLSettings\":\"03\",\"RxDelay\":5$cf}"
}
AUTH="Authorization: Bearer $NS_TOKEN"
join_req() {
    curl -sS "${curl_tls[@]}" -X POST "$bi" -H 'Content-Type: application/json' -H 'X-Request-ID: test' \
        -H "$AUTH" -d "$(join_body "$@")"
}
nonces() { lw_t_psql -c "SELECT last_dev_nonce || ' ' || used_dev_nonces::text || ' ' || last_join_nonce || ' ' || (SELECT count(*) FROM t_$1.js_session_keys) FROM t_$1.js_devices"; }
phy=$(node "$lwjoin" request "$ACME_APP_KEY" "$JOIN_EUI" "$ACME_DEV_EUI" 1)
phy11=$(node "$lwjoin" request "$GLOBEX_NWK_KEY" "$JOIN_EUI" "$GLOBEX_DEV_EUI" 0)

# ---- who may call: the sender's token, nothing else ----------------------------------------------
# unauth NAME EXPECTED [curl args...]: acme's JoinReq (DevNonce 1) and globex's posted with the
# given headers: both 401 with the exact answer; neither device's nonces move.
unauth() {
    local what=$1 want=$2; shift 2
    local r g
    r=$(lw_t_http POST "$bi" -H 'Content-Type: application/json' "$@" -d "$(join_body 1.1 1.0.3 "$phy" "$ACME_DEV_EUI")")
    g=$(lw_t_http POST "$bi" -H 'Content-Type: application/json' "$@" -d "$(join_body 1.1 1.1 "$phy11" "$GLOBEX_DEV_EUI")")
    lw_t_eq "$what → 401 JoinAns UnknownSender, header answered (acme's and globex's device)" \
        "401 JoinAns 42 000013 70B3D57ED0001234 UnknownSender $want|401 UnknownSender $want" \
        "${r%% *} $(body "$r" | jq -r '[.MessageType, (.TransactionID|tostring), .ReceiverID, .SenderID, .Result.ResultCode, .Result.Description] | join(" ")')|${g%% *} $(body "$g" | jq -r '.Result.ResultCode + " " + .Result.Description')"
    lw_t_eq "$what: no DevNonce, JoinNonce or session key taken, in either tenant" "0 {} 0 0|0 {} 0 0" \
        "$(nonces acme)|$(nonces globex)"
}
unauth "no Authorization" "no Authorization"
unauth "a wrong token" "wrong token for sender 000013" -H "Authorization: Bearer 0123456789abcdef"
unauth "the AS's token on a JoinReq of NetID 000013" "wrong token for sender 000013" -H "Authorization: Bearer $AS_TOKEN"
unauth "the NS's token with one character more" "wrong token for sender 000013" -H "Authorization: Bearer ${NS_TOKEN}0"
unauth "another scheme" "Authorization is not a Bearer token" -H "Authorization: Basic $(printf 'ns:%s' "$NS_TOKEN" | base64 -w0)"
r=$(lw_t_http POST "$bi" -H "$AUTH" -d "$(join_body 1.1 1.0.3 "$phy" "$ACME_DEV_EUI" "" 00002A)")
lw_t_eq "a sender without a token (NetID 00002A) → 401 naming it" "401 UnknownSender unknown sender 00002A 00002A" \
    "${r%% *} $(body "$r" | jq -r '[.Result.ResultCode, .Result.Description, .ReceiverID] | join(" ")')"
r=$(curl -sS -o /dev/null -D - -X POST "$bi" -d "$(join_body 1.1 1.0.3 "$phy" "$ACME_DEV_EUI")" | tr -d '\r' | grep -i '^www-authenticate:' | sed 's/^[^:]*:/WWW-Authenticate:/')
lw_t_eq "a 401 names the scheme (RFC 6750)" "WWW-Authenticate: Bearer" "$r"
lw_t_eq "still no nonce taken" "0 {} 0 0|0 {} 0 0" "$(nonces acme)|$(nonces globex)"
m=$(curl -sS "http://127.0.0.1:$port/metrics")
lw_t_eq "refusals counted: requests and joins with result unauthenticated" "12 12" \
    "$(grep '^lwstack_js_interop_requests_total{message_type="JoinReq",result="unauthenticated"}' <<<"$m" | awk '{print $2}') $(grep '^lwstack_js_join_requests_total{result="unauthenticated"}' <<<"$m" | awk '{print $2}')"
lw_t_eq "each refusal logged with its sender and reason, never the token" "12 0" \
    "$(grep -c 'request refused: unauthenticated.*sender=0000' "$LW_T_DIR/stack.log") $(grep -ciE "$NS_TOKEN|$AS_TOKEN" "$LW_T_DIR/stack.log")"
lw_t_eq "the JS warned at start of nothing (tokens set, allow-unauthenticated off)" 0 \
    "$(grep -cE 'allow-unauthenticated is on|no js.bi.tokens' "$LW_T_DIR/stack.log")"
ans=$(join_req 1.1 1.0.3 "$phy" "$ACME_DEV_EUI")
lw_t_eq "JoinAns: Success, header answered" "JoinAns Success 42 000013 70B3D57ED0001234 70B3D57ED0000001" \
    "$(jq -r '[.MessageType, .Result.ResultCode, (.TransactionID|tostring), .ReceiverID, .SenderID, .ReceiverNSID] | join(" ")' <<<"$ans")"
acc=$(node "$lwjoin" accept 1.0.3 "$ACME_APP_KEY" "$ACME_APP_KEY" "$JOIN_EUI" "$ACME_DEV_EUI" 1 "$(jq -r .PHYPayload <<<"$ans")")
lw_t_eq "the join-accept decrypts and verifies with the AppKey (lora-packet)" \
    "true 1 000013 26011234 false 0 3 5" \
    "$(jq -r '[.mic_ok, .join_nonce, .net_id, .dev_addr, .opt_neg, .rx1_dr_offset, .rx2_data_rate, .rx_delay] | map(tostring) | join(" ")' <<<"$acc")"
lw_t_eq "NwkSKey wrapped under KEK ns-dev unwraps to the device's NwkSKey" \
    "ns-dev $(jq -r .nwk_s_key <<<"$acc")" \
    "$(jq -r .NwkSKey.KEKLabel <<<"$ans") $(node "$lwjoin" unwrap "$NS_KEK" "$(jq -r .NwkSKey.AESKey <<<"$ans")")"
lw_t_eq "AppSKey in clear (no AS KEK label) is the device's AppSKey" \
    " $(jq -r .app_s_key <<<"$acc")" \
    "$(jq -r .AppSKey.KEKLabel <<<"$ans") $(jq -r '.AppSKey.AESKey | ascii_downcase' <<<"$ans")"
lw_t_eq "1.0.x answer: no 1.1 keys, a SessionKeyID" "null null 32" \
    "$(jq -r '[(.FNwkSIntKey|tostring), (.SNwkSIntKey|tostring), (.SessionKeyID|length|tostring)] | join(" ")' <<<"$ans")"
SKID=$(jq -r .SessionKeyID <<<"$ans")
ACME_APP_S_KEY=$(jq -r .app_s_key <<<"$acc")
SESSION_KEYS="$(jq -r .nwk_s_key <<<"$acc")|$ACME_APP_S_KEY"
lw_t_eq "with the right token: accepted, DevNonce and JoinNonce persisted with the JoinAns" "{1} 1" \
    "$(lw_t_psql -c "SELECT used_dev_nonces::text || ' ' || last_join_nonce FROM t_acme.js_devices")"

ans=$(join_req 1.1 1.0.3 "$phy" "$ACME_DEV_EUI")
lw_t_eq "replayed DevNonce → JoinReqFailed naming it" "JoinReqFailed DevNonce has already been used" \
    "$(jq -r '.Result.ResultCode + " " + .Result.Description' <<<"$ans")"
lw_t_eq "the replay changed nothing" "{1} 1" \
    "$(lw_t_psql -c "SELECT used_dev_nonces::text || ' ' || last_join_nonce FROM t_acme.js_devices")"
bad=$(node "$lwjoin" request "$GLOBEX_APP_KEY" "$JOIN_EUI" "$ACME_DEV_EUI" 2)
ans=$(join_req 1.0 1.0.3 "$bad" "$ACME_DEV_EUI")
lw_t_eq "acme's device, another key's MIC → MICFailed" "MICFailed" "$(jq -r .Result.ResultCode <<<"$ans")"
ans=$(join_req 1.0 1.0.3 "$(node "$lwjoin" request "$ACME_APP_KEY" "$JOIN_EUI" 0004a30b001c0599 1)" 0004a30b001c0599)
lw_t_eq "unregistered DevEUI → UnknownDevEUI" "UnknownDevEUI" "$(jq -r .Result.ResultCode <<<"$ans")"

# ---- LoRaWAN 1.1 (globex): OptNeg, four session keys, CFList ------------------------------------
CF=184f84e85684b85e84886684586e8400
ans=$(join_req 1.1 1.1 "$phy11" "$GLOBEX_DEV_EUI" "$CF")
lw_t_eq "globex 1.1 JoinAns → Success" Success "$(jq -r .Result.ResultCode <<<"$ans")"
acc=$(node "$lwjoin" accept 1.1 "$GLOBEX_NWK_KEY" "$GLOBEX_APP_KEY" "$JOIN_EUI" "$GLOBEX_DEV_EUI" 0 "$(jq -r .PHYPayload <<<"$ans")")
lw_t_eq "the 1.1 join-accept verifies under JSIntKey with OptNeg and the CFList" "true true $CF 1" \
    "$(jq -r '[.mic_ok, .opt_neg, .cflist, .join_nonce] | map(tostring) | join(" ")' <<<"$acc")"
SESSION_KEYS="$SESSION_KEYS|$(jq -r '[.f_nwk_s_int_key, .s_nwk_s_int_key, .nwk_s_enc_key, .app_s_key] | join("|")' <<<"$acc")"
lw_t_eq "FNwkSIntKey, SNwkSIntKey, NwkSEncKey unwrap to the device's" \
    "$(jq -r '[.f_nwk_s_int_key, .s_nwk_s_int_key, .nwk_s_enc_key] | join(" ")' <<<"$acc")" \
    "$(for k in FNwkSIntKey SNwkSIntKey NwkSEncKey; do node "$lwjoin" unwrap "$NS_KEK" "$(jq -r ".$k.AESKey" <<<"$ans")"; done | paste -sd' ')"
ans=$(join_req 1.1 1.1 "$phy11" "$GLOBEX_DEV_EUI")
lw_t_eq "1.1: the same DevNonce again → JoinReqFailed (DevNonce is too small)" \
    "JoinReqFailed DevNonce is too small" "$(jq -r '.Result.ResultCode + " " + .Result.Description' <<<"$ans")"
lw_t_eq "globex's join left acme's nonces alone" "{1} 1" \
    "$(lw_t_psql -c "SELECT used_dev_nonces::text || ' ' || last_join_nonce FROM t_acme.js_devices")"

# ---- AppSKeyReq -----------------------------------------------------------------------------------
asreq() { printf '%s' "{\"ProtocolVersion\":\"1.1\",\"MessageType\":\"AppSKeyReq\",\"SenderID\":\"as.local\",\"ReceiverID\":\"${JOIN_EUI^^}\",\"DevEUI\":\"${1^^}\",\"SessionKeyID\":\"$SKID\"}"; }
r=$(lw_t_http POST "$bi" -d "$(asreq "$ACME_DEV_EUI")")
lw_t_eq "AppSKeyReq without Authorization → 401 AppSKeyAns UnknownSender, no key" \
    "401 AppSKeyAns UnknownSender no Authorization null" \
    "${r%% *} $(body "$r" | jq -r '[.MessageType, .Result.ResultCode, .Result.Description, (.AppSKey|tostring)] | join(" ")')"
r=$(lw_t_http POST "$bi" -H "$AUTH" -d "$(asreq "$ACME_DEV_EUI")")
lw_t_eq "AppSKeyReq of as.local with the NS's token → 401, no key" \
    "401 UnknownSender wrong token for sender as.local null" \
    "${r%% *} $(body "$r" | jq -r '[.Result.ResultCode, .Result.Description, (.AppSKey|tostring)] | join(" ")')"
ask=$(curl -sS -X POST "${bi}app-s-key" -H "Authorization: Bearer $AS_TOKEN" -d "{\"ProtocolVersion\":\"1.1\",\"MessageType\":\"AppSKeyReq\",\"SenderID\":\"as.local\",\"ReceiverID\":\"${JOIN_EUI^^}\",\"DevEUI\":\"${ACME_DEV_EUI^^}\",\"SessionKeyID\":\"$SKID\"}")
lw_t_eq "AppSKeyReq → AppSKeyAns with the session's AppSKey (in clear: no AS KEK label)" \
    "AppSKeyAns Success as.local ${ACME_DEV_EUI^^} $SKID $ACME_APP_S_KEY" \
    "$(jq -r '[.MessageType, .Result.ResultCode, .ReceiverID, .DevEUI, .SessionKeyID, (.AppSKey.AESKey|ascii_downcase)] | join(" ")' <<<"$ask")"
ask=$(curl -sS -X POST "$bi" -H "Authorization: Bearer $AS_TOKEN" -d "{\"ProtocolVersion\":\"1.1\",\"MessageType\":\"AppSKeyReq\",\"SenderID\":\"as.local\",\"ReceiverID\":\"${JOIN_EUI^^}\",\"DevEUI\":\"${GLOBEX_DEV_EUI^^}\",\"SessionKeyID\":\"$SKID\"}")
lw_t_eq "acme's SessionKeyID for globex's device → UnknownDevEUI" UnknownDevEUI "$(jq -r .Result.ResultCode <<<"$ask")"

# ---- HomeNSReq: the device's home NetID ------------------------------------------------------------
home() { curl -sS "${curl_tls[@]}" -X POST "$bi" -H "$AUTH" -d "{\"ProtocolVersion\":\"1.1\",\"MessageType\":\"HomeNSReq\",\"TransactionID\":3,\"SenderID\":\"000013\",\"ReceiverID\":\"${JOIN_EUI^^}\",\"DevEUI\":\"${1^^}\"}"; }
lw_t_eq "HomeNSReq for globex's device (net_id 000013) → HomeNSAns HNetID 000013" "HomeNSAns Success 000013" \
    "$(home "$GLOBEX_DEV_EUI" | jq -r '[.MessageType, .Result.ResultCode, .HNetID] | join(" ")')"
lw_t_eq "HomeNSReq for acme's device (no net_id) → ActivationDisallowed" ActivationDisallowed \
    "$(home "$ACME_DEV_EUI" | jq -r .Result.ResultCode)"
lw_t_eq "HomeNSReq without the token → 401 HomeNSAns UnknownSender, no HNetID" "HomeNSAns UnknownSender null" \
    "$(AUTH="X-No: auth" home "$GLOBEX_DEV_EUI" | jq -r '[.MessageType, .Result.ResultCode, (.HNetID|tostring)] | join(" ")')"

# ---- malformed requests: refused with a named result, never a crash ----------------------------
r=$(lw_t_http POST "$bi" "${curl_tls[@]}" -d 'not json')
lw_t_eq "not JSON → 400 MalformedRequest" "400 MalformedRequest" "${r%% *} $(body "$r" | jq -r .Result.ResultCode)"
r=$(lw_t_http POST "$bi" -d '{"ProtocolVersion":"1.0","MessageType":"JoinReq","SenderID":"000013","ReceiverID":"70B3D57ED0001234","MACVersion":"1.0.3","PHYPayload":"00","DevEUI":"0004A30B001C0530","DevAddr":"26011234","DLSettings":"03","RxDelay":1}')
lw_t_eq "a 1-byte PHYPayload → 200 MalformedRequest naming PHYPayload" "200 MalformedRequest 1" \
    "${r%% *} $(body "$r" | jq -r .Result.ResultCode) $(body "$r" | jq -r .Result.Description | grep -c PHYPayload)"
r=$(lw_t_http POST "$bi" -d '{"ProtocolVersion":"3.0","MessageType":"JoinReq"}')
lw_t_eq "unknown ProtocolVersion → InvalidProtocolVersion" "400 InvalidProtocolVersion" "${r%% *} $(body "$r" | jq -r .Result.ResultCode)"

# ---- JoinNonce across a SIGKILL ---------------------------------------------------------------------
kill -KILL "$LW_T_LAST_PID"
wait "$LW_T_LAST_PID" 2>/dev/null || true
# It comes back serving Backend Interfaces over HTTPS (js.tls.*), as for external NSes.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$LW_T_DIR/js-key.pem" -out "$LW_T_DIR/js-cert.pem" \
    -days 2 -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1
# ... and with js.bi.allow-unauthenticated (development): no token needed, a wrong one refused.
lw_t_stack stack2 "$port" "${stack_args[@]}" --js.tls.certificate "$LW_T_DIR/js-cert.pem" \
    --js.tls.key "$LW_T_DIR/js-key.pem" --js.bi.allow-unauthenticated
bi="https://127.0.0.1:$jsport/"
curl_tls=(--cacert "$LW_T_DIR/js-cert.pem")
lw_t_eq "plain HTTP on the TLS listener gets no answer" "000" \
    "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST "http://127.0.0.1:$jsport/" -d '{}' || true)"
lw_t_eq "allow-unauthenticated is warned about at start" 1 \
    "$(grep -c 'js.bi.allow-unauthenticated is on' "$LW_T_DIR/stack2.log")"
ans=$(join_req 1.0 1.0.3 "$phy" "$ACME_DEV_EUI")
lw_t_eq "after SIGKILL and restart the used DevNonce is still refused" JoinReqFailed "$(jq -r .Result.ResultCode <<<"$ans")"
phy2=$(node "$lwjoin" request "$ACME_APP_KEY" "$JOIN_EUI" "$ACME_DEV_EUI" 2)
r=$(lw_t_http POST "$bi" "${curl_tls[@]}" -H "Authorization: Bearer $AS_TOKEN" -d "$(join_body 1.0 1.0.3 "$phy2" "$ACME_DEV_EUI")")
lw_t_eq "allow-unauthenticated: a wrong token is still refused, nothing taken" \
    "401 wrong token for sender 000013 0 {1} 1 1" \
    "${r%% *} $(body "$r" | jq -r .Result.Description) $(nonces acme)"
ans=$(AUTH="X-No: auth" join_req 1.0 1.0.3 "$phy2" "$ACME_DEV_EUI")
acc=$(node "$lwjoin" accept 1.0.3 "$ACME_APP_KEY" "$ACME_APP_KEY" "$JOIN_EUI" "$ACME_DEV_EUI" 2 "$(jq -r .PHYPayload <<<"$ans")")
lw_t_eq "allow-unauthenticated: a JoinReq without a token is accepted; after the restart it takes JoinNonce 2" "Success true 2" \
    "$(jq -r .Result.ResultCode <<<"$ans") $(jq -r '[.mic_ok, .join_nonce] | map(tostring) | join(" ")' <<<"$acc")"

# ---- DevNonce history bound (js.dev-nonce-limit 3) and reset ------------------------------------------
for n in 3 4; do join_req 1.0 1.0.3 "$(node "$lwjoin" request "$ACME_APP_KEY" "$JOIN_EUI" "$ACME_DEV_EUI" $n)" "$ACME_DEV_EUI" >/dev/null; done
lw_t_eq "the used DevNonces keep the newest 3" "{2,3,4} 4" \
    "$(lw_t_psql -c "SELECT used_dev_nonces::text || ' ' || last_join_nonce FROM t_acme.js_devices")"
r=$(adm acme PUT /js/applications/app1/devices/dev1 '{"end_device":{"used_dev_nonces":[]},"field_mask":{"paths":["used_dev_nonces"]}}')
lw_t_eq "reset the DevNonces → 200" 200 "${r%% *}"
ans=$(join_req 1.0 1.0.3 "$phy2" "$ACME_DEV_EUI")
lw_t_eq "after the reset DevNonce 2 is accepted again, with JoinNonce 5" "Success 5" \
    "$(jq -r .Result.ResultCode <<<"$ans") $(node "$lwjoin" accept 1.0.3 "$ACME_APP_KEY" "$ACME_APP_KEY" "$JOIN_EUI" "$ACME_DEV_EUI" 2 "$(jq -r .PHYPayload <<<"$ans")" | jq -r .join_nonce)"
r=$(adm acme GET '/js/applications/app1/devices/dev1?field_mask=used_dev_nonces,last_join_nonce')
lw_t_eq "GET shows used_dev_nonces and last_join_nonce" '[2] 5' "$(body "$r" | jq -c '.used_dev_nonces' | tr -d '\n') $(body "$r" | jq -r .last_join_nonce)"

# ---- events on lw.events ---------------------------------------------------------------------------
if command -v kcat >/dev/null; then
    lw_t_wait_for "js events on the bus" 10 bash -c "kcat -C -b '$LW_T_BROKERS' -t lw.events -o beginning -e -q -f '%k %s\n' 2>/dev/null | grep -q js.dev_nonce.reset"
    kcat -C -b "$LW_T_BROKERS" -t lw.events -o beginning -e -q -f '%k %s\n' >"$LW_T_DIR/events" 2>/dev/null || true
    ev() { grep "^$1 " "$LW_T_DIR/events" | cut -d' ' -f2- | jq -c "select(.name == \"$2\")" ; }
    lw_t_eq "js.join.reject (acme) names reuse_dev_nonce and the device" \
        'reuse_dev_nonce {"device_id":"dev1","application_ids":{"application_id":"app1"},"join_eui":"70B3D57ED0001234","dev_eui":"0004A30B001C0530"}' \
        "$(ev acme js.join.reject | head -1 | jq -r '.data.name + " " + (.identifiers[0].device_ids|tostring)')"
    lw_t_eq "js.join.accept events (so far): acme 5, globex 1" "5 1" \
        "$(ev acme js.join.accept | wc -l) $(ev globex js.join.accept | wc -l)"
    lw_t_eq "js.dev_nonce.reset for acme only" "1 0" "$(ev acme js.dev_nonce.reset | wc -l) $(ev globex js.dev_nonce.reset | wc -l)"
    lw_t_eq "no key in any event" 0 "$(grep -ciE "$ACME_APP_KEY|$GLOBEX_APP_KEY|$GLOBEX_NWK_KEY" "$LW_T_DIR/events")"
else
    lw_t_fail "kcat is not installed (ops/install)"
fi

# ---- concurrent copies of one join-request (two NS paths): exactly one JoinAns succeeds ----------------
phy5=$(node "$lwjoin" request "$ACME_APP_KEY" "$JOIN_EUI" "$ACME_DEV_EUI" 5)
racers=()
for i in 1 2 3 4 5 6; do
    join_req 1.0 1.0.3 "$phy5" "$ACME_DEV_EUI" >"$LW_T_DIR/race.$i" &
    racers+=("$!")
done
wait "${racers[@]}"
lw_t_eq "six concurrent copies → 1 Success, 5 JoinReqFailed" "1 5" \
    "$(cat "$LW_T_DIR"/race.* | jq -r .Result.ResultCode | grep -c '^Success$') $(cat "$LW_T_DIR"/race.* | jq -r .Result.ResultCode | grep -c '^JoinReqFailed$')"
lw_t_eq "and one JoinNonce was taken" 6 "$(lw_t_psql -c "SELECT last_join_nonce FROM t_acme.js_devices")"

# ---- a suspended tenant's devices cannot join; the other tenant's can -------------------------------------
r=$(lw_t_admin PUT "$api/tenants/globex" -d '{"tenant":{"state":"STATE_SUSPENDED"},"field_mask":{"paths":["state"]}}')
lw_t_eq "suspend globex → 200" 200 "${r%% *}"
ans=$(join_req 1.1 1.1 "$(node "$lwjoin" request "$GLOBEX_NWK_KEY" "$JOIN_EUI" "$GLOBEX_DEV_EUI" 1)" "$GLOBEX_DEV_EUI")
lw_t_eq "globex suspended: JoinReq → ActivationDisallowed" ActivationDisallowed "$(jq -r .Result.ResultCode <<<"$ans")"
ans=$(join_req 1.0 1.0.3 "$(node "$lwjoin" request "$ACME_APP_KEY" "$JOIN_EUI" "$ACME_DEV_EUI" 6)" "$ACME_DEV_EUI")
lw_t_eq "acme joins meanwhile" Success "$(jq -r .Result.ResultCode <<<"$ans")"
r=$(lw_t_admin PUT "$api/tenants/globex" -d '{"tenant":{"state":"STATE_APPROVED"},"field_mask":{"paths":["state"]}}')
lw_t_eq "globex approved again → 200" 200 "${r%% *}"
lw_t_eq "globex's nonces untouched by the refused join" "0 1" \
    "$(lw_t_psql -c "SELECT last_dev_nonce || ' ' || last_join_nonce FROM t_globex.js_devices")"
m=$(curl -sS "http://127.0.0.1:$port/metrics")
lw_t_eq "metrics count accepted and refused joins by result" "1 1 1" \
    "$(grep -c '^lwstack_js_join_requests_total{result="accepted"}' <<<"$m") $(grep -c '^lwstack_js_join_requests_total{result="reuse_dev_nonce"}' <<<"$m") $(grep -c '^lwstack_js_join_requests_total{result="tenant_not_active"}' <<<"$m")"

# ---- deleting the device in the IS deletes its JS part -------------------------------------------------
r=$(adm acme DELETE /applications/app1/devices/dev1)
lw_t_eq "acme: delete dev1 in the IS → 200" 200 "${r%% *}"
lw_t_eq "acme's JS part and session keys are gone; globex's stay" "0 0 1 1" \
    "$(count t_acme.js_devices) $(count t_acme.js_session_keys) $(count t_globex.js_devices) $(count t_globex.js_session_keys)"
r=$(adm acme GET /js/applications/app1/devices/dev1)
lw_t_eq "acme: GET the JS part → 404" "404 not_found" "$(lw_t_status_name "$r")"
ans=$(join_req 1.0 1.0.3 "$(node "$lwjoin" request "$ACME_APP_KEY" "$JOIN_EUI" "$ACME_DEV_EUI" 9)" "$ACME_DEV_EUI")
lw_t_eq "a join for the deleted device → UnknownDevEUI" UnknownDevEUI "$(jq -r .Result.ResultCode <<<"$ans")"
r=$(adm globex DELETE /js/applications/app1/devices/dev1)
lw_t_eq "globex: DELETE the JS part → 200, the IS device stays" "200 0 1" \
    "${r%% *} $(count t_globex.js_devices) $(count t_globex.end_devices)"

# ---- no key in the logs ------------------------------------------------------------------------------------
keys="$ACME_APP_KEY|$GLOBEX_APP_KEY|$GLOBEX_NWK_KEY|$ROOT_KEK|$NS_KEK|$AS_KEK|$NS_TOKEN|$AS_TOKEN"
lw_t_eq "no root key, KEK or Backend Interfaces token in the logs (either case)" 0 "$(cat "$LW_T_DIR"/stack*.log | grep -ciE "$keys" || true)"
lw_t_eq "no session key in the logs" 0 "$(cat "$LW_T_DIR"/stack*.log | grep -ciE "$SESSION_KEYS" || true)"

# ---- the tokens in `lwstack config`: redacted ---------------------------------------------------------------
out=$(LWSTACK_JS_BI_TOKENS_C0002F="$NS_TOKEN" "$LWSTACK_BIN" --js.bi.tokens.as.local "$AS_TOKEN" \
    --ns.join-server-token "$NS_TOKEN" config)
lw_t_eq "js.bi.tokens.* (flag, and env with its NetID lowercased) and ns.join-server-token redacted" \
    "js.bi.tokens.as.local: <redacted>  # flag|js.bi.tokens.c0002f: <redacted>  # env|ns.join-server-token: <redacted>  # flag" \
    "$(grep -E '^(js\.bi\.tokens\.|ns\.join-server-token)' <<<"$out" | sort | paste -sd'|')"
lw_t_eq "no token in the config output" 0 "$(grep -ciE "$NS_TOKEN|$AS_TOKEN" <<<"$out" || true)"
set +e
out=$("$LWSTACK_BIN" --ns.join-server-token "bad token" config 2>&1); rc=$?
set -e
lw_t_eq "an ns.join-server-token that is no Bearer token → exit 2, named, value redacted" \
    "2 lwstack: invalid value \`<redacted>\` for \`ns.join-server-token\`: a Bearer token is 1 to 256 characters: letters, digits, -._~+/, then =" \
    "$rc $out"

lw_t_done
