#include "cluster/runtime.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/log.h"
#include "cluster/mem.h"

/* How long a clean stop may take before the process gives up on it (issue 2: exit within
 * 5 s of SIGTERM). */
#define LW_RT_STOP_DEADLINE_MS 4500u

static const char *const rt_log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const rt_log_formats[] = {"logfmt", "json", NULL};

static const lw_cfg_opt_t rt_config[] = {
    {.key = "log.level",
     .type = LW_CFG_ENUM,
     .def = "info",
     .choices = rt_log_levels,
     .help = "Minimum level of log lines."},
    {.key = "log.format",
     .type = LW_CFG_ENUM,
     .def = "logfmt",
     .choices = rt_log_formats,
     .help = "Log line format: logfmt or JSON lines."},
    {.key = "db.uri",
     .type = LW_CFG_STRING,
     .flags = LW_CFG_SECRET,
     .help = "PostgreSQL connection URI or libpq connection string (may hold a password)."},
    {.key = "db.pool-size",
     .type = LW_CFG_INT,
     .def = "4",
     .min = 1,
     .max = 256,
     .help = "PostgreSQL connections per process."},
    {.key = "db.query-timeout",
     .type = LW_CFG_DURATION,
     .def = "5s",
     .min = 1,
     .max = 3600000,
     .help = "How long a query may wait for a connection before failing."},
    {.key = "db.migrations-dir",
     .type = LW_CFG_STRING,
     .help = "Folder with control/ and tenant/ migrations; unset: the ones built in."},
    {.key = "runtime.workers",
     .type = LW_CFG_INT,
     .def = "4",
     .min = 1,
     .max = LW_WORK_MAX_THREADS,
     .help = "Threads of the worker pool (password hashing, payload formatters, imports)."},
    {.key = "runtime.stop-deadline",
     .type = LW_CFG_DURATION,
     .def = "4500ms",
     .help = "Longest a clean stop (SIGTERM) may take: the components' last writes, "
             "handing partitions over, closing the bus; beyond it the process exits 1."},
    {.key = "runtime.memory-trim-interval",
     .type = LW_CFG_DURATION,
     .def = "30s",
     .help = "How often the C heap's free memory is handed back to the system when at least "
             "16 MiB of it is free (malloc_trim on the worker pool): after a burst, what "
             "the allocator kept stops counting in the RSS. 0: never."},
    {.key = "runtime.work-queue",
     .type = LW_CFG_INT,
     .def = "1024",
     .min = 1,
     .max = 1000000,
     .help = "Jobs that may wait for a worker thread; beyond it work is refused (503)."},
};

int lw_rt_config_register(lw_config_t *cfg)
{
    lw_config_register(cfg, "runtime", rt_config, sizeof rt_config / sizeof rt_config[0]);
    lw_http_config_register(cfg);
    lw_bus_config_register(cfg);
    return 0;
}

typedef struct rt_comp {
    const lw_component_t *comp;
    void *state;
    bool started;
} rt_comp_t;

/* Services published by components (see runtime.h); a handful per process. */
#define LW_RT_MAX_SERVICES 16

typedef struct rt_service {
    const lw_rt_key_t *key;
    void *service;
} rt_service_t;

struct lw_rt {
    uv_loop_t loop;
    lw_config_t *cfg;
    lw_metrics_t *metrics;
    lw_db_t *db;
    lw_bus_t *bus;
    lw_http_t *http;
    lw_work_pool_t *work;
    bool work_closed;
    rt_comp_t comps[32];
    size_t ncomps;
    rt_service_t services[LW_RT_MAX_SERVICES];
    size_t nservices;
    uv_signal_t sigint, sigterm;
    uv_timer_t deadline;
    uv_timer_t trim;
    bool trimming; /* a malloc_trim job is queued or running */
    bool stopping;
    size_t stop_index; /* components still to stop, counting down */
    lw_metric_t *m_ready;
    lw_metric_t *m_db_conns, *m_db_waiting, *m_db_requests, *m_db_failures;
    lw_metric_t *m_resident, *m_heap;
};

lw_rt_t *lw_rt_new(lw_config_t *cfg, lw_err_t *err)
{
    lw_log_level_t level = LW_LOG_INFO;
    lw_log_format_t format = LW_LOG_LOGFMT;
    lw_log_level_parse(lw_config_str(cfg, "log.level"), &level);
    lw_log_format_parse(lw_config_str(cfg, "log.format"), &format);
    lw_log_setup(level, format);

    lw_rt_t *rt = lw_calloc(1, sizeof *rt);
    if (uv_loop_init(&rt->loop) != 0) {
        free(rt);
        lw_err_set(err, &lw_err_internal, "cannot create the event loop");
        return NULL;
    }
    rt->cfg = cfg;
    rt->metrics = lw_metrics_new();
    return rt;
}

