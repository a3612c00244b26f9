/* Connected gateways: connect / disconnect, uplinks (lw.gs.up), status, clock and
 * round-trip tracking, and the tenant state (a tenant that stops being active loses its
 * gateways at once). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/uid.h"
#include "cluster/hex.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "lorawan/lorawan.h"

#include "gs/core_private.h"

int64_t gs_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint32_t gs_hash_u64(uint64_t v)
{
    v ^= v >> 33;
    v *= 0xff51afd7ed558ccdULL;
    v ^= v >> 33;
    return (uint32_t)v;
}

uint32_t gs_hash_str(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s != '\0'; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static void uid_of(const char *tenant_id, const char *gateway_id, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", tenant_id, gateway_id);
}

gs_gw_t *gs_gw_by_uid(gs_t *gs, const char *tenant_id, const char *gateway_id)
{
    char uid[2 * TN_ID_MAX + 2];
    uid_of(tenant_id, gateway_id, uid, sizeof uid);
    for (gs_gw_t *g = gs->by_uid[gs_hash_str(uid) % GS_HASH_BUCKETS]; g != NULL; g = g->next_uid)
        if (strcmp(g->uid, uid) == 0)
            return g;
    return NULL;
}

gs_gw_t *gs_gw_by_eui(gs_t *gs, uint64_t eui)
{
    for (gs_gw_t *g = gs->by_eui[gs_hash_u64(eui) % GS_HASH_BUCKETS]; g != NULL; g = g->next_eui)
        if (g->info.eui == eui)
            return g;
    return NULL;
}

const gs_gw_info_t *gs_gw_info(const gs_gw_t *gw)
{
    return &gw->info;
}

lw_rt_t *gs_runtime(gs_t *gs)
{
    return gs->rt;
}

void gs_timeouts(const gs_t *gs, gs_timeouts_t *out)
{
    *out = gs->timeouts;
}

void gs_count_drop(gs_t *gs, const char *protocol, const char *reason)
{
    lw_metric_add(gs->m_drop, (const char *const[]){protocol, reason, NULL}, 1);
}

static void connected_gauge(gs_t *gs, const char *protocol, double delta)
{
    lw_metric_series_t *s =
        lw_metric_series(gs->m_connected, (const char *const[]){protocol, NULL});
    lw_metric_series_add(s, delta);
}

/* ---- connect / disconnect --------------------------------------------------------------- */

static void unlink_gw(gs_gw_t *gw)
{
    gs_t *gs = gw->gs;
    gs_gw_t **p = &gs->by_eui[gs_hash_u64(gw->info.eui) % GS_HASH_BUCKETS];
    while (*p != NULL && *p != gw)
        p = &(*p)->next_eui;
    if (*p == gw)
        *p = gw->next_eui;
    p = &gs->by_uid[gs_hash_str(gw->uid) % GS_HASH_BUCKETS];
    while (*p != NULL && *p != gw)
        p = &(*p)->next_uid;
    if (*p == gw)
        *p = gw->next_uid;
    if (gw->prev != NULL)
        gw->prev->next = gw->next;
    else
        gs->gateways = gw->next;
    if (gw->next != NULL)
        gw->next->prev = gw->prev;
    gs->ngateways--;
}

/* Common end of a connection: pending downlinks answered, event, freed. */
static void gw_end(gs_gw_t *gw, const char *reason)
{
    gs_t *gs = gw->gs;
    unlink_gw(gw);
    gs_down_gateway_gone(gw, &lw_err_gateway_not_connected);
    json_t *data = json_pack("{ss}", "error", reason);
    gs_event_gateway(gs, gw, &gw->info, "gs.gateway.disconnect", data, NULL);
    connected_gauge(gs, gw->protocol, -1);
    lw_log(LW_LOG_INFO, "gs", "gateway disconnected", "tenant", gw->info.tenant_id, "gateway",
           gw->info.gateway_id, "protocol", gw->protocol, "reason", reason, NULL);
    json_decref(gw->last_status);
    free(gw);
}

