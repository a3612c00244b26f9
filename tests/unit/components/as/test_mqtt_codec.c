/* Tests of components/as/mqtt_codec.c. Bytes come from the examples of the MQTT 3.1.1
 * specification (OASIS, 2014: §1.5.3, §2.2.3, §3.1.2.10, §3.3.2.3, §3.8.3.1, §3.9.3,
 * §3.10.3.1) and MQTT 5.0 (OASIS, 2019: §1.5.5, §3.1.2.11 figure 3-6), and from packets
 * captured from Debian's mosquitto clients 2.0.11 (mosquitto_pub / mosquitto_sub against a
 * socket that recorded them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "as/mqtt_codec_private.h"

static mqtt_packet_t pkt;

/* Hex string → bytes; returns the length. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

static bool str_is(mqtt_str_t s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

static int decode_hex(uint8_t version, const char *hex)
{
    static uint8_t buf[4096];
    size_t n = unhex(hex, buf, sizeof(buf));
    return mqtt_decode(version, buf, n, 0, &pkt);
}

/* ---- Framing: the Remaining Length table (3.1.1 §2.2.3, 5.0 §1.5.5) ---- */

static void test_mqtt_frame__remaining_length_table(void **state)
{
    (void)state;
    static const struct {
        const char *hex;
        uint32_t value;
    } rows[] = {
        {"00", 0},         {"7f", 127},         {"8001", 128},         {"ff7f", 16383},
        {"808001", 16384}, {"ffff7f", 2097151}, {"80808001", 2097152}, {"ffffff7f", 268435455},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        uint8_t b[8] = {0xc0}; /* PINGREQ's first byte, then the length */
        size_t n = 1 + unhex(rows[i].hex, b + 1, sizeof(b) - 1);
        mqtt_fixed_t fh;
        /* The body is not there: 0 (more needed) unless the length is 0. */
        int rc = mqtt_frame(b, n, 0, &fh);
        assert_int_equal(rc, rows[i].value == 0 ? 1 : 0);
        if (rc == 1) {
            assert_int_equal(fh.remaining, 0);
        }
        /* With a big enough max the header itself decodes. */
        b[0] = 0x30;
        memset(&fh, 0, sizeof(fh));
        rc = mqtt_frame(b, n, 0, &fh);
        assert_true(rc == 0 || rc == 1);
    }
    /* The value itself, through a PUBLISH whose body is present. */
    static uint8_t big[16384 + 3];
    big[0] = 0x30, big[1] = 0x80, big[2] = 0x80, big[3] = 0x01;
    mqtt_fixed_t fh;
    assert_int_equal(mqtt_frame(big, 4, 0, &fh), 0);
    big[1] = 0xff, big[2] = 0x7f;
    assert_int_equal(mqtt_frame(big, 3 + 16383, 0, &fh), 1);
    assert_int_equal(fh.remaining, 16383);
    assert_int_equal(fh.header_len, 3);
}

static void test_mqtt_frame__five_length_bytes(void **state)
{
    (void)state;
    const uint8_t b[] = {0x30, 0xff, 0xff, 0xff, 0xff, 0x7f};
    mqtt_fixed_t fh;
    assert_int_equal(mqtt_frame(b, sizeof(b), 0, &fh), -MQTT_E_REMAINING_LENGTH);
    assert_string_equal(mqtt_err_name(-MQTT_E_REMAINING_LENGTH), "remaining_length");
}

static void test_mqtt_frame__too_large_known_from_the_header(void **state)
{
    (void)state;
    const uint8_t b[] = {0x30, 0x80, 0x01}; /* 128 bytes announced, none there */
    mqtt_fixed_t fh;
    assert_int_equal(mqtt_frame(b, sizeof(b), 130, &fh), -MQTT_E_TOO_LARGE);
    assert_int_equal(mqtt_frame(b, sizeof(b), 131, &fh), 0);
    assert_int_equal(mqtt_err_reason(-MQTT_E_TOO_LARGE), MQTT5_PACKET_TOO_LARGE);
}

static void test_mqtt_frame__reserved_flags_and_types(void **state)
{
    (void)state;
    mqtt_fixed_t fh;
    const uint8_t sub_bad[] = {0x80, 0x00}; /* SUBSCRIBE flags must be 0010 */
    assert_int_equal(mqtt_frame(sub_bad, 2, 0, &fh), -MQTT_E_FLAGS);
    const uint8_t pubrel_bad[] = {0x60, 0x02, 0x00, 0x01};
    assert_int_equal(mqtt_frame(pubrel_bad, 4, 0, &fh), -MQTT_E_FLAGS);
    const uint8_t ping_bad[] = {0xc1, 0x00};
    assert_int_equal(mqtt_frame(ping_bad, 2, 0, &fh), -MQTT_E_FLAGS);
    const uint8_t type0[] = {0x00, 0x00};
    assert_int_equal(mqtt_frame(type0, 2, 0, &fh), -MQTT_E_PACKET_TYPE);
    const uint8_t connack[] = {0x20, 0x02, 0x00, 0x00}; /* only a server sends it */
    assert_int_equal(mqtt_frame(connack, 4, 0, &fh), -MQTT_E_PACKET_TYPE);
    /* The first byte alone is enough to refuse. */
    assert_int_equal(mqtt_frame(sub_bad, 1, 0, &fh), -MQTT_E_FLAGS);
    assert_int_equal(mqtt_frame(sub_bad, 0, 0, &fh), 0);
}

