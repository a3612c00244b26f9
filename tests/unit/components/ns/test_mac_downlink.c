/* Tests of components/ns/mac/uplink.c and downlink.c: answers before requests, TTS's
 * request order, the byte budget (FOpts 15, FPort 0) and the device's answer budget,
 * undecodable MAC bytes, retransmissions, unanswered requests. */
#include "mac_test_util.h"

static void quiet(dev_t *d)
{
    ns_mac_settings_t s = {0};
    s.has_status_count_periodicity = true;
    s.has_status_time_periodicity = true;
    s.adr.mode = NS_ADR_MODE_DISABLED;
    dev_init(d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_3, &s);
    dev_settle(d);
}

/* A fresh ABP EU868 device with TTS defaults: RXParamSetup (RX2 DR3), NewChannel x5,
 * RXTimingSetup (5 s), DevStatus. FOpts: answers first, then the TTS order within 15. */
static void test_ns_mac_downlink__fresh_abp_fopts(void **state)
{
    (void)state;
    dev_t d;
    dev_init(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_3, NULL);
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 5.0f, 2, "02", &res);
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 15, hex, sizeof hex, &dres);
    /* LinkCheckAns (3) | RXParamSetupReq (5) | NewChannelReq ch3 (6) | DevStatusReq (1) =
     * 15; the other NewChannelReq and RXTimingSetupReq wait. */
    assert_string_equal(hex, "021902"
                             "0503d2ad84"
                             "0703184f8450"
                             "06");
    assert_true(dres.more);
    assert_int_equal(dres.n_cmds, 4);
    assert_int_equal(pending_count(&d.st), 3);
    assert_int_equal(queued_count(&d.st), 0);
}

/* FPort 0 with a 51-byte budget (DR0): everything, but the device's answers must fit its
 * next FOpts (15 bytes): RXParamSetupAns 2 + 5 x NewChannelAns 2 + RXTimingSetupAns 1 +
 * DevStatusAns 3 = 16: DevStatusReq waits. */
static void test_ns_mac_downlink__fport0_answer_budget(void **state)
{
    (void)state;
    dev_t d;
    dev_init(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_3, NULL);
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 51, hex, sizeof hex, &dres);
    assert_string_equal(hex, "0503d2ad84"
                             "0703184f8450"
                             "0704e8568450"
                             "0705b85e8450"
                             "070688668450"
                             "0707586e8450"
                             "0805");
    assert_true(dres.more);
    assert_int_equal(pending_count(&d.st), 7);
    /* The device answers everything: state moves to the plan; DevStatus comes next. */
    ns_mac_up_result_t res;
    /* (At SF12 and -20 dB: no ADR change.) */
    dev_up(&d, 2, 0, -20.0f, 1,
           "0507"
           "0703"
           "0703"
           "0703"
           "0703"
           "0703"
           "08",
           &res);
    assert_int_equal(pending_count(&d.st), 0);
    assert_int_equal(d.st.current_parameters.rx2_data_rate_index, 3);
    assert_int_equal(d.st.current_parameters.rx1_delay, 5);
    assert_int_equal(ns_mac_channel_count(&d.st, &d.st.current_parameters), 8);
    dev_down(&d, 51, hex, sizeof hex, &dres);
    assert_string_equal(hex, "06");
    assert_false(dres.more);
}

/* A request is not sent twice while pending; an uplink without its answer forgets it
 * (event) and the next downlink asks again. */
static void test_ns_mac_downlink__pending_then_unanswered(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d);
    d.st.desired_parameters.max_duty_cycle = 2;
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "0402");
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "");
    assert_false(ns_mac_downlink_wanted(&d.st, &d.ctx, 0));
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 0, 1, "", &res);
    assert_true(has_event(res.events, res.n_events, "ns.mac.command.unanswered"));
    assert_int_equal(pending_count(&d.st), 0);
    assert_int_equal(d.st.current_parameters.max_duty_cycle, 0);
    assert_true(ns_mac_downlink_wanted(&d.st, &d.ctx, 0));
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "0402");
}

