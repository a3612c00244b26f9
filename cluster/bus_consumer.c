/* The bus's consumers (bus_private.h): subscribe, rebalances (eager: on_revoke for all a
 * member held, then on_assign for its new set), messages, data-loss accounting, commit and
 * close. Each consumer serves its own consumer queue on the loop through a pump. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "cluster/bus_private.h"
#include "cluster/hex.h"
#include "cluster/log.h"
#include "cluster/mem.h"

/* The record of a topic a message came from: one of the consumer's few subscribed topics
 * (usually one), else the bus's table (a reset logged for a topic by name). */
static bus_topic_t *bus_consumer_topic(lw_bus_consumer_t *c, const char *name)
{
    for (size_t i = 0; i < c->ntopics; i++)
        if (strcmp(c->topics[i]->name, name) == 0)
            return c->topics[i];
    return lw_bus__topic_get(c->bus, name);
}

static lw_bus_partition_t *bus_parts(const rd_kafka_topic_partition_list_t *l)
{
    lw_bus_partition_t *p = lw_calloc(l->cnt > 0 ? (size_t)l->cnt : 1, sizeof(*p));
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
    lw_log_kv(LW_LOG_INFO, "bus", what, LW_LOG_STR("group", c->group), LW_LOG_INT("count", l->cnt),
              LW_LOG_STR("partitions", list));
}

static void bus_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                             rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    lw_bus_consumer_t *c = opaque;
    lw_bus_partition_t *p = bus_parts(parts);
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        bus_log_parts(c, "partitions assigned", parts);
        if (c->h.start_offset != NULL)
            for (int i = 0; i < parts->cnt; i++)
                parts->elems[i].offset =
                    c->h.start_offset(c->arg, c, parts->elems[i].topic, parts->elems[i].partition);
        if (c->h.on_assign != NULL)
            c->h.on_assign(c->arg, c, p, (size_t)parts->cnt);
        rd_kafka_assign(rk, parts);
        if (c->assigned != NULL)
            rd_kafka_topic_partition_list_destroy(c->assigned);
        c->assigned = rd_kafka_topic_partition_list_copy(parts);
        if (c->paused)
            rd_kafka_pause_partitions(rk, parts);
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
        if (c->assigned != NULL)
            rd_kafka_topic_partition_list_destroy(c->assigned);
        c->assigned = NULL;
        for (size_t i = 0; i < c->nresets; i++)
            free(c->resets[i].topic);
        c->nresets = 0;
    }
    free(p);
}

static void bus_consumer_reset(lw_bus_consumer_t *c, const char *topic, int32_t partition,
                               int64_t offset, const char *reason)
{
    /* The messages between the offset we wanted and the one we get next are gone. */
    lw_log_kv(LW_LOG_ERROR, "bus",
              "DATA LOSS: consumer offset out of range, skipping to the oldest "
              "message the broker still holds",
              LW_LOG_STR("group", c->group), LW_LOG_STR("topic", topic),
              LW_LOG_INT("partition", partition), LW_LOG_INT("offset", offset),
              LW_LOG_STR("reason", reason));
    c->bus->stats.offset_resets++;
    lw_metric_series_add(bus_consumer_topic(c, topic)->resets, 1);
    if (offset < 0)
        return;
    bus_reset_t *nr = lw_realloc(c->resets, (c->nresets + 1) * sizeof(*nr));
    nr[c->nresets].topic = lw_strdup(topic);
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
static void bus_consumer_check_reset(lw_bus_consumer_t *c, const bus_topic_t *t,
                                     const rd_kafka_message_t *m)
{
    for (size_t i = 0; i < c->nresets; i++) {
        bus_reset_t *r = &c->resets[i];
        if (r->partition != m->partition || strcmp(r->topic, t->name) != 0)
            continue;
        if (m->offset > r->offset) {
            uint64_t lost = (uint64_t)(m->offset - r->offset);
            c->bus->stats.lost += lost;
            lw_metric_series_add(t->lost, (double)lost);
            lw_log_kv(LW_LOG_ERROR, "bus", "DATA LOSS: messages skipped",
                      LW_LOG_STR("group", c->group), LW_LOG_STR("topic", t->name),
                      LW_LOG_INT("partition", m->partition), LW_LOG_UINT("lost", lost));
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
    bus_topic_t *t = bus_consumer_topic(c, rd_kafka_topic_name(m->rkt));
    if (c->nresets > 0)
        bus_consumer_check_reset(c, t, m);
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
        .topic = t->name,
        .partition = m->partition,
        .offset = m->offset,
        .key = m->key,
        .key_len = m->key_len,
        .value = m->payload,
        .value_len = m->len,
        .id = id,
    };
    bus->stats.consumed++;
    lw_metric_series_add(t->consumed, 1);
    c->h.on_message(c->arg, c, &msg);
}

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
        lw_bus__consumer_finish(c);
        return false;
    }
    return rd_kafka_queue_length(c->q) > 0;
}

