/* The matcher (DESIGN.md §3): lw.gs.up → lw.ns.dev.
 *
 * A data uplink carries only a DevAddr, which several devices may share (in one tenant or
 * in several). The index maps every DevAddr to its candidate sessions, active and pending,
 * of every tenant, each with its integrity key expanded once (lorawan_key_t) and its last
 * frame counter. The device is the candidate whose MIC matches; the full 32-bit counter is
 * the one the MIC matched with. LoRaWAN 1.1: the MIC's FNwkSIntKey half (cmacF, which
 * covers neither ConfFCnt nor TxDr/TxCh) identifies the device; the device worker checks
 * the whole MIC.
 *
 * The index is loaded from every tenant schema at start and kept current by lw.ns.sessions
 * (a broadcast: every process's matcher hears every change, each then reads the device's
 * row again). Join-requests are resolved by their EUIs (tenant/euis.h).
 *
 * Copies: the gateways that heard one frame send their copies within milliseconds, so they
 * usually arrive in one batch. The copies of one frame for one device matched in one turn
 * of the loop are published as ONE lw.ns.dev message carrying every copy's rx_metadata (its
 * envelope id the first copy's, the others' ids in copy_ids), at the end of the turn (a
 * uv_check handle): one bus message per uplink instead of one per copy, and no added wait.
 * Copies that arrive later are published on their own and merged by the device worker. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cluster/log.h"
#include "cluster/mem.h"
#include "ns.pb-c.h"
#include "ns/ns_private.h"
#include "tenant/euis.h"
#include "tenant/tenant.h"

typedef struct idev idev_t;

#define MERGE_COPIES_MAX 16u   /* copies of a frame merged into one lw.ns.dev message */
#define MERGE_BUCKETS    1024u /* hash buckets of one turn's merges */
#define MERGE_RX_MAX     32u   /* gateway metadata in one lw.ns.dev message */

typedef struct cand {
    struct cand *next; /* same DevAddr bucket */
    idev_t *owner;
    uint32_t dev_addr;
    bool pending, v11, supports_32, resets_f_cnt;
    bool has_f_cnt;
    uint32_t last_f_cnt;
    uint8_t key_id[NS_KEY_ID_MAX];
    uint8_t key_id_len;
    int32_t kslot; /* its expanded key in the context cache, -1: none (see key_ctx) */
    uint8_t f_key_raw[LORAWAN_KEY_LEN];
} cand_t;

/* The expanded integrity keys (an OpenSSL context each, about 720 bytes) of the candidates
 * that were matched most recently, at most ns.matcher.key-contexts of them: the active
 * devices keep theirs, a quiet one costs its 16 raw bytes, and its key is expanded again
 * (about half a microsecond) when it speaks. A least-recently-used list. */
typedef struct kslot {
    lorawan_key_t key;
    cand_t *owner; /* NULL: free */
    int32_t prev, next;
} kslot_t;

/* A device of the index: its key "<tenant>/<application>/<device>" only (split when a
 * frame matches it), so that a device costs its identifiers' length once. */
struct idev {
    idev_t *hnext;
    cand_t *c[2]; /* active, pending */
    char key[];
};

/* The three parts of d's key (checked when d was made). */
typedef struct idev_ids {
    char tenant[TN_ID_MAX + 1], app[TN_ID_MAX + 1], dev[TN_ID_MAX + 1];
} idev_ids_t;

static void idev_split(const idev_t *d, idev_ids_t *ids)
{
    if (ns_dev_key_split(d->key, strlen(d->key), ids->tenant, ids->app, ids->dev) != 0)
        ids->tenant[0] = ids->app[0] = ids->dev[0] = '\0';
}

/* The copies of one frame for one device in this turn of the loop (see the top). Identity
 * and session are copied: an lw.ns.sessions change in the same turn may free the index
 * entry. */
typedef struct merge {
    int next; /* bucket chain, -1: end */
    uint64_t hash;
    char tenant[TN_ID_MAX + 1], app[TN_ID_MAX + 1], dev[TN_ID_MAX + 1];
    uint32_t dev_addr, f_cnt;
    bool pending;
    uint8_t key_id[NS_KEY_ID_MAX];
    uint8_t key_id_len;
    Lw__Msg__GsUp *ups[MERGE_COPIES_MAX]; /* owned */
    ns_entry_t *entries[MERGE_COPIES_MAX];
    size_t n;
} merge_t;

struct ns_matcher {
    ns_t *ns;
    kslot_t *ks;
    size_t ks_len, ks_max;             /* slots made, at most */
    int32_t ks_head, ks_tail, ks_free; /* most recent, least recent, free list (by next) */
    merge_t *merges;
    size_t nmerges, merges_cap;
    int buckets[MERGE_BUCKETS];
    uv_check_t merge_check;
    bool merge_check_init;
    cand_t **addr; /* buckets by DevAddr */
    size_t addr_cap, ncands;
    idev_t **devs; /* by key */
    size_t devs_cap, ndevs;
    lw_bus_consumer_t *up_c;
    lw_bus_commitq_t q;
    int loading; /* tenant loads in flight */
    bool load_started, loaded;
    /* Devices whose change was heard before the index was complete: read again after. */
    struct pend **pend;
    size_t pend_cap, npend;
};

