/* tools/simulate frame.c: a simulated device's uplinks, join-requests, join-accepts and
 * downlinks, checked byte for byte (a lora-packet vector) and against the network side as
 * components/lorawan builds it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim_private.h"

static void hex(const char *h, uint8_t *out, size_t n)
{
    size_t got = 0;
    assert_int_equal(lorawan_hex_decode(h, strlen(h), out, n, &got), 0);
    assert_int_equal(got, n);
}

static void abp_10(sim_dev_t *d)
{
    memset(d, 0, sizeof *d);
    d->version = SIM_MAC_1_0_3;
    d->dev_addr = 0x49be7df1;
    hex("44024241ed4ce9a68c6a8bc055233fd3", d->f_nwk_s_int_key, 16);
    memcpy(d->s_nwk_s_int_key, d->f_nwk_s_int_key, 16);
    memcpy(d->nwk_s_enc_key, d->f_nwk_s_int_key, 16);
    hex("ec925802ae430ca77fd3dd73cb2cc588", d->app_s_key, 16);
    d->active = true;
    sim_dev_session_defaults(d, 1, 869525000, 0);
}

static const sim_uplink_t test_up = {
    .has_fport = true, .fport = 1, .payload = (const uint8_t *)"test", .payload_len = 4};

/* lora-packet's README frame: DevAddr 49be7df1, FCnt 2, FPort 1, "test". */
static void test_sim_uplink_build__lora_packet_vector(void **state)
{
    (void)state;
    sim_dev_t d;
    abp_10(&d);
    d.f_cnt_up = 2;
    uint8_t out[64], want[17];
    size_t len = 0;
    assert_int_equal(sim_uplink_build(&d, &test_up, out, sizeof out, &len), 0);
    hex("40f17dbe4900020001954378762b11ff0d", want, sizeof want);
    assert_int_equal(len, sizeof want);
    assert_memory_equal(out, want, sizeof want);
    assert_int_equal(d.f_cnt_up, 3);
}

static void test_sim_uplink_build__no_session(void **state)
{
    (void)state;
    sim_dev_t d;
    abp_10(&d);
    d.active = false;
    uint8_t out[64];
    size_t len = 0;
    assert_int_equal(sim_uplink_build(&d, &test_up, out, sizeof out, &len), SIM_E_STATE);
    assert_int_equal(d.f_cnt_up, 0);
}

/* The answers waiting go in FOpts once, with ACK after a confirmed downlink. */
static void test_sim_uplink_build__answers_and_ack_spent(void **state)
{
    (void)state;
    sim_dev_t d;
    abp_10(&d);
    lorawan_mac_cmd_t lc = {.cid = LORAWAN_CID_LINK_CHECK, .uplink = true};
    assert_int_equal(sim_dev_queue_mac(&d, &lc), 0);
    d.ack_next = true;
    uint8_t out[64];
    size_t len = 0;
    assert_int_equal(sim_uplink_build(&d, &test_up, out, sizeof out, &len), 0);
    lorawan_phy_t phy;
    assert_int_equal(lorawan_phy_decode(out, len, &phy), 0);
    assert_true(phy.u.data.fctrl.ack);
    assert_int_equal(phy.u.data.fopts_len, 1);
    assert_int_equal(phy.u.data.fopts[0], LORAWAN_CID_LINK_CHECK);
    assert_int_equal(sim_uplink_build(&d, &test_up, out, sizeof out, &len), 0);
    assert_int_equal(lorawan_phy_decode(out, len, &phy), 0);
    assert_false(phy.u.data.fctrl.ack);
    assert_int_equal(phy.u.data.fopts_len, 0);
}

