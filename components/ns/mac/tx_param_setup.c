/* components/ns/mac/tx_param_setup.c: TxParamSetupReq / Ans (LoRaWAN 1.0.4 §5.9, 1.0.2 and
 * later; bands that implement it: AS923, AU915 from RP001-1.0.3): dwell times and max EIRP.
 * The answer has no status: it is an acceptance. */
#include "ns/mac/cmd_private.h"

/* The MaxEIRP index the NS sends for `dbm` (the smallest table value >= dbm). */
static bool eirp_index(float dbm, uint8_t *index)
{
    if (dbm <= 0)
        return lorawan_max_eirp_index(0, index) == 0;
    if (dbm > 36.0f)
        return false;
    uint8_t whole = (uint8_t)dbm;
    if ((float)whole < dbm)
        whole++; /* ceil, without libm */
    return lorawan_max_eirp_index(whole, index) == 0;
}

int ns_mac_tx_param_setup_build(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx,
                                lorawan_mac_cmd_t *cmds, size_t cap)
{
    if (cap < 1 || !ns_mac__use_1_0_2(st) ||
        !lorawan_band_tx_param_setup(ctx->band, ns_mac__rev(st)))
        return 0;
    const ns_mac_params_t *cur = &st->current_parameters, *des = &st->desired_parameters;
    uint8_t idx = 0, dbm = 0;
    if (!eirp_index(des->max_eirp, &idx) || lorawan_max_eirp_dbm(idx, &dbm) != 0)
        return 0;
    if ((float)dbm == cur->max_eirp && cur->uplink_dwell_time == des->uplink_dwell_time &&
        cur->downlink_dwell_time == des->downlink_dwell_time)
        return 0;
    cmds[0] = (lorawan_mac_cmd_t){.cid = LORAWAN_CID_TX_PARAM_SETUP, .uplink = false};
    cmds[0].u.tx_param_setup_req.max_eirp_index = idx;
    cmds[0].u.tx_param_setup_req.uplink_dwell_time = des->uplink_dwell_time;
    cmds[0].u.tx_param_setup_req.downlink_dwell_time = des->downlink_dwell_time;
    return 1;
}

void ns_mac_tx_param_setup_ans(ns_mac_state_t *st, ns_mac_up_result_t *res)
{
    lorawan_mac_cmd_t req;
    if (!ns_mac__take_pending(st, LORAWAN_CID_TX_PARAM_SETUP, &req)) {
        ns_mac__unsolicited(st, LORAWAN_CID_TX_PARAM_SETUP,
                            "ns.mac.tx_param_setup.answer.unsolicited", NULL, res);
        return;
    }
    uint8_t dbm = 0;
    if (lorawan_max_eirp_dbm(req.u.tx_param_setup_req.max_eirp_index, &dbm) == 0) {
        st->current_parameters.max_eirp = (float)dbm;
        /* The desired value is what the table can express. */
        st->desired_parameters.max_eirp = (float)dbm;
    }
    st->current_parameters.uplink_dwell_time = req.u.tx_param_setup_req.uplink_dwell_time;
    st->current_parameters.downlink_dwell_time = req.u.tx_param_setup_req.downlink_dwell_time;
    ns_mac__event(&res->n_events, res->events, "ns.mac.tx_param_setup.answer", NULL);
}
