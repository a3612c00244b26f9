/* Frequency plans as The Things Network publishes them (TheThingsNetwork/
 * lorawan-frequency-plans: frequency-plans.yml and the per-plan YAML files). Facts only:
 * channel frequencies and data rates, LoRa standard and FSK channels, sub-bands, LBT and
 * dwell-time settings. Where a YAML file leaves a setting out, the band default applies
 * (the repository README: "When not specifying optional settings, the band defaults are
 * used"); such fields hold the band default here so that a plan reads complete. */
#include <string.h>

#include "lorawan/lorawan.h"

#define NELEMS(a) ((uint8_t)(sizeof(a) / sizeof((a)[0])))

/* ---- Europe ---- */

/* EU_863_870.yml: the 3 default channels, then 867.1..867.9 MHz; RX1 on the uplink
 * frequency; LoRa standard channel 868.3 MHz DR6 (SF7/250 kHz); FSK 868.8 MHz DR7. */
static const lorawan_fp_channel_t eu868_ch[] = {
    {868100000u, 0, 5}, {868300000u, 0, 5}, {868500000u, 0, 5}, {867100000u, 0, 5},
    {867300000u, 0, 5}, {867500000u, 0, 5}, {867700000u, 0, 5}, {867900000u, 0, 5},
};

/* EU_433.yml: 433.175 + 0.2 n MHz (n = 0..7), standard channel 434.075 MHz DR6; one
 * sub-band 433.05..434.79 MHz, duty cycle 10% (ETSI; the YAML notes the LoRaWAN end-device
 * limit of 1%), 12.15 dBm EIRP. */
static const lorawan_fp_channel_t eu433_ch[] = {
    {433175000u, 0, 5}, {433375000u, 0, 5}, {433575000u, 0, 5}, {433775000u, 0, 5},
    {433975000u, 0, 5}, {434175000u, 0, 5}, {434375000u, 0, 5}, {434575000u, 0, 5},
};
static const lorawan_sub_band_t eu433_sb[] = {{433050000u, 434790000u, 100000u, 1215}};

/* ---- US902-928 and AU915-928: FSB n uses the 8 channels of 125 kHz block n and the
 * 500 kHz channel between them. ---- */

/* US_902_928_FSB_n.yml: 902.3 + 1.6 (n-1) + 0.2 k MHz (k = 0..7, DR0..3); LoRa standard
 * channel 903.0 + 1.6 (n-1) MHz, SF8/500 kHz (the YAML writes data-rate 12, the index of
 * SF8/500 kHz among the downlink rates; the uplink index of the same modulation is DR4);
 * dwell time 400 ms on uplinks. Downlinks: the band's 923.3 + 0.6 k MHz, DR8..13. */
#define US_FSB(n)                                                                                  \
    static const lorawan_fp_channel_t us_fsb##n##_ch[] = {                                         \
        {902300000u + 1600000u * ((n)-1) + 0u, 0, 3},                                              \
        {902300000u + 1600000u * ((n)-1) + 200000u, 0, 3},                                         \
        {902300000u + 1600000u * ((n)-1) + 400000u, 0, 3},                                         \
        {902300000u + 1600000u * ((n)-1) + 600000u, 0, 3},                                         \
        {902300000u + 1600000u * ((n)-1) + 800000u, 0, 3},                                         \
        {902300000u + 1600000u * ((n)-1) + 1000000u, 0, 3},                                        \
        {902300000u + 1600000u * ((n)-1) + 1200000u, 0, 3},                                        \
        {902300000u + 1600000u * ((n)-1) + 1400000u, 0, 3},                                        \
    }
US_FSB(1);
US_FSB(2);
US_FSB(3);
US_FSB(4);
US_FSB(5);
US_FSB(6);
US_FSB(7);
US_FSB(8);

/* AU_915_928_FSB_n.yml: 915.2 + 1.6 (n-1) + 0.2 k MHz (DR0..5); LoRa standard channel
 * 915.9 + 1.6 (n-1) MHz SF8/500 kHz (YAML data-rate 12; uplink index DR6); downlinks
 * 923.3 + 0.6 k MHz DR8..13 (listed in the YAML). */
