/* POST /api/v3/tbs/stripe: Stripe's webhooks drive tenants (tts-features.md §17.3; issue 11
 * item 2). Each request:
 *   1. Stripe-Signature verified over the raw body (stripe_sig.c): bad, stale or missing →
 *      400 with the error's name, nothing changed, a log line naming the reason;
 *   2. the event decoded (event.c); an event ID already handled (billing_events, outcome
 *      other than `failed`) → 200, nothing changed;
 *   3. customer.subscription.*: the first item of a managed plan (billing_plans), the tenant
 *      from metadata tenant-id, the decision (billing_decide) against the tenant registry
 *      and billing_accounts; the tenant created or updated through the tenant API
 *      (registry.c); then billing_accounts, billing_subscription_items and billing_events in
 *      one transaction (an event created before the last one applied to the tenant is
 *      stale: ignored). invoice.paid / invoice.payment_failed: billing_invoices, and a
 *      failed payment flags the tenant (a paid one lifts billing's own flag while the
 *      subscription is active). Other types are recorded as ignored.
 * Ignored events (unmanaged plan, customer mismatch, ...) answer 200 with the reason logged
 * and recorded; a registry that cannot be reached answers 503 (Stripe retries; nothing is
 * recorded); a registry refusal (4xx) is recorded as `failed` and answered 200, and the
 * event is handled again if Stripe sends it again. The events of one customer are handled one
 * at a time, in the order they arrived. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "billing/billing_private.h"
#include "cluster/api.h"
#include "cluster/clock.h"
#include "cluster/json.h"
#include "cluster/log.h"
#include "cluster/mem.h"

/* Events of one customer are handled one at a time, in arrival order (Stripe sends
 * customer.subscription.created, invoice.paid, ... at once): `locks` lists the ops holding or
 * waiting for their customer. */
struct billing_webhook {
    struct wh_op *locks;
    lw_metric_t *m_refused, *m_handled;
    lw_metric_series_t *s_refused[4];
    lw_metric_series_t *s_applied, *s_ignored, *s_replayed, *s_failed;
};

typedef struct wh_op {
    lw_api_op_t api;
    billing_t *b;
    struct wh_op *next_lock;
    bool holding, waiting;
    billing_event_t ev;
    /* subscription events */
    const billing_item_t *item; /* the managed item */
    char plan_id[BILLING_STRIPE_ID_MAX + 1];
    json_t *managed; /* item_id → {"price_id","kind","meter","action","meter_event_name"} */
    char tenant_id[TN_ID_MAX + 1];
    int64_t limits[TN_LIMIT_COUNT];
    billing_decision_t d;
    tn_tenant_t t;
    bool tenant_exists;
    /* invoice events: the account found by customer */
    bool account_exists;
    char account_state[32];
    char account_status[32];
    bool flag, approve; /* invoice: the state change to make */
    const char *outcome;
    char reason[512];
} wh_op_t;

static void wh_start(wh_op_t *op);

/* True when op may go on now; else it waits for the op of its customer before it. */
static bool wh_lock(wh_op_t *op)
{
    billing_webhook_t *w = op->b->webhook;
    if (op->ev.customer == NULL)
        return true;
    bool busy = false;
    wh_op_t **tail = &w->locks;
    for (wh_op_t *o = w->locks; o != NULL; o = o->next_lock) {
        busy = busy || (o->holding && strcmp(o->ev.customer, op->ev.customer) == 0);
        tail = &o->next_lock;
    }
    *tail = op;
    op->holding = !busy;
    op->waiting = busy;
    return !busy;
}

static void wh_unlock(wh_op_t *op)
{
    billing_webhook_t *w = op->b->webhook;
    if (!op->holding && !op->waiting)
        return;
    for (wh_op_t **pp = &w->locks; *pp != NULL; pp = &(*pp)->next_lock)
        if (*pp == op) {
            *pp = op->next_lock;
            break;
        }
    if (!op->holding)
        return;
    op->holding = false;
    for (wh_op_t *o = w->locks; o != NULL; o = o->next_lock)
        if (o->waiting && strcmp(o->ev.customer, op->ev.customer) == 0) {
            o->waiting = false;
            o->holding = true;
            wh_start(o);
            return;
        }
}

