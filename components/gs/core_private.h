/* The Gateway Server core's own state, shared by its files (registry.c, gateway.c,
 * downlink.c, event.c, api.c, component.c) and the Semtech UDP front-end (udp_conn.c).
 * Front-ends of other helpers use gs_private.h only. */
#ifndef GS_CORE_PRIVATE_H
#define GS_CORE_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "cluster/bus.h"
#include "cluster/metrics.h"
#include "cluster/ratelimit.h"
#include "messages/messages.h"
#include "tenant/euis.h"
#include "tenant/tenant.h"

#include "gs/gs_private.h"
#include "gs/schedule_private.h"

/* ---- uplink token (token.c, pure) ------------------------------------------------------- */

/* What the GS puts in rx_metadata.uplink_token and reads back from GsDown.uplink_token. */
typedef struct gs_token {
    uint64_t eui;
    uint32_t antenna_index;
    uint32_t timestamp;  /* the uplink's concentrator counter µs */
    int64_t received_ns; /* when the GS received it (Unix ns) */
    gs_fe_ctx_t fe;
} gs_token_t;

#define GS_TOKEN_VERSION 1u
#define GS_TOKEN_LEN                                                                               \
    41u /* version 1 | eui 8 | antenna 4 | timestamp 4 | rx 8 | xtime 8 | rctx 8                   \
         */

/* Writes GS_TOKEN_LEN bytes. */
void gs_token_encode(const gs_token_t *t, uint8_t out[GS_TOKEN_LEN]);
/* Returns 0, or -1 for bytes that are not a token of this version. */
int gs_token_decode(const uint8_t *buf, size_t len, gs_token_t *out);

/* ---- state ------------------------------------------------------------------------------ */

#define GS_RTT_WINDOW 20 /* round-trip times kept for the stats (TTS keeps recent ones) */

typedef struct gs_pending gs_pending_t; /* a downlink between schedule and TX ack (downlink.c) */

struct gs_gw {
    gs_t *gs;
    gs_gw_info_t info;
    char uid[2 * TN_ID_MAX + 2]; /* "<tenant>/<gateway_id>": the gs.down key and limiter key */
    char protocol[16];
    const gs_conn_ops_t *ops;
    void *conn;
    gs_gw_t *next, *prev;         /* gs->gateways */
    gs_gw_t *next_eui, *next_uid; /* hash chains */

    /* clock: last pair (64-bit concentrator µs, server ns); synced false until one */
    bool clock_synced;
    int64_t clock_us;
    int64_t clock_server_ns;

    int64_t rtt_ns[GS_RTT_WINDOW];
    size_t rtt_n, rtt_next;

    /* stats */
    int64_t connected_at_ns;
    int64_t last_status_received_at_ns;
    json_t *last_status; /* TTS GatewayStatus JSON */
    int64_t last_uplink_received_at_ns;
    uint64_t uplink_count;
    int64_t last_downlink_received_at_ns;
    uint64_t downlink_count;
    int64_t last_tx_ack_received_at_ns;
    uint64_t tx_ack_count;
    char remote_ip[64];

    gs_pending_t *pending; /* downlinks scheduled or waiting for their ack, oldest first */
    size_t npending;
    bool sched_ok; /* false: the frequency plan is unknown, downlinks are refused */
    gs_sched_t sched;
};

#define GS_HASH_BUCKETS 4096u

typedef struct gs_cache_entry gs_cache_entry_t;
typedef struct gs_lookup gs_lookup_t;

#define GS_UP_BUCKETS 1024u /* hash buckets of one turn's pending uplinks */

struct gs {
    lw_rt_t *rt;
    uv_loop_t *loop;
    lw_bus_t *bus;
    lw_db_t *db;
    tn_t *tn;
    lw_metrics_t *metrics;
    bool started, stopping;

    /* configuration */
    char udp_listen[128];
    int udp_rcvbuf; /* gs.udp.socket-receive-buffer; 0: the system's */
    gs_timeouts_t timeouts;
    uint64_t registry_ttl_ms;
    size_t registry_max;
    size_t gateways_max;
    uint64_t tx_ack_timeout_ms;
    char default_freq_plan[GS_FREQ_PLAN_MAX + 1];
    lw_ratelimit_t *up_limit;    /* gs.rate-limit.uplinks-per-gateway */
    bool events_uplinks;         /* gs.events.uplinks: gs.up.receive per uplink */
    lw_ratelimit_t *event_limit; /* gs.events.uplinks-per-gateway */
    /* This turn's uplinks, gateway copies of one frame merged (gateway.c): published as one
     * lw.gs.up message each when the loop turn ends (up_check). */
    struct gs_up_pend *ups;
    size_t nups, ups_cap;
    int up_buckets[GS_UP_BUCKETS];
    uv_check_t *up_check;
    bool answer_not_connected;     /* gs.downlink.answer-not-connected */
    uint64_t addr_change_block_ms; /* gs.udp.addr-change-block */

