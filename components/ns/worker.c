/* The device worker (DESIGN.md §3): one consumer in one group on lw.ns.dev, lw.as.down and
 * lw.gs.txack. The three topics are co-partitioned (same key, same partition count) so the
 * range assignor gives this member the same partitions of each, and with them the devices
 * whose keys hash there: it alone changes their state.
 *
 * A device is loaded from PostgreSQL once, when its first message arrives; its messages wait
 * in order meanwhile (and while the Join Server answers its join). Its changes are written
 * behind the hot path: a batch every ns.persist-interval (one transaction), and an offset
 * is committed only once the batch that holds the message's effects is durable
 * (lw_bus_commitq), so a crash replays what was not yet written and nothing else. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/clock.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "ns/ns_private.h"
#include "tenant/tenant.h"

static size_t key_hash(const char *s)
{
    size_t h = 1469598103934665603ull;
    while (*s != '\0')
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

int ns_dev_key_split(const char *key, size_t len, char tenant[TN_ID_MAX + 1],
                     char app[TN_ID_MAX + 1], char dev[TN_ID_MAX + 1])
{
    const char *end = key + len;
    const char *a = memchr(key, '/', len);
    if (a == NULL)
        return -1;
    const char *b = memchr(a + 1, '/', (size_t)(end - a - 1));
    if (b == NULL || memchr(b + 1, '/', (size_t)(end - b - 1)) != NULL)
        return -1;
    size_t lt = (size_t)(a - key), la = (size_t)(b - a - 1), ld = (size_t)(end - b - 1);
    if (lt == 0 || la == 0 || ld == 0 || lt > TN_ID_MAX || la > TN_ID_MAX || ld > TN_ID_MAX)
        return -1;
    memcpy(tenant, key, lt);
    tenant[lt] = '\0';
    memcpy(app, a + 1, la);
    app[la] = '\0';
    memcpy(dev, b + 1, ld);
    dev[ld] = '\0';
    lw_err_t e;
    if (tn_id_validate(tenant, 3, "tenant_id", &e) != 0 ||
        tn_id_validate(app, 2, "application_id", &e) != 0 ||
        tn_id_validate(dev, 2, "device_id", &e) != 0)
        return -1;
    return 0;
}

ns_dev_t *ns_dev_find(ns_t *ns, const char *key)
{
    for (ns_dev_t *d = ns->devs[key_hash(key) & (ns->devs_cap - 1)]; d != NULL; d = d->hnext)
        if (strcmp(d->key, key) == 0)
            return d;
    return NULL;
}

static void devs_grow(ns_t *ns)
{
    size_t cap = ns->devs_cap * 2;
    ns_dev_t **b = lw_calloc(cap, sizeof *b);
    for (size_t i = 0; i < ns->devs_cap; i++) {
        ns_dev_t *d = ns->devs[i];
        while (d != NULL) {
            ns_dev_t *next = d->hnext;
            size_t j = key_hash(d->key) & (cap - 1);
            d->hnext = b[j];
            b[j] = d;
            d = next;
        }
    }
    free(ns->devs);
    ns->devs = b;
    ns->devs_cap = cap;
}

void ns_dev_mark_dirty(ns_t *ns, ns_dev_t *d)
{
    if (d->dirty)
        return;
    d->dirty = true;
    d->dirty_next = ns->dirty_head;
    ns->dirty_head = d;
}

static void wait_free(ns_wait_t *w)
{
    switch (w->kind) {
    case NS_MSG_DEV:
        lw_msg_ns_dev_free(w->msg);
        break;
    case NS_MSG_DOWN:
        lw_msg_as_down_free(w->msg);
        break;
    case NS_MSG_TXACK:
        lw_msg_gs_txack_free(w->msg);
        break;
    }
    free(w);
}

/* Forgets a device: its waiting messages and open window are dropped unprocessed (their
 * offsets are then committed with the next batch when `done`, or left to the partition's
 * next owner when the partition was revoked). */
