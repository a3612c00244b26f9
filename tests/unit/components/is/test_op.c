/* components/is/op.c: the verified-credential cache (is_cache_put, is_cache_forget,
 * is_cache_forget_tenant): entries bound to the tenant's incarnation, forgets by key, entity
 * and tenant touching no other tenant, and no caching of a verification a forget spanned. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "is/server_private.h"

typedef struct fixture {
    uv_loop_t loop;
    is_t is;
} fixture_t;

static int setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    if (fx == NULL || uv_loop_init(&fx->loop) != 0)
        return -1;
    fx->is.loop = &fx->loop;
    fx->is.cache_ttl_ms = 10000;
    fx->is.cache = calloc(IS_CACHE_SLOTS, sizeof *fx->is.cache);
    *state = fx;
    return fx->is.cache == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    free(fx->is.cache);
    uv_loop_close(&fx->loop);
    free(fx);
    return 0;
}

static tn_tenant_t tenant(const char *id, uint64_t incarnation)
{
    tn_tenant_t t;
    memset(&t, 0, sizeof t);
    snprintf(t.id, sizeof t.id, "%s", id);
    tn_schema_name(t.id, t.schema);
    t.state = TN_STATE_APPROVED;
    t.incarnation = incarnation;
    return t;
}

static is_auth_t auth(const char *key_id, is_ent_t ent, const char *ent_id)
{
    is_auth_t a;
    memset(&a, 0, sizeof a);
    a.kind = IS_AUTH_API_KEY;
    a.ent = ent;
    snprintf(a.ent_id, sizeof a.ent_id, "%s", ent_id);
    snprintf(a.key_id, sizeof a.key_id, "%s", key_id);
    return a;
}

/* The entry cached for (tenant, key ID), or NULL. */
static const is_cache_entry_t *entry(const is_t *is, const char *tenant_id, const char *key_id)
{
    for (size_t i = 0; i < IS_CACHE_SLOTS; i++)
        if (is->cache[i].used && strcmp(is->cache[i].tenant, tenant_id) == 0 &&
            strcmp(is->cache[i].auth.key_id, key_id) == 0)
            return &is->cache[i];
    return NULL;
}

static void put(is_t *is, const tn_tenant_t *t, const char *key_id, is_ent_t ent,
                const char *ent_id)
{
    is_auth_t a = auth(key_id, ent, ent_id);
    char token[64];
    snprintf(token, sizeof token, "NNSXS.%s.SECRET", key_id);
    is_cache_put(is, t, token, &a, is->cache_gen);
}

static void test_is_cache_put__binds_the_incarnation(void **state)
{
    fixture_t *fx = *state;
    tn_tenant_t charlie = tenant("charlie", 41);
    put(&fx->is, &charlie, "KEY1", IS_ENT_APP, "app1");
    const is_cache_entry_t *e = entry(&fx->is, "charlie", "KEY1");
    assert_non_null(e);
    assert_int_equal(e->incarnation, 41);
    assert_int_equal(fx->is.cache_used, 1);
    /* The same key again replaces the entry (the new incarnation's verification). */
    tn_tenant_t again = tenant("charlie", 42);
    put(&fx->is, &again, "KEY1", IS_ENT_APP, "app1");
    e = entry(&fx->is, "charlie", "KEY1");
    assert_non_null(e);
    assert_int_equal(e->incarnation, 42);
    assert_int_equal(fx->is.cache_used, 1);
}

static void test_is_cache_put__not_after_a_forget_during_verification(void **state)
{
    fixture_t *fx = *state;
    tn_tenant_t charlie = tenant("charlie", 1);
    uint64_t gen = fx->is.cache_gen;                              /* the row is read */
    is_cache_forget(&fx->is, "charlie", "KEY1", IS_ENT_USER, ""); /* a revocation arrives */
    is_auth_t a = auth("KEY1", IS_ENT_APP, "app1");
    is_cache_put(&fx->is, &charlie, "NNSXS.KEY1.SECRET", &a, gen); /* the hash matched */
    assert_null(entry(&fx->is, "charlie", "KEY1"));
    assert_int_equal(fx->is.cache_used, 0);
}

