/* The usage ledger (issue 11 item 4): the consumer of lw.usage (group tbs.usage) that adds
 * each UsageBatch (tenant/usage.h) to lw_control.usage_ledger / usage_active /
 * usage_periods, and the closing of periods (migrations/control/0007_usage.sql).
 *
 * Exactly once. Each transaction applies a run of consecutive messages and writes, in the
 * same transaction, usage_offsets.next_offset of their partitions and the batches' ids
 * (usage_batches). The transaction first locks its partitions' offset rows and skips every
 * message below next_offset (already applied, by this process before a crash or by another
 * member before a rebalance), then skips the batch ids already applied (a producer that
 * published one batch twice). A partition assigned to this consumer starts at the offset
 * PostgreSQL holds (read at start, then kept by this process's own commits): Kafka's
 * committed offsets are written after each commit but only informational. So a SIGKILL at
 * any moment either loses the whole transaction (replayed after the restart) or none of it.
 *
 * Periods. A batch belongs to the period of tbs.metering.period that holds its
 * interval_start (periods start at multiples of the period since the Unix epoch; a batch
 * never spans two since the period is a multiple of usage.interval). A period of a tenant
 * is closed tbs.metering.close-delay after its end: its active_end_devices become the count
 * of usage_active, its registered end_devices, gateways and applications are counted in the
 * tenant's schema (the Identity Server's tables), closed_at is set and its usage_active rows
 * go. Its ledger rows are then final. A batch that arrives for a closed period is added to
 * the tenant's open period (the one holding now; logged with the reason, counted in
 * lwstack_tbs_usage_late_total, usage_batches.late), so totals stay exact.
 *
 * Speed: up to LEDGER_TX_MAX batches per transaction, nine statements whatever their
 * number (arrays through unnest). While more than LEDGER_QUEUE_MAX messages wait, the
 * consumer is paused. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing_private.h"
#include "cluster/clock.h"
#include "cluster/hex.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "tenant/usage.h"

#define LEDGER_GROUP     "tbs.usage"
#define LEDGER_TX_MAX    500
#define LEDGER_QUEUE_MAX 5000

typedef struct ledger_entry {
    int32_t partition;
    int64_t offset;
    bool valid; /* decoded; an invalid message only moves the offset */
    bool apply; /* set in the transaction: not applied before */
    bool late;
    int64_t period_s; /* where it is added (unix seconds) */
    tn_usage_batch_t batch;
} ledger_entry_t;

typedef struct ledger_offset {
    int32_t partition;
    int64_t next;
} ledger_offset_t;

/* A growable string for SQL array literals. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf_t;

struct billing_ledger {
    billing_t *b;
    lw_http_client_t *http; /* the usage API's questions to the IS (usage_api.c) */
    bool http_closed;
    lw_bus_consumer_t *consumer;
    char topic[128]; /* "lw.usage" */
    ledger_offset_t *offs;
    size_t noffs;
    bool subscribed, loading, paused, due;
    uint64_t tick_ms;
    uv_timer_t timer; /* retries of the start, then the closer */
    bool timer_open;
    /* FIFO of consumed messages not yet applied: q[qhead .. qn) */
    ledger_entry_t *q;
    size_t qhead, qn, qcap;
    /* the transaction in flight: entries q[qhead .. qhead + tx_n) */
    bool busy;
    lw_db_tx_t *tx;
    size_t tx_n;
    int step;
    int64_t now_period_s;
    /* closing */
    bool closing;
    char close_tenant[TN_ID_MAX + 1];
    int64_t close_period_s;
    bool stopping;
    lw_metric_series_t *m_applied, *m_events, *m_dup, *m_replayed, *m_late, *m_invalid, *m_closed,
        *m_tx;
    billing_ledger_stats_t stats;
};

/* ---- small helpers ----------------------------------------------------------------------- */

static void sb_add(sbuf_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf_t *s, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = s->cap - s->len;
        int n = vsnprintf(s->p != NULL ? s->p + s->len : NULL, s->p != NULL ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (s->p != NULL && (size_t)n < room) {
            s->len += (size_t)n;
            return;
        }
        s->cap = s->cap * 2 + (size_t)n + 256;
        s->p = lw_realloc(s->p, s->cap);
    }
}

/* Starts an array literal or adds its separator. Elements are IDs, devices, hex or
 * numbers: never a quote or a backslash (checked at decoding), so quoting is enough. */
static void sb_elem(sbuf_t *s)
{
    sb_add(s, "%s", s->len == 0 ? "{" : ",");
}

static const char *sb_end(sbuf_t *s)
{
    if (s->len == 0)
        sb_add(s, "{");
    sb_add(s, "}");
    return s->p;
}

static void sb_free(sbuf_t *s)
{
    free(s->p);
    *s = (sbuf_t){0};
}

/* Adds e's tenant to a and the period it goes to to b. */
static void sb_tenant_period(sbuf_t *a, sbuf_t *b, const ledger_entry_t *e)
{
    sb_elem(a);
    sb_add(a, "\"%s\"", e->batch.tenant_id);
    sb_elem(b);
    sb_add(b, "%" PRId64, e->period_s);
}