/* ---- UTF-8 and topics ---- */

static void test_mqtt_utf8_check__spec_example_and_refusals(void **state)
{
    (void)state;
    /* 3.1.1 §1.5.3.1 / 5.0 §1.5.4: "A𪛔" = 41 F0 AA 9B 94. */
    const uint8_t ok[] = {0x41, 0xf0, 0xaa, 0x9b, 0x94};
    assert_int_equal(mqtt_utf8_check(ok, sizeof(ok)), MQTT_OK);
    const uint8_t nul[] = {'a', 0x00, 'b'};
    assert_int_equal(mqtt_utf8_check(nul, sizeof(nul)), -MQTT_E_UTF8);
    const uint8_t surrogate[] = {0xed, 0xa0, 0x80}; /* U+D800 */
    assert_int_equal(mqtt_utf8_check(surrogate, sizeof(surrogate)), -MQTT_E_UTF8);
    const uint8_t overlong[] = {0xc0, 0xaf};
    assert_int_equal(mqtt_utf8_check(overlong, sizeof(overlong)), -MQTT_E_UTF8);
    const uint8_t cut[] = {0xe2, 0x82};
    assert_int_equal(mqtt_utf8_check(cut, sizeof(cut)), -MQTT_E_UTF8);
    const uint8_t above[] = {0xf4, 0x90, 0x80, 0x80}; /* U+110000 */
    assert_int_equal(mqtt_utf8_check(above, sizeof(above)), -MQTT_E_UTF8);
}

static int name_check(const char *s)
{
    return mqtt_topic_name_check((const uint8_t *)s, strlen(s));
}

static int filter_check(const char *s)
{
    return mqtt_topic_filter_check((const uint8_t *)s, strlen(s));
}

static void test_mqtt_topic_checks__spec_4_7(void **state)
{
    (void)state;
    /* §4.7.1.2 / §4.7.1.3 examples. */
    assert_int_equal(filter_check("sport/tennis/player1/#"), MQTT_OK);
    assert_int_equal(filter_check("sport/#"), MQTT_OK);
    assert_int_equal(filter_check("#"), MQTT_OK);
    assert_int_equal(filter_check("sport/tennis#"), -MQTT_E_FILTER);
    assert_int_equal(filter_check("sport/tennis/#/ranking"), -MQTT_E_FILTER);
    assert_int_equal(filter_check("+"), MQTT_OK);
    assert_int_equal(filter_check("+/tennis/#"), MQTT_OK);
    assert_int_equal(filter_check("sport+"), -MQTT_E_FILTER);
    assert_int_equal(filter_check("sport/+/player1"), MQTT_OK);
    assert_int_equal(filter_check("/+"), MQTT_OK);
    assert_int_equal(filter_check(""), -MQTT_E_TOPIC_EMPTY);
    assert_int_equal(name_check("sport/tennis/player1"), MQTT_OK);
    assert_int_equal(name_check("/"), MQTT_OK);
    assert_int_equal(name_check("sport/+"), -MQTT_E_TOPIC_WILDCARD);
    assert_int_equal(name_check("sport/#"), -MQTT_E_TOPIC_WILDCARD);
    assert_int_equal(name_check(""), -MQTT_E_TOPIC_EMPTY);
}

/* ---- CONNECT ---- */

/* 3.1.1 §3.1.2.10 figure 3.6: the variable header "00 04 MQTT 04 CE 00 0A" (user name,
 * password, will retain 0, will QoS 1, will flag, clean session; keep alive 10), followed
 * here by the payload it announces. */
static void test_mqtt_decode__connect_311_spec_example(void **state)
{
    (void)state;
    uint8_t b[64];
    size_t n = unhex("101f"
                     "00044d515454"
                     "04"
                     "ce"
                     "000a"
                     "0003636964"
                     "0003612f62"
                     "00026869"
                     "000175"
                     "00027077",
                     b, sizeof(b));
    assert_int_equal(mqtt_decode(0, b, n, 0, &pkt), MQTT_OK);
    const mqtt_connect_t *c = &pkt.u.connect;
    assert_int_equal(pkt.fh.type, MQTT_CONNECT);
    assert_int_equal(c->version, MQTT_V311);
    assert_true(c->clean_start);
    assert_int_equal(c->keepalive_s, 10);
    assert_true(str_is(c->client_id, "cid"));
    assert_true(c->has_will);
    assert_int_equal(c->will_qos, 1);
    assert_false(c->will_retain);
    assert_true(str_is(c->will_topic, "a/b"));
    assert_true(str_is(c->will_payload, "hi"));
    assert_true(c->has_username && str_is(c->username, "u"));
    assert_true(c->has_password && str_is(c->password, "pw"));
}

