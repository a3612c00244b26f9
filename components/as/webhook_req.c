/* Webhooks, the pure part: a webhook's JSON checked and kept, the delivered message's
 * field_mask, the request URL, the backoff, the downlink API key sealed at rest. No I/O, no
 * clock (the seal's nonce is random). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "as/webhook_private.h"

const char *const wh_type_fields[WH_TYPES] = {
    NULL,
    "uplink_message",
    "join_accept",
    "downlink_queued",
    "downlink_sent",
    "downlink_ack",
    "downlink_nack",
    "downlink_failed",
    "downlink_queue_invalidated",
    "service_data",
    "location_solved",
    "uplink_normalized",
};

static int type_index(const char *name, size_t n)
{
    for (unsigned i = 1; i < WH_TYPES; i++)
        if (strlen(wh_type_fields[i]) == n && strncmp(wh_type_fields[i], name, n) == 0)
            return (int)i;
    return -1;
}

/* ---- the registry's paths ------------------------------------------------------------------ */

static const char *const plain_paths[] = {
    "base_url",   "headers",          "format",       "downlink_api_key", "paused",
    "field_mask", "field_mask.paths", "template_ids", "template_fields",  "health_status",
    NULL};

bool wh_path_known(const void *arg, const char *path)
{
    (void)arg;
    for (int i = 0; plain_paths[i] != NULL; i++)
        if (strcmp(plain_paths[i], path) == 0)
            return true;
    const char *dot = strchr(path, '.');
    size_t n = dot != NULL ? (size_t)(dot - path) : strlen(path);
    if (type_index(path, n) < 0)
        return false;
    return dot == NULL || strcmp(dot, ".path") == 0;
}

/* The mask selects path (itself or a parent of it). */
static bool mask_sets(const lw_api_mask_t *m, const char *path)
{
    size_t n = strlen(path);
    for (int i = 0; i < m->n; i++) {
        size_t k = strlen(m->paths[i]);
        if (k <= n && strncmp(path, m->paths[i], k) == 0 && (path[k] == '\0' || path[k] == '.'))
            return true;
    }
    return false;
}

static bool printable(const char *s, bool space_ok)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7f || (!space_ok && *p == ' '))
            return false;
    return true;
}

static bool token_char(unsigned char c)
{
    return isalnum(c) || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int check_url(const char *u, lw_err_t *err)
{
    char url[WH_URL_MAX + 1], auth[WH_URL_MAX];
    if (strlen(u) > WH_URL_MAX || !printable(u, false) ||
        wh_url(u, "", url, sizeof url, auth, sizeof auth) != 0)
        return lw_api_invalid(err, "webhook.base_url",
                              "an absolute http:// or https:// URL of at most %u bytes expected",
                              WH_URL_MAX);
    return 0;
}

static int check_headers(const json_t *h, lw_err_t *err)
{
    if (!json_is_object(h))
        return lw_api_invalid(err, "webhook.headers", "an object of strings expected");
    if (json_object_size(h) > WH_HEADERS_MAX)
        return lw_api_invalid(err, "webhook.headers", "at most %u headers", WH_HEADERS_MAX);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)h, k, v)
    {
        bool ok = k[0] != '\0' && strlen(k) <= 256;
        for (const unsigned char *p = (const unsigned char *)k; ok && *p != '\0'; p++)
            ok = token_char(*p);
        if (!ok)
            return lw_api_invalid(err, "webhook.headers", "`%.64s` is not a header name", k);
        if (!json_is_string(v) || json_string_length(v) > WH_HEADER_MAX ||
            strlen(json_string_value(v)) != json_string_length(v) ||
            !printable(json_string_value(v), true))
            return lw_api_invalid(err, "webhook.headers",
                                  "the value of `%.64s`: a string of at most %u bytes without "
                                  "control characters expected",
                                  k, WH_HEADER_MAX);
    }
    return 0;
}

/* field_mask paths of the delivered ApplicationUp (TTS's names). */
static bool up_path_ok(const char *p)
{
    static const char *const tops[] = {
        "end_device_ids", "correlation_ids", "received_at", "simulated", "up", NULL};
    const char *dot = strchr(p, '.');
    size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
    for (int i = 0; tops[i] != NULL; i++) {
        if (strlen(tops[i]) != n || strncmp(tops[i], p, n) != 0)
            continue;
        if (strcmp(tops[i], "up") != 0 || dot == NULL)
            return true;
        const char *t = dot + 1;
        const char *d2 = strchr(t, '.');
        return type_index(t, d2 != NULL ? (size_t)(d2 - t) : strlen(t)) > 0;
    }
    return false;
}

