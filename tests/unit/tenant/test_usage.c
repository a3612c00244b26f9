/* tenant/usage_acc.c and the UsageBatch codec (tenant/usage.c): counts per tenant and
 * interval, distinct devices, interval boundaries, the device-set bound, the flush, and the
 * message's encoding and checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tenant/usage_private.h"

#define MAX_SEEN 64

/* What the accumulator emitted, copied out. */
typedef struct seen {
    char tenant[TN_ID_MAX + 1];
    int64_t start, end;
    uint64_t up, down, ja;
    size_t ndev;
    char devs[8][TN_USAGE_DEVICE_MAX + 1];
    bool early;
} seen_t;

typedef struct sink {
    seen_t b[MAX_SEEN];
    size_t n;
} sink_t;

static void emit(void *arg, tn_usage_batch_t *b, bool early)
{
    sink_t *s = arg;
    assert_true(s->n < MAX_SEEN);
    seen_t *o = &s->b[s->n++];
    memset(o, 0, sizeof *o);
    snprintf(o->tenant, sizeof o->tenant, "%s", b->tenant_id);
    o->start = b->interval_start_ms;
    o->end = b->interval_end_ms;
    o->up = b->uplinks;
    o->down = b->downlinks;
    o->ja = b->join_accepts;
    o->ndev = b->n_active_devices;
    for (size_t i = 0; i < b->n_active_devices && i < 8; i++)
        snprintf(o->devs[i], sizeof o->devs[i], "%s", b->active_devices[i]);
    o->early = early;
}

static const seen_t *find(const sink_t *s, const char *tenant, int64_t start)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->b[i].tenant, tenant) == 0 && s->b[i].start == start)
            return &s->b[i];
    return NULL;
}

static void test_tn_usage_interval_start__floors_to_multiple(void **state)
{
    (void)state;
    assert_int_equal(tn_usage_interval_start(12345, 1000), 12000);
    assert_int_equal(tn_usage_interval_start(12000, 1000), 12000);
    assert_int_equal(tn_usage_interval_start(-1, 1000), -1000);
}

static void test_tn_usage_acc_count__two_tenants_one_batch_each(void **state)
{
    (void)state;
    sink_t s = {0};
    tn_usage_acc_t *a = tn_usage_acc_new(10000, 100, emit, &s);
    for (int i = 0; i < 5; i++)
        tn_usage_acc_count(a, 1000000 + i, "acme", TN_USAGE_UPLINK, "app1", "dev1", 1);
    tn_usage_acc_count(a, 1000010, "acme", TN_USAGE_DOWNLINK, "app1", "dev2", 1);
    tn_usage_acc_count(a, 1000011, "globex", TN_USAGE_JOIN_ACCEPT, "app9", "dev1", 1);
    tn_usage_acc_count(a, 1000012, "globex", TN_USAGE_UPLINK, "app9", "dev1", 3);
    assert_int_equal(s.n, 0); /* nothing before the interval ends */
    tn_usage_acc_flush(a, 1010000);
    assert_int_equal(s.n, 2);
    const seen_t *acme = find(&s, "acme", 1000000);
    assert_non_null(acme);
    assert_int_equal(acme->end, 1010000);
    assert_int_equal(acme->up, 5);
    assert_int_equal(acme->down, 1);
    assert_int_equal(acme->ja, 0);
    assert_int_equal(acme->ndev, 2);
    assert_string_equal(acme->devs[0], "app1/dev1");
    assert_string_equal(acme->devs[1], "app1/dev2");
    assert_false(acme->early);
    const seen_t *globex = find(&s, "globex", 1000000);
    assert_non_null(globex);
    assert_int_equal(globex->up, 3);
    assert_int_equal(globex->ja, 1);
    assert_int_equal(globex->ndev, 1);
    assert_string_equal(globex->devs[0], "app9/dev1");
    /* An empty interval emits nothing. */
    tn_usage_acc_flush(a, 1020000);
    assert_int_equal(s.n, 2);
    tn_usage_acc_free(a);
}

