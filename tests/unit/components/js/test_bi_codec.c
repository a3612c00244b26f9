/* Tests of components/js/bi_codec.c: Backend Interfaces JoinReq/AppSKeyReq decoding with
 * every refusal named, and the answer header. The JoinReq bodies are the ones The Things
 * Stack's interop client sends (pkg/interop/client_test.go, "Backend Interfaces 1.0/1.1"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "js/js_private.h"

static js_bi_request_t r;
static js_bi_refusal_t why;

static int decode(const char *text)
{
    json_error_t je;
    json_t *body = json_loads(text, 0, &je);
    assert_non_null(body);
    int rc = js_bi_decode(body, &r, &why);
    json_decref(body);
    return rc;
}

#define TTS_10                                                                                     \
    "{\"ProtocolVersion\":\"1.0\",\"TransactionID\":0,\"MessageType\":\"JoinReq\","                \
    "\"SenderID\":\"42FFFF\",\"ReceiverID\":\"70B3D57ED0000000\",\"MACVersion\":\"1.0.3\","        \
    "\"PHYPayload\":\"00000000D07ED5B370080706050403020100003851F0B6\","                           \
    "\"DevEUI\":\"0102030405060708\",\"DevAddr\":\"01020304\",\"DLSettings\":\"00\","              \
    "\"RxDelay\":5"

static void test_js_bi_decode__tts_join_req_10(void **state)
{
    (void)state;
    assert_int_equal(decode(TTS_10 "}"), 0);
    assert_int_equal(r.h.type, JS_BI_JOIN_REQ);
    assert_false(r.h.v11);
    assert_int_equal(r.net_id, 0x42ffff);
    assert_true(r.join_eui == 0x70b3d57ed0000000ULL);
    assert_true(r.dev_eui == 0x0102030405060708ULL);
    assert_int_equal(r.dev_addr, 0x01020304);
    assert_int_equal(r.mac_version, JS_MAC_V1_0_3);
    assert_int_equal(r.phy_len, 23);
    assert_int_equal(r.rx_delay, 5);
    assert_false(r.has_cflist);
}

static void test_js_bi_decode__tts_join_req_11_nsid(void **state)
{
    (void)state;
    assert_int_equal(
        decode("{\"ProtocolVersion\":\"1.1\",\"TransactionID\":4294967295,\"MessageType\":"
               "\"JoinReq\",\"SenderID\":\"42FFFF\",\"SenderNSID\":\"70B3D57ED0000001\","
               "\"ReceiverID\":\"EC656E0000000000\",\"MACVersion\":\"1.0.3\",\"PHYPayload\":"
               "\"00000000D07ED5B370080706050403020100003851F0B6\",\"DevEUI\":"
               "\"0102030405060708\",\"DevAddr\":\"01020304\",\"DLSettings\":\"00\","
               "\"RxDelay\":5.0,\"SenderToken\":\"0102\"}"),
        0);
    assert_true(r.h.v11);
    assert_true(r.h.has_sender_nsid && r.h.sender_nsid == 0x70b3d57ed0000001ULL);
    assert_int_equal(r.h.transaction_id, 4294967295u);
    /* The lookup uses the join-request's JoinEUI. */
    assert_true(r.join_eui == 0x70b3d57ed0000000ULL);
    json_t *a = js_bi_answer(&r, JS_BI_MIC_FAILED, NULL);
    char *text = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"MessageType\":\"JoinAns\",\"ProtocolVersion\":\"1.1\","
                              "\"ReceiverID\":\"42FFFF\",\"ReceiverNSID\":\"70B3D57ED0000001\","
                              "\"ReceiverToken\":\"0102\",\"Result\":{\"ResultCode\":"
                              "\"MICFailed\"},\"SenderID\":\"EC656E0000000000\","
                              "\"TransactionID\":4294967295}");
    free(text);
    json_decref(a);
}

static void refused(const char *body, bool header_ok, const char *code, const char *field)
{
    assert_int_equal(decode(body), -1);
    assert_int_equal(why.header_ok, header_ok);
    assert_string_equal(why.result_code, code);
    assert_non_null(strstr(why.description, field));
}

