/* Unit tests of the HTTP server's lifecycle on a libuv loop (cluster/http.c), with a client
 * on the same loop: start/stop lets the loop end, a busy port fails cleanly, exact answer
 * bytes, an answer given after the client left, a stop while a handler holds a request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
