/* Private to the HTTP server (cluster/http*.c) and its tests and fuzz target: the pure
 * request-decoding functions (URL decoding, query strings, the router's path matching, the
 * JSON body) and the router's tables. No sockets, no loop, no logging here: everything
 * takes bytes and caller-owned buffers, so it can be unit-tested and fuzzed. */
#ifndef LW_HTTP_PRIVATE_H
#define LW_HTTP_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "cluster/err.h"
#include "cluster/http.h"

#define LW_HTTP_MAX_SEGMENTS 16 /* path segments of a route pattern or a request */
#define LW_HTTP_MAX_PARAMS   8  /* `{name}` captures per pattern */
#define LW_HTTP_MAX_QUERY    32 /* query arguments per request */
#define LW_HTTP_MAX_METHOD   8  /* "OPTIONS" + NUL */

/* A decoded name/value pair pointing into a caller-owned buffer. */
typedef struct lw_http__kv {
    const char *name;
    const char *value;
} lw_http__kv_t;

typedef struct lw_http__segment {
    char *text; /* literal text, or the capture's name for `{name}` */
    size_t len;
    bool capture;
} lw_http__segment_t;

typedef struct lw_http__route {
    char method[LW_HTTP_MAX_METHOD];
    char *pattern; /* as registered; also the `route` label of the request metric */
    int nseg;
    int nliteral;
    lw_http__segment_t seg[LW_HTTP_MAX_SEGMENTS];
    lw_http_handler_t handler;
    void *arg;
    void *stats; /* the server's per-route metric series (http.c); freed by the server */
} lw_http__route_t;

typedef struct lw_http__router {
    lw_http__route_t **routes;
    size_t n, cap;
} lw_http__router_t;

typedef enum lw_http__match_result {
    LW_HTTP__MATCH_OK = 0,
    LW_HTTP__MATCH_NOT_FOUND,
    LW_HTTP__MATCH_METHOD,   /* the path matches a route with another method: 405 */
    LW_HTTP__MATCH_BAD_PATH, /* not absolute, contains NUL, or buf too small: 400 */
} lw_http__match_result_t;

typedef struct lw_http__match {
    const lw_http__route_t *route;
    int nparams;
    lw_http__kv_t params[LW_HTTP_MAX_PARAMS];
} lw_http__match_t;

/* Percent-decodes s in place (and '+' to a space when plus_is_space, for query strings).
 * Returns the decoded length, or -1 for a malformed escape or an escaped NUL. */
long lw_http__url_decode(char *s, bool plus_is_space);

/* Splits one decoded query argument ("name=value", "flag") in place at its first '='; a
 * bare name gets the value "". Returns false for an empty argument. */
bool lw_http__query_arg_split(char *arg, lw_http__kv_t *out);

/* Splits a query string (without '?') in place at '&', decodes each argument and fills
 * out[0..cap). Returns the number of arguments kept, or -1 for a malformed escape. */
int lw_http__query_parse(char *query, lw_http__kv_t *out, int cap);

/* Request framing of an HTTP/1 head (request line through the blank line, as received):
 * counts its Content-Length and Transfer-Encoding header lines. h2o reads the body by the
 * first Content-Length, or by Transfer-Encoding when both are present; a request carrying
 * either ambiguity is refused before its body means anything (RFC 9112 §6.3). Returns
 * NULL when the framing is unambiguous, else the reason. */
const char *lw_http__framing_check(const char *head, size_t len);

/* "Acme.Example.COM:1885" → "acme.example.com", "[::1]:80" → "[::1]": writes at most
 * cap - 1 bytes and a NUL into out. */
void lw_http__host_normalize(const char *host, size_t len, char *out, size_t cap);

/* Router tables. Patterns are "/a/b/{name}" (or "/a/b/", matching only paths with that
 * trailing '/'): absolute, no empty segments, captures whole
 * segments only, at most LW_HTTP_MAX_SEGMENTS segments and LW_HTTP_MAX_PARAMS captures.
 * lw_http__router_add returns -1 with err (invalid_argument) on a malformed pattern or
 * method, or a duplicate (method, pattern). The router keeps no pointer to its arguments. */
void lw_http__router_init(lw_http__router_t *r);
void lw_http__router_destroy(lw_http__router_t *r);
int lw_http__router_add(lw_http__router_t *r, const char *method, const char *pattern,
                        lw_http_handler_t handler, void *arg, lw_err_t *err);

/* Matches a decoded request path against the router. Captures point into buf (capacity
 * cap > path_len), a copy of the path split at '/'. Among matching routes the one with the
 * most literal segments wins; on a tie, the first registered. A trailing '/' or an empty
 * segment matches no pattern. */
lw_http__match_result_t lw_http__router_match(const lw_http__router_t *r, const char *method,
                                              const char *path, size_t path_len,
                                              lw_http__match_t *m, char *buf, size_t cap);

/* Parses a request body as a JSON object. An empty body (or only white space) yields an
 * empty object. On failure returns NULL with err set to invalid_json, its message naming
 * line and column, attributes `line`, `column` and `error`. New reference. */
json_t *lw_http__json_parse(const void *body, size_t len, lw_err_t *err);

#endif
