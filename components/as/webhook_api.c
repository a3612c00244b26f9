/* The webhook routes: The Things Stack's ApplicationWebhookRegistry, lwstack's dead letters,
 * and the downlink endpoints webhooks call back (WEBHOOKS.md).
 *
 *   GET    /api/v3/as/webhook-formats                                 any caller
 *   POST   /api/v3/as/webhooks/{app}          {"webhook", "field_mask"}  SETTINGS_BASIC +
 *   PUT    /api/v3/as/webhooks/{app}/{webhook_id}                        TRAFFIC_READ +
 *   DELETE /api/v3/as/webhooks/{app}/{webhook_id}                        TRAFFIC_DOWN_WRITE
 *   GET    /api/v3/as/webhooks/{app}[/{webhook_id}]?field_mask=...       TRAFFIC_READ
 *   GET    /api/v3/as/webhooks/{app}/{webhook_id}/dead-letters?limit=&after=  TRAFFIC_READ
 *   POST   /api/v3/as/webhooks/{app}/{webhook_id}/dead-letters/replay {"ids": [...]}
 *                                                                    SETTINGS_BASIC + TRAFFIC_READ
 *   POST   /api/v3/as/applications/{app}/webhooks/{webhook_id}/devices/{dev}/down/push|replace
 *          authenticated by Authorization or X-Downlink-Apikey       TRAFFIC_DOWN_WRITE
 *
 * The rights are TTS's (pkg/applicationserver/io/web/grpc_webhooks.go). POST and PUT are
 * TTS's Set, an upsert: the field_mask names the fields to set (none: those the body has),
 * a create takes ids too and needs base_url. downlink_api_key is shown only to callers with
 * RIGHT_APPLICATION_SETTINGS_BASIC. A write commits, then announces the change on
 * lw.as.webhooks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "as/webhook_private.h"
#include "cluster/mem.h"
#include "tenant/access.h"
#include "tenant/tenant.h"

#define R_SETTINGS "RIGHT_APPLICATION_SETTINGS_BASIC"
#define R_READ     "RIGHT_APPLICATION_TRAFFIC_READ"
#define R_DOWN     "RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE"

enum { W_GET, W_LIST, W_SET, W_CREATE, W_DELETE, W_DEAD_LIST, W_DEAD_REPLAY, W_PUSH, W_REPLACE };

typedef struct wh_op {
    lw_api_op_t api;
    as_t *as;
    tn_tenant_t t;
    int kind;
    char app[TN_ID_MAX + 1], hook[WH_ID_MAX + 1], dev[TN_ID_MAX + 1];
    char schema[TN_SCHEMA_MAX + 8];
    lw_api_mask_t mask;
    json_t *body;
    bool show_key;
    bool created;
} wh_op_t;

#define OP(a) ((wh_op_t *)(a))

static void op_destroy(lw_api_op_t *a)
{
    json_decref(OP(a)->body);
}

static const lw_api_fields_t wh_fields = {.known = wh_path_known, .prefix = "webhook."};

static void fail_not_found(wh_op_t *op)
{
    lw_err_t e;
    lw_err_set(&e, &lw_err_webhook_not_found, "webhook `%s` of application `%s` not found",
               op->hook, op->app);
    lw_err_attr(&e, "webhook_id", op->hook);
    lw_err_attr(&e, "application_id", op->app);
    lw_api_fail(&op->api, &e);
}

/* ---- rendering ------------------------------------------------------------------------------ */

/* The mask shows path (itself, a parent or a child); base_url and format always (TTS's
 * implicit paths). */
static bool shows(const lw_api_mask_t *m, const char *path)
{
    return strcmp(path, "base_url") == 0 || strcmp(path, "format") == 0 ||
           lw_api_mask_selects(m, path);
}

#define WH_COLS                                                                                    \
    "webhook_id, webhook, downlink_api_key, health, " LW_API_SQL_TIME(                             \
        "created_at") ", " LW_API_SQL_TIME("updated_at")

