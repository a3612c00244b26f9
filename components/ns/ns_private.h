/* The Network Server's private interface: its state, and the parts its files share.
 * For the files of components/ns and their unit tests only.
 *
 *   component.c  configuration table, lifecycle
 *   version.c    LoRaWAN / regional-parameters version names (pure)
 *   fcnt.c       frame-counter rules (pure)
 *   devaddr.c    NetID, DevAddr prefixes and assignment (pure)
 *   state.c      in-memory state <-> ns.proto records, key wrapping at rest
 *   store.c      PostgreSQL: loading rows, batched writes behind the hot path
 *   matcher.c    lw.gs.up -> DevAddr index / EUI lookup -> lw.ns.dev
 *   worker.c     the device worker: lw.ns.dev + lw.as.down + lw.gs.txack, offsets
 *   uplink.c     deduplication, frame counters, results on lw.ns.up
 *   downlink.c   frames and lw.gs.down (class A RX1/RX2, class C, join-accept)
 *   join.c       Backend Interfaces JoinReq/JoinAns to the Join Server
 *   api.c        /api/v3/ns/...
 *   event.c      events on lw.events, metrics */
#ifndef NS_NS_PRIVATE_H
#define NS_NS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "cluster/api.h"
#include "cluster/bus.h"
#include "cluster/db.h"
#include "cluster/err.h"
#include "cluster/http_client.h"
#include "cluster/metrics.h"
#include "cluster/runtime.h"
#include "lorawan/lorawan.h"
#include "messages/messages.h"
#include "ns/mac_private.h"
#include "ns/ns.h"
#include "tenant/ids.h"
#include "tenant/usage.h"

/* Errors of the Network Server (errors.def). */
#define LW_ERR_DEF(name, ns, http, grpc, fmt) LW_ERR_DECLARE(name);
#include "ns/errors.def"
#undef LW_ERR_DEF

/* ---- sizes --------------------------------------------------------------------------------- */

#define NS_KEY_ID_MAX      16u /* session key IDs the JS gives (TTS: 16 bytes or fewer) */
#define NS_RECENT_IDS      12u /* lw.gs.up copy ids remembered per device (replay after restart) */
#define NS_TOKEN_MAX       64u /* uplink_token bytes kept for class C */
#define NS_CORR_MAX        96u /* correlation id kept per queued downlink */
#define NS_FP_ID_MAX       48u
#define NS_MAC_BACKOFF_MAX 16u /* uplinks without a MAC-only downlink after refusals */
#define NS_DEV_KEY_MAX     (3u * TN_ID_MAX + 3u) /* "<tenant>/<application>/<device>" */
#define NS_MAX_PREFIXES    8u
#define NS_PATHS_MAX       8u /* gateways a downlink is tried on, best first */

/* ---- versions (version.c, pure) ---------------------------------------------------------- */

/* "MAC_V1_0", "MAC_V1_0_1" .. "MAC_V1_0_4", "MAC_V1_1" → minor (0 for 1.0.x, 1 for 1.1) and
 * patch. Returns 0 or -1 when unknown. */
int ns_version_parse(const char *s, unsigned *minor, unsigned *patch);
/* Backend Interfaces MACVersion: "1.0.3", "1.1". */
const char *ns_mac_version_bi(const char *s);
/* "PHY_V1_0_2_REV_B", "RP001_V1_0_3_REV_A", "RP002_V1_0_3", ... → the lorawan library's
 * revision. Returns 0 or -1 when unknown. */
int ns_phy_version_parse(const char *s, lorawan_rp_rev_t *out);

/* ---- frame counters (fcnt.c, pure) -------------------------------------------------------- */

typedef enum ns_fcnt_verdict {
    NS_FCNT_OK = 0, /* a new counter: accept */
    NS_FCNT_RESET,  /* lower than the last but the device resets (ABP resets_f_cnt) */
    NS_FCNT_REPLAY, /* not above the last accepted one (16-bit: nor within the gap) */
} ns_fcnt_verdict_t;

/* Candidates for the full 32-bit counter of a frame whose wire counter is fcnt16, for a
 * session whose last accepted counter is `last` (has_last false: none yet). out[0] is the
 * counter the device most likely used (the next one, lorawan_fcnt_expand); out[1..] the
 * others worth a MIC check: the same high half below `last` (a replay, or a device that
 * reset), and fcnt16 itself (resets_f_cnt, or a 16-bit device). Returns how many (1..3),
 * distinct. */
size_t ns_fcnt_candidates(bool has_last, uint32_t last, uint16_t fcnt16, bool supports_32,
                          bool resets_f_cnt, uint32_t out[3]);

