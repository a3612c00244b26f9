/* Private to cluster/bus*.c: the bus's state and what its files share.
 *
 *   bus.c           configuration, the queue pump, client configuration, life cycle and stop
 *   bus_producer.c  the producer: publish, delivery reports, flush and destroy
 *   bus_consumer.c  consumers: subscribe, rebalances, messages, data-loss accounting, close
 *   bus_health.c    readiness: the broker metadata probe and librdkafka's error callback
 *   bus_topics.c    topic names, the topic table (metric handles), ensure_topics
 *   bus_dev.c       `lwstack kafka-dev`
 */
#ifndef LW_BUS_PRIVATE_H
#define LW_BUS_PRIVATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <uv.h>

#include "cluster/bus.h"
#include "cluster/metrics.h"

#define BUS_CONSUMER_BATCH   1000 /* messages served per wake-up before yielding the loop */
#define BUS_SAFETY_POLL_MS   200  /* serve queues at least this often */
#define BUS_ID_HEADER        "lw-id"
#define BUS_ID_BYTES         16
#define BUS_MAX_ID_LEN       64 /* longest lw-id header accepted from the wire */
#define BUS_ADMIN_TIMEOUT_MS 10000
#define BUS_PREFIX_MAX       64
#define BUS_TOPIC_MAX        256 /* longest full topic name (prefix + name) */

/* ---- queue pump (bus.c) ---------------------------------------------------------------- */

/* A librdkafka queue served on the loop: IO events on a pipe wake a uv_poll; a timer
 * resumes a queue served only partly and serves it anyway every BUS_SAFETY_POLL_MS. */
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

/* Opens the pipe and enables IO events on q. Returns 0 or a negative errno; on error no
 * handle exists. */
int lw_bus__pump_init(bus_pump_t *p, uv_loop_t *loop, rd_kafka_queue_t *q);
void lw_bus__pump_start(bus_pump_t *p);
/* Serves the queue from the timer at once (a consumer that began closing). */
void lw_bus__pump_kick(bus_pump_t *p);
/* Disables IO events on q (NULL: already destroyed) and closes the handles; p->closed runs
 * from the last close callback. */
void lw_bus__pump_close(bus_pump_t *p, rd_kafka_queue_t *q);

/* ---- the bus --------------------------------------------------------------------------- */

typedef struct bus_prop {
    char *key;
    char *value;
} bus_prop_t;

typedef enum bus_state {
    BUS_RUNNING = 0,
    BUS_STOPPING,
    BUS_STOPPED, /* librdkafka handles destroyed, uv handles closing or closed */
} bus_state_t;

/* A topic this process published to, subscribed to or ensured, with its metric series
 * resolved once (NULL without metrics): the per-message paths count with no label lookup.
 * Freed with the bus, after the producer, so in-flight messages may point at it. */
typedef struct bus_topic {
    char *name;      /* full name, "lw.tenant" */
    bool on_cluster; /* embedded: created on the in-process cluster by this process */
    lw_metric_series_t *published, *delivered, *failed, *consumed, *lost, *resets;
} bus_topic_t;

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
    bus_topic_t **topics;
    size_t ntopics;

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
    uint64_t stop_deadline_ms;  /* the producer's flush gives up then */
    uint64_t close_deadline_ms; /* consumers still closing are given up then (earlier) */
    uv_timer_t stop_timer;
    void (*stop_done)(void *arg);
    void *stop_arg;

    lw_bus_stats_t stats;
    lw_metrics_t *metrics;
    lw_metric_t *m_published, *m_delivered, *m_failed, *m_consumed, *m_lost, *m_resets;
    lw_metric_series_t *m_up;
    uint64_t fail_log_ms; /* rate limit for delivery failure lines */
    uint64_t fail_unlogged;
};

/* A client configuration with our defaults, then kv (NULL-terminated pairs), then
 * bus.kafka.*, with the bus's error and log callbacks. NULL with err on a bad property. */
