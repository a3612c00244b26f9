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

/* "<kind>_ids": {"<kind>_id": id} */
static json_t *entity_ids(is_ent_t e, const char *id)
{
    const is_kind_t *k = kind_of(e);
    char key[48];
    snprintf(key, sizeof key, "%s_ids", k->key);
    json_t *inner = json_object();
    json_object_set_new(inner, k->id_field, json_string(id));
    json_t *o = json_object();
    json_object_set_new(o, key, inner);
    return o;
}

/* Requested rights must be held by the caller (a key's rights never exceed its creator's);
 * op->rights is already expanded. */
static bool want_within(is_op_t *op)
{
    return is_rights_require(op, op->want);
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

/* Validates name / rights / expires_at of a key body into op->buf[0..2] and op->want. */
static bool key_fields(is_op_t *op, json_t *obj, const char *prefix, bool need_rights)
{
    char f[96];
    lw_err_t e;
    json_t *name = json_object_get(obj, "name");
    snprintf(f, sizeof f, "%sname", prefix);
    if (name != NULL && (!json_is_string(name) || json_string_length(name) > 50)) {
        is_op_invalid(op, f, "must be a string of at most 50 characters");
        return false;
    }
    snprintf(op->buf[0], sizeof op->buf[0], "%s", name ? json_string_value(name) : "");
    snprintf(f, sizeof f, "%srights", prefix);
    if (is_rights_from_json(json_object_get(obj, "rights"), f, &op->want, &e) != 0) {
        is_op_fail(op, &e);
        return false;
    }
    if (need_rights && op->want == 0) {
        is_op_invalid(op, f, "at least one right is required");
        return false;
    }
    /* An application or gateway key holds rights on its entity only. */
    if ((op->ent == IS_ENT_APP || op->ent == IS_ENT_GW) &&
        (op->want & ~is_rights_of(op->ent)) != 0) {
        is_op_invalid(op, f, "rights must be rights of the entity kind");
        return false;
    }
    is_rights_to_pg(op->want, op->buf[1], sizeof op->buf[1]);
    json_t *exp = json_object_get(obj, "expires_at");
    snprintf(f, sizeof f, "%sexpires_at", prefix);
    op->buf[2][0] = '\0';
    if (exp != NULL && !json_is_null(exp)) {
        if (!json_is_string(exp) || !is_time_valid(json_string_value(exp))) {
            is_op_invalid(op, f, "must be an RFC 3339 timestamp");
            return false;
        }
        snprintf(op->buf[2], sizeof op->buf[2], "%s", json_string_value(exp));
    }
    return true;
}

static void key_created(is_op_t *op, const PGresult *res)
{
    if (PQntuples(res) != 1) {
        if (op->buf[3][0] == 'x') {
            is_op_invalid(op, "expires_at", "must be in the future");
            return;
        }
        is_op_not_found(op, kind_of(op->ent)->name, op->id);
        return;
    }
    json_t *o = key_render(res, 0, 0);
    char token[IS_TOKEN_MAX + 1];
    is_token_format(&op->tok, token, sizeof token);
    json_object_set_new(o, "key", json_string(token)); /* shown once */
    OPENSSL_cleanse(token, sizeof token);
    lw_log(LW_LOG_INFO, "is", "API key created", "tenant", op->t.id, "entity", op->id, "key_id",
           op->tok.id, NULL);
    char ev[64];
    snprintf(ev, sizeof ev, "%s.api-key.create", kind_of(op->ent)->key);
    is_event(op, ev, is_entity_ids(kind_of(op->ent), op->id));
    is_op_reply(op, 200, o);
}

static void key_hashed(is_op_t *op)
{
    if (op->work_rc != 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_internal, "cannot generate the API key");
        is_op_fail(op, &e);
        return;
    }
    const is_kind_t *k = kind_of(op->ent);
    const char *p[7] = {op->tok.id, is_ent_type_name(op->ent),        op->id, op->hash, op->buf[0],
                        op->buf[1], op->buf[2][0] ? op->buf[2] : NULL};
    snprintf(op->sql, sizeof op->sql,
             "INSERT INTO %s.api_keys (key_id, entity_type, entity_id, key_hash, name, rights, "
             "expires_at) SELECT $1, $2, $3, $4, $5, $6::text[], $7::timestamptz "
             "WHERE EXISTS (SELECT 1 FROM %s.%s WHERE %s = $3 AND deleted_at IS NULL) "
             "AND ($7::timestamptz IS NULL OR $7::timestamptz > now()) RETURNING " KEY_COLS,
             op->sq, op->sq, k->table, k->id_field);
    /* Zero rows: the entity is gone, or the expiry is in the past; tell them apart. */
    snprintf(op->buf[3], sizeof op->buf[3], "%s", op->buf[2][0] ? "x" : "");
    is_op_query(op, op->sql, 7, p, key_created);
}