static void dev_forget(ns_t *ns, ns_dev_t *d, bool done)
{
    if (d->up != NULL)
        ns_uplink_window_drop(ns, d->up);
    ns_wait_t *w = d->wait_head;
    while (w != NULL) {
        ns_wait_t *next = w->next;
        lw_bus_commitq_done(w->entry, done ? ns->gen : 0);
        wait_free(w);
        w = next;
    }
    d->wait_head = d->wait_tail = NULL;
    if (d->dirty) {
        ns_dev_t **pp = &ns->dirty_head;
        while (*pp != NULL && *pp != d)
            pp = &(*pp)->dirty_next;
        if (*pp == d)
            *pp = d->dirty_next;
    }
    ns_dev_t **pp = &ns->devs[key_hash(d->key) & (ns->devs_cap - 1)];
    while (*pp != NULL && *pp != d)
        pp = &(*pp)->hnext;
    if (*pp == d)
        *pp = d->hnext;
    ns->ndevs--;
    ns_dev_mac_drop(ns, d);
    ns_settings_release(ns, d->set);
    ns_state_destroy(&d->st);
    free(d);
}

/* ---- loading ------------------------------------------------------------------------------- */

typedef struct load {
    ns_t *ns;
    char key[NS_DEV_KEY_MAX + 1];
    bool reload;
    uv_timer_t retry;
} load_t;

static void dev_load(ns_t *ns, ns_dev_t *d, bool reload);

static void retry_closed(uv_handle_t *h)
{
    free(h->data);
}

static void retry_fire(uv_timer_t *t)
{
    load_t *l = t->data;
    ns_dev_t *d = ns_dev_find(l->ns, l->key);
    if (d != NULL && !l->ns->stopping)
        dev_load(l->ns, d, l->reload);
    uv_close((uv_handle_t *)t, retry_closed);
}

/* Gives d the settings of its row (taken from *set): its EUIs its own, the rest shared. */
static void dev_set_settings(ns_t *ns, ns_dev_t *d, ns_settings_t *set)
{
    d->has_dev_eui = set->has_dev_eui;
    d->has_join_eui = set->has_join_eui;
    d->dev_eui = set->dev_eui;
    d->join_eui = set->join_eui;
    /* An expanded MAC state has the old settings' desired channels: stored back, it is
     * expanded again with the new ones. */
    ns_dev_mac_sync(ns, d);
    ns_dev_mac_drop(ns, d);
    const ns_settings_t *old = d->set;
    d->set = ns_settings_intern(ns, set);
    ns_settings_release(ns, old);
}

static void dev_loaded(void *arg, ns_row_t *row, const lw_err_t *err)
{
    load_t *l = arg;
    ns_t *ns = l->ns;
    ns->inflight--;
    ns_dev_t *d = ns_dev_find(ns, l->key);
    if (d == NULL) {
        if (row != NULL) {
            ns_settings_destroy(&row->set);
            ns_state_destroy(&row->st);
        }
        free(l);
        return;
    }
    if (err != NULL) {
        /* PostgreSQL is away: the messages keep waiting, in order; try again. */
        lw_log(LW_LOG_WARN, "ns", "device not loaded, retrying", "device", d->key, "error",
               err->message, NULL);
        if (!ns->stopping) {
            uv_timer_init(ns->loop, &l->retry);
            l->retry.data = l;
            uv_timer_start(&l->retry, retry_fire, 500, 0);
            return;
        }
        free(l);
        return;
    }
    if (!row->found) {
        ns_settings_release(ns, d->set);
        d->set = &ns_settings_none;
        ns_dev_mac_drop(ns, d);
        ns_state_destroy(&d->st);
        d->phase = NS_DEV_ABSENT;
    } else if (!l->reload || d->phase == NS_DEV_ABSENT) {
        dev_set_settings(ns, d, &row->set);
        ns_dev_mac_drop(ns, d);
        ns_state_destroy(&d->st);
        d->st = row->st;
        d->gen = row->gen;
        d->state_gen = row->state_gen;
        d->phase = NS_DEV_READY;
        memset(&row->st, 0, sizeof row->st);
    } else {
        /* RELOAD: the API changed the row. Its settings always win; its state only when it
         * wrote the state (state_gen), else what this worker holds is newer. */
        dev_set_settings(ns, d, &row->set);
        if (row->state_gen > d->state_gen) {
            bool session_changed = row->st.session.valid != d->st.session.valid ||
                                   row->st.session.key_id_len != d->st.session.key_id_len ||
                                   memcmp(row->st.session.key_id, d->st.session.key_id,
                                          d->st.session.key_id_len) != 0 ||
                                   row->st.session.dev_addr != d->st.session.dev_addr;
            ns_queued_t *old = NULL;
            size_t nold = 0;
            if (session_changed)
                ns_state_take_queue(&d->st, &old, &nold);
            ns_dev_mac_drop(ns, d);
            ns_state_destroy(&d->st);
            d->st = row->st;
            memset(&row->st, 0, sizeof row->st);
            if (nold > 0)
                ns_downlink_invalidated(ns, d, old, nold);
            free(old);
        }
        d->gen = row->gen;
        d->state_gen = row->state_gen;
        d->phase = NS_DEV_READY;
        ns_dev_mark_dirty(ns, d);
    }
    if (row != NULL) {
        ns_settings_destroy(&row->set);
        ns_state_destroy(&row->st);
    }
    free(l);
    if (d->phase == NS_DEV_READY)
        ns_downlink_loaded(ns, d); /* deadlines of what was in flight before a restart */
    ns_dev_drain(ns, d);
}

