/* Private to cluster/bus*.c: helpers shared by the bus and `lwstack kafka-dev`. */
#ifndef LW_BUS_INT_H
#define LW_BUS_INT_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

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