static void key_generate_work(is_op_t *op)
{
    char token[IS_TOKEN_MAX + 1];
    if (is_token_generate(IS_TOKEN_API_KEY, &op->tok) != 0) {
        op->work_rc = -1;
        return;
    }
    is_token_format(&op->tok, token, sizeof token);
    op->work_rc = is_hash_secret(token, op->is->key_iterations, op->hash, sizeof op->hash);
    OPENSSL_cleanse(token, sizeof token);
}

static json_t *key_row(is_op_t *op, const PGresult *res, int row)
{
    (void)op;
    return key_render(res, row, 1);
}

static void key_listed(is_op_t *op, const PGresult *res)
{
    is_op_reply_page(op, res, "api_keys", key_row);
}

static void key_one(is_op_t *op, const PGresult *res)
{
    if (PQntuples(res) != 1) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_api_key_not_found, "API key `%.40s` not found", op->key_id);
        is_op_fail(op, &e);
        return;
    }
    if (op->route->variant != K_GET) {
        is_cache_forget(op->is, op->t.id, op->key_id, IS_ENT_USER, "");
        lw_log(LW_LOG_INFO, "is",
               op->route->variant == K_DELETE ? "API key deleted" : "API key updated", "tenant",
               op->t.id, "key_id", op->key_id, NULL);
        char ev[64];
        snprintf(ev, sizeof ev, "%s.api-key.%s", kind_of(op->ent)->key,
                 op->route->variant == K_DELETE ? "delete" : "update");
        is_event(op, ev, is_entity_ids(kind_of(op->ent), op->id));
    }
    if (op->route->variant == K_DELETE) {
        is_op_reply(op, 200, json_object());
        return;
    }
    is_op_reply(op, 200, key_render(res, 0, 0));
}

