/* Fuzz target: PHYPayload decoder (lorawan_phy_decode). Every successful decode must
 * re-encode and re-decode to the same fields; FOpts and FPort-0 payloads go through the
 * MAC-command parser, and data frames through the MIC code, so no length from the input
 * may lead to a read outside it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lorawan/lorawan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lorawan_key_t *fuzz_key(void)
{
    static lorawan_key_t key;
    static int ready;
    if (!ready) {
        static const uint8_t raw[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
        if (lorawan_key_init(&key, raw) != 0)
            abort();
        ready = 1;
    }
    return &key;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lorawan_phy_t p, q;
    if (lorawan_phy_decode(data, size, &p) != 0)
        return 0;
    uint8_t out[LORAWAN_PHY_MAX_LEN];
    size_t out_len = 0;
    if (lorawan_phy_encode(&p, out, sizeof(out), &out_len) != 0 || out_len != size)
        abort();
    if (lorawan_phy_decode(out, out_len, &q) != 0 || q.mtype != p.mtype)
        abort();
    bool uplink = false;
    if (lorawan_mtype_is_data(p.mtype, &uplink)) {
        const lorawan_data_t *d = &p.u.data;
        if (q.u.data.dev_addr != d->dev_addr || q.u.data.fcnt16 != d->fcnt16 ||
            q.u.data.has_fport != d->has_fport || q.u.data.fport != d->fport ||
            q.u.data.frm_payload_len != d->frm_payload_len ||
            memcmp(&q.u.data.fctrl, &d->fctrl, sizeof(d->fctrl)) != 0)
            abort();
        lorawan_mac_cmd_t cmds[LORAWAN_PHY_MAX_LEN];
        size_t n = 0, used = 0;
        if (d->fopts_len > 0)
            (void)lorawan_mac_cmds_decode(d->fopts, d->fopts_len, uplink, cmds, 15, &n, &used);
        else if (d->has_fport && d->fport == 0)
            (void)lorawan_mac_cmds_decode(d->frm_payload, d->frm_payload_len, uplink, cmds,
                                          LORAWAN_PHY_MAX_LEN, &n, &used);
        uint8_t mic[4], plain[LORAWAN_PHY_MAX_LEN];
        if (uplink)
            (void)lorawan_mic_data_up_11(fuzz_key(), fuzz_key(), data, size - 4, d->fcnt16, 1, 0, 0,
                                         mic);
        else
            (void)lorawan_mic_data_down(fuzz_key(), data, size - 4, d->fcnt16, 1, mic);
        (void)lorawan_mic_check(mic, data, size);
        lorawan_payload_encrypt(fuzz_key(), !uplink, d->dev_addr, d->fcnt16, d->frm_payload,
                                d->frm_payload_len, plain);
        (void)lorawan_fopts_encrypt(fuzz_key(), !uplink, false, d->dev_addr, d->fcnt16, d->fopts,
                                    d->fopts_len, plain);
    } else if (p.mtype == LORAWAN_MTYPE_JOIN_REQUEST || p.mtype == LORAWAN_MTYPE_REJOIN_REQUEST) {
        if (memcmp(out, data, size) != 0 && (data[0] & 0x1c) == 0)
            abort();
        uint8_t mic[4];
        (void)lorawan_mic_join_request(fuzz_key(), data, size - 4, mic);
    }
    return 0;
}
