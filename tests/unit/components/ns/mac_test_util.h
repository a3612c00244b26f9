/* Helpers shared by the ns_mac unit tests (test_mac_*.c, test_adr.c). */
#ifndef NS_MAC_TEST_UTIL_H
#define NS_MAC_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ns/adr_private.h"
#include "ns/mac_private.h"

static inline size_t unhex(const char *hex, uint8_t *buf, size_t cap)
{
    size_t len = 0;
    assert_int_equal(lorawan_hex_decode(hex, strlen(hex), buf, cap, &len), 0);
    return len;
}

#define assert_hex_equal(hex, buf, len)                                                            \
    do {                                                                                           \
        uint8_t want_[512];                                                                        \
        size_t want_len_ = unhex((hex), want_, sizeof(want_));                                     \
        char got_[1100];                                                                           \
        lorawan_hex_encode((buf), (len), got_, sizeof got_);                                       \
        assert_string_equal(got_, (hex));                                                          \
        assert_int_equal((len), want_len_);                                                        \
    } while (0)

/* A device: state, its context and settings. */
typedef struct dev {
    ns_mac_state_t st;
    ns_mac_settings_t settings;
    ns_mac_ctx_t ctx;
} dev_t;

/* Initialises d for plan `fp_id`, revision `rev`, version `v`; `settings` may be NULL. */
static inline void dev_init(dev_t *d, const char *fp_id, lorawan_rp_rev_t rev, ns_mac_version_t v,
                            const ns_mac_settings_t *settings)
{
    memset(d, 0, sizeof *d);
    if (settings != NULL)
        d->settings = *settings;
    const lorawan_freqplan_t *fp = lorawan_freqplan_find(fp_id);
    assert_non_null(fp);
    d->ctx.band = lorawan_band_get(fp->band);
    d->ctx.fp = fp;
    d->ctx.settings = &d->settings;
    assert_int_equal(ns_mac_state_init(&d->st, &d->ctx, rev, v, NS_MAC_CLASS_A), 0);
}

/* Makes desired equal current (a device with nothing to change), keeping ADR off the
 * device's bit. */
static inline void dev_settle(dev_t *d)
{
    d->st.desired_parameters = d->st.current_parameters;
}

/* An uplink with MAC bytes from hex (may be ""). */
static inline ns_mac_uplink_t uplink(uint32_t f_cnt, uint8_t dr, float snr, uint8_t gws, const uint8_t *mac,
                                     size_t mac_len)
{
    ns_mac_uplink_t up = {0};
    up.f_cnt = f_cnt;
    up.data_rate_index = dr;
    up.frequency = 868100000;
    up.adr = true;
    up.max_snr = snr;
    up.gateway_count = gws;
    up.received_at_s = 1700000000;
    up.mac = mac;
    up.mac_len = mac_len;
    return up;
}

/* Handles an uplink carrying the MAC commands `hex`. */
static inline void dev_up(dev_t *d, uint32_t f_cnt, uint8_t dr, float snr, uint8_t gws, const char *hex,
                          ns_mac_up_result_t *res)
{
    uint8_t mac[256];
    size_t n = unhex(hex, mac, sizeof mac);
    ns_mac_uplink_t up = uplink(f_cnt, dr, snr, gws, n ? mac : NULL, n);
    assert_int_equal(ns_mac_handle_uplink(&d->st, &d->ctx, &up, res), 0);
}

/* Builds the next downlink's MAC commands with `budget` and returns them as hex in out. */
static inline void dev_down(dev_t *d, size_t budget, char *out, size_t cap, ns_mac_down_result_t *res)
{
    uint8_t buf[256];
    size_t len = 0;
    assert_int_equal(ns_mac_downlink_build(&d->st, &d->ctx, 1700000000, budget, buf, sizeof buf, &len, res), 0);
    assert_int_equal(lorawan_hex_encode(buf, len, out, cap), 0);
}

static inline size_t pending_count(const ns_mac_state_t *st)
{
    lorawan_mac_cmd_t c[NS_MAC_MAX_CMDS];
    return ns_mac_pending_requests(st, c, NS_MAC_MAX_CMDS);
}

static inline size_t queued_count(const ns_mac_state_t *st)
{
    lorawan_mac_cmd_t c[NS_MAC_MAX_CMDS];
    return ns_mac_queued_responses(st, c, NS_MAC_MAX_CMDS);
}

static inline bool has_event(const ns_mac_event_t *evs, unsigned n, const char *name)
{
    for (unsigned i = 0; i < n; i++)
        if (strcmp(evs[i].name, name) == 0)
            return true;
    return false;
}

#endif
