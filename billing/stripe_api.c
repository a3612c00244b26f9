/* The outbound Stripe client: cluster/http_client.h on the loop (never blocking it), form
 * bodies, the Bearer key, Idempotency-Key, and retries with exponential backoff and jitter
 * on 429, 5xx, timeouts and connection errors, honouring Stripe-Should-Retry (the rules and
 * figures are the pure stripe_req.c). See backend.h for the contract. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "billing/backend.h"
#include "billing/stripe_req_private.h"
#include "cluster/http_client.h"
#include "cluster/log.h"
#include "cluster/mem.h"

typedef struct stripe_call stripe_call_t;

struct billing_stripe {
    uv_loop_t *loop;
    lw_http_client_t *http;
    char *api_base;
    char *auth; /* "Bearer sk_..." */
    int max_attempts;
    long long timeout_ms;
    uint64_t rng;
    lw_metric_series_t *retries;
    stripe_call_t *calls; /* outstanding, for close */
    int ncalls;           /* calls not yet freed (their timer closing included) */
    bool closing;
    bool http_closed;
    void (*done)(void *arg);
    void *done_arg;
};

struct stripe_call {
    billing_stripe_t *s;
    stripe_call_t *prev, *next;
    char method[8];
    char *url;
    char *form;
    char *idempotency_key;
    int attempts;
    uv_timer_t timer;          /* the backoff before the next attempt */
    bool waiting;              /* the timer runs */
    lw_http_client_req_t *req; /* the attempt in flight */
    billing_stripe_cb cb;
    void *arg;
};

static void stripe_maybe_done(billing_stripe_t *s)
{
    if (s->closing && s->http_closed && s->ncalls == 0 && s->done != NULL) {
        void (*done)(void *) = s->done;
        s->done = NULL;
        done(s->done_arg);
    }
}

static void stripe_call_freed(uv_handle_t *h)
{
    stripe_call_t *c = h->data;
    billing_stripe_t *s = c->s;
    free(c->url);
    free(c->form);
    free(c->idempotency_key);
    free(c);
    s->ncalls--;
    stripe_maybe_done(s);
}

/* Takes c off the outstanding list and releases it once its timer has closed. */
static void stripe_call_release(stripe_call_t *c)
{
    billing_stripe_t *s = c->s;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->calls = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    uv_close((uv_handle_t *)&c->timer, stripe_call_freed);
}

/* Hands the result to the caller and releases the call. */
static void stripe_call_finish(stripe_call_t *c, const billing_stripe_result_t *res)
{
    c->cb(c->arg, res);
    stripe_call_release(c);
}

static void stripe_finish_err(stripe_call_t *c, int status, const char *body, size_t body_len,
                              bool retryable, const lw_err_t *err)
{
    billing_stripe_result_t res = {.status = status,
                                   .body = body != NULL ? body : "",
                                   .body_len = body != NULL ? body_len : 0,
                                   .attempts = c->attempts,
                                   .retryable = retryable,
                                   .err = err};
    stripe_call_finish(c, &res);
}

/* The error of a final non-2xx answer. Stripe's message is quoted for a refused request
 * (it names the parameter or object), not for 401/403, where it echoes part of the key. */
static void stripe_answer_err(lw_err_t *err, int status, const char *body, size_t body_len)
{
    char reason[160] = "";
    const char *type = NULL, *code = NULL, *message = NULL;
    json_t *j = json_loadb(body, body_len, 0, NULL);
    json_t *e = j != NULL ? json_object_get(j, "error") : NULL;
    if (json_is_object(e)) {
        type = json_string_value(json_object_get(e, "type"));
        code = json_string_value(json_object_get(e, "code"));
        message = json_string_value(json_object_get(e, "message"));
    }
    if (status == 429) {
        lw_err_set(err, &lw_err_stripe_rate_limited, "Stripe rate-limited the request (HTTP 429)");
    } else if (status >= 500) {
        lw_err_set(err, &lw_err_stripe_server_error, "Stripe answered HTTP %d%s%s", status,
                   type != NULL ? ": " : "", type != NULL ? type : "");
    } else {
        if (status == 401 || status == 403)
            snprintf(reason, sizeof reason, "%s", "the API key was refused");
        else
            snprintf(reason, sizeof reason, "%s%s%s%s%s", type != NULL ? type : "error",
                     code != NULL ? " " : "", code != NULL ? code : "", message != NULL ? ": " : "",
                     message != NULL ? message : "");
        lw_err_set(err, &lw_err_stripe_request_refused, "Stripe refused the request (HTTP %d): %s",
                   status, reason);
        lw_err_attr(err, "reason", reason);
        if (type != NULL)
            lw_err_attr(err, "stripe_error_type", type);
    }
    lw_err_attr_num(err, "status", status);
    json_decref(j);
}

static void stripe_attempt(stripe_call_t *c);

static void stripe_backoff_done(uv_timer_t *t)
{
    stripe_call_t *c = t->data;
    c->waiting = false;
    stripe_attempt(c);
}

