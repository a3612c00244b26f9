/* Test driver of the device parts (tests/integration/test_dtc_parts.sh):
 *
 *   dtc_driver [lwstack flags: --db.uri, --bus.brokers, --js.key-encryption-key, ...] batch
 *       --tenant ID --application ID [--keys] [--dry-run] [--batch N] < templates
 *
 * reads one {"end_device": {...}, "field_mask": {"paths": [...]}} per line, runs
 * dtc_batch_run (components/dtc/batch.c) with every server's part on a blocking connection,
 * N rows a batch (default: all), then dtc_batch_committed on the runtime's loop, and prints
 * one line per row: {"line", "device_id", "outcome", "parts": {"is": outcome, ...}, "error",
 * "field", "message"}. Exit 0, or 1 when a
 * batch failed as a whole. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "as/as.h"
#include "cluster/db.h"
#include "cluster/mem.h"
#include "cluster/runtime.h"
#include "dtc/batch.h"
#include "is/is.h"
#include "js/js.h"
#include "ns/ns.h"
#include "tenant/tenant.h"

typedef struct drv {
    lw_rt_t *rt;
    const char *tenant, *app;
    bool keys, dry_run;
    size_t batch;
    int rc;
} drv_t;

static const char *outcome_name(tn_devpart_outcome_t o)
{
    static const char *const n[] = {"CREATED", "UPDATED", "UNCHANGED", "FAILED"};
    return n[o];
}

static const char *err_attr(const lw_err_t *e, const char *key)
{
    for (int i = 0; i < e->nattrs; i++)
        if (strcmp(e->attrs[i].key, key) == 0)
            return e->attrs[i].value;
    return NULL;
}

typedef struct tmpl {
    json_t *doc;
    const char **paths;
    char id[64];
} tmpl_t;

static int run(drv_t *d, lw_err_t *err)
{
    lw_config_t *cfg = lw_rt_config(d->rt);
    PGconn *c = lw_db_connect_blocking(lw_config_str(cfg, "db.uri"), err);
    if (c == NULL)
        return -1;
    tn_tenant_t t;
    memset(&t, 0, sizeof t);
    snprintf(t.id, sizeof t.id, "%s", d->tenant);
    tn_schema_name(t.id, t.schema);
    for (int k = 0; k < TN_LIMIT_COUNT; k++)
        t.limits[k] = TN_UNLIMITED;
    const char *p[1] = {d->tenant};
    PGresult *q = lw_db_query_blocking(
        c, "SELECT max_end_devices FROM lw_control.tenants WHERE tenant_id = $1", 1, p, err);
    if (q == NULL) {
        PQfinish(c);
        return -1;
    }
    if (PQntuples(q) == 1 && !PQgetisnull(q, 0, 0))
        t.limits[TN_LIMIT_END_DEVICES] = atoll(PQgetvalue(q, 0, 0));
    PQclear(q);
    char sq[2 * TN_SCHEMA_MAX + 3];
    lw_db_quote_ident(t.schema, sq, sizeof sq);
    tn_devpart_env_t env = {.cfg = cfg,
                            .tenant = &t,
                            .schema = sq,
                            .application_id = d->app,
                            .keys = d->keys,
                            .dry_run = d->dry_run};
    size_t cap = 16, n = 0;
    tmpl_t *ts = lw_calloc(cap, sizeof *ts);
    char *line = NULL;
    size_t ll = 0;
    while (getline(&line, &ll, stdin) > 0) {
        if (line[0] == '\n')
            continue;
        if (n == cap) {
            cap *= 2;
            ts = lw_realloc(ts, cap * sizeof *ts);
        }
        tmpl_t *x = &ts[n++];
        memset(x, 0, sizeof *x);
        x->doc = json_loads(line, JSON_ALLOW_NUL, NULL); /* a NUL reaches the database */
        json_t *paths = json_object_get(json_object_get(x->doc, "field_mask"), "paths");
        x->paths = lw_calloc(json_array_size(paths) + 1, sizeof *x->paths);
        for (size_t i = 0; i < json_array_size(paths); i++)
            x->paths[i] = json_string_value(json_array_get(paths, i));
        const char *id = json_string_value(json_object_get(
            json_object_get(json_object_get(x->doc, "end_device"), "ids"), "device_id"));
        snprintf(x->id, sizeof x->id, "%s", id != NULL ? id : "");
    }
    free(line);
    size_t bs = d->batch > 0 ? d->batch : (n > 0 ? n : 1);
    dtc_row_t *rows = lw_calloc(bs, sizeof *rows);
    int rc = 0;
    uint64_t run_ns = 0, committed_ns = 0;
    for (size_t at = 0; at < n && rc == 0; at += bs) {
        size_t m = n - at < bs ? n - at : bs;
        memset(rows, 0, m * sizeof *rows);
        for (size_t i = 0; i < m; i++) {
            tmpl_t *x = &ts[at + i];
            rows[i].dev.device_id = x->id;
            rows[i].dev.end_device = json_object_get(x->doc, "end_device");
            rows[i].dev.paths = x->paths;
            rows[i].dev.npaths =
                json_array_size(json_object_get(json_object_get(x->doc, "field_mask"), "paths"));
            rows[i].line = at + i + 1;
        }
        uint64_t t0 = uv_hrtime();
        if (dtc_batch_run(&env, c, rows, m, err) != 0) {
            rc = -1;
            break;
        }
        uint64_t t1 = uv_hrtime();
        if (!d->dry_run)
            dtc_batch_committed(d->rt, &env, rows, m);
        run_ns += t1 - t0;
        committed_ns += uv_hrtime() - t1;
        for (size_t i = 0; i < m; i++) {
            const dtc_row_t *r = &rows[i];
            json_t *o = json_pack("{sI ss ss}", "line", (json_int_t)r->line, "device_id",
                                  r->dev.device_id, "outcome", outcome_name(r->outcome));
            size_t np;
            const tn_devpart_t *const *parts = tn_devparts(&np);
            json_t *po = json_object();
            for (size_t k = 0; k < np; k++)
                json_object_set_new(po, parts[k]->name,
                                    json_string(outcome_name(r->part_res[k].outcome)));
            json_object_set_new(o, "parts", po);
            if (r->outcome == TN_DEVPART_FAILED) {
                json_object_set_new(o, "error", json_string(lw_err_name(&r->err)));
                const char *f = err_attr(&r->err, "field");
                if (f != NULL)
                    json_object_set_new(o, "field", json_string(f));
                json_object_set_new(o, "message", json_string(r->err.message));
            }
            char *s = json_dumps(o, JSON_COMPACT);
            printf("%s\n", s);
            free(s);
            json_decref(o);
        }
        dtc_batch_release(rows, m);
    }
    fflush(stdout);
    fprintf(stderr,
            "dtc_driver: %zu rows, %.3f s in dtc_batch_run, %.3f s in dtc_batch_committed\n", n,
            (double)run_ns / 1e9, (double)committed_ns / 1e9);
    free(rows);
    for (size_t i = 0; i < n; i++) {
        json_decref(ts[i].doc);
        free(ts[i].paths);
    }
    free(ts);
    PQfinish(c);
    return rc;
}

