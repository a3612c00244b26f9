/* tools/simulate semtech.c: the gateway side of the Semtech UDP protocol, byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim_private.h"

static const uint64_t eui = 0x58a0cbfffe800001ull;
static const uint8_t eui_be[8] = {0x58, 0xa0, 0xcb, 0xff, 0xfe, 0x80, 0x00, 0x01};

static void test_sim_udp_pull_data__header(void **state)
{
    (void)state;
    uint8_t b[SIM_UDP_HEADER_LEN];
    sim_udp_pull_data(0x1234, eui, b);
    const uint8_t want[4] = {2, 0x34, 0x12, 2};
    assert_memory_equal(b, want, 4);
    assert_memory_equal(b + 4, eui_be, 8);
}

static void test_sim_udp_push_data__rxpk(void **state)
{
    (void)state;
    const uint8_t phy[] = {0x40, 0xf1, 0x7d, 0xbe, 0x49};
    sim_rxpk_t rx = {.tmst = 4000000000u,
                     .time_unix_ns = 1764586800123456000ll, /* 2025-12-01T11:00:00.123456Z */
                     .chan = 2,
                     .freq_hz = 868500000,
                     .sf = 7,
                     .bw_khz = 125,
                     .rssi = -53,
                     .lsnr = 9.5f,
                     .phy = phy,
                     .len = sizeof phy};
    uint8_t b[512];
    size_t len = 0;
    assert_int_equal(sim_udp_push_data(7, eui, &rx, b, sizeof b, &len), 0);
    const uint8_t hdr[4] = {2, 7, 0, 0};
    assert_memory_equal(b, hdr, 4);
    assert_memory_equal(b + 4, eui_be, 8);
    const char *want = "{\"rxpk\":[{\"tmst\":4000000000,\"time\":\"2025-12-01T11:00:00.123456Z\","
                       "\"chan\":2,\"rfch\":0,\"freq\":868.500000,\"stat\":1,\"modu\":\"LORA\","
                       "\"datr\":\"SF7BW125\",\"codr\":\"4/5\",\"rssi\":-53,\"lsnr\":9.5,"
                       "\"size\":5,\"data\":\"QPF9vkk=\"}]}";
    assert_int_equal(len, 12 + strlen(want));
    assert_memory_equal(b + 12, want, strlen(want));
    assert_int_equal(sim_udp_push_data(7, eui, &rx, b, 40, &len), LORAWAN_E_BUF);
}

static void test_sim_udp_tx_ack__error(void **state)
{
    (void)state;
    uint8_t b[128];
    size_t len = 0;
    assert_int_equal(sim_udp_tx_ack(0xabcd, eui, "TOO_LATE", b, sizeof b, &len), 0);
    const uint8_t hdr[4] = {2, 0xcd, 0xab, 5};
    assert_memory_equal(b, hdr, 4);
    const char *want = "{\"txpk_ack\":{\"error\":\"TOO_LATE\"}}";
    assert_int_equal(len, 12 + strlen(want));
    assert_memory_equal(b + 12, want, strlen(want));
    assert_int_equal(sim_udp_tx_ack(1, eui, NULL, b, sizeof b, &len), 0);
    assert_memory_equal(b + 12, "{\"txpk_ack\":{\"error\":\"NONE\"}}", len - 12);
}

static size_t resp(uint8_t *b, const char *json)
{
    b[0] = 2;
    b[1] = 0x11;
    b[2] = 0x22;
    b[3] = SIM_UDP_PULL_RESP;
    memcpy(b + 4, json, strlen(json));
    return 4 + strlen(json);
}

static void test_sim_udp_parse__pull_resp(void **state)
{
    (void)state;
    uint8_t b[512];
    size_t n = resp(b, "{\"txpk\":{\"imme\":false,\"tmst\":1000000,\"freq\":869.525,\"rfch\":0,"
                       "\"powe\":14,\"modu\":\"LORA\",\"datr\":\"SF9BW125\",\"codr\":\"4/5\","
                       "\"ipol\":true,\"size\":4,\"data\":\"AQIDBA==\"}}");
    sim_udp_msg_t m;
    assert_int_equal(sim_udp_parse(b, n, &m), 0);
    assert_int_equal(m.type, SIM_UDP_PULL_RESP);
    assert_int_equal(m.token, 0x2211);
    assert_false(m.txpk.imme);
    assert_true(m.txpk.has_tmst);
    assert_int_equal(m.txpk.tmst, 1000000);
    assert_int_equal(m.txpk.freq_hz, 869525000);
    assert_int_equal(m.txpk.sf, 9);
    assert_int_equal(m.txpk.bw_khz, 125);
    assert_int_equal(m.txpk.powe, 14);
    assert_true(m.txpk.ipol);
    assert_int_equal(m.txpk.len, 4);
    const uint8_t want[4] = {1, 2, 3, 4};
    assert_memory_equal(m.txpk.phy, want, 4);
}

static void test_sim_udp_parse__refused(void **state)
{
    (void)state;
    uint8_t b[512];
    sim_udp_msg_t m;
    static const char *const bad[] = {
        /* size does not match the data */
        "{\"txpk\":{\"tmst\":1,\"freq\":868.1,\"datr\":\"SF7BW125\",\"size\":5,\"data\":\"AQIDBA=="
        "\"}}",
        /* not a LoRa data rate */
        "{\"txpk\":{\"tmst\":1,\"freq\":868.1,\"datr\":\"SF13BW125\",\"size\":4,\"data\":\"AQIDBA=="
        "\"}}",
        /* neither imme nor tmst */
        "{\"txpk\":{\"freq\":868.1,\"datr\":\"SF7BW125\",\"size\":4,\"data\":\"AQIDBA==\"}}",
        "{\"txpk\":[]}",
        "not json",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sim_udp_parse(b, resp(b, bad[i]), &m), SIM_E_MALFORMED);
    const uint8_t ack[4] = {2, 1, 0, SIM_UDP_PUSH_ACK};
    assert_int_equal(sim_udp_parse(ack, 4, &m), 0);
    assert_int_equal(m.type, SIM_UDP_PUSH_ACK);
    assert_int_equal(sim_udp_parse(ack, 3, &m), SIM_E_MALFORMED);
    const uint8_t other[4] = {2, 1, 0, SIM_UDP_PUSH_DATA};
    assert_int_equal(sim_udp_parse(other, 4, &m), SIM_E_MALFORMED);
    const uint8_t v3[4] = {3, 1, 0, SIM_UDP_PUSH_ACK};
    assert_int_equal(sim_udp_parse(v3, 4, &m), SIM_E_MALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_udp_pull_data__header),
        cmocka_unit_test(test_sim_udp_push_data__rxpk),
        cmocka_unit_test(test_sim_udp_tx_ack__error),
        cmocka_unit_test(test_sim_udp_parse__pull_resp),
        cmocka_unit_test(test_sim_udp_parse__refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
