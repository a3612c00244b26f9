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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "cluster/bus_private.h"
#include "cluster/log.h"
#include "cluster/metrics.h"

#define BUS_CONSUMER_BATCH   1000 /* messages served per wake-up before yielding the loop */
#define BUS_SAFETY_POLL_MS   200  /* serve queues at least this often */
#define BUS_ID_HEADER        "lw-id"
#define BUS_ID_BYTES         16
#define BUS_MAX_ID_LEN       64 /* longest lw-id header accepted from the wire */
#define BUS_ADMIN_TIMEOUT_MS 10000
#define BUS_PREFIX_MAX       64

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
    size_t n = strlen(prop);
    return strstr(prop, "password") != NULL || strstr(prop, "secret") != NULL ||
           (n >= 4 && strcmp(prop + n - 4, ".key") == 0) || strstr(prop, ".pem") != NULL ||
           strstr(prop, "jaas") != NULL;
}

/* ---- queue pump ------------------------------------------------------------------- */

typedef struct bus_pump bus_pump_t;
struct bus_pump {
    int fds[2];
    uv_poll_t poll;
    uv_timer_t timer;
    int open_handles;
    /* Serves the queue; returns true when it stopped early with work left. */
    bool (*serve)(bus_pump_t *p);
    void (*closed)(bus_pump_t *p); /* after both handles closed */
};

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

/* Opens the pipe and enables IO events on q. Returns 0 or a negative errno. */
static int bus_pump_init(bus_pump_t *p, uv_loop_t *loop, rd_kafka_queue_t *q)
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

static void bus_pump_start(bus_pump_t *p)
{
    uv_poll_start(&p->poll, UV_READABLE, bus_pump_poll_cb);
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
static void bus_close(uv_handle_t *h, uv_close_cb cb)
{
    if (uv_is_closing(h))
        cb(h);
    else
        uv_close(h, cb);
}

/* Disables IO events on q (NULL: already destroyed) and closes the handles; p->closed runs
 * from the last close callback. */
static void bus_pump_close(bus_pump_t *p, rd_kafka_queue_t *q)
{
    if (q != NULL)
        rd_kafka_queue_io_event_enable(q, -1, NULL, 0);
    bus_close((uv_handle_t *)&p->poll, bus_pump_handle_closed);
    bus_close((uv_handle_t *)&p->timer, bus_pump_handle_closed);
}

/* ---- the bus ---------------------------------------------------------------------- */

typedef struct bus_prop {
    char *key;
    char *value;
} bus_prop_t;

typedef enum bus_state {
    BUS_RUNNING = 0,
    BUS_STOPPING,
    BUS_STOPPED, /* librdkafka handles destroyed, uv handles closing or closed */
} bus_state_t;

typedef struct bus_metrics {
    lw_metric_t *published, *delivered, *failed, *consumed, *lost, *resets, *up;
} bus_metrics_t;

struct lw_bus {
    uv_loop_t *loop;
    bool embedded;
    char prefix[BUS_PREFIX_MAX];
    int partitions;
    long long flush_timeout_ms;
    long long health_interval_ms;
    char *bootstrap;
    bus_prop_t *props;
    size_t nprops;

    rd_kafka_t *mock_rk;
    rd_kafka_mock_cluster_t *mock;
    char **mock_topics; /* topics this process created on the embedded cluster */
    size_t nmock_topics;

    rd_kafka_t *producer;
    rd_kafka_queue_t *mainq;
    bus_pump_t pump;

    lw_bus_consumer_t *consumers;

    uv_timer_t health_timer;
    uv_work_t health_work;
    bool health_busy;
    atomic_int health_result; /* written by the worker, read in after_work */
    bool ready;

    bus_state_t state;
    bool in_step; /* bus_stop_step running: nested calls only ask for another pass */
    bool step_again;
    bool closed_pending; /* the last handle closed during a step: finish after it */
    int open_handles;    /* pump (as one), health timer, stop timer */
    bool free_on_close;
    uint64_t stop_deadline_ms;
    uv_timer_t stop_timer;
    void (*stop_done)(void *arg);
    void *stop_arg;

    lw_bus_stats_t stats;
    lw_metrics_t *metrics;
    bus_metrics_t m;
    uint64_t fail_log_ms; /* rate limit for delivery failure lines */
    uint64_t fail_unlogged;
};

typedef struct bus_reset {
    char *topic;
    int32_t partition;
    int64_t offset;
} bus_reset_t;

typedef enum consumer_state {
    CONSUMER_RUNNING = 0,
    CONSUMER_CLOSING,
    CONSUMER_CLOSED,
} consumer_state_t;

struct lw_bus_consumer {
    lw_bus_t *bus;
    lw_bus_consumer_t *next;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    bus_pump_t pump;
    lw_bus_handler_t h;
    void *arg;
    char *group;
    consumer_state_t state;
    bus_reset_t *resets; /* offset resets waiting for the next message to size the loss */
    size_t nresets;
};

static uint64_t bus_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void bus_metric(lw_metric_t *f, const char *topic, double n)
{
    if (f == NULL)
        return;
    const char *labels[] = {topic, NULL};
    lw_metric_add(f, labels, n);
}

void lw_bus__log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    lw_log_level_t l = level <= 3   ? LW_LOG_ERROR
                       : level == 4 ? LW_LOG_WARN
                       : level <= 6 ? LW_LOG_INFO
                                    : LW_LOG_DEBUG;
    lw_log(l, "bus", "librdkafka", "client", rk != NULL ? rd_kafka_name(rk) : NULL, "facility", fac,
           "detail", buf, NULL);
}

