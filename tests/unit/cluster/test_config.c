/* cluster/config.c: the table-driven configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/config.h"

static const char *const colours[] = {"red", "green", NULL};

static int check_even(const char *value, char *why, size_t why_len)
{
    if (atoi(value) % 2 != 0) {
        snprintf(why, why_len, "must be even");
        return -1;
    }
    return 0;
}

static const lw_cfg_opt_t opts[] = {
    {.key = "a.name", .type = LW_CFG_STRING, .def = "x", .help = "a name"},
    {.key = "a.count", .type = LW_CFG_INT, .def = "2", .min = 0, .max = 10},
    {.key = "a.even", .type = LW_CFG_INT, .check = check_even},
    {.key = "a.on", .type = LW_CFG_BOOL, .def = "false"},
    {.key = "a.wait", .type = LW_CFG_DURATION, .def = "5s", .min = 1, .max = 60000},
    {.key = "a.items", .type = LW_CFG_LIST},
    {.key = "a.colour", .type = LW_CFG_ENUM, .def = "red", .choices = colours},
    {.key = "a.password", .type = LW_CFG_STRING, .flags = LW_CFG_SECRET},
    {.key = "a.kafka.*", .type = LW_CFG_MAP},
    {.key = "a.dash-key", .type = LW_CFG_STRING},
};

static lw_config_t *new_cfg(void)
{
    lw_config_t *cfg = lw_config_new();
    lw_config_register(cfg, "test", opts, sizeof opts / sizeof opts[0]);
    return cfg;
}

static void test_lw_config_defaults__typed_getters(void **state)
{
    (void)state;
    lw_config_t *cfg = new_cfg();
    assert_string_equal(lw_config_str(cfg, "a.name"), "x");
    assert_int_equal(lw_config_int(cfg, "a.count"), 2);
    assert_false(lw_config_bool(cfg, "a.on"));
    assert_int_equal(lw_config_duration_ms(cfg, "a.wait"), 5000);
    assert_null(lw_config_str(cfg, "a.password"));
    size_t n;
    lw_config_list(cfg, "a.items", &n);
    assert_int_equal(n, 0);
    lw_config_free(cfg);
}

static void test_lw_config_set__validates_each_type(void **state)
{
    (void)state;
    lw_config_t *cfg = new_cfg();
    lw_err_t err;
    assert_int_equal(lw_config_set(cfg, "a.count", "11", "flag", &err), -1);
    assert_string_equal(err.message, "invalid value `11` for `a.count`: must be between 0 and 10");
    assert_string_equal(lw_err_name(&err), "config_invalid");
    assert_int_equal(lw_config_set(cfg, "a.count", "1x", "flag", &err), -1);
    assert_int_equal(lw_config_set(cfg, "a.on", "maybe", "flag", &err), -1);
    assert_string_equal(err.message,
                        "invalid value `maybe` for `a.on`: not a boolean (true or false)");
    assert_int_equal(lw_config_set(cfg, "a.wait", "5", "flag", &err), -1);
    assert_int_equal(lw_config_set(cfg, "a.wait", "2m", "flag", &err), -1); /* > max */
    assert_int_equal(lw_config_set(cfg, "a.wait", "1500ms", "flag", &err), 0);
    assert_int_equal(lw_config_duration_ms(cfg, "a.wait"), 1500);
    assert_int_equal(lw_config_set(cfg, "a.colour", "blue", "flag", &err), -1);
    assert_string_equal(err.message,
                        "invalid value `blue` for `a.colour`: must be one of red green");
    assert_int_equal(lw_config_set(cfg, "a.even", "3", "flag", &err), -1);
    assert_string_equal(err.message, "invalid value `3` for `a.even`: must be even");
    assert_int_equal(lw_config_set(cfg, "nope", "3", "flag", &err), -1);
    assert_string_equal(lw_err_name(&err), "config_unknown_key");
    /* Failed sets leave the previous value. */
    assert_int_equal(lw_config_int(cfg, "a.count"), 2);
    lw_config_free(cfg);
}

