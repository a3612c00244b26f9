/* Rate limits (GCRA) and per-key concurrency caps in fixed tables: see ratelimit.h. */
#include "cluster/ratelimit.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/mem.h"

/* Slots looked at for one key: a key lives within PROBE slots of its hash's slot, so a
 * lookup is PROBE comparisons at most and needs no tombstones. */
#define PROBE 16

#define BURST_MAX 1000000
#define COUNT_MAX 1000000000LL

/* ---- rates ------------------------------------------------------------------------------- */

static int rate_err(char *why, size_t why_len, const char *msg)
{
    if (why != NULL && why_len > 0)
        snprintf(why, why_len, "%s", msg);
    return -1;
}

static const char *skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* "1m", "10s", "250ms", "h": the period in ms, or -1. *end past it. */
static long long parse_period(const char *s, const char **end)
{
    long long n = 1;
    const char *p = s;
    if (isdigit((unsigned char)*p)) {
        errno = 0;
        char *e;
        n = strtoll(p, &e, 10);
        if (errno != 0 || n <= 0 || n > 1000000000LL)
            return -1;
        p = e;
    }
    long long mult;
    if (strncmp(p, "ms", 2) == 0) {
        mult = 1;
        p += 2;
    } else if (*p == 's') {
        mult = 1000;
        p++;
    } else if (*p == 'm') {
        mult = 60000;
        p++;
    } else if (*p == 'h') {
        mult = 3600000;
        p++;
    } else {
        return -1;
    }
    *end = p;
    return n * mult;
}

int lw_rate_parse(const char *text, lw_rate_t *out, char *why, size_t why_len)
{
    static const char *const form = "expected N/PERIOD[ burst B] (e.g. 10/1m burst 5), or 0";
    lw_rate_t r = {0};
    if (text == NULL)
        return rate_err(why, why_len, form);
    const char *p = skip_space(text);
    if (strcmp(p, "off") == 0 || strcmp(p, "0") == 0) {
        if (out != NULL)
            *out = r;
        return 0;
    }
    if (!isdigit((unsigned char)*p))
        return rate_err(why, why_len, form);
    errno = 0;
    char *e;
    r.count = strtoll(p, &e, 10);
    if (errno != 0 || r.count < 0 || r.count > COUNT_MAX)
        return rate_err(why, why_len, "the count must be 0..1000000000");
    p = e;
    if (*p != '/')
        return rate_err(why, why_len, form);
    const char *pe;
    r.period_ms = parse_period(p + 1, &pe);
    if (r.period_ms <= 0)
        return rate_err(why, why_len, "the period is a whole number with unit ms, s, m or h");
    p = skip_space(pe);
    r.burst = r.count < BURST_MAX ? r.count : BURST_MAX;
    if (strncmp(p, "burst", 5) == 0) {
        p = skip_space(p + 5);
        if (!isdigit((unsigned char)*p))
            return rate_err(why, why_len, form);
        errno = 0;
        r.burst = strtoll(p, &e, 10);
        if (errno != 0 || r.burst < 1 || r.burst > BURST_MAX)
            return rate_err(why, why_len, "the burst must be 1..1000000");
        p = skip_space(e);
    }
    if (*p != '\0')
        return rate_err(why, why_len, form);
    if (r.count == 0) {
        r = (lw_rate_t){0};
    } else if (r.period_ms * 1000 / r.count < 1) {
        return rate_err(why, why_len, "more than one request per microsecond");
    }
    if (out != NULL)
        *out = r;
    return 0;
}

int lw_rate_check(const char *value, char *why, size_t why_len)
{
    return lw_rate_parse(value, NULL, why, why_len);
}

bool lw_rate_off(const lw_rate_t *rate)
{
    return rate->count <= 0;
}

int64_t lw_rate_per_minute(const lw_rate_t *rate)
{
    if (lw_rate_off(rate) || rate->period_ms <= 0)
        return 0;
    return (rate->count * 60000 + rate->period_ms - 1) / rate->period_ms;
}

