/* The billing APIs (issue 11 item 8; usage and the ledger export are ledger.c's):
 *   GET /api/v3/tbs/tenants/{tenant_id}       the tenant's plan, limits and billing state:
 *                                             TenantAdminKey, or an admin of that tenant
 *   GET /api/v3/tbs/tenants                   operators (TenantAdminKey): every tenant with
 *                                             its state and billing
 *   PUT /api/v3/tbs/tenants/{tenant_id}/plan  operators: {"plan_id":"..."} assigns or
 *                                             changes the plan: the plan's limits
 *                                             (billing_plans.limits; unset ones unlimited)
 *                                             are set on the tenant. For a tenant billed
 *                                             outside Stripe (backend manual); a Stripe
 *                                             tenant's plan follows its subscription, whose
 *                                             next event sets it again.
 * A tenant's billing view:
 *   {"ids":{"tenant_id"},"state":"STATE_...","limits":{"max_applications":"10"|null,...},
 *    "plan":{"plan_id","kind","name"}|absent,
 *    "billing":{"backend","customer_id","subscription_id","subscription_status",
 *               "billing_state","flagged_at","updated_at"}|absent} */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing_private.h"
#include "cluster/api.h"
#include "cluster/json.h"
#include "cluster/log.h"
#include "cluster/mem.h"

/* ---- authorization ------------------------------------------------------------------------ */

typedef struct auth_call {
    billing_authorize_cb cb;
    void *arg;
    char tenant_id[TN_ID_MAX + 1];
} auth_call_t;

static void auth_answered(void *arg, int status, json_t *body, const lw_err_t *err)
{
    auth_call_t *c = arg;
    lw_err_t e;
    lw_err_clear(&e);
    const char *name = json_string_value(
        json_object_get(json_array_get(json_object_get(body, "details"), 0), "name"));
    if (err != NULL) {
        lw_err_set(&e, &lw_err_unavailable, "cannot check the caller's rights: %s", err->message);
    } else if (status == 401) {
        lw_err_set(&e, &lw_err_unauthenticated, "%s",
                   json_string_value(json_object_get(body, "message")) != NULL
                       ? json_string_value(json_object_get(body, "message"))
                       : "unauthenticated");
    } else if (name != NULL && strcmp(name, "tenant_not_active") == 0) {
        lw_err_set(&e, &lw_err_tenant_not_active, "tenant `%s` is not active", c->tenant_id);
        lw_err_attr(&e, "tenant_id", c->tenant_id);
    } else if (name != NULL && strcmp(name, "tenant_not_found") == 0) {
        lw_err_set(&e, &lw_err_tenant_not_found, "tenant `%s` not found", c->tenant_id);
        lw_err_attr(&e, "tenant_id", c->tenant_id);
    } else if (status != 200) {
        lw_err_set(&e, &lw_err_permission_denied, "the caller has no rights on tenant `%s`",
                   c->tenant_id);
    } else if (!json_is_true(json_object_get(body, "is_admin"))) {
        lw_err_set(&e, &lw_err_permission_denied, "only admins of tenant `%s` may read its billing",
                   c->tenant_id);
    }
    c->cb(c->arg, e.def != NULL ? &e : NULL);
    free(c);
}

int billing_authorize_tenant(billing_t *b, lw_http_req_t *req, const char *tenant_id,
                             billing_authorize_cb cb, void *arg, lw_err_t *err)
{
    const char *authz = lw_http_header(req, "Authorization");
    if (authz == NULL)
        return lw_err_set(err, &lw_err_unauthenticated, "no Authorization header");
    if (strncmp(authz, "TenantAdminKey ", 15) == 0)
        return tn_admin_auth(b->tn, req, err) == 0 ? 0 : -1;
    auth_call_t *c = lw_calloc(1, sizeof *c);
    c->cb = cb;
    c->arg = arg;
    snprintf(c->tenant_id, sizeof c->tenant_id, "%s", tenant_id);
    if (billing_registry_send_as(b, "GET", "/api/v3/auth_info", authz, tenant_id, NULL,
                                 auth_answered, c, err) != 0) {
        free(c);
        return -1;
    }
    return 1;
}

/* ---- rendering ---------------------------------------------------------------------------- */

/* The columns of api_view_sql, in this order. */
#define API_VIEW_COLS                                                                              \
    "t.tenant_id, t.state, t.max_applications, t.max_clients, t.max_end_devices, "                 \
    "t.max_gateways, t.max_organizations, t.max_users, a.backend, a.customer_id, "                 \
    "a.subscription_id, a.subscription_status, a.plan_id, a.billing_state, " LW_API_SQL_TIME(      \
        "a.flagged_at") ", " LW_API_SQL_TIME("a.updated_at") ", p.kind, p.name"
#define API_VIEW_FROM                                                                              \
    " FROM lw_control.tenants t LEFT JOIN lw_control.billing_accounts a USING (tenant_id) "        \
    "LEFT JOIN lw_control.billing_plans p ON p.plan_id = a.plan_id WHERE t.deleted_at IS NULL"

