/* Tests of components/ns/mac/link_check.c and device_time.c: LinkCheckReq → LinkCheckAns
 * (margin above the demodulation floor, gateway count), DeviceTimeReq → DeviceTimeAns
 * (GPS time from the caller). */
#include "mac_test_util.h"

static void quiet_eu(dev_t *d)
{
    ns_mac_settings_t s = {0};
    s.has_status_count_periodicity = true;
    s.has_status_time_periodicity = true;
    s.adr.mode = NS_ADR_MODE_DISABLED;
    dev_init(d, "EU_863_870_TTN", LORAWAN_RP001_1_0_2_B, NS_MAC_V1_0_3, &s);
    dev_settle(d);
}

/* SF7 (DR5) floor -7.5 dB: SNR 5.5 dB → margin 13, 3 gateways → 02 0d 03. */
static void test_ns_mac_link_check__margin_and_gateways(void **state)
{
    (void)state;
    dev_t d;
    quiet_eu(&d);
    ns_mac_up_result_t res;
    dev_up(&d, 1, 5, 5.5f, 3, "02", &res);
    assert_true(res.downlink_needed);
    assert_true(has_event(res.events, res.n_events, "ns.mac.link_check.request"));
    assert_true(has_event(res.events, res.n_events, "ns.mac.link_check.answer"));
    /* Each event names its command: the request the device's, the answer the NS's. */
    for (unsigned i = 0; i < res.n_events; i++) {
        assert_int_equal(res.events[i].cmd.cid, LORAWAN_CID_LINK_CHECK);
        assert_int_equal(res.events[i].cmd.uplink,
                         strcmp(res.events[i].name, "ns.mac.link_check.request") == 0);
    }
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "020d03");
    assert_int_equal(queued_count(&d.st), 0);
    assert_int_equal(pending_count(&d.st), 0);
}

/* SF12 (DR0) floor -20 dB: SNR -22 → margin clamped to 0; SNR 300 → 254 (255 reserved). */
static void test_ns_mac_link_check__margin_clamped(void **state)
{
    (void)state;
    dev_t d;
    quiet_eu(&d);
    ns_mac_up_result_t res;
    ns_mac_down_result_t dres;
    char hex[600];
    dev_up(&d, 1, 0, -22.0f, 1, "02", &res);
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "020001");
    dev_up(&d, 2, 0, 300.0f, 2, "02", &res);
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "02fe02");
}

/* Two LinkCheckReq before a downlink are answered once, with the latest figures. */
static void test_ns_mac_link_check__answered_once(void **state)
{
    (void)state;
    dev_t d;
    quiet_eu(&d);
    ns_mac_up_result_t res;
    dev_up(&d, 1, 5, 0.0f, 1, "02", &res);
    dev_up(&d, 2, 5, 2.5f, 2, "02", &res);
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "020a02");
}

/* GPS 1300000000 s + 128/256 → 0d | 00 6d 7c 4d | 80. */
static void test_ns_mac_device_time__answer(void **state)
{
    (void)state;
    dev_t d;
    quiet_eu(&d);
    uint8_t mac[1] = {0x0d};
    ns_mac_uplink_t up = uplink(1, 5, 0, 1, mac, 1);
    up.has_gps_time = true;
    up.gps_time_256ths = ((uint64_t)1300000000u << 8) | 128u;
    ns_mac_up_result_t res;
    assert_int_equal(ns_mac_handle_uplink(&d.st, &d.ctx, &up, &res), 0);
    assert_true(res.downlink_needed);
    assert_int_equal(res.n_events, 2);
    assert_string_equal(res.events[0].name, "ns.mac.device_time.request");
    assert_int_equal(res.events[0].cmd.cid, LORAWAN_CID_DEVICE_TIME);
    assert_true(res.events[0].cmd.uplink);
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 15, hex, sizeof hex, &dres);
    assert_string_equal(hex, "0d006d7c4d80");
}

/* Without a GPS time the request is not answered (never a wrong time). */
static void test_ns_mac_device_time__no_time_no_answer(void **state)
{
    (void)state;
    dev_t d;
    quiet_eu(&d);
    ns_mac_up_result_t res;
    dev_up(&d, 1, 5, 0, 1, "0d", &res);
    assert_false(res.downlink_needed);
    assert_true(has_event(res.events, res.n_events, "ns.mac.device_time.no_time"));
    assert_int_equal(queued_count(&d.st), 0);
}

/* LinkCheckReq and DeviceTimeReq in one FOpts: both answered, in order. */
static void test_ns_mac_link_check__with_device_time(void **state)
{
    (void)state;
    dev_t d;
    quiet_eu(&d);
    uint8_t mac[2] = {0x02, 0x0d};
    ns_mac_uplink_t up = uplink(1, 3, -5.0f, 2, mac, 2);
    up.has_gps_time = true;
    up.gps_time_256ths = (uint64_t)1000u << 8;
    ns_mac_up_result_t res;
    assert_int_equal(ns_mac_handle_uplink(&d.st, &d.ctx, &up, &res), 0);
    ns_mac_down_result_t dres;
    char hex[600];
    dev_down(&d, 15, hex, sizeof hex, &dres);
    /* DR3 = SF9, floor -12.5: margin 7. GPS 1000 s = e8 03 00 00. */
    assert_string_equal(hex, "0207020de803000000");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ns_mac_link_check__margin_and_gateways),
        cmocka_unit_test(test_ns_mac_link_check__margin_clamped),
        cmocka_unit_test(test_ns_mac_link_check__answered_once),
        cmocka_unit_test(test_ns_mac_device_time__answer),
        cmocka_unit_test(test_ns_mac_device_time__no_time_no_answer),
        cmocka_unit_test(test_ns_mac_link_check__with_device_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
