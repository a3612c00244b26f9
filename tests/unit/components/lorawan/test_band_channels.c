/* RX1 data-rate offsets, RX2, default channels, LinkADRReq channel masks, CFList, TX
 * power, MaxEIRP, beacon and sub-bands, against the Regional Parameters tables (table
 * numbers RP002-1.0.3 unless noted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lorawan/lorawan.h"

#define REV LORAWAN_RP002_1_0_3

static const lorawan_band_t *band(const char *name)
{
    const lorawan_band_t *b = lorawan_band_find(name);
    assert_non_null(b);
    return b;
}

static uint8_t rx1(const char *name, uint8_t dr, uint8_t offset, bool dwell)
{
    uint8_t out = 0xff;
    int rc = lorawan_band_rx1_dr(band(name), REV, dr, offset, dwell, &out);
    if (rc != 0)
        fail_msg("%s DR%u offset %u: rc %d", name, dr, offset, rc);
    return out;
}

/* EU868 Table 12: DR - offset, floor DR0; LR-FHSS DR8/10 answer like DR1, DR9/11 like DR2. */
static void test_band_rx1_dr__eu868(void **state)
{
    (void)state;
    static const uint8_t want[12][6] = {
        {0, 0, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0}, {2, 1, 0, 0, 0, 0}, {3, 2, 1, 0, 0, 0},
        {4, 3, 2, 1, 0, 0}, {5, 4, 3, 2, 1, 0}, {6, 5, 4, 3, 2, 1}, {7, 6, 5, 4, 3, 2},
        {1, 0, 0, 0, 0, 0}, {2, 1, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0}, {2, 1, 0, 0, 0, 0},
    };
    for (uint8_t dr = 0; dr < 12; dr++)
        for (uint8_t off = 0; off < 6; off++)
            assert_int_equal(rx1("EU868", dr, off, false), want[dr][off]);
    uint8_t out;
    assert_int_equal(lorawan_band_rx1_dr(band("EU868"), REV, 0, 6, false, &out), LORAWAN_E_RANGE);
    assert_int_equal(lorawan_band_rx1_dr(band("EU868"), REV, 12, 0, false, &out), LORAWAN_E_DR);
    assert_int_equal(lorawan_band_rx1_dr_offset_max(band("EU868"), REV), 5);
}

/* US915 Table 21: offsets 0..3. */
static void test_band_rx1_dr__us915(void **state)
{
    (void)state;
    static const uint8_t want[7][4] = {
        {10, 9, 8, 8},    {11, 10, 9, 8}, {12, 11, 10, 9}, {13, 12, 11, 10},
        {13, 13, 12, 11}, {10, 9, 8, 8},  {11, 10, 9, 8},
    };
    for (uint8_t dr = 0; dr < 7; dr++)
        for (uint8_t off = 0; off < 4; off++)
            assert_int_equal(rx1("US915", dr, off, false), want[dr][off]);
    uint8_t out;
    assert_int_equal(lorawan_band_rx1_dr(band("US915"), REV, 0, 4, false, &out), LORAWAN_E_RANGE);
    /* DR8 is a downlink rate: not an RX1 input. */
    assert_int_equal(lorawan_band_rx1_dr(band("US915"), REV, 8, 0, false, &out), LORAWAN_E_DR);
    assert_int_equal(lorawan_band_rx1_dr(band("US915"), LORAWAN_RP002_1_0_1, 5, 0, false, &out),
                     LORAWAN_E_DR);
}

