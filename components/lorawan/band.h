/* Regional parameters (LoRaWAN RP001 / RP002): bands, data rates, payload sizes, channels,
 * frequency plans and time-on-air. Pure: no I/O, no allocation, no globals beyond const
 * tables. Included by lorawan.h.
 *
 * Sources: LoRaWAN Regional Parameters RP001-1.0.2 (rev A/B), RP001-1.0.3 rev A, RP001-1.1
 * (rev A/B) and RP002-1.0.0 .. RP002-1.0.4, cross-checked against the tables of
 * brocaar/lorawan (band/), chirpstack (lrwn/src/region/) and TheThingsNetwork/lorawan-stack
 * (pkg/band/). Where those disagree the spec and their majority is followed and the choice
 * is noted next to the table in band_tables.c. */
#ifndef LORAWAN_BAND_H
#define LORAWAN_BAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Regional Parameters revisions, oldest first, so revisions compare with < and >=. */
typedef enum lorawan_rp_rev {
    LORAWAN_RP001_1_0_2 = 0,
    LORAWAN_RP001_1_0_2_B,
    LORAWAN_RP001_1_0_3_A,
    LORAWAN_RP001_1_1_A,
    LORAWAN_RP001_1_1_B,
    LORAWAN_RP002_1_0_0,
    LORAWAN_RP002_1_0_1,
    LORAWAN_RP002_1_0_2,
    LORAWAN_RP002_1_0_3,
    LORAWAN_RP002_1_0_4,
    LORAWAN_RP002_1_0_5, /* tables as RP002-1.0.4 (chirpstack's "latest" covers both) */
} lorawan_rp_rev_t;

#define LORAWAN_RP_REV_COUNT 11u

typedef enum lorawan_modulation {
    LORAWAN_MOD_LORA = 0,
    LORAWAN_MOD_FSK,
    LORAWAN_MOD_LR_FHSS,
} lorawan_modulation_t;

/* One data rate of a band, for one RP revision and repeater setting. */
typedef struct lorawan_dr {
    lorawan_modulation_t modulation;
    uint8_t spreading_factor;           /* LoRa */
    uint32_t bandwidth_hz;              /* LoRa */
    const char *coding_rate;            /* LoRa "4/5"; LR-FHSS "1/3" or "2/3"; FSK NULL */
    uint32_t bit_rate_bps;              /* FSK */
    uint32_t occupied_channel_width_hz; /* LR-FHSS */
    uint16_t max_mac_payload_m;         /* M; 0 when the spec marks it N/A (not usable) */
    uint16_t max_frm_payload_n;         /* N = M - 8 (0 when M is 0) */
    bool uplink;
    bool downlink;
} lorawan_dr_t;

typedef struct lorawan_band lorawan_band_t;

/* Bands. CN470 is the RP001 / RP002-1.0.0 plan (96 uplink, 48 downlink channels); the
 * RP002-1.0.1 antenna-type plans are separate bands with the same data rates. */
typedef enum lorawan_band_id {
    LORAWAN_BAND_EU868 = 0,
    LORAWAN_BAND_US915,
    LORAWAN_BAND_AU915,
    LORAWAN_BAND_AS923_1,
    LORAWAN_BAND_AS923_2,
    LORAWAN_BAND_AS923_3,
    LORAWAN_BAND_AS923_4,
    LORAWAN_BAND_KR920,
    LORAWAN_BAND_IN865,
    LORAWAN_BAND_RU864,
    LORAWAN_BAND_CN470,
    LORAWAN_BAND_CN470_20A,
    LORAWAN_BAND_CN470_20B,
    LORAWAN_BAND_CN470_26A,
    LORAWAN_BAND_CN470_26B,
    LORAWAN_BAND_EU433,
    LORAWAN_BAND_CN779,
    LORAWAN_BAND_COUNT
} lorawan_band_id_t;

/* Finds a band by its common name: "EU868", "US915", "AU915", "AS923-1".."AS923-4",
 * "KR920", "IN865", "RU864", "CN470", "EU433", "CN779" (also accepts the TTS band ids
 * "EU_863_870", "US_902_928", ...). Returns NULL when unknown. */
