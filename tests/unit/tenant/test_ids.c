/* tenant/ids.c: ID rules, schema names, states, request resolution (tn_resolve_id). Pure:
 * the test includes tenant/ids.h only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tenant/ids.h"

static void test_tn_id_validate__accepts_valid_ids(void **state)
{
    (void)state;
    lw_err_t err;
    const char *ok[] = {"abc", "a-b", "a1-b2-c3", "123", "abcdefghijabcdefghijabcdefghijabcdef"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_int_equal(tn_id_validate(ok[i], 3, "tenant_id", &err), 0);
    assert_int_equal(tn_id_validate("ab", 2, "user_id", &err), 0);
}

static void test_tn_id_validate__rejects_and_names_field(void **state)
{
    (void)state;
    const char *bad[] = {"ab",   "-ab", "ab-",
                         "a--b", "Abc", "a_b",
                         "a b",  "",    "abcdefghijabcdefghijabcdefghijabcdefg",
                         "äbc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lw_err_t err;
        lw_err_clear(&err);
        assert_int_equal(tn_id_validate(bad[i], 3, "tenant.ids.tenant_id", &err), -1);
        assert_string_equal(lw_err_name(&err), "invalid_field");
        assert_string_equal(err.attrs[0].key, "field");
        assert_string_equal(err.attrs[0].value, "tenant.ids.tenant_id");
    }
    lw_err_t err;
    assert_int_equal(tn_id_validate(NULL, 3, "x", &err), -1);
}

static void test_tn_id_validate__messages_say_why(void **state)
{
    (void)state;
    lw_err_t err;
    tn_id_validate("a--b", 3, "tenant_id", &err);
    assert_string_equal(err.message, "invalid `tenant_id`: must not contain consecutive dashes");
    tn_id_validate("ab", 3, "tenant_id", &err);
    assert_string_equal(err.message, "invalid `tenant_id`: must be 3 to 36 characters long, is 2");
    tn_id_validate("-ab", 3, "tenant_id", &err);
    assert_string_equal(err.message,
                        "invalid `tenant_id`: must start and end with a letter or digit");
}

static void test_tn_schema_name__maps_dashes(void **state)
{
    (void)state;
    char s[TN_SCHEMA_MAX + 1];
    tn_schema_name("acme-corp-1", s);
    assert_string_equal(s, "t_acme_corp_1");
    tn_schema_name("abcdefghijabcdefghijabcdefghijabcdef", s);
    assert_string_equal(s, "t_abcdefghijabcdefghijabcdefghijabcdef");
}

static void test_tn_state__names_round_trip(void **state)
{
    (void)state;
    for (int i = 0; i <= 4; i++) {
        tn_state_t s;
        assert_int_equal(tn_state_parse(tn_state_name((tn_state_t)i), &s), 0);
        assert_int_equal(s, i);
    }
    tn_state_t s;
    assert_int_equal(tn_state_parse("SUSPENDED", &s), 0);
    assert_int_equal(s, TN_STATE_SUSPENDED);
    assert_int_equal(tn_state_parse("STATE_GONE", &s), -1);
    assert_true(tn_state_active(TN_STATE_APPROVED));
    assert_true(tn_state_active(TN_STATE_FLAGGED));
    assert_false(tn_state_active(TN_STATE_REQUESTED));
    assert_false(tn_state_active(TN_STATE_REJECTED));
    assert_false(tn_state_active(TN_STATE_SUSPENDED));
}

static const char *const domains[] = {"lwstack.test", "eu1.cloud.lwstack.test"};

static void test_tn_resolve_id__host_under_base_domain(void **state)
{
    (void)state;
    char id[TN_ID_MAX + 1];
    lw_err_t err;
    assert_int_equal(tn_resolve_id(domains, 2, NULL, "acme.lwstack.test", NULL, id, &err), 0);
    assert_string_equal(id, "acme");
    /* The longest base domain wins. */
    assert_int_equal(
        tn_resolve_id(domains, 2, NULL, "globex.eu1.cloud.lwstack.test", "acme", id, &err), 0);
    assert_string_equal(id, "globex");
    /* The host wins over the header. */
    assert_int_equal(tn_resolve_id(domains, 2, "dflt", "acme.lwstack.test", "other", id, &err), 0);
    assert_string_equal(id, "acme");
    /* Host names are case-insensitive. */
    assert_int_equal(tn_resolve_id(domains, 2, NULL, "ACME.LWSTACK.TEST", NULL, id, &err), 0);
    assert_string_equal(id, "acme");
}

static void test_tn_resolve_id__header_then_default(void **state)
{
    (void)state;
    char id[TN_ID_MAX + 1];
    lw_err_t err;
    assert_int_equal(tn_resolve_id(domains, 2, "dflt", "localhost", "acme", id, &err), 0);
    assert_string_equal(id, "acme");
    assert_int_equal(tn_resolve_id(domains, 2, "dflt", "localhost", NULL, id, &err), 0);
    assert_string_equal(id, "dflt");
    /* A bare base domain is the default tenant, whatever the header says. */
    assert_int_equal(tn_resolve_id(domains, 2, "dflt", "lwstack.test", "acme", id, &err), 0);
    assert_string_equal(id, "dflt");
    /* A host that only ends like a base domain is not under it. */
    assert_int_equal(tn_resolve_id(domains, 2, "dflt", "evil-lwstack.test", NULL, id, &err), 0);
    assert_string_equal(id, "dflt");
}

static void test_tn_resolve_id__missing_and_invalid(void **state)
{
    (void)state;
    char id[TN_ID_MAX + 1];
    lw_err_t err;
    assert_int_equal(tn_resolve_id(domains, 2, NULL, "localhost", NULL, id, &err), -1);
    assert_string_equal(lw_err_name(&err), "missing_tenant_id");
    assert_int_equal(err.def->http_status, 400);
    assert_int_equal(tn_resolve_id(domains, 2, NULL, "localhost", "Not_An_Id", id, &err), -1);
    assert_string_equal(lw_err_name(&err), "tenant_not_found");
    assert_int_equal(tn_resolve_id(domains, 2, NULL, "localhost",
                                   "abcdefghijabcdefghijabcdefghijabcdefghij", id, &err),
                     -1);
    assert_string_equal(lw_err_name(&err), "tenant_not_found");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tn_id_validate__accepts_valid_ids),
        cmocka_unit_test(test_tn_id_validate__rejects_and_names_field),
        cmocka_unit_test(test_tn_id_validate__messages_say_why),
        cmocka_unit_test(test_tn_schema_name__maps_dashes),
        cmocka_unit_test(test_tn_state__names_round_trip),
        cmocka_unit_test(test_tn_resolve_id__host_under_base_domain),
        cmocka_unit_test(test_tn_resolve_id__header_then_default),
        cmocka_unit_test(test_tn_resolve_id__missing_and_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
