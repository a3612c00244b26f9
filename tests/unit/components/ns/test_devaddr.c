/* Tests of components/ns/devaddr.c: NetID → DevAddr prefix (Backend Interfaces 1.0 §13),
 * prefix parsing and addresses within a prefix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ns/ns_private.h"

static void test_ns_prefix_from_net_id__types(void **state)
{
    (void)state;
    ns_prefix_t p;
    /* TTN's NetID 000013: type 0, NwkID 0x13 → 26000000/7. */
    assert_int_equal(ns_prefix_from_net_id(0x000013, &p), 0);
    assert_int_equal(p.addr, 0x26000000u);
    assert_int_equal(p.len, 7);
    /* Type 3 (NetID 60002D): prefix 1110 + 11-bit NwkID 0x02D → 15 bits. */
    assert_int_equal(ns_prefix_from_net_id(0x60002d, &p), 0);
    assert_int_equal(p.len, 15);
    assert_int_equal(p.addr, 0xe05a0000u);
    /* Type 6 (NetID C00053): 1111110 + 15-bit NwkID → 22 bits. */
    assert_int_equal(ns_prefix_from_net_id(0xc00053, &p), 0);
    assert_int_equal(p.len, 22);
    assert_int_equal(p.addr, 0xfc014c00u);
    assert_int_equal(ns_prefix_from_net_id(0x1000000, &p), -1);
}

static void test_ns_prefix_parse__forms(void **state)
{
    (void)state;
    ns_prefix_t p;
    assert_int_equal(ns_prefix_parse("26000000/7", &p), 0);
    assert_int_equal(p.addr, 0x26000000u);
    assert_int_equal(p.len, 7);
    assert_int_equal(ns_prefix_parse("260bFFFF/16", &p), 0);
    assert_int_equal(p.addr, 0x260b0000u); /* bits beyond the length are dropped */
    assert_int_equal(ns_prefix_parse("2600000/7", &p), -1);
    assert_int_equal(ns_prefix_parse("26000000/0", &p), -1);
    assert_int_equal(ns_prefix_parse("26000000/33", &p), -1);
    assert_int_equal(ns_prefix_parse("2600000g/7", &p), -1);
    assert_int_equal(ns_prefix_parse("26000000-7", &p), -1);
}

static void test_ns_prefix_addr__within(void **state)
{
    (void)state;
    ns_prefix_t p = {.addr = 0x26000000u, .len = 7};
    assert_int_equal(ns_prefix_addr(&p, 0xffffffffu), 0x27ffffffu);
    assert_true(ns_prefix_match(&p, 0x27ffffffu));
    assert_false(ns_prefix_match(&p, 0x28000000u));
    assert_int_equal(ns_prefix_size(&p), 1u << 25);
    ns_prefix_t q = {.addr = 0x26011200u, .len = 24};
    assert_int_equal(ns_prefix_addr(&q, 0x1234u), 0x26011234u);
    assert_int_equal(ns_prefix_size(&q), 256);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ns_prefix_from_net_id__types),
        cmocka_unit_test(test_ns_prefix_parse__forms),
        cmocka_unit_test(test_ns_prefix_addr__within),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
