/* Unit tests of billing/stripe_req.c: form encoding, the retry decision, backoff, the usage
 * reports' idempotency keys, path ids, usage timestamps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "billing/stripe_req_private.h"

static void test_billing_form_add__usage_record(void **state)
{
    (void)state;
    char buf[128];
    billing_form_t f;
    billing_form_init(&f, buf, sizeof buf);
    assert_int_equal(billing_form_add_int(&f, "quantity", 120), 0);
    assert_int_equal(billing_form_add_int(&f, "timestamp", 1700003599), 0);
    assert_int_equal(billing_form_add(&f, "action", "set"), 0);
    assert_string_equal(buf, "quantity=120&timestamp=1700003599&action=set");
    assert_int_equal(f.len, strlen(buf));
    assert_false(f.overflow);
}

static void test_billing_form_add__encodes_reserved_bytes(void **state)
{
    (void)state;
    char buf[160];
    billing_form_t f;
    billing_form_init(&f, buf, sizeof buf);
    assert_int_equal(billing_form_add(&f, "payload[stripe_customer_id]", "cus_A&b=c d"), 0);
    assert_int_equal(billing_form_add(&f, "metadata[k/1]", "\xc3\xa9+%~._-"), 0);
    assert_string_equal(buf, "payload[stripe_customer_id]=cus_A%26b%3Dc%20d"
                             "&metadata[k%2F1]=%C3%A9%2B%25~._-");
    /* A bracket in a value is encoded; in a key it is kept. */
    billing_form_init(&f, buf, sizeof buf);
    assert_int_equal(billing_form_add(&f, "a[b]", "[x]"), 0);
    assert_string_equal(buf, "a[b]=%5Bx%5D");
    billing_form_init(&f, buf, sizeof buf);
    assert_int_equal(billing_form_add(&f, "empty", ""), 0);
    assert_string_equal(buf, "empty=");
}

static void test_billing_form_add__overflow_keeps_what_fit(void **state)
{
    (void)state;
    char buf[16];
    billing_form_t f;
    billing_form_init(&f, buf, sizeof buf);
    assert_int_equal(billing_form_add(&f, "a", "1234"), 0); /* "a=1234": 6 */
    assert_int_equal(billing_form_add(&f, "b", "12345678"), -1);
    assert_true(f.overflow);
    assert_string_equal(buf, "a=1234");
    assert_int_equal(billing_form_add(&f, "c", "1"), -1); /* stays unusable */
    /* Exactly cap - 1 bytes fit (the NUL). */
    billing_form_init(&f, buf, sizeof buf);
    assert_int_equal(billing_form_add(&f, "k", "0123456789abc"), 0); /* 15 bytes */
    assert_int_equal(f.len, 15);
    billing_form_init(&f, buf, sizeof buf);
    assert_int_equal(billing_form_add(&f, "k", "%%%%%"), -1); /* 2 + 15 */
    assert_string_equal(buf, "");
}

static bool retry(bool transport, int status, const char *should_retry)
{
    billing_stripe_answer_t a = {
        .transport_error = transport, .status = status, .should_retry = should_retry};
    return billing_stripe_should_retry(&a);
}

static void test_billing_stripe_should_retry__rules(void **state)
{
    (void)state;
    assert_true(retry(true, 0, NULL)); /* connection error, timeout */
    assert_false(retry(false, 200, NULL));
    assert_false(retry(false, 200, "true")); /* a success is never repeated */
    assert_true(retry(false, 429, NULL));
    assert_true(retry(false, 429, "true"));
    assert_false(retry(false, 429, "false")); /* Stripe says no */
    assert_true(retry(false, 500, NULL));
    assert_true(retry(false, 503, NULL));
    assert_false(retry(false, 500, "false"));
    assert_true(retry(false, 409, NULL));   /* idempotency_key_in_use */
    assert_true(retry(false, 400, "true")); /* e.g. a lock timeout */
    assert_false(retry(false, 400, NULL));
    assert_false(retry(false, 401, NULL));
    assert_false(retry(false, 402, NULL));
    assert_false(retry(false, 404, NULL));
    assert_true(retry(false, 500, "maybe")); /* an unknown value: as if absent */
}

static void test_billing_stripe_backoff_ms__doubles_jitters_caps(void **state)
{
    (void)state;
    /* rand 0: 50 %, never below the base; rand max: ~100 %. */
    assert_int_equal(billing_stripe_backoff_ms(1, 0, NULL), 500);
    assert_int_equal(billing_stripe_backoff_ms(1, UINT32_MAX, NULL), 499 + 1); /* floor */
    assert_int_equal(billing_stripe_backoff_ms(2, 0, NULL), 500);
    assert_int_equal(billing_stripe_backoff_ms(2, UINT32_MAX, NULL), 999);
    assert_int_equal(billing_stripe_backoff_ms(3, 0, NULL), 1000);
    assert_int_equal(billing_stripe_backoff_ms(3, 0x80000000u, NULL), 1500);
    assert_int_equal(billing_stripe_backoff_ms(4, UINT32_MAX, NULL), 3999);
    assert_int_equal(billing_stripe_backoff_ms(5, UINT32_MAX, NULL), 4999); /* 8 s capped */
    assert_int_equal(billing_stripe_backoff_ms(60, 0, NULL), 2500);
    assert_int_equal(billing_stripe_backoff_ms(1000, UINT32_MAX, NULL), 4999);
}

