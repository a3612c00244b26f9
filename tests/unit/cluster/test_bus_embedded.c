/* The embedded bus under load: 300,000 messages published and consumed in one process
 * through librdkafka's mock cluster, every one counted (DESIGN.md §2: one in-process
 * set-up stalled after about 150,000 messages). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <uv.h>

#include "cluster/bus.h"
#include "cluster/clock.h"
#include "cluster/config.h"
#include "cluster/log.h"

#define LOAD_N       300000u
#define LOAD_TIMEOUT 240000u /* ms: generous for ASan builds on a shared 2-core machine */

typedef struct load {
    uv_loop_t loop;
    lw_config_t *cfg;
    lw_bus_t *bus;
    uv_timer_t pub, watch;
    uint32_t next;   /* next value to publish */
    uint8_t *seen;   /* per value: times consumed */
    uint32_t unique; /* values consumed at least once */
    uint64_t dups;
    uint64_t bad; /* malformed values or ids */
    uint64_t t0, last_progress_ms;
    uint32_t last_unique;
    bool assigned;
    bool stopped;
    int done;
} load_t;

static void on_message(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *m)
{
    load_t *l = arg;
    char buf[16];
    /* Value: "v<index>" padded with '.' to 100 bytes. */
    if (m->value_len != 100 || ((const char *)m->value)[0] != 'v' || strlen(m->id) != 32) {
        l->bad++;
        return;
    }
    size_t n = strcspn((const char *)m->value + 1, ".");
    if (n == 0 || n >= sizeof(buf)) {
        l->bad++;
        return;
    }
    memcpy(buf, (const char *)m->value + 1, n);
    buf[n] = '\0';
    unsigned long v = strtoul(buf, NULL, 10);
    if (v >= LOAD_N) {
        l->bad++;
        return;
    }
    if (l->seen[v]++ == 0)
        l->unique++;
    else
        l->dups++;
    lw_bus_commit(c, m);
}

static void on_assign(void *arg, lw_bus_consumer_t *c, const lw_bus_partition_t *p, size_t n)
{
    (void)c;
    (void)p;
    load_t *l = arg;
    if (n > 0)
        l->assigned = true;
}

static void publish_cb(uv_timer_t *t)
{
    load_t *l = t->data;
    if (!l->assigned)
        return;
    char value[100];
    lw_err_t err;
    /* Up to 20,000 per 5 ms tick; a full queue waits for the next tick. */
    for (int i = 0; i < 20000 && l->next < LOAD_N; i++) {
        char key[16];
        int kl = snprintf(key, sizeof(key), "dev%u", l->next % 5000);
        memset(value, '.', sizeof(value));
        int vl = snprintf(value, sizeof(value), "v%u", l->next);
        value[vl] = '.';
        if (lw_bus_publish(l->bus, "load", key, (size_t)kl, value, sizeof(value), &err) != 0)
            break;
        l->next++;
    }
    if (l->next >= LOAD_N)
        uv_timer_stop(t);
}

static void stopped_cb(void *arg)
{
    load_t *l = arg;
    l->done = 1;
    uv_close((uv_handle_t *)&l->pub, NULL);
    uv_close((uv_handle_t *)&l->watch, NULL);
}

static void watch_cb(uv_timer_t *t)
{
    load_t *l = t->data;
    uint64_t now = lw_clock_mono_ms();
    if (l->unique != l->last_unique) {
        l->last_unique = l->unique;
        l->last_progress_ms = now;
    }
    bool finished = l->unique >= LOAD_N;
    /* A stall: nothing new consumed for 30 s, or the overall timeout. */
    bool stalled = now - l->last_progress_ms > 30000 || now - l->t0 > LOAD_TIMEOUT;
    if ((finished || stalled) && !l->stopped) {
        if (!finished)
            print_error("stalled: published %u, consumed %u unique\n", l->next, l->unique);
        l->stopped = true;
        uv_timer_stop(&l->pub);
        uv_timer_stop(&l->watch);
        lw_bus_stop(l->bus, stopped_cb, l);
    }
}

static void test_lw_bus__embedded_300k_messages_all_consumed(void **state)
{
    (void)state;
    static load_t l;
    memset(&l, 0, sizeof(l));
    lw_err_t err;
    l.seen = calloc(LOAD_N, 1);
    assert_non_null(l.seen);
    assert_int_equal(uv_loop_init(&l.loop), 0);
    l.cfg = lw_config_new();
    assert_int_equal(lw_bus_config_register(l.cfg), 0);
    l.bus = lw_bus_new(&l.loop, l.cfg, &err);
    assert_non_null(l.bus);
    const char *names[] = {"load"};
    lw_bus_handler_t h = {.on_message = on_message, .on_assign = on_assign};
    assert_non_null(lw_bus_subscribe(l.bus, "g-load", names, 1, &h, &l, &err));
    uv_timer_init(&l.loop, &l.pub);
    uv_timer_init(&l.loop, &l.watch);
    l.pub.data = l.watch.data = &l;
    l.t0 = l.last_progress_ms = lw_clock_mono_ms();
    uv_timer_start(&l.pub, publish_cb, 5, 5);
    uv_timer_start(&l.watch, watch_cb, 100, 100);
    uv_run(&l.loop, UV_RUN_DEFAULT);

    lw_bus_stats_t st;
    lw_bus_stats(l.bus, &st);
    print_message("published %llu delivered %llu consumed %llu unique %u dups %llu in %llu ms\n",
                  (unsigned long long)st.published, (unsigned long long)st.delivered,
                  (unsigned long long)st.consumed, l.unique, (unsigned long long)l.dups,
                  (unsigned long long)(lw_clock_mono_ms() - l.t0));
    assert_int_equal(l.done, 1);
    assert_int_equal(st.published, LOAD_N);
    assert_int_equal(st.delivered, LOAD_N);
    assert_int_equal(st.failed, 0);
    assert_int_equal(l.bad, 0);
    assert_int_equal(l.unique, LOAD_N);
    assert_int_equal(l.dups, 0); /* one member, no rebalance, no crash: exactly once */
    assert_int_equal(st.lost, 0);
    assert_int_equal(st.offset_resets, 0);
    lw_bus_free(l.bus);
    uv_run(&l.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&l.loop), 0);
    lw_config_free(l.cfg);
    free(l.seen);
}

int main(void)
{
    lw_log_setup(LW_LOG_WARN, LW_LOG_LOGFMT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lw_bus__embedded_300k_messages_all_consumed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