static void wh_destroy(lw_api_op_t *a)
{
    wh_op_t *op = (wh_op_t *)a;
    wh_unlock(op);
    billing_event_destroy(&op->ev);
    json_decref(op->managed);
}

static const char *wh_text(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* ---- recording -------------------------------------------------------------------------- */

static void wh_recorded(lw_api_op_t *a, const PGresult *res)
{
    (void)res;
    wh_op_t *op = (wh_op_t *)a;
    billing_webhook_t *w = op->b->webhook;
    lw_metric_series_add(strcmp(op->outcome, "applied") == 0   ? w->s_applied
                         : strcmp(op->outcome, "ignored") == 0 ? w->s_ignored
                                                               : w->s_failed,
                         1);
    lw_log_kv(strcmp(op->outcome, "applied") == 0 ? LW_LOG_INFO : LW_LOG_WARN, "tbs",
              strcmp(op->outcome, "applied") == 0   ? "stripe event applied"
              : strcmp(op->outcome, "ignored") == 0 ? "stripe event ignored"
                                                    : "stripe event failed",
              LW_LOG_STR("event", op->ev.id), LW_LOG_STR("type", op->ev.type),
              LW_LOG_STR("tenant", op->tenant_id[0] != '\0' ? op->tenant_id : NULL),
              LW_LOG_STR("subscription", op->ev.sub_id), LW_LOG_STR("customer", op->ev.customer),
              LW_LOG_STR("reason", op->reason[0] != '\0' ? op->reason : NULL));
    lw_api_reply(a, 200, json_pack("{s:s,s:s}", "event_id", op->ev.id, "outcome", op->outcome));
}

/* Writes the billing_events row (in the open transaction, if any) and answers 200. */
static void wh_record(wh_op_t *op, const char *outcome, const char *reason)
{
    op->outcome = outcome;
    if (reason != NULL && op->reason[0] == '\0')
        snprintf(op->reason, sizeof op->reason, "%s", reason);
    char created[24];
    snprintf(created, sizeof created, "%lld", (long long)op->ev.created);
    const char *params[] = {op->ev.id,
                            op->ev.type,
                            op->ev.created >= 0 ? created : NULL,
                            op->tenant_id[0] != '\0' ? op->tenant_id : NULL,
                            outcome,
                            op->reason[0] != '\0' ? op->reason : NULL};
    lw_api_query(&op->api,
                 "INSERT INTO lw_control.billing_events (event_id, type, created, tenant_id, "
                 "outcome, reason) VALUES ($1, $2, to_timestamp($3::bigint), $4, $5, $6) "
                 "ON CONFLICT (event_id) DO UPDATE SET outcome = excluded.outcome, reason = "
                 "excluded.reason, tenant_id = excluded.tenant_id, received_at = now()",
                 6, params, wh_recorded);
}

static void wh_ignore(wh_op_t *op, const char *reason)
{
    wh_record(op, "ignored", reason);
}

/* ---- subscription events: the transaction after the registry changed ------------------- */

static void wh_items_done(lw_api_op_t *a, const PGresult *res)
{
    (void)res;
    wh_op_t *op = (wh_op_t *)a;
    wh_record(op, "applied", op->d.reason);
}

static void wh_items_upserted(lw_api_op_t *a, const PGresult *res)
{
    (void)res;
    wh_op_t *op = (wh_op_t *)a;
    char *items = lw_json_dumps(op->managed, JSON_COMPACT);
    const char *params[] = {op->tenant_id, items};
    /* Items of the tenant no longer on its subscription stop being reported. */
    lw_api_query(
        a,
        "UPDATE lw_control.billing_subscription_items SET active = false WHERE "
        "tenant_id = $1 AND active AND item_id NOT IN (SELECT jsonb_object_keys($2::jsonb))",
        2, params, wh_items_done);
    free(items);
}

static void wh_account_upserted(lw_api_op_t *a, const PGresult *res)
{
    (void)res;
    wh_op_t *op = (wh_op_t *)a;
    bool ended =
        op->ev.status != NULL && (strcmp(op->ev.status, "canceled") == 0 ||
                                  strcmp(op->ev.type, "customer.subscription.deleted") == 0);
    char *items = lw_json_dumps(op->managed, JSON_COMPACT);
    const char *params[] = {op->tenant_id, op->ev.sub_id, items, ended ? "false" : "true"};
    lw_api_query(a,
                 "INSERT INTO lw_control.billing_subscription_items (item_id, tenant_id, "
                 "subscription_id, price_id, meter, action, meter_event_name, active) "
                 "SELECT x.key, $1, $2, x.value->>'price_id', x.value->>'meter', "
                 "x.value->>'action', x.value->>'meter_event_name', $4::boolean "
                 "FROM jsonb_each($3::jsonb) x "
                 "ON CONFLICT (item_id) DO UPDATE SET tenant_id = excluded.tenant_id, "
                 "subscription_id = excluded.subscription_id, price_id = excluded.price_id, "
                 "meter = excluded.meter, action = excluded.action, "
                 "meter_event_name = excluded.meter_event_name, active = excluded.active",
                 4, params, wh_items_upserted);
    free(items);
}

static void wh_sub_begun(lw_api_op_t *a, const PGresult *res)
{
    (void)res;
    wh_op_t *op = (wh_op_t *)a;
    /* keep_state: the state stays the operator's, and so does billing's record of its own. */
    const char *state = op->d.keep_state ? NULL : tn_state_name(op->d.state);
    const char *params[] = {op->tenant_id, op->ev.customer, op->ev.sub_id,
                            op->ev.status, op->plan_id,     state};
    lw_api_query(a,
                 "INSERT INTO lw_control.billing_accounts (tenant_id, backend, customer_id, "
                 "subscription_id, subscription_status, plan_id, billing_state, flagged_at) "
                 "VALUES ($1, 'stripe', $2, $3, $4, $5, $6, "
                 "CASE WHEN $6 = 'STATE_FLAGGED' THEN now() END) "
                 "ON CONFLICT (tenant_id) DO UPDATE SET backend = 'stripe', "
                 "customer_id = excluded.customer_id, subscription_id = excluded.subscription_id, "
                 "subscription_status = excluded.subscription_status, plan_id = excluded.plan_id, "
                 "billing_state = COALESCE($6, billing_accounts.billing_state), "
                 "flagged_at = CASE WHEN $6 IS NULL THEN billing_accounts.flagged_at "
                 "WHEN $6 = 'STATE_FLAGGED' THEN COALESCE(billing_accounts.flagged_at, now()) END, "
                 "updated_at = now()",
                 6, params, wh_account_upserted);
}

/* The registry's answer to op's change: true when it succeeded or refused for good (a 4xx:
 * op->reason says why); false when op was answered 503 (unreachable, 5xx, 429, or a create
 * that found the tenant created meanwhile), so that Stripe sends the event again. */
static bool wh_registry_outcome(wh_op_t *op, int status, json_t *body, const lw_err_t *err,
                                bool *refused)
{
    lw_err_t e;
    *refused = false;
    if (err == NULL && status < 300)
        return true;
    if (err != NULL)
        e = *err;
    else
        billing_registry_error(status, body, &e);
    if (err != NULL || status >= 500 || status == 429 ||
        (status == 409 && op->d.action == BILLING_ACT_CREATE)) {
        lw_metric_series_add(op->b->webhook->s_failed, 1);
        lw_api_fail(&op->api, &e);
        return false;
    }
    snprintf(op->reason, sizeof op->reason, "%s", e.message);
    *refused = true;
    return true;
}

static void wh_registry_done(void *arg, int status, json_t *body, const lw_err_t *err)
{
    wh_op_t *op = arg;
    bool refused;
    if (!wh_registry_outcome(op, status, body, err, &refused))
        return;
    if (refused)
        wh_record(op, "failed", NULL);
    else
        lw_api_begin(&op->api, wh_sub_begun);
}

/* A password for the initial user when the subscription gives none (The Things Stack
 * generates one too): 24 random characters with an upper-case letter and a digit. */
static void wh_password(char out[32])
{
    static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    uint8_t r[24];
    if (RAND_bytes(r, sizeof r) != 1)
        abort();
    for (size_t i = 0; i < sizeof r; i++)
        out[i] = alphabet[r[i] % (sizeof alphabet - 1)];
    out[24] = 'A';
    out[25] = '7';
    out[26] = '\0';
    OPENSSL_cleanse(r, sizeof r);
}

static json_t *wh_initial_user(wh_op_t *op)
{
    const char *user = billing_event_meta(&op->ev, "admin-user");
    const char *email = billing_event_meta(&op->ev, "admin-email");
    const char *full = billing_event_meta(&op->ev, "admin-full-name");
    const char *pw = billing_event_meta(&op->ev, "admin-password");
    char gen[32];
    if (pw == NULL) {
        wh_password(gen);
        pw = gen;
    }
    if (email == NULL)
        email = op->ev.customer_email;
    json_t *u = json_pack("{s:{s:s},s:s,s:b}", "ids", "user_id",
                          user != NULL ? user : op->tenant_id, "password", pw, "admin", 1);
    if (email != NULL)
        json_object_set_new(u, "primary_email_address", json_string(email));
    if (full != NULL)
        json_object_set_new(u, "name", json_string(full));
    OPENSSL_cleanse(gen, sizeof gen);
    return u;
}

static bool wh_limits_equal(const int64_t *a, const int64_t *b)
{
    for (int k = 0; k < TN_LIMIT_COUNT; k++)
        if (a[k] != b[k])
            return false;
    return true;
}

static void wh_account(lw_api_op_t *a, const PGresult *res)
{
    wh_op_t *op = (wh_op_t *)a;
    billing_t *b = op->b;
    billing_decide_in_t in = {
        .status = op->ev.status,
        .deleted = strcmp(op->ev.type, "customer.subscription.deleted") == 0,
        .customer = op->ev.customer,
        .subscription = op->ev.sub_id,
        .tenant_exists = op->tenant_exists,
        .tenant_state = op->t.state,
        .account_exists = PQntuples(res) > 0,
    };
    if (in.account_exists) {
        const char *backend = wh_text(res, 0, 0);
        in.account_customer = wh_text(res, 0, 1);
        in.account_subscription = wh_text(res, 0, 2);
        const char *bs = wh_text(res, 0, 3);
        in.billing_state_known = bs != NULL && tn_state_parse(bs, &in.billing_state) == 0;
        if (backend == NULL || strcmp(backend, "stripe") != 0)
            in.account_customer = NULL; /* billed by hand: not Stripe's to change */
    }
    op->d = billing_decide(&in);
    /* Stripe does not keep events in order: one older than the last subscription event
     * applied to the tenant is stale (the newer one already said what holds now). */
    const char *last = PQntuples(res) > 0 ? wh_text(res, 0, 4) : NULL;
    if (op->d.action != BILLING_ACT_IGNORE && op->ev.created >= 0 && last != NULL &&
        op->ev.created < atoll(last)) {
        snprintf(op->reason, sizeof op->reason,
                 "out of order: created %lld, before the last applied subscription event (%s)",
                 (long long)op->ev.created, last);
        wh_ignore(op, NULL);
        return;
    }
    lw_err_t e;
    lw_err_clear(&e);
    int rc = 0;
    switch (op->d.action) {
    case BILLING_ACT_IGNORE:
    case BILLING_ACT_NONE:
        wh_ignore(op, op->d.reason);
        return;
    case BILLING_ACT_CREATE: {
        const char *name = billing_event_meta(&op->ev, "tenant-name");
        if (name == NULL)
            name = billing_event_meta(&op->ev, "name");
        if (name == NULL)
            name = billing_event_meta(&op->ev, "company");
        if (name == NULL)
            name = op->ev.customer_name;
        json_t *u = wh_initial_user(op);
        rc = billing_registry_create(b, op->tenant_id, name,
                                     billing_event_meta(&op->ev, "tenant-description"), op->limits,
                                     u, wh_registry_done, op, &e);
        json_decref(u);
        break;
    }
    case BILLING_ACT_UPDATE: {
        bool state = !op->d.keep_state && op->t.state != op->d.state;
        bool limits = !wh_limits_equal(op->t.limits, op->limits);
        if (!state && !limits) {
            lw_api_begin(a, wh_sub_begun); /* the registry is as it should be */
            return;
        }
        char desc[128];
        snprintf(desc, sizeof desc, "billing: subscription %s", op->ev.status);
        rc = billing_registry_update(b, op->tenant_id, state ? &op->d.state : NULL, desc,
                                     limits ? op->limits : NULL, wh_registry_done, op, &e);
        break;
    }
    }
    if (rc != 0)
        lw_api_fail(a, &e);
}

/* meter / action / event name of a metered item (billing_private.h, "Plans"). */
static void wh_item_meter(const billing_item_t *it, const PGresult *res, int row, json_t *o)
{
    const char *meter = json_string_value(json_object_get(it->price_metadata, "lw-meter"));
    if (meter == NULL)
        meter = json_string_value(json_object_get(it->plan_metadata, "lw-meter"));
    if (meter == NULL)
        meter = wh_text(res, row, 2);
    if (meter == NULL)
        meter = "end_devices";
    const char *action = wh_text(res, row, 3);
    if (action == NULL)
        action = billing_meter_default_action(meter);
    const char *ev = json_string_value(json_object_get(it->price_metadata, "lw-meter-event-name"));
    if (ev == NULL)
        ev = wh_text(res, row, 4);
    char evbuf[64];
    if (ev == NULL) {
        snprintf(evbuf, sizeof evbuf, "lw_%s", meter);
        ev = evbuf;
    }
    json_object_set_new(o, "meter", json_string(meter));
    json_object_set_new(o, "action", json_string(action));
    json_object_set_new(o, "meter_event_name", json_string(ev));
}

static int wh_plan_row(const PGresult *res, const char *id)
{
    if (id == NULL)
        return -1;
    for (int r = 0; r < PQntuples(res); r++)
        if (strcmp(PQgetvalue(res, r, 0), id) == 0)
            return r;
    return -1;
}

static void wh_plans(lw_api_op_t *a, const PGresult *res)
{
    wh_op_t *op = (wh_op_t *)a;
    op->managed = json_object();
    json_t *overrides = NULL;
    for (size_t i = 0; i < op->ev.nitems; i++) {
        const billing_item_t *it = &op->ev.items[i];
        const char *id = it->price_id;
        int row = wh_plan_row(res, id);
        if (row < 0) {
            id = it->plan_id;
            row = wh_plan_row(res, id);
        }
        if (row < 0)
            continue;
        json_t *o = json_pack("{s:s,s:s}", "price_id", id, "kind", PQgetvalue(res, row, 1));
        if (strcmp(PQgetvalue(res, row, 1), "metered") == 0)
            wh_item_meter(it, res, row, o);
        json_object_set_new(op->managed, it->item_id, o);
        if (op->item == NULL) {
            op->item = it;
            snprintf(op->plan_id, sizeof op->plan_id, "%s", id);
            json_error_t je;
            overrides = json_loads(PQgetvalue(res, row, 5), 0, &je);
        }
    }
    if (op->item == NULL) {
        json_decref(overrides);
        snprintf(op->reason, sizeof op->reason,
                 "no_managed_plan: subscription `%s` has no item of "
                 "a managed plan",
                 op->ev.sub_id);
        wh_ignore(op, NULL);
        return;
    }
    lw_err_t e;
    int rc = billing_item_limits(op->item, overrides, op->limits, &e);
    json_decref(overrides);
    if (rc != 0) {
        snprintf(op->reason, sizeof op->reason, "%s: %s", lw_err_name(&e), e.message);
        wh_ignore(op, NULL);
        return;
    }
    const char *tid = billing_event_meta(&op->ev, "tenant-id");
    if (tid == NULL) {
        wh_ignore(op, "no_tenant_id: no tenant-id in subscription metadata");
        return;
    }
    if (tn_id_validate(tid, 3, "metadata.tenant-id", &e) != 0) {
        snprintf(op->reason, sizeof op->reason, "invalid tenant-id: %s", e.message);
        wh_ignore(op, NULL);
        return;
    }
    snprintf(op->tenant_id, sizeof op->tenant_id, "%s", tid);
    op->api.tenant_id = op->tenant_id;
    op->tenant_exists = tn_get(op->b->tn, tid, &op->t) && !op->t.deleted;
    const char *params[] = {op->tenant_id};
    lw_api_query(a,
                 "SELECT backend, customer_id, subscription_id, billing_state, "
                 "(SELECT extract(epoch FROM max(e.created))::bigint FROM "
                 "lw_control.billing_events e WHERE e.tenant_id = a.tenant_id AND e.outcome = "
                 "'applied' AND e.type LIKE 'customer.subscription.%') FROM "
                 "lw_control.billing_accounts a WHERE tenant_id = $1",
                 1, params, wh_account);
}

static void wh_subscription(wh_op_t *op)
{
    json_t *ids = json_array();
    for (size_t i = 0; i < op->ev.nitems; i++) {
        if (op->ev.items[i].price_id != NULL)
            json_array_append_new(ids, json_string(op->ev.items[i].price_id));
        if (op->ev.items[i].plan_id != NULL)
            json_array_append_new(ids, json_string(op->ev.items[i].plan_id));
    }
    char *text = lw_json_dumps(ids, JSON_COMPACT);
    json_decref(ids);
    const char *params[] = {text};
    lw_api_query(
        &op->api,
        "SELECT plan_id, kind, meter, action, meter_event_name, limits::text FROM "
        "lw_control.billing_plans WHERE plan_id IN (SELECT jsonb_array_elements_text($1::jsonb))",
        1, params, wh_plans);
    free(text);
}

/* ---- invoice events --------------------------------------------------------------------- */

static void wh_invoice_account_done(lw_api_op_t *a, const PGresult *res)
{
    (void)res;
    wh_op_t *op = (wh_op_t *)a;
    wh_record(op, "applied", NULL);
}

static void wh_invoice_upserted(lw_api_op_t *a, const PGresult *res)
{
    (void)res;
    wh_op_t *op = (wh_op_t *)a;
    if (!op->flag && !op->approve) {
        wh_record(op, "applied", op->reason[0] != '\0' ? NULL : "recorded");
        return;
    }
    const char *params[] = {op->tenant_id, op->flag ? "STATE_FLAGGED" : "STATE_APPROVED"};
    lw_api_query(a,
                 "UPDATE lw_control.billing_accounts SET billing_state = $2, flagged_at = CASE "
                 "WHEN $2 = 'STATE_FLAGGED' THEN COALESCE(flagged_at, now()) END, updated_at = "
                 "now() WHERE tenant_id = $1",
                 2, params, wh_invoice_account_done);
}

static void wh_invoice_begun(lw_api_op_t *a, const PGresult *res)
{
    (void)res;
    wh_op_t *op = (wh_op_t *)a;
    char due[24], paid[24], attempts[24];
    snprintf(due, sizeof due, "%lld", (long long)op->ev.amount_due);
    snprintf(paid, sizeof paid, "%lld", (long long)op->ev.amount_paid);
    snprintf(attempts, sizeof attempts, "%lld", (long long)op->ev.attempt_count);
    const char *status = op->ev.invoice_status;
    if (status == NULL)
        status = strcmp(op->ev.type, "invoice.paid") == 0 ? "paid" : "open";
    const char *params[] = {op->ev.invoice_id,
                            op->tenant_id[0] != '\0' ? op->tenant_id : NULL,
                            op->ev.customer,
                            op->ev.sub_id,
                            status,
                            op->ev.amount_due >= 0 ? due : NULL,
                            op->ev.amount_paid >= 0 ? paid : NULL,
                            op->ev.currency,
                            op->ev.attempt_count >= 0 ? attempts : NULL};
    lw_api_query(a,
                 "INSERT INTO lw_control.billing_invoices (invoice_id, tenant_id, customer_id, "
                 "subscription_id, status, amount_due, amount_paid, currency, attempt_count) "
                 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (invoice_id) DO UPDATE "
                 "SET tenant_id = excluded.tenant_id, customer_id = excluded.customer_id, "
                 "subscription_id = excluded.subscription_id, status = excluded.status, "
                 "amount_due = excluded.amount_due, amount_paid = excluded.amount_paid, "
                 "currency = excluded.currency, attempt_count = excluded.attempt_count, "
                 "updated_at = now()",
                 9, params, wh_invoice_upserted);
}

static void wh_invoice_registry_done(void *arg, int status, json_t *body, const lw_err_t *err)
{
    wh_op_t *op = arg;
    bool refused;
    if (!wh_registry_outcome(op, status, body, err, &refused))
        return;
    if (refused)
        op->flag = op->approve = false; /* the invoice is still recorded */
    lw_api_begin(&op->api, wh_invoice_begun);
}

static void wh_invoice_account(lw_api_op_t *a, const PGresult *res)
{
    wh_op_t *op = (wh_op_t *)a;
    bool failed = strcmp(op->ev.type, "invoice.payment_failed") == 0;
    if (PQntuples(res) == 0) {
        snprintf(op->reason, sizeof op->reason, "no tenant of customer `%s`", op->ev.customer);
        lw_api_begin(a, wh_invoice_begun);
        return;
    }
    snprintf(op->tenant_id, sizeof op->tenant_id, "%s", PQgetvalue(res, 0, 0));
    op->api.tenant_id = op->tenant_id;
    const char *bs = wh_text(res, 0, 1);
    const char *sub_status = wh_text(res, 0, 2);
    tn_state_t billing_state = TN_STATE_REQUESTED;
    bool known = bs != NULL && tn_state_parse(bs, &billing_state) == 0;
    bool exists = tn_get(op->b->tn, op->tenant_id, &op->t) && !op->t.deleted;
    bool mine = exists && known && op->t.state == billing_state; /* not changed by hand */
    if (failed && mine && op->t.state == TN_STATE_APPROVED)
        op->flag = true;
    else if (!failed && mine && op->t.state == TN_STATE_FLAGGED && sub_status != NULL &&
             (strcmp(sub_status, "active") == 0 || strcmp(sub_status, "trialing") == 0))
        op->approve = true;
    else if (!mine && exists)
        snprintf(op->reason, sizeof op->reason, "tenant state set by an operator");
    if (!op->flag && !op->approve) {
        lw_api_begin(a, wh_invoice_begun);
        return;
    }
    tn_state_t s = op->flag ? TN_STATE_FLAGGED : TN_STATE_APPROVED;
    lw_err_t e;
    if (billing_registry_update(op->b, op->tenant_id, &s,
                                op->flag ? "billing: payment failed" : "billing: invoice paid",
                                NULL, wh_invoice_registry_done, op, &e) != 0)
        lw_api_fail(a, &e);
}

static void wh_invoice(wh_op_t *op)
{
    const char *params[] = {op->ev.customer, op->ev.sub_id};
    lw_api_query(&op->api,
                 "SELECT tenant_id, billing_state, subscription_status FROM "
                 "lw_control.billing_accounts WHERE customer_id = $1 AND backend = 'stripe' "
                 "ORDER BY (subscription_id IS NOT DISTINCT FROM $2) DESC, updated_at DESC LIMIT 1",
                 2, params, wh_invoice_account);
}

/* ---- the request ------------------------------------------------------------------------ */

static void wh_seen(lw_api_op_t *a, const PGresult *res)
{
    wh_op_t *op = (wh_op_t *)a;
    if (PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, 0), "failed") != 0) {
        lw_metric_series_add(op->b->webhook->s_replayed, 1);
        lw_log_kv(LW_LOG_INFO, "tbs", "stripe event already handled",
                  LW_LOG_STR("event", op->ev.id), LW_LOG_STR("type", op->ev.type),
                  LW_LOG_STR("outcome", PQgetvalue(res, 0, 0)));
        lw_api_reply(a, 200, json_pack("{s:s,s:s}", "event_id", op->ev.id, "outcome", "replayed"));
        return;
    }
    switch (op->ev.kind) {
    case BILLING_EV_SUBSCRIPTION:
        wh_subscription(op);
        break;
    case BILLING_EV_INVOICE:
        wh_invoice(op);
        break;
    case BILLING_EV_OTHER:
        wh_ignore(op, "unhandled event type");
        break;
    }
}

