/* components/ns/mac/dl_channel.c: DlChannelReq / Ans (LoRaWAN 1.0.4 §5.8, 1.0.2 and later,
 * dynamic-channel bands): the RX1 frequency of an uplink channel. */
#include "ns/mac/cmd_private.h"

int ns_mac_dl_channel_build(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx,
                            lorawan_mac_cmd_t *cmds, size_t cap)
{
    if (!ns_mac__use_1_0_2(st) || !lorawan_band_dynamic_channels(ctx->band))
        return 0;
    const ns_mac_params_t *cur = &st->current_parameters, *des = &st->desired_parameters;
    size_t n = 0;
    for (unsigned i = 0; i < NS_MAC_MAX_DEFINED_CHANNELS && n < cap; i++) {
        const ns_mac_dyn_channel_t *c = &cur->defined[i], *d = &des->defined[i];
        if (c->uplink_frequency == 0 || c->uplink_frequency != d->uplink_frequency ||
            d->downlink_frequency == 0 || c->downlink_frequency == d->downlink_frequency)
            continue;
        cmds[n] = (lorawan_mac_cmd_t){.cid = LORAWAN_CID_DL_CHANNEL, .uplink = false};
        cmds[n].u.dl_channel_req.ch_index = (uint8_t)i;
        cmds[n].u.dl_channel_req.frequency_hz = d->downlink_frequency;
        n++;
    }
    return (int)n;
}

void ns_mac_dl_channel_ans(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmd,
                           ns_mac_up_result_t *res)
{
    lorawan_mac_cmd_t req;
    if (!ns_mac__take_pending(st, LORAWAN_CID_DL_CHANNEL, &req)) {
        ns_mac__unsolicited(st, LORAWAN_CID_DL_CHANNEL, "ns.mac.dl_channel.answer.unsolicited", cmd,
                            res);
        return;
    }
    unsigned i = req.u.dl_channel_req.ch_index;
    if (!cmd->u.dl_channel_ans.uplink_frequency_exists ||
        !cmd->u.dl_channel_ans.channel_frequency_ok || i >= NS_MAC_MAX_DEFINED_CHANNELS) {
        ns_mac__event(&res->n_events, res->events, "ns.mac.dl_channel.answer.reject", cmd);
        return;
    }
    st->current_parameters.defined[i].downlink_frequency = req.u.dl_channel_req.frequency_hz;
    ns_mac__event(&res->n_events, res->events, "ns.mac.dl_channel.answer.accept", cmd);
}
