/* `lwstack billing reconcile [--period YYYY-MM] [--tenant ID] [--fix] [--json]` (issue 11
 * item 7): a job against a running deployment's database and Stripe, not inside the server.
 *
 * It compares, for one calendar month (UTC; default the current one):
 *  - closed periods of metered items that have no usage_reports row at all (unreported);
 *  - usage: per metered subscription item, what the ledger says (usage_reports rows made from
 *    it: the sum of the periods' quantities for `increment`, the last period's for `set`)
 *    with what Stripe recorded (usage_record_summaries: the summary whose period holds the
 *    month), and every row not `sent`;
 *  - state: each billing account's tenant state with what its subscription's status at
 *    Stripe implies (active/trialing approved, past_due flagged, unpaid/canceled suspended).
 * --fix resends the item's rows with their own idempotency keys (Stripe keeps a key 24 h: a
 * record lost within that window is not made again, and the difference stays listed) and
 * sets the tenant's state through the tenant API (tbs.tenant-registry-uri, else this node's
 * http.listen, with tbs.tenant-admin-key or the first tenancy.admin-keys).
 * Exit 0 when clean (or every difference fixed), 1 when differences remain, 2 on error.
 * With tbs.backend manual there is no Stripe: only rows not sent are differences. With
 * tbs.reporting.mode meter-events, Stripe's meter summaries are not read (only rows not sent).
 *
 * Blocking is fine here (a CLI): libpq synchronously, and the Stripe client on a loop of its
 * own that runs until each answer is in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "billing/backend.h"
#include "billing/stripe_req_private.h"
#include "cluster/config.h"
#include "cluster/http_client.h"
#include "cluster/json.h"
#include "tenant/ids.h"

#define RC_EXIT_CLEAN 0
#define RC_EXIT_DIFF  1
#define RC_EXIT_ERROR 2

typedef struct rc {
    PGconn *pg;
    billing_t b; /* the parts of a billing server the backends need: loop, cfg, stripe */
    uv_loop_t loop;
    bool has_stripe;
    bool usage_records;
    bool fix, json;
    const char *tenant;
    char period[24];  /* "YYYY-MM"; room for any int pair, so that snprintf never truncates */
    long long m0, m1; /* the month [m0, m1) in unix seconds */
    json_t *diffs;
    int remaining;
    char registry[256];
    char admin_auth[160];
} rc_t;

static int rc_usage(FILE *f)
{
    fprintf(f, "usage: lwstack billing reconcile [--period YYYY-MM] [--tenant ID] [--fix] "
               "[--json]\n");
    return RC_EXIT_ERROR;
}

static int rc_fail(const char *what, const char *detail)
{
    fprintf(stderr, "lwstack billing reconcile: %s%s%s\n", what, detail != NULL ? ": " : "",
            detail != NULL ? detail : "");
    return RC_EXIT_ERROR;
}

/* ---- the loop's calls, waited for ------------------------------------------------------ */

typedef struct rc_answer {
    bool done;
    int status;
    json_t *body;
    bool failed;
    char error[256];
    char stripe_id[BILLING_STRIPE_KEY_MAX + 1];
} rc_answer_t;

static void rc_wait(rc_t *r, rc_answer_t *a)
{
    while (!a->done)
        uv_run(&r->loop, UV_RUN_ONCE);
}

static void rc_stripe_answered(void *arg, const billing_stripe_result_t *res)
{
    rc_answer_t *a = arg;
    a->done = true;
    a->status = res->status;
    a->body = res->body_len > 0 ? json_loadb(res->body, res->body_len, 0, NULL) : NULL;
    if (res->err != NULL) {
        a->failed = true;
        snprintf(a->error, sizeof a->error, "%s", res->err->message);
    }
}

