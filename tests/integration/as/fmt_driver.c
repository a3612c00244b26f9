/* Drives the payload formatters (components/as/fmt.c) without the rest of the AS: commands
 * on stdin, one result per line on stdout, so that test_as_formatters.sh can compare them
 * with node and check the limits.
 *
 *   script APP FILE            APP's JavaScript formatter (FILE read once)
 *   lpp APP                    APP's formatter is CayenneLPP
 *   repo APP BRAND MODEL FW BAND   APP's formatter is the Device Repository's codec
 *   up APP FPORT HEX [TIME]    decodeUplink; prints "<n> APP up <json>"
 *   down APP FPORT JSON        encodeDownlink; prints "<n> APP down <json>"
 *   wait                       runs the loop until every call is answered
 *   ready N                    runs the loop until N workers are ready
 *   stats                      prints the pool's counters
 * <json>: {"decoded_payload":..,"warnings":..,"normalized_payload":..} or {"error":NAME,
 * "namespace":NS,"message":..}; downlinks {"bytes":[..],"f_port":N,"warnings":..}.
 * Usage: fmt_driver LWSTACK [TIMEOUT_MS MEMORY_LIMIT WORKERS [REPO]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "cluster/json.h"
#include "as/as_private.h"
#include "as/fmt_private.h"
#include "cluster/hex.h"
#include "cluster/mem.h"

#define APPS 16

typedef struct app {
    char name[64];
    as_formatter_t f;
    char *script;
    json_t *version_ids;
} app_t;

static app_t apps[APPS];
static int napps, pending, seq;
static as_fmt_ops_t ops;

static app_t *app_find(const char *name)
{
    for (int i = 0; i < napps; i++)
        if (strcmp(apps[i].name, name) == 0)
            return &apps[i];
    app_t *a = &apps[napps++];
    snprintf(a->name, sizeof a->name, "%s", name);
    return a;
}

typedef struct tag {
    int n;
    char app[64];
} tag_t;

static void print_err(json_t *o, const lw_err_t *err)
{
    json_object_set_new(o, "error", json_string(err->def->name));
    json_object_set_new(o, "namespace", json_string(err->def->ns));
    json_object_set_new(o, "message", json_string(err->message));
}

static void emit(tag_t *t, const char *kind, json_t *o)
{
    char *s = lw_json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS); /* as the AS prints it */
    printf("%d %s %s %s\n", t->n, t->app, kind, s);
    fflush(stdout);
    free(s);
    json_decref(o);
    free(t);
    pending--;
}

static void up_cb(void *arg, const as_fmt_uplink_result_t *r)
{
    json_t *o = json_object();
    if (r->err != NULL) {
        print_err(o, r->err);
    } else {
        if (r->decoded_payload != NULL)
            json_object_set(o, "decoded_payload", r->decoded_payload);
        if (r->warnings != NULL)
            json_object_set(o, "warnings", r->warnings);
        if (r->normalized_payload != NULL)
            json_object_set(o, "normalized_payload", r->normalized_payload);
    }
    emit(arg, "up", o);
}