static void bus_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    lw_bus_t *bus = opaque;
    rd_kafka_resp_err_t e = (rd_kafka_resp_err_t)err;
    if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && bus->ready) {
        bus->ready = false;
        if (bus->m.up != NULL)
            lw_metric_set(bus->m.up, NULL, 0);
        lw_log(LW_LOG_WARN, "bus", "bus state changed", "state", "unavailable", "reason", reason,
               NULL);
        return;
    }
    if (rd_kafka_fatal_error(rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR)
        lw_log(LW_LOG_ERROR, "bus", "fatal librdkafka error", "client", rd_kafka_name(rk), "error",
               rd_kafka_err2name(e), "reason", reason, NULL);
    else
        lw_log(LW_LOG_WARN, "bus", "librdkafka error", "client", rd_kafka_name(rk), "error",
               rd_kafka_err2name(e), "reason", reason, NULL);
}

static void bus_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    lw_bus_t *bus = opaque;
    const char *topic = rd_kafka_topic_name(m->rkt);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        bus->stats.delivered++;
        bus_metric(bus->m.delivered, topic, 1);
        return;
    }
    bus->stats.failed++;
    bus_metric(bus->m.failed, topic, 1);
    /* At most one line per second: a broker outage fails messages by the thousand. */
    uint64_t now = bus_now_ms();
    if (now - bus->fail_log_ms < 1000) {
        bus->fail_unlogged++;
        return;
    }
    char part[16], more[24];
    snprintf(part, sizeof(part), "%d", (int)m->partition);
    snprintf(more, sizeof(more), "%llu", (unsigned long long)bus->fail_unlogged);
    lw_log(LW_LOG_ERROR, "bus", "message not delivered", "topic", topic, "partition", part, "error",
           rd_kafka_err2name(m->err), "reason", rd_kafka_err2str(m->err), "also_failed_unlogged",
           more, NULL);
    bus->fail_log_ms = now;
    bus->fail_unlogged = 0;
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
                   secret ? "<redacted>" : p->value, p->key,
                   secret ? "rejected by librdkafka" : errstr);
        lw_err_attr(err, "key", "bus.kafka.*");
        lw_err_attr(err, "value", secret ? "<redacted>" : p->value);
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

/* A configuration with our defaults (overridable by bus.kafka.*) and callbacks. */
static rd_kafka_conf_t *bus_conf_new(lw_bus_t *bus, const char *const *kv, lw_err_t *err)
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
    rd_kafka_conf_set_error_cb(conf, bus_error_cb);
    rd_kafka_conf_set_log_cb(conf, lw_bus__log_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static void bus_prop_cb(void *arg, const char *subkey, const char *value)
{
    lw_bus_t *bus = arg;
    bus_prop_t *np = realloc(bus->props, (bus->nprops + 1) * sizeof(*np));
    if (np == NULL)
        abort();
    bus->props = np;
    np[bus->nprops].key = strdup(subkey);
    np[bus->nprops].value = strdup(value);
    if (np[bus->nprops].key == NULL || np[bus->nprops].value == NULL)
        abort();
    bus->nprops++;
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

rd_kafka_resp_err_t lw_bus__mock_topic(rd_kafka_mock_cluster_t *mc, const char *topic,
                                       int partitions)
{
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, topic, partitions, 1);
    if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        return RD_KAFKA_RESP_ERR_NO_ERROR;
    return e;
}

/* Embedded cluster: creates `topic` with bus.partitions partitions the first time this
 * process names it, before any client's metadata request auto-creates it with the mock's
 * default of 4. */
static int bus_mock_topic_once(lw_bus_t *bus, const char *topic, lw_err_t *err)
{
    for (size_t i = 0; i < bus->nmock_topics; i++)
        if (strcmp(bus->mock_topics[i], topic) == 0)
            return 0;
    rd_kafka_resp_err_t e = lw_bus__mock_topic(bus->mock, topic, bus->partitions);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return lw_err_set(err, &lw_err_bus_unavailable, "creating topic %s: %s", topic,
                          rd_kafka_err2str(e));
    char **nt = realloc(bus->mock_topics, (bus->nmock_topics + 1) * sizeof(*nt));
    if (nt == NULL || (nt[bus->nmock_topics] = strdup(topic)) == NULL)
        abort();
    bus->mock_topics = nt;
    bus->nmock_topics++;
    char parts[16];
    snprintf(parts, sizeof(parts), "%d", bus->partitions);
    lw_log(LW_LOG_INFO, "bus", "topic created", "topic", topic, "partitions", parts, "cluster",
           "embedded", NULL);
    return 0;
}

static bool bus_producer_serve(bus_pump_t *p)
{
    lw_bus_t *bus = (lw_bus_t *)((char *)p - offsetof(lw_bus_t, pump));
    if (bus->producer == NULL)
        return false;
    rd_kafka_poll(bus->producer, 0);
    return rd_kafka_queue_length(bus->mainq) > 0;
}

static void bus_handle_gone(lw_bus_t *bus);

static void bus_pump_closed(bus_pump_t *p)
{
    /* The pump's two handles count as one in open_handles. */
    bus_handle_gone((lw_bus_t *)((char *)p - offsetof(lw_bus_t, pump)));
}

/* ---- health ----------------------------------------------------------------------- */

static void bus_health_work(uv_work_t *w)
{
    lw_bus_t *bus = w->data;
    const struct rd_kafka_metadata *md = NULL;
    int timeout = (int)(bus->health_interval_ms < 5000 ? bus->health_interval_ms : 5000);
    rd_kafka_resp_err_t e = rd_kafka_metadata(bus->producer, 0, NULL, &md, timeout);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->broker_cnt == 0)
        e = RD_KAFKA_RESP_ERR__TRANSPORT;
    if (md != NULL)
        rd_kafka_metadata_destroy(md);
    atomic_store(&bus->health_result, (int)e);
}

static void bus_stop_step(lw_bus_t *bus);

static void bus_health_after(uv_work_t *w, int status)
{
    lw_bus_t *bus = w->data;
    bus->health_busy = false;
    if (bus->state != BUS_RUNNING) {
        bus_stop_step(bus);
        return;
    }
    rd_kafka_resp_err_t e = (rd_kafka_resp_err_t)atomic_load(&bus->health_result);
    bool ok = status == 0 && e == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (ok != bus->ready) {
        bus->ready = ok;
        lw_log(ok ? LW_LOG_INFO : LW_LOG_WARN, "bus", "bus state changed", "state",
               ok ? "available" : "unavailable", "brokers", bus->bootstrap, "error",
               ok ? NULL : rd_kafka_err2name(e), NULL);
    }
    if (bus->m.up != NULL)
        lw_metric_set(bus->m.up, NULL, ok ? 1 : 0);
}