/* AU915 Table 45: offsets 0..5. */
static void test_band_rx1_dr__au915(void **state)
{
    (void)state;
    static const uint8_t want[8][6] = {
        {8, 8, 8, 8, 8, 8},      {9, 8, 8, 8, 8, 8},    {10, 9, 8, 8, 8, 8},
        {11, 10, 9, 8, 8, 8},    {12, 11, 10, 9, 8, 8}, {13, 12, 11, 10, 9, 8},
        {13, 13, 12, 11, 10, 9}, {9, 8, 8, 8, 8, 8},
    };
    for (uint8_t dr = 0; dr < 8; dr++)
        for (uint8_t off = 0; off < 6; off++)
            assert_int_equal(rx1("AU915", dr, off, false), want[dr][off]);
    /* RP001-1.0.2 rev A used the US915 table. */
    uint8_t out;
    assert_int_equal(lorawan_band_rx1_dr(band("AU915"), LORAWAN_RP001_1_0_2, 4, 1, false, &out), 0);
    assert_int_equal(out, 13);
    assert_int_equal(lorawan_band_rx1_dr_offset_max(band("AU915"), LORAWAN_RP001_1_0_2), 3);
}

/* AS923 §2.8.7: Effective_RX1DROffset {0,1,2,3,4,5,-1,-2}; min DR2 with downlink dwell
 * time; never above DR5. */
static void test_band_rx1_dr__as923(void **state)
{
    (void)state;
    assert_int_equal(rx1("AS923-1", 5, 0, false), 5);
    assert_int_equal(rx1("AS923-1", 5, 5, false), 0);
    assert_int_equal(rx1("AS923-1", 3, 6, false), 4);
    assert_int_equal(rx1("AS923-1", 3, 7, false), 5);
    assert_int_equal(rx1("AS923-1", 5, 7, false), 5);
    assert_int_equal(rx1("AS923-1", 7, 0, false), 5);
    assert_int_equal(rx1("AS923-2", 2, 1, false), 1);
    assert_int_equal(rx1("AS923-2", 2, 1, true), 2);
    assert_int_equal(rx1("AS923-3", 0, 0, true), 2);
    assert_int_equal(rx1("AS923-4", 4, 1, true), 3);
    assert_int_equal(lorawan_band_rx1_dr_offset_max(band("AS923"), REV), 7);
}

/* IN865 Table 98, with offsets 6 and 7 raising the data rate. */
static void test_band_rx1_dr__in865(void **state)
{
    (void)state;
    assert_int_equal(rx1("IN865", 0, 6, false), 1);
    assert_int_equal(rx1("IN865", 0, 7, false), 2);
    assert_int_equal(rx1("IN865", 3, 7, false), 5);
    assert_int_equal(rx1("IN865", 4, 6, false), 5);
    assert_int_equal(rx1("IN865", 5, 2, false), 3);
    assert_int_equal(rx1("IN865", 7, 7, false), 7);
    assert_int_equal(rx1("IN865", 7, 1, false), 6);
    uint8_t out;
    assert_int_equal(lorawan_band_rx1_dr(band("IN865"), REV, 6, 0, false, &out), LORAWAN_E_DR);
}

static void test_band_rx1_dr__others(void **state)
{
    (void)state;
    assert_int_equal(rx1("KR920", 5, 2, false), 3);
    assert_int_equal(rx1("RU864", 7, 5, false), 2);
    assert_int_equal(rx1("CN470", 7, 1, false), 6);
    assert_int_equal(rx1("CN470-26A", 3, 5, false), 0);
    assert_int_equal(rx1("EU433", 6, 3, false), 3);
    assert_int_equal(rx1("CN779", 2, 0, false), 2);
}

static void test_band_rx2_default__per_band(void **state)
{
    (void)state;
    static const struct {
        const char *band;
        uint32_t hz;
        uint8_t dr;
    } want[] = {
        {"EU868", 869525000, 0},     {"US915", 923300000, 8},     {"AU915", 923300000, 8},
        {"AS923-1", 923200000, 2},   {"AS923-2", 921400000, 2},   {"AS923-3", 916600000, 2},
        {"AS923-4", 917300000, 2},   {"KR920", 921900000, 0},     {"IN865", 866550000, 2},
        {"RU864", 869100000, 0},     {"CN470", 505300000, 0},     {"CN470-20A", 486900000, 1},
        {"CN470-20B", 498300000, 1}, {"CN470-26A", 492500000, 1}, {"CN470-26B", 502500000, 1},
        {"EU433", 434665000, 0},     {"CN779", 786000000, 0},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        lorawan_rx2_t rx2;
        assert_int_equal(lorawan_band_rx2_default(band(want[i].band), REV, &rx2), 0);
        assert_int_equal(rx2.freq_hz, want[i].hz);
        assert_int_equal(rx2.dr, want[i].dr);
    }
    lorawan_rx2_t rx2;
    assert_int_equal(lorawan_band_rx2_default(band("RU864"), LORAWAN_RP001_1_0_2, &rx2),
                     LORAWAN_E_PARAM);
}

