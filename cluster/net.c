#include "cluster/net_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/mem.h"

/* ---- addresses ----------------------------------------------------------------------------- */

int lw_net_addr_parse(const char *addr, struct sockaddr_storage *out, lw_err_t *err)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon == addr || (size_t)(colon - addr) >= sizeof host)
        goto bad;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    const char *port_text = colon + 1;
    if (*port_text == '\0' || strspn(port_text, "0123456789") != strlen(port_text))
        goto bad;
    errno = 0;
    unsigned long port = strtoul(port_text, NULL, 10);
    if (errno != 0 || port > 65535)
        goto bad;

    memset(out, 0, sizeof *out);
    size_t hlen = strlen(host);
    if (host[0] == '[') {
        if (hlen < 3 || host[hlen - 1] != ']')
            goto bad;
        host[hlen - 1] = '\0';
        if (uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)out) != 0)
            goto bad;
        return 0;
    }
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) != 0)
        goto bad;
    return 0;
bad:
    lw_err_set(err, &lw_err_invalid_argument,
               "invalid address `%s` (want IPv4 host:port or [IPv6]:port)", addr);
    lw_err_attr(err, "address", addr);
    return -1;
}

void lw_net_addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        uv_ip4_name(in, ip, sizeof ip);
        snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        uv_ip6_name(in6, ip, sizeof ip);
        snprintf(buf, len, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    } else {
        snprintf(buf, len, "?");
    }
}

int lw_net_addr_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return -1;
}

/* ---- the peer table ------------------------------------------------------------------------- */

#define NET_NIL UINT32_MAX

typedef struct net_entry {
    lw_net_peer_t peer;  /* first: lw_net_peer_t * and net_entry_t * convert */
    uint32_t hnext;      /* next in its bucket */
    uint32_t prev, next; /* recency list, head = most recent */
} net_entry_t;

struct lw_net_peers {
    net_entry_t *e;
    uint32_t *buckets;
    uint32_t mask; /* buckets - 1, a power of two minus one */
    size_t max, n;
    bool by_port;
    int pin;
    uint32_t head, tail;
    uint64_t evicted;
};

/* The key of sa in a zeroed sockaddr_storage, so that keys compare and hash as bytes.
 * Returns -1 for a family that is neither IPv4 nor IPv6. */
static int net_key(const struct sockaddr *sa, bool by_port, struct sockaddr_storage *key)
{
    memset(key, 0, sizeof *key);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        struct sockaddr_in *k = (struct sockaddr_in *)key;
        k->sin_family = AF_INET;
        k->sin_addr = in->sin_addr;
        k->sin_port = by_port ? in->sin_port : 0;
        return 0;
    }
    if (sa->sa_family != AF_INET6)
        return -1;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
        struct sockaddr_in *k = (struct sockaddr_in *)key;
        k->sin_family = AF_INET;
        memcpy(&k->sin_addr, &in6->sin6_addr.s6_addr[12], 4);
        k->sin_port = by_port ? in6->sin6_port : 0;
        return 0;
    }
    struct sockaddr_in6 *k = (struct sockaddr_in6 *)key;
    k->sin6_family = AF_INET6;
    k->sin6_addr = in6->sin6_addr;
    k->sin6_scope_id = in6->sin6_scope_id;
    k->sin6_port = by_port ? in6->sin6_port : 0;
    return 0;
}

/* FNV-1a over the key bytes that can differ. */
static uint32_t net_hash(const struct sockaddr_storage *key)
{
    const uint8_t *b = (const uint8_t *)key;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < sizeof(struct sockaddr_in6); i++) {
        h ^= b[i];
        h *= 16777619u;
    }
    return h;
}

static bool net_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    return memcmp(a, b, sizeof(struct sockaddr_in6)) == 0;
}

