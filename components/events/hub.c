/* The hub (events_private.h): lw.events read as a broadcast, the recent history per
 * tenant, subscribers, their rights checks and rechecks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/log.h"
#include "cluster/mem.h"
#include "events/events_private.h"

static uint64_t hash_id(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static ev_tenant_t *tenant_find(ev_t *ev, const char *id, size_t n, bool create)
{
    if (n == 0 || n > TN_ID_MAX)
        return NULL;
    size_t b = hash_id(id, n) % EV_BUCKETS;
    for (ev_tenant_t *t = ev->buckets[b]; t != NULL; t = t->next)
        if (strlen(t->id) == n && memcmp(t->id, id, n) == 0)
            return t;
    if (!create)
        return NULL;
    ev_tenant_t *t = lw_calloc(1, sizeof *t);
    memcpy(t->id, id, n);
    t->ring = lw_calloc(ev->history_count ? ev->history_count : 1, sizeof *t->ring);
    t->next = ev->buckets[b];
    ev->buckets[b] = t;
    return t;
}

static void rec_free(ev_rec_t *r)
{
    if (r == NULL)
        return;
    free(r->meta);
    free(r);
}

/* The record's meta, parsed on first need; NULL when it is not an event. */
static const ev_meta_t *rec_meta(ev_rec_t *r)
{
    if (r->meta == NULL && !r->bad) {
        r->meta = lw_malloc(sizeof *r->meta);
        if (ev_meta_parse(r->text, r->len, r->meta) != 0) {
            free(r->meta);
            r->meta = NULL;
            r->bad = true;
        }
    }
    return r->meta;
}

/* Drops history older than the TTL. */
static void history_expire(ev_t *ev, ev_tenant_t *t, uint64_t now_ms)
{
    while (t->n > 0) {
        ev_rec_t *r = t->ring[t->head];
        if (ev->history_ttl_ms > 0 && now_ms - r->at_ms <= (uint64_t)ev->history_ttl_ms)
            break;
        rec_free(r);
        t->ring[t->head] = NULL;
        t->head = (t->head + 1) % ev->history_count;
        t->n--;
    }
}

/* ---- subscribers -------------------------------------------------------------------------- */

static void rights_free(char **r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(r[i]);
    free(r);
}

static void sub_unlink(ev_sub_t *s)
{
    ev_tenant_t *t = s->tenant;
    if (t == NULL)
        return;
    if (s->prev)
        s->prev->next = s->next;
    else
        t->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    s->tenant = NULL;
    t->nsubs--;
}

static void sub_unref(ev_sub_t *s)
{
    if (--s->refs > 0)
        return;
    if (s->tenant != NULL && s->tenant->dispatching > 0) {
        s->refs++; /* swept after the delivery loop */
        return;
    }
    sub_unlink(s);
    for (size_t i = 0; i < EV_MAX_IDS; i++) {
        rights_free(s->rights[i], s->n_rights[i]);
        rights_free(s->new_rights[i], s->n_new_rights[i]);
    }
    ev_filter_free(&s->filter);
    if (s->authorization != NULL) {
        memset(s->authorization, 0, strlen(s->authorization));
        free(s->authorization);
    }
    free(s);
}

/* After a delivery loop: what was closed meanwhile goes. */
static void tenant_sweep(ev_tenant_t *t)
{
    ev_sub_t *s = t->subs;
    while (s != NULL) {
        ev_sub_t *next = s->next;
        if (s->closed && s->refs == 1 && s->pending == 0) {
            s->refs = 1;
            sub_unref(s);
        }
        s = next;
    }
}

