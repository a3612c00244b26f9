/* A fast webhook endpoint for the webhook bench (tests/bench/as/webhooks.sh): the project's
 * own HTTP server (cluster/http.h, h2o) answering 200 {} to every POST /hook/{type}, counting
 * them (python3 -m http.server, as the functional tests use, would be the bottleneck).
 *
 *   webhook_sink --listen 127.0.0.1:0 --port-file F --out F
 *
 * Writes the bound port to --port-file, then every 200 ms and at SIGTERM/SIGINT
 * {"requests": N, "first_ns": T, "last_ns": T} to --out (atomically). */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "cluster/http.h"
#include "cluster/log.h"

static struct {
    uv_loop_t loop;
    lw_http_t *http;
    uint64_t requests;
    int64_t first_ns, last_ns;
    const char *out;
    uv_signal_t sigterm, sigint;
    uv_timer_t timer;
} S;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void write_out(void)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", S.out);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return;
    fprintf(f, "{\"requests\": %llu, \"first_ns\": %lld, \"last_ns\": %lld}\n",
            (unsigned long long)S.requests, (long long)S.first_ns, (long long)S.last_ns);
    fclose(f);
    rename(tmp, S.out);
}

static void on_hook(lw_http_req_t *req, void *arg)
{
    (void)arg;
    int64_t t = now_ns();
    if (S.requests == 0)
        S.first_ns = t;
    S.last_ns = t;
    S.requests++;
    lw_http_respond(req, 200, "application/json", "{}", 2);
}

static void on_timer(uv_timer_t *t)
{
    (void)t;
    write_out();
}

static void stopped(void *arg)
{
    (void)arg;
    uv_close((uv_handle_t *)&S.timer, NULL);
    uv_close((uv_handle_t *)&S.sigterm, NULL);
    uv_close((uv_handle_t *)&S.sigint, NULL);
}

static void on_signal(uv_signal_t *s, int sig)
{
    (void)s;
    (void)sig;
    write_out();
    uv_timer_stop(&S.timer);
    uv_signal_stop(&S.sigterm);
    uv_signal_stop(&S.sigint);
    lw_http_stop(S.http, stopped, NULL);
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:0", *port_file = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--listen") == 0)
            listen = argv[i + 1];
        else if (strcmp(argv[i], "--port-file") == 0)
            port_file = argv[i + 1];
        else if (strcmp(argv[i], "--out") == 0)
            S.out = argv[i + 1];
    }
    if (port_file == NULL || S.out == NULL) {
        fprintf(stderr, "usage: webhook_sink [--listen ADDR] --port-file F --out F\n");
        return 2;
    }
    lw_log_setup(LW_LOG_WARN, LW_LOG_LOGFMT);
    uv_loop_init(&S.loop);
    lw_err_t err;
    lw_err_clear(&err);
    lw_http_opts_t o = {.name = "sink", .listen = listen, .max_connections = 4096};
    S.http = lw_http_new_opts(&S.loop, &o, &err);
    if (S.http == NULL || lw_http_route(S.http, "POST", "/hook/{type}", on_hook, NULL) != 0 ||
        lw_http_start(S.http, &err) != 0) {
        fprintf(stderr, "webhook_sink: %s\n", err.message);
        return 1;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return 1;
    fprintf(f, "%d\n", lw_http_port(S.http));
    fclose(f);
    rename(tmp, port_file);
    write_out();
    uv_timer_init(&S.loop, &S.timer);
    uv_timer_start(&S.timer, on_timer, 200, 200);
    uv_signal_init(&S.loop, &S.sigterm);
    uv_signal_start(&S.sigterm, on_signal, SIGTERM);
    uv_signal_init(&S.loop, &S.sigint);
    uv_signal_start(&S.sigint, on_signal, SIGINT);
    uv_run(&S.loop, UV_RUN_DEFAULT);
    lw_http_free(S.http);
    uv_run(&S.loop, UV_RUN_DEFAULT);
    uv_loop_close(&S.loop);
    return 0;
}
