/* Unit tests of components/events/match.c (pure): stream requests into filters with TTS's
 * errors, events into what matching needs, identifiers (an application covers its devices),
 * names (exact and /regex/), visibility (the event's rights, else the default by name). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "events/events_private.h"

static int parse(const char *body, ev_filter_t *f, lw_err_t *err)
{
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    int rc = ev_filter_parse(j, NULL, f, err);
    json_decref(j);
    return rc;
}

static const char *err_attr(const lw_err_t *e, const char *k)
{
    for (int i = 0; i < e->nattrs; i++)
        if (strcmp(e->attrs[i].key, k) == 0)
            return e->attrs[i].value;
    return NULL;
}

#define DEV1                                                                                       \
    "{\"device_ids\":{\"device_id\":\"dev1\",\"application_ids\":{\"application_id\":\"app1\"}}}"
#define APP1 "{\"application_ids\":{\"application_id\":\"app1\"}}"

static void test_ev_filter_parse__fields(void **state)
{
    (void)state;
    ev_filter_t f;
    lw_err_t err;
    assert_int_equal(parse("{\"identifiers\":[" DEV1 "," APP1 ",{\"gateway_ids\":{\"gateway_id\":"
                           "\"gw-1\"}}],\"names\":[\"as.up.data.forward\",\"/^ns\\\\.up\\\\./\"],"
                           "\"tail\":\"5\",\"after\":\"2026-01-01T01:00:00+01:00\"}",
                           &f, &err),
                     0);
    assert_int_equal(f.n_ids, 3);
    assert_int_equal(f.ids[0].type, EV_DEVICE);
    assert_string_equal(f.ids[0].id, "dev1");
    assert_string_equal(f.ids[0].app, "app1");
    assert_int_equal(f.ids[1].type, EV_APPLICATION);
    assert_int_equal(f.ids[2].type, EV_GATEWAY);
    assert_string_equal(ev_access_type(&f.ids[0]), "application");
    assert_string_equal(ev_access_id(&f.ids[0]), "app1");
    assert_string_equal(ev_access_type(&f.ids[2]), "gateway");
    assert_int_equal(f.tail, 5);
    assert_true(f.has_after);
    assert_int_equal(f.after_ns, 1767225600000000000LL);
    assert_int_equal(f.n_names, 2);
    assert_false(f.regex[0]);
    assert_true(f.regex[1]);
    assert_true(ev_names_match(&f, "as.up.data.forward"));
    assert_true(ev_names_match(&f, "ns.up.data.receive"));
    assert_false(ev_names_match(&f, "ns.down.data.schedule.attempt"));
    assert_false(ev_names_match(&f, "as.up.data.receive"));
    json_t *ids = ev_filter_ids_json(&f);
    char *text = json_dumps(ids, JSON_COMPACT);
    assert_string_equal(text, "[" DEV1 "," APP1 ",{\"gateway_ids\":{\"gateway_id\":\"gw-1\"}}]");
    free(text);
    json_decref(ids);
    ev_filter_free(&f);
    /* The tail is capped as TTS caps its channel. */
    assert_int_equal(parse("{\"identifiers\":[" APP1 "],\"tail\":100000}", &f, &err), 0);
    assert_int_equal(f.tail, EV_MAX_TAIL);
    ev_filter_free(&f);
}