/* The rule for a counter whose MIC matched: LoRaWAN 1.0.4 §4.3.1.5 / 1.1 §4.3.1.5. */
ns_fcnt_verdict_t ns_fcnt_check(bool has_last, uint32_t last, uint32_t fcnt, bool supports_32,
                                bool resets_f_cnt);

/* ---- DevAddr (devaddr.c, pure) ------------------------------------------------------------ */

typedef struct ns_prefix {
    uint32_t addr; /* host order, bits beyond len zero */
    uint8_t len;   /* 1..32 */
} ns_prefix_t;

/* "26000000/7" → prefix. Returns 0 or -1. */
int ns_prefix_parse(const char *s, ns_prefix_t *out);
/* The DevAddr prefix a NetID gives (LoRaWAN Backend Interfaces 1.0 §13: type 0..7 with its
 * NwkID). Returns 0, or -1 for a NetID beyond 24 bits. */
int ns_prefix_from_net_id(uint32_t net_id, ns_prefix_t *out);
bool ns_prefix_match(const ns_prefix_t *p, uint32_t dev_addr);
/* The DevAddr of prefix p with `suffix` in its free bits (suffix masked to them). */
uint32_t ns_prefix_addr(const ns_prefix_t *p, uint32_t suffix);
/* How many addresses a prefix holds (2^(32-len), saturated at UINT32_MAX). */
uint32_t ns_prefix_size(const ns_prefix_t *p);

/* ---- state (state.c) ------------------------------------------------------------------------- */

typedef struct ns_settings {
    char lorawan_version[16];
    char phy_version[32];
    char fp_id[NS_FP_ID_MAX];
    bool supports_join, supports_class_c;
    char *mac_json;        /* mac_settings as the API was given it (owned); NULL: none */
    ns_mac_settings_t mac; /* parsed from mac_json (ns_mac_settings_parse) */
    /* The mac_settings the MAC layer does not use. */
    bool has_resets_f_cnt, resets_f_cnt;
    bool has_supports_32, supports_32;
    uint32_t class_c_timeout_s;
    bool has_dev_eui, has_join_eui;
    uint64_t dev_eui, join_eui;
    /* owned; the desired parameters of a new session with these settings, whose channels
     * every device with them shares (ns_mac_stored_t): computed once by
     * ns_settings_intern. NULL: not computed, or the plan is unknown. */
    ns_mac_params_t *desired;
} ns_settings_t;

/* Parses a TTS mac_settings object (values plain or wrapped as {"value": ...}, enums by
 * name: "RX_DELAY_5", "DATA_RATE_3", ...) into s->mac and the extras. Errors: invalid_field
 * / unknown_field naming "<field>.<key>". */
int ns_mac_settings_parse(const json_t *j, const char *field, ns_settings_t *s, lw_err_t *err);
bool ns_settings_v11(const ns_settings_t *s);

/* Devices with equal settings share one copy of them (interned, reference-counted): the
 * devices of a deployment share a handful of profiles, and a copy with its mac_settings is
 * about 500 bytes. ns_settings_intern takes *s (left empty) and returns the shared copy,
 * equal to *s except for the EUIs, which are zero in it: they are each device's own
 * (ns_dev_t.dev_eui, ...). A shared copy is immutable; ns_settings_release drops a
 * reference (ns_settings_none and NULL are ignored). */
struct ns;
const ns_settings_t *ns_settings_intern(struct ns *ns, ns_settings_t *s);
void ns_settings_release(struct ns *ns, const ns_settings_t *s);
/* Frees the shared copies (at the worker's end, when no device holds one). */
void ns_settings_pool_free(struct ns *ns);
/* The settings of a device not loaded yet: all zero. */
extern const ns_settings_t ns_settings_none;

/* A MAC state in its packed stored form (mac_private.h), in an allocation that grows. */
typedef struct ns_mac_stored {
    uint16_t len, cap;
    uint8_t b[];
} ns_mac_stored_t;

typedef struct ns_session {
    bool valid;
    uint32_t dev_addr;
    uint8_t key_id[NS_KEY_ID_MAX];
    uint8_t key_id_len;
    /* In clear in memory; wrapped at rest (state.c). 1.0.x: all three are the NwkSKey. */
    uint8_t f_nwk_s_int_key[LORAWAN_KEY_LEN];
    uint8_t s_nwk_s_int_key[LORAWAN_KEY_LEN];
    uint8_t nwk_s_enc_key[LORAWAN_KEY_LEN];
    bool has_f_cnt_up, has_n_f_cnt_down, has_a_f_cnt_down;
    uint32_t last_f_cnt_up, last_n_f_cnt_down, last_a_f_cnt_down;
    int64_t started_at_ns;
    /* No AppSKey: the JS's envelope of it goes to the AS with the join-accept (lw.ns.up),
     * published once the pending session is durable, and the NS never needs it again. */
} ns_session_t;

