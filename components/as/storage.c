/* The Storage Integration's writer: consumer group "as.storage" on lw.as.up (every AS process
 * a member: the partitions, and with them the devices, are shared out), each ApplicationUp a
 * row of its tenant's as_stored_up.
 *
 * Behind the hot path: a message only joins its tenant's batch in memory. A flush (every
 * as.storage.flush-interval, or at once when as.storage.batch-size rows wait) writes each
 * tenant's rows in multi-row INSERTs of at most batch-size rows, all tenants at once, one
 * flush at a time; the offsets of the flush's messages are committed only once every one of
 * its statements is in (a statement that could not reach PostgreSQL is tried again, the
 * offsets wait). A copy the bus redelivers (a crash between the INSERT and the commit) has
 * the same envelope id and is dropped by the table's key. Statements go ST_IN_FLIGHT at a
 * time. More than as.storage.max-pending rows waiting (PostgreSQL down, a burst): the bus has
 * no pause, so new messages are left unwritten, counted, and their partitions' commits stop
 * there, so that a restart or rebalance replays them (lost for this process only).
 *
 * Which messages: as.storage.enable `associations` (The Things Stack: an application with a
 * default association of the storage-integration package, or a device with an association,
 * decided by the INSERT itself), `all`, or `off`.
 *
 * Retention: every as.storage.retention-interval one pass over the tenant schemas deletes rows
 * older than as.storage.retention in DELETEs of at most as.storage.retention-batch rows, one
 * statement at a time. as.storage.max-per-device (when set): after each INSERT the devices it
 * wrote keep their newest that many (one DELETE over the device index), before the offsets
 * are committed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "as/storage_private.h"
#include "cluster/hex.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "cluster/uid.h"
#include "tenant/tenant.h"

#define ST_RETRY_MS 1000u
#define ST_IN_FLIGHT                                                                               \
    4u /* INSERTs of a flush at once: the rest wait their turn, never in                           \
        * the pool's queue, where db.query-timeout would fail them */
#define ST_SCHEMA_QUOTE (TN_SCHEMA_MAX + 8)

static const char *const st_enable_choices[] = {"associations", "all", "off", NULL};

const lw_cfg_opt_t as_storage_config[] = {
    {.key = "as.storage.enable",
     .type = LW_CFG_ENUM,
     .def = "associations",
     .choices = st_enable_choices,
     .help = "Which upstream messages the Storage Integration keeps: `associations` (as The "
             "Things Stack: applications with a default association, and devices with an "
             "association, of the storage-integration package), `all` (every application), "
             "`off`."},
    {.key = "as.storage.retention",
     .type = LW_CFG_DURATION,
     .def = "720h",
     .min = 1000,
     .max = 100LL * 365 * 24 * 3600 * 1000,
     .help = "How long stored messages are kept (by received_at)."},
    {.key = "as.storage.retention-interval",
     .type = LW_CFG_DURATION,
     .def = "1m",
     .min = 100,
     .max = 24LL * 3600 * 1000,
     .help = "How often the retention pass runs over the tenants."},
    {.key = "as.storage.retention-batch",
     .type = LW_CFG_INT,
     .def = "1000",
     .min = 1,
     .max = 100000,
     .help = "Rows one retention DELETE removes at most (statements follow each other)."},
    {.key = "as.storage.max-per-device",
     .type = LW_CFG_INT,
     .def = "0",
     .min = 0,
     .max = 100000000,
     .help = "Messages kept per device (all types together), the newest: trimmed right after "
             "each batch for the devices it wrote. 0: no cap."},
    {.key = "as.storage.batch-size",
     .type = LW_CFG_INT,
     .def = "500",
     .min = 1,
     .max = 5000,
     .help = "Rows of one INSERT (a tenant's messages of a flush, in statements of this size)."},
    {.key = "as.storage.flush-interval",
     .type = LW_CFG_DURATION,
     .def = "500ms",
     .min = 1,
     .max = 60000,
     .help = "Longest a message waits in memory before its batch is written."},
    {.key = "as.storage.max-pending",
     .type = LW_CFG_INT,
     .def = "100000",
     .min = 1,
     .max = 10000000,
     .help = "Rows waiting to be written at most (PostgreSQL slow or away, a burst); beyond, "
             "messages are left unwritten and counted "
             "(lwstack_as_storage_dropped_total{reason=\"backlog\"}), and the offsets of their "
             "partitions are no longer committed: the next owner (restart, rebalance) "
             "replays them."},
    {.key = "as.storage.default-limit",
     .type = LW_CFG_INT,
     .def = "100",
     .min = 1,
     .max = 100000,
     .help = "Messages a query answers when it sets no `limit`."},
    {.key = "as.storage.max-limit",
     .type = LW_CFG_INT,
     .def = "10000",
     .min = 1,
     .max = 1000000,
     .help = "Largest `limit` of a query (a larger one is lowered to it)."},
    {.key = "as.storage.query-page",
     .type = LW_CFG_INT,
     .def = "500",
     .min = 1,
     .max = 10000,
     .help = "Rows a query reads per statement: an answer of more is streamed page by page, "
             "the next read once the client has taken the previous."},
};
const size_t as_storage_config_len = sizeof as_storage_config / sizeof as_storage_config[0];