static void assert_channel(const char *name, lorawan_rp_rev_t rev, bool uplink, unsigned i,
                           uint32_t hz, uint8_t min_dr, uint8_t max_dr)
{
    lorawan_channel_t ch;
    int rc = uplink ? lorawan_band_uplink_channel(band(name), rev, i, &ch)
                    : lorawan_band_downlink_channel(band(name), rev, i, &ch);
    assert_int_equal(rc, 0);
    assert_int_equal(ch.freq_hz, hz);
    assert_int_equal(ch.min_dr, min_dr);
    assert_int_equal(ch.max_dr, max_dr);
}

static void test_band_channels__defaults(void **state)
{
    (void)state;
    /* EU868 Table 8: 868.1, 868.3, 868.5 MHz, DR0..5, also the join channels. */
    assert_int_equal(lorawan_band_uplink_channel_count(band("EU868"), REV), 3);
    assert_channel("EU868", REV, true, 0, 868100000, 0, 5);
    assert_channel("EU868", REV, true, 2, 868500000, 0, 5);
    assert_channel("EU868", REV, false, 1, 868300000, 0, 5);
    lorawan_channel_t ch;
    assert_int_equal(lorawan_band_uplink_channel(band("EU868"), REV, 3, &ch), LORAWAN_E_RANGE);
    /* US915 §2.5.2: 64 + 8 uplink, 8 downlink. */
    assert_int_equal(lorawan_band_uplink_channel_count(band("US915"), REV), 72);
    assert_channel("US915", REV, true, 0, 902300000, 0, 3);
    assert_channel("US915", REV, true, 63, 914900000, 0, 3);
    assert_channel("US915", REV, true, 64, 903000000, 4, 6);
    assert_channel("US915", REV, true, 71, 914200000, 4, 6);
    assert_channel("US915", LORAWAN_RP002_1_0_1, true, 64, 903000000, 4, 4);
    assert_int_equal(lorawan_band_downlink_channel_count(band("US915"), REV), 8);
    assert_channel("US915", REV, false, 0, 923300000, 8, 13);
    assert_channel("US915", REV, false, 7, 927500000, 8, 13);
    /* AU915 §2.7.2. */
    assert_channel("AU915", REV, true, 0, 915200000, 0, 5);
    assert_channel("AU915", REV, true, 63, 927800000, 0, 5);
    assert_channel("AU915", REV, true, 64, 915900000, 6, 7);
    assert_channel("AU915", LORAWAN_RP001_1_1_B, true, 71, 927100000, 6, 6);
    assert_channel("AU915", REV, false, 3, 925100000, 8, 13);
    /* AS923 groups (§2.8.2): 923.2/923.4 MHz minus 0, 1.8, 6.6, 5.9 MHz. */
    assert_channel("AS923-1", REV, true, 1, 923400000, 0, 5);
    assert_channel("AS923-2", REV, true, 0, 921400000, 0, 5);
    assert_channel("AS923-3", REV, true, 1, 916800000, 0, 5);
    assert_channel("AS923-4", REV, true, 0, 917300000, 0, 5);
    assert_channel("KR920", REV, true, 2, 922500000, 0, 5);
    assert_channel("IN865", REV, true, 0, 865062500, 0, 5);
    assert_channel("IN865", REV, true, 1, 865402500, 0, 5);
    assert_channel("IN865", REV, true, 2, 865985000, 0, 5);
    assert_channel("RU864", REV, true, 1, 869100000, 0, 5);
    assert_int_equal(lorawan_band_uplink_channel_count(band("RU864"), REV), 2);
    assert_channel("EU433", REV, true, 2, 433575000, 0, 5);
    assert_channel("CN779", REV, true, 0, 779500000, 0, 5);
    /* CN470 RP001: 96 up from 470.3 MHz, 48 down from 500.3 MHz. */
    assert_int_equal(lorawan_band_uplink_channel_count(band("CN470"), REV), 96);
    assert_channel("CN470", REV, true, 95, 489300000, 0, 5);
    assert_channel("CN470", REV, false, 47, 509700000, 0, 5);
    /* CN470 RP002 antenna types. */
    assert_int_equal(lorawan_band_uplink_channel_count(band("CN470-20A"), REV), 64);
    assert_channel("CN470-20A", REV, true, 32, 503500000, 0, 5);
    assert_channel("CN470-20A", REV, false, 32, 490300000, 0, 5);
    assert_channel("CN470-20B", REV, false, 0, 476900000, 0, 5);
    assert_int_equal(lorawan_band_downlink_channel_count(band("CN470-26A"), REV), 24);
    assert_channel("CN470-26B", REV, true, 47, 489700000, 0, 5);
    assert_channel("CN470-26B", REV, false, 23, 504700000, 0, 5);
    assert_true(lorawan_band_dynamic_channels(band("EU868")));
    assert_false(lorawan_band_dynamic_channels(band("US915")));
    assert_int_equal(lorawan_band_max_channels(band("EU868"), REV), 16);
    assert_int_equal(lorawan_band_max_channels(band("US915"), REV), 72);
    assert_int_equal(lorawan_band_max_channels(band("CN470"), REV), 96);
}

