/* Unit tests of the outbound HTTP client (cluster/http_client.c) on a real libuv loop,
 * against a small HTTP/1.1 server written here on the same loop (127.0.0.1, ephemeral port,
 * counting the connections it accepts) and, for TLS, `openssl s_server` with a CA and a
 * server certificate made by the openssl command at run time in a temporary folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster/http_client.h"

extern char **environ;

/* strcasestr is a GNU extension. */
static const char *find_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay != '\0'; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

/* ---- a test HTTP server on the loop ---- */

typedef struct srv srv_t;

typedef struct srv_conn {
    uv_tcp_t tcp;
    srv_t *srv;
    char buf[16384];
    size_t len;
    struct srv_conn *next;
} srv_conn_t;

struct srv {
    uv_tcp_t listener;
    int port;
    int accepted; /* connections */
    int requests; /* complete requests read */
    srv_conn_t *conns;
    int open; /* handles not yet closed */
};

typedef struct srv_write {
    uv_write_t req;
    char data[];
} srv_write_t;

static void srv_on_closed(uv_handle_t *h)
{
    srv_t *s = h->data;
    if (h != (uv_handle_t *)&s->listener) {
        srv_conn_t **pp = &s->conns;
        while (*pp != (srv_conn_t *)h)
            pp = &(*pp)->next;
        *pp = ((srv_conn_t *)h)->next;
        free(h);
    }
    s->open--;
}

static void srv_on_written(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

static void srv_send(srv_conn_t *c, const char *data, size_t len)
{
    srv_write_t *w = malloc(sizeof *w + len);
    assert_non_null(w);
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    assert_int_equal(uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, srv_on_written), 0);
}

static void srv_sendf(srv_conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void srv_sendf(srv_conn_t *c, const char *fmt, ...)
{
    char out[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, sizeof out, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof out);
    srv_send(c, out, (size_t)n);
}

/* Answers one request (head and body in req, req_len bytes) by its path. */
static void srv_answer(srv_conn_t *c, const char *req, size_t req_len)
{
    char path[256] = "";
    sscanf(req, "%*s %255s", path);
    int status;
    if (strcmp(path, "/ok") == 0) {
        srv_sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Test:  hello there \r\n"
                     "\r\nhello world");
    } else if (sscanf(path, "/status/%d", &status) == 1) {
        srv_sendf(c, "HTTP/1.1 %d Whatever\r\nContent-Length: 10\r\n\r\nstatus %d", status, status);
    } else if (strcmp(path, "/echo") == 0) {
        /* The request as received, head and body, is the answer's body. */
        srv_sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", req_len);
        srv_send(c, req, req_len);
    } else if (strncmp(path, "/big/", 5) == 0) {
        size_t n = strtoul(path + 5, NULL, 10);
        char *body = malloc(n);
        assert_non_null(body);
        memset(body, 'x', n);
        srv_sendf(c, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
        srv_send(c, body, n);
        free(body);
    } else if (strcmp(path, "/stream") == 0) {
        /* 100 chunks of 1000 bytes, no Content-Length. */
        char chunk[1000 + 16];
        int n = snprintf(chunk, sizeof chunk, "3e8\r\n");
        memset(chunk + n, 'y', 1000);
        memcpy(chunk + n + 1000, "\r\n", 2);
        srv_sendf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (int i = 0; i < 100; i++)
            srv_send(c, chunk, (size_t)n + 1002);
        srv_sendf(c, "0\r\n\r\n");
    }
    /* "/hang" and anything else: no answer, the connection stays open. */
}

static void srv_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    srv_conn_t *c = (srv_conn_t *)h;
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(sizeof c->buf - c->len - 1));
}

static void srv_on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    srv_conn_t *c = (srv_conn_t *)st;
    if (n < 0) {
        if (!uv_is_closing((uv_handle_t *)st))
            uv_close((uv_handle_t *)st, srv_on_closed);
        return;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    for (;;) {
        char *end = strstr(c->buf, "\r\n\r\n");
        if (end == NULL)
            return;
        size_t head = (size_t)(end + 4 - c->buf), body = 0;
        const char *cl = find_ci(c->buf, "\r\nContent-Length:");
        if (cl != NULL && cl < end)
            body = strtoul(cl + 17, NULL, 10);
        if (c->len < head + body)
            return;
        c->srv->requests++;
        srv_answer(c, c->buf, head + body);
        memmove(c->buf, c->buf + head + body, c->len - head - body);
        c->len -= head + body;
        c->buf[c->len] = '\0';
    }
}

