/* The tenant registry's HTTP API (The Things Stack's TenantRegistry, §15.4):
 *   POST   /api/v3/tenants                 create (schema t_<id> with every tenant migration)
 *   GET    /api/v3/tenants                 list (limit, page, order, field_mask, deleted)
 *   GET    /api/v3/tenants/{tenant_id}     get (field_mask)
 *   PUT    /api/v3/tenants/{tenant_id}     update (field_mask)
 *   DELETE /api/v3/tenants/{tenant_id}     soft delete; ?purge=true drops the schema
 * all behind `Authorization: TenantAdminKey <hex>`. Each operation runs on the API pipeline
 * (cluster/api.h). A tenant's `configuration` (field mask path `configuration`, replaced
 * whole) holds its overrides of the deployment's settings in The Things Stack Enterprise's
 * shape; today default_cluster.is.user_registration, read by the Identity Server. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/api.h"
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
    F_CONFIGURATION = F_LIMIT0 + TN_LIMIT_COUNT,
    F_COUNT
};

static const char *const api_field_names[F_COUNT + 1] = {
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
    "configuration",
    NULL,
};

static const lw_api_fields_t api_mask_fields = {.paths = api_field_names, .prefix = "tenant."};

/* TTS limits (Tenant.yml): name ≤ 50, description ≤ 2000, state_description ≤ 128. */
#define API_NAME_MAX              50
#define API_DESCRIPTION_MAX       2000
#define API_STATE_DESCRIPTION_MAX 128
#define API_ATTRIBUTES_MAX        10
#define API_ATTRIBUTE_VALUE_MAX   200

/* The columns every query returns, in this order. */
#define API_COLS                                                                                   \
    "tenant_id, state, deleted_at, (extract(epoch FROM updated_at) * 1000)::bigint, incarnation, " \
    "max_applications, max_clients, max_end_devices, max_gateways, max_organizations, "            \
    "max_users, name, description, attributes::text, state_description, "                          \
    "configuration::text, " LW_API_SQL_TIME("created_at") ", " LW_API_SQL_TIME(                    \
        "updated_at") ", " LW_API_SQL_TIME("deleted_at")
enum {
    C_ID = 0,
    C_STATE,
    C_DELETED,
    C_UPDATED_MS,
    C_INCARNATION, /* for the registry only: not part of The Things Stack's tenant */
    C_LIMIT0,
    C_NAME = C_LIMIT0 + TN_LIMIT_COUNT,
    C_DESCRIPTION,
    C_ATTRIBUTES,
    C_STATE_DESCRIPTION,
    C_CONFIGURATION,
    C_CREATED_AT,
    C_UPDATED_AT,
    C_DELETED_AT,
};

/* A tenant as a create or update request carries it. */
typedef struct api_fields {
    unsigned present; /* 1u << F_* */
    char id[TN_ID_MAX + 1];
    bool has_id;
    const char *name;
    const char *description;
    char *attributes;    /* JSON text, malloc'd */
    char *configuration; /* JSON text, malloc'd */
    tn_state_t state;
    const char *state_description;
    int64_t limits[TN_LIMIT_COUNT]; /* -1: unlimited (SQL NULL) */
} api_fields_t;

/* The state of every tenant operation. */
typedef struct api_op {
    lw_api_op_t api;
    tn_t *tn;
    json_t *body;   /* owned by the request */
    api_fields_t f; /* the tenant of the path and the body */
    unsigned mask;  /* fields to render (1u << F_*) */
    tn_tenant_t t;  /* the tenant as written, for the registry */
    int64_t updated_ms;
    json_t *created; /* create: the answer, kept until the hook has run */
    bool purge;      /* delete: drop the schema too */
} api_op_t;

static void api_op_destroy(lw_api_op_t *a)
{
    api_op_t *op = (api_op_t *)a;
    free(op->f.attributes);
    free(op->f.configuration);
    json_decref(op->created);
}

static api_op_t *api_op_new(tn_t *tn, lw_http_req_t *req)
{
    const lw_api_env_t env = {.db = tn->db, .module = "tenant"};
    api_op_t *op = lw_api_op_new(sizeof *op, &env, req);
    op->tn = tn;
    op->api.destroy = api_op_destroy;
    for (int k = 0; k < TN_LIMIT_COUNT; k++)
        op->f.limits[k] = -1;
    return op;
}

