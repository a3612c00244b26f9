/* Tests of components/lorawan/mac.c: MAC-command encoding and decoding in both directions,
 * the field table, and the parser's errors. Byte strings come from ../shared/vectors
 * (encode_mac_commands / decode_mac_commands cases) and its README caveats. */
#include "test_util.h"

static void encode_one(const lorawan_mac_cmd_t *c, const char *want)
{
    uint8_t out[32];
    size_t len = 0;
    assert_int_equal(lorawan_mac_cmds_encode(c, 1, out, sizeof(out), &len), 0);
    assert_hex_equal(want, out, len);
}

/* encode_mac_commands-005. */
static void test_lorawan_mac_cmds_encode__link_adr_req(void **state)
{
    (void)state;
    lorawan_mac_cmd_t c = {.cid = LORAWAN_CID_LINK_ADR, .uplink = false};
    c.u.link_adr_req.data_rate = 5;
    c.u.link_adr_req.tx_power = 2;
    c.u.link_adr_req.ch_mask = 516;
    c.u.link_adr_req.ch_mask_cntl = 1;
    c.u.link_adr_req.nb_trans = 1;
    encode_one(&c, "0352040211");
}

/* encode_mac_commands-011: frequency sent as Hz / 100, 24-bit LE. */
static void test_lorawan_mac_cmds_encode__new_channel_req(void **state)
{
    (void)state;
    lorawan_mac_cmd_t c = {.cid = LORAWAN_CID_NEW_CHANNEL, .uplink = false};
    c.u.new_channel_req.ch_index = 15;
    c.u.new_channel_req.frequency_hz = 439091100;
    c.u.new_channel_req.max_dr = 4;
    c.u.new_channel_req.min_dr = 2;
    encode_one(&c, "070fffff4242");
}

/* README caveat 3: ForceRejoinReq {period 3, retries 4, type 2, DR 5} is 0e 25 1c. */
static void test_lorawan_mac_cmds_encode__force_rejoin_req_le(void **state)
{
    (void)state;
    lorawan_mac_cmd_t c = {.cid = LORAWAN_CID_FORCE_REJOIN, .uplink = false};
    c.u.force_rejoin_req.period = 3;
    c.u.force_rejoin_req.max_retries = 4;
    c.u.force_rejoin_req.rejoin_type = 2;
    c.u.force_rejoin_req.data_rate = 5;
    encode_one(&c, "0e251c");
}

/* encode_mac_commands-025. */
static void test_lorawan_mac_cmds_encode__device_time_ans(void **state)
{
    (void)state;
    lorawan_mac_cmd_t c = {.cid = LORAWAN_CID_DEVICE_TIME, .uplink = false};
    c.u.device_time_ans.gps_seconds = 1124073471;
    c.u.device_time_ans.fractional_256ths = 66;
    encode_one(&c, "0dffffff4242");
}

/* README caveat 2: 6-bit two's complement margins. */
static void test_lorawan_mac_cmds_encode__dev_status_ans_negative_margin(void **state)
{
    (void)state;
    lorawan_mac_cmd_t c = {.cid = LORAWAN_CID_DEV_STATUS, .uplink = true};
    c.u.dev_status_ans.battery = 0x42;
    c.u.dev_status_ans.margin = -16;
    encode_one(&c, "064230");
    c.u.dev_status_ans.margin = -1;
    encode_one(&c, "06423f");
    c.u.dev_status_ans.margin = 31;
    encode_one(&c, "06421f");
    c.u.dev_status_ans.margin = -33;
    uint8_t out[8];
    size_t len = 0;
    assert_int_equal(lorawan_mac_cmds_encode(&c, 1, out, sizeof(out), &len), LORAWAN_E_RANGE);
}

