/* Tests of components/ns/adr.c: The Things Stack's ADR algorithm (the "adapted example from
 * Semtech paper" cases of TTS pkg/networkserver/mac/adr_test.go, same inputs and expected
 * data rate / TX power / NbTrans), the lwstack step-down, the modes, ADRAckReq, and the
 * end-to-end path uplink → LinkADRReq bytes → LinkADRAns → current parameters. */
#include "mac_test_util.h"

/* TTS adr_test.go semtechPaperUplinks: (FCnt, max SNR), all at SF12 (DR0). */
static const struct {
    uint32_t f_cnt;
    float snr;
    uint8_t gws;
} semtech[] = {
    {10, -6, 2},  {11, -7, 2}, {12, -25, 1}, {13, -25, 1}, {14, -10, 2}, {16, -25, 1}, {17, -10, 2},
    {19, -10, 3}, {20, -6, 2}, {21, -7, 2},  {22, -25, 0}, {23, -25, 1}, {24, -10, 2}, {25, -10, 2},
    {26, -25, 1}, {27, -8, 2}, {28, -10, 2}, {29, -10, 3}, {30, -9, 3},  {31, -7, 2},
};

/* The TTS test device: EU868, RP001-1.0.2-RevB, current TX power 1, NbTrans 1, ADR margin
 * 2 dB, the given rejections; returns desired (DR, power, NbTrans). */
static void semtech_case(uint16_t rejected_dr, uint16_t rejected_tx, uint8_t want_dr,
                         uint8_t want_tx, uint8_t want_nb)
{
    ns_mac_settings_t s = {0};
    s.adr.mode = NS_ADR_MODE_DYNAMIC;
    s.adr.dynamic.has_margin = true;
    s.adr.dynamic.margin = 2;
    dev_t d;
    dev_init(&d, "EU_863_870", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2, &s);
    dev_settle(&d);
    d.st.current_parameters.adr_tx_power_index = 1;
    d.st.desired_parameters.adr_data_rate_index = 4;
    d.st.desired_parameters.adr_tx_power_index = 2;
    d.st.desired_parameters.adr_nb_trans = 3;
    d.st.rejected_adr_data_rate_indexes = rejected_dr;
    d.st.rejected_adr_tx_power_indexes = rejected_tx;
    for (size_t i = 0; i < sizeof semtech / sizeof semtech[0]; i++) {
        ns_mac_uplink_t up = uplink(semtech[i].f_cnt, 0, semtech[i].snr, semtech[i].gws, NULL, 0);
        ns_adr_record(&d.st, &up);
    }
    d.st.device_adr = true;
    assert_int_equal(ns_adr_adapt(&d.st, &d.ctx), 0);
    assert_int_equal(d.st.desired_parameters.adr_data_rate_index, want_dr);
    assert_int_equal(d.st.desired_parameters.adr_tx_power_index, want_tx);
    assert_int_equal(d.st.desired_parameters.adr_nb_trans, want_nb);
}

static void test_ns_adr__semtech_no_rejections(void **state)
{
    (void)state;
    semtech_case(0, 0, 4, 1, 1);
}

static void test_ns_adr__semtech_rejected_dr_1_4(void **state)
{
    (void)state;
    semtech_case((1u << 1) | (1u << 4), 0, 3, 2, 1);
}

static void test_ns_adr__semtech_rejected_tx_1(void **state)
{
    (void)state;
    semtech_case(0, 1u << 1, 4, 0, 1);
}

static void test_ns_adr__semtech_rejected_tx_0_1(void **state)
{
    (void)state;
    semtech_case(0, (1u << 0) | (1u << 1), 3, 2, 1);
}

static void test_ns_adr__semtech_rejected_dr_1_4_tx_0_2_3(void **state)
{
    (void)state;
    semtech_case((1u << 1) | (1u << 4), (1u << 0) | (1u << 2) | (1u << 3), 3, 1, 1);
}

