/* Unit tests of cluster/hex.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/hex.h"

static void test_lw_hex_encode__lowercase(void **state)
{
    (void)state;
    static const uint8_t in[] = {0x00, 0x0f, 0xa5, 0xff};
    char out[9];
    lw_hex_encode(in, sizeof in, out);
    assert_string_equal(out, "000fa5ff");
    lw_hex_encode(in, 0, out);
    assert_string_equal(out, "");
}

static void test_lw_hex_decode__either_case(void **state)
{
    (void)state;
    uint8_t out[4];
    assert_int_equal(lw_hex_decode("000Fa5fF", out, sizeof out), 4);
    assert_memory_equal(out, ((const uint8_t[]){0x00, 0x0f, 0xa5, 0xff}), 4);
    assert_int_equal(lw_hex_decode("", out, sizeof out), 0);
}

static void test_lw_hex_decode__rejects(void **state)
{
    (void)state;
    uint8_t out[2];
    assert_int_equal(lw_hex_decode("abc", out, sizeof out), -1);    /* odd */
    assert_int_equal(lw_hex_decode("zz", out, sizeof out), -1);     /* not hex */
    assert_int_equal(lw_hex_decode("0g", out, sizeof out), -1);     /* not hex */
    assert_int_equal(lw_hex_decode("001122", out, sizeof out), -1); /* over cap */
}

static void test_lw_hex_digit__values(void **state)
{
    (void)state;
    assert_int_equal(lw_hex_digit('0'), 0);
    assert_int_equal(lw_hex_digit('9'), 9);
    assert_int_equal(lw_hex_digit('a'), 10);
    assert_int_equal(lw_hex_digit('F'), 15);
    assert_int_equal(lw_hex_digit('g'), -1);
    assert_int_equal(lw_hex_digit('%'), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lw_hex_encode__lowercase),
        cmocka_unit_test(test_lw_hex_decode__either_case),
        cmocka_unit_test(test_lw_hex_decode__rejects),
        cmocka_unit_test(test_lw_hex_digit__values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