static json_t *render(const wh_op_t *op, const PGresult *res, int row, const lw_api_mask_t *m)
{
    json_t *wh = json_loads(PQgetvalue(res, row, 1), 0, NULL);
    if (wh == NULL)
        wh = json_object();
    json_t *o = json_object();
    json_object_set_new(o, "ids",
                        json_pack("{s{ss} ss}", "application_ids", "application_id", op->app,
                                  "webhook_id", PQgetvalue(res, row, 0)));
    json_object_set_new(o, "created_at", json_string(PQgetvalue(res, row, 4)));
    json_object_set_new(o, "updated_at", json_string(PQgetvalue(res, row, 5)));
    static const char *const plain[] = {"base_url",     "headers",         "format",
                                        "template_ids", "template_fields", NULL};
    for (int i = 0; plain[i] != NULL; i++) {
        const json_t *v = json_object_get(wh, plain[i]);
        if (v != NULL && shows(m, plain[i]))
            json_object_set(o, plain[i], (json_t *)v);
    }
    char key[WH_KEY_MAX + 1];
    if (op->show_key && !PQgetisnull(res, row, 2) && shows(m, "downlink_api_key") &&
        wh_key_open(op->as, PQgetvalue(res, row, 2), key, sizeof key) == 0 && key[0] != '\0') {
        json_object_set_new(o, "downlink_api_key", json_string(key));
        OPENSSL_cleanse(key, sizeof key);
    }
    for (unsigned i = 1; i < WH_TYPES; i++) {
        const json_t *v = json_object_get(wh, wh_type_fields[i]);
        if (v == NULL || !shows(m, wh_type_fields[i]))
            continue;
        const char *path = json_string_value(json_object_get(v, "path"));
        /* proto3 JSON: an empty path is left out, the message stays ({}) */
        json_object_set_new(o, wh_type_fields[i],
                            path != NULL && path[0] != '\0' ? json_pack("{ss}", "path", path)
                                                            : json_object());
    }
    if (shows(m, "health_status") && !PQgetisnull(res, row, 3)) {
        json_t *h = json_loads(PQgetvalue(res, row, 3), 0, NULL);
        if (h != NULL)
            json_object_set_new(o, "health_status", h);
    }
    const json_t *fm = json_object_get(wh, "field_mask");
    if (fm != NULL && shows(m, "field_mask"))
        json_object_set(o, "field_mask", (json_t *)fm);
    if (json_is_true(json_object_get(wh, "paused")) && shows(m, "paused"))
        json_object_set_new(o, "paused", json_true());
    json_decref(wh);
    return o;
}

/* ---- registry ------------------------------------------------------------------------------- */

static void got(lw_api_op_t *a, const PGresult *res)
{
    if (PQntuples(res) == 0) {
        fail_not_found(OP(a));
        return;
    }
    lw_api_reply(a, 200, render(OP(a), res, 0, &OP(a)->mask));
}

static void listed(lw_api_op_t *a, const PGresult *res)
{
    json_t *o = json_object();
    if (PQntuples(res) > 0) {
        json_t *arr = json_array();
        for (int i = 0; i < PQntuples(res); i++)
            json_array_append_new(arr, render(OP(a), res, i, &OP(a)->mask));
        json_object_set_new(o, "webhooks", arr);
    }
    lw_api_reply(a, 200, o);
}

static void changed(lw_api_op_t *a)
{
    as_webhooks_changed(OP(a)->as, OP(a)->t.id, OP(a)->app, OP(a)->hook, false);
}

static void set_written(lw_api_op_t *a, const PGresult *res)
{
    wh_op_t *op = OP(a);
    a->succeeded = changed;
    /* the answer shows what was set, as TTS's Set returns it */
    lw_api_mask_t m = op->mask;
    if (m.n == 0) {
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(op->body, "webhook"), k, v)
        {
            if (m.n < LW_API_MASK_MAX && wh_path_known(NULL, k))
                snprintf(m.paths[m.n++], LW_API_PATH_MAX, "%s", k);
        }
    }
    lw_api_reply(a, 200, render(op, res, 0, &m));
}