static void bus_consumer_free(lw_bus_consumer_t *c)
{
    if (c->assigned != NULL)
        rd_kafka_topic_partition_list_destroy(c->assigned);
    for (size_t i = 0; i < c->nresets; i++)
        free(c->resets[i].topic);
    free(c->resets);
    free(c->topics);
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
    lw_bus__stop_step(bus);
}

/* The consumer has left its group (or the deadline passed): destroy the handle and close
 * the pump; the consumer is freed in the pump's close callback. */
void lw_bus__consumer_finish(lw_bus_consumer_t *c)
{
    if (c->state == CONSUMER_CLOSED)
        return;
    bool clean = c->rk != NULL && rd_kafka_consumer_closed(c->rk);
    c->state = CONSUMER_CLOSED;
    lw_log_kv(clean ? LW_LOG_INFO : LW_LOG_WARN, "bus", "consumer closed",
              LW_LOG_STR("group", c->group), LW_LOG_BOOL("clean", clean));
    rd_kafka_queue_io_event_enable(c->q, -1, NULL, 0);
    rd_kafka_queue_destroy(c->q);
    c->q = NULL;
    /* Already closed (or giving up): don't let destroy close it again, synchronously. */
    rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    c->rk = NULL;
    lw_bus__pump_close(&c->pump, NULL); /* last: c may be freed by the time it returns */
}

void lw_bus__consumer_begin_close(lw_bus_consumer_t *c)
{
    if (c->state != CONSUMER_RUNNING)
        return;
    c->state = CONSUMER_CLOSING;
    rd_kafka_error_t *e = rd_kafka_consumer_close_queue(c->rk, c->q);
    if (e != NULL) {
        lw_log(LW_LOG_WARN, "bus", "consumer close failed", "group", c->group, "reason",
               rd_kafka_error_string(e), NULL);
        rd_kafka_error_destroy(e);
        lw_bus__consumer_finish(c);
        return;
    }
    lw_bus__pump_kick(&c->pump);
}

/* ---- subscribe: check, name the group, resolve topics, open the handle, subscribe ---- */

lw_bus_consumer_t *lw_bus_subscribe(lw_bus_t *bus, const char *group, const char *const *names,
                                    size_t n, const lw_bus_handler_t *h, void *arg, lw_err_t *err)
{
    return lw_bus_subscribe_opts(bus, group, names, n, h, arg, NULL, err);
}

/* group NULL: a private group unique to this process, "lw-<host>-<pid>-<random>". */
static char *bus_group_name(const char *group)
{
    char buf[256];
    if (group != NULL) {
        snprintf(buf, sizeof(buf), "%s", group);
    } else {
        char host[128] = "host";
        unsigned char r[4];
        char rh[2 * sizeof(r) + 1];
        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        if (RAND_bytes(r, sizeof(r)) != 1)
            memset(r, 0, sizeof(r));
        lw_hex_encode(r, sizeof(r), rh);
        snprintf(buf, sizeof(buf), "lw-%s-%ld-%s", host, (long)getpid(), rh);
    }
    return lw_strdup(buf);
}

