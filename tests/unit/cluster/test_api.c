/* Unit tests of the API pipeline's pure helpers (cluster/api_codec.c: field masks, paging,
 * order, RFC 3339 times, body keys, conflict mapping), of its work hand-off on a real loop
 * (lw_api_offload on a worker pool), and of operations answered through a
 * real HTTP server (cluster/api.c: work then reply, a statement or a BEGIN that the
 * database cannot run, invalid input, a client gone before the answer). The statement
 * chain against a live PostgreSQL runs in every API's integration test (test_tenants.sh,
 * test_tenant_api.sh, test_is_api.sh, test_is_access.sh). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster/api.h"
#include "cluster/log.h"

static const char *attr(const lw_err_t *err, const char *key)
{
    for (int i = 0; i < err->nattrs; i++)
        if (strcmp(err->attrs[i].key, key) == 0)
            return err->attrs[i].value;
    return "";
}

static json_t *parse(const char *s)
{
    json_t *j = json_loads(s, 0, NULL);
    assert_non_null(j);
    return j;
}

static const char *const fields[] = {"name", "description", "max_users", NULL};
static const lw_api_fields_t list_fields = {.paths = fields, .prefix = "tenant."};

/* ---- field masks ------------------------------------------------------------------------- */

static void test_lw_api_mask_parse_csv__known_deduplicated_read_only_skipped(void **state)
{
    (void)state;
    lw_api_mask_t m;
    lw_err_t err;
    assert_int_equal(lw_api_mask_parse_csv(
                         &list_fields, "name,ids,ids.tenant_id,created_at,name,tenant.max_users",
                         "field_mask", &m, &err),
                     0);
    assert_int_equal(m.n, 2);
    assert_string_equal(m.paths[0], "name");
    assert_string_equal(m.paths[1], "max_users");
    assert_true(lw_api_mask_has(&m, "max_users"));
    assert_false(lw_api_mask_has(&m, "description"));
}

static void test_lw_api_mask_parse_csv__empty_and_absent(void **state)
{
    (void)state;
    lw_api_mask_t m;
    lw_err_t err;
    assert_int_equal(lw_api_mask_parse_csv(&list_fields, NULL, "field_mask", &m, &err), 0);
    assert_int_equal(m.n, 0);
    assert_int_equal(lw_api_mask_parse_csv(&list_fields, ",,", "field_mask", &m, &err), 0);
    assert_int_equal(m.n, 0);
}

static void test_lw_api_mask_parse_csv__unknown_path_named(void **state)
{
    (void)state;
    lw_api_mask_t m;
    lw_err_t err;
    assert_int_equal(lw_api_mask_parse_csv(&list_fields, "name,colour", "field_mask", &m, &err),
                     -1);
    assert_string_equal(lw_err_name(&err), "invalid_field");
    assert_string_equal(attr(&err, "field"), "field_mask");
    assert_string_equal(attr(&err, "path"), "colour");
    assert_string_equal(err.message, "invalid `field_mask`: unknown path `colour`");
}

static bool only_nested(const void *arg, const char *path)
{
    (void)arg;
    return strcmp(path, "version_ids.brand_id") == 0;
}

static void test_lw_api_mask_parse_csv__predicate_decides(void **state)
{
    (void)state;
    const lw_api_fields_t f = {.known = only_nested};
    lw_api_mask_t m;
    lw_err_t err;
    assert_int_equal(lw_api_mask_parse_csv(&f, "version_ids.brand_id", "f", &m, &err), 0);
    assert_int_equal(m.n, 1);
    assert_int_equal(lw_api_mask_parse_csv(&f, "version_ids.model_id", "f", &m, &err), -1);
    assert_string_equal(attr(&err, "field"), "f");
}