#define AU_FSB(n)                                                                                  \
    static const lorawan_fp_channel_t au_fsb##n##_ch[] = {                                         \
        {915200000u + 1600000u * ((n)-1) + 0u, 0, 5},                                              \
        {915200000u + 1600000u * ((n)-1) + 200000u, 0, 5},                                         \
        {915200000u + 1600000u * ((n)-1) + 400000u, 0, 5},                                         \
        {915200000u + 1600000u * ((n)-1) + 600000u, 0, 5},                                         \
        {915200000u + 1600000u * ((n)-1) + 800000u, 0, 5},                                         \
        {915200000u + 1600000u * ((n)-1) + 1000000u, 0, 5},                                        \
        {915200000u + 1600000u * ((n)-1) + 1200000u, 0, 5},                                        \
        {915200000u + 1600000u * ((n)-1) + 1400000u, 0, 5},                                        \
    }
AU_FSB(1);
AU_FSB(2);
AU_FSB(3);
AU_FSB(4);
AU_FSB(5);
AU_FSB(6);
AU_FSB(7);
AU_FSB(8);

static const lorawan_fp_channel_t usau_down[] = {
    {923300000u, 8, 13}, {923900000u, 8, 13}, {924500000u, 8, 13}, {925100000u, 8, 13},
    {925700000u, 8, 13}, {926300000u, 8, 13}, {926900000u, 8, 13}, {927500000u, 8, 13},
};

/* ---- Asia ---- */

/* AS_920_923.yml: 923.2, 923.4 (defaults), 922.2, 922.4, 922.6, 922.8, 923.0, 922.0 MHz;
 * standard channel 922.1 MHz DR6, FSK 921.8 MHz DR7; sub-band 922.0..923.4 MHz (no duty
 * cycle given: the YAML default 1 = 100%). */
static const lorawan_fp_channel_t as920_ch[] = {
    {923200000u, 0, 5}, {923400000u, 0, 5}, {922200000u, 0, 5}, {922400000u, 0, 5},
    {922600000u, 0, 5}, {922800000u, 0, 5}, {923000000u, 0, 5}, {922000000u, 0, 5},
};
static const lorawan_sub_band_t as920_sb[] = {{922000000u, 923400000u, 1000000u, 1600}};

/* AS_923_925.yml: 923.2 .. 924.6 MHz step 200 kHz; standard 924.5 MHz DR6, FSK 924.8 MHz
 * DR7; sub-band 923.2..924.6 MHz. */
static const lorawan_fp_channel_t as923_925_ch[] = {
    {923200000u, 0, 5}, {923400000u, 0, 5}, {923600000u, 0, 5}, {923800000u, 0, 5},
    {924000000u, 0, 5}, {924200000u, 0, 5}, {924400000u, 0, 5}, {924600000u, 0, 5},
};
static const lorawan_sub_band_t as923_925_sb[] = {{923200000u, 924600000u, 1000000u, 1600}};

/* AS_920_923_TTN_AU.yml: AS_920_923 with one sub-band 915..928 MHz, duty cycle 1, and a
 * 30 dBm max EIRP; AS_923_925_TTN_AU.yml: AS_923_925 with max EIRP 30 dBm. */
static const lorawan_sub_band_t as_au_sb[] = {{915000000u, 928000000u, 1000000u, 3000}};

/* AS_923(_2/_3/_4): the group's two default channels only (923.2/923.4 MHz shifted by the
 * group offset, RP002-1.0.3 §2.8.2). */
static const lorawan_fp_channel_t as923_1_ch[] = {{923200000u, 0, 5}, {923400000u, 0, 5}};
static const lorawan_fp_channel_t as923_2_ch[] = {{921400000u, 0, 5}, {921600000u, 0, 5}};
static const lorawan_fp_channel_t as923_3_ch[] = {{916600000u, 0, 5}, {916800000u, 0, 5}};
static const lorawan_fp_channel_t as923_4_ch[] = {{917300000u, 0, 5}, {917500000u, 0, 5}};

