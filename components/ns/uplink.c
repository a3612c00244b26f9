/* A device's uplinks in the device worker: deduplication, frame counters, sessions, results.
 *
 * Deduplication: the first copy of a frame opens a window in which every other gateway's
 * copy is merged (its rx_metadata added); the frame is processed when the window closes.
 * The window is ns.deduplication-window (200 ms) counted from when the Gateway Server
 * received the first copy (NsDev.received_at), not from when it reached this worker: the
 * bus hops on the way (GS → matcher → worker) are spent inside the window instead of after
 * it, so the result leaves 200 ms after the gateways heard the frame, not 200 ms plus the
 * hops. Copies still get at least ns.deduplication-window-min after the first one reached
 * the worker (a frame that waited in a backlog, a GS clock ahead or far behind). For
 * ns.cooldown-window (1 s) after that, a late copy of the same frame is dropped as a
 * duplicate. Windows close in deadline order: a list sorted by deadline (new windows almost
 * always go last) and one timer.
 *
 * A copy whose lw.gs.up id the device already processed (kept in its state, so across a
 * restart) is a redelivery after a crash: dropped without a trace. A frame whose counter is
 * not above the last accepted one is a replay: dropped with an event. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/clock.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "ns/ns_private.h"

uint64_t ns_hash64(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h ^ n;
}

static void window_unlink(ns_t *ns, ns_up_t *u)
{
    if (u->prev == NULL && ns->win_head != u)
        return; /* not in the list */
    if (u->prev != NULL)
        u->prev->next = u->next;
    else
        ns->win_head = u->next;
    if (u->next != NULL)
        u->next->prev = u->prev;
    else
        ns->win_tail = u->prev;
    u->next = u->prev = NULL;
}

static void window_free(ns_up_t *u)
{
    for (size_t i = 0; i < u->ncopies; i++)
        lw_msg_ns_dev_free(u->copies[i]);
    free(u->copies);
    free(u->entries);
    free(u->rx);
    free(u);
}

void ns_uplink_window_drop(ns_t *ns, ns_up_t *u)
{
    window_unlink(ns, u);
    if (u->dev != NULL && u->dev->up == u)
        u->dev->up = NULL;
    for (size_t i = 0; i < u->ncopies; i++)
        lw_bus_commitq_done(u->entries[i], 0);
    window_free(u);
}

static void window_add(ns_up_t *u, Lw__Msg__NsDev *m, ns_entry_t *e)
{
    if (u->ncopies == u->cap) {
        u->cap = u->cap == 0 ? 4 : u->cap * 2;
        u->copies = lw_realloc(u->copies, u->cap * sizeof *u->copies);
        u->entries = lw_realloc(u->entries, u->cap * sizeof *u->entries);
    }
    u->copies[u->ncopies] = m;
    u->entries[u->ncopies] = e;
    u->ncopies++;
    for (size_t i = 0; i < m->n_rx_metadata; i++) {
        if (u->nrx == u->rx_cap) {
            u->rx_cap = u->rx_cap == 0 ? 4 : u->rx_cap * 2;
            u->rx = lw_realloc(u->rx, u->rx_cap * sizeof *u->rx);
        }
        u->rx[u->nrx++] = m->rx_metadata[i];
    }
}

/* All the window's offsets belong to the batch being accumulated. */
static void window_done(ns_t *ns, ns_up_t *u)
{
    for (size_t i = 0; i < u->ncopies; i++)
        lw_bus_commitq_done(u->entries[i], ns->gen);
}

/* A replay after a restart: the message, or a copy merged into it, was processed before. */
static bool already_processed(ns_dev_t *d, const Lw__Msg__NsDev *m)
{
    if (m->envelope->id.len == LW_MSG_ID_LEN && ns_state_recent_has(&d->st, m->envelope->id.data))
        return true;
    for (size_t k = 0; k < m->n_copy_ids; k++)
        if (m->copy_ids[k].len == LW_MSG_ID_LEN && ns_state_recent_has(&d->st, m->copy_ids[k].data))
            return true;
    return false;
}

