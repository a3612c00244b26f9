/* Applying a vendor column mapping (vendor_map.c) to CSV records: each field's value from
 * its column, template or constant, conditions, value map, type conversion (hex case and
 * byte order, left padding, number base and scale), then the-things-stack's reading of the
 * EndDevice for names, enums and the field mask. A value that does not convert fails the
 * record with parse_csv_field (line: the record's number after the header; column: the
 * field's first source column, 1-based; field: its path). Pure but for the session key ID
 * (as the-things-stack-csv). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cluster/mem.h"
#include "dtc/conv_private.h"
#include "dtc/dtc_private.h"
#include "dtc/vendor_private.h"

#define VALUE_MAX 4096

struct dtc_vendor_csv {
    const dtc_vendor_map_t *m;
    int *colidx; /* mapping column → header index, -1 when absent */
    char mkey[128];
};

dtc_vendor_csv_t *dtc_vendor_csv_new(const dtc_vendor_map_t *m)
{
    dtc_vendor_csv_t *v = lw_calloc(1, sizeof *v);
    v->m = m;
    v->colidx = lw_malloc((m->ncols > 0 ? m->ncols : 1) * sizeof *v->colidx);
    for (size_t i = 0; i < m->ncols; i++)
        v->colidx[i] = -1;
    return v;
}

void dtc_vendor_csv_free(dtc_vendor_csv_t *v)
{
    if (v == NULL)
        return;
    free(v->colidx);
    free(v);
}

int dtc_vendor_csv_header(dtc_vendor_csv_t *v, const dtc_csv_record_t *r, lw_err_t *err)
{
    size_t known = 0;
    for (size_t c = 0; c < v->m->ncols; c++) {
        const char *name = v->m->cols[c];
        for (size_t i = 0; i < r->nfields; i++) {
            size_t n = r->off[i + 1] - r->off[i];
            if (strlen(name) == n && memcmp(r->rec + r->off[i], name, n) == 0) {
                v->colidx[c] = (int)i;
                known++;
                break;
            }
        }
    }
    if (known == 0)
        return lw_err_set(err, &lw_err_csv_header, "no known columns in CSV header");
    return 0;
}

static void cell(const dtc_vendor_csv_t *v, const dtc_csv_record_t *r, size_t col, const char **s,
                 size_t *n)
{
    int i = v->colidx[col];
    if (i < 0 || (size_t)i >= r->nfields) {
        *s = "";
        *n = 0;
        return;
    }
    *s = (const char *)r->rec + r->off[i];
    *n = r->off[i + 1] - r->off[i];
}

static size_t col_of(const dtc_vendor_map_t *m, const char *name, size_t n)
{
    for (size_t i = 0; i < m->ncols; i++)
        if (strlen(m->cols[i]) == n && memcmp(m->cols[i], name, n) == 0)
            return i;
    return 0; /* registered at load: not reached */
}

/* Expands "{col}..." into out; false when any referenced cell is empty or it is too long. */
static bool expand(const dtc_vendor_csv_t *v, const dtc_csv_record_t *r, const char *t, char *out,
                   size_t cap, int *first_col)
{
    size_t k = 0;
    *first_col = -1;
    for (const char *p = t; *p != '\0'; p++) {
        const char *s = p;
        size_t n = 1;
        if (*p == '{') {
            const char *e = strchr(p, '}');
            size_t c = col_of(v->m, p + 1, (size_t)(e - p - 1));
            if (*first_col < 0)
                *first_col = v->colidx[c];
            cell(v, r, c, &s, &n);
            if (n == 0)
                return false;
            p = e;
        }
        if (k + n >= cap)
            return false;
        memcpy(out + k, s, n);
        k += n;
    }
    out[k] = '\0';
    return k > 0;
}

static bool holds(const dtc_vendor_csv_t *v, const dtc_csv_record_t *r, const dtc_vfield_t *f)
{
    for (size_t i = 0; i < f->nwhen; i++) {
        const char *s;
        size_t n;
        cell(v, r, f->when[i].col, &s, &n);
        bool eq = f->when[i].value != NULL && strlen(f->when[i].value) == n &&
                  memcmp(s, f->when[i].value, n) == 0;
        if ((f->when[i].op == DTC_VW_SET && n == 0) || (f->when[i].op == DTC_VW_EQ && !eq) ||
            (f->when[i].op == DTC_VW_NE && eq))
            return false;
    }
    return true;
}

