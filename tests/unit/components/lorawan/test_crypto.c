/* Tests of components/lorawan/crypto.c: RFC 4493 CMAC, RFC 3394 key wrap, LoRaWAN MICs,
 * encryption, key derivation and frame-counter expansion. Expected values come from the
 * RFCs and from ../shared/vectors (cited by case id), not from this library. */
#include "test_util.h"

static const char *const rfc4493_key = "2b7e151628aed2a6abf7158809cf4f3c";
static const char *const rfc4493_msg = "6bc1bee22e409f96e93d7e117393172a"
                                       "ae2d8a571e03ac9c9eb76fac45af8e51"
                                       "30c81c46a35ce411e5fbc1191a0a52ef"
                                       "f69f2445df4f9b17ad2b417be66c3710";

static void cmac_rfc4493(size_t len, const char *want)
{
    lorawan_key_t k;
    uint8_t msg[64], tag[16];
    key_from_hex(&k, rfc4493_key);
    unhex(rfc4493_msg, msg, sizeof(msg));
    lorawan_cmac(&k, NULL, 0, msg, len, tag);
    assert_hex_equal(want, tag, 16);
    lorawan_key_destroy(&k);
}

/* RFC 4493 §4, examples 1 to 4. */
static void test_lorawan_cmac__rfc4493_empty(void **state)
{
    (void)state;
    cmac_rfc4493(0, "bb1d6929e95937287fa37d129b756746");
}

static void test_lorawan_cmac__rfc4493_one_block(void **state)
{
    (void)state;
    cmac_rfc4493(16, "070a16b46b4d4144f79bdd9dd04a287c");
}

static void test_lorawan_cmac__rfc4493_40_bytes(void **state)
{
    (void)state;
    cmac_rfc4493(40, "dfa66747de9ae63030ca32611497c827");
}

static void test_lorawan_cmac__rfc4493_64_bytes(void **state)
{
    (void)state;
    cmac_rfc4493(64, "51f0bebf7e3b9d92fc49741779363cfe");
}

static void test_lorawan_key_init__rfc4493_subkeys(void **state)
{
    (void)state;
    lorawan_key_t k;
    key_from_hex(&k, rfc4493_key);
    /* RFC 4493 §4: subkey generation example. */
    assert_hex_equal("fbeed618357133667c85e08f7236a8de", k.k1, 16);
    assert_hex_equal("f7ddac306ae266ccf90bc11ee46d513b", k.k2, 16);
    lorawan_key_destroy(&k);
}

static void test_lorawan_cmac__head_split_equals_contiguous(void **state)
{
    (void)state;
    lorawan_key_t k;
    uint8_t msg[64], a[16], b[16];
    key_from_hex(&k, rfc4493_key);
    unhex(rfc4493_msg, msg, sizeof(msg));
    for (size_t head = 0; head <= 40; head++) {
        lorawan_cmac(&k, msg, head, msg + head, 40 - head, a);
        lorawan_cmac(&k, NULL, 0, msg, 40, b);
        assert_memory_equal(a, b, 16);
    }
    lorawan_key_destroy(&k);
}

static void test_lorawan_key_init__null_param(void **state)
{
    (void)state;
    lorawan_key_t k;
    assert_int_equal(lorawan_key_init(&k, NULL), LORAWAN_E_PARAM);
    assert_int_equal(lorawan_key_init(NULL, (const uint8_t *)"0123456789abcdef"), LORAWAN_E_PARAM);
    lorawan_key_destroy(NULL);
}

/* RFC 3394 §4.1, §4.2, §4.3 and §4.6. */
static void wrap_case(const char *kek_hex, const char *data_hex, const char *want)
{
    uint8_t kek[32], data[32], out[40], back[32];
    size_t kek_len = unhex(kek_hex, kek, sizeof(kek));
    size_t len = unhex(data_hex, data, sizeof(data));
    size_t out_len = 0, back_len = 0;
    assert_int_equal(lorawan_key_wrap(kek, kek_len, data, len, out, sizeof(out), &out_len), 0);
    assert_hex_equal(want, out, out_len);
    assert_int_equal(lorawan_key_unwrap(kek, kek_len, out, out_len, back, sizeof(back), &back_len),
                     0);
    assert_int_equal(back_len, len);
    assert_memory_equal(back, data, len);
}

