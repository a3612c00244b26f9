/* Tests of components/ns/mac/state.c: initialisation from band + plan + settings, the
 * join-accept parameters (DLSettings, RxDelay, CFList bytes), channel rendering. */
#include "mac_test_util.h"

static void test_ns_mac_state_init__eu868_abp_defaults(void **state)
{
    (void)state;
    dev_t d;
    dev_init(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2, NULL);
    const ns_mac_params_t *cur = &d.st.current_parameters, *des = &d.st.desired_parameters;
    assert_int_equal(ns_mac_channel_count(&d.st, cur), 3);
    assert_int_equal(ns_mac_channel_count(&d.st, des), 8);
    ns_mac_channel_t ch;
    assert_int_equal(ns_mac_channel_get(&d.st, cur, 2, &ch), 0);
    assert_int_equal(ch.uplink_frequency, 868500000);
    assert_int_equal(ch.downlink_frequency, 868500000);
    assert_int_equal(ch.min_data_rate_index, 0);
    assert_int_equal(ch.max_data_rate_index, 5);
    assert_true(ch.enable_uplink);
    assert_int_equal(ns_mac_channel_get(&d.st, des, 7, &ch), 0);
    assert_int_equal(ch.uplink_frequency, 867900000);
    assert_true(ch.enable_uplink);
    assert_int_equal(cur->rx1_delay, 1);
    assert_int_equal(des->rx1_delay, 5);
    assert_int_equal(cur->rx2_data_rate_index, 0);
    assert_int_equal(cur->rx2_frequency, 869525000);
    assert_int_equal(des->rx2_data_rate_index, 3);
    assert_int_equal(cur->adr_nb_trans, 1);
    assert_true(cur->max_eirp == 16.0f);
    assert_int_equal(d.st.lorawan_version, NS_MAC_V1_0_2);
}

static void test_ns_mac_state_init__abp_settings_and_presets(void **state)
{
    (void)state;
    ns_mac_settings_t s = {0};
    s.has_rx1_delay = true;
    s.rx1_delay = 2;
    s.has_rx2_data_rate_index = true;
    s.rx2_data_rate_index = 3;
    s.n_factory_preset_frequencies = 4;
    s.factory_preset_frequencies[0] = 868100000;
    s.factory_preset_frequencies[1] = 868300000;
    s.factory_preset_frequencies[2] = 868500000;
    s.factory_preset_frequencies[3] = 867100000;
    dev_t d;
    dev_init(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2, &s);
    assert_int_equal(d.st.current_parameters.rx1_delay, 2);
    assert_int_equal(d.st.current_parameters.rx2_data_rate_index, 3);
    assert_int_equal(ns_mac_channel_count(&d.st, &d.st.current_parameters), 4);
    /* Out of range settings are refused. */
    s.rx1_delay = 16;
    const lorawan_freqplan_t *fp = lorawan_freqplan_find("EU_863_870_TTN");
    ns_mac_ctx_t ctx = {lorawan_band_get(fp->band), fp, &s};
    ns_mac_state_t st;
    assert_int_equal(
        ns_mac_state_init(&st, &ctx, LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2, NS_MAC_CLASS_A),
        LORAWAN_E_PARAM);
    /* A plan of another band is refused. */
    s.rx1_delay = 1;
    ctx.band = lorawan_band_get(LORAWAN_BAND_US915);
    assert_int_equal(
        ns_mac_state_init(&st, &ctx, LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2, NS_MAC_CLASS_A),
        LORAWAN_E_PARAM);
}

