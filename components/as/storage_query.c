/* The Storage Integration's pure part: GetStoredApplicationUp(Count) parameters as TTS's HTTP
 * gateway takes them, the SQL they select with, field masks on an ApplicationUp and the
 * `{"result": ...}` lines of a server stream. No I/O, no clock (the caller passes `now`). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "as/storage_private.h"
#include "cluster/api_codec.h"

/* TTS GetStoredApplicationUpRequest.type (validate.rules in), "" (all types) left out: the
 * HTTP route always names one. */
static const char *const stq_types[] = {
    "uplink_message",  "uplink_normalized", "join_accept",
    "downlink_ack",    "downlink_nack",     "downlink_sent",
    "downlink_failed", "downlink_queued",   "downlink_queue_invalidated",
    "location_solved", "service_data",      NULL,
};

#define STQ_TYPES_TEXT                                                                             \
    "uplink_message, uplink_normalized, join_accept, downlink_ack, downlink_nack, "                \
    "downlink_sent, downlink_failed, downlink_queued, downlink_queue_invalidated, "                \
    "location_solved, service_data"

#define STQ_COUNT_TYPES_TEXT                                                                       \
    "uplink_message, join_accept, downlink_ack, downlink_nack, downlink_sent, "                    \
    "downlink_failed, downlink_queued, downlink_queue_invalidated, location_solved, "              \
    "service_data"

bool as_stq_type_valid(const char *type, bool count)
{
    if (type == NULL)
        return false;
    if (count && strcmp(type, "uplink_normalized") == 0)
        return false;
    for (size_t i = 0; stq_types[i] != NULL; i++)
        if (strcmp(type, stq_types[i]) == 0)
            return true;
    return false;
}

/* ---- Go durations ----------------------------------------------------------------------- */

static int64_t unit_ns(const char *s, size_t *n)
{
    static const struct {
        const char *name;
        int64_t ns;
    } units[] = {
        {"ns", 1},
        {"us", 1000},
        {"\xc2\xb5s", 1000}, /* U+00B5 micro sign */
        {"\xce\xbcs", 1000}, /* U+03BC Greek mu */
        {"ms", 1000000},
        {"s", 1000000000},
        {"m", 60ll * 1000000000},
        {"h", 3600ll * 1000000000},
    };
    /* Longest first matters for "ms" against "m": try two-byte and longer names first. */
    size_t best = 0;
    int64_t v = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        size_t l = strlen(units[i].name);
        if (l > best && strncmp(s, units[i].name, l) == 0) {
            best = l;
            v = units[i].ns;
        }
    }
    *n = best;
    return v;
}

int as_stq_duration_parse(const char *s, int64_t *ns)
{
    if (s == NULL || *s == '\0')
        return -1;
    if (*s == '+')
        s++;
    if (strcmp(s, "0") == 0) {
        *ns = 0;
        return 0;
    }
    if (*s == '\0')
        return -1;
    int64_t total = 0;
    while (*s != '\0') {
        if (!isdigit((unsigned char)*s) && *s != '.')
            return -1;
        int64_t whole = 0, frac = 0, scale = 1;
        bool digits = false;
        while (isdigit((unsigned char)*s)) {
            if (whole > (INT64_MAX - 9) / 10)
                return -1;
            whole = whole * 10 + (*s++ - '0');
            digits = true;
        }
        if (*s == '.') {
            s++;
            while (isdigit((unsigned char)*s)) {
                if (scale < 1000000000000000000ll) { /* digits beyond 1e-18 do not count */
                    frac = frac * 10 + (*s - '0');
                    scale *= 10;
                }
                s++;
                digits = true;
            }
        }
        if (!digits)
            return -1;
        size_t ul;
        int64_t u = unit_ns(s, &ul);
        if (ul == 0)
            return -1;
        s += ul;
        if (whole > INT64_MAX / u)
            return -1;
        int64_t v = whole * u;
        /* frac / scale of a unit, without overflow: u <= 3.6e12, frac < scale <= 1e18 */
        v += (int64_t)((long double)frac * (long double)u / (long double)scale);
        if (v < 0 || total > INT64_MAX - v)
            return -1;
        total += v;
    }
    *ns = total;
    return 0;
}

/* ---- parameters ------------------------------------------------------------------------- */

static int uint_param(const char *v, const char *name, uint64_t max, uint64_t *out, lw_err_t *err)
{
    if (v[0] == '\0')
        return lw_api_invalid(err, name, "an integer from 0 to %llu expected",
                              (unsigned long long)max);
    uint64_t n = 0;
    for (const char *p = v; *p != '\0'; p++) {
        if (!isdigit((unsigned char)*p) || n > max)
            return lw_api_invalid(err, name, "an integer from 0 to %llu expected",
                                  (unsigned long long)max);
        n = n * 10 + (uint64_t)(*p - '0');
    }
    if (n > max)
        return lw_api_invalid(err, name, "an integer from 0 to %llu expected",
                              (unsigned long long)max);
    *out = n;
    return 0;
}