static void api_fail_not_found(api_op_t *op)
{
    lw_err_t e;
    lw_err_set(&e, &lw_err_tenant_not_found, "tenant `%s` not found", op->f.id);
    lw_err_attr(&e, "tenant_id", op->f.id);
    lw_api_fail(&op->api, &e);
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
    /* Stored as bigint: a larger UInt64Value is refused, never clamped. */
    long long n;
    if (lw_api_uint_decode(v, field, INT64_MAX, &n, err) != 0)
        return -1;
    *out = n;
    return 0;
}

static int api_decode_string(json_t *v, const char *field, size_t max, const char **out,
                             lw_err_t *err)
{
    if (!json_is_string(v))
        return lw_api_invalid(err, field, "not a string");
    if (json_string_length(v) > max)
        return lw_api_invalid(err, field, "too long (at most %zu characters)", max);
    *out = json_string_value(v);
    return 0;
}

/* tenant.ids: {"tenant_id": "..."} and nothing else. */
static int api_decode_ids(json_t *v, api_fields_t *f, lw_err_t *err)
{
    if (!json_is_object(v))
        return lw_api_invalid(err, "tenant.ids", "not an object");
    const char *k;
    json_t *iv;
    json_object_foreach(v, k, iv)
    {
        if (strcmp(k, "tenant_id") != 0) {
            char field[96];
            snprintf(field, sizeof field, "tenant.ids.%.60s", k);
            return lw_api_unknown(err, field);
        }
    }
    json_t *id = json_object_get(v, "tenant_id");
    if (!json_is_string(id))
        return lw_api_invalid(err, "tenant.ids.tenant_id", "not a string");
    if (tn_id_validate(json_string_value(id), 3, "tenant.ids.tenant_id", err) != 0)
        return -1;
    snprintf(f->id, sizeof f->id, "%s", json_string_value(id));
    f->has_id = true;
    return 0;
}

/* tenant.attributes: at most 10 ID-like keys with strings of at most 200 characters. */
static int api_decode_attributes(json_t *v, const char *field, api_fields_t *f, lw_err_t *err)
{
    if (!json_is_object(v))
        return lw_api_invalid(err, field, "not an object of strings");
    if (json_object_size(v) > API_ATTRIBUTES_MAX)
        return lw_api_invalid(err, field, "more than 10 attributes");
    const char *ak;
    json_t *av;
    json_object_foreach(v, ak, av)
    {
        char afield[160];
        snprintf(afield, sizeof afield, "tenant.attributes.%.120s", ak);
        lw_err_t kerr;
        if (tn_id_validate(ak, 2, afield, &kerr) != 0)
            return lw_api_invalid(err, afield, "keys follow the ID rules");
        if (!json_is_string(av) || json_string_length(av) > API_ATTRIBUTE_VALUE_MAX)
            return lw_api_invalid(err, afield, "a string of at most 200 characters");
    }
    free(f->attributes);
    f->attributes = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    return 0;
}

/* The tenant's configuration: The Things Stack Enterprise's Tenant.configuration, of which
 * lwstack applies default_cluster.is.user_registration {enabled, invitation.required,
 * admin_approval.required} (components/is/entity.c) and default_cluster.ns.dev_addr_prefixes
 * (["260b0000/16", ...], components/ns/join.c). A setting left out is the deployment's
 * (is.user-registration.*, ns.dev-addr-prefixes). Anything else is an unknown field rather
 * than a setting silently ignored. */
typedef struct api_cfg_node {
    const char *key;
    const struct api_cfg_node *children; /* NULL: a boolean, unless prefixes */
    bool prefixes;                       /* a list of DevAddr prefixes "xxxxxxxx/len" */
} api_cfg_node_t;

/* "260b0000/16": 8 hex digits, '/', a length 1..32. */
static bool api_cfg_prefix_valid(const char *s)
{
    if (strlen(s) < 10 || strlen(s) > 11 || s[8] != '/')
        return false;
    for (int i = 0; i < 8; i++)
        if (!isxdigit((unsigned char)s[i]))
            return false;
    char *end = NULL;
    long len = strtol(s + 9, &end, 10);
    return *end == '\0' && len >= 1 && len <= 32 && isdigit((unsigned char)s[9]);
}

