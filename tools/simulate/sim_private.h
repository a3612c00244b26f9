/* The simulator's parts, for its own files and its unit tests (tests/unit/tools/simulate/).
 *
 * Pure parts (no sockets, no clock, no logging): a device's session state and the frames it
 * sends and receives (frame.c: data uplinks, join-requests, join-accepts, downlinks with
 * their MAC commands, built and checked with components/lorawan), the gateway side of the
 * Semtech UDP protocol (semtech.c), the radio settings of a frequency plan (radio.c), the
 * uplink table that tells which uplink a downlink answers (match.c), latency figures
 * (stats.c) and the device fleet with its provisioning requests (fleet.c). frame.c and
 * fleet.c take the time or randomness they need as arguments. The loop, sockets and HTTP
 * are in simulate.c. Functions return 0 or a negative LORAWAN_E_* / SIM_E_* code. */
#ifndef SIM_PRIVATE_H
#define SIM_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lorawan/lorawan.h"

/* Errors of the simulator's own (below LoRaWAN's codes). */
enum {
    SIM_E_NOT_MINE = -1000,  /* a downlink for another DevAddr, or no join pending */
    SIM_E_FCNT = -1001,      /* a downlink whose FCnt is not above the last one */
    SIM_E_MALFORMED = -1002, /* a datagram or JSON that does not parse */
    SIM_E_STATE = -1003,     /* not possible in the device's state (no session) */
};
const char *sim_strerror(int err);

/* ---- LoRaWAN versions ------------------------------------------------------------------ */

typedef enum sim_mac_version {
    SIM_MAC_1_0_2 = 0,
    SIM_MAC_1_0_3,
    SIM_MAC_1_0_4,
    SIM_MAC_1_1,
} sim_mac_version_t;

/* "1.0.3" or "MAC_V1_0_3" → version. Returns 0 or LORAWAN_E_PARAM. */
int sim_mac_version_parse(const char *s, sim_mac_version_t *out);
/* The Things Stack's names: "MAC_V1_0_3", and the PHY version this simulator uses with it
 * ("PHY_V1_0_3_REV_A") and its Regional Parameters revision. */
const char *sim_mac_version_tts(sim_mac_version_t v);
const char *sim_versions_name(sim_mac_version_t v); /* "1.0.3" */
const char *sim_phy_version_tts(sim_mac_version_t v);
lorawan_rp_rev_t sim_phy_rev(sim_mac_version_t v);

/* ---- Devices and frames (frame.c) ------------------------------------------------------- */

/* LoRaWAN 1.0.4 §6.2.6 / 1.1 §6.2.4: JOIN_ACCEPT_DELAY1, the delay of a join-accept's RX1. */
#define SIM_JOIN_ACCEPT_DELAY1_S 5u
/* The largest FRMPayload the simulator sends or reads. */
#define SIM_MAX_PAYLOAD 242u
/* MAC commands decoded from one downlink, at most. */
#define SIM_MAX_MAC 16u