static void test_lorawan_mac_cmds_encode__range_errors(void **state)
{
    (void)state;
    uint8_t out[16];
    size_t len = 0;
    lorawan_mac_cmd_t c = {.cid = LORAWAN_CID_LINK_ADR, .uplink = false};
    c.u.link_adr_req.data_rate = 16;
    assert_int_equal(lorawan_mac_cmds_encode(&c, 1, out, sizeof(out), &len), LORAWAN_E_RANGE);
    memset(&c, 0, sizeof(c));
    c.cid = LORAWAN_CID_DL_CHANNEL;
    c.u.dl_channel_req.frequency_hz = 868100050; /* not a multiple of 100 Hz */
    assert_int_equal(lorawan_mac_cmds_encode(&c, 1, out, sizeof(out), &len), LORAWAN_E_RANGE);
    memset(&c, 0, sizeof(c));
    c.cid = LORAWAN_CID_DEVICE_MODE;
    c.u.device_mode.device_class = 1; /* class B is RFU in DeviceModeConf */
    assert_int_equal(lorawan_mac_cmds_encode(&c, 1, out, sizeof(out), &len), LORAWAN_E_RANGE);
}

static void test_lorawan_mac_cmds_encode__unknown_and_buffer(void **state)
{
    (void)state;
    uint8_t out[16];
    size_t len = 99;
    lorawan_mac_cmd_t c[2] = {{.cid = LORAWAN_CID_DEV_STATUS, .uplink = false},
                              {.cid = LORAWAN_CID_FORCE_REJOIN, .uplink = true}};
    assert_int_equal(lorawan_mac_cmds_encode(c, 2, out, sizeof(out), &len), LORAWAN_E_CID);
    assert_int_equal(len, 1); /* DevStatusReq was written */
    c[1].cid = LORAWAN_CID_LINK_ADR;
    c[1].uplink = false;
    assert_int_equal(lorawan_mac_cmds_encode(c, 2, out, 5, &len), LORAWAN_E_BUF);
    assert_int_equal(len, 1);
    assert_int_equal(lorawan_mac_cmds_encode(c, 2, out, 6, &len), 0);
    assert_int_equal(len, 6);
}

/* decode_mac_commands-037: a command without payload followed by one with. */
static void test_lorawan_mac_cmds_decode__sequence(void **state)
{
    (void)state;
    uint8_t buf[] = {0x02, 0x03, 0x05};
    lorawan_mac_cmd_t out[4];
    size_t n = 0, used = 0;
    assert_int_equal(lorawan_mac_cmds_decode(buf, sizeof(buf), true, out, 4, &n, &used), 0);
    assert_int_equal(n, 2);
    assert_int_equal(used, 3);
    assert_int_equal(out[0].cid, LORAWAN_CID_LINK_CHECK);
    assert_int_equal(out[1].cid, LORAWAN_CID_LINK_ADR);
    assert_true(out[1].u.link_adr_ans.power_ack);
    assert_false(out[1].u.link_adr_ans.data_rate_ack);
    assert_true(out[1].u.link_adr_ans.channel_mask_ack);
}

/* decode_mac_commands-009 and -011. */
static void test_lorawan_mac_cmds_decode__dev_status_margin(void **state)
{
    (void)state;
    uint8_t buf[] = {0x06, 0x00, 0x22, 0x06, 0x7f, 0x3f};
    lorawan_mac_cmd_t out[2];
    size_t n = 0, used = 0;
    assert_int_equal(lorawan_mac_cmds_decode(buf, sizeof(buf), true, out, 2, &n, &used), 0);
    assert_int_equal(out[0].u.dev_status_ans.margin, -30);
    assert_int_equal(out[1].u.dev_status_ans.battery, 127);
    assert_int_equal(out[1].u.dev_status_ans.margin, -1);
}

static void test_lorawan_mac_cmds_decode__downlink_direction(void **state)
{
    (void)state;
    uint8_t buf[] = {0x05, 0x3b, 0x01, 0x02, 0x04, 0x02, 0x14, 0x03};
    lorawan_mac_cmd_t out[2];
    size_t n = 0, used = 0;
    assert_int_equal(lorawan_mac_cmds_decode(buf, sizeof(buf), false, out, 2, &n, &used), 0);
    assert_int_equal(out[0].u.rx_param_setup_req.rx1_dr_offset, 3);
    assert_int_equal(out[0].u.rx_param_setup_req.rx2_data_rate, 11);
    assert_int_equal(out[0].u.rx_param_setup_req.frequency_hz, 26265700);
    assert_int_equal(out[1].u.link_check_ans.margin, 20);
    assert_int_equal(out[1].u.link_check_ans.gw_cnt, 3);
}

