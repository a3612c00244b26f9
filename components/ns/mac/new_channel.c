/* components/ns/mac/new_channel.c: NewChannelReq / Ans (LoRaWAN 1.0.4 §5.6, dynamic-channel
 * bands): defines, changes (frequency, data-rate range) or deletes (frequency 0) uplink
 * channels beyond the band's default ones, which a device cannot change. */
#include "ns/mac/cmd_private.h"

int ns_mac_new_channel_build(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx,
                             lorawan_mac_cmd_t *cmds, size_t cap)
{
    if (!lorawan_band_dynamic_channels(ctx->band))
        return 0;
    const ns_mac_params_t *cur = &st->current_parameters, *des = &st->desired_parameters;
    unsigned first = lorawan_band_uplink_channel_count(ctx->band, ns_mac__rev(st));
    size_t n = 0;
    for (unsigned i = first; i < NS_MAC_MAX_DEFINED_CHANNELS && n < cap; i++) {
        const ns_mac_dyn_channel_t *c = &cur->defined[i], *d = &des->defined[i];
        if (c->uplink_frequency == d->uplink_frequency &&
            (d->uplink_frequency == 0 || (c->min_data_rate_index == d->min_data_rate_index &&
                                          c->max_data_rate_index == d->max_data_rate_index)))
            continue;
        cmds[n] = (lorawan_mac_cmd_t){.cid = LORAWAN_CID_NEW_CHANNEL, .uplink = false};
        cmds[n].u.new_channel_req.ch_index = (uint8_t)i;
        cmds[n].u.new_channel_req.frequency_hz = d->uplink_frequency;
        cmds[n].u.new_channel_req.min_dr = d->uplink_frequency == 0 ? 0 : d->min_data_rate_index;
        cmds[n].u.new_channel_req.max_dr = d->uplink_frequency == 0 ? 0 : d->max_data_rate_index;
        n++;
    }
    return (int)n;
}

void ns_mac_new_channel_ans(ns_mac_state_t *st, const ns_mac_ctx_t *ctx,
                            const lorawan_mac_cmd_t *cmd, ns_mac_up_result_t *res)
{
    (void)ctx;
    lorawan_mac_cmd_t req;
    if (!ns_mac__take_pending(st, LORAWAN_CID_NEW_CHANNEL, &req)) {
        ns_mac__event(&res->n_events, res->events, "ns.mac.new_channel.answer.unsolicited", cmd);
        return;
    }
    unsigned i = req.u.new_channel_req.ch_index;
    if (!cmd->u.new_channel_ans.data_rate_range_ok ||
        !cmd->u.new_channel_ans.channel_frequency_ok || i >= NS_MAC_MAX_DEFINED_CHANNELS) {
        ns_mac__event(&res->n_events, res->events, "ns.mac.new_channel.answer.reject", cmd);
        return;
    }
    ns_mac_params_t *cur = &st->current_parameters;
    uint32_t f = req.u.new_channel_req.frequency_hz;
    if (f == 0) {
        cur->defined[i] = (ns_mac_dyn_channel_t){0, 0, 0, 0};
        lorawan_chset_set(&cur->enabled, i, false);
    } else {
        /* LoRaWAN 1.0.4 §5.6: the new or changed channel is enabled, RX1 on its frequency. */
        cur->defined[i] = (ns_mac_dyn_channel_t){f, f, req.u.new_channel_req.min_dr,
                                                 req.u.new_channel_req.max_dr};
        lorawan_chset_set(&cur->enabled, i, true);
    }
    ns_mac__event(&res->n_events, res->events, "ns.mac.new_channel.answer.accept", cmd);
}
