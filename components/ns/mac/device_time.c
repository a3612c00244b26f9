/* components/ns/mac/device_time.c: DeviceTimeReq → DeviceTimeAns (LoRaWAN 1.0.4 §5.9,
 * 1.1 §5.13): the GPS time at the end of the uplink, in seconds and 1/256 s. */
#include "ns/mac/cmd_private.h"

void ns_mac_device_time_req(ns_mac_state_t *st, const ns_mac_uplink_t *up, ns_mac_up_result_t *res)
{
    ns_mac__event(&res->n_events, res->events, "ns.mac.device_time.request", NULL);
    if (!up->has_gps_time || up->gps_time_256ths >> 8 > UINT32_MAX) {
        ns_mac__event(&res->n_events, res->events, "ns.mac.device_time.no_time", NULL);
        return;
    }
    lorawan_mac_cmd_t ans = {.cid = LORAWAN_CID_DEVICE_TIME, .uplink = false};
    ans.u.device_time_ans.gps_seconds = (uint32_t)(up->gps_time_256ths >> 8);
    ans.u.device_time_ans.fractional_256ths = (uint8_t)(up->gps_time_256ths & 0xffu);
    if (ns_mac__queue_response(st, &ans))
        ns_mac__event(&res->n_events, res->events, "ns.mac.device_time.answer", &ans);
}
