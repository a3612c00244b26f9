/* The HTTP server's pure decoding: percent-decoding, query strings, route matching and JSON
 * bodies (declared in http_private.h). No I/O: fuzzed by tests/fuzz/http. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/hex.h"
#include "cluster/http_private.h"
#include "cluster/mem.h"

bool lw_http__query_arg_split(char *arg, lw_http__kv_t *out)
{
    if (arg[0] == '\0')
        return false;
    char *eq = strchr(arg, '=');
    out->name = arg;
    if (eq != NULL) {
        *eq = '\0';
        out->value = eq + 1;
    } else {
        out->value = arg + strlen(arg); /* "", inside the caller's buffer */
    }
    return true;
}

long lw_http__url_decode(char *s, bool plus_is_space)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (*r == '%') {
            int hi = lw_hex_digit(r[1]), lo = hi < 0 ? -1 : lw_hex_digit(r[2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            *w++ = (char)(hi << 4 | lo);
            r += 2;
        } else {
            *w++ = (plus_is_space && *r == '+') ? ' ' : *r;
        }
    }
    *w = '\0';
    return (long)(w - s);
}

int lw_http__query_parse(char *query, lw_http__kv_t *out, int cap)
{
    int n = 0;
    char *p = query;
    while (p != NULL) {
        char *amp = strchr(p, '&');
        if (amp != NULL)
            *amp = '\0';
        /* Split before decoding, so that an escaped '=' stays in the value. */
        lw_http__kv_t kv;
        if (lw_http__query_arg_split(p, &kv)) {
            if (lw_http__url_decode((char *)kv.name, true) < 0 ||
                lw_http__url_decode((char *)kv.value, true) < 0)
                return -1;
            if (n < cap && kv.name[0] != '\0')
                out[n++] = kv;
        }
        p = amp ? amp + 1 : NULL;
    }
    return n;
}

static bool name_is(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    if (len < n + 1 || line[n] != ':')
        return false;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)line[i]) != name[i])
            return false;
    return true;
}

const char *lw_http__framing_check(const char *head, size_t len)
{
    int cl = 0, te = 0;
    const char *p = memchr(head, '\n', len); /* skip the request line */
    const char *end = head + len;
    while (p != NULL && ++p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = (size_t)((nl ? nl : end) - p);
        if (l > 0 && p[l - 1] == '\r')
            l--;
        if (l == 0)
            break; /* the blank line ending the head */
        cl += name_is(p, l, "content-length");
        te += name_is(p, l, "transfer-encoding");
        p = nl;
    }
    if (te > 0 && cl > 0)
        return "both Transfer-Encoding and Content-Length";
    if (cl > 1)
        return "more than one Content-Length";
    return NULL;
}

void lw_http__host_normalize(const char *host, size_t len, char *out, size_t cap)
{
    size_t end = len;
    if (len > 0 && host[0] == '[') {
        const char *cb = memchr(host, ']', len);
        end = cb ? (size_t)(cb - host) + 1 : len;
    } else {
        const char *colon = memchr(host, ':', len);
        end = colon ? (size_t)(colon - host) : len;
    }
    size_t n = 0;
    for (; n < end && n + 1 < cap; n++)
        out[n] = (char)tolower((unsigned char)host[n]);
    if (cap > 0)
        out[n] = '\0';
}

void lw_http__router_init(lw_http__router_t *r)
{
    memset(r, 0, sizeof *r);
}

static void route_free(lw_http__route_t *rt)
{
    if (rt == NULL)
        return;
    for (int i = 0; i < rt->nseg; i++)
        free(rt->seg[i].text);
    free(rt->pattern);
    free(rt);
}

void lw_http__router_destroy(lw_http__router_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        route_free(r->routes[i]);
    free(r->routes);
    memset(r, 0, sizeof *r);
}

static bool method_valid(const char *m)
{
    size_t n = strlen(m);
    if (n == 0 || n >= LW_HTTP_MAX_METHOD)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isupper((unsigned char)m[i]))
            return false;
    return true;
}

/* Splits a pattern into segments; returns -1 with err when malformed. */
static int pattern_parse(lw_http__route_t *rt, const char *pattern, lw_err_t *err)
{
    if (pattern[0] != '/')
        return lw_err_set(err, &lw_err_invalid_argument, "route pattern `%s` must start with /",
                          pattern);
    const char *p = pattern + 1;
    if (*p == '\0')
        return 0; /* "/": no segments */
    int nparams = 0;
    for (;;) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0)
            return lw_err_set(err, &lw_err_invalid_argument,
                              "route pattern `%s` has an empty segment", pattern);
        if (rt->nseg == LW_HTTP_MAX_SEGMENTS)
            return lw_err_set(err, &lw_err_invalid_argument,
                              "route pattern `%s` has more than %d segments", pattern,
                              LW_HTTP_MAX_SEGMENTS);
        lw_http__segment_t *s = &rt->seg[rt->nseg];
        if (p[0] == '{') {
            if (len < 3 || p[len - 1] != '}' || memchr(p + 1, '{', len - 2) ||
                memchr(p + 1, '}', len - 2))
                return lw_err_set(err, &lw_err_invalid_argument,
                                  "route pattern `%s`: malformed capture", pattern);
            if (++nparams > LW_HTTP_MAX_PARAMS)
                return lw_err_set(err, &lw_err_invalid_argument,
                                  "route pattern `%s` has more than %d captures", pattern,
                                  LW_HTTP_MAX_PARAMS);
            s->capture = true;
            s->text = lw_strndup(p + 1, len - 2);
            s->len = len - 2;
        } else {
            if (memchr(p, '{', len) || memchr(p, '}', len))
                return lw_err_set(err, &lw_err_invalid_argument,
                                  "route pattern `%s`: a capture must be a whole segment", pattern);
            s->text = lw_strndup(p, len);
            s->len = len;
            rt->nliteral++;
        }
        rt->nseg++;
        if (end == NULL)
            break;
        p = end + 1;
        if (*p == '\0' && rt->nseg < LW_HTTP_MAX_SEGMENTS) {
            /* A trailing '/' is a last empty literal segment: the pattern matches only paths
             * that end in '/' (The Things Stack's /api/v3/console/internal/events/). */
            rt->seg[rt->nseg].text = lw_strndup("", 0);
            rt->seg[rt->nseg].len = 0;
            rt->nliteral++;
            rt->nseg++;
            break;
        }
    }
    return 0;
}

