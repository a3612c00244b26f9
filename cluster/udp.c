#include "cluster/udp.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/mem.h"
#include "cluster/net_private.h"

/* libuv's recvmmsg: one 64 KiB slot per datagram, at most 20 datagrams per call. */
#define UDP_MMSG_SLOT 65536u
#define UDP_MMSG_MAX  20u

/* Counters of a peer entry (lw_net_peer_t.v). */
enum { PEER_RX_N, PEER_RX_BYTES, PEER_TX_N, PEER_TX_BYTES, PEER_TX_DROPPED };

struct lw_udp {
    uv_udp_t handle;
    lw_udp_opts_t opts; /* defaults filled in; addr not kept */
    lw_udp_recv_cb cb;
    void *arg;
    uint8_t *rbuf; /* lent to libuv for each read: opts.recv_buf bytes, or recv_batch slots */
    size_t rbuf_len;
    lw_net_peers_t *peers;
    int port;
    bool closing;
    void (*close_done)(void *arg);
    void *close_arg;
    size_t queued_count, queued_bytes;
    lw_udp_stats_t st; /* counters; the gauges are filled in by lw_udp_stats */
};

/* A queued datagram: the request, its destination and its bytes in one allocation. */
typedef struct udp_send {
    uv_udp_send_t req;
    lw_udp_t *u;
    struct sockaddr_storage to;
    size_t len;
    uint8_t data[];
} udp_send_t;

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    lw_udp_t *u = h->data;
    /* libuv hands each datagram (or each batch, ending with UV_UDP_MMSG_FREE) to udp_recv
     * before it asks for a buffer again, so one buffer serves every read. */
    *buf = uv_buf_init((char *)u->rbuf, (unsigned)u->rbuf_len);
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                     unsigned flags)
{
    lw_udp_t *u = h->data;
    if (nread < 0) {
        u->st.rx_errors++;
        return;
    }
    if (addr == NULL || u->closing)
        return; /* nothing more to read this time, or the end of a batch (UV_UDP_MMSG_FREE) */
    if ((flags & UV_UDP_PARTIAL) || (size_t)nread > u->opts.recv_buf) {
        u->st.rx_truncated++;
        return;
    }
    u->st.rx_datagrams++;
    u->st.rx_bytes += (uint64_t)nread;
    lw_net_peer_t *p = lw_net_peers_get(u->peers, addr);
    if (p != NULL) {
        p->v[PEER_RX_N]++;
        p->v[PEER_RX_BYTES] += (uint64_t)nread;
    }
    u->cb(u->arg, u, (const uint8_t *)buf->base, (size_t)nread, addr);
}

static int udp_bind(lw_udp_t *u, const char *addr, lw_err_t *err)
{
    struct sockaddr_storage ss;
    if (lw_net_addr_parse(addr, &ss, err) != 0)
        return -1;
    int rc = uv_udp_bind(&u->handle, (const struct sockaddr *)&ss, 0);
    if (rc == 0 && u->opts.so_rcvbuf > 0)
        rc = uv_recv_buffer_size((uv_handle_t *)&u->handle, &u->opts.so_rcvbuf);
    if (rc == 0 && u->opts.so_sndbuf > 0)
        rc = uv_send_buffer_size((uv_handle_t *)&u->handle, &u->opts.so_sndbuf);
    int len = sizeof ss;
    if (rc == 0)
        rc = uv_udp_getsockname(&u->handle, (struct sockaddr *)&ss, &len);
    if (rc == 0)
        rc = uv_udp_recv_start(&u->handle, udp_alloc, udp_recv);
    if (rc != 0) {
        lw_err_set(err, &lw_err_udp_bind_failed, "cannot bind UDP socket on `%s`: %s", addr,
                   uv_strerror(rc));
        lw_err_attr(err, "address", addr);
        return -1;
    }
    u->port = lw_net_addr_port(&ss);
    return 0;
}

static void udp_free_unopened(uv_handle_t *h)
{
    lw_udp_free(h->data);
}

