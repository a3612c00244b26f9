/* Tests of components/js/join.c: a join-request in, the exact join-accept bytes and session
 * keys out, and the DevNonce / JoinNonce rules. Expected join-requests, join-accepts and
 * session keys were computed with the independent npm package lora-packet 0.9.3 (the
 * device's side, tests/integration/js/lwjoin.js does the same), the key wrap vector is
 * RFC 3394 §4.1. Keys: AppKey = the RFC 4493 key, NwkKey 0f1e2d...f0; JoinEUI
 * 70b3d57ed0001234, DevEUI 0004a30b001c0530, NetID 000013, DevAddr 26011234. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "js/js_private.h"

static const char *const APP_KEY = "2b7e151628aed2a6abf7158809cf4f3c";
static const char *const NWK_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
static const char *const CFLIST = "184f84e85684b85e84886684586e8400";
/* Join-requests by DevNonce: AppKey MIC (1.0.x) and NwkKey MIC. */
static const char *const REQ_APP_1 = "00341200d07ed5b37030051c000ba30400010077f9d895";
static const char *const REQ_APP_2 = "00341200d07ed5b37030051c000ba304000200ea04a797";
static const char *const REQ_NWK_5 = "00341200d07ed5b37030051c000ba304000500de423c66";
static const char *const REQ_NWK_7 = "00341200d07ed5b37030051c000ba304000700b6cc9717";

static size_t unhex(const char *hex, uint8_t *buf, size_t cap)
{
    size_t len = 0;
    assert_int_equal(lorawan_hex_decode(hex, strlen(hex), buf, cap, &len), 0);
    return len;
}

#define assert_hex_equal(hex, buf, len)                                                            \
    do {                                                                                           \
        uint8_t want_[64];                                                                         \
        size_t want_len_ = unhex((hex), want_, sizeof(want_));                                     \
        assert_int_equal((len), want_len_);                                                        \
        assert_memory_equal((buf), want_, want_len_);                                              \
    } while (0)

typedef struct fixture {
    js_dev_t dev;
    js_nonces_t nonces;
    js_join_ans_t ans;
    uint8_t phy[32];
    uint8_t cflist[16];
    js_join_req_t req;
} fixture_t;

static fixture_t f;

static void dev_init(bool app_key, bool nwk_key)
{
    memset(&f, 0, sizeof f);
    f.dev.has_app_key = app_key;
    f.dev.has_nwk_key = nwk_key;
    unhex(APP_KEY, f.dev.app_key, 16);
    unhex(NWK_KEY, f.dev.nwk_key, 16);
    f.dev.dev_nonce_limit = 10;
}

/* Sets the request: NetID 000013, DevAddr 26011234. */
static void req_set(const char *phy, js_mac_version_t v, uint8_t dl_settings, uint8_t rx_delay,
                    bool cflist)
{
    f.req.phy_len = unhex(phy, f.phy, sizeof f.phy);
    f.req.phy = f.phy;
    f.req.mac_version = v;
    f.req.net_id = 0x000013;
    f.req.dev_addr = 0x26011234;
    f.req.dl_settings = dl_settings;
    f.req.rx_delay = rx_delay;
    if (cflist) {
        unhex(CFLIST, f.cflist, sizeof f.cflist);
        f.req.cflist = f.cflist;
    } else {
        f.req.cflist = NULL;
    }
}

static int join(void)
{
    return js_join(&f.req, &f.dev, &f.nonces, &f.ans);
}

static void test_js_join__v103_accept_exact_bytes(void **state)
{
    (void)state;
    dev_init(true, false);
    req_set(REQ_APP_1, JS_MAC_V1_0_3, 0x03, 1, false);
    assert_int_equal(join(), JS_JOIN_OK);
    assert_hex_equal("201f9437dea604ca11d70fcbc35695b252", f.ans.phy, f.ans.phy_len);
    assert_false(f.ans.lorawan_11);
    assert_hex_equal("5f6c23a9e2f1c42c95071c9e25e4fdda", f.ans.f_nwk_s_int_key, 16);
    assert_hex_equal("7fa12f967446215d0ee7a04aab699aa0", f.ans.app_s_key, 16);
    assert_int_equal(f.ans.join_nonce, 1);
    assert_int_equal(f.ans.dev_nonce, 1);
    assert_true(f.ans.join_eui == 0x70b3d57ed0001234ULL && f.ans.dev_eui == 0x0004a30b001c0530ULL);
    assert_int_equal(f.nonces.last_join_nonce, 1);
    assert_int_equal(f.nonces.n_used, 1);
    assert_int_equal(f.nonces.used[0], 1);
}