static void bus_health_timer_cb(uv_timer_t *t)
{
    lw_bus_t *bus = t->data;
    if (bus->health_busy || bus->state != BUS_RUNNING)
        return;
    bus->health_work.data = bus;
    if (uv_queue_work(bus->loop, &bus->health_work, bus_health_work, bus_health_after) == 0)
        bus->health_busy = true;
}

/* ---- life cycle ------------------------------------------------------------------- */

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
    for (size_t i = 0; i < bus->nmock_topics; i++)
        free(bus->mock_topics[i]);
    free(bus->mock_topics);
    free(bus->bootstrap);
    free(bus);
}

lw_bus_t *lw_bus_new(uv_loop_t *loop, const lw_config_t *cfg, lw_err_t *err)
{
    char errstr[512];
    lw_bus_t *bus = calloc(1, sizeof(*bus));
    if (bus == NULL) {
        lw_err_set(err, &lw_err_internal, "out of memory");
        return NULL;
    }
    bus->loop = loop;
    const char *brokers = lw_config_str(cfg, "bus.brokers");
    if (brokers == NULL)
        brokers = "embedded";
    const char *prefix = lw_config_str(cfg, "bus.topic-prefix");
    snprintf(bus->prefix, sizeof(bus->prefix), "%s", prefix != NULL ? prefix : "");
    bus->partitions = (int)lw_config_int(cfg, "bus.partitions");
    bus->flush_timeout_ms = lw_config_duration_ms(cfg, "bus.flush-timeout");
    bus->health_interval_ms = lw_config_duration_ms(cfg, "bus.health-interval");
    lw_config_map_each(cfg, "bus.kafka", bus_prop_cb, bus);
    bus->embedded = strcmp(brokers, "embedded") == 0;

    if (bus->embedded) {
        char why[512];
        if (lw_bus__mock_start(&bus->mock_rk, &bus->mock, why, sizeof(why)) != 0) {
            lw_err_set(err, &lw_err_bus_unavailable, "starting the embedded Kafka cluster: %s",
                       why);
            goto fail;
        }
        bus->bootstrap = strdup(rd_kafka_mock_cluster_bootstraps(bus->mock));
    } else {
        bus->bootstrap = strdup(brokers);
    }
    if (bus->bootstrap == NULL)
        abort();

    /* murmur2_random is the Java client's partitioner: the same key lands on the same
     * partition whichever client published it. A small linger keeps latency low while
     * still batching under load. */
    static const char *const producer_kv[] = {
        "client.id",      "lwstack",   "partitioner",
        "murmur2_random", "linger.ms", "5",
        "acks",           "all",       "queue.buffering.max.messages",
        "1000000",        NULL,
    };
    rd_kafka_conf_t *conf = bus_conf_new(bus, producer_kv, err);
    if (conf == NULL)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, bus_dr_cb);
    bus->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (bus->producer == NULL) {
        rd_kafka_conf_destroy(conf);
        lw_err_set(err, &lw_err_bus_unavailable, "creating the Kafka producer: %s", errstr);
        goto fail;
    }
    bus->mainq = rd_kafka_queue_get_main(bus->producer);
    int rc = bus_pump_init(&bus->pump, loop, bus->mainq);
    if (rc != 0) {
        lw_err_set(err, &lw_err_internal, "bus wake-up pipe: %s", uv_strerror(rc));
        goto fail;
    }
    bus->pump.serve = bus_producer_serve;
    bus->pump.closed = bus_pump_closed;
    uv_timer_init(loop, &bus->health_timer);
    bus->health_timer.data = bus;
    uv_timer_init(loop, &bus->stop_timer);
    bus->stop_timer.data = bus;
    bus->open_handles = 3; /* pump, health timer, stop timer */
    bus_pump_start(&bus->pump);
    uv_timer_start(&bus->health_timer, bus_health_timer_cb, 0, (uint64_t)bus->health_interval_ms);

    char parts[16];
    snprintf(parts, sizeof(parts), "%d", bus->partitions);
    lw_log(LW_LOG_INFO, "bus", "bus started", "brokers", bus->bootstrap, "mode",
           bus->embedded ? "embedded" : "external", "topic_prefix", bus->prefix, "partitions",
           parts, NULL);
    return bus;

fail:
    if (bus->mainq != NULL)
        rd_kafka_queue_destroy(bus->mainq);
    if (bus->producer != NULL)
        rd_kafka_destroy(bus->producer);
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
    if (m == NULL) {
        memset(&bus->m, 0, sizeof(bus->m));
        return;
    }
    bus->m.published = lw_metrics_counter(m, "lwstack_bus_published_total",
                                          "Messages queued for publishing", topic_label);
    bus->m.delivered = lw_metrics_counter(m, "lwstack_bus_delivered_total",
                                          "Messages acknowledged by the brokers", topic_label);
    bus->m.failed = lw_metrics_counter(m, "lwstack_bus_delivery_failed_total",
                                       "Messages the producer could not deliver", topic_label);
    bus->m.consumed = lw_metrics_counter(m, "lwstack_bus_consumed_total",
                                         "Messages handed to consumers", topic_label);
    bus->m.lost = lw_metrics_counter(
        m, "lwstack_bus_lost_total",
        "Messages skipped by an offset reset (gone from the broker before being consumed)",
        topic_label);
    bus->m.resets =
        lw_metrics_counter(m, "lwstack_bus_offset_resets_total",
                           "Consumer offset resets after OFFSET_OUT_OF_RANGE", topic_label);
    bus->m.up = lw_metrics_gauge(m, "lwstack_bus_up", "1 while the Kafka brokers answer", NULL);
    lw_metric_set(bus->m.up, NULL, bus->ready ? 1 : 0);
}

