/* components/ns/mac/state.c: the MAC state's initialisation, channels and shared helpers. */
#include <string.h>

#include "ns/mac/cmd_private.h"

static const char *const version_names[] = {
    "MAC_V1_0", "MAC_V1_0_1", "MAC_V1_0_2", "MAC_V1_0_3", "MAC_V1_0_4", "MAC_V1_1",
};
static const char *const version_short[] = {"1.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.1"};

int ns_mac_version_parse(const char *s, ns_mac_version_t *out)
{
    if (s == NULL || out == NULL)
        return LORAWAN_E_PARAM;
    for (size_t i = 0; i < sizeof version_names / sizeof version_names[0]; i++) {
        if (strcmp(s, version_names[i]) == 0 || strcmp(s, version_short[i]) == 0) {
            *out = (ns_mac_version_t)i;
            return 0;
        }
    }
    if (strcmp(s, "1.0.0") == 0) {
        *out = NS_MAC_V1_0;
        return 0;
    }
    return LORAWAN_E_PARAM;
}

const char *ns_mac_version_name(ns_mac_version_t v)
{
    if ((unsigned)v >= sizeof version_names / sizeof version_names[0])
        return "?";
    return version_names[v];
}

/* ---- Shared helpers ---- */

void ns_mac__event(uint8_t *n, ns_mac_event_t *evs, const char *name, const lorawan_mac_cmd_t *cmd)
{
    if (*n >= NS_MAC_MAX_EVENTS)
        return;
    ns_mac_event_t *e = &evs[(*n)++];
    e->name = name;
    if (cmd != NULL)
        e->cmd = *cmd;
    else
        memset(&e->cmd, 0, sizeof e->cmd);
}

static size_t decode_cmds(const uint8_t *buf, size_t len, lorawan_mac_cmd_t *out, size_t cap)
{
    size_t n = 0, used = 0;
    /* The bytes were written by the encoder: they decode; a persisted state of another
     * layout decodes as far as it goes. */
    (void)lorawan_mac_cmds_decode(buf, len, false, out, cap, &n, &used);
    return n;
}

static bool store_cmds(uint8_t *buf, size_t cap, uint8_t *len, const lorawan_mac_cmd_t *cmds,
                       size_t n)
{
    uint8_t tmp[NS_MAC_PENDING_BYTES];
    size_t wrote = 0;
    if (cap > sizeof tmp || lorawan_mac_cmds_encode(cmds, n, tmp, cap, &wrote) != 0)
        return false;
    memcpy(buf, tmp, wrote);
    *len = (uint8_t)wrote;
    return true;
}

size_t ns_mac_pending_requests(const ns_mac_state_t *st, lorawan_mac_cmd_t *out, size_t cap)
{
    if (st == NULL || out == NULL || st->pending_requests_len > NS_MAC_PENDING_BYTES)
        return 0;
    return decode_cmds(st->pending_requests, st->pending_requests_len, out, cap);
}

size_t ns_mac_queued_responses(const ns_mac_state_t *st, lorawan_mac_cmd_t *out, size_t cap)
{
    if (st == NULL || out == NULL || st->queued_responses_len > NS_MAC_QUEUED_BYTES)
        return 0;
    return decode_cmds(st->queued_responses, st->queued_responses_len, out, cap);
}

bool ns_mac__pending_store(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmds, size_t n)
{
    return store_cmds(st->pending_requests, NS_MAC_PENDING_BYTES, &st->pending_requests_len, cmds,
                      n);
}

bool ns_mac__queued_store(ns_mac_state_t *st, const lorawan_mac_cmd_t *cmds, size_t n)
{
    return store_cmds(st->queued_responses, NS_MAC_QUEUED_BYTES, &st->queued_responses_len, cmds,
                      n);
}

bool ns_mac__queue_response(ns_mac_state_t *st, const lorawan_mac_cmd_t *ans)
{
    lorawan_mac_cmd_t q[NS_MAC_MAX_CMDS + 1];
    size_t n = ns_mac_queued_responses(st, q, NS_MAC_MAX_CMDS);
    /* One answer per command: a repeated request (RekeyInd until RekeyConf, two
     * LinkCheckReq before a downlink) is answered once, with the latest values. */
    size_t i = 0;
    while (i < n && q[i].cid != ans->cid)
        i++;
    q[i] = *ans;
    return ns_mac__queued_store(st, q, i == n ? n + 1 : n);
}

bool ns_mac__take_pending(ns_mac_state_t *st, uint8_t cid, lorawan_mac_cmd_t *req)
{
    lorawan_mac_cmd_t p[NS_MAC_MAX_CMDS];
    size_t n = ns_mac_pending_requests(st, p, NS_MAC_MAX_CMDS);
    for (size_t i = 0; i < n; i++) {
        if (p[i].cid != cid)
            continue;
        if (req != NULL)
            *req = p[i];
        memmove(&p[i], &p[i + 1], (n - i - 1) * sizeof p[0]);
        return ns_mac__pending_store(st, p, n - 1);
    }
    return false;
}