/* A Stripe GET; 0 with a->body, or -1 with a->error. */
static int rc_stripe_get(rc_t *r, const char *path, rc_answer_t *a)
{
    memset(a, 0, sizeof *a);
    lw_err_t err;
    lw_err_clear(&err);
    if (billing_stripe_call(r->b.stripe, "GET", path, NULL, NULL, rc_stripe_answered, a, &err) !=
        0) {
        snprintf(a->error, sizeof a->error, "%s", err.message);
        return -1;
    }
    rc_wait(r, a);
    return a->failed ? -1 : 0;
}

static void rc_reported(void *arg, const billing_report_outcome_t *out)
{
    rc_answer_t *a = arg;
    a->done = true;
    a->failed = !out->sent;
    if (out->err != NULL)
        snprintf(a->error, sizeof a->error, "%s", out->err->message);
    if (out->stripe_id != NULL)
        snprintf(a->stripe_id, sizeof a->stripe_id, "%s", out->stripe_id);
}

static void rc_http_answered(void *arg, lw_http_client_req_t *req,
                             const lw_http_client_response_t *res, const lw_err_t *err)
{
    (void)req;
    rc_answer_t *a = arg;
    a->done = true;
    if (res == NULL) {
        a->failed = true;
        snprintf(a->error, sizeof a->error, "%s", err->message);
        return;
    }
    a->status = res->status;
    a->failed = res->status < 200 || res->status >= 300;
    if (a->failed)
        snprintf(a->error, sizeof a->error, "the tenant API answered HTTP %d", res->status);
}

/* ---- differences ------------------------------------------------------------------------ */

static void rc_diff(rc_t *r, json_t *d, bool fixed)
{
    json_object_set_new(d, "fixed", json_boolean(fixed));
    json_array_append_new(r->diffs, d);
    if (!fixed)
        r->remaining++;
}

static const char *rc_sql_tenant(const rc_t *r)
{
    return r->tenant;
}

/* ---- usage ------------------------------------------------------------------------------ */

typedef struct rc_item {
    char tenant[64], item[128], meter[48], action[16];
    long long expected;
    int first, count; /* rows [first, first + count) of the result */
    bool unsent;
} rc_item_t;

/* Stripe's total for the item in the month: the summary whose period holds the month's
 * start. -1 with the error printed on failure. */
static long long rc_stripe_total(rc_t *r, const char *item, char *error, size_t error_len)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/subscription_items/%s/usage_record_summaries?limit=100", item);
    rc_answer_t a;
    if (rc_stripe_get(r, path, &a) != 0) {
        snprintf(error, error_len, "%s", a.error);
        json_decref(a.body);
        return -1;
    }
    long long total = 0;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(a.body, "data"), i, s)
    {
        json_t *p = json_object_get(s, "period");
        long long start = json_integer_value(json_object_get(p, "start"));
        long long end = json_integer_value(json_object_get(p, "end"));
        if (start <= r->m0 && r->m0 < end) {
            total = json_integer_value(json_object_get(s, "total_usage"));
            break;
        }
    }
    json_decref(a.body);
    return total;
}

/* Resends one row with its own key; marks it sent. 0, or -1 with error. */
static int rc_resend(rc_t *r, const PGresult *res, int row, char *error, size_t error_len)
{
    billing_report_row_t w = {
        .tenant_id = PQgetvalue(res, row, 0),
        .item_id = PQgetvalue(res, row, 1),
        .meter = PQgetvalue(res, row, 2),
        .action = PQgetvalue(res, row, 3),
        .quantity = atoll(PQgetvalue(res, row, 4)),
        .idempotency_key = PQgetvalue(res, row, 6),
        .period_start_s = atoll(PQgetvalue(res, row, 7)),
        .period_end_s = atoll(PQgetvalue(res, row, 8)),
        .customer_id = PQgetisnull(res, row, 9) ? NULL : PQgetvalue(res, row, 9),
        .meter_event_name = PQgetisnull(res, row, 10) ? NULL : PQgetvalue(res, row, 10),
    };
    rc_answer_t a;
    memset(&a, 0, sizeof a);
    lw_err_t err;
    lw_err_clear(&err);
    if (r->b.backend->report(&r->b, &w, rc_reported, &a, &err) != 0) {
        snprintf(error, error_len, "%s", err.message);
        return -1;
    }
    rc_wait(r, &a);
    if (a.failed) {
        snprintf(error, error_len, "%s", a.error);
        return -1;
    }
    const char *p[2] = {w.idempotency_key, a.stripe_id[0] != '\0' ? a.stripe_id : NULL};
    PGresult *u =
        PQexecParams(r->pg,
                     "UPDATE lw_control.usage_reports SET state = 'sent', stripe_id = $2, "
                     "       sent_at = now(), last_error = NULL, next_attempt_at = NULL "
                     " WHERE idempotency_key = $1",
                     2, NULL, p, NULL, NULL, 0);
    int rc = PQresultStatus(u) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc != 0)
        snprintf(error, error_len, "%s", PQerrorMessage(r->pg));
    PQclear(u);
    return rc;
}

