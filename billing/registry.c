/* The tenant registry as billing changes it: The Things Stack's TBS calls the
 * TenantRegistry with a tenant admin key (tts-features.md §17.2); billing does the same over
 * HTTP, on this node's own listener unless tbs.tenant-registry-uri names another. Going
 * through the tenant API (rather than the tenant module's C internals) is what makes every
 * change take the one path every other tenant change takes: validation, the Identity
 * Server's initial_user hook at creation, the lw.tenant publication that makes every
 * process obey within seconds, and the registry's own rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing_private.h"
#include "cluster/json.h"
#include "cluster/mem.h"

#define REGISTRY_TIMEOUT_MS 15000

struct billing_registry {
    billing_t *b;
    lw_http_client_t *http;
    char authorization[128];
    char base[256]; /* empty: this node's listener (its port is known once started) */
    void (*closed)(void *arg);
    void *closed_arg;
};

typedef struct registry_call {
    billing_registry_t *r;
    billing_registry_cb cb;
    void *arg;
} registry_call_t;

int billing_registry_start(billing_t *b, lw_err_t *err)
{
    billing_registry_t *r = lw_calloc(1, sizeof *r);
    r->b = b;
    if (b->cfg.tenant_admin_key != NULL)
        snprintf(r->authorization, sizeof r->authorization, "TenantAdminKey %s",
                 b->cfg.tenant_admin_key);
    if (b->cfg.tenant_registry_uri != NULL) {
        snprintf(r->base, sizeof r->base, "%s", b->cfg.tenant_registry_uri);
        size_t n = strlen(r->base);
        while (n > 0 && r->base[n - 1] == '/')
            r->base[--n] = '\0';
    }
    const lw_http_client_opts_t o = {
        .user_agent = "lwstack-tbs", .metrics = b->metrics, .name = "tbs_registry"};
    r->http = lw_http_client_new(b->loop, &o, err);
    if (r->http == NULL) {
        free(r);
        return -1;
    }
    b->registry = r;
    return 0;
}

static void registry_closed(void *arg)
{
    billing_registry_t *r = arg;
    void (*done)(void *) = r->closed;
    void *done_arg = r->closed_arg;
    lw_http_client_free(r->http);
    free(r);
    if (done != NULL)
        done(done_arg);
}

void billing_registry_stop(billing_t *b, void (*done)(void *arg), void *arg)
{
    billing_registry_t *r = b->registry;
    b->registry = NULL;
    if (r == NULL) {
        done(arg);
        return;
    }
    r->closed = done;
    r->closed_arg = arg;
    lw_http_client_close(r->http, registry_closed, r);
}

static void registry_answered(void *arg, lw_http_client_req_t *req,
                              const lw_http_client_response_t *res, const lw_err_t *err)
{
    (void)req;
    registry_call_t *c = arg;
    if (err != NULL) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_tenant_registry_failed, "the tenant registry failed: %s",
                   err->message);
        lw_err_attr(&e, "reason", lw_err_name(err));
        c->cb(c->arg, 0, NULL, &e);
        free(c);
        return;
    }
    json_error_t je;
    json_t *body =
        res->body_len > 0 ? json_loadb((const char *)res->body, res->body_len, 0, &je) : NULL;
    c->cb(c->arg, res->status, body, NULL);
    json_decref(body);
    free(c);
}

int billing_registry_send(billing_t *b, const char *method, const char *path, json_t *body,
                          billing_registry_cb cb, void *arg, lw_err_t *err)
{
    billing_registry_t *r = b->registry;
    if (r != NULL && r->authorization[0] == '\0')
        return lw_err_set(err, &lw_err_tenant_registry_failed,
                          "the tenant registry failed: no tenant admin key (set "
                          "tbs.tenant-admin-key or tenancy.admin-keys)");
    return billing_registry_send_as(b, method, path, r != NULL ? r->authorization : "", NULL, body,
                                    cb, arg, err);
}

