/* components/lorawan: the LoRaWAN protocol library (DESIGN.md §1).
 *
 * Frames (PHYPayload encode/decode), crypto (AES-CMAC MICs, payload and join-accept
 * encryption, session-key derivation, RFC 3394 key wrap), MAC commands, and regional
 * parameters (band.h, included at the end). The one public header of the module.
 *
 * Pure code: no I/O, no clock, no globals except const tables, and the library never
 * allocates: the caller owns every buffer. The only exception is lorawan_key_init(), whose
 * OpenSSL cipher context is allocated by OpenSSL and released by lorawan_key_destroy().
 * Every length from the wire is checked before use.
 *
 * Conventions: functions return 0 or a negative LORAWAN_E_* code (codes.def).
 * Multi-byte wire integers are little-endian (LoRaWAN 1.0.4 §4, 1.1 §4); in structs they
 * are host integers: a DevAddr printed "26000001" is dev_addr == 0x26000001. EUIs are host
 * uint64_t in the same sense (JoinEUI "70b3d57ed0001234" is 0x70b3d57ed0001234).
 * Keys are 16 raw bytes in the order fed to AES and are never byte-reversed. */
#ifndef LORAWAN_H
#define LORAWAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Errors ---------------------------------------------------------------------------- */

enum lorawan_err {
#define LORAWAN_ERR(sym, val, name, msg) sym = (val),
#include "lorawan/codes.def"
#undef LORAWAN_ERR
};

/* Returns the stable name of a LORAWAN_E_* code ("short", "mic", ...), "ok" for 0, and
 * "unknown" for any other value. Never NULL. */
const char *lorawan_strerror(int err);

/* Returns a one-line description for people ("frame shorter than its type requires"), or
 * "success" / "unknown error". Never NULL; never contains data from a frame. */
const char *lorawan_error_message(int err);

/* ---- Sizes and spec constants ---------------------------------------------------------- */

/* LoRaWAN 1.0.4 §4: MHDR 1 byte, MIC 4 bytes. */
#define LORAWAN_MHDR_LEN 1u
#define LORAWAN_MIC_LEN  4u
/* LoRa PHY payloads are at most 255 bytes (SX127x/SX130x FIFO, RP002 §2 max M = 250). */
#define LORAWAN_PHY_MAX_LEN 255u
/* LoRaWAN 1.0.4 §4.3.1: MHDR(1) + FHDR min 7 + MIC(4). */
#define LORAWAN_DATA_MIN_LEN 12u
/* LoRaWAN 1.1 §6.2.2: MHDR JoinEUI DevEUI DevNonce MIC. */
#define LORAWAN_JOIN_REQUEST_LEN 23u
/* LoRaWAN 1.1 §6.2.4: rejoin type 0/2 is 19 bytes, type 1 is 24 bytes. */
#define LORAWAN_REJOIN_02_LEN 19u
#define LORAWAN_REJOIN_1_LEN  24u
/* LoRaWAN 1.1 §6.2.3: join-accept MHDR + 16 or 32 encrypted bytes (with CFList). */
#define LORAWAN_JOIN_ACCEPT_LEN        17u
#define LORAWAN_JOIN_ACCEPT_CFLIST_LEN 33u
#define LORAWAN_CFLIST_LEN             16u
/* LoRaWAN 1.0.4 §4.3.1.6: FOptsLen is 4 bits. */
#define LORAWAN_FOPTS_MAX_LEN 15u
#define LORAWAN_KEY_LEN       16u
/* LoRaWAN 1.0.4 §4.3.2: JoinReqType for a join-request in the 1.1 join-accept MIC. */
#define LORAWAN_JOIN_REQ_TYPE_JOIN 0xffu

/* LoRaWAN 1.0.4 §4.2.1: MType, the top three bits of MHDR. */
typedef enum lorawan_mtype {
    LORAWAN_MTYPE_JOIN_REQUEST = 0,
    LORAWAN_MTYPE_JOIN_ACCEPT = 1,
    LORAWAN_MTYPE_UNCONFIRMED_DATA_UP = 2,
    LORAWAN_MTYPE_UNCONFIRMED_DATA_DOWN = 3,
    LORAWAN_MTYPE_CONFIRMED_DATA_UP = 4,
    LORAWAN_MTYPE_CONFIRMED_DATA_DOWN = 5,
    LORAWAN_MTYPE_REJOIN_REQUEST = 6,
    LORAWAN_MTYPE_PROPRIETARY = 7,
} lorawan_mtype_t;