static void test_band_rx1_channel__mapping(void **state)
{
    (void)state;
    unsigned out;
    assert_int_equal(lorawan_band_rx1_channel(band("US915"), REV, 13, &out), 0);
    assert_int_equal(out, 5);
    assert_int_equal(lorawan_band_rx1_channel(band("US915"), REV, 71, &out), 0);
    assert_int_equal(out, 7);
    assert_int_equal(lorawan_band_rx1_channel(band("US915"), REV, 72, &out), LORAWAN_E_RANGE);
    assert_int_equal(lorawan_band_rx1_channel(band("AU915"), REV, 64, &out), 0);
    assert_int_equal(out, 0);
    assert_int_equal(lorawan_band_rx1_channel(band("CN470"), REV, 50, &out), 0);
    assert_int_equal(out, 2);
    assert_int_equal(lorawan_band_rx1_channel(band("CN470-26A"), REV, 30, &out), 0);
    assert_int_equal(out, 6);
    assert_int_equal(lorawan_band_rx1_channel(band("EU868"), REV, 9, &out), 0);
    assert_int_equal(out, 9);
}

static lorawan_chset_t all_on(unsigned n)
{
    lorawan_chset_t s;
    lorawan_chset_clear(&s);
    for (unsigned i = 0; i < n; i++)
        lorawan_chset_set(&s, i, true);
    return s;
}

