/* Private to the tenant module: the component state shared by registry.c and api.c. */
#ifndef TN_TENANT_INT_H
#define TN_TENANT_INT_H

#include "tenant/tenant.h"

#define TN_MAX_ADMIN_KEYS   16
#define TN_MAX_BASE_DOMAINS 16

typedef struct tn_entry {
    tn_tenant_t t;
    int64_t updated_at_ms;
    bool used;
} tn_entry_t;

typedef struct tn_table {
    tn_entry_t *slots;
    size_t cap; /* power of two */
    size_t n;
} tn_table_t;

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
    uint8_t admin_keys[TN_MAX_ADMIN_KEYS][32];
    size_t admin_key_len[TN_MAX_ADMIN_KEYS];
    size_t n_admin_keys;
    const char *base_domains[TN_MAX_BASE_DOMAINS];
    size_t n_base_domains;
    const char *default_id;
    uv_timer_t refresh;
    long long refresh_ms;
    bool reloading;
    bool loaded; /* the registry was read from PostgreSQL at least once */
    bool stopping;
    lw_bus_consumer_t *consumer;
    tn_create_hook_t hook;
    bool have_hook;
    lw_migration_set_t loaded_migrations;
    const lw_migration_set_t *migrations;
    tn_route_ctx_t *routes;
    uint8_t origin[16];
    void (*stop_done)(void *arg);
    void *stop_done_arg;
    lw_metric_t *m_changes;
};

/* Registry (registry.c). */
void tn_table_put(tn_table_t *tab, const tn_tenant_t *t, int64_t updated_at_ms);
const tn_entry_t *tn_table_get(const tn_table_t *tab, const char *id);
void tn_table_free(tn_table_t *tab);
/* Applies a change made by this process and publishes it on lw.tenant. */
void tn_registry_changed(tn_t *tn, const tn_tenant_t *t, int64_t updated_at_ms, bool purged);

/* HTTP API (api.c). */
void tn_api_register(tn_t *tn);

/* Pure resolution of a host name and headers to a tenant ID (resolve in registry.c). Writes
 * the ID into out; returns 0 or -1 with missing_tenant_id / tenant_not_found (invalid ID). */
int tn_resolve_id(const char *const *base_domains, size_t n_base_domains, const char *default_id,
                  const char *host, const char *header_tenant_id, char out[TN_ID_MAX + 1],
                  lw_err_t *err);

/* Decodes hex into at most cap bytes; returns the byte count or -1. */
int tn_hex_decode(const char *hex, uint8_t *out, size_t cap);

#endif
