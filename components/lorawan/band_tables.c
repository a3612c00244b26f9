/* Regional-parameter tables: data rates, maximum payload sizes (M; N = M - 8), RX1
 * data-rate offsets, default channels, RX2, beacons, sub-bands, TX power.
 *
 * Section references are to RP002-1.0.3 (Regional Parameters, 2021) unless noted; RP001
 * means "LoRaWAN Regional Parameters" 1.0.2rA/rB, 1.0.3rA, 1.1rA/rB. Values were checked
 * against brocaar/lorawan band/ (Go), chirpstack lrwn/src/region/ (Rust) and
 * TheThingsNetwork/lorawan-stack pkg/band/ (Go) (facts only; no code carried over). */
#include "lorawan/lorawan.h"
#include "lorawan/band_private.h"

#define R  LORAWAN__M_RFU
#define UP LORAWAN__UP
#define DN LORAWAN__DOWN
#define UD (LORAWAN__UP | LORAWAN__DOWN)

#define LORA(sf_, bw_khz_, link_)                                                                  \
    {                                                                                              \
        .kind = LORAWAN__DR_LORA, .sf = (sf_), .link = (link_), .hz = (bw_khz_)*1000u              \
    }
#define FSK50(link_)                                                                               \
    {                                                                                              \
        .kind = LORAWAN__DR_FSK, .link = (link_), .bps = 50000u                                    \
    }
#define FHSS(cr_, ocw_hz_)                                                                         \
    {                                                                                              \
        .kind = LORAWAN__DR_FHSS, .cr = (cr_), .link = UP, .hz = (ocw_hz_)                         \
    }
#define RFU                                                                                        \
    {                                                                                              \
        .kind = LORAWAN__DR_RFU                                                                    \
    }

/* ---- Data rates ---- */

/* EU868 Table 6 (also EU433, CN779, RU864, AS923 DR0..7): DR0..5 SF12..SF7/125 kHz,
 * DR6 SF7/250 kHz, DR7 FSK 50 kbps, all both directions. */
static const lorawan__dr_def_t eu_drs[16] = {
    LORA(12, 125, UD),
    LORA(11, 125, UD),
    LORA(10, 125, UD),
    LORA(9, 125, UD),
    LORA(8, 125, UD),
    LORA(7, 125, UD),
    LORA(7, 250, UD),
    FSK50(UD),
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
};

/* EU868 from RP002-1.0.2: DR8..11 LR-FHSS, uplink only: CR 1/3 and 2/3 at 137 kHz and
 * 336 kHz occupied channel width (RP002-1.0.3 Table 6). */
static const lorawan__dr_def_t eu_drs_fhss[16] = {
    LORA(12, 125, UD),
    LORA(11, 125, UD),
    LORA(10, 125, UD),
    LORA(9, 125, UD),
    LORA(8, 125, UD),
    LORA(7, 125, UD),
    LORA(7, 250, UD),
    FSK50(UD),
    FHSS(1, 137000u),
    FHSS(2, 137000u),
    FHSS(1, 336000u),
    FHSS(2, 336000u),
    RFU,
    RFU,
    RFU,
    RFU,
};

/* KR920 Table 83: DR0..5 only, DR6..15 RFU. */
static const lorawan__dr_def_t kr_drs[16] = {
    LORA(12, 125, UD),
    LORA(11, 125, UD),
    LORA(10, 125, UD),
    LORA(9, 125, UD),
    LORA(8, 125, UD),
    LORA(7, 125, UD),
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
};

/* IN865 Table 93: DR0..5, DR6 RFU, DR7 FSK 50 kbps. */
static const lorawan__dr_def_t in_drs[16] = {
    LORA(12, 125, UD),
    LORA(11, 125, UD),
    LORA(10, 125, UD),
    LORA(9, 125, UD),
    LORA(8, 125, UD),
    LORA(7, 125, UD),
    RFU,
    FSK50(UD),
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
};

/* US915 Table 14 (and AU915 in RP001-1.0.2 rev A, which still used the US915 rates):
 * DR0..3 SF10..SF7/125 kHz and DR4 SF8/500 kHz uplink only; DR8..13 SF12..SF7/500 kHz
 * downlink only; DR5..7 RFU. */
static const lorawan__dr_def_t us_drs[16] = {
    LORA(10, 125, UP),
    LORA(9, 125, UP),
    LORA(8, 125, UP),
    LORA(7, 125, UP),
    LORA(8, 500, UP),
    RFU,
    RFU,
    RFU,
    LORA(12, 500, DN),
    LORA(11, 500, DN),
    LORA(10, 500, DN),
    LORA(9, 500, DN),
    LORA(8, 500, DN),
    LORA(7, 500, DN),
    RFU,
    RFU,
};

/* US915 from RP002-1.0.2: DR5/DR6 LR-FHSS 1.523 MHz, CR 1/3 and 2/3; DR7 stays RFU. */
static const lorawan__dr_def_t us_drs_fhss[16] = {
    LORA(10, 125, UP),
    LORA(9, 125, UP),
    LORA(8, 125, UP),
    LORA(7, 125, UP),
    LORA(8, 500, UP),
    FHSS(1, 1523000u),
    FHSS(2, 1523000u),
    RFU,
    LORA(12, 500, DN),
    LORA(11, 500, DN),
    LORA(10, 500, DN),
    LORA(9, 500, DN),
    LORA(8, 500, DN),
    LORA(7, 500, DN),
    RFU,
    RFU,
};

