/* The Application Server's part of end devices and the application link, as The Things
 * Stack's AsEndDeviceRegistry and As.GetLink/SetLink/DeleteLink:
 *
 *   GET    /api/v3/as/applications/{application_id}/devices/{device_id}?field_mask=...
 *   PUT    /api/v3/as/applications/{application_id}/devices/{device_id}
 *          {"end_device": {...}, "field_mask": {"paths": [...]}}
 *   DELETE /api/v3/as/applications/{application_id}/devices/{device_id}
 *   GET    /api/v3/as/applications/{application_id}/link?field_mask=...
 *   PUT    /api/v3/as/applications/{application_id}/link {"link": {...}, "field_mask": ...}
 *   DELETE /api/v3/as/applications/{application_id}/link
 *
 * Paths (TTS's AsEndDeviceRegistry/Set): ids.dev_eui, ids.join_eui, formatters(.*),
 * version_ids(.*), skip_payload_crypto_override, session(.dev_addr, .keys.session_key_id,
 * .keys.app_s_key.key, .last_a_f_cnt_down); GET also pending_session. Rights
 * (tenant/access.h): RIGHT_APPLICATION_DEVICES_READ / _WRITE, the AppSKey shown only with
 * RIGHT_APPLICATION_DEVICES_READ_KEYS and set only with ..._WRITE_KEYS; the link with
 * RIGHT_APPLICATION_LINK. The device must be in the registry (the IS) first. A device write
 * commits, then tells the device's AS worker on lw.ns.up (NsUp.as_device_changed, ordered
 * with the device's traffic). Keys are stored wrapped (session.c) and never logged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "as/as_private.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "cluster/uid.h"
#include "tenant/access.h"
#include "tenant/devparts.h"
#include "tenant/tenant.h"

#define R_READ       "RIGHT_APPLICATION_DEVICES_READ"
#define R_READ_KEYS  "RIGHT_APPLICATION_DEVICES_READ_KEYS"
#define R_WRITE      "RIGHT_APPLICATION_DEVICES_WRITE"
#define R_WRITE_KEYS "RIGHT_APPLICATION_DEVICES_WRITE_KEYS"
#define R_LINK       "RIGHT_APPLICATION_LINK"

enum { OP_GET, OP_SET, OP_DELETE, OP_LINK_GET, OP_LINK_SET, OP_LINK_DELETE };

typedef struct dev_op {
    lw_api_op_t api;
    as_t *as;
    tn_tenant_t t;
    int kind;
    char app[TN_ID_MAX + 1], dev[TN_ID_MAX + 1];
    char schema[TN_SCHEMA_MAX + 8];
    lw_api_mask_t mask;
    json_t *body;
    bool keys; /* the caller holds READ_KEYS */
} dev_op_t;

#define OP(a) ((dev_op_t *)(a))

static void op_destroy(lw_api_op_t *a)
{
    json_decref(OP(a)->body);
}

static const char *const dev_paths[] = {
    "ids",     "formatters",      "version_ids",
    "session", "pending_session", "skip_payload_crypto_override",
    NULL};
static const char *const link_paths[] = {"default_formatters", "skip_payload_crypto", NULL};

static const lw_api_fields_t dev_fields = {
    .paths = dev_paths, .subpaths = true, .prefix = "end_device."};
static const lw_api_fields_t link_fields = {.paths = link_paths, .subpaths = true};

static bool names_key(const lw_api_mask_t *m)
{
    for (int i = 0; i < m->n; i++)
        if (strstr(m->paths[i], "app_s_key") != NULL)
            return true;
    return false;
}

/* ---- rendering ------------------------------------------------------------------------------ */

static void fail_not_found(dev_op_t *op)
{
    lw_err_t e;
    char uid[3 * TN_ID_MAX + 3];
    snprintf(uid, sizeof uid, "%s.%s@%s", op->app, op->dev, op->t.id);
    lw_err_set(&e, &lw_err_as_device_not_found,
               "end device `%s` not found in the Application Server", uid);
    lw_err_attr(&e, "device_uid", uid);
    lw_api_fail(&op->api, &e);
}

