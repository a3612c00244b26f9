/* The Kafka event bus: librdkafka driven from the libuv loop.
 *
 * librdkafka runs its own threads for the network; everything it hands back to the
 * application (delivery reports, messages, rebalances, errors) sits in a queue until the
 * application serves it. Each handle's final queue (the producer's main queue, each
 * consumer's consumer queue) has IO-event triggering enabled on a non-blocking pipe, so
 * librdkafka writes a byte when the queue becomes non-empty; a uv_poll on the pipe serves
 * the queue with zero timeouts on the loop thread. A queue served only partly (a batch
 * budget keeps one busy consumer from starving the loop) is resumed by a zero timer, and a
 * slow timer serves every queue anyway as a safety net. So no librdkafka call on the loop
 * waits, and every callback runs on the loop thread.
 *
 * Consumer groups use the eager protocol (partition.assignment.strategy range,roundrobin):
 * on every rebalance a member gets on_revoke for all it held, then on_assign for its new
 * set. That is the simplest contract for owners of per-partition state: flush everything
 * on revoke, reload on assign. Offsets: lw_bus_commit stores the offset
 * (enable.auto.offset.store=false) and librdkafka commits stored offsets every second, on
 * revoke (for the partitions leaving) and on close, so a crash replays at most about a
 * second of work beyond what the handler declared durable. */
#include "cluster/bus.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/bus_private.h"
#include "cluster/clock.h"
#include "cluster/log.h"
#include "cluster/mem.h"
#include "cluster/metrics.h"

/* The most a stop waits for consumers to leave their groups (bus.flush-timeout if lower). */
#define LW_BUS_CLOSE_MAX_MS 2000

/* ---- configuration ---------------------------------------------------------------- */

static int bus_check_prefix(const char *v, char *why, size_t len)
{
    size_t n = strlen(v);
    if (n >= BUS_PREFIX_MAX) {
        snprintf(why, len, "longer than %d characters", BUS_PREFIX_MAX - 1);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = v[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-')) {
            snprintf(why, len, "Kafka topic names allow only letters, digits, '.', '_' and '-'");
            return -1;
        }
    }
    return 0;
}

static int bus_check_brokers(const char *v, char *why, size_t len)
{
    if (v[0] == '\0') {
        snprintf(why, len, "empty: use `embedded` or a host:port list");
        return -1;
    }
    return 0;
}

static const lw_cfg_opt_t bus_opts[] = {
    {"bus.brokers", LW_CFG_STRING, "embedded",
     "Kafka bootstrap servers (host:port,...), or `embedded` to run librdkafka's mock "
     "cluster inside the process",
     0, 0, 0, NULL, bus_check_brokers},
    {"bus.topic-prefix", LW_CFG_STRING, "lw.", "Prefix of every topic name", 0, 0, 0, NULL,
     bus_check_prefix},
    /* The mock cluster keeps only the newest 5 MiB / 100,000 message sets per partition:
     * many partitions give a lagging consumer more room before it loses messages. */
    {"bus.partitions", LW_CFG_INT, "16", "Partitions of each topic the bus creates", 0, 1, 10000,
     NULL, NULL},
    {"bus.flush-timeout", LW_CFG_DURATION, "3s",
     "Longest wait at shutdown for queued messages to be delivered", 0, 0, 60000, NULL, NULL},
    {"bus.health-interval", LW_CFG_DURATION, "2s",
     "Interval of the broker metadata probe behind /readyz", 0, 100, 600000, NULL, NULL},
    /* Values may hold SASL passwords and key material: the config printer redacts the
     * sub-keys lw_bus_kafka_prop_secret names, so the map itself is not marked secret
     * (security.protocol and the like stay visible). */
    {"bus.kafka.*", LW_CFG_MAP, NULL,
     "librdkafka properties passed through (e.g. bus.kafka.security.protocol, "
     "bus.kafka.sasl.username); values of keys naming a password, secret or key are "
     "redacted",
     0, 0, 0, NULL, NULL},
};

int lw_bus_config_register(lw_config_t *cfg)
{
    return lw_config_register(cfg, "bus", bus_opts, sizeof(bus_opts) / sizeof(bus_opts[0]));
}

bool lw_bus_kafka_prop_secret(const char *prop)
{
    return lw_config_name_secret(prop);
}

/* ---- queue pump ------------------------------------------------------------------- */

static void bus_pump_drain_fd(bus_pump_t *p)
{
    char buf[64];
    while (read(p->fds[0], buf, sizeof(buf)) > 0)
        ;
}

