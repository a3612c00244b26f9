/* Frequency plans against the YAML files of TheThingsNetwork/lorawan-frequency-plans
 * (EU_863_870.yml, US_902_928_FSB_2.yml, AU_915_928_FSB_2.yml, AS_920_923.yml +
 * lbt_80_over_128.yml, frequency-plans.yml). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lorawan/lorawan.h"

static const lorawan_freqplan_t *plan(const char *id)
{
    const lorawan_freqplan_t *fp = lorawan_freqplan_find(id);
    if (fp == NULL)
        fail_msg("plan %s not found", id);
    return fp;
}

static void assert_channels(const lorawan_fp_channel_t *got, size_t n_got, const uint32_t *hz,
                            size_t n, uint8_t min_dr, uint8_t max_dr)
{
    assert_int_equal(n_got, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(got[i].freq_hz, hz[i]);
        assert_int_equal(got[i].min_dr, min_dr);
        assert_int_equal(got[i].max_dr, max_dr);
    }
}

static void test_freqplan__eu_863_870_ttn(void **state)
{
    (void)state;
    static const uint32_t ch[] = {868100000, 868300000, 868500000, 867100000,
                                  867300000, 867500000, 867700000, 867900000};
    const lorawan_freqplan_t *fp = plan("EU_863_870_TTN");
    assert_int_equal(fp->band, LORAWAN_BAND_EU868);
    assert_channels(fp->uplink, fp->n_uplink, ch, 8, 0, 5);
    assert_channels(fp->downlink, fp->n_downlink, ch, 8, 0, 5);
    assert_int_equal(fp->lora_std.freq_hz, 868300000);
    assert_int_equal(fp->lora_std.dr, 6);
    assert_int_equal(fp->fsk.freq_hz, 868800000);
    assert_int_equal(fp->fsk.dr, 7);
    /* SF9 for RX2 (rx2_default_data_rate_3 modifier). */
    assert_int_equal(fp->rx2.freq_hz, 869525000);
    assert_int_equal(fp->rx2.dr, 3);
    assert_false(fp->has_lbt);
    /* Sub-bands fall back to the band's ETSI table. */
    const lorawan_sub_band_t *sb;
    assert_int_equal(lorawan_freqplan_sub_bands(fp, &sb), 6);
    assert_int_equal(sb[4].duty_cycle_ppm, 100000);
    /* The plain plan keeps SF12 in RX2. */
    assert_int_equal(plan("EU_863_870")->rx2.dr, 0);
}

static void test_freqplan__us_902_928_fsb_2(void **state)
{
    (void)state;
    static const uint32_t ch[] = {903900000, 904100000, 904300000, 904500000,
                                  904700000, 904900000, 905100000, 905300000};
    static const uint32_t down[] = {923300000, 923900000, 924500000, 925100000,
                                    925700000, 926300000, 926900000, 927500000};
    const lorawan_freqplan_t *fp = plan("US_902_928_FSB_2");
    assert_int_equal(fp->band, LORAWAN_BAND_US915);
    assert_channels(fp->uplink, fp->n_uplink, ch, 8, 0, 3);
    assert_channels(fp->downlink, fp->n_downlink, down, 8, 8, 13);
    assert_int_equal(fp->lora_std.freq_hz, 904600000);
    assert_int_equal(fp->lora_std.dr, 4);
    assert_int_equal(fp->fsk.freq_hz, 0);
    assert_int_equal(fp->rx2.freq_hz, 923300000);
    assert_int_equal(fp->rx2.dr, 8);
    assert_true(fp->uplink_dwell_time);
    assert_false(fp->downlink_dwell_time);
    /* FSB n starts at channel 8 (n - 1): 902.3 + 1.6 (n - 1) MHz. */
    for (int n = 1; n <= 8; n++) {
        char id[32];
        snprintf(id, sizeof(id), "US_902_928_FSB_%d", n);
        const lorawan_freqplan_t *p = plan(id);
        assert_int_equal(p->uplink[0].freq_hz, 902300000u + 1600000u * (unsigned)(n - 1));
        assert_int_equal(p->uplink[7].freq_hz, 903700000u + 1600000u * (unsigned)(n - 1));
        assert_int_equal(p->lora_std.freq_hz, 903000000u + 1600000u * (unsigned)(n - 1));
        /* Each FSB is a ChMask block: uplink channel k of FSB n is band channel 8 (n-1) + k. */
        lorawan_channel_t c;
        assert_int_equal(lorawan_band_uplink_channel(lorawan_band_get(LORAWAN_BAND_US915),
                                                     LORAWAN_RP002_1_0_3,
                                                     8u * (unsigned)(n - 1) + 3, &c),
                         0);
        assert_int_equal(c.freq_hz, p->uplink[3].freq_hz);
    }
    assert_int_equal(plan("US_902_928_FSB_1")->uplink[0].freq_hz, 902300000);
    assert_int_equal(plan("US_902_928_FSB_3")->uplink[0].freq_hz, 905500000);
    assert_int_equal(plan("US_902_928_FSB_3")->lora_std.freq_hz, 906200000);
}

