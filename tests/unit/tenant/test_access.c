/* tenant/access_cache.c: the access checker's pure part — cache keys (what they bind, that
 * the credential is not in them), key IDs, the bounded TTL cache and its forgets, the rights
 * decision with the IS's error names, and the decoding of the IS's answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tenant/access_private.h"
#include "tenant/revocation.h"

#define KEY_A "Bearer NNSXS.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.SECRETSECRETSECRET"
#define KEY_B "Bearer NNSXS.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB.SECRETSECRETSECRET"

static void test_tn_access_key__binds_every_field(void **state)
{
    (void)state;
    uint8_t k[32], o[32];
    tn_access_key("acme", 1, KEY_A, "application", "app1", k);
    tn_access_key("acme", 1, KEY_A, "application", "app1", o);
    assert_memory_equal(k, o, 32);
    tn_access_key("acme", 2, KEY_A, "application", "app1", o); /* another incarnation */
    assert_memory_not_equal(k, o, 32);
    tn_access_key("other", 1, KEY_A, "application", "app1", o);
    assert_memory_not_equal(k, o, 32);
    tn_access_key("acme", 1, KEY_B, "application", "app1", o);
    assert_memory_not_equal(k, o, 32);
    tn_access_key("acme", 1, KEY_A, "gateway", "app1", o);
    assert_memory_not_equal(k, o, 32);
    tn_access_key("acme", 1, KEY_A, "application", "app2", o);
    assert_memory_not_equal(k, o, 32);
    /* Fields are delimited: bytes moved from one field to the next give another key. */
    tn_access_key("acme", 1, KEY_A, "application", "app1", k);
    tn_access_key("acm", 1, KEY_A, "eapplication", "app1", o);
    assert_memory_not_equal(k, o, 32);
}

static void test_tn_access_key__is_sha256_of_the_fields(void **state)
{
    (void)state;
    /* SHA-256("t\0" "0\0" "user\0" "u\0" "x\0"), computed independently (Python's hashlib). */
    static const uint8_t want[32] = {
        0xd5, 0x74, 0x56, 0x29, 0xb1, 0x3a, 0xf0, 0x1b, 0x0d, 0x1c, 0xf2,
        0x40, 0xa3, 0xe6, 0x1b, 0xa5, 0x51, 0x9d, 0x25, 0x45, 0x1f, 0x8c,
        0x1f, 0xa1, 0x73, 0xfb, 0x19, 0x89, 0xab, 0xe4, 0xae, 0x7c,
    };
    uint8_t k[32];
    tn_access_key("t", 0, "x", "user", "u", k);
    assert_memory_equal(k, want, 32);
}

