/* The HTTP server: h2o (libh2o, built on libuv) on the caller's loop, a router, JSON bodies
 * (jansson), size caps, errors in The Things Stack's shape, TLS when a certificate is
 * configured. HTTP/1.1 (pipelining, chunked request bodies, Expect: 100-continue), HTTP/2
 * (over TLS by ALPN, and cleartext with prior knowledge) and WebSocket upgrades.
 *
 * A process may run several servers, each its own listener with its own router: the API
 * on http.listen (lw_http_new, from the http.* configuration), and others such as the Basic
 * Station LNS WebSocket port (lw_http_new_opts, from a component's configuration).
 *
 * Refusals, each in The Things Stack's error JSON: a request line, head or body over its cap
 * → 414 uri_too_long, 431 request_header_fields_too_large, 413 request_too_large; an unknown
 * method → 405 method_not_allowed; ambiguous framing (Content-Length with
 * Transfer-Encoding, or two Content-Length headers) → 400 bad_request and the connection
 * closes, so a smuggled request behind it is never read. A request head larger than h2o's
 * own bound (about 400 KiB) or with more than 100 headers gets h2o's plain 400.
 *
 * A handler is called once the whole body has arrived. It answers exactly once, now or
 * later from another callback (after a database result), with lw_http_respond_json /
 * lw_http_respond_err / lw_http_respond. If the client went away meanwhile the answer is
 * dropped and the request freed then; until it answers, the request stays valid. */
#ifndef LW_HTTP_H
#define LW_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "cluster/config.h"
#include "cluster/err.h"
#include "cluster/metrics.h"

typedef struct lw_http lw_http_t;
typedef struct lw_http_req lw_http_req_t;

typedef void (*lw_http_handler_t)(lw_http_req_t *req, void *arg);

/* Registers the http.* configuration table (http.listen, http.tls.certificate, http.tls.key,
 * http.max-body-bytes, ...). */
int lw_http_config_register(lw_config_t *cfg);

/* A server's settings. Zero values take the defaults of the http.* keys. */
typedef struct lw_http_opts {
    const char *name;            /* for logs: "api", "lns"; NULL: "api" */
    const char *listen;          /* host:port, :port, [v6]:port (port 0: any free port) */
    const char *listen_key;      /* the configuration key it came from, for errors */
    const char *tls_certificate; /* PEM chain file; with tls_key: HTTPS (and h2 by ALPN) */
    const char *tls_key;
    size_t max_body_bytes;        /* default 1 MiB */
    size_t max_header_bytes;      /* sum of header names and values; default 8192 */
    size_t max_uri_bytes;         /* request target; default 8192 */
    long long request_timeout_ms; /* head to answer; default 30 s */
    long long idle_timeout_ms;    /* idle HTTP/2 connection; default 60 s */
    size_t max_connections;       /* open at once; beyond: accepted and closed; default 10000 */
    size_t ws_max_message_bytes;  /* largest WebSocket message received; default 1 MiB */
    size_t ws_max_queued;         /* WebSocket messages queued for sending; default 1024 */
} lw_http_opts_t;

/* The API server from the http.* configuration. */
lw_http_t *lw_http_new(uv_loop_t *loop, const lw_config_t *cfg, lw_err_t *err);
/* A server from explicit settings (strings are copied). Errors: config_invalid naming
 * opts->listen_key for a malformed address or a half TLS pair. */
lw_http_t *lw_http_new_opts(uv_loop_t *loop, const lw_http_opts_t *opts, lw_err_t *err);
/* Starts listening. Returns -1 with err when the port cannot be bound (unavailable:
 * "cannot listen on ADDR: REASON") or TLS cannot be set up (config_invalid); nothing is
 * left on the loop then. */
int lw_http_start(lw_http_t *http, lw_err_t *err);
/* Stops accepting and closes every connection (a request still held by a handler gets no
 * answer: its connection closes; WebSockets get on_close), then calls done once the last
 * connection is closed (at once when not running). Requests still held by handlers are dead
 * from then on: their answers are dropped and free them. */
void lw_http_stop(lw_http_t *http, void (*done)(void *arg), void *arg);
/* Frees the server (NULL: no-op): call it after stop's done, or before start. Requests still
 * held by handlers keep its memory until they are answered. */