static size_t hash_str(const char *s)
{
    size_t h = 1469598103934665603ull;
    while (*s != '\0')
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static size_t hash_addr(uint32_t a)
{
    uint64_t h = (uint64_t)a * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 17);
}

/* ---- the index ---------------------------------------------------------------------------- */

static void addr_grow(ns_matcher_t *m)
{
    size_t cap = m->addr_cap * 2;
    cand_t **b = lw_calloc(cap, sizeof *b);
    for (size_t i = 0; i < m->addr_cap; i++) {
        cand_t *c = m->addr[i];
        while (c != NULL) {
            cand_t *next = c->next;
            size_t j = hash_addr(c->dev_addr) & (cap - 1);
            c->next = b[j];
            b[j] = c;
            c = next;
        }
    }
    free(m->addr);
    m->addr = b;
    m->addr_cap = cap;
}

static void ks_unlink(ns_matcher_t *m, int32_t i)
{
    kslot_t *s = &m->ks[i];
    if (s->prev >= 0)
        m->ks[s->prev].next = s->next;
    else
        m->ks_head = s->next;
    if (s->next >= 0)
        m->ks[s->next].prev = s->prev;
    else
        m->ks_tail = s->prev;
    s->prev = s->next = -1;
}

static void ks_front(ns_matcher_t *m, int32_t i)
{
    kslot_t *s = &m->ks[i];
    s->prev = -1;
    s->next = m->ks_head;
    if (m->ks_head >= 0)
        m->ks[m->ks_head].prev = i;
    m->ks_head = i;
    if (m->ks_tail < 0)
        m->ks_tail = i;
}

/* Gives c's slot back (c forgotten, or its key evicted). */
static void ks_release(ns_matcher_t *m, cand_t *c)
{
    if (c->kslot < 0)
        return;
    int32_t i = c->kslot;
    ks_unlink(m, i);
    lorawan_key_destroy(&m->ks[i].key);
    m->ks[i].owner = NULL;
    m->ks[i].next = m->ks_free;
    m->ks_free = i;
    c->kslot = -1;
}

/* c's expanded integrity key, from the cache or expanded now (evicting the least recently
 * used when the cache is full). NULL when OpenSSL cannot expand it. */
static const lorawan_key_t *key_ctx(ns_matcher_t *m, cand_t *c)
{
    if (c->kslot >= 0) {
        if (m->ks_head != c->kslot) {
            ks_unlink(m, c->kslot);
            ks_front(m, c->kslot);
        }
        return &m->ks[c->kslot].key;
    }
    int32_t i;
    if (m->ks_free >= 0) {
        i = m->ks_free;
        m->ks_free = m->ks[i].next;
    } else if (m->ks_len < m->ks_max) {
        if (m->ks_len % 1024 == 0)
            m->ks = lw_realloc(m->ks, (m->ks_len + 1024) * sizeof *m->ks);
        i = (int32_t)m->ks_len++;
    } else {
        i = m->ks_tail;
        ks_release(m, m->ks[i].owner);
        m->ks_free = m->ks[i].next;
    }
    kslot_t *s = &m->ks[i];
    if (lorawan_key_init(&s->key, c->f_key_raw) != 0) {
        s->owner = NULL;
        s->next = m->ks_free;
        m->ks_free = i;
        return NULL;
    }
    s->owner = c;
    c->kslot = i;
    ks_front(m, i);
    return &s->key;
}

static void cand_free(ns_matcher_t *m, cand_t *c)
{
    ks_release(m, c);
    OPENSSL_cleanse(c->f_key_raw, sizeof c->f_key_raw);
    free(c);
}

static void cand_unlink(ns_matcher_t *m, cand_t *c)
{
    cand_t **pp = &m->addr[hash_addr(c->dev_addr) & (m->addr_cap - 1)];
    while (*pp != NULL && *pp != c)
        pp = &(*pp)->next;
    if (*pp == c)
        *pp = c->next;
    cand_free(m, c);
    m->ncands--;
}

static idev_t *idev_find(ns_matcher_t *m, const char *key, bool create)
{
    size_t i = hash_str(key) & (m->devs_cap - 1);
    for (idev_t *d = m->devs[i]; d != NULL; d = d->hnext)
        if (strcmp(d->key, key) == 0)
            return d;
    if (!create)
        return NULL;
    size_t len = strlen(key);
    char tenant[TN_ID_MAX + 1], app[TN_ID_MAX + 1], dev[TN_ID_MAX + 1];
    if (len > NS_DEV_KEY_MAX || ns_dev_key_split(key, len, tenant, app, dev) != 0)
        return NULL;
    idev_t *d = lw_calloc(1, sizeof *d + len + 1);
    memcpy(d->key, key, len + 1);
    d->hnext = m->devs[i];
    m->devs[i] = d;
    m->ndevs++;
    if (m->ndevs > m->devs_cap) {
        size_t cap = m->devs_cap * 2;
        idev_t **b = lw_calloc(cap, sizeof *b);
        for (size_t k = 0; k < m->devs_cap; k++) {
            idev_t *e = m->devs[k];
            while (e != NULL) {
                idev_t *next = e->hnext;
                size_t j = hash_str(e->key) & (cap - 1);
                e->hnext = b[j];
                b[j] = e;
                e = next;
            }
        }
        free(m->devs);
        m->devs = b;
        m->devs_cap = cap;
    }
    return d;
}

