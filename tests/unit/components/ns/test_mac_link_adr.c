/* Tests of components/ns/mac/link_adr.c: LinkADRReq bytes (single and US915 blocks), the
 * answers of LoRaWAN 1.0.0, 1.0.2 .. 1.0.4 and 1.1, acceptance updating current parameters,
 * rejection leaving them and remembering the rejected values. */
#include "mac_test_util.h"

static ns_mac_settings_t no_dev_status(void)
{
    ns_mac_settings_t s = {0};
    s.has_status_count_periodicity = true;
    s.has_status_time_periodicity = true;
    s.adr.mode = NS_ADR_MODE_DISABLED; /* ADR tests are in test_adr.c */
    return s;
}

static void eu_device(dev_t *d, ns_mac_version_t v)
{
    ns_mac_settings_t s = no_dev_status();
    dev_init(d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, v, &s);
    dev_settle(d);
    /* Mode disabled keeps desired ADR values equal to current: switch to static to ask. */
    d->settings.adr.mode = NS_ADR_MODE_STATIC;
}

static void test_ns_mac_link_adr__eu868_accept(void **state)
{
    (void)state;
    dev_t d;
    eu_device(&d, NS_MAC_V1_0_2);
    d.st.desired_parameters.adr_data_rate_index = 5;
    d.st.desired_parameters.adr_tx_power_index = 1;
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 15, hex, sizeof hex, &dres);
    /* CID 03 | DR5 TXPower1 | ChMask 0x0007 | ChMaskCntl 0 NbTrans 1 */
    assert_string_equal(hex, "0351070001");
    assert_int_equal(pending_count(&d.st), 1);
    assert_true(has_event(dres.events, dres.n_events, "ns.mac.link_adr.request"));
    /* Nothing changes before the answer. */
    assert_int_equal(d.st.current_parameters.adr_data_rate_index, 0);

    d.settings.adr.static_mode.data_rate_index = 5;
    d.settings.adr.static_mode.tx_power_index = 1;
    ns_mac_up_result_t res;
    dev_up(&d, 10, 5, 0, 1, "0307", &res);
    assert_int_equal(d.st.current_parameters.adr_data_rate_index, 5);
    assert_int_equal(d.st.current_parameters.adr_tx_power_index, 1);
    assert_int_equal(d.st.last_adr_change_f_cnt_up, 10);
    assert_int_equal(pending_count(&d.st), 0);
    assert_true(has_event(res.events, res.n_events, "ns.mac.link_adr.answer.accept"));
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "");
}

static void test_ns_mac_link_adr__eu868_reject_keeps_current(void **state)
{
    (void)state;
    dev_t d;
    eu_device(&d, NS_MAC_V1_0_2);
    d.settings.adr.static_mode.data_rate_index = 5;
    d.settings.adr.static_mode.tx_power_index = 1;
    d.st.desired_parameters.adr_data_rate_index = 5;
    d.st.desired_parameters.adr_tx_power_index = 1;
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "0351070001");
    ns_mac_up_result_t res;
    /* Status 0x05: power and channel mask acked, data rate refused. */
    dev_up(&d, 11, 0, 0, 1, "0305", &res);
    assert_int_equal(d.st.current_parameters.adr_data_rate_index, 0);
    assert_int_equal(d.st.current_parameters.adr_tx_power_index, 0);
    assert_int_equal(d.st.rejected_adr_data_rate_indexes, 1u << 5);
    assert_int_equal(d.st.rejected_adr_tx_power_indexes, 0);
    assert_true(has_event(res.events, res.n_events, "ns.mac.link_adr.answer.reject"));
    /* The rejected data rate is not asked for again. */
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "");
}

static void test_ns_mac_link_adr__unsolicited_answer_ignored(void **state)
{
    (void)state;
    dev_t d;
    eu_device(&d, NS_MAC_V1_0_2);
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 0, 1, "0307", &res);
    assert_int_equal(d.st.current_parameters.adr_data_rate_index, 0);
    assert_true(has_event(res.events, res.n_events, "ns.mac.link_adr.answer.unsolicited"));
}

