/* Tests of components/as/storage_query.c: the Storage Integration's request parameters (TTS's
 * GetStoredApplicationUpRequest and its Count), the SQL they select with, field masks on an
 * ApplicationUp and the `{"result": ...}` lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "as/storage_private.h"

static const as_storage_limits_t lim = {.default_limit = 100, .max_limit = 1000};

/* Query parameters as "name=value" pairs, NULL-terminated. */
static const char *param(void *arg, const char *name)
{
    const char *const *kv = arg;
    size_t n = strlen(name);
    for (; *kv != NULL; kv++)
        if (strncmp(*kv, name, n) == 0 && (*kv)[n] == '=')
            return *kv + n + 1;
    return NULL;
}

static int parse(const char *type, bool count, const char *const *kv, as_stq_t *q, lw_err_t *e)
{
    lw_err_clear(e);
    return as_stq_parse(param, (void *)kv, type, count, &lim, q, e);
}

static const char *attr(const lw_err_t *e, const char *key)
{
    for (int i = 0; i < e->nattrs; i++)
        if (strcmp(e->attrs[i].key, key) == 0)
            return e->attrs[i].value;
    return "";
}

static void test_as_stq_duration_parse__go_syntax(void **state)
{
    (void)state;
    int64_t ns;
    assert_int_equal(as_stq_duration_parse("10m", &ns), 0);
    assert_int_equal(ns, 600ll * 1000000000);
    assert_int_equal(as_stq_duration_parse("600s", &ns), 0);
    assert_int_equal(ns, 600ll * 1000000000);
    assert_int_equal(as_stq_duration_parse("1h30m", &ns), 0);
    assert_int_equal(ns, 5400ll * 1000000000);
    assert_int_equal(as_stq_duration_parse("1.5s", &ns), 0);
    assert_int_equal(ns, 1500000000ll);
    assert_int_equal(as_stq_duration_parse("300ms", &ns), 0);
    assert_int_equal(ns, 300000000ll);
    assert_int_equal(as_stq_duration_parse("2h45m10.5s", &ns), 0);
    assert_int_equal(ns, (2ll * 3600 + 45 * 60 + 10) * 1000000000 + 500000000);
    assert_int_equal(as_stq_duration_parse("1us", &ns), 0);
    assert_int_equal(ns, 1000);
    assert_int_equal(as_stq_duration_parse("1\xc2\xb5s", &ns), 0);
    assert_int_equal(ns, 1000);
    assert_int_equal(as_stq_duration_parse("7ns", &ns), 0);
    assert_int_equal(ns, 7);
    assert_int_equal(as_stq_duration_parse(".5h", &ns), 0);
    assert_int_equal(ns, 1800ll * 1000000000);
    assert_int_equal(as_stq_duration_parse("0", &ns), 0);
    assert_int_equal(ns, 0);
    /* refused */
    assert_int_equal(as_stq_duration_parse("", &ns), -1);
    assert_int_equal(as_stq_duration_parse("10", &ns), -1);
    assert_int_equal(as_stq_duration_parse("-10m", &ns), -1);
    assert_int_equal(as_stq_duration_parse("10d", &ns), -1);
    assert_int_equal(as_stq_duration_parse("m", &ns), -1);
    assert_int_equal(as_stq_duration_parse(".s", &ns), -1);
    assert_int_equal(as_stq_duration_parse("10m ", &ns), -1);
    assert_int_equal(as_stq_duration_parse("9999999999999h", &ns), -1);
}

