/* The Application Server's private interface: its state, the contracts its parts share.
 * For the files of components/as and their unit tests only.
 *
 *   component.c  configuration table, lifecycle (the MQTT server and the formatters are
 *                started and stopped from here)
 *   errors.c     the error table (errors.def)
 *   api.c        /api/v3/as/... routes, rights (tenant/access.h)
 *   device.c     the AS part of end devices: GET/PUT/DELETE, field masks
 *   link.c       the application link: GET/PUT/DELETE, default formatters
 *   session.c    AppSKey unwrap (as.keks), keys at rest, FRMPayload crypto (pure part)
 *   uplink.c     the worker: lw.ns.up -> per-device FIFO -> formatter hook -> lw.as.up,
 *                offsets committed once the AsUp is delivered
 *   up_json.c    the ApplicationUp JSON encoder (pure: messages in, JSON out)
 *   downlink.c   the one downlink entry point (API, MQTT, webhooks), lw.as.down
 *   store.c      PostgreSQL: as_devices, as_links
 *   event.c      AS events on lw.events
 *   mqtt_*.c     the MQTT server (mqtt helper; mqtt_private.h)
 *   storage*.c   the Storage Integration (storage_private.h)
 *   fmt_*.c      payload formatters (fmt helper; fmt_private.h), plugged in through
 *                as_fmt_ops_t below
 *
 * Threads: everything here runs on the loop thread unless said otherwise. */
#ifndef AS_AS_PRIVATE_H
#define AS_AS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "as/as.h"
#include "cluster/api.h"
#include "cluster/bus.h"
#include "cluster/db.h"
#include "cluster/err.h"
#include "cluster/metrics.h"
#include "cluster/runtime.h"
#include "cluster/uid.h"
#include "lorawan/lorawan.h"
#include "messages/messages.h"
#include "tenant/ids.h"

/* Errors of the Application Server (errors.def). */
#define LW_ERR_DEF(name, ns, http, grpc, fmt) LW_ERR_DECLARE(name);
#include "as/errors.def"
#undef LW_ERR_DEF

/* ---- sizes --------------------------------------------------------------------------------- */

#define AS_KEKS_MAX      16u                   /* as.keks.<label> entries */
#define AS_LABEL_MAX     64u                   /* KEK label length */
#define AS_KEY_ID_MAX    16u                   /* session key IDs (TTS: 16 bytes or fewer) */
#define AS_DEV_KEY_MAX   (3u * TN_ID_MAX + 3u) /* "<tenant>/<application>/<device>" */
#define AS_FPORT_MAX     223u                  /* LoRaWAN 1.0.4 §4.3.2: 224+ are reserved */
#define AS_DOWNLINKS_MAX 16u                   /* items of one push/replace (NS queue capacity) */

typedef struct as as_t;

/* ---- keys ---------------------------------------------------------------------------------- */

/* A key-encryption key: as.keks.<label> (unwraps the AppSKeys the Join Server sends), or
 * as.key-encryption-key (wraps keys at rest, label as.key-encryption-key-label). */
typedef struct as_kek {
    char label[AS_LABEL_MAX + 1];
    uint8_t key[32];
    size_t len; /* 16, 24 or 32 */
} as_kek_t;

/* The KEK of label, the at-rest one included; NULL when unknown. */
const as_kek_t *as_kek_find(const as_t *as, const char *label);

/* ---- payload formatters: the hook the fmt module plugs into --------------------------------- */

/* TTS PayloadFormatter (api/messages.proto), by number. */
typedef enum as_fmt_type {
    AS_FMT_NONE = 0,
    AS_FMT_REPOSITORY = 1,
    AS_FMT_GRPC_SERVICE = 2,
    AS_FMT_JAVASCRIPT = 3,
    AS_FMT_CAYENNELPP = 4,
} as_fmt_type_t;