static void test_tn_access_key_id__token_id_only(void **state)
{
    (void)state;
    char id[TN_ACCESS_KEY_ID_MAX + 1];
    tn_access_key_id(KEY_A, id);
    assert_string_equal(id, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    tn_access_key_id("bearer MFRWG.TOKENID.SECRET", id);
    assert_string_equal(id, "TOKENID");
    tn_access_key_id("TenantAdminKey 00112233445566778899aabbccddeeff", id);
    assert_string_equal(id, "");
    tn_access_key_id("Bearer NNSXS.nodot", id);
    assert_string_equal(id, "");
    tn_access_key_id("Bearer NNSXS..SECRET", id);
    assert_string_equal(id, "");
    tn_access_key_id(NULL, id);
    assert_string_equal(id, "");
}

static void test_tn_access_plural__served_types(void **state)
{
    (void)state;
    assert_string_equal(tn_access_plural("application"), "applications");
    assert_string_equal(tn_access_plural("gateway"), "gateways");
    assert_string_equal(tn_access_plural("organization"), "organizations");
    assert_string_equal(tn_access_plural("user"), "users");
    assert_null(tn_access_plural("client"));
    assert_null(tn_access_plural("applications"));
    assert_null(tn_access_plural(NULL));
}

static const char *const R_READ[] = {"RIGHT_APPLICATION_INFO", "RIGHT_APPLICATION_DEVICES_READ"};

static void put(tn_access_cache_t *c, const char *tenant, const char *auth, const char *id,
                uint64_t now, int64_t ttl)
{
    uint8_t k[32];
    char kid[TN_ACCESS_KEY_ID_MAX + 1];
    tn_access_key(tenant, 1, auth, "application", id, k);
    tn_access_key_id(auth, kid);
    tn_access_rights_buf_t r;
    tn_access_rights_copy(&r, R_READ, 2);
    tn_access_cache_put(c, k, tenant, kid, "application", id, &r, now, ttl, c->gen);
    tn_access_rights_free(&r);
}

static bool has(tn_access_cache_t *c, const char *tenant, const char *auth, const char *id,
                uint64_t now)
{
    uint8_t k[32];
    tn_access_key(tenant, 1, auth, "application", id, k);
    tn_access_rights_buf_t r;
    if (!tn_access_cache_get(c, k, now, &r))
        return false;
    assert_int_equal(r.n, 2);
    assert_string_equal(r.names[0], "RIGHT_APPLICATION_INFO");
    assert_string_equal(r.names[1], "RIGHT_APPLICATION_DEVICES_READ");
    tn_access_rights_free(&r);
    return true;
}

static void test_tn_access_cache__ttl(void **state)
{
    (void)state;
    tn_access_cache_t c;
    tn_access_cache_init(&c, 16);
    put(&c, "acme", KEY_A, "app1", 1000, 500);
    assert_true(has(&c, "acme", KEY_A, "app1", 1000));
    assert_true(has(&c, "acme", KEY_A, "app1", 1499));
    assert_false(has(&c, "acme", KEY_A, "app1", 1500)); /* expired: dropped */
    assert_int_equal(c.n, 0);
    put(&c, "acme", KEY_A, "app1", 1000, 0); /* TTL 0: not kept */
    assert_int_equal(c.n, 0);
    tn_access_cache_free(&c);
}

static void test_tn_access_cache__bounded_oldest_first(void **state)
{
    (void)state;
    tn_access_cache_t c;
    tn_access_cache_init(&c, 3);
    put(&c, "acme", KEY_A, "app1", 0, 1000);
    put(&c, "acme", KEY_A, "app2", 0, 1000);
    put(&c, "acme", KEY_A, "app3", 0, 1000);
    put(&c, "acme", KEY_A, "app2", 1, 1000); /* replaced, not added: now the newest */
    assert_int_equal(c.n, 3);
    put(&c, "acme", KEY_A, "app4", 2, 1000);
    assert_int_equal(c.n, 3);
    assert_false(has(&c, "acme", KEY_A, "app1", 3));
    assert_true(has(&c, "acme", KEY_A, "app2", 3));
    assert_true(has(&c, "acme", KEY_A, "app3", 3));
    assert_true(has(&c, "acme", KEY_A, "app4", 3));
    tn_access_cache_free(&c);
}

static void test_tn_access_cache__forget_key_and_tenant(void **state)
{
    (void)state;
    tn_access_cache_t c;
    tn_access_cache_init(&c, 16);
    put(&c, "acme", KEY_A, "app1", 0, 1000);
    put(&c, "acme", KEY_A, "app2", 0, 1000);
    put(&c, "acme", KEY_B, "app1", 0, 1000);
    put(&c, "other", KEY_A, "app1", 0, 1000);
    /* Key A of acme: both its answers go, key B's and the other tenant's stay. */
    assert_int_equal(
        tn_access_cache_forget_key(&c, "acme", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 2);
    assert_false(has(&c, "acme", KEY_A, "app1", 1));
    assert_false(has(&c, "acme", KEY_A, "app2", 1));
    assert_true(has(&c, "acme", KEY_B, "app1", 1));
    assert_true(has(&c, "other", KEY_A, "app1", 1));
    /* An entity revocation (no key): the whole tenant. */
    assert_int_equal(tn_access_cache_forget_key(&c, "acme", ""), 1);
    assert_true(has(&c, "other", KEY_A, "app1", 1));
    assert_int_equal(tn_access_cache_forget_tenant(&c, NULL), 1);
    assert_int_equal(c.n, 0);
    tn_access_cache_free(&c);
}

static void test_tn_access_cache__answer_older_than_a_forget_not_kept(void **state)
{
    (void)state;
    tn_access_cache_t c;
    tn_access_cache_init(&c, 16);
    uint64_t gen = c.gen; /* a request starts */
    tn_access_cache_forget_key(&c, "acme", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    uint8_t k[32];
    tn_access_key("acme", 1, KEY_A, "application", "app1", k);
    tn_access_rights_buf_t r;
    tn_access_rights_copy(&r, R_READ, 2);
    tn_access_cache_put(&c, k, "acme", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "application",
                        "app1", &r, 0, 1000, gen);
    tn_access_rights_free(&r);
    assert_int_equal(c.n, 0);
    tn_access_cache_free(&c);
}

static void test_tn_access_cache__disabled(void **state)
{
    (void)state;
    tn_access_cache_t c;
    tn_access_cache_init(&c, 0);
    put(&c, "acme", KEY_A, "app1", 0, 1000);
    assert_false(has(&c, "acme", KEY_A, "app1", 0));
    tn_access_cache_free(&c);
}

static void test_tn_access_decide__names_the_missing_right(void **state)
{
    (void)state;
    tn_rights_t held = {.n = 2, .names = R_READ};
    lw_err_t err;
    const char *ok[] = {"RIGHT_APPLICATION_DEVICES_READ"};
    assert_int_equal(tn_access_decide(&held, ok, 1, "application", "app1", "acme", &err), 0);
    assert_int_equal(tn_access_decide(&held, NULL, 0, "application", "app1", "acme", &err), 0);
    const char *more[] = {"RIGHT_APPLICATION_DEVICES_READ", "RIGHT_APPLICATION_DEVICES_WRITE",
                          "RIGHT_APPLICATION_DELETE"};
    assert_int_equal(tn_access_decide(&held, more, 3, "application", "app1", "acme", &err), -1);
    assert_string_equal(lw_err_name(&err), "insufficient_application_rights");
    assert_string_equal(err.def->ns, "pkg/auth/rights");
    assert_int_equal(err.def->http_status, 403);
    assert_int_equal(err.nattrs, 2);
    assert_string_equal(err.attrs[0].key, "uid");
    assert_string_equal(err.attrs[0].value, "app1@acme");
    assert_string_equal(err.attrs[1].key, "missing");
    assert_string_equal(err.attrs[1].value, "RIGHT_APPLICATION_DEVICES_WRITE");

    tn_rights_t none = {0};
    const char *link[] = {"RIGHT_GATEWAY_LINK"};
    assert_int_equal(tn_access_decide(&none, link, 1, "gateway", "gw1", "acme", &err), -1);
    assert_string_equal(lw_err_name(&err), "no_gateway_rights");
    assert_string_equal(err.message, "no rights for gateway `gw1@acme`");
    assert_true(tn_rights_have(&held, "RIGHT_APPLICATION_INFO"));
    assert_false(tn_rights_have(&held, "RIGHT_APPLICATION"));
    assert_false(tn_rights_have(NULL, "RIGHT_APPLICATION_INFO"));
}

static int decode(int status, const char *body, tn_access_rights_buf_t *r, lw_err_t *err)
{
    return tn_access_decode_answer(status, (const uint8_t *)body, strlen(body), r, err);
}

static void test_tn_access_decode_answer__rights_and_errors(void **state)
{
    (void)state;
    tn_access_rights_buf_t r;
    lw_err_t err;
    assert_int_equal(
        decode(200, "{\"rights\":[\"RIGHT_GATEWAY_INFO\",\"RIGHT_GATEWAY_LINK\"]}", &r, &err), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.names[1], "RIGHT_GATEWAY_LINK");
    tn_access_rights_free(&r);
    assert_int_equal(decode(200, "{}", &r, &err), 0); /* TTS: no rights, no field */
    assert_int_equal(r.n, 0);
    tn_access_rights_free(&r);

    assert_int_equal(decode(200, "{\"rights\":[1]}", &r, &err), -1);
    assert_string_equal(lw_err_name(&err), "unavailable");
    assert_int_equal(decode(200, "[]", &r, &err), -1);
    assert_string_equal(lw_err_name(&err), "unavailable");
    assert_int_equal(decode(200, "not json", &r, &err), -1);
    assert_string_equal(lw_err_name(&err), "unavailable");

    assert_int_equal(
        decode(401, "{\"code\":16,\"message\":\"error:pkg/is:invalid_token\"}", &r, &err), -1);
    assert_string_equal(lw_err_name(&err), "unauthenticated");
    assert_string_equal(err.message, "error:pkg/is:invalid_token");
    assert_int_equal(
        decode(404,
               "{\"code\":5,\"message\":\"API key not found\",\"details\":[{"
               "\"namespace\":\"pkg/identityserver\",\"name\":\"api_key_not_found\"}]}",
               &r, &err),
        -1);
    assert_string_equal(lw_err_name(&err), "unauthenticated");
    assert_int_equal(decode(404, "{\"code\":5,\"details\":[{\"name\":\"not_found\"}]}", &r, &err),
                     -1);
    assert_string_equal(lw_err_name(&err), "unavailable");
    /* An application the IS does not know: not_found, with its message and id. */
    assert_int_equal(
        decode(404,
               "{\"code\":5,\"message\":\"error:pkg/web:not_found (application `nope` not "
               "found)\",\"details\":[{\"name\":\"not_found\",\"attributes\":{\"id\":\"nope\"}}]}",
               &r, &err),
        -1);
    assert_string_equal(lw_err_name(&err), "not_found");
    assert_string_equal(err.message, "application `nope` not found");
    assert_string_equal(err.attrs[0].key, "id");
    assert_string_equal(err.attrs[0].value, "nope");
    assert_int_equal(decode(400,
                            "{\"code\":3,\"message\":\"invalid `application_ids.application_id`\","
                            "\"details\":[{\"name\":\"invalid_field\",\"attributes\":{\"field\":"
                            "\"application_ids.application_id\"}}]}",
                            &r, &err),
                     -1);
    assert_string_equal(lw_err_name(&err), "invalid_field");
    assert_string_equal(err.attrs[0].value, "application_ids.application_id");
    assert_int_equal(decode(429, "{}", &r, &err), -1);
    assert_string_equal(lw_err_name(&err), "rate_limit_exceeded");
    assert_int_equal(decode(503, "", &r, &err), -1);
    assert_string_equal(lw_err_name(&err), "unavailable");
}

static void test_tn_revocation__round_trip(void **state)
{
    (void)state;
    tn_revocation_t r = {.tenant_id = "acme",
                         .key_id = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                         .at_ms = 1764590000000,
                         .origin_len = 16};
    memset(r.origin, 7, sizeof r.origin);
    uint8_t buf[TN_REVOCATION_MAX_BYTES];
    size_t len = tn_revocation_encode(&r, buf, sizeof buf);
    assert_true(len > 0);
    tn_revocation_t d;
    assert_int_equal(tn_revocation_decode(buf, len, &d), 0);
    assert_string_equal(d.tenant_id, "acme");
    assert_string_equal(d.key_id, r.key_id);
    assert_string_equal(d.entity_type, "");
    assert_int_equal(d.at_ms, r.at_ms);
    assert_int_equal(d.origin_len, 16);
    assert_memory_equal(d.origin, r.origin, 16);
    assert_int_equal(tn_revocation_encode(&r, buf, 8), 0);
    /* Field 1 (tenant_id) claims 100 bytes but 2 follow: not a message. */
    static const uint8_t bad[] = {0x0a, 0x64, 'a', 'b'};
    assert_int_equal(tn_revocation_decode(bad, sizeof bad, &d), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tn_access_key__binds_every_field),
        cmocka_unit_test(test_tn_access_key__is_sha256_of_the_fields),
        cmocka_unit_test(test_tn_access_key_id__token_id_only),
        cmocka_unit_test(test_tn_access_plural__served_types),
        cmocka_unit_test(test_tn_access_cache__ttl),
        cmocka_unit_test(test_tn_access_cache__bounded_oldest_first),
        cmocka_unit_test(test_tn_access_cache__forget_key_and_tenant),
        cmocka_unit_test(test_tn_access_cache__answer_older_than_a_forget_not_kept),
        cmocka_unit_test(test_tn_access_cache__disabled),
        cmocka_unit_test(test_tn_access_decide__names_the_missing_right),
        cmocka_unit_test(test_tn_access_decode_answer__rights_and_errors),
        cmocka_unit_test(test_tn_revocation__round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
