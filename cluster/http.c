/* The HTTP server (http.h): h2o on the caller's libuv loop.
 *
 * We own the listening socket and every accepted uv_tcp_t (conn_t); h2o owns the protocol
 * on it from h2o_accept until it closes the handle, which calls conn_closed. Every request
 * reaches on_request, which checks the caps, decodes the path and query into an lw_http_req_t
 * of ours and calls the route's handler. The handler answers now or later; the answer goes
 * out through h2o_send_inline. Ownership of an lw_http_req_t: the handler from dispatch
 * until it answers. h2o's own request (h2o_req_t) can go first (an HTTP/2 client resets its
 * stream or leaves): a small link in h2o's request pool notices that and marks ours dead, so
 * that the late answer is dropped.
 *
 * Why h2o and not libwebsockets 4.1.6, which this file used before: two pipelined requests
 * where the second had a body made lws hand the second request's own head over as its body,
 * then spin at 100% CPU in lws_service_do_ripe_rxflow, ignoring SIGTERM; it also dropped
 * unknown headers such as X-Tenant-ID over HTTP/2, refused chunked bodies and answered
 * unknown methods with an HTML page. */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <h2o.h>
#include <h2o/http2.h>
#include <h2o/websocket.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "cluster/http.h"
#include "cluster/http_private.h"
#include "cluster/json.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "cluster/metrics.h"

#define REQ_ARENA_BYTES   4096u /* inline strings of a request: path, query, headers */
#define REQ_MAX_RESP_HDRS 16    /* response headers added by a handler */
#define HOST_MAX          256

#define DEFAULT_MAX_BODY      (1u << 20)
#define DEFAULT_MAX_HEADER    8192u
#define DEFAULT_MAX_URI       8192u
#define DEFAULT_TIMEOUT_MS    30000
#define DEFAULT_IDLE_MS       60000
#define DEFAULT_MAX_CONNS     10000u
#define DEFAULT_WS_MAX_MSG    (1u << 20)
#define DEFAULT_WS_MAX_QUEUED 1024u
#define DEFAULT_STREAM_QUEUED (1u << 20)

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t cap, used;
    char data[];
} arena_chunk_t;

/* Lives in h2o's request pool; h2o frees it (calling link_disposed) with its request. */
typedef struct req_link {
    lw_http_req_t *req; /* NULL once ours is answered or detached */
} req_link_t;

struct lw_http_req {
    lw_http_t *http;
    h2o_req_t *h2o;             /* NULL once answered, detached or disposed by h2o */
    req_link_t *link;           /* in h2o's pool while h2o is set */
    lw_http_req_t *prev, *next; /* http->live */
    bool answered;
    h2o_timeout_entry_t timeout; /* http->handler_timeout while the handler holds it */

    char method[LW_HTTP_MAX_METHOD];
    const char *path;
    char host[HOST_MAX];
    const lw_http__route_t *route;
    int nparams;
    lw_http__kv_t params[LW_HTTP_MAX_PARAMS];
    int nquery;
    lw_http__kv_t query[LW_HTTP_MAX_QUERY];
    char correlation_id[40];
    uint64_t start_ns;
    json_t *json;

    int nresp_headers;
    lw_http__kv_t resp_headers[REQ_MAX_RESP_HDRS];

    size_t arena_used;
    arena_chunk_t *arena_extra;
    char arena[REQ_ARENA_BYTES];
};

typedef struct conn {
    uv_tcp_t tcp;
    lw_http_t *http;
    struct conn *prev, *next;
    bool h2o_owned; /* h2o closes it */
} conn_t;

struct lw_ws {
    lw_http_t *http;
    h2o_websocket_conn_t *h2o;
    lw_ws_callbacks_t cb;
    void *arg;
    bool closing, closed;
    bool in_callback; /* inside h2o_websocket_proceed: it sends what is queued before returning */
    char peer[64];
};

typedef enum http_state {
    HTTP_NEW,
    HTTP_RUNNING,
    HTTP_STOPPING,
    HTTP_STOPPED,
} http_state_t;

struct lw_http {
    uv_loop_t *loop;
    http_state_t state;
    char name[16];
    char listen[128];
    char listen_key[64];
    char host[96];
    int port_cfg;
    int port;
    char *tls_cert, *tls_key;
    size_t max_body, max_header, max_uri, max_conns, ws_max_msg, ws_max_queued;
    long long timeout_ms, idle_ms;

    uv_tcp_t listener;
    bool listener_open;

    h2o_globalconf_t conf;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    bool conf_inited, ctx_inited;
    SSL_CTX *ssl;
    h2o_timeout_t handler_timeout;

    lw_http__router_t router;
    lw_metric_t *m_requests;
    lw_metric_t *m_duration;
    lw_metric_t *m_connections;
    lw_metric_series_t *s_connections;

    conn_t *conns;
    size_t nconns;
    lw_http_req_t *live;
    size_t nlive;              /* requests held by handlers */
    lw_http_stream_t *streams; /* streaming responses under way */
    lw_metric_t *m_streams_closed;
    uint64_t rng;
    char *scratch; /* JSON answers are rendered here, then copied by h2o */
    size_t scratch_len, scratch_cap;

    void (*stop_done)(void *arg);
    void *stop_arg;
    bool free_pending;
};

/* Our handler and filter, with a way back to the server. */
typedef struct lw_h2o_handler {
    h2o_handler_t super;
    lw_http_t *http;
} lw_h2o_handler_t;

typedef struct lw_h2o_filter {
    h2o_filter_t super;
    lw_http_t *http;
} lw_h2o_filter_t;

/* ---- configuration ---------------------------------------------------------------- */

/* Parses "host:port", ":port", "[v6]:port". host gets "" for all interfaces. */
static int listen_parse(const char *s, char *host, size_t hostcap, int *port)
{
    const char *colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        if ((size_t)(close - s - 1) >= hostcap)
            return -1;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || (size_t)(colon - s) >= hostcap || memchr(s, ':', (size_t)(colon - s)))
            return -1;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
    }
    const char *p = colon + 1;
    if (*p == '\0' || strlen(p) > 5)
        return -1;
    long v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

static int check_listen(const char *value, char *why, size_t why_len)
{
    char host[96];
    int port;
    if (listen_parse(value, host, sizeof host, &port) != 0) {
        snprintf(why, why_len, "expected host:port, :port or [ipv6]:port with a port 0-65535");
        return -1;
    }
    return 0;
}

static const lw_cfg_opt_t http_opts[] = {
    {.key = "http.listen",
     .type = LW_CFG_STRING,
     .def = ":1885",
     .help = "Address of the HTTP API: host:port, :port (all interfaces) or [ipv6]:port; port 0 "
             "picks a free port",
     .check = check_listen},
    {.key = "http.tls.certificate",
     .type = LW_CFG_STRING,
     .help = "PEM certificate (chain) file; with http.tls.key set, the listener serves HTTPS "
             "(HTTP/2 by ALPN) instead of plain HTTP"},
    {.key = "http.tls.key",
     .type = LW_CFG_STRING,
     .help = "PEM private key file of http.tls.certificate (a path, not the key)"},
    {.key = "http.max-body-bytes",
     .type = LW_CFG_INT,
     .def = "1048576",
     .help = "Largest request body accepted; a larger one is answered 413 request_too_large",
     .min = 0,
     .max = 1073741824},
    {.key = "http.max-header-bytes",
     .type = LW_CFG_INT,
     .def = "8192",
     .help = "Room for a request's header names and values; more is answered 431 "
             "request_header_fields_too_large",
     .min = 1024,
     .max = 262144},
    {.key = "http.max-uri-bytes",
     .type = LW_CFG_INT,
     .def = "8192",
     .help = "Longest request target (path and query); longer is answered 414 uri_too_long",
     .min = 256,
     .max = 262144},
    {.key = "http.max-connections",
     .type = LW_CFG_INT,
     .def = "10000",
     .help = "Connections open at once; more are accepted and closed at once",
     .min = 1,
     .max = 1000000},
    {.key = "http.request-timeout",
     .type = LW_CFG_DURATION,
     .def = "30s",
     .help = "Time a request may take from its first byte to the end of its answer, and an idle "
             "HTTP/1.1 keep-alive connection may wait for the next; then the connection is closed",
     .min = 1000,
     .max = 3600000},
    {.key = "http.idle-timeout",
     .type = LW_CFG_DURATION,
     .def = "60s",
     .help = "Time an idle HTTP/2 connection is kept open",
     .min = 1000,
     .max = 3600000},
};