/* "FORMATTER_NONE" .. "FORMATTER_CAYENNELPP"; as_fmt_type_parse returns -1 when unknown
 * (numbers "0".."4" are accepted too, as TTS's JSON unmarshaler does). */
const char *as_fmt_type_name(as_fmt_type_t t);
int as_fmt_type_parse(const char *s, as_fmt_type_t *out);

typedef struct as_formatter {
    as_fmt_type_t type;
    const char *parameter; /* the script (JAVASCRIPT), "" otherwise; borrowed */
} as_formatter_t;

/* One uplink to decode (decodeUplink / Decoder, CayenneLPP, the repository's codec). The
 * core resolves the formatter: the device's formatters.up_formatter when not NONE, else the
 * link's default_formatters.up_formatter; with NONE the hook is not called at all. */
typedef struct as_fmt_uplink {
    const char *tenant_id, *app_id, *dev_id;
    as_formatter_t formatter;
    const json_t *version_ids; /* the device's {"brand_id", "model_id", ...}; NULL: none */
    uint8_t f_port;
    const uint8_t *frm_payload; /* decrypted */
    size_t frm_payload_len;
    const char *recv_time; /* RFC 3339, the uplink's received_at (decodeUplink recvTime) */
} as_fmt_uplink_t;

typedef struct as_fmt_uplink_result {
    /* Owned by the callee, valid during the callback; the core takes references. */
    json_t *decoded_payload;    /* an object (decodeUplink's data), NULL when none */
    json_t *warnings;           /* an array of strings, NULL when none */
    json_t *normalized_payload; /* an array (normalizeUplink), NULL when none */
    /* The formatter failed (threw, errors[], timed out, ran out of memory, no worker): the
     * uplink goes out with frm_payload only, warnings as given, and an
     * as.up.data.decode.fail event naming err. NULL: success. */
    const lw_err_t *err;
} as_fmt_uplink_result_t;

typedef void (*as_fmt_uplink_cb)(void *arg, const as_fmt_uplink_result_t *r);

/* One downlink to encode (encodeDownlink / Encoder, CayenneLPP). */
typedef struct as_fmt_downlink {
    const char *tenant_id, *app_id, *dev_id;
    as_formatter_t formatter; /* device's down_formatter, else the link's default */
    const json_t *version_ids;
    const json_t *decoded_payload; /* the API's decoded_payload object (encodeDownlink's data) */
    uint8_t f_port;                /* 0: not given by the caller */
} as_fmt_downlink_t;

typedef struct as_fmt_downlink_result {
    const uint8_t *frm_payload; /* valid during the callback */
    size_t frm_payload_len;
    uint8_t f_port;      /* the encoder's fPort; 0: keep the request's */
    json_t *warnings;    /* NULL when none */
    const lw_err_t *err; /* NULL: success; else the downlink is refused with it */
} as_fmt_downlink_result_t;

typedef void (*as_fmt_downlink_cb)(void *arg, const as_fmt_downlink_result_t *r);

/* What the fmt module provides. Each call: inputs are valid until cb runs; cb exactly once,
 * on the loop (it may run before the call returns); a call never blocks the loop (scripts run
 * in worker processes). A member left NULL means "not available": the core then delivers
 * uplinks undecoded and refuses decoded_payload downlinks with as_no_encoder. */
typedef struct as_fmt_ops {
    void *impl;
    void (*decode_uplink)(void *impl, const as_fmt_uplink_t *in, as_fmt_uplink_cb cb, void *arg);
    void (*encode_downlink)(void *impl, const as_fmt_downlink_t *in, as_fmt_downlink_cb cb,
                            void *arg);
} as_fmt_ops_t;

/* Installs the formatter implementation (ops copied). Call from the component's init or
 * start, before traffic; NULL uninstalls. */
void as_fmt_install(as_t *as, const as_fmt_ops_t *ops);

/* ---- downlinks: the ONE entry point (API, MQTT, webhooks) ----------------------------------- */