static void otaa(sim_dev_t *d, sim_mac_version_t v)
{
    memset(d, 0, sizeof *d);
    d->version = v;
    d->otaa = true;
    d->dev_eui = 0x0004a30b001c0530ull;
    d->join_eui = 0x70b3d57ed0000001ull;
    hex("000102030405060708090a0b0c0d0e0f", d->app_key, 16);
    if (v == SIM_MAC_1_1)
        hex("f0e0d0c0b0a090807060504030201000", d->nwk_key, 16);
    else
        memcpy(d->nwk_key, d->app_key, 16);
    d->dev_nonce = 7;
    sim_dev_session_defaults(d, 1, 869525000, 0);
}

static void test_sim_join_request_build__mic_and_nonce(void **state)
{
    (void)state;
    sim_dev_t d;
    otaa(&d, SIM_MAC_1_0_3);
    uint8_t out[32];
    size_t len = 0;
    assert_int_equal(sim_join_request_build(&d, out, sizeof out, &len), 0);
    assert_int_equal(len, LORAWAN_JOIN_REQUEST_LEN);
    lorawan_phy_t phy;
    assert_int_equal(lorawan_phy_decode(out, len, &phy), 0);
    assert_int_equal(phy.mtype, LORAWAN_MTYPE_JOIN_REQUEST);
    assert_true(phy.u.join_request.dev_eui == d.dev_eui);
    assert_true(phy.u.join_request.join_eui == d.join_eui);
    assert_int_equal(phy.u.join_request.dev_nonce, 7);
    lorawan_key_t k;
    assert_int_equal(lorawan_key_init(&k, d.app_key), 0);
    uint8_t mic[4];
    assert_int_equal(lorawan_mic_join_request(&k, out, len - 4, mic), 0);
    lorawan_key_destroy(&k);
    assert_int_equal(lorawan_mic_check(mic, out, len), 0);
    assert_true(d.join_pending);
    assert_int_equal(d.join_dev_nonce, 7);
    assert_int_equal(d.dev_nonce, 8);
}

/* The network side of a join-accept, as a Join Server builds it. */
static size_t network_join_accept(const sim_dev_t *d, bool opt_neg, uint8_t *out)
{
    lorawan_join_accept_t ja;
    memset(&ja, 0, sizeof ja);
    ja.join_nonce = 0x000102;
    ja.net_id = 0x000013;
    ja.dev_addr = 0x27000042;
    ja.opt_neg = opt_neg;
    ja.rx1_dr_offset = 1;
    ja.rx2_data_rate = 3;
    ja.rx_delay = 5;
    uint8_t plain[33];
    size_t len = 0;
    assert_int_equal(lorawan_join_accept_encode(&ja, plain, sizeof plain, &len), 0);
    lorawan_key_t k;
    uint8_t mic[4];
    if (opt_neg) {
        uint8_t js_int[16];
        assert_int_equal(lorawan_key_init(&k, d->nwk_key), 0);
        assert_int_equal(lorawan_derive_js_keys(&k, d->dev_eui, js_int, NULL), 0);
        lorawan_key_destroy(&k);
        assert_int_equal(lorawan_key_init(&k, js_int), 0);
        assert_int_equal(lorawan_mic_join_accept_11(&k, 0xff, d->join_eui, d->join_dev_nonce, plain,
                                                    len - 4, mic),
                         0);
    } else {
        assert_int_equal(lorawan_key_init(&k, d->version == SIM_MAC_1_1 ? d->nwk_key : d->app_key),
                         0);
        assert_int_equal(lorawan_mic_join_accept_10(&k, plain, len - 4, mic), 0);
    }
    lorawan_key_destroy(&k);
    memcpy(plain + len - 4, mic, 4);
    size_t n = len;
    assert_int_equal(lorawan_join_accept_encrypt(
                         d->version == SIM_MAC_1_1 ? d->nwk_key : d->app_key, plain, len, out, 33),
                     0);
    return n;
}

