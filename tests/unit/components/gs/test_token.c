/* Tests of components/gs/token.c: the uplink token the GS hands the NS in
 * RxMetadata.uplink_token and reads back from GsDown.uplink_token. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gs/core_private.h"

static const gs_token_t TOKEN = {.eui = 0x58a0cbfffe800001ULL,
                                 .antenna_index = 1,
                                 .timestamp = 0xd1234567u,
                                 .received_ns = 1764590400123456789LL,
                                 .fe = {.xtime = 0x0a00000012345678LL, .rctx = -2}};

static const uint8_t TOKEN_BYTES[GS_TOKEN_LEN] = {
    0x01,                                           /* version */
    0x58, 0xa0, 0xcb, 0xff, 0xfe, 0x80, 0x00, 0x01, /* EUI */
    0x00, 0x00, 0x00, 0x01,                         /* antenna */
    0xd1, 0x23, 0x45, 0x67,                         /* timestamp */
    0x18, 0x7d, 0x15, 0x9e, 0xa5, 0x6c, 0x4d, 0x15, /* received_at ns */
    0x0a, 0x00, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78, /* xtime */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, /* rctx */
};

static void test_gs_token_encode__exact_bytes(void **state)
{
    (void)state;
    uint8_t out[GS_TOKEN_LEN];
    gs_token_encode(&TOKEN, out);
    assert_memory_equal(out, TOKEN_BYTES, GS_TOKEN_LEN);
}

static void test_gs_token_decode__round_trip(void **state)
{
    (void)state;
    gs_token_t t;
    assert_int_equal(gs_token_decode(TOKEN_BYTES, GS_TOKEN_LEN, &t), 0);
    assert_true(t.eui == TOKEN.eui);
    assert_int_equal(t.antenna_index, 1);
    assert_int_equal(t.timestamp, 0xd1234567u);
    assert_true(t.received_ns == TOKEN.received_ns);
    assert_true(t.fe.xtime == TOKEN.fe.xtime);
    assert_true(t.fe.rctx == -2);
}

static void test_gs_token_decode__refuses_other_lengths_and_versions(void **state)
{
    (void)state;
    gs_token_t t;
    uint8_t b[GS_TOKEN_LEN + 1];
    memcpy(b, TOKEN_BYTES, GS_TOKEN_LEN);
    assert_int_equal(gs_token_decode(b, GS_TOKEN_LEN - 1, &t), -1);
    b[GS_TOKEN_LEN] = 0;
    assert_int_equal(gs_token_decode(b, GS_TOKEN_LEN + 1, &t), -1);
    assert_int_equal(gs_token_decode(NULL, 0, &t), -1);
    b[0] = 2;
    assert_int_equal(gs_token_decode(b, GS_TOKEN_LEN, &t), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gs_token_encode__exact_bytes),
        cmocka_unit_test(test_gs_token_decode__round_trip),
        cmocka_unit_test(test_gs_token_decode__refuses_other_lengths_and_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
