/* components/ns/mac/link_adr.c: LinkADRReq / Ans (LoRaWAN 1.0.4 §5.3, 1.1 §5.3): data rate,
 * TX power, NbTrans and the enabled uplink channels.
 *
 * A change of channels may need a block of LinkADRReq (US915 / AU915 / CN470): the device
 * applies a contiguous block as a whole (1.0.2 and later) and answers every command of it
 * with the same status (1.0.2 .. 1.0.4) or once (1.1); 1.0.0 / 1.0.1 devices apply and
 * answer each command on its own. current_parameters change only when all three status
 * bits are set; a rejected data rate or TX power is remembered (TTS
 * rejected_adr_data_rate_indexes / rejected_adr_tx_power_indexes) and not asked for again
 * in this session. */
#include <string.h>

#include "ns/mac/cmd_private.h"

/* LoRaWAN 1.0.4 §5.3: DataRate / TXPower 15 = keep the current value. */
#define LINK_ADR_NO_CHANGE 15u

static bool chset_equal(const lorawan_chset_t *a, const lorawan_chset_t *b)
{
    return a->bits[0] == b->bits[0] && a->bits[1] == b->bits[1];
}

/* Channels the device knows now, counting pending NewChannelReq (built earlier in this
 * downlink): *defined and the enabled *enabled. */
static void device_channels(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx,
                            lorawan_chset_t *defined, lorawan_chset_t *enabled)
{
    const ns_mac_params_t *cur = &st->current_parameters;
    *enabled = cur->enabled;
    lorawan_chset_clear(defined);
    unsigned n = ns_mac_channel_count(st, cur);
    for (unsigned i = 0; i < n; i++)
        if (ns_mac__channel_defined(st, ctx, cur, i))
            lorawan_chset_set(defined, i, true);
    lorawan_mac_cmd_t pending[NS_MAC_MAX_CMDS];
    size_t n_pending = ns_mac_pending_requests(st, pending, NS_MAC_MAX_CMDS);
    for (size_t k = 0; k < n_pending; k++) {
        const lorawan_mac_cmd_t *r = &pending[k];
        if (r->cid != LORAWAN_CID_NEW_CHANNEL)
            continue;
        bool on = r->u.new_channel_req.frequency_hz != 0;
        lorawan_chset_set(defined, r->u.new_channel_req.ch_index, on);
        lorawan_chset_set(enabled, r->u.new_channel_req.ch_index, on);
    }
}

static uint16_t block_bits(const lorawan_chset_t *s, unsigned first)
{
    uint16_t m = 0;
    for (unsigned i = 0; i < 16; i++)
        if (lorawan_chset_test(s, first + i))
            m |= (uint16_t)(1u << i);
    return m;
}

/* Applies masks[0..n) to a copy of *from; true when the result equals *want. */
static bool masks_reach(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx,
                        const lorawan_chset_t *defined, const lorawan_chset_t *from,
                        const lorawan_chset_t *want, const uint8_t *cntl, const uint16_t *mask,
                        size_t n)
{
    lorawan_chset_t s = *from;
    const lorawan_chset_t *def = lorawan_band_dynamic_channels(ctx->band) ? defined : NULL;
    for (size_t i = 0; i < n; i++)
        if (lorawan_band_link_adr_apply(ctx->band, ns_mac__rev(st), cntl[i], mask[i], def, &s) != 0)
            return false;
    return chset_equal(&s, want) && lorawan_chset_count(&s) > 0;
}

/* The ChMaskCntl/ChMask blocks of 16 channels among [0, 16 * blocks) where `want` differs
 * from `from` (from NULL: compared with all off; all_on: with all on). */
static size_t diff_blocks(const lorawan_chset_t *from, bool all_on, const lorawan_chset_t *want,
                          unsigned blocks, uint8_t *cntl, uint16_t *mask, size_t k)
{
    for (unsigned b = 0; b < blocks; b++) {
        uint16_t w = block_bits(want, b * 16);
        uint16_t f = from != NULL ? block_bits(from, b * 16) : all_on ? 0xffffu : 0;
        if (w != f) {
            cntl[k] = (uint8_t)b;
            mask[k++] = w;
        }
    }
    return k;
}

/* The ChMaskCntl/ChMask sequence taking `from` to `want`, as TTS generates it
 * (pkg/band/channel_mask.go); 0 when none is found. */
