/* Tests of ns_uplink_deadline_ms (components/ns/uplink.c): the deduplication window counted
 * from the Gateway Server's reception of the first copy, with its floor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ns/ns_private.h"

#define MONO   1000000u      /* ms, any monotonic instant */
#define WALL   1780000000000 /* ms, Unix */
#define NS(ms) ((int64_t)(ms)*1000000)

static void test_ns_uplink_deadline__hops_spent_inside_the_window(void **state)
{
    (void)state;
    /* Received by the GS 30 ms ago: 170 ms of the 200 ms window are left. */
    assert_int_equal(ns_uplink_deadline_ms(MONO, WALL, NS(WALL - 30), 200, 20), MONO + 170);
    /* Just received: the whole window. */
    assert_int_equal(ns_uplink_deadline_ms(MONO, WALL, NS(WALL), 200, 20), MONO + 200);
    /* Sub-millisecond age counts as none. */
    assert_int_equal(ns_uplink_deadline_ms(MONO, WALL, NS(WALL) - 999999, 200, 20), MONO + 200);
}

static void test_ns_uplink_deadline__floor(void **state)
{
    (void)state;
    /* 190 ms old: 10 ms left, but copies get at least 20 ms at the worker. */
    assert_int_equal(ns_uplink_deadline_ms(MONO, WALL, NS(WALL - 190), 200, 20), MONO + 20);
    /* Older than the window (a backlog, a GS clock far behind): the floor. */
    assert_int_equal(ns_uplink_deadline_ms(MONO, WALL, NS(WALL - 5000), 200, 20), MONO + 20);
    /* No floor configured: closes at once. */
    assert_int_equal(ns_uplink_deadline_ms(MONO, WALL, NS(WALL - 5000), 200, 0), MONO);
    /* A floor above the window is capped at the window. */
    assert_int_equal(ns_uplink_deadline_ms(MONO, WALL, NS(WALL - 5000), 50, 80), MONO + 50);
}

static void test_ns_uplink_deadline__clock_ahead_or_unknown(void **state)
{
    (void)state;
    /* A GS clock ahead of this one: the whole window from now, never more. */
    assert_int_equal(ns_uplink_deadline_ms(MONO, WALL, NS(WALL + 3000), 200, 20), MONO + 200);
    /* No reception time: the whole window. */
    assert_int_equal(ns_uplink_deadline_ms(MONO, WALL, 0, 200, 20), MONO + 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ns_uplink_deadline__hops_spent_inside_the_window),
        cmocka_unit_test(test_ns_uplink_deadline__floor),
        cmocka_unit_test(test_ns_uplink_deadline__clock_ahead_or_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
