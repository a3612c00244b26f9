/* components/ns/mac/rejoin_param_setup.c: RejoinParamSetupReq / Ans (LoRaWAN 1.1 §5.15):
 * a type 0 rejoin every 2^(MaxCountN+4) uplinks or 2^(MaxTimeN+10) s. The device always
 * takes the count; TimeOK says whether it takes the time too. */
#include "ns/mac/cmd_private.h"

int ns_mac_rejoin_param_setup_build(const ns_mac_state_t *st, lorawan_mac_cmd_t *cmds, size_t cap)
{
    const ns_mac_params_t *cur = &st->current_parameters, *des = &st->desired_parameters;
    if (cap < 1 || !ns_mac__use_1_1(st) ||
        (cur->rejoin_time_periodicity == des->rejoin_time_periodicity &&
         cur->rejoin_count_periodicity == des->rejoin_count_periodicity))
        return 0;
    cmds[0] = (lorawan_mac_cmd_t){.cid = LORAWAN_CID_REJOIN_PARAM_SETUP, .uplink = false};
    cmds[0].u.rejoin_param_setup_req.max_time_n = des->rejoin_time_periodicity & 0x0fu;
    cmds[0].u.rejoin_param_setup_req.max_count_n = des->rejoin_count_periodicity & 0x0fu;
    return 1;
}

void ns_mac_rejoin_param_setup_ans(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmd,
                                   ns_mac_up_result_t *res)
{
    lorawan_mac_cmd_t req;
    if (!ns_mac__take_pending(st, LORAWAN_CID_REJOIN_PARAM_SETUP, &req)) {
        ns_mac__event(&res->n_events, res->events, "ns.mac.rejoin_param_setup.answer.unsolicited",
                      cmd);
        return;
    }
    st->current_parameters.rejoin_count_periodicity = req.u.rejoin_param_setup_req.max_count_n;
    if (cmd->u.rejoin_param_setup_ans.time_ok) {
        st->current_parameters.rejoin_time_periodicity = req.u.rejoin_param_setup_req.max_time_n;
        ns_mac__event(&res->n_events, res->events, "ns.mac.rejoin_param_setup.answer.accept", cmd);
    } else {
        /* Only the count was taken: desired follows, so the request is not repeated. */
        st->desired_parameters.rejoin_time_periodicity =
            st->current_parameters.rejoin_time_periodicity;
        ns_mac__event(&res->n_events, res->events, "ns.mac.rejoin_param_setup.answer.reject", cmd);
    }
}