/* LoRaWAN 1.0.4 §4.2.2: Major 0 = LoRaWAN R1; 1..3 are RFU. */
#define LORAWAN_MAJOR_R1 0u

/* Returns "JoinRequest", "UnconfirmedDataUp", ... (the vector and TTS spelling), or
 * "Unknown" for a value outside 0..7. */
const char *lorawan_mtype_name(lorawan_mtype_t mtype);

/* True for the four data MTypes; *uplink tells the direction (may be NULL). */
bool lorawan_mtype_is_data(lorawan_mtype_t mtype, bool *uplink);

/* ---- Frames (frame.c) ------------------------------------------------------------------ */

/* LoRaWAN 1.0.4 §4.3.1.1 (downlink) and §4.3.1.2 (uplink): FCtrl bits. */
#define LORAWAN_FCTRL_ADR         0x80u
#define LORAWAN_FCTRL_ADR_ACK_REQ 0x40u /* uplink */
#define LORAWAN_FCTRL_ACK         0x20u
#define LORAWAN_FCTRL_CLASS_B     0x10u /* uplink (RFU in LoRaWAN 1.0.0/1.0.1) */
#define LORAWAN_FCTRL_F_PENDING   0x10u /* downlink */
#define LORAWAN_FCTRL_FOPTS_LEN   0x0fu

/* FCtrl with its direction-dependent meaning resolved. Bits that do not exist in a
 * direction are false on decode and ignored on encode. */
typedef struct lorawan_fctrl {
    bool adr;
    bool adr_ack_req; /* uplink only */
    bool ack;
    bool class_b;   /* uplink only */
    bool f_pending; /* downlink only */
    uint8_t fopts_len;
} lorawan_fctrl_t;

/* A data frame's MACPayload: FHDR | [FPort | FRMPayload]. Pointers are views into the
 * decoded buffer (or, for encoding, into the caller's data). */
typedef struct lorawan_data {
    uint32_t dev_addr;
    lorawan_fctrl_t fctrl; /* on encode fctrl.fopts_len is ignored: fopts_len rules */
    uint16_t fcnt16;       /* the 16 low bits carried on the wire */
    const uint8_t *fopts;  /* fopts_len bytes, as on the wire (encrypted in 1.1) */
    size_t fopts_len;
    bool has_fport; /* false: no FPort and no FRMPayload */
    uint8_t fport;
    const uint8_t *frm_payload; /* frm_payload_len bytes (may be 0 with has_fport) */
    size_t frm_payload_len;
} lorawan_data_t;

/* LoRaWAN 1.1 §6.2.2: join-request. */
typedef struct lorawan_join_request {
    uint64_t join_eui;
    uint64_t dev_eui;
    uint16_t dev_nonce;
} lorawan_join_request_t;

/* LoRaWAN 1.1 §6.2.4: rejoin-request. Type 0 and 2 carry net_id, type 1 join_eui. */
typedef struct lorawan_rejoin_request {
    uint8_t rejoin_type;
    uint32_t net_id;   /* types 0 and 2 (24 bits) */
    uint64_t join_eui; /* type 1 */
    uint64_t dev_eui;
    uint16_t rj_count; /* RJcount0 / RJcount1 */
} lorawan_rejoin_request_t;

/* A decoded PHYPayload. `mac_payload` always views the bytes between MHDR and MIC; for a
 * join-accept it views the encrypted bytes after MHDR (the MIC is encrypted too, so mic[]
 * is zero), and for a proprietary frame everything after MHDR (no MIC is split off: the
 * layout is not defined by the spec, see vectors README caveat 6). */
typedef struct lorawan_phy {
    uint8_t mhdr;
    lorawan_mtype_t mtype;
    uint8_t major;
    const uint8_t *mac_payload;
    size_t mac_payload_len;
    uint8_t mic[LORAWAN_MIC_LEN];
    union {
        lorawan_data_t data;                 /* the four data MTypes */
        lorawan_join_request_t join_request; /* JOIN_REQUEST */
        lorawan_rejoin_request_t rejoin;     /* REJOIN_REQUEST */
    } u;
} lorawan_phy_t;

