/* Identity Server internals with I/O: the component state, the per-request operation that
 * carries a request through its queries, authentication and its cache. */
#ifndef IS_INT_H
#define IS_INT_H

#include <stdint.h>

#include <libpq-fe.h>
#include <uv.h>

#include "cluster/api.h"
#include "cluster/db.h"
#include "cluster/http.h"
#include "is/is_private.h"
#include "cluster/runtime.h"
#include "tenant/tenant.h"

/* The gateway index row (lw_control.gateways, control migration 0005; read through
 * tenant/euis.h by the Gateway Server) of every row of `src` (gateway_id, eui, data) of tenant
 * `tenant` (SQL expressions), upserted: a CTE body for the statement that writes the gateway,
 * so that both commit together. */
#define IS_GW_INDEX_UPSERT(tenant, src)                                                            \
    "INSERT INTO lw_control.gateways SELECT " tenant ", x.gateway_id, x.eui, s.*, now() FROM " src \
    " x, lw_control.gateway_settings(x.data::jsonb) s ON CONFLICT (tenant_id, gateway_id) DO "     \
    "UPDATE SET eui = EXCLUDED.eui, frequency_plan_ids = EXCLUDED.frequency_plan_ids, "            \
    "schedule_downlink_late = EXCLUDED.schedule_downlink_late, "                                   \
    "enforce_duty_cycle = EXCLUDED.enforce_duty_cycle, "                                           \
    "schedule_anytime_delay_ms = EXCLUDED.schedule_anytime_delay_ms, "                             \
    "update_location_from_status = EXCLUDED.update_location_from_status, "                         \
    "location_public = EXCLUDED.location_public, status_public = EXCLUDED.status_public, "         \
    "require_authenticated_connection = EXCLUDED.require_authenticated_connection, "               \
    "antenna_gain = EXCLUDED.antenna_gain, latitude = EXCLUDED.latitude, "                         \
    "longitude = EXCLUDED.longitude, altitude = EXCLUDED.altitude, accuracy = EXCLUDED.accuracy, " \
    "location_source = EXCLUDED.location_source, updated_at = now()"

/* RFC 3339 UTC rendering of a timestamptz column in SQL. */
#define IS_TS(col) LW_API_SQL_TIME(col)
/* The columns of an end device row as is_device_render reads them (device.c, devpart.c). */
#define IS_DEV_COLS                                                                                \
    "device_id, data::text, " IS_TS("created_at") ", " IS_TS(                                      \
        "updated_at") ", application_id, dev_eui, join_eui"

typedef enum is_auth_kind {
    IS_AUTH_NONE = 0,
    IS_AUTH_ADMIN_KEY, /* TenantAdminKey: everything within the tenant */
    IS_AUTH_API_KEY,
    IS_AUTH_TOKEN, /* access token from login */
} is_auth_kind_t;

/* Who calls. For API keys, the entity the key belongs to; for tokens, the user. */
typedef struct is_auth {
    is_auth_kind_t kind;
    is_ent_t ent;
    char ent_id[TN_ID_MAX + 1];
    is_rights_t rights; /* the key's or token's own rights, as stored */
    bool is_admin;      /* the user behind a user key or token is a tenant admin */
    char key_id[IS_TOKEN_ID_LEN + 1];
    char name[64];
    char created_at[40], expires_at[40];
    int64_t expires_ms; /* wall clock; 0: never */
} is_auth_t;

/* The verified-credential cache. A credential verified against PostgreSQL is kept for
 * is.auth-cache-ttl so that the next requests need no hash and no query. It is never
 * trusted beyond what the database would answer now:
 *   - an entry is bound to the tenant's incarnation (tenant/tenant.h): a hit under another
 *     incarnation is a miss, so a tenant purged and created again with the same ID never
 *     accepts the old tenant's credentials (whose rows went with the old schema);
 *   - a tenant change (deletion, purge, new incarnation, state) drops the tenant's entries
 *     in every process as it applies the lw.tenant change (tn_changes_subscribe);
 *   - a revocation (key or token deleted or narrowed, user changed, entity deleted) is
 *     forgotten here at once and, after its transaction commits, in every other Identity
 *     Server process through lw.is.revocations (revoke.c; is_op_revoke);
 *   - a verification that was in flight while anything was forgotten is not cached
 *     (cache_gen), since it may have read the row just before the revocation committed.
 * Without the bus (broker down, message lost) another process holds a revoked entry at most
 * until its TTL. */
