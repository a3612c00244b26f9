/* components/dtc/import_merge.c: a template merged with the import's application and
 * fallbacks (values and sorted field mask), device ID checks, base64 parts, row results. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dtc/import_private.h"

static char *dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
}

static void test_dtc_import_merge__fallbacks_fill_only_unset_fields(void **state)
{
    (void)state;
    json_t *dev = json_loads("{\"ids\":{\"device_id\":\"dev-1\",\"dev_eui\":\"70B3D57ED0000001\","
                             "\"application_ids\":{\"application_id\":\"elsewhere\"}},"
                             "\"lorawan_version\":\"MAC_V1_0_2\",\"frequency_plan_id\":\"\"}",
                             0, NULL);
    const char *paths[] = {"ids.application_ids.application_id", "ids.dev_eui", "ids.device_id",
                           "lorawan_version"};
    json_t *fb = json_loads("{\"frequency_plan_id\":\"EU_863_870_TTN\",\"lorawan_version\":"
                            "\"MAC_V1_0_3\",\"lorawan_phy_version\":\"PHY_V1_0_3_REV_A\"}",
                            0, NULL);
    dtc_pend_t p;
    dtc_import_merge(dev, paths, 4, 7, "app1", fb, &p);
    assert_null(p.err.def);
    assert_string_equal(p.device_id, "dev-1");
    assert_int_equal(p.line, 7);
    char *s = dump(p.end_device);
    assert_string_equal(s, "{\"frequency_plan_id\":\"EU_863_870_TTN\",\"ids\":{\"application_ids\":"
                           "{\"application_id\":\"app1\"},\"dev_eui\":\"70B3D57ED0000001\","
                           "\"device_id\":\"dev-1\"},\"lorawan_phy_version\":\"PHY_V1_0_3_REV_A\","
                           "\"lorawan_version\":\"MAC_V1_0_2\"}");
    free(s);
    const char *want[] = {"frequency_plan_id",   "ids.application_ids.application_id",
                          "ids.dev_eui",         "ids.device_id",
                          "lorawan_phy_version", "lorawan_version"};
    assert_int_equal(p.npaths, 6);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(p.paths[i], want[i]);
    /* the template given stays as it was */
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(dev, "ids"), "application_ids"), "application_id")),
        "elsewhere");
    dtc_pend_destroy(&p);
    json_decref(dev);
    json_decref(fb);
}

static void test_dtc_import_merge__device_id_required_and_valid(void **state)
{
    (void)state;
    json_t *dev = json_loads("{\"ids\":{\"dev_eui\":\"70B3D57ED0000001\"}}", 0, NULL);
    const char *paths[] = {"ids.dev_eui"};
    dtc_pend_t p;
    dtc_import_merge(dev, paths, 1, 3, "app1", NULL, &p);
    assert_ptr_equal(p.err.def, &lw_err_invalid_field);
    assert_string_equal(p.err.attrs[0].key, "field");
    assert_string_equal(p.err.attrs[0].value, "ids.device_id");
    assert_int_equal(p.npaths, 2);
    dtc_pend_destroy(&p);
    json_decref(dev);

    dev = json_loads("{\"ids\":{\"device_id\":\"Bad_ID\"}}", 0, NULL);
    dtc_import_merge(dev, NULL, 0, 4, "app1", NULL, &p);
    assert_ptr_equal(p.err.def, &lw_err_invalid_field);
    dtc_pend_destroy(&p);
    json_decref(dev);
}

static void test_dtc_import_merge__session_key_id_for_a_session_without_one(void **state)
{
    (void)state;
    json_t *dev = json_loads("{\"ids\":{\"device_id\":\"abp-1\"},\"session\":{\"dev_addr\":"
                             "\"260B1002\",\"keys\":{\"app_s_key\":{\"key\":\"00\"}}}}",
                             0, NULL);
    const char *paths[] = {"ids.device_id", "session.dev_addr", "session.keys.app_s_key.key"};
    dtc_pend_t p, q;
    dtc_import_merge(dev, paths, 3, 1, "app1", NULL, &p);
    dtc_import_merge(dev, paths, 3, 1, "app1", NULL, &q);
    /* "dtc1", the DevAddr 260B1002, then FNV-1a-64 of the ID: the same every time */
    const char *id = json_string_value(json_object_get(
        json_object_get(json_object_get(p.end_device, "session"), "keys"), "session_key_id"));
    assert_non_null(id);
    assert_string_equal(id, json_string_value(json_object_get(
                                json_object_get(json_object_get(q.end_device, "session"), "keys"),
                                "session_key_id")));
    unsigned char b[18];
    assert_int_equal(dtc_base64_decode(id, strlen(id), b), 16);
    assert_memory_equal(b, "dtc1\x26\x0b\x10\x02", 8);
    assert_int_equal(p.npaths, 5);
    assert_string_equal(p.paths[4], "session.keys.session_key_id");
    dtc_pend_destroy(&p);
    dtc_pend_destroy(&q);
    json_decref(dev);

    /* one given stays */
    dev = json_loads("{\"ids\":{\"device_id\":\"abp-1\"},\"session\":{\"dev_addr\":"
                     "\"260B1002\",\"keys\":{\"session_key_id\":\"AQID\"}}}",
                     0, NULL);
    const char *paths2[] = {"ids.device_id", "session.dev_addr", "session.keys.session_key_id"};
    dtc_import_merge(dev, paths2, 3, 1, "app1", NULL, &p);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(p.end_device, "session"), "keys"), "session_key_id")),
        "AQID");
    assert_int_equal(p.npaths, 4);
    dtc_pend_destroy(&p);
    json_decref(dev);
}

