/* API key / token format, PBKDF2 hashes, password policy (components/is/token.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "is/is_private.h"

static void test_is_base32_encode__rfc4648_vectors(void **state)
{
    (void)state;
    char out[64];
    /* RFC 4648 §10, without padding. */
    is_base32_encode((const uint8_t *)"f", 1, out);
    assert_string_equal(out, "MY");
    is_base32_encode((const uint8_t *)"foobar", 6, out);
    assert_string_equal(out, "MZXW6YTBOI");
    /* The token type tags of pkg/auth: base32("key"), base32("acc"). */
    is_base32_encode((const uint8_t *)"key", 3, out);
    assert_string_equal(out, IS_TOKEN_API_KEY);
    is_base32_encode((const uint8_t *)"acc", 3, out);
    assert_string_equal(out, IS_TOKEN_ACCESS);
}

static void test_is_token_generate__format_and_parse(void **state)
{
    (void)state;
    is_token_t t, p;
    char buf[IS_TOKEN_MAX + 1];
    assert_int_equal(is_token_generate(IS_TOKEN_API_KEY, &t), 0);
    assert_int_equal(strlen(t.id), 39);
    assert_int_equal(strlen(t.secret), 52);
    is_token_format(&t, buf, sizeof buf);
    assert_int_equal(strlen(buf), 5 + 1 + 39 + 1 + 52);
    assert_int_equal(is_token_parse(buf, &p), 0);
    assert_string_equal(p.type, "NNSXS");
    assert_string_equal(p.id, t.id);
    assert_string_equal(p.secret, t.secret);
    is_token_t u;
    assert_int_equal(is_token_generate(IS_TOKEN_API_KEY, &u), 0);
    assert_string_not_equal(u.id, t.id);
}

static void test_is_token_parse__rejects_malformed(void **state)
{
    (void)state;
    is_token_t t, p;
    char buf[IS_TOKEN_MAX + 1], bad[IS_TOKEN_MAX + 8];
    is_token_generate(IS_TOKEN_ACCESS, &t);
    is_token_format(&t, buf, sizeof buf);
    assert_int_equal(is_token_parse(buf, &p), 0);
    assert_int_equal(is_token_parse("", &p), -1);
    assert_int_equal(is_token_parse("NNSXS.ABC.DEF", &p), -1);
    snprintf(bad, sizeof bad, "XXXXX.%s.%s", t.id, t.secret);
    assert_int_equal(is_token_parse(bad, &p), -1);
    snprintf(bad, sizeof bad, "NNSXS.%s.%s.", t.id, t.secret);
    assert_int_equal(is_token_parse(bad, &p), -1);
    snprintf(bad, sizeof bad, "NNSXS.%s.%sA", t.id, t.secret);
    assert_int_equal(is_token_parse(bad, &p), -1);
    snprintf(bad, sizeof bad, "NNSXS.%s.%s", t.id, t.secret);
    bad[10] = 'a'; /* lowercase: not base32 */
    assert_int_equal(is_token_parse(bad, &p), -1);
    assert_int_equal(is_token_parse(NULL, &p), -1);
}

static void test_is_hash__verify_and_tamper(void **state)
{
    (void)state;
    char h[IS_HASH_MAX + 1], h2[IS_HASH_MAX + 1];
    assert_int_equal(is_hash_secret("NNSXS.A.B", 1000, h, sizeof h), 0);
    assert_memory_equal(h, "PBKDF2$sha256$1000$", 19);
    assert_null(strstr(h, "NNSXS"));
    assert_int_equal(is_hash_verify("NNSXS.A.B", h), 1);
    assert_int_equal(is_hash_verify("NNSXS.A.C", h), 0);
    assert_int_equal(is_hash_verify("", h), 0);
    /* Salted: the same secret hashes differently. */
    assert_int_equal(is_hash_secret("NNSXS.A.B", 1000, h2, sizeof h2), 0);
    assert_string_not_equal(h, h2);
    assert_int_equal(is_hash_verify("x", "PBKDF2$sha256$1000$AAAA"), -1);
    assert_int_equal(is_hash_verify("x", "BCRYPT$x$1$AAAA$AAAA"), -1);
    assert_int_equal(is_hash_verify("x", "PBKDF2$sha256$0$AAAA$AAAA"), -1);
    assert_int_equal(is_hash_verify("x", NULL), -1);
    assert_int_equal(is_hash_secret("x", 1000, h, 20), -1);
}