static int64_t period_of(const billing_ledger_t *l, int64_t t_ms)
{
    int64_t p = l->b->cfg.metering_period_ms;
    int64_t r = t_ms % p;
    if (r < 0)
        r += p;
    return (t_ms - r) / 1000;
}

static ledger_entry_t *tx_entry(billing_ledger_t *l, size_t i)
{
    return &l->q[l->qhead + i];
}

static void entry_destroy(ledger_entry_t *e)
{
    if (e->valid)
        tn_usage_batch_destroy(&e->batch);
}

static void ledger_offset_set(billing_ledger_t *l, int32_t partition, int64_t next)
{
    for (size_t i = 0; i < l->noffs; i++)
        if (l->offs[i].partition == partition) {
            if (next > l->offs[i].next)
                l->offs[i].next = next;
            return;
        }
    l->offs = lw_realloc(l->offs, (l->noffs + 1) * sizeof *l->offs);
    l->offs[l->noffs++] = (ledger_offset_t){.partition = partition, .next = next};
}

static void ledger_pump(billing_ledger_t *l);
static void ledger_close_next(billing_ledger_t *l);

/* ---- the apply transaction ---------------------------------------------------------------- */

static void tx_step(billing_ledger_t *l);

static void tx_fail(billing_ledger_t *l, const lw_err_t *err)
{
    lw_log(LW_LOG_WARN, "tbs", "usage ledger transaction failed, retried", "error",
           err != NULL ? err->message : "", NULL);
    lw_db_tx_rollback(l->tx, NULL, NULL);
    l->tx = NULL;
    l->busy = false;
    /* The entries stay queued: the next message or tick tries them again. */
}

static void tx_result(void *arg, const PGresult *res, const lw_err_t *err)
{
    billing_ledger_t *l = arg;
    if (err != NULL) {
        tx_fail(l, err);
        return;
    }
    switch (l->step) {
    case 2: /* the partitions' offset rows, locked */
        for (int r = 0; r < PQntuples(res); r++) {
            int32_t part = (int32_t)strtol(PQgetvalue(res, r, 0), NULL, 10);
            int64_t next = strtoll(PQgetvalue(res, r, 1), NULL, 10);
            for (size_t i = 0; i < l->tx_n; i++) {
                ledger_entry_t *e = tx_entry(l, i);
                if (e->partition == part && e->offset < next) {
                    e->apply = false;
                    l->stats.replayed++;
                    lw_metric_series_add(l->m_replayed, 1);
                }
            }
        }
        break;
    case 4: /* the natural periods: closed ones send their batches to the open period */
        for (int r = 0; r < PQntuples(res); r++) {
            const char *tenant = PQgetvalue(res, r, 0);
            int64_t ps = strtoll(PQgetvalue(res, r, 1), NULL, 10);
            bool closed = PQgetvalue(res, r, 2)[0] == 't';
            if (!closed)
                continue;
            for (size_t i = 0; i < l->tx_n; i++) {
                ledger_entry_t *e = tx_entry(l, i);
                if (e->apply && !e->late && e->period_s == ps &&
                    strcmp(e->batch.tenant_id, tenant) == 0) {
                    e->late = true;
                    e->period_s = l->now_period_s;
                }
            }
        }
        break;
    case 5: { /* the batch ids newly recorded: the others were applied before */
        /* A row comes back once per id recorded; an id twice in this run (a batch
         * published twice in a row) is recorded once, so only its first entry counts. */
        bool *fresh = lw_calloc(l->tx_n, sizeof *fresh);
        for (int r = 0; r < PQntuples(res); r++) {
            const char *id = PQgetvalue(res, r, 0);
            for (size_t i = 0; i < l->tx_n; i++) {
                ledger_entry_t *e = tx_entry(l, i);
                char hex[2 * TN_USAGE_ID_LEN + 1];
                if (!e->apply || fresh[i])
                    continue;
                lw_hex_encode(e->batch.id, sizeof e->batch.id, hex);
                if (strcmp(id, hex) == 0) {
                    fresh[i] = true;
                    break;
                }
            }
        }
        for (size_t i = 0; i < l->tx_n; i++) {
            ledger_entry_t *e = tx_entry(l, i);
            if (!e->apply || fresh[i])
                continue;
            char hex[2 * TN_USAGE_ID_LEN + 1];
            lw_hex_encode(e->batch.id, sizeof e->batch.id, hex);
            e->apply = false;
            l->stats.duplicates++;
            lw_metric_series_add(l->m_dup, 1);
            lw_log(LW_LOG_DEBUG, "tbs", "usage batch already applied, skipped", "batch_id", hex,
                   "tenant_id", e->batch.tenant_id, NULL);
        }
        free(fresh);
        break;
    }
    default:
        break;
    }
    l->step++;
    tx_step(l);
}

