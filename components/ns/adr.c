/* components/ns/adr.c: Adaptive Data Rate (see adr_private.h for the algorithm). */
#include <string.h>

#include "ns/adr_private.h"

/* TTS demodulationFloor (dB) for SF6..SF12 at 125, 250 and 500 kHz. */
static const float demod_floor[7][3] = {
    {-5.0f, -2.0f, 1.0f},     /* SF6 */
    {-7.5f, -4.5f, -1.5f},    /* SF7 */
    {-10.0f, -7.0f, -4.0f},   /* SF8 */
    {-12.5f, -9.5f, -6.5f},   /* SF9 */
    {-15.0f, -12.0f, -9.0f},  /* SF10 */
    {-17.5f, -14.5f, -11.5f}, /* SF11 */
    {-20.0f, -17.0f, -14.0f}, /* SF12 */
};

int ns_adr_demodulation_floor(uint8_t sf, uint32_t bw_hz, float *out_db)
{
    if (out_db == NULL || sf < 6 || sf > 12)
        return LORAWAN_E_DR;
    int col = bw_hz == 125000u ? 0 : bw_hz == 250000u ? 1 : bw_hz == 500000u ? 2 : -1;
    if (col < 0)
        return LORAWAN_E_DR;
    *out_db = demod_floor[sf - 6][col];
    return 0;
}

/* A gateway's SNR report as stored: NaN (a broken report) counts as -100 dB, and the
 * range is kept to what a LoRa link can show. */
static float snr_clean(float snr)
{
    if (!(snr > -100.0f))
        return -100.0f;
    return snr > 100.0f ? 100.0f : snr;
}

void ns_adr_record(ns_mac_state_t *st, const ns_mac_uplink_t *up)
{
    if (st->n_recent_uplinks > NS_MAC_RECENT_UPLINKS ||
        st->recent_uplinks_head >= NS_MAC_RECENT_UPLINKS) {
        st->n_recent_uplinks = 0;
        st->recent_uplinks_head = 0;
    }
    if (st->n_recent_uplinks > 0) {
        unsigned newest =
            (st->recent_uplinks_head + NS_MAC_RECENT_UPLINKS - 1) % NS_MAC_RECENT_UPLINKS;
        ns_mac_recent_uplink_t *r = &st->recent_uplinks[newest];
        if (r->f_cnt == up->f_cnt) {
            if (snr_clean(up->max_snr) > r->max_snr)
                r->max_snr = snr_clean(up->max_snr);
            if (up->gateway_count > r->gateway_count)
                r->gateway_count = up->gateway_count;
            return;
        }
    }
    ns_mac_recent_uplink_t *r = &st->recent_uplinks[st->recent_uplinks_head];
    r->f_cnt = up->f_cnt;
    r->max_snr = snr_clean(up->max_snr);
    r->data_rate_index = up->data_rate_index;
    r->gateway_count = up->gateway_count;
    st->recent_uplinks_head = (uint8_t)((st->recent_uplinks_head + 1) % NS_MAC_RECENT_UPLINKS);
    if (st->n_recent_uplinks < NS_MAC_RECENT_UPLINKS)
        st->n_recent_uplinks++;
}

/* TTS adrUplinks: the newest uplinks at the current data rate since the last ADR change.
 * Returns their number; they are the last `n` of the history. */
static unsigned adr_uplinks(const ns_mac_state_t *st)
{
    unsigned n = 0;
    for (unsigned i = st->n_recent_uplinks; i-- > 0;) {
        const ns_mac_recent_uplink_t *r = ns_mac_recent_uplink_at(st, i);
        if (r->data_rate_index != st->current_parameters.adr_data_rate_index ||
            (st->last_adr_change_f_cnt_up != 0 && r->f_cnt < st->last_adr_change_f_cnt_up))
            break;
        n++;
    }
    return n;
}

static float loss_rate(const ns_mac_state_t *st, unsigned first, unsigned n)
{
    if (n < 2)
        return 0;
    uint32_t min = ns_mac_recent_uplink_at(st, first)->f_cnt, last = min, lost = 0;
    for (unsigned i = first + 1; i < first + n; i++) {
        uint32_t f = ns_mac_recent_uplink_at(st, i)->f_cnt;
        if (f < last)
            return loss_rate(st, i, first + n - i);
        if (f > last)
            lost += f - last - 1;
        last = f;
    }
    return (float)lost / (float)(1u + last - min);
}

