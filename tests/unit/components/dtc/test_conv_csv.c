/* the-things-stack-csv against The Things Stack's own test files (read in place from
 * ../shared/fixtures/the-things-stack/devicetemplates/, TheThingsNetwork/lorawan-stack
 * pkg/devicetemplates/testdata and ttscsv_test.go TestTTSCSVConverter): for each file the
 * templates and field masks that test asserts, field by field and exactly (The Things
 * Stack's test checks the masks with RequireFields; the masks here are exactly the paths its
 * column setters name), and its error cases by name, line and column. Then Go's csv reader
 * rules the converter follows (quotes, field counts, empty lines, \r\n, white space,
 * separators) and charsets (BOMs, UTF-16, Windows-1252). Every input is also fed in 1-byte
 * and 7-byte pieces with the same result. */
#include "conv_test_util.h"

static const char *const CSV = "the-things-stack-csv";

/* TestTTSCSVConverter "AllColumns": 3 templates; the third's mask. */
static void test_conv_csv__all_columns(void **state)
{
    (void)state;
    t_result_t r;
    t_fixture_convert(CSV, "devicetemplates/tts-csv-all_columns.csv", &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.mask[2],
                        "description,frequency_plan_id,ids.dev_eui,ids.device_id,ids.join_eui,"
                        "lora_alliance_profile_ids.vendor_id,"
                        "lora_alliance_profile_ids.vendor_profile_id,lorawan_phy_version,"
                        "lorawan_version,mac_settings.rx1_delay,"
                        "mac_settings.supports_32_bit_f_cnt,name,root_keys.app_key.key,"
                        "root_keys.nwk_key.key,session.dev_addr,session.keys.app_s_key.key,"
                        "session.keys.f_nwk_s_int_key.key,session.last_a_f_cnt_down,"
                        "session.last_f_cnt_up,session.last_n_f_cnt_down,supports_class_c,"
                        "supports_join,version_ids.band_id,version_ids.brand_id,"
                        "version_ids.firmware_version,version_ids.hardware_version,"
                        "version_ids.model_id");
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(r.mask[i], r.mask[2]);
    /* the session key ID is a new ULID: 16 bytes, base64 */
    json_t *keys = json_object_get(json_object_get(r.dev[2], "session"), "keys");
    const char *skid = json_string_value(json_object_get(keys, "session_key_id"));
    assert_non_null(skid);
    assert_int_equal(strlen(skid), 24);
    assert_string_equal(skid + 22, "==");
    json_object_del(keys, "session_key_id");
    t_dev_equal(r.dev[2],
                "{\"ids\": {\"device_id\": \"test-three\", \"dev_eui\": \"3333333333333333\","
                " \"join_eui\": \"3333333333333333\"},"
                " \"name\": \"Device 3\", \"description\": \"description three\","
                " \"frequency_plan_id\": \"EU_863_870_TTN\", \"lorawan_version\": \"MAC_V1_0_4\","
                " \"lorawan_phy_version\": \"RP002_V1_0_3\","
                " \"version_ids\": {\"brand_id\": \"the-things-industries\", \"model_id\":"
                " \"generic-node\", \"hardware_version\": \"1.0.4\", \"firmware_version\": \"1.0\","
                " \"band_id\": \"EU_863_870\"},"
                " \"root_keys\": {\"app_key\": {\"key\": \"33333333333333333333333333333333\"},"
                " \"nwk_key\": {\"key\": \"01020304050607080102030405060708\"}},"
                " \"supports_join\": true,"
                " \"mac_settings\": {\"rx1_delay\": 5, \"supports_32_bit_f_cnt\": false},"
                " \"session\": {\"dev_addr\": \"01020304\", \"keys\": {"
                " \"app_s_key\": {\"key\": \"01020304050607080102030405060708\"},"
                " \"f_nwk_s_int_key\": {\"key\": \"01020304050607080102030405060708\"}},"
                " \"last_f_cnt_up\": 12, \"last_n_f_cnt_down\": 12, \"last_a_f_cnt_down\": 12},"
                " \"lora_alliance_profile_ids\": {\"vendor_id\": 1, \"vendor_profile_id\": 1}}");
    /* the first row: supports_class_c true, supports_32_bit_f_cnt false */
    assert_true(json_is_true(json_object_get(r.dev[0], "supports_class_c")));
    assert_true(json_is_true(
        json_object_get(json_object_get(r.dev[1], "mac_settings"), "supports_32_bit_f_cnt")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(r.dev[0], "ids"), "device_id")),
        "test-one");
    assert_int_equal(r.line[0], 2);
    assert_int_equal(r.line[2], 4);
    t_result_free(&r);
}

