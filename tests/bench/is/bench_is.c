/* bench_is: Identity Server throughput through HTTP against a running lwstack.
 *
 *   bench_is --url http://127.0.0.1:1885 --admin-key HEX [--connections 8] [--seconds 5]
 *
 * Creates a tenant `bench-<pid>` (with the tenant admin key), an application and an
 * application API key, then measures for --seconds each:
 *   - authenticated GETs: GET /api/v3/applications/{id} with `Authorization: Bearer <key>`
 *     (the server verifies the key from its cache after the first use);
 *   - creates: POST /api/v3/applications/{id}/devices with fresh IDs and EUIs (each one
 *     transaction writing the tenant's row and the deployment-wide EUI index).
 * over --connections keep-alive connections driven by one libcurl multi handle, and prints
 *   is: 12345 authenticated GETs/s (HTTP, keep-alive, 8 connections)
 *   is: 1234 creates/s (end devices, HTTP, keep-alive, 8 connections)
 * Any non-200 answer counts as an error and is reported; the exit status is 1 then. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#define MAX_CONNS 64

typedef struct bench {
    const char *url;
    const char *admin_key;
    char tenant[40];
    char key[160];
    int conns;
    double seconds;
    unsigned long next_id;
} bench_t;

typedef struct conn {
    CURL *h;
    struct curl_slist *hdrs;
    char body[512];
    char url[512];
} conn_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct buf {
    char *p;
    size_t n;
} buf_t;

static size_t collect(char *ptr, size_t size, size_t nmemb, void *ud)
{
    buf_t *b = ud;
    size_t n = size * nmemb;
    if (b == NULL)
        return n;
    char *q = realloc(b->p, b->n + n + 1);
    if (q == NULL)
        return 0;
    memcpy(q + b->n, ptr, n);
    b->p = q;
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

/* One blocking request for the set-up. Returns the status; *out gets the body (malloc'd). */
static long request(const bench_t *b, const char *method, const char *path, const char *auth,
                    const char *body, char **out)
{
    CURL *h = curl_easy_init();
    char url[512], hdr[256], tn[80];
    snprintf(url, sizeof url, "%s%s", b->url, path);
    snprintf(hdr, sizeof hdr, "Authorization: %s", auth);
    snprintf(tn, sizeof tn, "X-Tenant-ID: %s", b->tenant);
    struct curl_slist *hs = curl_slist_append(NULL, hdr);
    hs = curl_slist_append(hs, tn);
    hs = curl_slist_append(hs, "Content-Type: application/json");
    buf_t rb = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
    if (body != NULL)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &rb);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hs);
    curl_easy_cleanup(h);
    if (out != NULL)
        *out = rb.p;
    else
        free(rb.p);
    return status;
}

static int setup(bench_t *b)
{
    char auth[200], body[512], *out = NULL;
    snprintf(auth, sizeof auth, "TenantAdminKey %s", b->admin_key);
    snprintf(
        body, sizeof body,
        "{\"tenant\":{\"ids\":{\"tenant_id\":\"%s\"},\"state\":\"STATE_APPROVED\"},"
        "\"initial_user\":{\"ids\":{\"user_id\":\"bench\"},\"password\":\"Measure-Speed-9x\"}}",
        b->tenant);
    long st = request(b, "POST", "/api/v3/tenants", auth, body, &out);
    if (st != 200) {
        fprintf(stderr, "bench_is: create tenant: %ld %s\n", st, out ? out : "");
        free(out);
        return -1;
    }
    free(out);
    /* The tenant reaches every process's registry within moments. */
    for (int i = 0; i < 50; i++) {
        st = request(b, "POST", "/api/v3/users/bench/applications", auth,
                     "{\"application\":{\"ids\":{\"application_id\":\"bench-app\"}}}", &out);
        if (st != 404)
            break;
        free(out);
        out = NULL;
        usleep(100000);
    }
    if (st != 200) {
        fprintf(stderr, "bench_is: create application: %ld %s\n", st, out ? out : "");
        free(out);
        return -1;
    }
    free(out);
    st = request(b, "POST", "/api/v3/applications/bench-app/api-keys", auth,
                 "{\"name\":\"bench\",\"rights\":[\"RIGHT_APPLICATION_ALL\"]}", &out);
    json_t *j = out ? json_loads(out, 0, NULL) : NULL;
    const char *key = json_string_value(json_object_get(j, "key"));
    if (st != 200 || key == NULL) {
        fprintf(stderr, "bench_is: create API key: %ld %s\n", st, out ? out : "");
        json_decref(j);
        free(out);
        return -1;
    }
    snprintf(b->key, sizeof b->key, "%s", key);
    json_decref(j);
    free(out);
    return 0;
}