static void bus_pump_timer_cb(uv_timer_t *t)
{
    bus_pump_t *p = t->data;
    bus_pump_drain_fd(p);
    bool more = p->serve(p);
    if (!uv_is_closing((uv_handle_t *)&p->timer))
        uv_timer_start(&p->timer, bus_pump_timer_cb, more ? 0 : BUS_SAFETY_POLL_MS,
                       BUS_SAFETY_POLL_MS);
}

static void bus_pump_poll_cb(uv_poll_t *h, int status, int events)
{
    (void)events;
    bus_pump_t *p = h->data;
    if (status < 0)
        lw_log(LW_LOG_ERROR, "bus", "queue wake-up poll failed", "error", uv_strerror(status),
               NULL);
    bus_pump_drain_fd(p);
    if (p->serve(p) && !uv_is_closing((uv_handle_t *)&p->timer))
        uv_timer_start(&p->timer, bus_pump_timer_cb, 0, BUS_SAFETY_POLL_MS);
}

int lw_bus__pump_init(bus_pump_t *p, uv_loop_t *loop, rd_kafka_queue_t *q)
{
    int rc;
    p->fds[0] = p->fds[1] = -1;
    if (pipe(p->fds) != 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        int fl = fcntl(p->fds[i], F_GETFL);
        if (fl < 0 || fcntl(p->fds[i], F_SETFL, fl | O_NONBLOCK) != 0 ||
            fcntl(p->fds[i], F_SETFD, FD_CLOEXEC) != 0) {
            rc = -errno;
            goto fail;
        }
    }
    rc = uv_poll_init(loop, &p->poll, p->fds[0]);
    if (rc != 0)
        goto fail;
    p->poll.data = p;
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    p->open_handles = 2;
    rd_kafka_queue_io_event_enable(q, p->fds[1], "1", 1);
    return 0;
fail:
    close(p->fds[0]);
    close(p->fds[1]);
    p->fds[0] = p->fds[1] = -1;
    return rc;
}

void lw_bus__pump_start(bus_pump_t *p)
{
    uv_poll_start(&p->poll, UV_READABLE, bus_pump_poll_cb);
    uv_timer_start(&p->timer, bus_pump_timer_cb, 0, BUS_SAFETY_POLL_MS);
}

void lw_bus__pump_kick(bus_pump_t *p)
{
    uv_timer_start(&p->timer, bus_pump_timer_cb, 0, BUS_SAFETY_POLL_MS);
}

static void bus_pump_handle_closed(uv_handle_t *h)
{
    bus_pump_t *p = h->data;
    if (--p->open_handles > 0)
        return;
    close(p->fds[0]);
    close(p->fds[1]);
    p->fds[0] = p->fds[1] = -1;
    if (p->closed != NULL)
        p->closed(p);
}

/* uv_close, unless someone else closed h already (an owner walking the loop to close every
 * handle before freeing): then h is gone and its close callback is ours to run now. */
void lw_bus__close(uv_handle_t *h, uv_close_cb cb)
{
    if (uv_is_closing(h))
        cb(h);
    else
        uv_close(h, cb);
}

void lw_bus__pump_close(bus_pump_t *p, rd_kafka_queue_t *q)
{
    if (q != NULL)
        rd_kafka_queue_io_event_enable(q, -1, NULL, 0);
    lw_bus__close((uv_handle_t *)&p->poll, bus_pump_handle_closed);
    lw_bus__close((uv_handle_t *)&p->timer, bus_pump_handle_closed);
}

/* ---- client configuration ---------------------------------------------------------- */

void lw_bus__log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    lw_log_level_t l = level <= 3   ? LW_LOG_ERROR
                       : level == 4 ? LW_LOG_WARN
                       : level <= 6 ? LW_LOG_INFO
                                    : LW_LOG_DEBUG;
    lw_log(l, "bus", "librdkafka", "client", rk != NULL ? rd_kafka_name(rk) : NULL, "facility", fac,
           "detail", buf, NULL);
}

/* Applies bus.kafka.* to conf. Returns 0, or -1 with err naming the key (never the value
 * of a secret one). */
