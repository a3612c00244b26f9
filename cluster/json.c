/* Reals printed with the fewest digits that keep them exact (cluster/json.h). */
#include <stdio.h>
#include <stdlib.h>

#include "cluster/json.h"

#define DEPTH_MAX 64 /* deeper documents print with 17 digits: exact, and never a stack risk */

/* The digits v needs (15..17) to read back as the same double. */
static int digits_for(double v)
{
    char buf[32];
    for (int p = 15; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            return p;
    }
    return 17;
}

static int need(const json_t *j, int depth)
{
    if (depth > DEPTH_MAX)
        return 17;
    int p = 15;
    if (json_is_real(j))
        return digits_for(json_real_value(j));
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            int q = need(v, depth + 1);
            if (q > p)
                p = q;
            if (p == 17)
                break;
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            int q = need(v, depth + 1);
            if (q > p)
                p = q;
            if (p == 17)
                break;
        }
    }
    return p;
}

size_t lw_json_real_flags(const json_t *j)
{
    return JSON_REAL_PRECISION(need(j, 0));
}

char *lw_json_dumps(const json_t *j, size_t flags)
{
    return json_dumps(j, flags | lw_json_real_flags(j));
}