/* US915 Table 16 / AU915 Table 42: ChMaskCntl 0..7. */
static void test_band_link_adr_apply__us915(void **state)
{
    (void)state;
    static const char *const names[] = {"US915", "AU915"};
    for (size_t b = 0; b < 2; b++) {
        const lorawan_band_t *bd = band(names[b]);
        lorawan_chset_t s = all_on(72);
        /* 7: all 125 kHz off, ChMask bits 0..7 drive 64..71. */
        assert_int_equal(lorawan_band_link_adr_apply(bd, REV, 7, 0x0002, NULL, &s), 0);
        assert_int_equal(lorawan_chset_count(&s), 1);
        assert_true(lorawan_chset_test(&s, 65));
        /* 0..3: a block of 16. FSB 2 = channels 8..15 in block 0. */
        assert_int_equal(lorawan_band_link_adr_apply(bd, REV, 0, 0xff00, NULL, &s), 0);
        assert_int_equal(lorawan_chset_count(&s), 9);
        assert_true(lorawan_chset_test(&s, 8));
        assert_true(lorawan_chset_test(&s, 15));
        assert_false(lorawan_chset_test(&s, 7));
        assert_int_equal(lorawan_band_link_adr_apply(bd, REV, 3, 0x8001, NULL, &s), 0);
        assert_true(lorawan_chset_test(&s, 48));
        assert_true(lorawan_chset_test(&s, 63));
        assert_int_equal(lorawan_chset_count(&s), 11);
        /* 4: channels 64..71. */
        assert_int_equal(lorawan_band_link_adr_apply(bd, REV, 4, 0x0081, NULL, &s), 0);
        assert_true(lorawan_chset_test(&s, 64));
        assert_false(lorawan_chset_test(&s, 65));
        assert_true(lorawan_chset_test(&s, 71));
        /* 6: all 125 kHz on, ChMask drives 64..71. */
        assert_int_equal(lorawan_band_link_adr_apply(bd, REV, 6, 0x0000, NULL, &s), 0);
        assert_int_equal(lorawan_chset_count(&s), 64);
        /* 5: every bit enables or disables its bank: bit 1 = channels 8..15 and 65, the
         * other banks go off. */
        assert_int_equal(lorawan_band_link_adr_apply(bd, REV, 5, 0x0002, NULL, &s), 0);
        assert_int_equal(lorawan_chset_count(&s), 9);
        lorawan_chset_t t;
        lorawan_chset_clear(&t);
        assert_int_equal(lorawan_band_link_adr_apply(bd, REV, 5, 0x0002, NULL, &t), 0);
        assert_int_equal(lorawan_chset_count(&t), 9);
        assert_true(lorawan_chset_test(&t, 65));
        assert_true(lorawan_chset_test(&t, 8));
        /* 5 with an RFU high byte, or in RP001-1.0.2 (no bank control yet): rejected, set
         * untouched. */
        lorawan_chset_t before = t;
        assert_int_equal(lorawan_band_link_adr_apply(bd, REV, 5, 0x0102, NULL, &t),
                         LORAWAN_E_PARAM);
        assert_int_equal(
            lorawan_band_link_adr_apply(bd, LORAWAN_RP001_1_0_2_B, 5, 0x0002, NULL, &t),
            LORAWAN_E_PARAM);
        assert_memory_equal(&t, &before, sizeof(t));
    }
}

/* EU868 Table 13 (and the other dynamic bands): 0 = channels 0..15, 6 = all defined on. */
static void test_band_link_adr_apply__eu868(void **state)
{
    (void)state;
    const lorawan_band_t *eu = band("EU868");
    lorawan_chset_t defined = all_on(8);
    lorawan_chset_t s = all_on(8);
    assert_int_equal(lorawan_band_link_adr_apply(eu, REV, 0, 0x0005, &defined, &s), 0);
    assert_int_equal(lorawan_chset_count(&s), 2);
    assert_true(lorawan_chset_test(&s, 2));
    assert_int_equal(lorawan_band_link_adr_apply(eu, REV, 6, 0x0000, &defined, &s), 0);
    assert_int_equal(lorawan_chset_count(&s), 8);
    /* A ChMask bit for an undefined channel is rejected. */
    assert_int_equal(lorawan_band_link_adr_apply(eu, REV, 0, 0x0100, &defined, &s),
                     LORAWAN_E_PARAM);
    /* RFU ChMaskCntl. */
    for (uint8_t cntl = 1; cntl < 8; cntl++) {
        if (cntl != 6)
            assert_int_equal(lorawan_band_link_adr_apply(eu, REV, cntl, 0x0001, &defined, &s),
                             LORAWAN_E_PARAM);
    }
    /* Without `defined`, the band's 3 default channels are the defined ones. */
    lorawan_chset_clear(&s);
    assert_int_equal(lorawan_band_link_adr_apply(eu, REV, 6, 0xffff, NULL, &s), 0);
    assert_int_equal(lorawan_chset_count(&s), 3);
    assert_int_equal(lorawan_band_link_adr_apply(band("AS923-2"), REV, 0, 0x0008, NULL, &s),
                     LORAWAN_E_PARAM);
}