static void test_ns_adr__semtech_rejected_dr_3_tx_0_1(void **state)
{
    (void)state;
    semtech_case(1u << 3, (1u << 0) | (1u << 1), 2, 3, 1);
}

/* TTS TestIssue458 (US915, SF10 = DR0, every channel on, RP001-1.0.2-RevB). */
static const struct {
    uint32_t f_cnt;
    float snr;
} issue458[] = {
    {1, -7.2f},   {8, -3},      {11, -7},     {13, -13.5f}, {16, -6.8f},  {17, -3},
    {18, -4},     {26, -5.5f},  {27, -7.8f},  {28, -6.5f},  {33, -9.5f},  {36, -6.8f},
    {114, -1.2f}, {141, -4},    {203, -7.5f}, {204, -4.2f}, {208, -5.8f}, {209, -5},
    {210, -6},    {211, -7.5f}, {212, -7.5f}, {213, -7.2f}, {215, -6.2f}, {216, -6.5f},
    {217, -3},    {219, -5.2f}, {220, -5.5f}, {222, -4.5f}, {224, -9.2f}, {225, -7.8f},
    {226, -7.8f}, {228, -8.8f},
};

static void issue458_case(size_t n_uplinks, uint8_t want_nb)
{
    ns_mac_settings_t s = {0};
    dev_t d;
    memset(&d, 0, sizeof d);
    d.settings = s;
    d.ctx.band = lorawan_band_get(LORAWAN_BAND_US915);
    d.ctx.fp = NULL; /* the band's default channels: all 72 on */
    d.ctx.settings = &d.settings;
    assert_int_equal(
        ns_mac_state_init(&d.st, &d.ctx, LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2, NS_MAC_CLASS_A), 0);
    for (size_t i = 0; i < n_uplinks; i++) {
        ns_mac_uplink_t up = uplink(issue458[i].f_cnt, 0, issue458[i].snr, 1, NULL, 0);
        ns_adr_record(&d.st, &up);
    }
    d.st.device_adr = true;
    assert_int_equal(ns_adr_adapt(&d.st, &d.ctx), 0);
    assert_int_equal(d.st.desired_parameters.adr_data_rate_index, 0);
    assert_int_equal(d.st.desired_parameters.adr_tx_power_index, 0);
    assert_int_equal(d.st.desired_parameters.adr_nb_trans, want_nb);
}

static void test_ns_adr__tts_issue458_initial_no_change(void **state)
{
    (void)state;
    issue458_case(9, 1);
}

/* All 32 (the last 20 kept: FCnt 114 .. 228, 95 of 115 lost): NbTrans 3. */
static void test_ns_adr__tts_issue458_all_nb_trans(void **state)
{
    (void)state;
    issue458_case(sizeof issue458 / sizeof issue458[0], 3);
}

/* TTS TestADRInstability: EU868 SF7 (DR5) at 14 dB minus the TX power reductions already
 * made; the TX power index goes 0 → 2 at once (4 dB extra), stays while the safety margin
 * applies, 2 → 3 once 20 uplinks are known, then stays. */
static void test_ns_adr__tts_instability(void **state)
{
    (void)state;
    static const uint8_t want[50] = {
        2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3,
        3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    };
    ns_mac_settings_t s = {0};
    dev_t d;
    dev_init(&d, "EU_863_870", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2, &s);
    dev_settle(&d);
    d.st.current_parameters.adr_data_rate_index = 5;
    d.st.desired_parameters = d.st.current_parameters;
    d.st.device_adr = true;
    float penalty = 0;
    for (uint32_t i = 0; i < 50; i++) {
        ns_mac_uplink_t up = uplink(i, 5, 14.0f - penalty, 1, NULL, 0);
        ns_adr_record(&d.st, &up);
        assert_int_equal(ns_adr_adapt(&d.st, &d.ctx), 0);
        assert_int_equal(d.st.desired_parameters.adr_data_rate_index, 5);
        assert_int_equal(d.st.desired_parameters.adr_tx_power_index, want[i]);
        assert_int_equal(d.st.desired_parameters.adr_nb_trans, 1);
        ns_mac_params_t *cur = &d.st.current_parameters, *des = &d.st.desired_parameters;
        if (cur->adr_tx_power_index != des->adr_tx_power_index) {
            /* EU868 TX power steps are 2 dB. */
            penalty += 2.0f * (float)(des->adr_tx_power_index - cur->adr_tx_power_index);
            cur->adr_tx_power_index = des->adr_tx_power_index;
            d.st.last_adr_change_f_cnt_up = i + 1;
        }
    }
}