uint64_t ns_uplink_deadline_ms(uint64_t now_mono_ms, int64_t now_wall_ms, int64_t received_at_ns,
                               uint64_t window_ms, uint64_t min_ms)
{
    uint64_t wait = window_ms;
    if (received_at_ns > 0) {
        int64_t age_ms = (now_wall_ms * 1000000 - received_at_ns) / 1000000;
        if (age_ms > 0)
            wait = (uint64_t)age_ms >= window_ms ? 0 : window_ms - (uint64_t)age_ms;
    }
    if (wait < min_ms)
        wait = min_ms < window_ms ? min_ms : window_ms;
    return now_mono_ms + wait;
}

/* Inserts u in deadline order (after every window with the same or an earlier deadline),
 * searching from the tail: a new window's deadline is almost always the latest, or within a
 * millisecond of it. */
static void window_insert(ns_t *ns, ns_up_t *u)
{
    ns_up_t *after = ns->win_tail;
    while (after != NULL && after->deadline_ms > u->deadline_ms)
        after = after->prev;
    u->prev = after;
    u->next = after != NULL ? after->next : ns->win_head;
    if (u->next != NULL)
        u->next->prev = u;
    else
        ns->win_tail = u;
    if (after != NULL)
        after->next = u;
    else
        ns->win_head = u;
}

void ns_uplink_handle(ns_t *ns, ns_dev_t *d, Lw__Msg__NsDev *m, ns_entry_t *e)
{
    uint64_t now = lw_clock_mono_ms();
    uint64_t h = ns_hash64(m->raw_payload.data, m->raw_payload.len);
    if (d->up != NULL && d->up->hash == h) {
        window_add(d->up, m, e);
        return;
    }
    if (d->up != NULL)
        ns_uplink_window_close(ns, d->up); /* another frame: the earlier one is complete */
    if (already_processed(d, m)) {
        ns_count_drop(ns, "already_processed");
        lw_msg_ns_dev_free(m);
        lw_bus_commitq_done(e, ns->gen);
        return;
    }
    if (now < d->cooldown_until_ms && h == d->last_hash) {
        ns_count_drop(ns, "duplicate");
        lw_msg_ns_dev_free(m);
        lw_bus_commitq_done(e, ns->gen);
        return;
    }
    ns_up_t *u = lw_calloc(1, sizeof *u);
    u->dev = d;
    u->first = m;
    u->hash = h;
    u->deadline_ms = ns_uplink_deadline_ms(now, lw_clock_wall_ms(), m->received_at, ns->dedup_ms,
                                           ns->dedup_min_ms);
    window_add(u, m, e);
    d->up = u;
    window_insert(ns, u);
    if (ns->win_head == u)
        ns_uplink_windows_timer(ns, u->deadline_ms - now);
}

void ns_uplink_windows_run(ns_t *ns)
{
    uint64_t now = lw_clock_mono_ms();
    while (ns->win_head != NULL && ns->win_head->deadline_ms <= now)
        ns_uplink_window_close(ns, ns->win_head);
    if (ns->win_head != NULL)
        ns_uplink_windows_timer(ns, ns->win_head->deadline_ms - now);
}

/* ---- results --------------------------------------------------------------------------- */

int64_t ns_now_ns(void)
{
    return lw_clock_wall_ms() * 1000000ll;
}

static void fill_ids(ns_dev_t *d, Lw__Msg__EndDeviceIdentifiers *ids,
                     Lw__Msg__ApplicationIdentifiers *app)
{
    lw__msg__end_device_identifiers__init(ids);
    lw__msg__application_identifiers__init(app);
    app->application_id = ns_dev_app(d);
    ids->device_id = ns_dev_dev(d);
    ids->application_ids = app;
    ids->dev_addr = d->st.session.valid ? d->st.session.dev_addr : 0;
    ids->dev_eui = d->dev_eui;
    ids->join_eui = d->join_eui;
}

