/* Plans (billing_private.h, "Plans"): the IDs of tbs.stripe.recurring-plan-ids and
 * tbs.stripe.metered-plan-ids with the overrides of tbs.plans.*, written to
 * lw_control.billing_plans at start, and the operator API:
 *   GET    /api/v3/tbs/plans                 {"plans":[plan...]}
 *   POST   /api/v3/tbs/plans                 {"plan":{"plan_id","kind",...}} → the plan
 *   GET|PUT|DELETE /api/v3/tbs/plans/{plan_id}   (PUT: {"plan":{...}}: fields given replace)
 * with plan = {"plan_id","kind":"recurring"|"metered","name","meter","action",
 * "meter_event_name","limits":{"max_end_devices":"100"|null,...},"source":"config"|"api",
 * "created_at","updated_at"}, all behind TenantAdminKey. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing_private.h"
#include "cluster/api.h"
#include "cluster/json.h"
#include "cluster/log.h"
#include "cluster/mem.h"

struct billing_plans {
    json_t *config;  /* plan ID → {"kind","meter","action","limits":{...},"has_limits"} */
    bool synced;     /* the configuration's plans are in billing_plans */
    char error[256]; /* a config problem found while reading tbs.plans.* */
    billing_t *b;
    uv_timer_t retry; /* a failed write is tried again every second */
    bool timer_open;
};

static const char *const plan_meters[] = {
    "end_devices",  "active_end_devices", "uplinks",      "downlinks",
    "join_accepts", "gateways",           "applications", NULL};

bool billing_meter_known(const char *meter)
{
    for (const char *const *m = plan_meters; *m != NULL; m++)
        if (strcmp(*m, meter) == 0)
            return true;
    return false;
}

const char *billing_meter_default_action(const char *meter)
{
    return strcmp(meter, "end_devices") == 0 || strcmp(meter, "gateways") == 0 ||
                   strcmp(meter, "applications") == 0
               ? "set"
               : "increment";
}

/* ---- configuration ---------------------------------------------------------------------- */

static void plans_retry_tick(uv_timer_t *t);

static json_t *plans_entry(billing_plans_t *p, const char *id, const char *kind)
{
    json_t *o = json_object_get(p->config, id);
    if (o == NULL) {
        o = json_pack("{s:s?,s:{}}", "kind", kind, "limits");
        json_object_set_new(p->config, id, o);
    } else if (kind != NULL) {
        json_object_set_new(o, "kind", json_string(kind));
    }
    return o;
}

static void plans_map_each(void *arg, const char *subkey, const char *value)
{
    billing_plans_t *p = arg;
    if (p->error[0] != '\0')
        return;
    const char *dot = strrchr(subkey, '.');
    if (dot == NULL || dot == subkey || strlen(subkey) > BILLING_STRIPE_ID_MAX + 32) {
        snprintf(p->error, sizeof p->error,
                 "tbs.plans.%s: want tbs.plans.<plan-id>.<max-...|meter|action>", subkey);
        return;
    }
    char id[BILLING_STRIPE_ID_MAX + 1];
    snprintf(id, sizeof id, "%.*s", (int)(dot - subkey), subkey);
    const char *attr = dot + 1;
    json_t *o = plans_entry(p, id, NULL);
    if (strcmp(attr, "meter") == 0) {
        if (!billing_meter_known(value)) {
            snprintf(p->error, sizeof p->error, "tbs.plans.%s: unknown meter `%s`", subkey, value);
            return;
        }
        json_object_set_new(o, "meter", json_string(value));
        return;
    }
    if (strcmp(attr, "action") == 0) {
        if (strcmp(value, "set") != 0 && strcmp(value, "increment") != 0) {
            snprintf(p->error, sizeof p->error, "tbs.plans.%s: want set or increment", subkey);
            return;
        }
        json_object_set_new(o, "action", json_string(value));
        return;
    }
    for (int k = 0; k < TN_LIMIT_COUNT; k++) {
        char key[32];
        snprintf(key, sizeof key, "%s", tn_limit_field((tn_limit_kind_t)k));
        for (char *c = key; *c != '\0'; c++)
            if (*c == '_')
                *c = '-';
        if (strcmp(attr, key) != 0)
            continue;
        json_t *limits = json_object_get(o, "limits");
        int64_t v;
        json_t *probe = json_pack("{s:s}", tn_limit_field((tn_limit_kind_t)k), value);
        lw_err_t e;
        int64_t all[TN_LIMIT_COUNT];
        int rc = billing_item_limits(NULL, probe, all, &e);
        json_decref(probe);
        if (rc != 0) {
            snprintf(p->error, sizeof p->error, "tbs.plans.%s: `%s` is not a number or unlimited",
                     subkey, value);
            return;
        }
        v = all[k];
        json_object_set_new(limits, tn_limit_field((tn_limit_kind_t)k),
                            v == TN_UNLIMITED ? json_null() : json_integer(v));
        json_object_set_new(o, "has_limits", json_true());
        return;
    }
    snprintf(p->error, sizeof p->error, "tbs.plans.%s: unknown setting `%s`", subkey, attr);
}

