/* Unit tests of cluster/udp.c on a real loop, against plain BSD sockets on 127.0.0.1:
 * receive and send, the bounded send queue, per-peer accounting, the bounded peer table,
 * batched reads (recvmmsg) of bursts and their truncation rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "cluster/udp.h"

/* ---- fixtures ------------------------------------------------------------------------------ */

typedef struct server {
    uv_loop_t loop;
    lw_udp_t *u;
    int received;
    uint8_t last[64];
    size_t last_len;
    bool echo; /* send every datagram back to its source */
    int closed;
} server_t;

static void on_recv(void *arg, lw_udp_t *u, const uint8_t *data, size_t len,
                    const struct sockaddr *peer)
{
    server_t *s = arg;
    s->received++;
    s->last_len = len < sizeof s->last ? len : sizeof s->last;
    memcpy(s->last, data, s->last_len);
    if (s->echo) {
        lw_err_t err;
        assert_int_equal(lw_udp_send(u, peer, data, len, &err), 0);
    }
}

static void on_closed(void *arg)
{
    server_t *s = arg;
    s->closed++;
}

static server_t *server_start(const lw_udp_opts_t *extra)
{
    server_t *s = calloc(1, sizeof *s);
    assert_int_equal(uv_loop_init(&s->loop), 0);
    lw_udp_opts_t o = extra ? *extra : (lw_udp_opts_t){0};
    o.addr = "127.0.0.1:0";
    lw_err_t err;
    lw_err_clear(&err);
    s->u = lw_udp_new(&s->loop, &o, on_recv, s, &err);
    assert_non_null(s->u);
    return s;
}

static void server_stop(server_t *s)
{
    lw_udp_close(s->u, on_closed, s);
    assert_int_equal(s->closed, 0);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    assert_int_equal(s->closed, 1);
    lw_udp_free(s->u);
    assert_int_equal(uv_loop_close(&s->loop), 0);
    free(s);
}

static struct sockaddr_in server_addr(const server_t *s)
{
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", lw_udp_port(s->u), &a);
    return a;
}

/* A second, ordinary socket on 127.0.0.1; blocking reads give up after 5 s. */
static int client_open(struct sockaddr_in *self)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    socklen_t len = sizeof *self;
    assert_int_equal(getsockname(fd, (struct sockaddr *)self, &len), 0);
    return fd;
}

static void client_send(int fd, const server_t *s, const void *data, size_t len)
{
    struct sockaddr_in to = server_addr(s);
    assert_int_equal(sendto(fd, data, len, 0, (struct sockaddr *)&to, sizeof to), (ssize_t)len);
}

/* Runs the loop until the server has received n datagrams in all. */
static void run_until_received(server_t *s, int n)
{
    while (s->received < n)
        uv_run(&s->loop, UV_RUN_ONCE);
}

/* Runs the loop until the kernel has taken n datagrams from the server. */
static void run_until_sent(server_t *s, uint64_t n)
{
    lw_udp_stats_t st;
    for (lw_udp_stats(s->u, &st); st.tx_datagrams + st.tx_errors < n; lw_udp_stats(s->u, &st))
        uv_run(&s->loop, UV_RUN_ONCE);
}

