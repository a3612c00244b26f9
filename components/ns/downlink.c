/* Downlinks: the application queue (lw.as.down), frames, and lw.gs.down.
 *
 * Class A: after an uplink, on the gateway that heard it best, with both receive windows
 * (the GS scheduler takes RX1 if it can still make it, else RX2). Class C: as soon as the
 * gateway of the last uplink can transmit (IMMEDIATE, RX2 parameters). Join-accepts: in the
 * join-accept windows (JoinAcceptDelay1 = 5 s, LoRaWAN 1.0.4 §6.2.6).
 *
 * One downlink is in flight at a time; its GsTxAck says whether it went out (then
 * downlink_sent, and a confirmed one waits for the ACK of the next uplink) or why not
 * (downlink_failed with the GS's reason). Frame counters are taken when the frame is built,
 * so none is ever used twice. The AS encrypts the payload for a counter; an item whose
 * counter is behind the session's is invalid and handed back (downlink_queue_invalidated)
 * for the AS to encrypt again. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/log.h"
#include "cluster/mem.h"
#include "ns/ns_private.h"

/* LoRaWAN 1.0.4 §6.2.6: JOIN_ACCEPT_DELAY1. */
#define NS_JOIN_ACCEPT_DELAY1_S 5u
/* LoRaWAN 1.0.4 §5: RECEIVE_DELAY1 default. */
#define NS_RECEIVE_DELAY1_S 1u
/* LoRaWAN 1.0.4 §4.3.2: application FPorts. */
#define NS_FPORT_MAX 223u

const Lw__Msg__RxMetadata *ns_best_rx(Lw__Msg__RxMetadata *const *rx, size_t n)
{
    const Lw__Msg__RxMetadata *best = NULL;
    for (size_t i = 0; i < n; i++) {
        const Lw__Msg__RxMetadata *r = rx[i];
        if (r == NULL || r->gateway_ids == NULL || r->gateway_ids->gateway_id == NULL ||
            r->gateway_ids->gateway_id[0] == '\0')
            continue;
        if (best == NULL || r->snr > best->snr || (r->snr == best->snr && r->rssi > best->rssi))
            best = r;
    }
    return best;
}

typedef struct radio {
    const lorawan_freqplan_t *fp;
    const lorawan_band_t *band;
    lorawan_rp_rev_t rev;
} radio_t;

static int radio_of(const ns_dev_t *d, radio_t *r)
{
    r->fp = lorawan_freqplan_find(d->set.fp_id);
    r->band = r->fp != NULL ? lorawan_band_get(r->fp->band) : NULL;
    r->rev = LORAWAN_RP002_1_0_3;
    ns_phy_version_parse(d->set.phy_version, &r->rev);
    return r->band != NULL ? 0 : -1;
}

/* The receive-window parameters the device uses now (MAC current parameters). */
typedef struct rxp {
    uint8_t rx1_delay, rx1_dr_offset, rx2_dr;
    uint32_t rx2_freq_hz;
} rxp_t;

static int rx_params(ns_dev_t *d, rxp_t *p)
{
    const ns_mac_state_t *m = ns_dev_mac(d);
    if (m == NULL)
        return -1;
    p->rx1_delay = m->current_parameters.rx1_delay != 0 ? m->current_parameters.rx1_delay : 1;
    p->rx1_dr_offset = m->current_parameters.rx1_data_rate_offset;
    p->rx2_dr = m->current_parameters.rx2_data_rate_index;
    p->rx2_freq_hz = m->current_parameters.rx2_frequency;
    return 0;
}

static int window_of(const radio_t *r, uint8_t dr, uint32_t freq, Lw__Msg__TxWindow *w,
                     Lw__Msg__DataRate *drm, Lw__Msg__LoRaDataRate *lora)
{
    lorawan_dr_t x;
    if (lorawan_band_datarate(r->band, r->rev, dr, false, &x) != 0 ||
        x.modulation != LORAWAN_MOD_LORA)
        return -1;
    lw__msg__tx_window__init(w);
    lw__msg__data_rate__init(drm);
    lw__msg__lo_ra_data_rate__init(lora);
    lora->bandwidth = x.bandwidth_hz;
    lora->spreading_factor = x.spreading_factor;
    lora->coding_rate = (char *)(x.coding_rate != NULL ? x.coding_rate : "4/5");
    drm->modulation_case = LW__MSG__DATA_RATE__MODULATION_LORA;
    drm->lora = lora;
    w->frequency = freq;
    w->data_rate = drm;
    w->data_rate_index = dr;
    return 0;
}