static void recase(char *s, bool lower, bool upper)
{
    for (; *s != '\0'; s++) {
        if (lower && *s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
        if (upper && *s >= 'a' && *s <= 'z')
            *s = (char)(*s - 'a' + 'A');
    }
}

static json_t *convert(const dtc_vfield_t *f, char *s)
{
    switch (f->type) {
    case DTC_VT_STRING:
        recase(s, f->lower, f->upper);
        return dtc_json_stringn_lossy((const uint8_t *)s, strlen(s));
    case DTC_VT_EUI:
    case DTC_VT_DEVADDR:
    case DTC_VT_KEY: {
        size_t len = f->type == DTC_VT_EUI ? 8 : f->type == DTC_VT_DEVADDR ? 4 : 16;
        char padded[40];
        size_t n = strlen(s);
        if (f->pad > 0 && n < (size_t)f->pad && (size_t)f->pad < sizeof padded) {
            memset(padded, '0', (size_t)f->pad - n);
            memcpy(padded + f->pad - n, s, n + 1);
            s = padded;
            n = (size_t)f->pad;
        }
        uint8_t b[16];
        if (n != 2 * len || dtc_hex_parse(s, n, b, len) != 0)
            return NULL;
        if (f->lsb)
            for (size_t i = 0; i < len / 2; i++) {
                uint8_t t = b[i];
                b[i] = b[len - 1 - i];
                b[len - 1 - i] = t;
            }
        char h[33];
        dtc_hex_upper(b, len, h);
        recase(h, f->lower, false);
        return json_string(h);
    }
    case DTC_VT_UINT:
    case DTC_VT_INT:
    case DTC_VT_FLOAT: {
        char *end = NULL;
        double x;
        if (f->type == DTC_VT_FLOAT || f->scale != 1) {
            x = strtod(s, &end);
        } else if (f->type == DTC_VT_UINT) {
            if (s[0] == '-' || s[0] == '+')
                return NULL;
            x = (double)strtoull(s, &end, f->base);
        } else {
            x = (double)strtoll(s, &end, f->base);
        }
        if (end == s || *end != '\0' || !isfinite(x))
            return NULL;
        x *= f->scale;
        if (f->type == DTC_VT_FLOAT)
            return json_real(x);
        x = round(x);
        if ((f->type == DTC_VT_UINT && (x < 0 || x > 1.8e19)) || x < -9.2e18 || x > 1.8e19)
            return NULL;
        if (x > 9.2e18) {
            char d[32];
            snprintf(d, sizeof d, "%.0f", x);
            return json_string(d);
        }
        return json_integer((json_int_t)x);
    }
    case DTC_VT_BOOL: {
        static const char *const t[] = {"true", "1", "yes", "y", "on", "t"};
        static const char *const fl[] = {"false", "0", "no", "n", "off", "f"};
        for (size_t i = 0; i < 6; i++) {
            if (strcasecmp(s, t[i]) == 0)
                return json_true();
            if (strcasecmp(s, fl[i]) == 0)
                return json_false();
        }
        return NULL;
    }
    }
    return NULL;
}

static int field_error(const dtc_csv_record_t *r, const char *path, int col, lw_err_t *err)
{
    lw_err_set(err, &lw_err_parse_csv_field, "parse CSV field at line `%llu` column `%d`",
               (unsigned long long)r->index, col + 1);
    lw_err_attr_num(err, "line", (long long)r->index);
    lw_err_attr_num(err, "column", col + 1);
    lw_err_attr(err, "field", path);
    lw_err_attr_num(err, "file_line", (long long)r->line);
    return -1;
}

json_t *dtc_vendor_csv_record(dtc_vendor_csv_t *v, const dtc_csv_record_t *r, dtc_paths_t *paths,
                              const char **mapping_key, lw_err_t *err)
{
    const dtc_vendor_map_t *m = v->m;
    json_t *raw = json_object();
    int *cols = lw_malloc(m->nfields * sizeof *cols);
    char *buf = lw_malloc(VALUE_MAX);
    json_t *dev = NULL;
    for (size_t i = 0; i < m->nfields; i++) {
        const dtc_vfield_t *f = &m->fields[i];
        cols[i] = -1;
        if (!holds(v, r, f))
            continue;
        if (f->konst != NULL) {
            snprintf(buf, VALUE_MAX, "%s", f->konst);
        } else if (!expand(v, r, f->value, buf, VALUE_MAX, &cols[i])) {
            continue;
        }
        char *val = buf;
        if (f->nmap > 0) {
            const char *to = f->def;
            for (size_t k = 0; k < f->nmap; k++)
                if (strcmp(f->map_from[k], buf) == 0) {
                    to = f->map_to[k];
                    break;
                }
            if (to == NULL)
                continue;
            memmove(buf, to, strlen(to) + 1 < VALUE_MAX ? strlen(to) + 1 : VALUE_MAX);
            buf[VALUE_MAX - 1] = '\0';
        }
        json_t *j = convert(f, val);
        if (j == NULL) {
            field_error(r, f->path, cols[i], err);
            goto out;
        }
        dtc_json_set_path(raw, f->path, j);
    }
    /* a session's keys get a session key ID, as the-things-stack-csv gives them */
    json_t *keys = json_object_get(json_object_get(raw, "session"), "keys");
    if (json_is_object(keys) && json_object_get(keys, "session_key_id") == NULL) {
        json_t *id = dtc_session_key_id_new();
        if (id != NULL)
            json_object_set_new(keys, "session_key_id", id);
    }
    dev = dtc_tts_device_normalize(raw, paths, err);
    if (dev == NULL) {
        const char *bad = err->nattrs > 0 ? err->attrs[0].value : "";
        char path[96];
        snprintf(path, sizeof path, "%s", bad);
        int col = -1;
        for (size_t i = 0; i < m->nfields && col < 0; i++)
            if (strncmp(m->fields[i].path, path, strlen(m->fields[i].path)) == 0 ||
                strncmp(path, m->fields[i].path, strlen(path)) == 0)
                col = cols[i];
        field_error(r, path, col, err);
        goto out;
    }
    *mapping_key = NULL;
    if (m->mapping_key != NULL) {
        int c0;
        if (expand(v, r, m->mapping_key, v->mkey, sizeof v->mkey, &c0))
            *mapping_key = v->mkey;
    }
out:
    free(cols);
    free(buf);
    json_decref(raw);
    return dev;
}