static ssize_t client_recv(int fd, void *buf, size_t cap, int flags)
{
    return recv(fd, buf, cap, flags);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_lw_udp_new__ephemeral_port(void **state)
{
    (void)state;
    server_t *s = server_start(NULL);
    assert_true(lw_udp_port(s->u) > 0);
    server_stop(s);
}

static void test_lw_udp_new__bad_address(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    static const char *const bad[] = {"127.0.0.1", "localhost:1700", "1.2.3.4:70000",
                                      "[::1:0",    "1.2.3.4:x",      ":1700"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lw_err_t err;
        lw_udp_opts_t o = {.addr = bad[i]};
        assert_null(lw_udp_new(&loop, &o, on_recv, NULL, &err));
        assert_string_equal(lw_err_name(&err), "invalid_argument");
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_lw_udp_new__port_in_use(void **state)
{
    (void)state;
    server_t *s = server_start(NULL);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", lw_udp_port(s->u));
    lw_udp_opts_t o = {.addr = addr};
    lw_err_t err;
    assert_null(lw_udp_new(&s->loop, &o, on_recv, NULL, &err));
    assert_string_equal(lw_err_name(&err), "udp_bind_failed");
    server_stop(s); /* runs the loop: the failed socket's memory goes too */
}

static void test_lw_udp_send__round_trip(void **state)
{
    (void)state;
    server_t *s = server_start(NULL);
    s->echo = true;
    struct sockaddr_in self;
    int fd = client_open(&self);
    client_send(fd, s, "ping", 4);
    run_until_received(s, 1);
    assert_int_equal(s->last_len, 4);
    assert_memory_equal(s->last, "ping", 4);
    run_until_sent(s, 1);
    char buf[16];
    struct sockaddr_in from;
    socklen_t flen = sizeof from;
    assert_int_equal(recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen), 4);
    assert_memory_equal(buf, "ping", 4);
    assert_int_equal(ntohs(from.sin_port), lw_udp_port(s->u));
    lw_udp_stats_t st;
    lw_udp_stats(s->u, &st);
    assert_int_equal(st.rx_datagrams, 1);
    assert_int_equal(st.rx_bytes, 4);
    assert_int_equal(st.tx_datagrams, 1);
    assert_int_equal(st.tx_bytes, 4);
    assert_int_equal(st.send_queue_count, 0);
    assert_int_equal(st.send_queue_bytes, 0);
    close(fd);
    server_stop(s);
}

static void test_lw_udp_send__queue_full_by_count(void **state)
{
    (void)state;
    lw_udp_opts_t o = {.send_queue_count = 3};
    server_t *s = server_start(&o);
    struct sockaddr_in dst;
    int fd = client_open(&dst);
    /* Five sends in one turn of the loop: the first three wait in the queue, the last two
     * find it full. */
    for (int i = 0; i < 5; i++) {
        char d[3] = {'d', (char)('0' + i), 0};
        lw_err_t err;
        lw_err_clear(&err);
        int rc = lw_udp_send(s->u, (struct sockaddr *)&dst, d, 2, &err);
        if (i < 3) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -1);
            assert_string_equal(lw_err_name(&err), "udp_send_queue_full");
        }
    }
    lw_udp_stats_t st;
    lw_udp_stats(s->u, &st);
    assert_int_equal(st.tx_dropped, 2);
    assert_int_equal(st.send_queue_count, 3);
    assert_int_equal(st.send_queue_bytes, 6);
    lw_udp_peer_stats_t ps;
    assert_int_equal(lw_udp_peer_stats(s->u, (struct sockaddr *)&dst, &ps), 0);
    assert_int_equal(ps.tx_dropped, 2);

    run_until_sent(s, 3);
    lw_udp_stats(s->u, &st);
    assert_int_equal(st.tx_datagrams, 3);
    assert_int_equal(st.tx_errors, 0);
    assert_int_equal(st.send_queue_count, 0);
    for (int i = 0; i < 3; i++) {
        char buf[8];
        assert_int_equal(client_recv(fd, buf, sizeof buf, 0), 2);
        assert_int_equal(buf[0], 'd');
        assert_int_equal(buf[1], '0' + i);
    }
    char buf[8];
    assert_int_equal(client_recv(fd, buf, sizeof buf, MSG_DONTWAIT), -1); /* no fourth */
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    assert_int_equal(lw_udp_peer_stats(s->u, (struct sockaddr *)&dst, &ps), 0);
    assert_int_equal(ps.tx_datagrams, 3);
    assert_int_equal(ps.tx_bytes, 6);
    assert_int_equal(ps.tx_dropped, 2);

    /* Once drained, the queue takes datagrams again. */
    lw_err_t err;
    assert_int_equal(lw_udp_send(s->u, (struct sockaddr *)&dst, "zz", 2, &err), 0);
    run_until_sent(s, 4);
    assert_int_equal(client_recv(fd, buf, sizeof buf, 0), 2);
    assert_memory_equal(buf, "zz", 2);
    close(fd);
    server_stop(s);
}

