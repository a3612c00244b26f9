/* components/ns/mac/adr_param_setup.c: ADRParamSetupReq / Ans (LoRaWAN 1.1 §5.11):
 * ADR_ACK_LIMIT = 2^Limit_exp, ADR_ACK_DELAY = 2^Delay_exp. */
#include "ns/mac/cmd_private.h"

int ns_mac_adr_param_setup_build(const ns_mac_state_t *st, lorawan_mac_cmd_t *cmds, size_t cap)
{
    const ns_mac_params_t *cur = &st->current_parameters, *des = &st->desired_parameters;
    if (cap < 1 || !ns_mac__use_1_1(st) ||
        (cur->adr_ack_limit_exponent == des->adr_ack_limit_exponent &&
         cur->adr_ack_delay_exponent == des->adr_ack_delay_exponent))
        return 0;
    cmds[0] = (lorawan_mac_cmd_t){.cid = LORAWAN_CID_ADR_PARAM_SETUP, .uplink = false};
    cmds[0].u.adr_param_setup_req.limit_exp = des->adr_ack_limit_exponent & 0x0fu;
    cmds[0].u.adr_param_setup_req.delay_exp = des->adr_ack_delay_exponent & 0x0fu;
    return 1;
}

void ns_mac_adr_param_setup_ans(ns_mac_state_t *st, ns_mac_up_result_t *res)
{
    lorawan_mac_cmd_t req;
    if (!ns_mac__take_pending(st, LORAWAN_CID_ADR_PARAM_SETUP, &req)) {
        ns_mac__event(&res->n_events, res->events, "ns.mac.adr_param_setup.answer.unsolicited",
                      NULL);
        return;
    }
    st->current_parameters.adr_ack_limit_exponent = req.u.adr_param_setup_req.limit_exp;
    st->current_parameters.adr_ack_delay_exponent = req.u.adr_param_setup_req.delay_exp;
    ns_mac__event(&res->n_events, res->events, "ns.mac.adr_param_setup.answer", NULL);
}