const lorawan_band_t *lorawan_band_find(const char *name);

/* The band with this id, or NULL when id is out of range. */
const lorawan_band_t *lorawan_band_get(lorawan_band_id_t id);

/* The band's id (LORAWAN_BAND_COUNT for NULL). */
lorawan_band_id_t lorawan_band_id(const lorawan_band_t *band);
/* Common name ("EU868", "AS923-2", "CN470-20A") and TTS id ("EU_863_870", "AS_923_2",
 * "CN_470_510_20_A"). Never NULL ("?" for a NULL band). */
const char *lorawan_band_name(const lorawan_band_t *band);
const char *lorawan_band_tts_id(const lorawan_band_t *band);

/* Whether the band is defined by revision `rev` (IN865 appears in RP001-1.0.2 rev B, RU864
 * in RP001-1.0.3 rev A, the CN470 antenna-type plans in RP002-1.0.1). */
bool lorawan_band_defined(const lorawan_band_t *band, lorawan_rp_rev_t rev);

/* Parses "RP002-1.0.3", "RP001-1.0.2-RevB", ... Returns 0 or LORAWAN_E_PARAM. */
int lorawan_rp_rev_parse(const char *s, lorawan_rp_rev_t *out);

/* Canonical name of a revision ("RP001-1.0.2-RevB", "RP002-1.0.3"); "?" when out of range. */
const char *lorawan_rp_rev_name(lorawan_rp_rev_t rev);

/* Fills *out with data rate `dr` of `band` under revision `rev`, with the payload sizes
 * without uplink/downlink dwell-time limit. Returns 0, or LORAWAN_E_DR when the data rate
 * is RFU / not defined for that band and revision (or the band is not defined by it),
 * LORAWAN_E_PARAM on NULL arguments. *out is unspecified on error. */
int lorawan_band_datarate(const lorawan_band_t *band, lorawan_rp_rev_t rev, uint8_t dr,
                          bool repeater_compatible, lorawan_dr_t *out);

/* As lorawan_band_datarate, with the payload sizes that apply under a 400 ms dwell-time
 * limit when `dwell_time` is set (AS923 and AU915; other bands ignore the flag). Use the
 * uplink dwell-time setting for uplink sizes and the downlink setting for downlink sizes. */
int lorawan_band_datarate_dwell(const lorawan_band_t *band, lorawan_rp_rev_t rev, uint8_t dr,
                                bool repeater_compatible, bool dwell_time, lorawan_dr_t *out);

/* Reverse lookup: the index of the data rate of `band`/`rev` whose modulation parameters
 * (modulation, spreading factor and bandwidth for LoRa; bit rate for FSK; coding rate and
 * occupied channel width for LR-FHSS) equal those of *want, usable in direction `uplink`.
 * Returns 0, LORAWAN_E_DR when none matches, LORAWAN_E_PARAM on NULL arguments. */
int lorawan_band_datarate_index(const lorawan_band_t *band, lorawan_rp_rev_t rev, bool uplink,
                                const lorawan_dr_t *want, uint8_t *dr_out);

/* RX1 data rate for an uplink at `uplink_dr` with RX1DROffset `offset` (RP002 "RX1DROffset"
 * tables; AS923 also applies the downlink dwell time, which raises the minimum to DR2).
 * Returns 0, LORAWAN_E_DR when uplink_dr is not an uplink data rate of the band,
 * LORAWAN_E_RANGE when the offset is beyond the band's table. */
int lorawan_band_rx1_dr(const lorawan_band_t *band, lorawan_rp_rev_t rev, uint8_t uplink_dr,
                        uint8_t offset, bool downlink_dwell_time, uint8_t *out);

/* The largest RX1DROffset the band defines (3 for US915 and RP001-1.0.2 rev A AU915, 7 for
 * AS923 and IN865, 5 otherwise). */
uint8_t lorawan_band_rx1_dr_offset_max(const lorawan_band_t *band, lorawan_rp_rev_t rev);

typedef struct lorawan_rx2 {
    uint32_t freq_hz;
    uint8_t dr;
} lorawan_rx2_t;

