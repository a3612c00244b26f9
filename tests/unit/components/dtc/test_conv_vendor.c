/* Vendor CSV through column mappings: the shipped Kerlink Wanesy mapping
 * (ops/dtc/mappings/kerlink-wanesy.yaml) on the real export sample ttn-lw-migrate tests
 * with (../shared/fixtures/the-things-stack/migrate/wanesy-testdata-test.csv; its
 * messages_test.go TestImportAndExport asserts DevAddr 01234567, FCntUp 20, AFCntDown 10,
 * MAC_V1_0_2 with PHY_V1_0_2_REV_A and session keys), each transform of the mapping
 * language, its errors, and the mapping files' own errors with their lines. */
#include "conv_test_util.h"

static void load_dir(void)
{
    lw_err_t err;
    int n = dtc_formats_load_vendor_dir(LW_SOURCE_DIR "/ops/dtc/mappings", &err);
    if (n < 1)
        fail_msg("mappings: %d %s", n, err.message);
}

static void test_conv_vendor__wanesy(void **state)
{
    (void)state;
    load_dir();
    const dtc_format_t *f = dtc_format_find("vendor-kerlink-wanesy");
    assert_non_null(f);
    assert_string_equal(f->name, "Kerlink Wanesy CSV");
    assert_string_equal(f->file_extensions[0], ".csv");
    t_result_t r;
    t_fixture_convert("vendor-kerlink-wanesy", "migrate/wanesy-testdata-test.csv", &r);
    if (r.rc != 0)
        fail_msg("%s", r.err.message);
    assert_int_equal(r.n, 1);
    json_t *keys = json_object_get(json_object_get(r.dev[0], "session"), "keys");
    const char *skid = json_string_value(json_object_get(keys, "session_key_id"));
    assert_non_null(skid);
    assert_int_equal(strlen(skid), 24);
    json_object_del(keys, "session_key_id");
    t_dev_equal(
        r.dev[0],
        "{\"ids\": {\"device_id\": \"1111111111111111\", \"dev_eui\": \"1111111111111111\","
        " \"join_eui\": \"1111111111111111\"}, \"name\": \"Test\", \"supports_join\": true,"
        " \"root_keys\": {\"app_key\": {\"key\": \"22222222222222222222222222222222\"}},"
        " \"lorawan_version\": \"MAC_V1_0_2\", \"lorawan_phy_version\": \"PHY_V1_0_2_REV_A\","
        " \"session\": {\"dev_addr\": \"01234567\", \"keys\": {\"app_s_key\": {\"key\":"
        " \"44444444444444444444444444444444\"}, \"f_nwk_s_int_key\": {\"key\":"
        " \"33333333333333333333333333333333\"}}, \"last_f_cnt_up\": 20,"
        " \"last_n_f_cnt_down\": 10, \"last_a_f_cnt_down\": 10}}");
    assert_string_equal(r.mask[0], "ids.dev_eui,ids.device_id,ids.join_eui,lorawan_phy_version,"
                                   "lorawan_version,name,root_keys.app_key.key,session.dev_addr,"
                                   "session.keys.app_s_key.key,session.keys.f_nwk_s_int_key.key,"
                                   "session.keys.session_key_id,session.last_a_f_cnt_down,"
                                   "session.last_f_cnt_up,session.last_n_f_cnt_down,supports_join");
    assert_string_equal(r.mapping_key[0], "1111111111111111");
    assert_int_equal(r.line[0], 2);
    t_result_free(&r);
    dtc_formats_clear_vendor();
}

static const char mapping[] =
    "id: acme\n"
    "name: ACME delivery sheet\n"
    "description: test\n"
    "file_extensions: [.csv, .txt]\n"
    "separator: ';'\n"
    "fields:\n"
    "  - {path: ids.dev_eui, column: EUI, type: eui, byte_order: lsb}\n"
    "  - {path: ids.device_id, value: 'acme-{EUI}', case: lower}\n"
    "  - {path: root_keys.app_key.key, column: Key, type: key}\n"
    "  - {path: session.dev_addr, column: Addr, type: devaddr, pad: 8}\n"
    "  - {path: mac_settings.rx2_frequency, column: RX2 MHz, type: uint, scale: 1000000}\n"
    "  - {path: mac_settings.rx2_data_rate_index, column: DR, type: uint, base: 16}\n"
    "  - {path: supports_class_c, column: Class, type: bool, map: {C: 'yes'}, default: 'no'}\n"
    "  - {path: frequency_plan_id, const: EU_863_870, when: ['Region=EU']}\n"
    "  - {path: lorawan_version, column: MAC, map: {'103': '1.0.3'}}\n"
    "  - {path: attributes.batch, column: Batch, when: [Batch, 'Class!=X']}\n";

static void add_acme(void)
{
    lw_err_t err;
    dtc_vendor_map_t *m = dtc_vendor_map_parse(mapping, strlen(mapping), "acme.yaml", &err);
    if (m == NULL)
        fail_msg("%s", err.message);
    assert_int_equal(dtc_formats_add_vendor(m, &err), 0);
    m = dtc_vendor_map_parse(mapping, strlen(mapping), "acme.yaml", &err);
    assert_int_equal(dtc_formats_add_vendor(m, &err), -1); /* the id is taken */
}

