/* Data rates and maximum payload sizes per band, data rate, revision and repeater setting,
 * asserted against the Regional Parameters tables. Table numbers are RP002-1.0.3 unless
 * noted; RP001 values are from "LoRaWAN Regional Parameters" 1.0.2rB / 1.0.3rA / 1.1rB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lorawan/lorawan.h"

/* One expected row: modulation 'L' LoRa (sf, khz = bandwidth), 'F' FSK 50 kbps, 'a' LR-FHSS
 * CR 1/3 and 'b' LR-FHSS CR 2/3 (khz = occupied channel width); m = M (N = M - 8);
 * link 'U' uplink, 'D' downlink, 'B' both. */
typedef struct row {
    uint8_t dr;
    char mod;
    uint8_t sf;
    uint16_t khz;
    uint16_t m;
    char link;
} row_t;

static const lorawan_band_t *band(const char *name)
{
    const lorawan_band_t *b = lorawan_band_find(name);
    assert_non_null(b);
    return b;
}

static void check_rows(const char *name, lorawan_rp_rev_t rev, bool rep, bool dwell,
                       const row_t *rows, size_t n)
{
    const lorawan_band_t *b = band(name);
    for (size_t i = 0; i < n; i++) {
        const row_t *r = &rows[i];
        lorawan_dr_t d;
        int rc = lorawan_band_datarate_dwell(b, rev, r->dr, rep, dwell, &d);
        if (rc != 0)
            fail_msg("%s %s DR%u rep=%d: rc %d", name, lorawan_rp_rev_name(rev), r->dr, rep, rc);
        switch (r->mod) {
        case 'L':
            assert_int_equal(d.modulation, LORAWAN_MOD_LORA);
            assert_int_equal(d.spreading_factor, r->sf);
            assert_int_equal(d.bandwidth_hz, r->khz * 1000u);
            assert_string_equal(d.coding_rate, "4/5");
            break;
        case 'F':
            assert_int_equal(d.modulation, LORAWAN_MOD_FSK);
            assert_int_equal(d.bit_rate_bps, 50000);
            assert_null(d.coding_rate);
            break;
        default:
            assert_int_equal(d.modulation, LORAWAN_MOD_LR_FHSS);
            assert_string_equal(d.coding_rate, r->mod == 'a' ? "1/3" : "2/3");
            assert_int_equal(d.occupied_channel_width_hz, r->khz * 1000u);
            break;
        }
        if (d.max_mac_payload_m != r->m)
            fail_msg("%s %s DR%u rep=%d dwell=%d: M %u, want %u", name, lorawan_rp_rev_name(rev),
                     r->dr, rep, dwell, d.max_mac_payload_m, r->m);
        assert_int_equal(d.max_frm_payload_n, r->m == 0 ? 0 : r->m - 8);
        assert_int_equal(d.uplink, r->link == 'U' || r->link == 'B');
        assert_int_equal(d.downlink, r->link == 'D' || r->link == 'B');
    }
}

static void check_rfu(const char *name, lorawan_rp_rev_t rev, const uint8_t *drs, size_t n)
{
    const lorawan_band_t *b = band(name);
    lorawan_dr_t d;
    for (size_t i = 0; i < n; i++) {
        if (lorawan_band_datarate(b, rev, drs[i], false, &d) != LORAWAN_E_DR)
            fail_msg("%s %s DR%u should be RFU", name, lorawan_rp_rev_name(rev), drs[i]);
        assert_int_equal(lorawan_band_datarate(b, rev, drs[i], true, &d), LORAWAN_E_DR);
    }
}

#define ROWS(...)                                                                                  \
    ((const row_t[]){__VA_ARGS__}), (sizeof((const row_t[]){__VA_ARGS__}) / sizeof(row_t))
#define DRS(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