typedef enum as_down_op {
    AS_DOWN_PUSH = 0,    /* append to the device's queue */
    AS_DOWN_REPLACE = 1, /* replace the queue (no downlinks: clear it) */
    AS_DOWN_LIST = 2,    /* the queue as the NS holds it */
} as_down_op_t;

typedef struct as_down_req {
    const char *tenant_id, *app_id, *dev_id;
    as_down_op_t op;
    /* PUSH / REPLACE: TTS's body {"downlinks": [ApplicationDownlink, ...]}, each with f_port
     * (1..223), frm_payload (base64) or decoded_payload (through the encoder), priority
     * ("NORMAL", ...), confirmed, correlation_ids, class_b_c; "end_device_ids" is ignored
     * (the ids above count). Borrowed during the call only. LIST: NULL. */
    const json_t *body;
    const char *origin; /* "api", "mqtt", "webhook": events, metrics, correlation ids */
} as_down_req_t;

/* The answer: err NULL on success. result: LIST {"downlinks": [...]} (TTS's
 * ApplicationDownlinks JSON, frm_payload decrypted), PUSH/REPLACE NULL. Both valid during the
 * call only. err names what was wrong: invalid_field ("downlinks[0].f_port"), as_invalid_f_port,
 * as_no_payload, as_no_encoder, as_encode_downlink, as_device_not_found, as_no_session,
 * as_payload_crypto_disabled, db_unavailable, unavailable. */
typedef void (*as_down_cb)(void *arg, const lw_err_t *err, const json_t *result);

/* Validates, encodes decoded_payload through the formatter, encrypts every item for the
 * device's next AFCntDown (LoRaWAN 1.1; the FCntDown for 1.0.x) in a transaction on the
 * device's row (so concurrent pushes from several processes take distinct counters), and
 * publishes AsDown on lw.as.down; for LIST publishes the LIST and waits for the NS's
 * NsUp.downlink_queue_list. The caller has checked RIGHT_APPLICATION_TRAFFIC_DOWN_WRITE
 * (LIST: RIGHT_APPLICATION_TRAFFIC_READ). cb exactly once, on the loop, never before the
 * call returns. */
void as_downlink_request(as_t *as, const as_down_req_t *req, as_down_cb cb, void *arg);

/* ---- lw.as.up: what the core publishes ------------------------------------------------------- */

/* "uplink_message", "join_accept", "downlink_queued", ... (the ApplicationUp field and the
 * webhook message type); NULL for AS_UP_UNKNOWN or a value beyond the enum. */
const char *as_up_type_name(Lw__Msg__AsUpType t);

/* ---- core internals (session.c, codec.c, up_json.c, uplink.c, store.c, device.c) ---------- */

/* base64 (standard, padded) of n bytes into a new JSON string. */
json_t *as_b64_json(const uint8_t *b, size_t n);
/* Decodes base64 text into out (cap bytes). Returns the length or -1. */
int as_b64_decode(const char *s, uint8_t *out, size_t cap);
/* "70B3D57ED0000000" / "260B1234": uppercase hex, as TTS renders EUIs and DevAddrs. */
void as_eui_text(uint64_t eui, char out[17]);
void as_addr_text(uint32_t addr, char out[9]);
/* Parses 16 (EUI) or 8 (DevAddr) hex digits. Returns 0 or -1. */
int as_eui_parse(const char *s, uint64_t *out);
int as_addr_parse(const char *s, uint32_t *out);

/* A session as the AS keeps it: the AppSKey in clear in memory only. */
typedef struct as_session {
    bool valid;
    uint8_t key_id[AS_KEY_ID_MAX];
    uint8_t key_id_len;
    uint32_t dev_addr;
    bool has_key;
    uint8_t app_s_key[LORAWAN_KEY_LEN];
    bool has_f_cnt;             /* last_a_f_cnt_down is set */
    uint32_t last_a_f_cnt_down; /* the last (A)FCntDown a downlink was encrypted for */
} as_session_t;

