/* Prometheus metrics (metrics.h): families of counters and gauges, each a hash table of
 * series keyed by their label values, rendered in the text exposition format 0.0.4. */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/mem.h"
#include "cluster/metrics.h"

/* A family keeps at most this many series; beyond it new label combinations are dropped
 * (counted in lwstack_metrics_series_dropped_total) so that a label fed from the network
 * cannot eat the memory. */
#define LW_METRIC_MAX_SERIES 10000u

typedef enum metric_type {
    METRIC_COUNTER,
    METRIC_GAUGE,
    METRIC_SUMMARY, /* _sum and _count only, no quantiles */
} metric_type_t;

typedef struct lw_metric_series {
    struct lw_metric_series *chain; /* hash bucket */
    struct lw_metric_series *next;  /* declaration order, for rendering */
    uint32_t hash;
    metric_type_t type; /* the family's */
    double value;       /* a summary's sum */
    double count;       /* a summary's count */
    char *values[LW_METRIC_MAX_LABELS];
} series_t; /* = lw_metric_series_t */

struct lw_metric {
    lw_metrics_t *owner;
    lw_metric_t *next;
    metric_type_t type;
    char *name;
    char *help;
    int nlabels;
    char *labels[LW_METRIC_MAX_LABELS];
    series_t **buckets;
    size_t nbuckets;
    size_t count;
    series_t *first, *last;
};

struct lw_metrics {
    lw_metric_t *first, *last;
    double dropped;
};

lw_metrics_t *lw_metrics_new(void)
{
    return lw_calloc(1, sizeof(lw_metrics_t));
}

static void family_free(lw_metric_t *f)
{
    series_t *s = f->first;
    while (s != NULL) {
        series_t *n = s->next;
        for (int i = 0; i < f->nlabels; i++)
            free(s->values[i]);
        free(s);
        s = n;
    }
    for (int i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->buckets);
    free(f->name);
    free(f->help);
    free(f);
}

void lw_metrics_free(lw_metrics_t *m)
{
    if (m == NULL)
        return;
    lw_metric_t *f = m->first;
    while (f != NULL) {
        lw_metric_t *n = f->next;
        family_free(f);
        f = n;
    }
    free(m);
}

static lw_metric_t *family_declare(lw_metrics_t *m, metric_type_t type, const char *name,
                                   const char *help, const char *const *labels)
{
    if (m == NULL || name == NULL)
        return NULL;
    for (lw_metric_t *f = m->first; f != NULL; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f->type == type ? f : NULL;
    lw_metric_t *f = lw_calloc(1, sizeof *f);
    f->owner = m;
    f->type = type;
    f->name = lw_strdup(name);
    f->help = lw_strdup(help ? help : "");
    for (int i = 0; labels != NULL && labels[i] != NULL; i++) {
        if (i == LW_METRIC_MAX_LABELS) {
            family_free(f);
            return NULL;
        }
        f->labels[i] = lw_strdup(labels[i]);
        f->nlabels = i + 1;
    }
    f->nbuckets = 64;
    f->buckets = lw_calloc(f->nbuckets, sizeof *f->buckets);
    if (m->last != NULL)
        m->last->next = f;
    else
        m->first = f;
    m->last = f;
    return f;
}

lw_metric_t *lw_metrics_counter(lw_metrics_t *m, const char *name, const char *help,
                                const char *const *labels)
{
    return family_declare(m, METRIC_COUNTER, name, help, labels);
}

lw_metric_t *lw_metrics_gauge(lw_metrics_t *m, const char *name, const char *help,
                              const char *const *labels)
{
    return family_declare(m, METRIC_GAUGE, name, help, labels);
}

/* Label value i of a series being looked up: missing values read as "". */
static const char *value_at(const lw_metric_t *f, const char *const *values, int i)
{
    if (values == NULL)
        return "";
    for (int k = 0; k <= i; k++)
        if (values[k] == NULL)
            return "";
    (void)f;
    return values[i];
}

static uint32_t series_hash(const lw_metric_t *f, const char *const *values)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < f->nlabels; i++) {
        for (const unsigned char *p = (const unsigned char *)value_at(f, values, i); *p; p++)
            h = (h ^ *p) * 16777619u;
        h = (h ^ 0xffu) * 16777619u;
    }
    return h;
}

static void rehash(lw_metric_t *f)
{
    size_t nb = f->nbuckets * 2;
    series_t **b = lw_calloc(nb, sizeof *b);
    for (series_t *s = f->first; s != NULL; s = s->next) {
        s->chain = b[s->hash & (nb - 1)];
        b[s->hash & (nb - 1)] = s;
    }
    free(f->buckets);
    f->buckets = b;
    f->nbuckets = nb;
}

static series_t *series_get(lw_metric_t *f, const char *const *values)
{
    uint32_t h = series_hash(f, values);
    for (series_t *s = f->buckets[h & (f->nbuckets - 1)]; s != NULL; s = s->chain) {
        if (s->hash != h)
            continue;
        int i = 0;
        while (i < f->nlabels && strcmp(s->values[i], value_at(f, values, i)) == 0)
            i++;
        if (i == f->nlabels)
            return s;
    }
    if (f->count >= LW_METRIC_MAX_SERIES) {
        f->owner->dropped += 1;
        return NULL;
    }
    series_t *s = lw_calloc(1, sizeof *s);
    for (int i = 0; i < f->nlabels; i++)
        s->values[i] = lw_strdup(value_at(f, values, i));
    s->hash = h;
    s->type = f->type;
    if (f->last != NULL)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    f->count++;
    if (f->count > f->nbuckets)
        rehash(f);
    else {
        s->chain = f->buckets[h & (f->nbuckets - 1)];
        f->buckets[h & (f->nbuckets - 1)] = s;
    }
    return s;
}

