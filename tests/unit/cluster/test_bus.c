/* Unit tests of cluster/bus.c against librdkafka's mock cluster (in process). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <uv.h>

#include "cluster/bus.h"
#include "cluster/clock.h"
#include "cluster/config.h"
#include "cluster/log.h"
#include "cluster/metrics.h"

/* ---- helpers ---------------------------------------------------------------------- */

typedef struct fixture {
    uv_loop_t loop;
    lw_config_t *cfg;
    lw_bus_t *bus;
} fixture_t;

static void tick_cb(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until pred(arg) or timeout_ms; returns pred's last answer. */
static bool run_until(uv_loop_t *loop, bool (*pred)(void *), void *arg, uint64_t timeout_ms)
{
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, tick_cb, 10, 10);
    uint64_t end = lw_clock_mono_ms() + timeout_ms;
    bool ok = pred(arg);
    while (!ok && lw_clock_mono_ms() < end) {
        uv_run(loop, UV_RUN_ONCE);
        ok = pred(arg);
    }
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ok;
}

static lw_config_t *config_new(const char *const *kv)
{
    lw_err_t err;
    lw_config_t *cfg = lw_config_new();
    assert_int_equal(lw_bus_config_register(cfg), 0);
    for (size_t i = 0; kv != NULL && kv[i] != NULL; i += 2) {
        int rc = lw_config_set(cfg, kv[i], kv[i + 1], "flag", &err);
        if (rc != 0)
            fail_msg("%s=%s: %s", kv[i], kv[i + 1], err.message);
    }
    return cfg;
}

static void fixture_start(fixture_t *f, const char *const *kv)
{
    lw_err_t err;
    lw_err_clear(&err);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->cfg = config_new(kv);
    f->bus = lw_bus_new(&f->loop, f->cfg, &err);
    if (f->bus == NULL)
        fail_msg("lw_bus_new: %s", err.message);
}

static void stop_done(void *arg)
{
    *(int *)arg += 1;
}

static bool int_set(void *arg)
{
    return *(int *)arg != 0;
}

static void fixture_stop(fixture_t *f)
{
    int done = 0;
    lw_bus_stop(f->bus, stop_done, &done);
    assert_true(run_until(&f->loop, int_set, &done, 15000));
    assert_int_equal(done, 1);
    lw_bus_free(f->bus);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    lw_config_free(f->cfg);
}

static bool bus_is_ready(void *arg)
{
    return lw_bus_ready(arg);
}

/* What a consumer saw. */
#define MAX_SEEN 2048
typedef struct seen {
    size_t n;
    char value[MAX_SEEN][32];
    char key[MAX_SEEN][32];
    char id[MAX_SEEN][65];
    char topic[MAX_SEEN][32];
    int32_t partition[MAX_SEEN];
    bool held[64];
    int assigns, revokes;
    size_t want;
    bool commit;
} seen_t;

static void seen_msg(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *m)
{
    seen_t *s = arg;
    if (s->n < MAX_SEEN) {
        snprintf(s->value[s->n], 32, "%.*s", (int)m->value_len, (const char *)m->value);
        snprintf(s->key[s->n], 32, "%.*s", (int)m->key_len, (const char *)m->key);
        snprintf(s->id[s->n], 65, "%s", m->id);
        snprintf(s->topic[s->n], 32, "%s", m->topic);
        s->partition[s->n] = m->partition;
    }
    s->n++;
    if (s->commit)
        lw_bus_commit(c, m);
}

static void seen_assign(void *arg, lw_bus_consumer_t *c, const lw_bus_partition_t *p, size_t n)
{
    (void)c;
    seen_t *s = arg;
    s->assigns++;
    for (size_t i = 0; i < n; i++)
        if (p[i].partition < 64)
            s->held[p[i].partition] = true;
}

static void seen_revoke(void *arg, lw_bus_consumer_t *c, const lw_bus_partition_t *p, size_t n)
{
    (void)c;
    seen_t *s = arg;
    s->revokes++;
    for (size_t i = 0; i < n; i++)
        if (p[i].partition < 64)
            s->held[p[i].partition] = false;
}

static const lw_bus_handler_t seen_handler = {
    .on_message = seen_msg, .on_assign = seen_assign, .on_revoke = seen_revoke};