int ns_publish_ns_up(ns_t *ns, ns_dev_t *d, Lw__Msg__NsUp *up)
{
    Lw__Msg__EndDeviceIdentifiers ids;
    Lw__Msg__ApplicationIdentifiers app;
    fill_ids(d, &ids, &app);
    if (up->end_device_ids == NULL)
        up->end_device_ids = &ids;
    Lw__Msg__Envelope env = LW__MSG__ENVELOPE__INIT;
    uint8_t id[LW_MSG_ID_LEN];
    if (up->envelope == NULL) {
        ns_random_id(id);
        env.id.data = id;
        env.id.len = LW_MSG_ID_LEN;
        env.tenant_id = ns_dev_tenant(d);
        env.schema_version = LW_MSG_SCHEMA_VERSION;
        up->envelope = &env;
    }
    if (up->received_at == 0)
        up->received_at = ns_now_ns();
    uint8_t stack[8192];
    size_t len = 0;
    int rc = lw_msg_ns_up_encode(up, stack, sizeof stack, &len);
    uint8_t *buf = stack;
    if (rc == LW_MSG_E_BUF) {
        buf = lw_malloc(len);
        rc = lw_msg_ns_up_encode(up, buf, len, &len);
    }
    if (rc == 0)
        rc = ns_publish(ns, "ns.up", d->key, buf, len);
    else
        lw_log(LW_LOG_ERROR, "ns", "ns.up not encoded", "device", d->key, "error",
               lw_msg_strerror(rc), NULL);
    if (buf != stack)
        free(buf);
    if (up->envelope == &env)
        up->envelope = NULL;
    if (up->end_device_ids == &ids)
        up->end_device_ids = NULL;
    return rc;
}

static void drop_event(ns_t *ns, ns_dev_t *d, const ns_up_t *u, const char *reason, json_t *extra)
{
    json_t *data = extra != NULL ? extra : json_object();
    json_object_set_new(data, "reason", json_string(reason));
    const char *cid =
        u->first->envelope->n_correlation_ids > 0 ? u->first->envelope->correlation_ids[0] : NULL;
    ns_event(ns, ns_dev_tenant(d), ns_dev_app(d), ns_dev_dev(d), "ns.up.data.drop", data, cid);
    ns_count_drop(ns, reason);
}

static bool key_id_eq(const ns_session_t *s, const ProtobufCBinaryData *id)
{
    return s->key_id_len == id->len && memcmp(s->key_id, id->data, id->len) == 0;
}

/* LoRaWAN 1.1 §4.4: the whole MIC (cmacS covers ConfFCnt, TxDr and TxCh), which the matcher
 * did not check. */
static bool mic_11_ok(ns_t *ns, ns_dev_t *d, const ns_session_t *s, const ns_up_t *u,
                      const lorawan_phy_t *phy)
{
    (void)ns;
    const uint8_t *raw = u->first->raw_payload.data;
    size_t len = u->first->raw_payload.len;
    uint32_t conf = 0;
    if (phy->u.data.fctrl.ack && d->st.awaiting_ack != NULL)
        conf = d->st.awaiting_ack->f_cnt;
    lorawan_key_t f, sk;
    memset(&f, 0, sizeof f);
    memset(&sk, 0, sizeof sk);
    bool ok = false;
    if (lorawan_key_init(&f, s->f_nwk_s_int_key) == 0 &&
        lorawan_key_init(&sk, s->s_nwk_s_int_key) == 0) {
        uint8_t mic[LORAWAN_MIC_LEN];
        if (lorawan_mic_data_up_11(&f, &sk, raw, len - LORAWAN_MIC_LEN, u->first->f_cnt, conf,
                                   d->st.radio.last_dr, d->st.radio.last_ch, mic) == 0)
            ok = lorawan_mic_check(mic, raw, len) == 0;
    }
    lorawan_key_destroy(&f);
    lorawan_key_destroy(&sk);
    return ok;
}

