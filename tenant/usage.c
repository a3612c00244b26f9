/* Usage metering, the producer side (tenant/usage.h): UsageBatch on its protobuf-c code, and
 * the process's accumulator on the loop (the interval timer, publication on lw.usage, the
 * flush at stop). The counting itself is usage_acc.c. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "cluster/clock.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "tenant/tenant_private.h"
#include "tenant/usage_private.h"
#include "usage.pb-c.h"

/* ---- the message ------------------------------------------------------------------------- */

static void batch_msg(const tn_usage_batch_t *b, Lwstack__Tenant__UsageBatch *m)
{
    lwstack__tenant__usage_batch__init(m);
    m->id.data = (uint8_t *)b->id;
    m->id.len = sizeof b->id;
    m->tenant_id = (char *)b->tenant_id;
    m->producer = (char *)b->producer;
    m->interval_start = b->interval_start_ms;
    m->interval_end = b->interval_end_ms;
    m->uplinks = b->uplinks;
    m->downlinks = b->downlinks;
    m->join_accepts = b->join_accepts;
    m->n_active_devices = b->n_active_devices;
    m->active_devices = b->active_devices;
}

size_t tn_usage_batch_size(const tn_usage_batch_t *b)
{
    Lwstack__Tenant__UsageBatch m;
    batch_msg(b, &m);
    return lwstack__tenant__usage_batch__get_packed_size(&m);
}

size_t tn_usage_batch_encode(const tn_usage_batch_t *b, uint8_t *buf, size_t cap)
{
    Lwstack__Tenant__UsageBatch m;
    batch_msg(b, &m);
    if (lwstack__tenant__usage_batch__get_packed_size(&m) > cap)
        return 0;
    return lwstack__tenant__usage_batch__pack(&m, buf);
}

