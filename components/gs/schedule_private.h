/* The downlink scheduler of the Gateway Server: one transmission timeline per gateway.
 *
 * Pure (STYLE.md "Protocol code is pure"): no I/O, clock, logging, allocation or globals.
 * The caller embeds a gs_sched_t per connected gateway (fixed size, about 6 KiB), passes
 * `now` and the measured round-trip time on every call, and sends what it is told to send.
 * Not thread-safe: one gateway's scheduler is used from one thread (its connection's loop).
 *
 * Time base. Every time is the gateway's concentrator counter in microseconds, extended to
 * 64 bits by the caller (it keeps the mapping between server time and concentrator time,
 * from uplink timestamps, timesync or PULL_DATA round trips). gs_sched_extend() turns a
 * 32-bit counter value (an uplink's `tmst`, GsDown.timestamp) into that base, so a 32-bit
 * rollover (every 71.6 minutes) between the uplink and `now` is handled. A Semtech gateway is
 * then given the low 32 bits of gs_sched_result_t.start_us (txpk.tmst).
 *
 * What a request may be refused for (gs_sched_reason_name() gives the stable names, used as
 * GsTxAck.error_name):
 *   too_late    the start is less than lead = rtt/2 + margin ahead of `now` (rtt unknown, i.e.
 *               rtt_us < 0: 100 ms + margin, as TTS's ScheduleTimeShort); margin default
 *               30 ms, TTS's QueueDelay (the packet forwarder's jit-queue recharge time).
 *   too_early   the start is further than max_advance_us ahead of `now` (default 512 s, the
 *               packet forwarder jit queue's TX_MAX_ADVANCE_DELAY), or, when scheduling late,
 *               further than the duty-cycle window: the gateway would refuse it, or it could
 *               not be accounted for.
 *   duty_cycle  the sub-band's duty cycle would be exceeded in some window of dc_window_us
 *               (default 1 h, TTS's DutyCycleWindow) containing the transmission, given the
 *               priority's share of it (TTS's DefaultDutyCycleCeilings: LOWEST 40 %, LOW 50 %,
 *               BELOW_NORMAL 60 %, NORMAL 70 %, ABOVE_NORMAL 80 %, HIGH 90 %, HIGHEST 100 %
 *               of the sub-band's duty cycle). Only when enforce_duty_cycle is set and the
 *               sub-band's duty cycle is below 100 %.
 *   conflict    the transmission (plus time-off-air after each transmission, default 30 ms)
 *               overlaps one already scheduled. EXCEPTION, priorities: when every overlapping
 *               transmission has a strictly lower priority AND none of them has been handed
 *               over to the gateway yet (gs_sched_handover) AND they are at most
 *               GS_SCHED_MAX_PREEMPT, they are removed from the timeline ("preempted") and the
 *               new one takes their place; their tags are listed in the result so the caller
 *               answers each with `conflict` on lw.gs.txack. Handed-over transmissions are
 *               never preempted (the gateway has them).
 *   tx_power    the asked EIRP is above the limit: the sub-band's max EIRP (the plan's
 *               sub-bands, else the band's), lowered to the plan's max_eirp_dbm when set.
 *   dwell_time  the time-on-air is above 400 ms (LORAWAN_DWELL_TIME_MS) where downlink dwell
 *               time applies: the plan sets downlink_dwell_time, or the band is AS923-x
 *               (RP002: DownlinkDwellTime defaults to 1), unless config.dwell_time says
 *               otherwise. US915/AU915 downlinks (500 kHz, no hopping) have no dwell limit, as
 *               in TTS's plans (their dwell time is on uplinks only).
 *   too_long    the PHYPayload is longer than the data rate's maximum (M + 5, the dwell-time
 *               table when dwell time applies).
 *   invalid     frequency outside every sub-band of the plan, a data rate that is not a
 *               downlink data rate of the band, no window, bad arguments (times beyond
 *               +-2^62 µs, an uplink or absolute time more than 2^40 µs, 12.7 days, from now).
 *   queue_full  GS_SCHED_MAX_TX transmissions are all still pending (none has ended).
 *
 * Class A (GS_SCHED_CLASS_A): RX1 opens rx1_delay_s after the uplink's counter value, RX2 one
 * second later (rx1_delay_s 0 means 1 s, or 5 s for a join-accept: JOIN_ACCEPT_DELAY1).
 * RX1 is tried first; when it cannot be made (any refusal above), RX2 is tried; the result
 * gives the window chosen and, in rx1_reason, why RX1 was skipped (for logs and events).
 * When both fail, `reason` is RX2's refusal (RX1's when RX2 is absent).
 * IMMEDIATE (class C): the earliest start >= now + max(lead, schedule_anytime_delay) at which the
 * transmission neither conflicts nor exceeds the duty cycle, in the rx2 window's parameters (the
 * only one used). Refused (duty_cycle, or conflict when that was the last obstacle) when no such
 * start exists within max_advance_us (the duty-cycle window when scheduling late). Never preempts.
 * ABSOLUTE (class B/C at a given time): at absolute_us (the caller converts GPS/Unix time to
 * the concentrator base), in rx2's parameters; same checks as one class A window.
 *
 * Duty cycle with bounded memory: the timeline keeps the last GS_SCHED_MAX_TX transmissions
 * exactly (start, time-on-air). When a slot is needed, the oldest ended transmission is folded
 * into its sub-band's ring of GS_SCHED_DC_BUCKETS buckets (dc_window_us / buckets wide, by end
 * time). Sums count a transmission or bucket fully when it touches the window at all, so a
 * sum is never below the true airtime in the window: the limit is never exceeded, at the cost
 * of at most one bucket of over-count once transmissions have been folded.
 *
 * Schedule late (request.schedule_late, the gateway's schedule_downlink_late): the result's
 * handover_us says when to hand the downlink to the gateway: start - max(schedule_late_us
 * (default 800 ms, TTS's UDP ScheduleLateTime), lead), or now when that is already past.
 * Without it, handover_us = now and the transmission counts as handed over at once.
 *
 * One frequency plan per gateway: TTS lets a gateway have several plans of one band; the
 * caller passes the first (their sub-bands must agree anyway). The device's plan, when the
 * GsDown names one, sets EIRP and dwell time per request.
 *
 * Life of a transmission: gs_sched_schedule() returns an id (nonzero); the caller then calls
 * gs_sched_handover() when it sends it to the gateway (schedule-late only), gs_sched_txack()
 * with the gateway's TX_ACK / dntxed result (failed: removed, its airtime is not counted), or
 * gs_sched_release() when it could not send it at all. A transmission that is never
 * acknowledged stays counted (a Semtech v1 gateway sends no TX_ACK). */
