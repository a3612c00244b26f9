/* Entity codecs, field masks, EUIs, pagination (components/is/codec.c). RFC 3339 checks
 * are the shared ones: tests/unit/cluster/test_api.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "is/is_private.h"

static json_t *parse(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    assert_non_null(j);
    return j;
}

static const char *err_field(const lw_err_t *err)
{
    for (int i = 0; i < err->nattrs; i++)
        if (strcmp(err->attrs[i].key, "field") == 0)
            return err->attrs[i].value;
    return "";
}

static void expect_decode_error(const is_kind_t *k, const char *json, bool create, const char *name,
                                const char *field)
{
    json_t *o = parse(json);
    is_ids_t ids;
    json_t *data = (json_t *)1;
    lw_err_t err;
    lw_err_clear(&err);
    assert_int_equal(is_entity_decode(k, o, k->key, create, &ids, &data, &err), -1);
    assert_null(data);
    assert_string_equal(lw_err_name(&err), name);
    assert_string_equal(err_field(&err), field);
    json_decref(o);
}

static void test_is_eui_parse__accepts_hex_rejects_rest(void **state)
{
    (void)state;
    uint64_t e;
    char out[17];
    assert_int_equal(is_eui_parse("70B3D57ED0000001", &e), 0);
    assert_true(e == 0x70B3D57ED0000001ull);
    assert_int_equal(is_eui_parse("70b3d57ed0000001", &e), 0);
    is_eui_format(e, out);
    assert_string_equal(out, "70B3D57ED0000001");
    assert_int_equal(is_eui_parse("70B3D57ED000000", &e), -1);
    assert_int_equal(is_eui_parse("70B3D57ED00000011", &e), -1);
    assert_int_equal(is_eui_parse("70B3D57ED000000G", &e), -1);
    assert_int_equal(is_eui_parse("70-B3-D5-7E-D0-00", &e), -1);
    assert_int_equal(is_eui_parse(NULL, &e), -1);
}

static void test_is_entity_decode__application_ok_zero_values_dropped(void **state)
{
    (void)state;
    json_t *o =
        parse("{\"ids\":{\"application_id\":\"app-1\"},\"name\":\"App\",\"description\":\"\","
              "\"attributes\":{\"k\":\"v\"},\"created_at\":\"x\"}");
    is_ids_t ids;
    json_t *data;
    lw_err_t err;
    assert_int_equal(is_entity_decode(&is_kind_app, o, "application", true, &ids, &data, &err), 0);
    assert_string_equal(ids.id, "app-1");
    char *s = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"attributes\":{\"k\":\"v\"},\"name\":\"App\"}");
    free(s);
    json_decref(data);
    json_decref(o);
}

static void test_is_entity_decode__errors_name_the_field(void **state)
{
    (void)state;
    expect_decode_error(&is_kind_app, "{\"ids\":{\"application_id\":\"a1\"}}", true,
                        "invalid_field", "application.ids.application_id");
    expect_decode_error(&is_kind_app, "{\"name\":\"x\"}", true, "invalid_field",
                        "application.ids.application_id");
    expect_decode_error(&is_kind_app, "{\"ids\":{\"application_id\":\"app1\"},\"colour\":1}", true,
                        "unknown_field", "application.colour");
    expect_decode_error(&is_kind_app, "{\"ids\":{\"application_id\":\"app1\",\"x\":1}}", true,
                        "unknown_field", "application.ids.x");
    expect_decode_error(&is_kind_app, "{\"ids\":{\"application_id\":\"app1\"},\"name\":true}", true,
                        "invalid_field", "application.name");
    expect_decode_error(
        &is_kind_app, "{\"ids\":{\"application_id\":\"app1\"},\"attributes\":{\"Bad Key\":\"v\"}}",
        true, "invalid_field", "application.attributes");
    expect_decode_error(&is_kind_gw, "{\"ids\":{\"gateway_id\":\"gw1\",\"eui\":\"0011\"}}", true,
                        "invalid_field", "gateway.ids.eui");
    expect_decode_error(&is_kind_gw,
                        "{\"ids\":{\"gateway_id\":\"gw1\"},\"antennas\":[{},{\"gain\":\"x\"}]}",
                        true, "invalid_field", "gateway.antennas[1].gain");
    expect_decode_error(
        &is_kind_gw, "{\"ids\":{\"gateway_id\":\"gw1\"},\"antennas\":[{\"location\":{\"lat\":1}}]}",
        true, "unknown_field", "gateway.antennas[0].location.lat");
    expect_decode_error(&is_kind_gw,
                        "{\"ids\":{\"gateway_id\":\"gw1\"},\"frequency_plan_ids\":[\"EU\",\"\"]}",
                        true, "invalid_field", "gateway.frequency_plan_ids[1]");
    expect_decode_error(&is_kind_gw,
                        "{\"ids\":{\"gateway_id\":\"gw1\"},\"schedule_anytime_delay\":\"1m\"}",
                        true, "invalid_field", "gateway.schedule_anytime_delay");
    expect_decode_error(&is_kind_dev,
                        "{\"ids\":{\"device_id\":\"dev1\",\"join_eui\":\"XX00000000000000\"}}",
                        true, "invalid_field", "end_device.ids.join_eui");
    expect_decode_error(&is_kind_dev,
                        "{\"ids\":{\"device_id\":\"dev1\",\"application_ids\":{\"app\":\"x\"}}}",
                        true, "unknown_field", "end_device.ids.application_ids.app");
    expect_decode_error(&is_kind_dev, "{\"ids\":{\"device_id\":\"dev1\"},\"supports_join\":1}",
                        true, "invalid_field", "end_device.supports_join");
    expect_decode_error(&is_kind_dev,
                        "{\"ids\":{\"device_id\":\"dev1\"},\"lora_alliance_profile_ids\":"
                        "{\"vendor_id\":-1}}",
                        true, "invalid_field", "end_device.lora_alliance_profile_ids.vendor_id");
    expect_decode_error(&is_kind_user, "{\"ids\":{\"user_id\":\"u1\"},\"password\":\"x\"}", false,
                        "invalid_field", "user.password");
    expect_decode_error(&is_kind_user,
                        "{\"ids\":{\"user_id\":\"u1\"},\"primary_email_address\":\"nope\"}", true,
                        "invalid_field", "user.primary_email_address");
    expect_decode_error(&is_kind_user, "{\"ids\":{\"user_id\":\"u1\"},\"state\":\"STATE_X\"}", true,
                        "invalid_field", "user.state");
    expect_decode_error(&is_kind_app, "[]", true, "invalid_field", "application");
}

static void test_is_entity_decode__device_ids(void **state)
{
    (void)state;
    json_t *o =
        parse("{\"ids\":{\"device_id\":\"dev1\",\"application_ids\":{\"application_id\":"
              "\"app1\"},\"dev_eui\":\"0004a30b001c0530\",\"join_eui\":\"70B3D57ED0000000\"},"
              "\"lorawan_version\":\"MAC_V1_0_3\",\"supports_class_b\":false}");
    is_ids_t ids;
    json_t *data;
    lw_err_t err;
    assert_int_equal(is_entity_decode(&is_kind_dev, o, "end_device", true, &ids, &data, &err), 0);
    assert_string_equal(ids.id, "dev1");
    assert_string_equal(ids.app_id, "app1");
    assert_true(ids.has_dev_eui && ids.dev_eui == 0x0004A30B001C0530ull);
    assert_true(ids.has_join_eui && ids.join_eui == 0x70B3D57ED0000000ull);
    assert_null(json_object_get(data, "supports_class_b")); /* zero value */
    assert_string_equal(json_string_value(json_object_get(data, "lorawan_version")), "MAC_V1_0_3");
    json_decref(data);
    json_decref(o);
}