int billing_registry_send_as(billing_t *b, const char *method, const char *path,
                             const char *authorization, const char *tenant_id, json_t *body,
                             billing_registry_cb cb, void *arg, lw_err_t *err)
{
    billing_registry_t *r = b->registry;
    if (r == NULL || b->stopping)
        return lw_err_set(err, &lw_err_unavailable, "billing is stopping");
    char url[512];
    if (r->base[0] != '\0')
        snprintf(url, sizeof url, "%s%s", r->base, path);
    else
        snprintf(url, sizeof url, "http://127.0.0.1:%d%s", lw_http_port(b->http), path);
    char *text = body != NULL ? lw_json_dumps(body, JSON_COMPACT) : NULL;
    const lw_http_client_header_t headers[] = {
        {"Authorization", authorization},
        {"Content-Type", "application/json"},
        {"Accept", "application/json"},
        {"X-Tenant-ID", tenant_id != NULL ? tenant_id : ""},
    };
    lw_http_client_req_opts_t o = {
        .method = method,
        .url = url,
        .headers = headers,
        .nheaders = tenant_id != NULL ? 4 : 3,
        .body = text,
        .body_len = text != NULL ? strlen(text) : 0,
        .timeout_ms = REGISTRY_TIMEOUT_MS,
        .max_response_bytes = 256 * 1024,
    };
    registry_call_t *c = lw_malloc(sizeof *c);
    *c = (registry_call_t){.r = r, .cb = cb, .arg = arg};
    lw_http_client_req_t *req = lw_http_client_send(r->http, &o, registry_answered, c, err);
    free(text);
    if (req == NULL) {
        free(c);
        return -1;
    }
    return 0;
}

void billing_registry_error(int status, json_t *body, lw_err_t *err)
{
    json_t *d0 = json_array_get(json_object_get(body, "details"), 0);
    const char *name = json_string_value(json_object_get(d0, "name"));
    const char *msg = json_string_value(json_object_get(body, "message"));
    lw_err_set(err, &lw_err_tenant_registry_failed, "the tenant registry failed: %d %s: %s", status,
               name != NULL ? name : "error", msg != NULL ? msg : "");
    lw_err_attr(err, "reason", name != NULL ? name : "error");
}

static void registry_put_limits(json_t *tenant, json_t *paths, const int64_t *limits)
{
    for (int k = 0; k < TN_LIMIT_COUNT; k++) {
        const char *f = tn_limit_field((tn_limit_kind_t)k);
        if (limits[k] == TN_UNLIMITED) {
            json_object_set_new(tenant, f, json_null());
        } else {
            char v[24];
            snprintf(v, sizeof v, "%lld", (long long)limits[k]);
            json_object_set_new(tenant, f, json_string(v));
        }
        json_array_append_new(paths, json_string(f));
    }
}

int billing_registry_update(billing_t *b, const char *tenant_id, const tn_state_t *state,
                            const char *state_description, const int64_t *limits,
                            billing_registry_cb cb, void *arg, lw_err_t *err)
{
    json_t *tenant = json_object();
    json_t *paths = json_array();
    if (state != NULL) {
        json_object_set_new(tenant, "state", json_string(tn_state_name(*state)));
        json_object_set_new(tenant, "state_description",
                            json_string(state_description != NULL ? state_description : ""));
        json_array_append_new(paths, json_string("state"));
        json_array_append_new(paths, json_string("state_description"));
    }
    if (limits != NULL)
        registry_put_limits(tenant, paths, limits);
    json_t *body = json_pack("{s:o,s:{s:o}}", "tenant", tenant, "field_mask", "paths", paths);
    char path[64 + TN_ID_MAX];
    snprintf(path, sizeof path, "/api/v3/tenants/%s", tenant_id);
    int rc = billing_registry_send(b, "PUT", path, body, cb, arg, err);
    json_decref(body);
    return rc;
}

int billing_registry_create(billing_t *b, const char *tenant_id, const char *name,
                            const char *description, const int64_t *limits, json_t *initial_user,
                            billing_registry_cb cb, void *arg, lw_err_t *err)
{
    json_t *tenant =
        json_pack("{s:{s:s},s:s,s:s}", "ids", "tenant_id", tenant_id, "name",
                  name != NULL ? name : "", "description", description != NULL ? description : "");
    json_object_set_new(tenant, "state", json_string(tn_state_name(TN_STATE_APPROVED)));
    json_t *paths = json_array();
    registry_put_limits(tenant, paths, limits);
    json_decref(paths);
    json_t *body = json_pack("{s:o}", "tenant", tenant);
    if (initial_user != NULL)
        json_object_set(body, "initial_user", initial_user);
    int rc = billing_registry_send(b, "POST", "/api/v3/tenants", body, cb, arg, err);
    json_decref(body);
    return rc;
}