typedef struct ns_queued {
    uint8_t key_id[NS_KEY_ID_MAX];
    uint8_t key_id_len;
    uint8_t f_port;
    uint32_t f_cnt;
    uint8_t payload[LORAWAN_PHY_MAX_LEN];
    uint16_t len;
    bool confirmed;
    uint8_t priority;
    char corr[NS_CORR_MAX];
    uint32_t retry_attempt, retry_max; /* ApplicationDownlink.confirmed_retry, carried */
} ns_queued_t;

/* A way down to the device: one gateway copy of the uplink a downlink answers. */
typedef struct ns_path {
    char gateway_id[TN_ID_MAX + 1];
    char tenant_id[TN_ID_MAX + 1];
    uint64_t eui;
    uint32_t antenna;
    uint32_t timestamp; /* the copy's concentrator counter, µs */
    uint8_t token[NS_TOKEN_MAX];
    uint8_t token_len;
} ns_path_t;

/* The downlink in flight (ns_state_t.flight, allocated only while one is): its id, its
 * application item, the gateways to try after a refusal, and the frame counter to give back
 * when no gateway sends it. A flight restored from a state written before the frame was kept
 * has no frame and no gateways (gs_down NULL, npaths 0, attempts 0). */
typedef struct ns_flight {
    uint8_t id[LW_MSG_ID_LEN]; /* the GsDown's id, which its GsTxAck names */
    ns_queued_t *app;          /* owned; NULL: a MAC-only downlink or a join-accept */
    /* Its ns.mac.*.request events (owned, n_events): published once the GS says the frame
     * went out, so a refused frame's requests are not reported as sent. */
    ns_mac_event_t *events;
    uint32_t f_cnt;
    uint8_t n_events;
    bool confirmed;
    bool mac;         /* the frame carries MAC requests */
    bool mac_only;    /* ... and nothing else (no application payload, no ACK) */
    uint8_t *gs_down; /* owned: the encoded GsDown of the first attempt */
    size_t gs_down_len;
    ns_path_t *paths; /* owned: the gateways not tried yet, best first */
    uint8_t npaths;
    uint8_t attempts;      /* GsDowns published for it so far */
    int64_t window_end_ns; /* class A, join-accept: no attempt after it; 0: class C */
    bool class_c;
    bool rollback;     /* the frame took a counter: a refusal gives it back */
    bool rollback_a;   /* ... the AFCntDown (1.1 application downlink), else NFCntDown */
    bool rollback_has; /* the counter's has_* and last value before this frame */
    uint32_t rollback_f_cnt;
} ns_flight_t;

typedef struct ns_gw {
    bool valid;
    char gateway_id[TN_ID_MAX + 1];
    char tenant_id[TN_ID_MAX + 1];
    uint64_t eui;
    uint32_t antenna;
    uint8_t token[NS_TOKEN_MAX];
    uint8_t token_len;
    float snr, rssi;
} ns_gw_t;

/* What the last uplink used (for RX1 and the 1.1 MIC). */
typedef struct ns_radio {
    uint8_t last_dr;
    uint8_t last_ch;
    uint32_t last_freq_hz;
} ns_radio_t;

typedef struct ns_state {
    /* Laid out by size (pointers and 64-bit values, then the small fields) so that a
     * device carries no padding: every active device has one. */
    ns_session_t session;
    /* owned; the session of a join not yet confirmed by an uplink (NULL: none). A join is
     * rare: a device pays for it only between the join-accept and the first uplink. */
    ns_session_t *pending;
    /* owned; the MAC layer's state of `session` in its stored form (NULL: none yet); use it
     * expanded through ns_dev_mac */
    ns_mac_stored_t *mac;
    ns_mac_state_t *pending_mac; /* owned; of `pending` */
    ns_queued_t *queue;          /* owned, nqueue items */
    /* The last NS_RECENT_IDS lw.gs.up copy ids (16 random bytes each) folded to 8 bytes
     * (the two halves XORed): as good as the whole id at telling a replayed copy (a false
     * match needs 64 random bits to agree), for half the memory. */
    uint64_t recent[NS_RECENT_IDS];
    int64_t last_seen_at_ns;
    /* owned; the best gateway of the last uplink, the way down for a class C downlink when
     * the paths of that uplink (c_paths) are gone with a restart: kept for class C devices
     * only (NULL otherwise, or before their first uplink). */
    ns_gw_t *last_gw;
    ns_queued_t *awaiting_ack; /* owned; a confirmed downlink whose ACK is awaited */
    int64_t awaiting_at_ns;    /* when it went out */
    int64_t last_join_at_ns;
    ns_flight_t *flight; /* owned; NULL when nothing is in flight */
    ns_path_t *c_paths;  /* owned; class C: the gateways of the last uplink, best first */
    ns_radio_t radio;
    uint32_t nqueue;
    uint8_t nrecent, recent_next;
    /* Congestion back-off of MAC-only downlinks (memory only): after a MAC-only downlink
     * the GS or the gateway could not transmit, the next mac_skip uplinks get none unless
     * the device needs an answer; each refusal in a row doubles the wait (1, 2, 4 .. 16
     * uplinks), a transmission ends it. A busy gateway is not asked again at every uplink. */
    uint8_t mac_backoff, mac_skip;
    bool awaiting_class_c; /* as a class C downlink: awaited class_c_timeout at most */
    uint8_t n_c_paths;
} ns_state_t;