static void test_freqplan__au_915_928_fsb_2(void **state)
{
    (void)state;
    static const uint32_t ch[] = {916800000, 917000000, 917200000, 917400000,
                                  917600000, 917800000, 918000000, 918200000};
    static const uint32_t down[] = {923300000, 923900000, 924500000, 925100000,
                                    925700000, 926300000, 926900000, 927500000};
    const lorawan_freqplan_t *fp = plan("AU_915_928_FSB_2");
    assert_int_equal(fp->band, LORAWAN_BAND_AU915);
    assert_channels(fp->uplink, fp->n_uplink, ch, 8, 0, 5);
    assert_channels(fp->downlink, fp->n_downlink, down, 8, 8, 13);
    assert_int_equal(fp->lora_std.freq_hz, 917500000);
    assert_int_equal(fp->lora_std.dr, 6);
    assert_int_equal(fp->rx2.freq_hz, 923300000);
    assert_int_equal(fp->rx2.dr, 8);
    for (int n = 1; n <= 8; n++) {
        char id[32];
        snprintf(id, sizeof(id), "AU_915_928_FSB_%d", n);
        assert_int_equal(plan(id)->uplink[0].freq_hz, 915200000u + 1600000u * (unsigned)(n - 1));
    }
}

static void test_freqplan__as_920_923_lbt(void **state)
{
    (void)state;
    static const uint32_t ch[] = {923200000, 923400000, 922200000, 922400000,
                                  922600000, 922800000, 923000000, 922000000};
    const lorawan_freqplan_t *fp = plan("AS_920_923_LBT");
    assert_int_equal(fp->band, LORAWAN_BAND_AS923_1);
    assert_channels(fp->uplink, fp->n_uplink, ch, 8, 0, 5);
    assert_channels(fp->downlink, fp->n_downlink, ch, 8, 0, 5);
    assert_int_equal(fp->lora_std.freq_hz, 922100000);
    assert_int_equal(fp->lora_std.dr, 6);
    assert_int_equal(fp->fsk.freq_hz, 921800000);
    assert_int_equal(fp->rx2.freq_hz, 923200000);
    assert_int_equal(fp->rx2.dr, 2);
    /* lbt_80_over_128.yml: RSSI target -80 dBm, offset -4, scan time 128 us. */
    assert_true(fp->has_lbt);
    assert_int_equal(fp->lbt.rssi_target_dbm, -80);
    assert_int_equal(fp->lbt.rssi_offset_db, -4);
    assert_int_equal(fp->lbt.scan_time_us, 128);
    const lorawan_sub_band_t *sb;
    assert_int_equal(lorawan_freqplan_sub_bands(fp, &sb), 1);
    assert_int_equal(sb[0].min_freq_hz, 922000000);
    assert_int_equal(sb[0].max_freq_hz, 923400000);
    /* The plan without LBT has the same channels. */
    assert_false(plan("AS_920_923")->has_lbt);
    assert_ptr_equal(plan("AS_920_923")->uplink, fp->uplink);
}

