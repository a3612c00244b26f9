/* Users, organizations, applications and gateways: create, get, list, update, delete,
 * restore, purge, rights — The Things Stack's HTTP API on the tenant's schema. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "is/server_private.h"
#include "cluster/log.h"
#include "cluster/mem.h"

enum {
    V_CREATE = 0,
    V_LIST_OWNER,
    V_LIST_ALL,
    V_GET,
    V_UPDATE,
    V_DELETE,
    V_RESTORE,
    V_PURGE,
    V_RIGHTS,
};

/* The state of an entity operation (get, rights, create, list, update, delete, restore,
 * purge), one meaning per field. */
typedef struct ent_op {
    is_op_t op;
    char owner[TN_ID_MAX + 1]; /* create, list under /users/{owner} or /organizations/{owner} */
    bool owner_org;            /* ... the owner is an organization */
    is_ids_t ids;              /* create, update: the body's identifiers */
    json_t *data;              /* create, update: the body's other fields (owned) */
    is_mask_t mask;            /* get, list, update: the fields to render (update: to set) */
    is_page_t page;            /* list */
    bool list_deleted;         /* list: ?deleted=true (admins) */
    bool eui_change;           /* update: "ids.eui" in the mask */
} ent_op_t;
#define E(op) ((ent_op_t *)(op))

/* User registration: the user to create and its password, hashed off the loop. */
typedef struct user_op {
    is_op_t op;
    is_ids_t ids;
    json_t *data; /* owned */
    char password[1024];
    char hash[IS_HASH_MAX + 1];
    char admin[8]; /* "true" / "false" */
    char state[8]; /* the user state as a number */
    bool approval; /* self-registration: the user waits for an admin (STATE_REQUESTED) */
} user_op_t;
#define U(op) ((user_op_t *)(op))

static void ent_release(is_op_t *op)
{
    json_decref(E(op)->data);
}

static void user_release(is_op_t *op)
{
    json_decref(U(op)->data);
}

/* An entity op for a route handler. */
static is_op_t *ent_op_for(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    is_op_t *op = is_op_for(req, t, arg, sizeof(ent_op_t));
    op->release = ent_release;
    return op;
}

#define COLS(id, extra)                                                                            \
    id ", data::text, " IS_TS("created_at") ", " IS_TS("updated_at") ", " IS_TS("deleted_at") extra

static const char *cols_of(const is_kind_t *k)
{
    if (k == &is_kind_user)
        return COLS("user_id", ", admin, state");
    if (k == &is_kind_gw)
        return COLS("gateway_id", ", eui");
    if (k == &is_kind_org)
        return COLS("organization_id", "");
    return COLS("application_id", "");
}

static is_rights_t r_info(is_ent_t e)
{
    static const int v[] = {IS_R_USER_INFO, IS_R_ORGANIZATION_INFO, IS_R_APPLICATION_INFO,
                            IS_R_GATEWAY_INFO};
    return IS_BIT(v[e]);
}

static is_rights_t r_basic(is_ent_t e)
{
    static const int v[] = {IS_R_USER_SETTINGS_BASIC, IS_R_ORGANIZATION_SETTINGS_BASIC,
                            IS_R_APPLICATION_SETTINGS_BASIC, IS_R_GATEWAY_SETTINGS_BASIC};
    return IS_BIT(v[e]);
}

static is_rights_t r_delete(is_ent_t e)
{
    static const int v[] = {IS_R_USER_DELETE, IS_R_ORGANIZATION_DELETE, IS_R_APPLICATION_DELETE,
                            IS_R_GATEWAY_DELETE};
    return IS_BIT(v[e]);
}

/* Rights an owner (user or organization) needs to list or create entities of kind k. */
static is_rights_t r_owner(is_ent_t owner, const is_kind_t *k, bool create)
{
    if (owner == IS_ENT_USER) {
        if (k == &is_kind_app)
            return IS_BIT(create ? IS_R_USER_APPLICATIONS_CREATE : IS_R_USER_APPLICATIONS_LIST);
        if (k == &is_kind_gw)
            return IS_BIT(create ? IS_R_USER_GATEWAYS_CREATE : IS_R_USER_GATEWAYS_LIST);
        return IS_BIT(create ? IS_R_USER_ORGANIZATIONS_CREATE : IS_R_USER_ORGANIZATIONS_LIST);
    }
    if (k == &is_kind_app)
        return IS_BIT(create ? IS_R_ORGANIZATION_APPLICATIONS_CREATE
                             : IS_R_ORGANIZATION_APPLICATIONS_LIST);
    return IS_BIT(create ? IS_R_ORGANIZATION_GATEWAYS_CREATE : IS_R_ORGANIZATION_GATEWAYS_LIST);
}

static is_rights_t r_all(is_ent_t e)
{
    static const int v[] = {IS_R_USER_ALL, IS_R_ORGANIZATION_ALL, IS_R_APPLICATION_ALL,
                            IS_R_GATEWAY_ALL};
    return IS_BIT(v[e]);
}

/* Users have The Things Stack's State enum, as tenants do (tenant/ids.h). -1: unknown. */
static int user_state_parse(const char *s)
{
    tn_state_t st;
    return s != NULL && tn_state_parse(s, &st) == 0 ? (int)st : -1;
}

/* Renders row i of a result whose columns start at c0 in cols_of(k) order. */
static json_t *row_render(const is_kind_t *k, const PGresult *res, int i, int c0,
                          const is_mask_t *mask)
{
    json_t *ids = json_object();
    json_object_set_new(ids, k->id_field, json_string(PQgetvalue(res, i, c0)));
    json_t *full = json_loads(PQgetvalue(res, i, c0 + 1), 0, NULL);
    if (full == NULL || !json_is_object(full)) {
        json_decref(full);
        full = json_object();
    }
    if (k == &is_kind_gw && !PQgetisnull(res, i, c0 + 5))
        json_object_set_new(ids, "eui", json_string(PQgetvalue(res, i, c0 + 5)));
    if (k == &is_kind_user) {
        if (strcmp(PQgetvalue(res, i, c0 + 5), "t") == 0)
            json_object_set_new(full, "admin", json_true());
        int st = atoi(PQgetvalue(res, i, c0 + 6));
        if (st > 0 && st < 5)
            json_object_set_new(full, "state", json_string(tn_state_name((tn_state_t)st)));
    }
    json_t *o = is_entity_render(k, ids, PQgetvalue(res, i, c0 + 2), PQgetvalue(res, i, c0 + 3),
                                 PQgetvalue(res, i, c0 + 4), full, mask);
    json_decref(full);
    return o;
}