typedef enum { ST_ASSOCIATIONS = 0, ST_ALL, ST_OFF } st_enable_t;

typedef struct st_row {
    char uid[33];
    char app[TN_ID_MAX + 1], dev[TN_ID_MAX + 1];
    const char *type; /* static (as_up_type_name) */
    char at[40];
    char *json; /* owned */
} st_row_t;

typedef struct st_batch {
    struct st_batch *next;
    char tenant[TN_ID_MAX + 1];
    st_row_t *rows;
    size_t n, cap;
} st_batch_t;

/* The messages of one flush: their rows by tenant; their offsets are in the commit queue
 * with the flush's number (generation). */
typedef struct st_gen {
    st_batch_t *batches;
    size_t rows;
    size_t msgs; /* messages, rows or not */
} st_gen_t;

/* One INSERT of a flush: rows [from, from + n) of a batch. */
typedef struct st_stmt {
    struct st_stmt *next;
    struct as_storage *s;
    st_batch_t *b;
    size_t from, n;
} st_stmt_t;

struct as_storage {
    as_t *as;
    st_enable_t enable;
    int64_t retention_ms, retention_interval_ms;
    long long retention_batch, max_per_device;
    size_t batch_size, max_pending;
    uint64_t flush_ms;
    as_storage_limits_t limits;

    lw_bus_consumer_t *c;
    lw_bus_commitq_t q;
    uint64_t gen; /* the number of the pending generation (flushes before it: gen - 1) */
    st_gen_t pending;
    st_gen_t *flushing; /* the flush in flight, NULL when none */
    unsigned stmts;     /* its statements in flight */
    st_stmt_t *queue;   /* its statements waiting to be sent */
    st_stmt_t *retry;   /* its statements to try again */
    bool pumping;
    bool backlog; /* over max-pending: messages are left for a replay */
    uint64_t backlog_n;
    bool failed; /* a statement of it could not be written (stopping: given up) */

    uv_timer_t flush_timer, retry_timer, retention_timer;
    bool timers, started, stopping;

    /* retention pass */
    bool pass;       /* a pass is running */
    bool pass_query; /* one of its statements is in flight */
    char **schemas;  /* its schemas (quoted) */
    size_t nschemas, at;
    char cutoff[40]; /* received_at below this goes */

    lw_metric_t *m_written, *m_dropped, *m_deleted;
};