int billing_plans_init(billing_t *b, const lw_config_t *cfg, lw_err_t *err)
{
    billing_plans_t *p = lw_calloc(1, sizeof *p);
    b->plans = p;
    p->config = json_object();
    for (size_t i = 0; i < b->cfg.n_recurring_plan_ids; i++)
        plans_entry(p, b->cfg.recurring_plan_ids[i], "recurring");
    for (size_t i = 0; i < b->cfg.n_metered_plan_ids; i++)
        plans_entry(p, b->cfg.metered_plan_ids[i], "metered");
    lw_config_map_each(cfg, "tbs.plans", plans_map_each, p);
    if (p->error[0] == '\0') {
        const char *id;
        json_t *o;
        json_object_foreach(p->config, id, o)
        {
            if (strlen(id) > BILLING_STRIPE_ID_MAX)
                snprintf(p->error, sizeof p->error, "plan ID `%.40s...` is too long", id);
            else if (json_string_value(json_object_get(o, "kind")) == NULL)
                snprintf(p->error, sizeof p->error,
                         "tbs.plans.%s: the plan is in neither tbs.stripe.recurring-plan-ids nor "
                         "tbs.stripe.metered-plan-ids",
                         id);
        }
    }
    if (p->error[0] != '\0')
        return lw_err_set(err, &lw_err_config_invalid, "%s", p->error);
    return 0;
}

void billing_plans_free(billing_t *b)
{
    if (b->plans == NULL)
        return;
    json_decref(b->plans->config);
    free(b->plans);
    b->plans = NULL;
}

bool billing_plans_ready(const billing_t *b)
{
    return b->plans != NULL && b->plans->synced;
}

typedef struct plans_sync {
    billing_t *b;
    lw_db_tx_t *tx;
} plans_sync_t;

static void plans_sync_retry(billing_plans_t *p)
{
    if (p->timer_open && !p->b->stopping)
        uv_timer_start(&p->retry, plans_retry_tick, 1000, 0);
}

static void plans_sync_committed(void *arg, const lw_err_t *err)
{
    plans_sync_t *s = arg;
    if (err != NULL && err->def != NULL) {
        lw_log_kv(LW_LOG_ERROR, "tbs", "cannot write the configured plans",
                  LW_LOG_STR("error", err->message));
        plans_sync_retry(s->b->plans);
    } else {
        s->b->plans->synced = true;
        lw_log_kv(LW_LOG_INFO, "tbs", "configured plans written",
                  LW_LOG_INT("plans", (long long)json_object_size(s->b->plans->config)));
    }
    free(s);
}

static void plans_sync_written(void *arg, const PGresult *res, const lw_err_t *err)
{
    (void)res;
    plans_sync_t *s = arg;
    if (err != NULL) {
        lw_log_kv(LW_LOG_ERROR, "tbs", "cannot write the configured plans",
                  LW_LOG_STR("error", err->message));
        lw_db_tx_rollback(s->tx, NULL, NULL);
        plans_sync_retry(s->b->plans);
        free(s);
        return;
    }
    if (lw_db_tx_commit(s->tx, plans_sync_committed, s) != 0) {
        plans_sync_retry(s->b->plans);
        free(s);
    }
}

