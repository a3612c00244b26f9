/* Tests of the pure parts of components/ns/downlink.c (the downlink paths of an uplink, best
 * first as TTS orders them; when a refused downlink may still be retried) and of the
 * in-flight state at rest (state.c: the paths not tried yet, the counter to give back, the
 * class C paths and the awaited ACK survive a restart). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ns/ns_private.h"

typedef struct copy {
    Lw__Msg__RxMetadata rx;
    Lw__Msg__GatewayIdentifiers gw;
    uint8_t token[8];
} copy_t;

static void copy_init(copy_t *c, const char *tenant, const char *gw, float channel_rssi, float snr,
                      uint32_t timestamp)
{
    lw__msg__rx_metadata__init(&c->rx);
    lw__msg__gateway_identifiers__init(&c->gw);
    c->gw.gateway_id = (char *)gw;
    c->gw.tenant_id = (char *)tenant;
    c->gw.eui = 0xa1;
    c->rx.gateway_ids = &c->gw;
    c->rx.channel_rssi = channel_rssi;
    c->rx.rssi = channel_rssi;
    c->rx.snr = snr;
    c->rx.timestamp = timestamp;
    memset(c->token, 0x5a, sizeof c->token);
    c->rx.uplink_token.data = c->token;
    c->rx.uplink_token.len = sizeof c->token;
}

static void test_ns_adjusted_rssi__tts_cases(void **state)
{
    (void)state;
    /* TTS lora.AdjustedRSSI: SNR added at or below -5 dB, scaled to 0 at 10 dB, none above. */
    assert_float_equal(ns_adjusted_rssi(-100.0f, -10.0f), -110.0f, 1e-4);
    assert_float_equal(ns_adjusted_rssi(-100.0f, -5.0f), -105.0f, 1e-4);
    assert_float_equal(ns_adjusted_rssi(-100.0f, 1.0f), -103.0f, 1e-4);
    assert_float_equal(ns_adjusted_rssi(-100.0f, 10.0f), -100.0f, 1e-4);
    assert_float_equal(ns_adjusted_rssi(-100.0f, 12.5f), -100.0f, 1e-4);
}

static void test_ns_downlink_paths__best_first_one_per_gateway(void **state)
{
    (void)state;
    copy_t c[6];
    /* gw-a1 has the best SNR, gw-a2 the best adjusted RSSI; gw-x has no channel RSSI (last);
     * gw-a2 heard it twice (its weaker copy is not a second path); gw-t has no token. */
    copy_init(&c[0], "acme", "gw-a1", -80.0f, 9.5f, 100);
    copy_init(&c[1], "acme", "gw-x", 0.0f, 12.0f, 200);
    copy_init(&c[2], "acme", "gw-a2", -50.0f, 2.0f, 300);
    copy_init(&c[3], "globex", "gw-g9", -95.0f, -3.0f, 400);
    copy_init(&c[4], "acme", "gw-a2", -70.0f, 2.0f, 500);
    copy_init(&c[5], "acme", "gw-t", -10.0f, 10.0f, 600);
    c[5].rx.uplink_token.len = 0;
    Lw__Msg__RxMetadata *rx[6];
    for (int i = 0; i < 6; i++)
        rx[i] = &c[i].rx;
    ns_path_t p[NS_PATHS_MAX];
    size_t n = ns_downlink_paths(rx, 6, p, NS_PATHS_MAX);
    assert_int_equal(n, 4);
    assert_string_equal(p[0].gateway_id, "gw-a2");
    assert_int_equal(p[0].timestamp, 300); /* its best copy */
    assert_string_equal(p[1].gateway_id, "gw-a1");
    assert_string_equal(p[2].gateway_id, "gw-g9");
    assert_string_equal(p[2].tenant_id, "globex");
    assert_string_equal(p[3].gateway_id, "gw-x");
    assert_int_equal(p[0].token_len, 8);
    assert_memory_equal(p[0].token, c[2].token, 8);
    /* At most max. */
    assert_int_equal(ns_downlink_paths(rx, 6, p, 2), 2);
    assert_string_equal(p[1].gateway_id, "gw-a1");
    /* The same gateway id in two tenants is two gateways. */
    copy_t d[2];
    copy_init(&d[0], "acme", "gw-1", -60.0f, 5.0f, 1);
    copy_init(&d[1], "globex", "gw-1", -70.0f, 5.0f, 2);
    Lw__Msg__RxMetadata *rd[2] = {&d[0].rx, &d[1].rx};
    assert_int_equal(ns_downlink_paths(rd, 2, p, NS_PATHS_MAX), 2);
    assert_string_equal(p[1].tenant_id, "globex");
}

static void test_ns_downlink_paths__equal_stable_and_none(void **state)
{
    (void)state;
    copy_t c[3];
    copy_init(&c[0], "acme", "gw-b", -60.0f, 5.0f, 1);
    copy_init(&c[1], "acme", "gw-a", -60.0f, 5.0f, 2);
    copy_init(&c[2], "acme", "", -10.0f, 5.0f, 3); /* no gateway id */
    Lw__Msg__RxMetadata *rx[3] = {&c[0].rx, &c[1].rx, &c[2].rx};
    ns_path_t p[NS_PATHS_MAX];
    assert_int_equal(ns_downlink_paths(rx, 3, p, NS_PATHS_MAX), 2);
    assert_string_equal(p[0].gateway_id, "gw-b"); /* the earlier of equals */
    assert_string_equal(p[1].gateway_id, "gw-a");
    assert_int_equal(ns_downlink_paths(rx, 0, p, NS_PATHS_MAX), 0);
    Lw__Msg__RxMetadata *none[1] = {NULL};
    assert_int_equal(ns_downlink_paths(none, 1, p, NS_PATHS_MAX), 0);
}

