/* Driver for tests/integration/test_as_mqtt.sh: the AS's MQTT server (mqtt_server.c) alone on
 * a loop, with an auth callback from a table of keys and commands on stdin, so that real
 * clients (mosquitto_sub/pub, paho) can be tested against it without the rest of the stack.
 *
 *   mqtt_harness [--key TENANT:APP:KEY:RIGHTS]... [--suspended TENANT]... [--session-queue N]
 *                [--inflight N] [--output-cap BYTES] [--expiry-max S] [--connect-timeout MS]
 *                [--tls CERT:KEY]
 *
 * RIGHTS: r (RIGHT_APPLICATION_TRAFFIC_READ), w (..._TRAFFIC_DOWN_WRITE), rw, or - (none).
 * Answers come one loop turn later (the AS asks the IS asynchronously too). Prints
 * "port N" once listening (and "tls-port N" with --tls); then, per stdin line:
 *   publish TENANT APP DEV SUFFIX PAYLOAD      -> "published N" (sessions reached)
 *   publishn COUNT TENANT APP DEV SUFFIX SIZE [BATCH]
 *                                              -> "published N in T ms" (sum) once all are
 *                                                 out; payloads {"n":<i>,"pad":"xx.."} of
 *                                                 SIZE bytes, BATCH (10) per millisecond
 *   suspend TENANT                             -> "closed N" (its keys refused from now)
 *   stats                                      -> "stats connections=.. sessions=.. ..."
 *   quit
 * Each client downlink prints "downlink TENANT APP DEV push|replace PAYLOAD". */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "as/mqtt_private.h"
#include "cluster/mem.h"

#define KEYS_MAX 16

typedef struct key {
    char tenant[64], app[64], key[128];
    bool r, w;
} key_t_;

static key_t_ keys[KEYS_MAX];
static size_t n_keys;
static char suspended[8][64];
static size_t n_suspended;
static as_mqtt_srv_t *srv;
static uv_loop_t *loop;
static char line[1 << 16];
static size_t line_len;

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

typedef struct pending {
    uv_timer_t t;
    as_mqtt_auth_t *a;
} pending_t;

static void on_pending_closed(uv_handle_t *h)
{
    free(h->data);
}

static void answer(uv_timer_t *t)
{
    pending_t *p = t->data;
    as_mqtt_auth_t *a = p->a;
    as_mqtt_auth_result_t r = {.status = AS_MQTT_AUTH_DENIED};
    bool susp = false;
    for (size_t i = 0; i < n_suspended; i++)
        susp |= strcmp(suspended[i], a->tenant_id) == 0;
    for (size_t i = 0; i < n_keys && !susp; i++) {
        if (strcmp(keys[i].tenant, a->tenant_id) == 0 && strcmp(keys[i].app, a->app_id) == 0 &&
            strlen(keys[i].key) == a->key_len && memcmp(keys[i].key, a->key, a->key_len) == 0) {
            r.status = AS_MQTT_AUTH_OK;
            r.can_read = keys[i].r;
            r.can_write = keys[i].w;
        }
    }
    as_mqtt_auth_done(a, &r);
    uv_close((uv_handle_t *)&p->t, on_pending_closed);
}

static void on_auth(void *arg, as_mqtt_auth_t *a)
{
    (void)arg;
    pending_t *p = lw_calloc(1, sizeof *p);
    p->a = a;
    uv_timer_init(loop, &p->t);
    p->t.data = p;
    uv_timer_start(&p->t, answer, 0, 0);
}

static void on_downlink(void *arg, const char *tenant, const char *app, const char *dev,
                        bool replace, const uint8_t *payload, size_t len)
{
    (void)arg;
    out("downlink %s %s %s %s %.*s\n", tenant, app, dev, replace ? "replace" : "push", (int)len,
        (const char *)payload);
}

static void on_stopped(void *arg)
{
    (void)arg;
    uv_stop(loop);
}

static uv_pipe_t in_pipe;

/* publishn: JOB_BATCH messages per millisecond, so that clients read between batches as
 * they would between uplinks. */
#define JOB_BATCH 10
static struct {
    uv_timer_t t;
    long count, size, i, batch;
    uint64_t started_ms;
    size_t sum;
    char tenant[64], app[64], dev[64], suffix[64];
} job;

static void job_tick(uv_timer_t *t)
{
    char *buf = lw_malloc((size_t)job.size + 64);
    for (long b = 0; b < job.batch && job.i < job.count; b++, job.i++) {
        int n = snprintf(buf, 64, "{\"n\":%ld,\"pad\":\"", job.i);
        long pad = job.size - n - 2;
        for (long k = 0; k < pad; k++)
            buf[n + k] = 'x';
        n += pad > 0 ? (int)pad : 0;
        buf[n++] = '"';
        buf[n++] = '}';
        job.sum += as_mqtt_publish(srv, job.tenant, job.app, job.dev, job.suffix, (uint8_t *)buf,
                                   (size_t)n);
    }
    free(buf);
    if (job.i >= job.count) {
        uv_timer_stop(t);
        out("published %zu in %llu ms\n", job.sum,
            (unsigned long long)(uv_hrtime() / 1000000u - job.started_ms));
    }
}

