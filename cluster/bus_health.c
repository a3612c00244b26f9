/* The bus's readiness (bus_private.h): a broker metadata request every
 * `bus.health-interval`, run on a worker thread since it blocks, and librdkafka's
 * ALL_BROKERS_DOWN, which marks the bus unavailable at once. */
#include <stdatomic.h>

#include "cluster/bus_private.h"
#include "cluster/log.h"

static void bus_set_ready(lw_bus_t *bus, bool ready)
{
    bus->ready = ready;
    lw_metric_series_set(bus->m_up, ready ? 1 : 0);
}

void lw_bus__error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    lw_bus_t *bus = opaque;
    rd_kafka_resp_err_t e = (rd_kafka_resp_err_t)err;
    if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && bus->ready) {
        bus_set_ready(bus, false);
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

/* On a worker thread: touches only the producer (thread-safe) and health_result. */
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

static void bus_health_after(uv_work_t *w, int status)
{
    lw_bus_t *bus = w->data;
    bus->health_busy = false;
    if (bus->state != BUS_RUNNING) {
        lw_bus__stop_step(bus);
        return;
    }
    rd_kafka_resp_err_t e = (rd_kafka_resp_err_t)atomic_load(&bus->health_result);
    bool ok = status == 0 && e == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (ok != bus->ready)
        lw_log(ok ? LW_LOG_INFO : LW_LOG_WARN, "bus", "bus state changed", "state",
               ok ? "available" : "unavailable", "brokers", bus->bootstrap, "error",
               ok ? NULL : rd_kafka_err2name(e), NULL);
    bus_set_ready(bus, ok);
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

void lw_bus__health_start(lw_bus_t *bus)
{
    uv_timer_start(&bus->health_timer, bus_health_timer_cb, 0, (uint64_t)bus->health_interval_ms);
}

void lw_bus__health_stop(lw_bus_t *bus)
{
    uv_timer_stop(&bus->health_timer);
}

bool lw_bus_ready(const lw_bus_t *bus)
{
    return bus != NULL && bus->state == BUS_RUNNING && bus->ready;
}
