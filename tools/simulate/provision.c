/* Provisioning the simulated fleet on a stack through its HTTP API, or printing the
 * requests as JSON lines for a script ({"method","path","body"} per line, path under
 * /api/v3). Each device's requests run in order (Identity Server, then Network Server, then
 * Join Server part); devices run up to PROV_PARALLEL at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/mem.h"
#include "sim_run.h"

#define PROV_PARALLEL         8
#define PROV_MAX_ERRORS_SHOWN 5

typedef struct prov_chain {
    sim_prov_req_t reqs[5];
    size_t n, next;
} prov_chain_t;

typedef struct prov {
    sim_t *s;
    prov_chain_t *chains;
    size_t n_chains, next_chain, running;
    uint64_t ok, failed;
    char auth[300];
    size_t base_len;
} prov_t;

static void prov_next(prov_t *p, prov_chain_t *ch);

/* The request in flight of each chain carries its prov through this wrapper. */
typedef struct prov_call {
    prov_t *p;
    prov_chain_t *ch;
} prov_call_t;

static void prov_cb(void *arg, lw_http_client_req_t *req, const lw_http_client_response_t *res,
                    const lw_err_t *err)
{
    (void)req;
    prov_call_t *call = arg;
    prov_t *p = call->p;
    prov_chain_t *ch = call->ch;
    free(call);
    sim_prov_req_t *r = &ch->reqs[ch->next];
    bool ok = res != NULL && res->status >= 200 && res->status < 300;
    if (res != NULL && res->status == 409 && r->conflict_ok)
        ok = true;
    if (ok) {
        p->ok++;
        ch->next++;
    } else {
        if (p->failed < PROV_MAX_ERRORS_SHOWN) {
            if (res != NULL) {
                json_t *b = json_loadb((const char *)res->body, res->body_len, 0, NULL);
                json_t *d0 = json_array_get(json_object_get(b, "details"), 0);
                const char *name = json_string_value(json_object_get(d0, "name"));
                const char *msg = json_string_value(json_object_get(b, "message"));
                fprintf(stderr, "simulate: %s %s: %d %s%s%s\n", r->method, r->path, res->status,
                        name != NULL ? name : "", msg != NULL ? ": " : "", msg != NULL ? msg : "");
                json_decref(b);
            } else {
                fprintf(stderr, "simulate: %s %s: %s\n", r->method, r->path, err->message);
            }
        }
        p->failed++;
        ch->next = ch->n; /* the rest of this device's requests depend on this one */
    }
    p->running--;
    prov_next(p, ch->next < ch->n ? ch : NULL);
}

static bool prov_send(prov_t *p, prov_chain_t *ch)
{
    sim_prov_req_t *r = &ch->reqs[ch->next];
    char url[512];
    /* A split deployment serves each server's device API in its own process. */
    const char *base = p->s->o.api;
    if (strncmp(r->path, "/ns/", 4) == 0 && p->s->o.ns_api != NULL)
        base = p->s->o.ns_api;
    else if (strncmp(r->path, "/js/", 4) == 0 && p->s->o.js_api != NULL)
        base = p->s->o.js_api;
    snprintf(url, sizeof url, "%s/api/v3%s", base, r->path);
    char *body = json_dumps(r->body, JSON_COMPACT);
    lw_http_client_header_t hdr[3] = {
        {"Content-Type", "application/json"},
        {"Authorization", p->auth},
        {"X-Tenant-ID", p->s->o.tenant},
    };
    lw_http_client_req_opts_t ro = {.method = r->method,
                                    .url = url,
                                    .headers = hdr,
                                    .nheaders = 3,
                                    .body = body,
                                    .body_len = strlen(body)};
    prov_call_t *call = lw_malloc(sizeof *call);
    call->p = p;
    call->ch = ch;
    lw_err_t err;
    lw_err_clear(&err);
    lw_http_client_req_t *req = lw_http_client_send(p->s->http, &ro, prov_cb, call, &err);
    free(body);
    if (req == NULL) {
        fprintf(stderr, "simulate: %s %s: %s\n", r->method, r->path, err.message);
        free(call);
        p->failed++;
        return false;
    }
    p->running++;
    return true;
}

