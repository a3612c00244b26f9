/* Identity Server internals with I/O: the component state, the per-request operation that
 * carries a request through its queries, authentication and its cache. */
#ifndef IS_INT_H
#define IS_INT_H

#include <stdint.h>

#include <libpq-fe.h>
#include <uv.h>

#include "cluster/db.h"
#include "cluster/http.h"
#include "is/is_private.h"
#include "cluster/runtime.h"
#include "tenant/tenant.h"

/* RFC 3339 UTC rendering of a timestamptz column in SQL. */
#define IS_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

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

#define IS_CACHE_SLOTS 4096

typedef struct is_cache_entry {
    bool used;
    char tenant[TN_ID_MAX + 1];
    uint8_t digest[32]; /* SHA-256 of the full token: the cache holds no secret */
    uint64_t cached_ms; /* loop time */
    is_auth_t auth;
} is_cache_entry_t;

typedef struct is {
    lw_rt_t *rt;
    uv_loop_t *loop;
    lw_db_t *db;
    lw_bus_t *bus; /* events (lw.events); NULL: none published */
    tn_t *tn;
    is_pw_policy_t pw;
    int pw_iterations;
    int key_iterations;
    long long token_ttl_ms;
    long long cache_ttl_ms;
    bool registration_enabled;
    bool admin_approval;
    int inflight; /* requests and hook runs not finished: stop waits for them */
    bool stopping;
    void (*stop_done)(void *);
    void *stop_arg;
    is_cache_entry_t *cache; /* IS_CACHE_SLOTS */
    struct is_route *routes; /* one per registered route (route arguments) */
    size_t nroutes;
    tn_create_hook_t hook;
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

struct is_op {
    is_t *is;
    lw_http_req_t *req;
    tn_tenant_t t;
    char sq[TN_SCHEMA_MAX * 2 + 4]; /* quoted schema */
    is_auth_t auth;
    lw_db_tx_t *tx;
    is_step_t next;
    is_step_t after; /* is_op_begin_create's continuation */
    is_cont_t cont;
    const struct is_route *route;
    lw_err_t err;

    const is_kind_t *kind;
    is_ent_t ent;              /* entity the request targets */
    char id[TN_ID_MAX + 1];    /* its ID */
    char id2[TN_ID_MAX + 1];   /* device ID, collaborator account ID */
    char key_id[64];           /* API key ID */
    char owner[TN_ID_MAX + 1]; /* creating account */
    bool owner_org;
    is_rights_t rights; /* caller's effective rights on the target */
    is_rights_t want;   /* rights requested (keys, collaborators) */
    bool flag;

    json_t *body; /* owned by the request */
    json_t *data; /* owned */
    json_t *result;
    is_ids_t ids;
    is_mask_t mask;
    is_page_t page;
    char conflict[200];     /* already_exists message for a unique violation */
    char conflict_eui[200]; /* ... when the violated constraint is an EUI index */
    char sql[4096];
    char buf[8][160];
    char hash[IS_HASH_MAX + 1];
    char secret[IS_TOKEN_MAX + 1];
    char password[1024];
    is_token_t tok;
    int work_rc;
    char ev_name[64]; /* event published once the answer is a success (after commit) */
    json_t *ev_ids;
};

/* ---- op.c -------------------------------------------------------------------------------- */

is_op_t *is_op_new(is_t *is, lw_http_req_t *req, const tn_tenant_t *t);
/* Answers and frees the op (rolls a transaction back first). */
void is_op_fail(is_op_t *op, const lw_err_t *err);
/* Commits the transaction if any, then answers with body (taken) and frees the op. */
void is_op_reply(is_op_t *op, int status, json_t *body);
/* One statement (in the op's transaction when there is one); next(op, res) on success, the
 * op fails otherwise (a unique violation becomes already_exists with op->conflict). */
void is_op_query(is_op_t *op, const char *sql, int n, const char *const *params, is_step_t next);
/* BEGIN; then next(op, NULL). */
void is_op_begin(is_op_t *op, is_step_t next);
/* Runs fn off the loop (uv_queue_work), then after(op) on the loop. */
void is_op_work(is_op_t *op, void (*fn)(is_op_t *op), is_cont_t after);

/* One page of a list: writes into op->sql the query answering the total (column 0) and
 * the rows of op->page (columns from 1, all NULL when the page is empty) of
 * `SELECT cols FROM from_where ORDER BY order`. from_where is trusted SQL text. */
void is_op_page_sql(is_op_t *op, const char *cols, const char *from_where, const char *order);
/* Answers a page: X-Total-Count and {"<key>": [render(row)...]} (the list omitted when
 * empty, as The Things Stack's JSON omits empty repeated fields). */
typedef json_t *(*is_row_render_t)(is_op_t *op, const PGresult *res, int row);
void is_op_reply_page(is_op_t *op, const PGresult *res, const char *key, is_row_render_t render);
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

void is_cache_put(is_t *is, const char *tenant, const char *token, const is_auth_t *auth);
/* Forgets cached credentials: one key/token ID, or all of an entity (NULL key). */
void is_cache_forget(is_t *is, const char *tenant, const char *key_id, is_ent_t ent,
                     const char *ent_id);

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
/* {"<kind>_ids":{"<id_field>": id}} for users, organizations, applications, gateways. */
json_t *is_entity_ids(const is_kind_t *k, const char *id);
/* Fails the op with not_found "<what> `<id>` not found". */
void is_op_not_found(is_op_t *op, const char *what, const char *id);
/* Fails the op with invalid_field. */
void is_op_invalid(is_op_t *op, const char *field, const char *why);
/* Parses the request body as a JSON object whose keys are all in `allowed`. */
bool is_op_body(is_op_t *op, const char *const *allowed);

/* ---- routes (entity.c, device.c, access.c) ----------------------------------------------- */

/* Registers a tenant-scoped route whose handler gets the is_route_t as argument. */
int is_route(is_t *is, const char *method, const char *pattern, tn_handler_t h,
             const is_kind_t *kind, is_ent_t ent, int variant);
/* Starts an op for a route handler (NULL when out of memory: already answered). */
is_op_t *is_op_for(lw_http_req_t *req, const tn_tenant_t *t, void *route_arg);
/* Validates a path ID (invalid_field naming `field`); fails the op and returns false. */
bool is_op_path_id(is_op_t *op, const char *param, size_t min_len, const char *field, char *out);

int is_entity_routes(is_t *is);
int is_device_routes(is_t *is);
int is_access_routes(is_t *is);
/* The tenant creation hook (initial_user), in entity.c. */
int is_initial_user_validate(void *arg, json_t *body, lw_err_t *err);
int is_initial_user_run(void *arg, lw_db_tx_t *tx, const tn_tenant_t *tenant, json_t *body,
                        lw_db_done_cb cb, void *cb_arg, lw_err_t *err);

#endif
