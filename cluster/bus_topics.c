/* Topic names, the topic table and lw_bus_ensure_topics (bus_private.h).
 *
 * The table holds one record per topic this process names, with its metric series resolved
 * when the record is made (or when metrics are set), so that publishing, delivery reports
 * and consumed messages count without a label lookup. It is small (the topics the code
 * names), so a linear search by name serves lw_bus_publish, which is given a name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/bus_private.h"
#include "cluster/log.h"
#include "cluster/mem.h"

const char *lw_bus_topic(const lw_bus_t *bus, const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s", bus->prefix, name);
    return buf;
}

static void bus_topic_metrics(const lw_bus_t *bus, bus_topic_t *t)
{
    const char *const v[] = {t->name, NULL};
    t->published = lw_metric_series(bus->m_published, v);
    t->delivered = lw_metric_series(bus->m_delivered, v);
    t->failed = lw_metric_series(bus->m_failed, v);
    t->consumed = lw_metric_series(bus->m_consumed, v);
    t->lost = lw_metric_series(bus->m_lost, v);
    t->resets = lw_metric_series(bus->m_resets, v);
}

bus_topic_t *lw_bus__topic_get(lw_bus_t *bus, const char *full)
{
    for (size_t i = 0; i < bus->ntopics; i++)
        if (strcmp(bus->topics[i]->name, full) == 0)
            return bus->topics[i];
    bus_topic_t **nt = lw_realloc(bus->topics, (bus->ntopics + 1) * sizeof(*nt));
    bus->topics = nt;
    bus_topic_t *t = lw_calloc(1, sizeof(*t));
    t->name = lw_strdup(full);
    bus_topic_metrics(bus, t);
    bus->topics[bus->ntopics++] = t;
    return t;
}

void lw_bus__topics_metrics(lw_bus_t *bus)
{
    for (size_t i = 0; i < bus->ntopics; i++)
        bus_topic_metrics(bus, bus->topics[i]);
}

void lw_bus__topics_free(lw_bus_t *bus)
{
    for (size_t i = 0; i < bus->ntopics; i++) {
        free(bus->topics[i]->name);
        free(bus->topics[i]);
    }
    free(bus->topics);
    bus->topics = NULL;
    bus->ntopics = 0;
}

rd_kafka_resp_err_t lw_bus__mock_topic(rd_kafka_mock_cluster_t *mc, const char *topic,
                                       int partitions)
{
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, topic, partitions, 1);
    if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        return RD_KAFKA_RESP_ERR_NO_ERROR;
    return e;
}

int lw_bus__topic_prepare(lw_bus_t *bus, bus_topic_t *t, lw_err_t *err)
{
    if (!bus->embedded || t->on_cluster)
        return 0;
    rd_kafka_resp_err_t e = lw_bus__mock_topic(bus->mock, t->name, bus->partitions);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return lw_err_set(err, &lw_err_bus_unavailable, "creating topic %s: %s", t->name,
                          rd_kafka_err2str(e));
    t->on_cluster = true;
    lw_log_kv(LW_LOG_INFO, "bus", "topic created", LW_LOG_STR("topic", t->name),
              LW_LOG_INT("partitions", bus->partitions), LW_LOG_STR("cluster", "embedded"));
    return 0;
}

/* Real cluster: CreateTopics through the Admin API, waiting for the result (bounded). */
static int bus_create_topics_admin(lw_bus_t *bus, const char **topics, size_t n, lw_err_t *err)
{
    int rc = -1;
    char errstr[512];
    rd_kafka_NewTopic_t **nt = lw_calloc(n, sizeof(*nt));
    rd_kafka_queue_t *q = rd_kafka_queue_new(bus->producer);
    rd_kafka_AdminOptions_t *opt =
        rd_kafka_AdminOptions_new(bus->producer, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_event_t *ev = NULL;
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
        lw_log_kv(LW_LOG_INFO, "bus", "topic created", LW_LOG_STR("topic", name),
                  LW_LOG_INT("partitions", bus->partitions));
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

/* The mock cluster (`lwstack kafka-dev`) has no CreateTopics (the Admin API waits for a
 * controller until it times out): it is known by its cluster id. */
static bool bus_cluster_is_mock(lw_bus_t *bus)
{
    char *cid = rd_kafka_clusterid(bus->producer, BUS_ADMIN_TIMEOUT_MS);
    bool mock = cid != NULL && strncmp(cid, "mockCluster", 11) == 0;
    if (cid != NULL)
        rd_kafka_mem_free(bus->producer, cid);
    return mock;
}

/* A mock broker: asks it to auto-create want[0..k), then checks that it did. */
static int bus_auto_create_all(lw_bus_t *bus, const char **want, size_t k, bool *missing,
                               lw_err_t *err)
{
    size_t nmissing = 0;
    for (size_t i = 0; i < k; i++)
        bus_auto_create(bus, want[i]);
    rd_kafka_resp_err_t e = bus_missing_topics(bus, want, k, missing, &nmissing);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR || nmissing > 0) {
        const char *first = "";
        for (size_t i = 0; i < k && e == RD_KAFKA_RESP_ERR_NO_ERROR; i++)
            if (missing[i]) {
                first = want[i];
                break;
            }
        return lw_err_set(err, &lw_err_bus_unavailable,
                          "topic %s missing and the mock cluster at %s did not create it", first,
                          bus->bootstrap);
    }
    for (size_t i = 0; i < k; i++)
        lw_log(LW_LOG_WARN, "bus", "topic auto-created by the broker with its default partitions",
               "topic", want[i], "brokers", bus->bootstrap, NULL);
    return 0;
}

/* A real cluster (or `lwstack kafka-dev`): creates the topics it lacks. */
static int bus_ensure_remote(lw_bus_t *bus, const char *const *topics, size_t n, lw_err_t *err)
{
    int rc = -1;
    size_t nmissing = 0, k = 0;
    bool *missing = lw_calloc(n, sizeof(*missing));
    const char **want = lw_calloc(n, sizeof(*want));
    rd_kafka_resp_err_t e = bus_missing_topics(bus, topics, n, missing, &nmissing);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        lw_err_set(err, &lw_err_bus_unavailable, "listing topics on %s: %s", bus->bootstrap,
                   rd_kafka_err2str(e));
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (missing[i])
            want[k++] = topics[i];
    if (k == 0)
        rc = 0;
    else if (bus_cluster_is_mock(bus))
        rc = bus_auto_create_all(bus, want, k, missing, err);
    else
        rc = bus_create_topics_admin(bus, want, k, err);
out:
    free(missing);
    free(want);
    return rc;
}

/* Blocks the loop up to a few seconds per step: it runs at start-up, before components
 * serve anything, and a component must not start without its topics. */
int lw_bus_ensure_topics(lw_bus_t *bus, const char *const *topics, size_t n, lw_err_t *err)
{
    if (bus->state != BUS_RUNNING)
        return lw_err_set(err, &lw_err_bus_unavailable, "the bus is stopping");
    if (n == 0)
        return 0;
    if (!bus->embedded)
        return bus_ensure_remote(bus, topics, n, err);
    for (size_t i = 0; i < n; i++)
        if (lw_bus__topic_prepare(bus, lw_bus__topic_get(bus, topics[i]), err) != 0)
            return -1;
    return 0;
}
