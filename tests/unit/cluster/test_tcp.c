/* Unit tests of cluster/tcp.c on a real loop, against plain BSD client sockets on
 * 127.0.0.x: echo, partial consumption, the input cap, the connection caps, the output cap,
 * lw_tcp_conn_end, closing the listener with connections open, per-peer accounting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "cluster/tcp.h"

/* ---- the server under test ------------------------------------------------------------------ */

typedef enum mode {
    MODE_ECHO,      /* write back and consume everything */
    MODE_LINES,     /* consume whole '\n'-terminated lines only */
    MODE_HOLD,      /* consume nothing (a busy downstream) */
    MODE_REPLY_END, /* reply "bye" and lw_tcp_conn_end */
} srv_mode_t;

typedef struct server {
    uv_loop_t loop;
    lw_tcp_listener_t *l;
    srv_mode_t mode;
    int accepts, data_calls, closes, done;
    int close_order_max; /* sequence number of the last on_close */
    int done_order;
    int seq;
    size_t last_len;
    char consumed[256]; /* everything consumed, in order */
    size_t consumed_len;
    char line[64];
    lw_tcp_conn_t *last_conn;
    const lw_err_def_t *last_why;
    bool close_in_accept;
    size_t write_in_accept; /* bytes written from on_accept */
    int accept_write_rc[2];
    char accept_write_err[2][48];
} server_t;

static void on_accept(void *arg, lw_tcp_conn_t *c)
{
    server_t *s = arg;
    s->accepts++;
    s->last_conn = c;
    lw_tcp_conn_set_data(c, s);
    if (s->close_in_accept) {
        lw_tcp_conn_close(c);
        return;
    }
    if (s->write_in_accept > 0) {
        /* Two writes of write_in_accept bytes. */
        char buf[64];
        memset(buf, 'w', sizeof buf);
        for (int i = 0; i < 2; i++) {
            lw_err_t err;
            lw_err_clear(&err);
            s->accept_write_rc[i] = lw_tcp_conn_write(c, buf, s->write_in_accept, &err);
            snprintf(s->accept_write_err[i], sizeof s->accept_write_err[i], "%s",
                     lw_err_name(&err));
        }
    }
}

static void keep(server_t *s, const uint8_t *data, size_t n)
{
    assert_true(s->consumed_len + n <= sizeof s->consumed);
    memcpy(s->consumed + s->consumed_len, data, n);
    s->consumed_len += n;
}

static size_t on_data(void *arg, lw_tcp_conn_t *c, const uint8_t *data, size_t len)
{
    server_t *s = arg;
    assert_ptr_equal(lw_tcp_conn_data(c), s);
    s->data_calls++;
    s->last_len = len;
    lw_err_t err;
    switch (s->mode) {
    case MODE_ECHO:
        assert_int_equal(lw_tcp_conn_write(c, data, len, &err), 0);
        keep(s, data, len);
        return len;
    case MODE_LINES: {
        const uint8_t *nl = memchr(data, '\n', len);
        if (nl == NULL)
            return 0;
        size_t n = (size_t)(nl - data) + 1;
        snprintf(s->line, sizeof s->line, "%.*s", (int)(n - 1), (const char *)data);
        keep(s, data, n);
        return n;
    }
    case MODE_HOLD:
        return 0;
    case MODE_REPLY_END:
        assert_int_equal(lw_tcp_conn_write(c, "bye", 3, &err), 0);
        lw_tcp_conn_end(c);
        assert_int_equal(lw_tcp_conn_write(c, "late", 4, &err), -1);
        assert_string_equal(lw_err_name(&err), "tcp_connection_closed");
        return len;
    }
    return 0;
}

static void on_close(void *arg, lw_tcp_conn_t *c, const lw_err_t *why)
{
    server_t *s = arg;
    assert_ptr_equal(lw_tcp_conn_data(c), s);
    s->closes++;
    s->close_order_max = ++s->seq;
    s->last_why = why != NULL ? why->def : NULL;
    if (s->last_conn == c)
        s->last_conn = NULL;
}

