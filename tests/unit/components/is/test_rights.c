/* Rights: names, pseudo-rights, implications, intersections, and managing holders of
 * rights (components/is/rights.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "is/is_private.h"

static void test_is_right_parse__names_and_values(void **state)
{
    (void)state;
    assert_int_equal(is_right_parse("RIGHT_APPLICATION_INFO"), 15);
    assert_int_equal(is_right_parse("RIGHT_APPLICATION_SETTINGS_PACKAGES"), 56);
    assert_int_equal(is_right_parse("RIGHT_ALL"), 55);
    assert_int_equal(is_right_parse("RIGHT_CLIENT_DELETE"), 63);
    assert_int_equal(is_right_parse("RIGHT_NOPE"), -1);
    assert_int_equal(is_right_parse("right_application_info"), -1);
    assert_string_equal(is_right_name(20), "RIGHT_APPLICATION_DEVICES_READ");
    assert_null(is_right_name(0));
    assert_null(is_right_name(64));
}

static void test_is_rights_expand__application_all(void **state)
{
    (void)state;
    is_rights_t r = is_rights_expand(IS_BIT(IS_R_APPLICATION_ALL));
    assert_true(r & IS_BIT(IS_R_APPLICATION_DEVICES_WRITE));
    assert_true(r & IS_BIT(56)); /* SETTINGS_PACKAGES, a late value */
    assert_true(r & IS_BIT(IS_R_APPLICATION_ALL));
    assert_false(r & IS_BIT(IS_R_GATEWAY_INFO));
    assert_false(r & IS_BIT(IS_R_ALL));
}

static void test_is_rights_expand__all_is_everything(void **state)
{
    (void)state;
    is_rights_t r = is_rights_expand(IS_BIT(IS_R_ALL));
    for (int v = 1; v < 64; v++)
        if (is_right_name(v) != NULL)
            assert_true(r & IS_BIT(v));
    assert_false(r & 1u);
}

static void test_is_rights_expand__link_implies_info_and_traffic(void **state)
{
    (void)state;
    is_rights_t r = is_rights_expand(IS_BIT(IS_R_APPLICATION_LINK));
    assert_true(r & IS_BIT(IS_R_APPLICATION_INFO));
    assert_true(r & IS_BIT(IS_R_APPLICATION_TRAFFIC_READ));
    assert_true(r & IS_BIT(IS_R_APPLICATION_TRAFFIC_DOWN_WRITE));
    assert_false(r & IS_BIT(IS_R_APPLICATION_DEVICES_READ));
    assert_true(is_rights_expand(IS_BIT(IS_R_GATEWAY_LINK)) & IS_BIT(IS_R_GATEWAY_INFO));
}

static void test_is_rights_intersect__user_org_entity(void **state)
{
    (void)state;
    /* The org holds _ALL on the application, the user only TRAFFIC_READ in the org. */
    is_rights_t org_on_app = IS_BIT(IS_R_APPLICATION_ALL);
    is_rights_t user_in_org =
        IS_BIT(IS_R_APPLICATION_TRAFFIC_READ) | IS_BIT(IS_R_ORGANIZATION_INFO);
    is_rights_t eff = is_rights_intersect(org_on_app, user_in_org);
    assert_true(eff == IS_BIT(IS_R_APPLICATION_TRAFFIC_READ));
    assert_false(is_rights_include(eff, IS_BIT(IS_R_APPLICATION_DEVICES_WRITE)));
    assert_true(is_rights_include(eff, IS_BIT(IS_R_APPLICATION_TRAFFIC_READ)));
}

static void test_is_rights_include__pseudo_right_needs_all(void **state)
{
    (void)state;
    /* Holding every individual right is not holding the _ALL pseudo-right. */
    is_rights_t each = is_rights_of(IS_ENT_APP) & ~IS_BIT(IS_R_APPLICATION_ALL);
    assert_false(is_rights_include(each, IS_BIT(IS_R_APPLICATION_ALL)));
    assert_true(is_rights_include(IS_BIT(IS_R_ALL), IS_BIT(IS_R_APPLICATION_ALL)));
    assert_true(is_rights_include(IS_BIT(IS_R_APPLICATION_ALL), each));
}