bool ns_mac__is_pending(const ns_mac_state_t *st, uint8_t cid)
{
    lorawan_mac_cmd_t p[NS_MAC_MAX_CMDS];
    size_t n = ns_mac_pending_requests(st, p, NS_MAC_MAX_CMDS);
    for (size_t i = 0; i < n; i++)
        if (p[i].cid == cid)
            return true;
    return false;
}

bool ns_mac__sticky(uint8_t cid)
{
    return cid == LORAWAN_CID_RX_PARAM_SETUP || cid == LORAWAN_CID_RX_TIMING_SETUP ||
           cid == LORAWAN_CID_TX_PARAM_SETUP || cid == LORAWAN_CID_DL_CHANNEL;
}

bool ns_mac__in_last_uplink(const ns_mac_state_t *st, uint8_t cid)
{
    return cid < 64 && (st->recent_mac_command_identifiers & ((uint64_t)1 << cid)) != 0;
}

void ns_mac__unsolicited(const ns_mac_state_t *st, uint8_t cid, const char *name,
                         const lorawan_mac_cmd_t *cmd, ns_mac_up_result_t *res)
{
    if (ns_mac__sticky(cid) && ns_mac__in_last_uplink(st, cid))
        return; /* the device repeats its answer until it gets a downlink */
    ns_mac__event(&res->n_events, res->events, name, cmd);
}

bool ns_mac__has_no_change_adr_indices(const ns_mac_state_t *st)
{
    return st->lorawan_version >= NS_MAC_V1_0_4;
}

bool ns_mac__use_1_0_2(const ns_mac_state_t *st)
{
    return st->lorawan_version >= NS_MAC_V1_0_2;
}

bool ns_mac__use_1_1(const ns_mac_state_t *st)
{
    return st->lorawan_version >= NS_MAC_V1_1;
}

lorawan_rp_rev_t ns_mac__rev(const ns_mac_state_t *st)
{
    return (lorawan_rp_rev_t)st->phy_rev;
}

int ns_mac__dr(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx, uint8_t dr, lorawan_dr_t *out)
{
    return lorawan_band_datarate(ctx->band, ns_mac__rev(st), dr, false, out);
}

bool ns_mac__channel_defined(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx,
                             const ns_mac_params_t *p, unsigned i)
{
    if (lorawan_band_dynamic_channels(ctx->band))
        return i < NS_MAC_MAX_DEFINED_CHANNELS && p->defined[i].uplink_frequency != 0;
    return i < lorawan_band_uplink_channel_count(ctx->band, ns_mac__rev(st));
}

uint16_t ns_mac_enabled_data_rates(const ns_mac_state_t *st, const ns_mac_params_t *p)
{
    if (st == NULL || p == NULL)
        return 0;
    const lorawan_band_t *band = lorawan_band_get((lorawan_band_id_t)st->band_id);
    if (band == NULL)
        return 0;
    bool dynamic = lorawan_band_dynamic_channels(band);
    uint16_t drs = 0;
    for (unsigned w = 0; w < 2; w++) {
        uint64_t bits = p->enabled.bits[w];
        while (bits != 0) {
            unsigned i = w * 64u + (unsigned)__builtin_ctzll(bits);
            bits &= bits - 1;
            uint8_t lo, hi;
            if (dynamic) {
                if (i >= NS_MAC_MAX_DEFINED_CHANNELS || p->defined[i].uplink_frequency == 0)
                    continue;
                lo = p->defined[i].min_data_rate_index;
                hi = p->defined[i].max_data_rate_index;
            } else {
                lorawan_channel_t ch;
                if (lorawan_band_uplink_channel(band, ns_mac__rev(st), i, &ch) != 0)
                    continue;
                lo = ch.min_dr;
                hi = ch.max_dr;
            }
            for (unsigned d = lo; d <= hi && d < 16; d++)
                drs |= (uint16_t)(1u << d);
        }
    }
    return drs;
}

bool ns_mac__enabled_dr_range(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx,
                              const ns_mac_params_t *p, uint8_t *min, uint8_t *max)
{
    (void)ctx;
    uint16_t drs = ns_mac_enabled_data_rates(st, p);
    if (drs == 0)
        return false;
    *min = (uint8_t)__builtin_ctz(drs);
    *max = (uint8_t)(31 - __builtin_clz((unsigned)drs));
    return true;
}

/* ---- Channels ---- */

unsigned ns_mac_channel_count(const ns_mac_state_t *st, const ns_mac_params_t *p)
{
    const lorawan_band_t *band = lorawan_band_get((lorawan_band_id_t)st->band_id);
    if (band == NULL)
        return 0;
    if (!lorawan_band_dynamic_channels(band))
        return lorawan_band_uplink_channel_count(band, ns_mac__rev(st));
    unsigned n = 0;
    for (unsigned i = 0; i < NS_MAC_MAX_DEFINED_CHANNELS; i++)
        if (p->defined[i].uplink_frequency != 0)
            n = i + 1;
    return n;
}