static void test_is_mask__parse_and_reject(void **state)
{
    (void)state;
    is_mask_t m;
    lw_err_t err;
    assert_int_equal(is_mask_parse_csv(&is_kind_app, "name,description,name,ids.application_id",
                                       "field_mask", &m, &err),
                     0);
    assert_int_equal(m.n, 2);
    assert_true(is_mask_has(&m, "name") && is_mask_has(&m, "description"));
    assert_int_equal(is_mask_parse_csv(&is_kind_app, "", "field_mask", &m, &err), 0);
    assert_int_equal(m.n, 0);
    assert_int_equal(is_mask_parse_csv(&is_kind_app, "colour", "field_mask", &m, &err), -1);
    assert_string_equal(err_field(&err), "field_mask");
    assert_int_equal(is_mask_parse_csv(&is_kind_user, "password", "field_mask", &m, &err), -1);
    assert_int_equal(is_mask_parse_csv(&is_kind_gw, "version_ids.model_id", "f", &m, &err), 0);
    assert_int_equal(is_mask_parse_csv(&is_kind_gw, "version_ids.colour", "f", &m, &err), -1);
    assert_int_equal(is_mask_parse_csv(&is_kind_gw, "name.x", "f", &m, &err), -1);
    json_t *fm = parse("{\"paths\":[\"name\",\"status_public\"]}");
    assert_int_equal(is_mask_parse_json(&is_kind_gw, fm, "field_mask", &m, &err), 0);
    assert_int_equal(m.n, 2);
    json_decref(fm);
    fm = parse("{\"paths\":[\"name\"],\"x\":1}");
    assert_int_equal(is_mask_parse_json(&is_kind_gw, fm, "field_mask", &m, &err), -1);
    assert_string_equal(lw_err_name(&err), "unknown_field");
    json_decref(fm);
    fm = parse("{\"paths\":[1]}");
    assert_int_equal(is_mask_parse_json(&is_kind_gw, fm, "field_mask", &m, &err), -1);
    json_decref(fm);
}