/* Default RX2 frequency and data rate. Returns 0 or LORAWAN_E_PARAM. */
int lorawan_band_rx2_default(const lorawan_band_t *band, lorawan_rp_rev_t rev, lorawan_rx2_t *out);

/* A channel: centre frequency and the data rates allowed on it. */
typedef struct lorawan_channel {
    uint32_t freq_hz;
    uint8_t min_dr;
    uint8_t max_dr;
} lorawan_channel_t;

/* Default uplink channels. For bands with a CFList of frequencies (EU868-like and AS923)
 * these are the join channels every device knows; for fixed-plan bands (US915, AU915,
 * CN470) they are all channels of the band, and every one is a join channel. */
unsigned lorawan_band_uplink_channel_count(const lorawan_band_t *band, lorawan_rp_rev_t rev);
int lorawan_band_uplink_channel(const lorawan_band_t *band, lorawan_rp_rev_t rev, unsigned index,
                                lorawan_channel_t *out);
/* Default downlink channels (RX1); for EU-like bands the same as the uplink channels. */
unsigned lorawan_band_downlink_channel_count(const lorawan_band_t *band, lorawan_rp_rev_t rev);
int lorawan_band_downlink_channel(const lorawan_band_t *band, lorawan_rp_rev_t rev, unsigned index,
                                  lorawan_channel_t *out);
/* The RX1 downlink channel index used for an uplink on channel `uplink_index` (US915,
 * AU915: index mod 8; CN470: mod 48; CN470-26A/B: mod 24; others the same index). */
int lorawan_band_rx1_channel(const lorawan_band_t *band, lorawan_rp_rev_t rev,
                             unsigned uplink_index, unsigned *out);
/* Whether the band lets the network add channels (NewChannelReq, CFList of frequencies). */
bool lorawan_band_dynamic_channels(const lorawan_band_t *band);
/* The largest number of channels a device of this band keeps (16 for dynamic bands). */
unsigned lorawan_band_max_channels(const lorawan_band_t *band, lorawan_rp_rev_t rev);

/* CFList types (LoRaWAN 1.1 §6.2.4, RP002 per band). */
typedef enum lorawan_cflist_type {
    LORAWAN_CFLIST_FREQUENCIES = 0,
    LORAWAN_CFLIST_CHMASK = 1,
    LORAWAN_CFLIST_NONE = 0xff, /* the band defines no CFList in this revision */
} lorawan_cflist_type_t;

lorawan_cflist_type_t lorawan_band_cflist_type(const lorawan_band_t *band, lorawan_rp_rev_t rev);

#define LORAWAN_CFLIST_LEN 16u

/* CFList type 0: five frequencies (24-bit little-endian, units of 100 Hz), then CFListType
 * 0. A zero frequency means "no channel". Encode returns LORAWAN_E_RANGE when a frequency
 * is not a multiple of 100 Hz or does not fit 24 bits. Decode returns LORAWAN_E_PARAM when
 * the last byte is not 0. */
int lorawan_cflist_freqs_encode(const uint32_t freqs_hz[5], uint8_t out[LORAWAN_CFLIST_LEN]);
int lorawan_cflist_freqs_decode(const uint8_t in[LORAWAN_CFLIST_LEN], uint32_t freqs_hz[5]);

/* A set of channel indices (up to 128), as a bitmap: channel i is bit i%64 of bits[i/64]. */
typedef struct lorawan_chset {
    uint64_t bits[2];
} lorawan_chset_t;

#define LORAWAN_CHSET_MAX 128u

void lorawan_chset_clear(lorawan_chset_t *set);
void lorawan_chset_set(lorawan_chset_t *set, unsigned ch, bool on);
bool lorawan_chset_test(const lorawan_chset_t *set, unsigned ch);
unsigned lorawan_chset_count(const lorawan_chset_t *set);

/* CFList type 1: ChMask0..ChMask4 (16-bit little-endian each, channels 0..79), 3 RFU bytes,
 * CFListType 1. */
int lorawan_cflist_chmask_encode(const lorawan_chset_t *set, uint8_t out[LORAWAN_CFLIST_LEN]);
int lorawan_cflist_chmask_decode(const uint8_t in[LORAWAN_CFLIST_LEN], lorawan_chset_t *set);