typedef struct as_storage as_storage_t;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* The rows an INSERT or DELETE touched. */
static double cmd_rows(const PGresult *res)
{
    const char *n = PQcmdTuples((PGresult *)res);
    return n != NULL && n[0] != '\0' ? atof(n) : 0;
}

static void count(lw_metric_t *m, const char *label, double n)
{
    const char *const v[] = {label, NULL};
    lw_metric_add(m, v, n);
}

const as_storage_limits_t *as_storage_limits(const as_t *as)
{
    return &as->storage->limits;
}

/* ---- generations ------------------------------------------------------------------------- */

static void gen_clear(st_gen_t *g)
{
    st_batch_t *b = g->batches;
    while (b != NULL) {
        st_batch_t *next = b->next;
        for (size_t i = 0; i < b->n; i++)
            free(b->rows[i].json);
        free(b->rows);
        free(b);
        b = next;
    }
    memset(g, 0, sizeof *g);
}

/* msg belongs to the pending generation: its offset goes once that flush is in. */
static void gen_offset(as_storage_t *s, const lw_bus_msg_t *msg)
{
    lw_bus_commitq_done(lw_bus_commitq_add(&s->q, msg), s->gen);
    s->pending.msgs++;
}

static st_row_t *gen_row(st_gen_t *g, const char *tenant)
{
    st_batch_t *b = g->batches;
    while (b != NULL && strcmp(b->tenant, tenant) != 0)
        b = b->next;
    if (b == NULL) {
        b = lw_calloc(1, sizeof *b);
        snprintf(b->tenant, sizeof b->tenant, "%s", tenant);
        b->next = g->batches;
        g->batches = b;
    }
    if (b->n == b->cap) {
        b->cap = b->cap == 0 ? 64 : b->cap * 2;
        b->rows = lw_realloc(b->rows, b->cap * sizeof *b->rows);
    }
    g->rows++;
    st_row_t *r = &b->rows[b->n++];
    memset(r, 0, sizeof *r);
    return r;
}

/* ---- flushing ---------------------------------------------------------------------------- */

static void flush(as_storage_t *s);
static void stmt_send(st_stmt_t *st);

static void flush_done(as_storage_t *s)
{
    st_gen_t *g = s->flushing;
    /* Every statement is in (or, stopping, given up: then nothing is committed and the next
     * owner replays). The flush was generation s->gen - 1. */
    if (!s->failed)
        lw_bus_commitq_flush(&s->q, s->gen - 1);
    gen_clear(g);
    free(g);
    s->flushing = NULL;
    s->failed = false;
    if (s->pending.rows >= s->batch_size || (s->stopping && s->pending.msgs > 0))
        flush(s);
}

static void free_list(st_stmt_t **l)
{
    while (*l != NULL) {
        st_stmt_t *n = (*l)->next;
        free(*l);
        *l = n;
    }
}

static void retry_fire(uv_timer_t *t);

/* Every statement of the flush has settled: done, or some wait to be tried again. */
static void flush_settled(as_storage_t *s)
{
    if (s->retry == NULL) {
        flush_done(s);
        return;
    }
    if (s->stopping) { /* nothing more is tried: the offsets stay uncommitted */
        free_list(&s->retry);
        s->failed = true;
        flush_done(s);
        return;
    }
    uv_timer_start(&s->retry_timer, retry_fire, ST_RETRY_MS, 0);
}

/* Sends waiting statements, at most ST_IN_FLIGHT at once. */
static void pump(as_storage_t *s)
{
    if (s->pumping)
        return;
    s->pumping = true;
    while (s->stmts < ST_IN_FLIGHT && s->queue != NULL) {
        st_stmt_t *st = s->queue;
        s->queue = st->next;
        st->next = NULL;
        s->stmts++;
        stmt_send(st);
    }
    s->pumping = false;
    if (s->flushing != NULL && s->stmts == 0 && s->queue == NULL)
        flush_settled(s);
}

