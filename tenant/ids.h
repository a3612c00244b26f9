/* Tenancy's pure part: tenant IDs, states and limits, the tenant snapshot, and the errors of
 * the tenant module. No I/O, no runtime: pure code (codecs, the Identity Server's entity
 * checks) includes this, not tenant/tenant.h. */
#ifndef TN_IDS_H
#define TN_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/err.h"

/* Errors of the tenant module (tenant/errors.def). */
#define LW_ERR_DEF(name, ns, http, grpc, fmt) LW_ERR_DECLARE(name);
#include "tenant/errors.def"
#undef LW_ERR_DEF

/* The Things Stack's tenant states (§15.3). Only approved and flagged tenants work. */
typedef enum tn_state {
    TN_STATE_REQUESTED = 0,
    TN_STATE_APPROVED = 1,
    TN_STATE_REJECTED = 2,
    TN_STATE_FLAGGED = 3,
    TN_STATE_SUSPENDED = 4,
} tn_state_t;

#define TN_ID_MAX 36
/* Schema names: "t_" + the ID with dashes mapped to underscores. */
#define TN_SCHEMA_MAX (TN_ID_MAX + 3)

/* Entity kinds with a per-tenant limit. */
typedef enum tn_limit_kind {
    TN_LIMIT_APPLICATIONS = 0,
    TN_LIMIT_CLIENTS,
    TN_LIMIT_END_DEVICES,
    TN_LIMIT_GATEWAYS,
    TN_LIMIT_ORGANIZATIONS,
    TN_LIMIT_USERS,
    TN_LIMIT_COUNT
} tn_limit_kind_t;

#define TN_UNLIMITED INT64_MAX

/* A snapshot of one tenant as the registry knows it. */
typedef struct tn_tenant {
    char id[TN_ID_MAX + 1];
    char schema[TN_SCHEMA_MAX + 1];
    tn_state_t state;
    int64_t limits[TN_LIMIT_COUNT]; /* TN_UNLIMITED when unset */
    bool deleted;
    /* Which creation of the ID this is (lw_control.tenants.incarnation, never reused): an ID
     * purged and created again is a new incarnation with the same schema name, so what is
     * bound to a tenant (cached credentials) records this and compares it. 0: not known
     * (a change published by a process that predates the field). */
    uint64_t incarnation;
} tn_tenant_t;

/* ---- pure helpers ---------------------------------------------------------------------- */

/* Validates an ID as The Things Stack does (DESIGN.md §5): lowercase letters, digits and
 * single dashes, min_len..36 characters (3 for most entities, 2 for users), starting and
 * ending with a letter or digit. On failure sets invalid_field naming `field` (e.g.
 * "tenant.ids.tenant_id") with the reason. */
int tn_id_validate(const char *id, size_t min_len, const char *field, lw_err_t *err);

/* "acme-corp" → "t_acme_corp". The ID must be valid. */
void tn_schema_name(const char *id, char out[TN_SCHEMA_MAX + 1]);

const char *tn_state_name(tn_state_t s); /* "STATE_APPROVED" */
int tn_state_parse(const char *s, tn_state_t *out);
bool tn_state_active(tn_state_t s);
const char *tn_limit_field(tn_limit_kind_t k); /* "max_applications" */

/* The tenant ID of a request (tn_resolve's pure part): the label right before the longest
 * of `base_domains` that `host` is under (case-insensitive, lowercased); else, unless the
 * host is a bare base domain, `header_tenant_id` (X-Tenant-ID); else `default_id`. host,
 * header_tenant_id and default_id may be NULL. Writes the ID into out; returns 0, or -1 with
 * missing_tenant_id (nothing names a tenant) or tenant_not_found (not a valid ID). */
int tn_resolve_id(const char *const *base_domains, size_t n_base_domains, const char *default_id,
                  const char *host, const char *header_tenant_id, char out[TN_ID_MAX + 1],
                  lw_err_t *err);

#endif
