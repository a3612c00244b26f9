/* The tenant registry's HTTP API (The Things Stack's TenantRegistry, §15.4):
 *   POST   /api/v3/tenants                 create (schema t_<id> with every tenant migration)
 *   GET    /api/v3/tenants                 list (limit, page, order, field_mask, deleted)
 *   GET    /api/v3/tenants/{tenant_id}     get (field_mask)
 *   PUT    /api/v3/tenants/{tenant_id}     update (field_mask)
 *   DELETE /api/v3/tenants/{tenant_id}     soft delete; ?purge=true drops the schema
 * all behind `Authorization: TenantAdminKey <hex>`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/log.h"
#include "tenant/tenant_private.h"

/* Fields of a tenant that requests can set and field masks can select. */
enum {
    F_NAME = 0,
    F_DESCRIPTION,
    F_ATTRIBUTES,
    F_STATE,
    F_STATE_DESCRIPTION,
    F_LIMIT0, /* F_LIMIT0 + tn_limit_kind_t */
    F_COUNT = F_LIMIT0 + TN_LIMIT_COUNT
};

static const char *const api_field_names[F_COUNT] = {
    "name",
    "description",
    "attributes",
    "state",
    "state_description",
    "max_applications",
    "max_clients",
    "max_end_devices",
    "max_gateways",
    "max_organizations",
    "max_users",
};

/* TTS limits (Tenant.yml): name ≤ 50, description ≤ 2000, state_description ≤ 128. */
#define API_NAME_MAX              50
#define API_DESCRIPTION_MAX       2000
#define API_STATE_DESCRIPTION_MAX 128
#define API_ATTRIBUTES_MAX        10
#define API_ATTRIBUTE_VALUE_MAX   200
#define API_LIST_LIMIT_MAX        1000

/* The columns every query returns, in this order. */
#define API_COLS                                                                                   \
    "tenant_id, state, deleted_at, (extract(epoch FROM updated_at) * 1000)::bigint, "              \
    "max_applications, max_clients, max_end_devices, max_gateways, max_organizations, "            \
    "max_users, name, description, attributes::text, state_description, "                          \
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "                \
    "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "                \
    "to_char(deleted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
enum {
    C_ID = 0,
    C_STATE,
    C_DELETED,
    C_UPDATED_MS,
    C_LIMIT0,
    C_NAME = C_LIMIT0 + TN_LIMIT_COUNT,
    C_DESCRIPTION,
    C_ATTRIBUTES,
    C_STATE_DESCRIPTION,
    C_CREATED_AT,
    C_UPDATED_AT,
    C_DELETED_AT,
};

typedef struct api_fields {
    unsigned present; /* 1u << F_* */
    char id[TN_ID_MAX + 1];
    bool has_id;
    const char *name;
    const char *description;
    char *attributes; /* JSON text, malloc'd */
    tn_state_t state;
    const char *state_description;
    int64_t limits[TN_LIMIT_COUNT]; /* -1: unlimited (SQL NULL) */
} api_fields_t;

typedef struct api_op {
    tn_t *tn;
    lw_http_req_t *req;
    lw_db_tx_t *tx;
    json_t *body;
    api_fields_t f;
    unsigned mask; /* fields to render */
    tn_tenant_t t;
    int64_t updated_ms;
    json_t *result;
    long long limit, page, total;
    const char *order_sql;
    bool deleted;
    bool purge;
    lw_err_t err;
} api_op_t;

static api_op_t *api_op_new(tn_t *tn, lw_http_req_t *req)
{
    api_op_t *op = calloc(1, sizeof *op);
    if (op == NULL)
        abort();
    op->tn = tn;
    op->req = req;
    return op;
}

static void api_op_free(api_op_t *op)
{
    free(op->f.attributes);
    json_decref(op->result);
    free(op);
}

static void api_fail(api_op_t *op, const lw_err_t *err)
{
    lw_http_respond_err(op->req, err);
    api_op_free(op);
}

static int api_invalid(lw_err_t *err, const char *field, const char *what)
{
    lw_err_set(err, &lw_err_invalid_field, "invalid `%s`: %s", field, what);
    lw_err_attr(err, "field", field);
    return -1;
}

static int api_unknown(lw_err_t *err, const char *field)
{
    lw_err_set(err, &lw_err_unknown_field, "unknown field `%s`", field);
    lw_err_attr(err, "field", field);
    return -1;
}

/* The outcome of a statement about one tenant: false (op answered and freed) on an error
 * or when no row matched, true when res holds the row. */
static bool api_found(api_op_t *op, const PGresult *res, const lw_err_t *err)
{
    if (err != NULL && err->def != NULL) {
        api_fail(op, err);
        return false;
    }
    if (PQntuples(res) == 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_tenant_not_found, "tenant `%s` not found", op->f.id);
        lw_err_attr(&e, "tenant_id", op->f.id);
        api_fail(op, &e);
        return false;
    }
    return true;
}