static void idev_remove(ns_matcher_t *m, idev_t *d)
{
    for (int k = 0; k < 2; k++)
        if (d->c[k] != NULL)
            cand_unlink(m, d->c[k]);
    idev_t **pp = &m->devs[hash_str(d->key) & (m->devs_cap - 1)];
    while (*pp != NULL && *pp != d)
        pp = &(*pp)->hnext;
    if (*pp == d)
        *pp = d->hnext;
    free(d);
    m->ndevs--;
}

static cand_t *cand_new(ns_matcher_t *m, idev_t *d, const ns_settings_t *set, const ns_session_t *s,
                        bool pending)
{
    cand_t *c = lw_calloc(1, sizeof *c);
    c->kslot = -1;
    memcpy(c->f_key_raw, s->f_nwk_s_int_key, LORAWAN_KEY_LEN);
    unsigned minor = 0;
    ns_version_parse(set->lorawan_version, &minor, NULL);
    c->owner = d;
    c->dev_addr = s->dev_addr;
    c->pending = pending;
    c->v11 = minor >= 1;
    c->supports_32 = set->has_supports_32 ? set->supports_32 : true;
    c->resets_f_cnt = set->has_resets_f_cnt && set->resets_f_cnt;
    c->has_f_cnt = s->has_f_cnt_up;
    c->last_f_cnt = s->last_f_cnt_up;
    memcpy(c->key_id, s->key_id, s->key_id_len);
    c->key_id_len = s->key_id_len;
    size_t j = hash_addr(c->dev_addr) & (m->addr_cap - 1);
    c->next = m->addr[j];
    m->addr[j] = c;
    if (++m->ncands > m->addr_cap)
        addr_grow(m);
    return c;
}

static bool same_session(const cand_t *c, const ns_session_t *s)
{
    return c->dev_addr == s->dev_addr && c->key_id_len == s->key_id_len &&
           memcmp(c->key_id, s->key_id, s->key_id_len) == 0;
}

/* Replaces the device's candidates with the row's sessions. The counter the matcher saw is
 * kept when the row is behind it (the worker writes behind the hot path). */
static void index_apply(ns_matcher_t *m, const char *key, const ns_row_t *row)
{
    idev_t *d = idev_find(m, key, row != NULL && row->found);
    if (d == NULL)
        return;
    const ns_session_t *ss[2] = {NULL, NULL};
    if (row != NULL && row->found) {
        if (row->st.session.valid)
            ss[0] = &row->st.session;
        if (ns_state_pending(&row->st)->valid)
            ss[1] = row->st.pending;
    }
    for (int k = 0; k < 2; k++) {
        cand_t *old = d->c[k];
        bool keep_f = false;
        uint32_t f = 0;
        if (old != NULL && ss[k] != NULL && same_session(old, ss[k]) && old->has_f_cnt &&
            (!ss[k]->has_f_cnt_up || old->last_f_cnt > ss[k]->last_f_cnt_up)) {
            keep_f = true;
            f = old->last_f_cnt;
        }
        if (old != NULL) {
            cand_unlink(m, old);
            d->c[k] = NULL;
        }
        if (ss[k] != NULL) {
            d->c[k] = cand_new(m, d, &row->set, ss[k], k == 1);
            if (d->c[k] != NULL && keep_f) {
                d->c[k]->has_f_cnt = true;
                d->c[k]->last_f_cnt = f;
            }
        }
    }
    if (d->c[0] == NULL && d->c[1] == NULL)
        idev_remove(m, d);
}

bool ns_matcher_addr_used(const ns_matcher_t *m, uint32_t dev_addr)
{
    for (cand_t *c = m->addr[hash_addr(dev_addr) & (m->addr_cap - 1)]; c != NULL; c = c->next)
        if (c->dev_addr == dev_addr)
            return true;
    return false;
}

/* ---- loading -----------------------------------------------------------------------------------
 */

typedef struct reload {
    ns_matcher_t *m;
    char key[NS_DEV_KEY_MAX + 1];
} reload_t;

static void reloaded(void *arg, ns_row_t *row, const lw_err_t *err)
{
    reload_t *r = arg;
    if (err != NULL)
        lw_log(LW_LOG_WARN, "ns", "session index: device not reloaded", "device", r->key, "error",
               err->message, NULL);
    else
        index_apply(r->m, r->key, row);
    lw_log(LW_LOG_DEBUG, "ns", "session index: device reloaded", "device", r->key, "found",
           row != NULL && row->found ? "yes" : "no", "session",
           row != NULL && row->st.session.valid ? "yes" : "no", NULL);
    if (row != NULL) {
        ns_settings_destroy(&row->set);
        ns_state_destroy(&row->st);
    }
    free(r);
}

static void reload_device(ns_matcher_t *m, const char *tenant, const char *app, const char *dev)
{
    reload_t *r = lw_calloc(1, sizeof *r);
    r->m = m;
    snprintf(r->key, sizeof r->key, "%s/%s/%s", tenant, app, dev);
    if (ns_store_load(m->ns, tenant, app, dev, reloaded, r) != 0)
        free(r);
}

