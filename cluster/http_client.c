/* Outbound HTTP on libcurl's multi interface, driven from the libuv loop (http_client.h).
 *
 * libcurl tells us which sockets to watch (on_curl_socket → one uv_poll per socket) and when
 * to call it back (on_curl_timer → one uv_timer); both hand control back with
 * curl_multi_socket_action. Finished transfers, canceled ones included, go to a FIFO that a
 * uv_idle handle drains on the next loop iteration, so a callback never runs inside the
 * call that caused it and never inside a libcurl callback: user code may then call any
 * function of this module. */
#include "cluster/http_client.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "cluster/mem.h"

typedef struct hc_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    lw_http_client_t *client;
    struct hc_sock *prev, *next;
} hc_sock_t;

struct lw_http_client_req {
    lw_http_client_t *client;
    CURL *easy;
    struct curl_slist *headers;
    void *body_copy;
    lw_http_client_cb cb;
    void *arg;
    lw_http_client_req_t *prev, *next; /* in client->running, or next in the done FIFO */
    bool finished;                     /* result decided, waiting in the done FIFO */
    bool connected;                    /* the request was about to be sent (PREREQFUNCTION) */
    bool body_too_large;
    bool headers_too_large;
    size_t max_body;
    long long timeout_ms;
    char *body;
    size_t body_len, body_cap;
    char *head; /* header lines of the latest response, as received */
    size_t head_len, head_cap, head_total, head_lines;
    lw_http_client_header_t *parsed;
    size_t nparsed;
    int status;
    lw_err_t err;
    bool failed;
    char origin[160]; /* scheme://host:port, for messages: never the path or query */
    char errbuf[CURL_ERROR_SIZE];
};

struct lw_http_client {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    uv_idle_t idle;
    char *user_agent;
    lw_http_client_req_t *running;
    lw_http_client_req_t *done_head, *done_tail;
    hc_sock_t *socks;
    int open_handles;
    bool closing;
    bool multi_gone;
    bool done_called;
    void (*done)(void *arg);
    void *done_arg;
    /* lwstack_http_client_requests_total, one series per outcome (all NULL without metrics) */
    lw_metric_series_t *by_status_class[5]; /* 1xx..5xx */
    lw_metric_series_t *by_error[7];        /* outcome_errors[i] */
};

/* The errors a request's callback can see, in the order of lw_http_client.by_error. */
static const lw_err_def_t *const outcome_errors[7] = {
    &lw_err_request_timeout,    &lw_err_connection_failed, &lw_err_tls_failed,
    &lw_err_response_too_large, &lw_err_request_canceled,  &lw_err_request_failed,
    &lw_err_internal,
};

static void on_idle(uv_idle_t *h);

/* ---- lists ---- */

static void running_link(lw_http_client_t *c, lw_http_client_req_t *r)
{
    r->prev = NULL;
    r->next = c->running;
    if (c->running != NULL)
        c->running->prev = r;
    c->running = r;
}

static void running_unlink(lw_http_client_t *c, lw_http_client_req_t *r)
{
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        c->running = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

/* Moves a running request to the done FIFO; its result is in r (err/failed or status). */
static void req_queue_done(lw_http_client_req_t *r)
{
    lw_http_client_t *c = r->client;
    if (r->easy != NULL)
        curl_multi_remove_handle(c->multi, r->easy);
    running_unlink(c, r);
    r->finished = true;
    if (c->done_tail != NULL)
        c->done_tail->next = r;
    else
        c->done_head = r;
    c->done_tail = r;
    uv_idle_start(&c->idle, on_idle); /* a no-op when already started */
}

static void req_free(lw_http_client_req_t *r)
{
    if (r == NULL)
        return;
    if (r->easy != NULL)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->body_copy);
    free(r->body);
    free(r->head);
    free(r->parsed);
    free(r);
}

/* ---- closing ---- */

static void client_handle_closed(lw_http_client_t *c)
{
    if (--c->open_handles > 0 || !c->multi_gone || c->done_called)
        return;
    c->done_called = true;
    if (c->done != NULL)
        c->done(c->done_arg); /* may free c: nothing after this */
}

