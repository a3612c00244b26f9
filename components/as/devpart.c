/* The Application Server's part of end devices (tenant/devparts.h): the as_devices row, its
 * device JSON and session applied as PUT /api/v3/as/... does (devset.c's as_dev_apply: the
 * AppSKey wrapped with as.key-encryption-key), gen bumped by every write, and after the
 * commit NsUp.as_device_changed on lw.ns.up for the device's worker, as the API tells it.
 *
 * A device gets an AS row when its mask names the AS's fields, the session, version_ids or
 * formatters, or the plan or LoRaWAN version (a device the NS serves, as the Console
 * creates it). An import run again never moves the session's last_a_f_cnt_down back.
 *
 * Per batch: one statement reads the existing rows (locked), one writes the changed ones. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "as/as.h"
#include "as/as_private.h"
#include "cluster/db.h"
#include "cluster/log.h"
#include "cluster/mem.h"

/* skip_payload_crypto, deprecated in The Things Stack for skip_payload_crypto_override, is
 * accepted and not kept. */
static const char *const as_part_paths[] = {"formatters",
                                            "skip_payload_crypto_override",
                                            "skip_payload_crypto",
                                            "session.keys.app_s_key",
                                            "session.last_a_f_cnt_down",
                                            NULL};

typedef struct as_dp_row {
    bool write;
    lw_api_mask_t mask;
    const json_t *body;
} as_dp_row_t;

static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;
static const lw_config_t *keys_cfg;
static as_t *keys_as;
static lw_err_t keys_err;

/* The configuration's keys in an as_t of their own, loaded once per configuration. */
static const as_t *as_dp_keys(const lw_config_t *cfg, lw_err_t *err)
{
    pthread_mutex_lock(&keys_lock);
    if (keys_cfg != cfg) {
        if (keys_as != NULL)
            OPENSSL_cleanse(keys_as, sizeof *keys_as);
        free(keys_as);
        keys_as = lw_calloc(1, sizeof *keys_as);
        lw_err_clear(&keys_err);
        if (as_keys_load(keys_as, cfg, &keys_err) != 0) {
            free(keys_as);
            keys_as = NULL;
        }
        keys_cfg = cfg;
    }
    const as_t *as = keys_as;
    if (as == NULL)
        *err = keys_err;
    pthread_mutex_unlock(&keys_lock);
    return as;
}

static bool under(const char *p, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(p, prefix, n) == 0 && (p[n] == '\0' || p[n] == '.');
}

static void as_dp_free(void *row)
{
    free(row);
}

static void *as_dp_prepare(const tn_devpart_env_t *env, const tn_devpart_dev_t *dev, lw_err_t *err)
{
    as_dp_row_t *r = lw_calloc(1, sizeof *r);
    r->body = dev->end_device;
    for (size_t i = 0; i < dev->npaths; i++) {
        const char *p = dev->paths[i];
        bool own = tn_devparts_owner(p) == &as_devpart;
        if (own || under(p, "version_ids") || under(p, "session") ||
            strcmp(p, "frequency_plan_id") == 0 || strcmp(p, "lorawan_version") == 0)
            r->write = true;
        if (!own && !under(p, "version_ids") && !under(p, "session"))
            continue;
        if (lw_api_mask_has(&r->mask, p))
            continue;
        if (r->mask.n >= LW_API_MASK_MAX) {
            lw_api_invalid(err, p, "too many paths of the Application Server");
            free(r);
            return NULL;
        }
        snprintf(r->mask.paths[r->mask.n++], LW_API_PATH_MAX, "%s", p);
    }
    if (!env->keys && tn_devpart_masked(dev, "session.keys.app_s_key") &&
        tn_devpart_get(dev->end_device, "session.keys.app_s_key") != NULL) {
        lw_err_set(err, &lw_err_permission_denied,
                   "writing the AppSKey needs RIGHT_APPLICATION_DEVICES_WRITE_KEYS");
        lw_err_attr(err, "field", "session.keys.app_s_key.key");
        free(r);
        return NULL;
    }
    return r;
}