static void tx_committed(void *arg, const lw_err_t *err)
{
    billing_ledger_t *l = arg;
    l->tx = NULL;
    if (err != NULL) {
        tx_fail(l, err);
        return;
    }
    l->stats.transactions++;
    lw_metric_series_add(l->m_tx, 1);
    /* Durable: account, remember the offsets, tell Kafka (informational), drop the entries. */
    for (size_t i = 0; i < l->tx_n; i++) {
        ledger_entry_t *e = tx_entry(l, i);
        if (e->apply) {
            uint64_t events = e->batch.uplinks + e->batch.downlinks + e->batch.join_accepts;
            l->stats.applied++;
            l->stats.events += events;
            lw_metric_series_add(l->m_applied, 1);
            lw_metric_series_add(l->m_events, (double)events);
            if (e->late) {
                l->stats.late++;
                lw_metric_series_add(l->m_late, 1);
                lw_log(LW_LOG_WARN, "tbs",
                       "usage batch for a closed period added to the open period", "reason",
                       "period_closed", "tenant_id", e->batch.tenant_id, NULL);
            }
        }
        ledger_offset_set(l, e->partition, e->offset + 1);
        if (l->consumer != NULL) {
            lw_bus_msg_t m = {.topic = l->topic, .partition = e->partition, .offset = e->offset};
            lw_bus_commit(l->consumer, &m);
        }
        entry_destroy(e);
    }
    l->qhead += l->tx_n;
    l->tx_n = 0;
    l->busy = false;
    ledger_pump(l);
}