static void retry_fire(uv_timer_t *t)
{
    as_storage_t *s = t->data;
    if (s->flushing == NULL || s->stmts > 0 || s->retry == NULL)
        return;
    s->queue = s->retry;
    s->retry = NULL;
    pump(s);
}

static void stmt_settled(as_storage_t *s)
{
    s->stmts--;
    pump(s);
}

static void stmt_trimmed(void *arg, const PGresult *res, const lw_err_t *err)
{
    st_stmt_t *st = arg;
    as_storage_t *s = st->s;
    if (err == NULL) {
        count(s->m_deleted, "device_cap", cmd_rows(res));
    } else {
        lw_log_kv(LW_LOG_WARN, "as", "storage device cap failed",
                  LW_LOG_STR("tenant_id", st->b->tenant), LW_LOG_STR("error", lw_err_name(err)),
                  LW_LOG_STR("message", err->message));
    }
    free(st);
    stmt_settled(s);
}

/* as.storage.max-per-device: the devices of a statement just written keep their newest. */
static bool stmt_trim(st_stmt_t *st)
{
    as_storage_t *s = st->s;
    char schema[ST_SCHEMA_QUOTE];
    if (s->max_per_device <= 0 || as_store_schema(st->b->tenant, schema, sizeof schema) != 0)
        return false;
    /* IDs are [a-z0-9-]: array literals without quoting. */
    size_t cap = 2 + st->n * (TN_ID_MAX + 1);
    char *apps = lw_malloc(cap), *devs = lw_malloc(cap);
    size_t al = 0, dl = 0;
    apps[al++] = '{';
    devs[dl++] = '{';
    for (size_t i = 0; i < st->n; i++) {
        const st_row_t *r = &st->b->rows[st->from + i];
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            const st_row_t *q = &st->b->rows[st->from + j];
            seen = strcmp(q->app, r->app) == 0 && strcmp(q->dev, r->dev) == 0;
        }
        if (seen)
            continue;
        al += (size_t)snprintf(apps + al, cap - al, "%s%s", al > 1 ? "," : "", r->app);
        dl += (size_t)snprintf(devs + dl, cap - dl, "%s%s", dl > 1 ? "," : "", r->dev);
    }
    snprintf(apps + al, cap - al, "}");
    snprintf(devs + dl, cap - dl, "}");
    char sql[700], keep[24];
    snprintf(keep, sizeof keep, "%lld", s->max_per_device);
    snprintf(sql, sizeof sql,
             "DELETE FROM %s.as_stored_up WHERE uid IN (SELECT x.uid FROM unnest($1::text[], "
             "$2::text[]) AS d(a, v) CROSS JOIN LATERAL (SELECT uid FROM %s.as_stored_up u "
             "WHERE u.application_id = d.a AND u.device_id = d.v ORDER BY received_at DESC, "
             "uid DESC OFFSET $3::integer) x)",
             schema, schema);
    const char *p[] = {apps, devs, keep};
    int rc = lw_db_query(s->as->db, sql, 3, p, stmt_trimmed, st);
    free(apps);
    free(devs);
    return rc == 0;
}

static void stmt_written(void *arg, const PGresult *res, const lw_err_t *err)
{
    st_stmt_t *st = arg;
    as_storage_t *s = st->s;
    if (err == NULL) {
        double stored = cmd_rows(res);
        count(s->m_written, "stored", stored);
        count(s->m_written, "skipped", (double)st->n - stored);
        if (stmt_trim(st))
            return; /* settles once trimmed */
        free(st);
    } else if (err->def == &lw_err_db_unavailable) {
        st->next = s->retry; /* PostgreSQL away: again later, the offsets wait */
        s->retry = st;
    } else {
        /* The statement itself failed (a tenant deleted meanwhile: its schema is gone):
         * trying again would fail again. */
        count(s->m_dropped, "db_error", (double)st->n);
        lw_log_kv(LW_LOG_WARN, "as", "stored messages dropped",
                  LW_LOG_STR("tenant_id", st->b->tenant), LW_LOG_INT("rows", (long long)st->n),
                  LW_LOG_STR("error", lw_err_name(err)), LW_LOG_STR("message", err->message));
        free(st);
    }
    stmt_settled(s);
}

