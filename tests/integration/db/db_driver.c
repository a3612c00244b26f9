/* Drives cluster/db.c and cluster/migrate.c against a real PostgreSQL for the integration
 * tests (tests/integration/test_db_*.sh, test_migrate*.sh).
 *
 *   db_driver suite URI            the pool's behaviour, one "ok - ..." or "FAIL - ..." line
 *                                  per check; exit 1 when any check failed
 *   db_driver bounce URI           runs the pool, a query every 100 ms, prints "ready true",
 *                                  "ready false", "query ok", "query error NAME" on each
 *                                  change, until SIGTERM/SIGINT; exit 0 after a clean stop
 *   db_driver tenant-create URI DIR SCHEMA   creates a tenant schema with DIR's tenant
 *                                  migrations in one transaction (lw_migrate_tenant_schema_tx)
 *   db_driver tenant-drop URI SCHEMA         drops it (lw_migrate_drop_tenant_schema_tx)
 *   db_driver migrate URI DIR      lw_migrate_run with DIR's files (as `lwstack migrate`)
 *
 * The suite waits for results by running the loop until a callback fired: fine for a test
 * program, never what a component does. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "cluster/db.h"
#include "cluster/log.h"
#include "cluster/migrate.h"

static uv_loop_t loop;
static int fails;

static void check(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf(cond ? "ok   - " : "FAIL - ");
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
    if (!cond)
        fails++;
}

/* ---- waiting for one callback ----------------------------------------------------------- */

typedef struct outcome {
    int calls;
    char err_name[64];
    char err_msg[256];
    char constraint[96];
    int ntuples;
    char v[4][128]; /* first row, first four columns ("<null>" for NULL) */
    lw_db_tx_t *tx;
} outcome_t;

static void outcome_err(outcome_t *o, const lw_err_t *err)
{
    if (err == NULL)
        return;
    snprintf(o->err_name, sizeof o->err_name, "%s", lw_err_name(err));
    snprintf(o->err_msg, sizeof o->err_msg, "%s", err->message);
    for (int i = 0; i < err->nattrs; i++)
        if (strcmp(err->attrs[i].key, "constraint") == 0)
            snprintf(o->constraint, sizeof o->constraint, "%s", err->attrs[i].value);
}

static void on_result(void *arg, const PGresult *res, const lw_err_t *err)
{
    outcome_t *o = arg;
    o->calls++;
    outcome_err(o, err);
    if (res != NULL) {
        o->ntuples = PQntuples(res);
        for (int c = 0; c < 4 && c < PQnfields(res) && o->ntuples > 0; c++)
            snprintf(o->v[c], sizeof o->v[c], "%s",
                     PQgetisnull(res, 0, c) ? "<null>" : PQgetvalue(res, 0, c));
    }
}

static void on_tx(void *arg, lw_db_tx_t *tx, const lw_err_t *err)
{
    outcome_t *o = arg;
    o->calls++;
    o->tx = tx;
    outcome_err(o, err);
}

static void on_done(void *arg, const lw_err_t *err)
{
    outcome_t *o = arg;
    o->calls++;
    outcome_err(o, err);
}

/* Runs the loop until o got its callback (or 10 s passed). */
static void await(outcome_t *o)
{
    uint64_t end = uv_now(&loop) + 10000;
    while (o->calls == 0 && uv_now(&loop) < end)
        uv_run(&loop, UV_RUN_ONCE);
}

