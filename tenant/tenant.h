/* Tenancy: tenant IDs and states, limits, tenant admin keys, the tenant registry in
 * lw_control with its HTTP API (/api/v3/tenants), per-tenant schema provisioning, and the
 * resolution of every API request to its tenant.
 *
 * Every process keeps the registry in memory: loaded from PostgreSQL at start (and every
 * `tenancy.refresh-interval`), kept current by the compacted `lw.tenant` topic on which every
 * change is published, so a suspension made through one process is applied by every other
 * within seconds. */
#ifndef TN_TENANT_H
#define TN_TENANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "http.h"
#include "migrate.h"
#include "runtime.h"

/* Errors of the tenant module (tenant/errors.def). */
#define LW_ERR_DEF(name, ns, http, grpc, fmt) LW_ERR_DECLARE(name);
#include "errors.def"
#undef LW_ERR_DEF

/* The Things Stack's tenant states (§15.3). Only approved and flagged tenants work. */
typedef enum tn_state {
    TN_STATE_REQUESTED = 0,
    TN_STATE_APPROVED = 1,
    TN_STATE_REJECTED = 2,
    TN_STATE_FLAGGED = 3,
    TN_STATE_SUSPENDED = 4,
} tn_state_t;

#define TN_ID_MAX 36
/* Schema names: "t_" + the ID with dashes mapped to underscores. */
#define TN_SCHEMA_MAX (TN_ID_MAX + 3)

/* Entity kinds with a per-tenant limit. */
typedef enum tn_limit_kind {
    TN_LIMIT_APPLICATIONS = 0,
    TN_LIMIT_CLIENTS,
    TN_LIMIT_END_DEVICES,
    TN_LIMIT_GATEWAYS,
    TN_LIMIT_ORGANIZATIONS,
    TN_LIMIT_USERS,
    TN_LIMIT_COUNT
} tn_limit_kind_t;

#define TN_UNLIMITED INT64_MAX

/* A snapshot of one tenant as the registry knows it. */
typedef struct tn_tenant {
    char id[TN_ID_MAX + 1];
    char schema[TN_SCHEMA_MAX + 1];
    tn_state_t state;
    int64_t limits[TN_LIMIT_COUNT]; /* TN_UNLIMITED when unset */
    bool deleted;
} tn_tenant_t;

typedef struct tn tn_t;

/* The tenant component ("tenant"): registry, API, bus sync. Always started. */
extern const lw_component_t tn_component;

/* ---- pure helpers ---------------------------------------------------------------------- */

/* Validates an ID as The Things Stack does (DESIGN.md §5): lowercase letters, digits and
 * single dashes, min_len..36 characters (3 for most entities, 2 for users), starting and
 * ending with a letter or digit. On failure sets invalid_field naming `field` (e.g.
 * "tenant.ids.tenant_id") with the reason. */
int tn_id_validate(const char *id, size_t min_len, const char *field, lw_err_t *err);

/* "acme-corp" → "t_acme_corp". The ID must be valid. */
void tn_schema_name(const char *id, char out[TN_SCHEMA_MAX + 1]);

const char *tn_state_name(tn_state_t s); /* "STATE_APPROVED" */
int tn_state_parse(const char *s, tn_state_t *out);
bool tn_state_active(tn_state_t s);
const char *tn_limit_field(tn_limit_kind_t k); /* "max_applications" */

/* ---- the running registry --------------------------------------------------------------- */

/* The tenant component's state, for other components (via lw_rt_component(rt, "tenant")). */
tn_t *tn_from_runtime(lw_rt_t *rt);

/* Looks a tenant up in memory. Returns false when unknown (or deleted). */
bool tn_get(const tn_t *tn, const char *id, tn_tenant_t *out);

/* Resolves the tenant of an API request: the host name under `tenancy.base-domains`, else
 * the X-Tenant-ID header, else `tenancy.default-id`. Errors: missing_tenant_id (400),
 * tenant_not_found (404), tenant_not_active (403). */
int tn_resolve(const tn_t *tn, const lw_http_req_t *req, tn_tenant_t *out, lw_err_t *err);

/* A handler for a tenant-scoped API route: called only for requests whose tenant resolved
 * to an active tenant (others are answered by the tenant module). `tenant` is valid during
 * the call only: copy what must outlive it. */
typedef void (*tn_handler_t)(lw_http_req_t *req, const tn_tenant_t *tenant, void *arg);
int tn_route(tn_t *tn, const char *method, const char *pattern, tn_handler_t handler, void *arg);

/* Checks `Authorization: TenantAdminKey <hex>` in constant time against
 * `tenancy.admin-keys`. Returns 0, or -1 with unauthenticated / permission_denied. */
int tn_admin_auth(const tn_t *tn, const lw_http_req_t *req, lw_err_t *err);
/* True when the header value is a configured tenant admin key (constant time). */
bool tn_admin_key_valid(const tn_t *tn, const char *authorization);

/* A hook into tenant creation (the Identity Server's `initial_user`). The tenant module does
 * not know the components above it: they register here at init. */
typedef struct tn_create_hook {
    /* Checks the create request body's extra parts (e.g. "initial_user") before anything is
     * written; returns 0 or -1 with err naming the field. Keys of the body it accepts are
     * listed in `body_keys` (NULL-terminated) so that they are not unknown fields. */
    int (*validate)(void *arg, json_t *body, lw_err_t *err);
    /* Runs inside the create transaction after the schema is migrated. Returns 0 and calls
     * cb exactly once later, or returns -1 with err and never calls cb. */
    int (*run)(void *arg, lw_db_tx_t *tx, const tn_tenant_t *tenant, json_t *body, lw_db_done_cb cb,
               void *cb_arg, lw_err_t *err);
    const char *const *body_keys;
    void *arg;
} tn_create_hook_t;

/* Sets the creation hook (one; the pointer is kept). */
void tn_set_create_hook(tn_t *tn, const tn_create_hook_t *hook);

/* The migration set tenant schemas are created with. */
const lw_migration_set_t *tn_migrations(const tn_t *tn);

#endif
