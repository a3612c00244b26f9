/* tenant/sync.c: the tenant change listeners (tn_changes_subscribe, tn_changes_notify): told
 * of a change of state, deletion or incarnation of a tenant the registry held, and of
 * nothing else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tenant/tenant_private.h"

typedef struct heard {
    int calls;
    tn_tenant_t last;
} heard_t;

static void heard_listen(void *arg, const tn_tenant_t *t)
{
    heard_t *h = arg;
    h->calls++;
    h->last = *t;
}

static tn_tenant_t tenant(const char *id, uint64_t incarnation)
{
    tn_tenant_t t;
    memset(&t, 0, sizeof t);
    snprintf(t.id, sizeof t.id, "%s", id);
    tn_schema_name(t.id, t.schema);
    t.state = TN_STATE_APPROVED;
    t.incarnation = incarnation;
    for (int k = 0; k < TN_LIMIT_COUNT; k++)
        t.limits[k] = TN_UNLIMITED;
    return t;
}

static void test_tn_changes_notify__every_listener_on_a_new_incarnation(void **state)
{
    (void)state;
    tn_t tn;
    memset(&tn, 0, sizeof tn);
    heard_t a = {0}, b = {0};
    lw_err_t err;
    assert_int_equal(tn_changes_subscribe(&tn, heard_listen, &a, &err), 0);
    assert_int_equal(tn_changes_subscribe(&tn, heard_listen, &b, &err), 0);
    tn_tenant_t old = tenant("charlie", 7), now = tenant("charlie", 9);
    tn_changes_notify(&tn, &old, &now);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_string_equal(a.last.id, "charlie");
    assert_int_equal(a.last.incarnation, 9);
}

static void test_tn_changes_notify__deletion_and_state(void **state)
{
    (void)state;
    tn_t tn;
    memset(&tn, 0, sizeof tn);
    heard_t h = {0};
    lw_err_t err;
    assert_int_equal(tn_changes_subscribe(&tn, heard_listen, &h, &err), 0);
    tn_tenant_t old = tenant("charlie", 7), now = old;
    now.deleted = true;
    tn_changes_notify(&tn, &old, &now);
    assert_int_equal(h.calls, 1);
    assert_true(h.last.deleted);
    now = old;
    now.state = TN_STATE_SUSPENDED;
    tn_changes_notify(&tn, &old, &now);
    assert_int_equal(h.calls, 2);
    assert_int_equal(h.last.state, TN_STATE_SUSPENDED);
}

static void test_tn_changes_notify__not_for_limits_or_unknown_tenants(void **state)
{
    (void)state;
    tn_t tn;
    memset(&tn, 0, sizeof tn);
    heard_t h = {0};
    lw_err_t err;
    assert_int_equal(tn_changes_subscribe(&tn, heard_listen, &h, &err), 0);
    tn_tenant_t old = tenant("charlie", 7), now = old;
    now.limits[TN_LIMIT_GATEWAYS] = 3;
    tn_changes_notify(&tn, &old, &now); /* nothing bound to a tenant depends on its limits */
    tn_changes_notify(&tn, &old, &old); /* a repeated message */
    tn_changes_notify(&tn, NULL, &now); /* never held: nothing can be bound to it */
    assert_int_equal(h.calls, 0);
}

static void test_tn_changes_subscribe__at_most_the_maximum(void **state)
{
    (void)state;
    tn_t tn;
    memset(&tn, 0, sizeof tn);
    heard_t h = {0};
    lw_err_t err;
    for (int i = 0; i < TN_MAX_CHANGE_LISTENERS; i++)
        assert_int_equal(tn_changes_subscribe(&tn, heard_listen, &h, &err), 0);
    lw_err_clear(&err);
    assert_int_equal(tn_changes_subscribe(&tn, heard_listen, &h, &err), -1);
    assert_string_equal(lw_err_name(&err), "internal");
    tn_tenant_t old = tenant("charlie", 1), now = tenant("charlie", 2);
    tn_changes_notify(&tn, &old, &now);
    assert_int_equal(h.calls, TN_MAX_CHANGE_LISTENERS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tn_changes_notify__every_listener_on_a_new_incarnation),
        cmocka_unit_test(test_tn_changes_notify__deletion_and_state),
        cmocka_unit_test(test_tn_changes_notify__not_for_limits_or_unknown_tenants),
        cmocka_unit_test(test_tn_changes_subscribe__at_most_the_maximum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
