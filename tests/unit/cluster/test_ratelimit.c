/* Unit tests of cluster/ratelimit.c: rate parsing, GCRA decisions at given times, bounded
 * memory with lossless eviction of idle keys, address keys and the per-key gate. The clock
 * is an argument, so every figure is exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/ratelimit.h"

static lw_rate_t rate(const char *text)
{
    lw_rate_t r;
    char why[128];
    assert_int_equal(lw_rate_parse(text, &r, why, sizeof why), 0);
    return r;
}

static void test_lw_rate_parse__forms(void **state)
{
    (void)state;
    lw_rate_t r = rate("10/1m");
    assert_int_equal(r.count, 10);
    assert_int_equal(r.period_ms, 60000);
    assert_int_equal(r.burst, 10);
    r = rate("100/s burst 200");
    assert_int_equal(r.count, 100);
    assert_int_equal(r.period_ms, 1000);
    assert_int_equal(r.burst, 200);
    r = rate("5/10s burst 1");
    assert_int_equal(r.period_ms, 10000);
    assert_int_equal(r.burst, 1);
    r = rate("3/250ms");
    assert_int_equal(r.period_ms, 250);
    r = rate("1/h");
    assert_int_equal(r.period_ms, 3600000);
    assert_true(lw_rate_off(&r) == false);
    r = rate("0");
    assert_true(lw_rate_off(&r));
    r = rate("off");
    assert_true(lw_rate_off(&r));
    r = rate("0/1m");
    assert_true(lw_rate_off(&r));
}

static void test_lw_rate_parse__refuses(void **state)
{
    (void)state;
    static const char *const bad[] = {"",
                                      "10",
                                      "10/",
                                      "10/1x",
                                      "/1m",
                                      "-1/1m",
                                      "10/0s",
                                      "10/1m burst",
                                      "10/1m b",
                                      "10/1m burst 0",
                                      "10/1m burst 2000000",
                                      "2000/1ms",
                                      "10/1m trailing",
                                      "ten/1m"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char why[128] = "";
        lw_rate_t r;
        assert_int_equal(lw_rate_parse(bad[i], &r, why, sizeof why), -1);
        assert_true(why[0] != '\0');
        assert_int_equal(lw_rate_check(bad[i], why, sizeof why), -1);
    }
    char why[8];
    assert_int_equal(lw_rate_check("10/1m burst 5", why, sizeof why), 0);
}

static void test_lw_rate_per_minute__rounds_up(void **state)
{
    (void)state;
    lw_rate_t r = rate("10/1m");
    assert_int_equal(lw_rate_per_minute(&r), 10);
    r = rate("100/s");
    assert_int_equal(lw_rate_per_minute(&r), 6000);
    r = rate("1/h");
    assert_int_equal(lw_rate_per_minute(&r), 1);
    r = rate("0");
    assert_int_equal(lw_rate_per_minute(&r), 0);
}

static void test_lw_ratelimit_take__burst_then_interval(void **state)
{
    (void)state;
    lw_rate_t r = rate("10/1m burst 5"); /* one every 6 s, five at once */
    lw_ratelimit_t *rl = lw_ratelimit_new(&r, 64, 1);
    lw_ratelimit_result_t res;
    for (int i = 0; i < 5; i++) {
        assert_true(lw_ratelimit_take(rl, "acme/alice", 1000, &res));
        assert_int_equal(res.limit, 5);
        assert_int_equal(res.remaining, 4 - i);
        assert_int_equal(res.retry_after_ms, 0);
    }
    assert_false(lw_ratelimit_take(rl, "acme/alice", 1000, &res));
    assert_int_equal(res.remaining, 0);
    assert_int_equal(res.retry_after_ms, 6000);
    assert_int_equal(res.reset_after_ms, 30000);
    /* A refused request changes nothing: still 6 s, then 1 s later 5 s. */
    assert_false(lw_ratelimit_take(rl, "acme/alice", 1000, &res));
    assert_int_equal(res.retry_after_ms, 6000);
    assert_false(lw_ratelimit_take(rl, "acme/alice", 2000, &res));
    assert_int_equal(res.retry_after_ms, 5000);
    assert_false(lw_ratelimit_take(rl, "acme/alice", 6999, &res));
    assert_int_equal(res.retry_after_ms, 1);
    assert_true(lw_ratelimit_take(rl, "acme/alice", 7000, &res));
    assert_int_equal(res.remaining, 0);
    assert_false(lw_ratelimit_take(rl, "acme/alice", 7000, &res));
    assert_int_equal(res.retry_after_ms, 6000);
    /* Other keys are not affected. */
    assert_true(lw_ratelimit_take(rl, "acme/bob", 7000, &res));
    assert_int_equal(res.remaining, 4);
    assert_true(lw_ratelimit_take(rl, "globex/alice", 7000, &res));
    /* After the full reset time the burst is back. */
    for (int i = 0; i < 5; i++)
        assert_true(lw_ratelimit_take(rl, "acme/alice", 7000 + 36000, NULL));
    assert_false(lw_ratelimit_take(rl, "acme/alice", 7000 + 36000, NULL));
    lw_ratelimit_free(rl);
}