/* RX1 frequency for an uplink on `up_freq` (RP002: the same channel for bands with dynamic
 * channels, the uplink channel's downlink channel for fixed-plan bands). */
static uint32_t rx1_freq(const radio_t *r, uint32_t up_freq)
{
    if (lorawan_band_dynamic_channels(r->band))
        return up_freq;
    unsigned n = lorawan_band_uplink_channel_count(r->band, r->rev);
    for (unsigned i = 0; i < n; i++) {
        lorawan_channel_t ch;
        if (lorawan_band_uplink_channel(r->band, r->rev, i, &ch) == 0 && ch.freq_hz == up_freq) {
            unsigned di = 0;
            lorawan_channel_t dch;
            if (lorawan_band_rx1_channel(r->band, r->rev, i, &di) == 0 &&
                lorawan_band_downlink_channel(r->band, r->rev, di, &dch) == 0)
                return dch.freq_hz;
        }
    }
    return 0;
}

static void gw_ids_from_rx(const Lw__Msg__RxMetadata *rx, Lw__Msg__GatewayIdentifiers *g)
{
    lw__msg__gateway_identifiers__init(g);
    g->gateway_id = rx->gateway_ids->gateway_id;
    g->eui = rx->gateway_ids->eui;
    g->tenant_id = rx->gateway_ids->tenant_id;
}

/* after_durable: published once the device's state as of now is durable (a join-accept:
 * sent before its pending session is, a crash would leave the device with a session the NS
 * forgot, and the replayed join-request's DevNonce refused by the JS). */
static int gs_down_send(ns_t *ns, ns_dev_t *d, Lw__Msg__GsDown *g, const uint8_t id[16],
                        bool after_durable)
{
    Lw__Msg__Envelope env = LW__MSG__ENVELOPE__INIT;
    env.id.data = (uint8_t *)id;
    env.id.len = LW_MSG_ID_LEN;
    env.tenant_id = d->tenant;
    env.schema_version = LW_MSG_SCHEMA_VERSION;
    g->envelope = &env;
    g->downlink_id.data = (uint8_t *)id;
    g->downlink_id.len = LW_MSG_ID_LEN;
    Lw__Msg__EndDeviceIdentifiers ids = LW__MSG__END_DEVICE_IDENTIFIERS__INIT;
    Lw__Msg__ApplicationIdentifiers app = LW__MSG__APPLICATION_IDENTIFIERS__INIT;
    app.application_id = d->app;
    ids.device_id = d->dev;
    ids.application_ids = &app;
    ids.dev_addr = d->st.session.valid ? d->st.session.dev_addr : d->st.pending.dev_addr;
    ids.dev_eui = d->set.dev_eui;
    ids.join_eui = d->set.join_eui;
    g->end_device_ids = &ids;
    g->frequency_plan_id = d->set.fp_id;
    uint8_t buf[2048];
    size_t len = 0;
    int rc = lw_msg_gs_down_encode(g, buf, sizeof buf, &len);
    if (rc != 0) {
        lw_log(LW_LOG_ERROR, "ns", "gs.down not encoded", "device", d->key, "error",
               lw_msg_strerror(rc), NULL);
        return -1;
    }
    const char *gt = g->gateway_ids->tenant_id != NULL && g->gateway_ids->tenant_id[0] != '\0'
                         ? g->gateway_ids->tenant_id
                         : d->tenant;
    char key[2 * TN_ID_MAX + 2];
    snprintf(key, sizeof key, "%s/%s", gt, g->gateway_ids->gateway_id);
    if (after_durable) {
        ns_publish_after_durable(ns, "gs.down", key, buf, len);
        return 0;
    }
    return ns_publish(ns, "gs.down", key, buf, len);
}

static int publish_gs_down(ns_t *ns, ns_dev_t *d, Lw__Msg__GsDown *g, const uint8_t id[16])
{
    return gs_down_send(ns, d, g, id, false);
}

static void app_downlink(const ns_queued_t *q, Lw__Msg__ApplicationDownlink *dl, char **corr)
{
    lw__msg__application_downlink__init(dl);
    dl->session_key_id.data = (uint8_t *)q->key_id;
    dl->session_key_id.len = q->key_id_len;
    dl->f_port = q->f_port;
    dl->f_cnt = q->f_cnt;
    dl->frm_payload.data = (uint8_t *)q->payload;
    dl->frm_payload.len = q->len;
    dl->confirmed = q->confirmed;
    dl->priority = q->priority;
    if (q->corr[0] != '\0') {
        *corr = (char *)q->corr;
        dl->correlation_ids = corr;
        dl->n_correlation_ids = 1;
    }
}