/* TTS TestADRLossRate cases (FCnt sequences → rate). */
static void test_ns_adr__tts_loss_rate_cases(void **state)
{
    (void)state;
    static const struct {
        uint32_t f[9];
        unsigned n;
        float rate;
    } cases[] = {
        {{11, 12, 13}, 3, 0},         {{11, 11, 12, 12, 13, 13}, 6, 0},
        {{11, 12, 12, 13}, 4, 0},     {{11, 13}, 2, 1.0f / 3.0f},
        {{11, 14}, 2, 2.0f / 4.0f},   {{11, 13, 15}, 3, 2.0f / 5.0f},
        {{11, 11, 12, 13, 13}, 5, 0}, {{11, 12, 1, 1, 3, 3}, 6, 1.0f / 3.0f},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        dev_t d;
        dev_init(&d, "EU_863_870", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2, NULL);
        for (unsigned i = 0; i < cases[k].n; i++) {
            ns_mac_uplink_t up = uplink(cases[k].f[i], 0, 0, 1, NULL, 0);
            ns_adr_record(&d.st, &up);
        }
        float r = ns_adr_loss_rate(&d.st);
        assert_true(r > cases[k].rate - 1e-6f && r < cases[k].rate + 1e-6f);
    }
}

static void test_ns_adr__loss_rate(void **state)
{
    (void)state;
    dev_t d;
    dev_init(&d, "EU_863_870", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2, NULL);
    for (size_t i = 0; i < sizeof semtech / sizeof semtech[0]; i++) {
        ns_mac_uplink_t up = uplink(semtech[i].f_cnt, 0, semtech[i].snr, semtech[i].gws, NULL, 0);
        ns_adr_record(&d.st, &up);
    }
    /* FCnt 10..31 with 15 and 18 missing: 2 / 22. */
    float r = ns_adr_loss_rate(&d.st);
    assert_true(r > 0.0909f && r < 0.0910f);
}

static void test_ns_adr__history_bounded(void **state)
{
    (void)state;
    dev_t d;
    dev_init(&d, "EU_863_870", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2, NULL);
    for (uint32_t f = 0; f < 45; f++) {
        ns_mac_uplink_t up = uplink(f, 0, (float)f, 1, NULL, 0);
        ns_adr_record(&d.st, &up);
        /* A second gateway copy of the same FCnt updates the entry. */
        up.max_snr = (float)f + 0.5f;
        up.gateway_count = 2;
        ns_adr_record(&d.st, &up);
    }
    assert_int_equal(d.st.n_recent_uplinks, NS_MAC_RECENT_UPLINKS);
    assert_int_equal(ns_mac_recent_uplink_at(&d.st, 0)->f_cnt, 25);
    assert_int_equal(ns_mac_recent_uplink_at(&d.st, 19)->f_cnt, 44);
    assert_true(ns_mac_recent_uplink_at(&d.st, 19)->max_snr == 44.5f);
    assert_int_equal(ns_mac_recent_uplink_at(&d.st, 19)->gateway_count, 2);
    assert_null(ns_mac_recent_uplink_at(&d.st, 20));
}

