/* Stripe webhook signatures (stripe-billing.md §1.8): the Stripe-Signature header
 * `t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=...]`, each v1 being
 * hex(HMAC-SHA256(endpoint secret as given, "<t>." + raw body)). Pure: the caller passes the
 * clock; nothing is logged. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "billing/billing_private.h"
#include "cluster/hex.h"

static int sig_invalid(lw_err_t *err, const char *reason)
{
    lw_err_set(err, &lw_err_invalid_signature, "invalid Stripe-Signature: %s", reason);
    lw_err_attr(err, "reason", reason);
    return -1;
}

static bool sig_space(char c)
{
    return c == ' ' || c == '\t';
}

/* The decimal in s[0..n): 1 to 12 digits only. */
static int sig_parse_time(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 12)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int billing_sig_parse(const char *header, size_t len, billing_sig_t *out, lw_err_t *err)
{
    memset(out, 0, sizeof *out);
    if (len > BILLING_SIG_HEADER_MAX)
        return sig_invalid(err, "header too long");
    bool have_t = false;
    size_t i = 0;
    while (i <= len) {
        /* One item: up to the next ',' (or the end), spaces and tabs around it dropped. */
        size_t start = i;
        while (i < len && header[i] != ',')
            i++;
        size_t end = i;
        i++; /* past the ',' (or the end) */
        while (start < end && sig_space(header[start]))
            start++;
        while (end > start && sig_space(header[end - 1]))
            end--;
        if (start == end)
            continue;
        const char *item = header + start;
        size_t n = end - start;
        const char *eq = memchr(item, '=', n);
        if (eq == NULL)
            return sig_invalid(err, "an item without `=`");
        size_t klen = (size_t)(eq - item);
        const char *val = eq + 1;
        size_t vlen = n - klen - 1;
        if (klen == 1 && item[0] == 't') {
            if (have_t)
                return sig_invalid(err, "more than one timestamp");
            if (sig_parse_time(val, vlen, &out->t) != 0)
                return sig_invalid(err, "the timestamp is not a number");
            have_t = true;
        } else if (klen == 2 && memcmp(item, "v1", 2) == 0) {
            /* A v1 that is not 64 hex digits can match nothing: skipped, as Stripe's
             * libraries do (other schemes, v0, are ignored). */
            char hex[2 * BILLING_SIG_LEN + 1];
            if (vlen != 2 * BILLING_SIG_LEN)
                continue;
            memcpy(hex, val, vlen);
            hex[vlen] = '\0';
            if (out->n_v1 == BILLING_SIG_MAX_V1)
                return sig_invalid(err, "too many v1 signatures");
            if (lw_hex_decode(hex, out->v1[out->n_v1], BILLING_SIG_LEN) != BILLING_SIG_LEN)
                continue;
            out->n_v1++;
        }
    }
    if (!have_t)
        return sig_invalid(err, "no timestamp");
    if (out->n_v1 == 0)
        return sig_invalid(err, "no v1 signature");
    return 0;
}

int billing_sig_compute(const char *secret, int64_t t, const void *payload, size_t len,
                        uint8_t mac[BILLING_SIG_LEN])
{
    char prefix[32];
    int plen = snprintf(prefix, sizeof prefix, "%lld.", (long long)t);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    int rc = -1;
    size_t mlen = 0;
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = hmac != NULL ? EVP_MAC_CTX_new(hmac) : NULL;
    if (ctx != NULL &&
        EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) == 1 &&
        EVP_MAC_update(ctx, (const unsigned char *)prefix, (size_t)plen) == 1 &&
        (len == 0 || EVP_MAC_update(ctx, payload, len) == 1) &&
        EVP_MAC_final(ctx, mac, &mlen, BILLING_SIG_LEN) == 1 && mlen == BILLING_SIG_LEN)
        rc = 0;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(hmac);
    return rc;
}

int billing_sig_verify(const char *header, size_t header_len, const void *payload, size_t len,
                       const char *secret, int64_t now_s, int64_t tolerance_s, lw_err_t *err)
{
    if (header == NULL)
        return lw_err_set(err, &lw_err_missing_signature, "missing Stripe-Signature header");
    billing_sig_t sig;
    if (billing_sig_parse(header, header_len, &sig, err) != 0)
        return -1;
    uint8_t want[BILLING_SIG_LEN];
    if (secret == NULL || billing_sig_compute(secret, sig.t, payload, len, want) != 0)
        return lw_err_set(err, &lw_err_signature_mismatch, "no signature matches the payload");
    /* Every v1 is compared, whether or not an earlier one matched: the time taken does not
     * tell which. */
    int match = 0;
    for (size_t i = 0; i < sig.n_v1; i++)
        match |= CRYPTO_memcmp(sig.v1[i], want, BILLING_SIG_LEN) == 0;
    OPENSSL_cleanse(want, sizeof want);
    if (!match)
        return lw_err_set(err, &lw_err_signature_mismatch, "no signature matches the payload");
    /* Either way: a timestamp too far in the future is refused too (stricter than
     * stripe-node, which only refuses old ones). */
    int64_t d = now_s - sig.t;
    if (d > tolerance_s || d < -tolerance_s) {
        lw_err_set(err, &lw_err_timestamp_out_of_tolerance,
                   "timestamp %lld is outside the tolerance zone (%lld s from now, tolerance "
                   "%lld s)",
                   (long long)sig.t, (long long)d, (long long)tolerance_s);
        lw_err_attr_num(err, "timestamp", sig.t);
        return -1;
    }
    return 0;
}

int billing_sig_header(const char *secret, int64_t t, const void *payload, size_t len, char *out,
                       size_t cap)
{
    uint8_t mac[BILLING_SIG_LEN];
    char hex[2 * BILLING_SIG_LEN + 1];
    if (billing_sig_compute(secret, t, payload, len, mac) != 0)
        return -1;
    lw_hex_encode(mac, sizeof mac, hex);
    int n = snprintf(out, cap, "t=%lld,v1=%s", (long long)t, hex);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}
