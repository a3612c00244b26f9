/* components/ns: the MAC layer of the Network Server (pure: no I/O, clock or allocation).
 *
 * The device worker owns one ns_mac_state_t per device (fixed size, no pointers: it may be
 * copied and persisted as bytes within one NS_MAC_STATE_VERSION). Field names follow The
 * Things Stack's MACState / MACParameters / MACSettings (api/ttn/lorawan/v3/end_device.proto)
 * so rendering them as TTS JSON is a 1:1 mapping; units are in the comments (frequencies in
 * Hz, delays in seconds).
 *
 * Life cycle, as the device worker calls it:
 *   1. ns_mac_state_init(): when a session starts. ABP: current parameters are what
 *      mac_settings say the device uses (rx1_delay, rx2_*, factory presets, else band
 *      defaults). OTAA: call ns_mac_join_accept_params() next to get the DLSettings, RxDelay
 *      and CFList to send; it applies them to current_parameters (the device applies them
 *      when it receives the join-accept; the session only becomes active when the device
 *      uses it, and a rejoin starts over from init).
 *   2. ns_mac_handle_uplink(): for every deduplicated data uplink of the session, with the
 *      plaintext MAC commands (FOpts, or the FRMPayload of FPort 0) and the merged rx
 *      metadata summary. It records the uplink for ADR, answers the device's requests
 *      (queued_responses), checks answers against pending_requests (current parameters
 *      change ONLY when the device accepted), forgets unanswered requests (they are built
 *      again from desired vs current), and runs ADR. res->downlink_needed says the device
 *      must get a downlink now (answers queued, ADRAckReq, confirmed uplink is the caller's).
 *      A retransmission (same FCnt as the last uplink: NbTrans, confirmed retry) only adds
 *      its SNR to the ADR history: its commands were handled with the first copy.
 *   3. ns_mac_downlink_build(): when a downlink is scheduled, fills a buffer with the queued
 *      answers and then requests (TTS order) within a byte budget, and records the requests
 *      in pending_requests. Use budget 15 for FOpts (with application payload), or the DR's
 *      max FRMPayload for an FPort 0 frame. res->more says something did not fit (FPending).
 *      The caller encrypts FOpts (1.1) / FRMPayload as the spec wants.
 *
 * Events: each call lists what happened (ns.mac.<command>.request / answer.accept /
 * answer.reject ... in TTS's names) in its result for the caller to publish. */
#ifndef NS_MAC_PRIVATE_H
#define NS_MAC_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lorawan/lorawan.h"

/* Bump when ns_mac_state_t's layout changes (persisted bytes of another version are
 * refused by the caller, which then renders/reinitialises). */
#define NS_MAC_STATE_VERSION 2u

/* Sizes. Dynamic-channel bands keep at most 16 channels; fixed-plan bands (US915, AU915,
 * CN470) take their channel frequencies from the band and keep only the enabled set. */
#define NS_MAC_MAX_DEFINED_CHANNELS 16u
/* pending_requests / queued_responses are kept as their wire encoding (a FOpts-like byte
 * string, decoded on demand: ns_mac_pending_requests): the device's answers must fit its
 * next FOpts (15 bytes), which bounds the requests of one downlink to about 40 bytes; the
 * answers the NS owes are one per command kind (LinkCheck, DeviceTime, Reset, Rekey,
 * DeviceMode, PingSlotInfo: 16 bytes). */
#define NS_MAC_PENDING_BYTES       48u
#define NS_MAC_QUEUED_BYTES        24u
#define NS_MAC_MAX_CMDS            48u /* most commands those bytes can hold */
#define NS_MAC_RECENT_UPLINKS      20u /* TTS's OptimalADRUplinkCount */
#define NS_MAC_MAX_EVENTS          24u
#define NS_MAC_MAX_FACTORY_PRESETS 16u

/* LoRaWAN versions (TTS MACVersion: "MAC_V1_0", "MAC_V1_0_1", ... "MAC_V1_1"). */
typedef enum ns_mac_version {
    NS_MAC_V1_0 = 0,
    NS_MAC_V1_0_1,
    NS_MAC_V1_0_2,
    NS_MAC_V1_0_3,
    NS_MAC_V1_0_4,
    NS_MAC_V1_1,
} ns_mac_version_t;