/* AU915 from RP001-1.0.2 rev B (Table 39): DR0..5 SF12..SF7/125 kHz and DR6 SF8/500 kHz
 * uplink; DR8..13 SF12..SF7/500 kHz downlink. */
static const lorawan__dr_def_t au_drs[16] = {
    LORA(12, 125, UP),
    LORA(11, 125, UP),
    LORA(10, 125, UP),
    LORA(9, 125, UP),
    LORA(8, 125, UP),
    LORA(7, 125, UP),
    LORA(8, 500, UP),
    RFU,
    LORA(12, 500, DN),
    LORA(11, 500, DN),
    LORA(10, 500, DN),
    LORA(9, 500, DN),
    LORA(8, 500, DN),
    LORA(7, 500, DN),
    RFU,
    RFU,
};

/* AU915 from RP002-1.0.2: DR7 LR-FHSS 1.523 MHz, CR 1/3. */
static const lorawan__dr_def_t au_drs_fhss[16] = {
    LORA(12, 125, UP),
    LORA(11, 125, UP),
    LORA(10, 125, UP),
    LORA(9, 125, UP),
    LORA(8, 125, UP),
    LORA(7, 125, UP),
    LORA(8, 500, UP),
    FHSS(1, 1523000u),
    LORA(12, 500, DN),
    LORA(11, 500, DN),
    LORA(10, 500, DN),
    LORA(9, 500, DN),
    LORA(8, 500, DN),
    LORA(7, 500, DN),
    RFU,
    RFU,
};

/* CN470 RP001 and RP002-1.0.0: DR0..5 SF12..SF7/125 kHz. */
static const lorawan__dr_def_t cn_drs_rp1[16] = {
    LORA(12, 125, UD),
    LORA(11, 125, UD),
    LORA(10, 125, UD),
    LORA(9, 125, UD),
    LORA(8, 125, UD),
    LORA(7, 125, UD),
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
};

/* CN470 from RP002-1.0.1 (Table 70): adds DR6 SF7/500 kHz and DR7 FSK 50 kbps. */
static const lorawan__dr_def_t cn_drs_rp2[16] = {
    LORA(12, 125, UD),
    LORA(11, 125, UD),
    LORA(10, 125, UD),
    LORA(9, 125, UD),
    LORA(8, 125, UD),
    LORA(7, 125, UD),
    LORA(7, 500, UD),
    FSK50(UD),
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
    RFU,
};

/* ---- Maximum MACPayload sizes M (N = M - 8) ---- */

/* EU868 Tables 10/11: 59, 59, 59, 123, then 250 (not repeater compatible) or 230
 * (repeater compatible). Shared by EU433, CN779, RU864, KR920, IN865 and AS923 without
 * dwell time up to RP002-1.0.0, and CN470 up to RP002-1.0.0; entries for data rates a band
 * marks RFU are never reached. */
static const uint16_t eu_m[16] = {59, 59, 59, 123, 250, 250, 250, 250, R, R, R, R, R, R, R, R};
static const uint16_t eu_m_rep[16] = {59, 59, 59, 123, 230, 230, 230, 230, R, R, R, R, R, R, R, R};
/* EU868 from RP002-1.0.2: LR-FHSS DR8..11 M = 58, 123, 58, 123 for both settings.
 * chirpstack lists DR4 as {m: 250, n: 222}; brocaar and the spec give N = M - 8 = 242. */
static const uint16_t eu_m_fhss[16] = {59, 59,  59, 123, 250, 250, 250, 250,
                                       58, 123, 58, 123, R,   R,   R,   R};
static const uint16_t eu_m_fhss_rep[16] = {59, 59,  59, 123, 230, 230, 230, 230,
                                           58, 123, 58, 123, R,   R,   R,   R};

/* US915 Tables 19/20. RP001: DR0..4 = 19, 61, 133, 250, 250; DR8..13 = 61, 137, 250 x4
 * (repeater: 41, 117, 230 x4; DR3/DR4 stay 250). RP002-1.0.0 lowers the repeater DR3/DR4
 * to 230. RP002-1.0.2 adds LR-FHSS DR5 = 58, DR6 = 133 and raises the repeater DR8/DR9 to
 * 61/137 (brocaar and chirpstack agree). */
static const uint16_t us_m_rp1[16] = {19, 61,  133, 250, 250, R,   R, R,
                                      61, 137, 250, 250, 250, 250, R, R};
static const uint16_t us_m_rep_rp1[16] = {19, 61,  133, 250, 250, R,   R, R,
                                          41, 117, 230, 230, 230, 230, R, R};
static const uint16_t us_m_rep_rp2[16] = {19, 61,  133, 230, 230, R,   R, R,
                                          41, 117, 230, 230, 230, 230, R, R};
static const uint16_t us_m_rp2_fhss[16] = {19, 61,  133, 250, 250, 58,  133, R,
                                           61, 137, 250, 250, 250, 250, R,   R};
static const uint16_t us_m_rep_rp2_fhss[16] = {19, 61,  133, 230, 230, 58,  133, R,
                                               61, 137, 230, 230, 230, 230, R,   R};

/* AU915 RP001-1.0.2 rev A (US915-style rates): DR2 = 134 as in LoRaWAN 1.0.1. */
static const uint16_t au_m_reva[16] = {19, 61,  134, 250, 250, R,   R, R,
                                       61, 137, 250, 250, 250, 250, R, R};
