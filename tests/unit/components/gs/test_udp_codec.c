/* Tests of components/gs/udp_codec.c: the Semtech UDP codec. Datagrams are written here after
 * the examples of Lora-net/packet_forwarder PROTOCOL.TXT (field names, types, v1/v2 headers);
 * the payloads are our own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gs/udp_codec_private.h"

#define EUI_BYTES "\xaa\x55\x5a\x00\x00\x00\x01\x01"
#define EUI       0xaa555a0000000101ULL

/* Header (12 bytes) + JSON into buf; returns the length. */
static size_t dgram(uint8_t *buf, size_t cap, uint8_t version, uint16_t token, uint8_t ident,
                    const char *json)
{
    size_t jl = strlen(json);
    assert_true(12 + jl <= cap);
    buf[0] = version;
    buf[1] = (uint8_t)(token >> 8);
    buf[2] = (uint8_t)token;
    buf[3] = ident;
    memcpy(buf + 4, EUI_BYTES, 8);
    memcpy(buf + 12, json, jl);
    return 12 + jl;
}

static gs_udp_packet_t pkt; /* large: keep it off the stack */
static uint8_t buf[20000];

static const char PUSH_BOTH[] =
    "{\"rxpk\":[{\"time\":\"2013-03-31T16:21:17.528002Z\",\"tmms\":1048194097528,"
    "\"tmst\":3512348611,\"chan\":2,\"rfch\":0,\"freq\":866.349812,\"stat\":1,\"modu\":\"LORA\","
    "\"datr\":\"SF7BW125\",\"codr\":\"4/6\",\"rssi\":-35,\"lsnr\":5.1,\"size\":17,"
    "\"data\":\"QAQDAgGAAQABYqlGs7Z+q40=\"},"
    "{\"time\":\"2013-03-31T16:21:17.530974Z\",\"tmst\":3512348514,\"chan\":9,\"rfch\":1,"
    "\"freq\":869.1,\"stat\":1,\"modu\":\"FSK\",\"datr\":50000,\"rssi\":-75,\"size\":16,"
    "\"data\":\"VEVTVF9QQUNLRVRfMTIzNA==\"}],"
    "\"stat\":{\"time\":\"2014-01-12 08:59:28 GMT\",\"lati\":46.24000,\"long\":3.25230,"
    "\"alti\":145,\"rxnb\":2,\"rxok\":2,\"rxfw\":2,\"ackr\":100.0,\"dwnb\":2,\"txnb\":2}}";

static void test_gs_udp_decode__push_data_rxpk_and_stat_v2(void **state)
{
    (void)state;
    size_t len = dgram(buf, sizeof(buf), 2, 0xbeef, GS_UDP_PUSH_DATA, PUSH_BOTH);
    assert_int_equal(gs_udp_decode(buf, len, &pkt), GS_UDP_OK);
    assert_int_equal(pkt.version, 2);
    assert_int_equal(pkt.token, 0xbeef);
    assert_int_equal(pkt.ident, GS_UDP_PUSH_DATA);
    assert_true(pkt.has_eui);
    assert_true(pkt.eui == EUI);
    assert_int_equal(pkt.n_rxpk, 2);
    const gs_udp_rxpk_t *r = &pkt.rxpk[0];
    assert_string_equal(r->time, "2013-03-31T16:21:17.528002Z");
    assert_true(r->has_tmms && r->tmms == 1048194097528ULL);
    assert_int_equal(r->tmst, 3512348611u);
    assert_int_equal(r->chan, 2);
    assert_int_equal(r->rfch, 0);
    assert_true(r->freq_mhz > 866.349811 && r->freq_mhz < 866.349813);
    assert_int_equal(r->stat, 1);
    assert_int_equal(r->modu, GS_UDP_MODU_LORA);
    assert_int_equal(r->sf, 7);
    assert_int_equal(r->bw_khz, 125);
    assert_string_equal(r->codr, "4/6");
    assert_true(r->rssi == -35.0);
    assert_true(r->has_lsnr && r->lsnr == 5.1);
    assert_int_equal(r->size, 17);
    assert_int_equal(r->data_len, 17);
    static const uint8_t phy[17] = {0x40, 0x04, 0x03, 0x02, 0x01, 0x80, 0x01, 0x00, 0x01,
                                    0x62, 0xa9, 0x46, 0xb3, 0xb6, 0x7e, 0xab, 0x8d};
    assert_memory_equal(r->data, phy, 17);
    r = &pkt.rxpk[1];
    assert_false(r->has_tmms);
    assert_int_equal(r->rfch, 1);
    assert_int_equal(r->modu, GS_UDP_MODU_FSK);
    assert_int_equal(r->fsk_bitrate, 50000);
    assert_false(r->has_lsnr);
    assert_string_equal(r->codr, "");
    assert_int_equal(r->data_len, 16);
    assert_memory_equal(r->data, "TEST_PACKET_1234", 16);
    assert_true(pkt.has_stat);
    assert_string_equal(pkt.stat.time, "2014-01-12 08:59:28 GMT");
    assert_true(pkt.stat.has_location && pkt.stat.lati == 46.24 && pkt.stat.lon == 3.2523);
    assert_true(pkt.stat.has_alti && pkt.stat.alti == 145);
    assert_int_equal(pkt.stat.rxnb, 2);
    assert_int_equal(pkt.stat.rxok, 2);
    assert_int_equal(pkt.stat.rxfw, 2);
    assert_int_equal(pkt.stat.dwnb, 2);
    assert_int_equal(pkt.stat.txnb, 2);
    assert_true(pkt.stat.has_ackr && pkt.stat.ackr == 100.0);
}