typedef struct sim_dev {
    uint64_t dev_eui, join_eui;
    uint32_t dev_addr;
    sim_mac_version_t version;
    bool otaa;
    /* Root keys (OTAA). LoRaWAN 1.0.x devices have one root key: nwk_key = app_key. */
    uint8_t app_key[LORAWAN_KEY_LEN], nwk_key[LORAWAN_KEY_LEN];
    /* Session keys. Without a 1.1 session (opt_neg false) the three network keys are the
     * one NwkSKey. */
    uint8_t f_nwk_s_int_key[LORAWAN_KEY_LEN], s_nwk_s_int_key[LORAWAN_KEY_LEN];
    uint8_t nwk_s_enc_key[LORAWAN_KEY_LEN], app_s_key[LORAWAN_KEY_LEN];
    bool active;       /* has a session (ABP, or OTAA after a join-accept) */
    bool opt_neg;      /* the session is LoRaWAN 1.1 (OptNeg set by a 1.1 network) */
    uint32_t f_cnt_up; /* the next uplink's FCnt */
    uint32_t n_f_cnt_down, a_f_cnt_down; /* last downlink counters seen (valid when has_*) */
    bool has_n_f_cnt_down, has_a_f_cnt_down;
    uint16_t dev_nonce;      /* the next join-request's DevNonce */
    uint16_t join_dev_nonce; /* the DevNonce of the join-request in flight */
    bool join_pending;
    uint8_t rx1_delay_s;   /* 1..15 */
    uint8_t rx1_dr_offset; /* from the join-accept or RXParamSetupReq */
    uint8_t rx2_dr;
    uint32_t rx2_freq_hz;
    uint8_t dr;       /* uplink data rate (LinkADRReq changes it) */
    uint8_t tx_power; /* index (LinkADRReq) */
    uint8_t nb_trans;
    /* MAC answers for the next uplink's FOpts (plaintext), and the counters an ACK needs. */
    uint8_t mac_out[LORAWAN_FOPTS_MAX_LEN];
    uint8_t mac_out_len;
    bool ack_next;               /* the last downlink was confirmed: ACK in the next uplink */
    uint32_t ack_f_cnt_down;     /* that downlink's FCnt (1.1 uplink MIC ConfFCnt) */
    uint32_t last_conf_f_cnt_up; /* FCnt of the last confirmed uplink (1.1 downlink MIC) */
    bool rekey_ind;              /* 1.1 OTAA: RekeyInd in every uplink until RekeyConf */
    bool reset_ind;              /* 1.1 ABP: ResetInd in every uplink until ResetConf */
    /* What the last DeviceTimeAns / LinkCheckAns said. */
    bool has_device_time, has_link_check;
    uint32_t device_time_gps_s;
    uint8_t link_check_margin, link_check_gw_cnt;
} sim_dev_t;

/* Session parameters of an ABP device (or defaults before a join): the RX1 delay given, the
 * band's default RX2 (sim_radio_t.rx2_band), offset 0. */
void sim_dev_session_defaults(sim_dev_t *d, uint8_t rx1_delay_s, uint32_t rx2_freq_hz,
                              uint8_t rx2_dr);

typedef struct sim_uplink {
    bool confirmed;
    bool has_fport;
    uint8_t fport;          /* 1..223 for application data */
    const uint8_t *payload; /* plaintext FRMPayload */
    size_t payload_len;     /* <= SIM_MAX_PAYLOAD */
    uint8_t tx_dr, tx_ch;   /* for the 1.1 MIC (B1) */
    bool adr;               /* FCtrl.ADR */
} sim_uplink_t;

/* Builds the next data uplink of an active device into out[0..cap): FOpts with the MAC
 * answers waiting (and RekeyInd / ResetInd for 1.1, encrypted with NwkSEncKey), ACK when
 * the last downlink was confirmed, FRMPayload encrypted with AppSKey, the MIC of the
 * session's version. On success the device's FCntUp advances and the answers are spent.
 * Errors: SIM_E_STATE (no session), LORAWAN_E_* from the library. */
int sim_uplink_build(sim_dev_t *d, const sim_uplink_t *up, uint8_t *out, size_t cap, size_t *len);

/* Builds a join-request with DevNonce d->dev_nonce (then advanced), MIC with AppKey (1.0.x)
 * or NwkKey (1.1); marks the join pending. Errors: LORAWAN_E_*. */
int sim_join_request_build(sim_dev_t *d, uint8_t *out, size_t cap, size_t *len);

typedef struct sim_join_result {
    uint32_t join_nonce, net_id, dev_addr;
    bool opt_neg;
    uint8_t rx1_dr_offset, rx2_dr, rx_delay;
    bool has_cflist;
    uint8_t cflist[LORAWAN_CFLIST_LEN];
} sim_join_result_t;