static bool seg_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* One field_mask path into q->mask: validated, "up." dropped, duplicates once. */
static int mask_add(as_stq_t *q, const char *path, size_t len, lw_err_t *err)
{
    char p[AS_STQ_PATH_MAX];
    if (len == 0 || len >= sizeof p)
        return lw_api_invalid(err, "field_mask", "unknown path `%.*s`", (int)(len < 64 ? len : 64),
                              path);
    memcpy(p, path, len);
    p[len] = '\0';
    bool ok = true;
    for (size_t i = 0; i < len && ok; i++)
        ok = seg_char(p[i]) || (p[i] == '.' && i > 0 && i + 1 < len && p[i + 1] != '.');
    const char *json = p;
    if (ok) {
        char first[AS_STQ_PATH_MAX];
        size_t fl = strcspn(p, ".");
        memcpy(first, p, fl);
        first[fl] = '\0';
        if (strcmp(first, "up") == 0) {
            if (p[fl] == '\0') {
                json = "up"; /* every message field: kept as "up" (see mask_filter) */
            } else {
                json = p + fl + 1;
                size_t tl = strcspn(json, ".");
                char t[AS_STQ_PATH_MAX];
                memcpy(t, json, tl);
                t[tl] = '\0';
                ok = as_stq_type_valid(t, false);
            }
        } else {
            static const char *const top[] = {"correlation_ids", "end_device_ids", "received_at",
                                              "simulated", NULL};
            bool known = as_stq_type_valid(first, false); /* "uplink_message..." without "up." */
            for (size_t i = 0; top[i] != NULL && !known; i++)
                known = strcmp(first, top[i]) == 0;
            ok = known;
        }
    }
    if (!ok)
        return lw_api_invalid(err, "field_mask", "unknown path `%s`", p);
    for (size_t i = 0; i < q->nmask; i++)
        if (strcmp(q->mask[i], json) == 0)
            return 0;
    if (q->nmask >= AS_STQ_MASK_MAX)
        return lw_api_invalid(err, "field_mask", "at most %u paths", AS_STQ_MASK_MAX);
    snprintf(q->mask[q->nmask++], AS_STQ_PATH_MAX, "%s", json);
    return 0;
}

static int time_param(const char *v, const char *name, char out[40], lw_err_t *err)
{
    if (strlen(v) >= 40 || !lw_api_time_valid(v))
        return lw_api_invalid(err, name, "an RFC 3339 time expected (2020-08-20T00:00:00Z)");
    snprintf(out, 40, "%s", v);
    return 0;
}

int as_stq_parse(as_stq_param_fn param, void *arg, const char *type, bool count,
                 const as_storage_limits_t *lim, as_stq_t *q, lw_err_t *err)
{
    memset(q, 0, sizeof *q);
    q->count = count;
    if (type == NULL || strlen(type) >= sizeof q->type || !as_stq_type_valid(type, count))
        return lw_api_invalid(err, "type", "unknown message type `%.32s`: one of %s expected",
                              type != NULL ? type : "",
                              count ? STQ_COUNT_TYPES_TEXT : STQ_TYPES_TEXT);
    snprintf(q->type, sizeof q->type, "%s", type);

    const char *v;
    if ((v = param(arg, "after")) != NULL && time_param(v, "after", q->after, err) != 0)
        return -1;
    if ((v = param(arg, "before")) != NULL && time_param(v, "before", q->before, err) != 0)
        return -1;
    if ((v = param(arg, "last")) != NULL) {
        if (q->after[0] != '\0' || q->before[0] != '\0')
            return lw_api_invalid(err, "last", "cannot be used with `after` or `before`");
        if (as_stq_duration_parse(v, &q->last_ns) != 0 || q->last_ns <= 0)
            return lw_api_invalid(err, "last", "a positive duration expected (10m, 1h30m, 600s)");
    }
    uint64_t n;
    if ((v = param(arg, "f_port")) != NULL) {
        if (uint_param(v, "f_port", 255, &n, err) != 0)
            return -1;
        q->has_f_port = true;
        q->f_port = (uint32_t)n;
    }
    if (count)
        return 0;

    q->limit = lim->default_limit;
    if ((v = param(arg, "limit")) != NULL) {
        if (uint_param(v, "limit", UINT32_MAX, &n, err) != 0)
            return -1;
        if (n > 0)
            q->limit = n > lim->max_limit ? lim->max_limit : (uint32_t)n;
    }
    if ((v = param(arg, "order")) != NULL) {
        if (strcmp(v, "") == 0 || strcmp(v, "received_at") == 0)
            q->order = AS_STQ_ASC;
        else if (strcmp(v, "-received_at") == 0)
            q->order = AS_STQ_DESC;
        else
            return lw_api_invalid(err, "order", "`received_at` or `-received_at` expected");
    }
    if ((v = param(arg, "field_mask")) != NULL) {
        while (*v != '\0') {
            size_t l = strcspn(v, ",");
            if (l > 0 && mask_add(q, v, l, err) != 0)
                return -1;
            v += l;
            if (*v == ',')
                v++;
        }
    }
    return 0;
}