static int check_field_mask(const json_t *fm, lw_err_t *err)
{
    static const char *const keys[] = {"paths", NULL};
    if (!json_is_object(fm))
        return lw_api_invalid(err, "webhook.field_mask", "{\"paths\": [...]} expected");
    if (lw_api_check_keys(fm, keys, NULL, err) != 0)
        return -1;
    const json_t *paths = json_object_get(fm, "paths");
    if (paths == NULL || json_is_null(paths))
        return 0;
    if (!json_is_array(paths) || json_array_size(paths) > WH_MASK_MAX)
        return lw_api_invalid(err, "webhook.field_mask.paths", "at most %u paths expected",
                              WH_MASK_MAX);
    size_t i;
    const json_t *v;
    json_array_foreach(paths, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) > LW_API_PATH_MAX ||
            !up_path_ok(json_string_value(v)))
            return lw_api_invalid(err, "webhook.field_mask.paths",
                                  "`%.64s` is not a path of ApplicationUp",
                                  json_is_string(v) ? json_string_value(v) : "?");
    }
    return 0;
}

static int check_message(const char *name, const json_t *m, lw_err_t *err)
{
    char field[64];
    snprintf(field, sizeof field, "webhook.%s", name);
    if (!json_is_object(m))
        return lw_api_invalid(err, field, "{\"path\": \"...\"} expected");
    static const char *const keys[] = {"path", NULL};
    if (lw_api_check_keys(m, keys, NULL, err) != 0) {
        /* name the field within the webhook */
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)m, k, v)
        {
            if (strcmp(k, "path") != 0) {
                char f[128];
                snprintf(f, sizeof f, "%s.%.32s", field, k);
                return lw_api_unknown(err, f);
            }
        }
        return -1;
    }
    const json_t *p = json_object_get(m, "path");
    snprintf(field, sizeof field, "webhook.%s.path", name);
    if (p != NULL && !json_is_null(p) &&
        (!json_is_string(p) || json_string_length(p) > WH_PATH_MAX ||
         strlen(json_string_value(p)) != json_string_length(p) ||
         !printable(json_string_value(p), false)))
        return lw_api_invalid(err, field, "a string of at most %u bytes without spaces expected",
                              WH_PATH_MAX);
    return 0;
}

static const char *const body_keys[] = {
    "ids",      "created_at", "updated_at",   "health_status",
    "base_url", "headers",    "format",       "downlink_api_key",
    "paused",   "field_mask", "template_ids", "template_fields",
    "queue",    NULL};

int wh_apply(const json_t *body, const lw_api_mask_t *mask, bool create, json_t *stored,
             char key_out[WH_KEY_MAX + 1], bool *key_set, lw_err_t *err)
{
    *key_set = false;
    key_out[0] = '\0';
    if (!json_is_object(body))
        return lw_api_invalid(err, "webhook", "an object is required");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)body, k, v)
    {
        bool ok = type_index(k, strlen(k)) > 0;
        for (int i = 0; !ok && body_keys[i] != NULL; i++)
            ok = strcmp(body_keys[i], k) == 0;
        if (!ok) {
            char f[96];
            snprintf(f, sizeof f, "webhook.%.64s", k);
            return lw_api_unknown(err, f);
        }
    }
    lw_api_mask_t all = {0};
    if (mask->n == 0) {
        /* No mask: every field the body has (a create without one, as TTS's CLI sends). */
        json_object_foreach((json_t *)body, k, v)
        {
            if (all.n < LW_API_MASK_MAX && strcmp(k, "ids") != 0 && strcmp(k, "created_at") != 0 &&
                strcmp(k, "updated_at") != 0 && strcmp(k, "health_status") != 0 &&
                strcmp(k, "queue") != 0)
                snprintf(all.paths[all.n++], LW_API_PATH_MAX, "%s", k);
        }
        mask = &all;
    }
