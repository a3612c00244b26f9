/* Webhook delivery, durable (issue 10 item 5; WEBHOOKS.md).
 *
 * A consumer in group "as.webhooks" reads lw.as.up. Each message, in arrival order per
 * partition, meets its application's webhooks (a cache of as_webhooks, dropped by the
 * AsWebhookChanged broadcast on lw.as.webhooks): for each webhook that is not paused and
 * has a path for the message's type, one row (the ApplicationUp JSON with the webhook's
 * field_mask applied) goes into the tenant's outbox, as_webhook_outbox, written in batches.
 * The message's offset is committed once every row it gave is in (or it gave none): from
 * then on the outbox holds it, whatever happens to the process.
 *
 * Rows then wait in memory, per webhook and device, in outbox order: one request in flight
 * per webhook and device (order per device), at most as.webhooks.max-in-flight per webhook.
 * A 2xx deletes the row (batched); anything else keeps it first in its device's queue and
 * makes the webhook unhealthy: from then on it gets one request at a time, after a backoff
 * (as.webhooks.backoff.base doubling to .max, jitter 50-100 %), until one succeeds. A row
 * that failed as.webhooks.dead-letter.attempts times, or is older than
 * as.webhooks.dead-letter.age while its webhook fails, moves to as_webhook_dead_letters
 * (as.webhook.deadletter event); the API replays them (webhook_api.c) into the outbox with
 * `replayed` set, and the owner of their partition claims them. Health is kept in
 * as_webhooks.health as TTS shows it, failures announced by as.webhook.fail events.
 *
 * Ownership: a row carries the lw.as.up partition of its device; the process that holds the
 * partition delivers its rows (on assignment it loads them from every tenant's outbox, and
 * holds the partition's new messages until they are in). A webhook's queues, its in-flight
 * cap and its backoff are its own: a slow or dead endpoint delays nothing else, and a
 * suspended tenant's webhooks send nothing (rows still go in) until it is active again.
 *
 * At least once: a row is sent again when the process stops between the 2xx and the
 * delete's commit (at most one batch interval, AS_WH_FLUSH_MS), and when a message is
 * consumed again after a crash (the last ~1 s before it) once its earlier row was already
 * delivered and deleted; a row still in the outbox is never duplicated (unique by
 * webhook and AsUp envelope id). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "as/webhook_private.h"
#include "cluster/hex.h"
#include "cluster/http_client.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "cluster/uid.h"
#include "tenant/tenant.h"

#define AS_WH_FLUSH_MS  20u   /* outbox inserts and deletes are batched this long */
#define AS_WH_BATCH     1024u /* rows of one INSERT (8 parameters each) */
#define AS_WH_DEL_BATCH 1024u /* ids of one DELETE */
#define AS_WH_LANES     2u    /* INSERTs in flight per tenant, devices split among them */
#define AS_WH_RETRY_MS  1000u /* a failed statement is tried again after this */
#define AS_WH_CACHE_MS  60000 /* a cached application's webhooks are read again after this */
#define AS_WH_GROUP     "as.webhooks"

const lw_cfg_opt_t as_webhook_config[] = {
    {.key = "as.webhooks.timeout",
     .type = LW_CFG_DURATION,
     .def = "5s",
     .min = 100,
     .max = 120000,
     .help = "Time limit of one webhook request (TTS: as.webhooks.timeout)."},
    {.key = "as.webhooks.max-in-flight",
     .type = LW_CFG_INT,
     .def = "16",
     .min = 1,
     .max = 1024,
     .help = "Requests in flight at once per webhook (one per device at most, for order)."},
    {.key = "as.webhooks.max-queued",
     .type = LW_CFG_INT,
     .def = "10000",
     .min = 1,
     .max = 10000000,
     .help = "Undelivered messages of one webhook kept in memory; beyond, they wait in the "
             "outbox only and are read back, oldest first, as the webhook catches up."},
    {.key = "as.webhooks.backoff.base",
     .type = LW_CFG_DURATION,
     .def = "1s",
     .min = 10,
     .max = 3600000,
     .help = "Delay after a webhook's first failure; it doubles with every further one."},
    {.key = "as.webhooks.backoff.max",
     .type = LW_CFG_DURATION,
     .def = "5m",
     .min = 10,
     .max = 86400000,
     .help = "Longest delay between two tries of a failing webhook (jitter 50-100 %)."},
    {.key = "as.webhooks.dead-letter.attempts",
     .type = LW_CFG_INT,
     .def = "100",
     .min = 1,
     .max = 1000000,
     .help = "Failed attempts after which a message becomes a dead letter."},
    {.key = "as.webhooks.dead-letter.age",
     .type = LW_CFG_DURATION,
     .def = "24h",
     .min = 100,
     .max = 2592000000,
     .help = "Age after which an undelivered message of a failing webhook becomes a dead "
             "letter (GET/POST /api/v3/as/webhooks/{app}/{webhook_id}/dead-letters)."},
    {.key = "as.webhooks.downlink.public-address",
     .type = LW_CFG_STRING,
     .def = "http://localhost:1885/api/v3",
     .help = "Public address of the HTTP API as webhooks see it: the X-Downlink-Push and "
             "X-Downlink-Replace URLs start with it, X-Tts-Domain is its host (TTS: "
             "as.webhooks.downlink.public-address)."},
};
const size_t as_webhook_config_len = sizeof as_webhook_config / sizeof as_webhook_config[0];

/* ---- state ---------------------------------------------------------------------------------- */

typedef struct wh_ticket wh_ticket_t;
typedef struct wh_part wh_part_t;
typedef struct wh_tenant wh_tenant_t;
typedef struct wh_hook wh_hook_t;
typedef struct wh_dev wh_dev_t;

/* A consumed message's commit entry and the rows it still waits for. */
struct wh_ticket {
    lw_bus_commit_entry_t *entry;
    int pending; /* rows not yet in the outbox */
};

/* One lw.as.up message waiting for its partition's load or its application's webhooks. */
typedef struct wh_msg {
    struct wh_msg *next;
    wh_ticket_t *ticket;
    char tenant[TN_ID_MAX + 1], app[TN_ID_MAX + 1], dev[TN_ID_MAX + 1];
    char msg_id[2 * LW_MSG_ID_LEN + 1];
    int type;
    int64_t received_at;
    char *json; /* NUL-terminated */
} wh_msg_t;

struct wh_part {
    wh_part_t *next;
    int32_t partition;
    bool loading;
    uint32_t gen;
    wh_msg_t *head, *tail;
};

/* One outbox row in memory. */
typedef struct wh_row {
    struct wh_row *next;
    int64_t id;
    wh_hook_t *hook;     /* the insert batch's rows only */
    wh_ticket_t *ticket; /* idem */
    uint32_t part_gen;   /* idem */
    char dev[TN_ID_MAX + 1];
    char msg_id[2 * LW_MSG_ID_LEN + 1];
    int32_t partition;
    int type;
    uint32_t attempts;
    int64_t created_ms;
    int64_t received_at;
    char *body;
    size_t len;
} wh_row_t;

struct wh_dev {
    wh_dev_t *next;  /* the hook's hash chain */
    wh_dev_t *rnext; /* the hook's ready list */
    char id[TN_ID_MAX + 1];
    int32_t partition;
    wh_row_t *head, *tail;
    bool busy, ready, gone;
};

#define WH_DEV_BUCKETS 256u

struct wh_hook {
    wh_hook_t *next;
    wh_tenant_t *t;
    char app[TN_ID_MAX + 1], id[WH_ID_MAX + 1];
    /* configuration (the cache) */
    bool configured, deleted, paused;
    char *base_url;
    json_t *headers;
    char *paths[WH_TYPES]; /* NULL: the type is not sent */
    char **mask;
    size_t nmask;
    char *key; /* downlink_api_key, NULL: none */
    /* delivery */
    wh_dev_t *devs[WH_DEV_BUCKETS];
    wh_dev_t *rhead, *rtail;
    size_t queued;
    int inflight;
    uint32_t failures;
    int64_t last_fail_ms, next_ms;
    json_t *last_error;
    bool health_busy, health_dirty;
    bool health_unknown; /* as_webhooks.health is NULL: the first success writes healthy */
    /* More undelivered rows than as.webhooks.max-queued: the newer ones are in the outbox
     * only (spilled), read back once the queues are empty (reloading); rows written while
     * that read runs wait aside. */
    bool spilled, reloading, reload_void;
    wh_row_t *aside_head, *aside_tail;
    int refs;
};

typedef struct wh_app {
    struct wh_app *next;
    char id[TN_ID_MAX + 1];
    bool ready, loading, stale;
    int64_t loaded_ms;
} wh_app_t;

/* Rows waiting for their INSERT. */
typedef struct wh_lane {
    wh_row_t *head, *tail;
    size_t n;
    wh_row_t *busy; /* the batch being written */
    int64_t retry_ms;
} wh_lane_t;

struct wh_tenant {
    wh_tenant_t *next;
    char id[TN_ID_MAX + 1];
    char schema[TN_SCHEMA_MAX + 8];
    bool active;
    wh_app_t *apps;
    wh_hook_t *hooks;
    /* outbox writes */
    wh_lane_t lanes[AS_WH_LANES]; /* by device: one INSERT in flight each, device order kept */
    int64_t *del;
    size_t ndel, cdel;
    int64_t *del_busy;
    size_t ndel_busy;
    int64_t del_retry_ms;
    int dead_busy; /* dead-letter moves in flight */
};