static bool seen_enough(void *arg)
{
    seen_t *s = arg;
    return s->n >= s->want;
}

static int held_count(const seen_t *s)
{
    int n = 0;
    for (int i = 0; i < 64; i++)
        n += s->held[i];
    return n;
}

static bool seen_assigned(void *arg)
{
    return held_count(arg) > 0;
}

/* ---- configuration ---------------------------------------------------------------- */

static void test_lw_bus_config_register__defaults(void **state)
{
    (void)state;
    lw_config_t *cfg = config_new(NULL);
    assert_string_equal(lw_config_str(cfg, "bus.brokers"), "embedded");
    assert_string_equal(lw_config_str(cfg, "bus.topic-prefix"), "lw.");
    assert_int_equal(lw_config_int(cfg, "bus.partitions"), 16);
    assert_int_equal(lw_config_duration_ms(cfg, "bus.flush-timeout"), 3000);
    assert_true(lw_config_known(cfg, "bus.kafka.sasl.password"));
    lw_config_free(cfg);
}

static void test_lw_bus_config_register__bad_prefix_rejected(void **state)
{
    (void)state;
    lw_err_t err;
    lw_config_t *cfg = config_new(NULL);
    assert_int_equal(lw_config_set(cfg, "bus.topic-prefix", "a b", "flag", &err), -1);
    assert_string_equal(lw_err_name(&err), "config_invalid");
    assert_non_null(strstr(err.message, "bus.topic-prefix"));
    assert_int_equal(lw_config_set(cfg, "bus.partitions", "0", "flag", &err), -1);
    assert_string_equal(lw_err_name(&err), "config_invalid");
    assert_int_equal(lw_config_set(cfg, "bus.brokers", "", "flag", &err), -1);
    lw_config_free(cfg);
}

static void test_lw_bus_kafka_prop_secret__names(void **state)
{
    (void)state;
    assert_true(lw_bus_kafka_prop_secret("sasl.password"));
    assert_true(lw_bus_kafka_prop_secret("ssl.key.password"));
    assert_true(lw_bus_kafka_prop_secret("sasl.oauthbearer.client.secret"));
    assert_true(lw_bus_kafka_prop_secret("ssl.key.pem"));
    assert_true(lw_bus_kafka_prop_secret("my.private.key"));
    assert_true(lw_bus_kafka_prop_secret("sasl.jaas.config"));
    assert_false(lw_bus_kafka_prop_secret("security.protocol"));
    assert_false(lw_bus_kafka_prop_secret("sasl.username"));
    assert_false(lw_bus_kafka_prop_secret("ssl.key.location"));
}

static void test_lw_bus_new__bad_kafka_property_named(void **state)
{
    (void)state;
    uv_loop_t loop;
    lw_err_t err;
    uv_loop_init(&loop);
    const char *kv[] = {"bus.kafka.security.protocol", "carrier-pigeon", "bus.kafka.sasl.password",
                        "hunter2", NULL};
    lw_config_t *cfg = config_new(kv);
    assert_null(lw_bus_new(&loop, cfg, &err));
    assert_string_equal(lw_err_name(&err), "config_invalid");
    assert_non_null(strstr(err.message, "bus.kafka.security.protocol"));
    assert_null(strstr(err.message, "hunter2"));
    lw_config_free(cfg);

    /* A secret value is never echoed, even when librdkafka rejects it. */
    const char *kv2[] = {"bus.kafka.ssl.key.password", "hunter2", "bus.kafka.no.such.prop", "x",
                         NULL};
    cfg = config_new(kv2);
    assert_null(lw_bus_new(&loop, cfg, &err));
    assert_null(strstr(err.message, "hunter2"));
    lw_config_free(cfg);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- embedded bus ----------------------------------------------------------------- */

static void test_lw_bus_topic__prefix(void **state)
{
    (void)state;
    fixture_t f;
    const char *kv[] = {"bus.topic-prefix", "acme.", NULL};
    fixture_start(&f, kv);
    char buf[64];
    assert_string_equal(lw_bus_topic(f.bus, "tenant", buf, sizeof(buf)), "acme.tenant");
    const char *b = lw_bus_bootstrap(f.bus);
    assert_int_equal(strncmp(b, "127.0.0.1:", 10), 0);
    fixture_stop(&f);
}

static void test_lw_bus_ready__embedded_then_stopped(void **state)
{
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    assert_true(run_until(&f.loop, bus_is_ready, f.bus, 10000));
    int done = 0;
    lw_bus_stop(f.bus, stop_done, &done);
    assert_false(lw_bus_ready(f.bus));
    assert_true(run_until(&f.loop, int_set, &done, 10000));
    lw_bus_free(f.bus);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f.loop), 0);
    lw_config_free(f.cfg);
}

