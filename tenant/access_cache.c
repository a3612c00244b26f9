/* The access checker's pure part: cache keys, the bounded TTL cache of IS answers, the
 * rights decision and the decoding of the IS's answer. No I/O, no clock: times are given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "cluster/mem.h"
#include "tenant/access_private.h"

/* ---- keying ------------------------------------------------------------------------------ */

static void key_field(EVP_MD_CTX *md, const char *s)
{
    EVP_DigestUpdate(md, s, strlen(s) + 1); /* the NUL ends the field */
}

void tn_access_key(const char *tenant_id, uint64_t incarnation, const char *authorization,
                   const char *entity_type, const char *entity_id, uint8_t out[32])
{
    char inc[24];
    snprintf(inc, sizeof inc, "%llu", (unsigned long long)incarnation);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL)
        abort(); /* allocation failure is fatal (cluster/mem.h) */
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    key_field(md, tenant_id);
    key_field(md, inc);
    key_field(md, entity_type);
    key_field(md, entity_id);
    key_field(md, authorization);
    unsigned int len = 32;
    EVP_DigestFinal_ex(md, out, &len);
    EVP_MD_CTX_free(md);
}

void tn_access_key_id(const char *authorization, char out[TN_ACCESS_KEY_ID_MAX + 1])
{
    out[0] = '\0';
    if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
        return;
    const char *tok = authorization + 7;
    const char *dot1 = strchr(tok, '.');
    if (dot1 == NULL)
        return;
    const char *dot2 = strchr(dot1 + 1, '.');
    if (dot2 == NULL)
        return;
    size_t n = (size_t)(dot2 - dot1 - 1);
    if (n == 0 || n > TN_ACCESS_KEY_ID_MAX)
        return;
    memcpy(out, dot1 + 1, n);
    out[n] = '\0';
}

static const struct {
    const char *type, *plural;
} access_types[] = {
    {"application", "applications"},
    {"gateway", "gateways"},
    {"organization", "organizations"},
    {"user", "users"},
};

const char *tn_access_plural(const char *entity_type)
{
    if (entity_type == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof access_types / sizeof access_types[0]; i++)
        if (strcmp(access_types[i].type, entity_type) == 0)
            return access_types[i].plural;
    return NULL;
}

/* ---- rights ------------------------------------------------------------------------------- */

void tn_access_rights_copy(tn_access_rights_buf_t *out, const char *const *names, size_t n)
{
    size_t bytes = 0, kept = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        if (l > 0 && l <= TN_ACCESS_RIGHT_MAX) {
            bytes += l + 1;
            kept++;
        }
    }
    char *block = lw_malloc(kept * sizeof(char *) + bytes + 1);
    const char **ptrs = (const char **)(void *)block;
    char *p = block + kept * sizeof(char *);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        if (l == 0 || l > TN_ACCESS_RIGHT_MAX)
            continue;
        memcpy(p, names[i], l + 1);
        ptrs[k++] = p;
        p += l + 1;
    }
    out->n = kept;
    out->names = ptrs;
}

void tn_access_rights_free(tn_access_rights_buf_t *r)
{
    free((void *)r->names);
    r->names = NULL;
    r->n = 0;
}

bool tn_rights_have(const tn_rights_t *r, const char *right)
{
    if (r == NULL || right == NULL)
        return false;
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->names[i], right) == 0)
            return true;
    return false;
}

/* The IS's rights errors (pkg/auth/rights, tenant/errors.def), by entity type. */
static const lw_err_def_t *decide_def(const char *entity_type, bool none)
{
    static const struct {
        const char *type;
        const lw_err_def_t *no, *insufficient;
    } defs[] = {
        {"application", &lw_err_no_application_rights, &lw_err_insufficient_application_rights},
        {"gateway", &lw_err_no_gateway_rights, &lw_err_insufficient_gateway_rights},
        {"organization", &lw_err_no_organization_rights, &lw_err_insufficient_organization_rights},
        {"user", &lw_err_no_user_rights, &lw_err_insufficient_user_rights},
    };
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++)
        if (strcmp(defs[i].type, entity_type) == 0)
            return none ? defs[i].no : defs[i].insufficient;
    return &lw_err_permission_denied;
}