/* "MAC_V1_0_3" → NS_MAC_V1_0_3 (also accepts "1.0.3"). Returns 0 or LORAWAN_E_PARAM. */
int ns_mac_version_parse(const char *s, ns_mac_version_t *out);
/* "MAC_V1_0_3"; "?" when out of range. */
const char *ns_mac_version_name(ns_mac_version_t v);

/* Device classes (TTS Class: CLASS_A, CLASS_B, CLASS_C). */
typedef enum ns_mac_class {
    NS_MAC_CLASS_A = 0,
    NS_MAC_CLASS_B = 1,
    NS_MAC_CLASS_C = 2,
} ns_mac_class_t;

/* ---- MACSettings (the device's, already merged with the NS-wide defaults) ---------------- */

typedef enum ns_adr_mode {
    NS_ADR_MODE_DYNAMIC = 0, /* TTS default: the algorithm runs */
    NS_ADR_MODE_STATIC,      /* the NS sets adr.static.{data_rate_index,tx_power_index,nb_trans} */
    NS_ADR_MODE_DISABLED,    /* the NS leaves data rate, power and NbTrans alone */
} ns_adr_mode_t;

/* TTS ADRSettings. Optional values have a has_ flag (TTS wrapper types). */
typedef struct ns_adr_settings {
    ns_adr_mode_t mode;
    struct {
        uint8_t data_rate_index;
        uint8_t tx_power_index;
        uint8_t nb_trans;
    } static_mode; /* "static" */
    struct {
        bool has_margin;
        float margin; /* dB; default NS_ADR_DEFAULT_MARGIN_DB */
        bool has_min_data_rate_index, has_max_data_rate_index;
        uint8_t min_data_rate_index, max_data_rate_index;
        bool has_min_tx_power_index, has_max_tx_power_index;
        uint8_t min_tx_power_index, max_tx_power_index;
        bool has_min_nb_trans, has_max_nb_trans;
        uint8_t min_nb_trans, max_nb_trans;
    } dynamic;
} ns_adr_settings_t;

/* TTS MACSettings, the MAC part. Zero-initialised means "all defaults, ADR dynamic". */
typedef struct ns_mac_settings {
    ns_adr_settings_t adr;
    /* What the device uses now (ABP; TTS rx1_delay, rx1_data_rate_offset, ...). */
    bool has_rx1_delay, has_rx1_data_rate_offset, has_rx2_data_rate_index, has_rx2_frequency;
    uint8_t rx1_delay; /* s, 1..15 */
    uint8_t rx1_data_rate_offset;
    uint8_t rx2_data_rate_index;
    uint32_t rx2_frequency; /* Hz */
    bool has_max_duty_cycle;
    uint8_t max_duty_cycle; /* TTS AggregatedDutyCycle: 1/2^n, n 0..15 */
    uint8_t n_factory_preset_frequencies;
    uint32_t factory_preset_frequencies[NS_MAC_MAX_FACTORY_PRESETS]; /* Hz */
    /* Dwell times the NS wants the device to use (bands with TxParamSetupReq; default on). */
    bool has_uplink_dwell_time, has_downlink_dwell_time;
    bool uplink_dwell_time, downlink_dwell_time;
    /* What the NS should make the device use (TTS desired_*). Unset: the frequency plan's
     * values, else the current ones (RX1 delay: NS_MAC_DEFAULT_DESIRED_RX1_DELAY_S). */
    bool has_desired_rx1_delay, has_desired_rx1_data_rate_offset;
    bool has_desired_rx2_data_rate_index, has_desired_rx2_frequency;
    uint8_t desired_rx1_delay;
    uint8_t desired_rx1_data_rate_offset;
    uint8_t desired_rx2_data_rate_index;
    uint32_t desired_rx2_frequency;
    bool has_desired_max_duty_cycle;
    uint8_t desired_max_duty_cycle;
    bool has_desired_adr_ack_limit_exponent, has_desired_adr_ack_delay_exponent;
    uint8_t desired_adr_ack_limit_exponent; /* ADR_ACK_LIMIT = 2^n, n 0..15 */
    uint8_t desired_adr_ack_delay_exponent; /* ADR_ACK_DELAY = 2^n */
    bool has_desired_max_eirp;
    float desired_max_eirp; /* dBm */
    bool has_desired_ping_slot_frequency, has_desired_ping_slot_data_rate_index;
    uint32_t desired_ping_slot_frequency;
    uint8_t desired_ping_slot_data_rate_index;
    bool has_desired_beacon_frequency;
    uint32_t desired_beacon_frequency;
    /* DevStatusReq every status_count_periodicity uplinks or status_time_periodicity_s
     * seconds, whichever first (TTS defaults 200 and 24 h); 0 with has_: never by that rule. */
    bool has_status_count_periodicity, has_status_time_periodicity;
    uint32_t status_count_periodicity;
    uint32_t status_time_periodicity_s;
    /* 1.1 rejoin: RejoinParamSetupReq max_time_n / max_count_n the NS asks for. */
    bool has_desired_rejoin_params;
    uint8_t desired_rejoin_time_periodicity;  /* TTS RejoinTimeExponent 0..15 */
    uint8_t desired_rejoin_count_periodicity; /* TTS RejoinCountExponent 0..15 */
} ns_mac_settings_t;