static void test_is_entity_render__mask_and_zero_values(void **state)
{
    (void)state;
    json_t *full = parse("{\"name\":\"N\",\"description\":\"D\",\"status_public\":false,"
                         "\"version_ids\":{\"brand_id\":\"b\",\"model_id\":\"m\"}}");
    is_mask_t m;
    lw_err_t err;
    json_t *o = is_entity_render(&is_kind_gw, json_pack("{ss}", "gateway_id", "gw1"), "T1", "T2",
                                 "", full, NULL);
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(
        s, "{\"created_at\":\"T1\",\"ids\":{\"gateway_id\":\"gw1\"},\"updated_at\":\"T2\"}");
    free(s);
    json_decref(o);
    assert_int_equal(
        is_mask_parse_csv(&is_kind_gw, "name,status_public,version_ids.model_id", "f", &m, &err),
        0);
    o = is_entity_render(&is_kind_gw, json_object(), NULL, NULL, NULL, full, &m);
    s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"ids\":{},\"name\":\"N\",\"version_ids\":{\"model_id\":\"m\"}}");
    free(s);
    json_decref(o);
    json_decref(full);
}

static void test_is_entity_apply__mask_sets_and_clears(void **state)
{
    (void)state;
    json_t *dst = parse("{\"name\":\"old\",\"description\":\"keep\",\"version_ids\":{\"brand_id\":"
                        "\"b\",\"model_id\":\"m\"}}");
    json_t *src = parse("{\"name\":\"new\",\"description\":\"ignored\"}");
    is_mask_t m;
    lw_err_t err;
    assert_int_equal(is_mask_parse_csv(&is_kind_gw, "name,version_ids.brand_id", "f", &m, &err), 0);
    assert_int_equal(is_entity_apply(&is_kind_gw, dst, src, &m, &err), 0);
    char *s = json_dumps(dst, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(
        s, "{\"description\":\"keep\",\"name\":\"new\",\"version_ids\":{\"model_id\":\"m\"}}");
    free(s);
    json_decref(src);
    /* A path in the mask that the message leaves out is cleared. */
    src = json_object();
    assert_int_equal(is_mask_parse_csv(&is_kind_gw, "name,version_ids.model_id", "f", &m, &err), 0);
    assert_int_equal(is_entity_apply(&is_kind_gw, dst, src, &m, &err), 0);
    s = json_dumps(dst, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"description\":\"keep\"}");
    free(s);
    json_decref(src);
    json_decref(dst);
}

static void test_is_page_parse__defaults_bounds_order(void **state)
{
    (void)state;
    is_page_t p;
    lw_err_t err;
    assert_int_equal(is_page_parse(&is_kind_app, NULL, NULL, NULL, &p, &err), 0);
    assert_int_equal(p.limit, IS_PAGE_MAX);
    assert_int_equal(p.page, 1);
    assert_string_equal(p.order_sql, "application_id ASC");
    assert_int_equal(is_page_parse(&is_kind_app, "3", "0", "-created_at", &p, &err), 0);
    assert_int_equal(p.limit, 3);
    assert_int_equal(p.page, 1);
    assert_string_equal(p.order_sql, "created_at DESC");
    assert_int_equal(is_page_parse(&is_kind_gw, "3", "4", "name", &p, &err), 0);
    assert_int_equal(p.page, 4);
    assert_string_equal(p.order_sql, "data->>'name' ASC NULLS FIRST");
    assert_int_equal(is_page_parse(&is_kind_app, "1001", NULL, NULL, &p, &err), -1);
    assert_string_equal(err_field(&err), "limit");
    assert_int_equal(is_page_parse(&is_kind_app, "-1", NULL, NULL, &p, &err), -1);
    assert_int_equal(is_page_parse(&is_kind_app, NULL, "x", NULL, &p, &err), -1);
    assert_string_equal(err_field(&err), "page");
    assert_int_equal(is_page_parse(&is_kind_app, NULL, NULL, "gateway_id", &p, &err), -1);
    assert_string_equal(err_field(&err), "order");
    assert_int_equal(is_page_parse(&is_kind_app, NULL, NULL, "name; DROP", &p, &err), -1);
}

static void test_is_mask_all__renderable_fields_only(void **state)
{
    (void)state;
    is_mask_t m;
    is_mask_all(&is_kind_user, &m);
    assert_true(is_mask_has(&m, "name") && is_mask_has(&m, "primary_email_address"));
    assert_false(is_mask_has(&m, "password")); /* hidden */
    assert_int_equal(m.n, (int)is_kind_user.nfields - 1);
}

static void test_is_page_parse__descending_name_and_order_choices(void **state)
{
    (void)state;
    is_page_t p;
    lw_err_t err;
    assert_int_equal(is_page_parse(&is_kind_gw, NULL, NULL, "-name", &p, &err), 0);
    assert_string_equal(p.order_sql, "data->>'name' DESC NULLS FIRST");
    assert_int_equal(is_page_parse(&is_kind_gw, NULL, NULL, "-gateway_id", &p, &err), 0);
    assert_string_equal(p.order_sql, "gateway_id DESC");
    assert_int_equal(is_page_parse(&is_kind_gw, NULL, NULL, "colour", &p, &err), -1);
    assert_string_equal(err.message, "invalid `order`: cannot order by `colour` (one of "
                                     "gateway_id, created_at, updated_at, name, optionally "
                                     "prefixed with -)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_eui_parse__accepts_hex_rejects_rest),
        cmocka_unit_test(test_is_entity_decode__application_ok_zero_values_dropped),
        cmocka_unit_test(test_is_entity_decode__errors_name_the_field),
        cmocka_unit_test(test_is_entity_decode__device_ids),
        cmocka_unit_test(test_is_mask__parse_and_reject),
        cmocka_unit_test(test_is_entity_render__mask_and_zero_values),
        cmocka_unit_test(test_is_entity_apply__mask_sets_and_clears),
        cmocka_unit_test(test_is_page_parse__defaults_bounds_order),
        cmocka_unit_test(test_is_mask_all__renderable_fields_only),
        cmocka_unit_test(test_is_page_parse__descending_name_and_order_choices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