/* Runs one statement for op; when it cannot even be queued, op is answered (database
 * unavailable) and freed, and cb never runs. */
static void api_query(api_op_t *op, const char *sql, int nparams, const char *const *params,
                      lw_db_result_cb cb)
{
    if (lw_db_query(op->tn->db, sql, nparams, params, cb, op) != 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_db_unavailable, "database unavailable");
        api_fail(op, &e);
    }
}

/* ---- decoding --------------------------------------------------------------------------- */

/* A limit arrives as a number or as a decimal string (UInt64Value in JSON), or null. */
static int api_decode_limit(json_t *v, const char *field, int64_t *out, lw_err_t *err)
{
    if (json_is_null(v)) {
        *out = -1;
        return 0;
    }
    if (json_is_object(v)) /* {"value": N} wrapper form */
        v = json_object_get(v, "value");
    long long n;
    if (json_is_integer(v)) {
        n = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        n = strtoll(s, &end, 10);
        if (*s == '\0' || *end != '\0')
            return api_invalid(err, field, "not an unsigned integer");
    } else {
        return api_invalid(err, field, "not an unsigned integer");
    }
    if (n < 0)
        return api_invalid(err, field, "must not be negative");
    *out = n;
    return 0;
}

static int api_decode_string(json_t *v, const char *field, size_t max, const char **out,
                             lw_err_t *err)
{
    if (!json_is_string(v))
        return api_invalid(err, field, "not a string");
    if (json_string_length(v) > max) {
        char detail[64];
        snprintf(detail, sizeof detail, "too long (at most %zu characters)", max);
        return api_invalid(err, field, detail);
    }
    *out = json_string_value(v);
    return 0;
}

/* Decodes the `tenant` object of a create or update request. */
static int api_decode_tenant(json_t *obj, api_fields_t *f, lw_err_t *err)
{
    if (!json_is_object(obj))
        return api_invalid(err, "tenant", "not an object");
    const char *key;
    json_t *v;
    char field[96];
    json_object_foreach(obj, key, v)
    {
        snprintf(field, sizeof field, "tenant.%s", key);
        if (strcmp(key, "ids") == 0) {
            if (!json_is_object(v))
                return api_invalid(err, "tenant.ids", "not an object");
            const char *k2;
            json_t *v2;
            json_object_foreach(v, k2, v2)
            {
                if (strcmp(k2, "tenant_id") != 0) {
                    snprintf(field, sizeof field, "tenant.ids.%s", k2);
                    return api_unknown(err, field);
                }
            }
            json_t *id = json_object_get(v, "tenant_id");
            if (!json_is_string(id))
                return api_invalid(err, "tenant.ids.tenant_id", "not a string");
            if (tn_id_validate(json_string_value(id), 3, "tenant.ids.tenant_id", err) != 0)
                return -1;
            snprintf(f->id, sizeof f->id, "%s", json_string_value(id));
            f->has_id = true;
            continue;
        }
        if (strcmp(key, "created_at") == 0 || strcmp(key, "updated_at") == 0)
            continue; /* read-only; clients send back what they read */
        int which = -1;
        for (int i = 0; i < F_COUNT; i++)
            if (strcmp(key, api_field_names[i]) == 0)
                which = i;
        if (which < 0)
            return api_unknown(err, field);
        f->present |= 1u << which;
        switch (which) {
        case F_NAME:
            if (api_decode_string(v, field, API_NAME_MAX, &f->name, err) != 0)
                return -1;
            break;
        case F_DESCRIPTION:
            if (api_decode_string(v, field, API_DESCRIPTION_MAX, &f->description, err) != 0)
                return -1;
            break;
        case F_STATE_DESCRIPTION:
            if (api_decode_string(v, field, API_STATE_DESCRIPTION_MAX, &f->state_description,
                                  err) != 0)
                return -1;
            break;
        case F_STATE:
            if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 4)
                f->state = (tn_state_t)json_integer_value(v);
            else if (!json_is_string(v) || tn_state_parse(json_string_value(v), &f->state) != 0)
                return api_invalid(err, field,
                                   "not one of STATE_REQUESTED, STATE_APPROVED, "
                                   "STATE_REJECTED, STATE_FLAGGED, STATE_SUSPENDED");
            break;
        case F_ATTRIBUTES: {
            if (!json_is_object(v))
                return api_invalid(err, field, "not an object of strings");
            if (json_object_size(v) > API_ATTRIBUTES_MAX)
                return api_invalid(err, field, "more than 10 attributes");
            const char *ak;
            json_t *av;
            json_object_foreach(v, ak, av)
            {
                char afield[160];
                snprintf(afield, sizeof afield, "tenant.attributes.%s", ak);
                lw_err_t kerr;
                if (tn_id_validate(ak, 2, afield, &kerr) != 0)
                    return api_invalid(err, afield, "keys follow the ID rules");
                if (!json_is_string(av) || json_string_length(av) > API_ATTRIBUTE_VALUE_MAX)
                    return api_invalid(err, afield, "a string of at most 200 characters");
            }
            free(f->attributes);
            f->attributes = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
            break;
        }
        default:
            if (api_decode_limit(v, field, &f->limits[which - F_LIMIT0], err) != 0)
                return -1;
            break;
        }
    }
    return 0;
}

