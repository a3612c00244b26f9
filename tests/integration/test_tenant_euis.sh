#!/usr/bin/env bash
# The deployment-wide EUI registry (tenant/euis.h) for the Gateway and Join Servers (issue 4
# item 6, moved to tenant/ by issue 7): after gateways and devices are registered through the
# Identity Server's API in two tenants, tn_gateway_eui_lookup and tn_device_euis_lookup answer
# the owning tenant and entity; deleted ones answer none. The gateway index (control
# migration 0005) also answers the gateway's settings the Gateway Server needs, by EUI and by
# (tenant, gateway ID), kept in step with every create / update / delete / restore / purge;
# the other tenant's gateway is untouched throughout.
. "$(dirname "$0")/lib.sh"

driver="$(cd "$(dirname "$LWSTACK_BIN")/../.." && pwd)/tests/integration/tenant/tn_euis_driver"
[ -x "$driver" ] || { echo "tn_euis_driver not found at $driver" >&2; exit 1; }

lw_t_pg_start
lw_t_kafka_start 4
"$LWSTACK_BIN" --db.uri "$LW_T_DB_URI" migrate >"$LW_T_DIR/migrate.log"
port=$(lw_t_free_port)
lw_t_stack stack "$port"
api="http://127.0.0.1:$port/api/v3"
lookup() { "$driver" "$LW_T_DB_URI" "$@" 2>>"$LW_T_DIR/driver.log"; }
adm() { lw_t_admin "$2" "$api$3" -H "X-Tenant-ID: $1" -d "$4"; }

for t in north south; do
    r=$(lw_t_admin POST "$api/tenants" -d "{\"tenant\":{\"ids\":{\"tenant_id\":\"$t\"},\"state\":\"STATE_APPROVED\"},\"initial_user\":{\"ids\":{\"user_id\":\"admin\"},\"password\":\"Secret-passw0rd\"}}")
    lw_t_eq "create tenant $t" 200 "${r%% *}"
    r=$(adm $t POST /users/admin/applications "{\"application\":{\"ids\":{\"application_id\":\"$t-app\"}}}")
    lw_t_eq "$t: application" 200 "${r%% *}"
done
r=$(adm north POST /users/admin/gateways '{"gateway":{"ids":{"gateway_id":"n-gw","eui":"58A0CBFFFE800001"}}}')
lw_t_eq "north: gateway" 200 "${r%% *}"
r=$(adm south POST /users/admin/gateways '{"gateway":{"ids":{"gateway_id":"s-gw","eui":"58a0cbfffe800002"}}}')
lw_t_eq "south: gateway (lowercase EUI)" 200 "${r%% *}"
r=$(adm south POST /applications/south-app/devices '{"end_device":{"ids":{"device_id":"s-dev","dev_eui":"0004A30B001C0531","join_eui":"70B3D57ED0000001"}}}')
lw_t_eq "south: device" 200 "${r%% *}"

lw_t_eq "gateway EUI 1 → north n-gw" "gateway north n-gw" "$(lookup gateway 58A0CBFFFE800001)"
lw_t_eq "gateway EUI 2 → south s-gw" "gateway south s-gw" "$(lookup gateway 58A0CBFFFE800002)"
lw_t_eq "unknown gateway EUI → none" none "$(lookup gateway 58A0CBFFFE8000FF)"
lw_t_eq "JoinEUI/DevEUI → south south-app s-dev" "device south south-app s-dev" \
    "$(lookup device 70B3D57ED0000001 0004A30B001C0531)"
lw_t_eq "same DevEUI, other JoinEUI → none" none "$(lookup device 70B3D57ED0000002 0004A30B001C0531)"

r=$(lw_t_admin DELETE "$api/gateways/n-gw" -H "X-Tenant-ID: north")
lw_t_eq "north: delete n-gw" 200 "${r%% *}"
lw_t_eq "deleted gateway's EUI → none" none "$(lookup gateway 58A0CBFFFE800001)"
r=$(lw_t_admin DELETE "$api/applications/south-app/devices/s-dev" -H "X-Tenant-ID: south")
lw_t_eq "south: delete s-dev" 200 "${r%% *}"
lw_t_eq "deleted device's EUIs → none" none "$(lookup device 70B3D57ED0000001 0004A30B001C0531)"
lw_t_eq "south's gateway still found" "gateway south s-gw" "$(lookup gateway 58A0CBFFFE800002)"

