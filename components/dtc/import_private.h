/* Import jobs (import.c: the job on the pool; import_api.c: its HTTP API; import_merge.c: the
 * pure rules that turn a template into a row).
 *
 * A job belongs to one application of one tenant and lives in the process that took its
 * POST. Its input is either templates given in the request or a file of a known format sent
 * in parts; the parts are spooled to an unlinked file under `dtc.import.spool-dir` and the
 * job converts them as they come, so memory is bounded by the batch size, not the file.
 *
 * The job is made of steps on the worker pool, the database's with the job's own blocking
 * PostgreSQL connection:
 *   OPEN     connect, record the job (dtc_import_jobs), spool the first part
 *   CONVERT  convert what is spooled until a batch is full (or the input ends), merging the
 *            fallbacks into each template (pend)
 *   WRITE    one batch (wpend, taken from pend by the loop): dtc_batch_run, then the rows'
 *            results and the job's progress
 *   CLOSE    record the end (DONE, FAILED, CANCELED) and close the connection
 * OPEN and CLOSE run alone; CONVERT and WRITE run at the same time (the next batch is
 * converted while one is written), each on its own fields. After a WRITE the loop runs
 * dtc_batch_committed and publishes the batch's events; after any step it decides the next.
 * A part arriving while the job waits for one starts a CONVERT. */
#ifndef DTC_IMPORT_PRIVATE_H
#define DTC_IMPORT_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <uv.h>

#include "cluster/api.h"
#include "cluster/err.h"
#include "cluster/metrics.h"
#include "dtc/batch.h"
#include "dtc/conv.h"
#include "dtc/dtc_private.h"
#include "tenant/devparts.h"
#include "tenant/ids.h"

#define DTC_JOB_ID_LEN 36 /* a UUID, lowercase */

/* The job's state, as GET shows it (and dtc_import_jobs.state stores it). */
typedef enum dtc_job_state {
    DTC_JOB_RUNNING = 0, /* converting and writing */
    DTC_JOB_WAITING = 1, /* everything spooled is done; the next part is expected */
    DTC_JOB_DONE = 2,
    DTC_JOB_FAILED = 3, /* the input's error (a converter's, with line and column) or the
                           database's; the rows before it stay written */
    DTC_JOB_CANCELED = 4,
} dtc_job_state_t;

const char *dtc_job_state_name(dtc_job_state_t s); /* "RUNNING", ... */
/* "CREATED", "UPDATED", "UNCHANGED", "FAILED" */
const char *dtc_import_outcome_name(tn_devpart_outcome_t o);
/* The reverse of dtc_import_outcome_name (case-insensitive); -1 when unknown. */
int dtc_import_outcome_parse(const char *s);

/* A template waiting for its batch: the end device merged with the import's fallbacks. */
typedef struct dtc_pend {
    json_t *end_device;
    char **paths;
    size_t npaths;
    char device_id[TN_ID_MAX + 1];
    uint64_t line;
    lw_err_t err; /* set: the row fails before the batch (no device ID, ...) */
} dtc_pend_t;

typedef enum dtc_step {
    DTC_STEP_OPEN,
    DTC_STEP_CONVERT,
    DTC_STEP_WRITE,
    DTC_STEP_CLOSE
} dtc_step_t;

typedef struct dtc_job dtc_job_t;

/* One step on the pool (the job has one for OPEN/CLOSE, one converting, one writing). */
typedef struct dtc_task {
    dtc_job_t *job;
    dtc_step_t step;
    bool ran;
} dtc_task_t;

struct dtc_job {
    dtc_import_jobs_t *jobs;
    dtc_job_t *next;
    char id[DTC_JOB_ID_LEN + 1];
    tn_tenant_t tenant;
    char schema[TN_SCHEMA_MAX + 8]; /* quoted */
    char app[TN_ID_MAX + 1];
    char format_id[64];         /* "" for templates */
    const dtc_format_t *format; /* NULL for templates */
    tn_devpart_env_t env;
    json_t *fallbacks;   /* object or NULL */
    json_t *templates;   /* the request's templates (array) or NULL */
    json_t *version_ids; /* end_device_version_ids for the converter, or NULL */
    size_t next_template;
    size_t batch_size;

    /* loop-owned */
    dtc_job_state_t state;
    bool busy;       /* OPEN or CLOSE is on the pool */
    bool conv_busy;  /* a CONVERT is */
    bool write_busy; /* a WRITE is */
    bool halted;     /* failed as a whole (the database, the pool, idle): CLOSE next */
    dtc_task_t t_main, t_conv, t_write;
    bool cancel;       /* DELETE (or stop) asked */
    bool appending;    /* a part is being spooled */
    bool more;         /* more parts are expected */
    uint64_t received; /* bytes in the spool */
    uv_timer_t idle;
    bool idle_open;
    lw_api_op_t *waiting_op; /* the POST answered after OPEN, the DELETE after CLOSE */
    json_t *first_data;      /* the POST's data (base64 string), for OPEN */
    dtc_step_t step;

    /* the converter's (pool thread while conv_busy, loop otherwise) */
    int fd; /* the spool, -1 when none */
    uint64_t snap_received;
    bool snap_more;
    uint64_t converted; /* bytes fed to the converter */
    dtc_conv_t *conv;
    bool input_done; /* the converter finished (or failed), the templates all taken */
    dtc_pend_t *pend;
    size_t npend, cappend;
    bool conv_failed;
    lw_err_t conv_err;

