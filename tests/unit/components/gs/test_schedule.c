/* Tests of components/gs/schedule.c: the per-gateway downlink scheduler. Times are in the
 * 64-bit concentrator base (µs). Airtimes quoted are those of the Semtech formula for
 * downlinks (8 preamble symbols, explicit header, CR 4/5, no CRC): SF12/125 kHz 13 bytes
 * 1155.072 ms, SF7/125 kHz 13 bytes 41.216 ms, FSK 50 kbps 13 bytes 3.84 ms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gs/schedule_private.h"

#define S_US  1000000LL
#define MS_US 1000LL
#define T0    (5LL * 4294967296LL + 1000LL * S_US) /* an arbitrary point, past 5 rollovers */

#define SF12_13_US 1155072u
#define SF7_13_US  41216u

static gs_sched_t S; /* ~6 KiB: keep it off the stack */

static void init(const char *plan_id, bool enforce, gs_sched_dwell_t dwell, int64_t window_us)
{
    const lorawan_freqplan_t *fp = lorawan_freqplan_find(plan_id);
    assert_non_null(fp);
    gs_sched_config_t cfg = {
        .plan = fp, .enforce_duty_cycle = enforce, .dwell_time = dwell, .dc_window_us = window_us};
    assert_int_equal(gs_sched_init(&S, &cfg), GS_SCHED_OK);
}

static gs_sched_window_t lora(uint32_t freq_hz, uint8_t sf, uint32_t bw_hz)
{
    return (gs_sched_window_t){.present = true,
                               .freq_hz = freq_hz,
                               .dr = {.modulation = LORAWAN_MOD_LORA, .sf = sf, .bw_hz = bw_hz}};
}

static gs_sched_window_t fsk(uint32_t freq_hz)
{
    return (gs_sched_window_t){.present = true,
                               .freq_hz = freq_hz,
                               .dr = {.modulation = LORAWAN_MOD_FSK, .bit_rate_bps = 50000}};
}

/* Class A after an uplink at T0 (RX1 868.1 MHz SF7, RX2 869.525 MHz SF12, EU868). */
static gs_sched_request_t class_a(size_t len)
{
    return (gs_sched_request_t){.phy_len = len,
                                .timing = GS_SCHED_CLASS_A,
                                .uplink_us = T0,
                                .rx1_delay_s = 1,
                                .rx1 = lora(868100000u, 7, 125000),
                                .rx2 = lora(869525000u, 12, 125000),
                                .priority = GS_SCHED_PRIO_NORMAL};
}

static gs_sched_request_t absolute(int64_t at, gs_sched_window_t w, size_t len, int prio)
{
    return (gs_sched_request_t){.phy_len = len,
                                .timing = GS_SCHED_ABSOLUTE,
                                .absolute_us = at,
                                .rx2 = w,
                                .priority = (gs_sched_priority_t)prio};
}

static gs_sched_request_t immediate(gs_sched_window_t w, size_t len, int prio)
{
    return (gs_sched_request_t){.phy_len = len,
                                .timing = GS_SCHED_IMMEDIATE,
                                .rx2 = w,
                                .priority = (gs_sched_priority_t)prio};
}

static int sched(const gs_sched_request_t *r, int64_t now, gs_sched_result_t *out)
{
    return gs_sched_schedule(&S, r, now, -1, out);
}

/* ---- names, time base, airtime ---- */

static void test_gs_sched_reason_name__stable(void **state)
{
    (void)state;
    static const char *const want[] = {"ok",       "too_late",   "too_early",  "duty_cycle",
                                       "conflict", "tx_power",   "dwell_time", "too_long",
                                       "invalid",  "queue_full", "not_tried"};
    for (int i = 0; i < GS_SCHED_REASON_COUNT; i++)
        assert_string_equal(gs_sched_reason_name(i), want[i]);
    assert_string_equal(gs_sched_reason_name(-1), "unknown");
    assert_string_equal(gs_sched_reason_name(GS_SCHED_REASON_COUNT), "unknown");
}

static void test_gs_sched_extend__rollover(void **state)
{
    (void)state;
    int64_t epoch = 3LL * 4294967296LL;
    /* the uplink just before the counter wrapped, now just after */
    assert_int_equal(gs_sched_extend(epoch + 100, 0xFFFFFF00u), epoch - 256);
    /* a value just after now in the next epoch */
    assert_int_equal(gs_sched_extend(epoch - 100, 50u), epoch + 50);
    assert_int_equal(gs_sched_extend(epoch + 5000, 4000u), epoch + 4000);
    assert_int_equal(gs_sched_extend(0, 10u), 10);
}

static void test_gs_sched_airtime__lora_fsk(void **state)
{
    (void)state;
    gs_sched_dr_t sf12 = {.modulation = LORAWAN_MOD_LORA, .sf = 12, .bw_hz = 125000};
    gs_sched_dr_t sf7 = {.modulation = LORAWAN_MOD_LORA, .sf = 7, .bw_hz = 125000, .cr_den = 5};
    gs_sched_dr_t f = {.modulation = LORAWAN_MOD_FSK, .bit_rate_bps = 50000};
    assert_int_equal(gs_sched_airtime_us(&sf12, 13), SF12_13_US);
    assert_int_equal(gs_sched_airtime_us(&sf7, 13), SF7_13_US);
    assert_int_equal(gs_sched_airtime_us(&f, 13), 3840);
    assert_int_equal(gs_sched_airtime_us(&sf7, 256), 0);
}

static void test_gs_sched_init__errors(void **state)
{
    (void)state;
    gs_sched_config_t cfg = {0};
    assert_int_equal(gs_sched_init(&S, &cfg), GS_SCHED_INVALID);
    assert_int_equal(gs_sched_init(&S, NULL), GS_SCHED_INVALID);
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    assert_int_equal(S.n_sub_bands, 6);
    assert_int_equal(S.cfg.dc_window_us, GS_SCHED_DC_WINDOW_US);
    assert_int_equal(S.bucket_width_us, 30 * S_US);
}

/* ---- class A ---- */