static void plans_sync_begun(void *arg, lw_db_tx_t *tx, const lw_err_t *err)
{
    plans_sync_t *s = arg;
    if (err != NULL) {
        lw_log_kv(LW_LOG_ERROR, "tbs", "cannot write the configured plans",
                  LW_LOG_STR("error", err->message));
        plans_sync_retry(s->b->plans);
        free(s);
        return;
    }
    s->tx = tx;
    char *plans = lw_json_dumps(s->b->plans->config, JSON_COMPACT);
    const char *params[] = {plans};
    /* One statement: the configured plans upserted (limits and meter replaced only where
     * configuration names them), plans that left the configuration removed. */
    int rc = lw_db_tx_query(
        tx,
        "WITH c AS (SELECT key AS plan_id, value->>'kind' AS kind, value->>'meter' AS meter, "
        "value->>'action' AS action, value->'limits' AS limits, "
        "COALESCE((value->>'has_limits')::boolean, false) AS has_limits FROM "
        "jsonb_each($1::jsonb)), "
        "gone AS (DELETE FROM lw_control.billing_plans p WHERE p.source = 'config' AND "
        "p.plan_id NOT IN (SELECT plan_id FROM c)) "
        "INSERT INTO lw_control.billing_plans AS p (plan_id, kind, meter, action, limits, source) "
        "SELECT plan_id, kind, meter, action, limits, 'config' FROM c "
        "ON CONFLICT (plan_id) DO UPDATE SET kind = excluded.kind, source = 'config', "
        "meter = COALESCE(excluded.meter, p.meter), action = COALESCE(excluded.action, p.action), "
        "limits = CASE WHEN (SELECT has_limits FROM c WHERE c.plan_id = excluded.plan_id) "
        "THEN excluded.limits ELSE p.limits END, updated_at = now()",
        1, params, plans_sync_written, s);
    free(plans);
    if (rc != 0) {
        lw_db_tx_rollback(tx, NULL, NULL);
        plans_sync_retry(s->b->plans);
        free(s);
    }
}

static void plans_sync(billing_t *b)
{
    plans_sync_t *s = lw_calloc(1, sizeof *s);
    s->b = b;
    if (lw_db_begin(b->db, plans_sync_begun, s) != 0) {
        plans_sync_retry(b->plans);
        free(s);
    }
}

static void plans_retry_tick(uv_timer_t *t)
{
    billing_plans_t *p = t->data;
    plans_sync(p->b);
}

int billing_plans_start(billing_t *b, lw_err_t *err)
{
    (void)err;
    billing_plans_t *p = b->plans;
    p->b = b;
    uv_timer_init(b->loop, &p->retry);
    p->retry.data = p;
    p->timer_open = true;
    plans_sync(b);
    return 0;
}

void billing_plans_stop(billing_t *b)
{
    billing_plans_t *p = b->plans;
    if (p != NULL && p->timer_open) {
        p->timer_open = false;
        uv_close((uv_handle_t *)&p->retry, NULL); /* memory freed with the component */
    }
}

/* ---- the operator API ------------------------------------------------------------------- */

#define PLAN_COLS                                                                                  \
    "plan_id, kind, name, meter, action, meter_event_name, limits::text, "                         \
    "source, " LW_API_SQL_TIME("created_at") ", " LW_API_SQL_TIME("updated_at")

typedef struct plan_op {
    lw_api_op_t api;
    billing_t *b;
    char plan_id[BILLING_STRIPE_ID_MAX + 1];
} plan_op_t;

static json_t *plan_json(const PGresult *res, int row)
{
    static const char *const keys[] = {"plan_id", "kind",   "name",
                                       "meter",   "action", "meter_event_name"};
    json_t *o = json_object();
    for (int i = 0; i < 6; i++)
        if (!PQgetisnull(res, row, i))
            json_object_set_new(o, keys[i], json_string(PQgetvalue(res, row, i)));
    json_error_t je;
    json_t *limits = json_loads(PQgetvalue(res, row, 6), 0, &je);
    json_object_set_new(o, "limits", limits != NULL ? limits : json_object());
    json_object_set_new(o, "source", json_string(PQgetvalue(res, row, 7)));
    json_object_set_new(o, "created_at", json_string(PQgetvalue(res, row, 8)));
    json_object_set_new(o, "updated_at", json_string(PQgetvalue(res, row, 9)));
    return o;
}

static void plan_one(lw_api_op_t *a, const PGresult *res)
{
    plan_op_t *op = (plan_op_t *)a;
    if (PQntuples(res) == 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_plan_not_found, "plan `%s` not found", op->plan_id);
        lw_err_attr(&e, "plan_id", op->plan_id);
        lw_api_fail(a, &e);
        return;
    }
    lw_api_reply(a, 200, plan_json(res, 0));
}

static void plan_many(lw_api_op_t *a, const PGresult *res)
{
    json_t *list = json_array();
    for (int r = 0; r < PQntuples(res); r++)
        json_array_append_new(list, plan_json(res, r));
    lw_api_reply(a, 200, json_pack("{s:o}", "plans", list));
}