/* Resolves the topics' records (creating them on the embedded cluster before the
 * consumer's first metadata request could auto-create them with 4 partitions). */
static int bus_consumer_topics(lw_bus_consumer_t *c, const char *const *names, size_t n,
                               lw_err_t *err)
{
    c->topics = lw_calloc(n, sizeof(*c->topics));
    for (size_t i = 0; i < n; i++) {
        char topic[BUS_TOPIC_MAX];
        bus_topic_t *t =
            lw_bus__topic_get(c->bus, lw_bus_topic(c->bus, names[i], topic, sizeof(topic)));
        if (lw_bus__topic_prepare(c->bus, t, err) != 0)
            return -1;
        c->topics[c->ntopics++] = t;
    }
    return 0;
}

/* Creates the librdkafka consumer and its pump. */
static int bus_consumer_open(lw_bus_consumer_t *c, bool from_start, lw_err_t *err)
{
    char errstr[512];
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
        /* The data path has a 1 s budget from an uplink to its RX1 downlink across three
         * hops (gs.up, ns.dev, gs.down). librdkafka's default lets an idle fetch wait
         * 500 ms, and the mock cluster waits that long even when a message arrives
         * meanwhile: an idle hop would eat half the budget. 10 ms costs about a hundred
         * empty fetches a second per idle consumer. bus.kafka.fetch.wait.max.ms overrides. */
        "fetch.wait.max.ms",
        "10",
        NULL,
    };
    rd_kafka_conf_t *conf = lw_bus__conf_new(c->bus, kv, err);
    if (conf == NULL)
        return -1;
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_error_cb(conf, bus_consumer_error_cb);
    rd_kafka_conf_set_rebalance_cb(conf, bus_rebalance_cb);
    rd_kafka_conf_set_log_cb(conf, bus_consumer_log_cb);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (c->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return lw_err_set(err, &lw_err_bus_unavailable, "creating a Kafka consumer: %s", errstr);
    }
    /* Logs, then everything else of the main queue, go to the consumer queue. */
    rd_kafka_set_log_queue(c->rk, NULL);
    rd_kafka_poll_set_consumer(c->rk);
    c->q = rd_kafka_queue_get_consumer(c->rk);
    int rc = lw_bus__pump_init(&c->pump, c->bus->loop, c->q);
    if (rc != 0)
        return lw_err_set(err, &lw_err_internal, "consumer wake-up pipe: %s", uv_strerror(rc));
    c->pump_open = true;
    c->pump.serve = bus_consumer_serve;
    c->pump.closed = bus_consumer_pump_closed;
    return 0;
}