static void test_conv_csv__extra_columns(void **state)
{
    (void)state;
    t_result_t r;
    t_fixture_convert(CSV, "devicetemplates/tts-csv-extra_columns.csv", &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.mask[0], "ids.dev_eui,ids.device_id");
    t_dev_equal(r.dev[0], "{\"ids\": {\"dev_eui\": \"1122334455667788\","
                          " \"device_id\": \"eui-1122334455667788\"}}");
    t_result_free(&r);
}

/* "EmptyString": an error, no template (no header: csv_header). */
static void test_conv_csv__empty_string(void **state)
{
    (void)state;
    t_result_t r;
    t_fixture_convert(CSV, "devicetemplates/tts-csv-EmptyString.csv", &r);
    t_err(&r, "csv_header", NULL, NULL);
    assert_string_equal(r.err.def->ns, "pkg/devicetemplates");
    assert_int_equal(r.err.def->http_status, 400);
    assert_int_equal(r.n, 0);
    t_result_free(&r);
}

/* "InvalidDevEUI": an error before any template: parse_csv_field, record 1, column 1. */
static void test_conv_csv__invalid_dev_eui(void **state)
{
    (void)state;
    t_result_t r;
    t_fixture_convert(CSV, "devicetemplates/tts-csv-invalid_deveui.csv", &r);
    t_err(&r, "parse_csv_field", "1", "1");
    assert_string_equal(t_attr(&r.err, "file_line"), "2");
    assert_string_equal(t_attr(&r.err, "field"), "dev_eui");
    assert_int_equal(r.n, 0);
    t_result_free(&r);
}

static void test_conv_csv__generate_device_id(void **state)
{
    (void)state;
    t_result_t r;
    t_fixture_convert(CSV, "devicetemplates/tts-csv-generate_device_id.csv", &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.mask[0], "ids.dev_eui,ids.device_id");
    t_dev_equal(r.dev[0], "{\"ids\": {\"dev_eui\": \"111111111111111A\","
                          " \"device_id\": \"eui-111111111111111a\"}}");
    t_result_free(&r);
}

static void test_conv_csv__app_eui(void **state)
{
    (void)state;
    t_result_t r;
    t_fixture_convert(CSV, "devicetemplates/tts-csv-appeui.csv", &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.mask[0], "ids.dev_eui,ids.device_id,ids.join_eui");
    t_dev_equal(r.dev[0], "{\"ids\": {\"join_eui\": \"1111111111111111\", \"dev_eui\":"
                          " \"2222222222222222\", \"device_id\": \"eui-2222222222222222\"}}");
    t_result_free(&r);
}

static void test_conv_csv__comma_separated(void **state)
{
    (void)state;
    t_result_t r;
    t_fixture_convert(CSV, "devicetemplates/tts-csv-comma_separated.csv", &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.mask[0], "ids.dev_eui,ids.device_id,ids.join_eui,root_keys.app_key.key,"
                                   "root_keys.nwk_key.key,supports_join");
    t_dev_equal(r.dev[0],
                "{\"ids\": {\"device_id\": \"test-one\", \"dev_eui\": \"1111111111111111\","
                " \"join_eui\": \"1111111111111111\"}, \"root_keys\": {\"app_key\": {\"key\":"
                " \"11111111111111111111111111111111\"}, \"nwk_key\": {\"key\":"
                " \"01020304050607080102030405060708\"}}, \"supports_join\": true}");
    t_result_free(&r);
}