# ---- the gateway index: settings ----------------------------------------------------------
full() { lookup gateway-full "$1" | jq -cS "$2"; }
byid() { lookup gateway-id "$1" "$2" | jq -cS "$3"; }
lw_t_eq "south's gateway without settings: defaults" \
    '{"auth":false,"dc":false,"delay":0,"eui":"58A0CBFFFE800002","fps":[],"gain":null,"late":false,"loc":null,"lp":false,"sp":false,"upd":false}' \
    "$(full 58A0CBFFFE800002 '{eui, fps: .frequency_plan_ids, late: .schedule_downlink_late, dc: .enforce_duty_cycle, delay: .schedule_anytime_delay_ms, upd: .update_location_from_status, lp: .location_public, sp: .status_public, auth: .require_authenticated_connection, loc: .location, gain: .antenna_gain}')"
GW='{"gateway":{"ids":{"gateway_id":"n-gw2","eui":"58A0CBFFFE800010"},"frequency_plan_ids":["EU_863_870_TTN","EU_863_870"],"schedule_downlink_late":true,"enforce_duty_cycle":true,"schedule_anytime_delay":"0.530s","update_location_from_status":true,"location_public":true,"status_public":true,"antennas":[{"gain":3,"location":{"latitude":52.3676,"longitude":4.9041,"altitude":12,"accuracy":5,"source":"SOURCE_REGISTRY"}}]}}'
r=$(adm north POST /users/admin/gateways "$GW")
lw_t_eq "north: gateway with settings" 200 "${r%% *}"
want='{"auth":false,"dc":true,"delay":530,"eui":"58A0CBFFFE800010","fps":["EU_863_870_TTN","EU_863_870"],"gain":3,"late":true,"loc":{"accuracy":5,"altitude":12,"latitude":52.3676,"longitude":4.9041,"source":"SOURCE_REGISTRY"},"lp":true,"sp":true,"upd":true}'
sel='{eui, fps: .frequency_plan_ids, late: .schedule_downlink_late, dc: .enforce_duty_cycle, delay: .schedule_anytime_delay_ms, upd: .update_location_from_status, lp: .location_public, sp: .status_public, auth: .require_authenticated_connection, gain: .antenna_gain, loc: .location}'
lw_t_eq "by EUI: every setting" "$want" "$(full 58A0CBFFFE800010 "$sel")"
lw_t_eq "by (tenant, ID): the same answer" "$(lookup gateway-full 58A0CBFFFE800010)" "$(lookup gateway-id north n-gw2)"
lw_t_eq "by ID in the other tenant → none" none "$(lookup gateway-id south n-gw2)"
lw_t_eq "the owner in the answer" "north n-gw2" "$(full 58A0CBFFFE800010 '.tenant_id + " " + .gateway_id' | tr -d '"')"

r=$(adm north PUT /gateways/n-gw2 '{"gateway":{"frequency_plan_id":"US_902_928_FSB_2","frequency_plan_ids":[],"enforce_duty_cycle":false,"antennas":[{"gain":6}],"require_authenticated_connection":true},"field_mask":{"paths":["frequency_plan_id","frequency_plan_ids","enforce_duty_cycle","antennas","require_authenticated_connection"]}}')
lw_t_eq "north: update settings" 200 "${r%% *}"
lw_t_eq "update → index follows (old frequency_plan_id used when ids are empty, location gone)" \
    '{"auth":true,"dc":false,"fps":["US_902_928_FSB_2"],"gain":6,"late":true,"loc":null}' \
    "$(full 58A0CBFFFE800010 '{fps: .frequency_plan_ids, dc: .enforce_duty_cycle, late: .schedule_downlink_late, gain: .antenna_gain, loc: .location, auth: .require_authenticated_connection}')"