static void publish_failed(ns_t *ns, ns_dev_t *d, const ns_queued_t *q, const char *name,
                           const char *message)
{
    Lw__Msg__ApplicationDownlink dl;
    char *corr = NULL;
    app_downlink(q, &dl, &corr);
    Lw__Msg__ErrorDetails e = LW__MSG__ERROR_DETAILS__INIT;
    e.namespace_ = (char *)(strcmp(name, "downlink_queue_full") == 0 ||
                                    strcmp(name, "session_key_id_mismatch") == 0 ||
                                    strcmp(name, "invalid_f_port") == 0 ||
                                    strcmp(name, "no_downlink_path") == 0
                                ? "pkg/networkserver"
                                : "pkg/gatewayserver");
    e.name = (char *)name;
    e.message_format = (char *)message;
    Lw__Msg__ApplicationDownlinkFailed f = LW__MSG__APPLICATION_DOWNLINK_FAILED__INIT;
    f.downlink = &dl;
    f.error = &e;
    Lw__Msg__NsUp up = LW__MSG__NS_UP__INIT;
    up.up_case = LW__MSG__NS_UP__UP_DOWNLINK_FAILED;
    up.downlink_failed = &f;
    ns_publish_ns_up(ns, d, &up);
    ns_count(ns, ns->m_down, "failed");
}

static void publish_app(ns_t *ns, ns_dev_t *d, const ns_queued_t *q, int which)
{
    Lw__Msg__ApplicationDownlink dl;
    char *corr = NULL;
    app_downlink(q, &dl, &corr);
    Lw__Msg__NsUp up = LW__MSG__NS_UP__INIT;
    up.up_case = which;
    if (which == LW__MSG__NS_UP__UP_DOWNLINK_QUEUED)
        up.downlink_queued = &dl;
    else
        up.downlink_sent = &dl;
    ns_publish_ns_up(ns, d, &up);
}

void ns_downlink_invalidated(ns_t *ns, ns_dev_t *d, ns_queued_t *items, size_t n)
{
    if (n == 0)
        return;
    Lw__Msg__ApplicationDownlink *dls = lw_calloc(n, sizeof *dls);
    Lw__Msg__ApplicationDownlink **dlp = lw_calloc(n, sizeof *dlp);
    char **corrs = lw_calloc(n, sizeof *corrs);
    for (size_t i = 0; i < n; i++) {
        app_downlink(&items[i], &dls[i], &corrs[i]);
        dlp[i] = &dls[i];
    }
    Lw__Msg__ApplicationInvalidatedDownlinks inv = LW__MSG__APPLICATION_INVALIDATED_DOWNLINKS__INIT;
    inv.downlinks = dlp;
    inv.n_downlinks = n;
    bool v11 = ns_settings_v11(&d->set);
    const ns_session_t *s = &d->st.session;
    inv.last_f_cnt_down = v11 ? s->last_a_f_cnt_down : s->last_n_f_cnt_down;
    inv.session_key_id.data = (uint8_t *)s->key_id;
    inv.session_key_id.len = s->key_id_len;
    Lw__Msg__NsUp up = LW__MSG__NS_UP__INIT;
    up.up_case = LW__MSG__NS_UP__UP_DOWNLINK_QUEUE_INVALIDATED;
    up.downlink_queue_invalidated = &inv;
    ns_publish_ns_up(ns, d, &up);
    free(dls);
    free(dlp);
    free(corrs);
}

/* The next counter the device accepts for an application downlink (1.1: AFCntDown; 1.0.x:
 * the one FCntDown). */
static uint32_t next_app_f_cnt(const ns_dev_t *d, bool v11)
{
    const ns_session_t *s = &d->st.session;
    if (v11)
        return s->has_a_f_cnt_down ? s->last_a_f_cnt_down + 1 : 0;
    return s->has_n_f_cnt_down ? s->last_n_f_cnt_down + 1 : 0;
}