/* The pending session of st, or an invalid one: never NULL. */
const ns_session_t *ns_state_pending(const ns_state_t *st);
/* Makes *s the pending session (copied; one is allocated when there is none). */
void ns_state_set_pending(ns_state_t *st, const ns_session_t *s);
/* Forgets the pending session (its keys wiped). */
void ns_state_clear_pending(ns_state_t *st);

void ns_settings_defaults(ns_settings_t *s);
void ns_settings_destroy(ns_settings_t *s);
void ns_state_init(ns_state_t *st);
void ns_state_destroy(ns_state_t *st);
void ns_flight_free(ns_flight_t *f);
/* Drops the queue (session change) into *out (owned by the caller, free()), *n items. */
void ns_state_take_queue(ns_state_t *st, ns_queued_t **out, size_t *n);
bool ns_state_recent_has(const ns_state_t *st, const uint8_t id[LW_MSG_ID_LEN]);
void ns_state_recent_add(ns_state_t *st, const uint8_t id[LW_MSG_ID_LEN]);

/* Keys at rest: wrapped with `kek` (16/24/32 bytes, RFC 3394) labelled `label`, or in clear
 * when kek_len is 0. */
typedef struct ns_kek {
    const char *label;
    uint8_t key[32];
    size_t len;
} ns_kek_t;

/* Encodes into a malloc'd buffer (*out, *len). Returns 0 or -1 (internal). */
int ns_settings_encode(const ns_settings_t *s, uint8_t **out, size_t *len);
int ns_settings_decode(const uint8_t *buf, size_t len, ns_settings_t *s);
int ns_state_encode(const ns_state_t *st, const ns_kek_t *kek, uint8_t **out, size_t *len);
/* kek_lookup finds the KEK of a label (the at-rest one, or a Backend Interfaces one). */
typedef const ns_kek_t *(*ns_kek_lookup_fn)(void *arg, const char *label);
int ns_state_decode(const uint8_t *buf, size_t len, ns_kek_lookup_fn lookup, void *arg,
                    ns_state_t *st);

/* ---- the component --------------------------------------------------------------------------- */

typedef struct ns ns_t;
typedef struct ns_dev ns_dev_t;
typedef struct ns_matcher ns_matcher_t;
typedef struct ns_store ns_store_t;
typedef struct ns_batch ns_batch_t;

/* Consumed messages whose offsets wait for their effects to be durable (worker) or
 * published (matcher): cluster/bus.h's in-order commits. */
typedef lw_bus_commit_entry_t ns_entry_t;

typedef struct ns_join_server {
    uint64_t prefix; /* JoinEUI prefix (host order, bits beyond len zero) */
    uint8_t len;     /* 0: every JoinEUI */
    bool cluster;    /* ns.join-server-uri: the only one shown ns.join-server-token */
    char uri[256];
} ns_join_server_t;

struct ns {
    lw_rt_t *rt;
    uv_loop_t *loop;
    lw_db_t *db;
    lw_bus_t *bus;
    struct tn *tn;
    struct tn_access *access;
    tn_usage_t *usage; /* metering (tenant/usage.h): what the NS carried, per tenant */
    lw_http_client_t *http;
    lw_api_env_t env;

    /* configuration */
    uint32_t net_id;
    ns_prefix_t prefixes[NS_MAX_PREFIXES];
    size_t nprefixes;
    uint64_t dedup_ms, dedup_min_ms, cooldown_ms;
    size_t key_contexts; /* ns.matcher.key-contexts */
    size_t queue_max;
    uint64_t flush_ms;
    size_t flush_max;
    ns_join_server_t js[16];
    size_t njs;
    /* "Bearer <ns.join-server-token>" for the Join Servers' Authorization header; "" none */
    char js_authorization[8 + 256 + 1];
    ns_kek_t at_rest;
    ns_kek_t keks[8];
    char kek_labels[8][64];
    size_t nkeks;
    char cluster_id[64];

    ns_matcher_t *matcher;
    ns_store_t *store;