int lw_rt_add(lw_rt_t *rt, const lw_component_t *comp, lw_err_t *err)
{
    if (rt->ncomps == sizeof rt->comps / sizeof rt->comps[0])
        return lw_err_set(err, &lw_err_internal, "too many components");
    for (size_t i = 0; i < rt->ncomps; i++)
        if (rt->comps[i].comp == comp)
            return 0;
    rt->comps[rt->ncomps++] = (rt_comp_t){.comp = comp};
    return 0;
}

uv_loop_t *lw_rt_loop(lw_rt_t *rt)
{
    return &rt->loop;
}
lw_config_t *lw_rt_config(lw_rt_t *rt)
{
    return rt->cfg;
}
lw_db_t *lw_rt_db(lw_rt_t *rt)
{
    return rt->db;
}
lw_bus_t *lw_rt_bus(lw_rt_t *rt)
{
    return rt->bus;
}
lw_http_t *lw_rt_http(lw_rt_t *rt)
{
    return rt->http;
}
lw_metrics_t *lw_rt_metrics(lw_rt_t *rt)
{
    return rt->metrics;
}
lw_work_pool_t *lw_rt_work(lw_rt_t *rt)
{
    return rt->work;
}

int lw_rt_provide(lw_rt_t *rt, const lw_rt_key_t *key, void *service, lw_err_t *err)
{
    for (size_t i = 0; i < rt->nservices; i++)
        if (rt->services[i].key == key)
            return lw_err_set(err, &lw_err_internal, "%s provided twice", key->name);
    if (rt->nservices == LW_RT_MAX_SERVICES)
        return lw_err_set(err, &lw_err_internal, "too many services (%s)", key->name);
    rt->services[rt->nservices++] = (rt_service_t){.key = key, .service = service};
    return 0;
}

void *lw_rt_service(lw_rt_t *rt, const lw_rt_key_t *key)
{
    for (size_t i = 0; i < rt->nservices; i++)
        if (rt->services[i].key == key)
            return rt->services[i].service;
    return NULL;
}

/* ---- health and metrics ---------------------------------------------------------------- */

static void rt_healthz(lw_http_req_t *req, void *arg)
{
    (void)arg;
    lw_http_respond_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

static void rt_readyz(lw_http_req_t *req, void *arg)
{
    lw_rt_t *rt = arg;
    bool db_ok = rt->db != NULL && lw_db_ready(rt->db);
    bool bus_ok = rt->bus != NULL && lw_bus_ready(rt->bus);
    json_t *body = json_pack("{s:s,s:s,s:s}", "status", "ready", "db", db_ok ? "up" : "down", "bus",
                             bus_ok ? "up" : "down");
    bool ok = db_ok && bus_ok && !rt->stopping;
    for (size_t i = 0; i < rt->ncomps; i++) {
        const rt_comp_t *c = &rt->comps[i];
        bool comp_ok = c->started && (c->comp->ready == NULL || c->comp->ready(c->state));
        if (!comp_ok) {
            /* Only components that are not ready are named, so the usual body stays short. */
            json_t *waiting = json_object_get(body, "waiting_for");
            if (waiting == NULL) {
                waiting = json_array();
                json_object_set_new(body, "waiting_for", waiting);
            }
            json_array_append_new(waiting, json_string(c->comp->name));
            ok = false;
        }
    }
    if (!ok)
        json_object_set_new(body, "status", json_string("not ready"));
    lw_http_respond_json(req, ok ? 200 : 503, body);
}

/* The process's memory as an operator sizes it: RSS (/proc/self/statm) and the C heap split
 * into what live allocations use and what the allocator holds free, so that growth from
 * data is told from growth from fragmentation. */
static void rt_memory_sample(lw_rt_t *rt)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f != NULL) {
        if (fscanf(f, "%lu %lu", &size, &resident) == 2)
            lw_metric_set(rt->m_resident, NULL, (double)resident * (double)sysconf(_SC_PAGESIZE));
        fclose(f);
    }
    struct mallinfo2 mi = mallinfo2();
    lw_metric_set(rt->m_heap, (const char *const[]){"in_use", NULL},
                  (double)(mi.uordblks + mi.hblkhd));
    lw_metric_set(rt->m_heap, (const char *const[]){"free", NULL}, (double)mi.fordblks);
}

