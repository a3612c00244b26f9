/* End devices, the Identity Server's part (tts-features.md §1.4): create, get, list, update,
 * delete under /api/v3/applications/{application_id}/devices. Unlike other entities, a
 * device is deleted outright: its ID and EUIs are free again at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "is/server_private.h"
#include "cluster/log.h"

enum { D_CREATE = 0, D_LIST, D_GET, D_UPDATE, D_DELETE };

/* The state of an end device operation. op.id is the application ID. */
typedef struct dev_op {
    is_op_t op;
    char dev_id[TN_ID_MAX + 1];
    is_ids_t ids;   /* create, update: the body's identifiers */
    json_t *data;   /* create, update: the body's other fields (owned) */
    is_mask_t mask; /* get, list, update */
    is_page_t page; /* list */
} dev_op_t;
#define D(op) ((dev_op_t *)(op))

static void dev_release(is_op_t *op)
{
    json_decref(D(op)->data);
}

#define DEV_COLS IS_DEV_COLS

/* The devices of a deleted application are out of reach until it is restored. */
#define APP_LIVE                                                                                   \
    "EXISTS (SELECT 1 FROM %s.applications a WHERE a.application_id = $1 AND a.deleted_at IS "     \
    "NULL)"

static void dev_event(is_op_t *op, const char *name)
{
    is_event(op, name,
             json_pack("{s{sss{ss}}}", "device_ids", "device_id", D(op)->dev_id, "application_ids",
                       "application_id", op->id));
}

json_t *is_device_render(const PGresult *res, int i, int c0, const is_mask_t *mask)
{
    json_t *ids = json_object();
    json_object_set_new(ids, "device_id", json_string(PQgetvalue(res, i, c0)));
    json_t *app = json_object();
    json_object_set_new(app, "application_id", json_string(PQgetvalue(res, i, c0 + 4)));
    json_object_set_new(ids, "application_ids", app);
    if (!PQgetisnull(res, i, c0 + 5))
        json_object_set_new(ids, "dev_eui", json_string(PQgetvalue(res, i, c0 + 5)));
    if (!PQgetisnull(res, i, c0 + 6))
        json_object_set_new(ids, "join_eui", json_string(PQgetvalue(res, i, c0 + 6)));
    json_t *full = json_loads(PQgetvalue(res, i, c0 + 1), 0, NULL);
    json_t *o = is_entity_render(&is_kind_dev, ids, PQgetvalue(res, i, c0 + 2),
                                 PQgetvalue(res, i, c0 + 3), NULL, full, mask);
    json_decref(full);
    return o;
}

/* ---- create ------------------------------------------------------------------------------ */

static void created(is_op_t *op, const PGresult *res)
{
    if (PQntuples(res) != 1) {
        lw_api_fail_not_found(&op->api, "application", op->id);
        return;
    }
    lw_log(LW_LOG_INFO, "is", "end device created", "tenant", op->t.id, "application", op->id,
           "device", D(op)->dev_id, NULL);
    dev_event(op, "end_device.create");
    is_mask_t all;
    is_mask_all(&is_kind_dev, &all);
    lw_api_reply(&op->api, 200, is_device_render(res, 0, 0, &all));
}

static void create_inserting(is_op_t *op, const PGresult *res)
{
    (void)res;
    char dev[17], join[17];
    is_eui_format(D(op)->ids.dev_eui, dev);
    is_eui_format(D(op)->ids.join_eui, join);
    char *data = json_dumps(D(op)->data, JSON_COMPACT);
    const char *p[6] = {op->id,
                        D(op)->dev_id,
                        D(op)->ids.has_dev_eui ? dev : NULL,
                        D(op)->ids.has_join_eui ? join : NULL,
                        data,
                        op->t.id};
    snprintf(op->sql, sizeof op->sql,
             "WITH ins AS (INSERT INTO %s.end_devices (application_id, device_id, dev_eui, "
             "join_eui, data) SELECT $1, $2, $3, $4, $5::jsonb WHERE EXISTS (SELECT 1 FROM "
             "%s.applications WHERE application_id = $1 AND deleted_at IS NULL) RETURNING " DEV_COLS
             "), c AS (INSERT INTO lw_control.end_device_euis (join_eui, dev_eui, tenant_id, "
             "application_id, device_id) SELECT join_eui, dev_eui, $6, application_id, device_id "
             "FROM ins WHERE join_eui IS NOT NULL AND dev_eui IS NOT NULL) SELECT * FROM ins",
             op->sq, op->sq);
    lw_api_on_conflict(&op->api, NULL, NULL, "end device `%s` already exists in application `%s`",
                       D(op)->dev_id, op->id);
    lw_api_on_conflict(&op->api, "eui", NULL,
                       "an end device with JoinEUI `%s` and DevEUI `%s` is already registered",
                       join, dev);
    is_op_query(op, op->sql, 6, p, created);
    free(data);
}

