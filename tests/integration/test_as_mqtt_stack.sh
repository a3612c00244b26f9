#!/usr/bin/env bash
# The MQTT server inside a running stack (`lwstack start all`, issue 10 item 4): API keys
# from the Identity Server checked through tenant/access.h (RIGHT_APPLICATION_TRAFFIC_READ
# to receive, ..._TRAFFIC_DOWN_WRITE to publish downlinks), lw.as.up fanned out to
# mosquitto_sub clients (published here by tests/integration/as/as_up_pub.c as the AS worker
# would; a replayed envelope id delivered once), client downlinks handed to the AS's downlink
# entry point, GET /api/v3/as/applications/{app}/mqtt-connection-info as TTS answers it, and
# a tenant suspension closing that tenant's connections within 5 s while the other tenant's
# keep receiving. Two tenants, acme and globex, each with an application `app1`.
. "$(dirname "$0")/lib.sh"

build="$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)"
pub="$build/tests/integration/as/as_up_pub"
[ -x "$pub" ] || { echo "as_up_pub not found at $pub" >&2; exit 1; }

lw_t_pg_start
lw_t_kafka_start 2
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$LW_T_DIR/key.pem" -out "$LW_T_DIR/cert.pem" 2>/dev/null
lw_t_stack stack "$port" --as.mqtt.listen-tls 127.0.0.1:0 \
    --as.mqtt.tls.certificate "$LW_T_DIR/cert.pem" --as.mqtt.tls.key "$LW_T_DIR/key.pem"
api="http://127.0.0.1:$port/api/v3"
mport=$(sed -nE 's/.*msg="mqtt listening".* port=([0-9]+).*/\1/p' "$LW_T_DIR/stack.log" | head -1)
tport=$(sed -nE 's/.*msg="mqtt tls listening".* port=([0-9]+).*/\1/p' "$LW_T_DIR/stack.log" | head -1)
[ -n "$mport" ] && [ -n "$tport" ] || { echo "no MQTT port in the log" >&2; tail -20 "$LW_T_DIR/stack.log" >&2; exit 1; }
adm() { lw_t_adm "$@"; }
body() { lw_t_body "$@"; }
metric() { curl -sS "http://127.0.0.1:$port/metrics" | grep -F "$1" | awk '{print $NF}' | head -1; }
PASS='Secret-passw0rd'
for t in acme globex; do
    r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$t\"},\"state\":\"STATE_APPROVED\"},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"$PASS\",\"primary_email_address\":\"admin@$t.example\"}}")
    lw_t_eq "create tenant $t → 200" 200 "${r%% *}"
    r=$(adm $t POST /users/admin/applications '{"application":{"ids":{"application_id":"app1"}}}')
    lw_t_eq "$t: create app1 → 200" 200 "${r%% *}"