/* Parses `?field_mask=a,b` or a body's {"paths":[...]} into a bit set. */
static int api_mask_add(unsigned *mask, const char *path, size_t len, lw_err_t *err)
{
    for (int i = 0; i < F_COUNT; i++) {
        if (strlen(api_field_names[i]) == len && strncmp(api_field_names[i], path, len) == 0) {
            *mask |= 1u << i;
            return 0;
        }
    }
    if ((len == 3 && strncmp(path, "ids", 3) == 0) ||
        (len == 10 && !strncmp(path, "created_at", 10)) ||
        (len == 10 && strncmp(path, "updated_at", 10) == 0))
        return 0;
    char shown[64];
    snprintf(shown, sizeof shown, "%.*s", (int)(len > 60 ? 60 : len), path);
    lw_err_set(err, &lw_err_invalid_field, "invalid `field_mask`: unknown path `%s`", shown);
    lw_err_attr(err, "field", "field_mask");
    lw_err_attr(err, "path", shown);
    return -1;
}

static int api_mask_query(const lw_http_req_t *req, unsigned *mask, lw_err_t *err)
{
    *mask = 0;
    const char *q = lw_http_query(req, "field_mask");
    if (q == NULL)
        return 0;
    while (*q) {
        const char *comma = strchr(q, ',');
        size_t len = comma ? (size_t)(comma - q) : strlen(q);
        /* "tenant.name" is accepted for "name" as some clients prefix the message name. */
        if (len > 7 && strncmp(q, "tenant.", 7) == 0)
            q += 7, len -= 7;
        if (len > 0 && api_mask_add(mask, q, len, err) != 0)
            return -1;
        q += len;
        if (*q == ',')
            q++;
    }
    return 0;
}

static int api_mask_body(json_t *body, unsigned *mask, bool *given, lw_err_t *err)
{
    *mask = 0;
    *given = false;
    json_t *fm = json_object_get(body, "field_mask");
    if (fm == NULL)
        return 0;
    json_t *paths = json_is_object(fm) ? json_object_get(fm, "paths") : NULL;
    if (!json_is_array(paths))
        return api_invalid(err, "field_mask", "expected {\"paths\": [...]}");
    *given = true;
    size_t i;
    json_t *p;
    json_array_foreach(paths, i, p)
    {
        if (!json_is_string(p))
            return api_invalid(err, "field_mask.paths", "paths are strings");
        if (api_mask_add(mask, json_string_value(p), json_string_length(p), err) != 0)
            return -1;
    }
    return 0;
}

/* Top-level keys of a request body must be known. */
static int api_check_keys(json_t *body, const char *const *allowed, const char *const *extra,
                          lw_err_t *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        for (const char *const *a = extra; a != NULL && *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok)
            return api_unknown(err, key);
    }
    return 0;
}

/* ---- encoding --------------------------------------------------------------------------- */

static void api_row_tenant(const PGresult *res, int row, tn_tenant_t *t, int64_t *updated_ms)
{
    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", PQgetvalue(res, row, C_ID));
    tn_schema_name(t->id, t->schema);
    t->state = (tn_state_t)atoi(PQgetvalue(res, row, C_STATE));
    t->deleted = !PQgetisnull(res, row, C_DELETED);
    *updated_ms = strtoll(PQgetvalue(res, row, C_UPDATED_MS), NULL, 10);
    for (int k = 0; k < TN_LIMIT_COUNT; k++)
        t->limits[k] = PQgetisnull(res, row, C_LIMIT0 + k)
                           ? TN_UNLIMITED
                           : strtoll(PQgetvalue(res, row, C_LIMIT0 + k), NULL, 10);
}

/* The tenant as The Things Stack renders it: ids and timestamps always, other fields when
 * selected by the mask and not zero. */
