/* components/ns/mac/beacon_freq.c: BeaconFreqReq / Ans (LoRaWAN 1.0.4 Class B §13.2). */
#include "ns/mac/cmd_private.h"

int ns_mac_beacon_freq_build(const ns_mac_state_t *st, lorawan_mac_cmd_t *cmds, size_t cap)
{
    if (cap < 1 ||
        st->current_parameters.beacon_frequency == st->desired_parameters.beacon_frequency)
        return 0;
    cmds[0] = (lorawan_mac_cmd_t){.cid = LORAWAN_CID_BEACON_FREQ, .uplink = false};
    cmds[0].u.beacon_freq_req.frequency_hz = st->desired_parameters.beacon_frequency;
    return 1;
}

void ns_mac_beacon_freq_ans(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmd,
                            ns_mac_up_result_t *res)
{
    lorawan_mac_cmd_t req;
    if (!ns_mac__take_pending(st, LORAWAN_CID_BEACON_FREQ, &req)) {
        ns_mac__event(&res->n_events, res->events, "ns.mac.beacon_freq.answer.unsolicited", cmd);
        return;
    }
    if (!cmd->u.beacon_freq_ans.beacon_frequency_ok) {
        ns_mac__event(&res->n_events, res->events, "ns.mac.beacon_freq.answer.reject", cmd);
        return;
    }
    st->current_parameters.beacon_frequency = req.u.beacon_freq_req.frequency_hz;
    ns_mac__event(&res->n_events, res->events, "ns.mac.beacon_freq.answer.accept", cmd);
}
