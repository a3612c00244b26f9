/* Tests of the Backend Interfaces caller check (components/js/bi_codec.c): Bearer token
 * syntax (RFC 6750 §2.1 b64token), the Authorization header, the sender a request is
 * checked as (a JoinReq's NetID however spelled, an AppSKeyReq's AS-ID), and every outcome
 * of js_bi_authenticate with its exact Description. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "js/js_private.h"

static js_bi_request_t r;

static void decode(const char *text)
{
    json_error_t je;
    json_t *body = json_loads(text, 0, &je);
    assert_non_null(body);
    js_bi_refusal_t why;
    assert_int_equal(js_bi_decode(body, &r, &why), 0);
    json_decref(body);
}

/* A JoinReq of NetID `sender` (TTS's interop client body, pkg/interop/client_test.go). */
static void join_req(const char *sender)
{
    char text[600];
    snprintf(text, sizeof text,
             "{\"ProtocolVersion\":\"1.0\",\"TransactionID\":0,\"MessageType\":\"JoinReq\","
             "\"SenderID\":\"%s\",\"ReceiverID\":\"70B3D57ED0000000\",\"MACVersion\":\"1.0.3\","
             "\"PHYPayload\":\"00000000D07ED5B370080706050403020100003851F0B6\","
             "\"DevEUI\":\"0102030405060708\",\"DevAddr\":\"01020304\",\"DLSettings\":\"00\","
             "\"RxDelay\":5}",
             sender);
    decode(text);
}

static void app_s_key_req(const char *sender)
{
    char text[400];
    snprintf(text, sizeof text,
             "{\"ProtocolVersion\":\"1.1\",\"MessageType\":\"AppSKeyReq\",\"SenderID\":\"%s\","
             "\"ReceiverID\":\"70B3D57ED0000000\",\"DevEUI\":\"0102030405060708\","
             "\"SessionKeyID\":\"0102\"}",
             sender);
    decode(text);
}

static void test_js_bi_token_check__b64token(void **state)
{
    (void)state;
    char why[160];
    static const char *const good[] = {"a", "0123456789abcdef", "a-b.c_d~e+f/g", "abc==", "A="};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(js_bi_token_check(good[i], why, sizeof why), 0);
    static const char *const bad[] = {"", "a b", "=abc", "abc=d", "ab\r\nX-Evil: 1", "ab\"c", "é"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        assert_int_equal(js_bi_token_check(bad[i], why, sizeof why), -1);
        assert_string_equal(why, "must be 1 to 256 characters of a Bearer token (letters, "
                                 "digits, -._~+/, then =)");
    }
    char longest[258];
    memset(longest, 'x', 256);
    longest[256] = '\0';
    assert_int_equal(js_bi_token_check(longest, why, sizeof why), 0);
    longest[256] = 'x';
    longest[257] = '\0';
    assert_int_equal(js_bi_token_check(longest, why, sizeof why), -1);
    assert_int_equal(js_bi_token_check(NULL, why, sizeof why), -1);
}