/* EU868 join-accept: DLSettings RX1DROffset 0 | RX2 DR3, RxDelay 5, CFList 867.1 .. 867.9. */
static void test_ns_mac_join_accept_params__eu868_cflist(void **state)
{
    (void)state;
    dev_t d;
    dev_init(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_3_A, NS_MAC_V1_0_3, NULL);
    ns_mac_join_params_t jp;
    assert_int_equal(ns_mac_join_accept_params(&d.st, &d.ctx, &jp), 0);
    assert_int_equal(jp.dl_settings, 0x03);
    assert_int_equal(jp.rx_delay, 5);
    assert_true(jp.has_cf_list);
    /* 867.1 MHz = 8671000 * 100 Hz = 0x844e18 LE, ... */
    assert_hex_equal("184f84e85684b85e84886684586e8400", jp.cf_list, 16);
    /* After the join-accept the device uses all 8 channels, RX2 DR3, RX1 delay 5. */
    assert_int_equal(ns_mac_channel_count(&d.st, &d.st.current_parameters), 8);
    assert_int_equal(d.st.current_parameters.rx2_data_rate_index, 3);
    assert_int_equal(d.st.current_parameters.rx1_delay, 5);
    /* Nothing is left to change but the DevStatus request. */
    ns_mac_down_result_t res;
    char hex[600];
    dev_down(&d, 15, hex, sizeof hex, &res);
    assert_string_equal(hex, "06");
}

/* LoRaWAN 1.1 OptNeg bit; US915 FSB 2 CFList of channel masks (8..15 and 65). */
static void test_ns_mac_join_accept_params__us915_fsb2_chmask(void **state)
{
    (void)state;
    dev_t d;
    dev_init(&d, "US_902_928_FSB_2", LORAWAN_RP001_1_1_B, NS_MAC_V1_1, NULL);
    ns_mac_join_params_t jp;
    assert_int_equal(ns_mac_join_accept_params(&d.st, &d.ctx, &jp), 0);
    assert_int_equal(jp.dl_settings, 0x88);
    assert_true(jp.has_cf_list);
    assert_hex_equal("00ff0000000000000200000000000001", jp.cf_list, 16);
    assert_int_equal(lorawan_chset_count(&d.st.current_parameters.enabled), 9);
    ns_mac_channel_t ch;
    assert_int_equal(ns_mac_channel_get(&d.st, &d.st.current_parameters, 8, &ch), 0);
    assert_int_equal(ch.uplink_frequency, 903900000);
    assert_int_equal(ch.downlink_frequency, 923300000);
    assert_true(ch.enable_uplink);
    assert_int_equal(ns_mac_channel_get(&d.st, &d.st.current_parameters, 0, &ch), 0);
    assert_false(ch.enable_uplink);
}

static void test_ns_mac_version_parse__names(void **state)
{
    (void)state;
    ns_mac_version_t v;
    assert_int_equal(ns_mac_version_parse("MAC_V1_0_3", &v), 0);
    assert_int_equal(v, NS_MAC_V1_0_3);
    assert_int_equal(ns_mac_version_parse("1.1", &v), 0);
    assert_int_equal(v, NS_MAC_V1_1);
    assert_int_equal(ns_mac_version_parse("MAC_V2", &v), LORAWAN_E_PARAM);
    assert_string_equal(ns_mac_version_name(NS_MAC_V1_0_4), "MAC_V1_0_4");
}

static void test_ns_mac_channel_set__fixed_band_only_enable(void **state)
{
    (void)state;
    dev_t d;
    dev_init(&d, "US_902_928_FSB_2", LORAWAN_RP001_1_0_3_A, NS_MAC_V1_0_3, NULL);
    ns_mac_channel_t ch;
    assert_int_equal(ns_mac_channel_get(&d.st, &d.st.current_parameters, 3, &ch), 0);
    ch.enable_uplink = false;
    assert_int_equal(ns_mac_channel_set(&d.st, &d.st.current_parameters, 3, &ch), 0);
    assert_false(lorawan_chset_test(&d.st.current_parameters.enabled, 3));
    ch.uplink_frequency += 100000;
    assert_int_equal(ns_mac_channel_set(&d.st, &d.st.current_parameters, 3, &ch), LORAWAN_E_PARAM);
    assert_int_equal(ns_mac_channel_get(&d.st, &d.st.current_parameters, 72, &ch), LORAWAN_E_RANGE);
}

