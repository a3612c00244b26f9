/* Unit tests of the API pipeline's pure helpers (cluster/api_codec.c: field masks, paging,
 * order, RFC 3339 times, body keys, conflict mapping) and of its work hand-off on a real
 * loop (cluster/api.c: lw_api_offload, with and without a worker pool). The statement
 * chain against PostgreSQL is exercised through every API's integration test
 * (test_tenants.sh, test_is_api.sh, test_is_access.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/api.h"

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
    const lw_api_env_t env = {.work = pool, .loop = loop, .module = "test"};
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

static void test_lw_api_offload__without_pool_libuv_threadpool(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    run_offload(NULL, &loop);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
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
    const lw_api_env_t env = {.work = pool, .loop = &loop, .module = "test"};
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lw_api_mask_parse_csv__known_deduplicated_read_only_skipped),
        cmocka_unit_test(test_lw_api_mask_parse_csv__empty_and_absent),
        cmocka_unit_test(test_lw_api_mask_parse_csv__unknown_path_named),
        cmocka_unit_test(test_lw_api_mask_parse_csv__predicate_decides),
        cmocka_unit_test(test_lw_api_mask_parse_csv__path_too_long),
        cmocka_unit_test(test_lw_api_mask_parse_json__paths_and_errors),
        cmocka_unit_test(test_lw_api_page_parse__defaults_and_bounds),
        cmocka_unit_test(test_lw_api_page_offset__arithmetic),
        cmocka_unit_test(test_lw_api_page_sql__total_and_page),
        cmocka_unit_test(test_lw_api_order_parse__table_only),
        cmocka_unit_test(test_lw_api_time_valid__rfc3339),
        cmocka_unit_test(test_lw_api_time_format__utc_microseconds),
        cmocka_unit_test(test_lw_api_check_keys__allowed_and_extra),
        cmocka_unit_test(test_lw_api_invalid__message_and_field),
        cmocka_unit_test(test_lw_api_conflict_map__constraint_first_then_default),
        cmocka_unit_test(test_lw_api_offload__worker_pool_result_on_loop),
        cmocka_unit_test(test_lw_api_offload__without_pool_libuv_threadpool),
        cmocka_unit_test(test_lw_api_offload__closed_pool_refuses_and_never_calls_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
