/* Unit tests of the HTTP server's lifecycle on a libuv loop (cluster/http.c), with a client
 * on the same loop: start/stop lets the loop end, a busy port fails cleanly, exact answer
 * bytes, an answer given after the client left, a stop while a handler holds a request. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
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

typedef struct fixture {
    uv_loop_t loop;
    lw_config_t *cfg;
    lw_http_t *http;
    int stopped;
    bool stop_requested;
    /* client */
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t wr;
    const char *request;
    char response[8192];
    size_t response_len;
    int client_closed;
    bool close_after_write;
    /* a request a handler keeps for later */
    lw_http_req_t *held;
    uv_timer_t timer;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->cfg = lw_config_new();
    assert_int_equal(lw_http_config_register(f->cfg), 0);
    lw_err_t err;
    assert_int_equal(lw_config_set(f->cfg, "http.listen", "127.0.0.1:0", "flag", &err), 0);
    f->http = lw_http_new(&f->loop, f->cfg, &err);
    assert_non_null(f->http);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    lw_http_free(f->http);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    lw_config_free(f->cfg);
    free(f);
    return 0;
}

static void on_stopped(void *arg)
{
    fixture_t *f = arg;
    f->stopped++;
}

static void test_lw_http_stop__loop_ends(void **state)
{
    fixture_t *f = *state;
    lw_err_t err;
    assert_int_equal(lw_http_start(f->http, &err), 0);
    assert_true(lw_http_port(f->http) > 0);
    lw_http_stop(f->http, on_stopped, f);
    uint64_t t0 = uv_hrtime();
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->stopped, 1);
    assert_true(uv_hrtime() - t0 < 2000000000ull);
    /* A second stop calls done at once. */
    lw_http_stop(f->http, on_stopped, f);
    assert_int_equal(f->stopped, 2);
}

static void test_lw_http_start__busy_port(void **state)
{
    fixture_t *f = *state;
    lw_err_t err;
    assert_int_equal(lw_http_start(f->http, &err), 0);
    char listen[32];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", lw_http_port(f->http));

    lw_config_t *cfg2 = lw_config_new();
    lw_http_config_register(cfg2);
    assert_int_equal(lw_config_set(cfg2, "http.listen", listen, "flag", &err), 0);
    lw_http_t *second = lw_http_new(&f->loop, cfg2, &err);
    assert_non_null(second);
    assert_int_equal(lw_http_start(second, &err), -1);
    assert_string_equal(lw_err_name(&err), "unavailable");
    char want[96];
    snprintf(want, sizeof want, "cannot listen on %s: Address already in use", listen);
    assert_string_equal(err.message, want);
    lw_http_free(second);
    lw_config_free(cfg2);

    lw_http_stop(f->http, on_stopped, f);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(f->stopped, 1);
}

static void test_lw_http_new__invalid_tls_pair(void **state)
{
    fixture_t *f = *state;
    lw_err_t err;
    lw_config_t *cfg = lw_config_new();
    lw_http_config_register(cfg);
    assert_int_equal(lw_config_set(cfg, "http.tls.key", "/tmp/key.pem", "flag", &err), 0);
    assert_null(lw_http_new(&f->loop, cfg, &err));
    assert_string_equal(lw_err_name(&err), "config_invalid");
    assert_string_equal(err.message, "http.tls.certificate and http.tls.key must be set together");
    assert_int_equal(lw_config_set(cfg, "http.listen", "nope", "flag", &err), -1);
    assert_string_equal(lw_err_name(&err), "config_invalid");
    lw_config_free(cfg);
}

