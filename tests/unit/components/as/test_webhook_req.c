/* components/as/webhook_req.c: URLs as TTS joins them (basic auth out of the userinfo), the
 * delivered message's field_mask, a webhook's JSON checked field by field, the backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "as/webhook_private.h"

static void url_is(const char *base, const char *path, const char *want, const char *want_auth)
{
    char url[WH_URL_MAX + 1], auth[256];
    assert_int_equal(wh_url(base, path, url, sizeof url, auth, sizeof auth), 0);
    assert_string_equal(url, want);
    assert_string_equal(auth, want_auth);
}

static void test_wh_url__joins_as_tts(void **state)
{
    (void)state;
    url_is("http://h:1/base", "up", "http://h:1/base/up", "");
    url_is("http://h:1/base/", "/up", "http://h:1/base/up", "");
    url_is("http://h:1/base", "/up", "http://h:1/base/up", "");
    url_is("http://h:1", "/up", "http://h:1/up", "");
    url_is("http://h:1/base", "", "http://h:1/base", "");
    url_is("https://h/base?k=1", "up", "https://h/base/up", "");
    url_is("https://h/base?k=1", "?k=2", "https://h/base?k=2", "");
    url_is("https://h/base", "/up?x=1", "https://h/base/up?x=1", "");
    /* userinfo: out of the URL, into Authorization: Basic (percent-decoded first) */
    url_is("http://user:pa%3Ass@h/x", "y", "http://h/x/y", "Basic dXNlcjpwYTpzcw==");
    url_is("http://u%40x:p@h", "", "http://h", "Basic dUB4OnA=");
    url_is("http://a@b:p@h/x", "", "http://h/x", "Basic YUBiOnA="); /* the last '@' ends it */
}

static void test_wh_url__refuses(void **state)
{
    (void)state;
    char url[WH_URL_MAX + 1], auth[256];
    assert_int_equal(wh_url("ftp://h/", "", url, sizeof url, auth, sizeof auth), -1);
    assert_int_equal(wh_url("http:///x", "", url, sizeof url, auth, sizeof auth), -1);
    assert_int_equal(wh_url("http://u:p@/x", "", url, sizeof url, auth, sizeof auth), -1);
    assert_int_equal(wh_url("h/x", "", url, sizeof url, auth, sizeof auth), -1);
    char small[12];
    assert_int_equal(wh_url("http://host/long/path", "", small, sizeof small, auth, sizeof auth),
                     -1);
}

static char *masked(const char *up, const char *const *paths, size_t n)
{
    json_t *j = json_loads(up, 0, NULL);
    assert_non_null(j);
    json_t *m = wh_mask_up(j, paths, n);
    char *s = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(m);
    json_decref(j);
    return s;
}

static const char UP[] =
    "{\"end_device_ids\":{\"device_id\":\"d\",\"dev_eui\":\"01\"},"
    "\"correlation_ids\":[\"a\"],\"received_at\":\"t\","
    "\"uplink_message\":{\"f_cnt\":3,\"f_port\":1,\"decoded_payload\":{\"x\":1,"
    "\"y\":2}}}";

static void test_wh_mask_up__tts_rules(void **state)
{
    (void)state;
    char *s = masked(UP, NULL, 0);
    assert_string_equal(s, "{\"correlation_ids\":[\"a\"],\"end_device_ids\":{\"dev_eui\":\"01\","
                           "\"device_id\":\"d\"},\"received_at\":\"t\",\"uplink_message\":{"
                           "\"decoded_payload\":{\"x\":1,\"y\":2},\"f_cnt\":3,\"f_port\":1}}");
    free(s);
    static const char *const p1[] = {"up.uplink_message.decoded_payload.x",
                                     "end_device_ids.device_id"};
    s = masked(UP, p1, 2);
    assert_string_equal(s, "{\"end_device_ids\":{\"device_id\":\"d\"},\"uplink_message\":{"
                           "\"decoded_payload\":{\"x\":1}}}");
    free(s);
    /* a path of another type selects nothing of this one; "up" the whole message */
    static const char *const p2[] = {"up.join_accept", "received_at"};
    s = masked(UP, p2, 2);
    assert_string_equal(s, "{\"received_at\":\"t\"}");
    free(s);
    static const char *const p3[] = {"up.uplink_message.f_cnt", "up"};
    s = masked(UP, p3, 2);
    assert_string_equal(s, "{\"uplink_message\":{\"decoded_payload\":{\"x\":1,\"y\":2},\"f_cnt\":3,"
                           "\"f_port\":1}}");
    free(s);
    /* a parent after a child takes it whole, a child after a parent changes nothing */
    static const char *const p4[] = {"up.uplink_message", "up.uplink_message.f_cnt"};
    s = masked(UP, p4, 2);
    assert_string_equal(s, "{\"uplink_message\":{\"decoded_payload\":{\"x\":1,\"y\":2},\"f_cnt\":3,"
                           "\"f_port\":1}}");
    free(s);
}

