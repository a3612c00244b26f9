/* The Join Server's device API (The Things Stack's JsEndDeviceRegistry), tenant-scoped on the
 * main listener:
 *
 *   GET    /api/v3/js/applications/{application_id}/devices/{device_id}?field_mask=...
 *   PUT    /api/v3/js/applications/{application_id}/devices/{device_id}
 *   POST   /api/v3/js/applications/{application_id}/devices
 *          {"end_device":{...},"field_mask":{"paths":[...]}}
 *   DELETE /api/v3/js/applications/{application_id}/devices/{device_id}
 *
 * The device must exist in the Identity Server (its EUIs come from there, and its JS part
 * is deleted with it). Root keys are stored wrapped under js.key-encryption-key and shown
 * only to a caller with RIGHT_APPLICATION_DEVICES_READ_KEYS who asks for root_keys; writing
 * them needs RIGHT_APPLICATION_DEVICES_WRITE_KEYS. DevNonces are reset as in The Things
 * Stack, by writing last_dev_nonce / used_dev_nonces (e.g. 0 and []): that publishes
 * js.dev_nonce.reset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "js/js_private.h"
#include "cluster/log.h"
#include "tenant/access.h"

#define RIGHT_READ       "RIGHT_APPLICATION_DEVICES_READ"
#define RIGHT_READ_KEYS  "RIGHT_APPLICATION_DEVICES_READ_KEYS"
#define RIGHT_WRITE      "RIGHT_APPLICATION_DEVICES_WRITE"
#define RIGHT_WRITE_KEYS "RIGHT_APPLICATION_DEVICES_WRITE_KEYS"

static const lw_api_fields_t dev_fields = {.paths = js_mask_paths, .prefix = "end_device."};

enum { OP_GET = 0, OP_SET, OP_DELETE };

typedef struct dev_op {
    lw_api_op_t api;
    js_t *js;
    int kind;
    tn_tenant_t t;
    char sq[2 * TN_SCHEMA_MAX + 3];
    char app_id[TN_ID_MAX + 1];
    char dev_id[TN_ID_MAX + 1];
    char authorization[1024];
    lw_api_mask_t mask;
    bool keys_visible; /* the caller holds READ_KEYS */
    /* set */
    int nparams;
    char *params[JS_N_COLS + 2];
    bool nonce_reset;
    char sql[8192];
} dev_op_t;

static void dev_destroy(lw_api_op_t *a)
{
    dev_op_t *op = (dev_op_t *)a;
    for (int i = 0; i < op->nparams; i++)
        if (op->params[i] != NULL) {
            OPENSSL_cleanse(op->params[i], strlen(op->params[i]));
            free(op->params[i]);
        }
    js_inflight_add(op->js, -1);
    OPENSSL_cleanse(op->authorization, sizeof op->authorization);
}

static json_t *dev_render(dev_op_t *op, const PGresult *res, bool all)
{
    return js_device_render(op->js, res, 0, op->app_id, op->dev_id, all ? NULL : &op->mask,
                            op->keys_visible);
}

/* ---- authorization ----------------------------------------------------------------------- */

typedef void (*dev_next_fn)(dev_op_t *op);

typedef struct auth_wait {
    dev_op_t *op;
    dev_next_fn next;
} auth_wait_t;

static void authorized(void *arg, const tn_rights_t *held, const lw_err_t *err)
{
    auth_wait_t *w = arg;
    dev_op_t *op = w->op;
    dev_next_fn next = w->next;
    free(w);
    if (held == NULL) {
        lw_api_fail(&op->api, err);
        return;
    }
    op->keys_visible = tn_rights_have(held, RIGHT_READ_KEYS);
    next(op);
}

/* Calls next(op) when the caller holds every right of need[] on the application; fails the
 * op otherwise (unauthenticated, permission_denied naming the missing right). */
