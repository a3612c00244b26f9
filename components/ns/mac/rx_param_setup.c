/* components/ns/mac/rx_param_setup.c: RXParamSetupReq / Ans (LoRaWAN 1.0.4 §5.4): RX1
 * data-rate offset, RX2 data rate and frequency; applied only when all three are acked. */
#include "ns/mac/cmd_private.h"

int ns_mac_rx_param_setup_build(const ns_mac_state_t *st, lorawan_mac_cmd_t *cmds, size_t cap)
{
    const ns_mac_params_t *cur = &st->current_parameters, *des = &st->desired_parameters;
    if (cap < 1 || (cur->rx1_data_rate_offset == des->rx1_data_rate_offset &&
                    cur->rx2_data_rate_index == des->rx2_data_rate_index &&
                    cur->rx2_frequency == des->rx2_frequency))
        return 0;
    cmds[0] = (lorawan_mac_cmd_t){.cid = LORAWAN_CID_RX_PARAM_SETUP, .uplink = false};
    cmds[0].u.rx_param_setup_req.rx1_dr_offset = des->rx1_data_rate_offset;
    cmds[0].u.rx_param_setup_req.rx2_data_rate = des->rx2_data_rate_index;
    cmds[0].u.rx_param_setup_req.frequency_hz = des->rx2_frequency;
    return 1;
}

void ns_mac_rx_param_setup_ans(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmd,
                               ns_mac_up_result_t *res)
{
    lorawan_mac_cmd_t req;
    if (!ns_mac__take_pending(st, LORAWAN_CID_RX_PARAM_SETUP, &req)) {
        /* Repeated by the device until it receives a downlink (LoRaWAN 1.0.4 §5.4). */
        ns_mac__unsolicited(st, LORAWAN_CID_RX_PARAM_SETUP,
                            "ns.mac.rx_param_setup.answer.unsolicited", cmd, res);
        return;
    }
    const bool ok = cmd->u.rx_param_setup_ans.rx1_dr_offset_ack &&
                    cmd->u.rx_param_setup_ans.rx2_data_rate_ack &&
                    cmd->u.rx_param_setup_ans.channel_ack;
    if (!ok) {
        ns_mac__event(&res->n_events, res->events, "ns.mac.rx_param_setup.answer.reject", cmd);
        return;
    }
    st->current_parameters.rx1_data_rate_offset = req.u.rx_param_setup_req.rx1_dr_offset;
    st->current_parameters.rx2_data_rate_index = req.u.rx_param_setup_req.rx2_data_rate;
    st->current_parameters.rx2_frequency = req.u.rx_param_setup_req.frequency_hz;
    ns_mac__event(&res->n_events, res->events, "ns.mac.rx_param_setup.answer.accept", cmd);
}
