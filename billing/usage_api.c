/* Usage APIs (issue 11 item 8) over the ledger (billing/ledger.c):
 *
 *   GET /api/v3/tbs/tenants/{tenant_id}/usage?from=&to=
 *       A tenant's usage per period, and totals. Who may ask: an operator
 *       (Authorization: TenantAdminKey), any tenant; else a caller of the tenant the request
 *       resolves to (host, X-Tenant-ID, default) that the Identity Server reports an admin
 *       of the tenant (GET /api/v3/auth_info: is_admin, a tenant admin user's token or API
 *       key). Another tenant's {tenant_id} is refused with usage_other_tenant (403); a
 *       non-admin caller with permission_denied (403).
 *       {"tenant_id","from","to","periods":[{"period_start","period_end","closed_at"?,
 *        "uplinks","downlinks","join_accepts","active_end_devices","end_devices",
 *        "gateways","applications"}], "totals":{"uplinks","downlinks","join_accepts",
 *        "active_end_devices"}}: counts as strings (TTS's uint64 JSON), a meter without a
 *       row left out (the registered counts come at close); totals sum the periods
 *       (active_end_devices: device-periods, as a Stripe `increment` item adds them).
 *   GET /api/v3/tbs/ledger?from=&to=&tenant_id=&format=json|csv
 *       Operators (TenantAdminKey): every ledger row, ordered by tenant, period, meter. CSV
 *       (the manual backend's export): header
 *         tenant_id,period_start,period_end,closed_at,meter,value
 *       times RFC 3339 UTC with microseconds, closed_at empty while the period is open.
 *       JSON: {"entries":[{"tenant_id","period_start","period_end","closed_at"?,"meter",
 *       "value"}]}.
 *   from, to: RFC 3339; periods whose start lies in [from, to). Default: the last 31 days. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "billing/billing_private.h"
#include "cluster/api_codec.h"
#include "cluster/clock.h"
#include "cluster/json.h"
#include "cluster/log.h"
#include "cluster/mem.h"

#define USAGE_DEFAULT_SPAN_S (31ll * 86400)

typedef struct usage_req {
    billing_t *b;
    lw_http_req_t *req;
    char tenant_id[TN_ID_MAX + 1];
    char from[LW_API_TIME_LEN], to[LW_API_TIME_LEN];
    double from_s, to_s;
    bool csv;
} usage_req_t;

static void ts_of_seconds(double s, char out[LW_API_TIME_LEN])
{
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    lw_api_time_format(&ts, out);
}

/* from/to of the query, in seconds. */
static int usage_range(usage_req_t *u, lw_err_t *err)
{
    const char *from = lw_http_query(u->req, "from"), *to = lw_http_query(u->req, "to");
    double now = (double)lw_clock_wall_ms() / 1000.0;
    u->to_s = now;
    u->from_s = now - (double)USAGE_DEFAULT_SPAN_S;
    if (to != NULL && to[0] != '\0') {
        int64_t ns = lw_api_time_parse(to);
        if (ns < 0) {
            lw_err_set(err, &lw_err_invalid_field, "invalid `to`: not an RFC 3339 time");
            lw_err_attr(err, "field", "to");
            return -1;
        }
        u->to_s = (double)ns / 1e9;
        if (from == NULL || from[0] == '\0')
            u->from_s = u->to_s - (double)USAGE_DEFAULT_SPAN_S;
    }
    if (from != NULL && from[0] != '\0') {
        int64_t ns = lw_api_time_parse(from);
        if (ns < 0) {
            lw_err_set(err, &lw_err_invalid_field, "invalid `from`: not an RFC 3339 time");
            lw_err_attr(err, "field", "from");
            return -1;
        }
        u->from_s = (double)ns / 1e9;
    }
    if (u->to_s < u->from_s) {
        lw_err_set(err, &lw_err_invalid_field, "invalid `to`: before `from`");
        lw_err_attr(err, "field", "to");
        return -1;
    }
    ts_of_seconds(u->from_s, u->from);
    ts_of_seconds(u->to_s, u->to);
    return 0;
}

static usage_req_t *usage_req_new(billing_t *b, lw_http_req_t *req)
{
    usage_req_t *u = lw_calloc(1, sizeof *u);
    u->b = b;
    u->req = req;
    return u;
}

