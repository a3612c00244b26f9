/* components/ns/mac: what the per-command files share (private to ns_mac and its tests).
 *
 * Each command file offers some of:
 *   ns_mac_<cmd>_req()    a device-initiated request or indication: queue the answer.
 *   ns_mac_<cmd>_ans()    a device's answer: match it against pending_requests, update
 *                         current_parameters only on acceptance, list the event.
 *   ns_mac_<cmd>_needed() whether the device needs the request now (desired vs current).
 *   ns_mac_<cmd>_build()  the request(s) to send, into cmds[0..cap): returns how many (0
 *                         when not needed), or a negative LORAWAN_E_* code. */
#ifndef NS_MAC_CMD_PRIVATE_H
#define NS_MAC_CMD_PRIVATE_H

#include "ns/mac_private.h"

/* Appends an event (dropped when the list is full: events are best effort). */
void ns_mac__event(uint8_t *n, ns_mac_event_t *evs, const char *name, const lorawan_mac_cmd_t *cmd);
/* Queues an answer (queued_responses; one per CID, the latest wins); false when full. */
bool ns_mac__queue_response(ns_mac_state_t *st, const lorawan_mac_cmd_t *ans);
/* Removes and returns (in *req) the first pending request with `cid`; false when none. */
bool ns_mac__take_pending(ns_mac_state_t *st, uint8_t cid, lorawan_mac_cmd_t *req);
/* Whether a request with `cid` is pending. */
bool ns_mac__is_pending(const ns_mac_state_t *st, uint8_t cid);
/* Replaces the pending requests by cmds[0..n); false (unchanged) when they do not fit. */
bool ns_mac__pending_store(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmds, size_t n);
/* The queued responses, likewise. */
bool ns_mac__queued_store(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmds, size_t n);

/* Sticky answers (see recent_mac_command_identifiers). */
bool ns_mac__sticky(uint8_t cid);
/* Whether CID `cid` was in the last uplink. */
bool ns_mac__in_last_uplink(const ns_mac_state_t *st, uint8_t cid);
/* The event for an answer without a pending request: nothing when it is a sticky repeat. */
void ns_mac__unsolicited(const ns_mac_state_t *st, uint8_t cid, const char *name,
                         const lorawan_mac_cmd_t *cmd, ns_mac_up_result_t *res);

/* Version rules (TTS pkg/specification/macspec). */
bool ns_mac__has_no_change_adr_indices(const ns_mac_state_t *st); /* >= 1.0.4 */
bool ns_mac__use_1_0_2(const ns_mac_state_t *st); /* DlChannel, TxParamSetup: >= 1.0.2 */
bool ns_mac__use_1_1(const ns_mac_state_t *st);   /* ADRParamSetup, Rejoin, Rekey, ... */

/* The band's rev of the state and a data-rate lookup shortcut. */
lorawan_rp_rev_t ns_mac__rev(const ns_mac_state_t *st);
int ns_mac__dr(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx, uint8_t dr, lorawan_dr_t *out);
/* Whether channel i is defined in p (dynamic bands: a frequency; fixed bands: i < max). */
bool ns_mac__channel_defined(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx,
                             const ns_mac_params_t *p, unsigned i);
/* Minimum / maximum data rate over p's enabled channels; false when none is enabled. */
bool ns_mac__enabled_dr_range(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx,
                              const ns_mac_params_t *p, uint8_t *min, uint8_t *max);

/* LinkCheck (link_check.c) */
void ns_mac_link_check_req(ns_mac_state_t *st, const ns_mac_uplink_t *up, ns_mac_up_result_t *res);
/* DeviceTime (device_time.c) */
void ns_mac_device_time_req(ns_mac_state_t *st, const ns_mac_uplink_t *up, ns_mac_up_result_t *res);
/* Reset (reset.c): 1.1 ABP; resets current parameters to the band's defaults. */
void ns_mac_reset_ind(ns_mac_state_t *st, const ns_mac_ctx_t *ctx, const lorawan_mac_cmd_t *cmd,
                      ns_mac_up_result_t *res);