/* EU868 Table 6 (data rates) and Tables 10/11 (M not repeater / repeater compatible). */
#define EU_LORA_ROWS(m4)                                                                           \
    {0, 'L', 12, 125, 59, 'B'}, {1, 'L', 11, 125, 59, 'B'}, {2, 'L', 10, 125, 59, 'B'},            \
        {3, 'L', 9, 125, 123, 'B'}, {4, 'L', 8, 125, m4, 'B'}, {5, 'L', 7, 125, m4, 'B'},          \
        {6, 'L', 7, 250, m4, 'B'},                                                                 \
    {                                                                                              \
        7, 'F', 0, 0, m4, 'B'                                                                      \
    }

static void test_band_datarate__eu868(void **state)
{
    (void)state;
    /* RP002-1.0.2 onwards: DR8..11 LR-FHSS (137 / 336 kHz, CR 1/3 and 2/3), uplink only,
     * M = 58 / 123, the same with and without repeater. */
    check_rows("EU868", LORAWAN_RP002_1_0_3, false, false,
               ROWS(EU_LORA_ROWS(250), {8, 'a', 0, 137, 58, 'U'}, {9, 'b', 0, 137, 123, 'U'},
                    {10, 'a', 0, 336, 58, 'U'}, {11, 'b', 0, 336, 123, 'U'}));
    check_rows("EU868", LORAWAN_RP002_1_0_4, true, false,
               ROWS(EU_LORA_ROWS(230), {8, 'a', 0, 137, 58, 'U'}, {9, 'b', 0, 137, 123, 'U'},
                    {10, 'a', 0, 336, 58, 'U'}, {11, 'b', 0, 336, 123, 'U'}));
    check_rfu("EU868", LORAWAN_RP002_1_0_3, DRS(12, 13, 14, 15));
    /* Before RP002-1.0.2 there is no LR-FHSS: DR8..15 RFU. */
    for (lorawan_rp_rev_t rev = LORAWAN_RP001_1_0_2; rev <= LORAWAN_RP002_1_0_1; rev++) {
        check_rows("EU868", rev, false, false, ROWS(EU_LORA_ROWS(250)));
        check_rows("EU868", rev, true, false, ROWS(EU_LORA_ROWS(230)));
        check_rfu("EU868", rev, DRS(8, 9, 10, 11, 12, 15));
    }
    /* The TTS band id names the same band. */
    assert_ptr_equal(lorawan_band_find("EU_863_870"), lorawan_band_find("EU868"));
}