/* 5.0 §3.1.2.11 figure 3-6: "00 04 MQTT 05 CE 00 0A 05 11 00 00 00 0A" (session expiry
 * 10 s), with the payload it announces (will properties empty). */
static void test_mqtt_decode__connect_5_spec_example(void **state)
{
    (void)state;
    uint8_t b[64];
    size_t n = unhex("1028"
                     "00044d515454"
                     "05"
                     "ce"
                     "000a"
                     "05"
                     "110000000a"
                     "0003636964"
                     "00"
                     "0003612f62"
                     "00026869"
                     "000175"
                     "00027077",
                     b, sizeof(b));
    b[1] = (uint8_t)(n - 2);
    assert_int_equal(mqtt_decode(0, b, n, 0, &pkt), MQTT_OK);
    const mqtt_connect_t *c = &pkt.u.connect;
    assert_int_equal(c->version, MQTT_V5);
    assert_true(c->props.present & MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY));
    assert_int_equal(c->props.session_expiry_s, 10);
    assert_true(str_is(c->will_topic, "a/b"));
    assert_true(str_is(c->password, "pw"));
}

/* mosquitto_pub -V mqttv311 -i cid1 -u app1@acme -P secret -q 1 (keep alive 60, clean). */
static const char MOSQ_CONNECT_311[] =
    "102300044d51545404c2003c0004636964310009617070314061636d650006736563726574";
/* The same with -V mqttv5: Receive Maximum 20. */
static const char MOSQ_CONNECT_5[] =
    "102700044d51545405c2003c032100140004636964310009617070314061636d650006736563726574";
/* mosquitto_sub -V mqttv5 -c -x 3600 -k 30: Session Expiry 3600, Receive Maximum 20,
 * clean start 0. */
static const char MOSQ_SUB_CONNECT_5[] =
    "102c00044d51545405c0001e081100000e102100140004737562310009617070314061636d650006736563726"
    "574";

static void test_mqtt_decode__connect_mosquitto_pub_311(void **state)
{
    (void)state;
    assert_int_equal(decode_hex(0, MOSQ_CONNECT_311), MQTT_OK);
    const mqtt_connect_t *c = &pkt.u.connect;
    assert_int_equal(c->version, MQTT_V311);
    assert_true(c->clean_start);
    assert_false(c->has_will);
    assert_int_equal(c->keepalive_s, 60);
    assert_true(str_is(c->client_id, "cid1"));
    assert_true(str_is(c->username, "app1@acme"));
    assert_true(str_is(c->password, "secret"));
}

static void test_mqtt_decode__connect_mosquitto_5_properties(void **state)
{
    (void)state;
    assert_int_equal(decode_hex(0, MOSQ_CONNECT_5), MQTT_OK);
    assert_int_equal(pkt.u.connect.version, MQTT_V5);
    assert_int_equal(pkt.u.connect.props.receive_maximum, 20);
    assert_int_equal(decode_hex(0, MOSQ_SUB_CONNECT_5), MQTT_OK);
    const mqtt_connect_t *c = &pkt.u.connect;
    assert_false(c->clean_start);
    assert_int_equal(c->keepalive_s, 30);
    assert_int_equal(c->props.session_expiry_s, 3600);
    assert_int_equal(c->props.receive_maximum, 20);
    assert_true(str_is(c->client_id, "sub1"));
}

/* mosquitto_pub --will-topic v3/x --will-payload bye -V mqttv311 -i w1. */
static void test_mqtt_decode__connect_mosquitto_will(void **state)
{
    (void)state;
    assert_int_equal(decode_hex(0, "101900044d5154540406003c00027731000476332f780003627965"),
                     MQTT_OK);
    assert_true(pkt.u.connect.has_will);
    assert_true(str_is(pkt.u.connect.will_topic, "v3/x"));
    assert_true(str_is(pkt.u.connect.will_payload, "bye"));
}