static void test_lw_config_secret__never_echoed(void **state)
{
    (void)state;
    lw_config_t *cfg = new_cfg();
    lw_err_t err;
    assert_int_equal(lw_config_set(cfg, "a.password", "hunter2", "env", &err), 0);
    assert_int_equal(lw_config_set(cfg, "a.kafka.sasl.password", "s3cret", "env", &err), 0);
    assert_int_equal(lw_config_set(cfg, "a.kafka.ssl.key", "pemkey", "env", &err), 0);
    assert_int_equal(lw_config_set(cfg, "a.kafka.sasl.jaas.config", "jaascfg", "env", &err), 0);
    assert_int_equal(lw_config_set(cfg, "a.kafka.security.protocol", "SSL", "env", &err), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    lw_config_print(cfg, f);
    fclose(f);
    assert_null(strstr(buf, "hunter2"));
    assert_null(strstr(buf, "s3cret"));
    assert_null(strstr(buf, "pemkey"));
    assert_null(strstr(buf, "jaascfg"));
    assert_non_null(strstr(buf, "a.kafka.security.protocol: SSL  # env"));
    assert_non_null(strstr(buf, "a.password: <redacted>  # env"));
    assert_non_null(strstr(buf, "a.kafka.sasl.password: <redacted>  # env"));
    free(buf);
    lw_config_free(cfg);
}

static void test_lw_config_load_yaml__nesting_lists_and_maps(void **state)
{
    (void)state;
    lw_config_t *cfg = new_cfg();
    lw_err_t err;
    const char *yaml = "a:\n  name: y\n  items: [p, q]\n  kafka:\n    security.protocol: SSL\n"
                       "  dash-key: d\n";
    assert_int_equal(lw_config_load_yaml(cfg, yaml, strlen(yaml), "t.yaml", &err), 0);
    assert_string_equal(lw_config_str(cfg, "a.name"), "y");
    assert_string_equal(lw_config_str(cfg, "a.dash-key"), "d");
    size_t n;
    const char *const *items = lw_config_list(cfg, "a.items", &n);
    assert_int_equal(n, 2);
    assert_string_equal(items[1], "q");
    const char *bad = "a:\n  count: 99\n";
    assert_int_equal(lw_config_load_yaml(cfg, bad, strlen(bad), "t.yaml", &err), -1);
    assert_string_equal(err.message,
                        "t.yaml: invalid value `99` for `a.count`: must be between 0 and 10");
    lw_config_free(cfg);
}

static void test_lw_config_load_env__names_and_maps(void **state)
{
    (void)state;
    lw_config_t *cfg = new_cfg();
    lw_err_t err;
    char *env[] = {"LWSTACK_A_NAME=fromenv",
                   "LWSTACK_A_DASH_KEY=dk",
                   "LWSTACK_A_ITEMS=x, y ,z",
                   "LWSTACK_A_KAFKA_SASL_USERNAME=me",
                   "LWSTACK_UNRELATED=1",
                   "PATH=/bin",
                   NULL};
    assert_int_equal(lw_config_load_env(cfg, env, &err), 0);
    assert_string_equal(lw_config_str(cfg, "a.name"), "fromenv");
    assert_string_equal(lw_config_str(cfg, "a.dash-key"), "dk");
    size_t n;
    const char *const *items = lw_config_list(cfg, "a.items", &n);
    assert_int_equal(n, 3);
    assert_string_equal(items[1], "y");
    char name[64];
    lw_config_env_name("a.dash-key", name, sizeof name);
    assert_string_equal(name, "LWSTACK_A_DASH_KEY");
    lw_config_free(cfg);
}

static void test_lw_config_parse_flags__forms_and_leftovers(void **state)
{
    (void)state;
    lw_config_t *cfg = new_cfg();
    lw_err_t err;
    char *argv[] = {"lwstack", "--a.name=f", "start", "--a.count", "7",
                    "--a.on",  "--other",    "all",   NULL};
    int argc = 8;
    assert_int_equal(lw_config_parse_flags(cfg, &argc, argv, &err), 0);
    assert_int_equal(argc, 4);
    assert_string_equal(argv[1], "start");
    assert_string_equal(argv[2], "--other");
    assert_string_equal(argv[3], "all");
    assert_string_equal(lw_config_str(cfg, "a.name"), "f");
    assert_int_equal(lw_config_int(cfg, "a.count"), 7);
    assert_true(lw_config_bool(cfg, "a.on"));
    char *argv2[] = {"lwstack", "--a.count", NULL};
    argc = 2;
    assert_int_equal(lw_config_parse_flags(cfg, &argc, argv2, &err), -1);
    assert_string_equal(err.message, "flag --a.count needs a value");
    lw_config_free(cfg);
}

/* ---- lw_config_redact_uri ------------------------------------------------------------- */

static void redacts(const char *uri, const char *want)
{
    char buf[256];
    assert_int_equal(lw_config_redact_uri(uri, buf, sizeof buf), 0);
    assert_string_equal(buf, want);
}

static void test_lw_config_redact_uri__malformed_uri(void **state)
{
    (void)state;
    /* libpq refuses it (the IPv6 host is not closed): the password is hidden all the same. */
    redacts("postgresql://lwstack:S3cretPW@[bad", "postgresql://lwstack:<redacted>@[bad");
    redacts("postgres://u:pa@ss/w@host/db", "postgres://u:<redacted>@host/db");
    redacts("postgresql://[bad?password=zz&user=u", "postgresql://[bad?password=<redacted>&user=u");
}

static void test_lw_config_redact_uri__uri(void **state)
{
    (void)state;
    redacts("postgresql://alice:s3cr3t@db.example:5433/lw?sslmode=require",
            "postgresql://alice:<redacted>@db.example:5433/lw?sslmode=require");
    redacts("postgresql://db/lw?user=a&password=x&sslmode=require",
            "postgresql://db/lw?user=a&password=<redacted>&sslmode=require");
    /* libpq decodes parameter names too. */
    redacts("postgresql://db/lw?pass%77ord=x&sslpassword=y",
            "postgresql://db/lw?pass%77ord=<redacted>&sslpassword=<redacted>");
}

static void test_lw_config_redact_uri__url_encoded_password(void **state)
{
    (void)state;
    redacts("postgresql://alice:p%40ss%3Aw0rd%2F@db.example/lw",
            "postgresql://alice:<redacted>@db.example/lw");
}

static void test_lw_config_redact_uri__keywords(void **state)
{
    (void)state;
    redacts("host=/tmp/x user=bob password='a b c' dbname=d",
            "host=/tmp/x user=bob password=<redacted> dbname=d");
    redacts("password = s3cr3t host=h", "password = <redacted> host=h");
    redacts("sslpassword=k\\ey host=h", "sslpassword=<redacted> host=h");
    redacts("host='a b' password='it\\'s'", "host='a b' password=<redacted>");
}

static void test_lw_config_redact_uri__malformed_keywords(void **state)
{
    (void)state;
    redacts("host='unterminated password=x", "host='unterminated password=<redacted>");
    redacts("password='unterminated", "password=<redacted>");
    redacts("host=h junk password=x y", "host=h junk password=<redacted>");
}

static void test_lw_config_redact_uri__no_password(void **state)
{
    (void)state;
    redacts("postgresql:///lwstack?host=/tmp/s&user=lwstack",
            "postgresql:///lwstack?host=/tmp/s&user=lwstack");
    redacts("postgresql://lwstack@db/lw", "postgresql://lwstack@db/lw");
    redacts("host=/tmp/x dbname=d", "host=/tmp/x dbname=d");
    redacts(NULL, "");
}

static void test_lw_config_redact_uri__truncates(void **state)
{
    (void)state;
    char buf[24];
    assert_int_equal(
        lw_config_redact_uri("postgresql://averyveryverylonguser:pw@h", buf, sizeof buf), -1);
    assert_true(strlen(buf) < sizeof buf);
    assert_null(strstr(buf, "pw"));
    assert_int_equal(lw_config_redact_uri("x", buf, 0), -1);
}

static void test_lw_config_secret__names(void **state)
{
    (void)state;
    assert_true(lw_config_name_secret("sasl.password"));
    assert_true(lw_config_name_secret("sasl.oauthbearer.client.secret"));
    assert_true(lw_config_name_secret("ssl.key.pem"));
    assert_false(lw_config_name_secret("ssl.key.location"));
    const lw_cfg_opt_t secret = {.key = "db.uri", .type = LW_CFG_STRING, .flags = LW_CFG_SECRET};
    const lw_cfg_opt_t plain = {.key = "is.token-ttl", .type = LW_CFG_DURATION};
    const lw_cfg_opt_t map = {.key = "bus.kafka.*", .type = LW_CFG_MAP};
    assert_true(lw_config_secret(&secret, "db.uri"));
    assert_false(lw_config_secret(&plain, "is.token-ttl"));
    assert_true(lw_config_secret(&map, "bus.kafka.sasl.password"));
    assert_false(lw_config_secret(&map, "bus.kafka.security.protocol"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lw_config_defaults__typed_getters),
        cmocka_unit_test(test_lw_config_set__validates_each_type),
        cmocka_unit_test(test_lw_config_secret__never_echoed),
        cmocka_unit_test(test_lw_config_load_yaml__nesting_lists_and_maps),
        cmocka_unit_test(test_lw_config_load_env__names_and_maps),
        cmocka_unit_test(test_lw_config_parse_flags__forms_and_leftovers),
        cmocka_unit_test(test_lw_config_redact_uri__malformed_uri),
        cmocka_unit_test(test_lw_config_redact_uri__uri),
        cmocka_unit_test(test_lw_config_redact_uri__url_encoded_password),
        cmocka_unit_test(test_lw_config_redact_uri__keywords),
        cmocka_unit_test(test_lw_config_redact_uri__malformed_keywords),
        cmocka_unit_test(test_lw_config_redact_uri__no_password),
        cmocka_unit_test(test_lw_config_redact_uri__truncates),
        cmocka_unit_test(test_lw_config_secret__names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
