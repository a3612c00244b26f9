/* tools/simulate fleet.c: devices from a seed or a keys-file line, and their provisioning
 * requests (The Things Stack's paths, JSON names and field masks). */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "sim_private.h"

static void test_sim_fleet_device__deterministic(void **state)
{
    (void)state;
    sim_fleet_opts_t o = {.seed = "s1", .version = SIM_MAC_1_0_3, .otaa = false};
    sim_dev_t a, b, c;
    sim_fleet_device(&o, 0, &a);
    sim_fleet_device(&o, 0, &b);
    sim_fleet_device(&o, 1, &c);
    assert_memory_equal(&a, &b, sizeof a);
    assert_memory_not_equal(a.f_nwk_s_int_key, c.f_nwk_s_int_key, 16);
    assert_true(c.dev_eui == a.dev_eui + 1);
    assert_int_equal(c.dev_addr, a.dev_addr + 1);
    assert_int_equal(a.dev_addr >> 24, 0x26);
    assert_true(a.active);
    assert_memory_equal(a.f_nwk_s_int_key, a.nwk_s_enc_key, 16);
    o.seed = "s2";
    sim_fleet_device(&o, 0, &b);
    assert_memory_not_equal(a.app_s_key, b.app_s_key, 16);
    o.has_dev_addr_start = true;
    o.dev_addr_start = 0x01000000;
    o.f_cnt_start = 65535;
    sim_fleet_device(&o, 2, &b);
    assert_int_equal(b.dev_addr, 0x01000002);
    assert_int_equal(b.f_cnt_up, 65535);
    /* 1.1 OTAA: separate root keys, no session. */
    o.version = SIM_MAC_1_1;
    o.otaa = true;
    sim_fleet_device(&o, 0, &b);
    assert_false(b.active);
    assert_memory_not_equal(b.app_key, b.nwk_key, 16);
    assert_true(sim_fleet_gateway_eui(&o, 1) == sim_fleet_gateway_eui(&o, 0) + 1);
}

static void test_sim_fleet_parse_line__abp_and_errors(void **state)
{
    (void)state;
    sim_dev_t d;
    memset(&d, 0, sizeof d);
    char err[160];
    assert_int_equal(
        sim_fleet_parse_line("{\"dev_eui\":\"0004A30B001C0530\",\"dev_addr\":\"26011234\","
                             "\"nwk_s_key\":\"44024241ed4ce9a68c6a8bc055233fd3\","
                             "\"app_s_key\":\"ec925802ae430ca77fd3dd73cb2cc588\","
                             "\"f_cnt_up\":10}",
                             &d, err, sizeof err),
        0);
    assert_true(d.dev_eui == 0x0004a30b001c0530ull);
    assert_int_equal(d.dev_addr, 0x26011234);
    assert_true(d.active);
    assert_false(d.otaa);
    assert_int_equal(d.f_cnt_up, 10);
    assert_int_equal(d.f_nwk_s_int_key[0], 0x44);
    assert_int_equal(d.s_nwk_s_int_key[15], 0xd3);

    memset(&d, 0, sizeof d);
    assert_int_equal(
        sim_fleet_parse_line("{\"dev_eui\":\"0004A30B\",\"app_key\":\"00\"}", &d, err, sizeof err),
        -1);
    assert_string_equal(err, "`dev_eui` must be 16 hex digits");
    assert_int_equal(
        sim_fleet_parse_line("{\"dev_eui\":\"0004A30B001C0530\"}", &d, err, sizeof err), -1);
    assert_string_equal(err, "a device needs `app_key` (OTAA) or session keys (ABP)");
    assert_int_equal(sim_fleet_parse_line("[1]", &d, err, sizeof err), -1);
    assert_int_equal(sim_fleet_parse_line("{\"lorawan_version\":\"2.0\"}", &d, err, sizeof err),
                     -1);
    assert_string_equal(err, "`lorawan_version` must be 1.0.2, 1.0.3, 1.0.4 or 1.1");
}