/* Runs statement l->step of the transaction. */
static void tx_step(billing_ledger_t *l)
{
    sbuf_t a = {0}, b = {0}, c = {0}, d = {0}, e5 = {0};
    const char *sql = NULL;
    const char *params[8];
    int np = 0;
    char group[] = LEDGER_GROUP;
    char per[32], now[32];
    size_t napply = 0;
    for (size_t i = 0; i < l->tx_n; i++)
        napply += tx_entry(l, i)->apply;
    switch (l->step) {
    case 1: /* offset rows exist (so that they can be locked) */
    case 2:
        for (size_t i = 0; i < l->tx_n; i++) {
            sb_elem(&a);
            sb_add(&a, "%" PRId32, tx_entry(l, i)->partition);
        }
        params[np++] = group;
        params[np++] = l->topic;
        params[np++] = sb_end(&a);
        sql = l->step == 1
                  ? "INSERT INTO lw_control.usage_offsets (group_id, topic, partition, next_offset)"
                    " SELECT $1, $2, p, 0 FROM (SELECT DISTINCT unnest($3::int[]) AS p) s"
                    " ON CONFLICT DO NOTHING"
                  : "SELECT partition, next_offset FROM lw_control.usage_offsets"
                    " WHERE group_id = $1 AND topic = $2 AND partition = ANY($3::int[])"
                    " ORDER BY partition FOR UPDATE";
        break;
    case 3: /* the periods the batches fall in, and the open one, exist */
    case 4: /* ... locked, with whether closed */
        if (napply == 0) {
            l->step = 8; /* nothing left to apply: the offsets only */
            tx_step(l);
            return;
        }
        for (size_t i = 0; i < l->tx_n; i++) {
            ledger_entry_t *e = tx_entry(l, i);
            if (!e->apply)
                continue;
            sb_tenant_period(&a, &b, e);
        }
        params[np++] = sb_end(&a);
        params[np++] = sb_end(&b);
        snprintf(per, sizeof per, "%lld", l->b->cfg.metering_period_ms / 1000);
        snprintf(now, sizeof now, "%" PRId64, l->now_period_s);
        params[np++] = per;
        params[np++] = now;
        sql = l->step == 3
                  ? "INSERT INTO lw_control.usage_periods (tenant_id, period_start, period_end)"
                    " SELECT DISTINCT t, to_timestamp(p), to_timestamp(p + $3::bigint)"
                    " FROM unnest($1::text[], $2::bigint[]) AS u(t, p)"
                    " UNION SELECT DISTINCT t, to_timestamp($4::bigint),"
                    " to_timestamp($4::bigint + $3::bigint) FROM unnest($1::text[]) AS v(t)"
                    " ON CONFLICT DO NOTHING"
                  : "SELECT tenant_id, extract(epoch FROM period_start)::bigint,"
                    " closed_at IS NOT NULL FROM lw_control.usage_periods"
                    " WHERE (tenant_id, period_start) IN"
                    " (SELECT DISTINCT t, to_timestamp(p) FROM unnest($1::text[], $2::bigint[])"
                    "  AS u(t, p) UNION SELECT DISTINCT t, to_timestamp($4::bigint)"
                    "  FROM unnest($1::text[]) AS v(t))"
                    " AND $3::bigint IS NOT NULL"
                    " ORDER BY 1, 2 FOR UPDATE";
        break;
    case 5: /* the batch ids: the fresh ones come back */
        for (size_t i = 0; i < l->tx_n; i++) {
            ledger_entry_t *e = tx_entry(l, i);
            if (!e->apply)
                continue;
            char hex[2 * TN_USAGE_ID_LEN + 1];
            lw_hex_encode(e->batch.id, sizeof e->batch.id, hex);
            sb_elem(&a);
            sb_add(&a, "\"%s\"", hex);
            sb_elem(&b);
            sb_add(&b, "\"%s\"", e->batch.tenant_id);
            sb_elem(&c);
            sb_add(&c, "%" PRId64, e->batch.interval_start_ms);
            sb_elem(&d);
            sb_add(&d, "%" PRId64, e->period_s);
            sb_elem(&e5);
            sb_add(&e5, "%s", e->late ? "true" : "false");
        }
        params[np++] = sb_end(&a);
        params[np++] = sb_end(&b);
        params[np++] = sb_end(&c);
        params[np++] = sb_end(&d);
        params[np++] = sb_end(&e5);
        sql = "INSERT INTO lw_control.usage_batches (batch_id, tenant_id, interval_start,"
              " period_start, late) SELECT i, t, to_timestamp(s / 1000.0), to_timestamp(p), late"
              " FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::boolean[])"
              " AS u(i, t, s, p, late) ON CONFLICT DO NOTHING RETURNING batch_id";
        break;
    case 6: /* the counters */
        if (napply == 0) {
            l->step = 8; /* nothing left to apply: the offsets only */
            tx_step(l);
            return;
        }
        for (size_t i = 0; i < l->tx_n; i++) {
            ledger_entry_t *e = tx_entry(l, i);
            if (!e->apply)
                continue;
            sb_tenant_period(&a, &b, e);
            sb_elem(&c);
            sb_add(&c, "%" PRIu64, e->batch.uplinks);
            sb_elem(&d);
            sb_add(&d, "%" PRIu64, e->batch.downlinks);
            sb_elem(&e5);
            sb_add(&e5, "%" PRIu64, e->batch.join_accepts);
        }
        params[np++] = sb_end(&a);
        params[np++] = sb_end(&b);
        params[np++] = sb_end(&c);
        params[np++] = sb_end(&d);
        params[np++] = sb_end(&e5);
        sql = "INSERT INTO lw_control.usage_ledger (tenant_id, period_start, meter, value)"
              " SELECT t, to_timestamp(p), m.meter, sum(m.v) FROM unnest($1::text[],"
              " $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS u(t, p, up, down, ja)"
              " CROSS JOIN LATERAL (VALUES ('uplinks', up), ('downlinks', down),"
              " ('join_accepts', ja)) AS m(meter, v) GROUP BY t, p, m.meter"
              " ON CONFLICT (tenant_id, period_start, meter)"
              " DO UPDATE SET value = lw_control.usage_ledger.value + EXCLUDED.value";
        break;
    case 7: /* the active devices, and their count */
        for (size_t i = 0; i < l->tx_n; i++) {
            ledger_entry_t *e = tx_entry(l, i);
            if (!e->apply)
                continue;
            for (size_t k = 0; k < e->batch.n_active_devices; k++) {
                sb_tenant_period(&a, &b, e);
                sb_elem(&c);
                sb_add(&c, "\"%s\"", e->batch.active_devices[k]);
            }
        }
        params[np++] = sb_end(&a);
        params[np++] = sb_end(&b);
        params[np++] = sb_end(&c);
        sql = "WITH ins AS (INSERT INTO lw_control.usage_active (tenant_id, period_start, device)"
              " SELECT DISTINCT t, to_timestamp(p), d FROM unnest($1::text[], $2::bigint[],"
              " $3::text[]) AS u(t, p, d) ON CONFLICT DO NOTHING RETURNING tenant_id, period_start)"
              " INSERT INTO lw_control.usage_ledger (tenant_id, period_start, meter, value)"
              " SELECT tenant_id, period_start, 'active_end_devices', count(*) FROM ins"
              " GROUP BY 1, 2 ON CONFLICT (tenant_id, period_start, meter)"
              " DO UPDATE SET value = lw_control.usage_ledger.value + EXCLUDED.value";
        break;
    case 8: { /* the offsets after the run, per partition */
        for (size_t i = 0; i < l->tx_n; i++) {
            ledger_entry_t *e = tx_entry(l, i);
            sb_elem(&a);
            sb_add(&a, "%" PRId32, e->partition);
            sb_elem(&b);
            sb_add(&b, "%" PRId64, e->offset + 1);
        }
        params[np++] = group;
        params[np++] = l->topic;
        params[np++] = sb_end(&a);
        params[np++] = sb_end(&b);
        sql = "UPDATE lw_control.usage_offsets o SET next_offset = u.n FROM"
              " (SELECT p, max(n) AS n FROM unnest($3::int[], $4::bigint[]) AS x(p, n) GROUP BY p)"
              " AS u WHERE o.group_id = $1 AND o.topic = $2 AND o.partition = u.p"
              " AND o.next_offset < u.n";
        break;
    }
    default:
        if (lw_db_tx_commit(l->tx, tx_committed, l) != 0) {
            lw_db_tx_rollback(l->tx, NULL, NULL);
            l->tx = NULL;
            tx_fail(l, NULL);
        }
        return;
    }
    int rc = lw_db_tx_query(l->tx, sql, np, params, tx_result, l);
    sb_free(&a);
    sb_free(&b);
    sb_free(&c);
    sb_free(&d);
    sb_free(&e5);
    if (rc != 0)
        tx_fail(l, NULL);
}

static void tx_begun(void *arg, lw_db_tx_t *tx, const lw_err_t *err)
{
    billing_ledger_t *l = arg;
    if (err != NULL) {
        l->tx = NULL;
        tx_fail(l, err);
        return;
    }
    l->tx = tx;
    l->step = 1;
    tx_step(l);
}

