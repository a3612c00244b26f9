/* http_driver: runs the HTTP server (cluster/http.c) on a libuv loop with test routes, for
 * tests/integration/test_http_*.sh.
 *
 *     http_driver [--http.listen ADDR] [--http.<key> VALUE]... [--port-file FILE]
 *
 * Every --http.* flag goes to the configuration as lwstack's flags do. Once listening it
 * writes the bound port to FILE. SIGINT/SIGTERM or POST /stop stop the server; the program
 * exits 0 when the loop has ended by itself (every handle closed), 1 otherwise.
 *
 * Routes:
 *   GET  /sync                          {"ok":true}
 *   GET  /async?delay_ms=N              {"async":true,"delay_ms":N} after a uv_timer
 *   POST /echo                          the JSON body back ({"echo":<body>}), 400 invalid_json
 *   GET  /things/{thing_id}/parts/{part_id}   the captures
 *   GET  /things/new                    {"literal":true} (literal beats capture)
 *   GET  /query                         query arguments a, b, empty, missing
 *   GET  /list                          {"items":[]} with X-Total-Count: 42
 *   GET  /error                         409 db_unique_violation with attributes
 *   GET  /headers                       host, x-tenant-id, authorization, content-type, x-custom
 *   GET  /big?bytes=N                   N bytes of text/plain
 *   GET  /metrics                       Prometheus text
 *   POST /stop                          202, then stops the server */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "cluster/config.h"
#include "cluster/err.h"
#include "cluster/http.h"
#include "cluster/log.h"
#include "cluster/metrics.h"

typedef struct driver {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    lw_http_t *http;
    lw_metrics_t *metrics;
    int pending_async;
    bool stopping;
} driver_t;

static driver_t D;

typedef struct async_op {
    uv_timer_t timer;
    lw_http_req_t *req;
    long delay_ms;
} async_op_t;

static void on_sync(lw_http_req_t *req, void *arg)
{
    (void)arg;
    lw_http_respond_json(req, 200, json_pack("{s:b}", "ok", 1));
}

static void async_closed(uv_handle_t *h)
{
    free(h->data);
    D.pending_async--;
}

static void async_fire(uv_timer_t *t)
{
    async_op_t *op = t->data;
    /* The client may be gone: the server drops the answer and frees the request. */
    lw_http_respond_json(op->req, 200,
                         json_pack("{s:b, s:I}", "async", 1, "delay_ms", (json_int_t)op->delay_ms));
    uv_close((uv_handle_t *)t, async_closed);
}

static void on_async(lw_http_req_t *req, void *arg)
{
    (void)arg;
    const char *d = lw_http_query(req, "delay_ms");
    long delay = d ? strtol(d, NULL, 10) : 10;
    if (delay < 0 || delay > 60000) {
        lw_err_t err;
        lw_err_set(&err, &lw_err_invalid_field, "invalid `delay_ms`");
        lw_err_attr(&err, "field", "delay_ms");
        lw_http_respond_err(req, &err);
        return;
    }
    async_op_t *op = calloc(1, sizeof *op);
    if (op == NULL) {
        lw_http_respond_err(req, NULL);
        return;
    }
    op->req = req;
    op->delay_ms = delay;
    uv_timer_init(&D.loop, &op->timer);
    op->timer.data = op;
    D.pending_async++;
    uv_timer_start(&op->timer, async_fire, (uint64_t)delay, 0);
}

static void on_echo(lw_http_req_t *req, void *arg)
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

static void on_thing_part(lw_http_req_t *req, void *arg)
{
    (void)arg;
    lw_http_respond_json(req, 200,
                         json_pack("{s:s?, s:s?}", "thing_id", lw_http_param(req, "thing_id"),
                                   "part_id", lw_http_param(req, "part_id")));
}