static void dev_load(ns_t *ns, ns_dev_t *d, bool reload)
{
    load_t *l = lw_calloc(1, sizeof *l);
    l->ns = ns;
    l->reload = reload;
    snprintf(l->key, sizeof l->key, "%s", d->key);
    d->phase = d->phase == NS_DEV_READY && reload ? NS_DEV_LOADING : NS_DEV_LOADING;
    if (ns_store_load(ns, ns_dev_tenant(d), ns_dev_app(d), ns_dev_dev(d), dev_loaded, l) != 0) {
        uv_timer_init(ns->loop, &l->retry);
        l->retry.data = l;
        uv_timer_start(&l->retry, retry_fire, 500, 0);
        return;
    }
    ns->inflight++;
}

static ns_dev_t *dev_get(ns_t *ns, const char *key, size_t key_len, int32_t partition)
{
    char k[NS_DEV_KEY_MAX + 1];
    if (key_len > NS_DEV_KEY_MAX)
        return NULL;
    memcpy(k, key, key_len);
    k[key_len] = '\0';
    ns_dev_t *d = ns_dev_find(ns, k);
    if (d != NULL)
        return d;
    char tenant[TN_ID_MAX + 1], app[TN_ID_MAX + 1], dev[TN_ID_MAX + 1];
    if (ns_dev_key_split(k, key_len, tenant, app, dev) != 0)
        return NULL;
    /* names: the key, then its three parts (each part is shorter than the key). */
    d = lw_calloc(1, sizeof *d + 2 * (key_len + 1));
    char *p = d->key;
    memcpy(p, k, key_len + 1);
    p += key_len + 1;
    d->o_tenant = (uint8_t)(p - d->key);
    p = stpcpy(p, tenant) + 1;
    d->o_app = (uint8_t)(p - d->key);
    p = stpcpy(p, app) + 1;
    d->o_dev = (uint8_t)(p - d->key);
    strcpy(p, dev);
    d->partition = partition;
    d->set = &ns_settings_none;
    ns_state_init(&d->st);
    size_t i = key_hash(d->key) & (ns->devs_cap - 1);
    d->hnext = ns->devs[i];
    ns->devs[i] = d;
    if (++ns->ndevs > ns->devs_cap)
        devs_grow(ns);
    dev_load(ns, d, false);
    return d;
}

/* ---- dispatch -----------------------------------------------------------------------------------
 */