/* The uplink's data rate index and channel index in the device's frequency plan. */
void ns_uplink_radio(ns_dev_t *d, const Lw__Msg__TxSettings *ts)
{
    if (ts == NULL)
        return;
    d->st.radio.last_freq_hz = (uint32_t)ts->frequency;
    const lorawan_freqplan_t *fp = lorawan_freqplan_find(d->set->fp_id);
    const lorawan_band_t *band = fp != NULL ? lorawan_band_get(fp->band) : NULL;
    lorawan_rp_rev_t rev = LORAWAN_RP002_1_0_3;
    ns_phy_version_parse(d->set->phy_version, &rev);
    if (band != NULL && ts->data_rate != NULL &&
        ts->data_rate->modulation_case == LW__MSG__DATA_RATE__MODULATION_LORA) {
        lorawan_dr_t want;
        memset(&want, 0, sizeof want);
        want.modulation = LORAWAN_MOD_LORA;
        want.spreading_factor = (uint8_t)ts->data_rate->lora->spreading_factor;
        want.bandwidth_hz = ts->data_rate->lora->bandwidth;
        uint8_t dr = 0;
        if (lorawan_band_datarate_index(band, rev, true, &want, &dr) == 0)
            d->st.radio.last_dr = dr;
    }
    /* TxCh (LoRaWAN 1.1 §4.4) is the index in the device's channel list, as TTS keeps it
     * (ns_mac_channel_get): for fixed-plan bands every band channel (US915 FSB 2 is 8..15
     * and 65), for dynamic bands the defined channels in the plan's order. */
    if (band != NULL && !lorawan_band_dynamic_channels(band)) {
        unsigned n = lorawan_band_uplink_channel_count(band, rev);
        for (unsigned i = 0; i < n; i++) {
            lorawan_channel_t ch;
            if (lorawan_band_uplink_channel(band, rev, i, &ch) == 0 &&
                ch.freq_hz == ts->frequency) {
                d->st.radio.last_ch = (uint8_t)i;
                break;
            }
        }
    } else if (fp != NULL) {
        for (unsigned i = 0; i < fp->n_uplink; i++)
            if (fp->uplink[i].freq_hz == ts->frequency) {
                d->st.radio.last_ch = (uint8_t)i;
                break;
            }
    }
}

static void remember_gateway(ns_dev_t *d, const ns_up_t *u)
{
    const Lw__Msg__RxMetadata *rx = ns_best_rx(u->rx, u->nrx);
    if (rx == NULL || rx->gateway_ids == NULL)
        return;
    if (!d->set->supports_class_c) {
        free(d->st.last_gw);
        d->st.last_gw = NULL;
        return;
    }
    if (d->st.last_gw == NULL)
        d->st.last_gw = lw_malloc(sizeof *d->st.last_gw);
    ns_gw_t *g = d->st.last_gw;
    memset(g, 0, sizeof *g);
    g->valid = true;
    snprintf(g->gateway_id, sizeof g->gateway_id, "%s",
             rx->gateway_ids->gateway_id != NULL ? rx->gateway_ids->gateway_id : "");
    snprintf(g->tenant_id, sizeof g->tenant_id, "%s",
             rx->gateway_ids->tenant_id != NULL ? rx->gateway_ids->tenant_id : "");
    g->eui = rx->gateway_ids->eui;
    g->antenna = rx->antenna_index;
    if (rx->uplink_token.len <= NS_TOKEN_MAX) {
        if (rx->uplink_token.len > 0)
            memcpy(g->token, rx->uplink_token.data, rx->uplink_token.len);
        g->token_len = (uint8_t)rx->uplink_token.len;
    }
    g->snr = rx->snr;
    g->rssi = rx->rssi;
}

/* GPS epoch 1980-01-06 in Unix seconds, and the leap seconds GPS is ahead of UTC since
 * 2017 (DeviceTimeAns, LoRaWAN 1.0.3 §5.9). */
#define NS_GPS_EPOCH_UNIX_S 315964800ll
#define NS_GPS_LEAP_S       18ll

/* Runs the MAC layer over the uplink's commands (FOpts, or an FPort 0 payload), publishes
 * what it did as events. Returns whether a downlink is needed for MAC's sake. */
