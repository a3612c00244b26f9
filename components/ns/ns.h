/* components/ns: the Network Server (DESIGN.md §3, issue 9 items 6, 7, 9, 10).
 *
 * Two stages on the bus: the matcher consumes lw.gs.up (one message per gateway copy),
 * identifies the device of each data uplink by its MIC among every session that holds the
 * frame's DevAddr (all tenants), and of each join-request by its EUIs, and republishes it
 * on lw.ns.dev keyed "<tenant>/<application_id>/<device_id>". The device worker consumes
 * lw.ns.dev, lw.as.down and lw.gs.txack with one consumer in one group (co-partitioned
 * topics): it owns each device's state by partition, deduplicates, checks frame counters,
 * joins devices through a Join Server (LoRaWAN Backend Interfaces), schedules downlinks on
 * lw.gs.down and publishes its results on lw.ns.up. State is persisted behind the hot path
 * in batches; offsets are committed only once what they produced is durable.
 *
 * API: GET/PUT/DELETE /api/v3/ns/applications/{application_id}/devices/{device_id},
 * GET /api/v3/ns/dev_addr. Configuration: ns.* (`lwstack config --docs`). */
#ifndef NS_NS_H
#define NS_NS_H

#include "cluster/runtime.h"
#include "tenant/devparts.h"

extern const lw_component_t ns_component;

/* The NS's part of end devices (tenant/devparts.h; devpart.c): the ns_devices row: settings,
 * session and MAC state. */
extern const tn_devpart_t ns_devpart;

#endif
