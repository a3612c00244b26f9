/* lwcli's HTTP client (libcurl, one blocking request at a time: a CLI has nothing else to
 * do meanwhile), the stored login token, and reading secrets from stdin. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "lwcli.h"

/* A response body larger than this is refused: no list the API returns comes close. */
#define LC_MAX_BODY (64u * 1024u * 1024u)

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    lc_resp_t *r = arg;
    size_t n = size * nmemb;
    if (r->sink != NULL && r->status >= 200 && r->status <= 299) /* a stream (export) */
        return fwrite(data, 1, n, r->sink) == n ? n : 0;
    if (r->body.len + n > LC_MAX_BODY)
        return 0;
    lc_str_appendn(&r->body, data, n);
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    lc_resp_t *r = arg;
    size_t n = size * nmemb;
    static const char name[] = "x-total-count:";
    if (n > 9 && strncmp(data, "HTTP/", 5) == 0) { /* the status line (each, after a 100) */
        const char *sp = memchr(data, ' ', n);
        if (sp != NULL)
            r->status = strtol(sp + 1, NULL, 10);
    }
    if (n > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        char buf[32];
        size_t vl = n - (sizeof name - 1);
        if (vl >= sizeof buf)
            vl = sizeof buf - 1;
        memcpy(buf, data + sizeof name - 1, vl);
        buf[vl] = '\0';
        char *end;
        long long v = strtoll(buf, &end, 10);
        if (end != buf && v >= 0)
            r->total = v;
    }
    return n;
}

static void print_http_error(const lc_ctx_t *ctx, lc_resp_t *r, lc_auth_t auth)
{
    char *name = NULL, *message = NULL;
    if (lc_error_decode(lc_str_cstr(&r->body), r->body.len, &name, &message) == 0) {
        fprintf(stderr, "error: %s: %s\n", name, message);
    } else {
        /* Not The Things Stack's error shape (a proxy, an old server): name the status and
         * the first line of the body, which never carries a secret of ours. */
        const char *b = lc_str_cstr(&r->body);
        size_t l = strcspn(b, "\r\n");
        if (l > 200)
            l = 200;
        fprintf(stderr, "error: http_%ld: %.*s\n", r->status, (int)l, l ? b : "no error body");
    }
    if (r->status == 401 && auth == LC_AUTH_USER && ctx->api_key == NULL && ctx->token != NULL)
        fprintf(stderr, "hint: the stored login token may have expired; run `lwcli login`\n");
    free(name);
    free(message);
}

/* The easy handle, reset for one request to url: callbacks, timeouts, no redirects. */
static CURL *request_handle(lc_ctx_t *ctx, const char *method, const char *url, char *curl_err,
                            lc_resp_t *out)
{
    static bool global_init;
    if (!global_init) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        global_init = true;
    }
    if (ctx->curl == NULL)
        ctx->curl = curl_easy_init();
    CURL *c = ctx->curl;
    if (c == NULL)
        return NULL;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "lwcli/" LC_VERSION);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* Never follow redirects: the Authorization header must not travel to another host. */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (ctx->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return c;
}

/* Appends the tenant and the credentials auth asks for to *hdrs. Returns LC_EXIT_OK, or
 * LC_EXIT_USAGE when the command needs a tenant admin key that was not given. */
static int request_auth(lc_ctx_t *ctx, lc_auth_t auth, struct curl_slist **hdrs)
{
    lc_str_t h = {0};
    if (ctx->tenant && *ctx->tenant && auth != LC_AUTH_ADMIN) {
        lc_str_appendf(&h, "X-Tenant-ID: %s", ctx->tenant);
        *hdrs = curl_slist_append(*hdrs, h.buf);
        lc_str_free(&h);
    }
    if (auth == LC_AUTH_ADMIN || (auth == LC_AUTH_USER && ctx->api_key == NULL &&
                                  ctx->token == NULL && ctx->admin_key != NULL)) {
        if (ctx->admin_key == NULL) {
            fprintf(stderr, "error: this command needs --tenant-admin-key (or "
                            "LWCLI_TENANT_ADMIN_KEY)\n");
            return LC_EXIT_USAGE;
        }
        lc_str_appendf(&h, "Authorization: TenantAdminKey %s", ctx->admin_key);
    } else if (auth == LC_AUTH_USER && (ctx->api_key || ctx->token)) {
        lc_str_appendf(&h, "Authorization: Bearer %s", ctx->api_key ? ctx->api_key : ctx->token);
    }
    if (h.buf) {
        *hdrs = curl_slist_append(*hdrs, h.buf);
        /* The header holds a secret: wipe our copy (libcurl keeps its own in the list). */
        memset(h.buf, 0, h.len);
    }
    lc_str_free(&h);
    return LC_EXIT_OK;
}