static void command(char *cmd)
{
    char *argv[8] = {0};
    int argc = 0;
    for (char *tok = strtok(cmd, " "); tok != NULL && argc < 8; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    if (argc == 0)
        return;
    if (strcmp(argv[0], "publish") == 0 && argc >= 6) {
        /* The payload is one word (no spaces). */
        size_t n = as_mqtt_publish(srv, argv[1], argv[2], argv[3], argv[4],
                                   (const uint8_t *)argv[5], strlen(argv[5]));
        out("published %zu\n", n);
    } else if (strcmp(argv[0], "publishn") == 0 && (argc == 7 || argc == 8)) {
        job.batch = argc == 8 ? atol(argv[7]) : JOB_BATCH;
        job.started_ms = uv_hrtime() / 1000000u;
        job.count = atol(argv[1]);
        job.size = atol(argv[6]);
        job.i = 0;
        job.sum = 0;
        snprintf(job.tenant, sizeof job.tenant, "%s", argv[2]);
        snprintf(job.app, sizeof job.app, "%s", argv[3]);
        snprintf(job.dev, sizeof job.dev, "%s", argv[4]);
        snprintf(job.suffix, sizeof job.suffix, "%s", argv[5]);
        uv_timer_start(&job.t, job_tick, 0, 1);
    } else if (strcmp(argv[0], "suspend") == 0 && argc == 2) {
        /* As the AS does on a suspension: the tenant's keys stop working, its connections
         * close. */
        if (n_suspended < 8)
            snprintf(suspended[n_suspended++], 64, "%s", argv[1]);
        out("closed %zu\n", as_mqtt_close_tenant(srv, argv[1]));
    } else if (strcmp(argv[0], "stats") == 0) {
        as_mqtt_stats_t s;
        as_mqtt_stats(srv, &s);
        out("stats connections=%zu sessions=%zu accepted=%llu refused=%llu delivered=%llu "
            "dropped_queue_full=%llu slow_disconnects=%llu keepalive_disconnects=%llu "
            "downlinks=%llu downlinks_denied=%llu malformed=%llu\n",
            s.connections, s.sessions, (unsigned long long)s.connects_accepted,
            (unsigned long long)s.connects_refused, (unsigned long long)s.delivered,
            (unsigned long long)s.dropped_queue_full, (unsigned long long)s.slow_disconnects,
            (unsigned long long)s.keepalive_disconnects, (unsigned long long)s.downlinks,
            (unsigned long long)s.downlinks_denied, (unsigned long long)s.malformed);
    } else if (strcmp(argv[0], "quit") == 0) {
        uv_read_stop((uv_stream_t *)&in_pipe);
        uv_close((uv_handle_t *)&in_pipe, NULL);
        uv_close((uv_handle_t *)&job.t, NULL);
        as_mqtt_stop(srv, on_stopped, NULL);
    } else {
        out("error unknown command %s\n", argv[0]);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)h;
    (void)suggested;
    b->base = line + line_len;
    b->len = sizeof(line) - line_len - 1;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    if (n < 0) {
        uv_read_stop(s);
        return;
    }
    line_len += (size_t)n;
    char *nl;
    while ((nl = memchr(line, '\n', line_len)) != NULL) {
        *nl = '\0';
        size_t used = (size_t)(nl - line) + 1;
        char cmd[sizeof line];
        memcpy(cmd, line, used);
        memmove(line, nl + 1, line_len - used);
        line_len -= used;
        command(cmd);
    }
}

int main(int argc, char **argv)
{
    as_mqtt_opts_t o = {.listen = "127.0.0.1:0",
                        .max_packet = 65536,
                        .output_cap = 1 << 20,
                        .session_queue = 1000,
                        .inflight = 32,
                        .session_expiry_max_s = 3600,
                        .connect_timeout_ms = 10000};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--key") == 0 && n_keys < KEYS_MAX) {
            key_t_ *k = &keys[n_keys++];
            char rights[8] = "";
            if (sscanf(v, "%63[^:]:%63[^:]:%127[^:]:%7s", k->tenant, k->app, k->key, rights) != 4)
                return 2;
            k->r = strchr(rights, 'r') != NULL;
            k->w = strchr(rights, 'w') != NULL;
        } else if (strcmp(a, "--suspended") == 0 && n_suspended < 8) {
            snprintf(suspended[n_suspended++], 64, "%s", v);
        } else if (strcmp(a, "--session-queue") == 0) {
            o.session_queue = (size_t)atol(v);
        } else if (strcmp(a, "--inflight") == 0) {
            o.inflight = (uint16_t)atoi(v);
        } else if (strcmp(a, "--output-cap") == 0) {
            o.output_cap = (size_t)atol(v);
        } else if (strcmp(a, "--expiry-max") == 0) {
            o.session_expiry_max_s = (uint32_t)atol(v);
        } else if (strcmp(a, "--tls") == 0) {
            /* CERT:KEY (PEM files): a TLS listener on another free port. */
            static char cert[512], key[512];
            if (sscanf(v, "%511[^:]:%511s", cert, key) != 2)
                return 2;
            o.listen_tls = "127.0.0.1:0";
            o.tls_certificate = cert;
            o.tls_key = key;
        } else if (strcmp(a, "--connect-timeout") == 0) {
            o.connect_timeout_ms = (uint32_t)atol(v);
        } else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
    }
    loop = uv_default_loop();
    as_mqtt_callbacks_t cb = {.auth = on_auth, .downlink = on_downlink};
    lw_err_t err;
    srv = as_mqtt_new(loop, NULL, &o, &cb, &err);
    if (srv == NULL) {
        fprintf(stderr, "listen: %s\n", err.message);
        return 1;
    }
    out("port %d\n", as_mqtt_port(srv));
    if (o.listen_tls != NULL)
        out("tls-port %d\n", as_mqtt_port_tls(srv));
    uv_timer_init(loop, &job.t);
    uv_pipe_init(loop, &in_pipe, 0);
    uv_pipe_open(&in_pipe, 0);
    uv_read_start((uv_stream_t *)&in_pipe, on_alloc, on_read);
    uv_run(loop, UV_RUN_DEFAULT);
    as_mqtt_free(srv);
    uv_run(loop, UV_RUN_NOWAIT);
    uv_loop_close(loop);
    return 0;
}
