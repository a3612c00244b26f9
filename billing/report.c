/* Reporting closed usage periods to the payment backend (issue 11 item 5).
 *
 * A pass, at start, every tbs.reporting.interval and on demand (POST /api/v3/tbs/report with
 * TenantAdminKey):
 *  1. makes the missing usage_reports rows: for every closed period (usage_periods.closed_at
 *     set) and every active metered item of the tenant (billing_subscription_items with a
 *     meter) whose life overlaps the period, the ledger's value for the item's meter
 *     (0 without a ledger row), the item's action, and the idempotency key of
 *     billing_usage_key; state pending;
 *  2. sends the pending rows that are due (next_attempt_at passed), oldest period first, a
 *     few at a time, each through the backend once: sent → state sent with Stripe's id; a
 *     retryable failure (Stripe unreachable, 429, 5xx after the client's own attempts) → the
 *     row stays pending with next_attempt_at pushed back (billing_report_retry_ms), and the
 *     pass sends nothing more (Stripe is struggling; the rest wait for the next pass); a
 *     refusal → failed with the error, left to `lwstack billing reconcile`.
 * The key is the same on every attempt, so a row sent twice (an answer lost on the way) is
 * one usage record at Stripe. One pass runs at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "billing/backend.h"
#include "billing/stripe_req_private.h"
#include "cluster/api.h"
#include "cluster/log.h"
#include "cluster/mem.h"

/* Rows per statement, and reports in flight at once. */
#define REPORT_BATCH       500
#define REPORT_CONCURRENCY 4
/* Stripe forgets idempotency keys after 24 h: a row pending longer than this since its first
 * attempt is failed (reconcile reads Stripe's state) rather than resent under a forgotten
 * key. */
#define REPORT_KEY_WINDOW "23 hours"

typedef struct report_row {
    char tenant_id[64];
    char item_id[128];
    char meter[48];
    char action[16];
    char key[BILLING_STRIPE_KEY_MAX + 1];
    char customer_id[128];
    char meter_event_name[128];
    bool has_customer, has_event_name, expired;
    long long quantity;
    long long period_start_s, period_end_s;
    int attempts;
} report_row_t;

typedef struct report_waiter {
    lw_api_op_t api;
    struct report_waiter *next;
} report_waiter_t;

typedef struct report_send {
    struct billing_report *r;
    report_row_t *row;
} report_send_t;

struct billing_report {
    billing_t *b;
    uv_timer_t timer;
    bool running;
    bool again;
    report_waiter_t *waiters;      /* answered when the running pass ends */
    report_waiter_t *next_waiters; /* answered when the next pass ends */
    int pending_ops;               /* statements and backend reports outstanding */
    bool stopping;
    bool backend_stopped;
    void (*stop_done)(void *arg);
    void *stop_arg;
    uint64_t rng;
    /* The running pass. */
    report_row_t *rows;
    size_t nrows, next;
    int sending;
    bool halt;
    bool failed; /* a statement failed: the pass ends, its waiters get 503 */
    lw_err_t err;
    long long created, sent, retried, refused;
    lw_metric_series_t *m_sent, *m_retry, *m_failed;
};

static void report_pass(struct billing_report *r);
static void report_send_more(struct billing_report *r);

/* ---- stopping ------------------------------------------------------------------------- */

static void report_maybe_stopped(struct billing_report *r)
{
    if (!r->stopping || r->pending_ops > 0 || !r->backend_stopped || r->running ||
        r->stop_done == NULL)
        return;
    void (*done)(void *) = r->stop_done;
    r->stop_done = NULL;
    done(r->stop_arg);
}

static void report_backend_stopped(void *arg)
{
    struct billing_report *r = arg;
    r->backend_stopped = true;
    report_maybe_stopped(r);
}

/* ---- the pass's end: answers ---------------------------------------------------------- */

static json_t *report_summary(const struct billing_report *r)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I}", "created", (json_int_t)r->created, "sent",
                     (json_int_t)r->sent, "retried", (json_int_t)r->retried, "failed",
                     (json_int_t)r->refused, "pending_left",
                     (json_int_t)(r->retried + (long long)(r->nrows - r->next)));
}