/* Decodes a PHYPayload of `len` bytes. Does not verify the MIC nor decrypt anything.
 * On success every pointer in *out views `buf`, which must outlive *out.
 * Errors: LORAWAN_E_PARAM (NULL), LORAWAN_E_SHORT (empty, or shorter than the MType
 * requires), LORAWAN_E_LONG (over 255 bytes, or a fixed-size message with extra bytes),
 * LORAWAN_E_MAJOR (Major != R1), LORAWAN_E_FOPTS_LEN (FOptsLen past the MACPayload),
 * LORAWAN_E_FPORT0_FOPTS (FPort 0 with FOpts, 1.0.4 §4.3.1.6), LORAWAN_E_REJOIN_TYPE,
 * LORAWAN_E_JA_LEN (join-accept not 17 or 33 bytes). On error *out is unspecified. */
int lorawan_phy_decode(const uint8_t *buf, size_t len, lorawan_phy_t *out);

/* Encodes a PHYPayload into out[0..cap): MHDR from in->mtype and in->major (in->mhdr and
 * the MHDR RFU bits are not used), then the union member for the MType, then in->mic. For a
 * join-accept, mac_payload (16 or 32 bytes, already encrypted) is copied as is and in->mic
 * is not used; for proprietary, mac_payload is copied and no MIC is written. Writes
 * *out_len. The MIC is usually zero here and set afterwards with lorawan_mic_* over
 * out[0..*out_len-4). Errors: LORAWAN_E_PARAM, LORAWAN_E_RANGE (fopts_len > 15, Major > 3,
 * rejoin type > 2, FPort 0 with FOpts), LORAWAN_E_JA_LEN, LORAWAN_E_BUF (cap too small),
 * LORAWAN_E_LONG (over 255 bytes). */
int lorawan_phy_encode(const lorawan_phy_t *in, uint8_t *out, size_t cap, size_t *out_len);

/* LoRaWAN 1.1 §6.2.3: join-accept plaintext (after decryption). */
typedef struct lorawan_join_accept {
    uint32_t join_nonce; /* 24 bits */
    uint32_t net_id;     /* 24 bits */
    uint32_t dev_addr;
    bool opt_neg;          /* DLSettings bit 7 (1.1; RFU in 1.0) */
    uint8_t rx1_dr_offset; /* DLSettings bits 6..4 */
    uint8_t rx2_data_rate; /* DLSettings bits 3..0 */
    uint8_t rx_delay;      /* RxDelay bits 3..0 as sent (0 means 1 s) */
    const uint8_t *cflist; /* NULL or LORAWAN_CFLIST_LEN bytes */
    uint8_t mic[LORAWAN_MIC_LEN];
} lorawan_join_accept_t;

/* Parses a decrypted join-accept (MHDR | fields | [CFList] | MIC, 17 or 33 bytes).
 * cflist views `plain`. Errors: LORAWAN_E_PARAM, LORAWAN_E_JA_LEN, LORAWAN_E_MTYPE (MHDR
 * is not a join-accept), LORAWAN_E_MAJOR. */
int lorawan_join_accept_parse(const uint8_t *plain, size_t len, lorawan_join_accept_t *out);

/* Writes the plaintext join-accept MHDR | fields | [CFList] | in->mic (17 or 33 bytes).
 * Errors: LORAWAN_E_PARAM, LORAWAN_E_RANGE (24-bit or 4-bit fields too large),
 * LORAWAN_E_BUF. */
int lorawan_join_accept_encode(const lorawan_join_accept_t *in, uint8_t *out, size_t cap,
                               size_t *out_len);

/* ---- Crypto (crypto.c) ----------------------------------------------------------------- */

/* A cached AES-128 key: the expanded key schedule (inside an OpenSSL ECB context, which
 * uses AES-NI where available) and the RFC 4493 CMAC subkeys K1 and K2. Initialise once per
 * key and reuse for every message, so a MIC costs only its AES blocks. A key object may be
 * used by one thread at a time. */
typedef struct lorawan_key {
    void *ecb; /* EVP_CIPHER_CTX *, owned */
    uint8_t k1[16];
    uint8_t k2[16];
} lorawan_key_t;