#define IS_CACHE_SLOTS 4096

typedef struct is_cache_entry {
    bool used;
    char tenant[TN_ID_MAX + 1];
    uint64_t incarnation; /* the tenant's, when verified */
    uint8_t digest[32];   /* SHA-256 of the full token: the cache holds no secret */
    uint64_t cached_ms;   /* loop time */
    is_auth_t auth;
} is_cache_entry_t;

/* What one revocation ends: one key or token ID (key_id not empty), else every credential
 * of the entity (ent, ent_id); or, rights_only, no credential but the rights of some within
 * the tenant (collaborators changed): the other servers' cached access answers go. */
typedef struct is_revoke {
    char key_id[IS_TOKEN_ID_LEN + 1];
    is_ent_t ent;
    char ent_id[TN_ID_MAX + 1];
    bool rights_only;
} is_revoke_t;

/* Revocations one operation can hold until it commits. */
#define IS_OP_REVOKES 4

typedef struct is {
    lw_rt_t *rt;
    uv_loop_t *loop;
    lw_db_t *db;
    lw_bus_t *bus; /* events (lw.events); NULL: none published */
    tn_t *tn;
    lw_api_env_t env; /* what every request's pipeline runs on */
    is_pw_policy_t pw;
    int pw_iterations;
    int key_iterations;
    long long token_ttl_ms;
    long long cache_ttl_ms;
    bool registration_enabled;
    bool admin_approval;
    bool invitation_required; /* is.user-registration.invitation.required */
    int inflight;             /* requests and hook runs not finished: stop waits for them */
    bool stopping;
    void (*stop_done)(void *);
    void *stop_arg;
    is_cache_entry_t *cache;        /* IS_CACHE_SLOTS */
    size_t cache_used;              /* entries in use */
    uint64_t cache_gen;             /* counts forgets: a verification spanning one is not cached */
    lw_bus_consumer_t *revocations; /* lw.is.revocations; NULL without a bus */
    uint8_t origin[16];             /* this process, in what it publishes */
    struct is_route *routes;        /* one per registered route (route arguments) */
    size_t nroutes;
    tn_create_hook_t hook;
    struct is_limits *limits;       /* rate limits and the login hashing gate (limit.c) */
    struct is_locations *locations; /* gateway locations from gs.status.receive (location.c) */
} is_t;

typedef struct is_op is_op_t;

/* The argument of a registered route: which kind and variant the handler serves. */
typedef struct is_route {
    is_t *is;
    const is_kind_t *kind;
    is_ent_t ent; /* owner / target kind for generic routes */
    int variant;
} is_route_t;

#define IS_MAX_ROUTES 160
typedef void (*is_step_t)(is_op_t *op, const PGresult *res);
typedef void (*is_cont_t)(is_op_t *op);

/* The credential is_auth_run verifies off the loop. */
typedef struct is_cred {
    is_token_t tok;
    char secret[IS_TOKEN_MAX + 1]; /* the whole presented token: it is what is hashed */
    char hash[IS_HASH_MAX + 1];    /* the stored hash it must match */
} is_cred_t;

/* What every Identity Server request has: the pipeline's header first, then the tenant, the
 * caller and the target. Each handler's own state is a struct of its own whose first member
 * is an is_op_t (allocated by is_op_for with its size); nothing here means different things
 * to different handlers. */
struct is_op {
    lw_api_op_t api;
    is_t *is;
    size_t size; /* of the whole state, wiped when freed: it may hold secrets */
    /* Releases what the handler's state owns (JSON), before the wipe. Optional. */
    void (*release)(is_op_t *op);
    const struct is_route *route;
    const is_kind_t *kind;
    tn_tenant_t t;
    char sq[TN_SCHEMA_MAX * 2 + 4]; /* quoted schema */
    is_auth_t auth;
    is_cred_t cred;
    is_ent_t ent;           /* entity the rights are computed on */
    char id[TN_ID_MAX + 1]; /* its ID */
    is_rights_t rights;     /* caller's effective rights on it */
    is_step_t next;         /* continuation of the statement in flight */
    is_step_t after_limit;  /* is_op_begin_create's continuation */
    is_cont_t cont;         /* continuation of is_auth_run / is_rights_run */
    char sql[4096];         /* the statement being built */
    char ev_name[64];       /* event published once the answer is a success (after commit) */
    json_t *ev_ids;
    uint64_t auth_gen;                  /* is->cache_gen when the credential's row was read */
    is_revoke_t revokes[IS_OP_REVOKES]; /* published once the answer is a success */
    int nrevokes;
};