static void up_subscribe(ns_matcher_t *m);

typedef struct pend {
    struct pend *next;
    char tenant[TN_ID_MAX + 1], app[TN_ID_MAX + 1], dev[TN_ID_MAX + 1];
} pend_t;

static void pend_add(ns_matcher_t *m, const char *tenant, const char *app, const char *dev)
{
    char key[NS_DEV_KEY_MAX + 1];
    snprintf(key, sizeof key, "%s/%s/%s", tenant, app, dev);
    if (m->pend == NULL) {
        m->pend_cap = 1024;
        m->pend = lw_calloc(m->pend_cap, sizeof *m->pend);
    }
    size_t i = hash_str(key) & (m->pend_cap - 1);
    for (pend_t *p = m->pend[i]; p != NULL; p = p->next)
        if (strcmp(p->tenant, tenant) == 0 && strcmp(p->app, app) == 0 && strcmp(p->dev, dev) == 0)
            return;
    pend_t *p = lw_calloc(1, sizeof *p);
    snprintf(p->tenant, sizeof p->tenant, "%s", tenant);
    snprintf(p->app, sizeof p->app, "%s", app);
    snprintf(p->dev, sizeof p->dev, "%s", dev);
    p->next = m->pend[i];
    m->pend[i] = p;
    m->npend++;
}

static void reload_device(ns_matcher_t *m, const char *tenant, const char *app, const char *dev);

/* The index is complete: the changes heard meanwhile are read again, and uplinks can be
 * matched from now on. */
static void index_loaded(ns_matcher_t *m)
{
    if (m->loaded)
        return;
    m->loaded = true;
    for (size_t i = 0; i < m->pend_cap; i++) {
        pend_t *p = m->pend[i];
        while (p != NULL) {
            pend_t *next = p->next;
            reload_device(m, p->tenant, p->app, p->dev);
            free(p);
            p = next;
        }
    }
    free(m->pend);
    m->pend = NULL;
    m->pend_cap = m->npend = 0;
    char n[24];
    snprintf(n, sizeof n, "%zu", m->ncands);
    lw_log(LW_LOG_INFO, "ns", "session index loaded", "sessions", n, NULL);
    up_subscribe(m);
}

typedef struct tload {
    ns_matcher_t *m;
    char tenant[TN_ID_MAX + 1];
} tload_t;

static void tenant_loaded(void *arg, const PGresult *res, const lw_err_t *err)
{
    tload_t *t = arg;
    ns_matcher_t *m = t->m;
    if (err != NULL) {
        lw_log(LW_LOG_WARN, "ns", "session index: tenant not loaded", "tenant", t->tenant, "error",
               err->message, NULL);
    } else {
        for (int i = 0; i < PQntuples(res); i++) {
            ns_row_t row;
            memset(&row, 0, sizeof row);
            size_t sl = 0, tl = 0;
            uint8_t *s = ns_bytea_parse(PQgetvalue(res, i, 2), &sl);
            uint8_t *st = ns_bytea_parse(PQgetvalue(res, i, 3), &tl);
            char key[NS_DEV_KEY_MAX + 1];
            snprintf(key, sizeof key, "%s/%s/%s", t->tenant, PQgetvalue(res, i, 0),
                     PQgetvalue(res, i, 1));
            if (s != NULL && st != NULL && ns_settings_decode(s, sl, &row.set) == 0) {
                if (ns_state_decode(st, tl, ns_kek_find, m->ns, &row.st) == 0) {
                    row.found = true;
                    /* A change heard while loading is newer: it wins. */
                    if (idev_find(m, key, false) == NULL)
                        index_apply(m, key, &row);
                    ns_state_destroy(&row.st);
                } else {
                    lw_log(LW_LOG_WARN, "ns", "session index: device state unreadable", "device",
                           key, NULL);
                }
                ns_settings_destroy(&row.set);
            }
            free(s);
            free(st);
        }
    }
    free(t);
    if (--m->loading == 0)
        index_loaded(m);
}

static void tenants_listed(void *arg, const PGresult *res, const lw_err_t *err)
{
    ns_matcher_t *m = arg;
    if (err != NULL) {
        lw_log(LW_LOG_ERROR, "ns", "session index: tenants not listed", "error", err->message,
               NULL);
        m->loading = 0;
        index_loaded(m);
        return;
    }
    m->loading = 1; /* held until every query is issued */
    for (int i = 0; i < PQntuples(res); i++) {
        tload_t *t = lw_calloc(1, sizeof *t);
        t->m = m;
        snprintf(t->tenant, sizeof t->tenant, "%s", PQgetvalue(res, i, 0));
        char schema[TN_SCHEMA_MAX + 1], q[TN_SCHEMA_MAX + 8], sql[300];
        tn_schema_name(t->tenant, schema);
        lw_db_quote_ident(schema, q, sizeof q);
        snprintf(sql, sizeof sql,
                 "SELECT application_id, device_id, settings, state FROM %s.ns_devices WHERE "
                 "dev_addr IS NOT NULL OR pending_dev_addr IS NOT NULL",
                 q);
        m->loading++;
        if (lw_db_query(m->ns->db, sql, 0, NULL, tenant_loaded, t) != 0) {
            m->loading--;
            free(t);
        }
    }
    if (--m->loading == 0)
        index_loaded(m);
}

