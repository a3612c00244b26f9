/* Access: API keys and collaborators of users, organizations, applications and gateways,
 * login / logout with access tokens, password changes, and /auth_info. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "is/server_private.h"
#include "cluster/log.h"

enum { K_CREATE = 0, K_LIST, K_GET, K_UPDATE, K_DELETE };
enum { C_LIST = 0, C_SET, C_GET, C_DELETE };

static const is_kind_t *kind_of(is_ent_t e)
{
    static const is_kind_t *const k[] = {&is_kind_user, &is_kind_org, &is_kind_app, &is_kind_gw};
    return e < 4 ? k[e] : &is_kind_app;
}

static is_rights_t r_keys(is_ent_t e)
{
    static const int v[] = {IS_R_USER_SETTINGS_API_KEYS, IS_R_ORGANIZATION_SETTINGS_API_KEYS,
                            IS_R_APPLICATION_SETTINGS_API_KEYS, IS_R_GATEWAY_SETTINGS_API_KEYS};
    return IS_BIT(v[e]);
}

static is_rights_t r_collabs(is_ent_t e)
{
    static const int v[] = {0, IS_R_ORGANIZATION_SETTINGS_MEMBERS,
                            IS_R_APPLICATION_SETTINGS_COLLABORATORS,
                            IS_R_GATEWAY_SETTINGS_COLLABORATORS};
    return IS_BIT(v[e]);
}

/* The state of an API key operation. op.id is the entity the keys belong to. */
typedef struct key_op {
    is_op_t op;
    char key_id[64];            /* get, update, delete: the path's key ID */
    is_rights_t want;           /* create, update: the rights asked for */
    char name[64];              /* create, update: the body's name */
    char rights_pg[1024];       /* ... want as a text[] literal */
    char expires_at[64];        /* ... RFC 3339, "" for none */
    is_token_t tok;             /* create: the new key */
    char hash[IS_HASH_MAX + 1]; /* ... its hash */
    is_page_t page;             /* list */
    /* update: the columns the field mask changes */
    bool set_name, set_rights, set_exp;
} key_op_t;
#define K(op) ((key_op_t *)(op))

/* The state of a collaborator operation. op.id is the entity. */
typedef struct collab_op {
    is_op_t op;
    char account_id[TN_ID_MAX + 1]; /* the collaborator */
    char account_type[16];          /* "user" or "organization" */
    is_rights_t want;               /* set: the rights given (none: removed) */
    char rights_pg[1024];           /* ... want as a text[] literal */
    is_page_t page;                 /* list */
} collab_op_t;
#define C(op) ((collab_op_t *)(op))

/* Requested rights must be held by the caller (a key's rights never exceed its creator's);
 * op->rights is already expanded. */
static bool want_within(is_op_t *op, is_rights_t want)
{
    return is_rights_require(op, is_rights_to_manage(0, want));
}

/* Checks that every key of the body's object `obj` (at `prefix`: "api_key") is allowed;
 * otherwise fails the op with unknown_field "<prefix>.<key>". */
static bool object_keys(is_op_t *op, json_t *obj, const char *prefix, const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a != NULL && !ok; a++)
            ok = strcmp(*a, k) == 0;
        if (!ok) {
            lw_err_t e;
            char f[96];
            snprintf(f, sizeof f, "%s.%.60s", prefix, k);
            lw_api_unknown(&e, f);
            lw_api_fail(&op->api, &e);
            return false;
        }
    }
    return true;
}

/* ---- API keys ---------------------------------------------------------------------------- */

#define KEY_COLS                                                                                   \
    "key_id, name, rights::text, " IS_TS("created_at") ", " IS_TS("updated_at") ", " IS_TS(        \
        "expires_at")

static json_t *key_render(const PGresult *res, int i, int c0)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(PQgetvalue(res, i, c0)));
    if (*PQgetvalue(res, i, c0 + 1))
        json_object_set_new(o, "name", json_string(PQgetvalue(res, i, c0 + 1)));
    json_object_set_new(o, "rights",
                        is_rights_to_json(is_rights_from_pg(PQgetvalue(res, i, c0 + 2))));
    json_object_set_new(o, "created_at", json_string(PQgetvalue(res, i, c0 + 3)));
    json_object_set_new(o, "updated_at", json_string(PQgetvalue(res, i, c0 + 4)));
    if (!PQgetisnull(res, i, c0 + 5))
        json_object_set_new(o, "expires_at", json_string(PQgetvalue(res, i, c0 + 5)));
    return o;
}

/* Validates name / rights / expires_at of a key body into the key op. */
static bool key_fields(is_op_t *op, json_t *obj, const char *prefix, bool need_rights)
{
    char f[96];
    lw_err_t e;
    json_t *name = json_object_get(obj, "name");
    snprintf(f, sizeof f, "%sname", prefix);
    if (name != NULL && (!json_is_string(name) || json_string_length(name) > 50)) {
        lw_api_fail_invalid(&op->api, f, "must be a string of at most 50 characters");
        return false;
    }
    snprintf(K(op)->name, sizeof K(op)->name, "%s", name ? json_string_value(name) : "");
    snprintf(f, sizeof f, "%srights", prefix);
    if (is_rights_from_json(json_object_get(obj, "rights"), f, &K(op)->want, &e) != 0) {
        lw_api_fail(&op->api, &e);
        return false;
    }
    if (need_rights && K(op)->want == 0) {
        lw_api_fail_invalid(&op->api, f, "at least one right is required");
        return false;
    }
    /* An application or gateway key holds rights on its entity only. */
    if ((op->ent == IS_ENT_APP || op->ent == IS_ENT_GW) &&
        (K(op)->want & ~is_rights_of(op->ent)) != 0) {
        lw_api_fail_invalid(&op->api, f, "rights must be rights of the entity kind");
        return false;
    }
    is_rights_to_pg(K(op)->want, K(op)->rights_pg, sizeof K(op)->rights_pg);
    json_t *exp = json_object_get(obj, "expires_at");
    snprintf(f, sizeof f, "%sexpires_at", prefix);
    K(op)->expires_at[0] = '\0';
    if (exp != NULL && !json_is_null(exp)) {
        if (!json_is_string(exp) || !lw_api_time_valid(json_string_value(exp))) {
            lw_api_fail_invalid(&op->api, f, "must be an RFC 3339 timestamp");
            return false;
        }
        snprintf(K(op)->expires_at, sizeof K(op)->expires_at, "%s", json_string_value(exp));
    }
    return true;
}