    /* device worker */
    lw_bus_consumer_t *worker_c;
    lw_bus_commitq_t wq;
    ns_dev_t **devs; /* hash by key */
    size_t ndevs, devs_cap;
    struct ns_sref **srefs; /* the shared settings (ns_settings_intern), hash by content */
    size_t nsrefs, srefs_cap;
    /* The one MAC state expanded for use (ns_dev_mac), that of mac_owner (NULL: none). */
    ns_mac_state_t mac_work;
    struct ns_dev *mac_owner;
    /* open deduplication windows, in deadline order (one duration for all) */
    struct ns_up *win_head, *win_tail;
    uv_timer_t win_timer;
    /* batched persistence */
    ns_dev_t *dirty_head;
    uint64_t gen;     /* the batch being accumulated */
    uint64_t durable; /* the last batch durably written */
    bool flushing;
    ns_batch_t *cut;        /* cut, waiting for its outputs to be delivered */
    uint64_t cut_published; /* bus messages published when it was cut */
    uv_timer_t flush_timer;

    char t_dev[96], t_down[96]; /* full topic names */
    void *after_head;           /* sessions and messages waiting to be durable (worker.c) */
    lw_bus_consumer_t *events_c;
    lw_bus_consumer_t *sessions_c;

    /* downlink deadlines (downlink.c): TX acks not answered, class C ACKs not received */
    uv_timer_t due_timer;
    uint64_t due_armed_at; /* monotonic ms the timer fires at; 0: not armed */
    struct ns_due *txq;    /* ring of TX ack deadlines, in deadline order */
    size_t txq_head, txq_len, txq_cap;
    struct ns_due *due; /* the other deadlines, unordered, few */
    size_t ndue, due_cap;
    uint64_t tx_ack_timeout_ms;

    /* metrics */
    lw_metric_t *m_up, *m_drop, *m_down, *m_join;

    bool started, stopping;
    bool stopped; /* the last batch is written: nothing writes batches any more */
    int inflight; /* API ops and JS requests */
    void (*stop_done)(void *arg);
    void *stop_arg;
    uv_timer_t stop_timer;
};

/* ---- devices (worker.c) ------------------------------------------------------------------ */

typedef enum ns_dev_phase {
    NS_DEV_LOADING = 0, /* row requested; messages wait */
    NS_DEV_READY,
    NS_DEV_ABSENT, /* no NS part: messages are dropped (counted) */
} ns_dev_phase_t;

/* A message waiting for its device to be loaded or free. */
typedef struct ns_wait {
    struct ns_wait *next;
    int kind;  /* NS_MSG_* */
    void *msg; /* decoded, owned */
    ns_entry_t *entry;
} ns_wait_t;

enum { NS_MSG_DEV = 1, NS_MSG_DOWN, NS_MSG_TXACK };

/* An open deduplication window: the copies of one uplink. */
typedef struct ns_up {
    struct ns_up *next, *prev; /* in ns->win_* order (deadlines) */
    ns_dev_t *dev;
    uint64_t deadline_ms;
    Lw__Msg__NsDev *first;    /* owned */
    uint64_t hash;            /* ns_hash64 of first's PHYPayload */
    Lw__Msg__RxMetadata **rx; /* the copies' rx_metadata (owned by `copies`) */
    size_t nrx, rx_cap;
    Lw__Msg__NsDev **copies; /* owned */
    ns_entry_t **entries;
    size_t ncopies, cap;
} ns_up_t;

struct ns_dev {
    /* Laid out by size, as ns_state_t. */
    ns_dev_t *hnext;
    ns_dev_t *dirty_next;
    const ns_settings_t *set; /* shared (ns_settings_intern); ns_settings_none until loaded */
    ns_wait_t *wait_head, *wait_tail;
    ns_up_t *up;
    /* The device's EUIs: from its settings, else (OTAA) learnt from its join-request. */
    uint64_t dev_eui, join_eui;
    int64_t gen, state_gen;
    uint64_t cooldown_until_ms;
    uint64_t last_hash; /* of the last processed uplink's PHYPayload, for the cooldown */
    ns_state_t st;
    int32_t partition;
    uint32_t pending_sessions_publish;
    ns_dev_phase_t phase;
    bool has_dev_eui, has_join_eui;
    bool dirty;
    bool busy; /* a join is being answered by the JS */
    /* "<tenant>/<application>/<device>", then its three parts, each NUL-terminated, the
     * parts at these offsets (ns_dev_tenant, ns_dev_app, ns_dev_dev): a device costs its
     * identifiers' length, not four 37..111-byte arrays or four pointers. (Not const: the
     * bus messages' protobuf-c strings are char *, and are only read.) */
    uint8_t o_tenant, o_app, o_dev;
    char key[];
};