/* ---- notification ------------------------------------------------------------------------- */

static void notify(dev_op_t *op, bool deleted)
{
    uint8_t buf[512];
    size_t len = 0;
    char key[AS_DEV_KEY_MAX + 1];
    snprintf(key, sizeof key, "%s/%s/%s", op->t.id, op->app, op->dev);
    lw_err_t e;
    lw_err_clear(&e);
    if (as_device_changed_encode(op->t.id, op->app, op->dev, deleted, buf, sizeof buf, &len) != 0 ||
        lw_bus_publish(op->as->bus, "ns.up", key, strlen(key), buf, len, &e) != 0)
        lw_log(LW_LOG_WARN, "as", "device change not announced (the worker reloads it later)",
               "tenant", op->t.id, "device", op->dev, "error", e.message, NULL);
}

/* The op's device as devset.c reads and writes it. */
static as_dev_view_t view_of(const dev_op_t *op)
{
    return (as_dev_view_t){.as = op->as,
                           .mask = &op->mask,
                           .keys = op->keys,
                           .body = op->body,
                           .app = op->app,
                           .dev = op->dev};
}

static void set_succeeded(lw_api_op_t *a)
{
    notify(OP(a), false);
    as_event(OP(a)->as, OP(a)->t.id, OP(a)->app, OP(a)->dev, "as.end_device.update", NULL,
             lw_http_correlation_id(a->req));
}

static void del_succeeded(lw_api_op_t *a)
{
    notify(OP(a), true);
    as_event(OP(a)->as, OP(a)->t.id, OP(a)->app, OP(a)->dev, "as.end_device.delete", NULL,
             lw_http_correlation_id(a->req));
}

/* ---- GET / DELETE --------------------------------------------------------------------------- */

static void got(lw_api_op_t *a, const PGresult *res)
{
    dev_op_t *op = OP(a);
    if (PQntuples(res) == 0) {
        fail_not_found(op);
        return;
    }
    as_dev_view_t v = view_of(op);
    lw_api_reply(a, 200, as_dev_render(&v, res, 0));
}

static void deleted(lw_api_op_t *a, const PGresult *res)
{
    if (PQntuples(res) == 0) {
        fail_not_found(OP(a));
        return;
    }
    a->succeeded = del_succeeded;
    lw_api_reply(a, 200, json_object());
}

/* ---- PUT ----------------------------------------------------------------------------------------
 */

static void set_written(lw_api_op_t *a, const PGresult *res)
{
    a->succeeded = set_succeeded;
    as_dev_view_t v = view_of(OP(a));
    lw_api_reply(a, 200, as_dev_render(&v, res, 0));
}

static void set_loaded(lw_api_op_t *a, const PGresult *res)
{
    dev_op_t *op = OP(a);
    if (PQntuples(res) == 0) {
        lw_err_t e;
        char uid[3 * TN_ID_MAX + 3];
        snprintf(uid, sizeof uid, "%s.%s@%s", op->app, op->dev, op->t.id);
        lw_err_set(&e, &lw_err_as_registry_device_not_found,
                   "end device `%s` is not registered in the Identity Server", uid);
        lw_err_attr(&e, "device_uid", uid);
        lw_api_fail(a, &e);
        return;
    }
    json_t *device =
        PQgetisnull(res, 0, 1) ? json_object() : json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    if (device == NULL)
        device = json_object();
    json_t *session = NULL;
    bool session_set = false;
    lw_err_t e;
    lw_err_clear(&e);
    as_dev_view_t v = view_of(op);
    if (as_dev_apply(&v, device, &session, &session_set, &e) != 0) {
        json_decref(device);
        lw_api_fail(a, &e);
        return;
    }
    char *dtext = json_dumps(device, JSON_COMPACT);
    char *stext = session != NULL ? json_dumps(session, JSON_COMPACT) : NULL;
    json_decref(device);
    json_decref(session);
    const char *p[5] = {op->app, op->dev, dtext, stext, session_set ? "true" : "false"};
    char sql[1200];
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.as_devices AS d (application_id, device_id, device, session) "
             "VALUES ($1, $2, $3::jsonb, $4::jsonb) ON CONFLICT (application_id, device_id) DO "
             "UPDATE SET device = EXCLUDED.device, session = CASE WHEN $5::boolean THEN "
             "EXCLUDED.session ELSE d.session END, gen = d.gen + 1, updated_at = now() "
             "RETURNING " AS_DEV_COLS,
             op->schema);
    lw_api_query(a, sql, 5, p, set_written);
    if (stext != NULL)
        OPENSSL_cleanse(stext, strlen(stext));
    free(dtext);
    free(stext);
}