static void test_gs_sched_class_a__rx1(void **state)
{
    (void)state;
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    gs_sched_request_t r = class_a(13);
    gs_sched_result_t res;
    assert_int_equal(sched(&r, T0 + 100 * MS_US, &res), GS_SCHED_OK);
    assert_int_equal(res.window, 1);
    assert_int_equal(res.rx1_reason, GS_SCHED_OK);
    assert_int_equal(res.rx2_reason, GS_SCHED_NOT_TRIED);
    assert_int_equal(res.start_us, T0 + S_US);
    assert_int_equal(res.airtime_us, SF7_13_US);
    assert_int_equal(res.freq_hz, 868100000u);
    assert_int_equal(res.dr_index, 5); /* SF7/125 kHz */
    assert_int_equal(res.dr.sf, 7);
    assert_int_equal(res.eirp_cdbm, 1615); /* 868.0-868.6 MHz: 14 dBm ERP */
    assert_int_equal(res.handover_us, T0 + 100 * MS_US);
    assert_true(res.id != 0);
    assert_int_equal(res.n_preempted, 0);
}

static void test_gs_sched_class_a__rx1_too_late_takes_rx2(void **state)
{
    (void)state;
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    gs_sched_request_t r = class_a(13);
    gs_sched_result_t res;
    /* no RTT known: lead 100 ms + 30 ms; RX1 is 129.999 ms away */
    assert_int_equal(sched(&r, T0 + S_US - 129999, &res), GS_SCHED_OK);
    assert_int_equal(res.window, 2);
    assert_int_equal(res.rx1_reason, GS_SCHED_TOO_LATE);
    assert_int_equal(res.rx2_reason, GS_SCHED_OK);
    assert_int_equal(res.start_us, T0 + 2 * S_US);
    assert_int_equal(res.airtime_us, SF12_13_US);
    assert_int_equal(res.eirp_cdbm, 2915); /* 869.4-869.65 MHz: 27 dBm ERP */
    assert_int_equal(res.dr_index, 0);
    /* exactly 130 ms ahead is in time */
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    assert_int_equal(sched(&r, T0 + S_US - 130000, &res), GS_SCHED_OK);
    assert_int_equal(res.window, 1);
}

static void test_gs_sched_class_a__rtt_sets_lead(void **state)
{
    (void)state;
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    gs_sched_request_t r = class_a(13);
    gs_sched_result_t res;
    /* RTT 400 ms: lead 200 + 30 ms. RX1 230 ms ahead is fine, 229.999 is too late. */
    assert_int_equal(gs_sched_schedule(&S, &r, T0 + S_US - 230000, 400000, &res), GS_SCHED_OK);
    assert_int_equal(res.window, 1);
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    assert_int_equal(gs_sched_schedule(&S, &r, T0 + S_US - 229999, 400000, &res), GS_SCHED_OK);
    assert_int_equal(res.window, 2);
    assert_int_equal(res.rx1_reason, GS_SCHED_TOO_LATE);
    /* both too late */
    assert_int_equal(gs_sched_schedule(&S, &r, T0 + 2 * S_US - 100000, 400000, &res),
                     GS_SCHED_TOO_LATE);
    assert_int_equal(res.rx1_reason, GS_SCHED_TOO_LATE);
    assert_int_equal(res.rx2_reason, GS_SCHED_TOO_LATE);
    assert_int_equal(res.id, 0);
}

static void test_gs_sched_class_a__join_accept_delays(void **state)
{
    (void)state;
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    gs_sched_request_t r = class_a(33);
    r.rx1_delay_s = 0;
    r.join_accept = true;
    gs_sched_result_t res;
    assert_int_equal(sched(&r, T0 + 200 * MS_US, &res), GS_SCHED_OK);
    assert_int_equal(res.start_us, T0 + 5 * S_US);
    assert_int_equal(sched(&r, T0 + 300 * MS_US, &res), GS_SCHED_OK); /* RX1 taken: RX2 */
    assert_int_equal(res.window, 2);
    assert_int_equal(res.rx1_reason, GS_SCHED_CONFLICT);
    assert_int_equal(res.start_us, T0 + 6 * S_US);
    /* rx1_delay 0 for a data downlink: 1 s */
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    r.join_accept = false;
    assert_int_equal(sched(&r, T0 + 200 * MS_US, &res), GS_SCHED_OK);
    assert_int_equal(res.start_us, T0 + S_US);
    r.rx1_delay_s = 16;
    assert_int_equal(sched(&r, T0 + 200 * MS_US, &res), GS_SCHED_INVALID);
}

static void test_gs_sched_class_a__counter_rollover(void **state)
{
    (void)state;
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    int64_t epoch = 7LL * 4294967296LL;
    uint32_t up_ts = 0xFFFFFFFFu - 500000u; /* 0.5 s before the counter wraps */
    int64_t now = epoch + 100000;           /* the server's view: already wrapped */
    gs_sched_request_t r = class_a(13);
    r.uplink_us = gs_sched_extend(now, up_ts);
    assert_int_equal(r.uplink_us, epoch - 500001);
    gs_sched_result_t res;
    assert_int_equal(sched(&r, now, &res), GS_SCHED_OK);
    assert_int_equal(res.window, 1);
    assert_int_equal(res.start_us, epoch + 499999);
    assert_int_equal((uint32_t)res.start_us, 499999u); /* txpk.tmst after the wrap */
}

static void test_gs_sched_conflict__across_rollover(void **state)
{
    (void)state;
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    int64_t epoch = 9LL * 4294967296LL;
    gs_sched_result_t a, b;
    /* an uplink before the wrap: RX1 lands 200 ms after it */
    int64_t now = epoch - 700000;
    gs_sched_request_t r = class_a(13);
    r.uplink_us = gs_sched_extend(now, 0xFFFFFFFFu - 799999u);
    assert_int_equal(sched(&r, now, &a), GS_SCHED_OK);
    assert_int_equal(a.start_us, epoch + 200000);
    /* a later uplink, 30 ms after the first, reported after the wrap: its RX1 (epoch + 230
     * ms) overlaps the first's, which the 64-bit base sees across the wrap */
    now = epoch + 20000;
    r.uplink_us = gs_sched_extend(now, 0xFFFFFFFFu - 769999u);
    assert_int_equal(r.uplink_us, epoch - 770000);
    assert_int_equal(sched(&r, now, &b), GS_SCHED_OK);
    assert_int_equal(b.window, 2);
    assert_int_equal(b.rx1_reason, GS_SCHED_CONFLICT);
    assert_int_equal(b.start_us, epoch + 1230000);
    assert_int_equal((uint32_t)b.start_us, 1230000u);
}

