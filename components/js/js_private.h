/* The Join Server's insides, for its own files and tests.
 *
 *   join.c       pure: the join-request rules (MIC, DevNonce, JoinNonce), session keys, the
 *                join-accept; no I/O, clock or allocation (lorawan_key_init's OpenSSL
 *                context aside, released before return)
 *   bi_codec.c   Backend Interfaces JSON: requests decoded into structs with every field
 *                checked, answers encoded (jansson)
 *   bi.c         the Backend Interfaces listener: tenant lookup, the device row, one
 *                transaction per join, answers and events
 *   device.c     the JS device API on the main listener
 *   component.c  configuration and lifecycle */
#ifndef JS_JS_PRIVATE_H
#define JS_JS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cluster/err.h"
#include "lorawan/lorawan.h"

/* Errors of the Join Server (errors.def). */
#define LW_ERR_DEF(name, ns, http, grpc, fmt) LW_ERR_DECLARE(name);
#include "js/errors.def"
#undef LW_ERR_DEF

/* ---- join.c: the join-request rules (pure) ---------------------------------------------- */

/* The LoRaWAN MAC version the Network Server selected (Backend Interfaces MACVersion). */
typedef enum js_mac_version {
    JS_MAC_V1_0 = 0,
    JS_MAC_V1_0_1,
    JS_MAC_V1_0_2,
    JS_MAC_V1_0_3,
    JS_MAC_V1_0_4,
    JS_MAC_V1_1,
} js_mac_version_t;

/* "1.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.1" (Backend Interfaces spelling; TTS's
 * MAC_V1_0_3 style is accepted too). Returns 0, or -1 for anything else. */
int js_mac_version_parse(const char *s, js_mac_version_t *out);
/* The Backend Interfaces spelling ("1.0.3"); "" for an unknown value. */
const char *js_mac_version_name(js_mac_version_t v);
/* LoRaWAN 1.0.4 §6.2.5 and 1.1 §6.2.5: DevNonce is a counter from these versions on; before
 * them a random value that must not repeat. */
bool js_mac_dev_nonce_counts(js_mac_version_t v);

/* How many used DevNonces a device keeps at most (1.0.0-1.0.3; js.dev-nonce-limit). */
#define JS_DEV_NONCE_LIMIT_MAX 1024u
/* LoRaWAN 1.1 §6.2.3: JoinNonce is 24 bits and never wraps. */
#define JS_JOIN_NONCE_MAX 0xffffffu

/* Results of js_join; names as The Things Stack's Join Server errors (js_join_strerror). */
enum js_join_err {
    JS_JOIN_OK = 0,
    JS_JOIN_E_PARAM = -1,            /* NULL or out-of-range argument */
    JS_JOIN_E_PAYLOAD = -2,          /* "decode_payload": not a join-request */
    JS_JOIN_E_MIC = -3,              /* "mic_mismatch" */
    JS_JOIN_E_DEV_NONCE_REUSED = -4, /* "reuse_dev_nonce" (1.0.0-1.0.3) */
    JS_JOIN_E_DEV_NONCE_SMALL = -5,  /* "dev_nonce_too_small" (1.0.4, 1.1) */
    JS_JOIN_E_JOIN_NONCE_HIGH = -6,  /* "join_nonce_too_high": 2^24 - 1 used */
    JS_JOIN_E_NO_APP_KEY = -7,       /* "no_app_key" */
    JS_JOIN_E_NO_NWK_KEY = -8,       /* "no_nwk_key" (1.1) */
    JS_JOIN_E_NET_ID = -9,           /* "net_id_mismatch": the device belongs to another NetID */
    JS_JOIN_E_ENCODE = -10,          /* "encode_payload": DLSettings/RxDelay/CFList invalid */
    JS_JOIN_E_CRYPTO = -11,          /* "crypto": OpenSSL failed */
};
/* The stable name of a js_join result ("mic_mismatch"), "ok" for 0. Never NULL. */
const char *js_join_strerror(int err);
/* A sentence for people ("DevNonce has already been used"). Never NULL, never a secret. */
const char *js_join_message(int err);