/* Handles a join-accept (as on the air) for a device with a join pending: decrypts it with
 * AppKey (1.0.x) or NwkKey (1.1), checks its MIC (CMAC with the root key, or with JSIntKey
 * over JoinReqType | JoinEUI | DevNonce when OptNeg is set), derives the session keys and
 * activates the session: DevAddr, keys, counters from 0, RX1 delay, RX1 DR offset, RX2 DR.
 * Errors: SIM_E_NOT_MINE (no join pending), LORAWAN_E_JA_LEN, LORAWAN_E_MIC, LORAWAN_E_*;
 * the device is unchanged on error. */
int sim_join_accept_handle(sim_dev_t *d, const uint8_t *phy, size_t len, sim_join_result_t *res);

typedef struct sim_downlink {
    bool confirmed;
    bool ack; /* acknowledges the last confirmed uplink */
    bool f_pending;
    uint32_t f_cnt; /* 32-bit, reconstructed */
    bool has_fport;
    uint8_t fport;
    uint8_t payload[SIM_MAX_PAYLOAD]; /* decrypted FRMPayload (application data only) */
    size_t payload_len;
    lorawan_mac_cmd_t mac[SIM_MAX_MAC]; /* from FOpts or an FPort 0 payload */
    size_t n_mac;
} sim_downlink_t;

/* Handles a data downlink for the device's session: DevAddr, MIC (NwkSKey / SNwkSIntKey,
 * with ConfFCnt for a 1.1 ACK), FCnt above the last one (NFCntDown or AFCntDown in 1.1),
 * FRMPayload decrypted, MAC commands decoded (FOpts decrypted in 1.1) and answered in the
 * next uplink: LinkADRAns (all accepted; data rate, power and NbTrans applied), DevStatusAns,
 * DutyCycleAns, RXParamSetupAns (applied), RXTimingSetupAns (applied), NewChannelAns,
 * DlChannelAns, TxParamSetupAns, ADRParamSetupAns, RejoinParamSetupAns; RekeyConf and
 * ResetConf end RekeyInd / ResetInd; LinkCheckAns and DeviceTimeAns are recorded.
 * Errors: SIM_E_NOT_MINE (another DevAddr, or not a data downlink), SIM_E_STATE,
 * LORAWAN_E_MIC, SIM_E_FCNT, LORAWAN_E_*; the device is unchanged on error. */
int sim_downlink_handle(sim_dev_t *d, const uint8_t *phy, size_t len, sim_downlink_t *out);

/* Queues one uplink MAC command (a request the device makes: LinkCheckReq, DeviceTimeReq,
 * ...) for the next uplink. Errors: LORAWAN_E_BUF when FOpts would pass 15 bytes. */
int sim_dev_queue_mac(sim_dev_t *d, const lorawan_mac_cmd_t *cmd);

/* ---- Radio (radio.c) ------------------------------------------------------------------- */

typedef struct sim_channel {
    uint32_t freq_hz;
    uint8_t index; /* the band's channel index (US915 FSB2: 8..15) */
} sim_channel_t;

typedef struct sim_radio {
    const lorawan_freqplan_t *fp;
    const lorawan_band_t *band;
    lorawan_rp_rev_t rev;
    sim_channel_t channels[LORAWAN_FP_MAX_UPLINK]; /* 125 kHz uplink channels in use */
    size_t n_channels;
    lorawan_rx2_t rx2;      /* the plan's (what the network configures) */
    lorawan_rx2_t rx2_band; /* the band's default: what a device uses until told otherwise
                               (before a join-accept's DLSettings or RXParamSetupReq) */
} sim_radio_t;

/* The uplink channels a device uses with frequency plan fp_id: a band with a CFList of
 * frequencies (EU868-like) its default (join) channels, which every device knows; a fixed
 * band (US915, AU915) the plan's sub-band channels. Errors: LORAWAN_E_PARAM (unknown plan). */
int sim_radio_init(sim_radio_t *r, const char *fp_id, lorawan_rp_rev_t rev);

/* Spreading factor and bandwidth (kHz) of uplink data rate dr. Errors: LORAWAN_E_DR (not a
 * LoRa uplink data rate of the band). */