static bool decode_body(is_op_t *op, bool create)
{
    static const char *const allowed[] = {"end_device", "field_mask", NULL};
    json_t *body = is_op_body(op, allowed);
    if (body == NULL)
        return false;
    lw_err_t e;
    if (is_mask_parse_json(&is_kind_dev, json_object_get(body, "field_mask"), "field_mask",
                           &D(op)->mask, &e) != 0 ||
        is_entity_decode(&is_kind_dev, json_object_get(body, "end_device"), "end_device", create,
                         &D(op)->ids, &D(op)->data, &e) != 0) {
        lw_api_fail(&op->api, &e);
        return false;
    }
    if (D(op)->ids.app_id[0] != '\0' && strcmp(D(op)->ids.app_id, op->id) != 0) {
        lw_api_fail_invalid(&op->api, "end_device.ids.application_ids.application_id",
                            "does not match the path");
        return false;
    }
    if (!create && D(op)->ids.id[0] != '\0' && strcmp(D(op)->ids.id, D(op)->dev_id) != 0) {
        lw_api_fail_invalid(&op->api, "end_device.ids.device_id", "does not match the path");
        return false;
    }
    return true;
}

/* ---- get, list, delete, update ----------------------------------------------------------- */

static void got(is_op_t *op, const PGresult *res)
{
    if (PQntuples(res) != 1) {
        lw_api_fail_not_found(&op->api, "end device", D(op)->dev_id);
        return;
    }
    lw_api_reply(&op->api, 200, is_device_render(res, 0, 0, &D(op)->mask));
}

static json_t *list_row(lw_api_op_t *op, const PGresult *res, int row)
{
    return is_device_render(res, row, 1, &D(op)->mask);
}

static void listed(is_op_t *op, const PGresult *res)
{
    lw_api_reply_page(&op->api, res, "end_devices", list_row, false);
}

static void deleted(is_op_t *op, const PGresult *res)
{
    if (PQntuples(res) < 1 || atoll(PQgetvalue(res, 0, 0)) == 0) {
        lw_api_fail_not_found(&op->api, "end device", D(op)->dev_id);
        return;
    }
    lw_log(LW_LOG_INFO, "is", "end device deleted", "tenant", op->t.id, "application", op->id,
           "device", D(op)->dev_id, NULL);
    dev_event(op, "end_device.delete");
    lw_api_reply(&op->api, 200, json_object());
}

static void updated(is_op_t *op, const PGresult *res)
{
    dev_event(op, "end_device.update");
    lw_api_reply(&op->api, 200, is_device_render(res, 0, 0, &D(op)->mask));
}

static void update_row(is_op_t *op, const PGresult *res)
{
    if (PQntuples(res) != 1) {
        lw_api_fail_not_found(&op->api, "end device", D(op)->dev_id);
        return;
    }
    json_t *cur = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    if (cur == NULL)
        cur = json_object();
    lw_err_t e;
    if (is_entity_apply(&is_kind_dev, cur, D(op)->data, &D(op)->mask, &e) != 0) {
        json_decref(cur);
        lw_api_fail(&op->api, &e);
        return;
    }
    char *data = json_dumps(cur, JSON_COMPACT);
    json_decref(cur);
    const char *p[3] = {op->id, D(op)->dev_id, data};
    snprintf(op->sql, sizeof op->sql,
             "UPDATE %s.end_devices SET data = $3::jsonb, updated_at = now() "
             "WHERE application_id = $1 AND device_id = $2 RETURNING " DEV_COLS,
             op->sq);
    is_op_query(op, op->sql, 3, p, updated);
    free(data);
}