static json_t *api_row_json(const PGresult *res, int row, unsigned mask)
{
    json_t *o = json_object();
    json_object_set_new(o, "ids", json_pack("{s:s}", "tenant_id", PQgetvalue(res, row, C_ID)));
    json_object_set_new(o, "created_at", json_string(PQgetvalue(res, row, C_CREATED_AT)));
    json_object_set_new(o, "updated_at", json_string(PQgetvalue(res, row, C_UPDATED_AT)));
    if (!PQgetisnull(res, row, C_DELETED_AT))
        json_object_set_new(o, "deleted_at", json_string(PQgetvalue(res, row, C_DELETED_AT)));
    const char *s;
    if ((mask & (1u << F_NAME)) && *(s = PQgetvalue(res, row, C_NAME)))
        json_object_set_new(o, "name", json_string(s));
    if ((mask & (1u << F_DESCRIPTION)) && *(s = PQgetvalue(res, row, C_DESCRIPTION)))
        json_object_set_new(o, "description", json_string(s));
    if (mask & (1u << F_ATTRIBUTES)) {
        json_t *attrs = json_loads(PQgetvalue(res, row, C_ATTRIBUTES), 0, NULL);
        if (attrs != NULL && json_object_size(attrs) > 0)
            json_object_set_new(o, "attributes", attrs);
        else
            json_decref(attrs);
    }
    if (mask & (1u << F_STATE)) {
        int st = atoi(PQgetvalue(res, row, C_STATE));
        json_object_set_new(o, "state", json_string(tn_state_name((tn_state_t)st)));
    }
    if ((mask & (1u << F_STATE_DESCRIPTION)) && *(s = PQgetvalue(res, row, C_STATE_DESCRIPTION)))
        json_object_set_new(o, "state_description", json_string(s));
    for (int k = 0; k < TN_LIMIT_COUNT; k++) {
        /* UInt64Value: rendered as a decimal string, absent when unlimited. */
        if ((mask & (1u << (F_LIMIT0 + k))) && !PQgetisnull(res, row, C_LIMIT0 + k))
            json_object_set_new(o, tn_limit_field((tn_limit_kind_t)k),
                                json_string(PQgetvalue(res, row, C_LIMIT0 + k)));
    }
    return o;
}

/* ---- parameters -------------------------------------------------------------------------- */

static const char *api_limit_text(int64_t v, char *buf, size_t len)
{
    if (v < 0)
        return NULL;
    snprintf(buf, len, "%lld", (long long)v);
    return buf;
}

static int api_query_uint(const lw_http_req_t *req, const char *name, long long max, long long *out,
                          lw_err_t *err)
{
    const char *s = lw_http_query(req, name);
    if (s == NULL || *s == '\0')
        return 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || v < 0 || v > max) {
        char detail[64];
        snprintf(detail, sizeof detail, "a whole number from 0 to %lld", max);
        return api_invalid(err, name, detail);
    }
    *out = v;
    return 0;
}

/* ---- create ------------------------------------------------------------------------------ */

static void api_create_committed(void *arg, const lw_err_t *err)
{
    api_op_t *op = arg;
    if (err != NULL && err->def != NULL) {
        api_fail(op, err);
        return;
    }
    tn_registry_changed(op->tn, &op->t, op->updated_ms, false);
    lw_log(LW_LOG_INFO, "tenant", "tenant created", "tenant", op->t.id, "state",
           tn_state_name(op->t.state), NULL);
    lw_http_respond_json(op->req, 200, op->result);
    op->result = NULL;
    api_op_free(op);
}

static void api_create_rollback(api_op_t *op, const lw_err_t *err)
{
    op->err = *err;
    lw_db_tx_rollback(op->tx, NULL, NULL);
    op->tx = NULL;
    api_fail(op, &op->err);
}

/* Commits op's transaction; cb gets the outcome. When the commit cannot even be sent, op is
 * answered (database unavailable) and freed, and cb never runs. */
static void api_commit(api_op_t *op, lw_db_done_cb cb)
{
    lw_db_tx_t *tx = op->tx;
    op->tx = NULL;
    if (lw_db_tx_commit(tx, cb, op) != 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_db_unavailable, "cannot commit: database unavailable");
        api_fail(op, &e);
    }
}

static void api_create_hooked(void *arg, const lw_err_t *err)
{
    api_op_t *op = arg;
    if (err != NULL && err->def != NULL) {
        api_create_rollback(op, err);
        return;
    }
    api_commit(op, api_create_committed);
}

static void api_create_migrated(void *arg, const lw_err_t *err)
{
    api_op_t *op = arg;
    if (err != NULL && err->def != NULL) {
        api_create_rollback(op, err);
        return;
    }
    lw_err_t e;
    lw_err_clear(&e);
    if (op->tn->have_hook && op->tn->hook.run != NULL) {
        if (op->tn->hook.run(op->tn->hook.arg, op->tx, &op->t, op->body, api_create_hooked, op,
                             &e) != 0)
            api_create_rollback(op, &e);
        return;
    }
    api_create_hooked(op, NULL);
}