static void test_mqtt_decode__connect_refusals(void **state)
{
    (void)state;
    /* MQTT 3.1 ("MQIsdp", level 3): a version, not a name error (CONNACK 0x01). */
    assert_int_equal(decode_hex(0, "100f00064d514973647003020000000161"), -MQTT_E_PROTOCOL_VERSION);
    assert_int_equal(pkt.u.connect.version, 3);
    /* Level 6. */
    assert_int_equal(decode_hex(0, "100d00044d5154540602000000016"
                                   "1"),
                     -MQTT_E_PROTOCOL_VERSION);
    /* Name "MQTX". */
    assert_int_equal(decode_hex(0, "100d00044d5154580402000000016"
                                   "1"),
                     -MQTT_E_PROTOCOL_NAME);
    /* Reserved flag bit 0. */
    assert_int_equal(decode_hex(0, "100d00044d5154540403000000016"
                                   "1"),
                     -MQTT_E_CONNECT_FLAGS);
    /* Will QoS without the will flag. */
    assert_int_equal(decode_hex(0, "100d00044d5154540408000000016"
                                   "1"),
                     -MQTT_E_CONNECT_FLAGS);
    /* 3.1.1: password without user name. */
    assert_int_equal(decode_hex(0, "101000044d51545404420000000161000170"), -MQTT_E_CONNECT_FLAGS);
    /* Client ID with U+0000. */
    assert_int_equal(decode_hex(0, "100d00044d5154540402000000010"
                                   "0"),
                     -MQTT_E_UTF8);
    /* Trailing byte after the last field. */
    assert_int_equal(decode_hex(0, "100e00044d515454040200000001610"
                                   "0"),
                     -MQTT_E_TRAILING);
    /* Truncated client ID. */
    assert_int_equal(decode_hex(0, "100d00044d5154540402000000026"
                                   "1"),
                     -MQTT_E_TRUNCATED);
}

static void test_mqtt_decode__connect_5_property_rules(void **state)
{
    (void)state;
    /* Receive Maximum 0 (§3.1.2.11.3). */
    assert_int_equal(decode_hex(0, "101100044d5154540502000003210000000161"),
                     -MQTT_E_PROPERTY_VALUE);
    /* Session Expiry twice. */
    assert_int_equal(decode_hex(0, "101800044d515454050200000a110000000111000000020001"
                                   "61"),
                     -MQTT_E_PROPERTY_DUP);
    /* Topic Alias (a PUBLISH property) in CONNECT. */
    assert_int_equal(decode_hex(0, "101100044d5154540502000003230001000161"), -MQTT_E_PROPERTY);
    /* Two User Properties are allowed and kept. */
    assert_int_equal(decode_hex(0, "101c00044d515454050200000e260001610001622600016300016"
                                   "4000161"),
                     MQTT_OK);
    assert_int_equal(pkt.u.connect.props.n_user, 2);
    assert_true(str_is(pkt.u.connect.props.user_key[1], "c"));
    assert_true(str_is(pkt.u.connect.props.user_value[1], "d"));
    /* Properties longer than the packet. */
    assert_int_equal(decode_hex(0, "100e00044d51545405020000100001"
                                   "61"),
                     -MQTT_E_TRUNCATED);
}

/* ---- PUBLISH ---- */

/* 3.1.1 §3.3.2.3 figure 3.11: topic "a/b", packet identifier 10 (QoS 1), payload "x". */
static void test_mqtt_decode__publish_311_spec_example(void **state)
{
    (void)state;
    assert_int_equal(decode_hex(MQTT_V311, "3208"
                                           "0003612f62000a"
                                           "78"),
                     MQTT_OK);
    const mqtt_publish_t *p = &pkt.u.publish;
    assert_int_equal(p->qos, 1);
    assert_false(p->dup);
    assert_false(p->retain);
    assert_true(str_is(p->topic, "a/b"));
    assert_int_equal(p->packet_id, 10);
    assert_true(str_is(p->payload, "x"));
}

/* mosquitto_pub -q 1 -t v3/app1@acme/devices/dev1/down/push -m '{"downlinks":[]}'. */
static void test_mqtt_decode__publish_mosquitto_311_and_5(void **state)
{
    (void)state;
    assert_int_equal(decode_hex(MQTT_V311, "3237002376332f617070314061636d652f646576696365732f"
                                           "646576312f646f776e2f7075736800017b22646f776e6c696e"
                                           "6b73223a5b5d7d"),
                     MQTT_OK);
    assert_true(str_is(pkt.u.publish.topic, "v3/app1@acme/devices/dev1/down/push"));
    assert_int_equal(pkt.u.publish.packet_id, 1);
    assert_true(str_is(pkt.u.publish.payload, "{\"downlinks\":[]}"));
    assert_int_equal(decode_hex(MQTT_V5, "3238002376332f617070314061636d652f646576696365732f64"
                                         "6576312f646f776e2f707573680001007b22646f776e6c696e6b"
                                         "73223a5b5d7d"),
                     MQTT_OK);
    assert_true(str_is(pkt.u.publish.payload, "{\"downlinks\":[]}"));
    assert_int_equal(pkt.u.publish.props.present, 0);
    /* The 5.0 packet read as 3.1.1: the property length byte becomes payload. */
    assert_int_equal(decode_hex(MQTT_V311, "3238002376332f617070314061636d652f646576696365732f"
                                           "646576312f646f776e2f707573680001007b22646f776e6c69"
                                           "6e6b73223a5b5d7d"),
                     MQTT_OK);
    assert_int_equal(pkt.u.publish.payload.len, 17);
}

