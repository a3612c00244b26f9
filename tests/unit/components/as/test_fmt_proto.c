/* The formatter pool's framed protocol and the scripts' inputs (components/as/fmt_proto.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "as/fmt_private.h"

static void test_fmt_request__exact_bytes_and_back(void **state)
{
    (void)state;
    fmt_request_t r = {.id = 0x0102030405060708ull,
                       .op = FMT_OP_ENCODE_DOWNLINK,
                       .timeout_ms = 100,
                       .script = "f()",
                       .script_len = 3,
                       .input = "{}",
                       .input_len = 2};
    memset(r.hash, 0xab, sizeof r.hash);
    uint8_t buf[128];
    int n = fmt_request_encode(&r, buf, sizeof buf);
    assert_int_equal(n, 4 + FMT_REQUEST_FIXED + 5);
    const uint8_t head[] = {
        (uint8_t)(FMT_REQUEST_FIXED + 5), 0, 0, 0, 1, 8, 7, 6, 5, 4, 3, 2, 1, 2, 100, 0, 0, 0};
    assert_memory_equal(buf, head, sizeof head);
    assert_memory_equal(buf + 4 + 14 + 32,
                        "\x03\x00\x00\x00"
                        "f()"
                        "\x02\x00\x00\x00"
                        "{}",
                        13);
    const uint8_t *p;
    size_t plen, flen;
    assert_int_equal(fmt_frame_next(buf, (size_t)n - 1, &p, &plen, &flen), FMT_E_SHORT);
    assert_int_equal(fmt_frame_next(buf, (size_t)n, &p, &plen, &flen), 0);
    assert_int_equal(flen, (size_t)n);
    fmt_request_t d;
    assert_int_equal(fmt_request_decode(p, plen, &d), 0);
    assert_true(d.id == r.id && d.op == r.op && d.timeout_ms == 100);
    assert_int_equal(d.script_len, 3);
    assert_memory_equal(d.script, "f()", 3);
    assert_int_equal(d.input_len, 2);
    assert_memory_equal(d.hash, r.hash, 32);
    assert_int_equal(fmt_request_encode(&r, buf, (size_t)n - 1), FMT_E_TOO_BIG);
}

static void test_fmt_request_decode__bad_lengths(void **state)
{
    (void)state;
    fmt_request_t r = {.id = 1, .op = FMT_OP_DECODE_UPLINK, .input = "{}", .input_len = 2};
    uint8_t buf[128];
    int n = fmt_request_encode(&r, buf, sizeof buf);
    fmt_request_t d;
    /* script length beyond the frame */
    buf[4 + 14 + 32] = 0x7f;
    assert_int_equal(fmt_request_decode(buf + 4, (size_t)n - 4, &d), FMT_E_LENGTH);
    buf[4 + 14 + 32] = 0;
    /* script length beyond FMT_SCRIPT_MAX */
    buf[4 + 14 + 32 + 3] = 0x10;
    assert_int_equal(fmt_request_decode(buf + 4, (size_t)n - 4, &d), FMT_E_TOO_BIG);
    buf[4 + 14 + 32 + 3] = 0;
    /* input shorter than announced */
    assert_int_equal(fmt_request_decode(buf + 4, (size_t)n - 5, &d), FMT_E_LENGTH);
    buf[4 + 9] = 9;
    assert_int_equal(fmt_request_decode(buf + 4, (size_t)n - 4, &d), FMT_E_OP);
    buf[4] = 2;
    assert_int_equal(fmt_request_decode(buf + 4, (size_t)n - 4, &d), FMT_E_KIND);
    assert_int_equal(fmt_request_decode(buf + 4, 10, &d), FMT_E_SHORT);
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0x7f, 1};
    const uint8_t *p;
    size_t plen, flen;
    assert_int_equal(fmt_frame_next(huge, sizeof huge, &p, &plen, &flen), FMT_E_TOO_BIG);
}

static void test_fmt_response__exact_bytes_and_back(void **state)
{
    (void)state;
    fmt_response_t r = {
        .id = 7, .status = FMT_ST_TIMEOUT, .run_us = 0x01020304, .body = "x", .body_len = 1};
    uint8_t buf[32];
    int n = fmt_response_encode(&r, buf, sizeof buf);
    const uint8_t want[] = {19, 0, 0, 0, 2, 7, 0, 0, 0, 0, 0, 0, 0, 2, 4, 3, 2, 1, 1, 0, 0, 0, 'x'};
    assert_int_equal(n, sizeof want);
    assert_memory_equal(buf, want, sizeof want);
    fmt_response_t d;
    assert_int_equal(fmt_response_decode(buf + 4, (size_t)n - 4, &d), 0);
    assert_true(d.id == 7 && d.status == FMT_ST_TIMEOUT && d.body_len == 1 && d.body[0] == 'x');
    assert_int_equal(d.run_us, 0x01020304);
    buf[13] = FMT_STATUS_MAX + 1;
    assert_int_equal(fmt_response_decode(buf + 4, (size_t)n - 4, &d), FMT_E_STATUS);
}

static void test_fmt_input__json_text(void **state)
{
    (void)state;
    char buf[128];
    const uint8_t b[] = {1, 255, 0};
    assert_int_equal(
        fmt_input_uplink(b, 3, 2, "2026-12-01T17:00:00.123Z", buf, sizeof buf),
        (int)strlen("{\"bytes\":[1,255,0],\"fPort\":2,\"recvTime\":\"2026-12-01T17:00:00.123Z\"}"));
    assert_string_equal(
        buf, "{\"bytes\":[1,255,0],\"fPort\":2,\"recvTime\":\"2026-12-01T17:00:00.123Z\"}");
    /* a time that would need escaping is left out */
    fmt_input_uplink(b, 0, 1, "2026\"}", buf, sizeof buf);
    assert_string_equal(buf, "{\"bytes\":[],\"fPort\":1}");
    fmt_input_downlink_decode(b, 1, 3, buf, sizeof buf);
    assert_string_equal(buf, "{\"bytes\":[1],\"fPort\":3}");
    fmt_input_downlink_encode("{\"a\":1}", 7, 0, buf, sizeof buf);
    assert_string_equal(buf, "{\"data\":{\"a\":1},\"fPort\":0}");
    assert_int_equal(fmt_input_uplink(b, 3, 2, NULL, buf, 10), FMT_E_TOO_BIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fmt_request__exact_bytes_and_back),
        cmocka_unit_test(test_fmt_request_decode__bad_lengths),
        cmocka_unit_test(test_fmt_response__exact_bytes_and_back),
        cmocka_unit_test(test_fmt_input__json_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
