/* Connected gateways: connect / disconnect, uplinks (lw.gs.up), status, clock and
 * round-trip tracking, and the tenant state (a tenant that stops being active loses its
 * gateways at once). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

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
static json_t *up_event_data(const gs_gw_t *gw, const Lw__Msg__GsUp *up)
{
    char when[40], freq[24];
    gs_time_format(up->received_at, when);
    snprintf(freq, sizeof freq, "%llu", (unsigned long long)up->settings->frequency);
    const Lw__Msg__RxMetadata *md = up->rx_metadata;
    json_t *gids = json_pack("{ss}", "gateway_id", gw->info.gateway_id);
    json_t *mdj = json_pack("{so si sf sf si}", "gateway_ids", gids, "timestamp",
                            (json_int_t)md->timestamp, "rssi", (double)md->rssi, "snr",
                            (double)md->snr, "antenna_index", (json_int_t)md->antenna_index);
    json_t *settings =
        json_pack("{ss si}", "frequency", freq, "timestamp", (json_int_t)up->settings->timestamp);
    return json_pack("{ss ss s[o] so}", "@type", "type.googleapis.com/ttnpb.UplinkMessage",
                     "received_at", when, "rx_metadata", mdj, "settings", settings);
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
    if (rc != 0)
        return up_drop(gw, GS_UP_DROP_PAYLOAD, lorawan_strerror(rc));
    if (up_key(&frame, key) != 0)
        return up_drop(gw, GS_UP_DROP_PAYLOAD, lorawan_mtype_name(frame.mtype));
    if (!lw_ratelimit_take(gs->up_limit, gw->uid, (int64_t)uv_now(gs->loop), NULL))
        return up_drop(gw, GS_UP_DROP_RATE, "uplinks per gateway rate limit");

    uint8_t id[LW_MSG_ID_LEN];
    RAND_bytes(id, sizeof id);
    char cid[48] = "gs:uplink:";
    lw_hex_encode(id, sizeof id, cid + 10);
    char *cids[1] = {cid};
    Lw__Msg__Envelope env = LW__MSG__ENVELOPE__INIT;
    env.id = (ProtobufCBinaryData){sizeof id, id};
    env.tenant_id = gw->info.tenant_id;
    env.n_correlation_ids = 1;
    env.correlation_ids = cids;
    env.schema_version = LW_MSG_SCHEMA_VERSION;

    Lw__Msg__GatewayIdentifiers gids = LW__MSG__GATEWAY_IDENTIFIERS__INIT;
    gids.gateway_id = gw->info.gateway_id;
    gids.eui = gw->info.eui;
    gids.tenant_id = gw->info.tenant_id;

    gs_token_t tok = {.eui = gw->info.eui,
                      .antenna_index = rx->antenna_index,
                      .timestamp = rx->timestamp,
                      .received_ns = now,
                      .fe = rx->fe};
    uint8_t token[GS_TOKEN_LEN];
    gs_token_encode(&tok, token);

    Lw__Msg__RxMetadata md = LW__MSG__RX_METADATA__INIT;
    md.gateway_ids = &gids;
    md.antenna_index = rx->antenna_index;
    md.timestamp = rx->timestamp;
    md.time = rx->time_ns;
    md.gps_time = rx->gps_time_ns;
    md.rssi = rx->rssi;
    md.channel_rssi = rx->channel_rssi;
    md.snr = rx->has_snr ? rx->snr : 0;
    md.channel_index = rx->channel_index;
    md.uplink_token = (ProtobufCBinaryData){sizeof token, token};
    md.received_at = now;

    Lw__Msg__DataRate dr = LW__MSG__DATA_RATE__INIT;
    Lw__Msg__LoRaDataRate lora = LW__MSG__LO_RA_DATA_RATE__INIT;
    Lw__Msg__FSKDataRate fsk = LW__MSG__FSKDATA_RATE__INIT;
    set_data_rate(&rx->dr, &dr, &lora, &fsk);
    Lw__Msg__TxSettings st = LW__MSG__TX_SETTINGS__INIT;
    st.data_rate = &dr;
    st.frequency = rx->frequency_hz;
    st.timestamp = rx->timestamp;
    st.time = rx->time_ns;
    st.enable_crc = rx->crc_status != 0;

    Lw__Msg__GsUp up = LW__MSG__GS_UP__INIT;
    up.envelope = &env;
    up.raw_payload = (ProtobufCBinaryData){len, (uint8_t *)phy};
    up.rx_metadata = &md;
    up.settings = &st;
    up.received_at = now;

    size_t n = 0;
    lw_err_t e;
    lw_err_clear(&e);
    if (lw_msg_gs_up_encode(&up, gs->buf, sizeof gs->buf, &n) != 0 ||
        lw_bus_publish(gs->bus, "gs.up", key, strlen(key), gs->buf, n, &e) != 0)
        return up_drop(gw, GS_UP_DROP_PUBLISH, e.message[0] != '\0' ? e.message : "encode");

    gw->uplink_count++;
    gw->last_uplink_received_at_ns = now;
    lw_metric_add(gs->m_up, (const char *const[]){gw->protocol, NULL}, 1);
    if (gs->events_uplinks)
        gs_event_gateway(gs, gw, &gw->info, "gs.up.receive", up_event_data(gw, &up), cid);
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