/* OptNeg in DLSettings is RFU before 1.1: the NS's bit 7 does not reach a 1.0.3 device. */
static void test_js_join__v103_clears_opt_neg(void **state)
{
    (void)state;
    dev_init(true, false);
    req_set(REQ_APP_1, JS_MAC_V1_0_3, 0x83, 1, false);
    assert_int_equal(join(), JS_JOIN_OK);
    assert_hex_equal("201f9437dea604ca11d70fcbc35695b252", f.ans.phy, f.ans.phy_len);
}

static void test_js_join__v11_opt_neg_cflist_exact_bytes(void **state)
{
    (void)state;
    dev_init(true, true);
    req_set(REQ_NWK_5, JS_MAC_V1_1, 0x12, 5, true);
    assert_int_equal(join(), JS_JOIN_OK);
    assert_hex_equal("205dc8da292daa72097a952f7335b62dde4d12853840443252f6113fdce5464c15",
                     f.ans.phy, f.ans.phy_len);
    assert_true(f.ans.lorawan_11);
    assert_hex_equal("55dbbfc5149a7190dc5d51b536d17d7f", f.ans.f_nwk_s_int_key, 16);
    assert_hex_equal("d76a949d16696fa9f7e6fa85e45c697a", f.ans.s_nwk_s_int_key, 16);
    assert_hex_equal("d1079d444d2213c5436fe5992922c6ab", f.ans.nwk_s_enc_key, 16);
    assert_hex_equal("0fac12694694f5262abce0f5466006e2", f.ans.app_s_key, 16);
    assert_int_equal(f.nonces.last_dev_nonce, 5);
    assert_int_equal(f.nonces.n_used, 0);
}

/* LoRaWAN 1.1 §6.1.1.3: a 1.1 device (it has a NwkKey) on a 1.0.3 network joins with its
 * NwkKey in the AppKey's role. */
static void test_js_join__v103_with_nwk_key_uses_it(void **state)
{
    (void)state;
    dev_init(true, true);
    req_set(REQ_NWK_7, JS_MAC_V1_0_3, 0x00, 1, true);
    assert_int_equal(join(), JS_JOIN_OK);
    assert_hex_equal("20f62b083012a9952cff617357c83c48a33c1e2dcd9bcb0d5293692b2f4e7728f3",
                     f.ans.phy, f.ans.phy_len);
    assert_hex_equal("f03a179f9431e11356560cfeaf6bf741", f.ans.f_nwk_s_int_key, 16);
    assert_hex_equal("031ba6485e490f971d51701a85fc243e", f.ans.app_s_key, 16);
}

static void test_js_join__v103_replayed_dev_nonce_refused(void **state)
{
    (void)state;
    dev_init(true, false);
    req_set(REQ_APP_1, JS_MAC_V1_0_3, 0x03, 1, false);
    assert_int_equal(join(), JS_JOIN_OK);
    js_nonces_t before = f.nonces;
    assert_int_equal(join(), JS_JOIN_E_DEV_NONCE_REUSED);
    assert_string_equal(js_join_strerror(JS_JOIN_E_DEV_NONCE_REUSED), "reuse_dev_nonce");
    assert_memory_equal(&before, &f.nonces, sizeof before);
    /* Another DevNonce is fine and takes the next JoinNonce. */
    req_set(REQ_APP_2, JS_MAC_V1_0_3, 0x03, 1, false);
    assert_int_equal(join(), JS_JOIN_OK);
    assert_int_equal(f.ans.join_nonce, 2);
    assert_int_equal(f.nonces.n_used, 2);
}

static void test_js_join__v103_bounded_history_forgets_oldest(void **state)
{
    (void)state;
    dev_init(true, false);
    f.dev.dev_nonce_limit = 3;
    f.nonces.n_used = 3;
    f.nonces.used[0] = 1;
    f.nonces.used[1] = 10;
    f.nonces.used[2] = 11;
    f.nonces.last_join_nonce = 3;
    req_set(REQ_APP_2, JS_MAC_V1_0_3, 0x03, 1, false);
    assert_int_equal(join(), JS_JOIN_OK);
    assert_int_equal(f.nonces.n_used, 3);
    assert_int_equal(f.nonces.used[0], 10);
    assert_int_equal(f.nonces.used[1], 11);
    assert_int_equal(f.nonces.used[2], 2);
    /* DevNonce 1 fell out of the history: accepted again. */
    req_set(REQ_APP_1, JS_MAC_V1_0_3, 0x03, 1, false);
    assert_int_equal(join(), JS_JOIN_OK);
    assert_int_equal(f.ans.join_nonce, 5);
}