static void on_handle_closed(uv_handle_t *h)
{
    client_handle_closed(h->data);
}

static void on_sock_closed(uv_handle_t *h)
{
    hc_sock_t *s = h->data;
    lw_http_client_t *c = s->client;
    free(s);
    client_handle_closed(c);
}

static void sock_close(hc_sock_t *s)
{
    lw_http_client_t *c = s->client;
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        c->socks = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

/* Once closing and every callback has run: libcurl lets go of its connections (removing
 * their sockets through on_curl_socket), then our handles close; done runs after the last. */
static void maybe_finish_close(lw_http_client_t *c)
{
    if (!c->closing || c->multi_gone || c->running != NULL || c->done_head != NULL)
        return;
    c->multi_gone = true; /* libcurl's callbacks during the clean-up leave it alone */
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    while (c->socks != NULL)
        sock_close(c->socks);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->idle, on_handle_closed);
}

/* ---- results ---- */

/* "<what> <origin> failed: <detail>", e.g. "connection to http://127.0.0.1:1 failed: ..." */
static void req_fail(lw_http_client_req_t *r, const lw_err_def_t *def, const char *what,
                     const char *detail)
{
    r->failed = true;
    lw_err_set(&r->err, def, "%s %s failed: %s", what, r->origin, detail);
    lw_err_attr(&r->err, "host", r->origin);
}

static bool is_tls_error(CURLcode rc)
{
    switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_CLIENTCERT:
        return true;
    default:
        return false;
    }
}

/* Splits the header block of the final response into name/value pairs, in place. */
static void req_parse_headers(lw_http_client_req_t *r)
{
    if (r->head_lines == 0)
        return;
    r->parsed = lw_calloc(r->head_lines, sizeof *r->parsed);
    char *p = r->head, *end = r->head + r->head_len;
    bool status_line = true;
    while (p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        char *next = eol != NULL ? eol + 1 : end;
        char *stop = eol != NULL ? eol : end;
        if (stop > p && stop[-1] == '\r')
            stop--;
        *stop = '\0';
        char *colon = strchr(p, ':');
        /* The status line and obsolete folded continuations (RFC 9112 §5.2) are skipped. */
        if (!status_line && colon != NULL && colon > p && *p != ' ' && *p != '\t' &&
            r->nparsed < r->head_lines) {
            *colon = '\0';
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            char *ve = v + strlen(v);
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                *--ve = '\0';
            r->parsed[r->nparsed].name = p;
            r->parsed[r->nparsed].value = v;
            r->nparsed++;
        }
        status_line = false;
        p = next;
    }
}

static void req_set_result(lw_http_client_req_t *r, CURLcode rc)
{
    const char *detail = r->errbuf[0] != '\0' ? r->errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        r->status = (int)status;
        req_parse_headers(r);
    } else if (r->body_too_large || r->headers_too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        r->failed = true;
        if (r->headers_too_large)
            lw_err_set(&r->err, &lw_err_response_too_large,
                       "response headers from %s larger than %u bytes", r->origin,
                       LW_HTTP_CLIENT_MAX_HEADER_BYTES);
        else
            lw_err_set(&r->err, &lw_err_response_too_large,
                       "response body from %s larger than %zu bytes", r->origin, r->max_body);
        lw_err_attr(&r->err, "host", r->origin);
        lw_err_attr_num(&r->err, "max_bytes",
                        r->headers_too_large ? (long long)LW_HTTP_CLIENT_MAX_HEADER_BYTES
                                             : (long long)r->max_body);
    } else if (rc == CURLE_OPERATION_TIMEDOUT && r->connected) {
        r->failed = true;
        lw_err_set(&r->err, &lw_err_request_timeout, "request to %s timed out after %lld ms",
                   r->origin, r->timeout_ms);
        lw_err_attr(&r->err, "host", r->origin);
        lw_err_attr_num(&r->err, "timeout_ms", r->timeout_ms);
    } else if (rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_COULDNT_CONNECT ||
               rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY) {
        req_fail(r, &lw_err_connection_failed, "connection to", detail);
    } else if (is_tls_error(rc) || (rc == CURLE_RECV_ERROR && strstr(detail, " alert ") != NULL)) {
        /* A TLS alert read after the handshake: in TLS 1.3 that is how a server refuses the
         * client certificate ("tlsv13 alert certificate required"). */
        req_fail(r, &lw_err_tls_failed, "TLS with", detail);
    } else {
        req_fail(r, &lw_err_request_failed, "request to", detail);
    }
}