static void stmt_send(st_stmt_t *st)
{
    as_storage_t *s = st->s;
    char schema[ST_SCHEMA_QUOTE];
    if (as_store_schema(st->b->tenant, schema, sizeof schema) != 0) {
        count(s->m_dropped, "tenant", (double)st->n);
        free(st);
        stmt_settled(s);
        return;
    }
    size_t cap = 1024 + st->n * 64;
    char *sql = lw_malloc(cap);
    size_t len = (size_t)snprintf(sql, cap,
                                  "INSERT INTO %s.as_stored_up (uid, application_id, device_id, "
                                  "type, received_at, up) SELECT v.u::uuid, v.a, v.d, v.t, "
                                  "v.r::timestamptz, v.j::json FROM (VALUES ",
                                  schema);
    const char **params = lw_malloc(st->n * 6 * sizeof *params);
    for (size_t i = 0; i < st->n; i++) {
        const st_row_t *r = &st->b->rows[st->from + i];
        size_t k = i * 6;
        len += (size_t)snprintf(sql + len, cap - len, "%s($%zu,$%zu,$%zu,$%zu,$%zu,$%zu)",
                                i > 0 ? "," : "", k + 1, k + 2, k + 3, k + 4, k + 5, k + 6);
        params[k] = r->uid;
        params[k + 1] = r->app;
        params[k + 2] = r->dev;
        params[k + 3] = r->type;
        params[k + 4] = r->at;
        params[k + 5] = r->json;
    }
    len += (size_t)snprintf(sql + len, cap - len, ") AS v(u, a, d, t, r, j)");
    if (s->enable == ST_ASSOCIATIONS)
        len += (size_t)snprintf(sql + len, cap - len,
                                " WHERE EXISTS (SELECT 1 FROM %s.as_package_associations p WHERE "
                                "p.application_id = v.a AND p.device_id IN ('', v.d) AND "
                                "p.package_name = '" AS_STORAGE_PACKAGE "')",
                                schema);
    snprintf(sql + len, cap - len, " ON CONFLICT (uid) DO NOTHING");
    if (lw_db_query(s->as->db, sql, (int)(st->n * 6), params, stmt_written, st) != 0) {
        lw_err_t e;
        lw_err_clear(&e);
        lw_err_set(&e, &lw_err_db_unavailable, "the query cannot be queued");
        free(sql);
        free(params);
        stmt_written(st, NULL, &e);
        return;
    }
    free(sql);
    free(params);
}

/* Starts a flush of what is pending (one at a time). */
static void flush(as_storage_t *s)
{
    if (s->flushing != NULL || s->pending.msgs == 0)
        return;
    st_gen_t *g = lw_malloc(sizeof *g);
    *g = s->pending;
    memset(&s->pending, 0, sizeof s->pending);
    s->gen++; /* later messages belong to the next flush */
    s->flushing = g;
    s->failed = false;
    st_stmt_t **tail = &s->queue;
    for (st_batch_t *b = g->batches; b != NULL; b = b->next)
        for (size_t from = 0; from < b->n; from += s->batch_size) {
            st_stmt_t *st = lw_calloc(1, sizeof *st);
            st->s = s;
            st->b = b;
            st->from = from;
            st->n = b->n - from < s->batch_size ? b->n - from : s->batch_size;
            *tail = st;
            tail = &st->next;
        }
    pump(s); /* a flush of messages without rows settles at once */
}

static void flush_fire(uv_timer_t *t)
{
    as_storage_t *s = t->data;
    if (s->flushing == NULL)
        flush(s);
}

/* ---- the consumer ------------------------------------------------------------------------- */

