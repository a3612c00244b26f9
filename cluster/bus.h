/* The Kafka event bus (librdkafka), driven from the libuv loop.
 *
 * `bus.brokers: embedded` starts librdkafka's mock cluster inside the process; any other
 * value is a bootstrap list of a real cluster, with `bus.kafka.*` passed to librdkafka
 * (TLS, SASL). Topic names are `bus.topic-prefix` + name ("lw." + "tenant"). Topics are
 * created with `bus.partitions` partitions (Admin API on a real cluster; the mock cluster
 * creates its own on first use).
 *
 * Every published message carries a stable id in header `lw-id` (16 random bytes, hex),
 * so consumers can drop the copy a crash may redeliver.
 *
 * Callbacks run on the loop thread. A consumer commits an offset only when told to
 * (lw_bus_commit), after its state is durable.
 *
 * Keys decide partitions as the Java client does (murmur2), so any Kafka client agrees on
 * a key's owner. Consumer groups use the eager rebalance protocol: on a rebalance a member
 * is revoked everything it held (on_revoke), then assigned its new set (on_assign).
 * lw_bus_commit stores the offset; librdkafka commits stored offsets every second, on
 * revoke and on close, so after a crash the next owner replays at most about one second
 * of messages the handler had already declared durable (drop them by `lw-id`).
 *
 * Data loss: when a consumer's offset is no longer on the broker (the mock cluster keeps
 * only 5 MiB / 100,000 message sets per partition), it resumes at the oldest message held;
 * the gap is logged as "DATA LOSS" and counted (lwstack_bus_lost_total). */
#ifndef LW_BUS_H
#define LW_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "cluster/config.h"
#include "cluster/err.h"
#include "cluster/metrics.h"

typedef struct lw_bus lw_bus_t;
typedef struct lw_bus_consumer lw_bus_consumer_t;

typedef struct lw_bus_msg {
    const char *topic; /* full name, e.g. "lw.tenant" */
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    const char *id; /* the `lw-id` header, "" when absent */
} lw_bus_msg_t;

typedef struct lw_bus_partition {
    const char *topic;
    int32_t partition;
} lw_bus_partition_t;

typedef struct lw_bus_handler {
    /* A message; valid only during the call. */
    void (*on_message)(void *arg, lw_bus_consumer_t *c, const lw_bus_msg_t *msg);
    /* Partitions assigned to this member (optional). */
    void (*on_assign)(void *arg, lw_bus_consumer_t *c, const lw_bus_partition_t *parts, size_t n);
    /* Partitions about to move away: flush state for them and commit before returning
     * (optional). */
    void (*on_revoke)(void *arg, lw_bus_consumer_t *c, const lw_bus_partition_t *parts, size_t n);
    /* Where a newly assigned partition starts (optional; called before on_assign, once per
     * partition): an offset >= 0, LW_BUS_OFFSET_BEGINNING, or LW_BUS_OFFSET_COMMITTED (the
     * group's committed offset, else the subscription's reset rule). For a consumer that
     * keeps its position elsewhere (in PostgreSQL, in the same transaction as its state):
     * Kafka's committed offsets are then only informational. */
    int64_t (*start_offset)(void *arg, lw_bus_consumer_t *c, const char *topic, int32_t partition);
} lw_bus_handler_t;

#define LW_BUS_OFFSET_BEGINNING (-2)    /* RD_KAFKA_OFFSET_BEGINNING */
#define LW_BUS_OFFSET_COMMITTED (-1001) /* RD_KAFKA_OFFSET_INVALID: as if not given */

/* Registers the bus.* configuration table. */
int lw_bus_config_register(lw_config_t *cfg);

lw_bus_t *lw_bus_new(uv_loop_t *loop, const lw_config_t *cfg, lw_err_t *err);
/* Flushes the producer queue (up to `bus.flush-timeout`), closes consumers (leaving their
 * groups, so partitions move at once), then calls done. */