static const uint16_t au_m_rep_reva[16] = {19, 61,  134, 250, 250, R,   R, R,
                                           41, 117, 230, 230, 230, 230, R, R};
/* AU915 from RP001-1.0.2 rev B (Tables 43/44). With the 400 ms uplink dwell time (RP001
 * 1.0.3 rev A, 1.1 rev B and RP002) DR0/DR1 are N/A and DR2..4 shrink to 19, 61, 133.
 * For repeater + dwell time chirpstack keeps DR5/DR6 at 250 in RP001 and 230 in RP002. */
static const uint16_t au_m[16] = {59, 59,  59,  123, 250, 250, 250, R,
                                  61, 137, 250, 250, 250, 250, R,   R};
static const uint16_t au_m_rep[16] = {59, 59,  59,  123, 230, 230, 230, R,
                                      41, 117, 230, 230, 230, 230, R,   R};
static const uint16_t au_m_dwell[16] = {0,  0,   19,  61,  133, 250, 250, R,
                                        61, 137, 250, 250, 250, 250, R,   R};
static const uint16_t au_m_dwell_rep_rp1[16] = {0,  0,   19,  61,  133, 250, 250, R,
                                                41, 117, 230, 230, 230, 230, R,   R};
static const uint16_t au_m_dwell_rep_rp2[16] = {0,  0,   19,  61,  133, 230, 230, R,
                                                41, 117, 230, 230, 230, 230, R,   R};
/* AU915 from RP002-1.0.2: DR7 LR-FHSS M = 58; repeater DR8/DR9 = 61/137 as in US915. */
static const uint16_t au_m_fhss[16] = {59, 59,  59,  123, 250, 250, 250, 58,
                                       61, 137, 250, 250, 250, 250, R,   R};
static const uint16_t au_m_rep_fhss[16] = {59, 59,  59,  123, 230, 230, 230, 58,
                                           61, 137, 230, 230, 230, 230, R,   R};
static const uint16_t au_m_dwell_fhss[16] = {0,  0,   19,  61,  133, 250, 250, 58,
                                             61, 137, 250, 250, 250, 250, R,   R};
static const uint16_t au_m_dwell_rep_fhss[16] = {0,  0,   19,  61,  133, 230, 230, 58,
                                                 61, 137, 230, 230, 230, 230, R,   R};

/* AS923 Tables 60/61. Without dwell time as EU868 up to RP002-1.0.0; RP002-1.0.1 raises
 * DR2 to 123 (chirpstack; TTS agrees). With the 400 ms dwell time DR0/DR1 are N/A and
 * DR2..4 are 19, 61, 133. Repeater + dwell time: brocaar keeps 250 for DR5..7, chirpstack
 * and the repeater rule of the spec give 230; 230 is used. */
static const uint16_t as_m_rp2[16] = {59, 59, 123, 123, 250, 250, 250, 250, R, R, R, R, R, R, R, R};
static const uint16_t as_m_rep_rp2[16] = {59, 59, 123, 123, 230, 230, 230, 230,
                                          R,  R,  R,   R,   R,   R,   R,   R};
static const uint16_t as_m_dwell[16] = {0, 0, 19, 61, 133, 250, 250, 250, R, R, R, R, R, R, R, R};
static const uint16_t as_m_dwell_rep[16] = {0, 0, 19, 61, 133, 230, 230, 230,
                                            R, R, R,  R,  R,   R,   R,   R};

/* CN470 from RP002-1.0.1 (Table 74): DR0 N/A, DR1 31, DR2 94, DR3 192, DR4..7 250
 * (repeater 230). Repeater DR3 is 172 in RP002-1.0.1 and 192 from RP002-1.0.2
 * (chirpstack). TTS lists DR3 = 172 for the non-repeater table; chirpstack 192 is used. */
static const uint16_t cn_m_rp2[16] = {0, 31, 94, 192, 250, 250, 250, 250, R, R, R, R, R, R, R, R};
static const uint16_t cn_m_rep_rp2_101[16] = {0, 31, 94, 172, 230, 230, 230, 230,
                                              R, R,  R,  R,   R,   R,   R,   R};
static const uint16_t cn_m_rep_rp2[16] = {0, 31, 94, 192, 230, 230, 230, 230,
                                          R, R,  R,  R,   R,   R,   R,   R};

/* ---- RX1 data-rate tables ---- */

/* US915 Table 21 (offsets 0..3), rows DR0..6 (DR5/6 LR-FHSS from RP002-1.0.2). */
static const int8_t us_rx1[16][8] = {
    {10, 9, 8, 8, -1, -1, -1, -1},    {11, 10, 9, 8, -1, -1, -1, -1},
    {12, 11, 10, 9, -1, -1, -1, -1},  {13, 12, 11, 10, -1, -1, -1, -1},
    {13, 13, 12, 11, -1, -1, -1, -1}, {10, 9, 8, 8, -1, -1, -1, -1},
    {11, 10, 9, 8, -1, -1, -1, -1},   {-1, -1, -1, -1, -1, -1, -1, -1},
    {-1, -1, -1, -1, -1, -1, -1, -1}, {-1, -1, -1, -1, -1, -1, -1, -1},
    {-1, -1, -1, -1, -1, -1, -1, -1}, {-1, -1, -1, -1, -1, -1, -1, -1},
    {-1, -1, -1, -1, -1, -1, -1, -1}, {-1, -1, -1, -1, -1, -1, -1, -1},
    {-1, -1, -1, -1, -1, -1, -1, -1}, {-1, -1, -1, -1, -1, -1, -1, -1},
};

