/* tenant/admin_key.c: `Authorization: TenantAdminKey <hex>` checked
 * against every configured key (right key, wrong key, wrong length, several keys). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/hex.h"
#include "tenant/tenant_private.h"

#define KEY16 "000102030405060708090a0b0c0d0e0f"
#define KEY24 "101112131415161718191a1b1c1d1e1f2021222324252627"
#define KEY32 "303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f"

/* A component state holding `keys` as tenancy.admin-keys would. */
static void with_keys(tn_t *tn, const char *const *keys, size_t n)
{
    memset(tn, 0, sizeof *tn);
    for (size_t i = 0; i < n; i++) {
        int len = lw_hex_decode(keys[i], tn->settings.admin_keys[i], TN_ADMIN_KEY_MAX);
        assert_true(len > 0);
        tn->settings.admin_key_len[i] = (size_t)len;
    }
    tn->settings.n_admin_keys = n;
}

/* Keys are hex, decoded by cluster/hex.c: the lengths tenancy relies on. */
static void test_admin_key_hex__lengths(void **state)
{
    (void)state;
    uint8_t buf[32];
    assert_int_equal(lw_hex_decode("00ff10", buf, sizeof buf), 3);
    assert_int_equal(buf[1], 0xff);
    assert_int_equal(lw_hex_decode("0", buf, sizeof buf), -1);
    assert_int_equal(lw_hex_decode("zz", buf, sizeof buf), -1);
    assert_int_equal(lw_hex_decode("00", buf, 0), -1);
}

static void test_admin_key_hex__either_case(void **state)
{
    (void)state;
    uint8_t buf[2];
    assert_int_equal(lw_hex_decode("AbCd", buf, sizeof buf), 2);
    assert_int_equal(buf[0], 0xab);
    assert_int_equal(buf[1], 0xcd);
    assert_int_equal(lw_hex_decode("", buf, sizeof buf), 0);
}

static void test_tn_admin_key_valid__right_key(void **state)
{
    (void)state;
    tn_t tn;
    const char *keys[] = {KEY16};
    with_keys(&tn, keys, 1);
    assert_true(tn_admin_key_valid(&tn, "TenantAdminKey " KEY16));
    /* The scheme is case-insensitive, as HTTP's are; the hex too. */
    assert_true(tn_admin_key_valid(&tn, "tenantadminkey " KEY16));
    assert_true(tn_admin_key_valid(&tn, "TenantAdminKey 000102030405060708090A0B0C0D0E0F"));
    assert_true(tn_admin_key_valid(&tn, "TenantAdminKey   " KEY16));
}

static void test_tn_admin_key_valid__wrong_key(void **state)
{
    (void)state;
    tn_t tn;
    const char *keys[] = {KEY16};
    with_keys(&tn, keys, 1);
    /* One bit off in the last byte. */
    assert_false(tn_admin_key_valid(&tn, "TenantAdminKey 000102030405060708090a0b0c0d0e0e"));
    assert_false(tn_admin_key_valid(&tn, "TenantAdminKey zz0102030405060708090a0b0c0d0e0f"));
    assert_false(tn_admin_key_valid(&tn, "Bearer " KEY16));
    assert_false(tn_admin_key_valid(&tn, KEY16));
    assert_false(tn_admin_key_valid(&tn, NULL));
}

static void test_tn_admin_key_valid__wrong_length(void **state)
{
    (void)state;
    tn_t tn;
    const char *keys[] = {KEY16};
    with_keys(&tn, keys, 1);
    /* A prefix of the key, the key and one more byte, nothing, an odd digit count. */
    assert_false(tn_admin_key_valid(&tn, "TenantAdminKey 000102030405060708090a0b0c0d0e"));
    assert_false(tn_admin_key_valid(&tn, "TenantAdminKey " KEY16 "00"));
    assert_false(tn_admin_key_valid(&tn, "TenantAdminKey "));
    assert_false(tn_admin_key_valid(&tn, "TenantAdminKey " KEY16 "0"));
    /* Longer than any key can be. */
    assert_false(tn_admin_key_valid(&tn, "TenantAdminKey " KEY32 "00"));
}

static void test_tn_admin_key_valid__zero_padding_is_not_the_key(void **state)
{
    (void)state;
    /* Keys are compared zero-padded to 32 bytes: the length must match too, so a 16-byte
     * key followed by zeros is a different key. */
    tn_t tn;
    const char *keys[] = {KEY16};
    with_keys(&tn, keys, 1);
    assert_false(tn_admin_key_valid(&tn, "TenantAdminKey " KEY16 "0000000000000000"));
}

static void test_tn_admin_key_valid__multiple_keys(void **state)
{
    (void)state;
    tn_t tn;
    const char *keys[] = {KEY16, KEY24, KEY32};
    with_keys(&tn, keys, 3);
    assert_true(tn_admin_key_valid(&tn, "TenantAdminKey " KEY16));
    assert_true(tn_admin_key_valid(&tn, "TenantAdminKey " KEY24));
    assert_true(tn_admin_key_valid(&tn, "TenantAdminKey " KEY32));
    assert_false(tn_admin_key_valid(&tn, "TenantAdminKey " KEY16 KEY16));
}

static void test_tn_admin_key_valid__no_keys_configured(void **state)
{
    (void)state;
    tn_t tn;
    with_keys(&tn, NULL, 0);
    assert_false(tn_admin_key_valid(&tn, "TenantAdminKey " KEY16));
    assert_false(tn_admin_key_valid(&tn, "TenantAdminKey "));
}

static void test_tn_admin_auth_header__error_names(void **state)
{
    (void)state;
    tn_t tn;
    const char *keys[] = {KEY16};
    with_keys(&tn, keys, 1);
    lw_err_t err;
    lw_err_clear(&err);
    assert_int_equal(tn_admin_auth_header(&tn, "TenantAdminKey " KEY16, &err), 0);
    assert_int_equal(tn_admin_auth_header(&tn, NULL, &err), -1);
    assert_string_equal(lw_err_name(&err), "unauthenticated");
    assert_int_equal(tn_admin_auth_header(&tn, "", &err), -1);
    assert_string_equal(lw_err_name(&err), "unauthenticated");
    assert_int_equal(tn_admin_auth_header(&tn, "Bearer NNSXS.x.y", &err), -1);
    assert_string_equal(lw_err_name(&err), "permission_denied");
    assert_int_equal(tn_admin_auth_header(&tn, "TenantAdminKey " KEY24, &err), -1);
    assert_string_equal(lw_err_name(&err), "invalid_tenant_admin_key");
    assert_string_equal(err.message, "invalid tenant admin key");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admin_key_hex__lengths),
        cmocka_unit_test(test_admin_key_hex__either_case),
        cmocka_unit_test(test_tn_admin_key_valid__right_key),
        cmocka_unit_test(test_tn_admin_key_valid__wrong_key),
        cmocka_unit_test(test_tn_admin_key_valid__wrong_length),
        cmocka_unit_test(test_tn_admin_key_valid__zero_padding_is_not_the_key),
        cmocka_unit_test(test_tn_admin_key_valid__multiple_keys),
        cmocka_unit_test(test_tn_admin_key_valid__no_keys_configured),
        cmocka_unit_test(test_tn_admin_auth_header__error_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