static void test_lorawan_key_wrap__rfc3394_128_kek_128(void **state)
{
    (void)state;
    wrap_case("000102030405060708090a0b0c0d0e0f", "00112233445566778899aabbccddeeff",
              "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5");
}

static void test_lorawan_key_wrap__rfc3394_128_kek_192(void **state)
{
    (void)state;
    wrap_case("000102030405060708090a0b0c0d0e0f1011121314151617",
              "00112233445566778899aabbccddeeff",
              "96778b25ae6ca435f92b5b97c050aed2468ab8a17ad84e5d");
}

static void test_lorawan_key_wrap__rfc3394_128_kek_256(void **state)
{
    (void)state;
    wrap_case("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
              "00112233445566778899aabbccddeeff",
              "64e8c3f9ce0f5ba263e9777905818a2a93c8191e7d6e8ae7");
}

static void test_lorawan_key_wrap__rfc3394_256_kek_256(void **state)
{
    (void)state;
    wrap_case("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
              "00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f",
              "28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21");
}

static void test_lorawan_key_unwrap__tampered(void **state)
{
    (void)state;
    uint8_t kek[16], in[24], out[16];
    size_t out_len = 0;
    unhex("000102030405060708090a0b0c0d0e0f", kek, sizeof(kek));
    unhex("1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5", in, sizeof(in));
    in[5] ^= 1;
    assert_int_equal(lorawan_key_unwrap(kek, 16, in, 24, out, sizeof(out), &out_len),
                     LORAWAN_E_UNWRAP);
}

static void test_lorawan_key_wrap__bad_lengths(void **state)
{
    (void)state;
    uint8_t kek[16] = {0}, in[24] = {0}, out[40];
    size_t out_len = 0;
    assert_int_equal(lorawan_key_wrap(kek, 15, in, 16, out, sizeof(out), &out_len),
                     LORAWAN_E_PARAM);
    assert_int_equal(lorawan_key_wrap(kek, 16, in, 12, out, sizeof(out), &out_len),
                     LORAWAN_E_PARAM);
    assert_int_equal(lorawan_key_wrap(kek, 16, in, 8, out, sizeof(out), &out_len), LORAWAN_E_PARAM);
    assert_int_equal(lorawan_key_wrap(kek, 16, in, 16, out, 23, &out_len), LORAWAN_E_BUF);
    assert_int_equal(lorawan_key_unwrap(kek, 16, in, 16, out, sizeof(out), &out_len),
                     LORAWAN_E_PARAM);
}

/* vectors mic_data_up-001 (brocaar/lorawan). */
static void test_lorawan_mic_data_up_10__vector(void **state)
{
    (void)state;
    lorawan_key_t k;
    uint8_t phy[64], mic[4];
    size_t len = unhex("40f17dbe4900020001954378762b11ff0d", phy, sizeof(phy));
    key_from_hex(&k, "44024241ed4ce9a68c6a8bc055233fd3");
    assert_int_equal(lorawan_mic_data_up_10(&k, phy, len - 4, 2, mic), 0);
    assert_hex_equal("2b11ff0d", mic, 4);
    assert_int_equal(lorawan_mic_check(mic, phy, len), 0);
    phy[len - 1] ^= 1;
    assert_int_equal(lorawan_mic_check(mic, phy, len), LORAWAN_E_MIC);
    lorawan_key_destroy(&k);
}

/* vectors mic_data_up-021: FCnt 65534 on the wire as fffe. */
static void test_lorawan_mic_data_up_10__fcnt_high(void **state)
{
    (void)state;
    lorawan_key_t k;
    uint8_t phy[64], mic[4];
    size_t len = unhex("80e7cd2c01c5feff030706fe1e0a5e0c1c5352caa380c4679d6a63449975bac6b4c685",
                       phy, sizeof(phy));
    key_from_hex(&k, "4e3d6e6afbcc67af2ba3c8e8ec4acf4b");
    assert_int_equal(lorawan_mic_data_up_10(&k, phy, len - 4, 65534, mic), 0);
    assert_hex_equal("c6b4c685", mic, 4);
    /* The upper 16 bits of the counter enter B0: a different 32-bit value changes the MIC. */
    assert_int_equal(lorawan_mic_data_up_10(&k, phy, len - 4, 0x1fffe, mic), 0);
    assert_int_equal(lorawan_mic_check(mic, phy, len), LORAWAN_E_MIC);
    lorawan_key_destroy(&k);
}

