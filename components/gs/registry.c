/* The gateway registry cache: gateway EUI → tenant, gateway ID and options, from the
 * deployment-wide index (tenant/euis.h). Positive and negative answers are cached for
 * gs.registry-cache-ttl; a gateway.* event on lw.events drops the answers it may change
 * (every negative one, since a created gateway's EUI is not in the event, and that gateway's
 * positive ones) and re-reads a connected gateway; a tenant change drops the tenant's.
 * Concurrent lookups of one EUI share one query. */
#include <stdlib.h>
#include <string.h>

#include "cluster/log.h"
#include "cluster/mem.h"

#include "gs/core_private.h"

struct gs_cache_entry {
    gs_cache_entry_t *next;
    uint64_t eui;
    bool known;
    uint64_t expires_ms;
    gs_gw_info_t info;
};

typedef struct gs_waiter {
    struct gs_waiter *next;
    gs_gw_lookup_cb cb;
    void *arg;
} gs_waiter_t;

struct gs_lookup {
    gs_lookup_t *next;
    gs_t *gs; /* NULL once the core is freed: the answer only frees the lookup */
    uint64_t eui;
    bool answered; /* a cache hit waiting for the deliver timer */
    bool known;
    gs_gw_info_t info;
    gs_waiter_t *waiters, **tail;
};

#define GS_LOOKUPS_MAX 1024u

void gs_registry_info_from_ref(const gs_t *gs, const tn_gateway_ref_t *ref, uint64_t eui,
                               gs_gw_info_t *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->tenant_id, sizeof out->tenant_id, "%s", ref->tenant_id);
    snprintf(out->gateway_id, sizeof out->gateway_id, "%s", ref->gateway_id);
    out->eui = eui;
    /* The gateway's first plan; gs.default-frequency-plan for a gateway registered without. */
    snprintf(out->frequency_plan_id, sizeof out->frequency_plan_id, "%.*s", GS_FREQ_PLAN_MAX,
             ref->n_frequency_plans > 0 ? ref->frequency_plan_ids[0] : gs->default_freq_plan);
    out->schedule_downlink_late = ref->schedule_downlink_late;
    out->enforce_duty_cycle = ref->enforce_duty_cycle;
    out->update_location_from_status = ref->update_location_from_status;
    out->location_public = ref->location_public;
    out->require_authenticated_connection = ref->require_authenticated_connection;
    out->antenna_gain_db = ref->has_antenna_gain ? ref->antenna_gain : 0;
    if (ref->has_location && ref->location_public) {
        out->has_location = true;
        out->latitude = ref->location.latitude;
        out->longitude = ref->location.longitude;
        out->altitude = ref->location.altitude;
        out->accuracy = ref->location.accuracy;
        snprintf(out->location_source, sizeof out->location_source, "%s",
                 ref->location.source[0] != '\0' ? ref->location.source : "SOURCE_REGISTRY");
    }
}

static gs_cache_entry_t **cache_slot(gs_t *gs, uint64_t eui)
{
    gs_cache_entry_t **p = &gs->cache[gs_hash_u64(eui) % GS_HASH_BUCKETS];
    while (*p != NULL && (*p)->eui != eui)
        p = &(*p)->next;
    return p;
}

static void cache_put(gs_t *gs, uint64_t eui, const gs_gw_info_t *info)
{
    if (gs->registry_ttl_ms == 0)
        return;
    gs_cache_entry_t **p = cache_slot(gs, eui);
    gs_cache_entry_t *e = *p;
    if (e == NULL) {
        if (gs->ncache >= gs->registry_max)
            return; /* full: answers are still correct, only not cached */
        e = lw_calloc(1, sizeof *e);
        e->eui = eui;
        *p = e;
        gs->ncache++;
    }
    e->known = info != NULL;
    if (info != NULL)
        e->info = *info;
    e->expires_ms = uv_now(gs->loop) + gs->registry_ttl_ms;
}

int gs_gw_lookup_cached(gs_t *gs, uint64_t eui, gs_gw_info_t *out)
{
    gs_cache_entry_t **p = cache_slot(gs, eui);
    gs_cache_entry_t *e = *p;
    if (e == NULL)
        return -1;
    if (e->expires_ms <= uv_now(gs->loop)) {
        *p = e->next;
        free(e);
        gs->ncache--;
        return -1;
    }
    if (!e->known)
        return 0;
    if (out != NULL)
        *out = e->info;
    return 1;
}

/* Drops the entries for which drop(entry, a, b) is true. */
static void cache_drop(gs_t *gs, bool (*drop)(const gs_cache_entry_t *, const char *, const char *),
                       const char *a, const char *b)
{
    for (size_t i = 0; i < GS_HASH_BUCKETS; i++) {
        gs_cache_entry_t **p = &gs->cache[i];
        while (*p != NULL) {
            gs_cache_entry_t *e = *p;
            if (drop(e, a, b)) {
                *p = e->next;
                free(e);
                gs->ncache--;
            } else {
                p = &e->next;
            }
        }
    }
}