static void test_dtc_import_fallbacks_check__names_the_field(void **state)
{
    (void)state;
    lw_err_t e;
    json_t *ok = json_loads("{\"frequency_plan_id\":\"EU_863_870_TTN\"}", 0, NULL);
    assert_int_equal(dtc_import_fallbacks_check(ok, &e), 0);
    assert_int_equal(dtc_import_fallbacks_check(NULL, &e), 0);
    json_t *unknown = json_loads("{\"name\":\"x\"}", 0, NULL);
    assert_int_equal(dtc_import_fallbacks_check(unknown, &e), -1);
    assert_ptr_equal(e.def, &lw_err_unknown_field);
    json_t *num = json_loads("{\"lorawan_version\":3}", 0, NULL);
    assert_int_equal(dtc_import_fallbacks_check(num, &e), -1);
    assert_ptr_equal(e.def, &lw_err_invalid_field);
    assert_string_equal(e.attrs[0].value, "fallbacks.lorawan_version");
    json_decref(ok);
    json_decref(unknown);
    json_decref(num);
}

static void test_dtc_base64__rfc4648_vectors(void **state)
{
    (void)state;
    /* RFC 4648 §10 */
    static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *const dec[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    for (size_t i = 0; i < 7; i++) {
        unsigned char out[16];
        assert_int_equal(dtc_base64_decoded_len(enc[i], strlen(enc[i])), (long long)strlen(dec[i]));
        long long n = dtc_base64_decode(enc[i], strlen(enc[i]), out);
        assert_int_equal(n, (long long)strlen(dec[i]));
        assert_memory_equal(out, dec[i], (size_t)n);
    }
    unsigned char out[8];
    assert_int_equal(dtc_base64_decoded_len("Zm9", 3), -1);
    assert_int_equal(dtc_base64_decode("Zm9*", 4, out), -1);
    assert_int_equal(dtc_base64_decode("Z===", 4, out), -1);
}

static void test_dtc_import_row_json__failed_row_names_line_column_field(void **state)
{
    (void)state;
    lw_err_t e;
    lw_err_set(&e, &lw_err_invalid_field, "invalid `root_keys.app_key.key`: 16 bytes expected");
    lw_err_attr(&e, "field", "root_keys.app_key.key");
    lw_err_attr_num(&e, "column", 5);
    json_t *r = dtc_import_row_json(3, 4, "dev-3", TN_DEVPART_FAILED, &e);
    assert_int_equal(json_integer_value(json_object_get(r, "index")), 3);
    assert_int_equal(json_integer_value(json_object_get(r, "line")), 4);
    assert_int_equal(json_integer_value(json_object_get(r, "column")), 5);
    assert_string_equal(json_string_value(json_object_get(r, "field")), "root_keys.app_key.key");
    assert_string_equal(json_string_value(json_object_get(r, "result")), "FAILED");
    json_t *d = json_array_get(json_object_get(json_object_get(r, "error"), "details"), 0);
    assert_string_equal(json_string_value(json_object_get(d, "name")), "invalid_field");
    json_decref(r);

    r = dtc_import_row_json(1, 2, "dev-1", TN_DEVPART_UNCHANGED, NULL);
    char *s = dump(r);
    assert_string_equal(s, "{\"device_id\":\"dev-1\",\"index\":1,\"line\":2,\"result\":"
                           "\"UNCHANGED\"}");
    free(s);
    json_decref(r);
    assert_int_equal(dtc_import_outcome_parse("failed"), TN_DEVPART_FAILED);
    assert_int_equal(dtc_import_outcome_parse("nope"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtc_import_merge__fallbacks_fill_only_unset_fields),
        cmocka_unit_test(test_dtc_import_merge__device_id_required_and_valid),
        cmocka_unit_test(test_dtc_import_merge__session_key_id_for_a_session_without_one),
        cmocka_unit_test(test_dtc_import_fallbacks_check__names_the_field),
        cmocka_unit_test(test_dtc_base64__rfc4648_vectors),
        cmocka_unit_test(test_dtc_import_row_json__failed_row_names_line_column_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