/* 12 uplinks, every second one lost (11 of 23): NbTrans 3. */
static void test_ns_adr__nb_trans_from_loss(void **state)
{
    (void)state;
    dev_t d;
    dev_init(&d, "EU_863_870", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_2, NULL);
    dev_settle(&d);
    for (uint32_t f = 0; f <= 22; f += 2) {
        ns_mac_uplink_t up = uplink(f, 0, -20.0f, 1, NULL, 0);
        ns_adr_record(&d.st, &up);
    }
    d.st.device_adr = true;
    assert_int_equal(ns_adr_adapt(&d.st, &d.ctx), 0);
    assert_int_equal(d.st.desired_parameters.adr_nb_trans, 3);
    assert_int_equal(d.st.desired_parameters.adr_data_rate_index, 0);
}

static void adr_device(dev_t *d, ns_adr_mode_t mode)
{
    ns_mac_settings_t s = {0};
    s.has_status_count_periodicity = true;
    s.has_status_time_periodicity = true;
    s.adr.mode = mode;
    dev_init(d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_3, &s);
    dev_settle(d);
}

#define DOWN(d, want)                                                                              \
    do {                                                                                           \
        ns_mac_down_result_t dres_;                                                                \
        char hex_[600];                                                                            \
        dev_down((d), 15, hex_, sizeof hex_, &dres_);                                              \
        assert_string_equal(hex_, (want));                                                         \
    } while (0)

/* The acceptance path: SF12 with a high SNR → DR3 (margin 5 + 20 - 15 - 2.5 = 7.5 dB, three
 * steps of 2.5 dB); accepted; then a low SNR at SF9 (-10 dB: -10 + 12.5 - 15 = -12.5 dB,
 * five steps missing) on the last 5 uplinks → back to DR0 without waiting for the
 * device's ADR back-off. */
static void test_ns_adr__raise_then_step_down(void **state)
{
    (void)state;
    dev_t d;
    adr_device(&d, NS_ADR_MODE_DYNAMIC);
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 5.0f, 1, "", &res);
    assert_int_equal(d.st.desired_parameters.adr_data_rate_index, 3);
    assert_int_equal(d.st.desired_parameters.adr_tx_power_index, 0);
    DOWN(&d, "0330070001");
    dev_up(&d, 2, 3, 5.0f, 1, "0307", &res);
    assert_int_equal(d.st.current_parameters.adr_data_rate_index, 3);
    assert_true(has_event(res.events, res.n_events, "ns.mac.link_adr.answer.accept"));
    /* Same link: no further change (margin 0 left). */
    DOWN(&d, "");
    /* The link degrades: -10 dB at SF9. While one of the last 5 uplinks is good, nothing
     * changes; after 5 bad ones the data rate steps down five steps at once. */
    for (uint32_t f = 3; f <= 6; f++) {
        dev_up(&d, f, 3, -10.0f, 1, "", &res);
        assert_int_equal(d.st.desired_parameters.adr_data_rate_index, 3);
    }
    DOWN(&d, "");
    dev_up(&d, 7, 3, -10.0f, 1, "", &res);
    assert_int_equal(d.st.desired_parameters.adr_data_rate_index, 0);
    assert_int_equal(d.st.desired_parameters.adr_tx_power_index, 0);
    DOWN(&d, "0300070001");
    dev_up(&d, 8, 0, -10.0f, 1, "0307", &res);
    assert_int_equal(d.st.current_parameters.adr_data_rate_index, 0);
    /* At SF12 with -10 dB: margin 20 - 10 - 15 - 2.5 = -7.5: stays at DR0, full power. */
    DOWN(&d, "");
}