int64_t lw_ratelimit_retry_seconds(int64_t retry_after_ms)
{
    int64_t s = (retry_after_ms + 999) / 1000;
    return s < 1 ? 1 : s;
}

int64_t lw_ratelimit_err(lw_err_t *err, const char *key, const lw_rate_t *rate,
                         int64_t retry_after_ms)
{
    int64_t s = lw_ratelimit_retry_seconds(retry_after_ms);
    long long per_min = (long long)lw_rate_per_minute(rate);
    lw_err_set(err, &lw_err_rate_limit_exceeded,
               "rate limit of `%lld` accesses per minute exceeded for resource `%.96s`", per_min,
               key);
    lw_err_attr(err, "key", key);
    lw_err_attr_num(err, "rate", per_min);
    lw_err_attr_num(err, "retry_after", (long long)s);
    return s;
}

void lw_ratelimit_series_init(lw_ratelimit_series_t *out, lw_metrics_t *m, const char *cls)
{
    static const char *const labels[] = {"class", NULL};
    const char *v[] = {cls, NULL};
    out->allowed = lw_metric_series(lw_metrics_counter(m, "lwstack_ratelimit_allowed_total",
                                                       "Requests a rate limit let through", labels),
                                    v);
    out->exceeded =
        lw_metric_series(lw_metrics_counter(m, "lwstack_ratelimit_exceeded_total",
                                            "Requests refused by a rate limit (429)", labels),
                         v);
    out->evicted = lw_metric_series(
        lw_metrics_counter(m, "lwstack_ratelimit_evicted_total",
                           "Keys still limited dropped because a rate limiter's table was full",
                           labels),
        v);
}

void lw_ratelimit_series_count(const lw_ratelimit_series_t *s, const lw_ratelimit_result_t *r)
{
    lw_metric_series_add(r->allowed ? s->allowed : s->exceeded, 1);
    if (r->evicted)
        lw_metric_series_add(s->evicted, 1);
}

/* ---- the table --------------------------------------------------------------------------- */

typedef struct slot {
    uint64_t hash;
    int64_t v; /* limiter: TAT in µs; gate: holders */
    bool used;
    char key[LW_RATELIMIT_KEY_MAX];
} slot_t;

typedef struct table {
    slot_t *slots;
    size_t mask;
    size_t n;
    uint64_t seed;
} table_t;

static void table_init(table_t *t, size_t max_keys, uint64_t seed)
{
    size_t cap = 1;
    while (cap < max_keys || cap < PROBE)
        cap <<= 1;
    t->slots = lw_calloc(cap, sizeof *t->slots);
    t->mask = cap - 1;
    t->n = 0;
    t->seed = seed;
}