static void test_sim_join_accept_handle__10_session(void **state)
{
    (void)state;
    sim_dev_t d;
    otaa(&d, SIM_MAC_1_0_3);
    uint8_t req[32], ja[33];
    size_t len = 0;
    assert_int_equal(sim_join_request_build(&d, req, sizeof req, &len), 0);
    size_t n = network_join_accept(&d, false, ja);
    sim_join_result_t res;
    assert_int_equal(sim_join_accept_handle(&d, ja, n, &res), 0);
    assert_true(d.active);
    assert_false(d.join_pending);
    assert_false(d.opt_neg);
    assert_int_equal(d.dev_addr, 0x27000042);
    assert_int_equal(d.rx1_delay_s, 5);
    assert_int_equal(d.rx1_dr_offset, 1);
    assert_int_equal(d.rx2_dr, 3);
    assert_int_equal(res.join_nonce, 0x000102);
    assert_int_equal(res.net_id, 0x13);
    lorawan_key_t k;
    uint8_t nwk[16], app[16];
    assert_int_equal(lorawan_key_init(&k, d.app_key), 0);
    assert_int_equal(lorawan_derive_keys_10(&k, 0x000102, 0x13, 7, nwk, app), 0);
    lorawan_key_destroy(&k);
    assert_memory_equal(d.f_nwk_s_int_key, nwk, 16);
    assert_memory_equal(d.s_nwk_s_int_key, nwk, 16);
    assert_memory_equal(d.app_s_key, app, 16);
    assert_int_equal(d.f_cnt_up, 0);
}

/* LoRaWAN 1.1 with OptNeg: 1.1 keys, and RekeyInd in the uplinks until RekeyConf. */
static void test_sim_join_accept_handle__11_opt_neg_rekey(void **state)
{
    (void)state;
    sim_dev_t d;
    otaa(&d, SIM_MAC_1_1);
    uint8_t req[32], ja[33];
    size_t len = 0;
    assert_int_equal(sim_join_request_build(&d, req, sizeof req, &len), 0);
    size_t n = network_join_accept(&d, true, ja);
    assert_int_equal(sim_join_accept_handle(&d, ja, n, NULL), 0);
    assert_true(d.opt_neg);
    assert_true(d.rekey_ind);
    lorawan_key_t nk, ak;
    lorawan_keys_11_t k11;
    assert_int_equal(lorawan_key_init(&nk, d.nwk_key), 0);
    assert_int_equal(lorawan_key_init(&ak, d.app_key), 0);
    assert_int_equal(lorawan_derive_keys_11(&nk, &ak, 0x000102, d.join_eui, 7, &k11), 0);
    lorawan_key_destroy(&nk);
    lorawan_key_destroy(&ak);
    assert_memory_equal(d.f_nwk_s_int_key, k11.f_nwk_s_int_key, 16);
    assert_memory_equal(d.s_nwk_s_int_key, k11.s_nwk_s_int_key, 16);
    assert_memory_equal(d.nwk_s_enc_key, k11.nwk_s_enc_key, 16);
    assert_memory_equal(d.app_s_key, k11.app_s_key, 16);

    uint8_t out[64];
    sim_uplink_t up = test_up;
    up.tx_dr = 5;
    up.tx_ch = 2;
    assert_int_equal(sim_uplink_build(&d, &up, out, sizeof out, &len), 0);
    lorawan_phy_t phy;
    assert_int_equal(lorawan_phy_decode(out, len, &phy), 0);
    assert_int_equal(phy.u.data.fopts_len, 2);
    uint8_t fopts[2];
    assert_int_equal(lorawan_key_init(&nk, d.nwk_s_enc_key), 0);
    assert_int_equal(
        lorawan_fopts_encrypt(&nk, false, false, d.dev_addr, 0, phy.u.data.fopts, 2, fopts), 0);
    lorawan_key_destroy(&nk);
    assert_int_equal(fopts[0], LORAWAN_CID_REKEY);
    assert_int_equal(fopts[1], 1);
    /* The 1.1 MIC with TxDr 5 and TxCh 2. */
    lorawan_key_t f, s;
    assert_int_equal(lorawan_key_init(&f, d.f_nwk_s_int_key), 0);
    assert_int_equal(lorawan_key_init(&s, d.s_nwk_s_int_key), 0);
    uint8_t mic[4];
    assert_int_equal(lorawan_mic_data_up_11(&f, &s, out, len - 4, 0, 0, 5, 2, mic), 0);
    lorawan_key_destroy(&f);
    lorawan_key_destroy(&s);
    assert_int_equal(lorawan_mic_check(mic, out, len), 0);
}