static void test_ns_downlink_retry_allowed__window(void **state)
{
    (void)state;
    int64_t end = 10ll * 1000000000ll;
    assert_true(ns_downlink_retry_allowed(end - 500ll * 1000000ll, end));
    /* The last 100 ms before the window are too short for another bus hop. */
    assert_false(ns_downlink_retry_allowed(end - 100ll * 1000000ll, end));
    assert_false(ns_downlink_retry_allowed(end + 1, end));
    /* Class C: no window. */
    assert_true(ns_downlink_retry_allowed(end * 100, 0));
}

static void test_ns_class_c_timeout__default_and_setting(void **state)
{
    (void)state;
    ns_dev_t *d = calloc(1, sizeof *d);
    assert_non_null(d);
    ns_settings_t set = {0};
    d->set = &set;
    assert_int_equal(ns_class_c_timeout_ns(d), 300ll * 1000000000ll); /* TTS: 5 min */
    set.class_c_timeout_s = 5;
    assert_int_equal(ns_class_c_timeout_ns(d), 5ll * 1000000000ll);
    free(d);
}

static void test_ns_state__flight_at_rest(void **state)
{
    (void)state;
    ns_state_t st;
    ns_state_init(&st);
    ns_flight_t *fl = calloc(1, sizeof *fl);
    memset(fl->id, 0x42, sizeof fl->id);
    fl->f_cnt = 7;
    fl->app = calloc(1, sizeof *fl->app);
    fl->app->f_port = 2;
    fl->app->f_cnt = 7;
    fl->app->retry_attempt = 3;
    fl->app->retry_max = 8;
    fl->gs_down = malloc(3);
    memcpy(fl->gs_down, "\x0a\x01\x02", 3);
    fl->gs_down_len = 3;
    fl->paths = calloc(2, sizeof *fl->paths);
    strcpy(fl->paths[0].gateway_id, "gw-a1");
    strcpy(fl->paths[0].tenant_id, "acme");
    fl->paths[0].timestamp = 1234;
    fl->paths[0].token_len = 2;
    fl->paths[0].token[0] = 0xab;
    strcpy(fl->paths[1].gateway_id, "gw-g9");
    strcpy(fl->paths[1].tenant_id, "globex");
    fl->npaths = 2;
    fl->attempts = 1;
    fl->window_end_ns = 123456789;
    fl->rollback = true;
    fl->rollback_has = true;
    fl->rollback_f_cnt = 6;
    st.flight = fl;
    st.c_paths = calloc(1, sizeof *st.c_paths);
    strcpy(st.c_paths[0].gateway_id, "gw-c");
    st.n_c_paths = 1;
    st.awaiting_ack = calloc(1, sizeof *st.awaiting_ack);
    st.awaiting_ack->f_cnt = 5;
    st.awaiting_at_ns = 99;
    st.awaiting_class_c = true;

    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(ns_state_encode(&st, NULL, &buf, &len), 0);
    ns_state_t back;
    assert_int_equal(ns_state_decode(buf, len, NULL, NULL, &back), 0);
    free(buf);
    assert_non_null(back.flight);
    assert_memory_equal(back.flight->id,
                        "\x42\x42\x42\x42\x42\x42\x42\x42\x42\x42\x42\x42\x42\x42\x42\x42", 16);
    assert_int_equal(back.flight->f_cnt, 7);
    assert_non_null(back.flight->app);
    assert_int_equal(back.flight->app->retry_attempt, 3);
    assert_int_equal(back.flight->app->retry_max, 8);
    assert_int_equal(back.flight->gs_down_len, 3);
    assert_memory_equal(back.flight->gs_down, "\x0a\x01\x02", 3);
    assert_int_equal(back.flight->npaths, 2);
    assert_string_equal(back.flight->paths[0].gateway_id, "gw-a1");
    assert_int_equal(back.flight->paths[0].timestamp, 1234);
    assert_int_equal(back.flight->paths[0].token_len, 2);
    assert_int_equal(back.flight->paths[0].token[0], 0xab);
    assert_string_equal(back.flight->paths[1].tenant_id, "globex");
    assert_int_equal(back.flight->window_end_ns, 123456789);
    assert_true(back.flight->rollback);
    assert_true(back.flight->rollback_has);
    assert_int_equal(back.flight->rollback_f_cnt, 6);
    assert_int_equal(back.n_c_paths, 1);
    assert_string_equal(back.c_paths[0].gateway_id, "gw-c");
    assert_int_equal(back.awaiting_ack->f_cnt, 5);
    assert_int_equal(back.awaiting_at_ns, 99);
    assert_true(back.awaiting_class_c);
    ns_state_destroy(&back);
    ns_state_destroy(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ns_adjusted_rssi__tts_cases),
        cmocka_unit_test(test_ns_downlink_paths__best_first_one_per_gateway),
        cmocka_unit_test(test_ns_downlink_paths__equal_stable_and_none),
        cmocka_unit_test(test_ns_downlink_retry_allowed__window),
        cmocka_unit_test(test_ns_class_c_timeout__default_and_setting),
        cmocka_unit_test(test_ns_state__flight_at_rest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