    /* the writer's (pool thread while write_busy, loop otherwise); pg is OPEN's and CLOSE's
     * too, never at the same time */
    PGconn *pg;
    dtc_pend_t *wpend; /* the batch */
    size_t nwpend;
    uint64_t w_received, w_converted; /* the progress it records */
    dtc_row_t *rows;
    size_t nrows;
    bool batch_ok; /* the batch was written (or checked, dry run) */
    uint64_t w_delta[4];
    lw_err_t write_err;
    int write_rc;
    bool db_canceled; /* the job's row said CANCELED (a DELETE through another process) */

    /* the loop's */
    uint64_t seq;       /* rows written so far */
    uint64_t counts[4]; /* by tn_devpart_outcome_t */
    lw_err_t error;     /* the job's own error (state FAILED) */
    bool failed;
    lw_err_t step_err; /* OPEN's or CLOSE's */
    int step_rc;
    dtc_job_state_t final_state; /* what CLOSE records */
    bool closed;                 /* CLOSE is done: the job goes once nothing refers to it */

    /* what GET shows, copied on the loop after each step */
    uint64_t shown[4];
    uint64_t shown_converted;
    bool shown_failed;
    lw_err_t shown_error;
};

struct dtc_import_jobs {
    dtc_t *dtc;
    lw_api_env_t env;
    dtc_job_t *list;
    size_t n;
    char spool_dir[512];
    size_t batch_size;
    size_t max_jobs;
    long long idle_ms;
    long long retention_ms;
    char node[96];
    lw_metric_t *m_rows;    /* lwstack_dtc_import_rows_total{result} */
    lw_metric_t *m_jobs;    /* lwstack_dtc_import_jobs_total{state} */
    lw_metric_t *m_running; /* lwstack_dtc_import_jobs_running */
    bool stopping;
    void (*stopped)(void *arg);
    void *stopped_arg;
};

/* ---- import.c --------------------------------------------------------------------------- */

int dtc_import_jobs_init(dtc_t *dtc, lw_err_t *err);
/* Cancels every job; done(arg) once the last has closed (maybe at once). */
void dtc_import_jobs_stop(dtc_t *dtc, void (*done)(void *arg), void *arg);
void dtc_import_jobs_free(dtc_t *dtc);

dtc_job_t *dtc_job_find(dtc_import_jobs_t *jobs, const char *tenant_id, const char *app,
                        const char *job_id);
/* Starts a job whose fields the API set (tenant, app, format, env, fallbacks, templates or
 * first_data and more); op is answered once the job is recorded (the job's JSON) or failed.
 * Takes the job. */
void dtc_job_start(dtc_job_t *job, lw_api_op_t *op);
/* A new job of jobs with its defaults (not started). */
dtc_job_t *dtc_job_new(dtc_import_jobs_t *jobs);
/* Pool thread: decodes a part (base64 JSON string) into the spool at off; *written bytes. */
int dtc_spool_write(int fd, uint64_t off, const json_t *data, uint64_t *written, lw_err_t *err);
/* Loop: a part of n bytes is spooled (job->appending was set by the caller). */
void dtc_job_appended(dtc_job_t *job, uint64_t n, bool more);
/* Cancels the job and answers op once it has stopped. */
void dtc_job_cancel(dtc_job_t *job, lw_api_op_t *op);
/* The job's live fields (job_id, state, counts, bytes, error) as GET shows them. */
json_t *dtc_job_json(const dtc_job_t *job);

/* ---- import_merge.c (pure) ---------------------------------------------------------------- */

/* The fallbacks a request may give, by their JSON names: each is a top-level field of the
 * end device, set when the template leaves it unset (NULL-terminated). */
extern const char *const dtc_import_fallback_keys[];

/* Checks the request's "fallbacks" object (NULL: none): known keys, string values. */
int dtc_import_fallbacks_check(const json_t *fallbacks, lw_err_t *err);

/* Turns a template into a row: a new end device with ids.application_ids.application_id set
 * to app (the import's application, whatever the file said) and each fallback the template
 * leaves unset, a session_key_id for a session given without one (deterministic: the same
 * for every part and every run), and the new sorted field mask (paths added for what was
 * set). Fills out's
 * end_device, paths, npaths, device_id and line; a template without a valid device ID sets
 * out->err (invalid_field, field ids.device_id) and still fills the rest. */
void dtc_import_merge(const json_t *end_device, const char *const *paths, size_t npaths,
                      uint64_t line, const char *app, const json_t *fallbacks, dtc_pend_t *out);
void dtc_pend_destroy(dtc_pend_t *p);

/* The decoded length of base64 text of len bytes (standard alphabet, padded), or -1 when len
 * is not a multiple of 4. */
long long dtc_base64_decoded_len(const char *text, size_t len);
/* Decodes into out (room for dtc_base64_decoded_len + 2 bytes). Returns the length, or -1 when
 * the text is not base64. */
long long dtc_base64_decode(const char *text, size_t len, unsigned char *out);

/* One row's result as GET shows it and dtc_import_rows stores it: {"index", "line",
 * "column"?, "field"?, "device_id"?, "result", "error"?} (error in The Things Stack's shape). */
json_t *dtc_import_row_json(uint64_t index, uint64_t line, const char *device_id,
                            tn_devpart_outcome_t outcome, const lw_err_t *err);

#endif
