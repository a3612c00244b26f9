/* components/as/session.c: FRMPayload crypto against a published vector, sessions at rest
 * (wrapped with as.key-encryption-key, or in clear without it), errors naming the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "as/as_private.h"

/* anthonykirby/lora-packet __tests__/decrypt_test.ts ("should decrypt test payload"), as in
 * ../shared/vectors encrypt_frmpayload-001: AppSKey EC925802AE430CA77FD3DD73CB2CC588, uplink,
 * DevAddr 49BE7DF1, FCnt 2, "test" -> 95437876. */
static void test_as_frm_crypt__lora_packet_vector(void **state)
{
    (void)state;
    const uint8_t key[16] = {0xec, 0x92, 0x58, 0x02, 0xae, 0x43, 0x0c, 0xa7,
                             0x7f, 0xd3, 0xdd, 0x73, 0xcb, 0x2c, 0xc5, 0x88};
    uint8_t buf[4] = {'t', 'e', 's', 't'};
    assert_int_equal(as_frm_crypt(key, false, 0x49be7df1, 2, buf, 4), 0);
    assert_memory_equal(buf, ((uint8_t[4]){0x95, 0x43, 0x78, 0x76}), 4);
    assert_int_equal(as_frm_crypt(key, false, 0x49be7df1, 2, buf, 4), 0);
    assert_memory_equal(buf, "test", 4);
}

static as_session_t sample(void)
{
    as_session_t s;
    memset(&s, 0, sizeof s);
    s.valid = true;
    s.dev_addr = 0x260B1234;
    s.key_id[0] = 1;
    s.key_id[1] = 2;
    s.key_id[2] = 3;
    s.key_id_len = 3;
    s.has_key = true;
    for (int i = 0; i < 16; i++)
        s.app_s_key[i] = (uint8_t)(0xa0 + i);
    s.has_f_cnt = true;
    s.last_a_f_cnt_down = 7;
    return s;
}

static void test_as_session__rest_wrapped_round_trip(void **state)
{
    (void)state;
    as_t as;
    memset(&as, 0, sizeof as);
    snprintf(as.at_rest.label, sizeof as.at_rest.label, "as-rest");
    for (int i = 0; i < 16; i++)
        as.at_rest.key[i] = (uint8_t)i;
    as.at_rest.len = 16;
    as_session_t s = sample(), back;
    json_t *j = as_session_to_rest(&as, &s);
    const json_t *env = json_object_get(json_object_get(j, "keys"), "app_s_key");
    assert_string_equal(json_string_value(json_object_get(env, "kek_label")), "as-rest");
    assert_null(json_object_get(env, "key"));
    assert_int_equal(json_string_length(json_object_get(env, "encrypted_key")), 32);
    assert_string_equal(json_string_value(json_object_get(j, "dev_addr")), "260B1234");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "keys"), "session_key_id")), "AQID");
    lw_err_t e;
    assert_int_equal(as_session_from_json(&as, j, "session", &back, &e), 0);
    assert_memory_equal(back.app_s_key, s.app_s_key, 16);
    assert_int_equal(back.dev_addr, s.dev_addr);
    assert_int_equal(back.key_id_len, 3);
    assert_true(back.has_f_cnt);
    assert_int_equal(back.last_a_f_cnt_down, 7);
    /* Another process without the KEK cannot read it, and says which label it lacks. */
    as_t other;
    memset(&other, 0, sizeof other);
    assert_int_equal(as_session_from_json(&other, j, "session", &back, &e), -1);
    assert_string_equal(e.def->name, "as_unknown_kek_label");
    json_decref(j);
}

static void test_as_session__rest_in_clear_without_kek(void **state)
{
    (void)state;
    as_t as;
    memset(&as, 0, sizeof as);
    as_session_t s = sample();
    json_t *j = as_session_to_rest(&as, &s);
    char *text = json_dumps(j, JSON_COMPACT);
    assert_string_equal(text, "{\"dev_addr\":\"260B1234\",\"keys\":{\"session_key_id\":\"AQID\","
                              "\"app_s_key\":{\"key\":\"A0A1A2A3A4A5A6A7A8A9AAABACADAEAF\"}},"
                              "\"last_a_f_cnt_down\":7}");
    free(text);
    json_decref(j);
}

static void test_as_session_from_json__names_the_field(void **state)
{
    (void)state;
    as_t as;
    memset(&as, 0, sizeof as);
    as_session_t s;
    lw_err_t e;
    json_t *j = json_pack("{ss}", "dev_addr", "12");
    assert_int_equal(as_session_from_json(&as, j, "session", &s, &e), -1);
    assert_string_equal(e.def->name, "invalid_field");
    assert_non_null(strstr(e.message, "session.dev_addr"));
    json_decref(j);
    j = json_pack("{ss s{s{ss}}}", "dev_addr", "260B1234", "keys", "app_s_key", "key", "00");
    assert_int_equal(as_session_from_json(&as, j, "session", &s, &e), -1);
    assert_non_null(strstr(e.message, "session.keys.app_s_key"));
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_as_frm_crypt__lora_packet_vector),
        cmocka_unit_test(test_as_session__rest_wrapped_round_trip),
        cmocka_unit_test(test_as_session__rest_in_clear_without_kek),
        cmocka_unit_test(test_as_session_from_json__names_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
