/* The downlink scheduler: see schedule_private.h for the contract. Pure. */
#include "schedule_private.h"

#include <stdlib.h>
#include <string.h>

static const char *const reason_names[GS_SCHED_REASON_COUNT] = {
    [GS_SCHED_OK] = "ok",
    [GS_SCHED_TOO_LATE] = "too_late",
    [GS_SCHED_TOO_EARLY] = "too_early",
    [GS_SCHED_DUTY_CYCLE] = "duty_cycle",
    [GS_SCHED_CONFLICT] = "conflict",
    [GS_SCHED_TX_POWER] = "tx_power",
    [GS_SCHED_DWELL_TIME] = "dwell_time",
    [GS_SCHED_TOO_LONG] = "too_long",
    [GS_SCHED_INVALID] = "invalid",
    [GS_SCHED_QUEUE_FULL] = "queue_full",
    [GS_SCHED_NOT_TRIED] = "not_tried",
};

const char *gs_sched_reason_name(int reason)
{
    if (reason < 0 || reason >= GS_SCHED_REASON_COUNT)
        return "unknown";
    return reason_names[reason];
}

/* TTS DefaultDutyCycleCeilings: the share of a sub-band's duty cycle a priority may use,
 * in percent, so that high-priority traffic (join-accepts, MAC answers) still finds room. */
static const uint8_t dc_ceiling_pct[GS_SCHED_PRIO_HIGHEST + 1] = {40, 50, 60, 70, 80, 90, 100};

#define PPM       1000000LL
#define US_PER_S  1000000LL
#define NO_BUCKET INT64_MIN
#define CAND_MAX  (2u * GS_SCHED_MAX_TX + GS_SCHED_DC_BUCKETS + 1u)

/* LoRaWAN 1.0.4 §6.2.6 / RP002: JOIN_ACCEPT_DELAY1 5 s; RECEIVE_DELAY1 1 s; RX2 one second
 * after RX1. */
#define JOIN_ACCEPT_DELAY1_S 5
#define RECEIVE_DELAY1_S     1
#define RX2_AFTER_RX1_US     1000000LL

/* Times the arithmetic below accepts: differences and sums of two of them, plus airtimes
 * and windows, stay far from int64 overflow. 2^62 µs is 146,000 years. */
#define TIME_ABS_MAX (1LL << 62)
#define SPAN_MAX     (1LL << 40) /* 12.7 days: the furthest a request may point from now */

