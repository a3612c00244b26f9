/* The LoRa Basics Station LNS protocol (Semtech "LNS protocol", station 2.0.x): the JSON
 * messages of the discovery socket (/router-info) and of the traffic socket (/traffic/{eui}).
 * Facts: ../shared/reference/basic-station.md (what station 2.0.6 was seen to do, message by
 * message) and the station's source (lorabasics/basicstation src/s2e.c, src/rt.c, src/uj.c,
 * src/sx130xconf.c); field names and shapes as The Things Stack sends and reads them
 * (pkg/gatewayserver/io/semtechws/lbslns, pkg/pfconfig/lbslns).
 *
 * Pure (STYLE.md "Protocol code is pure"): no I/O, clock, logging, allocation or globals.
 * JSON is tokenised by jsmn (strict) on the stack; encoders write into the caller's buffer
 * and return GS_BS_E_BUF when it is too small (never a truncated message).
 *
 * Station → LNS: router-info request, version, jreq, rejoin, updf, propdf, dntxed, timesync
 * (and a few the GS does not act on: dndf, jacc, getxtime, rmtsh, event → GS_BS_MSG_IGNORED).
 * Uplinks arrive split into fields; gs_bs_decode rebuilds the PHYPayload byte for byte
 * (MHDR | DevAddr LE | FCtrl | FCnt LE | FOpts | FPort | FRMPayload | MIC LE for data frames,
 * MHDR | JoinEUI LE | DevEUI LE | DevNonce LE | MIC LE for join-requests) so that the NS can
 * check the MIC. DevAddr and MIC are the signed 32-bit integers of the little-endian wire
 * bytes (the unsigned reading is accepted too); EUIs are accepted in dash form and in every
 * form the station itself reads (rt_readEui: hex with - or : separators, id6, plain hex).
 *
 * LNS → station: router-info answer (or its error form), router_config built from a
 * frequency plan, dnmsg (validated first: the station drops a bad one silently, so a dnmsg
 * that would be dropped is never built), timesync answer. */
#ifndef GS_BS_CODEC_PRIVATE_H
#define GS_BS_CODEC_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lorawan/lorawan.h"

/* Error codes; gs_bs_strerror() names them. */
enum {
    GS_BS_OK = 0,
    GS_BS_E_JSON = -1,       /* not JSON, or not an object */
    GS_BS_E_JSON_LARGE = -2, /* longer than GS_BS_JSON_MAX or more tokens than we keep */
    GS_BS_E_MSGTYPE = -3,    /* no msgtype, or one the station does not send */
    GS_BS_E_FIELD = -4,      /* a field has the wrong type or is out of range: see ->field */
    GS_BS_E_MISSING = -5,    /* a required field is absent: see ->field */
    GS_BS_E_BUF = -6,        /* encoder: output buffer too small */
    GS_BS_E_ARG = -7,        /* encoder: the message would be invalid (see ->field / *field) */
    GS_BS_E_PLAN = -8,       /* router_config: the plan does not fit one SX1301 */
};

#define GS_BS_JSON_MAX          8192 /* longest station message accepted */
#define GS_BS_TOKENS_MAX        256  /* jsmn tokens per message */
#define GS_BS_PHY_MAX           255
#define GS_BS_TEXT_MAX          63 /* version strings kept (longer ones are cut) */
#define GS_BS_FEATURES_MAX      127
#define GS_BS_DR_COUNT          16   /* router_config DRs entries (station DR_CNT) */
#define GS_BS_UPCHANNEL_DR_MAX  7    /* station: upchannel DRs must lie within 0..7 */
#define GS_BS_ROUTER_CONFIG_MAX 4096 /* a router_config always fits here */
#define GS_BS_DNMSG_MAX         1024 /* a dnmsg always fits here */

/* Seconds between the Unix and the GPS epochs (1980-01-06), and the GPS-UTC offset since
 * 2017-01-01 (IERS Bulletin C: no leap second announced since). Station gpstime values are
 * µs since the GPS epoch, leap seconds included (basic-station.md §7). */
#define GS_BS_GPS_EPOCH_UNIX_S 315964800LL
#define GS_BS_GPS_LEAP_S       18LL

