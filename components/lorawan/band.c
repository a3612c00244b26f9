/* Regional parameters: lookups over the tables of band_tables.c. */
#include <string.h>

#include "lorawan/lorawan.h"
#include "lorawan/band_private.h"

static const char *const rev_names[LORAWAN_RP_REV_COUNT] = {
    "RP001-1.0.2",    "RP001-1.0.2-RevB", "RP001-1.0.3-RevA", "RP001-1.1-RevA",
    "RP001-1.1-RevB", "RP002-1.0.0",      "RP002-1.0.1",      "RP002-1.0.2",
    "RP002-1.0.3",    "RP002-1.0.4",      "RP002-1.0.5",
};

/* ASCII case-insensitive equality in which '-', '_' and '.' are the same character, so
 * "RP002-1.0.3" also matches chirpstack's "RP002_1_0_3". The library does not depend on
 * the locale. */
static char fold(char c)
{
    if (c >= 'A' && c <= 'Z')
        return (char)(c - 'A' + 'a');
    if (c == '_' || c == '.')
        return '-';
    return c;
}

static bool str_ieq(const char *a, const char *b)
{
    for (;; a++, b++) {
        char ca = fold(*a), cb = fold(*b);
        if (ca != cb)
            return false;
        if (ca == '\0')
            return true;
    }
}

/* Other spellings in use: TTS PHY version names and ids, brocaar/chirpstack names. */
static const struct {
    const char *name;
    lorawan_rp_rev_t rev;
} rev_aliases[] = {
    {"RP001-1.0.2-RevA", LORAWAN_RP001_1_0_2},     {"RP001-1.0.2-A", LORAWAN_RP001_1_0_2},
    {"RP001-1.0.2-B", LORAWAN_RP001_1_0_2_B},      {"RP001-1.0.3-A", LORAWAN_RP001_1_0_3_A},
    {"RP001-1.0.3", LORAWAN_RP001_1_0_3_A},        {"RP001-1.1-A", LORAWAN_RP001_1_1_A},
    {"RP001-1.1-B", LORAWAN_RP001_1_1_B},          {"RP001_V1_0_2", LORAWAN_RP001_1_0_2},
    {"RP001_V1_0_2_REV_B", LORAWAN_RP001_1_0_2_B}, {"RP001_V1_0_3_REV_A", LORAWAN_RP001_1_0_3_A},
    {"RP001_V1_1_REV_A", LORAWAN_RP001_1_1_A},     {"RP001_V1_1_REV_B", LORAWAN_RP001_1_1_B},
    {"RP002_V1_0_0", LORAWAN_RP002_1_0_0},         {"RP002_V1_0_1", LORAWAN_RP002_1_0_1},
    {"RP002_V1_0_2", LORAWAN_RP002_1_0_2},         {"RP002_V1_0_3", LORAWAN_RP002_1_0_3},
    {"RP002_V1_0_4", LORAWAN_RP002_1_0_4},         {"RP002_V1_0_5", LORAWAN_RP002_1_0_5},
};

int lorawan_rp_rev_parse(const char *s, lorawan_rp_rev_t *out)
{
    if (s == NULL || out == NULL)
        return LORAWAN_E_PARAM;
    for (unsigned i = 0; i < LORAWAN_RP_REV_COUNT; i++) {
        if (str_ieq(s, rev_names[i])) {
            *out = (lorawan_rp_rev_t)i;
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof(rev_aliases) / sizeof(rev_aliases[0]); i++) {
        if (str_ieq(s, rev_aliases[i].name)) {
            *out = rev_aliases[i].rev;
            return 0;
        }
    }
    return LORAWAN_E_PARAM;
}

const char *lorawan_rp_rev_name(lorawan_rp_rev_t rev)
{
    if ((unsigned)rev >= LORAWAN_RP_REV_COUNT)
        return "?";
    return rev_names[rev];
}

static const struct {
    const char *name;
    lorawan_band_id_t id;
} band_aliases[] = {
    /* brocaar and chirpstack call group 1 "AS923"; TTS calls it AS_923. */
    {"AS923", LORAWAN_BAND_AS923_1},
    {"AS_923_1", LORAWAN_BAND_AS923_1},
};

const lorawan_band_t *lorawan_band_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (unsigned i = 0; i < LORAWAN_BAND_COUNT; i++) {
        if (str_ieq(name, lorawan__bands[i].name) || str_ieq(name, lorawan__bands[i].tts_id))
            return &lorawan__bands[i];
    }
    for (size_t i = 0; i < sizeof(band_aliases) / sizeof(band_aliases[0]); i++) {
        if (str_ieq(name, band_aliases[i].name))
            return &lorawan__bands[band_aliases[i].id];
    }
    return NULL;
}