static void update_begun(is_op_t *op, const PGresult *res)
{
    (void)res;
    const char *p[2] = {op->id, D(op)->dev_id};
    snprintf(op->sql, sizeof op->sql,
             "SELECT data::text FROM %s.end_devices WHERE application_id = $1 AND device_id = $2 "
             "FOR UPDATE",
             op->sq);
    is_op_query(op, op->sql, 2, p, update_row);
}

static void righted(is_op_t *op)
{
    int v = op->route->variant;
    bool write = v == D_CREATE || v == D_UPDATE || v == D_DELETE;
    if (!is_rights_require(
            op, IS_BIT(write ? IS_R_APPLICATION_DEVICES_WRITE : IS_R_APPLICATION_DEVICES_READ)))
        return;
    lw_err_t e;
    const char *p[3] = {op->id, D(op)->dev_id, op->t.id};
    switch (v) {
    case D_CREATE:
        if (!decode_body(op, true))
            return;
        snprintf(D(op)->dev_id, sizeof D(op)->dev_id, "%s", D(op)->ids.id);
        is_op_begin_create(op, create_inserting);
        return;
    case D_GET:
        if (is_mask_parse_csv(&is_kind_dev, lw_http_query(op->api.req, "field_mask"), "field_mask",
                              &D(op)->mask, &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
        snprintf(op->sql, sizeof op->sql,
                 "SELECT " DEV_COLS " FROM %s.end_devices WHERE application_id = $1 AND "
                 "device_id = $2 AND " APP_LIVE,
                 op->sq, op->sq);
        is_op_query(op, op->sql, 2, p, got);
        return;
    case D_LIST:
        if (is_page_parse(&is_kind_dev, lw_http_query(op->api.req, "limit"),
                          lw_http_query(op->api.req, "page"), lw_http_query(op->api.req, "order"),
                          &D(op)->page, &e) != 0 ||
            is_mask_parse_csv(&is_kind_dev, lw_http_query(op->api.req, "field_mask"), "field_mask",
                              &D(op)->mask, &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
        char from[512];
        snprintf(from, sizeof from, "%s.end_devices WHERE application_id = $1 AND " APP_LIVE,
                 op->sq, op->sq);
        is_op_page_sql(op, DEV_COLS, from, D(op)->page.order_sql, &D(op)->page);
        is_op_query(op, op->sql, 1, p, listed);
        return;
    case D_DELETE:
        snprintf(op->sql, sizeof op->sql,
                 "WITH d AS (DELETE FROM %s.end_devices WHERE application_id = $1 AND device_id = "
                 "$2 RETURNING 1), c AS (DELETE FROM lw_control.end_device_euis WHERE tenant_id = "
                 "$3 AND application_id = $1 AND device_id = $2) SELECT count(*) FROM d",
                 op->sq);
        is_op_query(op, op->sql, 3, p, deleted);
        return;
    case D_UPDATE:
        if (!decode_body(op, false))
            return;
        is_op_begin(op, update_begun);
        return;
    }
}

static void authed(is_op_t *op)
{
    if (!is_op_path_id(op, "app", 3, "application_ids.application_id", op->id))
        return;
    int v = op->route->variant;
    if (v != D_CREATE && v != D_LIST &&
        !is_op_path_id(op, "dev", 3, "end_device_ids.device_id", D(op)->dev_id))
        return;
    is_rights_run(op, IS_ENT_APP, op->id, righted);
}

static void h_device(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    is_op_t *op = is_op_for(req, t, arg, sizeof(dev_op_t));
    op->release = dev_release;
    is_auth_run(op, true, authed);
}

int is_device_routes(is_t *is)
{
    const char *coll = "/api/v3/applications/{app}/devices";
    const char *one = "/api/v3/applications/{app}/devices/{dev}";
    int rc = 0;
    rc |= is_route(is, "POST", coll, h_device, &is_kind_dev, IS_ENT_APP, D_CREATE);
    rc |= is_route(is, "GET", coll, h_device, &is_kind_dev, IS_ENT_APP, D_LIST);
    rc |= is_route(is, "GET", one, h_device, &is_kind_dev, IS_ENT_APP, D_GET);
    rc |= is_route(is, "PUT", one, h_device, &is_kind_dev, IS_ENT_APP, D_UPDATE);
    rc |= is_route(is, "DELETE", one, h_device, &is_kind_dev, IS_ENT_APP, D_DELETE);
    return rc;
}
