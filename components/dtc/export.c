/* GET /api/v3/applications/{application_id}/devices/export[?include_keys=true]: every end
 * device of the application as The Things Stack's EndDevice JSON, one per line, with every
 * part (tenant/devparts.h: registry, JS, NS, AS); root keys and session keys only with
 * include_keys=true, which needs RIGHT_APPLICATION_DEVICES_READ_KEYS besides ..._READ. It is
 * what the `the-things-stack` converter reads back (whitespace-separated objects).
 *
 * Streamed page by page: a pool thread reads `dtc.export.page-size` devices (ordered by
 * device ID, after the last one sent) with a blocking connection of its own, every part's
 * read filling them in; the loop sends the page, then asks for the next one once the
 * client has taken most of what is queued. Memory is one page and the HTTP queue, whatever
 * the fleet's size. An error before the first page is the answer; after it, the stream
 * ends with one {"error": ...} line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/api_codec.h"
#include "cluster/db.h"
#include "cluster/http.h"
#include "cluster/json.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "dtc/dtc_private.h"
#include "tenant/devparts.h"

#define R_READ      "RIGHT_APPLICATION_DEVICES_READ"
#define R_READ_KEYS "RIGHT_APPLICATION_DEVICES_READ_KEYS"
/* The next page is read once less than this is queued for the client. */
#define EXPORT_QUEUE_LOW (256u * 1024u)
#define EXPORT_QUEUE_MAX (8u * 1024u * 1024u)

typedef struct exp {
    dtc_t *dtc;
    lw_http_req_t *req;  /* until the stream starts */
    lw_http_stream_t *s; /* NULL: not started, or gone */
    tn_tenant_t t;
    char sq[2 * TN_SCHEMA_MAX + 3];
    char app[TN_ID_MAX + 1];
    tn_devpart_env_t env;
    long page_size;
    bool busy;   /* a page is being read */
    bool closed; /* the client left */
    bool last;   /* the page read is the last one */
    PGconn *c;
    char after[TN_ID_MAX + 1]; /* the last device ID read */
    char *buf;                 /* the page, one device a line */
    size_t len;
    size_t devices;
    int rc;
    lw_err_t err;
    uv_timer_t timer;
} exp_t;

static void exp_closed_timer(uv_handle_t *h)
{
    exp_t *x = h->data;
    free(x->buf);
    free(x);
}

static void exp_free(exp_t *x)
{
    if (x->c != NULL)
        PQfinish(x->c);
    x->c = NULL;
    uv_close((uv_handle_t *)&x->timer, exp_closed_timer);
}

/* ---- the pool thread: one page ------------------------------------------------------------- */

static void page_read(void *arg)
{
    exp_t *x = arg;
    lw_err_clear(&x->err);
    x->rc = 0;
    free(x->buf);
    x->buf = NULL;
    x->len = 0;
    if (x->c == NULL) {
        x->c = lw_db_connect_blocking(lw_config_str(x->dtc->cfg, "db.uri"), &x->err);
        if (x->c == NULL) {
            x->rc = -1;
            return;
        }
    }
    char sql[512], limit[24];
    snprintf(sql, sizeof sql,
             "SELECT device_id FROM %s.end_devices WHERE application_id = $1 AND device_id > $2 "
             "AND EXISTS (SELECT 1 FROM %s.applications WHERE application_id = $1 AND deleted_at "
             "IS NULL) ORDER BY device_id LIMIT $3::integer",
             x->sq, x->sq);
    snprintf(limit, sizeof limit, "%ld", x->page_size);
    const char *p[3] = {x->app, x->after, limit};
    PGresult *q = lw_db_query_blocking(x->c, sql, 3, p, &x->err);
    if (q == NULL) {
        x->rc = -1;
        return;
    }
    size_t n = (size_t)PQntuples(q);
    x->last = n < (size_t)x->page_size;
    const char **ids = lw_calloc(n ? n : 1, sizeof *ids);
    json_t **out = lw_calloc(n ? n : 1, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        ids[i] = PQgetvalue(q, (int)i, 0);
        out[i] = json_object();
    }
    size_t np;
    const tn_devpart_t *const *parts = tn_devparts(&np);
    /* One snapshot for the page: every part reads the same devices. */
    PGresult *b =
        n > 0 ? lw_db_query_blocking(x->c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0,
                                     NULL, &x->err)
              : NULL;
    if (n > 0 && b == NULL)
        x->rc = -1;
    PQclear(b);
    for (size_t k = 0; k < np && x->rc == 0 && n > 0; k++)
        if (parts[k]->read != NULL &&
            parts[k]->read(&x->env, x->c, ids, n, (json_t *const *)out, &x->err) != 0)
            x->rc = -1;
    if (n > 0) {
        lw_err_t e;
        PQclear(lw_db_query_blocking(x->c, x->rc == 0 ? "COMMIT" : "ROLLBACK", 0, NULL, &e));
    }
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        if (x->rc == 0) {
            char *line = lw_json_dumps(out[i], JSON_COMPACT);
            size_t l = strlen(line);
            if (x->len + l + 2 > cap) {
                cap = 2 * (x->len + l + 2);
                x->buf = lw_realloc(x->buf, cap);
            }
            memcpy(x->buf + x->len, line, l);
            x->len += l;
            x->buf[x->len++] = '\n';
            free(line);
        }
        json_decref(out[i]);
    }
    if (n > 0)
        snprintf(x->after, sizeof x->after, "%s", ids[n - 1]);
    x->devices += x->rc == 0 ? n : 0;
    free(ids);
    free(out);
    PQclear(q);
}