/* RFC 3394 unwrap of an AppSKey envelope: label "" means the key is in clear (16 bytes).
 * Errors: as_unknown_kek_label, as_unwrap_key (wrong KEK or altered bytes). */
int as_key_unwrap(const as_t *as, const char *label, const uint8_t *in, size_t len,
                  uint8_t out[LORAWAN_KEY_LEN], lw_err_t *err);
/* The session as stored at rest (and as TTS's Session JSON): {"dev_addr", "keys":
 * {"session_key_id", "app_s_key": {"kek_label", "encrypted_key"} | {"key"}},
 * "last_a_f_cnt_down"}. The key is wrapped with as.key-encryption-key when configured. */
json_t *as_session_to_rest(const as_t *as, const as_session_t *s);
/* The reverse; keys given as {"key": hex} (the API, or no KEK at rest) or wrapped with a
 * known KEK. Errors: invalid_field naming `field`, as_unknown_kek_label, as_unwrap_key. */
int as_session_from_json(const as_t *as, const json_t *j, const char *field, as_session_t *s,
                         lw_err_t *err);
/* ---- device fields (devset.c): the API (device.c) and the device part (devpart.c) -------- */

/* One device's AS part being read or written. */
typedef struct as_dev_view {
    const as_t *as; /* its keys */
    const lw_api_mask_t *mask;
    bool keys;          /* render: the AppSKey shown */
    const json_t *body; /* apply: the end_device JSON */
    const char *app, *dev;
} as_dev_view_t;

/* The columns as_dev_render reads (as_devices d). */
#define AS_DEV_COLS                                                                                \
    "d.device, d.session, d.pending_session, " LW_API_SQL_TIME(                                    \
        "d.created_at") ", " LW_API_SQL_TIME("d.updated_at")
/* Row `row` of an AS_DEV_COLS result as GET renders it (the mask's fields). */
json_t *as_dev_render(const as_dev_view_t *v, const PGresult *res, int row);
/* Applies the mask's paths of v->body to the stored device JSON (device) and, when the mask
 * names the session, makes *session its new at-rest JSON (NULL: none) with *session_set. */
int as_dev_apply(const as_dev_view_t *v, json_t *device, json_t **session, bool *session_set,
                 lw_err_t *err);
/* Does the mask name "session" or a path under it? */
bool as_mask_names_session(const lw_api_mask_t *m);
/* Copies into out the parts of from's `top` the mask selects. */
void as_masked_copy(const lw_api_mask_t *mask, json_t *out, const json_t *from, const char *top);
/* Formatters (up/down, their parameters) checked; errors name `field`. */
int as_formatters_check(const json_t *f, const char *field, lw_err_t *err);
/* NsUp.as_device_changed of a device: what tells its AS worker on lw.ns.up (key
 * "tenant/app/dev") that the API or an import wrote it. 0 or -1. */
int as_device_changed_encode(const char *tenant, const char *app, const char *dev, bool deleted,
                             uint8_t *buf, size_t cap, size_t *len);
/* The KEKs of the configuration (as.keks.*, as.key-encryption-key[-label]) into as
 * (component.c; the device part loads them into an as_t of its own). 0, or -1 with
 * config_invalid. */
int as_keys_load(as_t *as, const lw_config_t *cfg, lw_err_t *err);

/* FRMPayload crypto in place (LoRaWAN 1.0.4 §4.3.3, 1.1 §4.3.3: AppSKey, FPort > 0). */
int as_frm_crypt(const uint8_t key[LORAWAN_KEY_LEN], bool downlink, uint32_t dev_addr,
                 uint32_t f_cnt, uint8_t *buf, size_t len);