/* AU915 Table 45 (offsets 0..5), rows DR0..7 (DR7 LR-FHSS from RP002-1.0.2). */
static const int8_t au_rx1[16][8] = {
    {8, 8, 8, 8, 8, 8, -1, -1},       {9, 8, 8, 8, 8, 8, -1, -1},
    {10, 9, 8, 8, 8, 8, -1, -1},      {11, 10, 9, 8, 8, 8, -1, -1},
    {12, 11, 10, 9, 8, 8, -1, -1},    {13, 12, 11, 10, 9, 8, -1, -1},
    {13, 13, 12, 11, 10, 9, -1, -1},  {9, 8, 8, 8, 8, 8, -1, -1},
    {-1, -1, -1, -1, -1, -1, -1, -1}, {-1, -1, -1, -1, -1, -1, -1, -1},
    {-1, -1, -1, -1, -1, -1, -1, -1}, {-1, -1, -1, -1, -1, -1, -1, -1},
    {-1, -1, -1, -1, -1, -1, -1, -1}, {-1, -1, -1, -1, -1, -1, -1, -1},
    {-1, -1, -1, -1, -1, -1, -1, -1}, {-1, -1, -1, -1, -1, -1, -1, -1},
};

/* IN865 Table 98 (offsets 0..7; 6 and 7 raise the data rate). For DR5 with offset 7 the
 * spec table reads 7 and TTS computes 7; brocaar and chirpstack cap at DR5. The majority
 * (DR5) is used. */
static const int8_t in_rx1[16][8] = {
    {0, 0, 0, 0, 0, 0, 1, 2},         {1, 0, 0, 0, 0, 0, 2, 3},
    {2, 1, 0, 0, 0, 0, 3, 4},         {3, 2, 1, 0, 0, 0, 4, 5},
    {4, 3, 2, 1, 0, 0, 5, 5},         {5, 4, 3, 2, 1, 0, 5, 5},
    {-1, -1, -1, -1, -1, -1, -1, -1}, {7, 6, 5, 4, 3, 2, 7, 7},
    {-1, -1, -1, -1, -1, -1, -1, -1}, {-1, -1, -1, -1, -1, -1, -1, -1},
    {-1, -1, -1, -1, -1, -1, -1, -1}, {-1, -1, -1, -1, -1, -1, -1, -1},
    {-1, -1, -1, -1, -1, -1, -1, -1}, {-1, -1, -1, -1, -1, -1, -1, -1},
    {-1, -1, -1, -1, -1, -1, -1, -1}, {-1, -1, -1, -1, -1, -1, -1, -1},
};

/* ---- Default channels ---- */

static const lorawan__chgroup_t eu_up[] = {{868100000u, 200000u, 3, 0, 5}};
static const lorawan__chgroup_t eu433_up[] = {{433175000u, 200000u, 3, 0, 5}};
static const lorawan__chgroup_t cn779_up[] = {{779500000u, 200000u, 3, 0, 5}};
static const lorawan__chgroup_t kr_up[] = {{922100000u, 200000u, 3, 0, 5}};
static const lorawan__chgroup_t in_up[] = {
    {865062500u, 0, 1, 0, 5}, {865402500u, 0, 1, 0, 5}, {865985000u, 0, 1, 0, 5}};
static const lorawan__chgroup_t ru_up[] = {{868900000u, 200000u, 2, 0, 5}};
/* AS923 group 1; the other groups subtract the band's frequency offset. */
static const lorawan__chgroup_t as_up[] = {{923200000u, 200000u, 2, 0, 5}};

/* US915 §2.5.2: 64 x 125 kHz from 902.3 MHz step 200 kHz (DR0..3), 8 x 500 kHz from
 * 903.0 MHz step 1.6 MHz (DR4; DR4..6 from RP002-1.0.2 with LR-FHSS); downlink 8 x 500 kHz
 * from 923.3 MHz step 600 kHz (DR8..13). */
static const lorawan__chgroup_t us_up[] = {{902300000u, 200000u, 64, 0, 3},
                                           {903000000u, 1600000u, 8, 4, 4}};
static const lorawan__chgroup_t us_up_fhss[] = {{902300000u, 200000u, 64, 0, 3},
                                                {903000000u, 1600000u, 8, 4, 6}};
static const lorawan__chgroup_t usau_down[] = {{923300000u, 600000u, 8, 8, 13}};
/* AU915 §2.7.2: 64 x 125 kHz from 915.2 MHz (DR0..5), 8 x 500 kHz from 915.9 MHz (DR6;
 * DR6..7 from RP002-1.0.2); RP001-1.0.2 rev A used DR0..3 / DR4. */
static const lorawan__chgroup_t au_up_reva[] = {{915200000u, 200000u, 64, 0, 3},
                                                {915900000u, 1600000u, 8, 4, 4}};
static const lorawan__chgroup_t au_up[] = {{915200000u, 200000u, 64, 0, 5},
                                           {915900000u, 1600000u, 8, 6, 6}};
static const lorawan__chgroup_t au_up_fhss[] = {{915200000u, 200000u, 64, 0, 5},
                                                {915900000u, 1600000u, 8, 6, 7}};
/* CN470 RP001: 96 uplink from 470.3 MHz, 48 downlink from 500.3 MHz, step 200 kHz;
 * RX1 channel = uplink channel mod 48. */