static void dev_authorize(dev_op_t *op, const char *const *need, size_t n, dev_next_fn next)
{
    tn_access_t *a = tn_access_from_runtime(op->js->rt);
    if (a == NULL) {
        lw_api_fail_with(&op->api, &lw_err_unavailable, "no access checker");
        return;
    }
    auth_wait_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        abort();
    w->op = op;
    w->next = next;
    if (tn_access_check(a, &op->t, op->authorization, "application", op->app_id, need, n,
                        authorized, w) != 0) {
        free(w);
        lw_api_fail_with(&op->api, &lw_err_unavailable, "the access check could not start");
    }
}

/* ---- get --------------------------------------------------------------------------------- */

static void got(lw_api_op_t *a, const PGresult *res)
{
    dev_op_t *op = (dev_op_t *)a;
    if (PQntuples(res) != 1) {
        lw_api_fail_not_found(a, "end device", op->dev_id);
        return;
    }
    lw_api_reply(a, 200, dev_render(op, res, false));
}

static void select_device(dev_op_t *op, lw_api_step_fn next)
{
    const char *p[2] = {op->app_id, op->dev_id};
    snprintf(op->sql, sizeof op->sql,
             "SELECT " JS_SEL_COLS " FROM %s.js_devices d JOIN %s.end_devices e USING "
             "(application_id, device_id) WHERE d.application_id = $1 AND d.device_id = $2",
             op->sq, op->sq);
    lw_api_query(&op->api, op->sql, 2, p, next);
}

static void get_authorized(dev_op_t *op)
{
    if (js_mask_selects_keys(&op->mask) && !op->keys_visible) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_permission_denied,
                   "reading root keys needs " RIGHT_READ_KEYS " on application `%s`", op->app_id);
        lw_api_fail(&op->api, &e);
        return;
    }
    select_device(op, got);
}

/* ---- delete ------------------------------------------------------------------------------ */

static void deleted(lw_api_op_t *a, const PGresult *res)
{
    dev_op_t *op = (dev_op_t *)a;
    if (strcmp(PQcmdTuples((PGresult *)res), "0") == 0) {
        lw_api_fail_not_found(a, "end device", op->dev_id);
        return;
    }
    lw_log(LW_LOG_INFO, "js", "end device deleted", "tenant", op->t.id, "application", op->app_id,
           "device", op->dev_id, NULL);
    lw_api_reply(a, 200, json_object());
}

static void delete_authorized(dev_op_t *op)
{
    const char *p[2] = {op->app_id, op->dev_id};
    snprintf(op->sql, sizeof op->sql,
             "DELETE FROM %s.js_devices WHERE application_id = $1 AND device_id = $2", op->sq);
    lw_api_query(&op->api, op->sql, 2, p, deleted);
}

/* ---- set --------------------------------------------------------------------------------- */

static int param_add(dev_op_t *op, char *value)
{
    op->params[op->nparams] = value;
    return ++op->nparams;
}

static void set_event(lw_api_op_t *a)
{
    dev_op_t *op = (dev_op_t *)a;
    if (op->nonce_reset)
        js_event_publish(op->js, op->t.id, "js.dev_nonce.reset", op->app_id, op->dev_id, 0, 0, NULL,
                         lw_http_correlation_id(a->req));
}

static void set_done(lw_api_op_t *a, const PGresult *res)
{
    dev_op_t *op = (dev_op_t *)a;
    (void)res;
    select_device(op, got);
}

static void set_written(lw_api_op_t *a, const PGresult *res)
{
    dev_op_t *op = (dev_op_t *)a;
    if (PQntuples(res) != 1) {
        lw_api_fail_not_found(a, "end device", op->dev_id);
        return;
    }
    lw_log(LW_LOG_INFO, "js", "end device set", "tenant", op->t.id, "application", op->app_id,
           "device", op->dev_id, "nonces_reset", op->nonce_reset ? "true" : "false", NULL);
    op->api.succeeded = set_event;
    set_done(a, res);
}

static void set_authorized(dev_op_t *op);