static void test_lw_udp_send__queue_full_by_bytes(void **state)
{
    (void)state;
    lw_udp_opts_t o = {.send_queue_bytes = 10};
    server_t *s = server_start(&o);
    struct sockaddr_in dst;
    int fd = client_open(&dst);
    lw_err_t err;
    assert_int_equal(lw_udp_send(s->u, (struct sockaddr *)&dst, "aaaa", 4, &err), 0);
    assert_int_equal(lw_udp_send(s->u, (struct sockaddr *)&dst, "bbbb", 4, &err), 0);
    assert_int_equal(lw_udp_send(s->u, (struct sockaddr *)&dst, "cccc", 4, &err), -1);
    assert_string_equal(lw_err_name(&err), "udp_send_queue_full");
    assert_int_equal(lw_udp_send(s->u, (struct sockaddr *)&dst, "dd", 2, &err), 0); /* fits */
    run_until_sent(s, 3);
    char buf[8];
    assert_int_equal(client_recv(fd, buf, sizeof buf, 0), 4);
    assert_memory_equal(buf, "aaaa", 4);
    assert_int_equal(client_recv(fd, buf, sizeof buf, 0), 4);
    assert_memory_equal(buf, "bbbb", 4);
    assert_int_equal(client_recv(fd, buf, sizeof buf, 0), 2);
    assert_memory_equal(buf, "dd", 2);
    lw_udp_stats_t st;
    lw_udp_stats(s->u, &st);
    assert_int_equal(st.tx_dropped, 1);
    assert_int_equal(st.tx_bytes, 10);
    close(fd);
    server_stop(s);
}

static void test_lw_udp_send__too_large(void **state)
{
    (void)state;
    server_t *s = server_start(NULL);
    struct sockaddr_in dst;
    uv_ip4_addr("127.0.0.1", 9, &dst);
    static uint8_t big[LW_UDP_MAX_DATAGRAM + 1];
    lw_err_t err;
    assert_int_equal(lw_udp_send(s->u, (struct sockaddr *)&dst, big, sizeof big, &err), -1);
    assert_string_equal(lw_err_name(&err), "invalid_argument");
    lw_udp_stats_t st;
    lw_udp_stats(s->u, &st);
    assert_int_equal(st.send_queue_count, 0);
    server_stop(s);
}

static void test_lw_udp_peer_stats__exact_per_peer(void **state)
{
    (void)state;
    server_t *s = server_start(NULL);
    s->echo = true;
    struct sockaddr_in a, b, never;
    int fa = client_open(&a), fb = client_open(&b);
    for (int i = 0; i < 3; i++)
        client_send(fa, s, "0123456789", 10);
    client_send(fb, s, "abcde", 5);
    run_until_received(s, 4);
    run_until_sent(s, 4);

    lw_udp_peer_stats_t pa, pb;
    assert_int_equal(lw_udp_peer_stats(s->u, (struct sockaddr *)&a, &pa), 0);
    assert_int_equal(lw_udp_peer_stats(s->u, (struct sockaddr *)&b, &pb), 0);
    assert_int_equal(pa.rx_datagrams, 3);
    assert_int_equal(pa.rx_bytes, 30);
    assert_int_equal(pa.tx_datagrams, 3);
    assert_int_equal(pa.tx_bytes, 30);
    assert_int_equal(pa.tx_dropped, 0);
    assert_int_equal(pb.rx_datagrams, 1);
    assert_int_equal(pb.rx_bytes, 5);
    assert_int_equal(pb.tx_datagrams, 1);
    assert_int_equal(pb.tx_bytes, 5);
    /* Same IP, another port: another peer, never seen. */
    never = a;
    never.sin_port = htons((uint16_t)(ntohs(a.sin_port) ^ 1));
    assert_int_equal(lw_udp_peer_stats(s->u, (struct sockaddr *)&never, &pa), -1);
    lw_udp_stats_t st;
    lw_udp_stats(s->u, &st);
    assert_int_equal(st.peers, 2);
    assert_int_equal(st.rx_datagrams, 4);
    assert_int_equal(st.rx_bytes, 35);
    close(fa);
    close(fb);
    server_stop(s);
}