static void on_message(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *msg)
{
    (void)c;
    as_storage_t *s = arg;
    if (s->stopping)
        return; /* not committed: replayed by the next owner */
    Lw__Msg__AsUp *m = NULL;
    const char *why = NULL;
    tn_tenant_t t;
    lw_err_t e;
    lw_err_clear(&e);
    if (lw_msg_as_up_decode(msg->value, msg->value_len, &m) != 0 || m->envelope == NULL)
        why = "invalid";
    else if (as_up_type_name(m->type) == NULL || m->json.len == 0)
        why = "type";
    else if (!lw_msg_tenant_id_valid(m->envelope->tenant_id) ||
             !tn_get(s->as->tn, m->envelope->tenant_id, &t) || t.deleted)
        why = "tenant";
    else if (tn_id_validate(m->application_id, 2, "application_id", &e) != 0 ||
             tn_id_validate(m->device_id, 2, "device_id", &e) != 0)
        why = "ids";
    else if (s->pending.rows + (s->flushing != NULL ? s->flushing->rows : 0) >= s->max_pending)
        why = "backlog";
    if (why != NULL && strcmp(why, "backlog") == 0) {
        /* Not written now, and its offset never committed by this consumer: the partition's
         * commits stop here, so the next owner (a restart, a rebalance) replays from it. */
        (void)lw_bus_commitq_add(&s->q, msg);
        count(s->m_dropped, why, 1);
        if (!s->backlog)
            lw_log_kv(LW_LOG_WARN, "as", "storage backlog full: messages left for a replay",
                      LW_LOG_UINT("max_pending", s->max_pending));
        s->backlog = true;
        s->backlog_n++;
        lw_msg_as_up_free(m);
        return;
    }
    if (why != NULL) {
        count(s->m_dropped, why, 1);
        gen_offset(s, msg); /* nothing to write: committed with the next flush */
        lw_msg_as_up_free(m);
        return;
    }
    if (s->backlog) {
        lw_log_kv(LW_LOG_WARN, "as", "storage backlog below max-pending again",
                  LW_LOG_UINT("left_for_replay", s->backlog_n));
        s->backlog = false;
    }
    st_row_t *r = gen_row(&s->pending, t.id);
    if (m->envelope->id.len == 16)
        lw_hex_encode(m->envelope->id.data, 16, r->uid);
    else if (strlen(msg->id) == 32)
        snprintf(r->uid, sizeof r->uid, "%s", msg->id);
    else {
        uint8_t id[LW_UID_LEN];
        lw_uid(id);
        lw_hex_encode(id, 16, r->uid);
    }
    snprintf(r->app, sizeof r->app, "%s", m->application_id);
    snprintf(r->dev, sizeof r->dev, "%s", m->device_id);
    r->type = as_up_type_name(m->type);
    as_time_text(m->received_at > 0 ? m->received_at : now_ns(), r->at);
    r->json = lw_malloc(m->json.len + 1);
    memcpy(r->json, m->json.data, m->json.len);
    r->json[m->json.len] = '\0';
    gen_offset(s, msg);
    lw_msg_as_up_free(m);
    if (s->pending.rows >= s->batch_size && s->flushing == NULL)
        flush(s);
}

static void on_revoke(void *arg, lw_bus_consumer_t *c, const lw_bus_partition_t *parts, size_t n)
{
    (void)c;
    as_storage_t *s = arg;
    /* Rows already batched are still written (the next owner's copies are dropped by uid);
     * their offsets are the next owner's to commit. */
    lw_bus_commitq_revoke(&s->q, parts, n);
}

/* ---- retention ---------------------------------------------------------------------------- */

static void pass_next(as_storage_t *s);

static void pass_end(as_storage_t *s)
{
    for (size_t i = 0; i < s->nschemas; i++)
        free(s->schemas[i]);
    free(s->schemas);
    s->schemas = NULL;
    s->nschemas = s->at = 0;
    s->pass = false;
}