static int bus_conf_apply_props(const lw_bus_t *bus, rd_kafka_conf_t *conf, lw_err_t *err)
{
    char errstr[512];
    for (size_t i = 0; i < bus->nprops; i++) {
        const bus_prop_t *p = &bus->props[i];
        if (rd_kafka_conf_set(conf, p->key, p->value, errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK)
            continue;
        bool secret = lw_bus_kafka_prop_secret(p->key);
        lw_err_set(err, &lw_err_config_invalid, "invalid value %s for `bus.kafka.%s`: %s",
                   secret ? LW_CONFIG_REDACTED : p->value, p->key,
                   secret ? "rejected by librdkafka" : errstr);
        lw_err_attr(err, "key", "bus.kafka.*");
        lw_err_attr(err, "value", secret ? LW_CONFIG_REDACTED : p->value);
        return -1;
    }
    return 0;
}

static int bus_conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, lw_err_t *err)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK)
        return 0;
    return lw_err_set(err, &lw_err_internal, "librdkafka property %s=%s: %s", k, v, errstr);
}

rd_kafka_conf_t *lw_bus__conf_new(lw_bus_t *bus, const char *const *kv, lw_err_t *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (bus_conf_set(conf, "bootstrap.servers", bus->bootstrap, err) != 0)
        goto fail;
    for (size_t i = 0; kv != NULL && kv[i] != NULL; i += 2)
        if (bus_conf_set(conf, kv[i], kv[i + 1], err) != 0)
            goto fail;
    if (bus_conf_apply_props(bus, conf, err) != 0)
        goto fail;
    rd_kafka_conf_set_opaque(conf, bus);
    rd_kafka_conf_set_error_cb(conf, lw_bus__error_cb);
    rd_kafka_conf_set_log_cb(conf, lw_bus__log_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

int lw_bus__mock_start(rd_kafka_t **rkp, rd_kafka_mock_cluster_t **mcp, char *why, size_t len)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, lw_bus__log_cb);
    /* The host handle only carries the cluster's threads; it never connects. */
    rd_kafka_conf_set(conf, "client.id", "lw-mock-host", errstr, sizeof(errstr));
    rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (rk == NULL) {
        rd_kafka_conf_destroy(conf);
        snprintf(why, len, "%s", errstr);
        return -1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
    if (mc == NULL) {
        rd_kafka_destroy(rk);
        snprintf(why, len, "rd_kafka_mock_cluster_new failed");
        return -1;
    }
    *rkp = rk;
    *mcp = mc;
    return 0;
}

/* ---- life cycle ------------------------------------------------------------------- */

static void bus_prop_cb(void *arg, const char *subkey, const char *value)
{
    lw_bus_t *bus = arg;
    bus_prop_t *np = lw_realloc(bus->props, (bus->nprops + 1) * sizeof(*np));
    bus->props = np;
    np[bus->nprops].key = lw_strdup(subkey);
    np[bus->nprops].value = lw_strdup(value);
    bus->nprops++;
}

static void bus_destroy_props(lw_bus_t *bus)
{
    for (size_t i = 0; i < bus->nprops; i++) {
        free(bus->props[i].key);
        free(bus->props[i].value);
    }
    free(bus->props);
    bus->props = NULL;
    bus->nprops = 0;
}

static void bus_release(lw_bus_t *bus)
{
    bus_destroy_props(bus);
    lw_bus__topics_free(bus);
    free(bus->bootstrap);
    free(bus);
}

static void bus_read_config(lw_bus_t *bus, const lw_config_t *cfg)
{
    const char *brokers = lw_config_str(cfg, "bus.brokers");
    const char *prefix = lw_config_str(cfg, "bus.topic-prefix");
    snprintf(bus->prefix, sizeof(bus->prefix), "%s", prefix != NULL ? prefix : "");
    bus->partitions = (int)lw_config_int(cfg, "bus.partitions");
    bus->flush_timeout_ms = lw_config_duration_ms(cfg, "bus.flush-timeout");
    bus->health_interval_ms = lw_config_duration_ms(cfg, "bus.health-interval");
    lw_config_map_each(cfg, "bus.kafka", bus_prop_cb, bus);
    bus->embedded = brokers == NULL || strcmp(brokers, "embedded") == 0;
    if (!bus->embedded)
        bus->bootstrap = lw_strdup(brokers);
}

/* Embedded: starts the in-process cluster, whose address becomes the bootstrap. */
static int bus_start_embedded(lw_bus_t *bus, lw_err_t *err)
{
    char why[512];
    if (lw_bus__mock_start(&bus->mock_rk, &bus->mock, why, sizeof(why)) != 0)
        return lw_err_set(err, &lw_err_bus_unavailable, "starting the embedded Kafka cluster: %s",
                          why);
    bus->bootstrap = lw_strdup(rd_kafka_mock_cluster_bootstraps(bus->mock));
    return 0;
}

static void bus_start_timers(lw_bus_t *bus)
{
    uv_timer_init(bus->loop, &bus->health_timer);
    bus->health_timer.data = bus;
    uv_timer_init(bus->loop, &bus->stop_timer);
    bus->stop_timer.data = bus;
    bus->open_handles = 3; /* pump, health timer, stop timer */
    lw_bus__pump_start(&bus->pump);
    lw_bus__health_start(bus);
}

lw_bus_t *lw_bus_new(uv_loop_t *loop, const lw_config_t *cfg, lw_err_t *err)
{
    lw_bus_t *bus = lw_calloc(1, sizeof(*bus));
    bus->loop = loop;
    bus_read_config(bus, cfg);
    if (bus->embedded && bus_start_embedded(bus, err) != 0)
        goto fail;
    if (lw_bus__producer_start(bus, err) != 0)
        goto fail;
    bus_start_timers(bus);
    lw_log_kv(LW_LOG_INFO, "bus", "bus started", LW_LOG_STR("brokers", bus->bootstrap),
              LW_LOG_STR("mode", bus->embedded ? "embedded" : "external"),
              LW_LOG_STR("topic_prefix", bus->prefix), LW_LOG_INT("partitions", bus->partitions));
    return bus;

fail:
    if (bus->mock != NULL)
        rd_kafka_mock_cluster_destroy(bus->mock);
    if (bus->mock_rk != NULL)
        rd_kafka_destroy(bus->mock_rk);
    bus_release(bus);
    return NULL;
}

void lw_bus_set_metrics(lw_bus_t *bus, lw_metrics_t *m)
{
    static const char *const topic_label[] = {"topic", NULL};
    bus->metrics = m;
    bus->m_published = lw_metrics_counter(m, "lwstack_bus_published_total",
                                          "Messages queued for publishing", topic_label);
    bus->m_delivered = lw_metrics_counter(m, "lwstack_bus_delivered_total",
                                          "Messages acknowledged by the brokers", topic_label);
    bus->m_failed = lw_metrics_counter(m, "lwstack_bus_delivery_failed_total",
                                       "Messages the producer could not deliver", topic_label);
    bus->m_consumed = lw_metrics_counter(m, "lwstack_bus_consumed_total",
                                         "Messages handed to consumers", topic_label);
    bus->m_lost = lw_metrics_counter(
        m, "lwstack_bus_lost_total",
        "Messages skipped by an offset reset (gone from the broker before being consumed)",
        topic_label);
    bus->m_resets =
        lw_metrics_counter(m, "lwstack_bus_offset_resets_total",
                           "Consumer offset resets after OFFSET_OUT_OF_RANGE", topic_label);
    bus->m_up = lw_metric_series(
        lw_metrics_gauge(m, "lwstack_bus_up", "1 while the Kafka brokers answer", NULL), NULL);
    lw_metric_series_set(bus->m_up, bus->ready ? 1 : 0);
    lw_bus__topics_metrics(bus);
}

void lw_bus_stats(const lw_bus_t *bus, lw_bus_stats_t *out)
{
    *out = bus->stats;
}

const char *lw_bus_bootstrap(const lw_bus_t *bus)
{
    return bus->bootstrap;
}

/* ---- stop ------------------------------------------------------------------------- */

static void bus_closed(lw_bus_t *bus)
{
    void (*done)(void *) = bus->stop_done;
    void *arg = bus->stop_arg;
    bool free_now = bus->free_on_close;
    bus->stop_done = NULL;
    if (free_now)
        bus_release(bus);
    if (done != NULL)
        done(arg);
}

void lw_bus__handle_gone(lw_bus_t *bus)
{
    if (--bus->open_handles > 0)
        return;
    if (bus->in_step)
        bus->closed_pending = true;
    else
        bus_closed(bus);
}

static void bus_handle_closed(uv_handle_t *h)
{
    lw_bus__handle_gone(h->data);
}

static void bus_close_handles(lw_bus_t *bus)
{
    lw_bus__pump_close(&bus->pump, NULL);
    lw_bus__close((uv_handle_t *)&bus->health_timer, bus_handle_closed);
    lw_bus__close((uv_handle_t *)&bus->stop_timer, bus_handle_closed);
}

/* Advances the stop: consumers closing → producer flushing → handles closing. Called from
 * the stop timer, consumer close callbacks and the health probe's completion. */
static void bus_stop_pass(lw_bus_t *bus)
{
    if (bus->state != BUS_STOPPING)
        return;
    uint64_t now = lw_clock_mono_ms();
    bool late = now >= bus->stop_deadline_ms;
    if (bus->consumers != NULL) {
        lw_bus_consumer_t *next;
        if (now >= bus->close_deadline_ms)
            for (lw_bus_consumer_t *c = bus->consumers; c != NULL; c = next) {
                next = c->next;
                if (c->state == CONSUMER_CLOSING)
                    lw_bus__consumer_finish(c);
            }
        return; /* each consumer's close callback calls us again */
    }
    if (!late && bus->producer != NULL && rd_kafka_outq_len(bus->producer) > 0)
        return;
    if (bus->health_busy)
        return; /* the probe's completion calls us again */
    bus->state = BUS_STOPPED;
    uv_timer_stop(&bus->stop_timer);
    lw_bus__producer_destroy(bus);
    lw_log(LW_LOG_INFO, "bus", "bus stopped", NULL);
    bus_close_handles(bus);
}

void lw_bus__stop_step(lw_bus_t *bus)
{
    if (bus->in_step) {
        bus->step_again = true;
        return;
    }
    bus->in_step = true;
    do {
        bus->step_again = false;
        bus_stop_pass(bus);
    } while (bus->step_again);
    bus->in_step = false;
    if (bus->closed_pending) {
        bus->closed_pending = false;
        bus_closed(bus); /* may free bus */
    }
}

static void bus_stop_timer_cb(uv_timer_t *t)
{
    lw_bus__stop_step(t->data);
}

void lw_bus_stop(lw_bus_t *bus, void (*done)(void *arg), void *arg)
{
    if (bus->state != BUS_RUNNING)
        return;
    bus->state = BUS_STOPPING;
    bus->ready = false;
    bus->stop_done = done;
    bus->stop_arg = arg;
    long long t = bus->flush_timeout_ms > 100 ? bus->flush_timeout_ms : 100;
    bus->stop_deadline_ms = lw_clock_mono_ms() + (uint64_t)t;
    /* A consumer that cannot leave its group in time (a rebalance in progress waits for the
     * group's join round) is given up sooner: destroying its handle may still block until
     * the round ends, and a process has 5 s from SIGTERM in all. Giving up loses nothing:
     * its uncommitted offsets are replayed by the next owner. */
    bus->close_deadline_ms =
        lw_clock_mono_ms() + (uint64_t)(t < LW_BUS_CLOSE_MAX_MS ? t : LW_BUS_CLOSE_MAX_MS);
    lw_bus__health_stop(bus);
    lw_log_kv(LW_LOG_INFO, "bus", "bus stopping",
              LW_LOG_INT("queued", bus->producer != NULL ? rd_kafka_outq_len(bus->producer) : 0));
    /* Consumers first: their on_revoke may still publish. */
    lw_bus_consumer_t *next;
    for (lw_bus_consumer_t *c = bus->consumers; c != NULL; c = next) {
        next = c->next;
        lw_bus__consumer_begin_close(c);
    }
    uv_timer_start(&bus->stop_timer, bus_stop_timer_cb, 5, 5);
    lw_bus__stop_step(bus);
}

void lw_bus_free(lw_bus_t *bus)
{
    if (bus == NULL)
        return;
    if (bus->state == BUS_STOPPED && bus->open_handles == 0) {
        bus_release(bus);
        return;
    }
    /* Not stopped (or still stopping): tear down without waiting for deliveries. Memory
     * goes in the last close callback, so the loop must run once more. */
    bus->free_on_close = true;
    if (bus->state == BUS_STOPPED)
        return; /* handles are closing already */
    if (bus->state == BUS_RUNNING) {
        bus->state = BUS_STOPPING;
        lw_bus__health_stop(bus);
    }
    bus->stop_done = NULL;
    bus->stop_deadline_ms = 0;
    bus->close_deadline_ms = 0;
    bus->in_step = true; /* consumers' close callbacks must not advance the stop yet */
    lw_bus_consumer_t *next;
    for (lw_bus_consumer_t *c = bus->consumers; c != NULL; c = next) {
        next = c->next;
        if (c->state != CONSUMER_CLOSED) {
            c->state = CONSUMER_CLOSING;
            lw_bus__consumer_finish(c);
        }
    }
    if (bus->health_busy)
        uv_cancel((uv_req_t *)&bus->health_work); /* else bus_health_after continues */
    bus->in_step = false;
    lw_bus__stop_step(bus); /* may free bus */
}