static void test_gs_udp_decode__push_data_v1_stat_only(void **state)
{
    (void)state;
    size_t len = dgram(buf, sizeof(buf), 1, 0x0102, GS_UDP_PUSH_DATA,
                       "{\"stat\":{\"time\":\"2014-01-12 08:59:28 GMT\",\"rxnb\":0,\"rxok\":0,"
                       "\"rxfw\":0,\"ackr\":0.0,\"dwnb\":0,\"txnb\":0,\"pfrm\":\"x\"}}\n");
    assert_int_equal(gs_udp_decode(buf, len, &pkt), GS_UDP_OK);
    assert_int_equal(pkt.version, 1);
    assert_int_equal(pkt.token, 0x0102);
    assert_int_equal(pkt.n_rxpk, 0);
    assert_true(pkt.has_stat);
    assert_false(pkt.stat.has_location);
    assert_false(pkt.stat.has_alti);
    assert_true(pkt.json == buf + 12);
}

static void test_gs_udp_decode__rsig_and_unknown_keys_skipped(void **state)
{
    (void)state;
    size_t len =
        dgram(buf, sizeof(buf), 2, 1, GS_UDP_PUSH_DATA,
              "{\"rxpk\":[{\"jver\":1,\"tmst\":1,\"chan\":0,\"rfch\":0,\"freq\":868.1,\"stat\":-1,"
              "\"modu\":\"LORA\",\"datr\":\"SF12BW125\",\"codr\":\"4/5\",\"rssi\":-120,"
              "\"rsig\":[{\"ant\":0,\"chan\":0,\"rssic\":-120,\"lsnr\":-20.5,\"etime\":\"x\"},"
              "{\"ant\":1,\"chan\":8,\"rssic\":-118}],\"size\":0,\"data\":\"\"}]}");
    assert_int_equal(gs_udp_decode(buf, len, &pkt), GS_UDP_OK);
    assert_int_equal(pkt.n_rxpk, 1);
    assert_int_equal(pkt.rxpk[0].stat, -1);
    assert_int_equal(pkt.rxpk[0].sf, 12);
    assert_int_equal(pkt.rxpk[0].data_len, 0);
    assert_false(pkt.has_stat);
}

