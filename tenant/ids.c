/* Tenant IDs, states and limit names: pure helpers. */
#include <stdio.h>
#include <string.h>

#include "tenant/tenant.h"

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