/* TTS defaults. */
#define NS_ADR_DEFAULT_MARGIN_DB     15.0f
#define NS_MAC_DEFAULT_STATUS_COUNT  200u
#define NS_MAC_DEFAULT_STATUS_TIME_S 86400u
/* LoRaWAN 1.0.4 §5 / RP002: RECEIVE_DELAY1 1 s; TTS desired default 5 s (DefaultRX1Delay). */
#define NS_MAC_DEFAULT_DESIRED_RX1_DELAY_S 5u
/* LoRaWAN 1.1 §4.3.1.1: ADR_ACK_LIMIT 64 (2^6), ADR_ACK_DELAY 32 (2^5). */
#define NS_MAC_DEFAULT_ADR_ACK_LIMIT_EXP 6u
#define NS_MAC_DEFAULT_ADR_ACK_DELAY_EXP 5u

/* ---- MACParameters -------------------------------------------------------------------- */

/* TTS MACParameters.Channel. */
typedef struct ns_mac_channel {
    uint32_t uplink_frequency;   /* Hz */
    uint32_t downlink_frequency; /* Hz (fixed-plan bands: the RX1 rule's channel) */
    uint8_t min_data_rate_index;
    uint8_t max_data_rate_index;
    bool enable_uplink;
} ns_mac_channel_t;

/* A defined channel of a dynamic-channel band; uplink_frequency 0: not defined. */
typedef struct ns_mac_dyn_channel {
    uint32_t uplink_frequency;   /* Hz */
    uint32_t downlink_frequency; /* Hz, DlChannelReq; = uplink_frequency by default */
    uint8_t min_data_rate_index;
    uint8_t max_data_rate_index;
} ns_mac_dyn_channel_t;

typedef struct ns_mac_params {
    float max_eirp; /* dBm */
    uint8_t adr_data_rate_index;
    uint8_t adr_tx_power_index;
    uint8_t adr_nb_trans; /* 1..15 */
    uint8_t adr_ack_limit_exponent;
    uint8_t adr_ack_delay_exponent;
    uint8_t rx1_delay; /* s, 1..15 */
    uint8_t rx1_data_rate_offset;
    uint8_t rx2_data_rate_index;
    uint32_t rx2_frequency; /* Hz */
    uint8_t max_duty_cycle; /* 1/2^n */
    uint8_t rejoin_time_periodicity;
    uint8_t rejoin_count_periodicity;
    uint32_t ping_slot_frequency; /* Hz, 0: band default hopping */
    uint8_t ping_slot_data_rate_index;
    uint32_t beacon_frequency; /* Hz, 0: band default */
    bool uplink_dwell_time;
    bool downlink_dwell_time;
    /* Channels (TTS `channels`; render them with ns_mac_channel_get). */
    lorawan_chset_t enabled;                                   /* enable_uplink of channel i */
    ns_mac_dyn_channel_t defined[NS_MAC_MAX_DEFINED_CHANNELS]; /* dynamic bands only */
} ns_mac_params_t;

