/* fuzz_json_request: the HTTP server's request decoding without a socket.
 *
 * Input: "METHOD TARGET\n" then the body, TARGET being "path?query". The path goes
 * through the router (a table shaped like the API's), each '&'-separated query argument
 * through lw_http__query_arg_split, the body through lw_http__json_parse, and every error
 * through lw_http_err_json, as cluster/http.c does for a request. (libwebsockets has done
 * the percent-decoding before these functions see a request.) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/http_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void handler(lw_http_req_t *req, void *arg)
{
    (void)req;
    (void)arg;
}

static lw_http__router_t *router(void)
{
    static lw_http__router_t r;
    static int ready;
    if (ready)
        return &r;
    static const char *const routes[][2] = {
        {"GET", "/api/v3/tenants"},
        {"POST", "/api/v3/tenants"},
        {"GET", "/api/v3/tenants/{tenant_id}"},
        {"PUT", "/api/v3/tenants/{tenant_id}"},
        {"DELETE", "/api/v3/tenants/{tenant_id}"},
        {"GET", "/api/v3/tenants/new"},
        {"GET", "/api/v3/applications/{application_id}/devices/{device_id}"},
        {"GET", "/healthz"},
        {"GET", "/"},
    };
    lw_http__router_init(&r);
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        lw_err_t err;
        if (lw_http__router_add(&r, routes[i][0], routes[i][1], handler, NULL, &err) != 0)
            abort();
    }
    ready = 1;
    return &r;
}

/* Builds and serialises the error JSON as the server would answer it. */
static void answer_err(const lw_err_t *err)
{
    json_t *j = lw_http_err_json(err, "http:fuzz");
    if (j == NULL)
        abort(); /* the error JSON must always build */
    char *s = json_dumps(j, JSON_COMPACT);
    if (s == NULL)
        abort();
    free(s);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t head_len = nl ? (size_t)(nl - data) : size;
    const uint8_t *body = nl ? nl + 1 : data + size;
    size_t body_len = size - (size_t)(body - data);

    char *head = malloc(head_len + 1);
    if (head == NULL)
        return 0;
    memcpy(head, data, head_len);
    head[head_len] = '\0';

    char method[LW_HTTP_MAX_METHOD] = "GET";
    char *target = head;
    char *sp = strchr(head, ' ');
    if (sp != NULL) {
        *sp = '\0';
        snprintf(method, sizeof method, "%s", head);
        target = sp + 1;
    }
    size_t tlen = strlen(target); /* stops at a NUL, as a C-string path would */
    char *query = memchr(target, '?', tlen);
    size_t path_len = query ? (size_t)(query - target) : tlen;

    char *buf = malloc(path_len + 1);
    lw_http__match_t m;
    lw_err_t err;
    switch (lw_http__router_match(router(), method, target, path_len, &m, buf, path_len + 1)) {
    case LW_HTTP__MATCH_OK: {
        int captures = 0;
        for (int i = 0; i < m.route->nseg; i++)
            captures += m.route->seg[i].capture;
        if (m.nparams != captures)
            abort();
        for (int i = 0; i < m.nparams; i++)
            if (m.params[i].value[0] == '\0')
                abort(); /* a capture never matches an empty segment */
        break;
    }
    case LW_HTTP__MATCH_METHOD:
        lw_err_set(&err, &lw_err_method_not_allowed, "method %s not allowed on %.*s", method,
                   (int)path_len, target);
        answer_err(&err);
        break;
    case LW_HTTP__MATCH_NOT_FOUND:
    case LW_HTTP__MATCH_BAD_PATH:
    default:
        lw_err_set(&err, &lw_err_not_found, "no route for %s %.*s", method, (int)path_len, target);
        answer_err(&err);
        break;
    }

    if (query != NULL) {
        lw_http__kv_t kv;
        char *arg = query + 1;
        for (;;) {
            char *amp = strchr(arg, '&');
            if (amp != NULL)
                *amp = '\0';
            if (lw_http__query_arg_split(arg, &kv) && (kv.name == NULL || kv.value == NULL))
                abort();
            if (amp == NULL)
                break;
            arg = amp + 1;
        }
    }

    json_t *j = lw_http__json_parse(body, body_len, &err);
    if (j != NULL) {
        if (!json_is_object(j))
            abort();
        char *s = json_dumps(j, JSON_COMPACT);
        free(s);
        json_decref(j);
    } else {
        if (strcmp(lw_err_name(&err), "invalid_json") != 0)
            abort();
        answer_err(&err);
    }
    free(buf);
    free(head);
    return 0;
}