rd_kafka_conf_t *lw_bus__conf_new(lw_bus_t *bus, const char *const *kv, lw_err_t *err);
/* uv_close, or the close callback at once when someone else closed h already. */
void lw_bus__close(uv_handle_t *h, uv_close_cb cb);
/* One of the bus's handles has closed (the pump counts as one). */
void lw_bus__handle_gone(lw_bus_t *bus);
/* Advances a stop (consumers closing → producer flushing → handles closing); a no-op
 * while running. May free bus when lw_bus_free asked for it. */
void lw_bus__stop_step(lw_bus_t *bus);

/* ---- producer (bus_producer.c) --------------------------------------------------------- */

/* Creates the producer and its pump. Returns 0 or -1 with err. */
int lw_bus__producer_start(lw_bus_t *bus, lw_err_t *err);
/* Purges what is left (counted as failed), destroys the producer and the embedded
 * cluster. The pump's handles are closed separately. */
void lw_bus__producer_destroy(lw_bus_t *bus);

/* ---- consumers (bus_consumer.c) -------------------------------------------------------- */

typedef enum consumer_state {
    CONSUMER_RUNNING = 0,
    CONSUMER_CLOSING,
    CONSUMER_CLOSED,
} consumer_state_t;

typedef struct bus_reset {
    char *topic;
    int32_t partition;
    int64_t offset;
} bus_reset_t;

struct lw_bus_consumer {
    lw_bus_t *bus;
    lw_bus_consumer_t *next;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    bus_pump_t pump;
    bool pump_open; /* the pump's handles exist: c is freed in their close callback */
    lw_bus_handler_t h;
    void *arg;
    char *group;
    bus_topic_t **topics; /* the subscribed topics */
    size_t ntopics;
    consumer_state_t state;
    bus_reset_t *resets; /* offset resets waiting for the next message to size the loss */
    size_t nresets;
    bool paused; /* lw_bus_consumer_pause: new assignments start paused too */
    rd_kafka_topic_partition_list_t *assigned; /* with the start offsets (lw_bus_consumer_lag) */
};

/* Leaves the group (asynchronously); the consumer is freed once it has. */
void lw_bus__consumer_begin_close(lw_bus_consumer_t *c);
/* Destroys the handle now and closes the pump; frees c in the pump's close callback. */
void lw_bus__consumer_finish(lw_bus_consumer_t *c);

/* ---- health (bus_health.c) ------------------------------------------------------------- */

/* Starts the probe timer (the first probe runs at once). */
void lw_bus__health_start(lw_bus_t *bus);
/* Stops probing; a probe in flight still completes (health_busy). */
void lw_bus__health_stop(lw_bus_t *bus);
/* librdkafka's error callback for the bus's own handles. */
void lw_bus__error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque);

/* ---- topics (bus_topics.c) ------------------------------------------------------------- */

/* The record of a full topic name, added on first use. */
bus_topic_t *lw_bus__topic_get(lw_bus_t *bus, const char *full);
/* Embedded: creates the topic with bus.partitions partitions the first time this process
 * names it, before any client's metadata request auto-creates it with the mock's default
 * of 4. A no-op on a real cluster. Returns 0 or -1 with err. */
int lw_bus__topic_prepare(lw_bus_t *bus, bus_topic_t *t, lw_err_t *err);
/* Resolves (m set) or clears every topic's metric series. */
void lw_bus__topics_metrics(lw_bus_t *bus);
void lw_bus__topics_free(lw_bus_t *bus);

/* ---- shared with `lwstack kafka-dev` --------------------------------------------------- */

/* Creates the handle that hosts a mock cluster (one broker on an ephemeral 127.0.0.1
 * port, chosen by librdkafka 2.0 itself) and the cluster. Returns 0, or -1 with why. */
int lw_bus__mock_start(rd_kafka_t **rk, rd_kafka_mock_cluster_t **mc, char *why, size_t len);

/* Creates `topic` on a mock cluster with `partitions` partitions; an existing topic is
 * left as it is. Returns 0 or a librdkafka error code. */
rd_kafka_resp_err_t lw_bus__mock_topic(rd_kafka_mock_cluster_t *mc, const char *topic,
                                       int partitions);

/* librdkafka's log callback, mapped onto lw_log (module "bus"). */
void lw_bus__log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

#endif