/* Sets the JSON body (or an empty one for POST/PUT); returns the payload to wipe and free. */
static char *request_body(CURL *c, const char *method, json_t *body, struct curl_slist **hdrs)
{
    if (body != NULL) {
        char *payload = json_dumps(body, JSON_COMPACT);
        *hdrs = curl_slist_append(*hdrs, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
        return payload;
    }
    if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    return NULL;
}

static int request_run(lc_ctx_t *ctx, const char *method, const char *path, json_t *body,
                       lc_auth_t auth, FILE *sink, lc_resp_t *out)
{
    int rc = LC_EXIT_FAIL;
    struct curl_slist *hdrs = NULL;
    char *payload = NULL;
    lc_str_t url = {0};
    char curl_err[CURL_ERROR_SIZE] = "";

    memset(out, 0, sizeof *out);
    out->total = -1;
    out->sink = sink;
    lc_str_append(&url, ctx->url);
    lc_str_append(&url, path);
    CURL *c = request_handle(ctx, method, url.buf, curl_err, out);
    if (c == NULL) {
        fprintf(stderr, "error: cannot initialise libcurl\n");
        lc_str_free(&url);
        return LC_EXIT_FAIL;
    }
    if (ctx->verbose)
        fprintf(stderr, "> %s %s\n", method, url.buf);
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    if ((rc = request_auth(ctx, auth, &hdrs)) != LC_EXIT_OK)
        goto out;
    rc = LC_EXIT_FAIL;
    payload = request_body(c, method, body, &hdrs);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (sink != NULL)
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 0L); /* a stream takes as long as it takes */

    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        fprintf(stderr, "error: request to %s failed: %s\n", ctx->url,
                curl_err[0] ? curl_err : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    if (ctx->verbose)
        fprintf(stderr, "< %ld (%zu bytes)\n", out->status, out->body.len);
    if (out->body.len > 0)
        out->json = json_loadb(out->body.buf, out->body.len, 0, NULL);
    if (out->status < 200 || out->status > 299) {
        print_http_error(ctx, out, auth);
        goto out;
    }
    rc = LC_EXIT_OK;
out:
    if (payload) {
        memset(payload, 0, strlen(payload)); /* may hold a password */
        free(payload);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    lc_str_free(&url);
    if (rc != LC_EXIT_OK)
        lc_resp_free(out);
    return rc;
}

int lc_request(lc_ctx_t *ctx, const char *method, const char *path, json_t *body, lc_auth_t auth,
               lc_resp_t *out)
{
    return request_run(ctx, method, path, body, auth, NULL, out);
}

int lc_request_stream(lc_ctx_t *ctx, const char *method, const char *path, lc_auth_t auth,
                      FILE *sink, lc_resp_t *out)
{
    return request_run(ctx, method, path, NULL, auth, sink, out);
}

void lc_resp_free(lc_resp_t *r)
{
    json_decref(r->json);
    r->json = NULL;
    lc_str_free(&r->body);
}

void lc_ctx_destroy(lc_ctx_t *ctx)
{
    if (ctx->curl)
        curl_easy_cleanup(ctx->curl);
    ctx->curl = NULL;
    if (ctx->token) {
        memset(ctx->token, 0, strlen(ctx->token));
        free(ctx->token);
    }
    free(ctx->token_user_id);
    ctx->token = ctx->token_user_id = NULL;
}

/* ---- the stored token ------------------------------------------------------------------- */

static int config_dir(lc_str_t *out)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    if (xdg && *xdg == '/') {
        lc_str_appendf(out, "%s/lwcli", xdg);
        return 0;
    }
    const char *home = getenv("HOME");
    if (home == NULL || *home == '\0')
        return -1;
    lc_str_appendf(out, "%s/.config/lwcli", home);
    return 0;
}

/* Tenant IDs are checked here too: the name becomes part of a file name. */
static const char *token_tenant(const char *tenant)
{
    if (tenant == NULL || *tenant == '\0')
        return "default";
    for (const char *p = tenant; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return NULL;
    return tenant;
}

int lc_token_path(const char *tenant, lc_str_t *out)
{
    const char *t = token_tenant(tenant);
    if (t == NULL || config_dir(out) != 0)
        return -1;
    lc_str_appendf(out, "/token-%s", t);
    return 0;
}

static int mkdir_p(char *path, mode_t mode)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, mode) != 0 && errno != EEXIST) {
            *p = '/';
            return -1;
        }
        *p = '/';
    }
    if (mkdir(path, mode) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

int lc_token_store(const char *tenant, const char *url, const char *user_id, const char *token,
                   const char *expires_at)
{
    lc_str_t dir = {0}, path = {0};
    int rc = -1, fd = -1;
    char *text = NULL;
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s}", "url", url, "tenant",
                            token_tenant(tenant) ? token_tenant(tenant) : "", "user_id", user_id,
                            "access_token", token);
    if (doc && expires_at)
        json_object_set_new(doc, "expires_at", json_string(expires_at));
    if (doc == NULL || config_dir(&dir) != 0 || lc_token_path(tenant, &path) != 0) {
        fprintf(stderr, "error: cannot find a folder for the token (set HOME or "
                        "XDG_CONFIG_HOME)\n");
        goto out;
    }
    if (mkdir_p(dir.buf, 0700) != 0) {
        fprintf(stderr, "error: cannot create %s: %s\n", dir.buf, strerror(errno));
        goto out;
    }
    fd = open(path.buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0) {
        fprintf(stderr, "error: cannot write %s: %s\n", path.buf, strerror(errno));
        goto out;
    }
    text = json_dumps(doc, JSON_INDENT(2));
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "error: cannot write %s: %s\n", path.buf, strerror(errno));
            goto out;
        }
        off += (size_t)n;
    }
    if (write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
        fprintf(stderr, "error: cannot write %s: %s\n", path.buf, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0 && close(fd) != 0 && rc == 0) {
        fprintf(stderr, "error: cannot write %s: %s\n", path.buf, strerror(errno));
        rc = -1;
    }
    if (text) {
        memset(text, 0, strlen(text));
        free(text);
    }
    json_decref(doc);
    lc_str_free(&dir);
    lc_str_free(&path);
    return rc;
}

