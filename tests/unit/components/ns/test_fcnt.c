/* Tests of components/ns/fcnt.c: the 32-bit counter candidates the matcher checks and the
 * counter rule of the device worker (16/32-bit, replay, rollover, resets_f_cnt). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ns/ns_private.h"

static void test_ns_fcnt_candidates__first_uplink(void **state)
{
    (void)state;
    uint32_t f[3];
    assert_int_equal(ns_fcnt_candidates(false, 0, 7, true, false, f), 1);
    assert_int_equal(f[0], 7);
}

static void test_ns_fcnt_candidates__next_and_replay(void **state)
{
    (void)state;
    uint32_t f[3];
    /* last 0x10005: wire 0x0006 → next 0x10006; wire 0x0003 → 0x20003 first (the next one
     * with those low bits), then the replay value 0x10003. */
    assert_int_equal(ns_fcnt_candidates(true, 0x10005, 6, true, false, f), 1);
    assert_int_equal(f[0], 0x10006);
    assert_int_equal(ns_fcnt_candidates(true, 0x10005, 3, true, false, f), 2);
    assert_int_equal(f[0], 0x20003);
    assert_int_equal(f[1], 0x10003);
}

static void test_ns_fcnt_candidates__rollover_32bit(void **state)
{
    (void)state;
    uint32_t f[3];
    /* The rollover first; a replay of counter 0 is the other value worth a MIC check. */
    assert_int_equal(ns_fcnt_candidates(true, 0xffff, 0, true, false, f), 2);
    assert_int_equal(f[0], 0x10000);
    assert_int_equal(f[1], 0);
}

static void test_ns_fcnt_candidates__resets_and_16bit(void **state)
{
    (void)state;
    uint32_t f[3];
    assert_int_equal(ns_fcnt_candidates(true, 0x20010, 1, true, true, f), 3);
    assert_int_equal(f[0], 0x30001);
    assert_int_equal(f[1], 0x20001);
    assert_int_equal(f[2], 1);
    assert_int_equal(ns_fcnt_candidates(true, 0xfff0, 2, false, false, f), 1);
    assert_int_equal(f[0], 2);
}

static void test_ns_fcnt_check__rules(void **state)
{
    (void)state;
    assert_int_equal(ns_fcnt_check(false, 0, 0, true, false), NS_FCNT_OK);
    assert_int_equal(ns_fcnt_check(true, 5, 6, true, false), NS_FCNT_OK);
    assert_int_equal(ns_fcnt_check(true, 5, 5, true, false), NS_FCNT_REPLAY);
    assert_int_equal(ns_fcnt_check(true, 5, 4, true, false), NS_FCNT_REPLAY);
    assert_int_equal(ns_fcnt_check(true, 5, 4, true, true), NS_FCNT_RESET);
    assert_int_equal(ns_fcnt_check(true, 5, 5, true, true), NS_FCNT_REPLAY);
    assert_int_equal(ns_fcnt_check(true, 0xffff, 0x10000, true, false), NS_FCNT_OK);
}

static void test_ns_fcnt_check__16bit_wraps(void **state)
{
    (void)state;
    assert_int_equal(ns_fcnt_check(true, 0xfffe, 1, false, false), NS_FCNT_OK);
    assert_int_equal(ns_fcnt_check(true, 10, 10, false, false), NS_FCNT_REPLAY);
    assert_int_equal(ns_fcnt_check(true, 10, 9, false, false), NS_FCNT_REPLAY);
    assert_int_equal(ns_fcnt_check(true, 10, 10 + 16384, false, false), NS_FCNT_OK);
    assert_int_equal(ns_fcnt_check(true, 10, 10 + 16385, false, false), NS_FCNT_REPLAY);
    assert_int_equal(ns_fcnt_check(true, 10, 9, false, true), NS_FCNT_RESET);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ns_fcnt_candidates__first_uplink),
        cmocka_unit_test(test_ns_fcnt_candidates__next_and_replay),
        cmocka_unit_test(test_ns_fcnt_candidates__rollover_32bit),
        cmocka_unit_test(test_ns_fcnt_candidates__resets_and_16bit),
        cmocka_unit_test(test_ns_fcnt_check__rules),
        cmocka_unit_test(test_ns_fcnt_check__16bit_wraps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