static void on_done(void *arg)
{
    server_t *s = arg;
    s->done++;
    s->done_order = ++s->seq;
}

static const lw_tcp_handler_t handler = {on_accept, on_data, on_close};

static server_t *server_start(const lw_tcp_opts_t *extra, srv_mode_t mode)
{
    server_t *s = calloc(1, sizeof *s);
    assert_int_equal(uv_loop_init(&s->loop), 0);
    s->mode = mode;
    lw_tcp_opts_t o = extra ? *extra : (lw_tcp_opts_t){0};
    o.addr = "127.0.0.1:0";
    lw_err_t err;
    lw_err_clear(&err);
    s->l = lw_tcp_listen(&s->loop, &o, &handler, s, &err);
    assert_non_null(s->l);
    assert_true(lw_tcp_listener_port(s->l) > 0);
    return s;
}

static void server_stop(server_t *s)
{
    lw_tcp_listener_close(s->l, on_done, s);
    assert_int_equal(s->done, 0);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    assert_int_equal(s->done, 1);
    lw_tcp_stats_t st;
    lw_tcp_listener_stats(s->l, &st);
    assert_int_equal(st.connections, 0);
    assert_int_equal((uint64_t)s->closes, st.accepted); /* on_close once per connection */
    lw_tcp_listener_free(s->l);
    assert_int_equal(uv_loop_close(&s->loop), 0);
    free(s);
}

static lw_tcp_stats_t stats(const server_t *s)
{
    lw_tcp_stats_t st;
    lw_tcp_listener_stats(s->l, &st);
    return st;
}

/* ---- clients ------------------------------------------------------------------------------- */

/* A blocking client from `ip` (127.0.0.x) to the server; reads give up after 5 s. Returns
 * -1 when ip cannot be bound (a host without the whole 127/8 on lo). */
static int client_from(const server_t *s, const char *ip)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a;
    uv_ip4_addr(ip, 0, &a);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in to;
    uv_ip4_addr("127.0.0.1", lw_tcp_listener_port(s->l), &to);
    assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof to), 0);
    return fd;
}

static bool can_bind(const char *ip)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    uv_ip4_addr(ip, 0, &a);
    bool ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static int client(const server_t *s)
{
    int fd = client_from(s, "127.0.0.1");
    assert_true(fd >= 0);
    return fd;
}

static void client_send(int fd, const char *text)
{
    size_t n = strlen(text);
    assert_int_equal(send(fd, text, n, 0), (ssize_t)n);
}

/* Reads exactly n bytes. */
static void client_read(int fd, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        assert_true(r > 0);
        got += (size_t)r;
    }
}

/* Blocks until the server closes the connection: 0 (EOF) or a reset. */
static void client_expect_closed(int fd)
{
    char b;
    assert_true(recv(fd, &b, 1, 0) <= 0);
}

/* Runs the loop one turn at a time until cond holds. */
#define RUN_UNTIL(s, cond)                                                                         \
    do {                                                                                           \
        while (!(cond))                                                                            \
            uv_run(&(s)->loop, UV_RUN_ONCE);                                                       \
    } while (0)

/* ---- tests --------------------------------------------------------------------------------- */

static void test_lw_tcp_listen__bad_address_and_port_in_use(void **state)
{
    (void)state;
    server_t *s = server_start(NULL, MODE_ECHO);
    lw_err_t err;
    lw_tcp_opts_t o = {.addr = "localhost:1883"};
    assert_null(lw_tcp_listen(&s->loop, &o, &handler, s, &err));
    assert_string_equal(lw_err_name(&err), "invalid_argument");
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", lw_tcp_listener_port(s->l));
    o.addr = addr;
    assert_null(lw_tcp_listen(&s->loop, &o, &handler, s, &err));
    assert_string_equal(lw_err_name(&err), "tcp_listen_failed");
    server_stop(s); /* runs the loop: the failed listener's memory goes too */
}