/* A retransmission (same FCnt) is not handled twice and keeps pending requests. */
static void test_ns_mac_downlink__retransmission(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d);
    ns_mac_up_result_t res;
    dev_up(&d, 7, 0, 0, 1, "02", &res);
    d.st.desired_parameters.max_duty_cycle = 2;
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 15, hex, sizeof hex, &dres);
    /* LinkCheckAns margin 20 (SF12, 0 dB). */
    assert_string_equal(hex, "0214010402");
    dev_up(&d, 7, 0, 3.0f, 1, "02", &res);
    assert_int_equal(queued_count(&d.st), 0);
    assert_int_equal(pending_count(&d.st), 1);
    assert_int_equal(res.n_events, 0);
    dev_up(&d, 8, 0, 0, 1, "04", &res);
    assert_int_equal(d.st.current_parameters.max_duty_cycle, 2);
}

/* Undecodable MAC bytes: the commands before are handled, the error is named. */
static void test_ns_mac_uplink__decode_error(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d);
    ns_mac_up_result_t res;
    dev_up(&d, 1, 5, 0, 1, "02ff02", &res);
    assert_int_equal(res.decode_error, LORAWAN_E_CID);
    assert_int_equal(res.decode_offset, 1);
    assert_true(has_event(res.events, res.n_events, "ns.mac.command.parse.fail"));
    assert_int_equal(queued_count(&d.st), 1);
    /* A cut command. */
    dev_up(&d, 2, 5, 0, 1, "0603", &res);
    assert_int_equal(res.decode_error, LORAWAN_E_MAC_SHORT);
    assert_int_equal(res.decode_offset, 0);
}

/* Bad arguments. */
static void test_ns_mac_uplink__params(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d);
    ns_mac_up_result_t res;
    ns_mac_uplink_t up = uplink(1, 0, 0, 1, NULL, 3);
    assert_int_equal(ns_mac_handle_uplink(&d.st, &d.ctx, &up, &res), LORAWAN_E_PARAM);
    assert_int_equal(ns_mac_handle_uplink(NULL, &d.ctx, &up, &res), LORAWAN_E_PARAM);
    size_t len = 0;
    ns_mac_down_result_t dres;
    assert_int_equal(ns_mac_downlink_build(&d.st, &d.ctx, 0, 15, NULL, 4, &len, &dres),
                     LORAWAN_E_PARAM);
}

/* Answers that do not fit stay queued for the next downlink. */
static void test_ns_mac_downlink__answers_over_budget(void **state)
{
    (void)state;
    dev_t d;
    quiet(&d);
    uint8_t mac[2] = {0x02, 0x0d};
    ns_mac_uplink_t up = uplink(1, 0, 0, 1, mac, 2);
    up.has_gps_time = true;
    up.gps_time_256ths = 256;
    ns_mac_up_result_t res;
    assert_int_equal(ns_mac_handle_uplink(&d.st, &d.ctx, &up, &res), 0);
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 4, hex, sizeof hex, &dres);
    assert_string_equal(hex, "021401");
    assert_true(dres.more);
    assert_int_equal(queued_count(&d.st), 1);
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "0d0100000000");
}

/* pending_requests renders as commands (TTS JSON), and the state survives a byte copy. */
static void test_ns_mac_state__pending_render_and_copy(void **state)
{
    (void)state;
    dev_t d;
    dev_init(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_3, NULL);
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 15, hex, sizeof hex, &dres);
    lorawan_mac_cmd_t p[NS_MAC_MAX_CMDS];
    size_t n = ns_mac_pending_requests(&d.st, p, NS_MAC_MAX_CMDS);
    assert_int_equal(n, 4);
    assert_int_equal(p[0].cid, LORAWAN_CID_RX_PARAM_SETUP);
    assert_int_equal(p[0].u.rx_param_setup_req.rx2_data_rate, 3);
    assert_int_equal(p[0].u.rx_param_setup_req.frequency_hz, 869525000);
    assert_int_equal(p[1].cid, LORAWAN_CID_NEW_CHANNEL);
    assert_int_equal(p[1].u.new_channel_req.ch_index, 3);
    assert_int_equal(p[2].cid, LORAWAN_CID_RX_TIMING_SETUP);
    assert_int_equal(p[3].cid, LORAWAN_CID_DEV_STATUS);
    assert_int_equal(ns_mac_pending_requests(&d.st, p, 2), 2);
    /* Persisted as bytes and loaded again: the answers still match. */
    static uint8_t saved[sizeof(ns_mac_state_t)];
    memcpy(saved, &d.st, sizeof saved);
    memset(&d.st, 0xa5, sizeof d.st);
    memcpy(&d.st, saved, sizeof saved);
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, -20.0f, 1,
           "0507070308"
           "06fe00",
           &res);
    assert_int_equal(res.decode_error, 0);
    assert_int_equal(d.st.current_parameters.rx2_data_rate_index, 3);
    assert_int_equal(d.st.current_parameters.rx1_delay, 5);
    assert_int_equal(ns_mac_channel_count(&d.st, &d.st.current_parameters), 4);
    assert_true(d.st.dev_status_received);
    assert_int_equal(pending_count(&d.st), 0);
}

