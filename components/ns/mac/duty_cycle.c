/* components/ns/mac/duty_cycle.c: DutyCycleReq / Ans (LoRaWAN 1.0.4 §5.3): the aggregated
 * duty cycle 1/2^MaxDCycle. The answer has no status: it is an acceptance. */
#include "ns/mac/cmd_private.h"

int ns_mac_duty_cycle_build(const ns_mac_state_t *st, lorawan_mac_cmd_t *cmds, size_t cap)
{
    if (cap < 1 || st->current_parameters.max_duty_cycle == st->desired_parameters.max_duty_cycle)
        return 0;
    cmds[0] = (lorawan_mac_cmd_t){.cid = LORAWAN_CID_DUTY_CYCLE, .uplink = false};
    cmds[0].u.duty_cycle_req.max_duty_cycle = st->desired_parameters.max_duty_cycle & 0x0fu;
    return 1;
}

void ns_mac_duty_cycle_ans(ns_mac_state_t *st, ns_mac_up_result_t *res)
{
    lorawan_mac_cmd_t req;
    if (!ns_mac__take_pending(st, LORAWAN_CID_DUTY_CYCLE, &req)) {
        ns_mac__event(&res->n_events, res->events, "ns.mac.duty_cycle.answer.unsolicited", NULL);
        return;
    }
    st->current_parameters.max_duty_cycle = req.u.duty_cycle_req.max_duty_cycle;
    ns_mac__event(&res->n_events, res->events, "ns.mac.duty_cycle.answer", NULL);
}