static void test_gs_udp_decode__pull_data_and_acks(void **state)
{
    (void)state;
    static const uint8_t pull_v1[12] = {1, 0x12, 0x34, 2, 0xaa, 0x55, 0x5a, 0, 0, 0, 1, 1};
    assert_int_equal(gs_udp_decode(pull_v1, 12, &pkt), GS_UDP_OK);
    assert_int_equal(pkt.ident, GS_UDP_PULL_DATA);
    assert_int_equal(pkt.version, 1);
    assert_int_equal(pkt.token, 0x1234);
    assert_true(pkt.eui == EUI);
    assert_null(pkt.json);
    static const uint8_t pull_v2[12] = {2, 0xff, 0x00, 2, 0, 0, 0, 0, 0, 0, 0, 7};
    assert_int_equal(gs_udp_decode(pull_v2, 12, &pkt), GS_UDP_OK);
    assert_int_equal(pkt.version, 2);
    assert_true(pkt.eui == 7);
    static const uint8_t push_ack[4] = {2, 0xab, 0xcd, 1};
    assert_int_equal(gs_udp_decode(push_ack, 4, &pkt), GS_UDP_OK);
    assert_int_equal(pkt.ident, GS_UDP_PUSH_ACK);
    assert_false(pkt.has_eui);
    assert_int_equal(pkt.token, 0xabcd);
    static const uint8_t pull_ack[4] = {1, 0, 1, 4};
    assert_int_equal(gs_udp_decode(pull_ack, 4, &pkt), GS_UDP_OK);
    assert_int_equal(pkt.ident, GS_UDP_PULL_ACK);
}

static void test_gs_udp_decode__tx_ack(void **state)
{
    (void)state;
    /* v1 style: header only; v2 with NUL padding only */
    size_t len = dgram(buf, sizeof(buf), 1, 9, GS_UDP_TX_ACK, "");
    assert_int_equal(gs_udp_decode(buf, len, &pkt), GS_UDP_OK);
    assert_false(pkt.has_txpk_ack);
    len = dgram(buf, sizeof(buf), 2, 9, GS_UDP_TX_ACK, "");
    buf[len++] = 0;
    assert_int_equal(gs_udp_decode(buf, len, &pkt), GS_UDP_OK);
    assert_false(pkt.has_txpk_ack);
    len = dgram(buf, sizeof(buf), 2, 9, GS_UDP_TX_ACK, "{\"txpk_ack\":{\"error\":\"NONE\"}}");
    assert_int_equal(gs_udp_decode(buf, len, &pkt), GS_UDP_OK);
    assert_true(pkt.has_txpk_ack && pkt.txpk_ack.has_error);
    assert_int_equal(pkt.txpk_ack.error, GS_UDP_TXACK_NONE);
    static const struct {
        const char *name;
        gs_udp_txack_code_t code;
    } codes[] = {{"TOO_LATE", GS_UDP_TXACK_TOO_LATE},
                 {"TOO_EARLY", GS_UDP_TXACK_TOO_EARLY},
                 {"COLLISION_PACKET", GS_UDP_TXACK_COLLISION_PACKET},
                 {"COLLISION_BEACON", GS_UDP_TXACK_COLLISION_BEACON},
                 {"TX_FREQ", GS_UDP_TXACK_TX_FREQ},
                 {"TX_POWER", GS_UDP_TXACK_TX_POWER},
                 {"GPS_UNLOCKED", GS_UDP_TXACK_GPS_UNLOCKED}};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        char json[80];
        snprintf(json, sizeof(json), "{\"txpk_ack\":{\"error\":\"%s\"}}", codes[i].name);
        len = dgram(buf, sizeof(buf), 2, 9, GS_UDP_TX_ACK, json);
        assert_int_equal(gs_udp_decode(buf, len, &pkt), GS_UDP_OK);
        assert_int_equal(pkt.txpk_ack.error, codes[i].code);
        assert_string_equal(gs_udp_txack_name(codes[i].code), codes[i].name);
    }
    len = dgram(buf, sizeof(buf), 2, 9, GS_UDP_TX_ACK,
                "{\"txpk_ack\":{\"warn\":\"TX_POWER\",\"value\":20}}");
    assert_int_equal(gs_udp_decode(buf, len, &pkt), GS_UDP_OK);
    assert_false(pkt.txpk_ack.has_error);
    assert_true(pkt.txpk_ack.has_warn && pkt.txpk_ack.warn == GS_UDP_TXACK_TX_POWER);
    assert_true(pkt.txpk_ack.has_value && pkt.txpk_ack.value == 20);
    len = dgram(buf, sizeof(buf), 2, 9, GS_UDP_TX_ACK, "{\"txpk_ack\":{\"error\":\"BUSY\"}}");
    assert_int_equal(gs_udp_decode(buf, len, &pkt), GS_UDP_E_FIELD);
    assert_string_equal(pkt.field, "error");
}