/* Closed periods of the month whose metered items have no usage_reports row (the server
 * makes them on its passes; one that never ran since, or a row removed, leaves a hole).
 * Listed per item; --fix makes the rows (the ledger's value, billing_usage_key's key), which
 * the usage check below then sends. */
static int rc_check_unreported(rc_t *r)
{
    char m0[24], m1[24];
    snprintf(m0, sizeof m0, "%lld", r->m0);
    snprintf(m1, sizeof m1, "%lld", r->m1);
    const char *p[3] = {m0, m1, rc_sql_tenant(r)};
    PGresult *res = PQexecParams(
        r->pg,
        "SELECT p.tenant_id, floor(extract(epoch FROM p.period_start))::bigint, i.item_id, "
        "       i.meter, COALESCE(l.value, 0), i.action "
        "  FROM lw_control.usage_periods p "
        "  JOIN lw_control.billing_subscription_items i "
        "    ON i.tenant_id = p.tenant_id AND i.active AND i.meter IS NOT NULL "
        "   AND i.action IS NOT NULL AND p.period_end > i.created_at "
        "  LEFT JOIN lw_control.usage_ledger l ON l.tenant_id = p.tenant_id "
        "   AND l.period_start = p.period_start AND l.meter = i.meter "
        " WHERE p.closed_at IS NOT NULL AND p.period_end <= now() "
        "   AND p.period_start >= to_timestamp($1::bigint) "
        "   AND p.period_start < to_timestamp($2::bigint) "
        "   AND ($3::text IS NULL OR p.tenant_id = $3) "
        "   AND NOT EXISTS (SELECT 1 FROM lw_control.usage_reports u "
        "                    WHERE u.tenant_id = p.tenant_id AND u.period_start = p.period_start "
        "                      AND u.item_id = i.item_id) "
        " ORDER BY p.tenant_id, i.item_id, p.period_start",
        3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        int rc = rc_fail("reading the ledger", PQerrorMessage(r->pg));
        PQclear(res);
        return rc;
    }
    int n = PQntuples(res);
    for (int i = 0; i < n;) {
        const char *tenant = PQgetvalue(res, i, 0), *item = PQgetvalue(res, i, 2);
        int first = i, periods = 0;
        bool fixed = r->fix;
        char fix_error[256] = "";
        while (i < n && strcmp(PQgetvalue(res, i, 0), tenant) == 0 &&
               strcmp(PQgetvalue(res, i, 2), item) == 0) {
            periods++;
            if (r->fix) {
                char key[BILLING_STRIPE_KEY_MAX + 1];
                const char *meter = PQgetvalue(res, i, 3);
                if (billing_usage_key(key, sizeof key, tenant, item, meter,
                                      atoll(PQgetvalue(res, i, 1))) < 0) {
                    fixed = false;
                    snprintf(fix_error, sizeof fix_error, "no idempotency key fits");
                } else {
                    const char *ip[7] = {tenant, PQgetvalue(res, i, 1), item,
                                         meter,  PQgetvalue(res, i, 4), PQgetvalue(res, i, 5),
                                         key};
                    PGresult *u = PQexecParams(
                        r->pg,
                        "INSERT INTO lw_control.usage_reports (tenant_id, period_start, item_id, "
                        "       meter, quantity, action, idempotency_key, state, next_attempt_at) "
                        "VALUES ($1, to_timestamp($2::bigint), $3, $4, $5::bigint, $6, $7, "
                        "        'pending', now()) ON CONFLICT DO NOTHING",
                        7, NULL, ip, NULL, NULL, 0);
                    if (PQresultStatus(u) != PGRES_COMMAND_OK) {
                        fixed = false;
                        snprintf(fix_error, sizeof fix_error, "%s", PQerrorMessage(r->pg));
                    }
                    PQclear(u);
                }
            }
            i++;
        }
        json_t *d = json_pack("{s:s,s:s,s:s,s:s,s:s,s:i}", "kind", "unreported", "tenant_id",
                              tenant, "item_id", item, "meter", PQgetvalue(res, first, 3), "period",
                              r->period, "periods", periods);
        if (fix_error[0] != '\0')
            json_object_set_new(d, "fix_error", json_string(fix_error));
        rc_diff(r, d, fixed);
    }
    PQclear(res);
    return 0;
}