static void usage_fail(usage_req_t *u, const lw_err_t *err)
{
    lw_http_respond_err(u->req, err);
    free(u);
}

/* ---- GET .../tenants/{tenant_id}/usage ------------------------------------------------- */

static const char *const usage_meters[] = {
    "uplinks",     "downlinks", "join_accepts", "active_end_devices",
    "end_devices", "gateways",  "applications"};
#define USAGE_TOTALS 4 /* the first four add up */

static void usage_rows(void *arg, const PGresult *res, const lw_err_t *err)
{
    usage_req_t *u = arg;
    if (err != NULL) {
        usage_fail(u, err);
        return;
    }
    json_t *periods = json_array();
    unsigned long long totals[USAGE_TOTALS] = {0};
    for (int r = 0; r < PQntuples(res); r++) {
        json_t *p = json_object();
        json_object_set_new(p, "period_start", json_string(PQgetvalue(res, r, 0)));
        json_object_set_new(p, "period_end", json_string(PQgetvalue(res, r, 1)));
        if (!PQgetisnull(res, r, 2))
            json_object_set_new(p, "closed_at", json_string(PQgetvalue(res, r, 2)));
        json_t *m = json_loads(PQgetvalue(res, r, 3), 0, NULL);
        for (size_t k = 0; k < sizeof usage_meters / sizeof usage_meters[0]; k++) {
            json_t *v = m != NULL ? json_object_get(m, usage_meters[k]) : NULL;
            if (!json_is_integer(v))
                continue;
            char num[32];
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
            json_object_set_new(p, usage_meters[k], json_string(num));
            if (k < USAGE_TOTALS)
                totals[k] += (unsigned long long)json_integer_value(v);
        }
        json_decref(m);
        json_array_append_new(periods, p);
    }
    json_t *t = json_object();
    for (size_t k = 0; k < USAGE_TOTALS; k++) {
        char num[32];
        snprintf(num, sizeof num, "%llu", totals[k]);
        json_object_set_new(t, usage_meters[k], json_string(num));
    }
    json_t *o = json_pack("{ss ss ss so so}", "tenant_id", u->tenant_id, "from", u->from, "to",
                          u->to, "periods", periods, "totals", t);
    lw_http_respond_json(u->req, 200, o);
    free(u);
}

static void usage_query(usage_req_t *u)
{
    char from[40], to[40];
    snprintf(from, sizeof from, "%.6f", u->from_s);
    snprintf(to, sizeof to, "%.6f", u->to_s);
    const char *params[] = {u->tenant_id, from, to};
    if (lw_db_query(
            u->b->db,
            "SELECT " LW_API_SQL_TIME("p.period_start") ", " LW_API_SQL_TIME(
                "p.period_end") ", " LW_API_SQL_TIME("p.closed_at") ","
                                                                    " coalesce(json_object_agg(l."
                                                                    "meter, l.value) FILTER (WHERE "
                                                                    "l.meter IS NOT NULL),"
                                                                    " '{}')::text FROM "
                                                                    "lw_control.usage_periods p "
                                                                    "LEFT JOIN "
                                                                    "lw_control.usage_ledger l"
                                                                    " ON l.tenant_id = p.tenant_id "
                                                                    "AND l.period_start = "
                                                                    "p.period_start"
                                                                    " WHERE p.tenant_id = $1 AND "
                                                                    "p.period_start >= "
                                                                    "to_timestamp($2::float8)"
                                                                    " AND p.period_start < "
                                                                    "to_timestamp($3::float8)"
                                                                    " GROUP BY p.period_start, "
                                                                    "p.period_end, p.closed_at "
                                                                    "ORDER "
                                                                    "BY p.period_start",
            3, params, usage_rows, u) != 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_unavailable, "the ledger cannot be read now");
        usage_fail(u, &e);
    }
}