static void test_lw_ratelimit_take__steady_rate(void **state)
{
    (void)state;
    lw_rate_t r = rate("100/s burst 1"); /* exactly one per 10 ms */
    lw_ratelimit_t *rl = lw_ratelimit_new(&r, 8, 7);
    int allowed = 0;
    for (int64_t t = 0; t < 1000; t++)
        allowed += lw_ratelimit_take(rl, "k", t, NULL);
    assert_int_equal(allowed, 100);
    lw_ratelimit_free(rl);
}

static void test_lw_ratelimit_take__time_going_back(void **state)
{
    (void)state;
    lw_rate_t r = rate("1/s burst 1");
    lw_ratelimit_t *rl = lw_ratelimit_new(&r, 8, 7);
    lw_ratelimit_result_t res;
    assert_true(lw_ratelimit_take(rl, "k", 5000, NULL));
    assert_false(lw_ratelimit_take(rl, "k", 1000, &res));
    assert_int_equal(res.retry_after_ms, 1000);
    assert_true(lw_ratelimit_take(rl, "k", 6000, NULL));
    lw_ratelimit_free(rl);
}

static void test_lw_ratelimit_peek__changes_nothing(void **state)
{
    (void)state;
    lw_rate_t r = rate("2/1m burst 2");
    lw_ratelimit_t *rl = lw_ratelimit_new(&r, 8, 3);
    lw_ratelimit_result_t res;
    for (int i = 0; i < 10; i++)
        assert_true(lw_ratelimit_peek(rl, "k", 0, &res));
    assert_int_equal(res.remaining, 1);
    assert_int_equal(lw_ratelimit_size(rl), 0);
    assert_true(lw_ratelimit_take(rl, "k", 0, NULL));
    assert_true(lw_ratelimit_take(rl, "k", 0, NULL));
    assert_false(lw_ratelimit_peek(rl, "k", 0, &res));
    assert_int_equal(res.retry_after_ms, 30000);
    assert_false(lw_ratelimit_take(rl, "k", 0, NULL));
    lw_ratelimit_free(rl);
}

static void test_lw_ratelimit_new__off_allows_everything(void **state)
{
    (void)state;
    lw_rate_t r = rate("0");
    lw_ratelimit_t *rl = lw_ratelimit_new(&r, 8, 3);
    for (int i = 0; i < 10000; i++)
        assert_true(lw_ratelimit_take(rl, "k", 0, NULL));
    assert_true(lw_ratelimit_peek(rl, "k", 0, NULL));
    assert_int_equal(lw_ratelimit_size(rl), 0);
    lw_ratelimit_free(rl);
    lw_ratelimit_free(NULL);
}

/* A table of 16 keys: a seventeenth key takes the slot of an idle one, which then starts
 * afresh exactly as if it had been kept. */
static void test_lw_ratelimit_take__bounded_idle_evicted_losslessly(void **state)
{
    (void)state;
    lw_rate_t r = rate("1/1s burst 1");
    lw_ratelimit_t *rl = lw_ratelimit_new(&r, 16, 11);
    char key[32];
    lw_ratelimit_result_t res;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "user-%d", i);
        assert_true(lw_ratelimit_take(rl, key, (int64_t)i * 1000, &res));
        assert_false(res.evicted); /* every older key is idle by then */
        assert_true(lw_ratelimit_size(rl) <= 16);
    }
    lw_ratelimit_free(rl);
}

