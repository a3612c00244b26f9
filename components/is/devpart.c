/* The Identity Server's part of end devices (tenant/devparts.h): the registry row of
 * end_devices and the deployment-wide (JoinEUI, DevEUI) index of lw_control, written in
 * batches inside the caller's transaction. The data column is what the IS API stores: the
 * template's fields decoded as POST .../devices decodes them (is_entity_decode) on create,
 * applied under the mask (is_entity_apply) on update, so fields outside the mask stay.
 *
 * Per batch: one statement checks the application, one reads the existing rows (locked),
 * one the EUI index, one counts the tenant's devices when it has a limit; then one INSERT of
 * every new row and one UPDATE of every changed row, each with its index rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/db.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "is/server_private.h"
#include "tenant/devparts.h"

static const char *const is_part_paths[] = {
    "ids", "created_at", "updated_at", "name", "description", "attributes", "version_ids",
    "network_server_address", "application_server_address", "join_server_address",
    "frequency_plan_id", "lorawan_version", "lorawan_phy_version", "supports_class_b",
    "supports_class_c", "supports_join", "serial_number", "locations", "lora_alliance_profile_ids",
    /* The Things Stack's status fields, written by
     * its NS: an export has them, the new network
     * finds them out again (accepted, not kept). */
    "activated_at", "battery_percentage", "power_state", "downlink_margin",
    "last_dev_status_received_at",
    /* Not in this registry: accepted, not kept. */
    "claim_authentication_code", "picture", NULL};

/* The paths above that the registry does not store. */
static const char *const is_ignored[] = {"created_at",
                                         "updated_at",
                                         "activated_at",
                                         "battery_percentage",
                                         "power_state",
                                         "downlink_margin",
                                         "last_dev_status_received_at",
                                         "claim_authentication_code",
                                         "picture",
                                         NULL};

static bool ignored(const char *p)
{
    for (const char *const *i = is_ignored; *i != NULL; i++) {
        size_t n = strlen(*i);
        if (strncmp(p, *i, n) == 0 && (p[n] == '\0' || p[n] == '.'))
            return true;
    }
    return false;
}

typedef struct is_dp_row {
    is_ids_t ids;
    json_t *data;   /* the decoded masked fields (create: the row's data) */
    is_mask_t mask; /* update: the paths to apply */
} is_dp_row_t;

static void *is_dp_prepare(const tn_devpart_env_t *env, const tn_devpart_dev_t *dev, lw_err_t *err)
{
    const json_t *t = dev->end_device;
    json_t *obj = json_object();
    json_t *ids = json_pack("{ss s{ss}}", "device_id", dev->device_id, "application_ids",
                            "application_id", env->application_id);
    static const char *const euis[] = {"dev_eui", "join_eui"};
    for (int i = 0; i < 2; i++) {
        const json_t *v = json_object_get(json_object_get(t, "ids"), euis[i]);
        if (v != NULL && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0))
            json_object_set_new(ids, euis[i], json_deep_copy(v));
    }
    json_object_set_new(obj, "ids", ids);
    is_dp_row_t *r = lw_calloc(1, sizeof *r);
    for (size_t i = 0; i < dev->npaths; i++) {
        const char *p = dev->paths[i];
        if (tn_devparts_owner(p) != &is_devpart || strncmp(p, "ids", 3) == 0 || ignored(p))
            continue;
        /* A mask names leaves ("attributes.k", "locations.user.latitude"); the registry's
         * masks name fields and the sub-fields of objects. */
        char m[LW_API_PATH_MAX];
        snprintf(m, sizeof m, "%s", p);
        char *dot = strchr(m, '.');
        if (dot != NULL && !is_mask_path_known(&is_kind_dev, m))
            *dot = '\0';
        if (!is_mask_path_known(&is_kind_dev, m)) {
            lw_api_unknown(err, p);
            json_decref(obj);
            free(r);
            return NULL;
        }
        if (lw_api_mask_has(&r->mask, m))
            continue;
        if (r->mask.n >= IS_MASK_MAX) {
            lw_api_invalid(err, p, "too many paths");
            json_decref(obj);
            free(r);
            return NULL;
        }
        snprintf(r->mask.paths[r->mask.n++], LW_API_PATH_MAX, "%s", m);
        tn_devpart_copy(obj, t, m);
    }
    int rc = is_entity_decode(&is_kind_dev, obj, "end_device", true, &r->ids, &r->data, err);
    json_decref(obj);
    if (rc != 0) {
        tn_devpart_err_path(err);
        free(r);
        return NULL;
    }
    return r;
}

