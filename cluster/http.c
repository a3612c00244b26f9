/* The HTTP server (http.h): libwebsockets on the caller's libuv loop.
 *
 * We own the listening socket (bound synchronously in lw_http_start, so a busy port is a
 * clean error with nothing left behind) and hand every accepted connection to lws with
 * lws_adopt_socket_vhost; lws does HTTP/1.1 and TLS (HTTP/2 is off, see lw_http_start). A request
 * is one lw_http_req_t, recycled through a free list with its buffers to keep allocations off the
 * hot path. Ownership of a request: the server while it reads the body, the handler from dispatch
 * until it answers, the server again while the answer is written. A connection closing while the
 * handler owns the request marks it dead; the handler's answer then frees it. */
/* accept4 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "cluster/http.h"
#include "cluster/http_private.h"
#include "cluster/log.h"
#include "cluster/metrics.h"

#define REQ_ARENA_BYTES    4096u       /* inline strings of a request: path, headers, params */
#define REQ_MAX_HEADERS    64          /* request headers kept per request */
#define REQ_MAX_RESP_HDRS  16          /* response headers added by a handler */
#define REQ_KEEP_BUF_BYTES 65536u      /* larger body/response buffers are not recycled */
#define REQ_POOL_MAX       256u        /* idle requests kept for reuse */
#define H2_CHUNK_BYTES     16384u      /* HTTP/2 default SETTINGS_MAX_FRAME_SIZE */
#define H1_CHUNK_BYTES     65536u      /* body bytes handed to lws per writeable callback */
#define ACCEPT_BURST       64          /* connections accepted per readable event */
#define DRAIN_MAX_BYTES    (16u << 20) /* larger refused bodies are not read before closing */

typedef struct conn conn_t;

typedef enum req_state {
    REQ_READING, /* server: headers in, body arriving */
    REQ_HANDLER, /* handler: dispatched, not answered */
    REQ_WRITING, /* server: answer being written */
} req_state_t;

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t cap, used;
    char data[];
} arena_chunk_t;

struct lw_http_req {
    lw_http_t *http;
    struct lws *wsi;            /* NULL once the connection is gone */
    lw_http_req_t *prev, *next; /* http->live, or the free list (next only) */
    req_state_t state;
    bool dead;       /* connection gone while the handler owned the request */
    bool close_conn; /* close the connection after the answer (unread body) */
    bool is_head;
    bool headers_sent;
    bool h2;
    struct conn *conn; /* the lws per-connection data while the connection lives */

    char method[LW_HTTP_MAX_METHOD];
    const char *path;
    const char *host;
    const lw_http__route_t *route;
    int nparams;
    lw_http__kv_t params[LW_HTTP_MAX_PARAMS];
    int nquery;
    lw_http__kv_t query[LW_HTTP_MAX_QUERY];
    int nheaders;
    lw_http__kv_t headers[REQ_MAX_HEADERS];
    char correlation_id[40];

    uint64_t start_ns;     /* uv_hrtime() when the head was read */
    size_t content_length; /* announced; SIZE_MAX when absent */
    char *body;
    size_t body_len, body_cap;
    json_t *json;
    void *user;

    int status;
    const char *content_type;
    int nresp_headers;
    lw_http__kv_t resp_headers[REQ_MAX_RESP_HDRS];
    unsigned char *resp; /* LWS_PRE bytes of head room, then the body */
    size_t resp_len, resp_cap, resp_off;

    size_t arena_used;
    arena_chunk_t *arena_extra;
    char arena[REQ_ARENA_BYTES];
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

    char listen[128];
    char host[96];
    int port_cfg;
    int port;
    char *tls_cert, *tls_key;
    size_t max_body;
    unsigned max_header;
    unsigned timeout_s, idle_s;

    int listen_fd;
    uv_poll_t listener;
    bool listener_open;

    struct lws_context *ctx;
    struct lws_vhost *vh;
    void *foreign_loops[1];
    struct lws_protocols protocols[2];
    uv_timer_t destroy_timer;
    bool destroy_timer_open;
    int destroy_polls;

    lw_http__router_t router;
    lw_metric_t *m_requests;
    lw_metric_t *m_duration;
    lw_metric_t *m_connections;

    lw_http_req_t *live;
    lw_http_req_t *pool;
    size_t npool;
    uint64_t rng;

    void (*stop_done)(void *arg);
    void *stop_arg;
    bool free_pending;
};

/* The per-connection (per-stream for HTTP/2) user data lws allocates. */
struct conn {
    lw_http_req_t *req;
    /* Inside the lws callback that dispatches req: an answer given now is written when the
     * handler returns, from that same callback. lws 4.1 loops on BODY_COMPLETION for a
     * pipelined request whose body sat in its rx buffer until the transaction completes,
     * so answers must not wait for a later WRITEABLE callback when they need not. */
    bool dispatching;
    /* After an early answer (413), lws reads and drops the rest of the body; the connection
     * closes at its end, so that the client does not get a reset before reading the answer. */
    bool close_after_body;
};

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
             "instead of plain HTTP"},
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
     .help = "Room for a request's header lines; requests with more are refused",
     .min = 1024,
     .max = 65535},
    {.key = "http.request-timeout",
     .type = LW_CFG_DURATION,
     .def = "30s",
     .help = "Time a request may take from its headers to the end of its answer; then the "
             "connection is closed",
     .min = 1000,
     .max = 3600000},
    {.key = "http.idle-timeout",
     .type = LW_CFG_DURATION,
     .def = "60s",
     .help = "Time an idle keep-alive connection is kept open",
     .min = 1000,
     .max = 3600000},
};