/* Starts a transaction over the queue's head when none is in flight. */
static void ledger_pump(billing_ledger_t *l)
{
    if (l->qhead == l->qn) {
        l->qhead = l->qn = 0;
        if (l->stopping)
            return;
    }
    if (l->paused && l->qn - l->qhead < LEDGER_QUEUE_MAX / 2 && l->consumer != NULL) {
        l->paused = false;
        lw_bus_consumer_pause(l->consumer, false);
    }
    if (l->busy || l->closing)
        return;
    if (l->qhead == l->qn) {
        ledger_close_next(l);
        return;
    }
    l->busy = true;
    l->tx_n = l->qn - l->qhead < LEDGER_TX_MAX ? l->qn - l->qhead : LEDGER_TX_MAX;
    l->now_period_s = period_of(l, lw_clock_wall_ms());
    for (size_t i = 0; i < l->tx_n; i++) {
        ledger_entry_t *e = tx_entry(l, i);
        e->apply = e->valid;
        e->late = false;
        if (e->valid)
            e->period_s = period_of(l, e->batch.interval_start_ms);
    }
    if (lw_db_begin(l->b->db, tx_begun, l) != 0) {
        l->busy = false;
        tx_fail(l, NULL);
    }
}

/* ---- the consumer ------------------------------------------------------------------------- */

static void ledger_message(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *m)
{
    (void)c;
    billing_ledger_t *l = arg;
    if (l->stopping)
        return; /* not applied: replayed from PostgreSQL's offset after the restart */
    for (size_t i = 0; i < l->noffs; i++)
        if (l->offs[i].partition == m->partition && m->offset < l->offs[i].next) {
            /* Applied before: fetched from a Kafka offset behind PostgreSQL's (a partition
             * back after a rebalance; never after a start, which seeks to PostgreSQL's). */
            l->stats.replayed++;
            lw_metric_series_add(l->m_replayed, 1);
            return;
        }
    if (l->qn == l->qcap) {
        if (l->qhead > 0) {
            memmove(l->q, l->q + l->qhead, (l->qn - l->qhead) * sizeof *l->q);
            l->qn -= l->qhead;
            l->qhead = 0;
        }
        if (l->qn == l->qcap) {
            l->qcap = l->qcap * 2 + 64;
            l->q = lw_realloc(l->q, l->qcap * sizeof *l->q);
        }
    }
    ledger_entry_t *e = &l->q[l->qn++];
    memset(e, 0, sizeof *e);
    e->partition = m->partition;
    e->offset = m->offset;
    const char *why = NULL;
    if (tn_usage_batch_decode(m->value, m->value_len, &e->batch, &why) == 0) {
        e->valid = true;
    } else {
        tn_usage_batch_destroy(&e->batch);
        l->stats.invalid++;
        lw_metric_series_add(l->m_invalid, 1);
        lw_log_kv(LW_LOG_WARN, "tbs", "undecodable usage batch skipped", LW_LOG_STR("reason", why),
                  LW_LOG_INT("partition", m->partition), LW_LOG_INT("offset", m->offset));
    }
    if (l->qn - l->qhead >= LEDGER_QUEUE_MAX && !l->paused && l->consumer != NULL) {
        l->paused = true;
        lw_bus_consumer_pause(l->consumer, true);
    }
    ledger_pump(l);
}

static int64_t ledger_start_offset(void *arg, lw_bus_consumer_t *c, const char *topic,
                                   int32_t partition)
{
    (void)c;
    (void)topic;
    billing_ledger_t *l = arg;
    for (size_t i = 0; i < l->noffs; i++)
        if (l->offs[i].partition == partition)
            return l->offs[i].next;
    /* Nothing of this partition was ever applied: all of it. (The offsets this process
     * knows are never above PostgreSQL's, they come from its own commits: a partition that
     * comes back after a rebalance starts at most a little early, and the transaction's
     * check skips what another member applied meanwhile. Entries of a revoked partition
     * still queued are applied the same way.) */
    return LW_BUS_OFFSET_BEGINNING;
}

static void ledger_subscribe(billing_ledger_t *l)
{
    static const lw_bus_handler_t h = {.on_message = ledger_message,
                                       .start_offset = ledger_start_offset};
    static const char *const names[] = {TN_USAGE_TOPIC};
    lw_err_t err;
    l->consumer = lw_bus_subscribe(l->b->bus, LEDGER_GROUP, names, 1, &h, l, &err);
    if (l->consumer == NULL) {
        lw_log(LW_LOG_ERROR, "tbs", "usage consumer not started, retried", "error", err.message,
               NULL);
        return;
    }
    l->subscribed = true;
    lw_log(LW_LOG_INFO, "tbs", "usage ledger consuming", "group", LEDGER_GROUP, "topic", l->topic,
           NULL);
}