/* What the Join Server remembers of a device's joins (persisted with every JoinAns). */
typedef struct js_nonces {
    uint32_t last_dev_nonce;  /* 1.0.4 and 1.1: the last accepted DevNonce */
    uint32_t last_join_nonce; /* the last JoinNonce sent (0: none yet) */
    size_t n_used;            /* 1.0.0-1.0.3: used DevNonces, oldest first */
    uint16_t used[JS_DEV_NONCE_LIMIT_MAX];
} js_nonces_t;

/* The device as the Join Server has it. */
typedef struct js_dev {
    bool has_app_key, has_nwk_key;
    uint8_t app_key[LORAWAN_KEY_LEN];
    uint8_t nwk_key[LORAWAN_KEY_LEN];
    bool resets_join_nonces; /* DevNonces may repeat (a device that forgets its counter) */
    bool has_net_id;         /* the device is bound to this NetID */
    uint32_t net_id;
    size_t dev_nonce_limit; /* 1..JS_DEV_NONCE_LIMIT_MAX */
} js_dev_t;

/* A JoinReq's parts the join-accept is built from. */
typedef struct js_join_req {
    const uint8_t *phy; /* the join-request PHYPayload (23 bytes) */
    size_t phy_len;
    js_mac_version_t mac_version;
    uint32_t net_id;       /* the requesting network (SenderID) */
    uint32_t dev_addr;     /* chosen by the NS */
    uint8_t dl_settings;   /* as the NS asks; OptNeg (bit 7) follows mac_version */
    uint8_t rx_delay;      /* 0..15 */
    const uint8_t *cflist; /* NULL or LORAWAN_CFLIST_LEN bytes */
} js_join_req_t;

/* A join's outcome. With lorawan_11 (1.1 device, OptNeg set) the four 1.1 session keys are
 * set; otherwise f_nwk_s_int_key is the 1.0 NwkSKey and app_s_key the AppSKey. */
typedef struct js_join_ans {
    uint64_t join_eui, dev_eui;
    uint16_t dev_nonce;
    uint32_t join_nonce;
    bool lorawan_11;
    uint8_t phy[LORAWAN_JOIN_ACCEPT_CFLIST_LEN]; /* the encrypted join-accept */
    size_t phy_len;
    uint8_t f_nwk_s_int_key[LORAWAN_KEY_LEN];
    uint8_t s_nwk_s_int_key[LORAWAN_KEY_LEN];
    uint8_t nwk_s_enc_key[LORAWAN_KEY_LEN];
    uint8_t app_s_key[LORAWAN_KEY_LEN];
} js_join_ans_t;

/* Handles one join-request for `dev`: checks the MIC (AppKey for 1.0.x, or NwkKey when the
 * device has one, as LoRaWAN 1.1 §6.1.1.3 for a 1.1 device on a 1.0 network; NwkKey for
 * 1.1), the DevNonce rule of req->mac_version against *nonces (unless
 * dev->resets_join_nonces), takes the next JoinNonce, derives the session keys and builds
 * the encrypted join-accept (LoRaWAN 1.1 with OptNeg: MIC under JSIntKey). On success
 * *nonces holds the new state to persist and *ans the answer; on error neither is changed
 * in a way that matters (*ans unspecified, *nonces untouched). Returns JS_JOIN_OK or a
 * JS_JOIN_E_* code. */
int js_join(const js_join_req_t *req, const js_dev_t *dev, js_nonces_t *nonces, js_join_ans_t *ans);

/* Reads the JoinEUI and DevEUI of a join-request (to find its device) without checking
 * its MIC. Returns 0, or JS_JOIN_E_PAYLOAD when phy is not a join-request. */
int js_join_request_peek(const uint8_t *phy, size_t len, lorawan_join_request_t *out);

