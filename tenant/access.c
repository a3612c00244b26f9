/* The access checker (tenant/access.h): asks the Identity Server for a caller's rights on an
 * entity over cluster/http_client.h, keeps the answers for a short TTL, and forgets them
 * when a credential is revoked (lw.is.revocations) or the tenant changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cluster/http_client.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "tenant/access_private.h"
#include "tenant/revocation.h"
#include "tenant/tenant_private.h"

static const lw_rt_key_t access_service_key = {.name = "access checker"};

tn_access_t *tn_access_from_runtime(lw_rt_t *rt)
{
    return lw_rt_service(rt, &access_service_key);
}

typedef struct acheck acheck_t;

struct tn_access {
    tn_t *tn;
    lw_rt_t *rt;
    uv_loop_t *loop;
    lw_http_client_t *http;
    const char *uri;     /* tenancy.identity-server-uri; NULL: this node's listener */
    const char *ca_file; /* tenancy.identity-server-ca; NULL: the system's CAs */
    int64_t ttl_ms;
    long long timeout_ms;
    tn_access_cache_t cache;
    uv_timer_t later; /* delivers answers known at once (cache, anonymous) */
    acheck_t *ready_head, *ready_tail;
    acheck_t *asking; /* checks waiting for the IS, one per key */
    int inflight;     /* requests to the IS */
    bool stopping;
    bool closed; /* the HTTP client's close is done: it may be freed */
    void (*stop_done)(void *);
    void *stop_arg;
    lw_bus_consumer_t *revocations;
    lw_metric_series_t *m_cached, *m_asked, *m_failed, *m_shared;
    lw_metric_series_t *m_forgotten;
    uint64_t last_failure_log_ms; /* loop time of the last "access check failed" line */
    uint64_t failures_unlogged;
    struct {
        tn_access_watch_cb cb;
        void *arg;
    } watchers[TN_ACCESS_MAX_WATCHERS];
    size_t nwatchers;
};

/* One check: what the caller asked, and its answer until the callback. */
struct acheck {
    acheck_t *next;
    tn_access_t *a;
    tn_access_cb cb;
    void *arg;
    char tenant[TN_ID_MAX + 1];
    char type[TN_ACCESS_TYPE_MAX];
    char id[TN_ID_MAX * 2 + 1];
    char key_id[TN_ACCESS_KEY_ID_MAX + 1];
    uint8_t key[32];
    uint64_t gen; /* cache generation when the IS was asked */
    tn_access_rights_buf_t need;
    tn_access_rights_buf_t held;
    lw_err_t err; /* err.def NULL: held is the answer */
    /* A check that asked the IS: the ones with the same key that arrived meanwhile share
     * its answer, and it is listed in tn_access.asking until then. */
    acheck_t *followers;
    acheck_t *asking_next;
};

static void check_free(acheck_t *c)
{
    tn_access_rights_free(&c->need);
    tn_access_rights_free(&c->held);
    OPENSSL_cleanse(c->key, sizeof c->key);
    free(c);
}

/* Decides (unless failed already) and calls back, then frees. */
static void check_finish(acheck_t *c)
{
    tn_rights_t held = {.n = c->held.n, .names = c->held.names};
    if (c->err.def == NULL)
        tn_access_decide(&held, c->need.names, c->need.n, c->type, c->id, c->tenant, &c->err);
    if (c->err.def == NULL)
        c->cb(c->arg, &held, NULL);
    else
        c->cb(c->arg, NULL, &c->err);
    check_free(c);
}

static void later_run(uv_timer_t *t)
{
    tn_access_t *a = t->data;
    acheck_t *list = a->ready_head;
    a->ready_head = a->ready_tail = NULL;
    while (list != NULL) {
        acheck_t *c = list;
        list = c->next;
        check_finish(c);
    }
}

static void check_later(tn_access_t *a, acheck_t *c)
{
    c->next = NULL;
    if (a->ready_tail != NULL)
        a->ready_tail->next = c;
    else
        a->ready_head = c;
    a->ready_tail = c;
    uv_timer_start(&a->later, later_run, 0, 0);
}

/* The leader's answer, given to it and to every check that joined it. */
static void check_answer_all(tn_access_t *a, acheck_t *c)
{
    for (acheck_t **pp = &a->asking; *pp != NULL; pp = &(*pp)->asking_next)
        if (*pp == c) {
            *pp = c->asking_next;
            break;
        }
    acheck_t *f = c->followers;
    c->followers = NULL;
    while (f != NULL) {
        acheck_t *next = f->next;
        if (c->err.def != NULL)
            f->err = c->err;
        else
            tn_access_rights_copy(&f->held, c->held.names, c->held.n);
        check_finish(f);
        f = next;
    }
    check_finish(c);
}

