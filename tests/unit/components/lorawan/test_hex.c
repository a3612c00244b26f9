/* Tests of components/lorawan/hex.c. */
#include "test_util.h"

static void test_lorawan_hex_decode__errors(void **state)
{
    (void)state;
    uint8_t out[4];
    size_t len = 0;
    char hex[16];
    assert_int_equal(lorawan_hex_decode("0a0B", 4, out, sizeof(out), &len), 0);
    assert_int_equal(len, 2);
    assert_int_equal(out[1], 0x0b);
    assert_int_equal(lorawan_hex_decode("0a0", 3, out, sizeof(out), &len), LORAWAN_E_HEX);
    assert_int_equal(lorawan_hex_decode("0g", 2, out, sizeof(out), &len), LORAWAN_E_HEX);
    assert_int_equal(lorawan_hex_decode("0011223344", 10, out, sizeof(out), &len), LORAWAN_E_BUF);
    assert_int_equal(lorawan_hex_encode(out, 2, hex, sizeof(hex)), 0);
    assert_string_equal(hex, "0a0b");
    assert_int_equal(lorawan_hex_encode(out, 2, hex, 4), LORAWAN_E_BUF);
}

static void test_lorawan_hex_encode__empty(void **state)
{
    (void)state;
    char hex[1] = {'x'};
    assert_int_equal(lorawan_hex_encode(NULL, 0, hex, sizeof(hex)), 0);
    assert_string_equal(hex, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lorawan_hex_decode__errors),
        cmocka_unit_test(test_lorawan_hex_encode__empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
