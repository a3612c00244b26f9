/* Fuzz target: LoRa Basics Station message decoders (gs_bs_decode, gs_bs_decode_router_info).
 * The first byte selects the socket: odd → discovery (/router-info), even → traffic. What
 * decodes must stay in its bounds and go back out: a router EUI as an id6 that reads back
 * the same, an uplink as a dnmsg answering it (valid by construction, so it must build), a
 * timesync as its answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gs/bs_codec_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gs_bs_msg_t msg;

static void discovery(const char *json, size_t len)
{
    uint64_t eui = 0;
    if (gs_bs_decode_router_info(json, len, &eui) != GS_BS_OK)
        return;
    if (eui == 0)
        abort();
    char id6[24], out[256];
    size_t n = gs_bs_id6_format(eui, id6), out_len = 0;
    uint64_t back = 0;
    if (gs_bs_eui_parse(id6, n, &back) != 0 || back != eui)
        abort();
    if (gs_bs_encode_router_info(eui, "wss://lns.example:8887/traffic/x", out, sizeof out,
                                 &out_len) != GS_BS_OK ||
        out_len >= sizeof out)
        abort();
}

static void traffic(const char *json, size_t len)
{
    if (gs_bs_decode(json, len, &msg) != GS_BS_OK)
        return;
    char out[GS_BS_DNMSG_MAX];
    size_t out_len = 0;
    switch (msg.type) {
    case GS_BS_MSG_JREQ:
    case GS_BS_MSG_REJOIN:
    case GS_BS_MSG_UPDF:
    case GS_BS_MSG_PROPDF: {
        const gs_bs_uplink_t *up = &msg.u.up;
        if (up->phy_len == 0 || up->phy_len > GS_BS_PHY_MAX || up->info.xtime <= 0)
            abort();
        if (msg.type == GS_BS_MSG_UPDF && (up->phy[1] | up->phy[2] << 8 | up->phy[3] << 16 |
                                           (uint32_t)up->phy[4] << 24) != up->dev_addr)
            abort();
        if ((msg.type == GS_BS_MSG_JREQ || msg.type == GS_BS_MSG_REJOIN) && up->phy_len != 23)
            abort();
        static gs_bs_limits_t lim;
        if (lim.max_freq_hz == 0 && gs_bs_limits(lorawan_freqplan_find("EU_863_870"), &lim) != 0)
            abort();
        gs_bs_dnmsg_t m = {.dev_eui = up->dev_eui ? up->dev_eui : 1,
                           .diid = up->info.xtime,
                           .pdu = up->phy,
                           .pdu_len = up->phy_len,
                           .rx_delay_s = 1,
                           .has_rx1 = true,
                           .rx1_dr = 5,
                           .rx1_freq_hz = 868100000,
                           .has_rx2 = true,
                           .rx2_dr = 0,
                           .rx2_freq_hz = 869525000,
                           .xtime = up->info.xtime,
                           .rctx = up->info.rctx,
                           .mux_time_s = up->ref_time_s >= 0 ? up->ref_time_s : 0};
        const char *field = NULL;
        if (gs_bs_encode_dnmsg(&m, &lim, out, sizeof out, &out_len, &field) != GS_BS_OK ||
            out_len >= sizeof out)
            abort();
        break;
    }
    case GS_BS_MSG_TIMESYNC:
        if (gs_bs_encode_timesync(msg.u.timesync.txtime, 1, 2, out, sizeof out, &out_len) !=
            GS_BS_OK)
            abort();
        break;
    case GS_BS_MSG_VERSION:
        if (strlen(msg.u.version.station) > GS_BS_TEXT_MAX ||
            strlen(msg.u.version.features) > GS_BS_FEATURES_MAX)
            abort();
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *json = (const char *)data + 1;
    if (data[0] & 1)
        discovery(json, size - 1);
    else
        traffic(json, size - 1);
    return 0;
}