int sim_radio_dr_lora(const sim_radio_t *r, uint8_t dr, bool uplink, uint8_t *sf, uint16_t *bw_khz);
/* The data rate index of SF/BW in direction uplink. Errors: LORAWAN_E_DR. */
int sim_radio_dr_index(const sim_radio_t *r, uint8_t sf, uint16_t bw_khz, bool uplink, uint8_t *dr);
/* The RX1 frequency and data rate for an uplink on channel ch at data rate up_dr.
 * Errors: LORAWAN_E_DR, LORAWAN_E_RANGE. */
int sim_radio_rx1(const sim_radio_t *r, const sim_channel_t *ch, uint8_t up_dr, uint8_t offset,
                  uint32_t *freq_hz, uint8_t *dr);
/* The default uplink data rate for a plan: SF7 at 125 kHz. */
uint8_t sim_radio_default_dr(const sim_radio_t *r);

/* ---- Semtech UDP, the gateway side (semtech.c) ----------------------------------------- */

/* Semtech packet forwarder PROTOCOL.TXT: protocol version 2 (TX_ACK), identifiers. */
#define SIM_UDP_VERSION 2u
enum {
    SIM_UDP_PUSH_DATA = 0,
    SIM_UDP_PUSH_ACK = 1,
    SIM_UDP_PULL_DATA = 2,
    SIM_UDP_PULL_RESP = 3,
    SIM_UDP_PULL_ACK = 4,
    SIM_UDP_TX_ACK = 5,
};
#define SIM_UDP_HEADER_LEN   12u /* version, token (2), identifier, gateway EUI (8) */
#define SIM_UDP_MAX_DATAGRAM 2048u

typedef struct sim_rxpk {
    uint32_t tmst;        /* concentrator counter, µs */
    int64_t time_unix_ns; /* 0: no "time" field */
    uint8_t chan;
    uint32_t freq_hz;
    uint8_t sf;
    uint16_t bw_khz;
    int16_t rssi;
    float lsnr;
    const uint8_t *phy;
    size_t len;
} sim_rxpk_t;

/* PUSH_DATA with one rxpk object. Errors: LORAWAN_E_BUF (out too small), LORAWAN_E_PARAM. */
int sim_udp_push_data(uint16_t token, uint64_t gw_eui, const sim_rxpk_t *rx, uint8_t *out,
                      size_t cap, size_t *len);

typedef struct sim_stat {
    int64_t time_unix_ns;
    uint32_t rxnb, rxok, rxfw, dwnb, txnb;
    uint32_t ackr_pct; /* PUSH_DATA acknowledged, percent */
} sim_stat_t;
/* PUSH_DATA with a stat object. Errors: LORAWAN_E_BUF. */
int sim_udp_push_stat(uint16_t token, uint64_t gw_eui, const sim_stat_t *st, uint8_t *out,
                      size_t cap, size_t *len);

/* PULL_DATA: exactly SIM_UDP_HEADER_LEN bytes into out. */
void sim_udp_pull_data(uint16_t token, uint64_t gw_eui, uint8_t out[SIM_UDP_HEADER_LEN]);

/* TX_ACK for the PULL_RESP with `token`, {"txpk_ack":{"error":"<error>"}} ("NONE" when error
 * is NULL). Errors: LORAWAN_E_BUF. */
int sim_udp_tx_ack(uint16_t token, uint64_t gw_eui, const char *error, uint8_t *out, size_t cap,
                   size_t *len);

typedef struct sim_txpk {
    bool imme;
    bool has_tmst;
    uint32_t tmst;
    uint32_t freq_hz;
    uint8_t sf;
    uint16_t bw_khz;
    int powe;
    bool ipol;
    uint8_t phy[LORAWAN_PHY_MAX_LEN];
    size_t len;
} sim_txpk_t;

typedef struct sim_udp_msg {
    uint8_t version;
    uint16_t token;
    uint8_t type;
    sim_txpk_t txpk; /* PULL_RESP */
} sim_udp_msg_t;