static bool op_mask_query(is_op_t *op)
{
    lw_err_t e;
    if (is_mask_parse_csv(op->kind, lw_http_query(op->api.req, "field_mask"), "field_mask",
                          &E(op)->mask, &e) != 0) {
        lw_api_fail(&op->api, &e);
        return false;
    }
    return true;
}

static size_t id_min(const is_kind_t *k)
{
    return k == &is_kind_user ? 2 : 3;
}

static char *field_name(const is_kind_t *k, char *buf, size_t len)
{
    /* "application_ids.application_id" as The Things Stack names path identifiers. */
    snprintf(buf, len, "%s_ids.%s", k->key, k->id_field);
    return buf;
}

/* ---- get --------------------------------------------------------------------------------- */

static void get_row(is_op_t *op, const PGresult *res)
{
    if (PQntuples(res) != 1) {
        lw_api_fail_not_found(&op->api, op->kind->name, op->id);
        return;
    }
    lw_api_reply(&op->api, 200, row_render(op->kind, res, 0, 0, &E(op)->mask));
}

static void get_righted(is_op_t *op)
{
    if (!is_rights_require(op, r_info(op->kind->ent)))
        return;
    snprintf(op->sql, sizeof op->sql, "SELECT %s FROM %s.%s WHERE %s = $1 AND deleted_at IS NULL",
             cols_of(op->kind), op->sq, op->kind->table, op->kind->id_field);
    const char *p[1] = {op->id};
    is_op_query(op, op->sql, 1, p, get_row);
}

/* GET /api/v3/<entities>/{id}/rights, as The Things Stack's ListRights: the caller's
 * effective rights on the entity, expanded and within the entity kind's rights (a tenant
 * admin's universal rights included), {} when none. An anonymous caller has none, and so
 * has anyone on an entity that does not exist (or is deleted) — except an admin, who is told
 * it is not found. The other servers' access checks ask this (tenant/access.h). */
static void rights_row(is_op_t *op, const PGresult *res)
{
    bool found = PQntuples(res) == 1;
    if (!found && is_auth_admin(op)) {
        lw_api_fail_not_found(&op->api, op->kind->name, op->id);
        return;
    }
    is_rights_t r = found ? is_rights_expand(op->rights) & is_rights_of(op->kind->ent) : 0;
    json_t *o = json_object();
    if (r != 0)
        json_object_set_new(o, "rights", is_rights_to_json(r));
    lw_api_reply(&op->api, 200, o);
}

static void rights_reply(is_op_t *op)
{
    if (op->rights == 0 && !is_auth_admin(op)) {
        lw_api_reply(&op->api, 200, json_object());
        return;
    }
    snprintf(op->sql, sizeof op->sql, "SELECT 1 FROM %s.%s WHERE %s = $1 AND deleted_at IS NULL",
             op->sq, op->kind->table, op->kind->id_field);
    const char *p[1] = {op->id};
    is_op_query(op, op->sql, 1, p, rights_row);
}

static void entity_authed(is_op_t *op)
{
    char f[96];
    if (!is_op_path_id(op, "id", id_min(op->kind), field_name(op->kind, f, sizeof f), op->id))
        return;
    switch (op->route->variant) {
    case V_GET:
        if (!op_mask_query(op))
            return;
        is_rights_run(op, op->kind->ent, op->id, get_righted);
        return;
    case V_RIGHTS:
        is_rights_run(op, op->kind->ent, op->id, rights_reply);
        return;
    default:
        return;
    }
}

static void h_entity(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    is_op_t *op = ent_op_for(req, t, arg);
    /* Rights are listed to anyone (none for an anonymous caller), as The Things Stack. */
    is_auth_run(op, ((const is_route_t *)arg)->variant != V_RIGHTS, entity_authed);
}

/* ---- create ------------------------------------------------------------------------------ */

static void create_inserted(is_op_t *op, const PGresult *res)
{
    if (PQntuples(res) != 1) {
        lw_api_fail_not_found(&op->api, E(op)->owner_org ? "organization" : "user", E(op)->owner);
        return;
    }
    lw_log(LW_LOG_INFO, "is", "entity created", "tenant", op->t.id, "type", op->kind->key, "id",
           op->id, NULL);
    char ev[64];
    snprintf(ev, sizeof ev, "%s.create", op->kind->key);
    is_event(op, ev, is_entity_ids(op->kind, op->id));
    is_mask_t all;
    is_mask_all(op->kind, &all);
    lw_api_reply(&op->api, 200, row_render(op->kind, res, 0, 0, &all));
}

