/* TCP listeners on the libuv loop, with bounded buffers per connection, a connection cap
 * and per-peer accounting (the MQTT server).
 *
 * Input. Each connection owns one input buffer of `input_cap` bytes. Bytes read from the
 * socket are appended to it and the consumer's on_data sees everything not yet consumed;
 * it returns how many bytes it consumed (a whole number of its messages), and the rest stays
 * for the next call. When the unconsumed input fills the buffer, the connection stops
 * reading (uv_read_stop): the kernel's buffers fill and TCP flow control pushes back on the
 * peer. It reads again when the consumer makes room: lw_tcp_conn_resume presents the
 * unconsumed input once more. A consumer that cannot make progress on a full buffer (a
 * message larger than input_cap) should close the connection, or it stays paused. The
 * consumer may also pause on its own (lw_tcp_conn_pause), e.g. while its downstream is busy.
 *
 * Output. lw_tcp_conn_write copies into a queue bounded at `output_cap` bytes; bytes count
 * from the write until libuv reports them written. A write that would exceed the cap is
 * refused (tcp_output_full) with nothing queued; the connection stays open and the owner
 * decides (most close it: a peer that does not read is not kept).
 *
 * Connections. Beyond `max_connections` open connections, or `max_per_peer` from one IP, a
 * new connection is accepted and closed at once, counted, and never shown to the consumer.
 * Peers are IPs (any port); their counters live in a table of `peers_max` entries
 * allocated once, with least-recently-used eviction of peers that have no open connection.
 *
 * Callback contract: on_accept is called once per connection shown to the consumer, and
 * on_close exactly once for each of them, last (no callback for that connection follows
 * it; the connection is freed when it returns). on_close comes after lw_tcp_conn_close /
 * lw_tcp_conn_end, the peer's EOF, a read or write error, or lw_tcp_listener_close. No
 * callback runs from inside lw_tcp_conn_close, lw_tcp_conn_end or lw_tcp_listener_close;
 * lw_tcp_conn_resume may call on_data before it returns. Everything runs on the loop
 * thread.
 *
 * No timers: idle limits (MQTT keep-alive, slow clients) belong to the consumer, which
 * closes the connection when its own timer fires.
 *
 * TLS (opts.tls_certificate set): OpenSSL with memory BIOs between the socket and the
 * consumer, so that on_data sees plaintext and lw_tcp_conn_write takes plaintext; the caps
 * count plaintext in the input buffer (plus at most 18 KiB of ciphertext waiting in OpenSSL)
 * and ciphertext in the output queue. TLS 1.2 or later; the handshake runs as the client's
 * bytes arrive, so the consumer's first on_data comes after it (write nothing before the
 * peer's first data); lw_tcp_conn_end sends close_notify first; a handshake or record error
 * closes with tcp_connection_failed, the peer's close_notify counts as its EOF. */
#ifndef LW_TCP_H
#define LW_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "cluster/err.h"

typedef struct lw_tcp_listener lw_tcp_listener_t;
typedef struct lw_tcp_conn lw_tcp_conn_t;

/* Defaults for fields left 0 in lw_tcp_opts_t. */
#define LW_TCP_DEFAULT_BACKLOG    128
#define LW_TCP_DEFAULT_MAX_CONNS  1024u
#define LW_TCP_DEFAULT_INPUT_CAP  65536u
#define LW_TCP_DEFAULT_OUTPUT_CAP 1048576u
#define LW_TCP_DEFAULT_PEERS      4096u

typedef struct lw_tcp_opts {
    const char *addr;            /* "0.0.0.0:1883", "[::]:1883", "127.0.0.1:0" (ephemeral) */
    int backlog;                 /* listen(2) backlog; 0: default */
    size_t max_connections;      /* open connections; 0: default */
    size_t max_per_peer;         /* open connections from one IP; 0: no cap */
    size_t input_cap;            /* unconsumed input per connection; 0: default */
    size_t output_cap;           /* queued output per connection; 0: default */
    size_t peers_max;            /* peer table entries; 0: default; raised to max_connections + 1 */
    const char *tls_certificate; /* PEM chain file: TLS on every connection; NULL/"": none */
    const char *tls_key;         /* its PEM private key; NULL/"": in tls_certificate */
} lw_tcp_opts_t;

