/* Unit tests of streaming responses (cluster/http.h, lw_http_stream_*): a blocking client
 * in a thread while the loop serves. Chunks as they come over HTTP/1.1 chunked encoding,
 * a client that leaves (noticed at the next write), a slow reader dropped at the bound with
 * stream_backlog, a server stop that ends an open stream, and the closes counted by reason. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster/http.h"
#include "cluster/log.h"
#include "cluster/metrics.h"

typedef struct fixture {
    uv_loop_t loop;
    lw_config_t *cfg;
    lw_metrics_t *metrics;
    lw_http_t *http;
    int port;
    uv_async_t done;
    pthread_t thread;
    int stopped;
    /* /stream */
    lw_http_stream_t *chunks;
    uv_timer_t chunks_timer;
    /* /forever: a heartbeat until the client leaves */
    lw_http_stream_t *forever;
    uv_timer_t forever_timer;
    char forever_reason[32];
    /* /flood: more than the reader takes */
    lw_http_stream_t *flood;
    uv_timer_t flood_timer;
    char flood_err[32];
    long long flood_limit;
    atomic_int flood_dropped;
    /* /open: still open when the server stops */
    lw_http_stream_t *open;
    char open_reason[32];
    /* what the client saw */
    char stream_raw[4096], stream_body[256], forever_head[1024], open_raw[1024];
    bool flood_closed, flood_final;
    bool open_closed;
    char *metrics_text;
} fixture_t;

/* ---- the server side, on the loop ---------------------------------------------------- */

static void chunks_later(uv_timer_t *t)
{
    fixture_t *f = t->data;
    lw_err_t err;
    assert_int_equal(lw_http_stream_send(f->chunks, "bb\n", 3, &err), 0);
    lw_http_stream_end(f->chunks);
    f->chunks = NULL;
}

static void on_close_unexpected(lw_http_stream_t *s, const char *reason, void *arg)
{
    (void)s;
    (void)arg;
    fail_msg("unexpected close: %s", reason);
}

static void h_stream(lw_http_req_t *req, void *arg)
{
    fixture_t *f = arg;
    lw_err_t err;
    lw_http_add_header(req, "X-Test", "1");
    f->chunks = lw_http_stream_start(req, 200, "application/json", 0, on_close_unexpected, f, &err);
    assert_non_null(f->chunks);
    assert_int_equal(lw_http_stream_send(f->chunks, "a\n", 2, &err), 0);
    uv_timer_start(&f->chunks_timer, chunks_later, 20, 0);
}

static void forever_close(lw_http_stream_t *s, const char *reason, void *arg)
{
    fixture_t *f = arg;
    assert_ptr_equal(s, f->forever);
    snprintf(f->forever_reason, sizeof f->forever_reason, "%s", reason);
    f->forever = NULL;
    uv_timer_stop(&f->forever_timer);
}

static void forever_beat(uv_timer_t *t)
{
    fixture_t *f = t->data;
    lw_err_t err;
    if (f->forever != NULL)
        assert_int_equal(lw_http_stream_send(f->forever, "\n", 1, &err), 0);
}

static void h_forever(lw_http_req_t *req, void *arg)
{
    fixture_t *f = arg;
    lw_err_t err;
    f->forever = lw_http_stream_start(req, 200, "application/json", 0, forever_close, f, &err);
    assert_non_null(f->forever);
    uv_timer_start(&f->forever_timer, forever_beat, 10, 10);
}

static void flood_tick(uv_timer_t *t)
{
    fixture_t *f = t->data;
    static char block[16384];
    lw_err_t err;
    for (int i = 0; i < 4 && f->flood != NULL; i++) {
        memset(block, 'x', sizeof block);
        if (lw_http_stream_send(f->flood, block, sizeof block, &err) != 0) {
            snprintf(f->flood_err, sizeof f->flood_err, "%s", lw_err_name(&err));
            f->flood_limit = atoll(err.attrs[0].value);
            f->flood = NULL;
            uv_timer_stop(&f->flood_timer);
            atomic_store(&f->flood_dropped, 1);
        }
    }
}