static void test_conv_vendor__transforms(void **state)
{
    (void)state;
    add_acme();
    assert_non_null(dtc_format_find("vendor-acme"));
    const char *csv = "EUI;Key;Addr;RX2 MHz;DR;Class;Region;MAC;Batch;Other\n"
                      "0807060504030201;aabbccddeeff00112233445566778899;1234567;869.525;a;C;EU;"
                      "103;b7;x\n"
                      "1807060504030201;aabbccddeeff00112233445566778899;;;;A;US;;;\n";
    t_result_t r;
    t_convert_all("vendor-acme", csv, strlen(csv), &r);
    if (r.rc != 0)
        fail_msg("%s", r.err.message);
    assert_int_equal(r.n, 2);
    t_dev_equal(
        r.dev[0],
        "{\"ids\": {\"dev_eui\": \"0102030405060708\", \"device_id\":"
        " \"acme-0807060504030201\"}, \"root_keys\": {\"app_key\": {\"key\":"
        " \"AABBCCDDEEFF00112233445566778899\"}}, \"session\": {\"dev_addr\": \"01234567\"},"
        " \"mac_settings\": {\"rx2_frequency\": \"869525000\", \"rx2_data_rate_index\": 10},"
        " \"supports_class_c\": true, \"frequency_plan_id\": \"EU_863_870\","
        " \"lorawan_version\": \"MAC_V1_0_3\", \"attributes\": {\"batch\": \"b7\"}}");
    assert_string_equal(r.mask[0], "attributes,frequency_plan_id,ids.dev_eui,ids.device_id,"
                                   "lorawan_version,mac_settings.rx2_data_rate_index,"
                                   "mac_settings.rx2_frequency,root_keys.app_key.key,"
                                   "session.dev_addr,supports_class_c");
    /* empty cells set nothing; the default of an unmapped value; a failed condition */
    t_dev_equal(r.dev[1], "{\"ids\": {\"dev_eui\": \"0102030405060718\", \"device_id\":"
                          " \"acme-1807060504030201\"}, \"root_keys\": {\"app_key\": {\"key\":"
                          " \"AABBCCDDEEFF00112233445566778899\"}}}");
    assert_string_equal(r.mask[1], "ids.dev_eui,ids.device_id,root_keys.app_key.key");
    assert_string_equal(r.mapping_key[0], "");
    t_result_free(&r);

    /* a value that does not convert: parse_csv_field, record and column of its source */
    const char *bad = "EUI;Key\n0807060504030201;aabb\n";
    t_convert_all("vendor-acme", bad, strlen(bad), &r);
    t_err(&r, "parse_csv_field", "1", "2");
    assert_string_equal(t_attr(&r.err, "field"), "root_keys.app_key.key");
    t_result_free(&r);

    /* a value the-things-stack refuses (data rate 31) */
    const char *bad2 = "EUI;DR\n0807060504030201;1f\n";
    t_convert_all("vendor-acme", bad2, strlen(bad2), &r);
    t_err(&r, "parse_csv_field", "1", "2");
    assert_string_equal(t_attr(&r.err, "field"), "mac_settings.rx2_data_rate_index");
    t_result_free(&r);

    const char *none = "foo;bar\n1;2\n";
    t_convert_all("vendor-acme", none, strlen(none), &r);
    t_err(&r, "csv_header", NULL, NULL);
    t_result_free(&r);
    dtc_formats_clear_vendor();
}

static void bad_mapping(const char *text, const char *line)
{
    lw_err_t err;
    assert_null(dtc_vendor_map_parse(text, strlen(text), "bad.yaml", &err));
    assert_string_equal(lw_err_name(&err), "vendor_mapping");
    assert_string_equal(t_attr(&err, "file"), "bad.yaml");
    assert_string_equal(t_attr(&err, "line"), line);
}

static void test_conv_vendor__mapping_errors(void **state)
{
    (void)state;
    bad_mapping("id: x\nname: y\nfields:\n  - {path: name, column: a, type: nope}\n", "4");
    bad_mapping("id: X!\nname: y\nfields: []\n", "1");
    bad_mapping("id: x\nname: y\nfields:\n  - {column: a}\n", "4");
    bad_mapping("id: x\nname: y\nfields:\n  - {path: name, column: a, const: b}\n", "4");
    bad_mapping("id: x\nname: y\nfields:\n  - {path: name, value: '{a'}\n", "4");
    bad_mapping("id: x\nname: y\nbogus: 1\nfields:\n  - {path: name, column: a}\n", "3");
    bad_mapping("id: x\nname: [y\n", "3");
    bad_mapping("id: x\nname: y\n", "1");
    bad_mapping("id: x\nname: y\nfile_extensions: [csv]\nfields:\n  - {path: name, column: a}\n",
                "3");
    lw_err_t err;
    assert_null(dtc_vendor_map_load("/nonexistent/x.yaml", &err));
    assert_string_equal(lw_err_name(&err), "vendor_mapping");
    assert_int_equal(dtc_formats_load_vendor_dir("/nonexistent", &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_vendor__wanesy),
        cmocka_unit_test(test_conv_vendor__transforms),
        cmocka_unit_test(test_conv_vendor__mapping_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