static bool mac_uplink(ns_t *ns, ns_dev_t *d, const ns_up_t *u, const lorawan_phy_t *phy,
                       bool confirmed, bool v11)
{
    ns_mac_state_t *mac = ns_dev_mac(ns, d);
    ns_mac_ctx_t ctx;
    lorawan_rp_rev_t rev;
    ns_mac_version_t ver;
    if (mac == NULL || ns_dev_mac_ctx(d, &ctx, &rev, &ver) != 0)
        return false;
    const ns_session_t *s = &d->st.session;
    const Lw__Msg__NsDev *m = u->first;
    uint8_t plain[LORAWAN_PHY_MAX_LEN];
    const uint8_t *cmds = NULL;
    size_t n = 0;
    lorawan_key_t k;
    memset(&k, 0, sizeof k);
    if (phy->u.data.fopts_len > 0) {
        n = phy->u.data.fopts_len;
        cmds = phy->u.data.fopts;
        if (v11) {
            /* LoRaWAN 1.1 §4.3.1.6: FOpts are encrypted with NwkSEncKey. */
            if (lorawan_key_init(&k, s->nwk_s_enc_key) != 0 ||
                lorawan_fopts_encrypt(&k, false, false, s->dev_addr, m->f_cnt, phy->u.data.fopts, n,
                                      plain) != 0)
                n = 0;
            cmds = plain;
        }
    } else if (phy->u.data.has_fport && phy->u.data.fport == 0 && phy->u.data.frm_payload_len > 0) {
        n = phy->u.data.frm_payload_len;
        if (lorawan_key_init(&k, v11 ? s->nwk_s_enc_key : s->f_nwk_s_int_key) == 0) {
            lorawan_payload_encrypt(&k, false, s->dev_addr, m->f_cnt, phy->u.data.frm_payload, n,
                                    plain);
            cmds = plain;
        } else {
            n = 0;
        }
    }
    lorawan_key_destroy(&k);
    ns_mac_uplink_t mu;
    memset(&mu, 0, sizeof mu);
    mu.f_cnt = m->f_cnt;
    mu.data_rate_index = d->st.radio.last_dr;
    mu.frequency = d->st.radio.last_freq_hz;
    mu.confirmed = confirmed;
    mu.adr = phy->u.data.fctrl.adr;
    mu.adr_ack_req = phy->u.data.fctrl.adr_ack_req;
    const Lw__Msg__RxMetadata *best = ns_best_rx(u->rx, u->nrx);
    mu.max_snr = best != NULL ? best->snr : 0;
    /* Distinct gateways (LinkCheckAns GwCnt). */
    for (size_t i = 0; i < u->nrx; i++) {
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            if (u->rx[i]->gateway_ids != NULL && u->rx[j]->gateway_ids != NULL &&
                u->rx[i]->gateway_ids->eui == u->rx[j]->gateway_ids->eui &&
                strcmp(u->rx[i]->gateway_ids->gateway_id ? u->rx[i]->gateway_ids->gateway_id : "",
                       u->rx[j]->gateway_ids->gateway_id ? u->rx[j]->gateway_ids->gateway_id
                                                         : "") == 0)
                seen = true;
        if (!seen)
            mu.gateway_count++;
    }
    int64_t rx_ns = m->received_at != 0 ? m->received_at : ns_now_ns();
    mu.received_at_s = rx_ns / 1000000000ll;
    mu.has_gps_time = true;
    mu.gps_time_256ths =
        (uint64_t)((rx_ns - (NS_GPS_EPOCH_UNIX_S - NS_GPS_LEAP_S) * 1000000000ll) / 1000000ll) *
        256u / 1000u;
    mu.mac = cmds;
    mu.mac_len = n;
    ns_mac_up_result_t res;
    memset(&res, 0, sizeof res);
    ns_mac_handle_uplink(mac, &ctx, &mu, &res);
    for (unsigned i = 0; i < res.n_events; i++) {
        const char *name = NULL;
        lorawan_mac_cmd_info(res.events[i].cmd.cid, res.events[i].cmd.uplink, &name, NULL, NULL,
                             NULL);
        ns_event(ns, ns_dev_tenant(d), ns_dev_app(d), ns_dev_dev(d), res.events[i].name,
                 json_pack("{ss}", "command", name != NULL ? name : "unknown"), NULL);
    }
    if (res.decode_error != 0)
        ns_event(ns, ns_dev_tenant(d), ns_dev_app(d), ns_dev_dev(d), "ns.mac.decode.fail",
                 json_pack("{ss sI}", "error", lorawan_strerror(res.decode_error), "offset",
                           (json_int_t)res.decode_offset),
                 NULL);
    if (res.reset) {
        /* ResetInd (1.1 ABP): the device starts its counters again. */
        d->st.session.has_f_cnt_up = true;
        d->st.session.has_n_f_cnt_down = d->st.session.has_a_f_cnt_down = false;
        d->st.session.last_n_f_cnt_down = d->st.session.last_a_f_cnt_down = 0;
    }
    return res.downlink_needed;
}

