/* Tests of components/ns/mac/ (each command file), one group per command: the request bytes built from
 * desired vs current, the answer accepted (current updated) or rejected (unchanged). */
#include "mac_test_util.h"

static void quiet(dev_t *d, const char *fp, lorawan_rp_rev_t rev, ns_mac_version_t v)
{
    ns_mac_settings_t s = {0};
    s.has_status_count_periodicity = true;
    s.has_status_time_periodicity = true;
    s.adr.mode = NS_ADR_MODE_DISABLED;
    dev_init(d, fp, rev, v, &s);
    dev_settle(d);
}

#define DOWN(d, budget, want)                                                                      \
    do {                                                                                           \
        ns_mac_down_result_t dres_;                                                                \
        char hex_[600];                                                                            \
        dev_down((d), (budget), hex_, sizeof hex_, &dres_);                                        \
        assert_string_equal(hex_, (want));                                                         \
    } while (0)

/* ---- DutyCycle ---- */

static void test_ns_mac_duty_cycle__req_ans(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2);
    d.st.desired_parameters.max_duty_cycle = 3;
    DOWN(&d, 15, "0403");
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 0, 1, "04", &res);
    assert_int_equal(d.st.current_parameters.max_duty_cycle, 3);
    DOWN(&d, 15, "");
}

/* ---- RXParamSetup ---- */

/* RX1DROffset 1, RX2 DR3, 869.525 MHz: 05 | 13 | d2 ad 84. */
static void test_ns_mac_rx_param_setup__accept(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2);
    d.st.desired_parameters.rx1_data_rate_offset = 1;
    d.st.desired_parameters.rx2_data_rate_index = 3;
    DOWN(&d, 15, "0513d2ad84");
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 0, 1, "0507", &res);
    assert_int_equal(d.st.current_parameters.rx1_data_rate_offset, 1);
    assert_int_equal(d.st.current_parameters.rx2_data_rate_index, 3);
    assert_int_equal(d.st.current_parameters.rx2_frequency, 869525000);
    assert_true(has_event(res.events, res.n_events, "ns.mac.rx_param_setup.answer.accept"));
}

static void test_ns_mac_rx_param_setup__reject(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2);
    d.st.desired_parameters.rx2_data_rate_index = 3;
    d.st.desired_parameters.rx2_frequency = 869100000;
    DOWN(&d, 15, "0503389d84");
    ns_mac_up_result_t res;
    /* Channel NACK (bit 0 clear). */
    dev_up(&d, 1, 0, 0, 1, "0506", &res);
    assert_int_equal(d.st.current_parameters.rx2_data_rate_index, 0);
    assert_int_equal(d.st.current_parameters.rx2_frequency, 869525000);
    assert_true(has_event(res.events, res.n_events, "ns.mac.rx_param_setup.answer.reject"));
    /* The answer is sticky: a downlink is needed to stop it, and the request waits until
     * an uplink comes without it (TTS STICKY.md). */
    assert_true(res.downlink_needed);
    DOWN(&d, 15, "");
    dev_up(&d, 2, 0, 0, 1, "0506", &res);
    assert_true(res.downlink_needed);
    assert_false(has_event(res.events, res.n_events, "ns.mac.rx_param_setup.answer.unsolicited"));
    DOWN(&d, 15, "");
    dev_up(&d, 3, 0, 0, 1, "", &res);
    assert_false(res.downlink_needed);
    DOWN(&d, 15, "0503389d84");
}

/* ---- RXTimingSetup ---- */

static void test_ns_mac_rx_timing_setup__req_ans(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2);
    d.st.desired_parameters.rx1_delay = 5;
    DOWN(&d, 15, "0805");
    assert_int_equal(d.st.current_parameters.rx1_delay, 1);
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 0, 1, "08", &res);
    assert_int_equal(d.st.current_parameters.rx1_delay, 5);
    /* The sticky repeat changes nothing and is no event; an answer out of the blue is. */
    dev_up(&d, 2, 0, 0, 1, "08", &res);
    assert_int_equal(res.n_events, 0);
    assert_true(res.downlink_needed);
    assert_int_equal(d.st.current_parameters.rx1_delay, 5);
    dev_up(&d, 3, 0, 0, 1, "", &res);
    dev_up(&d, 4, 0, 0, 1, "08", &res);
    assert_true(has_event(res.events, res.n_events, "ns.mac.rx_timing_setup.answer.unsolicited"));
    assert_int_equal(d.st.current_parameters.rx1_delay, 5);
}