/* "VendorID/No valid fields" (without_version_id.csv): the mask has the file's columns. */
static void test_conv_csv__without_version_id(void **state)
{
    (void)state;
    t_result_t r;
    t_fixture_convert(CSV, "devicetemplates/tts-csv-without_version_id.csv", &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.mask[0], "frequency_plan_id,ids.dev_eui,ids.device_id,ids.join_eui,"
                                   "lorawan_version,name");
    t_dev_equal(r.dev[0],
                "{\"ids\": {\"device_id\": \"test-vendor\", \"dev_eui\": \"1111111111111111\","
                " \"join_eui\": \"1111111111111111\"}, \"name\": \"Device with vendorID\","
                " \"frequency_plan_id\": \"EU_863_870_TTN\", \"lorawan_version\": \"MAC_V1_0_4\"}");
    t_result_free(&r);
}

/* with_version_id.csv: the file's columns; lwstack has no Device Repository to merge a
 * profile from, so the template is the file's alone (The Things Stack's "VendorID/Valid"
 * merges a mock repository's profile on top). */
static void test_conv_csv__with_version_id(void **state)
{
    (void)state;
    t_result_t r;
    t_fixture_convert(CSV, "devicetemplates/tts-csv-with_version_id.csv", &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.mask[0],
                        "frequency_plan_id,ids.dev_eui,ids.device_id,ids.join_eui,"
                        "lora_alliance_profile_ids.vendor_id,lorawan_version,name,"
                        "version_ids.band_id,version_ids.brand_id,version_ids.firmware_version,"
                        "version_ids.hardware_version,version_ids.model_id");
    t_dev_equal(r.dev[0],
                "{\"ids\": {\"device_id\": \"test-vendor\", \"dev_eui\": \"1111111111111111\","
                " \"join_eui\": \"1111111111111111\"}, \"name\": \"Device with vendorID\","
                " \"frequency_plan_id\": \"EU_863_870_TTN\", \"lorawan_version\": \"MAC_V1_0_4\","
                " \"version_ids\": {\"brand_id\": \"the-things-industries\", \"model_id\":"
                " \"generic-node-sensor-edition\", \"hardware_version\": \"1.1\","
                " \"firmware_version\": \"1.0\", \"band_id\": \"EU_863_870\"},"
                " \"lora_alliance_profile_ids\": {\"vendor_id\": 428}}");
    t_result_free(&r);
}

/* "VendorID/Valid fallback value": the request's end_device_version_ids are every record's
 * version_ids; they are not in the mask. */
static void test_conv_csv__version_ids_fallback(void **state)
{
    (void)state;
    size_t n = 0;
    char *b = t_fixture("devicetemplates/tts-csv-without_version_id.csv", &n);
    json_t *vids = json_pack("{ss ss ss ss ss}", "band_id", "EU_863_870", "brand_id",
                             "the-things-industries", "firmware_version", "1.0", "hardware_version",
                             "1.1", "model_id", "generic-node-sensor-edition");
    dtc_conv_opts_t o = {.end_device_version_ids = vids};
    t_result_t r;
    t_convert_opts(CSV, b, n, 0, &o, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.mask[0], "frequency_plan_id,ids.dev_eui,ids.device_id,ids.join_eui,"
                                   "lorawan_version,name");
    assert_true(json_equal(json_object_get(r.dev[0], "version_ids"), vids));
    t_result_free(&r);
    json_decref(vids);
    free(b);
}

