/* Private to the access checker (tenant/access.h): its pure parts (cache, keying, the
 * decision, the IS answer's decoding), unit tested in tests/unit/components/tenant/, and
 * what the tenant component calls in its lifecycle.
 *
 *   access.c        the checker: requests to the IS over cluster/http_client.h, deferred
 *                   callbacks, lw.is.revocations and tenant changes (I/O)
 *   access_cache.c  pure: keys, the bounded TTL cache, rights decisions, answer decoding */
#ifndef TN_ACCESS_PRIVATE_H
#define TN_ACCESS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tenant/access.h"
#include "tenant/tenant.h"

/* Rights in one IS answer beyond this many are ignored (TTS defines about 60). */
#define TN_ACCESS_MAX_RIGHTS 96
/* Longest right name kept. */
#define TN_ACCESS_RIGHT_MAX 64
/* An API key or access token ID (pkg/auth: 39 base32 characters), with room to spare. */
#define TN_ACCESS_KEY_ID_MAX 64
#define TN_ACCESS_TYPE_MAX   16

/* ---- keying ------------------------------------------------------------------------------ */

/* The cache key: SHA-256 over the tenant ID, its incarnation, the entity type and ID and
 * the whole Authorization value, each field ended by a NUL (so no two inputs collide by
 * shifting bytes between fields). The credential is never stored, only this digest. */
void tn_access_key(const char *tenant_id, uint64_t incarnation, const char *authorization,
                   const char *entity_type, const char *entity_id, uint8_t out[32]);

/* The key or token ID of `Bearer <TYPE>.<ID>.<SECRET>` (pkg/auth tokens), the part a
 * revocation names; "" for anything else (TenantAdminKey, malformed). Never the secret. */
void tn_access_key_id(const char *authorization, char out[TN_ACCESS_KEY_ID_MAX + 1]);

/* "application" → "applications" (the API path), NULL for an entity type not served. */
const char *tn_access_plural(const char *entity_type);

/* ---- the cache ---------------------------------------------------------------------------- */

/* One answer: the rights the IS listed, in one allocation (names point into it). */
typedef struct tn_access_rights_buf {
    size_t n;
    const char **names; /* n pointers, then the strings */
} tn_access_rights_buf_t;

typedef struct tn_access_entry tn_access_entry_t;

/* A bounded cache of answers with a TTL: at most `max` entries, the oldest evicted first.
 * Times are the caller's monotonic milliseconds. Loop-thread only, like its owner. */
typedef struct tn_access_cache {
    tn_access_entry_t **buckets;
    size_t nbuckets; /* power of two */
    tn_access_entry_t *oldest, *newest;
    size_t n, max;
    uint64_t gen; /* counts forgets: an answer requested before one is not cached */
} tn_access_cache_t;

/* max 0 disables the cache (every get misses, put keeps nothing). */
void tn_access_cache_init(tn_access_cache_t *c, size_t max);
void tn_access_cache_free(tn_access_cache_t *c);

/* The rights cached under key, unexpired at now_ms, as a copy the caller frees with
 * tn_access_rights_free; false when none (an expired entry is dropped). */
bool tn_access_cache_get(tn_access_cache_t *c, const uint8_t key[32], uint64_t now_ms,
                         tn_access_rights_buf_t *out);

/* Keeps a copy of rights under key until now_ms + ttl_ms, naming the tenant, the key ID
 * (tn_access_key_id, may be "") and the entity for the forgets below. Ignored when anything
 * was forgotten since the request started (gen != c->gen) or ttl_ms <= 0. */
void tn_access_cache_put(tn_access_cache_t *c, const uint8_t key[32], const char *tenant_id,
                         const char *key_id, const char *entity_type, const char *entity_id,
                         const tn_access_rights_buf_t *rights, uint64_t now_ms, int64_t ttl_ms,
                         uint64_t gen);

/* Forgets: every entry of a tenant (NULL: of every tenant); the entries answered for one
 * key or token ID of a tenant. Each counts as a forget (gen). Return how many went. */
size_t tn_access_cache_forget_tenant(tn_access_cache_t *c, const char *tenant_id);
size_t tn_access_cache_forget_key(tn_access_cache_t *c, const char *tenant_id, const char *key_id);

/* ---- rights and answers ------------------------------------------------------------------ */

/* Copies n names into one allocation (names longer than TN_ACCESS_RIGHT_MAX are skipped). */
void tn_access_rights_copy(tn_access_rights_buf_t *out, const char *const *names, size_t n);
void tn_access_rights_free(tn_access_rights_buf_t *r);

/* The decision, as the IS makes it (is_rights_require): every right of need[] in held, or
 * err = no_<type>_rights (holds none at all) / insufficient_<type>_rights (attribute
 * "missing": the first missing right of need[]), both with attribute "uid"
 * ("<entity_id>@<tenant_id>"). Returns 0 or -1. */
int tn_access_decide(const tn_rights_t *held, const char *const *need, size_t n_need,
                     const char *entity_type, const char *entity_id, const char *tenant_id,
                     lw_err_t *err);

/* Decodes the IS's answer to GET .../rights: status 200 with {"rights":[...]} (absent or
 * empty: none) into out (free with tn_access_rights_free); any other status into err with
 * the IS's meaning: 401 unauthenticated, 403 permission_denied, 400 invalid_field, 429
 * rate_limit_exceeded, each with the IS's message; anything else (and a 200 that is not
 * such an object) unavailable. Returns 0 or -1. */
int tn_access_decode_answer(int status, const uint8_t *body, size_t len,
                            tn_access_rights_buf_t *out, lw_err_t *err);

/* ---- the checker's lifecycle (access.c; called by component.c) ----------------------------- */

/* Creates the checker from tenancy.* (at the tenant component's init) and publishes it as
 * the runtime service. Returns NULL with err (nothing to free). */
tn_access_t *tn_access_new(tn_t *tn, lw_rt_t *rt, lw_err_t *err);
/* Subscribes to lw.is.revocations (at start). */
int tn_access_start(tn_access_t *a, lw_err_t *err);
/* Gives the answers already known, cancels requests in flight (their callbacks run with
 * unavailable) and refuses new checks; done(arg) (may be NULL) once the HTTP client is
 * closed, after the last callback. */
void tn_access_stop(tn_access_t *a, void (*done)(void *arg), void *arg);
void tn_access_free(tn_access_t *a);

#endif
