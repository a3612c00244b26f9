/* The Storage Integration's API, as The Things Stack's ApplicationUpStorage and the
 * association part of its ApplicationPackageRegistry (... is /api/v3/as/applications/{app}):
 *
 *   GET    .../packages/storage/{type}                   RIGHT_APPLICATION_TRAFFIC_READ
 *   GET    .../devices/{dev}/packages/storage/{type}
 *   GET    .../packages/storage/{type}/count
 *   GET    .../devices/{dev}/packages/storage/{type}/count
 *   GET    .../packages/associations                     RIGHT_APPLICATION_SETTINGS_PACKAGES
 *   GET|PUT|DELETE .../packages/associations/{f_port}
 *   GET    .../devices/{dev}/packages/associations
 *   GET|PUT|DELETE .../devices/{dev}/packages/associations/{f_port}
 *
 * A query answers TTS's server-stream body: one `{"result": ApplicationUp}` line per message
 * (Content-Type text/event-stream when the client accepts it, as TTS's gateway answers
 * `Accept: text/event-stream`, else application/json), bounded by `limit`: one page of rows
 * is one whole body, more are streamed page by page (a failure past the first page ends the
 * stream with an {"error": ...} line, as TTS's gateway does). A count answers
 * {"count": {"<device_id>": n, ...}}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "as/storage_private.h"
#include "cluster/mem.h"
#include "tenant/access.h"
#include "tenant/tenant.h"

#define RIGHT_READ     "RIGHT_APPLICATION_TRAFFIC_READ"
#define RIGHT_PACKAGES "RIGHT_APPLICATION_SETTINGS_PACKAGES"

/* ---- stored messages ---------------------------------------------------------------------- */

#define STQ_HIGH_WATER (1024u * 1024u) /* queued bytes above which the next page waits */
#define STQ_MAX_QUEUED (8u * 1024u * 1024u)
#define STQ_WAIT_MS    20u

/* A query: pages of as.storage.query-page rows in the query's order (the cursor is the last row
 * answered). A query answered by its first page is one whole body; a longer one is a stream
 * (lw_http_stream_*), each page sent as it comes, the next asked once the client has taken
 * most of what is queued. */
typedef struct stq_op {
    as_t *as;
    lw_http_req_t *req;     /* until answered */
    lw_http_stream_t *http; /* the stream, once started, until closed */
    tn_tenant_t t;
    char app[TN_ID_MAX + 1], dev[TN_ID_MAX + 1];
    char schema[TN_SCHEMA_MAX + 8];
    bool with_dev, event_stream;
    bool busy;  /* a statement or the wait timer is pending */
    bool gone;  /* the stream closed under us (client gone, server stopping) */
    bool timer; /* wait is initialised */
    uint32_t sent;
    uv_timer_t wait;
    as_stq_t q;
} stq_op_t;

static void stq_closed(uv_handle_t *h)
{
    free(h->data);
}

static void stq_free(stq_op_t *op)
{
    if (op->timer) {
        op->wait.data = op;
        uv_close((uv_handle_t *)&op->wait, stq_closed);
        return;
    }
    free(op);
}

static void stq_fail(stq_op_t *op, const lw_err_t *err)
{
    lw_http_respond_err(op->req, err);
    stq_free(op);
}

/* Appends the lines of res to *buf (grown as needed). Returns the new length. */
static size_t stq_lines(stq_op_t *op, const PGresult *res, char **buf, size_t *cap, size_t len)
{
    for (int i = 0; i < PQntuples(res); i++) {
        const char *text = PQgetvalue(res, i, 0);
        size_t tl = (size_t)PQgetlength(res, i, 0);
        char *out = NULL;
        if (op->q.nmask > 0) {
            json_t *up = json_loadb(text, tl, 0, NULL);
            json_t *m = up != NULL ? as_stq_mask_apply(&op->q, up) : NULL;
            out = m != NULL ? json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
            json_decref(m);
            json_decref(up);
            if (out == NULL)
                continue;
            text = out;
            tl = strlen(out);
        }
        if (*cap - len < tl + 16) {
            *cap = 2 * (len + tl + 16);
            *buf = lw_realloc(*buf, *cap);
        }
        len = as_stq_line(*buf, len, *cap, text, tl);
        free(out);
    }
    return len;
}