static void check_finished(lw_http_client_t *c)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURLcode rc = m->data.result; /* m is invalid once the handle is removed */
        char *priv = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        lw_http_client_req_t *r = (lw_http_client_req_t *)priv;
        req_set_result(r, rc);
        req_queue_done(r);
    }
}

static void count_outcome(lw_http_client_t *c, const lw_http_client_req_t *r)
{
    if (!r->failed) {
        if (r->status >= 100 && r->status < 600)
            lw_metric_series_add(c->by_status_class[r->status / 100 - 1], 1);
        return;
    }
    for (size_t i = 0; i < sizeof outcome_errors / sizeof outcome_errors[0]; i++)
        if (r->err.def == outcome_errors[i])
            lw_metric_series_add(c->by_error[i], 1);
}

static void on_idle(uv_idle_t *h)
{
    lw_http_client_t *c = h->data;
    /* Callbacks may send, cancel or close: each of those only appends to this FIFO. */
    while (c->done_head != NULL) {
        lw_http_client_req_t *r = c->done_head;
        c->done_head = r->next;
        if (c->done_head == NULL)
            c->done_tail = NULL;
        r->next = NULL;
        count_outcome(c, r);
        if (r->failed) {
            r->cb(r->arg, r, NULL, &r->err);
        } else {
            lw_http_client_response_t res = {
                .status = r->status,
                .body = r->body != NULL ? (const uint8_t *)r->body : (const uint8_t *)"",
                .body_len = r->body_len,
                .headers = r->parsed,
                .nheaders = r->nparsed,
            };
            r->cb(r->arg, r, &res, NULL);
        }
        req_free(r);
    }
    uv_idle_stop(h);
    maybe_finish_close(c);
}

/* ---- libcurl's callbacks ---- */

static void on_poll(uv_poll_t *p, int status, int events)
{
    hc_sock_t *s = p->data;
    lw_http_client_t *c = s->client;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(c->multi, s->fd, flags, &running); /* s may be closing after */
    check_finished(c);
}

static void on_timer(uv_timer_t *t)
{
    lw_http_client_t *c = t->data;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_finished(c);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    lw_http_client_t *c = userp;
    hc_sock_t *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            sock_close(s);
            if (!c->multi_gone)
                curl_multi_assign(c->multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL) {
        s = lw_calloc(1, sizeof *s);
        if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->fd = fd;
        s->client = c;
        s->poll.data = s;
        s->next = c->socks;
        if (c->socks != NULL)
            c->socks->prev = s;
        c->socks = s;
        c->open_handles++;
        curl_multi_assign(c->multi, fd, s);
    }
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    return uv_poll_start(&s->poll, events, on_poll) == 0 ? 0 : -1;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    lw_http_client_t *c = userp;
    if (c->multi_gone)
        return 0;
    /* libcurl must not be re-entered from here: even 0 ms goes through the loop. */
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* Grows *buf to at least need bytes, doubling from 1 KiB but never past limit. */
static void buf_reserve(char **buf, size_t *cap, size_t need, size_t limit)
{
    if (need <= *cap)
        return;
    size_t n = *cap != 0 ? *cap : 1024;
    while (n < need)
        n *= 2;
    if (n > limit)
        n = limit;
    *buf = lw_realloc(*buf, n);
    *cap = n;
}

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
    lw_http_client_req_t *r = userp;
    size_t len = size * n;
    if (len > r->max_body - r->body_len) {
        r->body_too_large = true;
        return 0; /* aborts the transfer (CURLE_WRITE_ERROR) */
    }
    /* The NUL after the body; growth stops at the cap. */
    size_t limit = r->max_body < SIZE_MAX ? r->max_body + 1 : SIZE_MAX;
    buf_reserve(&r->body, &r->body_cap, r->body_len + len + 1, limit);
    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *userp)
{
    lw_http_client_req_t *r = userp;
    size_t len = size * n;
    r->head_total += len;
    if (r->head_total > LW_HTTP_CLIENT_MAX_HEADER_BYTES) {
        r->headers_too_large = true;
        return 0;
    }
    /* A status line starts a new response (after 100 Continue, 103 Early Hints): only the
     * final response's headers are kept. */
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        r->head_len = 0;
        r->head_lines = 0;
    }
    if (++r->head_lines > LW_HTTP_CLIENT_MAX_HEADERS + 1) {
        r->headers_too_large = true;
        return 0;
    }
    buf_reserve(&r->head, &r->head_cap, r->head_len + len, SIZE_MAX);
    memcpy(r->head + r->head_len, data, len);
    r->head_len += len;
    return len;
}

