/* Tenant IDs, states and limit names, and the resolution of a request's host name and
 * header to a tenant ID: pure helpers (no I/O, no state). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tenant/ids.h"

#define LW_ERR_DEF(name, ns, http, grpc, fmt) LW_ERR_DEFINE(name, ns, http, grpc, fmt);
#include "tenant/errors.def"
#undef LW_ERR_DEF

static int ids_invalid(lw_err_t *err, const char *field, const char *id, const char *why)
{
    lw_err_set(err, &lw_err_invalid_field, "invalid `%s`: %s", field, why);
    lw_err_attr(err, "field", field);
    /* The value is echoed only when short enough to be an ID; never a secret here. */
    if (strlen(id) <= 64)
        lw_err_attr(err, "value", id);
    return -1;
}

int tn_id_validate(const char *id, size_t min_len, const char *field, lw_err_t *err)
{
    if (id == NULL)
        return ids_invalid(err, field, "", "missing");
    size_t len = strlen(id);
    char why[96];
    if (len < min_len || len > TN_ID_MAX) {
        snprintf(why, sizeof why, "must be %zu to %d characters long, is %zu", min_len, TN_ID_MAX,
                 len);
        return ids_invalid(err, field, id, why);
    }
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (alnum)
            continue;
        if (c != '-')
            return ids_invalid(err, field, id,
                               "may contain only lowercase letters, digits and dashes");
        if (i == 0 || i == len - 1)
            return ids_invalid(err, field, id, "must start and end with a letter or digit");
        if (id[i + 1] == '-')
            return ids_invalid(err, field, id, "must not contain consecutive dashes");
    }
    return 0;
}

void tn_schema_name(const char *id, char out[TN_SCHEMA_MAX + 1])
{
    size_t pos = 0;
    out[pos++] = 't';
    out[pos++] = '_';
    for (const char *p = id; *p && pos < TN_SCHEMA_MAX; p++)
        out[pos++] = *p == '-' ? '_' : *p;
    out[pos] = '\0';
}

static const char *const ids_state_names[] = {
    "STATE_REQUESTED", "STATE_APPROVED", "STATE_REJECTED", "STATE_FLAGGED", "STATE_SUSPENDED",
};

const char *tn_state_name(tn_state_t s)
{
    return (unsigned)s < 5 ? ids_state_names[s] : "STATE_REQUESTED";
}

int tn_state_parse(const char *s, tn_state_t *out)
{
    for (int i = 0; i < 5; i++) {
        if (strcmp(s, ids_state_names[i]) == 0 || strcmp(s, ids_state_names[i] + 6) == 0) {
            *out = (tn_state_t)i;
            return 0;
        }
    }
    return -1;
}

bool tn_state_active(tn_state_t s)
{
    return s == TN_STATE_APPROVED || s == TN_STATE_FLAGGED;
}

static const char *const ids_limit_fields[TN_LIMIT_COUNT] = {
    "max_applications", "max_clients",       "max_end_devices",
    "max_gateways",     "max_organizations", "max_users",
};

const char *tn_limit_field(tn_limit_kind_t k)
{
    return (unsigned)k < TN_LIMIT_COUNT ? ids_limit_fields[k] : "";
}

int tn_resolve_id(const char *const *base_domains, size_t n_base_domains, const char *default_id,
                  const char *host, const char *header_tenant_id, char out[TN_ID_MAX + 1],
                  lw_err_t *err)
{
    const char *found = NULL;
    size_t found_len = 0, best = 0;
    bool bare = false;
    size_t hlen = host != NULL ? strlen(host) : 0;
    /* The longest base domain that the host ends in wins. */
    for (size_t i = 0; i < n_base_domains; i++) {
        size_t dlen = strlen(base_domains[i]);
        if (dlen <= best || hlen < dlen || strcasecmp(host + hlen - dlen, base_domains[i]) != 0)
            continue;
        if (hlen == dlen) {
            bare = true;
            best = dlen;
            found = NULL;
            continue;
        }
        if (host[hlen - dlen - 1] != '.')
            continue;
        /* <tenant>.<base domain>: the label right before the base domain. */
        const char *end = host + hlen - dlen - 1;
        const char *start = end;
        while (start > host && start[-1] != '.')
            start--;
        best = dlen;
        bare = false;
        found = start;
        found_len = (size_t)(end - start);
    }
    if (found != NULL) {
        if (found_len == 0 || found_len > TN_ID_MAX) {
            lw_err_set(err, &lw_err_tenant_not_found, "tenant `%.*s` not found",
                       (int)(found_len > 64 ? 64 : found_len), found);
            return -1;
        }
        memcpy(out, found, found_len);
        out[found_len] = '\0';
        for (char *p = out; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    } else if (!bare && header_tenant_id != NULL && *header_tenant_id != '\0') {
        if (strlen(header_tenant_id) > TN_ID_MAX) {
            lw_err_set(err, &lw_err_tenant_not_found, "tenant `%.36s...` not found",
                       header_tenant_id);
            return -1;
        }
        snprintf(out, TN_ID_MAX + 1, "%s", header_tenant_id);
    } else if (default_id != NULL && *default_id != '\0') {
        snprintf(out, TN_ID_MAX + 1, "%s", default_id);
    } else {
        return lw_err_set(err, &lw_err_missing_tenant_id,
                          "missing tenant ID: use a tenant host name, the X-Tenant-ID header, "
                          "or configure tenancy.default-id");
    }
    lw_err_t id_err;
    if (tn_id_validate(out, 3, "tenant_id", &id_err) != 0) {
        lw_err_set(err, &lw_err_tenant_not_found, "tenant `%s` not found", out);
        lw_err_attr(err, "tenant_id", out);
        return -1;
    }
    return 0;
}
