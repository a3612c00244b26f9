/* LoRa Basics Station LNS front-end: see bs_private.h. Thin I/O around the pure codec
 * (bs_codec_private.h): a request or message in, the codec, the core (gs_private.h) out. */
#include "gs/bs_private.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "cluster/http.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "cluster/runtime.h"
#include "messages/messages.h"
#include "tenant/access.h"
#include "tenant/tenant.h"

#include "gs/bs_codec_private.h"

#define PROTOCOL   "basicstation"
#define LOG_MODULE "gs.bs"
#define AUTH_MAX   2048 /* longest Authorization header kept */
#define HOST_MAX   256

static const lw_cfg_opt_t bs_opts[] = {
    {.key = "gs.basic-station.listen",
     .type = LW_CFG_STRING,
     .def = ":1887",
     .help = "Address of the LoRa Basics Station LNS listener (ws://); empty: off"},
    {.key = "gs.basic-station.listen-tls",
     .type = LW_CFG_STRING,
     .def = ":8887",
     .help = "Address of the LoRa Basics Station LNS listener with TLS (wss://); empty: off. "
             "Needs gs.basic-station.tls.certificate and .key"},
    {.key = "gs.basic-station.tls.certificate",
     .type = LW_CFG_STRING,
     .help = "PEM certificate (chain) file of the wss:// listener"},
    {.key = "gs.basic-station.tls.key",
     .type = LW_CFG_STRING,
     .help = "PEM private key file of gs.basic-station.tls.certificate (a path, not the key)"},
    {.key = "gs.basic-station.allow-unauthenticated",
     .type = LW_CFG_BOOL,
     .def = "false",
     .help = "Accept a station that sends no Authorization (a station sends its key only over "
             "wss://) by its registered EUI alone"},
    {.key = "gs.basic-station.use-traffic-tls-address",
     .type = LW_CFG_BOOL,
     .def = "false",
     .help = "Answer /router-info with the wss:// traffic address whichever listener was asked"},
    {.key = "gs.basic-station.ws-ping-interval",
     .type = LW_CFG_DURATION,
     .def = "30s",
     .help = "Interval of WebSocket pings to stations; 0: none",
     .min = 0,
     .max = 3600000},
    {.key = "gs.basic-station.missed-pong-threshold",
     .type = LW_CFG_INT,
     .def = "2",
     .help = "Consecutive missed pongs before a station that answered pings before is "
             "disconnected",
     .min = 1,
     .max = 1000},
    {.key = "gs.basic-station.max-valid-round-trip-delay",
     .type = LW_CFG_DURATION,
     .def = "10s",
     .help = "Round-trip times measured from RefTime above this are discarded",
     .min = 1,
     .max = 600000},
};

int gs_bs_config_register(lw_config_t *cfg)
{
    return lw_config_register(cfg, "gs.basic-station", bs_opts, sizeof bs_opts / sizeof bs_opts[0]);
}

typedef struct bs_listener {
    gs_bs_t *bs;
    bool tls;
} bs_listener_t;

typedef struct bs_conn bs_conn_t;

struct gs_bs {
    gs_t *gs;
    lw_rt_t *rt;
    uv_loop_t *loop;
    lw_http_t *http[2]; /* [0] ws://, [1] wss:// (NULL: off) */
    bs_listener_t lis[2];
    bool allow_unauthenticated, traffic_tls;
    uint64_t ping_ms;
    long long missed_pong_max;
    int64_t max_rtt_ns;
    bs_conn_t *conns; /* traffic connections */
    size_t live;      /* pending requests and connections not yet freed */
    bool stopping;
    int http_running;
    bool started[2];
    void (*done)(void *arg);
    void *done_arg;
};

/* A traffic connection. */
struct bs_conn {
    gs_bs_t *bs;
    bs_conn_t *next;
    lw_ws_t *ws;
    gs_gw_t *gw; /* NULL once the core closed it or it was disconnected */
    gs_gw_info_t info;
    const lorawan_freqplan_t *plan;
    const lorawan_band_t *band;
    gs_bs_limits_t lim;
    bool configured; /* router_config sent */
    bool has_session;
    int64_t session; /* xtime bits 48..63 of the latest uplink */
    uv_timer_t ping;
    long long missed_pongs;
    uint64_t pongs;
};

/* A /router-info socket or a /traffic request waiting for the registry and the IS. */
typedef struct bs_pending {
    gs_bs_t *bs;
    bool tls;
    bool traffic;
    lw_http_req_t *req; /* traffic: answered when done */
    lw_ws_t *ws;        /* router-info */
    bool in_flight;     /* a lookup or an access check will call back */
    bool ws_closed;     /* router-info socket gone while in flight */
    bool asked;         /* router-info: the request message was read */
    bool timer_on;      /* close_timer initialised (closed with p) */
    uv_timer_t close_timer;
    uint64_t eui;
    gs_gw_info_t info;
    bool has_auth;
    char auth[AUTH_MAX + 8];
    char host[HOST_MAX];
} bs_pending_t;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double now_s(void)
{
    return (double)now_ns() / 1e9;
}