/* A key envelope: RFC 3394 wrap of a 16-byte key under kek (16, 24 or 32 bytes) into 24
 * bytes, and back. Returns 0, or JS_JOIN_E_CRYPTO (wrap) / JS_JOIN_E_PARAM (unwrap: wrong KEK
 * or altered data). */
#define JS_WRAPPED_KEY_LEN 24u
int js_key_wrap(const uint8_t *kek, size_t kek_len, const uint8_t key[LORAWAN_KEY_LEN],
                uint8_t out[JS_WRAPPED_KEY_LEN]);
int js_key_unwrap(const uint8_t *kek, size_t kek_len, const uint8_t in[JS_WRAPPED_KEY_LEN],
                  uint8_t key[LORAWAN_KEY_LEN]);

/* ---- bi_codec.c: Backend Interfaces JSON -------------------------------------------------- */

/* Backend Interfaces 1.0 §10 / 1.1 §10 ResultCode values used here. */
#define JS_BI_SUCCESS               "Success"
#define JS_BI_MIC_FAILED            "MICFailed"
#define JS_BI_JOIN_REQ_FAILED       "JoinReqFailed"
#define JS_BI_ACTIVATION_DISALLOWED "ActivationDisallowed"
#define JS_BI_UNKNOWN_DEV_EUI       "UnknownDevEUI"
#define JS_BI_INVALID_PROTOCOL      "InvalidProtocolVersion"
#define JS_BI_FRAME_SIZE_ERROR      "FrameSizeError"
#define JS_BI_OTHER                 "Other"
/* The Things Stack's interop server answers a caller it cannot authenticate with
 * UnknownSender (pkg/interop ErrUnknownSender), in 1.0 and 1.1. */
#define JS_BI_UNKNOWN_SENDER "UnknownSender"
/* MalformedRequest in 1.0, MalformedMessage in 1.1 (js_bi_malformed). */

typedef enum js_bi_type {
    JS_BI_JOIN_REQ = 0,
    JS_BI_APP_S_KEY_REQ,
    JS_BI_HOME_NS_REQ,
} js_bi_type_t;

/* Tokens are opaque hex; Backend Interfaces gives no bound, this JS keeps 64 bytes. */
#define JS_BI_TOKEN_MAX 64u
#define JS_BI_ID_MAX    64u

/* The header of a request, and what its answer echoes. */
typedef struct js_bi_header {
    bool v11; /* ProtocolVersion "1.1" (else "1.0") */
    uint32_t transaction_id;
    js_bi_type_t type;
    char sender_id[JS_BI_ID_MAX + 1];   /* as sent (a NetID for an NS, an AS-ID for an AS) */
    char receiver_id[JS_BI_ID_MAX + 1]; /* as sent (a JoinEUI) */
    bool has_sender_nsid;
    uint64_t sender_nsid;
    uint8_t sender_token[JS_BI_TOKEN_MAX];
    size_t sender_token_len;
    bool has_sender_token;
    uint8_t receiver_token[JS_BI_TOKEN_MAX];
    size_t receiver_token_len;
    bool has_receiver_token;
} js_bi_header_t;

typedef struct js_bi_request {
    js_bi_header_t h;
    uint64_t join_eui; /* ReceiverID */
    uint64_t dev_eui;  /* DevEUI */
    /* JoinReq */
    uint32_t net_id; /* SenderID */
    js_mac_version_t mac_version;
    uint8_t phy[LORAWAN_PHY_MAX_LEN];
    size_t phy_len;
    uint32_t dev_addr;
    uint8_t dl_settings;
    uint8_t rx_delay;
    bool has_cflist;
    uint8_t cflist[LORAWAN_CFLIST_LEN];
    /* HomeNSReq: net_id, join_eui (ReceiverID), dev_eui */
    /* AppSKeyReq */
    uint8_t session_key_id[JS_BI_TOKEN_MAX];
    size_t session_key_id_len;
} js_bi_request_t;