static void test_tn_usage_acc_count__boundary_emits_previous_interval(void **state)
{
    (void)state;
    sink_t s = {0};
    tn_usage_acc_t *a = tn_usage_acc_new(1000, 100, emit, &s);
    tn_usage_acc_count(a, 5999, "acme", TN_USAGE_UPLINK, "a", "d", 1);
    tn_usage_acc_count(a, 6000, "acme", TN_USAGE_UPLINK, "a", "d", 1);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.b[0].start, 5000);
    assert_int_equal(s.b[0].end, 6000);
    assert_int_equal(s.b[0].up, 1);
    /* A clock that went back counts into the current interval. */
    tn_usage_acc_count(a, 4000, "acme", TN_USAGE_UPLINK, "a", "d", 1);
    tn_usage_acc_flush(a, 7000);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.b[1].start, 6000);
    assert_int_equal(s.b[1].up, 2);
    assert_int_equal(s.b[1].ndev, 1);
    tn_usage_acc_free(a);
}

static void test_tn_usage_acc_count__device_bound_emits_early(void **state)
{
    (void)state;
    sink_t s = {0};
    tn_usage_acc_t *a = tn_usage_acc_new(1000, 3, emit, &s);
    char dev[16];
    for (int i = 0; i < 7; i++) {
        snprintf(dev, sizeof dev, "d%d", i);
        tn_usage_acc_count(a, 100, "acme", TN_USAGE_UPLINK, "app", dev, 1);
        tn_usage_acc_count(a, 100, "acme", TN_USAGE_UPLINK, "app", dev, 1); /* seen: no growth */
    }
    /* d0..d2 full; d3 opens the second batch, d6 the third. */
    assert_int_equal(s.n, 2);
    assert_true(s.b[0].early && s.b[1].early);
    assert_int_equal(s.b[0].ndev, 3);
    assert_int_equal(s.b[0].up, 6);
    assert_string_equal(s.b[0].devs[2], "app/d2");
    assert_int_equal(s.b[1].ndev, 3);
    assert_string_equal(s.b[1].devs[0], "app/d3");
    tn_usage_acc_flush(a, 1000);
    assert_int_equal(s.n, 3);
    assert_false(s.b[2].early);
    assert_int_equal(s.b[2].ndev, 1);
    assert_string_equal(s.b[2].devs[0], "app/d6");
    assert_int_equal(s.b[0].up + s.b[1].up + s.b[2].up, 14); /* nothing lost or doubled */
    assert_int_equal(s.b[2].start, 0);
    tn_usage_acc_free(a);
}

static void test_tn_usage_acc_count__many_tenants_and_devices_grow(void **state)
{
    (void)state;
    sink_t *s = calloc(1, sizeof *s);
    tn_usage_acc_t *a = tn_usage_acc_new(1000, TN_USAGE_BATCH_DEVICES_MAX, emit, s);
    char tenant[16], dev[16];
    for (int t = 0; t < 40; t++) {
        snprintf(tenant, sizeof tenant, "t%02d", t);
        for (int d = 0; d < 300; d++) {
            snprintf(dev, sizeof dev, "dev-%d", d % 150);
            tn_usage_acc_count(a, 10, tenant, TN_USAGE_UPLINK, "app", dev, 1);
        }
    }
    tn_usage_acc_flush(a, 2000);
    assert_int_equal(s->n, 40);
    for (size_t i = 0; i < s->n; i++) {
        assert_int_equal(s->b[i].up, 300);
        assert_int_equal(s->b[i].ndev, 150);
    }
    tn_usage_acc_free(a);
    free(s);
}

static void test_tn_usage_acc_count__ignores_empty_tenant_and_bad_kind(void **state)
{
    (void)state;
    sink_t s = {0};
    tn_usage_acc_t *a = tn_usage_acc_new(1000, 10, emit, &s);
    tn_usage_acc_count(a, 10, "", TN_USAGE_UPLINK, "a", "d", 1);
    tn_usage_acc_count(a, 10, NULL, TN_USAGE_UPLINK, "a", "d", 1);
    tn_usage_acc_count(a, 10, "acme", (tn_usage_kind_t)7, "a", "d", 1);
    tn_usage_acc_flush(a, 2000);
    assert_int_equal(s.n, 0);
    tn_usage_acc_free(a);
}