float ns_adr_loss_rate(const ns_mac_state_t *st)
{
    unsigned n = adr_uplinks(st);
    return loss_rate(st, st->n_recent_uplinks - n, n);
}

/* TTS txPowerStep: the dB between TX power indices `from` and `to` (positive when `to` is
 * weaker). */
static float tx_power_step(const lorawan_band_t *band, lorawan_rp_rev_t rev, unsigned from,
                           unsigned to)
{
    unsigned max = lorawan_band_tx_power_max_index(band, rev);
    int8_t a = 0, b = 0;
    if (from > max)
        from = max;
    if (to > max)
        to = max;
    (void)lorawan_band_tx_power_offset_db(band, rev, (uint8_t)from, &a);
    (void)lorawan_band_tx_power_offset_db(band, rev, (uint8_t)to, &b);
    return (float)a - (float)b;
}

/* The highest data rate <= `below` that ADR may use: LoRa at the band's narrowest uplink
 * bandwidth (EU868 DR5, US915 DR3, AU915 DR5: TTS MaxADRDataRateIndex). */
static bool adr_max_dr(const lorawan_band_t *band, lorawan_rp_rev_t rev, int below, uint8_t *out)
{
    lorawan_dr_t dr0, d;
    if (lorawan_band_datarate(band, rev, 0, false, &dr0) != 0 || dr0.modulation != LORAWAN_MOD_LORA)
        return false;
    for (int i = below; i >= 0; i--) {
        if (lorawan_band_datarate(band, rev, (uint8_t)i, false, &d) == 0 && d.uplink &&
            d.modulation == LORAWAN_MOD_LORA && d.bandwidth_hz == dr0.bandwidth_hz) {
            *out = (uint8_t)i;
            return true;
        }
    }
    return false;
}

static void clamp_nb_trans(const ns_adr_settings_t *a, uint8_t *nb)
{
    if (a->dynamic.has_min_nb_trans && *nb < a->dynamic.min_nb_trans)
        *nb = a->dynamic.min_nb_trans;
    if (a->dynamic.has_max_nb_trans && *nb > a->dynamic.max_nb_trans)
        *nb = a->dynamic.max_nb_trans;
    if (*nb == 0)
        *nb = 1;
    if (*nb > 15)
        *nb = 15;
}