#define SETS(p) mask_sets(mask, p)
    if (SETS("base_url")) {
        v = json_object_get(body, "base_url");
        if (!json_is_string(v))
            return lw_api_invalid(err, "webhook.base_url", "a URL is required");
        if (check_url(json_string_value(v), err) != 0)
            return -1;
        json_object_set(stored, "base_url", (json_t *)v);
    }
    if (SETS("headers")) {
        v = json_object_get(body, "headers");
        if (v == NULL || json_is_null(v))
            json_object_del(stored, "headers");
        else if (check_headers(v, err) != 0)
            return -1;
        else
            json_object_set_new(stored, "headers", json_deep_copy(v));
    }
    if (SETS("format")) {
        v = json_object_get(body, "format");
        if (v != NULL && !json_is_null(v) &&
            (!json_is_string(v) || strcmp(json_string_value(v), "json") != 0))
            return lw_api_invalid(err, "webhook.format",
                                  "`json` expected (GET /api/v3/as/"
                                  "webhook-formats)");
        json_object_set_new(stored, "format", json_string("json"));
    }
    if (SETS("downlink_api_key")) {
        v = json_object_get(body, "downlink_api_key");
        if (v != NULL && !json_is_null(v) &&
            (!json_is_string(v) || json_string_length(v) > WH_KEY_MAX ||
             !printable(json_string_value(v), false)))
            return lw_api_invalid(err, "webhook.downlink_api_key",
                                  "an API key of at most %u characters expected", WH_KEY_MAX);
        snprintf(key_out, WH_KEY_MAX + 1, "%s", json_is_string(v) ? json_string_value(v) : "");
        *key_set = true;
    }
    if (SETS("paused")) {
        v = json_object_get(body, "paused");
        if (v != NULL && !json_is_null(v) && !json_is_boolean(v))
            return lw_api_invalid(err, "webhook.paused", "true or false expected");
        if (json_is_true(v))
            json_object_set_new(stored, "paused", json_true());
        else
            json_object_del(stored, "paused");
    }
    if (SETS("field_mask") || SETS("field_mask.paths")) {
        v = json_object_get(body, "field_mask");
        if (v == NULL || json_is_null(v))
            json_object_del(stored, "field_mask");
        else if (check_field_mask(v, err) != 0)
            return -1;
        else if (json_array_size(json_object_get(v, "paths")) == 0)
            json_object_del(stored, "field_mask");
        else
            json_object_set_new(stored, "field_mask", json_deep_copy(v));
    }
    if (SETS("template_ids")) {
        v = json_object_get(body, "template_ids");
        if (v != NULL && !json_is_null(v) && !json_is_array(v))
            return lw_api_invalid(err, "webhook.template_ids", "an array of strings expected");
        if (json_array_size(v) > 0)
            json_object_set_new(stored, "template_ids", json_deep_copy(v));
        else
            json_object_del(stored, "template_ids");
    }
    if (SETS("template_fields")) {
        v = json_object_get(body, "template_fields");
        if (v != NULL && !json_is_null(v) && !json_is_object(v))
            return lw_api_invalid(err, "webhook.template_fields", "an object expected");
        if (json_object_size(v) > 0)
            json_object_set_new(stored, "template_fields", json_deep_copy(v));
        else
            json_object_del(stored, "template_fields");
    }
    for (unsigned i = 1; i < WH_TYPES; i++) {
        const char *name = wh_type_fields[i];
        char p[64];
        snprintf(p, sizeof p, "%s.path", name);
        if (!SETS(name) && !SETS(p))
            continue;
        v = json_object_get(body, name);
        if (v == NULL || json_is_null(v)) {
            json_object_del(stored, name);
            continue;
        }
        if (check_message(name, v, err) != 0)
            return -1;
        const json_t *path = json_object_get(v, "path");
        json_object_set_new(
            stored, name,
            json_pack("{ss}", "path", json_is_string(path) ? json_string_value(path) : ""));
    }
#undef SETS
    if (create && !json_is_string(json_object_get(stored, "base_url")))
        return lw_api_invalid(err, "webhook.base_url", "a URL is required");
    if (json_object_get(stored, "format") == NULL)
        json_object_set_new(stored, "format", json_string("json"));
    return 0;
}

/* ---- the delivered message's field mask ------------------------------------------------------ */

