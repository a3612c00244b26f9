/* Unit tests of the HTTP server's pure decoding (cluster/http_router.c) and error JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/http_private.h"

static void h_a(lw_http_req_t *req, void *arg)
{
    (void)req;
    (void)arg;
}

static void h_b(lw_http_req_t *req, void *arg)
{
    (void)req;
    (void)arg;
}

static int setup_router(void **state)
{
    lw_http__router_t *r = calloc(1, sizeof *r);
    lw_http__router_init(r);
    lw_err_t err;
    assert_int_equal(lw_http__router_add(r, "GET", "/api/v3/tenants", h_a, NULL, &err), 0);
    assert_int_equal(lw_http__router_add(r, "POST", "/api/v3/tenants", h_b, NULL, &err), 0);
    assert_int_equal(lw_http__router_add(r, "GET", "/api/v3/tenants/{tenant_id}", h_a, NULL, &err),
                     0);
    assert_int_equal(lw_http__router_add(r, "PUT", "/api/v3/tenants/{tenant_id}", h_b, NULL, &err),
                     0);
    assert_int_equal(lw_http__router_add(r, "GET", "/api/v3/tenants/new", h_b, NULL, &err), 0);
    assert_int_equal(
        lw_http__router_add(r, "GET", "/apps/{app_id}/devices/{device_id}", h_a, (void *)r, &err),
        0);
    assert_int_equal(lw_http__router_add(r, "GET", "/", h_b, NULL, &err), 0);
    *state = r;
    return 0;
}

static int teardown_router(void **state)
{
    lw_http__router_destroy(*state);
    free(*state);
    return 0;
}

static lw_http__match_result_t match(lw_http__router_t *r, const char *method, const char *path,
                                     lw_http__match_t *m, char *buf, size_t cap)
{
    return lw_http__router_match(r, method, path, strlen(path), m, buf, cap);
}

static void test_lw_http__router_match__literal(void **state)
{
    lw_http__match_t m;
    char buf[128];
    assert_int_equal(match(*state, "GET", "/api/v3/tenants", &m, buf, sizeof buf),
                     LW_HTTP__MATCH_OK);
    assert_string_equal(m.route->pattern, "/api/v3/tenants");
    assert_ptr_equal(m.route->handler, h_a);
    assert_int_equal(m.nparams, 0);
    assert_int_equal(match(*state, "POST", "/api/v3/tenants", &m, buf, sizeof buf),
                     LW_HTTP__MATCH_OK);
    assert_ptr_equal(m.route->handler, h_b);
}

static void test_lw_http__router_match__captures(void **state)
{
    lw_http__match_t m;
    char buf[128];
    assert_int_equal(match(*state, "GET", "/apps/my-app/devices/dev 1", &m, buf, sizeof buf),
                     LW_HTTP__MATCH_OK);
    assert_string_equal(m.route->pattern, "/apps/{app_id}/devices/{device_id}");
    assert_ptr_equal(m.route->arg, *state);
    assert_int_equal(m.nparams, 2);
    assert_string_equal(m.params[0].name, "app_id");
    assert_string_equal(m.params[0].value, "my-app");
    assert_string_equal(m.params[1].name, "device_id");
    assert_string_equal(m.params[1].value, "dev 1");
}

static void test_lw_http__router_match__longest_literal_wins(void **state)
{
    lw_http__match_t m;
    char buf[128];
    assert_int_equal(match(*state, "GET", "/api/v3/tenants/new", &m, buf, sizeof buf),
                     LW_HTTP__MATCH_OK);
    assert_string_equal(m.route->pattern, "/api/v3/tenants/new");
    assert_int_equal(m.nparams, 0);
    assert_int_equal(match(*state, "GET", "/api/v3/tenants/acme", &m, buf, sizeof buf),
                     LW_HTTP__MATCH_OK);
    assert_string_equal(m.route->pattern, "/api/v3/tenants/{tenant_id}");
    assert_string_equal(m.params[0].value, "acme");
}

static void test_lw_http__router_match__other_method_is_405(void **state)
{
    lw_http__match_t m;
    char buf[128];
    assert_int_equal(match(*state, "DELETE", "/api/v3/tenants/acme", &m, buf, sizeof buf),
                     LW_HTTP__MATCH_METHOD);
    assert_null(m.route);
    /* A more specific route of another method does not hide a capture of this one. */
    assert_int_equal(match(*state, "PUT", "/api/v3/tenants/new", &m, buf, sizeof buf),
                     LW_HTTP__MATCH_OK);
    assert_string_equal(m.route->pattern, "/api/v3/tenants/{tenant_id}");
}