static void test_tn_usage_batch__round_trip(void **state)
{
    (void)state;
    char d0[] = "app1/dev1", d1[] = "app-2/dev-9";
    char *devs[] = {d0, d1};
    tn_usage_batch_t b;
    memset(&b, 0, sizeof b);
    memset(b.id, 0xab, sizeof b.id);
    snprintf(b.tenant_id, sizeof b.tenant_id, "acme");
    snprintf(b.producer, sizeof b.producer, "ns@host:1");
    b.interval_start_ms = 1000;
    b.interval_end_ms = 2000;
    b.uplinks = 7;
    b.downlinks = 2;
    b.join_accepts = 1;
    b.n_active_devices = 2;
    b.active_devices = devs;
    uint8_t buf[256];
    size_t len = tn_usage_batch_encode(&b, buf, sizeof buf);
    assert_int_equal(len, tn_usage_batch_size(&b));
    assert_int_equal(tn_usage_batch_encode(&b, buf, len - 1), 0);
    tn_usage_batch_t out;
    const char *why = NULL;
    assert_int_equal(tn_usage_batch_decode(buf, len, &out, &why), 0);
    assert_null(why);
    assert_memory_equal(out.id, b.id, sizeof b.id);
    assert_string_equal(out.tenant_id, "acme");
    assert_string_equal(out.producer, "ns@host:1");
    assert_int_equal(out.interval_start_ms, 1000);
    assert_int_equal(out.interval_end_ms, 2000);
    assert_int_equal(out.uplinks, 7);
    assert_int_equal(out.downlinks, 2);
    assert_int_equal(out.join_accepts, 1);
    assert_int_equal(out.n_active_devices, 2);
    assert_string_equal(out.active_devices[1], "app-2/dev-9");
    tn_usage_batch_destroy(&out);
}

static void check_refused(tn_usage_batch_t *b, const char *want)
{
    uint8_t buf[256];
    size_t len = tn_usage_batch_encode(b, buf, sizeof buf);
    assert_true(len > 0);
    tn_usage_batch_t out;
    const char *why = NULL;
    assert_int_equal(tn_usage_batch_decode(buf, len, &out, &why), -1);
    assert_string_equal(why, want);
    tn_usage_batch_destroy(&out);
}

static void test_tn_usage_batch_decode__refuses_bad_fields(void **state)
{
    (void)state;
    char good[] = "app/dev", bad[] = "appdev", upper[] = "App/dev";
    char *devs[] = {good};
    tn_usage_batch_t b;
    memset(&b, 0, sizeof b);
    snprintf(b.tenant_id, sizeof b.tenant_id, "acme");
    b.interval_start_ms = 1000;
    b.interval_end_ms = 2000;
    b.n_active_devices = 1;
    b.active_devices = devs;
    tn_usage_batch_t t = b;
    t.interval_end_ms = 1000;
    check_refused(&t, "interval_end not after interval_start");
    t = b;
    snprintf(t.tenant_id, sizeof t.tenant_id, "ACME!");
    check_refused(&t, "invalid tenant_id");
    t = b;
    devs[0] = bad;
    check_refused(&t, "an active_devices entry is not <application_id>/<device_id>");
    devs[0] = upper;
    check_refused(&t, "an active_devices entry is not <application_id>/<device_id>");
    tn_usage_batch_t out;
    const char *why = NULL;
    assert_int_equal(tn_usage_batch_decode("\xff\xff\xff", 3, &out, &why), -1);
    assert_string_equal(why, "not a UsageBatch");
    tn_usage_batch_destroy(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tn_usage_interval_start__floors_to_multiple),
        cmocka_unit_test(test_tn_usage_acc_count__two_tenants_one_batch_each),
        cmocka_unit_test(test_tn_usage_acc_count__boundary_emits_previous_interval),
        cmocka_unit_test(test_tn_usage_acc_count__device_bound_emits_early),
        cmocka_unit_test(test_tn_usage_acc_count__many_tenants_and_devices_grow),
        cmocka_unit_test(test_tn_usage_acc_count__ignores_empty_tenant_and_bad_kind),
        cmocka_unit_test(test_tn_usage_batch__round_trip),
        cmocka_unit_test(test_tn_usage_batch_decode__refuses_bad_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
