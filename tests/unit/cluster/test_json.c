/* Reals printed as The Things Stack (Go) prints them (cluster/json.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/json.h"

static void dumps_is(json_t *j, const char *want)
{
    char *s = lw_json_dumps(j, JSON_COMPACT);
    assert_non_null(s);
    assert_string_equal(s, want);
    free(s);
    json_decref(j);
}

static void test_lw_json_dumps__short_reals_as_go_prints_them(void **state)
{
    (void)state;
    dumps_is(json_pack("{sfsfsf}", "t", 27.2, "lat", 52.3740301, "v", -0.1),
             "{\"t\":27.2,\"lat\":52.3740301,\"v\":-0.1}");
    dumps_is(json_pack("[f,i,s]", 1.5, 3, "x"), "[1.5,3,\"x\"]");
    dumps_is(json_pack("{s{s[f]}}", "a", "b", 0.25), "{\"a\":{\"b\":[0.25]}}");
}

static void test_lw_json_dumps__a_real_that_needs_more_digits_stays_exact(void **state)
{
    (void)state;
    /* 1/3 needs 16 digits, 0.1 + 0.2 needs 17: the whole document takes the most. */
    dumps_is(json_pack("[f]", 1.0 / 3.0), "[0.3333333333333333]");
    dumps_is(json_pack("[f,f]", 0.1 + 0.2, 27.2), "[0.30000000000000004,27.199999999999999]");
    json_t *j = json_pack("[f]", 1.0 / 3.0);
    char *s = lw_json_dumps(j, JSON_COMPACT);
    json_t *back = json_loads(s, 0, NULL);
    assert_true(json_real_value(json_array_get(back, 0)) == 1.0 / 3.0);
    json_decref(back);
    json_decref(j);
    free(s);
}

static void test_lw_json_real_flags__no_reals_and_deep_documents(void **state)
{
    (void)state;
    json_t *j = json_pack("{sisssb}", "n", 1, "s", "x", "b", 1);
    assert_int_equal(lw_json_real_flags(j), JSON_REAL_PRECISION(15));
    json_decref(j);
    json_t *deep = json_real(27.2);
    for (int i = 0; i < 100; i++)
        deep = json_pack("[o]", deep);
    assert_int_equal(lw_json_real_flags(deep), JSON_REAL_PRECISION(17));
    json_decref(deep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lw_json_dumps__short_reals_as_go_prints_them),
        cmocka_unit_test(test_lw_json_dumps__a_real_that_needs_more_digits_stays_exact),
        cmocka_unit_test(test_lw_json_real_flags__no_reals_and_deep_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