lw_udp_t *lw_udp_new(uv_loop_t *loop, const lw_udp_opts_t *opts, lw_udp_recv_cb cb, void *arg,
                     lw_err_t *err)
{
    lw_udp_t *u = lw_calloc(1, sizeof *u);
    u->opts = *opts;
    u->opts.addr = NULL;
    lw_net_default(&u->opts.recv_buf, LW_UDP_DEFAULT_RECV_BUF);
    lw_net_default(&u->opts.send_queue_count, LW_UDP_DEFAULT_SEND_COUNT);
    lw_net_default(&u->opts.send_queue_bytes, LW_UDP_DEFAULT_SEND_BYTES);
    lw_net_default(&u->opts.peers_max, LW_UDP_DEFAULT_PEERS);
    lw_net_default(&u->opts.recv_batch, LW_UDP_DEFAULT_RECV_BATCH);
    u->cb = cb;
    u->arg = arg;
    if (opts->addr == NULL || u->opts.recv_buf > UINT32_MAX || u->opts.so_rcvbuf < 0 ||
        u->opts.so_sndbuf < 0 || u->opts.recv_batch > UDP_MMSG_MAX) {
        lw_err_set(err, &lw_err_invalid_argument, "invalid UDP socket options");
        goto fail;
    }
    /* Batched reads: libuv's recvmmsg cuts the buffer into 64 KiB slots (its datagram
     * maximum), so a batch needs that much per datagram whatever recv_buf is. */
    bool mmsg = u->opts.recv_batch > 1 && u->opts.recv_buf <= UDP_MMSG_SLOT;
    u->rbuf_len = mmsg ? u->opts.recv_batch * UDP_MMSG_SLOT : u->opts.recv_buf;
    u->rbuf = lw_malloc(u->rbuf_len);
    u->peers = lw_net_peers_new(u->opts.peers_max, true, -1);
    if (u->peers == NULL ||
        uv_udp_init_ex(loop, &u->handle, AF_UNSPEC | (mmsg ? UV_UDP_RECVMMSG : 0)) != 0) {
        lw_err_set(err, &lw_err_internal, "cannot create the UDP socket");
        goto fail;
    }
    u->handle.data = u;
    if (udp_bind(u, opts->addr, err) != 0) {
        /* The handle is known to the loop: its memory goes in the close callback. */
        uv_close((uv_handle_t *)&u->handle, udp_free_unopened);
        return NULL;
    }
    return u;
fail:
    lw_udp_free(u);
    return NULL;
}

int lw_udp_port(const lw_udp_t *u)
{
    return u->port;
}

int lw_udp_socket_buffers(const lw_udp_t *u, int *rcvbuf, int *sndbuf)
{
    uv_handle_t *h = (uv_handle_t *)&u->handle; /* a value of 0 reads, changes nothing */
    *rcvbuf = *sndbuf = 0;
    return uv_recv_buffer_size(h, rcvbuf) == 0 && uv_send_buffer_size(h, sndbuf) == 0 ? 0 : -1;
}

static void udp_sent(uv_udp_send_t *req, int status)
{
    udp_send_t *s = req->data;
    lw_udp_t *u = s->u;
    u->queued_count--;
    u->queued_bytes -= s->len;
    if (status != 0) {
        u->st.tx_errors++;
    } else {
        u->st.tx_datagrams++;
        u->st.tx_bytes += s->len;
        lw_net_peer_t *p = lw_net_peers_get(u->peers, (const struct sockaddr *)&s->to);
        if (p != NULL) {
            p->v[PEER_TX_N]++;
            p->v[PEER_TX_BYTES] += s->len;
        }
    }
    free(s);
}

