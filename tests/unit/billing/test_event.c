/* billing/event.c: Stripe events decoded, plan metadata limits, and the subscription → tenant
 * state decision (tts-features.md §17.3). Pure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "billing/billing_private.h"

#define SUB_EVENT                                                                                  \
    "{\"id\":\"evt_1\",\"type\":\"customer.subscription.updated\",\"created\":1700000000,"         \
    "\"data\":{\"object\":{\"id\":\"sub_1\",\"customer\":{\"id\":\"cus_1\",\"name\":\"Acme\","     \
    "\"email\":\"a@acme.example\"},\"status\":\"active\",\"metadata\":{\"tenant-id\":\"acme\","    \
    "\"admin-user\":\"\"},\"items\":{\"data\":[{\"id\":\"si_1\",\"price\":{\"id\":\"price_1\","    \
    "\"metadata\":{\"max-end-devices\":\"100\"}},\"plan\":{\"id\":\"price_1\",\"metadata\":{"      \
    "\"max-end-devices\":\"5\",\"max-gateways\":\"3\",\"max-users\":\"unlimited\"}}},"             \
    "{\"id\":\"si_2\",\"plan\":{\"id\":\"plan_2\"}}]}}}}"

static void test_decode__subscription(void **state)
{
    (void)state;
    billing_event_t ev;
    lw_err_t err;
    assert_int_equal(billing_event_decode(SUB_EVENT, strlen(SUB_EVENT), &ev, &err), 0);
    assert_int_equal(ev.kind, BILLING_EV_SUBSCRIPTION);
    assert_string_equal(ev.id, "evt_1");
    assert_int_equal(ev.created, 1700000000);
    assert_string_equal(ev.sub_id, "sub_1");
    assert_string_equal(ev.customer, "cus_1");
    assert_string_equal(ev.customer_name, "Acme");
    assert_string_equal(ev.customer_email, "a@acme.example");
    assert_string_equal(ev.status, "active");
    assert_string_equal(billing_event_meta(&ev, "tenant-id"), "acme");
    assert_null(billing_event_meta(&ev, "admin-user")); /* empty is absent */
    assert_int_equal(ev.nitems, 2);
    assert_string_equal(ev.items[0].price_id, "price_1");
    assert_null(ev.items[1].price_id);
    assert_string_equal(ev.items[1].plan_id, "plan_2");

    /* The price's metadata wins per key over the plan's; absent: unlimited. */
    int64_t l[TN_LIMIT_COUNT];
    assert_int_equal(billing_item_limits(&ev.items[0], NULL, l, &err), 0);
    assert_int_equal(l[TN_LIMIT_END_DEVICES], 100);
    assert_int_equal(l[TN_LIMIT_GATEWAYS], 3);
    assert_true(l[TN_LIMIT_USERS] == TN_UNLIMITED);
    assert_true(l[TN_LIMIT_APPLICATIONS] == TN_UNLIMITED);
    /* The plan row's overrides win: a number, a string, null (unlimited). */
    json_t *o =
        json_pack("{s:i,s:s,s:n}", "max_applications", 7, "max_gateways", "9", "max_end_devices");
    assert_int_equal(billing_item_limits(&ev.items[0], o, l, &err), 0);
    assert_int_equal(l[TN_LIMIT_APPLICATIONS], 7);
    assert_int_equal(l[TN_LIMIT_GATEWAYS], 9);
    assert_true(l[TN_LIMIT_END_DEVICES] == TN_UNLIMITED);
    json_decref(o);
    o = json_pack("{s:s}", "max_users", "many");
    assert_int_equal(billing_item_limits(&ev.items[0], o, l, &err), -1);
    assert_string_equal(lw_err_name(&err), "invalid_billing_config");
    json_decref(o);
    billing_event_destroy(&ev);
}

static void test_decode__bad_metadata_limit(void **state)
{
    (void)state;
    const char *body = "{\"id\":\"evt_1\",\"type\":\"customer.subscription.created\",\"data\":{"
                       "\"object\":{\"id\":\"sub_1\",\"customer\":\"cus_1\",\"status\":\"active\","
                       "\"items\":{\"data\":[{\"id\":\"si_1\",\"plan\":{\"id\":\"p\",\"metadata\":{"
                       "\"max-gateways\":\"-1\"}}}]}}}}";
    billing_event_t ev;
    lw_err_t err;
    assert_int_equal(billing_event_decode(body, strlen(body), &ev, &err), 0);
    int64_t l[TN_LIMIT_COUNT];
    assert_int_equal(billing_item_limits(&ev.items[0], NULL, l, &err), -1);
    assert_string_equal(lw_err_name(&err), "invalid_event");
    billing_event_destroy(&ev);
}

static const char *decode_reason(const char *body)
{
    static lw_err_t err;
    billing_event_t ev;
    lw_err_clear(&err);
    if (billing_event_decode(body, strlen(body), &ev, &err) == 0) {
        billing_event_destroy(&ev);
        return "";
    }
    assert_string_equal(lw_err_name(&err), "invalid_event");
    return err.attrs[0].value;
}