static bool drop_gateway(const gs_cache_entry_t *e, const char *tenant, const char *gw)
{
    return !e->known ||
           (strcmp(e->info.tenant_id, tenant) == 0 && strcmp(e->info.gateway_id, gw) == 0);
}

static bool drop_tenant(const gs_cache_entry_t *e, const char *tenant, const char *unused)
{
    (void)unused;
    return e->known && strcmp(e->info.tenant_id, tenant) == 0;
}

void gs_registry_forget_gateway(gs_t *gs, const char *tenant_id, const char *gateway_id)
{
    cache_drop(gs, drop_gateway, tenant_id, gateway_id);
}

void gs_registry_forget_tenant(gs_t *gs, const char *tenant_id)
{
    cache_drop(gs, drop_tenant, tenant_id, NULL);
}

/* ---- lookups ---------------------------------------------------------------------------- */

static void lookup_unlink(gs_t *gs, gs_lookup_t *l)
{
    for (gs_lookup_t **p = &gs->lookups; *p != NULL; p = &(*p)->next) {
        if (*p == l) {
            *p = l->next;
            gs->nlookups--;
            return;
        }
    }
}

/* Calls every waiter of l and frees it. */
static void lookup_answer(gs_lookup_t *l, const gs_gw_info_t *info, const lw_err_t *err)
{
    gs_waiter_t *w = l->waiters;
    while (w != NULL) {
        gs_waiter_t *next = w->next;
        w->cb(w->arg, info, err);
        free(w);
        w = next;
    }
    free(l);
}

static void lookup_done(void *arg, const tn_gateway_ref_t *ref, const lw_err_t *err)
{
    gs_lookup_t *l = arg;
    gs_t *gs = l->gs;
    if (gs == NULL) { /* the core is gone */
        lookup_answer(l, NULL, err);
        return;
    }
    lookup_unlink(gs, l);
    const char *res = err != NULL ? "error" : ref != NULL ? "found" : "not_found";
    lw_metric_add(gs->m_lookup, (const char *const[]){res, NULL}, 1);
    if (err != NULL) {
        lookup_answer(l, NULL, err);
        return;
    }
    if (ref == NULL) {
        cache_put(gs, l->eui, NULL);
        lookup_answer(l, NULL, NULL);
        return;
    }
    gs_gw_info_t info;
    gs_registry_info_from_ref(gs, ref, l->eui, &info);
    cache_put(gs, l->eui, &info);
    lookup_answer(l, &info, NULL);
}

static void deliver_cb(uv_timer_t *t)
{
    gs_t *gs = t->data;
    gs_lookup_t **p = &gs->lookups;
    while (*p != NULL) {
        gs_lookup_t *l = *p;
        if (!l->answered) {
            p = &l->next;
            continue;
        }
        *p = l->next;
        gs->nlookups--;
        gs_gw_info_t info = l->info;
        lookup_answer(l, l->known ? &info : NULL, NULL);
        p = &gs->lookups; /* a waiter may have added lookups: start over */
    }
}

int gs_gw_lookup(gs_t *gs, uint64_t eui, gs_gw_lookup_cb cb, void *arg, lw_err_t *err)
{
    if (gs->stopping)
        return lw_err_set(err, &lw_err_stopping, "gateway server stopping");
    gs_lookup_t *l = NULL;
    for (l = gs->lookups; l != NULL; l = l->next)
        if (l->eui == eui && !l->answered)
            break;
    if (l == NULL) {
        if (gs->nlookups >= GS_LOOKUPS_MAX)
            return lw_err_set(err, &lw_err_lookups_max, "%u gateway lookups in flight",
                              GS_LOOKUPS_MAX);
        l = lw_calloc(1, sizeof *l);
        l->gs = gs;
        l->eui = eui;
        l->tail = &l->waiters;
        int hit = gs_gw_lookup_cached(gs, eui, &l->info);
        if (hit >= 0) {
            l->answered = true;
            l->known = hit == 1;
            if (uv_timer_start(gs->deliver, deliver_cb, 0, 0) != 0) {
                free(l);
                return lw_err_set(err, &lw_err_internal, "cannot start the lookup timer");
            }
        } else if (tn_gateway_eui_lookup(gs->db, eui, lookup_done, l) != 0) {
            free(l);
            return lw_err_set(err, &lw_err_db_unavailable, "database unavailable");
        }
        l->next = gs->lookups;
        gs->lookups = l;
        gs->nlookups++;
    }
    gs_waiter_t *w = lw_calloc(1, sizeof *w);
    w->cb = cb;
    w->arg = arg;
    *l->tail = w;
    l->tail = &w->next;
    return 0;
}