static void test_band_link_adr_apply__cn470(void **state)
{
    (void)state;
    lorawan_chset_t s;
    lorawan_chset_clear(&s);
    /* CN470 RP001: 0..5 blocks of 16 over 96 channels, 6 = all on. */
    assert_int_equal(lorawan_band_link_adr_apply(band("CN470"), REV, 5, 0x8000, NULL, &s), 0);
    assert_true(lorawan_chset_test(&s, 95));
    assert_int_equal(lorawan_band_link_adr_apply(band("CN470"), REV, 6, 0, NULL, &s), 0);
    assert_int_equal(lorawan_chset_count(&s), 96);
    assert_int_equal(lorawan_band_link_adr_apply(band("CN470"), REV, 7, 0, NULL, &s),
                     LORAWAN_E_PARAM);
    lorawan_chset_clear(&s);
    assert_int_equal(lorawan_band_link_adr_apply(band("CN470-26A"), REV, 2, 0x0001, NULL, &s), 0);
    assert_true(lorawan_chset_test(&s, 32));
    assert_int_equal(lorawan_band_link_adr_apply(band("CN470-26A"), REV, 3, 0x0001, NULL, &s),
                     LORAWAN_E_PARAM);
}

static void test_cflist__frequencies_and_chmask(void **state)
{
    (void)state;
    /* TTN EU868 extra channels 867.1..867.9 MHz, 100 Hz units LE. */
    const uint32_t freqs[5] = {867100000, 867300000, 867500000, 867700000, 867900000};
    const uint8_t want[16] = {0x18, 0x4f, 0x84, 0xe8, 0x56, 0x84, 0xb8, 0x5e,
                              0x84, 0x88, 0x66, 0x84, 0x58, 0x6e, 0x84, 0x00};
    uint8_t out[16];
    assert_int_equal(lorawan_cflist_freqs_encode(freqs, out), 0);
    assert_memory_equal(out, want, 16);
    uint32_t back[5];
    assert_int_equal(lorawan_cflist_freqs_decode(out, back), 0);
    assert_memory_equal(back, freqs, sizeof(freqs));
    const uint32_t bad[5] = {867100050, 0, 0, 0, 0};
    assert_int_equal(lorawan_cflist_freqs_encode(bad, out), LORAWAN_E_RANGE);
    out[15] = 1;
    assert_int_equal(lorawan_cflist_freqs_decode(out, back), LORAWAN_E_PARAM);
    /* ChMask CFList: US915 FSB 2 (channels 8..15 and 65). */
    lorawan_chset_t s;
    lorawan_chset_clear(&s);
    for (unsigned i = 8; i < 16; i++)
        lorawan_chset_set(&s, i, true);
    lorawan_chset_set(&s, 65, true);
    const uint8_t want_mask[16] = {0x00, 0xff, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0x01};
    assert_int_equal(lorawan_cflist_chmask_encode(&s, out), 0);
    assert_memory_equal(out, want_mask, 16);
    lorawan_chset_t t;
    assert_int_equal(lorawan_cflist_chmask_decode(out, &t), 0);
    assert_memory_equal(&t, &s, sizeof(s));
    assert_int_equal(lorawan_band_cflist_type(band("EU868"), REV), LORAWAN_CFLIST_FREQUENCIES);
    assert_int_equal(lorawan_band_cflist_type(band("AS923-3"), REV), LORAWAN_CFLIST_FREQUENCIES);
    assert_int_equal(lorawan_band_cflist_type(band("US915"), REV), LORAWAN_CFLIST_CHMASK);
    assert_int_equal(lorawan_band_cflist_type(band("CN470-20A"), REV), LORAWAN_CFLIST_CHMASK);
    assert_int_equal(lorawan_band_cflist_type(band("US915"), LORAWAN_RP001_1_0_2_B),
                     LORAWAN_CFLIST_NONE);
}