ev_sub_t *ev_sub_new(ev_t *ev, const tn_tenant_t *t, const char *authorization,
                     const ev_sub_ops_t *ops, void *owner, lw_err_t *err)
{
    ev_tenant_t *et = tenant_find(ev, t->id, strlen(t->id), true);
    if (et->nsubs >= ev->max_subs) {
        lw_err_set(err, &lw_err_too_many_subscriptions,
                   "more than %zu event subscriptions in tenant `%s`", ev->max_subs, t->id);
        lw_err_attr_num(err, "limit", (long long)ev->max_subs);
        lw_err_attr(err, "tenant_id", t->id);
        return NULL;
    }
    ev_sub_t *s = lw_calloc(1, sizeof *s);
    s->ev = ev;
    s->t = *t;
    s->authorization = authorization ? lw_strdup(authorization) : NULL;
    s->ops = ops;
    s->owner = owner;
    s->refs = 1;
    s->tenant = et;
    s->next = et->subs;
    if (et->subs)
        et->subs->prev = s;
    et->subs = s;
    et->nsubs++;
    return s;
}

void ev_sub_close(ev_sub_t *s)
{
    if (s->closed)
        return;
    s->closed = true;
    s->live = false;
    sub_unref(s);
}

static void check_all(ev_sub_t *s);

/* One identifier's answer. */
typedef struct sub_check {
    ev_sub_t *s;
    size_t index;
} sub_check_t;

static void checks_done(ev_sub_t *s)
{
    bool ok = s->fail_index < 0;
    if (ok)
        for (size_t i = 0; i < s->filter.n_ids; i++) {
            rights_free(s->rights[i], s->n_rights[i]);
            s->rights[i] = s->new_rights[i];
            s->n_rights[i] = s->n_new_rights[i];
            s->new_rights[i] = NULL;
            s->n_new_rights[i] = 0;
        }
    bool recheck = s->rechecking;
    s->rechecking = false;
    if (s->closed)
        return;
    if (!recheck) {
        s->ops->ready(s, ok ? NULL : &s->err);
        return;
    }
    if (!ok) {
        s->ops->revoked(s, &s->err);
        return;
    }
    if (s->recheck_again) {
        s->recheck_again = false;
        s->rechecking = true;
        check_all(s);
    }
}

static void on_checked(void *arg, const tn_rights_t *held, const lw_err_t *err)
{
    sub_check_t *c = arg;
    ev_sub_t *s = c->s;
    size_t i = c->index;
    free(c);
    if (held != NULL && held->n > 0) {
        s->new_rights[i] = lw_calloc(held->n, sizeof(char *));
        for (size_t k = 0; k < held->n; k++)
            s->new_rights[i][k] = lw_strdup(held->names[k]);
        s->n_new_rights[i] = held->n;
    } else if (s->fail_index < 0 || (int)i < s->fail_index) {
        /* TTS's RequireAny: no right at all on an identifier is the error. */
        s->fail_index = (int)i;
        if (err != NULL) {
            s->err = *err;
        } else {
            const ev_ids_t *ids = &s->filter.ids[i];
            static const lw_err_def_t *const defs[] = {
                &lw_err_no_application_rights, &lw_err_no_application_rights,
                &lw_err_no_gateway_rights,     &lw_err_no_organization_rights,
                &lw_err_no_user_rights,        &lw_err_no_client_rights,
            };
            char uid[2 * TN_ID_MAX + 2];
            snprintf(uid, sizeof uid, "%s@%s", ev_access_id(ids), s->t.id);
            lw_err_set(&s->err, defs[ids->type], "no rights for %s `%s`",
                       ev_access_type(ids) ? ev_access_type(ids) : "client", uid);
            lw_err_attr(&s->err, "uid", uid);
        }
    }
    s->pending--;
    if (s->pending == 0)
        checks_done(s);
    sub_unref(s);
}

