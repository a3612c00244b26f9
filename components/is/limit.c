/* Rate limits of the Identity Server: logins per user, per client address and per tenant,
 * a cap on each tenant's password hashes in the worker pool, and requests per API key or
 * access token. The limiters are cluster/ratelimit.h's; this file keys them, answers 429
 * with Retry-After and counts in lwstack_ratelimit_*_total{class}. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "cluster/log.h"
#include "cluster/mem.h"
#include "cluster/ratelimit.h"
#include "is/server_private.h"

/* Keys held per limiter: idle keys are dropped losslessly, so this bounds only how many
 * users, addresses or keys can be limited at the same moment (about 120 bytes each). */
#define LIMIT_USERS     16384
#define LIMIT_ADDRESSES 16384
#define LIMIT_TENANTS   4096
#define LIMIT_KEYS      16384
#define MAX_PROXIES     16

enum { CL_LOGIN_USER = 0, CL_LOGIN_ADDRESS, CL_LOGIN_TENANT, CL_LOGIN_HASHING, CL_API_KEY, CL_N };

static const char *const class_names[CL_N] = {"login_user", "login_address", "login_tenant",
                                              "login_hashing", "api_key"};

struct is_limits {
    uv_loop_t *loop;
    lw_ratelimit_t *rl[CL_N]; /* NULL for CL_LOGIN_HASHING */
    lw_gate_t *hashing;       /* password hashes per tenant in the worker pool */
    lw_ratelimit_series_t m[CL_N];
    /* is.rate-limit.trusted-proxies, parsed: a request from one of them is counted on the
     * address its X-Forwarded-For names. */
    unsigned char proxies[MAX_PROXIES][16];
    int proxy_family[MAX_PROXIES];
    size_t nproxies;
};

/* Parses an IPv4 or IPv6 address into a[16]; returns its family or 0. */
static int ip_parse(const char *s, unsigned char a[16])
{
    memset(a, 0, 16);
    if (inet_pton(AF_INET, s, a) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, s, a) == 1)
        return AF_INET6;
    return 0;
}

int is_limit_check_ip(const char *value, char *why, size_t why_len)
{
    unsigned char a[16];
    if (ip_parse(value, a) == 0) {
        snprintf(why, why_len, "not an IPv4 or IPv6 address");
        return -1;
    }
    return 0;
}

static bool proxy_trusted(const is_limits_t *l, const char *ip)
{
    unsigned char a[16];
    int fam = ip_parse(ip, a);
    for (size_t i = 0; fam != 0 && i < l->nproxies; i++)
        if (l->proxy_family[i] == fam && memcmp(l->proxies[i], a, 16) == 0)
            return true;
    return false;
}

/* The client's address: the peer's, or, when the peer is a trusted proxy, the rightmost
 * X-Forwarded-For entry that is not one (the entries left of it are the client's to
 * write, so they are never believed). */
static void client_addr(const is_limits_t *l, const lw_http_req_t *req, char *out, size_t len)
{
    const char *peer = lw_http_peer(req);
    snprintf(out, len, "%s", peer);
    if (l->nproxies == 0 || !proxy_trusted(l, peer))
        return;
    const char *xff = lw_http_header(req, "x-forwarded-for");
    if (xff == NULL)
        return;
    const char *end = xff + strlen(xff);
    while (end > xff) {
        const char *start = end;
        while (start > xff && start[-1] != ',')
            start--;
        const char *a = start, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        char ip[64];
        snprintf(ip, sizeof ip, "%.*s", (int)(b - a), a);
        unsigned char bin[16];
        if (ip_parse(ip, bin) == 0)
            return; /* malformed: the proxy's own address it is */
        snprintf(out, len, "%s", ip);
        if (!proxy_trusted(l, ip))
            return;
        end = start > xff ? start - 1 : xff;
    }
}

static lw_rate_t config_rate(const lw_config_t *cfg, const char *key)
{
    lw_rate_t r = {0};
    char why[128];
    /* The table's check (lw_rate_check) has accepted the value. */
    if (lw_rate_parse(lw_config_str(cfg, key), &r, why, sizeof why) != 0)
        r = (lw_rate_t){0};
    return r;
}

is_limits_t *is_limits_new(lw_rt_t *rt, const lw_config_t *cfg)
{
    is_limits_t *l = lw_calloc(1, sizeof *l);
    l->loop = lw_rt_loop(rt);
    uint64_t seed = 0;
    RAND_bytes((unsigned char *)&seed, sizeof seed);
    static const struct {
        const char *key;
        size_t keys;
    } rates[CL_N] = {
        [CL_LOGIN_USER] = {"is.rate-limit.login.per-user", LIMIT_USERS},
        [CL_LOGIN_ADDRESS] = {"is.rate-limit.login.per-address", LIMIT_ADDRESSES},
        [CL_LOGIN_TENANT] = {"is.rate-limit.login.per-tenant", LIMIT_TENANTS},
        [CL_API_KEY] = {"is.rate-limit.per-api-key", LIMIT_KEYS},
    };
    for (int c = 0; c < CL_N; c++) {
        if (rates[c].key == NULL)
            continue;
        lw_rate_t r = config_rate(cfg, rates[c].key);
        l->rl[c] = lw_ratelimit_new(&r, rates[c].keys, seed + (uint64_t)c);
    }
    size_t n;
    const char *const *proxies = lw_config_list(cfg, "is.rate-limit.trusted-proxies", &n);
    for (size_t i = 0; i < n && l->nproxies < MAX_PROXIES; i++) {
        int fam = ip_parse(proxies[i], l->proxies[l->nproxies]);
        if (fam != 0)
            l->proxy_family[l->nproxies++] = fam;
    }
    l->hashing = lw_gate_new((int)lw_config_int(cfg, "is.rate-limit.login.hashing-per-tenant"),
                             LIMIT_TENANTS, seed);
    for (int c = 0; c < CL_N; c++)
        lw_ratelimit_series_init(&l->m[c], lw_rt_metrics(rt), class_names[c]);
    return l;
}

