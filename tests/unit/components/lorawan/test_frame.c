/* Tests of components/lorawan/frame.c: PHYPayload decode/encode for every MType and every
 * malformation, join-accept parse/encode. Frames come from ../shared/vectors (case ids). */
#include "test_util.h"

static int decode_hex(const char *hex, uint8_t *buf, size_t cap, lorawan_phy_t *p)
{
    size_t len = unhex(hex, buf, cap);
    return lorawan_phy_decode(buf, len, p);
}

/* Re-encodes a decoded frame and asserts the bytes are identical. */
static void assert_roundtrip(const uint8_t *buf, size_t len, const lorawan_phy_t *p)
{
    uint8_t out[LORAWAN_PHY_MAX_LEN];
    size_t out_len = 0;
    assert_int_equal(lorawan_phy_encode(p, out, sizeof(out), &out_len), 0);
    assert_int_equal(out_len, len);
    assert_memory_equal(out, buf, len);
}

/* decode_phypayload-011. */
static void test_lorawan_phy_decode__join_request(void **state)
{
    (void)state;
    uint8_t buf[64];
    lorawan_phy_t p;
    assert_int_equal(
        decode_hex("0008070605040302010102030405060708000401020304", buf, sizeof(buf), &p), 0);
    assert_int_equal(p.mtype, LORAWAN_MTYPE_JOIN_REQUEST);
    assert_int_equal(p.u.join_request.join_eui, 0x0102030405060708ull);
    assert_int_equal(p.u.join_request.dev_eui, 0x0807060504030201ull);
    assert_int_equal(p.u.join_request.dev_nonce, 1024);
    assert_hex_equal("01020304", p.mic, 4);
    assert_roundtrip(buf, 23, &p);
}

/* decode_phypayload-017: confirmed downlink with FOpts. */
static void test_lorawan_phy_decode__data_down_fopts(void **state)
{
    (void)state;
    uint8_t buf[64];
    lorawan_phy_t p;
    assert_int_equal(decode_hex("a0e7cd2c01b503000350ff000101ff0b70cf93ccc1", buf, sizeof(buf), &p),
                     0);
    assert_int_equal(p.mtype, LORAWAN_MTYPE_CONFIRMED_DATA_DOWN);
    const lorawan_data_t *d = &p.u.data;
    assert_int_equal(d->dev_addr, 0x012ccde7);
    assert_true(d->fctrl.adr);
    assert_true(d->fctrl.ack);
    assert_true(d->fctrl.f_pending);
    assert_false(d->fctrl.class_b);
    assert_false(d->fctrl.adr_ack_req);
    assert_int_equal(d->fctrl.fopts_len, 5);
    assert_int_equal(d->fcnt16, 3);
    assert_hex_equal("0350ff0001", d->fopts, d->fopts_len);
    assert_true(d->has_fport);
    assert_int_equal(d->fport, 1);
    assert_hex_equal("ff0b70", d->frm_payload, d->frm_payload_len);
    assert_ptr_equal(d->fopts, buf + 8); /* a view, not a copy */
    assert_roundtrip(buf, 21, &p);
}

/* decode_phypayload-005: the same FCtrl byte read as an uplink. */
static void test_lorawan_phy_decode__uplink_fctrl_bits(void **state)
{
    (void)state;
    uint8_t buf[64];
    lorawan_phy_t p;
    assert_int_equal(decode_hex("80ffffff42b242fffeff42feff42ffffff", buf, sizeof(buf), &p), 0);
    assert_int_equal(p.mtype, LORAWAN_MTYPE_CONFIRMED_DATA_UP);
    assert_true(p.u.data.fctrl.adr);
    assert_false(p.u.data.fctrl.adr_ack_req);
    assert_true(p.u.data.fctrl.ack);
    assert_true(p.u.data.fctrl.class_b);
    assert_false(p.u.data.fctrl.f_pending);
    assert_int_equal(p.u.data.fcnt16, 65346);
    assert_roundtrip(buf, 17, &p);
}