/* One step short of margin does not step down (hysteresis): SF9 at 1.5 dB is -1 dB. */
static void test_ns_adr__no_step_down_within_one_step(void **state)
{
    (void)state;
    dev_t d;
    adr_device(&d, NS_ADR_MODE_DYNAMIC);
    d.st.current_parameters.adr_data_rate_index = 3;
    d.st.desired_parameters.adr_data_rate_index = 3;
    ns_mac_up_result_t res;
    dev_up(&d, 1, 3, 1.5f, 1, "", &res);
    assert_int_equal(d.st.desired_parameters.adr_data_rate_index, 3);
    DOWN(&d, "");
}

/* The device backed off by itself (uplink at a lower DR): current follows the uplink, with
 * TX power index 0 (a device raises its power before lowering its data rate). */
static void test_ns_adr__device_backoff_followed(void **state)
{
    (void)state;
    dev_t d;
    adr_device(&d, NS_ADR_MODE_DYNAMIC);
    d.st.current_parameters.adr_data_rate_index = 5;
    d.st.current_parameters.adr_tx_power_index = 3;
    d.st.desired_parameters = d.st.current_parameters;
    ns_mac_up_result_t res;
    dev_up(&d, 7, 4, -20.0f, 1, "", &res);
    assert_int_equal(d.st.current_parameters.adr_data_rate_index, 4);
    assert_int_equal(d.st.current_parameters.adr_tx_power_index, 0);
}

static void test_ns_adr__adr_ack_req_needs_downlink(void **state)
{
    (void)state;
    dev_t d;
    adr_device(&d, NS_ADR_MODE_DISABLED);
    ns_mac_uplink_t up = uplink(1, 0, 0, 1, NULL, 0);
    up.adr_ack_req = true;
    ns_mac_up_result_t res;
    assert_int_equal(ns_mac_handle_uplink(&d.st, &d.ctx, &up, &res), 0);
    assert_true(res.downlink_needed);
    up.adr_ack_req = false;
    up.f_cnt = 2;
    assert_int_equal(ns_mac_handle_uplink(&d.st, &d.ctx, &up, &res), 0);
    assert_false(res.downlink_needed);
}

static void test_ns_adr__disabled_sends_nothing(void **state)
{
    (void)state;
    dev_t d;
    adr_device(&d, NS_ADR_MODE_DISABLED);
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 10.0f, 1, "", &res);
    assert_int_equal(d.st.desired_parameters.adr_data_rate_index, 0);
    DOWN(&d, "");
}

static void test_ns_adr__static_mode(void **state)
{
    (void)state;
    dev_t d;
    adr_device(&d, NS_ADR_MODE_STATIC);
    d.settings.adr.static_mode.data_rate_index = 2;
    d.settings.adr.static_mode.tx_power_index = 3;
    d.settings.adr.static_mode.nb_trans = 2;
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 10.0f, 1, "", &res);
    DOWN(&d, "0323070002");
    dev_up(&d, 2, 2, 10.0f, 1, "0307", &res);
    assert_int_equal(d.st.current_parameters.adr_data_rate_index, 2);
    assert_int_equal(d.st.current_parameters.adr_tx_power_index, 3);
    assert_int_equal(d.st.current_parameters.adr_nb_trans, 2);
    DOWN(&d, "");
}

/* Without the device's ADR bit the algorithm does not run, and desired is the device's
 * current data rate, TX power and NbTrans (TTS resets desired to current on every uplink):
 * a device at DR5 is not sent back to a stale desired DR0. */
static void test_ns_adr__device_adr_bit_off(void **state)
{
    (void)state;
    dev_t d;
    adr_device(&d, NS_ADR_MODE_DYNAMIC);
    d.st.current_parameters.adr_tx_power_index = 2;
    d.st.current_parameters.adr_nb_trans = 1;
    d.st.desired_parameters.adr_data_rate_index = 0;
    d.st.desired_parameters.adr_tx_power_index = 0;
    d.st.desired_parameters.adr_nb_trans = 3;
    ns_mac_uplink_t up = uplink(1, 5, 10.0f, 1, NULL, 0);
    up.adr = false;
    ns_mac_up_result_t res;
    assert_int_equal(ns_mac_handle_uplink(&d.st, &d.ctx, &up, &res), 0);
    assert_int_equal(d.st.current_parameters.adr_data_rate_index, 5);
    assert_int_equal(d.st.desired_parameters.adr_data_rate_index, 5);
    assert_int_equal(d.st.desired_parameters.adr_tx_power_index, 2);
    assert_int_equal(d.st.desired_parameters.adr_nb_trans, 1);
}

