/* What both converter fuzz targets check: the input's first byte picks the piece size and
 * whether a small record limit applies; every template must be an object with a sorted mask
 * of unique paths; a converter that failed stays failed with the same error. */
#ifndef DTC_FUZZ_COMMON_H
#define DTC_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dtc/conv.h"

static int fz_emit(void *arg, const dtc_template_t *t, lw_err_t *err)
{
    (void)err;
    (*(uint64_t *)arg)++;
    if (!json_is_object(t->end_device) || t->mapping_key == NULL)
        abort();
    for (size_t i = 1; i < t->npaths; i++)
        if (strcmp(t->paths[i - 1], t->paths[i]) >= 0)
            abort();
    char *s = json_dumps(t->end_device, JSON_COMPACT);
    if (s == NULL)
        abort();
    free(s);
    return 0;
}

static void fz_run(const char *format, const uint8_t *data, size_t size)
{
    if (size == 0)
        return;
    size_t piece = 1 + (data[0] & 0x3F) * 37;
    dtc_conv_opts_t opts = {.max_record = (data[0] & 0x40) != 0 ? 256 : 0};
    data++;
    size--;
    lw_err_t err;
    dtc_conv_t *c = dtc_conv_new(dtc_format_find(format), &opts, &err);
    if (c == NULL)
        abort();
    uint64_t n = 0;
    int rc = 0;
    while (size > 0 && rc == 0) {
        size_t k = piece < size ? piece : size;
        rc = dtc_conv_feed(c, data, k, fz_emit, &n, &err);
        data += k;
        size -= k;
    }
    if (rc == 0)
        rc = dtc_conv_finish(c, fz_emit, &n, &err);
    if (rc != 0) {
        lw_err_t again;
        if (err.def == NULL || dtc_conv_feed(c, "x", 1, fz_emit, &n, &again) != -1 ||
            again.def != err.def)
            abort();
    }
    if (dtc_conv_count(c) != n)
        abort();
    dtc_conv_free(c);
}

#endif