/* US915 Table 14 (data rates) and Tables 19/20 (M). */
static void test_band_datarate__us915(void **state)
{
    (void)state;
    for (lorawan_rp_rev_t rev = LORAWAN_RP002_1_0_2; rev <= LORAWAN_RP002_1_0_4; rev++) {
        check_rows("US915", rev, false, false,
                   ROWS({0, 'L', 10, 125, 19, 'U'}, {1, 'L', 9, 125, 61, 'U'},
                        {2, 'L', 8, 125, 133, 'U'}, {3, 'L', 7, 125, 250, 'U'},
                        {4, 'L', 8, 500, 250, 'U'}, {5, 'a', 0, 1523, 58, 'U'},
                        {6, 'b', 0, 1523, 133, 'U'}, {8, 'L', 12, 500, 61, 'D'},
                        {9, 'L', 11, 500, 137, 'D'}, {10, 'L', 10, 500, 250, 'D'},
                        {11, 'L', 9, 500, 250, 'D'}, {12, 'L', 8, 500, 250, 'D'},
                        {13, 'L', 7, 500, 250, 'D'}));
        /* Repeater compatible: DR3/DR4 230; DR8/DR9 61/137 from RP002-1.0.2 (vectors
         * README caveat 5: 41/33 and 117/109 before). */
        check_rows("US915", rev, true, false,
                   ROWS({0, 'L', 10, 125, 19, 'U'}, {2, 'L', 8, 125, 133, 'U'},
                        {3, 'L', 7, 125, 230, 'U'}, {4, 'L', 8, 500, 230, 'U'},
                        {5, 'a', 0, 1523, 58, 'U'}, {6, 'b', 0, 1523, 133, 'U'},
                        {8, 'L', 12, 500, 61, 'D'}, {9, 'L', 11, 500, 137, 'D'},
                        {10, 'L', 10, 500, 230, 'D'}, {13, 'L', 7, 500, 230, 'D'}));
        /* DR7 is RFU (the README: "US915 DR7 is RFU in RP002-1.0.3"). */
        check_rfu("US915", rev, DRS(7, 14, 15));
    }
    for (lorawan_rp_rev_t rev = LORAWAN_RP002_1_0_0; rev <= LORAWAN_RP002_1_0_1; rev++) {
        check_rows("US915", rev, true, false,
                   ROWS({3, 'L', 7, 125, 230, 'U'}, {4, 'L', 8, 500, 230, 'U'},
                        {8, 'L', 12, 500, 41, 'D'}, {9, 'L', 11, 500, 117, 'D'},
                        {10, 'L', 10, 500, 230, 'D'}));
        check_rows("US915", rev, false, false,
                   ROWS({8, 'L', 12, 500, 61, 'D'}, {9, 'L', 11, 500, 137, 'D'}));
        check_rfu("US915", rev, DRS(5, 6, 7));
    }
    /* RP001: repeater DR3/DR4 stay 250. */
    check_rows("US915", LORAWAN_RP001_1_0_2_B, true, false,
               ROWS({2, 'L', 8, 125, 133, 'U'}, {3, 'L', 7, 125, 250, 'U'},
                    {4, 'L', 8, 500, 250, 'U'}, {8, 'L', 12, 500, 41, 'D'},
                    {9, 'L', 11, 500, 117, 'D'}, {12, 'L', 8, 500, 230, 'D'}));
    check_rfu("US915", LORAWAN_RP001_1_1_B, DRS(5, 6, 7, 14, 15));
}

/* AU915 Table 39 (data rates), Tables 43/44 (M). RP001-1.0.2 rev A still used the US915
 * rates; rev B introduced SF12..SF7/125 kHz and SF8/500 kHz uplink. */
static void test_band_datarate__au915(void **state)
{
    (void)state;
    check_rows(
        "AU915", LORAWAN_RP002_1_0_3, false, false,
        ROWS({0, 'L', 12, 125, 59, 'U'}, {1, 'L', 11, 125, 59, 'U'}, {2, 'L', 10, 125, 59, 'U'},
             {3, 'L', 9, 125, 123, 'U'}, {4, 'L', 8, 125, 250, 'U'}, {5, 'L', 7, 125, 250, 'U'},
             {6, 'L', 8, 500, 250, 'U'}, {7, 'a', 0, 1523, 58, 'U'}, {8, 'L', 12, 500, 61, 'D'},
             {9, 'L', 11, 500, 137, 'D'}, {10, 'L', 10, 500, 250, 'D'}, {11, 'L', 9, 500, 250, 'D'},
             {12, 'L', 8, 500, 250, 'D'}, {13, 'L', 7, 500, 250, 'D'}));
    check_rows("AU915", LORAWAN_RP002_1_0_3, true, false,
               ROWS({4, 'L', 8, 125, 230, 'U'}, {6, 'L', 8, 500, 230, 'U'},
                    {7, 'a', 0, 1523, 58, 'U'}, {8, 'L', 12, 500, 61, 'D'},
                    {9, 'L', 11, 500, 137, 'D'}, {13, 'L', 7, 500, 230, 'D'}));
    /* Uplink dwell time 400 ms: DR0/DR1 N/A (M 0), DR2..4 = 19, 61, 133. */
    check_rows("AU915", LORAWAN_RP002_1_0_3, false, true,
               ROWS({0, 'L', 12, 125, 0, 'U'}, {1, 'L', 11, 125, 0, 'U'},
                    {2, 'L', 10, 125, 19, 'U'}, {3, 'L', 9, 125, 61, 'U'},
                    {4, 'L', 8, 125, 133, 'U'}, {5, 'L', 7, 125, 250, 'U'}));
    check_rfu("AU915", LORAWAN_RP002_1_0_3, DRS(14, 15));
    check_rfu("AU915", LORAWAN_RP002_1_0_1, DRS(7, 14, 15));
    check_rows("AU915", LORAWAN_RP002_1_0_1, true, false,
               ROWS({8, 'L', 12, 500, 41, 'D'}, {9, 'L', 11, 500, 117, 'D'}));
    check_rows("AU915", LORAWAN_RP001_1_0_2_B, false, false,
               ROWS({0, 'L', 12, 125, 59, 'U'}, {6, 'L', 8, 500, 250, 'U'}));
    check_rows("AU915", LORAWAN_RP001_1_0_2, false, false,
               ROWS({0, 'L', 10, 125, 19, 'U'}, {1, 'L', 9, 125, 61, 'U'},
                    {2, 'L', 8, 125, 134, 'U'}, {3, 'L', 7, 125, 250, 'U'},
                    {4, 'L', 8, 500, 250, 'U'}, {8, 'L', 12, 500, 61, 'D'}));
    check_rfu("AU915", LORAWAN_RP001_1_0_2, DRS(5, 6, 7));
}