const lorawan_band_t *lorawan_band_get(lorawan_band_id_t id)
{
    if ((unsigned)id >= LORAWAN_BAND_COUNT)
        return NULL;
    return &lorawan__bands[id];
}

lorawan_band_id_t lorawan_band_id(const lorawan_band_t *band)
{
    return band == NULL ? LORAWAN_BAND_COUNT : band->id;
}

const char *lorawan_band_name(const lorawan_band_t *band)
{
    return band == NULL ? "?" : band->name;
}

const char *lorawan_band_tts_id(const lorawan_band_t *band)
{
    return band == NULL ? "?" : band->tts_id;
}

const lorawan__era_t *lorawan__band_era(const lorawan_band_t *band, lorawan_rp_rev_t rev)
{
    if (band == NULL || (unsigned)rev >= LORAWAN_RP_REV_COUNT)
        return NULL;
    for (unsigned i = 0; i < band->n_eras; i++) {
        if (rev >= band->eras[i].from && rev <= band->eras[i].to)
            return &band->eras[i];
    }
    return NULL;
}

bool lorawan_band_defined(const lorawan_band_t *band, lorawan_rp_rev_t rev)
{
    return lorawan__band_era(band, rev) != NULL;
}

static void dr_fill(const lorawan__dr_def_t *d, uint16_t m, lorawan_dr_t *out)
{
    memset(out, 0, sizeof(*out));
    switch (d->kind) {
    case LORAWAN__DR_LORA:
        out->modulation = LORAWAN_MOD_LORA;
        out->spreading_factor = d->sf;
        out->bandwidth_hz = d->hz;
        out->coding_rate = "4/5";
        break;
    case LORAWAN__DR_FSK:
        out->modulation = LORAWAN_MOD_FSK;
        out->bit_rate_bps = d->bps;
        break;
    default:
        out->modulation = LORAWAN_MOD_LR_FHSS;
        /* TTS spells the rates "1/3" and "2/3"; chirpstack "2/6" and "4/6". */
        out->coding_rate = d->cr == 1 ? "1/3" : "2/3";
        out->occupied_channel_width_hz = d->hz;
        break;
    }
    out->max_mac_payload_m = m;
    out->max_frm_payload_n = m >= 8 ? (uint16_t)(m - 8) : 0;
    out->uplink = (d->link & LORAWAN__UP) != 0;
    out->downlink = (d->link & LORAWAN__DOWN) != 0;
}

int lorawan_band_datarate_dwell(const lorawan_band_t *band, lorawan_rp_rev_t rev, uint8_t dr,
                                bool repeater_compatible, bool dwell_time, lorawan_dr_t *out)
{
    if (band == NULL || out == NULL)
        return LORAWAN_E_PARAM;
    const lorawan__era_t *era = lorawan__band_era(band, rev);
    if (era == NULL || dr >= 16)
        return LORAWAN_E_DR;
    const lorawan__dr_def_t *d = &era->drs[dr];
    if (d->kind == LORAWAN__DR_RFU)
        return LORAWAN_E_DR;
    const uint16_t *table = repeater_compatible ? era->m_rep : era->m;
    if (dwell_time && era->m_dwell != NULL)
        table = repeater_compatible ? era->m_dwell_rep : era->m_dwell;
    if (table[dr] == LORAWAN__M_RFU)
        return LORAWAN_E_DR;
    dr_fill(d, table[dr], out);
    return 0;
}

