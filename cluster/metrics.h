/* Prometheus metrics: counters, gauges and (quantile-free) summaries with up to
 * LW_METRIC_MAX_LABELS label values, rendered in the text exposition format at GET /metrics.
 * Loop-thread only. */
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

/* Appends the exposition text to a malloc'd buffer; returns its length or -1. */
long lw_metrics_render(const lw_metrics_t *m, char **out);

#endif