/* Applies one LinkADRReq ChMaskCntl/ChMask pair to *enabled, the set of enabled uplink
 * channels.
 * - EU-like bands (EU868, AS923, KR920, IN865, RU864, EU433, CN779): ChMaskCntl 0: ChMask
 *   is the enabled set of channels 0..15; 6: every defined channel on (ChMask ignored).
 *   `defined` is the set of channels the device has defined (NULL: the band's default
 *   channels); ChMask bits for undefined channels are an error.
 * - US915, AU915 (72 channels): 0..3: ChMask applies to channels 16*cntl..16*cntl+15;
 *   4: channels 64..71 (bits 0..7); 5 (RP001-1.1 and RP002): bit i of the low byte
 *   switches the bank of 125 kHz channels 8i..8i+7 and the 500 kHz channel 64+i;
 *   6: all 125 kHz channels on, ChMask bits 0..7 apply to 64..71; 7: all 125 kHz channels
 *   off, ChMask bits 0..7 apply to 64..71.
 * - CN470 (96 channels): 0..5: ChMask applies to channels 16*cntl..16*cntl+15; 6: all on.
 *   CN470-20A/B (64 channels): 0..3 blocks, 6 all on. CN470-26A/B (48): 0..2 blocks, 6.
 * Returns 0; LORAWAN_E_PARAM for an RFU ChMaskCntl, ChMask bits beyond the band's channels
 * or undefined channels. On error *enabled is unchanged. A caller applying a block of
 * LinkADRReq commands applies them in order to a copy and rejects an empty result. */
int lorawan_band_link_adr_apply(const lorawan_band_t *band, lorawan_rp_rev_t rev,
                                uint8_t ch_mask_cntl, uint16_t ch_mask,
                                const lorawan_chset_t *defined, lorawan_chset_t *enabled);

/* TxParamSetupReq MaxEIRP (LoRaWAN 1.0.4 §5.9 / 1.1 §5.12): index 0..15 → dBm
 * {8, 10, 12, 13, 14, 16, 18, 20, 21, 24, 26, 27, 29, 30, 33, 36}. Returns 0 or
 * LORAWAN_E_RANGE. */
int lorawan_max_eirp_dbm(uint8_t index, uint8_t *dbm);
/* The smallest index whose EIRP is at least `dbm` (what a network sends to allow dbm);
 * LORAWAN_E_RANGE above 36 dBm. */
int lorawan_max_eirp_index(uint8_t dbm, uint8_t *index);

/* Whether the band implements TxParamSetupReq (AS923 always; AU915 from RP001-1.0.3 rev A
 * except RP001-1.1 rev A). */
bool lorawan_band_tx_param_setup(const lorawan_band_t *band, lorawan_rp_rev_t rev);

/* LoRaWAN dwell-time limit when a dwell time of 1 is set (RP002 AS923, AU915). */
#define LORAWAN_DWELL_TIME_MS 400u

/* Default maximum EIRP of an end device, in hundredths of dBm (EU868 1600 = 16 dBm,
 * CN470 1915 = 19.15 dBm). */
int32_t lorawan_band_default_max_eirp_cdbm(const lorawan_band_t *band, lorawan_rp_rev_t rev);

/* LinkADRReq TXPower index → offset from the maximum EIRP in dB (0, -2, -4, ...).
 * Returns 0, or LORAWAN_E_RANGE for an index the band does not define (TXPower 15 means
 * "keep the current power" in LoRaWAN 1.0.4/1.1 and is not a table entry). */
int lorawan_band_tx_power_offset_db(const lorawan_band_t *band, lorawan_rp_rev_t rev,
                                    uint8_t tx_power, int8_t *offset_db);
/* The largest TXPower index the band defines. */
uint8_t lorawan_band_tx_power_max_index(const lorawan_band_t *band, lorawan_rp_rev_t rev);

/* Class B beacon parameters. A band either broadcasts on one frequency (freq_hz, n=1) or
 * hops over n frequencies first_hz + i * step_hz (US915, AU915, CN470). */
