/* Unit tests of cluster/log.c: the exact lines lw_log and lw_log_kv write to stderr, in
 * logfmt and JSON. stderr is pointed at a temporary file for each capture; the time field
 * (the first) is checked for its shape and cut off before comparing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster/log.h"

typedef struct capture {
    FILE *tmp;
    int saved_fd;
} capture_t;

static void capture_begin(capture_t *c)
{
    fflush(stderr);
    c->tmp = tmpfile();
    assert_non_null(c->tmp);
    c->saved_fd = dup(STDERR_FILENO);
    assert_true(c->saved_fd >= 0);
    assert_true(dup2(fileno(c->tmp), STDERR_FILENO) >= 0);
}

/* Restores stderr and returns what was written, malloc'd. */
static char *capture_end(capture_t *c)
{
    fflush(stderr);
    assert_true(dup2(c->saved_fd, STDERR_FILENO) >= 0);
    close(c->saved_fd);
    long n = ftell(c->tmp);
    if (n < 0)
        n = 0;
    char *out = calloc(1, (size_t)n + 1);
    assert_non_null(out);
    rewind(c->tmp);
    assert_int_equal(fread(out, 1, (size_t)n, c->tmp), (size_t)n);
    fclose(c->tmp);
    return out;
}

/* "2026-12-01T08:25:40.123Z": 24 characters of that shape. */
static void assert_timestamp(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        if (shape[i] == 'd')
            assert_true(s[i] >= '0' && s[i] <= '9');
        else
            assert_int_equal(s[i], shape[i]);
    }
}

/* The captured logfmt line without its leading "time=... ". */
static const char *logfmt_tail(const char *line)
{
    assert_memory_equal(line, "time=", 5);
    assert_timestamp(line + 5);
    assert_int_equal(line[5 + 24], ' ');
    return line + 5 + 24 + 1;
}

/* The captured JSON line without its leading {"time":"...", . */
static const char *json_tail(const char *line)
{
    assert_memory_equal(line, "{\"time\":\"", 9);
    assert_timestamp(line + 9);
    assert_memory_equal(line + 9 + 24, "\",", 2);
    return line + 9 + 24 + 2;
}

static void test_lw_log_kv__logfmt_typed_fields(void **state)
{
    (void)state;
    lw_log_setup(LW_LOG_DEBUG, LW_LOG_LOGFMT);
    capture_t c;
    capture_begin(&c);
    lw_log_kv(LW_LOG_INFO, "bus", "partitions assigned", LW_LOG_STR("group", "g1"),
              LW_LOG_INT("partition", -3), LW_LOG_UINT("lost", 18446744073709551615ull),
              LW_LOG_BOOL("clean", true), LW_LOG_DUR_MS("took", 1.5));
    char *out = capture_end(&c);
    assert_string_equal(logfmt_tail(out), "level=info module=bus msg=\"partitions assigned\" "
                                          "group=g1 partition=-3 lost=18446744073709551615 "
                                          "clean=true took=1.5ms\n");
    free(out);
}

static void test_lw_log_kv__json_typed_fields(void **state)
{
    (void)state;
    lw_log_setup(LW_LOG_DEBUG, LW_LOG_JSON);
    capture_t c;
    capture_begin(&c);
    lw_log_kv(LW_LOG_WARN, "db", "slow", LW_LOG_STR("tenant", "acme"), LW_LOG_INT("n", 42),
              LW_LOG_BOOL("retry", false), LW_LOG_DUR_MS("took", 1200));
    char *out = capture_end(&c);
    assert_string_equal(json_tail(out), "\"level\":\"warn\",\"module\":\"db\",\"msg\":\"slow\","
                                        "\"tenant\":\"acme\",\"n\":42,\"retry\":false,"
                                        "\"took\":\"1200ms\"}\n");
    free(out);
}