/* Expands `key` (16 bytes) into *k. The raw key is not kept. Errors: LORAWAN_E_PARAM,
 * LORAWAN_E_CRYPTO (OpenSSL could not allocate or set the key). On error *k needs no
 * destroy. */
int lorawan_key_init(lorawan_key_t *k, const uint8_t key[LORAWAN_KEY_LEN]);

/* Frees the cipher context and wipes the subkeys. Accepts a zeroed or destroyed key. */
void lorawan_key_destroy(lorawan_key_t *k);

/* One AES-128 block encryption (ECB) with a cached key. in and out may alias. */
void lorawan_aes_encrypt(const lorawan_key_t *k, const uint8_t in[16], uint8_t out[16]);

/* RFC 4493 AES-CMAC over head[0..head_len) | msg[0..len) (head may be NULL with
 * head_len 0; it carries the B0/B1 block). Full 16-byte tag to out. */
void lorawan_cmac(const lorawan_key_t *k, const uint8_t *head, size_t head_len, const uint8_t *msg,
                  size_t len, uint8_t out[16]);

/* Data-frame MICs. `msg` is the frame without its MIC (MHDR | MACPayload), at least
 * LORAWAN_DATA_MIN_LEN - 4 bytes and at most 251; DevAddr and the ACK bit are read from
 * it. `fcnt` is the full 32-bit counter. Errors: LORAWAN_E_PARAM, LORAWAN_E_SHORT,
 * LORAWAN_E_LONG. */

/* LoRaWAN 1.0.4 §4.4: uplink MIC = CMAC(NwkSKey, B0 | msg)[0..3]. */
int lorawan_mic_data_up_10(const lorawan_key_t *nwk_s_key, const uint8_t *msg, size_t len,
                           uint32_t fcnt, uint8_t mic[LORAWAN_MIC_LEN]);

/* LoRaWAN 1.1 §4.4: uplink MIC = cmacS[0..1] | cmacF[0..1] with B1 (ConfFCnt, TxDr,
 * TxCh) under SNwkSIntKey and B0 under FNwkSIntKey. ConfFCnt is used only when the
 * frame's ACK bit is set (it is then the FCntDown of the acknowledged downlink, mod 2^16);
 * otherwise 0 is used whatever `conf_fcnt` says. */
int lorawan_mic_data_up_11(const lorawan_key_t *f_nwk_s_int_key,
                           const lorawan_key_t *s_nwk_s_int_key, const uint8_t *msg, size_t len,
                           uint32_t fcnt, uint32_t conf_fcnt, uint8_t tx_dr, uint8_t tx_ch,
                           uint8_t mic[LORAWAN_MIC_LEN]);

/* LoRaWAN 1.0.4 §4.4 / 1.1 §4.4: downlink MIC = CMAC(key, B0 | msg)[0..3], key NwkSKey
 * (1.0) or SNwkSIntKey (1.1). ConfFCnt (1.1: the acknowledged uplink's FCntUp) is used only
 * when the frame's ACK bit is set; 1.0 callers pass 0. */
int lorawan_mic_data_down(const lorawan_key_t *key, const uint8_t *msg, size_t len, uint32_t fcnt,
                          uint32_t conf_fcnt, uint8_t mic[LORAWAN_MIC_LEN]);

/* LoRaWAN 1.1 §6.2.2 / §6.2.4.x: join-request and rejoin-request MIC = CMAC(key, msg)[0..3]
 * where msg is the frame without MIC. Key: AppKey (1.0), NwkKey (1.1 join-request),
 * SNwkSIntKey (rejoin 0 and 2), JSIntKey (rejoin 1). Errors: LORAWAN_E_PARAM. */
int lorawan_mic_join_request(const lorawan_key_t *key, const uint8_t *msg, size_t len,
                             uint8_t mic[LORAWAN_MIC_LEN]);

/* LoRaWAN 1.0.4 §6.2.5: join-accept MIC = CMAC(AppKey, plain)[0..3] where plain is MHDR |
 * fields | [CFList] (12 or 28 bytes, no MIC). Also 1.1 with OptNeg = 0 (key NwkKey). */
