/* Frame-counter rules of the device worker and the matcher. Pure.
 *
 * LoRaWAN 1.0.4 §4.3.1.5 / 1.1 §4.3.1.5: the counter only grows; the network keeps 32 bits
 * and the frame carries the low 16, so the full value is reconstructed against the last
 * accepted one (lorawan_fcnt_expand). A device with 16-bit counters (TTS
 * mac_settings.supports_32_bit_f_cnt false) wraps from 65535 to 0. An ABP device that
 * resets its counters on power-up (resets_f_cnt, not compliant but common) may start again
 * from 0: its lower counters are accepted instead of taken for replays. */
#include "ns/ns_private.h"

/* How far ahead a 16-bit counter may jump and still be taken for the next one (LoRaWAN
 * 1.0.2 §4.3.1.5 MAX_FCNT_GAP). */
#define NS_FCNT16_MAX_GAP 16384u

static size_t add_unique(uint32_t *out, size_t n, uint32_t v)
{
    for (size_t i = 0; i < n; i++)
        if (out[i] == v)
            return n;
    out[n] = v;
    return n + 1;
}

size_t ns_fcnt_candidates(bool has_last, uint32_t last, uint16_t fcnt16, bool supports_32,
                          bool resets_f_cnt, uint32_t out[3])
{
    size_t n = 0;
    if (!supports_32) {
        out[0] = fcnt16;
        return 1;
    }
    uint32_t e = fcnt16;
    if (has_last && lorawan_fcnt_expand(last, fcnt16, &e) != 0)
        e = (last & 0xffff0000u) | fcnt16; /* at the top of the 32-bit space: a replay */
    n = add_unique(out, n, e);
    if (has_last) {
        uint32_t same_high = (last & 0xffff0000u) | fcnt16;
        if (same_high <= last)
            n = add_unique(out, n, same_high);
    }
    if (resets_f_cnt || !has_last)
        n = add_unique(out, n, fcnt16);
    return n;
}

ns_fcnt_verdict_t ns_fcnt_check(bool has_last, uint32_t last, uint32_t fcnt, bool supports_32,
                                bool resets_f_cnt)
{
    if (!has_last)
        return NS_FCNT_OK;
    if (!supports_32) {
        uint32_t diff = (fcnt - last) & 0xffffu;
        if (diff != 0 && diff <= NS_FCNT16_MAX_GAP)
            return NS_FCNT_OK;
        return resets_f_cnt && diff != 0 ? NS_FCNT_RESET : NS_FCNT_REPLAY;
    }
    if (fcnt > last)
        return NS_FCNT_OK;
    if (fcnt < last && resets_f_cnt)
        return NS_FCNT_RESET;
    return NS_FCNT_REPLAY;
}