typedef struct lorawan_beacon_params {
    uint8_t dr;
    const char *coding_rate;    /* "4/5" */
    uint32_t first_freq_hz;     /* the only frequency when n_freqs is 1 */
    uint32_t step_hz;           /* 0 when n_freqs is 1 */
    uint8_t n_freqs;            /* 0 when the revision defines none */
    uint32_t ping_slot_freq_hz; /* default ping-slot frequency; 0: hops like the beacon */
} lorawan_beacon_params_t;

int lorawan_band_beacon(const lorawan_band_t *band, lorawan_rp_rev_t rev,
                        lorawan_beacon_params_t *out);
/* The beacon frequency for the beacon sent at GPS time `beacon_time_s` (a multiple of
 * 128 s): hopping bands use channel floor(beacon_time_s / 128) mod n. */
int lorawan_band_beacon_freq(const lorawan_band_t *band, lorawan_rp_rev_t rev,
                             uint32_t beacon_time_s, uint32_t *freq_hz);
/* The default ping-slot frequency for a device: fixed, or for hopping bands channel
 * (DevAddr + floor(beacon_time_s / 128)) mod n (LoRaWAN 1.0.4 Class B). */
int lorawan_band_ping_slot_freq(const lorawan_band_t *band, lorawan_rp_rev_t rev, uint32_t dev_addr,
                                uint32_t beacon_time_s, uint32_t *freq_hz);

/* A regulatory sub-band: frequency range (inclusive), duty cycle in parts per million
 * (1% = 10000, 100% = 1000000) and maximum EIRP in hundredths of dBm. */
typedef struct lorawan_sub_band {
    uint32_t min_freq_hz;
    uint32_t max_freq_hz;
    uint32_t duty_cycle_ppm;
    int32_t max_eirp_cdbm;
} lorawan_sub_band_t;

/* The band's sub-bands (*out points into a const table). Returns their number. */
size_t lorawan_band_sub_bands(const lorawan_band_t *band, const lorawan_sub_band_t **out);
/* The sub-band holding freq_hz, or NULL. */
const lorawan_sub_band_t *lorawan_band_sub_band_for(const lorawan_band_t *band, uint32_t freq_hz);

/* ---- Time-on-air (airtime.c) ---- */

typedef enum lorawan_ldro {
    LORAWAN_LDRO_AUTO = 0, /* on when the symbol time reaches 16 ms: SF11/SF12 at 125 kHz,
                              SF12 at 250 kHz (SX127x datasheet §4.1.1.6) */
    LORAWAN_LDRO_OFF,
    LORAWAN_LDRO_ON,
} lorawan_ldro_t;

/* LoRa time-on-air in microseconds (rounded to the nearest), by the Semtech formula
 * (SX1276 datasheet §4.1.1.7; AN1200.13):
 *   Tsym = 2^SF / BW
 *   Tpreamble = (preamble_symbols + 4.25) * Tsym
 *   payloadSym = 8 + max(ceil((8*PL - 4*SF + 28 + 16*CRC - 20*IH) / (4*(SF - 2*DE))) * CR, 0)
 * with CR = cr_denominator (5..8 for 4/5..4/8), IH = 1 for implicit header, DE = LDRO.
 * payload_len is the PHY payload (for LoRaWAN: the PHYPayload). Returns 0 for invalid
 * parameters (SF outside 5..12, bandwidth 0, CR outside 5..8, payload > 255). */
uint32_t lorawan_airtime_lora_us(size_t payload_len, uint8_t sf, uint32_t bw_hz,
                                 uint8_t cr_denominator, uint16_t preamble_symbols,
                                 bool explicit_header, bool crc, lorawan_ldro_t ldro);

/* FSK time-on-air in microseconds (rounded to the nearest):
 *   (preamble_bytes + sync_bytes + length byte + payload_len + 2 if crc) * 8 / bit_rate.
 * LoRaWAN FSK uses 5 preamble bytes, a 3-byte sync word, a length byte and a CRC
 * (RP002 §2.x "FSK" PHY: GFSK, BT 0.5, 50 kbps). Returns 0 when bit_rate_bps is 0. */
uint32_t lorawan_airtime_fsk_us(size_t payload_len, uint32_t bit_rate_bps, uint8_t preamble_bytes,
                                uint8_t sync_bytes, bool length_byte, bool crc);

