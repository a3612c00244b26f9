/* Fuzz target: MAC-command parser (lorawan_mac_cmds_decode), both directions. The first
 * input byte selects the direction (bit 0: uplink); the rest is a FOpts / FPort-0 payload.
 * Whatever decodes must encode back to the same length and re-decode to the same fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lorawan/lorawan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CMDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool uplink = (data[0] & 1) != 0;
    const uint8_t *buf = data + 1;
    size_t len = size - 1;
    lorawan_mac_cmd_t cmds[MAX_CMDS], again[MAX_CMDS];
    size_t n = 0, used = 0;
    int rc = lorawan_mac_cmds_decode(buf, len, uplink, cmds, MAX_CMDS, &n, &used);
    if (used > len || n > MAX_CMDS || (rc == 0 && used != len))
        abort();
    /* DeviceMode carries a raw class the encoder refuses unless it is A or C. */
    size_t keep = 0;
    for (size_t i = 0; i < n; i++)
        if (cmds[i].cid != LORAWAN_CID_DEVICE_MODE || cmds[i].u.device_mode.device_class == 0 ||
            cmds[i].u.device_mode.device_class == 2)
            cmds[keep++] = cmds[i];
    uint8_t out[512];
    size_t out_len = 0, n2 = 0, used2 = 0;
    if (lorawan_mac_cmds_encode(cmds, keep, out, sizeof(out), &out_len) != 0)
        abort();
    if (lorawan_mac_cmds_decode(out, out_len, uplink, again, MAX_CMDS, &n2, &used2) != 0 ||
        n2 != keep || used2 != out_len)
        abort();
    for (size_t i = 0; i < keep; i++) {
        const lorawan_mac_field_t *f = NULL;
        size_t nf = 0;
        if (lorawan_mac_cmd_info(cmds[i].cid, uplink, NULL, NULL, &f, &nf) != 0 ||
            again[i].cid != cmds[i].cid)
            abort();
        for (size_t j = 0; j < nf; j++)
            if (lorawan_mac_field_get(&cmds[i], &f[j]) != lorawan_mac_field_get(&again[i], &f[j]))
                abort();
    }
    return 0;
}
