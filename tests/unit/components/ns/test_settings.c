/* Tests of components/ns/settings.c and version.c: TTS mac_settings JSON (wrapped and plain
 * values, enum names) and version names; the shared settings of state.c (ns_settings_intern)
 * and the compact parts of a device's state (pending session, folded recent ids). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Equal settings (EUIs aside) are one shared copy; a different one is another; the last
 * release frees it. */
static void test_ns_settings_intern__shares_equal_settings(void **state)
{
    (void)state;
    ns_t ns;
    memset(&ns, 0, sizeof ns);
    lw_err_t e;
    ns_settings_t a, b, c;
    assert_int_equal(parse("{\"rx1_delay\":{\"value\":\"RX_DELAY_3\"}}", &a, &e), 0);
    a.mac_json = strdup("{\"rx1_delay\":\"RX_DELAY_3\"}");
    snprintf(a.fp_id, sizeof a.fp_id, "EU_863_870_TTN");
    a.has_dev_eui = true;
    a.dev_eui = 0x0102030405060708ull;
    b = a;
    b.mac_json = strdup(a.mac_json);
    b.dev_eui = 0x1112131415161718ull; /* another device, same profile */
    c = a;
    c.mac_json = strdup(a.mac_json);
    snprintf(c.fp_id, sizeof c.fp_id, "US_902_928_FSB_2");

    const ns_settings_t *sa = ns_settings_intern(&ns, &a);
    const ns_settings_t *sb = ns_settings_intern(&ns, &b);
    const ns_settings_t *sc = ns_settings_intern(&ns, &c);
    assert_ptr_equal(sa, sb);
    assert_ptr_not_equal(sa, sc);
    assert_int_equal(ns.nsrefs, 2);
    /* The shared copy has the settings, not a device's EUIs; the inputs are left empty. */
    assert_string_equal(sa->fp_id, "EU_863_870_TTN");
    assert_int_equal(sa->mac.rx1_delay, 3);
    assert_false(sa->has_dev_eui);
    assert_int_equal(sa->dev_eui, 0);
    assert_null(a.mac_json);
    assert_null(b.mac_json);

    ns_settings_release(&ns, sa);
    assert_int_equal(ns.nsrefs, 2); /* b still holds it */
    ns_settings_release(&ns, sb);
    assert_int_equal(ns.nsrefs, 1);
    ns_settings_release(&ns, &ns_settings_none); /* ignored */
    ns_settings_release(&ns, NULL);
    ns_settings_release(&ns, sc);
    assert_int_equal(ns.nsrefs, 0);
    ns_settings_pool_free(&ns);
}

/* The pending session is allocated only while there is one, and survives the record at
 * rest; recent ids are folded to 8 bytes, and records of the 16-byte form still match. */
static void test_ns_state__pending_and_recent_at_rest(void **state)
{
    (void)state;
    ns_state_t st;
    ns_state_init(&st);
    assert_null(st.pending);
    assert_false(ns_state_pending(&st)->valid);
    ns_session_t p = {.valid = true, .dev_addr = 0x26000042};
    ns_state_set_pending(&st, &p);
    assert_non_null(st.pending);
    assert_int_equal(ns_state_pending(&st)->dev_addr, 0x26000042);
    uint8_t id1[LW_MSG_ID_LEN] = {0}, id2[LW_MSG_ID_LEN] = {0};
    id1[15] = 1; /* ids that differ only in their second half stay apart */
    id2[15] = 2;
    ns_state_recent_add(&st, id1);
    assert_true(ns_state_recent_has(&st, id1));
    assert_false(ns_state_recent_has(&st, id2));

    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(ns_state_encode(&st, NULL, &buf, &len), 0);
    ns_state_t back;
    ns_state_init(&back);
    assert_int_equal(ns_state_decode(buf, len, NULL, NULL, &back), 0);
    assert_non_null(back.pending);
    assert_int_equal(back.pending->dev_addr, 0x26000042);
    assert_true(ns_state_recent_has(&back, id1));
    assert_false(ns_state_recent_has(&back, id2));
    free(buf);
    ns_state_clear_pending(&back);
    assert_null(back.pending);
    ns_state_destroy(&back);
    ns_state_destroy(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ns_mac_settings_parse__tts_shapes),
        cmocka_unit_test(test_ns_mac_settings_parse__adr_modes),
        cmocka_unit_test(test_ns_mac_settings_parse__errors_name_the_field),
        cmocka_unit_test(test_ns_version_parse__names),
        cmocka_unit_test(test_ns_settings_intern__shares_equal_settings),
        cmocka_unit_test(test_ns_state__pending_and_recent_at_rest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