static void test_is_rights_json__round_trip_and_errors(void **state)
{
    (void)state;
    json_t *a = json_pack("[sss]", "RIGHT_APPLICATION_INFO", "RIGHT_ALL", "RIGHT_USER_INFO");
    is_rights_t r;
    lw_err_t err;
    assert_int_equal(is_rights_from_json(a, "rights", &r, &err), 0);
    assert_true(r == (IS_BIT(15) | IS_BIT(55) | IS_BIT(1)));
    json_t *out = is_rights_to_json(r);
    char *s = json_dumps(out, JSON_COMPACT);
    /* Enum order. */
    assert_string_equal(s, "[\"RIGHT_USER_INFO\",\"RIGHT_APPLICATION_INFO\",\"RIGHT_ALL\"]");
    free(s);
    json_decref(out);
    json_decref(a);
    a = json_pack("[ss]", "RIGHT_APPLICATION_INFO", "RIGHT_BOGUS");
    assert_int_equal(is_rights_from_json(a, "api_key.rights", &r, &err), -1);
    assert_string_equal(lw_err_name(&err), "invalid_field");
    assert_string_equal(err.attrs[0].value, "api_key.rights[1]");
    json_decref(a);
    a = json_string("RIGHT_ALL");
    assert_int_equal(is_rights_from_json(a, "rights", &r, &err), -1);
    json_decref(a);
}

static void test_is_rights_pg__round_trip(void **state)
{
    (void)state;
    char buf[256];
    is_rights_t r = IS_BIT(IS_R_APPLICATION_INFO) | IS_BIT(IS_R_APPLICATION_DEVICES_READ);
    assert_int_equal(is_rights_to_pg(r, buf, sizeof buf), 0);
    assert_string_equal(buf, "{RIGHT_APPLICATION_INFO,RIGHT_APPLICATION_DEVICES_READ}");
    assert_true(is_rights_from_pg(buf) == r);
    assert_true(is_rights_from_pg("{}") == 0);
    assert_true(is_rights_from_pg("{RIGHT_X,RIGHT_ALL}") == IS_BIT(IS_R_ALL));
    assert_true(is_rights_from_pg(NULL) == 0);
    assert_int_equal(is_rights_to_pg(IS_BIT(IS_R_ALL) | IS_BIT(1), buf, 10), -1);
    assert_int_equal(is_rights_to_pg(0, buf, sizeof buf), 0);
    assert_string_equal(buf, "{}");
}

static void test_is_rights_may_manage__every_right_before_and_after(void **state)
{
    (void)state;
    is_rights_t info = IS_BIT(IS_R_APPLICATION_INFO);
    is_rights_t keys = IS_BIT(IS_R_APPLICATION_SETTINGS_API_KEYS);
    is_rights_t all = IS_BIT(IS_R_APPLICATION_ALL);
    /* A key with only SETTINGS_API_KEYS touches no holder of _ALL: rename (before = after),
     * narrow, delete (after 0). */
    assert_false(is_rights_may_manage(keys, all, all));
    assert_false(is_rights_may_manage(keys, all, keys));
    assert_false(is_rights_may_manage(keys, all, 0));
    /* Create: every right given. */
    assert_false(is_rights_may_manage(keys, 0, all));
    assert_true(is_rights_may_manage(keys, 0, keys));
    /* Update: the union, not only the difference: dropping a right it lacks is refused too. */
    assert_false(
        is_rights_may_manage(info | keys, info | IS_BIT(IS_R_APPLICATION_DEVICES_READ), info));
    assert_false(is_rights_may_manage(info | keys, info, info | IS_BIT(IS_R_APPLICATION_LINK)));
    assert_true(is_rights_may_manage(info | keys, info, info | keys));
    assert_true(is_rights_may_manage(info | keys, info | keys, 0));
    /* _ALL covers its rights and the pseudo-right itself; RIGHT_ALL covers everything. */
    assert_true(is_rights_may_manage(is_rights_expand(all), all, info));
    assert_true(is_rights_may_manage(IS_BIT(IS_R_ALL), all | IS_BIT(IS_R_GATEWAY_ALL), 0));
    /* Holding every individual right is not holding the pseudo-right. */
    is_rights_t each = is_rights_of(IS_ENT_APP) & ~all;
    assert_false(is_rights_may_manage(each, all, all));
    /* Nothing to hold: nothing needed. */
    assert_true(is_rights_may_manage(0, 0, 0));
}