static void set_began(lw_api_op_t *a, const PGresult *res)
{
    (void)res;
    dev_op_t *op = (dev_op_t *)a;
    /* INSERT ... ON CONFLICT DO UPDATE of the masked columns, only for a device the
     * Identity Server has (else not_found). */
    char names[1024] = "", values[1024] = "", updates[2048] = "";
    size_t nl = 0, vl = 0, ul = 0;
    int pi = 3;
    for (size_t i = 0; i < JS_N_COLS; i++) {
        if (!js_mask_selects(&op->mask, &js_cols[i]))
            continue;
        const char *cast = js_col_cast(&js_cols[i]);
        nl += (size_t)snprintf(names + nl, sizeof names - nl, ", %s", js_cols[i].column);
        vl += (size_t)snprintf(values + vl, sizeof values - vl, ", $%d%s", pi, cast);
        ul += (size_t)snprintf(updates + ul, sizeof updates - ul, ", %s = EXCLUDED.%s",
                               js_cols[i].column, js_cols[i].column);
        pi++;
    }
    snprintf(op->sql, sizeof op->sql,
             "INSERT INTO %s.js_devices (application_id, device_id%s) SELECT $1, $2%s WHERE "
             "EXISTS (SELECT 1 FROM %s.end_devices WHERE application_id = $1 AND device_id = "
             "$2) ON CONFLICT (application_id, device_id) DO UPDATE SET updated_at = now()%s "
             "RETURNING 1",
             op->sq, names, values, op->sq, updates);
    lw_api_query(a, op->sql, op->nparams, (const char *const *)op->params, set_written);
}

static void set_authorized(dev_op_t *op)
{
    lw_api_begin(&op->api, set_began);
}