/* KR_920_923_TTN.yml: 922.1 .. 923.3 MHz step 200 kHz, LBT -80 dBm, offset -4, 128 µs. */
static const lorawan_fp_channel_t kr_ch[] = {
    {922100000u, 0, 5}, {922300000u, 0, 5}, {922500000u, 0, 5}, {922700000u, 0, 5},
    {922900000u, 0, 5}, {923100000u, 0, 5}, {923300000u, 0, 5},
};

/* IN_865_867.yml (current version): the 3 defaults, then 865.2325, 866.185, 866.385,
 * 866.585, 866.785 MHz; RX1 on the uplink frequency. */
static const lorawan_fp_channel_t in_ch[] = {
    {865062500u, 0, 5}, {865402500u, 0, 5}, {865985000u, 0, 5}, {865232500u, 0, 5},
    {866185000u, 0, 5}, {866385000u, 0, 5}, {866585000u, 0, 5}, {866785000u, 0, 5},
};

/* RU_864_870_TTN: the two defaults 868.9 / 869.1 MHz and 864.1 .. 864.9 MHz step 200 kHz,
 * as listed on The Things Network's frequency-plan page. The YAML itself was not among the
 * sources checked; see the report. */
static const lorawan_fp_channel_t ru_ch[] = {
    {868900000u, 0, 5}, {869100000u, 0, 5}, {864100000u, 0, 5}, {864300000u, 0, 5},
    {864500000u, 0, 5}, {864700000u, 0, 5}, {864900000u, 0, 5},
};

/* CN_470_510_FSB_11.yml: uplink 486.3 .. 487.7 MHz, downlink 506.7 .. 508.1 MHz, step
 * 200 kHz (RP001 CN470 channels 80..87 and downlink 32..39). */
static const lorawan_fp_channel_t cn_fsb11_up[] = {
    {486300000u, 0, 5}, {486500000u, 0, 5}, {486700000u, 0, 5}, {486900000u, 0, 5},
    {487100000u, 0, 5}, {487300000u, 0, 5}, {487500000u, 0, 5}, {487700000u, 0, 5},
};
static const lorawan_fp_channel_t cn_fsb11_down[] = {
    {506700000u, 0, 5}, {506900000u, 0, 5}, {507100000u, 0, 5}, {507300000u, 0, 5},
    {507500000u, 0, 5}, {507700000u, 0, 5}, {507900000u, 0, 5}, {508100000u, 0, 5},
};

/* CN_779_787: TTN publishes no plan for this band; this one is the band's three default
 * channels (RP002-1.0.3 CN779 Table) so that every band has a plan. */
static const lorawan_fp_channel_t cn779_ch[] = {
    {779500000u, 0, 5}, {779700000u, 0, 5}, {779900000u, 0, 5}};

/* LBT settings of lbt_80_over_128.yml and KR_920_923_TTN.yml. */
#define LBT_80_128                                                                                 \
    {                                                                                              \
        .rssi_target_dbm = -80, .rssi_offset_db = -4, .scan_time_us = 128                          \
    }

#define PLAN_US(n)                                                                                 \
    {                                                                                              \
        .id = "US_902_928_FSB_" #n, .name = "United States 902-928 MHz, FSB " #n,                  \
        .band = LORAWAN_BAND_US915, .uplink = us_fsb##n##_ch, .n_uplink = NELEMS(us_fsb##n##_ch),  \
        .downlink = usau_down, .n_downlink = NELEMS(usau_down),                                    \
        .lora_std = {903000000u + 1600000u * ((n)-1), 4}, .rx2 = {923300000u, 8},                  \
        .uplink_dwell_time = true                                                                  \
    }

#define PLAN_AU(n)                                                                                 \
    {                                                                                              \
        .id = "AU_915_928_FSB_" #n, .name = "Australia 915-928 MHz, FSB " #n,                      \
        .band = LORAWAN_BAND_AU915, .uplink = au_fsb##n##_ch, .n_uplink = NELEMS(au_fsb##n##_ch),  \
        .downlink = usau_down, .n_downlink = NELEMS(usau_down),                                    \
        .lora_std = {915900000u + 1600000u * ((n)-1), 6}, .rx2 = {                                 \
            923300000u,                                                                            \
            8                                                                                      \
        }                                                                                          \
    }

