/* components/ns/mac/reset.c: ResetInd → ResetConf (LoRaWAN 1.1 §5.1, ABP devices): the
 * device restarted with its default MAC parameters; the NS answers with the minor version
 * it serves (1) and takes the band's defaults as current again. */
#include <string.h>

#include "ns/mac/cmd_private.h"

/* LoRaWAN 1.1 §5.1: the server's LoRaWAN minor version. */
#define RESET_SERVER_MINOR 1u

void ns_mac_reset_ind(ns_mac_state_t *st, const ns_mac_ctx_t *ctx, const lorawan_mac_cmd_t *cmd,
                      ns_mac_up_result_t *res)
{
    ns_mac__event(&res->n_events, res->events, "ns.mac.reset.indication", cmd);
    if (!ns_mac__use_1_1(st))
        return; /* a 1.0.x device does not send it: ignored (as TTS) */
    ns_mac_state_t fresh;
    if (ns_mac_state_init(&fresh, ctx, ns_mac__rev(st), (ns_mac_version_t)st->lorawan_version,
                          (ns_mac_class_t)st->device_class) == 0) {
        st->current_parameters = fresh.current_parameters;
        st->pending_requests_len = 0;
        st->rejected_adr_data_rate_indexes = 0;
        st->rejected_adr_tx_power_indexes = 0;
    }
    res->reset = true;
    lorawan_mac_cmd_t conf = {.cid = LORAWAN_CID_RESET, .uplink = false};
    conf.u.reset.minor =
        cmd->u.reset.minor < RESET_SERVER_MINOR ? cmd->u.reset.minor : RESET_SERVER_MINOR;
    if (ns_mac__queue_response(st, &conf))
        ns_mac__event(&res->n_events, res->events, "ns.mac.reset.confirmation", &conf);
}