void lw_http_free(lw_http_t *http);
/* The port actually bound (useful with port 0 in tests). */
int lw_http_port(const lw_http_t *http);
/* Counts answered requests in lwstack_http_requests_total{route,method,status} (route is
 * the pattern, "unmatched" for 404s), their time to answer in the summary
 * lwstack_http_request_duration_seconds{route,method} and accepted connections in
 * lwstack_http_connections_total. metrics is borrowed and must outlive http. Optional;
 * call before lw_http_start. */
void lw_http_set_metrics(lw_http_t *http, lw_metrics_t *metrics);

/* Route pattern: literal segments and `{name}` captures, e.g.
 * "/api/v3/tenants/{tenant_id}". A path that matches a pattern with another method gets
 * 405; none at all, 404. The longest literal match wins. HEAD is answered by the GET route
 * (without the body). Returns -1 (and logs why) for a malformed pattern or method or a
 * duplicate route. Patterns are copied; handler and arg are kept. */
int lw_http_route(lw_http_t *http, const char *method, const char *pattern,
                  lw_http_handler_t handler, void *arg);

/* Request accessors. Strings are owned by the request. */
const char *lw_http_method(const lw_http_req_t *req);
const char *lw_http_path(const lw_http_req_t *req);
const char *lw_http_param(const lw_http_req_t *req, const char *name);  /* route capture */
const char *lw_http_query(const lw_http_req_t *req, const char *name);  /* decoded; NULL */
const char *lw_http_header(const lw_http_req_t *req, const char *name); /* case-insensitive */
const char *lw_http_host(const lw_http_req_t *req); /* Host without port, lowercase */
/* The client's address as "ip" (no port, IPv6 without brackets), from the connection: the
 * proxy's when behind one. "" when unknown (the client has gone). Owned by the request. */
const char *lw_http_peer(const lw_http_req_t *req);
/* Parses the body as a JSON object; on failure sets err (invalid_json with line/column) and
 * returns NULL. An empty body yields an empty object. The result is owned by the request. */
json_t *lw_http_json(lw_http_req_t *req, lw_err_t *err);
/* The body's raw bytes (*len of them; not NUL-terminated), as received: for checks over the
 * exact bytes (a webhook signature). "" with *len 0 when empty or the client has gone. Owned
 * by the request. */
const void *lw_http_body(const lw_http_req_t *req, size_t *len);
/* A correlation id for this request ("http:<random>"), used in errors and logs. */
const char *lw_http_correlation_id(const lw_http_req_t *req);

/* Adds a response header (copied), e.g. "X-Total-Count". */
void lw_http_add_header(lw_http_req_t *req, const char *name, const char *value);