static void stq_page(stq_op_t *op);

/* Rows of the next page. */
static uint32_t stq_rows(const stq_op_t *op)
{
    uint32_t page = as_storage_limits(op->as)->page_rows;
    return op->q.limit - op->sent < page ? op->q.limit - op->sent : page;
}

static void stq_on_close(lw_http_stream_t *s, const char *reason, void *arg)
{
    (void)s;
    (void)reason;
    stq_op_t *op = arg;
    op->http = NULL;
    op->gone = true;
    if (!op->busy)
        stq_free(op);
}

static void stq_waited(uv_timer_t *t)
{
    stq_op_t *op = t->data;
    op->busy = false;
    if (op->gone) {
        stq_free(op);
        return;
    }
    if (lw_http_stream_queued(op->http) > STQ_HIGH_WATER) {
        op->busy = true;
        uv_timer_start(&op->wait, stq_waited, STQ_WAIT_MS, 0);
        return;
    }
    stq_page(op);
}

static void stq_got(void *arg, const PGresult *res, const lw_err_t *err)
{
    stq_op_t *op = arg;
    op->busy = false;
    if (op->gone) {
        stq_free(op);
        return;
    }
    lw_err_t e;
    if (err != NULL) {
        if (err->def == &lw_err_db_query)
            lw_err_set(&e, &lw_err_db_unavailable, "stored messages cannot be read");
        else
            e = *err;
        if (op->http == NULL) {
            stq_fail(op, &e);
            return;
        }
        /* Mid-stream: TTS's gateway ends a stream with an {"error": ...} line. */
        json_t *j = json_pack("{s:o}", "error", lw_http_err_json(&e, NULL));
        char *line = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(j);
        lw_err_t se;
        if (line != NULL && lw_http_stream_send(op->http, line, strlen(line), &se) == 0 &&
            lw_http_stream_send(op->http, "\n", 1, &se) == 0)
            lw_http_stream_end(op->http);
        free(line);
        stq_free(op);
        return;
    }
    if (op->q.count) {
        json_t *c = json_object();
        for (int i = 0; i < PQntuples(res); i++)
            json_object_set_new(c, PQgetvalue(res, i, 0),
                                json_integer(strtoll(PQgetvalue(res, i, 1), NULL, 10)));
        json_t *body = json_object();
        if (json_object_size(c) > 0) /* TTS omits an empty map */
            json_object_set_new(body, "count", c);
        else
            json_decref(c);
        lw_http_respond_json(op->req, 200, body);
        stq_free(op);
        return;
    }
    int n = PQntuples(res);
    uint32_t asked = stq_rows(op);
    bool last = (uint32_t)n < asked || op->sent + (uint32_t)n >= op->q.limit;
    size_t cap = 4096, len = 0;
    for (int i = 0; i < n; i++)
        cap += (size_t)PQgetlength(res, i, 0) + 16;
    char *buf = lw_malloc(cap);
    len = stq_lines(op, res, &buf, &cap, len);
    const char *type = op->event_stream ? "text/event-stream" : "application/json";
    if (op->http == NULL && last) { /* one page: the whole body at once */
        lw_http_respond(op->req, 200, type, buf, len);
        free(buf);
        stq_free(op);
        return;
    }
    if (op->http == NULL) {
        op->http = lw_http_stream_start(op->req, 200, type, STQ_MAX_QUEUED, stq_on_close, op, &e);
        op->req = NULL;
        if (op->http == NULL) {
            free(buf);
            stq_free(op);
            return;
        }
    }
    int rc = len > 0 ? lw_http_stream_send(op->http, buf, len, &e) : 0;
    free(buf);
    if (rc != 0) { /* dropped (slow reader): the stream is gone */
        op->http = NULL;
        stq_free(op);
        return;
    }
    op->sent += (uint32_t)n;
    if (last) {
        lw_http_stream_end(op->http);
        op->http = NULL;
        stq_free(op);
        return;
    }
    snprintf(op->q.cursor_at, sizeof op->q.cursor_at, "%s", PQgetvalue(res, n - 1, 1));
    snprintf(op->q.cursor_uid, sizeof op->q.cursor_uid, "%s", PQgetvalue(res, n - 1, 2));
    if (!op->timer) {
        uv_timer_init(op->as->loop, &op->wait);
        op->wait.data = op;
        op->timer = true;
    }
    op->busy = true;
    uv_timer_start(&op->wait, stq_waited, 0, 0); /* the next page from the loop */
}