static void create_inserting(is_op_t *op, const PGresult *res)
{
    (void)res;
    const is_kind_t *k = op->kind;
    char *data = json_dumps(E(op)->data, JSON_COMPACT);
    char rights[64];
    /* The creator gets the kind's _ALL right; on an organization RIGHT_ALL, since members'
     * rights bound what they do on the organization's applications and gateways. */
    is_rights_to_pg(k == &is_kind_org ? IS_BIT(IS_R_ALL) : r_all(k->ent), rights, sizeof rights);
    char eui[17] = "";
    if (E(op)->ids.has_eui)
        is_eui_format(E(op)->ids.eui, eui);
    const char *owner_table = E(op)->owner_org ? "organizations" : "users";
    const char *owner_col = E(op)->owner_org ? "organization_id" : "user_id";
    const char *p[7] = {op->id,
                        data,
                        E(op)->owner,
                        E(op)->owner_org ? "organization" : "user",
                        rights,
                        op->t.id,
                        E(op)->ids.has_eui ? eui : NULL};
    int n = 5;
    if (k == &is_kind_org) {
        snprintf(op->sql, sizeof op->sql,
                 "WITH a AS (INSERT INTO %s.accounts (account_id, account_type) "
                 "SELECT $1, 'organization' WHERE EXISTS (SELECT 1 FROM %s.users "
                 "WHERE user_id = $3 AND deleted_at IS NULL) RETURNING account_id), "
                 "ins AS (INSERT INTO %s.organizations (organization_id, data) "
                 "SELECT account_id, $2::jsonb FROM a RETURNING %s), "
                 "m AS (INSERT INTO %s.memberships (entity_type, entity_id, account_id, "
                 "account_type, rights) SELECT 'organization', organization_id, $3, $4, $5::text[] "
                 "FROM ins) SELECT * FROM ins",
                 op->sq, op->sq, op->sq, cols_of(k), op->sq);
    } else if (k == &is_kind_gw) {
        n = 7;
        snprintf(
            op->sql, sizeof op->sql,
            "WITH ins AS (INSERT INTO %s.gateways (gateway_id, data, eui) "
            "SELECT $1, $2::jsonb, $7 WHERE EXISTS (SELECT 1 FROM %s.%s WHERE %s = $3 "
            "AND deleted_at IS NULL) RETURNING %s), "
            "m AS (INSERT INTO %s.memberships (entity_type, entity_id, account_id, "
            "account_type, rights) SELECT 'gateway', gateway_id, $3, $4, $5::text[] FROM ins), "
            "c AS (INSERT INTO lw_control.gateway_euis (eui, tenant_id, gateway_id) "
            "SELECT eui, $6, gateway_id FROM ins WHERE eui IS NOT NULL), "
            "x AS (" IS_GW_INDEX_UPSERT("$6", "ins") ") SELECT * FROM ins",
            op->sq, op->sq, owner_table, owner_col, cols_of(k), op->sq);
    } else {
        snprintf(op->sql, sizeof op->sql,
                 "WITH ins AS (INSERT INTO %s.applications (application_id, data) "
                 "SELECT $1, $2::jsonb WHERE EXISTS (SELECT 1 FROM %s.%s WHERE %s = $3 "
                 "AND deleted_at IS NULL) RETURNING %s), "
                 "m AS (INSERT INTO %s.memberships (entity_type, entity_id, account_id, "
                 "account_type, rights) SELECT 'application', application_id, $3, $4, $5::text[] "
                 "FROM ins) SELECT * FROM ins",
                 op->sq, op->sq, owner_table, owner_col, cols_of(k), op->sq);
    }
    if (k == &is_kind_org)
        lw_api_on_conflict(&op->api, NULL, NULL, "ID `%s` is already taken", op->id);
    else
        lw_api_on_conflict(&op->api, NULL, NULL, "%s `%s` already exists", k->name, op->id);
    lw_api_on_conflict(&op->api, "eui", NULL, "gateway EUI `%s` is already registered", eui);
    is_op_query(op, op->sql, n, p, create_inserted);
    free(data);
}