static const api_cfg_node_t api_cfg_required[] = {{"required", NULL, false}, {NULL, NULL, false}};
static const api_cfg_node_t api_cfg_registration[] = {
    {"enabled", NULL, false},
    {"invitation", api_cfg_required, false},
    {"admin_approval", api_cfg_required, false},
    {NULL, NULL, false},
};
static const api_cfg_node_t api_cfg_is[] = {{"user_registration", api_cfg_registration, false},
                                            {NULL, NULL, false}};
static const api_cfg_node_t api_cfg_ns[] = {{"dev_addr_prefixes", NULL, true}, {NULL, NULL, false}};
static const api_cfg_node_t api_cfg_cluster[] = {
    {"is", api_cfg_is, false}, {"ns", api_cfg_ns, false}, {NULL, NULL, false}};
static const api_cfg_node_t api_cfg_root[] = {{"default_cluster", api_cfg_cluster, false},
                                              {NULL, NULL, false}};

static int api_check_config(json_t *v, const char *field, const api_cfg_node_t *nodes,
                            lw_err_t *err)
{
    if (!json_is_object(v))
        return lw_api_invalid(err, field, "not an object");
    const char *k;
    json_t *cv;
    json_object_foreach(v, k, cv)
    {
        char sub[160];
        snprintf(sub, sizeof sub, "%.100s.%.40s", field, k);
        const api_cfg_node_t *n = nodes;
        while (n->key != NULL && strcmp(n->key, k) != 0)
            n++;
        if (n->key == NULL)
            return lw_api_unknown(err, sub);
        if (n->prefixes) {
            size_t i;
            json_t *p;
            if (!json_is_array(cv) || json_array_size(cv) > 8)
                return lw_api_invalid(err, sub, "a list of at most 8 DevAddr prefixes");
            json_array_foreach(cv, i, p)
            {
                if (!json_is_string(p) || !api_cfg_prefix_valid(json_string_value(p)))
                    return lw_api_invalid(err, sub, "DevAddr prefixes look like \"260b0000/16\"");
            }
        } else if (n->children == NULL) {
            if (!json_is_boolean(cv))
                return lw_api_invalid(err, sub, "not a boolean");
        } else if (api_check_config(cv, sub, n->children, err) != 0) {
            return -1;
        }
    }
    return 0;
}

static int api_decode_configuration(json_t *v, const char *field, api_fields_t *f, lw_err_t *err)
{
    if (json_is_null(v))
        v = NULL;
    else if (api_check_config(v, field, api_cfg_root, err) != 0)
        return -1;
    free(f->configuration);
    f->configuration = v != NULL ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    return 0;
}

static int api_decode_state(json_t *v, const char *field, tn_state_t *out, lw_err_t *err)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 4) {
        *out = (tn_state_t)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && tn_state_parse(json_string_value(v), out) == 0)
        return 0;
    return lw_api_invalid(err, field,
                          "not one of STATE_REQUESTED, STATE_APPROVED, STATE_REJECTED, "
                          "STATE_FLAGGED, STATE_SUSPENDED");
}

/* One settable field (F_*) of the tenant object. */
static int api_decode_field(int which, json_t *v, const char *field, api_fields_t *f, lw_err_t *err)
{
    switch (which) {
    case F_NAME:
        return api_decode_string(v, field, API_NAME_MAX, &f->name, err);
    case F_DESCRIPTION:
        return api_decode_string(v, field, API_DESCRIPTION_MAX, &f->description, err);
    case F_STATE_DESCRIPTION:
        return api_decode_string(v, field, API_STATE_DESCRIPTION_MAX, &f->state_description, err);
    case F_STATE:
        return api_decode_state(v, field, &f->state, err);
    case F_ATTRIBUTES:
        return api_decode_attributes(v, field, f, err);
    case F_CONFIGURATION:
        return api_decode_configuration(v, field, f, err);
    default:
        return api_decode_limit(v, field, &f->limits[which - F_LIMIT0], err);
    }
}

