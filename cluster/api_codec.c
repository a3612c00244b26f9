/* The pure helpers of every API (api_codec.h). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/api_codec.h"

/* ---- errors ------------------------------------------------------------------------------ */

int lw_api_invalid(lw_err_t *err, const char *field, const char *fmt, ...)
{
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    lw_err_set(err, &lw_err_invalid_field, "invalid `%s`: %s", field, why);
    lw_err_attr(err, "field", field);
    return -1;
}

int lw_api_unknown(lw_err_t *err, const char *field)
{
    lw_err_set(err, &lw_err_unknown_field, "unknown field `%.64s`", field);
    lw_err_attr(err, "field", field);
    return -1;
}

static bool in_list(const char *const *list, const char *s)
{
    for (const char *const *a = list; a != NULL && *a != NULL; a++)
        if (strcmp(*a, s) == 0)
            return true;
    return false;
}

int lw_api_check_keys(const json_t *obj, const char *const *allowed, const char *const *extra,
                      lw_err_t *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        if (!in_list(allowed, key) && !in_list(extra, key))
            return lw_api_unknown(err, key);
    }
    return 0;
}

/* ---- field masks ------------------------------------------------------------------------- */

static bool path_read_only(const char *path)
{
    return strcmp(path, "ids") == 0 || strncmp(path, "ids.", 4) == 0 ||
           strcmp(path, "created_at") == 0 || strcmp(path, "updated_at") == 0 ||
           strcmp(path, "deleted_at") == 0;
}

/* path is one of list or below one ("a.b" under "a"). */
static bool under_list(const char *const *list, const char *path)
{
    for (int i = 0; list[i] != NULL; i++) {
        size_t n = strlen(list[i]);
        if (strncmp(path, list[i], n) == 0 && (path[n] == '\0' || path[n] == '.'))
            return true;
    }
    return false;
}

static int mask_add(const lw_api_fields_t *f, const char *path, const char *field, lw_api_mask_t *m,
                    lw_err_t *err)
{
    size_t plen = f->prefix != NULL ? strlen(f->prefix) : 0;
    if (plen > 0 && strncmp(path, f->prefix, plen) == 0 && path[plen] != '\0')
        path += plen;
    size_t len = strlen(path);
    if (len == 0 || path_read_only(path))
        return 0;
    if (len >= LW_API_PATH_MAX)
        return lw_api_invalid(err, field, "path too long");
    bool known = f->paths == NULL ? f->known(f->arg, path)
                 : f->subpaths    ? under_list(f->paths, path)
                                  : in_list(f->paths, path);
    if (!known) {
        lw_api_invalid(err, field, "unknown path `%.63s`", path);
        lw_err_attr(err, "path", path);
        return -1;
    }
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->paths[i], path) == 0)
            return 0;
    if (m->n >= LW_API_MASK_MAX)
        return lw_api_invalid(err, field, "too many paths");
    memcpy(m->paths[m->n++], path, len + 1);
    return 0;
}

int lw_api_mask_parse_csv(const lw_api_fields_t *f, const char *csv, const char *field,
                          lw_api_mask_t *m, lw_err_t *err)
{
    m->n = 0;
    if (csv == NULL)
        return 0;
    const char *p = csv;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        char path[128];
        if (n >= sizeof path)
            return lw_api_invalid(err, field, "path too long");
        memcpy(path, p, n);
        path[n] = '\0';
        if (mask_add(f, path, field, m, err) != 0)
            return -1;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

int lw_api_mask_parse_json(const lw_api_fields_t *f, const json_t *fm, const char *field,
                           lw_api_mask_t *m, lw_err_t *err)
{
    m->n = 0;
    if (fm == NULL || json_is_null(fm))
        return 0;
    if (!json_is_object(fm))
        return lw_api_invalid(err, field, "must be {\"paths\":[...]}");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)fm, key, v)
    {
        if (strcmp(key, "paths") != 0) {
            char path[192];
            snprintf(path, sizeof path, "%.120s.%.60s", field, key);
            return lw_api_unknown(err, path);
        }
    }
    json_t *paths = json_object_get(fm, "paths");
    if (paths == NULL)
        return 0;
    if (!json_is_array(paths))
        return lw_api_invalid(err, field, "paths must be an array");
    size_t i;
    json_array_foreach(paths, i, v)
    {
        if (!json_is_string(v))
            return lw_api_invalid(err, field, "paths must be strings");
        if (mask_add(f, json_string_value(v), field, m, err) != 0)
            return -1;
    }
    return 0;
}

