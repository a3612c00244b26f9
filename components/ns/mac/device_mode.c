/* components/ns/mac/device_mode.c: DeviceModeInd → DeviceModeConf (LoRaWAN 1.1 §5.14 /
 * 1.0.4 Class C appendix): the device switches between class A and C. */
#include "ns/mac/cmd_private.h"

void ns_mac_device_mode_ind(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmd,
                            ns_mac_up_result_t *res)
{
    ns_mac__event(&res->n_events, res->events, "ns.mac.device_mode.indication", cmd);
    if (!ns_mac__use_1_1(st))
        return; /* LoRaWAN 1.1 only (TTS UseDeviceModeInd) */
    uint8_t c = cmd->u.device_mode.device_class;
    if (c == NS_MAC_CLASS_A || c == NS_MAC_CLASS_C) {
        if (st->device_class != c)
            res->device_mode_changed = true;
        st->device_class = c;
    }
    lorawan_mac_cmd_t conf = {.cid = LORAWAN_CID_DEVICE_MODE, .uplink = false};
    conf.u.device_mode.device_class = st->device_class == NS_MAC_CLASS_C ? 2 : 0;
    if (ns_mac__queue_response(st, &conf))
        ns_mac__event(&res->n_events, res->events, "ns.mac.device_mode.confirmation", &conf);
}
