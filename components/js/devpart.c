/* The Join Server's part of end devices (tenant/devparts.h): the js_devices row, its fields
 * decoded as PUT /api/v3/js/... decodes them (js_col_value: root keys wrapped under
 * js.key-encryption-key), written for a whole batch by one statement that updates the
 * masked columns of existing rows that differ and inserts the new ones.
 *
 * A device gets a JS row when its mask names a JS field or it supports join (an OTAA
 * device, as the Console creates it); network_server_address and application_server_address
 * are the registry's paths, which the JS stores too when they are in the mask. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cluster/db.h"
#include "cluster/mem.h"
#include "js/js.h"
#include "js/js_private.h"

static const char *const js_part_paths[] = {"root_keys",
                                            "resets_join_nonces",
                                            "net_id",
                                            "application_server_id",
                                            "application_server_kek_label",
                                            "network_server_kek_label",
                                            "provisioner_id",
                                            "provisioning_data",
                                            "last_dev_nonce",
                                            "used_dev_nonces",
                                            "last_join_nonce",
                                            "last_rj_count_0",
                                            "last_rj_count_1",
                                            NULL};

typedef struct js_dp_row {
    bool write;              /* the device has a JS part */
    uint32_t mask;           /* bit i: js_cols[i] is set */
    char *values[JS_N_COLS]; /* SQL text (NULL: SQL NULL) */
} js_dp_row_t;

/* The configuration's keys, loaded once per configuration (read-only once loaded). */
static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;
static const lw_config_t *keys_cfg;
static js_t *keys_js;
static lw_err_t keys_err;

static const js_t *js_dp_keys(const lw_config_t *cfg, lw_err_t *err)
{
    pthread_mutex_lock(&keys_lock);
    if (keys_cfg != cfg) {
        if (keys_js != NULL)
            OPENSSL_cleanse(keys_js, sizeof *keys_js);
        free(keys_js);
        keys_js = lw_calloc(1, sizeof *keys_js);
        lw_err_clear(&keys_err);
        if (js_keys_load(keys_js, cfg, &keys_err) != 0) {
            free(keys_js);
            keys_js = NULL;
        }
        keys_cfg = cfg;
    }
    const js_t *js = keys_js;
    if (js == NULL)
        *err = keys_err;
    pthread_mutex_unlock(&keys_lock);
    return js;
}

/* Does the mask of dev name column path cp (itself, a parent or a child)? */
static bool selects(const tn_devpart_dev_t *dev, const char *cp)
{
    size_t cl = strlen(cp);
    for (size_t i = 0; i < dev->npaths; i++) {
        const char *p = dev->paths[i];
        size_t pl = strlen(p);
        if ((pl <= cl && strncmp(cp, p, pl) == 0 && (cp[pl] == '\0' || cp[pl] == '.')) ||
            (pl > cl && strncmp(p, cp, cl) == 0 && p[cl] == '.'))
            return true;
    }
    return false;
}

static void js_dp_free(void *row)
{
    js_dp_row_t *r = row;
    if (r == NULL)
        return;
    for (size_t i = 0; i < JS_N_COLS; i++)
        if (r->values[i] != NULL) {
            OPENSSL_cleanse(r->values[i], strlen(r->values[i]));
            free(r->values[i]);
        }
    free(r);
}

static void *js_dp_prepare(const tn_devpart_env_t *env, const tn_devpart_dev_t *dev, lw_err_t *err)
{
    js_dp_row_t *r = lw_calloc(1, sizeof *r);
    bool own = false;
    for (size_t i = 0; i < dev->npaths && !own; i++)
        own = tn_devparts_owner(dev->paths[i]) == &js_devpart;
    r->write = own || json_is_true(json_object_get(dev->end_device, "supports_join"));
    if (!r->write)
        return r;
    const js_t *js = NULL;
    for (size_t i = 0; i < JS_N_COLS; i++) {
        const js_col_t *c = &js_cols[i];
        if (!selects(dev, c->path))
            continue;
        if (c->kind == JS_C_KEY) {
            if (tn_devpart_get(dev->end_device, c->path) != NULL && !env->keys) {
                lw_err_set(err, &lw_err_permission_denied,
                           "writing root keys needs RIGHT_APPLICATION_DEVICES_WRITE_KEYS");
                lw_err_attr(err, "field", c->path);
                js_dp_free(r);
                return NULL;
            }
            if (js == NULL && (js = js_dp_keys(env->cfg, err)) == NULL) {
                js_dp_free(r);
                return NULL;
            }
        }
        if (c->kind == JS_C_TEXT && js == NULL && strstr(c->column, "kek_label") != NULL &&
            (js = js_dp_keys(env->cfg, err)) == NULL) {
            js_dp_free(r);
            return NULL;
        }
        if (js_col_value(js, c, dev->end_device, &r->values[i], err) != 0) {
            tn_devpart_err_path(err);
            js_dp_free(r);
            return NULL;
        }
        r->mask |= 1u << i;
    }
    return r;
}

/* The value of column i for a new row whose mask leaves it out. */
static const char *col_default(const js_col_t *c)
{
    switch (c->kind) {
    case JS_C_TEXT:
        return "''";
    case JS_C_BOOL:
        return "false";
    case JS_C_UINT:
        return "0";
    case JS_C_NONCES:
        return "'{}'::integer[]";
    default:
        return "NULL";
    }
}