bool lw_api_mask_has(const lw_api_mask_t *m, const char *path)
{
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->paths[i], path) == 0)
            return true;
    return false;
}

bool lw_api_mask_selects(const lw_api_mask_t *m, const char *path)
{
    size_t n = strlen(path);
    for (int i = 0; i < m->n; i++) {
        const char *p = m->paths[i];
        size_t k = strlen(p);
        if (k <= n && strncmp(path, p, k) == 0 && (path[k] == '\0' || path[k] == '.'))
            return true;
        if (k > n && strncmp(p, path, n) == 0 && p[n] == '.')
            return true;
    }
    return false;
}

/* ---- paging and order -------------------------------------------------------------------- */

/* Digits only (no sign, blanks or exponent), at most max: the one reader of counts from
 * request text, for query values and JSON strings alike. Returns 0 or -1. */
static int parse_decimal(const char *s, long long max, long long *out)
{
    if (s == NULL || !isdigit((unsigned char)*s))
        return -1;
    long long v = 0;
    for (; *s != '\0'; s++) {
        if (!isdigit((unsigned char)*s))
            return -1;
        int d = *s - '0';
        if (v > (max - d) / 10)
            return -1; /* above max, however many digits follow: never clamped */
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int parse_count(const char *s, const char *field, long max, long *out, lw_err_t *err)
{
    *out = 0;
    if (s == NULL || *s == '\0')
        return 0;
    long long v;
    if (parse_decimal(s, max, &v) != 0)
        return lw_api_invalid(err, field, "must be an integer from 0 to %ld", max);
    *out = (long)v;
    return 0;
}

int lw_api_uint_decode(const json_t *v, const char *field, long long max, long long *out,
                       lw_err_t *err)
{
    long long n = -1;
    if (json_is_integer(v)) {
        n = json_integer_value(v);
        if (n < 0 || n > max)
            n = -1;
    } else if (json_is_string(v)) {
        if (strlen(json_string_value(v)) != json_string_length(v) ||
            parse_decimal(json_string_value(v), max, &n) != 0)
            n = -1;
    }
    if (n < 0)
        return lw_api_invalid(err, field, "must be an integer from 0 to %lld", max);
    *out = n;
    return 0;
}

int lw_api_page_parse(const char *limit, const char *page, long max_limit, lw_api_page_t *p,
                      lw_err_t *err)
{
    if (parse_count(limit, "limit", max_limit, &p->limit, err) != 0 ||
        parse_count(page, "page", LW_API_PAGE_MAX, &p->page, err) != 0)
        return -1;
    if (p->limit == 0)
        p->limit = max_limit;
    if (p->page == 0)
        p->page = 1;
    return 0;
}

long lw_api_page_offset(const lw_api_page_t *p)
{
    return p->page > 1 ? (p->page - 1) * p->limit : 0;
}

int lw_api_page_sql(char *buf, size_t len, const char *cols, const char *from_where,
                    const char *order, const lw_api_page_t *p)
{
    int n = snprintf(buf, len,
                     "SELECT t.total, p.* FROM (SELECT count(*) AS total FROM %s) t LEFT JOIN "
                     "LATERAL (SELECT %s FROM %s ORDER BY %s LIMIT %ld OFFSET %ld) p ON true",
                     from_where, cols, from_where, order, p->limit, lw_api_page_offset(p));
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int lw_api_order_parse(const char *order, const lw_api_order_t *table, size_t n, const char **sql,
                       lw_err_t *err)
{
    if (order == NULL || *order == '\0') {
        *sql = table[0].asc;
        return 0;
    }
    bool desc = order[0] == '-';
    const char *name = desc ? order + 1 : order;
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].name, name) == 0) {
            *sql = desc ? table[i].desc : table[i].asc;
            return 0;
        }
    char choices[200] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(choices + strlen(choices), sizeof choices - strlen(choices), "%s%s",
                 i > 0 ? ", " : "", table[i].name);
    return lw_api_invalid(err, "order",
                          "cannot order by `%.40s` (one of %s, optionally "
                          "prefixed with -)",
                          name, choices);
}