static void is_dp_free(void *row)
{
    is_dp_row_t *r = row;
    if (r == NULL)
        return;
    json_decref(r->data);
    free(r);
}

static void fail_row(tn_devpart_result_t *res, const lw_err_t *e)
{
    res->outcome = TN_DEVPART_FAILED;
    res->err = *e;
}

static int is_dp_write(const tn_devpart_env_t *env, PGconn *c, const tn_devpart_dev_t *devs,
                       void *const *rows, size_t n, tn_devpart_result_t *res, lw_err_t *err)
{
    const char *sq = env->schema, *app = env->application_id, *tenant = env->tenant->id;
    char sql[2048];
    lw_err_t e;
    /* The application, live. */
    snprintf(sql, sizeof sql,
             "SELECT 1 FROM %s.applications WHERE application_id = $1 AND deleted_at IS NULL "
             "FOR SHARE",
             sq);
    const char *p1[1] = {app};
    PGresult *q = lw_db_query_blocking(c, sql, 1, p1, err);
    if (q == NULL)
        return -1;
    bool app_ok = PQntuples(q) == 1;
    PQclear(q);
    if (!app_ok) {
        lw_err_set(&e, &lw_err_not_found, "application `%s` not found", app);
        lw_err_attr(&e, "id", app);
        for (size_t i = 0; i < n; i++)
            fail_row(&res[i], &e);
        return 0;
    }
    /* Existing rows, locked. */
    const char **ids = lw_calloc(n, sizeof *ids);
    char(*dev_euis)[17] = lw_calloc(n, sizeof *dev_euis);
    char(*join_euis)[17] = lw_calloc(n, sizeof *join_euis);
    const char **jv = lw_calloc(n, sizeof *jv), **dv = lw_calloc(n, sizeof *dv);
    size_t npairs = 0;
    for (size_t i = 0; i < n; i++) {
        const is_dp_row_t *r = rows[i];
        ids[i] = devs[i].device_id;
        is_eui_format(r->ids.dev_eui, dev_euis[i]);
        is_eui_format(r->ids.join_eui, join_euis[i]);
        if (r->ids.has_dev_eui && r->ids.has_join_eui) {
            jv[npairs] = join_euis[i];
            dv[npairs] = dev_euis[i];
            npairs++;
        }
    }
    char *id_arr = tn_devpart_pg_array(ids, n);
    char *j_arr = tn_devpart_pg_array(jv, npairs), *d_arr = tn_devpart_pg_array(dv, npairs);
    json_t *existing = json_object(); /* device_id → [dev_eui, join_eui, data] */
    json_t *taken = json_object();    /* "JOIN/DEV" → "tenant/app/device" */
    json_t *ins = json_array(), *upd = json_array();
    int rc = -1;
    snprintf(sql, sizeof sql,
             "SELECT device_id, dev_eui, join_eui, data::text FROM %s.end_devices WHERE "
             "application_id = $1 AND device_id = ANY($2::text[]) FOR UPDATE",
             sq);
    const char *p2[2] = {app, id_arr};
    q = lw_db_query_blocking(c, sql, 2, p2, err);
    if (q == NULL)
        goto out;
    for (int i = 0; i < PQntuples(q); i++) {
        json_t *d = json_loads(PQgetvalue(q, i, 3), 0, NULL);
        json_object_set_new(existing, PQgetvalue(q, i, 0),
                            json_pack("[s?s?o]", PQgetisnull(q, i, 1) ? NULL : PQgetvalue(q, i, 1),
                                      PQgetisnull(q, i, 2) ? NULL : PQgetvalue(q, i, 2),
                                      d != NULL ? d : json_object()));
    }
    PQclear(q);
    const char *p3[2] = {j_arr, d_arr};
    q = lw_db_query_blocking(c,
                             "SELECT join_eui, dev_eui, tenant_id, application_id, device_id "
                             "FROM lw_control.end_device_euis WHERE (join_eui, dev_eui) IN "
                             "(SELECT * FROM unnest($1::text[], $2::text[]))",
                             2, p3, err);
    if (q == NULL)
        goto out;
    for (int i = 0; i < PQntuples(q); i++) {
        char k[40], who[3 * TN_ID_MAX + 4];
        snprintf(k, sizeof k, "%s/%s", PQgetvalue(q, i, 0), PQgetvalue(q, i, 1));
        snprintf(who, sizeof who, "%s/%s/%s", PQgetvalue(q, i, 2), PQgetvalue(q, i, 3),
                 PQgetvalue(q, i, 4));
        json_object_set_new(taken, k, json_string(who));
    }
    PQclear(q);
    /* The tenant's limit, as the IS create counts it (under the same advisory lock). */
    int64_t limit = env->tenant->limits[TN_LIMIT_END_DEVICES];
    long long count = 0;
    if (limit != TN_UNLIMITED) {
        char lock[160];
        snprintf(lock, sizeof lock, "is:%s:end_devices", tenant);
        const char *pl[1] = {lock};
        q = lw_db_query_blocking(c, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", 1, pl,
                                 err);
        if (q == NULL)
            goto out;
        PQclear(q);
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s.end_devices", sq);
        q = lw_db_query_blocking(c, sql, 0, NULL, err);
        if (q == NULL)
            goto out;
        count = atoll(PQgetvalue(q, 0, 0));
        PQclear(q);
    }
    json_t *seen = json_object();
    for (size_t i = 0; i < n; i++) {
        const is_dp_row_t *r = rows[i];
        const char *id = devs[i].device_id;
        if (json_object_get(seen, id) != NULL) {
            lw_err_set(&e, &lw_err_already_exists, "end device `%s` is twice in the batch", id);
            lw_err_attr(&e, "id", id);
            fail_row(&res[i], &e);
            continue;
        }
        const json_t *ex = json_object_get(existing, id);
        const char *de = r->ids.has_dev_eui ? dev_euis[i] : NULL;
        const char *je = r->ids.has_join_eui ? join_euis[i] : NULL;
        bool pair = de != NULL && je != NULL;
        bool new_pair = pair;
        if (ex != NULL) {
            const char *xd = json_string_value(json_array_get(ex, 0));
            const char *xj = json_string_value(json_array_get(ex, 1));
            if ((xd != NULL && de != NULL && strcmp(xd, de) != 0) ||
                (xj != NULL && je != NULL && strcmp(xj, je) != 0)) {
                lw_api_invalid(&e,
                               xd != NULL && de != NULL && strcmp(xd, de) != 0 ? "ids.dev_eui"
                                                                               : "ids.join_eui",
                               "differs from the registered device's");
                fail_row(&res[i], &e);
                continue;
            }
            if (de == NULL)
                de = xd;
            if (je == NULL)
                je = xj;
            new_pair = de != NULL && je != NULL && (xd == NULL || xj == NULL);
            pair = de != NULL && je != NULL;
        } else if (limit != TN_UNLIMITED && count >= limit) {
            const char *type = tn_limit_field(TN_LIMIT_END_DEVICES) + 4;
            lw_err_set(&e, &lw_err_tenant_entity_limit,
                       "limit for %s entities in tenant reached (%lld)", type, (long long)limit);
            lw_err_attr(&e, "entity_type", type);
            lw_err_attr_num(&e, "limit", (long long)limit);
            fail_row(&res[i], &e);
            continue;
        }
        if (new_pair) {
            char k[40], who[3 * TN_ID_MAX + 4];
            snprintf(k, sizeof k, "%s/%s", je, de);
            snprintf(who, sizeof who, "%s/%s/%s", tenant, app, id);
            const char *owner = json_string_value(json_object_get(taken, k));
            if (owner != NULL && strcmp(owner, who) != 0) {
                lw_err_set(&e, &lw_err_already_exists,
                           "an end device with JoinEUI `%s` and DevEUI `%s` is already registered",
                           je, de);
                lw_err_attr(&e, "field", "ids.dev_eui");
                fail_row(&res[i], &e);
                continue;
            }
            json_object_set_new(taken, k, json_string(who));
        }
        json_object_set_new(seen, id, json_true());
        json_t *x = json_pack("{ss ss? ss? sb}", "device_id", id, "dev_eui", de, "join_eui", je,
                              "new_pair", new_pair);
        if (ex == NULL) {
            json_object_set(x, "data", r->data);
            json_array_append_new(ins, x);
            res[i].outcome = TN_DEVPART_CREATED;
            count++;
            continue;
        }
        json_t *cur = json_deep_copy(json_array_get(ex, 2));
        if (is_entity_apply(&is_kind_dev, cur, r->data, &r->mask, &e) != 0) {
            json_decref(cur);
            json_decref(x);
            fail_row(&res[i], &e);
            continue;
        }
        if (json_equal(cur, json_array_get(ex, 2)) && !new_pair) {
            json_decref(cur);
            json_decref(x);
            res[i].outcome = TN_DEVPART_UNCHANGED;
            continue;
        }
        json_object_set_new(x, "data", cur);
        json_array_append_new(upd, x);
        res[i].outcome = TN_DEVPART_UPDATED;
    }
    json_decref(seen);
    /* The new rows, then the changed ones; each with its rows of the EUI index. */
    json_t *const sets[2] = {ins, upd};
    for (int k = 0; k < 2; k++) {
        if (json_array_size(sets[k]) == 0)
            continue;
        char head[512];
        if (k == 0)
            snprintf(head, sizeof head,
                     "i AS (INSERT INTO %s.end_devices (application_id, device_id, dev_eui, "
                     "join_eui, data) SELECT $1, device_id, dev_eui, join_eui, data FROM x)",
                     sq);
        else
            snprintf(head, sizeof head,
                     "u AS (UPDATE %s.end_devices e SET data = x.data, dev_eui = x.dev_eui, "
                     "join_eui = x.join_eui, updated_at = now() FROM x WHERE e.application_id = "
                     "$1 AND e.device_id = x.device_id)",
                     sq);
        snprintf(sql, sizeof sql,
                 "WITH x AS (SELECT * FROM json_to_recordset($2::json) AS x(device_id text, "
                 "dev_eui text, join_eui text, new_pair boolean, data jsonb)), %s INSERT INTO "
                 "lw_control.end_device_euis (join_eui, dev_eui, tenant_id, application_id, "
                 "device_id) SELECT join_eui, dev_eui, $3, $1, device_id FROM x WHERE new_pair",
                 head);
        char *j = json_dumps(sets[k], JSON_COMPACT);
        const char *p[3] = {app, j, tenant};
        q = lw_db_query_blocking(c, sql, 3, p, err);
        free(j);
        if (q == NULL)
            goto out;
        PQclear(q);
    }
    rc = 0;
out:
    json_decref(existing);
    json_decref(taken);
    json_decref(ins);
    json_decref(upd);
    free(id_arr);
    free(j_arr);
    free(d_arr);
    free(ids);
    free(dev_euis);
    free(join_euis);
    free(jv);
    free(dv);
    return rc;
}