static int rc_check_usage(rc_t *r)
{
    char m0[24], m1[24];
    snprintf(m0, sizeof m0, "%lld", r->m0);
    snprintf(m1, sizeof m1, "%lld", r->m1);
    const char *p[3] = {m0, m1, rc_sql_tenant(r)};
    PGresult *res =
        PQexecParams(r->pg,
                     "SELECT r.tenant_id, r.item_id, r.meter, r.action, r.quantity, r.state, "
                     "       r.idempotency_key, floor(extract(epoch FROM r.period_start))::bigint, "
                     "       floor(extract(epoch FROM p.period_end))::bigint, a.customer_id, "
                     "       i.meter_event_name "
                     "  FROM lw_control.usage_reports r "
                     "  JOIN lw_control.usage_periods p ON p.tenant_id = r.tenant_id "
                     "   AND p.period_start = r.period_start "
                     "  LEFT JOIN lw_control.billing_accounts a ON a.tenant_id = r.tenant_id "
                     "  LEFT JOIN lw_control.billing_subscription_items i ON i.item_id = r.item_id "
                     " WHERE r.period_start >= to_timestamp($1::bigint) "
                     "   AND r.period_start < to_timestamp($2::bigint) "
                     "   AND ($3::text IS NULL OR r.tenant_id = $3) "
                     " ORDER BY r.tenant_id, r.item_id, r.period_start",
                     3, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        int rc = rc_fail("reading usage_reports", PQerrorMessage(r->pg));
        PQclear(res);
        return rc;
    }
    int n = PQntuples(res);
    int rc = 0;
    for (int i = 0; i < n && rc == 0;) {
        rc_item_t it = {.first = i};
        snprintf(it.tenant, sizeof it.tenant, "%s", PQgetvalue(res, i, 0));
        snprintf(it.item, sizeof it.item, "%s", PQgetvalue(res, i, 1));
        snprintf(it.meter, sizeof it.meter, "%s", PQgetvalue(res, i, 2));
        snprintf(it.action, sizeof it.action, "%s", PQgetvalue(res, i, 3));
        bool set = strcmp(it.action, "set") == 0;
        while (i < n && strcmp(PQgetvalue(res, i, 0), it.tenant) == 0 &&
               strcmp(PQgetvalue(res, i, 1), it.item) == 0) {
            long long q = atoll(PQgetvalue(res, i, 4));
            it.expected = set ? q : it.expected + q; /* rows by period: the last one wins */
            if (strcmp(PQgetvalue(res, i, 5), "sent") != 0)
                it.unsent = true;
            it.count++;
            i++;
        }
        long long total = -1;
        char error[256] = "";
        if (r->has_stripe && r->usage_records) {
            if (!billing_stripe_id_ok(it.item)) {
                snprintf(error, sizeof error, "item id `%s` is not a Stripe id", it.item);
            } else {
                total = rc_stripe_total(r, it.item, error, sizeof error);
                if (total < 0) {
                    rc = rc_fail("reading Stripe's usage", error);
                    break;
                }
            }
        }
        bool differs = total >= 0 && total != it.expected;
        if (!differs && !it.unsent)
            continue;
        bool fixed = false;
        char fix_error[256] = "";
        if (r->fix) {
            fixed = true;
            for (int k = it.first; k < it.first + it.count; k++)
                if ((differs || strcmp(PQgetvalue(res, k, 5), "sent") != 0) &&
                    rc_resend(r, res, k, fix_error, sizeof fix_error) != 0)
                    fixed = false;
            if (fixed && differs) {
                long long again = rc_stripe_total(r, it.item, fix_error, sizeof fix_error);
                fixed = again == it.expected;
                if (again >= 0 && !fixed)
                    snprintf(fix_error, sizeof fix_error,
                             "Stripe still records %lld (a key it keeps 24 h is not sent again)",
                             again);
            }
        }
        json_t *d = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "kind", differs ? "usage" : "unsent",
                              "tenant_id", it.tenant, "item_id", it.item, "meter", it.meter,
                              "period", r->period, "ledger", (json_int_t)it.expected);
        if (total >= 0)
            json_object_set_new(d, "stripe", json_integer(total));
        if (fix_error[0] != '\0')
            json_object_set_new(d, "fix_error", json_string(fix_error));
        rc_diff(r, d, fixed);
    }
    PQclear(res);
    return rc;
}