static void key_created(is_op_t *op, const PGresult *res)
{
    if (PQntuples(res) != 1) {
        if (K(op)->expires_at[0] != '\0') {
            lw_api_fail_invalid(&op->api, "expires_at", "must be in the future");
            return;
        }
        lw_api_fail_not_found(&op->api, kind_of(op->ent)->name, op->id);
        return;
    }
    json_t *o = key_render(res, 0, 0);
    char token[IS_TOKEN_MAX + 1];
    is_token_format(&K(op)->tok, token, sizeof token);
    json_object_set_new(o, "key", json_string(token)); /* shown once */
    OPENSSL_cleanse(token, sizeof token);
    lw_log(LW_LOG_INFO, "is", "API key created", "tenant", op->t.id, "entity", op->id, "key_id",
           K(op)->tok.id, NULL);
    char ev[64];
    snprintf(ev, sizeof ev, "%s.api-key.create", kind_of(op->ent)->key);
    is_event(op, ev, is_entity_ids(kind_of(op->ent), op->id));
    lw_api_reply(&op->api, 200, o);
}

static void key_hashed(lw_api_op_t *a, int rc)
{
    is_op_t *op = (is_op_t *)a;
    if (rc != 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_internal, "cannot generate the API key");
        lw_api_fail(&op->api, &e);
        return;
    }
    const is_kind_t *k = kind_of(op->ent);
    const char *p[7] = {K(op)->tok.id,
                        is_ent_type_name(op->ent),
                        op->id,
                        K(op)->hash,
                        K(op)->name,
                        K(op)->rights_pg,
                        K(op)->expires_at[0] ? K(op)->expires_at : NULL};
    snprintf(op->sql, sizeof op->sql,
             "INSERT INTO %s.api_keys (key_id, entity_type, entity_id, key_hash, name, rights, "
             "expires_at) SELECT $1, $2, $3, $4, $5, $6::text[], $7::timestamptz "
             "WHERE EXISTS (SELECT 1 FROM %s.%s WHERE %s = $3 AND deleted_at IS NULL) "
             "AND ($7::timestamptz IS NULL OR $7::timestamptz > now()) RETURNING " KEY_COLS,
             op->sq, op->sq, k->table, k->id_field);
    /* Zero rows: the entity is gone, or the expiry (when given) is in the past. */
    is_op_query(op, op->sql, 7, p, key_created);
}

/* Off the loop: a new key and its hash. Returns 0 or -1. */
static int key_generate_work(lw_api_op_t *a)
{
    key_op_t *k = (key_op_t *)a;
    char token[IS_TOKEN_MAX + 1];
    if (is_token_generate(IS_TOKEN_API_KEY, &k->tok) != 0)
        return -1;
    is_token_format(&k->tok, token, sizeof token);
    int rc = is_hash_secret(token, k->op.is->key_iterations, k->hash, sizeof k->hash);
    OPENSSL_cleanse(token, sizeof token);
    return rc;
}

static json_t *key_row(lw_api_op_t *op, const PGresult *res, int row)
{
    (void)op;
    return key_render(res, row, 1);
}

static void key_listed(is_op_t *op, const PGresult *res)
{
    lw_api_reply_page(&op->api, res, "api_keys", key_row, false);
}

static void key_one(is_op_t *op, const PGresult *res)
{
    if (PQntuples(res) != 1) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_api_key_not_found, "API key `%.40s` not found", K(op)->key_id);
        lw_api_fail(&op->api, &e);
        return;
    }
    if (op->route->variant != K_GET) {
        is_op_revoke(op, K(op)->key_id, IS_ENT_USER, "");
        lw_log(LW_LOG_INFO, "is",
               op->route->variant == K_DELETE ? "API key deleted" : "API key updated", "tenant",
               op->t.id, "key_id", K(op)->key_id, NULL);
        char ev[64];
        snprintf(ev, sizeof ev, "%s.api-key.%s", kind_of(op->ent)->key,
                 op->route->variant == K_DELETE ? "delete" : "update");
        is_event(op, ev, is_entity_ids(kind_of(op->ent), op->id));
    }
    if (op->route->variant == K_DELETE) {
        lw_api_reply(&op->api, 200, json_object());
        return;
    }
    lw_api_reply(&op->api, 200, key_render(res, 0, 0));
}

static void key_update_run(is_op_t *op);

/* The key as it is now, locked until the change commits: the caller must hold every right
 * it holds before and after the change (The Things Stack), so that a key with only
 * SETTINGS_API_KEYS cannot rename, expire, narrow or delete a key with more. */
static void key_held(is_op_t *op, const PGresult *res)
{
    if (PQntuples(res) != 1) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_api_key_not_found, "API key `%.40s` not found", K(op)->key_id);
        lw_api_fail(&op->api, &e);
        return;
    }
    is_rights_t before = is_rights_from_pg(PQgetvalue(res, 0, 0));
    is_rights_t after = 0; /* deleted */
    if (op->route->variant == K_UPDATE)
        after = K(op)->set_rights ? K(op)->want : before;
    if (!is_rights_require(op, is_rights_to_manage(before, after)))
        return;
    if (op->route->variant == K_UPDATE) {
        key_update_run(op);
        return;
    }
    const char *p[3] = {is_ent_type_name(op->ent), op->id, K(op)->key_id};
    snprintf(op->sql, sizeof op->sql,
             "DELETE FROM %s.api_keys WHERE entity_type = $1 AND entity_id = $2 AND key_id = "
             "$3 RETURNING " KEY_COLS,
             op->sq);
    is_op_query(op, op->sql, 3, p, key_one);
}