static void pass_deleted(void *arg, const PGresult *res, const lw_err_t *err)
{
    as_storage_t *s = arg;
    s->pass_query = false;
    if (err != NULL) {
        lw_log_kv(LW_LOG_WARN, "as", "storage retention failed",
                  LW_LOG_STR("schema", s->schemas[s->at]), LW_LOG_STR("error", lw_err_name(err)),
                  LW_LOG_STR("message", err->message));
        s->at++;
    } else {
        double rows = cmd_rows(res);
        count(s->m_deleted, "retention", rows);
        if (rows < (double)s->retention_batch) /* this schema is done */
            s->at++;
    }
    pass_next(s);
}

static void pass_next(as_storage_t *s)
{
    if (s->stopping || s->at >= s->nschemas) {
        pass_end(s);
        return;
    }
    const char *schema = s->schemas[s->at];
    char sql[512], lim[24];
    snprintf(lim, sizeof lim, "%lld", s->retention_batch);
    snprintf(sql, sizeof sql,
             "DELETE FROM %s.as_stored_up WHERE uid IN (SELECT uid FROM %s.as_stored_up "
             "WHERE received_at < $1::timestamptz ORDER BY received_at LIMIT $2::integer)",
             schema, schema);
    const char *p[] = {s->cutoff, lim};
    int rc = lw_db_query(s->as->db, sql, 2, p, pass_deleted, s);
    if (rc != 0) {
        pass_end(s);
        return;
    }
    s->pass_query = true;
}

static void pass_schemas(void *arg, const PGresult *res, const lw_err_t *err)
{
    as_storage_t *s = arg;
    s->pass_query = false;
    if (err != NULL || s->stopping) {
        pass_end(s);
        return;
    }
    int n = PQntuples(res);
    s->schemas = lw_calloc((size_t)n + 1, sizeof *s->schemas);
    for (int i = 0; i < n; i++) {
        char q[ST_SCHEMA_QUOTE];
        if (lw_db_quote_ident(PQgetvalue(res, i, 0), q, sizeof q) == 0)
            s->schemas[s->nschemas++] = lw_strdup(q);
    }
    s->at = 0;
    pass_next(s);
}