static void maybe_done(gs_bs_t *bs)
{
    if (bs->stopping)
        lw_log_kv(LW_LOG_DEBUG, LOG_MODULE, "stopping", LW_LOG_UINT("live", bs->live),
                  LW_LOG_INT("listeners", bs->http_running));
    if (bs->stopping && bs->live == 0 && bs->http_running == 0 && bs->done != NULL) {
        void (*done)(void *) = bs->done;
        bs->done = NULL;
        done(bs->done_arg);
    }
}

static void eui_text(uint64_t eui, char out[17])
{
    snprintf(out, 17, "%016" PRIX64, eui);
}

/* ---- refusing and answering ------------------------------------------------------------ */

static void pending_freed(uv_handle_t *h)
{
    bs_pending_t *p = h->data;
    gs_bs_t *bs = p->bs;
    free(p);
    bs->live--;
    maybe_done(bs);
}

static void pending_free(bs_pending_t *p)
{
    if (p->timer_on) {
        p->timer_on = false;
        uv_close((uv_handle_t *)&p->close_timer, pending_freed);
        return;
    }
    p->close_timer.data = p;
    pending_freed((uv_handle_t *)&p->close_timer);
}

static void ri_close_now(uv_timer_t *t)
{
    bs_pending_t *p = t->data;
    if (p->ws != NULL)
        lw_ws_close(p->ws, 1000);
}

/* The answer, then the close: the station closes the discovery socket itself once it has
 * read it; if it does not within RI_LINGER_MS, we do. Closing at once would let the close
 * frame overtake the answer (control frames go first). */
#define RI_LINGER_MS 2000

static void ri_send(bs_pending_t *p, const char *json, size_t len)
{
    lw_err_t err;
    if (p->ws == NULL)
        return;
    if (lw_ws_send(p->ws, false, json, len, &err) != 0) {
        lw_log_kv(LW_LOG_DEBUG, LOG_MODULE, "router-info answer not sent",
                  LW_LOG_STR("error", err.message));
        lw_ws_close(p->ws, 1000);
        return;
    }
    if (!p->timer_on) {
        uv_timer_init(p->bs->loop, &p->close_timer);
        p->close_timer.data = p;
        p->timer_on = true;
        uv_timer_start(&p->close_timer, ri_close_now, RI_LINGER_MS, 0);
    }
}

/* Refuses p with err: router-info gets {"router","error"}, traffic an HTTP error. */
static void refuse(bs_pending_t *p, const lw_err_t *err)
{
    char eui[17];
    eui_text(p->eui, eui);
    gs_count_drop(p->bs->gs, PROTOCOL, err->def != NULL ? err->def->name : "refused");
    lw_log_kv(LW_LOG_INFO, LOG_MODULE, "station refused", LW_LOG_STR("gateway_eui", eui),
              LW_LOG_STR("endpoint", p->traffic ? "traffic" : "router-info"),
              LW_LOG_STR("error", err->def != NULL ? err->def->name : ""),
              LW_LOG_STR("message", err->message));
    if (p->traffic) {
        lw_http_respond_err(p->req, err);
        pending_free(p);
        return;
    }
    char buf[512];
    size_t n = 0;
    if (gs_bs_encode_router_info_error(p->eui, err->message, buf, sizeof buf, &n) == GS_BS_OK)
        ri_send(p, buf, n);
    else if (p->ws != NULL)
        lw_ws_close(p->ws, 1000);
    /* freed by the socket's on_close */
}

static void refuse_with(bs_pending_t *p, const lw_err_def_t *def, const char *msg)
{
    lw_err_t err;
    lw_err_set(&err, def, "%s", msg);
    refuse(p, &err);
}

/* ---- traffic connections --------------------------------------------------------------- */

static void conn_timer_closed(uv_handle_t *h)
{
    bs_conn_t *c = h->data;
    gs_bs_t *bs = c->bs;
    free(c);
    bs->live--;
    maybe_done(bs);
}

