/* A small program driving cluster/bus.c for the multi-process bus tests
 * (tests/integration/test_bus_*.sh). It runs one libuv loop with one lw_bus_t, as lwstack
 * does, and stops on SIGINT/SIGTERM through lw_bus_stop.
 *
 *   bus_driver produce --brokers B --topic NAME [--count N] [--rate PER_S] [--from I]
 *       Publishes values "m<I>" (I from --from, default 0) keyed "k<I mod 997>", at most
 *       PER_S a second (0: as fast as the queue takes them), N of them (0: until a
 *       signal). Then stops the bus (flush) and prints
 *       "published=P delivered=D failed=F" on stdout. Exit 0 when F is 0.
 *   bus_driver consume --brokers B --topic NAME --group G --out FILE --assign FILE
 *       Appends "value partition offset id" per message to FILE with write(2), then
 *       commits it (the line is durable before its offset is committed). After each
 *       rebalance writes the held partitions ("0 3 5", sorted) to the assign file.
 *
 * Common: --prefix P (bus.topic-prefix), --kafka K=V (bus.kafka.K, repeatable). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "cluster/bus.h"
#include "cluster/config.h"
#include "cluster/log.h"

#define MAX_PARTS 1024

typedef struct driver {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    uv_timer_t tick;
    lw_config_t *cfg;
    lw_bus_t *bus;
    const char *topic;
    /* produce */
    uint64_t count, rate, next, end;
    uint64_t published;
    /* consume */
    int out_fd;
    const char *assign_path;
    bool held[MAX_PARTS];
    bool stopping;
} driver_t;

static void usage(void)
{
    fprintf(stderr, "usage: bus_driver produce|consume --brokers B --topic NAME [options]\n");
    exit(2);
}

static void driver_stopped(void *arg)
{
    driver_t *d = arg;
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->tick, NULL);
}

static void driver_stop(driver_t *d)
{
    if (d->stopping)
        return;
    d->stopping = true;
    uv_timer_stop(&d->tick);
    lw_bus_stop(d->bus, driver_stopped, d);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    driver_stop(s->data);
}

/* Publishes the messages due this tick (10 ms). */
static void produce_tick(uv_timer_t *t)
{
    driver_t *d = t->data;
    uint64_t batch = d->rate == 0 ? 5000 : (d->rate + 99) / 100;
    for (uint64_t i = 0; i < batch && (d->end == 0 || d->next < d->end); i++) {
        char key[32], value[32];
        int kl = snprintf(key, sizeof(key), "k%" PRIu64, d->next % 997);
        int vl = snprintf(value, sizeof(value), "m%" PRIu64, d->next);
        lw_err_t err;
        lw_err_clear(&err);
        if (lw_bus_publish(d->bus, d->topic, key, (size_t)kl, value, (size_t)vl, &err) != 0)
            return; /* queue full: try again next tick */
        d->next++;
        d->published++;
    }
    if (d->end != 0 && d->next >= d->end) {
        fprintf(stderr, "bus_driver: queued %" PRIu64 "\n", d->published);
        driver_stop(d);
    }
}

