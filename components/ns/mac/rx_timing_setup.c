/* components/ns/mac/rx_timing_setup.c: RXTimingSetupReq / Ans (LoRaWAN 1.0.4 §5.7): the
 * RX1 delay, 1..15 s (0 means 1 s). The answer has no status: it is an acceptance. */
#include "ns/mac/cmd_private.h"

int ns_mac_rx_timing_setup_build(const ns_mac_state_t *st, lorawan_mac_cmd_t *cmds, size_t cap)
{
    uint8_t want = st->desired_parameters.rx1_delay == 0 ? 1 : st->desired_parameters.rx1_delay;
    uint8_t have = st->current_parameters.rx1_delay == 0 ? 1 : st->current_parameters.rx1_delay;
    if (cap < 1 || want == have || want > 15)
        return 0;
    cmds[0] = (lorawan_mac_cmd_t){.cid = LORAWAN_CID_RX_TIMING_SETUP, .uplink = false};
    cmds[0].u.rx_timing_setup_req.delay = want;
    return 1;
}

void ns_mac_rx_timing_setup_ans(ns_mac_state_t *st, ns_mac_up_result_t *res)
{
    lorawan_mac_cmd_t req;
    if (!ns_mac__take_pending(st, LORAWAN_CID_RX_TIMING_SETUP, &req)) {
        /* The device repeats the answer until it receives a downlink (LoRaWAN 1.0.4 §5.7). */
        ns_mac__unsolicited(st, LORAWAN_CID_RX_TIMING_SETUP,
                            "ns.mac.rx_timing_setup.answer.unsolicited", NULL, res);
        return;
    }
    st->current_parameters.rx1_delay =
        req.u.rx_timing_setup_req.delay == 0 ? 1 : req.u.rx_timing_setup_req.delay;
    ns_mac__event(&res->n_events, res->events, "ns.mac.rx_timing_setup.answer", NULL);
}
