#include "cluster/tcp.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "cluster/mem.h"
#include "cluster/net_private.h"

/* TLS: ciphertext read from the socket per read, and the most that may wait unread in a
 * connection's input BIO before reading stops (TLS records are at most 16 KiB + overhead). */
#define TLS_RAW_CAP 18432u

/* Counters of a peer entry (lw_net_peer_t.v); PEER_OPEN pins the entry. */
enum { PEER_OPEN, PEER_ACCEPTED, PEER_REJECTED, PEER_RX, PEER_TX };

struct lw_tcp_conn {
    uv_tcp_t handle;
    uv_shutdown_t shut;
    lw_tcp_listener_t *l;
    lw_tcp_conn_t *prev, *next; /* in l->conns while shown */
    lw_net_peer_t *pe;          /* pinned while shown (PEER_OPEN > 0) */
    struct sockaddr_storage peer;
    void *data;
    uint8_t *in; /* l->opts.input_cap bytes */
    size_t in_len;
    size_t out_queued;
    bool shown;   /* on_accept ran: on_close is owed */
    bool closing; /* uv_close called */
    bool ending;  /* lw_tcp_conn_end: output drains, then close */
    bool reading;
    bool user_paused;
    bool in_data; /* inside on_data */
    bool eof;     /* the peer's EOF came while output was queued */
    const lw_err_def_t *why;
    int why_uv; /* libuv error of a failed connection */
    /* TLS (listener with a certificate): the socket carries ciphertext, `in` plaintext. */
    SSL *ssl;
    BIO *rbio, *wbio; /* memory BIOs owned by ssl: socket → rbio, wbio → socket */
    uint8_t *raw;     /* TLS_RAW_CAP bytes: what one read takes from the socket */
};

struct lw_tcp_listener {
    uv_tcp_t server;
    uv_loop_t *loop;
    lw_tcp_opts_t opts; /* defaults filled in; addr not kept */
    lw_tcp_handler_t h;
    void *arg;
    lw_net_peers_t *peers;
    lw_tcp_conn_t *conns;
    size_t handles; /* connection handles not yet closed, shown or not, and the spare */
    uv_tcp_t spare; /* takes a connection there is no memory for, to close it */
    bool spare_busy, accept_pending;
    int port;
    bool closing, server_closed, done_called;
    void (*done)(void *arg);
    void *done_arg;
    lw_tcp_stats_t st;
    SSL_CTX *tls; /* NULL: plain TCP */
};

/* A queued write: the request and its bytes in one allocation. */
typedef struct tcp_write {
    uv_write_t req;
    lw_tcp_conn_t *c;
    size_t len;
    uint8_t data[];
} tcp_write_t;

/* ---- closing ------------------------------------------------------------------------------- */

static void listener_maybe_done(lw_tcp_listener_t *l)
{
    if (l->closing && l->server_closed && l->handles == 0 && !l->done_called) {
        l->done_called = true;
        if (l->done != NULL)
            l->done(l->done_arg);
    }
}

static void conn_closed(uv_handle_t *h)
{
    lw_tcp_conn_t *c = h->data;
    lw_tcp_listener_t *l = c->l;
    if (c->shown) {
        if (c->prev != NULL)
            c->prev->next = c->next;
        else
            l->conns = c->next;
        if (c->next != NULL)
            c->next->prev = c->prev;
        l->st.connections--;
        c->pe->v[PEER_OPEN]--;
        lw_err_t why;
        lw_err_clear(&why);
        if (c->why == &lw_err_tcp_connection_failed)
            lw_err_set(&why, c->why, "connection failed: %s", uv_strerror(c->why_uv));
        else if (c->why != NULL)
            lw_err_set(&why, c->why, NULL);
        l->h.on_close(l->arg, c, c->why != NULL ? &why : NULL);
    }
    SSL_free(c->ssl); /* and its BIOs */
    free(c->raw);
    free(c->in);
    free(c);
    l->handles--;
    listener_maybe_done(l);
}

