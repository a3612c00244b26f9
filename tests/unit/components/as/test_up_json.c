/* components/as/up_json.c and session.c: the ApplicationUp JSON with exact bytes, payload
 * crypto against the LoRaWAN 1.0.x scheme, AppSKey unwrap (RFC 3394 vector). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "as/as_private.h"
#include "cluster/json.h"

static char *render(const as_up_in_t *in, Lw__Msg__AsUpType *type)
{
    json_t *j = as_up_json(in, type);
    assert_non_null(j);
    char *s = lw_json_dumps(j, JSON_COMPACT); /* as the AS publishes it */
    json_decref(j);
    return s;
}

static void test_as_up_json__uplink_message_exact(void **state)
{
    (void)state;
    uint8_t id[16] = {1}, skid[4] = {0xde, 0xad, 0xbe, 0xef}, pl[4] = {1, 2, 3, 4};
    uint8_t tok[2] = {0xab, 0xcd};
    Lw__Msg__Envelope env = LW__MSG__ENVELOPE__INIT;
    env.id.data = id;
    env.id.len = 16;
    env.tenant_id = "acme";
    Lw__Msg__GatewayIdentifiers g1 = LW__MSG__GATEWAY_IDENTIFIERS__INIT, g2 = g1;
    g1.gateway_id = "gw1";
    g1.eui = 0x0102030405060708ull;
    g2.gateway_id = "gw2";
    Lw__Msg__RxMetadata r1 = LW__MSG__RX_METADATA__INIT, r2 = r1;
    r1.gateway_ids = &g1;
    r1.timestamp = 1000;
    r1.rssi = -35.0f;
    r1.channel_rssi = -35.0f;
    r1.snr = 5.2f;
    r1.uplink_token.data = tok;
    r1.uplink_token.len = 2;
    r1.channel_index = 2;
    Lw__Msg__Location loc = LW__MSG__LOCATION__INIT;
    loc.latitude = 52.3740301;
    loc.longitude = 4.8897;
    loc.altitude = 12;
    loc.source = "SOURCE_REGISTRY";
    r1.location = &loc; /* gw1's location is public, gw2's is not */
    r2.gateway_ids = &g2;
    r2.rssi = -101.5f;
    Lw__Msg__RxMetadata *rx[2] = {&r1, &r2};
    Lw__Msg__LoRaDataRate lr = LW__MSG__LO_RA_DATA_RATE__INIT;
    lr.bandwidth = 125000;
    lr.spreading_factor = 7;
    lr.coding_rate = "4/5";
    Lw__Msg__DataRate dr = LW__MSG__DATA_RATE__INIT;
    dr.modulation_case = LW__MSG__DATA_RATE__MODULATION_LORA;
    dr.lora = &lr;
    Lw__Msg__TxSettings ts = LW__MSG__TX_SETTINGS__INIT;
    ts.data_rate = &dr;
    ts.frequency = 868100000;
    ts.timestamp = 1000;
    Lw__Msg__NetworkIdentifiers nid = LW__MSG__NETWORK_IDENTIFIERS__INIT;
    nid.net_id = 0x13;
    nid.tenant_id = "acme";
    Lw__Msg__UplinkMessage um = LW__MSG__UPLINK_MESSAGE__INIT;
    um.session_key_id.data = skid;
    um.session_key_id.len = 4;
    um.f_port = 7;
    um.f_cnt = 42;
    um.frm_payload.data = pl;
    um.frm_payload.len = 4;
    um.rx_metadata = rx;
    um.n_rx_metadata = 2;
    um.settings = &ts;
    um.received_at = 1700000000123456789ll;
    um.consumed_airtime = 61696000;
    um.network_ids = &nid;
    Lw__Msg__NsUp up = LW__MSG__NS_UP__INIT;
    up.envelope = &env;
    up.up_case = LW__MSG__NS_UP__UP_UPLINK_MESSAGE;
    up.uplink_message = &um;
    json_t *decoded = json_pack("{si}", "temperature_1", 21);
    as_up_in_t in = {.app_id = "app1",
                     .dev_id = "dev1",
                     .dev_eui = 0x70B3D57ED0000001ull,
                     .join_eui = 0,
                     .dev_addr = 0x260B1234,
                     .has_dev_addr = true,
                     .up = &up,
                     .received_at_ns = 1700000000500000000ll,
                     .correlation_id = "as:up:01",
                     .decoded_payload = decoded};
    Lw__Msg__AsUpType type = 0;
    char *s = render(&in, &type);
    assert_int_equal(type, LW__MSG__AS_UP_TYPE__AS_UP_UPLINK_MESSAGE);
    assert_string_equal(
        s, "{\"end_device_ids\":{\"device_id\":\"dev1\",\"application_ids\":{\"application_id\":"
           "\"app1\"},\"dev_eui\":\"70B3D57ED0000001\",\"dev_addr\":\"260B1234\"},"
           "\"correlation_ids\":[\"as:up:01\"],\"received_at\":\"2023-11-14T22:13:20.5Z\","
           "\"uplink_message\":{\"session_key_id\":\"3q2+7w==\",\"f_port\":7,\"f_cnt\":42,"
           "\"frm_payload\":\"AQIDBA==\",\"decoded_payload\":{\"temperature_1\":21},"
           "\"rx_metadata\":[{\"gateway_ids\":{\"gateway_id\":\"gw1\",\"eui\":"
           "\"0102030405060708\"},\"timestamp\":1000,\"rssi\":-35,\"channel_rssi\":-35,"
           "\"snr\":5.2,\"location\":{\"latitude\":52.3740301,\"longitude\":4.8897,"
           "\"altitude\":12,\"source\":\"SOURCE_REGISTRY\"},\"uplink_token\":\"q80=\","
           "\"channel_index\":2},{\"gateway_ids\":"
           "{\"gateway_id\":\"gw2\"},\"rssi\":-101.5}],\"settings\":{\"data_rate\":{\"lora\":"
           "{\"bandwidth\":125000,\"spreading_factor\":7,\"coding_rate\":\"4/5\"}},"
           "\"frequency\":\"868100000\",\"timestamp\":1000},\"received_at\":"
           "\"2023-11-14T22:13:20.123456789Z\",\"consumed_airtime\":\"0.061696s\","
           "\"network_ids\":{\"net_id\":\"000013\",\"tenant_id\":\"acme\"}}}");
    free(s);
    json_decref(decoded);
}