void gs_gw_close(gs_gw_t *gw, const char *reason)
{
    const gs_conn_ops_t *ops = gw->ops;
    void *conn = gw->conn;
    ops->close(conn, reason);
    gw_end(gw, reason);
}

void gs_gw_disconnect(gs_gw_t *gw, const char *reason)
{
    gw_end(gw, reason);
}

gs_gw_t *gs_gw_connect(gs_t *gs, const gs_gw_info_t *info, const char *protocol,
                       const gs_conn_ops_t *ops, void *conn, lw_err_t *err)
{
    if (gs->stopping) {
        lw_err_set(err, &lw_err_stopping, "gateway server stopping");
        return NULL;
    }
    tn_tenant_t t;
    if (!tn_get(gs->tn, info->tenant_id, &t) || t.deleted || !tn_state_active(t.state)) {
        lw_err_set(err, &lw_err_tenant_not_active, "tenant `%s` is not active", info->tenant_id);
        lw_err_attr(err, "tenant_id", info->tenant_id);
        return NULL;
    }
    gs_gw_t *old = gs_gw_by_uid(gs, info->tenant_id, info->gateway_id);
    if (old != NULL)
        gs_gw_close(old, "replaced");
    old = gs_gw_by_eui(gs, info->eui);
    if (old != NULL)
        gs_gw_close(old, "replaced");
    if (gs->ngateways >= gs->gateways_max) {
        lw_err_set(err, &lw_err_gateways_max, "too many connected gateways (%zu)",
                   gs->gateways_max);
        lw_err_attr_num(err, "max", (long long)gs->gateways_max);
        return NULL;
    }
    gs_gw_t *gw = lw_calloc(1, sizeof *gw);
    gw->gs = gs;
    gw->info = *info;
    uid_of(info->tenant_id, info->gateway_id, gw->uid, sizeof gw->uid);
    snprintf(gw->protocol, sizeof gw->protocol, "%s", protocol);
    gw->ops = ops;
    gw->conn = conn;
    gw->connected_at_ns = gs_now_ns();
    gs_down_gateway_init(gw);

    uint32_t be = gs_hash_u64(info->eui) % GS_HASH_BUCKETS;
    gw->next_eui = gs->by_eui[be];
    gs->by_eui[be] = gw;
    uint32_t bu = gs_hash_str(gw->uid) % GS_HASH_BUCKETS;
    gw->next_uid = gs->by_uid[bu];
    gs->by_uid[bu] = gw;
    gw->next = gs->gateways;
    if (gs->gateways != NULL)
        gs->gateways->prev = gw;
    gs->gateways = gw;
    gs->ngateways++;

    lw_metric_add(gs->m_connect, (const char *const[]){protocol, NULL}, 1);
    connected_gauge(gs, protocol, 1);
    json_t *data = json_pack("{ss}", "protocol", protocol);
    gs_event_gateway(gs, gw, &gw->info, "gs.gateway.connect", data, NULL);
    char eui[17];
    snprintf(eui, sizeof eui, "%016llx", (unsigned long long)info->eui);
    lw_log(LW_LOG_INFO, "gs", "gateway connected", "tenant", info->tenant_id, "gateway",
           info->gateway_id, "eui", eui, "protocol", protocol, NULL);
    return gw;
}

void gs_tenant_changed(void *arg, const tn_tenant_t *t)
{
    gs_t *gs = arg;
    gs_registry_forget_tenant(gs, t->id);
    if (!t->deleted && tn_state_active(t->state))
        return;
    const char *reason = t->deleted ? "tenant deleted" : "tenant not active";
    gs_gw_t *gw = gs->gateways;
    while (gw != NULL) {
        gs_gw_t *next = gw->next;
        if (strcmp(gw->info.tenant_id, t->id) == 0)
            gs_gw_close(gw, reason);
        gw = next;
    }
}