static void test_lw_api_mask_parse_csv__subpaths_accepted_under_a_listed_path(void **state)
{
    (void)state;
    static const char *const tops[] = {"session", "formatters", NULL};
    const lw_api_fields_t f = {.paths = tops, .subpaths = true};
    lw_api_mask_t m;
    lw_err_t err;
    assert_int_equal(lw_api_mask_parse_csv(&f, "session.keys.app_s_key,formatters", "f", &m, &err),
                     0);
    assert_int_equal(m.n, 2);
    assert_string_equal(m.paths[0], "session.keys.app_s_key");
    /* A prefix of a name is not a parent. */
    assert_int_equal(lw_api_mask_parse_csv(&f, "sessions", "f", &m, &err), -1);
    assert_string_equal(attr(&err, "path"), "sessions");
    /* Without subpaths only the listed names. */
    const lw_api_fields_t exact = {.paths = tops};
    assert_int_equal(lw_api_mask_parse_csv(&exact, "session.keys", "f", &m, &err), -1);
}

static void test_lw_api_mask_selects__itself_parents_and_children(void **state)
{
    (void)state;
    lw_api_mask_t m = {.n = 2};
    snprintf(m.paths[0], sizeof m.paths[0], "session");
    snprintf(m.paths[1], sizeof m.paths[1], "formatters.up_formatter");
    assert_true(lw_api_mask_selects(&m, "session"));
    assert_true(lw_api_mask_selects(&m, "session.dev_addr")); /* parent named */
    assert_true(lw_api_mask_selects(&m, "formatters"));       /* child named */
    assert_true(lw_api_mask_selects(&m, "formatters.up_formatter"));
    assert_false(lw_api_mask_selects(&m, "formatters.down_formatter"));
    assert_false(lw_api_mask_selects(&m, "sessions"));
    assert_false(lw_api_mask_selects(&m, "formatter"));
    assert_false(lw_api_mask_selects(&m, "version_ids"));
    lw_api_mask_t none = {.n = 0};
    assert_false(lw_api_mask_selects(&none, "session"));
}

static void test_lw_api_mask_parse_csv__path_too_long(void **state)
{
    (void)state;
    lw_api_mask_t m;
    lw_err_t err;
    char long_path[200];
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[sizeof long_path - 1] = '\0';
    assert_int_equal(lw_api_mask_parse_csv(&list_fields, long_path, "field_mask", &m, &err), -1);
    assert_string_equal(err.message, "invalid `field_mask`: path too long");
}

static void test_lw_api_mask_parse_json__paths_and_errors(void **state)
{
    (void)state;
    lw_api_mask_t m;
    lw_err_t err;
    json_t *fm = parse("{\"paths\":[\"name\",\"description\"]}");
    assert_int_equal(lw_api_mask_parse_json(&list_fields, fm, "field_mask", &m, &err), 0);
    assert_int_equal(m.n, 2);
    json_decref(fm);
    assert_int_equal(lw_api_mask_parse_json(&list_fields, NULL, "field_mask", &m, &err), 0);
    assert_int_equal(m.n, 0);
    fm = parse("{\"paths\":[\"name\"],\"x\":1}");
    assert_int_equal(lw_api_mask_parse_json(&list_fields, fm, "field_mask", &m, &err), -1);
    assert_string_equal(lw_err_name(&err), "unknown_field");
    assert_string_equal(attr(&err, "field"), "field_mask.x");
    json_decref(fm);
    fm = parse("{\"paths\":[1]}");
    assert_int_equal(lw_api_mask_parse_json(&list_fields, fm, "field_mask", &m, &err), -1);
    assert_string_equal(err.message, "invalid `field_mask`: paths must be strings");
    json_decref(fm);
    fm = parse("{\"paths\":\"name\"}");
    assert_int_equal(lw_api_mask_parse_json(&list_fields, fm, "field_mask", &m, &err), -1);
    assert_string_equal(err.message, "invalid `field_mask`: paths must be an array");
    json_decref(fm);
    fm = parse("[\"name\"]");
    assert_int_equal(lw_api_mask_parse_json(&list_fields, fm, "field_mask", &m, &err), -1);
    assert_string_equal(lw_err_name(&err), "invalid_field");
    json_decref(fm);
}

/* ---- paging ------------------------------------------------------------------------------ */