static void test_lw_bus_publish__keyed_with_id_roundtrip(void **state)
{
    (void)state;
    fixture_t f;
    const char *kv[] = {"bus.partitions", "8", NULL};
    fixture_start(&f, kv);
    static seen_t s;
    memset(&s, 0, sizeof(s));
    s.want = 200;
    lw_err_t err;
    const char *names[] = {"rt"};
    assert_non_null(lw_bus_subscribe(f.bus, "g-rt", names, 1, &seen_handler, &s, &err));
    assert_true(run_until(&f.loop, seen_assigned, &s, 20000));
    assert_int_equal(held_count(&s), 8);
    for (int i = 0; i < 200; i++) {
        char key[16], value[16];
        int kl = snprintf(key, sizeof(key), "dev-%d", i % 10);
        int vl = snprintf(value, sizeof(value), "v%d", i);
        assert_int_equal(lw_bus_publish(f.bus, "rt", key, (size_t)kl, value, (size_t)vl, &err), 0);
    }
    assert_true(run_until(&f.loop, seen_enough, &s, 20000));
    assert_int_equal(s.n, 200);
    int32_t part_of_key[10];
    for (int k = 0; k < 10; k++)
        part_of_key[k] = -1;
    bool value_seen[200] = {false};
    for (size_t i = 0; i < s.n; i++) {
        assert_string_equal(s.topic[i], "lw.rt");
        assert_int_equal(strlen(s.id[i]), 32);
        assert_int_equal(strspn(s.id[i], "0123456789abcdef"), 32);
        int k = atoi(s.key[i] + 4), v = atoi(s.value[i] + 1);
        assert_int_equal(k, v % 10);
        value_seen[v] = true;
        /* One key, one partition. */
        if (part_of_key[k] < 0)
            part_of_key[k] = s.partition[i];
        assert_int_equal(part_of_key[k], s.partition[i]);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s.id[i], s.id[j]);
    }
    for (int v = 0; v < 200; v++)
        assert_true(value_seen[v]);
    lw_bus_stats_t st;
    lw_bus_stats(f.bus, &st);
    assert_int_equal(st.published, 200);
    assert_int_equal(st.consumed, 200);
    assert_int_equal(st.lost, 0);
    fixture_stop(&f);
}

/* The Java client's partitioner (Kafka's Utils.murmur2 and
 * DefaultPartitioner: toPositive(murmur2(key)) % partitions), written out here as the
 * oracle: librdkafka's murmur2_random must place keys exactly where Java clients do. */
static int32_t java_murmur2(const uint8_t *data, size_t len)
{
    const uint32_t m = 0x5bd1e995u;
    uint32_t h = 0x9747b28cu ^ (uint32_t)len;
    size_t n4 = len / 4;
    for (size_t i = 0; i < n4; i++) {
        uint32_t k = (uint32_t)data[4 * i] | (uint32_t)data[4 * i + 1] << 8 |
                     (uint32_t)data[4 * i + 2] << 16 | (uint32_t)data[4 * i + 3] << 24;
        k *= m;
        k ^= k >> 24;
        k *= m;
        h *= m;
        h ^= k;
    }
    size_t t = len & ~(size_t)3;
    switch (len % 4) {
    case 3:
        h ^= (uint32_t)data[t + 2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)data[t + 1] << 8;
        /* fall through */
    case 1:
        h ^= data[t];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return (int32_t)h;
}

static void test_java_murmur2__kafka_vectors(void **state)
{
    (void)state;
    /* Kafka's UtilsTest.testMurmur2. */
    assert_int_equal(java_murmur2((const uint8_t *)"21", 2), -973932308);
    assert_int_equal(java_murmur2((const uint8_t *)"foobar", 6), -790332482);
    assert_int_equal(java_murmur2((const uint8_t *)"a-little-bit-long-string", 24), -985981536);
    assert_int_equal(java_murmur2((const uint8_t *)"a-little-bit-longer-string", 26), -1486304829);
    assert_int_equal(java_murmur2((const uint8_t *)"abc", 3), 479470107);
}

static void test_lw_bus_publish__partition_matches_java_client(void **state)
{
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL); /* 16 partitions */
    static seen_t s;
    memset(&s, 0, sizeof(s));
    s.want = 300;
    lw_err_t err;
    const char *names[] = {"java"};
    assert_non_null(lw_bus_subscribe(f.bus, "g-java", names, 1, &seen_handler, &s, &err));
    assert_true(run_until(&f.loop, seen_assigned, &s, 20000));
    for (int i = 0; i < 300; i++) {
        char key[32];
        int kl = snprintf(key, sizeof(key), "tenant-%d/device-%d", i % 7, i);
        assert_int_equal(lw_bus_publish(f.bus, "java", key, (size_t)kl, "v", 1, &err), 0);
    }
    assert_true(run_until(&f.loop, seen_enough, &s, 20000));
    for (size_t i = 0; i < s.n; i++) {
        int32_t h = java_murmur2((const uint8_t *)s.key[i], strlen(s.key[i]));
        assert_int_equal(s.partition[i], (h & 0x7fffffff) % 16);
    }
    fixture_stop(&f);
}