static void test_js_bi_bearer_parse__header(void **state)
{
    (void)state;
    const char *t = NULL;
    size_t n = 0;
    assert_int_equal(js_bi_bearer_parse("Bearer abc", &t, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(t, "abc", 3);
    assert_int_equal(js_bi_bearer_parse("bearer   a-b==  ", &t, &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(t, "a-b==", 5);
    assert_int_equal(js_bi_bearer_parse("BEARER x", &t, &n), 0);
    assert_int_equal(n, 1);
    static const char *const bad[] = {"Basic YWxhZGRpbjpvcGVuc2VzYW1l",
                                      "Bearer",
                                      "Bearer ",
                                      "Bearer   ",
                                      "Bearerabc",
                                      "Bearer a b",
                                      "Bearer\tabc",
                                      " Bearer abc",
                                      "Bearer ab\"c",
                                      "TenantAdminKey abc",
                                      ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(js_bi_bearer_parse(bad[i], &t, &n), -1);
    assert_int_equal(js_bi_bearer_parse(NULL, &t, &n), -1);
}

static void test_js_bi_sender_init__lowercase_and_bounds(void **state)
{
    (void)state;
    js_bi_sender_t s;
    assert_int_equal(js_bi_sender_init(&s, "C0002F", "tok"), 0);
    assert_string_equal(s.id, "c0002f");
    /* SHA-256("tok") */
    static const uint8_t sha_tok[32] = {0x1a, 0x76, 0x74, 0xeb, 0x4e, 0xe7, 0x8d, 0xf7,
                                        0xe1, 0xac, 0x43, 0x9a, 0x93, 0xc3, 0xfa, 0x8e,
                                        0x3c, 0x94, 0x57, 0x84, 0xd4, 0xde, 0xc9, 0xfd,
                                        0x8e, 0x30, 0x11, 0x73, 0x8b, 0x2f, 0x1d, 0x62};
    assert_memory_equal(s.token_sha256, sha_tok, 32);
    assert_int_equal(js_bi_sender_init(&s, "AS.Local", "tok"), 0);
    assert_string_equal(s.id, "as.local");
    assert_int_equal(js_bi_sender_init(&s, "", "tok"), -1);
    char id[JS_BI_ID_MAX + 2];
    memset(id, 'a', JS_BI_ID_MAX + 1);
    id[JS_BI_ID_MAX + 1] = '\0';
    assert_int_equal(js_bi_sender_init(&s, id, "tok"), -1);
    id[JS_BI_ID_MAX] = '\0';
    assert_int_equal(js_bi_sender_init(&s, id, "tok"), 0);
    assert_int_equal(js_bi_sender_init(&s, "000013", "to k"), -1);
    assert_int_equal(js_bi_sender_init(&s, "000013", ""), -1);
}

static void test_js_bi_sender_key__netid_and_as_id(void **state)
{
    (void)state;
    char key[JS_BI_ID_MAX + 1], shown[JS_BI_ID_MAX + 1];
    join_req("0x00abCD");
    js_bi_sender_key(&r, key, shown);
    assert_string_equal(key, "00abcd");
    assert_string_equal(shown, "00ABCD");
    app_s_key_req("AS.Local");
    js_bi_sender_key(&r, key, shown);
    assert_string_equal(key, "as.local");
    assert_string_equal(shown, "AS.Local");
}

static js_bi_sender_t senders[2];

static int auth(bool allow, const char *authorization, char *why)
{
    why[0] = '\0';
    return js_bi_authenticate(senders, 2, allow, &r, authorization, why, 160);
}

static void test_js_bi_authenticate__outcomes(void **state)
{
    (void)state;
    assert_int_equal(js_bi_sender_init(&senders[0], "000013", "ns-token"), 0);
    assert_int_equal(js_bi_sender_init(&senders[1], "as.local", "as-token"), 0);
    char why[160];

    join_req("000013");
    assert_int_equal(auth(false, "Bearer ns-token", why), JS_BI_AUTH_OK);
    assert_string_equal(why, "");
    assert_int_equal(auth(false, "bearer  ns-token ", why), JS_BI_AUTH_OK);
    assert_int_equal(auth(false, NULL, why), JS_BI_AUTH_REFUSED);
    assert_string_equal(why, "no Authorization");
    assert_int_equal(auth(false, "Basic bnM6dG9rZW4=", why), JS_BI_AUTH_REFUSED);
    assert_string_equal(why, "Authorization is not a Bearer token");
    assert_int_equal(auth(false, "Bearer nope", why), JS_BI_AUTH_REFUSED);
    assert_string_equal(why, "wrong token for sender 000013");
    assert_int_equal(auth(false, "Bearer ns-toke", why), JS_BI_AUTH_REFUSED);
    assert_string_equal(why, "wrong token for sender 000013");
    assert_int_equal(auth(false, "Bearer ns-tokenX", why), JS_BI_AUTH_REFUSED);
    assert_int_equal(auth(false, "Bearer as-token", why), JS_BI_AUTH_REFUSED);
    assert_string_equal(why, "wrong token for sender 000013");
    /* A wrong token is refused even where tokens are optional. */
    assert_int_equal(auth(true, "Bearer as-token", why), JS_BI_AUTH_REFUSED);
    assert_string_equal(why, "wrong token for sender 000013");
    assert_int_equal(auth(true, NULL, why), JS_BI_AUTH_ANONYMOUS);
    assert_int_equal(auth(true, "Basic x", why), JS_BI_AUTH_ANONYMOUS);
    assert_int_equal(auth(true, "Bearer ns-token", why), JS_BI_AUTH_OK);

    /* The NetID however spelled. */
    join_req("0x000013");
    assert_int_equal(auth(false, "Bearer ns-token", why), JS_BI_AUTH_OK);

    join_req("00002A");
    assert_int_equal(auth(false, "Bearer ns-token", why), JS_BI_AUTH_REFUSED);
    assert_string_equal(why, "unknown sender 00002A");
    assert_int_equal(auth(false, NULL, why), JS_BI_AUTH_REFUSED);
    assert_string_equal(why, "no Authorization");
    assert_int_equal(auth(true, "Bearer ns-token", why), JS_BI_AUTH_ANONYMOUS);

    app_s_key_req("as.local");
    assert_int_equal(auth(false, "Bearer as-token", why), JS_BI_AUTH_OK);
    assert_int_equal(auth(false, "Bearer ns-token", why), JS_BI_AUTH_REFUSED);
    assert_string_equal(why, "wrong token for sender as.local");
    app_s_key_req("AS.LOCAL");
    assert_int_equal(auth(false, "Bearer as-token", why), JS_BI_AUTH_OK);
    app_s_key_req("000013");
    assert_int_equal(auth(false, "Bearer ns-token", why), JS_BI_AUTH_OK);
    app_s_key_req("as.other");
    assert_int_equal(auth(false, "Bearer as-token", why), JS_BI_AUTH_REFUSED);
    assert_string_equal(why, "unknown sender as.other");

    /* No sender configured at all. */
    join_req("000013");
    assert_int_equal(js_bi_authenticate(senders, 0, false, &r, "Bearer ns-token", why, 160),
                     JS_BI_AUTH_REFUSED);
    assert_string_equal(why, "unknown sender 000013");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_js_bi_token_check__b64token),
        cmocka_unit_test(test_js_bi_bearer_parse__header),
        cmocka_unit_test(test_js_bi_sender_init__lowercase_and_bounds),
        cmocka_unit_test(test_js_bi_sender_key__netid_and_as_id),
        cmocka_unit_test(test_js_bi_authenticate__outcomes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