static void conn_close_why(lw_tcp_conn_t *c, const lw_err_def_t *why, int uv_err)
{
    if (c->closing)
        return;
    c->closing = true;
    c->reading = false;
    c->why = why;
    c->why_uv = uv_err;
    /* Pending writes and a pending shutdown complete with UV_ECANCELED before conn_closed. */
    uv_close((uv_handle_t *)&c->handle, conn_closed);
}

void lw_tcp_conn_close(lw_tcp_conn_t *c)
{
    conn_close_why(c, NULL, 0);
}

static void conn_shut(uv_shutdown_t *req, int status)
{
    (void)status; /* written or not, the connection goes now */
    lw_tcp_conn_t *c = req->data;
    conn_close_why(c, c->eof ? &lw_err_tcp_peer_closed : NULL, 0);
}

/* ---- reading ------------------------------------------------------------------------------- */

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    lw_tcp_conn_t *c = h->data;
    if (c->ssl != NULL) {
        *buf = uv_buf_init((char *)c->raw, TLS_RAW_CAP);
        return;
    }
    size_t room = c->l->opts.input_cap - c->in_len;
    *buf = uv_buf_init((char *)c->in + c->in_len, (unsigned)room);
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* Reads while the consumer has not paused, the buffer has room and the connection is
 * neither ending nor closing. */
static void conn_update_reading(lw_tcp_conn_t *c)
{
    bool full = c->in_len >= c->l->opts.input_cap ||
                (c->ssl != NULL && BIO_ctrl_pending(c->rbio) >= TLS_RAW_CAP);
    bool want = !c->closing && !c->ending && !c->user_paused && !full;
    if (want && !c->reading) {
        int rc = uv_read_start((uv_stream_t *)&c->handle, conn_alloc, conn_read);
        if (rc != 0) {
            conn_close_why(c, &lw_err_tcp_connection_failed, rc);
            return;
        }
        c->reading = true;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->handle);
        c->reading = false;
        if (full)
            c->l->st.input_full++;
    }
}

static int tls_flush(lw_tcp_conn_t *c);
static int tls_pump(lw_tcp_conn_t *c);

/* Shows the unconsumed input to the consumer and keeps what it left. With TLS, decrypts
 * what the input BIO holds into the room left, and again as the consumer makes room. */
static void conn_deliver(lw_tcp_conn_t *c)
{
    bool again = true;
    while (again) {
        again = false;
        if (c->ssl != NULL && tls_pump(c) != 0)
            return;
        if (c->in_len > 0 && !c->closing && !c->ending) {
            c->in_data = true;
            size_t n = c->l->h.on_data(c->l->arg, c, c->in, c->in_len);
            c->in_data = false;
            if (c->closing)
                return;
            if (n > c->in_len)
                n = c->in_len;
            memmove(c->in, c->in + n, c->in_len - n);
            c->in_len -= n;
            again = c->ssl != NULL && n > 0 && !c->user_paused && !c->ending &&
                    (SSL_pending(c->ssl) > 0 || BIO_ctrl_pending(c->rbio) > 0);
        }
    }
    conn_update_reading(c);
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    lw_tcp_conn_t *c = s->data;
    if (nread == 0 || c->closing)
        return;
    if (nread == UV_ENOBUFS) { /* no room: cannot happen while reading is managed */
        conn_update_reading(c);
        return;
    }
    if (nread < 0) {
        if (nread != UV_EOF) {
            conn_close_why(c, &lw_err_tcp_connection_failed, (int)nread);
        } else if (c->out_queued == 0) {
            conn_close_why(c, &lw_err_tcp_peer_closed, 0);
        } else {
            /* A peer that half-closes after its last request still gets the replies. */
            c->eof = true;
            lw_tcp_conn_end(c);
        }
        return;
    }
    c->l->st.rx_bytes += (uint64_t)nread;
    c->pe->v[PEER_RX] += (uint64_t)nread;
    if (c->ssl != NULL)
        BIO_write(c->rbio, c->raw, (int)nread); /* a memory BIO takes it all */
    else
        c->in_len += (size_t)nread;
    conn_deliver(c);
}

void lw_tcp_conn_pause(lw_tcp_conn_t *c)
{
    c->user_paused = true;
    conn_update_reading(c);
}

