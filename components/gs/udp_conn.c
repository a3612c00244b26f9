/* The Semtech UDP front-end (gs.udp.listen): datagrams in, the pure codec (udp_codec.c),
 * the core (gs_private.h) out.
 *
 *   PUSH_DATA  → PUSH_ACK (same version and token), then each rxpk to gs_gw_uplink and the
 *                stat to gs_gw_status
 *   PULL_DATA  → PULL_ACK; the datagram's source becomes the downlink path, which expires
 *                after gs.udp.downlink-path-expires without a PULL_DATA (TTS: 15 s)
 *   TX_ACK     → gs_gw_txack of the PULL_RESP with that token (v2); the PULL_RESP → TX_ACK
 *                time is the gateway's round trip
 *   downlinks  → PULL_RESP (version of the latest PULL_DATA; v1: token 0 and no TX_ACK)
 *
 * A datagram of an EUI the registry does not know is not acknowledged (as The Things Stack:
 * the forwarder sees no ack and logs it) and is counted as unknown_gateway; one that cannot
 * be decoded is counted with the codec's reason. Nothing is allocated per datagram on the hot
 * path: the codec writes into one packet struct of the front-end, acks and PULL_RESPs are
 * encoded into its buffers, and the per-gateway state exists once per EUI. Only an EUI not
 * yet in the registry cache costs a copy of its datagram while it is looked up (bounded).
 * A gateway that sent nothing for gs.udp.connection-expires is disconnected. */
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "cluster/log.h"
#include "cluster/mem.h"
#include "cluster/udp.h"

#include "gs/core_private.h"
#include "gs/udp_codec_private.h"

#define UDP_PROTOCOL    "udp"
#define UDP_TOKENS      16u /* PULL_RESPs awaiting a TX_ACK per gateway */
#define UDP_HELD_MAX    4u  /* datagrams kept per EUI while it is looked up */
#define UDP_LOOKUPS_MAX 256u
#define UDP_SWEEP_MS    1000u

typedef struct udp_sent {
    uint16_t token;
    bool used;
    uint64_t tx_id;
    int64_t sent_ns;
} udp_sent_t;

typedef struct udp_gw {
    struct udp_gw *next; /* hash chain */
    struct gs_udp *u;
    uint64_t eui;
    gs_gw_t *gw; /* NULL: not connected (refused, or closed by the core) */
    bool has_up;
    struct sockaddr_storage up_addr; /* of the latest PUSH_DATA (the forwarder's up socket) */
    uint64_t last_seen_ms;
    bool has_down;
    struct sockaddr_storage down_addr;
    uint64_t last_pull_ms;
    uint8_t down_version;
    udp_sent_t sent[UDP_TOKENS];
    size_t sent_next;
} udp_gw_t;

/* A datagram held while its EUI is looked up. */
typedef struct udp_held {
    struct udp_held *next;
    struct sockaddr_storage peer;
    uint64_t received_ms;
    size_t len;
    uint8_t data[];
} udp_held_t;

typedef struct udp_lookup {
    struct udp_lookup *next;
    struct gs_udp *u; /* NULL after the front-end stopped */
    uint64_t eui;
    udp_held_t *held, **tail;
    size_t nheld;
} udp_lookup_t;

typedef struct gs_udp {
    gs_t *gs;
    lw_udp_t *sock;
    uv_timer_t sweep;
    bool stopping;
    udp_gw_t *table[GS_HASH_BUCKETS];
    size_t ngw;
    udp_lookup_t *lookups;
    size_t nlookups;
    uint16_t next_token;
    gs_udp_packet_t pkt; /* the one decode target */
    uint8_t out[GS_UDP_PULL_RESP_MAX];
    void (*stop_done)(void *arg);
    void *stop_arg;
    int closing; /* handles still closing */
} gs_udp_t;

static void handle(gs_udp_t *u, const uint8_t *data, size_t len, const struct sockaddr *peer,
                   bool from_lookup);