void lw_bus_stats(const lw_bus_t *bus, lw_bus_stats_t *out)
{
    *out = bus->stats;
}

bool lw_bus_ready(const lw_bus_t *bus)
{
    return bus != NULL && bus->state == BUS_RUNNING && bus->ready;
}

const char *lw_bus_bootstrap(const lw_bus_t *bus)
{
    return bus->bootstrap;
}

const char *lw_bus_topic(const lw_bus_t *bus, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", bus->prefix, name);
    return buf;
}

/* Real cluster: CreateTopics through the Admin API, waiting for the result (bounded). */
static int bus_create_topics_admin(lw_bus_t *bus, const char **topics, size_t n, lw_err_t *err)
{
    int rc = -1;
    char errstr[512];
    rd_kafka_NewTopic_t **nt = calloc(n, sizeof(*nt));
    rd_kafka_queue_t *q = rd_kafka_queue_new(bus->producer);
    rd_kafka_AdminOptions_t *opt =
        rd_kafka_AdminOptions_new(bus->producer, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_event_t *ev = NULL;
    if (nt == NULL)
        abort();
    rd_kafka_AdminOptions_set_request_timeout(opt, BUS_ADMIN_TIMEOUT_MS, errstr, sizeof(errstr));
    rd_kafka_AdminOptions_set_operation_timeout(opt, BUS_ADMIN_TIMEOUT_MS, errstr, sizeof(errstr));
    for (size_t i = 0; i < n; i++) {
        /* -1: the broker's default.replication.factor. */
        nt[i] = rd_kafka_NewTopic_new(topics[i], bus->partitions, -1, errstr, sizeof(errstr));
        if (nt[i] == NULL) {
            lw_err_set(err, &lw_err_invalid_argument, "topic %s: %s", topics[i], errstr);
            goto out;
        }
    }
    rd_kafka_CreateTopics(bus->producer, nt, n, opt, q);
    ev = rd_kafka_queue_poll(q, BUS_ADMIN_TIMEOUT_MS + 2000);
    if (ev == NULL) {
        lw_err_set(err, &lw_err_bus_unavailable, "creating topics: no answer within %d ms",
                   BUS_ADMIN_TIMEOUT_MS + 2000);
        goto out;
    }
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        lw_err_set(err, &lw_err_bus_unavailable, "creating topics: %s",
                   rd_kafka_event_error_string(ev));
        goto out;
    }
    size_t nres = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &nres);
    for (size_t i = 0; i < nres; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
        const char *name = rd_kafka_topic_result_name(res[i]);
        if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            continue;
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            const char *s = rd_kafka_topic_result_error_string(res[i]);
            lw_err_set(err, &lw_err_bus_unavailable, "creating topic %s: %s", name,
                       s != NULL ? s : rd_kafka_err2str(e));
            goto out;
        }
        char parts[16];
        snprintf(parts, sizeof(parts), "%d", bus->partitions);
        lw_log(LW_LOG_INFO, "bus", "topic created", "topic", name, "partitions", parts, NULL);
    }
    rc = 0;
out:
    if (ev != NULL)
        rd_kafka_event_destroy(ev);
    for (size_t i = 0; i < n; i++)
        if (nt[i] != NULL)
            rd_kafka_NewTopic_destroy(nt[i]);
    free(nt);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    return rc;
}

/* Which of topics[] the cluster lacks: missing[i] set. Returns 0 or a librdkafka error. */
static rd_kafka_resp_err_t bus_missing_topics(lw_bus_t *bus, const char *const *topics, size_t n,
                                              bool *missing, size_t *nmissing)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(bus->producer, 1, NULL, &md, BUS_ADMIN_TIMEOUT_MS);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return e;
    *nmissing = 0;
    for (size_t i = 0; i < n; i++) {
        missing[i] = true;
        for (int t = 0; t < md->topic_cnt; t++)
            if (strcmp(md->topics[t].topic, topics[i]) == 0 &&
                md->topics[t].err == RD_KAFKA_RESP_ERR_NO_ERROR)
                missing[i] = false;
        *nmissing += missing[i];
    }
    rd_kafka_metadata_destroy(md);
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* A metadata request naming the topic: brokers with auto.create.topics.enable (and the
 * mock cluster) create it with their default partition count. */
static void bus_auto_create(lw_bus_t *bus, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(bus->producer, topic, NULL);
    if (rkt == NULL)
        return;
    if (rd_kafka_metadata(bus->producer, 0, rkt, &md, BUS_ADMIN_TIMEOUT_MS) ==
        RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
}

/* Blocks the loop up to a few seconds per step: it runs at start-up, before components
 * serve anything, and a component must not start without its topics. */
int lw_bus_ensure_topics(lw_bus_t *bus, const char *const *topics, size_t n, lw_err_t *err)
{
    if (bus->state != BUS_RUNNING)
        return lw_err_set(err, &lw_err_bus_unavailable, "the bus is stopping");
    if (n == 0)
        return 0;
    if (bus->embedded) {
        for (size_t i = 0; i < n; i++)
            if (bus_mock_topic_once(bus, topics[i], err) != 0)
                return -1;
        return 0;
    }
    int rc = -1;
    size_t nmissing = 0, k = 0;
    bool *missing = calloc(n, sizeof(*missing));
    const char **want = calloc(n, sizeof(*want));
    if (missing == NULL || want == NULL)
        abort();
    rd_kafka_resp_err_t e = bus_missing_topics(bus, topics, n, missing, &nmissing);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        lw_err_set(err, &lw_err_bus_unavailable, "listing topics on %s: %s", bus->bootstrap,
                   rd_kafka_err2str(e));
        goto out;
    }
    if (nmissing == 0) {
        rc = 0;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (missing[i])
            want[k++] = topics[i];
    /* The mock cluster (`lwstack kafka-dev`) has no CreateTopics (the Admin API waits for
     * a controller until it times out): it is known by its cluster id, and asked to
     * auto-create instead. */
    char *cid = rd_kafka_clusterid(bus->producer, BUS_ADMIN_TIMEOUT_MS);
    bool mock = cid != NULL && strncmp(cid, "mockCluster", 11) == 0;
    if (cid != NULL)
        rd_kafka_mem_free(bus->producer, cid);
    if (!mock) {
        rc = bus_create_topics_admin(bus, want, k, err);
        goto out;
    }
    for (size_t i = 0; i < k; i++)
        bus_auto_create(bus, want[i]);
    e = bus_missing_topics(bus, want, k, missing, &nmissing);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR || nmissing > 0) {
        const char *first = "";
        for (size_t i = 0; i < k && e == RD_KAFKA_RESP_ERR_NO_ERROR; i++)
            if (missing[i]) {
                first = want[i];
                break;
            }
        lw_err_set(err, &lw_err_bus_unavailable,
                   "topic %s missing and the mock cluster at %s did not create it", first,
                   bus->bootstrap);
        goto out;
    }
    for (size_t i = 0; i < k; i++)
        lw_log(LW_LOG_WARN, "bus", "topic auto-created by the broker with its default partitions",
               "topic", want[i], "brokers", bus->bootstrap, NULL);
    rc = 0;
out:
    free(missing);
    free(want);
    return rc;
}