static void api_create_inserted(void *arg, const PGresult *res, const lw_err_t *err)
{
    api_op_t *op = arg;
    if (err != NULL && err->def != NULL) {
        lw_err_t e = *err;
        if (err->def == &lw_err_db_unique_violation) {
            lw_err_set(&e, &lw_err_already_exists, "tenant `%s` already exists", op->f.id);
            lw_err_attr(&e, "id", op->f.id);
        }
        api_create_rollback(op, &e);
        return;
    }
    api_row_tenant(res, 0, &op->t, &op->updated_ms);
    op->result = api_row_json(res, 0, (1u << F_COUNT) - 1);
    api_create_migrated(op, NULL);
}

static void api_create_schema_done(void *arg, const lw_err_t *err);

/* The schema first, then the row: lw_migrate_tenant_schema_tx takes the migrations lock
 * (shared) before this transaction touches lw_control.tenants, so a concurrent
 * `lwstack migrate` altering that table cannot deadlock with a tenant creation. */
static void api_create_begun(void *arg, lw_db_tx_t *tx, const lw_err_t *err)
{
    api_op_t *op = arg;
    if (err != NULL && err->def != NULL) {
        api_fail(op, err);
        return;
    }
    op->tx = tx;
    char schema[TN_SCHEMA_MAX + 1];
    tn_schema_name(op->f.id, schema);
    if (lw_migrate_tenant_schema_tx(tx, tn_migrations(op->tn), schema, api_create_schema_done,
                                    op) != 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_db_unavailable, "cannot create the tenant schema");
        api_create_rollback(op, &e);
    }
}

/* Inserts the tenant row, once its schema exists in the same transaction. */
static void api_create_schema_done(void *arg, const lw_err_t *err)
{
    api_op_t *op = arg;
    if (err != NULL && err->def != NULL) {
        lw_err_t e = *err;
        /* A schema of that name exists: the ID is taken (a row may be mid-purge). */
        if (err->def == &lw_err_db_unique_violation || strstr(err->message, "already exists")) {
            lw_err_set(&e, &lw_err_already_exists, "tenant `%s` already exists", op->f.id);
            lw_err_attr(&e, "id", op->f.id);
        }
        api_create_rollback(op, &e);
        return;
    }
    lw_db_tx_t *tx = op->tx;
    char lim[TN_LIMIT_COUNT][24];
    char state[8];
    snprintf(state, sizeof state, "%d", (int)op->f.state);
    const char *params[6 + TN_LIMIT_COUNT] = {
        op->f.id,
        op->f.name ? op->f.name : "",
        op->f.description ? op->f.description : "",
        op->f.attributes ? op->f.attributes : "{}",
        state,
        op->f.state_description ? op->f.state_description : "",
    };
    for (int k = 0; k < TN_LIMIT_COUNT; k++)
        params[6 + k] = api_limit_text(op->f.limits[k], lim[k], sizeof lim[k]);
    if (lw_db_tx_query(tx,
                       "INSERT INTO lw_control.tenants (tenant_id, name, description, "
                       "attributes, state, state_description, max_applications, max_clients, "
                       "max_end_devices, max_gateways, max_organizations, max_users) "
                       "VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10, $11, $12) "
                       "RETURNING " API_COLS,
                       6 + TN_LIMIT_COUNT, params, api_create_inserted, op) != 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_db_unavailable, "cannot insert the tenant");
        api_create_rollback(op, &e);
    }
}

static void api_create(lw_http_req_t *req, void *arg)
{
    tn_t *tn = arg;
    api_op_t *op = api_op_new(tn, req);
    lw_err_t err;
    lw_err_clear(&err);
    static const char *const allowed[] = {"tenant", NULL};
    if (tn_admin_auth(tn, req, &err) != 0)
        goto fail;
    op->body = lw_http_json(req, &err);
    if (op->body == NULL)
        goto fail;
    if (api_check_keys(op->body, allowed, tn->have_hook ? tn->hook.body_keys : NULL, &err) != 0)
        goto fail;
    for (int k = 0; k < TN_LIMIT_COUNT; k++)
        op->f.limits[k] = -1;
    op->f.state = TN_STATE_REQUESTED; /* The Things Stack's default for API creates */
    json_t *tenant = json_object_get(op->body, "tenant");
    if (tenant == NULL) {
        api_invalid(&err, "tenant", "missing");
        goto fail;
    }
    if (api_decode_tenant(tenant, &op->f, &err) != 0)
        goto fail;
    if (!op->f.has_id) {
        api_invalid(&err, "tenant.ids.tenant_id", "missing");
        goto fail;
    }
    if (tn->have_hook && tn->hook.validate != NULL &&
        tn->hook.validate(tn->hook.arg, op->body, &err) != 0)
        goto fail;
    if (lw_db_begin(tn->db, api_create_begun, op) != 0) {
        lw_err_set(&err, &lw_err_db_unavailable, "database unavailable");
        goto fail;
    }
    return;
fail:
    api_fail(op, &err);
}