static void test_mqtt_decode__publish_refusals(void **state)
{
    (void)state;
    assert_int_equal(decode_hex(MQTT_V311, "3207"
                                           "0003612f620000"),
                     -MQTT_E_PACKET_ID);
    assert_int_equal(decode_hex(MQTT_V311, "3603"
                                           "000161"),
                     -MQTT_E_QOS);
    assert_int_equal(decode_hex(MQTT_V311, "3803"
                                           "000161"),
                     -MQTT_E_FLAGS); /* DUP, QoS 0 */
    assert_int_equal(decode_hex(MQTT_V311, "3004"
                                           "0002612b"),
                     -MQTT_E_TOPIC_WILDCARD);
    assert_int_equal(decode_hex(MQTT_V311, "3002"
                                           "0000"),
                     -MQTT_E_TOPIC_EMPTY);
    assert_int_equal(decode_hex(MQTT_V311, "3003"
                                           "0001ff"),
                     -MQTT_E_UTF8);
    assert_int_equal(decode_hex(MQTT_V311, "3004"
                                           "0005612f"),
                     -MQTT_E_TRUNCATED);
    /* 5.0: empty topic only with a Topic Alias; Topic Alias 0 is invalid. */
    assert_int_equal(decode_hex(MQTT_V5, "3003"
                                         "000000"),
                     -MQTT_E_TOPIC_EMPTY);
    assert_int_equal(decode_hex(MQTT_V5, "3006"
                                         "000003230001"),
                     MQTT_OK);
    assert_int_equal(pkt.u.publish.props.topic_alias, 1);
    assert_int_equal(decode_hex(MQTT_V5, "3006"
                                         "000003230000"),
                     -MQTT_E_PROPERTY_VALUE);
    /* A client PUBLISH never carries a Subscription Identifier (5.0 §3.3.4). */
    assert_int_equal(decode_hex(MQTT_V5, "3006"
                                         "000161020b01"),
                     -MQTT_E_PROPERTY);
    /* QoS 2 decodes (the server refuses it by name). */
    assert_int_equal(decode_hex(MQTT_V311, "3405"
                                           "0001610007"),
                     MQTT_OK);
    assert_int_equal(pkt.u.publish.qos, 2);
}

/* ---- Acknowledgements ---- */

static void test_mqtt_decode__acks(void **state)
{
    (void)state;
    assert_int_equal(decode_hex(MQTT_V311, "4002000a"), MQTT_OK);
    assert_int_equal(pkt.u.ack.type, MQTT_PUBACK);
    assert_int_equal(pkt.u.ack.packet_id, 10);
    assert_int_equal(decode_hex(MQTT_V311, "40020000"), -MQTT_E_PACKET_ID);
    assert_int_equal(decode_hex(MQTT_V311, "4003000a00"), -MQTT_E_TRAILING);
    assert_int_equal(decode_hex(MQTT_V5, "4003000a10"), MQTT_OK); /* no matching subscribers */
    assert_int_equal(pkt.u.ack.reason, 0x10);
    assert_int_equal(decode_hex(MQTT_V5, "4003000a05"), -MQTT_E_REASON);
    assert_int_equal(decode_hex(MQTT_V5, "4008000a80041f000178"), MQTT_OK);
    assert_true(str_is(pkt.u.ack.props.reason_string, "x"));
    assert_int_equal(decode_hex(MQTT_V311, "5002000b"), MQTT_OK);
    assert_int_equal(pkt.u.ack.type, MQTT_PUBREC);
    assert_int_equal(decode_hex(MQTT_V311, "6202000b"), MQTT_OK);
    assert_int_equal(pkt.u.ack.type, MQTT_PUBREL);
    assert_int_equal(decode_hex(MQTT_V5, "6203000b92"), MQTT_OK);
    assert_int_equal(decode_hex(MQTT_V5, "6203000b80"), -MQTT_E_REASON);
    assert_int_equal(decode_hex(MQTT_V311, "7002000b"), MQTT_OK);
    assert_int_equal(pkt.u.ack.type, MQTT_PUBCOMP);
}

/* ---- SUBSCRIBE / UNSUBSCRIBE ---- */

/* 3.1.1 §3.8.3.1 figure 3.22 (filters "a/b" QoS 1 and "c/d" QoS 2) with packet id 10
 * (§3.8.2 figure 3.21). */