/* Takes the first valid item off the queue (NULL: none); invalid ones are handed back. */
static ns_queued_t *queue_pop(ns_t *ns, ns_dev_t *d, bool v11)
{
    ns_state_t *st = &d->st;
    uint32_t next = next_app_f_cnt(d, v11);
    size_t bad = 0;
    while (bad < st->nqueue) {
        const ns_queued_t *q = &st->queue[bad];
        bool same = q->key_id_len == st->session.key_id_len &&
                    memcmp(q->key_id, st->session.key_id, q->key_id_len) == 0;
        if (same && q->f_cnt >= next)
            break;
        bad++;
    }
    if (bad > 0) {
        ns_downlink_invalidated(ns, d, st->queue, bad);
        memmove(st->queue, st->queue + bad, (st->nqueue - bad) * sizeof *st->queue);
        st->nqueue -= bad;
    }
    if (st->nqueue == 0)
        return NULL;
    ns_queued_t *q = lw_malloc(sizeof *q);
    *q = st->queue[0];
    memmove(st->queue, st->queue + 1, (st->nqueue - 1) * sizeof *st->queue);
    st->nqueue--;
    return q;
}

/* Builds a data downlink of the active session into out; sets *fcnt to the counter used.
 * MAC commands (mac, mac_len) go in FOpts when they fit (always with an application
 * payload: the caller's budget is 15), else alone on FPort 0. */
static int build_data(ns_dev_t *d, bool v11, bool ack, const ns_queued_t *app, bool f_pending,
                      const uint8_t *mac, size_t mac_len, uint8_t *out, size_t cap, size_t *len,
                      uint32_t *fcnt)
{
    ns_session_t *s = &d->st.session;
    uint32_t f;
    if (app != NULL)
        f = app->f_cnt;
    else
        f = s->has_n_f_cnt_down ? s->last_n_f_cnt_down + 1 : 0;
    lorawan_phy_t p;
    memset(&p, 0, sizeof p);
    p.mtype = app != NULL && app->confirmed ? LORAWAN_MTYPE_CONFIRMED_DATA_DOWN
                                            : LORAWAN_MTYPE_UNCONFIRMED_DATA_DOWN;
    p.major = LORAWAN_MAJOR_R1;
    p.u.data.dev_addr = s->dev_addr;
    p.u.data.fctrl.ack = ack;
    p.u.data.fctrl.f_pending = f_pending;
    p.u.data.fctrl.adr = true;
    p.u.data.fcnt16 = (uint16_t)(f & 0xffffu);
    uint8_t enc[LORAWAN_PHY_MAX_LEN];
    lorawan_key_t ek;
    memset(&ek, 0, sizeof ek);
    if (mac_len > 0 && lorawan_key_init(&ek, v11 ? s->nwk_s_enc_key : s->f_nwk_s_int_key) != 0)
        return -1;
    if (app != NULL) {
        p.u.data.has_fport = true;
        p.u.data.fport = app->f_port;
        p.u.data.frm_payload = app->payload;
        p.u.data.frm_payload_len = app->len;
    }
    if (mac_len > 0 && mac_len <= LORAWAN_FOPTS_MAX_LEN) {
        if (v11)
            lorawan_fopts_encrypt(&ek, true, app != NULL, s->dev_addr, f, mac, mac_len, enc);
        else
            memcpy(enc, mac, mac_len);
        p.u.data.fopts = enc;
        p.u.data.fopts_len = mac_len;
    } else if (mac_len > 0 && app == NULL) {
        lorawan_payload_encrypt(&ek, true, s->dev_addr, f, mac, mac_len, enc);
        p.u.data.has_fport = true;
        p.u.data.fport = 0;
        p.u.data.frm_payload = enc;
        p.u.data.frm_payload_len = mac_len;
    }
    lorawan_key_destroy(&ek);
    if (lorawan_phy_encode(&p, out, cap, len) != 0)
        return -1;
    lorawan_key_t k;
    memset(&k, 0, sizeof k);
    if (lorawan_key_init(&k, v11 ? s->s_nwk_s_int_key : s->f_nwk_s_int_key) != 0)
        return -1;
    uint8_t mic[LORAWAN_MIC_LEN];
    int rc = lorawan_mic_data_down(&k, out, *len - LORAWAN_MIC_LEN, f,
                                   v11 && ack ? s->last_f_cnt_up : 0, mic);
    lorawan_key_destroy(&k);
    if (rc != 0)
        return -1;
    memcpy(out + *len - LORAWAN_MIC_LEN, mic, LORAWAN_MIC_LEN);
    *fcnt = f;
    return 0;
}

/* Records the downlink in flight and the counter it used. */
static void drop_inflight_events(ns_state_t *st)
{
    free(st->inflight_events);
    st->inflight_events = NULL;
    st->n_inflight_events = 0;
}