/* ---- get --------------------------------------------------------------------------------- */

static void api_got(void *arg, const PGresult *res, const lw_err_t *err)
{
    api_op_t *op = arg;
    if (!api_found(op, res, err))
        return;
    lw_http_respond_json(op->req, 200, api_row_json(res, 0, op->mask));
    api_op_free(op);
}

/* Checks the admin key and the {tenant_id} parameter shared by get, update and delete. */
static int api_prepare_one(api_op_t *op, lw_err_t *err)
{
    if (tn_admin_auth(op->tn, op->req, err) != 0)
        return -1;
    const char *id = lw_http_param(op->req, "tenant_id");
    if (tn_id_validate(id, 3, "tenant_id", err) != 0)
        return -1;
    snprintf(op->f.id, sizeof op->f.id, "%s", id);
    return 0;
}

static void api_get(lw_http_req_t *req, void *arg)
{
    api_op_t *op = api_op_new(arg, req);
    lw_err_t err;
    lw_err_clear(&err);
    if (api_prepare_one(op, &err) != 0 || api_mask_query(req, &op->mask, &err) != 0)
        goto fail;
    const char *params[] = {op->f.id};
    api_query(op,
              "SELECT " API_COLS " FROM lw_control.tenants "
              "WHERE tenant_id = $1 AND deleted_at IS NULL",
              1, params, api_got);
    return;
fail:
    api_fail(op, &err);
}

/* ---- list -------------------------------------------------------------------------------- */

static void api_listed(void *arg, const PGresult *res, const lw_err_t *err)
{
    api_op_t *op = arg;
    if (err != NULL && err->def != NULL) {
        api_fail(op, err);
        return;
    }
    json_t *arr = json_array();
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++)
        json_array_append_new(arr, api_row_json(res, i, op->mask));
    char total[24];
    snprintf(total, sizeof total, "%lld", op->total);
    lw_http_add_header(op->req, "X-Total-Count", total);
    lw_http_respond_json(op->req, 200, json_pack("{s:o}", "tenants", arr));
    api_op_free(op);
}

static void api_counted(void *arg, const PGresult *res, const lw_err_t *err)
{
    api_op_t *op = arg;
    if (err != NULL && err->def != NULL) {
        api_fail(op, err);
        return;
    }
    op->total = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    char sql[1024], limit[24], offset[24];
    snprintf(sql, sizeof sql,
             "SELECT " API_COLS " FROM lw_control.tenants WHERE (deleted_at IS NOT NULL) = $1 "
             "ORDER BY %s LIMIT $2 OFFSET $3",
             op->order_sql);
    snprintf(limit, sizeof limit, "%lld", op->limit);
    snprintf(offset, sizeof offset, "%lld", op->page > 1 ? (op->page - 1) * op->limit : 0);
    const char *params[] = {op->deleted ? "t" : "f", limit, offset};
    api_query(op, sql, 3, params, api_listed);
}

static void api_list(lw_http_req_t *req, void *arg)
{
    api_op_t *op = api_op_new(arg, req);
    lw_err_t err;
    lw_err_clear(&err);
    /* Whitelisted orderings only: the SQL text comes from this table, never the request. */
    static const struct {
        const char *name, *sql;
    } orders[] = {
        {"tenant_id", "tenant_id"},
        {"-tenant_id", "tenant_id DESC"},
        {"name", "name, tenant_id"},
        {"-name", "name DESC, tenant_id"},
        {"created_at", "created_at, tenant_id"},
        {"-created_at", "created_at DESC, tenant_id"},
    };
    if (tn_admin_auth(op->tn, req, &err) != 0 || api_mask_query(req, &op->mask, &err) != 0)
        goto fail;
    op->limit = API_LIST_LIMIT_MAX;
    if (api_query_uint(req, "limit", API_LIST_LIMIT_MAX, &op->limit, &err) != 0 ||
        api_query_uint(req, "page", 1000000000, &op->page, &err) != 0)
        goto fail;
    if (op->limit == 0)
        op->limit = API_LIST_LIMIT_MAX;
    op->order_sql = "tenant_id";
    const char *order = lw_http_query(req, "order");
    if (order != NULL && *order) {
        op->order_sql = NULL;
        for (size_t i = 0; i < sizeof orders / sizeof orders[0]; i++)
            if (strcmp(orders[i].name, order) == 0)
                op->order_sql = orders[i].sql;
        if (op->order_sql == NULL) {
            api_invalid(&err, "order",
                        "one of tenant_id, name, created_at, optionally prefixed with -");
            goto fail;
        }
    }
    const char *deleted = lw_http_query(req, "deleted");
    op->deleted = deleted != NULL && strcmp(deleted, "true") == 0;
    const char *params[] = {op->deleted ? "t" : "f"};
    api_query(op, "SELECT count(*) FROM lw_control.tenants WHERE (deleted_at IS NOT NULL) = $1", 1,
              params, api_counted);
    return;
fail:
    api_fail(op, &err);
}

