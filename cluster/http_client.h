/* Outbound HTTP: a client on libcurl's multi interface, driven from the libuv loop.
 *
 * For webhooks, payment backends (Stripe) and LoRaWAN Backend Interfaces. No request blocks
 * the loop: libcurl's sockets are polled with uv_poll and its timeouts run on a uv_timer
 * (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION); this module starts no thread (libcurl's
 * own resolver may use one for DNS, invisible to callers). Loop-thread only.
 *
 * What it does, and what it leaves to callers:
 * - http:// and https:// only; redirects are not followed (a 3xx is a status like any other);
 *   every status, 4xx and 5xx included, is a response, not an error.
 * - Connections are kept alive and reused between requests of one client to the same
 *   scheme, host, port and TLS settings (libcurl's connection cache in the multi handle).
 * - No retries: the caller decides, from the error name, whether a request may be repeated.
 *   connection_failed and tls_failed mean the request was not sent; request_timeout and
 *   request_failed mean it may have reached the server.
 * - TLS peers are always verified (certificate chain and host name); there is no switch to
 *   turn that off. A request may name its own CA file (tests use a self-signed CA).
 * - An idle client keeps no handle active: a loop with nothing else to do ends.
 * - Proxies from the environment (http_proxy, ...) are not used.
 * - Nothing is logged. Errors name the scheme, host and port, never the path or query, and
 *   never a header value (Authorization, API keys).
 *
 * Callback contract (as db.h): a request that lw_http_client_send accepted gets its callback
 * exactly once, later, on the loop, never from inside the call that caused it (send, cancel,
 * close). A send that returns NULL never calls back. Callbacks may send, cancel other
 * requests or close the client. */
#ifndef LW_HTTP_CLIENT_H
#define LW_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "cluster/err.h"
#include "cluster/metrics.h"

typedef struct lw_http_client lw_http_client_t;
typedef struct lw_http_client_req lw_http_client_req_t;

/* Defaults taken when a field below is 0. */
#define LW_HTTP_CLIENT_TIMEOUT_MS           30000ll
#define LW_HTTP_CLIENT_CONNECT_TIMEOUT_MS   10000ll
#define LW_HTTP_CLIENT_MAX_RESPONSE_BYTES   (1024u * 1024u)
#define LW_HTTP_CLIENT_MAX_IDLE_CONNECTIONS 16
/* Response headers beyond this many bytes (all header lines together) are response_too_large;
 * headers are not counted in max_response_bytes. */
#define LW_HTTP_CLIENT_MAX_HEADER_BYTES (64u * 1024u)
#define LW_HTTP_CLIENT_MAX_HEADERS      100

typedef struct lw_http_client_opts {
    const char *user_agent;   /* copied; NULL: "lwstack" */
    int max_idle_connections; /* connections kept open for reuse; 0: the default above */
    int max_host_connections; /* open at once per host (more requests wait); 0: unlimited */
    /* Optional: counts every request, once its callback runs, in
     * lwstack_http_client_requests_total{client=name, outcome}, outcome being the status
     * class ("2xx", "4xx", ...) of a response or the error name ("request_timeout", ...).
     * Kept (not copied): must outlive the client. name is copied; NULL: "default". */
    lw_metrics_t *metrics;
    const char *name;
} lw_http_client_opts_t;

typedef struct lw_http_client_header {
    const char *name;
    const char *value;
} lw_http_client_header_t;