/* ---- MACState ------------------------------------------------------------------------- */

/* One recent uplink as ADR needs it (TTS recent_uplinks, reduced). */
typedef struct ns_mac_recent_uplink {
    uint32_t f_cnt; /* full FCnt */
    float max_snr;  /* dB, best over the gateway copies (never NaN: recorded as -100) */
    uint8_t data_rate_index;
    uint8_t gateway_count;
} ns_mac_recent_uplink_t;

typedef struct ns_mac_state {
    uint8_t band_id;         /* lorawan_band_id_t */
    uint8_t phy_rev;         /* lorawan_rp_rev_t: lorawan_phy_version */
    uint8_t lorawan_version; /* ns_mac_version_t */
    uint8_t device_class;    /* ns_mac_class_t */
    ns_mac_params_t current_parameters;
    /* Its channels (`enabled`, `defined`) are those of a new session with the device's
     * settings (ns_mac_state_init) and are never changed per device: the stored form
     * (ns_mac_stored_t) leaves them out and the NS keeps them once per settings. */
    ns_mac_params_t desired_parameters;
    /* DevStatus */
    uint32_t last_dev_status_f_cnt_up;
    bool dev_status_received;
    int64_t last_dev_status_received_at_s; /* Unix s (TTS EndDevice.last_dev_status_received_at) */
    uint8_t battery;                       /* DevStatusAns raw: 0 external, 1..254, 255 unknown */
    int8_t downlink_margin;                /* dB (TTS EndDevice.downlink_margin) */
    /* Requests sent and not answered yet / answers to send (TTS pending_requests,
     * queued_responses), as downlink MAC-command bytes; render with
     * ns_mac_pending_requests / ns_mac_queued_responses. */
    uint8_t pending_requests_len;
    uint8_t queued_responses_len;
    uint8_t pending_requests[NS_MAC_PENDING_BYTES];
    uint8_t queued_responses[NS_MAC_QUEUED_BYTES];
    /* ADR */
    uint8_t n_recent_uplinks; /* ring: oldest first after ns_mac_recent_uplink_at */
    uint8_t recent_uplinks_head;
    ns_mac_recent_uplink_t recent_uplinks[NS_MAC_RECENT_UPLINKS];
    uint32_t last_adr_change_f_cnt_up;
    uint16_t rejected_adr_data_rate_indexes; /* bit i: the device rejected data rate i */
    uint16_t rejected_adr_tx_power_indexes;  /* bit i: the device rejected TX power i */
    uint32_t uplinks_since_session;          /* data uplinks handled in this session */
    uint32_t last_f_cnt_up;
    bool device_adr; /* FCtrl.ADR of the last uplink: the device lets the network set ADR */
    /* The CIDs of the MAC commands in the last uplink (TTS recent_mac_command_identifiers):
     * bit c set for CID c. The "sticky" answers (RXParamSetupAns, RXTimingSetupAns,
     * TxParamSetupAns, DlChannelAns) repeat in every uplink until a downlink reaches the
     * device: while one was in the last uplink, a downlink is needed and that request is
     * not sent again (its answer could not be told from the repeats; TTS STICKY.md). */
    uint64_t recent_mac_command_identifiers;
    /* 1.1: RekeyInd seen (the session is confirmed) */
    bool rekey_confirmed;
    uint8_t pending_force_rejoin; /* 1: ForceRejoinReq wanted (ns_mac_force_rejoin) */
    uint8_t force_rejoin_type, force_rejoin_data_rate, force_rejoin_period,
        force_rejoin_max_retries;
    bool ping_slot_info_received;
    uint8_t ping_slot_periodicity; /* PingSlotInfoReq periodicity */
} ns_mac_state_t;

/* ---- Stored form ------------------------------------------------------------------------ */

