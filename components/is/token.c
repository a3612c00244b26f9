/* API keys and access tokens (The Things Stack's pkg/auth format), salted PBKDF2 hashes
 * with constant-time verification, and the password policy. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "is/is_private.h"

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

void is_base32_encode(const uint8_t *in, size_t len, char *out)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = b32_alphabet[(acc >> (bits - 5)) & 31u];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = b32_alphabet[(acc << (5 - bits)) & 31u];
    out[o] = '\0';
}

int is_token_generate(const char *type, is_token_t *out)
{
    uint8_t id[24], secret[32];
    if (RAND_bytes(id, sizeof id) != 1 || RAND_bytes(secret, sizeof secret) != 1)
        return -1;
    snprintf(out->type, sizeof out->type, "%s", type);
    is_base32_encode(id, sizeof id, out->id);
    is_base32_encode(secret, sizeof secret, out->secret);
    OPENSSL_cleanse(secret, sizeof secret);
    return 0;
}

void is_token_format(const is_token_t *t, char *buf, size_t len)
{
    snprintf(buf, len, "%s.%s.%s", t->type, t->id, t->secret);
}

static bool token_part_ok(const char *s, size_t n, size_t want)
{
    if (n != want)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strchr(b32_alphabet, s[i]) == NULL || s[i] == '\0')
            return false;
    return true;
}

int is_token_parse(const char *s, is_token_t *out)
{
    if (s == NULL)
        return -1;
    const char *d1 = strchr(s, '.');
    if (d1 == NULL)
        return -1;
    const char *d2 = strchr(d1 + 1, '.');
    if (d2 == NULL || strchr(d2 + 1, '.') != NULL)
        return -1;
    size_t tn = (size_t)(d1 - s);
    if (!((tn == 5 && strncmp(s, IS_TOKEN_API_KEY, 5) == 0) ||
          (tn == 5 && strncmp(s, IS_TOKEN_ACCESS, 5) == 0)))
        return -1;
    size_t idn = (size_t)(d2 - d1 - 1);
    size_t sn = strlen(d2 + 1);
    if (!token_part_ok(d1 + 1, idn, IS_TOKEN_ID_LEN) ||
        !token_part_ok(d2 + 1, sn, IS_TOKEN_SECRET_LEN))
        return -1;
    memcpy(out->type, s, tn);
    out->type[tn] = '\0';
    memcpy(out->id, d1 + 1, idn);
    out->id[idn] = '\0';
    memcpy(out->secret, d2 + 1, sn);
    out->secret[sn] = '\0';
    return 0;
}

#define HASH_SALT_LEN 16
#define HASH_KEY_LEN  32

int is_hash_secret(const char *secret, int iterations, char *out, size_t len)
{
    uint8_t salt[HASH_SALT_LEN], key[HASH_KEY_LEN];
    if (iterations < 1 || RAND_bytes(salt, sizeof salt) != 1)
        return -1;
    if (PKCS5_PBKDF2_HMAC(secret, (int)strlen(secret), salt, sizeof salt, iterations, EVP_sha256(),
                          sizeof key, key) != 1)
        return -1;
    char salt64[32], key64[64];
    EVP_EncodeBlock((unsigned char *)salt64, salt, sizeof salt);
    EVP_EncodeBlock((unsigned char *)key64, key, sizeof key);
    OPENSSL_cleanse(key, sizeof key);
    int n = snprintf(out, len, "PBKDF2$sha256$%d$%s$%s", iterations, salt64, key64);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

/* Decodes standard base64 into out (cap bytes); returns the length or -1. */
static int b64_decode(const char *in, uint8_t *out, size_t cap)
{
    size_t n = strlen(in);
    if (n == 0 || n % 4 != 0 || n / 4 * 3 > cap + 2)
        return -1;
    uint8_t tmp[128];
    if (n / 4 * 3 > sizeof tmp)
        return -1;
    int m = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)n);
    if (m < 0)
        return -1;
    if (n >= 1 && in[n - 1] == '=')
        m--;
    if (n >= 2 && in[n - 2] == '=')
        m--;
    if ((size_t)m > cap)
        return -1;
    memcpy(out, tmp, (size_t)m);
    return m;
}

int is_hash_verify(const char *secret, const char *stored)
{
    char buf[IS_HASH_MAX + 1];
    if (stored == NULL || strlen(stored) > IS_HASH_MAX)
        return -1;
    strcpy(buf, stored);
    char *parts[5];
    char *p = buf;
    for (int i = 0; i < 5; i++) {
        parts[i] = p;
        char *d = strchr(p, '$');
        if (i < 4) {
            if (d == NULL)
                return -1;
            *d = '\0';
            p = d + 1;
        } else if (d != NULL) {
            return -1;
        }
    }
    if (strcmp(parts[0], "PBKDF2") != 0 || strcmp(parts[1], "sha256") != 0)
        return -1;
    char *end;
    long iter = strtol(parts[2], &end, 10);
    if (*end != '\0' || iter < 1 || iter > 10000000)
        return -1;
    uint8_t salt[64], want[64], got[64];
    int sl = b64_decode(parts[3], salt, sizeof salt);
    int kl = b64_decode(parts[4], want, sizeof want);
    if (sl <= 0 || kl <= 0)
        return -1;
    if (PKCS5_PBKDF2_HMAC(secret, (int)strlen(secret), salt, sl, (int)iter, EVP_sha256(), kl,
                          got) != 1)
        return -1;
    int ok = CRYPTO_memcmp(got, want, (size_t)kl) == 0;
    OPENSSL_cleanse(got, sizeof got);
    return ok;
}

