/* Downlinks: the application queue (lw.as.down), frames, and lw.gs.down.
 *
 * Class A: after an uplink, on the gateway that heard it best, with both receive windows
 * (the GS scheduler takes RX1 if it can still make it, else RX2). Class C: as soon as the
 * gateway of the last uplink can transmit (IMMEDIATE, RX2 parameters). Join-accepts: in the
 * join-accept windows (JoinAcceptDelay1 = 5 s, LoRaWAN 1.0.4 §6.2.6).
 *
 * Gateways: every copy of the uplink is a downlink path, best first as TTS orders them
 * (ns_downlink_paths). lw.gs.down is a broadcast that each GS process serves for the
 * gateways it holds, so one GsDown names one gateway; when the GS refuses it (conflict,
 * duty_cycle, too_late, ...) the same frame goes to the next gateway, as long as a window
 * can still be made (class A, join-accept) or at once (class C). Only when every gateway
 * refused does the application hear downlink_failed, with the last gateway's reason.
 *
 * One downlink is in flight at a time; its GsTxAck says whether it went out (then
 * downlink_sent, and a confirmed one waits for the ACK of the next uplink: downlink_ack or
 * downlink_nack; class C waits class_c_timeout at most, then downlink_nack) or why not. A
 * GsTxAck that never comes is a failure after ns.downlink-tx-ack-timeout. Frame counters
 * are taken when the frame is built, so none is ever used twice on air; a frame that no
 * gateway sent gives its counter back. LoRaWAN 1.0.4 §4.3.1.3: a frame is never sent again
 * with the same counter, so a nacked confirmed downlink is the AS's to encrypt again and
 * push (ApplicationDownlink.confirmed_retry, carried through the queue).
 *
 * MAC commands ride in the FOpts of an application downlink when one is queued; a frame of
 * MAC commands alone is sent only when none is. The AS encrypts the payload for a counter;
 * an item whose counter is behind the session's is invalid and handed back
 * (downlink_queue_invalidated) for the AS to encrypt again. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/clock.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "ns/ns_private.h"

/* LoRaWAN 1.0.4 §6.2.6: JOIN_ACCEPT_DELAY1. */
#define NS_JOIN_ACCEPT_DELAY1_S 5u
/* LoRaWAN 1.0.4 §5: RECEIVE_DELAY1 default. */
#define NS_RECEIVE_DELAY1_S 1u
/* LoRaWAN 1.0.4 §4.3.2: application FPorts. */
#define NS_FPORT_MAX 223u
/* LoRaWAN 1.0.4 §3.3.2: RX2 opens one second after RX1. */
#define NS_RX2_AFTER_RX1_S 1u
/* What a retry on another gateway needs before the last window opens: a bus hop to the GS
 * and its hand-over to the gateway (the GS itself refuses too_late beyond that). */
#define NS_RETRY_MARGIN_NS (100ll * 1000000ll)
/* TTS mac.DefaultClassCTimeout. */
#define NS_CLASS_C_TIMEOUT_S 300u

/* ---- paths (pure) ------------------------------------------------------------------------- */

float ns_adjusted_rssi(float channel_rssi, float snr)
{
    if (snr <= -5.0f)
        return channel_rssi + snr;
    if (snr < 10.0f)
        return channel_rssi + snr / 3.0f - 10.0f / 3.0f;
    return channel_rssi;
}

static bool rx_usable(const Lw__Msg__RxMetadata *r)
{
    return r != NULL && r->gateway_ids != NULL && r->gateway_ids->gateway_id != NULL &&
           r->gateway_ids->gateway_id[0] != '\0' && r->uplink_token.len > 0 &&
           r->uplink_token.len <= NS_TOKEN_MAX && strlen(r->gateway_ids->gateway_id) <= TN_ID_MAX &&
           (r->gateway_ids->tenant_id == NULL || strlen(r->gateway_ids->tenant_id) <= TN_ID_MAX);
}

/* TTS buildMetadataComparator: a copy without a channel RSSI sorts after every other. */
static bool rx_better(const Lw__Msg__RxMetadata *a, const Lw__Msg__RxMetadata *b)
{
    bool ia = a->channel_rssi == 0.0f, ib = b->channel_rssi == 0.0f;
    if (ia || ib)
        return !ia && ib;
    return ns_adjusted_rssi(a->channel_rssi, a->snr) > ns_adjusted_rssi(b->channel_rssi, b->snr);
}

static bool same_gateway(const ns_path_t *p, const Lw__Msg__RxMetadata *r)
{
    const char *t = r->gateway_ids->tenant_id != NULL ? r->gateway_ids->tenant_id : "";
    return strcmp(p->gateway_id, r->gateway_ids->gateway_id) == 0 && strcmp(p->tenant_id, t) == 0;
}

size_t ns_downlink_paths(Lw__Msg__RxMetadata *const *rx, size_t n, ns_path_t *out, size_t max)
{
    size_t np = 0;
    /* Selection by rank: each round takes the best copy not taken yet (stable: the earlier
     * of equals), then skips its gateway's other copies. n is a handful. */
    bool taken[64] = {false};
    size_t lim = n < 64 ? n : 64;
    while (np < max) {
        const Lw__Msg__RxMetadata *best = NULL;
        size_t bi = 0;
        for (size_t i = 0; i < lim; i++) {
            if (taken[i] || !rx_usable(rx[i]))
                continue;
            if (best == NULL || rx_better(rx[i], best)) {
                best = rx[i];
                bi = i;
            }
        }
        if (best == NULL)
            break;
        taken[bi] = true;
        bool dup = false;
        for (size_t k = 0; k < np; k++)
            if (same_gateway(&out[k], best))
                dup = true;
        if (dup)
            continue;
        ns_path_t *p = &out[np++];
        memset(p, 0, sizeof *p);
        snprintf(p->gateway_id, sizeof p->gateway_id, "%s", best->gateway_ids->gateway_id);
        snprintf(p->tenant_id, sizeof p->tenant_id, "%s",
                 best->gateway_ids->tenant_id != NULL ? best->gateway_ids->tenant_id : "");
        p->eui = best->gateway_ids->eui;
        p->antenna = best->antenna_index;
        p->timestamp = best->timestamp;
        memcpy(p->token, best->uplink_token.data, best->uplink_token.len);
        p->token_len = (uint8_t)best->uplink_token.len;
    }
    return np;
}

bool ns_downlink_retry_allowed(int64_t now_ns, int64_t window_end_ns)
{
    return window_end_ns == 0 || now_ns + NS_RETRY_MARGIN_NS < window_end_ns;
}