int ns_mac_channel_get(const ns_mac_state_t *st, const ns_mac_params_t *p, unsigned i,
                       ns_mac_channel_t *out)
{
    if (st == NULL || p == NULL || out == NULL)
        return LORAWAN_E_PARAM;
    const lorawan_band_t *band = lorawan_band_get((lorawan_band_id_t)st->band_id);
    if (band == NULL)
        return LORAWAN_E_PARAM;
    lorawan_rp_rev_t rev = ns_mac__rev(st);
    memset(out, 0, sizeof *out);
    if (lorawan_band_dynamic_channels(band)) {
        if (i >= NS_MAC_MAX_DEFINED_CHANNELS)
            return LORAWAN_E_RANGE;
        const ns_mac_dyn_channel_t *d = &p->defined[i];
        out->uplink_frequency = d->uplink_frequency;
        out->downlink_frequency = d->downlink_frequency;
        out->min_data_rate_index = d->min_data_rate_index;
        out->max_data_rate_index = d->max_data_rate_index;
        out->enable_uplink = d->uplink_frequency != 0 && lorawan_chset_test(&p->enabled, i);
        return 0;
    }
    lorawan_channel_t up, down;
    unsigned di = 0;
    if (lorawan_band_uplink_channel(band, rev, i, &up) != 0)
        return LORAWAN_E_RANGE;
    if (lorawan_band_rx1_channel(band, rev, i, &di) != 0 ||
        lorawan_band_downlink_channel(band, rev, di, &down) != 0)
        down.freq_hz = up.freq_hz;
    out->uplink_frequency = up.freq_hz;
    out->downlink_frequency = down.freq_hz;
    out->min_data_rate_index = up.min_dr;
    out->max_data_rate_index = up.max_dr;
    out->enable_uplink = lorawan_chset_test(&p->enabled, i);
    return 0;
}

int ns_mac_channel_set(const ns_mac_state_t *st, ns_mac_params_t *p, unsigned i,
                       const ns_mac_channel_t *ch)
{
    if (st == NULL || p == NULL || ch == NULL)
        return LORAWAN_E_PARAM;
    const lorawan_band_t *band = lorawan_band_get((lorawan_band_id_t)st->band_id);
    if (band == NULL)
        return LORAWAN_E_PARAM;
    if (lorawan_band_dynamic_channels(band)) {
        if (i >= NS_MAC_MAX_DEFINED_CHANNELS)
            return LORAWAN_E_RANGE;
        if (ch->min_data_rate_index > ch->max_data_rate_index || ch->max_data_rate_index > 15 ||
            ch->uplink_frequency % 100u != 0 || ch->downlink_frequency % 100u != 0)
            return LORAWAN_E_PARAM;
        ns_mac_dyn_channel_t *d = &p->defined[i];
        d->uplink_frequency = ch->uplink_frequency;
        d->downlink_frequency =
            ch->downlink_frequency != 0 ? ch->downlink_frequency : ch->uplink_frequency;
        d->min_data_rate_index = ch->min_data_rate_index;
        d->max_data_rate_index = ch->max_data_rate_index;
        lorawan_chset_set(&p->enabled, i, ch->enable_uplink && ch->uplink_frequency != 0);
        return 0;
    }
    ns_mac_channel_t cur;
    int rc = ns_mac_channel_get(st, p, i, &cur);
    if (rc != 0)
        return rc;
    if (ch->uplink_frequency != cur.uplink_frequency)
        return LORAWAN_E_PARAM;
    lorawan_chset_set(&p->enabled, i, ch->enable_uplink);
    return 0;
}

int ns_mac_rx1(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx, uint32_t uplink_frequency,
               uint8_t uplink_dr, uint32_t *frequency, uint8_t *data_rate_index)
{
    if (st == NULL || ctx == NULL || ctx->band == NULL || frequency == NULL ||
        data_rate_index == NULL)
        return LORAWAN_E_PARAM;
    const ns_mac_params_t *cur = &st->current_parameters;
    lorawan_rp_rev_t rev = ns_mac__rev(st);
    int rc = lorawan_band_rx1_dr(ctx->band, rev, uplink_dr, cur->rx1_data_rate_offset,
                                 cur->downlink_dwell_time, data_rate_index);
    if (rc != 0)
        return rc;
    if (lorawan_band_dynamic_channels(ctx->band)) {
        *frequency = uplink_frequency;
        for (unsigned i = 0; i < NS_MAC_MAX_DEFINED_CHANNELS; i++)
            if (cur->defined[i].uplink_frequency == uplink_frequency &&
                cur->defined[i].downlink_frequency != 0) {
                *frequency = cur->defined[i].downlink_frequency;
                break;
            }
        return 0;
    }
    unsigned n = lorawan_band_uplink_channel_count(ctx->band, rev);
    for (unsigned i = 0; i < n; i++) {
        lorawan_channel_t ch, dch;
        unsigned di = 0;
        if (lorawan_band_uplink_channel(ctx->band, rev, i, &ch) != 0 ||
            ch.freq_hz != uplink_frequency)
            continue;
        if (lorawan_band_rx1_channel(ctx->band, rev, i, &di) != 0 ||
            lorawan_band_downlink_channel(ctx->band, rev, di, &dch) != 0)
            return LORAWAN_E_PARAM;
        *frequency = dch.freq_hz;
        return 0;
    }
    return LORAWAN_E_PARAM;
}