/* An op behind TenantAdminKey, with the plan ID of the path (when there is one). */
static plan_op_t *plan_op(billing_t *b, lw_http_req_t *req)
{
    const lw_api_env_t env = {.db = b->db, .module = "tbs"};
    plan_op_t *op = lw_api_op_new(sizeof *op, &env, req);
    op->b = b;
    lw_err_t e;
    lw_err_clear(&e);
    if (tn_admin_auth(b->tn, req, &e) != 0) {
        lw_api_fail(&op->api, &e);
        return NULL;
    }
    const char *id = lw_http_param(req, "plan_id");
    if (id != NULL) {
        if (id[0] == '\0' || strlen(id) > BILLING_STRIPE_ID_MAX) {
            lw_api_fail_invalid(&op->api, "plan_id", "want a Stripe price or plan ID");
            return NULL;
        }
        snprintf(op->plan_id, sizeof op->plan_id, "%s", id);
    }
    return op;
}

/* Checks a plan body's fields; the limits are normalised to {"max_...": n | null}. Returns
 * 0 or -1 with err naming the field. */
static int plan_check(json_t *plan, bool create, lw_err_t *err)
{
    static const char *const allowed[] = {"plan_id",          "kind",   "name", "meter", "action",
                                          "meter_event_name", "limits", NULL};
    if (!json_is_object(plan))
        return lw_err_set(err, &lw_err_invalid_field, "invalid `plan`: want an object");
    if (lw_api_check_keys(plan, allowed, NULL, err) != 0)
        return -1;
    const char *kind = json_string_value(json_object_get(plan, "kind"));
    if ((create || json_object_get(plan, "kind") != NULL) &&
        (kind == NULL || (strcmp(kind, "recurring") != 0 && strcmp(kind, "metered") != 0)))
        return lw_api_invalid(err, "plan.kind", "want recurring or metered");
    const char *meter = json_string_value(json_object_get(plan, "meter"));
    if (json_object_get(plan, "meter") != NULL && !json_is_null(json_object_get(plan, "meter")) &&
        (meter == NULL || !billing_meter_known(meter)))
        return lw_api_invalid(err, "plan.meter",
                              "want end_devices, active_end_devices, uplinks, downlinks, "
                              "join_accepts, gateways or applications");
    const char *action = json_string_value(json_object_get(plan, "action"));
    if (json_object_get(plan, "action") != NULL && !json_is_null(json_object_get(plan, "action")) &&
        (action == NULL || (strcmp(action, "set") != 0 && strcmp(action, "increment") != 0)))
        return lw_api_invalid(err, "plan.action", "want set or increment");
    const char *name = json_string_value(json_object_get(plan, "name"));
    if (json_object_get(plan, "name") != NULL && (name == NULL || strlen(name) > 200))
        return lw_api_invalid(err, "plan.name", "want a string of at most 200 characters");
    json_t *limits = json_object_get(plan, "limits");
    if (limits != NULL) {
        if (!json_is_object(limits))
            return lw_api_invalid(err, "plan.limits", "want an object of max_* limits");
        const char *k;
        json_t *v;
        json_object_foreach(limits, k, v)
        {
            bool known = false;
            for (int i = 0; i < TN_LIMIT_COUNT; i++)
                known = known || strcmp(k, tn_limit_field((tn_limit_kind_t)i)) == 0;
            if (!known) {
                char field[64];
                snprintf(field, sizeof field, "plan.limits.%.40s", k);
                return lw_api_invalid(err, field, "unknown limit");
            }
        }
        int64_t all[TN_LIMIT_COUNT];
        if (billing_item_limits(NULL, limits, all, err) != 0)
            return lw_api_invalid(err, "plan.limits", "want numbers, decimal strings or null");
        json_t *norm = json_object();
        json_object_foreach(limits, k, v)
        {
            for (int i = 0; i < TN_LIMIT_COUNT; i++)
                if (strcmp(k, tn_limit_field((tn_limit_kind_t)i)) == 0)
                    json_object_set_new(
                        norm, k, all[i] == TN_UNLIMITED ? json_null() : json_integer(all[i]));
        }
        json_object_set_new(plan, "limits", norm);
    }
    return 0;
}

static void plans_list(lw_http_req_t *req, void *arg)
{
    plan_op_t *op = plan_op(arg, req);
    if (op != NULL)
        lw_api_query(&op->api,
                     "SELECT " PLAN_COLS " FROM lw_control.billing_plans ORDER BY plan_id", 0, NULL,
                     plan_many);
}

static void plans_get(lw_http_req_t *req, void *arg)
{
    plan_op_t *op = plan_op(arg, req);
    if (op == NULL)
        return;
    const char *params[] = {op->plan_id};
    lw_api_query(&op->api, "SELECT " PLAN_COLS " FROM lw_control.billing_plans WHERE plan_id = $1",
                 1, params, plan_one);
}