static void on_sleep_done(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

static void on_sleep_closed(uv_handle_t *h)
{
    (void)h;
}

/* Runs the loop for ms milliseconds. */
static void sleep_loop(uint64_t ms)
{
    uv_timer_t t;
    int fired = 0;
    uv_timer_init(&loop, &t);
    t.data = &fired;
    uv_timer_start(&t, on_sleep_done, ms, 0);
    while (!fired)
        uv_run(&loop, UV_RUN_ONCE);
    int closed = 0;
    t.data = &closed;
    uv_close((uv_handle_t *)&t, on_sleep_closed);
    uv_run(&loop, UV_RUN_NOWAIT);
}

static outcome_t q(lw_db_t *db, const char *sql, int n, const char *const *params)
{
    outcome_t o = {0};
    if (lw_db_query(db, sql, n, params, on_result, &o) != 0) {
        snprintf(o.err_name, sizeof o.err_name, "rejected");
        return o;
    }
    await(&o);
    return o;
}

static outcome_t txq(lw_db_tx_t *tx, const char *sql, int n, const char *const *params)
{
    outcome_t o = {0};
    if (lw_db_tx_query(tx, sql, n, params, on_result, &o) != 0) {
        snprintf(o.err_name, sizeof o.err_name, "rejected");
        return o;
    }
    await(&o);
    return o;
}

static lw_db_tx_t *begin(lw_db_t *db)
{
    outcome_t o = {0};
    if (lw_db_begin(db, on_tx, &o) != 0)
        return NULL;
    await(&o);
    return o.tx;
}

static outcome_t commit(lw_db_tx_t *tx)
{
    outcome_t o = {0};
    if (lw_db_tx_commit(tx, on_done, &o) != 0) {
        snprintf(o.err_name, sizeof o.err_name, "rejected");
        return o;
    }
    await(&o);
    return o;
}

static outcome_t rollback(lw_db_tx_t *tx)
{
    outcome_t o = {0};
    lw_db_tx_rollback(tx, on_done, &o);
    await(&o);
    return o;
}

static void on_stopped(void *arg)
{
    *(int *)arg = 1;
}

static lw_db_t *pool_open(const char *uri, int size, long long timeout_ms)
{
    lw_db_opts_t opts = {.uri = uri, .pool_size = size, .query_timeout_ms = timeout_ms};
    lw_err_t err;
    lw_db_t *db = lw_db_new(&loop, &opts, &err);
    if (db == NULL || lw_db_start(db, &err) != 0) {
        fprintf(stderr, "db_driver: %s\n", err.message);
        exit(2);
    }
    uint64_t end = uv_now(&loop) + 10000;
    while (!lw_db_ready(db) && uv_now(&loop) < end)
        uv_run(&loop, UV_RUN_ONCE);
    return db;
}

static void pool_close(lw_db_t *db)
{
    int stopped = 0;
    lw_db_stop(db, on_stopped, &stopped);
    while (!stopped)
        uv_run(&loop, UV_RUN_ONCE);
    lw_db_free(db);
}

/* ---- suite ------------------------------------------------------------------------------ */

typedef struct counter {
    int calls, ok, unavailable, wrong;
    int expect; /* the value each row should hold, -1: any */
} counter_t;

static void on_count(void *arg, const PGresult *res, const lw_err_t *err)
{
    counter_t *c = arg;
    c->calls++;
    if (err == NULL && res != NULL)
        c->ok++;
    else if (err != NULL && err->def == &lw_err_db_unavailable)
        c->unavailable++;
    else
        c->wrong++;
}

typedef struct doubled {
    int calls, right;
    int want;
} doubled_t;

static void on_doubled(void *arg, const PGresult *res, const lw_err_t *err)
{
    doubled_t *d = arg;
    d->calls++;
    if (err == NULL && PQntuples(res) == 1 && atoi(PQgetvalue(res, 0, 0)) == d->want)
        d->right++;
}

static int count_rows(lw_db_t *db, const char *where_id)
{
    const char *p[] = {where_id};
    outcome_t o = q(db, "SELECT count(*) FROM drv.t WHERE id = $1::int", 1, p);
    return o.err_name[0] == '\0' ? atoi(o.v[0]) : -1;
}

static void suite_queries(lw_db_t *db)
{
    const char *p3[] = {"2", "40", "h\xc3\xa9llo 'q' \"x\""};
    outcome_t o = q(db, "SELECT $1::int + $2::int, $3::text", 3, p3);
    check(o.calls == 1 && o.err_name[0] == '\0' && strcmp(o.v[0], "42") == 0 &&
              strcmp(o.v[1], p3[2]) == 0,
          "parameters are passed as text values: got [%s] [%s] (%s)", o.v[0], o.v[1], o.err_name);

    const char *pnull[] = {NULL, NULL};
    o = q(db, "SELECT $1::text IS NULL, coalesce($2::text, 'was null')", 2, pnull);
    check(o.err_name[0] == '\0' && strcmp(o.v[0], "t") == 0 && strcmp(o.v[1], "was null") == 0,
          "NULL parameters arrive as SQL NULL: got [%s] [%s]", o.v[0], o.v[1]);

    const char *inj[] = {"x'); DROP TABLE drv.t; --"};
    o = q(db, "SELECT $1::text", 1, inj);
    check(o.err_name[0] == '\0' && strcmp(o.v[0], inj[0]) == 0,
          "a parameter is never parsed as SQL");

    o = q(db, "SELECT 1; SELECT 2", 0, NULL);
    check(strcmp(o.err_name, "db_query") == 0, "lw_db_query refuses several statements: %s (%s)",
          o.err_name, o.err_msg);

    o = q(db, "SELECT * FROM drv.nope", 0, NULL);
    check(strcmp(o.err_name, "db_query") == 0 &&
              strstr(o.err_msg, "relation \"drv.nope\" does not exist") != NULL,
          "an SQL error is db_query with the server's message: %s", o.err_msg);

    o = q(db, "INSERT INTO drv.t (id, v) VALUES (1, 'a')", 0, NULL);
    check(o.err_name[0] == '\0' && o.ntuples == 0, "a command returns its command result");
    o = q(db, "INSERT INTO drv.t (id, v) VALUES (1, 'b')", 0, NULL);
    check(strcmp(o.err_name, "db_unique_violation") == 0 && strcmp(o.constraint, "t_pkey") == 0,
          "a duplicate key is db_unique_violation with constraint t_pkey: %s [%s]", o.err_name,
          o.constraint);
    o = q(db, "INSERT INTO drv.t (id, v) VALUES (2, 'a')", 0, NULL);
    check(strcmp(o.err_name, "db_unique_violation") == 0 && strcmp(o.constraint, "t_v_key") == 0,
          "a duplicate unique value names its constraint t_v_key: %s [%s]", o.err_name,
          o.constraint);

    check(lw_db_query(db, NULL, 0, NULL, on_result, &o) == -1, "a NULL statement is refused");
    check(lw_db_query(db, "SELECT $1", 1, NULL, on_result, &o) == -1,
          "parameters without values are refused");

    /* Many at once: more than the pool has connections; each gets its own answer. */
    enum { N = 300 };
    static doubled_t d[N];
    for (int i = 0; i < N; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        const char *p[] = {v};
        d[i].want = i * 2;
        d[i].calls = d[i].right = 0;
        lw_db_query(db, "SELECT $1::int * 2", 1, p, on_doubled, &d[i]);
    }
    uint64_t end = uv_now(&loop) + 10000;
    int calls = 0, right = 0;
    while (uv_now(&loop) < end) {
        calls = right = 0;
        for (int i = 0; i < N; i++) {
            calls += d[i].calls;
            right += d[i].right;
        }
        if (calls == N)
            break;
        uv_run(&loop, UV_RUN_ONCE);
    }
    check(calls == N && right == N, "%d concurrent queries: %d callbacks, %d right answers", N,
          calls, right);
    /* The pool opens its connections in the background: the 300 queries may all be answered
     * by the first ones while the others are still connecting. Wait for them (a deadline, not
     * a timing). */
    lw_db_stats_t st;
    lw_db_stats(db, &st);
    end = uv_now(&loop) + 10000;
    while (st.connections_up < st.connections && uv_now(&loop) < end) {
        uv_run(&loop, UV_RUN_ONCE);
        lw_db_stats(db, &st);
    }
    check(st.connections == 4 && st.connections_up == 4 && st.waiting == 0 && st.busy == 0 &&
              st.requests >= N && st.connects == 4,
          "stats: %d/%d up, %d busy, %zu waiting, %llu requests, %llu connects", st.connections_up,
          st.connections, st.busy, st.waiting, st.requests, st.connects);
}

static void suite_transactions(lw_db_t *db)
{
    lw_db_tx_t *tx = begin(db);
    check(tx != NULL, "begin gives a transaction");
    if (tx == NULL)
        return;
    outcome_t o = txq(tx, "INSERT INTO drv.t (id, v) VALUES (10, 'ten')", 0, NULL);
    check(o.err_name[0] == '\0', "insert inside the transaction");
    check(count_rows(db, "10") == 0, "an uncommitted row is invisible to other connections");
    o = commit(tx);
    check(o.calls == 1 && o.err_name[0] == '\0', "commit succeeds");
    check(count_rows(db, "10") == 1, "a committed row is visible");

    tx = begin(db);
    o = txq(tx, "INSERT INTO drv.t (id, v) VALUES (11, 'eleven')", 0, NULL);
    o = rollback(tx);
    check(o.calls == 1 && o.err_name[0] == '\0', "rollback succeeds");
    check(count_rows(db, "11") == 0, "a rolled back row is gone");

    tx = begin(db);
    o = txq(tx, "INSERT INTO drv.t (id, v) VALUES (12, 'twelve')", 0, NULL);
    o = txq(tx, "INSERT INTO drv.t (id, v) VALUES (1, 'dup')", 0, NULL);
    check(strcmp(o.err_name, "db_unique_violation") == 0, "a failing statement in a transaction");
    o = txq(tx, "SELECT 1", 0, NULL);
    check(strcmp(o.err_name, "db_query") == 0 && strstr(o.err_msg, "aborted") != NULL,
          "after a failure the transaction takes no more statements: %s", o.err_msg);
    o = commit(tx);
    check(strcmp(o.err_name, "db_query") == 0 && strstr(o.err_msg, "rolled back") != NULL,
          "commit of a failed transaction reports the rollback: %s", o.err_msg);
    check(count_rows(db, "12") == 0, "nothing of the failed transaction is kept");

    tx = begin(db);
    outcome_t e = {0};
    lw_db_tx_exec(tx,
                  "INSERT INTO drv.t (id, v) VALUES (20, 'a20'); "
                  "INSERT INTO drv.t (id, v) VALUES (21, 'a21'); SELECT 'last'",
                  on_result, &e);
    await(&e);
    check(e.err_name[0] == '\0' && strcmp(e.v[0], "last") == 0,
          "a script runs every statement and returns the last result: [%s]", e.v[0]);
    o = commit(tx);
    check(count_rows(db, "20") == 1 && count_rows(db, "21") == 1, "the script's rows commit");

    tx = begin(db);
    memset(&e, 0, sizeof e);
    lw_db_tx_exec(tx, "INSERT INTO drv.t (id, v) VALUES (22, 'a22'); SELECT 1/0; SELECT 2",
                  on_result, &e);
    await(&e);
    check(strcmp(e.err_name, "db_query") == 0 && strstr(e.err_msg, "division by zero") != NULL,
          "a failing script reports its first error: %s", e.err_msg);
    rollback(tx);
    check(count_rows(db, "22") == 0, "a failed script leaves nothing");

    /* Two transactions at once hold two connections. */
    lw_db_tx_t *a = begin(db), *b = begin(db);
    check(a != NULL && b != NULL && a != b, "two transactions run side by side");
    txq(a, "INSERT INTO drv.t (id, v) VALUES (30, 'a30')", 0, NULL);
    txq(b, "INSERT INTO drv.t (id, v) VALUES (31, 'a31')", 0, NULL);
    commit(b);
    rollback(a);
    check(count_rows(db, "30") == 0 && count_rows(db, "31") == 1,
          "each transaction commits or rolls back alone");
    lw_db_tx_rollback(NULL, on_done, NULL); /* a no-op */
}

static void suite_connection_loss(lw_db_t *db)
{
    /* A transaction whose connection is terminated: the next step is db_unavailable, the
     * rollback succeeds, and the pool carries on. */
    lw_db_tx_t *tx = begin(db);
    outcome_t o = txq(tx, "SELECT pg_backend_pid()", 0, NULL);
    char pid[128];
    snprintf(pid, sizeof pid, "%s", o.v[0]);
    o = txq(tx, "INSERT INTO drv.t (id, v) VALUES (40, 'a40')", 0, NULL);
    const char *pp[] = {pid};
    o = q(db, "SELECT pg_terminate_backend($1::int)", 1, pp);
    check(o.err_name[0] == '\0' && strcmp(o.v[0], "t") == 0, "terminated the tx's backend %s", pid);
    sleep_loop(200);
    o = txq(tx, "SELECT 1", 0, NULL);
    check(strcmp(o.err_name, "db_unavailable") == 0,
          "the next step of a transaction whose connection died is db_unavailable: %s", o.err_name);
    o = rollback(tx);
    check(o.calls == 1 && o.err_name[0] == '\0', "such a transaction can still be rolled back");
    check(count_rows(db, "40") == 0, "its row was never committed");

    /* A query running when its connection dies fails with db_unavailable, never retried. */
    outcome_t slow = {0};
    lw_db_query(db, "SELECT pg_sleep(5), 'lw_slow_marker'", 0, NULL, on_result, &slow);
    sleep_loop(300);
    o = q(db,
          "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
          "WHERE query LIKE 'SELECT pg_sleep(5), ''lw_slow_marker''%' AND pid <> pg_backend_pid()",
          0, NULL);
    await(&slow);
    check(slow.calls == 1 && strcmp(slow.err_name, "db_unavailable") == 0,
          "a query whose connection dies fails with db_unavailable: %s (%s)", slow.err_name,
          slow.err_msg);
    sleep_loop(500);
    o = q(db, "SELECT 'still working'", 0, NULL);
    check(o.err_name[0] == '\0' && strcmp(o.v[0], "still working") == 0,
          "the pool reconnects and answers again");
}

static void suite_queue_timeout(const char *uri)
{
    /* One connection held by a transaction: a query waits in the queue and fails after
     * db.query-timeout with db_unavailable; then the pool works again. */
    lw_db_t *db = pool_open(uri, 1, 300);
    lw_db_tx_t *tx = begin(db);
    uint64_t t0 = uv_now(&loop);
    outcome_t o = q(db, "SELECT 1", 0, NULL);
    uint64_t waited = uv_now(&loop) - t0;
    check(strcmp(o.err_name, "db_unavailable") == 0 && waited >= 290 && waited < 2000,
          "a query waiting for a connection fails after the query timeout: %s after %llu ms",
          o.err_name, (unsigned long long)waited);
    rollback(tx);
    o = q(db, "SELECT 1", 0, NULL);
    check(o.err_name[0] == '\0', "after the transaction the connection serves queries again");

    /* Stopping with work in flight and queued: every callback runs once, db_unavailable. */
    static counter_t c;
    memset(&c, 0, sizeof c);
    lw_db_query(db, "SELECT pg_sleep(2)", 0, NULL, on_count, &c);
    for (int i = 0; i < 5; i++)
        lw_db_query(db, "SELECT 1", 0, NULL, on_count, &c);
    uv_run(&loop, UV_RUN_NOWAIT);
    int stopped = 0;
    lw_db_stop(db, on_stopped, &stopped);
    check(lw_db_query(db, "SELECT 1", 0, NULL, on_count, &c) == -1,
          "a stopping pool refuses new queries");
    while (!stopped)
        uv_run(&loop, UV_RUN_ONCE);
    check(c.calls == 6 && c.unavailable == 6,
          "stop fails the running and waiting queries once each: %d calls, %d unavailable", c.calls,
          c.unavailable);
    lw_db_free(db);
}

static void on_migrated(void *arg, const lw_err_t *err)
{
    on_done(arg, err);
}

static void suite_tenant_schemas(lw_db_t *db, const char *uri)
{
    static lw_migration_t tenant_ok[] = {
        {1, "0001_things.sql", "CREATE TABLE things (id int PRIMARY KEY, name text);"},
        {2, "0002_more.sql",
         "ALTER TABLE things ADD COLUMN extra text; "
         "CREATE INDEX things_name_idx ON things (name);"},
    };
    lw_migration_set_t set = {NULL, 0, tenant_ok, 2, NULL};
    lw_err_t err;
    int n = lw_migrate_run(uri, &set, NULL, &err);
    check(n == 0, "lw_migrate_run creates the bookkeeping table (%d: %s)", n,
          n < 0 ? err.message : "");

    lw_db_tx_t *tx = begin(db);
    outcome_t o = {0};
    check(lw_migrate_tenant_schema_tx(tx, &set, "t_drv_one", on_migrated, &o) == 0,
          "tenant schema creation starts");
    await(&o);
    check(o.calls == 1 && o.err_name[0] == '\0', "tenant schema created: %s", o.err_msg);
    outcome_t sp = txq(tx, "SHOW search_path", 0, NULL);
    check(strstr(sp.v[0], "t_drv_one") == NULL,
          "the caller's search_path is restored afterwards: [%s]", sp.v[0]);
    commit(tx);
    const char *p[] = {"t_drv_one"};
    o = q(db,
          "SELECT string_agg(version::text || ':' || name || ':' || kind, ',' ORDER BY version) "
          "FROM lw_control.schema_migrations WHERE schema_name = $1",
          1, p);
    check(strcmp(o.v[0], "1:0001_things.sql:tenant,2:0002_more.sql:tenant") == 0,
          "its versions are recorded: [%s]", o.v[0]);
    o = q(db, "SELECT count(*) FROM t_drv_one.things", 0, NULL);
    check(o.err_name[0] == '\0', "its tables live in the schema");

    /* A failing tenant migration: the error names the file and the schema; nothing stays. */
    static lw_migration_t tenant_bad[] = {
        {1, "0001_things.sql", "CREATE TABLE things (id int PRIMARY KEY);"},
        {2, "0002_broken.sql", "CREATE TABLE fine (id int);\nCREATE TABLEE broken (id int);"},
    };
    lw_migration_set_t bad = {NULL, 0, tenant_bad, 2, NULL};
    tx = begin(db);
    memset(&o, 0, sizeof o);
    lw_migrate_tenant_schema_tx(tx, &bad, "t_drv_bad", on_migrated, &o);
    await(&o);
    check(strcmp(o.err_name, "migration_failed") == 0 &&
              strstr(o.err_msg, "tenant/0002_broken.sql") != NULL &&
              strstr(o.err_msg, "t_drv_bad") != NULL && strstr(o.err_msg, "TABLEE") != NULL,
          "a failing tenant migration names the file, schema and error: %s", o.err_msg);
    rollback(tx);
    const char *pb[] = {"t_drv_bad"};
    o = q(db, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", 1, pb);
    check(strcmp(o.v[0], "0") == 0, "the failed schema does not exist after rollback");

    /* An existing schema cannot be created twice. */
    tx = begin(db);
    memset(&o, 0, sizeof o);
    lw_migrate_tenant_schema_tx(tx, &set, "t_drv_one", on_migrated, &o);
    await(&o);
    check(o.err_name[0] != '\0', "creating an existing schema fails: %s", o.err_msg);
    rollback(tx);

    /* Purge. */
    tx = begin(db);
    check(lw_migrate_drop_tenant_schema_tx(tx, "lw_control", on_migrated, &o) == -1 &&
              lw_migrate_drop_tenant_schema_tx(tx, "public", on_migrated, &o) == -1 &&
              lw_migrate_drop_tenant_schema_tx(tx, "pg_catalog", on_migrated, &o) == -1,
          "dropping lw_control, public or pg_* is refused");
    memset(&o, 0, sizeof o);
    lw_migrate_drop_tenant_schema_tx(tx, "t_drv_one", on_migrated, &o);
    await(&o);
    check(o.calls == 1 && o.err_name[0] == '\0', "tenant schema dropped: %s", o.err_msg);
    commit(tx);
    o = q(db,
          "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = $1) + "
          "(SELECT count(*) FROM lw_control.schema_migrations WHERE schema_name = $1)",
          1, p);
    check(strcmp(o.v[0], "0") == 0, "schema and version rows are gone: [%s]", o.v[0]);
}

static int cmd_suite(const char *uri)
{
    lw_db_t *db = pool_open(uri, 4, 5000);
    check(lw_db_ready(db), "the pool becomes ready");
    outcome_t o = q(db, "DROP SCHEMA IF EXISTS drv CASCADE", 0, NULL);
    o = q(db, "CREATE SCHEMA drv", 0, NULL);
    o = q(db,
          "CREATE TABLE drv.t (id int CONSTRAINT t_pkey PRIMARY KEY, "
          "v text CONSTRAINT t_v_key UNIQUE)",
          0, NULL);
    check(o.err_name[0] == '\0', "test table created (%s)", o.err_msg);
    suite_queries(db);
    suite_transactions(db);
    suite_tenant_schemas(db, uri);
    suite_connection_loss(db);
    pool_close(db);
    suite_queue_timeout(uri);
    printf("%d failed\n", fails);
    return fails == 0 ? 0 : 1;
}

/* ---- bounce ------------------------------------------------------------------------------ */

typedef struct bounce {
    lw_db_t *db;
    uv_timer_t tick;
    uv_signal_t sigterm, sigint;
    int ready;      /* -1 unknown */
    int last_query; /* -1 none, 0 error, 1 ok */
    char last_err[64];
    long ok, errors;
    int in_flight;
    bool stopping;
} bounce_t;

static void bounce_on_result(void *arg, const PGresult *res, const lw_err_t *err)
{
    bounce_t *b = arg;
    b->in_flight--;
    if (err == NULL && res != NULL && PQntuples(res) == 1) {
        b->ok++;
        if (b->last_query != 1)
            printf("query ok\n");
        b->last_query = 1;
    } else {
        b->errors++;
        const char *name = err != NULL ? lw_err_name(err) : "bad_result";
        if (b->last_query != 0 || strcmp(b->last_err, name) != 0)
            printf("query error %s\n", name);
        snprintf(b->last_err, sizeof b->last_err, "%s", name);
        b->last_query = 0;
    }
    fflush(stdout);
}

static void bounce_on_tick(uv_timer_t *t)
{
    bounce_t *b = t->data;
    int ready = lw_db_ready(b->db) ? 1 : 0;
    if (ready != b->ready) {
        printf("ready %s\n", ready ? "true" : "false");
        fflush(stdout);
        b->ready = ready;
    }
    if (b->in_flight < 50 && lw_db_query(b->db, "SELECT 1", 0, NULL, bounce_on_result, b) == 0)
        b->in_flight++;
}

static void bounce_on_stopped(void *arg)
{
    bounce_t *b = arg;
    printf("stopped ok=%ld errors=%ld\n", b->ok, b->errors);
    fflush(stdout);
    uv_close((uv_handle_t *)&b->tick, NULL);
    uv_close((uv_handle_t *)&b->sigterm, NULL);
    uv_close((uv_handle_t *)&b->sigint, NULL);
}

static void bounce_on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    bounce_t *b = s->data;
    if (b->stopping)
        return;
    b->stopping = true;
    uv_timer_stop(&b->tick);
    lw_db_stop(b->db, bounce_on_stopped, b);
}

static int cmd_bounce(const char *uri)
{
    bounce_t b = {.ready = -1, .last_query = -1};
    lw_db_opts_t opts = {.uri = uri, .pool_size = 2, .query_timeout_ms = 1000};
    lw_err_t err;
    b.db = lw_db_new(&loop, &opts, &err);
    if (b.db == NULL || lw_db_start(b.db, &err) != 0) {
        fprintf(stderr, "db_driver: %s\n", err.message);
        return 2;
    }
    uv_timer_init(&loop, &b.tick);
    b.tick.data = &b;
    uv_timer_start(&b.tick, bounce_on_tick, 0, 100);
    uv_signal_init(&loop, &b.sigterm);
    uv_signal_init(&loop, &b.sigint);
    b.sigterm.data = b.sigint.data = &b;
    uv_signal_start(&b.sigterm, bounce_on_signal, SIGTERM);
    uv_signal_start(&b.sigint, bounce_on_signal, SIGINT);
    uv_run(&loop, UV_RUN_DEFAULT);
    lw_db_free(b.db);
    return b.in_flight == 0 ? 0 : 1;
}

/* ---- tenant schemas and migrate ---------------------------------------------------------- */

static int cmd_tenant(const char *uri, const char *dir, const char *schema)
{
    lw_migration_set_t set;
    lw_err_t err;
    if (dir != NULL && lw_migrations_load(dir, &set, &err) != 0) {
        fprintf(stderr, "db_driver: %s\n", err.message);
        return 1;
    }
    lw_db_t *db = pool_open(uri, 1, 5000);
    lw_db_tx_t *tx = begin(db);
    outcome_t o = {0};
    int rc = tx == NULL    ? -1
             : dir != NULL ? lw_migrate_tenant_schema_tx(tx, &set, schema, on_migrated, &o)
                           : lw_migrate_drop_tenant_schema_tx(tx, schema, on_migrated, &o);
    if (rc == 0)
        await(&o);
    if (rc == 0 && o.err_name[0] == '\0')
        o = commit(tx);
    else if (tx != NULL)
        rollback(tx);
    pool_close(db);
    if (dir != NULL)
        lw_migrations_free(&set);
    if (rc != 0 || o.err_name[0] != '\0') {
        fprintf(stderr, "db_driver: %s\n", rc != 0 ? "refused" : o.err_msg);
        return 1;
    }
    printf("%s %s\n", dir != NULL ? "created" : "dropped", schema);
    return 0;
}

static int cmd_migrate(const char *uri, const char *dir)
{
    lw_migration_set_t set;
    lw_err_t err;
    if (lw_migrations_load(dir, &set, &err) != 0) {
        fprintf(stderr, "db_driver migrate: %s\n", err.message);
        return 1;
    }
    int n = lw_migrate_run(uri, &set, stdout, &err);
    lw_migrations_free(&set);
    if (n < 0) {
        fprintf(stderr, "db_driver migrate: %s\n", err.message);
        return 1;
    }
    printf("%d migration%s applied\n", n, n == 1 ? "" : "s");
    return 0;
}

int main(int argc, char **argv)
{
    lw_log_setup(LW_LOG_INFO, LW_LOG_LOGFMT);
    uv_loop_init(&loop);
    int rc = 2;
    if (argc == 3 && strcmp(argv[1], "suite") == 0)
        rc = cmd_suite(argv[2]);
    else if (argc == 3 && strcmp(argv[1], "bounce") == 0)
        rc = cmd_bounce(argv[2]);
    else if (argc == 5 && strcmp(argv[1], "tenant-create") == 0)
        rc = cmd_tenant(argv[2], argv[3], argv[4]);
    else if (argc == 4 && strcmp(argv[1], "tenant-drop") == 0)
        rc = cmd_tenant(argv[2], NULL, argv[3]);
    else if (argc == 4 && strcmp(argv[1], "migrate") == 0)
        rc = cmd_migrate(argv[2], argv[3]);
    else
        fprintf(stderr, "usage: db_driver suite|bounce URI | tenant-create URI DIR SCHEMA | "
                        "tenant-drop URI SCHEMA | migrate URI DIR\n");
    uv_run(&loop, UV_RUN_NOWAIT);
    if (uv_loop_close(&loop) != 0 && rc == 0) {
        fprintf(stderr, "db_driver: handles left open on the loop\n");
        rc = 1;
    }
    return rc;
}
