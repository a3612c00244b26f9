/* CayenneLPP as TTS decodes and encodes it (components/as/cayenne.c), exact bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "as/fmt_private.h"

static void test_cayenne_decode_uplink__every_type(void **state)
{
    (void)state;
    const uint8_t p[] = {
        1,  0,   255,                                /* digital_in_1 255 */
        2,  1,   100,                                /* digital_out_2 100 */
        3,  2,   0x15, 0x4a,                         /* analog_in_3 54.5 */
        4,  3,   0xea, 0xb6,                         /* analog_out_4 -54.5 */
        5,  101, 0xff, 0xff,                         /* luminosity_5 65535 */
        6,  102, 1,                                  /* presence_6 1 */
        7,  103, 0xff, 0x38,                         /* temperature_7 -20.0 */
        8,  104, 0x61,                               /* relative_humidity_8 48.5 */
        9,  113, 0x03, 0xe8, 0xfc, 0x18, 0x00, 0x00, /* accelerometer_9 1, -1, 0 */
        10, 115, 0x27, 0x10,                         /* barometric_pressure_10 1000.0 */
        11, 134, 0x00, 0x64, 0xff, 0x9c, 0x00, 0x01, /* gyrometer_11 1, -1, 0.01 */
        12, 136, 0x06, 0x27, 0x65, 0xff, 0x9e, 0x58, 0x00, 0x03, 0xe8, /* gps_12 */
    };
    cayenne_value_t v[CAYENNE_MAX_VALUES];
    assert_int_equal(cayenne_decode_uplink(p, sizeof p, v, CAYENNE_MAX_VALUES), 12);
    assert_true(v[0].v[0] == 255 && v[1].v[0] == 100);
    assert_true(v[2].v[0] == 54.5 && v[3].v[0] == -54.5);
    assert_true(v[4].v[0] == 65535 && v[5].v[0] == 1);
    assert_true(v[6].v[0] == -20.0 && v[7].v[0] == 48.5);
    assert_int_equal(v[8].n, 3);
    assert_true(v[8].v[0] == 1 && v[8].v[1] == -1 && v[8].v[2] == 0);
    assert_true(v[9].v[0] == 1000.0);
    assert_true(v[10].v[0] == 1 && v[10].v[1] == -1 && v[10].v[2] == 0.01);
    assert_true(v[11].v[0] == 40.3301 && v[11].v[1] == -2.5 && v[11].v[2] == 10);
    char key[40];
    assert_string_equal(cayenne_key(v[7].type, v[7].channel, key, sizeof key),
                        "relative_humidity_8");
    assert_string_equal(cayenne_key(v[9].type, v[9].channel, key, sizeof key),
                        "barometric_pressure_10");
    assert_string_equal(cayenne_key(v[11].type, v[11].channel, key, sizeof key), "gps_12");
}

static void test_cayenne_decode_uplink__barometer_signed_as_tts(void **state)
{
    (void)state;
    /* go-cayenne-lib reads the barometer as int16: 0xffff is -0.1 there, so here */
    const uint8_t p[] = {1, 115, 0xff, 0xff};
    cayenne_value_t v[1];
    assert_int_equal(cayenne_decode_uplink(p, sizeof p, v, 1), 1);
    assert_true(v[0].v[0] == -0.1);
}

static void test_cayenne_decode_uplink__errors(void **state)
{
    (void)state;
    cayenne_value_t v[2];
    const uint8_t short_value[] = {1, 103, 0x01};
    assert_int_equal(cayenne_decode_uplink(short_value, sizeof short_value, v, 2), CAYENNE_E_SHORT);
    const uint8_t lone[] = {1, 0, 1, 2};
    assert_int_equal(cayenne_decode_uplink(lone, sizeof lone, v, 2), CAYENNE_E_SHORT);
    const uint8_t unknown[] = {1, 200, 1};
    assert_int_equal(cayenne_decode_uplink(unknown, sizeof unknown, v, 2), CAYENNE_E_TYPE);
    const uint8_t three[] = {1, 0, 1, 2, 0, 1, 3, 0, 1};
    assert_int_equal(cayenne_decode_uplink(three, sizeof three, v, 2), CAYENNE_E_FULL);
    assert_int_equal(cayenne_decode_uplink(NULL, 0, v, 2), 0);
}

static void test_cayenne_downlink__encode_decode(void **state)
{
    (void)state;
    cayenne_value_t in[3] = {
        {.channel = 1, .n = 1, .v = {1.5}},
        {.channel = 7, .n = 1, .v = {-2}},
        {.channel = 9, .n = 1, .v = {1000}}, /* 100000 does not fit: clamped */
    };
    uint8_t buf[16];
    assert_int_equal(cayenne_encode_downlink(in, 3, buf, sizeof buf), 9);
    const uint8_t want[] = {1, 0x00, 0x96, 7, 0xff, 0x38, 9, 0x7f, 0xff};
    assert_memory_equal(buf, want, sizeof want);
    assert_int_equal(cayenne_encode_downlink(in, 3, buf, 8), CAYENNE_E_FULL);
    cayenne_value_t out[4];
    const uint8_t down[] = {1, 0x00, 0x96, 7, 0xff, 0x38, 0xff, 1, 2};
    assert_int_equal(cayenne_decode_downlink(down, sizeof down, out, 4), 2);
    assert_true(out[0].channel == 1 && out[0].v[0] == 1.5);
    assert_true(out[1].channel == 7 && out[1].v[0] == -2);
}

static void test_cayenne_parse_name__as_tts(void **state)
{
    (void)state;
    size_t k;
    uint8_t ch;
    assert_int_equal(cayenne_parse_name("value_1", &k, &ch), 0);
    assert_int_equal(k, 5);
    assert_int_equal(ch, 1);
    assert_int_equal(cayenne_parse_name("digital_out_255", &k, &ch), 0);
    assert_int_equal(k, 11);
    assert_int_equal(ch, 255);
    assert_int_equal(cayenne_parse_name("value_256", &k, &ch), -1);
    assert_int_equal(cayenne_parse_name("value", &k, &ch), -1);
    assert_int_equal(cayenne_parse_name("_1", &k, &ch), -1);
    assert_int_equal(cayenne_parse_name("value_x", &k, &ch), -1);
    assert_int_equal(cayenne_parse_name("value_", &k, &ch), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cayenne_decode_uplink__every_type),
        cmocka_unit_test(test_cayenne_decode_uplink__barometer_signed_as_tts),
        cmocka_unit_test(test_cayenne_decode_uplink__errors),
        cmocka_unit_test(test_cayenne_downlink__encode_decode),
        cmocka_unit_test(test_cayenne_parse_name__as_tts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