void lw_bus_stop(lw_bus_t *bus, void (*done)(void *arg), void *arg);
/* After lw_bus_stop's done: releases at once. Without a stop (or during one): tears down
 * without waiting for deliveries, and releases in the last close callback, so run the loop
 * once more. Never call it from a bus callback. */
void lw_bus_free(lw_bus_t *bus);

/* True while the brokers answer (metadata request within the last health interval). */
bool lw_bus_ready(const lw_bus_t *bus);
/* The bootstrap address in use ("127.0.0.1:39527" for the embedded cluster). */
const char *lw_bus_bootstrap(const lw_bus_t *bus);
/* Writes prefix + name into buf ("lw.tenant"). */
const char *lw_bus_topic(const lw_bus_t *bus, const char *name, char *buf, size_t len);
/* Creates the topics (full names) if missing, each with `bus.partitions` partitions.
 * Embedded: on the in-process cluster (publish and subscribe also do this for the topics
 * they name). Real cluster: Admin API CreateTopics (already existing topics are fine).
 * `lwstack kafka-dev` (no CreateTopics): the broker auto-creates with its default of 4.
 * Blocks up to ~10 s per step on a remote cluster: call it at start-up. */
int lw_bus_ensure_topics(lw_bus_t *bus, const char *const *topics, size_t n, lw_err_t *err);

/* Publishes asynchronously; the message is queued (copied). `name` is the short topic name
 * ("tenant"). Returns 0 or -1 with bus_publish (queue full, unknown topic). Delivery
 * failures are logged and counted. */
int lw_bus_publish(lw_bus_t *bus, const char *name, const void *key, size_t key_len,
                   const void *value, size_t value_len, lw_err_t *err);

/* Joins consumer group `group` on the given short topic names. group NULL: a private
 * group unique to this process (every process sees every message: broadcast topics). */
lw_bus_consumer_t *lw_bus_subscribe(lw_bus_t *bus, const char *group, const char *const *names,
                                    size_t n, const lw_bus_handler_t *h, void *arg, lw_err_t *err);
typedef struct lw_bus_sub_opts {
    /* A private group (group NULL) starts at the beginning of each partition instead of
     * its end. For compacted state topics (lw.tenant): "latest" is resolved only when the
     * fetch starts, after the assignment, so a message published in between would be
     * skipped; reading the retained history instead misses nothing. */
    bool from_beginning;
} lw_bus_sub_opts_t;

/* lw_bus_subscribe with options (opts may be NULL). */
lw_bus_consumer_t *lw_bus_subscribe_opts(lw_bus_t *bus, const char *group, const char *const *names,
                                         size_t n, const lw_bus_handler_t *h, void *arg,
                                         const lw_bus_sub_opts_t *opts, lw_err_t *err);

/* Commits msg's offset + 1 for its partition (asynchronously). */
void lw_bus_commit(lw_bus_consumer_t *c, const lw_bus_msg_t *msg);

/* Pauses (or resumes) fetching on every partition the consumer holds, and on those it is
 * assigned later while paused, so that a consumer whose work falls behind (writes to
 * PostgreSQL) holds only what it has taken. Messages already fetched may still arrive. */
void lw_bus_consumer_pause(lw_bus_consumer_t *c, bool pause);

/* How many messages of its assigned partitions the consumer has not consumed yet, from the
 * high watermarks its last fetches saw (no request is made): 0 once it has caught up; -1
 * while it holds no partition or a partition's position or watermark is not known yet (a
 * partition that started at the group's committed offset and consumed nothing since). */
int64_t lw_bus_consumer_lag(lw_bus_consumer_t *c);