/* ---- update ------------------------------------------------------------------------------ */

static void api_updated(void *arg, const PGresult *res, const lw_err_t *err)
{
    api_op_t *op = arg;
    if (!api_found(op, res, err))
        return;
    api_row_tenant(res, 0, &op->t, &op->updated_ms);
    tn_registry_changed(op->tn, &op->t, op->updated_ms, false);
    lw_log(LW_LOG_INFO, "tenant", "tenant updated", "tenant", op->t.id, "state",
           tn_state_name(op->t.state), NULL);
    lw_http_respond_json(op->req, 200, api_row_json(res, 0, op->mask));
    api_op_free(op);
}

static void api_update(lw_http_req_t *req, void *arg)
{
    api_op_t *op = api_op_new(arg, req);
    lw_err_t err;
    lw_err_clear(&err);
    static const char *const allowed[] = {"tenant", "field_mask", NULL};
    bool mask_given;
    if (api_prepare_one(op, &err) != 0)
        goto fail;
    op->body = lw_http_json(req, &err);
    if (op->body == NULL || api_check_keys(op->body, allowed, NULL, &err) != 0)
        goto fail;
    for (int k = 0; k < TN_LIMIT_COUNT; k++)
        op->f.limits[k] = -1;
    json_t *tenant = json_object_get(op->body, "tenant");
    if (tenant == NULL) {
        api_invalid(&err, "tenant", "missing");
        goto fail;
    }
    if (api_decode_tenant(tenant, &op->f, &err) != 0 ||
        api_mask_body(op->body, &op->mask, &mask_given, &err) != 0)
        goto fail;
    /* The ID in the path names the tenant; one in the body must agree. */
    if (op->f.has_id && strcmp(op->f.id, lw_http_param(req, "tenant_id")) != 0) {
        api_invalid(&err, "tenant.ids.tenant_id", "does not match the path");
        goto fail;
    }
    snprintf(op->f.id, sizeof op->f.id, "%s", lw_http_param(req, "tenant_id"));
    if (!mask_given)
        op->mask = op->f.present; /* no mask: the fields the body carries */
    if (op->mask == 0) {
        api_invalid(&err, "field_mask", "no field to update");
        goto fail;
    }
    /* A masked field absent from the body is reset to its zero value (field mask rules). */
    char state[8], lim[TN_LIMIT_COUNT][24];
    snprintf(state, sizeof state, "%d",
             (int)((op->f.present & (1u << F_STATE)) ? op->f.state : TN_STATE_REQUESTED));
#define M(bit) ((op->mask & (1u << (bit))) ? "t" : "f")
    const char *params[1 + 2 * F_COUNT];
    params[0] = op->f.id;
    params[1] = M(F_NAME), params[2] = op->f.name ? op->f.name : "";
    params[3] = M(F_DESCRIPTION), params[4] = op->f.description ? op->f.description : "";
    params[5] = M(F_ATTRIBUTES), params[6] = op->f.attributes ? op->f.attributes : "{}";
    params[7] = M(F_STATE), params[8] = state;
    params[9] = M(F_STATE_DESCRIPTION);
    params[10] = op->f.state_description ? op->f.state_description : "";
    for (int k = 0; k < TN_LIMIT_COUNT; k++) {
        params[11 + 2 * k] = M(F_LIMIT0 + k);
        params[12 + 2 * k] = api_limit_text(op->f.limits[k], lim[k], sizeof lim[k]);
    }
#undef M
    /* In SET every expression sees the old row: a state change without a new description
     * clears the old one, as The Things Stack does. */
    api_query(op,
              "UPDATE lw_control.tenants SET "
              "name = CASE WHEN $2 THEN $3 ELSE name END, "
              "description = CASE WHEN $4 THEN $5 ELSE description END, "
              "attributes = CASE WHEN $6 THEN $7::jsonb ELSE attributes END, "
              "state = CASE WHEN $8 THEN $9::smallint ELSE state END, "
              "state_description = CASE WHEN $10 THEN $11 "
              "  WHEN $8 AND $9::smallint <> state THEN '' ELSE state_description END, "
              "max_applications = CASE WHEN $12 THEN $13::bigint ELSE max_applications END, "
              "max_clients = CASE WHEN $14 THEN $15::bigint ELSE max_clients END, "
              "max_end_devices = CASE WHEN $16 THEN $17::bigint ELSE max_end_devices END, "
              "max_gateways = CASE WHEN $18 THEN $19::bigint ELSE max_gateways END, "
              "max_organizations = CASE WHEN $20 THEN $21::bigint "
              "  ELSE max_organizations END, "
              "max_users = CASE WHEN $22 THEN $23::bigint ELSE max_users END, "
              "updated_at = clock_timestamp() "
              "WHERE tenant_id = $1 AND deleted_at IS NULL RETURNING " API_COLS,
              1 + 2 * F_COUNT, params, api_updated);
    return;
fail:
    api_fail(op, &err);
}

