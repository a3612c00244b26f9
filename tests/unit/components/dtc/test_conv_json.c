/* the-things-stack (JSON) against The Things Stack's own test inputs (read in place from
 * ../shared/fixtures/the-things-stack/devicetemplates/tts-json-*.json, the bodies of
 * TestTTSJSONConverter in pkg/devicetemplates/ttsjson_test.go): the number of templates and
 * the error of each case, and each template's end device and field mask field by field,
 * as The Things Stack computes them (NonZeroFields of the EndDevice paths without wrappers,
 * BottomLevelFields, ids.dev_addr excluded); its validateTemplate property (the mask's
 * fields rebuild the device) is checked for every template. Then the decoder's rules:
 * arrays, camelCase names, unknown fields, zero values, token errors with line and column.
 * Every input is also fed in 1-byte and 7-byte pieces with the same result. */
#include "conv_test_util.h"

static const char *const JSON = "the-things-stack";

/* validateTemplate: every leaf of the device is under a mask path, and every mask path
 * names something present in the device (or a message kept empty). */
static void covered(const json_t *v, const char *path, const char *mask)
{
    if (json_is_object(v) && json_object_size(v) > 0 && strcmp(path, "attributes") != 0 &&
        strcmp(path, "locations") != 0) {
        const char *k;
        json_t *c;
        json_object_foreach((json_t *)v, k, c)
        {
            char p[256];
            size_t pl = strlen(path);
            /* ADRSettings' oneof is spelled in field paths, not in its JSON */
            bool oneof = pl >= 3 && strcmp(path + pl - 3, "adr") == 0;
            snprintf(p, sizeof p, "%s%s%s%s", path, path[0] ? "." : "", oneof ? "mode." : "", k);
            covered(c, p, mask);
        }
        return;
    }
    /* path or a prefix of it must be in the mask */
    char m[2048];
    snprintf(m, sizeof m, ",%s,", mask);
    char p[256];
    snprintf(p, sizeof p, "%s", path);
    for (;;) {
        char needle[260];
        snprintf(needle, sizeof needle, ",%s,", p);
        if (strstr(m, needle) != NULL)
            return;
        char *dot = strrchr(p, '.');
        if (dot == NULL)
            break;
        *dot = '\0';
    }
    fail_msg("`%s` is set but not in the mask %s", path, mask);
}

static void validate(const t_result_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        covered(r->dev[i], "", r->mask[i]);
}

static const char *const otaa_device =
    "{\"ids\": {\"device_id\": \"otaa-device\", \"application_ids\": {\"application_id\":"
    " \"test-app\"}, \"dev_eui\": \"0102030405060708\", \"join_eui\": \"0807060504030201\"},"
    " \"frequency_plan_id\": \"EU_863_870\", \"lorawan_version\": \"MAC_V1_0_2\","
    " \"lorawan_phy_version\": \"PHY_V1_0_2_REV_B\", \"root_keys\": {\"app_key\": {\"key\":"
    " \"01020304010203040102030401020304\"}}, \"supports_join\": true}";
static const char *const otaa_mask =
    "frequency_plan_id,ids.application_ids.application_id,ids.dev_eui,ids.device_id,"
    "ids.join_eui,lorawan_phy_version,lorawan_version,root_keys.app_key.key,supports_join";

static const char *const abp_device =
    "{\"ids\": {\"device_id\": \"abp-device\", \"application_ids\": {\"application_id\":"
    " \"test-app\"}, \"dev_eui\": \"0102030405060708\", \"join_eui\": \"0807060504030201\"},"
    " \"frequency_plan_id\": \"US_902_928_FSB_2\", \"lorawan_version\": \"MAC_V1_0_2\","
    " \"lorawan_phy_version\": \"PHY_V1_0_2_REV_B\", \"mac_settings\": {},"
    " \"session\": {\"dev_addr\": \"01010101\"}}";
/* mac_settings is set (present, its only field null), supports_join false is not */
static const char *const abp_mask =
    "frequency_plan_id,ids.application_ids.application_id,ids.dev_eui,ids.device_id,"
    "ids.join_eui,lorawan_phy_version,lorawan_version,mac_settings,session.dev_addr";