/* Copies into out what `path` (dotted, relative to from) selects of from. */
static void mask_copy(json_t *out, const json_t *from, const char *path)
{
    const char *dot = strchr(path, '.');
    size_t n = dot != NULL ? (size_t)(dot - path) : strlen(path);
    char key[LW_API_PATH_MAX + 1];
    if (n > LW_API_PATH_MAX)
        return;
    memcpy(key, path, n);
    key[n] = '\0';
    const json_t *v = json_object_get(from, key);
    if (v == NULL)
        return;
    if (dot == NULL || !json_is_object(v)) {
        json_object_set_new(out, key, json_deep_copy(v));
        return;
    }
    json_t *sub = json_object_get(out, key);
    if (!json_is_object(sub)) {
        sub = json_object();
        json_object_set_new(out, key, sub);
    }
    mask_copy(sub, v, dot + 1);
}

json_t *wh_mask_up(const json_t *up, const char *const *paths, size_t n)
{
    if (n == 0 || !json_is_object(up))
        return json_incref((json_t *)up);
    /* The message's type: the one key of the ApplicationUp that names a type. */
    const char *type = NULL;
    for (unsigned i = 1; i < WH_TYPES && type == NULL; i++)
        if (json_object_get(up, wh_type_fields[i]) != NULL)
            type = wh_type_fields[i];
    json_t *out = json_object();
    for (size_t i = 0; i < n; i++) {
        const char *p = paths[i];
        if (strcmp(p, "up") == 0) {
            if (type != NULL)
                mask_copy(out, up, type);
            continue;
        }
        if (strncmp(p, "up.", 3) == 0) {
            const char *t = p + 3;
            size_t tn = strcspn(t, ".");
            if (type != NULL && strlen(type) == tn && strncmp(t, type, tn) == 0)
                mask_copy(out, up, t);
            continue;
        }
        mask_copy(out, up, p);
    }
    return out;
}

/* ---- URLs ------------------------------------------------------------------------------------ */

