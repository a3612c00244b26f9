/* tenant/component.c: how other components reach the registry (tn_from_runtime, through the
 * runtime's services), on a real runtime that is not run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tenant/tenant_private.h"

typedef struct fixture {
    lw_config_t *cfg;
    lw_rt_t *rt;
} fixture_t;

static fixture_t fx;

static int setup(void **state)
{
    fx.cfg = lw_config_new();
    if (fx.cfg == NULL || lw_rt_config_register(fx.cfg) != 0 || tn_config_register(fx.cfg) != 0)
        return -1;
    lw_err_t err;
    fx.rt = lw_rt_new(fx.cfg, &err);
    if (fx.rt == NULL)
        return -1;
    *state = &fx;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lw_rt_free(fx.rt);
    lw_config_free(fx.cfg);
    return 0;
}

static void test_tn_from_runtime__null_before_init(void **state)
{
    (void)state;
    lw_err_t err;
    assert_int_equal(lw_rt_add(fx.rt, &tn_component, &err), 0);
    /* Added but not initialised: nothing is published yet. */
    assert_null(tn_from_runtime(fx.rt));
}

static void test_tn_from_runtime__not_reachable_by_name(void **state)
{
    (void)state;
    /* A key with the same name is another key: services are found by the provider's key
     * object, never by a string. */
    static const lw_rt_key_t forged = {.name = "tenant registry"};
    int other;
    lw_err_t err;
    assert_int_equal(lw_rt_provide(fx.rt, &forged, &other, &err), 0);
    assert_ptr_equal(lw_rt_service(fx.rt, &forged), &other);
    assert_null(tn_from_runtime(fx.rt));
}

static void test_lw_rt_provide__once_per_key(void **state)
{
    (void)state;
    static const lw_rt_key_t a = {.name = "service a"}, b = {.name = "service b"};
    int sa, sb;
    lw_err_t err;
    lw_err_clear(&err);
    assert_null(lw_rt_service(fx.rt, &a));
    assert_int_equal(lw_rt_provide(fx.rt, &a, &sa, &err), 0);
    assert_int_equal(lw_rt_provide(fx.rt, &b, &sb, &err), 0);
    assert_ptr_equal(lw_rt_service(fx.rt, &a), &sa);
    assert_ptr_equal(lw_rt_service(fx.rt, &b), &sb);
    assert_int_equal(lw_rt_provide(fx.rt, &a, &sb, &err), -1);
    assert_string_equal(lw_err_name(&err), "internal");
    assert_string_equal(err.message, "service a provided twice");
    /* The first stays. */
    assert_ptr_equal(lw_rt_service(fx.rt, &a), &sa);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tn_from_runtime__null_before_init, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tn_from_runtime__not_reachable_by_name, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lw_rt_provide__once_per_key, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