static void test_mqtt_decode__subscribe_311_spec_example(void **state)
{
    (void)state;
    assert_int_equal(decode_hex(MQTT_V311, "820e"
                                           "000a"
                                           "0003612f6201"
                                           "0003632f6402"),
                     MQTT_OK);
    const mqtt_subscribe_t *s = &pkt.u.subscribe;
    assert_int_equal(s->packet_id, 10);
    assert_int_equal(s->n, 2);
    assert_true(str_is(s->f[0].filter, "a/b"));
    assert_int_equal(s->f[0].qos, 1);
    assert_true(str_is(s->f[1].filter, "c/d"));
    assert_int_equal(s->f[1].qos, 2);
}

/* mosquitto_sub -V mqttv311 -t 'v3/+/devices/+/up' -q 1; -V mqttv5 -t '#' -q 1. */
static void test_mqtt_decode__subscribe_mosquitto(void **state)
{
    (void)state;
    assert_int_equal(decode_hex(MQTT_V311, "82160001001176332f2b2f646576696365732f2b2f757001"),
                     MQTT_OK);
    assert_int_equal(pkt.u.subscribe.n, 1);
    assert_true(str_is(pkt.u.subscribe.f[0].filter, "v3/+/devices/+/up"));
    assert_int_equal(pkt.u.subscribe.f[0].qos, 1);
    assert_int_equal(decode_hex(MQTT_V5, "820700010000012301"), MQTT_OK);
    assert_true(str_is(pkt.u.subscribe.f[0].filter, "#"));
    assert_int_equal(pkt.u.subscribe.f[0].qos, 1);
}

static void test_mqtt_decode__subscribe_refusals(void **state)
{
    (void)state;
    assert_int_equal(decode_hex(MQTT_V311, "8202"
                                           "0001"),
                     -MQTT_E_NO_FILTERS);
    assert_int_equal(decode_hex(MQTT_V311, "8205"
                                           "0001000161"),
                     -MQTT_E_TRUNCATED);
    assert_int_equal(decode_hex(MQTT_V311, "8206"
                                           "00000001610"
                                           "0"),
                     -MQTT_E_PACKET_ID);
    assert_int_equal(decode_hex(MQTT_V311, "8206"
                                           "00010001610"
                                           "4"),
                     -MQTT_E_SUB_OPTIONS);
    assert_int_equal(decode_hex(MQTT_V311, "8206"
                                           "00010001610"
                                           "3"),
                     -MQTT_E_QOS);
    assert_int_equal(decode_hex(MQTT_V311, "8207"
                                           "0001000261230"
                                           "0"),
                     -MQTT_E_FILTER);
    /* 5.0: No Local and Retain Handling are options, bits 6-7 reserved, handling 3 too. */
    assert_int_equal(decode_hex(MQTT_V5, "8207"
                                         "000100000161"
                                         "2d"),
                     MQTT_OK);
    assert_true(pkt.u.subscribe.f[0].no_local);
    assert_true(pkt.u.subscribe.f[0].retain_as_published);
    assert_int_equal(pkt.u.subscribe.f[0].retain_handling, 2);
    assert_int_equal(decode_hex(MQTT_V5, "8207"
                                         "000100000161"
                                         "40"),
                     -MQTT_E_SUB_OPTIONS);
    assert_int_equal(decode_hex(MQTT_V5, "8207"
                                         "000100000161"
                                         "30"),
                     -MQTT_E_SUB_OPTIONS);
    /* Subscription Identifier 0 is invalid; 5 is kept. */
    assert_int_equal(decode_hex(MQTT_V5, "8209"
                                         "0001020b00000161"
                                         "00"),
                     -MQTT_E_PROPERTY_VALUE);
    assert_int_equal(decode_hex(MQTT_V5, "8209"
                                         "0001020b05000161"
                                         "00"),
                     MQTT_OK);
    assert_int_equal(pkt.u.subscribe.props.subscription_id, 5);
    /* 17 filters: more than MQTT_FILTERS_MAX. */
    uint8_t b[128] = {0x82, 2 + 17 * 4, 0x00, 0x01};
    for (int i = 0; i < 17; i++)
        memcpy(b + 4 + 4 * i, "\x00\x01\x61\x00", 4);
    assert_int_equal(mqtt_decode(MQTT_V311, b, 4 + 17 * 4, 0, &pkt), -MQTT_E_TOO_MANY_FILTERS);
}

/* 3.1.1 §3.10.3.1 figure 3.30: UNSUBSCRIBE "a/b", "c/d". */
static void test_mqtt_decode__unsubscribe(void **state)
{
    (void)state;
    assert_int_equal(decode_hex(MQTT_V311, "a20c"
                                           "000a"
                                           "0003612f62"
                                           "0003632f64"),
                     MQTT_OK);
    assert_int_equal(pkt.fh.type, MQTT_UNSUBSCRIBE);
    assert_int_equal(pkt.u.subscribe.n, 2);
    assert_true(str_is(pkt.u.subscribe.f[1].filter, "c/d"));
    assert_int_equal(decode_hex(MQTT_V5, "a208"
                                         "000a"
                                         "00"
                                         "0003612f62"),
                     MQTT_OK);
    assert_int_equal(decode_hex(MQTT_V311, "a202"
                                           "000a"),
                     -MQTT_E_NO_FILTERS);
}