/* What a device keeps of its MAC state between uplinks, and at rest (NS_MAC_STORED_VERSION).
 * First a fixed layout: the state but for desired_parameters' channels, with the recent
 * uplinks in 8 bytes each (SNR in hundredths of a dB: the gateways' decimal SNR values come
 * back as the same floats), 288 bytes fewer than the state. Its runs: everything before
 * desired_parameters, the desired scalars (the fields before `enabled`), everything from
 * after desired_parameters to recent_uplinks, the packed recent uplinks, the rest. Then
 * packed: its runs of zero bytes folded (token t < 0x80: t + 1 bytes follow as they are;
 * t >= 0x80: t - 0x7f zero bytes), as most of a state is zeros (channels not defined, no
 * pending requests, a new session's empty history). */
#define NS_MAC_FIXED_HEAD    offsetof(ns_mac_state_t, desired_parameters)
#define NS_MAC_FIXED_DESIRED offsetof(ns_mac_params_t, enabled)
#define NS_MAC_FIXED_MID                                                                           \
    (offsetof(ns_mac_state_t, recent_uplinks) - NS_MAC_FIXED_HEAD - sizeof(ns_mac_params_t))
#define NS_MAC_FIXED_RECENT (NS_MAC_RECENT_UPLINKS * 8u)
#define NS_MAC_FIXED_TAIL                                                                          \
    (sizeof(ns_mac_state_t) - offsetof(ns_mac_state_t, recent_uplinks) -                           \
     NS_MAC_RECENT_UPLINKS * sizeof(ns_mac_recent_uplink_t))
#define NS_MAC_FIXED_LEN                                                                           \
    (NS_MAC_FIXED_HEAD + NS_MAC_FIXED_DESIRED + NS_MAC_FIXED_MID + NS_MAC_FIXED_RECENT +           \
     NS_MAC_FIXED_TAIL)
/* The longest packed state (nothing to fold: a token per 128 bytes). */
#define NS_MAC_PACKED_MAX (NS_MAC_FIXED_LEN + NS_MAC_FIXED_LEN / 128u + 1u)
/* The layout version of stored MAC states at rest (a whole ns_mac_state_t of
 * NS_MAC_STATE_VERSION is still read). */
#define NS_MAC_STORED_VERSION 3u

/* Packs *st into out; returns the length (1 .. NS_MAC_PACKED_MAX). */
size_t ns_mac_state_pack(const ns_mac_state_t *st, uint8_t out[NS_MAC_PACKED_MAX]);
/* *st from its packed form; desired_channels: the desired parameters of a new session with
 * the device's settings, whose channels are taken. Returns 0, or LORAWAN_E_PARAM when `in`
 * is not a packed state (truncated, too long, a run beyond the layout): *st is then
 * unspecified. */
int ns_mac_state_unpack(const uint8_t *in, size_t len, const ns_mac_params_t *desired_channels,
                        ns_mac_state_t *st);

/* ---- Context of every call ------------------------------------------------------------ */

typedef struct ns_mac_ctx {
    const lorawan_band_t *band;   /* = lorawan_band_get(state->band_id) */
    const lorawan_freqplan_t *fp; /* the device's frequency plan (channels, RX2, dwell) */
    const ns_mac_settings_t *settings;
} ns_mac_ctx_t;

/* One thing that happened, for the caller to publish as an event named `name`
 * ("ns.mac.link_adr.answer.accept", "ns.mac.dev_status.request", ...; static strings). */
typedef struct ns_mac_event {
    const char *name;
    lorawan_mac_cmd_t cmd; /* the command concerned (answer received, request sent) */
} ns_mac_event_t;

/* ---- Initialisation ------------------------------------------------------------------- */

/* Initialises *st for a new session of a device in `band` (lorawan_phy_version `rev`),
 * `version`, frequency plan ctx->fp and settings ctx->settings. current_parameters: the
 * band's defaults (RX1 delay 1 s, RX2 of the band, the band's default channels, data rate 0,
 * TX power 0, NbTrans 1, max EIRP of the band, boot dwell times), overridden by the ABP
 * settings (rx1_delay, rx2_*, factory_preset_frequencies, max_duty_cycle).
 * desired_parameters: the frequency plan's channels, RX2 and max EIRP (when below the
 * band's), dwell times on where TxParamSetupReq exists, the desired_* settings (RX1 delay
 * 5 s by default), ADR static values when the mode is static. Returns 0, or LORAWAN_E_PARAM when
 * the plan is not of the band or a setting is out of range. */