static void take_inflight(ns_t *ns, ns_dev_t *d, const uint8_t id[16], ns_queued_t *app, uint32_t f,
                          bool v11)
{
    ns_state_t *st = &d->st;
    if (st->has_inflight && st->inflight_app != NULL) {
        /* The GS never answered the previous one (lost on the bus or a GS restart). */
        publish_failed(ns, d, st->inflight_app, "no_tx_ack", "no transmission result");
    }
    free(st->inflight_app);
    st->has_inflight = true;
    st->inflight_mac = st->inflight_mac_only = false;
    drop_inflight_events(st);
    memcpy(st->inflight_id, id, LW_MSG_ID_LEN);
    st->inflight_app = app;
    st->inflight_f_cnt = f;
    st->inflight_confirmed = app != NULL && app->confirmed;
    if (app != NULL && v11) {
        st->session.last_a_f_cnt_down = f;
        st->session.has_a_f_cnt_down = true;
    } else {
        st->session.last_n_f_cnt_down = f;
        st->session.has_n_f_cnt_down = true;
    }
    ns_dev_mark_dirty(ns, d);
}

static Lw__Msg__TxSchedulePriority prio(const ns_queued_t *q)
{
    if (q == NULL)
        return LW__MSG__TX_SCHEDULE_PRIORITY__HIGH;
    return (Lw__Msg__TxSchedulePriority)q->priority;
}

/* The largest FRMPayload both windows carry (RP002 N), for an FPort 0 MAC payload. */
static size_t mac_budget(const radio_t *r, uint8_t dr1, bool has1, uint8_t dr2)
{
    size_t n = 255;
    lorawan_dr_t x;
    if (has1 && lorawan_band_datarate(r->band, r->rev, dr1, false, &x) == 0 &&
        x.max_frm_payload_n < n)
        n = x.max_frm_payload_n;
    if (lorawan_band_datarate(r->band, r->rev, dr2, false, &x) == 0 && x.max_frm_payload_n < n)
        n = x.max_frm_payload_n;
    return n < 15 ? 15 : n;
}

static void mac_events(ns_t *ns, ns_dev_t *d, const ns_mac_event_t *ev, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *name = NULL;
        lorawan_mac_cmd_info(ev[i].cmd.cid, ev[i].cmd.uplink, &name, NULL, NULL, NULL);
        ns_event(ns, d->tenant, d->app, d->dev, ev[i].name,
                 json_pack("{ss}", "command", name != NULL ? name : "unknown"), NULL);
    }
}


