/* Fuzz target: Semtech UDP datagram decoder (gs_udp_decode). A successful decode must stay
 * within its bounds (rxpk count, PHYPayload lengths equal to size); every decoded rxpk goes
 * back out as a PULL_RESP txpk, which must encode and decode as a PULL_RESP. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gs/udp_codec_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gs_udp_packet_t pkt, back;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (gs_udp_decode(data, size, &pkt) != GS_UDP_OK)
        return 0;
    if (pkt.n_rxpk > GS_UDP_RXPK_MAX || (pkt.json != NULL && pkt.json + pkt.json_len > data + size))
        abort();
    for (size_t i = 0; i < pkt.n_rxpk; i++) {
        const gs_udp_rxpk_t *r = &pkt.rxpk[i];
        if (r->data_len != r->size || r->data_len > GS_UDP_PHY_MAX)
            abort();
        gs_udp_txpk_t t = {.has_tmst = true,
                           .tmst = r->tmst,
                           .freq_mhz = r->freq_mhz,
                           .rfch = r->rfch,
                           .powe = 14,
                           .modu = r->modu,
                           .sf = r->sf,
                           .bw_khz = r->bw_khz,
                           .fsk_bitrate = r->fsk_bitrate,
                           .ipol = true,
                           .data = r->data,
                           .data_len = r->data_len};
        uint8_t out[GS_UDP_PULL_RESP_MAX];
        size_t len = 0;
        if (gs_udp_encode_pull_resp(pkt.version, pkt.token, &t, out, sizeof(out), &len) != 0)
            abort();
        if (gs_udp_decode(out, len, &back) != GS_UDP_OK || back.ident != GS_UDP_PULL_RESP)
            abort();
    }
    return 0;
}