static void rt_metrics(lw_http_req_t *req, void *arg)
{
    lw_rt_t *rt = arg;
    const char *db[] = {"db", NULL}, *bus[] = {"bus", NULL};
    lw_metric_set(rt->m_ready, db, rt->db != NULL && lw_db_ready(rt->db) ? 1 : 0);
    lw_metric_set(rt->m_ready, bus, rt->bus != NULL && lw_bus_ready(rt->bus) ? 1 : 0);
    if (rt->db != NULL) {
        lw_db_stats_t st;
        lw_db_stats(rt->db, &st);
        const char *up[] = {"up", NULL}, *busy[] = {"busy", NULL}, *tx[] = {"transaction", NULL},
                   *size[] = {"pool", NULL};
        lw_metric_set(rt->m_db_conns, size, st.connections);
        lw_metric_set(rt->m_db_conns, up, st.connections_up);
        lw_metric_set(rt->m_db_conns, busy, st.busy);
        lw_metric_set(rt->m_db_conns, tx, st.in_transaction);
        lw_metric_set(rt->m_db_waiting, NULL, (double)st.waiting);
        lw_metric_set(rt->m_db_requests, NULL, (double)st.requests);
        lw_metric_set(rt->m_db_failures, NULL, (double)st.failures);
    }
    rt_memory_sample(rt);
    char *text = NULL;
    long len = lw_metrics_render(rt->metrics, &text);
    if (len < 0) {
        lw_err_t err;
        lw_err_set(&err, &lw_err_internal, "cannot render metrics");
        lw_http_respond_err(req, &err);
        return;
    }
    lw_http_respond(req, 200, "text/plain; version=0.0.4", text, (size_t)len);
    free(text);
}

/* ---- stop ----------------------------------------------------------------------------- */

static void rt_close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void rt_stop_db_done(void *arg)
{
    lw_rt_t *rt = arg;
    lw_log(LW_LOG_INFO, "runtime", "stopped", NULL);
    rt_close_handle((uv_handle_t *)&rt->sigint);
    rt_close_handle((uv_handle_t *)&rt->sigterm);
    rt_close_handle((uv_handle_t *)&rt->deadline);
    rt_close_handle((uv_handle_t *)&rt->trim);
}

static void rt_stop_bus_done(void *arg)
{
    lw_rt_t *rt = arg;
    if (rt->db != NULL)
        lw_db_stop(rt->db, rt_stop_db_done, rt);
    else
        rt_stop_db_done(rt);
}

static void rt_stop_http_done(void *arg)
{
    lw_rt_t *rt = arg;
    if (rt->bus != NULL)
        lw_bus_stop(rt->bus, rt_stop_bus_done, rt);
    else
        rt_stop_bus_done(rt);
}

static void rt_stop_work_done(void *arg)
{
    lw_rt_t *rt = arg;
    rt->work_closed = true;
    if (rt->http != NULL)
        lw_http_stop(rt->http, rt_stop_http_done, rt);
    else
        rt_stop_http_done(rt);
}

static void rt_stop_next(void *arg)
{
    lw_rt_t *rt = arg;
    while (rt->stop_index > 0) {
        rt_comp_t *c = &rt->comps[--rt->stop_index];
        if (!c->started || c->comp->stop == NULL)
            continue;
        c->started = false;
        lw_log(LW_LOG_INFO, "runtime", "stopping component", "component", c->comp->name, NULL);
        c->comp->stop(c->state, rt_stop_next, rt);
        return;
    }
    /* Components are stopped: work still queued for them is canceled, running work is
     * delivered, then the shared services stop. */
    if (rt->work != NULL)
        lw_work_pool_close(rt->work, rt_stop_work_done, rt);
    else
        rt_stop_work_done(rt);
}

static void rt_deadline(uv_timer_t *t)
{
    (void)t;
    lw_log(LW_LOG_ERROR, "runtime", "clean stop took too long, exiting", NULL);
    _exit(1);
}

void lw_rt_shutdown(lw_rt_t *rt)
{
    if (rt->stopping)
        return;
    rt->stopping = true;
    uv_timer_stop(&rt->trim);
    lw_log(LW_LOG_INFO, "runtime", "stopping", NULL);
    long long deadline_ms = lw_config_duration_ms(rt->cfg, "runtime.stop-deadline");
    uv_timer_start(&rt->deadline, rt_deadline,
                   deadline_ms > 0 ? (uint64_t)deadline_ms : LW_RT_STOP_DEADLINE_MS, 0);
    uv_unref((uv_handle_t *)&rt->deadline);
    rt->stop_index = rt->ncomps;
    rt_stop_next(rt);
}