struct as_webhooks {
    as_t *as;
    lw_bus_consumer_t *c, *changes;
    lw_http_client_t *http;
    bool http_closed;
    wh_part_t *parts;
    wh_tenant_t *tenants;
    uv_timer_t tick;
    bool tick_on;
    /* configuration */
    int64_t timeout_ms, backoff_base, backoff_max, dead_age_ms;
    uint32_t dead_attempts;
    int max_inflight;
    size_t max_queued;
    char public_address[WH_URL_MAX + 1];
    char domain[256];
    /* what is outstanding (stop waits for it) */
    int db_inflight, http_inflight;
    bool stopping;
    lw_bus_commitq_t cq;
    uint32_t gens; /* partition generations: a revoked partition's rows never match again */
    lw_metric_t *m_sent, *m_rows;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count_sent(as_webhooks_t *w, const char *result)
{
    const char *const v[] = {result, NULL};
    lw_metric_add(w->m_sent, v, 1);
}

static void row_free(wh_row_t *r)
{
    if (r == NULL)
        return;
    free(r->body);
    free(r);
}

/* ---- commits -------------------------------------------------------------------------------- */

static wh_part_t *part_find(as_webhooks_t *w, int32_t partition)
{
    for (wh_part_t *p = w->parts; p != NULL; p = p->next)
        if (p->partition == partition)
            return p;
    return NULL;
}

static void commit_flush(as_webhooks_t *w)
{
    lw_bus_commitq_flush(&w->cq, 0);
}

/* One of the ticket's rows is in (or gone); the last one makes its message done. */
static void ticket_row_in(wh_ticket_t *t)
{
    if (t == NULL || --t->pending > 0)
        return;
    lw_bus_commitq_done(t->entry, 0);
    free(t);
}

/* ---- tenants, hooks, devices ------------------------------------------------------------------
 */

static wh_tenant_t *tenant_get(as_webhooks_t *w, const char *id)
{
    for (wh_tenant_t *t = w->tenants; t != NULL; t = t->next)
        if (strcmp(t->id, id) == 0)
            return t;
    wh_tenant_t *t = lw_calloc(1, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", id);
    as_store_schema(id, t->schema, sizeof t->schema);
    tn_tenant_t tt;
    t->active = tn_get(w->as->tn, id, &tt) && !tt.deleted && tn_state_active(tt.state);
    t->next = w->tenants;
    w->tenants = t;
    return t;
}

static void hook_config_clear(wh_hook_t *h)
{
    free(h->base_url);
    h->base_url = NULL;
    json_decref(h->headers);
    h->headers = NULL;
    for (unsigned i = 0; i < WH_TYPES; i++) {
        free(h->paths[i]);
        h->paths[i] = NULL;
    }
    for (size_t i = 0; i < h->nmask; i++)
        free(h->mask[i]);
    free(h->mask);
    h->mask = NULL;
    h->nmask = 0;
    if (h->key != NULL)
        OPENSSL_cleanse(h->key, strlen(h->key));
    free(h->key);
    h->key = NULL;
}

static wh_hook_t *hook_find(wh_tenant_t *t, const char *app, const char *id)
{
    for (wh_hook_t *h = t->hooks; h != NULL; h = h->next)
        if (!h->deleted && strcmp(h->app, app) == 0 && strcmp(h->id, id) == 0)
            return h;
    return NULL;
}

static wh_hook_t *hook_get(wh_tenant_t *t, const char *app, const char *id)
{
    wh_hook_t *h = hook_find(t, app, id);
    if (h != NULL)
        return h;
    h = lw_calloc(1, sizeof *h);
    h->t = t;
    snprintf(h->app, sizeof h->app, "%s", app);
    snprintf(h->id, sizeof h->id, "%s", id);
    h->refs = 1;
    h->next = t->hooks;
    t->hooks = h;
    return h;
}

static uint32_t dev_hash(const char *s)
{
    uint32_t x = 2166136261u;
    for (; *s != '\0'; s++)
        x = (x ^ (uint8_t)*s) * 16777619u;
    return x % WH_DEV_BUCKETS;
}

static wh_dev_t *dev_get(wh_hook_t *h, const char *id, int32_t partition, bool create)
{
    uint32_t b = dev_hash(id);
    for (wh_dev_t *d = h->devs[b]; d != NULL; d = d->next)
        if (strcmp(d->id, id) == 0)
            return d;
    if (!create)
        return NULL;
    wh_dev_t *d = lw_calloc(1, sizeof *d);
    snprintf(d->id, sizeof d->id, "%s", id);
    d->partition = partition;
    d->next = h->devs[b];
    h->devs[b] = d;
    return d;
}

static void dev_unlink(wh_hook_t *h, wh_dev_t *d)
{
    wh_dev_t **pp = &h->devs[dev_hash(d->id)];
    while (*pp != NULL && *pp != d)
        pp = &(*pp)->next;
    if (*pp == d)
        *pp = d->next;
}

static void ready_push(wh_hook_t *h, wh_dev_t *d)
{
    if (d->ready || d->busy || d->head == NULL || d->gone)
        return;
    d->ready = true;
    d->rnext = NULL;
    if (h->rtail != NULL)
        h->rtail->rnext = d;
    else
        h->rhead = d;
    h->rtail = d;
}

static wh_dev_t *ready_pop(wh_hook_t *h)
{
    wh_dev_t *d = h->rhead;
    if (d == NULL)
        return NULL;
    h->rhead = d->rnext;
    if (h->rhead == NULL)
        h->rtail = NULL;
    d->ready = false;
    return d;
}

/* Frees a device's queue (its rows stay in the outbox) unless a request is in flight for
 * it: then the callback frees it. */
static void dev_drop(wh_hook_t *h, wh_dev_t *d)
{
    dev_unlink(h, d);
    wh_row_t *r = d->head;
    while (r != NULL) {
        wh_row_t *n = r->next;
        row_free(r);
        h->queued--;
        r = n;
    }
    d->head = d->tail = NULL;
    if (d->busy)
        d->gone = true;
    else
        free(d);
}

static void ready_rebuild(wh_hook_t *h)
{
    h->rhead = h->rtail = NULL;
    for (unsigned b = 0; b < WH_DEV_BUCKETS; b++)
        for (wh_dev_t *d = h->devs[b]; d != NULL; d = d->next) {
            d->ready = false;
            ready_push(h, d);
        }
}

static void hook_unref(wh_hook_t *h)
{
    if (--h->refs > 0)
        return;
    hook_config_clear(h);
    json_decref(h->last_error);
    free(h);
}

static void aside_free(wh_hook_t *h);

/* The hook is gone from the registry: its queues go (its rows went with it, ON DELETE
 * CASCADE). Requests in flight hold a reference. */
static void hook_delete(wh_tenant_t *t, wh_hook_t *h)
{
    wh_hook_t **pp = &t->hooks;
    while (*pp != NULL && *pp != h)
        pp = &(*pp)->next;
    if (*pp == h)
        *pp = h->next;
    h->deleted = true;
    aside_free(h);
    for (unsigned b = 0; b < WH_DEV_BUCKETS; b++)
        while (h->devs[b] != NULL)
            dev_drop(h, h->devs[b]);
    h->rhead = h->rtail = NULL;
    hook_unref(h);
}

/* ---- delivery ---------------------------------------------------------------------------------
 */

static void pump(as_webhooks_t *w, wh_hook_t *h);
static void dead_letter(as_webhooks_t *w, wh_hook_t *h, wh_dev_t *d);

typedef struct wh_send {
    as_webhooks_t *w;
    wh_hook_t *h;
    wh_dev_t *d;
    int64_t row_id;
    char url[WH_URL_MAX + 1];
} wh_send_t;

static void health_write(as_webhooks_t *w, wh_hook_t *h);

static json_t *health_json(const wh_hook_t *h)
{
    if (h->failures == 0)
        return json_pack("{s{}}", "healthy");
    char when[40];
    as_time_text(h->last_fail_ms * 1000000, when);
    char n[24];
    snprintf(n, sizeof n, "%" PRIu32, h->failures);
    json_t *u = json_pack("{ss ss}", "failed_attempts", n, "last_failed_attempt_at", when);
    if (h->last_error != NULL)
        json_object_set(u, "last_failed_attempt_details", h->last_error);
    return json_pack("{so}", "unhealthy", u);
}

typedef struct wh_health_op {
    as_webhooks_t *w;
    wh_hook_t *h;
} wh_health_op_t;

static void health_written(void *arg, const PGresult *res, const lw_err_t *err)
{
    (void)res;
    wh_health_op_t *op = arg;
    as_webhooks_t *w = op->w;
    wh_hook_t *h = op->h;
    w->db_inflight--;
    h->health_busy = false;
    if (err != NULL)
        lw_log(LW_LOG_WARN, "as", "webhook health not stored", "tenant", h->t->id, "webhook", h->id,
               "error", err->message, NULL);
    bool again = h->health_dirty && !h->deleted;
    h->health_dirty = false;
    free(op);
    if (again)
        health_write(w, h);
    hook_unref(h);
}

static void health_write(as_webhooks_t *w, wh_hook_t *h)
{
    if (h->health_busy) {
        h->health_dirty = true;
        return;
    }
    json_t *j = health_json(h);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE %s.as_webhooks SET health = $3::jsonb WHERE application_id = $1 AND "
             "webhook_id = $2",
             h->t->schema);
    const char *p[3] = {h->app, h->id, text};
    wh_health_op_t *op = lw_calloc(1, sizeof *op);
    op->w = w;
    op->h = h;
    h->refs++;
    h->health_busy = true;
    w->db_inflight++;
    if (lw_db_query(w->as->db, sql, 3, p, health_written, op) != 0) {
        w->db_inflight--;
        h->health_busy = false;
        h->refs--;
        free(op);
    }
    free(text);
}

static void row_done(as_webhooks_t *w, wh_hook_t *h, wh_dev_t *d)
{
    wh_row_t *r = d->head;
    d->head = r->next;
    if (d->head == NULL)
        d->tail = NULL;
    h->queued--;
    wh_tenant_t *t = h->t;
    if (t->ndel == t->cdel) {
        t->cdel = t->cdel == 0 ? 256 : 2 * t->cdel;
        t->del = lw_realloc(t->del, t->cdel * sizeof *t->del);
    }
    t->del[t->ndel++] = r->id;
    row_free(r);
    (void)w;
}

static void attempts_write(as_webhooks_t *w, wh_hook_t *h, const wh_row_t *r);

static void sent(void *arg, lw_http_client_req_t *req, const lw_http_client_response_t *res,
                 const lw_err_t *err)
{
    (void)req;
    wh_send_t *s = arg;
    as_webhooks_t *w = s->w;
    wh_hook_t *h = s->h;
    wh_dev_t *d = s->d;
    w->http_inflight--;
    h->inflight--;
    d->busy = false;
    bool ok = res != NULL && res->status >= 200 && res->status <= 299;
    if ((w->stopping && !ok) || h->deleted || d->gone || d->head == NULL ||
        d->head->id != s->row_id) {
        /* The webhook, the device's queue (revoked partition) or the row went meanwhile. */
        if (d->gone)
            free(d);
        goto out;
    }
    if (ok) {
        count_sent(w, "delivered");
        row_done(w, h, d);
        if (h->health_unknown) {
            h->health_unknown = false;
            health_write(w, h);
        }
        if (h->failures > 0) {
            h->failures = 0;
            json_decref(h->last_error);
            h->last_error = NULL;
            lw_log_kv(LW_LOG_INFO, "as", "webhook healthy again", LW_LOG_STR("tenant", h->t->id),
                      LW_LOG_STR("application", h->app), LW_LOG_STR("webhook", h->id));
            health_write(w, h);
            ready_rebuild(h);
        }
    } else {
        count_sent(w, "failed");
        wh_row_t *r = d->head;
        r->attempts++;
        h->failures++;
        h->health_unknown = false;
        h->last_fail_ms = now_ms();
        uint32_t rnd = 0;
        RAND_bytes((unsigned char *)&rnd, sizeof rnd);
        h->next_ms =
            h->last_fail_ms + (int64_t)wh_backoff_ms((uint64_t)w->backoff_base,
                                                     (uint64_t)w->backoff_max, h->failures, rnd);
        /* TTS's error details of the sink's `request` error. */
        json_t *attrs = json_pack("{ss ss}", "webhook_id", h->id, "url", s->url);
        if (res != NULL)
            json_object_set_new(attrs, "status_code", json_integer(res->status));
        json_t *details =
            json_pack("{ss ss ss so si}", "namespace", "pkg/applicationserver/io/web/sink", "name",
                      "request", "message_format", "request", "attributes", attrs, "code", 14);
        if (err != NULL)
            json_object_set_new(details, "cause",
                                json_pack("{ss ss ss}", "namespace", "pkg/httpclient", "name",
                                          lw_err_name(err), "message_format", err->message));
        json_decref(h->last_error);
        h->last_error = details;
        as_event(w->as, h->t->id, h->app, d->id, "as.webhook.fail", json_deep_copy(details), NULL);
        health_write(w, h);
        if (r->attempts >= w->dead_attempts)
            dead_letter(w, h, d);
        else
            attempts_write(w, h, r);
        if (h->failures == 1)
            lw_log_kv(LW_LOG_WARN, "as", "webhook failing", LW_LOG_STR("tenant", h->t->id),
                      LW_LOG_STR("application", h->app), LW_LOG_STR("webhook", h->id),
                      LW_LOG_STR("error", err != NULL ? lw_err_name(err) : "status"),
                      LW_LOG_INT("status", res != NULL ? res->status : 0));
    }
    ready_push(h, d);
out:
    hook_unref(h);
    free(s);
    if (!h->deleted)
        pump(w, h);
}

static int send_head(as_webhooks_t *w, wh_hook_t *h, wh_dev_t *d)
{
    wh_row_t *r = d->head;
    const char *path = r->type > 0 && r->type < (int)WH_TYPES ? h->paths[r->type] : NULL;
    if (path == NULL) {
        /* The type is no longer sent: done with it. */
        row_done(w, h, d);
        return 0;
    }
    wh_send_t *s = lw_calloc(1, sizeof *s);
    char auth[WH_URL_MAX];
    if (wh_url(h->base_url, path, s->url, sizeof s->url, auth, sizeof auth) != 0) {
        free(s);
        row_done(w, h, d);
        count_sent(w, "bad_url");
        return 0;
    }
    lw_http_client_header_t hd[WH_HEADERS_MAX + 8];
    size_t n = 0;
    hd[n++] = (lw_http_client_header_t){"Content-Type", "application/json"};
    bool has_auth = false;
    const char *k;
    json_t *v;
    json_object_foreach(h->headers, k, v)
    {
        if (n >= WH_HEADERS_MAX + 1)
            break;
        hd[n++] = (lw_http_client_header_t){k, json_string_value(v)};
        if (strcasecmp(k, "authorization") == 0)
            has_auth = true;
    }
    if (auth[0] != '\0' && !has_auth)
        hd[n++] = (lw_http_client_header_t){"Authorization", auth};
    char push[WH_URL_MAX + 512], replace[WH_URL_MAX + 512];
    if (h->key != NULL) {
        snprintf(push, sizeof push, "%s/as/applications/%s/webhooks/%s/devices/%s/down/push",
                 w->public_address, h->app, h->id, d->id);
        snprintf(replace, sizeof replace,
                 "%s/as/applications/%s/webhooks/%s/devices/%s/down/replace", w->public_address,
                 h->app, h->id, d->id);
        hd[n++] = (lw_http_client_header_t){"X-Downlink-Apikey", h->key};
        hd[n++] = (lw_http_client_header_t){"X-Downlink-Push", push};
        hd[n++] = (lw_http_client_header_t){"X-Downlink-Replace", replace};
    }
    if (w->domain[0] != '\0')
        hd[n++] = (lw_http_client_header_t){"X-Tts-Domain", w->domain};
    lw_http_client_req_opts_t o = {
        .method = "POST",
        .url = s->url,
        .headers = hd,
        .nheaders = n,
        .body = r->body,
        .body_len = r->len,
        .timeout_ms = w->timeout_ms,
        .max_response_bytes = 64 * 1024,
    };
    s->w = w;
    s->h = h;
    s->d = d;
    s->row_id = r->id;
    lw_err_t e;
    lw_err_clear(&e);
    if (lw_http_client_send(w->http, &o, sent, s, &e) == NULL) {
        free(s);
        return -1;
    }
    h->refs++;
    h->inflight++;
    w->http_inflight++;
    d->busy = true;
    return 0;
}

static bool can_send(as_webhooks_t *w, wh_hook_t *h, int64_t now)
{
    if (w->stopping || w->http == NULL || !h->configured || h->deleted || h->paused ||
        !h->t->active || h->base_url == NULL)
        return false;
    if (h->failures > 0)
        return h->inflight == 0 && now >= h->next_ms;
    return h->inflight < w->max_inflight;
}

static void pump(as_webhooks_t *w, wh_hook_t *h)
{
    int64_t now = now_ms();
    while (h->rhead != NULL && can_send(w, h, now)) {
        wh_dev_t *d = ready_pop(h);
        if (d->head == NULL || d->busy)
            continue;
        if (send_head(w, h, d) != 0) {
            ready_push(h, d);
            break;
        }
        if (!d->busy)
            ready_push(h, d); /* the head was dropped, not sent: go on with the next */
    }
}

/* ---- outbox writes -------------------------------------------------------------------------- */

typedef struct wh_db_op {
    as_webhooks_t *w;
    wh_tenant_t *t;
    unsigned lane;
    wh_hook_t *h;
    int64_t *ids;
    size_t n;
    wh_row_t *rows;
} wh_db_op_t;

static void attempts_written(void *arg, const PGresult *res, const lw_err_t *err)
{
    (void)res;
    (void)err; /* best effort: the count only decides when a row becomes a dead letter */
    wh_db_op_t *op = arg;
    op->w->db_inflight--;
    free(op);
}

static void attempts_write(as_webhooks_t *w, wh_hook_t *h, const wh_row_t *r)
{
    char sql[160], id[24], n[16];
    snprintf(sql, sizeof sql, "UPDATE %s.as_webhook_outbox SET attempts = $2 WHERE id = $1",
             h->t->schema);
    snprintf(id, sizeof id, "%" PRId64, r->id);
    snprintf(n, sizeof n, "%" PRIu32, r->attempts);
    const char *p[2] = {id, n};
    wh_db_op_t *op = lw_calloc(1, sizeof *op);
    op->w = w;
    w->db_inflight++;
    if (lw_db_query(w->as->db, sql, 2, p, attempts_written, op) != 0) {
        w->db_inflight--;
        free(op);
    }
}

/* "{1,2,3}" */
static char *ids_array(const int64_t *ids, size_t n)
{
    char *s = lw_malloc(n * 21 + 3);
    size_t o = 0;
    s[o++] = '{';
    for (size_t i = 0; i < n; i++)
        o += (size_t)sprintf(s + o, "%s%" PRId64, i > 0 ? "," : "", ids[i]);
    s[o++] = '}';
    s[o] = '\0';
    return s;
}

static void dead_written(void *arg, const PGresult *res, const lw_err_t *err)
{
    (void)res;
    wh_db_op_t *op = arg;
    op->w->db_inflight--;
    op->t->dead_busy--;
    if (err != NULL)
        lw_log(LW_LOG_WARN, "as", "webhook dead letters not moved (tried again on assignment)",
               "tenant", op->t->id, "error", err->message, NULL);
    free(op->ids);
    hook_unref(op->h);
    free(op);
}

/* The head of d becomes a dead letter. */
static void dead_letter(as_webhooks_t *w, wh_hook_t *h, wh_dev_t *d)
{
    wh_row_t *r = d->head;
    d->head = r->next;
    if (d->head == NULL)
        d->tail = NULL;
    h->queued--;
    char *err_text = h->last_error != NULL ? json_dumps(h->last_error, JSON_COMPACT) : NULL;
    char sql[1024], id[24];
    snprintf(sql, sizeof sql,
             "WITH m AS (DELETE FROM %s.as_webhook_outbox WHERE id = $1 RETURNING *) "
             "INSERT INTO %s.as_webhook_dead_letters (application_id, webhook_id, device_id, "
             "part, msg_id, up_type, body, received_at, created_at, attempts, last_error) "
             "SELECT application_id, webhook_id, device_id, part, msg_id, up_type, body, "
             "received_at, created_at, $2::int, $3::jsonb FROM m",
             h->t->schema, h->t->schema);
    snprintf(id, sizeof id, "%" PRId64, r->id);
    char att[16];
    snprintf(att, sizeof att, "%" PRIu32, r->attempts);
    const char *p[3] = {id, att, err_text};
    wh_db_op_t *op = lw_calloc(1, sizeof *op);
    op->w = w;
    op->t = h->t;
    op->h = h;
    h->refs++;
    w->db_inflight++;
    h->t->dead_busy++;
    if (lw_db_query(w->as->db, sql, 3, p, dead_written, op) != 0) {
        w->db_inflight--;
        h->t->dead_busy--;
        h->refs--;
        free(op);
    }
    free(err_text);
    json_t *data = json_pack("{ss si}", "webhook_id", h->id, "attempts", (int)r->attempts);
    if (h->last_error != NULL)
        json_object_set(data, "error", h->last_error);
    as_event(w->as, h->t->id, h->app, d->id, "as.webhook.deadletter", data, NULL);
    count_sent(w, "dead_letter");
    row_free(r);
}

static void row_enqueue(as_webhooks_t *w, wh_hook_t *h, wh_row_t *r);

/* A row that is in the outbox: into its queue, aside while the hook's spilled rows are read
 * back, or left to the outbox alone (freed) once the hook holds as.webhooks.max-queued. */
static void row_keep(as_webhooks_t *w, wh_hook_t *h, wh_row_t *r)
{
    if (h->reloading) {
        r->next = NULL;
        if (h->aside_tail != NULL)
            h->aside_tail->next = r;
        else
            h->aside_head = r;
        h->aside_tail = r;
        return;
    }
    if (h->spilled || h->queued >= w->max_queued) {
        h->spilled = true;
        row_free(r);
        return;
    }
    row_enqueue(w, h, r);
}

static void row_enqueue(as_webhooks_t *w, wh_hook_t *h, wh_row_t *r)
{
    r->hook = NULL;
    r->ticket = NULL;
    r->next = NULL;
    wh_dev_t *d = dev_get(h, r->dev, r->partition, true);
    if (d->tail != NULL)
        d->tail->next = r;
    else
        d->head = r;
    d->tail = r;
    h->queued++;
    ready_push(h, d);
    (void)w;
}

/* Rows written for a partition that moved away while they were: flagged `replayed` so that
 * the partition's owner claims them (announced on lw.as.webhooks once flagged). A claim
 * skips a row its owner already has. */
typedef struct wh_handoff {
    as_webhooks_t *w;
    wh_tenant_t *t;
    int64_t *ids;
    size_t n;
    char (*hooks)[2][TN_ID_MAX + 1]; /* distinct (application, webhook) */
    size_t nhooks;
} wh_handoff_t;

static wh_handoff_t *handoff_add(wh_handoff_t *ho, wh_tenant_t *t, const wh_hook_t *h, int64_t id)
{
    if (ho == NULL) {
        ho = lw_calloc(1, sizeof *ho);
        ho->t = t;
        ho->ids = lw_malloc(AS_WH_BATCH * sizeof *ho->ids);
        ho->hooks = lw_malloc(AS_WH_BATCH * sizeof *ho->hooks);
    }
    ho->ids[ho->n++] = id;
    for (size_t i = 0; i < ho->nhooks; i++)
        if (strcmp(ho->hooks[i][0], h->app) == 0 && strcmp(ho->hooks[i][1], h->id) == 0)
            return ho;
    snprintf(ho->hooks[ho->nhooks][0], TN_ID_MAX + 1, "%s", h->app);
    snprintf(ho->hooks[ho->nhooks][1], TN_ID_MAX + 1, "%s", h->id);
    ho->nhooks++;
    return ho;
}

static void handoff_free(wh_handoff_t *ho)
{
    free(ho->ids);
    free(ho->hooks);
    free(ho);
}

static void handed_off(void *arg, const PGresult *res, const lw_err_t *err)
{
    (void)res;
    wh_handoff_t *ho = arg;
    ho->w->db_inflight--;
    if (err != NULL)
        lw_log(LW_LOG_WARN, "as",
               "webhook rows of a moved partition not handed over (its next "
               "assignment loads them)",
               "tenant", ho->t->id, "error", err->message, NULL);
    else
        for (size_t i = 0; i < ho->nhooks; i++)
            as_webhooks_changed(ho->w->as, ho->t->id, ho->hooks[i][0], ho->hooks[i][1], true);
    handoff_free(ho);
}

static void handoff_send(as_webhooks_t *w, wh_handoff_t *ho)
{
    char *arr = ids_array(ho->ids, ho->n);
    char sql[192];
    snprintf(sql, sizeof sql,
             "UPDATE %s.as_webhook_outbox SET replayed = true WHERE id = ANY($1::bigint[])",
             ho->t->schema);
    const char *p[1] = {arr};
    ho->w = w;
    w->db_inflight++;
    if (lw_db_query(w->as->db, sql, 1, p, handed_off, ho) != 0) {
        w->db_inflight--;
        handoff_free(ho);
    }
    free(arr);
}

static void flush_inserts(as_webhooks_t *w, wh_tenant_t *t, unsigned lane, int64_t now);

static void inserted(void *arg, const PGresult *res, const lw_err_t *err)
{
    wh_db_op_t *op = arg;
    as_webhooks_t *w = op->w;
    wh_tenant_t *t = op->t;
    w->db_inflight--;
    unsigned lane = op->lane;
    wh_lane_t *L = &t->lanes[lane];
    wh_row_t *rows = L->busy;
    L->busy = NULL;
    free(op);
    if (err != NULL) {
        lw_log(LW_LOG_WARN, "as", "webhook outbox not written (tried again)", "tenant", t->id,
               "error", err->message, NULL);
        /* back in front of what came since, in order */
        wh_row_t *last = rows;
        while (last != NULL && last->next != NULL)
            last = last->next;
        if (last != NULL) {
            last->next = L->head;
            if (L->head == NULL)
                L->tail = last;
            L->head = rows;
            for (wh_row_t *r = rows; r != NULL; r = r->next)
                L->n++;
        }
        L->retry_ms = now_ms() + AS_WH_RETRY_MS;
        return;
    }
    /* RETURNING id, webhook_id, msg_id of the rows written, in VALUES order; a row already
     * in the outbox (a message consumed again) is not among them. */
    int nt = PQntuples(res), k = 0;
    int64_t now = now_ms();
    wh_handoff_t *ho = NULL;
    wh_row_t *r = rows;
    while (r != NULL) {
        wh_row_t *next = r->next;
        bool in = k < nt && strcmp(PQgetvalue(res, k, 1), r->hook->id) == 0 &&
                  strcmp(PQgetvalue(res, k, 2), r->msg_id) == 0;
        wh_hook_t *h = r->hook;
        wh_part_t *p = part_find(w, r->partition);
        ticket_row_in(r->ticket);
        r->ticket = NULL;
        if (in) {
            r->id = strtoll(PQgetvalue(res, k, 0), NULL, 10);
            r->created_ms = now;
            k++;
        }
        if (in && !h->deleted && p != NULL && p->gen == r->part_gen && !p->loading) {
            row_keep(w, h, r);
            pump(w, h);
        } else {
            /* A copy, a deleted webhook, or a partition revoked meanwhile: its new owner may
             * have loaded the outbox before this commit, so the row is handed over. */
            if (in && !h->deleted)
                ho = handoff_add(ho, t, h, r->id);
            row_free(r);
        }
        hook_unref(h);
        r = next;
    }
    if (ho != NULL)
        handoff_send(w, ho);
    commit_flush(w);
    flush_inserts(w, t, lane, now); /* what came meanwhile, at once */
}

static void flush_inserts(as_webhooks_t *w, wh_tenant_t *t, unsigned lane, int64_t now)
{
    wh_lane_t *L = &t->lanes[lane];
    if (L->busy != NULL || L->head == NULL || now < L->retry_ms)
        return;
    size_t n = 0;
    wh_row_t *rows = L->head, *last = NULL;
    for (wh_row_t *r = rows; r != NULL && n < AS_WH_BATCH; r = r->next) {
        last = r;
        n++;
    }
    L->head = last->next;
    if (L->head == NULL)
        L->tail = NULL;
    last->next = NULL;
    L->n -= n;
    L->busy = rows;
    size_t cap = 512 + n * 160; /* one VALUES tuple is under 140 bytes */
    char *sql = lw_malloc(cap);
    size_t o = (size_t)snprintf(sql, cap,
                                "INSERT INTO %s.as_webhook_outbox (application_id, webhook_id, "
                                "device_id, part, msg_id, up_type, body, received_at) VALUES ",
                                t->schema);
    const char **p = lw_malloc(n * 8 * sizeof *p);
    char(*nums)[3][48] = lw_malloc(n * sizeof *nums);
    size_t i = 0;
    for (wh_row_t *r = rows; r != NULL; r = r->next, i++) {
        size_t b = i * 8;
        o += (size_t)snprintf(sql + o, cap - o,
                              "%s($%zu,$%zu,$%zu,$%zu::int,decode($%zu,'hex'),$%zu::smallint,$%zu,"
                              "$%zu::timestamptz)",
                              i > 0 ? "," : "", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7,
                              b + 8);
        snprintf(nums[i][0], sizeof nums[i][0], "%" PRId32, r->partition);
        snprintf(nums[i][1], sizeof nums[i][1], "%d", r->type);
        as_time_text(r->received_at, nums[i][2]);
        p[b] = r->hook->app;
        p[b + 1] = r->hook->id;
        p[b + 2] = r->dev;
        p[b + 3] = nums[i][0];
        p[b + 4] = r->msg_id;
        p[b + 5] = nums[i][1];
        p[b + 6] = r->body;
        p[b + 7] = nums[i][2];
    }
    snprintf(sql + o, cap - o,
             " ON CONFLICT (application_id, webhook_id, msg_id) DO NOTHING RETURNING id, "
             "webhook_id, encode(msg_id, 'hex')");
    wh_db_op_t *op = lw_calloc(1, sizeof *op);
    op->w = w;
    op->t = t;
    op->lane = lane;
    w->db_inflight++;
    if (lw_db_query(w->as->db, sql, (int)(n * 8), p, inserted, op) != 0) {
        w->db_inflight--;
        free(op);
        /* the pool is stopping: put them back */
        last->next = L->head;
        L->head = rows;
        if (L->tail == NULL)
            L->tail = last;
        L->n += n;
        L->busy = NULL;
        L->retry_ms = now + AS_WH_RETRY_MS;
    }
    free(sql);
    free(p);
    free(nums);
}

static void flush_deletes(as_webhooks_t *w, wh_tenant_t *t, int64_t now);

static void deleted_rows(void *arg, const PGresult *res, const lw_err_t *err)
{
    (void)res;
    wh_db_op_t *op = arg;
    as_webhooks_t *w = op->w;
    wh_tenant_t *t = op->t;
    w->db_inflight--;
    if (err != NULL) {
        /* tried again: a delivered row stays until its delete commits */
        size_t need = t->ndel + t->ndel_busy;
        if (need > t->cdel) {
            t->cdel = need;
            t->del = lw_realloc(t->del, t->cdel * sizeof *t->del);
        }
        memcpy(t->del + t->ndel, t->del_busy, t->ndel_busy * sizeof *t->del);
        t->ndel += t->ndel_busy;
        t->del_retry_ms = now_ms() + AS_WH_RETRY_MS;
    }
    free(t->del_busy);
    t->del_busy = NULL;
    t->ndel_busy = 0;
    free(op);
    if (t->ndel >= AS_WH_DEL_BATCH)
        flush_deletes(w, t, now_ms());
}

static void flush_deletes(as_webhooks_t *w, wh_tenant_t *t, int64_t now)
{
    if (t->del_busy != NULL || t->ndel == 0 || now < t->del_retry_ms)
        return;
    size_t n = t->ndel < AS_WH_DEL_BATCH ? t->ndel : AS_WH_DEL_BATCH;
    t->del_busy = lw_malloc(n * sizeof *t->del);
    memcpy(t->del_busy, t->del, n * sizeof *t->del);
    memmove(t->del, t->del + n, (t->ndel - n) * sizeof *t->del);
    t->ndel -= n;
    t->ndel_busy = n;
    char *arr = ids_array(t->del_busy, n);
    char sql[160];
    snprintf(sql, sizeof sql, "DELETE FROM %s.as_webhook_outbox WHERE id = ANY($1::bigint[])",
             t->schema);
    const char *p[1] = {arr};
    wh_db_op_t *op = lw_calloc(1, sizeof *op);
    op->w = w;
    op->t = t;
    w->db_inflight++;
    if (lw_db_query(w->as->db, sql, 1, p, deleted_rows, op) != 0) {
        w->db_inflight--;
        free(op);
        memcpy(t->del + t->ndel, t->del_busy, n * sizeof *t->del); /* room: it was there */
        t->ndel += n;
        free(t->del_busy);
        t->del_busy = NULL;
        t->ndel_busy = 0;
    }
    free(arr);
}

/* ---- the registry cache ------------------------------------------------------------------- */

static void part_pump(as_webhooks_t *w, wh_part_t *p);

static wh_app_t *app_find(wh_tenant_t *t, const char *app)
{
    for (wh_app_t *a = t->apps; a != NULL; a = a->next)
        if (strcmp(a->id, app) == 0)
            return a;
    return NULL;
}

static void hook_configure(wh_hook_t *h, const json_t *wh, const char *key)
{
    hook_config_clear(h);
    const char *u = json_string_value(json_object_get(wh, "base_url"));
    h->base_url = u != NULL ? lw_strdup(u) : NULL;
    const json_t *hd = json_object_get(wh, "headers");
    h->headers = json_is_object(hd) ? json_deep_copy(hd) : json_object();
    for (unsigned i = 1; i < WH_TYPES; i++) {
        const json_t *m = json_object_get(wh, wh_type_fields[i]);
        if (json_is_object(m)) {
            const char *p = json_string_value(json_object_get(m, "path"));
            h->paths[i] = lw_strdup(p != NULL ? p : "");
        }
    }
    const json_t *paths = json_object_get(json_object_get(wh, "field_mask"), "paths");
    if (json_array_size(paths) > 0) {
        h->mask = lw_calloc(json_array_size(paths), sizeof *h->mask);
        size_t i;
        const json_t *v;
        json_array_foreach(paths, i, v)
        {
            if (json_is_string(v))
                h->mask[h->nmask++] = lw_strdup(json_string_value(v));
        }
    }
    h->key = key != NULL && key[0] != '\0' ? lw_strdup(key) : NULL;
    h->paused = json_is_true(json_object_get(wh, "paused"));
    h->configured = true;
}

typedef struct wh_load_op {
    as_webhooks_t *w;
    wh_tenant_t *t;
    wh_app_t *a;
} wh_load_op_t;

static void app_load(as_webhooks_t *w, wh_tenant_t *t, wh_app_t *a);

static void app_loaded(void *arg, const PGresult *res, const lw_err_t *err)
{
    wh_load_op_t *op = arg;
    as_webhooks_t *w = op->w;
    wh_tenant_t *t = op->t;
    wh_app_t *a = op->a;
    free(op);
    w->db_inflight--;
    a->loading = false;
    if (err != NULL && (err->def == &lw_err_db_unavailable || w->stopping)) {
        lw_log(LW_LOG_WARN, "as", "webhooks not read (tried again)", "tenant", t->id, "application",
               a->id, "error", err->message, NULL);
        a->stale = true; /* the tick tries again */
        return;
    }
    if (err != NULL) /* a tenant without the tables: no webhooks */
        lw_log(LW_LOG_WARN, "as", "webhooks not read", "tenant", t->id, "application", a->id,
               "error", err->message, NULL);
    if (a->stale && !w->stopping) {
        a->stale = false;
        app_load(w, t, a); /* changed while read: read again */
        return;
    }
    /* Webhooks that are no longer there. */
    wh_hook_t *h = t->hooks;
    while (h != NULL) {
        wh_hook_t *next = h->next;
        bool found = false;
        if (strcmp(h->app, a->id) == 0) {
            for (int i = 0; res != NULL && i < PQntuples(res) && !found; i++)
                found = strcmp(PQgetvalue(res, i, 0), h->id) == 0;
            if (!found)
                hook_delete(t, h);
        }
        h = next;
    }
    for (int i = 0; res != NULL && i < PQntuples(res); i++) {
        json_t *j = json_loads(PQgetvalue(res, i, 1), 0, NULL);
        wh_hook_t *hk = hook_get(t, a->id, PQgetvalue(res, i, 0));
        char key[WH_KEY_MAX + 1] = "";
        if (!PQgetisnull(res, i, 2) &&
            wh_key_open(w->as, PQgetvalue(res, i, 2), key, sizeof key) != 0)
            lw_log(LW_LOG_WARN, "as", "webhook downlink key not readable (no X-Downlink-* headers)",
                   "tenant", t->id, "webhook", hk->id, NULL);
        hook_configure(hk, j, key);
        OPENSSL_cleanse(key, sizeof key);
        json_decref(j);
        hk->health_unknown = PQgetisnull(res, i, 3);
        if (!PQgetisnull(res, i, 3) && hk->failures == 0 && hk->last_fail_ms == 0) {
            /* health kept from before a restart */
            json_t *hj = json_loads(PQgetvalue(res, i, 3), 0, NULL);
            const json_t *u = json_object_get(hj, "unhealthy");
            if (u != NULL) {
                const char *fa = json_string_value(json_object_get(u, "failed_attempts"));
                hk->failures = fa != NULL ? (uint32_t)strtoul(fa, NULL, 10) : 1;
                hk->last_fail_ms = now_ms();
                hk->next_ms = 0; /* one try at once, then the backoff */
                const json_t *d = json_object_get(u, "last_failed_attempt_details");
                if (d != NULL)
                    hk->last_error = json_deep_copy(d);
            }
            json_decref(hj);
        }
        pump(w, hk);
    }
    a->ready = true;
    a->loaded_ms = now_ms();
    for (wh_part_t *p = w->parts; p != NULL; p = p->next)
        part_pump(w, p);
}

static void app_load(as_webhooks_t *w, wh_tenant_t *t, wh_app_t *a)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT webhook_id, webhook, downlink_api_key, health FROM %s.as_webhooks WHERE "
             "application_id = $1",
             t->schema);
    const char *p[1] = {a->id};
    wh_load_op_t *op = lw_calloc(1, sizeof *op);
    op->w = w;
    op->t = t;
    op->a = a;
    a->loading = true;
    w->db_inflight++;
    if (lw_db_query(w->as->db, sql, 1, p, app_loaded, op) != 0) {
        w->db_inflight--;
        a->loading = false;
        a->stale = true;
        free(op);
    }
}

