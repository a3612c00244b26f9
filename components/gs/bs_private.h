/* The LoRa Basics Station LNS front-end of the Gateway Server (bs_conn.c): two WebSocket
 * listeners on the runtime's HTTP server (gs.basic-station.listen, default ":1887", ws://;
 * gs.basic-station.listen-tls, default ":8887", wss:// with gs.basic-station.tls.certificate
 * and .key), each serving
 *
 *   GET /router-info      discovery: {"router": EUI} → {"router","muxs","uri"} or
 *                         {"router","error"} (unknown gateway, refused credentials)
 *   GET /traffic/{id}     the traffic socket of gateway {id} ("eui-<16 hex>" as TTS writes
 *                         it, or any EUI form the station reads): version → router_config
 *                         (every connection), uplinks → gs_gw_uplink, dnmsg for each
 *                         downlink the core schedules, dntxed → gs_gw_txack, timesync
 *
 * Authentication as The Things Stack: an Authorization header (a station sends its
 * `Bearer <gateway API key>` only over wss://; "Bearer " is added when missing) must carry
 * RIGHT_GATEWAY_LINK for the gateway, checked through the IS (tenant/access.h) in the
 * gateway's tenant; without one the gateway is accepted by its registered EUI alone only when
 * gs.basic-station.allow-unauthenticated is on and the gateway does not have
 * require_authenticated_connection. Refusals on /traffic are HTTP errors before
 * the upgrade (401 unauthenticated, 403 permission denied, 404 gateway_not_found), so the
 * station backs off.
 *
 * Liveness: a ping every gs.basic-station.ws-ping-interval (30 s); a station that has
 * answered pings before and then misses gs.basic-station.missed-pong-threshold (2) in a row
 * is disconnected (TTS's rule: not every station answers pings).
 *
 * Clock: per traffic session, the xtime session (bits 48..63) of the latest uplink; an
 * uplink of another session (the station restarted its radio) starts a new clock for the
 * core (gs_gw_clock_sync pairs restart from that uplink). Uplinks sync through gs_gw_uplink;
 * dntxed (TX xtime at its arrival) adds a pair; RefTime gives round-trip times (accepted
 * below gs.basic-station.max-valid-round-trip-delay, 10 s). */
#ifndef GS_BS_PRIVATE_H
#define GS_BS_PRIVATE_H

#include <stdbool.h>

#include "cluster/config.h"
#include "cluster/err.h"

#include "gs/gs_private.h"

typedef struct gs_bs gs_bs_t;

/* Registers the gs.basic-station.* configuration table. */
int gs_bs_config_register(lw_config_t *cfg);

/* The front-end from the gs.basic-station.* settings of gs's runtime. Returns NULL with err
 * (config_invalid: a malformed address or half a TLS pair). Listeners whose address is ""
 * are off; the TLS listener is off, with a warning, when no certificate is configured. */
gs_bs_t *gs_bs_new(gs_t *gs, lw_err_t *err);
/* Starts the listeners. Returns -1 with err when one cannot listen (nothing left running). */
int gs_bs_start(gs_bs_t *bs, lw_err_t *err);
/* Closes every station connection (the core hears gs_gw_disconnect for each) and the
 * listeners; done once nothing of the front-end is left on the loop. */
void gs_bs_stop(gs_bs_t *bs, void (*done)(void *arg), void *arg);
void gs_bs_free(gs_bs_t *bs); /* after stop's done, or before start; NULL: no-op */

/* The bound port of the plain (tls false) or TLS listener, 0 when off (tests use port 0). */
int gs_bs_port(const gs_bs_t *bs, bool tls);

#endif