int64_t ns_class_c_timeout_ns(const ns_dev_t *d)
{
    uint32_t s = d->set->class_c_timeout_s != 0 ? d->set->class_c_timeout_s : NS_CLASS_C_TIMEOUT_S;
    return (int64_t)s * 1000000000ll;
}

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
    r->fp = lorawan_freqplan_find(d->set->fp_id);
    r->band = r->fp != NULL ? lorawan_band_get(r->fp->band) : NULL;
    r->rev = LORAWAN_RP002_1_0_3;
    ns_phy_version_parse(d->set->phy_version, &r->rev);
    return r->band != NULL ? 0 : -1;
}

/* The receive-window parameters the device uses now (MAC current parameters). */
typedef struct rxp {
    uint8_t rx1_delay, rx1_dr_offset, rx2_dr;
    uint32_t rx2_freq_hz;
} rxp_t;

static int rx_params(ns_t *ns, ns_dev_t *d, rxp_t *p)
{
    const ns_mac_state_t *m = ns_dev_mac(ns, d);
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

/* ---- lw.gs.down -------------------------------------------------------------------------- */

static void path_of_gw(const ns_gw_t *g, ns_path_t *p)
{
    memset(p, 0, sizeof *p);
    memcpy(p->gateway_id, g->gateway_id, sizeof p->gateway_id);
    memcpy(p->tenant_id, g->tenant_id, sizeof p->tenant_id);
    p->eui = g->eui;
    p->antenna = g->antenna;
    memcpy(p->token, g->token, g->token_len);
    p->token_len = g->token_len;
}

/* Encodes g for d through gateway p with downlink id `id`, and publishes it keyed by the
 * gateway. g's envelope, identifiers and path fields are d's and p's only during the call
 * (restored). out (cap): a copy of the encoding, when not NULL. after_durable: published
 * once the device's state as of now is durable (a join-accept: sent before its pending
 * session is, a crash would leave the device with a session the NS forgot, and the replayed
 * join-request's DevNonce refused by the JS). Returns 0, or -1 (logged). */
static int publish_gs_down(ns_t *ns, ns_dev_t *d, Lw__Msg__GsDown *g, const ns_path_t *p,
                           const uint8_t id[LW_MSG_ID_LEN], bool after_durable, uint8_t *out,
                           size_t cap, size_t *out_len)
{
    Lw__Msg__GsDown saved = *g;
    Lw__Msg__Envelope env = LW__MSG__ENVELOPE__INIT;
    env.id.data = (uint8_t *)id;
    env.id.len = LW_MSG_ID_LEN;
    env.tenant_id = ns_dev_tenant(d);
    env.schema_version = LW_MSG_SCHEMA_VERSION;
    g->envelope = &env;
    g->downlink_id.data = (uint8_t *)id;
    g->downlink_id.len = LW_MSG_ID_LEN;
    Lw__Msg__EndDeviceIdentifiers ids = LW__MSG__END_DEVICE_IDENTIFIERS__INIT;
    Lw__Msg__ApplicationIdentifiers app = LW__MSG__APPLICATION_IDENTIFIERS__INIT;
    app.application_id = ns_dev_app(d);
    ids.device_id = ns_dev_dev(d);
    ids.application_ids = &app;
    ids.dev_addr =
        d->st.session.valid ? d->st.session.dev_addr : ns_state_pending(&d->st)->dev_addr;
    ids.dev_eui = d->dev_eui;
    ids.join_eui = d->join_eui;
    g->end_device_ids = &ids;
    g->frequency_plan_id = (char *)d->set->fp_id;
    Lw__Msg__GatewayIdentifiers gw = LW__MSG__GATEWAY_IDENTIFIERS__INIT;
    gw.gateway_id = (char *)p->gateway_id;
    gw.eui = p->eui;
    gw.tenant_id = (char *)p->tenant_id;
    g->gateway_ids = &gw;
    g->uplink_token.data = (uint8_t *)p->token;
    g->uplink_token.len = p->token_len;
    g->antenna_index = p->antenna;
    if (g->timing == LW__MSG__TX_TIMING__TIMESTAMP)
        g->timestamp = p->timestamp;
    uint8_t buf[2048];
    size_t len = 0;
    int rc = lw_msg_gs_down_encode(g, buf, sizeof buf, &len);
    *g = saved;
    if (rc != 0) {
        lw_log(LW_LOG_ERROR, "ns", "gs.down not encoded", "device", d->key, "error",
               lw_msg_strerror(rc), NULL);
        return -1;
    }
    if (out != NULL) {
        if (len > cap)
            return -1;
        memcpy(out, buf, len);
        *out_len = len;
    }
    const char *gt = p->tenant_id[0] != '\0' ? p->tenant_id : ns_dev_tenant(d);
    char key[2 * TN_ID_MAX + 2];
    snprintf(key, sizeof key, "%s/%s", gt, p->gateway_id);
    if (after_durable) {
        ns_publish_after_durable(ns, "gs.down", key, buf, len);
        return 0;
    }
    return ns_publish(ns, "gs.down", key, buf, len);
}

/* ---- results on lw.ns.up ------------------------------------------------------------------ */

static void app_downlink(const ns_queued_t *q, Lw__Msg__ApplicationDownlink *dl, char **corr,
                         Lw__Msg__ConfirmedRetry *retry)
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
    if (q->retry_attempt != 0 || q->retry_max != 0) {
        lw__msg__confirmed_retry__init(retry);
        retry->attempt = q->retry_attempt;
        retry->max_attempts = q->retry_max;
        dl->confirmed_retry = retry;
    }
}