/* Why a request was refused before its device was looked at. */
typedef struct js_bi_refusal {
    bool header_ok;          /* the answer can carry a header (else: 400 with Result only) */
    const char *result_code; /* "MalformedRequest", "InvalidProtocolVersion", ... */
    char description[200];   /* names the field; never a key */
} js_bi_refusal_t;

/* Decodes a request body (a JSON object). Returns 0 with *out filled, or -1 with *why.
 * Checks every field the message type needs: hex, lengths, EUIs, NetID, MACVersion, DevAddr,
 * DLSettings (1 byte), RxDelay (0..15), CFList (16 bytes), PHYPayload (a 23-byte
 * join-request whose JoinEUI is ReceiverID and DevEUI is DevEUI). */
int js_bi_decode(const json_t *body, js_bi_request_t *out, js_bi_refusal_t *why);

/* MalformedRequest (Backend Interfaces 1.0) or MalformedMessage (1.1). */
const char *js_bi_malformed(bool v11);

/* The answer header for h (ProtocolVersion, TransactionID, MessageType, SenderID /
 * ReceiverID swapped, tokens swapped, ReceiverNSID = the request's SenderNSID) and a Result
 * (description may be NULL). New reference. */
json_t *js_bi_answer(const js_bi_request_t *req, const char *result_code, const char *description);

/* Sets `name` to {"KEKLabel": label, "AESKey": hex} on obj: the key wrapped under kek when
 * label is non-empty, else the key in clear (a trusted local link). Returns 0 or -1. */
int js_bi_key_envelope(json_t *obj, const char *name, const char *label, const uint8_t *kek,
                       size_t kek_len, const uint8_t key[LORAWAN_KEY_LEN]);

/* Uppercase hex of buf into out (cap >= 2 * len + 1). */
void js_hex_upper(const uint8_t *buf, size_t len, char *out);

/* ---- bi_codec.c: who may call (js.bi.tokens.<sender>, js.bi.allow-unauthenticated) -------- */

/* RFC 6750 §2.1: a Bearer token is a b64token (letters, digits, "-._~+/", then "="s); this
 * JS takes 1..JS_BI_BEARER_MAX of them. */
#define JS_BI_BEARER_MAX  256u
#define JS_BI_SENDERS_MAX 64u
#define JS_BI_SHA256_LEN  32u

/* A sender that may call, and the SHA-256 of its token: a request's token is hashed and
 * the digests compared with CRYPTO_memcmp, so neither its bytes nor its length leak
 * through timing, and the token itself is not kept. */
typedef struct js_bi_sender {
    char id[JS_BI_ID_MAX + 1]; /* lowercase: a NetID as six hex digits, or an AS-ID */
    uint8_t token_sha256[JS_BI_SHA256_LEN];
} js_bi_sender_t;

/* Is token a valid Bearer token (RFC 6750 b64token, 1..JS_BI_BEARER_MAX characters)?
 * Returns 0, or -1 with why (never the token). */
int js_bi_token_check(const char *token, char *why, size_t why_len);
/* Fills *out for sender id (as configured: js.bi.tokens.<id>; lowercased; a NetID may be
 * written in either case) with token. Returns 0, or -1 when id is empty or longer than
 * JS_BI_ID_MAX or the token is invalid. */
int js_bi_sender_init(js_bi_sender_t *out, const char *id, const char *token);
/* The token of an Authorization header value: "Bearer" (any case, RFC 7235 §2.1), one or
 * more spaces, the token, optional trailing spaces. Returns 0 with *token pointing into
 * value and *len its length, or -1 when value is no Bearer credential (another scheme, no
 * token, a space or other character a b64token cannot hold). */
int js_bi_bearer_parse(const char *value, const char **token, size_t *len);
/* The id a request's sender is configured under: for JoinReq and HomeNSReq its NetID as
 * six lowercase hex digits (however it was spelled), for AppSKeyReq its AS-ID lowercased.
 * And the same for people (the NetID in uppercase, the AS-ID as sent). */