static void test_as_stq_parse__defaults_and_values(void **state)
{
    (void)state;
    as_stq_t q;
    lw_err_t e;
    const char *none[] = {NULL};
    assert_int_equal(parse("uplink_message", false, none, &q, &e), 0);
    assert_string_equal(q.type, "uplink_message");
    assert_int_equal(q.limit, 100);
    assert_int_equal(q.order, AS_STQ_ASC);
    assert_false(q.has_f_port);
    assert_int_equal(q.nmask, 0);

    const char *all[] = {"limit=10",
                         "order=-received_at",
                         "after=2020-08-20T00:00:00Z",
                         "before=2020-08-21T00:00:00.5+02:00",
                         "f_port=0",
                         "field_mask=up.uplink_message.decoded_payload,received_at,"
                         "end_device_ids.device_id,received_at",
                         NULL};
    assert_int_equal(parse("uplink_message", false, all, &q, &e), 0);
    assert_int_equal(q.limit, 10);
    assert_int_equal(q.order, AS_STQ_DESC);
    assert_string_equal(q.after, "2020-08-20T00:00:00Z");
    assert_string_equal(q.before, "2020-08-21T00:00:00.5+02:00");
    assert_true(q.has_f_port);
    assert_int_equal(q.f_port, 0);
    assert_int_equal(q.nmask, 3); /* the duplicate once */
    assert_string_equal(q.mask[0], "uplink_message.decoded_payload");
    assert_string_equal(q.mask[1], "received_at");
    assert_string_equal(q.mask[2], "end_device_ids.device_id");

    const char *big[] = {"limit=5000", "order=received_at", NULL};
    assert_int_equal(parse("join_accept", false, big, &q, &e), 0);
    assert_int_equal(q.limit, 1000); /* capped to as.storage.max-limit */
    assert_int_equal(q.order, AS_STQ_ASC);
    const char *zero[] = {"limit=0", NULL};
    assert_int_equal(parse("join_accept", false, zero, &q, &e), 0);
    assert_int_equal(q.limit, 100);

    const char *last[] = {"last=10m", NULL};
    assert_int_equal(parse("uplink_message", false, last, &q, &e), 0);
    assert_int_equal(q.last_ns, 600ll * 1000000000);
    as_stq_resolve(&q, 1598263724000000000ll); /* 2020-08-24T10:08:44Z */
    assert_string_equal(q.after, "2020-08-24T09:58:44Z");
    assert_int_equal(q.last_ns, 0);
}