int tn_access_decide(const tn_rights_t *held, const char *const *need, size_t n_need,
                     const char *entity_type, const char *entity_id, const char *tenant_id,
                     lw_err_t *err)
{
    const char *missing = NULL;
    for (size_t i = 0; i < n_need && missing == NULL; i++)
        if (!tn_rights_have(held, need[i]))
            missing = need[i];
    if (missing == NULL)
        return 0;
    char uid[TN_ID_MAX * 2 + 2];
    snprintf(uid, sizeof uid, "%s@%s", entity_id, tenant_id);
    if (held->n == 0) {
        lw_err_set(err, decide_def(entity_type, true), "no rights for %s `%s`", entity_type, uid);
        lw_err_attr(err, "uid", uid);
    } else {
        lw_err_set(err, decide_def(entity_type, false),
                   "insufficient rights for %s `%s` (missing %s)", entity_type, uid, missing);
        lw_err_attr(err, "uid", uid);
        lw_err_attr(err, "missing", missing);
    }
    return -1;
}

/* ---- the IS's answer ---------------------------------------------------------------------- */

static int decode_error(int status, json_t *body, lw_err_t *err)
{
    const char *msg = NULL;
    if (json_is_object(body))
        msg = json_string_value(json_object_get(body, "message"));
    if (msg == NULL)
        msg = "";
    switch (status) {
    case 404: {
        /* The IS names an unknown API key or token `api_key_not_found` (404): the caller is
         * not authenticated. An entity the IS does not know (`not_found` with the entity's
         * `id`, "application `x` not found") is not found for the caller too. Any other 404
         * (no such route) means no IS there. */
        const char *name = NULL, *id = NULL;
        if (json_is_object(body)) {
            json_t *d = json_array_get(json_object_get(body, "details"), 0);
            name = json_string_value(json_object_get(d, "name"));
            id = json_string_value(json_object_get(json_object_get(d, "attributes"), "id"));
        }
        if (name != NULL && strcmp(name, "not_found") == 0 && id != NULL) {
            const char *paren = strchr(msg, '(');
            size_t n = strlen(msg);
            if (paren != NULL && n > 0 && msg[n - 1] == ')')
                lw_err_set(err, &lw_err_not_found, "%.*s", (int)(n - 2 - (size_t)(paren - msg)),
                           paren + 1);
            else
                lw_err_set(err, &lw_err_not_found, "`%s` not found", id);
            lw_err_attr(err, "id", id);
            return -1;
        }
        if (name == NULL ||
            (strcmp(name, "api_key_not_found") != 0 && strcmp(name, "token_not_found") != 0))
            return lw_err_set(err, &lw_err_unavailable, "identity server answered status 404");
        return lw_err_set(err, &lw_err_unauthenticated, "%s", *msg ? msg : "unauthenticated");
    }
    case 401:
        return lw_err_set(err, &lw_err_unauthenticated, "%s", *msg ? msg : "unauthenticated");
    case 403:
        return lw_err_set(err, &lw_err_permission_denied, "%s", *msg ? msg : "permission denied");
    case 400:
        lw_err_set(err, &lw_err_invalid_field, "%s", *msg ? msg : "invalid request");
        /* The IS names the field it refused (details[0].attributes.field). */
        if (json_is_object(body)) {
            json_t *d = json_array_get(json_object_get(body, "details"), 0);
            const char *f =
                json_string_value(json_object_get(json_object_get(d, "attributes"), "field"));
            if (f != NULL)
                lw_err_attr(err, "field", f);
        }
        return -1;
    case 429:
        return lw_err_set(err, &lw_err_rate_limit_exceeded, "%s",
                          *msg ? msg : "rate limit exceeded");
    default:
        return lw_err_set(err, &lw_err_unavailable, "identity server answered status %d", status);
    }
}

int tn_access_decode_answer(int status, const uint8_t *body, size_t len,
                            tn_access_rights_buf_t *out, lw_err_t *err)
{
    out->n = 0;
    out->names = NULL;
    json_t *root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, NULL);
    if (status != 200) {
        int rc = decode_error(status, root, err);
        json_decref(root);
        return rc;
    }
    json_t *arr = json_is_object(root) ? json_object_get(root, "rights") : NULL;
    if (!json_is_object(root) || (arr != NULL && !json_is_array(arr))) {
        json_decref(root);
        return lw_err_set(err, &lw_err_unavailable, "identity server answered no rights object");
    }
    const char *names[TN_ACCESS_MAX_RIGHTS];
    size_t n = 0;
    for (size_t i = 0; arr != NULL && i < json_array_size(arr) && n < TN_ACCESS_MAX_RIGHTS; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (s == NULL) {
            json_decref(root);
            return lw_err_set(err, &lw_err_unavailable,
                              "identity server answered a right that is not a string");
        }
        names[n++] = s;
    }
    tn_access_rights_copy(out, names, n);
    json_decref(root);
    return 0;
}

/* ---- the cache ------------------------------------------------------------------------------ */