static const char *const otaa_with_session =
    "{\"ids\": {\"device_id\": \"industrial-tracker\", \"application_ids\": {\"application_id\":"
    " \"ttn-tabs\"}, \"dev_eui\": \"E8E1E100010146B1\", \"join_eui\": \"E8E1E1000101363E\"},"
    " \"name\": \"industrial-tracker\", \"lorawan_version\": \"MAC_V1_0_2\","
    " \"lorawan_phy_version\": \"PHY_V1_0_2_REV_B\", \"frequency_plan_id\": \"EU_863_870\","
    " \"supports_join\": true, \"root_keys\": {\"app_key\": {\"key\":"
    " \"00112233445566778899AABBCCDDEEFF\"}}, \"mac_settings\": {\"rx1_delay\": 1},"
    " \"session\": {\"dev_addr\": \"260125FD\", \"keys\": {\"app_s_key\": {\"key\":"
    " \"00112233445566778899AABBCCDDEEFF\"}, \"f_nwk_s_int_key\": {\"key\":"
    " \"00112233445566778899AABBCCDDEEFF\"}}}}";
/* last_f_cnt_up and last_n_f_cnt_down are 0: not set */
static const char *const otaa_with_session_mask =
    "frequency_plan_id,ids.application_ids.application_id,ids.dev_eui,ids.device_id,"
    "ids.join_eui,lorawan_phy_version,lorawan_version,mac_settings.rx1_delay,name,"
    "root_keys.app_key.key,session.dev_addr,session.keys.app_s_key.key,"
    "session.keys.f_nwk_s_int_key.key,supports_join";

static void test_conv_json__invalid_json(void **state)
{
    (void)state;
    t_result_t r;
    t_fixture_convert(JSON, "devicetemplates/tts-json-InvalidJSON.json", &r);
    t_err(&r, "json_token", "1", "1");
    assert_string_equal(r.err.def->ns, "pkg/util/io");
    assert_int_equal(r.err.def->grpc_code, 3); /* InvalidArgument, as the test asserts */
    assert_int_equal(r.n, 0);
    t_result_free(&r);
}

static void test_conv_json__one_device(void **state)
{
    (void)state;
    t_result_t r;
    t_fixture_convert(JSON, "devicetemplates/tts-json-OneDevice.json", &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 1);
    t_dev_equal(r.dev[0], otaa_device);
    assert_string_equal(r.mask[0], otaa_mask);
    assert_int_equal(r.line[0], 1);
    validate(&r);
    t_result_free(&r);
}

static void test_conv_json__one_abp_one_otaa(void **state)
{
    (void)state;
    t_result_t r;
    t_fixture_convert(JSON, "devicetemplates/tts-json-OneABPOneOTAA.json", &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 2);
    t_dev_equal(r.dev[0], abp_device);
    assert_string_equal(r.mask[0], abp_mask);
    t_dev_equal(r.dev[1], otaa_device);
    assert_string_equal(r.mask[1], otaa_mask);
    assert_int_equal(r.line[0], 1);
    assert_int_equal(r.line[1], 22); /* after the ABP device's 20 lines and an empty one */
    validate(&r);
    t_result_free(&r);
}

/* One template, then InvalidArgument (json_token) where "invalid json" begins. */
static void test_conv_json__one_ok_one_error(void **state)
{
    (void)state;
    size_t n = 0;
    char *b = t_fixture("devicetemplates/tts-json-OneOKOneError.json", &n);
    const char *bad = strstr(b, "invalid json");
    assert_non_null(bad);
    unsigned line = 1, col = 1;
    for (const char *p = b; p < bad; p++) {
        if (*p == '\n')
            line++, col = 1;
        else
            col++;
    }
    char l[16], c[16];
    snprintf(l, sizeof l, "%u", line);
    snprintf(c, sizeof c, "%u", col);
    t_result_t r;
    t_convert_all(JSON, b, n, &r);
    t_err(&r, "json_token", l, c);
    assert_int_equal(r.n, 1);
    t_dev_equal(r.dev[0], abp_device);
    assert_string_equal(r.mask[0], abp_mask);
    t_result_free(&r);
    free(b);
}

static void test_conv_json__one_with_session(void **state)
{
    (void)state;
    t_result_t r;
    t_fixture_convert(JSON, "devicetemplates/tts-json-OneWithSession.json", &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 1);
    t_dev_equal(r.dev[0], otaa_with_session);
    assert_string_equal(r.mask[0], otaa_with_session_mask);
    validate(&r);
    t_result_free(&r);
}

