/* The Gateway Server core and the interface of its protocol front-ends (Semtech UDP in
 * udp_conn.c, LoRa Basics Station in bs_conn.c). Private to components/gs and its tests.
 *
 * A front-end owns its sockets and its wire format; the core owns everything else: the
 * gateway registry cache (EUI → tenant, gateway ID, frequency plan, options), connections
 * and their statistics, the tenant state (a suspended tenant's gateways are closed through
 * ops->close and their traffic refused), per-gateway clock tracking (concentrator counter ↔
 * server time, round-trip times), publishing lw.gs.up, consuming lw.gs.down, calling the
 * scheduler (schedule_private.h), answering EVERY GsDown on lw.gs.txack, the connection
 * stats API, events and metrics.
 *
 * Threading: everything here runs on the loop thread. Nothing here blocks.
 *
 * A front-end's life with a gateway:
 *
 *   gs_gw_lookup(gs, eui, cb, arg)         cached; cb once (maybe before it returns? never:
 *                                          always from the loop, see below)
 *   gw = gs_gw_connect(gs, info, "udp", &ops, conn, &err)
 *   gs_gw_uplink(gw, phy, len, &rx)        each received frame (publishes gs.up)
 *   gs_gw_status(gw, &st)                  each status report
 *   gs_gw_clock_sync(gw, ...), gs_gw_rtt(gw, rtt_ns)
 *     ... ops->send_down(conn, &tx, &err)  the core hands it a scheduled downlink
 *   gs_gw_txack(gw, tx_id, result, ...)    the gateway's TX result for tx.id
 *   gs_gw_disconnect(gw, "reason")         the front-end lost it (gw is freed: forget it)
 *     or ops->close(conn, reason)          the core drops it (suspension, replaced, stop):
 *                                          after close returns, gw is freed; the front-end
 *                                          must not call gs_gw_* with it again.
 */
#ifndef GS_GS_PRIVATE_H
#define GS_GS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/err.h"
#include "cluster/runtime.h"
#include "tenant/ids.h"

#include "gs/gs.h"

/* Errors of the Gateway Server (components/gs/errors.def). */
#define LW_ERR_DEF(name, ns, http, grpc, fmt) LW_ERR_DECLARE(name);
#include "gs/errors.def"
#undef LW_ERR_DEF

typedef struct gs gs_t;       /* the core (one per process) */
typedef struct gs_gw gs_gw_t; /* a connected gateway */

#define GS_FREQ_PLAN_MAX 63

/* What the registry says about a gateway (from tenant/euis.h, cached by the core). */
typedef struct gs_gw_info {
    char tenant_id[TN_ID_MAX + 1];
    char gateway_id[TN_ID_MAX + 1];
    uint64_t eui;
    char frequency_plan_id[GS_FREQ_PLAN_MAX + 1]; /* "EU_863_870_TTN"; "" when unknown */
    bool schedule_downlink_late;      /* hand a downlink to the gateway just before its time */
    bool enforce_duty_cycle;          /* default true */
    bool update_location_from_status; /* status locations may update the registry */
    bool location_public;
    bool require_authenticated_connection; /* Basics Station: no EUI-only connection */
    float antenna_gain_db; /* antennas[0].gain: the conducted power is EIRP minus this */
    /* antennas[0].location, only when location_public: rx_metadata carries it (as TTS). */
    bool has_location;
    double latitude, longitude;
    int32_t altitude, accuracy;
    char location_source[40];
} gs_gw_info_t;

/* The answer of gs_gw_lookup: info NULL and err NULL: the EUI is not registered (refuse the
 * gateway); info NULL and err set: the registry could not be asked (db_unavailable: the
 * front-end may retry later). info and err are valid during the call only. */
typedef void (*gs_gw_lookup_cb)(void *arg, const gs_gw_info_t *info, const lw_err_t *err);

