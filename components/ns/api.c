/* The Network Server's part of end devices, as The Things Stack's NsEndDeviceRegistry:
 *
 *   GET    /api/v3/ns/applications/{application_id}/devices/{device_id}?field_mask=...
 *   PUT    /api/v3/ns/applications/{application_id}/devices/{device_id}
 *          {"end_device": {...}, "field_mask": {"paths": [...]}}
 *   DELETE /api/v3/ns/applications/{application_id}/devices/{device_id}
 *
 * Rights (tenant/access.h, asked of the IS): RIGHT_APPLICATION_DEVICES_READ to read,
 * ..._WRITE to write; session keys are shown only with RIGHT_APPLICATION_DEVICES_READ_KEYS
 * (asked for when the mask names them) and set only with ..._WRITE_KEYS. Keys are never
 * logged. A device must exist in the registry (the IS) first. A write commits, then tells
 * the device's owner (NsDev RELOAD on lw.ns.dev, ordered with its uplinks) and every
 * matcher (lw.ns.sessions). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cluster/hex.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "ns/ns_private.h"
#include "tenant/access.h"
#include "tenant/tenant.h"

#define R_READ       "RIGHT_APPLICATION_DEVICES_READ"
#define R_READ_KEYS  "RIGHT_APPLICATION_DEVICES_READ_KEYS"
#define R_WRITE      "RIGHT_APPLICATION_DEVICES_WRITE"
#define R_WRITE_KEYS "RIGHT_APPLICATION_DEVICES_WRITE_KEYS"

enum { OP_GET, OP_SET, OP_DELETE };

typedef struct api_op {
    lw_api_op_t api;
    ns_t *ns;
    tn_tenant_t t;
    int kind;
    char app[TN_ID_MAX + 1], dev[TN_ID_MAX + 1];
    char schema[TN_SCHEMA_MAX + 8]; /* quoted */
    lw_api_mask_t mask;
    json_t *body; /* PUT: end_device */
    bool keys;    /* the caller may see keys */
    bool found;
    ns_settings_t set;
    ns_state_t st;
    char created[40], updated[40], seen[40];
} api_op_t;

#define OP(a) ((api_op_t *)(a))

static void op_destroy(lw_api_op_t *a)
{
    api_op_t *op = OP(a);
    json_decref(op->body);
    ns_settings_destroy(&op->set);
    ns_state_destroy(&op->st);
}

/* ---- field masks ------------------------------------------------------------------------- */

static const char *const top_paths[] = {"lorawan_version",   "lorawan_phy_version",
                                        "frequency_plan_id", "supports_join",
                                        "supports_class_c",  "supports_class_b",
                                        "mac_settings",      "session",
                                        "pending_session",   "mac_state",
                                        "pending_mac_state", "last_seen_at",
                                        "multicast",         NULL};

static const lw_api_fields_t fields = {.paths = top_paths, .subpaths = true};

static bool mask_names_keys(const lw_api_mask_t *m)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->paths[i], "session") == 0 || strcmp(m->paths[i], "pending_session") == 0 ||
            strstr(m->paths[i], ".keys") != NULL)
            return true;
    return false;
}

/* The op's device as devset.c reads and writes it. */
static ns_dev_edit_t edit_of(api_op_t *op)
{
    return (ns_dev_edit_t){.mask = &op->mask,
                           .body = op->body,
                           .keys = op->keys,
                           .set = &op->set,
                           .st = &op->st,
                           .app = op->app,
                           .dev = op->dev,
                           .created = op->created,
                           .updated = op->updated};
}

/* ---- loading ------------------------------------------------------------------------------- */

