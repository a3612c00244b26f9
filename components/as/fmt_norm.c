/* The normalized payload's rules (The Things Stack's pkg/messageprocessors/normalizedpayload):
 * a measurement is an object of known fields (time, soil.*, air.*, wind.*), each of its type;
 * a value out of its range is dropped with a warning ("measurement 1: `air.pressure` should be
 * equal or greater than `900`"), an unknown field or a wrong type rejects the whole payload. */
#include <stdio.h>
#include <string.h>

#include "as/fmt_private.h"

enum { F_OBJECT, F_TIME, F_NUMBER };

typedef struct field {
    const char *path;
    int kind;
    bool has_min, has_max, max_exclusive;
    double min, max;
} field_t;

#define NUM(p)                                                                                     \
    {                                                                                              \
        p, F_NUMBER, false, false, false, 0, 0                                                     \
    }
#define AT_LEAST(p, lo)                                                                            \
    {                                                                                              \
        p, F_NUMBER, true, false, false, lo, 0                                                     \
    }
#define RANGE(p, lo, hi)                                                                           \
    {                                                                                              \
        p, F_NUMBER, true, true, false, lo, hi                                                     \
    }
#define PERCENT(p) RANGE(p, 0.0, 100.0)
#define PPM(p)     RANGE(p, 0.0, 1000000.0)

static const field_t fields[] = {
    {"time", F_TIME, false, false, false, 0, 0},
    {"soil", F_OBJECT, false, false, false, 0, 0},
    AT_LEAST("soil.depth", 0.0),
    PERCENT("soil.moisture"),
    AT_LEAST("soil.temperature", -273.15),
    RANGE("soil.ec", 0.0, 621.0),
    RANGE("soil.pH", 0.0, 14.0),
    PPM("soil.n"),
    PPM("soil.p"),
    PPM("soil.k"),
    {"air", F_OBJECT, false, false, false, 0, 0},
    AT_LEAST("air.temperature", -273.15),
    PERCENT("air.relativeHumidity"),
    RANGE("air.pressure", 900.0, 1100.0),
    PPM("air.co2"),
    AT_LEAST("air.lightIntensity", 0.0),
    {"wind", F_OBJECT, false, false, false, 0, 0},
    AT_LEAST("wind.speed", 0.0),
    {"wind.direction", F_NUMBER, true, true, true, 0.0, 360.0},
};

static const field_t *field_find(const char *path)
{
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strcmp(fields[i].path, path) == 0)
            return &fields[i];
    return NULL;
}

static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* Go's time.Parse(time.RFC3339Nano, s): 2006-01-02T15:04:05[.999999999](Z|±07:00). */
static bool rfc3339(const char *s)
{
    size_t n = strlen(s);
    if (n < 20 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2) || s[10] != 'T' || !digits(s + 11, 2) || s[13] != ':' ||
        !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
        return false;
    int mon = (s[5] - '0') * 10 + (s[6] - '0'), day = (s[8] - '0') * 10 + (s[9] - '0');
    int hh = (s[11] - '0') * 10 + (s[12] - '0'), mm = (s[14] - '0') * 10 + (s[15] - '0');
    int ss = (s[17] - '0') * 10 + (s[18] - '0');
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 59)
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        int k = 0;
        while (p[k] >= '0' && p[k] <= '9')
            k++;
        if (k == 0 || k > 9)
            return false;
        p += k;
    }
    if (strcmp(p, "Z") == 0)
        return true;
    return (p[0] == '+' || p[0] == '-') && strlen(p) == 6 && digits(p + 1, 2) && p[3] == ':' &&
           digits(p + 4, 2);
}

enum { W_MIN, W_MAX, W_MAX_EXCLUSIVE };

static void warn(json_t *warnings, int index, int kind, const char *path, double bound)
{
    if (warnings == NULL)
        return;
    char msg[256];
    const char *rel = kind == W_MIN   ? "equal or greater than"
                      : kind == W_MAX ? "equal or less than"
                                      : "less than";
    snprintf(msg, sizeof msg, "measurement %d: `%s` should be %s `%g`", index, path, rel, bound);
    json_array_append_new(warnings, json_string(msg));
}

/* Parses src (an object) at prefix into valid; returns 0, or -1 on an unknown field or a
 * wrong type (*why names the path). */
static int parse(const json_t *src, const char *prefix, json_t *valid, json_t *warnings, int index,
                 char *why, size_t why_len)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)src, k, v)
    {
        char path[128];
        snprintf(path, sizeof path, "%s%s", prefix, k);
        const field_t *f = field_find(path);
        if (f == NULL) {
            snprintf(why, why_len, "unknown field `%s`", path);
            return -1;
        }
        switch (f->kind) {
        case F_OBJECT: {
            if (!json_is_object(v)) {
                snprintf(why, why_len, "invalid field type of `%s`", path);
                return -1;
            }
            char sub[130];
            snprintf(sub, sizeof sub, "%s.", path);
            json_t *nested = json_object();
            if (parse(v, sub, nested, warnings, index, why, why_len) != 0) {
                json_decref(nested);
                return -1;
            }
            if (json_object_size(nested) > 0)
                json_object_set_new(valid, k, nested);
            else
                json_decref(nested);
            break;
        }
        case F_TIME:
            if (!json_is_string(v)) {
                snprintf(why, why_len, "invalid field type of `%s`", path);
                return -1;
            }
            if (!rfc3339(json_string_value(v))) {
                snprintf(why, why_len, "invalid time of `%s`", path);
                return -1;
            }
            json_object_set(valid, k, v);
            break;
        case F_NUMBER: {
            if (!json_is_number(v)) {
                snprintf(why, why_len, "invalid field type of `%s`", path);
                return -1;
            }
            double n = json_number_value(v);
            bool ok = true;
            if (f->has_min && n < f->min) {
                warn(warnings, index, W_MIN, path, f->min);
                ok = false;
            }
            if (f->has_max && !f->max_exclusive && n > f->max) {
                warn(warnings, index, W_MAX, path, f->max);
                ok = false;
            }
            if (f->has_max && f->max_exclusive && n >= f->max) {
                warn(warnings, index, W_MAX_EXCLUSIVE, path, f->max);
                ok = false;
            }
            if (ok)
                json_object_set(valid, k, v);
            break;
        }
        }
    }
    return 0;
}

int fmt_norm_parse(const json_t *measurements, json_t **valid, json_t *warnings, char *why,
                   size_t why_len)
{
    *valid = NULL;
    json_t *out = json_array();
    size_t i;
    json_t *m;
    json_array_foreach((json_t *)measurements, i, m)
    {
        if (!json_is_object(m)) {
            snprintf(why, why_len, "measurement %zu is not an object", i + 1);
            json_decref(out);
            return -1;
        }
        json_t *v = json_object();
        if (parse(m, "", v, warnings, (int)i + 1, why, why_len) != 0) {
            json_decref(v);
            json_decref(out);
            return -1;
        }
        if (json_object_size(v) > 0)
            json_array_append_new(out, v);
        else
            json_decref(v);
    }
    *valid = out;
    return 0;
}