static void test_lw_tcp_conn__echo(void **state)
{
    (void)state;
    server_t *s = server_start(NULL, MODE_ECHO);
    int fd = client(s);
    client_send(fd, "hello");
    RUN_UNTIL(s, stats(s).tx_bytes == 5);
    char buf[8];
    client_read(fd, buf, 5);
    assert_memory_equal(buf, "hello", 5);

    lw_tcp_stats_t st = stats(s);
    assert_int_equal(st.connections, 1);
    assert_int_equal(st.accepted, 1);
    assert_int_equal(st.rx_bytes, 5);
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    getsockname(fd, (struct sockaddr *)&me, &len);
    const struct sockaddr_in *peer = (const struct sockaddr_in *)lw_tcp_conn_peer(s->last_conn);
    assert_int_equal(peer->sin_port, me.sin_port);
    lw_tcp_peer_stats_t ps;
    assert_int_equal(lw_tcp_peer_stats(s->l, (struct sockaddr *)&me, &ps), 0);
    assert_int_equal(ps.connections, 1);
    assert_int_equal(ps.accepted, 1);
    assert_int_equal(ps.rx_bytes, 5);
    assert_int_equal(ps.tx_bytes, 5);

    close(fd); /* the peer's EOF */
    RUN_UNTIL(s, s->closes == 1);
    assert_ptr_equal(s->last_why, &lw_err_tcp_peer_closed);
    assert_int_equal(lw_tcp_peer_stats(s->l, (struct sockaddr *)&me, &ps), 0);
    assert_int_equal(ps.connections, 0);
    server_stop(s);
}

static void test_lw_tcp_conn__half_close_still_gets_reply(void **state)
{
    (void)state;
    server_t *s = server_start(NULL, MODE_ECHO);
    int fd = client(s);
    client_send(fd, "last request");
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    RUN_UNTIL(s, s->closes == 1);
    assert_ptr_equal(s->last_why, &lw_err_tcp_peer_closed);
    char buf[12];
    client_read(fd, buf, 12);
    assert_memory_equal(buf, "last request", 12);
    client_expect_closed(fd);
    close(fd);
    server_stop(s);
}

static void test_lw_tcp_conn__unconsumed_input_kept(void **state)
{
    (void)state;
    server_t *s = server_start(NULL, MODE_LINES);
    int fd = client(s);
    client_send(fd, "ab");
    RUN_UNTIL(s, s->data_calls == 1);
    assert_int_equal(s->last_len, 2);
    assert_int_equal(s->consumed_len, 0);
    client_send(fd, "c\nde");
    RUN_UNTIL(s, s->data_calls == 2);
    assert_int_equal(s->last_len, 6); /* "ab" again, with what followed */
    assert_string_equal(s->line, "abc");
    client_send(fd, "f\n");
    RUN_UNTIL(s, s->data_calls == 3);
    assert_int_equal(s->last_len, 4);
    assert_string_equal(s->line, "def");
    assert_int_equal(s->consumed_len, 8);
    close(fd);
    RUN_UNTIL(s, s->closes == 1);
    server_stop(s);
}