static void plans_write(lw_http_req_t *req, void *arg, bool create)
{
    plan_op_t *op = plan_op(arg, req);
    if (op == NULL)
        return;
    lw_err_t e;
    lw_err_clear(&e);
    static const char *const allowed[] = {"plan", NULL};
    json_t *body = lw_http_json(req, &e);
    json_t *plan = body != NULL ? json_object_get(body, "plan") : NULL;
    if (body == NULL || lw_api_check_keys(body, allowed, NULL, &e) != 0 ||
        plan_check(plan, create, &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    const char *id = json_string_value(json_object_get(plan, "plan_id"));
    if (create) {
        if (id == NULL || id[0] == '\0' || strlen(id) > BILLING_STRIPE_ID_MAX) {
            lw_api_fail_invalid(&op->api, "plan.plan_id", "want a Stripe price or plan ID");
            return;
        }
        snprintf(op->plan_id, sizeof op->plan_id, "%s", id);
    } else if (id != NULL && strcmp(id, op->plan_id) != 0) {
        lw_api_fail_invalid(&op->api, "plan.plan_id", "does not match the path");
        return;
    }
    char *text = lw_json_dumps(plan, JSON_COMPACT);
    const char *params[] = {op->plan_id, text};
    if (create) {
        lw_api_on_conflict(&op->api, NULL, op->plan_id, "plan `%s` already exists", op->plan_id);
        lw_api_query(&op->api,
                     "INSERT INTO lw_control.billing_plans (plan_id, kind, name, meter, action, "
                     "meter_event_name, limits, source) SELECT $1, p->>'kind', "
                     "COALESCE(p->>'name', ''), p->>'meter', p->>'action', p->>'meter_event_name', "
                     "COALESCE(p->'limits', '{}'::jsonb), 'api' FROM (SELECT $2::jsonb AS p) x "
                     "RETURNING " PLAN_COLS,
                     2, params, plan_one);
    } else {
        lw_api_query(&op->api,
                     "UPDATE lw_control.billing_plans SET "
                     "kind = COALESCE(p->>'kind', kind), "
                     "name = CASE WHEN p ? 'name' THEN COALESCE(p->>'name', '') ELSE name END, "
                     "meter = CASE WHEN p ? 'meter' THEN p->>'meter' ELSE meter END, "
                     "action = CASE WHEN p ? 'action' THEN p->>'action' ELSE action END, "
                     "meter_event_name = CASE WHEN p ? 'meter_event_name' THEN "
                     "p->>'meter_event_name' ELSE meter_event_name END, "
                     "limits = CASE WHEN p ? 'limits' THEN p->'limits' ELSE limits END, "
                     "updated_at = now() FROM (SELECT $2::jsonb AS p) x WHERE plan_id = $1 "
                     "RETURNING " PLAN_COLS,
                     2, params, plan_one);
    }
    free(text);
}

static void plans_create(lw_http_req_t *req, void *arg)
{
    plans_write(req, arg, true);
}

static void plans_update(lw_http_req_t *req, void *arg)
{
    plans_write(req, arg, false);
}

static void plan_deleted(lw_api_op_t *a, const PGresult *res)
{
    plan_op_t *op = (plan_op_t *)a;
    if (PQntuples(res) == 0) {
        plan_one(a, res);
        return;
    }
    lw_log_kv(LW_LOG_INFO, "tbs", "plan deleted", LW_LOG_STR("plan", op->plan_id));
    lw_api_reply(a, 200, json_object());
}

static void plans_delete(lw_http_req_t *req, void *arg)
{
    plan_op_t *op = plan_op(arg, req);
    if (op == NULL)
        return;
    const char *params[] = {op->plan_id};
    lw_api_query(&op->api,
                 "DELETE FROM lw_control.billing_plans WHERE plan_id = $1 RETURNING plan_id", 1,
                 params, plan_deleted);
}

int billing_plans_routes(billing_t *b, lw_err_t *err)
{
    if (lw_http_route(b->http, "GET", "/api/v3/tbs/plans", plans_list, b) != 0 ||
        lw_http_route(b->http, "POST", "/api/v3/tbs/plans", plans_create, b) != 0 ||
        lw_http_route(b->http, "GET", "/api/v3/tbs/plans/{plan_id}", plans_get, b) != 0 ||
        lw_http_route(b->http, "PUT", "/api/v3/tbs/plans/{plan_id}", plans_update, b) != 0 ||
        lw_http_route(b->http, "DELETE", "/api/v3/tbs/plans/{plan_id}", plans_delete, b) != 0)
        return lw_err_set(err, &lw_err_internal, "cannot register the plan routes");
    return 0;
}