/* ---- tenant states ---------------------------------------------------------------------- */

/* The state a subscription status implies (billing_decide's mapping); -1: none (incomplete,
 * paused: billing leaves the tenant alone). */
static int rc_expected_state(const char *status)
{
    if (strcmp(status, "active") == 0 || strcmp(status, "trialing") == 0)
        return TN_STATE_APPROVED;
    if (strcmp(status, "past_due") == 0)
        return TN_STATE_FLAGGED;
    if (strcmp(status, "unpaid") == 0 || strcmp(status, "canceled") == 0)
        return TN_STATE_SUSPENDED;
    return -1;
}

static int rc_set_state(rc_t *r, const char *tenant, tn_state_t state, const char *status,
                        char *error, size_t error_len)
{
    if (r->registry[0] == '\0' || r->admin_auth[0] == '\0') {
        snprintf(error, error_len,
                 "no tenant API (tbs.tenant-registry-uri or http.listen) or "
                 "no admin key (tbs.tenant-admin-key, tenancy.admin-keys)");
        return -1;
    }
    char url[512], body[256];
    snprintf(url, sizeof url, "%s/api/v3/tenants/%s", r->registry, tenant);
    snprintf(body, sizeof body,
             "{\"tenant\":{\"state\":\"%s\"},\"field_mask\":{\"paths\":[\"state\"]}}",
             tn_state_name(state));
    const lw_http_client_header_t h[] = {{"Authorization", r->admin_auth},
                                         {"Content-Type", "application/json"}};
    lw_http_client_req_opts_t o = {.method = "PUT",
                                   .url = url,
                                   .headers = h,
                                   .nheaders = 2,
                                   .body = body,
                                   .body_len = strlen(body)};
    lw_err_t err;
    lw_err_clear(&err);
    lw_http_client_t *http = lw_http_client_new(&r->loop, NULL, &err);
    if (http == NULL) {
        snprintf(error, error_len, "%s", err.message);
        return -1;
    }
    rc_answer_t a;
    memset(&a, 0, sizeof a);
    int rc = -1;
    if (lw_http_client_send(http, &o, rc_http_answered, &a, &err) == NULL) {
        snprintf(error, error_len, "%s", err.message);
    } else {
        rc_wait(r, &a);
        if (a.failed)
            snprintf(error, error_len, "%s", a.error);
        else
            rc = 0;
    }
    lw_http_client_close(http, NULL, NULL);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    lw_http_client_free(http);
    if (rc != 0)
        return -1;
    const char *p[3] = {tenant, tn_state_name(state), status};
    PGresult *u = PQexecParams(r->pg,
                               "UPDATE lw_control.billing_accounts SET billing_state = $2, "
                               "       subscription_status = $3, updated_at = now() "
                               " WHERE tenant_id = $1",
                               3, NULL, p, NULL, NULL, 0);
    rc = PQresultStatus(u) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc != 0)
        snprintf(error, error_len, "%s", PQerrorMessage(r->pg));
    PQclear(u);
    return rc;
}