static void test_sim_join_accept_handle__bad_mic_leaves_device(void **state)
{
    (void)state;
    uint8_t req[32], ja[33];
    size_t len = 0, n = 0;
    sim_dev_t e;
    otaa(&e, SIM_MAC_1_0_3);
    assert_int_equal(sim_join_request_build(&e, req, sizeof req, &len), 0);
    n = network_join_accept(&e, false, ja);
    ja[5] ^= 1;
    assert_int_equal(sim_join_accept_handle(&e, ja, n, NULL), LORAWAN_E_MIC);
    assert_true(e.join_pending);
    assert_false(e.active);
}

static void test_sim_join_accept_handle__no_join_pending(void **state)
{
    (void)state;
    sim_dev_t d;
    otaa(&d, SIM_MAC_1_0_3);
    uint8_t ja[17] = {0x20};
    assert_int_equal(sim_join_accept_handle(&d, ja, sizeof ja, NULL), SIM_E_NOT_MINE);
}

/* A network downlink: confirmed, FOpts LinkADRReq + DevStatusReq, FPort 1 "hi". */
static size_t network_downlink(const sim_dev_t *d, uint32_t fcnt, uint32_t dev_addr, uint8_t *out)
{
    lorawan_mac_cmd_t cmds[2];
    memset(cmds, 0, sizeof cmds);
    cmds[0].cid = LORAWAN_CID_LINK_ADR;
    cmds[0].u.link_adr_req.data_rate = 3;
    cmds[0].u.link_adr_req.tx_power = 2;
    cmds[0].u.link_adr_req.ch_mask = 0x0007;
    cmds[0].u.link_adr_req.nb_trans = 1;
    cmds[1].cid = LORAWAN_CID_DEV_STATUS;
    uint8_t fopts[15];
    size_t fopts_len = 0;
    assert_int_equal(lorawan_mac_cmds_encode(cmds, 2, fopts, sizeof fopts, &fopts_len), 0);
    uint8_t frm[2];
    lorawan_key_t k;
    assert_int_equal(lorawan_key_init(&k, d->app_s_key), 0);
    lorawan_payload_encrypt(&k, true, dev_addr, fcnt, (const uint8_t *)"hi", 2, frm);
    lorawan_key_destroy(&k);
    lorawan_phy_t phy;
    memset(&phy, 0, sizeof phy);
    phy.mtype = LORAWAN_MTYPE_CONFIRMED_DATA_DOWN;
    phy.u.data.dev_addr = dev_addr;
    phy.u.data.fcnt16 = (uint16_t)fcnt;
    phy.u.data.fopts = fopts;
    phy.u.data.fopts_len = fopts_len;
    phy.u.data.has_fport = true;
    phy.u.data.fport = 1;
    phy.u.data.frm_payload = frm;
    phy.u.data.frm_payload_len = 2;
    size_t len = 0;
    assert_int_equal(lorawan_phy_encode(&phy, out, 64, &len), 0);
    uint8_t mic[4];
    assert_int_equal(lorawan_key_init(&k, d->s_nwk_s_int_key), 0);
    assert_int_equal(lorawan_mic_data_down(&k, out, len - 4, fcnt, 0, mic), 0);
    lorawan_key_destroy(&k);
    memcpy(out + len - 4, mic, 4);
    return len;
}