/* Looks gateway EUI `eui` up, through the core's cache (positive and negative answers, kept
 * until a gateway.* event or a tenant change invalidates them, or `gs.registry-cache-ttl`).
 * cb is called exactly once, always later on the loop (never from inside this call), also on
 * a cache hit. Returns 0, or -1 with err (stopping, too many lookups in flight) and cb never
 * called. For the hot path use gs_gw_lookup_cached first. */
int gs_gw_lookup(gs_t *gs, uint64_t eui, gs_gw_lookup_cb cb, void *arg, lw_err_t *err);

/* Synchronous cache probe: 1 and *out filled when a positive answer is cached, 0 when a
 * negative one is (unknown EUI), -1 when nothing is cached (call gs_gw_lookup). */
int gs_gw_lookup_cached(gs_t *gs, uint64_t eui, gs_gw_info_t *out);

/* ---- downlinks handed to a front-end ---------------------------------------------------- */

typedef enum { GS_MOD_LORA = 1, GS_MOD_FSK = 2 } gs_mod_t;

typedef struct gs_dr {
    gs_mod_t mod;
    uint8_t sf;           /* LoRa 5..12 */
    uint32_t bw_hz;       /* LoRa 125000, 250000, 500000 ... */
    char codr[8];         /* LoRa "4/5" (uplink: as received; "" unknown) */
    uint32_t fsk_bitrate; /* FSK bits/s */
} gs_dr_t;

/* Opaque front-end values carried through the uplink token into the downlink (Basics
 * Station: xtime and rctx of the uplink; Semtech UDP: unused, 0). */
typedef struct gs_fe_ctx {
    int64_t xtime;
    int64_t rctx;
} gs_fe_ctx_t;

/* A downlink the core has validated and scheduled, to be sent now. Valid during send_down
 * only (copy what must outlive it). */
typedef struct gs_tx {
    uint64_t id;         /* the core's id of this transmission: pass it to gs_gw_txack
                          * (Basics Station: use it as diid) */
    bool immediate;      /* class C IMMEDIATE with no concentrator time (Semtech imme) */
    uint32_t timestamp;  /* concentrator counter µs at which to transmit (low 32 bits) */
    uint64_t time_us;    /* the same, extended to 64 bits (the scheduler's time base) */
    uint32_t rx_window;  /* 1 or 2 (class A), 0 class C / absolute */
    uint32_t rx_delay_s; /* RX1 delay the uplink opened (class A), for Basics Station RxDelay */
    uint8_t dev_class;   /* 0 class A, 2 class C (Basics Station dC) */
    uint64_t frequency_hz;
    gs_dr_t dr;
    uint32_t dr_index;  /* the band's data rate index of dr (Basics Station RX1DR/RX2DR) */
    float tx_power_dbm; /* conducted power to set (EIRP minus antenna gain; 0: band default) */
    bool invert_polarization;
    uint32_t antenna_index;
    gs_fe_ctx_t fe;   /* from the uplink token (class A), else zero */
    uint64_t dev_eui; /* the device's DevEUI when the NS gave it (Basics Station DevEui) */
    uint8_t priority; /* TxSchedulePriority 0..6 */
    const uint8_t *payload;
    size_t payload_len; /* 1..255 */
} gs_tx_t;

/* What send_down returns on success. */
enum {
    GS_SENT_ACK_PENDING = 0, /* handed over; the gateway will answer (gs_gw_txack for tx->id) */
    GS_SENT_NO_ACK = 1,      /* handed over; no answer will come (Semtech v1): the core reports
                              * SUCCESS on lw.gs.txack at once */
};