static void conn_unlink(bs_conn_t *c)
{
    for (bs_conn_t **pp = &c->bs->conns; *pp != NULL; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
}

static void conn_on_close(lw_ws_t *ws, void *arg)
{
    (void)ws;
    bs_conn_t *c = arg;
    c->ws = NULL;
    if (c->gw != NULL) {
        gs_gw_t *gw = c->gw;
        c->gw = NULL;
        gs_gw_disconnect(gw, "connection closed");
    }
    conn_unlink(c);
    uv_timer_stop(&c->ping);
    uv_close((uv_handle_t *)&c->ping, conn_timer_closed);
}

static void conn_on_pong(lw_ws_t *ws, void *arg)
{
    (void)ws;
    bs_conn_t *c = arg;
    if (c->missed_pongs > 0)
        c->missed_pongs--;
    c->pongs++;
}

static void conn_ping(uv_timer_t *t)
{
    bs_conn_t *c = t->data;
    if (c->ws == NULL)
        return;
    /* TTS's rule: only a station that answered pings before is held to them. */
    if (++c->missed_pongs > c->bs->missed_pong_max && c->pongs > 0) {
        lw_log_kv(LW_LOG_WARN, LOG_MODULE, "station missed too many pongs",
                  LW_LOG_STR("gateway_id", c->info.gateway_id),
                  LW_LOG_STR("tenant_id", c->info.tenant_id));
        gs_count_drop(c->bs->gs, PROTOCOL, "missed_too_many_pongs");
        lw_ws_close(c->ws, 1000);
        return;
    }
    lw_err_t err;
    if (lw_ws_ping(c->ws, &err) != 0)
        lw_log_kv(LW_LOG_DEBUG, LOG_MODULE, "ping not sent", LW_LOG_STR("error", err.message));
}

static int send_json(bs_conn_t *c, const char *json, size_t len, lw_err_t *err)
{
    if (c->ws == NULL)
        return lw_err_set(err, &lw_err_gateway_not_connected, "station connection closing");
    return lw_ws_send(c->ws, false, json, len, err);
}

/* The core's downlink → dnmsg. */
static int conn_send_down(void *arg, const gs_tx_t *tx, lw_err_t *err)
{
    bs_conn_t *c = arg;
    char uid[2 * TN_ID_MAX + 2];
    snprintf(uid, sizeof uid, "%s@%s", c->info.gateway_id, c->info.tenant_id);
    if (!c->configured) {
        /* The station drops every dnmsg before its router_config (basic-station.md §3). */
        lw_err_set(err, &lw_err_no_downlink_path,
                   "no downlink path to gateway `%s`: station not configured yet", uid);
        lw_err_attr(err, "gateway_uid", uid);
        return -1;
    }
    gs_bs_dnmsg_t m = {
        .dev_eui = tx->dev_eui != 0 ? tx->dev_eui : 1, /* non-zero, or no dntxed (TTS: 1) */
        .dclass = tx->dev_class,
        .diid = tx->id <= (uint64_t)INT64_MAX ? (int64_t)tx->id : -1,
        .pdu = tx->payload,
        .pdu_len = tx->payload_len,
        .rctx = tx->dev_class == 0 ? tx->fe.rctx : (int64_t)tx->antenna_index,
        /* TxSchedulePriority 0..6 spread over the station's 0..255 */
        .priority = (uint8_t)(tx->priority > 6 ? 240 : tx->priority * 40),
        .mux_time_s = now_s(),
    };
    bool freq_ok =
        tx->frequency_hz > 0 && tx->frequency_hz <= UINT32_MAX && tx->dr_index < GS_BS_DR_COUNT;
    if (tx->dev_class == 0) {
        m.rx_delay_s = (uint8_t)(tx->rx_delay_s > 255 ? 0 : tx->rx_delay_s);
        m.xtime = tx->fe.xtime;
        if (c->has_session && gs_bs_xtime_session(tx->fe.xtime) != c->session) {
            /* The station restarted its radio since that uplink: it would drop the dnmsg
             * ("time conversion problems"). */
            lw_err_set(err, &lw_err_no_downlink_path,
                       "no downlink path to gateway `%s`: station radio session changed", uid);
            lw_err_attr(err, "gateway_uid", uid);
            return -1;
        }
    }
    if (tx->dev_class == 0 && tx->rx_window != 2) {
        m.has_rx1 = freq_ok;
        m.rx1_dr = (uint8_t)tx->dr_index;
        m.rx1_freq_hz = (uint32_t)tx->frequency_hz;
    } else {
        m.has_rx2 = freq_ok;
        m.rx2_dr = (uint8_t)tx->dr_index;
        m.rx2_freq_hz = (uint32_t)tx->frequency_hz;
    }
    char buf[GS_BS_DNMSG_MAX];
    size_t n = 0;
    const char *field = NULL;
    int rc = gs_bs_encode_dnmsg(&m, &c->lim, buf, sizeof buf, &n, &field);
    if (rc != GS_BS_OK) {
        char reason[64];
        snprintf(reason, sizeof reason, "%s not valid for the station",
                 field != NULL ? field : gs_bs_strerror(rc));
        lw_err_set(err, &lw_err_invalid_downlink, "invalid downlink: %s", reason);
        lw_err_attr(err, "reason", reason);
        return -1;
    }
    if (send_json(c, buf, n, err) != 0)
        return -1;
    return GS_SENT_ACK_PENDING;
}

static void conn_close(void *arg, const char *reason)
{
    bs_conn_t *c = arg;
    lw_log_kv(LW_LOG_INFO, LOG_MODULE, "station disconnected by the gateway server",
              LW_LOG_STR("gateway_id", c->info.gateway_id),
              LW_LOG_STR("tenant_id", c->info.tenant_id), LW_LOG_STR("reason", reason));
    c->gw = NULL;
    if (c->ws != NULL)
        lw_ws_close(c->ws, 1000);
}

static const gs_conn_ops_t conn_ops = {.send_down = conn_send_down, .close = conn_close};

static void drop(bs_conn_t *c, const char *reason, const gs_bs_msg_t *msg, int rc)
{
    gs_count_drop(c->bs->gs, PROTOCOL, reason);
    lw_log_kv(LW_LOG_DEBUG, LOG_MODULE, "station message dropped",
              LW_LOG_STR("gateway_id", c->info.gateway_id),
              LW_LOG_STR("tenant_id", c->info.tenant_id), LW_LOG_STR("reason", reason),
              LW_LOG_STR("msgtype", msg != NULL ? msg->msgtype : ""),
              LW_LOG_STR("field", msg != NULL && msg->field != NULL ? msg->field : ""),
              LW_LOG_INT("code", rc));
}

static void on_version(bs_conn_t *c, const gs_bs_version_t *v)
{
    char platform[2 * GS_BS_TEXT_MAX + 48];
    snprintf(platform, sizeof platform, "%s - Firmware %s - Protocol %" PRId64, v->model,
             v->firmware, v->protocol);
    gs_status_t st = {.time_ns = now_ns(), .platform = platform, .firmware = v->station};
    if (c->gw != NULL)
        gs_gw_status(c->gw, &st);
    gs_bs_router_config_t rc = {
        .plan = c->plan, .production = v->production, .mux_time_s = now_s()};
    char buf[GS_BS_ROUTER_CONFIG_MAX];
    size_t n = 0;
    lw_err_t err;
    int r = gs_bs_encode_router_config(&rc, buf, sizeof buf, &n);
    if (r != GS_BS_OK) {
        /* Checked at connect: cannot happen for a plan that passed then. */
        lw_log_kv(LW_LOG_ERROR, LOG_MODULE, "router_config not built",
                  LW_LOG_STR("frequency_plan_id", c->info.frequency_plan_id),
                  LW_LOG_STR("error", gs_bs_strerror(r)));
        return;
    }
    if (send_json(c, buf, n, &err) != 0) {
        lw_log_kv(LW_LOG_WARN, LOG_MODULE, "router_config not sent",
                  LW_LOG_STR("gateway_id", c->info.gateway_id), LW_LOG_STR("error", err.message));
        return;
    }
    c->configured = true;
}

static void on_uplink(bs_conn_t *c, const gs_bs_uplink_t *up, int64_t received_ns)
{
    lorawan_dr_t d;
    if (lorawan_band_datarate(c->band, GS_BS_RP_REV, up->dr, false, &d) != 0 ||
        (d.modulation != LORAWAN_MOD_LORA && d.modulation != LORAWAN_MOD_FSK)) {
        drop(c, "data_rate", NULL, 0);
        return;
    }
    int64_t session = gs_bs_xtime_session(up->info.xtime);
    if (c->has_session && session != c->session)
        lw_log_kv(LW_LOG_INFO, LOG_MODULE, "station radio session changed",
                  LW_LOG_STR("gateway_id", c->info.gateway_id), LW_LOG_INT("session", session));
    c->has_session = true;
    c->session = session;
    gs_rx_t rx = {
        .timestamp = (uint32_t)(gs_bs_xtime_conc_us(up->info.xtime) & 0xffffffffu),
        .time_ns = up->info.rxtime_s > 0 ? (int64_t)(up->info.rxtime_s * 1e9) : 0,
        .frequency_hz = up->freq_hz,
        .antenna_index = (uint32_t)up->info.rctx,
        .rssi = (float)up->info.rssi,
        .channel_rssi = (float)up->info.rssi,
        .has_snr = true,
        .snr = (float)up->info.snr,
        .crc_status = 1,
        .fe = {.xtime = up->info.xtime, .rctx = up->info.rctx},
    };
    if (up->info.gpstime_us > 0)
        rx.gps_time_ns =
            (up->info.gpstime_us + (GS_BS_GPS_EPOCH_UNIX_S - GS_BS_GPS_LEAP_S) * 1000000LL) * 1000;
    if (d.modulation == LORAWAN_MOD_LORA) {
        rx.dr.mod = GS_MOD_LORA;
        rx.dr.sf = d.spreading_factor;
        rx.dr.bw_hz = d.bandwidth_hz;
        snprintf(rx.dr.codr, sizeof rx.dr.codr, "%s", d.coding_rate ? d.coding_rate : "4/5");
    } else {
        rx.dr.mod = GS_MOD_FSK;
        rx.dr.fsk_bitrate = d.bit_rate_bps;
    }
    if (up->ref_time_s > 0) {
        /* RefTime is the station's view of our MuxTime now: the gap is one round trip. */
        int64_t rtt = received_ns - (int64_t)(up->ref_time_s * 1e9);
        if (rtt > 0 && rtt <= c->bs->max_rtt_ns)
            gs_gw_rtt(c->gw, rtt);
    }
    gs_gw_uplink(c->gw, up->phy, up->phy_len, &rx);
}

static void on_dntxed(bs_conn_t *c, const gs_bs_dntxed_t *d, int64_t received_ns)
{
    if (gs_gw_txack(c->gw, (uint64_t)d->diid, LW__MSG__TX_ACK_RESULT__SUCCESS, NULL, 0) != 0)
        drop(c, "unknown_diid", NULL, 0);
    /* The TX started about now: one more clock pair of the current radio session. */
    if (c->gw != NULL && d->xtime > 0 && c->has_session &&
        gs_bs_xtime_session(d->xtime) == c->session)
        gs_gw_clock_sync(c->gw, (uint32_t)(gs_bs_xtime_conc_us(d->xtime) & 0xffffffffu),
                         received_ns);
}

static void conn_on_message(lw_ws_t *ws, bool binary, const void *data, size_t len, void *arg)
{
    (void)ws;
    bs_conn_t *c = arg;
    if (c->gw == NULL)
        return;
    int64_t received_ns = now_ns();
    if (binary) {
        drop(c, "binary_message", NULL, 0);
        return;
    }
    gs_bs_msg_t msg;
    int rc = gs_bs_decode(data, len, &msg);
    if (rc != GS_BS_OK) {
        drop(c, gs_bs_strerror(rc), &msg, rc);
        return;
    }
    switch (msg.type) {
    case GS_BS_MSG_VERSION:
        on_version(c, &msg.u.version);
        break;
    case GS_BS_MSG_JREQ:
    case GS_BS_MSG_REJOIN:
    case GS_BS_MSG_UPDF:
    case GS_BS_MSG_PROPDF:
        on_uplink(c, &msg.u.up, received_ns);
        break;
    case GS_BS_MSG_DNTXED:
        on_dntxed(c, &msg.u.dntxed, received_ns);
        break;
    case GS_BS_MSG_TIMESYNC: {
        char buf[256];
        size_t n = 0;
        lw_err_t err;
        if (gs_bs_encode_timesync(msg.u.timesync.txtime, gs_bs_gps_us_from_unix_ns(received_ns),
                                  (double)received_ns / 1e9, buf, sizeof buf, &n) != GS_BS_OK)
            drop(c, "timesync", &msg, 0);
        else if (send_json(c, buf, n, &err) != 0)
            drop(c, "send_failed", &msg, 0);
        break;
    }
    case GS_BS_MSG_IGNORED:
        break;
    }
}

static const lw_ws_callbacks_t conn_callbacks = {
    .on_message = conn_on_message, .on_close = conn_on_close, .on_pong = conn_on_pong};

/* ---- the registry, the IS, and what follows ------------------------------------------- */

static void traffic_accept(bs_pending_t *p)
{
    gs_bs_t *bs = p->bs;
    bs_conn_t *c = lw_calloc(1, sizeof *c);
    c->bs = bs;
    c->info = p->info;
    c->plan = lorawan_freqplan_find(p->info.frequency_plan_id);
    c->band = c->plan != NULL ? lorawan_band_get(c->plan->band) : NULL;
    lw_err_t err;
    gs_bs_router_config_t rc = {.plan = c->plan};
    char probe[GS_BS_ROUTER_CONFIG_MAX];
    size_t n = 0;
    if (c->band == NULL || gs_bs_limits(c->plan, &c->lim) != GS_BS_OK ||
        gs_bs_encode_router_config(&rc, probe, sizeof probe, &n) != GS_BS_OK) {
        free(c);
        lw_err_set(&err, &lw_err_invalid_argument,
                   "frequency plan `%s` of gateway `%s` cannot configure a Basics Station",
                   p->info.frequency_plan_id, p->info.gateway_id);
        refuse(p, &err);
        return;
    }
    c->gw = gs_gw_connect(bs->gs, &c->info, PROTOCOL, &conn_ops, c, &err);
    if (c->gw == NULL) {
        free(c);
        refuse(p, &err);
        return;
    }
    c->ws = lw_http_websocket_accept(p->req, &conn_callbacks, c, &err);
    if (c->ws == NULL) {
        gs_gw_t *gw = c->gw;
        c->gw = NULL;
        gs_gw_disconnect(gw, "websocket upgrade failed");
        free(c);
        refuse(p, &err);
        return;
    }
    bs->live++; /* the connection */
    c->next = bs->conns;
    bs->conns = c;
    uv_timer_init(bs->loop, &c->ping);
    c->ping.data = c;
    if (bs->ping_ms > 0)
        uv_timer_start(&c->ping, conn_ping, bs->ping_ms, bs->ping_ms);
    lw_log_kv(LW_LOG_INFO, LOG_MODULE, "station connected",
              LW_LOG_STR("gateway_id", c->info.gateway_id),
              LW_LOG_STR("tenant_id", c->info.tenant_id), LW_LOG_BOOL("tls", p->tls),
              LW_LOG_STR("peer", lw_ws_peer(c->ws)));
    free(p); /* the request is answered: no pending_free accounting for it */
    bs->live--;
}

/* router-info answer: the traffic URI with an explicit port and path. */
static void router_info_answer(bs_pending_t *p)
{
    gs_bs_t *bs = p->bs;
    bool wss = p->tls || bs->traffic_tls;
    const lw_http_t *target =
        bs->http[wss ? 1 : 0] != NULL ? bs->http[wss ? 1 : 0] : bs->http[p->tls ? 1 : 0];
    int port = lw_http_port(target);
    /* The name the station asked for (Host without its port) and the bound port of the
     * listener of the scheme answered: behind a proxy that maps ports, set
     * gs.basic-station.use-traffic-tls-address and publish the same ports. */
    const char *h = p->host[0] != '\0' ? p->host : "localhost";
    bool bracket = h[0] != '[' && strchr(h, ':') != NULL; /* a bare IPv6 literal */
    char host[HOST_MAX + 16];
    snprintf(host, sizeof host, "%s%s%s:%d", bracket ? "[" : "", h, bracket ? "]" : "", port);
    char uri[HOST_MAX + 64];
    snprintf(uri, sizeof uri, "%s://%s/traffic/eui-%016" PRIx64, wss ? "wss" : "ws", host, p->eui);
    char buf[HOST_MAX + 256];
    size_t n = 0;
    if (gs_bs_encode_router_info(p->eui, uri, buf, sizeof buf, &n) != GS_BS_OK) {
        refuse_with(p, &lw_err_bad_request, "malformed request: Host header not usable in a URI");
        return;
    }
    lw_log_kv(LW_LOG_DEBUG, LOG_MODULE, "router-info answered", LW_LOG_STR("uri", uri));
    ri_send(p, buf, n);
}

static void proceed(bs_pending_t *p)
{
    if (p->traffic)
        traffic_accept(p);
    else
        router_info_answer(p);
}

/* The callback of an async step: false when p is dead (router-info socket gone) and freed. */
static bool pending_resume(bs_pending_t *p)
{
    p->in_flight = false;
    if (p->ws_closed) {
        pending_free(p);
        return false;
    }
    return true;
}

static void on_access(void *arg, const tn_rights_t *held, const lw_err_t *err)
{
    bs_pending_t *p = arg;
    if (!pending_resume(p))
        return;
    if (held == NULL) {
        refuse(p, err);
        return;
    }
    proceed(p);
}

static void check_access(bs_pending_t *p)
{
    gs_bs_t *bs = p->bs;
    tn_t *tn = tn_from_runtime(bs->rt);
    tn_access_t *access = tn_access_from_runtime(bs->rt);
    tn_tenant_t t;
    if (tn == NULL || access == NULL) {
        refuse_with(p, &lw_err_unavailable, "access checks unavailable");
        return;
    }
    if (!tn_get(tn, p->info.tenant_id, &t)) {
        lw_err_t err;
        char eui[17];
        eui_text(p->eui, eui);
        lw_err_set(&err, &lw_err_gateway_not_found, "gateway `%s` not found", eui);
        lw_err_attr(&err, "gateway_eui", eui);
        refuse(p, &err);
        return;
    }
    static const char *const need[] = {"RIGHT_GATEWAY_LINK"};
    p->in_flight = true;
    if (tn_access_check(access, &t, p->auth, "gateway", p->info.gateway_id, need, 1, on_access,
                        p) != 0) {
        p->in_flight = false;
        refuse_with(p, &lw_err_unavailable, "access checks unavailable");
    }
}

static void on_lookup(void *arg, const gs_gw_info_t *info, const lw_err_t *err)
{
    bs_pending_t *p = arg;
    if (!pending_resume(p))
        return;
    if (info == NULL) {
        if (err != NULL) {
            refuse(p, err);
            return;
        }
        lw_err_t e;
        char eui[17];
        eui_text(p->eui, eui);
        lw_err_set(&e, &lw_err_gateway_not_found, "gateway `%s` not found", eui);
        lw_err_attr(&e, "gateway_eui", eui);
        refuse(p, &e);
        return;
    }
    p->info = *info;
    if (p->has_auth) {
        check_access(p);
        return;
    }
    /* A gateway registered with require_authenticated_connection is never accepted by its
     * EUI alone, whatever gs.basic-station.allow-unauthenticated says (as TTS). */
    if (!p->bs->allow_unauthenticated || info->require_authenticated_connection) {
        char uid[2 * TN_ID_MAX + 2];
        snprintf(uid, sizeof uid, "%s@%s", info->gateway_id, info->tenant_id);
        lw_err_t e;
        lw_err_set(&e, &lw_err_unauthenticated, "no auth provided `%s`", uid);
        lw_err_attr(&e, "uid", uid);
        refuse(p, &e);
        return;
    }
    proceed(p);
}

static void start_lookup(bs_pending_t *p)
{
    lw_err_t err;
    p->in_flight = true;
    if (gs_gw_lookup(p->bs->gs, p->eui, on_lookup, p, &err) != 0) {
        p->in_flight = false;
        refuse(p, &err);
    }
}

/* The request's credential, "Bearer " added when missing (as TTS); false when too long. */
static bool copy_auth(bs_pending_t *p, const lw_http_req_t *req)
{
    const char *a = lw_http_header(req, "authorization");
    if (a == NULL || a[0] == '\0')
        return true;
    size_t n = strlen(a);
    if (n > AUTH_MAX)
        return false;
    bool bearer = strncmp(a, "Bearer ", 7) == 0;
    snprintf(p->auth, sizeof p->auth, "%s%s", bearer ? "" : "Bearer ", a);
    p->has_auth = true;
    return true;
}

static bs_pending_t *pending_new(bs_listener_t *l, lw_http_req_t *req, bool traffic)
{
    bs_pending_t *p = lw_calloc(1, sizeof *p);
    p->bs = l->bs;
    p->tls = l->tls;
    p->traffic = traffic;
    p->req = req;
    l->bs->live++;
    const char *host = lw_http_host(req);
    if (host != NULL && strlen(host) < sizeof p->host)
        snprintf(p->host, sizeof p->host, "%s", host);
    return p;
}

/* /router-info: one request message on the socket, one answer, then close. */
static void ri_on_message(lw_ws_t *ws, bool binary, const void *data, size_t len, void *arg)
{
    (void)ws;
    (void)binary;
    bs_pending_t *p = arg;
    if (p->asked)
        return;
    p->asked = true;
    int rc = gs_bs_decode_router_info(data, len, &p->eui);
    if (rc != GS_BS_OK) {
        char msg[96];
        snprintf(msg, sizeof msg, "malformed router-info request: %s", gs_bs_strerror(rc));
        p->eui = 0;
        refuse_with(p, &lw_err_bad_request, msg);
        return;
    }
    start_lookup(p);
}

static void ri_on_close(lw_ws_t *ws, void *arg)
{
    (void)ws;
    bs_pending_t *p = arg;
    p->ws = NULL;
    if (p->in_flight)
        p->ws_closed = true; /* freed when its callback comes */
    else
        pending_free(p);
}

static const lw_ws_callbacks_t ri_callbacks = {.on_message = ri_on_message,
                                               .on_close = ri_on_close};

static void handle_router_info(lw_http_req_t *req, void *arg)
{
    bs_listener_t *l = arg;
    if (l->bs->stopping) {
        lw_http_respond_errorf(req, &lw_err_stopping, "gateway server stopping");
        return;
    }
    if (!lw_http_is_websocket(req)) {
        lw_http_respond_errorf(req, &lw_err_bad_request,
                               "malformed request: not a WebSocket "
                               "handshake");
        return;
    }
    bs_pending_t *p = pending_new(l, req, false);
    if (!copy_auth(p, req)) {
        pending_free(p);
        lw_http_respond_errorf(req, &lw_err_unauthenticated, "credential too long");
        return;
    }
    p->req = NULL;
    lw_err_t err;
    p->ws = lw_http_websocket_accept(req, &ri_callbacks, p, &err);
    if (p->ws == NULL) {
        pending_free(p);
        lw_http_respond_err(req, &err);
    }
}

static void handle_traffic(lw_http_req_t *req, void *arg)
{
    bs_listener_t *l = arg;
    if (l->bs->stopping) {
        lw_http_respond_errorf(req, &lw_err_stopping, "gateway server stopping");
        return;
    }
    const char *id = lw_http_param(req, "id");
    uint64_t eui = 0;
    if (id == NULL || gs_bs_eui_parse(id, strlen(id), &eui) != 0 || eui == 0) {
        gs_count_drop(l->bs->gs, PROTOCOL, "invalid_gateway_id");
        lw_err_t err;
        lw_err_set(&err, &lw_err_bad_request, "malformed request: invalid gateway ID `%.40s`",
                   id != NULL ? id : "");
        lw_err_attr(&err, "reason", "invalid gateway ID");
        lw_http_respond_err(req, &err);
        return;
    }
    if (!lw_http_is_websocket(req)) {
        lw_http_respond_errorf(req, &lw_err_bad_request,
                               "malformed request: not a WebSocket "
                               "handshake");
        return;
    }
    bs_pending_t *p = pending_new(l, req, true);
    p->eui = eui;
    if (!copy_auth(p, req)) {
        refuse_with(p, &lw_err_unauthenticated, "credential too long");
        return;
    }
    start_lookup(p);
}

/* ---- lifecycle --------------------------------------------------------------------------- */

gs_bs_t *gs_bs_new(gs_t *gs, lw_err_t *err)
{
    lw_rt_t *rt = gs_runtime(gs);
    const lw_config_t *cfg = lw_rt_config(rt);
    gs_bs_t *bs = lw_calloc(1, sizeof *bs);
    bs->gs = gs;
    bs->rt = rt;
    bs->loop = lw_rt_loop(rt);
    bs->allow_unauthenticated = lw_config_bool(cfg, "gs.basic-station.allow-unauthenticated");
    bs->traffic_tls = lw_config_bool(cfg, "gs.basic-station.use-traffic-tls-address");
    bs->ping_ms = (uint64_t)lw_config_duration_ms(cfg, "gs.basic-station.ws-ping-interval");
    bs->missed_pong_max = lw_config_int(cfg, "gs.basic-station.missed-pong-threshold");
    bs->max_rtt_ns =
        lw_config_duration_ms(cfg, "gs.basic-station.max-valid-round-trip-delay") * 1000000LL;
    const char *listen[2] = {lw_config_str(cfg, "gs.basic-station.listen"),
                             lw_config_str(cfg, "gs.basic-station.listen-tls")};
    const char *cert = lw_config_str(cfg, "gs.basic-station.tls.certificate");
    const char *key = lw_config_str(cfg, "gs.basic-station.tls.key");
    bool has_cert = cert != NULL && cert[0] != '\0', has_key = key != NULL && key[0] != '\0';
    if (has_cert != has_key) {
        lw_err_set(err, &lw_err_config_invalid,
                   "invalid value for `gs.basic-station.tls.%s`: set both the certificate and "
                   "the key",
                   has_cert ? "key" : "certificate");
        lw_err_attr(err, "key",
                    has_cert ? "gs.basic-station.tls.key" : "gs.basic-station.tls.certificate");
        free(bs);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        bs->lis[i] = (bs_listener_t){.bs = bs, .tls = i == 1};
        if (listen[i] == NULL || listen[i][0] == '\0')
            continue;
        if (i == 1 && !has_cert) {
            lw_log_kv(LW_LOG_WARN, LOG_MODULE,
                      "wss:// listener off: no gs.basic-station.tls.certificate",
                      LW_LOG_STR("listen", listen[i]));
            continue;
        }
        lw_http_opts_t o = {.name = i ? "lns-tls" : "lns",
                            .listen = listen[i],
                            .listen_key =
                                i ? "gs.basic-station.listen-tls" : "gs.basic-station.listen",
                            .tls_certificate = i ? cert : NULL,
                            .tls_key = i ? key : NULL,
                            .max_body_bytes = 4096,
                            .ws_max_message_bytes = GS_BS_JSON_MAX,
                            .ws_max_queued = 256};
        bs->http[i] = lw_http_new_opts(bs->loop, &o, err);
        if (bs->http[i] == NULL ||
            lw_http_route(bs->http[i], "GET", "/router-info", handle_router_info, &bs->lis[i]) !=
                0 ||
            lw_http_route(bs->http[i], "GET", "/traffic/{id}", handle_traffic, &bs->lis[i]) != 0) {
            if (bs->http[i] != NULL)
                lw_err_set(err, &lw_err_internal, "LNS routes not registered");
            gs_bs_free(bs);
            return NULL;
        }
    }
    return bs;
}

static void http_stopped(void *arg)
{
    gs_bs_t *bs = arg;
    bs->http_running--;
    maybe_done(bs);
}

int gs_bs_start(gs_bs_t *bs, lw_err_t *err)
{
    for (int i = 0; i < 2; i++) {
        if (bs->http[i] == NULL)
            continue;
        if (lw_http_start(bs->http[i], err) != 0) {
            if (bs->started[0]) {
                bs->stopping = true;
                bs->started[0] = false;
                lw_http_stop(bs->http[0], http_stopped, bs);
            }
            return -1;
        }
        bs->http_running++;
        bs->started[i] = true;
        lw_log_kv(LW_LOG_INFO, LOG_MODULE, "LoRa Basics Station LNS listening",
                  LW_LOG_STR("scheme", i ? "wss" : "ws"),
                  LW_LOG_INT("port", lw_http_port(bs->http[i])));
    }
    return 0;
}

void gs_bs_stop(gs_bs_t *bs, void (*done)(void *arg), void *arg)
{
    bs->stopping = true;
    bs->done = done;
    bs->done_arg = arg;
    for (int i = 0; i < 2; i++)
        if (bs->started[i]) {
            bs->started[i] = false;
            lw_http_stop(bs->http[i], http_stopped, bs); /* closes every socket */
        }
    maybe_done(bs);
}

void gs_bs_free(gs_bs_t *bs)
{
    if (bs == NULL)
        return;
    for (int i = 0; i < 2; i++)
        lw_http_free(bs->http[i]);
    free(bs);
}

int gs_bs_port(const gs_bs_t *bs, bool tls)
{
    const lw_http_t *h = bs->http[tls ? 1 : 0];
    return h != NULL ? lw_http_port(h) : 0;
}