static void test_lorawan_mic_data_up_10__short(void **state)
{
    (void)state;
    lorawan_key_t k;
    uint8_t msg[8] = {0x40}, mic[4];
    key_from_hex(&k, "44024241ed4ce9a68c6a8bc055233fd3");
    assert_int_equal(lorawan_mic_data_up_10(&k, msg, 7, 0, mic), LORAWAN_E_SHORT);
    assert_int_equal(lorawan_mic_data_up_10(NULL, msg, 8, 0, mic), LORAWAN_E_PARAM);
    lorawan_key_destroy(&k);
}

/* vectors mic_data_up-023: confirmed uplink with FOpts, no ACK, so conf_fcnt 9 is unused. */
static void test_lorawan_mic_data_up_11__confirmed_with_fopts(void **state)
{
    (void)state;
    lorawan_key_t f, s;
    uint8_t phy[64], mic[4];
    size_t len = unhex("8001000026022a005d8c052b58d6119bbab047", phy, sizeof(phy));
    key_from_hex(&f, "935cfc19b9cadfd6088171c377b559b2");
    key_from_hex(&s, "72ac0bc245edfd4f70e84e9358874e0e");
    assert_int_equal(lorawan_mic_data_up_11(&f, &s, phy, len - 4, 42, 9, 3, 7, mic), 0);
    assert_int_equal(phy[5] & LORAWAN_FCTRL_ACK, 0);
    assert_hex_equal("9bbab047", mic, 4);
    lorawan_key_destroy(&f);
    lorawan_key_destroy(&s);
}

static void test_lorawan_mic_data_up_11__conf_fcnt_ignored_without_ack(void **state)
{
    (void)state;
    lorawan_key_t f, s;
    uint8_t phy[64], mic[4];
    /* mic_data_up-007: no ACK; any ConfFCnt gives the same MIC. */
    size_t len = unhex("400403020100000000f7ded3cc995ea7", phy, sizeof(phy));
    key_from_hex(&f, "02020202020202020202020202020203");
    key_from_hex(&s, "02020202020202020202020202020202");
    assert_int_equal(lorawan_mic_data_up_11(&f, &s, phy, len - 4, 0, 0xbeef, 2, 3, mic), 0);
    assert_hex_equal("cc995ea7", mic, 4);
    lorawan_key_destroy(&f);
    lorawan_key_destroy(&s);
}

/* vectors mic_data_up-013: ACK set, ConfFCnt 1. */
static void test_lorawan_mic_data_up_11__ack_vector(void **state)
{
    (void)state;
    lorawan_key_t f, s;
    uint8_t phy[64], mic[4];
    size_t len = unhex("4004030201a0010001a694642615f842c4b9", phy, sizeof(phy));
    key_from_hex(&f, "02020202020202020202020202020203");
    key_from_hex(&s, "02020202020202020202020202020202");
    assert_int_equal(lorawan_mic_data_up_11(&f, &s, phy, len - 4, 1, 1, 2, 3, mic), 0);
    assert_hex_equal("f842c4b9", mic, 4);
    assert_int_equal(lorawan_mic_data_up_11(&f, &s, phy, len - 4, 1, 2, 2, 3, mic), 0);
    assert_int_equal(lorawan_mic_check(mic, phy, len), LORAWAN_E_MIC);
    lorawan_key_destroy(&f);
    lorawan_key_destroy(&s);
}

/* vectors mic_data_down-001 (1.0) and mic_data_down-003 (1.1, no ACK, conf_fcnt ignored). */
static void test_lorawan_mic_data_down__vectors(void **state)
{
    (void)state;
    lorawan_key_t k;
    uint8_t phy[64], mic[4];
    size_t len = unhex("60f17dbe4920020001f9d65d27", phy, sizeof(phy));
    key_from_hex(&k, "44024241ed4ce9a68c6a8bc055233fd3");
    assert_int_equal(lorawan_mic_data_down(&k, phy, len - 4, 2, 0, mic), 0);
    assert_hex_equal("f9d65d27", mic, 4);
    lorawan_key_destroy(&k);
    len = unhex("60040302010300000207010177701ea3", phy, sizeof(phy));
    key_from_hex(&k, "02020202020202020202020202020202");
    assert_int_equal(lorawan_mic_data_down(&k, phy, len - 4, 0, 1, mic), 0);
    assert_hex_equal("77701ea3", mic, 4);
    lorawan_key_destroy(&k);
}