static int apply(const char *body, const char *const *paths, int n, bool create, json_t *stored,
                 lw_err_t *e)
{
    json_t *b = json_loads(body, 0, NULL);
    assert_non_null(b);
    lw_api_mask_t m = {.n = n};
    for (int i = 0; i < n; i++)
        snprintf(m.paths[i], sizeof m.paths[i], "%s", paths[i]);
    char key[WH_KEY_MAX + 1];
    bool key_set;
    lw_err_clear(e);
    int rc = wh_apply(b, &m, create, stored, key, &key_set, e);
    json_decref(b);
    return rc;
}

static const char *field_of(const lw_err_t *e)
{
    for (int i = 0; i < e->nattrs; i++)
        if (strcmp(e->attrs[i].key, "field") == 0)
            return e->attrs[i].value;
    return "";
}

static void test_wh_apply__fields_and_errors(void **state)
{
    (void)state;
    lw_err_t e;
    json_t *st = json_object();
    assert_int_equal(apply("{\"base_url\":\"http://x/\",\"uplink_message\":{\"path\":\"/u\"},"
                           "\"join_accept\":{},\"headers\":{\"A\":\"1\"}}",
                           NULL, 0, true, st, &e),
                     0);
    char *s = json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"base_url\":\"http://x/\",\"format\":\"json\",\"headers\":{\"A\":"
                           "\"1\"},\"join_accept\":{\"path\":\"\"},\"uplink_message\":{\"path\":"
                           "\"/u\"}}");
    free(s);
    /* a mask sets only what it names: uplink_message removed, headers kept */
    static const char *const p[] = {"uplink_message", "paused"};
    assert_int_equal(apply("{\"paused\":true}", p, 2, false, st, &e), 0);
    assert_null(json_object_get(st, "uplink_message"));
    assert_true(json_is_true(json_object_get(st, "paused")));
    assert_non_null(json_object_get(st, "headers"));
    json_decref(st);

    st = json_object();
    assert_int_equal(apply("{\"uplink_message\":{}}", NULL, 0, true, st, &e), -1);
    assert_string_equal(lw_err_name(&e), "invalid_field");
    assert_string_equal(field_of(&e), "webhook.base_url");
    assert_int_equal(apply("{\"base_url\":\"http://x\",\"location\":{}}", NULL, 0, true, st, &e),
                     -1);
    assert_string_equal(lw_err_name(&e), "unknown_field");
    assert_string_equal(field_of(&e), "webhook.location");
    assert_int_equal(
        apply("{\"base_url\":\"http://x\",\"service_data\":{\"p\":1}}", NULL, 0, true, st, &e), -1);
    assert_string_equal(field_of(&e), "webhook.service_data.p");
    assert_int_equal(apply("{\"base_url\":\"http://x\",\"headers\":{\"A\":\"1\\r\\nB: 2\"}}", NULL,
                           0, true, st, &e),
                     -1);
    assert_string_equal(field_of(&e), "webhook.headers");
    assert_int_equal(apply("{\"base_url\":\"http://x\",\"field_mask\":{\"paths\":[\"up.foo\"]}}",
                           NULL, 0, true, st, &e),
                     -1);
    assert_string_equal(field_of(&e), "webhook.field_mask.paths");
    assert_int_equal(
        apply("{\"base_url\":\"http://x\",\"downlink_api_key\":\"a b\"}", NULL, 0, true, st, &e),
        -1);
    assert_string_equal(field_of(&e), "webhook.downlink_api_key");
    json_decref(st); /* half applied: the caller drops it on error */
}

