/* components/gs: the Gateway Server (DESIGN.md §2, issue 9 items 2-5).
 *
 * Connects gateways over Semtech UDP (gs.udp.listen, :1700) and LoRa Basics Station
 * (bs_conn.c), publishes their uplinks on lw.gs.up, schedules the downlinks of lw.gs.down
 * and reports every TX result on lw.gs.txack; serves
 * GET /api/v3/gs/gateways/{gateway_id}/connection/stats; emits gs.* events on lw.events.
 * The core and the front-end interface are in gs_private.h. */
#ifndef GS_GS_H
#define GS_GS_H

#include "cluster/runtime.h"

/* The Gateway Server component ("gs"). Needs the tenant component (added before it). */
extern const lw_component_t gs_component;

#endif
