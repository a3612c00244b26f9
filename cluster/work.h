/* A worker pool for CPU-bound or blocking work (JavaScript payload formatters, password
 * hashing, bulk imports), with results delivered on the libuv loop.
 *
 * The pool runs its own threads rather than libuv's threadpool (uv_queue_work): that pool
 * is process-wide, 4 threads by default, and shared with getaddrinfo and uv_fs_*, so a
 * burst of password hashes would hold up name resolution and file I/O, and its queue has
 * no bound. Here the queue is bounded: a submit that finds it full fails at once, so an
 * overloaded server answers "unavailable" instead of queueing without end.
 *
 * A job moves through three states: queued (waiting for a thread), running (its work
 * function on a pool thread), finished (waiting for the loop). Its done callback then runs
 * on the loop thread, exactly once for every submit that returned 0, never for one that
 * returned -1, and never from inside lw_work_submit or lw_work_cancel. Results travel
 * through arg: the work function writes them, the done callback reads them; the pool's
 * mutex orders the two, so no other synchronisation is needed.
 *
 * Thread rules: lw_work_pool_new, lw_work_submit, lw_work_cancel, lw_work_pool_close,
 * lw_work_pool_free and lw_work_pool_stats are called on the loop thread only. A work
 * function runs on a pool thread: it must not touch the loop, its handles, or any object
 * the loop thread uses (the database pool, the bus, HTTP requests) — only its arg.
 *
 * Ownership: arg is borrowed and must stay valid until the done callback has been called
 * (even after lw_work_cancel: a running job still uses it). The job handle is owned by the
 * pool; it is valid from a successful submit until its done callback starts. */
#ifndef LW_WORK_H
#define LW_WORK_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "cluster/err.h"

typedef struct lw_work_pool lw_work_pool_t;
typedef struct lw_work lw_work_t;

/* The status a done callback receives. */
typedef enum lw_work_status {
    LW_WORK_DONE = 0,     /* the work function ran to completion; its results are in arg */
    LW_WORK_CANCELED = 1, /* lw_work_cancel or pool close: see below for whether it ran */
} lw_work_status_t;

/* Runs on a pool thread. */
typedef void (*lw_work_fn)(void *arg);
/* Runs on the loop thread, exactly once per accepted job. */
typedef void (*lw_work_done_fn)(void *arg, lw_work_status_t status);

/* Defaults used by the runtime (`runtime.workers`, `runtime.work-queue`). */
#define LW_WORK_DEFAULT_THREADS 4
#define LW_WORK_DEFAULT_QUEUE   1024
#define LW_WORK_MAX_THREADS     256

/* Starts `threads` threads (1..LW_WORK_MAX_THREADS) and an async handle on loop. At most
 * `max_queued` (>= 1) jobs wait for a thread at a time; jobs already running do not count.
 * Returns NULL with err (invalid_argument, internal) on failure, leaving nothing behind
 * (when the threads could not all start, the memory goes on the loop's next turn).
 * An idle pool does not keep uv_run alive; a pool with jobs in flight does. */
lw_work_pool_t *lw_work_pool_new(uv_loop_t *loop, int threads, size_t max_queued, lw_err_t *err);

/* Queues fn(arg) and, once it has run (or been canceled), done(arg, status) on the loop.
 * On success returns 0 and, when job is not NULL, sets *job for lw_work_cancel. Returns
 * -1 with err, having queued nothing (and done will not be called): work_queue_full when
 * max_queued jobs are already waiting, work_pool_closed after lw_work_pool_close. */
int lw_work_submit(lw_work_pool_t *pool, lw_work_fn fn, lw_work_done_fn done, void *arg,
                   lw_work_t **job, lw_err_t *err);

/* The requester is going away. A queued job is taken off the queue and its work function
 * never runs; a running or finished job is not interrupted (C code cannot be stopped
 * safely) but its result is delivered as canceled. Either way done is called later, on
 * the loop, with LW_WORK_CANCELED, and arg must stay valid until then. Returns 1 when the
 * work function never ran and never will, 0 when it ran or is running. Calling it again,
 * or after lw_work_pool_close, is harmless (done still runs once); calling it once done
 * has started is not (the handle is gone then). */
int lw_work_cancel(lw_work_t *job);

/* Closes the pool: further submits fail with work_pool_closed; queued jobs are canceled
 * (their work never runs, done gets LW_WORK_CANCELED); running jobs finish and are
 * delivered with their own status (LW_WORK_DONE unless canceled). When every done callback
 * has run and every thread has exited, done(arg) is called on the loop (never from inside
 * this call); the pool may then be freed. May be called from a done callback. A second
 * call does nothing. */
void lw_work_pool_close(lw_work_pool_t *pool, void (*done)(void *arg), void *arg);

/* Releases the pool after lw_work_pool_close's done. NULL: nothing. Freeing an open pool
 * is a programming error (it aborts). */
void lw_work_pool_free(lw_work_pool_t *pool);

/* Figures for metrics and tests: gauges (now) and counters (since lw_work_pool_new). */
typedef struct lw_work_stats {
    int threads;
    size_t max_queued;
    size_t queued;      /* waiting for a thread */
    size_t running;     /* on a thread now */
    uint64_t submitted; /* accepted submits */
    uint64_t rejected;  /* submits refused (work_queue_full, work_pool_closed) */
    uint64_t completed; /* done called with LW_WORK_DONE */
    uint64_t canceled;  /* done called with LW_WORK_CANCELED */
} lw_work_stats_t;
void lw_work_pool_stats(const lw_work_pool_t *pool, lw_work_stats_t *out);

#endif