/* AS923 Table 56 (data rates), Tables 60/61 (M without / with dwell time). */
#define AS_ROWS(m2, m4)                                                                            \
    {0, 'L', 12, 125, 59, 'B'}, {1, 'L', 11, 125, 59, 'B'}, {2, 'L', 10, 125, m2, 'B'},            \
        {3, 'L', 9, 125, 123, 'B'}, {4, 'L', 8, 125, m4, 'B'}, {5, 'L', 7, 125, m4, 'B'},          \
        {6, 'L', 7, 250, m4, 'B'},                                                                 \
    {                                                                                              \
        7, 'F', 0, 0, m4, 'B'                                                                      \
    }

static void test_band_datarate__as923(void **state)
{
    (void)state;
    static const char *const groups[] = {"AS923-1", "AS923-2", "AS923-3", "AS923-4"};
    for (size_t g = 0; g < 4; g++) {
        /* RP002-1.0.1 raises DR2 to 123 without dwell time. */
        check_rows(groups[g], LORAWAN_RP002_1_0_3, false, false, ROWS(AS_ROWS(123, 250)));
        check_rows(groups[g], LORAWAN_RP002_1_0_3, true, false, ROWS(AS_ROWS(123, 230)));
        check_rows(groups[g], LORAWAN_RP002_1_0_0, false, false, ROWS(AS_ROWS(59, 250)));
        check_rows(groups[g], LORAWAN_RP002_1_0_3, false, true,
                   ROWS({0, 'L', 12, 125, 0, 'B'}, {1, 'L', 11, 125, 0, 'B'},
                        {2, 'L', 10, 125, 19, 'B'}, {3, 'L', 9, 125, 61, 'B'},
                        {4, 'L', 8, 125, 133, 'B'}, {5, 'L', 7, 125, 250, 'B'},
                        {6, 'L', 7, 250, 250, 'B'}, {7, 'F', 0, 0, 250, 'B'}));
        check_rfu(groups[g], LORAWAN_RP002_1_0_3, DRS(8, 9, 15));
    }
    check_rows("AS923", LORAWAN_RP001_1_0_2_B, false, false, ROWS(AS_ROWS(59, 250)));
    assert_ptr_equal(lorawan_band_find("AS923"), lorawan_band_find("AS923-1"));
    assert_ptr_equal(lorawan_band_find("AS_923_3"), lorawan_band_find("AS923-3"));
    assert_ptr_equal(lorawan_band_find("AS923_2"), lorawan_band_find("AS923-2"));
    assert_ptr_equal(lorawan_band_find("AS_923"), lorawan_band_find("AS923-1"));
}

