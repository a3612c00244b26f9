/* The AS worker: one consumer in group "as" over lw.ns.up. The range assignor gives this
 * member some partitions and with them the devices whose keys hash there: it alone handles
 * their results, one at a time per device (a FIFO), so an async step (a row load, a join's
 * write, the formatter) never reorders a device's messages while other devices go on.
 *
 * For each message: a join_accept's AppSKey is unwrapped (as.keks.<label>) and stored as the
 * pending session; an uplink_message of the pending session makes it active; the FRMPayload
 * is decrypted with the session's AppSKey (unless payload crypto is skipped), decoded by the
 * formatter hook (as_fmt_ops_t), and the ApplicationUp JSON built once (up_json.c) goes out
 * as AsUp on lw.as.up, keyed like the input. A message's offset is committed once every bus
 * message published before its AsUp was acknowledged by the broker (the bus counts), so a
 * crash replays what was not delivered, with the same envelope ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "as/as_private.h"
#include "cluster/hex.h"
#include "cluster/json.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "cluster/uid.h"
#include "tenant/tenant.h"

#define AS_FLUSH_MS     20u
#define AS_RETRY_MS     1000u
#define AS_DEVS_INITIAL 1024u

/* ---- devices -------------------------------------------------------------------------------- */

typedef enum { DEV_LOADING = 0, DEV_READY, DEV_RETRY } dev_phase_t;

typedef struct as_item {
    struct as_item *next;
    Lw__Msg__NsUp *up; /* owned */
    lw_bus_commit_entry_t *entry;
} as_item_t;

typedef struct as_worker as_worker_t;

typedef struct as_dev {
    struct as_dev *hnext;
    as_worker_t *w;
    char key[AS_DEV_KEY_MAX + 1];
    char tenant[TN_ID_MAX + 1], app[TN_ID_MAX + 1], dev[TN_ID_MAX + 1];
    int32_t partition;
    dev_phase_t phase;
    uint64_t retry_at_ms;
    as_session_t session, pending;
    bool skip_crypto;
    as_fmt_type_t up_fmt;
    char *up_param; /* owned */
    json_t *version_ids, *attributes;
    uint64_t dev_eui, join_eui;
    as_item_t *head, *tail;
    bool busy;    /* the head item is in an async step */
    int refs;     /* async steps holding the device */
    bool removed; /* out of the table: freed when refs drops to 0 */
    bool reload;  /* the link changed: load the settings again before the next item */
} as_dev_t;

struct as_worker {
    as_t *as;
    lw_bus_consumer_t *c;
    lw_bus_consumer_t *links; /* lw.as.links, a broadcast */
    char t_up[96];
    as_dev_t **tab;
    size_t cap, n;
    lw_bus_commitq_t commits;
    uv_timer_t timer;
    bool timer_on;
    int async;  /* loads, writes, formatter calls in flight */
    int nretry; /* devices in DEV_RETRY: the timer scans the table only then */
};

static void dev_run(as_worker_t *w, as_dev_t *d);

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static uint64_t settled(const as_worker_t *w)
{
    lw_bus_stats_t st;
    lw_bus_stats(w->as->bus, &st);
    return st.delivered + st.failed;
}

static uint64_t published(const as_worker_t *w)
{
    lw_bus_stats_t st;
    lw_bus_stats(w->as->bus, &st);
    return st.published;
}

/* The message is handled; its offset goes once everything published so far is settled. */
static void entry_done(as_worker_t *w, lw_bus_commit_entry_t *e)
{
    lw_bus_commitq_done(e, published(w));
}

static void commit_flush(as_worker_t *w)
{
    lw_bus_commitq_flush(&w->commits, settled(w));
}

/* ---- the device table ---------------------------------------------------------------------- */