/* What the ApplicationUp encoder needs besides the NS's message (up_json.c, pure). */
typedef struct as_up_in {
    const char *app_id, *dev_id;
    uint64_t dev_eui, join_eui; /* 0: unknown */
    uint32_t dev_addr;
    bool has_dev_addr;
    /* The NS's result; payloads of uplink_message and the downlinks already decrypted in
     * place (or left as they are when payload crypto is skipped). */
    const Lw__Msg__NsUp *up;
    int64_t received_at_ns;     /* when the AS received it (ApplicationUp.received_at) */
    const char *correlation_id; /* the AS's own ("as:up:<id>"), added to the NS's; NULL: none */
    /* uplink_message only; NULL when none */
    const json_t *decoded_payload, *decoded_payload_warnings, *normalized_payload;
    const json_t *version_ids, *attributes;
    bool simulated;
    /* 0: the uplink_message; i > 0: instead, the uplink_normalized of normalized_payload[i - 1]
     * (TTS publishes one per item of the normalized payload, after the uplink_message). */
    size_t normalized_item;
} as_up_in_t;

/* Builds the ApplicationUp JSON of in->up (one AsUp type: uplink_message, join_accept,
 * downlink_*), fields in TTS's order with its rules: zero values omitted, bytes in base64,
 * uint64 as strings, EUIs/DevAddr in uppercase hex, times RFC 3339 with nanoseconds (UTC),
 * durations "0.061696s". *type receives the AsUp type. Returns a new object, or NULL when the
 * NsUp carries nothing the AS forwards (downlink_queue_list, as_device_changed, none). */
json_t *as_up_json(const as_up_in_t *in, Lw__Msg__AsUpType *type);
/* One ApplicationDownlink as TTS's JSON (frm_payload as it is in d). */
json_t *as_downlink_json(const Lw__Msg__ApplicationDownlink *d);
/* RFC 3339 UTC with nanoseconds, trailing zeros trimmed as Go's RFC3339Nano. */
void as_time_text(int64_t unix_ns, char out[40]);

/* ---- store (store.c) ------------------------------------------------------------------------ */

/* The quoted schema of a tenant ("\"t_acme\""). Returns 0 or -1. */
int as_store_schema(const char *tenant, char *out, size_t len);

typedef struct as_row {
    bool found;      /* the device has an AS part */
    json_t *device;  /* as_devices.device (borrowed during the callback) */
    json_t *session; /* NULL: none */
    json_t *pending_session;
    json_t *link; /* the application's as_links.link; NULL: none */
} as_row_t;

/* Loads a device's AS part and its application's link. cb exactly once on the loop (row NULL
 * with err on failure). Returns 0 or -1 (cb never called). */
typedef void (*as_row_cb)(void *arg, const as_row_t *row, const lw_err_t *err);
int as_store_load(as_t *as, const char *tenant, const char *app, const char *dev, as_row_cb cb,
                  void *arg);
typedef void (*as_done_cb)(void *arg, const lw_err_t *err);
/* A join's pending session (JSON of as_session_to_rest). Returns 0 or -1 (cb never called). */
int as_store_pending_session(as_t *as, const char *tenant, const char *app, const char *dev,
                             const json_t *pending, as_done_cb cb, void *arg);
/* The pending session of key id key_id_b64 becomes the active one (its first uplink). */
int as_store_activate(as_t *as, const char *tenant, const char *app, const char *dev,
                      const char *key_id_b64, as_done_cb cb, void *arg);

/* A store write whose result only matters for the log (cb of as_store_*). */
void as_store_ignore(void *arg, const lw_err_t *err);

/* ---- events (event.c) ------------------------------------------------------------------------ */

/* A bus message's envelope for tenant: a new random id (written into id, which must outlive
 * the envelope), the schema version, no correlation ids. */
void as_envelope_new(Lw__Msg__Envelope *env, uint8_t id[LW_UID_LEN], const char *tenant);

/* Publishes an event on lw.events (key: tenant) in TTS's shape with the device's identifiers;
 * data may be NULL (reference stolen). */
