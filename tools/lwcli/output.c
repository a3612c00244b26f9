/* Pure rendering helpers of lwcli: JSON paths, tables, key/value lines, pretty JSON and
 * the decoding of The Things Stack's error bodies. No I/O except the FILE * given. */
#include <stdlib.h>
#include <string.h>

#include "lwcli.h"

/* ---- JSON paths ------------------------------------------------------------------------- */

json_t *lc_json_path(json_t *root, const char *path)
{
    json_t *cur = root;
    const char *p = path;
    while (cur != NULL && *p) {
        if (!json_is_object(cur))
            return NULL;
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        cur = json_object_getn(cur, p, n);
        p += n;
        if (*p == '.')
            p++;
    }
    return cur;
}

int lc_json_set_path(json_t *root, const char *path, json_t *value)
{
    json_t *cur = root;
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        if (dot == NULL)
            return json_object_set_new(cur, p, value) == 0 ? 0 : -1;
        size_t n = (size_t)(dot - p);
        json_t *next = json_object_getn(cur, p, n);
        if (next == NULL) {
            next = json_object();
            json_object_setn_new(cur, p, n, next);
        } else if (!json_is_object(next)) {
            json_decref(value);
            return -1;
        }
        cur = next;
        p = dot + 1;
    }
}

static void text_append(lc_str_t *s, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        lc_str_appendn(s, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        lc_str_appendf(s, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        lc_str_appendf(s, "%g", json_real_value(v));
        break;
    case JSON_TRUE:
        lc_str_append(s, "true");
        break;
    case JSON_FALSE:
        lc_str_append(s, "false");
        break;
    case JSON_NULL:
        break;
    case JSON_ARRAY: {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (i > 0)
                lc_str_append(s, ",");
            text_append(s, e);
        }
        break;
    }
    case JSON_OBJECT: {
        char *d = json_dumps(v, JSON_COMPACT);
        if (d) {
            lc_str_append(s, d);
            free(d);
        }
        break;
    }
    }
}

char *lc_json_text(const json_t *v)
{
    lc_str_t s = {0};
    lc_str_append(&s, "");
    if (v != NULL)
        text_append(&s, v);
    return s.buf;
}

void lc_time_short(const char *in, char *out, size_t outlen)
{
    const char *dot = strchr(in, '.');
    const char *t = strchr(in, 'T');
    if (dot == NULL || t == NULL || dot < t) {
        snprintf(out, outlen, "%s", in);
        return;
    }
    const char *rest = dot + 1;
    while (*rest >= '0' && *rest <= '9')
        rest++;
    snprintf(out, outlen, "%.*s%s", (int)(dot - in), in, rest);
}

int lc_time_parse(const char *in, long long *out)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(in, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    const char *p = in + n;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    long long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, m = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5 || oh > 23 || om > 59)
            return -1;
        offset = (oh * 3600LL + om * 60LL) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    /* Days from the civil date (proleptic Gregorian), so no time zone or libc state is
     * involved. */
    long long yy = y - (mo <= 2);
    long long era = (yy >= 0 ? yy : yy - 399) / 400;
    long long yoe = yy - era * 400;
    long long doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long long days = era * 146097 + doe - 719468;
    *out = days * 86400 + h * 3600LL + mi * 60LL + sec - offset;
    return 0;
}

/* ---- tables ----------------------------------------------------------------------------- */

void lc_table_init(lc_table_t *t, const char **headers, size_t ncols)
{
    memset(t, 0, sizeof *t);
    t->headers = headers;
    t->ncols = ncols;
}

void lc_table_add(lc_table_t *t, const char *const *cells)
{
    if (t->nrows == t->caprows) {
        size_t cap = t->caprows ? t->caprows * 2 : 16;
        t->cells = lc_xrealloc(t->cells, cap * t->ncols * sizeof *t->cells);
        t->caprows = cap;
    }
    for (size_t c = 0; c < t->ncols; c++) {
        t->cells[t->nrows * t->ncols + c] = lc_xstrdup(cells[c] ? cells[c] : "");
    }
    t->nrows++;
}

static char *column_cell(const lc_column_t *col, json_t *item)
{
    json_t *v = NULL;
    const char *p = col->path;
    const char *which = NULL;
    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        char path[256];
        if (n < sizeof path) {
            memcpy(path, p, n);
            path[n] = '\0';
            v = lc_json_path(item, path);
            if (v != NULL && !json_is_null(v)) {
                which = p;
                break;
            }
        }
        p = bar ? bar + 1 : NULL;
    }
    switch (col->fmt) {
    case LC_COL_TIME: {
        char buf[64];
        lc_time_short(json_is_string(v) ? json_string_value(v) : "", buf, sizeof buf);
        return lc_xstrdup(buf);
    }
    case LC_COL_COLLAB:
        if (which == NULL)
            return lc_xstrdup("");
        return lc_xstrdup(strncmp(which, "ids.organization_ids", 20) == 0 ? "organization"
                                                                          : "user");
    case LC_COL_TEXT:
    default:
        return lc_json_text(v);
    }
}

void lc_table_add_json(lc_table_t *t, const lc_column_t *cols, json_t *items)
{
    size_t i;
    json_t *item;
    char **row = lc_xcalloc(t->ncols, sizeof *row);
    json_array_foreach(items, i, item)
    {
        for (size_t c = 0; c < t->ncols; c++)
            row[c] = column_cell(&cols[c], item);
        lc_table_add(t, (const char *const *)row);
        for (size_t c = 0; c < t->ncols; c++)
            free(row[c]);
    }
    free(row);
}