/* Names of the Network Server's own refusals; every other reason is the Gateway Server's. */
static const char *error_namespace(const char *name)
{
    static const char *const own[] = {"downlink_queue_capacity", "session_key_id_mismatch",
                                      "invalid_f_port",          "no_downlink_path",
                                      "device_not_found",        "no_tx_ack",
                                      "invalid_downlink",        "application_downlink_too_long"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (strcmp(name, own[i]) == 0)
            return "pkg/networkserver";
    return "pkg/gatewayserver";
}

static void publish_failed(ns_t *ns, ns_dev_t *d, const ns_queued_t *q, const char *name,
                           const char *message)
{
    Lw__Msg__ApplicationDownlink dl;
    Lw__Msg__ConfirmedRetry retry;
    char *corr = NULL;
    app_downlink(q, &dl, &corr, &retry);
    Lw__Msg__ErrorDetails e = LW__MSG__ERROR_DETAILS__INIT;
    e.namespace_ = (char *)error_namespace(name);
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

/* downlink_queued, _sent, _ack or _nack (which: the NsUp case) of q. */
static void publish_app(ns_t *ns, ns_dev_t *d, const ns_queued_t *q, int which)
{
    Lw__Msg__ApplicationDownlink dl;
    Lw__Msg__ConfirmedRetry retry;
    char *corr = NULL;
    app_downlink(q, &dl, &corr, &retry);
    Lw__Msg__NsUp up = LW__MSG__NS_UP__INIT;
    up.up_case = which;
    switch (which) {
    case LW__MSG__NS_UP__UP_DOWNLINK_QUEUED:
        up.downlink_queued = &dl;
        break;
    case LW__MSG__NS_UP__UP_DOWNLINK_SENT:
        up.downlink_sent = &dl;
        break;
    case LW__MSG__NS_UP__UP_DOWNLINK_ACK:
        up.downlink_ack = &dl;
        break;
    default:
        up.downlink_nack = &dl;
        break;
    }
    ns_publish_ns_up(ns, d, &up);
}

void ns_downlink_invalidated(ns_t *ns, ns_dev_t *d, ns_queued_t *items, size_t n)
{
    if (n == 0)
        return;
    Lw__Msg__ApplicationDownlink *dls = lw_calloc(n, sizeof *dls);
    Lw__Msg__ApplicationDownlink **dlp = lw_calloc(n, sizeof *dlp);
    Lw__Msg__ConfirmedRetry *retries = lw_calloc(n, sizeof *retries);
    char **corrs = lw_calloc(n, sizeof *corrs);
    for (size_t i = 0; i < n; i++) {
        app_downlink(&items[i], &dls[i], &corrs[i], &retries[i]);
        dlp[i] = &dls[i];
    }
    Lw__Msg__ApplicationInvalidatedDownlinks inv = LW__MSG__APPLICATION_INVALIDATED_DOWNLINKS__INIT;
    inv.downlinks = dlp;
    inv.n_downlinks = n;
    bool v11 = ns_settings_v11(d->set);
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
    free(retries);
    free(corrs);
}

/* ---- the queue ---------------------------------------------------------------------------- */

/* The next counter the device accepts for an application downlink (1.1: AFCntDown; 1.0.x:
 * the one FCntDown). */
static uint32_t next_app_f_cnt(const ns_dev_t *d, bool v11)
{
    const ns_session_t *s = &d->st.session;
    if (v11)
        return s->has_a_f_cnt_down ? s->last_a_f_cnt_down + 1 : 0;
    return s->has_n_f_cnt_down ? s->last_n_f_cnt_down + 1 : 0;
}

static bool key_is(const ns_queued_t *q, const ns_session_t *s)
{
    return s->valid && q->key_id_len == s->key_id_len &&
           memcmp(q->key_id, s->key_id, q->key_id_len) == 0;
}

/* Hands back the items that can no longer be sent: another session's (but the pending
 * session's: they wait for it, as TTS keeps its queue), or a counter the session passed. */
static void queue_clean(ns_t *ns, ns_dev_t *d, bool v11)
{
    ns_state_t *st = &d->st;
    uint32_t next = next_app_f_cnt(d, v11);
    ns_queued_t *bad = NULL;
    size_t nbad = 0, keep = 0;
    for (size_t i = 0; i < st->nqueue; i++) {
        const ns_queued_t *q = &st->queue[i];
        bool ok = (key_is(q, &st->session) && q->f_cnt >= next) || key_is(q, ns_state_pending(st));
        if (ok) {
            st->queue[keep++] = *q;
            continue;
        }
        bad = lw_realloc(bad, (nbad + 1) * sizeof *bad);
        bad[nbad++] = *q;
    }
    st->nqueue = keep;
    if (nbad > 0) {
        ns_downlink_invalidated(ns, d, bad, nbad);
        ns_dev_mark_dirty(ns, d);
    }
    free(bad);
}

/* The first item of the active session (-1: none). */
static ssize_t queue_first(const ns_state_t *st)
{
    for (size_t i = 0; i < st->nqueue; i++)
        if (key_is(&st->queue[i], &st->session))
            return (ssize_t)i;
    return -1;
}

/* Takes the first valid item of the active session off the queue (NULL: none); invalid
 * ones are handed back. */
static ns_queued_t *queue_pop(ns_t *ns, ns_dev_t *d, bool v11)
{
    ns_state_t *st = &d->st;
    queue_clean(ns, d, v11);
    ssize_t i = queue_first(st);
    if (i < 0)
        return NULL;
    ns_queued_t *q = lw_malloc(sizeof *q);
    *q = st->queue[i];
    memmove(st->queue + i, st->queue + i + 1, (st->nqueue - (size_t)i - 1) * sizeof *st->queue);
    st->nqueue--;
    return q;
}

void ns_downlink_session_changed(ns_t *ns, ns_dev_t *d)
{
    ns_state_t *st = &d->st;
    ns_queued_t *bad = NULL;
    size_t nbad = 0, keep = 0;
    for (size_t i = 0; i < st->nqueue; i++) {
        if (key_is(&st->queue[i], &st->session)) {
            st->queue[keep++] = st->queue[i];
            continue;
        }
        bad = lw_realloc(bad, (nbad + 1) * sizeof *bad);
        bad[nbad++] = st->queue[i];
    }
    st->nqueue = keep;
    ns_downlink_invalidated(ns, d, bad, nbad);
    free(bad);
    ns_dev_mark_dirty(ns, d);
}

/* ---- deadlines ------------------------------------------------------------------------------ */

enum { NS_DUE_TX_ACK = 1, NS_DUE_CLASS_C_ACK };

typedef struct ns_due {
    uint64_t at_ms; /* monotonic */
    int kind;
    uint8_t id[LW_MSG_ID_LEN]; /* TX_ACK: the downlink id */
    int64_t tag;               /* CLASS_C_ACK: the awaited downlink's awaiting_at_ns */
    char key[NS_DEV_KEY_MAX + 1];
} ns_due_t;

static void due_tick(uv_timer_t *t);

static void due_arm_at(ns_t *ns, uint64_t at_ms)
{
    uint64_t now = lw_clock_mono_ms();
    ns->due_armed_at = at_ms;
    uv_timer_start(&ns->due_timer, due_tick, at_ms > now ? at_ms - now : 0, 0);
}

/* The timer for the earliest deadline (TX acks: the FIFO's head; the others: a scan). */
static void due_arm(ns_t *ns)
{
    ns->due_armed_at = 0;
    uv_timer_stop(&ns->due_timer);
    if (ns->stopping)
        return;
    uint64_t first = UINT64_MAX;
    if (ns->txq_len > 0)
        first = ns->txq[ns->txq_head].at_ms;
    for (size_t i = 0; i < ns->ndue; i++)
        if (ns->due[i].at_ms < first)
            first = ns->due[i].at_ms;
    if (first != UINT64_MAX)
        due_arm_at(ns, first);
}

/* TX ack deadlines all have ns.downlink-tx-ack-timeout: they come due in the order they were
 * added, a FIFO (ring). Others (class C ACKs, postponed ones) are few: a list. */
static void due_add(ns_t *ns, const ns_dev_t *d, int kind, const uint8_t id[LW_MSG_ID_LEN],
                    int64_t tag, uint64_t delay_ms)
{
    ns_due_t e;
    memset(&e, 0, sizeof e);
    e.at_ms = lw_clock_mono_ms() + delay_ms;
    e.kind = kind;
    if (id != NULL)
        memcpy(e.id, id, LW_MSG_ID_LEN);
    e.tag = tag;
    snprintf(e.key, sizeof e.key, "%s", d->key);
    if (kind == NS_DUE_TX_ACK && delay_ms == ns->tx_ack_timeout_ms) {
        if (ns->txq_len == ns->txq_cap) {
            size_t cap = ns->txq_cap == 0 ? 64 : ns->txq_cap * 2;
            ns_due_t *q = lw_malloc(cap * sizeof *q);
            for (size_t i = 0; i < ns->txq_len; i++)
                q[i] = ns->txq[(ns->txq_head + i) % ns->txq_cap];
            free(ns->txq);
            ns->txq = q;
            ns->txq_cap = cap;
            ns->txq_head = 0;
        }
        ns->txq[(ns->txq_head + ns->txq_len) % ns->txq_cap] = e;
        ns->txq_len++;
    } else {
        if (ns->ndue == ns->due_cap) {
            ns->due_cap = ns->due_cap == 0 ? 16 : ns->due_cap * 2;
            ns->due = lw_realloc(ns->due, ns->due_cap * sizeof *ns->due);
        }
        ns->due[ns->ndue++] = e;
    }
    if (!ns->stopping && (ns->due_armed_at == 0 || e.at_ms < ns->due_armed_at))
        due_arm_at(ns, e.at_ms);
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

/* ---- in flight ------------------------------------------------------------------------------ */

/* Records the downlink in flight: its id, its application item (owned), the counter it took
 * (has_f; fl keeps the old value to give back), and how to try other gateways (fl, owned). */
static void take_inflight(ns_t *ns, ns_dev_t *d, const uint8_t id[LW_MSG_ID_LEN], ns_queued_t *app,
                          bool has_f, uint32_t f, bool v11, ns_flight_t *fl)
{
    ns_state_t *st = &d->st;
    if (st->flight != NULL && st->flight->app != NULL) {
        /* The GS never answered the previous one (lost on the bus or a GS restart). */
        publish_failed(ns, d, st->flight->app, "no_tx_ack", "no transmission result");
    }
    ns_flight_free(st->flight);
    memcpy(fl->id, id, LW_MSG_ID_LEN);
    fl->app = app;
    fl->f_cnt = f;
    fl->confirmed = app != NULL && app->confirmed;
    st->flight = fl;
    if (has_f) {
        ns_session_t *s = &st->session;
        bool a = app != NULL && v11;
        fl->rollback = true;
        fl->rollback_a = a;
        fl->rollback_has = a ? s->has_a_f_cnt_down : s->has_n_f_cnt_down;
        fl->rollback_f_cnt = a ? s->last_a_f_cnt_down : s->last_n_f_cnt_down;
        if (a) {
            s->last_a_f_cnt_down = f;
            s->has_a_f_cnt_down = true;
        } else {
            s->last_n_f_cnt_down = f;
            s->has_n_f_cnt_down = true;
        }
    }
    ns_dev_mark_dirty(ns, d);
    due_add(ns, d, NS_DUE_TX_ACK, id, 0, ns->tx_ack_timeout_ms);
}

/* Publishes g on paths[0] and puts it in flight with paths[1..np) to try after a refusal.
 * Returns 0, or -1 when it could not be published (nothing changed; app still the
 * caller's). */
static int send_first(ns_t *ns, ns_dev_t *d, Lw__Msg__GsDown *g, const ns_path_t *paths, size_t np,
                      bool after_durable, int64_t window_end_ns, bool class_c, ns_queued_t *app,
                      bool has_f, uint32_t f, bool v11)
{
    uint8_t id[LW_MSG_ID_LEN];
    ns_random_id(id);
    uint8_t enc[2048];
    size_t enc_len = 0;
    if (np == 0 ||
        publish_gs_down(ns, d, g, &paths[0], id, after_durable, enc, sizeof enc, &enc_len) != 0)
        return -1;
    ns_flight_t *fl = lw_calloc(1, sizeof *fl);
    fl->gs_down = lw_malloc(enc_len);
    memcpy(fl->gs_down, enc, enc_len);
    fl->gs_down_len = enc_len;
    if (np > 1) {
        fl->paths = lw_malloc((np - 1) * sizeof *fl->paths);
        memcpy(fl->paths, paths + 1, (np - 1) * sizeof *fl->paths);
        fl->npaths = (uint8_t)(np - 1);
    }
    fl->attempts = 1;
    fl->window_end_ns = window_end_ns;
    fl->class_c = class_c;
    take_inflight(ns, d, id, app, has_f, f, v11, fl);
    return 0;
}

/* The frame in flight again, on the next gateway not tried. Returns 0, or -1 (none left or
 * not published: the caller fails it). */
static int retry_next(ns_t *ns, ns_dev_t *d)
{
    ns_state_t *st = &d->st;
    ns_flight_t *fl = st->flight;
    if (fl == NULL || fl->npaths == 0)
        return -1;
    ns_path_t p = fl->paths[0];
    memmove(fl->paths, fl->paths + 1, (size_t)(fl->npaths - 1) * sizeof *fl->paths);
    fl->npaths--;
    Lw__Msg__GsDown *g = NULL;
    if (lw_msg_gs_down_decode(fl->gs_down, fl->gs_down_len, &g) != 0)
        return -1;
    uint8_t id[LW_MSG_ID_LEN];
    ns_random_id(id);
    /* The first attempt was answered: what it waited for (a join-accept's session) is
     * durable by now. */
    int rc = publish_gs_down(ns, d, g, &p, id, false, NULL, 0, NULL);
    lw_msg_gs_down_free(g);
    if (rc != 0)
        return -1;
    memcpy(fl->id, id, LW_MSG_ID_LEN);
    fl->attempts++;
    ns_dev_mark_dirty(ns, d);
    due_add(ns, d, NS_DUE_TX_ACK, id, 0, ns->tx_ack_timeout_ms);
    ns_count(ns, ns->m_down, "retry");
    return 0;
}

/* No gateway sent the downlink in flight: its application item fails with `name` (the last
 * gateway's reason) and, when give_back (the frame surely never went on air), its counter
 * is free again. */
static void finish_refused(ns_t *ns, ns_dev_t *d, const char *name, bool give_back)
{
    ns_state_t *st = &d->st;
    ns_flight_t *fl = st->flight;
    if (fl == NULL)
        return;
    ns_queued_t *app = fl->app;
    fl->app = NULL;
    st->flight = NULL;
    if (give_back) {
        /* Its MAC requests never reached the device: built again for the next downlink, and
         * a MAC-only frame backs off (the gateways are busy). */
        if (fl->mac)
            ns_mac_downlink_lost(ns_dev_mac(ns, d));
        if (fl->mac_only) {
            st->mac_backoff = st->mac_backoff == 0 ? 1
                              : st->mac_backoff >= NS_MAC_BACKOFF_MAX
                                  ? NS_MAC_BACKOFF_MAX
                                  : (uint8_t)(2 * st->mac_backoff);
            st->mac_skip = st->mac_backoff;
        }
    }
    if (give_back && fl->rollback) {
        ns_session_t *s = &st->session;
        if (fl->rollback_a && s->last_a_f_cnt_down == fl->f_cnt) {
            s->last_a_f_cnt_down = fl->rollback_f_cnt;
            s->has_a_f_cnt_down = fl->rollback_has;
        } else if (!fl->rollback_a && s->last_n_f_cnt_down == fl->f_cnt) {
            s->last_n_f_cnt_down = fl->rollback_f_cnt;
            s->has_n_f_cnt_down = fl->rollback_has;
        }
    }
    if (app != NULL) {
        char msg[160];
        unsigned tried = fl->attempts > 0 ? fl->attempts : 1;
        snprintf(msg, sizeof msg, "the downlink was not transmitted: %s (%u gateway%s tried)", name,
                 tried, tried == 1 ? "" : "s");
        publish_failed(ns, d, app, name, msg);
    } else {
        ns_count(ns, ns->m_down, "failed");
    }
    free(app);
    ns_flight_free(fl);
    ns_dev_mark_dirty(ns, d);
}

/* The class C downlink awaited longer than class_c_timeout: nacked (the AS may send it
 * again, TTS's confirmed retry). */
static void ack_timeout(ns_t *ns, ns_dev_t *d)
{
    ns_state_t *st = &d->st;
    publish_app(ns, d, st->awaiting_ack, LW__MSG__NS_UP__UP_DOWNLINK_NACK);
    ns_event(ns, ns_dev_tenant(d), ns_dev_app(d), ns_dev_dev(d), "ns.down.data.ack.timeout",
             json_pack("{sI}", "f_cnt", (json_int_t)st->awaiting_ack->f_cnt), NULL);
    free(st->awaiting_ack);
    st->awaiting_ack = NULL;
    st->awaiting_class_c = false;
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
        ns_event(ns, ns_dev_tenant(d), ns_dev_app(d), ns_dev_dev(d), ev[i].name,
                 json_pack("{ss}", "command", name != NULL ? name : "unknown"), NULL);
    }
}

/* The class C paths: the gateways of the last uplink (owned copy). */
static void keep_class_c_paths(ns_dev_t *d, const ns_path_t *paths, size_t np)
{
    ns_state_t *st = &d->st;
    if (np == 0)
        return;
    if (st->n_c_paths != np) {
        free(st->c_paths);
        st->c_paths = lw_malloc(np * sizeof *st->c_paths);
    }
    memcpy(st->c_paths, paths, np * sizeof *paths);
    st->n_c_paths = (uint8_t)np;
}

static int64_t uplink_at_ns(const ns_up_t *u)
{
    return u->first->received_at != 0 ? u->first->received_at : ns_now_ns();
}

void ns_downlink_class_a(ns_t *ns, ns_dev_t *d, const ns_up_t *u, bool ack, bool mac_down)
{
    radio_t r;
    rxp_t rp;
    if (radio_of(d, &r) != 0 || rx_params(ns, d, &rp) != 0) {
        ns_count_drop(ns, "unknown_frequency_plan");
        return;
    }
    ns_path_t paths[NS_PATHS_MAX];
    size_t np = ns_downlink_paths(u->rx, u->nrx, paths, NS_PATHS_MAX);
    if (d->set->supports_class_c)
        keep_class_c_paths(d, paths, np);
    bool v11 = ns_settings_v11(d->set);
    ns_mac_ctx_t ctx;
    lorawan_rp_rev_t rev;
    ns_mac_version_t ver;
    ns_mac_state_t *mac = ns_dev_mac(ns, d);
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
    if (np == 0) {
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
        /* With an application payload, MAC commands go in its FOpts (15 bytes; the rest
         * waits, FPending): a frame of MAC alone would take the counter the AS encrypted
         * the payload for. */
        size_t budget = app != NULL ? LORAWAN_FOPTS_MAX_LEN : mac_budget(&r, dr1, has1, rp.rx2_dr);
        if (ns_mac_downlink_build(mac, &ctx, now_s, budget, cmds, sizeof cmds, &ncmds, &mres) != 0)
            ncmds = 0;
    }
    if (!ack && app == NULL && ncmds == 0)
        return;
    uint8_t phy[LORAWAN_PHY_MAX_LEN];
    size_t len = 0;
    uint32_t f = 0;
    if (build_data(d, v11, ack, app, queue_first(&d->st) >= 0 || mres.more, cmds, ncmds, phy,
                   sizeof phy, &len, &f) != 0) {
        lw_log(LW_LOG_ERROR, "ns", "downlink not built", "device", d->key, NULL);
        if (app != NULL)
            publish_failed(ns, d, app, "invalid_downlink", "the downlink frame cannot be built");
        free(app);
        return;
    }
    Lw__Msg__GsDown g = LW__MSG__GS_DOWN__INIT;
    g.raw_payload.data = phy;
    g.raw_payload.len = len;
    g.timing = LW__MSG__TX_TIMING__TIMESTAMP;
    g.rx1_delay = rp.rx1_delay;
    g.invert_polarization = true;
    g.priority = prio(app);
    if (has1)
        g.rx1 = &w1;
    if (has2)
        g.rx2 = &w2;
    int64_t end = uplink_at_ns(u) + (int64_t)(rp.rx1_delay + NS_RX2_AFTER_RX1_S) * 1000000000ll;
    bool mac_only = app == NULL && !ack;
    if (send_first(ns, d, &g, paths, np, false, end, false, app, true, f, v11) != 0) {
        if (app != NULL)
            publish_failed(ns, d, app, "no_downlink_path", "downlink not published");
        free(app);
        return;
    }
    /* Its ns.mac.*.request events wait for the GS to say it went out (on any gateway). */
    ns_flight_t *fl = d->st.flight;
    fl->mac = ncmds > 0;
    fl->mac_only = mac_only;
    if (mres.n_events > 0) {
        fl->events = lw_malloc(mres.n_events * sizeof *fl->events);
        memcpy(fl->events, mres.events, mres.n_events * sizeof *mres.events);
        fl->n_events = (uint8_t)mres.n_events;
    }
    ns_count(ns, ns->m_down, app != NULL ? "class_a_app" : "class_a_mac");
    tn_usage_count(ns->usage, ns_dev_tenant(d), TN_USAGE_DOWNLINK, ns_dev_app(d), ns_dev_dev(d), 1);
}

void ns_downlink_class_c(ns_t *ns, ns_dev_t *d)
{
    ns_state_t *st = &d->st;
    if (!d->set->supports_class_c || !st->session.valid || st->flight != NULL || st->nqueue == 0)
        return;
    radio_t r;
    rxp_t rp;
    if (radio_of(d, &r) != 0 || rx_params(ns, d, &rp) != 0)
        return;
    bool v11 = ns_settings_v11(d->set);
    queue_clean(ns, d, v11);
    ssize_t head = queue_first(st);
    if (head < 0)
        return;
    if (st->awaiting_ack != NULL) {
        /* TTS nextConfirmedNetworkInitiatedDownlinkAt: a confirmed class C downlink waits
         * for the ACK of the one before, class_c_timeout at most. */
        if (ns_now_ns() >= st->awaiting_at_ns + ns_class_c_timeout_ns(d))
            ack_timeout(ns, d);
        else if (st->queue[head].confirmed)
            return; /* the CLASS_C_ACK deadline comes back */
    }
    ns_path_t one;
    const ns_path_t *paths = st->c_paths;
    size_t np = st->n_c_paths;
    if (np == 0 && st->last_gw != NULL && st->last_gw->valid && st->last_gw->token_len > 0) {
        path_of_gw(st->last_gw, &one);
        paths = &one;
        np = 1;
    }
    if (np == 0) {
        /* No gateway heard the device yet: nothing queued can go out; say so now rather
         * than keep it. */
        for (;;) {
            ns_queued_t *q = queue_pop(ns, d, v11);
            if (q == NULL)
                break;
            publish_failed(ns, d, q, "no_downlink_path", "no gateway has heard the device yet");
            free(q);
        }
        ns_dev_mark_dirty(ns, d);
        return;
    }
    ns_queued_t *app = queue_pop(ns, d, v11);
    if (app == NULL)
        return;
    uint8_t phy[LORAWAN_PHY_MAX_LEN];
    size_t len = 0;
    uint32_t f = 0;
    Lw__Msg__TxWindow w2;
    Lw__Msg__DataRate d2;
    Lw__Msg__LoRaDataRate l2;
    /* TTS sets no FPending on class C downlinks: the device listens anyway. */
    if (build_data(d, v11, false, app, false, NULL, 0, phy, sizeof phy, &len, &f) != 0 ||
        window_of(&r, rp.rx2_dr, rp.rx2_freq_hz, &w2, &d2, &l2) != 0) {
        publish_failed(ns, d, app, "invalid_downlink", "the downlink frame cannot be built");
        free(app);
        return;
    }
    Lw__Msg__GsDown g = LW__MSG__GS_DOWN__INIT;
    g.raw_payload.data = phy;
    g.raw_payload.len = len;
    g.timing = LW__MSG__TX_TIMING__IMMEDIATE;
    g.invert_polarization = true;
    g.priority = prio(app);
    g.rx2 = &w2;
    if (send_first(ns, d, &g, paths, np, false, 0, true, app, true, f, v11) != 0) {
        publish_failed(ns, d, app, "no_downlink_path", "downlink not published");
        free(app);
        return;
    }
    ns_count(ns, ns->m_down, "class_c_app");
    tn_usage_count(ns->usage, ns_dev_tenant(d), TN_USAGE_DOWNLINK, ns_dev_app(d), ns_dev_dev(d), 1);
}

void ns_downlink_join_accept(ns_t *ns, ns_dev_t *d, const ns_up_t *u, const uint8_t *phy,
                             size_t len)
{
    radio_t r;
    ns_path_t paths[NS_PATHS_MAX];
    size_t np = ns_downlink_paths(u->rx, u->nrx, paths, NS_PATHS_MAX);
    if (radio_of(d, &r) != 0 || np == 0) {
        ns_count_drop(ns, np == 0 ? "no_downlink_path" : "unknown_frequency_plan");
        return;
    }
    Lw__Msg__GsDown g = LW__MSG__GS_DOWN__INIT;
    g.raw_payload.data = (uint8_t *)phy;
    g.raw_payload.len = len;
    g.timing = LW__MSG__TX_TIMING__TIMESTAMP;
    g.rx1_delay = NS_JOIN_ACCEPT_DELAY1_S;
    g.join_accept = true;
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
    int64_t end =
        uplink_at_ns(u) + (int64_t)(NS_JOIN_ACCEPT_DELAY1_S + NS_RX2_AFTER_RX1_S) * 1000000000ll;
    if (send_first(ns, d, &g, paths, np, true, end, false, NULL, false, 0, false) != 0)
        return;
    ns_count(ns, ns->m_down, "join_accept");
    tn_usage_count(ns->usage, ns_dev_tenant(d), TN_USAGE_JOIN_ACCEPT, ns_dev_app(d), ns_dev_dev(d),
                   1);
}

/* ---- lw.as.down ------------------------------------------------------------------------------ */

/* The answer to LIST: the queue in order (TTS DownlinkQueueList), or device_not_found. */
static void queue_list(ns_t *ns, ns_dev_t *d, const Lw__Msg__AsDown *m)
{
    ns_state_t *st = &d->st;
    bool absent = d->phase == NS_DEV_ABSENT;
    size_t n = absent ? 0 : st->nqueue;
    Lw__Msg__ApplicationDownlink *dls = n > 0 ? lw_calloc(n, sizeof *dls) : NULL;
    Lw__Msg__ApplicationDownlink **dlp = n > 0 ? lw_calloc(n, sizeof *dlp) : NULL;
    Lw__Msg__ConfirmedRetry *retries = n > 0 ? lw_calloc(n, sizeof *retries) : NULL;
    char **corrs = n > 0 ? lw_calloc(n, sizeof *corrs) : NULL;
    for (size_t i = 0; i < n; i++) {
        app_downlink(&st->queue[i], &dls[i], &corrs[i], &retries[i]);
        dlp[i] = &dls[i];
    }
    Lw__Msg__ApplicationDownlinks l = LW__MSG__APPLICATION_DOWNLINKS__INIT;
    l.downlinks = dlp;
    l.n_downlinks = n;
    l.request_id = m->envelope->id;
    Lw__Msg__ErrorDetails e = LW__MSG__ERROR_DETAILS__INIT;
    if (absent) {
        e.namespace_ = "pkg/networkserver";
        e.name = "device_not_found";
        e.message_format = "end device not found in the Network Server";
        e.code = 5;
        l.error = &e;
    }
    Lw__Msg__Envelope env = LW__MSG__ENVELOPE__INIT;
    uint8_t id[LW_MSG_ID_LEN];
    ns_random_id(id);
    env.id.data = id;
    env.id.len = LW_MSG_ID_LEN;
    env.tenant_id = ns_dev_tenant(d);
    env.schema_version = LW_MSG_SCHEMA_VERSION;
    env.correlation_ids = m->envelope->correlation_ids;
    env.n_correlation_ids = m->envelope->n_correlation_ids;
    Lw__Msg__NsUp up = LW__MSG__NS_UP__INIT;
    up.envelope = &env;
    up.up_case = LW__MSG__NS_UP__UP_DOWNLINK_QUEUE_LIST;
    up.downlink_queue_list = &l;
    ns_publish_ns_up(ns, d, &up);
    free(dls);
    free(dlp);
    free(retries);
    free(corrs);
}

static void queued_from(const Lw__Msg__AsDown *m, const Lw__Msg__ApplicationDownlink *dl,
                        ns_queued_t *q)
{
    memset(q, 0, sizeof *q);
    size_t kl = dl->session_key_id.len <= NS_KEY_ID_MAX ? dl->session_key_id.len : 0;
    if (kl > 0)
        memcpy(q->key_id, dl->session_key_id.data, kl);
    q->key_id_len = (uint8_t)kl;
    q->f_port = (uint8_t)dl->f_port;
    q->f_cnt = dl->f_cnt;
    q->len = (uint16_t)(dl->frm_payload.len <= LORAWAN_PHY_MAX_LEN ? dl->frm_payload.len : 0);
    if (q->len > 0)
        memcpy(q->payload, dl->frm_payload.data, q->len);
    q->confirmed = dl->confirmed;
    q->priority = (uint8_t)dl->priority;
    if (dl->n_correlation_ids > 0)
        snprintf(q->corr, sizeof q->corr, "%s", dl->correlation_ids[0]);
    else if (m->envelope->n_correlation_ids > 0)
        snprintf(q->corr, sizeof q->corr, "%s", m->envelope->correlation_ids[0]);
    if (dl->confirmed_retry != NULL) {
        q->retry_attempt = dl->confirmed_retry->attempt;
        q->retry_max = dl->confirmed_retry->max_attempts;
    }
}

void ns_downlink_queue_op(ns_t *ns, ns_dev_t *d, Lw__Msg__AsDown *m)
{
    ns_state_t *st = &d->st;
    if (m->operation == LW__MSG__DOWNLINK_QUEUE_OPERATION__LIST) {
        queue_list(ns, d, m);
        return;
    }
    if (d->phase == NS_DEV_ABSENT) {
        ns_count_drop(ns, "device_not_found");
        for (size_t i = 0; i < m->n_downlinks; i++) {
            ns_queued_t q;
            queued_from(m, m->downlinks[i], &q);
            publish_failed(ns, d, &q, "device_not_found",
                           "end device not found in the Network Server");
        }
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
        queued_from(m, dl, &q);
        if (dl->f_port == 0 || dl->f_port > NS_FPORT_MAX) {
            publish_failed(ns, d, &q, "invalid_f_port", "FPort must be 1..223");
            continue;
        }
        if (dl->frm_payload.len > LORAWAN_PHY_MAX_LEN - 13) {
            publish_failed(ns, d, &q, "application_downlink_too_long",
                           "the payload is longer than any frame carries");
            continue;
        }
        if (!key_is(&q, &st->session) && !key_is(&q, ns_state_pending(st))) {
            /* The pending session's (a join not yet confirmed by an uplink) wait for it. */
            publish_failed(ns, d, &q, "session_key_id_mismatch",
                           "the downlink is not for the device's session");
            continue;
        }
        if (st->nqueue >= ns->queue_max) {
            /* TTS errDownlinkQueueCapacity. */
            char msg[96];
            snprintf(msg, sizeof msg, "downlink queue capacity exceeded (%zu items)",
                     ns->queue_max);
            publish_failed(ns, d, &q, "downlink_queue_capacity", msg);
            continue;
        }
        st->queue = lw_realloc(st->queue, (st->nqueue + 1) * sizeof *st->queue);
        st->queue[st->nqueue++] = q;
        publish_app(ns, d, &q, LW__MSG__NS_UP__UP_DOWNLINK_QUEUED);
    }
    ns_dev_mark_dirty(ns, d);
    ns_downlink_class_c(ns, d);
}

void ns_downlink_ack(ns_t *ns, ns_dev_t *d, bool ack)
{
    ns_state_t *st = &d->st;
    if (st->awaiting_ack == NULL)
        return;
    publish_app(ns, d, st->awaiting_ack,
                ack ? LW__MSG__NS_UP__UP_DOWNLINK_ACK : LW__MSG__NS_UP__UP_DOWNLINK_NACK);
    free(st->awaiting_ack);
    st->awaiting_ack = NULL;
    st->awaiting_class_c = false;
    ns_dev_mark_dirty(ns, d);
}

/* ---- lw.gs.txack ------------------------------------------------------------------------------
 */

void ns_downlink_txack(ns_t *ns, ns_dev_t *d, Lw__Msg__GsTxAck *m)
{
    ns_state_t *st = &d->st;
    if (st->flight == NULL || m->downlink_id.len != LW_MSG_ID_LEN ||
        memcmp(m->downlink_id.data, st->flight->id, LW_MSG_ID_LEN) != 0) {
        ns_count_drop(ns, "unknown_tx_ack");
        return;
    }
    if (m->result == LW__MSG__TX_ACK_RESULT__SUCCESS) {
        ns_flight_t *fl = st->flight;
        ns_queued_t *app = fl->app;
        fl->app = NULL;
        st->flight = NULL;
        st->mac_backoff = st->mac_skip = 0;
        mac_events(ns, d, fl->events, fl->n_events);
        ns_count(ns, ns->m_down, "sent");
        if (app != NULL) {
            publish_app(ns, d, app, LW__MSG__NS_UP__UP_DOWNLINK_SENT);
            if (app->confirmed) {
                free(st->awaiting_ack);
                st->awaiting_ack = app;
                st->awaiting_at_ns = ns_now_ns();
                st->awaiting_class_c = fl->class_c;
                if (d->set->supports_class_c)
                    due_add(ns, d, NS_DUE_CLASS_C_ACK, NULL, st->awaiting_at_ns,
                            (uint64_t)(ns_class_c_timeout_ns(d) / 1000000ll));
                app = NULL;
            }
        }
        free(app);
        ns_flight_free(fl);
    } else {
        const char *name =
            m->error_name != NULL && m->error_name[0] != '\0' ? m->error_name : "tx_failed";
        const char *gw = m->gateway_ids != NULL && m->gateway_ids->gateway_id != NULL
                             ? m->gateway_ids->gateway_id
                             : "";
        ns_flight_t *fl = st->flight;
        bool retry = fl != NULL && fl->npaths > 0 &&
                     ns_downlink_retry_allowed(ns_now_ns(), fl->window_end_ns);
        ns_event(ns, ns_dev_tenant(d), ns_dev_app(d), ns_dev_dev(d), "ns.down.transmission.fail",
                 json_pack("{ss ss si sb}", "error_name", name, "gateway_id", gw, "rx_window",
                           (int)m->rx_window, "retry", retry),
                 NULL);
        if (retry && retry_next(ns, d) == 0)
            return;
        finish_refused(ns, d, name, true);
    }
    ns_dev_mark_dirty(ns, d);
    ns_downlink_class_c(ns, d);
}

/* ---- deadlines ------------------------------------------------------------------------------ */

static void due_run(ns_t *ns, const ns_due_t *e)
{
    ns_dev_t *d = ns_dev_find(ns, e->key);
    if (d == NULL || d->phase == NS_DEV_ABSENT)
        return;
    if (d->phase == NS_DEV_LOADING || d->busy || d->wait_head != NULL) {
        /* Its messages come first; look again shortly. */
        due_add(ns, d, e->kind, e->id, e->tag, 1000);
        return;
    }
    ns_state_t *st = &d->st;
    if (e->kind == NS_DUE_TX_ACK) {
        if (st->flight == NULL || memcmp(st->flight->id, e->id, LW_MSG_ID_LEN) != 0)
            return;
        /* No GS answered: the frame may have gone out, so its counter stays used. */
        ns_event(ns, ns_dev_tenant(d), ns_dev_app(d), ns_dev_dev(d), "ns.down.transmission.fail",
                 json_pack("{ss}", "error_name", "no_tx_ack"), NULL);
        finish_refused(ns, d, "no_tx_ack", false);
    } else {
        if (st->awaiting_ack == NULL || st->awaiting_at_ns != e->tag)
            return;
        int64_t left = st->awaiting_at_ns + ns_class_c_timeout_ns(d) - ns_now_ns();
        if (left > 0) {
            due_add(ns, d, e->kind, NULL, e->tag, (uint64_t)(left / 1000000ll) + 1);
            return;
        }
        ack_timeout(ns, d);
    }
    ns_downlink_class_c(ns, d);
}

static void due_tick(uv_timer_t *t)
{
    ns_t *ns = t->data;
    ns->due_armed_at = 0;
    uint64_t now = lw_clock_mono_ms();
    ns_due_t *fired = NULL;
    size_t nf = 0, cap = 0;
    while (ns->txq_len > 0 && ns->txq[ns->txq_head].at_ms <= now) {
        if (nf == cap) {
            cap = cap == 0 ? 8 : cap * 2;
            fired = lw_realloc(fired, cap * sizeof *fired);
        }
        fired[nf++] = ns->txq[ns->txq_head];
        ns->txq_head = (ns->txq_head + 1) % ns->txq_cap;
        ns->txq_len--;
    }
    size_t i = 0;
    while (i < ns->ndue) {
        if (ns->due[i].at_ms <= now) {
            if (nf == cap) {
                cap = cap == 0 ? 8 : cap * 2;
                fired = lw_realloc(fired, cap * sizeof *fired);
            }
            fired[nf++] = ns->due[i];
            ns->due[i] = ns->due[--ns->ndue];
        } else {
            i++;
        }
    }
    for (size_t k = 0; k < nf && !ns->stopping; k++)
        due_run(ns, &fired[k]);
    free(fired);
    due_arm(ns);
}

void ns_downlink_loaded(ns_t *ns, ns_dev_t *d)
{
    ns_state_t *st = &d->st;
    if (st->flight != NULL)
        due_add(ns, d, NS_DUE_TX_ACK, st->flight->id, 0, ns->tx_ack_timeout_ms);
    if (st->awaiting_ack != NULL && d->set->supports_class_c) {
        int64_t left = st->awaiting_at_ns + ns_class_c_timeout_ns(d) - ns_now_ns();
        due_add(ns, d, NS_DUE_CLASS_C_ACK, NULL, st->awaiting_at_ns,
                left > 0 ? (uint64_t)(left / 1000000ll) + 1 : 0);
    }
}

int ns_downlink_start(ns_t *ns)
{
    uv_timer_init(ns->loop, &ns->due_timer);
    ns->due_timer.data = ns;
    return 0;
}

void ns_downlink_stop(ns_t *ns)
{
    uv_timer_stop(&ns->due_timer);
    uv_close((uv_handle_t *)&ns->due_timer, NULL);
}
