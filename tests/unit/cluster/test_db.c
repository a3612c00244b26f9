/* Unit tests of cluster/db.c without a server: identifier quoting, password redaction,
 * option checks, and the pool's behaviour while no server answers (queue timeout, stop with
 * waiting queries, the callback contract). The behaviour against a real server is in
 * tests/integration/test_db_pool.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cluster/db.h"
#include "cluster/log.h"

/* A Unix-socket folder that does not exist: every connection attempt fails at once. */
#define DB_NOWHERE "host=/nonexistent-lwstack-test-dir dbname=x user=y password=hunter2"

static void test_lw_db_quote_ident__plain(void **state)
{
    (void)state;
    char buf[32];
    assert_int_equal(lw_db_quote_ident("t_acme", buf, sizeof buf), 0);
    assert_string_equal(buf, "\"t_acme\"");
}

static void test_lw_db_quote_ident__doubles_quotes(void **state)
{
    (void)state;
    char buf[32];
    assert_int_equal(lw_db_quote_ident("a\"b; DROP", buf, sizeof buf), 0);
    assert_string_equal(buf, "\"a\"\"b; DROP\"");
}

static void test_lw_db_quote_ident__exact_fit_and_too_small(void **state)
{
    (void)state;
    char buf[8];
    /* "abcde" quoted is 7 characters plus the NUL: fits 8 exactly. */
    assert_int_equal(lw_db_quote_ident("abcde", buf, 8), 0);
    assert_string_equal(buf, "\"abcde\"");
    assert_int_equal(lw_db_quote_ident("abcdef", buf, 8), -1);
    assert_int_equal(lw_db_quote_ident("a\"cde", buf, 8), -1);
    assert_int_equal(lw_db_quote_ident(NULL, buf, 8), -1);
}

static void test_lw_db_uri_redact__uri_password(void **state)
{
    (void)state;
    char buf[256];
    assert_int_equal(
        lw_db_uri_redact("postgresql://alice:s3cr3t@db.example:5433/lw?sslmode=require", buf,
                         sizeof buf),
        0);
    assert_null(strstr(buf, "s3cr3t"));
    assert_non_null(strstr(buf, "password=<redacted>"));
    assert_non_null(strstr(buf, "user=alice"));
    assert_non_null(strstr(buf, "host=db.example"));
    assert_non_null(strstr(buf, "port=5433"));
    assert_non_null(strstr(buf, "dbname=lw"));
    assert_non_null(strstr(buf, "sslmode=require"));
}

static void test_lw_db_uri_redact__keyword_password_with_spaces(void **state)
{
    (void)state;
    char buf[256];
    assert_int_equal(
        lw_db_uri_redact("host=/tmp/x user=bob password='a b c' dbname=d", buf, sizeof buf), 0);
    assert_string_equal(buf, "user=bob password=<redacted> dbname=d host=/tmp/x");
}

static void test_lw_db_uri_redact__invalid(void **state)
{
    (void)state;
    char buf[64];
    assert_int_equal(lw_db_uri_redact("host='unterminated password=x", buf, sizeof buf), -1);
    assert_string_equal(buf, "(invalid connection string)");
}

static void test_lw_db_uri_redact__truncates(void **state)
{
    (void)state;
    char buf[12];
    assert_int_equal(lw_db_uri_redact("user=averyveryverylongname password=pw", buf, sizeof buf),
                     -1);
    assert_true(strlen(buf) < sizeof buf);
    assert_null(strstr(buf, "pw"));
}

static void test_lw_db_new__invalid_options(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    lw_err_t err;
    lw_db_opts_t opts = {.uri = "dbname=x", .pool_size = 0, .query_timeout_ms = 1000};
    assert_null(lw_db_new(&loop, &opts, &err));
    assert_string_equal(lw_err_name(&err), "config_invalid");
    opts.pool_size = 1;
    opts.query_timeout_ms = 0;
    assert_null(lw_db_new(&loop, &opts, &err));
    assert_string_equal(lw_err_name(&err), "config_invalid");
    opts.query_timeout_ms = 1000;
    opts.uri = "host='unterminated password=hunter2";
    assert_null(lw_db_new(&loop, &opts, &err));
    assert_string_equal(lw_err_name(&err), "config_invalid");
    assert_null(strstr(err.message, "hunter2"));
    assert_int_equal(uv_loop_close(&loop), 0);
}