/* ---- client on the loop ---- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    fixture_t *f = h->data;
    buf->base = f->response + f->response_len;
    buf->len = sizeof f->response - 1 - f->response_len;
}

static void on_client_closed(uv_handle_t *h)
{
    fixture_t *f = h->data;
    f->client_closed = 1;
}

static void stop_server(fixture_t *f)
{
    if (!f->stop_requested)
        lw_http_stop(f->http, on_stopped, f);
    f->stop_requested = true;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    fixture_t *f = s->data;
    if (n > 0) {
        f->response_len += (size_t)n;
        f->response[f->response_len] = '\0';
        return;
    }
    if (n < 0) {
        uv_close((uv_handle_t *)s, on_client_closed);
        stop_server(f);
    }
}

static void on_written(uv_write_t *w, int status)
{
    fixture_t *f = w->data;
    assert_int_equal(status, 0);
    if (f->close_after_write)
        uv_close((uv_handle_t *)&f->tcp, on_client_closed);
    else
        uv_read_start((uv_stream_t *)&f->tcp, on_alloc, on_read);
}

static void on_connected(uv_connect_t *c, int status)
{
    fixture_t *f = c->data;
    assert_int_equal(status, 0);
    uv_buf_t b = uv_buf_init((char *)f->request, (unsigned)strlen(f->request));
    f->wr.data = f;
    uv_write(&f->wr, (uv_stream_t *)&f->tcp, &b, 1, on_written);
}

static void client_start(fixture_t *f, const char *request)
{
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", lw_http_port(f->http), &sa);
    f->request = request;
    uv_tcp_init(&f->loop, &f->tcp);
    f->tcp.data = f;
    f->conn.data = f;
    uv_tcp_connect(&f->conn, &f->tcp, (const struct sockaddr *)&sa, on_connected);
}

static void h_things(lw_http_req_t *req, void *arg)
{
    fixture_t *f = arg;
    assert_non_null(f);
    lw_http_add_header(req, "X-Total-Count", "7");
    lw_http_respond_json(req, 201,
                         json_pack("{s:s, s:s, s:s}", "id", lw_http_param(req, "id"), "q",
                                   lw_http_query(req, "q"), "tenant",
                                   lw_http_header(req, "x-tenant-id")));
}

static void test_lw_http__answer_bytes(void **state)
{
    fixture_t *f = *state;
    lw_err_t err;
    assert_int_equal(lw_http_route(f->http, "GET", "/things/{id}", h_things, f), 0);
    assert_int_equal(lw_http_start(f->http, &err), 0);
    client_start(f, "GET /things/t%201?q=a%26b HTTP/1.1\r\nHost: x\r\nX-Tenant-ID: acme\r\n"
                    "Connection: close\r\n\r\n");
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_true(f->client_closed);
    assert_int_equal(f->stopped, 1);
    /* h2o's Date line changes every second: check its shape, then the rest byte for byte. */
    char *date = strstr(f->response, "Date: ");
    assert_non_null(date);
    char *eol = strstr(date, "\r\n");
    assert_int_equal(eol - date, (long)strlen("Date: Tue, 01 Dec 2026 08:47:09 GMT"));
    memmove(date, eol + 2, strlen(eol + 2) + 1);
    assert_string_equal(f->response, "HTTP/1.1 201 Created\r\n"
                                     "Connection: close\r\n"
                                     "Content-Length: 38\r\n"
                                     "Server: lwstack\r\n"
                                     "content-type: application/json\r\n"
                                     "x-total-count: 7\r\n"
                                     "access-control-expose-headers: X-Total-Count\r\n"
                                     "\r\n"
                                     "{\"id\":\"t 1\",\"q\":\"a&b\",\"tenant\":\"acme\"}");
}

static void on_late_answer(uv_timer_t *t)
{
    fixture_t *f = t->data;
    /* The client is gone: the answer is dropped and the request freed (ASan checks). */
    lw_http_respond_json(f->held, 200, json_pack("{s:b}", "late", 1));
    f->held = NULL;
    uv_close((uv_handle_t *)t, NULL);
    stop_server(f);
}

static void h_hold(lw_http_req_t *req, void *arg)
{
    fixture_t *f = arg;
    f->held = req;
    uv_timer_init(&f->loop, &f->timer);
    f->timer.data = f;
    uv_timer_start(&f->timer, on_late_answer, 200, 0);
}

