#!/usr/bin/env bash
# The deployment-wide EUI registry (tenant/euis.h) for the Gateway and Join Servers (issue 4
# item 6, moved to tenant/ by issue 7): after gateways and devices are registered through the
# Identity Server's API in two tenants, tn_gateway_eui_lookup and tn_device_euis_lookup answer
# the owning tenant and entity; deleted ones answer none.
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

lw_t_done