static void bus_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int lw_bus_publish(lw_bus_t *bus, const char *name, const void *key, size_t key_len,
                   const void *value, size_t value_len, lw_err_t *err)
{
    char topic[256];
    if (bus->state == BUS_STOPPED || bus->producer == NULL)
        return lw_err_set(err, &lw_err_bus_publish, "publish on %s: the bus is stopped", name);
    lw_bus_topic(bus, name, topic, sizeof(topic));
    if (bus->embedded && bus_mock_topic_once(bus, topic, err) != 0)
        return -1;
    unsigned char raw[BUS_ID_BYTES];
    char id[2 * BUS_ID_BYTES + 1];
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return lw_err_set(err, &lw_err_bus_publish, "publish on %s: no random bytes for the id",
                          topic);
    bus_hex(raw, sizeof(raw), id);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        bus->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY((void *)key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
        RD_KAFKA_V_HEADER(BUS_ID_HEADER, id, (ssize_t)(2 * BUS_ID_BYTES)), RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        lw_err_set(err, &lw_err_bus_publish, "publish on %s: %s", topic, rd_kafka_err2str(e));
        lw_err_attr(err, "topic", topic);
        lw_err_attr(err, "error", rd_kafka_err2name(e));
        return -1;
    }
    bus->stats.published++;
    bus_metric(bus->m.published, topic, 1);
    return 0;
}

/* ---- consumers -------------------------------------------------------------------- */

static lw_bus_partition_t *bus_parts(const rd_kafka_topic_partition_list_t *l)
{
    lw_bus_partition_t *p = calloc(l->cnt > 0 ? (size_t)l->cnt : 1, sizeof(*p));
    if (p == NULL)
        abort();
    for (int i = 0; i < l->cnt; i++) {
        p[i].topic = l->elems[i].topic;
        p[i].partition = l->elems[i].partition;
    }
    return p;
}

static void bus_log_parts(lw_bus_consumer_t *c, const char *what,
                          const rd_kafka_topic_partition_list_t *l)
{
    char list[1024];
    size_t off = 0;
    list[0] = '\0';
    for (int i = 0; i < l->cnt && off < sizeof(list) - 1; i++) {
        int w = snprintf(list + off, sizeof(list) - off, "%s%s[%d]", i > 0 ? "," : "",
                         l->elems[i].topic, (int)l->elems[i].partition);
        if (w < 0)
            break;
        off += (size_t)w;
    }
    char cnt[16];
    snprintf(cnt, sizeof(cnt), "%d", l->cnt);
    lw_log(LW_LOG_INFO, "bus", what, "group", c->group, "count", cnt, "partitions", list, NULL);
}

static void bus_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                             rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    lw_bus_consumer_t *c = opaque;
    lw_bus_partition_t *p = bus_parts(parts);
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        bus_log_parts(c, "partitions assigned", parts);
        if (c->h.on_assign != NULL)
            c->h.on_assign(c->arg, c, p, (size_t)parts->cnt);
        rd_kafka_assign(rk, parts);
    } else {
        if (e == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
            bus_log_parts(c, "partitions revoked", parts);
        else
            lw_log(LW_LOG_ERROR, "bus", "rebalance failed", "group", c->group, "error",
                   rd_kafka_err2name(e), NULL);
        if (c->h.on_revoke != NULL)
            c->h.on_revoke(c->arg, c, p, (size_t)parts->cnt);
        /* Unassigning commits the offsets the handler stored for these partitions. */
        rd_kafka_assign(rk, NULL);
        for (size_t i = 0; i < c->nresets; i++)
            free(c->resets[i].topic);
        c->nresets = 0;
    }
    free(p);
}

static void bus_consumer_reset(lw_bus_consumer_t *c, const char *topic, int32_t partition,
                               int64_t offset, const char *reason)
{
    lw_bus_t *bus = c->bus;
    char part[16], off[24];
    snprintf(part, sizeof(part), "%d", (int)partition);
    snprintf(off, sizeof(off), "%lld", (long long)offset);
    /* The messages between the offset we wanted and the one we get next are gone. */
    lw_log(LW_LOG_ERROR, "bus",
           "DATA LOSS: consumer offset out of range, skipping to the oldest "
           "message the broker still holds",
           "group", c->group, "topic", topic, "partition", part, "offset", off, "reason", reason,
           NULL);
    bus->stats.offset_resets++;
    bus_metric(bus->m.resets, topic, 1);
    if (offset < 0)
        return;
    bus_reset_t *nr = realloc(c->resets, (c->nresets + 1) * sizeof(*nr));
    if (nr == NULL || (nr[c->nresets].topic = strdup(topic)) == NULL)
        abort();
    c->resets = nr;
    nr[c->nresets].partition = partition;
    nr[c->nresets].offset = offset;
    c->nresets++;
}