static void test_as_up_json__downlink_failed_with_error(void **state)
{
    (void)state;
    uint8_t id[16] = {2}, pl[2] = {0xca, 0xfe};
    Lw__Msg__Envelope env = LW__MSG__ENVELOPE__INIT;
    env.id.data = id;
    env.id.len = 16;
    env.tenant_id = "globex";
    Lw__Msg__ApplicationDownlink dl = LW__MSG__APPLICATION_DOWNLINK__INIT;
    dl.f_port = 2;
    dl.f_cnt = 3;
    dl.frm_payload.data = pl;
    dl.frm_payload.len = 2;
    dl.confirmed = true;
    dl.priority = LW__MSG__TX_SCHEDULE_PRIORITY__NORMAL;
    Lw__Msg__ErrorDetails ed = LW__MSG__ERROR_DETAILS__INIT;
    ed.namespace_ = "pkg/gatewayserver";
    ed.name = "duty_cycle";
    ed.code = 8;
    Lw__Msg__ApplicationDownlinkFailed f = LW__MSG__APPLICATION_DOWNLINK_FAILED__INIT;
    f.downlink = &dl;
    f.error = &ed;
    Lw__Msg__NsUp up = LW__MSG__NS_UP__INIT;
    up.envelope = &env;
    up.up_case = LW__MSG__NS_UP__UP_DOWNLINK_FAILED;
    up.downlink_failed = &f;
    as_up_in_t in = {.app_id = "a", .dev_id = "d", .up = &up, .received_at_ns = 1000000000ll};
    Lw__Msg__AsUpType type = 0;
    char *s = render(&in, &type);
    assert_int_equal(type, LW__MSG__AS_UP_TYPE__AS_UP_DOWNLINK_FAILED);
    assert_string_equal(s, "{\"end_device_ids\":{\"device_id\":\"d\",\"application_ids\":"
                           "{\"application_id\":\"a\"}},\"received_at\":\"1970-01-01T00:00:01Z\","
                           "\"downlink_failed\":{\"downlink\":{\"f_port\":2,\"f_cnt\":3,"
                           "\"frm_payload\":\"yv4=\",\"confirmed\":true,\"priority\":\"NORMAL\"},"
                           "\"error\":{\"namespace\":\"pkg/gatewayserver\",\"name\":"
                           "\"duty_cycle\",\"code\":8}}}");
    free(s);
}

/* TTS's uplink_normalized: one per item of the normalized payload, the uplink's metadata, the
 * decoder's warnings as normalized_payload_warnings; an item past the end is nothing. */