static void stripe_answered(void *arg, lw_http_client_req_t *req,
                            const lw_http_client_response_t *res, const lw_err_t *herr)
{
    (void)req;
    stripe_call_t *c = arg;
    billing_stripe_t *s = c->s;
    c->req = NULL;
    billing_stripe_answer_t a = {.transport_error = res == NULL};
    if (res != NULL) {
        a.status = res->status;
        a.should_retry = lw_http_client_response_header(res, "Stripe-Should-Retry");
        a.retry_after = lw_http_client_response_header(res, "Retry-After");
    }
    bool canceled = herr != NULL && herr->def == &lw_err_request_canceled;
    if (res != NULL && res->status >= 200 && res->status < 300) {
        billing_stripe_result_t ok = {.status = res->status,
                                      .body = (const char *)res->body,
                                      .body_len = res->body_len,
                                      .attempts = c->attempts};
        stripe_call_finish(c, &ok);
        return;
    }
    bool retry = !canceled && billing_stripe_should_retry(&a);
    if (retry && !s->closing && c->attempts < s->max_attempts) {
        long long ms =
            billing_stripe_backoff_ms(c->attempts, billing_jitter_rand(&s->rng), a.retry_after);
        lw_metric_series_add(s->retries, 1);
        lw_log_kv(LW_LOG_DEBUG, "tbs", "Stripe request retried", LW_LOG_STR("method", c->method),
                  LW_LOG_INT("attempt", c->attempts), LW_LOG_INT("status", a.status),
                  LW_LOG_STR("error", herr != NULL ? lw_err_name(herr) : NULL),
                  LW_LOG_DUR_MS("backoff", (double)ms));
        c->waiting = true;
        uv_timer_start(&c->timer, stripe_backoff_done, (uint64_t)ms, 0);
        return;
    }
    lw_err_t err;
    lw_err_clear(&err);
    if (res == NULL) {
        if (canceled)
            err = *herr;
        else
            lw_err_set(&err, &lw_err_stripe_unreachable, "Stripe could not be reached: %s",
                       herr != NULL ? herr->message : "no answer");
        lw_err_attr(&err, "reason", herr != NULL ? lw_err_name(herr) : "no_answer");
        stripe_finish_err(c, 0, NULL, 0, true, &err);
        return;
    }
    stripe_answer_err(&err, res->status, (const char *)res->body, res->body_len);
    stripe_finish_err(c, res->status, (const char *)res->body, res->body_len, retry, &err);
}

/* Sends the next attempt of c; false (err set) when the client refused it at once. */
static bool stripe_send(stripe_call_t *c, lw_err_t *err)
{
    billing_stripe_t *s = c->s;
    lw_http_client_header_t h[4];
    size_t nh = 0;
    h[nh++] = (lw_http_client_header_t){"Authorization", s->auth};
    h[nh++] = (lw_http_client_header_t){"Stripe-Version", BILLING_STRIPE_VERSION};
    if (c->form != NULL)
        h[nh++] = (lw_http_client_header_t){"Content-Type", "application/x-www-form-urlencoded"};
    if (c->idempotency_key != NULL)
        h[nh++] = (lw_http_client_header_t){"Idempotency-Key", c->idempotency_key};
    lw_http_client_req_opts_t o = {
        .method = c->method,
        .url = c->url,
        .headers = h,
        .nheaders = nh,
        .body = c->form,
        .body_len = c->form != NULL ? strlen(c->form) : 0,
        .body_borrowed = true,
        .timeout_ms = s->timeout_ms,
    };
    c->attempts++;
    c->req = lw_http_client_send(s->http, &o, stripe_answered, c, err);
    return c->req != NULL;
}

static void stripe_attempt(stripe_call_t *c)
{
    lw_err_t err;
    lw_err_clear(&err);
    if (c->s->closing)
        lw_err_set(&err, &lw_err_request_canceled, "Stripe request canceled: client closed");
    else if (stripe_send(c, &err))
        return;
    /* Not sent: the client is closing (the URL was accepted by the first attempt). */
    stripe_finish_err(c, 0, NULL, 0, true, &err);
}