/* librdkafka 2.0 resets an out-of-range offset without handing the application an error:
 * it only logs (facility OFFSET, level warning)
 *   "[thrd:main]: lw.t [3]: offset reset (at offset 1, broker 1) to cached BEGINNING
 *    offset 249: fetch failed due to requested offset not available on the broker:
 *    Broker: Offset out of range".
 * Consumers route their logs through the consumer queue (log.queue), so this runs on the
 * loop thread, and the line is parsed for topic, partition and the offset we wanted. */
static void bus_consumer_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    lw_bus__log_cb(rk, level, fac, buf);
    lw_bus_consumer_t *c = rd_kafka_opaque(rk);
    const char *mark = strstr(buf, ": offset reset (at offset ");
    if (c == NULL || strcmp(fac, "OFFSET") != 0 || mark == NULL ||
        strstr(buf, "out of range") == NULL)
        return;
    const char *start = strstr(buf, "]: ");
    start = start != NULL && start < mark ? start + 3 : buf;
    const char *br = NULL;
    for (const char *q = start; q < mark; q++)
        if (q[0] == ' ' && q[1] == '[')
            br = q;
    if (br == NULL || (size_t)(br - start) >= 256)
        return;
    char topic[256];
    memcpy(topic, start, (size_t)(br - start));
    topic[br - start] = '\0';
    long part = strtol(br + 2, NULL, 10);
    long long off = strtoll(mark + strlen(": offset reset (at offset "), NULL, 10);
    bus_consumer_reset(c, topic, (int32_t)part, (int64_t)off, "offset out of range");
}

/* The first message after a reset sizes the loss. */
static void bus_consumer_check_reset(lw_bus_consumer_t *c, const char *topic,
                                     const rd_kafka_message_t *m)
{
    for (size_t i = 0; i < c->nresets; i++) {
        bus_reset_t *r = &c->resets[i];
        if (r->partition != m->partition || strcmp(r->topic, topic) != 0)
            continue;
        if (m->offset > r->offset) {
            uint64_t lost = (uint64_t)(m->offset - r->offset);
            c->bus->stats.lost += lost;
            bus_metric(c->bus->m.lost, topic, (double)lost);
            char part[16], n[24];
            snprintf(part, sizeof(part), "%d", (int)m->partition);
            snprintf(n, sizeof(n), "%llu", (unsigned long long)lost);
            lw_log(LW_LOG_ERROR, "bus", "DATA LOSS: messages skipped", "group", c->group, "topic",
                   topic, "partition", part, "lost", n, NULL);
        }
        free(r->topic);
        c->resets[i] = c->resets[--c->nresets];
        return;
    }
}

static void bus_consumer_message(lw_bus_consumer_t *c, rd_kafka_message_t *m)
{
    lw_bus_t *bus = c->bus;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            return;
        if (m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE ||
            m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
            bus_consumer_reset(c, m->rkt != NULL ? rd_kafka_topic_name(m->rkt) : "", m->partition,
                               m->offset, rd_kafka_message_errstr(m));
            return;
        }
        lw_log(LW_LOG_WARN, "bus", "consumer error", "group", c->group, "topic",
               m->rkt != NULL ? rd_kafka_topic_name(m->rkt) : NULL, "error",
               rd_kafka_err2name(m->err), "reason", rd_kafka_message_errstr(m), NULL);
        return;
    }
    const char *topic = rd_kafka_topic_name(m->rkt);
    if (c->nresets > 0)
        bus_consumer_check_reset(c, topic, m);
    char id[BUS_MAX_ID_LEN + 1] = "";
    rd_kafka_headers_t *hdrs = NULL;
    const void *hv = NULL;
    size_t hlen = 0;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(hdrs, BUS_ID_HEADER, &hv, &hlen) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        hv != NULL) {
        if (hlen > BUS_MAX_ID_LEN)
            hlen = BUS_MAX_ID_LEN;
        memcpy(id, hv, hlen);
        id[hlen] = '\0';
    }
    lw_bus_msg_t msg = {
        .topic = topic,
        .partition = m->partition,
        .offset = m->offset,
        .key = m->key,
        .key_len = m->key_len,
        .value = m->payload,
        .value_len = m->len,
        .id = id,
    };
    bus->stats.consumed++;
    bus_metric(bus->m.consumed, topic, 1);
    c->h.on_message(c->arg, c, &msg);
}

static void bus_consumer_finish(lw_bus_consumer_t *c);

static void bus_consumer_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    lw_bus_consumer_t *c = opaque;
    lw_log(LW_LOG_WARN, "bus", "librdkafka error", "client", rd_kafka_name(rk), "group", c->group,
           "error", rd_kafka_err2name((rd_kafka_resp_err_t)err), "reason", reason, NULL);
}

static bool bus_consumer_serve(bus_pump_t *p)
{
    lw_bus_consumer_t *c = (lw_bus_consumer_t *)((char *)p - offsetof(lw_bus_consumer_t, pump));
    if (c->rk == NULL)
        return false;
    for (int i = 0; i < BUS_CONSUMER_BATCH; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 0);
        if (m == NULL)
            break;
        /* While closing, messages still fetched are dropped uncommitted: the next owner
         * gets them. */
        if (c->state == CONSUMER_RUNNING)
            bus_consumer_message(c, m);
        rd_kafka_message_destroy(m);
        if (c->rk == NULL)
            return false;
    }
    if (c->state == CONSUMER_CLOSING && rd_kafka_consumer_closed(c->rk)) {
        bus_consumer_finish(c);
        return false;
    }
    return rd_kafka_queue_length(c->q) > 0;
}

static void bus_consumer_free(lw_bus_consumer_t *c)
{
    for (size_t i = 0; i < c->nresets; i++)
        free(c->resets[i].topic);
    free(c->resets);
    free(c->group);
    free(c);
}

static void bus_consumer_pump_closed(bus_pump_t *p)
{
    lw_bus_consumer_t *c = (lw_bus_consumer_t *)((char *)p - offsetof(lw_bus_consumer_t, pump));
    lw_bus_t *bus = c->bus;
    lw_bus_consumer_t **pp = &bus->consumers;
    while (*pp != NULL && *pp != c)
        pp = &(*pp)->next;
    if (*pp == c)
        *pp = c->next;
    bus_consumer_free(c);
    bus_stop_step(bus);
}

