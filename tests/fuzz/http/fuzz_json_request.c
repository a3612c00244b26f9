/* fuzz_json_request: the HTTP server's request decoding without a socket.
 *
 * Input: "METHOD TARGET\n" then the body, TARGET being "path?query". As cluster/http.c
 * does for a request: the path is percent-decoded (lw_http__url_decode) and goes through the
 * router (a table shaped like the API's), the query through lw_http__query_parse, the body
 * through lw_http__json_parse, every error through lw_http_err_json; the whole input is
 * also read as an HTTP/1 head by lw_http__framing_check and its first line as a Host value
 * by lw_http__host_normalize. */
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
    if (query != NULL)
        *query = '\0';
    long dl = lw_http__url_decode(target, false);
    if (dl > (long)tlen)
        abort(); /* decoding never grows */
    size_t path_len = dl < 0 ? 0 : strlen(target);

    if (lw_http__framing_check((const char *)data, size) == NULL && size > 0) {
        /* nothing to check: any answer is fine */
    }
    char host[64];
    lw_http__host_normalize((const char *)data, head_len, host, sizeof host);
    if (strlen(host) >= sizeof host)
        abort();

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
        lw_http__kv_t kv[LW_HTTP_MAX_QUERY];
        int n = lw_http__query_parse(query + 1, kv, LW_HTTP_MAX_QUERY);
        if (n > LW_HTTP_MAX_QUERY)
            abort();
        for (int i = 0; i < n; i++)
            if (kv[i].name == NULL || kv[i].value == NULL || kv[i].name[0] == '\0')
                abort();
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