static bool time_ok(int64_t t)
{
    return t >= -TIME_ABS_MAX && t <= TIME_ABS_MAX;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* The ring slot of bucket idx. */
static size_t ring_slot(int64_t idx)
{
    return (size_t)(idx - floor_div(idx, GS_SCHED_DC_BUCKETS) * (int64_t)GS_SCHED_DC_BUCKETS);
}

static int64_t tx_end(const gs_sched_tx_t *t)
{
    return t->start_us + (int64_t)t->airtime_us;
}

int gs_sched_init(gs_sched_t *s, const gs_sched_config_t *cfg)
{
    if (s == NULL || cfg == NULL || cfg->plan == NULL)
        return GS_SCHED_INVALID;
    memset(s, 0, sizeof(*s));
    s->band = lorawan_band_get(cfg->plan->band);
    if (s->band == NULL)
        return GS_SCHED_INVALID;
    s->rev = LORAWAN_RP002_1_0_5;
    while (!lorawan_band_defined(s->band, s->rev) && s->rev > LORAWAN_RP001_1_0_2)
        s->rev = (lorawan_rp_rev_t)(s->rev - 1);
    const lorawan_sub_band_t *sbs = NULL;
    size_t n = lorawan_freqplan_sub_bands(cfg->plan, &sbs);
    if (n == 0 || n > GS_SCHED_MAX_SUB_BANDS)
        return GS_SCHED_INVALID;
    s->cfg = *cfg;
    if (s->cfg.margin_us == 0)
        s->cfg.margin_us = GS_SCHED_MARGIN_US;
    if (s->cfg.time_off_air_us == 0)
        s->cfg.time_off_air_us = GS_SCHED_TIME_OFF_AIR_US;
    if (s->cfg.schedule_late_us == 0)
        s->cfg.schedule_late_us = GS_SCHED_SCHEDULE_LATE_US;
    if (s->cfg.max_advance_us <= 0)
        s->cfg.max_advance_us = GS_SCHED_MAX_ADVANCE_US;
    if (s->cfg.dc_window_us <= 0)
        s->cfg.dc_window_us = GS_SCHED_DC_WINDOW_US;
    if (s->cfg.schedule_anytime_delay_us < 0)
        s->cfg.schedule_anytime_delay_us = 0;
    if (s->cfg.max_advance_us > SPAN_MAX || s->cfg.dc_window_us > SPAN_MAX ||
        s->cfg.schedule_anytime_delay_us > SPAN_MAX)
        return GS_SCHED_INVALID;
    s->bucket_width_us = (s->cfg.dc_window_us + GS_SCHED_DC_BUCKETS - 1) / GS_SCHED_DC_BUCKETS;
    s->n_sub_bands = n;
    for (size_t i = 0; i < n; i++) {
        s->sub_bands[i].sb = sbs[i];
        s->sub_bands[i].newest_bucket = NO_BUCKET;
    }
    s->next_id = 1;
    return GS_SCHED_OK;
}

int64_t gs_sched_extend(int64_t now_us, uint32_t ts)
{
    int32_t delta = (int32_t)(uint32_t)(ts - (uint32_t)(uint64_t)now_us);
    return (int64_t)((uint64_t)now_us + (uint64_t)(int64_t)delta); /* wraps, never UB */
}

uint32_t gs_sched_airtime_us(const gs_sched_dr_t *dr, size_t phy_len)
{
    if (dr == NULL || phy_len > 255)
        return 0;
    switch (dr->modulation) {
    case LORAWAN_MOD_LORA:
        /* LoRaWAN 1.0.4 §4.1: downlinks carry no payload CRC. */
        return lorawan_airtime_lora_us(phy_len, dr->sf, dr->bw_hz, dr->cr_den ? dr->cr_den : 5, 8,
                                       true, false, LORAWAN_LDRO_AUTO);
    case LORAWAN_MOD_FSK:
        return lorawan_airtime_fsk_us(phy_len, dr->bit_rate_bps, 5, 3, true, true);
    case LORAWAN_MOD_LR_FHSS:
        break;
    }
    return 0;
}

/* ---- Duty cycle ---- */

/* The effective duty cycle of sub-band i in ppm; PPM when not limited. */
static int64_t sub_band_dc_ppm(const gs_sched_t *s, size_t i)
{
    if (!s->cfg.enforce_duty_cycle)
        return PPM;
    int64_t ppm = s->sub_bands[i].sb.duty_cycle_ppm;
    return (ppm <= 0 || ppm > PPM) ? PPM : ppm;
}

/* An item counted by the duty cycle: a transmission [lo, hi] or a bucket of folded ones. It
 * counts fully in every window [x, x + W] it touches: hi >= x and lo <= x + W. */
typedef struct dc_item {
    int64_t lo, hi;
    int64_t us;
} dc_item_t;

/* The items of sub-band sb, leaving out transmissions whose slot index is flagged in skip
 * (preemption candidates), and those ending before `from`. */
static size_t dc_items(const gs_sched_t *s, size_t sb, const bool *skip, int64_t from,
                       dc_item_t *items)
{
    size_t n = 0;
    for (size_t i = 0; i < GS_SCHED_MAX_TX; i++) {
        const gs_sched_tx_t *t = &s->tx[i];
        if (t->id == 0 || t->sub_band != sb || (skip != NULL && skip[i]) || tx_end(t) < from)
            continue;
        items[n++] = (dc_item_t){t->start_us, tx_end(t), t->airtime_us};
    }
    const gs_sched_sub_band_t *b = &s->sub_bands[sb];
    if (b->newest_bucket == NO_BUCKET)
        return n;
    for (int64_t k = 0; k < (int64_t)GS_SCHED_DC_BUCKETS; k++) {
        int64_t idx = b->newest_bucket - k;
        uint32_t us = b->bucket_us[ring_slot(idx)];
        int64_t lo = idx * s->bucket_width_us, hi = lo + s->bucket_width_us - 1;
        if (us == 0 || hi < from)
            continue;
        items[n++] = (dc_item_t){lo, hi, us};
    }
    return n;
}

/* Whether a transmission of d µs at t fits sub-band sb's duty cycle at priority prio: in
 * every window of W that touches it, the items touching that window plus d stay within the
 * usable share. A window's sum, as a function of its start x, is a sum of interval
 * indicators ([lo - W, hi] per item), so its maximum over x in [t - W, t + d] is reached at
 * the left end of the range or at some lo - W inside it. */
static bool dc_fits(const gs_sched_t *s, size_t sb, const bool *skip, int64_t t, int64_t d,
                    int prio)
{
    int64_t ppm = sub_band_dc_ppm(s, sb);
    if (ppm >= PPM)
        return true;
    int64_t w = s->cfg.dc_window_us;
    int64_t usable = ppm * dc_ceiling_pct[prio] / 100; /* ppm of the window */
    if (d * PPM > usable * w)
        return false;
    dc_item_t items[GS_SCHED_MAX_TX + GS_SCHED_DC_BUCKETS];
    size_t n = dc_items(s, sb, skip, t - w, items);
    for (size_t c = 0; c <= n; c++) {
        int64_t x = c == n ? t - w : items[c].lo - w;
        if (x < t - w || x > t + d)
            continue;
        int64_t sum = d;
        for (size_t i = 0; i < n; i++)
            if (items[i].hi >= x && items[i].lo <= x + w)
                sum += items[i].us;
        if (sum * PPM > usable * w)
            return false;
    }
    return true;
}

/* Adds an ended transmission's airtime to its sub-band's bucket ring (by end time). Folds
 * come in end-time order, as transmissions never overlap and new ones start after `now`;
 * an older one (the caller's clock stepped back) goes to its bucket while the ring holds it. */
static void dc_fold(gs_sched_t *s, const gs_sched_tx_t *t)
{
    gs_sched_sub_band_t *b = &s->sub_bands[t->sub_band];
    int64_t idx = floor_div(tx_end(t), s->bucket_width_us);
    const int64_t nb = GS_SCHED_DC_BUCKETS;
    if (b->newest_bucket == NO_BUCKET || idx >= b->newest_bucket + nb) {
        memset(b->bucket_us, 0, sizeof(b->bucket_us));
        b->newest_bucket = idx;
    } else if (idx > b->newest_bucket) {
        for (int64_t k = b->newest_bucket + 1; k <= idx; k++)
            b->bucket_us[ring_slot(k)] = 0;
        b->newest_bucket = idx;
    } else if (idx <= b->newest_bucket - nb) {
        return; /* older than the ring: outside every window that can still matter */
    }
    uint32_t *slot = &b->bucket_us[ring_slot(idx)];
    *slot = (*slot > UINT32_MAX - t->airtime_us) ? UINT32_MAX : *slot + t->airtime_us;
}

/* ---- Timeline ---- */

static gs_sched_tx_t *tx_find(gs_sched_t *s, uint32_t id)
{
    if (id == 0)
        return NULL;
    for (size_t i = 0; i < GS_SCHED_MAX_TX; i++)
        if (s->tx[i].id == id)
            return &s->tx[i];
    return NULL;
}

/* A slot for a new transmission: a free one, one flagged in `freed` (preempted), or the
 * oldest transmission that has ended by `now`, folded into the duty-cycle buckets. Returns
 * the index, or -1 when every slot holds a transmission still pending. Does not change s
 * unless `take` is set. */
static int tx_slot(gs_sched_t *s, const bool *freed, int64_t now, bool take)
{
    int oldest = -1;
    for (size_t i = 0; i < GS_SCHED_MAX_TX; i++) {
        if (s->tx[i].id == 0 || (freed != NULL && freed[i]))
            return (int)i;
        if (tx_end(&s->tx[i]) <= now && (oldest < 0 || s->tx[i].start_us < s->tx[oldest].start_us))
            oldest = (int)i;
    }
    if (oldest >= 0 && take) {
        dc_fold(s, &s->tx[oldest]);
        s->tx[oldest].id = 0;
    }
    return oldest;
}

/* ---- One attempt ---- */

typedef struct attempt {
    const gs_sched_window_t *win;
    size_t sub_band;
    uint32_t airtime_us;
    int32_t eirp_cdbm;
    uint8_t dr_index;
    int64_t start_us;
    bool preempt[GS_SCHED_MAX_TX];
    size_t n_preempt;
} attempt_t;

static bool is_as923(lorawan_band_id_t id)
{
    return id == LORAWAN_BAND_AS923_1 || id == LORAWAN_BAND_AS923_2 || id == LORAWAN_BAND_AS923_3 ||
           id == LORAWAN_BAND_AS923_4;
}

static int sub_band_index(const gs_sched_t *s, uint32_t freq_hz, size_t *out)
{
    for (size_t i = 0; i < s->n_sub_bands; i++) {
        if (freq_hz >= s->sub_bands[i].sb.min_freq_hz &&
            freq_hz <= s->sub_bands[i].sb.max_freq_hz) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

/* The checks that do not depend on time: radio parameters, length, dwell time, EIRP. */
static int check_radio(const gs_sched_t *s, const gs_sched_request_t *req,
                       const gs_sched_window_t *win, attempt_t *a)
{
    const lorawan_freqplan_t *plan = req->plan != NULL ? req->plan : s->cfg.plan;
    if (plan->band != s->cfg.plan->band || req->phy_len == 0 || req->phy_len > 255)
        return GS_SCHED_INVALID;
    a->win = win;
    if (sub_band_index(s, win->freq_hz, &a->sub_band) != 0)
        return GS_SCHED_INVALID;
    lorawan_dr_t want = {.modulation = win->dr.modulation,
                         .spreading_factor = win->dr.sf,
                         .bandwidth_hz = win->dr.bw_hz,
                         .bit_rate_bps = win->dr.bit_rate_bps};
    uint8_t dr_index;
    if (win->dr.modulation == LORAWAN_MOD_LR_FHSS ||
        (win->dr.cr_den != 0 && (win->dr.cr_den < 5 || win->dr.cr_den > 8)) ||
        lorawan_band_datarate_index(s->band, s->rev, false, &want, &dr_index) != 0)
        return GS_SCHED_INVALID;
    bool dwell = s->cfg.dwell_time == GS_SCHED_DWELL_ON ||
                 (s->cfg.dwell_time == GS_SCHED_DWELL_PLAN &&
                  (plan->downlink_dwell_time || is_as923(plan->band)));
    lorawan_dr_t d;
    if (lorawan_band_datarate_dwell(s->band, s->rev, dr_index, false, dwell, &d) != 0)
        return GS_SCHED_INVALID;
    a->dr_index = dr_index;
    a->airtime_us = gs_sched_airtime_us(&win->dr, req->phy_len);
    if (a->airtime_us == 0)
        return GS_SCHED_INVALID;
    /* The maximum is of the MACPayload (M); the PHYPayload adds MHDR and MIC. A data rate
     * not usable under dwell time (M 0) is refused for dwell time. */
    if (d.max_mac_payload_m == 0)
        return dwell ? GS_SCHED_DWELL_TIME : GS_SCHED_INVALID;
    if (req->phy_len > (size_t)d.max_mac_payload_m + 5)
        return GS_SCHED_TOO_LONG;
    if (dwell && a->airtime_us > LORAWAN_DWELL_TIME_MS * 1000u)
        return GS_SCHED_DWELL_TIME;
    /* EIRP limit: the device plan's sub-band holding the frequency (else the gateway's),
     * lowered to the plan-wide maximum when the plan sets one. */
    int32_t limit = s->sub_bands[a->sub_band].sb.max_eirp_cdbm;
    const lorawan_sub_band_t *psb = NULL;
    size_t np = lorawan_freqplan_sub_bands(plan, &psb);
    for (size_t i = 0; i < np; i++)
        if (win->freq_hz >= psb[i].min_freq_hz && win->freq_hz <= psb[i].max_freq_hz) {
            limit = psb[i].max_eirp_cdbm;
            break;
        }
    if (plan->max_eirp_dbm > 0 && plan->max_eirp_dbm * 100 < limit)
        limit = plan->max_eirp_dbm * 100;
    if (req->tx_power_cdbm > limit)
        return GS_SCHED_TX_POWER;
    a->eirp_cdbm = req->tx_power_cdbm != 0 ? req->tx_power_cdbm : limit;
    return GS_SCHED_OK;
}

static int64_t off_air(const gs_sched_t *s)
{
    return (int64_t)s->cfg.time_off_air_us;
}

/* Transmissions overlapping [t, t + d + off-air) (each other one also followed by its
 * off-air time). With may_preempt, flags them in a->preempt when all may be preempted by
 * priority prio; returns GS_SCHED_CONFLICT otherwise. */
static int check_conflict(const gs_sched_t *s, int64_t t, int64_t d, int prio, bool may_preempt,
                          attempt_t *a)
{
    memset(a->preempt, 0, sizeof(a->preempt));
    a->n_preempt = 0;
    for (size_t i = 0; i < GS_SCHED_MAX_TX; i++) {
        const gs_sched_tx_t *o = &s->tx[i];
        if (o->id == 0)
            continue;
        if (!(t < tx_end(o) + off_air(s) && o->start_us < t + d + off_air(s)))
            continue;
        if (!may_preempt || o->handed_over || o->priority >= prio ||
            a->n_preempt == GS_SCHED_MAX_PREEMPT)
            return GS_SCHED_CONFLICT;
        a->preempt[i] = true;
        a->n_preempt++;
    }
    return GS_SCHED_OK;
}

static int64_t lead_us(const gs_sched_t *s, int64_t rtt_us)
{
    int64_t one_way = rtt_us < 0 ? (int64_t)GS_SCHED_RTT_UNKNOWN_US : rtt_us / 2;
    return one_way + (int64_t)s->cfg.margin_us;
}

static int64_t advance_max(const gs_sched_t *s, bool late)
{
    return late ? s->cfg.dc_window_us : s->cfg.max_advance_us;
}

/* A window at a fixed start t: every check, nothing changed. */
static int attempt_at(gs_sched_t *s, const gs_sched_request_t *req, const gs_sched_window_t *win,
                      int64_t t, int64_t now, int64_t lead, attempt_t *a)
{
    if (!win->present)
        return GS_SCHED_NOT_TRIED;
    int rc = check_radio(s, req, win, a);
    if (rc != GS_SCHED_OK)
        return rc;
    if (t - now < lead)
        return GS_SCHED_TOO_LATE;
    if (t - now > advance_max(s, req->schedule_late))
        return GS_SCHED_TOO_EARLY;
    rc = check_conflict(s, t, a->airtime_us, (int)req->priority, true, a);
    if (rc != GS_SCHED_OK)
        return rc;
    if (!dc_fits(s, a->sub_band, a->preempt, t, a->airtime_us, (int)req->priority))
        return GS_SCHED_DUTY_CYCLE;
    if (tx_slot(s, a->preempt, now, false) < 0)
        return GS_SCHED_QUEUE_FULL;
    a->start_us = t;
    return GS_SCHED_OK;
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* IMMEDIATE: the earliest start >= now + lead that conflicts with nothing (no preemption)
 * and fits the duty cycle. Feasibility can only begin at now + lead, at the end (plus
 * off-air) of a transmission, or when a duty-cycle item leaves the windows touching the
 * candidate (its hi + W + 1); those candidates are tried in order. */
static int attempt_asap(gs_sched_t *s, const gs_sched_request_t *req, int64_t now, int64_t lead,
                        attempt_t *a)
{
    const gs_sched_window_t *win = &req->rx2;
    if (!win->present)
        return GS_SCHED_INVALID;
    int rc = check_radio(s, req, win, a);
    if (rc != GS_SCHED_OK)
        return rc;
    if (s->cfg.schedule_anytime_delay_us > lead)
        lead = s->cfg.schedule_anytime_delay_us;
    int64_t t0 = now + lead, d = a->airtime_us, w = s->cfg.dc_window_us;
    int64_t cand[CAND_MAX];
    size_t n = 0;
    cand[n++] = t0;
    for (size_t i = 0; i < GS_SCHED_MAX_TX; i++)
        if (s->tx[i].id != 0 && tx_end(&s->tx[i]) + off_air(s) > t0)
            cand[n++] = tx_end(&s->tx[i]) + off_air(s);
    if (sub_band_dc_ppm(s, a->sub_band) < PPM) {
        dc_item_t items[GS_SCHED_MAX_TX + GS_SCHED_DC_BUCKETS];
        size_t ni = dc_items(s, a->sub_band, NULL, t0 - w, items);
        for (size_t i = 0; i < ni && n < CAND_MAX; i++)
            if (items[i].hi + w + 1 > t0)
                cand[n++] = items[i].hi + w + 1;
    }
    qsort(cand, n, sizeof(cand[0]), cmp_i64);
    int last = GS_SCHED_CONFLICT;
    for (size_t c = 0; c < n; c++) {
        int64_t t = cand[c];
        if (c > 0 && t == cand[c - 1])
            continue;
        if (t - now > advance_max(s, req->schedule_late))
            break;
        if (check_conflict(s, t, d, (int)req->priority, false, a) != GS_SCHED_OK) {
            last = GS_SCHED_CONFLICT;
            continue;
        }
        if (!dc_fits(s, a->sub_band, NULL, t, d, (int)req->priority)) {
            last = GS_SCHED_DUTY_CYCLE;
            continue;
        }
        if (tx_slot(s, NULL, now, false) < 0)
            return GS_SCHED_QUEUE_FULL;
        a->start_us = t;
        return GS_SCHED_OK;
    }
    return last;
}

static void commit(gs_sched_t *s, const gs_sched_request_t *req, attempt_t *a, int64_t now,
                   int64_t lead, gs_sched_result_t *out)
{
    for (size_t i = 0; i < GS_SCHED_MAX_TX; i++) {
        if (!a->preempt[i])
            continue;
        if (out->n_preempted < GS_SCHED_MAX_PREEMPT)
            out->preempted[out->n_preempted++] = s->tx[i].tag;
        s->tx[i].id = 0;
    }
    int slot = tx_slot(s, NULL, now, true);
    gs_sched_tx_t *t = &s->tx[slot];
    uint32_t id = s->next_id++;
    if (s->next_id == 0)
        s->next_id = 1;
    *t = (gs_sched_tx_t){.id = id,
                         .start_us = a->start_us,
                         .airtime_us = a->airtime_us,
                         .sub_band = (uint8_t)a->sub_band,
                         .priority = (uint8_t)req->priority,
                         .handed_over = !req->schedule_late,
                         .tag = req->tag};
    out->reason = GS_SCHED_OK;
    out->id = id;
    out->start_us = a->start_us;
    out->airtime_us = a->airtime_us;
    out->freq_hz = a->win->freq_hz;
    out->dr = a->win->dr;
    out->dr_index = a->dr_index;
    out->eirp_cdbm = a->eirp_cdbm;
    out->handover_us = now;
    if (req->schedule_late) {
        int64_t ahead =
            (int64_t)s->cfg.schedule_late_us > lead ? (int64_t)s->cfg.schedule_late_us : lead;
        if (a->start_us - ahead > now)
            out->handover_us = a->start_us - ahead;
    }
}

int gs_sched_schedule(gs_sched_t *s, const gs_sched_request_t *req, int64_t now_us, int64_t rtt_us,
                      gs_sched_result_t *out)
{
    if (out == NULL)
        return GS_SCHED_INVALID;
    memset(out, 0, sizeof(*out));
    out->reason = GS_SCHED_INVALID;
    out->rx1_reason = GS_SCHED_NOT_TRIED;
    out->rx2_reason = GS_SCHED_NOT_TRIED;
    if (s == NULL || req == NULL || s->band == NULL || (int)req->priority < 0 ||
        req->priority > GS_SCHED_PRIO_HIGHEST || !time_ok(now_us))
        return out->reason;
    if (rtt_us > SPAN_MAX)
        rtt_us = SPAN_MAX;
    int64_t lead = lead_us(s, rtt_us);
    attempt_t a;
    switch (req->timing) {
    case GS_SCHED_CLASS_A: {
        if (req->rx1_delay_s > 15 || (!req->rx1.present && !req->rx2.present) ||
            !time_ok(req->uplink_us) || req->uplink_us - now_us > SPAN_MAX ||
            now_us - req->uplink_us > SPAN_MAX)
            return out->reason;
        int64_t delay_s = req->rx1_delay_s != 0 ? req->rx1_delay_s
                          : req->join_accept    ? JOIN_ACCEPT_DELAY1_S
                                                : RECEIVE_DELAY1_S;
        int64_t rx1 = req->uplink_us + delay_s * US_PER_S;
        out->rx1_reason = attempt_at(s, req, &req->rx1, rx1, now_us, lead, &a);
        if (out->rx1_reason == GS_SCHED_OK) {
            commit(s, req, &a, now_us, lead, out);
            out->window = 1;
            return out->reason;
        }
        out->rx2_reason = attempt_at(s, req, &req->rx2, rx1 + RX2_AFTER_RX1_US, now_us, lead, &a);
        if (out->rx2_reason == GS_SCHED_OK) {
            commit(s, req, &a, now_us, lead, out);
            out->window = 2;
            return out->reason;
        }
        out->reason = out->rx2_reason != GS_SCHED_NOT_TRIED ? out->rx2_reason : out->rx1_reason;
        return out->reason;
    }
    case GS_SCHED_ABSOLUTE:
        if (!time_ok(req->absolute_us) || req->absolute_us - now_us > SPAN_MAX ||
            now_us - req->absolute_us > SPAN_MAX)
            return out->reason;
        out->rx2_reason = attempt_at(s, req, &req->rx2, req->absolute_us, now_us, lead, &a);
        if (out->rx2_reason == GS_SCHED_NOT_TRIED)
            out->rx2_reason = GS_SCHED_INVALID;
        break;
    case GS_SCHED_IMMEDIATE:
        out->rx2_reason = attempt_asap(s, req, now_us, lead, &a);
        break;
    default:
        return out->reason;
    }
    if (out->rx2_reason == GS_SCHED_OK)
        commit(s, req, &a, now_us, lead, out);
    else
        out->reason = out->rx2_reason;
    return out->reason;
}

int gs_sched_handover(gs_sched_t *s, uint32_t id)
{
    gs_sched_tx_t *t = s != NULL ? tx_find(s, id) : NULL;
    if (t == NULL)
        return GS_SCHED_INVALID;
    t->handed_over = true;
    return GS_SCHED_OK;
}

int gs_sched_txack(gs_sched_t *s, uint32_t id, bool transmitted)
{
    gs_sched_tx_t *t = s != NULL ? tx_find(s, id) : NULL;
    if (t == NULL)
        return GS_SCHED_INVALID;
    if (transmitted) {
        t->handed_over = true;
        t->acked = true;
    } else {
        t->id = 0;
    }
    return GS_SCHED_OK;
}

int gs_sched_release(gs_sched_t *s, uint32_t id)
{
    gs_sched_tx_t *t = s != NULL ? tx_find(s, id) : NULL;
    if (t == NULL)
        return GS_SCHED_INVALID;
    t->id = 0;
    return GS_SCHED_OK;
}

size_t gs_sched_sub_band_stats(const gs_sched_t *s, int64_t now_us, gs_sched_sub_band_stats_t *out,
                               size_t cap)
{
    if (s == NULL)
        return 0;
    if (!time_ok(now_us))
        now_us = 0;
    int64_t w = s->cfg.dc_window_us, from = now_us - w;
    for (size_t sb = 0; sb < s->n_sub_bands && sb < cap && out != NULL; sb++) {
        int64_t used = 0;
        for (size_t i = 0; i < GS_SCHED_MAX_TX; i++) {
            const gs_sched_tx_t *t = &s->tx[i];
            if (t->id == 0 || t->sub_band != sb)
                continue;
            int64_t lo = t->start_us > from ? t->start_us : from;
            int64_t hi = tx_end(t) < now_us ? tx_end(t) : now_us;
            if (hi > lo)
                used += hi - lo;
        }
        const gs_sched_sub_band_t *b = &s->sub_bands[sb];
        for (int64_t k = 0; b->newest_bucket != NO_BUCKET && k < (int64_t)GS_SCHED_DC_BUCKETS;
             k++) {
            int64_t idx = b->newest_bucket - k;
            if ((idx + 1) * s->bucket_width_us <= from)
                continue;
            used += b->bucket_us[ring_slot(idx)];
        }
        out[sb] = (gs_sched_sub_band_stats_t){
            .min_freq_hz = b->sb.min_freq_hz,
            .max_freq_hz = b->sb.max_freq_hz,
            .downlink_utilization_limit = (float)sub_band_dc_ppm(s, sb) / (float)PPM,
            .downlink_utilization = (float)used / (float)w,
        };
    }
    return s->n_sub_bands;
}
