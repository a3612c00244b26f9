/* Tenancy: tenant IDs and states, limits, tenant admin keys, the tenant registry in
 * lw_control with its HTTP API (/api/v3/tenants), per-tenant schema provisioning, and the
 * resolution of every API request to its tenant.
 *
 * Every process keeps the registry in memory: loaded from PostgreSQL at start (and every
 * `tenancy.refresh-interval`), kept current by the compacted `lw.tenant` topic on which every
 * change is published, so a suspension made through one process is applied by every other
 * within seconds.
 *
 * Each creation of a tenant ID is an incarnation (tn_tenant_t.incarnation): deleting or
 * purging a tenant and creating the ID again yields a new one, so that nothing bound to the
 * old tenant (an Identity Server's cached credentials) is taken for the new one. Components
 * that keep state per tenant hear of every change through tn_changes_subscribe.
 *
 * The deployment-wide registry of EUIs (gateway EUI, JoinEUI/DevEUI → tenant and entity) is
 * in tenant/euis.h. */
#ifndef TN_TENANT_H
#define TN_TENANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/err.h"
#include "cluster/http.h"
#include "cluster/migrate.h"
#include "cluster/runtime.h"

#include "tenant/ids.h"

typedef struct tn tn_t;

/* The tenant component ("tenant"): registry, API, bus sync. Always started. */
extern const lw_component_t tn_component;

/* ---- the running registry --------------------------------------------------------------- */

/* The running registry, for other components: the one interface through which they reach
 * it (published by the tenant component's init as a runtime service, see runtime.h).
 * NULL when the tenant component is not added or not yet initialised: the composition root
 * adds it first, so a component's init may call this and fail when it gets NULL. */
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

/* A listener of tenant changes: runs on the loop each time the registry applies a change of
 * a tenant's state, deletion or incarnation, whoever made it (this process, another one
 * through lw.tenant, or a reload from PostgreSQL that found what the bus did not bring).
 * `t` is the tenant as it now is, valid during the call only: t->deleted for a deleted or
 * purged tenant (also one whose row is gone), a new t->incarnation for an ID purged and
 * created again. tn_get already answers the new state during the call. */
typedef void (*tn_change_cb)(void *arg, const tn_tenant_t *t);

#define TN_MAX_CHANGE_LISTENERS 8

/* Adds a listener (at a component's init; the arg is kept). Returns 0, or -1 with internal
 * when TN_MAX_CHANGE_LISTENERS are registered. */
int tn_changes_subscribe(tn_t *tn, tn_change_cb cb, void *arg, lw_err_t *err);

/* The migration set tenant schemas are created with. */
const lw_migration_set_t *tn_migrations(const tn_t *tn);

#endif