typedef enum gs_bs_msgtype {
    GS_BS_MSG_VERSION = 1,
    GS_BS_MSG_JREQ,
    GS_BS_MSG_REJOIN, /* a 23-byte MHDR 0xC0 frame, fields as jreq */
    GS_BS_MSG_UPDF,
    GS_BS_MSG_PROPDF,
    GS_BS_MSG_DNTXED,
    GS_BS_MSG_TIMESYNC,
    GS_BS_MSG_IGNORED, /* dndf, jacc, getxtime, rmtsh, event: known, not acted on */
} gs_bs_msgtype_t;

typedef struct gs_bs_version {
    char station[GS_BS_TEXT_MAX + 1]; /* "" when null or absent; JSON escapes kept as sent */
    char firmware[GS_BS_TEXT_MAX + 1];
    char package[GS_BS_TEXT_MAX + 1];
    char model[GS_BS_TEXT_MAX + 1];
    char features[GS_BS_FEATURES_MAX + 1]; /* space-separated */
    int64_t protocol;                      /* 2 for station 2.x; 0 when absent */
    bool production;                       /* features holds the word "prod" */
} gs_bs_version_t;

/* upinfo of an uplink (basic-station.md §4). */
typedef struct gs_bs_upinfo {
    int64_t rctx;       /* antenna / txunit; echo in dnmsg */
    int64_t xtime;      /* echo in dnmsg; bits 0..47 concentrator µs, 48..55 session */
    int64_t gpstime_us; /* µs since the GPS epoch; 0 until timesync */
    double rxtime_s;    /* station UTC seconds; 0 when absent */
    double rssi;        /* dBm (integer from the station) */
    double snr;         /* dB, 0.25 dB steps */
    int64_t fts;        /* fine timestamp ns, -1 none */
} gs_bs_upinfo_t;

typedef struct gs_bs_uplink {
    uint8_t dr; /* index in router_config's DRs */
    uint32_t freq_hz;
    double ref_time_s; /* RefTime: MuxTime + time since; 0 when absent / never sent */
    gs_bs_upinfo_t info;
    uint8_t phy[GS_BS_PHY_MAX]; /* the rebuilt PHYPayload */
    size_t phy_len;
    /* Parsed fields, for keys and logs. */
    uint32_t dev_addr;          /* updf */
    uint16_t fcnt;              /* updf: 16-bit wire value */
    uint64_t join_eui, dev_eui; /* jreq / rejoin */
    uint16_t dev_nonce;         /* jreq / rejoin */
} gs_bs_uplink_t;

typedef struct gs_bs_dntxed {
    int64_t diid;
    int64_t seqno; /* echoes diid */
    bool has_dr;
    uint8_t dr;       /* the window actually used */
    uint32_t freq_hz; /* 0 when absent */
    uint64_t dev_eui;
    int64_t rctx;
    int64_t xtime;      /* TX time */
    double txtime_s;    /* station local monotonic s */
    int64_t gpstime_us; /* echo of the dnmsg's (class B), 0 otherwise */
} gs_bs_dntxed_t;

typedef struct gs_bs_timesync {
    double txtime; /* station local µs, echoed in the answer */
} gs_bs_timesync_t;

typedef struct gs_bs_msg {
    gs_bs_msgtype_t type;
    char msgtype[16];  /* the msgtype as sent (cut at 15), also for IGNORED / E_MSGTYPE */
    const char *field; /* E_FIELD / E_MISSING: the key at fault ("DevAddr", "upinfo.xtime") */
    union {
        gs_bs_version_t version;
        gs_bs_uplink_t up; /* JREQ, REJOIN, UPDF, PROPDF */
        gs_bs_dntxed_t dntxed;
        gs_bs_timesync_t timesync;
    } u;
} gs_bs_msg_t;

/* Decodes one traffic-socket message (a WebSocket text frame). Returns GS_BS_OK or a
 * GS_BS_E_* code; on error ->msgtype and ->field say what was wrong, *out is otherwise
 * unspecified. Unknown keys are skipped. Uplink checks: MHDR type and major 0, FOptsLen of
 * FCtrl equal to the FOpts length, FPort -1 only without FRMPayload, total length ≤ 255,
 * jreq/rejoin MHDR 0x00 / 0xC0, propdf a proprietary (0xE0) frame; upinfo.xtime required
 * and non-zero (a downlink needs it; TTS drops such uplinks too). */
int gs_bs_decode(const char *json, size_t len, gs_bs_msg_t *out);