static wh_app_t *app_get(as_webhooks_t *w, wh_tenant_t *t, const char *app)
{
    wh_app_t *a = app_find(t, app);
    if (a == NULL) {
        a = lw_calloc(1, sizeof *a);
        snprintf(a->id, sizeof a->id, "%s", app);
        a->next = t->apps;
        t->apps = a;
        app_load(w, t, a);
    }
    return a;
}

/* ---- consuming --------------------------------------------------------------------------------
 */

/* A message dropped before its rows (a revoke, the end): its entry is done but never
 * committed (its partition is revoked, or nothing is flushed any more). */
static void msg_free(wh_msg_t *m)
{
    if (m->ticket != NULL) {
        m->ticket->pending = 1;
        ticket_row_in(m->ticket);
    }
    free(m->json);
    free(m);
}

/* The rows of one message (its application's webhooks are known). */
static void msg_rows(as_webhooks_t *w, wh_part_t *p, wh_msg_t *m)
{
    wh_tenant_t *t = tenant_get(w, m->tenant);
    json_t *up = NULL;
    m->ticket->pending = 1; /* held until every row is queued */
    for (wh_hook_t *h = t->hooks; h != NULL; h = h->next) {
        if (h->deleted || !h->configured || strcmp(h->app, m->app) != 0 || h->paused ||
            m->type <= 0 || m->type >= (int)WH_TYPES || h->paths[m->type] == NULL)
            continue;
        wh_row_t *r = lw_calloc(1, sizeof *r);
        if (h->nmask == 0) {
            r->body = lw_strdup(m->json); /* the AsUp's JSON as it is (MQTT's bytes) */
        } else {
            if (up == NULL && (up = json_loads(m->json, 0, NULL)) == NULL) {
                as_count_drop(w->as, "webhook_bad_json");
                free(r);
                break;
            }
            json_t *masked = wh_mask_up(up, (const char *const *)h->mask, h->nmask);
            r->body = json_dumps(masked, JSON_COMPACT);
            json_decref(masked);
            if (r->body == NULL) {
                free(r);
                continue;
            }
        }
        r->len = strlen(r->body);
        r->hook = h;
        h->refs++;
        r->ticket = m->ticket;
        r->part_gen = p->gen;
        r->partition = p->partition;
        r->type = m->type;
        r->received_at = m->received_at;
        snprintf(r->dev, sizeof r->dev, "%s", m->dev);
        memcpy(r->msg_id, m->msg_id, sizeof r->msg_id);
        m->ticket->pending++;
        unsigned lane = dev_hash(m->dev) % AS_WH_LANES;
        wh_lane_t *L = &t->lanes[lane];
        if (L->tail != NULL)
            L->tail->next = r;
        else
            L->head = r;
        L->tail = r;
        if (++L->n >= AS_WH_BATCH)
            flush_inserts(w, t, lane, now_ms());
        lw_metric_add(w->m_rows, NULL, 1);
    }
    json_decref(up);
    ticket_row_in(m->ticket);
    m->ticket = NULL;
}

