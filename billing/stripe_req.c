/* Pure parts of the Stripe client: see stripe_req_private.h. */
#include "billing/stripe_req_private.h"

#include <stdio.h>
#include <string.h>

void billing_form_init(billing_form_t *f, char *buf, size_t cap)
{
    f->buf = buf;
    f->cap = cap;
    f->len = 0;
    f->overflow = cap == 0;
    if (cap > 0)
        buf[0] = '\0';
}

static bool form_unreserved(unsigned char c, bool brackets)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return true;
    if (c == '-' || c == '.' || c == '_' || c == '~')
        return true;
    return brackets && (c == '[' || c == ']');
}

/* Appends s encoded at *pos; false when it would pass cap - 1 (room for the NUL). */
static bool form_put(billing_form_t *f, size_t *pos, const char *s, bool brackets)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        size_t need = form_unreserved(*p, brackets) ? 1 : 3;
        if (*pos + need >= f->cap)
            return false;
        if (need == 1) {
            f->buf[(*pos)++] = (char)*p;
        } else {
            f->buf[(*pos)++] = '%';
            f->buf[(*pos)++] = hex[*p >> 4];
            f->buf[(*pos)++] = hex[*p & 0xf];
        }
    }
    return true;
}

int billing_form_add(billing_form_t *f, const char *key, const char *value)
{
    if (f->overflow)
        return -1;
    size_t pos = f->len;
    bool ok = true;
    if (pos > 0) {
        ok = pos + 1 < f->cap;
        if (ok)
            f->buf[pos++] = '&';
    }
    ok = ok && form_put(f, &pos, key, true);
    if (ok && pos + 1 < f->cap)
        f->buf[pos++] = '=';
    else
        ok = false;
    ok = ok && form_put(f, &pos, value, false);
    if (!ok) {
        f->overflow = true;
        f->buf[f->len] = '\0';
        return -1;
    }
    f->len = pos;
    f->buf[pos] = '\0';
    return 0;
}

int billing_form_add_int(billing_form_t *f, const char *key, long long value)
{
    char num[24];
    snprintf(num, sizeof num, "%lld", value);
    return billing_form_add(f, key, num);
}

bool billing_stripe_should_retry(const billing_stripe_answer_t *a)
{
    if (a->transport_error)
        return true;
    if (a->status >= 200 && a->status < 300)
        return false;
    if (a->should_retry != NULL) {
        if (strcmp(a->should_retry, "true") == 0)
            return true;
        if (strcmp(a->should_retry, "false") == 0)
            return false;
    }
    return a->status == 409 || a->status == 429 || a->status >= 500;
}

/* Retry-After in whole seconds (Stripe sends seconds; an HTTP date is not used), or -1. */
static long long retry_after_ms(const char *v)
{
    if (v == NULL || *v == '\0')
        return -1;
    long long s = 0;
    for (const char *p = v; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || s > 86400)
            return -1;
        s = s * 10 + (*p - '0');
    }
    return s * 1000;
}

static long long jitter(long long ms, uint32_t rand)
{
    /* 50-100 %: ms/2 + (ms/2 * rand / 2^32). */
    long long half = ms / 2;
    return half + (long long)(((unsigned long long)half * rand) >> 32);
}

long long billing_stripe_backoff_ms(int attempt, uint32_t rand, const char *retry_after)
{
    long long ms = BILLING_STRIPE_BACKOFF_BASE_MS;
    for (int i = 1; i < attempt && ms < BILLING_STRIPE_BACKOFF_MAX_MS; i++)
        ms *= 2;
    if (ms > BILLING_STRIPE_BACKOFF_MAX_MS)
        ms = BILLING_STRIPE_BACKOFF_MAX_MS;
    ms = jitter(ms, rand);
    if (ms < BILLING_STRIPE_BACKOFF_BASE_MS)
        ms = BILLING_STRIPE_BACKOFF_BASE_MS;
    long long ra = retry_after_ms(retry_after);
    if (ra > ms)
        ms = ra < BILLING_STRIPE_RETRY_AFTER_MAX_MS ? ra : BILLING_STRIPE_RETRY_AFTER_MAX_MS;
    return ms;
}

long long billing_report_retry_ms(long long interval_ms, int failed_passes, uint32_t rand)
{
    const long long max = 3600000;
    long long ms = interval_ms > 0 ? interval_ms : 1000;
    for (int i = 1; i < failed_passes && ms < max; i++)
        ms *= 2;
    if (ms > max)
        ms = max;
    long long j = jitter(ms, rand);
    long long floor = interval_ms < max ? interval_ms : max;
    return j < floor ? floor : j;
}

int billing_usage_key(char *buf, size_t cap, const char *tenant_id, const char *item_id,
                      const char *meter, long long period_start_s)
{
    int n = snprintf(buf, cap, "lw-usage-%s-%s-%s-%lld", tenant_id, item_id, meter, period_start_s);
    if (n < 0 || (size_t)n >= cap || n > BILLING_STRIPE_KEY_MAX) {
        if (cap > 0)
            buf[0] = '\0';
        return -1;
    }
    return n;
}

bool billing_stripe_id_ok(const char *id)
{
    size_t n = 0;
    for (const char *p = id; *p != '\0'; p++, n++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return n >= 1 && n <= 255;
}

long long billing_usage_timestamp(const char *action, long long period_start_s,
                                  long long period_end_s)
{
    if (strcmp(action, "set") == 0 && period_end_s > period_start_s)
        return period_end_s - 1;
    return period_start_s;
}

uint64_t billing_jitter_seed(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t s = a ^ (b << 32) ^ (c * 0x9e3779b97f4a7c15ull);
    return s != 0 ? s : 0x9e3779b97f4a7c15ull;
}

uint32_t billing_jitter_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (uint32_t)((x * 2685821657736338717ull) >> 32);
}