void lw_tcp_conn_resume(lw_tcp_conn_t *c)
{
    c->user_paused = false;
    if (c->in_data)
        return; /* conn_deliver updates reading when on_data returns */
    conn_deliver(c);
}

/* ---- writing ------------------------------------------------------------------------------- */

static void conn_written(uv_write_t *req, int status)
{
    tcp_write_t *w = req->data;
    lw_tcp_conn_t *c = w->c;
    c->out_queued -= w->len;
    if (status == 0) {
        c->l->st.tx_bytes += w->len;
        c->pe->v[PEER_TX] += w->len;
    } else if (status != UV_ECANCELED) {
        conn_close_why(c, &lw_err_tcp_connection_failed, status);
    }
    free(w);
}

/* Writes bytes to the socket (ciphertext with TLS, the data itself without): what the kernel
 * takes at once is written now (uv_try_write, when nothing waits before it), the rest is
 * queued. Only the queued part counts in out_queued, so a connection that keeps up never
 * looks full because the write callbacks of this loop turn have not run yet. */
static int conn_queue(lw_tcp_conn_t *c, const void *data, size_t len, lw_err_t *err)
{
    if (c->out_queued == 0) {
        uv_buf_t now = uv_buf_init((char *)data, (unsigned)len);
        int n = uv_try_write((uv_stream_t *)&c->handle, &now, 1);
        if (n < 0 && n != UV_EAGAIN && n != UV_ENOSYS)
            return lw_err_set(err, &lw_err_tcp_connection_failed, "write failed: %s",
                              uv_strerror(n));
        if (n > 0) {
            c->l->st.tx_bytes += (uint64_t)n;
            c->pe->v[PEER_TX] += (uint64_t)n;
            data = (const uint8_t *)data + n;
            len -= (size_t)n;
            if (len == 0)
                return 0;
        }
    }
    tcp_write_t *w = lw_malloc(sizeof *w + len);
    w->req.data = w;
    w->c = c;
    w->len = len;
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->handle, &b, 1, conn_written);
    if (rc != 0) {
        free(w);
        return lw_err_set(err, &lw_err_tcp_connection_failed, "write failed: %s", uv_strerror(rc));
    }
    c->out_queued += len;
    return 0;
}

/* ---- TLS ----------------------------------------------------------------------------------- */

/* Writes what OpenSSL produced (handshake, records, alerts) to the socket. */
static int tls_flush(lw_tcp_conn_t *c)
{
    uint8_t buf[16384];
    int n;
    while ((n = BIO_read(c->wbio, buf, sizeof buf)) > 0) {
        lw_err_t err;
        if (conn_queue(c, buf, (size_t)n, &err) != 0) {
            conn_close_why(c, &lw_err_tcp_connection_failed, UV_EIO);
            return -1;
        }
    }
    return 0;
}

/* Decrypts into the input buffer's room (and drives the handshake). Returns 0, or -1 when
 * the connection is closing (a TLS error, or the peer's close_notify handled as its EOF). */
