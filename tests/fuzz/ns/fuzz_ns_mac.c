/* Fuzz target: the NS MAC layer (ns_mac_handle_uplink / ns_mac_downlink_build) fed with
 * arbitrary device MAC bytes, over a whole exchange.
 *
 * Input: [plan index] [version | rev << 3] [flags: bit 0-1 ADR mode, bit 2 GPS time]
 * then frames: [len] [len MAC bytes] [data rate] [snr] [gateways] [budget selector] ...
 * Invariants after every step: the downlink bytes are within the budget and decode as
 * downlink MAC commands end to end; pending / queued counts are within their bounds; the
 * enabled channel set is never empty; the ADR history is bounded; the packed stored form
 * (ns_mac_state_pack / _unpack) gives the state back, and arbitrary bytes unpack safely. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ns/adr_private.h"
#include "ns/mac_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t n_plans = lorawan_freqplan_count();
    if (n_plans == 0)
        return 0;
    const lorawan_freqplan_t *fp = lorawan_freqplan_at(data[0] % n_plans);
    const lorawan_band_t *band = lorawan_band_get(fp->band);
    ns_mac_version_t v = (ns_mac_version_t)((data[1] & 7u) % 6u);
    lorawan_rp_rev_t rev = (lorawan_rp_rev_t)((data[1] >> 3) % LORAWAN_RP_REV_COUNT);
    if (!lorawan_band_defined(band, rev))
        rev = LORAWAN_RP002_1_0_3;
    ns_mac_settings_t s;
    memset(&s, 0, sizeof s);
    s.adr.mode = (ns_adr_mode_t)((data[2] & 3u) % 3u);
    s.adr.static_mode.data_rate_index = (uint8_t)(data[2] >> 4);
    s.adr.static_mode.nb_trans = 1;
    bool gps = (data[2] & 4u) != 0;
    ns_mac_ctx_t ctx = {band, fp, &s};
    static ns_mac_state_t st; /* large: keep it off the fuzzer's stack */
    if (ns_mac_state_init(&st, &ctx, rev, v, NS_MAC_CLASS_A) != 0)
        return 0;
    ns_mac_join_params_t jp;
    if (ns_mac_join_accept_params(&st, &ctx, &jp) != 0)
        abort();
    size_t off = 3;
    uint32_t f_cnt = 0;
    while (off < size) {
        size_t len = data[off++];
        if (len > size - off)
            len = size - off;
        const uint8_t *mac = data + off;
        off += len;
        uint8_t dr = off < size ? data[off++] % 16u : 0;
        float snr = off < size ? (float)(int8_t)data[off++] / 4.0f : 0;
        if (off < size && data[off - 1] == 0x80u)
            snr = __builtin_nanf(""); /* NaN from a broken gateway report */
        uint8_t gws = off < size ? data[off++] : 1;
        uint8_t sel = off < size ? data[off++] : 0;
        ns_mac_uplink_t up;
        memset(&up, 0, sizeof up);
        f_cnt += (sel & 0x80u) ? 0u : 1u + (sel & 3u); /* retransmissions and losses */
        up.f_cnt = f_cnt;
        up.data_rate_index = dr;
        up.adr = (sel & 0x40u) == 0;
        up.adr_ack_req = (sel & 0x20u) != 0;
        up.max_snr = snr;
        up.gateway_count = gws;
        up.received_at_s = 1700000000 + f_cnt;
        up.has_gps_time = gps;
        up.gps_time_256ths = (uint64_t)f_cnt << 8;
        up.mac = len ? mac : NULL;
        up.mac_len = len;
        ns_mac_up_result_t res;
        if (ns_mac_handle_uplink(&st, &ctx, &up, &res) != 0)
            abort();
        if (res.n_events > NS_MAC_MAX_EVENTS || st.pending_requests_len > NS_MAC_PENDING_BYTES ||
            st.queued_responses_len > NS_MAC_QUEUED_BYTES ||
            st.n_recent_uplinks > NS_MAC_RECENT_UPLINKS)
            abort();
        size_t budget = (sel & 0x10u) ? 242u : 15u;
        uint8_t out[256];
        size_t out_len = 0;
        ns_mac_down_result_t dres;
        if (ns_mac_downlink_build(&st, &ctx, up.received_at_s, budget, out, sizeof out, &out_len,
                                  &dres) != 0)
            abort();
        if (out_len > budget || st.pending_requests_len > NS_MAC_PENDING_BYTES)
            abort();
        /* What is pending decodes back completely. */
        lorawan_mac_cmd_t pend[NS_MAC_MAX_CMDS];
        size_t np = ns_mac_pending_requests(&st, pend, NS_MAC_MAX_CMDS), pn = 0, pu = 0;
        if (lorawan_mac_cmds_decode(st.pending_requests, st.pending_requests_len, false, pend,
                                    NS_MAC_MAX_CMDS, &pn, &pu) != 0 ||
            pn != np)
            abort();
        lorawan_mac_cmd_t cmds[256];
        size_t n = 0, used = 0;
        if (out_len > 0 &&
            (lorawan_mac_cmds_decode(out, out_len, false, cmds, 256, &n, &used) != 0 ||
             used != out_len || n != dres.n_cmds))
            abort();
        if (lorawan_chset_count(&st.current_parameters.enabled) == 0 &&
            ns_mac_channel_count(&st, &st.current_parameters) > 0)
            abort();
        /* The stored form: packed, unpacked with the session's desired channels and packed
         * again, it is the same bytes; the unpacked state is the state (SNR aside). */
        static ns_mac_state_t back;
        uint8_t p1[NS_MAC_PACKED_MAX], p2[NS_MAC_PACKED_MAX];
        size_t n1 = ns_mac_state_pack(&st, p1);
        if (n1 == 0 || n1 > NS_MAC_PACKED_MAX ||
            ns_mac_state_unpack(p1, n1, &st.desired_parameters, &back) != 0)
            abort();
        size_t n2 = ns_mac_state_pack(&back, p2);
        if (n2 != n1 || memcmp(p1, p2, n1) != 0 ||
            memcmp(&back.current_parameters, &st.current_parameters,
                   sizeof st.current_parameters) != 0 ||
            memcmp(&back.desired_parameters, &st.desired_parameters,
                   sizeof st.desired_parameters) != 0 ||
            memcmp(back.pending_requests, st.pending_requests, sizeof st.pending_requests) != 0)
            abort();
    }
    /* Arbitrary bytes as a packed state: refused, or a state that packs into them again. */
    static ns_mac_state_t any;
    if (ns_mac_state_unpack(data, size, &st.desired_parameters, &any) == 0) {
        uint8_t p[NS_MAC_PACKED_MAX];
        if (ns_mac_state_pack(&any, p) > NS_MAC_PACKED_MAX)
            abort();
    }
    return 0;
}