/* Processes the partition's waiting messages in order while their webhooks are known. */
static void part_pump(as_webhooks_t *w, wh_part_t *p)
{
    bool any = false;
    while (p->head != NULL && !p->loading && !w->stopping) {
        wh_msg_t *m = p->head;
        tn_tenant_t tt;
        bool known = tn_get(w->as->tn, m->tenant, &tt) && !tt.deleted;
        if (known) {
            wh_app_t *a = app_get(w, tenant_get(w, m->tenant), m->app);
            if (!a->ready)
                return; /* app_loaded pumps again */
        }
        p->head = m->next;
        if (p->head == NULL)
            p->tail = NULL;
        if (known) {
            msg_rows(w, p, m);
        } else {
            as_count_drop(w->as, "webhook_unknown_tenant");
            ticket_row_in(m->ticket);
            m->ticket = NULL;
        }
        msg_free(m);
        any = true;
    }
    if (any)
        commit_flush(w);
}

static void on_up(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *msg)
{
    (void)c;
    as_webhooks_t *w = arg;
    wh_part_t *p = part_find(w, msg->partition);
    if (p == NULL) {
        /* a message before its assignment was seen: treat it as assigned and loaded */
        p = lw_calloc(1, sizeof *p);
        p->partition = msg->partition;
        p->gen = ++w->gens;
        p->next = w->parts;
        w->parts = p;
    }
    lw_bus_commit_entry_t *e = lw_bus_commitq_add(&w->cq, msg);
    Lw__Msg__AsUp *up = NULL;
    lw_err_t ie;
    if (lw_msg_as_up_decode(msg->value, msg->value_len, &up) != 0 || up->application_id == NULL ||
        up->device_id == NULL || up->envelope->id.len != LW_MSG_ID_LEN ||
        tn_id_validate(up->application_id, 2, "application_id", &ie) != 0 ||
        tn_id_validate(up->device_id, 2, "device_id", &ie) != 0) {
        as_count_drop(w->as, "webhook_bad_message");
        lw_msg_as_up_free(up);
        lw_bus_commitq_done(e, 0);
        commit_flush(w);
        return;
    }
    wh_msg_t *m = lw_calloc(1, sizeof *m);
    m->ticket = lw_calloc(1, sizeof *m->ticket);
    m->ticket->entry = e;
    snprintf(m->tenant, sizeof m->tenant, "%s", up->envelope->tenant_id);
    snprintf(m->app, sizeof m->app, "%s", up->application_id);
    snprintf(m->dev, sizeof m->dev, "%s", up->device_id);
    lw_hex_encode(up->envelope->id.data, LW_MSG_ID_LEN, m->msg_id);
    m->type = (int)up->type;
    m->received_at = up->received_at;
    m->json = lw_malloc(up->json.len + 1);
    memcpy(m->json, up->json.data, up->json.len);
    m->json[up->json.len] = '\0';
    lw_msg_as_up_free(up);
    if (p->tail != NULL)
        p->tail->next = m;
    else
        p->head = m;
    p->tail = m;
    part_pump(w, p);
}