struct tn_access_entry {
    tn_access_entry_t *hnext;         /* bucket chain */
    tn_access_entry_t *older, *newer; /* age list */
    uint8_t key[32];
    char tenant[TN_ID_MAX + 1];
    char key_id[TN_ACCESS_KEY_ID_MAX + 1];
    char type[TN_ACCESS_TYPE_MAX];
    char id[TN_ID_MAX + 1];
    uint64_t expires_ms;
    tn_access_rights_buf_t rights;
};

void tn_access_cache_init(tn_access_cache_t *c, size_t max)
{
    memset(c, 0, sizeof *c);
    c->max = max;
    if (max == 0)
        return;
    size_t nb = 16;
    while (nb < max)
        nb <<= 1;
    c->nbuckets = nb;
    c->buckets = lw_calloc(nb, sizeof *c->buckets);
}

static tn_access_entry_t **cache_slot(tn_access_cache_t *c, const uint8_t key[32])
{
    uint64_t h;
    memcpy(&h, key, sizeof h); /* a SHA-256 prefix is spread well enough */
    tn_access_entry_t **pp = &c->buckets[h & (c->nbuckets - 1)];
    while (*pp != NULL && memcmp((*pp)->key, key, 32) != 0)
        pp = &(*pp)->hnext;
    return pp;
}

static void cache_remove(tn_access_cache_t *c, tn_access_entry_t *e)
{
    tn_access_entry_t **pp = cache_slot(c, e->key);
    *pp = e->hnext;
    if (e->older != NULL)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    if (e->newer != NULL)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    tn_access_rights_free(&e->rights);
    free(e);
    c->n--;
}

void tn_access_cache_free(tn_access_cache_t *c)
{
    while (c->oldest != NULL)
        cache_remove(c, c->oldest);
    free(c->buckets);
    c->buckets = NULL;
}

bool tn_access_cache_get(tn_access_cache_t *c, const uint8_t key[32], uint64_t now_ms,
                         tn_access_rights_buf_t *out)
{
    if (c->max == 0)
        return false;
    tn_access_entry_t *e = *cache_slot(c, key);
    if (e == NULL)
        return false;
    if (now_ms >= e->expires_ms) {
        cache_remove(c, e);
        return false;
    }
    tn_access_rights_copy(out, e->rights.names, e->rights.n);
    return true;
}

void tn_access_cache_put(tn_access_cache_t *c, const uint8_t key[32], const char *tenant_id,
                         const char *key_id, const char *entity_type, const char *entity_id,
                         const tn_access_rights_buf_t *rights, uint64_t now_ms, int64_t ttl_ms,
                         uint64_t gen)
{
    if (c->max == 0 || ttl_ms <= 0 || gen != c->gen)
        return;
    tn_access_entry_t *old = *cache_slot(c, key);
    if (old != NULL)
        cache_remove(c, old);
    while (c->n >= c->max)
        cache_remove(c, c->oldest);
    tn_access_entry_t *e = lw_calloc(1, sizeof *e);
    memcpy(e->key, key, 32);
    snprintf(e->tenant, sizeof e->tenant, "%s", tenant_id);
    snprintf(e->key_id, sizeof e->key_id, "%s", key_id);
    snprintf(e->type, sizeof e->type, "%s", entity_type);
    snprintf(e->id, sizeof e->id, "%s", entity_id);
    e->expires_ms = now_ms + (uint64_t)ttl_ms;
    tn_access_rights_copy(&e->rights, rights->names, rights->n);
    tn_access_entry_t **pp = cache_slot(c, key);
    *pp = e;
    e->older = c->newest;
    if (c->newest != NULL)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
    c->n++;
}

static size_t cache_forget(tn_access_cache_t *c, const char *tenant_id, const char *key_id)
{
    c->gen++;
    size_t gone = 0;
    tn_access_entry_t *e = c->oldest;
    while (e != NULL) {
        tn_access_entry_t *next = e->newer;
        if ((tenant_id == NULL || strcmp(e->tenant, tenant_id) == 0) &&
            (key_id == NULL || strcmp(e->key_id, key_id) == 0)) {
            cache_remove(c, e);
            gone++;
        }
        e = next;
    }
    return gone;
}

size_t tn_access_cache_forget_tenant(tn_access_cache_t *c, const char *tenant_id)
{
    return cache_forget(c, tenant_id, NULL);
}

size_t tn_access_cache_forget_key(tn_access_cache_t *c, const char *tenant_id, const char *key_id)
{
    if (key_id == NULL || key_id[0] == '\0')
        return cache_forget(c, tenant_id, NULL);
    return cache_forget(c, tenant_id, key_id);
}
