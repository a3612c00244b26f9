/* billing/stripe_sig.c: Stripe-Signature parsing and verification, against the vector of
 * stripe-billing.md §1.8 (stripe-node 23.1.0, cross-checked with openssl dgst) and the edge
 * cases of its §5 (several v1, v0 only, missing t, whitespace, tolerance ±1 s, the body
 * changed by one byte). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "billing/billing_private.h"

#define SECRET  "whsec_test_secret_for_vectors"
#define T       1700000000
#define PAYLOAD "{\"id\":\"evt_test_1\",\"object\":\"event\",\"type\":\"invoice.payment_failed\"}"
#define GOOD    "288a8569005f6f6eda7efad3157a76f2bc8aa4aef7668946ada5f906bf5984b4"
#define HEADER  "t=1700000000,v1=" GOOD
#define TOL     300

/* Verifies header against PAYLOAD at `now`; returns the error name, "" when accepted. */
static const char *verify(const char *header, const char *payload, int64_t now)
{
    static lw_err_t err;
    lw_err_clear(&err);
    int rc = billing_sig_verify(header, header != NULL ? strlen(header) : 0, payload,
                                strlen(payload), SECRET, now, TOL, &err);
    return rc == 0 ? "" : lw_err_name(&err);
}

static void test_vector__header_is_stripes(void **state)
{
    (void)state;
    char h[128];
    assert_int_equal(billing_sig_header(SECRET, T, PAYLOAD, strlen(PAYLOAD), h, sizeof h), 0);
    assert_string_equal(h, HEADER);
    assert_int_equal(billing_sig_header(SECRET, T, PAYLOAD, strlen(PAYLOAD), h, 20), -1);
}

static void test_vector__tolerance_edges(void **state)
{
    (void)state;
    assert_string_equal(verify(HEADER, PAYLOAD, T), "");
    assert_string_equal(verify(HEADER, PAYLOAD, T + 299), "");
    assert_string_equal(verify(HEADER, PAYLOAD, T + 300), "");
    assert_string_equal(verify(HEADER, PAYLOAD, T + 301), "timestamp_out_of_tolerance");
    /* Stricter than stripe-node: a timestamp in the future beyond the tolerance too. */
    assert_string_equal(verify(HEADER, PAYLOAD, T - 300), "");
    assert_string_equal(verify(HEADER, PAYLOAD, T - 301), "timestamp_out_of_tolerance");
}

static void test_vector__payload_changed_by_one_byte(void **state)
{
    (void)state;
    assert_string_equal(verify(HEADER, PAYLOAD " ", T), "signature_mismatch");
    char p[] = PAYLOAD;
    p[10] ^= 1;
    assert_string_equal(verify(HEADER, p, T), "signature_mismatch");
    assert_string_equal(verify(HEADER, "", T), "signature_mismatch");
}

static void test_vector__any_v1_matches(void **state)
{
    (void)state;
    assert_string_equal(verify("t=1700000000,v1="
                               "0000000000000000000000000000000000000000000000000000000000000000"
                               ",v1=" GOOD ",v0=deadbeef",
                               PAYLOAD, T),
                        "");
    /* Upper-case hex decodes to the same bytes. */
    char up[] = HEADER;
    for (char *c = up + strlen("t=1700000000,v1="); *c != '\0'; c++)
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 'a' + 'A');
    assert_string_equal(verify(up, PAYLOAD, T), "");
    /* A wrong secret matches nothing. */
    lw_err_t err;
    assert_int_equal(billing_sig_verify(HEADER, strlen(HEADER), PAYLOAD, strlen(PAYLOAD),
                                        "whsec_other", T, TOL, &err),
                     -1);
    assert_string_equal(lw_err_name(&err), "signature_mismatch");
    assert_int_equal(
        billing_sig_verify(HEADER, strlen(HEADER), PAYLOAD, strlen(PAYLOAD), NULL, T, TOL, &err),
        -1);
    assert_string_equal(lw_err_name(&err), "signature_mismatch");
}