/* ---- the loop ---------------------------------------------------------------------------------
 */

static void page_next(exp_t *x);

static void on_close(lw_http_stream_t *s, const char *reason, void *arg)
{
    (void)s;
    exp_t *x = arg;
    lw_log(LW_LOG_INFO, "dtc", "export stream closed", "tenant", x->t.id, "application", x->app,
           "reason", reason, NULL);
    x->s = NULL;
    x->closed = true;
    if (!x->busy)
        exp_free(x);
}

static void stream_end(exp_t *x)
{
    lw_log(LW_LOG_INFO, "dtc", "devices exported", "tenant", x->t.id, "application", x->app, "keys",
           x->env.keys ? "true" : "false", NULL);
    lw_http_stream_end(x->s);
    x->s = NULL;
    exp_free(x);
}

static void page_done(void *arg, lw_work_status_t status)
{
    exp_t *x = arg;
    x->busy = false;
    if (x->closed) {
        exp_free(x);
        return;
    }
    if (status != LW_WORK_DONE && x->rc == 0) {
        x->rc = -1;
        lw_err_set(&x->err, &lw_err_unavailable, "the export was canceled");
    }
    lw_err_t e;
    if (x->s == NULL) {
        if (x->rc != 0) {
            lw_http_respond_err(x->req, &x->err);
            exp_free(x);
            return;
        }
        x->s = lw_http_stream_start(x->req, 200, "application/x-ndjson", EXPORT_QUEUE_MAX, on_close,
                                    x, &e);
        x->req = NULL;
        if (x->s == NULL) {
            exp_free(x);
            return;
        }
    }
    if (x->rc != 0) {
        json_t *o = json_pack("{so}", "error", lw_http_err_json(&x->err, NULL));
        char *line = lw_json_dumps(o, JSON_COMPACT);
        json_decref(o);
        int rc = lw_http_stream_send(x->s, line, strlen(line), &e);
        if (rc == 0)
            rc = lw_http_stream_send(x->s, "\n", 1, &e);
        free(line);
        lw_log(LW_LOG_WARN, "dtc", "export failed", "tenant", x->t.id, "application", x->app,
               "error", x->err.message, NULL);
        if (rc != 0) {
            x->s = NULL;
            exp_free(x);
            return;
        }
        stream_end(x);
        return;
    }
    if (x->len > 0 && lw_http_stream_send(x->s, x->buf, x->len, &e) != 0) {
        x->s = NULL; /* dropped: slow reader */
        exp_free(x);
        return;
    }
    free(x->buf);
    x->buf = NULL;
    x->len = 0;
    if (x->last) {
        stream_end(x);
        return;
    }
    page_next(x);
}

static void page_submit(exp_t *x)
{
    lw_err_t e;
    x->busy = true;
    if (lw_work_submit(x->dtc->work, page_read, page_done, x, NULL, &e) != 0) {
        x->busy = false;
        x->rc = -1;
        x->err = e;
        page_done(x, LW_WORK_DONE);
    }
}

static void queue_check(uv_timer_t *t)
{
    exp_t *x = t->data;
    page_next(x);
}

/* The next page once the client has taken most of what is queued. */
static void page_next(exp_t *x)
{
    if (x->s != NULL && lw_http_stream_queued(x->s) > EXPORT_QUEUE_LOW) {
        uv_timer_start(&x->timer, queue_check, 10, 0);
        return;
    }
    page_submit(x);
}

static void authorized(void *arg, const tn_rights_t *held, const lw_err_t *err)
{
    exp_t *x = arg;
    if (held == NULL) {
        lw_http_respond_err(x->req, err);
        exp_free(x);
        return;
    }
    page_submit(x);
}

static void h_export(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    dtc_t *dtc = arg;
    lw_err_t e;
    const char *app = lw_http_param(req, "application_id");
    if (tn_id_validate(app, 3, "application_ids.application_id", &e) != 0) {
        lw_http_respond_err(req, &e);
        return;
    }
    const char *ik = lw_http_query(req, "include_keys");
    if (ik != NULL && strcmp(ik, "true") != 0 && strcmp(ik, "false") != 0) {
        lw_api_invalid(&e, "include_keys", "true or false");
        lw_http_respond_err(req, &e);
        return;
    }
    if (dtc->access == NULL) {
        lw_http_respond_errorf(req, &lw_err_unavailable, "access checks unavailable");
        return;
    }
    exp_t *x = lw_calloc(1, sizeof *x);
    x->dtc = dtc;
    x->req = req;
    x->t = *t;
    snprintf(x->app, sizeof x->app, "%s", app);
    lw_db_quote_ident(t->schema, x->sq, sizeof x->sq);
    x->page_size = (long)lw_config_int(dtc->cfg, "dtc.export.page-size");
    x->env = (tn_devpart_env_t){.cfg = dtc->cfg,
                                .tenant = &x->t,
                                .schema = x->sq,
                                .application_id = x->app,
                                .keys = ik != NULL && strcmp(ik, "true") == 0};
    uv_timer_init(dtc->loop, &x->timer);
    x->timer.data = x;
    const char *need[2] = {R_READ, R_READ_KEYS};
    if (tn_access_check(dtc->access, t, lw_http_header(req, "authorization"), "application", x->app,
                        need, x->env.keys ? 2 : 1, authorized, x) != 0) {
        lw_http_respond_errorf(req, &lw_err_unavailable, "the access check could not start");
        exp_free(x);
    }
}

int dtc_export_routes(dtc_t *dtc)
{
    return tn_route(dtc->tn, "GET", "/api/v3/applications/{application_id}/devices/export",
                    h_export, dtc);
}