static int bus_consumer_join(lw_bus_consumer_t *c, lw_err_t *err)
{
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new((int)c->ntopics);
    for (size_t i = 0; i < c->ntopics; i++)
        rd_kafka_topic_partition_list_add(tl, c->topics[i]->name, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        return lw_err_set(err, &lw_err_bus_unavailable, "subscribing group %s: %s", c->group,
                          rd_kafka_err2str(e));
    return 0;
}

/* Undoes a subscribe that failed part-way; no callback of the handler ever runs. Once the
 * pump's handles exist, c is freed in their close callback (listed until then, so that a
 * stop waits for it). */
static void bus_consumer_discard(lw_bus_consumer_t *c)
{
    if (c->q != NULL) {
        rd_kafka_queue_io_event_enable(c->q, -1, NULL, 0);
        rd_kafka_queue_destroy(c->q);
        c->q = NULL;
    }
    if (c->rk != NULL) {
        /* Never joined a group: nothing to leave. */
        rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        c->rk = NULL;
    }
    if (!c->pump_open) {
        bus_consumer_free(c);
        return;
    }
    c->state = CONSUMER_CLOSED;
    c->next = c->bus->consumers;
    c->bus->consumers = c;
    lw_bus__pump_close(&c->pump, NULL);
}

lw_bus_consumer_t *lw_bus_subscribe_opts(lw_bus_t *bus, const char *group, const char *const *names,
                                         size_t n, const lw_bus_handler_t *h, void *arg,
                                         const lw_bus_sub_opts_t *opts, lw_err_t *err)
{
    if (bus->state != BUS_RUNNING) {
        lw_err_set(err, &lw_err_bus_unavailable, "subscribe: the bus is stopping");
        return NULL;
    }
    if (h == NULL || h->on_message == NULL || n == 0) {
        lw_err_set(err, &lw_err_invalid_argument, "subscribe: a handler and topics are needed");
        return NULL;
    }
    lw_bus_consumer_t *c = lw_calloc(1, sizeof(*c));
    c->bus = bus;
    c->h = *h;
    c->arg = arg;
    c->group = bus_group_name(group);
    /* A private group sees what is published from now on (broadcast) unless asked to read
     * from the beginning; a named group starts a new partition from its beginning so
     * nothing is missed. */
    bool from_start = group != NULL || (opts != NULL && opts->from_beginning);
    if (bus_consumer_topics(c, names, n, err) != 0 || bus_consumer_open(c, from_start, err) != 0 ||
        bus_consumer_join(c, err) != 0) {
        bus_consumer_discard(c);
        return NULL;
    }
    lw_bus__pump_start(&c->pump);
    c->next = bus->consumers;
    bus->consumers = c;
    lw_log(LW_LOG_INFO, "bus", "consumer subscribed", "group", c->group, "offset_reset",
           from_start ? "earliest" : "latest", NULL);
    return c;
}

void lw_bus_consumer_pause(lw_bus_consumer_t *c, bool pause)
{
    if (c->paused == pause)
        return;
    c->paused = pause;
    if (c->rk == NULL || c->state != CONSUMER_RUNNING)
        return;
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(c->rk, &l) != RD_KAFKA_RESP_ERR_NO_ERROR || l == NULL)
        return;
    if (pause)
        rd_kafka_pause_partitions(c->rk, l);
    else
        rd_kafka_resume_partitions(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

int64_t lw_bus_consumer_lag(lw_bus_consumer_t *c)
{
    if (c->rk == NULL || c->state != CONSUMER_RUNNING)
        return -1;
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(c->rk, &l) != RD_KAFKA_RESP_ERR_NO_ERROR || l == NULL)
        return -1;
    int64_t lag = l->cnt > 0 ? 0 : -1;
    if (l->cnt > 0 && rd_kafka_position(c->rk, l) != RD_KAFKA_RESP_ERR_NO_ERROR)
        lag = -1;
    for (int i = 0; i < l->cnt && lag >= 0; i++) {
        int64_t lo = -1, hi = -1;
        if (rd_kafka_get_watermark_offsets(c->rk, l->elems[i].topic, l->elems[i].partition, &lo,
                                           &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
            hi < 0) {
            lag = -1;
            break;
        }
        int64_t pos = l->elems[i].offset;
        if (pos < 0) {
            /* Nothing consumed since the assignment: it starts where it was told to. */
            const rd_kafka_topic_partition_t *a =
                c->assigned != NULL ? rd_kafka_topic_partition_list_find(
                                          c->assigned, l->elems[i].topic, l->elems[i].partition)
                                    : NULL;
            if (a != NULL && a->offset >= 0)
                pos = a->offset;
            else if (a != NULL && a->offset == RD_KAFKA_OFFSET_BEGINNING)
                pos = lo >= 0 ? lo : 0;
            else {
                lag = -1; /* the group's committed offset: not known here */
                break;
            }
        }
        lag += hi > pos ? hi - pos : 0;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return lag;
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
        lw_log_kv(LW_LOG_DEBUG, "bus", "offset not stored", LW_LOG_STR("group", c->group),
                  LW_LOG_STR("topic", msg->topic), LW_LOG_INT("partition", msg->partition),
                  LW_LOG_STR("error", rd_kafka_err2name(e)));
    }
    rd_kafka_topic_partition_list_destroy(l);
}
