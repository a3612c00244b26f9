/* The registry of device parts (tenant/devparts.h). Written by the composition root before
 * any thread starts, read-only afterwards. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cluster/db.h"
#include "cluster/mem.h"
#include "tenant/devparts.h"

static const tn_devpart_t *parts[TN_DEVPARTS_MAX];
static size_t nparts;

int tn_devparts_register(const tn_devpart_t *part)
{
    if (part == NULL || part->name == NULL || nparts == TN_DEVPARTS_MAX)
        return -1;
    for (size_t i = 0; i < nparts; i++)
        if (strcmp(parts[i]->name, part->name) == 0)
            return -1;
    parts[nparts++] = part;
    return 0;
}

const tn_devpart_t *const *tn_devparts(size_t *n)
{
    *n = nparts;
    return parts;
}

const tn_devpart_t *tn_devparts_owner(const char *path)
{
    const tn_devpart_t *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < nparts; i++)
        for (const char *const *p = parts[i]->paths; p != NULL && *p != NULL; p++) {
            if ((*p)[0] != path[0])
                continue;
            size_t len = strlen(*p);
            if (len > best_len && strncmp(path, *p, len) == 0 &&
                (path[len] == '\0' || path[len] == '.')) {
                best = parts[i];
                best_len = len;
            }
        }
    return best;
}

bool tn_devpart_masked(const tn_devpart_dev_t *dev, const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < dev->npaths; i++)
        if (strncmp(dev->paths[i], prefix, n) == 0 &&
            (dev->paths[i][n] == '\0' || dev->paths[i][n] == '.'))
            return true;
    return false;
}

const json_t *tn_devpart_get(const json_t *end_device, const char *path)
{
    const json_t *v = end_device;
    const char *p = path;
    while (v != NULL && *p != '\0') {
        const char *dot = strchr(p, '.');
        size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
        v = json_is_object(v) ? json_object_getn(v, p, n) : NULL;
        p += n + (dot != NULL);
    }
    return v != NULL && !json_is_null(v) ? v : NULL;
}

void tn_devpart_copy(json_t *dst, const json_t *src, const char *path)
{
    const char *dot = strchr(path, '.');
    if (dot == NULL) {
        const json_t *v = json_object_get(src, path);
        if (v == NULL || json_is_null(v))
            json_object_del(dst, path);
        else
            json_object_set_new(dst, path, json_deep_copy(v));
        return;
    }
    size_t n = (size_t)(dot - path);
    json_t *d = json_object_getn(dst, path, n);
    if (!json_is_object(d)) {
        d = json_object();
        json_object_setn_new(dst, path, n, d);
    }
    const json_t *s = json_is_object(src) ? json_object_getn(src, path, n) : NULL;
    tn_devpart_copy(d, s, dot + 1);
}

void tn_devpart_err_path(lw_err_t *err)
{
    static const char pre[] = "end_device.";
    for (int i = 0; i < err->nattrs; i++)
        if (strcmp(err->attrs[i].key, "field") == 0 &&
            strncmp(err->attrs[i].value, pre, sizeof pre - 1) == 0)
            memmove(err->attrs[i].value, err->attrs[i].value + sizeof pre - 1,
                    strlen(err->attrs[i].value) - (sizeof pre - 1) + 1);
}

char *tn_devpart_pg_array(const char *const *v, size_t n)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += strlen(v[i]) + 1;
    char *s = lw_malloc(cap), *p = s;
    *p++ = '{';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? "," : "", v[i]);
    *p++ = '}';
    *p = '\0';
    return s;
}

json_t *tn_devpart_positions(const char *const *ids, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, ids[i], json_integer((json_int_t)i));
    return o;
}

long tn_devpart_position(const json_t *positions, const char *id)
{
    const json_t *v = json_object_get(positions, id);
    return v != NULL ? (long)json_integer_value(v) : -1;
}

void tn_devpart_merge(json_t *dst, const json_t *src)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)src, k, v)
    {
        json_t *d = json_object_get(dst, k);
        if (json_is_object(d) && json_is_object(v))
            tn_devpart_merge(d, v);
        else
            json_object_set(dst, k, v);
    }
}

PGresult *tn_devpart_query_rows(PGconn *c, const char *sql, const char *application_id,
                                const json_t *rows, lw_err_t *err)
{
    char *j = json_dumps(rows, JSON_COMPACT);
    if (j == NULL) {
        lw_err_set(err, &lw_err_internal, "the batch could not be written as JSON");
        return NULL;
    }
    const char *p[2] = {application_id, j};
    PGresult *q = lw_db_query_blocking(c, sql, 2, p, err);
    OPENSSL_cleanse(j, strlen(j));
    free(j);
    return q;
}