/* Passwords people pick first that still pass the length, uppercase and digit rules:
 * compared without case (so "PASSWORD1" is "password1"). */
static const char *const pw_common[] = {
    "password1",  "password12",  "password123", "password1234",   "passw0rd",   "p@ssw0rd",
    "p@ssword1",  "pa55word",    "pa55w0rd",    "welcome1",       "welcome123", "qwerty123",
    "qwerty1234", "qwerty12345", "1qaz2wsx",    "abc12345",       "abcd1234",   "letmein1",
    "letmein123", "admin123",    "admin1234",   "administrator1", "changeme1",  "changeme123",
    "iloveyou1",  "sunshine1",   "football1",   "baseball1",      "monkey123",  "dragon123",
    "master123",  "secret123",   "trustno1",    "test1234",       "testing123", "summer2024",
    "winter2024", "spring2025",  "autumn2025",  "lorawan1",       "lorawan123", "gateway1",
    "thethings1", "12345678a",   "a12345678",   "1234qwer",       "q1w2e3r4",   "zaq12wsx",
};

static bool pw_contains_nocase(const char *s, const char *sub)
{
    size_t n = strlen(sub);
    for (; *s != '\0'; s++)
        if (strncasecmp(s, sub, n) == 0)
            return true;
    return false;
}

/* One refused requirement: the TTS error with attributes field and n. */
static int pw_refuse(lw_err_t *err, const lw_err_def_t *def, const char *field, int n,
                     const char *what)
{
    lw_err_set(err, def, "invalid `%s`: %s", field, what);
    lw_err_attr(err, "field", field);
    lw_err_attr_num(err, "n", n);
    return -1;
}

int is_password_check(const is_pw_policy_t *p, const char *password, const char *user_id,
                      const char *field, lw_err_t *err)
{
    if (password == NULL || *password == '\0')
        return lw_api_invalid(err, field, "missing");
    char what[96];
    size_t len = strlen(password), blanks = 0;
    int digits = 0, special = 0, upper = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)password[i];
        if (isspace(c))
            blanks++;
        if (c >= 0x80 || islower(c))
            continue; /* letters (UTF-8 bytes of other scripts count as letters) */
        if (isupper(c))
            upper++;
        else if (isdigit(c))
            digits++;
        else
            special++;
    }
    /* Blanks only is no password, whatever the policy allows. */
    if ((long)len < p->min_length || blanks == len) {
        snprintf(what, sizeof what, "need at least `%d` characters", p->min_length);
        return pw_refuse(err, &lw_err_password_strength_min_length, field, p->min_length, what);
    }
    if (p->max_length > 0 && (long)len > p->max_length) {
        snprintf(what, sizeof what, "need at most `%d` characters", p->max_length);
        return pw_refuse(err, &lw_err_password_strength_max_length, field, p->max_length, what);
    }
    if (upper < p->min_uppercase) {
        snprintf(what, sizeof what, "need at least `%d` uppercase letter(s)", p->min_uppercase);
        return pw_refuse(err, &lw_err_password_strength_uppercase, field, p->min_uppercase, what);
    }
    if (digits < p->min_digits) {
        snprintf(what, sizeof what, "need at least `%d` digit(s)", p->min_digits);
        return pw_refuse(err, &lw_err_password_strength_digits, field, p->min_digits, what);
    }
    if (special < p->min_special) {
        snprintf(what, sizeof what, "need at least `%d` special character(s)", p->min_special);
        return pw_refuse(err, &lw_err_password_strength_special, field, p->min_special, what);
    }
    if (p->reject_user_id && user_id != NULL && *user_id != '\0' &&
        pw_contains_nocase(password, user_id)) {
        lw_err_set(err, &lw_err_password_contains_user_id, "invalid `%s`: must not contain user ID",
                   field);
        lw_err_attr(err, "field", field);
        return -1;
    }
    if (p->reject_common)
        for (size_t i = 0; i < sizeof pw_common / sizeof pw_common[0]; i++)
            if (strcasecmp(password, pw_common[i]) == 0) {
                lw_err_set(err, &lw_err_common_password, "invalid `%s`: must not be too common",
                           field);
                lw_err_attr(err, "field", field);
                return -1;
            }
    return 0;
}