static void test_decode__refusals(void **state)
{
    (void)state;
    assert_string_equal(decode_reason("[]"), "not a JSON object");
    assert_string_equal(decode_reason("{\"id\":\"e\",\"id\":\"f\"}"), "not a JSON object");
    assert_string_equal(decode_reason("{}"), "no event id");
    assert_string_equal(decode_reason("{\"id\":\"e\"}"), "no event type");
    assert_string_equal(decode_reason("{\"id\":\"e\",\"type\":\"x\"}"), "no data.object");
    assert_string_equal(decode_reason("{\"id\":\"e\",\"type\":\"x\",\"data\":{\"object\":{}}}"),
                        "");
    assert_string_equal(decode_reason("{\"id\":\"e\",\"type\":\"customer.subscription.trial_will_"
                                      "end\",\"data\":{\"object\":{}}}"),
                        "");
    assert_string_equal(
        decode_reason("{\"id\":\"e\",\"type\":\"customer.subscription.deleted\","
                      "\"data\":{\"object\":{\"id\":\"s\",\"status\":\"canceled\"}}}"),
        "subscription without a customer");
    assert_string_equal(
        decode_reason("{\"id\":\"e\",\"type\":\"customer.subscription.deleted\","
                      "\"data\":{\"object\":{\"id\":\"s\",\"customer\":\"c\","
                      "\"status\":\"canceled\",\"items\":{\"data\":[{\"id\":\"si\"}]}}}}"),
        "a subscription item without a price or plan");
    assert_string_equal(
        decode_reason("{\"id\":\"e\",\"type\":\"invoice.paid\",\"data\":{\"object\":"
                      "{\"customer\":\"c\"}}}"),
        "invoice without an id");
}

static billing_decision_t decide(const char *status, bool exists, tn_state_t st, bool account,
                                 const char *cus, const char *sub, tn_state_t billing_state)
{
    billing_decide_in_t in = {.status = status,
                              .customer = "cus_1",
                              .subscription = "sub_1",
                              .tenant_exists = exists,
                              .tenant_state = st,
                              .account_exists = account,
                              .account_customer = cus,
                              .account_subscription = sub,
                              .billing_state_known = true,
                              .billing_state = billing_state};
    return billing_decide(&in);
}

static void test_decide__the_things_stacks_table(void **state)
{
    (void)state;
    const tn_state_t A = TN_STATE_APPROVED, F = TN_STATE_FLAGGED, S = TN_STATE_SUSPENDED;
    billing_decision_t d = decide("active", false, A, false, NULL, NULL, A);
    assert_int_equal(d.action, BILLING_ACT_CREATE);
    assert_int_equal(d.state, A);
    d = decide("trialing", true, S, true, "cus_1", "sub_1", S);
    assert_int_equal(d.action, BILLING_ACT_UPDATE);
    assert_int_equal(d.state, A);
    assert_false(d.keep_state);
    d = decide("past_due", true, A, true, "cus_1", "sub_1", A);
    assert_int_equal(d.action, BILLING_ACT_UPDATE);
    assert_int_equal(d.state, F);
    d = decide("unpaid", true, F, true, "cus_1", "sub_1", F);
    assert_int_equal(d.state, S);
    d = decide("canceled", true, A, true, "cus_1", "sub_1", A);
    assert_int_equal(d.state, S);
    d = decide("incomplete", false, A, false, NULL, NULL, A);
    assert_int_equal(d.action, BILLING_ACT_IGNORE);
    assert_string_equal(d.reason, "subscription incomplete");
    d = decide("paused", true, A, true, "cus_1", "sub_1", A);
    assert_int_equal(d.action, BILLING_ACT_IGNORE);
    d = decide("past_due", false, A, false, NULL, NULL, A);
    assert_string_equal(d.reason, "no tenant to change");
}

static void test_decide__ownership_and_hand_changes(void **state)
{
    (void)state;
    const tn_state_t A = TN_STATE_APPROVED, S = TN_STATE_SUSPENDED;
    billing_decision_t d = decide("active", true, A, false, NULL, NULL, A);
    assert_string_equal(d.reason, "tenant_not_managed");
    d = decide("active", true, A, true, "cus_other", "sub_1", A);
    assert_string_equal(d.reason, "customer_id_mismatch");
    d = decide("active", true, A, true, NULL, "sub_1", A);
    assert_string_equal(d.reason, "customer_id_mismatch");
    /* A new subscription of the same customer approves again; an old one's end does not
     * suspend. */
    d = decide("active", true, S, true, "cus_1", "sub_0", S);
    assert_int_equal(d.action, BILLING_ACT_UPDATE);
    assert_int_equal(d.state, A);
    d = decide("canceled", true, A, true, "cus_1", "sub_2", A);
    assert_string_equal(d.reason, "not the tenant's current subscription");
    /* Suspended by hand (billing last set approved): the state stays; limits may change. */
    d = decide("active", true, S, true, "cus_1", "sub_1", A);
    assert_int_equal(d.action, BILLING_ACT_UPDATE);
    assert_true(d.keep_state);
    d = decide("active", true, TN_STATE_REJECTED, true, "cus_1", "sub_1", A);
    assert_true(d.keep_state);
    /* Flagged by hand is not a suspension: billing may approve. */
    d = decide("active", true, TN_STATE_FLAGGED, true, "cus_1", "sub_1", A);
    assert_false(d.keep_state);
    /* deleted suspends whatever the status says. */
    billing_decide_in_t in = {.status = "active",
                              .deleted = true,
                              .customer = "cus_1",
                              .subscription = "sub_1",
                              .tenant_exists = true,
                              .tenant_state = A,
                              .account_exists = true,
                              .account_customer = "cus_1",
                              .account_subscription = "sub_1",
                              .billing_state_known = true,
                              .billing_state = A};
    d = billing_decide(&in);
    assert_int_equal(d.action, BILLING_ACT_UPDATE);
    assert_int_equal(d.state, TN_STATE_SUSPENDED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode__subscription),
        cmocka_unit_test(test_decode__bad_metadata_limit),
        cmocka_unit_test(test_decode__refusals),
        cmocka_unit_test(test_decide__the_things_stacks_table),
        cmocka_unit_test(test_decide__ownership_and_hand_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
