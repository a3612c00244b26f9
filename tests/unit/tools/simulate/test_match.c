/* tools/simulate match.c and stats.c: the uplink table, receive windows, latency figures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim_private.h"

#define CAP 64u

static void test_sim_match__put_get_del_with_collisions(void **state)
{
    (void)state;
    uint32_t keys[CAP], vals[CAP];
    sim_match_t m;
    sim_match_init(&m, keys, vals, CAP);
    /* 48 keys fill the table to 3/4; a 49th is refused. */
    for (uint32_t i = 1; i <= 48; i++)
        assert_int_equal(sim_match_put(&m, i * 1000000u, i), 0);
    assert_int_equal(sim_match_put(&m, 49 * 1000000u, 49), -1);
    assert_int_equal(sim_match_put(&m, 0, 1), -1);
    /* Delete every other one; the rest stay reachable whatever the probe chains were. */
    for (uint32_t i = 1; i <= 48; i += 2)
        assert_true(sim_match_del(&m, i * 1000000u));
    assert_false(sim_match_del(&m, 1000000u));
    assert_int_equal(m.n, 24);
    for (uint32_t i = 1; i <= 48; i++) {
        uint32_t v = 0;
        bool found = sim_match_get(&m, i * 1000000u, &v);
        assert_int_equal(found, i % 2 == 0);
        if (found)
            assert_int_equal(v, i);
    }
    assert_int_equal(sim_match_put(&m, 2000000u, 99), 0); /* replaces */
    uint32_t v = 0;
    assert_true(sim_match_get(&m, 2000000u, &v));
    assert_int_equal(v, 99);
    assert_int_equal(m.n, 24);
}

static void test_sim_window_classify__exact(void **state)
{
    (void)state;
    assert_int_equal(sim_window_classify(true, 1, 5000000), SIM_WIN_RX1);
    assert_int_equal(sim_window_classify(true, 1, 6000000), SIM_WIN_RX2);
    assert_int_equal(sim_window_classify(true, 1, 1000000), SIM_WIN_NONE);
    assert_int_equal(sim_window_classify(false, 1, 1000000), SIM_WIN_RX1);
    assert_int_equal(sim_window_classify(false, 1, 2000000), SIM_WIN_RX2);
    assert_int_equal(sim_window_classify(false, 5, 6000000), SIM_WIN_RX2);
    assert_int_equal(sim_window_classify(false, 0, 1000000), SIM_WIN_RX1);
    assert_int_equal(sim_window_classify(false, 1, 1000001), SIM_WIN_NONE);
    assert_string_equal(sim_window_name(SIM_WIN_RX2), "rx2");
}

static void test_sim_lat__percentiles(void **state)
{
    (void)state;
    sim_lat_t l;
    memset(&l, 0, sizeof l);
    assert_int_equal(sim_lat_pct(&l, 50), 0);
    json_t *j = sim_lat_json(&l);
    assert_true(json_is_null(j));
    json_decref(j);
    for (int64_t i = 100; i >= 1; i--)
        sim_lat_add(&l, i * 10);
    assert_int_equal(sim_lat_pct(&l, 50), 500);
    assert_int_equal(sim_lat_pct(&l, 99), 990);
    assert_int_equal(sim_lat_pct(&l, 100), 1000);
    assert_int_equal(sim_lat_pct(&l, 0), 10);
    sim_lat_add(&l, -5);
    assert_int_equal(l.min, -5);
    j = sim_lat_json(&l);
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 101);
    assert_int_equal(json_integer_value(json_object_get(j, "max")), 1000);
    assert_int_equal(json_integer_value(json_object_get(j, "p50")), 500);
    json_decref(j);
    sim_lat_free(&l);
}

static void test_sim_radio__eu868_and_us915_fsb2(void **state)
{
    (void)state;
    sim_radio_t r;
    assert_int_equal(sim_radio_init(&r, "EU_863_870_TTN", LORAWAN_RP001_1_0_3_A), 0);
    assert_int_equal(r.n_channels, 3);
    assert_int_equal(r.channels[0].freq_hz, 868100000);
    assert_int_equal(r.channels[2].freq_hz, 868500000);
    assert_int_equal(r.rx2.freq_hz, 869525000);
    assert_int_equal(r.rx2.dr, 3);
    assert_int_equal(r.rx2_band.freq_hz, 869525000);
    assert_int_equal(r.rx2_band.dr, 0);
    assert_int_equal(sim_radio_default_dr(&r), 5);
    uint32_t f = 0;
    uint8_t dr = 0;
    assert_int_equal(sim_radio_rx1(&r, &r.channels[1], 5, 1, &f, &dr), 0);
    assert_int_equal(f, 868300000);
    assert_int_equal(dr, 4);

    assert_int_equal(sim_radio_init(&r, "US_902_928_FSB_2", LORAWAN_RP001_1_0_3_A), 0);
    assert_int_equal(r.n_channels, 8);
    assert_int_equal(r.channels[0].index, 8);
    assert_int_equal(r.channels[0].freq_hz, 903900000);
    assert_int_equal(r.channels[7].freq_hz, 905300000);
    assert_int_equal(sim_radio_default_dr(&r), 3);
    uint8_t sf = 0;
    uint16_t bw = 0;
    assert_int_equal(sim_radio_dr_lora(&r, 3, true, &sf, &bw), 0);
    assert_int_equal(sf, 7);
    assert_int_equal(bw, 125);
    /* Uplink channel 9 → RX1 channel 1 (923.9 MHz), DR3 → DR13 (SF7 500 kHz). */
    assert_int_equal(sim_radio_rx1(&r, &r.channels[1], 3, 0, &f, &dr), 0);
    assert_int_equal(f, 923900000);
    assert_int_equal(dr, 13);
    assert_int_equal(sim_radio_dr_index(&r, 7, 500, false, &dr), 0);
    assert_int_equal(dr, 13);
    assert_int_equal(r.rx2.freq_hz, 923300000);
    assert_int_equal(r.rx2.dr, 8);
    assert_int_equal(sim_radio_init(&r, "NOWHERE", LORAWAN_RP001_1_0_3_A), LORAWAN_E_PARAM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_match__put_get_del_with_collisions),
        cmocka_unit_test(test_sim_window_classify__exact),
        cmocka_unit_test(test_sim_lat__percentiles),
        cmocka_unit_test(test_sim_radio__eu868_and_us915_fsb2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