static void test_lw_http__router_match__not_found(void **state)
{
    lw_http__match_t m;
    char buf[128];
    assert_int_equal(match(*state, "GET", "/api/v3/nothing", &m, buf, sizeof buf),
                     LW_HTTP__MATCH_NOT_FOUND);
    assert_int_equal(match(*state, "GET", "/api/v3/tenants/", &m, buf, sizeof buf),
                     LW_HTTP__MATCH_NOT_FOUND);
    assert_int_equal(match(*state, "GET", "/api//v3/tenants", &m, buf, sizeof buf),
                     LW_HTTP__MATCH_NOT_FOUND);
    assert_int_equal(match(*state, "GET", "/apps//devices/d", &m, buf, sizeof buf),
                     LW_HTTP__MATCH_NOT_FOUND);
    assert_int_equal(
        match(*state, "GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s", &m, buf, sizeof buf),
        LW_HTTP__MATCH_NOT_FOUND);
}

static void test_lw_http__router_match__root(void **state)
{
    lw_http__match_t m;
    char buf[128];
    assert_int_equal(match(*state, "GET", "/", &m, buf, sizeof buf), LW_HTTP__MATCH_OK);
    assert_string_equal(m.route->pattern, "/");
}

/* A pattern with a trailing '/' matches only the path with it (TTS's Console events URL). */
static void test_lw_http__router_match__trailing_slash_pattern(void **state)
{
    (void)state;
    lw_http__router_t r;
    lw_http__router_init(&r);
    lw_err_t err;
    assert_int_equal(
        lw_http__router_add(&r, "GET", "/api/v3/console/internal/events/", h_a, NULL, &err), 0);
    lw_http__match_t m;
    char buf[128];
    assert_int_equal(match(&r, "GET", "/api/v3/console/internal/events/", &m, buf, sizeof buf),
                     LW_HTTP__MATCH_OK);
    assert_string_equal(m.route->pattern, "/api/v3/console/internal/events/");
    assert_int_equal(match(&r, "GET", "/api/v3/console/internal/events", &m, buf, sizeof buf),
                     LW_HTTP__MATCH_NOT_FOUND);
    assert_int_equal(match(&r, "GET", "/api/v3/console/internal/events/x", &m, buf, sizeof buf),
                     LW_HTTP__MATCH_NOT_FOUND);
    lw_http__router_destroy(&r);
}

static void test_lw_http__router_match__bad_path(void **state)
{
    lw_http__match_t m;
    char buf[8];
    assert_int_equal(match(*state, "GET", "relative", &m, buf, sizeof buf),
                     LW_HTTP__MATCH_BAD_PATH);
    assert_int_equal(match(*state, "GET", "", &m, buf, sizeof buf), LW_HTTP__MATCH_BAD_PATH);
    /* buf must hold the path and its NUL. */
    assert_int_equal(match(*state, "GET", "/12345678", &m, buf, sizeof buf),
                     LW_HTTP__MATCH_BAD_PATH);
    assert_int_equal(lw_http__router_match(*state, "GET", "/a\0b", 4, &m, buf, sizeof buf),
                     LW_HTTP__MATCH_BAD_PATH);
}