static void wh_refuse(billing_t *b, lw_http_req_t *req, const lw_err_t *err, int which)
{
    lw_metric_series_add(b->webhook->s_refused[which], 1);
    lw_log_kv(LW_LOG_WARN, "tbs", "stripe webhook refused", LW_LOG_STR("reason", lw_err_name(err)),
              LW_LOG_STR("detail", err->message), LW_LOG_STR("peer", lw_http_peer(req)));
    lw_http_respond_err(req, err);
}

static void wh_handle(lw_http_req_t *req, void *arg)
{
    billing_t *b = arg;
    size_t len;
    const void *body = lw_http_body(req, &len);
    const char *sig = lw_http_header(req, "Stripe-Signature");
    lw_err_t err;
    lw_err_clear(&err);
    int64_t now_s = lw_clock_wall_ms() / 1000;
    if (billing_sig_verify(sig, sig != NULL ? strlen(sig) : 0, body, len, b->cfg.endpoint_secret,
                           now_s, b->cfg.signature_tolerance_ms / 1000, &err) != 0) {
        int which = err.def == &lw_err_missing_signature    ? 0
                    : err.def == &lw_err_invalid_signature  ? 1
                    : err.def == &lw_err_signature_mismatch ? 2
                                                            : 3;
        wh_refuse(b, req, &err, which);
        return;
    }
    billing_event_t ev;
    if (billing_event_decode(body, len, &ev, &err) != 0) {
        wh_refuse(b, req, &err, 1);
        return;
    }
    const lw_api_env_t env = {.db = b->db, .module = "tbs"};
    wh_op_t *op = lw_api_op_new(sizeof *op, &env, req);
    op->b = b;
    op->ev = ev;
    op->api.destroy = wh_destroy;
    if (wh_lock(op))
        wh_start(op);
}