static void test_js_bi_decode__refusals_name_the_field(void **state)
{
    (void)state;
    refused("[]", false, "MalformedRequest", "object");
    refused("{\"ProtocolVersion\":\"1.0\"}", false, "MalformedRequest", "MessageType");
    refused("{\"ProtocolVersion\":\"1.0\",\"MessageType\":\"JoinAns\"}", false, "MalformedRequest",
            "MessageType");
    refused("{\"ProtocolVersion\":\"2.0\",\"MessageType\":\"JoinReq\"}", false,
            "InvalidProtocolVersion", "ProtocolVersion");
    refused(TTS_10 ",\"CFList\":\"00\"}", true, "MalformedRequest", "CFList");
    refused("{\"ProtocolVersion\":\"1.1\",\"MessageType\":\"JoinReq\",\"SenderID\":\"42FF\","
            "\"ReceiverID\":\"70B3D57ED0000000\"}",
            true, "MalformedMessage", "SenderID");
    const char *rx = "{\"ProtocolVersion\":\"1.0\",\"TransactionID\":0,\"MessageType\":\"JoinReq\","
                     "\"SenderID\":\"42FFFF\",\"ReceiverID\":\"70B3D57ED0000000\",\"MACVersion\":"
                     "\"1.0.3\",\"PHYPayload\":\"00000000D07ED5B370080706050403020100003851F0B6\","
                     "\"DevEUI\":\"0102030405060708\",\"DevAddr\":\"01020304\",\"DLSettings\":"
                     "\"00\",\"RxDelay\":16}";
    refused(rx, true, "MalformedRequest", "RxDelay");
    /* DevEUI of the body differs from the join-request's. */
    const char *dev = "{\"ProtocolVersion\":\"1.0\",\"MessageType\":\"JoinReq\",\"SenderID\":"
                      "\"42FFFF\",\"ReceiverID\":\"70B3D57ED0000000\",\"MACVersion\":\"1.0.3\","
                      "\"PHYPayload\":\"00000000D07ED5B370080706050403020100003851F0B6\","
                      "\"DevEUI\":\"0102030405060709\",\"DevAddr\":\"01020304\",\"DLSettings\":"
                      "\"00\",\"RxDelay\":1}";
    refused(dev, true, "MalformedRequest", "DevEUI");
    const char *mac = "{\"ProtocolVersion\":\"1.0\",\"MessageType\":\"JoinReq\",\"SenderID\":"
                      "\"42FFFF\",\"ReceiverID\":\"70B3D57ED0000000\",\"MACVersion\":\"1.2\"}";
    refused(mac, true, "MalformedRequest", "MACVersion");
    const char *phy = "{\"ProtocolVersion\":\"1.0\",\"MessageType\":\"JoinReq\",\"SenderID\":"
                      "\"42FFFF\",\"ReceiverID\":\"70B3D57ED0000000\",\"MACVersion\":\"1.0\","
                      "\"PHYPayload\":\"40010203\",\"DevEUI\":\"0102030405060708\",\"DevAddr\":"
                      "\"01020304\",\"DLSettings\":\"00\",\"RxDelay\":1}";
    refused(phy, true, "MalformedRequest", "PHYPayload");
}

static void test_js_bi_decode__app_s_key_req(void **state)
{
    (void)state;
    assert_int_equal(decode("{\"ProtocolVersion\":\"1.0\",\"MessageType\":\"AppSKeyReq\","
                            "\"SenderID\":\"as.example\",\"ReceiverID\":\"0x70b3d57ed0000000\","
                            "\"DevEUI\":\"0102030405060708\",\"SessionKeyID\":\"016BFA7B\"}"),
                     0);
    assert_int_equal(r.h.type, JS_BI_APP_S_KEY_REQ);
    assert_int_equal(r.session_key_id_len, 4);
    json_t *a = js_bi_answer(&r, JS_BI_SUCCESS, NULL);
    assert_string_equal(json_string_value(json_object_get(a, "ReceiverID")), "as.example");
    assert_string_equal(json_string_value(json_object_get(a, "SenderID")), "70B3D57ED0000000");
    assert_string_equal(json_string_value(json_object_get(a, "MessageType")), "AppSKeyAns");
    json_decref(a);
    refused("{\"ProtocolVersion\":\"1.0\",\"MessageType\":\"AppSKeyReq\",\"SenderID\":\"as\","
            "\"ReceiverID\":\"70B3D57ED0000000\",\"DevEUI\":\"0102030405060708\","
            "\"SessionKeyID\":\"\"}",
            true, "MalformedRequest", "SessionKeyID");
}

static void test_js_bi_decode__home_ns_req(void **state)
{
    (void)state;
    assert_int_equal(decode("{\"ProtocolVersion\":\"1.1\",\"MessageType\":\"HomeNSReq\","
                            "\"SenderID\":\"000013\",\"ReceiverID\":\"70B3D57ED0000000\","
                            "\"DevEUI\":\"0102030405060708\"}"),
                     0);
    assert_int_equal(r.h.type, JS_BI_HOME_NS_REQ);
    assert_int_equal(r.net_id, 0x13);
    json_t *a = js_bi_answer(&r, JS_BI_SUCCESS, NULL);
    assert_string_equal(json_string_value(json_object_get(a, "MessageType")), "HomeNSAns");
    assert_string_equal(json_string_value(json_object_get(a, "ReceiverID")), "000013");
    json_decref(a);
    refused("{\"ProtocolVersion\":\"1.1\",\"MessageType\":\"HomeNSReq\",\"SenderID\":"
            "\"000013\",\"ReceiverID\":\"70B3D57ED0000000\"}",
            true, "MalformedMessage", "DevEUI");
}

/* TTS's KeyEnvelope: KEKLabel and AESKey; the AESKey is the RFC 3394 wrap under the KEK. */
static void test_js_bi_key_envelope__wrapped_and_clear(void **state)
{
    (void)state;
    uint8_t kek[16], key[16];
    size_t n;
    lorawan_hex_decode("000102030405060708090a0b0c0d0e0f", 32, kek, 16, &n);
    lorawan_hex_decode("00112233445566778899aabbccddeeff", 32, key, 16, &n);
    json_t *o = json_object();
    assert_int_equal(js_bi_key_envelope(o, "NwkSKey", "ns", kek, 16, key), 0);
    assert_int_equal(js_bi_key_envelope(o, "AppSKey", "", NULL, 0, key), 0);
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"AppSKey\":{\"AESKey\":\"00112233445566778899AABBCCDDEEFF\","
                              "\"KEKLabel\":\"\"},\"NwkSKey\":{\"AESKey\":"
                              "\"1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5\","
                              "\"KEKLabel\":\"ns\"}}");
    free(text);
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_js_bi_decode__tts_join_req_10),
        cmocka_unit_test(test_js_bi_decode__tts_join_req_11_nsid),
        cmocka_unit_test(test_js_bi_decode__refusals_name_the_field),
        cmocka_unit_test(test_js_bi_decode__app_s_key_req),
        cmocka_unit_test(test_js_bi_decode__home_ns_req),
        cmocka_unit_test(test_js_bi_key_envelope__wrapped_and_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