static void test_gs_sched_class_a__tx_power(void **state)
{
    (void)state;
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    gs_sched_request_t r = class_a(13);
    gs_sched_result_t res;
    r.tx_power_cdbm = 2000; /* above 16.15 dBm of RX1's sub-band, within RX2's 29.15 */
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    assert_int_equal(res.window, 2);
    assert_int_equal(res.rx1_reason, GS_SCHED_TX_POWER);
    assert_int_equal(res.eirp_cdbm, 2000);
    r.tx_power_cdbm = 3000;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_TX_POWER);
    r.tx_power_cdbm = 1615;
    r.uplink_us += 10 * S_US;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    assert_int_equal(res.window, 1);
    assert_int_equal(res.eirp_cdbm, 1615);
    r.tx_power_cdbm = 1200;
    r.uplink_us += 10 * S_US;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    assert_int_equal(res.eirp_cdbm, 1200);
}

static void test_gs_sched_class_a__invalid(void **state)
{
    (void)state;
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    gs_sched_result_t res;
    gs_sched_request_t r = class_a(13);
    r.rx1.freq_hz = 902300000u; /* no EU868 sub-band */
    r.rx2.dr.bw_hz = 500000;    /* SF12/500 kHz is no EU868 data rate */
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_INVALID);
    assert_int_equal(res.rx1_reason, GS_SCHED_INVALID);
    assert_int_equal(res.rx2_reason, GS_SCHED_INVALID);
    r = class_a(0);
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_INVALID);
    r = class_a(13);
    r.rx1.dr.cr_den = 9;
    r.rx2.present = false;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_INVALID);
    assert_int_equal(res.rx2_reason, GS_SCHED_NOT_TRIED);
    r = class_a(13);
    r.rx1.present = r.rx2.present = false;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_INVALID);
    r = class_a(13);
    r.priority = (gs_sched_priority_t)7;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_INVALID);
    r = class_a(13);
    r.plan = lorawan_freqplan_find("US_902_928_FSB_2"); /* another band */
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_INVALID);
    /* too long: SF12 (DR0) takes 59 bytes of MACPayload, 64 of PHYPayload */
    r = absolute(T0 + S_US, lora(869525000u, 12, 125000), 64, GS_SCHED_PRIO_NORMAL);
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    r = absolute(T0 + 10 * S_US, lora(869525000u, 12, 125000), 65, GS_SCHED_PRIO_NORMAL);
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_TOO_LONG);
}

/* ---- conflicts, time-off-air, priorities ---- */

static void test_gs_sched_conflict__rx2_then_refused(void **state)
{
    (void)state;
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    gs_sched_request_t r = class_a(13);
    gs_sched_result_t res;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    assert_int_equal(res.window, 1);
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    assert_int_equal(res.window, 2);
    assert_int_equal(res.rx1_reason, GS_SCHED_CONFLICT);
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_CONFLICT);
    assert_int_equal(res.rx1_reason, GS_SCHED_CONFLICT);
    assert_int_equal(res.rx2_reason, GS_SCHED_CONFLICT);
}

static void test_gs_sched_conflict__time_off_air(void **state)
{
    (void)state;
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    gs_sched_window_t w = lora(868100000u, 7, 125000);
    gs_sched_result_t res;
    gs_sched_request_t r = absolute(T0 + S_US, w, 13, GS_SCHED_PRIO_NORMAL);
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    int64_t end = T0 + S_US + SF7_13_US;
    r.absolute_us = end + 30 * MS_US - 1; /* within the 30 ms after the first */
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_CONFLICT);
    r.absolute_us = end + 30 * MS_US;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    /* before the first: its end plus off-air must not reach the first's start */
    r.absolute_us = T0 + S_US - SF7_13_US - 30 * MS_US + 1;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_CONFLICT);
    r.absolute_us = T0 + S_US - SF7_13_US - 30 * MS_US;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
}

static void test_gs_sched_conflict__higher_priority_preempts_pending(void **state)
{
    (void)state;
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    gs_sched_window_t w = lora(868100000u, 7, 125000);
    gs_sched_result_t low, res;
    gs_sched_request_t r = absolute(T0 + 5 * S_US, w, 13, GS_SCHED_PRIO_LOW);
    r.schedule_late = true;
    r.tag = 111;
    assert_int_equal(sched(&r, T0, &low), GS_SCHED_OK);
    assert_int_equal(low.handover_us, T0 + 5 * S_US - 800 * MS_US);
    /* the same priority does not preempt */
    r.tag = 222;
    r.absolute_us = T0 + 5 * S_US + 10 * MS_US;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_CONFLICT);
    /* a higher one does, while the first is not handed over */
    r.priority = GS_SCHED_PRIO_HIGH;
    r.tag = 333;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    assert_int_equal(res.n_preempted, 1);
    assert_int_equal(res.preempted[0], 111);
    assert_int_equal(gs_sched_handover(&S, low.id), GS_SCHED_INVALID); /* gone */
    /* handed over: never preempted */
    assert_int_equal(gs_sched_handover(&S, res.id), GS_SCHED_OK);
    r.priority = GS_SCHED_PRIO_HIGHEST;
    r.absolute_us += 5 * MS_US;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_CONFLICT);
    /* not schedule-late: handed over at once, so not preemptable either */
    r = absolute(T0 + 20 * S_US, w, 13, GS_SCHED_PRIO_LOWEST);
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    assert_int_equal(res.handover_us, T0);
    r.priority = GS_SCHED_PRIO_HIGHEST;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_CONFLICT);
}