/* KR920 Table 83 / 87: DR0..5 only. */
static void test_band_datarate__kr920(void **state)
{
    (void)state;
    for (lorawan_rp_rev_t rev = LORAWAN_RP001_1_0_2; rev <= LORAWAN_RP002_1_0_4; rev++) {
        check_rows("KR920", rev, false, false,
                   ROWS({0, 'L', 12, 125, 59, 'B'}, {1, 'L', 11, 125, 59, 'B'},
                        {2, 'L', 10, 125, 59, 'B'}, {3, 'L', 9, 125, 123, 'B'},
                        {4, 'L', 8, 125, 250, 'B'}, {5, 'L', 7, 125, 250, 'B'}));
        check_rows("KR920", rev, true, false,
                   ROWS({4, 'L', 8, 125, 230, 'B'}, {5, 'L', 7, 125, 230, 'B'}));
        check_rfu("KR920", rev, DRS(6, 7, 8, 15));
    }
}

/* IN865 Table 93 / 97: DR6 RFU, DR7 FSK. The band appears in RP001-1.0.2 rev B. */
static void test_band_datarate__in865(void **state)
{
    (void)state;
    check_rows("IN865", LORAWAN_RP002_1_0_3, false, false,
               ROWS({0, 'L', 12, 125, 59, 'B'}, {2, 'L', 10, 125, 59, 'B'},
                    {3, 'L', 9, 125, 123, 'B'}, {4, 'L', 8, 125, 250, 'B'},
                    {5, 'L', 7, 125, 250, 'B'}, {7, 'F', 0, 0, 250, 'B'}));
    check_rows("IN865", LORAWAN_RP002_1_0_3, true, false,
               ROWS({5, 'L', 7, 125, 230, 'B'}, {7, 'F', 0, 0, 230, 'B'}));
    check_rfu("IN865", LORAWAN_RP002_1_0_3, DRS(6, 8, 15));
    check_rfu("IN865", LORAWAN_RP001_1_0_2, DRS(0, 5));
    assert_false(lorawan_band_defined(band("IN865"), LORAWAN_RP001_1_0_2));
    assert_true(lorawan_band_defined(band("IN865"), LORAWAN_RP001_1_0_2_B));
}

/* RU864 Table 103 / 107: as EU868 DR0..7; the band appears in RP001-1.0.3 rev A. */
static void test_band_datarate__ru864(void **state)
{
    (void)state;
    check_rows("RU864", LORAWAN_RP002_1_0_3, false, false, ROWS(EU_LORA_ROWS(250)));
    check_rows("RU864", LORAWAN_RP002_1_0_3, true, false, ROWS(EU_LORA_ROWS(230)));
    check_rows("RU864", LORAWAN_RP001_1_0_3_A, false, false, ROWS(EU_LORA_ROWS(250)));
    check_rfu("RU864", LORAWAN_RP002_1_0_3, DRS(8, 11, 15));
    check_rfu("RU864", LORAWAN_RP001_1_0_2_B, DRS(0));
}

/* CN470 Table 70 / 74. RP001 and RP002-1.0.0: DR0..5, EU868-like sizes. From RP002-1.0.1
 * (the antenna-type plans) DR6 SF7/500 kHz and DR7 FSK; DR0 N/A, DR1 31, DR2 94, DR3 192. */