static void report_answer(report_waiter_t *w, struct billing_report *r, const lw_err_t *err)
{
    while (w != NULL) {
        report_waiter_t *next = w->next;
        if (err != NULL)
            lw_api_fail(&w->api, err);
        else
            lw_api_reply(&w->api, 200, report_summary(r));
        w = next;
    }
}

static void report_pass_end(struct billing_report *r)
{
    if (r->created + r->sent + r->retried + r->refused > 0 || r->failed)
        lw_log_kv(r->failed ? LW_LOG_WARN : LW_LOG_INFO, "tbs", "usage reporting pass",
                  LW_LOG_INT("created", r->created), LW_LOG_INT("sent", r->sent),
                  LW_LOG_INT("retried", r->retried), LW_LOG_INT("failed", r->refused),
                  LW_LOG_STR("error", r->failed ? r->err.message : NULL));
    report_waiter_t *w = r->waiters;
    r->waiters = NULL;
    lw_err_t unavailable;
    lw_err_clear(&unavailable);
    const lw_err_t *err = NULL;
    if (r->failed) {
        err = &r->err;
    } else if (r->stopping) {
        lw_err_set(&unavailable, &lw_err_unavailable, "the billing server is stopping");
        err = &unavailable;
    }
    report_answer(w, r, err);
    free(r->rows);
    r->rows = NULL;
    r->nrows = r->next = 0;
    r->running = false;
    if (r->stopping) {
        report_answer(r->next_waiters, r, &unavailable);
        r->next_waiters = NULL;
        report_maybe_stopped(r);
        return;
    }
    if (r->again) {
        r->again = false;
        r->waiters = r->next_waiters;
        r->next_waiters = NULL;
        report_pass(r);
    }
}

/* ---- statements ----------------------------------------------------------------------- */

typedef void (*report_step_fn)(struct billing_report *r, const PGresult *res);

typedef struct report_q {
    struct billing_report *r;
    report_step_fn next;
} report_q_t;

static void report_q_done(void *arg, const PGresult *res, const lw_err_t *err)
{
    report_q_t *q = arg;
    struct billing_report *r = q->r;
    report_step_fn next = q->next;
    free(q);
    r->pending_ops--;
    if (err != NULL && !r->failed) {
        r->failed = true;
        r->err = *err;
    }
    next(r, err != NULL ? NULL : res);
}

/* Runs sql; next(r, res) later, res NULL when it failed (r->failed then set). */
static void report_query(struct billing_report *r, const char *sql, int n,
                         const char *const *params, report_step_fn next)
{
    report_q_t *q = lw_malloc(sizeof *q);
    q->r = r;
    q->next = next;
    r->pending_ops++;
    if (lw_db_query(r->b->db, sql, n, params, report_q_done, q) != 0) {
        free(q);
        r->pending_ops--;
        if (!r->failed) {
            r->failed = true;
            lw_err_set(&r->err, &lw_err_db_unavailable, "the database is unavailable");
        }
        next(r, NULL);
    }
}

/* Step 1: the missing rows. Candidates first, their keys made here (billing_usage_key),
 * then one INSERT of them all (ON CONFLICT: another process made them meanwhile). */
static const char report_candidates_sql[] =
    "SELECT p.tenant_id, floor(extract(epoch FROM p.period_start))::bigint, i.item_id, i.meter, "
    "       COALESCE(l.value, 0), i.action "
    "  FROM lw_control.usage_periods p "
    "  JOIN lw_control.billing_subscription_items i "
    "    ON i.tenant_id = p.tenant_id AND i.active AND i.meter IS NOT NULL "
    "   AND i.action IS NOT NULL AND p.period_end > i.created_at "
    "  LEFT JOIN lw_control.usage_ledger l "
    "    ON l.tenant_id = p.tenant_id AND l.period_start = p.period_start AND l.meter = i.meter "
    " WHERE p.closed_at IS NOT NULL AND p.period_end <= now() "
    "   AND NOT EXISTS (SELECT 1 FROM lw_control.usage_reports r WHERE r.tenant_id = p.tenant_id "
    "                      AND r.period_start = p.period_start AND r.item_id = i.item_id) "
    " ORDER BY p.period_start, p.tenant_id, i.item_id LIMIT 500";

