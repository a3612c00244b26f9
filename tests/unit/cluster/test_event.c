/* Unit tests of cluster/event.c: the event JSON every component publishes on lw.events,
 * byte for byte (the time replaced), keyed by the tenant, through the embedded bus. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "cluster/api_codec.h"
#include "cluster/bus.h"
#include "cluster/config.h"
#include "cluster/event.h"
#include "cluster/log.h"

typedef struct fx {
    uv_loop_t loop;
    lw_config_t *cfg;
    lw_bus_t *bus;
    uv_timer_t timer;
    bool assigned, published, stopped;
    int n;
    char key[2][32];
    char value[2][1024];
} fx_t;

static void on_message(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *m)
{
    (void)c;
    fx_t *f = arg;
    if (f->n >= 2)
        return;
    snprintf(f->key[f->n], sizeof f->key[0], "%.*s", (int)m->key_len, (const char *)m->key);
    snprintf(f->value[f->n], sizeof f->value[0], "%.*s", (int)m->value_len, (const char *)m->value);
    f->n++;
}

static void on_assign(void *arg, lw_bus_consumer_t *c, const lw_bus_partition_t *p, size_t n)
{
    (void)c;
    (void)p;
    fx_t *f = arg;
    if (n > 0)
        f->assigned = true;
}

static void stopped(void *arg)
{
    fx_t *f = arg;
    uv_close((uv_handle_t *)&f->timer, NULL);
}

static void tick(uv_timer_t *t)
{
    fx_t *f = t->data;
    if (f->assigned && !f->published) {
        f->published = true;
        lw_event_t full = {
            .module = "test",
            .tenant = "acme",
            .name = "as.up.data.forward",
            .identifiers = lw_event_device_ids("app1", "dev1"),
            .data = json_pack("{si}", "f_cnt", 7),
            .correlation_id = "as:up:01",
            .visibility = "RIGHT_APPLICATION_TRAFFIC_READ",
            .unique_id = "u1",
        };
        assert_int_equal(lw_event_publish(f->bus, &full), 0);
        lw_event_t bare = {.tenant = "globex", .name = "user.update"};
        assert_int_equal(lw_event_publish(f->bus, &bare), 0);
        /* Nowhere to go: dropped, what was given is freed (ASan would tell). */
        lw_event_t none = {.tenant = "", .name = "x", .data = json_object()};
        assert_int_equal(lw_event_publish(f->bus, &none), -1);
        lw_event_t nobus = {.tenant = "acme", .name = "x", .identifiers = json_array()};
        assert_int_equal(lw_event_publish(NULL, &nobus), -1);
    }
    if (f->n == 2 && !f->stopped) {
        f->stopped = true;
        uv_timer_stop(t);
        lw_bus_stop(f->bus, stopped, f);
    }
}

/* The value with its "time" replaced by TIME (checked to be RFC 3339 first). */
static void untime(char *v)
{
    char *p = strstr(v, "\"time\":\"");
    assert_non_null(p);
    p += 8;
    char *q = strchr(p, '"');
    assert_non_null(q);
    char t[64];
    snprintf(t, sizeof t, "%.*s", (int)(q - p), p);
    assert_true(lw_api_time_valid(t));
    memmove(p + 4, q, strlen(q) + 1);
    memcpy(p, "TIME", 4);
}

static void test_lw_event_publish__json(void **state)
{
    (void)state;
    static fx_t f;
    lw_err_t err;
    assert_int_equal(uv_loop_init(&f.loop), 0);
    f.cfg = lw_config_new();
    assert_int_equal(lw_bus_config_register(f.cfg), 0);
    f.bus = lw_bus_new(&f.loop, f.cfg, &err);
    assert_non_null(f.bus);
    const char *names[] = {"events"};
    lw_bus_handler_t h = {.on_message = on_message, .on_assign = on_assign};
    lw_bus_sub_opts_t o = {.from_beginning = true};
    assert_non_null(lw_bus_subscribe_opts(f.bus, NULL, names, 1, &h, &f, &o, &err));
    uv_timer_init(&f.loop, &f.timer);
    f.timer.data = &f;
    uv_timer_start(&f.timer, tick, 10, 10);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(f.n, 2);
    int a = strcmp(f.key[0], "acme") == 0 ? 0 : 1;
    assert_string_equal(f.key[a], "acme");
    assert_string_equal(f.key[1 - a], "globex");
    untime(f.value[a]);
    assert_string_equal(
        f.value[a],
        "{\"name\":\"as.up.data.forward\",\"time\":\"TIME\",\"identifiers\":[{\"device_ids\":{"
        "\"device_id\":\"dev1\",\"application_ids\":{\"application_id\":\"app1\"}}}],\"data\":{"
        "\"f_cnt\":7},\"correlation_ids\":[\"as:up:01\"],\"context\":{\"tenant-id\":\"acme\"},"
        "\"visibility\":{\"rights\":[\"RIGHT_APPLICATION_TRAFFIC_READ\"]},\"unique_id\":\"u1\"}");
    untime(f.value[1 - a]);
    char *u = strstr(f.value[1 - a], "\"unique_id\":\"");
    assert_non_null(u);
    assert_int_equal(strspn(u + 13, "0123456789abcdef"), 32);
    memcpy(u + 13, "U", 1);
    memmove(u + 14, u + 13 + 32, strlen(u + 13 + 32) + 1);
    assert_string_equal(f.value[1 - a],
                        "{\"name\":\"user.update\",\"time\":\"TIME\",\"identifiers\":[],"
                        "\"correlation_ids\":[],\"context\":{\"tenant-id\":\"globex\"},"
                        "\"unique_id\":\"U\"}");
    lw_bus_free(f.bus);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f.loop), 0);
    lw_config_free(f.cfg);
}

int main(void)
{
    lw_log_setup(LW_LOG_ERROR, LW_LOG_LOGFMT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lw_event_publish__json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
