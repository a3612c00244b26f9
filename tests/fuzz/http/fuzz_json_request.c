/* fuzz_json_request: the HTTP server's request decoding without a socket.
 *
 * Input: "METHOD TARGET\n" then the body, TARGET being "path?query". As cluster/http.c
 * does for a request: the path is percent-decoded (lw_http__url_decode) and goes through the
 * router (a table shaped like the API's), the query through lw_http__query_parse, the body
 * through lw_http__json_parse, every error through lw_http_err_json; the whole input is
 * also read as an HTTP/1 head by lw_http__framing_check and its first line as a Host value
 * by lw_http__host_normalize. The API pipeline's readers of request text (cluster/api_codec.h)
 * get what they would: `field_mask`, `limit`, `page`, `order` from the query, "field_mask"
 * from the body, and every string of the body as an RFC 3339 time. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/api_codec.h"
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

static const char *const mask_paths[] = {"name",  "description",          "attributes",
                                         "state", "version_ids.brand_id", NULL};
static const lw_api_fields_t mask_fields = {.paths = mask_paths, .prefix = "tenant."};
static const lw_api_order_t orders[] = {
    {"created_at", "created_at ASC", "created_at DESC"},
    {"name", "name ASC", "name DESC"},
};

/* What the API pipeline reads from one query argument. */
static void api_query_arg(const lw_http__kv_t *kv)
{
    lw_err_t err;
    lw_api_mask_t m;
    lw_api_page_t p;
    const char *sql;
    if (strcmp(kv->name, "field_mask") == 0) {
        if (lw_api_mask_parse_csv(&mask_fields, kv->value, "field_mask", &m, &err) == 0) {
            if (m.n < 0 || m.n > LW_API_MASK_MAX)
                abort();
        } else {
            answer_err(&err);
        }
    } else if (strcmp(kv->name, "limit") == 0 || strcmp(kv->name, "page") == 0) {
        if (lw_api_page_parse(kv->value, kv->value, LW_API_LIMIT_MAX, &p, &err) == 0) {
            if (p.limit < 1 || p.limit > LW_API_LIMIT_MAX || p.page < 1 ||
                lw_api_page_offset(&p) < 0)
                abort();
        } else {
            answer_err(&err);
        }
    } else if (strcmp(kv->name, "order") == 0) {
        if (lw_api_order_parse(kv->value, orders, 2, &sql, &err) == 0) {
            if (sql != orders[0].asc && sql != orders[0].desc && sql != orders[1].asc &&
                sql != orders[1].desc)
                abort(); /* only table text reaches SQL */
        } else {
            answer_err(&err);
        }
    }
}

/* What the API pipeline reads from a body. */
static void api_body(const json_t *body)
{
    lw_err_t err;
    lw_api_mask_t m;
    const json_t *fm = json_object_get(body, "field_mask");
    if (lw_api_mask_parse_json(&mask_fields, fm, "field_mask", &m, &err) != 0)
        answer_err(&err);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)body, k, v) if (json_is_string(v))(void)
        lw_api_time_valid(json_string_value(v));
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

    /* A refusal names its reason; an accepted head has at most one Content-Length and not
     * both framing headers, which the checker cannot see past the blank line. */
    const char *why = lw_http__framing_check((const char *)data, size);
    if (why != NULL && why[0] == '\0')
        abort();
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
        for (int i = 0; i < n; i++) {
            if (kv[i].name == NULL || kv[i].value == NULL || kv[i].name[0] == '\0')
                abort();
            api_query_arg(&kv[i]);
        }
    }

    json_t *j = lw_http__json_parse(body, body_len, &err);
    if (j != NULL) {
        if (!json_is_object(j))
            abort();
        api_body(j);
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