static const char report_insert_sql[] =
    "INSERT INTO lw_control.usage_reports (tenant_id, period_start, item_id, meter, quantity, "
    "       action, idempotency_key, state, next_attempt_at) "
    "SELECT t, to_timestamp(ps), it, m, q, a, k, 'pending', now() "
    "  FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::text[], "
    "              $7::text[]) AS u(t, ps, it, m, q, a, k) "
    "ON CONFLICT DO NOTHING";

/* Step 2: the rows due. */
static const char report_due_sql[] =
    "SELECT r.tenant_id, floor(extract(epoch FROM r.period_start))::bigint, r.item_id, r.meter, "
    "       r.quantity, r.action, r.idempotency_key, r.attempts, "
    "       floor(extract(epoch FROM p.period_end))::bigint, a.customer_id, i.meter_event_name, "
    "       COALESCE(r.first_attempt_at < now() - interval '" REPORT_KEY_WINDOW "', false) "
    "  FROM lw_control.usage_reports r "
    "  JOIN lw_control.usage_periods p ON p.tenant_id = r.tenant_id "
    "   AND p.period_start = r.period_start "
    "  LEFT JOIN lw_control.billing_accounts a ON a.tenant_id = r.tenant_id "
    "  LEFT JOIN lw_control.billing_subscription_items i ON i.item_id = r.item_id "
    " WHERE r.state = 'pending' AND (r.next_attempt_at IS NULL OR r.next_attempt_at <= now()) "
    " ORDER BY r.period_start, r.tenant_id, r.item_id LIMIT 500";

static const char report_sent_sql[] =
    "UPDATE lw_control.usage_reports SET state = 'sent', attempts = attempts + $2::int, "
    "       stripe_id = $3, sent_at = now(), last_error = NULL, next_attempt_at = NULL, "
    "       first_attempt_at = COALESCE(first_attempt_at, now()) "
    " WHERE idempotency_key = $1 AND state = 'pending'";

static const char report_retry_sql[] =
    "UPDATE lw_control.usage_reports SET attempts = attempts + $2::int, last_error = $3, "
    "       next_attempt_at = now() + $4::bigint * interval '1 millisecond', "
    "       first_attempt_at = COALESCE(first_attempt_at, now()) "
    " WHERE idempotency_key = $1 AND state = 'pending'";

static const char report_failed_sql[] =
    "UPDATE lw_control.usage_reports SET state = 'failed', attempts = attempts + $2::int, "
    "       last_error = $3, next_attempt_at = NULL, "
    "       first_attempt_at = COALESCE(first_attempt_at, now()) "
    " WHERE idempotency_key = $1 AND state = 'pending'";

/* Appends s to a PostgreSQL array literal being built in buf (elements checked to be of
 * [A-Za-z0-9_-], so they need no quoting). Returns -1 when it does not fit or is unsafe. */
static int report_array_add(char *buf, size_t cap, size_t *len, const char *s)
{
    for (const char *p = s; *p != '\0'; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return -1;
    }
    int n = snprintf(buf + *len, cap - *len, "%s%s", *len > 1 ? "," : "", s);
    if (n < 0 || (size_t)n >= cap - *len)
        return -1;
    *len += (size_t)n;
    return 0;
}

static void report_due(struct billing_report *r);

static void report_inserted(struct billing_report *r, const PGresult *res)
{
    if (res != NULL)
        r->created += atoll(PQcmdTuples((PGresult *)res));
    if (r->failed || r->stopping) {
        report_pass_end(r);
        return;
    }
    report_due(r);
}