static void ledger_offsets_loaded(void *arg, const PGresult *res, const lw_err_t *err)
{
    billing_ledger_t *l = arg;
    l->loading = false;
    if (l->stopping)
        return;
    if (err != NULL) {
        lw_log(LW_LOG_WARN, "tbs", "usage offsets not read, retried", "error", err->message, NULL);
        return;
    }
    l->noffs = 0;
    for (int r = 0; r < PQntuples(res); r++)
        ledger_offset_set(l, (int32_t)strtol(PQgetvalue(res, r, 0), NULL, 10),
                          strtoll(PQgetvalue(res, r, 1), NULL, 10));
    ledger_subscribe(l);
}

static void ledger_load_offsets(billing_ledger_t *l)
{
    if (l->loading)
        return;
    const char *params[] = {LEDGER_GROUP, l->topic};
    l->loading = lw_db_query(l->b->db,
                             "SELECT partition, next_offset FROM lw_control.usage_offsets"
                             " WHERE group_id = $1 AND topic = $2",
                             2, params, ledger_offsets_loaded, l) == 0;
}

/* ---- closing periods ---------------------------------------------------------------------- */

typedef struct close_op {
    billing_ledger_t *l;
    lw_db_tx_t *tx;
    int step;
    char schema[TN_SCHEMA_MAX + 3];
    bool has_schema;
} close_op_t;

static void close_step(close_op_t *op);

static void close_finish(close_op_t *op, const lw_err_t *err)
{
    billing_ledger_t *l = op->l;
    if (err != NULL)
        lw_log(LW_LOG_WARN, "tbs", "usage period not closed, retried", "tenant_id", l->close_tenant,
               "error", err->message, NULL);
    lw_db_tx_rollback(op->tx, NULL, NULL);
    free(op);
    l->closing = false;
    if (err != NULL)
        return;     /* the next tick tries again */
    l->due = true;  /* maybe more */
    ledger_pump(l); /* the queue first, then the next period to close */
}

static void close_committed(void *arg, const lw_err_t *err)
{
    close_op_t *op = arg;
    op->tx = NULL;
    if (err == NULL) {
        op->l->stats.closed++;
        lw_metric_series_add(op->l->m_closed, 1);
        char ps[32];
        snprintf(ps, sizeof ps, "%" PRId64, op->l->close_period_s);
        lw_log(LW_LOG_INFO, "tbs", "usage period closed", "tenant_id", op->l->close_tenant,
               "period_start", ps, NULL);
    }
    close_finish(op, err);
}

static void close_result(void *arg, const PGresult *res, const lw_err_t *err)
{
    close_op_t *op = arg;
    if (err != NULL) {
        close_finish(op, err);
        return;
    }
    if (op->step == 1 && PQntuples(res) == 0) {
        close_finish(op, NULL); /* closed meanwhile (another process) */
        return;
    }
    if (op->step == 2)
        op->has_schema = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0);
    op->step++;
    close_step(op);
}

static void close_step(close_op_t *op)
{
    billing_ledger_t *l = op->l;
    char ps[32];
    snprintf(ps, sizeof ps, "%" PRId64, l->close_period_s);
    const char *params[] = {l->close_tenant, ps};
    char sql[1024];
    switch (op->step) {
    case 1:
        snprintf(sql, sizeof sql,
                 "UPDATE lw_control.usage_periods SET closed_at = now() WHERE tenant_id = $1"
                 " AND period_start = to_timestamp($2::bigint) AND closed_at IS NULL"
                 " RETURNING 1");
        break;
    case 2:
        snprintf(sql, sizeof sql,
                 "SELECT to_regclass($1::text || '.end_devices') FROM"
                 " (SELECT $2::text) AS unused");
        params[0] = op->schema;
        break;
    case 3:
        /* The final counts: distinct active devices, and the registered entities in the
         * tenant's schema (a tenant purged meanwhile has none). */
        if (op->has_schema)
            snprintf(sql, sizeof sql,
                     "INSERT INTO lw_control.usage_ledger (tenant_id, period_start, meter, value)"
                     " SELECT $1, to_timestamp($2::bigint), m, v FROM (VALUES"
                     " ('active_end_devices', (SELECT count(*) FROM lw_control.usage_active"
                     "  WHERE tenant_id = $1 AND period_start = to_timestamp($2::bigint))),"
                     " ('end_devices', (SELECT count(*) FROM %s.end_devices d JOIN"
                     "  %s.applications a USING (application_id) WHERE a.deleted_at IS NULL)),"
                     " ('gateways', (SELECT count(*) FROM %s.gateways WHERE deleted_at IS NULL)),"
                     " ('applications', (SELECT count(*) FROM %s.applications"
                     "  WHERE deleted_at IS NULL))) AS x(m, v)"
                     " ON CONFLICT (tenant_id, period_start, meter) DO UPDATE SET value ="
                     " EXCLUDED.value",
                     op->schema, op->schema, op->schema, op->schema);
        else
            snprintf(sql, sizeof sql,
                     "INSERT INTO lw_control.usage_ledger (tenant_id, period_start, meter, value)"
                     " SELECT $1, to_timestamp($2::bigint), m, v FROM (VALUES"
                     " ('active_end_devices', (SELECT count(*) FROM lw_control.usage_active"
                     "  WHERE tenant_id = $1 AND period_start = to_timestamp($2::bigint))),"
                     " ('end_devices', 0::bigint), ('gateways', 0::bigint),"
                     " ('applications', 0::bigint)) AS x(m, v)"
                     " ON CONFLICT (tenant_id, period_start, meter) DO UPDATE SET value ="
                     " EXCLUDED.value");
        break;
    case 4:
        snprintf(sql, sizeof sql,
                 "DELETE FROM lw_control.usage_active WHERE tenant_id = $1"
                 " AND period_start = to_timestamp($2::bigint)");
        break;
    case 5:
        snprintf(sql, sizeof sql,
                 "DELETE FROM lw_control.usage_batches WHERE tenant_id = $1"
                 " AND received_at < now() - interval '1 day' AND $2::bigint IS NOT NULL");
        break;
    default:
        if (lw_db_tx_commit(op->tx, close_committed, op) != 0) {
            lw_err_t e;
            lw_err_set(&e, &lw_err_internal, "commit not started");
            close_finish(op, &e);
        }
        return;
    }
    if (lw_db_tx_query(op->tx, sql, 2, params, close_result, op) != 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_internal, "query not started");
        close_finish(op, &e);
    }
}