static int is_dp_read(const tn_devpart_env_t *env, PGconn *c, const char *const *ids, size_t n,
                      json_t *const *out, lw_err_t *err)
{
    char *arr = tn_devpart_pg_array(ids, n);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT " IS_DEV_COLS " FROM %s.end_devices WHERE application_id = $1 AND device_id "
             "= ANY($2::text[])",
             env->schema);
    const char *p[2] = {env->application_id, arr};
    PGresult *q = lw_db_query_blocking(c, sql, 2, p, err);
    free(arr);
    if (q == NULL)
        return -1;
    json_t *by_id = tn_devpart_positions(ids, n);
    is_mask_t all;
    is_mask_all(&is_kind_dev, &all);
    for (int r = 0; r < PQntuples(q); r++) {
        long ix = tn_devpart_position(by_id, PQgetvalue(q, r, 0));
        if (ix < 0)
            continue;
        json_t *o = is_device_render(q, r, 0, &all);
        tn_devpart_merge(out[ix], o);
        json_decref(o);
    }
    json_decref(by_id);
    PQclear(q);
    return 0;
}

const tn_devpart_t is_devpart = {
    .name = "is",
    .paths = is_part_paths,
    .prepare = is_dp_prepare,
    .write = is_dp_write,
    .committed = NULL,
    .row_free = is_dp_free,
    .read = is_dp_read,
};