/* The consumer has left its group (or the deadline passed): destroy the handle and close
 * the pump; the consumer is freed in the pump's close callback. */
static void bus_consumer_finish(lw_bus_consumer_t *c)
{
    if (c->state == CONSUMER_CLOSED)
        return;
    bool clean = c->rk != NULL && rd_kafka_consumer_closed(c->rk);
    c->state = CONSUMER_CLOSED;
    lw_log(clean ? LW_LOG_INFO : LW_LOG_WARN, "bus", "consumer closed", "group", c->group, "clean",
           clean ? "true" : "false", NULL);
    rd_kafka_queue_io_event_enable(c->q, -1, NULL, 0);
    rd_kafka_queue_destroy(c->q);
    c->q = NULL;
    /* Already closed (or giving up): don't let destroy close it again, synchronously. */
    rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    c->rk = NULL;
    bus_pump_close(&c->pump, NULL); /* last: c may be freed by the time it returns */
}

static void bus_consumer_begin_close(lw_bus_consumer_t *c)
{
    if (c->state != CONSUMER_RUNNING)
        return;
    c->state = CONSUMER_CLOSING;
    rd_kafka_error_t *e = rd_kafka_consumer_close_queue(c->rk, c->q);
    if (e != NULL) {
        lw_log(LW_LOG_WARN, "bus", "consumer close failed", "group", c->group, "reason",
               rd_kafka_error_string(e), NULL);
        rd_kafka_error_destroy(e);
        bus_consumer_finish(c);
        return;
    }
    uv_timer_start(&c->pump.timer, bus_pump_timer_cb, 0, BUS_SAFETY_POLL_MS);
}

lw_bus_consumer_t *lw_bus_subscribe(lw_bus_t *bus, const char *group, const char *const *names,
                                    size_t n, const lw_bus_handler_t *h, void *arg, lw_err_t *err)
{
    return lw_bus_subscribe_opts(bus, group, names, n, h, arg, NULL, err);
}

lw_bus_consumer_t *lw_bus_subscribe_opts(lw_bus_t *bus, const char *group, const char *const *names,
                                         size_t n, const lw_bus_handler_t *h, void *arg,
                                         const lw_bus_sub_opts_t *opts, lw_err_t *err)
{
    char errstr[512];
    char gbuf[256];
    if (bus->state != BUS_RUNNING) {
        lw_err_set(err, &lw_err_bus_unavailable, "subscribe: the bus is stopping");
        return NULL;
    }
    if (h == NULL || h->on_message == NULL || n == 0) {
        lw_err_set(err, &lw_err_invalid_argument, "subscribe: a handler and topics are needed");
        return NULL;
    }
    if (group == NULL) {
        char host[128] = "host";
        unsigned char r[4];
        char rh[9];
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        if (RAND_bytes(r, sizeof(r)) != 1)
            memset(r, 0, sizeof(r));
        bus_hex(r, sizeof(r), rh);
        snprintf(gbuf, sizeof(gbuf), "lw-%s-%ld-%s", host, (long)getpid(), rh);
    } else {
        snprintf(gbuf, sizeof(gbuf), "%s", group);
    }
    lw_bus_consumer_t *c = calloc(1, sizeof(*c));
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new((int)n);
    if (c == NULL || (c->group = strdup(gbuf)) == NULL)
        abort();
    c->bus = bus;
    c->h = *h;
    c->arg = arg;
    for (size_t i = 0; i < n; i++) {
        char topic[256];
        lw_bus_topic(bus, names[i], topic, sizeof(topic));
        if (bus->embedded && bus_mock_topic_once(bus, topic, err) != 0)
            goto fail;
        rd_kafka_topic_partition_list_add(tl, topic, RD_KAFKA_PARTITION_UA);
    }

    /* A private group sees what is published from now on (broadcast) unless asked to read
     * from the beginning; a named group starts a new partition from its beginning so
     * nothing is missed. */
    bool from_start = group != NULL || (opts != NULL && opts->from_beginning);
    const char *kv[] = {
        "group.id",
        c->group,
        "client.id",
        "lwstack",
        "auto.offset.reset",
        from_start ? "earliest" : "latest",
        "enable.auto.commit",
        "true",
        "enable.auto.offset.store",
        "false",
        "auto.commit.interval.ms",
        "1000",
        "session.timeout.ms",
        "10000",
        "partition.assignment.strategy",
        "range,roundrobin",
        "log.queue",
        "true",
        NULL,
    };
    rd_kafka_conf_t *conf = bus_conf_new(bus, kv, err);
    if (conf == NULL)
        goto fail;
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_error_cb(conf, bus_consumer_error_cb);
    rd_kafka_conf_set_rebalance_cb(conf, bus_rebalance_cb);
    rd_kafka_conf_set_log_cb(conf, bus_consumer_log_cb);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (c->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        lw_err_set(err, &lw_err_bus_unavailable, "creating a Kafka consumer: %s", errstr);
        goto fail;
    }
    /* Logs, then everything else of the main queue, go to the consumer queue. */
    rd_kafka_set_log_queue(c->rk, NULL);
    rd_kafka_poll_set_consumer(c->rk);
    c->q = rd_kafka_queue_get_consumer(c->rk);
    int rc = bus_pump_init(&c->pump, bus->loop, c->q);
    if (rc != 0) {
        lw_err_set(err, &lw_err_internal, "consumer wake-up pipe: %s", uv_strerror(rc));
        goto fail;
    }
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, tl);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        lw_err_set(err, &lw_err_bus_unavailable, "subscribing group %s: %s", c->group,
                   rd_kafka_err2str(e));
        /* The pump's handles exist: the consumer is freed in their close callback, and
         * no callback of the handler ever runs. */
        c->state = CONSUMER_CLOSED;
        c->pump.closed = bus_consumer_pump_closed;
        c->next = bus->consumers;
        bus->consumers = c;
        rd_kafka_queue_io_event_enable(c->q, -1, NULL, 0);
        rd_kafka_queue_destroy(c->q);
        c->q = NULL;
        rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        c->rk = NULL;
        rd_kafka_topic_partition_list_destroy(tl);
        bus_pump_close(&c->pump, NULL);
        return NULL;
    }
    c->pump.serve = bus_consumer_serve;
    c->pump.closed = bus_consumer_pump_closed;
    bus_pump_start(&c->pump);
    c->next = bus->consumers;
    bus->consumers = c;
    rd_kafka_topic_partition_list_destroy(tl);
    lw_log(LW_LOG_INFO, "bus", "consumer subscribed", "group", c->group, "offset_reset",
           from_start ? "earliest" : "latest", NULL);
    return c;
