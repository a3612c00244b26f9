/* Downlinks: lw.gs.down (a broadcast: every GS process sees every GsDown and serves the
 * gateways it holds), validation, the scheduler (schedule_private.h), the hand-over to the
 * front-end (at once, or just before the transmission for schedule-late gateways), and the
 * answer on lw.gs.txack. EVERY GsDown for a gateway this process holds is answered exactly
 * once: SUCCESS after the gateway's TX ack (or after sending, for a front-end without acks),
 * else the result with a named reason. A GsDown for a gateway this process does not hold is
 * answered gateway_not_connected when gs.downlink.answer-not-connected is on (one GS
 * process), else ignored and counted (another process holds it). */
#include <stdlib.h>
#include <string.h>

#include "cluster/uid.h"
#include "cluster/log.h"
#include "cluster/mem.h"

#include "gs/core_private.h"

#define GS_CIDS_MAX 4

typedef enum { P_WAIT_HANDOVER, P_WAIT_ACK, P_DONE } p_state_t;

struct gs_pending {
    gs_pending_t *next;
    gs_gw_t *gw; /* NULL once the gateway is gone */
    gs_t *gs;
    p_state_t state;
    uint64_t tx_id;
    uint32_t sched_id;
    uv_timer_t timer; /* hand-over (schedule late), then the TX ack timeout */
    bool timer_active;
    int64_t sent_ns;

    /* what the answer needs */
    char tenant_id[TN_ID_MAX + 1]; /* the device's (envelope) */
    uint8_t downlink_id[16];
    size_t downlink_id_len;
    char app_id[TN_ID_MAX + 1], dev_id[TN_ID_MAX + 1];
    uint64_t dev_eui, join_eui;
    uint32_t dev_addr;
    bool has_dev;
    char cids[GS_CIDS_MAX][64];
    size_t ncids;
    uint32_t rx_window;

    /* what the front-end is given */
    gs_tx_t tx;
    uint8_t payload[256];
};

/* ---- answers ---------------------------------------------------------------------------- */

typedef struct gs_answer {
    int result;             /* TxAckResult */
    const char *error_name; /* "" success */
    const char *raw_error;
    int64_t raw_code;
    int64_t transmitted_at;
    uint32_t rx_window, timestamp;
} gs_answer_t;

/* What a GsTxAck needs of the GsDown it answers (a pending one, or one refused at once). */
typedef struct gs_down_ids {
    const char *tenant_id;
    const uint8_t *downlink_id;
    size_t downlink_id_len;
    const char *gw_tenant_id, *gateway_id;
    uint64_t gw_eui;
    bool has_dev;
    const char *app_id, *dev_id;
    uint64_t dev_eui, join_eui;
    uint32_t dev_addr;
    char *const *cids;
    size_t ncids;
} gs_down_ids_t;

static const char *result_name(int result)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&lw__msg__tx_ack_result__descriptor, result);
    return v != NULL ? v->name : "UNKNOWN_ERROR";
}

