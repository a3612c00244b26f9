/* Fuzz target: the downlink scheduler (gs_sched_*) driven by a byte program. Byte 0 picks
 * the gateway's plan and settings; then each operation is one opcode byte and its operands
 * (missing bytes read as 0). After every operation the timeline must hold no two
 * overlapping transmissions (time-off-air included), no duplicate ids, and an accepted
 * transmission must start at least the lead ahead of now, with a nonzero airtime and a
 * stable reason name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gs/schedule_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const plans[] = {"EU_863_870_TTN",    "US_902_928_FSB_2", "AS_923",
                                    "AS_920_923_TTN_AU", "AU_915_928_FSB_2", "KR_920_923_TTN",
                                    "IN_865_867",        "CN_470_510_FSB_11"};
static const uint32_t freqs[] = {868100000u, 869525000u, 868800000u, 923300000u, 923200000u,
                                 922100000u, 866550000u, 505300000u, 0u,         4000000000u};
static gs_sched_t S;

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader_t;

static uint64_t take(reader_t *r, size_t bytes)
{
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; i++) {
        v = (v << 8) | (r->n > 0 ? *r->p : 0);
        if (r->n > 0) {
            r->p++;
            r->n--;
        }
    }
    return v;
}

static gs_sched_window_t window(reader_t *r)
{
    uint8_t b = (uint8_t)take(r, 1);
    gs_sched_window_t w = {.present = (b & 1) != 0,
                           .freq_hz = freqs[(b >> 1) % (sizeof(freqs) / sizeof(freqs[0]))]};
    uint8_t m = (uint8_t)take(r, 1);
    if (m & 0x80) {
        w.dr.modulation = LORAWAN_MOD_FSK;
        w.dr.bit_rate_bps = (m & 1) ? 50000 : m * 1000u;
    } else {
        w.dr.modulation = LORAWAN_MOD_LORA;
        w.dr.sf = (uint8_t)(5 + (m & 7));
        static const uint32_t bws[] = {125000, 250000, 500000, 0};
        w.dr.bw_hz = bws[(m >> 3) & 3];
        w.dr.cr_den = (uint8_t)((m >> 5) & 3) == 3 ? 9 : (uint8_t)(5 + ((m >> 5) & 3));
    }
    return w;
}

static void check_timeline(void)
{
    for (size_t i = 0; i < GS_SCHED_MAX_TX; i++) {
        const gs_sched_tx_t *a = &S.tx[i];
        if (a->id == 0)
            continue;
        for (size_t j = i + 1; j < GS_SCHED_MAX_TX; j++) {
            const gs_sched_tx_t *b = &S.tx[j];
            if (b->id == 0)
                continue;
            if (a->id == b->id)
                abort();
            int64_t off = S.cfg.time_off_air_us;
            if (a->start_us < b->start_us + b->airtime_us + off &&
                b->start_us < a->start_us + a->airtime_us + off)
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader_t r = {data, size};
    uint8_t setup = (uint8_t)take(&r, 1);
    gs_sched_config_t cfg = {
        .plan = lorawan_freqplan_find(plans[setup % (sizeof(plans) / sizeof(plans[0]))]),
        .enforce_duty_cycle = (setup & 0x08) == 0,
        .dwell_time = (gs_sched_dwell_t)((setup >> 4) % 3),
        .dc_window_us = (setup & 0x40) ? 20000000 : 0};
    if (cfg.plan == NULL || gs_sched_init(&S, &cfg) != GS_SCHED_OK)
        return 0;
    int64_t now = (int64_t)take(&r, 5);
    uint32_t last_id = 0;
    while (r.n > 0) {
        uint8_t op = (uint8_t)take(&r, 1);
        switch (op % 8) {
        case 0:
        case 1:
        case 2: {
            gs_sched_request_t q = {.phy_len = (size_t)take(&r, 1),
                                    .timing = (gs_sched_timing_t)(op % 8),
                                    .rx1_delay_s = (uint8_t)(take(&r, 1) % 17),
                                    .join_accept = (op & 0x10) != 0,
                                    .priority = (gs_sched_priority_t)(take(&r, 1) % 8),
                                    .tx_power_cdbm = (int32_t)(int16_t)take(&r, 2),
                                    .schedule_late = (op & 0x20) != 0,
                                    .tag = op};
            q.uplink_us = now - (int64_t)take(&r, 3);
            q.absolute_us = now + (int64_t)(int32_t)take(&r, 4);
            q.rx1 = window(&r);
            q.rx2 = window(&r);
            if (op & 0x40)
                q.plan = lorawan_freqplan_find(plans[take(&r, 1) % 8]);
            int64_t rtt = (op & 0x80) ? -1 : (int64_t)take(&r, 3);
            gs_sched_result_t res;
            int rc = gs_sched_schedule(&S, &q, now, rtt, &res);
            if (rc != res.reason || strcmp(gs_sched_reason_name(rc), "unknown") == 0)
                abort();
            if (rc == GS_SCHED_OK) {
                int64_t lead = (rtt < 0 ? 100000 : rtt / 2) + 30000;
                if (res.id == 0 || res.airtime_us == 0 || res.start_us - now < lead ||
                    res.handover_us < now || res.handover_us > res.start_us ||
                    res.n_preempted > GS_SCHED_MAX_PREEMPT)
                    abort();
                last_id = res.id;
            } else if (res.id != 0) {
                abort();
            }
            break;
        }
        case 3:
            now += (int64_t)take(&r, 3);
            break;
        case 4:
            gs_sched_txack(&S, last_id - (uint32_t)take(&r, 1), (op & 0x10) != 0);
            break;
        case 5:
            gs_sched_release(&S, last_id - (uint32_t)take(&r, 1));
            break;
        case 6:
            gs_sched_handover(&S, last_id - (uint32_t)take(&r, 1));
            break;
        default: {
            gs_sched_sub_band_stats_t st[GS_SCHED_MAX_SUB_BANDS];
            size_t n = gs_sched_sub_band_stats(&S, now, st, GS_SCHED_MAX_SUB_BANDS);
            for (size_t i = 0; i < n && i < GS_SCHED_MAX_SUB_BANDS; i++)
                if (!(st[i].downlink_utilization >= 0.0f) ||
                    !(st[i].downlink_utilization_limit > 0.0f))
                    abort();
            break;
        }
        }
        check_timeline();
    }
    return 0;
}