/* LoRaWAN 1.0.4 §5.9 Table 18: TxParamSetupReq MaxEIRP coding. */
static void test_max_eirp__table(void **state)
{
    (void)state;
    static const uint8_t want[16] = {8, 10, 12, 13, 14, 16, 18, 20, 21, 24, 26, 27, 29, 30, 33, 36};
    uint8_t dbm, idx;
    for (uint8_t i = 0; i < 16; i++) {
        assert_int_equal(lorawan_max_eirp_dbm(i, &dbm), 0);
        assert_int_equal(dbm, want[i]);
        assert_int_equal(lorawan_max_eirp_index(want[i], &idx), 0);
        assert_int_equal(idx, i);
    }
    assert_int_equal(lorawan_max_eirp_dbm(16, &dbm), LORAWAN_E_RANGE);
    assert_int_equal(lorawan_max_eirp_index(15, &idx), 0);
    assert_int_equal(idx, 5);
    assert_int_equal(lorawan_max_eirp_index(37, &idx), LORAWAN_E_RANGE);
    assert_true(lorawan_band_tx_param_setup(band("AS923-1"), REV));
    assert_true(lorawan_band_tx_param_setup(band("AU915"), REV));
    assert_false(lorawan_band_tx_param_setup(band("AU915"), LORAWAN_RP001_1_0_2_B));
    assert_false(lorawan_band_tx_param_setup(band("EU868"), REV));
    assert_false(lorawan_band_tx_param_setup(band("US915"), REV));
}

/* TX power tables: Max EIRP - 2 dB * TXPower; 0..7 (EU868, AS923, KR920, RU864, CN470),
 * 0..14 (US915, AU915), 0..10 (IN865), 0..5 (EU433, CN779). */
static void test_band_tx_power__tables(void **state)
{
    (void)state;
    static const struct {
        const char *band;
        uint8_t max;
        int32_t eirp_cdbm;
    } want[] = {
        {"EU868", 7, 1600}, {"US915", 14, 3000}, {"AU915", 14, 3000}, {"AS923-1", 7, 1600},
        {"KR920", 7, 1400}, {"IN865", 10, 3000}, {"RU864", 7, 1600},  {"CN470", 7, 1915},
        {"EU433", 5, 1215}, {"CN779", 5, 1215},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const lorawan_band_t *b = band(want[i].band);
        int8_t off;
        assert_int_equal(lorawan_band_tx_power_max_index(b, REV), want[i].max);
        assert_int_equal(lorawan_band_default_max_eirp_cdbm(b, REV), want[i].eirp_cdbm);
        for (uint8_t p = 0; p <= want[i].max; p++) {
            assert_int_equal(lorawan_band_tx_power_offset_db(b, REV, p, &off), 0);
            assert_int_equal(off, -2 * p);
        }
        assert_int_equal(lorawan_band_tx_power_offset_db(b, REV, want[i].max + 1, &off),
                         LORAWAN_E_RANGE);
    }
    assert_int_equal(lorawan_band_tx_power_max_index(band("US915"), LORAWAN_RP001_1_0_2_B), 10);
}