static void test_is_cache_forget__one_key_of_one_tenant(void **state)
{
    fixture_t *fx = *state;
    tn_tenant_t charlie = tenant("charlie", 1), delta = tenant("delta", 2);
    put(&fx->is, &charlie, "KEY1", IS_ENT_APP, "app1");
    put(&fx->is, &charlie, "KEY2", IS_ENT_APP, "app1");
    put(&fx->is, &delta, "KEY1", IS_ENT_APP, "app1");
    is_cache_forget(&fx->is, "charlie", "KEY1", IS_ENT_USER, "");
    assert_null(entry(&fx->is, "charlie", "KEY1"));
    assert_non_null(entry(&fx->is, "charlie", "KEY2"));
    assert_non_null(entry(&fx->is, "delta", "KEY1"));
    assert_int_equal(fx->is.cache_used, 2);
}

static void test_is_cache_forget__every_credential_of_an_entity(void **state)
{
    fixture_t *fx = *state;
    tn_tenant_t charlie = tenant("charlie", 1), delta = tenant("delta", 2);
    put(&fx->is, &charlie, "TOK1", IS_ENT_USER, "bob");
    put(&fx->is, &charlie, "TOK2", IS_ENT_USER, "bob");
    put(&fx->is, &charlie, "TOK3", IS_ENT_USER, "alice");
    put(&fx->is, &charlie, "KEY1", IS_ENT_APP, "bob"); /* an application named like him */
    put(&fx->is, &delta, "TOK1", IS_ENT_USER, "bob");
    is_cache_forget(&fx->is, "charlie", NULL, IS_ENT_USER, "bob");
    assert_null(entry(&fx->is, "charlie", "TOK1"));
    assert_null(entry(&fx->is, "charlie", "TOK2"));
    assert_non_null(entry(&fx->is, "charlie", "TOK3"));
    assert_non_null(entry(&fx->is, "charlie", "KEY1"));
    assert_non_null(entry(&fx->is, "delta", "TOK1"));
    assert_int_equal(fx->is.cache_used, 3);
}

static void test_is_cache_forget_tenant__one_then_all(void **state)
{
    fixture_t *fx = *state;
    tn_tenant_t charlie = tenant("charlie", 1), delta = tenant("delta", 2);
    put(&fx->is, &charlie, "TOK1", IS_ENT_USER, "bob");
    put(&fx->is, &charlie, "KEY1", IS_ENT_APP, "app1");
    put(&fx->is, &delta, "TOK1", IS_ENT_USER, "bob");
    uint64_t gen = fx->is.cache_gen;
    is_cache_forget_tenant(&fx->is, "charlie");
    assert_true(fx->is.cache_gen != gen);
    assert_null(entry(&fx->is, "charlie", "TOK1"));
    assert_null(entry(&fx->is, "charlie", "KEY1"));
    assert_non_null(entry(&fx->is, "delta", "TOK1"));
    assert_int_equal(fx->is.cache_used, 1);
    is_cache_forget_tenant(&fx->is, NULL);
    assert_null(entry(&fx->is, "delta", "TOK1"));
    assert_int_equal(fx->is.cache_used, 0);
}

static void test_is_cache_put__off_with_a_zero_ttl(void **state)
{
    fixture_t *fx = *state;
    fx->is.cache_ttl_ms = 0;
    tn_tenant_t charlie = tenant("charlie", 1);
    put(&fx->is, &charlie, "KEY1", IS_ENT_APP, "app1");
    assert_int_equal(fx->is.cache_used, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_is_cache_put__binds_the_incarnation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_is_cache_put__not_after_a_forget_during_verification,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_is_cache_forget__one_key_of_one_tenant, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_is_cache_forget__every_credential_of_an_entity, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_is_cache_forget_tenant__one_then_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_is_cache_put__off_with_a_zero_ttl, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
