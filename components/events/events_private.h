/* Private to the events server (components/events/) and its tests.
 *
 *   match.c      pure: a stream request (identifiers, names, tail, after) into a filter, an
 *                event's JSON into what matching needs, matching, visibility by rights
 *   hub.c        lw.events read as a broadcast (a private group per process, from the
 *                end), the recent history per tenant, subscribers and their rights
 *                (rechecked when the access checker forgets: revocations, tenant changes)
 *   stream.c     POST /api/v3/events: {"result": event} lines on a streaming response
 *   ws.c         the Console's WebSocket /api/v3/console/internal/events/ (TTS's protocol)
 *   component.c  configuration table and lifecycle
 *
 * History: each process keeps, per tenant, the last `events.history-count` events it read
 * and drops those older than `events.history-ttl`, in memory. It starts empty: the topic is
 * not read back at start (bus.h has no seek by time), so `tail` and `after` see what this
 * process read since it started. Every process reads every event, so all agree after a
 * while. (The Things Stack keeps them in Redis with a TTL; lwstack keeps no Redis.) */
#ifndef EVENTS_PRIVATE_H
#define EVENTS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>

#include "cluster/err.h"
#include "tenant/ids.h"

#define LW_ERR_DEF(name, ns, http, grpc, fmt) LW_ERR_DECLARE(name);
#include "events/errors.def"
#undef LW_ERR_DEF

/* ---- pure: match.c ------------------------------------------------------------------------ */

#define EV_MAX_IDS   16 /* identifiers in one request */
#define EV_MAX_NAMES 32 /* names in one request */
#define EV_NAME_MAX  96
#define EV_EVENT_IDS 4 /* identifiers of one event looked at */
#define EV_VIS_MAX   4 /* visibility rights of one event looked at */
#define EV_RIGHT_MAX 64
#define EV_MAX_TAIL  1024 /* TTS bounds its channel to 1024 */

typedef enum ev_ent {
    EV_APPLICATION,
    EV_DEVICE,
    EV_GATEWAY,
    EV_ORGANIZATION,
    EV_USER,
    EV_CLIENT,
} ev_ent_t;

/* One entity: `id` is its ID; a device's application in `app`. */
typedef struct ev_ids {
    ev_ent_t type;
    char id[TN_ID_MAX + 1];
    char app[TN_ID_MAX + 1];
} ev_ids_t;

typedef struct ev_filter {
    size_t n_ids;
    ev_ids_t ids[EV_MAX_IDS];
    size_t n_names;
    char names[EV_MAX_NAMES][EV_NAME_MAX];
    bool regex[EV_MAX_NAMES]; /* "/re/": a PCRE2 regex (RE2's syntax for names), in re[] */
    pcre2_code *re[EV_MAX_NAMES];
    pcre2_match_data *md; /* for the regexes, with match limits in mctx */
    pcre2_match_context *mctx;
    uint32_t tail;
    bool has_after;
    int64_t after_ns;
} ev_filter_t;

/* Reads identifiers, names, tail and after of a StreamEventsRequest (or the Console's
 * SubscribeRequest: `extra` names further keys allowed, NULL-terminated). Errors:
 * no_identifiers, invalid_field (naming the field), unknown_field, invalid_regexp. The
 * identifiers keep the request's order. On success release with ev_filter_free. */
int ev_filter_parse(json_t *body, const char *const *extra, ev_filter_t *f, lw_err_t *err);
void ev_filter_free(ev_filter_t *f);

/* What matching needs of an event. */
typedef struct ev_meta {
    char name[EV_NAME_MAX];
    int64_t time_ns; /* 0 when absent or malformed */
    size_t n_ids;
    ev_ids_t ids[EV_EVENT_IDS];
    size_t n_vis;
    char vis[EV_VIS_MAX][EV_RIGHT_MAX]; /* its visibility rights, or the default for its name */
} ev_meta_t;

/* Parses an event's JSON; -1 when it is not an object with a string `name`. */
int ev_meta_parse(const char *json, size_t len, ev_meta_t *out);

/* True when the filter's names (none: every name) let `name` through. */
bool ev_names_match(const ev_filter_t *f, const char *name);

/* The index of the filter's identifier an event falls under, or -1: the same entity, or a
 * device event under its application (TTS propagates device events to the application). */
int ev_match_ids(const ev_filter_t *f, const ev_meta_t *m);

/* True when rights (the caller's on the matched entity: a device's application) include one
 * of the event's visibility rights. */
bool ev_visible(const ev_meta_t *m, const char *const *rights, size_t n);

/* The rights that see an event without `visibility` (The Things Stack's definitions by
 * name: TRAFFIC_READ for data path events, STATUS_READ for gateway status, *_INFO for the
 * registry's). Writes up to EV_VIS_MAX names into out; returns how many. */
size_t ev_default_visibility(const char *name, ev_ent_t type, char out[][EV_RIGHT_MAX]);

/* The filter's identifiers as TTS's EntityIdentifiers JSON (for events.stream.start), new
 * reference. */
json_t *ev_filter_ids_json(const ev_filter_t *f);

/* The tenant access checker's entity type of an identifier ("application" for a device),
 * NULL for a client (not served by tenant/access.h). */