static void test_lw_http__router_add__rejects_malformed(void **state)
{
    lw_http__router_t *r = *state;
    lw_err_t err;
    static const char *const bad[] = {"no/slash",
                                      "/a//b",
                                      "/{}",
                                      "/{a",
                                      "/a}",
                                      "/x{a}",
                                      "/{a}b",
                                      "/{a{b}}",
                                      "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17",
                                      "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(lw_http__router_add(r, "GET", bad[i], h_a, NULL, &err), -1);
        assert_string_equal(lw_err_name(&err), "invalid_argument");
    }
    assert_int_equal(lw_http__router_add(r, "get", "/ok", h_a, NULL, &err), -1);
    assert_string_equal(err.message, "invalid HTTP method `get`");
    assert_int_equal(lw_http__router_add(r, "GET", "/api/v3/tenants", h_a, NULL, &err), -1);
    assert_string_equal(err.message, "route GET /api/v3/tenants registered twice");
    assert_int_equal(lw_http__router_add(r, "GET", "/ok", NULL, NULL, &err), -1);
}

static void test_lw_http__query_arg_split__forms(void **state)
{
    (void)state;
    lw_http__kv_t kv;
    char a[] = "limit=10";
    assert_true(lw_http__query_arg_split(a, &kv));
    assert_string_equal(kv.name, "limit");
    assert_string_equal(kv.value, "10");
    char b[] = "flag";
    assert_true(lw_http__query_arg_split(b, &kv));
    assert_string_equal(kv.name, "flag");
    assert_string_equal(kv.value, "");
    char c[] = "q=a=b";
    assert_true(lw_http__query_arg_split(c, &kv));
    assert_string_equal(kv.name, "q");
    assert_string_equal(kv.value, "a=b");
    char d[] = "=v";
    assert_true(lw_http__query_arg_split(d, &kv));
    assert_string_equal(kv.name, "");
    assert_string_equal(kv.value, "v");
    char e[] = "";
    assert_false(lw_http__query_arg_split(e, &kv));
}

static void test_lw_http__json_parse__empty_body_is_object(void **state)
{
    (void)state;
    lw_err_t err;
    json_t *j = lw_http__json_parse("", 0, &err);
    assert_non_null(j);
    assert_true(json_is_object(j));
    assert_int_equal(json_object_size(j), 0);
    json_decref(j);
    j = lw_http__json_parse(" \r\n\t", 4, &err);
    assert_non_null(j);
    assert_true(json_is_object(j));
    json_decref(j);
}

static void test_lw_http__json_parse__object(void **state)
{
    (void)state;
    lw_err_t err;
    const char *body = "{\"ids\":{\"tenant_id\":\"acme\"},\"n\":3}";
    json_t *j = lw_http__json_parse(body, strlen(body), &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "ids"), "tenant_id")),
                        "acme");
    json_decref(j);
}

static void test_lw_http__json_parse__syntax_error_has_position(void **state)
{
    (void)state;
    lw_err_t err;
    const char *body = "{\n  \"a\": tru\n}";
    assert_null(lw_http__json_parse(body, strlen(body), &err));
    assert_string_equal(lw_err_name(&err), "invalid_json");
    assert_int_equal(err.nattrs, 3);
    assert_string_equal(err.attrs[0].key, "line");
    assert_string_equal(err.attrs[0].value, "2");
    assert_true(err.attrs[0].is_number);
    assert_string_equal(err.attrs[1].key, "column");
    assert_string_equal(err.attrs[2].key, "error");
    assert_non_null(strstr(err.message, "invalid JSON body at line 2 column"));
}

static void test_lw_http__json_parse__rejects_non_objects_and_duplicates(void **state)
{
    (void)state;
    lw_err_t err;
    static const char *const bad[] = {
        "[]", "\"s\"", "1", "null", "{\"a\":1,\"a\":2}", "{} {}", "{\"a\":\"\\u0000\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_null(lw_http__json_parse(bad[i], strlen(bad[i]), &err));
        assert_string_equal(lw_err_name(&err), "invalid_json");
    }
    assert_null(lw_http__json_parse("{\"a\":\0}", 7, &err));
}

