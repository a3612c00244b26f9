/* Tests of components/as/mqtt_topic.c: filter matching with the examples of MQTT 3.1.1 /
 * 5.0 §4.7, and The Things Stack's topic rules (pkg/applicationserver/io/mqtt/topics/v3.go
 * AcceptedTopic and mqtt.go's read and write topics). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "as/mqtt_codec_private.h"

static bool match(const char *filter, const char *topic)
{
    return mqtt_topic_match(filter, strlen(filter), topic, strlen(topic));
}

static void test_mqtt_topic_match__spec_examples(void **state)
{
    (void)state;
    /* §4.7.1.2 */
    assert_true(match("sport/tennis/player1/#", "sport/tennis/player1"));
    assert_true(match("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
    assert_true(match("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
    assert_true(match("sport/#", "sport"));
    assert_true(match("#", "sport/tennis"));
    /* §4.7.1.3 */
    assert_true(match("sport/tennis/+", "sport/tennis/player1"));
    assert_true(match("sport/tennis/+", "sport/tennis/player2"));
    assert_false(match("sport/tennis/+", "sport/tennis/player1/ranking"));
    assert_false(match("sport/+", "sport"));
    assert_true(match("sport/+", "sport/"));
    assert_true(match("+/+", "/finance"));
    assert_true(match("/+", "/finance"));
    assert_false(match("+", "/finance"));
    /* §4.7.2: '$' topics and leading wildcards. */
    assert_false(match("#", "$SYS/broker"));
    assert_false(match("+/monitor/Clients", "$SYS/monitor/Clients"));
    assert_true(match("$SYS/#", "$SYS/monitor/Clients"));
    assert_true(match("$SYS/monitor/+", "$SYS/monitor/Clients"));
    /* Plain levels. */
    assert_true(match("a/b", "a/b"));
    assert_false(match("a/b", "a/bc"));
    assert_false(match("a/bc", "a/b"));
    assert_false(match("a/b", "a"));
    assert_false(match("a", "a/b"));
    assert_false(match("a/+", "a"));
}

static void test_mqtt_topic_match__application_topics(void **state)
{
    (void)state;
    const char *up = "v3/app1@acme/devices/dev1/up";
    assert_true(match("v3/app1@acme/#", up));
    assert_true(match("v3/app1@acme/devices/+/up", up));
    assert_false(match("v3/app1@acme/devices/+/up", "v3/app1@acme/devices/dev1/up/normalized"));
    assert_true(match("v3/app1@acme/devices/dev1/down/#", "v3/app1@acme/devices/dev1/down/ack"));
    assert_false(match("v3/app1@acme/#", "v3/app1@globex/devices/dev1/up"));
}

static int accept(const char *uid, const char *filter, char *out, size_t cap)
{
    return mqtt_topic_accept_filter(uid, filter, strlen(filter), out, cap);
}

static void test_mqtt_topic_accept_filter__as_tts(void **state)
{
    (void)state;
    char out[128];
    const char *uid = "app1@acme";
    assert_int_equal(accept(uid, "#", out, sizeof(out)), 14);
    assert_string_equal(out, "v3/app1@acme/#");
    assert_int_equal(accept(uid, "v3/#", out, sizeof(out)), 14);
    assert_string_equal(out, "v3/app1@acme/#");
    assert_true(accept(uid, "v3/+/devices/+/up", out, sizeof(out)) > 0);
    assert_string_equal(out, "v3/app1@acme/devices/+/up");
    assert_true(accept(uid, "v3/+", out, sizeof(out)) > 0);
    assert_string_equal(out, "v3/app1@acme");
    assert_true(accept(uid, "v3/app1@acme/devices/dev1/up", out, sizeof(out)) > 0);
    assert_string_equal(out, "v3/app1@acme/devices/dev1/up");
    assert_true(accept(uid, "v3/app1@acme/#", out, sizeof(out)) > 0);
    assert_string_equal(out, "v3/app1@acme/#");
    /* Refused: another application or tenant, a prefix of the uid, other trees. */
    assert_int_equal(accept(uid, "v3/app1@globex/#", out, sizeof(out)), -1);
    assert_int_equal(accept(uid, "v3/app2@acme/devices/+/up", out, sizeof(out)), -1);
    assert_int_equal(accept(uid, "v3/app1/#", out, sizeof(out)), -1);
    assert_int_equal(accept(uid, "v3/app1@acmex/#", out, sizeof(out)), -1);
    assert_int_equal(accept(uid, "+/app1@acme/#", out, sizeof(out)), -1);
    assert_int_equal(accept(uid, "$SYS/#", out, sizeof(out)), -1);
    assert_int_equal(accept(uid, "$share/g/v3/app1@acme/#", out, sizeof(out)), -1);
    assert_int_equal(accept(uid, "v3", out, sizeof(out)), -1);
    assert_int_equal(accept(uid, "v2/#", out, sizeof(out)), -1);
    /* Too small an output. */
    assert_int_equal(accept(uid, "#", out, 14), -1);
}

static void test_mqtt_topic_suffix_readable__tts_read_topics(void **state)
{
    (void)state;
    const char *ok[] = {"up",           "up/normalized",  "join",
                        "down/queued",  "down/sent",      "down/ack",
                        "down/nack",    "down/failed",    "down/invalidated",
                        "service/data", "location/solved"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        assert_true(mqtt_topic_suffix_readable(ok[i]));
    assert_false(mqtt_topic_suffix_readable("down/push"));
    assert_false(mqtt_topic_suffix_readable("down/replace"));
    assert_false(mqtt_topic_suffix_readable("up/"));
    assert_false(mqtt_topic_suffix_readable(""));
}

static int parse(const char *uid, const char *topic, char *dev, size_t cap, bool *replace)
{
    return mqtt_topic_parse_downlink(uid, topic, strlen(topic), dev, cap, replace);
}

static void test_mqtt_topic_parse_downlink__push_replace_and_refusals(void **state)
{
    (void)state;
    char dev[40];
    bool replace = true;
    const char *uid = "app1@acme";
    assert_int_equal(parse(uid, "v3/app1@acme/devices/dev1/down/push", dev, sizeof(dev), &replace),
                     0);
    assert_string_equal(dev, "dev1");
    assert_false(replace);
    assert_int_equal(
        parse(uid, "v3/app1@acme/devices/dev-2/down/replace", dev, sizeof(dev), &replace), 0);
    assert_string_equal(dev, "dev-2");
    assert_true(replace);
    /* Another application, tenant, operation, or an invalid device ID. */
    assert_int_equal(
        parse(uid, "v3/app1@globex/devices/dev1/down/push", dev, sizeof(dev), &replace), -1);
    assert_int_equal(parse(uid, "v3/app2@acme/devices/dev1/down/push", dev, sizeof(dev), &replace),
                     -1);
    assert_int_equal(parse(uid, "v3/app1@acme/devices/dev1/up", dev, sizeof(dev), &replace), -1);
    assert_int_equal(
        parse(uid, "v3/app1@acme/devices/dev1/down/push/x", dev, sizeof(dev), &replace), -1);
    assert_int_equal(parse(uid, "v3/app1@acme/devices//down/push", dev, sizeof(dev), &replace), -1);
    assert_int_equal(parse(uid, "v3/app1@acme/devices/Dev1/down/push", dev, sizeof(dev), &replace),
                     -1);
    assert_int_equal(parse(uid, "v3/app1@acme/devices/a/b/down/push", dev, sizeof(dev), &replace),
                     -1);
    assert_int_equal(parse(uid, "v3/app1@acme/devices/dev1/down/push", dev, 4, &replace), -1);
}

static void test_mqtt_topic_build__layout(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(mqtt_topic_build("acme", "app1", "dev1", "down/ack", out, sizeof(out)), 34);
    assert_string_equal(out, "v3/app1@acme/devices/dev1/down/ack");
    assert_int_equal(mqtt_topic_build("acme", "app1", "dev1", "down/ack", out, 34), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mqtt_topic_match__spec_examples),
        cmocka_unit_test(test_mqtt_topic_match__application_topics),
        cmocka_unit_test(test_mqtt_topic_accept_filter__as_tts),
        cmocka_unit_test(test_mqtt_topic_suffix_readable__tts_read_topics),
        cmocka_unit_test(test_mqtt_topic_parse_downlink__push_replace_and_refusals),
        cmocka_unit_test(test_mqtt_topic_build__layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