#ifndef GS_SCHEDULE_PRIVATE_H
#define GS_SCHEDULE_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lorawan/lorawan.h"

/* Results and refusals; gs_sched_reason_name() gives the stable names in the comments. */
enum {
    GS_SCHED_OK = 0,         /* "ok" */
    GS_SCHED_TOO_LATE = 1,   /* "too_late" */
    GS_SCHED_TOO_EARLY = 2,  /* "too_early" */
    GS_SCHED_DUTY_CYCLE = 3, /* "duty_cycle" */
    GS_SCHED_CONFLICT = 4,   /* "conflict" */
    GS_SCHED_TX_POWER = 5,   /* "tx_power" */
    GS_SCHED_DWELL_TIME = 6, /* "dwell_time" */
    GS_SCHED_TOO_LONG = 7,   /* "too_long" */
    GS_SCHED_INVALID = 8,    /* "invalid" */
    GS_SCHED_QUEUE_FULL = 9, /* "queue_full" */
    GS_SCHED_NOT_TRIED = 10, /* "not_tried": a window that was absent or not needed */
    GS_SCHED_REASON_COUNT = 11
};

/* The stable name of a reason ("too_late", ...); "unknown" out of range. Never NULL. */
const char *gs_sched_reason_name(int reason);

#define GS_SCHED_MAX_TX        64u  /* transmissions kept exactly per gateway */
#define GS_SCHED_DC_BUCKETS    120u /* per sub-band: 30 s buckets over a 1 h window */
#define GS_SCHED_MAX_SUB_BANDS LORAWAN_FP_MAX_SUBBANDS
#define GS_SCHED_MAX_PREEMPT   4u

/* Defaults (config fields left 0 take them). */
#define GS_SCHED_MARGIN_US        30000u       /* TTS QueueDelay */
#define GS_SCHED_RTT_UNKNOWN_US   100000u      /* one-way latency assumed without an RTT */
#define GS_SCHED_TIME_OFF_AIR_US  30000u       /* TTS: time-off-air at least QueueDelay */
#define GS_SCHED_SCHEDULE_LATE_US 800000u      /* TTS UDP ScheduleLateTime */
#define GS_SCHED_MAX_ADVANCE_US   512000000LL  /* packet forwarder TX_MAX_ADVANCE_DELAY */
#define GS_SCHED_DC_WINDOW_US     3600000000LL /* TTS DutyCycleWindow: 1 h */

/* TxSchedulePriority (messages.proto, TTS ttnpb.TxSchedulePriority). */
typedef enum gs_sched_priority {
    GS_SCHED_PRIO_LOWEST = 0,
    GS_SCHED_PRIO_LOW = 1,
    GS_SCHED_PRIO_BELOW_NORMAL = 2,
    GS_SCHED_PRIO_NORMAL = 3,
    GS_SCHED_PRIO_ABOVE_NORMAL = 4,
    GS_SCHED_PRIO_HIGH = 5,
    GS_SCHED_PRIO_HIGHEST = 6,
} gs_sched_priority_t;