/* Decodes the `tenant` object of a create or update request. */
static int api_decode_tenant(json_t *obj, api_fields_t *f, lw_err_t *err)
{
    if (obj == NULL)
        return lw_api_invalid(err, "tenant", "missing");
    if (!json_is_object(obj))
        return lw_api_invalid(err, "tenant", "not an object");
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        char field[96];
        snprintf(field, sizeof field, "tenant.%.80s", key);
        if (strcmp(key, "ids") == 0) {
            if (api_decode_ids(v, f, err) != 0)
                return -1;
            continue;
        }
        if (strcmp(key, "created_at") == 0 || strcmp(key, "updated_at") == 0)
            continue; /* read-only; clients send back what they read */
        int which = -1;
        for (int i = 0; i < F_COUNT; i++)
            if (strcmp(key, api_field_names[i]) == 0)
                which = i;
        if (which < 0)
            return lw_api_unknown(err, field);
        f->present |= 1u << which;
        if (api_decode_field(which, v, field, f, err) != 0)
            return -1;
    }
    return 0;
}

static unsigned api_mask_bits(const lw_api_mask_t *m)
{
    unsigned bits = 0;
    for (int i = 0; i < F_COUNT; i++)
        if (lw_api_mask_has(m, api_field_names[i]))
            bits |= 1u << i;
    return bits;
}

/* ?field_mask=a,b into op->mask. */
static int api_mask_query(api_op_t *op, lw_err_t *err)
{
    lw_api_mask_t m;
    if (lw_api_mask_parse_csv(&api_mask_fields, lw_http_query(op->api.req, "field_mask"),
                              "field_mask", &m, err) != 0)
        return -1;
    op->mask = api_mask_bits(&m);
    return 0;
}

/* ---- encoding --------------------------------------------------------------------------- */

/* Row `row` of a result whose API_COLS start at column c0. */
#define COL(c)    PQgetvalue(res, row, c0 + (c))
#define NULCOL(c) PQgetisnull(res, row, c0 + (c))

static void api_row_tenant(const PGresult *res, int row, tn_tenant_t *t, int64_t *updated_ms)
{
    const int c0 = 0;
    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", COL(C_ID));
    tn_schema_name(t->id, t->schema);
    t->state = (tn_state_t)atoi(COL(C_STATE));
    t->deleted = !NULCOL(C_DELETED);
    *updated_ms = strtoll(COL(C_UPDATED_MS), NULL, 10);
    for (int k = 0; k < TN_LIMIT_COUNT; k++)
        t->limits[k] = NULCOL(C_LIMIT0 + k) ? TN_UNLIMITED : strtoll(COL(C_LIMIT0 + k), NULL, 10);
    t->incarnation = strtoull(COL(C_INCARNATION), NULL, 10);
}

/* Sets key to the string column c when the mask selects bit and the value is not empty. */
static void api_set_text(json_t *o, const char *key, const char *value, bool selected)
{
    if (selected && *value != '\0')
        json_object_set_new(o, key, json_string(value));
}

/* The tenant as The Things Stack renders it: ids and timestamps always, other fields when
 * selected by the mask and not zero. */