static void key_locking(is_op_t *op, const PGresult *res)
{
    (void)res;
    const char *p[3] = {is_ent_type_name(op->ent), op->id, K(op)->key_id};
    snprintf(op->sql, sizeof op->sql,
             "SELECT rights::text FROM %s.api_keys WHERE entity_type = $1 AND entity_id = $2 "
             "AND key_id = $3 FOR UPDATE",
             op->sq);
    is_op_query(op, op->sql, 3, p, key_held);
}

static void key_update(is_op_t *op)
{
    static const char *const allowed[] = {"api_key",     "field_mask",       "application_ids",
                                          "gateway_ids", "organization_ids", "user_ids",
                                          NULL};
    json_t *body = is_op_body(op, allowed);
    if (body == NULL)
        return;
    json_t *key = json_object_get(body, "api_key");
    if (key == NULL || !json_is_object(key)) {
        lw_api_fail_invalid(&op->api, "api_key", "must be an object");
        return;
    }
    static const char *const key_keys[] = {"name",       "rights",     "expires_at", "id",
                                           "created_at", "updated_at", NULL};
    if (!object_keys(op, key, "api_key", key_keys) || !key_fields(op, key, "api_key.", false))
        return;
    /* Which columns change: the mask's paths (all three when no mask is given). */
    static const char *const settable[] = {"name", "rights", "expires_at", NULL};
    static const lw_api_fields_t key_mask_fields = {.paths = settable};
    json_t *fm = json_object_get(body, "field_mask");
    lw_api_mask_t m;
    lw_err_t e;
    if (lw_api_mask_parse_json(&key_mask_fields, fm, "field_mask", &m, &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    bool all = json_object_get(fm, "paths") == NULL;
    K(op)->set_name = all || lw_api_mask_has(&m, "name");
    K(op)->set_rights = all || lw_api_mask_has(&m, "rights");
    K(op)->set_exp = all || lw_api_mask_has(&m, "expires_at");
    if (K(op)->set_rights && !want_within(op, K(op)->want))
        return;
    is_op_begin(op, key_locking);
}

/* The update's statement, once the caller may change the key. */
static void key_update_run(is_op_t *op)
{
    bool set_name = K(op)->set_name, set_rights = K(op)->set_rights, set_exp = K(op)->set_exp;
    const char *p[6] = {K(op)->key_id,    is_ent_type_name(op->ent),
                        op->id,           K(op)->name,
                        K(op)->rights_pg, K(op)->expires_at[0] ? K(op)->expires_at : NULL};
    if (set_rights && K(op)->want == 0) {
        /* The Things Stack: updating a key to no rights deletes it. */
        snprintf(op->sql, sizeof op->sql,
                 "DELETE FROM %s.api_keys WHERE key_id = $1 AND entity_type = $2 AND entity_id = "
                 "$3 AND $4::text IS NOT NULL AND $5::text IS NOT NULL AND ($6::text IS NULL OR "
                 "true) RETURNING " KEY_COLS,
                 op->sq);
    } else {
        snprintf(op->sql, sizeof op->sql,
                 "UPDATE %s.api_keys SET name = CASE WHEN %s THEN $4 ELSE name END, "
                 "rights = CASE WHEN %s THEN $5::text[] ELSE rights END, "
                 "expires_at = CASE WHEN %s THEN $6::timestamptz ELSE expires_at END, "
                 "updated_at = now() WHERE key_id = $1 AND entity_type = $2 AND entity_id = $3 "
                 "RETURNING " KEY_COLS,
                 op->sq, set_name ? "true" : "false", set_rights ? "true" : "false",
                 set_exp ? "true" : "false");
    }
    is_op_query(op, op->sql, 6, p, key_one);
}

static void key_righted(is_op_t *op)
{
    if (!is_rights_require(op, r_keys(op->ent)))
        return;
    lw_err_t e;
    char from[256];
    const char *p[3] = {is_ent_type_name(op->ent), op->id, K(op)->key_id};
    switch (op->route->variant) {
    case K_CREATE: {
        static const char *const allowed[] = {
            "name",        "rights",           "expires_at", "application_ids",
            "gateway_ids", "organization_ids", "user_ids",   NULL};
        json_t *body = is_op_body(op, allowed);
        if (body == NULL || !key_fields(op, body, "", true) || !want_within(op, K(op)->want))
            return;
        lw_api_work(&op->api, key_generate_work, key_hashed);
        return;
    }
    case K_LIST:
        if (is_page_parse(&is_kind_app, lw_http_query(op->api.req, "limit"),
                          lw_http_query(op->api.req, "page"), NULL, &K(op)->page, &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
        snprintf(from, sizeof from, "%s.api_keys WHERE entity_type = $1 AND entity_id = $2",
                 op->sq);
        is_op_page_sql(op, KEY_COLS, from, "created_at, key_id", &K(op)->page);
        is_op_query(op, op->sql, 2, p, key_listed);
        return;
    case K_GET:
        snprintf(op->sql, sizeof op->sql,
                 "SELECT " KEY_COLS " FROM %s.api_keys WHERE entity_type = $1 AND entity_id = $2 "
                 "AND key_id = $3",
                 op->sq);
        is_op_query(op, op->sql, 3, p, key_one);
        return;
    case K_DELETE:
        is_op_begin(op, key_locking);
        return;
    case K_UPDATE:
        key_update(op);
        return;
    }
}

static void key_authed(is_op_t *op)
{
    op->ent = op->route->ent;
    char f[96];
    snprintf(f, sizeof f, "%s_ids.%s", kind_of(op->ent)->key, kind_of(op->ent)->id_field);
    if (!is_op_path_id(op, "id", op->ent == IS_ENT_USER ? 2 : 3, f, op->id))
        return;
    if (op->route->variant >= K_GET) {
        const char *k = lw_http_param(op->api.req, "key_id");
        if (k == NULL || strlen(k) > IS_TOKEN_ID_LEN) {
            lw_api_fail_invalid(&op->api, "key_id", "not an API key ID");
            return;
        }
        snprintf(K(op)->key_id, sizeof K(op)->key_id, "%s", k);
    }
    is_rights_run(op, op->route->ent, op->id, key_righted);
}

static void h_key(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    is_op_t *op = is_op_for(req, t, arg, sizeof(key_op_t));
    is_auth_run(op, true, key_authed);
}

/* ---- collaborators ----------------------------------------------------------------------- */

static json_t *collab_ids(const char *type, const char *id)
{
    json_t *inner = json_object();
    json_t *o = json_object();
    if (strcmp(type, "organization") == 0) {
        json_object_set_new(inner, "organization_id", json_string(id));
        json_object_set_new(o, "organization_ids", inner);
    } else {
        json_object_set_new(inner, "user_id", json_string(id));
        json_object_set_new(o, "user_ids", inner);
    }
    return o;
}

static json_t *collab_render(const PGresult *res, int i, int c0)
{
    json_t *o = json_object();
    json_object_set_new(o, "ids", collab_ids(PQgetvalue(res, i, c0 + 1), PQgetvalue(res, i, c0)));
    json_object_set_new(o, "rights",
                        is_rights_to_json(is_rights_from_pg(PQgetvalue(res, i, c0 + 2))));
    return o;
}

static json_t *collab_row(lw_api_op_t *op, const PGresult *res, int row)
{
    (void)op;
    return collab_render(res, row, 1);
}

static void collab_listed(is_op_t *op, const PGresult *res)
{
    lw_api_reply_page(&op->api, res, "collaborators", collab_row, false);
}

static void collab_one(is_op_t *op, const PGresult *res)
{
    if (PQntuples(res) != 1) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_collaborator_not_found, "collaborator `%s` not found",
                   C(op)->account_id);
        lw_api_fail(&op->api, &e);
        return;
    }
    if (op->route->variant == C_GET) {
        lw_api_reply(&op->api, 200, collab_render(res, 0, 0));
        return;
    }
    lw_log(LW_LOG_INFO, "is", "collaborator changed", "tenant", op->t.id, "entity", op->id,
           "collaborator", C(op)->account_id, NULL);
    char ev[64];
    snprintf(ev, sizeof ev, "%s.collaborator.%s", kind_of(op->ent)->key,
             op->route->variant == C_DELETE || C(op)->want == 0 ? "delete" : "update");
    is_event(op, ev, is_entity_ids(kind_of(op->ent), op->id));
    is_op_rights_changed(op);
    lw_api_reply(&op->api, 200, json_object());
}

static void collab_set_run(is_op_t *op);

/* The collaborator as it is now, and whether another collaborator of the entity holds full
 * rights, read under the entity's lock: the caller must hold every right the collaborator
 * holds before and after the change, and the entity keeps a collaborator with full rights
 * (The Things Stack's <kind>_needs_collaborator; a user or an organization holding the
 * kind's _ALL right, or RIGHT_ALL, counts). */
static void collab_held(is_op_t *op, const PGresult *res)
{
    bool present = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0);
    if (op->route->variant == C_DELETE && !present) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_collaborator_not_found, "collaborator `%s` not found",
                   C(op)->account_id);
        lw_api_fail(&op->api, &e);
        return;
    }
    is_rights_t before = present ? is_rights_from_pg(PQgetvalue(res, 0, 0)) : 0;
    is_rights_t after = op->route->variant == C_DELETE ? 0 : C(op)->want;
    bool others_full = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    if (!is_rights_require(op, is_rights_to_manage(before, after)))
        return;
    if (is_rights_drops_last_full(op->ent, before, after, others_full)) {
        static const lw_err_def_t *const needs[IS_ENT_COUNT] = {
            [IS_ENT_ORG] = &lw_err_organization_needs_collaborator,
            [IS_ENT_APP] = &lw_err_application_needs_collaborator,
            [IS_ENT_GW] = &lw_err_gateway_needs_collaborator};
        lw_api_fail_with(&op->api, needs[op->ent],
                         "every %s needs at least one collaborator with all rights",
                         is_ent_type_name(op->ent));
        return;
    }
    if (op->route->variant == C_SET) {
        collab_set_run(op);
        return;
    }
    const char *p[4] = {is_ent_type_name(op->ent), op->id, C(op)->account_id, C(op)->account_type};
    snprintf(op->sql, sizeof op->sql,
             "DELETE FROM %s.memberships WHERE entity_type = $1 AND entity_id = $2 AND "
             "account_id = $3 AND account_type = $4 RETURNING 1",
             op->sq);
    is_op_query(op, op->sql, 4, p, collab_one);
}