static void set_loaded(lw_api_op_t *a, const PGresult *res)
{
    wh_op_t *op = OP(a);
    bool exists = PQntuples(res) > 0 && !PQgetisnull(res, 0, 1);
    long count = PQntuples(res) > 0 ? strtol(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    if (!exists && count >= (long)WH_PER_APP_MAX) {
        lw_api_fail_invalid(a, "webhook.ids.webhook_id",
                            "the application has its limit of webhooks");
        return;
    }
    json_t *stored = exists ? json_loads(PQgetvalue(res, 0, 1), 0, NULL) : json_object();
    if (stored == NULL)
        stored = json_object();
    char key[WH_KEY_MAX + 1];
    bool key_set = false;
    lw_err_t e;
    lw_err_clear(&e);
    if (wh_apply(json_object_get(op->body, "webhook"), &op->mask, !exists, stored, key, &key_set,
                 &e) != 0) {
        json_decref(stored);
        lw_api_fail(a, &e);
        return;
    }
    char sealed[WH_KEY_SEALED_MAX];
    sealed[0] = '\0';
    if (key_set && key[0] != '\0' &&
        wh_key_seal(op->as->at_rest.len > 0 ? &op->as->at_rest : NULL, key, sealed,
                    sizeof sealed) != 0) {
        OPENSSL_cleanse(key, sizeof key);
        json_decref(stored);
        lw_api_fail_with(a, &lw_err_internal, "the downlink API key cannot be sealed");
        return;
    }
    char *text = json_dumps(stored, JSON_COMPACT);
    json_decref(stored);
    const char *p[5] = {op->app, op->hook, text, key_set ? sealed : NULL,
                        key_set ? "true" : "false"};
    char sql[900];
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.as_webhooks AS w (application_id, webhook_id, webhook, "
             "downlink_api_key) VALUES ($1, $2, $3::jsonb, NULLIF($4, '')) ON CONFLICT "
             "(application_id, webhook_id) DO UPDATE SET webhook = EXCLUDED.webhook, "
             "downlink_api_key = CASE WHEN $5::boolean THEN EXCLUDED.downlink_api_key ELSE "
             "w.downlink_api_key END, updated_at = now() RETURNING " WH_COLS,
             op->schema);
    lw_api_query(a, sql, 5, p, set_written);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(sealed, sizeof sealed);
    free(text);
}

static void set_begun(lw_api_op_t *a, const PGresult *res)
{
    (void)res;
    wh_op_t *op = OP(a);
    char sql[600];
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM %s.as_webhooks WHERE application_id = $1), "
             "(SELECT webhook FROM %s.as_webhooks WHERE application_id = $1 AND webhook_id = $2 "
             "FOR UPDATE)",
             op->schema, op->schema);
    const char *p[2] = {op->app, op->hook};
    lw_api_query(a, sql, 2, p, set_loaded);
}

static void deleted(lw_api_op_t *a, const PGresult *res)
{
    if (PQntuples(res) == 0) {
        fail_not_found(OP(a));
        return;
    }
    a->succeeded = changed;
    lw_api_reply(a, 200, json_object());
}

/* ---- dead letters ---------------------------------------------------------------------------- */

