/* The converters of conv.h: the registry of formats (the two of The Things Stack, then one
 * per vendor mapping) and the pipeline bytes → charset → scanner → template → emit. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/mem.h"
#include "dtc/conv_private.h"
#include "dtc/dtc_private.h"

static const char *const json_ext[] = {".json", NULL};
static const char *const csv_ext[] = {".csv", NULL};

static const dtc_format_t tts_json = {
    .id = "the-things-stack",
    .name = "The Things Stack JSON",
    .description = "File containing end devices in The Things Stack JSON format.",
    .file_extensions = json_ext,
};
static const dtc_format_t tts_csv = {
    .id = "the-things-stack-csv",
    .name = "The Things Stack CSV",
    .description = "File containing end devices in The Things Stack CSV format.",
    .file_extensions = csv_ext,
};

#define MAX_VENDOR 64

/* Written at start-up (component init, tests) before any converter runs; read-only after. */
static struct {
    const dtc_format_t *list[2 + MAX_VENDOR];
    dtc_vendor_map_t *vendor[MAX_VENDOR];
    size_t nvendor;
} reg = {.list = {&tts_json, &tts_csv}};

const dtc_format_t *const *dtc_formats(size_t *n)
{
    *n = 2 + reg.nvendor;
    return reg.list;
}

const dtc_format_t *dtc_format_find(const char *id)
{
    for (size_t i = 0; id != NULL && i < 2 + reg.nvendor; i++)
        if (strcmp(reg.list[i]->id, id) == 0)
            return reg.list[i];
    return NULL;
}

static const dtc_vendor_map_t *vendor_of(const dtc_format_t *f)
{
    for (size_t i = 0; i < reg.nvendor; i++)
        if (dtc_vendor_map_format(reg.vendor[i]) == f)
            return reg.vendor[i];
    return NULL;
}

void dtc_formats_clear_vendor(void)
{
    for (size_t i = 0; i < reg.nvendor; i++)
        dtc_vendor_map_free(reg.vendor[i]);
    reg.nvendor = 0;
}

int dtc_formats_add_vendor(dtc_vendor_map_t *m, lw_err_t *err)
{
    const dtc_format_t *f = dtc_vendor_map_format(m);
    if (dtc_format_find(f->id) != NULL || reg.nvendor >= MAX_VENDOR) {
        lw_err_set(err, &lw_err_vendor_mapping, "vendor mapping `%s`: format id taken or too many",
                   f->id);
        lw_err_attr(err, "file", f->id);
        dtc_vendor_map_free(m);
        return -1;
    }
    reg.vendor[reg.nvendor] = m;
    reg.list[2 + reg.nvendor] = f;
    reg.nvendor++;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int dtc_formats_load_vendor_dir(const char *dir, lw_err_t *err)
{
    dtc_formats_clear_vendor();
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    char *names[MAX_VENDOR];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < MAX_VENDOR) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.')
            continue;
        if ((l > 5 && strcmp(e->d_name + l - 5, ".yaml") == 0) ||
            (l > 4 && strcmp(e->d_name + l - 4, ".yml") == 0))
            names[n++] = lw_strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_names);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (rc >= 0) {
            dtc_vendor_map_t *m = dtc_vendor_map_load(path, err);
            if (m == NULL || dtc_formats_add_vendor(m, err) != 0)
                rc = -1;
            else
                rc++;
        }
        free(names[i]);
    }
    return rc;
}

/* ---- the converter ----------------------------------------------------------------------- */

typedef enum { CONV_JSON, CONV_CSV, CONV_VENDOR } conv_kind_t;

struct dtc_conv {
    conv_kind_t kind;
    const dtc_vendor_map_t *vendor;
    json_t *version_ids;
    size_t max_record;
    dtc_charset_t cs;
    union {
        dtc_json_scan_t json;
        dtc_csv_scan_t csv;
    } scan;
    uint8_t *buf1, *buf2;
    uint32_t *off;
    dtc_tts_csv_t tcsv;
    dtc_vendor_csv_t *vcsv;
    dtc_paths_t paths;
    uint64_t count;
    bool failed;
    lw_err_t err; /* the error it failed with */
    /* the current feed's */
    dtc_emit_fn emit;
    void *emit_arg;
    lw_err_t *cur_err;
};

