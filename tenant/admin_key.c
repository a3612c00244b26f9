/* Tenant admin keys: `Authorization: TenantAdminKey <hex>` checked in constant time against
 * every key of tenancy.admin-keys. */
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "cluster/hex.h"
#include "tenant/tenant_private.h"

bool tn_admin_key_valid(const tn_t *tn, const char *authorization)
{
    static const char scheme[] = "TenantAdminKey ";
    if (authorization == NULL || strncasecmp(authorization, scheme, sizeof scheme - 1) != 0)
        return false;
    const char *hex = authorization + sizeof scheme - 1;
    while (*hex == ' ')
        hex++;
    const tn_settings_t *s = &tn->settings;
    uint8_t given[TN_ADMIN_KEY_MAX];
    int n = lw_hex_decode(hex, given, sizeof given);
    bool ok = false;
    /* Every configured key is compared, in constant time, whatever matched before: the time
     * taken depends on the number of keys only, not on which bytes are right. */
    for (size_t i = 0; i < s->n_admin_keys; i++) {
        uint8_t a[TN_ADMIN_KEY_MAX] = {0};
        if (n > 0)
            memcpy(a, given, (size_t)n);
        int same = CRYPTO_memcmp(a, s->admin_keys[i], TN_ADMIN_KEY_MAX) == 0 &&
                   (size_t)n == s->admin_key_len[i];
        ok = ok || same;
        OPENSSL_cleanse(a, sizeof a);
    }
    OPENSSL_cleanse(given, sizeof given);
    return ok;
}

int tn_admin_auth_header(const tn_t *tn, const char *auth, lw_err_t *err)
{
    if (auth == NULL || *auth == '\0')
        return lw_err_set(err, &lw_err_unauthenticated,
                          "missing `Authorization: TenantAdminKey <key>` header");
    if (strncasecmp(auth, "TenantAdminKey ", 15) != 0)
        return lw_err_set(err, &lw_err_permission_denied,
                          "the tenant registry needs a tenant admin key");
    if (!tn_admin_key_valid(tn, auth))
        return lw_err_set(err, &lw_err_invalid_tenant_admin_key, "invalid tenant admin key");
    return 0;
}

int tn_admin_auth(const tn_t *tn, const lw_http_req_t *req, lw_err_t *err)
{
    return tn_admin_auth_header(tn, lw_http_header(req, "authorization"), err);
}
