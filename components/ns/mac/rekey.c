/* components/ns/mac/rekey.c: RekeyInd → RekeyConf (LoRaWAN 1.1 §5.10, OTAA devices): the
 * device confirms its new session; the NS answers with the minor version it serves (1). The
 * device repeats RekeyInd until it receives RekeyConf, so every one is answered. */
#include "ns/mac/cmd_private.h"

#define REKEY_SERVER_MINOR 1u

void ns_mac_rekey_ind(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmd, ns_mac_up_result_t *res)
{
    ns_mac__event(&res->n_events, res->events, "ns.mac.rekey.indication", cmd);
    if (!ns_mac__use_1_1(st))
        return;
    st->rekey_confirmed = true;
    res->rekey = true;
    lorawan_mac_cmd_t conf = {.cid = LORAWAN_CID_REKEY, .uplink = false};
    conf.u.rekey.minor =
        cmd->u.rekey.minor < REKEY_SERVER_MINOR ? cmd->u.rekey.minor : REKEY_SERVER_MINOR;
    if (ns_mac__queue_response(st, &conf))
        ns_mac__event(&res->n_events, res->events, "ns.mac.rekey.confirmation", &conf);
}