dtc_conv_t *dtc_conv_new(const dtc_format_t *f, const dtc_conv_opts_t *opts, lw_err_t *err)
{
    if (f == NULL || (f != &tts_json && f != &tts_csv && vendor_of(f) == NULL)) {
        const char *id = f != NULL ? f->id : "";
        lw_err_set(err, &lw_err_converter, "converter `%s` not found", id);
        lw_err_attr(err, "id", id);
        return NULL;
    }
    dtc_conv_t *c = lw_calloc(1, sizeof *c);
    c->max_record =
        opts != NULL && opts->max_record > 0 ? opts->max_record : DTC_CONV_MAX_RECORD_DEFAULT;
    if (opts != NULL && opts->end_device_version_ids != NULL)
        c->version_ids = json_deep_copy(opts->end_device_version_ids);
    dtc_charset_init(&c->cs);
    c->buf1 = lw_malloc(c->max_record);
    if (f == &tts_json) {
        c->kind = CONV_JSON;
        dtc_json_init(&c->scan.json, c->buf1, c->max_record);
    } else {
        c->kind = f == &tts_csv ? CONV_CSV : CONV_VENDOR;
        c->buf2 = lw_malloc(c->max_record);
        c->off = lw_malloc((DTC_CSV_MAX_FIELDS + 1) * sizeof *c->off);
        dtc_csv_init(&c->scan.csv, c->buf1, c->buf2, c->max_record, c->off);
        if (c->kind == CONV_VENDOR) {
            c->vendor = vendor_of(f);
            c->vcsv = dtc_vendor_csv_new(c->vendor);
            dtc_csv_set_separator(&c->scan.csv, dtc_vendor_map_separator(c->vendor));
        }
    }
    return c;
}

void dtc_conv_free(dtc_conv_t *c)
{
    if (c == NULL)
        return;
    json_decref(c->version_ids);
    free(c->buf1);
    free(c->buf2);
    free(c->off);
    dtc_vendor_csv_free(c->vcsv);
    dtc_paths_free(&c->paths);
    free(c);
}

uint64_t dtc_conv_count(const dtc_conv_t *c)
{
    return c->count;
}

static int fail_with(dtc_conv_t *c, const lw_err_t *e)
{
    c->failed = true;
    c->err = *e;
    if (c->cur_err != NULL && c->cur_err != e)
        *c->cur_err = *e;
    return -1;
}

/* Emits one template; the callback's error, if any, becomes the converter's. */
static int emit(dtc_conv_t *c, json_t *dev, uint64_t line, const char *mapping_key)
{
    dtc_template_t t = {.end_device = dev,
                        .paths = (const char *const *)c->paths.v,
                        .npaths = c->paths.n,
                        .mapping_key = mapping_key != NULL ? mapping_key : "",
                        .line = line};
    lw_err_t e;
    lw_err_clear(&e);
    int rc = c->emit(c->emit_arg, &t, &e);
    json_decref(dev);
    dtc_paths_clear(&c->paths);
    if (rc != 0)
        return fail_with(c, &e);
    c->count++;
    return 0;
}

static int on_json(void *arg, const dtc_json_value_t *v)
{
    dtc_conv_t *c = arg;
    lw_err_t e;
    lw_err_clear(&e);
    json_error_t je;
    json_t *in = json_loadb((const char *)v->b, v->n, JSON_DECODE_ANY, &je);
    if (in == NULL) {
        uint64_t line = v->line + (je.line > 0 ? (uint64_t)je.line - 1 : 0);
        uint64_t col = je.line > 1 ? (uint64_t)(je.column > 0 ? je.column : 1)
                                   : v->column + (je.column > 0 ? (uint64_t)je.column - 1 : 0);
        lw_err_set(&e, &lw_err_json_token, "invalid JSON token");
        lw_err_attr_num(&e, "line", (long long)line);
        lw_err_attr_num(&e, "column", (long long)col);
        lw_err_attr(&e, "detail", je.text);
        return fail_with(c, &e);
    }
    json_t *dev = dtc_tts_device_normalize(in, &c->paths, &e);
    json_decref(in);
    if (dev == NULL) {
        char field[96];
        snprintf(field, sizeof field, "%s", e.nattrs > 0 ? e.attrs[0].value : "");
        lw_err_set(&e, &lw_err_parse_json_field,
                   "parse JSON field `%s` at line `%llu` column `%llu`", field,
                   (unsigned long long)v->line, (unsigned long long)v->column);
        lw_err_attr(&e, "field", field);
        lw_err_attr_num(&e, "line", (long long)v->line);
        lw_err_attr_num(&e, "column", (long long)v->column);
        dtc_paths_clear(&c->paths);
        return fail_with(c, &e);
    }
    return emit(c, dev, v->line, NULL);
}