int lorawan_mic_join_accept_10(const lorawan_key_t *key, const uint8_t *plain, size_t len,
                               uint8_t mic[LORAWAN_MIC_LEN]);

/* LoRaWAN 1.1 §6.2.3: join-accept MIC with OptNeg = 1:
 * CMAC(JSIntKey, JoinReqType | JoinEUI | DevNonce | plain)[0..3]; join_req_type is
 * LORAWAN_JOIN_REQ_TYPE_JOIN or the rejoin type, dev_nonce the DevNonce or RJcount. */
int lorawan_mic_join_accept_11(const lorawan_key_t *js_int_key, uint8_t join_req_type,
                               uint64_t join_eui, uint16_t dev_nonce, const uint8_t *plain,
                               size_t len, uint8_t mic[LORAWAN_MIC_LEN]);

/* Compares a computed MIC with the last 4 bytes of `phy` in constant time. Returns 0 or
 * LORAWAN_E_MIC (LORAWAN_E_SHORT when len < 4). */
int lorawan_mic_check(const uint8_t mic[LORAWAN_MIC_LEN], const uint8_t *phy, size_t len);

/* LoRaWAN 1.0.4 §6.2.5: decrypts a join-accept as on the air (17 or 33 bytes): out gets
 * MHDR | AES-encrypt(key, phy[1..]) (the network "encrypts" with AES decrypt), so out is
 * the plaintext including MIC, ready for lorawan_join_accept_parse(). out may equal phy.
 * Key: AppKey (1.0), NwkKey (1.1 join), JSEncKey (1.1 rejoin). Errors: LORAWAN_E_PARAM,
 * LORAWAN_E_JA_LEN, LORAWAN_E_BUF. */
int lorawan_join_accept_decrypt(const lorawan_key_t *key, const uint8_t *phy, size_t len,
                                uint8_t *out, size_t cap);

/* The network side: out gets MHDR | AES-decrypt(key, plain[1..]) for a plaintext
 * join-accept with MIC (17 or 33 bytes). Builds a decryption key schedule per call (join
 * traffic is not a hot path). Errors: LORAWAN_E_PARAM, LORAWAN_E_JA_LEN, LORAWAN_E_BUF,
 * LORAWAN_E_CRYPTO. */
int lorawan_join_accept_encrypt(const uint8_t key[LORAWAN_KEY_LEN], const uint8_t *plain,
                                size_t len, uint8_t *out, size_t cap);

/* LoRaWAN 1.0.4 §4.3.3: FRMPayload encryption, out = in XOR S with A_i blocks. The same call
 * decrypts. in and out may alias. Key: AppSKey for FPort 1..255, NwkSKey (1.0) or
 * NwkSEncKey (1.1) for FPort 0. `fcnt` is the full 32-bit counter (AFCntDown or
 * NFCntDown for 1.1 downlinks). */
void lorawan_payload_encrypt(const lorawan_key_t *key, bool downlink, uint32_t dev_addr,
                             uint32_t fcnt, const uint8_t *in, size_t len, uint8_t *out);

/* LoRaWAN 1.1 §4.3.1.6 with the FOpts errata: FOpts encryption with NwkSEncKey,
 * A = 01 | 00 00 00 | (02 if a_fcnt_down else 01) | Dir | DevAddr | FCnt | 00 | 01.
 * a_fcnt_down is true for a downlink with FPort > 0 (fcnt is then AFCntDown). The same call
 * decrypts. Errors: LORAWAN_E_PARAM, LORAWAN_E_LONG (len > 15). */
int lorawan_fopts_encrypt(const lorawan_key_t *nwk_s_enc_key, bool downlink, bool a_fcnt_down,
                          uint32_t dev_addr, uint32_t fcnt, const uint8_t *in, size_t len,
                          uint8_t *out);

/* LoRaWAN 1.0.4 §6.2.5: NwkSKey = AES(AppKey, 01 | JoinNonce | NetID | DevNonce | pad) and
 * AppSKey with 02. Either output may be NULL. Errors: LORAWAN_E_PARAM. */
int lorawan_derive_keys_10(const lorawan_key_t *app_key, uint32_t join_nonce, uint32_t net_id,
                           uint16_t dev_nonce, uint8_t nwk_s_key[LORAWAN_KEY_LEN],
                           uint8_t app_s_key[LORAWAN_KEY_LEN]);