/* Parses a datagram from the server: PUSH_ACK, PULL_ACK (4 bytes) or PULL_RESP (4 bytes and
 * {"txpk":{...}}: imme, tmst, freq, datr "SF<n>BW<khz>", powe, ipol, size, data in base64;
 * size must equal the decoded length). Errors: SIM_E_MALFORMED (naming nothing: counted). */
int sim_udp_parse(const uint8_t *buf, size_t len, sim_udp_msg_t *out);

/* ---- Which uplink a downlink answers (match.c) ------------------------------------------ */

/* A table from an uplink's reception time (the simulator's µs clock, mod 2^32) to the device
 * that sent it, in caller-provided storage of `cap` slots (a power of two). Open addressing
 * with linear probing and backward-shift deletion; key 0 is not stored (callers never use
 * time 0). A downlink's concentrator time minus the gateway's clock offset minus a whole
 * number of seconds (the RX delay) gives the uplink's reception time: that finds its
 * device, its window (sim_window_classify) and its latency, whichever gateway sent it. */
typedef struct sim_match {
    uint32_t *keys;
    uint32_t *vals;
    uint32_t cap, n;
} sim_match_t;

void sim_match_init(sim_match_t *m, uint32_t *keys, uint32_t *vals, uint32_t cap);
/* Inserts or replaces. Returns 0, or -1 when the table is more than 3/4 full. */
int sim_match_put(sim_match_t *m, uint32_t key, uint32_t val);
bool sim_match_get(const sim_match_t *m, uint32_t key, uint32_t *val);
bool sim_match_del(sim_match_t *m, uint32_t key);

typedef enum sim_window {
    SIM_WIN_NONE = 0,
    SIM_WIN_RX1,
    SIM_WIN_RX2,
    SIM_WIN_IMMEDIATE, /* "imme": class C as soon as possible */
    SIM_WIN_SCHEDULED, /* at a concentrator time that answers no uplink: class C (or B) */
} sim_window_t;
const char *sim_window_name(sim_window_t w);

/* The receive window a downlink scheduled delay_us after the uplink falls in: a join-accept
 * JOIN_ACCEPT_DELAY1 (RX1) or one second later (RX2); a data downlink rx1_delay_s (RX1) or
 * one second later (RX2); anything else SIM_WIN_NONE. Exact to the microsecond, as a
 * device's radio opens its windows. */
sim_window_t sim_window_classify(bool join_accept, uint8_t rx1_delay_s, uint32_t delay_us);

/* ---- Latency figures (stats.c) ---------------------------------------------------------- */

/* Samples in µs, kept up to SIM_LAT_MAX_SAMPLES (then only counted, min/max/sum). */
#define SIM_LAT_MAX_SAMPLES (1u << 21)
typedef struct sim_lat {
    int64_t *v;
    size_t n, cap;
    uint64_t count;
    int64_t sum, min, max;
    bool sorted;
} sim_lat_t;
void sim_lat_add(sim_lat_t *l, int64_t us);
/* The p-th percentile (0..100, nearest rank) of the kept samples; 0 when there are none. */
int64_t sim_lat_pct(sim_lat_t *l, double p);
void sim_lat_free(sim_lat_t *l);
/* {"count":N,"p50":..,"p99":..,"min":..,"max":..,"mean":..} (µs); null when empty. */
json_t *sim_lat_json(sim_lat_t *l);

/* ---- The fleet and its provisioning (fleet.c) -------------------------------------------- */

typedef struct sim_fleet_opts {
    const char *seed; /* keys and EUIs are derived from it */
    sim_mac_version_t version;
    bool otaa;
    bool has_dev_addr_start;
    uint32_t dev_addr_start; /* ABP DevAddr of device 0; else from the seed (prefix 26) */
    bool has_dev_eui_start, has_join_eui, has_gw_eui_start;
    uint64_t dev_eui_start, join_eui, gw_eui_start;
    uint16_t dev_nonce_start;
    uint32_t f_cnt_start;
} sim_fleet_opts_t;

