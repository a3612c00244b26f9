/* Helpers of the converter tests: run a converter over bytes fed in pieces of a given size,
 * collect the templates (end device JSON and mask) and the error; read fixtures in place. */
#ifndef DTC_CONV_TEST_UTIL_H
#define DTC_CONV_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dtc/conv.h"
#include "dtc/conv_private.h"
#include "dtc/dtc_private.h"

#define T_MAX 16

typedef struct t_result {
    size_t n;
    json_t *dev[T_MAX];
    char *mask[T_MAX]; /* paths joined with ',' */
    char *mapping_key[T_MAX];
    uint64_t line[T_MAX];
    int rc;
    lw_err_t err;
} t_result_t;

static int t_collect(void *arg, const dtc_template_t *t, lw_err_t *err)
{
    (void)err;
    t_result_t *r = arg;
    if (r->n >= T_MAX)
        return -1;
    r->dev[r->n] = json_deep_copy(t->end_device);
    size_t len = 1;
    for (size_t i = 0; i < t->npaths; i++)
        len += strlen(t->paths[i]) + 1;
    char *m = calloc(1, len);
    for (size_t i = 0; i < t->npaths; i++) {
        if (i > 0)
            strcat(m, ",");
        strcat(m, t->paths[i]);
    }
    r->mask[r->n] = m;
    r->mapping_key[r->n] = strdup(t->mapping_key);
    r->line[r->n] = t->line;
    r->n++;
    return 0;
}

static void t_result_free(t_result_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        json_decref(r->dev[i]);
        free(r->mask[i]);
        free(r->mapping_key[i]);
    }
    memset(r, 0, sizeof *r);
}

/* Converts b[0..n) with format id in pieces of `piece` bytes (0: all at once). */
static void t_convert_opts(const char *id, const void *b, size_t n, size_t piece,
                           const dtc_conv_opts_t *opts, t_result_t *r)
{
    memset(r, 0, sizeof *r);
    lw_err_t err;
    lw_err_clear(&err);
    dtc_conv_t *c = dtc_conv_new(dtc_format_find(id), opts, &err);
    assert_non_null(c);
    const uint8_t *p = b;
    size_t left = n;
    r->rc = 0;
    while (left > 0 && r->rc == 0) {
        size_t k = piece == 0 || piece > left ? left : piece;
        r->rc = dtc_conv_feed(c, p, k, t_collect, r, &r->err);
        p += k;
        left -= k;
    }
    if (r->rc == 0)
        r->rc = dtc_conv_finish(c, t_collect, r, &r->err);
    assert_int_equal(dtc_conv_count(c), r->n);
    dtc_conv_free(c);
}

static void t_convert(const char *id, const void *b, size_t n, size_t piece, t_result_t *r)
{
    t_convert_opts(id, b, n, piece, NULL, r);
}

/* The same templates and error whatever the pieces. */
static void t_same(const t_result_t *a, const t_result_t *b)
{
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->rc, b->rc);
    assert_string_equal(lw_err_name(&a->err), lw_err_name(&b->err));
    assert_int_equal(a->err.nattrs, b->err.nattrs);
    for (int i = 0; i < a->err.nattrs; i++)
        assert_string_equal(a->err.attrs[i].value, b->err.attrs[i].value);
    for (size_t i = 0; i < a->n; i++) {
        /* session key IDs are random: compare without them */
        json_t *x = json_deep_copy(a->dev[i]), *y = json_deep_copy(b->dev[i]);
        json_object_del(json_object_get(json_object_get(x, "session"), "keys"), "session_key_id");
        json_object_del(json_object_get(json_object_get(y, "session"), "keys"), "session_key_id");
        assert_true(json_equal(x, y));
        json_decref(x);
        json_decref(y);
        assert_string_equal(a->mask[i], b->mask[i]);
        assert_int_equal(a->line[i], b->line[i]);
    }
}

/* Converts whole, in 1-byte pieces and in 7-byte pieces; all three must agree. */
static void t_convert_all(const char *id, const void *b, size_t n, t_result_t *r)
{
    t_convert(id, b, n, 0, r);
    static const size_t pieces[] = {1, 7, 1000};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        t_result_t o;
        t_convert(id, b, n, pieces[i], &o);
        t_same(r, &o);
        t_result_free(&o);
    }
}

static char *t_fixture(const char *rel, size_t *n)
{
    const char *shared = getenv("LW_SHARED");
    char path[1024];
    if (shared != NULL)
        snprintf(path, sizeof path, "%s/fixtures/the-things-stack/%s", shared, rel);
    else
        snprintf(path, sizeof path, "%s/../shared/fixtures/the-things-stack/%s", LW_SOURCE_DIR,
                 rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("fixture %s not found (set LW_SHARED)", path);
    char *buf = malloc(1 << 20);
    *n = fread(buf, 1, (1 << 20) - 1, f);
    buf[*n] = '\0';
    fclose(f);
    return buf;
}

static void t_fixture_convert(const char *id, const char *rel, t_result_t *r)
{
    size_t n = 0;
    char *b = t_fixture(rel, &n);
    t_convert_all(id, b, n, r);
    free(b);
}

/* The device JSON equals the expected text, field by field. */
static void t_dev_equal(const json_t *dev, const char *expected)
{
    json_error_t je;
    json_t *e = json_loads(expected, 0, &je);
    if (e == NULL)
        fail_msg("bad expected JSON: %s", je.text);
    if (!json_equal(dev, e)) {
        char *got = json_dumps(dev, JSON_SORT_KEYS);
        char *want = json_dumps(e, JSON_SORT_KEYS);
        print_error("got  %s\nwant %s\n", got, want);
        free(got);
        free(want);
        fail();
    }
    json_decref(e);
}

static const char *t_attr(const lw_err_t *e, const char *key)
{
    for (int i = 0; i < e->nattrs; i++)
        if (strcmp(e->attrs[i].key, key) == 0)
            return e->attrs[i].value;
    return NULL;
}

static void t_err(const t_result_t *r, const char *name, const char *line, const char *column)
{
    assert_int_equal(r->rc, -1);
    assert_string_equal(lw_err_name(&r->err), name);
    if (line != NULL) {
        assert_non_null(t_attr(&r->err, "line"));
        assert_string_equal(t_attr(&r->err, "line"), line);
    }
    if (column != NULL) {
        assert_non_null(t_attr(&r->err, "column"));
        assert_string_equal(t_attr(&r->err, "column"), column);
    }
}

#endif