/* Settings clamp the data-rate range (max DR 2). */
static void test_ns_adr__dynamic_max_data_rate(void **state)
{
    (void)state;
    dev_t d;
    adr_device(&d, NS_ADR_MODE_DYNAMIC);
    d.settings.adr.dynamic.has_max_data_rate_index = true;
    d.settings.adr.dynamic.max_data_rate_index = 2;
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 10.0f, 1, "", &res);
    assert_int_equal(d.st.desired_parameters.adr_data_rate_index, 2);
}

/* A NaN SNR (a broken gateway report) is recorded as -100 dB and answers margin 0. */
static void test_ns_adr__nan_snr(void **state)
{
    (void)state;
    dev_t d;
    adr_device(&d, NS_ADR_MODE_DYNAMIC);
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, __builtin_nanf(""), 1, "02", &res);
    assert_true(ns_mac_recent_uplink_at(&d.st, 0)->max_snr == -100.0f);
    assert_int_equal(d.st.desired_parameters.adr_data_rate_index, 0);
    DOWN(&d, "020001");
}

static void test_ns_adr__demodulation_floor(void **state)
{
    (void)state;
    float f;
    assert_int_equal(ns_adr_demodulation_floor(12, 125000, &f), 0);
    assert_true(f == -20.0f);
    assert_int_equal(ns_adr_demodulation_floor(7, 500000, &f), 0);
    assert_true(f == -1.5f);
    assert_int_equal(ns_adr_demodulation_floor(5, 125000, &f), LORAWAN_E_DR);
    assert_int_equal(ns_adr_demodulation_floor(7, 62500, &f), LORAWAN_E_DR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ns_adr__semtech_no_rejections),
        cmocka_unit_test(test_ns_adr__semtech_rejected_dr_1_4),
        cmocka_unit_test(test_ns_adr__semtech_rejected_tx_1),
        cmocka_unit_test(test_ns_adr__semtech_rejected_tx_0_1),
        cmocka_unit_test(test_ns_adr__semtech_rejected_dr_1_4_tx_0_2_3),
        cmocka_unit_test(test_ns_adr__semtech_rejected_dr_3_tx_0_1),
        cmocka_unit_test(test_ns_adr__tts_issue458_initial_no_change),
        cmocka_unit_test(test_ns_adr__tts_issue458_all_nb_trans),
        cmocka_unit_test(test_ns_adr__tts_instability),
        cmocka_unit_test(test_ns_adr__tts_loss_rate_cases),
        cmocka_unit_test(test_ns_adr__loss_rate),
        cmocka_unit_test(test_ns_adr__history_bounded),
        cmocka_unit_test(test_ns_adr__nb_trans_from_loss),
        cmocka_unit_test(test_ns_adr__raise_then_step_down),
        cmocka_unit_test(test_ns_adr__no_step_down_within_one_step),
        cmocka_unit_test(test_ns_adr__device_backoff_followed),
        cmocka_unit_test(test_ns_adr__adr_ack_req_needs_downlink),
        cmocka_unit_test(test_ns_adr__disabled_sends_nothing),
        cmocka_unit_test(test_ns_adr__static_mode),
        cmocka_unit_test(test_ns_adr__device_adr_bit_off),
        cmocka_unit_test(test_ns_adr__dynamic_max_data_rate),
        cmocka_unit_test(test_ns_adr__nan_snr),
        cmocka_unit_test(test_ns_adr__demodulation_floor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