int lw_http_config_register(lw_config_t *cfg)
{
    return lw_config_register(cfg, "http", http_opts, sizeof http_opts / sizeof http_opts[0]);
}

/* ---- request memory ----------------------------------------------------------------- */

static char *req_alloc(lw_http_req_t *req, size_t n)
{
    if (REQ_ARENA_BYTES - req->arena_used >= n) {
        char *p = req->arena + req->arena_used;
        req->arena_used += n;
        return p;
    }
    for (arena_chunk_t *c = req->arena_extra; c != NULL; c = c->next) {
        if (c->cap - c->used >= n) {
            char *p = c->data + c->used;
            c->used += n;
            return p;
        }
    }
    size_t cap = n > REQ_ARENA_BYTES ? n : REQ_ARENA_BYTES;
    arena_chunk_t *c = lw_malloc(sizeof *c + cap);
    c->cap = cap;
    c->used = n;
    c->next = req->arena_extra;
    req->arena_extra = c;
    return c->data;
}

static char *req_strndup(lw_http_req_t *req, const char *s, size_t n)
{
    char *p = req_alloc(req, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static void http_maybe_free(lw_http_t *http);

static void req_free(lw_http_req_t *req)
{
    lw_http_t *http = req->http;
    if (req->prev)
        req->prev->next = req->next;
    else if (http->live == req)
        http->live = req->next;
    if (req->next)
        req->next->prev = req->prev;
    http->nlive--;
    json_decref(req->json);
    arena_chunk_t *c = req->arena_extra;
    while (c != NULL) {
        arena_chunk_t *n = c->next;
        free(c);
        c = n;
    }
    free(req);
    http_maybe_free(http);
}

/* h2o frees its request (client gone, stream reset, server stop): ours is dead. */
static void link_disposed(void *p)
{
    req_link_t *link = p;
    if (link->req != NULL) {
        h2o_timeout_unlink(&link->req->timeout);
        link->req->h2o = NULL;
        link->req->link = NULL;
    }
}

/* Lets go of h2o's request: nothing of ours points into it afterwards. */
static void req_unlink_h2o(lw_http_req_t *req)
{
    h2o_timeout_unlink(&req->timeout);
    if (req->link != NULL)
        req->link->req = NULL;
    req->link = NULL;
    req->h2o = NULL;
}

/* ---- answering ---------------------------------------------------------------------- */

/* Reason phrases, all in one array so that a response of ours can be told from one h2o
 * generated itself (its reason points elsewhere): see error_filter. */
static const char reason_text[] = "OK\0Created\0Accepted\0No Content\0Switching Protocols\0"
                                  "Moved Permanently\0Found\0Not Modified\0Bad Request\0"
                                  "Unauthorized\0Forbidden\0Not Found\0Method Not Allowed\0"
                                  "Conflict\0Payload Too Large\0URI Too Long\0"
                                  "Unprocessable Entity\0Too Many Requests\0"
                                  "Request Header Fields Too Large\0Internal Server Error\0"
                                  "Not Implemented\0Bad Gateway\0Service Unavailable\0"
                                  "Gateway Timeout\0Client Closed Request\0Expectation Failed\0"
                                  "Precondition Failed\0Gone\0";

static const struct {
    int status;
    const char *phrase;
} reason_map[] = {
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {304, "Not Modified"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {409, "Conflict"},
    {410, "Gone"},
    {412, "Precondition Failed"},
    {413, "Payload Too Large"},
    {414, "URI Too Long"},
    {417, "Expectation Failed"},
    {422, "Unprocessable Entity"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {499, "Client Closed Request"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
};

static const char *reason_for(int status)
{
    const char *want = "OK";
    for (size_t i = 0; i < sizeof reason_map / sizeof reason_map[0]; i++)
        if (reason_map[i].status == status) {
            want = reason_map[i].phrase;
            break;
        }
    /* The same text inside reason_text. */
    for (const char *p = reason_text; p < reason_text + sizeof reason_text - 1; p += strlen(p) + 1)
        if (strcmp(p, want) == 0)
            return p;
    return reason_text;
}

static bool reason_is_ours(const char *r)
{
    return r >= reason_text && r < reason_text + sizeof reason_text;
}

/* Counts an answer by label values (the slow path: requests no route matched). */
static void count(lw_http_t *http, const char *route, const char *method, int status,
                  uint64_t start_ns)
{
    char st[8];
    snprintf(st, sizeof st, "%d", status);
    const char *values[] = {route, method, st, NULL};
    lw_metric_add(http->m_requests, values, 1);
    values[2] = NULL;
    lw_metric_observe(http->m_duration, values, (double)(uv_hrtime() - start_ns) / 1e9);
}

#define ROUTE_STATUSES 12 /* distinct (status, HEAD) pairs a route keeps handles for */

/* A route's metric series, resolved on first use: the hot path does no label lookup. */
typedef struct route_stats {
    lw_metric_series_t *duration[2]; /* [is HEAD] */
    struct {
        int status;
        bool head;
        lw_metric_series_t *s;
    } requests[ROUTE_STATUSES];
    int n;
} route_stats_t;

static void count_route(lw_http_t *http, lw_http__route_t *rt, const char *method, int status,
                        uint64_t start_ns)
{
    if (http->m_requests == NULL)
        return;
    route_stats_t *st = rt->stats;
    if (st == NULL)
        st = rt->stats = lw_calloc(1, sizeof *st);
    bool head = strcmp(method, "HEAD") == 0;
    lw_metric_series_t *req = NULL;
    for (int i = 0; i < st->n && req == NULL; i++)
        if (st->requests[i].status == status && st->requests[i].head == head)
            req = st->requests[i].s;
    if (req == NULL) {
        if (st->n == ROUTE_STATUSES) {
            count(http, rt->pattern, method, status, start_ns);
            return;
        }
        char sv[8];
        snprintf(sv, sizeof sv, "%d", status);
        req = lw_metric_series(http->m_requests,
                               (const char *const[]){rt->pattern, method, sv, NULL});
        st->requests[st->n].status = status;
        st->requests[st->n].head = head;
        st->requests[st->n++].s = req;
    }
    if (st->duration[head] == NULL)
        st->duration[head] =
            lw_metric_series(http->m_duration, (const char *const[]){rt->pattern, method, NULL});
    lw_metric_series_add(req, 1);
    lw_metric_series_observe(st->duration[head], (double)(uv_hrtime() - start_ns) / 1e9);
}

static void count_req(lw_http_req_t *req, int status)
{
    if (req->route != NULL)
        count_route(req->http, (lw_http__route_t *)req->route, req->method, status, req->start_ns);
    else
        count(req->http, "unmatched", req->method, status, req->start_ns);
}

/* Sends status and body on h2o's request (it copies them). */
static void send_h2o(lw_http_t *http, h2o_req_t *h, int status, const char *ctype,
                     const lw_http__kv_t *extra, int nextra, const void *body, size_t len)
{
    h->res.status = status;
    h->res.reason = reason_for(status);
    h->res.content_length = len;
    h2o_add_header(&h->pool, &h->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype, strlen(ctype));
    for (int i = 0; i < nextra; i++)
        h2o_add_header_by_str(&h->pool, &h->res.headers, extra[i].name, strlen(extra[i].name), 1,
                              NULL, extra[i].value, strlen(extra[i].value));
    h2o_add_header_by_str(&h->pool, &h->res.headers, H2O_STRLIT("access-control-expose-headers"), 0,
                          NULL, H2O_STRLIT("X-Total-Count"));
    if (http->state != HTTP_RUNNING)
        h->http1_is_persistent = 0;
    h2o_send_inline(h, len ? body : "", len);
}

/* The answer may only be given once. */
static bool answer_allowed(lw_http_req_t *req)
{
    if (req == NULL)
        return false;
    if (req->answered) {
        lw_log(LW_LOG_ERROR, "http", "request answered twice", "path", req->path, NULL);
        return false;
    }
    req->answered = true;
    return true;
}

static void finish(lw_http_req_t *req, int status, const char *ctype, const void *body, size_t len)
{
    lw_http_t *http = req->http;
    count_req(req, status);
    h2o_req_t *h = req->h2o;
    req_unlink_h2o(req);
    if (h != NULL)
        send_h2o(http, h, status, ctype, req->resp_headers, req->nresp_headers, body, len);
    req_free(req);
}

void lw_http_respond(lw_http_req_t *req, int status, const char *content_type, const void *body,
                     size_t len)
{
    if (!answer_allowed(req))
        return;
    finish(req, status, content_type ? content_type : "application/octet-stream", body, len);
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    lw_http_t *http = data;
    if (http->scratch_len + size > http->scratch_cap) {
        size_t cap = http->scratch_cap ? http->scratch_cap : 4096;
        while (cap < http->scratch_len + size)
            cap *= 2;
        http->scratch = lw_realloc(http->scratch, cap);
        http->scratch_cap = cap;
    }
    memcpy(http->scratch + http->scratch_len, buffer, size);
    http->scratch_len += size;
    return 0;
}

/* Renders j (stolen) into http->scratch; returns -1 when it cannot. */
static int render_json(lw_http_t *http, json_t *j)
{
    http->scratch_len = 0;
    int rc =
        j == NULL ? -1 : json_dump_callback(j, dump_cb, http, JSON_COMPACT | lw_json_real_flags(j));
    json_decref(j);
    return rc;
}

static const char internal_json[] =
    "{\"code\":13,\"message\":\"error:pkg/cluster:internal (cannot encode response)\"}";

void lw_http_respond_json(lw_http_req_t *req, int status, json_t *body)
{
    if (!answer_allowed(req)) {
        json_decref(body);
        return;
    }
    lw_http_t *http = req->http;
    if (render_json(http, body ? body : json_object()) != 0) {
        finish(req, 500, "application/json", internal_json, sizeof internal_json - 1);
        return;
    }
    finish(req, status, "application/json", http->scratch, http->scratch_len);
}

json_t *lw_http_err_json(const lw_err_t *err, const char *correlation_id)
{
    const lw_err_def_t *def = err && err->def ? err->def : &lw_err_internal;
    const char *message = err && err->def && err->message[0] ? err->message : def->message_format;
    char full[512];
    snprintf(full, sizeof full, "error:%s:%s (%s)", def->ns, def->name, message);
    json_t *attrs = json_object();
    for (int i = 0; err && err->def && i < err->nattrs && i < LW_ERR_MAX_ATTRS; i++) {
        const lw_err_attr_t *a = &err->attrs[i];
        json_t *v = NULL;
        if (a->is_number)
            v = json_integer(strtoll(a->value, NULL, 10));
        else
            v = json_string(a->value);
        if (v == NULL) /* not UTF-8: keep the key, lose the value */
            v = json_string("");
        json_object_set_new(attrs, a->key, v);
    }
    json_t *detail = json_pack("{s:s, s:s, s:s, s:s, s:o, s:i}", "@type",
                               "type.googleapis.com/ttn.lorawan.v3.ErrorDetails", "namespace",
                               def->ns, "name", def->name, "message_format", def->message_format,
                               "attributes", attrs, "code", def->grpc_code);
    if (detail != NULL && correlation_id != NULL)
        json_object_set_new(detail, "correlation_id", json_string(correlation_id));
    json_t *msg = json_string(full);
    if (msg == NULL) /* a message that is not UTF-8 */
        msg = json_string(def->message_format);
    return json_pack("{s:i, s:o, s:[o]}", "code", def->grpc_code, "message", msg, "details",
                     detail);
}

void lw_http_respond_err(lw_http_req_t *req, const lw_err_t *err)
{
    if (req == NULL || req->answered) {
        (void)answer_allowed(req);
        return;
    }
    const lw_err_def_t *def = err && err->def ? err->def : &lw_err_internal;
    lw_http_respond_json(req, def->http_status, lw_http_err_json(err, lw_http_correlation_id(req)));
}

void lw_http_add_header(lw_http_req_t *req, const char *name, const char *value)
{
    if (req == NULL || name == NULL || value == NULL || req->nresp_headers == REQ_MAX_RESP_HDRS)
        return;
    char *n = req_strndup(req, name, strlen(name));
    char *v = req_strndup(req, value, strlen(value));
    for (char *c = n; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    req->resp_headers[req->nresp_headers].name = n;
    req->resp_headers[req->nresp_headers].value = v;
    req->nresp_headers++;
}

void lw_http_respond_errorf(lw_http_req_t *req, const lw_err_def_t *def, const char *fmt, ...)
{
    lw_err_t err;
    va_list ap;
    va_start(ap, fmt);
    lw_err_vset(&err, def, fmt, ap);
    va_end(ap);
    lw_http_respond_err(req, &err);
}

/* ---- h2o's own refusals, in our error shape ------------------------------------------- */

/* h2o answers some requests itself before they reach on_request (a body over the cap, broken
 * chunked encoding or Content-Length, an unknown Expect). This filter sees those answers
 * (their reason phrase is not one of ours) and replaces the plain-text body by The Things
 * Stack's error JSON, and counts them. */
typedef struct err_ostream {
    h2o_ostream_t super;
    h2o_iovec_t body;
    bool head;
} err_ostream_t;

static void err_do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
                        h2o_send_state_t state)
{
    (void)bufs;
    (void)bufcnt;
    err_ostream_t *os = (err_ostream_t *)self;
    if (h2o_send_state_is_in_progress(state) || os->head)
        h2o_ostream_send_next(self, req, NULL, 0, state);
    else
        h2o_ostream_send_next(self, req, &os->body, 1, state);
}

static void error_filter(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    lw_http_t *http = ((lw_h2o_filter_t *)self)->http;
    if (req->res.status < 400 || reason_is_ours(req->res.reason)) {
        h2o_setup_next_ostream(req, slot);
        return;
    }
    lw_err_t err;
    switch (req->res.status) {
    case 413:
        lw_err_set(&err, &lw_err_request_too_large, "request body larger than %zu bytes",
                   http->max_body);
        lw_err_attr_num(&err, "limit", (long long)http->max_body);
        break;
    case 417:
        lw_err_set(&err, &lw_err_expectation_failed, "unknown expectation");
        break;
    default:
        lw_err_set(&err, &lw_err_bad_request, "malformed request: %s",
                   req->res.reason ? req->res.reason : "refused");
        lw_err_attr(&err, "reason", req->res.reason ? req->res.reason : "refused");
        break;
    }
    char method[LW_HTTP_MAX_METHOD];
    snprintf(method, sizeof method, "%.*s", (int)req->input.method.len, req->input.method.base);
    count(http, "unmatched", method, req->res.status, uv_hrtime());
    char cid[40];
    snprintf(cid, sizeof cid, "http:%016" PRIx64 "%016" PRIx64, http->rng * 3, ~http->rng);
    if (render_json(http, lw_http_err_json(&err, cid)) != 0) {
        h2o_setup_next_ostream(req, slot);
        return;
    }
    req->res.content_length = http->scratch_len;
    h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
                   H2O_STRLIT("application/json"), 1);
    h2o_add_header_by_str(&req->pool, &req->res.headers,
                          H2O_STRLIT("access-control-expose-headers"), 0, NULL,
                          H2O_STRLIT("X-Total-Count"));
    err_ostream_t *os = (err_ostream_t *)h2o_add_ostream(req, sizeof *os, slot);
    os->super.do_send = err_do_send;
    os->body = h2o_strdup(&req->pool, http->scratch, http->scratch_len);
    os->head = h2o_memis(req->input.method.base, req->input.method.len, H2O_STRLIT("HEAD"));
    slot = &os->super.next;
    h2o_setup_next_ostream(req, slot);
}

/* ---- requests ------------------------------------------------------------------------ */

static bool method_known(const char *m)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(m, known[i]) == 0)
            return true;
    return false;
}

/* The HTTP/1 head of h as received (h2o parses in place and keeps it at the start of the
 * socket's input until the answer is written). */
static const char *http1_head(h2o_req_t *h, size_t *len)
{
    h2o_socket_t *sock =
        h->conn->callbacks->get_socket ? h->conn->callbacks->get_socket(h->conn) : NULL;
    if (sock == NULL || sock->input == NULL)
        return NULL;
    const char *b = sock->input->bytes;
    size_t n = sock->input->size;
    for (size_t i = 3; i < n; i++)
        if (b[i] == '\n' && b[i - 1] == '\r' && b[i - 2] == '\n' && b[i - 3] == '\r') {
            *len = i + 1;
            return b;
        }
    *len = n;
    return b;
}

/* Checks the caps and the framing; answers and returns -1 when the request is refused. */
static int request_check(lw_http_req_t *req, h2o_req_t *h)
{
    lw_http_t *http = req->http;
    if (!method_known(req->method)) {
        lw_http_respond_errorf(req, &lw_err_method_not_allowed, "method `%s` is not allowed",
                               req->method);
        return -1;
    }
    if (h->input.path.len > http->max_uri) {
        h->http1_is_persistent = 0;
        lw_err_t err;
        lw_err_set(&err, &lw_err_uri_too_long, "request URI longer than %zu bytes", http->max_uri);
        lw_err_attr_num(&err, "limit", (long long)http->max_uri);
        lw_http_respond_err(req, &err);
        return -1;
    }
    size_t hbytes = 0;
    for (size_t i = 0; i < h->headers.size; i++)
        hbytes += h->headers.entries[i].name->len + h->headers.entries[i].value.len;
    if (hbytes > http->max_header) {
        h->http1_is_persistent = 0;
        lw_err_t err;
        lw_err_set(&err, &lw_err_request_header_fields_too_large,
                   "request header fields larger than %zu bytes", http->max_header);
        lw_err_attr_num(&err, "limit", (long long)http->max_header);
        lw_http_respond_err(req, &err);
        return -1;
    }
    if (h->version < 0x200) {
        size_t hl = 0;
        const char *head = http1_head(h, &hl);
        const char *why = head ? lw_http__framing_check(head, hl) : NULL;
        if (why != NULL) {
            h->http1_is_persistent = 0; /* whatever follows on this connection is not read */
            lw_err_t err;
            lw_err_set(&err, &lw_err_bad_request, "malformed request: %s", why);
            lw_err_attr(&err, "reason", why);
            lw_http_respond_err(req, &err);
            return -1;
        }
    }
    return 0;
}

/* Decodes path and query into the request; answers 400 and returns -1 when malformed. */
static int request_decode(lw_http_req_t *req, h2o_req_t *h)
{
    const char *raw = h->input.path.base;
    size_t rawlen = h->input.path.len;
    const char *q = memchr(raw, '?', rawlen);
    size_t plen = q ? (size_t)(q - raw) : rawlen;
    char *path = req_strndup(req, raw, plen);
    char *query = q ? req_strndup(req, q + 1, rawlen - plen - 1) : NULL;
    if (lw_http__url_decode(path, false) < 0 ||
        (query != NULL &&
         (req->nquery = lw_http__query_parse(query, req->query, LW_HTTP_MAX_QUERY)) < 0)) {
        req->nquery = 0;
        lw_err_t err;
        lw_err_set(&err, &lw_err_bad_request, "malformed request: bad percent-encoding in `%.*s`",
                   (int)(rawlen > 128 ? 128 : rawlen), raw);
        lw_err_attr(&err, "reason", "bad percent-encoding");
        lw_http_respond_err(req, &err);
        return -1;
    }
    req->path = path;
    lw_http__host_normalize(h->input.authority.base, h->input.authority.len, req->host,
                            sizeof req->host);
    return 0;
}

static int route(lw_http_req_t *req)
{
    lw_http_t *http = req->http;
    const char *method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
    lw_http__match_t m;
    size_t plen = strlen(req->path);
    char *buf = req_alloc(req, plen + 1);
    switch (lw_http__router_match(&http->router, method, req->path, plen, &m, buf, plen + 1)) {
    case LW_HTTP__MATCH_OK:
        req->route = m.route;
        req->nparams = m.nparams;
        memcpy(req->params, m.params, sizeof m.params[0] * (size_t)m.nparams);
        return 0;
    case LW_HTTP__MATCH_METHOD:
        lw_http_respond_errorf(req, &lw_err_method_not_allowed, "method %s not allowed on %s",
                               req->method, req->path);
        return -1;
    case LW_HTTP__MATCH_BAD_PATH:
        lw_http_respond_errorf(req, &lw_err_bad_request, "malformed request: path `%s`", req->path);
        return -1;
    default:
        lw_http_respond_errorf(req, &lw_err_not_found, "no route for %s %s", req->method,
                               req->path);
        return -1;
    }
}

/* The handler did not answer within http.request-timeout: the connection is closed without
 * an answer (HTTP/2: the stream gets 503), and the handler's late answer is dropped. */
static void on_handler_timeout(h2o_timeout_entry_t *entry)
{
    lw_http_req_t *req = H2O_STRUCT_FROM_MEMBER(lw_http_req_t, timeout, entry);
    lw_http_t *http = req->http;
    h2o_req_t *h = req->h2o;
    if (h == NULL)
        return;
    req_unlink_h2o(req);
    if (h->version < 0x200) {
        h2o_socket_t *sock = h->conn->callbacks->get_socket(h->conn);
        int fd = sock ? h2o_socket_get_fd(sock) : -1;
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
    }
    lw_log(LW_LOG_WARN, "http", "request timed out", "method", req->method, "path", req->path,
           NULL);
    static const char body[] = "{\"code\":14,\"message\":\"error:pkg/cluster:unavailable "
                               "(request timed out)\"}";
    h->http1_is_persistent = 0;
    send_h2o(http, h, 503, "application/json", NULL, 0, body, sizeof body - 1);
}

static int on_request(h2o_handler_t *self, h2o_req_t *h)
{
    lw_http_t *http = ((lw_h2o_handler_t *)self)->http;
    lw_http_req_t *req = lw_calloc(1, offsetof(lw_http_req_t, arena) + REQ_ARENA_BYTES);
    req->http = http;
    req->h2o = h;
    req->start_ns = uv_hrtime();
    req->timeout.cb = on_handler_timeout;
    req->next = http->live;
    if (http->live)
        http->live->prev = req;
    http->live = req;
    http->nlive++;
    req->link = h2o_mem_alloc_shared(&h->pool, sizeof *req->link, link_disposed);
    req->link->req = req;
    snprintf(req->method, sizeof req->method, "%.*s",
             (int)(h->input.method.len < sizeof req->method ? h->input.method.len
                                                            : sizeof req->method - 1),
             h->input.method.base);
    if (h->input.method.len >= sizeof req->method)
        snprintf(req->method, sizeof req->method, "%s", "UNKNOWN");
    req->path = "";
    if (http->state != HTTP_RUNNING) {
        lw_http_respond_errorf(req, &lw_err_unavailable, "server stopping");
        return 0;
    }
    if (request_check(req, h) != 0 || request_decode(req, h) != 0 || route(req) != 0)
        return 0;
    h2o_timeout_link(http->loop, &http->handler_timeout, &req->timeout);
    req->route->handler(req, req->route->arg);
    return 0;
}

/* ---- request accessors -------------------------------------------------------------- */

const char *lw_http_method(const lw_http_req_t *req)
{
    return req->method;
}

const char *lw_http_path(const lw_http_req_t *req)
{
    return req->path;
}

const char *lw_http_param(const lw_http_req_t *req, const char *name)
{
    for (int i = 0; i < req->nparams; i++)
        if (strcmp(req->params[i].name, name) == 0)
            return req->params[i].value;
    return NULL;
}

const char *lw_http_query(const lw_http_req_t *req, const char *name)
{
    for (int i = 0; i < req->nquery; i++)
        if (strcmp(req->query[i].name, name) == 0)
            return req->query[i].value;
    return NULL;
}

const char *lw_http_header(const lw_http_req_t *req, const char *name)
{
    h2o_req_t *h = req->h2o;
    if (h == NULL)
        return NULL;
    size_t nlen = strlen(name);
    for (size_t i = 0; i < h->headers.size; i++) {
        const h2o_header_t *e = &h->headers.entries[i];
        if (e->name->len == nlen && strncasecmp(e->name->base, name, nlen) == 0)
            /* Copied: h2o's memory may go before the handler is done with the value. */
            return req_strndup((lw_http_req_t *)req, e->value.base, e->value.len);
    }
    return NULL;
}

const char *lw_http_host(const lw_http_req_t *req)
{
    return req->host[0] ? req->host : NULL;
}

const char *lw_http_peer(const lw_http_req_t *req)
{
    h2o_req_t *h = req->h2o;
    if (h == NULL || h->conn == NULL || h->conn->callbacks->get_peername == NULL)
        return "";
    struct sockaddr_storage ss;
    socklen_t sl = h->conn->callbacks->get_peername(h->conn, (struct sockaddr *)&ss);
    char ip[NI_MAXHOST] = ""; /* what h2o_socket_getnumerichost asks for */
    if (sl == 0)
        return "";
    size_t n = h2o_socket_getnumerichost((struct sockaddr *)&ss, sl, ip);
    if (n == SIZE_MAX)
        return "";
    return req_strndup((lw_http_req_t *)req, ip, n);
}

json_t *lw_http_json(lw_http_req_t *req, lw_err_t *err)
{
    if (req->json != NULL)
        return req->json;
    if (req->h2o == NULL) {
        lw_err_set(err, &lw_err_unavailable, "the client has gone");
        return NULL;
    }
    const char *body = req->h2o->entity.base;
    size_t len = body ? req->h2o->entity.len : 0;
    req->json = lw_http__json_parse(body ? body : "", len, err);
    return req->json;
}

const void *lw_http_body(const lw_http_req_t *req, size_t *len)
{
    *len = 0;
    if (req->h2o == NULL || req->h2o->entity.base == NULL)
        return "";
    *len = req->h2o->entity.len;
    return req->h2o->entity.base;
}

static uint64_t rng_next(lw_http_t *http)
{
    /* xorshift64*: correlation ids need to be unique, not secret. */
    uint64_t x = http->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    http->rng = x;
    return x * 2685821657736338717ull;
}

const char *lw_http_correlation_id(const lw_http_req_t *req)
{
    lw_http_req_t *r = (lw_http_req_t *)req;
    if (r->correlation_id[0] == '\0') {
        uint64_t a = rng_next(r->http), b = rng_next(r->http);
        snprintf(r->correlation_id, sizeof r->correlation_id, "http:%016" PRIx64 "%016" PRIx64, a,
                 b);
    }
    return r->correlation_id;
}

/* ---- streaming responses ------------------------------------------------------------- */

/* The headers a handler added, copied into h2o's request pool (h2o keeps pointers). */
static void add_resp_headers(h2o_req_t *h, const lw_http_req_t *req)
{
    for (int i = 0; i < req->nresp_headers; i++) {
        const lw_http__kv_t *kv = &req->resp_headers[i];
        h2o_iovec_t n = h2o_strdup(&h->pool, kv->name, strlen(kv->name));
        h2o_iovec_t v = h2o_strdup(&h->pool, kv->value, strlen(kv->value));
        h2o_add_header_by_str(&h->pool, &h->res.headers, n.base, n.len, 1, NULL, v.base, v.len);
    }
}

/* Two buffers: `out` is on the socket (h2o keeps pointers into it until proceed), `queue`
 * collects what comes meanwhile; they swap when a write completes. */
struct lw_http_stream {
    h2o_generator_t gen; /* first: h2o hands it back to proceed and stop */
    lw_http_t *http;
    h2o_req_t *h2o; /* NULL once h2o has disposed of its request */
    lw_http_stream_t *prev, *next;
    lw_http_stream_close_cb on_close; /* NULL once the caller has let go */
    void *arg;
    char *out, *queue;
    size_t out_cap, queue_len, queue_cap, max_queued;
    bool writing;  /* an h2o_send is under way: the next waits for proceed */
    bool ending;   /* the caller ended it: the final send once the write completes */
    bool dropping; /* dropped (slow reader, server stop): drop_reason is counted */
    const char *drop_reason;
};

static void stream_count(lw_http_t *http, const char *reason)
{
    const char *v[2] = {reason, NULL};
    if (http->m_streams_closed != NULL)
        lw_metric_add(http->m_streams_closed, v, 1);
}

static void stream_free(lw_http_stream_t *s)
{
    lw_http_t *http = s->http;
    if (s->prev)
        s->prev->next = s->next;
    else if (http->streams == s)
        http->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s->out);
    free(s->queue);
    free(s);
}

/* Tells the caller, once, that the stream is gone. */
static void stream_notify(lw_http_stream_t *s, const char *reason)
{
    lw_http_stream_close_cb cb = s->on_close;
    s->on_close = NULL;
    if (cb != NULL)
        cb(s, reason, s->arg);
}

/* The last h2o_send: the queue (copied into h2o's request pool, which outlives the write)
 * and the end of the response (state FINAL), or the response cut (ERROR: HTTP/1.1 closes
 * the connection, HTTP/2 resets the stream). h2o calls us no more: s is freed. */
static void stream_finish(lw_http_stream_t *s, h2o_send_state_t state)
{
    h2o_req_t *h = s->h2o;
    s->h2o = NULL;
    h2o_iovec_t b = {NULL, 0};
    size_t n = 0;
    if (state == H2O_SEND_STATE_FINAL && s->queue_len > 0) {
        b = h2o_strdup(&h->pool, s->queue, s->queue_len);
        n = 1;
    }
    if (state != H2O_SEND_STATE_FINAL || s->http->state != HTTP_RUNNING)
        h->http1_is_persistent = 0;
    stream_free(s);
    h2o_send(h, n ? &b : NULL, n, state);
}

/* Starts the next write when none is under way. */
static void stream_pump(lw_http_stream_t *s)
{
    if (s->writing || s->h2o == NULL)
        return;
    if (s->dropping) {
        stream_finish(s, strcmp(s->drop_reason, "server_stopping") == 0 ? H2O_SEND_STATE_FINAL
                                                                        : H2O_SEND_STATE_ERROR);
        return;
    }
    if (s->ending) {
        stream_count(s->http, "ended");
        stream_finish(s, H2O_SEND_STATE_FINAL);
        return;
    }
    if (s->queue_len == 0)
        return;
    char *b = s->out;
    size_t cap = s->out_cap;
    s->out = s->queue;
    s->out_cap = s->queue_cap;
    h2o_iovec_t v = {s->out, s->queue_len};
    s->queue = b;
    s->queue_cap = cap;
    s->queue_len = 0;
    s->writing = true;
    h2o_send(s->h2o, &v, 1, H2O_SEND_STATE_IN_PROGRESS);
}

/* The previous write is done (or failed: then h2o's stop follows, or the next send is its
 * end). */
static void stream_proceed(h2o_generator_t *g, h2o_req_t *h)
{
    (void)h;
    lw_http_stream_t *s = (lw_http_stream_t *)g;
    s->writing = false;
    stream_pump(s);
}

/* h2o disposes of the request: the client left (or reset the stream), or the connection
 * was closed under a drop. */
static void stream_stop(h2o_generator_t *g, h2o_req_t *h)
{
    (void)h;
    lw_http_stream_t *s = (lw_http_stream_t *)g;
    s->h2o = NULL;
    if (!s->dropping)
        stream_count(s->http, "client_gone");
    stream_notify(s, s->dropping ? s->drop_reason : "client_gone");
    stream_free(s);
}

/* Drops the stream: cut now when no write is under way, else close the connection under
 * the write that does not complete (the client does not read). */
static void stream_drop(lw_http_stream_t *s, const char *reason)
{
    if (s->dropping || s->h2o == NULL)
        return;
    s->dropping = true;
    s->drop_reason = reason;
    stream_count(s->http, reason);
    if (!s->writing) {
        stream_pump(s);
        return;
    }
    h2o_socket_t *sock = s->h2o->conn->callbacks->get_socket(s->h2o->conn);
    int fd = sock ? h2o_socket_get_fd(sock) : -1;
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
}

lw_http_stream_t *lw_http_stream_start(lw_http_req_t *req, int status, const char *content_type,
                                       size_t max_queued, lw_http_stream_close_cb on_close,
                                       void *arg, lw_err_t *err)
{
    if (!answer_allowed(req)) {
        lw_err_set(err, &lw_err_internal, "request already answered");
        return NULL;
    }
    lw_http_t *http = req->http;
    if (req->h2o == NULL || http->state != HTTP_RUNNING) {
        static const char body[] = "{\"code\":14,\"message\":\"error:pkg/cluster:unavailable "
                                   "(server stopping)\"}";
        finish(req, 503, "application/json", body, sizeof body - 1);
        lw_err_set(err, &lw_err_unavailable, "the client has gone or the server is stopping");
        return NULL;
    }
    count_req(req, status);
    h2o_req_t *h = req->h2o;
    req_unlink_h2o(req);
    lw_http_stream_t *s = lw_calloc(1, sizeof *s);
    s->gen.proceed = stream_proceed;
    s->gen.stop = stream_stop;
    s->http = http;
    s->h2o = h;
    s->on_close = on_close;
    s->arg = arg;
    s->max_queued = max_queued ? max_queued : DEFAULT_STREAM_QUEUED;
    s->next = http->streams;
    if (http->streams)
        http->streams->prev = s;
    http->streams = s;
    h->res.status = status;
    h->res.reason = reason_for(status);
    const char *ct = content_type ? content_type : "application/octet-stream";
    h2o_iovec_t ctv = h2o_strdup(&h->pool, ct, strlen(ct));
    h2o_add_header(&h->pool, &h->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctv.base, ctv.len);
    add_resp_headers(h, req);
    req_free(req);
    h2o_start_response(h, &s->gen);
    s->writing = true; /* the head goes out now; proceed follows */
    h2o_send(h, NULL, 0, H2O_SEND_STATE_IN_PROGRESS);
    return s;
}

int lw_http_stream_send(lw_http_stream_t *s, const void *data, size_t len, lw_err_t *err)
{
    if (s->queue_len + len > s->max_queued) {
        size_t limit = s->max_queued;
        s->on_close = NULL;
        lw_log(LW_LOG_WARN, "http", "stream dropped: the client reads too slowly", "server",
               s->http->name, NULL);
        stream_drop(s, "slow_reader");
        lw_err_set(err, &lw_err_stream_backlog,
                   "client reads too slowly: more than %zu bytes queued", limit);
        lw_err_attr_num(err, "limit", (long long)limit);
        return -1;
    }
    if (s->queue_len + len > s->queue_cap) {
        size_t cap = s->queue_cap ? s->queue_cap : 4096;
        while (cap < s->queue_len + len)
            cap *= 2;
        s->queue = lw_realloc(s->queue, cap);
        s->queue_cap = cap;
    }
    memcpy(s->queue + s->queue_len, data, len);
    s->queue_len += len;
    stream_pump(s);
    return 0;
}

size_t lw_http_stream_queued(const lw_http_stream_t *s)
{
    return s->queue_len;
}

void lw_http_stream_end(lw_http_stream_t *s)
{
    s->on_close = NULL;
    s->ending = true;
    stream_pump(s);
}

/* lw_http_stop: every stream tells its caller, then ends (what is on the socket completes
 * or fails under the connection's shutdown). */
static void streams_stop(lw_http_t *http)
{
    lw_http_stream_t *s = http->streams;
    while (s != NULL) {
        lw_http_stream_t *next = s->next;
        if (!s->dropping && !s->ending) {
            stream_notify(s, "server_stopping");
            stream_drop(s, "server_stopping");
        }
        s = next;
    }
}

/* ---- WebSocket ------------------------------------------------------------------------ */

bool lw_http_is_websocket(const lw_http_req_t *req)
{
    const char *key = NULL;
    return req->h2o != NULL && req->h2o->version < 0x200 &&
           h2o_is_websocket_handshake(req->h2o, &key) == 0 && key != NULL;
}

static void ws_on_msg(h2o_websocket_conn_t *conn, const struct wslay_event_on_msg_recv_arg *arg)
{
    lw_ws_t *ws = conn->data;
    if (arg == NULL) {
        ws->closed = true;
        lw_http_t *http = ws->http;
        if (ws->cb.on_close)
            ws->cb.on_close(ws, ws->arg);
        h2o_websocket_close(conn);
        free(ws);
        (void)http;
        return;
    }
    if (wslay_is_ctrl_frame(arg->opcode)) {
        if (arg->opcode == WSLAY_PONG && ws->cb.on_pong) {
            ws->in_callback = true;
            ws->cb.on_pong(ws, ws->arg);
            ws->in_callback = false;
        }
        return;
    }
    ws->in_callback = true;
    if (ws->cb.on_message)
        ws->cb.on_message(ws, arg->opcode == WSLAY_BINARY_FRAME, arg->msg, arg->msg_length,
                          ws->arg);
    ws->in_callback = false;
}

lw_ws_t *lw_http_websocket_accept(lw_http_req_t *req, const lw_ws_callbacks_t *cb, void *arg,
                                  lw_err_t *err)
{
    const char *key = NULL;
    if (req == NULL || req->answered || req->h2o == NULL || req->h2o->version >= 0x200 ||
        h2o_is_websocket_handshake(req->h2o, &key) != 0 || key == NULL) {
        lw_err_set(err, &lw_err_bad_request, "malformed request: not a WebSocket handshake");
        lw_err_attr(err, "reason", "not a WebSocket handshake");
        return NULL;
    }
    lw_ws_t *ws = lw_calloc(1, sizeof *ws);
    lw_http_t *http = req->http;
    ws->http = http;
    ws->cb = *cb;
    ws->arg = arg;
    struct sockaddr_storage ss;
    socklen_t sl = req->h2o->conn->callbacks->get_peername(req->h2o->conn, (struct sockaddr *)&ss);
    char ip[INET6_ADDRSTRLEN] = "";
    if (sl > 0) {
        size_t n = h2o_socket_getnumerichost((struct sockaddr *)&ss, sl, ip);
        ip[n == SIZE_MAX ? 0 : n] = '\0';
        int32_t port = h2o_socket_getport((struct sockaddr *)&ss);
        snprintf(ws->peer, sizeof ws->peer, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip,
                 (int)port);
    }
    req->answered = true;
    count_req(req, 101);
    h2o_req_t *h = req->h2o;
    req_unlink_h2o(req);
    add_resp_headers(h, req);
    ws->h2o = h2o_upgrade_to_websocket(h, key, ws, ws_on_msg);
    struct wslay_event_context *wctx = ws->h2o->ws_ctx;
    wslay_event_config_set_max_recv_msg_length(wctx, http->ws_max_msg);
    req_free(req);
    return ws;
}

/* Sends what is queued, unless a write is under way (its completion sends the rest) or we
 * are inside h2o_websocket_proceed (it loops until nothing is left). */
static void ws_kick(lw_ws_t *ws)
{
    if (!ws->in_callback && !h2o_socket_is_writing(ws->h2o->sock))
        h2o_websocket_proceed(ws->h2o);
}

int lw_ws_send(lw_ws_t *ws, bool binary, const void *data, size_t len, lw_err_t *err)
{
    if (ws->closing || ws->closed || ws->http->state != HTTP_RUNNING)
        return lw_err_set(err, &lw_err_unavailable, "WebSocket closing");
    if (wslay_event_get_queued_msg_count(ws->h2o->ws_ctx) >= ws->http->ws_max_queued)
        return lw_err_set(err, &lw_err_ws_queue_full, "WebSocket send queue full (%zu messages)",
                          ws->http->ws_max_queued);
    struct wslay_event_msg msg = {binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME, data, len};
    if (wslay_event_queue_msg(ws->h2o->ws_ctx, &msg) != 0)
        return lw_err_set(err, &lw_err_unavailable, "WebSocket send failed");
    ws_kick(ws);
    return 0;
}

int lw_ws_ping(lw_ws_t *ws, lw_err_t *err)
{
    if (ws->closing || ws->closed || ws->http->state != HTTP_RUNNING)
        return lw_err_set(err, &lw_err_unavailable, "WebSocket closing");
    struct wslay_event_msg msg = {WSLAY_PING, NULL, 0};
    if (wslay_event_queue_msg(ws->h2o->ws_ctx, &msg) != 0)
        return lw_err_set(err, &lw_err_unavailable, "WebSocket ping failed");
    ws_kick(ws);
    return 0;
}

void lw_ws_close(lw_ws_t *ws, int code)
{
    if (ws->closing || ws->closed)
        return;
    ws->closing = true;
    wslay_event_queue_close(ws->h2o->ws_ctx, (uint16_t)code, NULL, 0);
    ws_kick(ws);
}

const char *lw_ws_peer(const lw_ws_t *ws)
{
    return ws->peer;
}

/* ---- server lifecycle --------------------------------------------------------------- */

static int http_init(lw_http_t *http, uv_loop_t *loop, const lw_http_opts_t *o, lw_err_t *err)
{
    http->loop = loop;
    lw_http__router_init(&http->router);
    snprintf(http->name, sizeof http->name, "%s", o->name ? o->name : "api");
    snprintf(http->listen_key, sizeof http->listen_key, "%s",
             o->listen_key ? o->listen_key : "http.listen");
    snprintf(http->listen, sizeof http->listen, "%s", o->listen ? o->listen : ":1885");
    if (listen_parse(http->listen, http->host, sizeof http->host, &http->port_cfg) != 0) {
        lw_err_set(err, &lw_err_config_invalid, "invalid value `%s` for `%s`", http->listen,
                   http->listen_key);
        lw_err_attr(err, "key", http->listen_key);
        lw_err_attr(err, "value", http->listen);
        return -1;
    }
    const char *cert = o->tls_certificate, *key = o->tls_key;
    if ((cert && *cert) != (key && *key)) {
        lw_err_set(err, &lw_err_config_invalid,
                   "http.tls.certificate and http.tls.key must be set together");
        lw_err_attr(err, "key", cert && *cert ? "http.tls.key" : "http.tls.certificate");
        return -1;
    }
    if (cert && *cert) {
        http->tls_cert = lw_strdup(cert);
        http->tls_key = lw_strdup(key);
    }
    http->max_body = o->max_body_bytes ? o->max_body_bytes : DEFAULT_MAX_BODY;
    http->max_header = o->max_header_bytes ? o->max_header_bytes : DEFAULT_MAX_HEADER;
    http->max_uri = o->max_uri_bytes ? o->max_uri_bytes : DEFAULT_MAX_URI;
    http->timeout_ms = o->request_timeout_ms ? o->request_timeout_ms : DEFAULT_TIMEOUT_MS;
    http->idle_ms = o->idle_timeout_ms ? o->idle_timeout_ms : DEFAULT_IDLE_MS;
    http->max_conns = o->max_connections ? o->max_connections : DEFAULT_MAX_CONNS;
    http->ws_max_msg = o->ws_max_message_bytes ? o->ws_max_message_bytes : DEFAULT_WS_MAX_MSG;
    http->ws_max_queued = o->ws_max_queued ? o->ws_max_queued : DEFAULT_WS_MAX_QUEUED;
    if (getrandom(&http->rng, sizeof http->rng, 0) != (ssize_t)sizeof http->rng)
        http->rng = (uint64_t)(uintptr_t)http ^ (uint64_t)uv_hrtime();
    http->rng |= 1;
    return 0;
}

lw_http_t *lw_http_new_opts(uv_loop_t *loop, const lw_http_opts_t *opts, lw_err_t *err)
{
    lw_http_t *http = lw_calloc(1, sizeof *http);
    if (http_init(http, loop, opts, err) != 0) {
        lw_http_free(http);
        return NULL;
    }
    return http;
}

lw_http_t *lw_http_new(uv_loop_t *loop, const lw_config_t *cfg, lw_err_t *err)
{
    lw_http_opts_t o = {
        .name = "api",
        .listen = lw_config_str(cfg, "http.listen"),
        .listen_key = "http.listen",
        .tls_certificate = lw_config_str(cfg, "http.tls.certificate"),
        .tls_key = lw_config_str(cfg, "http.tls.key"),
        .max_body_bytes = (size_t)lw_config_int(cfg, "http.max-body-bytes"),
        .max_header_bytes = (size_t)lw_config_int(cfg, "http.max-header-bytes"),
        .max_uri_bytes = (size_t)lw_config_int(cfg, "http.max-uri-bytes"),
        .max_connections = (size_t)lw_config_int(cfg, "http.max-connections"),
        .request_timeout_ms = lw_config_duration_ms(cfg, "http.request-timeout"),
        .idle_timeout_ms = lw_config_duration_ms(cfg, "http.idle-timeout"),
    };
    lw_http_t *http = lw_http_new_opts(loop, &o, err);
    /* A body cap of 0 means "no body". */
    if (http != NULL && lw_config_int(cfg, "http.max-body-bytes") == 0)
        http->max_body = 0;
    return http;
}

void lw_http_set_metrics(lw_http_t *http, lw_metrics_t *metrics)
{
    static const char *const labels[] = {"route", "method", "status", NULL};
    http->m_requests = lw_metrics_counter(metrics, "lwstack_http_requests_total",
                                          "HTTP requests answered, by route pattern, method and "
                                          "status.",
                                          labels);
    static const char *const dlabels[] = {"route", "method", NULL};
    http->m_duration = lw_metrics_summary(metrics, "lwstack_http_request_duration_seconds",
                                          "Time from a request's head to its answer, by route "
                                          "pattern and method.",
                                          dlabels);
    http->m_connections = lw_metrics_counter(metrics, "lwstack_http_connections_total",
                                             "HTTP connections accepted.", NULL);
    http->s_connections = lw_metric_series(http->m_connections, (const char *const[]){NULL});
    static const char *const slabels[] = {"reason", NULL};
    http->m_streams_closed = lw_metrics_counter(metrics, "lwstack_http_streams_closed_total",
                                                "Streaming responses closed, by reason (ended, "
                                                "client_gone, slow_reader, server_stopping).",
                                                slabels);
}

int lw_http_route(lw_http_t *http, const char *method, const char *pattern,
                  lw_http_handler_t handler, void *arg)
{
    lw_err_t err;
    if (lw_http__router_add(&http->router, method, pattern, handler, arg, &err) != 0) {
        lw_log(LW_LOG_ERROR, "http", "route rejected", "method", method, "pattern", pattern,
               "error", err.message, NULL);
        return -1;
    }
    return 0;
}

int lw_http_port(const lw_http_t *http)
{
    return http->port;
}

static void stop_maybe_finish(lw_http_t *http);

static void conn_closed(uv_handle_t *h)
{
    conn_t *c = (conn_t *)h;
    lw_http_t *http = c->http;
    if (c->prev)
        c->prev->next = c->next;
    else if (http->conns == c)
        http->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    http->nconns--;
    free(c);
    stop_maybe_finish(http);
}

static void on_connection(uv_stream_t *server, int status)
{
    lw_http_t *http = server->data;
    if (status < 0 || http->state != HTTP_RUNNING)
        return;
    conn_t *c = lw_calloc(1, sizeof *c);
    c->http = http;
    uv_tcp_init(http->loop, &c->tcp);
    c->next = http->conns;
    if (http->conns)
        http->conns->prev = c;
    http->conns = c;
    http->nconns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || http->nconns > http->max_conns) {
        if (http->nconns > http->max_conns)
            lw_log(LW_LOG_WARN, "http", "connection refused: too many open", "server", http->name,
                   NULL);
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    lw_metric_series_add(http->s_connections, 1);
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, conn_closed);
    if (sock == NULL) {
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        return;
    }
    c->h2o_owned = true;
    h2o_accept(&http->accept_ctx, sock);
}