static void test_band_datarate__cn470(void **state)
{
    (void)state;
    static const char *const names[] = {"CN470", "CN470-20A", "CN470-20B", "CN470-26A",
                                        "CN470-26B"};
    for (size_t i = 0; i < 5; i++) {
        check_rows(names[i], LORAWAN_RP002_1_0_3, false, false,
                   ROWS({0, 'L', 12, 125, 0, 'B'}, {1, 'L', 11, 125, 31, 'B'},
                        {2, 'L', 10, 125, 94, 'B'}, {3, 'L', 9, 125, 192, 'B'},
                        {4, 'L', 8, 125, 250, 'B'}, {5, 'L', 7, 125, 250, 'B'},
                        {6, 'L', 7, 500, 250, 'B'}, {7, 'F', 0, 0, 250, 'B'}));
        check_rows(
            names[i], LORAWAN_RP002_1_0_3, true, false,
            ROWS({3, 'L', 9, 125, 192, 'B'}, {4, 'L', 8, 125, 230, 'B'}, {7, 'F', 0, 0, 230, 'B'}));
        check_rows(names[i], LORAWAN_RP002_1_0_1, true, false, ROWS({3, 'L', 9, 125, 172, 'B'}));
        check_rfu(names[i], LORAWAN_RP002_1_0_3, DRS(8, 15));
    }
    check_rows(
        "CN470", LORAWAN_RP001_1_1_B, false, false,
        ROWS({0, 'L', 12, 125, 59, 'B'}, {3, 'L', 9, 125, 123, 'B'}, {5, 'L', 7, 125, 250, 'B'}));
    check_rows("CN470", LORAWAN_RP002_1_0_0, true, false, ROWS({5, 'L', 7, 125, 230, 'B'}));
    check_rfu("CN470", LORAWAN_RP002_1_0_0, DRS(6, 7));
    check_rfu("CN470-20A", LORAWAN_RP002_1_0_0, DRS(0, 1));
    assert_ptr_equal(lorawan_band_find("CN_470_510_26_B"), lorawan_band_find("CN470-26B"));
}

/* EU433 Table 24 / 28 and CN779 Table 33 / 37: as EU868 DR0..7. */
static void test_band_datarate__eu433_cn779(void **state)
{
    (void)state;
    for (lorawan_rp_rev_t rev = LORAWAN_RP001_1_0_2; rev <= LORAWAN_RP002_1_0_4; rev++) {
        check_rows("EU433", rev, false, false, ROWS(EU_LORA_ROWS(250)));
        check_rows("EU433", rev, true, false, ROWS(EU_LORA_ROWS(230)));
        check_rows("CN779", rev, false, false, ROWS(EU_LORA_ROWS(250)));
        check_rows("CN779", rev, true, false, ROWS(EU_LORA_ROWS(230)));
        check_rfu("EU433", rev, DRS(8, 9, 15));
        check_rfu("CN779", rev, DRS(8, 11, 15));
    }
}

static void test_band_find__unknown_and_aliases(void **state)
{
    (void)state;
    assert_null(lorawan_band_find("XX999"));
    assert_null(lorawan_band_find(NULL));
    assert_non_null(lorawan_band_find("eu868"));
    for (unsigned i = 0; i < LORAWAN_BAND_COUNT; i++) {
        const lorawan_band_t *b = lorawan_band_get((lorawan_band_id_t)i);
        assert_non_null(b);
        assert_int_equal(lorawan_band_id(b), i);
        assert_ptr_equal(lorawan_band_find(lorawan_band_name(b)), b);
        assert_ptr_equal(lorawan_band_find(lorawan_band_tts_id(b)), b);
    }
    assert_null(lorawan_band_get(LORAWAN_BAND_COUNT));
}