int lorawan_band_datarate(const lorawan_band_t *band, lorawan_rp_rev_t rev, uint8_t dr,
                          bool repeater_compatible, lorawan_dr_t *out)
{
    return lorawan_band_datarate_dwell(band, rev, dr, repeater_compatible, false, out);
}

int lorawan_band_datarate_index(const lorawan_band_t *band, lorawan_rp_rev_t rev, bool uplink,
                                const lorawan_dr_t *want, uint8_t *dr_out)
{
    if (band == NULL || want == NULL || dr_out == NULL)
        return LORAWAN_E_PARAM;
    for (uint8_t dr = 0; dr < 16; dr++) {
        lorawan_dr_t d;
        if (lorawan_band_datarate(band, rev, dr, false, &d) != 0)
            continue;
        if ((uplink && !d.uplink) || (!uplink && !d.downlink))
            continue;
        if (d.modulation != want->modulation)
            continue;
        bool same = false;
        switch (d.modulation) {
        case LORAWAN_MOD_LORA:
            same = d.spreading_factor == want->spreading_factor &&
                   d.bandwidth_hz == want->bandwidth_hz;
            break;
        case LORAWAN_MOD_FSK:
            same = d.bit_rate_bps == want->bit_rate_bps;
            break;
        case LORAWAN_MOD_LR_FHSS:
            same = d.occupied_channel_width_hz == want->occupied_channel_width_hz &&
                   want->coding_rate != NULL && strcmp(d.coding_rate, want->coding_rate) == 0;
            break;
        }
        if (same) {
            *dr_out = dr;
            return 0;
        }
    }
    return LORAWAN_E_DR;
}

static bool is_uplink_dr(const lorawan__era_t *era, uint8_t dr)
{
    return dr < 16 && (era->drs[dr].link & LORAWAN__UP) != 0;
}

int lorawan_band_rx1_dr(const lorawan_band_t *band, lorawan_rp_rev_t rev, uint8_t uplink_dr,
                        uint8_t offset, bool downlink_dwell_time, uint8_t *out)
{
    if (band == NULL || out == NULL)
        return LORAWAN_E_PARAM;
    const lorawan__era_t *era = lorawan__band_era(band, rev);
    if (era == NULL || !is_uplink_dr(era, uplink_dr))
        return LORAWAN_E_DR;
    if (offset > era->rx1_max_offset)
        return LORAWAN_E_RANGE;
    int dr;
    switch (era->rx1_kind) {
    case LORAWAN__RX1_TABLE:
        dr = era->rx1[uplink_dr][offset];
        if (dr < 0)
            return LORAWAN_E_DR;
        break;
    case LORAWAN__RX1_AS923: {
        /* RP002 AS923 §2.8.7: Effective_RX1DROffset = {0,1,2,3,4,5,-1,-2}[offset];
         * RX1 DR = min(5, max(min_dr, uplink DR - effective offset)), min_dr = 2 with a
         * downlink dwell time, else 0. */
        static const int8_t effective[8] = {0, 1, 2, 3, 4, 5, -1, -2};
        int min_dr = downlink_dwell_time ? 2 : 0;
        dr = (int)uplink_dr - effective[offset];
        if (dr < min_dr)
            dr = min_dr;
        if (dr > 5)
            dr = 5;
        break;
    }
    default: {
        /* EU868 Table 12: DR - offset, not below DR0. LR-FHSS DR8/DR10 (CR 1/3) answer
         * like DR1, DR9/DR11 (CR 2/3) like DR2. */
        int base = uplink_dr;
        if (era->drs[uplink_dr].kind == LORAWAN__DR_FHSS)
            base = era->drs[uplink_dr].cr == 1 ? 1 : 2;
        dr = base - (int)offset;
        if (dr < 0)
            dr = 0;
        break;
    }
    }
    *out = (uint8_t)dr;
    return 0;
}