int lw_http__router_add(lw_http__router_t *r, const char *method, const char *pattern,
                        lw_http_handler_t handler, void *arg, lw_err_t *err)
{
    if (method == NULL || pattern == NULL || handler == NULL)
        return lw_err_set(err, &lw_err_invalid_argument,
                          "route needs a method, a pattern and a handler");
    if (!method_valid(method))
        return lw_err_set(err, &lw_err_invalid_argument, "invalid HTTP method `%s`", method);
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->routes[i]->method, method) == 0 &&
            strcmp(r->routes[i]->pattern, pattern) == 0)
            return lw_err_set(err, &lw_err_invalid_argument, "route %s %s registered twice", method,
                              pattern);
    lw_http__route_t *rt = lw_calloc(1, sizeof *rt);
    snprintf(rt->method, sizeof rt->method, "%s", method);
    rt->handler = handler;
    rt->arg = arg;
    rt->pattern = lw_strdup(pattern);
    if (pattern_parse(rt, pattern, err) != 0) {
        route_free(rt);
        return -1;
    }
    if (r->n == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 16;
        r->routes = lw_realloc(r->routes, ncap * sizeof *r->routes);
        r->cap = ncap;
    }
    r->routes[r->n++] = rt;
    return 0;
}

lw_http__match_result_t lw_http__router_match(const lw_http__router_t *r, const char *method,
                                              const char *path, size_t path_len,
                                              lw_http__match_t *m, char *buf, size_t cap)
{
    memset(m, 0, sizeof *m);
    if (path_len == 0 || path[0] != '/')
        return LW_HTTP__MATCH_BAD_PATH;

    if (cap <= path_len || memchr(path, '\0', path_len) != NULL)
        return LW_HTTP__MATCH_BAD_PATH;
    /* Split a copy at '/' so that captures are C strings. */
    const char *seg[LW_HTTP_MAX_SEGMENTS];
    size_t seglen[LW_HTTP_MAX_SEGMENTS];
    int nseg = 0;
    memcpy(buf, path, path_len);
    buf[path_len] = '\0';
    if (path_len > 1) {
        char *p = buf + 1;
        for (;;) {
            if (nseg == LW_HTTP_MAX_SEGMENTS)
                return LW_HTTP__MATCH_NOT_FOUND; /* deeper than any route can be */
            char *slash = strchr(p, '/');
            seg[nseg] = p;
            seglen[nseg] = slash ? (size_t)(slash - p) : strlen(p);
            nseg++;
            if (slash == NULL)
                break;
            *slash = '\0';
            p = slash + 1; /* a trailing '/' yields a last empty segment */
        }
    }

    const lw_http__route_t *best = NULL, *best_any = NULL;
    for (size_t k = 0; k < r->n; k++) {
        const lw_http__route_t *rt = r->routes[k];
        if (rt->nseg != nseg)
            continue;
        bool ok = true;
        for (int s = 0; s < nseg && ok; s++) {
            if (rt->seg[s].capture)
                ok = seglen[s] > 0;
            else
                ok = seglen[s] == rt->seg[s].len && memcmp(seg[s], rt->seg[s].text, seglen[s]) == 0;
        }
        if (!ok)
            continue;
        if (best_any == NULL || rt->nliteral > best_any->nliteral)
            best_any = rt;
        if (strcmp(rt->method, method) == 0 && (best == NULL || rt->nliteral > best->nliteral))
            best = rt;
    }
    if (best == NULL)
        return best_any ? LW_HTTP__MATCH_METHOD : LW_HTTP__MATCH_NOT_FOUND;
    /* Only routes of this method compete: a more specific route with another method
     * ("POST /tenants/new") does not hide "GET /tenants/{id}". */
    m->route = best;
    for (int s = 0; s < nseg; s++) {
        if (!best->seg[s].capture)
            continue;
        m->params[m->nparams].name = best->seg[s].text;
        m->params[m->nparams].value = seg[s];
        m->nparams++;
    }
    return LW_HTTP__MATCH_OK;
}

json_t *lw_http__json_parse(const void *body, size_t len, lw_err_t *err)
{
    const unsigned char *b = body;
    size_t i = 0;
    while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
        i++;
    if (i == len)
        return json_object();
    json_error_t je;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL) {
        lw_err_set(err, &lw_err_invalid_json, "invalid JSON body at line %d column %d: %s", je.line,
                   je.column, je.text);
        lw_err_attr_num(err, "line", je.line);
        lw_err_attr_num(err, "column", je.column);
        lw_err_attr(err, "error", je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        lw_err_set(err, &lw_err_invalid_json, "invalid JSON body: expected an object");
        lw_err_attr_num(err, "line", 1);
        lw_err_attr_num(err, "column", (long long)i + 1);
        lw_err_attr(err, "error", "expected an object");
        return NULL;
    }
    return j;
}