/* The Identity Server's answer on the caller: a tenant admin may read the usage. */
static void usage_auth_info(void *arg, lw_http_client_req_t *creq,
                            const lw_http_client_response_t *res, const lw_err_t *err)
{
    (void)creq;
    usage_req_t *u = arg;
    lw_err_t e;
    if (err != NULL) {
        lw_err_set(&e, &lw_err_unavailable, "the Identity Server could not be asked: %s",
                   err->message);
        usage_fail(u, &e);
        return;
    }
    if (res->status == 401) {
        lw_err_set(&e, &lw_err_unauthenticated, "unauthenticated");
        usage_fail(u, &e);
        return;
    }
    json_t *o =
        res->status == 200 ? json_loadb((const char *)res->body, res->body_len, 0, NULL) : NULL;
    bool admin = o != NULL && json_is_true(json_object_get(o, "is_admin"));
    json_decref(o);
    if (res->status != 200) {
        lw_err_set(&e, &lw_err_unavailable, "the Identity Server answered %d", res->status);
        usage_fail(u, &e);
        return;
    }
    if (!admin) {
        lw_err_set(&e, &lw_err_permission_denied,
                   "reading the usage of tenant `%s` needs a tenant admin", u->tenant_id);
        usage_fail(u, &e);
        return;
    }
    usage_query(u);
}

static void h_usage(lw_http_req_t *req, void *arg)
{
    billing_t *b = arg;
    usage_req_t *u = usage_req_new(b, req);
    lw_err_t err;
    lw_err_clear(&err);
    const char *id = lw_http_param(req, "tenant_id");
    if (tn_id_validate(id, 3, "tenant_id", &err) != 0) {
        usage_fail(u, &err);
        return;
    }
    snprintf(u->tenant_id, sizeof u->tenant_id, "%s", id);
    if (usage_range(u, &err) != 0) {
        usage_fail(u, &err);
        return;
    }
    const char *auth = lw_http_header(req, "Authorization");
    if (auth != NULL && strncmp(auth, "TenantAdminKey ", 15) == 0) {
        if (tn_admin_auth(b->tn, req, &err) != 0) {
            usage_fail(u, &err);
            return;
        }
        usage_query(u); /* an operator: any tenant */
        return;
    }
    tn_tenant_t t;
    if (tn_resolve(b->tn, req, &t, &err) != 0) {
        usage_fail(u, &err);
        return;
    }
    if (strcmp(t.id, u->tenant_id) != 0) {
        lw_err_set(&err, &lw_err_usage_other_tenant,
                   "tenant `%s` may read only its own usage, not tenant `%s`'s", t.id,
                   u->tenant_id);
        lw_err_attr(&err, "tenant_id", u->tenant_id);
        usage_fail(u, &err);
        return;
    }
    if (auth == NULL) {
        lw_err_set(&err, &lw_err_unauthenticated, "no credentials");
        usage_fail(u, &err);
        return;
    }
    /* The Identity Server the other servers ask callers' rights of (tenant/access.h). */
    char url[300];
    const char *is = lw_config_str(lw_rt_config(b->rt), "tenancy.identity-server-uri");
    if (is != NULL && is[0] != '\0')
        snprintf(url, sizeof url, "%s/api/v3/auth_info", is);
    else
        snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v3/auth_info", lw_http_port(b->http));
    lw_http_client_header_t hdrs[] = {{"Authorization", auth}, {"X-Tenant-ID", t.id}};
    lw_http_client_req_opts_t o = {.url = url, .headers = hdrs, .nheaders = 2, .timeout_ms = 5000};
    if (lw_http_client_send(billing_ledger_http(b), &o, usage_auth_info, u, &err) == NULL)
        usage_fail(u, &err);
}

/* ---- GET /api/v3/tbs/ledger -------------------------------------------------------------- */