/* Reads settings, state and times from columns c.. of row 0. Returns 0 or -1. */
static int row_read(api_op_t *op, const PGresult *res, int c)
{
    size_t sl = 0, tl = 0;
    uint8_t *s = ns_bytea_parse(PQgetvalue(res, 0, c), &sl);
    uint8_t *t = ns_bytea_parse(PQgetvalue(res, 0, c + 1), &tl);
    int rc = -1;
    if (s != NULL && t != NULL && ns_settings_decode(s, sl, &op->set) == 0 &&
        ns_state_decode(t, tl, ns_kek_find, op->ns, &op->st) == 0)
        rc = 0;
    free(s);
    free(t);
    snprintf(op->created, sizeof op->created, "%s", PQgetvalue(res, 0, c + 2));
    snprintf(op->updated, sizeof op->updated, "%s", PQgetvalue(res, 0, c + 3));
    return rc;
}

#define ROW_COLS                                                                                   \
    "n.settings, n.state, " LW_API_SQL_TIME("n.created_at") ", " LW_API_SQL_TIME("n.updated_at")

static void fail_stored(api_op_t *op)
{
    lw_api_fail_with(&op->api, &lw_err_internal,
                     "the stored NS record of `%s` cannot be read (unknown KEK?)", op->dev);
}

static void fail_not_found(api_op_t *op)
{
    lw_err_t e;
    lw_err_set(&e, &lw_err_ns_device_not_found,
               "end device `%s.%s` not found in the Network Server", op->app, op->dev);
    lw_err_attr(&e, "device_uid", op->dev);
    lw_api_fail(&op->api, &e);
}

/* ---- GET ------------------------------------------------------------------------------------ */

static void got(lw_api_op_t *a, const PGresult *res)
{
    api_op_t *op = OP(a);
    if (PQntuples(res) == 0) {
        fail_not_found(op);
        return;
    }
    if (row_read(op, res, 0) != 0) {
        fail_stored(op);
        return;
    }
    ns_dev_edit_t edit = edit_of(op);
    lw_api_reply(a, 200, ns_dev_render(&edit));
}

static void get_run(api_op_t *op)
{
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT " ROW_COLS
             " FROM %s.ns_devices n WHERE application_id = $1 AND device_id = $2",
             op->schema);
    const char *p[2] = {op->app, op->dev};
    lw_api_query(&op->api, sql, 2, p, got);
}

/* ---- notifications -------------------------------------------------------------------- */

static void notify(api_op_t *op, Lw__Msg__NsDevControl control)
{
    uint8_t buf[512];
    size_t len = 0;
    char key[NS_DEV_KEY_MAX + 1];
    snprintf(key, sizeof key, "%s/%s/%s", op->t.id, op->app, op->dev);
    if (ns_dev_control_encode(op->t.id, op->app, op->dev, control,
                              lw_http_correlation_id(op->api.req), buf, sizeof buf, &len) == 0)
        ns_publish(op->ns, "ns.dev", key, buf, len);
    ns_sessions_publish(op->ns, op->t.id, op->app, op->dev);
}

static void set_succeeded(lw_api_op_t *a)
{
    notify(OP(a), LW__MSG__NS_DEV_CONTROL__RELOAD);
}

static void del_succeeded(lw_api_op_t *a)
{
    notify(OP(a), LW__MSG__NS_DEV_CONTROL__DELETE);
}

/* ---- DELETE ------------------------------------------------------------------------------- */

static void deleted(lw_api_op_t *a, const PGresult *res)
{
    api_op_t *op = OP(a);
    if (PQntuples(res) == 0) {
        fail_not_found(op);
        return;
    }
    a->succeeded = del_succeeded;
    lw_api_reply(a, 200, json_object());
}

static void del_run(api_op_t *op)
{
    char sql[300];
    snprintf(sql, sizeof sql,
             "DELETE FROM %s.ns_devices WHERE application_id = $1 AND device_id = $2 RETURNING 1",
             op->schema);
    const char *p[2] = {op->app, op->dev};
    lw_api_query(&op->api, sql, 2, p, deleted);
}

/* ---- PUT ------------------------------------------------------------------------------------ */