typedef struct lw_tcp_handler {
    /* A new connection. Set its data with lw_tcp_conn_set_data; writing or closing here is
     * allowed. */
    void (*on_accept)(void *arg, lw_tcp_conn_t *c);
    /* The connection's unconsumed input, data[0..len), valid only during the call. Returns
     * the number of bytes consumed, 0..len. */
    size_t (*on_data)(void *arg, lw_tcp_conn_t *c, const uint8_t *data, size_t len);
    /* The connection is closed. why is NULL for a local close (lw_tcp_conn_close,
     * lw_tcp_conn_end, lw_tcp_listener_close), tcp_peer_closed for the peer's EOF (once
     * output queued by then is written: a peer that half-closes still gets its replies),
     * tcp_connection_failed for a socket error. Unconsumed input is dropped. */
    void (*on_close)(void *arg, lw_tcp_conn_t *c, const lw_err_t *why);
} lw_tcp_handler_t;

/* Binds opts->addr and listens; h (copied) with arg for every connection. Returns NULL with
 * err: invalid_argument (address, TLS certificate or key that does not load), tcp_listen_failed (in
 * use, not local), internal; after a bind failure the memory is released on the loop's next turn.
 */
lw_tcp_listener_t *lw_tcp_listen(uv_loop_t *loop, const lw_tcp_opts_t *opts,
                                 const lw_tcp_handler_t *h, void *arg, lw_err_t *err);

/* The bound port (the ephemeral one when opts->addr asked for port 0). */
int lw_tcp_listener_port(const lw_tcp_listener_t *l);

/* Stops accepting and closes every connection (on_close for each, why NULL); then
 * done(arg), on the loop, after the last on_close. Never calls back from inside. A second
 * call does nothing. */
void lw_tcp_listener_close(lw_tcp_listener_t *l, void (*done)(void *arg), void *arg);
/* Releases the listener after lw_tcp_listener_close's done. NULL: nothing. */
void lw_tcp_listener_free(lw_tcp_listener_t *l);

/* Queues data[0..len) (copied). Returns 0, or -1 with err and nothing queued:
 * tcp_output_full, tcp_connection_closed (closing or closed), tcp_connection_failed. */
int lw_tcp_conn_write(lw_tcp_conn_t *c, const void *data, size_t len, lw_err_t *err);

/* Closes at once: queued output is discarded, no more on_data. on_close follows (later). */
void lw_tcp_conn_close(lw_tcp_conn_t *c);
/* Closes after the queued output is written (a final reply, then close): stops reading
 * now, refuses further writes, then shuts the socket down. on_close follows. A peer that
 * never reads keeps it open until lw_tcp_conn_close. */
void lw_tcp_conn_end(lw_tcp_conn_t *c);

/* Stops reading until lw_tcp_conn_resume. */
void lw_tcp_conn_pause(lw_tcp_conn_t *c);
/* Undoes lw_tcp_conn_pause and, when input is waiting, presents it to on_data again (from
 * inside this call, unless called from that connection's on_data); reading restarts when
 * the buffer has room. */
void lw_tcp_conn_resume(lw_tcp_conn_t *c);

void lw_tcp_conn_set_data(lw_tcp_conn_t *c, void *data);
void *lw_tcp_conn_data(const lw_tcp_conn_t *c);
/* The peer's address and port. */
const struct sockaddr *lw_tcp_conn_peer(const lw_tcp_conn_t *c);
/* Bytes waiting in the output queue. */
size_t lw_tcp_conn_output_queued(const lw_tcp_conn_t *c);
/* True while reading is stopped (input buffer full or lw_tcp_conn_pause). */
bool lw_tcp_conn_paused(const lw_tcp_conn_t *c);

/* Figures for metrics and tests: counters since lw_tcp_listen, gauges now. */
typedef struct lw_tcp_stats {
    size_t connections;     /* open, shown to the consumer */
    uint64_t accepted;      /* shown to the consumer */
    uint64_t rejected_max;  /* closed at once: max_connections reached */
    uint64_t rejected_peer; /* closed at once: max_per_peer reached */
    uint64_t rx_bytes, tx_bytes;
    uint64_t output_full; /* writes refused with tcp_output_full */
    uint64_t input_full;  /* times a connection stopped reading on a full input buffer */
    size_t peers;
    uint64_t peers_evicted;
} lw_tcp_stats_t;
void lw_tcp_listener_stats(const lw_tcp_listener_t *l, lw_tcp_stats_t *out);

typedef struct lw_tcp_peer_stats {
    uint64_t connections; /* open now */
    uint64_t accepted, rejected;
    uint64_t rx_bytes, tx_bytes;
} lw_tcp_peer_stats_t;

/* The counters of one peer IP (the port of `peer` is ignored). Returns 0, or -1 when the
 * peer is not in the table. */
int lw_tcp_peer_stats(const lw_tcp_listener_t *l, const struct sockaddr *peer,
                      lw_tcp_peer_stats_t *out);

#endif