static json_t *api_row_json(const PGresult *res, int row, int c0, unsigned mask)
{
    json_t *o = json_object();
    json_object_set_new(o, "ids", json_pack("{s:s}", "tenant_id", COL(C_ID)));
    json_object_set_new(o, "created_at", json_string(COL(C_CREATED_AT)));
    json_object_set_new(o, "updated_at", json_string(COL(C_UPDATED_AT)));
    if (!NULCOL(C_DELETED_AT))
        json_object_set_new(o, "deleted_at", json_string(COL(C_DELETED_AT)));
    api_set_text(o, "name", COL(C_NAME), mask & (1u << F_NAME));
    api_set_text(o, "description", COL(C_DESCRIPTION), mask & (1u << F_DESCRIPTION));
    if (mask & (1u << F_ATTRIBUTES)) {
        json_t *attrs = json_loads(COL(C_ATTRIBUTES), 0, NULL);
        if (attrs != NULL && json_object_size(attrs) > 0)
            json_object_set_new(o, "attributes", attrs);
        else
            json_decref(attrs);
    }
    if (mask & (1u << F_STATE))
        json_object_set_new(o, "state", json_string(tn_state_name((tn_state_t)atoi(COL(C_STATE)))));
    api_set_text(o, "state_description", COL(C_STATE_DESCRIPTION),
                 mask & (1u << F_STATE_DESCRIPTION));
    for (int k = 0; k < TN_LIMIT_COUNT; k++) {
        /* UInt64Value: rendered as a decimal string, absent when unlimited. */
        if ((mask & (1u << (F_LIMIT0 + k))) && !NULCOL(C_LIMIT0 + k))
            json_object_set_new(o, tn_limit_field((tn_limit_kind_t)k),
                                json_string(COL(C_LIMIT0 + k)));
    }
    if (mask & (1u << F_CONFIGURATION)) {
        json_t *conf = json_loads(COL(C_CONFIGURATION), 0, NULL);
        if (conf != NULL && json_object_size(conf) > 0)
            json_object_set_new(o, "configuration", conf);
        else
            json_decref(conf);
    }
    return o;
}

#undef COL
#undef NULCOL

static const char *api_limit_text(int64_t v, char *buf, size_t len)
{
    if (v < 0)
        return NULL;
    snprintf(buf, len, "%lld", (long long)v);
    return buf;
}

/* ---- create ------------------------------------------------------------------------------ */

static void api_create_succeeded(lw_api_op_t *a)
{
    api_op_t *op = (api_op_t *)a;
    tn_registry_changed(op->tn, &op->t, op->updated_ms, false);
    lw_log(LW_LOG_INFO, "tenant", "tenant created", "tenant", op->t.id, "state",
           tn_state_name(op->t.state), NULL);
}

static void api_create_hooked(lw_api_op_t *a)
{
    api_op_t *op = (api_op_t *)a;
    json_t *created = op->created;
    op->created = NULL;
    lw_api_reply(a, 200, created);
}

static void api_create_inserted(lw_api_op_t *a, const PGresult *res)
{
    api_op_t *op = (api_op_t *)a;
    tn_t *tn = op->tn;
    api_row_tenant(res, 0, &op->t, &op->updated_ms);
    op->created = api_row_json(res, 0, 0, (1u << F_COUNT) - 1);
    a->nconflicts = 0; /* the hook's own errors are its own */
    if (!tn->have_hook || tn->hook.run == NULL) {
        api_create_hooked(a);
        return;
    }
    lw_err_t e;
    lw_err_clear(&e);
    if (tn->hook.run(tn->hook.arg, a->tx, &op->t, op->body, lw_api_then(a, api_create_hooked), a,
                     &e) != 0)
        lw_api_fail(a, &e);
}

/* Inserts the tenant row, once its schema exists in the same transaction. */
static void api_create_schema_done(void *arg, const lw_err_t *err)
{
    api_op_t *op = arg;
    if (err != NULL && err->def != NULL) {
        /* A schema of that name exists: the ID is taken (a row may be mid-purge). */
        lw_err_t e = *err;
        if (err->def == &lw_err_db_unique_violation || strstr(err->message, "already exists")) {
            lw_err_set(&e, &lw_err_already_exists, "tenant `%s` already exists", op->f.id);
            lw_err_attr(&e, "id", op->f.id);
        }
        lw_api_fail(&op->api, &e);
        return;
    }
    char lim[TN_LIMIT_COUNT][24];
    char state[8];
    snprintf(state, sizeof state, "%d", (int)op->f.state);
    const char *params[7 + TN_LIMIT_COUNT] = {
        op->f.id,
        op->f.name ? op->f.name : "",
        op->f.description ? op->f.description : "",
        op->f.attributes ? op->f.attributes : "{}",
        state,
        op->f.state_description ? op->f.state_description : "",
    };
    for (int k = 0; k < TN_LIMIT_COUNT; k++)
        params[6 + k] = api_limit_text(op->f.limits[k], lim[k], sizeof lim[k]);
    params[6 + TN_LIMIT_COUNT] = op->f.configuration ? op->f.configuration : "{}";
    lw_api_on_conflict(&op->api, NULL, op->f.id, "tenant `%s` already exists", op->f.id);
    lw_api_query(&op->api,
                 "INSERT INTO lw_control.tenants (tenant_id, name, description, "
                 "attributes, state, state_description, max_applications, max_clients, "
                 "max_end_devices, max_gateways, max_organizations, max_users, configuration) "
                 "VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb) "
                 "RETURNING " API_COLS,
                 7 + TN_LIMIT_COUNT, params, api_create_inserted);
}