static void test_lw_tcp_conn__full_input_pauses_until_resume(void **state)
{
    (void)state;
    lw_tcp_opts_t o = {.input_cap = 8};
    server_t *s = server_start(&o, MODE_HOLD);
    int fd = client(s);
    client_send(fd, "0123456789abcdefghij"); /* 20 bytes, the buffer holds 8 */
    RUN_UNTIL(s, s->last_conn != NULL && lw_tcp_conn_paused(s->last_conn));
    assert_int_equal(s->last_len, 8);
    assert_int_equal(stats(s).rx_bytes, 8);
    assert_int_equal(stats(s).input_full, 1);
    /* Nothing more is read while paused: one more turn of the loop changes nothing. */
    int calls = s->data_calls;
    uv_run(&s->loop, UV_RUN_NOWAIT);
    assert_int_equal(s->data_calls, calls);

    /* The downstream is free again: the held input comes back first, then the rest. */
    s->mode = MODE_ECHO;
    lw_tcp_conn_resume(s->last_conn);
    assert_int_equal(s->data_calls, calls + 1); /* from inside lw_tcp_conn_resume */
    assert_int_equal(s->consumed_len, 8);
    RUN_UNTIL(s, s->consumed_len == 20);
    assert_memory_equal(s->consumed, "0123456789abcdefghij", 20);
    assert_false(lw_tcp_conn_paused(s->last_conn));
    RUN_UNTIL(s, stats(s).tx_bytes == 20);
    char buf[20];
    client_read(fd, buf, 20);
    assert_memory_equal(buf, "0123456789abcdefghij", 20);
    close(fd);
    RUN_UNTIL(s, s->closes == 1);
    server_stop(s);
}

static void test_lw_tcp_conn_pause__stops_reading(void **state)
{
    (void)state;
    server_t *s = server_start(NULL, MODE_ECHO);
    int fd = client(s);
    RUN_UNTIL(s, s->accepts == 1);
    lw_tcp_conn_pause(s->last_conn);
    assert_true(lw_tcp_conn_paused(s->last_conn));
    client_send(fd, "abc");
    uv_run(&s->loop, UV_RUN_NOWAIT);
    assert_int_equal(s->data_calls, 0);
    lw_tcp_conn_resume(s->last_conn);
    RUN_UNTIL(s, s->consumed_len == 3);
    close(fd);
    RUN_UNTIL(s, s->closes == 1);
    server_stop(s);
}

static void test_lw_tcp_listen__max_connections(void **state)
{
    (void)state;
    lw_tcp_opts_t o = {.max_connections = 2};
    server_t *s = server_start(&o, MODE_ECHO);
    int fd[3];
    for (int i = 0; i < 3; i++)
        fd[i] = client(s);
    RUN_UNTIL(s, stats(s).accepted + stats(s).rejected_max == 3);
    lw_tcp_stats_t st = stats(s);
    assert_int_equal(st.accepted, 2);
    assert_int_equal(st.rejected_max, 1);
    assert_int_equal(st.connections, 2);
    assert_int_equal(s->accepts, 2); /* the third was never shown */
    client_expect_closed(fd[2]);
    close(fd[2]);
    lw_tcp_peer_stats_t ps;
    struct sockaddr_in lo;
    uv_ip4_addr("127.0.0.1", 0, &lo);
    assert_int_equal(lw_tcp_peer_stats(s->l, (struct sockaddr *)&lo, &ps), 0);
    assert_int_equal(ps.connections, 2);
    assert_int_equal(ps.accepted, 2);
    assert_int_equal(ps.rejected, 1);

    /* A place frees up: the next one is accepted. */
    close(fd[0]);
    RUN_UNTIL(s, s->closes == 1);
    fd[0] = client(s);
    RUN_UNTIL(s, s->accepts == 3);
    assert_int_equal(stats(s).connections, 2);
    close(fd[0]);
    close(fd[1]);
    RUN_UNTIL(s, s->closes == 3);
    server_stop(s);
}

static void test_lw_tcp_listen__max_per_peer(void **state)
{
    (void)state;
    lw_tcp_opts_t o = {.max_per_peer = 1};
    server_t *s = server_start(&o, MODE_ECHO);
    int a = client(s), b = client(s);
    RUN_UNTIL(s, stats(s).accepted + stats(s).rejected_peer == 2);
    assert_int_equal(stats(s).accepted, 1);
    assert_int_equal(stats(s).rejected_peer, 1);
    assert_int_equal(stats(s).rejected_max, 0);
    client_expect_closed(b);
    close(b);
    int other = client_from(s, "127.0.0.2"); /* another IP is not capped by the first */
    if (other >= 0) {
        RUN_UNTIL(s, s->accepts == 2);
        close(other);
        RUN_UNTIL(s, s->closes == 1);
    }
    close(a);
    RUN_UNTIL(s, stats(s).connections == 0);
    server_stop(s);
}