static void answer(gs_t *gs, const gs_down_ids_t *ids, const gs_answer_t *a)
{
    uint8_t id[LW_MSG_ID_LEN];
    lw_uid(id);
    Lw__Msg__Envelope env = LW__MSG__ENVELOPE__INIT;
    env.id = (ProtobufCBinaryData){sizeof id, id};
    env.tenant_id = (char *)ids->tenant_id;
    env.n_correlation_ids = ids->ncids;
    env.correlation_ids = (char **)ids->cids;
    env.schema_version = LW_MSG_SCHEMA_VERSION;
    Lw__Msg__GatewayIdentifiers gids = LW__MSG__GATEWAY_IDENTIFIERS__INIT;
    gids.gateway_id = (char *)ids->gateway_id;
    gids.tenant_id = (char *)ids->gw_tenant_id;
    gids.eui = ids->gw_eui;
    Lw__Msg__ApplicationIdentifiers aids = LW__MSG__APPLICATION_IDENTIFIERS__INIT;
    Lw__Msg__EndDeviceIdentifiers dids = LW__MSG__END_DEVICE_IDENTIFIERS__INIT;
    Lw__Msg__GsTxAck ack = LW__MSG__GS_TX_ACK__INIT;
    ack.envelope = &env;
    ack.downlink_id = (ProtobufCBinaryData){ids->downlink_id_len, (uint8_t *)ids->downlink_id};
    ack.gateway_ids = &gids;
    char key[3 * TN_ID_MAX + 3];
    if (ids->has_dev) {
        aids.application_id = (char *)ids->app_id;
        dids.application_ids = &aids;
        dids.device_id = (char *)ids->dev_id;
        dids.dev_eui = ids->dev_eui;
        dids.join_eui = ids->join_eui;
        dids.dev_addr = ids->dev_addr;
        ack.end_device_ids = &dids;
        snprintf(key, sizeof key, "%s/%s/%s", ids->tenant_id, ids->app_id, ids->dev_id);
    } else {
        snprintf(key, sizeof key, "%s", ids->tenant_id);
    }
    ack.result = (Lw__Msg__TxAckResult)a->result;
    ack.error_name = (char *)(a->error_name != NULL ? a->error_name : "");
    ack.raw_error = (char *)(a->raw_error != NULL ? a->raw_error : "");
    ack.raw_code = a->raw_code;
    ack.transmitted_at = a->transmitted_at;
    ack.rx_window = a->rx_window;
    ack.timestamp = a->timestamp;
    size_t n = 0;
    lw_err_t e;
    lw_err_clear(&e);
    if (lw_msg_gs_txack_encode(&ack, gs->buf, sizeof gs->buf, &n) != 0 ||
        lw_bus_publish(gs->bus, "gs.txack", key, strlen(key), gs->buf, n, &e) != 0) {
        lw_log(LW_LOG_ERROR, "gs", "tx ack not published", "tenant", ids->tenant_id, "error",
               e.message[0] != '\0' ? e.message : "encode", NULL);
    }
    const char *rname = a->result == LW__MSG__TX_ACK_RESULT__SUCCESS        ? "success"
                        : a->error_name != NULL && a->error_name[0] != '\0' ? a->error_name
                                                                            : "tx_failed";
    lw_metric_add(gs->m_txack, (const char *const[]){rname, NULL}, 1);

    gs_gw_info_t info;
    memset(&info, 0, sizeof info);
    snprintf(info.tenant_id, sizeof info.tenant_id, "%s", ids->gw_tenant_id);
    snprintf(info.gateway_id, sizeof info.gateway_id, "%s", ids->gateway_id);
    info.eui = ids->gw_eui;
    char hex[33] = "";
    for (size_t i = 0; i < ids->downlink_id_len && i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", ids->downlink_id[i]);
    json_t *data;
    if (a->result == LW__MSG__TX_ACK_RESULT__SUCCESS)
        data = json_pack("{ss ss ss}", "@type", "type.googleapis.com/ttnpb.TxAcknowledgment",
                         "result", "SUCCESS", "downlink_id", hex);
    else
        data = json_pack("{ss ss ss ss ss}", "@type", "type.googleapis.com/ttnpb.TxAcknowledgment",
                         "result", result_name(a->result), "error", rname, "raw_error",
                         a->raw_error != NULL ? a->raw_error : "", "downlink_id", hex);
    gs_event_gateway(gs, NULL, &info,
                     a->result == LW__MSG__TX_ACK_RESULT__SUCCESS ? "gs.down.tx.success"
                                                                  : "gs.down.tx.fail",
                     data, ids->ncids > 0 ? ids->cids[0] : NULL);
}

static void pending_ids(const gs_pending_t *p, gs_down_ids_t *ids, char **cids)
{
    memset(ids, 0, sizeof *ids);
    ids->tenant_id = p->tenant_id;
    ids->downlink_id = p->downlink_id;
    ids->downlink_id_len = p->downlink_id_len;
    ids->gw_tenant_id = p->gw != NULL ? p->gw->info.tenant_id : "";
    ids->gateway_id = p->gw != NULL ? p->gw->info.gateway_id : "";
    ids->gw_eui = p->gw != NULL ? p->gw->info.eui : 0;
    ids->has_dev = p->has_dev;
    ids->app_id = p->app_id;
    ids->dev_id = p->dev_id;
    ids->dev_eui = p->dev_eui;
    ids->join_eui = p->join_eui;
    ids->dev_addr = p->dev_addr;
    for (size_t i = 0; i < p->ncids; i++)
        cids[i] = (char *)p->cids[i];
    ids->cids = cids;
    ids->ncids = p->ncids;
}

static void pending_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Unlinks p from its gateway and frees it (after its timer's close). */
static void pending_free(gs_pending_t *p)
{
    if (p->gw != NULL) {
        for (gs_pending_t **q = &p->gw->pending; *q != NULL; q = &(*q)->next) {
            if (*q == p) {
                *q = p->next;
                p->gw->npending--;
                break;
            }
        }
    }
    p->state = P_DONE;
    uv_close((uv_handle_t *)&p->timer, pending_closed);
}

/* Answers p and frees it. */
static void pending_answer(gs_pending_t *p, const gs_answer_t *a)
{
    gs_down_ids_t ids;
    char *cids[GS_CIDS_MAX];
    pending_ids(p, &ids, cids);
    answer(p->gs, &ids, a);
    pending_free(p);
}

static void pending_fail(gs_pending_t *p, int result, const char *error_name)
{
    gs_answer_t a = {.result = result,
                     .error_name = error_name,
                     .rx_window = p->rx_window,
                     .timestamp = p->tx.timestamp};
    pending_answer(p, &a);
}

/* ---- sending ---------------------------------------------------------------------------- */

static void ack_timeout(uv_timer_t *t)
{
    gs_pending_t *p = t->data;
    if (p->gw != NULL && p->gw->sched_ok)
        gs_sched_txack(&p->gw->sched, p->sched_id, true); /* it may have gone out: keep it */
    pending_fail(p, LW__MSG__TX_ACK_RESULT__UNKNOWN_ERROR, "tx_ack_timeout");
}

uint64_t gs_tx_ack_wait_ms(uint64_t timeout_ms, int64_t start_us, int64_t now_us)
{
    if (start_us <= now_us)
        return timeout_ms;
    return timeout_ms + (uint64_t)((start_us - now_us + 999) / 1000);
}

/* Hands p to the front-end now. */
static void pending_send(gs_pending_t *p)
{
    gs_gw_t *gw = p->gw;
    gs_t *gs = p->gs;
    if (gw->sched_ok)
        gs_sched_handover(&gw->sched, p->sched_id);
    lw_err_t e;
    lw_err_clear(&e);
    p->sent_ns = gs_now_ns();
    int rc = gw->ops->send_down(gw->conn, &p->tx, &e);
    lw_metric_add(gs->m_down,
                  (const char *const[]){gw->protocol, rc < 0 ? lw_err_name(&e) : "sent", NULL}, 1);
    if (rc < 0) {
        if (gw->sched_ok)
            gs_sched_release(&gw->sched, p->sched_id);
        pending_fail(p, LW__MSG__TX_ACK_RESULT__SCHEDULE_FAILED,
                     e.def != NULL ? e.def->name : "internal");
        return;
    }
    char freq[24];
    snprintf(freq, sizeof freq, "%llu", (unsigned long long)p->tx.frequency_hz);
    json_t *data =
        json_pack("{ss s{ss si si si}}", "@type", "type.googleapis.com/ttnpb.DownlinkMessage",
                  "scheduled", "frequency", freq, "timestamp", (json_int_t)p->tx.timestamp,
                  "rx_window", (json_int_t)p->rx_window, "priority", (json_int_t)p->tx.priority);
    gs_event_gateway(gs, gw, &gw->info, "gs.down.send", data, p->ncids > 0 ? p->cids[0] : NULL);
    if (rc == GS_SENT_NO_ACK) {
        gs_answer_t a = {.result = LW__MSG__TX_ACK_RESULT__SUCCESS,
                         .transmitted_at = p->sent_ns,
                         .rx_window = p->rx_window,
                         .timestamp = p->tx.timestamp};
        pending_answer(p, &a);
        return;
    }
    p->state = P_WAIT_ACK;
    uint64_t wait_ms = gs->tx_ack_timeout_ms;
    int64_t now_us = 0;
    if (!p->tx.immediate && gs_gw_now_us(gw, p->sent_ns, &now_us))
        wait_ms = gs_tx_ack_wait_ms(wait_ms, (int64_t)p->tx.time_us, now_us);
    uv_timer_start(&p->timer, ack_timeout, wait_ms, 0);
}

static void handover_due(uv_timer_t *t)
{
    gs_pending_t *p = t->data;
    pending_send(p);
}

/* ---- TX acks from the front-end -------------------------------------------------------- */

static int txack_apply(gs_gw_t *gw, gs_pending_t *p, int result, const char *raw_error,
                       int64_t raw_code)
{
    gs_t *gs = gw->gs;
    uv_timer_stop(&p->timer);
    int64_t now = gs_now_ns();
    gw->tx_ack_count++;
    gw->last_tx_ack_received_at_ns = now;
    bool ok = result == LW__MSG__TX_ACK_RESULT__SUCCESS;
    if (gw->sched_ok)
        gs_sched_txack(&gw->sched, p->sched_id, ok);
    static const char *const names[] = {"",          "unknown_error",    "too_late",
                                        "too_early", "collision_packet", "collision_beacon",
                                        "tx_freq",   "tx_power",         "gps_unlocked"};
    gs_answer_t a = {.result = result,
                     .error_name = ok                           ? ""
                                   : result >= 1 && result <= 8 ? names[result]
                                                                : "tx_failed",
                     .raw_error = raw_error,
                     .raw_code = raw_code,
                     .transmitted_at = ok ? p->sent_ns : 0,
                     .rx_window = p->rx_window,
                     .timestamp = p->tx.timestamp};
    (void)gs;
    pending_answer(p, &a);
    return 0;
}

int gs_gw_txack(gs_gw_t *gw, uint64_t tx_id, int result, const char *raw_error, int64_t raw_code)
{
    for (gs_pending_t *p = gw->pending; p != NULL; p = p->next)
        if (p->tx_id == tx_id && p->state == P_WAIT_ACK)
            return txack_apply(gw, p, result, raw_error, raw_code);
    gs_count_drop(gw->gs, gw->protocol, "tx_ack_unknown");
    return -1;
}

int gs_gw_txack_oldest(gs_gw_t *gw, int result, const char *raw_error, int64_t raw_code)
{
    gs_pending_t *oldest = NULL;
    for (gs_pending_t *p = gw->pending; p != NULL; p = p->next)
        if (p->state == P_WAIT_ACK)
            oldest = p; /* pending is newest first */
    if (oldest == NULL) {
        gs_count_drop(gw->gs, gw->protocol, "tx_ack_unknown");
        return -1;
    }
    return txack_apply(gw, oldest, result, raw_error, raw_code);
}

void gs_down_gateway_gone(gs_gw_t *gw, const lw_err_def_t *def)
{
    while (gw->pending != NULL) {
        gs_pending_t *p = gw->pending;
        uv_timer_stop(&p->timer);
        /* Handed over and not acked: it may have gone out; the result is not known. */
        pending_fail(p,
                     p->state == P_WAIT_ACK ? LW__MSG__TX_ACK_RESULT__UNKNOWN_ERROR
                                            : LW__MSG__TX_ACK_RESULT__SCHEDULE_FAILED,
                     def->name);
        /* pending_fail unlinked p from gw->pending */
    }
}

void gs_down_clock_reset(gs_gw_t *gw)
{
    gs_pending_t *p = gw->pending;
    while (p != NULL) {
        gs_pending_t *next = p->next;
        if (p->state == P_WAIT_HANDOVER) {
            uv_timer_stop(&p->timer);
            pending_fail(p, LW__MSG__TX_ACK_RESULT__SCHEDULE_FAILED, "concentrator_reset");
        }
        p = next;
    }
    gs_down_gateway_init(gw);
}

void gs_down_gateway_init(gs_gw_t *gw)
{
    const lorawan_freqplan_t *plan = lorawan_freqplan_find(gw->info.frequency_plan_id);
    gs_sched_config_t cfg = {.plan = plan,
                             .enforce_duty_cycle = gw->info.enforce_duty_cycle,
                             .schedule_late_us =
                                 (uint32_t)(gw->gs->timeouts.schedule_late_ms * 1000)};
    gw->sched_ok = plan != NULL && gs_sched_init(&gw->sched, &cfg) == GS_SCHED_OK;
    if (!gw->sched_ok)
        lw_log(LW_LOG_WARN, "gs", "gateway has no usable frequency plan: downlinks refused",
               "tenant", gw->info.tenant_id, "gateway", gw->info.gateway_id, "frequency_plan_id",
               gw->info.frequency_plan_id, NULL);
}

/* ---- lw.gs.down ------------------------------------------------------------------------- */

static const char *sched_error_name(int reason)
{
    switch (reason) {
    case GS_SCHED_INVALID:
    case GS_SCHED_TOO_LONG:
        return "invalid_downlink";
    default:
        return gs_sched_reason_name(reason);
    }
}

/* A window of a GsDown into the scheduler's terms; false when it is not one. */
static bool window_of(const Lw__Msg__TxWindow *w, gs_sched_window_t *out, const char **why)
{
    memset(out, 0, sizeof *out);
    if (w == NULL)
        return true; /* absent */
    const Lw__Msg__DataRate *dr = w->data_rate;
    if (w->frequency == 0 || w->frequency > UINT32_MAX) {
        *why = "window frequency";
        return false;
    }
    if (dr == NULL) {
        *why = "window data rate";
        return false;
    }
    if (dr->modulation_case == LW__MSG__DATA_RATE__MODULATION_LORA && dr->lora != NULL) {
        const char *cr = dr->lora->coding_rate;
        out->dr.modulation = LORAWAN_MOD_LORA;
        out->dr.sf = (uint8_t)dr->lora->spreading_factor;
        out->dr.bw_hz = dr->lora->bandwidth;
        out->dr.cr_den = cr != NULL && strlen(cr) == 3 && cr[0] == '4' && cr[1] == '/' &&
                                 cr[2] >= '5' && cr[2] <= '8'
                             ? (uint8_t)(cr[2] - '0')
                             : 5;
        if (dr->lora->spreading_factor < 5 || dr->lora->spreading_factor > 12 ||
            dr->lora->bandwidth == 0) {
            *why = "LoRa data rate";
            return false;
        }
    } else if (dr->modulation_case == LW__MSG__DATA_RATE__MODULATION_FSK && dr->fsk != NULL &&
               dr->fsk->bit_rate > 0) {
        out->dr.modulation = LORAWAN_MOD_FSK;
        out->dr.bit_rate_bps = dr->fsk->bit_rate;
    } else {
        *why = "window modulation";
        return false;
    }
    out->present = true;
    out->freq_hz = (uint32_t)w->frequency;
    return true;
}

static void tx_dr_of(const gs_sched_window_t *w, const Lw__Msg__TxWindow *src, gs_tx_t *tx)
{
    memset(&tx->dr, 0, sizeof tx->dr);
    if (w->dr.modulation == LORAWAN_MOD_FSK) {
        tx->dr.mod = GS_MOD_FSK;
        tx->dr.fsk_bitrate = w->dr.bit_rate_bps;
    } else {
        tx->dr.mod = GS_MOD_LORA;
        tx->dr.sf = w->dr.sf;
        tx->dr.bw_hz = w->dr.bw_hz;
        snprintf(tx->dr.codr, sizeof tx->dr.codr, "4/%u", w->dr.cr_den != 0 ? w->dr.cr_den : 5);
    }
    tx->dr_index = src != NULL ? src->data_rate_index : 0;
}

static void refuse(gs_t *gs, const Lw__Msg__GsDown *d, const gs_gw_info_t *gw_info,
                   const char *error_name)
{
    gs_down_ids_t ids;
    memset(&ids, 0, sizeof ids);
    ids.tenant_id = d->envelope->tenant_id;
    ids.downlink_id = d->downlink_id.data;
    ids.downlink_id_len = d->downlink_id.len > 16 ? 16 : d->downlink_id.len;
    ids.gw_tenant_id = gw_info->tenant_id;
    ids.gateway_id = gw_info->gateway_id;
    ids.gw_eui = gw_info->eui;
    const Lw__Msg__EndDeviceIdentifiers *dev = d->end_device_ids;
    if (dev != NULL && dev->application_ids != NULL) {
        ids.has_dev = true;
        ids.app_id = dev->application_ids->application_id;
        ids.dev_id = dev->device_id;
        ids.dev_eui = dev->dev_eui;
        ids.join_eui = dev->join_eui;
        ids.dev_addr = dev->dev_addr;
    }
    ids.cids = d->envelope->correlation_ids;
    ids.ncids = d->envelope->n_correlation_ids;
    gs_answer_t a = {.result = LW__MSG__TX_ACK_RESULT__SCHEDULE_FAILED, .error_name = error_name};
    answer(gs, &ids, &a);
}

static void down_handle(gs_t *gs, gs_gw_t *gw, const Lw__Msg__GsDown *d)
{
    int64_t now_ns = gs_now_ns();
    gw->downlink_count++;
    gw->last_downlink_received_at_ns = now_ns;
    const char *why = NULL;
    gs_sched_window_t rx1, rx2;
    gs_token_t tok;
    bool has_tok = gs_token_decode(d->uplink_token.data, d->uplink_token.len, &tok) == 0;
    if (d->raw_payload.len == 0 || d->raw_payload.len > 255)
        why = "raw_payload length";
    else if (d->downlink_id.len == 0 || d->downlink_id.len > 16)
        why = "downlink_id";
    else if (!window_of(d->rx1, &rx1, &why) || !window_of(d->rx2, &rx2, &why))
        ;
    else if (d->timing == LW__MSG__TX_TIMING__TIMESTAMP && !rx1.present && !rx2.present)
        why = "no RX window";
    else if (d->timing != LW__MSG__TX_TIMING__TIMESTAMP && !rx2.present)
        why = "no rx2 window";
    else if (d->timing == LW__MSG__TX_TIMING__TIMESTAMP && d->uplink_token.len > 0 &&
             (!has_tok || tok.eui != gw->info.eui))
        why = "uplink_token is not of this gateway";
    else if (d->rx1_delay > 15)
        why = "rx1_delay";
    else if (!gw->sched_ok)
        why = "gateway has no known frequency plan";
    if (why != NULL) {
        refuse(gs, d, &gw->info, "invalid_downlink");
        lw_log(LW_LOG_DEBUG, "gs", "downlink refused", "gateway", gw->uid, "reason", why, NULL);
        return;
    }

    int64_t now_us = 0;
    bool clock = gs_gw_now_us(gw, now_ns, &now_us);
    if (!clock && d->timing == LW__MSG__TX_TIMING__TIMESTAMP) {
        /* No uplink of this connection yet: its RX windows cannot be timed. */
        refuse(gs, d, &gw->info, "too_late");
        return;
    }
    gs_pending_t *p = lw_calloc(1, sizeof *p);
    p->gs = gs;
    p->gw = gw;
    p->state = P_WAIT_HANDOVER;
    p->tx_id = ++gs->next_tx_id;
    snprintf(p->tenant_id, sizeof p->tenant_id, "%s", d->envelope->tenant_id);
    memcpy(p->downlink_id, d->downlink_id.data, d->downlink_id.len);
    p->downlink_id_len = d->downlink_id.len;
    const Lw__Msg__EndDeviceIdentifiers *dev = d->end_device_ids;
    if (dev != NULL && dev->application_ids != NULL) {
        p->has_dev = true;
        snprintf(p->app_id, sizeof p->app_id, "%s", dev->application_ids->application_id);
        snprintf(p->dev_id, sizeof p->dev_id, "%s", dev->device_id);
        p->dev_eui = dev->dev_eui;
        p->join_eui = dev->join_eui;
        p->dev_addr = dev->dev_addr;
    }
    for (size_t i = 0; i < d->envelope->n_correlation_ids && p->ncids < GS_CIDS_MAX; i++)
        snprintf(p->cids[p->ncids++], sizeof p->cids[0], "%s", d->envelope->correlation_ids[i]);
    uv_timer_init(gs->loop, &p->timer);
    p->timer.data = p;

    memcpy(p->payload, d->raw_payload.data, d->raw_payload.len);
    gs_tx_t *tx = &p->tx;
    tx->id = p->tx_id;
    tx->payload = p->payload;
    tx->payload_len = d->raw_payload.len;
    tx->invert_polarization = true; /* downlinks to devices; invert_polarization is a
                                     * proto3 bool whose default would be wrong */
    tx->antenna_index = has_tok ? tok.antenna_index : d->antenna_index;
    tx->fe = has_tok ? tok.fe : (gs_fe_ctx_t){0, 0};
    tx->dev_eui = dev != NULL ? dev->dev_eui : 0;
    tx->priority = (uint8_t)d->priority;
    tx->rx_delay_s = d->rx1_delay;

    /* Link first: a preempted transmission is answered from the list. */
    p->next = gw->pending;
    gw->pending = p;
    gw->npending++;

    if (!clock) { /* IMMEDIATE / ABSOLUTE with an unknown clock: the gateway sends at once */
        tx->immediate = true;
        tx->dev_class = 2;
        tx->frequency_hz = rx2.freq_hz;
        tx_dr_of(&rx2, d->rx2, tx);
        tx->tx_power_dbm = d->tx_power;
        pending_send(p);
        return;
    }

    gs_sched_request_t req = {
        .phy_len = d->raw_payload.len,
        .timing = d->timing == LW__MSG__TX_TIMING__TIMESTAMP   ? GS_SCHED_CLASS_A
                  : d->timing == LW__MSG__TX_TIMING__IMMEDIATE ? GS_SCHED_IMMEDIATE
                                                               : GS_SCHED_ABSOLUTE,
        .rx1_delay_s = (uint8_t)d->rx1_delay,
        .join_accept = d->join_accept,
        .rx1 = rx1,
        .rx2 = rx2,
        .priority = (gs_sched_priority_t)(d->priority <= 6 ? d->priority : 3),
        .tx_power_cdbm = (int32_t)(d->tx_power * 100),
        .plan =
            d->frequency_plan_id[0] != '\0' ? lorawan_freqplan_find(d->frequency_plan_id) : NULL,
        .schedule_late = gw->info.schedule_downlink_late,
        .tag = p->tx_id,
    };
    if (req.timing == GS_SCHED_CLASS_A)
        req.uplink_us = gs_sched_extend(now_us, has_tok ? tok.timestamp : d->timestamp);
    if (req.timing == GS_SCHED_ABSOLUTE)
        req.absolute_us = now_us + (d->absolute_time - now_ns) / 1000;
    if (req.plan != NULL && req.plan->band != lorawan_band_id(gw->sched.band))
        req.plan = NULL; /* a device plan of another band says nothing about this gateway */
    int64_t rtt = gs_gw_rtt_median(gw);
    gs_sched_result_t res;
    int reason = gs_sched_schedule(&gw->sched, &req, now_us, rtt < 0 ? -1 : rtt / 1000, &res);
    for (size_t i = 0; i < res.n_preempted; i++) {
        for (gs_pending_t *q = gw->pending; q != NULL; q = q->next) {
            if (q->tx_id == res.preempted[i] && q != p) {
                uv_timer_stop(&q->timer);
                pending_fail(q, LW__MSG__TX_ACK_RESULT__SCHEDULE_FAILED, "conflict");
                break;
            }
        }
    }
    if (reason != GS_SCHED_OK) {
        p->rx_window = 0;
        pending_fail(p, LW__MSG__TX_ACK_RESULT__SCHEDULE_FAILED, sched_error_name(reason));
        return;
    }
    p->sched_id = res.id;
    p->rx_window = res.window;
    tx->rx_window = res.window;
    tx->dev_class = req.timing == GS_SCHED_CLASS_A ? 0 : 2;
    tx->time_us = (uint64_t)res.start_us;
    tx->timestamp = (uint32_t)res.start_us;
    tx->frequency_hz = res.freq_hz;
    const gs_sched_window_t *w = res.window == 1 ? &rx1 : &rx2;
    tx_dr_of(w, res.window == 1 ? d->rx1 : d->rx2, tx);
    tx->tx_power_dbm = (float)res.eirp_cdbm / 100.0f - gw->info.antenna_gain_db;
    int64_t wait_us = res.handover_us - now_us;
    if (wait_us > 1000) {
        uv_timer_start(&p->timer, handover_due, (uint64_t)(wait_us / 1000), 0);
        return;
    }
    pending_send(p);
}

static void down_message(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *msg)
{
    (void)c;
    gs_t *gs = arg;
    Lw__Msg__GsDown *d = NULL;
    if (lw_msg_gs_down_decode(msg->value, msg->value_len, &d) != 0) {
        gs_count_drop(gs, "bus", "gs_down_malformed");
        return;
    }
    /* The key is "<gateway tenant>/<gateway_id>"; the ids say the same. */
    const Lw__Msg__GatewayIdentifiers *g = d->gateway_ids;
    char tenant[TN_ID_MAX + 1] = "", gwid[TN_ID_MAX + 1] = "";
    if (g != NULL) {
        snprintf(tenant, sizeof tenant, "%s", g->tenant_id);
        snprintf(gwid, sizeof gwid, "%s", g->gateway_id);
    }
    if (tenant[0] == '\0' && msg->key_len > 0 && msg->key_len < sizeof tenant + sizeof gwid) {
        char key[2 * TN_ID_MAX + 2];
        memcpy(key, msg->key, msg->key_len);
        key[msg->key_len] = '\0';
        char *slash = strchr(key, '/');
        if (slash != NULL && (size_t)(slash - key) <= TN_ID_MAX) {
            *slash = '\0';
            snprintf(tenant, sizeof tenant, "%.*s", TN_ID_MAX, key);
            snprintf(gwid, sizeof gwid, "%.*s", TN_ID_MAX, slash + 1);
        }
    }
    gs_gw_t *gw = gs_gw_by_uid(gs, tenant, gwid);
    if (gw == NULL) {
        gs_count_drop(gs, "bus", "gs_down_not_held");
        if (gs->answer_not_connected) {
            gs_gw_info_t info;
            memset(&info, 0, sizeof info);
            snprintf(info.tenant_id, sizeof info.tenant_id, "%s", tenant);
            snprintf(info.gateway_id, sizeof info.gateway_id, "%s", gwid);
            info.eui = g != NULL ? g->eui : 0;
            refuse(gs, d, &info, "gateway_not_connected");
        }
    } else {
        down_handle(gs, gw, d);
    }
    lw_msg_gs_down_free(d);
}

int gs_down_start(gs_t *gs, lw_err_t *err)
{
    static const char *const topics[] = {"gs.down"};
    static const lw_bus_handler_t h = {.on_message = down_message};
    gs->down_consumer = lw_bus_subscribe(gs->bus, NULL, topics, 1, &h, gs, err);
    return gs->down_consumer != NULL ? 0 : -1;
}