/* vectors mic_join_request-001 and -009 (rejoin type 2). */
static void test_lorawan_mic_join_request__vectors(void **state)
{
    (void)state;
    lorawan_key_t k;
    uint8_t phy[64], mic[4];
    size_t len = unhex("0039363463336913aa05693574323831330489c65b1304", phy, sizeof(phy));
    key_from_hex(&k, "98929b92c49edba9676d646d3b612456");
    assert_int_equal(lorawan_mic_join_request(&k, phy, len - 4, mic), 0);
    assert_hex_equal("c65b1304", mic, 4);
    lorawan_key_destroy(&k);
    len = unhex("c0020302010807060504030201db003c8642ae", phy, sizeof(phy));
    key_from_hex(&k, "00000000000000000000000000000000");
    assert_int_equal(lorawan_mic_join_request(&k, phy, len - 4, mic), 0);
    assert_hex_equal("3c8642ae", mic, 4);
    lorawan_key_destroy(&k);
}

/* vectors mic_join_accept-001 (1.0) and -005 (1.1 OptNeg). */
static void test_lorawan_mic_join_accept__vectors(void **state)
{
    (void)state;
    lorawan_key_t k;
    uint8_t plain[64], mic[4];
    size_t len = unhex("20386337ccbbaae7cd2c010000", plain, sizeof(plain));
    key_from_hex(&k, "98929b92c49edba9676d646d3b612456");
    assert_int_equal(lorawan_mic_join_accept_10(&k, plain, len, mic), 0);
    assert_hex_equal("d9d0a6e7", mic, 4);
    lorawan_key_destroy(&k);
    len = unhex("20010101020202040302018000", plain, sizeof(plain));
    key_from_hex(&k, "0102030405060708090a0b0c0d0e0f10");
    assert_int_equal(lorawan_mic_join_accept_11(&k, LORAWAN_JOIN_REQ_TYPE_JOIN,
                                                0x0807060504030201ull, 258, plain, len, mic),
                     0);
    assert_hex_equal("93ff9a3a", mic, 4);
    lorawan_key_destroy(&k);
}

/* vectors decrypt_join_accept-007 (with CFList), and the way back. */
static void test_lorawan_join_accept_decrypt__cflist_roundtrip(void **state)
{
    (void)state;
    lorawan_key_t k;
    uint8_t raw[16], phy[64], plain[33], again[33];
    size_t len = unhex("209fbb399ecce05b4ed850fe52cb0f48a6169c97993deb37194ba913d94480779a", phy,
                       sizeof(phy));
    unhex("089234b089c2d8490edf8c9f9b8e8f9c", raw, sizeof(raw));
    assert_int_equal(lorawan_key_init(&k, raw), 0);
    assert_int_equal(lorawan_join_accept_decrypt(&k, phy, len, plain, sizeof(plain)), 0);
    assert_hex_equal("20070000130000010000269205184f84e85684b85e84886684586e8400da217bab", plain,
                     len);
    assert_int_equal(lorawan_join_accept_encrypt(raw, plain, len, again, sizeof(again)), 0);
    assert_memory_equal(again, phy, len);
    lorawan_key_destroy(&k);
}

static void test_lorawan_join_accept_decrypt__bad_length(void **state)
{
    (void)state;
    lorawan_key_t k;
    uint8_t phy[34] = {0x20}, out[34];
    key_from_hex(&k, "00112233445566778899aabbccddeeff");
    assert_int_equal(lorawan_join_accept_decrypt(&k, phy, 16, out, sizeof(out)), LORAWAN_E_JA_LEN);
    assert_int_equal(lorawan_join_accept_decrypt(&k, phy, 34, out, sizeof(out)), LORAWAN_E_JA_LEN);
    assert_int_equal(lorawan_join_accept_decrypt(&k, phy, 17, out, 16), LORAWAN_E_BUF);
    lorawan_key_destroy(&k);
}