static void ledger_rows(void *arg, const PGresult *res, const lw_err_t *err)
{
    usage_req_t *u = arg;
    if (err != NULL) {
        usage_fail(u, err);
        return;
    }
    int n = PQntuples(res);
    if (u->csv) {
        size_t cap = 64 + (size_t)n * 160, len = 0;
        char *buf = lw_malloc(cap);
        len += (size_t)snprintf(buf, cap,
                                "tenant_id,period_start,period_end,closed_at,meter,value\r\n");
        for (int r = 0; r < n; r++) {
            int w = snprintf(buf + len, cap - len, "%s,%s,%s,%s,%s,%s\r\n", PQgetvalue(res, r, 0),
                             PQgetvalue(res, r, 1), PQgetvalue(res, r, 2), PQgetvalue(res, r, 3),
                             PQgetvalue(res, r, 4), PQgetvalue(res, r, 5));
            if (w < 0)
                break;
            if ((size_t)w >= cap - len) {
                cap = cap * 2 + (size_t)w;
                buf = lw_realloc(buf, cap);
                r--;
                continue;
            }
            len += (size_t)w;
        }
        lw_http_add_header(u->req, "Content-Disposition", "attachment; filename=\"ledger.csv\"");
        lw_http_respond(u->req, 200, "text/csv; charset=utf-8", buf, len);
        free(buf);
        free(u);
        return;
    }
    json_t *a = json_array();
    for (int r = 0; r < n; r++) {
        json_t *e =
            json_pack("{ss ss ss ss ss}", "tenant_id", PQgetvalue(res, r, 0), "period_start",
                      PQgetvalue(res, r, 1), "period_end", PQgetvalue(res, r, 2), "meter",
                      PQgetvalue(res, r, 4), "value", PQgetvalue(res, r, 5));
        if (!PQgetisnull(res, r, 3))
            json_object_set_new(e, "closed_at", json_string(PQgetvalue(res, r, 3)));
        json_array_append_new(a, e);
    }
    lw_http_respond_json(u->req, 200, json_pack("{so}", "entries", a));
    free(u);
}

static void h_ledger(lw_http_req_t *req, void *arg)
{
    billing_t *b = arg;
    usage_req_t *u = usage_req_new(b, req);
    lw_err_t err;
    lw_err_clear(&err);
    if (tn_admin_auth(b->tn, req, &err) != 0 || usage_range(u, &err) != 0) {
        usage_fail(u, &err);
        return;
    }
    const char *fmt = lw_http_query(req, "format");
    if (fmt != NULL && strcmp(fmt, "csv") != 0 && strcmp(fmt, "json") != 0) {
        lw_err_set(&err, &lw_err_invalid_field, "invalid `format`: json or csv");
        lw_err_attr(&err, "field", "format");
        usage_fail(u, &err);
        return;
    }
    u->csv = fmt != NULL && strcmp(fmt, "csv") == 0;
    const char *tenant = lw_http_query(req, "tenant_id");
    if (tenant != NULL && tenant[0] != '\0' && tn_id_validate(tenant, 3, "tenant_id", &err) != 0) {
        usage_fail(u, &err);
        return;
    }
    char from[40], to[40];
    snprintf(from, sizeof from, "%.6f", u->from_s);
    snprintf(to, sizeof to, "%.6f", u->to_s);
    const char *params[] = {from, to, tenant != NULL && tenant[0] != '\0' ? tenant : NULL};
    if (lw_db_query(
            b->db,
            "SELECT l.tenant_id, " LW_API_SQL_TIME("l.period_start") ", " LW_API_SQL_TIME(
                "p.period_end") ", coalesce(" LW_API_SQL_TIME("p.closed_at") ", ''),"
                                                                             " l.meter, l.value "
                                                                             "FROM "
                                                                             "lw_control.usage_"
                                                                             "ledger l JOIN "
                                                                             "lw_control.usage_"
                                                                             "periods p"
                                                                             " ON p.tenant_id = "
                                                                             "l.tenant_id AND "
                                                                             "p.period_start = "
                                                                             "l.period_start"
                                                                             " WHERE "
                                                                             "l.period_start >= "
                                                                             "to_timestamp($1::"
                                                                             "float8) AND "
                                                                             "l.period_start <"
                                                                             " to_timestamp($2::"
                                                                             "float8) AND "
                                                                             "($3::text IS NULL OR "
                                                                             "l.tenant_id = $3)"
                                                                             " ORDER BY "
                                                                             "l.tenant_id, "
                                                                             "l.period_start, "
                                                                             "l.meter",
            3, params, ledger_rows, u) != 0) {
        lw_err_set(&err, &lw_err_unavailable, "the ledger cannot be read now");
        usage_fail(u, &err);
    }
}

int billing_usage_api_register(billing_t *b, lw_err_t *err)
{
    if (lw_http_route(b->http, "GET", "/api/v3/tbs/tenants/{tenant_id}/usage", h_usage, b) != 0 ||
        lw_http_route(b->http, "GET", "/api/v3/tbs/ledger", h_ledger, b) != 0)
        return lw_err_set(err, &lw_err_internal, "usage routes not registered");
    return 0;
}
