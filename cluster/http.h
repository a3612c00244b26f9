/* The HTTP server: libwebsockets on the libuv loop, a router, JSON bodies (jansson), body
 * size caps, errors in The Things Stack's shape, TLS when a certificate is configured.
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

lw_http_t *lw_http_new(uv_loop_t *loop, const lw_config_t *cfg, lw_err_t *err);
/* Starts listening. Returns -1 with err when the port cannot be bound (unavailable:
 * "cannot listen on ADDR: REASON"; nothing is left on the loop) or TLS cannot be set up
 * (config_invalid; libwebsockets' handles then close on the next loop run). HTTP/1.1 only,
 * over TLS when http.tls.certificate and http.tls.key are set. */
int lw_http_start(lw_http_t *http, lw_err_t *err);
/* Stops accepting, closes connections, destroys the libwebsockets context, then calls done
 * (at once when not running). Requests still held by handlers are dead from then on: their
 * answers are dropped and free them. */
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
const void *lw_http_body(const lw_http_req_t *req, size_t *len);
/* Parses the body as a JSON object; on failure sets err (invalid_json with line/column) and
 * returns NULL. An empty body yields an empty object. The result is owned by the request. */
json_t *lw_http_json(lw_http_req_t *req, lw_err_t *err);
/* A correlation id for this request ("http:<random>"), used in errors and logs. */
const char *lw_http_correlation_id(const lw_http_req_t *req);

/* Per-request slot for the handler's own state (freed by the handler). */
void lw_http_set_user(lw_http_req_t *req, void *user);
void *lw_http_user(const lw_http_req_t *req);

/* Adds a response header (copied), e.g. "X-Total-Count". */
void lw_http_add_header(lw_http_req_t *req, const char *name, const char *value);

/* Answers with a JSON body; takes the reference to `body` (NULL: empty object). */
void lw_http_respond_json(lw_http_req_t *req, int status, json_t *body);
/* Answers with err in The Things Stack's error shape and its HTTP status. */
void lw_http_respond_err(lw_http_req_t *req, const lw_err_t *err);
/* Answers with raw bytes and a content type. */
void lw_http_respond(lw_http_req_t *req, int status, const char *content_type, const void *body,
                     size_t len);

/* Builds The Things Stack's error JSON for err (new reference). */
json_t *lw_http_err_json(const lw_err_t *err, const char *correlation_id);

#endif
