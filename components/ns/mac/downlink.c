/* components/ns/mac/downlink.c: the MAC commands of the next downlink, within a budget. */
#include <string.h>

#include "ns/mac/cmd_private.h"

/* LoRaWAN 1.0.4 §4.3.1.6: the answers of a request must fit the device's next FOpts. */
#define UPLINK_ANSWER_BUDGET LORAWAN_FOPTS_MAX_LEN

/* The most requests of one kind in a downlink (a US915 LinkADRReq block; NewChannelReq
 * for channels 3..15). */
#define MAX_BLOCK 16u

typedef struct builder {
    ns_mac_state_t *st;
    uint8_t *out;
    size_t cap;
    size_t budget;
    size_t len;
    size_t up_len; /* bytes of answers the device will send back */
    ns_mac_down_result_t *res;
} builder_t;

static size_t answer_len(uint8_t cid)
{
    size_t pl = 0;
    if (lorawan_mac_cmd_info(cid, true, NULL, &pl, NULL, NULL) != 0)
        return 0;
    return 1 + pl;
}

/* The event name of an enqueued request ("ns.mac.link_adr.request"). */
static const char *request_event(uint8_t cid)
{
    switch (cid) {
    case LORAWAN_CID_LINK_ADR:
        return "ns.mac.link_adr.request";
    case LORAWAN_CID_DUTY_CYCLE:
        return "ns.mac.duty_cycle.request";
    case LORAWAN_CID_RX_PARAM_SETUP:
        return "ns.mac.rx_param_setup.request";
    case LORAWAN_CID_DEV_STATUS:
        return "ns.mac.dev_status.request";
    case LORAWAN_CID_NEW_CHANNEL:
        return "ns.mac.new_channel.request";
    case LORAWAN_CID_RX_TIMING_SETUP:
        return "ns.mac.rx_timing_setup.request";
    case LORAWAN_CID_TX_PARAM_SETUP:
        return "ns.mac.tx_param_setup.request";
    case LORAWAN_CID_DL_CHANNEL:
        return "ns.mac.dl_channel.request";
    case LORAWAN_CID_ADR_PARAM_SETUP:
        return "ns.mac.adr_param_setup.request";
    case LORAWAN_CID_FORCE_REJOIN:
        return "ns.mac.force_rejoin.request";
    case LORAWAN_CID_REJOIN_PARAM_SETUP:
        return "ns.mac.rejoin_param_setup.request";
    case LORAWAN_CID_PING_SLOT_CHANNEL:
        return "ns.mac.ping_slot_channel.request";
    case LORAWAN_CID_BEACON_FREQ:
        return "ns.mac.beacon_freq.request";
    default:
        return "ns.mac.request";
    }
}

/* Writes cmds[0..n) as a unit when they fit; records them as pending (ForceRejoinReq has
 * no answer and is not recorded). Returns true when written. */
static bool put_requests(builder_t *b, const lorawan_mac_cmd_t *cmds, size_t n)
{
    if (n == 0)
        return false;
    size_t room = b->budget < b->cap ? b->budget : b->cap;
    size_t wrote = 0;
    size_t up = 0;
    for (size_t i = 0; i < n; i++)
        up += answer_len(cmds[i].cid);
    /* LoRaWAN 1.0.2 .. 1.0.4 answer each LinkADRReq; 1.1 answers a block once. */
    if (n > 1 && cmds[0].cid == LORAWAN_CID_LINK_ADR && b->st->lorawan_version >= NS_MAC_V1_1)
        up = answer_len(LORAWAN_CID_LINK_ADR);
    bool answered = cmds[0].cid != LORAWAN_CID_FORCE_REJOIN;
    if (b->len > room || b->up_len + up > UPLINK_ANSWER_BUDGET ||
        lorawan_mac_cmds_encode(cmds, n, b->out + b->len, room - b->len, &wrote) != 0 ||
        (answered && b->st->pending_requests_len + wrote > NS_MAC_PENDING_BYTES)) {
        b->res->more = true;
        return false;
    }
    if (answered) {
        memcpy(b->st->pending_requests + b->st->pending_requests_len, b->out + b->len, wrote);
        b->st->pending_requests_len = (uint8_t)(b->st->pending_requests_len + wrote);
    }
    b->len += wrote;
    b->up_len += up;
    for (size_t i = 0; i < n; i++)
        ns_mac__event(&b->res->n_events, b->res->events, request_event(cmds[i].cid), &cmds[i]);
    b->res->n_cmds = (uint8_t)(b->res->n_cmds + n);
    return true;
}

/* Writes the queued answers that fit; the others stay queued. */
static void put_answers(builder_t *b)
{
    size_t room = b->budget < b->cap ? b->budget : b->cap;
    lorawan_mac_cmd_t q[NS_MAC_MAX_CMDS];
    size_t n = ns_mac_queued_responses(b->st, q, NS_MAC_MAX_CMDS), kept = 0;
    for (size_t i = 0; i < n; i++) {
        size_t wrote = 0;
        if (b->len <= room &&
            lorawan_mac_cmds_encode(&q[i], 1, b->out + b->len, room - b->len, &wrote) == 0) {
            b->len += wrote;
            b->res->n_cmds++;
            continue;
        }
        b->res->more = true;
        q[kept++] = q[i];
    }
    (void)ns_mac__queued_store(b->st, q, kept);
}