/* decode_phypayload-013: FPort 1 with an empty FRMPayload. */
static void test_lorawan_phy_decode__fport_empty_payload(void **state)
{
    (void)state;
    uint8_t buf[64];
    lorawan_phy_t p;
    assert_int_equal(decode_hex("40f17dbe49000300012a3518af", buf, sizeof(buf), &p), 0);
    assert_true(p.u.data.has_fport);
    assert_int_equal(p.u.data.fport, 1);
    assert_int_equal(p.u.data.frm_payload_len, 0);
    assert_roundtrip(buf, 13, &p);
}

static void test_lorawan_phy_decode__no_fport(void **state)
{
    (void)state;
    uint8_t buf[64];
    lorawan_phy_t p;
    assert_int_equal(decode_hex("40f17dbe490003002a3518af", buf, sizeof(buf), &p), 0);
    assert_false(p.u.data.has_fport);
    assert_int_equal(p.u.data.frm_payload_len, 0);
    assert_roundtrip(buf, 12, &p);
}

/* decode_phypayload-007 (type 0) and a type 1 rejoin. */
static void test_lorawan_phy_decode__rejoin_types(void **state)
{
    (void)state;
    uint8_t buf[64];
    lorawan_phy_t p;
    assert_int_equal(decode_hex("c000ffff42ffffffffffffff4242ff42ffffff", buf, sizeof(buf), &p), 0);
    assert_int_equal(p.u.rejoin.rejoin_type, 0);
    assert_int_equal(p.u.rejoin.net_id, 0x42ffff);
    assert_int_equal(p.u.rejoin.dev_eui, 0x42ffffffffffffffull);
    assert_int_equal(p.u.rejoin.rj_count, 65346);
    assert_roundtrip(buf, 19, &p);
    assert_int_equal(
        decode_hex("c00108070605040302010807060504030201020167f9abe7", buf, sizeof(buf), &p), 0);
    assert_int_equal(p.u.rejoin.rejoin_type, 1);
    assert_int_equal(p.u.rejoin.join_eui, 0x0102030405060708ull);
    assert_int_equal(p.u.rejoin.rj_count, 0x0102);
    assert_roundtrip(buf, 24, &p);
}

static void test_lorawan_phy_decode__join_accept_encrypted_view(void **state)
{
    (void)state;
    uint8_t buf[64];
    lorawan_phy_t p;
    assert_int_equal(decode_hex("20493eeb51fba2116f810edb3742975142", buf, sizeof(buf), &p), 0);
    assert_int_equal(p.mtype, LORAWAN_MTYPE_JOIN_ACCEPT);
    assert_ptr_equal(p.mac_payload, buf + 1);
    assert_int_equal(p.mac_payload_len, 16);
    assert_roundtrip(buf, 17, &p);
}

static void test_lorawan_phy_decode__proprietary(void **state)
{
    (void)state;
    uint8_t buf[64];
    lorawan_phy_t p;
    assert_int_equal(decode_hex("e0010203", buf, sizeof(buf), &p), 0);
    assert_int_equal(p.mtype, LORAWAN_MTYPE_PROPRIETARY);
    assert_int_equal(p.mac_payload_len, 3);
    assert_roundtrip(buf, 4, &p);
    assert_int_equal(decode_hex("e0", buf, sizeof(buf), &p), 0);
    assert_int_equal(p.mac_payload_len, 0);
}

static void test_lorawan_phy_decode__empty(void **state)
{
    (void)state;
    uint8_t b[1] = {0};
    lorawan_phy_t p;
    assert_int_equal(lorawan_phy_decode(b, 0, &p), LORAWAN_E_SHORT);
    assert_int_equal(lorawan_phy_decode(NULL, 1, &p), LORAWAN_E_PARAM);
    assert_int_equal(lorawan_phy_decode(b, 1, NULL), LORAWAN_E_PARAM);
}