static void key_update(is_op_t *op)
{
    static const char *const allowed[] = {"api_key",     "field_mask",       "application_ids",
                                          "gateway_ids", "organization_ids", "user_ids",
                                          NULL};
    if (!is_op_body(op, allowed))
        return;
    json_t *key = json_object_get(op->body, "api_key");
    if (key == NULL || !json_is_object(key)) {
        is_op_invalid(op, "api_key", "must be an object");
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach(key, k, v)
    {
        if (strcmp(k, "name") && strcmp(k, "rights") && strcmp(k, "expires_at") &&
            strcmp(k, "id") && strcmp(k, "created_at") && strcmp(k, "updated_at")) {
            lw_err_t e;
            char f[96];
            snprintf(f, sizeof f, "api_key.%.60s", k);
            lw_err_set(&e, &lw_err_unknown_field, "unknown field `%s`", f);
            lw_err_attr(&e, "field", f);
            is_op_fail(op, &e);
            return;
        }
    }
    if (!key_fields(op, key, "api_key.", false))
        return;
    /* Which columns change: the mask's paths (all three when no mask is given). */
    json_t *paths = json_object_get(json_object_get(op->body, "field_mask"), "paths");
    bool set_name = paths == NULL, set_rights = paths == NULL, set_exp = paths == NULL;
    size_t i;
    json_array_foreach(paths, i, v)
    {
        const char *s = json_string_value(v);
        if (s != NULL && strcmp(s, "name") == 0)
            set_name = true;
        else if (s != NULL && strcmp(s, "rights") == 0)
            set_rights = true;
        else if (s != NULL && strcmp(s, "expires_at") == 0)
            set_exp = true;
        else {
            is_op_invalid(op, "field_mask", "paths may be name, rights and expires_at");
            return;
        }
    }
    if (set_rights && !want_within(op))
        return;
    const char *p[6] = {op->key_id, is_ent_type_name(op->ent),        op->id, op->buf[0],
                        op->buf[1], op->buf[2][0] ? op->buf[2] : NULL};
    if (set_rights && op->want == 0) {
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
    const char *p[3] = {is_ent_type_name(op->ent), op->id, op->key_id};
    switch (op->route->variant) {
    case K_CREATE: {
        static const char *const allowed[] = {
            "name",        "rights",           "expires_at", "application_ids",
            "gateway_ids", "organization_ids", "user_ids",   NULL};
        if (!is_op_body(op, allowed) || !key_fields(op, op->body, "", true) || !want_within(op))
            return;
        is_op_work(op, key_generate_work, key_hashed);
        return;
    }
    case K_LIST:
        if (is_page_parse(&is_kind_app, lw_http_query(op->req, "limit"),
                          lw_http_query(op->req, "page"), NULL, &op->page, &e) != 0) {
            is_op_fail(op, &e);
            return;
        }
        snprintf(from, sizeof from, "%s.api_keys WHERE entity_type = $1 AND entity_id = $2",
                 op->sq);
        is_op_page_sql(op, KEY_COLS, from, "created_at, key_id");
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
        snprintf(op->sql, sizeof op->sql,
                 "DELETE FROM %s.api_keys WHERE entity_type = $1 AND entity_id = $2 AND key_id = "
                 "$3 RETURNING " KEY_COLS,
                 op->sq);
        is_op_query(op, op->sql, 3, p, key_one);
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
        const char *k = lw_http_param(op->req, "key_id");
        if (k == NULL || strlen(k) > IS_TOKEN_ID_LEN) {
            is_op_invalid(op, "key_id", "not an API key ID");
            return;
        }
        snprintf(op->key_id, sizeof op->key_id, "%s", k);
    }
    is_rights_run(op, op->route->ent, op->id, key_righted);
}

static void h_key(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    is_op_t *op = is_op_for(req, t, arg);
    if (op != NULL)
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

static json_t *collab_row(is_op_t *op, const PGresult *res, int row)
{
    (void)op;
    return collab_render(res, row, 1);
}

static void collab_listed(is_op_t *op, const PGresult *res)
{
    is_op_reply_page(op, res, "collaborators", collab_row);
}

static void collab_one(is_op_t *op, const PGresult *res)
{
    if (PQntuples(res) != 1) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_collaborator_not_found, "collaborator `%s` not found", op->id2);
        is_op_fail(op, &e);
        return;
    }
    if (op->route->variant == C_GET) {
        is_op_reply(op, 200, collab_render(res, 0, 0));
        return;
    }
    lw_log(LW_LOG_INFO, "is", "collaborator changed", "tenant", op->t.id, "entity", op->id,
           "collaborator", op->id2, NULL);
    char ev[64];
    snprintf(ev, sizeof ev, "%s.collaborator.%s", kind_of(op->ent)->key,
             op->route->variant == C_DELETE || op->want == 0 ? "delete" : "update");
    is_event(op, ev, is_entity_ids(kind_of(op->ent), op->id));
    is_op_reply(op, 200, json_object());
}

static void collab_set(is_op_t *op)
{
    const is_kind_t *k = kind_of(op->ent);
    char idskey[48];
    snprintf(idskey, sizeof idskey, "%s_ids", k->key);
    const char *allowed[] = {"collaborator", idskey, NULL};
    if (!is_op_body(op, allowed))
        return;
    json_t *c = json_object_get(op->body, "collaborator");
    if (!json_is_object(c)) {
        is_op_invalid(op, "collaborator", "must be an object");
        return;
    }
    const char *key;
    json_t *v;
    json_object_foreach(c, key, v)
    {
        if (strcmp(key, "ids") != 0 && strcmp(key, "rights") != 0) {
            lw_err_t e;
            char f[96];
            snprintf(f, sizeof f, "collaborator.%.60s", key);
            lw_err_set(&e, &lw_err_unknown_field, "unknown field `%s`", f);
            lw_err_attr(&e, "field", f);
            is_op_fail(op, &e);
            return;
        }
    }
    json_t *ids = json_object_get(c, "ids");
    json_t *u = json_object_get(json_object_get(ids, "user_ids"), "user_id");
    json_t *o = json_object_get(json_object_get(ids, "organization_ids"), "organization_id");
    lw_err_t e;
    if ((u == NULL) == (o == NULL)) {
        is_op_invalid(op, "collaborator.ids",
                      "must hold user_ids.user_id or organization_ids.organization_id");
        return;
    }
    const char *field = u ? "collaborator.ids.user_ids.user_id"
                          : "collaborator.ids.organization_ids.organization_id";
    if (!json_is_string(u ? u : o) ||
        tn_id_validate(json_string_value(u ? u : o), u ? 2 : 3, field, &e) != 0) {
        if (!json_is_string(u ? u : o))
            is_err_field(&e, field, "invalid `%s`: must be a string", field);
        is_op_fail(op, &e);
        return;
    }
    if (o != NULL && op->ent == IS_ENT_ORG) {
        is_op_invalid(op, field, "organizations cannot be members of organizations");
        return;
    }
    snprintf(op->id2, sizeof op->id2, "%s", json_string_value(u ? u : o));
    if (is_rights_from_json(json_object_get(c, "rights"), "collaborator.rights", &op->want, &e) !=
        0) {
        is_op_fail(op, &e);
        return;
    }
    if (!want_within(op))
        return;
    char rights[1024];
    is_rights_to_pg(op->want, rights, sizeof rights);
    const char *atype = u ? "user" : "organization";
    const char *p[5] = {is_ent_type_name(op->ent), op->id, op->id2, atype, rights};
    if (op->want == 0) {
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
    const char *p[4] = {is_ent_type_name(op->ent), op->id, op->id2, op->buf[0]};
    switch (v) {
    case C_LIST:
        if (is_page_parse(&is_kind_app, lw_http_query(op->req, "limit"),
                          lw_http_query(op->req, "page"), NULL, &op->page, &e) != 0) {
            is_op_fail(op, &e);
            return;
        }
        snprintf(from, sizeof from, "%s.memberships WHERE entity_type = $1 AND entity_id = $2",
                 op->sq);
        is_op_page_sql(op, "account_id, account_type, rights::text", from, "account_id");
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
        snprintf(op->sql, sizeof op->sql,
                 "DELETE FROM %s.memberships WHERE entity_type = $1 AND entity_id = $2 AND "
                 "account_id = $3 AND account_type = $4 RETURNING 1",
                 op->sq);
        is_op_query(op, op->sql, 4, p, collab_one);
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
        const char *path = lw_http_path(op->req);
        bool org = strstr(path, "/organization/") != NULL;
        snprintf(op->buf[0], sizeof op->buf[0], "%s", org ? "organization" : "user");
        if (!is_op_path_id(op, "account", org ? 3 : 2,
                           org ? "organization_ids.organization_id" : "user_ids.user_id", op->id2))
            return;
    }
    is_rights_run(op, op->ent, op->id, collab_righted);
}

static void h_collab(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    is_op_t *op = is_op_for(req, t, arg);
    if (op != NULL)
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
        json_object_set_new(w, "entity_ids", entity_ids(a->ent, a->ent_id));
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
    is_op_reply(op, 200, o);
}

static void h_auth_info(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    is_op_t *op = is_op_for(req, t, arg);
    if (op != NULL)
        is_auth_run(op, false, auth_info);
}

/* ---- login, logout, password ------------------------------------------------------------- */

static void login_inserted(is_op_t *op, const PGresult *res)
{
    char token[IS_TOKEN_MAX + 1];
    is_token_format(&op->tok, token, sizeof token);
    json_t *o = json_object();
    json_object_set_new(o, "access_token", json_string(token));
    OPENSSL_cleanse(token, sizeof token);
    json_object_set_new(o, "token_type", json_string("bearer"));
    json_object_set_new(o, "expires_in", json_integer(op->is->token_ttl_ms / 1000));
    json_object_set_new(o, "expires_at", json_string(PQgetvalue(res, 0, 0)));
    lw_log(LW_LOG_INFO, "is", "user logged in", "tenant", op->t.id, "user", op->id, NULL);
    is_op_reply(op, 200, o);
}

/* Off the loop: checks the password (or burns the same time when the user is unknown), then
 * makes the access token and its hash. */
static void login_work(is_op_t *op)
{
    char dummy[IS_HASH_MAX + 1];
    if (op->hash[0] == '\0') {
        is_hash_secret(op->password, op->is->pw_iterations, dummy, sizeof dummy);
        op->work_rc = 0;
    } else {
        op->work_rc = is_hash_verify(op->password, op->hash) == 1;
    }
    OPENSSL_cleanse(op->password, sizeof op->password);
    if (op->work_rc != 1)
        return;
    char token[IS_TOKEN_MAX + 1];
    if (is_token_generate(IS_TOKEN_ACCESS, &op->tok) != 0) {
        op->work_rc = -1;
        return;
    }
    is_token_format(&op->tok, token, sizeof token);
    if (is_hash_secret(token, op->is->key_iterations, op->hash, sizeof op->hash) != 0)
        op->work_rc = -1;
    OPENSSL_cleanse(token, sizeof token);
}

static void login_checked(is_op_t *op)
{
    lw_err_t e;
    if (op->work_rc != 1) {
        if (op->work_rc < 0)
            lw_err_set(&e, &lw_err_internal, "cannot issue an access token");
        else
            lw_err_set(&e, &lw_err_no_user_id_password_match, "incorrect password or user ID");
        is_op_fail(op, &e);
        return;
    }
    if (!op->flag) {
        lw_err_set(&e, &lw_err_user_not_approved, "user `%s` is not approved", op->id);
        lw_err_attr(&e, "user_id", op->id);
        is_op_fail(op, &e);
        return;
    }
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%lld", op->is->token_ttl_ms);
    const char *p[4] = {op->tok.id, op->id, op->hash, ttl};
    snprintf(op->sql, sizeof op->sql,
             "INSERT INTO %s.access_tokens (token_id, user_id, token_hash, rights, expires_at) "
             "VALUES ($1, $2, $3, '{RIGHT_ALL}', now() + $4::bigint * interval '1 millisecond') "
             "RETURNING " IS_TS("expires_at"),
             op->sq);
    is_op_query(op, op->sql, 4, p, login_inserted);
}

static void login_user(is_op_t *op, const PGresult *res)
{
    op->hash[0] = '\0';
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        snprintf(op->hash, sizeof op->hash, "%s", PQgetvalue(res, 0, 0));
        int st = atoi(PQgetvalue(res, 0, 1));
        op->flag = st == 1 || st == 3;
    }
    is_op_work(op, login_work, login_checked);
}

static void h_login(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    is_op_t *op = is_op_for(req, t, arg);
    if (op == NULL)
        return;
    static const char *const allowed[] = {"user_id", "password", NULL};
    if (!is_op_body(op, allowed))
        return;
    json_t *u = json_object_get(op->body, "user_id");
    json_t *pw = json_object_get(op->body, "password");
    lw_err_t e;
    if (!json_is_string(u) || tn_id_validate(json_string_value(u), 2, "user_id", &e) != 0) {
        if (!json_is_string(u))
            is_err_field(&e, "user_id", "invalid `user_id`: missing");
        is_op_fail(op, &e);
        return;
    }
    if (!json_is_string(pw) || json_string_length(pw) == 0 ||
        json_string_length(pw) >= sizeof op->password) {
        is_op_invalid(op, "password", "missing");
        return;
    }
    snprintf(op->id, sizeof op->id, "%s", json_string_value(u));
    snprintf(op->password, sizeof op->password, "%s", json_string_value(pw));
    const char *p[1] = {op->id};
    snprintf(op->sql, sizeof op->sql,
             "SELECT password_hash, state FROM %s.users WHERE user_id = $1 AND deleted_at IS NULL",
             op->sq);
    is_op_query(op, op->sql, 1, p, login_user);
}

static void logout_done(is_op_t *op, const PGresult *res)
{
    (void)res;
    is_cache_forget(op->is, op->t.id, op->auth.key_id, IS_ENT_USER, "");
    is_op_reply(op, 200, json_object());
}

static void logout_authed(is_op_t *op)
{
    if (op->auth.kind != IS_AUTH_TOKEN) {
        is_op_invalid(op, "authorization", "logout needs an access token");
        return;
    }
    const char *p[1] = {op->auth.key_id};
    snprintf(op->sql, sizeof op->sql, "DELETE FROM %s.access_tokens WHERE token_id = $1", op->sq);
    is_op_query(op, op->sql, 1, p, logout_done);
}

static void h_logout(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    is_op_t *op = is_op_for(req, t, arg);
    if (op != NULL)
        is_auth_run(op, true, logout_authed);
}

static void password_done(is_op_t *op, const PGresult *res)
{
    (void)res;
    if (op->flag)
        is_cache_forget(op->is, op->t.id, NULL, IS_ENT_USER, op->id);
    lw_log(LW_LOG_INFO, "is", "password changed", "tenant", op->t.id, "user", op->id, NULL);
    is_op_reply(op, 200, json_object());
}

static void password_work(is_op_t *op)
{
    /* buf[7] holds the old password when it must be checked (never logged). */
    if (op->buf[7][0] != '\0' || op->hash[0] != '\0') {
        if (op->hash[0] == '\0' || is_hash_verify(op->buf[7], op->hash) != 1) {
            op->work_rc = 1;
            OPENSSL_cleanse(op->buf[7], sizeof op->buf[7]);
            OPENSSL_cleanse(op->password, sizeof op->password);
            return;
        }
    }
    OPENSSL_cleanse(op->buf[7], sizeof op->buf[7]);
    op->work_rc = is_hash_secret(op->password, op->is->pw_iterations, op->hash, sizeof op->hash);
    OPENSSL_cleanse(op->password, sizeof op->password);
}

static void password_hashed(is_op_t *op)
{
    lw_err_t e;
    if (op->work_rc != 0) {
        if (op->work_rc == 1)
            is_err_field(&e, "old", "invalid `old`: incorrect password");
        else
            lw_err_set(&e, &lw_err_internal, "cannot hash the password");
        is_op_fail(op, &e);
        return;
    }
    const char *p[2] = {op->id, op->hash};
    /* revoke_all_access: the user's access tokens go in the same statement. */
    snprintf(op->sql, sizeof op->sql,
             "WITH u AS (UPDATE %s.users SET password_hash = $2, password_updated_at = now(), "
             "updated_at = now() WHERE user_id = $1 RETURNING user_id)%s%s%s "
             "SELECT count(*) FROM u",
             op->sq, op->flag ? ", t AS (DELETE FROM " : "", op->flag ? op->sq : "",
             op->flag ? ".access_tokens WHERE user_id = $1)" : "");
    is_op_query(op, op->sql, 2, p, password_done);
}

static void password_row(is_op_t *op, const PGresult *res)
{
    if (PQntuples(res) != 1) {
        is_op_not_found(op, "user", op->id);
        return;
    }
    /* Admins changing another user's password need not know the old one. */
    const char *self = is_auth_user(op);
    bool check_old = !(is_auth_admin(op) && (self == NULL || strcmp(self, op->id) != 0));
    op->hash[0] = '\0';
    if (check_old)
        snprintf(op->hash, sizeof op->hash, "%s",
                 PQgetisnull(res, 0, 0) ? "" : PQgetvalue(res, 0, 0));
    if (check_old && op->hash[0] == '\0')
        snprintf(op->hash, sizeof op->hash, "x"); /* no password: nothing matches */
    is_op_work(op, password_work, password_hashed);
}

static void password_righted(is_op_t *op)
{
    if (!is_rights_require(op, IS_BIT(IS_R_USER_SETTINGS_BASIC)))
        return;
    static const char *const allowed[] = {"user_ids", "old", "new", "revoke_all_access", NULL};
    if (!is_op_body(op, allowed))
        return;
    json_t *nw = json_object_get(op->body, "new");
    json_t *old = json_object_get(op->body, "old");
    lw_err_t e;
    if (is_password_check(&op->is->pw, json_string_value(nw), op->id, "new", &e) != 0) {
        is_op_fail(op, &e);
        return;
    }
    if (old != NULL && (!json_is_string(old) || json_string_length(old) >= sizeof op->buf[7])) {
        is_op_invalid(op, "old", "must be a string");
        return;
    }
    snprintf(op->password, sizeof op->password, "%s", json_string_value(nw));
    snprintf(op->buf[7], sizeof op->buf[7], "%s", old ? json_string_value(old) : "");
    op->flag = json_is_true(json_object_get(op->body, "revoke_all_access"));
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
    is_op_t *op = is_op_for(req, t, arg);
    if (op != NULL)
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
