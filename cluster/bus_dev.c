/* `lwstack kafka-dev`: librdkafka's mock cluster as a standalone broker for development and
 * multi-process tests. It speaks the Kafka protocol on an ephemeral 127.0.0.1 port that
 * librdkafka 2.0 picks itself, so the address is printed and written to a file. */
#include "cluster/bus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/bus_private.h"
#include "cluster/log.h"

const char *const lw_bus_std_topics[] = {
    "gs.up",    "ns.dev",     "ns.up",  "as.down", "gs.down", "gs.txack", "as.up",
    "as.links", "as.replies", "events", "tenant",  "usage",   NULL,
};

/* Writes addr + "\n" to path through a temporary file and rename(2), so a reader polling
 * for the file never sees a partial address. */
static int dev_write_file(const char *path, const char *addr)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -errno;
    int rc = 0;
    if (fprintf(f, "%s\n", addr) < 0)
        rc = -EIO;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0)
        remove(tmp);
    return rc;
}

static void dev_signal_cb(uv_signal_t *s, int signum)
{
    lw_log(LW_LOG_INFO, "kafka-dev", "signal received, stopping", "signal",
           signum == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    uv_stop(s->loop);
}

static void dev_close_cb(uv_handle_t *h)
{
    (void)h;
}

int lw_bus_kafka_dev(int partitions, const char *bootstrap_file)
{
    int status = 1;
    rd_kafka_t *rk = NULL;
    rd_kafka_mock_cluster_t *mc = NULL;
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    char why[512];

    if (partitions < 1)
        partitions = 1;
    if (uv_loop_init(&loop) != 0) {
        lw_log(LW_LOG_ERROR, "kafka-dev", "cannot create the event loop", NULL);
        return 1;
    }
    /* Signals first, so one arriving while the cluster starts is not lost. */
    uv_signal_init(&loop, &sigint);
    uv_signal_init(&loop, &sigterm);
    uv_signal_start(&sigint, dev_signal_cb, SIGINT);
    uv_signal_start(&sigterm, dev_signal_cb, SIGTERM);

    if (lw_bus__mock_start(&rk, &mc, why, sizeof(why)) != 0) {
        lw_log(LW_LOG_ERROR, "kafka-dev", "cannot start the mock cluster", "reason", why, NULL);
        goto out;
    }
    const char *addr = rd_kafka_mock_cluster_bootstraps(mc);
    for (size_t i = 0; lw_bus_std_topics[i] != NULL; i++) {
        char topic[128];
        snprintf(topic, sizeof(topic), "lw.%s", lw_bus_std_topics[i]);
        rd_kafka_resp_err_t e = lw_bus__mock_topic(mc, topic, partitions);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            lw_log(LW_LOG_ERROR, "kafka-dev", "cannot create topic", "topic", topic, "error",
                   rd_kafka_err2name(e), NULL);
            goto out;
        }
    }
    if (bootstrap_file != NULL) {
        int rc = dev_write_file(bootstrap_file, addr);
        if (rc != 0) {
            lw_log(LW_LOG_ERROR, "kafka-dev", "cannot write the bootstrap file", "file",
                   bootstrap_file, "error", strerror(-rc), NULL);
            goto out;
        }
    }
    printf("%s\n", addr);
    fflush(stdout);
    lw_log_kv(LW_LOG_INFO, "kafka-dev", "broker ready", LW_LOG_STR("bootstrap", addr),
              LW_LOG_INT("partitions", partitions), LW_LOG_STR("file", bootstrap_file));

    uv_run(&loop, UV_RUN_DEFAULT);
    status = 0;
    if (bootstrap_file != NULL)
        remove(bootstrap_file);
out:
    if (mc != NULL)
        rd_kafka_mock_cluster_destroy(mc);
    if (rk != NULL)
        rd_kafka_destroy(rk);
    uv_close((uv_handle_t *)&sigint, dev_close_cb);
    uv_close((uv_handle_t *)&sigterm, dev_close_cb);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (status == 0)
        lw_log(LW_LOG_INFO, "kafka-dev", "broker stopped", NULL);
    return status;
}