static void test_as_stq_parse__errors_name_the_parameter(void **state)
{
    (void)state;
    as_stq_t q;
    lw_err_t e;
    const char *none[] = {NULL};
    assert_int_equal(parse("uplinks", false, none, &q, &e), -1);
    assert_string_equal(lw_err_name(&e), "invalid_field");
    assert_string_equal(attr(&e, "field"), "type");
    assert_non_null(strstr(e.message, "unknown message type `uplinks`"));
    /* uplink_normalized is a query type, not a count type (TTS's validation) */
    assert_int_equal(parse("uplink_normalized", false, none, &q, &e), 0);
    assert_int_equal(parse("uplink_normalized", true, none, &q, &e), -1);
    assert_string_equal(attr(&e, "field"), "type");

    static const struct {
        const char *kv, *field;
    } bad[] = {
        {"limit=-1", "limit"},
        {"limit=ten", "limit"},
        {"limit=", "limit"},
        {"limit=4294967296", "limit"},
        {"order=time", "order"},
        {"order=+received_at", "order"},
        {"after=2020-08-20", "after"},
        {"after=yesterday", "after"},
        {"before=2020-08-20T25:00:00Z", "before"},
        {"last=10", "last"},
        {"last=0s", "last"},
        {"f_port=256", "f_port"},
        {"f_port=x", "f_port"},
        {"field_mask=colour", "field_mask"},
        {"field_mask=up.uplinks", "field_mask"},
        {"field_mask=received_at,,Up", "field_mask"},
        {"field_mask=end_device_ids..device_id", "field_mask"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *kv[] = {bad[i].kv, NULL};
        assert_int_equal(parse("uplink_message", false, kv, &q, &e), -1);
        assert_string_equal(lw_err_name(&e), "invalid_field");
        assert_string_equal(attr(&e, "field"), bad[i].field);
    }
    const char *mixed[] = {"after=2020-08-20T00:00:00Z", "last=1h", NULL};
    assert_int_equal(parse("uplink_message", false, mixed, &q, &e), -1);
    assert_string_equal(attr(&e, "field"), "last");
    assert_string_equal(e.message, "invalid `last`: cannot be used with `after` or `before`");
    /* a count ignores limit, order and field_mask (not its parameters) */
    const char *cnt[] = {"limit=x", "order=x", "field_mask=x", "f_port=7", NULL};
    assert_int_equal(parse("uplink_message", true, cnt, &q, &e), 0);
    assert_true(q.count);
    assert_int_equal(q.f_port, 7);
}

static void test_as_stq_sql__statements(void **state)
{
    (void)state;
    as_stq_t q;
    lw_err_t e;
    char sql[AS_STQ_SQL_MAX], fp[12];
    const char *p[6];
    const char *newest[] = {"limit=10", "order=-received_at", NULL};
    assert_int_equal(parse("uplink_message", false, newest, &q, &e), 0);
    assert_int_equal(as_stq_sql(&q, "\"t_acme\"", false, q.limit, sql, sizeof sql), 0);
    assert_string_equal(sql, "SELECT up, received_at, uid FROM \"t_acme\".as_stored_up WHERE "
                             "application_id = $1 AND type = $2 ORDER BY received_at DESC, uid "
                             "DESC LIMIT 10");
    assert_int_equal(as_stq_params(&q, fp, p), 1);
    assert_string_equal(p[0], "uplink_message");
    /* the next page: past the last row, in the order asked */
    snprintf(q.cursor_at, sizeof q.cursor_at, "2020-08-24 10:08:44.868680+00");
    snprintf(q.cursor_uid, sizeof q.cursor_uid, "00112233-4455-6677-8899-aabbccddeeff");
    assert_int_equal(as_stq_sql(&q, "\"t_acme\"", true, 4, sql, sizeof sql), 0);
    assert_string_equal(sql, "SELECT up, received_at, uid FROM \"t_acme\".as_stored_up WHERE "
                             "application_id = $1 AND device_id = $2 AND type = $3 AND "
                             "(received_at, uid) < ($4::timestamptz, $5::uuid) ORDER BY "
                             "received_at DESC, uid DESC LIMIT 4");
    assert_int_equal(as_stq_params(&q, fp, p), 3);
    assert_string_equal(p[1], "2020-08-24 10:08:44.868680+00");
    assert_string_equal(p[2], "00112233-4455-6677-8899-aabbccddeeff");

    const char *all[] = {"after=2020-08-20T00:00:00Z", "before=2020-08-21T00:00:00Z", "f_port=2",
                         NULL};
    assert_int_equal(parse("uplink_message", false, all, &q, &e), 0);
    assert_int_equal(as_stq_sql(&q, "\"t_acme\"", true, q.limit, sql, sizeof sql), 0);
    assert_string_equal(sql, "SELECT up, received_at, uid FROM \"t_acme\".as_stored_up WHERE "
                             "application_id = $1 AND device_id = $2 AND type = $3 AND "
                             "received_at > $4::timestamptz AND received_at < $5::timestamptz "
                             "AND f_port = $6::integer ORDER BY received_at ASC, uid ASC LIMIT "
                             "100");
    assert_int_equal(as_stq_params(&q, fp, p), 4);
    assert_string_equal(p[0], "uplink_message");
    assert_string_equal(p[1], "2020-08-20T00:00:00Z");
    assert_string_equal(p[2], "2020-08-21T00:00:00Z");
    assert_string_equal(p[3], "2");

    const char *none[] = {NULL};
    assert_int_equal(parse("join_accept", true, none, &q, &e), 0);
    assert_int_equal(as_stq_sql(&q, "\"t_acme\"", false, 0, sql, sizeof sql), 0);
    assert_string_equal(sql, "SELECT device_id, count(*) FROM \"t_acme\".as_stored_up WHERE "
                             "application_id = $1 AND type = $2 GROUP BY device_id ORDER BY "
                             "device_id");
    assert_int_equal(as_stq_sql(&q, "\"t_acme\"", false, 0, sql, 40), -1);
}

static char *masked(const char *mask, const char *up)
{
    as_stq_t q;
    lw_err_t e;
    char kv0[300];
    snprintf(kv0, sizeof kv0, "field_mask=%s", mask);
    const char *kv[] = {kv0, NULL};
    assert_int_equal(parse("uplink_message", false, kv, &q, &e), 0);
    json_t *j = json_loads(up, 0, NULL);
    assert_non_null(j);
    json_t *m = as_stq_mask_apply(&q, j);
    char *out = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(m);
    json_decref(j);
    return out;
}

static void test_as_stq_mask_apply__keeps_tts_order(void **state)
{
    (void)state;
    static const char up[] =
        "{\"end_device_ids\":{\"device_id\":\"dev1\",\"application_ids\":{\"application_id\":"
        "\"app1\"},\"dev_eui\":\"1111111111111111\"},\"correlation_ids\":[\"as:up:1\"],"
        "\"received_at\":\"2020-08-24T10:08:44.868680817Z\",\"uplink_message\":{\"f_port\":10,"
        "\"f_cnt\":43,\"frm_payload\":\"AQoBCgEKAQo=\",\"decoded_payload\":{\"t\":1}}}";
    /* paths in any order: the output keeps the ApplicationUp's own order */
    char *s = masked("up.uplink_message.f_cnt,end_device_ids.device_id,received_at", up);
    assert_string_equal(s, "{\"end_device_ids\":{\"device_id\":\"dev1\"},\"received_at\":"
                           "\"2020-08-24T10:08:44.868680817Z\",\"uplink_message\":{\"f_cnt\":43}}");
    free(s);
    s = masked("up", up);
    assert_string_equal(s, "{\"uplink_message\":{\"f_port\":10,\"f_cnt\":43,\"frm_payload\":"
                           "\"AQoBCgEKAQo=\",\"decoded_payload\":{\"t\":1}}}");
    free(s);
    s = masked("uplink_message.decoded_payload,up.uplink_message.decoded_payload.t", up);
    assert_string_equal(s, "{\"uplink_message\":{\"decoded_payload\":{\"t\":1}}}");
    free(s);
    s = masked("up.join_accept,simulated", up); /* nothing of it there */
    assert_string_equal(s, "{}");
    free(s);
    s = masked("", up); /* no mask: all */
    assert_string_equal(s, "{\"end_device_ids\":{\"device_id\":\"dev1\",\"application_ids\":{"
                           "\"application_id\":\"app1\"},\"dev_eui\":\"1111111111111111\"},"
                           "\"correlation_ids\":[\"as:up:1\"],\"received_at\":"
                           "\"2020-08-24T10:08:44.868680817Z\",\"uplink_message\":{\"f_port\":10,"
                           "\"f_cnt\":43,\"frm_payload\":\"AQoBCgEKAQo=\",\"decoded_payload\":{"
                           "\"t\":1}}}");
    free(s);
}

static void test_as_stq_line__result_lines(void **state)
{
    (void)state;
    char buf[64];
    size_t n = as_stq_line(buf, 0, sizeof buf, "{\"a\":1}", 7);
    assert_int_equal(n, 19);
    n = as_stq_line(buf, n, sizeof buf, "{}", 2);
    assert_int_equal(n, 33);
    assert_memory_equal(buf, "{\"result\":{\"a\":1}}\n{\"result\":{}}\n", 33);
    /* does not fit: 0, buffer untouched */
    assert_int_equal(as_stq_line(buf, 33, 40, "{\"b\":2}", 7), 0);
    assert_int_equal(as_stq_line(buf, 0, 14, "{}", 2), 14);
    assert_int_equal(as_stq_line(buf, 0, 13, "{}", 2), 0);
}

static void test_as_stq_type_valid__tts_names(void **state)
{
    (void)state;
    static const char *const ok[] = {"uplink_message",  "join_accept",
                                     "downlink_ack",    "downlink_nack",
                                     "downlink_sent",   "downlink_failed",
                                     "downlink_queued", "location_solved",
                                     "service_data",    "downlink_queue_invalidated"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_true(as_stq_type_valid(ok[i], false));
        assert_true(as_stq_type_valid(ok[i], true));
    }
    assert_true(as_stq_type_valid("uplink_normalized", false));
    assert_false(as_stq_type_valid("uplink_normalized", true));
    assert_false(as_stq_type_valid("", false));
    assert_false(as_stq_type_valid("uplink", false));
    assert_false(as_stq_type_valid(NULL, false));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_as_stq_duration_parse__go_syntax),
        cmocka_unit_test(test_as_stq_parse__defaults_and_values),
        cmocka_unit_test(test_as_stq_parse__errors_name_the_parameter),
        cmocka_unit_test(test_as_stq_sql__statements),
        cmocka_unit_test(test_as_stq_mask_apply__keeps_tts_order),
        cmocka_unit_test(test_as_stq_line__result_lines),
        cmocka_unit_test(test_as_stq_type_valid__tts_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