/* LoRaWAN 1.1 §6.2.3 session keys. */
typedef struct lorawan_keys_11 {
    uint8_t f_nwk_s_int_key[LORAWAN_KEY_LEN];
    uint8_t s_nwk_s_int_key[LORAWAN_KEY_LEN];
    uint8_t nwk_s_enc_key[LORAWAN_KEY_LEN];
    uint8_t app_s_key[LORAWAN_KEY_LEN];
} lorawan_keys_11_t;

/* LoRaWAN 1.1 §6.2.3: FNwkSIntKey (01), SNwkSIntKey (03), NwkSEncKey (04) from NwkKey and
 * AppSKey (02) from AppKey, over JoinNonce | JoinEUI | DevNonce | pad. */
int lorawan_derive_keys_11(const lorawan_key_t *nwk_key, const lorawan_key_t *app_key,
                           uint32_t join_nonce, uint64_t join_eui, uint16_t dev_nonce,
                           lorawan_keys_11_t *out);

/* LoRaWAN 1.1 §6.2.2: JSIntKey = AES(NwkKey, 06 | DevEUI | pad), JSEncKey with 05. Either
 * output may be NULL. */
int lorawan_derive_js_keys(const lorawan_key_t *nwk_key, uint64_t dev_eui,
                           uint8_t js_int_key[LORAWAN_KEY_LEN],
                           uint8_t js_enc_key[LORAWAN_KEY_LEN]);

/* RFC 3394 AES key wrap with the default IV A6A6A6A6A6A6A6A6, KEK of 16, 24 or 32 bytes,
 * `len` a multiple of 8 and at least 16. out receives len + 8 bytes. Uses OpenSSL's
 * id-aesNNN-wrap. Errors: LORAWAN_E_PARAM, LORAWAN_E_BUF, LORAWAN_E_CRYPTO. */
int lorawan_key_wrap(const uint8_t *kek, size_t kek_len, const uint8_t *in, size_t len,
                     uint8_t *out, size_t cap, size_t *out_len);

/* RFC 3394 unwrap; out receives len - 8 bytes. Errors: LORAWAN_E_PARAM, LORAWAN_E_BUF,
 * LORAWAN_E_UNWRAP (integrity check failed: wrong KEK or altered data). */
int lorawan_key_unwrap(const uint8_t *kek, size_t kek_len, const uint8_t *in, size_t len,
                       uint8_t *out, size_t cap, size_t *out_len);

/* Reconstructs a 32-bit frame counter from its 16 wire bits (LoRaWAN 1.0.4 §4.3.1.5): the
 * smallest value >= `last` whose low 16 bits are fcnt16, so a retransmission of `last`
 * gives `last` and 0xffff -> 0x0000 carries into the high half. `last` is the last
 * counter seen (or 0 when none). Errors: LORAWAN_E_FCNT when the result would pass
 * 2^32 - 1. */
int lorawan_fcnt_expand(uint32_t last, uint16_t fcnt16, uint32_t *out);

/* ---- MAC commands (mac.c) -------------------------------------------------------------- */

/* LoRaWAN 1.0.4 §5 and 1.1 §5, Class B §13 (1.0.4) / §14 (1.1): CIDs. */
typedef enum lorawan_cid {
    LORAWAN_CID_RESET = 0x01,
    LORAWAN_CID_LINK_CHECK = 0x02,
    LORAWAN_CID_LINK_ADR = 0x03,
    LORAWAN_CID_DUTY_CYCLE = 0x04,
    LORAWAN_CID_RX_PARAM_SETUP = 0x05,
    LORAWAN_CID_DEV_STATUS = 0x06,
    LORAWAN_CID_NEW_CHANNEL = 0x07,
    LORAWAN_CID_RX_TIMING_SETUP = 0x08,
    LORAWAN_CID_TX_PARAM_SETUP = 0x09,
    LORAWAN_CID_DL_CHANNEL = 0x0a,
    LORAWAN_CID_REKEY = 0x0b,
    LORAWAN_CID_ADR_PARAM_SETUP = 0x0c,
    LORAWAN_CID_DEVICE_TIME = 0x0d,
    LORAWAN_CID_FORCE_REJOIN = 0x0e,
    LORAWAN_CID_REJOIN_PARAM_SETUP = 0x0f,
    LORAWAN_CID_PING_SLOT_INFO = 0x10,
    LORAWAN_CID_PING_SLOT_CHANNEL = 0x11,
    LORAWAN_CID_BEACON_TIMING = 0x12, /* deprecated since 1.0.3 Class B, still decoded */
    LORAWAN_CID_BEACON_FREQ = 0x13,
    LORAWAN_CID_DEVICE_MODE = 0x20,
} lorawan_cid_t;

