/* Keeping the table in step: the reload from PostgreSQL (at start, when lw.tenant partitions
 * are assigned, every tenancy.refresh-interval) and the compacted lw.tenant topic, on which
 * every change made by this process is published and every other process's is received. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/clock.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "tenant.pb-c.h"
#include "tenant/tenant_private.h"

/* ---- reload from PostgreSQL -------------------------------------------------------------- */

static void sync_on_refresh(uv_timer_t *t);

typedef struct sync_reload {
    tn_t *tn;
    int64_t started_ms;
} sync_reload_t;

static const char *const sync_limit_columns =
    "max_applications, max_clients, max_end_devices, max_gateways, max_organizations, "
    "max_users";
#define SYNC_COL_INCARNATION (4 + TN_LIMIT_COUNT)

static void sync_row_to_tenant(const PGresult *res, int row, tn_tenant_t *t, int64_t *updated_ms)
{
    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", PQgetvalue(res, row, 0));
    tn_schema_name(t->id, t->schema);
    t->state = (tn_state_t)atoi(PQgetvalue(res, row, 1));
    t->deleted = !PQgetisnull(res, row, 2);
    *updated_ms = strtoll(PQgetvalue(res, row, 3), NULL, 10);
    for (int k = 0; k < TN_LIMIT_COUNT; k++)
        t->limits[k] = PQgetisnull(res, row, 4 + k)
                           ? TN_UNLIMITED
                           : strtoll(PQgetvalue(res, row, 4 + k), NULL, 10);
    t->incarnation = strtoull(PQgetvalue(res, row, SYNC_COL_INCARNATION), NULL, 10);
}

/* ---- change listeners ---------------------------------------------------------------------- */

void tn_changes_notify(tn_t *tn, const tn_tenant_t *before, const tn_tenant_t *t)
{
    if (before == NULL || (before->state == t->state && before->deleted == t->deleted &&
                           before->incarnation == t->incarnation))
        return;
    for (size_t i = 0; i < tn->nlisteners; i++)
        tn->listeners[i].cb(tn->listeners[i].arg, t);
}

/* After a reload replaced `old` by the current table: tells the listeners of every tenant
 * that changed meanwhile, and of every one whose row is gone (purged while the bus did not
 * say so: it counts as deleted). */
static void sync_notify_reloaded(tn_t *tn, const tn_table_t *old)
{
    for (size_t i = 0; i < old->cap; i++) {
        const tn_entry_t *e = &old->slots[i];
        if (!e->used)
            continue;
        const tn_entry_t *now = tn_table_get(&tn->table, e->t.id);
        tn_tenant_t gone;
        if (now == NULL) {
            gone = e->t;
            gone.deleted = true;
        }
        tn_changes_notify(tn, &e->t, now != NULL ? &now->t : &gone);
    }
}

static void sync_reload_done(void *arg, const PGresult *res, const lw_err_t *err)
{
    sync_reload_t *rl = arg;
    tn_t *tn = rl->tn;
    tn->reloading = false;
    if (err != NULL && err->def != NULL) {
        lw_log(LW_LOG_WARN, "tenant", "registry reload failed", "error", lw_err_name(err),
               "message", err->message, NULL);
        /* Until the first read succeeds the process is not ready: try again in a second. */
        if (!tn->loaded && !tn->stopping)
            uv_timer_start(&tn->refresh, sync_on_refresh, 1000, (uint64_t)tn->settings.refresh_ms);
        free(rl);
        return;
    }
    tn_table_t fresh = {0};
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        tn_tenant_t t;
        int64_t updated_ms;
        sync_row_to_tenant(res, i, &t, &updated_ms);
        const tn_entry_t *cur = tn_table_get(&tn->table, t.id);
        /* A bus update newer than this snapshot wins. */
        if (cur != NULL && cur->updated_at_ms > updated_ms)
            tn_table_put(&fresh, &cur->t, cur->updated_at_ms);
        else
            tn_table_put(&fresh, &t, updated_ms);
    }
    /* Tenants that arrived over the bus after the snapshot was taken are kept too. */
    for (size_t i = 0; i < tn->table.cap; i++) {
        const tn_entry_t *e = &tn->table.slots[i];
        if (e->used && e->updated_at_ms > rl->started_ms && tn_table_get(&fresh, e->t.id) == NULL)
            tn_table_put(&fresh, &e->t, e->updated_at_ms);
    }
    tn_table_t old = tn->table;
    tn->table = fresh;
    sync_notify_reloaded(tn, &old);
    tn_table_free(&old);
    if (!tn->loaded) {
        char count[16];
        snprintf(count, sizeof count, "%d", rows);
        lw_log(LW_LOG_INFO, "tenant", "registry loaded", "tenants", count, NULL);
    }
    tn->loaded = true;
    free(rl);
}