/* LR-FHSS time-on-air in microseconds: the header is sent 3 times (CR 1/3) or twice
 * (CR 2/3), 233.472 ms each, followed by ceil((phy_len + 3) / 2) (CR 1/3) or
 * ceil((phy_len + 3) / 4) (CR 2/3) fragments of 102.4 ms (as TTS pkg/toa computes it for
 * the RP002 LR-FHSS data rates). `cr` is "1/3" or "2/3"; returns 0 otherwise. */
uint32_t lorawan_airtime_lr_fhss_us(size_t phy_len, const char *cr);

/* Time-on-air of a LoRaWAN PHYPayload of phy_len bytes at data rate `dr` of the band: LoRa
 * with 8 preamble symbols, explicit header, CR 4/5, CRC on for uplinks and off for
 * downlinks (LoRaWAN 1.0.4 §4.1), LDRO auto; FSK with the LoRaWAN framing above; LR-FHSS as above.
 * Returns 0, LORAWAN_E_DR for an undefined data rate, LORAWAN_E_PARAM for bad arguments. */
int lorawan_airtime_dr_us(const lorawan_band_t *band, lorawan_rp_rev_t rev, uint8_t dr,
                          size_t phy_len, bool uplink, uint32_t *out_us);

/* ---- Frequency plans (freqplan.c) ---- */

#define LORAWAN_FP_MAX_UPLINK   72u
#define LORAWAN_FP_MAX_DOWNLINK 16u
#define LORAWAN_FP_MAX_SUBBANDS 8u

typedef struct lorawan_fp_channel {
    uint32_t freq_hz;
    uint8_t min_dr;
    uint8_t max_dr;
} lorawan_fp_channel_t;

typedef struct lorawan_fp_single {
    uint32_t freq_hz;
    uint8_t dr; /* 0 with freq_hz 0: none */
} lorawan_fp_single_t;

typedef struct lorawan_fp_lbt {
    int16_t rssi_target_dbm; /* channel clear below this RSSI, e.g. -80 */
    int16_t rssi_offset_db;  /* correction added to the measured RSSI, e.g. -4 */
    uint32_t scan_time_us;   /* e.g. 128 */
} lorawan_fp_lbt_t;

typedef struct lorawan_freqplan {
    const char *id;         /* "EU_863_870_TTN" */
    const char *name;       /* "Europe 863-870 MHz (SF9 for RX2 - recommended)" */
    lorawan_band_id_t band; /* the band the plan is built on */
    const lorawan_fp_channel_t *uplink;
    uint8_t n_uplink;
    const lorawan_fp_channel_t *downlink; /* NULL with n_downlink 0: the band's RX1
                                             rules apply */
    uint8_t n_downlink;
    lorawan_fp_single_t lora_std;        /* LoRa standard (250/500 kHz) channel; freq 0: none */
    lorawan_fp_single_t fsk;             /* FSK channel; freq 0: none */
    lorawan_rx2_t rx2;                   /* RX2 the plan configures (may differ from the band) */
    const lorawan_sub_band_t *sub_bands; /* NULL: the band's (lorawan_freqplan_sub_bands) */
    uint8_t n_sub_bands;
    bool has_lbt;
    lorawan_fp_lbt_t lbt;
    bool uplink_dwell_time; /* dwell-time limit the plan sets (AS923, AU915) */
    bool downlink_dwell_time;
    int8_t max_eirp_dbm; /* plan-wide max EIRP override, 0 when none */
} lorawan_freqplan_t;

/* Finds a frequency plan by its TTN id ("EU_863_870_TTN", "US_902_928_FSB_2", ...).
 * Returns NULL when unknown. */
const lorawan_freqplan_t *lorawan_freqplan_find(const char *id);
/* Enumeration: the number of plans and plan i (NULL when i is out of range). */
size_t lorawan_freqplan_count(void);
const lorawan_freqplan_t *lorawan_freqplan_at(size_t i);
/* The plan's sub-bands, falling back to its band's; *out points into a const table.
 * Returns their number (0 with *out NULL on bad arguments). */
size_t lorawan_freqplan_sub_bands(const lorawan_freqplan_t *fp, const lorawan_sub_band_t **out);

#endif