void ns_downlink_class_a(ns_t *ns, ns_dev_t *d, const ns_up_t *u, bool ack, bool mac_down)
{
    radio_t r;
    rxp_t rp;
    if (radio_of(d, &r) != 0 || rx_params(d, &rp) != 0) {
        ns_count_drop(ns, "unknown_frequency_plan");
        return;
    }
    bool v11 = ns_settings_v11(&d->set);
    ns_mac_ctx_t ctx;
    lorawan_rp_rev_t rev;
    ns_mac_version_t ver;
    ns_mac_state_t *mac = ns_dev_mac(d);
    int64_t now_s = ns_now_ns() / 1000000000ll;
    bool have_ctx = ns_dev_mac_ctx(d, &ctx, &rev, &ver) == 0;
    ns_queued_t *app = queue_pop(ns, d, v11);
    /* While backing off, the NS's own requests ride only on a frame sent anyway. */
    bool backing_off = d->st.mac_skip > 0;
    if (backing_off)
        d->st.mac_skip--;
    bool want_mac = have_ctx && mac != NULL &&
                    (mac_down || ((!backing_off || app != NULL || ack) &&
                                  ns_mac_downlink_wanted(mac, &ctx, now_s)));
    if (!ack && app == NULL && !want_mac)
        return;
    const Lw__Msg__RxMetadata *rx = ns_best_rx(u->rx, u->nrx);
    if (rx == NULL) {
        if (app != NULL)
            publish_failed(ns, d, app, "no_downlink_path", "no gateway to answer through");
        free(app);
        return;
    }
    Lw__Msg__TxWindow w1, w2;
    Lw__Msg__DataRate d1, d2;
    Lw__Msg__LoRaDataRate l1, l2;
    uint8_t dr1 = 0;
    bool has1 = false;
    uint32_t f1 = rx1_freq(&r, d->st.radio.last_freq_hz);
    if (f1 != 0 &&
        lorawan_band_rx1_dr(r.band, r.rev, d->st.radio.last_dr, rp.rx1_dr_offset,
                            r.fp->downlink_dwell_time, &dr1) == 0 &&
        window_of(&r, dr1, f1, &w1, &d1, &l1) == 0)
        has1 = true;
    bool has2 = window_of(&r, rp.rx2_dr, rp.rx2_freq_hz, &w2, &d2, &l2) == 0;
    uint8_t cmds[LORAWAN_PHY_MAX_LEN];
    size_t ncmds = 0;
    ns_mac_down_result_t mres;
    memset(&mres, 0, sizeof mres);
    if (want_mac) {
        size_t budget = app != NULL ? LORAWAN_FOPTS_MAX_LEN : mac_budget(&r, dr1, has1, rp.rx2_dr);
        if (ns_mac_downlink_build(mac, &ctx, now_s, budget, cmds, sizeof cmds, &ncmds, &mres) != 0)
            ncmds = 0;
    }
    if (!ack && app == NULL && ncmds == 0)
        return;
    uint8_t phy[LORAWAN_PHY_MAX_LEN];
    size_t len = 0;
    uint32_t f = 0;
    if (build_data(d, v11, ack, app, d->st.nqueue > 0 || mres.more, cmds, ncmds, phy, sizeof phy,
                   &len, &f) != 0) {
        lw_log(LW_LOG_ERROR, "ns", "downlink not built", "device", d->key, NULL);
        if (app != NULL)
            publish_failed(ns, d, app, "invalid_downlink", "the downlink frame cannot be built");
        free(app);
        return;
    }
    Lw__Msg__GsDown g = LW__MSG__GS_DOWN__INIT;
    Lw__Msg__GatewayIdentifiers gw;
    gw_ids_from_rx(rx, &gw);
    g.gateway_ids = &gw;
    g.raw_payload.data = phy;
    g.raw_payload.len = len;
    g.timing = LW__MSG__TX_TIMING__TIMESTAMP;
    g.timestamp = rx->timestamp;
    g.rx1_delay = rp.rx1_delay;
    g.uplink_token = rx->uplink_token;
    g.antenna_index = rx->antenna_index;
    g.invert_polarization = true;
    g.priority = prio(app);
    if (has1)
        g.rx1 = &w1;
    if (has2)
        g.rx2 = &w2;
    uint8_t id[LW_MSG_ID_LEN];
    ns_random_id(id);
    if (publish_gs_down(ns, d, &g, id) != 0) {
        if (app != NULL)
            publish_failed(ns, d, app, "no_downlink_path", "downlink not published");
        free(app);
        return;
    }
    bool mac_only = app == NULL && !ack;
    take_inflight(ns, d, id, app, f, v11);
    d->st.inflight_mac = ncmds > 0;
    d->st.inflight_mac_only = mac_only;
    if (mres.n_events > 0) {
        d->st.inflight_events = lw_malloc(mres.n_events * sizeof *d->st.inflight_events);
        memcpy(d->st.inflight_events, mres.events, mres.n_events * sizeof *mres.events);
        d->st.n_inflight_events = (uint8_t)mres.n_events;
    }
    ns_count(ns, ns->m_down, app != NULL ? "class_a_app" : "class_a_mac");
}

void ns_downlink_class_c(ns_t *ns, ns_dev_t *d)
{
    ns_state_t *st = &d->st;
    if (!d->set.supports_class_c || !st->session.valid || !st->last_gw.valid || st->has_inflight ||
        st->nqueue == 0)
        return;
    radio_t r;
    rxp_t rp;
    if (radio_of(d, &r) != 0 || rx_params(d, &rp) != 0)
        return;
    bool v11 = ns_settings_v11(&d->set);
    ns_queued_t *app = queue_pop(ns, d, v11);
    if (app == NULL)
        return;
    uint8_t phy[LORAWAN_PHY_MAX_LEN];
    size_t len = 0;
    uint32_t f = 0;
    Lw__Msg__TxWindow w2;
    Lw__Msg__DataRate d2;
    Lw__Msg__LoRaDataRate l2;
    if (build_data(d, v11, false, app, st->nqueue > 0, NULL, 0, phy, sizeof phy, &len, &f) != 0 ||
        window_of(&r, rp.rx2_dr, rp.rx2_freq_hz, &w2, &d2, &l2) != 0) {
        free(app);
        return;
    }
    Lw__Msg__GsDown g = LW__MSG__GS_DOWN__INIT;
    Lw__Msg__GatewayIdentifiers gw = LW__MSG__GATEWAY_IDENTIFIERS__INIT;
    gw.gateway_id = st->last_gw.gateway_id;
    gw.eui = st->last_gw.eui;
    gw.tenant_id = st->last_gw.tenant_id;
    g.gateway_ids = &gw;
    g.raw_payload.data = phy;
    g.raw_payload.len = len;
    g.timing = LW__MSG__TX_TIMING__IMMEDIATE;
    g.uplink_token.data = st->last_gw.token;
    g.uplink_token.len = st->last_gw.token_len;
    g.antenna_index = st->last_gw.antenna;
    g.invert_polarization = true;
    g.priority = prio(app);
    g.rx2 = &w2;
    uint8_t id[LW_MSG_ID_LEN];
    ns_random_id(id);
    if (publish_gs_down(ns, d, &g, id) != 0) {
        publish_failed(ns, d, app, "no_downlink_path", "downlink not published");
        free(app);
        return;
    }
    take_inflight(ns, d, id, app, f, v11);
    ns_count(ns, ns->m_down, "class_c_app");
}