int lw_http_config_register(lw_config_t *cfg)
{
    return lw_config_register(cfg, "http", http_opts, sizeof http_opts / sizeof http_opts[0]);
}

/* ---- lws logging through lw_log ----------------------------------------------------- */

static void lws_log_emit(int level, const char *line)
{
    /* lws lines look like "[2026/01/01 00:00:00:0000] E: message\n": keep the message. */
    const char *p = strstr(line, "] ");
    p = p ? p + 2 : line;
    if (p[0] != '\0' && p[1] == ':' && p[2] == ' ')
        p += 3;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", p);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    lw_log(level == LLL_ERR ? LW_LOG_ERROR : LW_LOG_WARN, "http", "libwebsockets", "detail", msg,
           NULL);
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
    arena_chunk_t *c = malloc(sizeof *c + cap);
    if (c == NULL)
        return NULL;
    c->cap = cap;
    c->used = n;
    c->next = req->arena_extra;
    req->arena_extra = c;
    return c->data;
}

static char *req_strndup(lw_http_req_t *req, const char *s, size_t n)
{
    char *p = req_alloc(req, n + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static void live_unlink(lw_http_req_t *req)
{
    lw_http_t *http = req->http;
    if (req->prev)
        req->prev->next = req->next;
    else if (http->live == req)
        http->live = req->next;
    if (req->next)
        req->next->prev = req->prev;
    req->prev = req->next = NULL;
}

static lw_http_req_t *req_new(lw_http_t *http, struct lws *wsi)
{
    lw_http_req_t *req = http->pool;
    if (req != NULL) {
        http->pool = req->next;
        http->npool--;
    } else {
        req = calloc(1, sizeof *req);
        if (req == NULL)
            return NULL;
    }
    /* Keep the recycled buffers, reset everything else. */
    char *body = req->body;
    size_t body_cap = req->body_cap;
    unsigned char *resp = req->resp;
    size_t resp_cap = req->resp_cap;
    memset(req, 0, offsetof(lw_http_req_t, arena));
    req->body = body;
    req->body_cap = body_cap;
    req->resp = resp;
    req->resp_cap = resp_cap;
    req->http = http;
    req->wsi = wsi;
    req->content_length = SIZE_MAX;
    req->start_ns = uv_hrtime();
    req->next = http->live;
    if (http->live)
        http->live->prev = req;
    http->live = req;
    return req;
}

static void req_release(lw_http_req_t *req)
{
    lw_http_t *http = req->http;
    live_unlink(req);
    json_decref(req->json);
    req->json = NULL;
    arena_chunk_t *c = req->arena_extra;
    while (c != NULL) {
        arena_chunk_t *n = c->next;
        free(c);
        c = n;
    }
    req->arena_extra = NULL;
    if (req->body_cap > REQ_KEEP_BUF_BYTES) {
        free(req->body);
        req->body = NULL;
        req->body_cap = 0;
    }
    if (req->resp_cap > REQ_KEEP_BUF_BYTES) {
        free(req->resp);
        req->resp = NULL;
        req->resp_cap = 0;
    }
    if (http->state == HTTP_RUNNING && http->npool < REQ_POOL_MAX) {
        req->next = http->pool;
        http->pool = req;
        http->npool++;
        return;
    }
    free(req->body);
    free(req->resp);
    free(req);
}

static void http_maybe_free(lw_http_t *http);

/* Frees a request the handler has finished with, or that the server owns. */
static void req_free(lw_http_req_t *req)
{
    lw_http_t *http = req->http;
    req_release(req);
    http_maybe_free(http);
}

/* ---- request decoding ---------------------------------------------------------------- */

static const char *const hu_methods[] = {
    [LWSHUMETH_GET] = "GET",         [LWSHUMETH_POST] = "POST",   [LWSHUMETH_OPTIONS] = "OPTIONS",
    [LWSHUMETH_PUT] = "PUT",         [LWSHUMETH_PATCH] = "PATCH", [LWSHUMETH_DELETE] = "DELETE",
    [LWSHUMETH_CONNECT] = "CONNECT", [LWSHUMETH_HEAD] = "HEAD",
};

/* Tokens that are not headers (request lines, pseudo headers, lws' own storage). */
static bool token_is_header(int t)
{
    switch (t) {
    case WSI_TOKEN_GET_URI:
    case WSI_TOKEN_POST_URI:
    case WSI_TOKEN_OPTIONS_URI:
    case WSI_TOKEN_PUT_URI:
    case WSI_TOKEN_PATCH_URI:
    case WSI_TOKEN_DELETE_URI:
    case WSI_TOKEN_HEAD_URI:
    case WSI_TOKEN_CONNECT:
    case WSI_TOKEN_HTTP_URI_ARGS:
    case WSI_TOKEN_HTTP:
    case WSI_TOKEN_HTTP1_0:
        return false;
    default:
        return t < _WSI_TOKEN_CLIENT_SENT_PROTOCOLS;
    }
}

/* Copies a header (all fragments) into the arena; NULL when absent. */
static char *copy_token(lw_http_req_t *req, struct lws *wsi, enum lws_token_indexes t)
{
    int len = lws_hdr_total_length(wsi, t);
    if (len <= 0)
        return NULL;
    char *p = req_alloc(req, (size_t)len + 1);
    if (p == NULL || lws_hdr_copy(wsi, p, len + 1, t) < 0)
        return NULL;
    return p;
}

static void add_header(lw_http_req_t *req, const char *name, const char *value)
{
    if (req->nheaders < REQ_MAX_HEADERS) {
        req->headers[req->nheaders].name = name;
        req->headers[req->nheaders].value = value;
        req->nheaders++;
    }
}

/* Headers lws has no token for; any other is looked up on demand while the connection's
 * header storage is still there (see lw_http_header). */
static const char *const custom_headers[] = {"x-tenant-id",     "x-request-id",
                                             "x-total-count",   "x-downlink-apikey",
                                             "x-downlink-push", "x-downlink-replace"};

static int req_collect(lw_http_req_t *req, struct lws *wsi, const char *in, size_t in_len)
{
    char *uri = NULL;
    int uri_len = 0;
    int m = lws_http_get_uri_and_method(wsi, &uri, &uri_len);
    if (m == LWSHUMETH_COLON_PATH) {
        char *cm = copy_token(req, wsi, WSI_TOKEN_HTTP_COLON_METHOD);
        snprintf(req->method, sizeof req->method, "%s", cm ? cm : "");
        req->h2 = true;
    } else if (m >= 0 && (size_t)m < sizeof hu_methods / sizeof hu_methods[0] && hu_methods[m]) {
        snprintf(req->method, sizeof req->method, "%s", hu_methods[m]);
    } else {
        return -1;
    }
    if (lws_get_network_wsi(wsi) != wsi)
        req->h2 = true;
    req->is_head = strcmp(req->method, "HEAD") == 0;
    req->path = req_strndup(req, in, in_len);
    if (req->path == NULL)
        return -1;

    /* Query arguments: lws has split them at '&' and percent-decoded each one. */
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    int consumed = 0;
    for (int i = 0; consumed < total; i++) {
        int flen = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
        consumed += flen + 1;
        if (flen <= 0)
            continue;
        char *arg = req_alloc(req, (size_t)flen + 1);
        if (arg == NULL)
            return -1;
        if (lws_hdr_copy_fragment(wsi, arg, flen + 1, WSI_TOKEN_HTTP_URI_ARGS, i) < 0)
            return -1;
        if (req->nquery < LW_HTTP_MAX_QUERY &&
            lw_http__query_arg_split(arg, &req->query[req->nquery]))
            req->nquery++;
    }

    for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
        if (!token_is_header(t) || lws_hdr_total_length(wsi, (enum lws_token_indexes)t) <= 0)
            continue;
        const char *name = (const char *)lws_token_to_string((enum lws_token_indexes)t);
        if (name == NULL || name[0] == ':' || name[0] == '\0')
            continue;
        size_t nlen = strlen(name);
        if (name[nlen - 1] == ':')
            nlen--;
        char *lname = req_strndup(req, name, nlen);
        char *value = copy_token(req, wsi, (enum lws_token_indexes)t);
        if (lname == NULL || value == NULL)
            continue;
        for (char *c = lname; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        add_header(req, lname, value);
    }
    for (size_t i = 0; i < sizeof custom_headers / sizeof custom_headers[0]; i++) {
        char name[40];
        int nlen = snprintf(name, sizeof name, "%s:", custom_headers[i]);
        int vlen = lws_hdr_custom_length(wsi, name, nlen);
        if (vlen < 0)
            continue;
        char *value = req_alloc(req, (size_t)vlen + 1);
        if (value == NULL || lws_hdr_custom_copy(wsi, value, vlen + 1, name, nlen) < 0)
            continue;
        add_header(req, custom_headers[i], value);
    }

    /* Host without port, lowercase; HTTP/2 sends :authority instead. */
    const char *host = lw_http_header(req, "host");
    if (host == NULL)
        host = copy_token(req, wsi, WSI_TOKEN_HTTP_COLON_AUTHORITY);
    if (host != NULL) {
        size_t hl = strlen(host);
        const char *end = host + hl;
        if (host[0] == '[') {
            const char *cb = strchr(host, ']');
            end = cb ? cb + 1 : end;
        } else {
            const char *colon = strchr(host, ':');
            end = colon ? colon : end;
        }
        char *h = req_strndup(req, host, (size_t)(end - host));
        if (h != NULL)
            for (char *c = h; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c - 'A' + 'a');
        req->host = h;
    }

    const char *cl = lw_http_header(req, "content-length");
    if (cl != NULL) {
        char *endp;
        errno = 0;
        unsigned long long v = strtoull(cl, &endp, 10);
        req->content_length = (errno != 0 || *endp != '\0' || cl[0] == '-') ? SIZE_MAX - 1 : v;
    }
    return 0;
}

/* ---- answering ---------------------------------------------------------------------- */

static void count_request(lw_http_req_t *req)
{
    char status[8];
    snprintf(status, sizeof status, "%d", req->status);
    const char *values[] = {req->route ? req->route->pattern : "unmatched", req->method, status,
                            NULL};
    lw_metric_add(req->http->m_requests, values, 1);
    values[2] = NULL;
    lw_metric_observe(req->http->m_duration, values, (double)(uv_hrtime() - req->start_ns) / 1e9);
}

static int resp_reserve(lw_http_req_t *req, size_t len)
{
    size_t need = LWS_PRE + len + 1;
    if (req->resp_cap >= need)
        return 0;
    size_t cap = req->resp_cap ? req->resp_cap : 1024;
    while (cap < need)
        cap *= 2;
    unsigned char *p = realloc(req->resp, cap);
    if (p == NULL)
        return -1;
    req->resp = p;
    req->resp_cap = cap;
    return 0;
}

static void req_start_writing(lw_http_req_t *req)
{
    count_request(req);
    if (req->dead || req->wsi == NULL) {
        req_free(req);
        return;
    }
    req->state = REQ_WRITING;
    if (req->conn != NULL && req->conn->dispatching)
        return; /* written by dispatch_now */
    lws_callback_on_writable(req->wsi);
}

/* The answer may only be given once, by whoever owns the request. */
static bool answer_allowed(lw_http_req_t *req)
{
    if (req == NULL)
        return false;
    if (req->state == REQ_WRITING) {
        lw_log(LW_LOG_ERROR, "http", "request answered twice", "path", req->path, NULL);
        return false;
    }
    return true;
}

void lw_http_respond(lw_http_req_t *req, int status, const char *content_type, const void *body,
                     size_t len)
{
    if (!answer_allowed(req))
        return;
    req->status = status;
    if (content_type == NULL)
        content_type = "application/octet-stream";
    req->content_type = req_strndup(req, content_type, strlen(content_type));
    if (resp_reserve(req, len) != 0) {
        req->status = 500;
        len = 0;
    }
    if (len > 0)
        memcpy(req->resp + LWS_PRE, body, len);
    req->resp_len = len;
    req_start_writing(req);
}

static int dump_cb(const char *buffer, size_t size, void *data)
{
    lw_http_req_t *req = data;
    if (resp_reserve(req, req->resp_len + size) != 0)
        return -1;
    memcpy(req->resp + LWS_PRE + req->resp_len, buffer, size);
    req->resp_len += size;
    return 0;
}

void lw_http_respond_json(lw_http_req_t *req, int status, json_t *body)
{
    if (!answer_allowed(req)) {
        json_decref(body);
        return;
    }
    if (body == NULL)
        body = json_object();
    req->resp_len = 0;
    if (body == NULL || json_dump_callback(body, dump_cb, req, JSON_COMPACT) != 0) {
        static const char internal[] =
            "{\"code\":13,\"message\":\"error:pkg/cluster:internal (cannot encode response)\"}";
        json_decref(body);
        lw_http_respond(req, 500, "application/json", internal, sizeof internal - 1);
        return;
    }
    json_decref(body);
    req->status = status;
    req->content_type = "application/json";
    req_start_writing(req);
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
    json_t *j =
        json_pack("{s:i, s:o, s:[o]}", "code", def->grpc_code, "message", msg, "details", detail);
    return j;
}

void lw_http_respond_err(lw_http_req_t *req, const lw_err_t *err)
{
    if (!answer_allowed(req))
        return;
    const lw_err_def_t *def = err && err->def ? err->def : &lw_err_internal;
    lw_http_respond_json(req, def->http_status, lw_http_err_json(err, lw_http_correlation_id(req)));
}

void lw_http_add_header(lw_http_req_t *req, const char *name, const char *value)
{
    if (req == NULL || name == NULL || value == NULL || req->nresp_headers == REQ_MAX_RESP_HDRS)
        return;
    /* Header names go out lowercase with a colon, as lws (and HTTP/2) want them. */
    size_t nlen = strlen(name);
    char *n = req_alloc(req, nlen + 2);
    char *v = req_strndup(req, value, strlen(value));
    if (n == NULL || v == NULL)
        return;
    for (size_t i = 0; i < nlen; i++)
        n[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] - 'A' + 'a') : name[i];
    n[nlen] = ':';
    n[nlen + 1] = '\0';
    req->resp_headers[req->nresp_headers].name = n;
    req->resp_headers[req->nresp_headers].value = v;
    req->nresp_headers++;
}

static void respond_error(lw_http_req_t *req, const lw_err_def_t *def, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void respond_error(lw_http_req_t *req, const lw_err_def_t *def, const char *fmt, ...)
{
    lw_err_t err;
    va_list ap;
    va_start(ap, fmt);
    lw_err_vset(&err, def, fmt, ap);
    va_end(ap);
    req->state = REQ_HANDLER; /* the server answers in the handler's place */
    lw_http_respond_err(req, &err);
}

/* Writes the head and as much of the body as the connection takes. Returns -1 to close. */
static int req_write(lw_http_req_t *req, struct lws *wsi, conn_t *c)
{
    if (!req->headers_sent) {
        unsigned char head[LWS_PRE + 2048];
        unsigned char *start = head + LWS_PRE, *p = start, *end = head + sizeof head - 1;
        if (lws_add_http_common_headers(wsi, (unsigned)req->status, req->content_type,
                                        (lws_filepos_t)req->resp_len, &p, end))
            return -1;
        for (int i = 0; i < req->nresp_headers; i++) {
            const lw_http__kv_t *h = &req->resp_headers[i];
            if (lws_add_http_header_by_name(wsi, (const unsigned char *)h->name,
                                            (const unsigned char *)h->value, (int)strlen(h->value),
                                            &p, end))
                return -1;
        }
        static const char expose[] = "X-Total-Count";
        if (lws_add_http_header_by_name(wsi,
                                        (const unsigned char *)"access-control-expose-headers:",
                                        (const unsigned char *)expose, sizeof expose - 1, &p, end))
            return -1;
        if (req->close_conn && !req->h2 &&
            lws_add_http_header_by_name(wsi, (const unsigned char *)"connection:",
                                        (const unsigned char *)"close", 5, &p, end))
            return -1;
        if (lws_finalize_write_http_header(wsi, start, &p, end))
            return -1;
        req->headers_sent = true;
        /* HTTP/1.1: the body follows at once (lws queues it behind a partial header
         * write); one write per callback on an HTTP/2 stream. */
        if (req->h2) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }

    size_t remain = req->is_head ? 0 : req->resp_len - req->resp_off;
    size_t chunk = remain > H1_CHUNK_BYTES ? H1_CHUNK_BYTES : remain;
    if (req->h2) {
        if (chunk > H2_CHUNK_BYTES)
            chunk = H2_CHUNK_BYTES;
        lws_fileofs_t allow = lws_get_peer_write_allowance(wsi);
        if (allow >= 0 && (lws_fileofs_t)chunk > allow)
            chunk = (size_t)allow;
        if (chunk == 0 && remain > 0) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    bool last = chunk == remain;
    /* lws_write needs LWS_PRE writable bytes before the data: the buffer's head room for
     * the first chunk, already-sent body bytes for the following ones. */
    int n = lws_write(wsi, req->resp + LWS_PRE + req->resp_off, chunk,
                      last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
    if (n < 0)
        return -1;
    req->resp_off += chunk;
    if (!last) {
        lws_callback_on_writable(wsi);
        return 0;
    }

    bool close = req->close_conn;
    c->req = NULL;
    req_free(req);
    if (close)
        return c->close_after_body ? 0 : -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- dispatch ----------------------------------------------------------------------- */

static void req_dispatch(lw_http_req_t *req)
{
    lw_http_t *http = req->http;
    size_t plen = strlen(req->path);
    char *buf = req_alloc(req, plen + 1);
    if (buf == NULL) {
        respond_error(req, &lw_err_internal, "out of memory");
        return;
    }
    lw_http__match_t m;
    /* HEAD is answered by the GET route, without the body. */
    lw_http__match_result_t r = lw_http__router_match(
        &http->router, req->is_head ? "GET" : req->method, req->path, plen, &m, buf, plen + 1);
    switch (r) {
    case LW_HTTP__MATCH_OK:
        break;
    case LW_HTTP__MATCH_METHOD:
        respond_error(req, &lw_err_method_not_allowed, "method %s not allowed on %s", req->method,
                      req->path);
        return;
    case LW_HTTP__MATCH_BAD_PATH:
        respond_error(req, &lw_err_invalid_argument, "invalid request path");
        return;
    case LW_HTTP__MATCH_NOT_FOUND:
    default:
        respond_error(req, &lw_err_not_found, "no route for %s %s", req->method, req->path);
        return;
    }
    req->route = m.route;
    req->nparams = m.nparams;
    memcpy(req->params, m.params, sizeof m.params);
    req->state = REQ_HANDLER;
    struct lws *wsi = req->wsi;
    conn_t *c = req->conn;
    m.route->handler(req, m.route->arg);
    /* Not answered yet (the handler went asynchronous): the connection may wait that long.
     * req itself may be gone; c->req tells. */
    if (wsi != NULL && c != NULL && c->req == req && req->state == REQ_HANDLER)
        lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, (int)http->timeout_s);
}

static int body_append(lw_http_req_t *req, const void *in, size_t len)
{
    if (req->body_len + len > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap : 1024;
        while (cap < req->body_len + len)
            cap *= 2;
        char *p = realloc(req->body, cap + 1);
        if (p == NULL)
            return -1;
        req->body = p;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, in, len);
    req->body_len += len;
    return 0;
}

static void reject_too_large(lw_http_req_t *req, size_t len, bool can_drain)
{
    lw_err_t err;
    lw_err_set(&err, &lw_err_request_too_large,
               "request body of %zu bytes exceeds the limit of %zu", len, req->http->max_body);
    lw_err_attr_num(&err, "limit", (long long)req->http->max_body);
    /* The connection cannot carry another request after an unread body: drop the body (up
     * to a limit) and close. */
    req->close_conn = true;
    if (can_drain && len <= DRAIN_MAX_BYTES && req->conn != NULL)
        req->conn->close_after_body = true;
    req->state = REQ_HANDLER;
    lw_http_respond_err(req, &err);
}

/* Dispatches from an lws callback; a synchronous answer is written right away. Returns
 * what the callback returns. */
static int dispatch_now(lw_http_req_t *req, conn_t *c, struct lws *wsi)
{
    c->dispatching = true;
    req_dispatch(req);
    c->dispatching = false;
    if (c->req == req && req->state == REQ_WRITING)
        return req_write(req, wsi, c);
    return 0;
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    conn_t *c = user;
    lw_http_t *http = lws_context_user(lws_get_context(wsi));

    switch (reason) {
    case LWS_CALLBACK_HTTP: {
        if (c == NULL || http == NULL)
            return -1;
        if (c->req != NULL) /* a new request before the last one was answered */
            return -1;
        lw_http_req_t *req = req_new(http, wsi);
        if (req == NULL)
            return -1;
        c->req = req;
        req->conn = c;
        if (req_collect(req, wsi, in, len) != 0) {
            respond_error(req, &lw_err_invalid_argument, "malformed request");
            return 0;
        }
        if (lw_http_header(req, "transfer-encoding") != NULL) {
            /* lws 4.1 does not decode chunked request bodies: refuse rather than lose it. */
            req->close_conn = true;
            respond_error(req, &lw_err_invalid_argument,
                          "chunked request bodies are not supported: send Content-Length");
            return 0;
        }
        if (req->content_length != SIZE_MAX && req->content_length > http->max_body) {
            reject_too_large(req, req->content_length, true);
            return 0;
        }
        if (req->content_length != SIZE_MAX && req->content_length > 0) {
            lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, (int)http->timeout_s);
            const char *expect = lw_http_header(req, "expect");
            if (expect != NULL && strcasecmp(expect, "100-continue") == 0 && !req->h2) {
                /* RFC 9110 §10.1.1: lws 4.1 does not say it; clients wait a second
                 * otherwise. */
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                unsigned char buf[LWS_PRE + sizeof cont];
                memcpy(buf + LWS_PRE, cont, sizeof cont - 1);
                if (lws_write(wsi, buf + LWS_PRE, sizeof cont - 1, LWS_WRITE_HTTP_HEADERS) < 0)
                    return -1;
            }
            return 0; /* LWS_CALLBACK_HTTP_BODY follows */
        }
        return dispatch_now(req, c, wsi);
    }
    case LWS_CALLBACK_HTTP_BODY: {
        if (c != NULL && c->close_after_body && c->req == NULL)
            return 0; /* dropped */
        lw_http_req_t *req = c ? c->req : NULL;
        if (req == NULL || req->state != REQ_READING)
            return 0;
        if (req->body_len + len > http->max_body) {
            reject_too_large(req, req->body_len + len, false);
            return 0;
        }
        if (body_append(req, in, len) != 0) {
            respond_error(req, &lw_err_internal, "out of memory");
            return 0;
        }
        return 0;
    }
    case LWS_CALLBACK_HTTP_BODY_COMPLETION: {
        if (c != NULL && c->close_after_body) {
            if (c->req == NULL)
                return -1;               /* answered and drained */
            c->close_after_body = false; /* still writing: close when written */
            return 0;
        }
        lw_http_req_t *req = c ? c->req : NULL;
        if (req == NULL || req->state != REQ_READING)
            return 0;
        return dispatch_now(req, c, wsi);
    }
    case LWS_CALLBACK_HTTP_WRITEABLE: {
        lw_http_req_t *req = c ? c->req : NULL;
        if (req == NULL || req->state != REQ_WRITING)
            return 0;
        return req_write(req, wsi, c);
    }
    case LWS_CALLBACK_CLOSED_HTTP: {
        lw_http_req_t *req = c ? c->req : NULL;
        if (req == NULL)
            return 0;
        c->req = NULL;
        req->wsi = NULL;
        req->conn = NULL;
        if (req->state == REQ_HANDLER)
            req->dead = true; /* freed when the handler answers */
        else
            req_free(req);
        return 0;
    }
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        /* Neither h2c (lws 4.1 serves it badly over adopted sockets and drops unknown
         * headers in HTTP/2) nor WebSocket (no protocol yet): hang up. */
        return -1;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
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
    for (int i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    /* Not collected up front: ask lws while the request's headers are still attached to
     * the connection (the handler runs from an lws callback for synchronous answers). */
    lw_http_req_t *r = (lw_http_req_t *)req;
    if (r->wsi == NULL || r->state != REQ_HANDLER || r->dead)
        return NULL;
    char lname[64];
    size_t nlen = strlen(name);
    if (nlen + 2 > sizeof lname)
        return NULL;
    for (size_t i = 0; i < nlen; i++)
        lname[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] - 'A' + 'a') : name[i];
    lname[nlen] = ':';
    lname[nlen + 1] = '\0';
    int vlen = lws_hdr_custom_length(r->wsi, lname, (int)nlen + 1);
    if (vlen < 0)
        return NULL;
    char *value = req_alloc(r, (size_t)vlen + 1);
    char *stored = req_strndup(r, lname, nlen);
    if (value == NULL || stored == NULL ||
        lws_hdr_custom_copy(r->wsi, value, vlen + 1, lname, (int)nlen + 1) < 0)
        return NULL;
    add_header(r, stored, value);
    return value;
}

const char *lw_http_host(const lw_http_req_t *req)
{
    return req->host;
}

const void *lw_http_body(const lw_http_req_t *req, size_t *len)
{
    if (len != NULL)
        *len = req->body_len;
    return req->body_len ? req->body : "";
}

json_t *lw_http_json(lw_http_req_t *req, lw_err_t *err)
{
    if (req->json != NULL)
        return req->json;
    req->json = lw_http__json_parse(req->body, req->body_len, err);
    return req->json;
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

void lw_http_set_user(lw_http_req_t *req, void *user)
{
    req->user = user;
}

void *lw_http_user(const lw_http_req_t *req)
{
    return req->user;
}

/* ---- server lifecycle --------------------------------------------------------------- */

lw_http_t *lw_http_new(uv_loop_t *loop, const lw_config_t *cfg, lw_err_t *err)
{
    lw_http_t *http = calloc(1, sizeof *http);
    if (http == NULL) {
        lw_err_set(err, &lw_err_internal, "out of memory");
        return NULL;
    }
    http->loop = loop;
    http->listen_fd = -1;
    lw_http__router_init(&http->router);
    const char *listen = lw_config_str(cfg, "http.listen");
    snprintf(http->listen, sizeof http->listen, "%s", listen ? listen : ":1885");
    if (listen_parse(http->listen, http->host, sizeof http->host, &http->port_cfg) != 0) {
        lw_err_set(err, &lw_err_config_invalid, "invalid value `%s` for `http.listen`",
                   http->listen);
        lw_err_attr(err, "key", "http.listen");
        lw_err_attr(err, "value", http->listen);
        goto fail;
    }
    const char *cert = lw_config_str(cfg, "http.tls.certificate");
    const char *key = lw_config_str(cfg, "http.tls.key");
    if ((cert && *cert) != (key && *key)) {
        lw_err_set(err, &lw_err_config_invalid,
                   "http.tls.certificate and http.tls.key must be set together");
        lw_err_attr(err, "key", cert && *cert ? "http.tls.key" : "http.tls.certificate");
        goto fail;
    }
    if (cert && *cert) {
        http->tls_cert = strdup(cert);
        http->tls_key = strdup(key);
        if (http->tls_cert == NULL || http->tls_key == NULL) {
            lw_err_set(err, &lw_err_internal, "out of memory");
            goto fail;
        }
    }
    http->max_body = (size_t)lw_config_int(cfg, "http.max-body-bytes");
    http->max_header = (unsigned)lw_config_int(cfg, "http.max-header-bytes");
    http->timeout_s = (unsigned)((lw_config_duration_ms(cfg, "http.request-timeout") + 999) / 1000);
    http->idle_s = (unsigned)((lw_config_duration_ms(cfg, "http.idle-timeout") + 999) / 1000);
    if (getrandom(&http->rng, sizeof http->rng, 0) != (ssize_t)sizeof http->rng)
        http->rng = (uint64_t)(uintptr_t)http ^ (uint64_t)uv_hrtime();
    http->rng |= 1;
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
    return http;
fail:
    lw_http_free(http);
    return NULL;
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

static void on_accept(uv_poll_t *h, int status, int events)
{
    lw_http_t *http = h->data;
    (void)events;
    if (status < 0 || http->state != HTTP_RUNNING)
        return;
    for (int i = 0; i < ACCEPT_BURST; i++) {
        int fd = accept4(http->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                lw_log(LW_LOG_WARN, "http", "accept failed", "error", strerror(errno), NULL);
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        /* On failure lws closes fd itself. */
        if (lws_adopt_socket_vhost(http->vh, fd) == NULL)
            lw_log(LW_LOG_WARN, "http", "connection refused by libwebsockets", NULL);
        else
            lw_metric_add(http->m_connections, NULL, 1);
    }
}

/* Binds and listens; returns the socket or -1 with err. */
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
        lw_err_set(err, &lw_err_config_invalid, "cannot resolve http.listen `%s`: %s", http->listen,
                   gai_strerror(rc));
        lw_err_attr(err, "key", "http.listen");
        lw_err_attr(err, "value", http->listen);
        return -1;
    }
    /* With no host, prefer one dual-stack IPv6 socket, and IPv4 where the kernel has no
     * IPv6; with a host, its first address. A failed bind is final (the port is busy). */
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

int lw_http_start(lw_http_t *http, lw_err_t *err)
{
    if (http->state != HTTP_NEW)
        return lw_err_set(err, &lw_err_internal, "HTTP server already started");
    int fd = listen_open(http, err);
    if (fd < 0)
        return -1;

    http->protocols[0] = (struct lws_protocols){
        .name = "http",
        .callback = http_callback,
        .per_session_data_size = sizeof(conn_t),
        /* Bytes per send: lws queues what is beyond it (4 KiB by default). */
        .tx_packet_size = H1_CHUNK_BYTES,
    };
    http->foreign_loops[0] = http->loop;
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                   LWS_SERVER_OPTION_NO_LWS_SYSTEM_STATES;
    if (http->tls_cert)
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.foreign_loops = http->foreign_loops;
    info.user = http;
    info.max_http_header_data = (unsigned short)http->max_header;
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = http->protocols;
    info.server_string = "lwstack";
    info.timeout_secs = http->timeout_s;
    info.keepalive_timeout = (int)http->idle_s;
    http->ctx = lws_create_context(&info);
    if (http->ctx == NULL) {
        close(fd);
        return lw_err_set(err, &lw_err_internal, "cannot create the libwebsockets context");
    }
    info.vhost_name = "lwstack";
    /* HTTP/1.1 only: lws 4.1 drops HTTP/2 header fields it has no token for, and the API
     * needs X-Tenant-ID and friends. */
    info.alpn = "http/1.1";
    if (http->tls_cert) {
        info.ssl_cert_filepath = http->tls_cert;
        info.ssl_private_key_filepath = http->tls_key;
    }
    http->vh = lws_create_vhost(http->ctx, &info);
    if (http->vh == NULL) {
        close(fd);
        /* The context has uv handles on the loop now: let the stop path retire it. */
        http->state = HTTP_RUNNING;
        http->listen_fd = -1;
        lw_err_set(err, &lw_err_config_invalid,
                   "cannot set up the HTTP listener%s (see the libwebsockets error above)",
                   http->tls_cert ? " with http.tls.certificate and http.tls.key" : "");
        lw_http_stop(http, NULL, NULL);
        return -1;
    }
    http->listen_fd = fd;
    if (uv_poll_init(http->loop, &http->listener, fd) != 0) {
        close(fd);
        http->listen_fd = -1;
        http->state = HTTP_RUNNING;
        lw_http_stop(http, NULL, NULL);
        return lw_err_set(err, &lw_err_internal, "cannot watch the HTTP listener");
    }
    http->listener.data = http;
    http->listener_open = true;
    uv_poll_start(&http->listener, UV_READABLE, on_accept);
    http->state = HTTP_RUNNING;
    char port[8];
    snprintf(port, sizeof port, "%d", http->port);
    lw_log(LW_LOG_INFO, "http", "listening", "address", http->listen, "port", port, "tls",
           http->tls_cert ? "true" : "false", NULL);
    return 0;
}

static void stop_finish(lw_http_t *http)
{
    /* Requests the server still owns (reading or writing) go now; those the handlers own
     * were marked dead and go when they answer. */
    lw_http_req_t *req = http->live;
    while (req != NULL) {
        lw_http_req_t *next = req->next;
        req->wsi = NULL;
        if (req->state == REQ_HANDLER)
            req->dead = true;
        else
            req_release(req);
        req = next;
    }
    http->state = HTTP_STOPPED;
    lw_log(LW_LOG_INFO, "http", "stopped", "address", http->listen, NULL);
    void (*done)(void *) = http->stop_done;
    void *arg = http->stop_arg;
    http->stop_done = NULL;
    if (done)
        done(arg);
    http_maybe_free(http);
}

static void on_destroy_timer_closed(uv_handle_t *h)
{
    lw_http_t *http = h->data;
    http->destroy_timer_open = false;
    stop_finish(http);
}

/* Counts the loop's handles that are not ours and still active or closing: lws' own. */
static void count_foreign(uv_handle_t *h, void *arg)
{
    lw_http_t *http = ((void **)arg)[0];
    int *n = ((void **)arg)[1];
    if (h == (uv_handle_t *)&http->destroy_timer)
        return;
    if (h->data == http->ctx || uv_is_closing(h))
        (*n)++;
}

/* Second step of destroying a context on a foreign loop: lws_context_destroy closed the
 * connections and started closing lws' uv handles; once the loop has run their close
 * callbacks, a second lws_context_destroy frees the context. */
static void on_destroy_timer(uv_timer_t *t)
{
    lw_http_t *http = t->data;
    int pending = 0;
    void *arg[2] = {http, &pending};
    uv_walk(http->loop, count_foreign, arg);
    if (pending > 0 && ++http->destroy_polls < 500)
        return;
    if (http->ctx != NULL) {
        lws_context_destroy(http->ctx);
        http->ctx = NULL;
    }
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, on_destroy_timer_closed);
}

static void on_listener_closed(uv_handle_t *h)
{
    lw_http_t *http = h->data;
    http->listener_open = false;
    if (http->listen_fd >= 0)
        close(http->listen_fd);
    http->listen_fd = -1;
    http_maybe_free(http);
}

void lw_http_stop(lw_http_t *http, void (*done)(void *arg), void *arg)
{
    if (http->state != HTTP_RUNNING) {
        if (done)
            done(arg);
        return;
    }
    http->state = HTTP_STOPPING;
    http->stop_done = done;
    http->stop_arg = arg;
    if (http->listener_open) {
        uv_poll_stop(&http->listener);
        uv_close((uv_handle_t *)&http->listener, on_listener_closed);
    }
    /* Requests waiting on handlers lose their connection now; detach them from it so that
     * nothing of lws is touched when their handlers answer. */
    for (lw_http_req_t *req = http->live; req != NULL; req = req->next) {
        if (req->state != REQ_HANDLER)
            continue;
        req->dead = true;
        req->wsi = NULL;
        if (req->conn != NULL)
            req->conn->req = NULL;
        req->conn = NULL;
    }
    if (http->ctx != NULL)
        lws_context_destroy(http->ctx);
    uv_timer_init(http->loop, &http->destroy_timer);
    http->destroy_timer.data = http;
    http->destroy_timer_open = true;
    uv_timer_start(&http->destroy_timer, on_destroy_timer, 1, 10);
}

static void http_release(lw_http_t *http)
{
    while (http->pool != NULL) {
        lw_http_req_t *r = http->pool;
        http->pool = r->next;
        free(r->body);
        free(r->resp);
        free(r);
    }
    lw_http__router_destroy(&http->router);
    free(http->tls_cert);
    free(http->tls_key);
    free(http);
}

/* Frees the server once lw_http_free was called and nothing refers to it any more. */
static void http_maybe_free(lw_http_t *http)
{
    if (!http->free_pending || http->live != NULL || http->listener_open ||
        http->destroy_timer_open || http->state == HTTP_RUNNING || http->state == HTTP_STOPPING)
        return;
    http_release(http);
}

void lw_http_free(lw_http_t *http)
{
    if (http == NULL)
        return;
    if (http->state == HTTP_RUNNING) {
        /* Freed without a stop: a programming error; stop first so nothing dangles. The
         * memory goes once the loop has run the stop to its end. */
        lw_log(LW_LOG_ERROR, "http", "freed while running; stopping first", NULL);
        http->free_pending = true;
        lw_http_stop(http, NULL, NULL);
        return;
    }
    http->free_pending = true;
    http_maybe_free(http);
}