/* Rekey (rekey.c) */
void ns_mac_rekey_ind(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmd, ns_mac_up_result_t *res);
/* DeviceMode (device_mode.c) */
void ns_mac_device_mode_ind(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmd,
                            ns_mac_up_result_t *res);
/* PingSlotInfo / BeaconTiming (ping_slot.c) */
void ns_mac_ping_slot_info_req(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmd,
                               ns_mac_up_result_t *res);

/* Answers: `n_dup` is the number of further identical answers of the same CID directly
 * after this one in the uplink (LinkADRAns of a block, LoRaWAN 1.0.2 .. 1.0.4). */
void ns_mac_link_adr_ans(ns_mac_state_t *st, const ns_mac_ctx_t *ctx, const lorawan_mac_cmd_t *cmd,
                         unsigned n_dup, uint32_t f_cnt, ns_mac_up_result_t *res);
void ns_mac_duty_cycle_ans(ns_mac_state_t *st, ns_mac_up_result_t *res);
void ns_mac_rx_param_setup_ans(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmd,
                               ns_mac_up_result_t *res);
void ns_mac_dev_status_ans(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmd,
                           const ns_mac_uplink_t *up, ns_mac_up_result_t *res);
void ns_mac_new_channel_ans(ns_mac_state_t *st, const ns_mac_ctx_t *ctx,
                            const lorawan_mac_cmd_t *cmd, ns_mac_up_result_t *res);
void ns_mac_rx_timing_setup_ans(ns_mac_state_t *st, ns_mac_up_result_t *res);
void ns_mac_tx_param_setup_ans(ns_mac_state_t *st, ns_mac_up_result_t *res);
void ns_mac_dl_channel_ans(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmd,
                           ns_mac_up_result_t *res);
void ns_mac_adr_param_setup_ans(ns_mac_state_t *st, ns_mac_up_result_t *res);
void ns_mac_rejoin_param_setup_ans(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmd,
                                   ns_mac_up_result_t *res);
void ns_mac_ping_slot_channel_ans(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmd,
                                  ns_mac_up_result_t *res);
void ns_mac_beacon_freq_ans(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmd,
                            ns_mac_up_result_t *res);

/* Requests: build into cmds[0..cap). */
int ns_mac_new_channel_build(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx,
                             lorawan_mac_cmd_t *cmds, size_t cap);
int ns_mac_link_adr_build(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx,
                          lorawan_mac_cmd_t *cmds, size_t cap);
int ns_mac_duty_cycle_build(const ns_mac_state_t *st, lorawan_mac_cmd_t *cmds, size_t cap);
int ns_mac_rx_param_setup_build(const ns_mac_state_t *st, lorawan_mac_cmd_t *cmds, size_t cap);
int ns_mac_rx_timing_setup_build(const ns_mac_state_t *st, lorawan_mac_cmd_t *cmds, size_t cap);
int ns_mac_tx_param_setup_build(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx,
                                lorawan_mac_cmd_t *cmds, size_t cap);
int ns_mac_dl_channel_build(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx,
                            lorawan_mac_cmd_t *cmds, size_t cap);
int ns_mac_adr_param_setup_build(const ns_mac_state_t *st, lorawan_mac_cmd_t *cmds, size_t cap);
int ns_mac_rejoin_param_setup_build(const ns_mac_state_t *st, lorawan_mac_cmd_t *cmds, size_t cap);
int ns_mac_force_rejoin_build(const ns_mac_state_t *st, lorawan_mac_cmd_t *cmds, size_t cap);
int ns_mac_ping_slot_channel_build(const ns_mac_state_t *st, lorawan_mac_cmd_t *cmds, size_t cap);
int ns_mac_beacon_freq_build(const ns_mac_state_t *st, lorawan_mac_cmd_t *cmds, size_t cap);
int ns_mac_dev_status_build(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx, int64_t now_s,
                            lorawan_mac_cmd_t *cmds, size_t cap);

#endif