/* 1.0.4 and 1.1: DevNonce is a counter; equal or lower is refused. */
static void test_js_join__v104_dev_nonce_must_increase(void **state)
{
    (void)state;
    dev_init(true, false);
    f.nonces.last_dev_nonce = 2;
    f.nonces.last_join_nonce = 9;
    req_set(REQ_APP_2, JS_MAC_V1_0_4, 0x03, 1, false);
    assert_int_equal(join(), JS_JOIN_E_DEV_NONCE_SMALL);
    assert_int_equal(f.nonces.last_join_nonce, 9);
    req_set(REQ_APP_1, JS_MAC_V1_0_4, 0x03, 1, false);
    assert_int_equal(join(), JS_JOIN_E_DEV_NONCE_SMALL);
    f.nonces.last_dev_nonce = 1;
    req_set(REQ_APP_2, JS_MAC_V1_0_4, 0x03, 1, false);
    assert_int_equal(join(), JS_JOIN_OK);
    assert_int_equal(f.nonces.last_dev_nonce, 2);
    assert_int_equal(f.ans.join_nonce, 10);
}

static void test_js_join__v11_dev_nonce_too_small(void **state)
{
    (void)state;
    dev_init(true, true);
    f.nonces.last_dev_nonce = 5;
    f.nonces.last_join_nonce = 1;
    req_set(REQ_NWK_5, JS_MAC_V1_1, 0x00, 1, false);
    assert_int_equal(join(), JS_JOIN_E_DEV_NONCE_SMALL);
    assert_string_equal(js_join_strerror(JS_JOIN_E_DEV_NONCE_SMALL), "dev_nonce_too_small");
}

/* A device that forgets its nonces (resets_join_nonces) may repeat a DevNonce; the
 * JoinNonce still increases. */
static void test_js_join__resets_join_nonces_allows_reuse(void **state)
{
    (void)state;
    dev_init(true, false);
    f.dev.resets_join_nonces = true;
    req_set(REQ_APP_1, JS_MAC_V1_0_3, 0x03, 1, false);
    assert_int_equal(join(), JS_JOIN_OK);
    assert_int_equal(join(), JS_JOIN_OK);
    assert_int_equal(f.ans.join_nonce, 2);
    assert_int_equal(f.nonces.n_used, 1);
}

static void test_js_join__mic_mismatch_changes_nothing(void **state)
{
    (void)state;
    dev_init(true, false);
    /* The NwkKey-signed request against a device that has only its AppKey. */
    req_set(REQ_NWK_5, JS_MAC_V1_0_3, 0x03, 1, false);
    assert_int_equal(join(), JS_JOIN_E_MIC);
    assert_int_equal(f.nonces.n_used, 0);
    assert_int_equal(f.nonces.last_join_nonce, 0);
    assert_string_equal(js_join_strerror(JS_JOIN_E_MIC), "mic_mismatch");
}

static void test_js_join__join_nonce_exhausted(void **state)
{
    (void)state;
    dev_init(true, false);
    f.nonces.last_join_nonce = JS_JOIN_NONCE_MAX;
    req_set(REQ_APP_1, JS_MAC_V1_0_3, 0x03, 1, false);
    assert_int_equal(join(), JS_JOIN_E_JOIN_NONCE_HIGH);
    assert_int_equal(f.nonces.n_used, 0);
}

static void test_js_join__net_id_mismatch(void **state)
{
    (void)state;
    dev_init(true, false);
    f.dev.has_net_id = true;
    f.dev.net_id = 0x000014;
    req_set(REQ_APP_1, JS_MAC_V1_0_3, 0x03, 1, false);
    assert_int_equal(join(), JS_JOIN_E_NET_ID);
    f.dev.net_id = 0x000013;
    assert_int_equal(join(), JS_JOIN_OK);
}