static void report_candidates(struct billing_report *r, const PGresult *res)
{
    if (res == NULL || r->stopping) {
        report_pass_end(r);
        return;
    }
    int n = PQntuples(res);
    if (n == 0) {
        report_due(r);
        return;
    }
    /* Seven array literals; ids are short, so 200 bytes a row is ample. */
    size_t cap = (size_t)n * 300 + 16;
    char *arr[7];
    size_t len[7];
    for (int k = 0; k < 7; k++) {
        arr[k] = lw_malloc(cap);
        arr[k][0] = '{';
        len[k] = 1;
    }
    int skipped = 0;
    for (int i = 0; i < n; i++) {
        const char *tenant = PQgetvalue(res, i, 0), *ps = PQgetvalue(res, i, 1);
        const char *item = PQgetvalue(res, i, 2), *meter = PQgetvalue(res, i, 3);
        const char *qty = PQgetvalue(res, i, 4), *action = PQgetvalue(res, i, 5);
        char key[BILLING_STRIPE_KEY_MAX + 1];
        size_t saved[7];
        memcpy(saved, len, sizeof saved);
        if (billing_usage_key(key, sizeof key, tenant, item, meter, atoll(ps)) < 0 ||
            report_array_add(arr[0], cap, &len[0], tenant) != 0 ||
            report_array_add(arr[1], cap, &len[1], ps) != 0 ||
            report_array_add(arr[2], cap, &len[2], item) != 0 ||
            report_array_add(arr[3], cap, &len[3], meter) != 0 ||
            report_array_add(arr[4], cap, &len[4], qty) != 0 ||
            report_array_add(arr[5], cap, &len[5], action) != 0 ||
            report_array_add(arr[6], cap, &len[6], key) != 0) {
            /* An id with characters Stripe's ids never have: skipped, said once per pass. */
            for (int k = 0; k < 7; k++) {
                len[k] = saved[k];
                arr[k][len[k]] = '\0';
            }
            if (skipped++ == 0)
                lw_log_kv(LW_LOG_WARN, "tbs", "usage report skipped: unusable id",
                          LW_LOG_STR("tenant_id", tenant), LW_LOG_STR("item_id", item),
                          LW_LOG_STR("meter", meter));
        }
    }
    for (int k = 0; k < 7; k++) {
        arr[k][len[k]++] = '}';
        arr[k][len[k]] = '\0';
    }
    const char *params[7] = {arr[0], arr[1], arr[2], arr[3], arr[4], arr[5], arr[6]};
    report_query(r, report_insert_sql, 7, params, report_inserted);
    for (int k = 0; k < 7; k++)
        free(arr[k]);
}

static void report_got_due(struct billing_report *r, const PGresult *res)
{
    if (res == NULL || r->stopping) {
        report_pass_end(r);
        return;
    }
    int n = PQntuples(res);
    free(r->rows);
    r->rows = n > 0 ? lw_calloc((size_t)n, sizeof *r->rows) : NULL;
    r->nrows = (size_t)n;
    r->next = 0;
    for (int i = 0; i < n; i++) {
        report_row_t *w = &r->rows[i];
        snprintf(w->tenant_id, sizeof w->tenant_id, "%s", PQgetvalue(res, i, 0));
        w->period_start_s = atoll(PQgetvalue(res, i, 1));
        snprintf(w->item_id, sizeof w->item_id, "%s", PQgetvalue(res, i, 2));
        snprintf(w->meter, sizeof w->meter, "%s", PQgetvalue(res, i, 3));
        w->quantity = atoll(PQgetvalue(res, i, 4));
        snprintf(w->action, sizeof w->action, "%s", PQgetvalue(res, i, 5));
        snprintf(w->key, sizeof w->key, "%s", PQgetvalue(res, i, 6));
        w->attempts = atoi(PQgetvalue(res, i, 7));
        w->period_end_s = atoll(PQgetvalue(res, i, 8));
        w->has_customer = !PQgetisnull(res, i, 9);
        snprintf(w->customer_id, sizeof w->customer_id, "%s", PQgetvalue(res, i, 9));
        w->has_event_name = !PQgetisnull(res, i, 10);
        snprintf(w->meter_event_name, sizeof w->meter_event_name, "%s", PQgetvalue(res, i, 10));
        w->expired = PQgetvalue(res, i, 11)[0] == 't';
    }
    report_send_more(r);
}

static void report_due(struct billing_report *r)
{
    report_query(r, report_due_sql, 0, NULL, report_got_due);
}

/* ---- sending --------------------------------------------------------------------------- */

static void report_updated(struct billing_report *r, const PGresult *res)
{
    (void)res;
    report_send_more(r);
}

/* Records an outcome of row w (attempts made now, error text or NULL). */
static void report_record(struct billing_report *r, const report_row_t *w, const char *sql,
                          int attempts, const char *third, long long retry_ms)
{
    char na[16], nr[24];
    snprintf(na, sizeof na, "%d", attempts);
    snprintf(nr, sizeof nr, "%lld", retry_ms);
    const char *params[4] = {w->key, na, third, nr};
    report_query(r, sql, sql == report_retry_sql ? 4 : 3, params, report_updated);
}