/* The last '@' of s[0..n) (userinfo may hold unescaped ones; the host never does). */
static const char *last_at(const char *s, size_t n)
{
    while (n > 0)
        if (s[--n] == '@')
            return s + n;
    return NULL;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static size_t pct_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int h, l;
        if (s[i] == '%' && i + 2 < n && (h = hexval(s[i + 1])) >= 0 &&
            (l = hexval(s[i + 2])) >= 0) {
            out[o++] = (char)(h * 16 + l);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    return o;
}

int wh_url(const char *base_url, const char *path, char *url_out, size_t url_len, char *auth_out,
           size_t auth_len)
{
    auth_out[0] = '\0';
    const char *rest;
    if (strncmp(base_url, "http://", 7) == 0)
        rest = base_url + 7;
    else if (strncmp(base_url, "https://", 8) == 0)
        rest = base_url + 8;
    else
        return -1;
    size_t scheme_len = (size_t)(rest - base_url);
    size_t auth_end = strcspn(rest, "/?#");
    const char *at = last_at(rest, auth_end);
    const char *host = at != NULL ? at + 1 : rest;
    size_t host_len = auth_end - (size_t)(host - rest);
    if (host_len == 0 || host[0] == ':')
        return -1;
    if (at != NULL) {
        char cred[WH_URL_MAX];
        size_t n = (size_t)(at - rest);
        if (n >= sizeof cred)
            return -1;
        size_t dn = pct_decode(rest, n, cred);
        /* "Basic " + base64 (4 per 3 bytes) + NUL */
        if (auth_len < 6 + 4 * ((dn + 2) / 3) + 1)
            return -1;
        memcpy(auth_out, "Basic ", 6);
        EVP_EncodeBlock((unsigned char *)auth_out + 6, (const unsigned char *)cred, (int)dn);
    }
    /* base path (with query) and the path to join */
    const char *bpath = host + host_len;
    size_t bq = strcspn(bpath, "#");
    char base_path[WH_URL_MAX + 1];
    if (bq > WH_URL_MAX)
        return -1;
    memcpy(base_path, bpath, bq);
    base_path[bq] = '\0';
    char joined[2 * WH_URL_MAX + 2];
    if (path == NULL || path[0] == '\0') {
        snprintf(joined, sizeof joined, "%s", base_path);
    } else if (path[0] == '?') {
        /* only a query: replaces the base's (RFC 3986 reference resolution) */
        size_t pl = strcspn(base_path, "?");
        snprintf(joined, sizeof joined, "%.*s%s", (int)pl, base_path, path);
    } else {
        size_t pl = strcspn(base_path, "?");
        const char *p = path;
        while (*p == '/')
            p++;
        bool slash = pl > 0 && base_path[pl - 1] == '/';
        snprintf(joined, sizeof joined, "%.*s%s%s", (int)pl, base_path, slash ? "" : "/", p);
    }
    int n = snprintf(url_out, url_len, "%.*s%.*s%s", (int)scheme_len, base_url, (int)host_len, host,
                     joined);
    if (n < 0 || (size_t)n >= url_len || (size_t)n > WH_URL_MAX)
        return -1;
    return 0;
}

void wh_domain(const char *public_address, char *out, size_t len)
{
    out[0] = '\0';
    if (public_address == NULL)
        return;
    const char *p = strstr(public_address, "://");
    p = p != NULL ? p + 3 : public_address;
    size_t n = strcspn(p, "/?#");
    const char *at = last_at(p, n);
    if (at != NULL) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    snprintf(out, len, "%.*s", (int)n, p);
}

uint64_t wh_backoff_ms(uint64_t base_ms, uint64_t max_ms, uint32_t failures, uint32_t rnd)
{
    if (failures == 0)
        return 0;
    uint64_t d = base_ms;
    for (uint32_t i = 1; i < failures && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    /* jitter: [0.5, 1.0) of d */
    return d / 2 + (d / 2) * (rnd % 1024u) / 1024u;
}

/* ---- the downlink API key at rest ------------------------------------------------------------ */

static const EVP_CIPHER *gcm_of(size_t len)
{
    return len == 16 ? EVP_aes_128_gcm() : len == 24 ? EVP_aes_192_gcm() : EVP_aes_256_gcm();
}

int wh_key_seal(const as_kek_t *kek, const char *key, char *out, size_t len)
{
    size_t n = strlen(key);
    if (kek == NULL || kek->len == 0) {
        if (n + 1 > len)
            return -1;
        memcpy(out, key, n + 1);
        return 0;
    }
    if (n > WH_KEY_MAX)
        return -1;
    uint8_t buf[12 + WH_KEY_MAX + 16];
    if (RAND_bytes(buf, 12) != 1)
        return -1;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ol = 0, fl = 0,
        ok = c != NULL && EVP_EncryptInit_ex(c, gcm_of(kek->len), NULL, kek->key, buf) == 1 &&
             EVP_EncryptUpdate(c, buf + 12, &ol, (const uint8_t *)key, (int)n) == 1 &&
             EVP_EncryptFinal_ex(c, buf + 12 + ol, &fl) == 1 &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, buf + 12 + n) == 1;
    EVP_CIPHER_CTX_free(c);
    size_t total = 12 + n + 16;
    int hl = snprintf(out, len, "gcm:%s:", kek->label);
    if (!ok || hl < 0 || (size_t)hl + 4 * ((total + 2) / 3) + 1 > len)
        return -1;
    EVP_EncodeBlock((unsigned char *)out + hl, buf, (int)total);
    OPENSSL_cleanse(buf, sizeof buf);
    return 0;
}

int wh_key_open(const as_t *as, const char *stored, char *out, size_t len)
{
    if (strncmp(stored, "gcm:", 4) != 0) {
        /* stored in clear (no as.key-encryption-key when it was set) */
        if (strlen(stored) + 1 > len)
            return -1;
        memcpy(out, stored, strlen(stored) + 1);
        return 0;
    }
    const char *label = stored + 4, *colon = strchr(label, ':');
    if (colon == NULL || (size_t)(colon - label) > AS_LABEL_MAX)
        return -1;
    char lab[AS_LABEL_MAX + 1];
    memcpy(lab, label, (size_t)(colon - label));
    lab[colon - label] = '\0';
    const as_kek_t *kek = as_kek_find(as, lab);
    uint8_t buf[12 + WH_KEY_MAX + 16 + 3];
    int n = kek != NULL ? as_b64_decode(colon + 1, buf, sizeof buf) : -1;
    if (n < 12 + 16 || (size_t)(n - 28) + 1 > len)
        return -1;
    size_t ct = (size_t)n - 28;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ol = 0, fl = 0,
        ok = c != NULL && EVP_DecryptInit_ex(c, gcm_of(kek->len), NULL, kek->key, buf) == 1 &&
             EVP_DecryptUpdate(c, (uint8_t *)out, &ol, buf + 12, (int)ct) == 1 &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, buf + 12 + ct) == 1 &&
             EVP_DecryptFinal_ex(c, (uint8_t *)out + ol, &fl) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok) {
        OPENSSL_cleanse(out, len);
        out[0] = '\0';
        return -1;
    }
    out[ct] = '\0';
    return 0;
}