void as_event(as_t *as, const char *tenant, const char *app, const char *dev, const char *name,
              json_t *data, const char *correlation_id);

/* ---- downlinks from the worker (downlink.c) ----------------------------------------------------
 */

/* A confirmed downlink the device did not acknowledge (downlink_nack, frm_payload already
 * decrypted): encrypted again for the next counter and pushed with confirmed_retry.attempt + 1
 * until its attempts are used up (TTS: as.downlinks.confirmation). */
void as_downlink_retry(as_t *as, const char *tenant, const char *app, const char *dev,
                       const Lw__Msg__ApplicationDownlink *dl);
/* downlink_queue_invalidated (payloads already decrypted): last_a_f_cnt_down set to the NS's
 * last_f_cnt_down, the items encrypted again for the current session and pushed. */
void as_downlink_requeue(as_t *as, const char *tenant, const char *app, const char *dev,
                         const Lw__Msg__ApplicationInvalidatedDownlinks *inv);
/* The NS's answer to a LIST (request_id: the AsDown's envelope id), at the worker owning the
 * device; the sessions decrypt the items (NULL: payload crypto skipped). Answered here when
 * the request is this process's, else published on lw.as.replies for the one that asked. */
void as_downlink_list_answer(as_t *as, const char *tenant, const char *app, const char *dev,
                             const Lw__Msg__ApplicationDownlinks *list, const as_session_t *session,
                             const as_session_t *pending);
/* Subscribes to lw.as.replies (a broadcast): LIST answers from the devices' owners. */
int as_downlink_start(as_t *as, lw_err_t *err);

/* ---- the component ------------------------------------------------------------------------- */

struct as {
    lw_rt_t *rt;
    uv_loop_t *loop;
    lw_db_t *db;
    lw_bus_t *bus;
    struct tn *tn;
    struct tn_access *access;
    lw_api_env_t env;
    lw_metrics_t *metrics;

    /* configuration */
    as_kek_t keks[AS_KEKS_MAX];
    size_t nkeks;
    as_kek_t at_rest;                  /* len 0: keys in clear at rest */
    uint32_t retry_default, retry_max; /* confirmed downlink attempts */
    uint64_t list_timeout_ms;

    /* formatters (as_fmt_install) */
    as_fmt_ops_t fmt_ops;
    /* The fmt module's state (fmt_private.h), created and freed by it from component.c. */
    struct as_fmt *fmt;
    /* The MQTT server (mqtt_private.h), created and freed by it from component.c. */
    struct as_mqtt *mqtt;
    /* The Storage Integration (storage_private.h). */
    struct as_storage *storage;

    /* the worker (uplink.c) */
    struct as_worker *worker;
    /* webhook delivery (webhook.c, webhook_private.h) */
    struct as_webhooks *webhooks;

    lw_metric_t *m_up, *m_drop, *m_down;

    bool started, stopping;
    int inflight; /* API operations and downlink requests */
    void (*stop_done)(void *arg);
    void *stop_arg;
    uv_timer_t stop_timer;
};

/* The worker (uplink.c). */
int as_worker_start(as_t *as, lw_err_t *err);
/* After a committed change of an application's link: publishes AsLinkChange on lw.as.links
 * so that every AS worker holding devices of the application loads their settings again
 * before their next message. Returns 0 or -1 (logged: loaded devices keep the old link
 * until they are loaded again). */
int as_link_changed(as_t *as, const char *tenant, const char *app);
void as_worker_stop(as_t *as);
void as_worker_free(as_t *as);
/* True while nothing is in flight in the worker (stop waits for it). */
bool as_worker_idle(const as_t *as);

/* Routes (api.c: traffic, then device.c's registry and fmt_api.c's test endpoints). */
int as_api_routes(as_t *as);
int as_device_routes(as_t *as);

/* Counts a dropped message with its reason (lwstack_as_dropped_total{reason}). */
void as_count_drop(as_t *as, const char *reason);

#endif
