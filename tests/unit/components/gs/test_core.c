/* Tests of the Gateway Server core's pure helpers: gateway time texts (rxpk and stat "time"),
 * the protobuf JSON of durations (round_trip_times in the connection stats) and the wait for
 * a transmission's acknowledgement. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gs/core_private.h"

static void test_gs_time_parse__rxpk_rfc3339_with_microseconds(void **state)
{
    (void)state;
    int64_t ns = 0;
    assert_int_equal(gs_time_parse("2013-03-31T16:21:17.528002Z", &ns), 0);
    assert_true(ns == 1364746877528002000LL);
}

static void test_gs_time_parse__stat_gmt_and_whole_seconds(void **state)
{
    (void)state;
    int64_t ns = 0;
    assert_int_equal(gs_time_parse("2014-01-12 08:59:28 GMT", &ns), 0);
    assert_true(ns == 1389517168000000000LL);
    assert_int_equal(gs_time_parse("2014-01-12T08:59:28Z", &ns), 0);
    assert_true(ns == 1389517168000000000LL);
    assert_int_equal(gs_time_parse("2014-01-12T08:59:28.123456789123Z", &ns), 0);
    assert_true(ns == 1389517168123456789LL); /* digits past ns are dropped */
}

static void test_gs_time_parse__refuses_other_text(void **state)
{
    (void)state;
    int64_t ns = 7;
    assert_int_equal(gs_time_parse("", &ns), -1);
    assert_int_equal(gs_time_parse("2014-01-12T08:59:28", &ns), -1);       /* no zone */
    assert_int_equal(gs_time_parse("2014-01-12T08:59:28+01:00", &ns), -1); /* not UTC */
    assert_int_equal(gs_time_parse("2014-13-12T08:59:28Z", &ns), -1);
    assert_int_equal(gs_time_parse("2014-01-12T08:59:28.Z", &ns), -1);
    assert_int_equal(gs_time_parse("1388", &ns), -1);
    assert_true(ns == 7);
}

static void test_gs_duration_format__protobuf_json(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(gs_duration_format(0, b), "0s");
    assert_string_equal(gs_duration_format(2000000000, b), "2s");
    assert_string_equal(gs_duration_format(12000000, b), "0.012s");
    assert_string_equal(gs_duration_format(1500000000, b), "1.500s");
    assert_string_equal(gs_duration_format(12345000, b), "0.012345s");
    assert_string_equal(gs_duration_format(12345678, b), "0.012345678s");
}

/* The TX acknowledgement wait runs from the transmission's start when that is later than the
 * handover: an RX2 join-accept to a Basics Station (dntxed at TX start, 6 s after the uplink)
 * handed over 0.3 s after the uplink is waited for 5.7 s + the timeout, not the timeout alone
 * (found by e2e_test_bs_station: it was answered tx_ack_timeout, then its dntxed dropped). */
static void test_gs_tx_ack_wait_ms__from_the_later_of_handover_and_start(void **state)
{
    (void)state;
    assert_int_equal(gs_tx_ack_wait_ms(5000, 6000000, 300000), 10700);
    assert_int_equal(gs_tx_ack_wait_ms(5000, 1000001, 0), 6001); /* rounded up */
    assert_int_equal(gs_tx_ack_wait_ms(5000, 1000, 1000), 5000); /* starts now */
    assert_int_equal(gs_tx_ack_wait_ms(5000, 0, 7000000), 5000); /* Semtech imme / past */
    assert_int_equal(gs_tx_ack_wait_ms(100, -5, -10), 101);      /* negative gateway times */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gs_time_parse__rxpk_rfc3339_with_microseconds),
        cmocka_unit_test(test_gs_time_parse__stat_gmt_and_whole_seconds),
        cmocka_unit_test(test_gs_time_parse__refuses_other_text),
        cmocka_unit_test(test_gs_duration_format__protobuf_json),
        cmocka_unit_test(test_gs_tx_ack_wait_ms__from_the_later_of_handover_and_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
