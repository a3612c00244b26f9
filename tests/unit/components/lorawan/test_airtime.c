/* LoRa, FSK and LR-FHSS time-on-air against published figures.
 *
 * Sources of the expected values:
 * - TheThingsNetwork/lorawan-stack pkg/toa/toa_test.go asserts, for a 10-byte payload at
 *   CR 4/5 (8-symbol preamble, explicit header, CRC on): SF7..SF12 at 125 kHz = 41216,
 *   72192, 144384, 288768, 577536, 991232 us; SF7 at 250 / 500 kHz = 20608 / 10304 us;
 *   SF7/125 kHz at CR 4/6, 4/7, 4/8 = 45312, 49408, 53504 us; SF7/125 kHz payloads 13..15 =
 *   46336 us and 16..19 = 51456 us; FSK 50 kbps, 200 bytes = 33760 us.
 * - The 13-byte SF7/125 kHz figure, 46.336 ms, is also the one The Things Network airtime
 *   calculator shows for a LoRaWAN frame with an empty application payload; the same
 *   calculator shows 1155.1 ms at SF12 (1155.072 ms exactly).
 * - LR-FHSS: the same TTS package (header 233.472 ms x 3 or 2, fragments of 102.4 ms). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lorawan/lorawan.h"

static uint32_t lora(size_t len, uint8_t sf, uint32_t bw, uint8_t cr)
{
    return lorawan_airtime_lora_us(len, sf, bw, cr, 8, true, true, LORAWAN_LDRO_AUTO);
}

static void test_airtime_lora__sf7_13_bytes(void **state)
{
    (void)state;
    assert_int_equal(lora(13, 7, 125000, 5), 46336);
}

static void test_airtime_lora__spreading_factors(void **state)
{
    (void)state;
    static const uint32_t want[6] = {41216, 72192, 144384, 288768, 577536, 991232};
    for (uint8_t sf = 7; sf <= 12; sf++)
        assert_int_equal(lora(10, sf, 125000, 5), want[sf - 7]);
}

static void test_airtime_lora__bandwidths(void **state)
{
    (void)state;
    assert_int_equal(lora(10, 7, 125000, 5), 41216);
    assert_int_equal(lora(10, 7, 250000, 5), 20608);
    assert_int_equal(lora(10, 7, 500000, 5), 10304);
}

static void test_airtime_lora__coding_rates(void **state)
{
    (void)state;
    assert_int_equal(lora(10, 7, 125000, 6), 45312);
    assert_int_equal(lora(10, 7, 125000, 7), 49408);
    assert_int_equal(lora(10, 7, 125000, 8), 53504);
}

static void test_airtime_lora__payload_sizes(void **state)
{
    (void)state;
    for (size_t len = 13; len <= 15; len++)
        assert_int_equal(lora(len, 7, 125000, 5), 46336);
    for (size_t len = 16; len <= 19; len++)
        assert_int_equal(lora(len, 7, 125000, 5), 51456);
}

static void test_airtime_lora__sf12_ldro(void **state)
{
    (void)state;
    /* SF12/125 kHz needs low data rate optimization (symbol time 32.768 ms >= 16 ms). */
    assert_int_equal(lora(13, 12, 125000, 5), 1155072);
    assert_int_equal(lorawan_airtime_lora_us(13, 12, 125000, 5, 8, true, true, LORAWAN_LDRO_ON),
                     1155072);
    /* 17 bytes: with LDRO ceil((136 - 48 + 44) / 40) = 4 blocks (28 payload symbols), without
     * ceil(132 / 48) = 3 blocks (23 symbols); 12.25 preamble symbols of 32.768 ms each. */
    assert_int_equal(lora(17, 12, 125000, 5), 1318912);
    assert_int_equal(lorawan_airtime_lora_us(17, 12, 125000, 5, 8, true, true, LORAWAN_LDRO_OFF),
                     1155072);
    /* SF11/125 kHz: auto LDRO on; SF11/250 kHz: off (8.192 ms symbols). */
    assert_int_equal(lora(10, 11, 125000, 5), 577536);
    assert_int_equal(lora(10, 11, 250000, 5),
                     lorawan_airtime_lora_us(10, 11, 250000, 5, 8, true, true, LORAWAN_LDRO_OFF));
    /* SF12/250 kHz: symbol time exactly 16.384 ms, LDRO on. */
    assert_int_equal(lora(10, 12, 250000, 5),
                     lorawan_airtime_lora_us(10, 12, 250000, 5, 8, true, true, LORAWAN_LDRO_ON));
}

static void test_airtime_lora__header_and_crc(void **state)
{
    (void)state;
    /* Downlink (no CRC) 13 bytes SF7: ceil((104 - 28 + 28) / 28) = 4 blocks -> 28 + 12.25
     * symbols of 1.024 ms. */
    assert_int_equal(lorawan_airtime_lora_us(13, 7, 125000, 5, 8, true, false, LORAWAN_LDRO_AUTO),
                     41216);
    /* Implicit header saves 20 bits: ceil((104 - 28 + 28 + 16 - 20) / 28) = 4 blocks. */
    assert_int_equal(lorawan_airtime_lora_us(13, 7, 125000, 5, 8, false, true, LORAWAN_LDRO_AUTO),
                     41216);
    /* Empty payload: the max(., 0) floor leaves 8 payload symbols. */
    assert_int_equal(lorawan_airtime_lora_us(0, 12, 125000, 5, 8, false, false, LORAWAN_LDRO_OFF),
                     (uint32_t)((8 + 4.25 + 8) * 32768));
    /* Preamble length counts symbol for symbol. */
    assert_int_equal(lorawan_airtime_lora_us(13, 7, 125000, 5, 16, true, true, LORAWAN_LDRO_AUTO),
                     46336 + 8 * 1024);
}

