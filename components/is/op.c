/* The request operation: a request carried through its queries on the loop, with
 * authentication (API keys, access tokens, tenant admin keys), the verified-credential
 * cache and effective rights along user → organization → entity. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "is/server_private.h"
#include "cluster/event.h"
#include "cluster/log.h"

static const char *const ent_names[IS_ENT_COUNT] = {"user", "organization", "application",
                                                    "gateway", "client"};

const char *is_ent_type_name(is_ent_t e)
{
    return e < IS_ENT_COUNT ? ent_names[e] : "";
}

int is_ent_parse(const char *s, is_ent_t *out)
{
    for (int i = 0; i < IS_ENT_COUNT; i++)
        if (s != NULL && strcmp(s, ent_names[i]) == 0) {
            *out = (is_ent_t)i;
            return 0;
        }
    return -1;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the op ------------------------------------------------------------------------------ */

void is_inflight_add(is_t *is, int delta)
{
    is->inflight += delta;
    if (is->stopping && is->inflight == 0 && is->stop_done != NULL) {
        void (*done)(void *) = is->stop_done;
        is->stop_done = NULL;
        done(is->stop_arg);
    }
}

static void op_destroy(lw_api_op_t *a)
{
    is_op_t *op = (is_op_t *)a;
    is_t *is = op->is;
    if (op->release != NULL)
        op->release(op);
    json_decref(op->ev_ids);
    /* Passwords, secrets and hashes live in the state: none outlives the request. */
    OPENSSL_cleanse(op, op->size);
    is_inflight_add(is, -1);
}

void is_event_publish(is_t *is, const char *tenant, const char *name, json_t *ids,
                      const char *correlation_id, const char *unique_id)
{
    lw_event_t e = {
        .module = "is",
        .tenant = tenant,
        .name = name,
        .identifiers = ids != NULL ? json_pack("[o]", ids) : NULL,
        .correlation_id = correlation_id,
        .unique_id = unique_id,
    };
    lw_event_publish(is->bus, &e);
}

static void event_publish(is_op_t *op, const char *name, json_t *ids)
{
    const char *cid = lw_http_correlation_id(op->api.req);
    char unique[160];
    snprintf(unique, sizeof unique, "%s/%s", cid, name);
    is_event_publish(op->is, op->t.id, name, ids, cid, unique);
}

/* The pipeline's success hook, after the commit: revocations reach every process, and the
 * event goes out. Forgetting again here also drops what a concurrent request of this
 * process cached from the row before the commit. */
static void op_succeeded(lw_api_op_t *a)
{
    is_op_t *op = (is_op_t *)a;
    for (int i = 0; i < op->nrevokes; i++) {
        const is_revoke_t *r = &op->revokes[i];
        if (!r->rights_only)
            is_cache_forget(op->is, op->t.id, r->key_id[0] != '\0' ? r->key_id : NULL, r->ent,
                            r->ent_id);
        is_revoke_publish(op->is, op->t.id, r);
    }
    op->nrevokes = 0;
    if (op->ev_ids == NULL)
        return;
    json_t *ids = op->ev_ids;
    op->ev_ids = NULL;
    event_publish(op, op->ev_name, ids);
}

void is_event(is_op_t *op, const char *name, json_t *ids)
{
    json_decref(op->ev_ids);
    snprintf(op->ev_name, sizeof op->ev_name, "%s", name);
    op->ev_ids = ids;
}

static void op_step(lw_api_op_t *a, const PGresult *res)
{
    is_op_t *op = (is_op_t *)a;
    op->next(op, res);
}

void is_op_query(is_op_t *op, const char *sql, int n, const char *const *params, is_step_t next)
{
    op->next = next;
    lw_api_query(&op->api, sql, n, params, op_step);
}

void is_op_begin(is_op_t *op, is_step_t next)
{
    op->next = next;
    lw_api_begin(&op->api, op_step);
}

/* ---- limits ------------------------------------------------------------------------------ */