fail:
    if (c->q != NULL)
        rd_kafka_queue_destroy(c->q);
    if (c->rk != NULL)
        rd_kafka_destroy(c->rk);
    rd_kafka_topic_partition_list_destroy(tl);
    bus_consumer_free(c);
    return NULL;
}

void lw_bus_commit(lw_bus_consumer_t *c, const lw_bus_msg_t *msg)
{
    if (c->rk == NULL || c->state != CONSUMER_RUNNING)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, msg->topic, msg->partition)->offset = msg->offset + 1;
    rd_kafka_resp_err_t e = rd_kafka_offsets_store(c->rk, l);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && l->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR)
        e = l->elems[0].err;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* The partition moved away in between: its new owner replays the message. */
        char part[16];
        snprintf(part, sizeof(part), "%d", (int)msg->partition);
        lw_log(LW_LOG_DEBUG, "bus", "offset not stored", "group", c->group, "topic", msg->topic,
               "partition", part, "error", rd_kafka_err2name(e), NULL);
    }
    rd_kafka_topic_partition_list_destroy(l);
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

static void bus_handle_gone(lw_bus_t *bus)
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
    bus_handle_gone(h->data);
}

static void bus_destroy_producer(lw_bus_t *bus)
{
    if (bus->producer == NULL)
        return;
    int left = rd_kafka_outq_len(bus->producer);
    if (left > 0) {
        char n[16];
        snprintf(n, sizeof(n), "%d", left);
        lw_log(LW_LOG_ERROR, "bus", "messages not delivered before the flush timeout", "count", n,
               NULL);
        rd_kafka_purge(bus->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(bus->producer, 0); /* counts the purged ones as failed */
    }
    rd_kafka_queue_io_event_enable(bus->mainq, -1, NULL, 0);
    rd_kafka_queue_destroy(bus->mainq);
    bus->mainq = NULL;
    rd_kafka_destroy(bus->producer);
    bus->producer = NULL;
    if (bus->mock != NULL) {
        rd_kafka_mock_cluster_destroy(bus->mock);
        bus->mock = NULL;
        rd_kafka_destroy(bus->mock_rk);
        bus->mock_rk = NULL;
    }
}

static void bus_close_handles(lw_bus_t *bus)
{
    bus_pump_close(&bus->pump, NULL);
    bus_close((uv_handle_t *)&bus->health_timer, bus_handle_closed);
    bus_close((uv_handle_t *)&bus->stop_timer, bus_handle_closed);
}

/* Advances the stop: consumers closing → producer flushing → handles closing. Called from
 * the stop timer, consumer close callbacks and the health probe's completion. */
static void bus_stop_pass(lw_bus_t *bus)
{
    if (bus->state != BUS_STOPPING)
        return;
    uint64_t now = bus_now_ms();
    bool late = now >= bus->stop_deadline_ms;
    if (bus->consumers != NULL) {
        lw_bus_consumer_t *next;
        if (late)
            for (lw_bus_consumer_t *c = bus->consumers; c != NULL; c = next) {
                next = c->next;
                if (c->state == CONSUMER_CLOSING)
                    bus_consumer_finish(c);
            }
        return; /* each consumer's close callback calls us again */
    }
    if (!late && bus->producer != NULL && rd_kafka_outq_len(bus->producer) > 0)
        return;
    if (bus->health_busy)
        return; /* bus_health_after calls us again */
    bus->state = BUS_STOPPED;
    uv_timer_stop(&bus->stop_timer);
    bus_destroy_producer(bus);
    lw_log(LW_LOG_INFO, "bus", "bus stopped", NULL);
    bus_close_handles(bus);
}

static void bus_stop_step(lw_bus_t *bus)
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
    bus_stop_step(t->data);
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
    bus->stop_deadline_ms = bus_now_ms() + (uint64_t)t;
    uv_timer_stop(&bus->health_timer);
    char n[24];
    snprintf(n, sizeof(n), "%d", bus->producer != NULL ? rd_kafka_outq_len(bus->producer) : 0);
    lw_log(LW_LOG_INFO, "bus", "bus stopping", "queued", n, NULL);
    /* Consumers first: their on_revoke may still publish. */
    lw_bus_consumer_t *next;
    for (lw_bus_consumer_t *c = bus->consumers; c != NULL; c = next) {
        next = c->next;
        bus_consumer_begin_close(c);
    }
    uv_timer_start(&bus->stop_timer, bus_stop_timer_cb, 5, 5);
    bus_stop_step(bus);
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
        uv_timer_stop(&bus->health_timer);
    }
    bus->stop_done = NULL;
    bus->stop_deadline_ms = 0;
    bus->in_step = true; /* consumers' close callbacks must not advance the stop yet */
    lw_bus_consumer_t *next;
    for (lw_bus_consumer_t *c = bus->consumers; c != NULL; c = next) {
        next = c->next;
        if (c->state != CONSUMER_CLOSED) {
            c->state = CONSUMER_CLOSING;
            bus_consumer_finish(c);
        }
    }
    if (bus->health_busy)
        uv_cancel((uv_req_t *)&bus->health_work); /* else bus_health_after continues */
    bus->in_step = false;
    bus_stop_step(bus); /* may free bus */
}