const char *ev_access_type(const ev_ids_t *ids);
/* The entity's ID the access checker is asked about (a device's application). */
const char *ev_access_id(const ev_ids_t *ids);

/* ---- the server: hub.c, stream.c, ws.c, component.c ------------------------------------- */

#include <uv.h>

#include "cluster/bus.h"
#include "cluster/http.h"
#include "cluster/metrics.h"
#include "tenant/access.h"
#include "tenant/tenant.h"

#define EV_BUCKETS 256

/* One event read from lw.events, as published (TTS's event JSON). */
typedef struct ev_rec {
    uint64_t at_ms;  /* monotonic, when read */
    ev_meta_t *meta; /* parsed when first needed */
    bool bad;        /* not an event: never delivered */
    size_t len;
    char text[]; /* NUL-terminated */
} ev_rec_t;

typedef struct ev_sub ev_sub_t;

typedef struct ev_tenant {
    struct ev_tenant *next; /* hash chain */
    char id[TN_ID_MAX + 1];
    ev_rec_t **ring; /* history: n records from head (the oldest) */
    size_t head, n;
    ev_sub_t *subs; /* live and checking subscribers */
    size_t nsubs;
    int dispatching; /* inside a delivery loop: closed subscribers are swept after it */
} ev_tenant_t;

typedef struct ev_stream ev_stream_t;
typedef struct ev_ws ev_ws_t;

typedef struct ev {
    lw_rt_t *rt;
    uv_loop_t *loop;
    lw_bus_t *bus;
    tn_t *tn;
    tn_access_t *access;
    bool enabled; /* events.enabled */
    lw_bus_consumer_t *consumer;
    bool assigned; /* lw.events partitions assigned: ready */
    size_t history_count;
    int64_t history_ttl_ms;
    int64_t heartbeat_ms;
    size_t max_subs; /* per tenant */
    size_t stream_max_queued;
    ev_tenant_t *buckets[EV_BUCKETS];
    uv_timer_t heartbeat;
    bool timer_open;
    ev_stream_t *streams; /* stream.c */
    ev_ws_t *wss;         /* ws.c */
    char origin[64];      /* host name, for events.stream.start */
    lw_metric_t *m_events, *m_delivered, *m_dropped;
    lw_metric_series_t *s_events;
} ev_t;

/* What a front end (stream.c, ws.c) is told about its subscriber. */
typedef struct ev_sub_ops {
    /* The rights checks of ev_sub_check are done: err NULL when the caller has rights on
     * every identifier (then call ev_sub_start), else TTS's error for the first without. */
    void (*ready)(ev_sub_t *s, const lw_err_t *err);
    /* An event for the subscriber (history, then live). Returns 0, or -1 when the front end
     * has dropped it (it called ev_sub_close). */
    int (*deliver)(ev_sub_t *s, const char *text, size_t len);
    /* A recheck (after a revocation or a tenant change) found the rights gone. */
    void (*revoked)(ev_sub_t *s, const lw_err_t *err);
} ev_sub_ops_t;

struct ev_sub {
    ev_t *ev;
    tn_tenant_t t;
    char *authorization; /* the caller's header, for rechecks: never logged */
    ev_filter_t filter;
    char **rights[EV_MAX_IDS]; /* held on each identifier's entity (a device's application) */
    size_t n_rights[EV_MAX_IDS];
    const ev_sub_ops_t *ops;
    void *owner; /* the front end's */
    uint64_t ws_id;
    ev_sub_t *owner_next; /* the front end's list */
    /* state */
    ev_tenant_t *tenant;
    ev_sub_t *prev, *next;
    int refs;    /* the front end's, and one per check under way */
    int pending; /* checks under way */
    bool rechecking, recheck_again, live, closed;
    int fail_index;
    lw_err_t err;
    char **new_rights[EV_MAX_IDS];
    size_t n_new_rights[EV_MAX_IDS];
};

/* hub.c */
int ev_hub_start(ev_t *ev, lw_err_t *err);
void ev_hub_stop(ev_t *ev);
void ev_hub_free(ev_t *ev);
/* A subscriber of tenant t (the filter is filled in by the caller before ev_sub_check).
 * Returns NULL with too_many_subscriptions when the tenant has events.max-subscriptions. */
ev_sub_t *ev_sub_new(ev_t *ev, const tn_tenant_t *t, const char *authorization,
                     const ev_sub_ops_t *ops, void *owner, lw_err_t *err);
/* Asks the access checker about every identifier; ops->ready follows (never from inside). */
void ev_sub_check(ev_sub_t *s);
/* Delivers the history that tail/after ask for, then every new event. */
void ev_sub_start(ev_sub_t *s);
/* The front end lets go: no callback follows; freed once no check is under way. */
void ev_sub_close(ev_sub_t *s);

/* stream.c */
int ev_stream_routes(ev_t *ev);
void ev_stream_heartbeat(ev_t *ev);
void ev_stream_stop(ev_t *ev);

/* ws.c */
int ev_ws_routes(ev_t *ev);
void ev_ws_heartbeat(ev_t *ev);
void ev_ws_stop(ev_t *ev);

#endif