const ns_mac_recent_uplink_t *ns_mac_recent_uplink_at(const ns_mac_state_t *st, unsigned i)
{
    if (st == NULL || i >= st->n_recent_uplinks || st->n_recent_uplinks > NS_MAC_RECENT_UPLINKS)
        return NULL;
    unsigned first = (st->recent_uplinks_head + NS_MAC_RECENT_UPLINKS - st->n_recent_uplinks) %
                     NS_MAC_RECENT_UPLINKS;
    return &st->recent_uplinks[(first + i) % NS_MAC_RECENT_UPLINKS];
}

int ns_mac_force_rejoin(ns_mac_state_t *st, uint8_t rejoin_type, uint8_t data_rate, uint8_t period,
                        uint8_t max_retries)
{
    if (st == NULL || rejoin_type > 2 || rejoin_type == 1 || data_rate > 15 || period > 7 ||
        max_retries > 7)
        return LORAWAN_E_PARAM;
    st->pending_force_rejoin = 1;
    st->force_rejoin_type = rejoin_type;
    st->force_rejoin_data_rate = data_rate;
    st->force_rejoin_period = period;
    st->force_rejoin_max_retries = max_retries;
    return 0;
}

/* ---- Initialisation ---- */

/* The band's default channels into p (dynamic: defined with downlink = uplink; fixed: the
 * enabled set covers every channel). */
static void band_default_channels(const lorawan_band_t *band, lorawan_rp_rev_t rev,
                                  ns_mac_params_t *p)
{
    lorawan_chset_clear(&p->enabled);
    memset(p->defined, 0, sizeof p->defined);
    unsigned n = lorawan_band_uplink_channel_count(band, rev);
    for (unsigned i = 0; i < n && i < LORAWAN_CHSET_MAX; i++) {
        lorawan_channel_t ch;
        if (lorawan_band_uplink_channel(band, rev, i, &ch) != 0)
            continue;
        if (lorawan_band_dynamic_channels(band)) {
            if (i >= NS_MAC_MAX_DEFINED_CHANNELS)
                break;
            p->defined[i] = (ns_mac_dyn_channel_t){ch.freq_hz, ch.freq_hz, ch.min_dr, ch.max_dr};
        }
        lorawan_chset_set(&p->enabled, i, true);
    }
}

/* The index of the dynamic channel with uplink frequency f, or -1. */
static int dyn_find(const ns_mac_params_t *p, uint32_t f)
{
    for (unsigned i = 0; i < NS_MAC_MAX_DEFINED_CHANNELS; i++)
        if (p->defined[i].uplink_frequency == f)
            return (int)i;
    return -1;
}

static int dyn_free(const ns_mac_params_t *p)
{
    return dyn_find(p, 0);
}

/* Adds a dynamic channel (or updates the one of that frequency) and enables it. */
static int dyn_add(ns_mac_params_t *p, uint32_t up, uint32_t down, uint8_t min_dr, uint8_t max_dr)
{
    int i = dyn_find(p, up);
    if (i < 0)
        i = dyn_free(p);
    if (i < 0)
        return LORAWAN_E_RANGE;
    p->defined[i] = (ns_mac_dyn_channel_t){up, down != 0 ? down : up, min_dr, max_dr};
    lorawan_chset_set(&p->enabled, (unsigned)i, true);
    return 0;
}

/* The frequency plan's channels as desired: the band's defaults stay defined (a device
 * cannot remove them) and are enabled only when the plan has them. */
static int plan_channels(const lorawan_band_t *band, lorawan_rp_rev_t rev,
                         const lorawan_freqplan_t *fp, ns_mac_params_t *p)
{
    band_default_channels(band, rev, p);
    lorawan_chset_clear(&p->enabled);
    if (lorawan_band_dynamic_channels(band)) {
        for (unsigned i = 0; i < fp->n_uplink; i++) {
            uint32_t down = 0;
            if (fp->downlink != NULL && i < fp->n_downlink)
                down = fp->downlink[i].freq_hz;
            int rc =
                dyn_add(p, fp->uplink[i].freq_hz, down, fp->uplink[i].min_dr, fp->uplink[i].max_dr);
            if (rc != 0)
                return rc;
        }
        return 0;
    }
    unsigned n = lorawan_band_uplink_channel_count(band, rev);
    for (unsigned k = 0; k < (unsigned)fp->n_uplink + 1u; k++) {
        uint32_t f = k < fp->n_uplink ? fp->uplink[k].freq_hz : fp->lora_std.freq_hz;
        if (f == 0)
            continue;
        for (unsigned i = 0; i < n; i++) {
            lorawan_channel_t ch;
            if (lorawan_band_uplink_channel(band, rev, i, &ch) == 0 && ch.freq_hz == f) {
                lorawan_chset_set(&p->enabled, i, true);
                break;
            }
        }
    }
    return 0;
}