static socklen_t addr_len(const struct sockaddr *a)
{
    return a->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static bool addr_eq(const struct sockaddr_storage *a, const struct sockaddr *b)
{
    if (a->ss_family != b->sa_family)
        return false;
    if (b->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

static void addr_ip(const struct sockaddr *a, char *out, size_t cap)
{
    out[0] = '\0';
    if (a->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)a)->sin_addr, out,
                  (socklen_t)cap);
    else if (a->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)a)->sin6_addr, out,
                  (socklen_t)cap);
}

static udp_gw_t **gw_slot(gs_udp_t *u, uint64_t eui)
{
    udp_gw_t **p = &u->table[gs_hash_u64(eui) % GS_HASH_BUCKETS];
    while (*p != NULL && (*p)->eui != eui)
        p = &(*p)->next;
    return p;
}

static void drop(gs_udp_t *u, const char *reason)
{
    gs_count_drop(u->gs, UDP_PROTOCOL, reason);
}

static void send_dgram(gs_udp_t *u, const struct sockaddr *to, const uint8_t *buf, size_t len)
{
    lw_err_t e;
    if (lw_udp_send(u->sock, to, buf, len, &e) != 0)
        drop(u, "send_failed");
}

/* ---- the core's operations ------------------------------------------------------------- */

static int op_send_down(void *conn, const gs_tx_t *tx, lw_err_t *err)
{
    udp_gw_t *g = conn;
    gs_udp_t *u = g->u;
    uint64_t now = uv_now(u->gs->loop);
    if (!g->has_down || now - g->last_pull_ms > u->gs->timeouts.downlink_path_expiry_ms) {
        lw_err_set(err, &lw_err_no_downlink_path, "no downlink path to gateway `%s`",
                   g->gw != NULL ? g->gw->info.gateway_id : "");
        return -1;
    }
    gs_udp_txpk_t t = {
        .imme = tx->immediate,
        .has_tmst = !tx->immediate,
        .tmst = tx->timestamp,
        .freq_mhz = (double)tx->frequency_hz / 1e6,
        .rfch = 0,
        .powe = (int8_t)(tx->tx_power_dbm + (tx->tx_power_dbm >= 0 ? 0.5f : -0.5f)),
        .modu = tx->dr.mod == GS_MOD_FSK ? GS_UDP_MODU_FSK : GS_UDP_MODU_LORA,
        .sf = tx->dr.sf,
        .bw_khz = (uint16_t)(tx->dr.bw_hz / 1000),
        .codr = tx->dr.codr[0] != '\0' ? tx->dr.codr : "4/5",
        .fsk_bitrate = tx->dr.fsk_bitrate,
        .fdev = tx->dr.mod == GS_MOD_FSK ? tx->dr.fsk_bitrate / 2 : 0,
        .ipol = tx->invert_polarization,
        .data = tx->payload,
        .data_len = tx->payload_len,
    };
    uint16_t token = g->down_version >= 2 ? ++u->next_token : 0;
    size_t n = 0;
    int rc = gs_udp_encode_pull_resp(g->down_version, token, &t, u->out, sizeof u->out, &n);
    if (rc != GS_UDP_OK) {
        lw_err_set(err, &lw_err_invalid_downlink, "invalid downlink: %s", gs_udp_strerror(rc));
        return -1;
    }
    if (lw_udp_send(u->sock, (const struct sockaddr *)&g->down_addr, u->out, n, err) != 0)
        return -1;
    if (g->down_version < 2)
        return GS_SENT_NO_ACK; /* protocol v1 has no TX_ACK */
    udp_sent_t *s = &g->sent[g->sent_next];
    g->sent_next = (g->sent_next + 1) % UDP_TOKENS;
    *s = (udp_sent_t){.token = token, .used = true, .tx_id = tx->id, .sent_ns = gs_now_ns()};
    return GS_SENT_ACK_PENDING;
}

static void op_close(void *conn, const char *reason)
{
    (void)reason;
    udp_gw_t *g = conn;
    g->gw = NULL; /* its next datagram connects again, if its tenant allows */
}

static const gs_conn_ops_t udp_ops = {.send_down = op_send_down, .close = op_close};