/* ---- PINGREQ, DISCONNECT, AUTH ---- */

static void test_mqtt_decode__ping_disconnect_auth(void **state)
{
    (void)state;
    assert_int_equal(decode_hex(MQTT_V311, "c000"), MQTT_OK);
    assert_int_equal(pkt.fh.type, MQTT_PINGREQ);
    assert_int_equal(decode_hex(MQTT_V311, "c00100"), -MQTT_E_TRAILING);
    assert_int_equal(decode_hex(MQTT_V311, "e000"), MQTT_OK);
    assert_int_equal(decode_hex(MQTT_V311, "e00100"), -MQTT_E_TRAILING);
    /* mosquitto_sub -V mqttv5 stopped by SIGTERM: DISCONNECT 0x04. */
    assert_int_equal(decode_hex(MQTT_V5, "e00104"), MQTT_OK);
    assert_int_equal(pkt.u.disconnect.reason, 0x04);
    assert_int_equal(decode_hex(MQTT_V5, "e007"
                                         "00"
                                         "05"
                                         "1100000000"),
                     MQTT_OK);
    assert_true(pkt.u.disconnect.props.present & MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY));
    assert_int_equal(decode_hex(MQTT_V5, "e00101"), -MQTT_E_REASON);
    /* AUTH: 5.0 only (type 15 is reserved in 3.1.1). */
    assert_int_equal(decode_hex(MQTT_V5, "f0081806150003616263"), MQTT_OK);
    assert_int_equal(pkt.u.disconnect.reason, 0x18);
    assert_true(str_is(pkt.u.disconnect.props.auth_method, "abc"));
    assert_int_equal(decode_hex(MQTT_V311, "f000"), -MQTT_E_PACKET_TYPE);
}

/* ---- Encoders ---- */

static void assert_bytes(const uint8_t *got, size_t n, const char *hex)
{
    uint8_t want[512];
    size_t wn = unhex(hex, want, sizeof(want));
    assert_int_equal(n, wn);
    assert_memory_equal(got, want, wn);
}

static void test_mqtt_encode__connack(void **state)
{
    (void)state;
    uint8_t b[256];
    size_t n = mqtt_encode_connack(MQTT_V311, false, MQTT311_CONNACK_ACCEPTED, NULL, b, sizeof(b));
    assert_bytes(b, n, "20020000");
    n = mqtt_encode_connack(MQTT_V311, true, MQTT311_CONNACK_NOT_AUTHORIZED, NULL, b, sizeof(b));
    assert_bytes(b, n, "20020105");
    n = mqtt_encode_connack(MQTT_V5, false, MQTT5_NOT_AUTHORIZED, NULL, b, sizeof(b));
    assert_bytes(b, n, "2003008700");
    mqtt_connack_props_t p = {.has_session_expiry = true,
                              .session_expiry_s = 3600,
                              .receive_maximum = 32,
                              .announce_limits = true,
                              .maximum_packet_size = 65536};
    n = mqtt_encode_connack(MQTT_V5, true, MQTT5_SUCCESS, &p, b, sizeof(b));
    assert_bytes(b, n,
                 "2018"
                 "0100"
                 "15"
                 "1100000e10"
                 "210020"
                 "2401"
                 "2500"
                 "2700010000"
                 "2900"
                 "2a00");
    assert_int_equal(mqtt_encode_connack(MQTT_V311, false, 0, NULL, b, 3), 0);
}