/* The schema first, then the row: lw_migrate_tenant_schema_tx takes the migrations lock
 * (shared) before this transaction touches lw_control.tenants, so a concurrent
 * `lwstack migrate` altering that table cannot deadlock with a tenant creation. */
static void api_create_begun(lw_api_op_t *a, const PGresult *res)
{
    (void)res;
    api_op_t *op = (api_op_t *)a;
    char schema[TN_SCHEMA_MAX + 1];
    tn_schema_name(op->f.id, schema);
    if (lw_migrate_tenant_schema_tx(a->tx, tn_migrations(op->tn), schema, api_create_schema_done,
                                    op) != 0)
        lw_api_fail_with(a, &lw_err_db_unavailable, "cannot create the tenant schema");
}

static int api_create_decode(api_op_t *op, lw_err_t *err)
{
    tn_t *tn = op->tn;
    static const char *const allowed[] = {"tenant", NULL};
    if (tn_admin_auth(tn, op->api.req, err) != 0)
        return -1;
    op->body = lw_http_json(op->api.req, err);
    if (op->body == NULL ||
        lw_api_check_keys(op->body, allowed, tn->have_hook ? tn->hook.body_keys : NULL, err) != 0)
        return -1;
    op->f.state = TN_STATE_REQUESTED; /* The Things Stack's default for API creates */
    if (api_decode_tenant(json_object_get(op->body, "tenant"), &op->f, err) != 0)
        return -1;
    if (!op->f.has_id)
        return lw_api_invalid(err, "tenant.ids.tenant_id", "missing");
    if (tn->have_hook && tn->hook.validate != NULL &&
        tn->hook.validate(tn->hook.arg, op->body, err) != 0)
        return -1;
    return 0;
}

static void api_create(lw_http_req_t *req, void *arg)
{
    api_op_t *op = api_op_new(arg, req);
    lw_err_t err;
    lw_err_clear(&err);
    if (api_create_decode(op, &err) != 0) {
        lw_api_fail(&op->api, &err);
        return;
    }
    op->api.tenant_id = op->f.id;
    op->api.succeeded = api_create_succeeded;
    lw_api_begin(&op->api, api_create_begun);
}

/* ---- get --------------------------------------------------------------------------------- */

static void api_got(lw_api_op_t *a, const PGresult *res)
{
    api_op_t *op = (api_op_t *)a;
    if (PQntuples(res) == 0) {
        api_fail_not_found(op);
        return;
    }
    lw_api_reply(a, 200, api_row_json(res, 0, 0, op->mask));
}

/* Checks the admin key and the {tenant_id} parameter shared by get, update and delete. */
static int api_prepare_one(api_op_t *op, lw_err_t *err)
{
    if (tn_admin_auth(op->tn, op->api.req, err) != 0)
        return -1;
    const char *id = lw_http_param(op->api.req, "tenant_id");
    if (tn_id_validate(id, 3, "tenant_id", err) != 0)
        return -1;
    snprintf(op->f.id, sizeof op->f.id, "%s", id);
    op->api.tenant_id = op->f.id;
    return 0;
}

static void api_get(lw_http_req_t *req, void *arg)
{
    api_op_t *op = api_op_new(arg, req);
    lw_err_t err;
    lw_err_clear(&err);
    if (api_prepare_one(op, &err) != 0 || api_mask_query(op, &err) != 0) {
        lw_api_fail(&op->api, &err);
        return;
    }
    const char *params[] = {op->f.id};
    lw_api_query(&op->api,
                 "SELECT " API_COLS " FROM lw_control.tenants "
                 "WHERE tenant_id = $1 AND deleted_at IS NULL",
                 1, params, api_got);
}

