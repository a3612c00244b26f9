/* tenant/devparts.c: the registry of device parts (order, names, the longest prefix owning a
 * path) and the parts' pure helpers (masks, dotted paths, error paths, ID arrays, positions,
 * merges). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tenant/devparts.h"

static const char *const a_paths[] = {"ids", "name", "frequency_plan_id", NULL};
static const char *const b_paths[] = {"session", "mac_settings", NULL};
static const char *const c_paths[] = {"session.keys.app_s_key", "formatters", "name", NULL};
static const tn_devpart_t part_a = {.name = "a", .paths = a_paths};
static const tn_devpart_t part_b = {.name = "b", .paths = b_paths};
static const tn_devpart_t part_c = {.name = "c", .paths = c_paths};
static const tn_devpart_t part_a2 = {.name = "a", .paths = b_paths};

static void test_tn_devparts__order_names_and_owners(void **state)
{
    (void)state;
    assert_int_equal(tn_devparts_register(&part_a), 0);
    assert_int_equal(tn_devparts_register(&part_b), 0);
    assert_int_equal(tn_devparts_register(&part_c), 0);
    assert_int_equal(tn_devparts_register(&part_a2), -1); /* the name is taken */
    assert_int_equal(tn_devparts_register(NULL), -1);
    size_t n;
    const tn_devpart_t *const *parts = tn_devparts(&n);
    assert_int_equal(n, 3);
    assert_ptr_equal(parts[0], &part_a);
    assert_ptr_equal(parts[2], &part_c);
    /* A prefix owns itself and what is under it; the longest wins. */
    assert_ptr_equal(tn_devparts_owner("ids.dev_eui"), &part_a);
    assert_ptr_equal(tn_devparts_owner("session.dev_addr"), &part_b);
    assert_ptr_equal(tn_devparts_owner("session.keys.app_s_key.key"), &part_c);
    assert_ptr_equal(tn_devparts_owner("session.keys.f_nwk_s_int_key.key"), &part_b);
    assert_ptr_equal(tn_devparts_owner("mac_settings"), &part_b);
    /* Not a prefix of a longer name; a tie goes to the first registered. */
    assert_null(tn_devparts_owner("names"));
    assert_null(tn_devparts_owner("colour"));
    assert_ptr_equal(tn_devparts_owner("name"), &part_a);
}

static void test_tn_devpart_masked__prefix_or_below(void **state)
{
    (void)state;
    const char *paths[] = {"session.dev_addr", "name"};
    tn_devpart_dev_t d = {.device_id = "d", .paths = paths, .npaths = 2};
    assert_true(tn_devpart_masked(&d, "session"));
    assert_true(tn_devpart_masked(&d, "session.dev_addr"));
    assert_true(tn_devpart_masked(&d, "name"));
    assert_false(tn_devpart_masked(&d, "sess"));
    assert_false(tn_devpart_masked(&d, "session.keys"));
    assert_false(tn_devpart_masked(&d, "names"));
}

static void test_tn_devpart_get_and_copy__dotted_paths(void **state)
{
    (void)state;
    json_t *src = json_loads("{\"session\":{\"keys\":{\"k\":1},\"n\":null},\"a\":\"x\"}", 0, NULL);
    assert_int_equal(json_integer_value(tn_devpart_get(src, "session.keys.k")), 1);
    assert_null(tn_devpart_get(src, "session.n"));        /* null is absent */
    assert_null(tn_devpart_get(src, "session.keys.k.z")); /* under a number */
    assert_null(tn_devpart_get(src, "b"));
    json_t *dst = json_loads("{\"session\":{\"x\":2},\"b\":true}", 0, NULL);
    tn_devpart_copy(dst, src, "session.keys.k");
    tn_devpart_copy(dst, src, "b"); /* absent in src: removed */
    tn_devpart_copy(dst, src, "a");
    char *s = json_dumps(dst, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"a\":\"x\",\"session\":{\"keys\":{\"k\":1},\"x\":2}}");
    free(s);
    json_t *m = json_loads("{\"session\":{\"keys\":{\"app\":3}}}", 0, NULL);
    tn_devpart_merge(dst, m);
    s = json_dumps(dst, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"a\":\"x\",\"session\":{\"keys\":{\"app\":3,\"k\":1},\"x\":2}}");
    free(s);
    json_decref(m);
    json_decref(dst);
    json_decref(src);
}

static void test_tn_devpart_err_path__drops_the_body_prefix(void **state)
{
    (void)state;
    lw_err_t e;
    lw_err_set(&e, &lw_err_invalid_field, "invalid");
    lw_err_attr(&e, "field", "end_device.session.dev_addr");
    tn_devpart_err_path(&e);
    assert_string_equal(e.attrs[0].value, "session.dev_addr");
    tn_devpart_err_path(&e); /* once only */
    assert_string_equal(e.attrs[0].value, "session.dev_addr");
}

static void test_tn_devpart_arrays_and_positions(void **state)
{
    (void)state;
    const char *ids[] = {"dev-1", "dev-2", "x"};
    char *a = tn_devpart_pg_array(ids, 3);
    assert_string_equal(a, "{dev-1,dev-2,x}");
    free(a);
    a = tn_devpart_pg_array(ids, 0);
    assert_string_equal(a, "{}");
    free(a);
    json_t *pos = tn_devpart_positions(ids, 3);
    assert_int_equal(tn_devpart_position(pos, "dev-2"), 1);
    assert_int_equal(tn_devpart_position(pos, "x"), 2);
    assert_int_equal(tn_devpart_position(pos, "dev-3"), -1);
    json_decref(pos);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tn_devparts__order_names_and_owners),
        cmocka_unit_test(test_tn_devpart_masked__prefix_or_below),
        cmocka_unit_test(test_tn_devpart_get_and_copy__dotted_paths),
        cmocka_unit_test(test_tn_devpart_err_path__drops_the_body_prefix),
        cmocka_unit_test(test_tn_devpart_arrays_and_positions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