void gs_registry_free(gs_t *gs)
{
    for (size_t i = 0; i < GS_HASH_BUCKETS; i++) {
        gs_cache_entry_t *e = gs->cache[i];
        while (e != NULL) {
            gs_cache_entry_t *next = e->next;
            free(e);
            e = next;
        }
        gs->cache[i] = NULL;
    }
    gs->ncache = 0;
    gs_lookup_t *l = gs->lookups;
    while (l != NULL) {
        gs_lookup_t *next = l->next;
        if (l->answered) {
            gs_waiter_t *w = l->waiters;
            while (w != NULL) {
                gs_waiter_t *wn = w->next;
                free(w);
                w = wn;
            }
            free(l);
        } else {
            /* Its query still runs: lookup_done frees it, with no one left to answer. */
            gs_waiter_t *w = l->waiters;
            while (w != NULL) {
                gs_waiter_t *wn = w->next;
                free(w);
                w = wn;
            }
            l->waiters = NULL;
            l->gs = NULL;
        }
        l = next;
    }
    gs->lookups = NULL;
    gs->nlookups = 0;
}

/* ---- registry changes (gateway.* events of the Identity Server on lw.events) ------------ */

typedef struct gs_reread {
    gs_t *gs;
    char tenant_id[TN_ID_MAX + 1];
    char gateway_id[TN_ID_MAX + 1];
} gs_reread_t;

/* The registry's new answer for a connected gateway's EUI. */
static void reread_done(void *arg, const gs_gw_info_t *info, const lw_err_t *err)
{
    gs_reread_t *r = arg;
    gs_gw_t *gw = gs_gw_by_uid(r->gs, r->tenant_id, r->gateway_id);
    if (gw != NULL && err == NULL) {
        if (info == NULL || strcmp(info->tenant_id, gw->info.tenant_id) != 0 ||
            strcmp(info->gateway_id, gw->info.gateway_id) != 0) {
            gs_gw_close(gw, "gateway deleted");
        } else {
            bool plan_changed = strcmp(info->frequency_plan_id, gw->info.frequency_plan_id) != 0;
            gw->info = *info;
            if (plan_changed)
                gs_down_gateway_init(gw);
        }
    }
    free(r);
}

static bool contains(const void *hay, size_t len, const char *needle, size_t nlen)
{
    const char *h = hay, *end = h + len;
    while ((size_t)(end - h) >= nlen) {
        const char *q = memchr(h, needle[0], (size_t)(end - h) - nlen + 1);
        if (q == NULL)
            return false;
        if (memcmp(q, needle, nlen) == 0)
            return true;
        h = q + 1;
    }
    return false;
}

static void event_message(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *msg)
{
    (void)c;
    gs_t *gs = arg;
    static const char needle[] = "\"name\":\"gateway.";
    /* Most events are the data path's own: skip them without parsing. */
    if (msg->value_len < sizeof needle ||
        !contains(msg->value, msg->value_len, needle, sizeof needle - 1))
        return;
    if (msg->key_len == 0 || msg->key_len > TN_ID_MAX)
        return;
    char tenant[TN_ID_MAX + 1];
    memcpy(tenant, msg->key, msg->key_len);
    tenant[msg->key_len] = '\0';
    json_error_t je;
    json_t *ev = json_loadb(msg->value, msg->value_len, 0, &je);
    const char *name = json_string_value(json_object_get(ev, "name"));
    json_t *ids = json_array_get(json_object_get(ev, "identifiers"), 0);
    const char *gw_id =
        json_string_value(json_object_get(json_object_get(ids, "gateway_ids"), "gateway_id"));
    if (name == NULL || strncmp(name, "gateway.", 8) != 0 || gw_id == NULL) {
        json_decref(ev);
        return;
    }
    gs_registry_forget_gateway(gs, tenant, gw_id);
    gs_gw_t *gw = gs_gw_by_uid(gs, tenant, gw_id);
    if (gw != NULL) {
        if (strcmp(name, "gateway.delete") == 0) {
            gs_gw_close(gw, "gateway deleted");
        } else {
            gs_reread_t *r = lw_calloc(1, sizeof *r);
            r->gs = gs;
            snprintf(r->tenant_id, sizeof r->tenant_id, "%s", tenant);
            snprintf(r->gateway_id, sizeof r->gateway_id, "%s", gw_id);
            lw_err_t e;
            if (gs_gw_lookup(gs, gw->info.eui, reread_done, r, &e) != 0)
                free(r);
        }
    }
    json_decref(ev);
}

int gs_registry_start(gs_t *gs, lw_err_t *err)
{
    static const char *const topics[] = {"events"};
    static const lw_bus_handler_t h = {.on_message = event_message};
    gs->events_consumer = lw_bus_subscribe(gs->bus, NULL, topics, 1, &h, gs, err);
    return gs->events_consumer != NULL ? 0 : -1;
}