static drv_t drv;

static int drv_init(lw_rt_t *rt, void **state, lw_err_t *err)
{
    (void)err;
    drv.rt = rt;
    *state = &drv;
    return 0;
}

static void stop_soon(uv_timer_t *t)
{
    lw_rt_shutdown(t->data);
}

static int drv_start(void *state, lw_err_t *err)
{
    drv_t *d = state;
    lw_err_t e;
    lw_err_clear(&e);
    if (run(d, &e) != 0) {
        fprintf(stderr, "dtc_driver: %s: %s\n", lw_err_name(&e), e.message);
        d->rc = 1;
    }
    (void)err;
    /* The notifications leave with the bus's flush at the stop. */
    static uv_timer_t t;
    uv_timer_init(lw_rt_loop(d->rt), &t);
    t.data = d->rt;
    uv_timer_start(&t, stop_soon, 10, 0);
    uv_unref((uv_handle_t *)&t);
    return 0;
}

static void drv_stop(void *state, void (*done)(void *arg), void *done_arg)
{
    (void)state;
    done(done_arg);
}

static const lw_component_t drv_component = {
    .name = "dtc-driver", .init = drv_init, .start = drv_start, .stop = drv_stop};

int main(int argc, char **argv)
{
    json_set_alloc_funcs(lw_malloc, free);
    static const tn_devpart_t *const parts[] = {&is_devpart, &js_devpart, &ns_devpart, &as_devpart};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        tn_devparts_register(parts[i]);
    lw_config_t *cfg = lw_config_new();
    const lw_component_t *comps[] = {&is_component, &js_component, &ns_component, &as_component};
    lw_rt_config_register(cfg);
    for (size_t i = 0; i < sizeof comps / sizeof comps[0]; i++)
        comps[i]->config_register(cfg);
    lw_err_t err;
    lw_err_clear(&err);
    if (lw_config_parse_flags(cfg, &argc, argv, &err) != 0) {
        fprintf(stderr, "dtc_driver: %s\n", err.message);
        return 2;
    }
    if (argc < 2 || strcmp(argv[1], "batch") != 0) {
        fprintf(stderr, "usage: dtc_driver [flags] batch --tenant T --application A [--keys] "
                        "[--dry-run] [--batch N] < templates\n");
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc)
            drv.tenant = argv[++i];
        else if (strcmp(argv[i], "--application") == 0 && i + 1 < argc)
            drv.app = argv[++i];
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            drv.batch = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--keys") == 0)
            drv.keys = true;
        else if (strcmp(argv[i], "--dry-run") == 0)
            drv.dry_run = true;
    }
    if (drv.tenant == NULL || drv.app == NULL) {
        fprintf(stderr, "dtc_driver: --tenant and --application are required\n");
        return 2;
    }
    lw_rt_t *rt = lw_rt_new(cfg, &err);
    if (rt == NULL || lw_rt_add(rt, &drv_component, &err) != 0 || lw_rt_run(rt, &err) != 0) {
        fprintf(stderr, "dtc_driver: %s\n", err.message);
        return 1;
    }
    lw_rt_free(rt);
    lw_config_free(cfg);
    return drv.rc;
}
