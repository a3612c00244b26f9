/* components/ns/mac/link_check.c: LinkCheckReq → LinkCheckAns (LoRaWAN 1.0.4 §5.2). */
#include "ns/adr_private.h"
#include "ns/mac/cmd_private.h"

/* LoRaWAN 1.0.4 §5.2: Margin 0..254 dB above the demodulation floor; 255 is reserved. */
#define LINK_CHECK_MARGIN_MAX 254

void ns_mac_link_check_req(ns_mac_state_t *st, const ns_mac_uplink_t *up, ns_mac_up_result_t *res)
{
    ns_mac__event(&res->n_events, res->events, "ns.mac.link_check.request", NULL);
    const lorawan_band_t *band = lorawan_band_get((lorawan_band_id_t)st->band_id);
    lorawan_dr_t dr;
    float floor_db = 0;
    if (band == NULL ||
        lorawan_band_datarate(band, ns_mac__rev(st), up->data_rate_index, false, &dr) != 0)
        return;
    if (dr.modulation == LORAWAN_MOD_LORA &&
        ns_adr_demodulation_floor(dr.spreading_factor, dr.bandwidth_hz, &floor_db) != 0)
        return;
    if (up->gateway_count == 0)
        return; /* TTS: no rx metadata, no answer */
    float m = up->max_snr - floor_db;
    int margin = !(m > 0)                     ? 0
                 : m >= LINK_CHECK_MARGIN_MAX ? LINK_CHECK_MARGIN_MAX
                                              : (int)m; /* NaN: 0 */
    lorawan_mac_cmd_t ans = {.cid = LORAWAN_CID_LINK_CHECK, .uplink = false};
    ans.u.link_check_ans.margin = (uint8_t)margin;
    ans.u.link_check_ans.gw_cnt = up->gateway_count;
    if (ns_mac__queue_response(st, &ans))
        ns_mac__event(&res->n_events, res->events, "ns.mac.link_check.answer", &ans);
}