static void conn_prepare(bench_t *b, conn_t *c, bool create)
{
    curl_easy_reset(c->h); /* keeps the connection, forgets the options */
    curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
    if (!create) {
        snprintf(c->url, sizeof c->url, "%s/api/v3/applications/bench-app", b->url);
        curl_easy_setopt(c->h, CURLOPT_URL, c->url);
        return;
    }
    /* EUIs are unique per deployment: a run's own range, from its process ID. */
    unsigned long n = b->next_id++;
    snprintf(c->url, sizeof c->url, "%s/api/v3/applications/bench-app/devices", b->url);
    snprintf(c->body, sizeof c->body,
             "{\"end_device\":{\"ids\":{\"device_id\":\"dev-%lu\",\"dev_eui\":\"%016lX\","
             "\"join_eui\":\"70B3D57ED0000000\"},\"name\":\"bench %lu\",\"lorawan_version\":"
             "\"MAC_V1_0_3\",\"frequency_plan_id\":\"EU_863_870\"}}",
             n, ((unsigned long)getpid() << 32) + n, n);
    curl_easy_setopt(c->h, CURLOPT_URL, c->url);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, c->body);
}

/* Runs one phase; returns completed requests per second, counting errors into *errors. */
static double run_phase(bench_t *b, bool create, long *errors)
{
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)b->conns);
    conn_t cs[MAX_CONNS];
    char hauth[200], htn[80];
    snprintf(hauth, sizeof hauth, "Authorization: Bearer %s", b->key);
    snprintf(htn, sizeof htn, "X-Tenant-ID: %s", b->tenant);
    for (int i = 0; i < b->conns; i++) {
        cs[i].h = curl_easy_init();
        cs[i].hdrs = curl_slist_append(NULL, hauth);
        cs[i].hdrs = curl_slist_append(cs[i].hdrs, htn);
        cs[i].hdrs = curl_slist_append(cs[i].hdrs, "Content-Type: application/json");
        conn_prepare(b, &cs[i], create);
        curl_multi_add_handle(m, cs[i].h);
    }
    long done = 0;
    *errors = 0;
    double start = now_s(), end = start + b->seconds;
    int running = b->conns;
    bool stopping = false;
    while (running > 0) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *h = msg->easy_handle;
            conn_t *c;
            curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&c);
            long status = 0;
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            if (msg->data.result == CURLE_OK && status == 200)
                done++;
            else if ((*errors)++ == 0)
                fprintf(stderr, "bench_is: %s → %ld (%s)\n", c->url, status,
                        curl_easy_strerror(msg->data.result));
            curl_multi_remove_handle(m, h);
            if (now_s() < end) {
                conn_prepare(b, c, create);
                curl_multi_add_handle(m, h);
                running++;
            } else {
                stopping = true;
            }
        }
        if (running > 0)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    (void)stopping;
    double elapsed = now_s() - start;
    for (int i = 0; i < b->conns; i++) {
        curl_slist_free_all(cs[i].hdrs);
        curl_easy_cleanup(cs[i].h);
    }
    curl_multi_cleanup(m);
    return (double)done / elapsed;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_is --url URL --admin-key HEX [--connections N] [--seconds S]\n");
}

int main(int argc, char **argv)
{
    bench_t b = {.url = "http://127.0.0.1:1885", .conns = 8, .seconds = 5};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            b.url = argv[++i];
        else if (strcmp(argv[i], "--admin-key") == 0 && i + 1 < argc)
            b.admin_key = argv[++i];
        else if (strcmp(argv[i], "--connections") == 0 && i + 1 < argc)
            b.conns = atoi(argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            b.seconds = atof(argv[++i]);
        else {
            usage();
            return 2;
        }
    }
    if (b.admin_key == NULL || b.conns < 1 || b.conns > MAX_CONNS || b.seconds <= 0) {
        usage();
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(b.tenant, sizeof b.tenant, "bench-%ld", (long)getpid());
    if (setup(&b) != 0) {
        curl_global_cleanup();
        return 1;
    }
    long eg = 0, ec = 0;
    double gets = run_phase(&b, false, &eg);
    printf("is: %.0f authenticated GETs/s (HTTP, keep-alive, %d connections)\n", gets, b.conns);
    fflush(stdout);
    double creates = run_phase(&b, true, &ec);
    printf("is: %.0f creates/s (end devices, HTTP, keep-alive, %d connections)\n", creates,
           b.conns);
    if (eg + ec > 0)
        printf("is: %ld errors (GETs %ld, creates %ld)\n", eg + ec, eg, ec);
    curl_global_cleanup();
    return eg + ec > 0 ? 1 : 0;
}