typedef enum gs_sched_dwell {
    GS_SCHED_DWELL_PLAN = 0, /* the plan's downlink_dwell_time, or the band is AS923-x */
    GS_SCHED_DWELL_ON,
    GS_SCHED_DWELL_OFF,
} gs_sched_dwell_t;

typedef struct gs_sched_config {
    const lorawan_freqplan_t *plan; /* required; the gateway's (lorawan_freqplan_find) */
    bool enforce_duty_cycle;        /* the gateway's enforce_duty_cycle */
    gs_sched_dwell_t dwell_time;
    uint32_t margin_us;        /* 0: GS_SCHED_MARGIN_US */
    uint32_t time_off_air_us;  /* 0: GS_SCHED_TIME_OFF_AIR_US */
    uint32_t schedule_late_us; /* 0: GS_SCHED_SCHEDULE_LATE_US */
    int64_t max_advance_us;    /* 0: GS_SCHED_MAX_ADVANCE_US */
    int64_t dc_window_us;      /* 0: GS_SCHED_DC_WINDOW_US */
    /* The gateway's schedule_anytime_delay (TTS): IMMEDIATE starts no earlier than now plus
     * this (and the lead). 0: not set, the lead alone (rtt/2 + margin). */
    int64_t schedule_anytime_delay_us;
} gs_sched_config_t;

/* A downlink data rate. LoRa: sf 5..12, bw_hz 125000/250000/500000, cr_den 5..8 (4/5..4/8;
 * 0 means 5). FSK: bit_rate_bps (50000 in every band). */
typedef struct gs_sched_dr {
    lorawan_modulation_t modulation;
    uint8_t sf;
    uint32_t bw_hz;
    uint8_t cr_den;
    uint32_t bit_rate_bps;
} gs_sched_dr_t;

typedef struct gs_sched_window {
    bool present;
    uint32_t freq_hz;
    gs_sched_dr_t dr;
} gs_sched_window_t;

typedef enum gs_sched_timing {
    GS_SCHED_CLASS_A = 0, /* GsDown TIMESTAMP */
    GS_SCHED_ABSOLUTE,    /* GsDown ABSOLUTE, converted to the concentrator base */
    GS_SCHED_IMMEDIATE,   /* GsDown IMMEDIATE */
} gs_sched_timing_t;

typedef struct gs_sched_request {
    size_t phy_len; /* PHYPayload length, 1..255 */
    gs_sched_timing_t timing;
    int64_t uplink_us;   /* CLASS_A: the uplink's counter in the 64-bit base (extend) */
    uint8_t rx1_delay_s; /* CLASS_A: 0..15; 0 = 1 s (5 s when join_accept) */
    bool join_accept;
    gs_sched_window_t rx1; /* CLASS_A only */
    gs_sched_window_t rx2; /* CLASS_A RX2; IMMEDIATE and ABSOLUTE use it */
    int64_t absolute_us;   /* ABSOLUTE: the start */
    gs_sched_priority_t priority;
    int32_t tx_power_cdbm; /* EIRP asked, centi-dBm; 0: the limit (see tx_power) */
    /* The device's plan for EIRP and dwell time (GsDown.frequency_plan_id; same band as the
     * gateway's); NULL: the gateway's. Sub-bands and duty cycle are always the gateway's. */
    const lorawan_freqplan_t *plan;
    bool schedule_late; /* the gateway's schedule_downlink_late */
    uint64_t tag;       /* the caller's, returned when the transmission is preempted */
} gs_sched_request_t;

typedef struct gs_sched_result {
    int reason;       /* GS_SCHED_OK, or the refusal */
    int rx1_reason;   /* CLASS_A: RX1's outcome (GS_SCHED_OK when chosen,
                         GS_SCHED_NOT_TRIED when absent); otherwise NOT_TRIED */
    int rx2_reason;   /* RX2's outcome (NOT_TRIED when RX1 was chosen or RX2 absent) */
    uint8_t window;   /* 1 or 2 for class A; 0 for IMMEDIATE / ABSOLUTE */
    uint32_t id;      /* nonzero on success */
    int64_t start_us; /* concentrator time; (uint32_t)start_us is txpk.tmst */
    uint32_t airtime_us;
    uint32_t freq_hz;    /* of the window chosen */
    gs_sched_dr_t dr;    /* of the window chosen */
    uint8_t dr_index;    /* the band's downlink data rate index of dr (Basics Station) */
    int32_t eirp_cdbm;   /* EIRP to use (the caller subtracts the antenna gain) */
    int64_t handover_us; /* when to hand it to the gateway (now unless schedule late) */
    size_t n_preempted;
    uint64_t preempted[GS_SCHED_MAX_PREEMPT]; /* tags of transmissions removed for this one */
} gs_sched_result_t;