static void test_conv_json__one_with_session_one_without(void **state)
{
    (void)state;
    t_result_t r;
    t_fixture_convert(JSON, "devicetemplates/tts-json-OneWithSessionOneWithout.json", &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 2);
    t_dev_equal(r.dev[0], otaa_with_session);
    assert_string_equal(r.mask[0], otaa_with_session_mask);
    t_dev_equal(r.dev[1],
                "{\"ids\": {\"device_id\": \"abp-device-error\", \"application_ids\":"
                " {\"application_id\": \"test-app\"}, \"dev_eui\": \"0102030405060708\","
                " \"join_eui\": \"0807060504030201\"}, \"frequency_plan_id\": \"US_902_928_FSB_2\","
                " \"lorawan_version\": \"MAC_V1_0_2\", \"lorawan_phy_version\":"
                " \"PHY_V1_0_2_REV_B\", \"mac_settings\": {}}");
    assert_string_equal(r.mask[1],
                        "frequency_plan_id,ids.application_ids.application_id,ids.dev_eui,"
                        "ids.device_id,ids.join_eui,lorawan_phy_version,lorawan_version,"
                        "mac_settings");
    validate(&r);
    t_result_free(&r);
}

/* A root "dev_addr" is no EndDevice field: ignored; ids.dev_addr would be removed too. */
static void test_conv_json__removes_dev_addr_from_root(void **state)
{
    (void)state;
    t_result_t r;
    t_fixture_convert(JSON, "devicetemplates/tts-json-RemovesDevAddrFromRoot.json", &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 1);
    assert_null(json_object_get(r.dev[0], "dev_addr"));
    assert_null(json_object_get(json_object_get(r.dev[0], "ids"), "dev_addr"));
    assert_null(strstr(r.mask[0], "dev_addr"));
    t_dev_equal(r.dev[0], "{\"ids\": {\"device_id\": \"otaa-device\", \"application_ids\":"
                          " {\"application_id\": \"test-app\"}, \"dev_eui\": \"0102030405060708\","
                          " \"join_eui\": \"0807060504030201\"}, \"frequency_plan_id\":"
                          " \"EU_863_870\", \"lorawan_version\": \"MAC_V1_0_2\","
                          " \"lorawan_phy_version\": \"PHY_V1_0_2_REV_B\", \"root_keys\":"
                          " {\"app_key\": {\"key\": \"01020304010203040102030401020304\"}},"
                          " \"supports_join\": true}");
    assert_string_equal(r.mask[0], otaa_mask);
    t_result_free(&r);

    const char *in = "{\"ids\": {\"dev_addr\": \"01020304\"}, \"name\": \"x\"}";
    t_convert_all(JSON, in, strlen(in), &r);
    assert_int_equal(r.n, 1);
    t_dev_equal(r.dev[0], "{\"ids\": {}, \"name\": \"x\"}");
    assert_string_equal(r.mask[0], "name");
    t_result_free(&r);
}

static void conv_text(const char *text, t_result_t *r)
{
    t_convert_all(JSON, text, strlen(text), r);
}