/* A downlink the GS did not transmit (ns_mac_downlink_lost): its requests never reached the
 * device, so they are forgotten without an unanswered event, the current parameters stay,
 * and the next downlink carries the same requests again. */
static void test_ns_mac_downlink__lost(void **state)
{
    (void)state;
    dev_t d;
    dev_init(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_3, NULL);
    ns_mac_params_t before = d.st.current_parameters;
    ns_mac_down_result_t dres;
    char hex[600], again[600];
    dev_down(&d, 15, hex, sizeof hex, &dres);
    /* RXParamSetupReq | NewChannelReq ch3 | RXTimingSetupReq | DevStatusReq (TTS's order). */
    assert_string_equal(hex, "0503d2ad84"
                             "0703184f8450"
                             "0805"
                             "06");
    assert_int_equal(pending_count(&d.st), 4);
    unsigned n_events = dres.n_events;
    assert_true(n_events > 0);
    ns_mac_downlink_lost(&d.st);
    assert_int_equal(pending_count(&d.st), 0);
    assert_memory_equal(&d.st.current_parameters, &before, sizeof before);
    /* The next uplink answers nothing: nothing was asked. */
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 5.0f, 1, "", &res);
    assert_false(has_event(res.events, res.n_events, "ns.mac.command.unanswered"));
    assert_memory_equal(&d.st.current_parameters, &before, sizeof before);
    /* Built again from desired vs current: the same bytes, the same requests pending. */
    dev_down(&d, 15, again, sizeof again, &dres);
    assert_string_equal(again, hex);
    assert_int_equal(pending_count(&d.st), 4);
    assert_int_equal(dres.n_events, n_events);
    /* This time the device heard them and answers all: applied, nothing pending. */
    dev_up(&d, 2, 0, -20.0f, 1,
           "0507"
           "0703"
           "08"
           "06fe00",
           &res);
    assert_false(has_event(res.events, res.n_events, "ns.mac.command.unanswered"));
    assert_int_equal(pending_count(&d.st), 0);
    assert_int_equal(d.st.current_parameters.rx2_data_rate_index, 3);
    assert_int_equal(d.st.current_parameters.rx1_delay, 5);
    ns_mac_downlink_lost(NULL); /* no state: nothing to do */
}

/* Without the loss, the same uplink would report every request unanswered (the contrast). */
static void test_ns_mac_downlink__not_lost_unanswered(void **state)
{
    (void)state;
    dev_t d;
    dev_init(&d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_3, NULL);
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 15, hex, sizeof hex, &dres);
    ns_mac_up_result_t res;
    dev_up(&d, 1, 0, 5.0f, 1, "", &res);
    assert_true(has_event(res.events, res.n_events, "ns.mac.command.unanswered"));
    assert_int_equal(pending_count(&d.st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ns_mac_downlink__fresh_abp_fopts),
        cmocka_unit_test(test_ns_mac_downlink__fport0_answer_budget),
        cmocka_unit_test(test_ns_mac_downlink__pending_then_unanswered),
        cmocka_unit_test(test_ns_mac_downlink__retransmission),
        cmocka_unit_test(test_ns_mac_uplink__decode_error),
        cmocka_unit_test(test_ns_mac_uplink__params),
        cmocka_unit_test(test_ns_mac_downlink__answers_over_budget),
        cmocka_unit_test(test_ns_mac_state__pending_render_and_copy),
        cmocka_unit_test(test_ns_mac_downlink__lost),
        cmocka_unit_test(test_ns_mac_downlink__not_lost_unanswered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