/* ---- assignment: a partition's rows loaded from every tenant's outbox ------------------------ */

typedef struct wh_assign {
    as_webhooks_t *w;
    int32_t *parts;
    uint32_t *gens;
    size_t n;
    char **tenants;
    size_t ntenants, next;
} wh_assign_t;

static void assign_next(wh_assign_t *a);

static void assign_free(wh_assign_t *a)
{
    for (size_t i = 0; i < a->ntenants; i++)
        free(a->tenants[i]);
    free(a->tenants);
    free(a->parts);
    free(a->gens);
    free(a);
}

static void assign_finish(wh_assign_t *a)
{
    as_webhooks_t *w = a->w;
    for (size_t i = 0; i < a->n; i++) {
        wh_part_t *p = part_find(w, a->parts[i]);
        if (p != NULL && p->gen == a->gens[i]) {
            p->loading = false;
            part_pump(w, p);
        }
    }
    lw_log_kv(LW_LOG_INFO, "as", "webhook outboxes loaded", LW_LOG_UINT("partitions", a->n),
              LW_LOG_UINT("tenants", a->ntenants));
    assign_free(a);
}

static char *parts_array(const wh_assign_t *a)
{
    char *s = lw_malloc(a->n * 12 + 3);
    size_t o = 0;
    s[o++] = '{';
    for (size_t i = 0; i < a->n; i++)
        o += (size_t)sprintf(s + o, "%s%" PRId32, i > 0 ? "," : "", a->parts[i]);
    s[o++] = '}';
    s[o] = '\0';
    return s;
}