static void test_billing_stripe_backoff_ms__retry_after(void **state)
{
    (void)state;
    assert_int_equal(billing_stripe_backoff_ms(1, 0, "3"), 3000);
    assert_int_equal(billing_stripe_backoff_ms(1, 0, "0"), 500);     /* backoff wins */
    assert_int_equal(billing_stripe_backoff_ms(1, 0, "600"), 60000); /* capped */
    assert_int_equal(billing_stripe_backoff_ms(1, 0, "1.5"), 500);   /* not seconds: ignored */
    assert_int_equal(billing_stripe_backoff_ms(1, 0, ""), 500);
    assert_int_equal(billing_stripe_backoff_ms(1, 0, "Wed, 21 Oct 2026 07:28:00 GMT"), 500);
    assert_int_equal(billing_stripe_backoff_ms(1, 0, "99999999999999999999"), 500);
}

static void test_billing_report_retry_ms__per_failed_pass(void **state)
{
    (void)state;
    assert_int_equal(billing_report_retry_ms(1000, 1, 0), 1000);
    assert_int_equal(billing_report_retry_ms(1000, 1, UINT32_MAX), 1000);
    assert_int_equal(billing_report_retry_ms(1000, 2, UINT32_MAX), 1999);
    assert_int_equal(billing_report_retry_ms(1000, 3, 0), 2000);
    assert_int_equal(billing_report_retry_ms(600000, 3, UINT32_MAX), 2399999); /* 40 m */
    assert_int_equal(billing_report_retry_ms(600000, 99, 0), 1800000);
    assert_int_equal(billing_report_retry_ms(7200000, 1, 0), 3600000); /* never past 1 h */
}

static void test_billing_usage_key__contract_format(void **state)
{
    (void)state;
    char k[BILLING_STRIPE_KEY_MAX + 1];
    assert_int_equal(billing_usage_key(k, sizeof k, "acme", "si_Q1w2", "end_devices", 1700000000),
                     strlen("lw-usage-acme-si_Q1w2-end_devices-1700000000"));
    assert_string_equal(k, "lw-usage-acme-si_Q1w2-end_devices-1700000000");
    char small[20];
    assert_int_equal(billing_usage_key(small, sizeof small, "acme", "si_Q1w2", "uplinks", 1), -1);
    assert_string_equal(small, "");
    char big[600];
    char tenant[300];
    memset(tenant, 'a', sizeof tenant - 1);
    tenant[sizeof tenant - 1] = '\0';
    assert_int_equal(billing_usage_key(big, sizeof big, tenant, "si_x", "uplinks", 1), -1);
}

static void test_billing_stripe_id_ok__path_safe_only(void **state)
{
    (void)state;
    assert_true(billing_stripe_id_ok("si_GJPIai519jXcYs"));
    assert_true(billing_stripe_id_ok("price_1-abc"));
    assert_false(billing_stripe_id_ok(""));
    assert_false(billing_stripe_id_ok("si_x/../customers"));
    assert_false(billing_stripe_id_ok("si_x?expand=a"));
    assert_false(billing_stripe_id_ok("si x"));
    assert_false(billing_stripe_id_ok("si_%2F"));
}

static void test_billing_usage_timestamp__inside_the_period(void **state)
{
    (void)state;
    assert_int_equal(billing_usage_timestamp("set", 1700000000, 1700003600), 1700003599);
    assert_int_equal(billing_usage_timestamp("increment", 1700000000, 1700003600), 1700000000);
    assert_int_equal(billing_usage_timestamp("set", 1700000000, 1700000000), 1700000000);
}

static void test_billing_jitter_rand__seeded_and_moving(void **state)
{
    (void)state;
    uint64_t a = billing_jitter_seed(0, 0, 0), b = billing_jitter_seed(0, 0, 0);
    assert_true(a != 0);
    uint32_t x1 = billing_jitter_rand(&a), x2 = billing_jitter_rand(&a);
    assert_true(x1 != x2);
    assert_int_equal(billing_jitter_rand(&b), x1); /* the same seed, the same sequence */
    assert_true(billing_jitter_seed(1, 2, 3) != billing_jitter_seed(1, 2, 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_billing_form_add__usage_record),
        cmocka_unit_test(test_billing_form_add__encodes_reserved_bytes),
        cmocka_unit_test(test_billing_form_add__overflow_keeps_what_fit),
        cmocka_unit_test(test_billing_stripe_should_retry__rules),
        cmocka_unit_test(test_billing_stripe_backoff_ms__doubles_jitters_caps),
        cmocka_unit_test(test_billing_stripe_backoff_ms__retry_after),
        cmocka_unit_test(test_billing_report_retry_ms__per_failed_pass),
        cmocka_unit_test(test_billing_usage_key__contract_format),
        cmocka_unit_test(test_billing_stripe_id_ok__path_safe_only),
        cmocka_unit_test(test_billing_usage_timestamp__inside_the_period),
        cmocka_unit_test(test_billing_jitter_rand__seeded_and_moving),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