/* vectors encrypt_frmpayload-017 (downlink, 17 bytes: two keystream blocks). */
static void test_lorawan_payload_encrypt__two_blocks(void **state)
{
    (void)state;
    lorawan_key_t k;
    uint8_t pt[32], ct[32];
    size_t len = unhex("2023cf335489aae3183c0be0baa8dee5f3", pt, sizeof(pt));
    key_from_hex(&k, "08070605040302010807060504030201");
    lorawan_payload_encrypt(&k, true, 0x01020304, 10, pt, len, ct);
    assert_hex_equal("c9604164c97d76f9ea8e1a792ba0879b85", ct, len);
    lorawan_payload_encrypt(&k, true, 0x01020304, 10, ct, len, ct); /* in place, back */
    assert_memory_equal(ct, pt, len);
    lorawan_key_destroy(&k);
}

/* README caveat 1: the errata block gives 23615f18 (up) and b2dbe391 (down). */
static void test_lorawan_fopts_encrypt__errata_block(void **state)
{
    (void)state;
    lorawan_key_t k;
    uint8_t pt[4] = {1, 2, 3, 4}, ct[4];
    key_from_hex(&k, "01010101010101010101010101010101");
    assert_int_equal(lorawan_fopts_encrypt(&k, false, false, 0x01020304, 1, pt, 4, ct), 0);
    assert_hex_equal("23615f18", ct, 4);
    assert_int_equal(lorawan_fopts_encrypt(&k, true, false, 0x01020304, 1, pt, 4, ct), 0);
    assert_hex_equal("b2dbe391", ct, 4);
    lorawan_key_destroy(&k);
}

/* vectors encrypt_frmpayload-013: AFCntDown selects byte 4 = 02. */
static void test_lorawan_fopts_encrypt__a_fcnt_down(void **state)
{
    (void)state;
    lorawan_key_t k;
    uint8_t pt[3] = {0x02, 0x07, 0x01}, ct[3], big[16] = {0};
    key_from_hex(&k, "01010101010101010101010101010200");
    assert_int_equal(lorawan_fopts_encrypt(&k, true, true, 0x01020304, 0, pt, 3, ct), 0);
    assert_hex_equal("22ac0a", ct, 3);
    assert_int_equal(lorawan_fopts_encrypt(&k, true, true, 0x01020304, 0, big, 16, big),
                     LORAWAN_E_LONG);
    lorawan_key_destroy(&k);
}

/* vectors derive_keys_1_0-001. */
static void test_lorawan_derive_keys_10__vector(void **state)
{
    (void)state;
    lorawan_key_t k;
    uint8_t nwk[16], app[16];
    key_from_hex(&k, "98929b92c49edba9676d646d3b612456");
    assert_int_equal(lorawan_derive_keys_10(&k, 3629880, 0xaabbcc, 61838, nwk, app), 0);
    assert_hex_equal("4e3d6e6afbcc67af2ba3c8e8ec4acf4b", nwk, 16);
    assert_hex_equal("610897aa6f1460623443b527d3ac6a9d", app, 16);
    lorawan_key_destroy(&k);
}

/* vectors derive_keys_1_1-007 and -005. */
static void test_lorawan_derive_keys_11__vector(void **state)
{
    (void)state;
    lorawan_key_t nwk, app;
    lorawan_keys_11_t ks;
    uint8_t ji[16], je[16];
    key_from_hex(&nwk, "089234b089c2d8490edf8c9f9b8e8f9c");
    key_from_hex(&app, "98929b92c49edba9676d646d3b612456");
    assert_int_equal(lorawan_derive_keys_11(&nwk, &app, 7, 0x70b3d57ed0001234ull, 5, &ks), 0);
    assert_hex_equal("935cfc19b9cadfd6088171c377b559b2", ks.f_nwk_s_int_key, 16);
    assert_hex_equal("72ac0bc245edfd4f70e84e9358874e0e", ks.s_nwk_s_int_key, 16);
    assert_hex_equal("401cd6ac99bf6ab7f2f9d9388cde4203", ks.nwk_s_enc_key, 16);
    assert_hex_equal("010c25999f114aebed47c7a8fbfac6b0", ks.app_s_key, 16);
    assert_int_equal(lorawan_derive_js_keys(&nwk, 0x0123456789abcdefull, ji, je), 0);
    assert_hex_equal("bd147194430d6fec1351a327ee40e264", ji, 16);
    assert_hex_equal("8c61658dc01ee8add0c0becf90d2dc50", je, 16);
    lorawan_key_destroy(&nwk);
    lorawan_key_destroy(&app);
}

