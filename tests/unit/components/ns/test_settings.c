/* Tests of components/ns/settings.c and version.c: TTS mac_settings JSON (wrapped and plain
 * values, enum names) and version names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ns/ns_private.h"

static int parse(const char *text, ns_settings_t *s, lw_err_t *e)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    memset(s, 0, sizeof *s);
    lw_err_clear(e);
    int rc = ns_mac_settings_parse(j, "end_device.mac_settings", s, e);
    json_decref(j);
    return rc;
}

static void test_ns_mac_settings_parse__tts_shapes(void **state)
{
    (void)state;
    ns_settings_t s;
    lw_err_t e;
    assert_int_equal(
        parse("{\"rx1_delay\":{\"value\":\"RX_DELAY_3\"},\"rx2_data_rate_index\":{\"value\":"
              "\"DATA_RATE_3\"},\"rx2_frequency\":{\"value\":\"869525000\"},\"resets_f_cnt\":"
              "{\"value\":true},\"supports_32_bit_f_cnt\":false,\"class_c_timeout\":\"600s\","
              "\"max_duty_cycle\":{\"value\":\"DUTY_CYCLE_16\"},\"factory_preset_frequencies\":["
              "\"868100000\",868300000],\"adr\":{\"static\":{\"data_rate_index\":\"DATA_RATE_5\","
              "\"tx_power_index\":1,\"nb_trans\":2}}}",
              &s, &e),
        0);
    assert_true(s.mac.has_rx1_delay);
    assert_int_equal(s.mac.rx1_delay, 3);
    assert_int_equal(s.mac.rx2_data_rate_index, 3);
    assert_int_equal(s.mac.rx2_frequency, 869525000);
    assert_true(s.has_resets_f_cnt && s.resets_f_cnt);
    assert_true(s.has_supports_32 && !s.supports_32);
    assert_int_equal(s.class_c_timeout_s, 600);
    assert_int_equal(s.mac.max_duty_cycle, 4);
    assert_int_equal(s.mac.n_factory_preset_frequencies, 2);
    assert_int_equal(s.mac.factory_preset_frequencies[1], 868300000);
    assert_int_equal(s.mac.adr.mode, NS_ADR_MODE_STATIC);
    assert_int_equal(s.mac.adr.static_mode.data_rate_index, 5);
    assert_int_equal(s.mac.adr.static_mode.nb_trans, 2);
}

static void test_ns_mac_settings_parse__adr_modes(void **state)
{
    (void)state;
    ns_settings_t s;
    lw_err_t e;
    assert_int_equal(parse("{\"adr\":{\"disabled\":{}}}", &s, &e), 0);
    assert_int_equal(s.mac.adr.mode, NS_ADR_MODE_DISABLED);
    assert_int_equal(parse("{\"adr\":{\"dynamic\":{\"margin\":10,\"max_data_rate_index\":{"
                           "\"value\":\"DATA_RATE_4\"}}}}",
                           &s, &e),
                     0);
    assert_int_equal(s.mac.adr.mode, NS_ADR_MODE_DYNAMIC);
    assert_true(s.mac.adr.dynamic.has_margin);
    assert_true(s.mac.adr.dynamic.margin == 10.0f);
    assert_int_equal(s.mac.adr.dynamic.max_data_rate_index, 4);
    assert_int_equal(parse("{\"use_adr\":{\"value\":false}}", &s, &e), 0);
    assert_int_equal(s.mac.adr.mode, NS_ADR_MODE_DISABLED);
}

static void test_ns_mac_settings_parse__errors_name_the_field(void **state)
{
    (void)state;
    ns_settings_t s;
    lw_err_t e;
    assert_int_equal(parse("{\"rx1_delay\":\"RX_DELAY_16\"}", &s, &e), -1);
    assert_string_equal(lw_err_name(&e), "invalid_field");
    assert_string_equal(e.attrs[0].value, "end_device.mac_settings.rx1_delay");
    assert_int_equal(parse("{\"colour\":1}", &s, &e), -1);
    assert_string_equal(lw_err_name(&e), "unknown_field");
    assert_int_equal(parse("{\"max_duty_cycle\":\"DUTY_CYCLE_3\"}", &s, &e), -1);
    assert_int_equal(parse("{\"adr\":{\"static\":{},\"disabled\":{}}}", &s, &e), -1);
}

static void test_ns_version_parse__names(void **state)
{
    (void)state;
    unsigned minor = 9, patch = 9;
    assert_int_equal(ns_version_parse("MAC_V1_0_3", &minor, &patch), 0);
    assert_int_equal(minor, 0);
    assert_int_equal(patch, 3);
    assert_int_equal(ns_version_parse("MAC_V1_1", &minor, &patch), 0);
    assert_int_equal(minor, 1);
    assert_int_equal(ns_version_parse("MAC_V2", &minor, &patch), -1);
    assert_string_equal(ns_mac_version_bi("MAC_V1_0_2"), "1.0.2");
    lorawan_rp_rev_t rev;
    assert_int_equal(ns_phy_version_parse("PHY_V1_0_2_REV_B", &rev), 0);
    assert_int_equal(rev, LORAWAN_RP001_1_0_2_B);
    assert_int_equal(ns_phy_version_parse("RP002_V1_0_3", &rev), 0);
    assert_int_equal(rev, LORAWAN_RP002_1_0_3);
    assert_int_equal(ns_phy_version_parse("RP003", &rev), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ns_mac_settings_parse__tts_shapes),
        cmocka_unit_test(test_ns_mac_settings_parse__adr_modes),
        cmocka_unit_test(test_ns_mac_settings_parse__errors_name_the_field),
        cmocka_unit_test(test_ns_version_parse__names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