/* ---- datagrams -------------------------------------------------------------------------- */

static int txack_result(gs_udp_txack_code_t c)
{
    switch (c) {
    case GS_UDP_TXACK_NONE:
        return LW__MSG__TX_ACK_RESULT__SUCCESS;
    case GS_UDP_TXACK_TOO_LATE:
        return LW__MSG__TX_ACK_RESULT__TOO_LATE;
    case GS_UDP_TXACK_TOO_EARLY:
        return LW__MSG__TX_ACK_RESULT__TOO_EARLY;
    case GS_UDP_TXACK_COLLISION_PACKET:
        return LW__MSG__TX_ACK_RESULT__COLLISION_PACKET;
    case GS_UDP_TXACK_COLLISION_BEACON:
        return LW__MSG__TX_ACK_RESULT__COLLISION_BEACON;
    case GS_UDP_TXACK_TX_FREQ:
        return LW__MSG__TX_ACK_RESULT__TX_FREQ;
    case GS_UDP_TXACK_TX_POWER:
        return LW__MSG__TX_ACK_RESULT__TX_POWER;
    case GS_UDP_TXACK_GPS_UNLOCKED:
        return LW__MSG__TX_ACK_RESULT__GPS_UNLOCKED;
    }
    return LW__MSG__TX_ACK_RESULT__UNKNOWN_ERROR;
}

static void rx_of(const gs_udp_rxpk_t *r, gs_rx_t *rx)
{
    memset(rx, 0, sizeof *rx);
    rx->timestamp = r->tmst;
    if (r->has_time && gs_time_parse(r->time, &rx->time_ns) != 0)
        rx->time_ns = 0; /* a forwarder without GPS may send anything: unknown */
    if (r->has_tmms)     /* GPS epoch 1980-01-06 → Unix; leap seconds as TTS: 18 */
        rx->gps_time_ns = ((int64_t)r->tmms + 315964800000LL - 18000LL) * 1000000LL;
    rx->frequency_hz = (uint64_t)(r->freq_mhz * 1e6 + 0.5);
    if (r->modu == GS_UDP_MODU_FSK) {
        rx->dr.mod = GS_MOD_FSK;
        rx->dr.fsk_bitrate = r->fsk_bitrate;
    } else {
        rx->dr.mod = GS_MOD_LORA;
        rx->dr.sf = r->sf;
        rx->dr.bw_hz = (uint32_t)r->bw_khz * 1000;
        snprintf(rx->dr.codr, sizeof rx->dr.codr, "%s", r->codr);
    }
    rx->antenna_index = r->rfch;
    rx->channel_index = r->chan;
    rx->rssi = (float)r->rssi;
    rx->channel_rssi = (float)r->rssi;
    rx->has_snr = r->has_lsnr;
    rx->snr = (float)r->lsnr;
    rx->crc_status = r->stat;
}

static void status_of(const gs_udp_stat_t *s, gs_status_t *st)
{
    memset(st, 0, sizeof *st);
    if (s->has_time && gs_time_parse(s->time, &st->time_ns) != 0)
        st->time_ns = 0;
    st->has_location = s->has_location;
    st->latitude = s->lati;
    st->longitude = s->lon;
    st->has_altitude = s->has_alti;
    st->altitude = s->alti;
    st->rxnb = s->rxnb;
    st->rxok = s->rxok;
    st->rxfw = s->rxfw;
    st->dwnb = s->dwnb;
    st->txnb = s->txnb;
    st->has_ackr = s->has_ackr;
    st->ackr = s->ackr;
}