static void srv_on_connection(uv_stream_t *l, int status)
{
    assert_int_equal(status, 0);
    srv_t *s = l->data;
    srv_conn_t *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->srv = s;
    assert_int_equal(uv_tcp_init(l->loop, &c->tcp), 0);
    c->tcp.data = s;
    c->next = s->conns;
    s->conns = c;
    s->open++;
    assert_int_equal(uv_accept(l, (uv_stream_t *)&c->tcp), 0);
    s->accepted++;
    assert_int_equal(uv_read_start((uv_stream_t *)&c->tcp, srv_on_alloc, srv_on_read), 0);
}

static void srv_start(srv_t *s, uv_loop_t *loop)
{
    memset(s, 0, sizeof *s);
    struct sockaddr_in addr;
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
    assert_int_equal(uv_tcp_init(loop, &s->listener), 0);
    s->listener.data = s;
    s->open = 1;
    assert_int_equal(uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 16, srv_on_connection), 0);
    struct sockaddr_in bound;
    int len = sizeof bound;
    assert_int_equal(uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len), 0);
    s->port = ntohs(bound.sin_port);
}

static void srv_stop(srv_t *s)
{
    for (srv_conn_t *c = s->conns; c != NULL; c = c->next)
        if (!uv_is_closing((uv_handle_t *)&c->tcp))
            uv_close((uv_handle_t *)&c->tcp, srv_on_closed);
    uv_close((uv_handle_t *)&s->listener, srv_on_closed);
}

/* ---- TLS: a CA, a server certificate for 127.0.0.1, and openssl s_server ---- */

static struct tls_env {
    char dir[64];
    char ca[96], key[96], crt[96];
    pid_t pid, mtls_pid; /* s_server, and one that requires a client certificate */
    int port, mtls_port;
    FILE *out, *mtls_out;
} tls;

static int run_openssl(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd %s && openssl %s >/dev/null 2>&1", tls.dir, args);
    return system(cmd);
}

/* Starts `openssl s_server -www` on an ephemeral port: it binds port 0 and prints
 * "ACCEPT 127.0.0.1:<port>" on stdout, kept open (in *out) until teardown so that its
 * later lines never fail. With require_client_cert, the peer must present a certificate
 * from the test CA. */
static void spawn_s_server(bool require_client_cert, pid_t *pid, int *port, FILE **out)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    /* Under timeout(1), so that a test run that dies leaves no server behind for long;
     * timeout passes our SIGTERM on to s_server. */
    char *argv[20] = {"timeout", "300",   "openssl", "s_server", "-accept", "127.0.0.1:0",
                      "-www",    "-cert", tls.crt,   "-key",     tls.key};
    if (require_client_cert) {
        argv[11] = "-Verify";
        argv[12] = "1";
        argv[13] = "-CAfile";
        argv[14] = tls.ca;
    }
    assert_int_equal(posix_spawnp(pid, "timeout", &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    *out = fdopen(fds[0], "r");
    assert_non_null(*out);
    char line[256];
    *port = 0;
    while (*port == 0 && fgets(line, sizeof line, *out) != NULL)
        sscanf(line, "ACCEPT 127.0.0.1:%d", port);
    assert_true(*port > 0);
}

static int tls_setup(void **state)
{
    (void)state;
    snprintf(tls.dir, sizeof tls.dir, "/tmp/lw-http-client-XXXXXX");
    assert_non_null(mkdtemp(tls.dir));
    snprintf(tls.ca, sizeof tls.ca, "%s/ca.crt", tls.dir);
    snprintf(tls.key, sizeof tls.key, "%s/srv.key", tls.dir);
    snprintf(tls.crt, sizeof tls.crt, "%s/srv.crt", tls.dir);
    char ext[96];
    snprintf(ext, sizeof ext, "%s/ext", tls.dir);
    FILE *f = fopen(ext, "w");
    assert_non_null(f);
    fputs("subjectAltName=IP:127.0.0.1\n", f);
    fclose(f);
    assert_int_equal(run_openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
                                 " -keyout ca.key -out ca.crt -subj /CN=lwstack-test-ca -days 2"
                                 " -addext basicConstraints=critical,CA:TRUE"
                                 " -addext keyUsage=critical,keyCertSign,cRLSign"),
                     0);
    assert_int_equal(run_openssl("req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
                                 " -keyout srv.key -out srv.csr -subj /CN=127.0.0.1"),
                     0);
    assert_int_equal(run_openssl("x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -set_serial 1"
                                 " -days 2 -extfile ext -out srv.crt"),
                     0);

    spawn_s_server(false, &tls.pid, &tls.port, &tls.out);
    spawn_s_server(true, &tls.mtls_pid, &tls.mtls_port, &tls.mtls_out);
    return 0;
}