/* Answers with a JSON body; takes the reference to `body` (NULL: empty object). */
void lw_http_respond_json(lw_http_req_t *req, int status, json_t *body);
/* Answers with err in The Things Stack's error shape and its HTTP status. */
void lw_http_respond_err(lw_http_req_t *req, const lw_err_t *err);
/* Answers with a new error of def, its message from fmt (no attributes). */
void lw_http_respond_errorf(lw_http_req_t *req, const lw_err_def_t *def, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Answers with raw bytes and a content type. */
void lw_http_respond(lw_http_req_t *req, int status, const char *content_type, const void *body,
                     size_t len);

/* ---- Streaming responses ------------------------------------------------------------------
 *
 * A handler may answer with a stream instead of a whole body: lw_http_stream_start sends the
 * head at once (HTTP/1.1: Transfer-Encoding: chunked; HTTP/2: a HEADERS frame), then every
 * lw_http_stream_send goes out as it comes (a chunk, DATA frames). One write is on the socket
 * at a time; what is sent meanwhile is queued (copied) and goes out in one write when the
 * previous one completes.
 *
 * Flow control: a client that reads slower than the stream produces makes the queue grow;
 * once more than max_queued bytes wait, the send that would exceed it returns -1
 * (stream_backlog) and the stream is dropped: its connection is closed (over HTTP/2 with
 * every stream on it, since h2o 2.2 cannot reset one stream of ours), reason "slow_reader".
 *
 * A client that leaves is noticed at once over HTTP/2 (stream reset, connection closed) and
 * at the next write over HTTP/1.1 (h2o does not read an HTTP/1.1 connection while it
 * answers): a stream that must notice sooner writes a heartbeat now and then.
 *
 * Who owns the stream: the caller, from start until exactly one of (a) on_close(reason) is
 * called ("client_gone": the client left or reset the stream; "server_stopping":
 * lw_http_stop), (b) lw_http_stream_send returns -1 (slow_reader: dropped), (c) the caller
 * calls lw_http_stream_end. After that s must not be used: the server finishes (what was
 * queued before lw_http_stream_end is written, then the response ends) and frees it. on_close
 * is never called from inside lw_http_stream_send or lw_http_stream_end; it may be called
 * from inside lw_http_stop.
 *
 * Counted in lwstack_http_streams_closed_total{reason}: ended, client_gone, slow_reader,
 * server_stopping (with lw_http_set_metrics). The request's own timeout
 * (http.request-timeout) ends when the stream starts. */
typedef struct lw_http_stream lw_http_stream_t;

typedef void (*lw_http_stream_close_cb)(lw_http_stream_t *s, const char *reason, void *arg);

/* Answers req with status, content_type and the headers added with lw_http_add_header, as a
 * stream: this answers the request (req is gone when it returns). max_queued 0: 1 MiB.
 * Returns the stream, or NULL with err (unavailable: the client has gone or the server is
 * stopping; req is then answered and gone too). */
lw_http_stream_t *lw_http_stream_start(lw_http_req_t *req, int status, const char *content_type,
                                       size_t max_queued, lw_http_stream_close_cb on_close,
                                       void *arg, lw_err_t *err);
/* Queues len bytes (copied) for the client. Returns 0, or -1 with err stream_backlog (the
 * client reads too slowly: the stream is dropped and gone). */
int lw_http_stream_send(lw_http_stream_t *s, const void *data, size_t len, lw_err_t *err);
/* Bytes queued and not yet handed to the socket. */
size_t lw_http_stream_queued(const lw_http_stream_t *s);
/* Ends the response once what is queued is written; the stream is the server's from now. */
void lw_http_stream_end(lw_http_stream_t *s);

/* ---- WebSocket ------------------------------------------------------------------------ */

typedef struct lw_ws lw_ws_t;

typedef struct lw_ws_callbacks {
    /* A whole message (text or binary), at most ws_max_message_bytes (a larger one closes
     * the connection with 1009). data is valid during the call only. */
    void (*on_message)(lw_ws_t *ws, bool binary, const void *data, size_t len, void *arg);
    /* Once, when the connection is gone (peer close, error, lw_ws_close, server stop). ws is
     * freed when it returns. */
    void (*on_close)(lw_ws_t *ws, void *arg);
    /* Optional: a pong arrived (answering lw_ws_ping, or unsolicited). Pings from the peer
     * are answered with a pong by the server itself. */
    void (*on_pong)(lw_ws_t *ws, void *arg);
} lw_ws_callbacks_t;

/* True when req is a WebSocket handshake (GET with Upgrade: websocket and a key, HTTP/1.1). */
bool lw_http_is_websocket(const lw_http_req_t *req);
/* Answers req with 101 and turns its connection into a WebSocket: this answers the request
 * (req is gone when it returns). Headers added with lw_http_add_header go with the 101 (a
 * chosen Sec-WebSocket-Protocol). Returns the socket, or NULL with err (bad_request: not a
 * WebSocket handshake) and req still unanswered. cb is copied; arg is kept. */
lw_ws_t *lw_http_websocket_accept(lw_http_req_t *req, const lw_ws_callbacks_t *cb, void *arg,
                                  lw_err_t *err);
/* Queues a message (copied). Returns -1 with err (ws_queue_full when ws_max_queued messages
 * are waiting, unavailable once closing). */
int lw_ws_send(lw_ws_t *ws, bool binary, const void *data, size_t len, lw_err_t *err);
/* Queues a ping (empty payload), for liveness checks; errors as lw_ws_send. */
int lw_ws_ping(lw_ws_t *ws, lw_err_t *err);
/* Sends a close frame with code; on_close follows once the peer answers or goes. */
void lw_ws_close(lw_ws_t *ws, int code);
/* The peer's address as "ip:port" (IPv6 in brackets). */
const char *lw_ws_peer(const lw_ws_t *ws);

/* Builds The Things Stack's error JSON for err (new reference). */
json_t *lw_http_err_json(const lw_err_t *err, const char *correlation_id);

#endif