static const lorawan__chgroup_t cn_up[] = {{470300000u, 200000u, 96, 0, 5}};
static const lorawan__chgroup_t cn_down[] = {{500300000u, 200000u, 48, 0, 5}};
/* CN470 RP002-1.0.1 §2.6.2 antenna-type plans (TTS pkg/band/cn_470_510_*.go). */
static const lorawan__chgroup_t cn20a_up[] = {{470300000u, 200000u, 32, 0, 5},
                                              {503500000u, 200000u, 32, 0, 5}};
static const lorawan__chgroup_t cn20a_down[] = {{483900000u, 200000u, 32, 0, 5},
                                                {490300000u, 200000u, 32, 0, 5}};
static const lorawan__chgroup_t cn20b_up[] = {{476900000u, 200000u, 32, 0, 5},
                                              {496900000u, 200000u, 32, 0, 5}};
static const lorawan__chgroup_t cn26a_up[] = {{470300000u, 200000u, 48, 0, 5}};
static const lorawan__chgroup_t cn26a_down[] = {{490100000u, 200000u, 24, 0, 5}};
static const lorawan__chgroup_t cn26b_up[] = {{480300000u, 200000u, 48, 0, 5}};
static const lorawan__chgroup_t cn26b_down[] = {{500100000u, 200000u, 24, 0, 5}};

#define N(a) ((uint8_t)(sizeof(a) / sizeof((a)[0])))

/* ---- Eras ---- */

#define ERA_EU(from_, to_, drs_, m_, mr_, up_)                                                     \
    {                                                                                              \
        .from = (from_), .to = (to_), .drs = (drs_), .m = (m_), .m_rep = (mr_),                    \
        .rx1_kind = LORAWAN__RX1_EU, .rx1_max_offset = 5, .up = (up_), .n_up = N(up_)              \
    }

static const lorawan__era_t eu868_eras[] = {
    ERA_EU(LORAWAN_RP001_1_0_2, LORAWAN_RP002_1_0_1, eu_drs, eu_m, eu_m_rep, eu_up),
    ERA_EU(LORAWAN_RP002_1_0_2, LORAWAN_RP002_1_0_5, eu_drs_fhss, eu_m_fhss, eu_m_fhss_rep, eu_up),
};
static const lorawan__era_t eu433_eras[] = {
    ERA_EU(LORAWAN_RP001_1_0_2, LORAWAN_RP002_1_0_5, eu_drs, eu_m, eu_m_rep, eu433_up),
};
static const lorawan__era_t cn779_eras[] = {
    ERA_EU(LORAWAN_RP001_1_0_2, LORAWAN_RP002_1_0_5, eu_drs, eu_m, eu_m_rep, cn779_up),
};
static const lorawan__era_t kr920_eras[] = {
    ERA_EU(LORAWAN_RP001_1_0_2, LORAWAN_RP002_1_0_5, kr_drs, eu_m, eu_m_rep, kr_up),
};
static const lorawan__era_t ru864_eras[] = {
    ERA_EU(LORAWAN_RP001_1_0_3_A, LORAWAN_RP002_1_0_5, eu_drs, eu_m, eu_m_rep, ru_up),
};
static const lorawan__era_t in865_eras[] = {
    {.from = LORAWAN_RP001_1_0_2_B,
     .to = LORAWAN_RP002_1_0_5,
     .drs = in_drs,
     .m = eu_m,
     .m_rep = eu_m_rep,
     .rx1_kind = LORAWAN__RX1_TABLE,
     .rx1_max_offset = 7,
     .rx1 = in_rx1,
     .up = in_up,
     .n_up = N(in_up)},
};

#define ERA_AS(from_, to_, m_, mr_)                                                                \
    {                                                                                              \
        .from = (from_), .to = (to_), .drs = eu_drs, .m = (m_), .m_rep = (mr_),                    \
        .m_dwell = as_m_dwell, .m_dwell_rep = as_m_dwell_rep, .rx1_kind = LORAWAN__RX1_AS923,      \
        .rx1_max_offset = 7, .up = as_up, .n_up = N(as_up)                                         \
    }

static const lorawan__era_t as923_eras[] = {
    ERA_AS(LORAWAN_RP001_1_0_2, LORAWAN_RP002_1_0_0, eu_m, eu_m_rep),
    ERA_AS(LORAWAN_RP002_1_0_1, LORAWAN_RP002_1_0_5, as_m_rp2, as_m_rep_rp2),
};

#define ERA_US(from_, to_, drs_, m_, mr_, up_)                                                     \
    {                                                                                              \
        .from = (from_), .to = (to_), .drs = (drs_), .m = (m_), .m_rep = (mr_),                    \
        .rx1_kind = LORAWAN__RX1_TABLE, .rx1_max_offset = 3, .rx1 = us_rx1, .up = (up_),           \
        .n_up = N(up_), .down = usau_down, .n_down = N(usau_down), .rx1_channel_mod = 8            \
    }

static const lorawan__era_t us915_eras[] = {
    ERA_US(LORAWAN_RP001_1_0_2, LORAWAN_RP001_1_1_B, us_drs, us_m_rp1, us_m_rep_rp1, us_up),
    ERA_US(LORAWAN_RP002_1_0_0, LORAWAN_RP002_1_0_1, us_drs, us_m_rp1, us_m_rep_rp2, us_up),
    ERA_US(LORAWAN_RP002_1_0_2, LORAWAN_RP002_1_0_5, us_drs_fhss, us_m_rp2_fhss, us_m_rep_rp2_fhss,
           us_up_fhss),
};