static void test_is_password_check__policy(void **state)
{
    (void)state;
    is_pw_policy_t p = {.min_length = 8,
                        .max_length = 20,
                        .min_digits = 1,
                        .min_special = 1,
                        .min_uppercase = 1,
                        .reject_user_id = true};
    lw_err_t err;
    assert_int_equal(is_password_check(&p, "Secret-pass1", "bob", "user.password", &err), 0);
    assert_int_equal(is_password_check(&p, "Sh-1", "bob", "user.password", &err), -1);
    assert_string_equal(lw_err_name(&err), "password_strength_min_length");
    assert_string_equal(err.attrs[0].value, "user.password");
    assert_null(strstr(err.message, "Sh-1")); /* never echoes the password */
    assert_int_equal(is_password_check(&p, "Secret-passX", "bob", "f", &err), -1);
    assert_int_equal(is_password_check(&p, "Secretpass12", "bob", "f", &err), -1);
    assert_int_equal(is_password_check(&p, "secret-pass1", "bob", "f", &err), -1);
    assert_int_equal(is_password_check(&p, "Secret-bob-1", "bob", "f", &err), -1);
    assert_int_equal(is_password_check(&p, "Secret-pass1-way-too-long", "bob", "f", &err), -1);
    assert_int_equal(is_password_check(&p, NULL, "bob", "f", &err), -1);
    assert_int_equal(is_password_check(&p, "", "bob", "f", &err), -1);
}

/* The Things Stack's defaults: the weak passwords of issue 8, each with its error name. */
static void test_is_password_check__tts_defaults(void **state)
{
    (void)state;
    is_pw_policy_t p = {.min_length = 8,
                        .max_length = 1000,
                        .min_uppercase = 1,
                        .min_digits = 1,
                        .reject_user_id = true,
                        .reject_common = true};
    lw_err_t err;
    const struct {
        const char *pw, *name;
    } cases[] = {
        {"password", "password_strength_uppercase"},
        {"12345678", "password_strength_uppercase"},
        {"aaaaaaaa", "password_strength_uppercase"},
        {"        ", "password_strength_min_length"},
        {"Sh0rt", "password_strength_min_length"},
        {"NoDigitsHere", "password_strength_digits"},
        {"Password1", "common_password"},
        {"PASSW0RD", "common_password"},
        {"My-Bob-Pass1", "password_contains_user_id"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(is_password_check(&p, cases[i].pw, "bob", "new", &err), -1);
        assert_string_equal(lw_err_name(&err), cases[i].name);
        assert_string_equal(err.attrs[0].value, "new");
        assert_null(strstr(err.message, cases[i].pw));
    }
    assert_int_equal(is_password_check(&p, "Lw-Test-Passw0rd!", "bob", "f", &err), 0);
    assert_int_equal(is_password_check(&p, "       1A", "bob", "f", &err), 0); /* TTS accepts */
    /* Blanks only never pass, even with every rule off. */
    is_pw_policy_t off = {.min_length = 1};
    assert_int_equal(is_password_check(&off, "        ", "bob", "f", &err), -1);
    assert_string_equal(lw_err_name(&err), "password_strength_min_length");
    assert_int_equal(is_password_check(&off, "aaaaaaaa", "bob", "f", &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_base32_encode__rfc4648_vectors),
        cmocka_unit_test(test_is_token_generate__format_and_parse),
        cmocka_unit_test(test_is_token_parse__rejects_malformed),
        cmocka_unit_test(test_is_hash__verify_and_tamper),
        cmocka_unit_test(test_is_password_check__policy),
        cmocka_unit_test(test_is_password_check__tts_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