static size_t key_hash(const char *k)
{
    size_t h = 1469598103934665603ull;
    for (; *k != '\0'; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ull;
    return h;
}

static as_dev_t *dev_find(as_worker_t *w, const char *key)
{
    for (as_dev_t *d = w->tab[key_hash(key) & (w->cap - 1)]; d != NULL; d = d->hnext)
        if (strcmp(d->key, key) == 0)
            return d;
    return NULL;
}

static void dev_insert(as_worker_t *w, as_dev_t *d)
{
    if (w->n * 2 >= w->cap) {
        size_t cap = w->cap * 2;
        as_dev_t **t = lw_calloc(cap, sizeof *t);
        for (size_t i = 0; i < w->cap; i++)
            for (as_dev_t *x = w->tab[i], *next; x != NULL; x = next) {
                next = x->hnext;
                size_t j = key_hash(x->key) & (cap - 1);
                x->hnext = t[j];
                t[j] = x;
            }
        free(w->tab);
        w->tab = t;
        w->cap = cap;
    }
    size_t j = key_hash(d->key) & (w->cap - 1);
    d->hnext = w->tab[j];
    w->tab[j] = d;
    w->n++;
}

static void dev_settings_clear(as_dev_t *d)
{
    free(d->up_param);
    d->up_param = NULL;
    json_decref(d->version_ids);
    json_decref(d->attributes);
    d->version_ids = d->attributes = NULL;
    OPENSSL_cleanse(&d->session, sizeof d->session);
    OPENSSL_cleanse(&d->pending, sizeof d->pending);
}

static void dev_free(as_dev_t *d)
{
    as_item_t *it = d->head;
    while (it != NULL) {
        as_item_t *next = it->next;
        lw_msg_ns_up_free(it->up);
        free(it);
        it = next;
    }
    dev_settings_clear(d);
    free(d);
}

static void dev_unref(as_worker_t *w, as_dev_t *d)
{
    d->refs--;
    w->async--;
    if (d->removed && d->refs == 0)
        dev_free(d);
}

/* Takes d out of the table; its waiting items are dropped unhandled (their offsets stay
 * uncommitted for the partition's next owner). */
static void dev_remove(as_worker_t *w, as_dev_t *d)
{
    as_dev_t **pp = &w->tab[key_hash(d->key) & (w->cap - 1)];
    while (*pp != d)
        pp = &(*pp)->hnext;
    *pp = d->hnext;
    w->n--;
    if (d->phase == DEV_RETRY)
        w->nretry--;
    d->removed = true;
    if (d->refs == 0)
        dev_free(d);
}

/* ---- loading --------------------------------------------------------------------------------- */

/* The effective uplink formatter: the device's, else the link's default_formatters. */
static void formatter_pick(as_dev_t *d, const json_t *device, const json_t *link)
{
    const json_t *src[2] = {json_object_get(device, "formatters"),
                            json_object_get(link, "default_formatters")};
    d->up_fmt = AS_FMT_NONE;
    for (int i = 0; i < 2 && d->up_fmt == AS_FMT_NONE; i++) {
        as_fmt_type_t t = AS_FMT_NONE;
        const json_t *v = json_object_get(src[i], "up_formatter");
        if (json_is_integer(v))
            t = (as_fmt_type_t)json_integer_value(v);
        else if (as_fmt_type_parse(json_string_value(v), &t) != 0)
            t = AS_FMT_NONE;
        if (t != AS_FMT_NONE) {
            d->up_fmt = t;
            const char *p = json_string_value(json_object_get(src[i], "up_formatter_parameter"));
            d->up_param = lw_strdup(p != NULL ? p : "");
        }
    }
}

static void dev_apply_row(as_worker_t *w, as_dev_t *d, const as_row_t *row)
{
    dev_settings_clear(d);
    d->skip_crypto = false;
    d->dev_eui = d->join_eui = 0;
    if (!row->found) {
        /* A device of the registry without an AS part yet (`lwstack simulate` and the NS API
         * provision none): the defaults, no formatter, payload crypto on; its first join
         * creates the part (as_store_pending_session). */
        formatter_pick(d, NULL, row->link);
        d->phase = DEV_READY;
        return;
    }
    const json_t *ids = json_object_get(row->device, "ids");
    as_eui_parse(json_string_value(json_object_get(ids, "dev_eui")), &d->dev_eui);
    as_eui_parse(json_string_value(json_object_get(ids, "join_eui")), &d->join_eui);
    const json_t *skip = json_object_get(row->device, "skip_payload_crypto_override");
    if (json_is_object(skip))
        skip = json_object_get(skip, "value");
    if (json_is_true(skip))
        d->skip_crypto = true;
    else if (skip == NULL && json_is_true(json_object_get(row->link, "skip_payload_crypto")))
        d->skip_crypto = true;
    formatter_pick(d, row->device, row->link);
    json_t *v = json_object_get(row->device, "version_ids");
    if (json_object_size(v) > 0)
        d->version_ids = json_incref(v);
    v = json_object_get(row->device, "attributes");
    if (json_object_size(v) > 0)
        d->attributes = json_incref(v);
    lw_err_t e;
    if (row->session != NULL &&
        as_session_from_json(w->as, row->session, "session", &d->session, &e) != 0)
        lw_log(LW_LOG_WARN, "as", "stored session unreadable", "tenant", d->tenant, "device",
               d->dev, "error", e.message, NULL);
    if (row->pending_session != NULL &&
        as_session_from_json(w->as, row->pending_session, "pending_session", &d->pending, &e) != 0)
        lw_log(LW_LOG_WARN, "as", "stored pending session unreadable", "tenant", d->tenant,
               "device", d->dev, "error", e.message, NULL);
    d->phase = DEV_READY;
}

static void dev_load(as_worker_t *w, as_dev_t *d);

/* d waits AS_RETRY_MS before its load (or its head item's write) is tried again. */
static void dev_retry(as_worker_t *w, as_dev_t *d)
{
    if (d->phase != DEV_RETRY)
        w->nretry++;
    d->phase = DEV_RETRY;
    d->retry_at_ms = now_ms() + AS_RETRY_MS;
}

static void dev_loaded(void *arg, const as_row_t *row, const lw_err_t *err)
{
    as_dev_t *d = arg;
    as_worker_t *w = d->w;
    if (!d->removed) {
        if (err != NULL) {
            lw_log(LW_LOG_WARN, "as", "device not loaded, retrying", "tenant", d->tenant, "device",
                   d->dev, "error", err->message, NULL);
            dev_retry(w, d);
        } else {
            dev_apply_row(w, d, row);
            d->busy = false;
        }
    }
    bool run = !d->removed && err == NULL;
    d->refs++; /* dev_unref below must not free it before dev_run */
    dev_unref(w, d);
    d->refs--;
    if (run)
        dev_run(w, d);
    else if (d->removed && d->refs == 0)
        dev_free(d);
}

static void dev_load(as_worker_t *w, as_dev_t *d)
{
    if (d->phase == DEV_RETRY)
        w->nretry--;
    d->phase = DEV_LOADING;
    d->busy = true;
    d->refs++;
    w->async++;
    if (as_store_load(w->as, d->tenant, d->app, d->dev, dev_loaded, d) != 0) {
        d->refs--;
        w->async--;
        dev_retry(w, d);
    }
}

/* ---- publishing ------------------------------------------------------------------------------ */

/* Publishes the ApplicationUp of item it as AsUp. Returns 0 or -1 (counted). */
static int publish_up_json(as_worker_t *w, as_dev_t *d, const Lw__Msg__NsUp *up,
                           const as_up_in_t *in, json_t **json_out);

static int publish_up(as_worker_t *w, as_dev_t *d, const Lw__Msg__NsUp *up, const as_up_in_t *in)
{
    return publish_up_json(w, d, up, in, NULL);
}

/* publish_up, and *json_out (when not NULL) receives the ApplicationUp JSON (a new reference,
 * NULL when nothing was published). */
static int publish_up_json(as_worker_t *w, as_dev_t *d, const Lw__Msg__NsUp *up,
                           const as_up_in_t *in, json_t **json_out)
{
    as_t *as = w->as;
    if (json_out != NULL)
        *json_out = NULL;
    Lw__Msg__AsUpType type = LW__MSG__AS_UP_TYPE__AS_UP_UNKNOWN;
    json_t *j = as_up_json(in, &type);
    if (j == NULL)
        return 0;
    char *text = lw_json_dumps(j, JSON_COMPACT);
    if (json_out != NULL)
        *json_out = json_incref(j);
    json_decref(j);
    Lw__Msg__AsUp m = LW__MSG__AS_UP__INIT;
    Lw__Msg__Envelope env = LW__MSG__ENVELOPE__INIT;
    env.id = up->envelope->id;
    uint8_t nid[LW_MSG_ID_LEN];
    if (in->normalized_item > 0 && env.id.len == LW_MSG_ID_LEN) {
        memcpy(nid, env.id.data, sizeof nid);
        nid[0] ^= 0x80;
        nid[sizeof nid - 1] ^= (uint8_t)in->normalized_item;
        env.id.data = nid;
    }
    env.tenant_id = d->tenant;
    env.correlation_ids = up->envelope->correlation_ids;
    env.n_correlation_ids = up->envelope->n_correlation_ids;
    env.schema_version = LW_MSG_SCHEMA_VERSION;
    m.envelope = &env;
    m.application_id = d->app;
    m.device_id = d->dev;
    m.type = type;
    m.json.data = (uint8_t *)text;
    m.json.len = strlen(text);
    m.received_at = in->received_at_ns;
    m.simulated = in->simulated;
    m.dev_eui = d->dev_eui;
    size_t cap = m.json.len + 1024, len = 0;
    uint8_t *buf = lw_malloc(cap);
    int rc = lw_msg_as_up_encode(&m, buf, cap, &len);
    lw_err_t e;
    lw_err_clear(&e);
    if (rc == 0)
        rc = lw_bus_publish(as->bus, "as.up", d->key, strlen(d->key), buf, len, &e);
    else
        lw_err_set(&e, &lw_err_internal, "AsUp not encoded: %s", lw_msg_strerror(rc));
    free(buf);
    free(text);
    if (rc != 0) {
        lw_log(LW_LOG_WARN, "as", "AsUp not published", "tenant", d->tenant, "device", d->dev,
               "error", e.message, NULL);
        as_count_drop(as, "publish_failed");
        if (json_out != NULL) {
            json_decref(*json_out);
            *json_out = NULL;
        }
        return -1;
    }
    const char *const v[] = {as_up_type_name(type), NULL};
    lw_metric_add(as->m_up, v, 1);
    return 0;
}

static void in_init(as_dev_t *d, const Lw__Msg__NsUp *up, as_up_in_t *in, char *corr,
                    size_t corr_len)
{
    memset(in, 0, sizeof *in);
    in->app_id = d->app;
    in->dev_id = d->dev;
    in->dev_eui = d->dev_eui;
    in->join_eui = d->join_eui;
    const Lw__Msg__EndDeviceIdentifiers *ids = up->end_device_ids;
    if (ids != NULL) {
        if (ids->dev_eui != 0)
            in->dev_eui = ids->dev_eui;
        if (ids->join_eui != 0)
            in->join_eui = ids->join_eui;
        if (ids->dev_addr != 0) {
            in->dev_addr = ids->dev_addr;
            in->has_dev_addr = true;
        }
    }
    in->up = up;
    in->received_at_ns = now_ns();
    char hex[2 * LW_MSG_ID_LEN + 1];
    lw_hex_encode(up->envelope->id.data, up->envelope->id.len, hex);
    snprintf(corr, corr_len, "as:up:%s", hex);
    in->correlation_id = corr;
    in->simulated = up->simulated;
}

/* ---- the pipeline ---------------------------------------------------------------------------- */

static bool key_is(const as_session_t *s, const ProtobufCBinaryData *id)
{
    return s->valid && s->key_id_len == id->len && memcmp(s->key_id, id->data, id->len) == 0;
}

/* The head item is handled: drop it, commit later, go on with the next. */
static void item_finish(as_worker_t *w, as_dev_t *d)
{
    as_item_t *it = d->head;
    d->head = it->next;
    if (d->head == NULL)
        d->tail = NULL;
    entry_done(w, it->entry);
    lw_msg_ns_up_free(it->up);
    free(it);
    d->busy = false;
}

typedef struct fmt_call {
    as_dev_t *d;
    as_fmt_uplink_t in;
    char recv[40];
} fmt_call_t;

static void uplink_publish(as_worker_t *w, as_dev_t *d, const as_fmt_uplink_result_t *r)
{
    const Lw__Msg__NsUp *up = d->head->up;
    as_up_in_t in;
    char corr[64];
    in_init(d, up, &in, corr, sizeof corr);
    in.version_ids = d->version_ids;
    in.attributes = d->attributes;
    json_t *warnings = NULL;
    if (r != NULL) {
        in.decoded_payload = r->err == NULL ? r->decoded_payload : NULL;
        in.normalized_payload = r->err == NULL ? r->normalized_payload : NULL;
        warnings = r->warnings != NULL ? json_incref(r->warnings) : NULL;
        if (r->err != NULL) {
            if (warnings == NULL)
                warnings = json_array();
            json_array_append_new(warnings, json_string(r->err->message));
            json_t *data =
                json_pack("{ss ss}", "namespace", r->err->def->ns, "name", r->err->def->name);
            json_object_set_new(data, "message_format", json_string(r->err->message));
            as_event(w->as, d->tenant, d->app, d->dev, "as.up.data.decode.fail", data, corr);
        }
    }
    in.decoded_payload_warnings = warnings;
    /* TTS's as.up.data.forward carries the ApplicationUp it forwarded. */
    json_t *fwd = NULL;
    if (publish_up_json(w, d, up, &in, &fwd) == 0 && fwd != NULL) {
        json_t *data =
            json_pack("{ss}", "@type", "type.googleapis.com/ttn.lorawan.v3.ApplicationUp");
        json_object_update(data, fwd); /* "@type" first, as TTS renders it */
        json_decref(fwd);
        as_event(w->as, d->tenant, d->app, d->dev, "as.up.data.forward", data, corr);
    }
    /* Then one uplink_normalized per item of the normalized payload (TTS), each with an
     * envelope id of its own derived from the uplink's, so a replay repeats the same ids. */
    size_t n = json_array_size(in.normalized_payload);
    for (size_t i = 1; i <= n && i < 128; i++) {
        in.normalized_item = i;
        (void)publish_up(w, d, up, &in);
    }
    json_decref(warnings);
}

static void fmt_done(void *arg, const as_fmt_uplink_result_t *r)
{
    fmt_call_t *c = arg;
    as_dev_t *d = c->d;
    as_worker_t *w = d->w;
    bool gone = d->removed;
    if (!gone) {
        uplink_publish(w, d, r);
        item_finish(w, d);
    }
    free(c);
    d->refs++;
    dev_unref(w, d);
    d->refs--;
    if (!gone)
        dev_run(w, d);
    else if (d->refs == 0)
        dev_free(d);
}

/* Returns true when the item went async (the device stays busy). */
static bool uplink_handle(as_worker_t *w, as_dev_t *d, Lw__Msg__NsUp *up)
{
    Lw__Msg__UplinkMessage *u = up->uplink_message;
    as_t *as = w->as;
    char corr[64];
    as_up_in_t tmp;
    in_init(d, up, &tmp, corr, sizeof corr);
    as_event(as, d->tenant, d->app, d->dev, "as.up.data.receive", NULL, corr);
    const as_session_t *s = NULL;
    if (!up->simulated) {
        if (key_is(&d->session, &u->session_key_id)) {
            s = &d->session;
        } else if (key_is(&d->pending, &u->session_key_id)) {
            /* The first uplink of a join's session: it becomes the active one. */
            d->session = d->pending;
            memset(&d->pending, 0, sizeof d->pending);
            s = &d->session;
            json_t *id = as_b64_json(u->session_key_id.data, u->session_key_id.len);
            as_store_activate(as, d->tenant, d->app, d->dev, json_string_value(id), as_store_ignore,
                              NULL);
            json_decref(id);
        } else {
            as_count_drop(as, "unknown_session");
            lw_log(LW_LOG_INFO, "as", "uplink of an unknown session dropped", "tenant", d->tenant,
                   "device", d->dev, NULL);
            return false;
        }
        if (u->f_port > 0 && u->frm_payload.len > 0 && !d->skip_crypto) {
            if (!s->has_key) {
                as_count_drop(as, "no_app_s_key");
                return false;
            }
            as_frm_crypt(s->app_s_key, false, s->dev_addr, u->f_cnt, u->frm_payload.data,
                         u->frm_payload.len);
        }
    }
    bool decode = u->f_port > 0 && u->frm_payload.len > 0 && !d->skip_crypto &&
                  d->up_fmt != AS_FMT_NONE && as->fmt_ops.decode_uplink != NULL;
    if (!decode) {
        uplink_publish(w, d, NULL);
        return false;
    }
    fmt_call_t *c = lw_calloc(1, sizeof *c);
    c->d = d;
    c->in.tenant_id = d->tenant;
    c->in.app_id = d->app;
    c->in.dev_id = d->dev;
    c->in.formatter.type = d->up_fmt;
    c->in.formatter.parameter = d->up_param != NULL ? d->up_param : "";
    c->in.version_ids = d->version_ids;
    c->in.f_port = (uint8_t)u->f_port;
    c->in.frm_payload = u->frm_payload.data;
    c->in.frm_payload_len = u->frm_payload.len;
    as_time_text(u->received_at != 0 ? u->received_at : now_ns(), c->recv);
    c->in.recv_time = c->recv;
    d->busy = true;
    d->refs++;
    w->async++;
    as->fmt_ops.decode_uplink(as->fmt_ops.impl, &c->in, fmt_done, c);
    return true;
}

typedef struct join_call {
    as_dev_t *d;
} join_call_t;

static void join_written(void *arg, const lw_err_t *err)
{
    as_dev_t *d = arg;
    as_worker_t *w = d->w;
    bool gone = d->removed;
    if (!gone && err != NULL && err->def != &lw_err_db_unavailable) {
        /* Refused (the registry has no such device): nothing to keep. */
        lw_log(LW_LOG_WARN, "as", "join accept dropped: pending session refused", "tenant",
               d->tenant, "device", d->dev, "error", err->message, NULL);
        as_count_drop(w->as, "session_store_refused");
        memset(&d->pending, 0, sizeof d->pending);
        item_finish(w, d);
        err = NULL;
    } else if (!gone && err != NULL) {
        /* Not durable: the item stays at the head and is tried again later. */
        lw_log(LW_LOG_WARN, "as", "pending session not stored, retrying", "tenant", d->tenant,
               "device", d->dev, "error", err->message, NULL);
        dev_retry(w, d);
    } else if (!gone) {
        as_up_in_t in;
        char corr[64];
        in_init(d, d->head->up, &in, corr, sizeof corr);
        publish_up(w, d, d->head->up, &in);
        item_finish(w, d);
    }
    d->refs++;
    dev_unref(w, d);
    d->refs--;
    if (!gone && err == NULL)
        dev_run(w, d);
    else if (gone && d->refs == 0)
        dev_free(d);
}

static bool join_handle(as_worker_t *w, as_dev_t *d, Lw__Msg__NsUp *up)
{
    as_t *as = w->as;
    const Lw__Msg__JoinAccept *ja = up->join_accept;
    as_session_t s;
    memset(&s, 0, sizeof s);
    if (ja->session_key_id.len > AS_KEY_ID_MAX) {
        as_count_drop(as, "invalid_session_key_id");
        return false;
    }
    memcpy(s.key_id, ja->session_key_id.data, ja->session_key_id.len);
    s.key_id_len = (uint8_t)ja->session_key_id.len;
    s.dev_addr = ja->dev_addr != 0
                     ? ja->dev_addr
                     : (up->end_device_ids != NULL ? up->end_device_ids->dev_addr : 0);
    s.valid = true;
    if (ja->app_s_key != NULL && !d->skip_crypto) {
        lw_err_t e;
        if (as_key_unwrap(as, ja->app_s_key->kek_label, ja->app_s_key->encrypted_key.data,
                          ja->app_s_key->encrypted_key.len, s.app_s_key, &e) != 0) {
            as_count_drop(as, "app_s_key_unwrap");
            lw_log(LW_LOG_WARN, "as", "join accept's AppSKey not unwrapped", "tenant", d->tenant,
                   "device", d->dev, "error", e.message, NULL);
        } else {
            s.has_key = true;
        }
    }
    d->pending = s;
    OPENSSL_cleanse(&s, sizeof s);
    json_t *rest = as_session_to_rest(as, &d->pending);
    d->busy = true;
    d->refs++;
    w->async++;
    int rc = as_store_pending_session(as, d->tenant, d->app, d->dev, rest, join_written, d);
    json_decref(rest);
    if (rc != 0) {
        d->refs--;
        w->async--;
        dev_retry(w, d);
    }
    return true;
}

/* Decrypts the frm_payload of a downlink result for the application, with the session it
 * was encrypted for. */
static void downlink_decrypt(as_dev_t *d, Lw__Msg__ApplicationDownlink *dl)
{
    if (dl == NULL || d->skip_crypto || dl->frm_payload.len == 0)
        return;
    const as_session_t *s = key_is(&d->session, &dl->session_key_id)   ? &d->session
                            : key_is(&d->pending, &dl->session_key_id) ? &d->pending
                                                                       : NULL;
    if (s == NULL || !s->has_key)
        return;
    as_frm_crypt(s->app_s_key, true, s->dev_addr, dl->f_cnt, dl->frm_payload.data,
                 dl->frm_payload.len);
}

/* Handles the head item; returns true when it went async. */
static bool item_handle(as_worker_t *w, as_dev_t *d)
{
    Lw__Msg__NsUp *up = d->head->up;
    as_up_in_t in;
    char corr[64];
    switch (up->up_case) {
    case LW__MSG__NS_UP__UP_AS_DEVICE_CHANGED:
        item_finish(w, d);
        dev_load(w, d);
        return true;
    case LW__MSG__NS_UP__UP_UPLINK_MESSAGE:
        if (uplink_handle(w, d, up))
            return true;
        break;
    case LW__MSG__NS_UP__UP_JOIN_ACCEPT:
        if (join_handle(w, d, up))
            return true;
        break;
    case LW__MSG__NS_UP__UP_DOWNLINK_QUEUED:
    case LW__MSG__NS_UP__UP_DOWNLINK_SENT:
    case LW__MSG__NS_UP__UP_DOWNLINK_ACK:
    case LW__MSG__NS_UP__UP_DOWNLINK_NACK:
    case LW__MSG__NS_UP__UP_DOWNLINK_FAILED: {
        Lw__Msg__ApplicationDownlink *dl =
            up->up_case == LW__MSG__NS_UP__UP_DOWNLINK_QUEUED ? up->downlink_queued
            : up->up_case == LW__MSG__NS_UP__UP_DOWNLINK_SENT ? up->downlink_sent
            : up->up_case == LW__MSG__NS_UP__UP_DOWNLINK_ACK  ? up->downlink_ack
            : up->up_case == LW__MSG__NS_UP__UP_DOWNLINK_NACK ? up->downlink_nack
                                                              : up->downlink_failed->downlink;
        downlink_decrypt(d, dl);
        in_init(d, up, &in, corr, sizeof corr);
        publish_up(w, d, up, &in);
        if (up->up_case == LW__MSG__NS_UP__UP_DOWNLINK_NACK && dl != NULL)
            as_downlink_retry(w->as, d->tenant, d->app, d->dev, dl);
        break;
    }
    case LW__MSG__NS_UP__UP_DOWNLINK_QUEUE_INVALIDATED: {
        Lw__Msg__ApplicationInvalidatedDownlinks *inv = up->downlink_queue_invalidated;
        if (d->skip_crypto) {
            /* TTS: the application recomputes its queue; it hears of it. */
            in_init(d, up, &in, corr, sizeof corr);
            publish_up(w, d, up, &in);
        } else {
            for (size_t i = 0; i < inv->n_downlinks; i++)
                downlink_decrypt(d, inv->downlinks[i]);
            as_downlink_requeue(w->as, d->tenant, d->app, d->dev, inv);
        }
        break;
    }
    case LW__MSG__NS_UP__UP_DOWNLINK_QUEUE_LIST:
        as_downlink_list_answer(w->as, d->tenant, d->app, d->dev, up->downlink_queue_list,
                                d->skip_crypto ? NULL : &d->session,
                                d->skip_crypto ? NULL : &d->pending);
        break;
    default:
        as_count_drop(w->as, "unknown_message");
        break;
    }
    item_finish(w, d);
    return false;
}

static void dev_run(as_worker_t *w, as_dev_t *d)
{
    while (!d->busy && d->head != NULL) {
        if (d->phase == DEV_RETRY || d->phase == DEV_LOADING)
            return;
        if (d->reload) {
            d->reload = false;
            dev_load(w, d); /* dev_loaded runs the items */
            return;
        }
        if (item_handle(w, d))
            return;
    }
}

/* ---- the consumer ---------------------------------------------------------------------------- */

/* "<tenant>/<app>/<dev>" with valid IDs. */
static int key_split(const char *key, size_t len, as_dev_t *d)
{
    if (len > AS_DEV_KEY_MAX)
        return -1;
    char k[AS_DEV_KEY_MAX + 1];
    memcpy(k, key, len);
    k[len] = '\0';
    char *a = strchr(k, '/');
    char *b = a != NULL ? strchr(a + 1, '/') : NULL;
    if (a == NULL || b == NULL)
        return -1;
    *a = *b = '\0';
    lw_err_t e;
    if (tn_id_validate(k, 3, "tenant", &e) != 0 ||
        tn_id_validate(a + 1, 2, "application", &e) != 0 ||
        tn_id_validate(b + 1, 2, "device", &e) != 0)
        return -1;
    snprintf(d->tenant, sizeof d->tenant, "%.*s", (int)TN_ID_MAX, k);
    snprintf(d->app, sizeof d->app, "%.*s", (int)TN_ID_MAX, a + 1);
    snprintf(d->dev, sizeof d->dev, "%.*s", (int)TN_ID_MAX, b + 1);
    memcpy(d->key, key, len);
    d->key[len] = '\0';
    return 0;
}

static void on_message(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *msg)
{
    (void)c;
    as_worker_t *w = arg;
    as_t *as = w->as;
    lw_bus_commit_entry_t *e = lw_bus_commitq_add(&w->commits, msg);
    Lw__Msg__NsUp *up = NULL;
    as_dev_t probe;
    memset(&probe, 0, sizeof probe);
    if (lw_msg_ns_up_decode(msg->value, msg->value_len, &up) != 0) {
        as_count_drop(as, "malformed");
        entry_done(w, e);
        return;
    }
    if (key_split(msg->key, msg->key_len, &probe) != 0 ||
        strcmp(up->envelope->tenant_id, probe.tenant) != 0) {
        as_count_drop(as, "invalid_key");
        lw_msg_ns_up_free(up);
        entry_done(w, e);
        return;
    }
    tn_tenant_t t;
    if (!tn_get(as->tn, probe.tenant, &t) || !tn_state_active(t.state)) {
        as_count_drop(as, "tenant_not_active");
        lw_msg_ns_up_free(up);
        entry_done(w, e);
        return;
    }
    as_dev_t *d = dev_find(w, probe.key);
    if (d == NULL) {
        d = lw_calloc(1, sizeof *d);
        *d = probe;
        d->w = w;
        d->partition = msg->partition;
        dev_insert(w, d);
        dev_load(w, d);
    }
    as_item_t *it = lw_calloc(1, sizeof *it);
    it->up = up;
    it->entry = e;
    if (d->tail != NULL)
        d->tail->next = it;
    else
        d->head = it;
    d->tail = it;
    dev_run(w, d);
}

static void on_revoke(void *arg, lw_bus_consumer_t *c, const lw_bus_partition_t *parts, size_t n)
{
    (void)c;
    as_worker_t *w = arg;
    commit_flush(w);
    lw_bus_commitq_revoke(&w->commits, parts, n);
    for (size_t i = 0; i < w->cap; i++) {
        as_dev_t *d = w->tab[i];
        while (d != NULL) {
            as_dev_t *next = d->hnext;
            for (size_t k = 0; k < n; k++)
                if (parts[k].partition == d->partition) {
                    dev_remove(w, d);
                    break;
                }
            d = next;
        }
    }
    commit_flush(w);
}

static void on_timer(uv_timer_t *t)
{
    as_worker_t *w = t->data;
    commit_flush(w);
    if (w->nretry == 0)
        return;
    uint64_t now = now_ms();
    for (size_t i = 0; i < w->cap; i++)
        for (as_dev_t *d = w->tab[i]; d != NULL; d = d->hnext)
            if (d->phase == DEV_RETRY && now >= d->retry_at_ms) {
                d->busy = false;
                dev_load(w, d);
            }
}

/* ---- link changes (lw.as.links) ------------------------------------------------------------ */

int as_link_changed(as_t *as, const char *tenant, const char *app)
{
    Lw__Msg__AsLinkChange m = LW__MSG__AS_LINK_CHANGE__INIT;
    Lw__Msg__Envelope env;
    uint8_t id[LW_UID_LEN];
    as_envelope_new(&env, id, tenant);
    m.envelope = &env;
    m.application_id = (char *)app;
    uint8_t buf[256];
    size_t len = 0;
    char key[2 * TN_ID_MAX + 2];
    snprintf(key, sizeof key, "%s/%s", tenant, app);
    lw_err_t e;
    lw_err_clear(&e);
    int rc = lw_msg_as_link_encode(&m, buf, sizeof buf, &len);
    if (rc == 0)
        rc = lw_bus_publish(as->bus, "as.links", key, strlen(key), buf, len, &e);
    else
        lw_err_set(&e, &lw_err_internal, "AsLinkChange not encoded: %s", lw_msg_strerror(rc));
    if (rc != 0)
        lw_log(LW_LOG_WARN, "as",
               "link change not announced: loaded devices keep the old link until loaded again",
               "tenant", tenant, "application", app, "error", e.message, NULL);
    return rc;
}

/* Every loaded device of the application loads its settings again before its next item
 * (devices not loaded here read the new link when they are). */
static void on_link_change(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *msg)
{
    (void)c;
    as_worker_t *w = arg;
    Lw__Msg__AsLinkChange *m = NULL;
    if (lw_msg_as_link_decode(msg->value, msg->value_len, &m) != 0) {
        as_count_drop(w->as, "malformed");
        return;
    }
    const char *tenant = m->envelope->tenant_id;
    for (size_t i = 0; i < w->cap; i++)
        for (as_dev_t *d = w->tab[i]; d != NULL; d = d->hnext)
            if (strcmp(d->tenant, tenant) == 0 && strcmp(d->app, m->application_id) == 0)
                d->reload = true;
    lw_msg_as_link_free(m);
}

int as_worker_start(as_t *as, lw_err_t *err)
{
    as_worker_t *w = lw_calloc(1, sizeof *w);
    w->as = as;
    as->worker = w;
    lw_bus_topic(as->bus, "ns.up", w->t_up, sizeof w->t_up);
    w->cap = AS_DEVS_INITIAL;
    w->tab = lw_calloc(w->cap, sizeof *w->tab);
    uv_timer_init(as->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_timer, AS_FLUSH_MS, AS_FLUSH_MS);
    w->timer_on = true;
    static const char *const topics[] = {"ns.up"};
    static const lw_bus_handler_t h = {.on_message = on_message, .on_revoke = on_revoke};
    static const char *const ltopics[] = {"as.links"};
    static const lw_bus_handler_t lh = {.on_message = on_link_change};
    w->links = lw_bus_subscribe_opts(as->bus, NULL, ltopics, 1, &lh, w, NULL, err);
    if (w->links == NULL)
        return -1;
    w->c = lw_bus_subscribe(as->bus, "as", topics, 1, &h, w, err);
    w->commits.consumer = w->c;
    return w->c != NULL ? 0 : -1;
}

void as_worker_stop(as_t *as)
{
    as_worker_t *w = as->worker;
    if (w == NULL)
        return;
    commit_flush(w);
}

bool as_worker_idle(const as_t *as)
{
    as_worker_t *w = as->worker;
    if (w == NULL)
        return true;
    commit_flush(w);
    if (w->async > 0)
        return false;
    if (w->timer_on) {
        uv_timer_stop(&w->timer);
        uv_close((uv_handle_t *)&w->timer, NULL);
        w->timer_on = false;
    }
    return true;
}

void as_worker_free(as_t *as)
{
    as_worker_t *w = as->worker;
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->cap; i++)
        for (as_dev_t *d = w->tab[i], *next; d != NULL; d = next) {
            next = d->hnext;
            dev_free(d);
        }
    free(w->tab);
    lw_bus_commitq_free(&w->commits);
    free(w);
    as->worker = NULL;
}