static void collab_read(is_op_t *op, const PGresult *res)
{
    (void)res;
    char full[256];
    is_rights_to_pg(is_rights_full_of(op->ent), full, sizeof full);
    const char *p[5] = {is_ent_type_name(op->ent), op->id, C(op)->account_id, C(op)->account_type,
                        full};
    snprintf(op->sql, sizeof op->sql,
             "SELECT (SELECT rights::text FROM %s.memberships WHERE entity_type = $1 AND "
             "entity_id = $2 AND account_id = $3 AND account_type = $4), "
             "EXISTS (SELECT 1 FROM %s.memberships m WHERE m.entity_type = $1 AND "
             "m.entity_id = $2 AND m.account_id <> $3 AND m.rights && $5::text[] AND "
             "(EXISTS (SELECT 1 FROM %s.users u WHERE u.user_id = m.account_id AND "
             "u.deleted_at IS NULL) OR EXISTS (SELECT 1 FROM %s.organizations o WHERE "
             "o.organization_id = m.account_id AND o.deleted_at IS NULL)))",
             op->sq, op->sq, op->sq, op->sq);
    is_op_query(op, op->sql, 5, p, collab_held);
}

/* Changes to one entity's collaborators run one at a time (a transaction-scoped advisory
 * lock per tenant and entity), so that two owners removing each other cannot both see the
 * other as the one that stays. */