static void test_lorawan_mac_cmds_decode__unknown_cid(void **state)
{
    (void)state;
    uint8_t buf[] = {0x02, 0x80, 0x01};
    lorawan_mac_cmd_t out[4];
    size_t n = 9, used = 9;
    assert_int_equal(lorawan_mac_cmds_decode(buf, sizeof(buf), true, out, 4, &n, &used),
                     LORAWAN_E_CID);
    assert_int_equal(n, 1);
    assert_int_equal(used, 1);
}

static void test_lorawan_mac_cmds_decode__cid_wrong_direction(void **state)
{
    (void)state;
    uint8_t buf[] = {0x0e, 0x25, 0x1c}; /* ForceRejoinReq only exists downlink */
    lorawan_mac_cmd_t out[4];
    size_t n = 0, used = 0;
    assert_int_equal(lorawan_mac_cmds_decode(buf, sizeof(buf), true, out, 4, &n, &used),
                     LORAWAN_E_CID);
    assert_int_equal(n, 0);
    assert_int_equal(lorawan_mac_cmds_decode(buf, sizeof(buf), false, out, 4, &n, &used), 0);
    assert_int_equal(out[0].u.force_rejoin_req.period, 3);
    assert_int_equal(out[0].u.force_rejoin_req.max_retries, 4);
    assert_int_equal(out[0].u.force_rejoin_req.rejoin_type, 2);
    assert_int_equal(out[0].u.force_rejoin_req.data_rate, 5);
}

static void test_lorawan_mac_cmds_decode__truncated(void **state)
{
    (void)state;
    uint8_t buf[] = {0x06, 0x7f, 0x3f, 0x03};
    lorawan_mac_cmd_t out[4];
    size_t n = 0, used = 0;
    assert_int_equal(lorawan_mac_cmds_decode(buf, sizeof(buf), true, out, 4, &n, &used),
                     LORAWAN_E_MAC_SHORT);
    assert_int_equal(n, 1);
    assert_int_equal(used, 3);
}

static void test_lorawan_mac_cmds_decode__too_many(void **state)
{
    (void)state;
    uint8_t buf[] = {0x02, 0x02, 0x02};
    lorawan_mac_cmd_t out[2];
    size_t n = 0, used = 0;
    assert_int_equal(lorawan_mac_cmds_decode(buf, sizeof(buf), true, out, 2, &n, &used),
                     LORAWAN_E_MAC_COUNT);
    assert_int_equal(n, 2);
    assert_int_equal(used, 2);
}

static void test_lorawan_mac_cmds_decode__rfu_bits_ignored(void **state)
{
    (void)state;
    uint8_t buf[] = {0x03, 0xf8};
    lorawan_mac_cmd_t out[1];
    size_t n = 0, used = 0;
    assert_int_equal(lorawan_mac_cmds_decode(buf, sizeof(buf), true, out, 1, &n, &used), 0);
    assert_false(out[0].u.link_adr_ans.power_ack);
    assert_false(out[0].u.link_adr_ans.channel_mask_ack);
}

/* Every command in both directions: the all-ones wire payload (RFU bits cleared by the
 * decoder) re-encodes to the same bits, and the names are unique. */