static int on_prereq(void *userp, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                     int conn_local_port)
{
    (void)conn_primary_ip, (void)conn_local_ip, (void)conn_primary_port, (void)conn_local_port;
    lw_http_client_req_t *r = userp;
    r->connected = true;
    return CURL_PREREQFUNC_OK;
}

/* ---- the client ---- */

static void metrics_resolve(lw_http_client_t *c, const lw_http_client_opts_t *opts)
{
    static const char *const labels[] = {"client", "outcome", NULL};
    static const char *const classes[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    if (opts->metrics == NULL)
        return;
    lw_metric_t *fam = lw_metrics_counter(
        opts->metrics, "lwstack_http_client_requests_total",
        "Outbound HTTP requests by outcome: the status class of a response, or the error.", labels);
    const char *name = opts->name != NULL ? opts->name : "default";
    for (size_t i = 0; i < 5; i++)
        c->by_status_class[i] =
            lw_metric_series(fam, (const char *const[]){name, classes[i], NULL});
    for (size_t i = 0; i < sizeof outcome_errors / sizeof outcome_errors[0]; i++)
        c->by_error[i] =
            lw_metric_series(fam, (const char *const[]){name, outcome_errors[i]->name, NULL});
}

lw_http_client_t *lw_http_client_new(uv_loop_t *loop, const lw_http_client_opts_t *opts,
                                     lw_err_t *err)
{
    static const lw_http_client_opts_t defaults = {0};
    if (opts == NULL)
        opts = &defaults;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        lw_err_set(err, &lw_err_internal, "libcurl initialisation failed");
        return NULL;
    }
    lw_http_client_t *c = lw_calloc(1, sizeof *c);
    c->loop = loop;
    c->user_agent = lw_strdup(opts->user_agent != NULL ? opts->user_agent : "lwstack");
    c->multi = curl_multi_init();
    if (c->multi == NULL)
        goto fail;
    long idle = opts->max_idle_connections > 0 ? opts->max_idle_connections
                                               : LW_HTTP_CLIENT_MAX_IDLE_CONNECTIONS;
    if (curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, idle) != CURLM_OK ||
        curl_multi_setopt(
            c->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
            (long)(opts->max_host_connections > 0 ? opts->max_host_connections : 0)) != CURLM_OK)
        goto fail;
    metrics_resolve(c, opts);
    /* Both handles exist from here to close; neither keeps the loop alive when stopped. */
    uv_timer_init(loop, &c->timer);
    uv_idle_init(loop, &c->idle);
    c->timer.data = c;
    c->idle.data = c;
    c->open_handles = 2;
    return c;
fail:
    if (c->multi != NULL)
        curl_multi_cleanup(c->multi);
    free(c->user_agent);
    free(c);
    curl_global_cleanup();
    lw_err_set(err, &lw_err_internal, "HTTP client set-up failed");
    return NULL;
}