static int on_csv(void *arg, const dtc_csv_record_t *r)
{
    dtc_conv_t *c = arg;
    lw_err_t e;
    lw_err_clear(&e);
    if (r->index == 0) {
        int rc = c->kind == CONV_CSV ? dtc_tts_csv_header(&c->tcsv, r, &e)
                                     : dtc_vendor_csv_header(c->vcsv, r, &e);
        return rc != 0 ? fail_with(c, &e) : 0;
    }
    const char *mapping_key = NULL;
    json_t *dev = c->kind == CONV_CSV
                      ? dtc_tts_csv_record(&c->tcsv, r, c->version_ids, &c->paths, &e)
                      : dtc_vendor_csv_record(c->vcsv, r, &c->paths, &mapping_key, &e);
    if (dev == NULL) {
        dtc_paths_clear(&c->paths);
        return fail_with(c, &e);
    }
    return emit(c, dev, r->line, mapping_key);
}

static int scanner_failed(dtc_conv_t *c)
{
    lw_err_t e;
    lw_err_clear(&e);
    if (c->kind == CONV_JSON) {
        const dtc_json_scan_t *s = &c->scan.json;
        if (s->err == DTC_JSON_TOO_LONG) {
            lw_err_set(&e, &lw_err_record_too_long, "record at line `%llu` longer than `%zu` bytes",
                       (unsigned long long)s->vline, c->max_record);
            lw_err_attr_num(&e, "line", (long long)s->vline);
            lw_err_attr_num(&e, "max", (long long)c->max_record);
        } else {
            lw_err_set(&e, &lw_err_json_token, "invalid JSON token");
            lw_err_attr_num(&e, "line", (long long)s->err_line);
            lw_err_attr_num(&e, "column", (long long)s->err_col);
            lw_err_attr(&e, "detail",
                        s->err == DTC_JSON_EOF ? "unexpected end of input"
                                               : "not an object or an array of objects here");
        }
        return fail_with(c, &e);
    }
    const dtc_csv_error_t *ce = &c->scan.csv.err;
    if (ce->kind == DTC_CSV_TOO_LONG) {
        lw_err_set(&e, &lw_err_record_too_long, "record at line `%llu` longer than `%zu` bytes",
                   (unsigned long long)ce->start_line, c->max_record);
        lw_err_attr_num(&e, "line", (long long)ce->start_line);
        lw_err_attr_num(&e, "max", (long long)c->max_record);
        return fail_with(c, &e);
    }
    lw_err_set(&e, &lw_err_parse_csv, "parse CSV at line `%llu` column `%llu`: %s",
               (unsigned long long)ce->line, (unsigned long long)ce->column,
               dtc_csv_errtext(ce->kind));
    lw_err_attr_num(&e, "start_line", (long long)ce->start_line);
    lw_err_attr_num(&e, "line", (long long)ce->line);
    lw_err_attr_num(&e, "column", (long long)ce->column);
    lw_err_attr(&e, "message", dtc_csv_errtext(ce->kind));
    return fail_with(c, &e);
}

static int decoded(void *arg, const uint8_t *b, size_t n)
{
    dtc_conv_t *c = arg;
    int rc = c->kind == CONV_JSON ? dtc_json_feed(&c->scan.json, b, n, on_json, c)
                                  : dtc_csv_feed(&c->scan.csv, b, n, on_csv, c);
    if (rc != 0 && !c->failed)
        return scanner_failed(c);
    return rc;
}

static void begin(dtc_conv_t *c, dtc_emit_fn emit_fn, void *arg, lw_err_t *err)
{
    c->emit = emit_fn;
    c->emit_arg = arg;
    c->cur_err = err;
}

static int failed(dtc_conv_t *c, lw_err_t *err)
{
    if (err != NULL)
        *err = c->err;
    return -1;
}

int dtc_conv_feed(dtc_conv_t *c, const void *b, size_t n, dtc_emit_fn emit_fn, void *arg,
                  lw_err_t *err)
{
    if (c->failed)
        return failed(c, err);
    begin(c, emit_fn, arg, err);
    if (dtc_charset_feed(&c->cs, b, n, decoded, c) != 0)
        return failed(c, err);
    return 0;
}

int dtc_conv_finish(dtc_conv_t *c, dtc_emit_fn emit_fn, void *arg, lw_err_t *err)
{
    if (c->failed)
        return failed(c, err);
    begin(c, emit_fn, arg, err);
    if (dtc_charset_finish(&c->cs, decoded, c) != 0)
        return failed(c, err);
    int rc = c->kind == CONV_JSON ? dtc_json_finish(&c->scan.json, on_json, c)
                                  : dtc_csv_finish(&c->scan.csv, on_csv, c);
    if (rc != 0) {
        if (!c->failed)
            scanner_failed(c);
        return failed(c, err);
    }
    if (c->kind != CONV_JSON && c->scan.csv.records == 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_csv_header, "no known columns in CSV header");
        fail_with(c, &e);
        return failed(c, err);
    }
    return 0;
}