void lc_token_load(lc_ctx_t *ctx)
{
    lc_str_t path = {0};
    if (lc_token_path(ctx->tenant, &path) != 0)
        return;
    json_t *doc = json_load_file(path.buf, 0, NULL);
    const char *url = json_string_value(json_object_get(doc, "url"));
    const char *tok = json_string_value(json_object_get(doc, "access_token"));
    const char *uid = json_string_value(json_object_get(doc, "user_id"));
    const char *exp = json_string_value(json_object_get(doc, "expires_at"));
    long long exp_s;
    if (url && tok && strcmp(url, ctx->url) == 0 && exp && lc_time_parse(exp, &exp_s) == 0 &&
        exp_s <= (long long)time(NULL)) {
        fprintf(stderr, "note: the stored login token expired at %s; run `lwcli login`\n", exp);
    } else if (url && tok) {
        /* A token is only ever sent to the server that issued it. */
        if (strcmp(url, ctx->url) == 0) {
            ctx->token = lc_xstrdup(tok);
            ctx->token_user_id = uid ? lc_xstrdup(uid) : NULL;
        } else if (ctx->verbose) {
            fprintf(stderr, "note: the stored token is for %s, not %s: not used\n", url, ctx->url);
        }
    }
    json_decref(doc);
    lc_str_free(&path);
}

int lc_token_remove(const char *tenant)
{
    lc_str_t path = {0};
    int rc = -1;
    if (lc_token_path(tenant, &path) != 0)
        return -1;
    if (unlink(path.buf) == 0)
        rc = 0;
    else if (errno == ENOENT)
        rc = 1;
    else
        fprintf(stderr, "error: cannot remove %s: %s\n", path.buf, strerror(errno));
    lc_str_free(&path);
    return rc;
}

/* ---- secrets from stdin ----------------------------------------------------------------- */

int lc_read_secret(const char *prompt, lc_str_t *out)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        fprintf(stderr, "%s: ", prompt);
        fflush(stderr);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    int ch;
    bool any = false;
    lc_str_append(out, "");
    while ((ch = getchar()) != EOF && ch != '\n') {
        char c = (char)ch;
        any = true;
        lc_str_appendn(out, &c, 1);
    }
    if (ch == '\n')
        any = true;
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (out->len > 0 && out->buf[out->len - 1] == '\r')
        out->buf[--out->len] = '\0';
    return any ? 0 : -1;
}