static void test_ev_filter_parse__errors(void **state)
{
    (void)state;
    ev_filter_t f;
    lw_err_t err;
    assert_int_equal(parse("{}", &f, &err), -1);
    assert_string_equal(lw_err_name(&err), "no_identifiers");
    assert_string_equal(err.def->ns, "pkg/events/grpc");
    assert_int_equal(parse("{\"identifiers\":[]}", &f, &err), -1);
    assert_string_equal(lw_err_name(&err), "no_identifiers");
    assert_int_equal(
        parse("{\"identifiers\":[{\"application_ids\":{\"application_id\":\"A\"}}]}", &f, &err),
        -1);
    assert_string_equal(lw_err_name(&err), "invalid_field");
    assert_string_equal(err_attr(&err, "field"), "identifiers[0]");
    assert_int_equal(parse("{\"identifiers\":[{\"device_ids\":{\"device_id\":\"d1\"}}]}", &f, &err),
                     -1);
    assert_string_equal(err_attr(&err, "field"), "identifiers[0]");
    assert_int_equal(parse("{\"identifiers\":[" APP1 "],\"names\":[\"/a(/\"]}", &f, &err), -1);
    assert_string_equal(lw_err_name(&err), "invalid_regexp");
    assert_string_equal(err.def->ns, "pkg/events");
    assert_int_equal(parse("{\"identifiers\":[" APP1
                           "],\"names\":[\"/((a{0,255}){0,255}){0,255}/\"]}",
                           &f, &err),
                     -1);
    assert_string_equal(lw_err_name(&err), "invalid_regexp");
    assert_int_equal(parse("{\"identifiers\":[" APP1 "],\"names\":[\"/a+++/\"]}", &f, &err), -1);
    assert_string_equal(lw_err_name(&err), "invalid_regexp");
    /* A regex that backtracks gives up (no match) instead of holding the loop. */
    assert_int_equal(parse("{\"identifiers\":[" APP1
                           "],\"names\":[\"/^(a|a)*(a|a)*(a|a)*(a|a)*b$/\"]}",
                           &f, &err),
                     0);
    assert_false(
        ev_names_match(&f, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    ev_filter_free(&f);
    assert_int_equal(parse("{\"identifiers\":[" APP1
                           "],\"names\":[\"/^as\\\\.up\\\\.(data|join)\\\\..*$/\"]}",
                           &f, &err),
                     0);
    assert_true(ev_names_match(&f, "as.up.data.forward"));
    assert_false(ev_names_match(&f, "asxup.data.forward"));
    ev_filter_free(&f);
    assert_int_equal(parse("{\"identifiers\":[" APP1 "],\"tail\":-1}", &f, &err), -1);
    assert_string_equal(err_attr(&err, "field"), "tail");
    assert_int_equal(parse("{\"identifiers\":[" APP1 "],\"after\":\"2026-01-01\"}", &f, &err), -1);
    assert_string_equal(err_attr(&err, "field"), "after");
    assert_int_equal(parse("{\"identifiers\":[" APP1 "],\"colour\":1}", &f, &err), -1);
    assert_string_equal(lw_err_name(&err), "unknown_field");
    /* The Console's keys only when the caller allows them. */
    json_t *j = json_loads("{\"type\":\"subscribe\",\"id\":1,\"identifiers\":[" APP1 "]}", 0, NULL);
    assert_int_equal(ev_filter_parse(j, NULL, &f, &err), -1);
    static const char *const extra[] = {"type", "id", NULL};
    assert_int_equal(ev_filter_parse(j, extra, &f, &err), 0);
    ev_filter_free(&f);
    json_decref(j);
}

static int meta(const char *json, ev_meta_t *m)
{
    return ev_meta_parse(json, strlen(json), m);
}

static void test_ev_meta_parse__and_match(void **state)
{
    (void)state;
    ev_meta_t m;
    assert_int_equal(meta("{\"name\":\"as.up.data.forward\",\"time\":\"2026-01-01T00:00:01.5Z\","
                          "\"identifiers\":[" DEV1 "],\"visibility\":{\"rights\":["
                          "\"RIGHT_APPLICATION_TRAFFIC_READ\"]}}",
                          &m),
                     0);
    assert_string_equal(m.name, "as.up.data.forward");
    assert_int_equal(m.time_ns, 1767225601500000000LL);
    assert_int_equal(m.n_ids, 1);
    assert_int_equal(m.n_vis, 1);
    assert_string_equal(m.vis[0], "RIGHT_APPLICATION_TRAFFIC_READ");

    ev_filter_t f;
    lw_err_t err;
    assert_int_equal(
        parse("{\"identifiers\":[{\"gateway_ids\":{\"gateway_id\":\"gw1\"}}," APP1 "]}", &f, &err),
        0);
    assert_int_equal(ev_match_ids(&f, &m), 1); /* the device's application */
    ev_filter_free(&f);
    assert_int_equal(parse("{\"identifiers\":[{\"device_ids\":{\"device_id\":\"dev1\","
                           "\"application_ids\":{\"application_id\":\"app2\"}}}]}",
                           &f, &err),
                     0);
    assert_int_equal(ev_match_ids(&f, &m), -1); /* dev1 of another application */
    ev_filter_free(&f);
    assert_int_equal(parse("{\"identifiers\":[" DEV1 "]}", &f, &err), 0);
    assert_int_equal(ev_match_ids(&f, &m), 0);
    ev_filter_free(&f);

    static const char *const tr[] = {"RIGHT_APPLICATION_INFO", "RIGHT_APPLICATION_TRAFFIC_READ"};
    static const char *const info[] = {"RIGHT_APPLICATION_INFO"};
    assert_true(ev_visible(&m, tr, 2));
    assert_false(ev_visible(&m, info, 1));
    assert_false(ev_visible(&m, NULL, 0));

    /* Not an event: no string name. */
    assert_int_equal(meta("{\"name\":1}", &m), -1);
    assert_int_equal(meta("not json", &m), -1);
    assert_int_equal(meta("[]", &m), -1);
}

static void test_ev_default_visibility__by_name(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        ev_ent_t type;
        const char *right;
    } cases[] = {
        {"ns.up.data.receive", EV_DEVICE, "RIGHT_APPLICATION_TRAFFIC_READ"},
        {"js.join.accept", EV_DEVICE, "RIGHT_APPLICATION_TRAFFIC_READ"},
        {"ns.mac.dev_status.answer", EV_DEVICE, "RIGHT_APPLICATION_TRAFFIC_READ"},
        {"as.end_device.update", EV_DEVICE, "RIGHT_APPLICATION_DEVICES_READ"},
        {"gs.status.receive", EV_GATEWAY, "RIGHT_GATEWAY_STATUS_READ"},
        {"gs.gateway.connect", EV_GATEWAY, "RIGHT_GATEWAY_STATUS_READ"},
        {"gs.up.receive", EV_GATEWAY, "RIGHT_GATEWAY_TRAFFIC_READ"},
        {"application.update", EV_APPLICATION, "RIGHT_APPLICATION_INFO"},
        {"gateway.create", EV_GATEWAY, "RIGHT_GATEWAY_INFO"},
        {"organization.update", EV_ORGANIZATION, "RIGHT_ORGANIZATION_INFO"},
        {"user.update", EV_USER, "RIGHT_USER_INFO"},
        {"made.up", EV_GATEWAY, "RIGHT_GATEWAY_ALL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[EV_VIS_MAX][EV_RIGHT_MAX];
        assert_int_equal(ev_default_visibility(cases[i].name, cases[i].type, out), 1);
        assert_string_equal(out[0], cases[i].right);
    }
    /* An event without visibility gets its name's default. */
    ev_meta_t m;
    assert_int_equal(
        meta("{\"name\":\"gs.status.receive\",\"identifiers\":[{\"gateway_ids\":{\"gateway_id\":"
             "\"gw1\",\"eui\":\"0102030405060708\"}}]}",
             &m),
        0);
    assert_int_equal(m.n_vis, 1);
    assert_string_equal(m.vis[0], "RIGHT_GATEWAY_STATUS_READ");
    assert_int_equal(m.time_ns, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ev_filter_parse__fields),
        cmocka_unit_test(test_ev_filter_parse__errors),
        cmocka_unit_test(test_ev_meta_parse__and_match),
        cmocka_unit_test(test_ev_default_visibility__by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