static void set_begun(lw_api_op_t *a, const PGresult *res)
{
    (void)res;
    dev_op_t *op = OP(a);
    char sql[600];
    snprintf(sql, sizeof sql,
             "SELECT e.device_id, d.device FROM %s.end_devices e LEFT JOIN %s.as_devices d "
             "USING (application_id, device_id) WHERE e.application_id = $1 AND e.device_id = $2 "
             "FOR UPDATE OF e",
             op->schema, op->schema);
    const char *p[2] = {op->app, op->dev};
    lw_api_query(a, sql, 2, p, set_loaded);
}

/* ---- link ---------------------------------------------------------------------------------- */

static json_t *link_render(const dev_op_t *op, const char *text, bool masked)
{
    json_t *l = json_loads(text, 0, NULL);
    if (l == NULL)
        l = json_object();
    if (!masked)
        return l;
    json_t *o = json_object();
    as_masked_copy(&op->mask, o, l, "default_formatters");
    as_masked_copy(&op->mask, o, l, "skip_payload_crypto");
    json_decref(l);
    return o;
}

static void link_got(lw_api_op_t *a, const PGresult *res)
{
    dev_op_t *op = OP(a);
    if (PQntuples(res) == 0) {
        lw_err_t e;
        char uid[2 * TN_ID_MAX + 2];
        snprintf(uid, sizeof uid, "%s@%s", op->app, op->t.id);
        lw_err_set(&e, &lw_err_as_link_not_found, "link of application `%s` not found", uid);
        lw_err_attr(&e, "application_uid", uid);
        lw_api_fail(a, &e);
        return;
    }
    lw_api_reply(a, 200, link_render(op, PQgetvalue(res, 0, 0), op->mask.n > 0));
}

static void link_set_written(lw_api_op_t *a, const PGresult *res)
{
    lw_api_reply(a, 200, link_render(OP(a), PQgetvalue(res, 0, 0), false));
}

static void link_set_loaded(lw_api_op_t *a, const PGresult *res)
{
    dev_op_t *op = OP(a);
    if (PQntuples(res) == 0) {
        lw_api_fail_not_found(a, "application", op->app);
        return;
    }
    json_t *link =
        PQgetisnull(res, 0, 1) ? json_object() : json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    if (link == NULL)
        link = json_object();
    lw_err_t e;
    lw_err_clear(&e);
    if (as_formatters_check(json_object_get(op->body, "default_formatters"), "default_formatters",
                            &e) != 0) {
        json_decref(link);
        lw_api_fail(a, &e);
        return;
    }
    const json_t *sk = json_object_get(op->body, "skip_payload_crypto");
    if (sk != NULL && !json_is_null(sk) && !json_is_boolean(sk)) {
        json_decref(link);
        lw_api_fail_invalid(a, "skip_payload_crypto", "a boolean expected");
        return;
    }
    for (int i = 0; i < op->mask.n; i++)
        tn_devpart_copy(link, op->body, op->mask.paths[i]);
    char *text = json_dumps(link, JSON_COMPACT);
    json_decref(link);
    const char *p[2] = {op->app, text};
    char sql[500];
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.as_links AS l (application_id, link) VALUES ($1, $2::jsonb) ON "
             "CONFLICT (application_id) DO UPDATE SET link = EXCLUDED.link, updated_at = now() "
             "RETURNING link",
             op->schema);
    lw_api_query(a, sql, 2, p, link_set_written);
    free(text);
}