static void test_lw_udp_peer_stats__table_bounded_lru(void **state)
{
    (void)state;
    lw_udp_opts_t o = {.peers_max = 2};
    server_t *s = server_start(&o);
    struct sockaddr_in a, b, c;
    int fa = client_open(&a), fb = client_open(&b), fc = client_open(&c);
    /* a, b, a again, then c: the table holds two, and b is the least recently seen. */
    client_send(fa, s, "a", 1);
    run_until_received(s, 1);
    client_send(fb, s, "b", 1);
    run_until_received(s, 2);
    client_send(fa, s, "a", 1);
    run_until_received(s, 3);
    client_send(fc, s, "c", 1);
    run_until_received(s, 4);

    lw_udp_stats_t st;
    lw_udp_stats(s->u, &st);
    assert_int_equal(st.peers, 2);
    assert_int_equal(st.peers_evicted, 1);
    lw_udp_peer_stats_t ps;
    assert_int_equal(lw_udp_peer_stats(s->u, (struct sockaddr *)&b, &ps), -1);
    assert_int_equal(lw_udp_peer_stats(s->u, (struct sockaddr *)&a, &ps), 0);
    assert_int_equal(ps.rx_datagrams, 2);
    assert_int_equal(lw_udp_peer_stats(s->u, (struct sockaddr *)&c, &ps), 0);
    assert_int_equal(ps.rx_datagrams, 1);
    close(fa);
    close(fb);
    close(fc);
    server_stop(s);
}

typedef struct seen {
    int n;
    uint64_t rx[4];
} seen_t;

static void count_peer(void *arg, const struct sockaddr *peer, const lw_udp_peer_stats_t *st)
{
    seen_t *s = arg;
    assert_int_equal(peer->sa_family, AF_INET);
    s->rx[s->n++] = st->rx_datagrams;
}

static void test_lw_udp_peers_each__most_recent_first(void **state)
{
    (void)state;
    server_t *s = server_start(NULL);
    struct sockaddr_in a, b;
    int fa = client_open(&a), fb = client_open(&b);
    client_send(fa, s, "a", 1);
    client_send(fa, s, "a", 1);
    run_until_received(s, 2);
    client_send(fb, s, "b", 1);
    run_until_received(s, 3);
    seen_t seen = {0};
    lw_udp_peers_each(s->u, count_peer, &seen);
    assert_int_equal(seen.n, 2);
    assert_int_equal(seen.rx[0], 1); /* b */
    assert_int_equal(seen.rx[1], 2); /* a */
    close(fa);
    close(fb);
    server_stop(s);
}

static void test_lw_udp_recv__truncated_datagram_dropped(void **state)
{
    (void)state;
    lw_udp_opts_t o = {.recv_buf = 8};
    server_t *s = server_start(&o);
    struct sockaddr_in self;
    int fd = client_open(&self);
    client_send(fd, s, "0123456789abcdefghij", 20);
    client_send(fd, s, "01234567", 8);
    run_until_received(s, 1);
    assert_int_equal(s->last_len, 8);
    assert_memory_equal(s->last, "01234567", 8);
    lw_udp_stats_t st;
    lw_udp_stats(s->u, &st);
    assert_int_equal(st.rx_truncated, 1);
    assert_int_equal(st.rx_datagrams, 1);
    close(fd);
    server_stop(s);
}

/* ---- batched reads (recvmmsg) ----------------------------------------------------------- */

#define BURST 50

typedef struct burst {
    uv_loop_t loop;
    lw_udp_t *u;
    int received;
    char data[BURST][32];
    size_t len[BURST];
    uint16_t port[BURST];
} burst_t;

static void on_burst(void *arg, lw_udp_t *u, const uint8_t *data, size_t len,
                     const struct sockaddr *peer)
{
    (void)u;
    burst_t *b = arg;
    assert_true(b->received < BURST);
    assert_int_equal(peer->sa_family, AF_INET);
    int i = b->received++;
    b->len[i] = len < sizeof b->data[i] ? len : sizeof b->data[i] - 1;
    memcpy(b->data[i], data, b->len[i]);
    b->port[i] = ntohs(((const struct sockaddr_in *)peer)->sin_port);
}

/* BURST datagrams from five sockets, all sent before the loop runs (so they wait in the
 * socket's queue and batched reads take several at once): each delivered once, in order, with
 * its own bytes, length and source. */