static void dead_listed(lw_api_op_t *a, const PGresult *res)
{
    int n = PQntuples(res);
    if (n == 0 || PQgetisnull(res, 0, 0)) {
        fail_not_found(OP(a));
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        if (PQgetisnull(res, i, 1))
            continue; /* the webhook's row without dead letters */
        long type = strtol(PQgetvalue(res, i, 3), NULL, 10);
        json_t *d = json_pack("{ss ss ss ss ss ss si}", "id", PQgetvalue(res, i, 1), "device_id",
                              PQgetvalue(res, i, 2), "type",
                              type > 0 && type < (long)WH_TYPES ? wh_type_fields[type] : "",
                              "received_at", PQgetvalue(res, i, 4), "created_at",
                              PQgetvalue(res, i, 5), "dead_at", PQgetvalue(res, i, 6), "attempts",
                              (int)strtol(PQgetvalue(res, i, 7), NULL, 10));
        if (!PQgetisnull(res, i, 8)) {
            json_t *le = json_loads(PQgetvalue(res, i, 8), 0, NULL);
            if (le != NULL)
                json_object_set_new(d, "last_error", le);
        }
        json_t *msg = json_loads(PQgetvalue(res, i, 9), 0, NULL);
        if (msg != NULL)
            json_object_set_new(d, "message", msg);
        json_array_append_new(arr, d);
    }
    json_t *o = json_object();
    if (json_array_size(arr) > 0)
        json_object_set_new(o, "dead_letters", arr);
    else
        json_decref(arr);
    lw_api_reply(a, 200, o);
}

static void replayed(lw_api_op_t *a, const PGresult *res)
{
    wh_op_t *op = OP(a);
    if (PQgetisnull(res, 0, 0)) {
        fail_not_found(op);
        return;
    }
    long n = strtol(PQgetvalue(res, 0, 1), NULL, 10);
    if (n > 0)
        as_webhooks_changed(op->as, op->t.id, op->app, op->hook, true);
    lw_api_reply(a, 200, json_pack("{sI}", "replayed", (json_int_t)n));
}

/* ---- downlinks from webhooks -------------------------------------------------------------- */

static void down_done(void *arg, const lw_err_t *err, const json_t *result)
{
    (void)result;
    wh_op_t *op = arg;
    if (err != NULL) {
        lw_api_fail(&op->api, err);
        return;
    }
    lw_api_reply(&op->api, 200, json_object());
}

static void down_hook(lw_api_op_t *a, const PGresult *res)
{
    wh_op_t *op = OP(a);
    if (PQntuples(res) == 0) {
        fail_not_found(op);
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_webhook_paused, "webhook `%s` is paused", op->hook);
        lw_err_attr(&e, "webhook_id", op->hook);
        lw_api_fail(a, &e);
        return;
    }
    as_down_req_t r = {
        .tenant_id = op->t.id,
        .app_id = op->app,
        .dev_id = op->dev,
        .op = op->kind == W_PUSH ? AS_DOWN_PUSH : AS_DOWN_REPLACE,
        .body = op->body,
        .origin = "webhook",
    };
    as_downlink_request(op->as, &r, down_done, op);
}

/* ---- requests -------------------------------------------------------------------------------- */