/* A decoded datagram of a connected gateway. */
static void serve(gs_udp_t *u, udp_gw_t *g, const gs_udp_packet_t *p, const struct sockaddr *peer)
{
    gs_gw_t *gw = g->gw;
    uint64_t now = uv_now(u->gs->loop);
    switch (p->ident) {
    case GS_UDP_PUSH_DATA: {
        size_t n = 0;
        uint8_t ack[GS_UDP_HEADER_LEN];
        if (gs_udp_encode_ack(p->version, p->token, GS_UDP_PUSH_ACK, ack, sizeof ack, &n) == 0)
            send_dgram(u, peer, ack, n);
        for (size_t i = 0; i < p->n_rxpk; i++) {
            gs_rx_t rx;
            rx_of(&p->rxpk[i], &rx);
            gs_gw_uplink(gw, p->rxpk[i].data, p->rxpk[i].data_len, &rx);
            if (g->gw == NULL)
                return; /* the core dropped it meanwhile */
        }
        if (p->has_stat) {
            gs_status_t st;
            status_of(&p->stat, &st);
            gs_gw_status(gw, &st);
        }
        break;
    }
    case GS_UDP_PULL_DATA: {
        size_t n = 0;
        uint8_t ack[GS_UDP_HEADER_LEN];
        if (gs_udp_encode_ack(p->version, p->token, GS_UDP_PULL_ACK, ack, sizeof ack, &n) == 0)
            send_dgram(u, peer, ack, n);
        memcpy(&g->down_addr, peer, addr_len(peer));
        g->has_down = true;
        g->last_pull_ms = now;
        g->down_version = p->version;
        break;
    }
    case GS_UDP_TX_ACK: {
        udp_sent_t *s = NULL;
        for (size_t i = 0; i < UDP_TOKENS; i++)
            if (g->sent[i].used && g->sent[i].token == p->token)
                s = &g->sent[i];
        int result = LW__MSG__TX_ACK_RESULT__SUCCESS;
        const char *raw = NULL;
        if (p->has_txpk_ack && p->txpk_ack.has_error) {
            result = txack_result(p->txpk_ack.error);
            raw = gs_udp_txack_name(p->txpk_ack.error);
        }
        if (s == NULL) {
            drop(u, "tx_ack_unknown_token");
            break;
        }
        s->used = false;
        gs_gw_rtt(gw, gs_now_ns() - s->sent_ns);
        gs_gw_txack(gw, s->tx_id, result, raw, 0);
        break;
    }
    default:
        drop(u, "unexpected_identifier");
        break;
    }
}

static void held_free_all(udp_lookup_t *l)
{
    udp_held_t *h = l->held;
    while (h != NULL) {
        udp_held_t *n = h->next;
        free(h);
        h = n;
    }
    l->held = NULL;
}

static void lookup_unlink(gs_udp_t *u, udp_lookup_t *l)
{
    for (udp_lookup_t **p = &u->lookups; *p != NULL; p = &(*p)->next) {
        if (*p == l) {
            *p = l->next;
            u->nlookups--;
            return;
        }
    }
}

static void lookup_answered(void *arg, const gs_gw_info_t *info, const lw_err_t *err)
{
    udp_lookup_t *l = arg;
    gs_udp_t *u = l->u;
    if (u == NULL) {
        held_free_all(l);
        free(l);
        return;
    }
    lookup_unlink(u, l);
    if (info == NULL) {
        for (size_t i = 0; i < l->nheld; i++)
            drop(u, err != NULL ? "registry_unavailable" : "unknown_gateway");
        held_free_all(l);
        free(l);
        return;
    }
    /* The registry answered: the cache now holds it, so the held datagrams go the hot way. */
    udp_held_t *h = l->held;
    l->held = NULL;
    free(l);
    while (h != NULL) {
        udp_held_t *n = h->next;
        if (!u->stopping)
            handle(u, h->data, h->len, (const struct sockaddr *)&h->peer, true);
        free(h);
        h = n;
    }
}