int ns_mac_state_init(ns_mac_state_t *st, const ns_mac_ctx_t *ctx, lorawan_rp_rev_t rev,
                      ns_mac_version_t version, ns_mac_class_t device_class);

/* What the join-accept carries (LoRaWAN 1.1 §6.2.3 DLSettings, RxDelay, CFList). */
typedef struct ns_mac_join_params {
    uint8_t dl_settings; /* bit 7 OptNeg (1.1), RX1DROffset bits 6..4, RX2DataRate bits 3..0 */
    uint8_t rx_delay;    /* 0..15 (0 means 1 s) */
    bool has_cf_list;
    uint8_t cf_list[LORAWAN_CFLIST_LEN];
} ns_mac_join_params_t;

/* After ns_mac_state_init for an OTAA session: fills *out from the desired parameters
 * (RX1 DR offset, RX2 DR, RX1 delay, the plan's extra channels as a CFList of frequencies
 * or of channel masks) and sets current_parameters to what the device will use after the
 * join-accept. Returns 0 or LORAWAN_E_PARAM. */
int ns_mac_join_accept_params(ns_mac_state_t *st, const ns_mac_ctx_t *ctx,
                              ns_mac_join_params_t *out);

/* Channels as TTS renders them: the number of channels of `p` and channel i. For
 * fixed-plan bands every band channel is listed; for dynamic bands the defined ones
 * (index = position). ns_mac_channel_set writes channel i (API PUT of mac_state): for
 * fixed-plan bands only enable_uplink may differ from the band's channel. Returns 0,
 * LORAWAN_E_RANGE (i beyond the band's channels), LORAWAN_E_PARAM. */
unsigned ns_mac_channel_count(const ns_mac_state_t *st, const ns_mac_params_t *p);
int ns_mac_channel_get(const ns_mac_state_t *st, const ns_mac_params_t *p, unsigned i,
                       ns_mac_channel_t *out);
int ns_mac_channel_set(const ns_mac_state_t *st, ns_mac_params_t *p, unsigned i,
                       const ns_mac_channel_t *ch);

/* ---- Uplinks -------------------------------------------------------------------------- */

typedef struct ns_mac_uplink {
    uint32_t f_cnt;          /* full 32-bit FCnt */
    uint8_t data_rate_index; /* of the uplink (from its settings) */
    uint32_t frequency;      /* Hz */
    bool confirmed;
    bool adr;              /* FCtrl.ADR */
    bool adr_ack_req;      /* FCtrl.ADRACKReq */
    float max_snr;         /* dB, best of the gateway copies */
    uint8_t gateway_count; /* gateways that received it (LinkCheckAns GwCnt) */
    int64_t received_at_s; /* Unix seconds (DevStatus time rule) */
    /* GPS time of the end of the uplink's transmission (DeviceTimeAns), in 1/256 s since the
     * GPS epoch; has_gps_time false: DeviceTimeReq is not answered (counted as an event). */
    bool has_gps_time;
    uint64_t gps_time_256ths;
    const uint8_t *mac; /* plaintext MAC commands: FOpts or FPort 0 FRMPayload; may be NULL */
    size_t mac_len;
} ns_mac_uplink_t;

typedef struct ns_mac_up_result {
    bool downlink_needed; /* answers queued or ADRAckReq: send a downlink in this RX window */
    bool reset;           /* ResetInd: the caller resets the session's FCnts (1.1 ABP) */
    bool rekey;           /* RekeyInd: the session is confirmed (1.1 OTAA) */
    bool device_mode_changed;
    int decode_error; /* 0, or the LORAWAN_E_* of the MAC bytes (commands before it were handled) */
    size_t decode_offset; /* offset of the undecodable command */
    uint8_t n_events;
    ns_mac_event_t events[NS_MAC_MAX_EVENTS];
} ns_mac_up_result_t;

/* Handles one data uplink (see the life cycle above). Returns 0 (bad MAC bytes are not a
 * failure: res->decode_error names them), LORAWAN_E_PARAM for NULL arguments. */