int ns_adr_adapt(ns_mac_state_t *st, const ns_mac_ctx_t *ctx)
{
    if (st == NULL || ctx == NULL || ctx->band == NULL || ctx->settings == NULL)
        return LORAWAN_E_PARAM;
    const ns_adr_settings_t *a = &ctx->settings->adr;
    ns_mac_params_t *cur = &st->current_parameters, *des = &st->desired_parameters;
    const lorawan_band_t *band = ctx->band;
    lorawan_rp_rev_t rev = (lorawan_rp_rev_t)st->phy_rev;

    switch (a->mode) {
    case NS_ADR_MODE_DISABLED:
        des->adr_data_rate_index = cur->adr_data_rate_index;
        des->adr_tx_power_index = cur->adr_tx_power_index;
        des->adr_nb_trans = cur->adr_nb_trans;
        return 0;
    case NS_ADR_MODE_STATIC:
        des->adr_data_rate_index = a->static_mode.data_rate_index;
        des->adr_tx_power_index = a->static_mode.tx_power_index;
        des->adr_nb_trans = a->static_mode.nb_trans == 0 ? 1 : a->static_mode.nb_trans;
        return 0;
    case NS_ADR_MODE_DYNAMIC:
        break;
    default:
        return LORAWAN_E_PARAM;
    }
    /* Desired starts from current on every uplink (TTS grpc_gsns.go resetDesiredParameters):
     * without the device's ADR bit the NS keeps the data rate the device uses, and a
     * LinkADRReq sent for channels carries that one, not a stale desired one. */
    des->adr_data_rate_index = cur->adr_data_rate_index;
    des->adr_tx_power_index = cur->adr_tx_power_index;
    des->adr_nb_trans = cur->adr_nb_trans;
    if (!st->device_adr)
        return 0;
    unsigned n = adr_uplinks(st);
    if (n == 0)
        return 0;
    unsigned first = st->n_recent_uplinks - n;

    /* Data-rate range: the desired channels', the settings', the band's ADR maximum; minus
     * the rejected data rates (TTS adrDataRateRange). */
    uint16_t allowed = ns_mac_enabled_data_rates(st, des);
    int min_dr = 0, max_dr = 15;
    while (min_dr < 16 && !(allowed & (1u << min_dr)))
        min_dr++;
    while (max_dr >= 0 && !(allowed & (1u << max_dr)))
        max_dr--;
    if (min_dr > max_dr)
        return 0;
    uint8_t band_max = 0;
    if (!adr_max_dr(band, rev, max_dr, &band_max))
        return 0;
    if (a->dynamic.has_min_data_rate_index && a->dynamic.min_data_rate_index > min_dr)
        min_dr = a->dynamic.min_data_rate_index;
    if (a->dynamic.has_max_data_rate_index && a->dynamic.max_data_rate_index < max_dr)
        max_dr = a->dynamic.max_data_rate_index;
    if (max_dr > band_max)
        max_dr = band_max;
    allowed &= (uint16_t)~st->rejected_adr_data_rate_indexes;
    while (min_dr <= max_dr && !(allowed & (1u << min_dr)))
        min_dr++;
    while (max_dr >= min_dr && !(allowed & (1u << max_dr)))
        max_dr--;
    if (min_dr > max_dr)
        return 0;

    /* TX power range (TTS adrTxPowerRange). */
    int min_tx = 0, max_tx = lorawan_band_tx_power_max_index(band, rev);
    if (a->dynamic.has_min_tx_power_index && a->dynamic.min_tx_power_index > min_tx)
        min_tx = a->dynamic.min_tx_power_index;
    if (a->dynamic.has_max_tx_power_index && a->dynamic.max_tx_power_index < max_tx)
        max_tx = a->dynamic.max_tx_power_index;
    uint16_t rej_tx = st->rejected_adr_tx_power_indexes;
    while (min_tx <= max_tx && (rej_tx & (1u << min_tx)))
        min_tx++;
    while (max_tx >= min_tx && (rej_tx & (1u << max_tx)))
        max_tx--;
    if (min_tx > max_tx)
        return 0;

    /* Margin (TTS adrMargin). */
    float max_snr = ns_mac_recent_uplink_at(st, first)->max_snr;
    for (unsigned i = first + 1; i < first + n; i++)
        if (ns_mac_recent_uplink_at(st, i)->max_snr > max_snr)
            max_snr = ns_mac_recent_uplink_at(st, i)->max_snr;
    const ns_mac_recent_uplink_t *last = ns_mac_recent_uplink_at(st, first + n - 1);
    lorawan_dr_t ldr;
    float floor_db = 0, margin = 0;
    float adr_margin_db = a->dynamic.has_margin ? a->dynamic.margin : NS_ADR_DEFAULT_MARGIN_DB;
    bool margin_base_valid = false;
    if (lorawan_band_datarate(band, rev, last->data_rate_index, false, &ldr) != 0)
        return 0;
    if (ldr.modulation == LORAWAN_MOD_LORA) {
        if (ns_adr_demodulation_floor(ldr.spreading_factor, ldr.bandwidth_hz, &floor_db) != 0)
            return 0;
        margin = max_snr - floor_db - adr_margin_db;
        margin_base_valid = true;
    }
    bool optimal = n >= NS_ADR_OPTIMAL_UPLINKS;
    if (!optimal)
        margin -= NS_ADR_SAFETY_MARGIN_DB;

    /* Data rate up (TTS adrAdaptDataRate): the NS only raises it here. */
    int cur_dr = cur->adr_data_rate_index;
    int lo = min_dr > cur_dr ? min_dr : cur_dr, hi = max_dr;
    des->adr_data_rate_index = cur->adr_data_rate_index;
    des->adr_tx_power_index = cur->adr_tx_power_index;
    float max_steps = (float)(hi - cur_dr);
    float steps = (margin - tx_power_step(band, rev, 0, (unsigned)min_tx)) / NS_ADR_DR_STEP_DB;
    if (steps > 0) {
        if (steps < max_steps)
            hi = cur_dr + (int)steps;
        for (int d = hi; d > lo; d--) {
            if (!(allowed & (1u << d)))
                continue;
            margin -= (float)(d - cur_dr) * NS_ADR_DR_STEP_DB;
            des->adr_data_rate_index = (uint8_t)d;
            des->adr_tx_power_index = 0;
            break;
        }
    }

    /* TX power (TTS adrAdaptTxPowerIndex). */
    if (des->adr_tx_power_index < min_tx) {
        margin -= tx_power_step(band, rev, des->adr_tx_power_index, (unsigned)min_tx);
        des->adr_tx_power_index = (uint8_t)min_tx;
    }
    if (des->adr_tx_power_index > max_tx) {
        margin += tx_power_step(band, rev, (unsigned)max_tx, des->adr_tx_power_index);
        des->adr_tx_power_index = (uint8_t)max_tx;
    }
    for (int p = max_tx; p >= min_tx; p--) {
        float diff = tx_power_step(band, rev, des->adr_tx_power_index, (unsigned)p);
        if (((rej_tx & (1u << p)) || diff > margin) && p != min_tx)
            continue;
        if (!optimal && diff < 0 && -diff <= NS_ADR_SAFETY_MARGIN_DB)
            break;
        margin -= diff;
        des->adr_tx_power_index = (uint8_t)p;
        break;
    }

    /* lwstack: step the data rate down when the recent uplinks lack at least one step of
     * margin. TTS only raises (the device's ADR back-off lowers it, after ADR_ACK_LIMIT +
     * ADR_ACK_DELAY uplinks without a downlink); the maximum over the whole window would
     * hide a degraded link behind old good uplinks, so the decision uses the last
     * NS_ADR_STEP_DOWN_UPLINKS only, without the safety margin (which guards raises). */
    unsigned recent = n < NS_ADR_STEP_DOWN_UPLINKS ? n : NS_ADR_STEP_DOWN_UPLINKS;
    float recent_snr = ns_mac_recent_uplink_at(st, first + n - recent)->max_snr;
    for (unsigned i = first + n - recent + 1; i < first + n; i++)
        if (ns_mac_recent_uplink_at(st, i)->max_snr > recent_snr)
            recent_snr = ns_mac_recent_uplink_at(st, i)->max_snr;
    float recent_margin = margin_base_valid ? recent_snr - floor_db - adr_margin_db : 0;
    /* Compensated first by more TX power (a lower index), down to the strongest allowed. */
    recent_margin += tx_power_step(band, rev, (unsigned)min_tx, cur->adr_tx_power_index);
    if (recent_margin <= -NS_ADR_DR_STEP_DB && cur_dr > min_dr) {
        float want = -recent_margin / NS_ADR_DR_STEP_DB;
        int k = (int)want;
        if ((float)k < want)
            k++; /* ceil, without libm */
        int d = cur_dr - k < min_dr ? min_dr : cur_dr - k;
        while (d > min_dr && !(allowed & (1u << d)))
            d--;
        des->adr_data_rate_index = (uint8_t)d;
        des->adr_tx_power_index = (uint8_t)min_tx;
    }

    /* NbTrans (TTS adrAdaptNbTrans). */
    uint8_t nb = cur->adr_nb_trans;
    clamp_nb_trans(a, &nb);
    if (n >= NS_ADR_OPTIMAL_UPLINKS / 2) {
        float r = loss_rate(st, first, n);
        if (r < 0.05f)
            nb = (uint8_t)(1 + nb / 3);
        else if (r < 0.10f)
            ;
        else if (r < 0.30f)
            nb = (uint8_t)(2 + nb / 2);
        else
            nb = NS_ADR_MAX_NB_TRANS;
    }
    clamp_nb_trans(a, &nb);
    des->adr_nb_trans = nb;
    return 0;
}