static int rc_check_states(rc_t *r)
{
    const char *p[1] = {rc_sql_tenant(r)};
    PGresult *res =
        PQexecParams(r->pg,
                     "SELECT a.tenant_id, a.subscription_id, t.state "
                     "  FROM lw_control.billing_accounts a "
                     "  LEFT JOIN lw_control.tenants t ON t.tenant_id = a.tenant_id "
                     " WHERE a.backend = 'stripe' AND a.subscription_id IS NOT NULL "
                     "   AND ($1::text IS NULL OR a.tenant_id = $1) ORDER BY a.tenant_id",
                     1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        int rc = rc_fail("reading billing_accounts", PQerrorMessage(r->pg));
        PQclear(res);
        return rc;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        const char *tenant = PQgetvalue(res, i, 0), *sub = PQgetvalue(res, i, 1);
        if (!billing_stripe_id_ok(sub))
            continue;
        char path[200];
        snprintf(path, sizeof path, "/v1/subscriptions/%s", sub);
        rc_answer_t a;
        const char *status = NULL;
        if (rc_stripe_get(r, path, &a) != 0) {
            if (a.status != 404) {
                rc = rc_fail("reading a subscription at Stripe", a.error);
                json_decref(a.body);
                break;
            }
            status = "missing";
        } else {
            status = json_string_value(json_object_get(a.body, "status"));
        }
        char st[32];
        snprintf(st, sizeof st, "%s", status != NULL ? status : "");
        json_decref(a.body);
        int expected = rc_expected_state(st);
        if (expected < 0 && strcmp(st, "missing") != 0)
            continue;
        bool no_tenant = PQgetisnull(res, i, 2);
        tn_state_t actual =
            no_tenant ? TN_STATE_REQUESTED : (tn_state_t)atoi(PQgetvalue(res, i, 2));
        if (!no_tenant && expected >= 0 && actual == (tn_state_t)expected)
            continue;
        bool fixed = false;
        char fix_error[256] = "";
        if (r->fix && expected >= 0 && !no_tenant)
            fixed =
                rc_set_state(r, tenant, (tn_state_t)expected, st, fix_error, sizeof fix_error) == 0;
        json_t *d = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "kind", "state", "tenant_id", tenant,
                              "subscription_id", sub, "subscription_status", st, "expected",
                              expected >= 0 ? tn_state_name((tn_state_t)expected) : "-", "actual",
                              no_tenant ? "(no tenant)" : tn_state_name(actual));
        if (fix_error[0] != '\0')
            json_object_set_new(d, "fix_error", json_string(fix_error));
        rc_diff(r, d, fixed);
    }
    PQclear(res);
    return rc;
}

/* ---- output ----------------------------------------------------------------------------- */