/* Holds a datagram of an EUI not in the cache and looks it up. */
static void hold(gs_udp_t *u, uint64_t eui, const uint8_t *data, size_t len,
                 const struct sockaddr *peer)
{
    udp_lookup_t *l = u->lookups;
    while (l != NULL && l->eui != eui)
        l = l->next;
    if (l == NULL) {
        if (u->nlookups >= UDP_LOOKUPS_MAX) {
            drop(u, "lookups_full");
            return;
        }
        l = lw_calloc(1, sizeof *l);
        l->u = u;
        l->eui = eui;
        l->tail = &l->held;
        lw_err_t e;
        if (gs_gw_lookup(u->gs, eui, lookup_answered, l, &e) != 0) {
            free(l);
            drop(u, "registry_unavailable");
            return;
        }
        l->next = u->lookups;
        u->lookups = l;
        u->nlookups++;
    }
    if (l->nheld >= UDP_HELD_MAX) {
        drop(u, "lookup_pending");
        return;
    }
    udp_held_t *h = lw_malloc(sizeof *h + len);
    h->next = NULL;
    memcpy(&h->peer, peer, addr_len(peer));
    h->len = len;
    memcpy(h->data, data, len);
    *l->tail = h;
    l->tail = &h->next;
    l->nheld++;
}

static void handle(gs_udp_t *u, const uint8_t *data, size_t len, const struct sockaddr *peer,
                   bool from_lookup)
{
    gs_udp_packet_t *p = &u->pkt;
    int rc = gs_udp_decode(data, len, p);
    if (rc != GS_UDP_OK) {
        drop(u, gs_udp_strerror(rc));
        return;
    }
    if (!p->has_eui) { /* PUSH_ACK, PULL_ACK, PULL_RESP: the server's own kinds */
        drop(u, "unexpected_identifier");
        return;
    }
    gs_t *gs = u->gs;
    uint64_t now = uv_now(gs->loop);
    udp_gw_t **slot = gw_slot(u, p->eui);
    udp_gw_t *g = *slot;
    if (g != NULL && g->gw != NULL && g->has_up && !addr_eq(&g->up_addr, peer) &&
        now - g->last_seen_ms < gs->addr_change_block_ms &&
        !(p->ident == GS_UDP_PULL_DATA || p->ident == GS_UDP_TX_ACK)) {
        /* PUSH_DATA of a connected gateway from another address (TTS addr-change-block);
         * PULL_DATA and TX_ACK come from the downstream socket, whose port differs. */
        if (!(g->has_down && addr_eq(&g->down_addr, peer))) {
            drop(u, "address_changed");
            return;
        }
    }
    if (g == NULL || g->gw == NULL) {
        gs_gw_info_t info;
        int hit = gs_gw_lookup_cached(gs, p->eui, &info);
        if (hit < 0) {
            if (from_lookup) { /* answered but not cached (cache off or full): ask again */
                drop(u, "registry_uncached");
                return;
            }
            hold(u, p->eui, data, len, peer);
            return;
        }
        if (hit == 0) {
            drop(u, "unknown_gateway");
            return;
        }
        if (g == NULL) {
            g = lw_calloc(1, sizeof *g);
            g->u = u;
            g->eui = p->eui;
            *slot = g;
            u->ngw++;
        }
        lw_err_t e;
        lw_err_clear(&e);
        g->gw = gs_gw_connect(gs, &info, UDP_PROTOCOL, &udp_ops, g, &e);
        if (g->gw == NULL) {
            drop(u, lw_err_name(&e)[0] != '\0' ? lw_err_name(&e) : "refused");
            return;
        }
        addr_ip(peer, g->gw->remote_ip, sizeof g->gw->remote_ip);
        /* The gs_gw_connect above may have run the core's close of another entry: the
         * packet struct is untouched (no decoding happens in between). */
    }
    if (p->ident == GS_UDP_PUSH_DATA) {
        memcpy(&g->up_addr, peer, addr_len(peer));
        g->has_up = true;
    }
    g->last_seen_ms = now;
    serve(u, g, p, peer);
}

static void on_datagram(void *arg, lw_udp_t *sock, const uint8_t *data, size_t len,
                        const struct sockaddr *peer)
{
    (void)sock;
    gs_udp_t *u = arg;
    if (u->stopping)
        return;
    handle(u, data, len, peer, false);
}