typedef struct calls {
    int n;
    int unavailable;
    int tx_null;
    uint64_t at_ms;
} calls_t;

static uv_loop_t *cur_loop;

static void on_result(void *arg, const PGresult *res, const lw_err_t *err)
{
    calls_t *c = arg;
    c->n++;
    c->at_ms = uv_now(cur_loop);
    if (res == NULL && err != NULL && strcmp(lw_err_name(err), "db_unavailable") == 0)
        c->unavailable++;
}

static void on_tx(void *arg, lw_db_tx_t *tx, const lw_err_t *err)
{
    calls_t *c = arg;
    c->n++;
    if (tx == NULL)
        c->tx_null++;
    if (err != NULL && strcmp(lw_err_name(err), "db_unavailable") == 0)
        c->unavailable++;
}

static void on_stopped(void *arg)
{
    (*(int *)arg)++;
}

static lw_db_t *start_nowhere(uv_loop_t *loop, long long timeout_ms)
{
    lw_err_t err;
    lw_db_opts_t opts = {.uri = DB_NOWHERE, .pool_size = 2, .query_timeout_ms = timeout_ms};
    lw_db_t *db = lw_db_new(loop, &opts, &err);
    assert_non_null(db);
    calls_t c = {0};
    assert_int_equal(lw_db_query(db, "SELECT 1", 0, NULL, on_result, &c), -1); /* not started */
    assert_int_equal(lw_db_start(db, &err), 0);
    return db;
}

static void stop_and_close(uv_loop_t *loop, lw_db_t *db)
{
    int stopped = 0;
    lw_db_stop(db, on_stopped, &stopped);
    while (stopped == 0)
        uv_run(loop, UV_RUN_ONCE);
    assert_int_equal(stopped, 1);
    lw_db_free(db);
    uv_run(loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(loop), 0); /* every handle was closed */
}

static void test_lw_db_query__times_out_without_server(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    cur_loop = &loop;
    lw_db_t *db = start_nowhere(&loop, 200);
    calls_t q = {0}, t = {0};
    uint64_t t0 = uv_now(&loop);
    assert_int_equal(lw_db_query(db, "SELECT $1::int", 1, (const char *[]){"1"}, on_result, &q), 0);
    assert_int_equal(lw_db_begin(db, on_tx, &t), 0);
    assert_int_equal(q.n, 0); /* never called back before returning */
    while (q.n == 0 || t.n == 0)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(q.n, 1);
    assert_int_equal(q.unavailable, 1);
    assert_true(q.at_ms - t0 >= 190);
    assert_true(q.at_ms - t0 < 2000);
    assert_int_equal(t.n, 1);
    assert_int_equal(t.tx_null, 1);
    assert_int_equal(t.unavailable, 1);
    assert_false(lw_db_ready(db));
    stop_and_close(&loop, db);
    assert_int_equal(q.n, 1); /* exactly once */
}