static void wh_start(wh_op_t *op)
{
    const char *params[] = {op->ev.id};
    lw_api_query(&op->api, "SELECT outcome FROM lw_control.billing_events WHERE event_id = $1", 1,
                 params, wh_seen);
}

int billing_webhook_init(billing_t *b, lw_err_t *err)
{
    billing_webhook_t *w = lw_calloc(1, sizeof *w);
    b->webhook = w;
    static const char *const refused_labels[] = {"reason", NULL};
    w->m_refused = lw_metrics_counter(b->metrics, "lwstack_tbs_webhooks_refused_total",
                                      "Stripe webhooks refused (400), by reason", refused_labels);
    static const char *const reasons[] = {"missing_signature", "invalid_signature",
                                          "signature_mismatch", "timestamp_out_of_tolerance"};
    for (int i = 0; i < 4; i++)
        w->s_refused[i] = lw_metric_series(w->m_refused, (const char *const[]){reasons[i], NULL});
    static const char *const handled_labels[] = {"outcome", NULL};
    w->m_handled = lw_metrics_counter(b->metrics, "lwstack_tbs_events_total",
                                      "Stripe events by outcome", handled_labels);
    w->s_applied = lw_metric_series(w->m_handled, (const char *const[]){"applied", NULL});
    w->s_ignored = lw_metric_series(w->m_handled, (const char *const[]){"ignored", NULL});
    w->s_replayed = lw_metric_series(w->m_handled, (const char *const[]){"replayed", NULL});
    w->s_failed = lw_metric_series(w->m_handled, (const char *const[]){"failed", NULL});
    if (lw_http_route(b->http, "POST", "/api/v3/tbs/stripe", wh_handle, b) != 0)
        return lw_err_set(err, &lw_err_internal, "cannot register POST /api/v3/tbs/stripe");
    return 0;
}

void billing_webhook_free(billing_t *b)
{
    free(b->webhook);
    b->webhook = NULL;
}