/* ---- lw.ns.sessions ------------------------------------------------------------------------- */

void ns_sessions_publish(ns_t *ns, const char *tenant, const char *app, const char *dev)
{
    uint8_t buf[256];
    size_t n = 0;
    if (ns_session_change_encode(tenant, app, dev, buf, sizeof buf, &n) == 0)
        ns_publish(ns, "ns.sessions", tenant, buf, n);
}

static void on_session_change(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *msg)
{
    (void)c;
    ns_matcher_t *m = arg;
    Lw__Ns__NsSessionChange *ch =
        lw__ns__ns_session_change__unpack(NULL, msg->value_len, msg->value);
    if (ch == NULL) {
        ns_count_drop(m->ns, "malformed_session_change");
        return;
    }
    lw_err_t e;
    if (ch->tenant_id != NULL && ch->application_id != NULL && ch->device_id != NULL &&
        tn_id_validate(ch->tenant_id, 3, "tenant_id", &e) == 0 &&
        tn_id_validate(ch->application_id, 2, "application_id", &e) == 0 &&
        tn_id_validate(ch->device_id, 2, "device_id", &e) == 0) {
        if (m->loaded)
            reload_device(m, ch->tenant_id, ch->application_id, ch->device_id);
        else
            pend_add(m, ch->tenant_id, ch->application_id, ch->device_id);
    }
    lw__ns__ns_session_change__free_unpacked(ch, NULL);
}

/* ---- lw.gs.up ------------------------------------------------------------------------------- */

static bool tenant_active(ns_matcher_t *m, const char *tenant)
{
    tn_tenant_t t;
    return tn_get(m->ns->tn, tenant, &t) && tn_state_active(t.state);
}

static void publish_dev_n(ns_matcher_t *m, Lw__Msg__GsUp *const *ups, size_t n, const char *tenant,
                          const char *app, const char *dev, Lw__Msg__EndDeviceIdentifiers *ids,
                          bool matched, uint32_t f_cnt, const uint8_t *key_id, size_t key_id_len,
                          bool pending)
{
    const Lw__Msg__GsUp *up = ups[0];
    Lw__Msg__NsDev d = LW__MSG__NS_DEV__INIT;
    Lw__Msg__Envelope env = LW__MSG__ENVELOPE__INIT;
    env.id = up->envelope->id;
    env.tenant_id = (char *)tenant;
    env.correlation_ids = up->envelope->correlation_ids;
    env.n_correlation_ids = up->envelope->n_correlation_ids;
    env.schema_version = LW_MSG_SCHEMA_VERSION;
    d.envelope = &env;
    d.end_device_ids = ids;
    if (matched) {
        d.f_cnt = f_cnt;
        d.session_key_id.data = (uint8_t *)key_id;
        d.session_key_id.len = key_id_len;
        d.pending_session = pending;
    }
    /* Each lw.gs.up message may itself carry several copies (the GS merges too). */
    Lw__Msg__RxMetadata *rx[MERGE_RX_MAX];
    ProtobufCBinaryData cids[MERGE_COPIES_MAX];
    for (size_t i = 0; i < n && i < MERGE_COPIES_MAX; i++) {
        if (ups[i]->rx_metadata != NULL && d.n_rx_metadata < MERGE_RX_MAX)
            rx[d.n_rx_metadata++] = ups[i]->rx_metadata;
        for (size_t k = 0; k < ups[i]->n_more_rx_metadata && d.n_rx_metadata < MERGE_RX_MAX; k++)
            rx[d.n_rx_metadata++] = ups[i]->more_rx_metadata[k];
        if (i > 0)
            cids[d.n_copy_ids++] = ups[i]->envelope->id;
    }
    d.rx_metadata = d.n_rx_metadata > 0 ? rx : NULL;
    d.copy_ids = d.n_copy_ids > 0 ? cids : NULL;
    d.settings = up->settings;
    d.raw_payload = up->raw_payload;
    d.received_at = up->received_at;
    uint8_t buf[4096];
    size_t len = 0;
    int rc = lw_msg_ns_dev_encode(&d, buf, sizeof buf, &len);
    if (rc != 0) {
        ns_count_drop(m->ns, "encode");
        return;
    }
    char key[NS_DEV_KEY_MAX + 1];
    snprintf(key, sizeof key, "%s/%s/%s", tenant, app, dev);
    ns_publish(m->ns, "ns.dev", key, buf, len);
}

static void publish_dev(ns_matcher_t *m, Lw__Msg__GsUp *up, const char *tenant, const char *app,
                        const char *dev, Lw__Msg__EndDeviceIdentifiers *ids)
{
    publish_dev_n(m, &up, 1, tenant, app, dev, ids, false, 0, NULL, 0, false);
}

static uint64_t published_now(const ns_matcher_t *m);

