/* Unit tests of lwcli's pure parts: flag parsing, enum normalisation, JSON paths, table and
 * key/value rendering, and the decoding of The Things Stack's error bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lwcli.h"

static const lc_flag_spec_t globals[] = {
    {"url", LC_FLAG_STRING, "url"},
    {"json", LC_FLAG_BOOL, "json"},
    {NULL, LC_FLAG_BOOL, NULL},
};
static const lc_flag_spec_t cmd[] = {
    {"name", LC_FLAG_STRING, "name"},        {"limit", LC_FLAG_UINT, "limit"},
    {"right", LC_FLAG_LIST, "right"},        {"right-", LC_FLAG_PREFIX, "right flags"},
    {"status-public", LC_FLAG_BOOL, "bool"}, {NULL, LC_FLAG_BOOL, NULL},
};

static int parse(int argc, char **argv, bool stop, lc_args_t *a, char *err, size_t errlen)
{
    const lc_flag_spec_t *const specs[] = {cmd, globals};
    int idx = 0;
    memset(a, 0, sizeof *a);
    return lc_args_parse(argc, argv, &idx, specs, 2, stop, a, err, errlen);
}

static void test_lc_args_parse__values_positionals_and_equals(void **state)
{
    (void)state;
    char *argv[] = {"app1",   "--name", "My App",  "--url=http://h:1",
                    "--json", "dev1",   "--limit", "3"};
    lc_args_t a;
    char err[128] = "";
    assert_int_equal(parse(8, argv, false, &a, err, sizeof err), 0);
    assert_int_equal(a.npos, 2);
    assert_string_equal(a.pos[0], "app1");
    assert_string_equal(a.pos[1], "dev1");
    assert_string_equal(lc_args_get(&a, "name"), "My App");
    assert_string_equal(lc_args_get(&a, "url"), "http://h:1");
    assert_string_equal(lc_args_get(&a, "limit"), "3");
    assert_true(lc_args_bool(&a, "json"));
    assert_false(lc_args_has(&a, "status-public"));
}

static void test_lc_args_parse__unknown_flag(void **state)
{
    (void)state;
    char *argv[] = {"--name", "x", "--bogus", "1"};
    lc_args_t a;
    char err[128] = "";
    assert_int_equal(parse(4, argv, false, &a, err, sizeof err), -1);
    assert_string_equal(err, "unknown flag --bogus");
}

static void test_lc_args_parse__single_dash_is_unknown(void **state)
{
    (void)state;
    char *argv[] = {"-x"};
    lc_args_t a;
    char err[128] = "";
    assert_int_equal(parse(1, argv, false, &a, err, sizeof err), -1);
    assert_string_equal(err, "unknown flag -x");
}

static void test_lc_args_parse__missing_value(void **state)
{
    (void)state;
    char *argv[] = {"--name"};
    lc_args_t a;
    char err[128] = "";
    assert_int_equal(parse(1, argv, false, &a, err, sizeof err), -1);
    assert_string_equal(err, "flag --name needs a value");
}

static void test_lc_args_parse__uint_rejects_text(void **state)
{
    (void)state;
    char *argv[] = {"--limit", "-3"};
    lc_args_t a;
    char err[128] = "";
    assert_int_equal(parse(2, argv, false, &a, err, sizeof err), -1);
    assert_string_equal(err, "invalid value `-3` for --limit: want an unsigned integer");
}

static void test_lc_args_parse__bool_false_and_bad_bool(void **state)
{
    (void)state;
    char *ok[] = {"--status-public=false"};
    char *bad[] = {"--status-public=maybe"};
    lc_args_t a;
    char err[128] = "";
    assert_int_equal(parse(1, ok, false, &a, err, sizeof err), 0);
    assert_true(lc_args_has(&a, "status-public"));
    assert_false(lc_args_bool(&a, "status-public"));
    assert_int_equal(parse(1, bad, false, &a, err, sizeof err), -1);
    assert_string_equal(err, "invalid value `maybe` for --status-public: want true or false");
}

static void test_lc_args_parse__list_repeats_and_prefix_flags(void **state)
{
    (void)state;
    char *argv[] = {"--right", "RIGHT_A", "--right-application-info", "--right", "b,c"};
    lc_args_t a;
    char err[128] = "";
    assert_int_equal(parse(5, argv, false, &a, err, sizeof err), 0);
    assert_int_equal(a.nflags, 3);
    assert_string_equal(a.flags[0].value, "RIGHT_A");
    assert_int_equal(a.flags[1].spec->kind, LC_FLAG_PREFIX);
    assert_string_equal(a.flags[1].name, "right-application-info");
    assert_string_equal(lc_args_get(&a, "right"), "b,c");
}

static void test_lc_args_parse__stop_at_word_and_double_dash(void **state)
{
    (void)state;
    char *argv[] = {"--json", "applications", "list"};
    lc_args_t a;
    char err[128] = "";
    const lc_flag_spec_t *const specs[] = {globals};
    int idx = 0;
    memset(&a, 0, sizeof a);
    assert_int_equal(lc_args_parse(3, argv, &idx, specs, 1, true, &a, err, sizeof err), 0);
    assert_int_equal(idx, 1);
    assert_int_equal(a.npos, 0);
    assert_true(lc_args_bool(&a, "json"));

    char *argv2[] = {"--", "--name"};
    assert_int_equal(parse(2, argv2, false, &a, err, sizeof err), 0);
    assert_int_equal(a.npos, 1);
    assert_string_equal(a.pos[0], "--name");
}

static void test_lc_args_parse__help(void **state)
{
    (void)state;
    char *argv[] = {"-h"};
    lc_args_t a;
    char err[128] = "";
    assert_int_equal(parse(1, argv, false, &a, err, sizeof err), 0);
    assert_true(a.help);
}

static void test_lc_right_normalize__forms(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(lc_right_normalize("RIGHT_APPLICATION_ALL", out, sizeof out), 0);
    assert_string_equal(out, "RIGHT_APPLICATION_ALL");
    assert_int_equal(lc_right_normalize("right-application-devices-read", out, sizeof out), 0);
    assert_string_equal(out, "RIGHT_APPLICATION_DEVICES_READ");
    assert_int_equal(lc_right_normalize("gateway_link", out, sizeof out), 0);
    assert_string_equal(out, "RIGHT_GATEWAY_LINK");
    assert_int_equal(lc_right_normalize("bad right", out, sizeof out), -1);
    assert_int_equal(lc_right_normalize("", out, sizeof out), -1);
    assert_int_equal(lc_right_normalize("application_all", out, 10), -1);
}

static void test_lc_state_normalize__forms(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(lc_state_normalize("approved", out, sizeof out), 0);
    assert_string_equal(out, "STATE_APPROVED");
    assert_int_equal(lc_state_normalize("STATE_SUSPENDED", out, sizeof out), 0);
    assert_string_equal(out, "STATE_SUSPENDED");
    assert_int_equal(lc_state_normalize("deleted", out, sizeof out), -1);
}

static void test_lc_version_normalize__forms(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(lc_version_normalize("MAC", "1.0.3", out, sizeof out), 0);
    assert_string_equal(out, "MAC_V1_0_3");
    assert_int_equal(lc_version_normalize("MAC", "1.1", out, sizeof out), 0);
    assert_string_equal(out, "MAC_V1_1");
    assert_int_equal(lc_version_normalize("MAC", "mac_v1_0_4", out, sizeof out), 0);
    assert_string_equal(out, "MAC_V1_0_4");
    assert_int_equal(lc_version_normalize("PHY", "1.0.3-a", out, sizeof out), 0);
    assert_string_equal(out, "PHY_V1_0_3_REV_A");
    assert_int_equal(lc_version_normalize("PHY", "1.0.2-b", out, sizeof out), 0);
    assert_string_equal(out, "PHY_V1_0_2_REV_B");
    assert_int_equal(lc_version_normalize("PHY", "rp002-1.0.3", out, sizeof out), 0);
    assert_string_equal(out, "RP002_V1_0_3");
    assert_int_equal(lc_version_normalize("PHY", "ts001-1.0.1", out, sizeof out), 0);
    assert_string_equal(out, "TS001_V1_0_1");
    assert_int_equal(lc_version_normalize("PHY", "rp001_v1_0_2_rev_b", out, sizeof out), 0);
    assert_string_equal(out, "RP001_V1_0_2_REV_B");
    assert_int_equal(lc_version_normalize("MAC", "v1", out, sizeof out), -1);
    assert_int_equal(lc_version_normalize("MAC", "1..0", out, sizeof out), -1);
    assert_int_equal(lc_version_normalize("PHY", "1.0.3-ab", out, sizeof out), -1);
}

static void test_lc_str_append_escaped__reserved_characters(void **state)
{
    (void)state;
    lc_str_t s = {0};
    lc_str_append_escaped(&s, "a b/c?d&e=f,g~h");
    assert_string_equal(lc_str_cstr(&s), "a%20b%2Fc%3Fd%26e%3Df,g~h");
    lc_str_free(&s);
    assert_string_equal(lc_str_cstr(&s), "");
}

static void test_lc_json_path__get_and_set(void **state)
{
    (void)state;
    json_t *o = json_object();
    assert_int_equal(lc_json_set_path(o, "ids.application_ids.application_id", json_string("a")),
                     0);
    assert_int_equal(lc_json_set_path(o, "ids.device_id", json_string("d")), 0);
    assert_string_equal(json_string_value(lc_json_path(o, "ids.application_ids.application_id")),
                        "a");
    assert_string_equal(json_string_value(lc_json_path(o, "ids.device_id")), "d");
    assert_null(lc_json_path(o, "ids.nothing"));
    assert_null(lc_json_path(o, "ids.device_id.deeper"));
    assert_int_equal(lc_json_set_path(o, "ids.device_id.x", json_string("y")), -1);
    json_decref(o);
}

static void test_lc_json_text__scalars_and_arrays(void **state)
{
    (void)state;
    json_t *v = json_pack("[s, i, b, n]", "x", 42, 1);
    char *t = lc_json_text(v);
    assert_string_equal(t, "x,42,true,");
    free(t);
    t = lc_json_text(NULL);
    assert_string_equal(t, "");
    free(t);
    json_decref(v);
}

static void test_lc_time_short__drops_fraction(void **state)
{
    (void)state;
    char out[64];
    lc_time_short("2026-11-24T05:10:38.123456Z", out, sizeof out);
    assert_string_equal(out, "2026-11-24T05:10:38Z");
    lc_time_short("2026-11-24T05:10:38.5+01:00", out, sizeof out);
    assert_string_equal(out, "2026-11-24T05:10:38+01:00");
    lc_time_short("2026-11-24T05:10:38Z", out, sizeof out);
    assert_string_equal(out, "2026-11-24T05:10:38Z");
    lc_time_short("", out, sizeof out);
    assert_string_equal(out, "");
}

static void test_lc_time_parse__forms(void **state)
{
    (void)state;
    long long t;
    assert_int_equal(lc_time_parse("1970-01-01T00:00:00Z", &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(lc_time_parse("2026-11-24T05:10:38.123456Z", &t), 0);
    assert_int_equal(t, 1795497038LL);
    assert_int_equal(lc_time_parse("2026-11-24T06:10:38+01:00", &t), 0);
    assert_int_equal(t, 1795497038LL);
    assert_int_equal(lc_time_parse("2000-02-29T12:00:00-00:30", &t), 0);
    assert_int_equal(t, 951827400LL);
    assert_int_equal(lc_time_parse("2026-11-24 05:10:38Z", &t), -1);
    assert_int_equal(lc_time_parse("2026-11-24T05:10:38", &t), -1);
    assert_int_equal(lc_time_parse("2026-13-24T05:10:38Z", &t), -1);
    assert_int_equal(lc_time_parse("2026-11-24T05:10:38.Z", &t), -1);
    assert_int_equal(lc_time_parse("2026-11-24T05:10:38Zjunk", &t), -1);
}

/* Renders into a string through a temporary file. */
static char *render(void (*fn)(void *, FILE *), void *arg)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    fn(arg, f);
    long n = ftell(f);
    rewind(f);
    char *buf = calloc(1, (size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

static void table_fn(void *arg, FILE *f)
{
    lc_table_write(arg, f);
}

static void test_lc_table_write__aligned_no_trailing_blanks(void **state)
{
    (void)state;
    const char *headers[] = {"ID", "NAME", "CREATED"};
    lc_table_t t;
    lc_table_init(&t, headers, 3);
    const char *r1[] = {"app-one", "Ünïcode", "2026-11-24T05:10:38Z"};
    const char *r2[] = {"a2", "", ""};
    lc_table_add(&t, r1);
    lc_table_add(&t, r2);
    char *out = render(table_fn, &t);
    assert_string_equal(out, "ID       NAME     CREATED\n"
                             "app-one  Ünïcode  2026-11-24T05:10:38Z\n"
                             "a2\n");
    free(out);
    lc_table_destroy(&t);
}

static void test_lc_table_add_json__columns_and_alternatives(void **state)
{
    (void)state;
    static const lc_column_t cols[] = {
        {"ID", "ids.user_ids.user_id|ids.organization_ids.organization_id", LC_COL_TEXT},
        {"TYPE", "ids.user_ids.user_id|ids.organization_ids.organization_id", LC_COL_COLLAB},
        {"RIGHTS", "rights", LC_COL_TEXT},
        {"AT", "created_at", LC_COL_TIME}};
    const char *headers[] = {"ID", "TYPE", "RIGHTS", "AT"};
    json_t *items = json_loads(
        "[{\"ids\":{\"user_ids\":{\"user_id\":\"ann\"}},\"rights\":[\"RIGHT_A\",\"RIGHT_B\"],"
        "\"created_at\":\"2026-01-02T03:04:05.6Z\"},"
        "{\"ids\":{\"organization_ids\":{\"organization_id\":\"org1\"}},\"rights\":[]}]",
        0, NULL);
    assert_non_null(items);
    lc_table_t t;
    lc_table_init(&t, headers, 4);
    lc_table_add_json(&t, cols, items);
    char *out = render(table_fn, &t);
    assert_string_equal(out, "ID    TYPE          RIGHTS           AT\n"
                             "ann   user          RIGHT_A,RIGHT_B  2026-01-02T03:04:05Z\n"
                             "org1  organization\n");
    free(out);
    lc_table_destroy(&t);
    json_decref(items);
}

struct kv_arg {
    json_t *obj;
    bool show_key;
};

static void kv_fn(void *arg, FILE *f)
{
    struct kv_arg *k = arg;
    lc_kv_write(k->obj, k->show_key, f);
}

static void test_lc_kv_write__flattens_and_hides_secrets(void **state)
{
    (void)state;
    json_t *o = json_loads("{\"id\":\"K1\",\"key\":\"NNSXS.K1.SECRET\",\"ids\":{\"user_id\":"
                           "\"u\"},\"password\":\"pw\",\"rights\":[\"RIGHT_A\"],\"name\":\"\"}",
                           0, NULL);
    struct kv_arg k = {o, false};
    char *out = render(kv_fn, &k);
    assert_string_equal(out, "id:          K1\n"
                             "key:         (hidden)\n"
                             "ids.user_id: u\n"
                             "password:    (hidden)\n"
                             "rights:      RIGHT_A\n"
                             "name:\n");
    free(out);
    k.show_key = true;
    out = render(kv_fn, &k);
    assert_non_null(strstr(out, "key:         NNSXS.K1.SECRET\n"));
    free(out);
    json_decref(o);
}

static void test_lc_error_decode__tts_shape(void **state)
{
    (void)state;
    const char *body = "{\"code\":6,\"message\":\"error:pkg/identityserver:already_exists "
                       "(application `app1` already exists)\",\"details\":[{\"namespace\":"
                       "\"pkg/identityserver\",\"name\":\"already_exists\",\"message_format\":"
                       "\"application `{id}` already exists\",\"attributes\":{\"id\":\"app1\"},"
                       "\"correlation_id\":\"c\"}]}";
    char *name, *msg;
    assert_int_equal(lc_error_decode(body, strlen(body), &name, &msg), 0);
    assert_string_equal(name, "already_exists");
    assert_string_equal(msg, "application `app1` already exists");
    free(name);
    free(msg);
}

static void test_lc_error_decode__plain_message_and_format_fallback(void **state)
{
    (void)state;
    const char *b1 = "{\"code\":5,\"message\":\"tenant `x` not found\",\"details\":[{\"name\":"
                     "\"tenant_not_found\"}]}";
    const char *b2 = "{\"code\":16,\"details\":[{\"name\":\"unauthenticated\","
                     "\"message_format\":\"unauthenticated\"}]}";
    char *name, *msg;
    assert_int_equal(lc_error_decode(b1, strlen(b1), &name, &msg), 0);
    assert_string_equal(name, "tenant_not_found");
    assert_string_equal(msg, "tenant `x` not found");
    free(name);
    free(msg);
    assert_int_equal(lc_error_decode(b2, strlen(b2), &name, &msg), 0);
    assert_string_equal(name, "unauthenticated");
    assert_string_equal(msg, "unauthenticated");
    free(name);
    free(msg);
}

static void test_lc_error_decode__not_the_shape(void **state)
{
    (void)state;
    char *name, *msg;
    assert_int_equal(lc_error_decode("<html>", 6, &name, &msg), -1);
    assert_int_equal(lc_error_decode("{\"details\":[]}", 14, &name, &msg), -1);
    assert_null(name);
    assert_null(msg);
}

static void test_lc_token_path__xdg_and_tenant_check(void **state)
{
    (void)state;
    lc_str_t p = {0};
    setenv("XDG_CONFIG_HOME", "/cfg", 1);
    assert_int_equal(lc_token_path("acme-corp", &p), 0);
    assert_string_equal(lc_str_cstr(&p), "/cfg/lwcli/token-acme-corp");
    lc_str_free(&p);
    assert_int_equal(lc_token_path(NULL, &p), 0);
    assert_string_equal(lc_str_cstr(&p), "/cfg/lwcli/token-default");
    lc_str_free(&p);
    assert_int_equal(lc_token_path("../evil", &p), -1);
    lc_str_free(&p);
    unsetenv("XDG_CONFIG_HOME");
    setenv("HOME", "/home/op", 1);
    assert_int_equal(lc_token_path("t1", &p), 0);
    assert_string_equal(lc_str_cstr(&p), "/home/op/.config/lwcli/token-t1");
    lc_str_free(&p);
}

/* lc_main on lines that must fail before any request (or at connecting): exit codes. */
static int run_cli(char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    return lc_main(argc, argv);
}

static void test_lc_main__usage_errors_exit_2(void **state)
{
    (void)state;
    setenv("XDG_CONFIG_HOME", "/nonexistent-lwcli-test", 1);
    unsetenv("LWCLI_URL");
    unsetenv("LWCLI_TENANT_ADMIN_KEY");
    unsetenv("LWCLI_API_KEY");
    char *unknown_flag[] = {"lwcli", "applications", "list", "--bogus", NULL};
    char *unknown_cmd[] = {"lwcli", "frobnicate", NULL};
    char *no_cmd[] = {"lwcli", NULL};
    char *group_only[] = {"lwcli", "applications", "api-keys", NULL};
    char *missing_id[] = {"lwcli", "applications", "create", NULL};
    char *extra_arg[] = {"lwcli", "applications", "list", "extra", NULL};
    char *bad_url[] = {"lwcli", "--url", "ftp://x", "applications", "list", NULL};
    char *nothing_to_update[] = {"lwcli", "applications", "update", "app1", NULL};
    char *no_admin_key[] = {"lwcli", "tenants", "list", NULL};
    char *no_rights[] = {"lwcli", "applications", "api-keys", "create", "app1", NULL};
    char *bad_right[] = {"lwcli", "app", "api-keys", "create", "app1", "--right", "a b", NULL};
    char *no_collaborator[] = {"lwcli", "applications", "collaborators",         "set",
                               "app1",  "--right",      "RIGHT_APPLICATION_ALL", NULL};
    char *bad_version[] = {"lwcli", "end-devices",       "create", "app1",
                           "dev1",  "--lorawan-version", "nope",   NULL};
    char *bad_attribute[] = {"lwcli", "applications", "create",  "app1", "--user-id",
                             "u",     "--attributes", "novalue", NULL};
    char *bad_state[] = {
        "lwcli", "tenants", "update", "t1", "--state", "gone", "--tenant-admin-key", "00", NULL};
    char *both_owners[] = {"lwcli", "gateways",          "create", "gw1", "--user-id",
                           "u",     "--organization-id", "o",      NULL};
    char *bad_limit[] = {"lwcli", "applications", "list", "--limit", "ten", NULL};
    char **lines[] = {
        unknown_flag, unknown_cmd,       no_cmd,       group_only,  missing_id, extra_arg,
        bad_url,      nothing_to_update, no_admin_key, no_rights,   bad_right,  no_collaborator,
        bad_version,  bad_attribute,     bad_state,    both_owners, bad_limit};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        int rc = run_cli(lines[i]);
        if (rc != LC_EXIT_USAGE)
            fail_msg("line %zu (%s %s): exit %d, want 2", i, lines[i][1],
                     lines[i][2] ? lines[i][2] : "", rc);
    }
}

static void test_lc_main__help_exits_0(void **state)
{
    (void)state;
    char *top[] = {"lwcli", "--help", NULL};
    char *group[] = {"lwcli", "gateways", "--help", NULL};
    char *command[] = {"lwcli", "end-devices", "create", "-h", NULL};
    char *version[] = {"lwcli", "version", NULL};
    assert_int_equal(run_cli(top), LC_EXIT_OK);
    assert_int_equal(run_cli(group), LC_EXIT_OK);
    assert_int_equal(run_cli(command), LC_EXIT_OK);
    assert_int_equal(run_cli(version), LC_EXIT_OK);
}

static void test_lc_main__unreachable_server_exits_1(void **state)
{
    (void)state;
    char *line[] = {"lwcli", "--url", "http://127.0.0.1:1", "--tenant", "t1", "applications",
                    "list",  NULL};
    assert_int_equal(run_cli(line), LC_EXIT_FAIL);
}

static void test_lc_base64_encode__rfc4648_vectors(void **state)
{
    (void)state;
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char b[16];
        lc_base64_encode((const unsigned char *)in[i], strlen(in[i]), b);
        assert_string_equal(b, out[i]);
    }
}