/* The Things Stack's documentation's minimal OTAA file. */
static void test_conv_csv__docs_minimal_otaa(void **state)
{
    (void)state;
    t_result_t r;
    t_fixture_convert(CSV, "devicetemplates/csv-docs-minimal-otaa.csv", &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(r.mask[i], "frequency_plan_id,ids.dev_eui,ids.device_id,ids.join_eui,"
                                       "lorawan_phy_version,lorawan_version,"
                                       "root_keys.app_key.key,supports_join");
    t_dev_equal(r.dev[1],
                "{\"ids\": {\"dev_eui\": \"2222222222222222\", \"join_eui\": \"2222222222222222\","
                " \"device_id\": \"eui-2222222222222222\"}, \"frequency_plan_id\":"
                " \"EU_863_870_TTN\", \"lorawan_version\": \"MAC_V1_0_4\", \"lorawan_phy_version\":"
                " \"RP002_V1_0_3\", \"root_keys\": {\"app_key\": {\"key\":"
                " \"22222222222222222222222222222222\"}}, \"supports_join\": true}");
    t_result_free(&r);
}

static void conv_text(const char *text, t_result_t *r)
{
    t_convert_all(CSV, text, strlen(text), r);
}

/* Go's csv.Reader errors: start line, line, 1-based byte column, message. */
static void test_conv_csv__reader_errors(void **state)
{
    (void)state;
    t_result_t r;
    conv_text("dev_eui;name\n1111111111111111;a\"b\n", &r);
    t_err(&r, "parse_csv", "2", "19");
    assert_string_equal(t_attr(&r.err, "start_line"), "2");
    assert_string_equal(t_attr(&r.err, "message"), "bare \" in non-quoted-field");
    t_result_free(&r);

    conv_text("dev_eui;name\n1111111111111111;\"a\"b\n", &r);
    t_err(&r, "parse_csv", "2", "20");
    assert_string_equal(t_attr(&r.err, "message"), "extraneous or missing \" in quoted-field");
    t_result_free(&r);

    /* the end of the file inside a quoted field that began two lines up */
    conv_text("dev_eui;name\n1111111111111111;\"a\nb\nc", &r);
    t_err(&r, "parse_csv", "4", "2");
    assert_string_equal(t_attr(&r.err, "start_line"), "2");
    t_result_free(&r);

    conv_text("dev_eui;name\n1111111111111111;x\n2222222222222222\n", &r);
    t_err(&r, "parse_csv", "3", "1");
    assert_string_equal(t_attr(&r.err, "message"), "wrong number of fields");
    assert_int_equal(r.n, 1); /* the good row before it was emitted */
    t_result_free(&r);

    /* a bad value after two good records: parse_csv_field counts records, not lines */
    conv_text("dev_eui;last_f_cnt_up\n\n1111111111111111;1\n2222222222222222;2\n"
              "3333333333333333;-3\n",
              &r);
    t_err(&r, "parse_csv_field", "3", "2");
    assert_string_equal(t_attr(&r.err, "file_line"), "5");
    assert_int_equal(r.n, 2);
    t_result_free(&r);

    conv_text("foo;bar\n1;2\n", &r);
    t_err(&r, "csv_header", NULL, NULL);
    t_result_free(&r);
}

/* Quoting, empty lines, CRLF, leading white space, separators. */
static void test_conv_csv__reader_rules(void **state)
{
    (void)state;
    t_result_t r;
    /* the separator comes from the first line, even an empty one: ';' here */
    conv_text("\r\ndev_eui,name\r\n1111111111111111,a\r\n", &r);
    t_err(&r, "csv_header", NULL, NULL);
    t_result_free(&r);

    conv_text("  dev_eui,name\r\n\r\n1111111111111111, \"a \"\"quoted\"\",\r\nname\"\r\n"
              "  2222222222222222,   b  \r\n",
              &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(json_string_value(json_object_get(r.dev[0], "name")),
                        "a \"quoted\",\nname");
    assert_string_equal(json_string_value(json_object_get(r.dev[1], "name")), "b  ");
    assert_int_equal(r.line[0], 3);
    assert_int_equal(r.line[1], 5);
    t_result_free(&r);

    /* a header column with trailing white space is not that column */
    conv_text("dev_eui ;name\n1111111111111111;x\n", &r);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.mask[0], "name");
    t_result_free(&r);

    /* ';' wins over ',' on the first line */
    conv_text("dev_eui;name\n1111111111111111;a,b\n", &r);
    assert_int_equal(r.n, 1);
    assert_string_equal(json_string_value(json_object_get(r.dev[0], "name")), "a,b");
    t_result_free(&r);

    /* no separator on the first line: ';' */
    conv_text("dev_eui\n1111111111111111\n", &r);
    assert_int_equal(r.n, 1);
    t_result_free(&r);

    /* enumerations by name, alias or number; booleans as The Things Stack parses them */
    conv_text("dev_eui;lorawan_version;lorawan_phy_version;rx1_delay;supports_class_c\n"
              "1111111111111111;1.0.3;1.0.2-b;RX_DELAY_0;T\n"
              "2222222222222222;MAC_V1_1;RP001_V1_1_REV_B;15;0\n",
              &r);
    assert_int_equal(r.rc, 0);
    t_dev_equal(r.dev[0], "{\"ids\": {\"dev_eui\": \"1111111111111111\", \"device_id\":"
                          " \"eui-1111111111111111\"}, \"lorawan_version\": \"MAC_V1_0_3\","
                          " \"lorawan_phy_version\": \"PHY_V1_0_2_REV_B\", \"mac_settings\":"
                          " {\"rx1_delay\": 0}, \"supports_class_c\": true}");
    t_dev_equal(r.dev[1], "{\"ids\": {\"dev_eui\": \"2222222222222222\", \"device_id\":"
                          " \"eui-2222222222222222\"}, \"lorawan_version\": \"MAC_V1_1\","
                          " \"lorawan_phy_version\": \"PHY_V1_1_REV_B\", \"mac_settings\":"
                          " {\"rx1_delay\": 15}}");
    assert_string_equal(r.mask[1], "ids.dev_eui,ids.device_id,lorawan_phy_version,"
                                   "lorawan_version,mac_settings.rx1_delay,supports_class_c");
    t_result_free(&r);

    conv_text("dev_eui;supports_32_bit_f_cnt\n1111111111111111;True\n", &r);
    t_err(&r, "parse_csv_field", "1", "2");
    t_result_free(&r);
}

/* Charsets: UTF-8 BOM, UTF-16 LE and BE with BOMs, Windows-1252 without. */
static void test_conv_csv__charsets(void **state)
{
    (void)state;
    const char *plain = "dev_eui;name\n1111111111111111;Caf\xC3\xA9 \xE2\x82\xAC\n";
    t_result_t want;
    conv_text(plain, &want);
    assert_int_equal(want.n, 1);
    assert_string_equal(json_string_value(json_object_get(want.dev[0], "name")),
                        "Caf\xC3\xA9 \xE2\x82\xAC");

    t_result_t r;
    char bom[128];
    snprintf(bom, sizeof bom, "\xEF\xBB\xBF%s", plain);
    conv_text(bom, &r);
    t_same(&want, &r);
    t_result_free(&r);

    /* UTF-16: é is U+00E9, € U+20AC */
    const char *ascii = "dev_eui;name\n1111111111111111;Caf";
    uint8_t le[256], be[256];
    size_t n = 0;
    le[n] = 0xFF, be[n++] = 0xFE;
    le[n] = 0xFE, be[n++] = 0xFF;
    for (const char *p = ascii; *p != '\0'; p++) {
        le[n] = (uint8_t)*p, be[n++] = 0;
        le[n] = 0, be[n++] = (uint8_t)*p;
    }
    static const uint16_t tail[] = {0x00E9, 0x0020, 0x20AC, 0x000A};
    for (size_t i = 0; i < 4; i++) {
        le[n] = (uint8_t)(tail[i] & 0xFF), be[n++] = (uint8_t)(tail[i] >> 8);
        le[n] = (uint8_t)(tail[i] >> 8), be[n++] = (uint8_t)(tail[i] & 0xFF);
    }
    t_convert_all(CSV, le, n, &r);
    t_same(&want, &r);
    t_result_free(&r);
    t_convert_all(CSV, be, n, &r);
    t_same(&want, &r);
    t_result_free(&r);

    /* no byte >= 0x80 that reads as UTF-8 in the first 1024 bytes: Windows-1252 */
    conv_text("dev_eui;name\n1111111111111111;Caf\xE9 \x80\n", &r);
    t_same(&want, &r);
    t_result_free(&r);
    t_result_free(&want);

    /* UTF-8 decided on the first 1024 bytes; a bad byte later (and a NUL) becomes U+FFFD */
    char big[1400];
    int k = snprintf(big, sizeof big, "dev_eui;name\n1111111111111111;\xC3\xA9");
    memset(big + k, 'a', 1100);
    k += 1100;
    memcpy(big + k,
           "\xFF\x00"
           "b\n",
           4);
    k += 4;
    t_convert_all(CSV, big, (size_t)k, &r);
    assert_int_equal(r.n, 1);
    const char *name = json_string_value(json_object_get(r.dev[0], "name"));
    assert_int_equal(strlen(name), 2 + 1100 + 3 + 3 + 1);
    assert_memory_equal(name + 1102,
                        "\xEF\xBF\xBD\xEF\xBF\xBD"
                        "b",
                        7);
    t_result_free(&r);
}

static void test_conv_csv__unknown_format(void **state)
{
    (void)state;
    lw_err_t err;
    assert_null(dtc_conv_new(NULL, NULL, &err));
    assert_string_equal(lw_err_name(&err), "converter");
    assert_int_equal(err.def->http_status, 404);
    assert_null(dtc_format_find("vendor-nope"));
    size_t n = 0;
    const dtc_format_t *const *f = dtc_formats(&n);
    assert_true(n >= 2);
    assert_string_equal(f[0]->id, "the-things-stack");
    assert_string_equal(f[0]->name, "The Things Stack JSON");
    assert_string_equal(f[0]->description,
                        "File containing end devices in The Things Stack JSON format.");
    assert_string_equal(f[0]->file_extensions[0], ".json");
    assert_string_equal(f[1]->id, "the-things-stack-csv");
    assert_string_equal(f[1]->name, "The Things Stack CSV");
    assert_string_equal(f[1]->file_extensions[0], ".csv");
}

/* A converter that failed stays failed; a record longer than max_record fails alone. */
static void test_conv_csv__failed_and_bounded(void **state)
{
    (void)state;
    lw_err_t err;
    dtc_conv_opts_t o = {.max_record = 64};
    dtc_conv_t *c = dtc_conv_new(dtc_format_find(CSV), &o, &err);
    t_result_t r;
    memset(&r, 0, sizeof r);
    const char *ok = "dev_eui;name\n1111111111111111;a\n";
    assert_int_equal(dtc_conv_feed(c, ok, strlen(ok), t_collect, &r, &err), 0);
    char longline[3000];
    memset(longline, 'x', sizeof longline);
    assert_int_equal(dtc_conv_feed(c, longline, sizeof longline, t_collect, &r, &err), -1);
    assert_string_equal(lw_err_name(&err), "record_too_long");
    lw_err_clear(&err);
    assert_int_equal(dtc_conv_feed(c, "\n", 1, t_collect, &r, &err), -1);
    assert_string_equal(lw_err_name(&err), "record_too_long");
    assert_int_equal(dtc_conv_finish(c, t_collect, &r, &err), -1);
    assert_int_equal(r.n, 1);
    dtc_conv_free(c);
    t_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_csv__all_columns),
        cmocka_unit_test(test_conv_csv__extra_columns),
        cmocka_unit_test(test_conv_csv__empty_string),
        cmocka_unit_test(test_conv_csv__invalid_dev_eui),
        cmocka_unit_test(test_conv_csv__generate_device_id),
        cmocka_unit_test(test_conv_csv__app_eui),
        cmocka_unit_test(test_conv_csv__comma_separated),
        cmocka_unit_test(test_conv_csv__without_version_id),
        cmocka_unit_test(test_conv_csv__with_version_id),
        cmocka_unit_test(test_conv_csv__version_ids_fallback),
        cmocka_unit_test(test_conv_csv__docs_minimal_otaa),
        cmocka_unit_test(test_conv_csv__reader_errors),
        cmocka_unit_test(test_conv_csv__reader_rules),
        cmocka_unit_test(test_conv_csv__charsets),
        cmocka_unit_test(test_conv_csv__unknown_format),
        cmocka_unit_test(test_conv_csv__failed_and_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