static void process_data(ns_t *ns, ns_dev_t *d, ns_up_t *u, const lorawan_phy_t *phy)
{
    Lw__Msg__NsDev *m = u->first;
    bool pending = m->pending_session;
    ns_session_t *s = pending ? d->st.pending : &d->st.session;
    if (s == NULL) {
        drop_event(ns, d, u, "session_changed", NULL);
        return;
    }
    if (!s->valid || !key_id_eq(s, &m->session_key_id) || s->dev_addr != phy->u.data.dev_addr) {
        /* Matched against a session the device no longer has (a join, an API write). */
        drop_event(ns, d, u, "session_changed", NULL);
        return;
    }
    unsigned minor = 0;
    ns_version_parse(d->set->lorawan_version, &minor, NULL);
    ns_uplink_radio(d, m->settings);
    if (minor >= 1 && !mic_11_ok(ns, d, s, u, phy)) {
        drop_event(ns, d, u, "mic_mismatch", NULL);
        return;
    }
    bool s32 = d->set->has_supports_32 ? d->set->supports_32 : true;
    bool resets = d->set->has_resets_f_cnt && d->set->resets_f_cnt;
    ns_fcnt_verdict_t v = ns_fcnt_check(s->has_f_cnt_up, s->last_f_cnt_up, m->f_cnt, s32, resets);
    if (v == NS_FCNT_REPLAY) {
        drop_event(ns, d, u, "f_cnt_replay",
                   json_pack("{sI sI}", "f_cnt", (json_int_t)m->f_cnt, "last_f_cnt_up",
                             (json_int_t)s->last_f_cnt_up));
        return;
    }
    if (pending) {
        /* The first uplink of a join's session confirms it (LoRaWAN 1.1 §6.2.4 / TTS for
         * 1.0.x as well): the old session goes, and its queue (items the AS sent for the
         * new one already stay). */
        d->st.session = *d->st.pending;
        ns_state_clear_pending(&d->st);
        s = &d->st.session;
        ns_downlink_session_changed(ns, d); /* the old session's queue handed back */
        free(d->st.awaiting_ack);
        d->st.awaiting_ack = NULL;
        ns_dev_mac_drop(ns, d);
        free(d->st.mac);
        d->st.mac = d->st.pending_mac != NULL ? ns_mac_stored_put(NULL, d->st.pending_mac) : NULL;
        free(d->st.pending_mac);
        d->st.pending_mac = NULL;
        ns_after_durable_sessions(ns, d);
        lw_log(LW_LOG_INFO, "ns", "session activated", "device", d->key, NULL);
    }
    s->last_f_cnt_up = m->f_cnt;
    s->has_f_cnt_up = true;
    d->st.last_seen_at_ns = ns_now_ns();
    for (size_t i = 0; i < u->ncopies; i++) {
        const Lw__Msg__NsDev *c = u->copies[i];
        if (c->envelope->id.len == LW_MSG_ID_LEN)
            ns_state_recent_add(&d->st, c->envelope->id.data);
        for (size_t k = 0; k < c->n_copy_ids; k++) /* copies the matcher merged in */
            if (c->copy_ids[k].len == LW_MSG_ID_LEN)
                ns_state_recent_add(&d->st, c->copy_ids[k].data);
    }
    remember_gateway(d, u);

    bool confirmed = phy->mtype == LORAWAN_MTYPE_CONFIRMED_DATA_UP;
    bool mac_down = mac_uplink(ns, d, u, phy, confirmed, minor >= 1);
    ns_downlink_ack(ns, d, phy->u.data.fctrl.ack);

    /* lw.ns.up: the frame's payload still encrypted, every gateway's metadata. Its id is the
     * first copy's, so a reprocessing after a crash republishes the same id. */
    Lw__Msg__UplinkMessage um = LW__MSG__UPLINK_MESSAGE__INIT;
    um.session_key_id = m->session_key_id;
    um.f_port = phy->u.data.has_fport ? phy->u.data.fport : 0;
    um.f_cnt = m->f_cnt;
    if (um.f_port != 0) { /* FPort 0 carries MAC commands: nothing for the application */
        um.frm_payload.data = (uint8_t *)phy->u.data.frm_payload;
        um.frm_payload.len = phy->u.data.frm_payload_len;
    }
    um.rx_metadata = u->rx;
    um.n_rx_metadata = u->nrx;
    um.settings = m->settings;
    um.received_at = m->received_at;
    um.confirmed = confirmed;
    if (m->settings != NULL && m->settings->data_rate != NULL &&
        m->settings->data_rate->modulation_case == LW__MSG__DATA_RATE__MODULATION_LORA) {
        const Lw__Msg__LoRaDataRate *lr = m->settings->data_rate->lora;
        um.consumed_airtime =
            (int64_t)lorawan_airtime_lora_us(m->raw_payload.len, (uint8_t)lr->spreading_factor,
                                             lr->bandwidth, 5, 8, true, true, LORAWAN_LDRO_AUTO) *
            1000ll;
    }
    Lw__Msg__NetworkIdentifiers nid = LW__MSG__NETWORK_IDENTIFIERS__INIT;
    nid.net_id = ns->net_id;
    nid.tenant_id = ns_dev_tenant(d);
    nid.cluster_id = ns->cluster_id;
    um.network_ids = &nid;
    Lw__Msg__NsUp up = LW__MSG__NS_UP__INIT;
    Lw__Msg__Envelope env = LW__MSG__ENVELOPE__INIT;
    env.id = m->envelope->id;
    env.tenant_id = ns_dev_tenant(d);
    env.correlation_ids = m->envelope->correlation_ids;
    env.n_correlation_ids = m->envelope->n_correlation_ids;
    env.schema_version = LW_MSG_SCHEMA_VERSION;
    up.envelope = &env;
    up.received_at = ns_now_ns();
    up.up_case = LW__MSG__NS_UP__UP_UPLINK_MESSAGE;
    up.uplink_message = &um;
    ns_publish_ns_up(ns, d, &up);
    ns_count(ns, ns->m_up, "processed");
    /* Metered: one accepted frame, whatever the number of gateway copies. */
    tn_usage_count(ns->usage, ns_dev_tenant(d), TN_USAGE_UPLINK, ns_dev_app(d), ns_dev_dev(d), 1);

    ns_downlink_class_a(ns, d, u, confirmed, mac_down);
}

