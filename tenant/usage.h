/* Usage metering, the producer side: what the servers carried, per tenant and interval, on
 * lw.usage (tenant/usage.proto) for the Tenant Billing Server's ledger (billing/ledger.c).
 *
 * A server counts on its hot path with tn_usage_count (O(1), no allocation once a tenant's
 * tables have grown to its traffic). Every `usage.interval` (default 10 s, wall-clock
 * aligned: an interval starts at a multiple of it since the Unix epoch) each tenant with
 * traffic gets one UsageBatch: its uplinks, downlinks and join-accepts of the interval and
 * the distinct devices with traffic. A batch never spans two intervals; the last one is
 * flushed when the process stops (a SIGKILL loses what the current interval counted).
 *
 * Bound: a tenant's active-device set holds TN_USAGE_BATCH_DEVICES_MAX devices per batch.
 * A new device beyond it publishes the tenant's batch so far at once (same interval, its own
 * id) and starts a new set: the ledger unions the sets of an interval's batches, so the
 * distinct count stays exact, memory stays bounded (about 450 KiB per tenant at most) and a
 * message stays well under Kafka's 1 MB.
 *
 * What counts (DESIGN, issue 11): an uplink = a deduplicated device uplink the NS accepted
 * (one per frame, not per gateway copy); a downlink = a data downlink the NS handed to the
 * GS (a retry on another gateway is the same downlink); a join-accept = a join-accept the
 * NS handed to the GS. Each also marks the device active.
 *
 * The process's one accumulator belongs to the tenant component (always started, stopped
 * last so that the servers' final counts are in the flush). Loop thread only. */
#ifndef TN_USAGE_H
#define TN_USAGE_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/runtime.h"
#include "tenant/ids.h"

/* The topic's name as given to lw_bus_* (the bus adds its prefix: lw.usage). */
#define TN_USAGE_TOPIC "usage"

#define TN_USAGE_ID_LEN            16
#define TN_USAGE_DEVICE_MAX        (2 * TN_ID_MAX + 1) /* "<application_id>/<device_id>" */
#define TN_USAGE_BATCH_DEVICES_MAX 4096
#define TN_USAGE_PRODUCER_MAX      255

typedef enum tn_usage_kind {
    TN_USAGE_UPLINK,
    TN_USAGE_DOWNLINK,
    TN_USAGE_JOIN_ACCEPT,
} tn_usage_kind_t;

typedef struct tn_usage tn_usage_t;

/* The process's accumulator (published by the tenant component's init), or NULL when the
 * tenant component is not added: tn_usage_count(NULL, ...) does nothing. */
tn_usage_t *tn_usage_from_runtime(lw_rt_t *rt);

/* Names a component that counts in this process (at its init): the batches' producer is
 * "<names joined by +>@<host>:<pid>", e.g. "ns@node1:4242". u NULL: nothing. */
void tn_usage_producer_add(tn_usage_t *u, const char *component);

/* Counts n events of `kind` for the tenant and marks the device active. IDs longer than
 * the registry allows are counted under their truncation. u NULL: nothing. */
void tn_usage_count(tn_usage_t *u, const char *tenant_id, tn_usage_kind_t kind,
                    const char *application_id, const char *device_id, uint64_t n);

/* Figures of this process's accumulator since start, for tests and diagnostics. */
typedef struct tn_usage_stats {
    uint64_t counted; /* events counted (the sum of n) */
    uint64_t batches; /* batches published */
    uint64_t early;   /* of which published early because the device set was full */
    uint64_t failed;  /* batches the bus refused (their counts are lost, logged) */
} tn_usage_stats_t;
void tn_usage_stats(const tn_usage_t *u, tn_usage_stats_t *out);

/* ---- the message ----------------------------------------------------------------------- */

typedef struct tn_usage_batch {
    uint8_t id[TN_USAGE_ID_LEN];
    char tenant_id[TN_ID_MAX + 1];
    char producer[TN_USAGE_PRODUCER_MAX + 1];
    int64_t interval_start_ms, interval_end_ms;
    uint64_t uplinks, downlinks, join_accepts;
    size_t n_active_devices;
    char **active_devices; /* encode: the caller's; decode: owned by the batch */
} tn_usage_batch_t;

/* The encoded length of b. */
size_t tn_usage_batch_size(const tn_usage_batch_t *b);
/* Encodes b into buf (tn_usage_batch_size bytes suffice); returns the length, or 0 when
 * buf is too small. */
size_t tn_usage_batch_encode(const tn_usage_batch_t *b, uint8_t *buf, size_t cap);

/* Decodes and checks a message into out (free it with tn_usage_batch_destroy, also after
 * an error). Returns 0, or -1 with `why` naming what is wrong: not a UsageBatch, an id not
 * of 16 bytes, an invalid tenant ID, an empty or reversed interval, more than
 * TN_USAGE_BATCH_DEVICES_MAX devices, a device not "<application_id>/<device_id>". */
int tn_usage_batch_decode(const void *buf, size_t len, tn_usage_batch_t *out, const char **why);
void tn_usage_batch_destroy(tn_usage_batch_t *b);

#endif