static void test_lw_log_kv__durations(void **state)
{
    (void)state;
    lw_log_setup(LW_LOG_DEBUG, LW_LOG_LOGFMT);
    capture_t c;
    capture_begin(&c);
    lw_log_kv(LW_LOG_INFO, "t", "d", LW_LOG_DUR_MS("a", 0), LW_LOG_DUR_MS("b", 0.001),
              LW_LOG_DUR_MS("c", 0.0004), LW_LOG_DUR_MS("d", 2.25), LW_LOG_DUR_MS("e", 30000),
              LW_LOG_DUR_MS("f", -1.5), LW_LOG_DUR_MS("g", 1e20));
    char *out = capture_end(&c);
    assert_string_equal(logfmt_tail(out), "level=info module=t msg=d a=0ms b=0.001ms c=0ms "
                                          "d=2.25ms e=30000ms f=-1.5ms g=1e+20ms\n");
    free(out);
}

static void test_lw_log_kv__null_string_skipped(void **state)
{
    (void)state;
    lw_log_setup(LW_LOG_DEBUG, LW_LOG_LOGFMT);
    capture_t c;
    capture_begin(&c);
    lw_log_kv(LW_LOG_ERROR, "t", "m", LW_LOG_STR("gone", NULL), LW_LOG_INT("kept", 1));
    char *out = capture_end(&c);
    assert_string_equal(logfmt_tail(out), "level=error module=t msg=m kept=1\n");
    free(out);
}

static void test_lw_log__logfmt_quoting(void **state)
{
    (void)state;
    lw_log_setup(LW_LOG_DEBUG, LW_LOG_LOGFMT);
    capture_t c;
    capture_begin(&c);
    lw_log(LW_LOG_INFO, "t", "m", "space", "a b", "quote", "say \"hi\"", "newline", "one\ntwo",
           "equals", "k=v", "empty", "", "backslash", "a\\b", "tab", "a\tb", "plain", "x", NULL);
    char *out = capture_end(&c);
    assert_string_equal(logfmt_tail(out),
                        "level=info module=t msg=m space=\"a b\" quote=\"say \\\"hi\\\"\" "
                        "newline=\"one\\ntwo\" equals=\"k=v\" empty=\"\" backslash=a\\\\b "
                        "tab=\"a\\u0009b\" plain=x\n");
    free(out);
}

static void test_lw_log__json_escaping(void **state)
{
    (void)state;
    lw_log_setup(LW_LOG_DEBUG, LW_LOG_JSON);
    capture_t c;
    capture_begin(&c);
    lw_log(LW_LOG_INFO, "t", "m", "space", "a b", "quote", "say \"hi\"", "newline", "one\ntwo",
           "backslash", "a\\b", NULL);
    char *out = capture_end(&c);
    assert_string_equal(json_tail(out), "\"level\":\"info\",\"module\":\"t\",\"msg\":\"m\","
                                        "\"space\":\"a b\",\"quote\":\"say \\\"hi\\\"\","
                                        "\"newline\":\"one\\ntwo\",\"backslash\":\"a\\\\b\"}\n");
    free(out);
}

static void test_lw_log__null_value_skipped(void **state)
{
    (void)state;
    lw_log_setup(LW_LOG_DEBUG, LW_LOG_JSON);
    capture_t c;
    capture_begin(&c);
    lw_log(LW_LOG_INFO, "t", "m", "gone", NULL, "kept", "yes", NULL);
    char *out = capture_end(&c);
    assert_string_equal(json_tail(out),
                        "\"level\":\"info\",\"module\":\"t\",\"msg\":\"m\",\"kept\":\"yes\"}\n");
    free(out);
}

static void test_lw_log__below_min_level_silent(void **state)
{
    (void)state;
    lw_log_setup(LW_LOG_WARN, LW_LOG_LOGFMT);
    capture_t c;
    capture_begin(&c);
    lw_log(LW_LOG_INFO, "t", "m", NULL);
    lw_log_kv(LW_LOG_DEBUG, "t", "m", LW_LOG_INT("n", 1));
    char *out = capture_end(&c);
    assert_string_equal(out, "");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lw_log_kv__logfmt_typed_fields),
        cmocka_unit_test(test_lw_log_kv__json_typed_fields),
        cmocka_unit_test(test_lw_log_kv__durations),
        cmocka_unit_test(test_lw_log_kv__null_string_skipped),
        cmocka_unit_test(test_lw_log__logfmt_quoting),
        cmocka_unit_test(test_lw_log__json_escaping),
        cmocka_unit_test(test_lw_log__null_value_skipped),
        cmocka_unit_test(test_lw_log__below_min_level_silent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