done
key() { body "$(adm "$1" POST /applications/app1/api-keys "{\"name\":\"k\",\"rights\":$2}")" | jq -r .key; }
ACME_RW=$(key acme '["RIGHT_APPLICATION_TRAFFIC_READ","RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE","RIGHT_APPLICATION_INFO"]')
ACME_INFO=$(key acme '["RIGHT_APPLICATION_INFO"]')
ACME_DEVICES=$(key acme '["RIGHT_APPLICATION_DEVICES_READ"]')
GLOBEX_R=$(key globex '["RIGHT_APPLICATION_TRAFFIC_READ"]')

# ---- mqtt-connection-info ------------------------------------------------------------------
r=$(lw_t_bearer "$ACME_INFO" acme GET /as/applications/app1/mqtt-connection-info)
lw_t_eq "mqtt-connection-info with RIGHT_APPLICATION_INFO → TTS's MQTTConnectionInfo" \
    "200 {\"public_address\":\"localhost:$mport\",\"public_tls_address\":\"localhost:$tport\",\"username\":\"app1@acme\"}" \
    "${r%% *} $(body "$r" | jq -c -S .)"
r=$(lw_t_bearer "$ACME_DEVICES" acme GET /as/applications/app1/mqtt-connection-info)
lw_t_eq "without RIGHT_APPLICATION_INFO → 403" "403 insufficient_application_rights" "$(lw_t_status_name "$r")"
r=$(lw_t_bearer "$GLOBEX_R" acme GET /as/applications/app1/mqtt-connection-info)
lw_t_eq "globex's key on acme's application → 401" "401" "${r%% *}"
r=$(lw_t_bearer "$GLOBEX_R" globex GET /as/applications/app1/mqtt-connection-info)
lw_t_eq "globex's read key has no RIGHT_APPLICATION_INFO → 403" "403" "${r%% *}"

# ---- CONNACK -------------------------------------------------------------------------------
mpub() { mosquitto_pub -h 127.0.0.1 -p "$mport" "$@" 2>&1 && echo accepted || true; }
lw_t_eq "acme's traffic key for app1@acme → accepted" "accepted" \
    "$(mpub -u app1@acme -P "$ACME_RW" -t v3/app1@acme/devices/dev1/down/push -m '{"downlinks":[]}')"
for v in mqttv311 mqttv5; do
    lw_t_eq "$v: a key without traffic rights → not authorised" "yes" \
        "$(mpub -V $v -u app1@acme -P "$ACME_INFO" -t x -m y | grep -qi 'not authori' && echo yes)"
    lw_t_eq "$v: globex's key as app1@acme → not authorised" "yes" \
        "$(mpub -V $v -u app1@acme -P "$GLOBEX_R" -t x -m y | grep -qi 'not authori' && echo yes)"
    lw_t_eq "$v: acme's key as app1@globex → not authorised" "yes" \
        "$(mpub -V $v -u app1@globex -P "$ACME_RW" -t x -m y | grep -qi 'not authori' && echo yes)"
    lw_t_eq "$v: a made-up key → not authorised" "yes" \
        "$(mpub -V $v -u app1@acme -P NNSXS.AAAA.BBBB -t x -m y | grep -qi 'not authori' && echo yes)"
done

# ---- lw.as.up → subscribers ------------------------------------------------------------------
lw_t_bg acme_sub mosquitto_sub -h 127.0.0.1 -p "$mport" -u app1@acme -P "$ACME_RW" -t '#' -v
ACME_SUB=$LW_T_LAST_PID
# globex's subscriber over TLS.
lw_t_bg globex_sub mosquitto_sub -h localhost -p "$tport" --cafile "$LW_T_DIR/cert.pem" -V mqttv5 \
    -u app1@globex -P "$GLOBEX_R" -t 'v3/+/devices/+/+' -v
lw_t_wait_for "two MQTT connections" 10 bash -c "[ \"\$(curl -sS http://127.0.0.1:$port/metrics | grep '^lwstack_as_mqtt_connections ' | awk '{print \$NF}')\" = 2 ]"
sleep 0.5 # SUBSCRIBEs
# The server reads lw.as.up from the end once its private group has its partitions: what was
# published before is not for it.
lw_t_wait_for "lw.as.up assigned" 30 grep -q 'partitions assigned.*lw.as.up' "$LW_T_DIR/stack.log"
sleep 1
up() { "$pub" --brokers "$LW_T_BROKERS" "$@" >/dev/null; }
up --tenant acme --app app1 --dev dev1 --type 1 --json '{"n":1}'
up --tenant globex --app app1 --dev dev1 --type 2 --json '{"n":2}'
REPLAY=00112233445566778899aabbccddeeff
up --tenant acme --app app1 --dev dev2 --type 5 --json '{"n":3}' --id $REPLAY
up --tenant acme --app app1 --dev dev2 --type 5 --json '{"n":3}' --id $REPLAY
up --tenant acme --app app1 --dev dev3 --type 9 --json '{"n":4}'
lw_t_wait_for "acme's messages" 20 bash -c "[ \$(wc -l <'$LW_T_DIR/acme_sub.out') -ge 3 ]"
sleep 0.5
lw_t_eq "acme's subscriber: its uplink, the ack once (the replay dropped by id), service data" \
    'v3/app1@acme/devices/dev1/up {"n":1}
v3/app1@acme/devices/dev2/down/ack {"n":3}
v3/app1@acme/devices/dev3/service/data {"n":4}' "$(cat "$LW_T_DIR/acme_sub.out")"
lw_t_wait_for "globex's message" 20 grep -q . "$LW_T_DIR/globex_sub.out"
lw_t_eq "globex's subscriber (over TLS): its join only" 'v3/app1@globex/devices/dev1/join {"n":2}' \
    "$(cat "$LW_T_DIR/globex_sub.out")"

# ---- client downlinks ------------------------------------------------------------------------
ok0=$(metric 'lwstack_as_mqtt_downlinks_total{result="accepted"}')
mosquitto_pub -h 127.0.0.1 -p "$mport" -u app1@acme -P "$ACME_RW" -q 1 \
    -t v3/app1@acme/devices/dev1/down/push -m '{"downlinks":[{"f_port":1,"frm_payload":"AQ=="}]}'
lw_t_eq "a down/push with the down-write key goes to the AS's downlink entry point" \
    "$((${ok0:-0} + 1))" "$(metric 'lwstack_as_mqtt_downlinks_total{result="accepted"}')"
mosquitto_pub -h 127.0.0.1 -p "$mport" -u app1@acme -P "$ACME_RW" -q 1 \
    -t v3/app1@globex/devices/dev1/down/push -m '{"downlinks":[]}'
lw_t_eq "a down/push on globex's topic is denied" "1" \
    "$(metric 'lwstack_as_mqtt_downlinks_total{result="denied"}')"

# ---- suspension --------------------------------------------------------------------------------
r=$(lw_t_admin PUT "$api/tenants/acme" -d '{"tenant":{"state":"STATE_SUSPENDED"},"field_mask":{"paths":["state"]}}')
lw_t_eq "suspend acme" 200 "${r%% *}"
lw_t_wait_for "acme's connection closed within 5 s" 5 bash -c "[ \"\$(curl -sS http://127.0.0.1:$port/metrics | grep '^lwstack_as_mqtt_connections ' | awk '{print \$NF}')\" = 1 ]" &&
    lw_t_ok "acme's connection closed within 5 s, globex's open"
lw_t_eq "closed as tenant_closed" "1" "$(metric 'lwstack_as_mqtt_disconnects_total{reason="tenant_closed"}')"
lw_t_eq "acme's key refused while suspended" "yes" \
    "$(mpub -u app1@acme -P "$ACME_RW" -t x -m y | grep -qi 'not authori' && echo yes)"
up --tenant globex --app app1 --dev dev4 --type 1 --json '{"n":5}'
lw_t_wait_for "globex still receives" 20 grep -q '"n":5' "$LW_T_DIR/globex_sub.out" &&
    lw_t_ok "globex's subscriber still receives after acme's suspension"
lw_t_done