static void burst_check(size_t recv_batch)
{
    burst_t *b = calloc(1, sizeof *b);
    assert_int_equal(uv_loop_init(&b->loop), 0);
    lw_udp_opts_t o = {.addr = "127.0.0.1:0", .recv_batch = recv_batch};
    lw_err_t err;
    lw_err_clear(&err);
    b->u = lw_udp_new(&b->loop, &o, on_burst, b, &err);
    assert_non_null(b->u);
    struct sockaddr_in to, self[5];
    uv_ip4_addr("127.0.0.1", lw_udp_port(b->u), &to);
    int fd[5];
    for (int k = 0; k < 5; k++)
        fd[k] = client_open(&self[k]);
    for (int i = 0; i < BURST; i++) {
        char d[32];
        int n = snprintf(d, sizeof d, "datagram %d%.*s", i, i % 7, "xxxxxxx");
        assert_int_equal(sendto(fd[i % 5], d, (size_t)n, 0, (struct sockaddr *)&to, sizeof to), n);
    }
    while (b->received < BURST)
        uv_run(&b->loop, UV_RUN_ONCE);
    for (int i = 0; i < BURST; i++) {
        char want[32];
        int n = snprintf(want, sizeof want, "datagram %d%.*s", i, i % 7, "xxxxxxx");
        assert_int_equal(b->len[i], (size_t)n);
        assert_memory_equal(b->data[i], want, (size_t)n);
        /* One socket sends in order, and the kernel queues in order. */
        assert_int_equal(b->port[i], ntohs(self[i % 5].sin_port));
    }
    lw_udp_stats_t st;
    lw_udp_stats(b->u, &st);
    assert_int_equal(st.rx_datagrams, BURST);
    assert_int_equal(st.rx_truncated, 0);
    assert_int_equal(st.rx_errors, 0);
    assert_int_equal(st.peers, 5);
    for (int k = 0; k < 5; k++) {
        lw_udp_peer_stats_t ps;
        assert_int_equal(lw_udp_peer_stats(b->u, (struct sockaddr *)&self[k], &ps), 0);
        assert_int_equal(ps.rx_datagrams, BURST / 5);
        close(fd[k]);
    }
    lw_udp_close(b->u, NULL, NULL);
    uv_run(&b->loop, UV_RUN_DEFAULT);
    lw_udp_free(b->u);
    assert_int_equal(uv_loop_close(&b->loop), 0);
    free(b);
}

static void test_lw_udp_recv__burst_batched(void **state)
{
    (void)state;
    burst_check(16);
}

static void test_lw_udp_recv__burst_default_batch(void **state)
{
    (void)state;
    burst_check(0); /* LW_UDP_DEFAULT_RECV_BATCH */
}

static void test_lw_udp_recv__burst_one_at_a_time(void **state)
{
    (void)state;
    burst_check(1);
}

/* recv_buf under the 64 KiB slot of a batched read: a longer datagram fits the slot whole,
 * and is still dropped as truncated, as without batching; the ones around it arrive. */
static void truncated_check(size_t recv_batch)
{
    lw_udp_opts_t o = {.recv_buf = 1000, .recv_batch = recv_batch};
    server_t *s = server_start(&o);
    struct sockaddr_in self;
    int fd = client_open(&self);
    static uint8_t big[40000];
    memset(big, 'b', sizeof big);
    client_send(fd, s, "first", 5);
    client_send(fd, s, big, 1001);
    client_send(fd, s, big, sizeof big);
    uint8_t edge[1000];
    memset(edge, 'e', sizeof edge);
    client_send(fd, s, edge, sizeof edge); /* exactly recv_buf: delivered */
    client_send(fd, s, "last", 4);
    run_until_received(s, 3);
    assert_int_equal(s->last_len, 4);
    assert_memory_equal(s->last, "last", 4);
    lw_udp_stats_t st;
    lw_udp_stats(s->u, &st);
    assert_int_equal(st.rx_truncated, 2);
    assert_int_equal(st.rx_datagrams, 3);
    assert_int_equal(st.rx_bytes, 5 + 1000 + 4);
    close(fd);
    server_stop(s);
}

static void test_lw_udp_recv__truncated_batched(void **state)
{
    (void)state;
    truncated_check(16);
}

static void test_lw_udp_recv__truncated_one_at_a_time(void **state)
{
    (void)state;
    truncated_check(1);
}