static size_t gen_masks(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx,
                        const lorawan_chset_t *defined, const lorawan_chset_t *from,
                        const lorawan_chset_t *want, uint8_t *cntl, uint16_t *mask, size_t cap)
{
    const lorawan_band_t *band = ctx->band;
    unsigned max = lorawan_band_max_channels(band, ns_mac__rev(st));
    uint8_t c[8];
    uint16_t m[8];
    size_t k = 0;
    if (lorawan_band_dynamic_channels(band) || chset_equal(from, want)) {
        /* EU-like bands, and "no channel change" (DR / power / NbTrans only). */
        c[0] = 0;
        m[0] = block_bits(want, 0);
        k = 1;
    } else if (max == 72) {
        uint16_t m500 = (uint16_t)(block_bits(want, 64) & 0xffu);
        uint64_t on = want->bits[0];
        if (on == 0 || on == UINT64_MAX) {
            c[0] = on == 0 ? 7 : 6;
            m[0] = m500;
            k = 1;
        } else {
            k = diff_blocks(from, false, want, 4, c, m, 0);
            if (m500 != (block_bits(from, 64) & 0xffu)) {
                c[k] = 4;
                m[k++] = m500;
            }
            uint8_t c6[5], c7[5];
            uint16_t m6[5], m7[5];
            size_t k6 = diff_blocks(NULL, true, want, 4, c6, m6, 0);
            size_t k7 = diff_blocks(NULL, false, want, 4, c7, m7, 0);
            if (k > 2 && (k > 1 + k6 || k > 1 + k7)) {
                bool six = k6 < k7;
                c[0] = six ? 6 : 7;
                m[0] = m500;
                k = 1;
                for (size_t i = 0; i < (six ? k6 : k7); i++) {
                    c[k] = six ? c6[i] : c7[i];
                    m[k++] = six ? m6[i] : m7[i];
                }
            }
        }
    } else {
        /* CN470 plans: blocks of 16, or everything on (6). */
        bool all = lorawan_chset_count(want) == max;
        if (all) {
            c[0] = 6;
            m[0] = 0;
            k = 1;
        } else {
            k = diff_blocks(from, false, want, max / 16, c, m, 0);
        }
    }
    if (k == 0 || k > cap || !masks_reach(st, ctx, defined, from, want, c, m, k))
        return 0;
    memcpy(cntl, c, k);
    memcpy(mask, m, k * sizeof m[0]);
    return k;
}

static bool rejected_dr(const ns_mac_state_t *st, uint8_t dr)
{
    return dr < 16 && (st->rejected_adr_data_rate_indexes & (1u << dr)) != 0;
}

static bool rejected_power(const ns_mac_state_t *st, uint8_t p)
{
    return p < 16 && (st->rejected_adr_tx_power_indexes & (1u << p)) != 0;
}

int ns_mac_link_adr_build(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx,
                          lorawan_mac_cmd_t *cmds, size_t cap)
{
    const ns_mac_params_t *cur = &st->current_parameters, *des = &st->desired_parameters;
    lorawan_chset_t defined, enabled, want;
    device_channels(st, ctx, &defined, &enabled);
    /* Desired channels the device knows (the others come with NewChannelReq first). */
    want.bits[0] = des->enabled.bits[0] & defined.bits[0];
    want.bits[1] = des->enabled.bits[1] & defined.bits[1];
    if (lorawan_chset_count(&want) == 0)
        want = enabled;
    bool masks_equal = chset_equal(&want, &enabled);

    uint8_t dr = des->adr_data_rate_index, power = des->adr_tx_power_index;
    uint8_t nb = des->adr_nb_trans;
    /* Data rate within the desired channels' range, and not rejected; else keep. */
    uint8_t min_dr = 0, max_dr = 0;
    if (!ns_mac__enabled_dr_range(st, ctx, des, &min_dr, &max_dr) || dr < min_dr || dr > max_dr)
        dr = cur->adr_data_rate_index;
    if (power > lorawan_band_tx_power_max_index(ctx->band, ns_mac__rev(st)))
        power = cur->adr_tx_power_index;
    if (rejected_dr(st, dr) || rejected_power(st, power)) {
        dr = cur->adr_data_rate_index;
        power = cur->adr_tx_power_index;
    }
    if (nb == 0 || nb > 15)
        nb = cur->adr_nb_trans;
    if (masks_equal && dr == cur->adr_data_rate_index && power == cur->adr_tx_power_index &&
        nb == cur->adr_nb_trans)
        return 0;

    uint8_t cntl[8];
    uint16_t mask[8];
    size_t n = gen_masks(st, ctx, &defined, &enabled, &want, cntl, mask, cap < 8 ? cap : 8);
    if (n == 0)
        return 0;
    if (ns_mac__has_no_change_adr_indices(st)) {
        if (dr == cur->adr_data_rate_index && !rejected_dr(st, LINK_ADR_NO_CHANGE))
            dr = LINK_ADR_NO_CHANGE;
        if (power == cur->adr_tx_power_index && !rejected_power(st, LINK_ADR_NO_CHANGE))
            power = LINK_ADR_NO_CHANGE;
    }
    for (size_t i = 0; i < n; i++) {
        cmds[i] = (lorawan_mac_cmd_t){.cid = LORAWAN_CID_LINK_ADR, .uplink = false};
        cmds[i].u.link_adr_req.data_rate = dr;
        cmds[i].u.link_adr_req.tx_power = power;
        cmds[i].u.link_adr_req.ch_mask = mask[i];
        cmds[i].u.link_adr_req.ch_mask_cntl = cntl[i];
        cmds[i].u.link_adr_req.nb_trans = nb;
    }
    return (int)n;
}