static void test_sim_prov_device__tts_requests(void **state)
{
    (void)state;
    sim_fleet_opts_t fo = {.seed = "s", .version = SIM_MAC_1_1, .otaa = true};
    sim_dev_t d;
    sim_fleet_device(&fo, 0, &d);
    sim_prov_opts_t po = {.application_id = "app1",
                          .owner = "user:admin",
                          .frequency_plan_id = "EU_863_870_TTN",
                          .rx1_delay_s = 5};
    sim_prov_req_t r[4];
    size_t n = sim_prov_device(&po, &d, r, 4);
    assert_int_equal(n, 3);
    char id[40];
    sim_fleet_device_id(&d, id, sizeof id);
    char want[128];
    assert_string_equal(r[0].method, "POST");
    assert_string_equal(r[0].path, "/applications/app1/devices");
    assert_true(r[0].conflict_ok);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(r[0].body, "end_device"), "ids"), "device_id")),
        id);
    snprintf(want, sizeof want, "/ns/applications/app1/devices/%s", id);
    assert_string_equal(r[1].method, "PUT");
    assert_string_equal(r[1].path, want);
    json_t *ed = json_object_get(r[1].body, "end_device");
    assert_string_equal(json_string_value(json_object_get(ed, "lorawan_version")), "MAC_V1_1");
    assert_string_equal(json_string_value(json_object_get(ed, "lorawan_phy_version")),
                        "PHY_V1_1_REV_B");
    assert_true(json_is_true(json_object_get(ed, "supports_join")));
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(ed, "mac_settings"), "rx1_delay"), "value")),
        "RX_DELAY_5");
    assert_null(json_object_get(ed, "session"));
    snprintf(want, sizeof want, "/js/applications/app1/devices/%s", id);
    assert_string_equal(r[2].path, want);
    json_t *rk = json_object_get(json_object_get(r[2].body, "end_device"), "root_keys");
    char hex[33];
    sim_hex16(d.nwk_key, hex);
    assert_string_equal(json_string_value(json_object_get(json_object_get(rk, "nwk_key"), "key")),
                        hex);
    json_t *paths = json_object_get(json_object_get(r[2].body, "field_mask"), "paths");
    assert_int_equal(json_array_size(paths), 2);
    for (size_t i = 0; i < n; i++)
        json_decref(r[i].body);

    /* ABP 1.0.3: no Join Server part; the session with NwkSKey as f_nwk_s_int_key. */
    fo.version = SIM_MAC_1_0_3;
    fo.otaa = false;
    sim_fleet_device(&fo, 0, &d);
    n = sim_prov_device(&po, &d, r, 4);
    assert_int_equal(n, 2);
    json_t *sess = json_object_get(json_object_get(r[1].body, "end_device"), "session");
    char addr[9];
    snprintf(addr, sizeof addr, "%08x", d.dev_addr);
    assert_string_equal(json_string_value(json_object_get(sess, "dev_addr")), addr);
    sim_hex16(d.f_nwk_s_int_key, hex);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(sess, "keys"), "f_nwk_s_int_key"), "key")),
        hex);
    assert_null(json_object_get(json_object_get(sess, "keys"), "s_nwk_s_int_key"));
    for (size_t i = 0; i < n; i++)
        json_decref(r[i].body);

    /* Only the Join Server's part. */
    po.parts = SIM_PART_JS;
    fo.otaa = true;
    sim_fleet_device(&fo, 0, &d);
    n = sim_prov_device(&po, &d, r, 4);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].method, "PUT");
    assert_int_equal(strncmp(r[0].path, "/js/", 4), 0);
    json_decref(r[0].body);
    assert_int_equal(sim_prov_gateway(&po, 1, r), 0);
    po.parts = 0;

    n = sim_prov_gateway(&po, 0x58a0cbfffe800001ull, r);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].path, "/users/admin/gateways");
    json_t *gw = json_object_get(r[0].body, "gateway");
    assert_string_equal(json_string_value(json_object_get(json_object_get(gw, "ids"), "eui")),
                        "58a0cbfffe800001");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(gw, "frequency_plan_ids"), 0)),
        "EU_863_870_TTN");
    json_decref(r[0].body);
    po.owner = "org:acme";
    n = sim_prov_application(&po, r);
    assert_string_equal(r[0].path, "/organizations/acme/applications");
    json_decref(r[0].body);
}

