/* components/ns/mac/dev_status.c: DevStatusReq / Ans (LoRaWAN 1.0.4 §5.5): battery and
 * demodulation margin, asked for every status_count_periodicity uplinks or
 * status_time_periodicity seconds (TTS DeviceNeedsDevStatusReq). */
#include "ns/mac/cmd_private.h"

static void periods(const ns_mac_ctx_t *ctx, uint32_t *count, uint32_t *time_s)
{
    const ns_mac_settings_t *s = ctx->settings;
    *count =
        s->has_status_count_periodicity ? s->status_count_periodicity : NS_MAC_DEFAULT_STATUS_COUNT;
    *time_s = s->has_status_time_periodicity ? s->status_time_periodicity_s
                                             : NS_MAC_DEFAULT_STATUS_TIME_S;
}

int ns_mac_dev_status_build(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx, int64_t now_s,
                            lorawan_mac_cmd_t *cmds, size_t cap)
{
    uint32_t cp, tp;
    periods(ctx, &cp, &tp);
    if (cap < 1)
        return 0;
    bool needed = false;
    if (!st->dev_status_received)
        needed = cp != 0 || tp != 0;
    else if (cp != 0 && (uint64_t)st->last_dev_status_f_cnt_up + cp <= st->last_f_cnt_up)
        needed = true;
    else if (tp != 0 && st->last_dev_status_received_at_s + (int64_t)tp <= now_s)
        needed = true;
    if (!needed)
        return 0;
    cmds[0] = (lorawan_mac_cmd_t){.cid = LORAWAN_CID_DEV_STATUS, .uplink = false};
    return 1;
}

void ns_mac_dev_status_ans(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmd,
                           const ns_mac_uplink_t *up, ns_mac_up_result_t *res)
{
    if (!ns_mac__take_pending(st, LORAWAN_CID_DEV_STATUS, NULL)) {
        ns_mac__event(&res->n_events, res->events, "ns.mac.dev_status.answer.unsolicited", cmd);
        return;
    }
    st->dev_status_received = true;
    st->battery = cmd->u.dev_status_ans.battery;
    st->downlink_margin = cmd->u.dev_status_ans.margin;
    st->last_dev_status_f_cnt_up = up->f_cnt;
    st->last_dev_status_received_at_s = up->received_at_s;
    ns_mac__event(&res->n_events, res->events, "ns.mac.dev_status.answer", cmd);
}