static void test_js_join__v11_without_nwk_key(void **state)
{
    (void)state;
    dev_init(true, false);
    req_set(REQ_NWK_5, JS_MAC_V1_1, 0x00, 1, false);
    assert_int_equal(join(), JS_JOIN_E_NO_NWK_KEY);
    dev_init(false, false);
    req_set(REQ_APP_1, JS_MAC_V1_0_2, 0x00, 1, false);
    assert_int_equal(join(), JS_JOIN_E_NO_APP_KEY);
}

static void test_js_join__bad_input(void **state)
{
    (void)state;
    dev_init(true, false);
    req_set(REQ_APP_1, JS_MAC_V1_0_3, 0x03, 16, false);
    assert_int_equal(join(), JS_JOIN_E_ENCODE);
    req_set(REQ_APP_1, JS_MAC_V1_0_3, 0x03, 1, false);
    f.req.phy_len = 22;
    assert_int_equal(join(), JS_JOIN_E_PAYLOAD);
    f.phy[0] = 0x40; /* a data uplink's MHDR */
    f.req.phy_len = 23;
    assert_int_equal(join(), JS_JOIN_E_PAYLOAD);
    f.dev.dev_nonce_limit = 0;
    assert_int_equal(join(), JS_JOIN_E_PARAM);
    assert_int_equal(js_join(NULL, &f.dev, &f.nonces, &f.ans), JS_JOIN_E_PARAM);
}

static void test_js_mac_version_parse__names(void **state)
{
    (void)state;
    js_mac_version_t v;
    assert_int_equal(js_mac_version_parse("1.0.3", &v), 0);
    assert_int_equal(v, JS_MAC_V1_0_3);
    assert_int_equal(js_mac_version_parse("1.1", &v), 0);
    assert_int_equal(v, JS_MAC_V1_1);
    assert_int_equal(js_mac_version_parse("MAC_V1_0_4", &v), 0);
    assert_int_equal(v, JS_MAC_V1_0_4);
    assert_int_equal(js_mac_version_parse("1.2", &v), -1);
    assert_int_equal(js_mac_version_parse(NULL, &v), -1);
    assert_string_equal(js_mac_version_name(JS_MAC_V1_0_2), "1.0.2");
    assert_false(js_mac_dev_nonce_counts(JS_MAC_V1_0_3));
    assert_true(js_mac_dev_nonce_counts(JS_MAC_V1_0_4));
}

/* RFC 3394 §4.1: 128-bit key data with a 128-bit KEK. */
static void test_js_key_wrap__rfc3394(void **state)
{
    (void)state;
    uint8_t kek[16], key[16], w[24], back[16];
    unhex("000102030405060708090a0b0c0d0e0f", kek, sizeof kek);
    unhex("00112233445566778899aabbccddeeff", key, sizeof key);
    assert_int_equal(js_key_wrap(kek, 16, key, w), 0);
    assert_hex_equal("1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5", w, 24);
    assert_int_equal(js_key_unwrap(kek, 16, w, back), 0);
    assert_memory_equal(back, key, 16);
    kek[0] ^= 1;
    assert_int_equal(js_key_unwrap(kek, 16, w, back), JS_JOIN_E_PARAM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_js_join__v103_accept_exact_bytes),
        cmocka_unit_test(test_js_join__v103_clears_opt_neg),
        cmocka_unit_test(test_js_join__v11_opt_neg_cflist_exact_bytes),
        cmocka_unit_test(test_js_join__v103_with_nwk_key_uses_it),
        cmocka_unit_test(test_js_join__v103_replayed_dev_nonce_refused),
        cmocka_unit_test(test_js_join__v103_bounded_history_forgets_oldest),
        cmocka_unit_test(test_js_join__v104_dev_nonce_must_increase),
        cmocka_unit_test(test_js_join__v11_dev_nonce_too_small),
        cmocka_unit_test(test_js_join__resets_join_nonces_allows_reuse),
        cmocka_unit_test(test_js_join__mic_mismatch_changes_nothing),
        cmocka_unit_test(test_js_join__join_nonce_exhausted),
        cmocka_unit_test(test_js_join__net_id_mismatch),
        cmocka_unit_test(test_js_join__v11_without_nwk_key),
        cmocka_unit_test(test_js_join__bad_input),
        cmocka_unit_test(test_js_mac_version_parse__names),
        cmocka_unit_test(test_js_key_wrap__rfc3394),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