/* ---- clock ------------------------------------------------------------------------------ */

void gs_gw_clock_sync(gs_gw_t *gw, uint32_t timestamp_us, int64_t server_ns)
{
    if (!gw->clock_synced) {
        gw->clock_us = timestamp_us;
        gw->clock_server_ns = server_ns;
        gw->clock_synced = true;
        return;
    }
    int64_t predicted = gw->clock_us + (server_ns - gw->clock_server_ns) / 1000;
    int64_t ext = gs_sched_extend(predicted, timestamp_us);
    if (ext - predicted > GS_CLOCK_JUMP_US || predicted - ext > GS_CLOCK_JUMP_US) {
        /* The counter is not where the last pair and the time since put it: the concentrator
         * restarted (a packet forwarder restart resets tmst). What was scheduled is in the old
         * time base: a new timeline from this pair on. */
        char from[24], to[24];
        snprintf(from, sizeof from, "%lld", (long long)predicted);
        snprintf(to, sizeof to, "%u", timestamp_us);
        lw_log(LW_LOG_INFO, "gs", "concentrator clock reset", "tenant", gw->info.tenant_id,
               "gateway", gw->info.gateway_id, "expected_us", from, "timestamp_us", to, NULL);
        gs_down_clock_reset(gw);
        ext = timestamp_us;
    }
    gw->clock_us = ext;
    gw->clock_server_ns = server_ns;
}

bool gs_gw_now_us(const gs_gw_t *gw, int64_t now_ns, int64_t *out)
{
    if (!gw->clock_synced)
        return false;
    *out = gw->clock_us + (now_ns - gw->clock_server_ns) / 1000;
    return true;
}