static void test_lw_http_err_json__tts_shape(void **state)
{
    (void)state;
    lw_err_t err;
    lw_err_set(&err, &lw_err_db_unique_violation, "tenant `acme` already exists");
    lw_err_attr(&err, "tenant_id", "acme");
    lw_err_attr_num(&err, "limit", 10);
    json_t *j = lw_http_err_json(&err, "http:0123");
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(
        s,
        "{\"code\":6,\"details\":[{\"@type\":\"type.googleapis.com/ttn.lorawan.v3.ErrorDetails\","
        "\"attributes\":{\"limit\":10,\"tenant_id\":\"acme\"},\"code\":6,\"correlation_id\":"
        "\"http:0123\",\"message_format\":\"already exists\",\"name\":\"db_unique_violation\","
        "\"namespace\":\"pkg/db\"}],\"message\":\"error:pkg/db:db_unique_violation (tenant "
        "`acme` already exists)\"}");
    free(s);
    json_decref(j);
}

static void test_lw_http_err_json__no_error_is_internal(void **state)
{
    (void)state;
    json_t *j = lw_http_err_json(NULL, NULL);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(
        s,
        "{\"code\":13,\"details\":[{\"@type\":\"type.googleapis.com/ttn.lorawan.v3.ErrorDetails\","
        "\"attributes\":{},\"code\":13,\"message_format\":\"internal error\",\"name\":\"internal\","
        "\"namespace\":\"pkg/cluster\"}],\"message\":\"error:pkg/cluster:internal (internal "
        "error)\"}");
    free(s);
    json_decref(j);
}

static void test_lw_http_err_json__invalid_utf8_kept_valid(void **state)
{
    (void)state;
    lw_err_t err;
    lw_err_set(&err, &lw_err_invalid_field, "bad \xff value");
    lw_err_attr(&err, "field", "x\xfey");
    json_t *j = lw_http_err_json(&err, "c");
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "message")), "invalid `{field}`");
    json_t *attrs = json_object_get(json_array_get(json_object_get(j, "details"), 0), "attributes");
    assert_string_equal(json_string_value(json_object_get(attrs, "field")), "");
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lw_http__router_match__trailing_slash_pattern),
        cmocka_unit_test_setup_teardown(test_lw_http__router_match__literal, setup_router,
                                        teardown_router),
        cmocka_unit_test_setup_teardown(test_lw_http__router_match__captures, setup_router,
                                        teardown_router),
        cmocka_unit_test_setup_teardown(test_lw_http__router_match__longest_literal_wins,
                                        setup_router, teardown_router),
        cmocka_unit_test_setup_teardown(test_lw_http__router_match__other_method_is_405,
                                        setup_router, teardown_router),
        cmocka_unit_test_setup_teardown(test_lw_http__router_match__not_found, setup_router,
                                        teardown_router),
        cmocka_unit_test_setup_teardown(test_lw_http__router_match__root, setup_router,
                                        teardown_router),
        cmocka_unit_test_setup_teardown(test_lw_http__router_match__bad_path, setup_router,
                                        teardown_router),
        cmocka_unit_test_setup_teardown(test_lw_http__router_add__rejects_malformed, setup_router,
                                        teardown_router),
        cmocka_unit_test(test_lw_http__query_arg_split__forms),
        cmocka_unit_test(test_lw_http__json_parse__empty_body_is_object),
        cmocka_unit_test(test_lw_http__json_parse__object),
        cmocka_unit_test(test_lw_http__json_parse__syntax_error_has_position),
        cmocka_unit_test(test_lw_http__json_parse__rejects_non_objects_and_duplicates),
        cmocka_unit_test(test_lw_http_err_json__tts_shape),
        cmocka_unit_test(test_lw_http_err_json__no_error_is_internal),
        cmocka_unit_test(test_lw_http_err_json__invalid_utf8_kept_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