static void test_lw_api_uint_decode__refuses_out_of_range(void **state)
{
    (void)state;
    lw_err_t err;
    long long n = 7;
    json_t *v = json_string("99999999999999999999999");
    assert_int_equal(lw_api_uint_decode(v, "tenant.max_applications", INT64_MAX, &n, &err), -1);
    assert_string_equal(lw_err_name(&err), "invalid_field");
    assert_string_equal(attr(&err, "field"), "tenant.max_applications");
    assert_int_equal(n, 7); /* untouched, never clamped */
    json_decref(v);
    v = json_string("9223372036854775808");
    assert_int_equal(lw_api_uint_decode(v, "f", INT64_MAX, &n, &err), -1);
    json_decref(v);
    v = json_string("9223372036854775807");
    assert_int_equal(lw_api_uint_decode(v, "f", INT64_MAX, &n, &err), 0);
    assert_true(n == INT64_MAX);
    json_decref(v);
    const char *bad[] = {"", "-1", "+1", " 1", "1 ", "1e3", "0x10", "1.0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = json_string(bad[i]);
        assert_int_equal(lw_api_uint_decode(v, "f", INT64_MAX, &n, &err), -1);
        json_decref(v);
    }
    v = json_integer(-1);
    assert_int_equal(lw_api_uint_decode(v, "f", INT64_MAX, &n, &err), -1);
    json_decref(v);
    v = json_integer(11);
    assert_int_equal(lw_api_uint_decode(v, "f", 10, &n, &err), -1);
    json_decref(v);
    v = json_real(1.0);
    assert_int_equal(lw_api_uint_decode(v, "f", 10, &n, &err), -1);
    json_decref(v);
    v = json_integer(10);
    assert_int_equal(lw_api_uint_decode(v, "f", 10, &n, &err), 0);
    assert_int_equal(n, 10);
    json_decref(v);
}

static void test_lw_api_page_parse__defaults_and_bounds(void **state)
{
    (void)state;
    lw_api_page_t p;
    lw_err_t err;
    assert_int_equal(lw_api_page_parse(NULL, NULL, LW_API_LIMIT_MAX, &p, &err), 0);
    assert_int_equal(p.limit, 1000);
    assert_int_equal(p.page, 1);
    assert_int_equal(lw_api_page_parse("0", "0", 50, &p, &err), 0);
    assert_int_equal(p.limit, 50);
    assert_int_equal(p.page, 1);
    assert_int_equal(lw_api_page_parse("1000", "1000000000", 1000, &p, &err), 0);
    assert_int_equal(lw_api_page_parse("1001", NULL, 1000, &p, &err), -1);
    assert_string_equal(attr(&err, "field"), "limit");
    assert_string_equal(err.message, "invalid `limit`: must be an integer from 0 to 1000");
    assert_int_equal(lw_api_page_parse("-1", NULL, 1000, &p, &err), -1);
    assert_int_equal(lw_api_page_parse("+5", NULL, 1000, &p, &err), -1);
    assert_int_equal(lw_api_page_parse("5x", NULL, 1000, &p, &err), -1);
    assert_int_equal(lw_api_page_parse(NULL, "1000000001", 1000, &p, &err), -1);
    assert_string_equal(attr(&err, "field"), "page");
}

static void test_lw_api_page_offset__arithmetic(void **state)
{
    (void)state;
    lw_api_page_t p = {.limit = 3, .page = 1};
    assert_int_equal(lw_api_page_offset(&p), 0);
    p.page = 4;
    assert_int_equal(lw_api_page_offset(&p), 9);
    p.limit = 1000;
    p.page = 1000000000L;
    assert_true(lw_api_page_offset(&p) == 999999999000L);
}

static void test_lw_api_page_sql__total_and_page(void **state)
{
    (void)state;
    lw_api_page_t p = {.limit = 2, .page = 3};
    char sql[512];
    assert_int_equal(lw_api_page_sql(sql, sizeof sql, "a, b", "s.t WHERE x = $1", "a DESC", &p), 0);
    assert_string_equal(sql, "SELECT t.total, p.* FROM (SELECT count(*) AS total FROM s.t WHERE "
                             "x = $1) t LEFT JOIN LATERAL (SELECT a, b FROM s.t WHERE x = $1 "
                             "ORDER BY a DESC LIMIT 2 OFFSET 4) p ON true");
    assert_int_equal(lw_api_page_sql(sql, 20, "a", "t", "a", &p), -1);
}