/* ---- TxParamSetup ---- */

static void test_ns_mac_tx_param_setup__as923(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d, "AS_923_925", LORAWAN_RP002_1_0_3, NS_MAC_V1_0_3);
    d.st.desired_parameters.max_eirp = 14.0f;
    d.st.desired_parameters.uplink_dwell_time = false;
    d.st.desired_parameters.downlink_dwell_time = true;
    /* DownlinkDwellTime bit 5, UplinkDwellTime bit 4, MaxEIRP index 4 (14 dBm). */
    DOWN(&d, 15, "0924");
    ns_mac_up_result_t res;
    dev_up(&d, 1, 2, 0, 1, "09", &res);
    assert_true(d.st.current_parameters.max_eirp == 14.0f);
    assert_false(d.st.current_parameters.uplink_dwell_time);
    assert_true(d.st.current_parameters.downlink_dwell_time);
    DOWN(&d, 15, "");
}

/* A fresh AS923 device boots with the uplink dwell-time limit only; the NS wants both
 * (TTS): TxParamSetupReq 09 | 0x35 (both dwell bits, 16 dBm = index 5). */
static void test_ns_mac_tx_param_setup__as923_boot(void **state)
{
    (void)state;
    dev_t d;
    ns_mac_settings_t s = {0};
    s.has_status_count_periodicity = true;
    s.has_status_time_periodicity = true;
    dev_init(&d, "AS_923_925", LORAWAN_RP002_1_0_3, NS_MAC_V1_0_3, &s);
    assert_true(d.st.current_parameters.uplink_dwell_time);
    assert_false(d.st.current_parameters.downlink_dwell_time);
    assert_true(d.st.desired_parameters.uplink_dwell_time);
    assert_true(d.st.desired_parameters.downlink_dwell_time);
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 51, hex, sizeof hex, &dres);
    assert_int_equal(strncmp(hex, "0935", 4), 0);
    /* EU868 has none: current and desired off. */
    dev_init(&d, "EU_863_870_TTN", LORAWAN_RP002_1_0_3, NS_MAC_V1_0_3, &s);
    assert_false(d.st.current_parameters.uplink_dwell_time);
    assert_false(d.st.desired_parameters.downlink_dwell_time);
}

/* EU868 does not implement TxParamSetupReq: never sent. */
static void test_ns_mac_tx_param_setup__not_in_eu868(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2);
    d.st.desired_parameters.max_eirp = 14.0f;
    DOWN(&d, 15, "");
}

/* ---- NewChannel / DlChannel ---- */

/* An ABP EU868 device knows the 3 default channels; the plan has 8: NewChannelReq for
 * channels 3..7 (867.1 .. 867.9 MHz, DR0..5). */
static void eu_abp(dev_t *d)
{
    quiet(d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2);
    ns_mac_state_t tmp;
    ns_mac_ctx_t ctx = d->ctx;
    assert_int_equal(ns_mac_state_init(&tmp, &ctx, LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2, NS_MAC_CLASS_A), 0);
    /* desired: the plan's channels; everything else as current. */
    memcpy(d->st.desired_parameters.defined, tmp.desired_parameters.defined, sizeof tmp.desired_parameters.defined);
    d->st.desired_parameters.enabled = tmp.desired_parameters.enabled;
}

static void test_ns_mac_new_channel__fport0_all(void **state)
{
    (void)state;
    dev_t d;
    eu_abp(&d);
    DOWN(&d, 51, "0703184f8450" "0704e85684" "50" "0705b85e8450" "070688668450" "0707586e8450");
    assert_int_equal(pending_count(&d.st), 5);
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 0, 1, "07030703070307030703", &res);
    assert_int_equal(ns_mac_channel_count(&d.st, &d.st.current_parameters), 8);
    ns_mac_channel_t ch;
    assert_int_equal(ns_mac_channel_get(&d.st, &d.st.current_parameters, 7, &ch), 0);
    assert_int_equal(ch.uplink_frequency, 867900000);
    assert_int_equal(ch.downlink_frequency, 867900000);
    assert_true(ch.enable_uplink);
    DOWN(&d, 51, "");
}