static int js_dp_write(const tn_devpart_env_t *env, PGconn *c, const tn_devpart_dev_t *devs,
                       void *const *rows, size_t n, tn_devpart_result_t *res, lw_err_t *err)
{
    json_t *x = json_array();
    for (size_t i = 0; i < n; i++) {
        const js_dp_row_t *r = rows[i];
        res[i].outcome = TN_DEVPART_UNCHANGED;
        if (!r->write)
            continue;
        json_t *o = json_pack("{ss sI}", "device_id", devs[i].device_id, "m", (json_int_t)r->mask);
        for (size_t k = 0; k < JS_N_COLS; k++)
            if (r->values[k] != NULL)
                json_object_set_new(o, js_cols[k].column, json_string(r->values[k]));
        json_array_append_new(x, o);
    }
    if (json_array_size(x) == 0) {
        json_decref(x);
        return 0;
    }
    /* x(device_id, m, <columns as text>); each column is the new value where the row's mask
     * has it, the stored one (update) or the default (insert) where not. */
    char recdef[1024] = "device_id text, m bigint", set[4096] = "", cmp_new[3072] = "",
         cmp_old[1024] = "", cols[1024] = "", vals[4096] = "";
    size_t rl = strlen(recdef), sl = 0, nl = 0, ol = 0, cl = 0, vl = 0;
    for (size_t k = 0; k < JS_N_COLS; k++) {
        const js_col_t *col = &js_cols[k];
        const char *cast = js_col_cast(col);
        rl += (size_t)snprintf(recdef + rl, sizeof recdef - rl, ", %s text", col->column);
        sl += (size_t)snprintf(set + sl, sizeof set - sl,
                               ", %s = CASE WHEN x.m & %u <> 0 THEN x.%s%s ELSE d.%s END",
                               col->column, 1u << k, col->column, cast, col->column);
        nl += (size_t)snprintf(cmp_new + nl, sizeof cmp_new - nl,
                               "%sCASE WHEN x.m & %u <> 0 THEN x.%s%s ELSE d.%s END", k ? ", " : "",
                               1u << k, col->column, cast, col->column);
        ol += (size_t)snprintf(cmp_old + ol, sizeof cmp_old - ol, "%sd.%s", k ? ", " : "",
                               col->column);
        cl += (size_t)snprintf(cols + cl, sizeof cols - cl, ", %s", col->column);
        vl += (size_t)snprintf(vals + vl, sizeof vals - vl,
                               ", CASE WHEN x.m & %u <> 0 THEN x.%s%s ELSE %s END", 1u << k,
                               col->column, cast, col_default(col));
    }
    char *sql = lw_malloc(24576);
    snprintf(sql, 24576,
             "WITH x AS (SELECT * FROM json_to_recordset($2::json) AS x(%s)), "
             "u AS (UPDATE %s.js_devices d SET updated_at = now()%s FROM x WHERE "
             "d.application_id = $1 AND d.device_id = x.device_id AND ROW(%s) IS DISTINCT FROM "
             "ROW(%s) RETURNING d.device_id), "
             "i AS (INSERT INTO %s.js_devices (application_id, device_id%s) SELECT $1, "
             "x.device_id%s FROM x ON CONFLICT (application_id, device_id) DO NOTHING RETURNING "
             "device_id) "
             "SELECT 'u', device_id FROM u UNION ALL SELECT 'i', device_id FROM i",
             recdef, env->schema, set, cmp_new, cmp_old, env->schema, cols, vals);
    PGresult *q = tn_devpart_query_rows(c, sql, env->application_id, x, err);
    json_decref(x);
    free(sql);
    if (q == NULL)
        return -1;
    json_t *by_id = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(by_id, devs[i].device_id, json_integer((json_int_t)i));
    for (int k = 0; k < PQntuples(q); k++) {
        long ix = tn_devpart_position(by_id, PQgetvalue(q, k, 1));
        if (ix >= 0)
            res[ix].outcome =
                PQgetvalue(q, k, 0)[0] == 'i' ? TN_DEVPART_CREATED : TN_DEVPART_UPDATED;
    }
    json_decref(by_id);
    PQclear(q);
    return 0;
}

static int js_dp_read(const tn_devpart_env_t *env, PGconn *c, const char *const *ids, size_t n,
                      json_t *const *out, lw_err_t *err)
{
    const js_t *js = NULL;
    if (env->keys && (js = js_dp_keys(env->cfg, err)) == NULL)
        return -1;
    char *arr = tn_devpart_pg_array(ids, n);
    char sql[1400];
    snprintf(sql, sizeof sql,
             "SELECT " JS_SEL_COLS ", d.device_id FROM %s.js_devices d JOIN %s.end_devices e "
             "USING (application_id, device_id) WHERE d.application_id = $1 AND d.device_id = "
             "ANY($2::text[])",
             env->schema, env->schema);
    const char *p[2] = {env->application_id, arr};
    PGresult *q = lw_db_query_blocking(c, sql, 2, p, err);
    free(arr);
    if (q == NULL)
        return -1;
    json_t *by_id = tn_devpart_positions(ids, n);
    for (int r = 0; r < PQntuples(q); r++) {
        const char *id = PQgetvalue(q, r, JS_SEL_JOIN_EUI + 1);
        long ix = tn_devpart_position(by_id, id);
        if (ix < 0)
            continue;
        json_t *o = js_device_render(js, q, r, env->application_id, id, NULL, env->keys);
        json_t *dst = out[ix];
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v)
        {
            /* ids and times are the registry's, and so are the server addresses where it
             * has them. */
            if (strcmp(k, "ids") != 0 && strcmp(k, "created_at") != 0 &&
                strcmp(k, "updated_at") != 0 && json_object_get(dst, k) == NULL)
                json_object_set(dst, k, v);
        }
        json_decref(o);
    }
    json_decref(by_id);
    PQclear(q);
    return 0;
}

const tn_devpart_t js_devpart = {
    .name = "js",
    .paths = js_part_paths,
    .prepare = js_dp_prepare,
    .write = js_dp_write,
    .committed = NULL,
    .row_free = js_dp_free,
    .read = js_dp_read,
};