#define ERA_AU(from_, to_, drs_, m_, mr_, md_, mdr_, up_)                                          \
    {                                                                                              \
        .from = (from_), .to = (to_), .drs = (drs_), .m = (m_), .m_rep = (mr_), .m_dwell = (md_),  \
        .m_dwell_rep = (mdr_), .rx1_kind = LORAWAN__RX1_TABLE, .rx1_max_offset = 5, .rx1 = au_rx1, \
        .up = (up_), .n_up = N(up_), .down = usau_down, .n_down = N(usau_down),                    \
        .rx1_channel_mod = 8                                                                       \
    }

static const lorawan__era_t au915_eras[] = {
    /* RP001-1.0.2 rev A: US915-style data rates and RX1 table. */
    ERA_US(LORAWAN_RP001_1_0_2, LORAWAN_RP001_1_0_2, us_drs, au_m_reva, au_m_rep_reva, au_up_reva),
    ERA_AU(LORAWAN_RP001_1_0_2_B, LORAWAN_RP001_1_0_2_B, au_drs, au_m, au_m_rep, NULL, NULL, au_up),
    ERA_AU(LORAWAN_RP001_1_0_3_A, LORAWAN_RP001_1_0_3_A, au_drs, au_m, au_m_rep, au_m_dwell,
           au_m_dwell_rep_rp1, au_up),
    ERA_AU(LORAWAN_RP001_1_1_A, LORAWAN_RP001_1_1_A, au_drs, au_m, au_m_rep, NULL, NULL, au_up),
    ERA_AU(LORAWAN_RP001_1_1_B, LORAWAN_RP001_1_1_B, au_drs, au_m, au_m_rep, au_m_dwell,
           au_m_dwell_rep_rp1, au_up),
    ERA_AU(LORAWAN_RP002_1_0_0, LORAWAN_RP002_1_0_1, au_drs, au_m, au_m_rep, au_m_dwell,
           au_m_dwell_rep_rp2, au_up),
    ERA_AU(LORAWAN_RP002_1_0_2, LORAWAN_RP002_1_0_5, au_drs_fhss, au_m_fhss, au_m_rep_fhss,
           au_m_dwell_fhss, au_m_dwell_rep_fhss, au_up_fhss),
};

#define ERA_CN(from_, to_, drs_, m_, mr_, up_, down_, mod_)                                        \
    {                                                                                              \
        .from = (from_), .to = (to_), .drs = (drs_), .m = (m_), .m_rep = (mr_),                    \
        .rx1_kind = LORAWAN__RX1_EU, .rx1_max_offset = 5, .up = (up_), .n_up = N(up_),             \
        .down = (down_), .n_down = N(down_), .rx1_channel_mod = (mod_)                             \
    }

static const lorawan__era_t cn470_eras[] = {
    ERA_CN(LORAWAN_RP001_1_0_2, LORAWAN_RP002_1_0_0, cn_drs_rp1, eu_m, eu_m_rep, cn_up, cn_down,
           48),
    ERA_CN(LORAWAN_RP002_1_0_1, LORAWAN_RP002_1_0_1, cn_drs_rp2, cn_m_rp2, cn_m_rep_rp2_101, cn_up,
           cn_down, 48),
    ERA_CN(LORAWAN_RP002_1_0_2, LORAWAN_RP002_1_0_5, cn_drs_rp2, cn_m_rp2, cn_m_rep_rp2, cn_up,
           cn_down, 48),
};

#define CN_VARIANT_ERAS(name_, up_, down_, mod_)                                                   \
    static const lorawan__era_t name_[] = {                                                        \
        ERA_CN(LORAWAN_RP002_1_0_1, LORAWAN_RP002_1_0_1, cn_drs_rp2, cn_m_rp2, cn_m_rep_rp2_101,   \
               up_, down_, mod_),                                                                  \
        ERA_CN(LORAWAN_RP002_1_0_2, LORAWAN_RP002_1_0_5, cn_drs_rp2, cn_m_rp2, cn_m_rep_rp2, up_,  \
               down_, mod_),                                                                       \
    }

/* 20 MHz type B receives RX1 on the uplink frequency (TTS); mod 0 = same index. */
CN_VARIANT_ERAS(cn20a_eras, cn20a_up, cn20a_down, 0);
CN_VARIANT_ERAS(cn20b_eras, cn20b_up, cn20b_up, 0);
CN_VARIANT_ERAS(cn26a_eras, cn26a_up, cn26a_down, 24);
CN_VARIANT_ERAS(cn26b_eras, cn26b_up, cn26b_down, 24);

/* ---- Sub-bands (duty cycle, max EIRP) ---- */

/* EU868: ETSI EN 300 220-2 bands K, L, M, N, P, Q (as TTS pkg/band/eu_863_870.go);
 * 14 dBm ERP = 16.15 dBm EIRP, 27 dBm ERP = 29.15 dBm EIRP. */