static void test_gs_sched_conflict__preempt_bounded(void **state)
{
    (void)state;
    init("US_902_928_FSB_2", true, GS_SCHED_DWELL_PLAN, 0);
    /* five short pending low-priority transmissions under one long high-priority one */
    gs_sched_window_t fast = lora(923300000u, 7, 500000);
    gs_sched_result_t res;
    for (int i = 0; i < 5; i++) {
        gs_sched_request_t r = absolute(T0 + S_US + i * 100 * MS_US, fast, 13, GS_SCHED_PRIO_LOW);
        r.schedule_late = true;
        r.tag = (uint64_t)i;
        assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    }
    gs_sched_request_t big =
        absolute(T0 + S_US, lora(923300000u, 12, 500000), 58, GS_SCHED_PRIO_HIGH);
    /* 58 bytes at SF12/500 kHz: 575.488 ms would remove all five, more than 4 */
    assert_int_equal(sched(&big, T0, &res), GS_SCHED_CONFLICT);
    big.phy_len = 13; /* 247.808 ms (+ 30 ms off-air): overlaps the first three */
    assert_int_equal(sched(&big, T0, &res), GS_SCHED_OK);
    assert_int_equal(res.airtime_us, 247808);
    assert_int_equal(res.n_preempted, 3);
    uint64_t seen = 0;
    for (size_t i = 0; i < 3; i++)
        seen |= 1u << res.preempted[i];
    assert_int_equal(seen, 7);
}

/* ---- duty cycle ---- */

/* Back-to-back SF12 transmissions 2 s apart on freq until refused; returns how many fit. */
static int flood(uint32_t freq, gs_sched_window_t w, size_t len, int prio, int max)
{
    w.freq_hz = freq;
    gs_sched_result_t res;
    for (int i = 0; i < max; i++) {
        gs_sched_request_t r = absolute(T0 + S_US + i * 2 * S_US, w, len, prio);
        r.schedule_late = true; /* absolute times up to the window ahead */
        int rc = sched(&r, T0, &res);
        if (rc != GS_SCHED_OK) {
            assert_int_equal(rc, GS_SCHED_DUTY_CYCLE);
            return i;
        }
    }
    return max;
}

static void test_gs_sched_duty_cycle__eu868_sub_bands(void **state)
{
    (void)state;
    gs_sched_window_t sf12 = lora(0, 12, 125000);
    /* 868.0-868.6 MHz, 1 %: NORMAL may use 70 % of 36 s = 25.2 s: 21 x 1.155072 s */
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    assert_int_equal(flood(868100000u, sf12, 13, GS_SCHED_PRIO_NORMAL, 100), 21);
    /* HIGHEST: the whole 36 s: 31 */
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    assert_int_equal(flood(868100000u, sf12, 13, GS_SCHED_PRIO_HIGHEST, 100), 31);
    /* LOWEST: 40 % of 36 s = 14.4 s: 12 */
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    assert_int_equal(flood(868100000u, sf12, 13, GS_SCHED_PRIO_LOWEST, 100), 12);
    /* 865-868 MHz (867.1 MHz), 1 % */
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    assert_int_equal(flood(867100000u, sf12, 13, GS_SCHED_PRIO_LOWEST, 100), 12);
    /* 868.7-869.2 MHz, 0.1 %: 2.52 s for NORMAL: 2 SF12 frames, or FSK frames */
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    assert_int_equal(flood(868800000u, sf12, 13, GS_SCHED_PRIO_NORMAL, 100), 2);
    /* 869.4-869.65 MHz, 10 %: 252 s: 218 frames (more than the timeline holds: the rest
     * come after the first ones ended and were folded) */
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    gs_sched_window_t w = sf12;
    w.freq_hz = 869525000u;
    gs_sched_result_t res;
    int n = 0;
    for (int i = 0; i < 300; i++) {
        int64_t at = T0 + S_US + i * 2 * S_US;
        gs_sched_request_t r = absolute(at, w, 13, GS_SCHED_PRIO_NORMAL);
        if (sched(&r, at - S_US, &res) != GS_SCHED_OK)
            break;
        n++;
    }
    assert_int_equal(n, 218);
    assert_int_equal(res.reason, GS_SCHED_DUTY_CYCLE);
}

static void test_gs_sched_duty_cycle__fsk_g2(void **state)
{
    (void)state;
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    /* 2.52 s / 3.84 ms = 656.25: 656 FSK frames, folded as they end */
    gs_sched_result_t res;
    int n = 0;
    for (int i = 0; i < 1000; i++) {
        int64_t at = T0 + S_US + i * 100 * MS_US;
        gs_sched_request_t r = absolute(at, fsk(868800000u), 13, GS_SCHED_PRIO_NORMAL);
        if (sched(&r, at - S_US, &res) != GS_SCHED_OK)
            break;
        n++;
    }
    /* all within 66 s of an hour's window: folding into buckets costs nothing here */
    assert_int_equal(n, 656);
    assert_int_equal(res.reason, GS_SCHED_DUTY_CYCLE);
}

static void test_gs_sched_duty_cycle__window_slides(void **state)
{
    (void)state;
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    gs_sched_window_t w = lora(868100000u, 12, 125000);
    assert_int_equal(flood(868100000u, w, 13, GS_SCHED_PRIO_NORMAL, 100), 21);
    int64_t first_end = T0 + S_US + SF12_13_US;
    gs_sched_result_t res;
    /* the first frame still touches every window that touches this start */
    int64_t at = first_end + GS_SCHED_DC_WINDOW_US;
    gs_sched_request_t r = absolute(at, w, 13, GS_SCHED_PRIO_NORMAL);
    assert_int_equal(sched(&r, at - S_US, &res), GS_SCHED_DUTY_CYCLE);
    r.absolute_us = at + 1;
    assert_int_equal(sched(&r, at - S_US, &res), GS_SCHED_OK);
}

static void test_gs_sched_duty_cycle__not_enforced(void **state)
{
    (void)state;
    init("EU_863_870_TTN", false, GS_SCHED_DWELL_PLAN, 0);
    assert_int_equal(flood(868800000u, lora(0, 12, 125000), 13, GS_SCHED_PRIO_NORMAL, 50), 50);
    gs_sched_sub_band_stats_t st[8];
    assert_int_equal(gs_sched_sub_band_stats(&S, T0, st, 8), 6);
    assert_true(st[3].downlink_utilization_limit == 1.0f);
}