void is_limits_free(is_limits_t *l)
{
    if (l == NULL)
        return;
    for (int c = 0; c < CL_N; c++)
        lw_ratelimit_free(l->rl[c]);
    lw_gate_free(l->hashing);
    free(l);
}

static int64_t now_ms(const is_limits_t *l)
{
    return (int64_t)uv_now(l->loop);
}

/* Fails op with rate_limit_exceeded on key and Retry-After, counted in class cls. */
static void limit_fail(is_op_t *op, int cls, const char *key, const lw_rate_t *rate,
                       int64_t retry_after_ms)
{
    lw_err_t e;
    int64_t s = lw_ratelimit_err(&e, key, rate, retry_after_ms);
    char v[24];
    snprintf(v, sizeof v, "%lld", (long long)s);
    lw_http_add_header(op->api.req, "Retry-After", v);
    lw_metric_series_add(op->is->limits->m[cls].exceeded, 1);
    lw_log(LW_LOG_DEBUG, "is", "rate limited", "tenant", op->t.id, "key", key, NULL);
    lw_api_fail(&op->api, &e);
}

bool is_limit_login(is_op_t *op, const char *user_id)
{
    is_limits_t *l = op->is->limits;
    char ip[64], addr[64];
    client_addr(l, op->api.req, ip, sizeof ip);
    lw_ratelimit_addr_key(ip, addr, sizeof addr);
    char keys[3][LW_RATELIMIT_KEY_MAX];
    snprintf(keys[0], sizeof keys[0], "is:login:user:%s/%s", op->t.id, user_id);
    snprintf(keys[1], sizeof keys[1], "is:login:address:%s", addr);
    snprintf(keys[2], sizeof keys[2], "is:login:tenant:%s", op->t.id);
    static const int cls[3] = {CL_LOGIN_USER, CL_LOGIN_ADDRESS, CL_LOGIN_TENANT};
    int64_t now = now_ms(l);
    /* All three are checked before any counts, so that an attempt one refuses does not use
     * up the others; the answer names the one that frees last. */
    int worst = -1;
    int64_t worst_ms = 0;
    for (int i = 0; i < 3; i++) {
        lw_ratelimit_result_t r;
        if (!lw_ratelimit_peek(l->rl[cls[i]], keys[i], now, &r) && r.retry_after_ms >= worst_ms) {
            worst = i;
            worst_ms = r.retry_after_ms;
        }
    }
    if (worst >= 0) {
        limit_fail(op, cls[worst], keys[worst], lw_ratelimit_rate(l->rl[cls[worst]]), worst_ms);
        return false;
    }
    for (int i = 0; i < 3; i++) {
        lw_ratelimit_result_t r;
        lw_ratelimit_take(l->rl[cls[i]], keys[i], now, &r);
        lw_ratelimit_series_count(&l->m[cls[i]], &r);
    }
    return true;
}

bool is_limit_hash_enter(is_op_t *op)
{
    is_limits_t *l = op->is->limits;
    if (lw_gate_enter(l->hashing, op->t.id)) {
        lw_metric_series_add(l->m[CL_LOGIN_HASHING].allowed, 1);
        return true;
    }
    /* Over its share of the worker pool: refused now rather than queued in front of other
     * tenants' logins. A place frees within one hash, so a second is the wait. */
    char key[LW_RATELIMIT_KEY_MAX];
    snprintf(key, sizeof key, "is:login:hashing:%s", op->t.id);
    limit_fail(op, CL_LOGIN_HASHING, key, lw_ratelimit_rate(l->rl[CL_LOGIN_TENANT]), 1000);
    return false;
}

void is_limit_hash_leave(is_op_t *op)
{
    lw_gate_leave(op->is->limits->hashing, op->t.id);
}

bool is_limit_credential(is_op_t *op)
{
    if (op->auth.kind != IS_AUTH_API_KEY && op->auth.kind != IS_AUTH_TOKEN)
        return true;
    is_limits_t *l = op->is->limits;
    lw_ratelimit_t *rl = l->rl[CL_API_KEY];
    if (lw_rate_off(lw_ratelimit_rate(rl)))
        return true;
    char key[LW_RATELIMIT_KEY_MAX];
    snprintf(key, sizeof key, "is:api-key:%s/%s", op->t.id, op->auth.key_id);
    lw_ratelimit_result_t r;
    if (!lw_ratelimit_take(rl, key, now_ms(l), &r)) {
        limit_fail(op, CL_API_KEY, key, lw_ratelimit_rate(rl), r.retry_after_ms);
        return false;
    }
    lw_ratelimit_series_count(&l->m[CL_API_KEY], &r);
    return true;
}