static uint64_t key_hash(const table_t *t, const char *key)
{
    /* FNV-1a from a seeded basis, then a 64-bit finaliser (splitmix64's) to spread it. */
    uint64_t h = 1469598103934665603ull ^ t->seed;
    for (const char *p = key; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

static bool slot_is(const slot_t *s, uint64_t h, const char *key)
{
    return s->used && s->hash == h && strncmp(s->key, key, LW_RATELIMIT_KEY_MAX - 1) == 0;
}

static slot_t *table_find(const table_t *t, uint64_t h, const char *key)
{
    for (size_t i = 0; i < PROBE; i++) {
        slot_t *s = &t->slots[(h + i) & t->mask];
        if (slot_is(s, h, key))
            return s;
    }
    return NULL;
}

static void slot_claim(table_t *t, slot_t *s, uint64_t h, const char *key)
{
    if (!s->used)
        t->n++;
    s->used = true;
    s->hash = h;
    s->v = 0;
    snprintf(s->key, sizeof s->key, "%s", key);
}

static void slot_drop(table_t *t, slot_t *s)
{
    if (s->used)
        t->n--;
    memset(s, 0, sizeof *s);
}

/* ---- the limiter ------------------------------------------------------------------------- */

struct lw_ratelimit {
    lw_rate_t rate;
    int64_t interval_us; /* PERIOD / N */
    int64_t tau_us;      /* (B - 1) * interval: how far TAT may run ahead of now */
    int64_t last_now_us;
    table_t tab;
};

lw_ratelimit_t *lw_ratelimit_new(const lw_rate_t *rate, size_t max_keys, uint64_t seed)
{
    lw_ratelimit_t *rl = lw_calloc(1, sizeof *rl);
    rl->rate = *rate;
    if (!lw_rate_off(rate)) {
        rl->interval_us = rate->period_ms * 1000 / rate->count;
        if (rl->interval_us < 1)
            rl->interval_us = 1;
        int64_t burst = rate->burst > 0 ? rate->burst : rate->count;
        rl->rate.burst = burst;
        rl->tau_us = (burst - 1) * rl->interval_us;
        table_init(&rl->tab, max_keys < 1 ? 1 : max_keys, seed);
    }
    return rl;
}

void lw_ratelimit_free(lw_ratelimit_t *rl)
{
    if (rl == NULL)
        return;
    free(rl->tab.slots);
    free(rl);
}

static int64_t us_to_ms_ceil(int64_t us)
{
    return us <= 0 ? 0 : (us + 999) / 1000;
}

/* The decision for a key whose TAT is tat (now when unknown); fills out. */
static bool decide(const lw_ratelimit_t *rl, int64_t tat, int64_t now, int64_t *new_tat,
                   lw_ratelimit_result_t *out)
{
    if (tat < now)
        tat = now;
    int64_t allow_at = tat - rl->tau_us;
    lw_ratelimit_result_t r = {.limit = rl->rate.burst};
    if (allow_at > now) {
        r.allowed = false;
        r.retry_after_ms = us_to_ms_ceil(allow_at - now);
        r.reset_after_ms = us_to_ms_ceil(tat - now);
    } else {
        r.allowed = true;
        *new_tat = tat + rl->interval_us;
        int64_t slack = now + rl->tau_us - *new_tat;
        r.remaining = slack < 0 ? 0 : slack / rl->interval_us + 1;
        r.reset_after_ms = us_to_ms_ceil(*new_tat - now);
    }
    if (out != NULL)
        *out = r;
    return r.allowed;
}

static bool off_result(const lw_ratelimit_t *rl, lw_ratelimit_result_t *out)
{
    (void)rl;
    if (out != NULL)
        *out = (lw_ratelimit_result_t){.allowed = true};
    return true;
}

static int64_t clamp_now(const lw_ratelimit_t *rl, int64_t now_ms)
{
    int64_t now = now_ms * 1000;
    return now < rl->last_now_us ? rl->last_now_us : now;
}

bool lw_ratelimit_peek(const lw_ratelimit_t *rl, const char *key, int64_t now_ms,
                       lw_ratelimit_result_t *out)
{
    if (lw_rate_off(&rl->rate))
        return off_result(rl, out);
    int64_t now = clamp_now(rl, now_ms);
    uint64_t h = key_hash(&rl->tab, key);
    const slot_t *s = table_find(&rl->tab, h, key);
    int64_t new_tat;
    return decide(rl, s != NULL ? s->v : now, now, &new_tat, out);
}

/* A slot for a key not in the table: a free one, else an idle one (lossless), else the one
 * closest to idle (*evicted). */
static slot_t *limiter_slot(lw_ratelimit_t *rl, uint64_t h, int64_t now, bool *evicted)
{
    slot_t *idle = NULL, *coolest = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        slot_t *s = &rl->tab.slots[(h + i) & rl->tab.mask];
        if (!s->used)
            return s;
        if (idle == NULL && s->v <= now)
            idle = s;
        if (coolest == NULL || s->v < coolest->v)
            coolest = s;
    }
    if (idle != NULL)
        return idle;
    *evicted = true;
    return coolest;
}

bool lw_ratelimit_take(lw_ratelimit_t *rl, const char *key, int64_t now_ms,
                       lw_ratelimit_result_t *out)
{
    if (lw_rate_off(&rl->rate))
        return off_result(rl, out);
    int64_t now = clamp_now(rl, now_ms);
    rl->last_now_us = now;
    uint64_t h = key_hash(&rl->tab, key);
    slot_t *s = table_find(&rl->tab, h, key);
    int64_t new_tat = 0;
    lw_ratelimit_result_t r;
    if (!decide(rl, s != NULL ? s->v : now, now, &new_tat, &r)) {
        if (out != NULL)
            *out = r;
        return false;
    }
    if (s == NULL) {
        bool evicted = false;
        s = limiter_slot(rl, h, now, &evicted);
        slot_claim(&rl->tab, s, h, key);
        r.evicted = evicted;
    }
    s->v = new_tat;
    if (out != NULL)
        *out = r;
    return true;
}

size_t lw_ratelimit_size(const lw_ratelimit_t *rl)
{
    return rl->tab.n;
}

const lw_rate_t *lw_ratelimit_rate(const lw_ratelimit_t *rl)
{
    return &rl->rate;
}

/* ---- addresses --------------------------------------------------------------------------- */

void lw_ratelimit_addr_key(const char *ip, char *out, size_t out_len)
{
    if (out_len == 0)
        return;
    unsigned char a[16];
    char text[INET6_ADDRSTRLEN];
    if (ip == NULL) {
        out[0] = '\0';
        return;
    }
    if (inet_pton(AF_INET6, ip, a) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, mapped, sizeof mapped) == 0) {
            inet_ntop(AF_INET, a + 12, text, sizeof text);
            snprintf(out, out_len, "%s", text);
            return;
        }
        memset(a + 8, 0, 8);
        inet_ntop(AF_INET6, a, text, sizeof text);
        snprintf(out, out_len, "%s/64", text);
        return;
    }
    snprintf(out, out_len, "%s", ip);
}