/* Offsets of the runs in ns_mac_state_t and in the fixed layout (see mac_private.h). */
#define MID_AT (NS_MAC_FIXED_HEAD + sizeof(ns_mac_params_t))
#define TAIL_AT                                                                                    \
    (offsetof(ns_mac_state_t, recent_uplinks) +                                                    \
     NS_MAC_RECENT_UPLINKS * sizeof(ns_mac_recent_uplink_t))
#define S_DESIRED NS_MAC_FIXED_HEAD
#define S_MID     (S_DESIRED + NS_MAC_FIXED_DESIRED)
#define S_RECENT  (S_MID + NS_MAC_FIXED_MID)
#define S_TAIL    (S_RECENT + NS_MAC_FIXED_RECENT)

static void fixed_store(const ns_mac_state_t *st, uint8_t o[NS_MAC_FIXED_LEN])
{
    const uint8_t *p = (const uint8_t *)st;
    memcpy(o, p, NS_MAC_FIXED_HEAD);
    memcpy(o + S_DESIRED, &st->desired_parameters, NS_MAC_FIXED_DESIRED);
    memcpy(o + S_MID, p + MID_AT, NS_MAC_FIXED_MID);
    for (unsigned k = 0; k < NS_MAC_RECENT_UPLINKS; k++) {
        const ns_mac_recent_uplink_t *r = &st->recent_uplinks[k];
        float c = r->max_snr * 100.0f;
        int16_t snr = c >= 32767.0f    ? INT16_MAX
                      : c <= -32768.0f ? INT16_MIN
                      : c >= 0.0f      ? (int16_t)(c + 0.5f)
                      : c < 0.0f       ? (int16_t)(c - 0.5f)
                                       : 0; /* NaN */
        uint8_t *q = o + S_RECENT + 8u * k;
        memcpy(q, &r->f_cnt, 4);
        memcpy(q + 4, &snr, 2);
        q[6] = r->data_rate_index;
        q[7] = r->gateway_count;
    }
    memcpy(o + S_TAIL, p + TAIL_AT, NS_MAC_FIXED_TAIL);
}

static void fixed_load(const uint8_t i[NS_MAC_FIXED_LEN], const ns_mac_params_t *desired_channels,
                       ns_mac_state_t *st)
{
    uint8_t *p = (uint8_t *)st;
    memcpy(p, i, NS_MAC_FIXED_HEAD);
    st->desired_parameters = *desired_channels;
    memcpy(&st->desired_parameters, i + S_DESIRED, NS_MAC_FIXED_DESIRED);
    memcpy(p + MID_AT, i + S_MID, NS_MAC_FIXED_MID);
    for (unsigned k = 0; k < NS_MAC_RECENT_UPLINKS; k++) {
        ns_mac_recent_uplink_t *r = &st->recent_uplinks[k];
        const uint8_t *q = i + S_RECENT + 8u * k;
        int16_t snr;
        memset(r, 0, sizeof *r);
        memcpy(&r->f_cnt, q, 4);
        memcpy(&snr, q + 4, 2);
        r->max_snr = (float)snr / 100.0f;
        r->data_rate_index = q[6];
        r->gateway_count = q[7];
    }
    memcpy(p + TAIL_AT, i + S_TAIL, NS_MAC_FIXED_TAIL);
}

size_t ns_mac_state_pack(const ns_mac_state_t *st, uint8_t out[NS_MAC_PACKED_MAX])
{
    uint8_t f[NS_MAC_FIXED_LEN];
    fixed_store(st, f);
    size_t n = 0, i = 0;
    while (i < NS_MAC_FIXED_LEN) {
        size_t run = 0;
        while (i + run < NS_MAC_FIXED_LEN && f[i + run] == 0 && run < 128)
            run++;
        if (run >= 2 || (run == 1 && i + 1 == NS_MAC_FIXED_LEN)) {
            out[n++] = (uint8_t)(0x7f + run);
            i += run;
            continue;
        }
        /* Literal bytes up to the next run of two zeros (or 128 bytes). */
        size_t lit = 0;
        while (i + lit < NS_MAC_FIXED_LEN && lit < 128 &&
               !(f[i + lit] == 0 && i + lit + 1 < NS_MAC_FIXED_LEN && f[i + lit + 1] == 0))
            lit++;
        out[n++] = (uint8_t)(lit - 1);
        memcpy(out + n, f + i, lit);
        n += lit;
        i += lit;
    }
    return n;
}