static void stq_page(stq_op_t *op)
{
    char sql[AS_STQ_SQL_MAX], fport[12];
    const char *extra[6], *p[8];
    int np = 0;
    p[np++] = op->app;
    if (op->with_dev)
        p[np++] = op->dev;
    int ne = as_stq_params(&op->q, fport, extra);
    for (int i = 0; i < ne; i++)
        p[np++] = extra[i];
    uint32_t rows = stq_rows(op);
    lw_err_t e;
    if (as_stq_sql(&op->q, op->schema, op->with_dev, rows, sql, sizeof sql) != 0) {
        lw_err_set(&e, &lw_err_internal, "the query cannot be built");
        stq_got(op, NULL, &e);
        return;
    }
    op->busy = true;
    if (lw_db_query(op->as->db, sql, np, p, stq_got, op) != 0) {
        lw_err_set(&e, &lw_err_db_unavailable, "stored messages cannot be read");
        stq_got(op, NULL, &e);
    }
}

static void stq_checked(void *arg, const tn_rights_t *held, const lw_err_t *err)
{
    (void)held;
    stq_op_t *op = arg;
    if (err != NULL) {
        stq_fail(op, err);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    as_stq_resolve(&op->q, (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec);
    if (as_store_schema(op->t.id, op->schema, sizeof op->schema) != 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_internal, "no schema");
        stq_fail(op, &e);
        return;
    }
    stq_page(op);
}

static const char *stq_param(void *arg, const char *name)
{
    return lw_http_query(arg, name);
}

static void stq_handle(lw_http_req_t *req, const tn_tenant_t *t, as_t *as, bool with_dev,
                       bool count)
{
    stq_op_t *op = lw_calloc(1, sizeof *op);
    op->as = as;
    op->req = req;
    op->t = *t;
    op->with_dev = with_dev;
    const char *accept = lw_http_header(req, "accept");
    op->event_stream = accept != NULL && strstr(accept, "text/event-stream") != NULL;
    snprintf(op->app, sizeof op->app, "%s", lw_http_param(req, "application_id"));
    lw_err_t e;
    lw_err_clear(&e);
    if (tn_id_validate(op->app, 2,
                       with_dev ? "end_device_ids.application_ids.application_id"
                                : "application_ids.application_id",
                       &e) != 0) {
        stq_fail(op, &e);
        return;
    }
    if (with_dev) {
        snprintf(op->dev, sizeof op->dev, "%s", lw_http_param(req, "device_id"));
        if (tn_id_validate(op->dev, 2, "end_device_ids.device_id", &e) != 0) {
            stq_fail(op, &e);
            return;
        }
    }
    if (as_stq_parse(stq_param, req, lw_http_param(req, "type"), count, as_storage_limits(as),
                     &op->q, &e) != 0) {
        stq_fail(op, &e);
        return;
    }
    const char *need = RIGHT_READ;
    if (as->access == NULL ||
        tn_access_check(as->access, &op->t, lw_http_header(req, "authorization"), "application",
                        op->app, &need, 1, stq_checked, op) != 0) {
        lw_err_set(&e, &lw_err_unavailable, "access checks unavailable");
        stq_fail(op, &e);
    }
}

static void on_app_up(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    stq_handle(req, t, arg, false, false);
}

static void on_dev_up(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    stq_handle(req, t, arg, true, false);
}

static void on_app_count(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    stq_handle(req, t, arg, false, true);
}

static void on_dev_count(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    stq_handle(req, t, arg, true, true);
}

/* ---- package associations ------------------------------------------------------------------ */

enum { A_GET, A_SET, A_DELETE, A_LIST };

typedef struct assoc_op {
    lw_api_op_t api;
    as_t *as;
    tn_tenant_t t;
    int kind;
    bool with_dev;
    char schema[TN_SCHEMA_MAX + 8];
    char app[TN_ID_MAX + 1], dev[TN_ID_MAX + 1];
    char f_port[8];
    char package[40];
    char *data; /* the association's data (JSON text), owned */
} assoc_op_t;

#define AOP(a) ((assoc_op_t *)(a))

static void assoc_destroy(lw_api_op_t *a)
{
    free(AOP(a)->data);
}

#define ASSOC_COLS                                                                                 \
    "device_id, f_port, package_name, data::text, " LW_API_SQL_TIME(                               \
        "created_at") ", " LW_API_SQL_TIME("updated_at")

static json_t *assoc_render(const assoc_op_t *op, const PGresult *res, int row)
{
    json_t *ids = json_object();
    json_t *app = json_pack("{s:s}", "application_id", op->app);
    if (op->with_dev) {
        json_t *dev = json_object();
        json_object_set_new(dev, "device_id", json_string(PQgetvalue(res, row, 0)));
        json_object_set_new(dev, "application_ids", app);
        json_object_set_new(ids, "end_device_ids", dev);
    } else {
        json_object_set_new(ids, "application_ids", app);
    }
    json_object_set_new(ids, "f_port", json_integer(strtoll(PQgetvalue(res, row, 1), NULL, 10)));
    json_t *o = json_object();
    json_object_set_new(o, "ids", ids);
    json_object_set_new(o, "created_at", json_string(PQgetvalue(res, row, 4)));
    json_object_set_new(o, "updated_at", json_string(PQgetvalue(res, row, 5)));
    json_object_set_new(o, "package_name", json_string(PQgetvalue(res, row, 2)));
    json_t *data = json_loads(PQgetvalue(res, row, 3), 0, NULL);
    if (json_is_object(data) && json_object_size(data) > 0)
        json_object_set_new(o, "data", data);
    else
        json_decref(data);
    return o;
}

static void assoc_not_found(assoc_op_t *op)
{
    char id[3 * TN_ID_MAX + 16];
    if (op->with_dev)
        snprintf(id, sizeof id, "%s.%s:%s", op->app, op->dev, op->f_port);
    else
        snprintf(id, sizeof id, "%s:%s", op->app, op->f_port);
    lw_api_fail_not_found(&op->api, "association", id);
}

static void assoc_got(lw_api_op_t *a, const PGresult *res)
{
    assoc_op_t *op = AOP(a);
    if (op->kind == A_LIST) {
        json_t *arr = json_array();
        for (int i = 0; i < PQntuples(res); i++)
            json_array_append_new(arr, assoc_render(op, res, i));
        json_t *o = json_object();
        if (json_array_size(arr) > 0)
            json_object_set_new(o, op->with_dev ? "associations" : "defaults", arr);
        else
            json_decref(arr);
        lw_api_reply(a, 200, o);
        return;
    }
    if (op->kind == A_DELETE) {
        if (PQntuples(res) == 0)
            assoc_not_found(op);
        else
            lw_api_reply(a, 200, json_object());
        return;
    }
    if (PQntuples(res) == 0) {
        assoc_not_found(op);
        return;
    }
    lw_api_reply(a, 200, assoc_render(op, res, 0));
}

static void assoc_checked(void *arg, const tn_rights_t *held, const lw_err_t *err)
{
    (void)held;
    assoc_op_t *op = arg;
    if (err != NULL) {
        lw_api_fail(&op->api, err);
        return;
    }
    char sql[700];
    const char *dev = op->with_dev ? op->dev : "";
    const char *p[5] = {op->app, dev, op->f_port, op->package, op->data};
    int np = 3;
    switch (op->kind) {
    case A_LIST:
        snprintf(sql, sizeof sql,
                 "SELECT " ASSOC_COLS " FROM %s.as_package_associations WHERE application_id = "
                 "$1 AND device_id = $2 ORDER BY f_port",
                 op->schema);
        np = 2;
        break;
    case A_GET:
        snprintf(sql, sizeof sql,
                 "SELECT " ASSOC_COLS " FROM %s.as_package_associations WHERE application_id = "
                 "$1 AND device_id = $2 AND f_port = $3::integer",
                 op->schema);
        break;
    case A_DELETE:
        snprintf(sql, sizeof sql,
                 "DELETE FROM %s.as_package_associations WHERE application_id = $1 AND "
                 "device_id = $2 AND f_port = $3::integer RETURNING f_port",
                 op->schema);
        break;
    default:
        snprintf(
            sql, sizeof sql,
            "INSERT INTO %s.as_package_associations (application_id, device_id, f_port, "
            "package_name, data) VALUES ($1, $2, $3::integer, $4, $5::jsonb) ON CONFLICT "
            "(application_id, device_id, f_port) DO UPDATE SET package_name = "
            "EXCLUDED.package_name, data = EXCLUDED.data, updated_at = now() RETURNING " ASSOC_COLS,
            op->schema);
        np = 5;
        break;
    }
    lw_api_query(&op->api, sql, np, p, assoc_got);
}

/* PUT's body: {"default"|"association": {"package_name", "data", "ids"}, "field_mask"}. */
static int assoc_body(assoc_op_t *op, lw_err_t *err)
{
    json_t *body = lw_http_json(op->api.req, err);
    if (body == NULL)
        return -1;
    const char *key = op->with_dev ? "association" : "default";
    const char *const keys[] = {key, "field_mask", NULL};
    if (lw_api_check_keys(body, keys, NULL, err) != 0)
        return -1;
    const json_t *a = json_object_get(body, key);
    char field[48];
    if (!json_is_object(a)) {
        return lw_api_invalid(err, key, "an object is required");
    }
    static const char *const akeys[] = {"ids",        "package_name", "data",
                                        "created_at", "updated_at",   NULL};
    if (lw_api_check_keys(a, akeys, NULL, err) != 0)
        return -1;
    const json_t *name = json_object_get(a, "package_name");
    snprintf(field, sizeof field, "%s.package_name", key);
    if (!json_is_string(name) || strcmp(json_string_value(name), AS_STORAGE_PACKAGE) != 0)
        return lw_api_invalid(err, field,
                              "unknown package `%.40s`: `" AS_STORAGE_PACKAGE
                              "` is the one package of this Application Server",
                              json_is_string(name) ? json_string_value(name) : "");
    snprintf(op->package, sizeof op->package, "%s", json_string_value(name));
    const json_t *data = json_object_get(a, "data");
    snprintf(field, sizeof field, "%s.data", key);
    if (data != NULL && !json_is_null(data) && !json_is_object(data))
        return lw_api_invalid(err, field, "an object is required");
    op->data = json_is_object(data) ? json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER)
                                    : lw_strdup("{}");
    return 0;
}