/* LoRaWAN 1.0.4: DataRate / TXPower 15 keep the current values when only NbTrans changes. */
static void test_ns_mac_link_adr__1_0_4_no_change_indices(void **state)
{
    (void)state;
    dev_t d;
    eu_device(&d, NS_MAC_V1_0_4);
    d.settings.adr.static_mode.nb_trans = 2;
    d.st.desired_parameters.adr_nb_trans = 2;
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "03ff070002");
    ns_mac_up_result_t res;
    dev_up(&d, 3, 0, 0, 1, "0307", &res);
    assert_int_equal(d.st.current_parameters.adr_nb_trans, 2);
    assert_int_equal(d.st.current_parameters.adr_data_rate_index, 0);
    assert_int_equal(d.st.current_parameters.adr_tx_power_index, 0);
}

/* EU868: disabling a channel is ChMaskCntl 0 with the new mask. */
static void test_ns_mac_link_adr__eu868_channel_mask(void **state)
{
    (void)state;
    dev_t d;
    eu_device(&d, NS_MAC_V1_0_3);
    d.settings.adr.mode = NS_ADR_MODE_DISABLED;
    lorawan_chset_set(&d.st.desired_parameters.enabled, 1, false);
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "0300050001");
    ns_mac_up_result_t res;
    dev_up(&d, 3, 0, 0, 1, "0307", &res);
    assert_false(lorawan_chset_test(&d.st.current_parameters.enabled, 1));
    assert_true(lorawan_chset_test(&d.st.current_parameters.enabled, 0));
}

static void us_device(dev_t *d, ns_mac_version_t v, lorawan_rp_rev_t rev)
{
    ns_mac_settings_t s = no_dev_status();
    dev_init(d, "US_902_928_FSB_2", rev, v, &s);
    /* ABP: the device starts with every channel on and must be moved to FSB 2. */
    d->st.desired_parameters.rx1_delay = d->st.current_parameters.rx1_delay;
    d->st.desired_parameters.rx2_data_rate_index = d->st.current_parameters.rx2_data_rate_index;
    d->st.desired_parameters.rx2_frequency = d->st.current_parameters.rx2_frequency;
}

/* US915 FSB 2 from all 72 channels: ChMaskCntl 7 (125 kHz off, 500 kHz channel 65 on),
 * then ChMaskCntl 0 with channels 8..15. */
static void test_ns_mac_link_adr__us915_block_1_0_3(void **state)
{
    (void)state;
    dev_t d;
    us_device(&d, NS_MAC_V1_0_3, LORAWAN_RP001_1_0_3_A);
    assert_int_equal(lorawan_chset_count(&d.st.current_parameters.enabled), 72);
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "0300020071030000ff01");
    assert_int_equal(pending_count(&d.st), 2);
    /* LoRaWAN 1.0.3 answers both commands of the block. */
    ns_mac_up_result_t res;
    dev_up(&d, 5, 0, 0, 1, "03070307", &res);
    assert_int_equal(lorawan_chset_count(&d.st.current_parameters.enabled), 9);
    assert_true(lorawan_chset_test(&d.st.current_parameters.enabled, 8));
    assert_true(lorawan_chset_test(&d.st.current_parameters.enabled, 65));
    assert_false(lorawan_chset_test(&d.st.current_parameters.enabled, 64));
    assert_int_equal(pending_count(&d.st), 0);
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "");
}

/* FSB 2 → FSB 1 (channels 0..7 and 64): only what differs, block 0 and the 500 kHz block
 * (TTS generateChMask72Generic prefers the differences when they are 2 commands). */