lw_net_peers_t *lw_net_peers_new(size_t max, bool by_port, int pin)
{
    if (max < 1 || max >= NET_NIL / 2)
        return NULL;
    lw_net_peers_t *p = lw_calloc(1, sizeof *p);
    size_t nb = 1;
    while (nb < 2 * max)
        nb <<= 1;
    p->e = lw_calloc(max, sizeof *p->e);
    p->buckets = lw_malloc(nb * sizeof *p->buckets);
    for (size_t i = 0; i < nb; i++)
        p->buckets[i] = NET_NIL;
    p->mask = (uint32_t)(nb - 1);
    p->max = max;
    p->by_port = by_port;
    p->pin = pin;
    p->head = p->tail = NET_NIL;
    return p;
}

void lw_net_peers_free(lw_net_peers_t *p)
{
    if (p == NULL)
        return;
    free(p->e);
    free(p->buckets);
    free(p);
}

static uint32_t net_lookup(const lw_net_peers_t *p, const struct sockaddr_storage *key)
{
    for (uint32_t i = p->buckets[net_hash(key) & p->mask]; i != NET_NIL; i = p->e[i].hnext)
        if (net_same(&p->e[i].peer.addr, key))
            return i;
    return NET_NIL;
}

static void lru_unlink(lw_net_peers_t *p, uint32_t i)
{
    net_entry_t *e = &p->e[i];
    if (e->prev != NET_NIL)
        p->e[e->prev].next = e->next;
    else
        p->head = e->next;
    if (e->next != NET_NIL)
        p->e[e->next].prev = e->prev;
    else
        p->tail = e->prev;
}

static void lru_push_front(lw_net_peers_t *p, uint32_t i)
{
    net_entry_t *e = &p->e[i];
    e->prev = NET_NIL;
    e->next = p->head;
    if (p->head != NET_NIL)
        p->e[p->head].prev = i;
    else
        p->tail = i;
    p->head = i;
}

static void bucket_remove(lw_net_peers_t *p, uint32_t i)
{
    uint32_t *link = &p->buckets[net_hash(&p->e[i].peer.addr) & p->mask];
    while (*link != i)
        link = &p->e[*link].hnext;
    *link = p->e[i].hnext;
}

/* The least recently used entry that is not pinned, or NET_NIL. */
static uint32_t net_victim(const lw_net_peers_t *p)
{
    for (uint32_t i = p->tail; i != NET_NIL; i = p->e[i].prev)
        if (p->pin < 0 || p->e[i].peer.v[p->pin] == 0)
            return i;
    return NET_NIL;
}

lw_net_peer_t *lw_net_peers_get(lw_net_peers_t *p, const struct sockaddr *sa)
{
    struct sockaddr_storage key;
    if (net_key(sa, p->by_port, &key) != 0)
        return NULL;
    uint32_t i = net_lookup(p, &key);
    if (i != NET_NIL) {
        lru_unlink(p, i);
        lru_push_front(p, i);
        return &p->e[i].peer;
    }
    if (p->n < p->max) {
        i = (uint32_t)p->n++;
    } else {
        i = net_victim(p);
        if (i == NET_NIL)
            return NULL;
        bucket_remove(p, i);
        lru_unlink(p, i);
        p->evicted++;
    }
    net_entry_t *e = &p->e[i];
    memset(&e->peer, 0, sizeof e->peer);
    e->peer.addr = key;
    uint32_t *bucket = &p->buckets[net_hash(&key) & p->mask];
    e->hnext = *bucket;
    *bucket = i;
    lru_push_front(p, i);
    return &e->peer;
}

const lw_net_peer_t *lw_net_peers_find(const lw_net_peers_t *p, const struct sockaddr *sa)
{
    struct sockaddr_storage key;
    if (net_key(sa, p->by_port, &key) != 0)
        return NULL;
    uint32_t i = net_lookup(p, &key);
    return i == NET_NIL ? NULL : &p->e[i].peer;
}

size_t lw_net_peers_count(const lw_net_peers_t *p)
{
    return p->n;
}

uint64_t lw_net_peers_evicted(const lw_net_peers_t *p)
{
    return p->evicted;
}

void lw_net_peers_each(const lw_net_peers_t *p, void (*fn)(void *arg, const lw_net_peer_t *e),
                       void *arg)
{
    for (uint32_t i = p->head; i != NET_NIL; i = p->e[i].next)
        fn(arg, &p->e[i].peer);
}