typedef struct gs_conn_ops {
    /* Sends a scheduled downlink (validated and scheduled by the core). Returns
     * GS_SENT_ACK_PENDING or GS_SENT_NO_ACK, or -1 with err (the core answers the GsDown
     * with err's name, e.g. no_downlink_path, and does not retry). */
    int (*send_down)(void *conn, const gs_tx_t *tx, lw_err_t *err);
    /* The core disconnects the gateway (tenant suspended, gateway deleted, replaced by a
     * newer connection of the same EUI, component stopping). The front-end stops serving
     * that gateway's traffic; it must not call gs_gw_disconnect for it (the core already
     * has). The gw handle is freed when close returns. */
    void (*close)(void *conn, const char *reason);
} gs_conn_ops_t;

/* Registers a connection of gateway `info` (from gs_gw_lookup) on `protocol` ("udp",
 * "basicstation": the stats API's protocol). ops and conn are kept until close/disconnect.
 * An earlier connection of the same gateway is closed first (ops->close(.., "replaced")),
 * as The Things Stack does. Publishes gs.gateway.connect. Returns the gateway, or NULL with
 * err: tenant_not_active (suspended or deleted tenant: refuse the gateway, counted),
 * resource_exhausted (gs.max-gateways reached). */
gs_gw_t *gs_gw_connect(gs_t *gs, const gs_gw_info_t *info, const char *protocol,
                       const gs_conn_ops_t *ops, void *conn, lw_err_t *err);

/* The front-end lost the connection (socket closed, downlink path and uplinks expired).
 * Publishes gs.gateway.disconnect; answers pending downlinks gateway_not_connected; frees gw. */
void gs_gw_disconnect(gs_gw_t *gw, const char *reason);

/* The registry view of a connected gateway (valid while gw is). */
const gs_gw_info_t *gs_gw_info(const gs_gw_t *gw);

/* ---- uplinks, status, clock, TX results ------------------------------------------------- */

/* One received frame's metadata. */
typedef struct gs_rx {
    uint32_t timestamp;  /* concentrator counter µs (Semtech tmst; Basics Station low
                          * 32 bits of xtime) */
    int64_t time_ns;     /* reception time reported by the gateway (Unix ns), 0 unknown */
    int64_t gps_time_ns; /* GPS time as Unix ns... 0 unknown: see gs_gw_uplink */
    uint64_t frequency_hz;
    gs_dr_t dr;
    uint32_t antenna_index;
    uint32_t channel_index;
    float rssi, channel_rssi; /* dBm */
    bool has_snr;
    float snr;      /* dB */
    int crc_status; /* 1 OK, -1 failed, 0 no CRC: only 1 (or 0) is forwarded */
    gs_fe_ctx_t fe; /* returned in gs_tx_t.fe of the downlink answering it */
} gs_rx_t;

/* Why an uplink was not published (also the gs.up.drop reason and metric label). */
typedef enum {
    GS_UP_OK = 0,
    GS_UP_DROP_CRC = -1,     /* "crc_failed" */
    GS_UP_DROP_PAYLOAD = -2, /* "invalid_payload": empty, too long, not a LoRaWAN frame */
    GS_UP_DROP_TENANT = -3,  /* "tenant_not_active" */
    GS_UP_DROP_RATE = -4,    /* "rate_limited" (gs.rate-limit.uplinks-per-gateway) */
    GS_UP_DROP_PUBLISH = -5, /* "bus_publish" */
} gs_up_result_t;

/* Publishes one gs.up copy (key DevAddr / JoinEUI+DevEUI, contracts.md), counts it, updates
 * the stats, emits gs.up.receive (or gs.up.drop with the reason). phy is copied. Returns
 * GS_UP_OK or the drop reason. */
int gs_gw_uplink(gs_gw_t *gw, const uint8_t *phy, size_t len, const gs_rx_t *rx);

typedef struct gs_status {
    int64_t time_ns; /* the gateway's time of the report (Unix ns), 0 unknown */
    bool has_location;
    double latitude, longitude;
    bool has_altitude;
    int32_t altitude;                      /* metres */
    uint32_t rxnb, rxok, rxfw, dwnb, txnb; /* Semtech counters (0 when unknown) */
    bool has_ackr;
    double ackr;          /* % of upstream datagrams acknowledged */
    const char *platform; /* "" / NULL unknown (Basics Station model ...) */
    const char *firmware;
} gs_status_t;