static void h_flood(lw_http_req_t *req, void *arg)
{
    fixture_t *f = arg;
    lw_err_t err;
    f->flood = lw_http_stream_start(req, 200, "text/plain", 65536, on_close_unexpected, f, &err);
    assert_non_null(f->flood);
    uv_timer_start(&f->flood_timer, flood_tick, 1, 1);
}

static void open_close(lw_http_stream_t *s, const char *reason, void *arg)
{
    fixture_t *f = arg;
    assert_ptr_equal(s, f->open);
    snprintf(f->open_reason, sizeof f->open_reason, "%s", reason);
    f->open = NULL;
}

static void h_open(lw_http_req_t *req, void *arg)
{
    fixture_t *f = arg;
    lw_err_t err;
    f->open = lw_http_stream_start(req, 200, "application/json", 0, open_close, f, &err);
    assert_non_null(f->open);
    assert_int_equal(lw_http_stream_send(f->open, "{}\n", 3, &err), 0);
}

/* ---- the client, in a thread ------------------------------------------------------------ */

static int client_connect(int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return -1;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_all(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* Reads until `until` is seen, the peer closes (*closed), or 5 s pass without a byte. */
static size_t read_until(int fd, char *out, size_t cap, const char *until, bool *closed)
{
    size_t n = 0;
    if (closed)
        *closed = false;
    out[0] = '\0';
    while (n + 1 < cap) {
        ssize_t r = recv(fd, out + n, cap - 1 - n, 0);
        if (r == 0 && closed)
            *closed = true;
        if (r <= 0)
            break;
        n += (size_t)r;
        out[n] = '\0';
        if (until && strstr(out, until))
            break;
    }
    return n;
}

/* The payload of a chunked body (after the head), "" when malformed. */
static void dechunk(const char *raw, char *out, size_t cap)
{
    const char *p = strstr(raw, "\r\n\r\n");
    size_t n = 0;
    out[0] = '\0';
    if (p == NULL)
        return;
    p += 4;
    for (;;) {
        char *end;
        long len = strtol(p, &end, 16);
        if (end == p || strncmp(end, "\r\n", 2) != 0)
            return;
        if (len == 0)
            break;
        p = end + 2;
        if (n + (size_t)len >= cap)
            return;
        memcpy(out + n, p, (size_t)len);
        n += (size_t)len;
        p += len;
        if (strncmp(p, "\r\n", 2) != 0)
            return;
        p += 2;
    }
    out[n] = '\0';
}

static void *client_main(void *arg)
{
    fixture_t *f = arg;
    /* Chunks as they come, then the end of the response. */
    int fd = client_connect(f->port, 0);
    send_all(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    read_until(fd, f->stream_raw, sizeof f->stream_raw, "\r\n0\r\n\r\n", NULL);
    dechunk(f->stream_raw, f->stream_body, sizeof f->stream_body);
    close(fd);

    /* A client that leaves: the next heartbeat finds it gone. */
    fd = client_connect(f->port, 0);
    send_all(fd, "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n");
    read_until(fd, f->forever_head, sizeof f->forever_head, "\r\n\r\n", NULL);
    close(fd);

    /* A reader that does not read: dropped at the bound, the connection closed without the
     * last chunk. */
    fd = client_connect(f->port, 4096);
    send_all(fd, "GET /flood HTTP/1.1\r\nHost: x\r\n\r\n");
    for (int i = 0; i < 1000 && !atomic_load(&f->flood_dropped); i++)
        usleep(10000);
    static char sink[1 << 16];
    size_t total = 0;
    for (;;) {
        ssize_t r = recv(fd, sink, sizeof sink, 0);
        if (r == 0)
            f->flood_closed = true;
        if (r <= 0)
            break;
        total += (size_t)r;
        if ((size_t)r >= 5 && memcmp(sink + r - 5, "0\r\n\r\n", 5) == 0)
            f->flood_final = true;
    }
    (void)total;
    close(fd);

    /* A stream still open when the server stops: it ends cleanly. */
    fd = client_connect(f->port, 0);
    send_all(fd, "GET /open HTTP/1.1\r\nHost: x\r\n\r\n");
    char head[1024];
    read_until(fd, head, sizeof head, "{}\n\r\n", NULL);
    uv_async_send(&f->done);
    read_until(fd, f->open_raw, sizeof f->open_raw, NULL, &f->open_closed);
    close(fd);
    return NULL;
}

static void on_stopped(void *arg)
{
    fixture_t *f = arg;
    f->stopped++;
    lw_metrics_render(f->metrics, &f->metrics_text);
}

static void on_done(uv_async_t *a)
{
    fixture_t *f = a->data;
    uv_close((uv_handle_t *)a, NULL);
    uv_close((uv_handle_t *)&f->chunks_timer, NULL);
    uv_close((uv_handle_t *)&f->forever_timer, NULL);
    uv_close((uv_handle_t *)&f->flood_timer, NULL);
    lw_http_stop(f->http, on_stopped, f);
}

static void test_lw_http_stream(void **state)
{
    (void)state;
    fixture_t *f = calloc(1, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->cfg = lw_config_new();
    assert_int_equal(lw_http_config_register(f->cfg), 0);
    lw_err_t err;
    assert_int_equal(lw_config_set(f->cfg, "http.listen", "127.0.0.1:0", "flag", &err), 0);
    f->http = lw_http_new(&f->loop, f->cfg, &err);
    assert_non_null(f->http);
    f->metrics = lw_metrics_new();
    lw_http_set_metrics(f->http, f->metrics);
    lw_http_route(f->http, "GET", "/stream", h_stream, f);
    lw_http_route(f->http, "GET", "/forever", h_forever, f);
    lw_http_route(f->http, "GET", "/flood", h_flood, f);
    lw_http_route(f->http, "GET", "/open", h_open, f);
    assert_int_equal(lw_http_start(f->http, &err), 0);
    f->port = lw_http_port(f->http);
    uv_timer_t *timers[] = {&f->chunks_timer, &f->forever_timer, &f->flood_timer};
    for (size_t i = 0; i < 3; i++) {
        uv_timer_init(&f->loop, timers[i]);
        timers[i]->data = f;
    }
    uv_async_init(&f->loop, &f->done, on_done);
    f->done.data = f;
    assert_int_equal(pthread_create(&f->thread, NULL, client_main, f), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    pthread_join(f->thread, NULL);

    /* Chunks as they came: the head says chunked, the body is both sends in order. */
    assert_non_null(strstr(f->stream_raw, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(f->stream_raw, "transfer-encoding: chunked\r\n"));
    assert_non_null(strstr(f->stream_raw, "content-type: application/json\r\n"));
    assert_non_null(strstr(f->stream_raw, "x-test: 1\r\n"));
    assert_string_equal(f->stream_body, "a\nbb\n");

    assert_non_null(strstr(f->forever_head, "HTTP/1.1 200 OK\r\n"));
    assert_string_equal(f->forever_reason, "client_gone");
    assert_null(f->forever);

    assert_string_equal(f->flood_err, "stream_backlog");
    assert_int_equal(f->flood_limit, 65536);
    assert_true(f->flood_closed);
    assert_false(f->flood_final);

    assert_string_equal(f->open_reason, "server_stopping");
    assert_true(f->open_closed);
    assert_non_null(strstr(f->open_raw, "0\r\n\r\n"));

    assert_int_equal(f->stopped, 1);
    assert_non_null(f->metrics_text);
    assert_non_null(
        strstr(f->metrics_text, "lwstack_http_streams_closed_total{reason=\"ended\"} 1\n"));
    assert_non_null(
        strstr(f->metrics_text, "lwstack_http_streams_closed_total{reason=\"client_gone\"} 1\n"));
    assert_non_null(
        strstr(f->metrics_text, "lwstack_http_streams_closed_total{reason=\"slow_reader\"} 1\n"));
    assert_non_null(strstr(f->metrics_text,
                           "lwstack_http_streams_closed_total{reason=\"server_stopping\"} 1\n"));
    free(f->metrics_text);

    lw_http_free(f->http);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    lw_metrics_free(f->metrics);
    lw_config_free(f->cfg);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lw_http_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