billing_stripe_t *billing_stripe_new(uv_loop_t *loop, const billing_stripe_opts_t *opts,
                                     lw_err_t *err)
{
    if (opts->api_key == NULL || opts->api_key[0] == '\0') {
        lw_err_set(err, &lw_err_stripe_not_configured,
                   "Stripe is not configured: tbs.stripe.api-key is not set");
        lw_err_attr(err, "reason", "tbs.stripe.api-key is not set");
        return NULL;
    }
    const char *base = opts->api_base;
    if (base == NULL || (strncmp(base, "https://", 8) != 0 && strncmp(base, "http://", 7) != 0)) {
        lw_err_set(err, &lw_err_stripe_not_configured,
                   "Stripe is not configured: tbs.stripe.api-base is no http(s) URL");
        lw_err_attr(err, "reason", "tbs.stripe.api-base is no http(s) URL");
        return NULL;
    }
    if (strpbrk(opts->api_key, "\r\n") != NULL) {
        lw_err_set(err, &lw_err_stripe_not_configured,
                   "Stripe is not configured: tbs.stripe.api-key holds a line break");
        lw_err_attr(err, "reason", "tbs.stripe.api-key holds a line break");
        return NULL;
    }
    lw_http_client_opts_t ho = {
        .user_agent = "lwstack-tbs", .metrics = opts->metrics, .name = "stripe"};
    lw_http_client_t *http = lw_http_client_new(loop, &ho, err);
    if (http == NULL)
        return NULL;
    billing_stripe_t *s = lw_calloc(1, sizeof *s);
    s->loop = loop;
    s->http = http;
    s->api_base = lw_strdup(base);
    size_t bl = strlen(s->api_base);
    while (bl > 0 && s->api_base[bl - 1] == '/')
        s->api_base[--bl] = '\0';
    size_t al = strlen(opts->api_key) + sizeof "Bearer ";
    s->auth = lw_malloc(al);
    snprintf(s->auth, al, "Bearer %s", opts->api_key);
    s->max_attempts = opts->max_attempts > 0 ? opts->max_attempts : BILLING_STRIPE_MAX_ATTEMPTS;
    s->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : BILLING_STRIPE_TIMEOUT_MS;
    s->rng = billing_jitter_seed(uv_hrtime(), (uint64_t)getpid(), (uintptr_t)s);
    if (opts->metrics != NULL) {
        lw_metric_t *f =
            lw_metrics_counter(opts->metrics, "lwstack_tbs_stripe_retries_total",
                               "Stripe requests repeated after a retryable failure", NULL);
        s->retries = lw_metric_series(f, NULL);
    }
    return s;
}

int billing_stripe_call(billing_stripe_t *s, const char *method, const char *path, const char *form,
                        const char *idempotency_key, billing_stripe_cb cb, void *arg, lw_err_t *err)
{
    if (s->closing)
        return lw_err_set(err, &lw_err_unavailable, "the Stripe client is closing");
    if (method == NULL || strlen(method) >= sizeof((stripe_call_t *)0)->method || path == NULL ||
        path[0] != '/' || strpbrk(path, " \r\n#") != NULL)
        return lw_err_set(err, &lw_err_invalid_argument, "invalid Stripe request");
    if (idempotency_key != NULL &&
        (strlen(idempotency_key) > BILLING_STRIPE_KEY_MAX || strpbrk(idempotency_key, "\r\n")))
        return lw_err_set(err, &lw_err_invalid_argument, "invalid idempotency key");
    stripe_call_t *c = lw_calloc(1, sizeof *c);
    c->s = s;
    snprintf(c->method, sizeof c->method, "%s", method);
    size_t ul = strlen(s->api_base) + strlen(path) + 1;
    c->url = lw_malloc(ul);
    snprintf(c->url, ul, "%s%s", s->api_base, path);
    c->form = form != NULL ? lw_strdup(form) : NULL;
    c->idempotency_key = idempotency_key != NULL ? lw_strdup(idempotency_key) : NULL;
    c->cb = cb;
    c->arg = arg;
    uv_timer_init(s->loop, &c->timer);
    c->timer.data = c;
    s->ncalls++;
    c->next = s->calls;
    if (s->calls != NULL)
        s->calls->prev = c;
    s->calls = c;
    if (!stripe_send(c, err)) {
        stripe_call_release(c); /* no callback for a call refused at once */
        return -1;
    }
    return 0;
}

static void stripe_http_closed(void *arg)
{
    billing_stripe_t *s = arg;
    s->http_closed = true;
    stripe_maybe_done(s);
}

void billing_stripe_close(billing_stripe_t *s, void (*done)(void *arg), void *arg)
{
    if (s->closing)
        return;
    s->closing = true;
    s->done = done;
    s->done_arg = arg;
    /* Calls waiting for their backoff end now; those in flight end with request_canceled
     * when the HTTP client closes. */
    stripe_call_t *c = s->calls;
    while (c != NULL) {
        stripe_call_t *next = c->next;
        if (c->waiting) {
            c->waiting = false;
            uv_timer_stop(&c->timer);
            lw_err_t err;
            lw_err_clear(&err);
            lw_err_set(&err, &lw_err_request_canceled, "Stripe request canceled: client closed");
            stripe_finish_err(c, 0, NULL, 0, true, &err);
        }
        c = next;
    }
    lw_http_client_close(s->http, stripe_http_closed, s);
}

void billing_stripe_free(billing_stripe_t *s)
{
    if (s == NULL)
        return;
    lw_http_client_free(s->http);
    if (s->auth != NULL) {
        memset(s->auth, 0, strlen(s->auth));
        free(s->auth);
    }
    free(s->api_base);
    free(s);
}
