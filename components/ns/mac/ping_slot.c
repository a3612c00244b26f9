/* components/ns/mac/ping_slot.c: Class B ping slots (LoRaWAN 1.0.4 Class B §13, 1.1 §14):
 * PingSlotInfoReq → PingSlotInfoAns, PingSlotChannelReq / Ans. */
#include "ns/mac/cmd_private.h"

void ns_mac_ping_slot_info_req(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmd,
                               ns_mac_up_result_t *res)
{
    ns_mac__event(&res->n_events, res->events, "ns.mac.ping_slot_info.request", cmd);
    st->ping_slot_info_received = true;
    st->ping_slot_periodicity = cmd->u.ping_slot_info_req.periodicity & 0x07u;
    lorawan_mac_cmd_t ans = {.cid = LORAWAN_CID_PING_SLOT_INFO, .uplink = false};
    if (ns_mac__queue_response(st, &ans))
        ns_mac__event(&res->n_events, res->events, "ns.mac.ping_slot_info.answer", &ans);
}

int ns_mac_ping_slot_channel_build(const ns_mac_state_t *st, lorawan_mac_cmd_t *cmds, size_t cap)
{
    const ns_mac_params_t *cur = &st->current_parameters, *des = &st->desired_parameters;
    if (cap < 1 || (cur->ping_slot_frequency == des->ping_slot_frequency &&
                    cur->ping_slot_data_rate_index == des->ping_slot_data_rate_index))
        return 0;
    cmds[0] = (lorawan_mac_cmd_t){.cid = LORAWAN_CID_PING_SLOT_CHANNEL, .uplink = false};
    cmds[0].u.ping_slot_channel_req.frequency_hz = des->ping_slot_frequency;
    cmds[0].u.ping_slot_channel_req.data_rate = des->ping_slot_data_rate_index;
    return 1;
}

void ns_mac_ping_slot_channel_ans(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmd,
                                  ns_mac_up_result_t *res)
{
    lorawan_mac_cmd_t req;
    if (!ns_mac__take_pending(st, LORAWAN_CID_PING_SLOT_CHANNEL, &req)) {
        ns_mac__event(&res->n_events, res->events, "ns.mac.ping_slot_channel.answer.unsolicited",
                      cmd);
        return;
    }
    if (!cmd->u.ping_slot_channel_ans.data_rate_ok ||
        !cmd->u.ping_slot_channel_ans.channel_frequency_ok) {
        ns_mac__event(&res->n_events, res->events, "ns.mac.ping_slot_channel.answer.reject", cmd);
        return;
    }
    st->current_parameters.ping_slot_frequency = req.u.ping_slot_channel_req.frequency_hz;
    st->current_parameters.ping_slot_data_rate_index = req.u.ping_slot_channel_req.data_rate;
    ns_mac__event(&res->n_events, res->events, "ns.mac.ping_slot_channel.answer.accept", cmd);
}