static void test_lorawan_phy_decode__too_long(void **state)
{
    (void)state;
    uint8_t b[256] = {0xe0};
    lorawan_phy_t p;
    assert_int_equal(lorawan_phy_decode(b, 256, &p), LORAWAN_E_LONG);
    assert_int_equal(lorawan_phy_decode(b, 255, &p), 0);
}

static void test_lorawan_phy_decode__major_rfu(void **state)
{
    (void)state;
    uint8_t buf[64];
    lorawan_phy_t p;
    assert_int_equal(decode_hex("41f17dbe49000300012a3518af", buf, sizeof(buf), &p),
                     LORAWAN_E_MAJOR);
}

static void test_lorawan_phy_decode__data_short(void **state)
{
    (void)state;
    uint8_t buf[64];
    lorawan_phy_t p;
    assert_int_equal(decode_hex("40f17dbe4900030a3518af", buf, sizeof(buf), &p), LORAWAN_E_SHORT);
    assert_int_equal(decode_hex("400102", buf, sizeof(buf), &p), LORAWAN_E_SHORT);
}

static void test_lorawan_phy_decode__fopts_len_past_end(void **state)
{
    (void)state;
    uint8_t buf[64];
    lorawan_phy_t p;
    /* FOptsLen 3 but only 2 bytes before the MIC. */
    assert_int_equal(decode_hex("40f17dbe4903030001022a3518af", buf, sizeof(buf), &p),
                     LORAWAN_E_FOPTS_LEN);
}

static void test_lorawan_phy_decode__fport0_with_fopts(void **state)
{
    (void)state;
    uint8_t buf[64];
    lorawan_phy_t p;
    assert_int_equal(decode_hex("40f17dbe490103000200aa2a3518af", buf, sizeof(buf), &p),
                     LORAWAN_E_FPORT0_FOPTS);
}

static void test_lorawan_phy_decode__join_request_lengths(void **state)
{
    (void)state;
    uint8_t buf[64];
    lorawan_phy_t p;
    assert_int_equal(
        decode_hex("00080706050403020101020304050607080004010203", buf, sizeof(buf), &p),
        LORAWAN_E_SHORT);
    assert_int_equal(
        decode_hex("000807060504030201010203040506070800040102030405", buf, sizeof(buf), &p),
        LORAWAN_E_LONG);
}

static void test_lorawan_phy_decode__rejoin_bad(void **state)
{
    (void)state;
    uint8_t buf[64];
    lorawan_phy_t p;
    assert_int_equal(decode_hex("c003ffff42ffffffffffffff4242ff42ffffff", buf, sizeof(buf), &p),
                     LORAWAN_E_REJOIN_TYPE);
    assert_int_equal(decode_hex("c000ffff42ffffffffffffff4242ff42ffff", buf, sizeof(buf), &p),
                     LORAWAN_E_SHORT);
    assert_int_equal(decode_hex("c000ffff42ffffffffffffff4242ff42ffffff00", buf, sizeof(buf), &p),
                     LORAWAN_E_LONG);
    assert_int_equal(decode_hex("c001ffff42ffffffffffffff4242ff42ffffff", buf, sizeof(buf), &p),
                     LORAWAN_E_SHORT);
    assert_int_equal(decode_hex("c0010203", buf, sizeof(buf), &p), LORAWAN_E_SHORT);
    assert_int_equal(decode_hex("c001020304", buf, sizeof(buf), &p), LORAWAN_E_SHORT);
}

static void test_lorawan_phy_decode__join_accept_length(void **state)
{
    (void)state;
    uint8_t buf[64];
    lorawan_phy_t p;
    assert_int_equal(decode_hex("20493eeb51fba2116f810edb37429751", buf, sizeof(buf), &p),
                     LORAWAN_E_JA_LEN);
    assert_int_equal(decode_hex("20493eeb51fba2116f810edb374297514200", buf, sizeof(buf), &p),
                     LORAWAN_E_JA_LEN);
}