int ns_mac_handle_uplink(ns_mac_state_t *st, const ns_mac_ctx_t *ctx, const ns_mac_uplink_t *up,
                         ns_mac_up_result_t *res);

/* ---- Downlinks ------------------------------------------------------------------------ */

typedef struct ns_mac_down_result {
    bool more; /* answers or requests did not fit the budget: set FPending */
    uint8_t n_cmds;
    uint8_t n_events;
    ns_mac_event_t events[NS_MAC_MAX_EVENTS];
} ns_mac_down_result_t;

/* Builds the MAC commands of the next downlink into out[0..cap) within `budget` bytes:
 * first every queued answer (dropped from queued_responses once written), then the requests
 * the device needs, in TTS's order (DutyCycle, TxParamSetup, RXParamSetup, NewChannel,
 * LinkADR, RXTimingSetup, BeaconFreq, PingSlotChannel, DlChannel, ADRParamSetup,
 * RejoinParamSetup, ForceRejoin, DevStatus), each written completely or not at all (a
 * LinkADRReq block is all or nothing; NewChannelReq / DlChannelReq one by one), while the
 * device's answers fit its next FOpts (15 bytes), and records them in pending_requests. A
 * kind already pending is not sent again before the device's next uplink. `now_s` (Unix
 * seconds) drives the DevStatus time rule. Writes *out_len (0: nothing to send) and
 * res->n_cmds (commands written). Returns 0, LORAWAN_E_PARAM. */
int ns_mac_downlink_build(ns_mac_state_t *st, const ns_mac_ctx_t *ctx, int64_t now_s, size_t budget,
                          uint8_t *out, size_t cap, size_t *out_len, ns_mac_down_result_t *res);

/* The downlink ns_mac_downlink_build last filled was not transmitted (the Gateway Server
 * refused it, or the gateway reported a failure): its requests never reached the device, so
 * they are forgotten without an ns.mac.command.unanswered event and built again, from
 * desired vs current, for the next downlink. */
void ns_mac_downlink_lost(ns_mac_state_t *st);

/* Whether a downlink would carry MAC requests or answers now (class C network-initiated
 * downlinks, FPort 0 decisions). */
bool ns_mac_downlink_wanted(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx, int64_t now_s);

/* Asks for a ForceRejoinReq on the next downlink (1.1). Returns 0 or LORAWAN_E_PARAM. */
int ns_mac_force_rejoin(ns_mac_state_t *st, uint8_t rejoin_type, uint8_t data_rate, uint8_t period,
                        uint8_t max_retries);

/* RX1 of a class A downlink for an uplink on `uplink_frequency` (Hz) at `uplink_dr`, as the
 * device's current parameters have it: the frequency (dynamic-channel bands: the channel's
 * downlink_frequency, which DlChannelReq may have changed, else the uplink frequency;
 * fixed-plan bands: the band's RX1 channel) and the data rate (RX1DROffset, downlink dwell
 * time). Returns 0, LORAWAN_E_DR / LORAWAN_E_RANGE (lorawan_band_rx1_dr), LORAWAN_E_PARAM
 * (a frequency no channel of a fixed-plan band has). */
int ns_mac_rx1(const ns_mac_state_t *st, const ns_mac_ctx_t *ctx, uint32_t uplink_frequency,
               uint8_t uplink_dr, uint32_t *frequency, uint8_t *data_rate_index);

/* The pending requests / queued responses decoded into out[0..cap), in order. Returns their
 * number (at most cap). */
size_t ns_mac_pending_requests(const ns_mac_state_t *st, lorawan_mac_cmd_t *out, size_t cap);
size_t ns_mac_queued_responses(const ns_mac_state_t *st, lorawan_mac_cmd_t *out, size_t cap);

/* The data rates p's enabled uplink channels allow: bit i set for data rate i. */
uint16_t ns_mac_enabled_data_rates(const ns_mac_state_t *st, const ns_mac_params_t *p);

/* Recent uplink i (0 = oldest) of the ADR history, or NULL. */
const ns_mac_recent_uplink_t *ns_mac_recent_uplink_at(const ns_mac_state_t *st, unsigned i);

#endif
