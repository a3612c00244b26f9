/* Private to the tenant module: the component state and the interfaces between its files.
 *
 * Each file owns one concern, and calls point one way (no file calls a file above it):
 *
 *   component.c   lifecycle: init / start / stop / free / ready, tn_from_runtime
 *     ├─ api.c        /api/v3/tenants (calls sync, admin_key, component's public getters)
 *     ├─ resolve.c    request → tenant, tenant-scoped routes (reads table, settings)
 *     ├─ sync.c       reload from PostgreSQL, lw.tenant publish and consume (writes table)
 *     ├─ config.c     the tenancy.* table and its reading into tn_settings_t
 *     └─ admin_key.c  TenantAdminKey authentication (constant time)
 *   table.c       the in-memory hash table of tenants (called by sync, resolve, component)
 *   ids.c         pure: IDs, states, limits, tn_resolve_id
 *   euis.c        the deployment-wide EUI registry (public in euis.h; no component state)
 *   access.c      the access checker (public in access.h; access_private.h), on
 *     access_cache.c  its pure part, and revocation.c (lw.is.revocations, revocation.h) */
#ifndef TN_TENANT_PRIVATE_H
#define TN_TENANT_PRIVATE_H

#include "cluster/ratelimit.h"
#include "tenant/tenant.h"

#define TN_MAX_ADMIN_KEYS   16
#define TN_MAX_BASE_DOMAINS 16
#define TN_ADMIN_KEY_MAX    32 /* bytes: keys are 16, 24 or 32 bytes */

/* ---- table.c: the in-memory table ------------------------------------------------------ */

/* One tenant as last known. A deleted tenant stays as an entry with t.deleted set, so that
 * an older change arriving later cannot bring it back. */
typedef struct tn_entry {
    tn_tenant_t t;
    int64_t updated_at_ms;
    bool used;
} tn_entry_t;

/* Open addressing, linear probing, grown at 3/4 full; never shrinks. Zero-initialised is an
 * empty table. */
typedef struct tn_table {
    tn_entry_t *slots;
    size_t cap; /* power of two, or 0 */
    size_t n;
} tn_table_t;

/* Inserts or replaces the entry of t->id, whatever its time (the caller decided). */
void tn_table_put(tn_table_t *tab, const tn_tenant_t *t, int64_t updated_at_ms);
/* Applies a change unless the table holds a newer one for the same tenant (equal times
 * apply: a repeated message is harmless). Returns true when applied. */
bool tn_table_apply(tn_table_t *tab, const tn_tenant_t *t, int64_t updated_at_ms);
/* The entry of `id` (deleted ones included), or NULL. Valid until the next put. */
const tn_entry_t *tn_table_get(const tn_table_t *tab, const char *id);
void tn_table_free(tn_table_t *tab);

/* ---- config.c: tenancy.* --------------------------------------------------------------- */

/* What tenancy.* configures. Strings are borrowed from the configuration, which outlives
 * the component. */
typedef struct tn_settings {
    uint8_t admin_keys[TN_MAX_ADMIN_KEYS][TN_ADMIN_KEY_MAX];
    size_t admin_key_len[TN_MAX_ADMIN_KEYS];
    size_t n_admin_keys;
    const char *base_domains[TN_MAX_BASE_DOMAINS];
    size_t n_base_domains;
    const char *default_id; /* NULL when unset */
    long long refresh_ms;
    lw_rate_t requests_per_tenant; /* tenancy.rate-limit.requests-per-tenant */
    const char *access_uri;        /* tenancy.identity-server-uri; NULL: own listener */
    const char *access_ca_file;    /* tenancy.identity-server-ca; NULL: the system's CAs */
    long long access_timeout_ms;
    long long access_ttl_ms;
    size_t access_cache_size;
} tn_settings_t;

/* Registers the tenancy.* table (the component's config_register). */
int tn_config_register(lw_config_t *cfg);
/* Reads tenancy.* from a configuration the table was registered in and validated by.
 * Keys and domains beyond TN_MAX_* are ignored. */