static int part_cmp(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static void write_assignment(driver_t *d)
{
    char tmp[4096], buf[8192];
    size_t off = 0;
    int parts[MAX_PARTS], n = 0;
    for (int i = 0; i < MAX_PARTS; i++)
        if (d->held[i])
            parts[n++] = i;
    qsort(parts, (size_t)n, sizeof(int), part_cmp);
    buf[0] = '\0';
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%d", i ? " " : "", parts[i]);
    snprintf(tmp, sizeof(tmp), "%s.tmp", d->assign_path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        perror(tmp);
        exit(1);
    }
    fprintf(f, "%s\n", buf);
    fclose(f);
    rename(tmp, d->assign_path);
    fprintf(stderr, "bus_driver: holding [%s]\n", buf);
}

static void on_assign(void *arg, lw_bus_consumer_t *c, const lw_bus_partition_t *p, size_t n)
{
    (void)c;
    driver_t *d = arg;
    for (size_t i = 0; i < n; i++)
        if (p[i].partition >= 0 && p[i].partition < MAX_PARTS)
            d->held[p[i].partition] = true;
    write_assignment(d);
}

static void on_revoke(void *arg, lw_bus_consumer_t *c, const lw_bus_partition_t *p, size_t n)
{
    (void)c;
    driver_t *d = arg;
    for (size_t i = 0; i < n; i++)
        if (p[i].partition >= 0 && p[i].partition < MAX_PARTS)
            d->held[p[i].partition] = false;
    write_assignment(d);
}

static void on_message(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *m)
{
    driver_t *d = arg;
    char line[256];
    int n = snprintf(line, sizeof(line), "%.*s %d %lld %s\n", (int)m->value_len,
                     (const char *)m->value, (int)m->partition, (long long)m->offset, m->id);
    if (write(d->out_fd, line, (size_t)n) != n) {
        perror("write");
        exit(1);
    }
    lw_bus_commit(c, m);
}

int main(int argc, char **argv)
{
    driver_t d;
    memset(&d, 0, sizeof(d));
    if (argc < 2)
        usage();
    const char *mode = argv[1];
    const char *brokers = NULL, *group = NULL, *out = NULL;
    lw_err_t err;
    lw_err_clear(&err);
    lw_log_setup(LW_LOG_INFO, LW_LOG_LOGFMT);
    d.cfg = lw_config_new();
    lw_bus_config_register(d.cfg);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            usage();
        i++;
        if (strcmp(a, "--brokers") == 0)
            brokers = v;
        else if (strcmp(a, "--topic") == 0)
            d.topic = v;
        else if (strcmp(a, "--group") == 0)
            group = v;
        else if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--assign") == 0)
            d.assign_path = v;
        else if (strcmp(a, "--count") == 0)
            d.count = strtoull(v, NULL, 10);
        else if (strcmp(a, "--rate") == 0)
            d.rate = strtoull(v, NULL, 10);
        else if (strcmp(a, "--from") == 0)
            d.next = strtoull(v, NULL, 10);
        else if (strcmp(a, "--prefix") == 0) {
            if (lw_config_set(d.cfg, "bus.topic-prefix", v, "flag", &err) != 0)
                goto cfg_fail;
        } else if (strcmp(a, "--kafka") == 0) {
            char key[256];
            const char *eq = strchr(v, '=');
            if (eq == NULL)
                usage();
            snprintf(key, sizeof(key), "bus.kafka.%.*s", (int)(eq - v), v);
            if (lw_config_set(d.cfg, key, eq + 1, "flag", &err) != 0)
                goto cfg_fail;
        } else
            usage();
    }
    if (brokers == NULL || d.topic == NULL)
        usage();
    if (lw_config_set(d.cfg, "bus.brokers", brokers, "flag", &err) != 0)
        goto cfg_fail;

    uv_loop_init(&d.loop);
    d.bus = lw_bus_new(&d.loop, d.cfg, &err);
    if (d.bus == NULL) {
        fprintf(stderr, "bus_driver: %s: %s\n", lw_err_name(&err), err.message);
        return 1;
    }
    uv_signal_init(&d.loop, &d.sigint);
    uv_signal_init(&d.loop, &d.sigterm);
    d.sigint.data = d.sigterm.data = &d;
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_timer_init(&d.loop, &d.tick);
    d.tick.data = &d;

    if (strcmp(mode, "produce") == 0) {
        d.end = d.count == 0 ? 0 : d.next + d.count;
        uv_timer_start(&d.tick, produce_tick, 0, 10);
    } else if (strcmp(mode, "consume") == 0) {
        if (group == NULL || out == NULL || d.assign_path == NULL)
            usage();
        d.out_fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (d.out_fd < 0) {
            perror(out);
            return 1;
        }
        const char *names[] = {d.topic};
        lw_bus_handler_t h = {
            .on_message = on_message, .on_assign = on_assign, .on_revoke = on_revoke};
        if (lw_bus_subscribe(d.bus, group, names, 1, &h, &d, &err) == NULL) {
            fprintf(stderr, "bus_driver: %s: %s\n", lw_err_name(&err), err.message);
            return 1;
        }
    } else {
        usage();
    }
    uv_run(&d.loop, UV_RUN_DEFAULT);
    lw_bus_stats_t st;
    lw_bus_stats(d.bus, &st);
    printf("published=%" PRIu64 " delivered=%" PRIu64 " failed=%" PRIu64 " consumed=%" PRIu64
           " lost=%" PRIu64 "\n",
           st.published, st.delivered, st.failed, st.consumed, st.lost);
    lw_bus_free(d.bus);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    uv_loop_close(&d.loop);
    lw_config_free(d.cfg);
    if (d.out_fd > 0)
        close(d.out_fd);
    return st.failed == 0 ? 0 : 1;

cfg_fail:
    fprintf(stderr, "bus_driver: %s: %s\n", lw_err_name(&err), err.message);
    return 2;
}