/* Display width in characters: UTF-8 continuation bytes do not count. */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80)
            w++;
    return w;
}

static void write_row(const lc_table_t *t, const char *const *cells, const size_t *widths, FILE *f)
{
    lc_str_t line = {0};
    for (size_t c = 0; c < t->ncols; c++) {
        lc_str_append(&line, cells[c]);
        if (c + 1 < t->ncols) {
            for (size_t pad = text_width(cells[c]); pad < widths[c] + 2; pad++)
                lc_str_append(&line, " ");
        }
    }
    while (line.len > 0 && line.buf[line.len - 1] == ' ')
        line.buf[--line.len] = '\0';
    fprintf(f, "%s\n", lc_str_cstr(&line));
    lc_str_free(&line);
}

void lc_table_write(const lc_table_t *t, FILE *f)
{
    size_t *widths = lc_xcalloc(t->ncols ? t->ncols : 1, sizeof *widths);
    for (size_t c = 0; c < t->ncols; c++) {
        widths[c] = text_width(t->headers[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t w = text_width(t->cells[r * t->ncols + c]);
            if (w > widths[c])
                widths[c] = w;
        }
    }
    write_row(t, t->headers, widths, f);
    for (size_t r = 0; r < t->nrows; r++)
        write_row(t, (const char *const *)&t->cells[r * t->ncols], widths, f);
    free(widths);
}

void lc_table_destroy(lc_table_t *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

/* ---- key: value ------------------------------------------------------------------------- */

typedef struct kv_list {
    char **keys;
    char **vals;
    size_t n, cap;
} kv_list_t;

static void kv_push(kv_list_t *l, char *key, char *val)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        l->keys = lc_xrealloc(l->keys, cap * sizeof *l->keys);
        l->vals = lc_xrealloc(l->vals, cap * sizeof *l->vals);
        l->cap = cap;
    }
    l->keys[l->n] = key;
    l->vals[l->n] = val;
    l->n++;
}

static bool secret_field(const char *name)
{
    static const char *const secrets[] = {"password", "secret",       "lbs_lns_secret", "app_key",
                                          "nwk_key",  "access_token", "refresh_token"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (strcmp(name, secrets[i]) == 0)
            return true;
    return false;
}

static bool scalar_array(json_t *a)
{
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e)
    {
        if (json_is_object(e) || json_is_array(e))
            return false;
    }
    return true;
}

static void kv_flatten(kv_list_t *l, const char *prefix, json_t *obj, bool show_key)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        lc_str_t key = {0};
        if (*prefix) {
            lc_str_append(&key, prefix);
            lc_str_append(&key, ".");
        }
        lc_str_append(&key, k);
        if (json_is_object(v) && json_object_size(v) > 0) {
            kv_flatten(l, key.buf, v, show_key);
            lc_str_free(&key);
            continue;
        }
        char *val;
        if (secret_field(k) || (!show_key && *prefix == '\0' && strcmp(k, "key") == 0))
            val = lc_xstrdup("(hidden)");
        else if (json_is_array(v) && !scalar_array(v))
            val = json_dumps(v, JSON_COMPACT);
        else
            val = lc_json_text(v);
        kv_push(l, key.buf, val ? val : lc_xstrdup(""));
    }
}

void lc_kv_write(json_t *obj, bool show_key, FILE *f)
{
    kv_list_t l = {0};
    if (!json_is_object(obj))
        return;
    kv_flatten(&l, "", obj, show_key);
    size_t w = 0;
    for (size_t i = 0; i < l.n; i++) {
        size_t kw = text_width(l.keys[i]);
        if (kw > w)
            w = kw;
    }
    for (size_t i = 0; i < l.n; i++) {
        fprintf(f, "%s:", l.keys[i]);
        for (size_t pad = text_width(l.keys[i]); *l.vals[i] && pad < w + 1; pad++)
            fputc(' ', f);
        fprintf(f, "%s\n", l.vals[i]);
        free(l.keys[i]);
        free(l.vals[i]);
    }
    free(l.keys);
    free(l.vals);
}

void lc_json_write(const json_t *v, FILE *f)
{
    json_dumpf(v, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', f);
}

/* ---- errors ----------------------------------------------------------------------------- */

int lc_error_decode(const char *body, size_t len, char **name, char **message)
{
    json_t *root = json_loadb(body, len, 0, NULL);
    int rc = -1;
    *name = *message = NULL;
    if (!json_is_object(root))
        goto out;
    json_t *details = json_object_get(root, "details");
    json_t *d0 = json_is_array(details) ? json_array_get(details, 0) : NULL;
    const char *n = json_string_value(json_object_get(d0, "name"));
    const char *m = json_string_value(json_object_get(root, "message"));
    const char *fmt = json_string_value(json_object_get(d0, "message_format"));
    if (n == NULL || *n == '\0')
        goto out;
    *name = lc_xstrdup(n);
    if (m != NULL && strncmp(m, "error:", 6) == 0) {
        /* The Things Stack writes "error:<namespace>:<name> (<rendered message>)". */
        const char *open = strstr(m, " (");
        size_t ml = strlen(m);
        if (open && ml > 0 && m[ml - 1] == ')')
            *message = lc_xstrndup(open + 2, (size_t)(m + ml - 1 - (open + 2)));
        else
            *message = lc_xstrdup(fmt ? fmt : m);
    } else if (m != NULL && *m) {
        *message = lc_xstrdup(m);
    } else {
        *message = lc_xstrdup(fmt ? fmt : "");
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}