/* ---- list -------------------------------------------------------------------------------- */

static json_t *api_list_row(lw_api_op_t *a, const PGresult *res, int row)
{
    return api_row_json(res, row, 1, ((api_op_t *)a)->mask);
}

static void api_listed(lw_api_op_t *a, const PGresult *res)
{
    lw_api_reply_page(a, res, "tenants", api_list_row, true);
}

static void api_list(lw_http_req_t *req, void *arg)
{
    /* Whitelisted orderings only: the SQL text comes from this table, never the request. */
    static const lw_api_order_t orders[] = {
        {"tenant_id", "tenant_id", "tenant_id DESC"},
        {"name", "name, tenant_id", "name DESC, tenant_id"},
        {"created_at", "created_at, tenant_id", "created_at DESC, tenant_id"},
    };
    api_op_t *op = api_op_new(arg, req);
    lw_err_t err;
    lw_err_clear(&err);
    lw_api_page_t page;
    const char *order;
    if (tn_admin_auth(op->tn, req, &err) != 0 || api_mask_query(op, &err) != 0 ||
        lw_api_page_parse(lw_http_query(req, "limit"), lw_http_query(req, "page"), LW_API_LIMIT_MAX,
                          &page, &err) != 0 ||
        lw_api_order_parse(lw_http_query(req, "order"), orders, sizeof orders / sizeof orders[0],
                           &order, &err) != 0) {
        lw_api_fail(&op->api, &err);
        return;
    }
    const char *deleted = lw_http_query(req, "deleted");
    bool want_deleted = deleted != NULL && strcmp(deleted, "true") == 0;
    char sql[2048];
    if (lw_api_page_sql(sql, sizeof sql, API_COLS,
                        "lw_control.tenants WHERE (deleted_at IS NOT NULL) = $1", order,
                        &page) != 0) {
        lw_api_fail_with(&op->api, &lw_err_internal, "list statement too long");
        return;
    }
    const char *params[] = {want_deleted ? "t" : "f"};
    lw_api_query(&op->api, sql, 1, params, api_listed);
}

/* ---- update ------------------------------------------------------------------------------ */

static void api_update_succeeded(lw_api_op_t *a)
{
    api_op_t *op = (api_op_t *)a;
    tn_registry_changed(op->tn, &op->t, op->updated_ms, false);
    lw_log(LW_LOG_INFO, "tenant", "tenant updated", "tenant", op->t.id, "state",
           tn_state_name(op->t.state), NULL);
}

static void api_updated(lw_api_op_t *a, const PGresult *res)
{
    api_op_t *op = (api_op_t *)a;
    if (PQntuples(res) == 0) {
        api_fail_not_found(op);
        return;
    }
    api_row_tenant(res, 0, &op->t, &op->updated_ms);
    a->succeeded = api_update_succeeded;
    lw_api_reply(a, 200, api_row_json(res, 0, 0, op->mask));
}

/* Decodes the body of an update into op->f and op->mask. */
static int api_update_decode(api_op_t *op, lw_err_t *err)
{
    static const char *const allowed[] = {"tenant", "field_mask", NULL};
    lw_http_req_t *req = op->api.req;
    if (api_prepare_one(op, err) != 0)
        return -1;
    op->body = lw_http_json(req, err);
    if (op->body == NULL || lw_api_check_keys(op->body, allowed, NULL, err) != 0)
        return -1;
    json_t *fm = json_object_get(op->body, "field_mask");
    lw_api_mask_t m;
    if (api_decode_tenant(json_object_get(op->body, "tenant"), &op->f, err) != 0 ||
        lw_api_mask_parse_json(&api_mask_fields, fm, "field_mask", &m, err) != 0)
        return -1;
    /* The ID in the path names the tenant; one in the body must agree. */
    if (op->f.has_id && strcmp(op->f.id, lw_http_param(req, "tenant_id")) != 0)
        return lw_api_invalid(err, "tenant.ids.tenant_id", "does not match the path");
    snprintf(op->f.id, sizeof op->f.id, "%s", lw_http_param(req, "tenant_id"));
    /* No mask: the fields the body carries. */
    op->mask = fm != NULL ? api_mask_bits(&m) : op->f.present;
    if (op->mask == 0)
        return lw_api_invalid(err, "field_mask", "no field to update");
    return 0;
}