void ns_downlink_join_accept(ns_t *ns, ns_dev_t *d, const ns_up_t *u, const uint8_t *phy,
                             size_t len)
{
    radio_t r;
    const Lw__Msg__RxMetadata *rx = ns_best_rx(u->rx, u->nrx);
    if (radio_of(d, &r) != 0 || rx == NULL) {
        ns_count_drop(ns, rx == NULL ? "no_downlink_path" : "unknown_frequency_plan");
        return;
    }
    Lw__Msg__GsDown g = LW__MSG__GS_DOWN__INIT;
    Lw__Msg__GatewayIdentifiers gw;
    gw_ids_from_rx(rx, &gw);
    g.gateway_ids = &gw;
    g.raw_payload.data = (uint8_t *)phy;
    g.raw_payload.len = len;
    g.timing = LW__MSG__TX_TIMING__TIMESTAMP;
    g.timestamp = rx->timestamp;
    g.rx1_delay = NS_JOIN_ACCEPT_DELAY1_S;
    g.join_accept = true;
    g.uplink_token = rx->uplink_token;
    g.antenna_index = rx->antenna_index;
    g.invert_polarization = true;
    g.priority = LW__MSG__TX_SCHEDULE_PRIORITY__HIGHEST;
    /* The device uses its default parameters until the join-accept's apply: RX1 at the
     * uplink's data rate (offset 0), RX2 at the plan's. */
    Lw__Msg__TxWindow w1, w2;
    Lw__Msg__DataRate d1, d2;
    Lw__Msg__LoRaDataRate l1, l2;
    uint8_t dr1 = 0;
    uint32_t f1 = rx1_freq(&r, d->st.radio.last_freq_hz);
    if (f1 != 0 &&
        lorawan_band_rx1_dr(r.band, r.rev, d->st.radio.last_dr, 0, r.fp->downlink_dwell_time,
                            &dr1) == 0 &&
        window_of(&r, dr1, f1, &w1, &d1, &l1) == 0)
        g.rx1 = &w1;
    if (window_of(&r, r.fp->rx2.dr, r.fp->rx2.freq_hz, &w2, &d2, &l2) == 0)
        g.rx2 = &w2;
    uint8_t id[LW_MSG_ID_LEN];
    ns_random_id(id);
    if (gs_down_send(ns, d, &g, id, true) != 0)
        return;
    free(d->st.inflight_app);
    d->st.inflight_app = NULL;
    d->st.has_inflight = true;
    d->st.inflight_mac = d->st.inflight_mac_only = false;
    drop_inflight_events(&d->st);
    memcpy(d->st.inflight_id, id, LW_MSG_ID_LEN);
    ns_count(ns, ns->m_down, "join_accept");
}

