/* Fuzz target: the access checker's pure decoders (tenant/access_cache.c, revocation.c).
 * The first input byte selects: 0..5 an IS answer with the status 200, 400, 401, 403, 404 or
 * 429 and the rest as its body, then the decision on it; 6..255 the rest as an
 * lw.is.revocations message, re-encoded when it decodes. Whatever decodes must hold what
 * the contracts say: a 200 gives rights that are non-empty strings within bounds, anything
 * else an error with a name and no rights; a decoded revocation encodes and decodes again to
 * the same fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tenant/access_private.h"
#include "tenant/revocation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_answer(int status, const uint8_t *body, size_t len)
{
    tn_access_rights_buf_t r;
    lw_err_t err;
    lw_err_clear(&err);
    int rc = tn_access_decode_answer(status, body, len, &r, &err);
    if (rc != 0) {
        if (err.def == NULL || r.names != NULL || r.n != 0)
            abort();
        return;
    }
    if (status != 200 || r.n > TN_ACCESS_MAX_RIGHTS)
        abort();
    for (size_t i = 0; i < r.n; i++) {
        size_t l = strlen(r.names[i]);
        if (l == 0 || l > TN_ACCESS_RIGHT_MAX)
            abort();
    }
    tn_rights_t held = {.n = r.n, .names = r.names};
    const char *need[] = {"RIGHT_APPLICATION_INFO", r.n > 0 ? r.names[0] : "RIGHT_GATEWAY_LINK"};
    rc = tn_access_decide(&held, need, 2, "application", "app", "acme", &err);
    if (rc != 0 && err.def == NULL)
        abort();
    tn_access_rights_free(&r);
}

static void fuzz_revocation(const uint8_t *buf, size_t len)
{
    tn_revocation_t r, again;
    if (tn_revocation_decode(buf, len, &r) != 0)
        return;
    uint8_t out[TN_REVOCATION_MAX_BYTES];
    size_t n = tn_revocation_encode(&r, out, sizeof out);
    if (n == 0)
        return; /* long IDs: fields fit the struct but not the topic's bound */
    if (tn_revocation_decode(out, n, &again) != 0 || strcmp(r.tenant_id, again.tenant_id) != 0 ||
        strcmp(r.key_id, again.key_id) != 0 || strcmp(r.entity_type, again.entity_type) != 0 ||
        strcmp(r.entity_id, again.entity_id) != 0 || r.at_ms != again.at_ms ||
        r.origin_len != again.origin_len || memcmp(r.origin, again.origin, r.origin_len) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int statuses[] = {200, 400, 401, 403, 404, 429};
    if (size == 0)
        return 0;
    if (data[0] < 6)
        fuzz_answer(statuses[data[0]], data + 1, size - 1);
    else
        fuzz_revocation(data + 1, size - 1);
    return 0;
}