/* ---- order ------------------------------------------------------------------------------- */

static const lw_api_order_t orders[] = {
    {"tenant_id", "tenant_id", "tenant_id DESC"},
    {"name", "name, tenant_id", "name DESC, tenant_id"},
};

static void test_lw_api_order_parse__table_only(void **state)
{
    (void)state;
    const char *sql;
    lw_err_t err;
    assert_int_equal(lw_api_order_parse(NULL, orders, 2, &sql, &err), 0);
    assert_string_equal(sql, "tenant_id");
    assert_int_equal(lw_api_order_parse("", orders, 2, &sql, &err), 0);
    assert_string_equal(sql, "tenant_id");
    assert_int_equal(lw_api_order_parse("-name", orders, 2, &sql, &err), 0);
    assert_string_equal(sql, "name DESC, tenant_id");
    assert_int_equal(lw_api_order_parse("name", orders, 2, &sql, &err), 0);
    assert_string_equal(sql, "name, tenant_id");
    assert_int_equal(lw_api_order_parse("name; DROP TABLE x", orders, 2, &sql, &err), -1);
    assert_int_equal(lw_api_order_parse("--name", orders, 2, &sql, &err), -1);
    assert_int_equal(lw_api_order_parse("colour", orders, 2, &sql, &err), -1);
    assert_string_equal(attr(&err, "field"), "order");
    assert_string_equal(err.message, "invalid `order`: cannot order by `colour` (one of "
                                     "tenant_id, name, optionally prefixed with -)");
}

/* ---- times ------------------------------------------------------------------------------- */

static void test_lw_api_time_valid__rfc3339(void **state)
{
    (void)state;
    assert_true(lw_api_time_valid("2026-01-02T03:04:05Z"));
    assert_true(lw_api_time_valid("2026-01-02T03:04:05.123456Z"));
    assert_true(lw_api_time_valid("2026-01-02T03:04:05+02:00"));
    assert_false(lw_api_time_valid("2026-01-02 03:04:05Z"));
    assert_false(lw_api_time_valid("2026-13-02T03:04:05Z"));
    assert_false(lw_api_time_valid("2026-01-02T03:04:05"));
    assert_false(lw_api_time_valid("tomorrow"));
    assert_false(lw_api_time_valid("2026-01-02T03:04:05.Z"));
    assert_false(lw_api_time_valid(NULL));
}