static void test_mqtt_encode__publish_acks_suback_ping_disconnect(void **state)
{
    (void)state;
    uint8_t b[256];
    const char *t = "a/b";
    size_t n = mqtt_encode_publish(MQTT_V311, 1, false, false, t, 3, 10, (const uint8_t *)"x", 1, b,
                                   sizeof(b));
    assert_bytes(b, n, "32080003612f62000a78");
    assert_int_equal(mqtt_publish_size(MQTT_V311, 1, 3, 1), n);
    /* What the encoder writes decodes to the same (as a client's PUBLISH would). */
    assert_int_equal(mqtt_decode(MQTT_V311, b, n, 0, &pkt), MQTT_OK);
    assert_int_equal(pkt.u.publish.packet_id, 10);
    n = mqtt_encode_publish(MQTT_V5, 0, false, false, t, 3, 0, (const uint8_t *)"x", 1, b,
                            sizeof(b));
    assert_bytes(b, n, "30070003612f620078");
    assert_int_equal(mqtt_publish_size(MQTT_V5, 0, 3, 1), n);
    n = mqtt_encode_publish(MQTT_V311, 1, true, false, t, 3, 10, (const uint8_t *)"x", 1, b,
                            sizeof(b));
    assert_int_equal(b[0], 0x3a);
    assert_int_equal(
        mqtt_encode_publish(MQTT_V311, 1, false, false, t, 3, 10, (const uint8_t *)"x", 1, b, 9),
        0);
    n = mqtt_encode_ack(MQTT_V311, MQTT_PUBACK, 10, 0, b, sizeof(b));
    assert_bytes(b, n, "4002000a");
    n = mqtt_encode_ack(MQTT_V5, MQTT_PUBACK, 10, MQTT5_NOT_AUTHORIZED, b, sizeof(b));
    assert_bytes(b, n, "4003000a87");
    n = mqtt_encode_ack(MQTT_V311, MQTT_PUBACK, 10, MQTT5_NOT_AUTHORIZED, b, sizeof(b));
    assert_bytes(b, n, "4002000a");
    /* 3.1.1 §3.9.3 figure 3.26: granted QoS 0, granted QoS 2, failure. */
    const uint8_t codes[] = {0x00, 0x02, 0x80};
    n = mqtt_encode_suback(MQTT_V311, MQTT_SUBACK, 10, codes, 3, b, sizeof(b));
    assert_bytes(b, n, "9005000a000280");
    n = mqtt_encode_suback(MQTT_V5, MQTT_SUBACK, 10, codes, 3, b, sizeof(b));
    assert_bytes(b, n, "9006000a00000280");
    n = mqtt_encode_suback(MQTT_V311, MQTT_UNSUBACK, 10, codes, 3, b, sizeof(b));
    assert_bytes(b, n, "b002000a");
    n = mqtt_encode_suback(MQTT_V5, MQTT_UNSUBACK, 10, codes, 1, b, sizeof(b));
    assert_bytes(b, n, "b004000a0000");
    n = mqtt_encode_pingresp(b, sizeof(b));
    assert_bytes(b, n, "d000");
    n = mqtt_encode_disconnect(MQTT_V5, MQTT5_ADMINISTRATIVE_ACTION, NULL, b, sizeof(b));
    assert_bytes(b, n, "e0029800");
    n = mqtt_encode_disconnect(MQTT_V5, MQTT5_KEEP_ALIVE_TIMEOUT, "ab", b, sizeof(b));
    assert_bytes(b, n, "e0078d051f00026162");
    assert_int_equal(mqtt_encode_disconnect(MQTT_V311, 0x8d, NULL, b, sizeof(b)), 0);
}

static void test_mqtt_err_name__every_error_named(void **state)
{
    (void)state;
    for (int e = 1; e < MQTT_E_COUNT; e++) {
        const char *n = mqtt_err_name(-e);
        assert_string_not_equal(n, "unknown");
        assert_string_not_equal(n, "ok");
    }
    assert_string_equal(mqtt_err_name(0), "ok");
    assert_string_equal(mqtt_err_name(-MQTT_E_COUNT), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mqtt_frame__remaining_length_table),
        cmocka_unit_test(test_mqtt_frame__five_length_bytes),
        cmocka_unit_test(test_mqtt_frame__too_large_known_from_the_header),
        cmocka_unit_test(test_mqtt_frame__reserved_flags_and_types),
        cmocka_unit_test(test_mqtt_utf8_check__spec_example_and_refusals),
        cmocka_unit_test(test_mqtt_topic_checks__spec_4_7),
        cmocka_unit_test(test_mqtt_decode__connect_311_spec_example),
        cmocka_unit_test(test_mqtt_decode__connect_5_spec_example),
        cmocka_unit_test(test_mqtt_decode__connect_mosquitto_pub_311),
        cmocka_unit_test(test_mqtt_decode__connect_mosquitto_5_properties),
        cmocka_unit_test(test_mqtt_decode__connect_mosquitto_will),
        cmocka_unit_test(test_mqtt_decode__connect_refusals),
        cmocka_unit_test(test_mqtt_decode__connect_5_property_rules),
        cmocka_unit_test(test_mqtt_decode__publish_311_spec_example),
        cmocka_unit_test(test_mqtt_decode__publish_mosquitto_311_and_5),
        cmocka_unit_test(test_mqtt_decode__publish_refusals),
        cmocka_unit_test(test_mqtt_decode__acks),
        cmocka_unit_test(test_mqtt_decode__subscribe_311_spec_example),
        cmocka_unit_test(test_mqtt_decode__subscribe_mosquitto),
        cmocka_unit_test(test_mqtt_decode__subscribe_refusals),
        cmocka_unit_test(test_mqtt_decode__unsubscribe),
        cmocka_unit_test(test_mqtt_decode__ping_disconnect_auth),
        cmocka_unit_test(test_mqtt_encode__connack),
        cmocka_unit_test(test_mqtt_encode__publish_acks_suback_ping_disconnect),
        cmocka_unit_test(test_mqtt_err_name__every_error_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