static void test_parse__whitespace_and_order(void **state)
{
    (void)state;
    assert_string_equal(verify(" t=1700000000 ,\tv1=" GOOD " ", PAYLOAD, T), "");
    assert_string_equal(verify("v1=" GOOD ",t=1700000000", PAYLOAD, T), "");
    assert_string_equal(verify("t=1700000000,,v1=" GOOD ",", PAYLOAD, T), "");
    /* Spaces inside an item are not dropped: "t = 1" is key "t " and no timestamp. */
    assert_string_equal(verify("t =1700000000,v1=" GOOD, PAYLOAD, T), "invalid_signature");
}

static const char *parse_reason(const char *header)
{
    static lw_err_t err;
    billing_sig_t sig;
    lw_err_clear(&err);
    if (billing_sig_parse(header, strlen(header), &sig, &err) == 0)
        return "";
    assert_string_equal(lw_err_name(&err), "invalid_signature");
    assert_string_equal(err.attrs[0].key, "reason");
    return err.attrs[0].value;
}

static void test_parse__refusals_name_the_reason(void **state)
{
    (void)state;
    assert_string_equal(parse_reason("v1=" GOOD), "no timestamp");
    assert_string_equal(parse_reason("t=1700000000"), "no v1 signature");
    assert_string_equal(parse_reason("t=1700000000,v0=deadbeef"), "no v1 signature");
    assert_string_equal(parse_reason("t=1700000000,v1=abc"), "no v1 signature");
    assert_string_equal(
        parse_reason(
            "t=1700000000,v1=zz8a8569005f6f6eda7efad3157a76f2bc8aa4aef7668946ada5f906bf5984b4"),
        "no v1 signature");
    assert_string_equal(parse_reason(""), "no timestamp");
    assert_string_equal(parse_reason(","), "no timestamp");
    assert_string_equal(parse_reason("t=abc,v1=" GOOD), "the timestamp is not a number");
    assert_string_equal(parse_reason("t=-5,v1=" GOOD), "the timestamp is not a number");
    assert_string_equal(parse_reason("t=,v1=" GOOD), "the timestamp is not a number");
    assert_string_equal(parse_reason("t=1234567890123,v1=" GOOD), "the timestamp is not a number");
    assert_string_equal(parse_reason("t=1,t=2,v1=" GOOD), "more than one timestamp");
    assert_string_equal(parse_reason("t=1700000000,garbage,v1=" GOOD), "an item without `=`");
    char many[1024] = "t=1";
    for (int i = 0; i <= BILLING_SIG_MAX_V1; i++)
        strcat(many, ",v1=" GOOD);
    assert_string_equal(parse_reason(many), "too many v1 signatures");
    char huge[BILLING_SIG_HEADER_MAX + 2];
    memset(huge, ' ', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    assert_string_equal(parse_reason(huge), "header too long");
}

static void test_verify__missing_header(void **state)
{
    (void)state;
    assert_string_equal(verify(NULL, PAYLOAD, T), "missing_signature");
    assert_string_equal(verify("", PAYLOAD, T), "invalid_signature");
}

static void test_parse__header_not_nul_terminated(void **state)
{
    (void)state;
    /* Only len bytes are read: the v1 beyond them is not seen. */
    const char *h = "t=1700000000,v1=" GOOD;
    billing_sig_t sig;
    lw_err_t err;
    assert_int_equal(billing_sig_parse(h, strlen("t=1700000000"), &sig, &err), -1);
    assert_int_equal(billing_sig_parse(h, strlen(h), &sig, &err), 0);
    assert_int_equal(sig.t, T);
    assert_int_equal(sig.n_v1, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector__header_is_stripes),
        cmocka_unit_test(test_vector__tolerance_edges),
        cmocka_unit_test(test_vector__payload_changed_by_one_byte),
        cmocka_unit_test(test_vector__any_v1_matches),
        cmocka_unit_test(test_parse__whitespace_and_order),
        cmocka_unit_test(test_parse__refusals_name_the_reason),
        cmocka_unit_test(test_verify__missing_header),
        cmocka_unit_test(test_parse__header_not_nul_terminated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