static void test_ns_mac_link_adr__us915_fsb2_to_fsb1(void **state)
{
    (void)state;
    dev_t d;
    us_device(&d, NS_MAC_V1_0_3, LORAWAN_RP001_1_0_3_A);
    lorawan_chset_t fsb2 = {{0, 0}}, fsb1 = {{0, 0}};
    for (unsigned i = 8; i < 16; i++)
        lorawan_chset_set(&fsb2, i, true);
    lorawan_chset_set(&fsb2, 65, true);
    for (unsigned i = 0; i < 8; i++)
        lorawan_chset_set(&fsb1, i, true);
    lorawan_chset_set(&fsb1, 64, true);
    d.st.current_parameters.enabled = fsb2;
    d.st.desired_parameters.enabled = fsb1;
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "0300ff0001" "0300010041");
    ns_mac_up_result_t res;
    dev_up(&d, 5, 0, 0, 1, "03070307", &res);
    assert_true(lorawan_chset_test(&d.st.current_parameters.enabled, 0));
    assert_true(lorawan_chset_test(&d.st.current_parameters.enabled, 64));
    assert_false(lorawan_chset_test(&d.st.current_parameters.enabled, 8));
    assert_false(lorawan_chset_test(&d.st.current_parameters.enabled, 65));
    /* Back to every channel: ChMaskCntl 6 with all 500 kHz channels. */
    lorawan_chset_t all = {{UINT64_MAX, 0xff}};
    d.st.desired_parameters.enabled = all;
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "0300ff0061");
}

/* LoRaWAN 1.1 answers a block once; DataRate and TXPower 15 mean "unchanged". */
static void test_ns_mac_link_adr__us915_block_1_1_single_answer(void **state)
{
    (void)state;
    dev_t d;
    us_device(&d, NS_MAC_V1_1, LORAWAN_RP001_1_1_B);
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "03ff02007103ff00ff01");
    ns_mac_up_result_t res;
    dev_up(&d, 5, 0, 0, 1, "0307", &res);
    assert_int_equal(lorawan_chset_count(&d.st.current_parameters.enabled), 9);
}

/* A rejected block (channel mask NACK) leaves every channel as it was. */
static void test_ns_mac_link_adr__us915_block_rejected(void **state)
{
    (void)state;
    dev_t d;
    us_device(&d, NS_MAC_V1_0_3, LORAWAN_RP001_1_0_3_A);
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 15, hex, sizeof hex, &dres);
    ns_mac_up_result_t res;
    dev_up(&d, 5, 0, 0, 1, "03060306", &res);
    assert_int_equal(lorawan_chset_count(&d.st.current_parameters.enabled), 72);
    assert_true(has_event(res.events, res.n_events, "ns.mac.link_adr.answer.reject"));
}

/* LoRaWAN 1.0.0: each command of the block is applied and answered on its own. */
static void test_ns_mac_link_adr__1_0_0_each_answer(void **state)
{
    (void)state;
    dev_t d;
    us_device(&d, NS_MAC_V1_0, LORAWAN_RP001_1_0_2);
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "0300020071030000ff01");
    ns_mac_up_result_t res;
    /* Only the first answered: only ChMaskCntl 7 is applied (channel 65 only). */
    dev_up(&d, 5, 0, 0, 1, "0307", &res);
    assert_int_equal(lorawan_chset_count(&d.st.current_parameters.enabled), 1);
    assert_true(lorawan_chset_test(&d.st.current_parameters.enabled, 65));
}

/* A block that does not fit the budget is not split. */
static void test_ns_mac_link_adr__block_all_or_nothing(void **state)
{
    (void)state;
    dev_t d;
    us_device(&d, NS_MAC_V1_0_3, LORAWAN_RP001_1_0_3_A);
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 9, hex, sizeof hex, &dres);
    assert_string_equal(hex, "");
    assert_true(dres.more);
    assert_int_equal(pending_count(&d.st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ns_mac_link_adr__eu868_accept),
        cmocka_unit_test(test_ns_mac_link_adr__eu868_reject_keeps_current),
        cmocka_unit_test(test_ns_mac_link_adr__unsolicited_answer_ignored),
        cmocka_unit_test(test_ns_mac_link_adr__1_0_4_no_change_indices),
        cmocka_unit_test(test_ns_mac_link_adr__eu868_channel_mask),
        cmocka_unit_test(test_ns_mac_link_adr__us915_block_1_0_3),
        cmocka_unit_test(test_ns_mac_link_adr__us915_fsb2_to_fsb1),
        cmocka_unit_test(test_ns_mac_link_adr__us915_block_1_1_single_answer),
        cmocka_unit_test(test_ns_mac_link_adr__us915_block_rejected),
        cmocka_unit_test(test_ns_mac_link_adr__1_0_0_each_answer),
        cmocka_unit_test(test_ns_mac_link_adr__block_all_or_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