r=$(adm north PUT /gateways/n-gw2 '{"gateway":{"ids":{"gateway_id":"n-gw2","eui":"58A0CBFFFE800011"}},"field_mask":{"paths":["ids.eui"]}}')
lw_t_eq "north: change the EUI" 200 "${r%% *}"
lw_t_eq "old EUI → none" none "$(lookup gateway-full 58A0CBFFFE800010)"
lw_t_eq "new EUI → the gateway, settings kept" "58A0CBFFFE800011 US_902_928_FSB_2" \
    "$(full 58A0CBFFFE800011 '.eui + " " + .frequency_plan_ids[0]' | tr -d '"')"
r=$(adm north PUT /gateways/n-gw2 '{"gateway":{"ids":{"gateway_id":"n-gw2"}},"field_mask":{"paths":["ids.eui"]}}')
lw_t_eq "north: remove the EUI" 200 "${r%% *}"
lw_t_eq "without EUI: not by EUI" none "$(lookup gateway-full 58A0CBFFFE800011)"
lw_t_eq "without EUI: by ID, no eui" "null US_902_928_FSB_2" "$(byid north n-gw2 '(.eui|tostring) + " " + .frequency_plan_ids[0]' | tr -d '"')"
r=$(adm north POST /users/admin/gateways '{"gateway":{"ids":{"gateway_id":"n-noeui"},"frequency_plan_id":"AU_915_928_FSB_2"}}')
lw_t_eq "north: gateway created without EUI" 200 "${r%% *}"
lw_t_eq "created without EUI: by ID" "AU_915_928_FSB_2" "$(byid north n-noeui '.frequency_plan_ids[0]' | tr -d '"')"

r=$(adm north PUT /gateways/n-gw2 '{"gateway":{"ids":{"gateway_id":"n-gw2","eui":"58A0CBFFFE800012"}},"field_mask":{"paths":["ids.eui"]}}')
lw_t_eq "north: EUI again" 200 "${r%% *}"
r=$(lw_t_admin DELETE "$api/gateways/n-gw2" -H "X-Tenant-ID: north")
lw_t_eq "north: delete n-gw2" 200 "${r%% *}"
lw_t_eq "deleted: not by EUI" none "$(lookup gateway-full 58A0CBFFFE800012)"
lw_t_eq "deleted: not by ID" none "$(lookup gateway-id north n-gw2)"
r=$(lw_t_admin POST "$api/gateways/n-gw2/restore" -H "X-Tenant-ID: north")
lw_t_eq "north: restore n-gw2" 200 "${r%% *}"
lw_t_eq "restored: by EUI, settings back" "north n-gw2 US_902_928_FSB_2 true" \
    "$(full 58A0CBFFFE800012 '.tenant_id + " " + .gateway_id + " " + .frequency_plan_ids[0] + " " + (.require_authenticated_connection|tostring)' | tr -d '"')"
r=$(lw_t_admin DELETE "$api/gateways/n-gw2/purge" -H "X-Tenant-ID: north")
lw_t_eq "north: purge n-gw2" 200 "${r%% *}"
lw_t_eq "purged: not by ID" none "$(lookup gateway-id north n-gw2)"
lw_t_eq "index rows of north: n-noeui only" "n-noeui" \
    "$(lw_t_psql -c "SELECT string_agg(gateway_id, ',' ORDER BY gateway_id) FROM lw_control.gateways WHERE tenant_id = 'north'")"
lw_t_eq "south's gateway untouched" "south s-gw []" \
    "$(full 58A0CBFFFE800002 '.tenant_id + " " + .gateway_id + " " + (.frequency_plan_ids|tostring)' | tr -d '"')"

# A tenant's deletion takes its index rows (ON DELETE CASCADE through the purge).
r=$(lw_t_admin DELETE "$api/tenants/north?purge=true")
lw_t_eq "purge tenant north" 200 "${r%% *}"
lw_t_eq "north's index rows gone" 0 "$(lw_t_psql -c "SELECT count(*) FROM lw_control.gateways WHERE tenant_id = 'north'")"
lw_t_eq "south's row stays" 1 "$(lw_t_psql -c "SELECT count(*) FROM lw_control.gateways WHERE tenant_id = 'south'")"

lw_t_done