/* A status report: kept for the stats API (last_status, last_status_received_at), emits
 * gs.status.receive (with the location when present and the gateway allows updating it). */
void gs_gw_status(gs_gw_t *gw, const gs_status_t *st);

/* A pair of the same instant in both clocks: the concentrator counter (µs; low 32 bits for
 * Semtech tmst, the 64-bit counter for Basics Station xtime's low bits) and server time
 * (CLOCK_REALTIME ns, e.g. when the datagram carrying it arrived). The core keeps a
 * 64-bit extension of the counter across its 32-bit wrap and the offset to server time,
 * which the scheduler's "now" is computed from. Every gs_gw_uplink also syncs (its
 * timestamp at its reception time), so a front-end only calls this for extra pairs. A counter
 * more than 5 s off from where the previous pair predicts it is taken for a concentrator
 * restart: a new time base, an empty timeline, and downlinks not yet handed over answered
 * SCHEDULE_FAILED concentrator_reset. */
void gs_gw_clock_sync(gs_gw_t *gw, uint32_t timestamp_us, int64_t server_ns);

/* One measured round trip between the server and the gateway (PULL_DATA→PULL_ACK is not
 * one: the GS answers at once; Semtech: PULL_RESP→TX_ACK; Basics Station: timesync or
 * dnmsg→dntxed less airtime). Kept for scheduling (how early to hand a downlink over) and
 * the stats API's round_trip_times. */
void gs_gw_rtt(gs_gw_t *gw, int64_t rtt_ns);

/* The gateway's answer for transmission tx_id (gs_tx_t.id). result is a TxAckResult of
 * messages.proto (LW__MSG__TX_ACK_RESULT__SUCCESS, __TOO_LATE, ...); raw_error is the
 * protocol's error text as sent ("TOO_LATE"; NULL none), raw_code the protocol's numeric
 * code (0 none). Publishes the GsTxAck and gs.down.tx.success / gs.down.tx.fail. An unknown
 * or already-answered tx_id is counted and ignored. Returns 0, or -1 when tx_id is unknown. */
int gs_gw_txack(gs_gw_t *gw, uint64_t tx_id, int result, const char *raw_error, int64_t raw_code);

/* A TX_ACK without an id (Semtech v2 TX_ACK tokens are the front-end's to map; a front-end
 * that cannot map one passes its token here): the oldest transmission still waiting for an
 * ack on this gateway. Returns 0, or -1 when none waits. */
int gs_gw_txack_oldest(gs_gw_t *gw, int result, const char *raw_error, int64_t raw_code);

/* ---- the core's services to front-ends -------------------------------------------------- */

/* The core of the running gs component (for front-ends' start functions called from
 * component.c). */
lw_rt_t *gs_runtime(gs_t *gs);

/* Counts a datagram/message a front-end dropped before it reached a gateway (unknown EUI,
 * malformed, ...): lwstack_gs_dropped_total{protocol,reason}. protocol and reason are
 * static strings. */
void gs_count_drop(gs_t *gs, const char *protocol, const char *reason);

/* The configured downlink path / connection timeouts, for front-ends (ms). */
typedef struct gs_timeouts {
    uint64_t connection_expiry_ms;    /* gs.udp.connection-expires: no datagram for this
                                       * long → disconnected (TTS: 1m) */
    uint64_t downlink_path_expiry_ms; /* gs.udp.downlink-path-expires: no PULL_DATA for this
                                       * long → no downlink path (TTS: 15s) */
    uint64_t schedule_late_ms;        /* gs.udp.schedule-late-time: how long before its
                                       * time a late downlink is handed over (TTS: 800ms) */
} gs_timeouts_t;
void gs_timeouts(const gs_t *gs, gs_timeouts_t *out);

#endif