/* Runs one message for a ready (or absent) device. Takes msg. */
static void dispatch(ns_t *ns, ns_dev_t *d, int kind, void *msg, ns_entry_t *e)
{
    if (kind == NS_MSG_DEV) {
        Lw__Msg__NsDev *m = msg;
        if (m->control == LW__MSG__NS_DEV_CONTROL__RELOAD) {
            lw_msg_ns_dev_free(m);
            lw_bus_commitq_done(e, ns->gen);
            dev_load(ns, d, true);
            return;
        }
        if (m->control == LW__MSG__NS_DEV_CONTROL__DELETE) {
            lw_msg_ns_dev_free(m);
            lw_bus_commitq_done(e, ns->gen);
            lw_log(LW_LOG_INFO, "ns", "device forgotten", "device", d->key, NULL);
            dev_forget(ns, d, true);
            return;
        }
        if (d->phase == NS_DEV_ABSENT) {
            ns_count_drop(ns, "device_not_found");
            lw_msg_ns_dev_free(m);
            lw_bus_commitq_done(e, ns->gen);
            return;
        }
        ns_uplink_handle(ns, d, m, e);
        return;
    }
    if (kind == NS_MSG_DOWN) {
        Lw__Msg__AsDown *m = msg;
        ns_downlink_queue_op(ns, d, m); /* an absent device's too: it answers not found */
        lw_msg_as_down_free(m);
        lw_bus_commitq_done(e, ns->gen);
        return;
    }
    Lw__Msg__GsTxAck *m = msg;
    if (d->phase != NS_DEV_ABSENT)
        ns_downlink_txack(ns, d, m);
    lw_msg_gs_txack_free(m);
    lw_bus_commitq_done(e, ns->gen);
}

void ns_dev_drain(ns_t *ns, ns_dev_t *d)
{
    while (d->phase != NS_DEV_LOADING && !d->busy && d->wait_head != NULL) {
        ns_wait_t *w = d->wait_head;
        d->wait_head = w->next;
        if (d->wait_head == NULL)
            d->wait_tail = NULL;
        void *msg = w->msg;
        int kind = w->kind;
        ns_entry_t *e = w->entry;
        free(w);
        char key[NS_DEV_KEY_MAX + 1];
        snprintf(key, sizeof key, "%s", d->key);
        dispatch(ns, d, kind, msg, e);
        d = ns_dev_find(ns, key); /* DELETE frees it */
        if (d == NULL)
            return;
    }
}

static void on_message(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *msg)
{
    (void)c;
    ns_t *ns = arg;
    ns_entry_t *e = lw_bus_commitq_add(&ns->wq, msg);
    const char *t = msg->topic;
    int kind = 0;
    void *m = NULL;
    const char *tenant = NULL;
    int rc = -1;
    if (strcmp(t, ns->t_dev) == 0) {
        Lw__Msg__NsDev *x = NULL;
        rc = lw_msg_ns_dev_decode(msg->value, msg->value_len, &x);
        kind = NS_MSG_DEV;
        m = x;
        tenant = x != NULL ? x->envelope->tenant_id : NULL;
    } else if (strcmp(t, ns->t_down) == 0) {
        Lw__Msg__AsDown *x = NULL;
        rc = lw_msg_as_down_decode(msg->value, msg->value_len, &x);
        kind = NS_MSG_DOWN;
        m = x;
        tenant = x != NULL ? x->envelope->tenant_id : NULL;
    } else {
        Lw__Msg__GsTxAck *x = NULL;
        rc = lw_msg_gs_txack_decode(msg->value, msg->value_len, &x);
        kind = NS_MSG_TXACK;
        m = x;
        tenant = x != NULL ? x->envelope->tenant_id : NULL;
    }
    if (rc != 0) {
        ns_count_drop(ns, "malformed");
        lw_bus_commitq_done(e, ns->gen);
        return;
    }
    tn_tenant_t tt;
    if (tenant != NULL && (!tn_get(ns->tn, tenant, &tt) || !tn_state_active(tt.state))) {
        /* A suspended (or deleted) tenant's traffic stops here too: what the matcher had
         * already resolved, and its application's downlinks. */
        ns_count_drop(ns, "tenant_not_active");
        ns_wait_t *wp = lw_calloc(1, sizeof *wp);
        wp->kind = kind;
        wp->msg = m;
        wait_free(wp);
        lw_bus_commitq_done(e, ns->gen);
        return;
    }
    ns_dev_t *d = dev_get(ns, msg->key, msg->key_len, msg->partition);
    if (d == NULL || strcmp(ns_dev_tenant(d), tenant) != 0) {
        /* The key names the owner; a message whose key and tenant disagree is refused. */
        ns_count_drop(ns, "bad_key");
        ns_wait_t *wp = lw_calloc(1, sizeof *wp);
        wp->kind = kind;
        wp->msg = m;
        wait_free(wp);
        lw_bus_commitq_done(e, ns->gen);
        return;
    }
    d->partition = msg->partition;
    if (d->phase == NS_DEV_LOADING || d->busy || d->wait_head != NULL) {
        ns_wait_t *w = lw_calloc(1, sizeof *w);
        w->kind = kind;
        w->msg = m;
        w->entry = e;
        if (d->wait_tail != NULL)
            d->wait_tail->next = w;
        else
            d->wait_head = w;
        d->wait_tail = w;
        return;
    }
    dispatch(ns, d, kind, m, e);
}

