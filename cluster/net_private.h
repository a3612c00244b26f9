/* What the UDP sockets (udp.c) and TCP listeners (tcp.c) share: listen addresses and a
 * bounded table of per-peer counters. Private to cluster/. */
#ifndef LW_NET_PRIVATE_H
#define LW_NET_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "cluster/err.h"

/* Parses "host:port" where host is a numeric IPv4 address or a bracketed IPv6 one
 * ("127.0.0.1:1700", "[::1]:0", "0.0.0.0:1883", "[::]:1887"); port 0..65535, 0 meaning an
 * ephemeral port. No name resolution: it would block the loop. Returns 0, or -1 with
 * invalid_argument naming the address. */
int lw_net_addr_parse(const char *addr, struct sockaddr_storage *out, lw_err_t *err);

/* Writes "1.2.3.4:5" or "[::1]:5" into buf (at least 64 bytes hold any address). */
void lw_net_addr_format(const struct sockaddr *sa, char *buf, size_t len);

/* The port of a bound handle's local address (uv_udp_getsockname / uv_tcp_getsockname
 * result), or -1. */
int lw_net_addr_port(const struct sockaddr_storage *ss);

/* Options left 0 take their default. */
static inline void lw_net_default(size_t *v, size_t def)
{
    if (*v == 0)
        *v = def;
}

/* ---- the peer table ----------------------------------------------------------------------
 *
 * A fixed number of entries, allocated once, found by hash, with least-recently-used
 * eviction: a flood of new source addresses costs one eviction each, never memory. An entry
 * whose `pin` counter is not zero (a TCP peer with open connections) is never evicted. */

#define LW_NET_PEER_COUNTERS 6

typedef struct lw_net_peers lw_net_peers_t;

typedef struct lw_net_peer {
    struct sockaddr_storage addr; /* the key: with its port, or with port 0 (by IP) */
    uint64_t v[LW_NET_PEER_COUNTERS];
} lw_net_peer_t;

/* max >= 1 entries; by_port: an address and port is a peer (UDP), else an IP is (TCP);
 * pin: index into v of the counter that keeps an entry from eviction, or -1. NULL when max
 * is 0 or too large. */
lw_net_peers_t *lw_net_peers_new(size_t max, bool by_port, int pin);
void lw_net_peers_free(lw_net_peers_t *p);

/* The entry of sa, created (counters zero) when missing, and marked most recently used.
 * IPv4-mapped IPv6 addresses count as their IPv4 address. NULL when every entry is pinned
 * or the family is neither IPv4 nor IPv6. */
lw_net_peer_t *lw_net_peers_get(lw_net_peers_t *p, const struct sockaddr *sa);
/* The entry of sa or NULL, without touching the eviction order. */
const lw_net_peer_t *lw_net_peers_find(const lw_net_peers_t *p, const struct sockaddr *sa);

size_t lw_net_peers_count(const lw_net_peers_t *p);
uint64_t lw_net_peers_evicted(const lw_net_peers_t *p);
/* Calls fn for every entry, most recently used first. */
void lw_net_peers_each(const lw_net_peers_t *p, void (*fn)(void *arg, const lw_net_peer_t *e),
                       void *arg);

#endif
