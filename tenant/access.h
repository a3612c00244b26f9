/* An API caller's rights on an entity, for the servers that are not the Identity Server
 * (GS, NS, JS, AS): they never read the IS's tables nor link it. The checker asks the IS
 * through its documented API, as The Things Stack's servers do:
 *
 *     GET <tenancy.identity-server-uri>/api/v3/<applications|gateways|organizations|users>
 *         /{id}/rights
 *     Authorization: <the caller's header, as received>   X-Tenant-ID: <tenant>
 *     → 200 {"rights":["RIGHT_...", ...]}   (expanded: pseudo-rights and implications)
 *
 * and keeps each answer for `tenancy.access-cache-ttl` (default 10 s), keyed by (tenant,
 * tenant incarnation, SHA-256 of the Authorization value, entity type, entity ID); the
 * credential itself is never kept, logged or put in an error. A revoked credential or a
 * deleted entity (lw.is.revocations, published by the IS) and any change of the tenant
 * (tn_changes_subscribe) drop the entries at once in every process; an IS error is never
 * cached, nor is an answer that arrived after a revocation of the tenant made while it was
 * in flight.
 *
 * `tenancy.identity-server-uri` defaults to this node's own HTTP listener on 127.0.0.1 (its
 * host must not be a tenant host name under tenancy.base-domains: the tenant is sent in
 * X-Tenant-ID; `tenancy.identity-server-ca` names the CAs of an https:// one);
 * `tenancy.identity-server-timeout` bounds a request (default 5 s);
 * `tenancy.access-cache-size` bounds the cache (default 4096 answers, oldest dropped first;
 * 0 turns it off). Checks of the same key made while one is with the IS share its answer
 * (unless something was forgotten since it was asked). Metrics:
 * lwstack_tenant_access_checks_total{result=cached|asked|shared|failed},
 * lwstack_tenant_access_forgotten_total.
 *
 * Errors given to the callback (the IS's names, so that a server answers as TTS would):
 *   unauthenticated (401, pkg/auth)  no or bad credential, as the IS said
 *   no_<type>_rights (403, pkg/auth/rights)            the caller holds no right on the
 *                                    entity (an entity that does not exist is the same: TTS
 *                                    lists no rights for it); attribute "uid" <id>@<tenant>
 *   insufficient_<type>_rights (403, pkg/auth/rights)  it lacks one of need[]: attribute
 *                                    "missing" names the first missing right, "uid" as above
 *   (both are The Things Stack's permission-denied errors, as the IS answers them)
 *   unavailable (503)                the IS could not be reached or answered unexpectedly
 * Other IS errors (invalid_argument for a bad ID, 429 rate_limit_exceeded) are passed on
 * with their name, HTTP status and message.
 *
 * Loop-thread only. */
#ifndef TN_ACCESS_H
#define TN_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "cluster/err.h"
#include "cluster/runtime.h"
#include "tenant/ids.h"

typedef struct tn_access tn_access_t; /* the shared checker, a runtime service */

/* Published by the tenant component's init; NULL when the tenant component is not added or
 * not yet initialised. */
tn_access_t *tn_access_from_runtime(lw_rt_t *rt);

/* Rights by The Things Stack's names ("RIGHT_APPLICATION_DEVICES_READ"), expanded as the IS
 * expands them (RIGHT_APPLICATION_ALL is listed with every right it stands for). */
typedef struct tn_rights {
    size_t n;
    const char *const *names;
} tn_rights_t;

/* True when r lists `right` (exact name). */
bool tn_rights_have(const tn_rights_t *r, const char *right);

/* cb exactly once on the loop, never from inside tn_access_check: held != NULL on success
 * (every right of need[] held; held lists all the caller's rights on the entity), else err
 * is unauthenticated / permission_denied (names the missing right) / unavailable. held and
 * err are valid during the call only. */
typedef void (*tn_access_cb)(void *arg, const tn_rights_t *held, const lw_err_t *err);

/* Checks that the caller presenting `authorization` (the request's Authorization header
 * value, NULL when absent: then unauthenticated without asking) holds every right of
 * need[0..n_need) on the entity (entity_type "application" | "gateway" | "organization" |
 * "user", entity_id its ID) of tenant t. n_need 0 only asks for the rights: it
 * succeeds with the caller's rights, maybe none. Everything is copied before the call
 * returns. Returns 0 (cb later), or -1 with cb never called when the checker is stopped or
 * entity_type is not one of those above. */
int tn_access_check(tn_access_t *a, const tn_tenant_t *t, const char *authorization,
                    const char *entity_type, const char *entity_id, const char *const *need,
                    size_t n_need, tn_access_cb cb, void *arg);

/* Drops the cached answers of one key or token ID of a tenant (key_id NULL or "": every
 * answer of the tenant), in this process. The Identity Server calls it as it revokes, so
 * that its own process forgets at once; other processes hear it from lw.is.revocations. */
void tn_access_forget(tn_access_t *a, const char *tenant_id, const char *key_id);

/* Holders of long-lived access (an event stream, a WebSocket) hear when answers may have
 * changed: cb(arg, tenant_id) runs after the checker dropped what it cached for a tenant (a
 * revocation on lw.is.revocations, tn_access_forget, a change of the tenant; tenant_id NULL:
 * every tenant, after the revocation consumer's partitions were reassigned). A check made
 * from cb asks the IS again. At most TN_ACCESS_MAX_WATCHERS; returns 0, or -1 when full. */
#define TN_ACCESS_MAX_WATCHERS 8
typedef void (*tn_access_watch_cb)(void *arg, const char *tenant_id);
int tn_access_watch(tn_access_t *a, tn_access_watch_cb cb, void *arg);

#endif
