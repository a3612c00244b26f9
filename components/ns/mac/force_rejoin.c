/* components/ns/mac/force_rejoin.c: ForceRejoinReq (LoRaWAN 1.1 §5.13): asked for with
 * ns_mac_force_rejoin(); sent once; the device answers with a rejoin-request, not a MAC
 * command, so nothing stays pending. */
#include "ns/mac/cmd_private.h"

int ns_mac_force_rejoin_build(const ns_mac_state_t *st, lorawan_mac_cmd_t *cmds, size_t cap)
{
    if (cap < 1 || !st->pending_force_rejoin || !ns_mac__use_1_1(st))
        return 0;
    cmds[0] = (lorawan_mac_cmd_t){.cid = LORAWAN_CID_FORCE_REJOIN, .uplink = false};
    cmds[0].u.force_rejoin_req.period = st->force_rejoin_period;
    cmds[0].u.force_rejoin_req.max_retries = st->force_rejoin_max_retries;
    cmds[0].u.force_rejoin_req.rejoin_type = st->force_rejoin_type;
    cmds[0].u.force_rejoin_req.data_rate = st->force_rejoin_data_rate;
    return 1;
}