static void test_gs_sched_duty_cycle__txack_failed_and_release_free_it(void **state)
{
    (void)state;
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    gs_sched_window_t w = lora(868800000u, 12, 125000);
    gs_sched_result_t a, b, res;
    gs_sched_request_t r = absolute(T0 + S_US, w, 13, GS_SCHED_PRIO_NORMAL);
    assert_int_equal(sched(&r, T0, &a), GS_SCHED_OK);
    r.absolute_us = T0 + 3 * S_US;
    assert_int_equal(sched(&r, T0, &b), GS_SCHED_OK);
    r.absolute_us = T0 + 5 * S_US;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_DUTY_CYCLE);
    /* the gateway did not send the first: its airtime is not counted */
    assert_int_equal(gs_sched_txack(&S, a.id, false), GS_SCHED_OK);
    assert_int_equal(gs_sched_txack(&S, a.id, false), GS_SCHED_INVALID);
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    r.absolute_us = T0 + 7 * S_US;
    assert_int_equal(sched(&r, T0, &a), GS_SCHED_DUTY_CYCLE);
    /* a transmitted one stays counted */
    assert_int_equal(gs_sched_txack(&S, b.id, true), GS_SCHED_OK);
    assert_int_equal(sched(&r, T0, &a), GS_SCHED_DUTY_CYCLE);
    /* released (never sent): freed */
    assert_int_equal(gs_sched_release(&S, res.id), GS_SCHED_OK);
    assert_int_equal(gs_sched_release(&S, res.id), GS_SCHED_INVALID);
    assert_int_equal(sched(&r, T0, &a), GS_SCHED_OK);
}

static void test_gs_sched_sub_band_stats__utilization(void **state)
{
    (void)state;
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    gs_sched_window_t w = lora(868100000u, 12, 125000);
    gs_sched_result_t res;
    for (int i = 0; i < 2; i++) {
        gs_sched_request_t r = absolute(T0 + S_US + i * 2 * S_US, w, 13, GS_SCHED_PRIO_NORMAL);
        assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    }
    gs_sched_sub_band_stats_t st[8];
    /* before they start: nothing used; after: 2 x 1.155072 s of the hour */
    assert_int_equal(gs_sched_sub_band_stats(&S, T0, st, 8), 6);
    assert_int_equal(st[2].min_freq_hz, 868000000u);
    assert_int_equal(st[2].max_freq_hz, 868600000u);
    assert_true(st[2].downlink_utilization_limit == 0.01f);
    assert_true(st[2].downlink_utilization == 0.0f);
    assert_int_equal(gs_sched_sub_band_stats(&S, T0 + 10 * S_US, st, 8), 6);
    assert_true(st[2].downlink_utilization == (float)(2 * SF12_13_US) / 3.6e9f);
    assert_true(st[4].downlink_utilization == 0.0f);
    assert_true(st[4].downlink_utilization_limit == 0.1f);
    assert_true(st[3].downlink_utilization_limit == 0.001f);
    /* halfway through the first one */
    assert_int_equal(gs_sched_sub_band_stats(&S, T0 + S_US + SF12_13_US / 2, st, 8), 6);
    assert_true(st[2].downlink_utilization == (float)(SF12_13_US / 2) / 3.6e9f);
    /* cap smaller than the count */
    assert_int_equal(gs_sched_sub_band_stats(&S, T0, st, 1), 6);
}

/* ---- US915, AS923: dwell time and EIRP ---- */

static void test_gs_sched_us915__no_duty_cycle_no_downlink_dwell(void **state)
{
    (void)state;
    init("US_902_928_FSB_2", true, GS_SCHED_DWELL_PLAN, 0);
    gs_sched_window_t w = lora(923300000u, 12, 500000); /* DR8 */
    gs_sched_result_t res;
    /* 58 bytes at SF12/500 kHz: 575.488 ms, over 400 ms: US915 downlinks have no dwell
     * limit (the plan's dwell time is for uplinks) */
    for (int i = 0; i < 200; i++) {
        gs_sched_request_t r = absolute(T0 + S_US + i * 700 * MS_US, w, 58, GS_SCHED_PRIO_NORMAL);
        assert_int_equal(gs_sched_schedule(&S, &r, T0 + i * 700 * MS_US, -1, &res), GS_SCHED_OK);
        assert_int_equal(res.airtime_us, 575488);
        assert_int_equal(res.eirp_cdbm, 3000);
        assert_int_equal(res.dr_index, 8);
    }
    gs_sched_request_t r = absolute(T0 + 500 * S_US, w, 13, GS_SCHED_PRIO_NORMAL);
    r.tx_power_cdbm = 3001;
    assert_int_equal(sched(&r, T0 + 400 * S_US, &res), GS_SCHED_TX_POWER);
    /* with dwell time forced on, the same frame is refused, a short one passes */
    init("US_902_928_FSB_2", true, GS_SCHED_DWELL_ON, 0);
    r = absolute(T0 + S_US, w, 58, GS_SCHED_PRIO_NORMAL);
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_DWELL_TIME);
    r.phy_len = 13;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    /* an uplink-only data rate is no downlink data rate */
    r = absolute(T0 + 10 * S_US, lora(923300000u, 10, 125000), 13, GS_SCHED_PRIO_NORMAL);
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_INVALID);
}

static void test_gs_sched_as923__dwell_time(void **state)
{
    (void)state;
    init("AS_923", true, GS_SCHED_DWELL_PLAN, 0);
    gs_sched_result_t res;
    /* DR0/DR1 are not usable under the 400 ms dwell time */
    gs_sched_request_t r = absolute(T0 + S_US, lora(923200000u, 12, 125000), 13, 3);
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_DWELL_TIME);
    /* DR2 (SF10): M 19 under dwell time, 24 bytes of PHYPayload, 370.688 ms */
    r = absolute(T0 + S_US, lora(923200000u, 10, 125000), 24, 3);
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    assert_int_equal(res.airtime_us, 370688);
    assert_int_equal(res.eirp_cdbm, 1615);
    r = absolute(T0 + 3 * S_US, lora(923200000u, 10, 125000), 25, 3);
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_TOO_LONG);
    /* DR3 (SF9) 66 bytes: 390.144 ms at CR 4/5, over 400 ms at CR 4/8 */
    r = absolute(T0 + 3 * S_US, lora(923200000u, 9, 125000), 66, 3);
    r.rx2.dr.cr_den = 8;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_DWELL_TIME);
    r.rx2.dr.cr_den = 5;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    assert_int_equal(res.airtime_us, 390144);
    /* dwell time off: DR0 passes, up to 59 bytes of MACPayload */
    init("AS_923", true, GS_SCHED_DWELL_OFF, 0);
    r = absolute(T0 + S_US, lora(923200000u, 12, 125000), 64, 3);
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
}