void lw_http_client_close(lw_http_client_t *c, void (*done)(void *arg), void *arg)
{
    if (c->closing)
        return;
    c->closing = true;
    c->done = done;
    c->done_arg = arg;
    while (c->running != NULL) {
        lw_http_client_req_t *r = c->running;
        r->failed = true;
        lw_err_set(&r->err, &lw_err_request_canceled, "request to %s canceled: client closed",
                   r->origin);
        lw_err_attr(&r->err, "host", r->origin);
        req_queue_done(r);
    }
    uv_idle_start(&c->idle, on_idle); /* finishes the close, even with nothing queued */
}

void lw_http_client_free(lw_http_client_t *c)
{
    if (c == NULL)
        return;
    free(c->user_agent);
    free(c);
    curl_global_cleanup();
}

void lw_http_client_cancel(lw_http_client_req_t *req)
{
    if (req->finished)
        return;
    req->failed = true;
    lw_err_set(&req->err, &lw_err_request_canceled, "request to %s canceled", req->origin);
    lw_err_attr(&req->err, "host", req->origin);
    req_queue_done(req);
}

const char *lw_http_client_response_header(const lw_http_client_response_t *res, const char *name)
{
    for (size_t i = 0; i < res->nheaders; i++)
        if (strcasecmp(res->headers[i].name, name) == 0)
            return res->headers[i].value;
    return NULL;
}

/* ---- a request ---- */

/* Checks the URL and writes its origin (scheme://host:port) into r->origin. */
static int req_check_url(lw_http_client_req_t *r, const char *url, lw_err_t *err)
{
    int rc = -1;
    char *scheme = NULL, *host = NULL, *port = NULL;
    CURLU *u = curl_url();
    if (u == NULL)
        return lw_err_set(err, &lw_err_internal, "out of memory");
    if (url == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        lw_err_set(err, &lw_err_invalid_argument, "invalid request URL");
        goto out;
    }
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        lw_err_set(err, &lw_err_invalid_argument, "unsupported URL scheme `%s`", scheme);
        goto out;
    }
    snprintf(r->origin, sizeof r->origin, "%s://%s:%s", scheme, host, port);
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

static int slist_add(struct curl_slist **list, const char *line)
{
    struct curl_slist *l = curl_slist_append(*list, line);
    if (l == NULL)
        return -1;
    *list = l;
    return 0;
}

static int header_append(struct curl_slist **list, const char *name, const char *value)
{
    /* "Name;" sends an empty header; "Name:" would remove it. */
    size_t len = strlen(name) + strlen(value) + 3;
    char *line = lw_malloc(len);
    if (value[0] == '\0')
        snprintf(line, len, "%s;", name);
    else
        snprintf(line, len, "%s: %s", name, value);
    int rc = slist_add(list, line);
    free(line);
    return rc;
}

static int req_build_headers(lw_http_client_req_t *r, const lw_http_client_req_opts_t *o,
                             lw_err_t *err)
{
    bool content_type = false, expect = false;
    for (size_t i = 0; i < o->nheaders; i++) {
        const char *name = o->headers[i].name, *value = o->headers[i].value;
        if (name == NULL || value == NULL || name[0] == '\0' || strpbrk(name, "\r\n: \t") != NULL ||
            strpbrk(value, "\r\n") != NULL)
            return lw_err_set(err, &lw_err_invalid_argument,
                              "invalid request header %zu (name or value)", i);
        if (strcasecmp(name, "Content-Type") == 0)
            content_type = true;
        if (strcasecmp(name, "Expect") == 0)
            expect = true;
        if (header_append(&r->headers, name, value) != 0)
            return lw_err_set(err, &lw_err_internal, "out of memory");
    }
    /* libcurl would otherwise add "Content-Type: application/x-www-form-urlencoded" to a
     * body, and "Expect: 100-continue" to a large one (a round trip for nothing). */
    if ((!content_type && slist_add(&r->headers, "Content-Type:") != 0) ||
        (!expect && slist_add(&r->headers, "Expect:") != 0))
        return lw_err_set(err, &lw_err_internal, "out of memory");
    return 0;
}