static void down_cb(void *arg, const as_fmt_downlink_result_t *r)
{
    json_t *o = json_object();
    if (r->err != NULL) {
        print_err(o, r->err);
    } else {
        json_t *b = json_array();
        for (size_t i = 0; i < r->frm_payload_len; i++)
            json_array_append_new(b, json_integer(r->frm_payload[i]));
        json_object_set_new(o, "bytes", b);
        json_object_set_new(o, "f_port", json_integer(r->f_port));
        if (r->warnings != NULL)
            json_object_set(o, "warnings", r->warnings);
    }
    emit(arg, "down", o);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    char *buf = lw_malloc(FMT_SCRIPT_MAX + 1);
    size_t n = fread(buf, 1, FMT_SCRIPT_MAX, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void done_cb(void *arg)
{
    *(int *)arg = 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fmt_driver LWSTACK [TIMEOUT_MS MEMORY_LIMIT WORKERS [REPO]]\n");
        return 2;
    }
    uv_loop_t *loop = uv_default_loop();
    const char *wargv[] = {argv[1], "formatter-worker", NULL};
    fmt_pool_cfg_t pc = {
        .argv = wargv,
        .workers = argc > 4 ? (unsigned)atoi(argv[4]) : 2,
        .timeout_ms = argc > 2 ? (uint32_t)atoi(argv[2]) : 100,
        .memory_limit = argc > 3 ? strtoull(argv[3], NULL, 10) : 256ull << 20,
        .depth = 8,
        .slow_ms = 20,
        .queue_per_app = 256,
        .scripts_cached = 64,
    };
    lw_err_t err;
    as_fmt_t *f = as_fmt_new(loop, &pc, argc > 5 ? argv[5] : NULL, &err);
    if (f == NULL) {
        fprintf(stderr, "fmt_driver: %s\n", err.message);
        return 1;
    }
    as_fmt_get_ops(f, &ops);
    char line[8192];
    while (fgets(line, sizeof line, stdin) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *save = NULL;
        char *cmd = strtok_r(line, " ", &save);
        if (cmd == NULL)
            continue;
        if (strcmp(cmd, "wait") == 0) {
            while (pending > 0)
                uv_run(loop, UV_RUN_ONCE);
            continue;
        }
        if (strcmp(cmd, "ready") == 0) {
            unsigned n = (unsigned)atoi(strtok_r(NULL, " ", &save));
            while (fmt_pool_ready(as_fmt_pool(f)) < n)
                uv_run(loop, UV_RUN_ONCE);
            continue;
        }
        if (strcmp(cmd, "stats") == 0) {
            fmt_pool_stats_t s;
            fmt_pool_stats(as_fmt_pool(f), &s);
            printf("stats calls=%llu ok=%llu failed=%llu timeouts=%llu memory_kills=%llu "
                   "respawns=%llu scripts_sent=%llu\n",
                   (unsigned long long)s.calls, (unsigned long long)s.ok,
                   (unsigned long long)s.failed, (unsigned long long)s.timeouts,
                   (unsigned long long)s.memory_kills, (unsigned long long)s.respawns,
                   (unsigned long long)s.scripts_sent);
            fflush(stdout);
            continue;
        }
        app_t *a = app_find(strtok_r(NULL, " ", &save));
        if (strcmp(cmd, "script") == 0) {
            free(a->script);
            a->script = slurp(strtok_r(NULL, " ", &save));
            a->f = (as_formatter_t){AS_FMT_JAVASCRIPT, a->script};
        } else if (strcmp(cmd, "lpp") == 0) {
            a->f = (as_formatter_t){AS_FMT_CAYENNELPP, ""};
        } else if (strcmp(cmd, "repo") == 0) {
            const char *b = strtok_r(NULL, " ", &save), *m = strtok_r(NULL, " ", &save);
            const char *fw = strtok_r(NULL, " ", &save), *band = strtok_r(NULL, " ", &save);
            json_decref(a->version_ids);
            a->version_ids = json_pack("{s:s,s:s,s:s,s:s}", "brand_id", b, "model_id", m,
                                       "firmware_version", fw, "band_id", band);
            a->f = (as_formatter_t){AS_FMT_REPOSITORY, ""};
        } else if (strcmp(cmd, "up") == 0) {
            int port = atoi(strtok_r(NULL, " ", &save));
            const char *hex = strtok_r(NULL, " ", &save);
            const char *t = strtok_r(NULL, " ", &save);
            uint8_t payload[FMT_PAYLOAD_MAX];
            int n = strcmp(hex, "-") == 0 ? 0 : lw_hex_decode(hex, payload, sizeof payload);
            tag_t *tag = lw_calloc(1, sizeof *tag);
            tag->n = ++seq;
            snprintf(tag->app, sizeof tag->app, "%s", a->name);
            as_fmt_uplink_t in = {
                .tenant_id = "acme",
                .app_id = a->name,
                .dev_id = "dev",
                .formatter = a->f,
                .version_ids = a->version_ids,
                .f_port = (uint8_t)port,
                .frm_payload = payload,
                .frm_payload_len = n > 0 ? (size_t)n : 0,
                .recv_time = t,
            };
            pending++;
            ops.decode_uplink(ops.impl, &in, up_cb, tag);
        } else if (strcmp(cmd, "down") == 0) {
            int port = atoi(strtok_r(NULL, " ", &save));
            json_t *data = json_loads(save, 0, NULL);
            tag_t *tag = lw_calloc(1, sizeof *tag);
            tag->n = ++seq;
            snprintf(tag->app, sizeof tag->app, "%s", a->name);
            as_fmt_downlink_t in = {
                .tenant_id = "acme",
                .app_id = a->name,
                .dev_id = "dev",
                .formatter = a->f,
                .version_ids = a->version_ids,
                .decoded_payload = data,
                .f_port = (uint8_t)port,
            };
            pending++;
            ops.encode_downlink(ops.impl, &in, down_cb, tag);
            json_decref(data);
        }
    }
    while (pending > 0)
        uv_run(loop, UV_RUN_ONCE);
    int gone = 0;
    as_fmt_free(f, done_cb, &gone);
    while (!gone)
        uv_run(loop, UV_RUN_ONCE);
    uv_run(loop, UV_RUN_DEFAULT);
    for (int i = 0; i < napps; i++) {
        free(apps[i].script);
        json_decref(apps[i].version_ids);
    }
    uv_loop_close(loop);
    return 0;
}