static int tls_pump(lw_tcp_conn_t *c)
{
    if (c->closing)
        return -1;
    while (c->in_len < c->l->opts.input_cap) {
        size_t room = c->l->opts.input_cap - c->in_len;
        int n = SSL_read(c->ssl, c->in + c->in_len, room > INT32_MAX ? INT32_MAX : (int)room);
        if (n > 0) {
            c->in_len += (size_t)n;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        ERR_clear_error();
        (void)tls_flush(c); /* an alert, if any */
        if (e == SSL_ERROR_ZERO_RETURN) {
            c->eof = true;
            if (c->out_queued == 0)
                conn_close_why(c, &lw_err_tcp_peer_closed, 0);
            else
                lw_tcp_conn_end(c);
        } else {
            conn_close_why(c, &lw_err_tcp_connection_failed, UV_EPROTO);
        }
        return -1;
    }
    return tls_flush(c);
}

int lw_tcp_conn_write(lw_tcp_conn_t *c, const void *data, size_t len, lw_err_t *err)
{
    if (c->closing || c->ending)
        return lw_err_set(err, &lw_err_tcp_connection_closed, NULL);
    if (len == 0)
        return 0;
    if (c->out_queued + len > c->l->opts.output_cap) {
        c->l->st.output_full++;
        lw_err_set(err, &lw_err_tcp_output_full,
                   "connection output queue full (%zu bytes queued, cap %zu)", c->out_queued,
                   c->l->opts.output_cap);
        lw_err_attr_num(err, "queued", (long long)c->out_queued);
        return -1;
    }
    if (c->ssl == NULL)
        return conn_queue(c, data, len, err);
    /* Memory BIOs never block: once the handshake is done SSL_write takes everything. */
    int n = SSL_write(c->ssl, data, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n <= 0 || (size_t)n != len) {
        ERR_clear_error();
        return lw_err_set(err, &lw_err_tcp_connection_failed,
                          "TLS write refused (handshake not finished)");
    }
    return tls_flush(c) == 0 ? 0
                             : lw_err_set(err, &lw_err_tcp_connection_failed, "TLS write failed");
}

void lw_tcp_conn_end(lw_tcp_conn_t *c)
{
    if (c->closing || c->ending)
        return;
    c->ending = true;
    conn_update_reading(c);
    if (c->ssl != NULL && SSL_is_init_finished(c->ssl)) {
        SSL_shutdown(c->ssl); /* close_notify */
        ERR_clear_error();
        if (tls_flush(c) != 0)
            return;
    }
    /* uv_shutdown waits for the queued writes, then sends FIN. */
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->handle, conn_shut) != 0)
        conn_close_why(c, NULL, 0);
}

/* ---- accepting ----------------------------------------------------------------------------- */

/* Counts and places a new connection, or says why it is refused. */
static const char *conn_admit(lw_tcp_listener_t *l, lw_tcp_conn_t *c)
{
    int len = sizeof c->peer;
    if (uv_tcp_getpeername(&c->handle, (struct sockaddr *)&c->peer, &len) != 0)
        return "gone";
    lw_net_peer_t *pe = lw_net_peers_get(l->peers, (const struct sockaddr *)&c->peer);
    if (pe == NULL || l->st.connections >= l->opts.max_connections) {
        l->st.rejected_max++;
        if (pe != NULL)
            pe->v[PEER_REJECTED]++;
        return "max";
    }
    if (l->opts.max_per_peer > 0 && pe->v[PEER_OPEN] >= l->opts.max_per_peer) {
        l->st.rejected_peer++;
        pe->v[PEER_REJECTED]++;
        return "peer";
    }
    if (l->tls != NULL) {
        c->ssl = SSL_new(l->tls);
        if (c->ssl == NULL)
            return "tls";
        c->rbio = BIO_new(BIO_s_mem());
        c->wbio = BIO_new(BIO_s_mem());
        SSL_set_bio(c->ssl, c->rbio, c->wbio);
        SSL_set_accept_state(c->ssl);
        c->raw = lw_malloc(TLS_RAW_CAP);
    }
    c->in = lw_malloc(l->opts.input_cap);
    c->pe = pe;
    pe->v[PEER_OPEN]++;
    pe->v[PEER_ACCEPTED]++;
    l->st.connections++;
    l->st.accepted++;
    c->shown = true;
    c->next = l->conns;
    if (l->conns != NULL)
        l->conns->prev = c;
    l->conns = c;
    return NULL;
}

static void spare_closed(uv_handle_t *h);

/* No memory for a connection. libuv has already accepted the socket and stops watching the
 * listener until uv_accept takes it, so it is taken into the listener's spare handle and
 * closed; while the spare is still closing, that happens in its close callback. */
static void reject_unallocated(lw_tcp_listener_t *l)
{
    if (l->spare_busy) {
        l->accept_pending = true;
        return;
    }
    uv_tcp_init(l->loop, &l->spare);
    l->spare.data = l;
    l->spare_busy = true;
    l->handles++;
    uv_accept((uv_stream_t *)&l->server, (uv_stream_t *)&l->spare);
    uv_close((uv_handle_t *)&l->spare, spare_closed);
}