/* Every slot busy: the key closest to idle goes, and the hottest key keeps its state. */
static void test_lw_ratelimit_take__full_table_evicts_coolest(void **state)
{
    (void)state;
    lw_rate_t r = rate("1/1m burst 5");
    lw_ratelimit_t *rl = lw_ratelimit_new(&r, 16, 5);
    /* The attacker's key: its whole burst at t=0, limited for five minutes. */
    for (int i = 0; i < 5; i++)
        assert_true(lw_ratelimit_take(rl, "hot", 0, NULL));
    char key[32];
    int evicted = 0;
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "spray-%d", i);
        lw_ratelimit_result_t res;
        assert_true(lw_ratelimit_take(rl, key, 1000 + i, &res));
        evicted += res.evicted;
        assert_true(lw_ratelimit_size(rl) <= 16);
    }
    assert_true(evicted > 0);
    lw_ratelimit_result_t res;
    assert_false(lw_ratelimit_take(rl, "hot", 2000, &res));
    assert_int_equal(res.retry_after_ms, 58000);
    lw_ratelimit_free(rl);
}

static void test_lw_ratelimit_take__long_keys(void **state)
{
    (void)state;
    lw_rate_t r = rate("1/1m burst 1");
    lw_ratelimit_t *rl = lw_ratelimit_new(&r, 16, 5);
    char a[300], b[300];
    memset(a, 'x', sizeof a - 1);
    a[sizeof a - 1] = '\0';
    memcpy(b, a, sizeof b);
    b[sizeof b - 2] = 'y'; /* differs beyond LW_RATELIMIT_KEY_MAX: told apart by the hash */
    assert_true(lw_ratelimit_take(rl, a, 0, NULL));
    assert_false(lw_ratelimit_take(rl, a, 0, NULL));
    assert_true(lw_ratelimit_take(rl, b, 0, NULL));
    lw_ratelimit_free(rl);
}

static void test_lw_ratelimit_retry_seconds__ceil_at_least_one(void **state)
{
    (void)state;
    assert_int_equal(lw_ratelimit_retry_seconds(0), 1);
    assert_int_equal(lw_ratelimit_retry_seconds(1), 1);
    assert_int_equal(lw_ratelimit_retry_seconds(1000), 1);
    assert_int_equal(lw_ratelimit_retry_seconds(1001), 2);
    assert_int_equal(lw_ratelimit_retry_seconds(6000), 6);
}

static void test_lw_ratelimit_err__tts_shape(void **state)
{
    (void)state;
    lw_rate_t r = rate("10/1m burst 5");
    lw_err_t e;
    assert_int_equal(lw_ratelimit_err(&e, "is:login:user:acme/alice", &r, 5001), 6);
    assert_string_equal(lw_err_name(&e), "rate_limit_exceeded");
    assert_string_equal(e.def->ns, "pkg/ratelimit");
    assert_int_equal(e.def->http_status, 429);
    assert_int_equal(e.def->grpc_code, 8);
    assert_string_equal(e.message, "rate limit of `10` accesses per minute exceeded for resource "
                                   "`is:login:user:acme/alice`");
    assert_int_equal(e.nattrs, 3);
    assert_string_equal(e.attrs[0].key, "key");
    assert_string_equal(e.attrs[0].value, "is:login:user:acme/alice");
    assert_string_equal(e.attrs[1].key, "rate");
    assert_string_equal(e.attrs[1].value, "10");
    assert_string_equal(e.attrs[2].key, "retry_after");
    assert_string_equal(e.attrs[2].value, "6");
}

static void test_lw_ratelimit_series_count__by_class(void **state)
{
    (void)state;
    lw_metrics_t *m = lw_metrics_new();
    lw_ratelimit_series_t a, b;
    lw_ratelimit_series_init(&a, m, "login_user");
    lw_ratelimit_series_init(&b, m, "api_tenant");
    lw_ratelimit_result_t ok = {.allowed = true}, no = {.allowed = false};
    lw_ratelimit_result_t ev = {.allowed = true, .evicted = true};
    lw_ratelimit_series_count(&a, &ok);
    lw_ratelimit_series_count(&a, &ev);
    lw_ratelimit_series_count(&a, &no);
    lw_ratelimit_series_count(&b, &no);
    char *text = NULL;
    assert_true(lw_metrics_render(m, &text) > 0);
    assert_non_null(strstr(text, "lwstack_ratelimit_allowed_total{class=\"login_user\"} 2\n"));
    assert_non_null(strstr(text, "lwstack_ratelimit_exceeded_total{class=\"login_user\"} 1\n"));
    assert_non_null(strstr(text, "lwstack_ratelimit_evicted_total{class=\"login_user\"} 1\n"));
    assert_non_null(strstr(text, "lwstack_ratelimit_exceeded_total{class=\"api_tenant\"} 1\n"));
    assert_non_null(strstr(text, "lwstack_ratelimit_allowed_total{class=\"api_tenant\"} 0\n"));
    free(text);
    lw_metrics_free(m);
}