static void retention_fire(uv_timer_t *t)
{
    as_storage_t *s = t->data;
    if (s->pass || s->stopping)
        return;
    int64_t now = now_ns();
    as_time_text(now - s->retention_ms * 1000000ll, s->cutoff);
    static const char sql[] = "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = "
                              "c.relnamespace WHERE c.relname = 'as_stored_up' AND c.relkind = "
                              "'r' ORDER BY 1";
    if (lw_db_query(s->as->db, sql, 0, NULL, pass_schemas, s) != 0)
        return;
    s->pass = true;
    s->pass_query = true;
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

int as_storage_init(as_t *as, lw_err_t *err)
{
    (void)err;
    lw_config_t *cfg = lw_rt_config(as->rt);
    as_storage_t *s = lw_calloc(1, sizeof *s);
    s->as = as;
    s->gen = 1;
    const char *e = lw_config_str(cfg, "as.storage.enable");
    s->enable = e != NULL && strcmp(e, "all") == 0   ? ST_ALL
                : e != NULL && strcmp(e, "off") == 0 ? ST_OFF
                                                     : ST_ASSOCIATIONS;
    s->retention_ms = lw_config_duration_ms(cfg, "as.storage.retention");
    s->retention_interval_ms = lw_config_duration_ms(cfg, "as.storage.retention-interval");
    s->retention_batch = lw_config_int(cfg, "as.storage.retention-batch");
    s->max_per_device = lw_config_int(cfg, "as.storage.max-per-device");
    s->batch_size = (size_t)lw_config_int(cfg, "as.storage.batch-size");
    s->flush_ms = (uint64_t)lw_config_duration_ms(cfg, "as.storage.flush-interval");
    s->max_pending = (size_t)lw_config_int(cfg, "as.storage.max-pending");
    s->limits.default_limit = (uint32_t)lw_config_int(cfg, "as.storage.default-limit");
    s->limits.max_limit = (uint32_t)lw_config_int(cfg, "as.storage.max-limit");
    s->limits.page_rows = (uint32_t)lw_config_int(cfg, "as.storage.query-page");
    if (s->limits.default_limit > s->limits.max_limit)
        s->limits.default_limit = s->limits.max_limit;
    static const char *const reason[] = {"reason", NULL};
    static const char *const result[] = {"result", NULL};
    s->m_written = lw_metrics_counter(as->metrics, "lwstack_as_storage_rows_total",
                                      "Rows the Storage Integration wrote (stored) or left out "
                                      "(skipped: no association, or a copy already stored)",
                                      result);
    s->m_dropped =
        lw_metrics_counter(as->metrics, "lwstack_as_storage_dropped_total",
                           "Messages the Storage Integration did not store, by reason", reason);
    s->m_deleted =
        lw_metrics_counter(as->metrics, "lwstack_as_storage_deleted_total",
                           "Stored messages removed, by reason (retention, device_cap)", reason);
    as->storage = s;
    return 0;
}

int as_storage_start(as_t *as, lw_err_t *err)
{
    as_storage_t *s = as->storage;
    if (s->enable != ST_OFF) {
        static const lw_bus_handler_t h = {.on_message = on_message, .on_revoke = on_revoke};
        const char *topics[] = {"as.up"};
        s->c = lw_bus_subscribe(as->bus, "as.storage", topics, 1, &h, s, err);
        if (s->c == NULL)
            return -1; /* nothing on the loop yet */
        s->q.consumer = s->c;
    }
    uv_timer_init(as->loop, &s->flush_timer);
    uv_timer_init(as->loop, &s->retry_timer);
    uv_timer_init(as->loop, &s->retention_timer);
    s->flush_timer.data = s->retry_timer.data = s->retention_timer.data = s;
    s->timers = true;
    if (s->c != NULL)
        uv_timer_start(&s->flush_timer, flush_fire, s->flush_ms, s->flush_ms);
    uv_timer_start(&s->retention_timer, retention_fire, (uint64_t)s->retention_interval_ms,
                   (uint64_t)s->retention_interval_ms);
    s->started = true;
    return 0;
}

void as_storage_stop(as_t *as)
{
    as_storage_t *s = as->storage;
    if (s == NULL || s->stopping)
        return;
    s->stopping = true;
    if (s->timers) { /* nothing starts a timer once stopping */
        uv_close((uv_handle_t *)&s->flush_timer, NULL);
        uv_close((uv_handle_t *)&s->retry_timer, NULL);
        uv_close((uv_handle_t *)&s->retention_timer, NULL);
        s->timers = false;
    }
    /* What waits in memory is written now (once the flush in flight, if any, is done). */
    if (s->flushing == NULL) {
        flush(s);
    } else if (s->stmts == 0 && s->queue == NULL && s->retry != NULL) {
        free_list(&s->retry); /* waiting to try again: given up */
        s->failed = true;
        flush_done(s);
    }
}

bool as_storage_idle(const as_t *as)
{
    const as_storage_t *s = as->storage;
    return s == NULL || (s->flushing == NULL && !s->pass_query);
}

void as_storage_free(as_t *as)
{
    as_storage_t *s = as->storage;
    if (s == NULL)
        return;
    gen_clear(&s->pending);
    if (s->flushing != NULL) {
        gen_clear(s->flushing);
        free(s->flushing);
    }
    free_list(&s->retry);
    free_list(&s->queue);
    pass_end(s);
    lw_bus_commitq_free(&s->q);
    as->storage = NULL;
    free(s);
}