static bool delivered_all(void *arg)
{
    lw_bus_stats_t st;
    lw_bus_stats(arg, &st);
    return st.delivered + st.failed >= st.published;
}

static void test_lw_bus_stop__flushes_queued_messages(void **state)
{
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    lw_err_t err;
    lw_metrics_t *m = lw_metrics_new();
    lw_bus_set_metrics(f.bus, m);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(lw_bus_publish(f.bus, "flush", "k", 1, "value", 5, &err), 0);
    int done = 0;
    lw_bus_stop(f.bus, stop_done, &done);
    assert_int_equal(lw_bus_publish(f.bus, "flush", "k", 1, "late", 4, &err), 0);
    assert_true(run_until(&f.loop, int_set, &done, 10000));
    lw_bus_stats_t st;
    lw_bus_stats(f.bus, &st);
    assert_int_equal(st.published, 5001);
    assert_int_equal(st.delivered, 5001);
    assert_int_equal(st.failed, 0);
    assert_int_equal(lw_bus_publish(f.bus, "flush", "k", 1, "after", 5, &err), -1);
    assert_string_equal(lw_err_name(&err), "bus_publish");
    char *text = NULL;
    assert_true(lw_metrics_render(m, &text) > 0);
    assert_non_null(strstr(text, "lwstack_bus_delivered_total{topic=\"lw.flush\"} 5001"));
    free(text);
    lw_bus_free(f.bus);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f.loop), 0);
    lw_config_free(f.cfg);
    lw_metrics_free(m);
}

static void test_lw_bus_stop__unreachable_brokers_bounded(void **state)
{
    (void)state;
    fixture_t f;
    /* Port 1 on loopback: connection refused at once. */
    const char *kv[] = {"bus.brokers", "127.0.0.1:1", "bus.flush-timeout", "500ms", NULL};
    fixture_start(&f, kv);
    lw_err_t err;
    for (int i = 0; i < 10; i++)
        assert_int_equal(lw_bus_publish(f.bus, "nowhere", "k", 1, "v", 1, &err), 0);
    uint64_t t0 = lw_clock_mono_ms();
    run_until(&f.loop, bus_is_ready, f.bus, 1500);
    assert_false(lw_bus_ready(f.bus));
    int done = 0;
    t0 = lw_clock_mono_ms();
    lw_bus_stop(f.bus, stop_done, &done);
    assert_true(run_until(&f.loop, int_set, &done, 5000));
    uint64_t took = lw_clock_mono_ms() - t0;
    assert_true(took < 2500);
    lw_bus_stats_t st;
    lw_bus_stats(f.bus, &st);
    assert_int_equal(st.published, 10);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.failed, 10);
    lw_bus_free(f.bus);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f.loop), 0);
    lw_config_free(f.cfg);
}

typedef struct two {
    seen_t *a, *b;
} two_t;

static bool two_split(void *arg)
{
    two_t *t = arg;
    return held_count(t->a) > 0 && held_count(t->b) > 0 &&
           held_count(t->a) + held_count(t->b) == 16;
}