static void test_lw_tcp_conn_write__output_full(void **state)
{
    (void)state;
    lw_tcp_opts_t o = {.output_cap = 16};
    server_t *s = server_start(&o, MODE_ECHO);
    s->write_in_accept = 10; /* two writes of 10: the kernel takes both at once */
    int fd = client(s);
    RUN_UNTIL(s, s->accepts == 1);
    assert_int_equal(s->accept_write_rc[0], 0);
    assert_int_equal(s->accept_write_rc[1], 0);
    lw_tcp_conn_t *c = s->last_conn;
    /* Written now, not queued: nothing waits for a write callback of this loop turn. */
    assert_int_equal(lw_tcp_conn_output_queued(c), 0);
    assert_int_equal(stats(s).output_full, 0);
    char buf[20];
    client_read(fd, buf, 20);
    assert_memory_equal(buf, "wwwwwwwwwwwwwwwwwwww", 20);
    /* The client reads no more: once the kernel's buffers are full, writes queue, and the
     * queue is bounded by output_cap. */
    lw_err_t err;
    size_t writes = 0;
    while (lw_tcp_conn_output_queued(c) == 0) {
        assert_int_equal(lw_tcp_conn_write(c, "0123456789ab", 12, &err), 0);
        assert_true(++writes < 10000000);
    }
    size_t q = lw_tcp_conn_output_queued(c); /* what the kernel did not take of the last */
    assert_true(q >= 1 && q <= 12);
    assert_int_equal(lw_tcp_conn_write(c, "0123456789abcdef", 16 - q, &err), 0); /* the cap */
    assert_int_equal(lw_tcp_conn_write(c, "x", 1, &err), -1);
    assert_string_equal(lw_err_name(&err), "tcp_output_full");
    assert_int_equal(stats(s).output_full, 1);
    assert_int_equal(lw_tcp_conn_output_queued(c), 16);
    /* The owner closes a connection that does not keep up: queued output is discarded. */
    lw_tcp_conn_close(c);
    assert_int_equal(lw_tcp_conn_write(c, "x", 1, &err), -1);
    assert_string_equal(lw_err_name(&err), "tcp_connection_closed");
    assert_int_equal(s->closes, 0); /* never from inside lw_tcp_conn_close */
    RUN_UNTIL(s, s->closes == 1);
    assert_null(s->last_why);
    close(fd);
    server_stop(s);
}

static void test_lw_tcp_conn_end__reply_then_close(void **state)
{
    (void)state;
    server_t *s = server_start(NULL, MODE_REPLY_END);
    int fd = client(s);
    client_send(fd, "quit");
    RUN_UNTIL(s, s->closes == 1);
    assert_null(s->last_why);
    char buf[3];
    client_read(fd, buf, 3);
    assert_memory_equal(buf, "bye", 3);
    client_expect_closed(fd);
    assert_int_equal(stats(s).tx_bytes, 3);
    close(fd);
    server_stop(s);
}

static void test_lw_tcp_conn_close__from_on_accept(void **state)
{
    (void)state;
    server_t *s = server_start(NULL, MODE_ECHO);
    s->close_in_accept = true;
    int fd = client(s);
    client_send(fd, "ignored");
    RUN_UNTIL(s, s->closes == 1);
    assert_int_equal(s->accepts, 1);
    assert_int_equal(s->data_calls, 0);
    client_expect_closed(fd);
    close(fd);
    server_stop(s);
}