/* The packed stored form leaves the desired channels out: unpacked with those of a new
 * session with the same settings, the state is the one packed, desired scalars included
 * (ADR's values, TxParamSetup's EIRP), for every band shape; what is not a packed state is
 * refused. */
static void test_ns_mac_state_store__round_trip_without_desired_channels(void **state)
{
    (void)state;
    static const char *const plans[] = {"EU_863_870_TTN", "US_902_928_FSB_2", "AS_923"};
    for (size_t k = 0; k < sizeof plans / sizeof plans[0]; k++) {
        dev_t d, fresh;
        dev_init(&d, plans[k], LORAWAN_RP001_1_0_3_A, NS_MAC_V1_0_3, NULL);
        dev_init(&fresh, plans[k], LORAWAN_RP001_1_0_3_A, NS_MAC_V1_0_3, NULL);
        ns_mac_join_params_t jp;
        assert_int_equal(ns_mac_join_accept_params(&d.st, &d.ctx, &jp), 0);
        d.st.desired_parameters.adr_data_rate_index = 5;
        d.st.desired_parameters.adr_tx_power_index = 2;
        d.st.desired_parameters.adr_nb_trans = 3;
        d.st.desired_parameters.max_eirp = 14.0f;
        d.st.current_parameters.adr_data_rate_index = 4;
        d.st.last_f_cnt_up = 77;
        d.st.battery = 200;
        /* Recent uplinks with the gateways' decimal SNRs, and the -100 dB "none" mark. */
        static const float snrs[] = {7.3f, -12.5f, 9.25f, -100.0f, 0.1f};
        for (unsigned i = 0; i < 5; i++)
            d.st.recent_uplinks[i] = (ns_mac_recent_uplink_t){.f_cnt = 1000u + i,
                                                              .max_snr = snrs[i],
                                                              .data_rate_index = (uint8_t)i,
                                                              .gateway_count = (uint8_t)(i + 1)};
        d.st.n_recent_uplinks = 5;

        uint8_t packed[NS_MAC_PACKED_MAX];
        size_t n = ns_mac_state_pack(&d.st, packed);
        assert_true(n > 0 && n <= NS_MAC_PACKED_MAX);
        assert_true(n < 400); /* of 880 bytes: the state is mostly zeros */
        ns_mac_state_t back;
        memset(&back, 0xa5, sizeof back);
        assert_int_equal(ns_mac_state_unpack(packed, n, &fresh.st.desired_parameters, &back), 0);
        assert_memory_equal(&back, &d.st, sizeof back);
        /* Not a packed state: truncated, one byte more, a run beyond the layout. */
        assert_int_equal(ns_mac_state_unpack(packed, n - 1, &fresh.st.desired_parameters, &back),
                         LORAWAN_E_PARAM);
        packed[n] = 0x80;
        assert_int_equal(ns_mac_state_unpack(packed, n + 1, &fresh.st.desired_parameters, &back),
                         LORAWAN_E_PARAM);
        const uint8_t big[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        assert_int_equal(ns_mac_state_unpack(big, sizeof big, &fresh.st.desired_parameters, &back),
                         LORAWAN_E_PARAM);
        assert_int_equal(ns_mac_state_unpack(big, 0, &fresh.st.desired_parameters, &back),
                         LORAWAN_E_PARAM);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ns_mac_state_init__eu868_abp_defaults),
        cmocka_unit_test(test_ns_mac_state_init__abp_settings_and_presets),
        cmocka_unit_test(test_ns_mac_join_accept_params__eu868_cflist),
        cmocka_unit_test(test_ns_mac_join_accept_params__us915_fsb2_chmask),
        cmocka_unit_test(test_ns_mac_version_parse__names),
        cmocka_unit_test(test_ns_mac_channel_set__fixed_band_only_enable),
        cmocka_unit_test(test_ns_mac_state_store__round_trip_without_desired_channels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