/* Disconnects gateways silent for gs.udp.connection-expires and forgets their state. */
static void sweep(uv_timer_t *t)
{
    gs_udp_t *u = t->data;
    uint64_t now = uv_now(u->gs->loop);
    uint64_t expiry = u->gs->timeouts.connection_expiry_ms;
    for (size_t i = 0; i < GS_HASH_BUCKETS; i++) {
        udp_gw_t **p = &u->table[i];
        while (*p != NULL) {
            udp_gw_t *g = *p;
            if (now - g->last_seen_ms >= expiry) {
                *p = g->next;
                u->ngw--;
                if (g->gw != NULL)
                    gs_gw_disconnect(g->gw, "connection expired");
                free(g);
            } else {
                p = &g->next;
            }
        }
    }
}

int gs_udp_start(gs_t *gs, lw_err_t *err)
{
    gs_udp_t *u = lw_calloc(1, sizeof *u);
    u->gs = gs;
    char addr[160];
    /* ":1700" means every IPv4 address. */
    snprintf(addr, sizeof addr, "%s%s", gs->udp_listen[0] == ':' ? "0.0.0.0" : "", gs->udp_listen);
    lw_udp_opts_t o = {.addr = addr, .so_rcvbuf = gs->udp_rcvbuf};
    u->sock = lw_udp_new(gs->loop, &o, on_datagram, u, err);
    if (u->sock == NULL) {
        free(u);
        return -1;
    }
    uv_timer_init(gs->loop, &u->sweep);
    u->sweep.data = u;
    uv_timer_start(&u->sweep, sweep, UDP_SWEEP_MS, UDP_SWEEP_MS);
    gs->udp = u;
    char port[16], rcvbuf[24] = "?";
    snprintf(port, sizeof port, "%d", lw_udp_port(u->sock));
    int rb = 0, sb = 0;
    if (lw_udp_socket_buffers(u->sock, &rb, &sb) == 0)
        snprintf(rcvbuf, sizeof rcvbuf, "%d", rb / 2); /* Linux reports twice the value */
    lw_log(LW_LOG_INFO, "gs", "semtech udp listening", "address", addr, "port", port,
           "socket_receive_buffer", rcvbuf, NULL);
    return 0;
}

/* The bound UDP port (tests and logs), -1 when not listening. */
int gs_udp_port(const gs_t *gs)
{
    return gs->udp != NULL && gs->udp->sock != NULL ? lw_udp_port(gs->udp->sock) : -1;
}

static void udp_part_closed(gs_udp_t *u)
{
    if (--u->closing > 0)
        return;
    void (*done)(void *) = u->stop_done;
    void *arg = u->stop_arg;
    u->stop_done = NULL;
    if (done != NULL)
        done(arg);
}

static void sock_closed(void *arg)
{
    udp_part_closed(arg);
}

static void sweep_closed(uv_handle_t *h)
{
    udp_part_closed(h->data);
}

void gs_udp_stop(gs_t *gs, void (*done)(void *arg), void *arg)
{
    gs_udp_t *u = gs->udp;
    if (u == NULL) {
        done(arg);
        return;
    }
    u->stopping = true;
    for (size_t i = 0; i < GS_HASH_BUCKETS; i++) {
        for (udp_gw_t *g = u->table[i]; g != NULL; g = g->next) {
            if (g->gw != NULL) {
                gs_gw_t *gw = g->gw;
                g->gw = NULL;
                gs_gw_disconnect(gw, "stopping");
            }
        }
    }
    for (udp_lookup_t *l = u->lookups; l != NULL; l = l->next)
        l->u = NULL; /* the core answers them; the answer frees them */
    u->lookups = NULL;
    u->nlookups = 0;
    u->stop_done = done;
    u->stop_arg = arg;
    u->closing = 2;
    uv_timer_stop(&u->sweep);
    uv_close((uv_handle_t *)&u->sweep, sweep_closed);
    lw_udp_close(u->sock, sock_closed, u);
}

void gs_udp_free(gs_t *gs)
{
    gs_udp_t *u = gs->udp;
    if (u == NULL)
        return;
    lw_udp_free(u->sock);
    for (size_t i = 0; i < GS_HASH_BUCKETS; i++) {
        udp_gw_t *g = u->table[i];
        while (g != NULL) {
            udp_gw_t *n = g->next;
            free(g);
            g = n;
        }
    }
    free(u);
    gs->udp = NULL;
}