static inline char *ns_dev_tenant(const ns_dev_t *d)
{
    return (char *)d->key + d->o_tenant;
}
static inline char *ns_dev_app(const ns_dev_t *d)
{
    return (char *)d->key + d->o_app;
}
static inline char *ns_dev_dev(const ns_dev_t *d)
{
    return (char *)d->key + d->o_dev;
}

ns_dev_t *ns_dev_find(ns_t *ns, const char *key);
/* Parses "<tenant>/<app>/<dev>". Returns 0 or -1. */
int ns_dev_key_split(const char *key, size_t len, char tenant[TN_ID_MAX + 1],
                     char app[TN_ID_MAX + 1], char dev[TN_ID_MAX + 1]);
void ns_dev_mark_dirty(ns_t *ns, ns_dev_t *d);
/* Runs the messages that waited for d (after a load or a join). */
void ns_dev_drain(ns_t *ns, ns_dev_t *d);

int ns_worker_start(ns_t *ns, lw_err_t *err);
void ns_worker_stop(ns_t *ns);
void ns_worker_free(ns_t *ns);
/* Writes the dirty devices now (a join, the stop). */
void ns_worker_flush(ns_t *ns);
/* Announces the device's sessions on lw.ns.sessions once the batch being accumulated is
 * durable (the matchers then read the row). */
void ns_after_durable_sessions(ns_t *ns, ns_dev_t *d);
/* Publishes a copy of buf on topic (a static name) once the batch being accumulated is
 * durable: a message that must not leave before the state it depends on (a join-accept and
 * its pending session). Lost with a crash before then, as that state is. */
void ns_publish_after_durable(ns_t *ns, const char *topic, const char *key, const uint8_t *buf,
                              size_t len);
/* (Re)arms the window timer. */
void ns_uplink_windows_timer(ns_t *ns, uint64_t delay_ms);

/* ---- MAC glue (device.c) ---------------------------------------------------------------- */

/* The MAC context of d (band, plan, settings). Returns 0, or -1 when its plan is unknown. */
int ns_dev_mac_ctx(const ns_dev_t *d, ns_mac_ctx_t *ctx, lorawan_rp_rev_t *rev,
                   ns_mac_version_t *ver);
/* A MAC state initialised for a new session of d (malloc'd), or NULL (unknown plan). */
ns_mac_state_t *ns_dev_mac_new(const ns_dev_t *d);
/* Packs st into m (reallocated when it does not fit; NULL: a new one); returns m. */
ns_mac_stored_t *ns_mac_stored_put(ns_mac_stored_t *m, const ns_mac_state_t *st);
/* Unpacks m into *st (desired: ns_dev_desired's). Returns 0, or -1 when m is corrupt. */
int ns_mac_stored_get(const ns_mac_stored_t *m, const ns_mac_params_t *desired, ns_mac_state_t *st);
/* The desired parameters of a new session with d's settings: the shared settings' own, else
 * computed into *buf. NULL when the plan is unknown. */
const ns_mac_params_t *ns_dev_desired(const ns_dev_t *d, ns_mac_params_t *buf);
/* The active session's MAC state, expanded for use (created from the settings when
 * missing); NULL without session or plan. One device's state is expanded at a time
 * (ns->mac_work): the pointer is valid until ns_dev_mac of another device (which stores
 * this one back first) or ns_dev_mac_drop. What changes through it is d's: call
 * ns_dev_mac_sync before reading d->st.mac itself. */
ns_mac_state_t *ns_dev_mac(ns_t *ns, ns_dev_t *d);
/* Stores d's expanded MAC state back into d->st.mac (nothing when it is not expanded). */
void ns_dev_mac_sync(ns_t *ns, ns_dev_t *d);
/* d's MAC state is replaced or freed: its expanded copy is forgotten, not stored back. */
void ns_dev_mac_drop(ns_t *ns, ns_dev_t *d);

/* ---- uplinks (uplink.c) ----------------------------------------------------------------- */

void ns_uplink_handle(ns_t *ns, ns_dev_t *d, Lw__Msg__NsDev *m, ns_entry_t *e);
/* When a window opened now closes (monotonic ms): window_ms after the GS received the first
 * copy (received_at_ns, Unix ns; 0: unknown, the whole window from now), but at least
 * min_ms (capped at window_ms) from now. Pure. */
uint64_t ns_uplink_deadline_ms(uint64_t now_mono_ms, int64_t now_wall_ms, int64_t received_at_ns,
                               uint64_t window_ms, uint64_t min_ms);
