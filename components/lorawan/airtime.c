/* LoRa and FSK time-on-air. Integer arithmetic only: the LoRa formula is evaluated in
 * quarter symbols, so results are exact before the final rounding to microseconds. */
#include <string.h>

#include "lorawan/lorawan.h"
#include "lorawan/band_private.h"

/* LoRaWAN 1.0.4 §4.1 / RP002 §2.x: every LoRaWAN LoRa frame uses an 8-symbol preamble,
 * explicit header and coding rate 4/5; uplinks carry a payload CRC, downlinks do not. */
#define LORAWAN_PREAMBLE_SYMBOLS 8u
#define LORAWAN_CR_DENOMINATOR   5u
/* RP002 FSK PHY: 5-byte preamble, 3-byte sync word, length byte, CRC-16. */
#define LORAWAN_FSK_PREAMBLE_BYTES 5u
#define LORAWAN_FSK_SYNC_BYTES     3u

static bool ldro_on(uint8_t sf, uint32_t bw_hz, lorawan_ldro_t ldro)
{
    if (ldro == LORAWAN_LDRO_ON)
        return true;
    if (ldro == LORAWAN_LDRO_OFF)
        return false;
    /* SX1276 datasheet §4.1.1.6: mandated when the symbol time exceeds 16 ms, i.e.
     * 2^SF / BW >= 16 ms: SF11 and SF12 at 125 kHz, SF12 at 250 kHz. */
    return ((uint64_t)1 << sf) * 1000u >= (uint64_t)16u * bw_hz;
}

uint32_t lorawan_airtime_lora_us(size_t payload_len, uint8_t sf, uint32_t bw_hz,
                                 uint8_t cr_denominator, uint16_t preamble_symbols,
                                 bool explicit_header, bool crc, lorawan_ldro_t ldro)
{
    if (sf < 5 || sf > 12 || bw_hz == 0 || cr_denominator < 5 || cr_denominator > 8 ||
        payload_len > 255)
        return 0;
    int64_t de = ldro_on(sf, bw_hz, ldro) ? 1 : 0;
    int64_t ih = explicit_header ? 0 : 1;
    int64_t num = 8 * (int64_t)payload_len - 4 * (int64_t)sf + 28 + (crc ? 16 : 0) - 20 * ih;
    int64_t den = 4 * ((int64_t)sf - 2 * de);
    int64_t blocks = 0;
    if (num > 0)
        blocks = (num + den - 1) / den;
    int64_t payload_symbols = 8 + blocks * cr_denominator;
    /* Preamble: n + 4.25 symbols; everything in quarter symbols. */
    uint64_t quarters = 4u * (uint64_t)preamble_symbols + 17u + 4u * (uint64_t)payload_symbols;
    /* t_us = quarters / 4 * 2^SF / BW * 1e6, rounded to the nearest microsecond. */
    uint64_t num_us = quarters * ((uint64_t)1 << sf) * 1000000u;
    uint64_t den_us = 4u * (uint64_t)bw_hz;
    uint64_t us = (num_us + den_us / 2) / den_us;
    return us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

uint32_t lorawan_airtime_fsk_us(size_t payload_len, uint32_t bit_rate_bps, uint8_t preamble_bytes,
                                uint8_t sync_bytes, bool length_byte, bool crc)
{
    if (bit_rate_bps == 0)
        return 0;
    uint64_t bytes = (uint64_t)preamble_bytes + sync_bytes + (length_byte ? 1u : 0u) + payload_len +
                     (crc ? 2u : 0u);
    uint64_t us = (bytes * 8u * 1000000u + bit_rate_bps / 2) / bit_rate_bps;
    return us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

uint32_t lorawan_airtime_lr_fhss_us(size_t phy_len, const char *cr)
{
    uint64_t headers, per_fragment;
    if (cr != NULL && strcmp(cr, "1/3") == 0) {
        headers = 3;
        per_fragment = 2;
    } else if (cr != NULL && strcmp(cr, "2/3") == 0) {
        headers = 2;
        per_fragment = 4;
    } else {
        return 0;
    }
    uint64_t fragments = ((uint64_t)phy_len + 3u + per_fragment - 1u) / per_fragment;
    uint64_t us = headers * 233472u + fragments * 102400u;
    return us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

int lorawan_airtime_dr_us(const lorawan_band_t *band, lorawan_rp_rev_t rev, uint8_t dr,
                          size_t phy_len, bool uplink, uint32_t *out_us)
{
    if (band == NULL || out_us == NULL || phy_len > 255)
        return LORAWAN_E_PARAM;
    lorawan_dr_t d;
    int rc = lorawan_band_datarate(band, rev, dr, false, &d);
    if (rc != 0)
        return rc;
    switch (d.modulation) {
    case LORAWAN_MOD_LORA:
        *out_us = lorawan_airtime_lora_us(phy_len, d.spreading_factor, d.bandwidth_hz,
                                          LORAWAN_CR_DENOMINATOR, LORAWAN_PREAMBLE_SYMBOLS, true,
                                          uplink, LORAWAN_LDRO_AUTO);
        return 0;
    case LORAWAN_MOD_FSK:
        *out_us = lorawan_airtime_fsk_us(phy_len, d.bit_rate_bps, LORAWAN_FSK_PREAMBLE_BYTES,
                                         LORAWAN_FSK_SYNC_BYTES, true, true);
        return 0;
    default:
        *out_us = lorawan_airtime_lr_fhss_us(phy_len, d.coding_rate);
        return 0;
    }
}