static void rt_on_signal(uv_signal_t *s, int signum)
{
    lw_rt_t *rt = s->data;
    if (rt->stopping) {
        lw_log(LW_LOG_WARN, "runtime", "second signal, exiting at once", NULL);
        _exit(128 + signum);
    }
    lw_log(LW_LOG_INFO, "runtime", "signal received", "signal",
           signum == SIGINT ? "SIGINT" : "SIGTERM", NULL);
    lw_rt_shutdown(rt);
}

/* ---- run ------------------------------------------------------------------------------- */

static void rt_metrics_register(lw_rt_t *rt)
{
    static const char *const ready_labels[] = {"dependency", NULL};
    rt->m_ready = lw_metrics_gauge(rt->metrics, "lwstack_dependency_ready",
                                   "1 while the dependency (db, bus) is reachable", ready_labels);

    static const char *const conn_labels[] = {"state", NULL};
    rt->m_db_conns = lw_metrics_gauge(rt->metrics, "lwstack_db_connections",
                                      "PostgreSQL pool connections by state", conn_labels);
    rt->m_db_waiting = lw_metrics_gauge(rt->metrics, "lwstack_db_waiting_queries",
                                        "Queries waiting for a PostgreSQL connection", NULL);
    rt->m_db_requests =
        lw_metrics_counter(rt->metrics, "lwstack_db_requests_total",
                           "PostgreSQL requests (queries and transaction steps)", NULL);
    rt->m_db_failures = lw_metrics_counter(rt->metrics, "lwstack_db_request_failures_total",
                                           "PostgreSQL requests that failed", NULL);
    rt->m_resident = lw_metrics_gauge(rt->metrics, "lwstack_process_resident_memory_bytes",
                                      "Resident set size of the process", NULL);
    static const char *const heap_labels[] = {"state", NULL};
    rt->m_heap = lw_metrics_gauge(
        rt->metrics, "lwstack_process_heap_bytes",
        "The C heap (glibc mallinfo2): in_use by live allocations, free but held by the "
        "allocator (fragmentation and arenas)",
        heap_labels);
}

/* ---- memory --------------------------------------------------------------------------- */

#define RT_TRIM_MIN_FREE ((size_t)16 << 20)

static void rt_trim_work(void *arg)
{
    (void)arg;
    malloc_trim(0);
}

static void rt_trim_done(void *arg, lw_work_status_t status)
{
    (void)status;
    lw_rt_t *rt = arg;
    rt->trimming = false;
}

/* glibc keeps what a burst freed (in every thread's arena) resident: with many MiB free,
 * malloc_trim hands the free pages back. On a pool thread: it walks every arena. */
static void rt_trim_tick(uv_timer_t *t)
{
    lw_rt_t *rt = t->data;
    if (rt->trimming || rt->stopping || rt->work == NULL || rt->work_closed)
        return;
    struct mallinfo2 mi = mallinfo2();
    if (mi.fordblks < RT_TRIM_MIN_FREE)
        return;
    lw_err_t err;
    if (lw_work_submit(rt->work, rt_trim_work, rt_trim_done, rt, NULL, &err) == 0)
        rt->trimming = true;
}

/* The shared services: the pool (started), the bus, the HTTP API with its own routes, the
 * worker pool. */
static int rt_services_new(lw_rt_t *rt, const lw_db_opts_t *dbo, lw_err_t *err)
{
    rt->db = lw_db_new(&rt->loop, dbo, err);
    if (rt->db == NULL || lw_db_start(rt->db, err) != 0)
        return -1;
    rt->bus = lw_bus_new(&rt->loop, rt->cfg, err);
    if (rt->bus == NULL)
        return -1;
    lw_bus_set_metrics(rt->bus, rt->metrics);
    rt->http = lw_http_new(&rt->loop, rt->cfg, err);
    if (rt->http == NULL)
        return -1;
    lw_http_set_metrics(rt->http, rt->metrics);
    lw_http_route(rt->http, "GET", "/healthz", rt_healthz, rt);
    lw_http_route(rt->http, "GET", "/readyz", rt_readyz, rt);
    lw_http_route(rt->http, "GET", "/metrics", rt_metrics, rt);
    rt->work = lw_work_pool_new(&rt->loop, (int)lw_config_int(rt->cfg, "runtime.workers"),
                                (size_t)lw_config_int(rt->cfg, "runtime.work-queue"), err);
    if (rt->work == NULL)
        return -1;
    long long trim_ms = lw_config_duration_ms(rt->cfg, "runtime.memory-trim-interval");
    if (trim_ms > 0) {
        uv_timer_start(&rt->trim, rt_trim_tick, (uint64_t)trim_ms, (uint64_t)trim_ms);
        uv_unref((uv_handle_t *)&rt->trim);
    }
    return 0;
}