static void test_lw_bus_subscribe__group_members_split_partitions(void **state)
{
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    static seen_t a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    lw_err_t err;
    const char *names[] = {"split"};
    assert_non_null(lw_bus_subscribe(f.bus, "g-split", names, 1, &seen_handler, &a, &err));
    assert_non_null(lw_bus_subscribe(f.bus, "g-split", names, 1, &seen_handler, &b, &err));
    two_t t = {&a, &b};
    assert_true(run_until(&f.loop, two_split, &t, 30000));
    for (int p = 0; p < 16; p++)
        assert_true(a.held[p] != b.held[p]); /* exactly one holds it */
    fixture_stop(&f);
}

static void test_lw_bus_subscribe__private_group_sees_new_messages_only(void **state)
{
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    lw_err_t err;
    assert_int_equal(lw_bus_publish(f.bus, "bcast", "k", 1, "old", 3, &err), 0);
    assert_true(run_until(&f.loop, delivered_all, f.bus, 10000));
    static seen_t s;
    memset(&s, 0, sizeof(s));
    const char *names[] = {"bcast"};
    assert_non_null(lw_bus_subscribe(f.bus, NULL, names, 1, &seen_handler, &s, &err));
    assert_true(run_until(&f.loop, seen_assigned, &s, 20000));
    /* Give the fetchers time to resolve "latest" before publishing. */
    uint64_t t0 = lw_clock_mono_ms();
    while (lw_clock_mono_ms() - t0 < 1500)
        uv_run(&f.loop, UV_RUN_NOWAIT);
    assert_int_equal(lw_bus_publish(f.bus, "bcast", "k", 1, "new", 3, &err), 0);
    s.want = 1;
    assert_true(run_until(&f.loop, seen_enough, &s, 10000));
    t0 = lw_clock_mono_ms();
    while (lw_clock_mono_ms() - t0 < 300)
        uv_run(&f.loop, UV_RUN_NOWAIT);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.value[0], "new");
    fixture_stop(&f);
}

static void test_lw_bus_subscribe__no_handler_fails_without_callbacks(void **state)
{
    (void)state;
    fixture_t f;
    fixture_start(&f, NULL);
    lw_err_t err;
    const char *names[] = {"x"};
    lw_bus_handler_t h = {.on_message = NULL};
    assert_null(lw_bus_subscribe(f.bus, "g", names, 1, &h, NULL, &err));
    assert_string_equal(lw_err_name(&err), "invalid_argument");
    fixture_stop(&f);
}

/* A consumer whose committed offset the broker no longer holds: the skipped messages are
 * counted as lost, exactly. */
static void test_lw_bus_consumer__offset_out_of_range_counts_loss(void **state)
{
    (void)state;
    fixture_t owner;
    const char *kv[] = {"bus.partitions", "1", NULL};
    fixture_start(&owner, kv);
    lw_err_t err;
    const char *topics[] = {"lw.loss"};
    assert_int_equal(lw_bus_ensure_topics(owner.bus, topics, 1, &err), 0);

    /* A member of group g-loss consumes and commits message 0, then leaves. */
    const char *ext[] = {"bus.brokers", lw_bus_bootstrap(owner.bus), "bus.partitions", "1", NULL};
    fixture_t c1;
    fixture_start(&c1, ext);
    static seen_t s;
    memset(&s, 0, sizeof(s));
    s.commit = true;
    s.want = 1;
    const char *names[] = {"loss"};
    assert_non_null(lw_bus_subscribe(c1.bus, "g-loss", names, 1, &seen_handler, &s, &err));
    assert_int_equal(lw_bus_publish(owner.bus, "loss", "k", 1, "first", 5, &err), 0);
    assert_true(run_until(&c1.loop, seen_enough, &s, 20000));
    fixture_stop(&c1);

    /* 8 MiB more: the mock keeps only the newest 5 MiB of the partition. */
    static char big[16384];
    memset(big, 'x', sizeof(big));
    for (int i = 0; i < 512; i++)
        assert_int_equal(lw_bus_publish(owner.bus, "loss", "k", 1, big, sizeof(big), &err), 0);
    assert_true(run_until(&owner.loop, delivered_all, owner.bus, 20000));

    fixture_t c2;
    fixture_start(&c2, ext);
    static seen_t s2;
    memset(&s2, 0, sizeof(s2));
    s2.want = 1;
    assert_non_null(lw_bus_subscribe(c2.bus, "g-loss", names, 1, &seen_handler, &s2, &err));
    assert_true(run_until(&c2.loop, seen_enough, &s2, 20000));
    lw_bus_stats_t st = {0};
    /* Drain what is left (every retained message, then nothing more arrives). */
    size_t last = 0;
    uint64_t quiet = lw_clock_mono_ms();
    while (lw_clock_mono_ms() - quiet < 1500) {
        uv_run(&c2.loop, UV_RUN_NOWAIT);
        if (s2.n != last) {
            last = s2.n;
            quiet = lw_clock_mono_ms();
        }
    }
    lw_bus_stats(c2.bus, &st);
    assert_int_equal(st.offset_resets, 1);
    assert_true(st.lost > 0);
    /* Offsets 1..512 were due: each one either consumed or counted lost. */
    assert_int_equal(st.lost + st.consumed, 512);
    fixture_stop(&c2);
    fixture_stop(&owner);
}