/* Closes the windows whose deadline passed. */
void ns_uplink_windows_run(ns_t *ns);
void ns_uplink_window_close(ns_t *ns, ns_up_t *u);
/* The window's messages are done (their offsets go with the next batch); frees it. */
void ns_uplink_window_finish(ns_t *ns, ns_up_t *u);
/* Frees an open window without processing it (the device is forgotten). */
void ns_uplink_window_drop(ns_t *ns, ns_up_t *u);
uint64_t ns_hash64(const uint8_t *p, size_t n);
/* Records the uplink's frequency, data rate index and channel index in d's MAC state. */
void ns_uplink_radio(ns_dev_t *d, const Lw__Msg__TxSettings *ts);

/* ---- downlinks (downlink.c) -------------------------------------------------------------- */

/* LoRa RSSI: the channel RSSI adjusted for SNR (TTS lora.AdjustedRSSI): the SNR added below
 * -5 dB, scaled in between, nothing from 10 dB. Pure. */
float ns_adjusted_rssi(float channel_rssi, float snr);
/* The downlink paths of an uplink's gateway copies into out (at most max), best first as
 * TTS orders them (adjusted channel RSSI, copies without a channel RSSI last, stable), one
 * per gateway (its best copy: the scheduler is per gateway), copies without a gateway id or
 * uplink token left out. Returns how many. Pure. */
size_t ns_downlink_paths(Lw__Msg__RxMetadata *const *rx, size_t n, ns_path_t *out, size_t max);
/* May a refused downlink still be tried on another gateway at now_ns? (class A: before its
 * last window opens, less the margin the next attempt needs; window_end_ns 0: always.) */
bool ns_downlink_retry_allowed(int64_t now_ns, int64_t window_end_ns);
/* The class C ACK timeout of d (mac_settings.class_c_timeout, else TTS's 5 min), ns. */
int64_t ns_class_c_timeout_ns(const ns_dev_t *d);

/* d was (re)loaded: the deadlines of a downlink in flight and of an awaited class C ACK
 * are armed again (they live in memory only). */
void ns_downlink_loaded(ns_t *ns, ns_dev_t *d);
int ns_downlink_start(ns_t *ns);
void ns_downlink_stop(ns_t *ns);

/* After a data uplink (u: its copies): sends what is due in RX1/RX2 of the best gateway. */
void ns_downlink_class_a(ns_t *ns, ns_dev_t *d, const ns_up_t *u, bool ack, bool mac_down);
/* A class C device with something to send and no uplink to answer. */
void ns_downlink_class_c(ns_t *ns, ns_dev_t *d);
/* The join-accept PHYPayload from the JS, in the join-accept windows of the join-request. */
void ns_downlink_join_accept(ns_t *ns, ns_dev_t *d, const ns_up_t *u, const uint8_t *phy,
                             size_t len);
void ns_downlink_queue_op(ns_t *ns, ns_dev_t *d, Lw__Msg__AsDown *m);
void ns_downlink_txack(ns_t *ns, ns_dev_t *d, Lw__Msg__GsTxAck *m);
/* A data uplink with (ack) or without the ACK bit: the confirmed downlink awaited, if any,
 * is downlink_ack or downlink_nack. */
void ns_downlink_ack(ns_t *ns, ns_dev_t *d, bool ack);
/* The device switched to another session (a join's first uplink): the queue's items of
 * other sessions are handed back (downlink_queue_invalidated), the new session's stay. */
void ns_downlink_session_changed(ns_t *ns, ns_dev_t *d);
/* Publishes downlink_queue_invalidated for the items (session change). */
void ns_downlink_invalidated(ns_t *ns, ns_dev_t *d, ns_queued_t *items, size_t n);
/* Picks the gateway copy with the best signal (SNR, then RSSI). NULL when none. */
const Lw__Msg__RxMetadata *ns_best_rx(Lw__Msg__RxMetadata *const *rx, size_t n);

/* ---- joins (join.c) -------------------------------------------------------------------- */

/* Sends the JoinReq of window u (a join-request) for d; d->busy until answered. */
void ns_join_request(ns_t *ns, ns_dev_t *d, ns_up_t *u);
const ns_join_server_t *ns_join_server_for(const ns_t *ns, uint64_t join_eui);
const ns_kek_t *ns_kek_find(void *ns, const char *label);

/* ---- DevAddr assignment (api.c, join.c) ------------------------------------------------------ */

/* Picks a DevAddr for tenant `tenant_id` (its configured prefixes, else ns.dev-addr-prefixes)
 * unique among active sessions of the matcher's index where the space allows. */
uint32_t ns_devaddr_assign(ns_t *ns, const char *tenant_id, const ns_prefix_t *tenant_prefixes,
                           size_t n);

/* ---- matcher (matcher.c) ---------------------------------------------------------------- */