static void test_gs_udp_decode__header_errors(void **state)
{
    (void)state;
    static const uint8_t d[12] = {2, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t b[12];
    assert_int_equal(gs_udp_decode(d, 0, &pkt), GS_UDP_E_SHORT);
    assert_int_equal(gs_udp_decode(d, 3, &pkt), GS_UDP_E_SHORT);
    memcpy(b, d, 12);
    b[0] = 0;
    assert_int_equal(gs_udp_decode(b, 12, &pkt), GS_UDP_E_VERSION);
    b[0] = 3;
    assert_int_equal(gs_udp_decode(b, 12, &pkt), GS_UDP_E_VERSION);
    memcpy(b, d, 12);
    b[3] = 6;
    assert_int_equal(gs_udp_decode(b, 12, &pkt), GS_UDP_E_IDENT);
    b[3] = 0xff;
    assert_int_equal(gs_udp_decode(b, 12, &pkt), GS_UDP_E_IDENT);
    b[3] = GS_UDP_PULL_DATA;
    assert_int_equal(gs_udp_decode(b, 11, &pkt), GS_UDP_E_NO_EUI);
    b[3] = GS_UDP_TX_ACK;
    assert_int_equal(gs_udp_decode(b, 4, &pkt), GS_UDP_E_NO_EUI);
    b[3] = GS_UDP_PUSH_DATA;
    assert_int_equal(gs_udp_decode(b, 11, &pkt), GS_UDP_E_NO_EUI);
    /* PUSH_DATA needs JSON */
    assert_int_equal(gs_udp_decode(b, 12, &pkt), GS_UDP_E_JSON);
}

static void test_gs_udp_decode__json_errors(void **state)
{
    (void)state;
    static const char *bad[] = {
        "{",    "[]", "{\"rxpk\":[}", "{} {}", "{}x", "\"rxpk\"", "{\"rxpk\":[{\"tmst\":\"1}]}",
        "{1:2}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t len = dgram(buf, sizeof(buf), 2, 1, GS_UDP_PUSH_DATA, bad[i]);
        assert_int_equal(gs_udp_decode(buf, len, &pkt), GS_UDP_E_JSON);
    }
    /* too long */
    memset(buf, ' ', sizeof(buf));
    size_t len = dgram(buf, sizeof(buf), 2, 1, GS_UDP_PUSH_DATA, "{}");
    assert_int_equal(gs_udp_decode(buf, len, &pkt), GS_UDP_OK);
    assert_int_equal(gs_udp_decode(buf, 12 + GS_UDP_JSON_MAX, &pkt), GS_UDP_OK);
    assert_int_equal(gs_udp_decode(buf, 12 + GS_UDP_JSON_MAX + 1, &pkt), GS_UDP_E_JSON_LARGE);
    /* more tokens than we keep */
    char *p = (char *)buf + 12;
    p += sprintf(p, "{\"x\":[");
    for (int i = 0; i < GS_UDP_TOKENS_MAX; i++)
        p += sprintf(p, "%s1", i ? "," : "");
    p += sprintf(p, "]}");
    assert_int_equal(gs_udp_decode(buf, (size_t)((uint8_t *)p - buf), &pkt), GS_UDP_E_JSON_LARGE);
}

static const char RXPK_FMT[] =
    "{\"tmst\":1,\"chan\":0,\"rfch\":0,\"freq\":868.1,\"stat\":1,\"modu\":\"LORA\","
    "\"datr\":\"SF7BW125\",\"codr\":\"4/5\",\"rssi\":-50,\"lsnr\":7,\"size\":13,"
    "\"data\":\"YAQDAgEAAAABQqWltg==\"}";

static void test_gs_udp_decode__too_many_rxpk(void **state)
{
    (void)state;
    for (int n = GS_UDP_RXPK_MAX; n <= GS_UDP_RXPK_MAX + 1; n++) {
        char *p = (char *)buf + 12;
        p += sprintf(p, "{\"rxpk\":[");
        for (int i = 0; i < n; i++)
            p += sprintf(p, "%s%s", i ? "," : "", RXPK_FMT);
        p += sprintf(p, "]}");
        memcpy(buf, "\x02\x00\x01\x00" EUI_BYTES, 12);
        int rc = gs_udp_decode(buf, (size_t)((uint8_t *)p - buf), &pkt);
        if (n == GS_UDP_RXPK_MAX) {
            assert_int_equal(rc, GS_UDP_OK);
            assert_int_equal(pkt.n_rxpk, GS_UDP_RXPK_MAX);
            assert_int_equal(pkt.rxpk[15].data_len, 13);
        } else {
            assert_int_equal(rc, GS_UDP_E_TOO_MANY_RXPK);
        }
    }
}

/* Replaces `from` in the RXPK_FMT with `to`, as the second entry of a PUSH_DATA. */
static int decode_with(const char *from, const char *to)
{
    char one[600], json[1400];
    const char *at = strstr(RXPK_FMT, from);
    assert_non_null(at);
    snprintf(one, sizeof(one), "%.*s%s%s", (int)(at - RXPK_FMT), RXPK_FMT, to, at + strlen(from));
    snprintf(json, sizeof(json), "{\"rxpk\":[%s,%s]}", RXPK_FMT, one);
    size_t len = dgram(buf, sizeof(buf), 2, 1, GS_UDP_PUSH_DATA, json);
    return gs_udp_decode(buf, len, &pkt);
}

static void test_gs_udp_decode__field_errors(void **state)
{
    (void)state;
    static const struct {
        const char *from, *to, *field;
        int err;
    } cases[] = {
        {"\"freq\":868.1", "\"freq\":99.9", "freq", GS_UDP_E_FIELD},
        {"\"freq\":868.1", "\"freq\":1000.5", "freq", GS_UDP_E_FIELD},
        {"\"freq\":868.1", "\"freq\":\"868.1\"", "freq", GS_UDP_E_FIELD},
        {"\"freq\":868.1", "\"freq\":true", "freq", GS_UDP_E_FIELD},
        {"\"freq\":868.1,", "", "freq", GS_UDP_E_MISSING},
        {"\"tmst\":1,", "", "tmst", GS_UDP_E_MISSING},
        {"\"tmst\":1", "\"tmst\":4294967296", "tmst", GS_UDP_E_FIELD},
        {"\"tmst\":1", "\"tmst\":-1", "tmst", GS_UDP_E_FIELD},
        {"\"tmst\":1", "\"tmst\":1.5", "tmst", GS_UDP_E_FIELD},
        {"\"rssi\":-50", "\"rssi\":-201", "rssi", GS_UDP_E_FIELD},
        {"\"rssi\":-50", "\"rssi\":51", "rssi", GS_UDP_E_FIELD},
        {"\"rssi\":-50,", "", "rssi", GS_UDP_E_MISSING},
        {"\"lsnr\":7", "\"lsnr\":-50.5", "lsnr", GS_UDP_E_FIELD},
        {"\"lsnr\":7", "\"lsnr\":51", "lsnr", GS_UDP_E_FIELD},
        {"\"size\":13", "\"size\":12", "size", GS_UDP_E_FIELD},
        {"\"size\":13", "\"size\":256", "size", GS_UDP_E_FIELD},
        {"\"size\":13,", "", "size", GS_UDP_E_MISSING},
        {"YAQDAgEAAAABQqWltg==", "YAQDAgEAAAABQqWltg=", "data", GS_UDP_E_FIELD},
        {"YAQDAgEAAAABQqWltg==", "YAQDAgEAAAABQqWl!g==", "data", GS_UDP_E_FIELD},
        {"YAQDAgEAAAABQqWltg==", "YAQD=gEAAAABQqWltg==", "data", GS_UDP_E_FIELD},
        {"\"stat\":1", "\"stat\":2", "stat", GS_UDP_E_FIELD},
        {"\"chan\":0", "\"chan\":256", "chan", GS_UDP_E_FIELD},
        {"\"rfch\":0", "\"rfch\":2", "rfch", GS_UDP_E_FIELD},
        {"\"modu\":\"LORA\"", "\"modu\":\"LR-FHSS\"", "modu", GS_UDP_E_FIELD},
        {"SF7BW125", "SF13BW125", "datr", GS_UDP_E_FIELD},
        {"SF7BW125", "SF7BW126", "datr", GS_UDP_E_FIELD},
        {"SF7BW125", "SF7BW125x", "datr", GS_UDP_E_FIELD},
        {"\"datr\":\"SF7BW125\"", "\"datr\":50000", "datr", GS_UDP_E_FIELD},
        {"\"codr\":\"4/5\"", "\"codr\":\"4/5 and more\"", "codr", GS_UDP_E_FIELD},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = decode_with(cases[i].from, cases[i].to);
        if (rc != cases[i].err || pkt.field == NULL || strcmp(pkt.field, cases[i].field) != 0)
            fail_msg("case %zu (%s): rc %d field %s", i, cases[i].to, rc,
                     pkt.field ? pkt.field : "(null)");
        assert_int_equal(pkt.field_index, 1);
    }
    /* FSK bitrate as a number */
    assert_int_equal(
        decode_with("\"modu\":\"LORA\",\"datr\":\"SF7BW125\"", "\"modu\":\"FSK\",\"datr\":50000"),
        GS_UDP_OK);
    assert_int_equal(pkt.rxpk[1].fsk_bitrate, 50000);
    assert_int_equal(decode_with("\"modu\":\"LORA\",\"datr\":\"SF7BW125\"",
                                 "\"modu\":\"FSK\",\"datr\":\"50000\""),
                     GS_UDP_E_FIELD);
    /* stat fields */
    size_t len =
        dgram(buf, sizeof(buf), 2, 1, GS_UDP_PUSH_DATA, "{\"stat\":{\"lati\":91,\"long\":0}}");
    assert_int_equal(gs_udp_decode(buf, len, &pkt), GS_UDP_E_FIELD);
    assert_string_equal(pkt.field, "lati");
    len = dgram(buf, sizeof(buf), 2, 1, GS_UDP_PUSH_DATA, "{\"stat\":{\"lati\":45}}");
    assert_int_equal(gs_udp_decode(buf, len, &pkt), GS_UDP_E_FIELD);
    assert_string_equal(pkt.field, "long");
    len = dgram(buf, sizeof(buf), 2, 1, GS_UDP_PUSH_DATA, "{\"stat\":{\"rxnb\":-1}}");
    assert_int_equal(gs_udp_decode(buf, len, &pkt), GS_UDP_E_FIELD);
    assert_string_equal(pkt.field, "rxnb");
    len = dgram(buf, sizeof(buf), 2, 1, GS_UDP_PUSH_DATA, "{\"stat\":{\"ackr\":100.1}}");
    assert_int_equal(gs_udp_decode(buf, len, &pkt), GS_UDP_E_FIELD);
    assert_string_equal(pkt.field, "ackr");
    len = dgram(buf, sizeof(buf), 2, 1, GS_UDP_PUSH_DATA, "{\"rxpk\":{}}");
    assert_int_equal(gs_udp_decode(buf, len, &pkt), GS_UDP_E_FIELD);
    assert_string_equal(pkt.field, "rxpk");
}

static void test_gs_udp_encode_ack__bytes(void **state)
{
    (void)state;
    uint8_t out[8];
    size_t len = 0;
    assert_int_equal(gs_udp_encode_ack(2, 0xbeef, GS_UDP_PUSH_ACK, out, sizeof(out), &len), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(out, "\x02\xbe\xef\x01", 4);
    assert_int_equal(gs_udp_encode_ack(1, 0x0102, GS_UDP_PULL_ACK, out, sizeof(out), &len), 0);
    assert_memory_equal(out, "\x01\x01\x02\x04", 4);
    assert_int_equal(gs_udp_encode_ack(2, 1, GS_UDP_PULL_ACK, out, 3, &len), GS_UDP_E_BUF);
    assert_int_equal(gs_udp_encode_ack(2, 1, GS_UDP_PUSH_DATA, out, 8, &len), GS_UDP_E_ARG);
    assert_int_equal(gs_udp_encode_ack(3, 1, GS_UDP_PUSH_ACK, out, 8, &len), GS_UDP_E_ARG);
}

static void test_gs_udp_encode_pull_resp__lora(void **state)
{
    (void)state;
    static const uint8_t phy[13] = {0x60, 0x04, 0x03, 0x02, 0x01, 0x00, 0x00,
                                    0x00, 0x01, 0x42, 0xa5, 0xa5, 0xb6};
    gs_udp_txpk_t t = {.has_tmst = true,
                       .tmst = 3512348611u + 1000000u,
                       .freq_mhz = 868.1,
                       .rfch = 0,
                       .powe = 14,
                       .modu = GS_UDP_MODU_LORA,
                       .sf = 7,
                       .bw_khz = 125,
                       .codr = "4/5",
                       .ipol = true,
                       .data = phy,
                       .data_len = 13};
    uint8_t out[GS_UDP_PULL_RESP_MAX];
    size_t len = 0;
    assert_int_equal(gs_udp_encode_pull_resp(2, 0x4242, &t, out, sizeof(out), &len), 0);
    static const char want[] =
        "\x02\x42\x42\x03{\"txpk\":{\"imme\":false,\"tmst\":3513348611,\"freq\":868.100000,"
        "\"rfch\":0,\"powe\":14,\"modu\":\"LORA\",\"datr\":\"SF7BW125\",\"codr\":\"4/5\","
        "\"ipol\":true,\"size\":13,\"data\":\"YAQDAgEAAAABQqWltg==\"}}";
    assert_int_equal(len, sizeof(want) - 1);
    assert_memory_equal(out, want, len);
    /* decodes back as a PULL_RESP with valid JSON */
    assert_int_equal(gs_udp_decode(out, len, &pkt), GS_UDP_OK);
    assert_int_equal(pkt.ident, GS_UDP_PULL_RESP);
    assert_int_equal(pkt.json_len, len - 4);
    /* exact fit, then one byte short (the NUL of vsnprintf is not part of the datagram) */
    assert_int_equal(gs_udp_encode_pull_resp(2, 0x4242, &t, out, len + 1, &len), 0);
    assert_int_equal(gs_udp_encode_pull_resp(2, 0x4242, &t, out, len, &len), GS_UDP_E_BUF);

    gs_udp_txpk_t c = {.imme = true,
                       .freq_mhz = 869.525,
                       .rfch = 0,
                       .powe = 27,
                       .modu = GS_UDP_MODU_LORA,
                       .sf = 9,
                       .bw_khz = 125,
                       .ipol = true,
                       .has_prea = true,
                       .prea = 8,
                       .ncrc = true,
                       .data = phy,
                       .data_len = 1};
    assert_int_equal(gs_udp_encode_pull_resp(1, 0, &c, out, sizeof(out), &len), 0);
    static const char want_c[] =
        "\x01\x00\x00\x03{\"txpk\":{\"imme\":true,\"freq\":869.525000,\"rfch\":0,\"powe\":27,"
        "\"modu\":\"LORA\",\"datr\":\"SF9BW125\",\"codr\":\"4/5\",\"ipol\":true,\"prea\":8,"
        "\"size\":1,\"ncrc\":true,\"data\":\"YA==\"}}";
    assert_int_equal(len, sizeof(want_c) - 1);
    assert_memory_equal(out, want_c, len);

    gs_udp_txpk_t g = {.has_tmms = true,
                       .tmms = 1048194097528ULL,
                       .freq_mhz = 868.5,
                       .modu = GS_UDP_MODU_LORA,
                       .sf = 12,
                       .bw_khz = 125,
                       .codr = "4/6"};
    assert_int_equal(gs_udp_encode_pull_resp(2, 7, &g, out, sizeof(out), &len), 0);
    static const char want_g[] =
        "\x02\x00\x07\x03{\"txpk\":{\"imme\":false,\"tmms\":1048194097528,\"freq\":868.500000,"
        "\"rfch\":0,\"powe\":0,\"modu\":\"LORA\",\"datr\":\"SF12BW125\",\"codr\":\"4/6\","
        "\"ipol\":false,\"size\":0,\"data\":\"\"}}";
    assert_int_equal(len, sizeof(want_g) - 1);
    assert_memory_equal(out, want_g, len);
}

static void test_gs_udp_encode_pull_resp__fsk_and_errors(void **state)
{
    (void)state;
    uint8_t out[GS_UDP_PULL_RESP_MAX];
    size_t len = 0;
    gs_udp_txpk_t f = {.imme = true,
                       .freq_mhz = 869.1,
                       .rfch = 1,
                       .powe = 10,
                       .modu = GS_UDP_MODU_FSK,
                       .fsk_bitrate = 50000,
                       .fdev = 25000,
                       .has_prea = true,
                       .prea = 5,
                       .data = (const uint8_t *)"TEST",
                       .data_len = 4};
    assert_int_equal(gs_udp_encode_pull_resp(2, 0x0001, &f, out, sizeof(out), &len), 0);
    static const char want[] =
        "\x02\x00\x01\x03{\"txpk\":{\"imme\":true,\"freq\":869.100000,\"rfch\":1,\"powe\":10,"
        "\"modu\":\"FSK\",\"datr\":50000,\"fdev\":25000,\"prea\":5,\"size\":4,"
        "\"data\":\"VEVTVA==\"}}";
    assert_int_equal(len, sizeof(want) - 1);
    assert_memory_equal(out, want, len);

    static uint8_t big[255];
    gs_udp_txpk_t m = f;
    m.data = big;
    m.data_len = 255;
    assert_int_equal(gs_udp_encode_pull_resp(2, 1, &m, out, sizeof(out), &len), 0);
    m.data_len = 256;
    assert_int_equal(gs_udp_encode_pull_resp(2, 1, &m, out, sizeof(out), &len), GS_UDP_E_ARG);
    m = f;
    m.imme = false;
    assert_int_equal(gs_udp_encode_pull_resp(2, 1, &m, out, sizeof(out), &len), GS_UDP_E_ARG);
    m = f;
    m.freq_mhz = 1200;
    assert_int_equal(gs_udp_encode_pull_resp(2, 1, &m, out, sizeof(out), &len), GS_UDP_E_ARG);
    m = f;
    m.fsk_bitrate = 0;
    assert_int_equal(gs_udp_encode_pull_resp(2, 1, &m, out, sizeof(out), &len), GS_UDP_E_ARG);
    m = f;
    m.modu = GS_UDP_MODU_LORA;
    m.sf = 4;
    m.bw_khz = 125;
    assert_int_equal(gs_udp_encode_pull_resp(2, 1, &m, out, sizeof(out), &len), GS_UDP_E_ARG);
    m.sf = 7;
    m.codr = "4/5\"";
    assert_int_equal(gs_udp_encode_pull_resp(2, 1, &m, out, sizeof(out), &len), GS_UDP_E_ARG);
    assert_int_equal(gs_udp_encode_pull_resp(0, 1, &f, out, sizeof(out), &len), GS_UDP_E_ARG);
    assert_int_equal(gs_udp_encode_pull_resp(2, 1, &f, out, 20, &len), GS_UDP_E_BUF);
}

static void test_gs_udp_strerror__names(void **state)
{
    (void)state;
    assert_string_equal(gs_udp_strerror(GS_UDP_E_SHORT), "short");
    assert_string_equal(gs_udp_strerror(GS_UDP_E_VERSION), "bad_version");
    assert_string_equal(gs_udp_strerror(GS_UDP_E_IDENT), "unknown_identifier");
    assert_string_equal(gs_udp_strerror(GS_UDP_E_NO_EUI), "missing_eui");
    assert_string_equal(gs_udp_strerror(GS_UDP_E_JSON_LARGE), "json_too_large");
    assert_string_equal(gs_udp_strerror(GS_UDP_E_JSON), "bad_json");
    assert_string_equal(gs_udp_strerror(GS_UDP_E_TOO_MANY_RXPK), "too_many_rxpk");
    assert_string_equal(gs_udp_strerror(GS_UDP_E_FIELD), "bad_field");
    assert_string_equal(gs_udp_strerror(GS_UDP_E_MISSING), "missing_field");
    assert_string_equal(gs_udp_txack_name((gs_udp_txack_code_t)99), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gs_udp_decode__push_data_rxpk_and_stat_v2),
        cmocka_unit_test(test_gs_udp_decode__push_data_v1_stat_only),
        cmocka_unit_test(test_gs_udp_decode__rsig_and_unknown_keys_skipped),
        cmocka_unit_test(test_gs_udp_decode__pull_data_and_acks),
        cmocka_unit_test(test_gs_udp_decode__tx_ack),
        cmocka_unit_test(test_gs_udp_decode__header_errors),
        cmocka_unit_test(test_gs_udp_decode__json_errors),
        cmocka_unit_test(test_gs_udp_decode__too_many_rxpk),
        cmocka_unit_test(test_gs_udp_decode__field_errors),
        cmocka_unit_test(test_gs_udp_encode_ack__bytes),
        cmocka_unit_test(test_gs_udp_encode_pull_resp__lora),
        cmocka_unit_test(test_gs_udp_encode_pull_resp__fsk_and_errors),
        cmocka_unit_test(test_gs_udp_strerror__names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