void ns_downlink_queue_op(ns_t *ns, ns_dev_t *d, Lw__Msg__AsDown *m)
{
    ns_state_t *st = &d->st;
    if (m->operation == LW__MSG__DOWNLINK_QUEUE_OPERATION__LIST) {
        ns_count_drop(ns, "queue_list_on_bus");
        return;
    }
    if (m->operation == LW__MSG__DOWNLINK_QUEUE_OPERATION__REPLACE) {
        free(st->queue);
        st->queue = NULL;
        st->nqueue = 0;
    }
    for (size_t i = 0; i < m->n_downlinks; i++) {
        const Lw__Msg__ApplicationDownlink *dl = m->downlinks[i];
        ns_queued_t q;
        memset(&q, 0, sizeof q);
        size_t kl = dl->session_key_id.len <= NS_KEY_ID_MAX ? dl->session_key_id.len : 0;
        if (kl > 0)
            memcpy(q.key_id, dl->session_key_id.data, kl);
        q.key_id_len = (uint8_t)kl;
        q.f_port = (uint8_t)dl->f_port;
        q.f_cnt = dl->f_cnt;
        q.len = (uint16_t)(dl->frm_payload.len <= LORAWAN_PHY_MAX_LEN ? dl->frm_payload.len : 0);
        if (q.len > 0)
            memcpy(q.payload, dl->frm_payload.data, q.len);
        q.confirmed = dl->confirmed;
        q.priority = (uint8_t)dl->priority;
        if (dl->n_correlation_ids > 0)
            snprintf(q.corr, sizeof q.corr, "%s", dl->correlation_ids[0]);
        else if (m->envelope->n_correlation_ids > 0)
            snprintf(q.corr, sizeof q.corr, "%s", m->envelope->correlation_ids[0]);
        if (dl->f_port == 0 || dl->f_port > NS_FPORT_MAX) {
            publish_failed(ns, d, &q, "invalid_f_port", "FPort must be 1..223");
            continue;
        }
        if (dl->frm_payload.len > LORAWAN_PHY_MAX_LEN - 13) {
            publish_failed(ns, d, &q, "invalid_f_port", "payload too long");
            continue;
        }
        if (!st->session.valid || q.key_id_len != st->session.key_id_len ||
            memcmp(q.key_id, st->session.key_id, q.key_id_len) != 0) {
            publish_failed(ns, d, &q, "session_key_id_mismatch",
                           "the downlink is not for the device's session");
            continue;
        }
        if (st->nqueue >= ns->queue_max) {
            char msg[96];
            snprintf(msg, sizeof msg, "downlink queue is full (%zu items)", ns->queue_max);
            publish_failed(ns, d, &q, "downlink_queue_full", msg);
            continue;
        }
        st->queue = lw_realloc(st->queue, (st->nqueue + 1) * sizeof *st->queue);
        st->queue[st->nqueue++] = q;
        publish_app(ns, d, &q, LW__MSG__NS_UP__UP_DOWNLINK_QUEUED);
    }
    ns_dev_mark_dirty(ns, d);
    ns_downlink_class_c(ns, d);
}

void ns_downlink_txack(ns_t *ns, ns_dev_t *d, Lw__Msg__GsTxAck *m)
{
    ns_state_t *st = &d->st;
    if (!st->has_inflight || m->downlink_id.len != LW_MSG_ID_LEN ||
        memcmp(m->downlink_id.data, st->inflight_id, LW_MSG_ID_LEN) != 0) {
        ns_count_drop(ns, "unknown_tx_ack");
        return;
    }
    st->has_inflight = false;
    ns_queued_t *app = st->inflight_app;
    st->inflight_app = NULL;
    if (m->result == LW__MSG__TX_ACK_RESULT__SUCCESS) {
        st->mac_backoff = st->mac_skip = 0;
        mac_events(ns, d, st->inflight_events, st->n_inflight_events);
        ns_count(ns, ns->m_down, "sent");
        if (app != NULL) {
            publish_app(ns, d, app, LW__MSG__NS_UP__UP_DOWNLINK_SENT);
            if (app->confirmed) {
                free(st->awaiting_ack);
                st->awaiting_ack = app;
                app = NULL;
            }
        }
    } else {
        const char *name =
            m->error_name != NULL && m->error_name[0] != '\0' ? m->error_name : "tx_failed";
        char msg[128];
        snprintf(msg, sizeof msg, "the gateway server did not transmit: %s", name);
        if (app != NULL)
            publish_failed(ns, d, app, name, msg);
        if (st->inflight_mac)
            ns_mac_downlink_lost(ns_dev_mac(d));
        if (st->inflight_mac_only) {
            st->mac_backoff = st->mac_backoff == 0 ? 1
                              : st->mac_backoff >= NS_MAC_BACKOFF_MAX
                                  ? NS_MAC_BACKOFF_MAX
                                  : (uint8_t)(2 * st->mac_backoff);
            st->mac_skip = st->mac_backoff;
        }
        ns_event(ns, d->tenant, d->app, d->dev, "ns.down.transmission.fail",
                 json_pack("{ss si}", "error_name", name, "rx_window", (int)m->rx_window), NULL);
    }
    drop_inflight_events(st);
    free(app);
    ns_dev_mark_dirty(ns, d);
    ns_downlink_class_c(ns, d);
}
