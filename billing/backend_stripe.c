/* The stripe payment backend: a usage_reports row becomes a legacy usage record
 * (POST /v1/subscription_items/{si}/usage_records, tbs.reporting.mode usage-records, as The
 * Things Stack reports) or a billing meter event (POST /v1/billing/meter_events,
 * meter-events), sent with the row's idempotency key (and, for a meter event, that key as
 * its identifier too, which Stripe deduplicates on). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "billing/backend.h"
#include "billing/stripe_req_private.h"
#include "cluster/log.h"
#include "cluster/mem.h"

typedef struct stripe_report {
    billing_report_cb cb;
    void *arg;
    bool meter_event;
    char identifier[BILLING_STRIPE_KEY_MAX + 1];
} stripe_report_t;

static int backend_stripe_start(billing_t *b, lw_err_t *err)
{
    billing_stripe_opts_t o = {
        .api_base = b->cfg.api_base, .api_key = b->cfg.stripe_api_key, .metrics = b->metrics};
    b->stripe = billing_stripe_new(b->loop, &o, err);
    if (b->stripe != NULL)
        return 0;
    if (err != NULL && err->def == &lw_err_stripe_not_configured) {
        /* Webhooks work without the key: say why usage waits, and keep it pending. */
        lw_log_kv(LW_LOG_WARN, "tbs", "usage reports wait: Stripe is not configured",
                  LW_LOG_STR("reason", err->message));
        lw_err_clear(err);
        return 0;
    }
    return -1;
}

static void backend_stripe_answered(void *arg, const billing_stripe_result_t *res)
{
    stripe_report_t *r = arg;
    billing_report_outcome_t out = {.attempts = res->attempts};
    char id[BILLING_STRIPE_KEY_MAX + 1] = "";
    lw_err_t err;
    lw_err_clear(&err);
    if (res->err == NULL) {
        json_t *j = json_loadb(res->body, res->body_len, 0, NULL);
        const char *sid = json_string_value(json_object_get(j, "id"));
        if (sid == NULL && r->meter_event)
            sid = r->identifier; /* a meter event has no id; its identifier names it */
        if (sid != NULL)
            snprintf(id, sizeof id, "%s", sid);
        json_decref(j);
        out.sent = true;
        out.stripe_id = id[0] != '\0' ? id : NULL;
    } else {
        out.retryable = res->retryable;
        out.err = res->err;
    }
    r->cb(r->arg, &out);
    free(r);
}

static int backend_stripe_report(billing_t *b, const billing_report_row_t *row,
                                 billing_report_cb cb, void *arg, lw_err_t *err)
{
    if (b->stripe == NULL) {
        lw_err_set(err, &lw_err_stripe_not_configured,
                   "Stripe is not configured: tbs.stripe.api-key is not set");
        lw_err_attr(err, "reason", "tbs.stripe.api-key is not set");
        return -1;
    }
    bool meter_event =
        b->cfg.reporting_mode != NULL && strcmp(b->cfg.reporting_mode, "meter-events") == 0;
    char path[320];
    char form[1024];
    billing_form_t f;
    billing_form_init(&f, form, sizeof form);
    long long ts = billing_usage_timestamp(row->action, row->period_start_s, row->period_end_s);
    const char *why = NULL;
    if (meter_event) {
        if (row->customer_id == NULL || !billing_stripe_id_ok(row->customer_id))
            why = "no Stripe customer for the tenant";
        else if (row->meter_event_name == NULL || row->meter_event_name[0] == '\0')
            why = "the subscription item has no meter event name";
        snprintf(path, sizeof path, "/v1/billing/meter_events");
        if (why == NULL) {
            billing_form_add(&f, "event_name", row->meter_event_name);
            billing_form_add(&f, "payload[stripe_customer_id]", row->customer_id);
            billing_form_add_int(&f, "payload[value]", row->quantity);
            billing_form_add(&f, "identifier", row->idempotency_key);
            billing_form_add_int(&f, "timestamp", ts);
        }
    } else {
        if (!billing_stripe_id_ok(row->item_id))
            why = "the subscription item id is not a Stripe id";
        snprintf(path, sizeof path, "/v1/subscription_items/%s/usage_records", row->item_id);
        if (why == NULL) {
            billing_form_add_int(&f, "quantity", row->quantity);
            billing_form_add_int(&f, "timestamp", ts);
            billing_form_add(&f, "action", row->action);
        }
    }
    if (why == NULL && f.overflow)
        why = "the request does not fit";
    if (why == NULL && row->quantity < 0)
        why = "negative quantity";
    if (why != NULL) {
        lw_err_set(err, &lw_err_report_invalid, "usage report `%s` cannot be sent: %s",
                   row->idempotency_key, why);
        lw_err_attr(err, "idempotency_key", row->idempotency_key);
        lw_err_attr(err, "reason", why);
        return -1;
    }
    stripe_report_t *r = lw_calloc(1, sizeof *r);
    r->cb = cb;
    r->arg = arg;
    r->meter_event = meter_event;
    snprintf(r->identifier, sizeof r->identifier, "%s", row->idempotency_key);
    if (billing_stripe_call(b->stripe, "POST", path, form, row->idempotency_key,
                            backend_stripe_answered, r, err) != 0) {
        free(r);
        return -1;
    }
    return 0;
}

static void backend_stripe_stop(billing_t *b, void (*done)(void *arg), void *arg)
{
    if (b->stripe == NULL) {
        done(arg);
        return;
    }
    billing_stripe_close(b->stripe, done, arg);
}

static void backend_stripe_free(billing_t *b)
{
    billing_stripe_free(b->stripe);
    b->stripe = NULL;
}

const billing_backend_t billing_backend_stripe = {
    .name = "stripe",
    .start = backend_stripe_start,
    .report = backend_stripe_report,
    .stop = backend_stripe_stop,
    .free = backend_stripe_free,
};

const billing_backend_t *billing_backend_find(const char *name)
{
    if (name == NULL || strcmp(name, "stripe") == 0)
        return &billing_backend_stripe;
    if (strcmp(name, "manual") == 0)
        return &billing_backend_manual;
    return NULL;
}