static void sync_reload(tn_t *tn)
{
    if (tn->reloading || tn->stopping)
        return;
    sync_reload_t *rl = lw_malloc(sizeof *rl);
    rl->tn = tn;
    /* Wall clock: compared with updated_at times written by PostgreSQL. */
    rl->started_ms = lw_clock_wall_ms();
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT tenant_id, state, deleted_at, "
             "(extract(epoch FROM updated_at) * 1000)::bigint, %s, incarnation "
             "FROM lw_control.tenants",
             sync_limit_columns);
    if (lw_db_query(tn->db, sql, 0, NULL, sync_reload_done, rl) != 0) {
        free(rl);
        return;
    }
    tn->reloading = true;
}

static void sync_on_refresh(uv_timer_t *t)
{
    sync_reload(t->data);
}

/* ---- lw.tenant ------------------------------------------------------------------------- */

void tn_registry_changed(tn_t *tn, const tn_tenant_t *t, int64_t updated_at_ms, bool purged)
{
    tn_tenant_t copy = *t;
    if (purged)
        copy.deleted = true;
    const tn_entry_t *cur = tn_table_get(&tn->table, copy.id);
    tn_tenant_t before;
    if (cur != NULL)
        before = cur->t;
    tn_table_put(&tn->table, &copy, updated_at_ms);
    lw_metric_add(tn->m_changes, NULL, 1);
    tn_changes_notify(tn, cur != NULL ? &before : NULL, &copy);

    Lwstack__Tenant__TenantState msg = LWSTACK__TENANT__TENANT_STATE__INIT;
    int64_t limits[TN_LIMIT_COUNT];
    for (int k = 0; k < TN_LIMIT_COUNT; k++)
        limits[k] = t->limits[k] == TN_UNLIMITED ? -1 : t->limits[k];
    msg.tenant_id = copy.id;
    msg.state = (uint32_t)t->state;
    msg.n_limits = TN_LIMIT_COUNT;
    msg.limits = limits;
    msg.deleted = copy.deleted;
    msg.purged = purged;
    msg.updated_at_ms = updated_at_ms;
    msg.incarnation = copy.incarnation;
    msg.origin.data = tn->origin;
    msg.origin.len = sizeof tn->origin;
    uint8_t buf[256];
    size_t len = lwstack__tenant__tenant_state__get_packed_size(&msg);
    if (len > sizeof buf)
        return;
    lwstack__tenant__tenant_state__pack(&msg, buf);
    lw_err_t err;
    if (lw_bus_publish(tn->bus, "tenant", copy.id, strlen(copy.id), buf, len, &err) != 0)
        /* Other processes still converge at their next reload. */
        lw_log(LW_LOG_ERROR, "tenant", "cannot publish tenant change", "tenant", copy.id, "error",
               err.message, NULL);
}

