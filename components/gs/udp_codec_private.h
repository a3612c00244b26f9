/* The Semtech UDP packet-forwarder protocol (Lora-net/packet_forwarder PROTOCOL.TXT,
 * versions 1 and 2): datagram header, the JSON of PUSH_DATA (rxpk, stat) and TX_ACK
 * (txpk_ack), and the encoders of PUSH_ACK, PULL_ACK and PULL_RESP (txpk).
 *
 * Pure (STYLE.md "Protocol code is pure"): no I/O, clock, logging, allocation or globals.
 * The caller owns every buffer: gs_udp_packet_t holds the decoded rxpk entries with their
 * PHYPayload bytes; JSON is tokenised by jsmn into a token array on the stack.
 *
 * Header: version (1 or 2), random token (2 bytes, kept as sent, big-endian value),
 * identifier; PUSH_DATA, PULL_DATA and TX_ACK then carry the gateway EUI (8 bytes,
 * big-endian). PUSH_DATA carries JSON; TX_ACK may (v2: txpk_ack); PULL_RESP does (txpk).
 *
 * More than GS_UDP_RXPK_MAX rxpk entries in one PUSH_DATA is an error (GS_UDP_E_TOO_MANY_RXPK),
 * not a truncation: a real forwarder sends at most 8 (NB_PKT_MAX), so more is not a forwarder.
 * Unknown JSON keys are skipped; rsig arrays (v2 multi-antenna forwarders) are skipped too.
 * Numbers are printed and parsed in the C locale (lwstack never calls setlocale). */
#ifndef GS_UDP_CODEC_PRIVATE_H
#define GS_UDP_CODEC_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    GS_UDP_PUSH_DATA = 0x00,
    GS_UDP_PUSH_ACK = 0x01,
    GS_UDP_PULL_DATA = 0x02,
    GS_UDP_PULL_RESP = 0x03,
    GS_UDP_PULL_ACK = 0x04,
    GS_UDP_TX_ACK = 0x05,
};

/* Error codes; gs_udp_strerror() names them. */
enum {
    GS_UDP_OK = 0,
    GS_UDP_E_SHORT = -1,         /* fewer than 4 bytes */
    GS_UDP_E_VERSION = -2,       /* protocol version not 1 or 2 */
    GS_UDP_E_IDENT = -3,         /* unknown identifier */
    GS_UDP_E_NO_EUI = -4,        /* PUSH_DATA / PULL_DATA / TX_ACK shorter than 12 bytes */
    GS_UDP_E_JSON_LARGE = -5,    /* JSON longer than GS_UDP_JSON_MAX or more tokens than we keep */
    GS_UDP_E_JSON = -6,          /* not JSON, or not an object where one is required */
    GS_UDP_E_TOO_MANY_RXPK = -7, /* more than GS_UDP_RXPK_MAX rxpk entries */
    GS_UDP_E_FIELD = -8,         /* a field has the wrong type or is out of range: see ->field */
    GS_UDP_E_MISSING = -9,       /* a required field is absent: see ->field */
    GS_UDP_E_BUF = -10,          /* encoder: output buffer too small */
    GS_UDP_E_ARG = -11,          /* encoder: invalid argument (see gs_udp_encode_pull_resp) */
};

#define GS_UDP_HEADER_LEN     4
#define GS_UDP_HEADER_EUI_LEN 12
#define GS_UDP_JSON_MAX       16384 /* longest JSON accepted */
#define GS_UDP_TOKENS_MAX     1024  /* jsmn tokens per datagram */
#define GS_UDP_RXPK_MAX       16
#define GS_UDP_PHY_MAX        255  /* size 0..255 */
#define GS_UDP_TIME_MAX       39   /* characters of a time string kept (ISO 8601 / "compact") */
#define GS_UDP_PULL_RESP_MAX  1024 /* a PULL_RESP always fits here */

typedef enum { GS_UDP_MODU_LORA = 1, GS_UDP_MODU_FSK = 2 } gs_udp_modu_t;

typedef struct {
    bool has_time; /* time: UTC time of reception as sent (text, not interpreted) */
    char time[GS_UDP_TIME_MAX + 1];
    bool has_tmms; /* tmms: GPS time in ms since the GPS epoch */
    uint64_t tmms;
    uint32_t tmst;        /* tmst: concentrator counter, µs (required) */
    uint8_t chan, rfch;   /* IF channel (0..255), RF chain (0..1) */
    double freq_mhz;      /* freq, 100..1000 MHz (required) */
    int stat;             /* CRC status: 1 OK, -1 fail, 0 no CRC (required) */
    gs_udp_modu_t modu;   /* required */
    uint8_t sf;           /* LoRa: 5..12 */
    uint16_t bw_khz;      /* LoRa: 7..500 (kHz) */
    uint32_t fsk_bitrate; /* FSK: 500..300000 */
    char codr[8];         /* LoRa coding rate as sent, "4/5".."4/8", "OFF" (empty if absent) */
    double rssi;          /* dBm, -200..50 (required) */
    bool has_lsnr;
    double lsnr;                      /* dB, -50..50 (LoRa) */
    uint16_t size;                    /* equals data_len */
    uint8_t data[GS_UDP_PHY_MAX + 3]; /* PHYPayload (+3: base64 decodes in whole groups) */
    size_t data_len;
} gs_udp_rxpk_t;