void as_stq_resolve(as_stq_t *q, int64_t now_ns)
{
    if (q->last_ns <= 0)
        return;
    as_time_text(now_ns - q->last_ns, q->after);
    q->last_ns = 0;
}

/* ---- SQL ---------------------------------------------------------------------------------- */

int as_stq_params(const as_stq_t *q, char fport_buf[12], const char *out[6])
{
    int n = 0;
    out[n++] = q->type;
    if (q->after[0] != '\0')
        out[n++] = q->after;
    if (q->before[0] != '\0')
        out[n++] = q->before;
    if (q->has_f_port) {
        snprintf(fport_buf, 12, "%u", q->f_port);
        out[n++] = fport_buf;
    }
    if (!q->count && q->cursor_at[0] != '\0') {
        out[n++] = q->cursor_at;
        out[n++] = q->cursor_uid;
    }
    return n;
}

int as_stq_sql(const as_stq_t *q, const char *schema, bool with_dev, uint32_t rows, char *buf,
               size_t len)
{
    char where[480];
    int k = with_dev ? 3 : 2; /* the next parameter */
    int w = snprintf(where, sizeof where, "application_id = $1%s AND type = $%d",
                     with_dev ? " AND device_id = $2" : "", k++);
    if (q->after[0] != '\0')
        w += snprintf(where + w, sizeof where - (size_t)w, " AND received_at > $%d::timestamptz",
                      k++);
    if (q->before[0] != '\0')
        w += snprintf(where + w, sizeof where - (size_t)w, " AND received_at < $%d::timestamptz",
                      k++);
    if (q->has_f_port)
        w += snprintf(where + w, sizeof where - (size_t)w, " AND f_port = $%d::integer", k++);
    if (!q->count && q->cursor_at[0] != '\0') {
        /* the next page: past the last row answered, in the query's order */
        w += snprintf(where + w, sizeof where - (size_t)w,
                      " AND (received_at, uid) %s ($%d::timestamptz, $%d::uuid)",
                      q->order == AS_STQ_DESC ? "<" : ">", k, k + 1);
        k += 2;
    }
    int n;
    if (q->count)
        n = snprintf(buf, len,
                     "SELECT device_id, count(*) FROM %s.as_stored_up WHERE %s GROUP BY device_id "
                     "ORDER BY device_id",
                     schema, where);
    else
        n = snprintf(buf, len,
                     "SELECT up, received_at, uid FROM %s.as_stored_up WHERE %s ORDER BY "
                     "received_at %s, uid %s LIMIT %u",
                     schema, where, q->order == AS_STQ_DESC ? "DESC" : "ASC",
                     q->order == AS_STQ_DESC ? "DESC" : "ASC", rows);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

/* ---- field masks and lines ----------------------------------------------------------------- */

/* The keys of obj that paths select, in obj's order: a key named by a path whole, or the
 * part of its object that paths below it name. */
static json_t *mask_filter(json_t *obj, const char *const *paths, size_t n, bool top)
{
    json_t *out = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        size_t kl = strlen(key);
        bool whole = false;
        const char *sub[AS_STQ_MASK_MAX];
        size_t nsub = 0;
        for (size_t i = 0; i < n && !whole; i++) {
            const char *p = paths[i];
            if (top && strcmp(p, "up") == 0 && as_stq_type_valid(key, false))
                whole = true;
            else if (strcmp(p, key) == 0)
                whole = true;
            else if (strncmp(p, key, kl) == 0 && p[kl] == '.' && nsub < AS_STQ_MASK_MAX)
                sub[nsub++] = p + kl + 1;
        }
        if (whole)
            json_object_set(out, key, v);
        else if (nsub > 0 && json_is_object(v))
            json_object_set_new(out, key, mask_filter(v, sub, nsub, false));
    }
    return out;
}

json_t *as_stq_mask_apply(const as_stq_t *q, json_t *up)
{
    if (q->nmask == 0 || !json_is_object(up))
        return json_incref(up);
    const char *paths[AS_STQ_MASK_MAX];
    for (size_t i = 0; i < q->nmask; i++)
        paths[i] = q->mask[i];
    return mask_filter(up, paths, q->nmask, true);
}

size_t as_stq_line(char *buf, size_t len, size_t cap, const char *json, size_t json_len)
{
    static const char head[] = "{\"result\":";
    size_t need = sizeof head - 1 + json_len + 2;
    if (len > cap || cap - len < need)
        return 0;
    memcpy(buf + len, head, sizeof head - 1);
    len += sizeof head - 1;
    memcpy(buf + len, json, json_len);
    len += json_len;
    buf[len++] = '}';
    buf[len++] = '\n';
    return len;
}