/* ---- op.c -------------------------------------------------------------------------------- */

/* One statement on the pipeline (in the op's transaction when there is one); next(op, res)
 * on success, the op fails otherwise (a unique violation becomes already_exists with what
 * was registered by lw_api_on_conflict). */
void is_op_query(is_op_t *op, const char *sql, int n, const char *const *params, is_step_t next);
/* BEGIN; then next(op, NULL). */
void is_op_begin(is_op_t *op, is_step_t next);

/* One page of a list: writes into op->sql the query answering the total and the rows of
 * page of `SELECT cols FROM from_where ORDER BY order` (lw_api_page_sql). */
void is_op_page_sql(is_op_t *op, const char *cols, const char *from_where, const char *order,
                    const is_page_t *page);
/* BEGIN; then, when the tenant limits op->kind, serialises its creates (advisory
 * transaction lock), counts the live rows and fails with tenant_entity_limit at the limit;
 * then next(op, NULL). */
void is_op_begin_create(is_op_t *op, is_step_t next);

/* Authenticates the request (Authorization header), then cont(op). With `required`, an
 * anonymous caller fails with unauthenticated. */
void is_auth_run(is_op_t *op, bool required, is_cont_t cont);
/* Computes op->rights on (ent, id), then cont(op). */
void is_rights_run(is_op_t *op, is_ent_t ent, const char *id, is_cont_t cont);
/* Checks op->rights ⊇ need; otherwise fails the op (no_*_rights / insufficient_*_rights)
 * and returns false. */
bool is_rights_require(is_op_t *op, is_rights_t need);
/* True for the tenant admin key and admin users. */
bool is_auth_admin(const is_op_t *op);
/* Caller's user ID when a user (token or user API key), else NULL. */
const char *is_auth_user(const is_op_t *op);

/* Caches a credential of tenant t verified from a row read when is->cache_gen was `gen`;
 * does nothing when anything was forgotten since (or the cache is off). */
void is_cache_put(is_t *is, const tn_tenant_t *t, const char *token, const is_auth_t *auth,
                  uint64_t gen);
/* Forgets cached credentials in this process only: one key/token ID, or all of an entity
 * (NULL key). Revocations made by a request go through is_op_revoke instead. */
void is_cache_forget(is_t *is, const char *tenant, const char *key_id, is_ent_t ent,
                     const char *ent_id);
/* Forgets every cached credential of a tenant (NULL: of every tenant), in this process. */
void is_cache_forget_tenant(is_t *is, const char *tenant);
/* Ends credentials of op's tenant: one key or token ID, or every credential of the entity
 * (ent, ent_id) when key_id is NULL. Forgets them in this process at once, and, once the
 * op's transaction has committed and it answers with success, again here and in every
 * other Identity Server process (is_revoke_publish). Call it when a key or token is deleted
 * or narrowed, a user changes, or an entity is deleted. */
void is_op_revoke(is_op_t *op, const char *key_id, is_ent_t ent, const char *ent_id);
/* Rights within op's tenant change without a credential ending (a collaborator or member
 * is set or removed): once the op succeeds, every process's access checker
 * (tenant/access.h) drops the tenant's cached answers (a revocation naming no key and no
 * entity, which the IS's credential caches ignore). */
void is_op_rights_changed(is_op_t *op);

/* ---- revoke.c: lw.is.revocations ---------------------------------------------------------- */

/* Registers the tenant change listener (at init). Returns 0 or -1 with err. */
int is_revoke_init(is_t *is, lw_err_t *err);
/* Subscribes to lw.is.revocations with a private group (at start). Returns 0 or -1. */
int is_revoke_start(is_t *is, lw_err_t *err);
/* Publishes a committed revocation of `tenant` for every other process. Best effort: a
 * failure is logged (the others then hold the credential until their cache TTL). */
void is_revoke_publish(is_t *is, const char *tenant, const is_revoke_t *r);