uint8_t lorawan_band_rx1_dr_offset_max(const lorawan_band_t *band, lorawan_rp_rev_t rev)
{
    const lorawan__era_t *era = lorawan__band_era(band, rev);
    return era == NULL ? 0 : era->rx1_max_offset;
}

int lorawan_band_rx2_default(const lorawan_band_t *band, lorawan_rp_rev_t rev, lorawan_rx2_t *out)
{
    if (band == NULL || out == NULL || lorawan__band_era(band, rev) == NULL)
        return LORAWAN_E_PARAM;
    *out = band->rx2;
    return 0;
}

static unsigned groups_count(const lorawan__chgroup_t *g, uint8_t n)
{
    unsigned count = 0;
    for (uint8_t i = 0; i < n; i++)
        count += g[i].count;
    return count;
}

static int groups_at(const lorawan_band_t *band, const lorawan__chgroup_t *g, uint8_t n,
                     unsigned index, lorawan_channel_t *out)
{
    for (uint8_t i = 0; i < n; i++) {
        if (index < g[i].count) {
            out->freq_hz = g[i].first_hz + index * g[i].step_hz - (uint32_t)band->freq_offset_hz;
            out->min_dr = g[i].min_dr;
            out->max_dr = g[i].max_dr;
            return 0;
        }
        index -= g[i].count;
    }
    return LORAWAN_E_RANGE;
}

/* The channel groups of the uplink or downlink channels of `band` under `rev`; NULL when the
 * band is not defined by the revision. Downlinks default to the uplink channels (RX1 on the
 * uplink frequency). */
static const lorawan__chgroup_t *channel_groups(const lorawan_band_t *band, lorawan_rp_rev_t rev,
                                                bool uplink, uint8_t *n)
{
    const lorawan__era_t *era = lorawan__band_era(band, rev);
    if (era == NULL)
        return NULL;
    if (uplink || era->down == NULL) {
        *n = era->n_up;
        return era->up;
    }
    *n = era->n_down;
    return era->down;
}

static unsigned channel_count(const lorawan_band_t *band, lorawan_rp_rev_t rev, bool uplink)
{
    uint8_t n = 0;
    const lorawan__chgroup_t *g = channel_groups(band, rev, uplink, &n);
    return g == NULL ? 0 : groups_count(g, n);
}

static int channel_at(const lorawan_band_t *band, lorawan_rp_rev_t rev, bool uplink, unsigned index,
                      lorawan_channel_t *out)
{
    uint8_t n = 0;
    const lorawan__chgroup_t *g = channel_groups(band, rev, uplink, &n);
    if (g == NULL || out == NULL)
        return LORAWAN_E_PARAM;
    return groups_at(band, g, n, index, out);
}

unsigned lorawan_band_uplink_channel_count(const lorawan_band_t *band, lorawan_rp_rev_t rev)
{
    return channel_count(band, rev, true);
}

int lorawan_band_uplink_channel(const lorawan_band_t *band, lorawan_rp_rev_t rev, unsigned index,
                                lorawan_channel_t *out)
{
    return channel_at(band, rev, true, index, out);
}

unsigned lorawan_band_downlink_channel_count(const lorawan_band_t *band, lorawan_rp_rev_t rev)
{
    return channel_count(band, rev, false);
}

int lorawan_band_downlink_channel(const lorawan_band_t *band, lorawan_rp_rev_t rev, unsigned index,
                                  lorawan_channel_t *out)
{
    return channel_at(band, rev, false, index, out);
}