/* An IS that cannot be reached fails every check: one line per ACCESS_LOG_EVERY_MS says so,
 * with how many failed since the last one (the metric counts each). */
#define ACCESS_LOG_EVERY_MS 10000

static void access_log_failure(tn_access_t *a, const acheck_t *c, const char *why)
{
    uint64_t now = uv_now(a->loop);
    a->failures_unlogged++;
    if (a->last_failure_log_ms != 0 && now - a->last_failure_log_ms < ACCESS_LOG_EVERY_MS)
        return;
    char n[24];
    snprintf(n, sizeof n, "%llu", (unsigned long long)a->failures_unlogged);
    lw_log(LW_LOG_WARN, "tenant", "access check failed", "tenant", c->tenant, "entity_type",
           c->type, "entity_id", c->id, "error", why, "failures", n, NULL);
    a->last_failure_log_ms = now;
    a->failures_unlogged = 0;
}

static void check_answered(void *arg, lw_http_client_req_t *req,
                           const lw_http_client_response_t *res, const lw_err_t *err)
{
    (void)req;
    acheck_t *c = arg;
    tn_access_t *a = c->a;
    a->inflight--;
    if (err != NULL) {
        lw_err_set(&c->err, &lw_err_unavailable, "identity server not reached: %s", err->message);
        access_log_failure(a, c, err->message);
        lw_metric_series_add(a->m_failed, 1);
    } else if (tn_access_decode_answer(res->status, res->body, res->body_len, &c->held, &c->err) ==
               0) {
        tn_access_cache_put(&a->cache, c->key, c->tenant, c->key_id, c->type, c->id, &c->held,
                            uv_now(a->loop), a->ttl_ms, c->gen);
        lw_metric_series_add(a->m_asked, 1);
    } else {
        if (c->err.def == &lw_err_unavailable)
            access_log_failure(a, c, c->err.message);
        lw_metric_series_add(a->m_failed, 1);
    }
    check_answer_all(a, c);
}