ns_matcher_t *ns_matcher_new(ns_t *ns);
int ns_matcher_start(ns_matcher_t *m, lw_err_t *err);
void ns_matcher_stop(ns_matcher_t *m);
void ns_matcher_free(ns_matcher_t *m);
/* Commits the offsets of the lw.gs.up messages whose lw.ns.dev copies were delivered. */
void ns_matcher_commit(ns_matcher_t *m);
/* Is the DevAddr held by an active session in the index? */
bool ns_matcher_addr_used(const ns_matcher_t *m, uint32_t dev_addr);
/* Tells every process's matcher that the device's sessions changed (after the write). */
void ns_sessions_publish(ns_t *ns, const char *tenant, const char *app, const char *dev);

/* ---- store (store.c) ---------------------------------------------------------------------- */

typedef struct ns_row {
    bool found;
    ns_settings_t set;
    ns_state_t st;
    int64_t gen, state_gen;
} ns_row_t;

/* Loads one device's row. cb exactly once, on the loop (row NULL with err on failure;
 * row->found false when there is none). Returns 0 or -1 (cb never called). */
typedef void (*ns_row_cb)(void *arg, ns_row_t *row, const lw_err_t *err);
int ns_store_load(ns_t *ns, const char *tenant, const char *app, const char *dev, ns_row_cb cb,
                  void *arg);
/* A batch: the dirty devices' states encoded now (they are clean afterwards), written later
 * by ns_store_write in one transaction (one statement per tenant), then done(ok); on
 * failure the devices still held are dirty again. */
ns_batch_t *ns_store_cut(ns_t *ns, void (*done)(ns_t *ns, bool ok));
void ns_store_write(ns_batch_t *b);
/* Parses a bytea column's text ("\x0a0b..."); returns a malloc'd buffer or NULL. */
uint8_t *ns_bytea_parse(const char *text, size_t *len);
/* "\x" + hex of buf, malloc'd. */
char *ns_bytea_text(const uint8_t *buf, size_t len);

/* ---- API (api.c) ------------------------------------------------------------------------------
 */

int ns_api_routes(ns_t *ns);

/* ---- device fields (devset.c): the API (api.c) and the device part (devpart.c) ------------ */

/* One device's NS part being read or written: its settings and state, under a mask. */
typedef struct ns_dev_edit {
    const lw_api_mask_t *mask;
    const json_t *body; /* apply: the end_device JSON */
    bool keys;          /* render: session keys shown */
    bool idempotent;    /* apply: session keys equal to the session's make no new session */
    ns_settings_t *set;
    ns_state_t *st;
    const char *app, *dev;         /* render: identifiers */
    const char *created, *updated; /* render: "" for none */
} ns_dev_edit_t;

/* Applies the mask's paths of e->body to e->set and e->st as PUT does (TTS's field names;
 * errors name "end_device.<path>"); *state_written tells whether the state changed. */
int ns_dev_apply(const ns_dev_edit_t *e, bool *state_written, lw_err_t *err);
/* The NS part as GET renders it (the mask's fields). */
json_t *ns_dev_render(const ns_dev_edit_t *e);
/* The messages that tell a device's owner (NsDev on lw.ns.dev, key "tenant/app/dev") and
 * every matcher (NsSessionChange on lw.ns.sessions, key tenant) of a write. 0 or -1. */
int ns_dev_control_encode(const char *tenant, const char *app, const char *dev,
                          Lw__Msg__NsDevControl control, const char *correlation_id, uint8_t *buf,
                          size_t cap, size_t *len);
int ns_session_change_encode(const char *tenant, const char *app, const char *dev, uint8_t *buf,
                             size_t cap, size_t *len);
/* The key-encryption keys of the configuration (ns.key-encryption-key[-label], ns.keks.*)
 * into ns (component.c); the device part loads them into an ns_t of its own. */
void ns_keys_load(ns_t *ns, const lw_config_t *cfg);

/* ---- events and metrics (event.c) -------------------------------------------------------- */

/* Publishes an event on lw.events (key: tenant) with the device's identifiers; data may be
 * NULL (reference taken). */
void ns_event(ns_t *ns, const char *tenant, const char *app, const char *dev, const char *name,
              json_t *data, const char *correlation_id);
/* Counts a dropped message with its reason (lwstack_ns_dropped_total{reason}). */
void ns_count_drop(ns_t *ns, const char *reason);
void ns_count(ns_t *ns, lw_metric_t *m, const char *label);

/* Publishes a message on a topic, key "<tenant>/<app>/<dev>" or as given; logs on failure. */
int ns_publish(ns_t *ns, const char *topic, const char *key, const uint8_t *buf, size_t len);
int ns_publish_ns_up(ns_t *ns, ns_dev_t *d, Lw__Msg__NsUp *up);
/* Fills 16 random bytes. */
void ns_random_id(uint8_t id[LW_MSG_ID_LEN]);

/* Copies a ProtobufCBinaryData-held string or bytes. */
int64_t ns_now_ns(void);

#endif