static void checked(void *arg, const tn_rights_t *held, const lw_err_t *err)
{
    wh_op_t *op = arg;
    if (err != NULL) {
        lw_api_fail(&op->api, err);
        return;
    }
    op->show_key = tn_rights_have(held, R_SETTINGS);
    char sql[1600];
    const char *s = op->schema;
    const char *p[4] = {op->app, op->hook, NULL, NULL};
    switch (op->kind) {
    case W_GET:
        snprintf(sql, sizeof sql,
                 "SELECT " WH_COLS " FROM %s.as_webhooks WHERE application_id = $1 AND "
                 "webhook_id = $2",
                 s);
        lw_api_query(&op->api, sql, 2, p, got);
        break;
    case W_LIST:
        snprintf(sql, sizeof sql,
                 "SELECT " WH_COLS " FROM %s.as_webhooks WHERE application_id = $1 ORDER BY "
                 "webhook_id",
                 s);
        lw_api_query(&op->api, sql, 1, p, listed);
        break;
    case W_SET:
    case W_CREATE:
        lw_api_begin(&op->api, set_begun);
        break;
    case W_DELETE:
        snprintf(sql, sizeof sql,
                 "DELETE FROM %s.as_webhooks WHERE application_id = $1 AND webhook_id = $2 "
                 "RETURNING 1",
                 s);
        lw_api_query(&op->api, sql, 2, p, deleted);
        break;
    case W_DEAD_LIST: {
        /* the webhook's row, then its dead letters (id > after), oldest first */
        const char *lim = lw_http_query(op->api.req, "limit");
        const char *after = lw_http_query(op->api.req, "after");
        char l[16], af[24];
        long lv = lim != NULL ? strtol(lim, NULL, 10) : 100;
        if (lv <= 0 || lv > LW_API_LIMIT_MAX) {
            lw_api_fail_invalid(&op->api, "limit", "1 to 1000 expected");
            return;
        }
        long long av = after != NULL ? strtoll(after, NULL, 10) : 0;
        if (av < 0) {
            lw_api_fail_invalid(&op->api, "after", "a dead letter id expected");
            return;
        }
        snprintf(l, sizeof l, "%ld", lv);
        snprintf(af, sizeof af, "%lld", av);
        p[2] = l;
        p[3] = af;
        snprintf(sql, sizeof sql,
                 "SELECT w.webhook_id, d.id, d.device_id, d.up_type, %s, %s, %s, d.attempts, "
                 "d.last_error, d.body FROM %s.as_webhooks w LEFT JOIN LATERAL (SELECT * FROM "
                 "%s.as_webhook_dead_letters x WHERE x.application_id = w.application_id AND "
                 "x.webhook_id = w.webhook_id AND x.id > $4::bigint ORDER BY x.id LIMIT $3::int) "
                 "d ON true WHERE w.application_id = $1 AND w.webhook_id = $2 ORDER BY d.id",
                 LW_API_SQL_TIME("d.received_at"), LW_API_SQL_TIME("d.created_at"),
                 LW_API_SQL_TIME("d.dead_at"), s, s);
        lw_api_query(&op->api, sql, 4, p, dead_listed);
        break;
    }
    case W_DEAD_REPLAY: {
        const json_t *ids = json_object_get(op->body, "ids");
        char *arr = NULL;
        if (ids != NULL && !json_is_null(ids)) {
            if (!json_is_array(ids) || json_array_size(ids) > LW_API_LIMIT_MAX) {
                lw_api_fail_invalid(&op->api, "ids", "an array of at most 1000 ids expected");
                return;
            }
            arr = lw_malloc(json_array_size(ids) * 24 + 3);
            size_t o = 0, i;
            const json_t *v;
            arr[o++] = '{';
            json_array_foreach(ids, i, v)
            {
                long long id = 0;
                lw_err_t e;
                if (lw_api_uint_decode(v, "ids", INT64_MAX, &id, &e) != 0) {
                    free(arr);
                    lw_api_fail(&op->api, &e);
                    return;
                }
                o += (size_t)snprintf(arr + o, 24, "%s%lld", i > 0 ? "," : "", id);
            }
            arr[o++] = '}';
            arr[o] = '\0';
        }
        p[2] = arr;
        snprintf(sql, sizeof sql,
                 "WITH m AS (DELETE FROM %s.as_webhook_dead_letters WHERE application_id = $1 "
                 "AND webhook_id = $2 AND ($3::bigint[] IS NULL OR id = ANY($3::bigint[])) "
                 "RETURNING *), i AS (INSERT INTO %s.as_webhook_outbox (application_id, "
                 "webhook_id, device_id, part, msg_id, up_type, body, received_at, replayed) "
                 "SELECT application_id, webhook_id, device_id, part, msg_id, up_type, body, "
                 "received_at, true FROM m ORDER BY id ON CONFLICT (application_id, webhook_id, "
                 "msg_id) DO NOTHING RETURNING 1) SELECT (SELECT webhook_id FROM %s.as_webhooks "
                 "WHERE application_id = $1 AND webhook_id = $2), (SELECT count(*) FROM i)",
                 s, s, s);
        lw_api_query(&op->api, sql, 3, p, replayed);
        free(arr);
        break;
    }
    default: /* W_PUSH, W_REPLACE */
        snprintf(sql, sizeof sql,
                 "SELECT coalesce((webhook->>'paused')::boolean, false) FROM %s.as_webhooks "
                 "WHERE application_id = $1 AND webhook_id = $2",
                 s);
        lw_api_query(&op->api, sql, 2, p, down_hook);
        break;
    }
}