static void test_is_rights_to_manage__expanded_union(void **state)
{
    (void)state;
    is_rights_t link = IS_BIT(IS_R_APPLICATION_LINK);
    is_rights_t need = is_rights_to_manage(link, IS_BIT(IS_R_APPLICATION_DEVICES_READ));
    assert_true(need ==
                (link | IS_BIT(IS_R_APPLICATION_INFO) | IS_BIT(IS_R_APPLICATION_TRAFFIC_READ) |
                 IS_BIT(IS_R_APPLICATION_TRAFFIC_DOWN_WRITE) |
                 IS_BIT(IS_R_APPLICATION_DEVICES_READ)));
    assert_true(is_rights_to_manage(IS_BIT(IS_R_USER_ALL), 0) == is_rights_of(IS_ENT_USER));
    assert_true(is_rights_to_manage(0, 0) == 0);
}

static void test_is_rights_full__kind_all_or_right_all(void **state)
{
    (void)state;
    assert_true(is_rights_full(IS_ENT_APP, IS_BIT(IS_R_APPLICATION_ALL)));
    assert_true(is_rights_full(IS_ENT_APP, IS_BIT(IS_R_ALL)));
    assert_true(is_rights_full(IS_ENT_ORG, IS_BIT(IS_R_ALL) | IS_BIT(IS_R_APPLICATION_INFO)));
    assert_true(is_rights_full(IS_ENT_GW, is_rights_expand(IS_BIT(IS_R_GATEWAY_ALL))));
    assert_false(is_rights_full(IS_ENT_GW, IS_BIT(IS_R_APPLICATION_ALL)));
    assert_false(
        is_rights_full(IS_ENT_APP, is_rights_of(IS_ENT_APP) & ~IS_BIT(IS_R_APPLICATION_ALL)));
    assert_false(is_rights_full(IS_ENT_APP, 0));
    assert_false(is_rights_full(IS_ENT_USER, IS_BIT(IS_R_ALL))); /* users have no collaborators */
    char buf[128];
    assert_int_equal(is_rights_to_pg(is_rights_full_of(IS_ENT_ORG), buf, sizeof buf), 0);
    assert_string_equal(buf, "{RIGHT_ORGANIZATION_ALL,RIGHT_ALL}");
}

static void test_is_rights_drops_last_full__demote_or_remove_the_last(void **state)
{
    (void)state;
    is_rights_t all = IS_BIT(IS_R_APPLICATION_ALL), info = IS_BIT(IS_R_APPLICATION_INFO);
    /* The last full collaborator demoted or removed. */
    assert_true(is_rights_drops_last_full(IS_ENT_APP, all, info, false));
    assert_true(is_rights_drops_last_full(IS_ENT_APP, all, 0, false));
    assert_true(is_rights_drops_last_full(IS_ENT_ORG, IS_BIT(IS_R_ALL), 0, false));
    /* Another full collaborator stays. */
    assert_false(is_rights_drops_last_full(IS_ENT_APP, all, 0, true));
    /* Still full after (RIGHT_ALL → APPLICATION_ALL), or never was. */
    assert_false(is_rights_drops_last_full(IS_ENT_APP, IS_BIT(IS_R_ALL), all, false));
    assert_false(is_rights_drops_last_full(IS_ENT_APP, info, 0, false));
    assert_false(is_rights_drops_last_full(IS_ENT_APP, 0, info, false));
    /* The full right is the entity's own kind's. */
    assert_false(is_rights_drops_last_full(IS_ENT_GW, all, 0, false));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_right_parse__names_and_values),
        cmocka_unit_test(test_is_rights_expand__application_all),
        cmocka_unit_test(test_is_rights_expand__all_is_everything),
        cmocka_unit_test(test_is_rights_expand__link_implies_info_and_traffic),
        cmocka_unit_test(test_is_rights_intersect__user_org_entity),
        cmocka_unit_test(test_is_rights_include__pseudo_right_needs_all),
        cmocka_unit_test(test_is_rights_json__round_trip_and_errors),
        cmocka_unit_test(test_is_rights_pg__round_trip),
        cmocka_unit_test(test_is_rights_may_manage__every_right_before_and_after),
        cmocka_unit_test(test_is_rights_to_manage__expanded_union),
        cmocka_unit_test(test_is_rights_full__kind_all_or_right_all),
        cmocka_unit_test(test_is_rights_drops_last_full__demote_or_remove_the_last),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