/* TTS's order (pkg/networkserver/downlink.go). */
static const uint8_t request_order[] = {
    LORAWAN_CID_DUTY_CYCLE,      LORAWAN_CID_TX_PARAM_SETUP,     LORAWAN_CID_RX_PARAM_SETUP,
    LORAWAN_CID_NEW_CHANNEL,     LORAWAN_CID_LINK_ADR,           LORAWAN_CID_RX_TIMING_SETUP,
    LORAWAN_CID_BEACON_FREQ,     LORAWAN_CID_PING_SLOT_CHANNEL,  LORAWAN_CID_DL_CHANNEL,
    LORAWAN_CID_ADR_PARAM_SETUP, LORAWAN_CID_REJOIN_PARAM_SETUP, LORAWAN_CID_FORCE_REJOIN,
    LORAWAN_CID_DEV_STATUS,
};

/* The requests of kind `cid` the device needs now (none while one of that kind is
 * pending: its answer is awaited; none while its sticky answer repeats). */
static int build_kind(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx, int64_t now_s, uint8_t cid,
                      lorawan_mac_cmd_t *cmds, size_t cap)
{
    if (ns_mac__is_pending(st, cid) || (ns_mac__sticky(cid) && ns_mac__in_last_uplink(st, cid)))
        return 0;
    switch (cid) {
    case LORAWAN_CID_DUTY_CYCLE:
        return ns_mac_duty_cycle_build(st, cmds, cap);
    case LORAWAN_CID_TX_PARAM_SETUP:
        return ns_mac_tx_param_setup_build(st, ctx, cmds, cap);
    case LORAWAN_CID_RX_PARAM_SETUP:
        return ns_mac_rx_param_setup_build(st, cmds, cap);
    case LORAWAN_CID_NEW_CHANNEL:
        return ns_mac_new_channel_build(st, ctx, cmds, cap);
    case LORAWAN_CID_LINK_ADR:
        return ns_mac_link_adr_build(st, ctx, cmds, cap);
    case LORAWAN_CID_RX_TIMING_SETUP:
        return ns_mac_rx_timing_setup_build(st, cmds, cap);
    case LORAWAN_CID_BEACON_FREQ:
        return ns_mac_beacon_freq_build(st, cmds, cap);
    case LORAWAN_CID_PING_SLOT_CHANNEL:
        return ns_mac_ping_slot_channel_build(st, cmds, cap);
    case LORAWAN_CID_DL_CHANNEL:
        return ns_mac_dl_channel_build(st, ctx, cmds, cap);
    case LORAWAN_CID_ADR_PARAM_SETUP:
        return ns_mac_adr_param_setup_build(st, cmds, cap);
    case LORAWAN_CID_REJOIN_PARAM_SETUP:
        return ns_mac_rejoin_param_setup_build(st, cmds, cap);
    case LORAWAN_CID_FORCE_REJOIN:
        return ns_mac_force_rejoin_build(st, cmds, cap);
    case LORAWAN_CID_DEV_STATUS:
        return ns_mac_dev_status_build(st, ctx, now_s, cmds, cap);
    default:
        return 0;
    }
}

int ns_mac_downlink_build(ns_mac_state_t *st, const ns_mac_ctx_t *ctx, int64_t now_s, size_t budget,
                          uint8_t *out, size_t cap, size_t *out_len, ns_mac_down_result_t *res)
{
    if (st == NULL || ctx == NULL || ctx->band == NULL || ctx->settings == NULL ||
        (out == NULL && cap != 0) || out_len == NULL || res == NULL)
        return LORAWAN_E_PARAM;
    memset(res, 0, sizeof *res);
    *out_len = 0;
    builder_t b = {st, out, cap, budget, 0, 0, res};
    put_answers(&b);

    lorawan_mac_cmd_t cmds[MAX_BLOCK];
    for (size_t k = 0; k < sizeof request_order; k++) {
        uint8_t cid = request_order[k];
        int n = build_kind(st, ctx, now_s, cid, cmds, MAX_BLOCK);
        if (n <= 0)
            continue;
        if (cid == LORAWAN_CID_NEW_CHANNEL || cid == LORAWAN_CID_DL_CHANNEL) {
            for (int i = 0; i < n; i++) /* one by one: as many as fit */
                put_requests(&b, &cmds[i], 1);
        } else if (put_requests(&b, cmds, (size_t)n) && cid == LORAWAN_CID_FORCE_REJOIN) {
            st->pending_force_rejoin = 0;
        }
    }
    *out_len = b.len;
    return 0;
}

void ns_mac_downlink_lost(ns_mac_state_t *st)
{
    if (st != NULL)
        st->pending_requests_len = 0;
}

bool ns_mac_downlink_wanted(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx, int64_t now_s)
{
    if (st == NULL || ctx == NULL || ctx->band == NULL || ctx->settings == NULL)
        return false;
    if (st->queued_responses_len > 0)
        return true;
    lorawan_mac_cmd_t cmds[MAX_BLOCK];
    for (size_t k = 0; k < sizeof request_order; k++)
        if (build_kind(st, ctx, now_s, request_order[k], cmds, MAX_BLOCK) > 0)
            return true;
    return false;
}