static void close_begun(void *arg, lw_db_tx_t *tx, const lw_err_t *err)
{
    close_op_t *op = arg;
    if (err != NULL) {
        close_finish(op, err);
        return;
    }
    op->tx = tx;
    op->step = 1;
    close_step(op);
}

static void close_found(void *arg, const PGresult *res, const lw_err_t *err)
{
    billing_ledger_t *l = arg;
    if (err != NULL || PQntuples(res) == 0 || l->stopping) {
        l->closing = false;
        if (err != NULL)
            lw_log(LW_LOG_WARN, "tbs", "usage periods to close not read", "error", err->message,
                   NULL);
        ledger_pump(l);
        return;
    }
    snprintf(l->close_tenant, sizeof l->close_tenant, "%s", PQgetvalue(res, 0, 0));
    l->close_period_s = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    close_op_t *op = lw_calloc(1, sizeof *op);
    op->l = l;
    char schema[TN_SCHEMA_MAX + 1];
    tn_schema_name(l->close_tenant, schema);
    lw_db_quote_ident(schema, op->schema, sizeof op->schema);
    if (lw_db_begin(l->b->db, close_begun, op) != 0) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_internal, "transaction not started");
        close_finish(op, &e);
    }
}

/* Closes the oldest period due, if any (one at a time, between apply transactions). */
static void ledger_close_next(billing_ledger_t *l)
{
    if (l->closing || l->busy || l->stopping || !l->due)
        return;
    /* Only once the consumer has caught up: after a restart or an outage the backlog may
     * still hold batches of the periods due, which belong in them rather than in the open
     * period as late ones. */
    if (l->consumer == NULL || lw_bus_consumer_lag(l->consumer) != 0)
        return;
    l->due = false;
    l->closing = true;
    char delay[32];
    snprintf(delay, sizeof delay, "%lld", l->b->cfg.metering_close_delay_ms);
    const char *params[] = {delay};
    if (lw_db_query(l->b->db,
                    "SELECT tenant_id, extract(epoch FROM period_start)::bigint"
                    " FROM lw_control.usage_periods WHERE closed_at IS NULL AND period_end +"
                    " make_interval(secs => $1::bigint / 1000.0) <= now()"
                    " ORDER BY period_end, tenant_id LIMIT 1",
                    1, params, close_found, l) != 0)
        l->closing = false;
}

/* ---- the tick: start-up retries, periods due ---------------------------------------------- */

static void ledger_rows_made(void *arg, const PGresult *res, const lw_err_t *err)
{
    (void)res;
    billing_ledger_t *l = arg;
    if (err != NULL)
        lw_log(LW_LOG_WARN, "tbs", "usage periods of idle tenants not made", "error", err->message,
               NULL);
    l->due = true;
    ledger_pump(l);
}

/* Every tenant gets a row for the last period due to close, traffic or not, so that its
 * registered devices, gateways and applications are counted for every period. */