static void test_lorawan_fcnt_expand__same_half(void **state)
{
    (void)state;
    uint32_t v = 0;
    assert_int_equal(lorawan_fcnt_expand(0x00020010, 0x0011, &v), 0);
    assert_int_equal(v, 0x00020011);
    assert_int_equal(lorawan_fcnt_expand(0x00020010, 0x0010, &v), 0); /* retransmission */
    assert_int_equal(v, 0x00020010);
}

static void test_lorawan_fcnt_expand__rollover_16bit(void **state)
{
    (void)state;
    uint32_t v = 0;
    assert_int_equal(lorawan_fcnt_expand(0x0000ffff, 0x0000, &v), 0);
    assert_int_equal(v, 0x00010000);
    assert_int_equal(lorawan_fcnt_expand(0x0001fff0, 0x0003, &v), 0);
    assert_int_equal(v, 0x00020003);
}

static void test_lorawan_fcnt_expand__rollover_32bit(void **state)
{
    (void)state;
    uint32_t v = 0;
    assert_int_equal(lorawan_fcnt_expand(0xffffffff, 0xffff, &v), 0);
    assert_int_equal(v, 0xffffffffu);
    assert_int_equal(lorawan_fcnt_expand(0xfffffff0, 0x0005, &v), LORAWAN_E_FCNT);
    assert_int_equal(lorawan_fcnt_expand(0, 0, NULL), LORAWAN_E_PARAM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lorawan_cmac__rfc4493_empty),
        cmocka_unit_test(test_lorawan_cmac__rfc4493_one_block),
        cmocka_unit_test(test_lorawan_cmac__rfc4493_40_bytes),
        cmocka_unit_test(test_lorawan_cmac__rfc4493_64_bytes),
        cmocka_unit_test(test_lorawan_key_init__rfc4493_subkeys),
        cmocka_unit_test(test_lorawan_cmac__head_split_equals_contiguous),
        cmocka_unit_test(test_lorawan_key_init__null_param),
        cmocka_unit_test(test_lorawan_key_wrap__rfc3394_128_kek_128),
        cmocka_unit_test(test_lorawan_key_wrap__rfc3394_128_kek_192),
        cmocka_unit_test(test_lorawan_key_wrap__rfc3394_128_kek_256),
        cmocka_unit_test(test_lorawan_key_wrap__rfc3394_256_kek_256),
        cmocka_unit_test(test_lorawan_key_unwrap__tampered),
        cmocka_unit_test(test_lorawan_key_wrap__bad_lengths),
        cmocka_unit_test(test_lorawan_mic_data_up_10__vector),
        cmocka_unit_test(test_lorawan_mic_data_up_10__fcnt_high),
        cmocka_unit_test(test_lorawan_mic_data_up_10__short),
        cmocka_unit_test(test_lorawan_mic_data_up_11__confirmed_with_fopts),
        cmocka_unit_test(test_lorawan_mic_data_up_11__conf_fcnt_ignored_without_ack),
        cmocka_unit_test(test_lorawan_mic_data_up_11__ack_vector),
        cmocka_unit_test(test_lorawan_mic_data_down__vectors),
        cmocka_unit_test(test_lorawan_mic_join_request__vectors),
        cmocka_unit_test(test_lorawan_mic_join_accept__vectors),
        cmocka_unit_test(test_lorawan_join_accept_decrypt__cflist_roundtrip),
        cmocka_unit_test(test_lorawan_join_accept_decrypt__bad_length),
        cmocka_unit_test(test_lorawan_payload_encrypt__two_blocks),
        cmocka_unit_test(test_lorawan_fopts_encrypt__errata_block),
        cmocka_unit_test(test_lorawan_fopts_encrypt__a_fcnt_down),
        cmocka_unit_test(test_lorawan_derive_keys_10__vector),
        cmocka_unit_test(test_lorawan_derive_keys_11__vector),
        cmocka_unit_test(test_lorawan_fcnt_expand__same_half),
        cmocka_unit_test(test_lorawan_fcnt_expand__rollover_16bit),
        cmocka_unit_test(test_lorawan_fcnt_expand__rollover_32bit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