static void spare_closed(uv_handle_t *h)
{
    lw_tcp_listener_t *l = h->data;
    l->spare_busy = false;
    l->handles--;
    if (l->accept_pending && !l->closing) {
        l->accept_pending = false;
        reject_unallocated(l);
    }
    listener_maybe_done(l);
}

static void on_connection(uv_stream_t *server, int status)
{
    lw_tcp_listener_t *l = server->data;
    if (status != 0 || l->closing)
        return;
    lw_tcp_conn_t *c = lw_calloc(1, sizeof *c);
    if (uv_tcp_init(l->loop, &c->handle) != 0) {
        free(c);
        reject_unallocated(l);
        return;
    }
    c->l = l;
    c->handle.data = c;
    l->handles++;
    if (uv_accept(server, (uv_stream_t *)&c->handle) != 0 || conn_admit(l, c) != NULL) {
        conn_close_why(c, NULL, 0); /* accepted and closed at once, never shown */
        return;
    }
    uv_tcp_nodelay(&c->handle, 1);
    l->h.on_accept(l->arg, c);
    if (!c->closing)
        conn_update_reading(c);
}

/* ---- the listener -------------------------------------------------------------------------- */

static void listener_free_unopened(uv_handle_t *h)
{
    lw_tcp_listener_free(h->data);
}

static int listener_bind(lw_tcp_listener_t *l, const char *addr, lw_err_t *err)
{
    struct sockaddr_storage ss;
    if (lw_net_addr_parse(addr, &ss, err) != 0)
        return -1;
    int rc = uv_tcp_bind(&l->server, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->server, l->opts.backlog, on_connection);
    int len = sizeof ss;
    if (rc == 0)
        rc = uv_tcp_getsockname(&l->server, (struct sockaddr *)&ss, &len);
    if (rc != 0) {
        lw_err_set(err, &lw_err_tcp_listen_failed, "cannot listen on `%s`: %s", addr,
                   uv_strerror(rc));
        lw_err_attr(err, "address", addr);
        return -1;
    }
    l->port = lw_net_addr_port(&ss);
    return 0;
}