static void test_sim_downlink_handle__commands_answered(void **state)
{
    (void)state;
    sim_dev_t d;
    abp_10(&d);
    d.dr = 5;
    uint8_t dl[64];
    size_t n = network_downlink(&d, 0x10005, d.dev_addr, dl);
    d.n_f_cnt_down = 0x10001;
    d.has_n_f_cnt_down = true;
    sim_downlink_t out;
    assert_int_equal(sim_downlink_handle(&d, dl, n, &out), 0);
    assert_true(out.confirmed);
    assert_int_equal(out.f_cnt, 0x10005);
    assert_int_equal(out.fport, 1);
    assert_int_equal(out.payload_len, 2);
    assert_memory_equal(out.payload, "hi", 2);
    assert_int_equal(out.n_mac, 2);
    assert_int_equal(d.dr, 3);
    assert_int_equal(d.tx_power, 2);
    assert_true(d.ack_next);

    uint8_t up[64];
    size_t len = 0;
    assert_int_equal(sim_uplink_build(&d, &test_up, up, sizeof up, &len), 0);
    lorawan_phy_t phy;
    assert_int_equal(lorawan_phy_decode(up, len, &phy), 0);
    assert_true(phy.u.data.fctrl.ack);
    /* LinkADRAns with the three ACK bits, DevStatusAns battery 255 margin 10. */
    const uint8_t want[] = {0x03, 0x07, 0x06, 0xff, 0x0a};
    assert_int_equal(phy.u.data.fopts_len, sizeof want);
    assert_memory_equal(phy.u.data.fopts, want, sizeof want);
}

static void test_sim_downlink_handle__replay_and_other_device(void **state)
{
    (void)state;
    sim_dev_t d;
    abp_10(&d);
    uint8_t dl[64];
    size_t n = network_downlink(&d, 4, d.dev_addr, dl);
    sim_downlink_t out;
    assert_int_equal(sim_downlink_handle(&d, dl, n, &out), 0);
    assert_int_equal(sim_downlink_handle(&d, dl, n, &out), SIM_E_FCNT);
    n = network_downlink(&d, 5, d.dev_addr + 1, dl);
    assert_int_equal(sim_downlink_handle(&d, dl, n, &out), SIM_E_NOT_MINE);
    n = network_downlink(&d, 5, d.dev_addr, dl);
    dl[n - 1] ^= 0x80;
    assert_int_equal(sim_downlink_handle(&d, dl, n, &out), LORAWAN_E_MIC);
    assert_int_equal(d.n_f_cnt_down, 4);
}

static void test_sim_mac_version__names(void **state)
{
    (void)state;
    sim_mac_version_t v;
    assert_int_equal(sim_mac_version_parse("1.1", &v), 0);
    assert_int_equal(v, SIM_MAC_1_1);
    assert_string_equal(sim_mac_version_tts(v), "MAC_V1_1");
    assert_string_equal(sim_phy_version_tts(v), "PHY_V1_1_REV_B");
    assert_int_equal(sim_mac_version_parse("MAC_V1_0_3", &v), 0);
    assert_string_equal(sim_phy_version_tts(v), "PHY_V1_0_3_REV_A");
    assert_int_equal(sim_mac_version_parse("1.2", &v), LORAWAN_E_PARAM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_uplink_build__lora_packet_vector),
        cmocka_unit_test(test_sim_uplink_build__no_session),
        cmocka_unit_test(test_sim_uplink_build__answers_and_ack_spent),
        cmocka_unit_test(test_sim_join_request_build__mic_and_nonce),
        cmocka_unit_test(test_sim_join_accept_handle__10_session),
        cmocka_unit_test(test_sim_join_accept_handle__11_opt_neg_rekey),
        cmocka_unit_test(test_sim_join_accept_handle__bad_mic_leaves_device),
        cmocka_unit_test(test_sim_join_accept_handle__no_join_pending),
        cmocka_unit_test(test_sim_downlink_handle__commands_answered),
        cmocka_unit_test(test_sim_downlink_handle__replay_and_other_device),
        cmocka_unit_test(test_sim_mac_version__names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