/* A session that stays (same DevAddr and AppSKey) keeps the higher last_a_f_cnt_down. */
static void keep_counter(const as_t *as, const json_t *old, json_t **session)
{
    as_session_t o, n;
    lw_err_t e;
    if (old == NULL || *session == NULL || as_session_from_json(as, old, "session", &o, &e) != 0)
        return;
    if (as_session_from_json(as, *session, "session", &n, &e) == 0 && o.dev_addr == n.dev_addr &&
        o.has_key == n.has_key && CRYPTO_memcmp(o.app_s_key, n.app_s_key, LORAWAN_KEY_LEN) == 0 &&
        o.has_f_cnt && (!n.has_f_cnt || o.last_a_f_cnt_down > n.last_a_f_cnt_down))
        json_object_set_new(*session, "last_a_f_cnt_down", json_integer(o.last_a_f_cnt_down));
    OPENSSL_cleanse(&o, sizeof o);
    OPENSSL_cleanse(&n, sizeof n);
}

static int as_dp_write(const tn_devpart_env_t *env, PGconn *c, const tn_devpart_dev_t *devs,
                       void *const *rows, size_t n, tn_devpart_result_t *res, lw_err_t *err)
{
    const char **ids = lw_calloc(n, sizeof *ids);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        res[i].outcome = TN_DEVPART_UNCHANGED;
        if (((const as_dp_row_t *)rows[i])->write)
            ids[m++] = devs[i].device_id;
    }
    if (m == 0) {
        free(ids);
        return 0;
    }
    const as_t *as = as_dp_keys(env->cfg, err);
    if (as == NULL) {
        free(ids);
        return -1;
    }
    char *arr = tn_devpart_pg_array(ids, m);
    free(ids);
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT device_id, device::text, session::text FROM %s.as_devices WHERE "
             "application_id = $1 AND device_id = ANY($2::text[]) FOR UPDATE",
             env->schema);
    const char *p[2] = {env->application_id, arr};
    PGresult *q = lw_db_query_blocking(c, sql, 2, p, err);
    free(arr);
    if (q == NULL)
        return -1;
    json_t *found = json_object();
    for (int k = 0; k < PQntuples(q); k++)
        json_object_set_new(found, PQgetvalue(q, k, 0), json_integer(k));
    json_t *x = json_array();
    for (size_t i = 0; i < n; i++) {
        const as_dp_row_t *r = rows[i];
        if (!r->write)
            continue;
        long qi = tn_devpart_position(found, devs[i].device_id);
        json_t *old_dev = qi >= 0 ? json_loads(PQgetvalue(q, (int)qi, 1), 0, NULL) : NULL;
        json_t *old_ses = qi >= 0 && !PQgetisnull(q, (int)qi, 2)
                              ? json_loads(PQgetvalue(q, (int)qi, 2), 0, NULL)
                              : NULL;
        json_t *device = old_dev != NULL ? json_deep_copy(old_dev) : json_object();
        json_t *session = NULL;
        bool session_set = false;
        as_dev_view_t v = {.as = as, .mask = &r->mask, .body = r->body};
        lw_err_t e;
        lw_err_clear(&e);
        if (as_dev_apply(&v, device, &session, &session_set, &e) != 0) {
            tn_devpart_err_path(&e);
            res[i].outcome = TN_DEVPART_FAILED;
            res[i].err = e;
        } else {
            if (session_set)
                keep_counter(as, old_ses, &session);
            bool same = qi >= 0 && json_equal(device, old_dev) &&
                        (!session_set || (session == NULL && old_ses == NULL) ||
                         (session != NULL && old_ses != NULL && json_equal(session, old_ses)));
            if (!same) {
                res[i].outcome = qi >= 0 ? TN_DEVPART_UPDATED : TN_DEVPART_CREATED;
                json_array_append_new(x, json_pack("{ss sO sO? sb}", "device_id", devs[i].device_id,
                                                   "device", device, "session", session, "ss",
                                                   session_set));
            }
        }
        json_decref(device);
        json_decref(session);
        json_decref(old_dev);
        json_decref(old_ses);
    }
    PQclear(q);
    json_decref(found);
    int rc = 0;
    if (json_array_size(x) > 0) {
        snprintf(sql, sizeof sql,
                 "WITH x AS (SELECT * FROM json_to_recordset($2::json) AS x(device_id text, "
                 "device jsonb, session jsonb, ss boolean)), "
                 "u AS (UPDATE %s.as_devices d SET device = x.device, session = CASE WHEN x.ss "
                 "THEN x.session ELSE d.session END, gen = d.gen + 1, updated_at = now() FROM x "
                 "WHERE d.application_id = $1 AND d.device_id = x.device_id) "
                 "INSERT INTO %s.as_devices (application_id, device_id, device, session) SELECT "
                 "$1, device_id, device, session FROM x ON CONFLICT (application_id, device_id) "
                 "DO NOTHING",
                 env->schema, env->schema);
        q = tn_devpart_query_rows(c, sql, env->application_id, x, err);
        if (q == NULL)
            rc = -1;
        PQclear(q);
    }
    json_decref(x);
    return rc;
}

