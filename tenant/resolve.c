/* Request resolution: the tenant of an API request (host name, X-Tenant-ID, default), and
 * tenant-scoped routes that see only requests of active tenants. */
#include <stdlib.h>

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
    rc->handler(req, &t, rc->arg);
}

int tn_route(tn_t *tn, const char *method, const char *pattern, tn_handler_t handler, void *arg)
{
    tn_route_ctx_t *rc = lw_calloc(1, sizeof *rc);
    *rc = (tn_route_ctx_t){.next = tn->routes, .tn = tn, .handler = handler, .arg = arg};
    tn->routes = rc;
    return lw_http_route(tn->http, method, pattern, resolve_route_trampoline, rc);
}

void tn_routes_free(tn_t *tn)
{
    while (tn->routes != NULL) {
        tn_route_ctx_t *next = tn->routes->next;
        free(tn->routes);
        tn->routes = next;
    }
}
