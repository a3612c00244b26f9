/* tenant/config.c: the tenancy.* table (what it accepts and refuses, with the key named) and
 * its reading into tn_settings_t. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tenant/tenant_private.h"

#define KEY16 "000102030405060708090a0b0c0d0e0f"
#define KEY32 "303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f"

static int setup(void **state)
{
    lw_config_t *cfg = lw_config_new();
    if (cfg == NULL || tn_config_register(cfg) != 0)
        return -1;
    *state = cfg;
    return 0;
}

static int teardown(void **state)
{
    lw_config_free(*state);
    return 0;
}

static void test_tn_config_read__defaults(void **state)
{
    tn_settings_t s;
    tn_config_read(&s, *state);
    assert_int_equal(s.n_admin_keys, 0);
    assert_int_equal(s.n_base_domains, 0);
    assert_null(s.default_id);
    assert_int_equal(s.refresh_ms, 30000);
}

static void test_tn_config_read__every_key(void **state)
{
    lw_config_t *cfg = *state;
    lw_err_t err;
    assert_int_equal(lw_config_set(cfg, "tenancy.admin-keys", KEY16 "," KEY32, "flag", &err), 0);
    assert_int_equal(
        lw_config_set(cfg, "tenancy.base-domains", "lwstack.test,eu1.lwstack.test", "flag", &err),
        0);
    assert_int_equal(lw_config_set(cfg, "tenancy.default-id", "acme", "flag", &err), 0);
    assert_int_equal(lw_config_set(cfg, "tenancy.refresh-interval", "1500ms", "flag", &err), 0);
    tn_settings_t s;
    tn_config_read(&s, cfg);
    assert_int_equal(s.n_admin_keys, 2);
    assert_int_equal(s.admin_key_len[0], 16);
    assert_int_equal(s.admin_key_len[1], 32);
    assert_int_equal(s.admin_keys[0][15], 0x0f);
    assert_int_equal(s.admin_keys[1][0], 0x30);
    assert_int_equal(s.admin_keys[1][31], 0x4f);
    assert_int_equal(s.n_base_domains, 2);
    assert_string_equal(s.base_domains[0], "lwstack.test");
    assert_string_equal(s.base_domains[1], "eu1.lwstack.test");
    assert_string_equal(s.default_id, "acme");
    assert_int_equal(s.refresh_ms, 1500);
    /* What was read authenticates. */
    tn_t tn;
    memset(&tn, 0, sizeof tn);
    tn.settings = s;
    assert_true(tn_admin_key_valid(&tn, "TenantAdminKey " KEY32));
    tn_settings_destroy(&tn.settings);
    assert_int_equal(tn.settings.n_admin_keys, 0);
    assert_false(tn_admin_key_valid(&tn, "TenantAdminKey " KEY32));
    tn_settings_destroy(&s);
}

static void test_tn_config__admin_key_lengths(void **state)
{
    lw_config_t *cfg = *state;
    lw_err_t err;
    lw_err_clear(&err);
    /* 15 bytes, and a 16-byte key with a non-hex digit. */
    assert_int_equal(
        lw_config_set(cfg, "tenancy.admin-keys", "000102030405060708090a0b0c0d0e", "flag", &err),
        -1);
    assert_string_equal(lw_err_name(&err), "config_invalid");
    assert_non_null(strstr(err.message, "16, 24 or 32 bytes in hex"));
    assert_int_equal(
        lw_config_set(cfg, "tenancy.admin-keys", "x00102030405060708090a0b0c0d0e0f", "flag", &err),
        -1);
    assert_string_equal(lw_err_name(&err), "config_invalid");
    /* One bad key refuses the list. */
    assert_int_equal(lw_config_set(cfg, "tenancy.admin-keys", KEY16 ",00", "flag", &err), -1);
    assert_string_equal(lw_err_name(&err), "config_invalid");
    /* A secret's value is never echoed. */
    assert_null(strstr(err.message, KEY16));
}

static void test_tn_config__default_id_and_domains_checked(void **state)
{
    lw_config_t *cfg = *state;
    lw_err_t err;
    lw_err_clear(&err);
    assert_int_equal(lw_config_set(cfg, "tenancy.default-id", "Not_An_Id", "flag", &err), -1);
    assert_string_equal(lw_err_name(&err), "config_invalid");
    assert_non_null(strstr(err.message, "tenancy.default-id"));
    assert_int_equal(
        lw_config_set(cfg, "tenancy.base-domains", "lwstack.test,evil/x", "flag", &err), -1);
    assert_string_equal(lw_err_name(&err), "config_invalid");
    assert_non_null(strstr(err.message, "not a host name"));
    assert_int_equal(lw_config_set(cfg, "tenancy.refresh-interval", "50ms", "flag", &err), -1);
    assert_string_equal(lw_err_name(&err), "config_invalid");
}

static void test_tn_config_read__keys_beyond_the_maximum_ignored(void **state)
{
    lw_config_t *cfg = *state;
    char list[(TN_MAX_ADMIN_KEYS + 2) * 33];
    size_t pos = 0;
    for (int i = 0; i < TN_MAX_ADMIN_KEYS + 2; i++)
        pos += (size_t)snprintf(list + pos, sizeof list - pos, "%s%030x%02x", i ? "," : "", 0, i);
    lw_err_t err;
    assert_int_equal(lw_config_set(cfg, "tenancy.admin-keys", list, "flag", &err), 0);
    tn_settings_t s;
    tn_config_read(&s, cfg);
    assert_int_equal(s.n_admin_keys, TN_MAX_ADMIN_KEYS);
    assert_int_equal(s.admin_keys[TN_MAX_ADMIN_KEYS - 1][15], TN_MAX_ADMIN_KEYS - 1);
    tn_settings_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tn_config_read__defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tn_config_read__every_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tn_config__admin_key_lengths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tn_config__default_id_and_domains_checked, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tn_config_read__keys_beyond_the_maximum_ignored, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