static void test_rp_rev_parse__names(void **state)
{
    (void)state;
    lorawan_rp_rev_t rev;
    assert_int_equal(lorawan_rp_rev_parse("RP002-1.0.3", &rev), 0);
    assert_int_equal(rev, LORAWAN_RP002_1_0_3);
    assert_int_equal(lorawan_rp_rev_parse("RP001-1.0.2-RevB", &rev), 0);
    assert_int_equal(rev, LORAWAN_RP001_1_0_2_B);
    assert_int_equal(lorawan_rp_rev_parse("RP001-1.0.2", &rev), 0);
    assert_int_equal(rev, LORAWAN_RP001_1_0_2);
    assert_int_equal(lorawan_rp_rev_parse("RP001-1.1-RevA", &rev), 0);
    assert_int_equal(rev, LORAWAN_RP001_1_1_A);
    assert_int_equal(lorawan_rp_rev_parse("rp002-1.0.4", &rev), 0);
    assert_int_equal(rev, LORAWAN_RP002_1_0_4);
    assert_int_equal(lorawan_rp_rev_parse("RP002-1.0.5", &rev), 0);
    assert_int_equal(rev, LORAWAN_RP002_1_0_5);
    /* chirpstack and TTS spellings. */
    assert_int_equal(lorawan_rp_rev_parse("RP002_1_0_3", &rev), 0);
    assert_int_equal(rev, LORAWAN_RP002_1_0_3);
    assert_int_equal(lorawan_rp_rev_parse("RP001_V1_0_2_REV_B", &rev), 0);
    assert_int_equal(rev, LORAWAN_RP001_1_0_2_B);
    assert_int_equal(lorawan_rp_rev_parse("RP002-1.0.6", &rev), LORAWAN_E_PARAM);
    assert_int_equal(lorawan_rp_rev_parse("", &rev), LORAWAN_E_PARAM);
    assert_int_equal(lorawan_rp_rev_parse(NULL, &rev), LORAWAN_E_PARAM);
    for (unsigned i = 0; i < LORAWAN_RP_REV_COUNT; i++) {
        assert_int_equal(lorawan_rp_rev_parse(lorawan_rp_rev_name((lorawan_rp_rev_t)i), &rev), 0);
        assert_int_equal(rev, i);
    }
}

static void test_band_datarate__bad_arguments(void **state)
{
    (void)state;
    lorawan_dr_t d;
    const lorawan_band_t *b = band("EU868");
    assert_int_equal(lorawan_band_datarate(NULL, LORAWAN_RP002_1_0_3, 0, false, &d),
                     LORAWAN_E_PARAM);
    assert_int_equal(lorawan_band_datarate(b, LORAWAN_RP002_1_0_3, 0, false, NULL),
                     LORAWAN_E_PARAM);
    assert_int_equal(lorawan_band_datarate(b, LORAWAN_RP002_1_0_3, 16, false, &d), LORAWAN_E_DR);
    assert_int_equal(lorawan_band_datarate(b, LORAWAN_RP002_1_0_3, 255, false, &d), LORAWAN_E_DR);
    assert_int_equal(lorawan_band_datarate(b, (lorawan_rp_rev_t)99, 0, false, &d), LORAWAN_E_DR);
}

static void test_band_datarate_index__reverse_lookup(void **state)
{
    (void)state;
    uint8_t dr;
    lorawan_dr_t want = {
        .modulation = LORAWAN_MOD_LORA, .spreading_factor = 8, .bandwidth_hz = 500000};
    /* US915 SF8/500 kHz is DR4 up and DR12 down. */
    assert_int_equal(
        lorawan_band_datarate_index(band("US915"), LORAWAN_RP002_1_0_3, true, &want, &dr), 0);
    assert_int_equal(dr, 4);
    assert_int_equal(
        lorawan_band_datarate_index(band("US915"), LORAWAN_RP002_1_0_3, false, &want, &dr), 0);
    assert_int_equal(dr, 12);
    want.bandwidth_hz = 125000;
    want.spreading_factor = 12;
    assert_int_equal(
        lorawan_band_datarate_index(band("US915"), LORAWAN_RP002_1_0_3, true, &want, &dr),
        LORAWAN_E_DR);
    assert_int_equal(
        lorawan_band_datarate_index(band("EU868"), LORAWAN_RP002_1_0_3, true, &want, &dr), 0);
    assert_int_equal(dr, 0);
    lorawan_dr_t fhss = {.modulation = LORAWAN_MOD_LR_FHSS,
                         .coding_rate = "2/3",
                         .occupied_channel_width_hz = 336000};
    assert_int_equal(
        lorawan_band_datarate_index(band("EU868"), LORAWAN_RP002_1_0_3, true, &fhss, &dr), 0);
    assert_int_equal(dr, 11);
    lorawan_dr_t fsk = {.modulation = LORAWAN_MOD_FSK, .bit_rate_bps = 50000};
    assert_int_equal(
        lorawan_band_datarate_index(band("IN865"), LORAWAN_RP002_1_0_3, false, &fsk, &dr), 0);
    assert_int_equal(dr, 7);
}

