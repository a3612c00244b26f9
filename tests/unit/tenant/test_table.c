/* tenant/table.c: the in-memory table of tenants (insert, update, delete, lookup, growth,
 * the updated_at order of changes) and tn_get on top of it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tenant/tenant_private.h"

static tn_tenant_t tenant(const char *id, tn_state_t state)
{
    tn_tenant_t t;
    memset(&t, 0, sizeof t);
    snprintf(t.id, sizeof t.id, "%s", id);
    tn_schema_name(t.id, t.schema);
    t.state = state;
    for (int k = 0; k < TN_LIMIT_COUNT; k++)
        t.limits[k] = TN_UNLIMITED;
    return t;
}

static void test_tn_table_get__empty_table(void **state)
{
    (void)state;
    tn_table_t tab = {0};
    assert_null(tn_table_get(&tab, "acme"));
    tn_table_free(&tab);
}

static void test_tn_table_put__insert_then_lookup(void **state)
{
    (void)state;
    tn_table_t tab = {0};
    tn_tenant_t a = tenant("acme", TN_STATE_APPROVED);
    a.limits[TN_LIMIT_GATEWAYS] = 10;
    tn_table_put(&tab, &a, 100);
    tn_tenant_t b = tenant("globex", TN_STATE_SUSPENDED);
    tn_table_put(&tab, &b, 200);
    assert_int_equal(tab.n, 2);
    const tn_entry_t *e = tn_table_get(&tab, "acme");
    assert_non_null(e);
    assert_string_equal(e->t.id, "acme");
    assert_string_equal(e->t.schema, "t_acme");
    assert_int_equal(e->t.state, TN_STATE_APPROVED);
    assert_int_equal(e->t.limits[TN_LIMIT_GATEWAYS], 10);
    assert_int_equal(e->updated_at_ms, 100);
    e = tn_table_get(&tab, "globex");
    assert_non_null(e);
    assert_int_equal(e->t.state, TN_STATE_SUSPENDED);
    assert_int_equal(e->updated_at_ms, 200);
    assert_null(tn_table_get(&tab, "initech"));
    tn_table_free(&tab);
    assert_null(tab.slots);
    assert_int_equal(tab.cap, 0);
    assert_int_equal(tab.n, 0);
}

static void test_tn_table_put__update_replaces_in_place(void **state)
{
    (void)state;
    tn_table_t tab = {0};
    tn_tenant_t a = tenant("acme", TN_STATE_APPROVED);
    tn_table_put(&tab, &a, 100);
    a.state = TN_STATE_SUSPENDED;
    a.limits[TN_LIMIT_USERS] = 3;
    tn_table_put(&tab, &a, 150);
    assert_int_equal(tab.n, 1);
    const tn_entry_t *e = tn_table_get(&tab, "acme");
    assert_int_equal(e->t.state, TN_STATE_SUSPENDED);
    assert_int_equal(e->t.limits[TN_LIMIT_USERS], 3);
    assert_int_equal(e->updated_at_ms, 150);
    tn_table_free(&tab);
}

static void test_tn_table_put__grows_and_keeps_every_entry(void **state)
{
    (void)state;
    tn_table_t tab = {0};
    enum { N = 1000 };
    char id[TN_ID_MAX + 1];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "tenant-%d", i);
        tn_tenant_t t = tenant(id, TN_STATE_APPROVED);
        tn_table_put(&tab, &t, i);
    }
    assert_int_equal(tab.n, N);
    /* A power of two, and never more than 3/4 full. */
    assert_int_equal(tab.cap & (tab.cap - 1), 0);
    assert_true(tab.n * 4 < tab.cap * 3);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "tenant-%d", i);
        const tn_entry_t *e = tn_table_get(&tab, id);
        assert_non_null(e);
        assert_string_equal(e->t.id, id);
        assert_int_equal(e->updated_at_ms, i);
    }
    assert_null(tn_table_get(&tab, "tenant-1000"));
    tn_table_free(&tab);
}

static void test_tn_table_apply__older_update_ignored(void **state)
{
    (void)state;
    tn_table_t tab = {0};
    tn_tenant_t a = tenant("acme", TN_STATE_APPROVED);
    assert_true(tn_table_apply(&tab, &a, 200));
    tn_tenant_t old = tenant("acme", TN_STATE_SUSPENDED);
    assert_false(tn_table_apply(&tab, &old, 199));
    const tn_entry_t *e = tn_table_get(&tab, "acme");
    assert_int_equal(e->t.state, TN_STATE_APPROVED);
    assert_int_equal(e->updated_at_ms, 200);
    tn_table_free(&tab);
}

static void test_tn_table_apply__same_or_newer_time_applies(void **state)
{
    (void)state;
    tn_table_t tab = {0};
    tn_tenant_t a = tenant("acme", TN_STATE_APPROVED);
    assert_true(tn_table_apply(&tab, &a, 200));
    a.state = TN_STATE_FLAGGED;
    assert_true(tn_table_apply(&tab, &a, 200));
    assert_int_equal(tn_table_get(&tab, "acme")->t.state, TN_STATE_FLAGGED);
    a.state = TN_STATE_SUSPENDED;
    assert_true(tn_table_apply(&tab, &a, 201));
    assert_int_equal(tn_table_get(&tab, "acme")->t.state, TN_STATE_SUSPENDED);
    assert_int_equal(tn_table_get(&tab, "acme")->updated_at_ms, 201);
    assert_int_equal(tab.n, 1);
    tn_table_free(&tab);
}

static void test_tn_get__deleted_tenant_is_unknown(void **state)
{
    (void)state;
    tn_t tn;
    memset(&tn, 0, sizeof tn);
    tn_tenant_t a = tenant("acme", TN_STATE_APPROVED);
    tn_table_put(&tn.table, &a, 100);
    tn_tenant_t out;
    assert_true(tn_get(&tn, "acme", &out));
    assert_string_equal(out.id, "acme");
    assert_int_equal(out.state, TN_STATE_APPROVED);
    assert_true(tn_get(&tn, "acme", NULL));
    assert_false(tn_get(&tn, "globex", &out));

    /* Delete: the entry stays as a tombstone, so an older change cannot revive it. */
    a.deleted = true;
    assert_true(tn_table_apply(&tn.table, &a, 300));
    assert_false(tn_get(&tn, "acme", &out));
    tn_tenant_t revive = tenant("acme", TN_STATE_APPROVED);
    assert_false(tn_table_apply(&tn.table, &revive, 250));
    assert_false(tn_get(&tn, "acme", NULL));
    const tn_entry_t *e = tn_table_get(&tn.table, "acme");
    assert_non_null(e);
    assert_true(e->t.deleted);
    /* A later restore brings it back. */
    assert_true(tn_table_apply(&tn.table, &revive, 301));
    assert_true(tn_get(&tn, "acme", NULL));
    tn_table_free(&tn.table);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tn_table_get__empty_table),
        cmocka_unit_test(test_tn_table_put__insert_then_lookup),
        cmocka_unit_test(test_tn_table_put__update_replaces_in_place),
        cmocka_unit_test(test_tn_table_put__grows_and_keeps_every_entry),
        cmocka_unit_test(test_tn_table_apply__older_update_ignored),
        cmocka_unit_test(test_tn_table_apply__same_or_newer_time_applies),
        cmocka_unit_test(test_tn_get__deleted_tenant_is_unknown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