/* --keys-out at the end of a run and --keys-file: a joined 1.1 device keeps its session. */
static void test_sim_fleet_line__state_round_trip(void **state)
{
    (void)state;
    sim_fleet_opts_t o = {.seed = "rt", .version = SIM_MAC_1_1, .otaa = true};
    sim_dev_t d, e;
    sim_fleet_device(&o, 3, &d);
    d.active = true;
    d.opt_neg = true;
    d.dev_addr = 0x01020304;
    memset(d.f_nwk_s_int_key, 1, 16);
    memset(d.s_nwk_s_int_key, 2, 16);
    memset(d.nwk_s_enc_key, 3, 16);
    memset(d.app_s_key, 4, 16);
    d.f_cnt_up = 70000;
    d.a_f_cnt_down = 5;
    d.has_a_f_cnt_down = true;
    d.rx1_delay_s = 5;
    d.rx2_dr = 3;
    d.rx2_freq_hz = 869525000;
    d.dr = 2;
    d.nb_trans = 1;
    d.rekey_ind = true;
    d.mac_out[0] = 0x03;
    d.mac_out[1] = 0x07;
    d.mac_out_len = 2;
    d.dev_nonce = 9;
    json_t *line = sim_fleet_line(&d);
    char *txt = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    memset(&e, 0, sizeof e);
    char err[160];
    assert_int_equal(sim_fleet_parse_line(txt, &e, err, sizeof err), 0);
    free(txt);
    assert_true(e.otaa && e.active && e.opt_neg);
    assert_false(e.reset_ind);
    assert_true(e.dev_eui == d.dev_eui && e.join_eui == d.join_eui);
    assert_int_equal(e.dev_addr, d.dev_addr);
    assert_memory_equal(e.app_key, d.app_key, 16);
    assert_memory_equal(e.nwk_key, d.nwk_key, 16);
    assert_memory_equal(e.s_nwk_s_int_key, d.s_nwk_s_int_key, 16);
    assert_memory_equal(e.nwk_s_enc_key, d.nwk_s_enc_key, 16);
    assert_memory_equal(e.app_s_key, d.app_s_key, 16);
    assert_int_equal(e.f_cnt_up, 70000);
    assert_true(e.has_a_f_cnt_down);
    assert_false(e.has_n_f_cnt_down);
    assert_int_equal(e.a_f_cnt_down, 5);
    assert_int_equal(e.rx1_delay_s, 5);
    assert_int_equal(e.rx2_dr, 3);
    assert_int_equal(e.rx2_freq_hz, 869525000);
    assert_int_equal(e.dr, 2);
    assert_true(e.rekey_ind);
    assert_int_equal(e.mac_out_len, 2);
    assert_memory_equal(e.mac_out, d.mac_out, 2);
    assert_int_equal(e.dev_nonce, 9);
    assert_int_equal(sim_fleet_parse_line("{\"app_key\":\"000102030405060708090a0b0c0d0e0f\","
                                          "\"rx1_delay\":16}",
                                          &e, err, sizeof err),
                     -1);
    assert_string_equal(err, "`rx1_delay` must be an integer 0..15");
}

/* --configured: an ABP device provisioned as set up already (the plan's eight EU868 channels
 * as factory presets, RX2 and RX1 delay desired as they are, no DevStatus polling), each
 * field also in the field mask; OTAA devices are provisioned as without it. */