const char *is_ent_type_name(is_ent_t e); /* "application" (SQL entity_type) */
int is_ent_parse(const char *s, is_ent_t *out);
/* Counts one more (or one less) unfinished request or hook run; the last one to finish
 * after stop() calls the stop callback. */
void is_inflight_add(is_t *is, int delta);
/* Publishes The Things Stack-shaped event `name` ("application.create") for the entity
 * `ids` (stolen: {"application_ids":{...}}) on lw.events, keyed by tenant, once the op
 * answers with success (after its transaction commits). Best effort: a failure is logged,
 * the request is not affected. */
void is_event(is_op_t *op, const char *name, json_t *ids);
/* Publishes such an event at once, outside a request: `ids` stolen, `correlation_id` and
 * `unique_id` as The Things Stack's fields. Best effort, as is_event. */
void is_event_publish(is_t *is, const char *tenant, const char *name, json_t *ids,
                      const char *correlation_id, const char *unique_id);
/* {"<kind>_ids":{"<id_field>": id}} for users, organizations, applications, gateways. */
json_t *is_entity_ids(const is_kind_t *k, const char *id);
/* The request body as a JSON object whose keys are all in `allowed` (owned by the
 * request), or NULL when the op failed. */
json_t *is_op_body(is_op_t *op, const char *const *allowed);

/* ---- location.c: gateway locations reported by the Gateway Server --------------------------- */

/* Subscribes to lw.events (group is.gateway-locations) for gs.status.receive (at start). */
int is_location_start(is_t *is, lw_err_t *err);
/* The configuration check and reading of is.gateway-location-debounce-time (at init). */
void is_location_init(is_t *is, const lw_config_t *cfg);
void is_location_free(is_t *is);

/* ---- routes (entity.c, device.c, access.c) ----------------------------------------------- */

/* Registers a tenant-scoped route whose handler gets the is_route_t as argument. */
int is_route(is_t *is, const char *method, const char *pattern, tn_handler_t h,
             const is_kind_t *kind, is_ent_t ent, int variant);
/* Starts an op of `size` bytes (>= sizeof(is_op_t): the handler's state, whose first member
 * is the is_op_t) for a route handler. Never NULL. */
is_op_t *is_op_for(lw_http_req_t *req, const tn_tenant_t *t, void *route_arg, size_t size);
/* Validates a path ID into out (invalid_field naming `field`); fails the op and returns
 * false. */
bool is_op_path_id(is_op_t *op, const char *param, size_t min_len, const char *field, char *out);

int is_entity_routes(is_t *is);
int is_device_routes(is_t *is);
/* An end device as the API renders it: row i of a result whose columns c0.. are IS_DEV_COLS,
 * the fields of `mask` (device.c). */
json_t *is_device_render(const PGresult *res, int i, int c0, const is_mask_t *mask);
int is_access_routes(is_t *is);

/* ---- limit.c: rate limits (cluster/ratelimit.h) ------------------------------------------ */

typedef struct is_limits is_limits_t;
/* From is.rate-limit.*; never NULL. Metrics go to the runtime's registry. */
is_limits_t *is_limits_new(lw_rt_t *rt, const lw_config_t *cfg);
void is_limits_free(is_limits_t *l); /* NULL: no-op */
/* The configuration check of is.rate-limit.trusted-proxies: an IPv4 or IPv6 address. */
int is_limit_check_ip(const char *value, char *why, size_t why_len);
/* A login attempt for user_id: per user, per client address and per tenant. Counts it, or
 * fails op with 429 rate_limit_exceeded and Retry-After and returns false. */
bool is_limit_login(is_op_t *op, const char *user_id);
/* A place for one of the tenant's password hashes in the worker pool (at most
 * is.rate-limit.login.hashing-per-tenant at once), or op fails with 429 (false). */
bool is_limit_hash_enter(is_op_t *op);
void is_limit_hash_leave(is_op_t *op);
/* Once the caller is authenticated: one request of its API key or access token (others
 * pass), or op fails with 429 (false). */
bool is_limit_credential(is_op_t *op);
/* The tenant creation hook (initial_user), in entity.c. */
int is_initial_user_validate(void *arg, json_t *body, lw_err_t *err);
int is_initial_user_run(void *arg, lw_db_tx_t *tx, const tn_tenant_t *tenant, json_t *body,
                        lw_db_done_cb cb, void *cb_arg, lw_err_t *err);

#endif