static void test_lw_udp_new__recv_batch_bounds(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    lw_err_t err;
    lw_udp_opts_t o = {.addr = "127.0.0.1:0", .recv_batch = 21};
    assert_null(lw_udp_new(&loop, &o, on_recv, NULL, &err));
    assert_string_equal(lw_err_name(&err), "invalid_argument");
    o.recv_batch = 1000;
    assert_null(lw_udp_new(&loop, &o, on_recv, NULL, &err));
    assert_string_equal(lw_err_name(&err), "invalid_argument");
    o.recv_batch = 20; /* libuv's most */
    lw_err_clear(&err);
    lw_udp_t *u = lw_udp_new(&loop, &o, on_recv, NULL, &err);
    assert_non_null(u);
    lw_udp_close(u, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    lw_udp_free(u);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_lw_udp_close__with_queued_sends(void **state)
{
    (void)state;
    server_t *s = server_start(NULL);
    struct sockaddr_in dst;
    int fd = client_open(&dst);
    lw_err_t err;
    assert_int_equal(lw_udp_send(s->u, (struct sockaddr *)&dst, "x", 1, &err), 0);
    assert_int_equal(lw_udp_send(s->u, (struct sockaddr *)&dst, "y", 1, &err), 0);
    lw_udp_close(s->u, on_closed, s);
    lw_udp_close(s->u, on_closed, s); /* a second call does nothing */
    assert_int_equal(lw_udp_send(s->u, (struct sockaddr *)&dst, "z", 1, &err), -1);
    assert_string_equal(lw_err_name(&err), "udp_closed");
    uv_run(&s->loop, UV_RUN_DEFAULT);
    assert_int_equal(s->closed, 1);
    lw_udp_stats_t st;
    lw_udp_stats(s->u, &st);
    assert_int_equal(st.tx_datagrams + st.tx_errors, 2); /* each completed once */
    assert_int_equal(st.send_queue_count, 0);
    assert_int_equal(st.send_queue_bytes, 0);
    lw_udp_free(s->u);
    assert_int_equal(uv_loop_close(&s->loop), 0);
    free(s);
    close(fd);
}

static void test_lw_udp_new__socket_buffers(void **state)
{
    (void)state;
    lw_udp_opts_t o = {.so_rcvbuf = 16384, .so_sndbuf = 8192};
    server_t *s = server_start(&o);
    int rcv = 0, snd = 0;
    assert_int_equal(lw_udp_socket_buffers(s->u, &rcv, &snd), 0);
    assert_int_equal(rcv, 2 * 16384); /* Linux doubles what is set (socket(7)) */
    assert_int_equal(snd, 2 * 8192);
    server_stop(s);
}

static void test_lw_udp_new__ipv6_loopback(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    lw_udp_opts_t o = {.addr = "[::1]:0", .so_rcvbuf = 65536, .so_sndbuf = 65536};
    lw_err_t err;
    lw_udp_t *u = lw_udp_new(&loop, &o, on_recv, NULL, &err);
    if (u == NULL) { /* a host without IPv6 */
        assert_string_equal(lw_err_name(&err), "udp_bind_failed");
    } else {
        assert_true(lw_udp_port(u) > 0);
        lw_udp_close(u, NULL, NULL);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    lw_udp_free(u);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lw_udp_new__ephemeral_port),
        cmocka_unit_test(test_lw_udp_new__bad_address),
        cmocka_unit_test(test_lw_udp_new__port_in_use),
        cmocka_unit_test(test_lw_udp_new__socket_buffers),
        cmocka_unit_test(test_lw_udp_new__ipv6_loopback),
        cmocka_unit_test(test_lw_udp_send__round_trip),
        cmocka_unit_test(test_lw_udp_send__queue_full_by_count),
        cmocka_unit_test(test_lw_udp_send__queue_full_by_bytes),
        cmocka_unit_test(test_lw_udp_send__too_large),
        cmocka_unit_test(test_lw_udp_peer_stats__exact_per_peer),
        cmocka_unit_test(test_lw_udp_peer_stats__table_bounded_lru),
        cmocka_unit_test(test_lw_udp_peers_each__most_recent_first),
        cmocka_unit_test(test_lw_udp_recv__truncated_datagram_dropped),
        cmocka_unit_test(test_lw_udp_recv__burst_batched),
        cmocka_unit_test(test_lw_udp_recv__burst_default_batch),
        cmocka_unit_test(test_lw_udp_recv__burst_one_at_a_time),
        cmocka_unit_test(test_lw_udp_recv__truncated_batched),
        cmocka_unit_test(test_lw_udp_recv__truncated_one_at_a_time),
        cmocka_unit_test(test_lw_udp_new__recv_batch_bounds),
        cmocka_unit_test(test_lw_udp_close__with_queued_sends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