int lorawan_band_rx1_channel(const lorawan_band_t *band, lorawan_rp_rev_t rev,
                             unsigned uplink_index, unsigned *out)
{
    if (out == NULL)
        return LORAWAN_E_PARAM;
    const lorawan__era_t *era = lorawan__band_era(band, rev);
    if (era == NULL)
        return LORAWAN_E_PARAM;
    if (uplink_index >= band->max_channels)
        return LORAWAN_E_RANGE;
    *out = era->rx1_channel_mod == 0 ? uplink_index : uplink_index % era->rx1_channel_mod;
    return 0;
}

bool lorawan_band_dynamic_channels(const lorawan_band_t *band)
{
    return band != NULL && band->dynamic;
}

unsigned lorawan_band_max_channels(const lorawan_band_t *band, lorawan_rp_rev_t rev)
{
    if (lorawan__band_era(band, rev) == NULL)
        return 0;
    return band->max_channels;
}

lorawan_cflist_type_t lorawan_band_cflist_type(const lorawan_band_t *band, lorawan_rp_rev_t rev)
{
    if (lorawan__band_era(band, rev) == NULL)
        return LORAWAN_CFLIST_NONE;
    if (band->dynamic)
        return LORAWAN_CFLIST_FREQUENCIES;
    /* The ChMask CFList (CFListType 1) arrives with LoRaWAN 1.0.3 / 1.1 regional parameters
     * (RP001-1.0.3 rev A, RP001-1.1 rev A); before, fixed-plan bands had no CFList. */
    if (rev < LORAWAN_RP001_1_0_3_A)
        return LORAWAN_CFLIST_NONE;
    return LORAWAN_CFLIST_CHMASK;
}

int lorawan_cflist_freqs_encode(const uint32_t freqs_hz[5], uint8_t out[LORAWAN_CFLIST_LEN])
{
    if (freqs_hz == NULL || out == NULL)
        return LORAWAN_E_PARAM;
    for (int i = 0; i < 5; i++) {
        if (freqs_hz[i] % 100u != 0 || freqs_hz[i] / 100u > 0xffffffu)
            return LORAWAN_E_RANGE;
    }
    for (int i = 0; i < 5; i++) {
        uint32_t v = freqs_hz[i] / 100u;
        out[3 * i] = (uint8_t)v;
        out[3 * i + 1] = (uint8_t)(v >> 8);
        out[3 * i + 2] = (uint8_t)(v >> 16);
    }
    out[15] = LORAWAN_CFLIST_FREQUENCIES;
    return 0;
}

int lorawan_cflist_freqs_decode(const uint8_t in[LORAWAN_CFLIST_LEN], uint32_t freqs_hz[5])
{
    if (in == NULL || freqs_hz == NULL || in[15] != LORAWAN_CFLIST_FREQUENCIES)
        return LORAWAN_E_PARAM;
    for (int i = 0; i < 5; i++) {
        uint32_t v =
            (uint32_t)in[3 * i] | (uint32_t)in[3 * i + 1] << 8 | (uint32_t)in[3 * i + 2] << 16;
        freqs_hz[i] = v * 100u;
    }
    return 0;
}

void lorawan_chset_clear(lorawan_chset_t *set)
{
    set->bits[0] = 0;
    set->bits[1] = 0;
}

void lorawan_chset_set(lorawan_chset_t *set, unsigned ch, bool on)
{
    if (ch >= LORAWAN_CHSET_MAX)
        return;
    uint64_t bit = (uint64_t)1 << (ch % 64);
    if (on)
        set->bits[ch / 64] |= bit;
    else
        set->bits[ch / 64] &= ~bit;
}

bool lorawan_chset_test(const lorawan_chset_t *set, unsigned ch)
{
    if (ch >= LORAWAN_CHSET_MAX)
        return false;
    return (set->bits[ch / 64] >> (ch % 64)) & 1u;
}