static void rc_print(const rc_t *r)
{
    if (r->json) {
        json_t *o = json_pack("{s:s,s:O,s:i,s:b}", "period", r->period, "differences", r->diffs,
                              "remaining", r->remaining, "fixed", r->fix);
        json_object_set_new(o, "tenant_id",
                            r->tenant != NULL ? json_string(r->tenant) : json_null());
        char *s = lw_json_dumps(o, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(o);
        return;
    }
    size_t n = json_array_size(r->diffs);
    if (n == 0) {
        printf("reconcile %s: no differences\n", r->period);
        return;
    }
    printf("%-10s %-16s %-44s %-16s %-16s %s\n", "KIND", "TENANT", "SUBJECT", "LEDGER/EXPECTED",
           "STRIPE/ACTUAL", "FIX");
    size_t i;
    json_t *d;
    json_array_foreach(r->diffs, i, d)
    {
        const char *kind = json_string_value(json_object_get(d, "kind"));
        char subject[128], left[32], right[32];
        if (strcmp(kind, "state") == 0) {
            snprintf(subject, sizeof subject, "%s %s",
                     json_string_value(json_object_get(d, "subscription_id")),
                     json_string_value(json_object_get(d, "subscription_status")));
            snprintf(left, sizeof left, "%s", json_string_value(json_object_get(d, "expected")));
            snprintf(right, sizeof right, "%s", json_string_value(json_object_get(d, "actual")));
        } else if (strcmp(kind, "unreported") == 0) {
            snprintf(subject, sizeof subject, "%s %s %s",
                     json_string_value(json_object_get(d, "item_id")),
                     json_string_value(json_object_get(d, "meter")), r->period);
            snprintf(left, sizeof left, "%lld periods",
                     (long long)json_integer_value(json_object_get(d, "periods")));
            snprintf(right, sizeof right, "no report");
        } else {
            snprintf(subject, sizeof subject, "%s %s %s",
                     json_string_value(json_object_get(d, "item_id")),
                     json_string_value(json_object_get(d, "meter")), r->period);
            snprintf(left, sizeof left, "%lld",
                     (long long)json_integer_value(json_object_get(d, "ledger")));
            json_t *s = json_object_get(d, "stripe");
            snprintf(right, sizeof right, "%s", s != NULL ? "" : "-");
            if (s != NULL)
                snprintf(right, sizeof right, "%lld", (long long)json_integer_value(s));
        }
        const char *fix = json_is_true(json_object_get(d, "fixed")) ? "fixed"
                          : r->fix                                  ? "not fixed"
                                                                    : "-";
        printf("%-10s %-16s %-44s %-16s %-16s %s\n", kind,
               json_string_value(json_object_get(d, "tenant_id")), subject, left, right, fix);
        const char *fe = json_string_value(json_object_get(d, "fix_error"));
        if (fe != NULL)
            printf("        %s\n", fe);
    }
    printf("reconcile %s: %zu difference%s, %d remaining\n", r->period, n, n == 1 ? "" : "s",
           r->remaining);
}

/* ---- the command ------------------------------------------------------------------------ */

static int rc_month(rc_t *r, const char *arg)
{
    int y, m;
    char tail;
    if (arg == NULL) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        y = tm.tm_year + 1900;
        m = tm.tm_mon + 1;
    } else if (strlen(arg) != 7 || sscanf(arg, "%4d-%2d%c", &y, &m, &tail) != 2 || m < 1 ||
               m > 12 || y < 1970 || y > 9999) {
        return -1;
    }
    snprintf(r->period, sizeof r->period, "%04d-%02d", y, m);
    struct tm a = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = 1};
    struct tm b = {
        .tm_year = (m == 12 ? y + 1 : y) - 1900, .tm_mon = m == 12 ? 0 : m, .tm_mday = 1};
    r->m0 = (long long)timegm(&a);
    r->m1 = (long long)timegm(&b);
    return 0;
}

/* The tenant API's base: tbs.tenant-registry-uri, else this node's http.listen. */
static void rc_registry(rc_t *r, const lw_config_t *cfg)
{
    const char *uri = lw_config_str(cfg, "tbs.tenant-registry-uri");
    if (uri != NULL && uri[0] != '\0') {
        snprintf(r->registry, sizeof r->registry, "%s", uri);
        size_t n = strlen(r->registry);
        while (n > 0 && r->registry[n - 1] == '/')
            r->registry[--n] = '\0';
    } else {
        const char *listen = lw_config_str(cfg, "http.listen");
        const char *colon = listen != NULL ? strrchr(listen, ':') : NULL;
        if (colon != NULL && colon[1] != '\0')
            snprintf(r->registry, sizeof r->registry, "http://127.0.0.1:%s", colon + 1);
    }
    const char *key = lw_config_str(cfg, "tbs.tenant-admin-key");
    if (key == NULL || key[0] == '\0') {
        size_t n = 0;
        const char *const *keys = lw_config_list(cfg, "tenancy.admin-keys", &n);
        key = n > 0 ? keys[0] : NULL;
    }
    if (key != NULL && strpbrk(key, "\r\n") == NULL)
        snprintf(r->admin_auth, sizeof r->admin_auth, "TenantAdminKey %s", key);
}