static void link_set_begun(lw_api_op_t *a, const PGresult *res)
{
    (void)res;
    dev_op_t *op = OP(a);
    char sql[500];
    snprintf(sql, sizeof sql,
             "SELECT a.application_id, l.link FROM %s.applications a LEFT JOIN %s.as_links l "
             "USING (application_id) WHERE a.application_id = $1 FOR UPDATE OF a",
             op->schema, op->schema);
    const char *p[1] = {op->app};
    lw_api_query(a, sql, 1, p, link_set_loaded);
}

static void link_deleted(lw_api_op_t *a, const PGresult *res)
{
    (void)res;
    lw_api_reply(a, 200, json_object());
}

/* ---- requests ------------------------------------------------------------------------------ */

static void checked(void *arg, const tn_rights_t *held, const lw_err_t *err)
{
    dev_op_t *op = arg;
    if (err != NULL) {
        lw_api_fail(&op->api, err);
        return;
    }
    op->keys = tn_rights_have(held, R_READ_KEYS);
    char sql[600];
    const char *p[2] = {op->app, op->dev};
    switch (op->kind) {
    case OP_GET:
        snprintf(sql, sizeof sql,
                 "SELECT " AS_DEV_COLS
                 " FROM %s.as_devices d WHERE application_id = $1 AND device_id = $2",
                 op->schema);
        lw_api_query(&op->api, sql, 2, p, got);
        break;
    case OP_SET:
        lw_api_begin(&op->api, set_begun);
        break;
    case OP_DELETE:
        snprintf(sql, sizeof sql,
                 "DELETE FROM %s.as_devices WHERE application_id = $1 AND device_id = $2 "
                 "RETURNING 1",
                 op->schema);
        lw_api_query(&op->api, sql, 2, p, deleted);
        break;
    case OP_LINK_GET:
        snprintf(sql, sizeof sql, "SELECT link FROM %s.as_links WHERE application_id = $1",
                 op->schema);
        lw_api_query(&op->api, sql, 1, p, link_got);
        break;
    case OP_LINK_SET:
        lw_api_begin(&op->api, link_set_begun);
        break;
    default:
        snprintf(sql, sizeof sql, "DELETE FROM %s.as_links WHERE application_id = $1", op->schema);
        lw_api_query(&op->api, sql, 1, p, link_deleted);
        break;
    }
}

/* After the commit of a link write: loaded devices take the new link (lw.as.links). */
static void link_changed(lw_api_op_t *a)
{
    (void)as_link_changed(OP(a)->as, OP(a)->t.id, OP(a)->app);
}