/* Percent-encodes an ID for the path (valid IDs pass unchanged). */
static void path_escape(const char *in, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < cap; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
            (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == '.') {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
}

static int check_ask(tn_access_t *a, acheck_t *c, const char *authorization, const char *plural,
                     lw_err_t *err)
{
    char base[256];
    if (a->uri != NULL)
        snprintf(base, sizeof base, "%s", a->uri);
    else
        snprintf(base, sizeof base, "http://127.0.0.1:%d", lw_http_port(lw_rt_http(a->rt)));
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        base[--bl] = '\0';
    char id[TN_ID_MAX * 6 + 1];
    path_escape(c->id, id, sizeof id);
    char url[512];
    snprintf(url, sizeof url, "%s/api/v3/%s/%s/rights", base, plural, id);
    const lw_http_client_header_t headers[] = {
        {"Authorization", authorization},
        {"X-Tenant-ID", c->tenant},
        {"Accept", "application/json"},
    };
    lw_http_client_req_opts_t o = {
        .method = "GET",
        .url = url,
        .headers = headers,
        .nheaders = sizeof headers / sizeof headers[0],
        .timeout_ms = a->timeout_ms,
        .max_response_bytes = 64 * 1024,
        .ca_file = a->ca_file,
    };
    c->gen = a->cache.gen;
    if (a->http == NULL)
        return lw_err_set(err, &lw_err_unavailable, "access checker not started");
    if (lw_http_client_send(a->http, &o, check_answered, c, err) == NULL)
        return -1;
    a->inflight++;
    return 0;
}

int tn_access_check(tn_access_t *a, const tn_tenant_t *t, const char *authorization,
                    const char *entity_type, const char *entity_id, const char *const *need,
                    size_t n_need, tn_access_cb cb, void *arg)
{
    const char *plural = tn_access_plural(entity_type);
    if (a == NULL || a->stopping || plural == NULL || entity_id == NULL || t == NULL)
        return -1;
    acheck_t *c = lw_calloc(1, sizeof *c);
    c->a = a;
    c->cb = cb;
    c->arg = arg;
    snprintf(c->tenant, sizeof c->tenant, "%s", t->id);
    snprintf(c->type, sizeof c->type, "%s", entity_type);
    snprintf(c->id, sizeof c->id, "%s", entity_id);
    tn_access_rights_copy(&c->need, need, n_need);
    if (authorization == NULL || authorization[0] == '\0') {
        /* The IS gives an anonymous caller no rights: no need to ask. */
        lw_err_set(&c->err, &lw_err_unauthenticated, "unauthenticated");
        check_later(a, c);
        return 0;
    }
    tn_access_key(t->id, t->incarnation, authorization, entity_type, entity_id, c->key);
    if (tn_access_cache_get(&a->cache, c->key, uv_now(a->loop), &c->held)) {
        lw_metric_series_add(a->m_cached, 1);
        check_later(a, c);
        return 0;
    }
    for (acheck_t *l = a->asking; l != NULL; l = l->asking_next)
        if (memcmp(l->key, c->key, sizeof c->key) == 0 && l->gen == a->cache.gen) {
            /* The same question is with the IS already, asked since the last forget: wait
             * for its answer. */
            c->next = l->followers;
            l->followers = c;
            lw_metric_series_add(a->m_shared, 1);
            return 0;
        }
    tn_access_key_id(authorization, c->key_id);
    lw_err_t err;
    if (check_ask(a, c, authorization, plural, &err) == 0) {
        c->asking_next = a->asking;
        a->asking = c;
    } else {
        lw_err_set(&c->err, &lw_err_unavailable, "identity server not asked: %s", err.message);
        lw_metric_series_add(a->m_failed, 1);
        check_later(a, c);
    }
    return 0;
}

/* ---- forgetting ----------------------------------------------------------------------------- */

int tn_access_watch(tn_access_t *a, tn_access_watch_cb cb, void *arg)
{
    if (a == NULL || a->nwatchers == TN_ACCESS_MAX_WATCHERS)
        return -1;
    a->watchers[a->nwatchers].cb = cb;
    a->watchers[a->nwatchers].arg = arg;
    a->nwatchers++;
    return 0;
}

/* Tells the watchers that answers of a tenant (NULL: of every tenant) may have changed. */
static void access_notify(tn_access_t *a, const char *tenant_id)
{
    for (size_t i = 0; i < a->nwatchers; i++)
        a->watchers[i].cb(a->watchers[i].arg, tenant_id);
}

static void access_tenant_changed(void *arg, const tn_tenant_t *t)
{
    tn_access_t *a = arg;
    size_t n = tn_access_cache_forget_tenant(&a->cache, t->id);
    lw_metric_series_add(a->m_forgotten, (double)n);
    access_notify(a, t->id);
}

static void revocation_message(void *arg, lw_bus_consumer_t *consumer, const lw_bus_msg_t *m)
{
    (void)consumer;
    tn_access_t *a = arg;
    tn_revocation_t r;
    if (tn_revocation_decode(m->value, m->value_len, &r) != 0) {
        lw_log(LW_LOG_WARN, "tenant", "undecodable revocation dropped", "id", m->id, NULL);
        return;
    }
    if (a->cache.n == 0) {
        a->cache.gen++; /* an answer in flight may predate it */
        access_notify(a, r.tenant_id);
        return;
    }
    /* A key or token: its entries. An entity (deleted, or a user changed): every entry of
     * the tenant, since which credentials reach the entity through memberships is the IS's
     * knowledge, not the cache's. */
    size_t n = r.key_id[0] != '\0' ? tn_access_cache_forget_key(&a->cache, r.tenant_id, r.key_id)
                                   : tn_access_cache_forget_tenant(&a->cache, r.tenant_id);
    lw_metric_series_add(a->m_forgotten, (double)n);
    access_notify(a, r.tenant_id);
}

static void revocation_assigned(void *arg, lw_bus_consumer_t *c, const lw_bus_partition_t *parts,
                                size_t n)
{
    (void)c;
    (void)parts;
    (void)n;
    /* After a lost session, what was published meanwhile may never come: trust nothing. */
    tn_access_t *a = arg;
    tn_access_cache_forget_tenant(&a->cache, NULL);
    access_notify(a, NULL);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

tn_access_t *tn_access_new(tn_t *tn, lw_rt_t *rt, lw_err_t *err)
{
    tn_access_t *a = lw_calloc(1, sizeof *a);
    a->tn = tn;
    a->rt = rt;
    a->loop = lw_rt_loop(rt);
    a->uri = tn->settings.access_uri;
    a->ca_file = tn->settings.access_ca_file;
    a->ttl_ms = tn->settings.access_ttl_ms;
    a->timeout_ms = tn->settings.access_timeout_ms;
    tn_access_cache_init(&a->cache, tn->settings.access_cache_size);
    uv_timer_init(a->loop, &a->later);
    a->later.data = a;
    static const char *const labels[] = {"result", NULL};
    lw_metric_t *f = lw_metrics_counter(lw_rt_metrics(rt), "lwstack_tenant_access_checks_total",
                                        "Access checks by how they were answered", labels);
    a->m_cached = lw_metric_series(f, (const char *const[]){"cached", NULL});
    a->m_asked = lw_metric_series(f, (const char *const[]){"asked", NULL});
    a->m_failed = lw_metric_series(f, (const char *const[]){"failed", NULL});
    a->m_shared = lw_metric_series(f, (const char *const[]){"shared", NULL});
    a->m_forgotten = lw_metric_series(
        lw_metrics_counter(lw_rt_metrics(rt), "lwstack_tenant_access_forgotten_total",
                           "Cached access answers dropped by revocations and tenant changes", NULL),
        NULL);
    if (tn_changes_subscribe(tn, access_tenant_changed, a, err) != 0 ||
        lw_rt_provide(rt, &access_service_key, a, err) != 0) {
        /* Start-up fails: the process ends, the handles close with the loop. */
        return NULL;
    }
    return a;
}

static void access_http_closed(void *arg)
{
    tn_access_t *a = arg;
    a->closed = true;
    if (a->stop_done != NULL)
        a->stop_done(a->stop_arg);
}

int tn_access_start(tn_access_t *a, lw_err_t *err)
{
    /* The client exists from start to stop only: a component that never started is never
     * stopped, and a client must be closed before it is freed. */
    lw_http_client_opts_t ho = {.user_agent = "lwstack access",
                                .max_host_connections = 16,
                                .metrics = lw_rt_metrics(a->rt),
                                .name = "access"};
    a->http = lw_http_client_new(a->loop, &ho, err);
    if (a->http == NULL)
        return -1;
    lw_bus_t *bus = lw_rt_bus(a->rt);
    if (bus == NULL)
        return 0;
    char topic[128];
    const char *topics[] = {lw_bus_topic(bus, TN_REVOCATIONS_TOPIC, topic, sizeof topic)};
    if (lw_bus_ensure_topics(bus, topics, 1, err) != 0)
        goto fail;
    static const lw_bus_handler_t handler = {.on_message = revocation_message,
                                             .on_assign = revocation_assigned};
    /* From the oldest kept (as the IS reads it): "latest" is resolved after the assignment
     * and could skip a revocation published in between. Old ones forget little. */
    static const lw_bus_sub_opts_t opts = {.from_beginning = true};
    const char *names[] = {TN_REVOCATIONS_TOPIC};
    a->revocations = lw_bus_subscribe_opts(bus, NULL, names, 1, &handler, a, &opts, err);
    if (a->revocations == NULL)
        goto fail;
    return 0;
fail:
    /* Never stopped now: the client closes on the loop the failed start-up still runs. */
    a->stopping = true;
    lw_http_client_close(a->http, access_http_closed, a);
    return -1;
}

void tn_access_stop(tn_access_t *a, void (*done)(void *arg), void *arg)
{
    if (a->stopping) {
        if (done != NULL)
            done(arg);
        return;
    }
    a->stopping = true;
    a->stop_done = done;
    a->stop_arg = arg;
    uv_timer_stop(&a->later);
    later_run(&a->later); /* answers already known are given */
    if (!uv_is_closing((uv_handle_t *)&a->later))
        uv_close((uv_handle_t *)&a->later, NULL);
    /* Requests in flight are canceled: their callbacks answer unavailable. */
    if (a->http != NULL)
        lw_http_client_close(a->http, access_http_closed, a);
    else
        access_http_closed(a);
}

void tn_access_free(tn_access_t *a)
{
    if (a == NULL)
        return;
    /* A client whose close never ran (start failed after creating it, so stop was never
     * called) is left to the process's end: it must not be freed before its close. */
    if (a->closed)
        lw_http_client_free(a->http);
    tn_access_cache_free(&a->cache);
    free(a);
}

void tn_access_forget(tn_access_t *a, const char *tenant_id, const char *key_id)
{
    if (a == NULL)
        return;
    size_t n = tn_access_cache_forget_key(&a->cache, tenant_id, key_id);
    lw_metric_series_add(a->m_forgotten, (double)n);
    access_notify(a, tenant_id);
}