/* Invariants over every band, revision, data rate and setting: N = M - 8 (0 for N/A), a
 * direction, a LoRaWAN modulation, repeater sizes never above the plain ones and never
 * above 250, no data rate at all where the revision does not define the band. */
static void test_band_datarate__invariants(void **state)
{
    (void)state;
    for (unsigned id = 0; id < LORAWAN_BAND_COUNT; id++) {
        const lorawan_band_t *b = lorawan_band_get((lorawan_band_id_t)id);
        for (unsigned r = 0; r < LORAWAN_RP_REV_COUNT; r++) {
            lorawan_rp_rev_t rev = (lorawan_rp_rev_t)r;
            unsigned defined = 0;
            for (unsigned dr = 0; dr < 16; dr++) {
                for (int dwell = 0; dwell < 2; dwell++) {
                    lorawan_dr_t plain, rep;
                    int rc = lorawan_band_datarate_dwell(b, rev, (uint8_t)dr, false, dwell, &plain);
                    int rc_rep =
                        lorawan_band_datarate_dwell(b, rev, (uint8_t)dr, true, dwell, &rep);
                    assert_int_equal(rc, rc_rep);
                    if (rc != 0) {
                        assert_int_equal(rc, LORAWAN_E_DR);
                        continue;
                    }
                    defined++;
                    assert_true(lorawan_band_defined(b, rev));
                    assert_true(plain.uplink || plain.downlink);
                    assert_true(plain.max_mac_payload_m <= 250);
                    assert_true(rep.max_mac_payload_m <= plain.max_mac_payload_m);
                    assert_int_equal(plain.max_frm_payload_n,
                                     plain.max_mac_payload_m ? plain.max_mac_payload_m - 8 : 0);
                    switch (plain.modulation) {
                    case LORAWAN_MOD_LORA:
                        assert_true(plain.spreading_factor >= 7 && plain.spreading_factor <= 12);
                        assert_true(plain.bandwidth_hz == 125000 || plain.bandwidth_hz == 250000 ||
                                    plain.bandwidth_hz == 500000);
                        break;
                    case LORAWAN_MOD_FSK:
                        assert_int_equal(plain.bit_rate_bps, 50000);
                        break;
                    case LORAWAN_MOD_LR_FHSS:
                        assert_true(plain.uplink && !plain.downlink);
                        assert_true(rev >= LORAWAN_RP002_1_0_2);
                        break;
                    }
                }
            }
            assert_int_equal(defined > 0, lorawan_band_defined(b, rev));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_band_datarate__eu868),
        cmocka_unit_test(test_band_datarate__us915),
        cmocka_unit_test(test_band_datarate__au915),
        cmocka_unit_test(test_band_datarate__as923),
        cmocka_unit_test(test_band_datarate__kr920),
        cmocka_unit_test(test_band_datarate__in865),
        cmocka_unit_test(test_band_datarate__ru864),
        cmocka_unit_test(test_band_datarate__cn470),
        cmocka_unit_test(test_band_datarate__eu433_cn779),
        cmocka_unit_test(test_band_find__unknown_and_aliases),
        cmocka_unit_test(test_rp_rev_parse__names),
        cmocka_unit_test(test_band_datarate__bad_arguments),
        cmocka_unit_test(test_band_datarate_index__reverse_lookup),
        cmocka_unit_test(test_band_datarate__invariants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