/* Publishes this turn's merges, then lets their offsets be committed. */
static void merge_flush(ns_matcher_t *m)
{
    for (size_t i = 0; i < m->nmerges; i++) {
        merge_t *g = &m->merges[i];
        m->buckets[g->hash & (MERGE_BUCKETS - 1)] = -1;
        Lw__Msg__EndDeviceIdentifiers ids = LW__MSG__END_DEVICE_IDENTIFIERS__INIT;
        Lw__Msg__ApplicationIdentifiers app = LW__MSG__APPLICATION_IDENTIFIERS__INIT;
        app.application_id = g->app;
        ids.device_id = g->dev;
        ids.application_ids = &app;
        ids.dev_addr = g->dev_addr;
        publish_dev_n(m, g->ups, g->n, g->tenant, g->app, g->dev, &ids, true, g->f_cnt, g->key_id,
                      g->key_id_len, g->pending);
        uint64_t gen = published_now(m);
        for (size_t k = 0; k < g->n; k++) {
            lw_msg_gs_up_free(g->ups[k]);
            lw_bus_commitq_done(g->entries[k], gen);
        }
    }
    m->nmerges = 0;
    if (m->merge_check_init)
        uv_check_stop(&m->merge_check);
}

static void merge_check_cb(uv_check_t *h)
{
    merge_flush(h->data);
}

/* Holds the matched copy `up` (taken) until the end of the turn, with the other copies of
 * the same frame for the same device. */
static void merge_add(ns_matcher_t *m, Lw__Msg__GsUp *up, ns_entry_t *e, const idev_t *d,
                      const idev_ids_t *ids, const cand_t *c, uint32_t f_cnt)
{
    uint64_t h = ns_hash64(up->raw_payload.data, up->raw_payload.len) ^
                 ns_hash64((const uint8_t *)d->key, strlen(d->key));
    int *b = &m->buckets[h & (MERGE_BUCKETS - 1)];
    for (int i = *b; i >= 0; i = m->merges[i].next) {
        merge_t *g = &m->merges[i];
        if (g->hash != h || g->n >= MERGE_COPIES_MAX || strcmp(g->dev, ids->dev) != 0 ||
            strcmp(g->app, ids->app) != 0 || strcmp(g->tenant, ids->tenant) != 0 ||
            g->ups[0]->raw_payload.len != up->raw_payload.len ||
            memcmp(g->ups[0]->raw_payload.data, up->raw_payload.data, up->raw_payload.len) != 0)
            continue;
        g->ups[g->n] = up;
        g->entries[g->n++] = e;
        return;
    }
    if (m->nmerges == m->merges_cap) {
        m->merges_cap = m->merges_cap == 0 ? 256 : 2 * m->merges_cap;
        m->merges = lw_realloc(m->merges, m->merges_cap * sizeof *m->merges);
    }
    merge_t *g = &m->merges[m->nmerges];
    g->next = *b;
    *b = (int)m->nmerges++;
    g->hash = h;
    memcpy(g->tenant, ids->tenant, sizeof g->tenant);
    memcpy(g->app, ids->app, sizeof g->app);
    memcpy(g->dev, ids->dev, sizeof g->dev);
    g->dev_addr = c->dev_addr;
    g->f_cnt = f_cnt;
    g->pending = c->pending;
    memcpy(g->key_id, c->key_id, c->key_id_len);
    g->key_id_len = c->key_id_len;
    g->ups[0] = up;
    g->entries[0] = e;
    g->n = 1;
    if (m->nmerges == 1 && m->merge_check_init)
        uv_check_start(&m->merge_check, merge_check_cb);
}

/* The "generation" of a matcher entry: the bus's published count once its lw.ns.dev copy is
 * queued; its offset may be committed when at least that many are delivered. */
static uint64_t published_now(const ns_matcher_t *m)
{
    lw_bus_stats_t st;
    lw_bus_stats(m->ns->bus, &st);
    return st.published;
}

void ns_matcher_commit(ns_matcher_t *m)
{
    lw_bus_stats_t st;
    lw_bus_stats(m->ns->bus, &st);
    lw_bus_commitq_flush(&m->q, st.delivered + st.failed);
}

static const char *gw_tenant(const Lw__Msg__GsUp *up)
{
    if (up->rx_metadata != NULL && up->rx_metadata->gateway_ids != NULL &&
        up->rx_metadata->gateway_ids->tenant_id != NULL &&
        up->rx_metadata->gateway_ids->tenant_id[0] != '\0')
        return up->rx_metadata->gateway_ids->tenant_id;
    return up->envelope->tenant_id;
}

static void drop_event(ns_matcher_t *m, const Lw__Msg__GsUp *up, const char *name,
                       const char *reason, uint32_t dev_addr)
{
    char addr[9];
    snprintf(addr, sizeof addr, "%08" PRIx32, dev_addr);
    json_t *data = json_pack("{ss ss}", "reason", reason, "dev_addr", addr);
    ns_event(m->ns, gw_tenant(up), NULL, NULL, name, data, NULL);
}

