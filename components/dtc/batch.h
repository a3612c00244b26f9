/* One batch of an import: every part of every device of the batch in one transaction
 * (tenant/devparts.h, steps 1 to 3), so that a device is written whole or not at all.
 * Used by the import jobs (import*.c) and by the parts' own tests. */
#ifndef DTC_BATCH_H
#define DTC_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "cluster/err.h"
#include "cluster/runtime.h"
#include "tenant/devparts.h"

typedef struct dtc_row {
    tn_devpart_dev_t dev; /* the caller's, valid until dtc_batch_release */
    uint64_t line;        /* where the template began in the file (the report's line) */
    /* Results: CREATED when the registry created the device, UPDATED when any part changed,
     * UNCHANGED when no part did, FAILED (err, "field" attribute when one path is at fault)
     * when the row was refused; a failed row wrote nothing in any part. */
    tn_devpart_outcome_t outcome;
    lw_err_t err;
    void *part_rows[TN_DEVPARTS_MAX]; /* dtc_batch_run's */
    tn_devpart_result_t part_res[TN_DEVPARTS_MAX];
} dtc_row_t;

/* Pool thread. Prepares rows[0..n) with every part, then BEGIN, writes each part in order
 * (each given the rows no earlier part refused), COMMIT (ROLLBACK when env->dry_run). A
 * batch whose write failed as a whole (an SQL error) is rolled back and run again one row a
 * transaction, so the row at fault fails alone with its error and the others are written.
 * Returns 0 (every row's outcome set), or -1 with err when the database is gone: nothing of
 * the batch is written, and the caller may run it again. */
int dtc_batch_run(const tn_devpart_env_t *env, PGconn *c, dtc_row_t *rows, size_t n, lw_err_t *err);
/* Loop thread, after dtc_batch_run returned 0 and not env->dry_run: each part's committed. */
void dtc_batch_committed(lw_rt_t *rt, const tn_devpart_env_t *env, dtc_row_t *rows, size_t n);
/* Frees what dtc_batch_run kept (the parts' rows); the caller's dev fields stay its own. */
void dtc_batch_release(dtc_row_t *rows, size_t n);

#endif
