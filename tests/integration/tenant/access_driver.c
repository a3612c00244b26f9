/* tn_access_driver [lwstack flags...]: a runtime with the tenant component only and one
 * route that asks the access checker (tenant/access.h), for tests/integration/test_access.sh:
 *
 *   GET /check/{entity_type}/{entity_id}?need=RIGHT_A,RIGHT_B
 *       (tenant from X-Tenant-ID or the host, the caller's Authorization passed on)
 *   → 200 {"rights":[...]}  or the checker's error in The Things Stack's error shape
 *   → 400 invalid_field when the checker refuses the entity type
 *
 * It is a server that is not the Identity Server: it links tenant (and cluster) only, as the
 * GS, NS and JS do, and reaches the IS through tenancy.identity-server-uri. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cluster/log.h"
#include "cluster/mem.h"
#include "cluster/runtime.h"
#include "tenant/access.h"
#include "tenant/tenant.h"

extern char **environ;

#define DRIVER_MAX_NEED 16

static void driver_checked(void *arg, const tn_rights_t *held, const lw_err_t *err)
{
    lw_http_req_t *req = arg;
    if (err != NULL) {
        lw_http_respond_err(req, err);
        return;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < held->n; i++)
        json_array_append_new(a, json_string(held->names[i]));
    json_t *o = json_object();
    json_object_set_new(o, "rights", a);
    lw_http_respond_json(req, 200, o);
}

static void driver_check(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    tn_access_t *a = arg;
    char buf[1024];
    const char *need[DRIVER_MAX_NEED];
    size_t n = 0;
    const char *q = lw_http_query(req, "need");
    snprintf(buf, sizeof buf, "%s", q != NULL ? q : "");
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL && n < DRIVER_MAX_NEED;
         tok = strtok_r(NULL, ",", &save))
        need[n++] = tok;
    if (tn_access_check(a, t, lw_http_header(req, "authorization"), lw_http_param(req, "type"),
                        lw_http_param(req, "id"), need, n, driver_checked, req) != 0)
        lw_http_respond_errorf(req, &lw_err_invalid_field, "not an entity the checker serves");
}

static int driver_init(lw_rt_t *rt, void **state, lw_err_t *err)
{
    *state = NULL;
    tn_t *tn = tn_from_runtime(rt);
    tn_access_t *a = tn_access_from_runtime(rt);
    if (tn == NULL || a == NULL)
        return lw_err_set(err, &lw_err_internal, "the tenant component is not initialised");
    return tn_route(tn, "GET", "/check/{type}/{id}", driver_check, a);
}

static const lw_component_t driver_component = {
    .name = "access-driver",
    .help = "GET /check/{type}/{id}?need=...",
    .init = driver_init,
};

int main(int argc, char **argv)
{
    json_set_alloc_funcs(lw_malloc, free);
    lw_config_t *cfg = lw_config_new();
    lw_err_t err;
    lw_err_clear(&err);
    int rc = 1;
    lw_rt_t *rt = NULL;
    if (lw_rt_config_register(cfg) != 0 || tn_component.config_register(cfg) != 0) {
        fprintf(stderr, "tn_access_driver: cannot register the configuration\n");
        goto out;
    }
    if (lw_config_load_env(cfg, environ, &err) != 0 ||
        lw_config_parse_flags(cfg, &argc, argv, &err) != 0)
        goto fail;
    rt = lw_rt_new(cfg, &err);
    if (rt == NULL || lw_rt_add(rt, &tn_component, &err) != 0 ||
        lw_rt_add(rt, &driver_component, &err) != 0 || lw_rt_run(rt, &err) != 0)
        goto fail;
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "tn_access_driver: %s\n", err.message);
out:
    lw_rt_free(rt);
    lw_config_free(cfg);
    return rc;
}