/* Inits every component, then starts each in order. */
static int rt_components_start(lw_rt_t *rt, lw_err_t *err)
{
    for (size_t i = 0; i < rt->ncomps; i++) {
        rt_comp_t *c = &rt->comps[i];
        if (c->comp->init != NULL && c->comp->init(rt, &c->state, err) != 0) {
            lw_err_prefix(err, "component %s", c->comp->name);
            return -1;
        }
    }
    for (size_t i = 0; i < rt->ncomps; i++) {
        rt_comp_t *c = &rt->comps[i];
        if (c->comp->start != NULL && c->comp->start(c->state, err) != 0) {
            lw_err_prefix(err, "component %s", c->comp->name);
            return -1;
        }
        c->started = true;
        lw_log(LW_LOG_INFO, "runtime", "component started", "component", c->comp->name, NULL);
    }
    return 0;
}

int lw_rt_run(lw_rt_t *rt, lw_err_t *err)
{
    signal(SIGPIPE, SIG_IGN);
    uv_signal_init(&rt->loop, &rt->sigint);
    uv_signal_init(&rt->loop, &rt->sigterm);
    uv_timer_init(&rt->loop, &rt->deadline);
    uv_timer_init(&rt->loop, &rt->trim);
    rt->trim.data = rt;
    rt->sigint.data = rt->sigterm.data = rt;
    uv_signal_start(&rt->sigint, rt_on_signal, SIGINT);
    uv_signal_start(&rt->sigterm, rt_on_signal, SIGTERM);
    rt_metrics_register(rt);

    const char *uri = lw_config_str(rt->cfg, "db.uri");
    if (uri == NULL || *uri == '\0') {
        lw_err_set(err, &lw_err_config_invalid,
                   "`db.uri` is not set (flag --db.uri, variable LWSTACK_DB_URI)");
        lw_err_attr(err, "key", "db.uri");
        goto fail;
    }
    lw_db_opts_t dbo = {
        .uri = uri,
        .pool_size = (int)lw_config_int(rt->cfg, "db.pool-size"),
        .query_timeout_ms = lw_config_duration_ms(rt->cfg, "db.query-timeout"),
    };
    if (rt_services_new(rt, &dbo, err) != 0 || rt_components_start(rt, err) != 0)
        goto fail;
    if (lw_http_start(rt->http, err) != 0)
        goto fail;
    lw_log_kv(LW_LOG_INFO, "runtime", "listening", LW_LOG_INT("http_port", lw_http_port(rt->http)),
              LW_LOG_STR("bus", lw_bus_bootstrap(rt->bus)));

    uv_run(&rt->loop, UV_RUN_DEFAULT);
    return 0;

fail:
    lw_log(LW_LOG_ERROR, "runtime", "start-up failed", "error", lw_err_name(err), "message",
           err ? err->message : "", NULL);
    lw_rt_shutdown(rt);
    uv_run(&rt->loop, UV_RUN_DEFAULT);
    return -1;
}

static void rt_work_closed(void *arg)
{
    lw_rt_t *rt = arg;
    rt->work_closed = true;
}

static void rt_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void lw_rt_free(lw_rt_t *rt)
{
    if (rt == NULL)
        return;
    /* A pool whose stop never ran is closed first: its threads must end before the loop's
     * handles go, and closing it needs only its own async handle to fire. */
    if (rt->work != NULL && !rt->work_closed) {
        lw_work_pool_close(rt->work, rt_work_closed, rt);
        while (!rt->work_closed)
            uv_run(&rt->loop, UV_RUN_ONCE);
    }
    /* The HTTP server closes its own (h2o's) handles. */
    lw_http_free(rt->http);
    rt->http = NULL;
    /* Anything still open (a component that never started, a failed start-up) is closed
     * first, while the memory its handles live in still exists. */
    uv_walk(&rt->loop, rt_walk_close, NULL);
    uv_run(&rt->loop, UV_RUN_DEFAULT);
    for (size_t i = rt->ncomps; i > 0; i--) {
        rt_comp_t *c = &rt->comps[i - 1];
        if (c->state != NULL && c->comp->free != NULL)
            c->comp->free(c->state);
    }
    lw_http_free(rt->http);
    lw_bus_free(rt->bus);
    lw_db_free(rt->db);
    lw_work_pool_free(rt->work);
    uv_walk(&rt->loop, rt_walk_close, NULL);
    uv_run(&rt->loop, UV_RUN_DEFAULT);
    uv_loop_close(&rt->loop);
    lw_metrics_free(rt->metrics);
    free(rt);
}
