/* The usage accumulator behind tenant/usage.h, for usage.c and its tests: counts per tenant
 * and interval, and hands out batches through a callback. No clock, no I/O: the caller
 * passes the wall clock, and publishes. */
#ifndef TN_USAGE_PRIVATE_H
#define TN_USAGE_PRIVATE_H

#include <stdbool.h>

#include "tenant/usage.h"

typedef struct tn_usage_acc tn_usage_acc_t;

/* A batch ready to go: b is valid during the call only (the id is zero; the callee gives
 * it one). early: the tenant's device set was full, the interval goes on. */
typedef void (*tn_usage_emit_cb)(void *arg, tn_usage_batch_t *b, bool early);

/* interval_ms > 0; max_devices: the device-set bound per tenant and batch (1 ..
 * TN_USAGE_BATCH_DEVICES_MAX). emit is called from _count and _flush. */
tn_usage_acc_t *tn_usage_acc_new(int64_t interval_ms, size_t max_devices, tn_usage_emit_cb emit,
                                 void *arg);
void tn_usage_acc_free(tn_usage_acc_t *a);

/* Counts at wall clock now_ms. When now_ms lies past the current interval, every tenant's
 * batch of that interval is emitted first (the interval is never spanned); a clock that
 * went back counts into the current interval. */
void tn_usage_acc_count(tn_usage_acc_t *a, int64_t now_ms, const char *tenant_id,
                        tn_usage_kind_t kind, const char *application_id, const char *device_id,
                        uint64_t n);

/* Emits every tenant's batch of the current interval (those with something counted) and
 * starts the interval that holds now_ms. */
void tn_usage_acc_flush(tn_usage_acc_t *a, int64_t now_ms);

/* The start of the interval that holds t (floor to a multiple of interval_ms). */
int64_t tn_usage_interval_start(int64_t t_ms, int64_t interval_ms);

#endif