    /* connected gateways */
    gs_gw_t *gateways;
    size_t ngateways;
    gs_gw_t *by_eui[GS_HASH_BUCKETS];
    gs_gw_t *by_uid[GS_HASH_BUCKETS];

    /* registry cache (registry.c) */
    gs_cache_entry_t *cache[GS_HASH_BUCKETS];
    size_t ncache;
    gs_lookup_t *lookups; /* in flight */
    size_t nlookups;
    uv_timer_t *deliver; /* answers cache hits of gs_gw_lookup on the next loop turn */

    /* downlinks */
    lw_bus_consumer_t *down_consumer;
    lw_bus_consumer_t *events_consumer;
    uint64_t next_tx_id;

    /* scratch for encoding bus messages on the loop */
    uint8_t buf[65536];

    /* front-ends */
    struct gs_udp *udp;
    struct gs_bs *bs; /* Basics Station (bs_conn.c) */

    /* metrics: handles resolved once */
    lw_metric_t *m_up, *m_drop, *m_down, *m_txack, *m_connect, *m_connected, *m_lookup;
};

/* registry.c */
void gs_registry_forget_gateway(gs_t *gs, const char *tenant_id, const char *gateway_id);
void gs_registry_forget_tenant(gs_t *gs, const char *tenant_id);
void gs_registry_free(gs_t *gs);
/* Subscribes to lw.events for the registry's gateway.* changes. */
int gs_registry_start(gs_t *gs, lw_err_t *err);
/* Fills info from the tenant index's answer (one place that follows tenant/euis.h). */
void gs_registry_info_from_ref(const gs_t *gs, const tn_gateway_ref_t *ref, uint64_t eui,
                               gs_gw_info_t *out);

/* gateway.c */
gs_gw_t *gs_gw_by_uid(gs_t *gs, const char *tenant_id, const char *gateway_id);
gs_gw_t *gs_gw_by_eui(gs_t *gs, uint64_t eui);
void gs_gw_close(gs_gw_t *gw, const char *reason); /* the core drops it: ops->close, then free */
/* The concentrator time now (64-bit µs) by the gateway's clock; false when not synced. */
bool gs_gw_now_us(const gs_gw_t *gw, int64_t now_ns, int64_t *out);
/* Median RTT (ns), or -1 without measurements. */
int64_t gs_gw_rtt_median(const gs_gw_t *gw);
void gs_tenant_changed(void *arg, const tn_tenant_t *t);
int64_t gs_now_ns(void);
uint32_t gs_hash_u64(uint64_t v);
uint32_t gs_hash_str(const char *s);

/* downlink.c */
int gs_down_start(gs_t *gs, lw_err_t *err);
/* Answers every downlink of gw not yet answered with error `def` (gateway gone). */
void gs_down_gateway_gone(gs_gw_t *gw, const lw_err_def_t *def);
/* The scheduler of a newly connected gateway (its plan, duty cycle, margins). */
void gs_down_gateway_init(gs_gw_t *gw);
/* The gateway's concentrator counter jumped (gs_gw_clock_sync): downlinks not yet handed over
 * are answered concentrator_reset, and the timeline starts again empty. */
void gs_down_clock_reset(gs_gw_t *gw);
/* How long (ms) to wait for the acknowledgement of a transmission handed over at now_us that
 * starts at start_us (both on the gateway's clock): timeout_ms from the later of the two. A
 * Basics Station sends dntxed when the TX starts (basic-station.md §0), which for an RX2
 * downlink or a long RxDelay is more than timeout_ms after the handover. */
uint64_t gs_tx_ack_wait_ms(uint64_t timeout_ms, int64_t start_us, int64_t now_us);

/* A counter off by more than this from where the previous pair predicts it is a concentrator
 * restart (drift and network delays are far below). */
#define GS_CLOCK_JUMP_US 5000000LL

/* event.c: TTS-shaped events on lw.events, keyed by the gateway's tenant. data may be NULL
 * (the reference is taken). */
void gs_event_gateway(gs_t *gs, const gs_gw_t *gw, const gs_gw_info_t *info, const char *name,
                      json_t *data, const char *correlation_id);
void gs_time_format(int64_t ns, char out[40]);
/* "2013-03-31T16:21:17.528002Z" (rxpk time, RFC 3339 UTC) or "2014-01-12 08:59:28 GMT" (stat
 * time) into Unix ns. Returns 0, or -1 for other text. Pure. */
int gs_time_parse(const char *s, int64_t *ns);
char *gs_duration_format(int64_t ns, char out[32]);

/* api.c */
int gs_api_routes(gs_t *gs, lw_err_t *err);

/* udp_conn.c */
int gs_udp_start(gs_t *gs, lw_err_t *err);
void gs_udp_stop(gs_t *gs, void (*done)(void *arg), void *arg);
void gs_udp_free(gs_t *gs);
int gs_udp_port(const gs_t *gs);

/* Publishes this turn's pending uplinks (gateway.c; also at the end of every loop turn). */
void gs_up_flush(gs_t *gs);

#endif