int ns_mac_state_unpack(const uint8_t *in, size_t len, const ns_mac_params_t *desired_channels,
                        ns_mac_state_t *st)
{
    uint8_t f[NS_MAC_FIXED_LEN];
    size_t n = 0, i = 0;
    while (i < len) {
        uint8_t t = in[i++];
        size_t k = t < 0x80 ? (size_t)t + 1 : (size_t)t - 0x7f;
        if (k > NS_MAC_FIXED_LEN - n)
            return LORAWAN_E_PARAM;
        if (t < 0x80) {
            if (k > len - i)
                return LORAWAN_E_PARAM;
            memcpy(f + n, in + i, k);
            i += k;
        } else {
            memset(f + n, 0, k);
        }
        n += k;
    }
    if (n != NS_MAC_FIXED_LEN)
        return LORAWAN_E_PARAM;
    fixed_load(f, desired_channels, st);
    return 0;
}

int ns_mac_state_init(ns_mac_state_t *st, const ns_mac_ctx_t *ctx, lorawan_rp_rev_t rev,
                      ns_mac_version_t version, ns_mac_class_t device_class)
{
    if (st == NULL || ctx == NULL || ctx->band == NULL || ctx->settings == NULL ||
        version > NS_MAC_V1_1 || device_class > NS_MAC_CLASS_C ||
        !lorawan_band_defined(ctx->band, rev))
        return LORAWAN_E_PARAM;
    const lorawan_band_t *band = ctx->band;
    const ns_mac_settings_t *s = ctx->settings;
    const lorawan_freqplan_t *fp = ctx->fp;
    if (fp != NULL && fp->band != lorawan_band_id(band))
        return LORAWAN_E_PARAM;

    memset(st, 0, sizeof *st);
    st->band_id = (uint8_t)lorawan_band_id(band);
    st->phy_rev = (uint8_t)rev;
    st->lorawan_version = (uint8_t)version;
    st->device_class = (uint8_t)device_class;
    st->battery = 255;

    ns_mac_params_t *cur = &st->current_parameters;
    lorawan_rx2_t rx2;
    if (lorawan_band_rx2_default(band, rev, &rx2) != 0)
        return LORAWAN_E_PARAM;
    cur->max_eirp = (float)lorawan_band_default_max_eirp_cdbm(band, rev) / 100.0f;
    cur->adr_nb_trans = 1;
    cur->adr_ack_limit_exponent = NS_MAC_DEFAULT_ADR_ACK_LIMIT_EXP;
    cur->adr_ack_delay_exponent = NS_MAC_DEFAULT_ADR_ACK_DELAY_EXP;
    cur->rx1_delay = 1;
    cur->rx2_data_rate_index = rx2.dr;
    cur->rx2_frequency = rx2.freq_hz;
    lorawan_beacon_params_t beacon;
    if (lorawan_band_beacon(band, rev, &beacon) == 0 && beacon.n_freqs != 0)
        cur->ping_slot_data_rate_index = beacon.dr;
    /* Boot dwell times (TTS band BootDwellTime, after LoRaMac-node): AS923, and AU915 from
     * RP001-1.0.3 rev A, boot with the 400 ms limit on uplinks only. */
    lorawan_band_id_t id = lorawan_band_id(band);
    bool boot_dwell = id == LORAWAN_BAND_AS923_1 || id == LORAWAN_BAND_AS923_2 ||
                      id == LORAWAN_BAND_AS923_3 || id == LORAWAN_BAND_AS923_4 ||
                      (id == LORAWAN_BAND_AU915 && rev >= LORAWAN_RP001_1_0_3_A);
    cur->uplink_dwell_time = boot_dwell;
    cur->downlink_dwell_time = false;
    band_default_channels(band, rev, cur);

    /* What an ABP device was configured with. */
    if (s->has_rx1_delay) {
        if (s->rx1_delay > 15)
            return LORAWAN_E_PARAM;
        cur->rx1_delay = s->rx1_delay == 0 ? 1 : s->rx1_delay;
    }
    if (s->has_rx1_data_rate_offset) {
        if (s->rx1_data_rate_offset > lorawan_band_rx1_dr_offset_max(band, rev))
            return LORAWAN_E_PARAM;
        cur->rx1_data_rate_offset = s->rx1_data_rate_offset;
    }
    if (s->has_rx2_data_rate_index) {
        lorawan_dr_t dr;
        if (lorawan_band_datarate(band, rev, s->rx2_data_rate_index, false, &dr) != 0)
            return LORAWAN_E_PARAM;
        cur->rx2_data_rate_index = s->rx2_data_rate_index;
    }
    if (s->has_rx2_frequency) {
        if (s->rx2_frequency == 0 || s->rx2_frequency % 100u != 0)
            return LORAWAN_E_PARAM;
        cur->rx2_frequency = s->rx2_frequency;
    }
    if (s->has_max_duty_cycle) {
        if (s->max_duty_cycle > 15)
            return LORAWAN_E_PARAM;
        cur->max_duty_cycle = s->max_duty_cycle;
    }
    if (s->n_factory_preset_frequencies > NS_MAC_MAX_FACTORY_PRESETS)
        return LORAWAN_E_PARAM;
    if (s->n_factory_preset_frequencies > 0) {
        if (lorawan_band_dynamic_channels(band)) {
            lorawan_channel_t def;
            if (lorawan_band_uplink_channel(band, rev, 0, &def) != 0)
                return LORAWAN_E_PARAM;
            lorawan_chset_clear(&cur->enabled);
            memset(cur->defined, 0, sizeof cur->defined);
            for (unsigned i = 0; i < s->n_factory_preset_frequencies; i++) {
                uint32_t f = s->factory_preset_frequencies[i];
                if (f == 0 || f % 100u != 0 || dyn_add(cur, f, f, def.min_dr, def.max_dr) != 0)
                    return LORAWAN_E_PARAM;
            }
        } else {
            /* Fixed plans: the presets say which band channels the device uses. */
            lorawan_chset_clear(&cur->enabled);
            unsigned n = lorawan_band_uplink_channel_count(band, rev);
            for (unsigned k = 0; k < s->n_factory_preset_frequencies; k++) {
                bool found = false;
                for (unsigned i = 0; i < n; i++) {
                    lorawan_channel_t ch;
                    if (lorawan_band_uplink_channel(band, rev, i, &ch) == 0 &&
                        ch.freq_hz == s->factory_preset_frequencies[k]) {
                        lorawan_chset_set(&cur->enabled, i, true);
                        found = true;
                    }
                }
                if (!found)
                    return LORAWAN_E_PARAM;
            }
        }
    }

    /* Desired: the plan, then the desired_* settings. */
    ns_mac_params_t *des = &st->desired_parameters;
    *des = *cur;
    if (fp != NULL) {
        int rc = plan_channels(band, rev, fp, des);
        if (rc != 0)
            return LORAWAN_E_PARAM;
        if (fp->rx2.freq_hz != 0) {
            des->rx2_frequency = fp->rx2.freq_hz;
            des->rx2_data_rate_index = fp->rx2.dr;
        }
        /* TTS DeviceDesiredMaxEIRP: the plan's, when below the band's. */
        if (fp->max_eirp_dbm > 0 && (float)fp->max_eirp_dbm < cur->max_eirp)
            des->max_eirp = (float)fp->max_eirp_dbm;
    }
    des->rx1_delay = NS_MAC_DEFAULT_DESIRED_RX1_DELAY_S;
    if (s->has_desired_rx1_delay) {
        if (s->desired_rx1_delay > 15)
            return LORAWAN_E_PARAM;
        des->rx1_delay = s->desired_rx1_delay == 0 ? 1 : s->desired_rx1_delay;
    }
    if (s->has_desired_rx1_data_rate_offset) {
        if (s->desired_rx1_data_rate_offset > lorawan_band_rx1_dr_offset_max(band, rev))
            return LORAWAN_E_PARAM;
        des->rx1_data_rate_offset = s->desired_rx1_data_rate_offset;
    }
    if (s->has_desired_rx2_data_rate_index) {
        lorawan_dr_t dr;
        if (lorawan_band_datarate(band, rev, s->desired_rx2_data_rate_index, false, &dr) != 0)
            return LORAWAN_E_PARAM;
        des->rx2_data_rate_index = s->desired_rx2_data_rate_index;
    }
    if (s->has_desired_rx2_frequency) {
        if (s->desired_rx2_frequency == 0 || s->desired_rx2_frequency % 100u != 0)
            return LORAWAN_E_PARAM;
        des->rx2_frequency = s->desired_rx2_frequency;
    }
    if (s->has_desired_max_duty_cycle) {
        if (s->desired_max_duty_cycle > 15)
            return LORAWAN_E_PARAM;
        des->max_duty_cycle = s->desired_max_duty_cycle;
    }
    if (s->has_desired_adr_ack_limit_exponent) {
        if (s->desired_adr_ack_limit_exponent > 15)
            return LORAWAN_E_PARAM;
        des->adr_ack_limit_exponent = s->desired_adr_ack_limit_exponent;
    }
    if (s->has_desired_adr_ack_delay_exponent) {
        if (s->desired_adr_ack_delay_exponent > 15)
            return LORAWAN_E_PARAM;
        des->adr_ack_delay_exponent = s->desired_adr_ack_delay_exponent;
    }
    if (s->has_desired_max_eirp)
        des->max_eirp = s->desired_max_eirp;
    /* Dwell times the NS wants (TTS DeviceDesired*DwellTime): only where TxParamSetupReq
     * exists; the limit on both ways unless mac_settings say otherwise (a plan cannot turn
     * the limit off here: lorawan_freqplan_t has no "unset"). */
    if (lorawan_band_tx_param_setup(band, rev)) {
        des->uplink_dwell_time = true;
        des->downlink_dwell_time = true;
        if (s->has_uplink_dwell_time)
            des->uplink_dwell_time = s->uplink_dwell_time;
        if (s->has_downlink_dwell_time)
            des->downlink_dwell_time = s->downlink_dwell_time;
    }
    if (s->has_desired_ping_slot_frequency)
        des->ping_slot_frequency = s->desired_ping_slot_frequency;
    if (s->has_desired_ping_slot_data_rate_index)
        des->ping_slot_data_rate_index = s->desired_ping_slot_data_rate_index;
    if (s->has_desired_beacon_frequency)
        des->beacon_frequency = s->desired_beacon_frequency;
    if (s->has_desired_rejoin_params) {
        if (s->desired_rejoin_time_periodicity > 15 || s->desired_rejoin_count_periodicity > 15)
            return LORAWAN_E_PARAM;
        des->rejoin_time_periodicity = s->desired_rejoin_time_periodicity;
        des->rejoin_count_periodicity = s->desired_rejoin_count_periodicity;
    }
    if (s->adr.mode == NS_ADR_MODE_STATIC) {
        if (s->adr.static_mode.data_rate_index > 15 || s->adr.static_mode.tx_power_index > 15 ||
            s->adr.static_mode.nb_trans > 15)
            return LORAWAN_E_PARAM;
        des->adr_data_rate_index = s->adr.static_mode.data_rate_index;
        des->adr_tx_power_index = s->adr.static_mode.tx_power_index;
        des->adr_nb_trans = s->adr.static_mode.nb_trans == 0 ? 1 : s->adr.static_mode.nb_trans;
    }
    return 0;
}