static void report_outcome(void *arg, const billing_report_outcome_t *out)
{
    report_send_t *s = arg;
    struct billing_report *r = s->r;
    const report_row_t *w = s->row;
    free(s);
    r->pending_ops--;
    r->sending--;
    if (r->stopping) {
        /* The row stays as it was: pending, sent again (same key) after the restart. */
        report_send_more(r);
        return;
    }
    if (out->sent) {
        r->sent++;
        lw_metric_series_add(r->m_sent, 1);
        report_record(r, w, report_sent_sql, out->attempts, out->stripe_id, 0);
        return;
    }
    const char *why = out->err != NULL ? out->err->message : "not sent";
    if (out->retryable) {
        r->retried++;
        r->halt = true;
        lw_metric_series_add(r->m_retry, 1);
        int passes = (w->attempts + out->attempts + BILLING_STRIPE_MAX_ATTEMPTS - 1) /
                     BILLING_STRIPE_MAX_ATTEMPTS;
        long long ms = billing_report_retry_ms(
            r->b->cfg.reporting_interval_ms, passes > 0 ? passes : 1, billing_jitter_rand(&r->rng));
        lw_log_kv(LW_LOG_WARN, "tbs", "usage report not sent, kept for later",
                  LW_LOG_STR("tenant_id", w->tenant_id), LW_LOG_STR("item_id", w->item_id),
                  LW_LOG_STR("meter", w->meter), LW_LOG_STR("error", lw_err_name(out->err)),
                  LW_LOG_STR("reason", why), LW_LOG_DUR_MS("retry_in", (double)ms));
        report_record(r, w, report_retry_sql, out->attempts, why, ms);
        return;
    }
    r->refused++;
    lw_metric_series_add(r->m_failed, 1);
    lw_log_kv(LW_LOG_WARN, "tbs", "usage report failed", LW_LOG_STR("tenant_id", w->tenant_id),
              LW_LOG_STR("item_id", w->item_id), LW_LOG_STR("meter", w->meter),
              LW_LOG_STR("error", lw_err_name(out->err)), LW_LOG_STR("reason", why));
    report_record(r, w, report_failed_sql, out->attempts, why, 0);
}

static void report_send_more(struct billing_report *r)
{
    while (!r->stopping && !r->halt && !r->failed && r->sending < REPORT_CONCURRENCY &&
           r->next < r->nrows) {
        report_row_t *w = &r->rows[r->next++];
        if (w->expired) {
            r->refused++;
            lw_metric_series_add(r->m_failed, 1);
            report_record(r, w, report_failed_sql, 0,
                          "pending past Stripe's 24 h idempotency window: reconcile decides", 0);
            continue;
        }
        billing_report_row_t row = {
            .tenant_id = w->tenant_id,
            .item_id = w->item_id,
            .meter = w->meter,
            .action = w->action,
            .quantity = w->quantity,
            .period_start_s = w->period_start_s,
            .period_end_s = w->period_end_s,
            .idempotency_key = w->key,
            .customer_id = w->has_customer ? w->customer_id : NULL,
            .meter_event_name = w->has_event_name ? w->meter_event_name : NULL,
        };
        report_send_t *s = lw_malloc(sizeof *s);
        s->r = r;
        s->row = w;
        lw_err_t err;
        lw_err_clear(&err);
        r->pending_ops++;
        r->sending++;
        if (r->b->backend->report(r->b, &row, report_outcome, s, &err) != 0) {
            free(s);
            r->pending_ops--;
            r->sending--;
            bool later = err.def == &lw_err_stripe_not_configured || err.def == &lw_err_unavailable;
            if (later) {
                r->retried++;
                r->halt = true;
                report_record(r, w, report_retry_sql, 0, err.message,
                              billing_report_retry_ms(r->b->cfg.reporting_interval_ms, 1,
                                                      billing_jitter_rand(&r->rng)));
            } else {
                r->refused++;
                lw_metric_series_add(r->m_failed, 1);
                lw_log_kv(LW_LOG_WARN, "tbs", "usage report failed",
                          LW_LOG_STR("tenant_id", w->tenant_id), LW_LOG_STR("item_id", w->item_id),
                          LW_LOG_STR("error", lw_err_name(&err)),
                          LW_LOG_STR("reason", err.message));
                report_record(r, w, report_failed_sql, 0, err.message, 0);
            }
        }
    }
    if (r->pending_ops > 0)
        return;
    /* Everything of this batch is recorded. A full batch: there may be more due. */
    if (!r->stopping && !r->halt && !r->failed && r->nrows == REPORT_BATCH) {
        report_due(r);
        return;
    }
    report_pass_end(r);
}