/* Processes the window's frame and frees the window (a join keeps it until the JS answers). */
void ns_uplink_window_close(ns_t *ns, ns_up_t *u)
{
    window_unlink(ns, u);
    ns_dev_t *d = u->dev;
    d->up = NULL;
    lorawan_phy_t phy;
    Lw__Msg__NsDev *m = u->first;
    d->cooldown_until_ms = lw_clock_mono_ms() + ns->cooldown_ms;
    d->last_hash = u->hash;
    if (lorawan_phy_decode(m->raw_payload.data, m->raw_payload.len, &phy) != 0) {
        ns_count_drop(ns, "malformed_frame");
    } else if (phy.mtype == LORAWAN_MTYPE_JOIN_REQUEST) {
        if (!d->set->supports_join) {
            ns_event(ns, ns_dev_tenant(d), ns_dev_app(d), ns_dev_dev(d), "ns.up.join.drop",
                     json_pack("{ss}", "reason", "device_does_not_support_join"), NULL);
            ns_count_drop(ns, "join_not_supported");
        } else {
            ns_join_request(ns, d, u); /* owns u now */
            return;
        }
    } else {
        process_data(ns, d, u, &phy);
    }
    ns_uplink_window_finish(ns, u);
}

void ns_uplink_window_finish(ns_t *ns, ns_up_t *u)
{
    ns_dev_mark_dirty(ns, u->dev);
    window_done(ns, u);
    window_free(u);
}