static void set_written(lw_api_op_t *a, const PGresult *res)
{
    (void)res;
    api_op_t *op = OP(a);
    a->succeeded = set_succeeded;
    if (op->updated[0] == '\0')
        snprintf(op->updated, sizeof op->updated, "%s", op->created);
    ns_dev_edit_t edit = edit_of(op);
    lw_api_reply(a, 200, ns_dev_render(&edit));
}

static void set_loaded(lw_api_op_t *a, const PGresult *res)
{
    api_op_t *op = OP(a);
    if (PQntuples(res) == 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_ns_registry_device_not_found,
                   "end device `%s.%s` is not registered in the Identity Server", op->app, op->dev);
        lw_err_attr(&e, "device_uid", op->dev);
        lw_api_fail(a, &e);
        return;
    }
    op->found = !PQgetisnull(res, 0, 1);
    if (op->found && row_read(op, res, 1) != 0) {
        fail_stored(op);
        return;
    }
    lw_err_t e;
    lw_err_clear(&e);
    bool state_written = !op->found;
    ns_dev_edit_t edit = edit_of(op);
    if (ns_dev_apply(&edit, &state_written, &e) != 0) {
        lw_api_fail(a, &e);
        return;
    }
    uint8_t *sb = NULL, *tb = NULL;
    size_t sl = 0, tl = 0;
    ns_t *ns = op->ns;
    if (ns_settings_encode(&op->set, &sb, &sl) != 0 ||
        ns_state_encode(&op->st, ns->at_rest.len > 0 ? &ns->at_rest : NULL, &tb, &tl) != 0) {
        free(sb);
        free(tb);
        lw_api_fail_with(a, &lw_err_internal, "the NS record cannot be encoded");
        return;
    }
    char *st = ns_bytea_text(sb, sl), *tt = ns_bytea_text(tb, tl);
    free(sb);
    free(tb);
    char addr[9], paddr[9];
    snprintf(addr, sizeof addr, "%08" PRIx32, op->st.session.dev_addr);
    snprintf(paddr, sizeof paddr, "%08" PRIx32, ns_state_pending(&op->st)->dev_addr);
    const char *p[7] = {op->app,
                        op->dev,
                        st,
                        tt,
                        op->st.session.valid ? addr : NULL,
                        ns_state_pending(&op->st)->valid ? paddr : NULL,
                        state_written ? "true" : "false"};
    char sql[1400];
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.ns_devices AS n (application_id, device_id, settings, state, "
             "dev_addr, pending_dev_addr) VALUES ($1, $2, $3::bytea, $4::bytea, $5, $6) "
             "ON CONFLICT (application_id, device_id) DO UPDATE SET settings = EXCLUDED.settings, "
             "state = CASE WHEN $7::boolean THEN EXCLUDED.state ELSE n.state END, "
             "dev_addr = CASE WHEN $7::boolean THEN EXCLUDED.dev_addr ELSE n.dev_addr END, "
             "pending_dev_addr = CASE WHEN $7::boolean THEN EXCLUDED.pending_dev_addr ELSE "
             "n.pending_dev_addr END, gen = n.gen + 1, state_gen = CASE WHEN $7::boolean THEN "
             "n.gen + 1 ELSE n.state_gen END, updated_at = now() RETURNING "
             "gen",
             op->schema);
    lw_api_query(a, sql, 7, p, set_written);
    free(st);
    free(tt);
}

static void set_begun(lw_api_op_t *a, const PGresult *res)
{
    (void)res;
    api_op_t *op = OP(a);
    char sql[700];
    snprintf(sql, sizeof sql,
             "SELECT e.device_id, " ROW_COLS " FROM %s.end_devices e LEFT JOIN %s.ns_devices n "
             "USING (application_id, device_id) WHERE e.application_id = $1 AND e.device_id = $2 "
             "FOR UPDATE OF e",
             op->schema, op->schema);
    const char *p[2] = {op->app, op->dev};
    lw_api_query(a, sql, 2, p, set_loaded);
}