/* ---- batches -----------------------------------------------------------------------------------
 */

/* What waits for the batch being accumulated to be durable: a device's sessions to announce,
 * or a bus message to publish (buf). */
typedef struct after {
    struct after *next;
    uint64_t gen;
    char tenant[TN_ID_MAX + 1], app[TN_ID_MAX + 1], dev[TN_ID_MAX + 1];
    const char *topic;
    char *key;
    uint8_t *buf;
    size_t len;
} after_t;

#define after_head (*(after_t **)&ns->after_head)

static void after_free(after_t *a)
{
    free(a->key);
    free(a->buf);
    free(a);
}

void ns_after_durable_sessions(ns_t *ns, ns_dev_t *d)
{
    after_t *a = lw_calloc(1, sizeof *a);
    a->gen = ns->gen;
    snprintf(a->tenant, sizeof a->tenant, "%s", ns_dev_tenant(d));
    snprintf(a->app, sizeof a->app, "%s", ns_dev_app(d));
    snprintf(a->dev, sizeof a->dev, "%s", ns_dev_dev(d));
    a->next = after_head;
    after_head = a;
}

void ns_publish_after_durable(ns_t *ns, const char *topic, const char *key, const uint8_t *buf,
                              size_t len)
{
    after_t *a = lw_calloc(1, sizeof *a);
    a->gen = ns->gen;
    a->topic = topic;
    a->key = lw_strdup(key);
    a->buf = lw_malloc(len > 0 ? len : 1);
    memcpy(a->buf, buf, len);
    a->len = len;
    a->next = after_head;
    after_head = a;
}

static void flush_start(ns_t *ns);

static void flushed(ns_t *ns, bool ok)
{
    uint64_t cut = ns->gen - 1;
    ns->flushing = false;
    if (ok) {
        ns->durable = cut;
        lw_bus_commitq_flush(&ns->wq, ns->durable);
        after_t **pp = &after_head;
        while (*pp != NULL) {
            after_t *a = *pp;
            if (a->gen <= ns->durable) {
                if (a->buf != NULL)
                    (void)ns_publish(ns, a->topic, a->key, a->buf, a->len);
                else
                    ns_sessions_publish(ns, a->tenant, a->app, a->dev);
                *pp = a->next;
                after_free(a);
            } else {
                pp = &a->next;
            }
        }
    }
    if (ns->stopping && ns->dirty_head != NULL && ok)
        flush_start(ns);
}

/* Bus messages handed to librdkafka so far, and those whose delivery is settled. */
static void bus_counts(ns_t *ns, uint64_t *published, uint64_t *settled)
{
    lw_bus_stats_t st;
    lw_bus_stats(ns->bus, &st);
    *published = st.published;
    *settled = st.delivered + st.failed;
}

/* A batch is written only once every message published before it was cut is delivered:
 * state that says "processed" never reaches PostgreSQL before the results it produced
 * reached the bus, so a crash replays instead of losing a result. (The count is the
 * process's; waiting for all of them is the simple, safe side.) */
static void flush_write_when_delivered(ns_t *ns)
{
    if (ns->cut == NULL)
        return;
    uint64_t pub, settled;
    bus_counts(ns, &pub, &settled);
    if (settled < ns->cut_published)
        return;
    ns_batch_t *b = ns->cut;
    ns->cut = NULL;
    ns_store_write(b);
}

static void flush_start(ns_t *ns)
{
    if (ns->flushing)
        return;
    ns->flushing = true;
    ns->gen++; /* effects from now on belong to the next batch */
    uint64_t settled;
    bus_counts(ns, &ns->cut_published, &settled);
    ns->cut = ns_store_cut(ns, flushed);
    flush_write_when_delivered(ns);
}