static void test_as_up_json__uplink_normalized_per_item(void **state)
{
    (void)state;
    uint8_t pl[1] = {0x2a};
    Lw__Msg__UplinkMessage um = LW__MSG__UPLINK_MESSAGE__INIT;
    um.f_port = 2;
    um.f_cnt = 9;
    um.frm_payload.data = pl;
    um.frm_payload.len = 1;
    um.received_at = 2000000000ll;
    Lw__Msg__NsUp up = LW__MSG__NS_UP__INIT;
    up.up_case = LW__MSG__NS_UP__UP_UPLINK_MESSAGE;
    up.uplink_message = &um;
    json_t *norm =
        json_pack("[{s{sf}}{s{si}}]", "air", "temperature", 21.5, "wind", "direction", 270);
    json_t *warn = json_pack("[s]", "low battery");
    as_up_in_t in = {.app_id = "a",
                     .dev_id = "d",
                     .up = &up,
                     .received_at_ns = 3000000000ll,
                     .decoded_payload = json_object(),
                     .decoded_payload_warnings = warn,
                     .normalized_payload = norm,
                     .normalized_item = 2};
    Lw__Msg__AsUpType type = 0;
    char *s = render(&in, &type);
    assert_int_equal(type, LW__MSG__AS_UP_TYPE__AS_UP_UPLINK_NORMALIZED);
    assert_string_equal(s,
                        "{\"end_device_ids\":{\"device_id\":\"d\",\"application_ids\":"
                        "{\"application_id\":\"a\"}},\"received_at\":\"1970-01-01T00:00:03Z\","
                        "\"uplink_normalized\":{\"f_port\":2,\"f_cnt\":9,\"frm_payload\":\"Kg==\","
                        "\"normalized_payload\":{\"wind\":{\"direction\":270}},"
                        "\"normalized_payload_warnings\":[\"low battery\"],\"settings\":{},"
                        "\"received_at\":\"1970-01-01T00:00:02Z\"}}");
    free(s);
    in.normalized_item = 3;
    assert_null(as_up_json(&in, &type));
    in.normalized_item = 0; /* the uplink_message itself, with the whole normalized payload */
    s = render(&in, &type);
    assert_int_equal(type, LW__MSG__AS_UP_TYPE__AS_UP_UPLINK_MESSAGE);
    assert_non_null(strstr(s, "\"normalized_payload\":[{\"air\":{\"temperature\":21.5}},"));
    free(s);
    json_decref((json_t *)in.decoded_payload);
    json_decref(norm);
    json_decref(warn);
}

static void test_as_up_json__list_not_forwarded(void **state)
{
    (void)state;
    Lw__Msg__ApplicationDownlinks l = LW__MSG__APPLICATION_DOWNLINKS__INIT;
    Lw__Msg__NsUp up = LW__MSG__NS_UP__INIT;
    up.up_case = LW__MSG__NS_UP__UP_DOWNLINK_QUEUE_LIST;
    up.downlink_queue_list = &l;
    as_up_in_t in = {.app_id = "a", .dev_id = "d", .up = &up};
    Lw__Msg__AsUpType type = 0;
    assert_null(as_up_json(&in, &type));
}

/* LoRaWAN 1.0.x FRMPayload encryption is its own inverse; the uplink and downlink key streams
 * differ (Dir in A_i). */
static void test_as_frm_crypt__round_trip_and_direction(void **state)
{
    (void)state;
    uint8_t key[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                       0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
    uint8_t a[5] = {1, 2, 3, 4, 5}, b[5] = {1, 2, 3, 4, 5};
    assert_int_equal(as_frm_crypt(key, false, 0x260B1234, 7, a, 5), 0);
    assert_int_equal(as_frm_crypt(key, true, 0x260B1234, 7, b, 5), 0);
    assert_memory_not_equal(a, b, 5);
    assert_int_equal(as_frm_crypt(key, false, 0x260B1234, 7, a, 5), 0);
    assert_memory_equal(a, ((uint8_t[5]){1, 2, 3, 4, 5}), 5);
}

/* RFC 3394 §4.1: KEK 000102..0F wraps 00112233..FF into 1FA68B0A8112B447 AEF34BD8FB5A7B82
 * 9D3E862371D2CFE5. */
static void test_as_key_unwrap__rfc3394_vector_and_unknown_label(void **state)
{
    (void)state;
    as_t as;
    memset(&as, 0, sizeof as);
    snprintf(as.keks[0].label, sizeof as.keks[0].label, "as-dev");
    for (int i = 0; i < 16; i++)
        as.keks[0].key[i] = (uint8_t)i;
    as.keks[0].len = 16;
    as.nkeks = 1;
    const uint8_t wrapped[24] = {0x1F, 0xA6, 0x8B, 0x0A, 0x81, 0x12, 0xB4, 0x47,
                                 0xAE, 0xF3, 0x4B, 0xD8, 0xFB, 0x5A, 0x7B, 0x82,
                                 0x9D, 0x3E, 0x86, 0x23, 0x71, 0xD2, 0xCF, 0xE5};
    const uint8_t plain[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                               0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF};
    uint8_t out[16];
    lw_err_t e;
    assert_int_equal(as_key_unwrap(&as, "as-dev", wrapped, 24, out, &e), 0);
    assert_memory_equal(out, plain, 16);
    assert_int_equal(as_key_unwrap(&as, "other", wrapped, 24, out, &e), -1);
    assert_string_equal(e.def->name, "as_unknown_kek_label");
    uint8_t bad[24];
    memcpy(bad, wrapped, 24);
    bad[5] ^= 1;
    assert_int_equal(as_key_unwrap(&as, "as-dev", bad, 24, out, &e), -1);
    assert_string_equal(e.def->name, "as_unwrap_key");
    assert_int_equal(as_key_unwrap(&as, "", plain, 16, out, &e), 0);
    assert_memory_equal(out, plain, 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_as_up_json__uplink_message_exact),
        cmocka_unit_test(test_as_up_json__downlink_failed_with_error),
        cmocka_unit_test(test_as_up_json__uplink_normalized_per_item),
        cmocka_unit_test(test_as_up_json__list_not_forwarded),
        cmocka_unit_test(test_as_frm_crypt__round_trip_and_direction),
        cmocka_unit_test(test_as_key_unwrap__rfc3394_vector_and_unknown_label),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