/* The server context: TLS 1.2 or later, the certificate chain and its key (PEM files). */
static int tls_ctx_new(lw_tcp_listener_t *l, const lw_tcp_opts_t *opts, lw_err_t *err)
{
    l->tls = SSL_CTX_new(TLS_server_method());
    if (l->tls == NULL)
        return lw_err_set(err, &lw_err_internal, "cannot create a TLS context");
    SSL_CTX_set_min_proto_version(l->tls, TLS1_2_VERSION);
    SSL_CTX_set_mode(l->tls, SSL_MODE_RELEASE_BUFFERS);
    const char *key =
        opts->tls_key != NULL && opts->tls_key[0] != '\0' ? opts->tls_key : opts->tls_certificate;
    if (SSL_CTX_use_certificate_chain_file(l->tls, opts->tls_certificate) != 1 ||
        SSL_CTX_use_PrivateKey_file(l->tls, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(l->tls) != 1) {
        char why[160];
        ERR_error_string_n(ERR_get_error(), why, sizeof why);
        ERR_clear_error();
        return lw_err_set(err, &lw_err_invalid_argument,
                          "cannot load the TLS certificate `%s` and its key: %s",
                          opts->tls_certificate, why);
    }
    return 0;
}

lw_tcp_listener_t *lw_tcp_listen(uv_loop_t *loop, const lw_tcp_opts_t *opts,
                                 const lw_tcp_handler_t *h, void *arg, lw_err_t *err)
{
    if (opts->addr == NULL || opts->backlog < 0 || h->on_accept == NULL || h->on_data == NULL ||
        h->on_close == NULL) {
        lw_err_set(err, &lw_err_invalid_argument, "invalid TCP listener options");
        return NULL;
    }
    lw_tcp_listener_t *l = lw_calloc(1, sizeof *l);
    l->loop = loop;
    l->opts = *opts;
    l->opts.addr = NULL;
    if (l->opts.backlog == 0)
        l->opts.backlog = LW_TCP_DEFAULT_BACKLOG;
    lw_net_default(&l->opts.max_connections, LW_TCP_DEFAULT_MAX_CONNS);
    lw_net_default(&l->opts.input_cap, LW_TCP_DEFAULT_INPUT_CAP);
    lw_net_default(&l->opts.output_cap, LW_TCP_DEFAULT_OUTPUT_CAP);
    lw_net_default(&l->opts.peers_max, LW_TCP_DEFAULT_PEERS);
    /* Every open connection pins its peer, so one more entry than connections always
     * leaves room for a newcomer. */
    if (l->opts.peers_max <= l->opts.max_connections)
        l->opts.peers_max = l->opts.max_connections + 1;
    l->h = *h;
    l->arg = arg;
    l->peers = lw_net_peers_new(l->opts.peers_max, false, PEER_OPEN);
    if (l->peers == NULL || l->opts.input_cap > UINT32_MAX || uv_tcp_init(loop, &l->server) != 0) {
        lw_net_peers_free(l->peers);
        free(l);
        lw_err_set(err, &lw_err_internal, "cannot create the TCP listener");
        return NULL;
    }
    l->server.data = l;
    if (opts->tls_certificate != NULL && opts->tls_certificate[0] != '\0' &&
        tls_ctx_new(l, opts, err) != 0) {
        uv_close((uv_handle_t *)&l->server, listener_free_unopened);
        return NULL;
    }
    if (listener_bind(l, opts->addr, err) != 0) {
        uv_close((uv_handle_t *)&l->server, listener_free_unopened);
        return NULL;
    }
    return l;
}

int lw_tcp_listener_port(const lw_tcp_listener_t *l)
{
    return l->port;
}

static void server_closed(uv_handle_t *h)
{
    lw_tcp_listener_t *l = h->data;
    l->server_closed = true;
    listener_maybe_done(l);
}

void lw_tcp_listener_close(lw_tcp_listener_t *l, void (*done)(void *arg), void *arg)
{
    if (l->closing)
        return;
    l->closing = true;
    l->done = done;
    l->done_arg = arg;
    uv_close((uv_handle_t *)&l->server, server_closed);
    /* Connections leave the list in their close callbacks, later. */
    for (lw_tcp_conn_t *c = l->conns; c != NULL; c = c->next)
        lw_tcp_conn_close(c);
}

void lw_tcp_listener_free(lw_tcp_listener_t *l)
{
    if (l == NULL)
        return;
    SSL_CTX_free(l->tls);
    lw_net_peers_free(l->peers);
    free(l);
}

/* ---- accessors ----------------------------------------------------------------------------- */

void lw_tcp_conn_set_data(lw_tcp_conn_t *c, void *data)
{
    c->data = data;
}

void *lw_tcp_conn_data(const lw_tcp_conn_t *c)
{
    return c->data;
}

const struct sockaddr *lw_tcp_conn_peer(const lw_tcp_conn_t *c)
{
    return (const struct sockaddr *)&c->peer;
}

size_t lw_tcp_conn_output_queued(const lw_tcp_conn_t *c)
{
    return c->out_queued;
}

bool lw_tcp_conn_paused(const lw_tcp_conn_t *c)
{
    return !c->reading;
}

void lw_tcp_listener_stats(const lw_tcp_listener_t *l, lw_tcp_stats_t *out)
{
    *out = l->st;
    out->peers = lw_net_peers_count(l->peers);
    out->peers_evicted = lw_net_peers_evicted(l->peers);
}

int lw_tcp_peer_stats(const lw_tcp_listener_t *l, const struct sockaddr *peer,
                      lw_tcp_peer_stats_t *out)
{
    const lw_net_peer_t *p = lw_net_peers_find(l->peers, peer);
    if (p == NULL)
        return -1;
    *out = (lw_tcp_peer_stats_t){
        .connections = p->v[PEER_OPEN],
        .accepted = p->v[PEER_ACCEPTED],
        .rejected = p->v[PEER_REJECTED],
        .rx_bytes = p->v[PEER_RX],
        .tx_bytes = p->v[PEER_TX],
    };
    return 0;
}