static json_t *api_text(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : json_string(PQgetvalue(res, row, col));
}

static json_t *api_view(const PGresult *res, int row)
{
    json_t *o = json_pack("{s:{s:s}}", "ids", "tenant_id", PQgetvalue(res, row, 0));
    int state = atoi(PQgetvalue(res, row, 1));
    json_object_set_new(o, "state", json_string(tn_state_name((tn_state_t)state)));
    json_t *limits = json_object();
    for (int k = 0; k < TN_LIMIT_COUNT; k++) {
        json_t *v = api_text(res, row, 2 + k);
        json_object_set_new(limits, tn_limit_field((tn_limit_kind_t)k),
                            v != NULL ? v : json_null());
    }
    json_object_set_new(o, "limits", limits);
    if (!PQgetisnull(res, row, 12)) {
        json_t *plan = json_pack("{s:s}", "plan_id", PQgetvalue(res, row, 12));
        json_t *kind = api_text(res, row, 16);
        if (kind != NULL)
            json_object_set_new(plan, "kind", kind);
        json_t *name = api_text(res, row, 17);
        if (name != NULL)
            json_object_set_new(plan, "name", name);
        json_object_set_new(o, "plan", plan);
    }
    if (!PQgetisnull(res, row, 8)) {
        json_t *bill = json_object();
        static const char *const keys[] = {
            "backend", "customer_id",   "subscription_id", "subscription_status",
            "plan_id", "billing_state", "flagged_at",      "updated_at"};
        for (int i = 0; i < 8; i++) {
            json_t *v = api_text(res, row, 8 + i);
            if (v != NULL)
                json_object_set_new(bill, keys[i], v);
        }
        json_object_set_new(o, "billing", bill);
    }
    return o;
}

/* ---- GET /api/v3/tbs/tenants/{tenant_id} -------------------------------------------------- */

typedef struct view_op {
    lw_api_op_t api;
    billing_t *b;
    char tenant_id[TN_ID_MAX + 1];
} view_op_t;

static void view_got(lw_api_op_t *a, const PGresult *res)
{
    if (PQntuples(res) == 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_tenant_not_found, "tenant `%s` not found", a->tenant_id);
        lw_err_attr(&e, "tenant_id", a->tenant_id);
        lw_api_fail(a, &e);
        return;
    }
    lw_api_reply(a, 200, api_view(res, 0));
}

static void view_query(view_op_t *op)
{
    const char *params[] = {op->tenant_id};
    lw_api_query(&op->api, "SELECT " API_VIEW_COLS API_VIEW_FROM " AND t.tenant_id = $1", 1, params,
                 view_got);
}

static void view_authorized(void *arg, const lw_err_t *err)
{
    view_op_t *op = arg;
    if (err != NULL) {
        lw_api_fail(&op->api, err);
        return;
    }
    view_query(op);
}