/* ---- in-order commits ------------------------------------------------------------------
 *
 * For a consumer whose messages finish later than they arrive, or out of order (async steps,
 * batches written to PostgreSQL, publications waiting for their delivery reports): one entry
 * per consumed message, kept in arrival order per partition. An entry is done with a
 * generation: a number of the caller's that says what must be safe before the offset may
 * go (the bus's `published` count when the message's own publications were made, a batch
 * number of PostgreSQL writes; 0: nothing). lw_bus_commitq_flush(q, durable) commits, per
 * partition, the offset of the longest prefix of done entries whose generation is at most
 * `durable`; an entry not yet done holds back every later one of its partition, so a crash
 * replays from the first message whose work was not safe and nothing before it.
 *
 * On a revoke, lw_bus_commitq_revoke marks the partition: its entries are no longer
 * committed (the next owner replays them) and it is forgotten once they are all flushed.
 * Zero-initialise; set `consumer` once the subscription exists (NULL: nothing committed),
 * or `commit` to take the offsets elsewhere (a position kept in PostgreSQL, a test): it is
 * called with the last message of each committed prefix instead of lw_bus_commit. Loop
 * thread only; `parts` is the file's own (cluster/bus_commitq.c). */
typedef struct lw_bus_commit_entry lw_bus_commit_entry_t;
typedef struct lw_bus_commit_part lw_bus_commit_part_t;
typedef struct lw_bus_commitq {
    lw_bus_commit_part_t *parts;
    lw_bus_consumer_t *consumer;
    void (*commit)(void *arg, const lw_bus_msg_t *last);
    void *commit_arg;
} lw_bus_commitq_t;

/* Appends msg's entry to its partition (never NULL: allocation failure is fatal). */
lw_bus_commit_entry_t *lw_bus_commitq_add(lw_bus_commitq_t *q, const lw_bus_msg_t *msg);
/* The message is handled; its offset may go once `gen` is durable. e NULL: nothing. Each
 * entry is done once; it stays valid until the flush that commits it (or _free). */
void lw_bus_commitq_done(lw_bus_commit_entry_t *e, uint64_t gen);
/* Commits each partition's longest prefix of entries done with gen <= durable, and frees
 * them. */
void lw_bus_commitq_flush(lw_bus_commitq_t *q, uint64_t durable);
/* Marks partitions revoked (their entries are dropped uncommitted as they are flushed). */
void lw_bus_commitq_revoke(lw_bus_commitq_t *q, const lw_bus_partition_t *parts, size_t n);
/* Frees every entry and partition (nothing committed). */
void lw_bus_commitq_free(lw_bus_commitq_t *q);

/* Counts the bus family of metrics into m (NULL: none): lwstack_bus_published_total,
 * _delivered_total, _delivery_failed_total, _consumed_total, _lost_total,
 * _offset_resets_total (label topic) and gauge lwstack_bus_up. m must outlive bus. */
void lw_bus_set_metrics(lw_bus_t *bus, lw_metrics_t *m);

/* The same counts as plain numbers, for tests and `lwstack` diagnostics. `lost` counts
 * messages a consumer skipped because the broker had dropped them (OFFSET_OUT_OF_RANGE
 * followed by an automatic offset reset: logged as DATA LOSS). */
typedef struct lw_bus_stats {
    uint64_t published, delivered, failed, consumed, lost, offset_resets;
} lw_bus_stats_t;
void lw_bus_stats(const lw_bus_t *bus, lw_bus_stats_t *out);

/* Is librdkafka property `prop` (a `bus.kafka.*` sub-key) secret? True when it contains
 * "password", "secret", "jaas" or ".pem", or ends in ".key". For `lwstack config`. */
bool lw_bus_kafka_prop_secret(const char *prop);

/* Short names of the standard topics (DESIGN.md §3), NULL-terminated. `lwstack kafka-dev`
 * creates them (with prefix "lw.") since the mock cluster has no CreateTopics. */
extern const char *const lw_bus_std_topics[];

/* `lwstack kafka-dev`: runs a standalone mock cluster until SIGINT/SIGTERM, printing its
 * bootstrap address on stdout and writing it to bootstrap_file when not NULL (atomically:
 * a reader never sees a partial address). Topics "lw." + lw_bus_std_topics are created with
 * `partitions` partitions; other topics are auto-created by the mock on first use with its
 * default of 4 partitions. Returns the process exit status: 0 after a signal, 1 when the
 * cluster or the file could not be set up. */
int lw_bus_kafka_dev(int partitions, const char *bootstrap_file);

#endif
