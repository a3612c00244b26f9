/* Request resolution: the tenant of an API request (host name, X-Tenant-ID, default), and
 * tenant-scoped routes that see only requests of active tenants. */
#include <stdio.h>
#include <stdlib.h>

#include <openssl/rand.h>

#include "cluster/mem.h"
#include "tenant/tenant_private.h"

int tn_resolve(const tn_t *tn, const lw_http_req_t *req, tn_tenant_t *out, lw_err_t *err)
{
    const tn_settings_t *s = &tn->settings;
    char id[TN_ID_MAX + 1];
    if (tn_resolve_id(s->base_domains, s->n_base_domains, s->default_id, lw_http_host(req),
                      lw_http_header(req, "x-tenant-id"), id, err) != 0)
        return -1;
    if (!tn_get(tn, id, out)) {
        lw_err_set(err, &lw_err_tenant_not_found, "tenant `%s` not found", id);
        lw_err_attr(err, "tenant_id", id);
        return -1;
    }
    if (!tn_state_active(out->state)) {
        lw_err_set(err, &lw_err_tenant_not_active, "tenant `%s` is not active (%s)", id,
                   tn_state_name(out->state));
        lw_err_attr(err, "tenant_id", id);
        lw_err_attr(err, "state", tn_state_name(out->state));
        return -1;
    }
    return 0;
}

/* Tenants whose request rates are held at once (idle ones are dropped without loss). */
#define TN_RATE_LIMIT_KEYS 4096

/* One request of tenant t: true, or answered 429 rate_limit_exceeded with Retry-After. */
static bool rate_limit_take(tn_t *tn, lw_http_req_t *req, const tn_tenant_t *t)
{
    lw_ratelimit_result_t r;
    bool ok = lw_ratelimit_take(tn->rate_limit, t->id, (int64_t)uv_now(lw_rt_loop(tn->rt)), &r);
    lw_ratelimit_series_count(&tn->m_rate_limit, &r);
    if (ok)
        return true;
    char key[LW_RATELIMIT_KEY_MAX];
    snprintf(key, sizeof key, "tenant:%s", t->id);
    lw_err_t err;
    int64_t s = lw_ratelimit_err(&err, key, lw_ratelimit_rate(tn->rate_limit), r.retry_after_ms);
    char v[24];
    snprintf(v, sizeof v, "%lld", (long long)s);
    lw_http_add_header(req, "Retry-After", v);
    lw_http_respond_err(req, &err);
    return false;
}

static void resolve_route_trampoline(lw_http_req_t *req, void *arg)
{
    tn_route_ctx_t *rc = arg;
    tn_tenant_t t;
    lw_err_t err;
    lw_err_clear(&err);
    if (tn_resolve(rc->tn, req, &t, &err) != 0) {
        lw_http_respond_err(req, &err);
        return;
    }
    if (!rate_limit_take(rc->tn, req, &t))
        return;
    rc->handler(req, &t, rc->arg);
}

/* The per-tenant request limiter and its series, made with the first tenant-scoped route:
 * only processes that serve some have one. */
static void rate_limit_init(tn_t *tn)
{
    uint64_t seed = 0;
    RAND_bytes((unsigned char *)&seed, sizeof seed);
    tn->rate_limit = lw_ratelimit_new(&tn->settings.requests_per_tenant, TN_RATE_LIMIT_KEYS, seed);
    lw_ratelimit_series_init(&tn->m_rate_limit, lw_rt_metrics(tn->rt), "api_tenant");
}

int tn_route(tn_t *tn, const char *method, const char *pattern, tn_handler_t handler, void *arg)
{
    if (tn->rate_limit == NULL)
        rate_limit_init(tn);
    tn_route_ctx_t *rc = lw_calloc(1, sizeof *rc);
    *rc = (tn_route_ctx_t){.next = tn->routes, .tn = tn, .handler = handler, .arg = arg};
    tn->routes = rc;
    return lw_http_route(tn->http, method, pattern, resolve_route_trampoline, rc);
}

void tn_routes_free(tn_t *tn)
{
    lw_ratelimit_free(tn->rate_limit);
    tn->rate_limit = NULL;
    while (tn->routes != NULL) {
        tn_route_ctx_t *next = tn->routes->next;
        free(tn->routes);
        tn->routes = next;
    }
}