unsigned lorawan_chset_count(const lorawan_chset_t *set)
{
    unsigned n = 0;
    for (unsigned ch = 0; ch < LORAWAN_CHSET_MAX; ch++)
        n += lorawan_chset_test(set, ch);
    return n;
}

int lorawan_cflist_chmask_encode(const lorawan_chset_t *set, uint8_t out[LORAWAN_CFLIST_LEN])
{
    if (set == NULL || out == NULL)
        return LORAWAN_E_PARAM;
    memset(out, 0, LORAWAN_CFLIST_LEN);
    for (unsigned ch = 0; ch < 80; ch++) {
        if (lorawan_chset_test(set, ch))
            out[ch / 8] |= (uint8_t)(1u << (ch % 8));
    }
    out[15] = LORAWAN_CFLIST_CHMASK;
    return 0;
}

int lorawan_cflist_chmask_decode(const uint8_t in[LORAWAN_CFLIST_LEN], lorawan_chset_t *set)
{
    if (in == NULL || set == NULL || in[15] != LORAWAN_CFLIST_CHMASK)
        return LORAWAN_E_PARAM;
    lorawan_chset_clear(set);
    for (unsigned ch = 0; ch < 80; ch++)
        lorawan_chset_set(set, ch, (in[ch / 8] >> (ch % 8)) & 1u);
    return 0;
}

static void chset_range(lorawan_chset_t *set, unsigned from, unsigned count, bool on)
{
    for (unsigned ch = from; ch < from + count; ch++)
        lorawan_chset_set(set, ch, on);
}

static void chset_block16(lorawan_chset_t *set, unsigned block, uint16_t mask)
{
    for (unsigned i = 0; i < 16; i++)
        lorawan_chset_set(set, block * 16 + i, (mask >> i) & 1u);
}

/* US915 §2.5.5 / AU915 §2.7.5 (RP002-1.0.3 Table 16). */
static int link_adr_us(lorawan_rp_rev_t rev, uint8_t cntl, uint16_t mask, lorawan_chset_t *s)
{
    switch (cntl) {
    case 0:
    case 1:
    case 2:
    case 3:
        chset_block16(s, cntl, mask);
        return 0;
    case 4:
        if (mask & 0xff00u)
            return LORAWAN_E_PARAM;
        for (unsigned i = 0; i < 8; i++)
            lorawan_chset_set(s, 64 + i, (mask >> i) & 1u);
        return 0;
    case 5:
        /* Bank control arrives with RP001-1.1 / 1.0.3; the high byte is RFU. */
        if (rev < LORAWAN_RP001_1_0_3_A || (mask & 0xff00u))
            return LORAWAN_E_PARAM;
        for (unsigned i = 0; i < 8; i++) {
            bool on = (mask >> i) & 1u;
            chset_range(s, 8 * i, 8, on);
            lorawan_chset_set(s, 64 + i, on);
        }
        return 0;
    case 6:
    case 7:
        if (mask & 0xff00u)
            return LORAWAN_E_PARAM;
        chset_range(s, 0, 64, cntl == 6);
        for (unsigned i = 0; i < 8; i++)
            lorawan_chset_set(s, 64 + i, (mask >> i) & 1u);
        return 0;
    default:
        return LORAWAN_E_PARAM;
    }
}

