/* UDP sockets on the libuv loop, with a bounded send queue and per-peer accounting (the
 * Semtech UDP packet forwarder port of the Gateway Server).
 *
 * Receiving allocates nothing per datagram: libuv delivers each datagram synchronously
 * into one buffer the socket owns, and the receive callback sees it only during the call. A
 * datagram longer than `recv_buf` is dropped and counted (truncated). With `recv_batch` above
 * 1 (the default) one recvmmsg(2) reads up to that many datagrams (at most 20, libuv's
 * limit) into 64 KiB slots of that buffer: the Gateway Server reads tens of thousands of
 * datagrams per second, and one system call each was a tenth of a core.
 *
 * Sending copies the datagram into a queue bounded both in datagrams and in bytes. A send
 * that would exceed either cap is refused at once (udp_send_queue_full), and the datagram is
 * dropped and counted, in total and for its peer; nothing is ever queued without bound. A
 * datagram counts against the caps from lw_udp_send until the kernel has taken it.
 *
 * Peers are source/destination addresses with their port. Their counters live in a table
 * of `peers_max` entries allocated once: when it is full, the least recently seen peer is
 * evicted (counted), so a flood of spoofed sources costs no memory.
 *
 * Callbacks run on the loop thread. The receive callback never fires after lw_udp_close
 * has been called, nor for a lw_udp_new that failed. Every function here is called on the
 * loop thread. */
#ifndef LW_UDP_H
#define LW_UDP_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "cluster/err.h"

typedef struct lw_udp lw_udp_t;

/* Defaults for fields left 0 in lw_udp_opts_t. */
#define LW_UDP_DEFAULT_RECV_BUF   65536u   /* the largest IPv4 datagram fits */
#define LW_UDP_DEFAULT_SEND_COUNT 1024u    /* datagrams waiting to be sent */
#define LW_UDP_DEFAULT_SEND_BYTES 1048576u /* bytes waiting to be sent */
#define LW_UDP_DEFAULT_PEERS      4096u
#define LW_UDP_DEFAULT_RECV_BATCH 16u    /* datagrams per recvmmsg(2) */
#define LW_UDP_MAX_DATAGRAM       65507u /* IPv4: 65535 - 8 (UDP) - 20 (IP) */

typedef struct lw_udp_opts {
    const char *addr;        /* "0.0.0.0:1700", "[::]:1700", "127.0.0.1:0" (ephemeral) */
    size_t recv_buf;         /* receive buffer, the largest datagram accepted; 0: default */
    size_t send_queue_count; /* 0: default */
    size_t send_queue_bytes; /* 0: default */
    size_t peers_max;        /* entries of the peer table; 0: default */
    size_t recv_batch;       /* datagrams read per system call (1..20); 0: default */
    int so_rcvbuf;           /* SO_RCVBUF in bytes; 0: the system's */
    int so_sndbuf;           /* SO_SNDBUF in bytes; 0: the system's */
} lw_udp_opts_t;

/* One datagram: data[0..len) and its source, valid only during the call. */
typedef void (*lw_udp_recv_cb)(void *arg, lw_udp_t *u, const uint8_t *data, size_t len,
                               const struct sockaddr *peer);

/* Binds to opts->addr and starts receiving; cb(arg, ...) for every datagram. Returns NULL
 * with err on failure: invalid_argument (address, sizes), udp_bind_failed (address in use,
 * not local), internal; after a bind failure the memory is released on the loop's next
 * turn (the handle's close callback). opts is copied. */
lw_udp_t *lw_udp_new(uv_loop_t *loop, const lw_udp_opts_t *opts, lw_udp_recv_cb cb, void *arg,
                     lw_err_t *err);

/* The bound port (the ephemeral one when opts->addr asked for port 0). */
int lw_udp_port(const lw_udp_t *u);

/* The socket's SO_RCVBUF and SO_SNDBUF as the kernel reports them (Linux reports twice
 * the value set, for its bookkeeping: socket(7)). Returns 0, or -1. */
int lw_udp_socket_buffers(const lw_udp_t *u, int *rcvbuf, int *sndbuf);

/* Queues data[0..len) (copied) for `to`. Returns 0, or -1 with err and nothing queued:
 * udp_send_queue_full (dropped and counted), invalid_argument (len above
 * LW_UDP_MAX_DATAGRAM, or not an IPv4/IPv6 address), udp_send_failed (libuv refused it,
 * e.g. an IPv6 destination on an IPv4 socket), udp_closed after lw_udp_close. A datagram
 * the kernel refuses later is counted in tx_errors. */
int lw_udp_send(lw_udp_t *u, const struct sockaddr *to, const void *data, size_t len,
                lw_err_t *err);

/* Stops receiving and closes the socket; datagrams still queued are discarded (counted in
 * tx_errors). done(arg) runs on the loop once the socket is closed (never from inside this
 * call); then free. A second call does nothing. */
void lw_udp_close(lw_udp_t *u, void (*done)(void *arg), void *arg);
/* Releases u after lw_udp_close's done. NULL: nothing. */
void lw_udp_free(lw_udp_t *u);

/* Figures for metrics and tests: counters since lw_udp_new, gauges now. */
typedef struct lw_udp_stats {
    uint64_t rx_datagrams, rx_bytes;
    uint64_t rx_truncated; /* longer than recv_buf: dropped */
    uint64_t rx_errors;
    uint64_t tx_datagrams, tx_bytes; /* taken by the kernel */
    uint64_t tx_dropped;             /* refused with udp_send_queue_full */
    uint64_t tx_errors;              /* refused by the kernel, or discarded at close */
    size_t send_queue_count, send_queue_bytes;
    size_t peers;
    uint64_t peers_evicted;
} lw_udp_stats_t;
void lw_udp_stats(const lw_udp_t *u, lw_udp_stats_t *out);

typedef struct lw_udp_peer_stats {
    uint64_t rx_datagrams, rx_bytes;
    uint64_t tx_datagrams, tx_bytes;
    uint64_t tx_dropped;
} lw_udp_peer_stats_t;

/* The counters of one peer (address and port). Returns 0, or -1 when the peer is not in
 * the table (never seen, or evicted). */
int lw_udp_peer_stats(const lw_udp_t *u, const struct sockaddr *peer, lw_udp_peer_stats_t *out);

/* Calls fn for every peer in the table, most recently seen first. */
void lw_udp_peers_each(const lw_udp_t *u,
                       void (*fn)(void *arg, const struct sockaddr *peer,
                                  const lw_udp_peer_stats_t *st),
                       void *arg);

#endif