static void handle(lw_http_req_t *req, const tn_tenant_t *t, void *arg, int kind)
{
    as_t *as = arg;
    wh_op_t *op = lw_api_op_new(sizeof *op, &as->env, req);
    op->api.destroy = op_destroy;
    op->as = as;
    op->t = *t;
    op->api.tenant_id = op->t.id;
    op->kind = kind;
    snprintf(op->app, sizeof op->app, "%s", lw_http_param(req, "application_id"));
    const char *hook = lw_http_param(req, "webhook_id");
    snprintf(op->hook, sizeof op->hook, "%s", hook != NULL ? hook : "");
    const char *dev = lw_http_param(req, "device_id");
    snprintf(op->dev, sizeof op->dev, "%s", dev != NULL ? dev : "");
    as_store_schema(op->t.id, op->schema, sizeof op->schema);
    lw_err_t e;
    lw_err_clear(&e);
    if (tn_id_validate(op->app, 2, "ids.application_ids.application_id", &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    if (kind != W_LIST && kind != W_CREATE &&
        tn_id_validate(op->hook, 2, "ids.webhook_id", &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    if ((kind == W_PUSH || kind == W_REPLACE) &&
        tn_id_validate(op->dev, 2, "end_device_ids.device_id", &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    const char *need[3];
    size_t n = 0;
    const char *authz = lw_http_header(req, "authorization");
    char bearer[WH_KEY_MAX + 16];
    switch (kind) {
    case W_GET:
    case W_LIST:
        if (lw_api_mask_parse_csv(&wh_fields, lw_http_query(req, "field_mask"), "field_mask",
                                  &op->mask, &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
        need[n++] = R_READ;
        break;
    case W_DEAD_LIST:
        need[n++] = R_READ;
        break;
    case W_SET:
    case W_CREATE: {
        json_t *body = lw_http_json(req, &e);
        if (body == NULL) {
            lw_api_fail(&op->api, &e);
            return;
        }
        static const char *const keys[] = {"webhook", "field_mask", NULL};
        if (lw_api_check_keys(body, keys, NULL, &e) != 0 ||
            lw_api_mask_parse_json(&wh_fields, json_object_get(body, "field_mask"), "field_mask",
                                   &op->mask, &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
        op->body = json_incref(body);
        const json_t *w = json_object_get(body, "webhook");
        if (!json_is_object(w)) {
            lw_api_fail_invalid(&op->api, "webhook", "an object is required");
            return;
        }
        const json_t *ids = json_object_get(w, "ids");
        const char *bh = json_string_value(json_object_get(ids, "webhook_id"));
        const char *ba = json_string_value(
            json_object_get(json_object_get(ids, "application_ids"), "application_id"));
        if (kind == W_CREATE) {
            if (bh == NULL) {
                lw_api_fail_invalid(&op->api, "webhook.ids.webhook_id", "required");
                return;
            }
            snprintf(op->hook, sizeof op->hook, "%s", bh);
            if (tn_id_validate(op->hook, 2, "webhook.ids.webhook_id", &e) != 0) {
                lw_api_fail(&op->api, &e);
                return;
            }
        } else if (bh != NULL && strcmp(bh, op->hook) != 0) {
            lw_api_fail_invalid(&op->api, "webhook.ids.webhook_id", "does not match the path");
            return;
        }
        if (ba != NULL && strcmp(ba, op->app) != 0) {
            lw_api_fail_invalid(&op->api, "webhook.ids.application_ids.application_id",
                                "does not match the path");
            return;
        }
        need[n++] = R_SETTINGS;
        need[n++] = R_READ;
        need[n++] = R_DOWN;
        break;
    }
    case W_DELETE:
        need[n++] = R_SETTINGS;
        need[n++] = R_READ;
        need[n++] = R_DOWN;
        break;
    case W_DEAD_REPLAY: {
        json_t *body = lw_http_json(req, &e);
        static const char *const keys[] = {"ids", NULL};
        if (body == NULL || lw_api_check_keys(body, keys, NULL, &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
        op->body = json_incref(body);
        need[n++] = R_SETTINGS;
        need[n++] = R_READ;
        break;
    }
    default: { /* W_PUSH, W_REPLACE: TTS's ApplicationDownlinks body */
        json_t *body = lw_http_json(req, &e);
        static const char *const keys[] = {"downlinks", NULL};
        if (body == NULL || lw_api_check_keys(body, keys, NULL, &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
        op->body = json_incref(body);
        const char *k = lw_http_header(req, "x-downlink-apikey");
        if ((authz == NULL || authz[0] == '\0') && k != NULL && k[0] != '\0' &&
            strlen(k) <= WH_KEY_MAX) {
            snprintf(bearer, sizeof bearer, "Bearer %s", k);
            authz = bearer;
        }
        need[n++] = R_DOWN;
        break;
    }
    }
    int rc = as->access == NULL ? -1
                                : tn_access_check(as->access, &op->t, authz, "application", op->app,
                                                  need, n, checked, op);
    if (authz == bearer)
        OPENSSL_cleanse(bearer, sizeof bearer);
    if (rc != 0)
        lw_api_fail_with(&op->api, &lw_err_unavailable, "access checks unavailable");
}

#define H(name, kind)                                                                              \
    static void name(lw_http_req_t *req, const tn_tenant_t *t, void *arg)                          \
    {                                                                                              \
        handle(req, t, arg, kind);                                                                 \
    }
H(on_get, W_GET)
H(on_list, W_LIST)
H(on_set, W_SET)
H(on_create, W_CREATE)
H(on_delete, W_DELETE)
H(on_dead_list, W_DEAD_LIST)
H(on_dead_replay, W_DEAD_REPLAY)
H(on_push, W_PUSH)
H(on_replace, W_REPLACE)
#undef H

static void on_formats(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    (void)t;
    (void)arg;
    json_t *o = json_pack("{s{ss}}", "formats", "json", "JSON");
    lw_http_respond_json(req, 200, o);
}

int as_webhook_routes(as_t *as)
{
    static const char app[] = WH_ROUTE_PREFIX "/{application_id}";
    static const char one[] = WH_ROUTE_PREFIX "/{application_id}/{webhook_id}";
    static const char dead[] = WH_ROUTE_PREFIX "/{application_id}/{webhook_id}/dead-letters";
    static const char replay[] =
        WH_ROUTE_PREFIX "/{application_id}/{webhook_id}/dead-letters/replay";
    static const char down[] = "/api/v3/as/applications/{application_id}/webhooks/{webhook_id}/"
                               "devices/{device_id}/down/";
    char push[192], repl[192];
    snprintf(push, sizeof push, "%spush", down);
    snprintf(repl, sizeof repl, "%sreplace", down);
    tn_t *tn = as->tn;
    if (tn_route(tn, "GET", "/api/v3/as/webhook-formats", on_formats, as) != 0 ||
        tn_route(tn, "POST", app, on_create, as) != 0 ||
        tn_route(tn, "GET", app, on_list, as) != 0 || tn_route(tn, "GET", one, on_get, as) != 0 ||
        tn_route(tn, "PUT", one, on_set, as) != 0 ||
        tn_route(tn, "DELETE", one, on_delete, as) != 0 ||
        tn_route(tn, "GET", dead, on_dead_list, as) != 0 ||
        tn_route(tn, "POST", replay, on_dead_replay, as) != 0 ||
        tn_route(tn, "POST", push, on_push, as) != 0 ||
        tn_route(tn, "POST", repl, on_replace, as) != 0)
        return -1;
    return 0;
}