static void test_lc_progress_format__bar_percent_devices(void **state)
{
    (void)state;
    char b[80];
    lc_progress_format(50, 200, 1234, 8, b, sizeof b);
    assert_string_equal(b, "[##......]  25%  1234 devices");
    lc_progress_format(300, 200, 7, 4, b, sizeof b); /* never beyond the end */
    assert_string_equal(b, "[####] 100%  7 devices");
    lc_progress_format(5, 0, 3, 4, b, sizeof b); /* size unknown: the count only */
    assert_string_equal(b, "3 devices");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lc_args_parse__values_positionals_and_equals),
        cmocka_unit_test(test_lc_args_parse__unknown_flag),
        cmocka_unit_test(test_lc_args_parse__single_dash_is_unknown),
        cmocka_unit_test(test_lc_args_parse__missing_value),
        cmocka_unit_test(test_lc_args_parse__uint_rejects_text),
        cmocka_unit_test(test_lc_args_parse__bool_false_and_bad_bool),
        cmocka_unit_test(test_lc_args_parse__list_repeats_and_prefix_flags),
        cmocka_unit_test(test_lc_args_parse__stop_at_word_and_double_dash),
        cmocka_unit_test(test_lc_args_parse__help),
        cmocka_unit_test(test_lc_right_normalize__forms),
        cmocka_unit_test(test_lc_state_normalize__forms),
        cmocka_unit_test(test_lc_version_normalize__forms),
        cmocka_unit_test(test_lc_str_append_escaped__reserved_characters),
        cmocka_unit_test(test_lc_json_path__get_and_set),
        cmocka_unit_test(test_lc_json_text__scalars_and_arrays),
        cmocka_unit_test(test_lc_time_short__drops_fraction),
        cmocka_unit_test(test_lc_time_parse__forms),
        cmocka_unit_test(test_lc_table_write__aligned_no_trailing_blanks),
        cmocka_unit_test(test_lc_table_add_json__columns_and_alternatives),
        cmocka_unit_test(test_lc_kv_write__flattens_and_hides_secrets),
        cmocka_unit_test(test_lc_error_decode__tts_shape),
        cmocka_unit_test(test_lc_error_decode__plain_message_and_format_fallback),
        cmocka_unit_test(test_lc_error_decode__not_the_shape),
        cmocka_unit_test(test_lc_token_path__xdg_and_tenant_check),
        cmocka_unit_test(test_lc_main__usage_errors_exit_2),
        cmocka_unit_test(test_lc_main__help_exits_0),
        cmocka_unit_test(test_lc_main__unreachable_server_exits_1),
        cmocka_unit_test(test_lc_base64_encode__rfc4648_vectors),
        cmocka_unit_test(test_lc_progress_format__bar_percent_devices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