int lorawan_band_link_adr_apply(const lorawan_band_t *band, lorawan_rp_rev_t rev,
                                uint8_t ch_mask_cntl, uint16_t ch_mask,
                                const lorawan_chset_t *defined, lorawan_chset_t *enabled)
{
    if (band == NULL || enabled == NULL)
        return LORAWAN_E_PARAM;
    const lorawan__era_t *era = lorawan__band_era(band, rev);
    if (era == NULL)
        return LORAWAN_E_PARAM;
    lorawan_chset_t s = *enabled;
    int rc;
    switch (band->chmask_kind) {
    case LORAWAN__CHMASK_US:
        rc = link_adr_us(rev, ch_mask_cntl, ch_mask, &s);
        break;
    case LORAWAN__CHMASK_BLOCKS: {
        unsigned blocks = band->max_channels / 16;
        if (ch_mask_cntl < blocks) {
            chset_block16(&s, ch_mask_cntl, ch_mask);
            rc = 0;
        } else if (ch_mask_cntl == 6) {
            chset_range(&s, 0, band->max_channels, true);
            rc = 0;
        } else {
            rc = LORAWAN_E_PARAM;
        }
        break;
    }
    default: {
        /* EU868 §2.4.5 (Table 13): 0 = ChMask applies to channels 0..15, 6 = all defined
         * channels on; others RFU. A ChMask bit for an undefined channel is rejected. */
        lorawan_chset_t def;
        if (defined != NULL) {
            def = *defined;
        } else {
            lorawan_chset_clear(&def);
            chset_range(&def, 0, groups_count(era->up, era->n_up), true);
        }
        if (ch_mask_cntl == 0) {
            for (unsigned i = 0; i < 16; i++) {
                if (((ch_mask >> i) & 1u) && !lorawan_chset_test(&def, i))
                    return LORAWAN_E_PARAM;
            }
            chset_block16(&s, 0, ch_mask);
            rc = 0;
        } else if (ch_mask_cntl == 6) {
            for (unsigned i = 0; i < 16; i++)
                lorawan_chset_set(&s, i, lorawan_chset_test(&def, i));
            rc = 0;
        } else {
            rc = LORAWAN_E_PARAM;
        }
        break;
    }
    }
    if (rc == 0)
        *enabled = s;
    return rc;
}

/* LoRaWAN 1.0.4 §5.9 Table 18 / 1.1 §5.12: TxParamSetupReq MaxEIRP coding. */
static const uint8_t max_eirp_table[16] = {8,  10, 12, 13, 14, 16, 18, 20,
                                           21, 24, 26, 27, 29, 30, 33, 36};

int lorawan_max_eirp_dbm(uint8_t index, uint8_t *dbm)
{
    if (dbm == NULL)
        return LORAWAN_E_PARAM;
    if (index >= 16)
        return LORAWAN_E_RANGE;
    *dbm = max_eirp_table[index];
    return 0;
}

int lorawan_max_eirp_index(uint8_t dbm, uint8_t *index)
{
    if (index == NULL)
        return LORAWAN_E_PARAM;
    for (uint8_t i = 0; i < 16; i++) {
        if (max_eirp_table[i] >= dbm) {
            *index = i;
            return 0;
        }
    }
    return LORAWAN_E_RANGE;
}

bool lorawan_band_tx_param_setup(const lorawan_band_t *band, lorawan_rp_rev_t rev)
{
    if (lorawan__band_era(band, rev) == NULL)
        return false;
    switch (band->id) {
    case LORAWAN_BAND_AS923_1:
    case LORAWAN_BAND_AS923_2:
    case LORAWAN_BAND_AS923_3:
    case LORAWAN_BAND_AS923_4:
        return true;
    case LORAWAN_BAND_AU915:
        /* Dwell time for AU915 arrives in RP001-1.0.3 rev A and RP001-1.1 rev B. */
        return rev == LORAWAN_RP001_1_0_3_A || rev >= LORAWAN_RP001_1_1_B;
    default:
        return false;
    }
}

int32_t lorawan_band_default_max_eirp_cdbm(const lorawan_band_t *band, lorawan_rp_rev_t rev)
{
    if (band == NULL)
        return 0;
    /* RP001-1.0.2 rev A gave AS923 a 14 dBm default (TTS regionalParameters1_0_2RevA). */
    if (band->id == LORAWAN_BAND_AS923_1 && rev == LORAWAN_RP001_1_0_2)
        return 1400;
    return band->max_eirp_cdbm;
}