/* Binds and listens; returns the socket or -1 with err. With no host, one dual-stack IPv6
 * socket, or IPv4 where the kernel has no IPv6; with a host, its first address. A failed
 * bind is final (the port is busy). */
static int listen_open(lw_http_t *http, lw_err_t *err)
{
    char port[8];
    snprintf(port, sizeof port, "%d", http->port_cfg);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(http->host[0] ? http->host : NULL, port, &hints, &res);
    if (rc != 0) {
        lw_err_set(err, &lw_err_config_invalid, "cannot resolve %s `%s`: %s", http->listen_key,
                   http->listen, gai_strerror(rc));
        lw_err_attr(err, "key", http->listen_key);
        lw_err_attr(err, "value", http->listen);
        return -1;
    }
    struct addrinfo *cand[2] = {res, NULL};
    for (struct addrinfo *a = res; !http->host[0] && a != NULL; a = a->ai_next)
        if (a->ai_family == AF_INET6) {
            cand[0] = a;
            break;
        }
    for (struct addrinfo *a = res; cand[0]->ai_family == AF_INET6 && a != NULL; a = a->ai_next)
        if (a->ai_family == AF_INET) {
            cand[1] = a;
            break;
        }
    int fd = -1, saved = 0;
    for (int i = 0; i < 2 && cand[i] != NULL; i++) {
        struct addrinfo *a = cand[i];
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1, zero = 0;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (a->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 511) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
        break;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        lw_err_set(err, &lw_err_unavailable, "cannot listen on %s: %s", http->listen,
                   strerror(saved));
        lw_err_attr(err, "address", http->listen);
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        http->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                    : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static int tls_setup(lw_http_t *http, lw_err_t *err)
{
    http->ssl = SSL_CTX_new(TLS_server_method());
    if (http->ssl == NULL || SSL_CTX_use_certificate_chain_file(http->ssl, http->tls_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(http->ssl, http->tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(http->ssl) != 1) {
        unsigned long e = ERR_get_error();
        char why[160];
        ERR_error_string_n(e, why, sizeof why);
        ERR_clear_error();
        lw_log(LW_LOG_ERROR, "http", "TLS set-up failed", "server", http->name, "error", why, NULL);
        lw_err_set(err, &lw_err_config_invalid,
                   "cannot set up the HTTP listener with http.tls.certificate and http.tls.key");
        lw_err_attr(err, "key", "http.tls.certificate");
        return -1;
    }
    SSL_CTX_set_min_proto_version(http->ssl, TLS1_2_VERSION);
    SSL_CTX_set_options(http->ssl, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    h2o_ssl_register_alpn_protocols(http->ssl, h2o_http2_alpn_protocols);
    return 0;
}

typedef struct handle_set {
    uv_handle_t **h;
    size_t n, cap;
    const struct handle_set *skip;
} handle_set_t;

static void handle_collect(uv_handle_t *h, void *arg)
{
    handle_set_t *s = arg;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        s->h = lw_realloc(s->h, cap * sizeof *s->h);
        s->cap = cap;
    }
    s->h[s->n++] = h;
}

static void handle_unref_new(uv_handle_t *h, void *arg)
{
    const handle_set_t *s = ((handle_set_t *)arg)->skip;
    for (size_t i = 0; i < s->n; i++)
        if (s->h[i] == h)
            return;
    uv_unref(h);
}

static void h2o_setup(lw_http_t *http)
{
    h2o_config_init(&http->conf);
    http->conf_inited = true;
    http->conf.server_name = h2o_iovec_init(H2O_STRLIT("lwstack"));
    http->conf.max_request_entity_size = http->max_body;
    http->conf.http1.req_timeout = (uint64_t)http->timeout_ms;
    http->conf.http2.idle_timeout = (uint64_t)http->idle_ms;
    http->conf.handshake_timeout = (uint64_t)http->timeout_ms;
    h2o_hostconf_t *host =
        h2o_config_register_host(&http->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    lw_h2o_handler_t *handler = (lw_h2o_handler_t *)h2o_create_handler(path, sizeof *handler);
    handler->super.on_req = on_request;
    handler->http = http;
    /* h2o's own refusals go through the path's filters, or the fallback's before a path is
     * chosen. */
    h2o_pathconf_t *paths[] = {path, &host->fallback_path};
    for (size_t i = 0; i < 2; i++) {
        lw_h2o_filter_t *f = (lw_h2o_filter_t *)h2o_create_filter(paths[i], sizeof *f);
        f->super.on_setup_ostream = error_filter;
        f->http = http;
    }
    /* h2o's context handles (its timers and its cross-thread queue) serve its connections:
     * they must not keep the loop alive on their own, so every handle the context adds to
     * the loop is unreferenced. */
    handle_set_t before = {0};
    uv_walk(http->loop, handle_collect, &before);
    h2o_context_init(&http->ctx, http->loop, &http->conf);
    http->ctx_inited = true;
    handle_set_t after = {.skip = &before};
    uv_walk(http->loop, handle_unref_new, &after);
    free(before.h);
    h2o_timeout_init(http->loop, &http->handler_timeout, (uint64_t)http->timeout_ms);
    uv_unref((uv_handle_t *)&http->handler_timeout._backend.timer);
    http->accept_ctx.ctx = &http->ctx;
    http->accept_ctx.hosts = http->conf.hosts;
    http->accept_ctx.ssl_ctx = http->ssl;
}

int lw_http_start(lw_http_t *http, lw_err_t *err)
{
    if (http->state != HTTP_NEW)
        return lw_err_set(err, &lw_err_internal, "HTTP server already started");
    if (http->tls_cert != NULL && tls_setup(http, err) != 0)
        return -1;
    /* A write to a connection the peer has closed must be an error, not SIGPIPE: libuv and
     * h2o write with write(2). Process-wide, as every libuv server needs. */
    signal(SIGPIPE, SIG_IGN);
    int fd = listen_open(http, err);
    if (fd < 0)
        return -1;
    uv_tcp_init(http->loop, &http->listener);
    http->listener.data = http;
    http->listener_open = true;
    if (uv_tcp_open(&http->listener, fd) != 0 ||
        uv_listen((uv_stream_t *)&http->listener, 511, on_connection) != 0) {
        lw_err_set(err, &lw_err_unavailable, "cannot listen on %s", http->listen);
        http->state = HTTP_STOPPED;
        uv_close((uv_handle_t *)&http->listener, NULL);
        http->listener_open = false;
        return -1;
    }
    h2o_setup(http);
    http->state = HTTP_RUNNING;
    lw_log(LW_LOG_DEBUG, "http", "listening", "server", http->name, "address", http->listen, "tls",
           http->ssl ? "on" : "off", NULL);
    return 0;
}

static void stop_maybe_finish(lw_http_t *http)
{
    if (http->state != HTTP_STOPPING || http->listener_open || http->nconns > 0)
        return;
    http->state = HTTP_STOPPED;
    void (*done)(void *) = http->stop_done;
    http->stop_done = NULL;
    if (done)
        done(http->stop_arg);
}

static void on_listener_closed(uv_handle_t *h)
{
    lw_http_t *http = h->data;
    http->listener_open = false;
    stop_maybe_finish(http);
}

void lw_http_stop(lw_http_t *http, void (*done)(void *arg), void *arg)
{
    if (http->state != HTTP_RUNNING) {
        if (http->state == HTTP_NEW)
            http->state = HTTP_STOPPED;
        if (done)
            done(arg);
        return;
    }
    http->state = HTTP_STOPPING;
    http->stop_done = done;
    http->stop_arg = arg;
    uv_close((uv_handle_t *)&http->listener, on_listener_closed);
    /* Not h2o_context_request_shutdown: its HTTP/2 grace timer would outlive the loop. Every
     * connection is closed below; answers still on their way say "connection: close". */
    http->ctx.shutdown_requested = 1;
    streams_stop(http);
    /* Requests held by handlers: their connections close without an answer. */
    for (lw_http_req_t *r = http->live; r != NULL; r = r->next) {
        h2o_req_t *h = r->h2o;
        if (h == NULL || r->answered)
            continue;
        req_unlink_h2o(r);
        h->http1_is_persistent = 0;
        h2o_socket_t *sock = h->conn->callbacks->get_socket(h->conn);
        int fd = sock ? h2o_socket_get_fd(sock) : -1;
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
        send_h2o(http, h, 503, "application/json", NULL, 0, "{}", 2);
    }
    /* Every connection reads end-of-file (or fails its write) and h2o closes it. */
    for (conn_t *c = http->conns; c != NULL; c = c->next) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
            shutdown(fd, SHUT_RDWR);
    }
}

static void http_release(lw_http_t *http)
{
    for (size_t i = 0; i < http->router.n; i++)
        free(http->router.routes[i]->stats);
    lw_http__router_destroy(&http->router);
    free(http->scratch);
    free(http->tls_cert);
    free(http->tls_key);
    free(http);
}

static void http_maybe_free(lw_http_t *http)
{
    if (http->free_pending && http->nlive == 0)
        http_release(http);
}

void lw_http_free(lw_http_t *http)
{
    if (http == NULL)
        return;
    for (lw_http_req_t *r = http->live; r != NULL; r = r->next)
        req_unlink_h2o(r);
    if (http->ctx_inited) {
        h2o_timeout_dispose(http->loop, &http->handler_timeout);
        h2o_context_dispose(&http->ctx); /* runs the loop once to close its timers */
        http->ctx_inited = false;
    }
    if (http->conf_inited) {
        h2o_config_dispose(&http->conf);
        http->conf_inited = false;
    }
    if (http->ssl != NULL) {
        SSL_CTX_free(http->ssl);
        http->ssl = NULL;
    }
    if (http->nlive > 0) {
        http->free_pending = true; /* the last answer frees it */
        return;
    }
    http_release(http);
}