static void handle(lw_http_req_t *req, const tn_tenant_t *t, void *arg, int kind)
{
    as_t *as = arg;
    dev_op_t *op = lw_api_op_new(sizeof *op, &as->env, req);
    op->api.destroy = op_destroy;
    op->as = as;
    op->t = *t;
    op->api.tenant_id = op->t.id;
    op->kind = kind;
    if (kind == OP_LINK_SET || kind == OP_LINK_DELETE)
        op->api.succeeded = link_changed;
    bool link = kind >= OP_LINK_GET;
    snprintf(op->app, sizeof op->app, "%s", lw_http_param(req, "application_id"));
    if (!link)
        snprintf(op->dev, sizeof op->dev, "%s", lw_http_param(req, "device_id"));
    lw_err_t e;
    lw_err_clear(&e);
    if (tn_id_validate(op->app, 2, "application_ids.application_id", &e) != 0 ||
        (!link && tn_id_validate(op->dev, 2, "device_id", &e) != 0)) {
        lw_api_fail(&op->api, &e);
        return;
    }
    as_store_schema(op->t.id, op->schema, sizeof op->schema);
    const lw_api_fields_t *fields = link ? &link_fields : &dev_fields;
    const char *need[3];
    size_t n = 0;
    if (kind == OP_GET || kind == OP_LINK_GET) {
        if (lw_api_mask_parse_csv(fields, lw_http_query(req, "field_mask"), "field_mask", &op->mask,
                                  &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
        need[n++] = link ? R_LINK : R_READ;
        /* Naming the key itself requires the right; a broader path only shows it with it. */
        for (int i = 0; !link && i < op->mask.n; i++)
            if (strstr(op->mask.paths[i], "app_s_key") != NULL) {
                need[n++] = R_READ_KEYS;
                break;
            }
    } else if (kind == OP_SET || kind == OP_LINK_SET) {
        json_t *body = lw_http_json(req, &e);
        if (body == NULL) {
            lw_api_fail(&op->api, &e);
            return;
        }
        static const char *const dkeys[] = {"end_device", "field_mask", NULL};
        static const char *const lkeys[] = {"link", "field_mask", "application_ids", NULL};
        if (lw_api_check_keys(body, link ? lkeys : dkeys, NULL, &e) != 0 ||
            lw_api_mask_parse_json(fields, json_object_get(body, "field_mask"), "field_mask",
                                   &op->mask, &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
        const char *top = link ? "link" : "end_device";
        op->body = json_incref(json_object_get(body, top));
        if (!json_is_object(op->body)) {
            lw_api_fail_invalid(&op->api, top, "an object is required");
            return;
        }
        if (!link) {
            const json_t *ids = json_object_get(op->body, "ids");
            const char *bd = json_string_value(json_object_get(ids, "device_id"));
            const char *ba = json_string_value(
                json_object_get(json_object_get(ids, "application_ids"), "application_id"));
            if ((bd != NULL && strcmp(bd, op->dev) != 0) ||
                (ba != NULL && strcmp(ba, op->app) != 0)) {
                lw_api_fail_invalid(&op->api, "end_device.ids", "does not match the path");
                return;
            }
            /* ids.dev_eui / ids.join_eui are taken whenever the body has them. */
        }
        if (op->mask.n == 0 && !(json_object_size(json_object_get(op->body, "ids")) > 0)) {
            lw_api_fail_invalid(&op->api, "field_mask", "no paths to set");
            return;
        }
        need[n++] = link ? R_LINK : R_WRITE;
        if (!link && names_key(&op->mask))
            need[n++] = R_WRITE_KEYS;
    } else {
        need[n++] = link ? R_LINK : R_WRITE;
    }
    if (as->access == NULL ||
        tn_access_check(as->access, &op->t, lw_http_header(req, "authorization"), "application",
                        op->app, need, n, checked, op) != 0)
        lw_api_fail_with(&op->api, &lw_err_unavailable, "access checks unavailable");
}

static void on_get(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    handle(req, t, arg, OP_GET);
}

static void on_set(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    handle(req, t, arg, OP_SET);
}

static void on_delete(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    handle(req, t, arg, OP_DELETE);
}

static void on_link_get(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    handle(req, t, arg, OP_LINK_GET);
}

static void on_link_set(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    handle(req, t, arg, OP_LINK_SET);
}

static void on_link_delete(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    handle(req, t, arg, OP_LINK_DELETE);
}

int as_device_routes(as_t *as)
{
    static const char dev[] = "/api/v3/as/applications/{application_id}/devices/{device_id}";
    static const char link[] = "/api/v3/as/applications/{application_id}/link";
    tn_t *tn = as->tn;
    if (tn_route(tn, "GET", dev, on_get, as) != 0 || tn_route(tn, "PUT", dev, on_set, as) != 0 ||
        tn_route(tn, "DELETE", dev, on_delete, as) != 0 ||
        tn_route(tn, "GET", link, on_link_get, as) != 0 ||
        tn_route(tn, "PUT", link, on_link_set, as) != 0 ||
        tn_route(tn, "DELETE", link, on_link_delete, as) != 0)
        return -1;
    return 0;
}