/* ---- RFC 3339 times ---------------------------------------------------------------------- */

void lw_api_time_format(const struct timespec *ts, char out[LW_API_TIME_LEN])
{
    struct tm tm;
    gmtime_r(&ts->tv_sec, &tm);
    char date[LW_API_TIME_LEN];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    unsigned us = (unsigned)(ts->tv_nsec / 1000) % 1000000u;
    snprintf(out, LW_API_TIME_LEN, "%.20s.%06uZ", date, us);
}

static bool time_fields_ok(int mo, int d, int h, int mi, int se)
{
    return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && se < 61;
}

bool lw_api_time_valid(const char *s)
{
    int y, mo, d, h, mi, se, n = 0;
    if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 ||
        n != 19)
        return false;
    const char *p = s + n;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (strcmp(p, "Z") == 0)
        return time_fields_ok(mo, d, h, mi, se);
    int oh, om;
    n = 0;
    if ((*p != '+' && *p != '-') || sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 ||
        p[6] != '\0')
        return false;
    return time_fields_ok(mo, d, h, mi, se);
}

int64_t lw_api_time_parse(const char *s)
{
    if (!lw_api_time_valid(s))
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int n = 0;
    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
           &tm.tm_min, &tm.tm_sec, &n);
    const char *p = s + n;
    int64_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++)
            if (digits++ < 9)
                frac = frac * 10 + (*p - '0');
        for (; digits < 9; digits++)
            frac *= 10;
    }
    int64_t off = 0;
    if (*p == '+' || *p == '-') {
        int oh = 0, om = 0;
        sscanf(p + 1, "%2d:%2d", &oh, &om);
        off = (int64_t)(oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    /* Nanoseconds in an int64_t end in 2262. */
    if (t == (time_t)-1 || (int64_t)t - off < 0 || (int64_t)t - off > INT64_MAX / 1000000000 - 1)
        return -1;
    return ((int64_t)t - off) * 1000000000 + frac;
}

/* ---- unique violations ------------------------------------------------------------------- */

static const char *err_attr(const lw_err_t *err, const char *key)
{
    for (int i = 0; i < err->nattrs; i++)
        if (strcmp(err->attrs[i].key, key) == 0)
            return err->attrs[i].value;
    return "";
}

void lw_api_conflict_map(const lw_api_conflict_t *c, int n, const lw_err_t *in, lw_err_t *out)
{
    *out = *in;
    if (in->def != &lw_err_db_unique_violation)
        return;
    const char *constraint = err_attr(in, "constraint");
    const lw_api_conflict_t *hit = NULL;
    for (int i = 0; i < n && hit == NULL; i++)
        if (c[i].constraint[0] != '\0' && strstr(constraint, c[i].constraint) != NULL)
            hit = &c[i];
    for (int i = 0; i < n && hit == NULL; i++)
        if (c[i].constraint[0] == '\0')
            hit = &c[i];
    if (hit == NULL)
        return;
    lw_err_set(out, &lw_err_already_exists, "%s", hit->message);
    if (hit->id[0] != '\0')
        lw_err_attr(out, "id", hit->id);
}