static void test_lw_tcp_listener_close__connections_open(void **state)
{
    (void)state;
    server_t *s = server_start(NULL, MODE_LINES);
    int fd[3];
    for (int i = 0; i < 3; i++)
        fd[i] = client(s);
    client_send(fd[0], "partial line without end");
    RUN_UNTIL(s, s->accepts == 3 && s->data_calls == 1);
    lw_tcp_listener_close(s->l, on_done, s);
    lw_tcp_listener_close(s->l, on_done, s); /* a second call does nothing */
    assert_int_equal(s->closes, 0);
    assert_int_equal(s->done, 0);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    assert_int_equal(s->closes, 3);
    assert_int_equal(s->done, 1);
    assert_true(s->close_order_max < s->done_order); /* done after the last on_close */
    assert_null(s->last_why);
    for (int i = 0; i < 3; i++) {
        client_expect_closed(fd[i]);
        close(fd[i]);
    }
    lw_tcp_listener_free(s->l);
    assert_int_equal(uv_loop_close(&s->loop), 0);
    free(s);
}

static void test_lw_tcp_peer_stats__table_evicts_idle_peers_only(void **state)
{
    (void)state;
    /* Peers are IPs. Three entries (max_connections 2 + 1): .1 stays connected, .2 and .3
     * come and go, then .4 arrives: the least recent idle peer (.2) is evicted, not .1. */
    static const char *const ips[] = {"127.0.0.2", "127.0.0.3", "127.0.0.4"};
    for (int i = 0; i < 3; i++)
        if (!can_bind(ips[i]))
            skip(); /* 127.0.0.x other than .1 not on lo here */
    lw_tcp_opts_t o = {.max_connections = 2, .peers_max = 1};
    server_t *s = server_start(&o, MODE_ECHO);
    int keep_fd = client_from(s, "127.0.0.1");
    RUN_UNTIL(s, s->accepts == 1);
    for (int i = 0; i < 3; i++) {
        int fd = client_from(s, ips[i]);
        assert_true(fd >= 0);
        RUN_UNTIL(s, s->accepts == 2 + i);
        close(fd);
        RUN_UNTIL(s, s->closes == 1 + i);
    }
    lw_tcp_stats_t st = stats(s);
    assert_int_equal(st.peers, 3);
    assert_int_equal(st.peers_evicted, 1);
    struct sockaddr_in a;
    lw_tcp_peer_stats_t ps;
    uv_ip4_addr("127.0.0.2", 0, &a);
    assert_int_equal(lw_tcp_peer_stats(s->l, (struct sockaddr *)&a, &ps), -1);
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(lw_tcp_peer_stats(s->l, (struct sockaddr *)&a, &ps), 0);
    assert_int_equal(ps.connections, 1);
    uv_ip4_addr("127.0.0.4", 0, &a);
    assert_int_equal(lw_tcp_peer_stats(s->l, (struct sockaddr *)&a, &ps), 0);
    assert_int_equal(ps.accepted, 1);
    assert_int_equal(ps.connections, 0);
    close(keep_fd);
    RUN_UNTIL(s, s->closes == 4);
    server_stop(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lw_tcp_listen__bad_address_and_port_in_use),
        cmocka_unit_test(test_lw_tcp_conn__echo),
        cmocka_unit_test(test_lw_tcp_conn__half_close_still_gets_reply),
        cmocka_unit_test(test_lw_tcp_conn__unconsumed_input_kept),
        cmocka_unit_test(test_lw_tcp_conn__full_input_pauses_until_resume),
        cmocka_unit_test(test_lw_tcp_conn_pause__stops_reading),
        cmocka_unit_test(test_lw_tcp_listen__max_connections),
        cmocka_unit_test(test_lw_tcp_listen__max_per_peer),
        cmocka_unit_test(test_lw_tcp_conn_write__output_full),
        cmocka_unit_test(test_lw_tcp_conn_end__reply_then_close),
        cmocka_unit_test(test_lw_tcp_conn_close__from_on_accept),
        cmocka_unit_test(test_lw_tcp_listener_close__connections_open),
        cmocka_unit_test(test_lw_tcp_peer_stats__table_evicts_idle_peers_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
