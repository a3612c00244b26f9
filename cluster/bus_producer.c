/* The bus's producer (bus_private.h): publish, delivery reports, and the flush at stop.
 *
 * Each message carries its topic record as librdkafka's per-message opaque, so a delivery
 * report counts on the record's metric series without looking the topic up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/uid.h"
#include "cluster/bus_private.h"
#include "cluster/clock.h"
#include "cluster/hex.h"
#include "cluster/log.h"

static void bus_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    lw_bus_t *bus = opaque;
    bus_topic_t *t = m->_private;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        bus->stats.delivered++;
        lw_metric_series_add(t->delivered, 1);
        return;
    }
    bus->stats.failed++;
    lw_metric_series_add(t->failed, 1);
    /* At most one line per second: a broker outage fails messages by the thousand. */
    uint64_t now = lw_clock_mono_ms();
    if (now - bus->fail_log_ms < 1000) {
        bus->fail_unlogged++;
        return;
    }
    lw_log_kv(LW_LOG_ERROR, "bus", "message not delivered", LW_LOG_STR("topic", t->name),
              LW_LOG_INT("partition", m->partition), LW_LOG_STR("error", rd_kafka_err2name(m->err)),
              LW_LOG_STR("reason", rd_kafka_err2str(m->err)),
              LW_LOG_UINT("also_failed_unlogged", bus->fail_unlogged));
    bus->fail_log_ms = now;
    bus->fail_unlogged = 0;
}

static bool bus_producer_serve(bus_pump_t *p)
{
    lw_bus_t *bus = (lw_bus_t *)((char *)p - offsetof(lw_bus_t, pump));
    if (bus->producer == NULL)
        return false;
    rd_kafka_poll(bus->producer, 0);
    return rd_kafka_queue_length(bus->mainq) > 0;
}

static void bus_producer_pump_closed(bus_pump_t *p)
{
    /* The pump's two handles count as one in open_handles. */
    lw_bus__handle_gone((lw_bus_t *)((char *)p - offsetof(lw_bus_t, pump)));
}

int lw_bus__producer_start(lw_bus_t *bus, lw_err_t *err)
{
    char errstr[512];
    /* murmur2_random is the Java client's partitioner: the same key lands on the same
     * partition whichever client published it. A small linger keeps latency low while
     * still batching under load. */
    static const char *const producer_kv[] = {
        "client.id",      "lwstack",   "partitioner",
        "murmur2_random", "linger.ms", "5",
        "acks",           "all",       "queue.buffering.max.messages",
        "1000000",        NULL,
    };
    rd_kafka_conf_t *conf = lw_bus__conf_new(bus, producer_kv, err);
    if (conf == NULL)
        return -1;
    rd_kafka_conf_set_dr_msg_cb(conf, bus_dr_cb);
    bus->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (bus->producer == NULL) {
        rd_kafka_conf_destroy(conf);
        return lw_err_set(err, &lw_err_bus_unavailable, "creating the Kafka producer: %s", errstr);
    }
    bus->mainq = rd_kafka_queue_get_main(bus->producer);
    int rc = lw_bus__pump_init(&bus->pump, bus->loop, bus->mainq);
    if (rc != 0) {
        rd_kafka_queue_destroy(bus->mainq);
        bus->mainq = NULL;
        rd_kafka_destroy(bus->producer);
        bus->producer = NULL;
        return lw_err_set(err, &lw_err_internal, "bus wake-up pipe: %s", uv_strerror(rc));
    }
    bus->pump.serve = bus_producer_serve;
    bus->pump.closed = bus_producer_pump_closed;
    return 0;
}

void lw_bus__producer_destroy(lw_bus_t *bus)
{
    if (bus->producer == NULL)
        return;
    int left = rd_kafka_outq_len(bus->producer);
    if (left > 0) {
        lw_log_kv(LW_LOG_ERROR, "bus", "messages not delivered before the flush timeout",
                  LW_LOG_INT("count", left));
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

int lw_bus_publish(lw_bus_t *bus, const char *name, const void *key, size_t key_len,
                   const void *value, size_t value_len, lw_err_t *err)
{
    char topic[BUS_TOPIC_MAX];
    if (bus->state == BUS_STOPPED || bus->producer == NULL)
        return lw_err_set(err, &lw_err_bus_publish, "publish on %s: the bus is stopped", name);
    bus_topic_t *t = lw_bus__topic_get(bus, lw_bus_topic(bus, name, topic, sizeof(topic)));
    if (lw_bus__topic_prepare(bus, t, err) != 0)
        return -1;
    unsigned char raw[BUS_ID_BYTES];
    char id[2 * BUS_ID_BYTES + 1];
    lw_uid(raw);
    lw_hex_encode(raw, sizeof(raw), id);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        bus->producer, RD_KAFKA_V_TOPIC(t->name), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY((void *)key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
        RD_KAFKA_V_HEADER(BUS_ID_HEADER, id, (ssize_t)(2 * BUS_ID_BYTES)), RD_KAFKA_V_OPAQUE(t),
        RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        lw_err_set(err, &lw_err_bus_publish, "publish on %s: %s", topic, rd_kafka_err2str(e));
        lw_err_attr(err, "topic", topic);
        lw_err_attr(err, "error", rd_kafka_err2name(e));
        return -1;
    }
    bus->stats.published++;
    lw_metric_series_add(t->published, 1);
    return 0;
}