static void api_tenant_get(lw_http_req_t *req, void *arg)
{
    billing_t *b = arg;
    const lw_api_env_t env = {.db = b->db, .module = "tbs"};
    view_op_t *op = lw_api_op_new(sizeof *op, &env, req);
    op->b = b;
    const char *id = lw_http_param(req, "tenant_id");
    lw_err_t e;
    lw_err_clear(&e);
    if (tn_id_validate(id, 3, "tenant_id", &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    snprintf(op->tenant_id, sizeof op->tenant_id, "%s", id);
    op->api.tenant_id = op->tenant_id;
    int rc = billing_authorize_tenant(b, req, op->tenant_id, view_authorized, op, &e);
    if (rc < 0)
        lw_api_fail(&op->api, &e);
    else if (rc == 0)
        view_query(op);
}

/* ---- GET /api/v3/tbs/tenants -------------------------------------------------------------- */

static json_t *list_row(lw_api_op_t *a, const PGresult *res, int row)
{
    (void)a;
    return api_view(res, row);
}

static void list_got(lw_api_op_t *a, const PGresult *res)
{
    json_t *list = json_array();
    for (int r = 0; r < PQntuples(res); r++)
        json_array_append_new(list, list_row(a, res, r));
    char n[24];
    snprintf(n, sizeof n, "%d", PQntuples(res));
    lw_http_add_header(a->req, "X-Total-Count", n);
    lw_api_reply(a, 200, json_pack("{s:o}", "tenants", list));
}

static void api_tenant_list(lw_http_req_t *req, void *arg)
{
    billing_t *b = arg;
    const lw_api_env_t env = {.db = b->db, .module = "tbs"};
    lw_api_op_t *op = lw_api_op_new(sizeof *op, &env, req);
    lw_err_t e;
    lw_err_clear(&e);
    if (tn_admin_auth(b->tn, req, &e) != 0) {
        lw_api_fail(op, &e);
        return;
    }
    const char *state = lw_http_query(req, "billing_state");
    const char *params[] = {state};
    lw_api_query(op,
                 "SELECT " API_VIEW_COLS API_VIEW_FROM
                 " AND ($1::text IS NULL OR a.billing_state = $1) ORDER BY t.tenant_id",
                 1, params, list_got);
}

/* ---- PUT /api/v3/tbs/tenants/{tenant_id}/plan --------------------------------------------- */

typedef struct assign_op {
    lw_api_op_t api;
    billing_t *b;
    char tenant_id[TN_ID_MAX + 1];
    char plan_id[BILLING_STRIPE_ID_MAX + 1];
    int64_t limits[TN_LIMIT_COUNT];
} assign_op_t;

static void assign_recorded(lw_api_op_t *a, const PGresult *res)
{
    (void)res;
    assign_op_t *op = (assign_op_t *)a;
    lw_log_kv(LW_LOG_INFO, "tbs", "plan assigned", LW_LOG_STR("tenant", op->tenant_id),
              LW_LOG_STR("plan", op->plan_id));
    const char *params[] = {op->tenant_id};
    lw_api_query(a, "SELECT " API_VIEW_COLS API_VIEW_FROM " AND t.tenant_id = $1", 1, params,
                 view_got);
}

static void assign_registry_done(void *arg, int status, json_t *body, const lw_err_t *err)
{
    assign_op_t *op = arg;
    if (err != NULL || status >= 300) {
        lw_err_t e;
        if (err != NULL)
            e = *err;
        else
            billing_registry_error(status, body, &e);
        lw_api_fail(&op->api, &e);
        return;
    }
    const char *params[] = {op->tenant_id, op->plan_id};
    lw_api_query(&op->api,
                 "INSERT INTO lw_control.billing_accounts (tenant_id, backend, plan_id, "
                 "billing_state) SELECT $1, 'manual', $2, NULL ON CONFLICT (tenant_id) DO UPDATE "
                 "SET plan_id = excluded.plan_id, updated_at = now()",
                 2, params, assign_recorded);
}

static void assign_plan(lw_api_op_t *a, const PGresult *res)
{
    assign_op_t *op = (assign_op_t *)a;
    if (PQntuples(res) == 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_plan_not_found, "plan `%s` not found", op->plan_id);
        lw_err_attr(&e, "plan_id", op->plan_id);
        lw_api_fail(a, &e);
        return;
    }
    json_error_t je;
    json_t *limits = json_loads(PQgetvalue(res, 0, 0), 0, &je);
    lw_err_t e;
    int rc = billing_item_limits(NULL, limits, op->limits, &e);
    json_decref(limits);
    if (rc != 0 || billing_registry_update(op->b, op->tenant_id, NULL, NULL, op->limits,
                                           assign_registry_done, op, &e) != 0)
        lw_api_fail(a, &e);
}

static void api_tenant_assign(lw_http_req_t *req, void *arg)
{
    billing_t *b = arg;
    const lw_api_env_t env = {.db = b->db, .module = "tbs"};
    assign_op_t *op = lw_api_op_new(sizeof *op, &env, req);
    op->b = b;
    lw_err_t e;
    lw_err_clear(&e);
    const char *id = lw_http_param(req, "tenant_id");
    static const char *const allowed[] = {"plan_id", NULL};
    json_t *body = NULL;
    if (tn_admin_auth(b->tn, req, &e) != 0 || tn_id_validate(id, 3, "tenant_id", &e) != 0 ||
        (body = lw_http_json(req, &e)) == NULL || lw_api_check_keys(body, allowed, NULL, &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    const char *plan = json_string_value(json_object_get(body, "plan_id"));
    if (plan == NULL || plan[0] == '\0' || strlen(plan) > BILLING_STRIPE_ID_MAX) {
        lw_api_fail_invalid(&op->api, "plan_id", "want a plan ID");
        return;
    }
    snprintf(op->tenant_id, sizeof op->tenant_id, "%s", id);
    snprintf(op->plan_id, sizeof op->plan_id, "%s", plan);
    op->api.tenant_id = op->tenant_id;
    tn_tenant_t t;
    if (!tn_get(b->tn, op->tenant_id, &t) || t.deleted) {
        lw_err_set(&e, &lw_err_tenant_not_found, "tenant `%s` not found", op->tenant_id);
        lw_err_attr(&e, "tenant_id", op->tenant_id);
        lw_api_fail(&op->api, &e);
        return;
    }
    const char *params[] = {op->plan_id};
    lw_api_query(&op->api, "SELECT limits::text FROM lw_control.billing_plans WHERE plan_id = $1",
                 1, params, assign_plan);
}

int billing_api_init(billing_t *b, lw_err_t *err)
{
    if (lw_http_route(b->http, "GET", "/api/v3/tbs/tenants", api_tenant_list, b) != 0 ||
        lw_http_route(b->http, "GET", "/api/v3/tbs/tenants/{tenant_id}", api_tenant_get, b) != 0 ||
        lw_http_route(b->http, "PUT", "/api/v3/tbs/tenants/{tenant_id}/plan", api_tenant_assign,
                      b) != 0 ||
        billing_plans_routes(b, err) != 0)
        return err->def != NULL
                   ? -1
                   : lw_err_set(err, &lw_err_internal, "cannot register the billing API's routes");
    return 0;
}