#define PLAN_EU868(id_, name_, rx2_dr_)                                                            \
    {                                                                                              \
        .id = (id_), .name = (name_), .band = LORAWAN_BAND_EU868, .uplink = eu868_ch,              \
        .n_uplink = NELEMS(eu868_ch), .downlink = eu868_ch, .n_downlink = NELEMS(eu868_ch),        \
        .lora_std = {868300000u, 6}, .fsk = {868800000u, 7}, .rx2 = {                              \
            869525000u,                                                                            \
            (rx2_dr_)                                                                              \
        }                                                                                          \
    }

#define PLAN_AS920(id_, name_, sb_, lbt_on_, eirp_)                                                \
    {                                                                                              \
        .id = (id_), .name = (name_), .band = LORAWAN_BAND_AS923_1, .uplink = as920_ch,            \
        .n_uplink = NELEMS(as920_ch), .downlink = as920_ch, .n_downlink = NELEMS(as920_ch),        \
        .lora_std = {922100000u, 6}, .fsk = {921800000u, 7}, .rx2 = {923200000u, 2},               \
        .sub_bands = (sb_), .n_sub_bands = NELEMS(sb_), .has_lbt = (lbt_on_), .lbt = LBT_80_128,   \
        .max_eirp_dbm = (eirp_)                                                                    \
    }

#define PLAN_AS923_925(id_, name_, lbt_on_, eirp_)                                                 \
    {                                                                                              \
        .id = (id_), .name = (name_), .band = LORAWAN_BAND_AS923_1, .uplink = as923_925_ch,        \
        .n_uplink = NELEMS(as923_925_ch), .downlink = as923_925_ch,                                \
        .n_downlink = NELEMS(as923_925_ch), .lora_std = {924500000u, 6}, .fsk = {924800000u, 7},   \
        .rx2 = {923200000u, 2}, .sub_bands = as923_925_sb, .n_sub_bands = NELEMS(as923_925_sb),    \
        .has_lbt = (lbt_on_), .lbt = LBT_80_128, .max_eirp_dbm = (eirp_)                           \
    }

#define PLAN_AS923_GROUP(id_, name_, band_, ch_, rx2_hz_)                                          \
    {                                                                                              \
        .id = (id_), .name = (name_), .band = (band_), .uplink = (ch_), .n_uplink = NELEMS(ch_),   \
        .downlink = (ch_), .n_downlink = NELEMS(ch_), .rx2 = {                                     \
            (rx2_hz_),                                                                             \
            2                                                                                      \
        }                                                                                          \
    }