void gs_gw_rtt(gs_gw_t *gw, int64_t rtt_ns)
{
    if (rtt_ns < 0)
        return;
    gw->rtt_ns[gw->rtt_next] = rtt_ns;
    gw->rtt_next = (gw->rtt_next + 1) % GS_RTT_WINDOW;
    if (gw->rtt_n < GS_RTT_WINDOW)
        gw->rtt_n++;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int64_t gs_gw_rtt_median(const gs_gw_t *gw)
{
    if (gw->rtt_n == 0)
        return -1;
    int64_t v[GS_RTT_WINDOW];
    memcpy(v, gw->rtt_ns, gw->rtt_n * sizeof v[0]);
    qsort(v, gw->rtt_n, sizeof v[0], cmp_i64);
    return v[gw->rtt_n / 2];
}

/* ---- uplinks ---------------------------------------------------------------------------- */

static const char *const up_drop_names[] = {
    "", "crc_failed", "invalid_payload", "tenant_not_active", "rate_limited", "bus_publish"};

/* The lw.gs.up key (contracts.md): DevAddr as 8 lowercase hex digits; join-request (and
 * rejoin-request type 1) "<JoinEUI><DevEUI>"; rejoin types 0/2 "<NetID as 16><DevEUI>". */
static int up_key(const lorawan_phy_t *phy, char out[40])
{
    switch (phy->mtype) {
    case LORAWAN_MTYPE_UNCONFIRMED_DATA_UP:
    case LORAWAN_MTYPE_CONFIRMED_DATA_UP:
        snprintf(out, 40, "%08x", (unsigned)phy->u.data.dev_addr);
        return 0;
    case LORAWAN_MTYPE_JOIN_REQUEST:
        snprintf(out, 40, "%016llx%016llx", (unsigned long long)phy->u.join_request.join_eui,
                 (unsigned long long)phy->u.join_request.dev_eui);
        return 0;
    case LORAWAN_MTYPE_REJOIN_REQUEST:
        snprintf(out, 40, "%016llx%016llx",
                 (unsigned long long)(phy->u.rejoin.rejoin_type == 1 ? phy->u.rejoin.join_eui
                                                                     : phy->u.rejoin.net_id),
                 (unsigned long long)phy->u.rejoin.dev_eui);
        return 0;
    default:
        return -1; /* downlink MTypes heard by the gateway, proprietary frames */
    }
}

static int up_drop(gs_gw_t *gw, int reason, const char *detail)
{
    const char *name = up_drop_names[-reason];
    gs_count_drop(gw->gs, gw->protocol, name);
    json_t *data = json_pack("{ss ss}", "error", name, "message", detail != NULL ? detail : name);
    gs_event_gateway(gw->gs, gw, &gw->info, "gs.up.drop", data, NULL);
    return reason;
}

static void set_data_rate(const gs_dr_t *dr, Lw__Msg__DataRate *out, Lw__Msg__LoRaDataRate *lora,
                          Lw__Msg__FSKDataRate *fsk)
{
    if (dr->mod == GS_MOD_FSK) {
        fsk->bit_rate = dr->fsk_bitrate;
        out->modulation_case = LW__MSG__DATA_RATE__MODULATION_FSK;
        out->fsk = fsk;
        return;
    }
    lora->bandwidth = dr->bw_hz;
    lora->spreading_factor = dr->sf;
    lora->coding_rate = (char *)(dr->codr[0] != '\0' ? dr->codr : "4/5");
    out->modulation_case = LW__MSG__DATA_RATE__MODULATION_LORA;
    out->lora = lora;
}

/* gs.up.receive's data: the uplink's settings and this gateway's metadata (not the payload:
 * events are readable by more than the device's owner). */
static json_t *up_event_data(const Lw__Msg__RxMetadata *md, const Lw__Msg__TxSettings *st,
                             int64_t received_at, const char *gateway_id)
{
    char when[40], freq[24];
    gs_time_format(received_at, when);
    snprintf(freq, sizeof freq, "%llu", (unsigned long long)st->frequency);
    json_t *gids = json_pack("{ss}", "gateway_id", gateway_id);
    json_t *mdj = json_pack("{so si sf sf si}", "gateway_ids", gids, "timestamp",
                            (json_int_t)md->timestamp, "rssi", (double)md->rssi, "snr",
                            (double)md->snr, "antenna_index", (json_int_t)md->antenna_index);
    json_t *settings =
        json_pack("{ss si}", "frequency", freq, "timestamp", (json_int_t)st->timestamp);
    return json_pack("{ss ss s[o] so}", "@type", "type.googleapis.com/ttnpb.UplinkMessage",
                     "received_at", when, "rx_metadata", mdj, "settings", settings);
}

/* ---- merging the gateway copies of a frame --------------------------------------------
 *
 * The gateways that hear one frame send it within milliseconds, and one loop turn often
 * reads all their datagrams. The copies of one frame (same PHYPayload, frequency and data
 * rate) from gateways of one tenant in one turn are published as ONE lw.gs.up message: its
 * rx_metadata the first copy's, more_rx_metadata the others'. At the end of the turn (a
 * uv_check handle), so nothing waits. One bus message per uplink instead of one per copy:
 * the matcher reads and the broker carries a third. Copies read in a later turn go on
 * their own, and the NS merges them as before. Nothing here points at a gateway: one that
 * disconnects in the same turn leaves its copy valid. */

#define GS_MERGE_MAX 8u /* gateway copies of one frame in one message */

typedef struct gs_up_copy {
    Lw__Msg__RxMetadata md;
    Lw__Msg__GatewayIdentifiers gids;
    Lw__Msg__Location loc;
    char loc_source[40];
    char gateway_id[TN_ID_MAX + 1];
    char protocol[16];
    uint8_t token[GS_TOKEN_LEN];
} gs_up_copy_t;

typedef struct gs_up_pend {
    int next; /* bucket chain, -1: end */
    uint64_t hash;
    char key[40];
    char tenant[TN_ID_MAX + 1];
    uint8_t id[LW_MSG_ID_LEN];
    char cid[48];
    uint8_t phy[LORAWAN_PHY_MAX_LEN];
    size_t len;
    gs_dr_t dr;
    Lw__Msg__TxSettings st;
    int64_t received_at;
    gs_up_copy_t c[GS_MERGE_MAX];
    size_t n;
} gs_up_pend_t;

static uint64_t up_hash(const uint8_t *p, size_t n, uint64_t freq)
{
    uint64_t h = 1469598103934665603ull ^ freq; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static bool same_dr(const gs_dr_t *a, const gs_dr_t *b)
{
    return a->mod == b->mod && a->sf == b->sf && a->bw_hz == b->bw_hz &&
           a->fsk_bitrate == b->fsk_bitrate && strcmp(a->codr, b->codr) == 0;
}

static void up_check_cb(uv_check_t *h)
{
    gs_up_flush(h->data);
}

void gs_up_flush(gs_t *gs)
{
    for (size_t i = 0; i < gs->nups; i++) {
        gs_up_pend_t *p = &gs->ups[i];
        gs->up_buckets[p->hash & (GS_UP_BUCKETS - 1)] = -1;
        char *cids[1] = {p->cid};
        Lw__Msg__Envelope env = LW__MSG__ENVELOPE__INIT;
        env.id = (ProtobufCBinaryData){sizeof p->id, p->id};
        env.tenant_id = p->tenant;
        env.n_correlation_ids = 1;
        env.correlation_ids = cids;
        env.schema_version = LW_MSG_SCHEMA_VERSION;
        Lw__Msg__RxMetadata *more[GS_MERGE_MAX];
        for (size_t k = 0; k < p->n; k++) {
            gs_up_copy_t *c = &p->c[k];
            c->gids.gateway_id = c->gateway_id;
            c->gids.tenant_id = p->tenant;
            c->md.gateway_ids = &c->gids;
            c->md.uplink_token = (ProtobufCBinaryData){sizeof c->token, c->token};
            if (c->loc_source[0] != '\0') { /* set from a public location (gs_up_add) */
                c->loc.source = c->loc_source;
                c->md.location = &c->loc;
            }
            if (k > 0)
                more[k - 1] = &c->md;
        }
        Lw__Msg__DataRate dr = LW__MSG__DATA_RATE__INIT;
        Lw__Msg__LoRaDataRate lora = LW__MSG__LO_RA_DATA_RATE__INIT;
        Lw__Msg__FSKDataRate fsk = LW__MSG__FSKDATA_RATE__INIT;
        set_data_rate(&p->dr, &dr, &lora, &fsk);
        p->st.data_rate = &dr;
        Lw__Msg__GsUp up = LW__MSG__GS_UP__INIT;
        up.envelope = &env;
        up.raw_payload = (ProtobufCBinaryData){p->len, p->phy};
        up.rx_metadata = &p->c[0].md;
        up.n_more_rx_metadata = p->n - 1;
        up.more_rx_metadata = p->n > 1 ? more : NULL;
        up.settings = &p->st;
        up.received_at = p->received_at;
        size_t n = 0;
        lw_err_t e;
        lw_err_clear(&e);
        if (lw_msg_gs_up_encode(&up, gs->buf, sizeof gs->buf, &n) == 0 &&
            lw_bus_publish(gs->bus, "gs.up", p->key, strlen(p->key), gs->buf, n, &e) == 0) {
            for (size_t k = 0; k < p->n; k++)
                lw_metric_add(gs->m_up, (const char *const[]){p->c[k].protocol, NULL}, 1);
            continue;
        }
        for (size_t k = 0; k < p->n; k++)
            gs_count_drop(gs, p->c[k].protocol, up_drop_names[-GS_UP_DROP_PUBLISH]);
        lw_log(LW_LOG_WARN, "gs", "uplink not published", "tenant", p->tenant, "error",
               e.message[0] != '\0' ? e.message : "encode", NULL);
    }
    gs->nups = 0;
    if (gs->up_check != NULL)
        uv_check_stop(gs->up_check);
}

/* The pending uplink this copy joins, or a new one. */
static gs_up_pend_t *up_pend(gs_t *gs, const gs_gw_t *gw, const char *key, const uint8_t *phy,
                             size_t len, const gs_rx_t *rx, bool *fresh)
{
    uint64_t h = up_hash(phy, len, rx->frequency_hz);
    int *b = &gs->up_buckets[h & (GS_UP_BUCKETS - 1)];
    for (int i = *b; i >= 0; i = gs->ups[i].next) {
        gs_up_pend_t *p = &gs->ups[i];
        if (p->hash == h && p->n < GS_MERGE_MAX && p->len == len &&
            p->st.frequency == rx->frequency_hz && same_dr(&p->dr, &rx->dr) &&
            strcmp(p->tenant, gw->info.tenant_id) == 0 && strcmp(p->key, key) == 0 &&
            memcmp(p->phy, phy, len) == 0) {
            *fresh = false;
            return p;
        }
    }
    if (gs->nups == gs->ups_cap) {
        gs->ups_cap = gs->ups_cap == 0 ? 64 : 2 * gs->ups_cap;
        gs->ups = lw_realloc(gs->ups, gs->ups_cap * sizeof *gs->ups);
    }
    gs_up_pend_t *p = &gs->ups[gs->nups];
    memset(p, 0, offsetof(gs_up_pend_t, c));
    p->next = *b;
    *b = (int)gs->nups++;
    p->hash = h;
    p->n = 0; /* after c[], which is filled copy by copy */
    *fresh = true;
    if (gs->nups == 1 && gs->up_check != NULL)
        uv_check_start(gs->up_check, up_check_cb);
    return p;
}

int gs_gw_uplink(gs_gw_t *gw, const uint8_t *phy, size_t len, const gs_rx_t *rx)
{
    gs_t *gs = gw->gs;
    int64_t now = gs_now_ns();
    gs_gw_clock_sync(gw, rx->timestamp, now);
    if (rx->crc_status < 0)
        return up_drop(gw, GS_UP_DROP_CRC, "CRC check failed");
    lorawan_phy_t frame;
    int rc = lorawan_phy_decode(phy, len, &frame);
    char key[40];
    if (rc != 0 || len > LORAWAN_PHY_MAX_LEN)
        return up_drop(gw, GS_UP_DROP_PAYLOAD, rc != 0 ? lorawan_strerror(rc) : "too long");
    if (up_key(&frame, key) != 0)
        return up_drop(gw, GS_UP_DROP_PAYLOAD, lorawan_mtype_name(frame.mtype));
    if (!lw_ratelimit_take(gs->up_limit, gw->uid, (int64_t)uv_now(gs->loop), NULL))
        return up_drop(gw, GS_UP_DROP_RATE, "uplinks per gateway rate limit");
    if (gs->stopping || gs->bus == NULL)
        return up_drop(gw, GS_UP_DROP_PUBLISH, "the bus is stopped");

    bool fresh;
    gs_up_pend_t *p = up_pend(gs, gw, key, phy, len, rx, &fresh);
    if (fresh) {
        lw_uid(p->id);
        memcpy(p->cid, "gs:uplink:", 10);
        lw_hex_encode(p->id, sizeof p->id, p->cid + 10);
        snprintf(p->key, sizeof p->key, "%s", key);
        snprintf(p->tenant, sizeof p->tenant, "%s", gw->info.tenant_id);
        memcpy(p->phy, phy, len);
        p->len = len;
        p->dr = rx->dr;
        lw__msg__tx_settings__init(&p->st);
        p->st.frequency = rx->frequency_hz;
        p->st.timestamp = rx->timestamp;
        p->st.time = rx->time_ns;
        p->st.enable_crc = rx->crc_status != 0;
        p->received_at = now;
    }
    gs_up_copy_t *c = &p->c[p->n++];
    c->loc_source[0] = '\0'; /* no location unless this gateway's is public */
    lw__msg__gateway_identifiers__init(&c->gids);
    c->gids.eui = gw->info.eui;
    snprintf(c->gateway_id, sizeof c->gateway_id, "%s", gw->info.gateway_id);
    snprintf(c->protocol, sizeof c->protocol, "%s", gw->protocol);
    gs_token_t tok = {.eui = gw->info.eui,
                      .antenna_index = rx->antenna_index,
                      .timestamp = rx->timestamp,
                      .received_ns = now,
                      .fe = rx->fe};
    gs_token_encode(&tok, c->token);
    Lw__Msg__RxMetadata *md = &c->md;
    lw__msg__rx_metadata__init(md);
    md->antenna_index = rx->antenna_index;
    md->timestamp = rx->timestamp;
    md->time = rx->time_ns;
    md->gps_time = rx->gps_time_ns;
    md->rssi = rx->rssi;
    md->channel_rssi = rx->channel_rssi;
    md->snr = rx->has_snr ? rx->snr : 0;
    md->channel_index = rx->channel_index;
    md->received_at = now;
    if (gw->info.has_location) {
        lw__msg__location__init(&c->loc);
        c->loc.latitude = gw->info.latitude;
        c->loc.longitude = gw->info.longitude;
        c->loc.altitude = gw->info.altitude;
        c->loc.accuracy = gw->info.accuracy;
        snprintf(c->loc_source, sizeof c->loc_source, "%s", gw->info.location_source);
    }

    gw->uplink_count++;
    gw->last_uplink_received_at_ns = now;
    if (gs->events_uplinks &&
        lw_ratelimit_take(gs->event_limit, gw->uid, (int64_t)uv_now(gs->loop), NULL))
        gs_event_gateway(gs, gw, &gw->info, "gs.up.receive",
                         up_event_data(md, &p->st, now, gw->info.gateway_id), p->cid);
    return GS_UP_OK;
}

/* ---- status ----------------------------------------------------------------------------- */

void gs_gw_status(gs_gw_t *gw, const gs_status_t *st)
{
    gs_t *gs = gw->gs;
    int64_t now = gs_now_ns();
    char when[40];
    gs_time_format(st->time_ns != 0 ? st->time_ns : now, when);
    json_t *s =
        json_pack("{ss ss}", "@type", "type.googleapis.com/ttnpb.GatewayStatus", "time", when);
    json_t *metrics =
        json_pack("{sf sf sf sf sf}", "rxin", (double)st->rxnb, "rxok", (double)st->rxok, "rxfw",
                  (double)st->rxfw, "txin", (double)st->dwnb, "txok", (double)st->txnb);
    if (st->has_ackr)
        json_object_set_new(metrics, "ackr", json_real(st->ackr));
    json_object_set_new(s, "metrics", metrics);
    if (st->has_location) {
        json_t *loc = json_pack("{sf sf ss}", "latitude", st->latitude, "longitude", st->longitude,
                                "source", "SOURCE_GPS");
        if (st->has_altitude)
            json_object_set_new(loc, "altitude", json_integer(st->altitude));
        json_object_set_new(s, "antenna_locations", json_pack("[o]", loc));
    }
    json_t *versions = json_object();
    if (st->platform != NULL && st->platform[0] != '\0')
        json_object_set_new(versions, "platform", json_string(st->platform));
    if (st->firmware != NULL && st->firmware[0] != '\0')
        json_object_set_new(versions, "firmware", json_string(st->firmware));
    if (json_object_size(versions) > 0)
        json_object_set_new(s, "versions", versions);
    else
        json_decref(versions);
    json_decref(gw->last_status);
    gw->last_status = s;
    gw->last_status_received_at_ns = now;
    json_t *data = json_deep_copy(s);
    gs_event_gateway(gs, gw, &gw->info, "gs.status.receive", data, NULL);
}