/* Returns true when it took up and e (held for this turn's merge). */
static bool match_data(ns_matcher_t *m, Lw__Msg__GsUp *up, ns_entry_t *e, const lorawan_phy_t *phy)
{
    const uint8_t *raw = up->raw_payload.data;
    size_t len = up->raw_payload.len;
    uint32_t addr = phy->u.data.dev_addr;
    bool any = false, inactive = false;
    for (cand_t *c = m->addr[hash_addr(addr) & (m->addr_cap - 1)]; c != NULL; c = c->next) {
        if (c->dev_addr != addr)
            continue;
        any = true;
        uint32_t fs[3];
        size_t nf = ns_fcnt_candidates(c->has_f_cnt, c->last_f_cnt, phy->u.data.fcnt16,
                                       c->supports_32, c->resets_f_cnt, fs);
        const lorawan_key_t *fk = nf > 0 ? key_ctx(m, c) : NULL;
        if (fk == NULL)
            continue;
        for (size_t i = 0; i < nf; i++) {
            uint8_t mic[LORAWAN_MIC_LEN];
            bool ok;
            if (c->v11) {
                if (lorawan_mic_data_up_11(fk, fk, raw, len - LORAWAN_MIC_LEN, fs[i], 0, 0, 0,
                                           mic) != 0)
                    continue;
                ok = memcmp(mic + 2, raw + len - 2, 2) == 0;
            } else {
                if (lorawan_mic_data_up_10(fk, raw, len - LORAWAN_MIC_LEN, fs[i], mic) != 0)
                    continue;
                ok = lorawan_mic_check(mic, raw, len) == 0;
            }
            if (!ok)
                continue;
            idev_t *d = c->owner;
            idev_ids_t ids;
            idev_split(d, &ids);
            if (!tenant_active(m, ids.tenant)) {
                inactive = true;
                break;
            }
            ns_fcnt_verdict_t v =
                ns_fcnt_check(c->has_f_cnt, c->last_f_cnt, fs[i], c->supports_32, c->resets_f_cnt);
            if (v != NS_FCNT_REPLAY) {
                c->has_f_cnt = true;
                c->last_f_cnt = fs[i];
            }
            merge_add(m, up, e, d, &ids, c, fs[i]);
            ns_count(m->ns, m->ns->m_up, "matched");
            return true;
        }
        if (inactive)
            break;
    }
    if (inactive) {
        ns_count_drop(m->ns, "tenant_not_active");
        return false;
    }
    const char *reason = any ? "mic_mismatch" : "unknown_dev_addr";
    ns_count_drop(m->ns, reason);
    drop_event(m, up, "ns.up.data.drop", reason, addr);
    return false;
}

typedef struct join_lookup {
    ns_matcher_t *m;
    Lw__Msg__GsUp *up;
    ns_entry_t *e;
    uint64_t join_eui, dev_eui;
} join_lookup_t;

static void join_found(void *arg, const tn_device_ref_t *ref, const lw_err_t *err)
{
    join_lookup_t *j = arg;
    ns_matcher_t *m = j->m;
    if (err != NULL) {
        ns_count_drop(m->ns, "db_unavailable");
        lw_log(LW_LOG_WARN, "ns", "join-request dropped: EUI lookup failed", "error", err->message,
               NULL);
    } else if (ref == NULL) {
        ns_count_drop(m->ns, "unknown_dev_eui");
        char d[17], jn[17];
        snprintf(d, sizeof d, "%016" PRIx64, j->dev_eui);
        snprintf(jn, sizeof jn, "%016" PRIx64, j->join_eui);
        ns_event(m->ns, gw_tenant(j->up), NULL, NULL, "ns.up.join.drop",
                 json_pack("{ss ss ss}", "reason", "unknown_device", "dev_eui", d, "join_eui", jn),
                 NULL);
    } else if (!tenant_active(m, ref->tenant_id)) {
        ns_count_drop(m->ns, "tenant_not_active");
    } else {
        Lw__Msg__EndDeviceIdentifiers ids = LW__MSG__END_DEVICE_IDENTIFIERS__INIT;
        Lw__Msg__ApplicationIdentifiers app = LW__MSG__APPLICATION_IDENTIFIERS__INIT;
        app.application_id = (char *)ref->application_id;
        ids.device_id = (char *)ref->device_id;
        ids.application_ids = &app;
        ids.dev_eui = j->dev_eui;
        ids.join_eui = j->join_eui;
        publish_dev(m, j->up, ref->tenant_id, ref->application_id, ref->device_id, &ids);
        ns_count(m->ns, m->ns->m_up, "join_request");
    }
    lw_bus_commitq_done(j->e, published_now(m));
    lw_msg_gs_up_free(j->up);
    free(j);
    m->ns->inflight--;
}

static void on_gs_up(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *msg)
{
    (void)c;
    ns_matcher_t *m = arg;
    ns_entry_t *e = lw_bus_commitq_add(&m->q, msg);
    Lw__Msg__GsUp *up = NULL;
    lorawan_phy_t phy;
    if (lw_msg_gs_up_decode(msg->value, msg->value_len, &up) != 0) {
        ns_count_drop(m->ns, "malformed");
        goto done;
    }
    int rc = lorawan_phy_decode(up->raw_payload.data, up->raw_payload.len, &phy);
    if (rc != 0) {
        ns_count_drop(m->ns, "malformed_frame");
        goto done;
    }
    bool uplink = false;
    if (lorawan_mtype_is_data(phy.mtype, &uplink) && uplink) {
        if (match_data(m, up, e, &phy))
            return;
    } else if (phy.mtype == LORAWAN_MTYPE_JOIN_REQUEST) {
        join_lookup_t *j = lw_calloc(1, sizeof *j);
        j->m = m;
        j->up = up;
        j->e = e;
        j->join_eui = phy.u.join_request.join_eui;
        j->dev_eui = phy.u.join_request.dev_eui;
        if (tn_device_euis_lookup(m->ns->db, j->join_eui, j->dev_eui, join_found, j) == 0) {
            m->ns->inflight++;
            return;
        }
        free(j);
        ns_count_drop(m->ns, "db_unavailable");
    } else {
        ns_count_drop(m->ns, phy.mtype == LORAWAN_MTYPE_REJOIN_REQUEST ? "rejoin_not_supported"
                                                                       : "not_an_uplink");
    }
done:
    lw_msg_gs_up_free(up);
    lw_bus_commitq_done(e, published_now(m));
}