static void as_dp_committed(lw_rt_t *rt, const tn_devpart_env_t *env, const tn_devpart_dev_t *devs,
                            void *const *rows, const tn_devpart_result_t *res, size_t n)
{
    (void)rows;
    lw_bus_t *bus = lw_rt_bus(rt);
    const char *tenant = env->tenant->id;
    for (size_t i = 0; bus != NULL && i < n; i++) {
        if (res[i].outcome != TN_DEVPART_CREATED && res[i].outcome != TN_DEVPART_UPDATED)
            continue;
        uint8_t buf[512];
        size_t len = 0;
        char key[AS_DEV_KEY_MAX + 1];
        snprintf(key, sizeof key, "%s/%s/%s", tenant, env->application_id, devs[i].device_id);
        lw_err_t e;
        lw_err_clear(&e);
        if (as_device_changed_encode(tenant, env->application_id, devs[i].device_id, false, buf,
                                     sizeof buf, &len) != 0 ||
            lw_bus_publish(bus, "ns.up", key, strlen(key), buf, len, &e) != 0)
            lw_log(LW_LOG_WARN, "as", "device change not announced (the worker reloads it later)",
                   "tenant", tenant, "device", devs[i].device_id, "error", e.message, NULL);
    }
}

static int as_dp_read(const tn_devpart_env_t *env, PGconn *c, const char *const *ids, size_t n,
                      json_t *const *out, lw_err_t *err)
{
    const as_t *as = as_dp_keys(env->cfg, err);
    if (as == NULL)
        return -1;
    char *arr = tn_devpart_pg_array(ids, n);
    char sql[600];
    snprintf(sql, sizeof sql,
             "SELECT " AS_DEV_COLS ", d.device_id FROM %s.as_devices d WHERE d.application_id = "
             "$1 AND d.device_id = ANY($2::text[])",
             env->schema);
    const char *p[2] = {env->application_id, arr};
    PGresult *q = lw_db_query_blocking(c, sql, 2, p, err);
    free(arr);
    if (q == NULL)
        return -1;
    json_t *pos = tn_devpart_positions(ids, n);
    /* The AS's own fields; version_ids and the session's identity are the others' too. */
    lw_api_mask_t mask = {.n = 3};
    snprintf(mask.paths[0], LW_API_PATH_MAX, "formatters");
    snprintf(mask.paths[1], LW_API_PATH_MAX, "skip_payload_crypto_override");
    snprintf(mask.paths[2], LW_API_PATH_MAX, "session");
    for (int r = 0; r < PQntuples(q); r++) {
        const char *id = PQgetvalue(q, r, 5);
        long ix = tn_devpart_position(pos, id);
        if (ix < 0)
            continue;
        as_dev_view_t v = {
            .as = as, .mask = &mask, .keys = env->keys, .app = env->application_id, .dev = id};
        json_t *o = as_dev_render(&v, q, r);
        json_object_del(o, "ids");
        json_object_del(o, "created_at");
        json_object_del(o, "updated_at");
        tn_devpart_merge(out[ix], o);
        json_decref(o);
    }
    json_decref(pos);
    PQclear(q);
    return 0;
}

const tn_devpart_t as_devpart = {
    .name = "as",
    .paths = as_part_paths,
    .prepare = as_dp_prepare,
    .write = as_dp_write,
    .committed = as_dp_committed,
    .row_free = as_dp_free,
    .read = as_dp_read,
};