/* Against `lwstack kafka-dev` (the mock cluster has no CreateTopics) topics that exist are
 * accepted and missing ones are created by the broker on first use. */
/* Partitions of `topic` on the cluster at `bootstrap` as a separate client sees them: 0
 * when the cluster does not list it. Asks for all topics, since a metadata request naming
 * the topic would have the mock cluster auto-create it. */
static int cluster_topic_partitions(const char *bootstrap, const char *topic)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof errstr),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    assert_non_null(rk);
    const struct rd_kafka_metadata *md = NULL;
    assert_int_equal(rd_kafka_metadata(rk, 1, NULL, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    int n = 0;
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0 &&
            md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            n = md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return n;
}

static void test_lw_bus_ensure_topics__broker_without_create_topics(void **state)
{
    (void)state;
    fixture_t owner;
    fixture_start(&owner, NULL);
    lw_err_t err;
    const char *have[] = {"lw.have"};
    assert_int_equal(lw_bus_ensure_topics(owner.bus, have, 1, &err), 0);
    const char *ext[] = {"bus.brokers", lw_bus_bootstrap(owner.bus), NULL};
    fixture_t f;
    fixture_start(&f, ext);
    assert_int_equal(cluster_topic_partitions(lw_bus_bootstrap(owner.bus), "lw.fresh"), 0);
    lw_err_clear(&err);
    const char *both[] = {"lw.have", "lw.fresh"};
    int rc = lw_bus_ensure_topics(f.bus, both, 2, &err);
    if (rc != 0)
        fail_msg("%s: %s", lw_err_name(&err), err.message);
    /* lw.have as its owner created it (bus.partitions, default 16); lw.fresh auto-created
     * by the mock cluster with its default of 4. */
    assert_int_equal(cluster_topic_partitions(lw_bus_bootstrap(owner.bus), "lw.have"), 16);
    assert_int_equal(cluster_topic_partitions(lw_bus_bootstrap(owner.bus), "lw.fresh"), 4);
    fixture_stop(&f);
    fixture_stop(&owner);
}

static bool bus_not_ready(void *arg)
{
    return !lw_bus_ready(arg);
}

static void test_lw_bus_ready__false_when_brokers_go_away(void **state)
{
    (void)state;
    fixture_t owner;
    fixture_start(&owner, NULL);
    const char *ext[] = {"bus.brokers", lw_bus_bootstrap(owner.bus), "bus.health-interval", "500ms",
                         NULL};
    fixture_t f;
    fixture_start(&f, ext);
    assert_true(run_until(&f.loop, bus_is_ready, f.bus, 10000));
    fixture_stop(&owner); /* the cluster goes with it */
    assert_true(run_until(&f.loop, bus_not_ready, f.bus, 10000));
    fixture_stop(&f);
}

/* Brokers gone while a consumer is in a group: the stop still ends by the flush timeout. */
static void test_lw_bus_stop__consumer_without_brokers_bounded(void **state)
{
    (void)state;
    fixture_t owner;
    fixture_start(&owner, NULL);
    const char *topics[] = {"lw.gone"};
    lw_err_t err;
    assert_int_equal(lw_bus_ensure_topics(owner.bus, topics, 1, &err), 0);
    const char *ext[] = {"bus.brokers", lw_bus_bootstrap(owner.bus), "bus.flush-timeout", "1s",
                         NULL};
    fixture_t f;
    fixture_start(&f, ext);
    static seen_t s;
    memset(&s, 0, sizeof(s));
    const char *names[] = {"gone"};
    assert_non_null(lw_bus_subscribe(f.bus, "g-gone", names, 1, &seen_handler, &s, &err));
    assert_true(run_until(&f.loop, seen_assigned, &s, 20000));
    fixture_stop(&owner);
    assert_int_equal(lw_bus_publish(f.bus, "gone", "k", 1, "v", 1, &err), 0);
    int done = 0;
    uint64_t t0 = lw_clock_mono_ms();
    lw_bus_stop(f.bus, stop_done, &done);
    assert_true(run_until(&f.loop, int_set, &done, 5000));
    assert_true(lw_clock_mono_ms() - t0 < 2000);
    lw_bus_stats_t st;
    lw_bus_stats(f.bus, &st);
    assert_int_equal(st.failed, 1);
    lw_bus_free(f.bus);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f.loop), 0);
    lw_config_free(f.cfg);
}

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* lw_bus_free without lw_bus_stop: everything is released once the loop runs (ASan checks
 * the memory), whether the bus's handles are still open or an owner closed every handle of
 * the loop first. */