/* ---- requests -------------------------------------------------------------------------- */

static void checked(void *arg, const tn_rights_t *held, const lw_err_t *err)
{
    api_op_t *op = arg;
    if (err != NULL) {
        lw_api_fail(&op->api, err);
        return;
    }
    op->keys = tn_rights_have(held, R_READ_KEYS);
    switch (op->kind) {
    case OP_GET:
        get_run(op);
        break;
    case OP_SET:
        lw_api_begin(&op->api, set_begun);
        break;
    default:
        del_run(op);
        break;
    }
}

static void handle(lw_http_req_t *req, const tn_tenant_t *t, void *arg, int kind)
{
    ns_t *ns = arg;
    api_op_t *op = lw_api_op_new(sizeof *op, &ns->env, req);
    op->api.destroy = op_destroy;
    op->api.tenant_id = t->id;
    op->ns = ns;
    op->t = *t;
    op->api.tenant_id = op->t.id;
    op->kind = kind;
    snprintf(op->app, sizeof op->app, "%s", lw_http_param(req, "application_id"));
    snprintf(op->dev, sizeof op->dev, "%s", lw_http_param(req, "device_id"));
    lw_err_t e;
    lw_err_clear(&e);
    if (tn_id_validate(op->app, 2, "application_ids.application_id", &e) != 0 ||
        tn_id_validate(op->dev, 2, "device_id", &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    char schema[TN_SCHEMA_MAX + 1];
    tn_schema_name(op->t.id, schema);
    lw_db_quote_ident(schema, op->schema, sizeof op->schema);
    const char *need[3];
    size_t n = 0;
    if (kind == OP_GET) {
        if (lw_api_mask_parse_csv(&fields, lw_http_query(req, "field_mask"), "field_mask",
                                  &op->mask, &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
        need[n++] = R_READ;
        if (mask_names_keys(&op->mask))
            need[n++] = R_READ_KEYS;
    } else if (kind == OP_SET) {
        json_t *body = lw_http_json(req, &e);
        if (body == NULL) {
            lw_api_fail(&op->api, &e);
            return;
        }
        static const char *const keys[] = {"end_device", "field_mask", NULL};
        if (lw_api_check_keys(body, keys, NULL, &e) != 0 ||
            lw_api_mask_parse_json(&fields, json_object_get(body, "field_mask"), "field_mask",
                                   &op->mask, &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
        /* The body belongs to the request. */
        op->body = json_incref(json_object_get(body, "end_device"));
        if (!json_is_object(op->body)) {
            lw_api_fail_invalid(&op->api, "end_device", "an object is required");
            return;
        }
        const json_t *ids = json_object_get(op->body, "ids");
        const char *bd = json_string_value(json_object_get(ids, "device_id"));
        const char *ba = json_string_value(
            json_object_get(json_object_get(ids, "application_ids"), "application_id"));
        if ((bd != NULL && strcmp(bd, op->dev) != 0) || (ba != NULL && strcmp(ba, op->app) != 0)) {
            lw_api_fail_invalid(&op->api, "end_device.ids", "does not match the path");
            return;
        }
        need[n++] = R_WRITE;
        if (mask_names_keys(&op->mask))
            need[n++] = R_WRITE_KEYS;
    } else {
        need[n++] = R_WRITE;
    }
    if (ns->access == NULL ||
        tn_access_check(ns->access, &op->t, lw_http_header(req, "authorization"), "application",
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

int ns_api_routes(ns_t *ns)
{
    static const char path[] = "/api/v3/ns/applications/{application_id}/devices/{device_id}";
    tn_t *tn = ns->tn;
    if (tn_route(tn, "GET", path, on_get, ns) != 0 || tn_route(tn, "PUT", path, on_set, ns) != 0 ||
        tn_route(tn, "DELETE", path, on_delete, ns) != 0)
        return -1;
    return 0;
}