static void test_freqplan__other_plans(void **state)
{
    (void)state;
    const lorawan_freqplan_t *fp = plan("AS_923_925_TTN_AU");
    assert_int_equal(fp->uplink[7].freq_hz, 924600000);
    assert_int_equal(fp->max_eirp_dbm, 30);
    assert_int_equal(plan("AS_923_925_LBT")->lbt.rssi_target_dbm, -80);
    assert_int_equal(plan("AS_920_923_TTN_AU")->max_eirp_dbm, 30);
    fp = plan("KR_920_923_TTN");
    assert_int_equal(fp->n_uplink, 7);
    assert_true(fp->has_lbt);
    assert_int_equal(fp->uplink[6].freq_hz, 923300000);
    fp = plan("IN_865_867");
    assert_int_equal(fp->n_uplink, 8);
    assert_int_equal(fp->uplink[3].freq_hz, 865232500);
    assert_int_equal(fp->rx2.freq_hz, 866550000);
    fp = plan("CN_470_510_FSB_11");
    assert_int_equal(fp->uplink[0].freq_hz, 486300000);
    assert_int_equal(fp->downlink[7].freq_hz, 508100000);
    fp = plan("EU_433");
    assert_int_equal(fp->uplink[7].freq_hz, 434575000);
    assert_int_equal(fp->lora_std.freq_hz, 434075000);
    assert_int_equal(plan("RU_864_870_TTN")->uplink[0].freq_hz, 868900000);
    assert_int_equal(plan("CN_779_787")->band, LORAWAN_BAND_CN779);
    assert_int_equal(plan("AS_923_3")->uplink[0].freq_hz, 916600000);
    assert_null(lorawan_freqplan_find("EU_863_870_XX"));
    assert_null(lorawan_freqplan_find(NULL));
}

/* Every plan is consistent with its band: channels carry only data rates the band defines
 * in the uplink/downlink direction (RP002-1.0.3), the band names a valid RX2 data rate, and
 * ids are unique. */
static void test_freqplan__consistent_with_band(void **state)
{
    (void)state;
    size_t n = lorawan_freqplan_count();
    assert_int_equal(n, 34);
    assert_null(lorawan_freqplan_at(n));
    for (size_t i = 0; i < n; i++) {
        const lorawan_freqplan_t *fp = lorawan_freqplan_at(i);
        const lorawan_band_t *b = lorawan_band_get(fp->band);
        assert_non_null(b);
        assert_ptr_equal(lorawan_freqplan_find(fp->id), fp);
        assert_true(fp->n_uplink > 0 && fp->n_uplink <= LORAWAN_FP_MAX_UPLINK);
        for (size_t c = 0; c < fp->n_uplink; c++) {
            for (uint8_t dr = fp->uplink[c].min_dr; dr <= fp->uplink[c].max_dr; dr++) {
                lorawan_dr_t d;
                if (lorawan_band_datarate(b, LORAWAN_RP002_1_0_3, dr, false, &d) != 0 || !d.uplink)
                    fail_msg("%s uplink channel %zu: DR%u", fp->id, c, dr);
            }
        }
        for (size_t c = 0; c < fp->n_downlink; c++) {
            lorawan_dr_t d;
            assert_int_equal(
                lorawan_band_datarate(b, LORAWAN_RP002_1_0_3, fp->downlink[c].max_dr, false, &d),
                0);
            assert_true(d.downlink);
        }
        lorawan_dr_t d;
        assert_int_equal(lorawan_band_datarate(b, LORAWAN_RP002_1_0_3, fp->rx2.dr, false, &d), 0);
        assert_true(d.downlink);
        const lorawan_sub_band_t *sb;
        assert_true(lorawan_freqplan_sub_bands(fp, &sb) > 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_freqplan__eu_863_870_ttn),
        cmocka_unit_test(test_freqplan__us_902_928_fsb_2),
        cmocka_unit_test(test_freqplan__au_915_928_fsb_2),
        cmocka_unit_test(test_freqplan__as_920_923_lbt),
        cmocka_unit_test(test_freqplan__other_plans),
        cmocka_unit_test(test_freqplan__consistent_with_band),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