static void test_lw_http_respond__after_client_left(void **state)
{
    fixture_t *f = *state;
    lw_err_t err;
    lw_http_route(f->http, "GET", "/hold", h_hold, f);
    assert_int_equal(lw_http_start(f->http, &err), 0);
    f->close_after_write = true;
    client_start(f, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_null(f->held);
    assert_int_equal(f->stopped, 1);
}

static void on_stop_timer(uv_timer_t *t)
{
    fixture_t *f = t->data;
    /* The handler still holds the request: stop anyway, answer afterwards. */
    stop_server(f);
    uv_timer_start(t, on_late_answer, 100, 0);
}

static void h_hold_then_stop(lw_http_req_t *req, void *arg)
{
    fixture_t *f = arg;
    f->held = req;
    uv_timer_init(&f->loop, &f->timer);
    f->timer.data = f;
    uv_timer_start(&f->timer, on_stop_timer, 50, 0);
}

static void test_lw_http_stop__while_handler_holds_request(void **state)
{
    fixture_t *f = *state;
    lw_err_t err;
    lw_http_route(f->http, "GET", "/hold", h_hold_then_stop, f);
    assert_int_equal(lw_http_start(f->http, &err), 0);
    client_start(f, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n");
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_null(f->held);
    assert_int_equal(f->stopped, 1);
    assert_true(f->client_closed);
    assert_int_equal(f->response_len, 0); /* the connection closed without an answer */
}

/* ---- conformance: a blocking client in a thread while the loop serves ---------------- */

#define NSLOW 200

typedef struct conf_fixture {
    uv_loop_t loop;
    lw_config_t *cfg;
    lw_http_t *api, *ws;
    int api_port, ws_port;
    uv_async_t done;
    pthread_t thread;
    int stopped;
    int smuggled_calls;
    /* results, read by the main thread once the loop has ended */
    char pipelined[8192], chunked[4096], big_header[4096], big_uri[4096], unknown_method[4096];
    char cl_te[4096], two_cl[4096], after_slow[4096];
    bool cl_te_closed, two_cl_closed;
    int slow_open_before, slow_closed_after;
    char ws_handshake[4096], ws_echo[64], ws_close[64], ws_other_route[4096], api_ws_route[4096];
    size_t ws_echo_len, ws_close_len;
    char ws_ping[8], ws_pong[16], ws_auto_pong[8];
    size_t ws_ping_len, ws_pong_len, ws_auto_pong_len;
} conf_fixture_t;

static int client_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return -1;
    struct timeval tv = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_all(int fd, const void *b, size_t n)
{
    const char *p = b;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Reads until the peer closes (sets *closed) or 3 s pass without a byte, or `until` is seen. */
static size_t read_some(int fd, char *out, size_t cap, const char *until, bool *closed)
{
    size_t n = 0;
    if (closed)
        *closed = false;
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
    out[n] = '\0';
    return n;
}

static void exchange(int port, const char *req, size_t len, char *out, size_t cap, bool *closed)
{
    int fd = client_connect(port);
    if (fd < 0)
        return;
    send_all(fd, req, len);
    read_some(fd, out, cap, NULL, closed);
    close(fd);
}

static void ws_frame(char *buf, size_t *len, unsigned char opcode, const char *payload, size_t n)
{
    static const unsigned char mask[4] = {1, 2, 3, 4};
    buf[0] = (char)(0x80 | opcode);
    buf[1] = (char)(0x80 | n); /* n < 126 */
    memcpy(buf + 2, mask, 4);
    for (size_t i = 0; i < n; i++)
        buf[6 + i] = (char)(payload[i] ^ mask[i % 4]);
    *len = 6 + n;
}

static void client_websocket(conf_fixture_t *f)
{
    int fd = client_connect(f->ws_port);
    const char hs[] = "GET /echo-ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n";
    send_all(fd, hs, sizeof hs - 1);
    read_some(fd, f->ws_handshake, sizeof f->ws_handshake, "\r\n\r\n", NULL);
    char frame[64];
    size_t flen;
    ws_frame(frame, &flen, 0x1, "hello", 5);
    send_all(fd, frame, flen);
    f->ws_echo_len = (size_t)recv(fd, f->ws_echo, 7, MSG_WAITALL);
    /* "ping" asks the server for a ping (lw_ws_ping); our pong reaches on_pong, which
     * answers "pong 1"; a ping of ours is answered by the server itself. */
    ws_frame(frame, &flen, 0x1, "ping", 4);
    send_all(fd, frame, flen);
    f->ws_ping_len = (size_t)recv(fd, f->ws_ping, 2, MSG_WAITALL);
    ws_frame(frame, &flen, 0xA, "", 0);
    send_all(fd, frame, flen);
    f->ws_pong_len = (size_t)recv(fd, f->ws_pong, 8, MSG_WAITALL);
    ws_frame(frame, &flen, 0x9, "ab", 2);
    send_all(fd, frame, flen);
    f->ws_auto_pong_len = (size_t)recv(fd, f->ws_auto_pong, 4, MSG_WAITALL);
    ws_frame(frame, &flen, 0x8, "\x03\xe8", 2); /* close, 1000 */
    send_all(fd, frame, flen);
    ssize_t r = recv(fd, f->ws_close, 4, MSG_WAITALL);
    f->ws_close_len = r > 0 ? (size_t)r : 0;
    close(fd);
    const char other[] = "GET /sync HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    exchange(f->ws_port, other, sizeof other - 1, f->ws_other_route, sizeof f->ws_other_route,
             NULL);
    const char api_ws[] = "GET /echo-ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    exchange(f->api_port, api_ws, sizeof api_ws - 1, f->api_ws_route, sizeof f->api_ws_route, NULL);
}

static void client_slowloris(conf_fixture_t *f)
{
    static int fds[NSLOW];
    for (int i = 0; i < NSLOW; i++) {
        fds[i] = client_connect(f->api_port);
        if (fds[i] >= 0) {
            send_all(fds[i], "GET /sync HTTP/1.1\r\nHost: x\r\nX-Slow: 1", 38);
            f->slow_open_before++;
        }
    }
    const char req[] = "GET /sync HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    exchange(f->api_port, req, sizeof req - 1, f->after_slow, sizeof f->after_slow, NULL);
    /* http.request-timeout is 1 s here: every slow connection is closed without an answer. */
    for (int i = 0; i < NSLOW; i++) {
        if (fds[i] < 0)
            continue;
        char b[64];
        bool closed;
        if (read_some(fds[i], b, sizeof b, NULL, &closed) == 0 && closed)
            f->slow_closed_after++;
        close(fds[i]);
    }
}

static void *client_main(void *arg)
{
    conf_fixture_t *f = arg;
    const char pipelined[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
                             "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n{\"n\":1}"
                             "GET /sync HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    exchange(f->api_port, pipelined, sizeof pipelined - 1, f->pipelined, sizeof f->pipelined, NULL);
    const char chunked[] = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                           "Connection: close\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
    exchange(f->api_port, chunked, sizeof chunked - 1, f->chunked, sizeof f->chunked, NULL);
    char big[12000];
    int n = snprintf(big, sizeof big, "GET /sync HTTP/1.1\r\nHost: x\r\nX-Big: %09000d\r\n\r\n", 0);
    exchange(f->api_port, big, (size_t)n, f->big_header, sizeof f->big_header, NULL);
    n = snprintf(big, sizeof big, "GET /sync?x=%09000d HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    exchange(f->api_port, big, (size_t)n, f->big_uri, sizeof f->big_uri, NULL);
    const char unknown[] = "FROB /sync HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    exchange(f->api_port, unknown, sizeof unknown - 1, f->unknown_method, sizeof f->unknown_method,
             NULL);
    const char cl_te[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                         "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    exchange(f->api_port, cl_te, sizeof cl_te - 1, f->cl_te, sizeof f->cl_te, &f->cl_te_closed);
    const char two_cl[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                          "Content-Length: 40\r\n\r\n{}GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    exchange(f->api_port, two_cl, sizeof two_cl - 1, f->two_cl, sizeof f->two_cl,
             &f->two_cl_closed);
    client_websocket(f);
    client_slowloris(f);
    uv_async_send(&f->done);
    return NULL;
}

static void conf_stopped(void *arg)
{
    ((conf_fixture_t *)arg)->stopped++;
}

static void conf_done(uv_async_t *a)
{
    conf_fixture_t *f = a->data;
    lw_http_stop(f->api, conf_stopped, f);
    lw_http_stop(f->ws, conf_stopped, f);
    uv_close((uv_handle_t *)a, NULL);
}

static void h_sync(lw_http_req_t *req, void *arg)
{
    (void)arg;
    lw_http_respond_json(req, 200, json_pack("{s:b}", "ok", 1));
}

static void h_echo(lw_http_req_t *req, void *arg)
{
    (void)arg;
    lw_err_t err;
    json_t *body = lw_http_json(req, &err);
    if (body == NULL) {
        lw_http_respond_err(req, &err);
        return;
    }
    lw_http_respond_json(req, 200, json_pack("{s:O}", "echo", body));
}

static void h_smuggled(lw_http_req_t *req, void *arg)
{
    ((conf_fixture_t *)arg)->smuggled_calls++;
    lw_http_respond_json(req, 200, NULL);
}

static int ws_pongs;

static void ws_echo_message(lw_ws_t *ws, bool binary, const void *data, size_t len, void *arg)
{
    (void)arg;
    lw_err_t err;
    if (!binary && len == 4 && memcmp(data, "ping", 4) == 0) {
        lw_ws_ping(ws, &err);
        return;
    }
    lw_ws_send(ws, binary, data, len, &err);
}

static void ws_echo_pong(lw_ws_t *ws, void *arg)
{
    (void)arg;
    char text[16];
    int n = snprintf(text, sizeof text, "pong %d", ++ws_pongs);
    lw_err_t err;
    lw_ws_send(ws, false, text, (size_t)n, &err);
}

static void ws_echo_closed(lw_ws_t *ws, void *arg)
{
    (void)ws;
    (void)arg;
}

static void h_echo_ws(lw_http_req_t *req, void *arg)
{
    static const lw_ws_callbacks_t cb = {ws_echo_message, ws_echo_closed, ws_echo_pong};
    lw_err_t err;
    if (lw_http_websocket_accept(req, &cb, arg, &err) == NULL)
        lw_http_respond_err(req, &err);
}

static const char *body_of(const char *resp)
{
    const char *b = strstr(resp, "\r\n\r\n");
    return b ? b + 4 : "";
}

static void test_lw_http__conformance(void **state)
{
    (void)state;
    conf_fixture_t *f = calloc(1, sizeof *f);
    lw_err_t err;
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->cfg = lw_config_new();
    lw_http_config_register(f->cfg);
    assert_int_equal(lw_config_set(f->cfg, "http.listen", "127.0.0.1:0", "flag", &err), 0);
    assert_int_equal(lw_config_set(f->cfg, "http.request-timeout", "1s", "flag", &err), 0);
    f->api = lw_http_new(&f->loop, f->cfg, &err);
    assert_non_null(f->api);
    lw_http_opts_t o = {.name = "lns", .listen = "127.0.0.1:0", .listen_key = "gs.lns.listen"};
    f->ws = lw_http_new_opts(&f->loop, &o, &err);
    assert_non_null(f->ws);
    lw_http_route(f->api, "GET", "/sync", h_sync, f);
    lw_http_route(f->api, "POST", "/echo", h_echo, f);
    lw_http_route(f->api, "GET", "/smuggled", h_smuggled, f);
    lw_http_route(f->ws, "GET", "/echo-ws", h_echo_ws, f);
    assert_int_equal(lw_http_start(f->api, &err), 0);
    assert_int_equal(lw_http_start(f->ws, &err), 0);
    f->api_port = lw_http_port(f->api);
    f->ws_port = lw_http_port(f->ws);
    assert_int_not_equal(f->api_port, f->ws_port);
    uv_async_init(&f->loop, &f->done, conf_done);
    f->done.data = f;
    assert_int_equal(pthread_create(&f->thread, NULL, client_main, f), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    pthread_join(f->thread, NULL);
    assert_int_equal(f->stopped, 2);

    /* Pipelined requests with bodies: three answers, in order. */
    const char *p = f->pipelined;
    const char *want[] = {"{\"echo\":{}}", "{\"echo\":{\"n\":1}}", "{\"ok\":true}"};
    for (int i = 0; i < 3; i++) {
        p = strstr(p, "HTTP/1.1 200 OK\r\n");
        assert_non_null(p);
        const char *b = body_of(p);
        assert_memory_equal(b, want[i], strlen(want[i]));
        p = b;
    }
    assert_null(strstr(p, "HTTP/1.1"));
    /* A chunked body. */
    assert_non_null(strstr(f->chunked, "HTTP/1.1 200 OK\r\n"));
    assert_string_equal(body_of(f->chunked), "{\"echo\":{\"a\":1}}");
    /* Caps, in The Things Stack's error shape. */
    assert_non_null(strstr(f->big_header, "HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    assert_non_null(strstr(body_of(f->big_header), "\"name\":\"request_header_fields_too_large\""));
    assert_non_null(strstr(f->big_uri, "HTTP/1.1 414 URI Too Long\r\n"));
    assert_non_null(strstr(body_of(f->big_uri), "\"name\":\"uri_too_long\""));
    assert_non_null(strstr(f->unknown_method, "HTTP/1.1 405 Method Not Allowed\r\n"));
    assert_non_null(strstr(f->unknown_method, "content-type: application/json\r\n"));
    assert_non_null(strstr(body_of(f->unknown_method), "\"name\":\"method_not_allowed\""));
    /* Smuggling: refused, the connection closed, the request behind never run. */
    assert_non_null(strstr(f->cl_te, "HTTP/1.1 400 Bad Request\r\n"));
    assert_non_null(strstr(body_of(f->cl_te), "both Transfer-Encoding and Content-Length"));
    assert_null(strstr(body_of(f->cl_te), "HTTP/1.1"));
    assert_true(f->cl_te_closed);
    assert_non_null(strstr(f->two_cl, "HTTP/1.1 400 Bad Request\r\n"));
    assert_non_null(strstr(body_of(f->two_cl), "more than one Content-Length"));
    assert_null(strstr(body_of(f->two_cl), "HTTP/1.1"));
    assert_true(f->two_cl_closed);
    assert_int_equal(f->smuggled_calls, 0);
    /* WebSocket echo on the second listener, which has its own routes. */
    assert_non_null(strstr(f->ws_handshake, "HTTP/1.1 101 Switching Protocols\r\n"));
    /* RFC 6455 §1.3's example key and accept value. */
    assert_non_null(
        strstr(f->ws_handshake, "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert_int_equal(f->ws_echo_len, 7);
    assert_memory_equal(f->ws_echo, "\x81\x05hello", 7);
    assert_int_equal(f->ws_ping_len, 2);
    assert_memory_equal(f->ws_ping, "\x89\x00", 2);
    assert_int_equal(f->ws_pong_len, 8);
    assert_memory_equal(f->ws_pong, "\x81\x06pong 1", 8);
    assert_int_equal(f->ws_auto_pong_len, 4);
    assert_memory_equal(f->ws_auto_pong,
                        "\x8a\x02"
                        "ab",
                        4);
    assert_int_equal(f->ws_close_len, 4);
    assert_memory_equal(f->ws_close, "\x88\x02\x03\xe8", 4);
    assert_non_null(strstr(f->ws_other_route, "HTTP/1.1 404 Not Found\r\n"));
    assert_non_null(strstr(f->api_ws_route, "HTTP/1.1 404 Not Found\r\n"));
    /* Slowloris: 200 half-sent heads do not keep others out, and each is closed after the
     * request timeout. */
    assert_int_equal(f->slow_open_before, NSLOW);
    assert_non_null(strstr(f->after_slow, "HTTP/1.1 200 OK\r\n"));
    assert_int_equal(f->slow_closed_after, NSLOW);

    lw_http_free(f->api);
    lw_http_free(f->ws);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    lw_config_free(f->cfg);
    free(f);
}

int main(void)
{
    lw_log_setup(LW_LOG_WARN, LW_LOG_LOGFMT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lw_http_stop__loop_ends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_start__busy_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_new__invalid_tls_pair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_http__answer_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_respond__after_client_left, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_stop__while_handler_holds_request, setup,
                                        teardown),
        cmocka_unit_test(test_lw_http__conformance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
