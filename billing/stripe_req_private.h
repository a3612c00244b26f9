/* Pure parts of the Stripe client (billing/stripe_req.c): form encoding, the retry decision
 * and its backoff, the usage reports' idempotency keys, the ids allowed in a request path.
 * No I/O, clock, allocation or globals: the caller owns every buffer and passes the time and
 * the randomness. Unit-tested in tests/unit/billing/test_stripe_req.c.
 *
 * Stripe facts (../shared/reference/stripe-billing.md §2.3, §2.4): v1 bodies are
 * application/x-www-form-urlencoded with bracket nesting; the official SDKs retry a
 * connection error or timeout, any answer with `Stripe-Should-Retry: true`, and without that
 * header a 409 or a 5xx, never one with `Stripe-Should-Retry: false`; backoff
 * min(0.5 s * 2^(n-1), 5 s), jittered to 50-100 %, never below 0.5 s; Retry-After honoured. */
#ifndef BILLING_STRIPE_REQ_PRIVATE_H
#define BILLING_STRIPE_REQ_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Backoff between the attempts of one request (stripe-node's figures). */
#define BILLING_STRIPE_BACKOFF_BASE_MS 500ll
#define BILLING_STRIPE_BACKOFF_MAX_MS  5000ll
/* A Retry-After beyond this is not waited for within a pass: the row waits for a later one. */
#define BILLING_STRIPE_RETRY_AFTER_MAX_MS 60000ll
/* Idempotency keys are at most 255 characters (Stripe §2.3). */
#define BILLING_STRIPE_KEY_MAX 255

/* A form body being built in buf (cap bytes, NUL-terminated while it fits). */
typedef struct billing_form {
    char *buf;
    size_t cap;
    size_t len;
    bool overflow; /* something did not fit: the body is unusable */
} billing_form_t;

void billing_form_init(billing_form_t *f, char *buf, size_t cap);
/* Appends `key=value` (with '&' after the first), both percent-encoded: RFC 3986 unreserved
 * characters kept, every other byte %XX (upper-case hex); '[' and ']' are kept in keys, as
 * Stripe's nesting reads them. Returns 0, or -1 (overflow set, buf unchanged) when it does
 * not fit. */
int billing_form_add(billing_form_t *f, const char *key, const char *value);
/* billing_form_add with a decimal integer value. */
int billing_form_add_int(billing_form_t *f, const char *key, long long value);

/* What came back from one attempt, for the retry decision. */
typedef struct billing_stripe_answer {
    bool transport_error;     /* no answer: connection failed, timed out, cut off */
    int status;               /* the HTTP status when there was an answer */
    const char *should_retry; /* the Stripe-Should-Retry header's value, NULL when absent */
    const char *retry_after;  /* the Retry-After header's value (seconds), NULL when absent */
} billing_stripe_answer_t;

/* True when the attempt may be repeated with the same idempotency key: a transport error; an
 * answer with Stripe-Should-Retry: true; without the header a 409, a 429 (the issue asks for
 * retries on rate limits) or a 5xx. Never a 2xx, never one with Stripe-Should-Retry: false,
 * never another 4xx. */
bool billing_stripe_should_retry(const billing_stripe_answer_t *a);

/* Milliseconds to wait before attempt `attempt` + 1 (attempt >= 1 attempts made):
 * min(base * 2^(attempt-1), max) scaled to 50-100 % by rand (uniform over uint32), at least
 * base; a valid Retry-After (whole seconds) above that wins, up to
 * BILLING_STRIPE_RETRY_AFTER_MAX_MS. */
long long billing_stripe_backoff_ms(int attempt, uint32_t rand, const char *retry_after);

/* Milliseconds before a row whose pass failed is tried again in a later pass: the reporting
 * interval doubled per failed pass (failed_passes >= 1), at most one hour, jittered to
 * 50-100 % by rand, at least the interval. */
long long billing_report_retry_ms(long long interval_ms, int failed_passes, uint32_t rand);

/* The usage report's idempotency key (tbs_contracts.md):
 * `lw-usage-<tenant_id>-<item_id>-<meter>-<period_start unix seconds>`, the same on every
 * retry and on `reconcile --fix`. Returns its length, or -1 when it does not fit in cap
 * (or passes BILLING_STRIPE_KEY_MAX). */
int billing_usage_key(char *buf, size_t cap, const char *tenant_id, const char *item_id,
                      const char *meter, long long period_start_s);

/* True when id can stand in a request path as is: 1..255 of [A-Za-z0-9_-] (Stripe's ids
 * are `si_...`, `sub_...`). Anything else is refused rather than encoded. */
bool billing_stripe_id_ok(const char *id);

/* The timestamp a usage record or meter event of a period carries (inside the period, as
 * Stripe requires): period_end - 1 for action `set` (The Things Stack reports "now", the
 * period's last second is the closest inside it), period_start for `increment`. */
long long billing_usage_timestamp(const char *action, long long period_start_s,
                                  long long period_end_s);

/* Jitter randomness (xorshift64*): no secret depends on it. A state from the seed's parts
 * (never 0), and the next 32 bits. */
uint64_t billing_jitter_seed(uint64_t a, uint64_t b, uint64_t c);
uint32_t billing_jitter_rand(uint64_t *state);

#endif