/* ---- delete ------------------------------------------------------------------------------ */

static void api_deleted_done(api_op_t *op)
{
    tn_registry_changed(op->tn, &op->t, op->updated_ms, op->purge);
    lw_log(LW_LOG_INFO, "tenant", op->purge ? "tenant purged" : "tenant deleted", "tenant",
           op->t.id, NULL);
    lw_http_respond_json(op->req, 200, json_object());
    api_op_free(op);
}

static void api_soft_deleted(void *arg, const PGresult *res, const lw_err_t *err)
{
    api_op_t *op = arg;
    if (!api_found(op, res, err))
        return;
    api_row_tenant(res, 0, &op->t, &op->updated_ms);
    api_deleted_done(op);
}

static void api_purge_committed(void *arg, const lw_err_t *err)
{
    api_op_t *op = arg;
    if (err != NULL && err->def != NULL) {
        api_fail(op, err);
        return;
    }
    api_deleted_done(op);
}

static void api_purge_dropped(void *arg, const lw_err_t *err)
{
    api_op_t *op = arg;
    if (err != NULL && err->def != NULL) {
        api_create_rollback(op, err);
        return;
    }
    api_commit(op, api_purge_committed);
}

static void api_purge_deleted(void *arg, const PGresult *res, const lw_err_t *err)
{
    api_op_t *op = arg;
    if (err != NULL && err->def != NULL) {
        api_create_rollback(op, err);
        return;
    }
    if (PQntuples(res) == 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_tenant_not_found, "tenant `%s` not found", op->f.id);
        lw_err_attr(&e, "tenant_id", op->f.id);
        api_create_rollback(op, &e);
        return;
    }
    api_row_tenant(res, 0, &op->t, &op->updated_ms);
    if (lw_migrate_drop_tenant_schema_tx(op->tx, op->t.schema, api_purge_dropped, op) != 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_db_unavailable, "cannot drop the tenant schema");
        api_create_rollback(op, &e);
    }
}

static void api_purge_begun(void *arg, lw_db_tx_t *tx, const lw_err_t *err)
{
    api_op_t *op = arg;
    if (err != NULL && err->def != NULL) {
        api_fail(op, err);
        return;
    }
    op->tx = tx;
    const char *params[] = {op->f.id};
    if (lw_db_tx_query(tx,
                       "DELETE FROM lw_control.tenants WHERE tenant_id = $1 RETURNING " API_COLS, 1,
                       params, api_purge_deleted, op) != 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_db_unavailable, "database unavailable");
        api_create_rollback(op, &e);
    }
}

static void api_delete(lw_http_req_t *req, void *arg)
{
    api_op_t *op = api_op_new(arg, req);
    lw_err_t err;
    lw_err_clear(&err);
    if (api_prepare_one(op, &err) != 0)
        goto fail;
    const char *purge = lw_http_query(req, "purge");
    op->purge = purge != NULL && (strcmp(purge, "true") == 0 || strcmp(purge, "1") == 0);
    if (op->purge) {
        if (lw_db_begin(op->tn->db, api_purge_begun, op) != 0) {
            lw_err_set(&err, &lw_err_db_unavailable, "database unavailable");
            goto fail;
        }
        return;
    }
    const char *params[] = {op->f.id};
    api_query(op,
              "UPDATE lw_control.tenants SET deleted_at = clock_timestamp(), "
              "updated_at = clock_timestamp() WHERE tenant_id = $1 AND deleted_at IS NULL "
              "RETURNING " API_COLS,
              1, params, api_soft_deleted);
    return;
fail:
    api_fail(op, &err);
}

void tn_api_register(tn_t *tn)
{
    lw_http_route(tn->http, "POST", "/api/v3/tenants", api_create, tn);
    lw_http_route(tn->http, "GET", "/api/v3/tenants", api_list, tn);
    lw_http_route(tn->http, "GET", "/api/v3/tenants/{tenant_id}", api_get, tn);
    lw_http_route(tn->http, "PUT", "/api/v3/tenants/{tenant_id}", api_update, tn);
    lw_http_route(tn->http, "DELETE", "/api/v3/tenants/{tenant_id}", api_delete, tn);
}