static void test_lw_db_stop__fails_waiting_queries_once(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    cur_loop = &loop;
    lw_db_t *db = start_nowhere(&loop, 60000);
    calls_t c = {0};
    for (int i = 0; i < 5; i++)
        assert_int_equal(lw_db_query(db, "SELECT 1", 0, NULL, on_result, &c), 0);
    uv_run(&loop, UV_RUN_NOWAIT);
    int stopped = 0;
    lw_db_stop(db, on_stopped, &stopped);
    assert_int_equal(lw_db_query(db, "SELECT 1", 0, NULL, on_result, &c), -1);
    assert_int_equal(lw_db_begin(db, on_tx, &c), -1);
    while (stopped == 0)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(c.n, 5);
    assert_int_equal(c.unavailable, 5);
    lw_db_stop(db, on_stopped, &stopped); /* after the stop: done at once */
    assert_int_equal(stopped, 2);
    lw_db_free(db);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void on_full(void *arg, const PGresult *res, const lw_err_t *err)
{
    calls_t *c = arg;
    c->n++;
    if (res == NULL && err != NULL && strcmp(lw_err_name(err), "db_unavailable") == 0 &&
        strstr(err->message, "10000 queries already waiting") != NULL)
        c->unavailable++;
}

static void test_lw_db_query__bounded_queue(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    cur_loop = &loop;
    lw_db_t *db = start_nowhere(&loop, 60000);
    calls_t waiting = {0}, over = {0};
    for (int i = 0; i < 10000; i++)
        assert_int_equal(lw_db_query(db, "SELECT 1", 0, NULL, on_result, &waiting), 0);
    assert_int_equal(lw_db_query(db, "SELECT 1", 0, NULL, on_full, &over), 0);
    assert_int_equal(over.n, 0); /* called back later, not from inside lw_db_query */
    while (over.n == 0)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(over.unavailable, 1);
    assert_int_equal(waiting.n, 0); /* the others still wait for their timeout */
    lw_db_stats_t st;
    lw_db_stats(db, &st);
    assert_int_equal(st.connections, 2);
    assert_int_equal(st.connections_up, 0);
    assert_int_equal(st.waiting, 10000);
    assert_int_equal(st.requests, 1);
    assert_int_equal(st.unavailable, 1);
    stop_and_close(&loop, db);
    assert_int_equal(waiting.n, 10000);
    assert_int_equal(waiting.unavailable, 10000);
    assert_int_equal(over.n, 1);
}

static void test_lw_db_query__invalid_arguments_refused(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    cur_loop = &loop;
    lw_db_t *db = start_nowhere(&loop, 1000);
    calls_t c = {0};
    assert_int_equal(lw_db_query(db, NULL, 0, NULL, on_result, &c), -1);
    assert_int_equal(lw_db_query(db, "SELECT $1", 1, NULL, on_result, &c), -1);
    assert_int_equal(lw_db_query(db, "SELECT 1", -1, NULL, on_result, &c), -1);
    assert_int_equal(lw_db_query(NULL, "SELECT 1", 0, NULL, on_result, &c), -1);
    assert_int_equal(lw_db_begin(db, NULL, &c), -1);
    assert_int_equal(lw_db_tx_query(NULL, "SELECT 1", 0, NULL, on_result, &c), -1);
    assert_int_equal(lw_db_tx_exec(NULL, "SELECT 1", on_result, &c), -1);
    assert_int_equal(lw_db_tx_commit(NULL, NULL, NULL), -1);
    lw_db_tx_rollback(NULL, NULL, NULL); /* a no-op */
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(c.n, 0);
    stop_and_close(&loop, db);
}

static void test_lw_db_free__never_started(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    lw_err_t err;
    lw_db_opts_t opts = {.uri = NULL, .pool_size = 3, .query_timeout_ms = 1000};
    lw_db_t *db = lw_db_new(&loop, &opts, &err);
    assert_non_null(db);
    assert_false(lw_db_ready(db));
    int stopped = 0;
    lw_db_stop(db, on_stopped, &stopped);
    assert_int_equal(stopped, 1);
    lw_db_free(db);
    lw_db_free(NULL);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_lw_db_connect_blocking__unreachable(void **state)
{
    (void)state;
    lw_err_t err;
    assert_null(lw_db_connect_blocking(DB_NOWHERE, &err));
    assert_string_equal(lw_err_name(&err), "db_unavailable");
    assert_null(strstr(err.message, "hunter2"));
}

int main(void)
{
    lw_log_setup(LW_LOG_ERROR, LW_LOG_LOGFMT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lw_db_quote_ident__plain),
        cmocka_unit_test(test_lw_db_quote_ident__doubles_quotes),
        cmocka_unit_test(test_lw_db_quote_ident__exact_fit_and_too_small),
        cmocka_unit_test(test_lw_db_uri_redact__uri_password),
        cmocka_unit_test(test_lw_db_uri_redact__keyword_password_with_spaces),
        cmocka_unit_test(test_lw_db_uri_redact__invalid),
        cmocka_unit_test(test_lw_db_uri_redact__truncates),
        cmocka_unit_test(test_lw_db_new__invalid_options),
        cmocka_unit_test(test_lw_db_query__times_out_without_server),
        cmocka_unit_test(test_lw_db_stop__fails_waiting_queries_once),
        cmocka_unit_test(test_lw_db_query__bounded_queue),
        cmocka_unit_test(test_lw_db_query__invalid_arguments_refused),
        cmocka_unit_test(test_lw_db_free__never_started),
        cmocka_unit_test(test_lw_db_connect_blocking__unreachable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