static const lorawan_freqplan_t plans[] = {
    PLAN_EU868("EU_863_870", "Europe 863-870 MHz (SF12 for RX2)", 0),
    /* EU_863_870_TTN: EU_863_870 with the RX2 default data rate 3 (SF9). */
    PLAN_EU868("EU_863_870_TTN", "Europe 863-870 MHz (SF9 for RX2 - recommended)", 3),
    {.id = "EU_433",
     .name = "Europe 433 MHz (ITU region 1)",
     .band = LORAWAN_BAND_EU433,
     .uplink = eu433_ch,
     .n_uplink = NELEMS(eu433_ch),
     .downlink = eu433_ch,
     .n_downlink = NELEMS(eu433_ch),
     .lora_std = {434075000u, 6},
     .rx2 = {434665000u, 0},
     .sub_bands = eu433_sb,
     .n_sub_bands = NELEMS(eu433_sb)},
    PLAN_US(1),
    PLAN_US(2),
    PLAN_US(3),
    PLAN_US(4),
    PLAN_US(5),
    PLAN_US(6),
    PLAN_US(7),
    PLAN_US(8),
    PLAN_AU(1),
    PLAN_AU(2),
    PLAN_AU(3),
    PLAN_AU(4),
    PLAN_AU(5),
    PLAN_AU(6),
    PLAN_AU(7),
    PLAN_AU(8),
    PLAN_AS920("AS_920_923", "Asia 920-923 MHz", as920_sb, false, 0),
    PLAN_AS920("AS_920_923_LBT", "Asia 920-923 MHz with LBT", as920_sb, true, 0),
    PLAN_AS920("AS_920_923_TTN_AU", "Asia 920-923 MHz (used by TTN Australia)", as_au_sb, false,
               30),
    PLAN_AS923_925("AS_923_925", "Asia 923-925 MHz", false, 0),
    PLAN_AS923_925("AS_923_925_LBT", "Asia 923-925 MHz with LBT", true, 0),
    PLAN_AS923_925("AS_923_925_TTN_AU",
                   "Asia 923-925 MHz (used by TTN Australia - secondary channels)", false, 30),
    PLAN_AS923_GROUP("AS_923", "Asia 915-928 MHz (AS923 Group 1) with only default channels",
                     LORAWAN_BAND_AS923_1, as923_1_ch, 923200000u),
    PLAN_AS923_GROUP("AS_923_2", "Asia 920-923 MHz (AS923 Group 2) with only default channels",
                     LORAWAN_BAND_AS923_2, as923_2_ch, 921400000u),
    PLAN_AS923_GROUP("AS_923_3", "Asia 915-921 MHz (AS923 Group 3) with only default channels",
                     LORAWAN_BAND_AS923_3, as923_3_ch, 916600000u),
    PLAN_AS923_GROUP("AS_923_4", "Asia 917-920 MHz (AS923 Group 4) with only default channels",
                     LORAWAN_BAND_AS923_4, as923_4_ch, 917300000u),
    {.id = "KR_920_923_TTN",
     .name = "South Korea 920-923 MHz",
     .band = LORAWAN_BAND_KR920,
     .uplink = kr_ch,
     .n_uplink = NELEMS(kr_ch),
     .downlink = kr_ch,
     .n_downlink = NELEMS(kr_ch),
     .rx2 = {921900000u, 0},
     .has_lbt = true,
     .lbt = LBT_80_128},
    {.id = "IN_865_867",
     .name = "India 865-867 MHz",
     .band = LORAWAN_BAND_IN865,
     .uplink = in_ch,
     .n_uplink = NELEMS(in_ch),
     .downlink = in_ch,
     .n_downlink = NELEMS(in_ch),
     .rx2 = {866550000u, 2}},
    {.id = "RU_864_870_TTN",
     .name = "Russia 864-870 MHz",
     .band = LORAWAN_BAND_RU864,
     .uplink = ru_ch,
     .n_uplink = NELEMS(ru_ch),
     .downlink = ru_ch,
     .n_downlink = NELEMS(ru_ch),
     .rx2 = {869100000u, 0}},
    {.id = "CN_470_510_FSB_11",
     .name = "China 470-510 MHz, FSB 11 (used by TTN)",
     .band = LORAWAN_BAND_CN470,
     .uplink = cn_fsb11_up,
     .n_uplink = NELEMS(cn_fsb11_up),
     .downlink = cn_fsb11_down,
     .n_downlink = NELEMS(cn_fsb11_down),
     .rx2 = {505300000u, 0}},
    {.id = "CN_779_787",
     .name = "China 779-787 MHz (band default channels)",
     .band = LORAWAN_BAND_CN779,
     .uplink = cn779_ch,
     .n_uplink = NELEMS(cn779_ch),
     .downlink = cn779_ch,
     .n_downlink = NELEMS(cn779_ch),
     .rx2 = {786000000u, 0}},
};

const lorawan_freqplan_t *lorawan_freqplan_find(const char *id)
{
    if (id == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(plans) / sizeof(plans[0]); i++) {
        if (strcmp(plans[i].id, id) == 0)
            return &plans[i];
    }
    return NULL;
}

size_t lorawan_freqplan_count(void)
{
    return sizeof(plans) / sizeof(plans[0]);
}

const lorawan_freqplan_t *lorawan_freqplan_at(size_t i)
{
    if (i >= lorawan_freqplan_count())
        return NULL;
    return &plans[i];
}

size_t lorawan_freqplan_sub_bands(const lorawan_freqplan_t *fp, const lorawan_sub_band_t **out)
{
    if (fp == NULL || out == NULL) {
        if (out != NULL)
            *out = NULL;
        return 0;
    }
    if (fp->sub_bands != NULL) {
        *out = fp->sub_bands;
        return fp->n_sub_bands;
    }
    return lorawan_band_sub_bands(lorawan_band_get(fp->band), out);
}