uint8_t lorawan_band_tx_power_max_index(const lorawan_band_t *band, lorawan_rp_rev_t rev)
{
    if (band == NULL)
        return 0;
    /* US915/AU915 TXPower: RP001-1.0.2 defines 0..10 (30 dBm - 2 * TXPower); from
     * RP001-1.0.3 rev A / 1.1 the table runs 0..14 relative to the max EIRP. */
    if ((band->id == LORAWAN_BAND_US915 || band->id == LORAWAN_BAND_AU915) &&
        rev < LORAWAN_RP001_1_0_3_A)
        return 10;
    return band->tx_power_max;
}

int lorawan_band_tx_power_offset_db(const lorawan_band_t *band, lorawan_rp_rev_t rev,
                                    uint8_t tx_power, int8_t *offset_db)
{
    if (band == NULL || offset_db == NULL)
        return LORAWAN_E_PARAM;
    if (lorawan__band_era(band, rev) == NULL)
        return LORAWAN_E_PARAM;
    if (tx_power > lorawan_band_tx_power_max_index(band, rev))
        return LORAWAN_E_RANGE;
    /* Every band's table is "Max EIRP - 2 * TXPower" (RP002 TX power tables). */
    *offset_db = (int8_t)(-2 * (int)tx_power);
    return 0;
}

int lorawan_band_beacon(const lorawan_band_t *band, lorawan_rp_rev_t rev,
                        lorawan_beacon_params_t *out)
{
    if (band == NULL || out == NULL || lorawan__band_era(band, rev) == NULL)
        return LORAWAN_E_PARAM;
    *out = band->beacon;
    return 0;
}

int lorawan_band_beacon_freq(const lorawan_band_t *band, lorawan_rp_rev_t rev,
                             uint32_t beacon_time_s, uint32_t *freq_hz)
{
    lorawan_beacon_params_t b;
    if (freq_hz == NULL || lorawan_band_beacon(band, rev, &b) != 0 || b.n_freqs == 0)
        return LORAWAN_E_PARAM;
    uint32_t ch = (beacon_time_s / 128u) % b.n_freqs;
    *freq_hz = b.first_freq_hz + ch * b.step_hz;
    return 0;
}

int lorawan_band_ping_slot_freq(const lorawan_band_t *band, lorawan_rp_rev_t rev, uint32_t dev_addr,
                                uint32_t beacon_time_s, uint32_t *freq_hz)
{
    lorawan_beacon_params_t b;
    if (freq_hz == NULL || lorawan_band_beacon(band, rev, &b) != 0 || b.n_freqs == 0)
        return LORAWAN_E_PARAM;
    if (b.ping_slot_freq_hz != 0) {
        *freq_hz = b.ping_slot_freq_hz;
        return 0;
    }
    /* LoRaWAN 1.0.4 Class B (TS001 §13): channel = (DevAddr + floor(t / 128)) mod n, in
     * 64-bit arithmetic so the sum cannot wrap before the modulo. */
    uint64_t ch = ((uint64_t)dev_addr + beacon_time_s / 128u) % b.n_freqs;
    *freq_hz = b.first_freq_hz + (uint32_t)ch * b.step_hz;
    return 0;
}

size_t lorawan_band_sub_bands(const lorawan_band_t *band, const lorawan_sub_band_t **out)
{
    if (band == NULL || out == NULL)
        return 0;
    *out = band->sub_bands;
    return band->n_sub_bands;
}

const lorawan_sub_band_t *lorawan_band_sub_band_for(const lorawan_band_t *band, uint32_t freq_hz)
{
    if (band == NULL)
        return NULL;
    for (uint8_t i = 0; i < band->n_sub_bands; i++) {
        if (freq_hz >= band->sub_bands[i].min_freq_hz && freq_hz <= band->sub_bands[i].max_freq_hz)
            return &band->sub_bands[i];
    }
    return NULL;
}