/* FOpts: two NewChannelReq fit 15 bytes; the rest follows on the next downlink. */
static void test_ns_mac_new_channel__fopts_budget(void **state)
{
    (void)state;
    dev_t d;
    eu_abp(&d);
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "0703184f84500704e8568450");
    assert_true(dres.more);
    /* Channel 4 refused (frequency NACK): channel 3 only is added. */
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 0, 1, "07030702", &res);
    assert_int_equal(ns_mac_channel_count(&d.st, &d.st.current_parameters), 4);
    assert_true(has_event(res.events, res.n_events, "ns.mac.new_channel.answer.reject"));
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "0704e85684500705b85e8450");
}

static void test_ns_mac_dl_channel__req_ans(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2);
    d.st.desired_parameters.defined[1].downlink_frequency = 869000000;
    DOWN(&d, 15, "0a01509984");
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 0, 1, "0a03", &res);
    assert_int_equal(d.st.current_parameters.defined[1].downlink_frequency, 869000000);
    /* A 1.0.0 device has no DlChannelReq. */
    quiet(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2, NS_MAC_V1_0);
    d.st.desired_parameters.defined[1].downlink_frequency = 869000000;
    DOWN(&d, 15, "");
}

/* RX1 follows DlChannelReq once accepted, and RX1DROffset. */
static void test_ns_mac_rx1__dl_channel_and_offset(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2);
    uint32_t f = 0;
    uint8_t dr = 0;
    assert_int_equal(ns_mac_rx1(&d.st, &d.ctx, 868300000, 5, &f, &dr), 0);
    assert_int_equal(f, 868300000);
    assert_int_equal(dr, 5);
    d.st.desired_parameters.defined[1].downlink_frequency = 869000000;
    DOWN(&d, 15, "0a01509984");
    assert_int_equal(ns_mac_rx1(&d.st, &d.ctx, 868300000, 5, &f, &dr), 0);
    assert_int_equal(f, 868300000); /* not before the answer */
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 0, 1, "0a03", &res);
    d.st.current_parameters.rx1_data_rate_offset = 2;
    assert_int_equal(ns_mac_rx1(&d.st, &d.ctx, 868300000, 5, &f, &dr), 0);
    assert_int_equal(f, 869000000);
    assert_int_equal(dr, 3);
    /* US915: uplink channel 8 (903.9 MHz) → downlink channel 0 (923.3 MHz); DR0 → DR10. */
    quiet(&d, "US_902_928_FSB_2", LORAWAN_RP001_1_0_3_A, NS_MAC_V1_0_3);
    assert_int_equal(ns_mac_rx1(&d.st, &d.ctx, 903900000, 0, &f, &dr), 0);
    assert_int_equal(f, 923300000);
    assert_int_equal(dr, 10);
    assert_int_equal(ns_mac_rx1(&d.st, &d.ctx, 903950000, 0, &f, &dr), LORAWAN_E_PARAM);
}

static void test_ns_mac_dl_channel__reject(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2);
    d.st.desired_parameters.defined[1].downlink_frequency = 869000000;
    DOWN(&d, 15, "0a01509984");
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 0, 1, "0a02", &res);
    assert_int_equal(d.st.current_parameters.defined[1].downlink_frequency, 868300000);
    assert_true(has_event(res.events, res.n_events, "ns.mac.dl_channel.answer.reject"));
}

/* ---- DevStatus ---- */

static void test_ns_mac_dev_status__periods(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2);
    d.settings.status_count_periodicity = 3;
    /* Never received: asked for. */
    DOWN(&d, 15, "06");
    ns_mac_up_result_t res;
    dev_up(&d, 10, 0, 0, 1, "06fe05", &res);
    assert_true(d.st.dev_status_received);
    assert_int_equal(d.st.battery, 254);
    assert_int_equal(d.st.downlink_margin, 5);
    assert_int_equal(d.st.last_dev_status_f_cnt_up, 10);
    assert_int_equal(d.st.last_dev_status_received_at_s, 1700000000);
    DOWN(&d, 15, "");
    dev_up(&d, 12, 0, 0, 1, "", &res);
    DOWN(&d, 15, "");
    dev_up(&d, 13, 0, 0, 1, "", &res);
    DOWN(&d, 15, "06");
    /* Negative margin (6-bit two's complement). */
    dev_up(&d, 14, 0, 0, 1, "06003f", &res);
    assert_int_equal(d.st.downlink_margin, -1);
    assert_int_equal(d.st.battery, 0);
}