static void test_lorawan_phy_encode__buffer_too_small(void **state)
{
    (void)state;
    uint8_t buf[64], out[64];
    size_t out_len = 0;
    lorawan_phy_t p;
    assert_int_equal(decode_hex("a0e7cd2c01b503000350ff000101ff0b70cf93ccc1", buf, sizeof(buf), &p),
                     0);
    assert_int_equal(lorawan_phy_encode(&p, out, 20, &out_len), LORAWAN_E_BUF);
    assert_int_equal(lorawan_phy_encode(&p, out, 21, &out_len), 0);
}

static void test_lorawan_phy_encode__range_errors(void **state)
{
    (void)state;
    uint8_t out[64], fopts[16] = {0};
    size_t out_len = 0;
    lorawan_phy_t p;
    memset(&p, 0, sizeof(p));
    p.mtype = LORAWAN_MTYPE_UNCONFIRMED_DATA_UP;
    p.u.data.fopts = fopts;
    p.u.data.fopts_len = 16;
    assert_int_equal(lorawan_phy_encode(&p, out, sizeof(out), &out_len), LORAWAN_E_RANGE);
    p.u.data.fopts_len = 2;
    p.u.data.has_fport = true;
    p.u.data.fport = 0;
    assert_int_equal(lorawan_phy_encode(&p, out, sizeof(out), &out_len), LORAWAN_E_RANGE);
    memset(&p, 0, sizeof(p));
    p.mtype = LORAWAN_MTYPE_REJOIN_REQUEST;
    p.u.rejoin.rejoin_type = 3;
    assert_int_equal(lorawan_phy_encode(&p, out, sizeof(out), &out_len), LORAWAN_E_RANGE);
    p.major = 4;
    assert_int_equal(lorawan_phy_encode(&p, out, sizeof(out), &out_len), LORAWAN_E_RANGE);
}

static void test_lorawan_phy_encode__too_long(void **state)
{
    (void)state;
    uint8_t out[300], payload[250] = {0};
    size_t out_len = 0;
    lorawan_phy_t p;
    memset(&p, 0, sizeof(p));
    p.mtype = LORAWAN_MTYPE_UNCONFIRMED_DATA_DOWN;
    p.u.data.has_fport = true;
    p.u.data.fport = 1;
    p.u.data.frm_payload = payload;
    p.u.data.frm_payload_len = 243; /* 1 + 7 + 1 + 243 + 4 = 256 */
    assert_int_equal(lorawan_phy_encode(&p, out, sizeof(out), &out_len), LORAWAN_E_LONG);
    p.u.data.frm_payload_len = 242;
    assert_int_equal(lorawan_phy_encode(&p, out, sizeof(out), &out_len), 0);
    assert_int_equal(out_len, 255);
}

/* decrypt_join_accept-007's plaintext. */
static void test_lorawan_join_accept_parse__cflist(void **state)
{
    (void)state;
    uint8_t buf[64], out[64];
    size_t out_len = 0;
    lorawan_join_accept_t ja;
    size_t len = unhex("20070000130000010000269205184f84e85684b85e84886684586e8400da217bab", buf,
                       sizeof(buf));
    assert_int_equal(lorawan_join_accept_parse(buf, len, &ja), 0);
    assert_int_equal(ja.join_nonce, 7);
    assert_int_equal(ja.net_id, 0x000013);
    assert_int_equal(ja.dev_addr, 0x26000001);
    assert_true(ja.opt_neg);
    assert_int_equal(ja.rx1_dr_offset, 1);
    assert_int_equal(ja.rx2_data_rate, 2);
    assert_int_equal(ja.rx_delay, 5);
    assert_ptr_equal(ja.cflist, buf + 13);
    assert_hex_equal("da217bab", ja.mic, 4);
    assert_int_equal(lorawan_join_accept_encode(&ja, out, sizeof(out), &out_len), 0);
    assert_int_equal(out_len, len);
    assert_memory_equal(out, buf, len);
}