static int tls_teardown(void **state)
{
    (void)state;
    pid_t pids[] = {tls.pid, tls.mtls_pid};
    FILE *outs[] = {tls.out, tls.mtls_out};
    for (size_t i = 0; i < 2; i++) {
        if (pids[i] > 0) {
            kill(pids[i], SIGTERM);
            waitpid(pids[i], NULL, 0);
        }
        if (outs[i] != NULL)
            fclose(outs[i]);
    }
    const char *files[] = {"ca.key", "ca.crt", "srv.key", "srv.csr", "srv.crt", "ext"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", tls.dir, files[i]);
        unlink(p);
    }
    rmdir(tls.dir);
    return 0;
}

/* ---- fixture: a loop, the server, a client ---- */

#define MAX_CALLS 16

typedef struct call {
    lw_http_client_req_t *req;
    int status;
    char body[256];
    size_t body_len;
    char header[64];
    char err_name[64];
    char err_message[256];
    char err_attr[160]; /* "key=value" of the first attribute after "host" */
    bool had_res;
} call_t;

typedef struct fixture {
    uv_loop_t loop;
    srv_t srv;
    lw_http_client_t *client;
    call_t calls[MAX_CALLS];
    int ncalls;
    int done_calls;
    int ncalls_at_done;
    bool closed;
    uv_timer_t guard;
    bool guard_fired;
    int active_client_handles;
    /* what the next request callback does */
    const char *then_path;
    bool then_close;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    srv_start(&f->srv, &f->loop);
    assert_int_equal(uv_timer_init(&f->loop, &f->guard), 0);
    f->guard.data = f;
    lw_err_t err;
    f->client = lw_http_client_new(&f->loop, NULL, &err);
    assert_non_null(f->client);
    *state = f;
    return 0;
}

static void on_closed(void *arg)
{
    fixture_t *f = arg;
    f->done_calls++;
    f->ncalls_at_done = f->ncalls;
}

static void on_guard(uv_timer_t *t)
{
    fixture_t *f = t->data;
    f->guard_fired = true;
}

/* Runs the loop until *count reaches want (or until a 20 s guard against a hang: that fails the
 * test). */
static void run_until(fixture_t *f, const int *count, int want)
{
    uv_timer_start(&f->guard, on_guard, 20000, 0);
    while (*count < want && !f->guard_fired)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_timer_stop(&f->guard);
    assert_false(f->guard_fired);
}

