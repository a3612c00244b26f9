/* Tests of components/lorawan/errors.c: stable error names and messages. */
#include "test_util.h"

static void test_lorawan_strerror__names(void **state)
{
    (void)state;
    assert_string_equal(lorawan_strerror(0), "ok");
    assert_string_equal(lorawan_strerror(LORAWAN_E_PARAM), "param");
    assert_string_equal(lorawan_strerror(LORAWAN_E_MAC_SHORT), "mac_truncated");
    assert_string_equal(lorawan_strerror(LORAWAN_E_DR), "data_rate");
    assert_string_equal(lorawan_strerror(-1000), "unknown");
}

static void test_lorawan_error_message__sentences(void **state)
{
    (void)state;
    assert_string_equal(lorawan_error_message(0), "success");
    assert_string_equal(lorawan_error_message(LORAWAN_E_SHORT),
                        "frame shorter than its type requires");
    assert_string_equal(lorawan_error_message(-1000), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lorawan_strerror__names),
        cmocka_unit_test(test_lorawan_error_message__sentences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
