/* components/ns/mac/uplink.c: dispatches the MAC commands of a data uplink. */
#include <string.h>

#include "ns/adr_private.h"
#include "ns/mac/cmd_private.h"

/* A LoRaWAN 255-byte PHYPayload holds at most 242 one-byte commands. */
#define UPLINK_MAX_CMDS 256u

int ns_mac_handle_uplink(ns_mac_state_t *st, const ns_mac_ctx_t *ctx, const ns_mac_uplink_t *up,
                         ns_mac_up_result_t *res)
{
    if (st == NULL || ctx == NULL || ctx->band == NULL || ctx->settings == NULL || up == NULL ||
        res == NULL || (up->mac == NULL && up->mac_len != 0))
        return LORAWAN_E_PARAM;
    memset(res, 0, sizeof *res);

    /* A retransmission (NbTrans, or a confirmed uplink repeated) carries the same commands:
     * they were handled with the first transmission, and the requests of a downlink sent
     * since are still pending. */
    bool retransmission = st->uplinks_since_session > 0 && up->f_cnt == st->last_f_cnt_up;
    ns_adr_record(st, up);
    st->device_adr = up->adr;
    if (up->adr_ack_req)
        res->downlink_needed = true;
    if (retransmission)
        return 0;
    st->last_f_cnt_up = up->f_cnt;
    st->uplinks_since_session++;

    lorawan_mac_cmd_t cmds[UPLINK_MAX_CMDS];
    size_t n = 0, consumed = 0;
    if (up->mac_len > 0) {
        int rc = lorawan_mac_cmds_decode(up->mac, up->mac_len, true, cmds, UPLINK_MAX_CMDS, &n,
                                         &consumed);
        if (rc != 0) {
            res->decode_error = rc;
            res->decode_offset = consumed;
            ns_mac__event(&res->n_events, res->events, "ns.mac.command.parse.fail", NULL);
        }
    }
    uint64_t cids = 0;
    for (size_t i = 0; i < n; i++) {
        if (cmds[i].cid < 64)
            cids |= (uint64_t)1 << cmds[i].cid;
        if (ns_mac__sticky(cmds[i].cid))
            res->downlink_needed = true; /* stops the repeats */
    }
    for (size_t i = 0; i < n; i++) {
        const lorawan_mac_cmd_t *c = &cmds[i];
        unsigned first_event = res->n_events;
        switch (c->cid) {
        case LORAWAN_CID_RESET:
            ns_mac_reset_ind(st, ctx, c, res);
            break;
        case LORAWAN_CID_LINK_CHECK:
            ns_mac_link_check_req(st, up, res);
            break;
        case LORAWAN_CID_LINK_ADR: {
            unsigned dup = 0;
            while (i + 1 + dup < n && cmds[i + 1 + dup].cid == LORAWAN_CID_LINK_ADR)
                dup++;
            /* LoRaWAN 1.0.2 .. 1.0.4 answer every LinkADRReq of a block; 1.0.0/1.0.1 answer
             * each request on its own; 1.1 answers a block once. */
            if (st->lorawan_version >= NS_MAC_V1_0_2 && st->lorawan_version < NS_MAC_V1_1) {
                ns_mac_link_adr_ans(st, ctx, c, dup, up->f_cnt, res);
                i += dup;
            } else {
                ns_mac_link_adr_ans(st, ctx, c, 0, up->f_cnt, res);
            }
            break;
        }
        case LORAWAN_CID_DUTY_CYCLE:
            ns_mac_duty_cycle_ans(st, res);
            break;
        case LORAWAN_CID_RX_PARAM_SETUP:
            ns_mac_rx_param_setup_ans(st, c, res);
            break;
        case LORAWAN_CID_DEV_STATUS:
            ns_mac_dev_status_ans(st, c, up, res);
            break;
        case LORAWAN_CID_NEW_CHANNEL:
            ns_mac_new_channel_ans(st, ctx, c, res);
            break;
        case LORAWAN_CID_RX_TIMING_SETUP:
            ns_mac_rx_timing_setup_ans(st, res);
            break;
        case LORAWAN_CID_TX_PARAM_SETUP:
            ns_mac_tx_param_setup_ans(st, res);
            break;
        case LORAWAN_CID_DL_CHANNEL:
            ns_mac_dl_channel_ans(st, c, res);
            break;
        case LORAWAN_CID_REKEY:
            ns_mac_rekey_ind(st, c, res);
            break;
        case LORAWAN_CID_ADR_PARAM_SETUP:
            ns_mac_adr_param_setup_ans(st, res);
            break;
        case LORAWAN_CID_DEVICE_TIME:
            ns_mac_device_time_req(st, up, res);
            break;
        case LORAWAN_CID_REJOIN_PARAM_SETUP:
            ns_mac_rejoin_param_setup_ans(st, c, res);
            break;
        case LORAWAN_CID_PING_SLOT_INFO:
            ns_mac_ping_slot_info_req(st, c, res);
            break;
        case LORAWAN_CID_PING_SLOT_CHANNEL:
            ns_mac_ping_slot_channel_ans(st, c, res);
            break;
        case LORAWAN_CID_BEACON_FREQ:
            ns_mac_beacon_freq_ans(st, c, res);
            break;
        case LORAWAN_CID_DEVICE_MODE:
            ns_mac_device_mode_ind(st, c, res);
            break;
        case LORAWAN_CID_BEACON_TIMING:
            /* Deprecated since LoRaWAN 1.0.3 Class B: not answered (as TTS). */
            ns_mac__event(&res->n_events, res->events, "ns.mac.beacon_timing.request", c);
            break;
        default:
            ns_mac__event(&res->n_events, res->events, "ns.mac.command.unknown", c);
            break;
        }
        /* An event a handler raised without a command of its own (a request, an answer
         * without payload) is about the command handled. */
        for (unsigned k = first_event; k < res->n_events; k++)
            if (res->events[k].cmd.cid == 0)
                res->events[k].cmd = *c;
    }
    st->recent_mac_command_identifiers = cids;
    /* Requests the device did not answer are forgotten: desired vs current builds them
     * again for the next downlink (TTS clears pending_requests the same way). */
    lorawan_mac_cmd_t left[NS_MAC_MAX_CMDS];
    size_t n_left = ns_mac_pending_requests(st, left, NS_MAC_MAX_CMDS);
    for (size_t i = 0; i < n_left; i++)
        ns_mac__event(&res->n_events, res->events, "ns.mac.command.unanswered", &left[i]);
    st->pending_requests_len = 0;

    /* The data rate the device transmits at is its current one (it may have backed off);
     * a device lowers its TX power index before its data rate (TTS grpc_gsns.go). */
    if (up->data_rate_index < 16) {
        if (up->data_rate_index < st->current_parameters.adr_data_rate_index)
            st->current_parameters.adr_tx_power_index = 0;
        st->current_parameters.adr_data_rate_index = up->data_rate_index;
    }
    (void)ns_adr_adapt(st, ctx);
    if (st->queued_responses_len > 0)
        res->downlink_needed = true;
    return 0;
}
