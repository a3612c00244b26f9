/* The radio side of a frequency plan as a simulated device sees it: its uplink channels,
 * data rates as SF/BW, and where RX1 and RX2 should be. Pure (lorawan band tables). */
#include <string.h>

#include "sim_private.h"

int sim_radio_init(sim_radio_t *r, const char *fp_id, lorawan_rp_rev_t rev)
{
    memset(r, 0, sizeof *r);
    r->fp = lorawan_freqplan_find(fp_id);
    if (r->fp == NULL)
        return LORAWAN_E_PARAM;
    r->band = lorawan_band_get(r->fp->band);
    r->rev = rev;
    r->rx2 = r->fp->rx2;
    if (lorawan_band_rx2_default(r->band, rev, &r->rx2_band) != 0)
        r->rx2_band = r->rx2;
    unsigned n_band = lorawan_band_uplink_channel_count(r->band, rev);
    if (lorawan_band_dynamic_channels(r->band)) {
        /* The join channels every device knows before a CFList or NewChannelReq. */
        for (unsigned i = 0; i < n_band && r->n_channels < LORAWAN_FP_MAX_UPLINK; i++) {
            lorawan_channel_t c;
            if (lorawan_band_uplink_channel(r->band, rev, i, &c) != 0)
                continue;
            r->channels[r->n_channels++] = (sim_channel_t){c.freq_hz, (uint8_t)i};
        }
    } else {
        /* Fixed bands: the plan's sub-band, with the band's channel index of each. */
        for (unsigned k = 0; k < r->fp->n_uplink; k++) {
            for (unsigned i = 0; i < n_band; i++) {
                lorawan_channel_t c;
                if (lorawan_band_uplink_channel(r->band, rev, i, &c) == 0 &&
                    c.freq_hz == r->fp->uplink[k].freq_hz) {
                    r->channels[r->n_channels++] = (sim_channel_t){c.freq_hz, (uint8_t)i};
                    break;
                }
            }
        }
    }
    return r->n_channels > 0 ? 0 : LORAWAN_E_PARAM;
}

int sim_radio_dr_lora(const sim_radio_t *r, uint8_t dr, bool uplink, uint8_t *sf, uint16_t *bw_khz)
{
    lorawan_dr_t d;
    int rc = lorawan_band_datarate(r->band, r->rev, dr, false, &d);
    if (rc != 0)
        return rc;
    if (d.modulation != LORAWAN_MOD_LORA || (uplink ? !d.uplink : !d.downlink))
        return LORAWAN_E_DR;
    *sf = d.spreading_factor;
    *bw_khz = (uint16_t)(d.bandwidth_hz / 1000u);
    return 0;
}

int sim_radio_dr_index(const sim_radio_t *r, uint8_t sf, uint16_t bw_khz, bool uplink, uint8_t *dr)
{
    lorawan_dr_t want;
    memset(&want, 0, sizeof want);
    want.modulation = LORAWAN_MOD_LORA;
    want.spreading_factor = sf;
    want.bandwidth_hz = (uint32_t)bw_khz * 1000u;
    return lorawan_band_datarate_index(r->band, r->rev, uplink, &want, dr);
}

int sim_radio_rx1(const sim_radio_t *r, const sim_channel_t *ch, uint8_t up_dr, uint8_t offset,
                  uint32_t *freq_hz, uint8_t *dr)
{
    int rc = lorawan_band_rx1_dr(r->band, r->rev, up_dr, offset, r->fp->downlink_dwell_time, dr);
    if (rc != 0)
        return rc;
    if (lorawan_band_dynamic_channels(r->band)) {
        *freq_hz = ch->freq_hz;
        return 0;
    }
    unsigned dn = 0;
    rc = lorawan_band_rx1_channel(r->band, r->rev, ch->index, &dn);
    if (rc != 0)
        return rc;
    lorawan_channel_t c;
    rc = lorawan_band_downlink_channel(r->band, r->rev, dn, &c);
    if (rc != 0)
        return rc;
    *freq_hz = c.freq_hz;
    return 0;
}

uint8_t sim_radio_default_dr(const sim_radio_t *r)
{
    uint8_t dr = 0;
    if (sim_radio_dr_index(r, 7, 125, true, &dr) != 0)
        dr = 0;
    return dr;
}