static void test_airtime_lora__invalid(void **state)
{
    (void)state;
    assert_int_equal(lora(10, 4, 125000, 5), 0);
    assert_int_equal(lora(10, 13, 125000, 5), 0);
    assert_int_equal(lora(10, 7, 0, 5), 0);
    assert_int_equal(lora(10, 7, 125000, 4), 0);
    assert_int_equal(lora(10, 7, 125000, 9), 0);
    assert_int_equal(lora(256, 7, 125000, 5), 0);
    assert_int_equal(lora(255, 7, 125000, 5) > 0, 1);
}

static void test_airtime_fsk__published(void **state)
{
    (void)state;
    /* (5 preamble + 3 sync + 1 length + 200 + 2 CRC) * 8 bits / 50 kbps. */
    assert_int_equal(lorawan_airtime_fsk_us(200, 50000, 5, 3, true, true), 33760);
    assert_int_equal(lorawan_airtime_fsk_us(13, 50000, 5, 3, true, true), 3840);
    assert_int_equal(lorawan_airtime_fsk_us(13, 0, 5, 3, true, true), 0);
}

static void test_airtime_lr_fhss__coding_rates(void **state)
{
    (void)state;
    /* CR 1/3: 3 headers + ceil((13 + 3) / 2) = 8 fragments. */
    assert_int_equal(lorawan_airtime_lr_fhss_us(13, "1/3"), 3 * 233472 + 8 * 102400);
    /* CR 2/3: 2 headers + ceil((13 + 3) / 4) = 4 fragments. */
    assert_int_equal(lorawan_airtime_lr_fhss_us(13, "2/3"), 2 * 233472 + 4 * 102400);
    assert_int_equal(lorawan_airtime_lr_fhss_us(14, "2/3"), 2 * 233472 + 5 * 102400);
    assert_int_equal(lorawan_airtime_lr_fhss_us(13, "4/5"), 0);
    assert_int_equal(lorawan_airtime_lr_fhss_us(13, NULL), 0);
}

static void test_airtime_dr__lorawan_defaults(void **state)
{
    (void)state;
    uint32_t us;
    const lorawan_band_t *eu = lorawan_band_find("EU868");
    const lorawan_band_t *us915 = lorawan_band_find("US915");
    /* EU868 DR5 (SF7/125 kHz) uplink, 13-byte PHYPayload. */
    assert_int_equal(lorawan_airtime_dr_us(eu, LORAWAN_RP002_1_0_3, 5, 13, true, &us), 0);
    assert_int_equal(us, 46336);
    /* DR0 (SF12/125 kHz) uplink. */
    assert_int_equal(lorawan_airtime_dr_us(eu, LORAWAN_RP002_1_0_3, 0, 13, true, &us), 0);
    assert_int_equal(us, 1155072);
    /* Downlinks carry no CRC. */
    assert_int_equal(lorawan_airtime_dr_us(eu, LORAWAN_RP002_1_0_3, 5, 13, false, &us), 0);
    assert_int_equal(us, 41216);
    /* DR7 FSK. */
    assert_int_equal(lorawan_airtime_dr_us(eu, LORAWAN_RP002_1_0_3, 7, 200, true, &us), 0);
    assert_int_equal(us, 33760);
    /* DR8 LR-FHSS CR 1/3. */
    assert_int_equal(lorawan_airtime_dr_us(eu, LORAWAN_RP002_1_0_3, 8, 13, true, &us), 0);
    assert_int_equal(us, 3 * 233472 + 8 * 102400);
    /* US915 DR4 SF8/500 kHz: symbol 0.512 ms. */
    assert_int_equal(lorawan_airtime_dr_us(us915, LORAWAN_RP002_1_0_3, 4, 13, true, &us), 0);
    assert_int_equal(us, lora(13, 8, 500000, 5));
    assert_int_equal(lorawan_airtime_dr_us(us915, LORAWAN_RP002_1_0_3, 7, 13, true, &us),
                     LORAWAN_E_DR);
    assert_int_equal(lorawan_airtime_dr_us(NULL, LORAWAN_RP002_1_0_3, 0, 13, true, &us),
                     LORAWAN_E_PARAM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_airtime_lora__sf7_13_bytes),
        cmocka_unit_test(test_airtime_lora__spreading_factors),
        cmocka_unit_test(test_airtime_lora__bandwidths),
        cmocka_unit_test(test_airtime_lora__coding_rates),
        cmocka_unit_test(test_airtime_lora__payload_sizes),
        cmocka_unit_test(test_airtime_lora__sf12_ldro),
        cmocka_unit_test(test_airtime_lora__header_and_crc),
        cmocka_unit_test(test_airtime_lora__invalid),
        cmocka_unit_test(test_airtime_fsk__published),
        cmocka_unit_test(test_airtime_lr_fhss__coding_rates),
        cmocka_unit_test(test_airtime_dr__lorawan_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