static void test_ns_mac_dev_status__time_period(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2);
    d.settings.status_time_periodicity_s = 3600;
    DOWN(&d, 15, "06");
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 0, 1, "06ff00", &res);
    uint8_t buf[16];
    size_t len = 0;
    ns_mac_down_result_t dres;
    assert_int_equal(ns_mac_downlink_build(&d.st, &d.ctx, 1700000000 + 3599, 15, buf, sizeof buf, &len, &dres), 0);
    assert_int_equal(len, 0);
    assert_false(ns_mac_downlink_wanted(&d.st, &d.ctx, 1700000000 + 3599));
    assert_true(ns_mac_downlink_wanted(&d.st, &d.ctx, 1700000000 + 3600));
    assert_int_equal(ns_mac_downlink_build(&d.st, &d.ctx, 1700000000 + 3600, 15, buf, sizeof buf, &len, &dres), 0);
    assert_int_equal(len, 1);
    assert_int_equal(buf[0], 0x06);
}

/* TTS defaults: asked for when never received (count 200, 24 h). */
static void test_ns_mac_dev_status__defaults(void **state)
{
    (void)state;
    dev_t d;
    dev_init(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2, NULL);
    dev_settle(&d);
    DOWN(&d, 15, "06");
}

/* ---- LoRaWAN 1.1: Reset, Rekey, ADRParamSetup, RejoinParamSetup, ForceRejoin ---- */

static void test_ns_mac_reset__conf_and_defaults(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d, "EU_863_870_TTN", LORAWAN_RP001_1_1_B, NS_MAC_V1_1);
    d.st.current_parameters.rx1_delay = 5;
    d.st.current_parameters.adr_data_rate_index = 4;
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 0, 1, "0101", &res);
    assert_true(res.reset);
    assert_int_equal(d.st.current_parameters.rx1_delay, 1);
    assert_int_equal(d.st.current_parameters.adr_data_rate_index, 0);
    DOWN(&d, 15, "0101");
    /* A 1.0.x device: ignored. */
    quiet(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_3);
    dev_up(&d, 1, 0, 0, 1, "0101", &res);
    assert_false(res.reset);
    DOWN(&d, 15, "");
}

static void test_ns_mac_rekey__conf(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d, "EU_863_870_TTN", LORAWAN_RP001_1_1_B, NS_MAC_V1_1);
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 0, 1, "0b01", &res);
    assert_true(res.rekey);
    assert_true(res.downlink_needed);
    assert_true(d.st.rekey_confirmed);
    /* Repeated before the downlink: one RekeyConf. A newer minor gets the server's 1. */
    dev_up(&d, 2, 0, 0, 1, "0b02", &res);
    DOWN(&d, 15, "0b01");
}

static void test_ns_mac_adr_param_setup__req_ans(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d, "EU_863_870_TTN", LORAWAN_RP001_1_1_B, NS_MAC_V1_1);
    d.st.desired_parameters.adr_ack_limit_exponent = 7;
    d.st.desired_parameters.adr_ack_delay_exponent = 6;
    DOWN(&d, 15, "0c76");
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 0, 1, "0c", &res);
    assert_int_equal(d.st.current_parameters.adr_ack_limit_exponent, 7);
    assert_int_equal(d.st.current_parameters.adr_ack_delay_exponent, 6);
    /* LoRaWAN 1.0.x has no ADRParamSetupReq. */
    quiet(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_3);
    d.st.desired_parameters.adr_ack_limit_exponent = 7;
    DOWN(&d, 15, "");
}

static void test_ns_mac_rejoin_param_setup__time_ok_and_not(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d, "EU_863_870_TTN", LORAWAN_RP001_1_1_B, NS_MAC_V1_1);
    d.st.desired_parameters.rejoin_time_periodicity = 5;
    d.st.desired_parameters.rejoin_count_periodicity = 6;
    DOWN(&d, 15, "0f56");
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 0, 1, "0f00", &res);
    assert_int_equal(d.st.current_parameters.rejoin_count_periodicity, 6);
    assert_int_equal(d.st.current_parameters.rejoin_time_periodicity, 0);
    DOWN(&d, 15, "");
    d.st.desired_parameters.rejoin_time_periodicity = 5;
    DOWN(&d, 15, "0f56");
    dev_up(&d, 2, 0, 0, 1, "0f01", &res);
    assert_int_equal(d.st.current_parameters.rejoin_time_periodicity, 5);
}