static void ledger_tick(uv_timer_t *t)
{
    billing_ledger_t *l = t->data;
    if (l->stopping)
        return;
    if (!l->subscribed) {
        ledger_load_offsets(l);
    } else {
        int64_t per = l->b->cfg.metering_period_ms;
        int64_t due_end_ms = lw_clock_wall_ms() - l->b->cfg.metering_close_delay_ms;
        int64_t start_s = period_of(l, due_end_ms - per);
        char ps[32], pe[32];
        snprintf(ps, sizeof ps, "%" PRId64, start_s);
        snprintf(pe, sizeof pe, "%" PRId64, start_s + per / 1000);
        const char *params[] = {ps, pe};
        if (lw_db_query(l->b->db,
                        "INSERT INTO lw_control.usage_periods (tenant_id, period_start, period_end)"
                        " SELECT tenant_id, to_timestamp($1::bigint), to_timestamp($2::bigint)"
                        " FROM lw_control.tenants WHERE deleted_at IS NULL"
                        " AND created_at < to_timestamp($2::bigint) ON CONFLICT DO NOTHING",
                        2, params, ledger_rows_made, l) != 0)
            l->due = true;
        ledger_pump(l);
    }
    uv_timer_start(&l->timer, ledger_tick, l->tick_ms, 0);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

int billing_ledger_init(billing_t *b, lw_err_t *err)
{
    billing_ledger_t *l = lw_calloc(1, sizeof *l);
    b->ledger = l;
    l->b = b;
    l->http = lw_http_client_new(b->loop, &(lw_http_client_opts_t){.name = "tbs-auth"}, err);
    return l->http != NULL ? billing_usage_api_register(b, err) : -1;
}

lw_http_client_t *billing_ledger_http(billing_t *b)
{
    return b->ledger->http;
}

static void ledger_http_closed(void *arg)
{
    billing_ledger_t *l = arg;
    l->http_closed = true;
}

int billing_ledger_start(billing_t *b, lw_err_t *err)
{
    long long interval = lw_config_duration_ms(lw_rt_config(b->rt), "usage.interval");
    if (interval <= 0 || b->cfg.metering_period_ms % interval != 0)
        return lw_err_set(err, &lw_err_invalid_billing_config,
                          "tbs.metering.period (%lld ms) must be a multiple of usage.interval "
                          "(%lld ms)",
                          b->cfg.metering_period_ms, interval);
    if (b->cfg.metering_close_delay_ms <= interval)
        return lw_err_set(err, &lw_err_invalid_billing_config,
                          "tbs.metering.close-delay (%lld ms) must exceed usage.interval "
                          "(%lld ms)",
                          b->cfg.metering_close_delay_ms, interval);
    billing_ledger_t *l = b->ledger;
    lw_bus_topic(b->bus, TN_USAGE_TOPIC, l->topic, sizeof l->topic);
    long long tick = b->cfg.metering_close_delay_ms / 2;
    l->tick_ms = (uint64_t)(tick < 500 ? 500 : tick > 30000 ? 30000 : tick);
    lw_metrics_t *mx = b->metrics;
    l->m_applied = lw_metric_series(lw_metrics_counter(mx, "lwstack_tbs_usage_batches_total",
                                                       "Usage batches applied to the ledger", NULL),
                                    NULL);
    l->m_events = lw_metric_series(
        lw_metrics_counter(mx, "lwstack_tbs_usage_events_total",
                           "Usage events (uplinks, downlinks, join-accepts) applied to the ledger",
                           NULL),
        NULL);
    l->m_dup = lw_metric_series(
        lw_metrics_counter(mx, "lwstack_tbs_usage_duplicates_total",
                           "Usage batches skipped: their id was applied before", NULL),
        NULL);
    l->m_replayed = lw_metric_series(
        lw_metrics_counter(mx, "lwstack_tbs_usage_replayed_total",
                           "Usage messages skipped: below the offset PostgreSQL holds", NULL),
        NULL);
    l->m_late = lw_metric_series(
        lw_metrics_counter(mx, "lwstack_tbs_usage_late_total",
                           "Usage batches of a closed period added to the open period", NULL),
        NULL);
    l->m_invalid =
        lw_metric_series(lw_metrics_counter(mx, "lwstack_tbs_usage_invalid_total",
                                            "Usage messages that did not decode (skipped)", NULL),
                         NULL);
    l->m_closed = lw_metric_series(lw_metrics_counter(mx, "lwstack_tbs_usage_periods_closed_total",
                                                      "Usage periods closed", NULL),
                                   NULL);
    l->m_tx = lw_metric_series(lw_metrics_counter(mx, "lwstack_tbs_usage_transactions_total",
                                                  "Ledger transactions committed", NULL),
                               NULL);
    int rc = uv_timer_init(b->loop, &l->timer);
    if (rc != 0)
        return lw_err_set(err, &lw_err_internal, "ledger timer: %s", uv_strerror(rc));
    l->timer.data = l;
    l->timer_open = true;
    ledger_load_offsets(l);
    uv_timer_start(&l->timer, ledger_tick, l->tick_ms, 0);
    return 0;
}

void billing_ledger_stop(billing_t *b)
{
    billing_ledger_t *l = b->ledger;
    if (l == NULL || l->stopping)
        return;
    /* A transaction in flight commits or is rolled back with the pool: either way what it
     * held is applied once (after the restart when rolled back). */
    l->stopping = true;
    lw_http_client_close(l->http, ledger_http_closed, l);
    if (l->timer_open) {
        uv_timer_stop(&l->timer);
        uv_close((uv_handle_t *)&l->timer, NULL);
        l->timer_open = false;
    }
}

void billing_ledger_free(billing_t *b)
{
    billing_ledger_t *l = b->ledger;
    if (l == NULL)
        return;
    if (l->http_closed || !l->timer_open)
        lw_http_client_free(l->http); /* closed, or never started (nothing outstanding) */
    for (size_t i = l->qhead; i < l->qn; i++)
        entry_destroy(&l->q[i]);
    free(l->q);
    free(l->offs);
    free(l);
    b->ledger = NULL;
}

void billing_ledger_stats(const billing_t *b, billing_ledger_stats_t *out)
{
    *out = b->ledger != NULL ? b->ledger->stats : (billing_ledger_stats_t){0};
}