/* Device `index` of the fleet: EUIs, DevAddr and keys derived from the seed with SHA-256
 * (the same seed gives the same fleet, so a run can be repeated against what an earlier one
 * provisioned). The session is set for ABP (active, counters from f_cnt_start). */
void sim_fleet_device(const sim_fleet_opts_t *o, uint32_t index, sim_dev_t *d);
/* Gateway `index`'s EUI. */
uint64_t sim_fleet_gateway_eui(const sim_fleet_opts_t *o, uint32_t index);

/* A device from one line of a keys file: {"dev_eui","join_eui","dev_addr","app_key",
 * "nwk_key","nwk_s_key" (1.0.x) or "f_nwk_s_int_key","s_nwk_s_int_key","nwk_s_enc_key",
 * "app_s_key","lorawan_version","f_cnt_up","dev_nonce"}, hex strings; what is absent stays
 * as *d was (defaults). Returns 0, or -1 with err naming the field. */
int sim_fleet_parse_line(const char *line, sim_dev_t *d, char *err, size_t errlen);

/* Device d as one keys-file line (the fields sim_fleet_parse_line reads; session keys
 * for ABP, root keys for OTAA). The caller owns the result. */
json_t *sim_fleet_line(const sim_dev_t *d);

/* Which servers' parts are provisioned (sim_prov_opts_t.parts). */
/* SIM_PART_ALL is what an empty --parts provisions; the Application Server part (the ABP
 * devices' AppSKey, so the AS decrypts their uplinks) only when asked: --parts is,ns,as. */
enum { SIM_PART_IS = 1, SIM_PART_NS = 2, SIM_PART_JS = 4, SIM_PART_AS = 8, SIM_PART_ALL = 7 };

typedef struct sim_prov_opts {
    unsigned parts; /* SIM_PART_*: 0 means all */
    const char *application_id;
    const char *owner; /* "user:admin" or "org:..." (collection the entities go in) */
    const char *frequency_plan_id;
    uint8_t rx1_delay_s;
    bool supports_class_c;
    bool no_duty_cycle; /* gateways provisioned with enforce_duty_cycle false */
    /* ABP devices provisioned as already configured: every uplink channel of the plan as
     * factory_preset_frequencies, the RX2 and RX1 delay they use also the desired ones, so
     * the NS has no set-up MAC commands to send (a fleet in its steady state). */
    bool configured;
} sim_prov_opts_t;

/* The device ID the simulator gives device d: "sim-<dev_eui hex>"; gateways
 * "sim-gw-<eui hex>". buf holds at least 24 bytes. */
void sim_fleet_device_id(const sim_dev_t *d, char *buf, size_t len);
void sim_fleet_gateway_id(uint64_t eui, char *buf, size_t len);

/* A provisioning request: method, path below /api/v3 and JSON body (owned by the caller). */
typedef struct sim_prov_req {
    const char *method;
    char path[256];
    json_t *body;
    bool conflict_ok; /* 409 already_exists means done (the run is repeated) */
} sim_prov_req_t;

/* The requests that create the application (once), and for device d: the Identity Server's
 * end device, its Network Server part (PUT /ns/...: version, plan, supports_join, and for ABP
 * the session with DevAddr and network keys) and, for OTAA, its Join Server part (PUT /js/...:
 * root keys); only the parts o->parts names (the application and gateways are the Identity
 * Server's). Returns the number written into out[0..cap) (at most 4). */
size_t sim_prov_application(const sim_prov_opts_t *o, sim_prov_req_t *out);
size_t sim_prov_device(const sim_prov_opts_t *o, const sim_dev_t *d, sim_prov_req_t *out,
                       size_t cap);
size_t sim_prov_gateway(const sim_prov_opts_t *o, uint64_t eui, sim_prov_req_t *out);

/* Key and EUI text. */
void sim_hex16(const uint8_t k[LORAWAN_KEY_LEN], char out[33]);
void sim_eui_hex(uint64_t eui, char out[17]);

#endif
