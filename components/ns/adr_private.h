/* components/ns/adr.c: Adaptive Data Rate, The Things Stack's algorithm
 * (pkg/networkserver/mac/adr.go) plus stepping the data rate down again when the link
 * degrades. Pure; private to components/ns and its tests.
 *
 * ns_mac_handle_uplink() calls ns_adr_record() for every data uplink and ns_adr_adapt()
 * after its MAC commands were handled; a change of desired_parameters.adr_* then makes
 * ns_mac_downlink_build() send a LinkADRReq.
 *
 * The algorithm (mode dynamic), over the recent uplinks at the current data rate since the
 * last ADR change (at most NS_MAC_RECENT_UPLINKS):
 *   margin = max SNR - demodulation floor(SF, BW of the last uplink) - adr margin (15 dB)
 *            - 2.5 dB safety when fewer than 20 uplinks are known;
 *   data rate: up by floor((margin - txPowerStep(0, min tx power)) / 2.5) steps (never above
 *            the channels' and settings' maximum, skipping rejected data rates), TX power
 *            reset to index 0 on an increase;
 *   TX power: the highest index (lowest power) whose reduction still fits the margin, or a
 *            lower index (more power) to recover a missing margin;
 *   NbTrans: from the frame loss rate once 10 uplinks are known: < 5 % 1 + n/3,
 *            < 10 % unchanged, < 30 % 2 + n/2, else 3; clamped by the settings.
 *   lwstack addition (stepping down): over the last NS_ADR_STEP_DOWN_UPLINKS ADR uplinks,
 *   margin' = their max SNR - floor - adr margin + the dB the TX power can still rise; when
 *   margin' <= -2.5 dB (a whole step short) the data rate goes down by ceil(-margin' / 2.5)
 *   (not below the minimum allowed) at the strongest TX power allowed, overriding the above.
 * Mode static: desired = mac_settings.adr.static; mode disabled: desired = current. */
#ifndef NS_ADR_PRIVATE_H
#define NS_ADR_PRIVATE_H

#include "ns/mac_private.h"

/* TTS adr.go constants. */
#define NS_ADR_SAFETY_MARGIN_DB 2.5f
#define NS_ADR_DR_STEP_DB       2.5f
#define NS_ADR_MAX_NB_TRANS     3u
#define NS_ADR_OPTIMAL_UPLINKS  20u
/* lwstack: the newest uplinks that decide a step down. */
#define NS_ADR_STEP_DOWN_UPLINKS 5u

/* The SNR (dB) below which a LoRa signal of spreading factor sf and bandwidth bw_hz cannot
 * be demodulated (TTS demodulationFloor: SF6..SF12 at 125/250/500 kHz). Returns 0, or
 * LORAWAN_E_DR for another modulation. */
int ns_adr_demodulation_floor(uint8_t sf, uint32_t bw_hz, float *out_db);

/* Records a data uplink in the bounded history (ring of NS_MAC_RECENT_UPLINKS). A
 * retransmission (same FCnt as the newest) updates the newest entry's SNR and gateway count. */
void ns_adr_record(ns_mac_state_t *st, const ns_mac_uplink_t *up);

/* Frame loss rate over the ADR uplinks (TTS adrLossRate): lost / (1 + last - first). */
float ns_adr_loss_rate(const ns_mac_state_t *st);

/* Runs ADR for the mode of ctx->settings->adr and updates desired_parameters'
 * adr_data_rate_index, adr_tx_power_index and adr_nb_trans. Returns 0 (also when there is
 * not enough data, or the device did not set the ADR bit: nothing changes), or
 * LORAWAN_E_PARAM. */
int ns_adr_adapt(ns_mac_state_t *st, const ns_mac_ctx_t *ctx);

#endif