static void api_update(lw_http_req_t *req, void *arg)
{
    api_op_t *op = api_op_new(arg, req);
    lw_err_t err;
    lw_err_clear(&err);
    if (api_update_decode(op, &err) != 0) {
        lw_api_fail(&op->api, &err);
        return;
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
    params[23] = M(F_CONFIGURATION);
    params[24] = op->f.configuration ? op->f.configuration : "{}";
#undef M
    /* In SET every expression sees the old row: a state change without a new description
     * clears the old one, as The Things Stack does. */
    lw_api_query(&op->api,
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
                 "configuration = CASE WHEN $24 THEN $25::jsonb ELSE configuration END, "
                 "updated_at = clock_timestamp() "
                 "WHERE tenant_id = $1 AND deleted_at IS NULL RETURNING " API_COLS,
                 1 + 2 * F_COUNT, params, api_updated);
}

/* ---- delete ------------------------------------------------------------------------------ */

static void api_delete_succeeded(lw_api_op_t *a)
{
    api_op_t *op = (api_op_t *)a;
    tn_registry_changed(op->tn, &op->t, op->updated_ms, op->purge);
    lw_log(LW_LOG_INFO, "tenant", op->purge ? "tenant purged" : "tenant deleted", "tenant",
           op->t.id, NULL);
}

static void api_purge_dropped(lw_api_op_t *a)
{
    lw_api_reply(a, 200, json_object());
}

/* Soft delete: the row as updated; purge: the row as deleted, then the schema goes. */
static void api_deleted(lw_api_op_t *a, const PGresult *res)
{
    api_op_t *op = (api_op_t *)a;
    if (PQntuples(res) == 0) {
        api_fail_not_found(op);
        return;
    }
    api_row_tenant(res, 0, &op->t, &op->updated_ms);
    a->succeeded = api_delete_succeeded;
    if (!op->purge) {
        lw_api_reply(a, 200, json_object());
        return;
    }
    if (lw_migrate_drop_tenant_schema_tx(a->tx, op->t.schema, lw_api_then(a, api_purge_dropped),
                                         a) != 0)
        lw_api_fail_with(a, &lw_err_db_unavailable, "cannot drop the tenant schema");
}

static void api_purge_begun(lw_api_op_t *a, const PGresult *res)
{
    (void)res;
    api_op_t *op = (api_op_t *)a;
    const char *params[] = {op->f.id};
    lw_api_query(a, "DELETE FROM lw_control.tenants WHERE tenant_id = $1 RETURNING " API_COLS, 1,
                 params, api_deleted);
}

static void api_delete(lw_http_req_t *req, void *arg)
{
    api_op_t *op = api_op_new(arg, req);
    lw_err_t err;
    lw_err_clear(&err);
    if (api_prepare_one(op, &err) != 0) {
        lw_api_fail(&op->api, &err);
        return;
    }
    const char *purge = lw_http_query(req, "purge");
    op->purge = purge != NULL && (strcmp(purge, "true") == 0 || strcmp(purge, "1") == 0);
    if (op->purge) {
        lw_api_begin(&op->api, api_purge_begun);
        return;
    }
    const char *params[] = {op->f.id};
    lw_api_query(&op->api,
                 "UPDATE lw_control.tenants SET deleted_at = clock_timestamp(), "
                 "updated_at = clock_timestamp() WHERE tenant_id = $1 AND deleted_at IS NULL "
                 "RETURNING " API_COLS,
                 1, params, api_deleted);
}

void tn_api_register(tn_t *tn)
{
    lw_http_route(tn->http, "POST", "/api/v3/tenants", api_create, tn);
    lw_http_route(tn->http, "GET", "/api/v3/tenants", api_list, tn);
    lw_http_route(tn->http, "GET", "/api/v3/tenants/{tenant_id}", api_get, tn);
    lw_http_route(tn->http, "PUT", "/api/v3/tenants/{tenant_id}", api_update, tn);
    lw_http_route(tn->http, "DELETE", "/api/v3/tenants/{tenant_id}", api_delete, tn);
}