/* ---- passes ---------------------------------------------------------------------------- */

static void report_pass(struct billing_report *r)
{
    r->running = true;
    r->halt = false;
    r->failed = false;
    lw_err_clear(&r->err);
    r->created = r->sent = r->retried = r->refused = 0;
    report_query(r, report_candidates_sql, 0, NULL, report_candidates);
}

static void report_tick(uv_timer_t *t)
{
    struct billing_report *r = t->data;
    if (r->stopping)
        return;
    if (r->running) {
        r->again = true;
        return;
    }
    report_pass(r);
}

/* POST /api/v3/tbs/report (TenantAdminKey): a pass now; answers when a pass that started
 * after the request has ended, with what it did. */
static void report_api(lw_http_req_t *req, void *arg)
{
    struct billing_report *r = arg;
    const lw_api_env_t env = {.db = r->b->db, .module = "tbs"};
    report_waiter_t *w = lw_api_op_new(sizeof *w, &env, req);
    lw_err_t err;
    lw_err_clear(&err);
    if (tn_admin_auth(r->b->tn, req, &err) != 0) {
        lw_api_fail(&w->api, &err);
        return;
    }
    if (r->stopping) {
        lw_api_fail_with(&w->api, &lw_err_unavailable, "the billing server is stopping");
        return;
    }
    if (r->running) {
        w->next = r->next_waiters;
        r->next_waiters = w;
        r->again = true;
        return;
    }
    w->next = r->waiters;
    r->waiters = w;
    report_pass(r);
}

int billing_report_start(billing_t *b, lw_err_t *err)
{
    struct billing_report *r = lw_calloc(1, sizeof *r);
    r->b = b;
    r->rng = billing_jitter_seed(uv_hrtime(), (uint64_t)getpid(), (uintptr_t)r);
    b->report = r;
    if (b->metrics != NULL) {
        static const char *const labels[] = {"outcome", NULL};
        lw_metric_t *f = lw_metrics_counter(b->metrics, "lwstack_tbs_usage_reports_total",
                                            "Usage reports sent to the payment backend, by "
                                            "outcome (sent, retry: kept for later, failed)",
                                            labels);
        r->m_sent = lw_metric_series(f, (const char *const[]){"sent", NULL});
        r->m_retry = lw_metric_series(f, (const char *const[]){"retry", NULL});
        r->m_failed = lw_metric_series(f, (const char *const[]){"failed", NULL});
    }
    if (lw_http_route(b->http, "POST", "/api/v3/tbs/report", report_api, r) != 0)
        return lw_err_set(err, &lw_err_internal, "cannot register POST /api/v3/tbs/report");
    uv_timer_init(b->loop, &r->timer);
    r->timer.data = r;
    uint64_t every = (uint64_t)b->cfg.reporting_interval_ms;
    uv_timer_start(&r->timer, report_tick, 0, every > 0 ? every : 600000);
    return 0;
}

static void report_timer_closed(uv_handle_t *h)
{
    (void)h;
}

void billing_report_stop(billing_t *b, void (*done)(void *arg), void *arg)
{
    struct billing_report *r = b->report;
    if (r == NULL) {
        done(arg);
        return;
    }
    r->stopping = true;
    r->stop_done = done;
    r->stop_arg = arg;
    uv_timer_stop(&r->timer);
    if (!uv_is_closing((uv_handle_t *)&r->timer))
        uv_close((uv_handle_t *)&r->timer, report_timer_closed);
    if (!r->running) {
        lw_err_t e;
        lw_err_clear(&e);
        lw_err_set(&e, &lw_err_unavailable, "the billing server is stopping");
        report_answer(r->next_waiters, r, &e);
        r->next_waiters = NULL;
    }
    /* The backend ends its calls; their outcomes leave the rows pending. */
    b->backend->stop(b, report_backend_stopped, r);
}

void billing_report_free(billing_t *b)
{
    struct billing_report *r = b->report;
    if (r == NULL)
        return;
    free(r->rows);
    free(r);
    b->report = NULL;
}