static void test_gs_sched_as923__eirp_and_duty_cycle(void **state)
{
    (void)state;
    init("AS_923", true, GS_SCHED_DWELL_PLAN, 0);
    gs_sched_result_t res;
    gs_sched_request_t r = absolute(T0 + S_US, lora(923200000u, 10, 125000), 13, 3);
    r.tx_power_cdbm = 1616;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_TX_POWER);
    /* the device's plan sets 30 dBm (AS_920_923_TTN_AU) */
    r.plan = lorawan_freqplan_find("AS_920_923_TTN_AU");
    r.tx_power_cdbm = 0;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    assert_int_equal(res.eirp_cdbm, 3000);
    /* AS923-1's sub-band is 1 %: 25.2 s for NORMAL at SF10 13 bytes (288.768 ms): 87 */
    init("AS_923", true, GS_SCHED_DWELL_PLAN, 0);
    gs_sched_window_t w = lora(923200000u, 10, 125000);
    int n = 0;
    for (int i = 0; i < 200; i++) {
        int64_t at = T0 + S_US + i * S_US;
        r = absolute(at, w, 13, GS_SCHED_PRIO_NORMAL);
        if (sched(&r, at - S_US, &res) != GS_SCHED_OK)
            break;
        assert_int_equal(res.airtime_us, 288768);
        n++;
    }
    assert_int_equal(n, 87);
    assert_int_equal(res.reason, GS_SCHED_DUTY_CYCLE);
}

/* ---- immediate, absolute, schedule late, queue ---- */

static void test_gs_sched_immediate__earliest_slot(void **state)
{
    (void)state;
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    gs_sched_window_t w = lora(869525000u, 7, 125000);
    gs_sched_result_t a, b, c;
    gs_sched_request_t r = immediate(w, 13, GS_SCHED_PRIO_NORMAL);
    assert_int_equal(sched(&r, T0, &a), GS_SCHED_OK);
    assert_int_equal(a.window, 0);
    assert_int_equal(a.start_us, T0 + 130 * MS_US);
    assert_int_equal(a.rx1_reason, GS_SCHED_NOT_TRIED);
    /* the next one after the first plus 30 ms off-air */
    assert_int_equal(sched(&r, T0, &b), GS_SCHED_OK);
    assert_int_equal(b.start_us, a.start_us + SF7_13_US + 30 * MS_US);
    /* with a measured RTT of 60 ms: lead 60 ms, and a gap before the first is used */
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    gs_sched_request_t fixed = absolute(T0 + 200 * MS_US, w, 13, GS_SCHED_PRIO_NORMAL);
    assert_int_equal(sched(&fixed, T0, &a), GS_SCHED_OK);
    assert_int_equal(gs_sched_schedule(&S, &r, T0, 60000, &c), GS_SCHED_OK);
    assert_int_equal(c.start_us, T0 + 60 * MS_US);
    assert_int_equal(gs_sched_schedule(&S, &r, T0, 60000, &c), GS_SCHED_OK);
    assert_int_equal(c.start_us, T0 + 200 * MS_US + SF7_13_US + 30 * MS_US);
    /* no rx2 window */
    r.rx2.present = false;
    assert_int_equal(sched(&r, T0, &c), GS_SCHED_INVALID);
    /* the gateway's schedule_anytime_delay (530 ms) when longer than the lead */
    gs_sched_config_t cfg = {.plan = lorawan_freqplan_find("EU_863_870_TTN"),
                             .enforce_duty_cycle = true,
                             .schedule_anytime_delay_us = 530 * MS_US};
    assert_int_equal(gs_sched_init(&S, &cfg), GS_SCHED_OK);
    r.rx2.present = true;
    assert_int_equal(gs_sched_schedule(&S, &r, T0, 60000, &c), GS_SCHED_OK);
    assert_int_equal(c.start_us, T0 + 530 * MS_US);
    assert_int_equal(gs_sched_schedule(&S, &r, T0, 2000 * MS_US, &c), GS_SCHED_OK);
    assert_int_equal(c.start_us, T0 + 1030 * MS_US); /* lead 1 s + 30 ms */
}

static void test_gs_sched_immediate__waits_for_duty_cycle(void **state)
{
    (void)state;
    /* a 10 s window: 869.525 MHz (10 %) gives NORMAL 0.7 s: 16 SF7 frames of 41.216 ms */
    int64_t win = 10 * S_US;
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, win);
    gs_sched_window_t w = lora(869525000u, 7, 125000);
    gs_sched_result_t res, first;
    gs_sched_request_t r = immediate(w, 13, GS_SCHED_PRIO_NORMAL);
    assert_int_equal(sched(&r, T0, &first), GS_SCHED_OK);
    for (int i = 1; i < 16; i++)
        assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    /* the 17th waits until the first no longer touches any window touching it */
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    assert_int_equal(res.start_us, first.start_us + SF7_13_US + win + 1);
    /* a frame longer than the usable share never fits */
    gs_sched_request_t big = immediate(lora(869525000u, 12, 125000), 64, GS_SCHED_PRIO_NORMAL);
    assert_int_equal(sched(&big, T0, &res), GS_SCHED_DUTY_CYCLE);
}

static void test_gs_sched_absolute__too_early_and_late_handover(void **state)
{
    (void)state;
    init("EU_863_870_TTN", true, GS_SCHED_DWELL_PLAN, 0);
    gs_sched_window_t w = lora(869525000u, 9, 125000);
    gs_sched_result_t res;
    gs_sched_request_t r = absolute(T0 + 512 * S_US + 1, w, 13, GS_SCHED_PRIO_NORMAL);
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_TOO_EARLY);
    r.absolute_us = T0 + 512 * S_US;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    assert_int_equal(res.handover_us, T0);
    /* scheduled late: held until 800 ms before, up to the duty-cycle window ahead */
    r.schedule_late = true;
    r.absolute_us = T0 + 1000 * S_US;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    assert_int_equal(res.handover_us, T0 + 1000 * S_US - 800 * MS_US);
    r.absolute_us = T0 + GS_SCHED_DC_WINDOW_US + 1;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_TOO_EARLY);
    /* less than 800 ms ahead: hand it over now */
    r.absolute_us = T0 + 500 * MS_US;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    assert_int_equal(res.handover_us, T0);
    /* class A late: RX1 1 s after the uplink, handed over 200 ms after it */
    gs_sched_request_t a = class_a(13);
    a.uplink_us = T0 + 2000 * S_US;
    a.schedule_late = true;
    assert_int_equal(sched(&a, T0 + 2000 * S_US + 100 * MS_US, &res), GS_SCHED_OK);
    assert_int_equal(res.handover_us, T0 + 2000 * S_US + 200 * MS_US);
    /* a too-late absolute time */
    r.schedule_late = false;
    r.absolute_us = T0 + 100 * MS_US;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_TOO_LATE);
}