static void set_start(dev_op_t *op, json_t *body)
{
    static const char *const allowed[] = {"end_device", "field_mask", NULL};
    lw_err_t e;
    if (lw_api_check_keys(body, allowed, NULL, &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    json_t *dev = json_object_get(body, "end_device");
    if (!json_is_object(dev)) {
        lw_api_fail_invalid(&op->api, "end_device", "must be an object");
        return;
    }
    const json_t *ids = json_object_get(dev, "ids");
    const char *bid = json_string_value(json_object_get(ids, "device_id"));
    const char *bapp = json_string_value(
        json_object_get(json_object_get(ids, "application_ids"), "application_id"));
    if (op->dev_id[0] == '\0') {
        /* POST .../devices: the device ID comes from the body. */
        if (bid == NULL || tn_id_validate(bid, 3, "end_device.ids.device_id", &e) != 0) {
            if (bid == NULL)
                lw_api_fail_invalid(&op->api, "end_device.ids.device_id", "required");
            else
                lw_api_fail(&op->api, &e);
            return;
        }
        snprintf(op->dev_id, sizeof op->dev_id, "%s", bid);
    } else if (bid != NULL && strcmp(bid, op->dev_id) != 0) {
        lw_api_fail_invalid(&op->api, "end_device.ids.device_id", "does not match the path");
        return;
    }
    if (bapp != NULL && strcmp(bapp, op->app_id) != 0) {
        lw_api_fail_invalid(&op->api, "end_device.ids.application_ids.application_id",
                            "does not match the path");
        return;
    }
    json_t *fm = json_object_get(body, "field_mask");
    if (fm != NULL && !json_is_null(fm)) {
        if (lw_api_mask_parse_json(&dev_fields, fm, "field_mask", &op->mask, &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
    } else {
        /* Without a mask, every field the body carries. */
        op->mask.n = 0;
        const char *k;
        json_t *v;
        json_object_foreach(dev, k, v)
        {
            if (strcmp(k, "ids") == 0 || strcmp(k, "created_at") == 0 ||
                strcmp(k, "updated_at") == 0)
                continue;
            bool known = false;
            for (size_t i = 0; js_mask_paths[i] != NULL && !known; i++)
                known = strcmp(js_mask_paths[i], k) == 0;
            if (!known) {
                char f[96];
                snprintf(f, sizeof f, "end_device.%s", k);
                lw_api_unknown(&e, f);
                lw_api_fail(&op->api, &e);
                return;
            }
            if (op->mask.n < LW_API_MASK_MAX)
                snprintf(op->mask.paths[op->mask.n++], LW_API_PATH_MAX, "%s", k);
        }
    }
    op->params[0] = strdup(op->app_id);
    op->params[1] = strdup(op->dev_id);
    op->nparams = 2;
    if (op->params[0] == NULL || op->params[1] == NULL)
        abort();
    for (size_t i = 0; i < JS_N_COLS; i++) {
        if (!js_mask_selects(&op->mask, &js_cols[i]))
            continue;
        char *v;
        if (js_col_value(op->js, &js_cols[i], dev, &v, &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
        param_add(op, v);
        if (strcmp(js_cols[i].column, "last_dev_nonce") == 0 ||
            strcmp(js_cols[i].column, "used_dev_nonces") == 0)
            op->nonce_reset = true;
    }
    bool keys = js_mask_selects_keys(&op->mask);
    const char *need[2] = {RIGHT_WRITE, RIGHT_WRITE_KEYS};
    dev_authorize(op, need, keys ? 2 : 1, set_authorized);
}

/* ---- routes ------------------------------------------------------------------------------ */

static void dev_handle(lw_http_req_t *req, const tn_tenant_t *t, js_t *js, int kind)
{
    dev_op_t *op = lw_api_op_new(sizeof *op, &js->env, req);
    op->js = js;
    op->kind = kind;
    op->t = *t;
    op->api.tenant_id = op->t.id;
    op->api.destroy = dev_destroy;
    js_inflight_add(js, 1);
    const char *auth = lw_http_header(req, "Authorization");
    snprintf(op->authorization, sizeof op->authorization, "%s", auth != NULL ? auth : "");
    const char *app = lw_http_param(req, "application_id");
    const char *dev = lw_http_param(req, "device_id");
    lw_err_t e;
    if (tn_id_validate(app, 3, "application_id", &e) != 0 ||
        (dev != NULL && tn_id_validate(dev, 3, "device_id", &e) != 0)) {
        lw_api_fail(&op->api, &e);
        return;
    }
    snprintf(op->app_id, sizeof op->app_id, "%s", app);
    snprintf(op->dev_id, sizeof op->dev_id, "%s", dev != NULL ? dev : "");
    if (lw_db_quote_ident(t->schema, op->sq, sizeof op->sq) != 0) {
        lw_api_fail_with(&op->api, &lw_err_internal, "schema name");
        return;
    }
    if (op->authorization[0] == '\0') {
        lw_api_fail_with(&op->api, &lw_err_unauthenticated, "no Authorization header");
        return;
    }
    if (kind == OP_GET) {
        if (lw_api_mask_parse_csv(&dev_fields, lw_http_query(req, "field_mask"), "field_mask",
                                  &op->mask, &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
        /* Asking for root_keys needs READ_KEYS (the checker names it when missing). */
        const char *need[2] = {RIGHT_READ, RIGHT_READ_KEYS};
        dev_authorize(op, need, js_mask_selects_keys(&op->mask) ? 2 : 1, get_authorized);
    } else if (kind == OP_DELETE) {
        const char *need[1] = {RIGHT_WRITE};
        dev_authorize(op, need, 1, delete_authorized);
    } else {
        json_t *body = lw_http_json(req, &e);
        if (body == NULL) {
            lw_api_fail(&op->api, &e);
            return;
        }
        set_start(op, body);
    }
}

static void h_get(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    dev_handle(req, t, arg, OP_GET);
}

static void h_set(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    dev_handle(req, t, arg, OP_SET);
}

static void h_delete(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    dev_handle(req, t, arg, OP_DELETE);
}

int js_device_routes(js_t *js)
{
    static const char *const one = "/api/v3/js/applications/{application_id}/devices/{device_id}";
    if (tn_route(js->tn, "GET", one, h_get, js) != 0 ||
        tn_route(js->tn, "PUT", one, h_set, js) != 0 ||
        tn_route(js->tn, "DELETE", one, h_delete, js) != 0 ||
        tn_route(js->tn, "POST", "/api/v3/js/applications/{application_id}/devices", h_set, js) !=
            0)
        return -1;
    return 0;
}