static const lorawan_sub_band_t eu868_sb[] = {
    {863000000u, 865000000u, 1000u, 1615},   {865000000u, 868000000u, 10000u, 1615},
    {868000000u, 868600000u, 10000u, 1615},  {868700000u, 869200000u, 1000u, 1615},
    {869400000u, 869650000u, 100000u, 2915}, {869700000u, 870000000u, 10000u, 1615},
};
static const lorawan_sub_band_t us915_sb[] = {{902000000u, 928000000u, 1000000u, 3000}};
static const lorawan_sub_band_t au915_sb[] = {{915000000u, 928000000u, 1000000u, 3000}};
static const lorawan_sub_band_t as923_1_sb[] = {{915000000u, 928000000u, 10000u, 1615}};
static const lorawan_sub_band_t kr920_sb[] = {{920900000u, 923300000u, 1000000u, 1400}};
static const lorawan_sub_band_t in865_sb[] = {{865000000u, 867000000u, 1000000u, 3000}};
/* RU864: 864-865 MHz 0.1%, 866-868 MHz 1%, 868.7-869.2 MHz 0.1%, 869.4-869.65 MHz 10%. */
static const lorawan_sub_band_t ru864_sb[] = {
    {864000000u, 865000000u, 1000u, 1615},
    {866000000u, 868000000u, 10000u, 1615},
    {868700000u, 869200000u, 10000u, 1615},
    {869400000u, 869650000u, 100000u, 1615},
};
static const lorawan_sub_band_t cn470_sb[] = {{470000000u, 510000000u, 1000000u, 1915}};
static const lorawan_sub_band_t eu433_sb[] = {{433175000u, 434665000u, 10000u, 1215}};
static const lorawan_sub_band_t cn779_sb[] = {{779500000u, 786500000u, 10000u, 1215}};

/* ---- Bands ---- */

#define BEACON_FIXED(dr_, freq_, ping_)                                                            \
    {                                                                                              \
        .dr = (dr_), .coding_rate = "4/5", .first_freq_hz = (freq_), .step_hz = 0, .n_freqs = 1,   \
        .ping_slot_freq_hz = (ping_)                                                               \
    }
#define BEACON_HOP(dr_, first_, step_, n_)                                                         \
    {                                                                                              \
        .dr = (dr_), .coding_rate = "4/5", .first_freq_hz = (first_), .step_hz = (step_),          \
        .n_freqs = (n_), .ping_slot_freq_hz = 0                                                    \
    }
#define BEACON_NONE                                                                                \
    {                                                                                              \
        .dr = 2, .coding_rate = "4/5", .n_freqs = 0                                                \
    }

/* A band whose channels the network can add (EU868-like). */
#define DYN_BAND(id_, name_, tts_, min_rev_, eras_, rx2_hz_, rx2_dr_, beacon_, eirp_, txmax_, sb_) \
    {                                                                                              \
        .id = (id_), .name = (name_), .tts_id = (tts_), .min_rev = (min_rev_), .eras = (eras_),    \
        .n_eras = N(eras_), .chmask_kind = LORAWAN__CHMASK_EU, .max_channels = 16,                 \
        .dynamic = true, .rx2 = {(rx2_hz_), (rx2_dr_)}, .beacon = beacon_,                         \
        .max_eirp_cdbm = (eirp_), .tx_power_max = (txmax_), .sub_bands = (sb_),                    \
        .n_sub_bands = N(sb_)                                                                      \
    }

#define AS923_BAND(id_, name_, tts_, off_)                                                         \
    {                                                                                              \
        .id = (id_), .name = (name_), .tts_id = (tts_), .min_rev = LORAWAN_RP001_1_0_2,            \
        .eras = as923_eras, .n_eras = N(as923_eras), .chmask_kind = LORAWAN__CHMASK_EU,            \
        .max_channels = 16, .dynamic = true, .freq_offset_hz = (off_),                             \
        .rx2 = {923200000u - (off_), 2},                                                           \
        .beacon = BEACON_FIXED(3, 923400000u - (off_), 923400000u - (off_)),                       \
        .max_eirp_cdbm = 1600, .tx_power_max = 7, .sub_bands = as923_1_sb,                         \
        .n_sub_bands = N(as923_1_sb)                                                               \
    }

#define CN_VARIANT(id_, name_, tts_, eras_, maxch_, rx2_hz_, beacon_)                              \
    {                                                                                              \
        .id = (id_), .name = (name_), .tts_id = (tts_), .min_rev = LORAWAN_RP002_1_0_1,            \
        .eras = (eras_), .n_eras = N(eras_), .chmask_kind = LORAWAN__CHMASK_BLOCKS,                \
        .max_channels = (maxch_), .rx2 = {(rx2_hz_), 1}, .beacon = beacon_, .max_eirp_cdbm = 1915, \
        .tx_power_max = 7, .sub_bands = cn470_sb, .n_sub_bands = N(cn470_sb)                       \
    }

/* RX2 (RP002 "RX2 receive window"), beacon (RP002 "Beacon settings") and default max
 * EIRP / TXPower range per band. AS923 groups 2..4 (RP002-1.0.1 §2.8.2) shift every
 * frequency by -1.8, -6.6 and -5.9 MHz. */
