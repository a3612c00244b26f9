/* The tenant component's configuration: the tenancy.* table and its reading. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cluster/hex.h"
#include "tenant/tenant_private.h"

static int config_check_admin_key(const char *value, char *why, size_t why_len)
{
    uint8_t buf[TN_ADMIN_KEY_MAX];
    int n = lw_hex_decode(value, buf, sizeof buf);
    OPENSSL_cleanse(buf, sizeof buf);
    if (n != 16 && n != 24 && n != 32) {
        snprintf(why, why_len, "a tenant admin key is 16, 24 or 32 bytes in hex");
        return -1;
    }
    return 0;
}

static int config_check_id(const char *value, char *why, size_t why_len)
{
    lw_err_t err;
    if (tn_id_validate(value, 3, "tenancy.default-id", &err) != 0) {
        snprintf(why, why_len, "%s", err.message);
        return -1;
    }
    return 0;
}

static int config_check_domain(const char *value, char *why, size_t why_len)
{
    for (const char *p = value; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.') {
            snprintf(why, why_len, "not a host name");
            return -1;
        }
    }
    return 0;
}

static int config_check_uri(const char *value, char *why, size_t why_len)
{
    if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0) {
        snprintf(why, why_len, "an http:// or https:// URI");
        return -1;
    }
    return 0;
}

static const lw_cfg_opt_t config_opts[] = {
    {.key = "tenancy.admin-keys",
     .type = LW_CFG_LIST,
     .flags = LW_CFG_SECRET,
     .check = config_check_admin_key,
     .help = "Tenant admin keys (hex, 16/24/32 bytes) for `Authorization: TenantAdminKey`."},
    {.key = "tenancy.base-domains",
     .type = LW_CFG_LIST,
     .check = config_check_domain,
     .help = "Base domains: a request to <tenant>.<base domain> belongs to <tenant>."},
    {.key = "tenancy.default-id",
     .type = LW_CFG_STRING,
     .check = config_check_id,
     .help = "Tenant of requests that name none (no tenant host name, no X-Tenant-ID)."},
    {.key = "tenancy.refresh-interval",
     .type = LW_CFG_DURATION,
     .def = "30s",
     .min = 100,
     .max = 86400000,
     .help = "How often the registry is reloaded from PostgreSQL besides lw.tenant updates."},
    {.key = "tenancy.rate-limit.requests-per-tenant",
     .type = LW_CFG_STRING,
     .def = "100/1s burst 200",
     .check = lw_rate_check,
     .help = "API requests per tenant on tenant-scoped routes, as \"N/PERIOD[ burst B]\" "
             "(N per PERIOD on average, B at once; e.g. \"100/1s burst 200\"); over it: 429 "
             "rate_limit_exceeded with Retry-After. 0: no limit."},
    {.key = "tenancy.identity-server-uri",
     .type = LW_CFG_STRING,
     .check = config_check_uri,
     .help = "Base URI of the Identity Server the access checks of the other servers ask "
             "(GET /api/v3/<entities>/{id}/rights). Unset: this node's own HTTP listener on "
             "127.0.0.1."},
    {.key = "tenancy.identity-server-ca",
     .type = LW_CFG_STRING,
     .help = "PEM file of the CAs that sign an https:// tenancy.identity-server-uri's "
             "certificate, instead of the system's."},
    {.key = "tenancy.identity-server-timeout",
     .type = LW_CFG_DURATION,
     .def = "5s",
     .min = 10,
     .max = 600000,
     .help = "How long an access check waits for the Identity Server."},
    {.key = "tenancy.access-cache-ttl",
     .type = LW_CFG_DURATION,
     .def = "10s",
     .min = 0,
     .max = 3600000,
     .help = "How long an Identity Server answer on a caller's rights is reused (0: never). "
             "Revoked keys and tenant changes drop answers at once."},
    {.key = "tenancy.access-cache-size",
     .type = LW_CFG_INT,
     .def = "4096",
     .min = 0,
     .max = 10000000,
     .help = "Most answers the access cache holds (the oldest go first; 0: no cache)."},
};

int tn_config_register(lw_config_t *cfg)
{
    if (lw_config_register(cfg, "tenant", config_opts,
                           sizeof config_opts / sizeof config_opts[0]) != 0)
        return -1;
    return tn_usage_config_register(cfg);
}

void tn_config_read(tn_settings_t *out, const lw_config_t *cfg)
{
    memset(out, 0, sizeof *out);
    size_t n;
    const char *const *keys = lw_config_list(cfg, "tenancy.admin-keys", &n);
    for (size_t i = 0; i < n && out->n_admin_keys < TN_MAX_ADMIN_KEYS; i++) {
        /* The table's check has accepted every key; a key that still does not decode is
         * left out rather than leaving a hole. */
        int len = lw_hex_decode(keys[i], out->admin_keys[out->n_admin_keys], TN_ADMIN_KEY_MAX);
        if (len > 0)
            out->admin_key_len[out->n_admin_keys++] = (size_t)len;
    }
    const char *const *domains = lw_config_list(cfg, "tenancy.base-domains", &n);
    for (size_t i = 0; i < n && i < TN_MAX_BASE_DOMAINS; i++)
        out->base_domains[out->n_base_domains++] = domains[i];
    out->default_id = lw_config_str(cfg, "tenancy.default-id");
    out->refresh_ms = lw_config_duration_ms(cfg, "tenancy.refresh-interval");
    out->access_uri = lw_config_str(cfg, "tenancy.identity-server-uri");
    if (out->access_uri != NULL && out->access_uri[0] == '\0')
        out->access_uri = NULL;
    out->access_ca_file = lw_config_str(cfg, "tenancy.identity-server-ca");
    out->access_timeout_ms = lw_config_duration_ms(cfg, "tenancy.identity-server-timeout");
    out->access_ttl_ms = lw_config_duration_ms(cfg, "tenancy.access-cache-ttl");
    out->access_cache_size = (size_t)lw_config_int(cfg, "tenancy.access-cache-size");
    char why[128];
    /* The table's check (lw_rate_check) has accepted it. */
    if (lw_rate_parse(lw_config_str(cfg, "tenancy.rate-limit.requests-per-tenant"),
                      &out->requests_per_tenant, why, sizeof why) != 0)
        out->requests_per_tenant = (lw_rate_t){0};
}

void tn_settings_destroy(tn_settings_t *s)
{
    OPENSSL_cleanse(s->admin_keys, sizeof s->admin_keys);
    s->n_admin_keys = 0;
}