static void assoc_handle(lw_http_req_t *req, const tn_tenant_t *t, as_t *as, bool with_dev,
                         int kind)
{
    assoc_op_t *op = lw_api_op_new(sizeof *op, &as->env, req);
    op->api.destroy = assoc_destroy;
    op->as = as;
    op->t = *t;
    op->api.tenant_id = op->t.id;
    op->kind = kind;
    op->with_dev = with_dev;
    snprintf(op->app, sizeof op->app, "%s", lw_http_param(req, "application_id"));
    lw_err_t e;
    lw_err_clear(&e);
    const char *appf = with_dev ? "ids.end_device_ids.application_ids.application_id"
                                : "ids.application_ids.application_id";
    if (tn_id_validate(op->app, 2, appf, &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    if (with_dev) {
        snprintf(op->dev, sizeof op->dev, "%s", lw_http_param(req, "device_id"));
        if (tn_id_validate(op->dev, 2, "ids.end_device_ids.device_id", &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
    }
    if (kind != A_LIST) {
        const char *fp = lw_http_param(req, "f_port");
        char *end = NULL;
        long v = fp != NULL ? strtol(fp, &end, 10) : 0;
        if (fp == NULL || fp[0] == '\0' || *end != '\0' || v < 1 || v > 255) {
            lw_api_fail_invalid(&op->api, "ids.f_port", "an FPort from 1 to 255 expected");
            return;
        }
        snprintf(op->f_port, sizeof op->f_port, "%ld", v);
    }
    if (kind == A_SET && assoc_body(op, &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    if (as_store_schema(op->t.id, op->schema, sizeof op->schema) != 0) {
        lw_api_fail_with(&op->api, &lw_err_internal, "no schema");
        return;
    }
    const char *need = RIGHT_PACKAGES;
    if (as->access == NULL ||
        tn_access_check(as->access, &op->t, lw_http_header(req, "authorization"), "application",
                        op->app, &need, 1, assoc_checked, op) != 0)
        lw_api_fail_with(&op->api, &lw_err_unavailable, "access checks unavailable");
}

#define ASSOC_HANDLER(fn, dev, kind)                                                               \
    static void fn(lw_http_req_t *req, const tn_tenant_t *t, void *arg)                            \
    {                                                                                              \
        assoc_handle(req, t, arg, dev, kind);                                                      \
    }
ASSOC_HANDLER(on_app_assoc_list, false, A_LIST)
ASSOC_HANDLER(on_app_assoc_get, false, A_GET)
ASSOC_HANDLER(on_app_assoc_set, false, A_SET)
ASSOC_HANDLER(on_app_assoc_delete, false, A_DELETE)
ASSOC_HANDLER(on_dev_assoc_list, true, A_LIST)
ASSOC_HANDLER(on_dev_assoc_get, true, A_GET)
ASSOC_HANDLER(on_dev_assoc_set, true, A_SET)
ASSOC_HANDLER(on_dev_assoc_delete, true, A_DELETE)

int as_storage_routes(as_t *as)
{
    static const struct {
        const char *method, *path;
        tn_handler_t fn;
    } routes[] = {
        {"GET", "/packages/storage/{type}", on_app_up},
        {"GET", "/devices/{device_id}/packages/storage/{type}", on_dev_up},
        {"GET", "/packages/storage/{type}/count", on_app_count},
        {"GET", "/devices/{device_id}/packages/storage/{type}/count", on_dev_count},
        {"GET", "/packages/associations", on_app_assoc_list},
        {"GET", "/packages/associations/{f_port}", on_app_assoc_get},
        {"PUT", "/packages/associations/{f_port}", on_app_assoc_set},
        {"DELETE", "/packages/associations/{f_port}", on_app_assoc_delete},
        {"GET", "/devices/{device_id}/packages/associations", on_dev_assoc_list},
        {"GET", "/devices/{device_id}/packages/associations/{f_port}", on_dev_assoc_get},
        {"PUT", "/devices/{device_id}/packages/associations/{f_port}", on_dev_assoc_set},
        {"DELETE", "/devices/{device_id}/packages/associations/{f_port}", on_dev_assoc_delete},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        char p[200];
        snprintf(p, sizeof p, "/api/v3/as/applications/{application_id}%s", routes[i].path);
        if (tn_route(as->tn, routes[i].method, p, routes[i].fn, as) != 0)
            return -1;
    }
    return 0;
}