static socklen_t addr_len(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

int lw_udp_send(lw_udp_t *u, const struct sockaddr *to, const void *data, size_t len, lw_err_t *err)
{
    if (u->closing)
        return lw_err_set(err, &lw_err_udp_closed, NULL);
    if (len > LW_UDP_MAX_DATAGRAM || (to->sa_family != AF_INET && to->sa_family != AF_INET6))
        return lw_err_set(err, &lw_err_invalid_argument,
                          "cannot send a %zu-byte datagram to that address", len);
    if (u->queued_count + 1 > u->opts.send_queue_count ||
        u->queued_bytes + len > u->opts.send_queue_bytes) {
        u->st.tx_dropped++;
        lw_net_peer_t *p = lw_net_peers_get(u->peers, to);
        if (p != NULL)
            p->v[PEER_TX_DROPPED]++;
        lw_err_set(err, &lw_err_udp_send_queue_full,
                   "UDP send queue full (%zu datagrams, %zu bytes queued)", u->queued_count,
                   u->queued_bytes);
        lw_err_attr_num(err, "queued", (long long)u->queued_count);
        return -1;
    }
    udp_send_t *s = lw_malloc(sizeof *s + len);
    s->req.data = s;
    s->u = u;
    s->len = len;
    memset(&s->to, 0, sizeof s->to);
    memcpy(&s->to, to, addr_len(to));
    if (len > 0)
        memcpy(s->data, data, len);
    uv_buf_t b = uv_buf_init((char *)s->data, (unsigned)len);
    int rc = uv_udp_send(&s->req, &u->handle, &b, 1, (const struct sockaddr *)&s->to, udp_sent);
    if (rc != 0) {
        free(s);
        u->st.tx_errors++;
        lw_err_set(err, &lw_err_udp_send_failed, "UDP send failed: %s", uv_strerror(rc));
        return -1;
    }
    u->queued_count++;
    u->queued_bytes += len;
    return 0;
}

static void udp_closed(uv_handle_t *h)
{
    lw_udp_t *u = h->data;
    if (u->close_done != NULL)
        u->close_done(u->close_arg);
}

void lw_udp_close(lw_udp_t *u, void (*done)(void *arg), void *arg)
{
    if (u->closing)
        return;
    u->closing = true;
    u->close_done = done;
    u->close_arg = arg;
    /* Queued sends complete with UV_ECANCELED (tx_errors) before udp_closed runs. */
    uv_close((uv_handle_t *)&u->handle, udp_closed);
}

void lw_udp_free(lw_udp_t *u)
{
    if (u == NULL)
        return;
    lw_net_peers_free(u->peers);
    free(u->rbuf);
    free(u);
}

void lw_udp_stats(const lw_udp_t *u, lw_udp_stats_t *out)
{
    *out = u->st;
    out->send_queue_count = u->queued_count;
    out->send_queue_bytes = u->queued_bytes;
    out->peers = lw_net_peers_count(u->peers);
    out->peers_evicted = lw_net_peers_evicted(u->peers);
}

static void peer_stats(const lw_net_peer_t *p, lw_udp_peer_stats_t *out)
{
    *out = (lw_udp_peer_stats_t){
        .rx_datagrams = p->v[PEER_RX_N],
        .rx_bytes = p->v[PEER_RX_BYTES],
        .tx_datagrams = p->v[PEER_TX_N],
        .tx_bytes = p->v[PEER_TX_BYTES],
        .tx_dropped = p->v[PEER_TX_DROPPED],
    };
}

int lw_udp_peer_stats(const lw_udp_t *u, const struct sockaddr *peer, lw_udp_peer_stats_t *out)
{
    const lw_net_peer_t *p = lw_net_peers_find(u->peers, peer);
    if (p == NULL)
        return -1;
    peer_stats(p, out);
    return 0;
}

typedef struct udp_each {
    void (*fn)(void *arg, const struct sockaddr *peer, const lw_udp_peer_stats_t *st);
    void *arg;
} udp_each_t;

static void udp_each_peer(void *arg, const lw_net_peer_t *p)
{
    udp_each_t *e = arg;
    lw_udp_peer_stats_t st;
    peer_stats(p, &st);
    e->fn(e->arg, (const struct sockaddr *)&p->addr, &st);
}

void lw_udp_peers_each(const lw_udp_t *u,
                       void (*fn)(void *arg, const struct sockaddr *peer,
                                  const lw_udp_peer_stats_t *st),
                       void *arg)
{
    udp_each_t e = {fn, arg};
    lw_net_peers_each(u->peers, udp_each_peer, &e);
}