void ns_worker_flush(ns_t *ns)
{
    flush_start(ns);
}

static void flush_tick(uv_timer_t *t)
{
    ns_t *ns = t->data;
    ns_matcher_commit(ns->matcher);
    if (!ns->flushing)
        flush_start(ns);
    else
        flush_write_when_delivered(ns);
}

static void win_tick(uv_timer_t *t)
{
    ns_uplink_windows_run(t->data);
}

/* Partitions moving away: what their devices changed is encoded into a batch now (if no
 * batch is in flight, else into the next), then the devices are forgotten; their
 * uncommitted messages are the next owner's to replay. Once the NS has stopped (the bus
 * revokes everything as it closes, after the last batch), no batch is started: nothing
 * would write it, and what changed since is replayed by the next owner. */
static void on_revoke(void *arg, lw_bus_consumer_t *c, const lw_bus_partition_t *parts, size_t n)
{
    (void)c;
    ns_t *ns = arg;
    if (!ns->flushing && !ns->stopped)
        flush_start(ns);
    lw_bus_commitq_revoke(&ns->wq, parts, n);
    for (size_t i = 0; i < ns->devs_cap; i++) {
        ns_dev_t *d = ns->devs[i];
        while (d != NULL) {
            ns_dev_t *next = d->hnext;
            bool moved = false;
            for (size_t k = 0; k < n; k++)
                if (parts[k].partition == d->partition)
                    moved = true;
            if (moved && !d->dirty && !d->busy)
                dev_forget(ns, d, false);
            d = next;
        }
    }
    lw_bus_commitq_flush(&ns->wq, ns->durable);
}

int ns_worker_start(ns_t *ns, lw_err_t *err)
{
    lw_bus_topic(ns->bus, "ns.dev", ns->t_dev, sizeof ns->t_dev);
    lw_bus_topic(ns->bus, "as.down", ns->t_down, sizeof ns->t_down);
    ns->devs_cap = 4096;
    ns->devs = lw_calloc(ns->devs_cap, sizeof *ns->devs);
    ns->gen = 1;
    ns->durable = 0;
    uv_timer_init(ns->loop, &ns->win_timer);
    ns->win_timer.data = ns;
    uv_timer_init(ns->loop, &ns->flush_timer);
    ns->flush_timer.data = ns;
    uv_timer_start(&ns->flush_timer, flush_tick, ns->flush_ms, ns->flush_ms);
    static const char *const topics[] = {"ns.dev", "as.down", "gs.txack"};
    static const lw_bus_handler_t h = {.on_message = on_message, .on_revoke = on_revoke};
    ns->worker_c = lw_bus_subscribe(ns->bus, "ns-device", topics, 3, &h, ns, err);
    if (ns->worker_c == NULL)
        return -1;
    ns->wq.consumer = ns->worker_c;
    return 0;
}

void ns_uplink_windows_timer(ns_t *ns, uint64_t delay_ms)
{
    uv_timer_start(&ns->win_timer, win_tick, delay_ms, 0);
}

void ns_worker_stop(ns_t *ns)
{
    /* Open windows are closed now (their uplinks processed), then a last batch. */
    while (ns->win_head != NULL)
        ns_uplink_window_close(ns, ns->win_head);
    uv_timer_stop(&ns->win_timer);
    flush_start(ns);
    /* The flush timer keeps running: it writes the last batch once its results are
     * delivered (component.c waits for it). */
}

void ns_worker_free(ns_t *ns)
{
    if (ns->devs != NULL)
        for (size_t i = 0; i < ns->devs_cap; i++) {
            ns_dev_t *d = ns->devs[i];
            while (d != NULL) {
                ns_dev_t *next = d->hnext;
                dev_forget(ns, d, false);
                d = next;
            }
        }
    free(ns->devs);
    ns->devs = NULL;
    ns_settings_pool_free(ns);
    lw_bus_commitq_free(&ns->wq);
    while (after_head != NULL) {
        after_t *a = after_head;
        after_head = a->next;
        after_free(a);
    }
}