static void create_righted(is_op_t *op)
{
    if (!is_rights_require(op, r_owner(op->route->ent, op->kind, true)))
        return;
    const char *allowed[] = {op->kind->key, "collaborator", NULL};
    json_t *body = is_op_body(op, allowed);
    if (body == NULL)
        return;
    lw_err_t e;
    if (is_entity_decode(op->kind, json_object_get(body, op->kind->key), op->kind->key, true,
                         &E(op)->ids, &E(op)->data, &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    snprintf(op->id, sizeof op->id, "%s", E(op)->ids.id);
    is_op_begin_create(op, create_inserting);
}

/* The owning user or organization of /users/{owner}/... and /organizations/{owner}/...
 * into E(op)->owner (and op->id, for rights errors), then op's rights on it, then cont. */
static void owner_rights(is_op_t *op, is_cont_t cont)
{
    E(op)->owner_org = op->route->ent == IS_ENT_ORG;
    if (!is_op_path_id(op, "owner", E(op)->owner_org ? 3 : 2,
                       E(op)->owner_org ? "organization_ids.organization_id" : "user_ids.user_id",
                       E(op)->owner))
        return;
    snprintf(op->id, sizeof op->id, "%s", E(op)->owner);
    is_rights_run(op, op->route->ent, E(op)->owner, cont);
}

static void create_authed(is_op_t *op)
{
    owner_rights(op, create_righted);
}

static void h_create(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    is_op_t *op = ent_op_for(req, t, arg);
    is_auth_run(op, true, create_authed);
}

/* ---- users: registration ----------------------------------------------------------------- */

static void user_inserted(is_op_t *op, const PGresult *res)
{
    lw_log(LW_LOG_INFO, "is", "user created", "tenant", op->t.id, "user", op->id, NULL);
    is_event(op, "user.create", is_entity_ids(&is_kind_user, op->id));
    is_mask_t all;
    is_mask_all(op->kind, &all);
    lw_api_reply(&op->api, 200, row_render(op->kind, res, 0, 0, &all));
}

static void user_inserting(is_op_t *op, const PGresult *res)
{
    (void)res;
    char *data = json_dumps(U(op)->data, JSON_COMPACT);
    const char *p[5] = {op->id, data, U(op)->admin, U(op)->state, U(op)->hash};
    snprintf(op->sql, sizeof op->sql,
             "WITH a AS (INSERT INTO %s.accounts (account_id, account_type) "
             "VALUES ($1, 'user') RETURNING account_id), "
             "ins AS (INSERT INTO %s.users (user_id, data, admin, state, password_hash, "
             "password_updated_at) SELECT account_id, $2::jsonb, $3::boolean, $4::integer, $5, "
             "now() FROM a RETURNING %s) SELECT * FROM ins",
             op->sq, op->sq, cols_of(&is_kind_user));
    lw_api_on_conflict(&op->api, NULL, NULL, "ID `%s` is already taken", op->id);
    is_op_query(op, op->sql, 5, p, user_inserted);
    free(data);
}

/* Off the loop: the new user's password hash. Returns 0 or -1. */
static int user_hash_work(lw_api_op_t *a)
{
    user_op_t *u = (user_op_t *)a;
    int rc = is_hash_secret(u->password, u->op.is->pw_iterations, u->hash, sizeof u->hash);
    OPENSSL_cleanse(u->password, sizeof u->password);
    return rc;
}

static void user_hashed(lw_api_op_t *a, int rc)
{
    is_op_t *op = (is_op_t *)a;
    if (rc != 0) {
        lw_api_fail_with(a, &lw_err_internal, "cannot hash the password");
        return;
    }
    is_op_begin_create(op, user_inserting);
}

/* Validates a user to create (registration or initial_user) and takes its password out of
 * *data into pw. admin/state come back as text parameters in admin_s/state_s. */
static int user_prepare(is_t *is, json_t *obj, const char *prefix, bool caller_admin, is_ids_t *ids,
                        json_t **data, char *pw, size_t pwlen, char *admin_s, char *state_s,
                        lw_err_t *err)
{
    if (is_entity_decode(&is_kind_user, obj, prefix, true, ids, data, err) != 0)
        return -1;
    json_t *d = *data;
    if (!caller_admin &&
        (json_object_get(d, "admin") != NULL || json_object_get(d, "state") != NULL ||
         json_object_get(d, "state_description") != NULL)) {
        lw_err_set(err, &lw_err_no_admin,
                   "only admins may set admin, state and "
                   "state_description");
        goto fail;
    }
    const char *pw_in = json_string_value(json_object_get(d, "password"));
    char field[96];
    snprintf(field, sizeof field, "%s.password", prefix);
    if (is_password_check(&is->pw, pw_in, ids->id, field, err) != 0)
        goto fail;
    snprintf(pw, pwlen, "%s", pw_in);
    json_object_del(d, "password");
    bool admin = json_is_true(json_object_get(d, "admin"));
    int state = 1; /* approved; a self-registration may still need approval (user_register) */
    if (json_object_get(d, "state") != NULL)
        state = user_state_parse(json_string_value(json_object_get(d, "state")));
    json_object_del(d, "admin");
    json_object_del(d, "state");
    snprintf(admin_s, 8, "%s", admin ? "true" : "false");
    snprintf(state_s, 8, "%d", state);
    return 0;
fail:
    json_decref(*data);
    *data = NULL;
    return -1;
}

/* The user to create from the body; for a self-registration (not an admin) under the
 * registration settings in force: invitation, enabled, approval, in The Things Stack's
 * order. */
static void user_create_run(is_op_t *op, bool admin, bool enabled, bool invitation)
{
    static const char *const allowed[] = {"user", "invitation_token", NULL};
    json_t *body = is_op_body(op, allowed);
    if (body == NULL)
        return;
    lw_err_t e;
    if (!admin) {
        const char *token = json_string_value(json_object_get(body, "invitation_token"));
        if (token != NULL && *token != '\0') {
            /* No invitation is ever issued yet (no /api/v3/invitations): none is valid. */
            lw_err_set(&e, &lw_err_invitation_not_found, "invitation not found");
            lw_api_fail(&op->api, &e);
            return;
        }
        if (invitation) {
            lw_err_set(&e, &lw_err_invitation_token_required, "invitation token required");
            lw_api_fail(&op->api, &e);
            return;
        }
        if (!enabled) {
            lw_err_set(&e, &lw_err_user_registration_disabled, "user registration is disabled");
            lw_api_fail(&op->api, &e);
            return;
        }
    }
    if (user_prepare(op->is, json_object_get(body, "user"), "user", admin, &U(op)->ids,
                     &U(op)->data, U(op)->password, sizeof U(op)->password, U(op)->admin,
                     U(op)->state, &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    if (!admin && U(op)->approval) {
        snprintf(U(op)->state, sizeof U(op)->state, "%d", (int)TN_STATE_REQUESTED);
        json_object_set_new(U(op)->data, "state_description",
                            json_string("admin approval required"));
    }
    snprintf(op->id, sizeof op->id, "%s", U(op)->ids.id);
    lw_api_work(&op->api, user_hash_work, user_hashed);
}

/* A boolean of the tenant's user_registration settings at `path` (e.g. "admin_approval",
 * "required"), or def when the tenant does not set it. */
static bool reg_setting(json_t *reg, const char *obj, const char *key, bool def)
{
    json_t *v =
        obj != NULL ? json_object_get(json_object_get(reg, obj), key) : json_object_get(reg, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

/* The tenant's configuration.default_cluster.is.user_registration (column 0, JSON or NULL)
 * over the deployment's is.user-registration.*. */
static void user_register(is_op_t *op, const PGresult *res)
{
    const is_t *is = op->is;
    json_t *reg = NULL;
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        reg = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    bool enabled = reg_setting(reg, NULL, "enabled", is->registration_enabled);
    bool invitation = reg_setting(reg, "invitation", "required", is->invitation_required);
    U(op)->approval = reg_setting(reg, "admin_approval", "required", is->admin_approval);
    json_decref(reg);
    user_create_run(op, false, enabled, invitation);
}

static void user_create_authed(is_op_t *op)
{
    if (is_auth_admin(op)) {
        user_create_run(op, true, true, false);
        return;
    }
    const char *p[1] = {op->t.id};
    is_op_query(op,
                "SELECT configuration #> '{default_cluster,is,user_registration}' FROM "
                "lw_control.tenants WHERE tenant_id = $1",
                1, p, user_register);
}

static void h_user_create(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    is_op_t *op = is_op_for(req, t, arg, sizeof(user_op_t));
    op->release = user_release;
    is_auth_run(op, false, user_create_authed);
}

/* ---- lists ------------------------------------------------------------------------------- */

static json_t *list_row(lw_api_op_t *op, const PGresult *res, int row)
{
    return row_render(((is_op_t *)op)->kind, res, row, 1, &E(op)->mask);
}

static void list_rows(is_op_t *op, const PGresult *res)
{
    lw_api_reply_page(&op->api, res, op->kind->plural, list_row, false);
}

/* cond: SQL condition on the kind's table, with $1 as the only parameter (or none). */
static void list_run(is_op_t *op, const char *cond, const char *param)
{
    char from[1200];
    snprintf(from, sizeof from, "%s.%s WHERE %s", op->sq, op->kind->table, cond);
    is_op_page_sql(op, cols_of(op->kind), from, E(op)->page.order_sql, &E(op)->page);
    const char *p[1] = {param};
    is_op_query(op, op->sql, param != NULL ? 1 : 0, p, list_rows);
}

/* Condition: entities of the kind where account $1 is a collaborator, directly or (users)
 * through an organization. */
static void member_cond(is_op_t *op, bool through_orgs, char *cond, size_t len)
{
    const is_kind_t *k = op->kind;
    const char *deleted = E(op)->list_deleted ? "deleted_at IS NOT NULL" : "deleted_at IS NULL";
    if (through_orgs && k != &is_kind_org)
        snprintf(cond, len,
                 "%s AND %s IN (SELECT m.entity_id FROM %s.memberships m WHERE m.entity_type = "
                 "'%s' AND (m.account_id = $1 OR m.account_id IN (SELECT o.entity_id FROM "
                 "%s.memberships o WHERE o.entity_type = 'organization' AND o.account_id = $1)))",
                 deleted, k->id_field, op->sq, is_ent_type_name(k->ent), op->sq);
    else
        snprintf(cond, len,
                 "%s AND %s IN (SELECT m.entity_id FROM %s.memberships m WHERE m.entity_type = "
                 "'%s' AND m.account_id = $1)",
                 deleted, k->id_field, op->sq, is_ent_type_name(k->ent));
}

static void list_owner_righted(is_op_t *op)
{
    if (!is_rights_require(op, r_owner(op->route->ent, op->kind, false)))
        return;
    char cond[1024];
    member_cond(op, op->route->ent == IS_ENT_USER, cond, sizeof cond);
    list_run(op, cond, E(op)->owner);
}

static void list_authed(is_op_t *op)
{
    lw_err_t e;
    if (is_page_parse(op->kind, lw_http_query(op->api.req, "limit"),
                      lw_http_query(op->api.req, "page"), lw_http_query(op->api.req, "order"),
                      &E(op)->page, &e) != 0 ||
        is_mask_parse_csv(op->kind, lw_http_query(op->api.req, "field_mask"), "field_mask",
                          &E(op)->mask, &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    const char *del = lw_http_query(op->api.req, "deleted");
    bool deleted = del != NULL && strcmp(del, "true") == 0;
    if (deleted && !is_auth_admin(op)) {
        lw_err_set(&e, &lw_err_no_admin, "only admins may list deleted entities");
        lw_api_fail(&op->api, &e);
        return;
    }
    E(op)->list_deleted = deleted;
    char cond[1024];
    if (op->route->variant == V_LIST_OWNER) {
        owner_rights(op, list_owner_righted);
        return;
    }
    const char *dcond = deleted ? "deleted_at IS NOT NULL" : "deleted_at IS NULL";
    if (is_auth_admin(op)) {
        list_run(op, dcond, NULL);
        return;
    }
    if (op->kind == &is_kind_user) {
        lw_err_set(&e, &lw_err_no_admin, "only admins may list users");
        lw_api_fail(&op->api, &e);
        return;
    }
    const is_auth_t *a = &op->auth;
    if (a->ent == IS_ENT_USER || a->ent == IS_ENT_ORG) {
        member_cond(op, a->ent == IS_ENT_USER, cond, sizeof cond);
        list_run(op, cond, a->ent_id);
        return;
    }
    if (a->ent == op->kind->ent) {
        snprintf(cond, sizeof cond, "%s AND %s = $1", dcond, op->kind->id_field);
        list_run(op, cond, a->ent_id);
        return;
    }
    list_run(op, "false", NULL);
}

static void h_list(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    is_op_t *op = ent_op_for(req, t, arg);
    is_auth_run(op, true, list_authed);
}

/* ---- update ------------------------------------------------------------------------------ */

static void update_done(is_op_t *op, const PGresult *res)
{
    char ev[64];
    snprintf(ev, sizeof ev, "%s.update", op->kind->key);
    is_event(op, ev, is_entity_ids(op->kind, op->id));
    if (op->kind == &is_kind_user)
        is_op_revoke(op, NULL, IS_ENT_USER, op->id);
    lw_api_reply(&op->api, 200, row_render(op->kind, res, 0, 0, &E(op)->mask));
}

static void update_row(is_op_t *op, const PGresult *res)
{
    if (PQntuples(res) != 1) {
        lw_api_fail_not_found(&op->api, op->kind->name, op->id);
        return;
    }
    json_t *cur = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    if (cur == NULL)
        cur = json_object();
    const is_kind_t *k = op->kind;
    char admin_s[8], state_s[16];
    if (k == &is_kind_user) {
        if (strcmp(PQgetvalue(res, 0, 5), "t") == 0)
            json_object_set_new(cur, "admin", json_true());
        int st = atoi(PQgetvalue(res, 0, 6));
        json_object_set_new(cur, "state",
                            json_string(tn_state_name((tn_state_t)(st >= 0 && st < 5 ? st : 0))));
    }
    lw_err_t e;
    if (is_entity_apply(k, cur, E(op)->data, &E(op)->mask, &e) != 0) {
        json_decref(cur);
        lw_api_fail(&op->api, &e);
        return;
    }
    if (k == &is_kind_user) {
        snprintf(admin_s, sizeof admin_s, "%s",
                 json_is_true(json_object_get(cur, "admin")) ? "true" : "false");
        int st = user_state_parse(json_string_value(json_object_get(cur, "state")));
        snprintf(state_s, sizeof state_s, "%d", st < 0 ? 0 : st);
        json_object_del(cur, "admin");
        json_object_del(cur, "state");
    }
    char *data = json_dumps(cur, JSON_COMPACT);
    json_decref(cur);
    const char *p[4] = {op->id, data, admin_s, state_s};
    if (k == &is_kind_user)
        snprintf(op->sql, sizeof op->sql,
                 "UPDATE %s.users SET data = $2::jsonb, admin = $3::boolean, state = $4::integer, "
                 "updated_at = now() WHERE user_id = $1 RETURNING %s",
                 op->sq, cols_of(k));
    else if (k == &is_kind_gw) {
        /* The gateway index row follows the settings in this statement; with "ids.eui" in
         * the mask, the gateway takes the new EUI (or none) in the tenant and in the
         * deployment-wide registry too, and a taken EUI is 409. */
        bool eui_change = E(op)->eui_change;
        char eui[17] = "";
        if (eui_change) {
            is_eui_format(E(op)->ids.eui, eui);
            lw_api_on_conflict(&op->api, NULL, NULL, "gateway `%s` already exists", op->id);
            lw_api_on_conflict(&op->api, "eui", NULL, "gateway EUI `%s` is already registered",
                               eui);
        }
        const char *pg[4] = {op->id, data, op->t.id, E(op)->ids.has_eui ? eui : NULL};
        snprintf(op->sql, sizeof op->sql,
                 "WITH %s u AS (UPDATE %s.gateways SET data = $2::jsonb%s, updated_at = now() "
                 "WHERE gateway_id = $1 RETURNING %s), %s "
                 "x AS (" IS_GW_INDEX_UPSERT("$3", "u") ") SELECT * FROM u",
                 eui_change ? "d AS (DELETE FROM lw_control.gateway_euis WHERE tenant_id = $3 "
                              "AND gateway_id = $1),"
                            : "",
                 op->sq, eui_change ? ", eui = $4" : "", cols_of(k),
                 eui_change ? "c AS (INSERT INTO lw_control.gateway_euis (eui, tenant_id, "
                              "gateway_id) SELECT eui, $3, gateway_id FROM u WHERE eui IS NOT "
                              "NULL),"
                            : "");
        is_op_query(op, op->sql, eui_change ? 4 : 3, pg, update_done);
        free(data);
        return;
    } else
        snprintf(op->sql, sizeof op->sql,
                 "UPDATE %s.%s SET data = $2::jsonb, updated_at = now() WHERE %s = $1 RETURNING %s",
                 op->sq, k->table, k->id_field, cols_of(k));
    is_op_query(op, op->sql, k == &is_kind_user ? 4 : 2, p, update_done);
    free(data);
}

static void update_begun(is_op_t *op, const PGresult *res)
{
    (void)res;
    snprintf(op->sql, sizeof op->sql,
             "SELECT %s FROM %s.%s WHERE %s = $1 AND deleted_at IS NULL FOR UPDATE",
             cols_of(op->kind), op->sq, op->kind->table, op->kind->id_field);
    const char *p[1] = {op->id};
    is_op_query(op, op->sql, 1, p, update_row);
}

static void update_righted(is_op_t *op)
{
    if (!is_rights_require(op, r_basic(op->kind->ent)))
        return;
    const char *allowed[] = {op->kind->key, "field_mask", NULL};
    json_t *body = is_op_body(op, allowed);
    if (body == NULL)
        return;
    lw_err_t e;
    char field[96];
    snprintf(field, sizeof field, "field_mask");
    if (is_mask_parse_json(op->kind, json_object_get(body, "field_mask"), field, &E(op)->mask,
                           &e) != 0 ||
        is_entity_decode(op->kind, json_object_get(body, op->kind->key), op->kind->key, false,
                         &E(op)->ids, &E(op)->data, &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    if (E(op)->ids.id[0] != '\0' && strcmp(E(op)->ids.id, op->id) != 0) {
        char f[96];
        snprintf(f, sizeof f, "%s.ids.%s", op->kind->key, op->kind->id_field);
        lw_api_fail_invalid(&op->api, f, "does not match the path");
        return;
    }
    /* A gateway's EUI changes with "ids.eui" in the mask (the other ids are immutable). */
    json_t *paths = json_object_get(json_object_get(body, "field_mask"), "paths");
    size_t pi;
    json_t *pv;
    json_array_foreach(paths, pi, pv)
    {
        if (op->kind == &is_kind_gw && json_is_string(pv) &&
            strcmp(json_string_value(pv), "ids.eui") == 0)
            E(op)->eui_change = true;
    }
    for (int i = 0; i < E(op)->mask.n; i++) {
        const char *path = E(op)->mask.paths[i];
        for (size_t j = 0; j < op->kind->nfields; j++)
            if ((op->kind->fields[j].flags & IS_F_ADMIN) &&
                strcmp(op->kind->fields[j].name, path) == 0 && !is_auth_admin(op)) {
                lw_err_set(&e, &lw_err_no_admin, "only admins may update `%s`", path);
                lw_api_fail(&op->api, &e);
                return;
            }
    }
    is_op_begin(op, update_begun);
}

/* ---- delete, restore, purge -------------------------------------------------------------- */

static void changed(is_op_t *op, const PGresult *res)
{
    if (op->route->variant == V_DELETE && op->kind == &is_kind_app && PQntuples(res) == 1 &&
        atoll(PQgetvalue(res, 0, 1)) > 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_application_has_devices, "application `%s` still has %s devices",
                   op->id, PQgetvalue(res, 0, 1));
        lw_err_attr_num(&e, "count", atoll(PQgetvalue(res, 0, 1)));
        lw_api_fail(&op->api, &e);
        return;
    }
    if (PQntuples(res) < 1 || atoll(PQgetvalue(res, 0, 0)) == 0) {
        lw_api_fail_not_found(&op->api, op->kind->name, op->id);
        return;
    }
    const char *what = op->route->variant == V_DELETE    ? "entity deleted"
                       : op->route->variant == V_RESTORE ? "entity restored"
                                                         : "entity purged";
    lw_log(LW_LOG_INFO, "is", what, "tenant", op->t.id, "type", op->kind->key, "id", op->id, NULL);
    char ev[64];
    snprintf(ev, sizeof ev, "%s.%s", op->kind->key,
             op->route->variant == V_DELETE    ? "delete"
             : op->route->variant == V_RESTORE ? "restore"
                                               : "purge");
    is_event(op, ev, is_entity_ids(op->kind, op->id));
    /* A deleted entity's keys (a deleted user's tokens) stop working at once here. */
    if (op->route->variant != V_RESTORE)
        is_op_revoke(op, NULL, op->kind->ent, op->id);
    lw_api_reply(&op->api, 200, json_object());
}

static void delete_righted(is_op_t *op)
{
    const is_kind_t *k = op->kind;
    int v = op->route->variant;
    if (v == V_PURGE) {
        if (!is_auth_admin(op)) {
            lw_err_t e;
            lw_err_set(&e, &lw_err_no_admin, "only admins may purge");
            lw_api_fail(&op->api, &e);
            return;
        }
    } else if (!is_rights_require(op, r_delete(k->ent))) {
        return;
    }
    const char *p[2] = {op->id, op->t.id};
    const char *type = is_ent_type_name(k->ent);
    if (v == V_DELETE && k == &is_kind_gw) {
        /* The Things Stack releases a gateway's EUI at delete; the ID stays taken. */
        snprintf(op->sql, sizeof op->sql,
                 "WITH g AS (UPDATE %s.gateways SET deleted_at = now() WHERE gateway_id = $1 "
                 "AND deleted_at IS NULL RETURNING gateway_id), "
                 "c AS (DELETE FROM lw_control.gateway_euis WHERE tenant_id = $2 AND gateway_id "
                 "IN (SELECT gateway_id FROM g)), "
                 "x AS (DELETE FROM lw_control.gateways WHERE tenant_id = $2 AND gateway_id "
                 "IN (SELECT gateway_id FROM g)) SELECT count(*) FROM g",
                 op->sq);
    } else if (v == V_DELETE && k == &is_kind_app) {
        /* The Things Stack refuses to delete an application that still has devices. */
        snprintf(op->sql, sizeof op->sql,
                 "WITH n AS (SELECT count(*) AS c FROM %s.end_devices WHERE application_id = $1), "
                 "g AS (UPDATE %s.applications SET deleted_at = now() WHERE application_id = $1 "
                 "AND deleted_at IS NULL AND (SELECT c FROM n) = 0 RETURNING 1) "
                 "SELECT (SELECT count(*) FROM g), (SELECT c FROM n) WHERE $2::text IS NOT NULL",
                 op->sq, op->sq);
    } else if (v == V_DELETE) {
        snprintf(op->sql, sizeof op->sql,
                 "WITH g AS (UPDATE %s.%s SET deleted_at = now() WHERE %s = $1 AND deleted_at "
                 "IS NULL RETURNING 1) SELECT count(*) FROM g WHERE $2::text IS NOT NULL",
                 op->sq, k->table, k->id_field);
    } else if (v == V_RESTORE && k == &is_kind_gw) {
        lw_api_on_conflict(&op->api, NULL, NULL, "gateway `%s` already exists", op->id);
        lw_api_on_conflict(&op->api, "eui", NULL,
                           "the EUI of gateway `%s` is registered again meanwhile", op->id);
        snprintf(op->sql, sizeof op->sql,
                 "WITH g AS (UPDATE %s.gateways SET deleted_at = NULL, updated_at = now() "
                 "WHERE gateway_id = $1 AND deleted_at IS NOT NULL RETURNING gateway_id, eui, "
                 "data), "
                 "c AS (INSERT INTO lw_control.gateway_euis (eui, tenant_id, gateway_id) "
                 "SELECT eui, $2, gateway_id FROM g WHERE eui IS NOT NULL), "
                 "x AS (" IS_GW_INDEX_UPSERT("$2", "g") ") SELECT count(*) FROM g",
                 op->sq);
    } else if (v == V_RESTORE) {
        snprintf(op->sql, sizeof op->sql,
                 "WITH g AS (UPDATE %s.%s SET deleted_at = NULL, updated_at = now() WHERE %s = $1 "
                 "AND deleted_at IS NOT NULL RETURNING 1) SELECT count(*) FROM g "
                 "WHERE $2::text IS NOT NULL",
                 op->sq, k->table, k->id_field);
    } else if (k == &is_kind_user || k == &is_kind_org) {
        /* Purge: the account row goes, with the user or organization row, its memberships
         * and (through the entity columns) its keys and the memberships on it. */
        snprintf(op->sql, sizeof op->sql,
                 "WITH k AS (DELETE FROM %s.api_keys WHERE entity_type = '%s' AND entity_id = $1), "
                 "m AS (DELETE FROM %s.memberships WHERE entity_type = '%s' AND entity_id = $1), "
                 "a AS (DELETE FROM %s.accounts WHERE account_id = $1 AND account_type = '%s' "
                 "RETURNING 1) SELECT count(*) FROM a WHERE $2::text IS NOT NULL",
                 op->sq, type, op->sq, type, op->sq, type);
    } else {
        snprintf(op->sql, sizeof op->sql,
                 "WITH k AS (DELETE FROM %s.api_keys WHERE entity_type = '%s' AND entity_id = $1), "
                 "m AS (DELETE FROM %s.memberships WHERE entity_type = '%s' AND entity_id = $1), "
                 "c AS (DELETE FROM lw_control.%s WHERE tenant_id = $2 AND %s = $1), "
                 "x AS (DELETE FROM lw_control.gateways WHERE tenant_id = $2 AND gateway_id = $1 "
                 "AND %s), "
                 "d AS (DELETE FROM %s.%s WHERE %s = $1 RETURNING 1) SELECT count(*) FROM d",
                 op->sq, type, op->sq, type, k == &is_kind_gw ? "gateway_euis" : "end_device_euis",
                 k == &is_kind_gw ? "gateway_id" : "application_id",
                 k == &is_kind_gw ? "true" : "false", op->sq, k->table, k->id_field);
    }
    is_op_query(op, op->sql, 2, p, changed);
}

static void change_authed(is_op_t *op)
{
    char f[96];
    if (!is_op_path_id(op, "id", id_min(op->kind), field_name(op->kind, f, sizeof f), op->id))
        return;
    is_rights_run(op, op->kind->ent, op->id,
                  op->route->variant == V_UPDATE ? update_righted : delete_righted);
}

static void h_change(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    is_op_t *op = ent_op_for(req, t, arg);
    is_auth_run(op, true, change_authed);
}

/* ---- initial_user (tenant creation hook) ------------------------------------------------- */

/* A tenant creation's initial user, inserted in the creation's transaction once its
 * password is hashed off the loop. */
typedef struct hook_op {
    is_t *is;
    lw_db_tx_t *tx;
    lw_db_done_cb cb;
    void *cb_arg;
    char sq[TN_SCHEMA_MAX * 2 + 4];
    char user_id[TN_ID_MAX + 1]; /* empty: no initial user */
    char password[1024];
    char hash[IS_HASH_MAX + 1];
    char *data;
    int hash_rc;
} hook_op_t;

int is_initial_user_validate(void *arg, json_t *body, lw_err_t *err)
{
    is_t *is = arg;
    json_t *u = json_object_get(body, "initial_user");
    if (u == NULL || json_is_null(u))
        return 0;
    is_ids_t ids;
    json_t *data = NULL;
    char pw[1024], a[8], s[8];
    int rc = user_prepare(is, u, "initial_user", true, &ids, &data, pw, sizeof pw, a, s, err);
    OPENSSL_cleanse(pw, sizeof pw);
    json_decref(data);
    return rc;
}

static void hook_free(hook_op_t *h)
{
    is_t *is = h->is;
    free(h->data);
    OPENSSL_cleanse(h, sizeof *h);
    free(h);
    is_inflight_add(is, -1);
}

/* Answers the creation with err (NULL: success) and frees the hook run. */
static void hook_finish(hook_op_t *h, const lw_err_t *err)
{
    h->cb(h->cb_arg, err);
    hook_free(h);
}

static void hook_inserted(void *arg, const PGresult *res, const lw_err_t *err)
{
    (void)res;
    hook_op_t *h = arg;
    bool ok = err == NULL || err->def == NULL;
    if (ok && h->user_id[0] != '\0')
        lw_log(LW_LOG_INFO, "is", "initial user created", "user", h->user_id, NULL);
    hook_finish(h, ok ? NULL : err);
}

static void hook_hash(void *arg)
{
    hook_op_t *h = arg;
    h->hash_rc = is_hash_secret(h->password, h->is->pw_iterations, h->hash, sizeof h->hash);
    OPENSSL_cleanse(h->password, sizeof h->password);
}

static void hook_hashed(void *arg, bool canceled)
{
    hook_op_t *h = arg;
    lw_err_t e;
    if (canceled || h->hash_rc != 0) {
        lw_err_set(&e, &lw_err_internal, "cannot hash the initial user's password");
        hook_finish(h, &e);
        return;
    }
    char sql[1024];
    snprintf(sql, sizeof sql,
             "WITH a AS (INSERT INTO %s.accounts (account_id, account_type) VALUES ($1, 'user') "
             "RETURNING account_id) INSERT INTO %s.users (user_id, data, admin, state, "
             "password_hash, password_updated_at) SELECT account_id, $2::jsonb, true, 1, $3, "
             "now() FROM a",
             h->sq, h->sq);
    const char *p[3] = {h->user_id, h->data, h->hash};
    if (lw_db_tx_query(h->tx, sql, 3, p, hook_inserted, h) != 0) {
        lw_err_set(&e, &lw_err_db_unavailable, "database unavailable");
        hook_finish(h, &e);
    }
}

int is_initial_user_run(void *arg, lw_db_tx_t *tx, const tn_tenant_t *tenant, json_t *body,
                        lw_db_done_cb cb, void *cb_arg, lw_err_t *err)
{
    is_t *is = arg;
    json_t *u = json_object_get(body, "initial_user");
    hook_op_t *h = lw_calloc(1, sizeof *h);
    h->is = is;
    h->tx = tx;
    h->cb = cb;
    h->cb_arg = cb_arg;
    lw_db_quote_ident(tenant->schema, h->sq, sizeof h->sq);
    is_inflight_add(is, 1);
    int rc;
    if (u == NULL || json_is_null(u)) {
        /* Nothing to add; answer through the transaction so that cb runs later (user_id
         * stays empty: nothing is logged). */
        rc = lw_db_tx_query(tx, "SELECT 1", 0, NULL, hook_inserted, h) == 0
                 ? 0
                 : lw_err_set(err, &lw_err_db_unavailable, "database unavailable");
    } else {
        is_ids_t ids;
        json_t *data = NULL;
        char a[8], s[8];
        rc = user_prepare(is, u, "initial_user", true, &ids, &data, h->password, sizeof h->password,
                          a, s, err);
        if (rc == 0) {
            snprintf(h->user_id, sizeof h->user_id, "%s", ids.id);
            h->data = json_dumps(data, JSON_COMPACT);
            json_decref(data);
            rc = lw_api_offload(&is->env, hook_hash, hook_hashed, h, err);
        }
    }
    if (rc != 0)
        hook_free(h);
    return rc;
}

/* ---- routes ------------------------------------------------------------------------------ */

int is_entity_routes(is_t *is)
{
    static const struct {
        const is_kind_t *kind;
        const char *base;
    } kinds[] = {
        {&is_kind_user, "/api/v3/users"},
        {&is_kind_org, "/api/v3/organizations"},
        {&is_kind_app, "/api/v3/applications"},
        {&is_kind_gw, "/api/v3/gateways"},
    };
    int rc = 0;
    char pat[128];
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const is_kind_t *k = kinds[i].kind;
        const char *b = kinds[i].base;
        rc |= is_route(is, "GET", b, h_list, k, k->ent, V_LIST_ALL);
        snprintf(pat, sizeof pat, "%s/{id}", b);
        rc |= is_route(is, "GET", pat, h_entity, k, k->ent, V_GET);
        rc |= is_route(is, "PUT", pat, h_change, k, k->ent, V_UPDATE);
        rc |= is_route(is, "DELETE", pat, h_change, k, k->ent, V_DELETE);
        snprintf(pat, sizeof pat, "%s/{id}/restore", b);
        rc |= is_route(is, "POST", pat, h_change, k, k->ent, V_RESTORE);
        snprintf(pat, sizeof pat, "%s/{id}/purge", b);
        rc |= is_route(is, "DELETE", pat, h_change, k, k->ent, V_PURGE);
        snprintf(pat, sizeof pat, "%s/{id}/rights", b);
        rc |= is_route(is, "GET", pat, h_entity, k, k->ent, V_RIGHTS);
    }
    rc |=
        is_route(is, "POST", "/api/v3/users", h_user_create, &is_kind_user, IS_ENT_USER, V_CREATE);
    /* Entities created and listed under their owner. */
    static const struct {
        const char *pattern;
        const is_kind_t *kind;
        is_ent_t owner;
    } owned[] = {
        {"/api/v3/users/{owner}/applications", &is_kind_app, IS_ENT_USER},
        {"/api/v3/users/{owner}/gateways", &is_kind_gw, IS_ENT_USER},
        {"/api/v3/users/{owner}/organizations", &is_kind_org, IS_ENT_USER},
        {"/api/v3/organizations/{owner}/applications", &is_kind_app, IS_ENT_ORG},
        {"/api/v3/organizations/{owner}/gateways", &is_kind_gw, IS_ENT_ORG},
    };
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) {
        rc |= is_route(is, "POST", owned[i].pattern, h_create, owned[i].kind, owned[i].owner,
                       V_CREATE);
        rc |= is_route(is, "GET", owned[i].pattern, h_list, owned[i].kind, owned[i].owner,
                       V_LIST_OWNER);
    }
    return rc;
}