static void on_thing_new(lw_http_req_t *req, void *arg)
{
    (void)arg;
    lw_http_respond_json(req, 200, json_pack("{s:b}", "literal", 1));
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static void on_query(lw_http_req_t *req, void *arg)
{
    (void)arg;
    json_t *j = json_object();
    static const char *const names[] = {"a", "b", "empty", "missing"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        json_object_set_new(j, names[i], str_or_null(lw_http_query(req, names[i])));
    lw_http_respond_json(req, 200, j);
}

static void on_list(lw_http_req_t *req, void *arg)
{
    (void)arg;
    lw_http_add_header(req, "X-Total-Count", "42");
    lw_http_respond_json(req, 200, json_pack("{s:[]}", "items"));
}

static void on_error(lw_http_req_t *req, void *arg)
{
    (void)arg;
    lw_err_t err;
    lw_err_set(&err, &lw_err_db_unique_violation, "thing `t1` already exists");
    lw_err_attr(&err, "thing_id", "t1");
    lw_err_attr_num(&err, "count", 2);
    lw_http_respond_err(req, &err);
}

static void on_headers(lw_http_req_t *req, void *arg)
{
    (void)arg;
    json_t *j = json_object();
    json_object_set_new(j, "host", str_or_null(lw_http_host(req)));
    json_object_set_new(j, "x-tenant-id", str_or_null(lw_http_header(req, "X-Tenant-ID")));
    json_object_set_new(j, "authorization", str_or_null(lw_http_header(req, "authorization")));
    json_object_set_new(j, "content-type", str_or_null(lw_http_header(req, "Content-Type")));
    json_object_set_new(j, "x-custom", str_or_null(lw_http_header(req, "X-Custom")));
    json_object_set_new(j, "method", json_string(lw_http_method(req)));
    json_object_set_new(j, "path", json_string(lw_http_path(req)));
    lw_http_respond_json(req, 200, j);
}

static void on_big(lw_http_req_t *req, void *arg)
{
    (void)arg;
    const char *b = lw_http_query(req, "bytes");
    long n = b ? strtol(b, NULL, 10) : 0;
    if (n < 0 || n > 64L * 1024 * 1024)
        n = 0;
    char *buf = malloc((size_t)n + 1);
    if (buf == NULL) {
        lw_http_respond_err(req, NULL);
        return;
    }
    for (long i = 0; i < n; i++)
        buf[i] = (char)('a' + i % 26);
    lw_http_respond(req, 200, "text/plain", buf, (size_t)n);
    free(buf);
}

static void on_metrics(lw_http_req_t *req, void *arg)
{
    (void)arg;
    char *text = NULL;
    long n = lw_metrics_render(D.metrics, &text);
    if (n < 0) {
        lw_http_respond_err(req, NULL);
        return;
    }
    lw_http_respond(req, 200, "text/plain; version=0.0.4", text, (size_t)n);
    free(text);
}

static void stop_done(void *arg)
{
    (void)arg;
    fprintf(stderr, "http_driver: server stopped\n");
    uv_close((uv_handle_t *)&D.sigint, NULL);
    uv_close((uv_handle_t *)&D.sigterm, NULL);
}

static void driver_stop(void)
{
    if (D.stopping)
        return;
    D.stopping = true;
    lw_http_stop(D.http, stop_done, NULL);
}

static void stop_timer_closed(uv_handle_t *h)
{
    free(h);
}

static void stop_later(uv_timer_t *t)
{
    uv_close((uv_handle_t *)t, stop_timer_closed);
    driver_stop();
}

static void on_stop(lw_http_req_t *req, void *arg)
{
    (void)arg;
    lw_http_respond_json(req, 202, json_pack("{s:b}", "stopping", 1));
    /* Let the answer go out first. */
    uv_timer_t *t = malloc(sizeof *t);
    if (t == NULL)
        return;
    uv_timer_init(&D.loop, t);
    uv_timer_start(t, stop_later, 50, 0);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    driver_stop();
}

int main(int argc, char **argv)
{
    const char *port_file = NULL;
    lw_log_setup(LW_LOG_INFO, LW_LOG_LOGFMT);
    lw_config_t *cfg = lw_config_new();
    lw_err_t err;
    if (lw_http_config_register(cfg) != 0) {
        fprintf(stderr, "http_driver: cannot register the configuration\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc) {
            port_file = argv[++i];
        } else if (strncmp(argv[i], "--http.", 7) == 0 && i + 1 < argc) {
            if (lw_config_set(cfg, argv[i] + 2, argv[i + 1], "flag", &err) != 0) {
                fprintf(stderr, "http_driver: %s\n", err.message);
                lw_config_free(cfg);
                return 2;
            }
            i++;
        } else {
            fprintf(stderr, "usage: http_driver [--http.KEY VALUE]... [--port-file FILE]\n");
            lw_config_free(cfg);
            return 2;
        }
    }
    uv_loop_init(&D.loop);
    D.metrics = lw_metrics_new();
    D.http = lw_http_new(&D.loop, cfg, &err);
    if (D.http == NULL) {
        fprintf(stderr, "http_driver: %s: %s\n", lw_err_name(&err), err.message);
        lw_metrics_free(D.metrics);
        lw_config_free(cfg);
        uv_loop_close(&D.loop);
        return 1;
    }
    lw_http_set_metrics(D.http, D.metrics);
    lw_http_route(D.http, "GET", "/sync", on_sync, NULL);
    lw_http_route(D.http, "GET", "/async", on_async, NULL);
    lw_http_route(D.http, "POST", "/echo", on_echo, NULL);
    lw_http_route(D.http, "GET", "/things/{thing_id}/parts/{part_id}", on_thing_part, NULL);
    lw_http_route(D.http, "GET", "/things/new", on_thing_new, NULL);
    lw_http_route(D.http, "GET", "/things/{thing_id}", on_thing_part, NULL);
    lw_http_route(D.http, "GET", "/query", on_query, NULL);
    lw_http_route(D.http, "GET", "/list", on_list, NULL);
    lw_http_route(D.http, "GET", "/error", on_error, NULL);
    lw_http_route(D.http, "GET", "/headers", on_headers, NULL);
    lw_http_route(D.http, "GET", "/big", on_big, NULL);
    lw_http_route(D.http, "GET", "/metrics", on_metrics, NULL);
    lw_http_route(D.http, "POST", "/stop", on_stop, NULL);

    if (lw_http_start(D.http, &err) != 0) {
        fprintf(stderr, "http_driver: %s: %s\n", lw_err_name(&err), err.message);
        lw_http_free(D.http);
        /* A failed start leaves nothing on the loop that outlives one run. */
        uv_run(&D.loop, UV_RUN_DEFAULT);
        int rc = uv_loop_close(&D.loop);
        lw_metrics_free(D.metrics);
        lw_config_free(cfg);
        return rc == 0 ? 1 : 3;
    }
    if (port_file != NULL) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (f == NULL || fprintf(f, "%d\n", lw_http_port(D.http)) < 0 || fclose(f) != 0 ||
            rename(tmp, port_file) != 0) {
            fprintf(stderr, "http_driver: cannot write %s\n", port_file);
            return 1;
        }
    }
    uv_signal_init(&D.loop, &D.sigint);
    uv_signal_init(&D.loop, &D.sigterm);
    uv_signal_start(&D.sigint, on_signal, SIGINT);
    uv_signal_start(&D.sigterm, on_signal, SIGTERM);

    uv_run(&D.loop, UV_RUN_DEFAULT);
    fprintf(stderr, "http_driver: loop ended\n");
    lw_http_free(D.http);
    int rc = uv_loop_close(&D.loop);
    if (rc != 0)
        fprintf(stderr, "http_driver: loop not empty: %s\n", uv_strerror(rc));
    lw_metrics_free(D.metrics);
    lw_config_free(cfg);
    return rc == 0 ? 0 : 1;
}