static void test_band_beacon__parameters(void **state)
{
    (void)state;
    lorawan_beacon_params_t b;
    uint32_t hz;
    /* EU868: 869.525 MHz DR3. */
    assert_int_equal(lorawan_band_beacon(band("EU868"), REV, &b), 0);
    assert_int_equal(b.dr, 3);
    assert_int_equal(b.first_freq_hz, 869525000);
    assert_int_equal(b.n_freqs, 1);
    assert_int_equal(lorawan_band_ping_slot_freq(band("EU868"), REV, 0x01020304, 0, &hz), 0);
    assert_int_equal(hz, 869525000);
    /* US915: DR8, hopping 923.3 + 0.6 n MHz over 8 channels. */
    assert_int_equal(lorawan_band_beacon(band("US915"), REV, &b), 0);
    assert_int_equal(b.dr, 8);
    assert_int_equal(b.n_freqs, 8);
    assert_int_equal(lorawan_band_beacon_freq(band("US915"), REV, 128 * 3, &hz), 0);
    assert_int_equal(hz, 925100000);
    assert_int_equal(lorawan_band_beacon_freq(band("US915"), REV, 128 * 9, &hz), 0);
    assert_int_equal(hz, 923900000);
    /* Ping slot: (DevAddr + beacon_time / 128) mod 8. */
    assert_int_equal(lorawan_band_ping_slot_freq(band("US915"), REV, 0x00000005, 128 * 2, &hz), 0);
    assert_int_equal(hz, 923300000 + 7 * 600000);
    assert_int_equal(lorawan_band_ping_slot_freq(band("AU915"), REV, 0xffffffff, 128, &hz), 0);
    assert_int_equal(hz, 923300000);
    assert_int_equal(lorawan_band_beacon(band("AS923-2"), REV, &b), 0);
    assert_int_equal(b.first_freq_hz, 921600000);
    assert_int_equal(lorawan_band_beacon(band("KR920"), REV, &b), 0);
    assert_int_equal(b.first_freq_hz, 923100000);
    assert_int_equal(lorawan_band_beacon(band("IN865"), REV, &b), 0);
    assert_int_equal(b.dr, 4);
    assert_int_equal(lorawan_band_beacon(band("RU864"), REV, &b), 0);
    assert_int_equal(b.first_freq_hz, 869100000);
    assert_int_equal(b.ping_slot_freq_hz, 868900000);
    assert_int_equal(lorawan_band_beacon_freq(band("CN470-20A"), REV, 0, &hz), LORAWAN_E_PARAM);
}

static void test_band_sub_bands__duty_cycle(void **state)
{
    (void)state;
    const lorawan_sub_band_t *sb;
    assert_int_equal(lorawan_band_sub_bands(band("EU868"), &sb), 6);
    /* 869.4-869.65 MHz: 10%, 27 dBm ERP. */
    sb = lorawan_band_sub_band_for(band("EU868"), 869525000);
    assert_non_null(sb);
    assert_int_equal(sb->duty_cycle_ppm, 100000);
    assert_int_equal(sb->max_eirp_cdbm, 2915);
    /* 868.0-868.6 MHz: 1%. */
    sb = lorawan_band_sub_band_for(band("EU868"), 868100000);
    assert_int_equal(sb->duty_cycle_ppm, 10000);
    /* 863-865 MHz: 0.1%. */
    assert_int_equal(lorawan_band_sub_band_for(band("EU868"), 864000000)->duty_cycle_ppm, 1000);
    /* 868.6-868.7 MHz is in no sub-band. */
    assert_null(lorawan_band_sub_band_for(band("EU868"), 868650000));
    assert_int_equal(lorawan_band_sub_band_for(band("US915"), 903900000)->duty_cycle_ppm, 1000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_band_rx1_dr__eu868),
        cmocka_unit_test(test_band_rx1_dr__us915),
        cmocka_unit_test(test_band_rx1_dr__au915),
        cmocka_unit_test(test_band_rx1_dr__as923),
        cmocka_unit_test(test_band_rx1_dr__in865),
        cmocka_unit_test(test_band_rx1_dr__others),
        cmocka_unit_test(test_band_rx2_default__per_band),
        cmocka_unit_test(test_band_channels__defaults),
        cmocka_unit_test(test_band_rx1_channel__mapping),
        cmocka_unit_test(test_band_link_adr_apply__us915),
        cmocka_unit_test(test_band_link_adr_apply__eu868),
        cmocka_unit_test(test_band_link_adr_apply__cn470),
        cmocka_unit_test(test_cflist__frequencies_and_chmask),
        cmocka_unit_test(test_max_eirp__table),
        cmocka_unit_test(test_band_tx_power__tables),
        cmocka_unit_test(test_band_beacon__parameters),
        cmocka_unit_test(test_band_sub_bands__duty_cycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
