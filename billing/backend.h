/* Payment backends (issue 11 item 6) and the Stripe client under the stripe one.
 *
 * A backend gets one usage_reports row at a time (report.c picks them) and says once, on the
 * loop, what became of it:
 *   stripe  (backend_stripe.c) sends it to Stripe through the client below: a legacy usage
 *           record (tbs.reporting.mode usage-records) or a billing meter event (meter-events),
 *           with the row's idempotency key;
 *   manual  (backend_manual.c) makes no outbound call at all: the row is `sent` locally with
 *           no Stripe id; an operator bills from the ledger's CSV export.
 * Private to billing/ (and its tests). */
#ifndef BILLING_BACKEND_H
#define BILLING_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "billing/billing_private.h"
#include "cluster/err.h"
#include "cluster/metrics.h"

/* ---- the backend interface ------------------------------------------------------------- */

/* One usage_reports row as a backend sends it (strings borrowed for the call only: a backend
 * copies what it keeps). */
typedef struct billing_report_row {
    const char *tenant_id;
    const char *item_id; /* Stripe subscription item (si_...) */
    const char *meter;   /* end_devices, uplinks, ... */
    const char *action;  /* "set" | "increment" */
    long long quantity;
    long long period_start_s; /* unix seconds */
    long long period_end_s;
    const char *idempotency_key;  /* lw-usage-<tenant>-<item>-<meter>-<period_start> */
    const char *customer_id;      /* meter events: payload[stripe_customer_id]; may be NULL */
    const char *meter_event_name; /* meter events: event_name; may be NULL */
} billing_report_row_t;

typedef struct billing_report_outcome {
    bool sent;             /* accepted (or replayed) by the backend */
    bool retryable;        /* not sent, and may be sent again later with the same key */
    int attempts;          /* outbound attempts made (0 for manual) */
    const char *stripe_id; /* the usage record's id (mbur_...) or the meter event's
                            * identifier; NULL for manual */
    const lw_err_t *err;   /* why not sent; NULL when sent */
} billing_report_outcome_t;

/* Called once per accepted report, on the loop, never from inside report(); everything out
 * points to is valid only during the call. */
typedef void (*billing_report_cb)(void *arg, const billing_report_outcome_t *out);

typedef struct billing_backend {
    const char *name; /* "stripe" | "manual" */
    /* Sets up what the backend needs (the Stripe client); called once at the component's
     * start. */
    int (*start)(billing_t *b, lw_err_t *err);
    /* Reports one row; cb once, later. -1 with err (cb never called) when it cannot even
     * start (the backend is stopping, the row cannot be sent as it is). */
    int (*report)(billing_t *b, const billing_report_row_t *row, billing_report_cb cb, void *arg,
                  lw_err_t *err);
    /* Ends outstanding reports (their callbacks run, not sent, retryable), then done(arg) on
     * the loop. */
    void (*stop)(billing_t *b, void (*done)(void *arg), void *arg);
    /* Releases what start made; after stop's done. */
    void (*free)(billing_t *b);
} billing_backend_t;

extern const billing_backend_t billing_backend_stripe;
extern const billing_backend_t billing_backend_manual;

/* The backend named by tbs.backend, or NULL. */
const billing_backend_t *billing_backend_find(const char *name);

/* ---- the Stripe client (stripe_api.c) --------------------------------------------------- */

/* Attempts of one request within one call (the first and two retries); a row that still
 * fails waits for a later reporting pass (report.c). */
#define BILLING_STRIPE_MAX_ATTEMPTS 3
/* One attempt's limit: Stripe answers well within it; a hung connection is a timeout, which
 * is retried with the same idempotency key. */
#define BILLING_STRIPE_TIMEOUT_MS 10000ll
/* Stripe API version pinned on every request: one that still has legacy usage records
 * (removed in 2025-03-31.basil), The Things Stack's since 3.25. */
#define BILLING_STRIPE_VERSION "2022-11-15"

typedef struct billing_stripe billing_stripe_t;

typedef struct billing_stripe_opts {
    const char *api_base;  /* "https://api.stripe.com" (a trailing '/' is dropped); copied */
    const char *api_key;   /* sk_...; copied, sent only as "Authorization: Bearer", never
                            * logged or put in an error */
    int max_attempts;      /* 0: BILLING_STRIPE_MAX_ATTEMPTS */
    long long timeout_ms;  /* per attempt; 0: BILLING_STRIPE_TIMEOUT_MS */
    lw_metrics_t *metrics; /* optional: lwstack_http_client_requests_total{client="stripe"} and
                            * lwstack_tbs_stripe_retries_total */
} billing_stripe_opts_t;

/* The outcome of one call, after its last attempt. */
typedef struct billing_stripe_result {
    int status;       /* the last answer's HTTP status; 0: no answer */
    const char *body; /* the last answer's body (NUL-terminated), "" without one */
    size_t body_len;
    int attempts;        /* attempts made */
    bool retryable;      /* failed, but may be repeated later with the same key */
    const lw_err_t *err; /* NULL on a 2xx; else stripe_unreachable, stripe_rate_limited,
                          * stripe_server_error, stripe_request_refused, request_canceled */
} billing_stripe_result_t;

typedef void (*billing_stripe_cb)(void *arg, const billing_stripe_result_t *res);

/* A client on loop (its own libcurl multi handle). NULL with err when it cannot be made or
 * opts lack the base or key (stripe_not_configured). */
billing_stripe_t *billing_stripe_new(uv_loop_t *loop, const billing_stripe_opts_t *opts,
                                     lw_err_t *err);

/* One Stripe call: method ("GET", "POST", "DELETE") on path ("/v1/...", a query allowed;
 * ids checked by the caller with billing_stripe_id_ok), form the x-www-form-urlencoded body (POST;
 * NULL for none), idempotency_key (POST; NULL for none; the same on every attempt). Attempts
 * repeat, after the backoff of stripe_req_private.h, while billing_stripe_should_retry says so and
 * fewer than max_attempts were made. Everything is copied. cb runs once, later, on the loop;
 * -1 with err (no callback) when the client is closing or the call is invalid. */
int billing_stripe_call(billing_stripe_t *s, const char *method, const char *path, const char *form,
                        const char *idempotency_key, billing_stripe_cb cb, void *arg,
                        lw_err_t *err);

/* Ends every outstanding call (callbacks with request_canceled, retryable), closes the
 * connections, then done(arg) on the loop. Then billing_stripe_free. */
void billing_stripe_close(billing_stripe_t *s, void (*done)(void *arg), void *arg);
void billing_stripe_free(billing_stripe_t *s);

/* ---- reporting (report.c) --------------------------------------------------------------- */

/* Starts the reporting of closed periods: a pass at start and every tbs.reporting.interval,
 * and on demand (POST /api/v3/tbs/report, TenantAdminKey). Needs b->backend started. */
int billing_report_start(billing_t *b, lw_err_t *err);
/* Stops the timer, lets the running pass end (the backend's stop ends its calls), then
 * done(arg). */
void billing_report_stop(billing_t *b, void (*done)(void *arg), void *arg);
void billing_report_free(billing_t *b);

#endif