void js_bi_sender_key(const js_bi_request_t *r, char key[JS_BI_ID_MAX + 1],
                      char shown[JS_BI_ID_MAX + 1]);

enum js_bi_auth {
    JS_BI_AUTH_OK = 0,        /* the sender's token */
    JS_BI_AUTH_ANONYMOUS = 1, /* no token checked, allowed by allow_unauthenticated */
    JS_BI_AUTH_REFUSED = -1,  /* *why says why */
};
/* Authenticates request r whose Authorization header is `authorization` (NULL: none)
 * against the configured senders:
 *  - a Bearer token equal to the token of the request's sender: JS_BI_AUTH_OK;
 *  - a wrong token for a configured sender: refused, whatever allow_unauthenticated says
 *    (a credential was given and it is wrong);
 *  - no Authorization, another scheme, or a sender without a token: refused, unless
 *    allow_unauthenticated (then JS_BI_AUTH_ANONYMOUS).
 * *why (why_len >= 100) is the answer's Description: "no Authorization", "Authorization is
 * not a Bearer token", "unknown sender 000013", "wrong token for sender 000013". */
int js_bi_authenticate(const js_bi_sender_t *senders, size_t n, bool allow_unauthenticated,
                       const js_bi_request_t *r, const char *authorization, char *why,
                       size_t why_len);

/* ---- the server (component.c, bi.c, device.c) --------------------------------------------- */

#include "cluster/api.h"
#include "cluster/runtime.h"
#include "tenant/tenant.h"

#define JS_KEK_MAX   32u /* AES-256 */
#define JS_KEKS_MAX  16u
#define JS_LABEL_MAX 64u
/* Session keys kept per device for AppSKeyReq (TTS js.session-key-limit). */
#define JS_SESSION_KEYS_KEPT 10

typedef struct js_kek {
    char label[JS_LABEL_MAX + 1];
    uint8_t key[JS_KEK_MAX];
    size_t len;
} js_kek_t;

typedef struct js {
    lw_rt_t *rt;
    lw_db_t *db;
    lw_bus_t *bus;
    tn_t *tn;
    lw_api_env_t env;
    lw_http_t *http; /* the Backend Interfaces listener */
    char listen[128];
    bool tls; /* js.tls.certificate set: HTTPS */
    /* js.key-encryption-key: root keys and stored AppSKeys at rest (has_root_kek false: none
     * set; devices with root keys cannot be written, joins fail with a named reason). */
    bool has_root_kek;
    js_kek_t root_kek;
    js_kek_t keks[JS_KEKS_MAX]; /* js.keks.<label> */
    size_t n_keks;
    char ns_kek_label[JS_LABEL_MAX + 1];       /* js.network-server-kek-label */
    char as_kek_label[JS_LABEL_MAX + 1];       /* js.application-server-kek-label */
    size_t dev_nonce_limit;                    /* js.dev-nonce-limit */
    js_bi_sender_t senders[JS_BI_SENDERS_MAX]; /* js.bi.tokens.<sender> */
    size_t n_senders;
    bool allow_unauthenticated; /* js.bi.allow-unauthenticated */
    /* lifecycle */
    int inflight;
    bool stopping;
    void (*stop_done)(void *arg);
    void *stop_arg;
    bool http_stopped;
    uv_timer_t free_timer; /* frees the listener once stopped, outside its own callbacks */
    /* metrics */
    lw_metric_t *m_joins;    /* lwstack_js_join_requests_total{result} */
    lw_metric_t *m_requests; /* lwstack_js_interop_requests_total{message_type,result} */
} js_t;

/* The KEK of `label` (NULL when not configured). */
const js_kek_t *js_kek_find(const js_t *js, const char *label);
/* The key-encryption keys of the configuration into js (js.key-encryption-key, js.keks.*,
 * the NS and AS KEK labels); the component's init and the device part (devpart.c) use it.
 * Returns 0, or -1 with config_invalid. */