/* An entity ID as the registry writes them: lowercase letters, digits and inner dashes. */
static bool id_part_ok(const char *s, size_t n)
{
    if (n == 0 || n > TN_ID_MAX || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-')
            return false;
    return true;
}

static bool device_ok(const char *s)
{
    const char *slash = strchr(s, '/');
    return slash != NULL && id_part_ok(s, (size_t)(slash - s)) &&
           id_part_ok(slash + 1, strlen(slash + 1));
}

int tn_usage_batch_decode(const void *buf, size_t len, tn_usage_batch_t *out, const char **why)
{
    memset(out, 0, sizeof *out);
    Lwstack__Tenant__UsageBatch *m = lwstack__tenant__usage_batch__unpack(NULL, len, buf);
    const char *bad = NULL;
    lw_err_t e;
    if (m == NULL) {
        *why = "not a UsageBatch";
        return -1;
    }
    if (m->id.len != TN_USAGE_ID_LEN)
        bad = "id is not 16 bytes";
    else if (tn_id_validate(m->tenant_id, 1, "tenant_id", &e) != 0)
        bad = "invalid tenant_id";
    else if (strlen(m->producer) > TN_USAGE_PRODUCER_MAX)
        bad = "producer too long";
    else if (m->interval_end <= m->interval_start)
        bad = "interval_end not after interval_start";
    else if (m->n_active_devices > TN_USAGE_BATCH_DEVICES_MAX)
        bad = "more than 4096 active_devices";
    for (size_t i = 0; bad == NULL && i < m->n_active_devices; i++)
        if (!device_ok(m->active_devices[i]))
            bad = "an active_devices entry is not <application_id>/<device_id>";
    if (bad == NULL) {
        memcpy(out->id, m->id.data, TN_USAGE_ID_LEN);
        snprintf(out->tenant_id, sizeof out->tenant_id, "%s", m->tenant_id);
        snprintf(out->producer, sizeof out->producer, "%s", m->producer);
        out->interval_start_ms = m->interval_start;
        out->interval_end_ms = m->interval_end;
        out->uplinks = m->uplinks;
        out->downlinks = m->downlinks;
        out->join_accepts = m->join_accepts;
        out->n_active_devices = m->n_active_devices;
        if (m->n_active_devices > 0) {
            out->active_devices = lw_malloc(m->n_active_devices * sizeof *out->active_devices);
            for (size_t i = 0; i < m->n_active_devices; i++)
                out->active_devices[i] = lw_strdup(m->active_devices[i]);
        }
    }
    lwstack__tenant__usage_batch__free_unpacked(m, NULL);
    *why = bad;
    return bad == NULL ? 0 : -1;
}

void tn_usage_batch_destroy(tn_usage_batch_t *b)
{
    for (size_t i = 0; i < b->n_active_devices && b->active_devices != NULL; i++)
        free(b->active_devices[i]);
    free(b->active_devices);
    b->active_devices = NULL;
    b->n_active_devices = 0;
}

/* ---- the process's accumulator ---------------------------------------------------------- */

struct tn_usage {
    uv_loop_t *loop;
    lw_bus_t *bus;
    tn_usage_acc_t *acc;
    int64_t interval_ms;
    uv_timer_t timer;
    bool timer_open, stopped;
    char components[64];
    char where[160]; /* "@<host>:<pid>" */
    tn_usage_stats_t stats;
    lw_metric_series_t *m_counted[3], *m_batches, *m_early, *m_failed;
};

static const lw_rt_key_t usage_service_key = {.name = "usage accumulator"};

tn_usage_t *tn_usage_from_runtime(lw_rt_t *rt)
{
    return lw_rt_service(rt, &usage_service_key);
}

void tn_usage_producer_add(tn_usage_t *u, const char *component)
{
    if (u == NULL)
        return;
    size_t have = strlen(u->components);
    snprintf(u->components + have, sizeof u->components - have, "%s%s", have > 0 ? "+" : "",
             component);
}

void tn_usage_stats(const tn_usage_t *u, tn_usage_stats_t *out)
{
    *out = u != NULL ? u->stats : (tn_usage_stats_t){0};
}

static void usage_emit(void *arg, tn_usage_batch_t *b, bool early)
{
    tn_usage_t *u = arg;
    RAND_bytes(b->id, sizeof b->id);
    snprintf(b->producer, sizeof b->producer, "%s%s", u->components[0] ? u->components : "lwstack",
             u->where);
    uint8_t stack[1024];
    size_t need = tn_usage_batch_size(b);
    uint8_t *buf = need <= sizeof stack ? stack : lw_malloc(need);
    size_t len = tn_usage_batch_encode(b, buf, need);
    lw_err_t err;
    if (lw_bus_publish(u->bus, TN_USAGE_TOPIC, b->tenant_id, strlen(b->tenant_id), buf, len,
                       &err) != 0) {
        /* The bus's queue is full or it is gone: these counts are lost. Said loudly, since
         * an operator bills from them. */
        u->stats.failed++;
        lw_metric_series_add(u->m_failed, 1);
        lw_log_kv(LW_LOG_ERROR, "tenant", "usage batch not published, its counts are lost",
                  LW_LOG_STR("tenant_id", b->tenant_id), LW_LOG_UINT("uplinks", b->uplinks),
                  LW_LOG_UINT("downlinks", b->downlinks),
                  LW_LOG_UINT("join_accepts", b->join_accepts), LW_LOG_STR("error", err.message));
    } else {
        u->stats.batches++;
        lw_metric_series_add(u->m_batches, 1);
        if (early) {
            u->stats.early++;
            lw_metric_series_add(u->m_early, 1);
        }
    }
    if (buf != stack)
        free(buf);
}

void tn_usage_count(tn_usage_t *u, const char *tenant_id, tn_usage_kind_t kind,
                    const char *application_id, const char *device_id, uint64_t n)
{
    if (u == NULL || u->stopped || (unsigned)kind > TN_USAGE_JOIN_ACCEPT)
        return;
    u->stats.counted += n;
    lw_metric_series_add(u->m_counted[kind], (double)n);
    tn_usage_acc_count(u->acc, lw_clock_wall_ms(), tenant_id, kind, application_id, device_id, n);
}

static void usage_tick(uv_timer_t *t)
{
    tn_usage_t *u = t->data;
    int64_t now = lw_clock_wall_ms();
    tn_usage_acc_flush(u->acc, now);
    int64_t end = tn_usage_interval_start(now, u->interval_ms) + u->interval_ms;
    /* One millisecond past the boundary, so the flush finds the clock in the next interval. */
    uv_timer_start(&u->timer, usage_tick, (uint64_t)(end - now) + 1, 0);
}

static const lw_cfg_opt_t usage_config_opts[] = {
    {.key = "usage.interval",
     .type = LW_CFG_DURATION,
     .def = "10s",
     .min = 100,
     .max = 3600000,
     .help = "How often each process publishes its metered usage (uplinks, downlinks, "
             "join-accepts, active devices) per tenant on lw.usage, aligned to the wall "
             "clock. tbs.metering.period must be a multiple of it."},
};

int tn_usage_config_register(lw_config_t *cfg)
{
    return lw_config_register(cfg, "tenant", usage_config_opts,
                              sizeof usage_config_opts / sizeof usage_config_opts[0]);
}

tn_usage_t *tn_usage_new(lw_rt_t *rt, lw_err_t *err)
{
    tn_usage_t *u = lw_calloc(1, sizeof *u);
    u->loop = lw_rt_loop(rt);
    u->bus = lw_rt_bus(rt);
    u->interval_ms = lw_config_duration_ms(lw_rt_config(rt), "usage.interval");
    u->acc = tn_usage_acc_new(u->interval_ms, TN_USAGE_BATCH_DEVICES_MAX, usage_emit, u);
    char host[128] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(u->where, sizeof u->where, "@%s:%ld", host, (long)getpid());
    lw_metrics_t *mx = lw_rt_metrics(rt);
    lw_metric_t *counted = lw_metrics_counter(mx, "lwstack_usage_counted_total",
                                              "Usage events metered by this process",
                                              (const char *const[]){"kind", NULL});
    static const char *const kinds[] = {"uplink", "downlink", "join_accept"};
    for (size_t i = 0; i < 3; i++)
        u->m_counted[i] = lw_metric_series(counted, (const char *const[]){kinds[i], NULL});
    u->m_batches = lw_metric_series(lw_metrics_counter(mx, "lwstack_usage_batches_total",
                                                       "Usage batches published on lw.usage", NULL),
                                    NULL);
    u->m_early = lw_metric_series(
        lw_metrics_counter(mx, "lwstack_usage_batches_early_total",
                           "Usage batches published before their interval ended because "
                           "the tenant's active-device set was full",
                           NULL),
        NULL);
    u->m_failed = lw_metric_series(
        lw_metrics_counter(mx, "lwstack_usage_batches_failed_total",
                           "Usage batches the bus refused (their counts are lost)", NULL),
        NULL);
    if (lw_rt_provide(rt, &usage_service_key, u, err) != 0) {
        tn_usage_acc_free(u->acc);
        free(u);
        return NULL;
    }
    return u;
}

int tn_usage_start(tn_usage_t *u, lw_err_t *err)
{
    int rc = uv_timer_init(u->loop, &u->timer);
    if (rc != 0)
        return lw_err_set(err, &lw_err_internal, "usage timer: %s", uv_strerror(rc));
    u->timer.data = u;
    u->timer_open = true;
    int64_t now = lw_clock_wall_ms();
    tn_usage_acc_flush(u->acc, now); /* nothing yet: starts the interval */
    int64_t end = tn_usage_interval_start(now, u->interval_ms) + u->interval_ms;
    uv_timer_start(&u->timer, usage_tick, (uint64_t)(end - now) + 1, 0);
    return 0;
}

void tn_usage_stop(tn_usage_t *u)
{
    if (u == NULL || u->stopped)
        return;
    /* The servers have stopped (they stop before the tenant component): their last counts
     * go now, and the bus flushes its queue after the components. */
    tn_usage_acc_flush(u->acc, lw_clock_wall_ms());
    u->stopped = true;
    if (u->timer_open) {
        uv_timer_stop(&u->timer);
        uv_close((uv_handle_t *)&u->timer, NULL);
    }
}

void tn_usage_free(tn_usage_t *u)
{
    if (u == NULL)
        return;
    tn_usage_acc_free(u->acc);
    free(u);
}