/* Sub-band figures for the connection stats (TTS GatewayConnectionStats.SubBand). */
typedef struct gs_sched_sub_band_stats {
    uint32_t min_freq_hz;
    uint32_t max_freq_hz;
    float downlink_utilization_limit; /* the sub-band's duty cycle, 0..1 (1 when not enforced) */
    float downlink_utilization;       /* airtime in [now - window, now] / window, as TTS */
} gs_sched_sub_band_stats_t;

/* Internal state; read only through the functions below. */
typedef struct gs_sched_tx {
    uint32_t id; /* 0: free slot */
    int64_t start_us;
    uint32_t airtime_us;
    uint8_t sub_band;
    uint8_t priority;
    bool handed_over;
    bool acked;
    uint64_t tag;
} gs_sched_tx_t;

typedef struct gs_sched_sub_band {
    lorawan_sub_band_t sb;
    int64_t newest_bucket; /* bucket index (end / width) of the newest fold */
    uint32_t bucket_us[GS_SCHED_DC_BUCKETS];
} gs_sched_sub_band_t;

typedef struct gs_sched {
    gs_sched_config_t cfg;
    const lorawan_band_t *band;
    lorawan_rp_rev_t rev;    /* the newest revision defining the band (TTS: band.GetLatest) */
    int64_t bucket_width_us; /* dc_window_us / GS_SCHED_DC_BUCKETS, rounded up */
    size_t n_sub_bands;
    gs_sched_sub_band_t sub_bands[GS_SCHED_MAX_SUB_BANDS];
    gs_sched_tx_t tx[GS_SCHED_MAX_TX]; /* unordered; id 0 = free */
    uint32_t next_id;
} gs_sched_t;

/* Initialises *s for a gateway. The config is copied; cfg->plan (a const table) is kept.
 * Returns GS_SCHED_OK, or GS_SCHED_INVALID (no plan, unknown band, too many sub-bands). */
int gs_sched_init(gs_sched_t *s, const gs_sched_config_t *cfg);

/* The 64-bit time nearest to now_us whose low 32 bits are ts (within -2^31..2^31-1 µs):
 * the uplink counter value of a GsDown, a TX_ACK, an rxpk tmst. */
int64_t gs_sched_extend(int64_t now_us, uint32_t ts);

/* Schedules req at the first window it can make. rtt_us: the gateway's measured round-trip
 * time (TTS uses its 90th percentile), < 0 when unknown. Fills *out (always) and returns
 * out->reason. On success the transmission is in the timeline under out->id. */
int gs_sched_schedule(gs_sched_t *s, const gs_sched_request_t *req, int64_t now_us, int64_t rtt_us,
                      gs_sched_result_t *out);

/* The transmission was handed to the gateway (schedule late): from now on it is never
 * preempted. Returns GS_SCHED_OK, or GS_SCHED_INVALID for an unknown id. */
int gs_sched_handover(gs_sched_t *s, uint32_t id);

/* The gateway's TX_ACK / dntxed: transmitted keeps it counted (done); not transmitted
 * (Semtech TOO_LATE, TOO_EARLY, COLLISION_PACKET, COLLISION_BEACON, TX_FREQ, GPS_UNLOCKED)
 * removes it, its airtime not counted. Semtech's TX_POWER is a warning (sent at the closest
 * lower power): transmitted. Returns GS_SCHED_OK,
 * or GS_SCHED_INVALID for an unknown id (already released or folded: nothing to do). */
int gs_sched_txack(gs_sched_t *s, uint32_t id, bool transmitted);

/* Removes a transmission that was not sent (the caller failed to send it, or dropped it):
 * its slot and airtime are freed. Returns GS_SCHED_OK or GS_SCHED_INVALID. */
int gs_sched_release(gs_sched_t *s, uint32_t id);

/* The sub-bands of the gateway's plan with their utilisation over [now - window, now].
 * Fills up to cap entries; returns the number of sub-bands. */
size_t gs_sched_sub_band_stats(const gs_sched_t *s, int64_t now_us, gs_sched_sub_band_stats_t *out,
                               size_t cap);

/* Airtime in µs of a PHYPayload of phy_len bytes at dr on the downlink (LoRa: 8 preamble
 * symbols, explicit header, no CRC, LDRO by the 16 ms rule; FSK: LoRaWAN framing). 0 for
 * invalid parameters. */
uint32_t gs_sched_airtime_us(const gs_sched_dr_t *dr, size_t phy_len);

#endif