/* One MAC command. `uplink` is the direction (true: device to network, the ...Req/...Ind
 * a device sends and the ...Ans it answers with). Which union member is valid depends on
 * (cid, uplink); commands without payload use none. Fields are host values: frequencies
 * in Hz (the wire carries Hz / 100), margins signed. */
typedef struct lorawan_mac_cmd {
    uint8_t cid;
    bool uplink;
    union {
        struct {
            uint8_t minor;
        } reset, rekey; /* ResetInd/Conf, RekeyInd/Conf */
        struct {
            uint8_t margin;
            uint8_t gw_cnt;
        } link_check_ans;
        struct {
            uint8_t data_rate;
            uint8_t tx_power;
            uint16_t ch_mask;
            uint8_t ch_mask_cntl;
            uint8_t nb_trans;
        } link_adr_req;
        struct {
            bool power_ack;
            bool data_rate_ack;
            bool channel_mask_ack;
        } link_adr_ans;
        struct {
            uint8_t max_duty_cycle;
        } duty_cycle_req;
        struct {
            uint8_t rx1_dr_offset;
            uint8_t rx2_data_rate;
            uint32_t frequency_hz;
        } rx_param_setup_req;
        struct {
            bool rx1_dr_offset_ack;
            bool rx2_data_rate_ack;
            bool channel_ack;
        } rx_param_setup_ans;
        struct {
            uint8_t battery;
            int8_t margin; /* -32..31 */
        } dev_status_ans;
        struct {
            uint8_t ch_index;
            uint32_t frequency_hz;
            uint8_t max_dr;
            uint8_t min_dr;
        } new_channel_req;
        struct {
            bool data_rate_range_ok;
            bool channel_frequency_ok;
        } new_channel_ans;
        struct {
            uint8_t delay;
        } rx_timing_setup_req;
        struct {
            bool downlink_dwell_time;
            bool uplink_dwell_time;
            uint8_t max_eirp_index;
        } tx_param_setup_req;
        struct {
            uint8_t ch_index;
            uint32_t frequency_hz;
        } dl_channel_req;
        struct {
            bool uplink_frequency_exists;
            bool channel_frequency_ok;
        } dl_channel_ans;
        struct {
            uint8_t limit_exp;
            uint8_t delay_exp;
        } adr_param_setup_req;
        struct {
            uint32_t gps_seconds;
            uint8_t fractional_256ths;
        } device_time_ans;
        struct {
            uint8_t period;
            uint8_t max_retries;
            uint8_t rejoin_type;
            uint8_t data_rate;
        } force_rejoin_req;
        struct {
            uint8_t max_time_n;
            uint8_t max_count_n;
        } rejoin_param_setup_req;
        struct {
            bool time_ok;
        } rejoin_param_setup_ans;
        struct {
            uint8_t periodicity;
        } ping_slot_info_req;
        struct {
            uint32_t frequency_hz;
            uint8_t data_rate;
        } ping_slot_channel_req;
        struct {
            bool data_rate_ok;
            bool channel_frequency_ok;
        } ping_slot_channel_ans;
        struct {
            uint16_t delay;
            uint8_t channel;
        } beacon_timing_ans;
        struct {
            uint32_t frequency_hz;
        } beacon_freq_req;
        struct {
            bool beacon_frequency_ok;
        } beacon_freq_ans;
        struct {
            uint8_t device_class; /* 0 = class A, 2 = class C (1 is RFU) */
        } device_mode;            /* DeviceModeInd / DeviceModeConf */
    } u;
} lorawan_mac_cmd_t;