/* ---- the gate ---------------------------------------------------------------------------- */

struct lw_gate {
    int max_per_key;
    table_t tab;
};

lw_gate_t *lw_gate_new(int max_per_key, size_t max_keys, uint64_t seed)
{
    lw_gate_t *g = lw_calloc(1, sizeof *g);
    g->max_per_key = max_per_key;
    table_init(&g->tab, max_keys < 1 ? 1 : max_keys, seed);
    return g;
}

void lw_gate_free(lw_gate_t *g)
{
    if (g == NULL)
        return;
    free(g->tab.slots);
    free(g);
}

bool lw_gate_enter(lw_gate_t *g, const char *key)
{
    if (g->max_per_key <= 0)
        return true;
    uint64_t h = key_hash(&g->tab, key);
    slot_t *s = table_find(&g->tab, h, key);
    if (s == NULL) {
        for (size_t i = 0; i < PROBE && s == NULL; i++) {
            slot_t *c = &g->tab.slots[(h + i) & g->tab.mask];
            if (!c->used)
                s = c;
        }
        if (s == NULL)
            return false;
        slot_claim(&g->tab, s, h, key);
    }
    if (s->v >= g->max_per_key)
        return false;
    s->v++;
    return true;
}

void lw_gate_leave(lw_gate_t *g, const char *key)
{
    if (g->max_per_key <= 0)
        return;
    uint64_t h = key_hash(&g->tab, key);
    slot_t *s = table_find(&g->tab, h, key);
    if (s == NULL)
        return;
    if (--s->v <= 0)
        slot_drop(&g->tab, s);
}

int lw_gate_count(const lw_gate_t *g, const char *key)
{
    uint64_t h = key_hash(&g->tab, key);
    const slot_t *s = table_find(&g->tab, h, key);
    return s != NULL ? (int)s->v : 0;
}