lw_metric_t *lw_metrics_summary(lw_metrics_t *m, const char *name, const char *help,
                                const char *const *labels)
{
    return family_declare(m, METRIC_SUMMARY, name, help, labels);
}

lw_metric_series_t *lw_metric_series(lw_metric_t *f, const char *const *values)
{
    return f != NULL ? series_get(f, values) : NULL;
}

void lw_metric_series_add(lw_metric_series_t *s, double delta)
{
    if (s != NULL)
        s->value += delta;
}

void lw_metric_series_set(lw_metric_series_t *s, double value)
{
    if (s != NULL)
        s->value = value;
}

void lw_metric_series_observe(lw_metric_series_t *s, double value)
{
    if (s == NULL || s->type != METRIC_SUMMARY)
        return;
    s->value += value;
    s->count += 1;
}

void lw_metric_observe(lw_metric_t *f, const char *const *values, double value)
{
    if (f != NULL && f->type == METRIC_SUMMARY)
        lw_metric_series_observe(lw_metric_series(f, values), value);
}

void lw_metric_add(lw_metric_t *f, const char *const *values, double delta)
{
    lw_metric_series_add(lw_metric_series(f, values), delta);
}

void lw_metric_set(lw_metric_t *f, const char *const *values, double value)
{
    lw_metric_series_set(lw_metric_series(f, values), value);
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf_t;

static void sb_reserve(sbuf_t *b, size_t n)
{
    if (b->cap - b->len > n)
        return;
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap - b->len <= n)
        ncap *= 2;
    b->p = lw_realloc(b->p, ncap);
    b->cap = ncap;
}

static void sb_putn(sbuf_t *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sbuf_t *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

/* Exposition format escaping: HELP escapes \ and newline; label values also ". */
static void sb_escaped(sbuf_t *b, const char *s, bool quote)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\\')
            sb_putn(b, "\\\\", 2);
        else if (*p == '\n')
            sb_putn(b, "\\n", 2);
        else if (*p == '"' && quote)
            sb_putn(b, "\\\"", 2);
        else
            sb_putn(b, p, 1);
    }
}

static void sb_value(sbuf_t *b, double v)
{
    char num[40];
    if (isnan(v))
        snprintf(num, sizeof num, "NaN");
    else if (isinf(v))
        snprintf(num, sizeof num, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 9007199254740992.0)
        snprintf(num, sizeof num, "%.0f", v);
    else {
        /* The shortest of %.15g and %.17g that reads back as v. */
        snprintf(num, sizeof num, "%.15g", v);
        if (strtod(num, NULL) != v)
            snprintf(num, sizeof num, "%.17g", v);
    }
    sb_puts(b, num);
}

static void render_family(sbuf_t *b, const char *name, const char *help, const char *type)
{
    sb_puts(b, "# HELP ");
    sb_puts(b, name);
    sb_puts(b, " ");
    sb_escaped(b, help, false);
    sb_puts(b, "\n# TYPE ");
    sb_puts(b, name);
    sb_puts(b, " ");
    sb_puts(b, type);
    sb_puts(b, "\n");
}

static void render_series(sbuf_t *b, const lw_metric_t *f, const series_t *s, const char *suffix,
                          double value)
{
    sb_puts(b, f->name);
    sb_puts(b, suffix);
    if (f->nlabels > 0) {
        sb_puts(b, "{");
        for (int i = 0; i < f->nlabels; i++) {
            if (i > 0)
                sb_puts(b, ",");
            sb_puts(b, f->labels[i]);
            sb_puts(b, "=\"");
            sb_escaped(b, s->values[i], true);
            sb_puts(b, "\"");
        }
        sb_puts(b, "}");
    }
    sb_puts(b, " ");
    sb_value(b, value);
    sb_puts(b, "\n");
}

static const char *type_name(metric_type_t t)
{
    switch (t) {
    case METRIC_COUNTER:
        return "counter";
    case METRIC_GAUGE:
        return "gauge";
    case METRIC_SUMMARY:
    default:
        return "summary";
    }
}

long lw_metrics_render(const lw_metrics_t *m, char **out)
{
    sbuf_t b = {0};
    *out = NULL;
    sb_reserve(&b, 1);
    b.p[0] = '\0';
    for (const lw_metric_t *f = m ? m->first : NULL; f != NULL; f = f->next) {
        render_family(&b, f->name, f->help, type_name(f->type));
        if (f->nlabels == 0 && f->first == NULL) {
            if (f->type == METRIC_SUMMARY) {
                sb_puts(&b, f->name);
                sb_puts(&b, "_sum 0\n");
                sb_puts(&b, f->name);
                sb_puts(&b, "_count 0\n");
            } else {
                sb_puts(&b, f->name);
                sb_puts(&b, " 0\n");
            }
        }
        for (const series_t *s = f->first; s != NULL; s = s->next) {
            if (f->type == METRIC_SUMMARY) {
                render_series(&b, f, s, "_sum", s->value);
                render_series(&b, f, s, "_count", s->count);
            } else {
                render_series(&b, f, s, "", s->value);
            }
        }
    }
    if (m != NULL && m->dropped > 0) {
        render_family(&b, "lwstack_metrics_series_dropped_total",
                      "Series not recorded because a family reached its series limit.", "counter");
        sb_puts(&b, "lwstack_metrics_series_dropped_total ");
        sb_value(&b, m->dropped);
        sb_puts(&b, "\n");
    }
    *out = b.p;
    return (long)b.len;
}