/* ForceRejoinReq {period 1, retries 2, type 2, DR 3}: 0e 23 0a, sent once, not pending. */
static void test_ns_mac_force_rejoin__once(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d, "EU_863_870_TTN", LORAWAN_RP001_1_1_B, NS_MAC_V1_1);
    assert_int_equal(ns_mac_force_rejoin(&d.st, 2, 3, 1, 2), 0);
    assert_int_equal(ns_mac_force_rejoin(&d.st, 1, 3, 1, 2), LORAWAN_E_PARAM);
    DOWN(&d, 15, "0e230a");
    assert_int_equal(pending_count(&d.st), 0);
    DOWN(&d, 15, "");
}

/* ---- DeviceMode, Class B ---- */

static void test_ns_mac_device_mode__class_c(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d, "EU_863_870_TTN", LORAWAN_RP001_1_1_B, NS_MAC_V1_1);
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 0, 1, "2002", &res);
    assert_true(res.device_mode_changed);
    assert_int_equal(d.st.device_class, NS_MAC_CLASS_C);
    DOWN(&d, 15, "2002");
    /* Back to class A. */
    dev_up(&d, 2, 0, 0, 1, "2000", &res);
    assert_int_equal(d.st.device_class, NS_MAC_CLASS_A);
    DOWN(&d, 15, "2000");
    /* Not a LoRaWAN 1.0.x command: ignored. */
    quiet(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_3);
    dev_up(&d, 1, 0, 0, 1, "2002", &res);
    assert_int_equal(d.st.device_class, NS_MAC_CLASS_A);
    DOWN(&d, 15, "");
}

static void test_ns_mac_ping_slot__info_and_channel(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_3_A, NS_MAC_V1_0_3);
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 0, 1, "1003", &res);
    assert_true(d.st.ping_slot_info_received);
    assert_int_equal(d.st.ping_slot_periodicity, 3);
    DOWN(&d, 15, "10");
    d.st.desired_parameters.ping_slot_frequency = 869525000;
    d.st.desired_parameters.ping_slot_data_rate_index = 3;
    DOWN(&d, 15, "11d2ad8403");
    dev_up(&d, 2, 0, 0, 1, "1103", &res);
    assert_int_equal(d.st.current_parameters.ping_slot_frequency, 869525000);
    assert_int_equal(d.st.current_parameters.ping_slot_data_rate_index, 3);
    d.st.desired_parameters.beacon_frequency = 869525000;
    DOWN(&d, 15, "13d2ad84");
    dev_up(&d, 3, 0, 0, 1, "1300", &res);
    assert_int_equal(d.st.current_parameters.beacon_frequency, 0);
    assert_true(has_event(res.events, res.n_events, "ns.mac.beacon_freq.answer.reject"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ns_mac_duty_cycle__req_ans),
        cmocka_unit_test(test_ns_mac_rx_param_setup__accept),
        cmocka_unit_test(test_ns_mac_rx_param_setup__reject),
        cmocka_unit_test(test_ns_mac_rx_timing_setup__req_ans),
        cmocka_unit_test(test_ns_mac_tx_param_setup__as923),
        cmocka_unit_test(test_ns_mac_tx_param_setup__as923_boot),
        cmocka_unit_test(test_ns_mac_tx_param_setup__not_in_eu868),
        cmocka_unit_test(test_ns_mac_new_channel__fport0_all),
        cmocka_unit_test(test_ns_mac_new_channel__fopts_budget),
        cmocka_unit_test(test_ns_mac_dl_channel__req_ans),
        cmocka_unit_test(test_ns_mac_dl_channel__reject),
        cmocka_unit_test(test_ns_mac_rx1__dl_channel_and_offset),
        cmocka_unit_test(test_ns_mac_dev_status__periods),
        cmocka_unit_test(test_ns_mac_dev_status__time_period),
        cmocka_unit_test(test_ns_mac_dev_status__defaults),
        cmocka_unit_test(test_ns_mac_reset__conf_and_defaults),
        cmocka_unit_test(test_ns_mac_rekey__conf),
        cmocka_unit_test(test_ns_mac_adr_param_setup__req_ans),
        cmocka_unit_test(test_ns_mac_rejoin_param_setup__time_ok_and_not),
        cmocka_unit_test(test_ns_mac_force_rejoin__once),
        cmocka_unit_test(test_ns_mac_device_mode__class_c),
        cmocka_unit_test(test_ns_mac_ping_slot__info_and_channel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