/* Continues chain ch (NULL: none to continue) and fills free slots with new chains. */
static void prov_next(prov_t *p, prov_chain_t *ch)
{
    if (ch != NULL && !prov_send(p, ch))
        ch->next = ch->n;
    while (p->running < PROV_PARALLEL && p->next_chain < p->n_chains) {
        /* The application (chain 0) must exist before any device: it runs alone. */
        if (p->next_chain == 1 && (p->running > 0 || p->chains[0].next < p->chains[0].n))
            break;
        prov_chain_t *c = &p->chains[p->next_chain++];
        if (c->n > 0 && !prov_send(p, c))
            c->next = c->n;
    }
    if (p->running == 0 && p->next_chain >= p->n_chains && p->s->http != NULL)
        lw_http_client_close(p->s->http, NULL, NULL);
}

int sim_provision(sim_t *s)
{
    prov_t p;
    memset(&p, 0, sizeof p);
    p.s = s;
    sim_prov_opts_t po = {.parts = s->o.parts,
                          .application_id = s->o.application_id,
                          .owner = s->o.owner,
                          .frequency_plan_id = s->o.frequency_plan_id,
                          .rx1_delay_s = s->o.rx1_delay_s,
                          .supports_class_c = s->o.class_c,
                          .no_duty_cycle = s->o.no_duty_cycle,
                          .configured = s->o.configured};
    p.n_chains = 1 + s->o.n_gateways + s->o.n_devices;
    p.chains = lw_calloc(p.n_chains, sizeof p.chains[0]);
    p.chains[0].n = sim_prov_application(&po, p.chains[0].reqs);
    for (uint32_t g = 0; g < s->o.n_gateways; g++)
        p.chains[1 + g].n = sim_prov_gateway(&po, s->gws[g].eui, p.chains[1 + g].reqs);
    for (uint32_t i = 0; i < s->o.n_devices; i++) {
        prov_chain_t *c = &p.chains[1 + s->o.n_gateways + i];
        c->n = sim_prov_device(&po, &s->devs[i], c->reqs, 5);
    }

    int rc = 0;
    if (s->o.provision_json) {
        for (size_t k = 0; k < p.n_chains; k++)
            for (size_t j = 0; j < p.chains[k].n; j++) {
                sim_prov_req_t *r = &p.chains[k].reqs[j];
                char path[300];
                snprintf(path, sizeof path, "/api/v3%s", r->path);
                json_t *line =
                    json_pack("{sssssO}", "method", r->method, "path", path, "body", r->body);
                char *txt = json_dumps(line, JSON_COMPACT);
                printf("%s\n", txt);
                free(txt);
                json_decref(line);
            }
        fflush(stdout);
    }
    if (s->o.api != NULL) {
        if (s->o.admin_key != NULL)
            snprintf(p.auth, sizeof p.auth, "TenantAdminKey %s", s->o.admin_key);
        else
            snprintf(p.auth, sizeof p.auth, "Bearer %s", s->o.api_key);
        lw_err_t err;
        lw_err_clear(&err);
        s->http = lw_http_client_new(s->loop, NULL, &err);
        if (s->http == NULL) {
            fprintf(stderr, "simulate: %s\n", err.message);
            rc = 1;
        } else {
            prov_next(&p, NULL);
            uv_run(s->loop, UV_RUN_DEFAULT);
            lw_http_client_free(s->http);
            s->http = NULL;
            if (p.failed > 0) {
                fprintf(stderr, "simulate: provisioning: %llu requests failed, %llu done\n",
                        (unsigned long long)p.failed, (unsigned long long)p.ok);
                rc = 1;
            } else if (!s->o.json) {
                fprintf(stderr,
                        "simulate: provisioned %u gateways and %u devices (%llu requests)\n",
                        s->o.n_gateways, s->o.n_devices, (unsigned long long)p.ok);
            }
        }
    }
    for (size_t k = 0; k < p.n_chains; k++)
        for (size_t j = 0; j < p.chains[k].n; j++)
            json_decref(p.chains[k].reqs[j].body);
    free(p.chains);
    return rc;
}