void ns_mac_link_adr_ans(ns_mac_state_t *st, const ns_mac_ctx_t *ctx, const lorawan_mac_cmd_t *cmd,
                         unsigned n_dup, uint32_t f_cnt, ns_mac_up_result_t *res)
{
    (void)n_dup;
    /* The block: the first pending LinkADRReq and those right after it (one on its own for
     * LoRaWAN 1.0.0 / 1.0.1). */
    lorawan_mac_cmd_t pending[NS_MAC_MAX_CMDS];
    size_t n_pending = ns_mac_pending_requests(st, pending, NS_MAC_MAX_CMDS);
    size_t first = n_pending, n = 0;
    for (size_t i = 0; i < n_pending; i++)
        if (pending[i].cid == LORAWAN_CID_LINK_ADR) {
            first = i;
            break;
        }
    bool whole_block = st->lorawan_version >= NS_MAC_V1_0_2;
    while (first + n < n_pending && pending[first + n].cid == LORAWAN_CID_LINK_ADR &&
           (whole_block || n == 0))
        n++;
    if (n == 0) {
        ns_mac__event(&res->n_events, res->events, "ns.mac.link_adr.answer.unsolicited", cmd);
        return;
    }
    lorawan_mac_cmd_t block[NS_MAC_MAX_CMDS];
    memcpy(block, &pending[first], n * sizeof block[0]);
    memmove(&pending[first], &pending[first + n], (n_pending - first - n) * sizeof pending[0]);
    (void)ns_mac__pending_store(st, pending, n_pending - n);
    const lorawan_mac_cmd_t *last = &block[n - 1];

    const bool ok = cmd->u.link_adr_ans.power_ack && cmd->u.link_adr_ans.data_rate_ack &&
                    cmd->u.link_adr_ans.channel_mask_ack;
    if (!ok) {
        if (!cmd->u.link_adr_ans.data_rate_ack && last->u.link_adr_req.data_rate < 16)
            st->rejected_adr_data_rate_indexes |= (uint16_t)(1u << last->u.link_adr_req.data_rate);
        if (!cmd->u.link_adr_ans.power_ack && last->u.link_adr_req.tx_power < 16)
            st->rejected_adr_tx_power_indexes |= (uint16_t)(1u << last->u.link_adr_req.tx_power);
        ns_mac__event(&res->n_events, res->events, "ns.mac.link_adr.answer.reject", cmd);
        return;
    }
    ns_mac_params_t *cur = &st->current_parameters;
    lorawan_chset_t defined, enabled;
    lorawan_chset_clear(&defined);
    unsigned nch = ns_mac_channel_count(st, cur);
    for (unsigned i = 0; i < nch; i++)
        if (ns_mac__channel_defined(st, ctx, cur, i))
            lorawan_chset_set(&defined, i, true);
    enabled = cur->enabled;
    const lorawan_chset_t *def = lorawan_band_dynamic_channels(ctx->band) ? &defined : NULL;
    bool masks_ok = true;
    for (unsigned i = 0; i < n && masks_ok; i++)
        masks_ok = lorawan_band_link_adr_apply(ctx->band, ns_mac__rev(st),
                                               block[i].u.link_adr_req.ch_mask_cntl,
                                               block[i].u.link_adr_req.ch_mask, def, &enabled) == 0;
    if (masks_ok && lorawan_chset_count(&enabled) > 0)
        cur->enabled = enabled;
    else
        ns_mac__event(&res->n_events, res->events, "ns.mac.link_adr.mask.mismatch", last);

    bool no_change = ns_mac__has_no_change_adr_indices(st);
    if (!no_change || last->u.link_adr_req.data_rate != LINK_ADR_NO_CHANGE) {
        cur->adr_data_rate_index = last->u.link_adr_req.data_rate;
        st->last_adr_change_f_cnt_up = f_cnt;
    }
    if (!no_change || last->u.link_adr_req.tx_power != LINK_ADR_NO_CHANGE) {
        cur->adr_tx_power_index = last->u.link_adr_req.tx_power;
        st->last_adr_change_f_cnt_up = f_cnt;
    }
    if (last->u.link_adr_req.nb_trans > 0 && cur->adr_nb_trans != last->u.link_adr_req.nb_trans) {
        cur->adr_nb_trans = last->u.link_adr_req.nb_trans;
        st->last_adr_change_f_cnt_up = f_cnt;
    }
    ns_mac__event(&res->n_events, res->events, "ns.mac.link_adr.answer.accept", cmd);
}