static void test_wh_backoff__doubles_caps_jitters(void **state)
{
    (void)state;
    assert_int_equal(wh_backoff_ms(1000, 60000, 0, 0), 0);
    assert_int_equal(wh_backoff_ms(1000, 60000, 1, 0), 500);    /* jitter floor: half */
    assert_int_equal(wh_backoff_ms(1000, 60000, 1, 1023), 999); /* just below whole */
    assert_int_equal(wh_backoff_ms(1000, 60000, 3, 0), 2000);   /* 4 s, halved */
    assert_int_equal(wh_backoff_ms(1000, 60000, 40, 0), 30000); /* capped at 60 s, halved */
    assert_int_equal(wh_backoff_ms(1000, 60000, 40, 512), 45000);
}

static void test_wh_domain(void **state)
{
    (void)state;
    char d[64];
    wh_domain("https://lns.example.com/api/v3", d, sizeof d);
    assert_string_equal(d, "lns.example.com");
    wh_domain("http://u:p@h:1885", d, sizeof d);
    assert_string_equal(d, "h:1885");
    wh_domain("", d, sizeof d);
    assert_string_equal(d, "");
}

static void test_wh_key__sealed_at_rest(void **state)
{
    (void)state;
    as_t as;
    memset(&as, 0, sizeof as);
    as.at_rest.len = 16;
    memcpy(as.at_rest.key, "0123456789abcdef", 16);
    snprintf(as.at_rest.label, sizeof as.at_rest.label, "rest");
    char sealed[WH_KEY_SEALED_MAX], again[WH_KEY_SEALED_MAX], key[WH_KEY_MAX + 1];
    assert_int_equal(wh_key_seal(&as.at_rest, "NNSXS.SECRET", sealed, sizeof sealed), 0);
    assert_int_equal(strncmp(sealed, "gcm:rest:", 9), 0);
    assert_null(strstr(sealed, "SECRET"));
    assert_int_equal(wh_key_seal(&as.at_rest, "NNSXS.SECRET", again, sizeof again), 0);
    assert_string_not_equal(sealed, again); /* a fresh nonce each time */
    assert_int_equal(wh_key_open(&as, sealed, key, sizeof key), 0);
    assert_string_equal(key, "NNSXS.SECRET");
    /* altered: refused, nothing leaked */
    size_t mid = 9 + (strlen(sealed) - 9) / 2; /* a ciphertext character, all bits used */
    sealed[mid] = sealed[mid] == 'A' ? 'B' : 'A';
    assert_int_equal(wh_key_open(&as, sealed, key, sizeof key), -1);
    assert_string_equal(key, "");
    /* an unknown label; a key in clear (stored before a KEK was set) */
    assert_int_equal(wh_key_open(&as, "gcm:other:AAAA", key, sizeof key), -1);
    assert_int_equal(wh_key_open(&as, "NNSXS.CLEAR", key, sizeof key), 0);
    assert_string_equal(key, "NNSXS.CLEAR");
    /* without a KEK: as it is */
    assert_int_equal(wh_key_seal(NULL, "NNSXS.K", sealed, sizeof sealed), 0);
    assert_string_equal(sealed, "NNSXS.K");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wh_url__joins_as_tts),
        cmocka_unit_test(test_wh_url__refuses),
        cmocka_unit_test(test_wh_mask_up__tts_rules),
        cmocka_unit_test(test_wh_apply__fields_and_errors),
        cmocka_unit_test(test_wh_backoff__doubles_caps_jitters),
        cmocka_unit_test(test_wh_domain),
        cmocka_unit_test(test_wh_key__sealed_at_rest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