const lorawan_band_t lorawan__bands[LORAWAN_BAND_COUNT] = {
    [LORAWAN_BAND_EU868] =
        DYN_BAND(LORAWAN_BAND_EU868, "EU868", "EU_863_870", LORAWAN_RP001_1_0_2, eu868_eras,
                 869525000u, 0, BEACON_FIXED(3, 869525000u, 869525000u), 1600, 7, eu868_sb),
    [LORAWAN_BAND_US915] = {.id = LORAWAN_BAND_US915,
                            .name = "US915",
                            .tts_id = "US_902_928",
                            .min_rev = LORAWAN_RP001_1_0_2,
                            .eras = us915_eras,
                            .n_eras = N(us915_eras),
                            .chmask_kind = LORAWAN__CHMASK_US,
                            .max_channels = 72,
                            .rx2 = {923300000u, 8},
                            .beacon = BEACON_HOP(8, 923300000u, 600000u, 8),
                            .max_eirp_cdbm = 3000,
                            .tx_power_max = 14,
                            .sub_bands = us915_sb,
                            .n_sub_bands = N(us915_sb)},
    [LORAWAN_BAND_AU915] = {.id = LORAWAN_BAND_AU915,
                            .name = "AU915",
                            .tts_id = "AU_915_928",
                            .min_rev = LORAWAN_RP001_1_0_2,
                            .eras = au915_eras,
                            .n_eras = N(au915_eras),
                            .chmask_kind = LORAWAN__CHMASK_US,
                            .max_channels = 72,
                            .rx2 = {923300000u, 8},
                            .beacon = BEACON_HOP(8, 923300000u, 600000u, 8),
                            .max_eirp_cdbm = 3000,
                            .tx_power_max = 14,
                            .sub_bands = au915_sb,
                            .n_sub_bands = N(au915_sb)},
    [LORAWAN_BAND_AS923_1] = AS923_BAND(LORAWAN_BAND_AS923_1, "AS923-1", "AS_923", 0),
    [LORAWAN_BAND_AS923_2] = AS923_BAND(LORAWAN_BAND_AS923_2, "AS923-2", "AS_923_2", 1800000),
    [LORAWAN_BAND_AS923_3] = AS923_BAND(LORAWAN_BAND_AS923_3, "AS923-3", "AS_923_3", 6600000),
    [LORAWAN_BAND_AS923_4] = AS923_BAND(LORAWAN_BAND_AS923_4, "AS923-4", "AS_923_4", 5900000),
    [LORAWAN_BAND_KR920] =
        DYN_BAND(LORAWAN_BAND_KR920, "KR920", "KR_920_923", LORAWAN_RP001_1_0_2, kr920_eras,
                 921900000u, 0, BEACON_FIXED(3, 923100000u, 923100000u), 1400, 7, kr920_sb),
    [LORAWAN_BAND_IN865] =
        DYN_BAND(LORAWAN_BAND_IN865, "IN865", "IN_865_867", LORAWAN_RP001_1_0_2_B, in865_eras,
                 866550000u, 2, BEACON_FIXED(4, 866550000u, 866550000u), 3000, 10, in865_sb),
    [LORAWAN_BAND_RU864] =
        DYN_BAND(LORAWAN_BAND_RU864, "RU864", "RU_864_870", LORAWAN_RP001_1_0_3_A, ru864_eras,
                 869100000u, 0, BEACON_FIXED(3, 869100000u, 868900000u), 1600, 7, ru864_sb),
    /* CN470 RP001: beacon DR2 hopping over 508.3 + 0.2 n MHz (n = 0..7). */
    [LORAWAN_BAND_CN470] = {.id = LORAWAN_BAND_CN470,
                            .name = "CN470",
                            .tts_id = "CN_470_510",
                            .min_rev = LORAWAN_RP001_1_0_2,
                            .eras = cn470_eras,
                            .n_eras = N(cn470_eras),
                            .chmask_kind = LORAWAN__CHMASK_BLOCKS,
                            .max_channels = 96,
                            .rx2 = {505300000u, 0},
                            .beacon = BEACON_HOP(2, 508300000u, 200000u, 8),
                            .max_eirp_cdbm = 1915,
                            .tx_power_max = 7,
                            .sub_bands = cn470_sb,
                            .n_sub_bands = N(cn470_sb)},
    /* RP002 CN470 RX2: 486.9 / 498.3 / 492.5 / 502.5 MHz at DR1 (DR0 is N/A in RP002;
     * TTS lists DR0 for type 20A). Beacon: only 26 MHz type B has a published single
     * frequency here (504.9 MHz, TTS); the others are left undefined. */
    [LORAWAN_BAND_CN470_20A] = CN_VARIANT(LORAWAN_BAND_CN470_20A, "CN470-20A", "CN_470_510_20_A",
                                          cn20a_eras, 64, 486900000u, BEACON_NONE),
    [LORAWAN_BAND_CN470_20B] = CN_VARIANT(LORAWAN_BAND_CN470_20B, "CN470-20B", "CN_470_510_20_B",
                                          cn20b_eras, 64, 498300000u, BEACON_NONE),
    [LORAWAN_BAND_CN470_26A] = CN_VARIANT(LORAWAN_BAND_CN470_26A, "CN470-26A", "CN_470_510_26_A",
                                          cn26a_eras, 48, 492500000u, BEACON_NONE),
    [LORAWAN_BAND_CN470_26B] =
        CN_VARIANT(LORAWAN_BAND_CN470_26B, "CN470-26B", "CN_470_510_26_B", cn26b_eras, 48,
                   502500000u, BEACON_FIXED(2, 504900000u, 504900000u)),
    [LORAWAN_BAND_EU433] =
        DYN_BAND(LORAWAN_BAND_EU433, "EU433", "EU_433", LORAWAN_RP001_1_0_2, eu433_eras, 434665000u,
                 0, BEACON_FIXED(3, 434665000u, 434665000u), 1215, 5, eu433_sb),
    [LORAWAN_BAND_CN779] =
        DYN_BAND(LORAWAN_BAND_CN779, "CN779", "CN_779_787", LORAWAN_RP001_1_0_2, cn779_eras,
                 786000000u, 0, BEACON_FIXED(3, 785000000u, 785000000u), 1215, 5, cn779_sb),
};
