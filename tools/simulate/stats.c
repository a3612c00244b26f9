/* Latency figures: samples kept (up to a cap) and sorted once for percentiles. */
#include <stdlib.h>

#include "cluster/mem.h"
#include "sim_private.h"

void sim_lat_add(sim_lat_t *l, int64_t us)
{
    if (l->count == 0 || us < l->min)
        l->min = us;
    if (l->count == 0 || us > l->max)
        l->max = us;
    l->count++;
    l->sum += us;
    if (l->n >= SIM_LAT_MAX_SAMPLES)
        return;
    if (l->n == l->cap) {
        l->cap = l->cap == 0 ? 1024 : l->cap * 2;
        l->v = lw_realloc(l->v, l->cap * sizeof l->v[0]);
    }
    l->v[l->n++] = us;
    l->sorted = false;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int64_t sim_lat_pct(sim_lat_t *l, double p)
{
    if (l->n == 0)
        return 0;
    if (!l->sorted) {
        qsort(l->v, l->n, sizeof l->v[0], cmp_i64);
        l->sorted = true;
    }
    /* Nearest rank: the smallest sample with at least p% of the samples at or below it. */
    double rank = p / 100.0 * (double)l->n;
    size_t k = (size_t)rank;
    if ((double)k < rank)
        k++;
    if (k == 0)
        k = 1;
    if (k > l->n)
        k = l->n;
    return l->v[k - 1];
}

void sim_lat_free(sim_lat_t *l)
{
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

json_t *sim_lat_json(sim_lat_t *l)
{
    if (l->count == 0)
        return json_null();
    return json_pack("{sIsIsIsIsIsI}", "count", (json_int_t)l->count, "p50",
                     (json_int_t)sim_lat_pct(l, 50), "p99", (json_int_t)sim_lat_pct(l, 99), "min",
                     (json_int_t)l->min, "max", (json_int_t)l->max, "mean",
                     (json_int_t)(l->sum / (int64_t)l->count));
}