static void rc_backend_stopped(void *arg)
{
    (void)arg;
}

int billing_reconcile_main(lw_config_t *cfg, int argc, char **argv)
{
    rc_t r;
    memset(&r, 0, sizeof r);
    const char *period = NULL;
    if (argc < 2 || strcmp(argv[1], "reconcile") != 0)
        return rc_usage(stderr);
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--fix") == 0)
            r.fix = true;
        else if (strcmp(argv[i], "--json") == 0)
            r.json = true;
        else if (strcmp(argv[i], "--period") == 0 && i + 1 < argc)
            period = argv[++i];
        else if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc)
            r.tenant = argv[++i];
        else
            return rc_usage(stderr);
    }
    if (rc_month(&r, period) != 0)
        return rc_fail("--period must be YYYY-MM", period);
    const char *uri = lw_config_str(cfg, "db.uri");
    if (uri == NULL)
        return rc_fail("`db.uri` is not set", "flag --db.uri, variable LWSTACK_DB_URI");
    r.pg = PQconnectdb(uri);
    if (PQstatus(r.pg) != CONNECTION_OK) {
        int rc = rc_fail("cannot connect to the database", PQerrorMessage(r.pg));
        PQfinish(r.pg);
        return rc;
    }
    uv_loop_init(&r.loop);
    r.b.loop = &r.loop;
    r.b.cfg.backend = lw_config_str(cfg, "tbs.backend");
    r.b.cfg.stripe_api_key = lw_config_str(cfg, "tbs.stripe.api-key");
    r.b.cfg.api_base = lw_config_str(cfg, "tbs.stripe.api-base");
    r.b.cfg.reporting_mode = lw_config_str(cfg, "tbs.reporting.mode");
    r.b.backend = billing_backend_find(r.b.cfg.backend);
    r.usage_records =
        r.b.cfg.reporting_mode == NULL || strcmp(r.b.cfg.reporting_mode, "usage-records") == 0;
    rc_registry(&r, cfg);
    r.diffs = json_array();
    int rc = RC_EXIT_CLEAN;
    lw_err_t err;
    lw_err_clear(&err);
    if (r.b.backend == NULL) {
        rc = rc_fail("tbs.backend is unknown", r.b.cfg.backend);
    } else if (r.b.backend->start(&r.b, &err) != 0) {
        rc = rc_fail("cannot set up the backend", err.message);
    } else if (r.b.backend == &billing_backend_stripe && r.b.stripe == NULL) {
        rc = rc_fail("Stripe is not configured", "tbs.stripe.api-key is not set");
    } else {
        r.has_stripe = r.b.stripe != NULL;
        if (rc_check_unreported(&r) != 0 || rc_check_usage(&r) != 0 ||
            (r.has_stripe && rc_check_states(&r) != 0))
            rc = RC_EXIT_ERROR;
    }
    if (rc == RC_EXIT_CLEAN) {
        rc_print(&r);
        rc = r.remaining > 0 ? RC_EXIT_DIFF : RC_EXIT_CLEAN;
    }
    if (r.b.backend != NULL) {
        r.b.backend->stop(&r.b, rc_backend_stopped, NULL);
        uv_run(&r.loop, UV_RUN_DEFAULT);
        r.b.backend->free(&r.b);
    }
    uv_run(&r.loop, UV_RUN_DEFAULT);
    uv_loop_close(&r.loop);
    json_decref(r.diffs);
    PQfinish(r.pg);
    return rc;
}