static void test_sim_prov_device__configured(void **state)
{
    (void)state;
    sim_fleet_opts_t fo = {.seed = "s", .version = SIM_MAC_1_0_3, .otaa = false};
    sim_dev_t d;
    sim_fleet_device(&fo, 0, &d);
    sim_prov_opts_t po = {.application_id = "app1",
                          .owner = "user:admin",
                          .frequency_plan_id = "EU_863_870_TTN",
                          .rx1_delay_s = 1,
                          .configured = true};
    sim_prov_req_t r[4];
    size_t n = sim_prov_device(&po, &d, r, 4);
    assert_int_equal(n, 2);
    json_t *ms = json_object_get(json_object_get(r[1].body, "end_device"), "mac_settings");
    char *got = json_dumps(ms, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(
        got, "{\"desired_rx1_delay\":{\"value\":\"RX_DELAY_1\"},"
             "\"desired_rx2_data_rate_index\":{\"value\":\"DATA_RATE_0\"},"
             "\"desired_rx2_frequency\":{\"value\":869525000},"
             "\"factory_preset_frequencies\":[868100000,868300000,868500000,867100000,867300000,"
             "867500000,867700000,867900000],"
             "\"rx1_delay\":{\"value\":\"RX_DELAY_1\"},"
             "\"rx2_data_rate_index\":{\"value\":\"DATA_RATE_0\"},"
             "\"rx2_frequency\":{\"value\":869525000},"
             "\"status_count_periodicity\":0,\"status_time_periodicity\":\"0s\"}");
    free(got);
    json_t *paths = json_object_get(json_object_get(r[1].body, "field_mask"), "paths");
    size_t mac_paths = 0, i;
    json_t *p;
    json_array_foreach(paths, i, p)
    {
        if (strncmp(json_string_value(p), "mac_settings.", 13) == 0) {
            mac_paths++;
            assert_non_null(json_object_get(ms, json_string_value(p) + 13));
        }
    }
    assert_int_equal(mac_paths, json_object_size(ms));
    for (size_t k = 0; k < n; k++)
        json_decref(r[k].body);

    fo.otaa = true;
    sim_fleet_device(&fo, 0, &d);
    n = sim_prov_device(&po, &d, r, 4);
    ms = json_object_get(json_object_get(r[1].body, "end_device"), "mac_settings");
    assert_int_equal(json_object_size(ms), 1); /* rx1_delay only */
    for (size_t k = 0; k < n; k++)
        json_decref(r[k].body);
}

/* --parts with as: an ABP device's AppSKey on the Application Server, with its DevAddr; OTAA
 * devices get none (the AS learns theirs from the join); without as, no AS request. */
static void test_sim_prov_device__as_part(void **state)
{
    (void)state;
    sim_fleet_opts_t fo = {.seed = "s", .version = SIM_MAC_1_0_3, .otaa = false};
    sim_dev_t d;
    sim_fleet_device(&fo, 0, &d);
    sim_prov_opts_t po = {.application_id = "app1",
                          .owner = "user:admin",
                          .frequency_plan_id = "EU_863_870_TTN",
                          .rx1_delay_s = 1,
                          .parts = SIM_PART_IS | SIM_PART_NS | SIM_PART_AS};
    sim_prov_req_t r[4];
    size_t n = sim_prov_device(&po, &d, r, 4);
    assert_int_equal(n, 3);
    char id[40], want[128], addr[9], key[33];
    sim_fleet_device_id(&d, id, sizeof id);
    snprintf(want, sizeof want, "/as/applications/app1/devices/%s", id);
    assert_string_equal(r[2].method, "PUT");
    assert_string_equal(r[2].path, want);
    snprintf(addr, sizeof addr, "%08" PRIX32, d.dev_addr);
    for (int i = 0; i < 16; i++)
        snprintf(key + 2 * i, 3, "%02X", d.app_s_key[i]);
    json_t *sess = json_object_get(json_object_get(r[2].body, "end_device"), "session");
    assert_true(strcasecmp(json_string_value(json_object_get(sess, "dev_addr")), addr) == 0);
    assert_true(strcasecmp(json_string_value(json_object_get(
                               json_object_get(json_object_get(sess, "keys"), "app_s_key"), "key")),
                           key) == 0);
    char *paths = json_dumps(json_object_get(json_object_get(r[2].body, "field_mask"), "paths"),
                             JSON_COMPACT);
    assert_string_equal(paths, "[\"session.dev_addr\",\"session.keys.session_key_id\","
                               "\"session.keys.app_s_key.key\"]");
    /* The same session key ID as the NS part's: the AS matches uplinks by it. */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(sess, "keys"), "session_key_id")),
        json_string_value(json_object_get(
            json_object_get(json_object_get(json_object_get(r[1].body, "end_device"), "session"),
                            "keys"),
            "session_key_id")));
    free(paths);
    for (size_t k = 0; k < n; k++)
        json_decref(r[k].body);

    po.parts = 0; /* the default: is, ns, js */
    n = sim_prov_device(&po, &d, r, 4);
    assert_int_equal(n, 2);
    for (size_t k = 0; k < n; k++) {
        assert_null(strstr(r[k].path, "/as/"));
        json_decref(r[k].body);
    }
    fo.otaa = true;
    sim_fleet_device(&fo, 0, &d);
    po.parts = SIM_PART_IS | SIM_PART_NS | SIM_PART_JS | SIM_PART_AS;
    n = sim_prov_device(&po, &d, r, 4);
    assert_int_equal(n, 3);
    for (size_t k = 0; k < n; k++) {
        assert_null(strstr(r[k].path, "/as/"));
        json_decref(r[k].body);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_fleet_device__deterministic),
        cmocka_unit_test(test_sim_fleet_parse_line__abp_and_errors),
        cmocka_unit_test(test_sim_prov_device__tts_requests),
        cmocka_unit_test(test_sim_prov_device__configured),
        cmocka_unit_test(test_sim_prov_device__as_part),
        cmocka_unit_test(test_sim_fleet_line__state_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