/* One array or objects back to back; camelCase; unknown fields; what counts as set. */
static void test_conv_json__decoder_rules(void **state)
{
    (void)state;
    t_result_t r;
    conv_text(" [ {\"name\": \"a\"} ,\n{\"name\": \"b\"}, null ]\n", &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.mask[0], "ids,name");
    t_dev_equal(r.dev[0], "{\"ids\": {}, \"name\": \"a\"}");
    assert_int_equal(r.line[1], 2);
    t_dev_equal(r.dev[2], "{\"ids\": {}}");
    assert_string_equal(r.mask[2], "ids");
    t_result_free(&r);

    conv_text("{\"name\":\"a\"}{\"name\":\"b\"}", &r);
    assert_int_equal(r.n, 2);
    t_result_free(&r);

    conv_text("{\"ids\": {\"deviceId\": \"d\", \"devEui\": \"0102030405060708\"},"
              " \"lorawanPhyVersion\": \"RP002_V1_0_3\", \"macSettings\": {\"supports32BitFCnt\":"
              " false, \"rx2DataRateIndex\": \"DATA_RATE_3\", \"rx2Frequency\": 869525000,"
              " \"desiredMaxDutyCycle\": \"DUTY_CYCLE_128\", \"adr\": {\"static\":"
              " {\"dataRateIndex\": 5, \"nbTrans\": 0}}}, \"unknown\": {\"x\": 1},"
              " \"supportsClassB\": false, \"attributes\": {\"k\": \"v\"},"
              " \"session\": {\"keys\": {}, \"lastFCntUp\": \"1000\"},"
              " \"rootKeys\": {\"appKey\": {\"key\": \"00000000000000000000000000000000\"}}}",
              &r);
    assert_int_equal(r.rc, 0);
    t_dev_equal(r.dev[0],
                "{\"ids\": {\"device_id\": \"d\", \"dev_eui\": \"0102030405060708\"},"
                " \"lorawan_phy_version\": \"RP002_V1_0_3\", \"mac_settings\":"
                " {\"supports_32_bit_f_cnt\": false, \"rx2_data_rate_index\": 3,"
                " \"rx2_frequency\": \"869525000\", \"desired_max_duty_cycle\": \"DUTY_CYCLE_128\","
                " \"adr\": {\"static\": {\"data_rate_index\": 5}}},"
                " \"attributes\": {\"k\": \"v\"}, \"session\": {\"last_f_cnt_up\": 1000},"
                " \"root_keys\": {\"app_key\": {}}}");
    assert_string_equal(r.mask[0],
                        "attributes,ids.dev_eui,ids.device_id,lorawan_phy_version,"
                        "mac_settings.adr.mode.static.data_rate_index,"
                        "mac_settings.desired_max_duty_cycle,mac_settings.rx2_data_rate_index,"
                        "mac_settings.rx2_frequency,mac_settings.supports_32_bit_f_cnt,"
                        "root_keys.app_key,session.last_f_cnt_up");
    validate(&r);
    t_result_free(&r);

    /* an empty stream: no template, no error */
    conv_text(" \n\t ", &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 0);
    t_result_free(&r);

    /* a UTF-8 byte-order mark is dropped */
    conv_text("\xEF\xBB\xBF{\"name\": \"caf\xC3\xA9\"}", &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(json_string_value(json_object_get(r.dev[0], "name")), "caf\xC3\xA9");
    t_result_free(&r);
}

static void test_conv_json__errors(void **state)
{
    (void)state;
    t_result_t r;
    conv_text("{\"name\": \"a\"},\n{\"name\": \"b\"}", &r);
    t_err(&r, "json_token", "1", "14");
    assert_int_equal(r.n, 1);
    t_result_free(&r);

    conv_text("[{\"name\": \"a\"},\n ]", &r);
    t_err(&r, "json_token", "2", "2");
    assert_int_equal(r.n, 1);
    t_result_free(&r);

    conv_text("[]", &r);
    t_err(&r, "json_token", "1", "2");
    t_result_free(&r);

    conv_text("[{\"name\": \"a\"}] [{\"name\": \"b\"}]", &r);
    t_err(&r, "json_token", "1", "17");
    t_result_free(&r);

    conv_text("{\"name\": \"a\"", &r);
    t_err(&r, "json_token", NULL, NULL);
    t_result_free(&r);

    /* jansson's syntax error inside an object, placed in the file */
    conv_text("\n  {\"name\": \"a\",\n   \"x\": tru}", &r);
    t_err(&r, "json_token", "3", NULL);
    t_result_free(&r);

    /* a value of the wrong kind: parse_json_field naming the field, where its device began */
    conv_text("{\"name\": \"ok\"}\n\n  {\"ids\": {\"dev_eui\": \"0102\"}}", &r);
    t_err(&r, "parse_json_field", "3", "3");
    assert_string_equal(t_attr(&r.err, "field"), "ids.dev_eui");
    assert_int_equal(r.n, 1);
    t_result_free(&r);

    conv_text("{\"lorawan_version\": \"MAC_V9\"}", &r);
    t_err(&r, "parse_json_field", "1", "1");
    assert_string_equal(t_attr(&r.err, "field"), "lorawan_version");
    t_result_free(&r);

    conv_text("{\"supports_join\": \"true\"}", &r);
    t_err(&r, "parse_json_field", "1", "1");
    t_result_free(&r);

    conv_text("{\"session\": {\"last_f_cnt_up\": 4294967296}}", &r);
    t_err(&r, "parse_json_field", "1", "1");
    assert_string_equal(t_attr(&r.err, "field"), "session.last_f_cnt_up");
    t_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_json__invalid_json),
        cmocka_unit_test(test_conv_json__one_device),
        cmocka_unit_test(test_conv_json__one_abp_one_otaa),
        cmocka_unit_test(test_conv_json__one_ok_one_error),
        cmocka_unit_test(test_conv_json__one_with_session),
        cmocka_unit_test(test_conv_json__one_with_session_one_without),
        cmocka_unit_test(test_conv_json__removes_dev_addr_from_root),
        cmocka_unit_test(test_conv_json__decoder_rules),
        cmocka_unit_test(test_conv_json__errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