static void on_up_revoke(void *arg, lw_bus_consumer_t *c, const lw_bus_partition_t *parts, size_t n)
{
    (void)c;
    ns_matcher_t *m = arg;
    merge_flush(m); /* before the revoked partitions' entries go */
    ns_matcher_commit(m);
    lw_bus_commitq_revoke(&m->q, parts, n);
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

ns_matcher_t *ns_matcher_new(ns_t *ns)
{
    ns_matcher_t *m = lw_calloc(1, sizeof *m);
    m->ns = ns;
    m->ks_head = m->ks_tail = m->ks_free = -1;
    m->ks_max = ns->key_contexts > 0 ? ns->key_contexts : 65536;
    m->addr_cap = 1024;
    m->addr = lw_calloc(m->addr_cap, sizeof *m->addr);
    m->devs_cap = 1024;
    m->devs = lw_calloc(m->devs_cap, sizeof *m->devs);
    for (size_t i = 0; i < MERGE_BUCKETS; i++)
        m->buckets[i] = -1;
    return m;
}

static void up_subscribe(ns_matcher_t *m)
{
    static const char *const ups[] = {"gs.up"};
    static const lw_bus_handler_t uh = {.on_message = on_gs_up, .on_revoke = on_up_revoke};
    lw_err_t e;
    lw_err_clear(&e);
    m->up_c = lw_bus_subscribe(m->ns->bus, "ns-matcher", ups, 1, &uh, m, &e);
    if (m->up_c == NULL) {
        lw_log(LW_LOG_ERROR, "ns", "matcher not subscribed to lw.gs.up", "error", e.message, NULL);
        return;
    }
    m->q.consumer = m->up_c;
}

/* lw.ns.sessions is read from the beginning of what the broker keeps (a private group's
 * "latest" would skip what is published between the assignment and the first fetch). The
 * index is loaded from PostgreSQL once the topic is assigned; the changes heard until it is
 * complete are read again after (once per device), later ones at once. lw.gs.up is consumed
 * once the index is complete. */
static void on_sessions_assign(void *arg, lw_bus_consumer_t *c, const lw_bus_partition_t *parts,
                               size_t n)
{
    (void)c;
    (void)parts;
    (void)n;
    ns_matcher_t *m = arg;
    if (m->load_started)
        return;
    m->load_started = true;
    if (lw_db_query(m->ns->db,
                    "SELECT tenant_id FROM lw_control.tenants WHERE deleted_at IS NULL ORDER BY 1",
                    0, NULL, tenants_listed, m) != 0) {
        lw_log(LW_LOG_ERROR, "ns", "session index not loaded: pool stopped", NULL);
        m->load_started = false;
    }
}

int ns_matcher_start(ns_matcher_t *m, lw_err_t *err)
{
    ns_t *ns = m->ns;
    static const char *const sessions[] = {"ns.sessions"};
    static const lw_bus_handler_t sh = {.on_message = on_session_change,
                                        .on_assign = on_sessions_assign};
    uv_check_init(ns->loop, &m->merge_check);
    m->merge_check.data = m;
    m->merge_check_init = true;
    lw_bus_sub_opts_t o = {.from_beginning = true};
    ns->sessions_c = lw_bus_subscribe_opts(ns->bus, NULL, sessions, 1, &sh, m, &o, err);
    if (ns->sessions_c == NULL)
        return -1;
    return 0;
}

void ns_matcher_stop(ns_matcher_t *m)
{
    merge_flush(m);
    if (m->merge_check_init) {
        uv_close((uv_handle_t *)&m->merge_check, NULL);
        m->merge_check_init = false;
    }
}

void ns_matcher_free(ns_matcher_t *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->devs_cap; i++) {
        idev_t *d = m->devs[i];
        while (d != NULL) {
            idev_t *next = d->hnext;
            for (int k = 0; k < 2; k++)
                if (d->c[k] != NULL)
                    cand_free(m, d->c[k]);
            free(d);
            d = next;
        }
    }
    for (size_t i = 0; i < m->pend_cap; i++) {
        pend_t *p = m->pend[i];
        while (p != NULL) {
            pend_t *next = p->next;
            free(p);
            p = next;
        }
    }
    free(m->pend);
    for (size_t i = 0; i < m->nmerges; i++)
        for (size_t k = 0; k < m->merges[i].n; k++)
            lw_msg_gs_up_free(m->merges[i].ups[k]);
    free(m->merges);
    lw_bus_commitq_free(&m->q);
    free(m->devs);
    free(m->ks);
    free(m->addr);
    free(m);
}