static void check_all(ev_sub_t *s)
{
    s->fail_index = -1;
    lw_err_clear(&s->err);
    size_t n = s->filter.n_ids;
    s->pending = (int)n + 1; /* + 1 until every check is asked */
    for (size_t i = 0; i < n; i++) {
        const ev_ids_t *ids = &s->filter.ids[i];
        const char *type = ev_access_type(ids);
        sub_check_t *c = lw_malloc(sizeof *c);
        c->s = s;
        c->index = i;
        s->refs++;
        if (type == NULL || s->ev->access == NULL ||
            tn_access_check(s->ev->access, &s->t, s->authorization, type, ev_access_id(ids), NULL,
                            0, on_checked, c) != 0) {
            lw_err_t e;
            if (type == NULL) {
                on_checked(c, NULL, NULL); /* a client: no rights served here */
                continue;
            }
            lw_err_set(&e, &lw_err_unavailable, "access checks unavailable");
            on_checked(c, NULL, &e);
        }
    }
    /* The last reference: answers may all have come already (cached ones come later,
     * never from inside tn_access_check, so this is the common case only for clients). */
    s->pending--;
    if (s->pending == 0)
        checks_done(s);
}

void ev_sub_check(ev_sub_t *s)
{
    s->rechecking = false;
    check_all(s);
}

/* Rights again, after the access checker forgot (a revocation, a tenant change). */
static void sub_recheck(ev_sub_t *s)
{
    if (s->closed || !s->live)
        return;
    if (s->rechecking || s->pending > 0) {
        s->recheck_again = true;
        return;
    }
    s->rechecking = true;
    check_all(s);
}

static void on_forgotten(void *arg, const char *tenant_id)
{
    ev_t *ev = arg;
    for (size_t b = 0; b < EV_BUCKETS; b++)
        for (ev_tenant_t *t = ev->buckets[b]; t != NULL; t = t->next) {
            if (tenant_id != NULL && strcmp(t->id, tenant_id) != 0)
                continue;
            t->dispatching++;
            for (ev_sub_t *s = t->subs; s != NULL; s = s->next)
                sub_recheck(s);
            t->dispatching--;
            tenant_sweep(t);
        }
}

/* ---- delivery ----------------------------------------------------------------------------- */

/* Delivers r to s when it matches and is visible; returns -1 when s was dropped. */
static int sub_offer(ev_sub_t *s, ev_rec_t *r)
{
    const ev_meta_t *m = rec_meta(r);
    if (m == NULL || !ev_names_match(&s->filter, m->name))
        return 0;
    int i = ev_match_ids(&s->filter, m);
    if (i < 0 || !ev_visible(m, (const char *const *)s->rights[i], s->n_rights[i]))
        return 0;
    lw_metric_add(s->ev->m_delivered, (const char *const[]){NULL}, 1);
    return s->ops->deliver(s, r->text, r->len);
}

void ev_sub_start(ev_sub_t *s)
{
    ev_t *ev = s->ev;
    ev_tenant_t *t = s->tenant;
    if (t == NULL || s->closed)
        return;
    s->live = true;
    if (s->filter.tail == 0 && !s->filter.has_after)
        return;
    history_expire(ev, t, uv_now(ev->loop));
    /* Matching history, oldest first: after `after`, at most the last `tail` (the events of
     * several components may come slightly out of time order: each is looked at). */
    size_t n = t->n, count = 0;
    size_t *pick = lw_malloc((n ? n : 1) * sizeof *pick);
    for (size_t k = n; k-- > 0;) {
        ev_rec_t *r = t->ring[(t->head + k) % ev->history_count];
        const ev_meta_t *m = rec_meta(r);
        int i;
        if (m == NULL || (s->filter.has_after && m->time_ns <= s->filter.after_ns) ||
            !ev_names_match(&s->filter, m->name) || (i = ev_match_ids(&s->filter, m)) < 0 ||
            !ev_visible(m, (const char *const *)s->rights[i], s->n_rights[i]))
            continue;
        pick[count++] = k;
        if (s->filter.tail > 0 && count == s->filter.tail)
            break;
    }
    t->dispatching++;
    for (size_t c = count; c-- > 0 && !s->closed;)
        if (sub_offer(s, t->ring[(t->head + pick[c]) % ev->history_count]) != 0)
            break;
    free(pick);
    t->dispatching--;
    tenant_sweep(t);
}