int js_keys_load(js_t *js, const lw_config_t *cfg, lw_err_t *err);

/* ---- the device fields (devcodec.c): the API (device.c) and the device part ---------------- */

/* The writable fields: mask path → column. Key fields are wrapped; "root_keys" and
 * "root_keys.<x>_key" name their parts. */
typedef enum js_col_kind {
    JS_C_KEY = 0,
    JS_C_TEXT,
    JS_C_BOOL,
    JS_C_NET_ID,
    JS_C_UINT,
    JS_C_NONCES,
    JS_C_JSON
} js_col_kind_t;

typedef struct js_col {
    const char *path;
    const char *column;
    js_col_kind_t kind;
    long long max; /* JS_C_UINT */
} js_col_t;

#define JS_N_COLS 17
extern const js_col_t js_cols[JS_N_COLS];
/* Every path a device mask may name (NULL-terminated). */
extern const char *const js_mask_paths[];
/* Does mask m (normalised) select column c? A path selects itself, its parents and its
 * children ("root_keys" selects both keys). */
bool js_mask_selects(const lw_api_mask_t *m, const js_col_t *c);
bool js_mask_selects_keys(const lw_api_mask_t *m);
/* The SQL cast of a column's text parameter ("::integer", "" for text). */
const char *js_col_cast(const js_col_t *c);
/* The value of field c of end_device as a SQL text parameter (NULL for SQL NULL; malloc'd),
 * keys wrapped; or -1 with err naming "end_device.<path>". */
int js_col_value(const js_t *js, const js_col_t *c, const json_t *dev, char **out, lw_err_t *err);

/* The columns js_device_render reads, js_devices d JOIN end_devices e: js_cols' columns in
 * order, then created, updated, dev_eui, join_eui. */
#define JS_SEL_COLS                                                                                \
    "d.app_key, d.nwk_key, d.root_key_id, d.resets_join_nonces, d.net_id, "                        \
    "d.application_server_address, d.application_server_id, d.application_server_kek_label, "      \
    "d.network_server_address, d.network_server_kek_label, d.provisioner_id, "                     \
    "d.provisioning_data::text, d.last_dev_nonce, array_to_json(d.used_dev_nonces)::text, "        \
    "d.last_join_nonce, d.last_rj_count_0, d.last_rj_count_1, " LW_API_SQL_TIME(                   \
        "d.created_at") ", " LW_API_SQL_TIME("d.updated_at") ", e.dev_eui, e.join_eui"
#define JS_SEL_CREATED  JS_N_COLS
#define JS_SEL_UPDATED  (JS_N_COLS + 1)
#define JS_SEL_DEV_EUI  (JS_N_COLS + 2)
#define JS_SEL_JOIN_EUI (JS_N_COLS + 3)
/* Row `row` of a JS_SEL_COLS result as GET answers it: the fields of mask (NULL: all), root
 * keys unwrapped only with `keys`. */
json_t *js_device_render(const js_t *js, const PGresult *res, int row, const char *app_id,
                         const char *dev_id, const lw_api_mask_t *mask, bool keys);

/* An operation began / ended (the stop waits for none in flight). */
void js_inflight_add(js_t *js, int delta);

/* Publishes an event on lw.events in The Things Stack's shape for the device
 * (tenant, application, device, EUIs may be 0 when unknown); data may be NULL (reference
 * taken). */
void js_event_publish(js_t *js, const char *tenant_id, const char *name, const char *app_id,
                      const char *dev_id, uint64_t join_eui, uint64_t dev_eui, json_t *data,
                      const char *correlation_id);

/* bi.c: the Backend Interfaces listener's routes (POST on any path up to three segments). */
int js_bi_routes(js_t *js);
/* device.c: the JS device API routes on the main listener. */
int js_device_routes(js_t *js);

#endif