static void limit_counted(is_op_t *op, const PGresult *res)
{
    long long count = PQntuples(res) > 0 ? atoll(PQgetvalue(res, 0, 0)) : 0;
    int64_t limit = op->t.limits[op->kind->limit];
    if (count >= limit) {
        lw_err_t e;
        const char *type = tn_limit_field(op->kind->limit) + 4; /* "max_applications" */
        lw_err_set(&e, &lw_err_tenant_entity_limit,
                   "limit for %s entities in tenant reached (%lld)", type, (long long)limit);
        lw_err_attr(&e, "entity_type", type);
        lw_err_attr_num(&e, "limit", (long long)limit);
        lw_api_fail(&op->api, &e);
        return;
    }
    op->after_limit(op, NULL);
}

static void limit_locked(is_op_t *op, const PGresult *res)
{
    (void)res;
    /* Live rows only: soft-deleted entities do not count (end devices have no soft delete). */
    snprintf(op->sql, sizeof op->sql, "SELECT count(*) FROM %s.%s%s", op->sq, op->kind->table,
             op->kind->device ? "" : " WHERE deleted_at IS NULL");
    is_op_query(op, op->sql, 0, NULL, limit_counted);
}

static void create_begun(is_op_t *op, const PGresult *res)
{
    (void)res;
    /* Without a limit there is nothing to count. Otherwise the count and the insert that
     * follows run under a per-(tenant, kind) advisory lock held until the transaction ends,
     * so two concurrent creates cannot both pass. */
    if (op->t.limits[op->kind->limit] == TN_UNLIMITED) {
        op->after_limit(op, NULL);
        return;
    }
    char lock[160];
    snprintf(lock, sizeof lock, "is:%s:%s", op->t.id, op->kind->table);
    const char *p[1] = {lock};
    is_op_query(op, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", 1, p, limit_locked);
}

void is_op_begin_create(is_op_t *op, is_step_t next)
{
    op->after_limit = next;
    is_op_begin(op, create_begun);
}

/* ---- pages ------------------------------------------------------------------------------- */

void is_op_page_sql(is_op_t *op, const char *cols, const char *from_where, const char *order,
                    const is_page_t *page)
{
    const lw_api_page_t p = {.limit = page->limit, .page = page->page};
    lw_api_page_sql(op->sql, sizeof op->sql, cols, from_where, order, &p);
}

/* ---- routes ------------------------------------------------------------------------------ */

int is_route(is_t *is, const char *method, const char *pattern, tn_handler_t h,
             const is_kind_t *kind, is_ent_t ent, int variant)
{
    if (is->nroutes >= IS_MAX_ROUTES)
        return -1;
    is_route_t *r = &is->routes[is->nroutes++];
    r->is = is;
    r->kind = kind;
    r->ent = ent;
    r->variant = variant;
    return tn_route(is->tn, method, pattern, h, r);
}

is_op_t *is_op_for(lw_http_req_t *req, const tn_tenant_t *t, void *route_arg, size_t size)
{
    const is_route_t *r = route_arg;
    is_op_t *op = lw_api_op_new(size, &r->is->env, req);
    op->is = r->is;
    op->size = size;
    op->api.destroy = op_destroy;
    op->api.succeeded = op_succeeded;
    op->route = r;
    op->kind = r->kind;
    op->t = *t;
    op->api.tenant_id = op->t.id;
    lw_db_quote_ident(t->schema, op->sq, sizeof op->sq);
    is_inflight_add(op->is, 1);
    return op;
}

bool is_op_path_id(is_op_t *op, const char *param, size_t min_len, const char *field, char *out)
{
    lw_err_t e;
    const char *v = lw_http_param(op->api.req, param);
    if (tn_id_validate(v, min_len, field, &e) != 0) {
        lw_api_fail(&op->api, &e);
        return false;
    }
    snprintf(out, TN_ID_MAX + 1, "%s", v);
    return true;
}

/* ---- events ------------------------------------------------------------------------------ */

json_t *is_entity_ids(const is_kind_t *k, const char *id)
{
    char key[48];
    snprintf(key, sizeof key, "%s_ids", k->device ? "device" : k->key);
    return json_pack("{s{ss}}", key, k->id_field, id);
}

/* ---- bodies ------------------------------------------------------------------------------ */

json_t *is_op_body(is_op_t *op, const char *const *allowed)
{
    lw_err_t e;
    lw_err_clear(&e);
    json_t *body = lw_http_json(op->api.req, &e);
    if (body == NULL || lw_api_check_keys(body, allowed, NULL, &e) != 0) {
        lw_api_fail(&op->api, &e);
        return NULL;
    }
    return body;
}

/* ---- the credential cache ---------------------------------------------------------------- */

static size_t cache_slot(const char *tenant, const char *key_id)
{
    /* FNV-1a over tenant and key ID. */
    uint64_t h = 1469598103934665603ull;
    for (const char *p = tenant; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    h = (h ^ '/') * 1099511628211ull;
    for (const char *p = key_id; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return (size_t)(h % IS_CACHE_SLOTS);
}

#define CACHE_PROBE 8

static void cache_clear(is_t *is, is_cache_entry_t *e)
{
    OPENSSL_cleanse(e, sizeof *e);
    is->cache_used--;
}

static is_cache_entry_t *cache_find(is_t *is, const char *tenant, const char *key_id)
{
    size_t s = cache_slot(tenant, key_id);
    for (int i = 0; i < CACHE_PROBE; i++) {
        is_cache_entry_t *e = &is->cache[(s + (size_t)i) % IS_CACHE_SLOTS];
        if (e->used && strcmp(e->auth.key_id, key_id) == 0 && strcmp(e->tenant, tenant) == 0)
            return e;
    }
    return NULL;
}

static void token_digest(const char *token, uint8_t out[32])
{
    SHA256((const unsigned char *)token, strlen(token), out);
}

void is_cache_put(is_t *is, const tn_tenant_t *t, const char *token, const is_auth_t *auth,
                  uint64_t gen)
{
    if (is->cache_ttl_ms <= 0 || gen != is->cache_gen)
        return;
    const char *tenant = t->id;
    is_cache_entry_t *e = cache_find(is, tenant, auth->key_id);
    if (e == NULL) {
        size_t s = cache_slot(tenant, auth->key_id);
        is_cache_entry_t *oldest = NULL;
        for (int i = 0; i < CACHE_PROBE; i++) {
            is_cache_entry_t *c = &is->cache[(s + (size_t)i) % IS_CACHE_SLOTS];
            if (!c->used) {
                oldest = c;
                break;
            }
            if (oldest == NULL || c->cached_ms < oldest->cached_ms)
                oldest = c;
        }
        e = oldest;
    }
    if (e->used)
        cache_clear(is, e);
    e->used = true;
    is->cache_used++;
    snprintf(e->tenant, sizeof e->tenant, "%s", tenant);
    e->incarnation = t->incarnation;
    token_digest(token, e->digest);
    e->cached_ms = uv_now(is->loop);
    e->auth = *auth;
}

void is_cache_forget(is_t *is, const char *tenant, const char *key_id, is_ent_t ent,
                     const char *ent_id)
{
    is->cache_gen++;
    if (key_id != NULL) {
        is_cache_entry_t *e = cache_find(is, tenant, key_id);
        if (e != NULL)
            cache_clear(is, e);
        return;
    }
    for (size_t i = 0; i < IS_CACHE_SLOTS && is->cache_used > 0; i++) {
        is_cache_entry_t *e = &is->cache[i];
        if (e->used && e->auth.ent == ent && strcmp(e->auth.ent_id, ent_id) == 0 &&
            strcmp(e->tenant, tenant) == 0)
            cache_clear(is, e);
    }
}

void is_cache_forget_tenant(is_t *is, const char *tenant)
{
    is->cache_gen++;
    for (size_t i = 0; i < IS_CACHE_SLOTS && is->cache_used > 0; i++) {
        is_cache_entry_t *e = &is->cache[i];
        if (e->used && (tenant == NULL || strcmp(e->tenant, tenant) == 0))
            cache_clear(is, e);
    }
}

void is_op_revoke(is_op_t *op, const char *key_id, is_ent_t ent, const char *ent_id)
{
    is_cache_forget(op->is, op->t.id, key_id, ent, ent_id);
    is_revoke_t r = {.ent = ent};
    snprintf(r.key_id, sizeof r.key_id, "%s", key_id != NULL ? key_id : "");
    snprintf(r.ent_id, sizeof r.ent_id, "%s", ent_id != NULL ? ent_id : "");
    if (op->nrevokes == IS_OP_REVOKES) {
        /* Not expected (an operation revokes one thing): publish now rather than never. */
        is_revoke_publish(op->is, op->t.id, &r);
        return;
    }
    op->revokes[op->nrevokes++] = r;
}

void is_op_rights_changed(is_op_t *op)
{
    for (int i = 0; i < op->nrevokes; i++)
        if (op->revokes[i].rights_only)
            return;
    is_revoke_t r = {.rights_only = true};
    if (op->nrevokes == IS_OP_REVOKES) {
        is_revoke_publish(op->is, op->t.id, &r);
        return;
    }
    op->revokes[op->nrevokes++] = r;
}

/* ---- authentication ---------------------------------------------------------------------- */

static void auth_fail(is_op_t *op, const lw_err_def_t *def, const char *msg)
{
    lw_api_fail_with(&op->api, def, "%s", msg);
}

static bool auth_check_expiry(is_op_t *op)
{
    if (op->auth.expires_ms != 0 && op->auth.expires_ms <= wall_ms()) {
        bool key = op->auth.kind == IS_AUTH_API_KEY;
        auth_fail(op, key ? &lw_err_api_key_expired : &lw_err_token_expired,
                  key ? "API key expired" : "access token expired");
        return false;
    }
    return true;
}

/* Off the loop: 1 when the presented token matches the stored hash, 0 when not, -1 when
 * the hash is malformed. */
static int auth_verify_work(lw_api_op_t *a)
{
    is_op_t *op = (is_op_t *)a;
    return is_hash_verify(op->cred.secret, op->cred.hash);
}

static void auth_verified(lw_api_op_t *a, int match)
{
    is_op_t *op = (is_op_t *)a;
    if (match != 1) {
        lw_log(LW_LOG_INFO, "is", "credential rejected", "tenant", op->t.id, "key_id",
               op->auth.key_id, "reason", match < 0 ? "malformed hash" : "secret mismatch", NULL);
        op->auth.kind = IS_AUTH_NONE;
        auth_fail(op, &lw_err_invalid_authorization, "invalid authorization");
        return;
    }
    if (!auth_check_expiry(op))
        return;
    is_cache_put(op->is, &op->t, op->cred.secret, &op->auth, op->auth_gen);
    OPENSSL_cleanse(&op->cred, sizeof op->cred);
    if (is_limit_credential(op))
        op->cont(op);
}

/* A user's credentials work only while the user exists and is approved (or flagged), as
 * The Things Stack's user states rule. Columns 8..10 of auth_row. */
static bool auth_user_active(is_op_t *op, const PGresult *res)
{
    int state = PQgetisnull(res, 0, 9) ? -1 : atoi(PQgetvalue(res, 0, 9));
    bool deleted = strcmp(PQgetvalue(res, 0, 10), "t") == 0;
    if (state < 0 || deleted || !(state == 1 || state == 3))
        return false;
    op->auth.is_admin = strcmp(PQgetvalue(res, 0, 8), "t") == 0;
    return true;
}

/* Columns: hash, entity_type, entity_id, rights, name, expires_ms, created_at, expires_at,
 * user admin, user state, user deleted[, the key's entity is live]. */
static void auth_row(is_op_t *op, const PGresult *res)
{
    if (PQntuples(res) != 1) {
        auth_fail(op, &lw_err_invalid_authorization,
                  op->auth.kind == IS_AUTH_API_KEY ? "API key not found"
                                                   : "access token not found");
        return;
    }
    snprintf(op->cred.hash, sizeof op->cred.hash, "%s", PQgetvalue(res, 0, 0));
    if (PQnfields(res) > 11 && strcmp(PQgetvalue(res, 0, 11), "t") != 0) {
        auth_fail(op, &lw_err_invalid_authorization, "the API key's entity is deleted");
        return;
    }
    if (is_ent_parse(PQgetvalue(res, 0, 1), &op->auth.ent) != 0) {
        auth_fail(op, &lw_err_invalid_authorization, "invalid authorization");
        return;
    }
    snprintf(op->auth.ent_id, sizeof op->auth.ent_id, "%s", PQgetvalue(res, 0, 2));
    op->auth.rights = is_rights_from_pg(PQgetvalue(res, 0, 3));
    snprintf(op->auth.name, sizeof op->auth.name, "%s", PQgetvalue(res, 0, 4));
    op->auth.expires_ms = PQgetisnull(res, 0, 5) ? 0 : atoll(PQgetvalue(res, 0, 5));
    snprintf(op->auth.created_at, sizeof op->auth.created_at, "%s", PQgetvalue(res, 0, 6));
    snprintf(op->auth.expires_at, sizeof op->auth.expires_at, "%s", PQgetvalue(res, 0, 7));
    if (op->auth.ent == IS_ENT_USER && !auth_user_active(op, res)) {
        auth_fail(op, &lw_err_invalid_authorization, "user is not active");
        return;
    }
    lw_api_work(&op->api, auth_verify_work, auth_verified);
}

/* The statement reading an API key (with its entity's liveness, column 11) or an access
 * token, with its user, into op->sql. */
static void auth_sql(is_op_t *op, bool is_key)
{
    const char *q = op->sq;
    if (is_key)
        snprintf(
            op->sql, sizeof op->sql,
            "SELECT k.key_hash, k.entity_type, k.entity_id, k.rights, k.name, "
            "floor(extract(epoch FROM k.expires_at) * 1000)::bigint, " IS_TS(
                "k.created_at") ", " IS_TS("k.expires_at") ", u.admin, u.state, u.deleted_at IS "
                                                           "NOT NULL, "
                                                           "CASE k.entity_type "
                                                           "WHEN 'organization' THEN EXISTS "
                                                           "(SELECT 1 FROM %s.organizations o "
                                                           "WHERE o.organization_id = k.entity_id "
                                                           "AND o.deleted_at IS NULL) "
                                                           "WHEN 'application' THEN EXISTS (SELECT "
                                                           "1 FROM %s.applications a "
                                                           "WHERE a.application_id = k.entity_id "
                                                           "AND a.deleted_at IS NULL) "
                                                           "WHEN 'gateway' THEN EXISTS (SELECT 1 "
                                                           "FROM %s.gateways g "
                                                           "WHERE g.gateway_id = k.entity_id AND "
                                                           "g.deleted_at IS NULL) ELSE true END "
                                                           "FROM %s.api_keys k LEFT JOIN %s.users "
                                                           "u "
                                                           "ON k.entity_type = 'user' AND "
                                                           "u.user_id = k.entity_id WHERE k.key_id "
                                                           "= $1",
            q, q, q, q, q);
    else
        snprintf(op->sql, sizeof op->sql,
                 "SELECT t.token_hash, 'user', t.user_id, t.rights, '', "
                 "floor(extract(epoch FROM t.expires_at) * 1000)::bigint, " IS_TS(
                     "t.created_at") ", " IS_TS("t.expires_at") ", u.admin, u.state, u.deleted_at "
                                                                "IS NOT NULL "
                                                                "FROM %s.access_tokens t JOIN "
                                                                "%s.users u USING (user_id) "
                                                                "WHERE t.token_id = $1",
                 q, q);
}

/* A token verified within the cache TTL, under the tenant's current incarnation: compared
 * by digest, no hash and no query. Returns true when the cache answered (the op continued
 * or failed). An entry of an older incarnation of the tenant (purged, created again) goes:
 * the credential is verified against the new tenant's rows instead. */
static bool auth_from_cache(is_op_t *op, const char *token, bool is_key)
{
    is_cache_entry_t *ce = cache_find(op->is, op->t.id, op->cred.tok.id);
    if (ce != NULL && ce->incarnation != op->t.incarnation) {
        cache_clear(op->is, ce);
        return false;
    }
    if (ce == NULL || uv_now(op->is->loop) - ce->cached_ms >= (uint64_t)op->is->cache_ttl_ms ||
        (ce->auth.kind == IS_AUTH_API_KEY) != is_key)
        return false;
    uint8_t d[32];
    token_digest(token, d);
    if (CRYPTO_memcmp(d, ce->digest, sizeof d) != 0) {
        auth_fail(op, &lw_err_invalid_authorization, "invalid authorization");
        return true;
    }
    op->auth = ce->auth;
    if (auth_check_expiry(op) && is_limit_credential(op))
        op->cont(op);
    return true;
}

/* `Authorization: Bearer <token>`: an API key or an access token. */
static void auth_bearer(is_op_t *op, const char *h)
{
    const char *token = h + 7;
    while (*token == ' ')
        token++;
    if (strlen(token) > IS_TOKEN_MAX || is_token_parse(token, &op->cred.tok) != 0) {
        auth_fail(op, &lw_err_invalid_token, "invalid token");
        return;
    }
    bool is_key = strcmp(op->cred.tok.type, IS_TOKEN_API_KEY) == 0;
    if (auth_from_cache(op, token, is_key))
        return;
    op->auth.kind = is_key ? IS_AUTH_API_KEY : IS_AUTH_TOKEN;
    snprintf(op->auth.key_id, sizeof op->auth.key_id, "%s", op->cred.tok.id);
    snprintf(op->cred.secret, sizeof op->cred.secret, "%s", token);
    auth_sql(op, is_key);
    op->auth_gen = op->is->cache_gen;
    const char *p[1] = {op->cred.tok.id};
    is_op_query(op, op->sql, 1, p, auth_row);
}

void is_auth_run(is_op_t *op, bool required, is_cont_t cont)
{
    memset(&op->auth, 0, sizeof op->auth);
    op->cont = cont;
    const char *h = lw_http_header(op->api.req, "authorization");
    if (h == NULL || *h == '\0') {
        if (required)
            auth_fail(op, &lw_err_unauthenticated, "unauthenticated");
        else
            cont(op);
        return;
    }
    if (strncasecmp(h, "TenantAdminKey ", 15) == 0) {
        if (!tn_admin_key_valid(op->is->tn, h)) {
            auth_fail(op, &lw_err_invalid_tenant_admin_key, "invalid tenant admin key");
            return;
        }
        op->auth.kind = IS_AUTH_ADMIN_KEY;
        op->auth.is_admin = true;
        op->auth.rights = IS_RIGHTS_EVERYTHING;
        cont(op);
        return;
    }
    if (strncasecmp(h, "Bearer ", 7) != 0) {
        auth_fail(op, &lw_err_unauthenticated, "unsupported authorization scheme");
        return;
    }
    auth_bearer(op, h);
}

bool is_auth_admin(const is_op_t *op)
{
    return op->auth.kind == IS_AUTH_ADMIN_KEY ||
           (op->auth.kind != IS_AUTH_NONE && op->auth.ent == IS_ENT_USER && op->auth.is_admin &&
            is_rights_include(op->auth.rights, IS_BIT(IS_R_ALL)));
}

const char *is_auth_user(const is_op_t *op)
{
    if ((op->auth.kind == IS_AUTH_API_KEY || op->auth.kind == IS_AUTH_TOKEN) &&
        op->auth.ent == IS_ENT_USER)
        return op->auth.ent_id;
    return NULL;
}

/* ---- rights ------------------------------------------------------------------------------ */

static void rights_rows(is_op_t *op, const PGresult *res)
{
    is_rights_t r = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        is_rights_t a = is_rights_from_pg(PQgetvalue(res, i, 0));
        if (PQgetisnull(res, i, 1))
            r |= is_rights_expand(a);
        else
            r |= is_rights_intersect(a, is_rights_from_pg(PQgetvalue(res, i, 1)));
    }
    op->rights = is_rights_intersect(r, op->auth.rights);
    op->cont(op);
}

void is_rights_run(is_op_t *op, is_ent_t ent, const char *id, is_cont_t cont)
{
    op->cont = cont;
    op->ent = ent;
    op->rights = 0;
    const is_auth_t *a = &op->auth;
    if (a->kind == IS_AUTH_NONE) {
        cont(op);
        return;
    }
    if (a->kind == IS_AUTH_ADMIN_KEY) {
        op->rights = is_rights_expand(IS_BIT(IS_R_ALL));
        cont(op);
        return;
    }
    if (a->ent == ent && strcmp(a->ent_id, id) == 0) {
        /* A key on its own entity; a user on itself: everything the credential holds (a
         * user's own key may carry application or gateway rights, intersected with the
         * user's memberships when used on those entities). */
        op->rights = is_rights_expand(a->rights);
        cont(op);
        return;
    }
    if (a->ent == IS_ENT_USER && a->is_admin) {
        /* Tenant admins may do everything within their tenant, within the key's rights. */
        op->rights = is_rights_expand(a->rights);
        cont(op);
        return;
    }
    if ((a->ent != IS_ENT_USER && a->ent != IS_ENT_ORG) || ent == IS_ENT_USER) {
        cont(op);
        return;
    }
    /* Direct membership, and membership through each organization the user belongs to
     * (intersection of user→organization and organization→entity rights). */
    const char *p[3] = {a->ent_id, is_ent_type_name(ent), id};
    snprintf(op->sql, sizeof op->sql,
             "SELECT m.rights, NULL FROM %s.memberships m "
             "WHERE m.account_id = $1 AND m.entity_type = $2 AND m.entity_id = $3 "
             "UNION ALL "
             "SELECT m2.rights, m1.rights FROM %s.memberships m1 "
             "JOIN %s.memberships m2 ON m2.account_id = m1.entity_id "
             "AND m2.entity_type = $2 AND m2.entity_id = $3 "
             "JOIN %s.organizations o ON o.organization_id = m1.entity_id "
             "AND o.deleted_at IS NULL "
             "WHERE m1.entity_type = 'organization' AND m1.account_id = $1",
             op->sq, op->sq, op->sq, op->sq);
    is_op_query(op, op->sql, 3, p, rights_rows);
}

bool is_rights_require(is_op_t *op, is_rights_t need)
{
    if ((op->rights & need) == need)
        return true;
    static const lw_err_def_t *const no[IS_ENT_COUNT] = {
        &lw_err_no_user_rights, &lw_err_no_organization_rights, &lw_err_no_application_rights,
        &lw_err_no_gateway_rights, &lw_err_permission_denied};
    static const lw_err_def_t *const insufficient[IS_ENT_COUNT] = {
        &lw_err_insufficient_user_rights, &lw_err_insufficient_organization_rights,
        &lw_err_insufficient_application_rights, &lw_err_insufficient_gateway_rights,
        &lw_err_permission_denied};
    lw_err_t e;
    char uid[80];
    snprintf(uid, sizeof uid, "%s@%s", op->id, op->t.id);
    if (op->auth.kind == IS_AUTH_NONE) {
        lw_err_set(&e, &lw_err_unauthenticated, "unauthenticated");
    } else if (op->rights == 0) {
        lw_err_set(&e, no[op->ent], "no rights for %s `%s`", is_ent_type_name(op->ent), uid);
        lw_err_attr(&e, "uid", uid);
    } else {
        is_rights_t missing = need & ~op->rights;
        int first = 0;
        for (int v = 1; v < 64 && first == 0; v++)
            if (missing & IS_BIT(v))
                first = v;
        lw_err_set(&e, insufficient[op->ent], "insufficient rights for %s `%s` (missing %s)",
                   is_ent_type_name(op->ent), uid, is_right_name(first));
        lw_err_attr(&e, "uid", uid);
        lw_err_attr(&e, "missing", is_right_name(first));
    }
    lw_api_fail(&op->api, &e);
    return false;
}