static void close_client(fixture_t *f)
{
    if (f->closed)
        return;
    f->closed = true;
    lw_http_client_close(f->client, on_closed, f);
    run_until(f, &f->done_calls, 1);
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    close_client(f);
    assert_int_equal(f->done_calls, 1);
    lw_http_client_free(f->client);
    srv_stop(&f->srv);
    uv_close((uv_handle_t *)&f->guard, NULL);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->srv.open, 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

static void url_for(char *buf, size_t len, int port, const char *path)
{
    snprintf(buf, len, "http://127.0.0.1:%d%s", port, path);
}

static lw_http_client_req_t *send_opts(fixture_t *f, lw_http_client_req_opts_t *o);

static void on_response(void *arg, lw_http_client_req_t *req, const lw_http_client_response_t *res,
                        const lw_err_t *err)
{
    fixture_t *f = arg;
    assert_true(f->ncalls < MAX_CALLS);
    call_t *c = &f->calls[f->ncalls++];
    c->req = req;
    assert_true((res == NULL) != (err == NULL));
    if (res != NULL) {
        c->had_res = true;
        c->status = res->status;
        c->body_len = res->body_len;
        assert_int_equal(res->body[res->body_len], '\0');
        snprintf(c->body, sizeof c->body, "%s", (const char *)res->body);
        const char *h = lw_http_client_response_header(res, "x-test");
        snprintf(c->header, sizeof c->header, "%s", h != NULL ? h : "(none)");
    } else {
        snprintf(c->err_name, sizeof c->err_name, "%s", lw_err_name(err));
        snprintf(c->err_message, sizeof c->err_message, "%s", err->message);
        for (int i = 0; i < err->nattrs; i++)
            if (strcmp(err->attrs[i].key, "host") != 0) {
                snprintf(c->err_attr, sizeof c->err_attr, "%s=%s", err->attrs[i].key,
                         err->attrs[i].value);
                break;
            }
    }
    if (f->then_close) {
        f->then_close = false;
        f->closed = true;
        lw_http_client_close(f->client, on_closed, f);
    }
    if (f->then_path != NULL) {
        char url[128];
        url_for(url, sizeof url, f->srv.port, f->then_path);
        f->then_path = NULL;
        lw_http_client_req_opts_t o = {.url = url};
        assert_non_null(send_opts(f, &o));
    }
}

static lw_http_client_req_t *send_opts(fixture_t *f, lw_http_client_req_opts_t *o)
{
    lw_err_t err;
    lw_err_clear(&err);
    lw_http_client_req_t *r = lw_http_client_send(f->client, o, on_response, f, &err);
    if (r == NULL)
        assert_string_not_equal(lw_err_name(&err), "");
    return r;
}

static lw_http_client_req_t *send_path(fixture_t *f, const char *path)
{
    char url[128];
    url_for(url, sizeof url, f->srv.port, path);
    lw_http_client_req_opts_t o = {.url = url, .timeout_ms = 5000};
    lw_http_client_req_t *r = send_opts(f, &o);
    assert_non_null(r);
    return r;
}

/* ---- tests ---- */

static void test_lw_http_client_send__200_with_body_and_header(void **state)
{
    fixture_t *f = *state;
    send_path(f, "/ok");
    assert_int_equal(f->ncalls, 0); /* never inside send */
    run_until(f, &f->ncalls, 1);
    assert_true(f->calls[0].had_res);
    assert_int_equal(f->calls[0].status, 200);
    assert_int_equal(f->calls[0].body_len, 11);
    assert_string_equal(f->calls[0].body, "hello world");
    assert_string_equal(f->calls[0].header, "hello there");
}

static void test_lw_http_client_send__4xx_is_a_status(void **state)
{
    fixture_t *f = *state;
    send_path(f, "/status/404");
    run_until(f, &f->ncalls, 1);
    assert_true(f->calls[0].had_res);
    assert_int_equal(f->calls[0].status, 404);
    assert_string_equal(f->calls[0].body, "status 404");
    assert_string_equal(f->calls[0].header, "(none)");
}

static void test_lw_http_client_send__5xx_is_a_status(void **state)
{
    fixture_t *f = *state;
    send_path(f, "/status/503");
    run_until(f, &f->ncalls, 1);
    assert_true(f->calls[0].had_res);
    assert_int_equal(f->calls[0].status, 503);
    assert_string_equal(f->calls[0].body, "status 503");
}

static void test_lw_http_client_send__method_headers_and_copied_body(void **state)
{
    fixture_t *f = *state;
    char url[128];
    url_for(url, sizeof url, f->srv.port, "/echo");
    char body[] = "{\"a\":1}";
    lw_http_client_header_t h[] = {{"X-Custom", "v1"}, {"Authorization", "Bearer s3cret"}};
    lw_http_client_req_opts_t o = {
        .method = "PUT",
        .url = url,
        .headers = h,
        .nheaders = 2,
        .body = body,
        .body_len = strlen(body),
    };
    assert_non_null(send_opts(f, &o));
    memset(body, '#', strlen(body)); /* copied: the request keeps the original */
    run_until(f, &f->ncalls, 1);
    assert_int_equal(f->calls[0].status, 200);
    const char *got = f->calls[0].body;
    assert_true(strncmp(got, "PUT /echo HTTP/1.1\r\n", 20) == 0);
    assert_non_null(strstr(got, "\r\nX-Custom: v1\r\n"));
    assert_non_null(strstr(got, "\r\nAuthorization: Bearer s3cret\r\n"));
    assert_non_null(strstr(got, "\r\nContent-Length: 7\r\n"));
    assert_non_null(strstr(got, "\r\nUser-Agent: lwstack\r\n"));
    assert_null(find_ci(got, "Content-Type"));
    assert_null(find_ci(got, "Expect"));
    assert_non_null(strstr(got, "\r\n\r\n{\"a\":1}"));
}

static void test_lw_http_client_send__no_answer_is_request_timeout(void **state)
{
    fixture_t *f = *state;
    char url[128];
    url_for(url, sizeof url, f->srv.port, "/hang?token=s3cret");
    lw_http_client_req_opts_t o = {.url = url, .timeout_ms = 300};
    assert_non_null(send_opts(f, &o));
    run_until(f, &f->ncalls, 1);
    assert_string_equal(f->calls[0].err_name, "request_timeout");
    assert_string_equal(f->calls[0].err_attr, "timeout_ms=300");
    assert_int_equal(f->srv.requests, 1);
    /* The message names the host, never the path or query. */
    assert_non_null(strstr(f->calls[0].err_message, "127.0.0.1"));
    assert_null(strstr(f->calls[0].err_message, "s3cret"));
    assert_null(strstr(f->calls[0].err_message, "/hang"));
}

static void test_lw_http_client_send__refused_is_connection_failed(void **state)
{
    fixture_t *f = *state;
    /* A port just bound and released: nothing listens there. */
    uv_tcp_t t;
    struct sockaddr_in addr, bound;
    int len = sizeof bound;
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
    assert_int_equal(uv_tcp_init(&f->loop, &t), 0);
    assert_int_equal(uv_tcp_bind(&t, (const struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_tcp_getsockname(&t, (struct sockaddr *)&bound, &len), 0);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    char url[128];
    url_for(url, sizeof url, ntohs(bound.sin_port), "/ok");
    lw_http_client_req_opts_t o = {.url = url};
    assert_non_null(send_opts(f, &o));
    run_until(f, &f->ncalls, 1);
    assert_string_equal(f->calls[0].err_name, "connection_failed");
}

static void test_lw_http_client_send__connect_timeout_is_connection_failed(void **state)
{
    fixture_t *f = *state;
    /* A listener whose accept queue (backlog 0) is full: Linux drops further SYNs, so a
     * connection is never made. */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(l >= 0);
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
    assert_int_equal(bind(l, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(l, 0), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&addr, &len), 0);
    int fill[2];
    for (int i = 0; i < 2; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        assert_true(fill[i] >= 0);
        connect(fill[i], (struct sockaddr *)&addr, sizeof addr); /* EINPROGRESS */
    }
    char url[128];
    url_for(url, sizeof url, ntohs(addr.sin_port), "/ok");
    lw_http_client_req_opts_t o = {.url = url, .connect_timeout_ms = 300};
    assert_non_null(send_opts(f, &o));
    run_until(f, &f->ncalls, 1);
    assert_string_equal(f->calls[0].err_name, "connection_failed");
    close(fill[0]);
    close(fill[1]);
    close(l);
}

/* One request for path with max_response_bytes = max, run to its callback. */
static const call_t *get_with_cap(fixture_t *f, const char *path, size_t max)
{
    char url[128];
    url_for(url, sizeof url, f->srv.port, path);
    lw_http_client_req_opts_t o = {.url = url, .max_response_bytes = max};
    assert_non_null(send_opts(f, &o));
    run_until(f, &f->ncalls, 1);
    return &f->calls[0];
}

static void test_lw_http_client_send__content_length_over_cap(void **state)
{
    const call_t *c = get_with_cap(*state, "/big/100000", 1000);
    assert_string_equal(c->err_name, "response_too_large");
    assert_string_equal(c->err_attr, "max_bytes=1000");
}

static void test_lw_http_client_send__chunked_body_over_cap(void **state)
{
    const call_t *c = get_with_cap(*state, "/stream", 5000);
    assert_string_equal(c->err_name, "response_too_large");
    assert_string_equal(c->err_attr, "max_bytes=5000");
}

static void test_lw_http_client_send__body_of_exactly_the_cap(void **state)
{
    const call_t *c = get_with_cap(*state, "/big/1000", 1000);
    assert_int_equal(c->status, 200);
    assert_int_equal(c->body_len, 1000);
}

static void test_lw_http_client_send__reuses_the_connection(void **state)
{
    fixture_t *f = *state;
    f->then_path = "/status/201"; /* sent from the first request's callback */
    send_path(f, "/ok");
    run_until(f, &f->ncalls, 2);
    assert_int_equal(f->calls[0].status, 200);
    assert_int_equal(f->calls[1].status, 201);
    assert_int_equal(f->srv.requests, 2);
    assert_int_equal(f->srv.accepted, 1);
}

static void test_lw_http_client_send__invalid_arguments_fail_at_once(void **state)
{
    fixture_t *f = *state;
    lw_err_t err;
    lw_http_client_req_opts_t o = {.url = "ftp://127.0.0.1/x"};
    assert_null(lw_http_client_send(f->client, &o, on_response, f, &err));
    assert_string_equal(lw_err_name(&err), "invalid_argument");
    o.url = "not a url";
    assert_null(lw_http_client_send(f->client, &o, on_response, f, &err));
    assert_string_equal(lw_err_name(&err), "invalid_argument");
    lw_http_client_header_t h[] = {{"X-Evil", "a\r\nInjected: 1"}};
    o = (lw_http_client_req_opts_t){.url = "http://127.0.0.1:1/", .headers = h, .nheaders = 1};
    assert_null(lw_http_client_send(f->client, &o, on_response, f, &err));
    assert_string_equal(lw_err_name(&err), "invalid_argument");
    o = (lw_http_client_req_opts_t){.url = "https://127.0.0.1:1/", .client_cert_file = "c.pem"};
    assert_null(lw_http_client_send(f->client, &o, on_response, f, &err));
    assert_string_equal(lw_err_name(&err), "invalid_argument");
    close_client(f);
    assert_int_equal(f->ncalls, 0); /* a refused send never calls back */
}

static void test_lw_http_client_cancel__running_request(void **state)
{
    fixture_t *f = *state;
    lw_http_client_req_t *r = send_path(f, "/hang");
    run_until(f, &f->srv.requests, 1);
    lw_http_client_cancel(r);
    assert_int_equal(f->ncalls, 0); /* never inside cancel */
    run_until(f, &f->ncalls, 1);
    assert_ptr_equal(f->calls[0].req, r);
    assert_string_equal(f->calls[0].err_name, "request_canceled");
    /* The client goes on serving; the canceled request never calls back again. */
    send_path(f, "/ok");
    run_until(f, &f->ncalls, 2);
    assert_int_equal(f->calls[1].status, 200);
    close_client(f);
    assert_int_equal(f->ncalls, 2);
}

static void test_lw_http_client_cancel__before_the_loop_runs(void **state)
{
    fixture_t *f = *state;
    lw_http_client_req_t *r = send_path(f, "/ok");
    lw_http_client_cancel(r);
    run_until(f, &f->ncalls, 1);
    assert_string_equal(f->calls[0].err_name, "request_canceled");
    close_client(f);
    assert_int_equal(f->ncalls, 1);
}

static void test_lw_http_client_close__cancels_outstanding_requests(void **state)
{
    fixture_t *f = *state;
    send_path(f, "/hang");
    send_path(f, "/hang");
    run_until(f, &f->srv.requests, 2);
    f->closed = true;
    lw_http_client_close(f->client, on_closed, f);
    lw_http_client_close(f->client, on_closed, f); /* ignored */
    assert_int_equal(f->ncalls, 0);
    lw_err_t err;
    lw_http_client_req_opts_t o = {.url = "http://127.0.0.1:1/"};
    assert_null(lw_http_client_send(f->client, &o, on_response, f, &err));
    assert_string_equal(lw_err_name(&err), "unavailable");
    run_until(f, &f->done_calls, 1);
    assert_int_equal(f->ncalls, 2);
    assert_int_equal(f->ncalls_at_done, 2); /* done after the last request callback */
    assert_string_equal(f->calls[0].err_name, "request_canceled");
    assert_string_equal(f->calls[1].err_name, "request_canceled");
    assert_int_equal(f->done_calls, 1);
}

static void test_lw_http_client_close__from_a_callback(void **state)
{
    fixture_t *f = *state;
    send_path(f, "/hang");
    send_path(f, "/ok");
    f->then_close = true; /* the /ok callback closes while /hang still runs */
    run_until(f, &f->done_calls, 1);
    assert_int_equal(f->ncalls, 2);
    assert_int_equal(f->calls[0].status, 200);
    assert_string_equal(f->calls[1].err_name, "request_canceled");
}

static void tls_request(fixture_t *f, int port, const char *ca_file, const char *cert,
                        const char *key)
{
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/", port);
    lw_http_client_req_opts_t o = {.url = url,
                                   .ca_file = ca_file,
                                   .timeout_ms = 10000,
                                   .client_cert_file = cert,
                                   .client_key_file = key};
    assert_non_null(send_opts(f, &o));
    run_until(f, &f->ncalls, 1);
}

static void test_lw_http_client_send__tls_with_the_ca(void **state)
{
    fixture_t *f = *state;
    tls_request(f, tls.port, tls.ca, NULL, NULL);
    assert_string_equal(f->calls[0].err_name, "");
    assert_int_equal(f->calls[0].status, 200);
}

static void test_lw_http_client_send__tls_without_the_ca(void **state)
{
    fixture_t *f = *state;
    tls_request(f, tls.port, NULL, NULL, NULL); /* the system's CAs do not know the test CA */
    assert_string_equal(f->calls[0].err_name, "tls_failed");
}

static void test_lw_http_client_send__tls_with_an_unreadable_ca_file(void **state)
{
    fixture_t *f = *state;
    char missing[128];
    snprintf(missing, sizeof missing, "%s/missing.crt", tls.dir);
    tls_request(f, tls.port, missing, NULL, NULL);
    assert_string_equal(f->calls[0].err_name, "tls_failed");
}

static void test_lw_http_client_send__tls_with_a_client_certificate(void **state)
{
    fixture_t *f = *state;
    /* The server's certificate, from the same CA, serves as the client's. */
    tls_request(f, tls.mtls_port, tls.ca, tls.crt, tls.key);
    assert_string_equal(f->calls[0].err_name, "");
    assert_int_equal(f->calls[0].status, 200);
}

static void test_lw_http_client_send__tls_without_a_required_client_certificate(void **state)
{
    fixture_t *f = *state;
    tls_request(f, tls.mtls_port, tls.ca, NULL, NULL);
    assert_string_equal(f->calls[0].err_name, "tls_failed");
}

static void test_lw_http_client_send__tls_with_an_unreadable_client_certificate(void **state)
{
    fixture_t *f = *state;
    char missing[128];
    snprintf(missing, sizeof missing, "%s/missing.crt", tls.dir);
    tls_request(f, tls.mtls_port, tls.ca, missing, tls.key);
    assert_string_equal(f->calls[0].err_name, "tls_failed");
}

static int count_active(uv_handle_t *h, void *arg)
{
    (void)arg;
    return uv_is_active(h);
}

static void on_walk(uv_handle_t *h, void *arg)
{
    fixture_t *f = arg;
    /* The test server's handles are TCP; the client's are polls, a timer and an idle. */
    if (h->type != UV_TCP && h != (uv_handle_t *)&f->guard)
        f->active_client_handles += count_active(h, NULL);
}

static void test_lw_http_client_send__idle_client_keeps_no_handle_active(void **state)
{
    fixture_t *f = *state;
    send_path(f, "/ok");
    run_until(f, &f->ncalls, 1);
    assert_int_equal(f->calls[0].status, 200);
    uv_walk(&f->loop, on_walk, f);
    assert_int_equal(f->active_client_handles, 0); /* a loop with only the client ends */
}

/* Swaps the fixture's client for one made with opts. */
static void replace_client(fixture_t *f, const lw_http_client_opts_t *opts)
{
    close_client(f);
    lw_http_client_free(f->client);
    lw_err_t err;
    f->client = lw_http_client_new(&f->loop, opts, &err);
    assert_non_null(f->client);
    f->closed = false;
    f->done_calls = 0;
}

static void test_lw_http_client_send__concurrent_requests_share_host_connections(void **state)
{
    fixture_t *f = *state;
    replace_client(f, &(lw_http_client_opts_t){.max_host_connections = 2});
    for (int i = 0; i < 12; i++)
        send_path(f, "/ok");
    run_until(f, &f->ncalls, 12);
    for (int i = 0; i < 12; i++) {
        assert_int_equal(f->calls[i].status, 200);
        assert_string_equal(f->calls[i].body, "hello world");
    }
    assert_int_equal(f->srv.requests, 12);
    assert_int_equal(f->srv.accepted, 2);
}

static void test_lw_http_client_send__counts_outcomes(void **state)
{
    fixture_t *f = *state;
    lw_metrics_t *m = lw_metrics_new();
    replace_client(f, &(lw_http_client_opts_t){.metrics = m, .name = "hooks"});
    send_path(f, "/ok");
    send_path(f, "/status/404");
    send_path(f, "/ok");
    lw_http_client_cancel(send_path(f, "/hang"));
    run_until(f, &f->ncalls, 4);
    char *text = NULL;
    assert_true(lw_metrics_render(m, &text) > 0);
    assert_non_null(
        strstr(text, "lwstack_http_client_requests_total{client=\"hooks\",outcome=\"2xx\"} 2\n"));
    assert_non_null(
        strstr(text, "lwstack_http_client_requests_total{client=\"hooks\",outcome=\"4xx\"} 1\n"));
    assert_non_null(strstr(
        text,
        "lwstack_http_client_requests_total{client=\"hooks\",outcome=\"request_canceled\"} 1\n"));
    assert_non_null(
        strstr(text, "lwstack_http_client_requests_total{client=\"hooks\",outcome=\"5xx\"} 0\n"));
    free(text);
    close_client(f); /* before the metrics it counts into go */
    lw_metrics_free(m);
}

static void test_lw_http_client_send__borrowed_body(void **state)
{
    fixture_t *f = *state;
    char url[128];
    url_for(url, sizeof url, f->srv.port, "/echo");
    static const char body[] = "borrowed";
    lw_http_client_header_t h[] = {{"Content-Type", "text/plain"}};
    lw_http_client_req_opts_t o = {.method = "POST",
                                   .url = url,
                                   .headers = h,
                                   .nheaders = 1,
                                   .body = body,
                                   .body_len = 8,
                                   .body_borrowed = true};
    assert_non_null(send_opts(f, &o));
    run_until(f, &f->ncalls, 1);
    const char *got = f->calls[0].body;
    assert_true(strncmp(got, "POST /echo HTTP/1.1\r\n", 21) == 0);
    assert_non_null(strstr(got, "\r\nContent-Type: text/plain\r\n"));
    assert_non_null(strstr(got, "\r\n\r\nborrowed"));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lw_http_client_send__200_with_body_and_header, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_client_send__4xx_is_a_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_client_send__5xx_is_a_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_client_send__method_headers_and_copied_body,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_client_send__no_answer_is_request_timeout,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_client_send__refused_is_connection_failed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_lw_http_client_send__connect_timeout_is_connection_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_client_send__content_length_over_cap, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_client_send__chunked_body_over_cap, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_client_send__body_of_exactly_the_cap, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_client_send__reuses_the_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_client_send__invalid_arguments_fail_at_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_client_cancel__running_request, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_client_cancel__before_the_loop_runs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_client_close__cancels_outstanding_requests,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_client_close__from_a_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_client_send__tls_with_the_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_client_send__tls_without_the_ca, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_client_send__tls_with_an_unreadable_ca_file,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_client_send__tls_with_a_client_certificate,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_lw_http_client_send__tls_without_a_required_client_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_lw_http_client_send__tls_with_an_unreadable_client_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_lw_http_client_send__idle_client_keeps_no_handle_active, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_client_send__borrowed_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_http_client_send__counts_outcomes, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_lw_http_client_send__concurrent_requests_share_host_connections, setup, teardown),
    };
    return cmocka_run_group_tests(tests, tls_setup, tls_teardown);
}