/* Decodes the router-info request {"router": EUI}: the EUI as a string in id6 ("::a01",
 * "b827:ebff:fe12:3456", with an optional "router-" style prefix), dash, colon or plain hex
 * form, or as a JSON integer. Zero is refused (GS_BS_E_FIELD). */
int gs_bs_decode_router_info(const char *json, size_t len, uint64_t *eui);

/* Reads an EUI from text[0..len) in any form gs_bs_decode_router_info accepts (without
 * integers). Returns 0 or GS_BS_E_FIELD. */
int gs_bs_eui_parse(const char *text, size_t len, uint64_t *eui);

/* Writes the id6 form of eui as the station does (src/uj.c encId6: "::a01", "1::",
 * "8000::1", "aa:0:bb:0") with a NUL; out holds at least 20 bytes. Returns its length. */
size_t gs_bs_id6_format(uint64_t eui, char *out);

/* {"router":"<id6>","muxs":"muxs-::0","uri":"<uri>"}. uri must be ws:// or wss://, with an
 * explicit port and a path (the station refuses others: basic-station.md §1): else
 * GS_BS_E_ARG. */
int gs_bs_encode_router_info(uint64_t eui, const char *uri, char *buf, size_t cap, size_t *out_len);

/* {"router":"<id6>","error":"<message>"} (the station backs off and retries); eui 0 omits
 * "router". The message is JSON-escaped. */
int gs_bs_encode_router_info_error(uint64_t eui, const char *message, char *buf, size_t cap,
                                   size_t *out_len);

/* One entry of router_config's DRs: [sf, bw_khz, dnonly]; sf 0 is FSK, -1 undefined. */
typedef struct gs_bs_dr {
    int8_t sf;
    uint16_t bw_khz;
    bool dn_only;
    bool up;   /* usable for uplinks */
    bool down; /* usable for downlinks */
} gs_bs_dr_t;

/* The regional-parameters revision whose data rates router_config advertises. */
#define GS_BS_RP_REV LORAWAN_RP002_1_0_4

/* The DRs table of band (GS_BS_RP_REV): LoRa rates as [sf, bw], FSK as [0, 0], LR-FHSS and
 * RFU rates as undefined (the SX1301 has neither), downlink-only rates flagged. */
void gs_bs_drs(const lorawan_band_t *band, gs_bs_dr_t out[GS_BS_DR_COUNT]);

/* The region name station 2.0.6 knows for band (s2e.c handle_router_config): "EU868",
 * "US915", "AU915", "AS923-1", "KR920", "IL915" (AS923-4). AS923-2 and AS923-3 get
 * "AS923-1": the station knows no name for them and refuses every dnmsg under an unknown
 * region, and AS923-1's station rules (LBT, 10% duty cycle) are those of the AS923 groups;
 * frequencies come from freq_range. Other bands get their common name, which the station
 * ignores (uplinks work, downlinks do not). */
const char *gs_bs_region(const lorawan_band_t *band);

typedef struct gs_bs_router_config {
    const lorawan_freqplan_t *plan;
    bool production;   /* version.features holds "prod": nocca/nodc/nodwell are omitted */
    double mux_time_s; /* LNS Unix time, s */
    /* JoinEui filter: n_join_eui [lo, hi] ranges; NULL → null (no filter). */
    const uint64_t (*join_eui)[2];
    size_t n_join_eui;
    /* NetID filter; NULL → null (every NetID). */
    const uint32_t *net_id;
    size_t n_net_id;
} gs_bs_router_config_t;

/* router_config for one SX1301 ("sx1301/1") from the plan: msgtype, NetID, JoinEui,
 * region, hwspec, freq_range (the plan's sub-bands' span), DRs, upchannels (every uplink
 * channel [freq, min_dr, max_dr] with DRs cut to 0..7, the LoRa standard channel merged into
 * a 125 kHz channel of the same frequency, the FSK channel), sx1301_conf (an array of one
 * object: radio_0/radio_1 centres and chan_multiSF_0..7 / chan_Lora_std / chan_FSK IF
 * offsets that agree with upchannels), max_eirp (the plan's override, else its highest
 * sub-band limit), nocca/nodc/nodwell true for non-production stations (as TTS: the GS
 * enforces duty cycle and dwell time itself), MuxTime, bcning null.
 * GS_BS_E_PLAN when the plan's channels do not fit 2 radios and 8 + 1 + 1 modems;
 * GS_BS_E_ARG for a NULL plan or unknown band; GS_BS_E_BUF (GS_BS_ROUTER_CONFIG_MAX fits). */