static void test_gs_sched_queue__full_then_folded(void **state)
{
    (void)state;
    init("US_902_928_FSB_2", true, GS_SCHED_DWELL_PLAN, 0);
    gs_sched_window_t w = lora(923300000u, 7, 500000);
    gs_sched_result_t res;
    for (unsigned i = 0; i < GS_SCHED_MAX_TX; i++) {
        gs_sched_request_t r = absolute(T0 + S_US + i * 100 * MS_US, w, 13, GS_SCHED_PRIO_NORMAL);
        assert_int_equal(sched(&r, T0, &res), GS_SCHED_OK);
    }
    gs_sched_request_t r = absolute(T0 + 100 * S_US, w, 13, GS_SCHED_PRIO_NORMAL);
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_QUEUE_FULL);
    r.timing = GS_SCHED_IMMEDIATE;
    assert_int_equal(sched(&r, T0, &res), GS_SCHED_QUEUE_FULL);
    /* once the first has ended, it is folded and its slot reused */
    r.timing = GS_SCHED_ABSOLUTE;
    assert_int_equal(sched(&r, T0 + S_US + 20 * MS_US, &res), GS_SCHED_OK);
}

/* ---- properties ---- */

#define SHADOW_MAX 20000
typedef struct shadow {
    int64_t start, end;
    size_t sub_band;
    uint32_t id;
    bool live; /* still in the timeline (not preempted, released or failed) */
    uint64_t tag;
} shadow_t;
static shadow_t shadow[SHADOW_MAX];
static size_t n_shadow;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

/* The largest true airtime of sub-band sb in any window [x, x + W] that overlaps e: the
 * maximum is reached with a window starting at some transmission's start or ending at some
 * one's end, so only those windows are measured, over the transmissions near e. */
static size_t near[SHADOW_MAX];
static int64_t max_window_airtime(size_t sb, int64_t w, const shadow_t *e)
{
    size_t n = 0;
    for (size_t i = 0; i < n_shadow; i++) {
        const shadow_t *o = &shadow[i];
        if (o->live && o->sub_band == sb && o->end >= e->start - w && o->start <= e->end + w)
            near[n++] = i;
    }
    int64_t best = 0;
    for (size_t c = 0; c < 2 * n; c++) {
        const shadow_t *a = &shadow[near[c / 2]];
        int64_t x = (c % 2 == 0) ? a->start : a->end - w;
        int64_t sum = 0;
        for (size_t i = 0; i < n; i++) {
            const shadow_t *o = &shadow[near[i]];
            int64_t lo = o->start > x ? o->start : x;
            int64_t hi = o->end < x + w ? o->end : x + w;
            if (hi > lo)
                sum += hi - lo;
        }
        if (sum > best)
            best = sum;
    }
    return best;
}

static void run_property(const char *plan_id, const uint32_t *freqs, size_t n_freqs,
                         const uint8_t *sfs, size_t n_sfs, uint32_t bw, int64_t window, int steps,
                         uint32_t step_ms)
{
    init(plan_id, true, GS_SCHED_DWELL_OFF, window);
    n_shadow = 0;
    int64_t now = T0;
    int accepted = 0, refused[GS_SCHED_REASON_COUNT] = {0};
    double best_ratio = 0;
    size_t n_preempted = 0;
    for (int step = 0; step < steps; step++) {
        now += rnd(step_ms) * MS_US;
        gs_sched_window_t w1 = lora(freqs[rnd((uint32_t)n_freqs)], sfs[rnd((uint32_t)n_sfs)], bw);
        gs_sched_window_t w2 = lora(freqs[rnd((uint32_t)n_freqs)], sfs[rnd((uint32_t)n_sfs)], bw);
        size_t len = 12 + rnd(40);
        int prio = (int)rnd(7);
        gs_sched_request_t r;
        switch (rnd(3)) {
        case 0:
            r = (gs_sched_request_t){.phy_len = len,
                                     .timing = GS_SCHED_CLASS_A,
                                     .uplink_us = now - rnd(1200) * MS_US,
                                     .rx1_delay_s = (uint8_t)(1 + rnd(2)),
                                     .rx1 = w1,
                                     .rx2 = w2,
                                     .priority = (gs_sched_priority_t)prio};
            break;
        case 1:
            r = immediate(w2, len, prio);
            break;
        default:
            r = absolute(now + rnd(20000) * MS_US, w2, len, prio);
            break;
        }
        r.schedule_late = rnd(2) == 0;
        r.tag = n_shadow;
        gs_sched_result_t res;
        int64_t rtt = rnd(3) == 0 ? -1 : (int64_t)rnd(300) * MS_US;
        int rc = gs_sched_schedule(&S, &r, now, rtt, &res);
        refused[rc]++;
        if (rc == GS_SCHED_OK) {
            accepted++;
            int64_t lead = (rtt < 0 ? 100 * MS_US : rtt / 2) + 30 * MS_US;
            assert_true(res.start_us >= now + lead);
            for (size_t i = 0; i < res.n_preempted; i++) {
                assert_true(res.preempted[i] < n_shadow);
                assert_true(shadow[res.preempted[i]].live);
                shadow[res.preempted[i]].live = false;
            }
            assert_true(n_shadow < SHADOW_MAX);
            size_t sb = 0;
            for (size_t i = 0; i < S.n_sub_bands; i++)
                if (res.freq_hz >= S.sub_bands[i].sb.min_freq_hz &&
                    res.freq_hz <= S.sub_bands[i].sb.max_freq_hz)
                    sb = i;
            shadow[n_shadow] =
                (shadow_t){res.start_us, res.start_us + res.airtime_us, sb, res.id, true, r.tag};
            n_shadow++;
            /* no two live transmissions overlap, off-air included */
            const shadow_t *e = &shadow[n_shadow - 1];
            for (size_t i = 0; i + 1 < n_shadow; i++) {
                const shadow_t *o = &shadow[i];
                if (o->live)
                    assert_true(e->start >= o->end + 30 * MS_US || o->start >= e->end + 30 * MS_US);
            }
            int64_t ppm = S.sub_bands[sb].sb.duty_cycle_ppm;
            int64_t used = max_window_airtime(sb, window, e);
            assert_true(used * 1000000LL <= ppm * window);
            double ratio = (double)used * 1e6 / (double)(ppm * window);
            if (ratio > best_ratio)
                best_ratio = ratio;
            n_preempted += res.n_preempted;
        }
        /* now and then the gateway reports a failure, or the caller drops one */
        if (n_shadow > 0 && rnd(10) == 0) {
            shadow_t *e = &shadow[n_shadow - 1 - rnd((uint32_t)(n_shadow < 5 ? n_shadow : 5))];
            if (e->live && e->start > now) {
                int rc2 = rnd(2) ? gs_sched_txack(&S, e->id, false) : gs_sched_release(&S, e->id);
                assert_int_equal(rc2, GS_SCHED_OK);
                e->live = false;
            }
        }
    }
    if (getenv("SCHED_DEBUG") != NULL) {
        fprintf(stderr, "%s: accepted %d preempted %zu peak %.3f of the limit", plan_id, accepted,
                n_preempted, best_ratio);
        for (int i = 1; i < GS_SCHED_REASON_COUNT; i++)
            fprintf(stderr, " %s=%d", gs_sched_reason_name(i), refused[i]);
        fprintf(stderr, "\n");
    }
    /* the run exercised acceptance and each main refusal */
    assert_true(accepted > steps / 20);
    assert_true(refused[GS_SCHED_DUTY_CYCLE] > 0);
    assert_true(refused[GS_SCHED_CONFLICT] + refused[GS_SCHED_TOO_LATE] > 0);
}