int ns_mac_join_accept_params(ns_mac_state_t *st, const ns_mac_ctx_t *ctx,
                              ns_mac_join_params_t *out)
{
    if (st == NULL || ctx == NULL || ctx->band == NULL || out == NULL)
        return LORAWAN_E_PARAM;
    const lorawan_band_t *band = ctx->band;
    lorawan_rp_rev_t rev = ns_mac__rev(st);
    ns_mac_params_t *cur = &st->current_parameters;
    const ns_mac_params_t *des = &st->desired_parameters;
    memset(out, 0, sizeof *out);
    out->dl_settings =
        (uint8_t)(((des->rx1_data_rate_offset & 0x7u) << 4) | (des->rx2_data_rate_index & 0x0fu));
    if (ns_mac__use_1_1(st))
        out->dl_settings |= 0x80u; /* LoRaWAN 1.1 §6.2.3: OptNeg */
    out->rx_delay = des->rx1_delay & 0x0fu;
    cur->rx1_data_rate_offset = des->rx1_data_rate_offset;
    cur->rx2_data_rate_index = des->rx2_data_rate_index;
    cur->rx1_delay = des->rx1_delay == 0 ? 1 : des->rx1_delay;

    switch (lorawan_band_cflist_type(band, rev)) {
    case LORAWAN_CFLIST_FREQUENCIES: {
        /* Channels 3..7 of the desired set that the device does not know. */
        uint32_t freqs[5] = {0};
        unsigned n = 0;
        unsigned first = lorawan_band_uplink_channel_count(band, rev);
        for (unsigned i = first; i < NS_MAC_MAX_DEFINED_CHANNELS && n < 5; i++) {
            const ns_mac_dyn_channel_t *d = &des->defined[i];
            if (d->uplink_frequency == 0)
                break;
            freqs[n++] = d->uplink_frequency;
        }
        if (n == 0)
            break;
        if (lorawan_cflist_freqs_encode(freqs, out->cf_list) != 0)
            return LORAWAN_E_PARAM;
        out->has_cf_list = true;
        for (unsigned k = 0; k < n; k++) {
            unsigned i = first + k;
            lorawan_channel_t def;
            if (lorawan_band_uplink_channel(band, rev, 0, &def) != 0)
                return LORAWAN_E_PARAM;
            /* LoRaWAN 1.0.4 §6.2.5: CFList channels take the band's default DR range. */
            cur->defined[i] = (ns_mac_dyn_channel_t){freqs[k], freqs[k], def.min_dr, def.max_dr};
            lorawan_chset_set(&cur->enabled, i, true);
        }
        break;
    }
    case LORAWAN_CFLIST_CHMASK:
        if (lorawan_cflist_chmask_encode(&des->enabled, out->cf_list) != 0)
            return LORAWAN_E_PARAM;
        out->has_cf_list = true;
        cur->enabled = des->enabled;
        break;
    default:
        break;
    }
    return 0;
}