void tn_config_read(tn_settings_t *out, const lw_config_t *cfg);
/* Forgets the admin keys (OPENSSL_cleanse). */
void tn_settings_destroy(tn_settings_t *s);

/* ---- the component state (component.c owns it) ----------------------------------------- */

typedef struct tn_route_ctx {
    struct tn_route_ctx *next;
    tn_t *tn;
    tn_handler_t handler;
    void *arg;
} tn_route_ctx_t;

struct tn {
    lw_rt_t *rt;
    lw_db_t *db;
    lw_bus_t *bus;
    lw_http_t *http;
    tn_table_t table;
    tn_settings_t settings;
    uv_timer_t refresh;
    bool reloading;
    bool loaded; /* the registry was read from PostgreSQL at least once */
    bool stopping;
    lw_bus_consumer_t *consumer;
    tn_create_hook_t hook;
    bool have_hook;
    lw_migration_set_t loaded_migrations;
    const lw_migration_set_t *migrations;
    tn_route_ctx_t *routes;
    lw_ratelimit_t *rate_limit; /* requests per tenant on tn_route routes (resolve.c) */
    lw_ratelimit_series_t m_rate_limit;
    struct {
        tn_change_cb cb;
        void *arg;
    } listeners[TN_MAX_CHANGE_LISTENERS];
    size_t nlisteners;
    uint8_t origin[16];
    lw_metric_t *m_changes;
    struct tn_access *access; /* the access checker (access.c), a service of its own */
    struct tn_usage *usage;   /* the usage accumulator (usage.c), a service of its own */
};

/* ---- sync.c: PostgreSQL reload and lw.tenant -------------------------------------------- */

/* Prepares the refresh timer (at init). */
void tn_sync_init(tn_t *tn, uv_loop_t *loop);
/* Subscribes to lw.tenant from its start, reads the registry from PostgreSQL and starts the
 * periodic reload. Returns 0 or -1 with err. */
int tn_sync_start(tn_t *tn, lw_err_t *err);
/* Stops reloading and closes the timer (the consumer is closed with the bus). */
void tn_sync_stop(tn_t *tn);
/* Applies a change made by this process, tells the change listeners and publishes it on
 * lw.tenant (with t->incarnation). */
void tn_registry_changed(tn_t *tn, const tn_tenant_t *t, int64_t updated_at_ms, bool purged);
/* Calls every change listener with t when it differs from `before` (NULL: a tenant not held
 * before, which nothing can have bound state to) in state, deletion or incarnation. */
void tn_changes_notify(tn_t *tn, const tn_tenant_t *before, const tn_tenant_t *t);

/* ---- resolve.c ---------------------------------------------------------------------------- */

/* Frees what tn_route allocated (at free). */
void tn_routes_free(tn_t *tn);

/* ---- api.c ------------------------------------------------------------------------------- */

/* Registers /api/v3/tenants on tn->http (at init). */
void tn_api_register(tn_t *tn);

/* ---- usage.c: the usage accumulator's lifecycle (tenant/usage.h) ------------------------ */

/* Registers usage.interval (with the tenant component's table). */
int tn_usage_config_register(lw_config_t *cfg);
/* Creates the accumulator and publishes it as a runtime service (at init). Returns NULL
 * with err when the service cannot be published. */
struct tn_usage *tn_usage_new(lw_rt_t *rt, lw_err_t *err);
/* Starts the interval timer. */
int tn_usage_start(struct tn_usage *u, lw_err_t *err);
/* Publishes what is counted (every tenant's batch of the current interval), stops counting
 * and closes the timer. */
void tn_usage_stop(struct tn_usage *u);
void tn_usage_free(struct tn_usage *u);

/* ---- admin_key.c --------------------------------------------------------------------------- */

/* tn_admin_auth on the Authorization header's value (NULL when absent). */
int tn_admin_auth_header(const tn_t *tn, const char *authorization, lw_err_t *err);

#endif