static void test_lorawan_join_accept_parse__errors(void **state)
{
    (void)state;
    uint8_t buf[64];
    lorawan_join_accept_t ja;
    size_t len = unhex("20c70b5701112280190302000043485bbc", buf, sizeof(buf));
    assert_int_equal(lorawan_join_accept_parse(buf, len - 1, &ja), LORAWAN_E_JA_LEN);
    buf[0] = 0x40;
    assert_int_equal(lorawan_join_accept_parse(buf, len, &ja), LORAWAN_E_MTYPE);
    buf[0] = 0x22;
    assert_int_equal(lorawan_join_accept_parse(buf, len, &ja), LORAWAN_E_MAJOR);
}

static void test_lorawan_join_accept_encode__range(void **state)
{
    (void)state;
    uint8_t out[64];
    size_t out_len = 0;
    lorawan_join_accept_t ja;
    memset(&ja, 0, sizeof(ja));
    ja.join_nonce = 0x1000000;
    assert_int_equal(lorawan_join_accept_encode(&ja, out, sizeof(out), &out_len), LORAWAN_E_RANGE);
    ja.join_nonce = 1;
    assert_int_equal(lorawan_join_accept_encode(&ja, out, 16, &out_len), LORAWAN_E_BUF);
}

static void test_lorawan_mtype_name__all(void **state)
{
    (void)state;
    assert_string_equal(lorawan_mtype_name(LORAWAN_MTYPE_JOIN_REQUEST), "JoinRequest");
    assert_string_equal(lorawan_mtype_name(LORAWAN_MTYPE_CONFIRMED_DATA_DOWN), "ConfirmedDataDown");
    assert_string_equal(lorawan_mtype_name(LORAWAN_MTYPE_PROPRIETARY), "Proprietary");
    assert_string_equal(lorawan_mtype_name((lorawan_mtype_t)8), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lorawan_phy_decode__join_request),
        cmocka_unit_test(test_lorawan_phy_decode__data_down_fopts),
        cmocka_unit_test(test_lorawan_phy_decode__uplink_fctrl_bits),
        cmocka_unit_test(test_lorawan_phy_decode__fport_empty_payload),
        cmocka_unit_test(test_lorawan_phy_decode__no_fport),
        cmocka_unit_test(test_lorawan_phy_decode__rejoin_types),
        cmocka_unit_test(test_lorawan_phy_decode__join_accept_encrypted_view),
        cmocka_unit_test(test_lorawan_phy_decode__proprietary),
        cmocka_unit_test(test_lorawan_phy_decode__empty),
        cmocka_unit_test(test_lorawan_phy_decode__too_long),
        cmocka_unit_test(test_lorawan_phy_decode__major_rfu),
        cmocka_unit_test(test_lorawan_phy_decode__data_short),
        cmocka_unit_test(test_lorawan_phy_decode__fopts_len_past_end),
        cmocka_unit_test(test_lorawan_phy_decode__fport0_with_fopts),
        cmocka_unit_test(test_lorawan_phy_decode__join_request_lengths),
        cmocka_unit_test(test_lorawan_phy_decode__rejoin_bad),
        cmocka_unit_test(test_lorawan_phy_decode__join_accept_length),
        cmocka_unit_test(test_lorawan_phy_encode__buffer_too_small),
        cmocka_unit_test(test_lorawan_phy_encode__range_errors),
        cmocka_unit_test(test_lorawan_phy_encode__too_long),
        cmocka_unit_test(test_lorawan_join_accept_parse__cflist),
        cmocka_unit_test(test_lorawan_join_accept_parse__errors),
        cmocka_unit_test(test_lorawan_join_accept_encode__range),
        cmocka_unit_test(test_lorawan_mtype_name__all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