int gs_bs_encode_router_config(const gs_bs_router_config_t *rc, char *buf, size_t cap,
                               size_t *out_len);

/* A downlink for the station. */
typedef struct gs_bs_dnmsg {
    uint64_t dev_eui; /* non-zero: the station sends dntxed only then */
    uint8_t dclass;   /* 0 class A (timed after an uplink), 2 class C (at once) */
    int64_t diid;     /* ≥ 0; dntxed echoes it */
    const uint8_t *pdu;
    size_t pdu_len;     /* 1..255 */
    uint8_t rx_delay_s; /* class A: 1..15 (TX at xtime + RxDelay s; RX2 1 s later) */
    bool has_rx1;       /* class A only */
    uint8_t rx1_dr;
    uint32_t rx1_freq_hz;
    bool has_rx2;
    uint8_t rx2_dr;
    uint32_t rx2_freq_hz;
    int64_t xtime; /* class A: the uplink's xtime (non-zero); class C: not sent */
    int64_t rctx;  /* the uplink's rctx */
    uint8_t priority;
    double mux_time_s;
} gs_bs_dnmsg_t;

/* What the station was configured with (router_config) and checks a dnmsg against. */
typedef struct gs_bs_limits {
    uint32_t min_freq_hz, max_freq_hz; /* freq_range */
    gs_bs_dr_t drs[GS_BS_DR_COUNT];
} gs_bs_limits_t;

/* The limits router_config of plan sets (freq_range and DRs). GS_BS_E_ARG for a bad plan. */
int gs_bs_limits(const lorawan_freqplan_t *plan, gs_bs_limits_t *out);

/* Checks m against everything the station would drop it for (basic-station.md §5):
 * DevEui non-zero, dC 0 or 2, diid ≥ 0, pdu 1..255 bytes; class A: xtime non-zero,
 * RxDelay 1..15, RX1 and/or RX2; class C: RX2 and no RX1; every window's frequency within
 * freq_range and its DR a defined downlink DR. Returns 0, or GS_BS_E_ARG with *field naming
 * the fault ("DevEui", "RX1Freq", ...). */
int gs_bs_dnmsg_check(const gs_bs_dnmsg_t *m, const gs_bs_limits_t *lim, const char **field);

/* Validates (gs_bs_dnmsg_check) then writes the dnmsg: msgtype, DevEui (dash form), dC,
 * diid, pdu (lower-case hex), RxDelay (1 for class C, which the station ignores there but
 * warns without), RX1DR/RX1Freq, RX2DR/RX2Freq, priority, xtime (class A), rctx, MuxTime.
 * Returns 0, GS_BS_E_ARG (with *field), GS_BS_E_BUF (GS_BS_DNMSG_MAX always fits). */
int gs_bs_encode_dnmsg(const gs_bs_dnmsg_t *m, const gs_bs_limits_t *lim, char *buf, size_t cap,
                       size_t *out_len, const char **field);

/* {"msgtype":"timesync","txtime":<echo>,"gpstime":<µs>,"MuxTime":<s>} answering a station's
 * timesync. */
int gs_bs_encode_timesync(double txtime, int64_t gpstime_us, double mux_time_s, char *buf,
                          size_t cap, size_t *out_len);

/* GPS time in µs (leap seconds included) of a Unix time in ns. */
int64_t gs_bs_gps_us_from_unix_ns(int64_t unix_ns);

/* xtime parts: bits 0..47 concentrator µs, bits 48..63 the session (txunit and radio
 * session byte); an xtime with the session of `like` and concentrator time conc_us. */
#define GS_BS_XTIME_CONC_MASK ((INT64_C(1) << 48) - 1)
static inline int64_t gs_bs_xtime_conc_us(int64_t xtime)
{
    return xtime & GS_BS_XTIME_CONC_MASK;
}
static inline int64_t gs_bs_xtime_session(int64_t xtime)
{
    return xtime >> 48;
}

const char *gs_bs_strerror(int err); /* "json", "msgtype", "field", ... */
const char *gs_bs_msgtype_name(gs_bs_msgtype_t t);

#endif
