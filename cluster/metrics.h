/* Prometheus metrics: counters, gauges and (quantile-free) summaries with up to
 * LW_METRIC_MAX_LABELS label values, rendered in the text exposition format at GET /metrics.
 *
 * Loop-thread only, handles included: values are plain doubles, not atomics. A worker
 * thread never touches a metric; it hands its figures to the loop (in its after-work
 * callback) and the loop records them.
 *
 * The hot path uses series handles, resolved once (at start-up, or when a label value such
 * as a topic first appears), so that an observation does no label-string lookup:
 *
 *     s->published = lw_metric_series(fam, (const char *const[]){topic, NULL});
 *     ...
 *     lw_metric_series_add(s->published, 1);
 *
 * lw_metric_add / _set / _observe look the series up by its label values on every call:
 * fine for rare events, not for per-message counts. */
#ifndef LW_METRICS_H
#define LW_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct lw_metrics lw_metrics_t;
typedef struct lw_metric lw_metric_t;

#define LW_METRIC_MAX_LABELS 3

lw_metrics_t *lw_metrics_new(void);
void lw_metrics_free(lw_metrics_t *m);

/* Declares a family once ("lwstack_http_requests_total", help, label names NULL-terminated
 * e.g. {"route","status",NULL}); returns the existing family when declared twice. */
lw_metric_t *lw_metrics_counter(lw_metrics_t *m, const char *name, const char *help,
                                const char *const *labels);
lw_metric_t *lw_metrics_gauge(lw_metrics_t *m, const char *name, const char *help,
                              const char *const *labels);
/* A summary without quantiles: lw_metric_observe adds to NAME_sum and NAME_count, e.g.
 * request durations in seconds (the mean is rate(_sum) / rate(_count)). */
lw_metric_t *lw_metrics_summary(lw_metrics_t *m, const char *name, const char *help,
                                const char *const *labels);
void lw_metric_observe(lw_metric_t *f, const char *const *values, double value);
/* Adds to / sets the series with the given label values (NULL-terminated, same count as
 * the family's labels; NULL for a family without labels). */
void lw_metric_add(lw_metric_t *f, const char *const *values, double delta);
void lw_metric_set(lw_metric_t *f, const char *const *values, double value);

/* The series of family f with the given label values (as for lw_metric_add), created at
 * zero when new. The handle stays valid until lw_metrics_free; asking twice for the same
 * values returns the same series. NULL when f is NULL or the family is at its series cap:
 * every lw_metric_series_* call accepts NULL and does nothing. */
typedef struct lw_metric_series lw_metric_series_t;
lw_metric_series_t *lw_metric_series(lw_metric_t *f, const char *const *values);
void lw_metric_series_add(lw_metric_series_t *s, double delta);
void lw_metric_series_set(lw_metric_series_t *s, double value);
/* Summaries only (a no-op on a counter's or gauge's series): adds value to _sum and 1 to
 * _count. */
void lw_metric_series_observe(lw_metric_series_t *s, double value);

/* Appends the exposition text to a malloc'd buffer; returns its length or -1. */
long lw_metrics_render(const lw_metrics_t *m, char **out);

#endif