typedef struct lw_http_client_req_opts {
    const char *method; /* "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", ...; NULL: GET */
    const char *url;    /* absolute http:// or https:// URL */
    /* Request headers, sent as given. Names and values must not contain CR or LF. No
     * Content-Type is sent unless given here; Host, Content-Length, User-Agent are set by
     * the client (a header given here replaces the client's). */
    const lw_http_client_header_t *headers;
    size_t nheaders;
    /* Request body. Copied before send returns, unless body_borrowed: then it must stay
     * valid and unchanged until the callback has run. A body with GET is sent as given. */
    const void *body;
    size_t body_len;
    bool body_borrowed;
    long long timeout_ms;         /* whole request, connect included; 0: default */
    long long connect_timeout_ms; /* TCP and TLS set-up; 0: default */
    /* A response body longer than this fails with response_too_large (attribute
     * "max_bytes"), and the transfer is aborted as soon as the limit is passed, whether the
     * length is announced in Content-Length or not. 0: default. */
    size_t max_response_bytes;
    /* TLS (https:// only). ca_file: PEM file of the CAs to trust, instead of the system's;
     * NULL: the system's. client_cert_file / client_key_file: PEM client certificate and
     * its unencrypted key, both or neither. Paths are copied; files are read when the
     * connection is made, so an unreadable file fails that request with tls_failed. */
    const char *ca_file;
    const char *client_cert_file;
    const char *client_key_file;
} lw_http_client_req_opts_t;

typedef struct lw_http_client_response {
    int status;          /* 100..599 */
    const uint8_t *body; /* body_len bytes, then a NUL not counted */
    size_t body_len;
    const lw_http_client_header_t *headers; /* in arrival order, of the final response */
    size_t nheaders;
} lw_http_client_response_t;

/* Either res is set (err NULL) or err is set (res NULL), with one of the errors of
 * cluster/errors.def namespace "pkg/httpclient":
 *   request_timeout     timeout_ms passed (attribute "timeout_ms")
 *   connection_failed   host not resolved, connection refused, or not made in time
 *                       (connect_timeout_ms, or timeout_ms if shorter); nothing was sent
 *   tls_failed          handshake or peer verification failed, a TLS file is unusable, or
 *                       the server sent a TLS alert (TLS 1.3 servers refuse a client
 *                       certificate that way, just after the handshake)
 *   response_too_large  the body passed max_response_bytes, or the headers their cap
 *   request_canceled    lw_http_client_cancel, or lw_http_client_close
 *   request_failed      anything else on the wire (reset, not HTTP, truncated body)
 * err->message says what happened with the host ("http://127.0.0.1:8080"). res and err, and
 * everything they point to, are valid only during the call; req is invalid once it returns. */
typedef void (*lw_http_client_cb)(void *arg, lw_http_client_req_t *req,
                                  const lw_http_client_response_t *res, const lw_err_t *err);

/* A client on loop. opts may be NULL (defaults). Returns NULL with err set when libcurl
 * cannot be set up. */
lw_http_client_t *lw_http_client_new(uv_loop_t *loop, const lw_http_client_opts_t *opts,
                                     lw_err_t *err);

/* Cancels every outstanding request (each gets its callback once, with request_canceled,
 * unless its result had already arrived: then that result), closes connections and handles,
 * then calls done (may be NULL) on the loop, after the last request callback. From then on
 * send fails with unavailable; call lw_http_client_free once done has run (done may call
 * it). A second close is ignored: done runs once. */
void lw_http_client_close(lw_http_client_t *c, void (*done)(void *arg), void *arg);

/* Releases the client. NULL is a no-op. Only after lw_http_client_close's done has run. */
void lw_http_client_free(lw_http_client_t *c);

/* Starts a request. Everything in opts is copied (the body unless borrowed). Returns the
 * request, valid until its callback returns; or NULL with err set, and no callback:
 * invalid_argument (no or unsupported URL, CR/LF in a header, a client certificate without
 * key) or unavailable (the client is closing). */
lw_http_client_req_t *lw_http_client_send(lw_http_client_t *c,
                                          const lw_http_client_req_opts_t *opts,
                                          lw_http_client_cb cb, void *arg, lw_err_t *err);

/* Cancels a request whose callback has not run yet: the transfer stops at once, and the
 * callback runs later with request_canceled. If the result had already arrived and waits
 * for its callback, that result is kept. Never call it after the callback has run. */
void lw_http_client_cancel(lw_http_client_req_t *req);

/* The first header named name (case-insensitive) of res, or NULL. */
const char *lw_http_client_response_header(const lw_http_client_response_t *res, const char *name);

#endif