/* Rows of a load or a claim (columns: id, application_id, webhook_id, device_id, part,
 * up_type, body, attempts, created_ms, msg_id hex, received_at ns) into their queues, in
 * id order. */
static int row_cmp(const void *x, const void *y)
{
    int64_t a = (*(wh_row_t *const *)x)->id, b = (*(wh_row_t *const *)y)->id;
    return a < b ? -1 : a > b;
}

#define ROW_COLS                                                                                   \
    "id, application_id, webhook_id, device_id, part, up_type, body, attempts, "                   \
    "(extract(epoch FROM created_at) * 1000)::bigint, encode(msg_id, 'hex'), "                     \
    "(extract(epoch FROM received_at) * 1000000000)::bigint"

static bool dev_has(wh_hook_t *h, const char *dev, int64_t id)
{
    wh_dev_t *d = dev_get(h, dev, 0, false);
    for (wh_row_t *r = d != NULL ? d->head : NULL; r != NULL; r = r->next)
        if (r->id == id)
            return true;
    return false;
}

static wh_row_t *row_from(wh_tenant_t *t, const PGresult *res, int i)
{
    wh_row_t *r = lw_calloc(1, sizeof *r);
    r->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    r->hook = hook_get(t, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
    snprintf(r->dev, sizeof r->dev, "%s", PQgetvalue(res, i, 3));
    r->partition = (int32_t)strtol(PQgetvalue(res, i, 4), NULL, 10);
    r->type = (int)strtol(PQgetvalue(res, i, 5), NULL, 10);
    r->body = lw_strdup(PQgetvalue(res, i, 6));
    r->len = strlen(r->body);
    r->attempts = (uint32_t)strtoul(PQgetvalue(res, i, 7), NULL, 10);
    r->created_ms = strtoll(PQgetvalue(res, i, 8), NULL, 10);
    snprintf(r->msg_id, sizeof r->msg_id, "%s", PQgetvalue(res, i, 9));
    r->received_at = strtoll(PQgetvalue(res, i, 10), NULL, 10);
    return r;
}

static void rows_take(as_webhooks_t *w, wh_tenant_t *t, const PGresult *res, bool claim)
{
    int n = PQntuples(res);
    if (n == 0)
        return;
    wh_row_t **rows = lw_malloc((size_t)n * sizeof *rows);
    for (int i = 0; i < n; i++)
        rows[i] = row_from(t, res, i);
    qsort(rows, (size_t)n, sizeof *rows, row_cmp);
    for (int i = 0; i < n; i++) {
        wh_hook_t *h = rows[i]->hook;
        if (claim && dev_has(h, rows[i]->dev, rows[i]->id)) {
            row_free(rows[i]); /* handed over to us, and ours already */
            continue;
        }
        row_keep(w, h, rows[i]);
        app_get(w, t, h->app); /* its configuration, if not known yet */
    }
    free(rows);
    for (wh_hook_t *h = t->hooks; h != NULL; h = h->next)
        pump(w, h);
}

/* ---- a spilled webhook's rows read back from the outbox, oldest first --------------------- */

static void aside_free(wh_hook_t *h)
{
    while (h->aside_head != NULL) {
        wh_row_t *r = h->aside_head;
        h->aside_head = r->next;
        row_free(r);
    }
    h->aside_tail = NULL;
}

static int id_cmp(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

static void reloaded(void *arg, const PGresult *res, const lw_err_t *err)
{
    wh_health_op_t *op = arg; /* w, h */
    as_webhooks_t *w = op->w;
    wh_hook_t *h = op->h;
    free(op);
    w->db_inflight--;
    h->reloading = false;
    if (err != NULL || h->deleted || h->reload_void) {
        /* the rows are in the outbox: read again later */
        h->reload_void = false;
        aside_free(h);
        hook_unref(h);
        return;
    }
    int n = PQntuples(res);
    int64_t *ids = lw_malloc(((size_t)n + 1) * sizeof *ids);
    for (int i = 0; i < n; i++) {
        wh_row_t *r = row_from(h->t, res, i);
        ids[i] = r->id;
        row_enqueue(w, h, r); /* ordered by id */
    }
    qsort(ids, (size_t)n, sizeof *ids, id_cmp);
    if ((size_t)n < w->max_queued) {
        /* the whole backlog: what was written meanwhile follows, unless the read saw it */
        h->spilled = false;
        wh_row_t *r = h->aside_head;
        h->aside_head = h->aside_tail = NULL;
        while (r != NULL) {
            wh_row_t *next = r->next;
            if (bsearch(&r->id, ids, (size_t)n, sizeof *ids, id_cmp) != NULL)
                row_free(r);
            else
                row_keep(w, h, r);
            r = next;
        }
    } else {
        aside_free(h); /* more in the outbox than memory holds: read on as it drains */
    }
    free(ids);
    lw_log_kv(LW_LOG_INFO, "as", "webhook backlog read back", LW_LOG_STR("tenant", h->t->id),
              LW_LOG_STR("webhook", h->id), LW_LOG_INT("rows", n),
              LW_LOG_STR("more", h->spilled ? "yes" : "no"));
    pump(w, h);
    hook_unref(h);
}

/* Once the hook's queues are empty and nothing the read could see twice is in flight. */
static void reload_maybe(as_webhooks_t *w, wh_tenant_t *t, wh_hook_t *h)
{
    if (!h->spilled || h->reloading || h->queued > 0 || h->deleted || w->stopping || t->ndel > 0 ||
        t->del_busy != NULL || t->dead_busy > 0)
        return;
    for (unsigned l = 0; l < AS_WH_LANES; l++)
        if (t->lanes[l].busy != NULL)
            return;
    char arr[4096];
    size_t o = 0;
    arr[o++] = '{';
    for (wh_part_t *p = w->parts; p != NULL; p = p->next) {
        if (p->loading)
            return;
        if (o < sizeof arr - 16)
            o += (size_t)snprintf(arr + o, sizeof arr - o, "%s%" PRId32, o > 1 ? "," : "",
                                  p->partition);
    }
    arr[o++] = '}';
    arr[o] = '\0';
    char sql[768], lim[24];
    snprintf(sql, sizeof sql,
             "SELECT " ROW_COLS " FROM %s.as_webhook_outbox WHERE application_id = $1 AND "
             "webhook_id = $2 AND part = ANY($3::int[]) AND NOT replayed ORDER BY id LIMIT $4",
             t->schema);
    snprintf(lim, sizeof lim, "%zu", w->max_queued);
    const char *p[4] = {h->app, h->id, arr, lim};
    wh_health_op_t *op = lw_calloc(1, sizeof *op);
    op->w = w;
    op->h = h;
    h->refs++;
    h->reloading = true;
    w->db_inflight++;
    if (lw_db_query(w->as->db, sql, 4, p, reloaded, op) != 0) {
        w->db_inflight--;
        h->reloading = false;
        h->refs--;
        free(op);
    }
}

static void assign_tenant_loaded(void *arg, const PGresult *res, const lw_err_t *err)
{
    wh_assign_t *a = arg;
    as_webhooks_t *w = a->w;
    w->db_inflight--;
    if (err != NULL) {
        if (err->def == &lw_err_db_unavailable && !w->stopping) {
            assign_next(a); /* the same tenant again (next not advanced) */
            return;
        }
        /* a tenant without the tables (its schema not provisioned) */
        lw_log(LW_LOG_INFO, "as", "webhook outbox not read", "tenant", a->tenants[a->next], "error",
               err->message, NULL);
    } else {
        rows_take(w, tenant_get(w, a->tenants[a->next]), res, false);
    }
    a->next++;
    assign_next(a);
}

static void assign_next(wh_assign_t *a)
{
    as_webhooks_t *w = a->w;
    if (w->stopping || a->next >= a->ntenants) {
        assign_finish(a);
        return;
    }
    wh_tenant_t *t = tenant_get(w, a->tenants[a->next]);
    char sql[768];
    snprintf(sql, sizeof sql,
             "WITH c AS (UPDATE %s.as_webhook_outbox SET replayed = false WHERE replayed AND "
             "part = ANY($1::int[]) RETURNING id) SELECT " ROW_COLS
             " FROM %s.as_webhook_outbox WHERE part = ANY($1::int[])",
             t->schema, t->schema);
    char *arr = parts_array(a);
    const char *p[1] = {arr};
    w->db_inflight++;
    if (lw_db_query(w->as->db, sql, 1, p, assign_tenant_loaded, a) != 0) {
        w->db_inflight--;
        free(arr);
        assign_finish(a);
        return;
    }
    free(arr);
}

static void assign_tenants(void *arg, const PGresult *res, const lw_err_t *err)
{
    wh_assign_t *a = arg;
    as_webhooks_t *w = a->w;
    w->db_inflight--;
    if (err != NULL) {
        lw_log(LW_LOG_WARN, "as", "tenants not listed for the webhook outboxes (tried again)",
               "error", err->message, NULL);
        if (!w->stopping) {
            static const char sql[] = "SELECT tenant_id FROM lw_control.tenants WHERE deleted_at "
                                      "IS NULL ORDER BY tenant_id";
            w->db_inflight++;
            if (lw_db_query(w->as->db, sql, 0, NULL, assign_tenants, a) == 0)
                return;
            w->db_inflight--;
        }
        assign_finish(a);
        return;
    }
    a->ntenants = (size_t)PQntuples(res);
    a->tenants = lw_calloc(a->ntenants + 1, sizeof *a->tenants);
    for (size_t i = 0; i < a->ntenants; i++)
        a->tenants[i] = lw_strdup(PQgetvalue(res, (int)i, 0));
    assign_next(a);
}

static void on_assign(void *arg, lw_bus_consumer_t *c, const lw_bus_partition_t *parts, size_t n)
{
    (void)c;
    as_webhooks_t *w = arg;
    wh_assign_t *a = lw_calloc(1, sizeof *a);
    a->w = w;
    a->parts = lw_calloc(n + 1, sizeof *a->parts);
    a->gens = lw_calloc(n + 1, sizeof *a->gens);
    for (size_t i = 0; i < n; i++) {
        wh_part_t *p = part_find(w, parts[i].partition);
        if (p == NULL) {
            p = lw_calloc(1, sizeof *p);
            p->partition = parts[i].partition;
            p->next = w->parts;
            w->parts = p;
        }
        p->loading = true;
        p->gen = ++w->gens;
        a->parts[a->n] = p->partition;
        a->gens[a->n++] = p->gen;
    }
    if (a->n == 0) {
        assign_free(a);
        return;
    }
    static const char sql[] =
        "SELECT tenant_id FROM lw_control.tenants WHERE deleted_at IS NULL ORDER BY tenant_id";
    w->db_inflight++;
    if (lw_db_query(w->as->db, sql, 0, NULL, assign_tenants, a) != 0) {
        w->db_inflight--;
        assign_finish(a);
    }
}

/* Everything of the partitions goes: their new owner loads the rows and replays what was
 * not committed. */
static void on_revoke(void *arg, lw_bus_consumer_t *c, const lw_bus_partition_t *parts, size_t n)
{
    (void)c;
    as_webhooks_t *w = arg;
    commit_flush(w);
    lw_bus_commitq_revoke(&w->cq, parts, n);
    for (size_t i = 0; i < n; i++) {
        wh_part_t **pp = &w->parts;
        while (*pp != NULL && (*pp)->partition != parts[i].partition)
            pp = &(*pp)->next;
        wh_part_t *p = *pp;
        if (p == NULL)
            continue;
        *pp = p->next;
        while (p->head != NULL) {
            wh_msg_t *m = p->head;
            p->head = m->next;
            msg_free(m);
        }
        for (wh_tenant_t *t = w->tenants; t != NULL; t = t->next) {
            /* rows not written yet: the new owner consumes their messages again */
            for (unsigned l = 0; l < AS_WH_LANES; l++) {
                wh_lane_t *L = &t->lanes[l];
                wh_row_t **rp = &L->head;
                L->tail = NULL;
                while (*rp != NULL) {
                    wh_row_t *r = *rp;
                    if (r->partition == p->partition) {
                        *rp = r->next;
                        L->n--;
                        ticket_row_in(r->ticket);
                        hook_unref(r->hook);
                        row_free(r);
                        continue;
                    }
                    L->tail = r;
                    rp = &r->next;
                }
            }
            for (wh_hook_t *h = t->hooks; h != NULL; h = h->next) {
                for (unsigned b = 0; b < WH_DEV_BUCKETS; b++) {
                    wh_dev_t *d = h->devs[b];
                    while (d != NULL) {
                        wh_dev_t *dn = d->next;
                        if (d->partition == p->partition)
                            dev_drop(h, d);
                        d = dn;
                    }
                }
                ready_rebuild(h);
                if (h->reloading)
                    h->reload_void = true; /* read for partitions of which one is gone */
            }
        }
        free(p);
    }
}

/* ---- changes (lw.as.webhooks) -----------------------------------------------------------------
 */

typedef struct wh_claim {
    as_webhooks_t *w;
    wh_tenant_t *t;
} wh_claim_t;

static void claimed(void *arg, const PGresult *res, const lw_err_t *err)
{
    wh_claim_t *c = arg;
    c->w->db_inflight--;
    if (err == NULL)
        rows_take(c->w, c->t, res, true);
    else
        lw_log(LW_LOG_WARN, "as", "replayed webhook messages not claimed (next assignment)",
               "tenant", c->t->id, "error", err->message, NULL);
    free(c);
}

/* Dead letters put back by the API: the rows of our (loaded) partitions are ours. */
static void claim(as_webhooks_t *w, wh_tenant_t *t, const char *app, const char *hook)
{
    char arr[4096];
    size_t o = 0;
    arr[o++] = '{';
    for (wh_part_t *p = w->parts; p != NULL && o < sizeof arr - 16; p = p->next)
        if (!p->loading)
            o += (size_t)snprintf(arr + o, sizeof arr - o, "%s%" PRId32, o > 1 ? "," : "",
                                  p->partition);
    arr[o++] = '}';
    arr[o] = '\0';
    if (o == 2)
        return;
    char sql[768];
    snprintf(
        sql, sizeof sql,
        "UPDATE %s.as_webhook_outbox SET replayed = false WHERE replayed AND "
        "application_id = $1 AND webhook_id = $2 AND part = ANY($3::int[]) RETURNING " ROW_COLS,
        t->schema);
    const char *p[3] = {app, hook, arr};
    wh_claim_t *c = lw_calloc(1, sizeof *c);
    c->w = w;
    c->t = t;
    w->db_inflight++;
    if (lw_db_query(w->as->db, sql, 3, p, claimed, c) != 0) {
        w->db_inflight--;
        free(c);
    }
}

static void on_change(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *msg)
{
    (void)c;
    as_webhooks_t *w = arg;
    Lw__Msg__AsWebhookChanged *ch = NULL;
    lw_err_t ie;
    if (lw_msg_as_webhook_changed_decode(msg->value, msg->value_len, &ch) != 0 ||
        ch->application_id == NULL || tn_id_validate(ch->application_id, 2, "app", &ie) != 0) {
        lw_msg_as_webhook_changed_free(ch);
        return;
    }
    wh_tenant_t *t = tenant_get(w, ch->envelope->tenant_id);
    wh_app_t *a = app_find(t, ch->application_id);
    if (a != NULL) {
        if (a->loading)
            a->stale = true;
        else
            app_load(w, t, a);
    }
    if (ch->replay && ch->webhook_id != NULL)
        claim(w, t, ch->application_id, ch->webhook_id);
    lw_msg_as_webhook_changed_free(ch);
}

void as_webhooks_changed(as_t *as, const char *tenant, const char *app, const char *webhook_id,
                         bool replay)
{
    Lw__Msg__AsWebhookChanged ch = LW__MSG__AS_WEBHOOK_CHANGED__INIT;
    Lw__Msg__Envelope env;
    uint8_t id[LW_UID_LEN];
    as_envelope_new(&env, id, tenant);
    ch.envelope = &env;
    ch.application_id = (char *)app;
    ch.webhook_id = (char *)webhook_id;
    ch.replay = replay;
    uint8_t buf[512];
    size_t len = 0;
    char key[2 * TN_ID_MAX + 2];
    snprintf(key, sizeof key, "%s/%s", tenant, app);
    lw_err_t e;
    lw_err_clear(&e);
    if (lw_msg_as_webhook_changed_encode(&ch, buf, sizeof buf, &len) != 0 ||
        lw_bus_publish(as->bus, "as.webhooks", key, strlen(key), buf, len, &e) != 0)
        lw_log(LW_LOG_WARN, "as", "webhook change not announced (caches refresh within a minute)",
               "tenant", tenant, "application", app, "error", e.message, NULL);
}

/* ---- tenants: suspended ones send nothing ------------------------------------------------------
 */

static void on_tenant_change(void *arg, const tn_tenant_t *tt)
{
    as_webhooks_t *w = arg;
    for (wh_tenant_t *t = w->tenants; t != NULL; t = t->next) {
        if (strcmp(t->id, tt->id) != 0)
            continue;
        bool active = !tt->deleted && tn_state_active(tt->state);
        if (active == t->active)
            return;
        t->active = active;
        lw_log_kv(LW_LOG_INFO, "as",
                  active ? "webhooks of a tenant resumed" : "webhooks of a tenant stopped",
                  LW_LOG_STR("tenant_id", t->id));
        if (!active)
            return; /* nothing new is sent; what is in flight ends within as.webhooks.timeout */
        for (wh_hook_t *h = t->hooks; h != NULL; h = h->next)
            pump(w, h);
        return;
    }
}

/* ---- the tick: batches, backoffs, dead letters by age, cache refresh ------------------------ */

static void on_tick(uv_timer_t *timer)
{
    as_webhooks_t *w = timer->data;
    int64_t now = now_ms();
    for (wh_tenant_t *t = w->tenants; t != NULL; t = t->next) {
        for (unsigned l = 0; l < AS_WH_LANES; l++)
            flush_inserts(w, t, l, now);
        flush_deletes(w, t, now);
        if (w->stopping)
            continue;
        for (wh_app_t *a = t->apps; a != NULL; a = a->next)
            if (!a->loading && (a->stale || (a->ready && now - a->loaded_ms > AS_WH_CACHE_MS))) {
                a->stale = false;
                app_load(w, t, a);
            }
        wh_hook_t *h = t->hooks;
        while (h != NULL) {
            wh_hook_t *next = h->next;
            if (h->failures > 0 && h->configured) {
                /* a failing webhook's old messages become dead letters */
                for (unsigned b = 0; b < WH_DEV_BUCKETS; b++)
                    for (wh_dev_t *d = h->devs[b]; d != NULL; d = d->next)
                        while (!d->busy && d->head != NULL &&
                               now - d->head->created_ms >= w->dead_age_ms)
                            dead_letter(w, h, d);
            }
            pump(w, h);
            reload_maybe(w, t, h);
            h = next;
        }
    }
}

/* ---- lifecycle ----------------------------------------------------------------------------------
 */

int as_webhooks_init(as_t *as, lw_err_t *err)
{
    lw_config_t *cfg = lw_rt_config(as->rt);
    as_webhooks_t *w = lw_calloc(1, sizeof *w);
    w->as = as;
    w->timeout_ms = lw_config_duration_ms(cfg, "as.webhooks.timeout");
    w->max_inflight = (int)lw_config_int(cfg, "as.webhooks.max-in-flight");
    w->max_queued = (size_t)lw_config_int(cfg, "as.webhooks.max-queued");
    w->backoff_base = lw_config_duration_ms(cfg, "as.webhooks.backoff.base");
    w->backoff_max = lw_config_duration_ms(cfg, "as.webhooks.backoff.max");
    if (w->backoff_max < w->backoff_base)
        w->backoff_max = w->backoff_base;
    w->dead_attempts = (uint32_t)lw_config_int(cfg, "as.webhooks.dead-letter.attempts");
    w->dead_age_ms = lw_config_duration_ms(cfg, "as.webhooks.dead-letter.age");
    const char *pa = lw_config_str(cfg, "as.webhooks.downlink.public-address");
    snprintf(w->public_address, sizeof w->public_address, "%s", pa != NULL ? pa : "");
    size_t n = strlen(w->public_address);
    while (n > 0 && w->public_address[n - 1] == '/')
        w->public_address[--n] = '\0';
    wh_domain(w->public_address, w->domain, sizeof w->domain);
    static const char *const result[] = {"result", NULL};
    w->m_sent =
        lw_metrics_counter(as->metrics, "lwstack_as_webhook_requests_total",
                           "Webhook requests by result (delivered, failed, dead_letter)", result);
    w->m_rows = lw_metrics_counter(as->metrics, "lwstack_as_webhook_queued_total",
                                   "Webhook messages written to the outbox", NULL);
    as->webhooks = w;
    return tn_changes_subscribe(as->tn, on_tenant_change, w, err);
}

int as_webhooks_start(as_t *as, lw_err_t *err)
{
    as_webhooks_t *w = as->webhooks;
    char t[96];
    const char *topics[] = {lw_bus_topic(as->bus, "as.webhooks", t, sizeof t)};
    if (lw_bus_ensure_topics(as->bus, topics, 1, err) != 0)
        return -1;
    lw_http_client_opts_t ho = {
        .user_agent = "lwstack (TheThingsStack-compatible webhooks)",
        .max_idle_connections = 256,
        .metrics = as->metrics,
        .name = "as_webhooks",
    };
    w->http = lw_http_client_new(as->loop, &ho, err);
    if (w->http == NULL)
        return -1;
    static const char *const changes[] = {"as.webhooks"};
    static const lw_bus_handler_t ch = {.on_message = on_change};
    w->changes = lw_bus_subscribe(as->bus, NULL, changes, 1, &ch, w, err);
    if (w->changes == NULL)
        return -1;
    static const char *const ups[] = {"as.up"};
    static const lw_bus_handler_t h = {
        .on_message = on_up, .on_assign = on_assign, .on_revoke = on_revoke};
    w->c = lw_bus_subscribe(as->bus, AS_WH_GROUP, ups, 1, &h, w, err);
    if (w->c == NULL)
        return -1;
    w->cq.consumer = w->c;
    uv_timer_init(as->loop, &w->tick);
    w->tick.data = w;
    uv_timer_start(&w->tick, on_tick, AS_WH_FLUSH_MS, AS_WH_FLUSH_MS);
    w->tick_on = true;
    return 0;
}

static void http_closed(void *arg)
{
    as_webhooks_t *w = arg;
    w->http_closed = true;
}

void as_webhooks_stop(as_t *as)
{
    as_webhooks_t *w = as->webhooks;
    if (w == NULL)
        return;
    w->stopping = true;
    /* Requests in flight are canceled (their rows stay in the outbox); pending inserts and
     * deletes are written by the tick until the database has them. */
    if (w->http != NULL)
        lw_http_client_close(w->http, http_closed, w);
    else
        w->http_closed = true;
}

bool as_webhooks_stopped(const as_t *as)
{
    as_webhooks_t *w = as->webhooks;
    if (w == NULL)
        return true;
    bool writes = false;
    for (wh_tenant_t *t = w->tenants; t != NULL && !writes; t = t->next) {
        writes = t->ndel > 0 || t->del_busy != NULL;
        for (unsigned l = 0; l < AS_WH_LANES; l++)
            writes = writes || t->lanes[l].head != NULL || t->lanes[l].busy != NULL;
    }
    if (writes || w->db_inflight > 0 || !w->http_closed)
        return false;
    if (w->tick_on) {
        commit_flush(w);
        uv_timer_stop(&w->tick);
        uv_close((uv_handle_t *)&w->tick, NULL);
        w->tick_on = false;
    }
    return true;
}

void as_webhooks_free(as_t *as)
{
    as_webhooks_t *w = as->webhooks;
    if (w == NULL)
        return;
    while (w->parts != NULL) {
        wh_part_t *p = w->parts;
        w->parts = p->next;
        while (p->head != NULL) {
            wh_msg_t *m = p->head;
            p->head = m->next;
            msg_free(m);
        }
        free(p);
    }
    while (w->tenants != NULL) {
        wh_tenant_t *t = w->tenants;
        w->tenants = t->next;
        for (unsigned l = 0; l < AS_WH_LANES; l++) {
            for (wh_row_t *r = t->lanes[l].head; r != NULL;) {
                wh_row_t *n = r->next;
                hook_unref(r->hook);
                row_free(r);
                r = n;
            }
            t->lanes[l].head = NULL;
        }
        while (t->hooks != NULL)
            hook_delete(t, t->hooks);
        while (t->apps != NULL) {
            wh_app_t *a = t->apps;
            t->apps = a->next;
            free(a);
        }
        free(t->del);
        free(t->del_busy);
        free(t);
    }
    lw_bus_commitq_free(&w->cq);
    lw_http_client_free(w->http);
    free(w);
    as->webhooks = NULL;
}