static void test_gs_sched_property__eu868_no_overlap_duty_cycle_kept(void **state)
{
    (void)state;
    static const uint32_t freqs[] = {868100000u, 868300000u, 868500000u, 867100000u,
                                     867500000u, 869525000u, 868800000u};
    static const uint8_t sfs[] = {7, 9, 12};
    /* a 60 s window: transmissions are folded (more than 64 per window) and still the
     * true duty cycle is never exceeded in any window */
    run_property("EU_863_870_TTN", freqs, 7, sfs, 3, 125000, 60 * S_US, 3000, 400);
}

static void test_gs_sched_property__eu868_hour_window(void **state)
{
    (void)state;
    static const uint32_t freqs[] = {868100000u, 869525000u, 868800000u};
    static const uint8_t sfs[] = {10, 12};
    run_property("EU_863_870_TTN", freqs, 3, sfs, 2, 125000, GS_SCHED_DC_WINDOW_US, 1500, 400);
}

static void test_gs_sched_property__dense_traffic(void **state)
{
    (void)state;
    /* requests every 0-50 ms on the 10 % sub-band: conflicts and preemption dominate */
    static const uint32_t freqs[] = {869525000u};
    static const uint8_t sfs[] = {7, 8};
    run_property("EU_863_870_TTN", freqs, 1, sfs, 2, 125000, 20 * S_US, 4000, 50);
}

static void test_gs_sched_property__as923(void **state)
{
    (void)state;
    static const uint32_t freqs[] = {923200000u, 923400000u};
    static const uint8_t sfs[] = {7, 8, 9, 10};
    run_property("AS_923", freqs, 2, sfs, 4, 125000, 300 * S_US, 2000, 400);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gs_sched_reason_name__stable),
        cmocka_unit_test(test_gs_sched_extend__rollover),
        cmocka_unit_test(test_gs_sched_airtime__lora_fsk),
        cmocka_unit_test(test_gs_sched_init__errors),
        cmocka_unit_test(test_gs_sched_class_a__rx1),
        cmocka_unit_test(test_gs_sched_class_a__rx1_too_late_takes_rx2),
        cmocka_unit_test(test_gs_sched_class_a__rtt_sets_lead),
        cmocka_unit_test(test_gs_sched_class_a__join_accept_delays),
        cmocka_unit_test(test_gs_sched_class_a__counter_rollover),
        cmocka_unit_test(test_gs_sched_conflict__across_rollover),
        cmocka_unit_test(test_gs_sched_class_a__tx_power),
        cmocka_unit_test(test_gs_sched_class_a__invalid),
        cmocka_unit_test(test_gs_sched_conflict__rx2_then_refused),
        cmocka_unit_test(test_gs_sched_conflict__time_off_air),
        cmocka_unit_test(test_gs_sched_conflict__higher_priority_preempts_pending),
        cmocka_unit_test(test_gs_sched_conflict__preempt_bounded),
        cmocka_unit_test(test_gs_sched_duty_cycle__eu868_sub_bands),
        cmocka_unit_test(test_gs_sched_duty_cycle__fsk_g2),
        cmocka_unit_test(test_gs_sched_duty_cycle__window_slides),
        cmocka_unit_test(test_gs_sched_duty_cycle__not_enforced),
        cmocka_unit_test(test_gs_sched_duty_cycle__txack_failed_and_release_free_it),
        cmocka_unit_test(test_gs_sched_sub_band_stats__utilization),
        cmocka_unit_test(test_gs_sched_us915__no_duty_cycle_no_downlink_dwell),
        cmocka_unit_test(test_gs_sched_as923__dwell_time),
        cmocka_unit_test(test_gs_sched_as923__eirp_and_duty_cycle),
        cmocka_unit_test(test_gs_sched_immediate__earliest_slot),
        cmocka_unit_test(test_gs_sched_immediate__waits_for_duty_cycle),
        cmocka_unit_test(test_gs_sched_absolute__too_early_and_late_handover),
        cmocka_unit_test(test_gs_sched_queue__full_then_folded),
        cmocka_unit_test(test_gs_sched_property__eu868_no_overlap_duty_cycle_kept),
        cmocka_unit_test(test_gs_sched_property__eu868_hour_window),
        cmocka_unit_test(test_gs_sched_property__dense_traffic),
        cmocka_unit_test(test_gs_sched_property__as923),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