static int req_set_method(lw_http_client_req_t *r, const lw_http_client_req_opts_t *o)
{
    const char *method = o->method != NULL ? o->method : "GET";
    CURL *e = r->easy;
    bool body = o->body_len > 0 || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
                strcmp(method, "PATCH") == 0;
    if (strcmp(method, "HEAD") == 0)
        return curl_easy_setopt(e, CURLOPT_NOBODY, 1L) == CURLE_OK ? 0 : -1;
    if (body) {
        const void *data = o->body;
        if (o->body_len > 0 && !o->body_borrowed) {
            r->body_copy = lw_malloc(o->body_len);
            memcpy(r->body_copy, o->body, o->body_len);
            data = r->body_copy;
        }
        if (curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, o->body_len > 0 ? data : "") != CURLE_OK)
            return -1;
    }
    if (strcmp(method, "GET") == 0 && !body)
        return 0;
    if (strcmp(method, "POST") == 0)
        return 0;
    return curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method) == CURLE_OK ? 0 : -1;
}

static int req_setup_easy(lw_http_client_req_t *r, const lw_http_client_req_opts_t *o)
{
    lw_http_client_t *c = r->client;
    CURL *e = r->easy;
    long long connect_ms =
        o->connect_timeout_ms > 0 ? o->connect_timeout_ms : LW_HTTP_CLIENT_CONNECT_TIMEOUT_MS;
    /* Each option is checked: an unknown one (an older libcurl) fails the request rather
     * than silently dropping, say, peer verification. */
    if (curl_easy_setopt(e, CURLOPT_URL, o->url) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PROXY, "") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEDATA, r) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HEADERDATA, r) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PREREQDATA, r) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                         (curl_off_t)(r->max_body < INT64_MAX ? r->max_body : INT64_MAX)) !=
            CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers) != CURLE_OK)
        return -1;
    if ((o->ca_file != NULL && curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file) != CURLE_OK) ||
        (o->client_cert_file != NULL &&
         (curl_easy_setopt(e, CURLOPT_SSLCERT, o->client_cert_file) != CURLE_OK ||
          curl_easy_setopt(e, CURLOPT_SSLKEY, o->client_key_file) != CURLE_OK)))
        return -1;
    return req_set_method(r, o);
}

lw_http_client_req_t *lw_http_client_send(lw_http_client_t *c,
                                          const lw_http_client_req_opts_t *opts,
                                          lw_http_client_cb cb, void *arg, lw_err_t *err)
{
    if (c->closing) {
        lw_err_set(err, &lw_err_unavailable, "HTTP client closing");
        return NULL;
    }
    if ((opts->client_cert_file == NULL) != (opts->client_key_file == NULL)) {
        lw_err_set(err, &lw_err_invalid_argument,
                   "a client certificate needs its key, and a key its certificate");
        return NULL;
    }
    lw_http_client_req_t *r = lw_calloc(1, sizeof *r);
    r->client = c;
    r->cb = cb;
    r->arg = arg;
    r->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : LW_HTTP_CLIENT_TIMEOUT_MS;
    r->max_body =
        opts->max_response_bytes > 0 ? opts->max_response_bytes : LW_HTTP_CLIENT_MAX_RESPONSE_BYTES;
    if (req_check_url(r, opts->url, err) != 0 || req_build_headers(r, opts, err) != 0)
        goto fail;
    r->easy = curl_easy_init();
    if (r->easy == NULL || req_setup_easy(r, opts) != 0) {
        lw_err_set(err, &lw_err_internal, "HTTP request set-up failed");
        goto fail;
    }
    if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
        lw_err_set(err, &lw_err_internal, "HTTP request start failed");
        goto fail;
    }
    running_link(c, r);
    return r;
fail:
    req_free(r);
    return NULL;
}
