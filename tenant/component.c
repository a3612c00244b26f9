/* The tenant component's lifecycle: init (configuration, migrations, routes, the service
 * other components reach the registry through), start (lw.tenant and the first read), stop,
 * free, and readiness. */
#include <stdlib.h>

#include <openssl/rand.h>

#include "cluster/mem.h"
#include "tenant/access_private.h"
#include "tenant/tenant_private.h"

/* The registry as a runtime service: the one way other components reach it. */
static const lw_rt_key_t tn_service_key = {.name = "tenant registry"};

tn_t *tn_from_runtime(lw_rt_t *rt)
{
    return lw_rt_service(rt, &tn_service_key);
}

void tn_set_create_hook(tn_t *tn, const tn_create_hook_t *hook)
{
    tn->hook = *hook;
    tn->have_hook = true;
}

int tn_changes_subscribe(tn_t *tn, tn_change_cb cb, void *arg, lw_err_t *err)
{
    if (tn->nlisteners >= TN_MAX_CHANGE_LISTENERS)
        return lw_err_set(err, &lw_err_internal, "more than %d tenant change listeners",
                          TN_MAX_CHANGE_LISTENERS);
    tn->listeners[tn->nlisteners].cb = cb;
    tn->listeners[tn->nlisteners].arg = arg;
    tn->nlisteners++;
    return 0;
}

const lw_migration_set_t *tn_migrations(const tn_t *tn)
{
    return tn->migrations;
}

static int component_init(lw_rt_t *rt, void **state, lw_err_t *err)
{
    tn_t *tn = lw_calloc(1, sizeof *tn);
    *state = tn;
    tn->rt = rt;
    tn->db = lw_rt_db(rt);
    tn->bus = lw_rt_bus(rt);
    tn->http = lw_rt_http(rt);
    const lw_config_t *cfg = lw_rt_config(rt);
    tn_config_read(&tn->settings, cfg);

    const char *dir = lw_config_str(cfg, "db.migrations-dir");
    if (dir != NULL) {
        if (lw_migrations_load(dir, &tn->loaded_migrations, err) != 0)
            return -1;
        tn->migrations = &tn->loaded_migrations;
    } else {
        tn->migrations = lw_migrations_embedded();
    }
    RAND_bytes(tn->origin, sizeof tn->origin);
    tn->m_changes = lw_metrics_counter(lw_rt_metrics(rt), "lwstack_tenant_changes_total",
                                       "Tenant changes made by this process", NULL);
    tn_sync_init(tn, lw_rt_loop(rt));
    tn_api_register(tn);
    if (lw_rt_provide(rt, &tn_service_key, tn, err) != 0)
        return -1;
    tn->usage = tn_usage_new(rt, err);
    if (tn->usage == NULL)
        return -1;
    tn->access = tn_access_new(tn, rt, err);
    return tn->access == NULL ? -1 : 0;
}

static int component_start(void *state, lw_err_t *err)
{
    tn_t *tn = state;
    if (tn_sync_start(tn, err) != 0 || tn_usage_start(tn->usage, err) != 0)
        return -1;
    return tn_access_start(tn->access, err);
}

static void component_stop(void *state, void (*done)(void *arg), void *done_arg)
{
    tn_t *tn = state;
    tn_sync_stop(tn);
    tn_usage_stop(tn->usage);
    tn_access_stop(tn->access, done, done_arg);
}

static void component_free(void *state)
{
    tn_t *tn = state;
    if (tn == NULL)
        return;
    tn_access_free(tn->access);
    tn_usage_free(tn->usage);
    tn_routes_free(tn);
    if (tn->migrations == &tn->loaded_migrations)
        lw_migrations_free(&tn->loaded_migrations);
    tn_table_free(&tn->table);
    tn_settings_destroy(&tn->settings);
    free(tn);
}

/* Not ready until the registry has been read once: before that every tenant would be
 * `tenant_not_found`. A failed first read is retried soon rather than at the next refresh. */
static bool component_ready(const void *state)
{
    const tn_t *tn = state;
    return tn->loaded;
}

const lw_component_t tn_component = {
    .name = "tenant",
    .help = "tenant registry, /api/v3/tenants, request resolution",
    .config_register = tn_config_register,
    .init = component_init,
    .start = component_start,
    .stop = component_stop,
    .free = component_free,
    .ready = component_ready,
};