/* Kinds of MAC-command fields, for generic tools (JSON, CLI) that walk the field table. */
typedef enum lorawan_mac_field_kind {
    LORAWAN_MAC_FIELD_UINT = 0,
    LORAWAN_MAC_FIELD_BOOL,
    LORAWAN_MAC_FIELD_INT,   /* two's complement on the wire */
    LORAWAN_MAC_FIELD_FREQ,  /* Hz in the struct, Hz / 100 on the wire */
    LORAWAN_MAC_FIELD_CLASS, /* device class: 0 'A', 2 'C' */
} lorawan_mac_field_kind_t;

/* One field of a command's payload: where it sits on the wire (a little-endian integer of
 * `wire_bytes` bytes at `wire_off`, then `width` bits from bit `shift`) and in the struct. */
typedef struct lorawan_mac_field {
    const char *name; /* snake_case, as in the vectors README */
    lorawan_mac_field_kind_t kind;
    uint8_t wire_off;
    uint8_t wire_bytes;
    uint8_t shift;
    uint8_t width;
    uint16_t member_off; /* offsetof(lorawan_mac_cmd_t, ...) */
    uint8_t member_size;
} lorawan_mac_field_t;

/* Describes command (cid, uplink): its name ("LinkADRReq"), payload length and fields.
 * Returns 0, or LORAWAN_E_CID when the CID is unknown or not defined in that direction
 * (ForceRejoinReq has no uplink twin). Any output may be NULL. */
int lorawan_mac_cmd_info(uint8_t cid, bool uplink, const char **name, size_t *payload_len,
                         const lorawan_mac_field_t **fields, size_t *n_fields);

/* Finds a command by its name ("DevStatusAns"); sets *cid and *uplink. Returns 0 or
 * LORAWAN_E_CID. */
int lorawan_mac_cmd_by_name(const char *name, uint8_t *cid, bool *uplink);

/* Reads / writes one field of `cmd` as a 64-bit integer (bools 0/1, classes 0/2).
 * lorawan_mac_field_set checks the value fits the wire field: LORAWAN_E_RANGE otherwise. */
int64_t lorawan_mac_field_get(const lorawan_mac_cmd_t *cmd, const lorawan_mac_field_t *f);
int lorawan_mac_field_set(lorawan_mac_cmd_t *cmd, const lorawan_mac_field_t *f, int64_t v);

/* Appends the encoding (CID | payload) of each of cmds[0..n) to out[0..cap). Writes
 * *out_len. Errors: LORAWAN_E_PARAM, LORAWAN_E_CID, LORAWAN_E_RANGE (a field does not fit
 * its wire bits, a frequency not a multiple of 100 Hz), LORAWAN_E_BUF; on error *out_len
 * is the length of the commands fully written before the failing one. */
int lorawan_mac_cmds_encode(const lorawan_mac_cmd_t *cmds, size_t n, uint8_t *out, size_t cap,
                            size_t *out_len);

/* Parses a FOpts field or an FPort 0 FRMPayload (plaintext) in direction `uplink` into
 * out[0..cap), in order. Writes *n_out (commands decoded) and *consumed (bytes consumed by
 * them) in every case, so on error *consumed is the offset of the failing CID.
 * RFU bits are ignored (LoRaWAN 1.0.4 §5). Errors: LORAWAN_E_PARAM, LORAWAN_E_CID (unknown
 * CID, or not defined in that direction: everything after it is unreadable),
 * LORAWAN_E_MAC_SHORT (the payload of the last command is cut), LORAWAN_E_MAC_COUNT. */
int lorawan_mac_cmds_decode(const uint8_t *buf, size_t len, bool uplink, lorawan_mac_cmd_t *out,
                            size_t cap, size_t *n_out, size_t *consumed);

/* ---- Hex (hex.c) ----------------------------------------------------------------------- */

/* Decodes a hex string (upper or lower case, even length, no separators) of exactly
 * `hex_len` characters into out. Errors: LORAWAN_E_HEX, LORAWAN_E_BUF. */
int lorawan_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t cap, size_t *out_len);

/* Writes 2 * len lowercase hex digits and a NUL to out (cap >= 2 * len + 1). Errors:
 * LORAWAN_E_BUF. */
int lorawan_hex_encode(const uint8_t *buf, size_t len, char *out, size_t cap);

#include "lorawan/band.h"

#endif