typedef struct {
    bool has_time;
    char time[GS_UDP_TIME_MAX + 1];
    bool has_location; /* lati and long both present */
    double lati, lon;  /* degrees, -90..90, -180..180 */
    bool has_alti;
    int32_t alti;                          /* metres, -10000..100000 */
    uint32_t rxnb, rxok, rxfw, dwnb, txnb; /* counters, 0 when absent */
    bool has_ackr;
    double ackr; /* percent 0..100 */
} gs_udp_stat_t;

/* txpk_ack "error" / "warn" values (sx1301 and sx1302 forwarders). */
typedef enum {
    GS_UDP_TXACK_NONE = 0,
    GS_UDP_TXACK_TOO_LATE,
    GS_UDP_TXACK_TOO_EARLY,
    GS_UDP_TXACK_COLLISION_PACKET,
    GS_UDP_TXACK_COLLISION_BEACON,
    GS_UDP_TXACK_TX_FREQ,
    GS_UDP_TXACK_TX_POWER,
    GS_UDP_TXACK_GPS_UNLOCKED,
} gs_udp_txack_code_t;

typedef struct {
    bool has_error;
    gs_udp_txack_code_t error; /* NONE when absent or "NONE" */
    bool has_warn;
    gs_udp_txack_code_t warn; /* e.g. TX_POWER: sent with another power */
    bool has_value;
    int32_t value; /* the power (or frequency) actually used, with warn */
} gs_udp_txack_t;

typedef struct {
    uint8_t version; /* 1 or 2 */
    uint16_t token;  /* bytes 1..2, big-endian */
    uint8_t ident;   /* GS_UDP_PUSH_DATA ... */
    bool has_eui;
    uint64_t eui;        /* PUSH_DATA, PULL_DATA, TX_ACK */
    const uint8_t *json; /* into the input datagram; NULL/0 when none */
    size_t json_len;
    size_t n_rxpk; /* PUSH_DATA */
    gs_udp_rxpk_t rxpk[GS_UDP_RXPK_MAX];
    bool has_stat;
    gs_udp_stat_t stat;
    bool has_txpk_ack; /* TX_ACK with JSON */
    gs_udp_txack_t txpk_ack;
    const char *field;  /* E_FIELD / E_MISSING: the JSON key at fault ("freq", "rxpk", ...) */
    size_t field_index; /* and, for rxpk fields, the entry's index */
} gs_udp_packet_t;

/* Decodes one datagram. Returns GS_UDP_OK or a GS_UDP_E_* code; on error only ->field and
 * ->field_index are meaningful (plus the header fields once the header was read). PULL_RESP's
 * txpk JSON is checked to be a JSON object but not decoded (the server only sends them). */
int gs_udp_decode(const uint8_t *buf, size_t len, gs_udp_packet_t *out);

/* PUSH_ACK or PULL_ACK (ident) answering version/token: 4 bytes. */
int gs_udp_encode_ack(uint8_t version, uint16_t token, uint8_t ident, uint8_t *buf, size_t cap,
                      size_t *out_len);

typedef struct {
    bool imme; /* send immediately (class C); else at tmst or tmms */
    bool has_tmst;
    uint32_t tmst;
    bool has_tmms;
    uint64_t tmms;
    double freq_mhz; /* 100..1000, printed with 6 decimals */
    uint8_t rfch;
    int8_t powe; /* dBm */
    gs_udp_modu_t modu;
    uint8_t sf; /* LoRa: 5..12, datr "SF<sf>BW<bw>" */
    uint16_t bw_khz;
    const char *codr;     /* LoRa: "4/5" ... (NULL: "4/5") */
    uint32_t fsk_bitrate; /* FSK: datr as a number */
    uint32_t fdev;        /* FSK: frequency deviation, Hz */
    bool has_prea;
    uint16_t prea; /* preamble length */
    bool ipol;     /* LoRa: inverted polarity (true for downlinks to devices) */
    bool ncrc;     /* no CRC */
    const uint8_t *data;
    size_t data_len; /* 0..255 */
} gs_udp_txpk_t;

/* PULL_RESP carrying {"txpk":{...}} for version/token (v1 ignores the token; send 0).
 * GS_UDP_E_ARG for a txpk that is not sendable (no time and not imme, freq, sf, bw or length out
 * of range, unknown modu); GS_UDP_E_BUF when cap is too small (GS_UDP_PULL_RESP_MAX always fits).
 */
int gs_udp_encode_pull_resp(uint8_t version, uint16_t token, const gs_udp_txpk_t *txpk,
                            uint8_t *buf, size_t cap, size_t *out_len);

const char *gs_udp_strerror(int err);                    /* "short", "bad_version", ... */
const char *gs_udp_txack_name(gs_udp_txack_code_t code); /* "NONE", "TOO_LATE", ... */

#endif