static void test_lw_ratelimit_addr_key__forms(void **state)
{
    (void)state;
    char k[64];
    lw_ratelimit_addr_key("192.0.2.7", k, sizeof k);
    assert_string_equal(k, "192.0.2.7");
    lw_ratelimit_addr_key("2001:db8:1:2:3:4:5:6", k, sizeof k);
    assert_string_equal(k, "2001:db8:1:2::/64");
    lw_ratelimit_addr_key("2001:db8:1:2:ffff::1", k, sizeof k);
    assert_string_equal(k, "2001:db8:1:2::/64");
    lw_ratelimit_addr_key("::ffff:192.0.2.7", k, sizeof k);
    assert_string_equal(k, "192.0.2.7");
    lw_ratelimit_addr_key("::1", k, sizeof k);
    assert_string_equal(k, "::/64");
    lw_ratelimit_addr_key("unix", k, sizeof k);
    assert_string_equal(k, "unix");
    lw_ratelimit_addr_key(NULL, k, sizeof k);
    assert_string_equal(k, "");
}

static void test_lw_gate_enter__per_key_cap(void **state)
{
    (void)state;
    lw_gate_t *g = lw_gate_new(2, 16, 9);
    assert_true(lw_gate_enter(g, "acme"));
    assert_true(lw_gate_enter(g, "acme"));
    assert_false(lw_gate_enter(g, "acme"));
    assert_int_equal(lw_gate_count(g, "acme"), 2);
    assert_true(lw_gate_enter(g, "globex"));
    assert_int_equal(lw_gate_count(g, "globex"), 1);
    lw_gate_leave(g, "acme");
    assert_int_equal(lw_gate_count(g, "acme"), 1);
    assert_true(lw_gate_enter(g, "acme"));
    lw_gate_leave(g, "acme");
    lw_gate_leave(g, "acme");
    lw_gate_leave(g, "acme"); /* holds none: no-op */
    assert_int_equal(lw_gate_count(g, "acme"), 0);
    lw_gate_leave(g, "never");
    lw_gate_free(g);
    lw_gate_free(NULL);
}

/* Keys with no holder take no room: many keys in turn fit a small table. */
static void test_lw_gate_enter__released_keys_free_room(void **state)
{
    (void)state;
    lw_gate_t *g = lw_gate_new(1, 16, 9);
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "tenant-%d", i);
        assert_true(lw_gate_enter(g, key));
        lw_gate_leave(g, key);
    }
    /* Sixteen held keys fill it; beyond that a new key is refused, never let through. */
    int entered = 0;
    for (int i = 0; i < 64; i++) {
        snprintf(key, sizeof key, "held-%d", i);
        entered += lw_gate_enter(g, key);
    }
    assert_true(entered >= 1 && entered <= 16);
    lw_gate_free(g);
}

static void test_lw_gate_new__zero_is_unlimited(void **state)
{
    (void)state;
    lw_gate_t *g = lw_gate_new(0, 4, 9);
    for (int i = 0; i < 100; i++)
        assert_true(lw_gate_enter(g, "acme"));
    lw_gate_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lw_rate_parse__forms),
        cmocka_unit_test(test_lw_rate_parse__refuses),
        cmocka_unit_test(test_lw_rate_per_minute__rounds_up),
        cmocka_unit_test(test_lw_ratelimit_take__burst_then_interval),
        cmocka_unit_test(test_lw_ratelimit_take__steady_rate),
        cmocka_unit_test(test_lw_ratelimit_take__time_going_back),
        cmocka_unit_test(test_lw_ratelimit_peek__changes_nothing),
        cmocka_unit_test(test_lw_ratelimit_new__off_allows_everything),
        cmocka_unit_test(test_lw_ratelimit_take__bounded_idle_evicted_losslessly),
        cmocka_unit_test(test_lw_ratelimit_take__full_table_evicts_coolest),
        cmocka_unit_test(test_lw_ratelimit_take__long_keys),
        cmocka_unit_test(test_lw_ratelimit_retry_seconds__ceil_at_least_one),
        cmocka_unit_test(test_lw_ratelimit_err__tts_shape),
        cmocka_unit_test(test_lw_ratelimit_series_count__by_class),
        cmocka_unit_test(test_lw_ratelimit_addr_key__forms),
        cmocka_unit_test(test_lw_gate_enter__per_key_cap),
        cmocka_unit_test(test_lw_gate_enter__released_keys_free_room),
        cmocka_unit_test(test_lw_gate_new__zero_is_unlimited),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