static void test_lorawan_mac_cmd_info__every_command_roundtrips(void **state)
{
    (void)state;
    int count = 0;
    for (unsigned cid = 0; cid < 256; cid++) {
        for (int up = 0; up < 2; up++) {
            const char *name = NULL;
            size_t plen = 0, nf = 0;
            const lorawan_mac_field_t *f = NULL;
            if (lorawan_mac_cmd_info((uint8_t)cid, up, &name, &plen, &f, &nf) != 0)
                continue;
            count++;
            uint8_t cidb = 0;
            bool dir = false;
            assert_int_equal(lorawan_mac_cmd_by_name(name, &cidb, &dir), 0);
            assert_int_equal(cidb, cid);
            assert_int_equal(dir, up);
            uint8_t wire[8] = {(uint8_t)cid}, again[8];
            memset(wire + 1, 0xff, plen);
            if (cid == LORAWAN_CID_DEVICE_MODE)
                wire[1] = 0x02;
            lorawan_mac_cmd_t c;
            size_t n = 0, used = 0, len = 0;
            assert_int_equal(lorawan_mac_cmds_decode(wire, 1 + plen, up, &c, 1, &n, &used), 0);
            assert_int_equal(used, 1 + plen);
            assert_int_equal(lorawan_mac_cmds_encode(&c, 1, again, sizeof(again), &len), 0);
            assert_int_equal(len, 1 + plen);
            /* Re-decoding the re-encoded bytes gives the same fields. */
            lorawan_mac_cmd_t c2;
            assert_int_equal(lorawan_mac_cmds_decode(again, len, up, &c2, 1, &n, &used), 0);
            for (size_t j = 0; j < nf; j++)
                assert_int_equal(lorawan_mac_field_get(&c, &f[j]),
                                 lorawan_mac_field_get(&c2, &f[j]));
        }
    }
    assert_int_equal(count, 39);
}

static void test_lorawan_mac_field_set__range(void **state)
{
    (void)state;
    const lorawan_mac_field_t *f = NULL;
    size_t nf = 0;
    lorawan_mac_cmd_t c = {.cid = LORAWAN_CID_RX_PARAM_SETUP};
    assert_int_equal(lorawan_mac_cmd_info(LORAWAN_CID_RX_PARAM_SETUP, false, NULL, NULL, &f, &nf),
                     0);
    assert_int_equal(nf, 3);
    assert_string_equal(f[2].name, "frequency_hz");
    assert_int_equal(lorawan_mac_field_set(&c, &f[2], 869525000), 0);
    assert_int_equal(c.u.rx_param_setup_req.frequency_hz, 869525000);
    assert_int_equal(lorawan_mac_field_set(&c, &f[2], 1677721600), LORAWAN_E_RANGE);
    assert_int_equal(lorawan_mac_field_set(&c, &f[0], 8), LORAWAN_E_RANGE);
    assert_int_equal(lorawan_mac_field_set(&c, &f[0], 7), 0);
    assert_int_equal(lorawan_mac_field_get(&c, &f[0]), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lorawan_mac_cmds_encode__link_adr_req),
        cmocka_unit_test(test_lorawan_mac_cmds_encode__new_channel_req),
        cmocka_unit_test(test_lorawan_mac_cmds_encode__force_rejoin_req_le),
        cmocka_unit_test(test_lorawan_mac_cmds_encode__device_time_ans),
        cmocka_unit_test(test_lorawan_mac_cmds_encode__dev_status_ans_negative_margin),
        cmocka_unit_test(test_lorawan_mac_cmds_encode__range_errors),
        cmocka_unit_test(test_lorawan_mac_cmds_encode__unknown_and_buffer),
        cmocka_unit_test(test_lorawan_mac_cmds_decode__sequence),
        cmocka_unit_test(test_lorawan_mac_cmds_decode__dev_status_margin),
        cmocka_unit_test(test_lorawan_mac_cmds_decode__downlink_direction),
        cmocka_unit_test(test_lorawan_mac_cmds_decode__unknown_cid),
        cmocka_unit_test(test_lorawan_mac_cmds_decode__cid_wrong_direction),
        cmocka_unit_test(test_lorawan_mac_cmds_decode__truncated),
        cmocka_unit_test(test_lorawan_mac_cmds_decode__too_many),
        cmocka_unit_test(test_lorawan_mac_cmds_decode__rfu_bits_ignored),
        cmocka_unit_test(test_lorawan_mac_cmd_info__every_command_roundtrips),
        cmocka_unit_test(test_lorawan_mac_field_set__range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