static void collab_locking(is_op_t *op, const PGresult *res)
{
    (void)res;
    char lock[160];
    snprintf(lock, sizeof lock, "is:members:%s:%s:%s", op->t.id, is_ent_type_name(op->ent), op->id);
    const char *p[1] = {lock};
    is_op_query(op, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", 1, p, collab_read);
}

static void collab_set(is_op_t *op)
{
    const is_kind_t *k = kind_of(op->ent);
    char idskey[48];
    snprintf(idskey, sizeof idskey, "%s_ids", k->key);
    const char *allowed[] = {"collaborator", idskey, NULL};
    json_t *body = is_op_body(op, allowed);
    if (body == NULL)
        return;
    json_t *c = json_object_get(body, "collaborator");
    if (!json_is_object(c)) {
        lw_api_fail_invalid(&op->api, "collaborator", "must be an object");
        return;
    }
    static const char *const collab_keys[] = {"ids", "rights", NULL};
    if (!object_keys(op, c, "collaborator", collab_keys))
        return;
    json_t *ids = json_object_get(c, "ids");
    json_t *u = json_object_get(json_object_get(ids, "user_ids"), "user_id");
    json_t *o = json_object_get(json_object_get(ids, "organization_ids"), "organization_id");
    lw_err_t e;
    if ((u == NULL) == (o == NULL)) {
        lw_api_fail_invalid(&op->api, "collaborator.ids",
                            "must hold user_ids.user_id or organization_ids.organization_id");
        return;
    }
    const char *field = u ? "collaborator.ids.user_ids.user_id"
                          : "collaborator.ids.organization_ids.organization_id";
    if (!json_is_string(u ? u : o) ||
        tn_id_validate(json_string_value(u ? u : o), u ? 2 : 3, field, &e) != 0) {
        if (!json_is_string(u ? u : o))
            lw_api_invalid(&e, field, "must be a string");
        lw_api_fail(&op->api, &e);
        return;
    }
    if (o != NULL && op->ent == IS_ENT_ORG) {
        lw_api_fail_invalid(&op->api, field, "organizations cannot be members of organizations");
        return;
    }
    snprintf(C(op)->account_id, sizeof C(op)->account_id, "%s", json_string_value(u ? u : o));
    if (is_rights_from_json(json_object_get(c, "rights"), "collaborator.rights", &C(op)->want,
                            &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    if (!want_within(op, C(op)->want))
        return;
    is_rights_to_pg(C(op)->want, C(op)->rights_pg, sizeof C(op)->rights_pg);
    snprintf(C(op)->account_type, sizeof C(op)->account_type, "%s", u ? "user" : "organization");
    is_op_begin(op, collab_locking);
}

/* The set's statement, once the caller may make the change. */
static void collab_set_run(is_op_t *op)
{
    const is_kind_t *k = kind_of(op->ent);
    bool u = strcmp(C(op)->account_type, "user") == 0;
    const char *p[5] = {is_ent_type_name(op->ent), op->id, C(op)->account_id, C(op)->account_type,
                        C(op)->rights_pg};
    if (C(op)->want == 0) {
        snprintf(op->sql, sizeof op->sql,
                 "DELETE FROM %s.memberships WHERE entity_type = $1 AND entity_id = $2 AND "
                 "account_id = $3 AND account_type = $4 AND $5::text IS NOT NULL RETURNING 1",
                 op->sq);
    } else {
        snprintf(op->sql, sizeof op->sql,
                 "INSERT INTO %s.memberships (entity_type, entity_id, account_id, account_type, "
                 "rights) SELECT $1, $2, $3, $4, $5::text[] WHERE EXISTS (SELECT 1 FROM "
                 "%s.%s WHERE %s = $3 AND deleted_at IS NULL) AND EXISTS (SELECT 1 FROM %s.%s "
                 "WHERE %s = $2 AND deleted_at IS NULL) ON CONFLICT (entity_type, entity_id, "
                 "account_id) DO UPDATE SET rights = EXCLUDED.rights, updated_at = now() "
                 "RETURNING 1",
                 op->sq, op->sq, u ? "users" : "organizations", u ? "user_id" : "organization_id",
                 op->sq, k->table, k->id_field);
    }
    is_op_query(op, op->sql, 5, p, collab_one);
}

static void collab_righted(is_op_t *op)
{
    int v = op->route->variant;
    /* Reading one's own membership needs no settings right (TTS: any rights on it). */
    if (!is_rights_require(op, v == C_GET ? 0 : r_collabs(op->ent)))
        return;
    if (v == C_GET && op->rights == 0) {
        is_rights_require(op, r_collabs(op->ent));
        return;
    }
    lw_err_t e;
    char from[256];
    const char *p[4] = {is_ent_type_name(op->ent), op->id, C(op)->account_id, C(op)->account_type};
    switch (v) {
    case C_LIST:
        if (is_page_parse(&is_kind_app, lw_http_query(op->api.req, "limit"),
                          lw_http_query(op->api.req, "page"), NULL, &C(op)->page, &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
        snprintf(from, sizeof from, "%s.memberships WHERE entity_type = $1 AND entity_id = $2",
                 op->sq);
        is_op_page_sql(op, "account_id, account_type, rights::text", from, "account_id",
                       &C(op)->page);
        is_op_query(op, op->sql, 2, p, collab_listed);
        return;
    case C_SET:
        collab_set(op);
        return;
    case C_GET:
        snprintf(op->sql, sizeof op->sql,
                 "SELECT account_id, account_type, rights::text FROM %s.memberships WHERE "
                 "entity_type = $1 AND entity_id = $2 AND account_id = $3 AND account_type = $4",
                 op->sq);
        is_op_query(op, op->sql, 4, p, collab_one);
        return;
    case C_DELETE:
        is_op_begin(op, collab_locking);
        return;
    }
}

static void collab_authed(is_op_t *op)
{
    op->ent = op->route->ent;
    char f[96];
    snprintf(f, sizeof f, "%s_ids.%s", kind_of(op->ent)->key, kind_of(op->ent)->id_field);
    if (!is_op_path_id(op, "id", 3, f, op->id))
        return;
    if (op->route->variant == C_GET || op->route->variant == C_DELETE) {
        const char *path = lw_http_path(op->api.req);
        bool org = strstr(path, "/organization/") != NULL;
        snprintf(C(op)->account_type, sizeof C(op)->account_type, "%s",
                 org ? "organization" : "user");
        if (!is_op_path_id(op, "account", org ? 3 : 2,
                           org ? "organization_ids.organization_id" : "user_ids.user_id",
                           C(op)->account_id))
            return;
    }
    is_rights_run(op, op->ent, op->id, collab_righted);
}

static void h_collab(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    is_op_t *op = is_op_for(req, t, arg, sizeof(collab_op_t));
    is_auth_run(op, true, collab_authed);
}

/* ---- auth_info --------------------------------------------------------------------------- */

static void auth_info(is_op_t *op)
{
    json_t *o = json_object();
    const is_auth_t *a = &op->auth;
    if (a->kind == IS_AUTH_API_KEY) {
        json_t *k = json_object();
        json_object_set_new(k, "id", json_string(a->key_id));
        if (a->name[0])
            json_object_set_new(k, "name", json_string(a->name));
        json_object_set_new(k, "rights", is_rights_to_json(a->rights));
        if (a->created_at[0])
            json_object_set_new(k, "created_at", json_string(a->created_at));
        if (a->expires_at[0])
            json_object_set_new(k, "expires_at", json_string(a->expires_at));
        json_t *w = json_object();
        json_object_set_new(w, "entity_ids", is_entity_ids(kind_of(a->ent), a->ent_id));
        json_object_set_new(w, "api_key", k);
        json_object_set_new(o, "api_key", w);
    } else if (a->kind == IS_AUTH_TOKEN) {
        json_t *t = json_object();
        json_t *uid = json_object();
        json_object_set_new(uid, "user_id", json_string(a->ent_id));
        json_object_set_new(t, "user_ids", uid);
        json_object_set_new(t, "id", json_string(a->key_id));
        json_object_set_new(t, "rights", is_rights_to_json(a->rights));
        if (a->created_at[0])
            json_object_set_new(t, "created_at", json_string(a->created_at));
        if (a->expires_at[0])
            json_object_set_new(t, "expires_at", json_string(a->expires_at));
        json_object_set_new(o, "oauth_access_token", t);
    }
    if (is_auth_admin(op)) {
        json_t *u = json_object();
        json_object_set_new(u, "rights", is_rights_to_json(IS_BIT(IS_R_ALL)));
        json_object_set_new(o, "universal_rights", u);
        json_object_set_new(o, "is_admin", json_true());
    } else if (a->is_admin) {
        json_object_set_new(o, "is_admin", json_true());
    }
    lw_api_reply(&op->api, 200, o);
}

static void h_auth_info(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    is_op_t *op = is_op_for(req, t, arg, sizeof(is_op_t));
    is_auth_run(op, false, auth_info);
}

/* ---- login, logout, password ------------------------------------------------------------- */

/* The state of a login: the password checked off the loop, then a new access token. */
typedef struct login_op {
    is_op_t op;
    char password[1024];
    char hash[IS_HASH_MAX + 1]; /* the user's password hash, then the new token's */
    bool approved;              /* the user may log in (approved or flagged) */
    is_token_t tok;             /* the new access token */
    bool hashing;               /* holds a place of the tenant's in the hashing gate */
} login_op_t;
#define L(op) ((login_op_t *)(op))

enum { LOGIN_MISMATCH = 0, LOGIN_OK = 1, LOGIN_FAILED = -1 };

static void login_inserted(is_op_t *op, const PGresult *res)
{
    char token[IS_TOKEN_MAX + 1];
    is_token_format(&L(op)->tok, token, sizeof token);
    json_t *o = json_object();
    json_object_set_new(o, "access_token", json_string(token));
    OPENSSL_cleanse(token, sizeof token);
    json_object_set_new(o, "token_type", json_string("bearer"));
    json_object_set_new(o, "expires_in", json_integer(op->is->token_ttl_ms / 1000));
    json_object_set_new(o, "expires_at", json_string(PQgetvalue(res, 0, 0)));
    lw_log(LW_LOG_INFO, "is", "user logged in", "tenant", op->t.id, "user", op->id, NULL);
    lw_api_reply(&op->api, 200, o);
}

/* Off the loop: checks the password (or burns the same time when the user is unknown), then
 * makes the access token and its hash. Returns LOGIN_*. */
static int login_work(lw_api_op_t *a)
{
    login_op_t *l = (login_op_t *)a;
    int rc;
    if (l->hash[0] == '\0') {
        char dummy[IS_HASH_MAX + 1];
        is_hash_secret(l->password, l->op.is->pw_iterations, dummy, sizeof dummy);
        rc = LOGIN_MISMATCH;
    } else {
        rc = is_hash_verify(l->password, l->hash) == 1 ? LOGIN_OK : LOGIN_MISMATCH;
    }
    OPENSSL_cleanse(l->password, sizeof l->password);
    if (rc != LOGIN_OK)
        return rc;
    char token[IS_TOKEN_MAX + 1];
    if (is_token_generate(IS_TOKEN_ACCESS, &l->tok) != 0)
        return LOGIN_FAILED;
    is_token_format(&l->tok, token, sizeof token);
    if (is_hash_secret(token, l->op.is->key_iterations, l->hash, sizeof l->hash) != 0)
        rc = LOGIN_FAILED;
    OPENSSL_cleanse(token, sizeof token);
    return rc;
}

/* Gives back the tenant's place in the hashing gate (once: when the hash is done, or when
 * the op ends without it, e.g. the pool closing). */
static void login_unhash(is_op_t *op)
{
    if (L(op)->hashing) {
        L(op)->hashing = false;
        is_limit_hash_leave(op);
    }
}

static void login_checked(lw_api_op_t *a, int rc)
{
    is_op_t *op = (is_op_t *)a;
    login_unhash(op);
    if (rc == LOGIN_FAILED) {
        lw_api_fail_with(a, &lw_err_internal, "cannot issue an access token");
        return;
    }
    if (rc != LOGIN_OK) {
        lw_api_fail_with(a, &lw_err_no_user_id_password_match, "incorrect password or user ID");
        return;
    }
    if (!L(op)->approved) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_user_not_approved, "user `%s` is not approved", op->id);
        lw_err_attr(&e, "user_id", op->id);
        lw_api_fail(a, &e);
        return;
    }
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%lld", op->is->token_ttl_ms);
    const char *p[4] = {L(op)->tok.id, op->id, L(op)->hash, ttl};
    snprintf(op->sql, sizeof op->sql,
             "INSERT INTO %s.access_tokens (token_id, user_id, token_hash, rights, expires_at) "
             "VALUES ($1, $2, $3, '{RIGHT_ALL}', now() + $4::bigint * interval '1 millisecond') "
             "RETURNING " IS_TS("expires_at"),
             op->sq);
    is_op_query(op, op->sql, 4, p, login_inserted);
}

static void login_user(is_op_t *op, const PGresult *res)
{
    L(op)->hash[0] = '\0';
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        snprintf(L(op)->hash, sizeof L(op)->hash, "%s", PQgetvalue(res, 0, 0));
        int st = atoi(PQgetvalue(res, 0, 1));
        L(op)->approved = st == 1 || st == 3;
    }
    if (!is_limit_hash_enter(op))
        return;
    L(op)->hashing = true;
    lw_api_work(&op->api, login_work, login_checked);
}

static void h_login(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    is_op_t *op = is_op_for(req, t, arg, sizeof(login_op_t));
    static const char *const allowed[] = {"user_id", "password", NULL};
    json_t *body = is_op_body(op, allowed);
    if (body == NULL)
        return;
    json_t *u = json_object_get(body, "user_id");
    json_t *pw = json_object_get(body, "password");
    lw_err_t e;
    if (!json_is_string(u) || tn_id_validate(json_string_value(u), 2, "user_id", &e) != 0) {
        if (!json_is_string(u))
            lw_api_invalid(&e, "user_id", "missing");
        lw_api_fail(&op->api, &e);
        return;
    }
    if (!json_is_string(pw) || json_string_length(pw) == 0 ||
        json_string_length(pw) >= sizeof L(op)->password) {
        lw_api_fail_invalid(&op->api, "password", "missing");
        return;
    }
    op->release = login_unhash;
    if (!is_limit_login(op, json_string_value(u)))
        return;
    snprintf(op->id, sizeof op->id, "%s", json_string_value(u));
    snprintf(L(op)->password, sizeof L(op)->password, "%s", json_string_value(pw));
    const char *p[1] = {op->id};
    snprintf(op->sql, sizeof op->sql,
             "SELECT password_hash, state FROM %s.users WHERE user_id = $1 AND deleted_at IS NULL",
             op->sq);
    is_op_query(op, op->sql, 1, p, login_user);
}

static void logout_done(is_op_t *op, const PGresult *res)
{
    (void)res;
    is_op_revoke(op, op->auth.key_id, IS_ENT_USER, "");
    lw_api_reply(&op->api, 200, json_object());
}

static void logout_authed(is_op_t *op)
{
    if (op->auth.kind != IS_AUTH_TOKEN) {
        lw_api_fail_invalid(&op->api, "authorization", "logout needs an access token");
        return;
    }
    const char *p[1] = {op->auth.key_id};
    snprintf(op->sql, sizeof op->sql, "DELETE FROM %s.access_tokens WHERE token_id = $1", op->sq);
    is_op_query(op, op->sql, 1, p, logout_done);
}

static void h_logout(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    is_op_t *op = is_op_for(req, t, arg, sizeof(is_op_t));
    is_auth_run(op, true, logout_authed);
}

/* The state of a password change. op.id is the user. */
typedef struct password_op {
    is_op_t op;
    char old[1024];             /* the body's old password, "" when not given */
    char password[1024];        /* the new one */
    bool check_old;             /* the caller must know the old password */
    char hash[IS_HASH_MAX + 1]; /* the stored hash (when checked), then the new one */
    bool revoke_all;            /* revoke_all_access: the user's tokens go too */
} password_op_t;
#define P(op) ((password_op_t *)(op))

enum { PASSWORD_OK = 0, PASSWORD_OLD_MISMATCH = 1, PASSWORD_FAILED = -1 };

static void password_done(is_op_t *op, const PGresult *res)
{
    (void)res;
    if (P(op)->revoke_all)
        is_op_revoke(op, NULL, IS_ENT_USER, op->id);
    lw_log(LW_LOG_INFO, "is", "password changed", "tenant", op->t.id, "user", op->id, NULL);
    lw_api_reply(&op->api, 200, json_object());
}

/* Off the loop: checks the old password when it must be (or was given), then hashes the new
 * one. Returns PASSWORD_*. */
static int password_work(lw_api_op_t *a)
{
    password_op_t *p = (password_op_t *)a;
    int rc = PASSWORD_OK;
    if ((p->check_old || p->old[0] != '\0') &&
        (p->hash[0] == '\0' || is_hash_verify(p->old, p->hash) != 1))
        rc = PASSWORD_OLD_MISMATCH;
    else if (is_hash_secret(p->password, p->op.is->pw_iterations, p->hash, sizeof p->hash) != 0)
        rc = PASSWORD_FAILED;
    OPENSSL_cleanse(p->old, sizeof p->old);
    OPENSSL_cleanse(p->password, sizeof p->password);
    return rc;
}

static void password_hashed(lw_api_op_t *a, int rc)
{
    is_op_t *op = (is_op_t *)a;
    if (rc == PASSWORD_OLD_MISMATCH) {
        lw_api_fail_invalid(a, "old", "incorrect password");
        return;
    }
    if (rc != PASSWORD_OK) {
        lw_api_fail_with(a, &lw_err_internal, "cannot hash the password");
        return;
    }
    bool revoke = P(op)->revoke_all;
    const char *p[2] = {op->id, P(op)->hash};
    /* revoke_all_access: the user's access tokens go in the same statement. */
    snprintf(op->sql, sizeof op->sql,
             "WITH u AS (UPDATE %s.users SET password_hash = $2, password_updated_at = now(), "
             "updated_at = now() WHERE user_id = $1 RETURNING user_id)%s%s%s "
             "SELECT count(*) FROM u",
             op->sq, revoke ? ", t AS (DELETE FROM " : "", revoke ? op->sq : "",
             revoke ? ".access_tokens WHERE user_id = $1)" : "");
    is_op_query(op, op->sql, 2, p, password_done);
}

static void password_row(is_op_t *op, const PGresult *res)
{
    if (PQntuples(res) != 1) {
        lw_api_fail_not_found(&op->api, "user", op->id);
        return;
    }
    /* Admins changing another user's password need not know the old one. A user without a
     * password matches no old password. */
    const char *self = is_auth_user(op);
    P(op)->check_old = !(is_auth_admin(op) && (self == NULL || strcmp(self, op->id) != 0));
    P(op)->hash[0] = '\0';
    if (P(op)->check_old && !PQgetisnull(res, 0, 0))
        snprintf(P(op)->hash, sizeof P(op)->hash, "%s", PQgetvalue(res, 0, 0));
    lw_api_work(&op->api, password_work, password_hashed);
}

static void password_righted(is_op_t *op)
{
    if (!is_rights_require(op, IS_BIT(IS_R_USER_SETTINGS_BASIC)))
        return;
    static const char *const allowed[] = {"user_ids", "old", "new", "revoke_all_access", NULL};
    json_t *body = is_op_body(op, allowed);
    if (body == NULL)
        return;
    json_t *nw = json_object_get(body, "new");
    json_t *old = json_object_get(body, "old");
    lw_err_t e;
    if (is_password_check(&op->is->pw, json_string_value(nw), op->id, "new", &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    if (old != NULL && (!json_is_string(old) || json_string_length(old) >= sizeof P(op)->old)) {
        lw_api_fail_invalid(&op->api, "old", "must be a string");
        return;
    }
    snprintf(P(op)->password, sizeof P(op)->password, "%s", json_string_value(nw));
    snprintf(P(op)->old, sizeof P(op)->old, "%s", old ? json_string_value(old) : "");
    P(op)->revoke_all = json_is_true(json_object_get(body, "revoke_all_access"));
    const char *p[1] = {op->id};
    snprintf(op->sql, sizeof op->sql,
             "SELECT password_hash FROM %s.users WHERE user_id = $1 AND deleted_at IS NULL",
             op->sq);
    is_op_query(op, op->sql, 1, p, password_row);
}

static void password_authed(is_op_t *op)
{
    if (!is_op_path_id(op, "id", 2, "user_ids.user_id", op->id))
        return;
    is_rights_run(op, IS_ENT_USER, op->id, password_righted);
}

static void h_password(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    is_op_t *op = is_op_for(req, t, arg, sizeof(password_op_t));
    is_auth_run(op, true, password_authed);
}

/* ---- routes ------------------------------------------------------------------------------ */

int is_access_routes(is_t *is)
{
    static const struct {
        const char *base;
        is_ent_t ent;
    } kinds[] = {
        {"/api/v3/users", IS_ENT_USER},
        {"/api/v3/organizations", IS_ENT_ORG},
        {"/api/v3/applications", IS_ENT_APP},
        {"/api/v3/gateways", IS_ENT_GW},
    };
    int rc = 0;
    char pat[160];
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const char *b = kinds[i].base;
        is_ent_t e = kinds[i].ent;
        const is_kind_t *k = kind_of(e);
        snprintf(pat, sizeof pat, "%s/{id}/api-keys", b);
        rc |= is_route(is, "POST", pat, h_key, k, e, K_CREATE);
        rc |= is_route(is, "GET", pat, h_key, k, e, K_LIST);
        snprintf(pat, sizeof pat, "%s/{id}/api-keys/{key_id}", b);
        rc |= is_route(is, "GET", pat, h_key, k, e, K_GET);
        rc |= is_route(is, "PUT", pat, h_key, k, e, K_UPDATE);
        rc |= is_route(is, "DELETE", pat, h_key, k, e, K_DELETE);
        if (e == IS_ENT_USER)
            continue;
        snprintf(pat, sizeof pat, "%s/{id}/collaborators", b);
        rc |= is_route(is, "GET", pat, h_collab, k, e, C_LIST);
        rc |= is_route(is, "PUT", pat, h_collab, k, e, C_SET);
        static const char *const singles[] = {"collaborator/user", "collaborators/user",
                                              "collaborator/organization",
                                              "collaborators/organization"};
        for (size_t j = 0; j < 4; j++) {
            if (e == IS_ENT_ORG && j >= 2)
                continue;
            snprintf(pat, sizeof pat, "%s/{id}/%s/{account}", b, singles[j]);
            rc |= is_route(is, "GET", pat, h_collab, k, e, C_GET);
            rc |= is_route(is, "DELETE", pat, h_collab, k, e, C_DELETE);
        }
    }
    rc |= is_route(is, "GET", "/api/v3/auth_info", h_auth_info, &is_kind_user, IS_ENT_USER, 0);
    rc |= is_route(is, "POST", "/api/v3/auth/login", h_login, &is_kind_user, IS_ENT_USER, 0);
    rc |= is_route(is, "POST", "/api/v3/auth/logout", h_logout, &is_kind_user, IS_ENT_USER, 0);
    rc |= is_route(is, "PUT", "/api/v3/users/{id}/password", h_password, &is_kind_user, IS_ENT_USER,
                   0);
    return rc;
}