static void sync_on_message(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *m)
{
    (void)c;
    tn_t *tn = arg;
    Lwstack__Tenant__TenantState *msg =
        lwstack__tenant__tenant_state__unpack(NULL, m->value_len, m->value);
    if (msg == NULL) {
        lw_log(LW_LOG_WARN, "tenant", "undecodable lw.tenant message dropped", "id", m->id, NULL);
        return;
    }
    tn_tenant_t t;
    lw_err_t err;
    if (msg->origin.len == sizeof tn->origin &&
        memcmp(msg->origin.data, tn->origin, sizeof tn->origin) == 0)
        goto out; /* our own change, applied when made */
    if (tn_id_validate(msg->tenant_id, 3, "tenant_id", &err) != 0 || msg->state > 4)
        goto out;
    memset(&t, 0, sizeof t);
    snprintf(t.id, sizeof t.id, "%s", msg->tenant_id);
    tn_schema_name(t.id, t.schema);
    t.state = (tn_state_t)msg->state;
    t.deleted = msg->deleted || msg->purged;
    for (int k = 0; k < TN_LIMIT_COUNT; k++)
        t.limits[k] =
            (size_t)k < msg->n_limits && msg->limits[k] >= 0 ? msg->limits[k] : TN_UNLIMITED;
    const tn_entry_t *cur = tn_table_get(&tn->table, t.id);
    t.incarnation = msg->incarnation;
    /* A publisher that predates incarnations: the tenant held is the same one unless it was
     * deleted (then this is a new creation whose incarnation the next reload reads). */
    if (t.incarnation == 0 && cur != NULL && !cur->t.deleted)
        t.incarnation = cur->t.incarnation;
    tn_tenant_t before;
    if (cur != NULL)
        before = cur->t;
    /* History read at start-up is not news: log only changes to what we held. */
    bool news = cur != NULL && (cur->t.state != t.state || cur->t.deleted != t.deleted ||
                                cur->t.incarnation != t.incarnation);
    if (tn_table_apply(&tn->table, &t, msg->updated_at_ms)) {
        lw_log(news ? LW_LOG_INFO : LW_LOG_DEBUG, "tenant", "tenant change applied", "tenant", t.id,
               "state", tn_state_name(t.state), "deleted", t.deleted ? "true" : "false", NULL);
        tn_changes_notify(tn, cur != NULL ? &before : NULL, &t);
    }
out:
    lwstack__tenant__tenant_state__free_unpacked(msg, NULL);
}

static void sync_on_assign(void *arg, lw_bus_consumer_t *c, const lw_bus_partition_t *parts,
                           size_t n)
{
    (void)c;
    (void)parts;
    (void)n;
    /* Changes published before our partitions were assigned are not delivered to a new
     * private group: read them from PostgreSQL instead. */
    sync_reload(arg);
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

void tn_sync_init(tn_t *tn, uv_loop_t *loop)
{
    uv_timer_init(loop, &tn->refresh);
    tn->refresh.data = tn;
}

int tn_sync_start(tn_t *tn, lw_err_t *err)
{
    char topic[128];
    const char *topics[] = {lw_bus_topic(tn->bus, "tenant", topic, sizeof topic)};
    if (lw_bus_ensure_topics(tn->bus, topics, 1, err) != 0)
        return -1;
    static const lw_bus_handler_t handler = {.on_message = sync_on_message,
                                             .on_assign = sync_on_assign};
    const char *names[] = {"tenant"};
    /* Every process reads lw.tenant from the start: changes older than what the registry
     * holds are ignored (updated_at_ms), and none published around the assignment is
     * missed. */
    static const lw_bus_sub_opts_t opts = {.from_beginning = true};
    tn->consumer = lw_bus_subscribe_opts(tn->bus, NULL, names, 1, &handler, tn, &opts, err);
    if (tn->consumer == NULL)
        return -1;
    sync_reload(tn);
    uint64_t every = (uint64_t)tn->settings.refresh_ms;
    uv_timer_start(&tn->refresh, sync_on_refresh, every, every);
    return 0;
}

void tn_sync_stop(tn_t *tn)
{
    tn->stopping = true;
    uv_timer_stop(&tn->refresh);
    if (!uv_is_closing((uv_handle_t *)&tn->refresh))
        uv_close((uv_handle_t *)&tn->refresh, NULL);
}