static void test_lw_api_time_parse__ns(void **state)
{
    (void)state;
    assert_int_equal(lw_api_time_parse("2026-01-02T03:04:05Z"), 1767323045000000000LL);
    assert_int_equal(lw_api_time_parse("2026-01-02T03:04:05.123456789123Z"), 1767323045123456789LL);
    assert_int_equal(lw_api_time_parse("2026-01-02T04:04:05.5+01:00"), 1767323045500000000LL);
    assert_int_equal(lw_api_time_parse("2026-01-02T02:34:05-00:30"), 1767323045000000000LL);
    assert_int_equal(lw_api_time_parse("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(lw_api_time_parse("1970-01-01T00:00:00+01:00"), -1);
    assert_int_equal(lw_api_time_parse("4050-01-01T00:00:00Z"), -1);
    assert_int_equal(lw_api_time_parse("yesterday"), -1);
    assert_int_equal(lw_api_time_parse(NULL), -1);
}

static void test_lw_api_time_format__utc_microseconds(void **state)
{
    (void)state;
    char out[LW_API_TIME_LEN];
    struct timespec ts = {.tv_sec = 1767323045, .tv_nsec = 123456789};
    lw_api_time_format(&ts, out);
    assert_string_equal(out, "2026-01-02T03:04:05.123456Z");
    assert_true(lw_api_time_valid(out));
    ts.tv_sec = 0;
    ts.tv_nsec = 0;
    lw_api_time_format(&ts, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000000Z");
}

/* ---- bodies and errors ------------------------------------------------------------------- */

static void test_lw_api_check_keys__allowed_and_extra(void **state)
{
    (void)state;
    static const char *const allowed[] = {"tenant", NULL};
    static const char *const extra[] = {"initial_user", NULL};
    lw_err_t err;
    json_t *o = parse("{\"tenant\":{},\"initial_user\":{}}");
    assert_int_equal(lw_api_check_keys(o, allowed, extra, &err), 0);
    assert_int_equal(lw_api_check_keys(o, allowed, NULL, &err), -1);
    assert_string_equal(lw_err_name(&err), "unknown_field");
    assert_string_equal(attr(&err, "field"), "initial_user");
    assert_string_equal(err.message, "unknown field `initial_user`");
    json_decref(o);
}

static void test_lw_api_invalid__message_and_field(void **state)
{
    (void)state;
    lw_err_t err;
    assert_int_equal(lw_api_invalid(&err, "tenant.name", "too long (at most %d characters)", 50),
                     -1);
    assert_string_equal(lw_err_name(&err), "invalid_field");
    assert_int_equal(err.def->http_status, 400);
    assert_string_equal(err.message, "invalid `tenant.name`: too long (at most 50 characters)");
    assert_string_equal(attr(&err, "field"), "tenant.name");
}

static void test_lw_api_conflict_map__constraint_first_then_default(void **state)
{
    (void)state;
    lw_api_conflict_t c[2];
    memset(c, 0, sizeof c);
    snprintf(c[0].message, sizeof c[0].message, "gateway `gw1` already exists");
    snprintf(c[1].constraint, sizeof c[1].constraint, "eui");
    snprintf(c[1].message, sizeof c[1].message, "gateway EUI `00` is already registered");
    snprintf(c[1].id, sizeof c[1].id, "gw1");
    lw_err_t in, out;
    lw_err_set(&in, &lw_err_db_unique_violation, "duplicate key");
    lw_err_attr(&in, "constraint", "gateway_euis_pkey_eui");
    lw_api_conflict_map(c, 2, &in, &out);
    assert_string_equal(lw_err_name(&out), "already_exists");
    assert_int_equal(out.def->http_status, 409);
    assert_string_equal(out.message, "gateway EUI `00` is already registered");
    assert_string_equal(attr(&out, "id"), "gw1");
    lw_err_attr(&in, "constraint", "gateways_pkey");
    lw_api_conflict_map(c, 2, &in, &out);
    assert_string_equal(out.message, "gateway `gw1` already exists");
    assert_int_equal(out.nattrs, 0);
    /* No conflict registered: the database's error stays. */
    lw_api_conflict_map(c, 0, &in, &out);
    assert_string_equal(lw_err_name(&out), "db_unique_violation");
    /* Other errors are not conflicts. */
    lw_err_set(&in, &lw_err_db_unavailable, "gone");
    lw_api_conflict_map(c, 2, &in, &out);
    assert_string_equal(lw_err_name(&out), "db_unavailable");
}

/* ---- work off the loop ------------------------------------------------------------------- */

typedef struct job {
    uv_thread_t loop_thread;
    uv_thread_t ran_on;
    int runs, dones;
    bool canceled;
    bool done_on_loop;
} job_t;

static void job_run(void *arg)
{
    job_t *j = arg;
    j->ran_on = uv_thread_self();
    j->runs++;
}

static void job_done(void *arg, bool canceled)
{
    job_t *j = arg;
    uv_thread_t self = uv_thread_self();
    j->done_on_loop = uv_thread_equal(&self, &j->loop_thread) != 0;
    j->canceled = canceled;
    j->dones++;
}

static void run_offload(lw_work_pool_t *pool, uv_loop_t *loop)
{
    const lw_api_env_t env = {.work = pool, .module = "test"};
    job_t j;
    memset(&j, 0, sizeof j);
    j.loop_thread = uv_thread_self();
    lw_err_t err;
    assert_int_equal(lw_api_offload(&env, job_run, job_done, &j, &err), 0);
    assert_int_equal(j.dones, 0); /* never from inside the call */
    while (j.dones == 0)
        uv_run(loop, UV_RUN_ONCE);
    assert_int_equal(j.runs, 1);
    assert_int_equal(j.dones, 1);
    assert_false(j.canceled);
    assert_true(j.done_on_loop);
    assert_false(uv_thread_equal(&j.ran_on, &j.loop_thread));
}

static void pool_closed(void *arg)
{
    *(bool *)arg = true;
}

static void test_lw_api_offload__worker_pool_result_on_loop(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    lw_err_t err;
    lw_work_pool_t *pool = lw_work_pool_new(&loop, 2, 4, &err);
    assert_non_null(pool);
    run_offload(pool, &loop);
    bool closed = false;
    lw_work_pool_close(pool, pool_closed, &closed);
    while (!closed)
        uv_run(&loop, UV_RUN_ONCE);
    lw_work_pool_free(pool);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_lw_api_offload__without_pool_refused(void **state)
{
    (void)state;
    const lw_api_env_t env = {.module = "test"};
    job_t j;
    memset(&j, 0, sizeof j);
    lw_err_t err;
    assert_int_equal(lw_api_offload(&env, job_run, job_done, &j, &err), -1);
    assert_string_equal(lw_err_name(&err), "internal");
    assert_int_equal(j.runs + j.dones, 0);
}

static void test_lw_api_offload__closed_pool_refuses_and_never_calls_back(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    lw_err_t err;
    lw_work_pool_t *pool = lw_work_pool_new(&loop, 1, 1, &err);
    assert_non_null(pool);
    bool closed = false;
    lw_work_pool_close(pool, pool_closed, &closed);
    const lw_api_env_t env = {.work = pool, .module = "test"};
    job_t j;
    memset(&j, 0, sizeof j);
    assert_int_equal(lw_api_offload(&env, job_run, job_done, &j, &err), -1);
    assert_string_equal(lw_err_name(&err), "work_pool_closed");
    while (!closed)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(j.dones, 0);
    assert_int_equal(j.runs, 0);
    lw_work_pool_free(pool);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- operations through a real HTTP server ----------------------------------------------- */

/* A Unix-socket folder that does not exist: every connection attempt fails at once. */
#define DB_NOWHERE "host=/nonexistent-lwstack-test-dir dbname=x user=y"

typedef struct server {
    uv_loop_t loop;
    lw_config_t *cfg;
    lw_http_t *http;
    lw_db_t *db;
    lw_work_pool_t *pool;
    lw_api_env_t env;
    int destroyed; /* ops freed */
    /* the client thread */
    pthread_t client;
    int port;
    const char *request;
    bool close_early; /* leave before the answer */
    char response[4096];
    volatile int client_done;
    uv_timer_t poll;
} server_t;

typedef struct test_op {
    lw_api_op_t api;
    server_t *s;
    int input;
    int doubled; /* written off the loop */
} test_op_t;

static void test_op_destroy(lw_api_op_t *op)
{
    ((test_op_t *)op)->s->destroyed++;
}

static test_op_t *test_op_new(server_t *s, lw_http_req_t *req)
{
    test_op_t *op = lw_api_op_new(sizeof *op, &s->env, req);
    assert_non_null(op);
    op->s = s;
    op->api.destroy = test_op_destroy;
    return op;
}

static int double_work(lw_api_op_t *a)
{
    test_op_t *op = (test_op_t *)a;
    op->doubled = op->input * 2;
    return 7;
}

static void doubled(lw_api_op_t *a, int rc)
{
    test_op_t *op = (test_op_t *)a;
    lw_api_reply(a, 200, json_pack("{si si}", "doubled", op->doubled, "rc", rc));
}

static void h_work(lw_http_req_t *req, void *arg)
{
    test_op_t *op = test_op_new(arg, req);
    op->input = atoi(lw_http_query(req, "n"));
    lw_api_work(&op->api, double_work, doubled);
}

static void never(lw_api_op_t *a, const PGresult *res)
{
    (void)res;
    lw_api_reply(a, 200, NULL); /* not reached: the database is not there */
}

static void h_query(lw_http_req_t *req, void *arg)
{
    test_op_t *op = test_op_new(arg, req);
    lw_api_query(&op->api, "SELECT 1", 0, NULL, never);
}

static void h_begin(lw_http_req_t *req, void *arg)
{
    test_op_t *op = test_op_new(arg, req);
    lw_api_begin(&op->api, never);
}

static void h_invalid(lw_http_req_t *req, void *arg)
{
    test_op_t *op = test_op_new(arg, req);
    lw_api_fail_invalid(&op->api, "limit", "must be an integer from 0 to 1000");
}

static int server_setup(void **state)
{
    server_t *s = calloc(1, sizeof *s);
    lw_log_setup(LW_LOG_ERROR, LW_LOG_LOGFMT);
    assert_int_equal(uv_loop_init(&s->loop), 0);
    s->cfg = lw_config_new();
    assert_int_equal(lw_http_config_register(s->cfg), 0);
    lw_err_t err;
    assert_int_equal(lw_config_set(s->cfg, "http.listen", "127.0.0.1:0", "flag", &err), 0);
    s->http = lw_http_new(&s->loop, s->cfg, &err);
    assert_non_null(s->http);
    const lw_db_opts_t opts = {.uri = DB_NOWHERE, .pool_size = 1, .query_timeout_ms = 100};
    s->db = lw_db_new(&s->loop, &opts, &err);
    assert_non_null(s->db);
    assert_int_equal(lw_db_start(s->db, &err), 0);
    s->pool = lw_work_pool_new(&s->loop, 1, 4, &err);
    assert_non_null(s->pool);
    s->env = (lw_api_env_t){.db = s->db, .work = s->pool, .module = "test"};
    lw_http_route(s->http, "GET", "/work", h_work, s);
    lw_http_route(s->http, "GET", "/query", h_query, s);
    lw_http_route(s->http, "GET", "/begin", h_begin, s);
    lw_http_route(s->http, "GET", "/invalid", h_invalid, s);
    assert_int_equal(lw_http_start(s->http, &err), 0);
    s->port = lw_http_port(s->http);
    *state = s;
    return 0;
}

static void flag_set(void *arg)
{
    *(int *)arg = 1;
}

static int server_teardown(void **state)
{
    server_t *s = *state;
    int http_stopped = 0, db_stopped = 0, pool_closed = 0;
    lw_http_stop(s->http, flag_set, &http_stopped);
    lw_db_stop(s->db, flag_set, &db_stopped);
    lw_work_pool_close(s->pool, flag_set, &pool_closed);
    while (!http_stopped || !db_stopped || !pool_closed)
        uv_run(&s->loop, UV_RUN_ONCE);
    lw_http_free(s->http);
    lw_db_free(s->db);
    lw_work_pool_free(s->pool);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&s->loop), 0);
    lw_config_free(s->cfg);
    free(s);
    return 0;
}

/* The client: one request, then everything until the server closes (or leaves at once). */
static void *client_main(void *arg)
{
    server_t *s = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t n = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        send(fd, s->request, strlen(s->request), MSG_NOSIGNAL) > 0 && !s->close_early) {
        ssize_t r;
        while (n + 1 < sizeof s->response &&
               (r = recv(fd, s->response + n, sizeof s->response - 1 - n, 0)) > 0)
            n += (size_t)r;
    }
    s->response[n] = '\0';
    close(fd);
    __atomic_store_n(&s->client_done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void poll_client(uv_timer_t *t)
{
    server_t *s = t->data;
    if (__atomic_load_n(&s->client_done, __ATOMIC_SEQ_CST) && s->destroyed > 0)
        uv_stop(&s->loop);
}

/* Sends `path` and runs the loop until the client has its answer and the op is freed. */
static const char *roundtrip(server_t *s, const char *path, bool close_early)
{
    static char request[256];
    snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
             path);
    s->request = request;
    s->close_early = close_early;
    s->client_done = 0;
    s->destroyed = 0;
    uv_timer_init(&s->loop, &s->poll);
    s->poll.data = s;
    uv_timer_start(&s->poll, poll_client, 5, 5);
    assert_int_equal(pthread_create(&s->client, NULL, client_main, s), 0);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    pthread_join(s->client, NULL);
    uv_close((uv_handle_t *)&s->poll, NULL);
    return s->response;
}

static const char *body_of(const char *response)
{
    const char *b = strstr(response, "\r\n\r\n");
    return b != NULL ? b + 4 : "";
}

static void test_lw_api_work__result_answered_on_the_loop(void **state)
{
    server_t *s = *state;
    const char *r = roundtrip(s, "/work?n=21", false);
    assert_true(strncmp(r, "HTTP/1.1 200", 12) == 0);
    json_t *b = json_loads(body_of(r), 0, NULL);
    assert_non_null(b);
    assert_int_equal(json_integer_value(json_object_get(b, "doubled")), 42);
    assert_int_equal(json_integer_value(json_object_get(b, "rc")), 7);
    json_decref(b);
    assert_int_equal(s->destroyed, 1);
}

static void expect_error(server_t *s, const char *path, const char *status, const char *name)
{
    const char *r = roundtrip(s, path, false);
    assert_true(strncmp(r, status, strlen(status)) == 0);
    json_t *b = json_loads(body_of(r), 0, NULL);
    assert_non_null(b);
    json_t *d = json_array_get(json_object_get(b, "details"), 0);
    assert_string_equal(json_string_value(json_object_get(d, "name")), name);
    json_decref(b);
    assert_int_equal(s->destroyed, 1);
}

static void test_lw_api_query__database_unavailable_answers_503(void **state)
{
    expect_error(*state, "/query", "HTTP/1.1 503", "db_unavailable");
}

static void test_lw_api_begin__database_unavailable_answers_503(void **state)
{
    expect_error(*state, "/begin", "HTTP/1.1 503", "db_unavailable");
}

static void test_lw_api_fail_invalid__answers_400_naming_the_field(void **state)
{
    expect_error(*state, "/invalid", "HTTP/1.1 400", "invalid_field");
}

static void test_lw_api_work__client_gone_before_the_answer(void **state)
{
    server_t *s = *state;
    roundtrip(s, "/work?n=1", true);
    /* The op ran to its end and was freed once; the answer went nowhere. */
    assert_int_equal(s->destroyed, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lw_api_mask_parse_csv__known_deduplicated_read_only_skipped),
        cmocka_unit_test(test_lw_api_mask_parse_csv__empty_and_absent),
        cmocka_unit_test(test_lw_api_mask_parse_csv__unknown_path_named),
        cmocka_unit_test(test_lw_api_mask_parse_csv__predicate_decides),
        cmocka_unit_test(test_lw_api_mask_parse_csv__subpaths_accepted_under_a_listed_path),
        cmocka_unit_test(test_lw_api_mask_selects__itself_parents_and_children),
        cmocka_unit_test(test_lw_api_mask_parse_csv__path_too_long),
        cmocka_unit_test(test_lw_api_mask_parse_json__paths_and_errors),
        cmocka_unit_test(test_lw_api_page_parse__defaults_and_bounds),
        cmocka_unit_test(test_lw_api_uint_decode__refuses_out_of_range),
        cmocka_unit_test(test_lw_api_page_offset__arithmetic),
        cmocka_unit_test(test_lw_api_page_sql__total_and_page),
        cmocka_unit_test(test_lw_api_order_parse__table_only),
        cmocka_unit_test(test_lw_api_time_valid__rfc3339),
        cmocka_unit_test(test_lw_api_time_parse__ns),
        cmocka_unit_test(test_lw_api_time_format__utc_microseconds),
        cmocka_unit_test(test_lw_api_check_keys__allowed_and_extra),
        cmocka_unit_test(test_lw_api_invalid__message_and_field),
        cmocka_unit_test(test_lw_api_conflict_map__constraint_first_then_default),
        cmocka_unit_test(test_lw_api_offload__worker_pool_result_on_loop),
        cmocka_unit_test(test_lw_api_offload__without_pool_refused),
        cmocka_unit_test(test_lw_api_offload__closed_pool_refuses_and_never_calls_back),
        cmocka_unit_test_setup_teardown(test_lw_api_work__result_answered_on_the_loop, server_setup,
                                        server_teardown),
        cmocka_unit_test_setup_teardown(test_lw_api_query__database_unavailable_answers_503,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_lw_api_begin__database_unavailable_answers_503,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_lw_api_fail_invalid__answers_400_naming_the_field,
                                        server_setup, server_teardown),
        cmocka_unit_test_setup_teardown(test_lw_api_work__client_gone_before_the_answer,
                                        server_setup, server_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