static void run_free_without_stop(bool walk_first)
{
    fixture_t f;
    fixture_start(&f, NULL);
    lw_err_t err;
    static seen_t s;
    memset(&s, 0, sizeof(s));
    const char *names[] = {"freed"};
    assert_non_null(lw_bus_subscribe(f.bus, "g-free", names, 1, &seen_handler, &s, &err));
    assert_non_null(lw_bus_subscribe(f.bus, NULL, names, 1, &seen_handler, &s, &err));
    assert_int_equal(lw_bus_publish(f.bus, "freed", "k", 1, "v", 1, &err), 0);
    run_until(&f.loop, seen_assigned, &s, 10000);
    if (walk_first) {
        uv_walk(&f.loop, walk_close, NULL);
        uv_run(&f.loop, UV_RUN_DEFAULT);
    }
    lw_bus_free(f.bus);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f.loop), 0);
    lw_config_free(f.cfg);
}

static void test_lw_bus_free__without_stop(void **state)
{
    (void)state;
    run_free_without_stop(false);
}

static void test_lw_bus_free__after_owner_closed_every_handle(void **state)
{
    (void)state;
    run_free_without_stop(true);
}

int main(void)
{
    lw_log_setup(LW_LOG_WARN, LW_LOG_LOGFMT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lw_bus_config_register__defaults),
        cmocka_unit_test(test_lw_bus_config_register__bad_prefix_rejected),
        cmocka_unit_test(test_lw_bus_kafka_prop_secret__names),
        cmocka_unit_test(test_lw_bus_new__bad_kafka_property_named),
        cmocka_unit_test(test_lw_bus_topic__prefix),
        cmocka_unit_test(test_lw_bus_ready__embedded_then_stopped),
        cmocka_unit_test(test_lw_bus_ready__false_when_brokers_go_away),
        cmocka_unit_test(test_lw_bus_publish__keyed_with_id_roundtrip),
        cmocka_unit_test(test_java_murmur2__kafka_vectors),
        cmocka_unit_test(test_lw_bus_publish__partition_matches_java_client),
        cmocka_unit_test(test_lw_bus_stop__flushes_queued_messages),
        cmocka_unit_test(test_lw_bus_stop__unreachable_brokers_bounded),
        cmocka_unit_test(test_lw_bus_subscribe__group_members_split_partitions),
        cmocka_unit_test(test_lw_bus_subscribe__private_group_sees_new_messages_only),
        cmocka_unit_test(test_lw_bus_subscribe__no_handler_fails_without_callbacks),
        cmocka_unit_test(test_lw_bus_consumer__offset_out_of_range_counts_loss),
        cmocka_unit_test(test_lw_bus_ensure_topics__broker_without_create_topics),
        cmocka_unit_test(test_lw_bus_stop__consumer_without_brokers_bounded),
        cmocka_unit_test(test_lw_bus_free__without_stop),
        cmocka_unit_test(test_lw_bus_free__after_owner_closed_every_handle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