static void on_event(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *msg)
{
    (void)c;
    ev_t *ev = arg;
    lw_metric_series_add(ev->s_events, 1);
    ev_tenant_t *t = tenant_find(ev, msg->key, msg->key_len, false);
    if (t == NULL && ev->history_count > 0 && msg->key_len <= TN_ID_MAX) {
        /* History only for tenants the registry knows: keys are not trusted to be few. */
        char id[TN_ID_MAX + 1];
        tn_tenant_t known;
        memcpy(id, msg->key, msg->key_len);
        id[msg->key_len] = '\0';
        if (tn_get(ev->tn, id, &known))
            t = tenant_find(ev, msg->key, msg->key_len, true);
    }
    if (t == NULL)
        return;
    ev_rec_t *r = lw_malloc(sizeof *r + msg->value_len + 1);
    r->at_ms = uv_now(ev->loop);
    r->meta = NULL;
    r->bad = false;
    r->len = msg->value_len;
    memcpy(r->text, msg->value, msg->value_len);
    r->text[msg->value_len] = '\0';
    t->dispatching++;
    for (ev_sub_t *s = t->subs; s != NULL; s = s->next)
        if (s->live && !s->closed)
            sub_offer(s, r);
    t->dispatching--;
    tenant_sweep(t);
    if (ev->history_count == 0) {
        rec_free(r);
        return;
    }
    history_expire(ev, t, r->at_ms);
    if (t->n == ev->history_count) {
        rec_free(t->ring[t->head]);
        t->ring[t->head] = NULL;
        t->head = (t->head + 1) % ev->history_count;
        t->n--;
    }
    t->ring[(t->head + t->n) % ev->history_count] = r;
    t->n++;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void on_heartbeat(uv_timer_t *h)
{
    ev_t *ev = h->data;
    ev_stream_heartbeat(ev);
    ev_ws_heartbeat(ev);
}

static void on_assign(void *arg, lw_bus_consumer_t *c, const lw_bus_partition_t *parts, size_t n)
{
    (void)c;
    (void)parts;
    (void)n;
    ev_t *ev = arg;
    ev->assigned = true;
}

int ev_hub_start(ev_t *ev, lw_err_t *err)
{
    if (ev->access != NULL && tn_access_watch(ev->access, on_forgotten, ev) != 0)
        return lw_err_set(err, &lw_err_internal, "access checker has no room for a watcher");
    if (ev->bus != NULL) {
        static const char *const topics[] = {"events"};
        lw_bus_handler_t h = {.on_message = on_event, .on_assign = on_assign};
        ev->consumer = lw_bus_subscribe(ev->bus, NULL, topics, 1, &h, ev, err);
        if (ev->consumer == NULL)
            return -1;
    } else {
        ev->assigned = true;
    }
    uv_timer_init(ev->loop, &ev->heartbeat);
    ev->heartbeat.data = ev;
    ev->timer_open = true;
    uv_timer_start(&ev->heartbeat, on_heartbeat, (uint64_t)ev->heartbeat_ms,
                   (uint64_t)ev->heartbeat_ms);
    uv_unref((uv_handle_t *)&ev->heartbeat);
    return 0;
}

void ev_hub_stop(ev_t *ev)
{
    if (ev->timer_open) {
        uv_timer_stop(&ev->heartbeat);
        uv_close((uv_handle_t *)&ev->heartbeat, NULL);
        ev->timer_open = false;
    }
}

void ev_hub_free(ev_t *ev)
{
    for (size_t b = 0; b < EV_BUCKETS; b++) {
        ev_tenant_t *t = ev->buckets[b];
        while (t != NULL) {
            ev_tenant_t *next = t->next;
            for (size_t k = 0; k < t->n; k++)
                rec_free(t->ring[(t->head + k) % (ev->history_count ? ev->history_count : 1)]);
            free(t->ring);
            while (t->subs != NULL) {
                ev_sub_t *s = t->subs;
                sub_unlink(s);
                s->refs = 1;
                s->tenant = NULL;
                sub_unref(s);
            }
            free(t);
            t = next;
        }
        ev->buckets[b] = NULL;
    }
}
