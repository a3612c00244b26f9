#include "cluster/work.h"

#include <stdbool.h>
#include <stdlib.h>

#include "cluster/mem.h"

typedef enum work_state {
    WORK_QUEUED = 0,
    WORK_RUNNING,
    WORK_FINISHED, /* on the finished list, waiting for the loop */
} work_state_t;

struct lw_work {
    lw_work_pool_t *pool;
    lw_work_fn fn;
    lw_work_done_fn done;
    void *arg;
    lw_work_t *prev, *next; /* in the queue, or (next only) in the finished list */
    work_state_t state;     /* under pool->mu */
    bool canceled;          /* loop thread only */
    bool ran;               /* the work function was started */
};

/* A FIFO of jobs, doubly linked so that a canceled job leaves it in O(1). */
typedef struct work_list {
    lw_work_t *head, *tail;
    size_t n;
} work_list_t;

struct lw_work_pool {
    uv_loop_t *loop;
    uv_async_t async; /* threads → loop: jobs finished, a thread exited */
    uv_mutex_t mu;
    uv_cond_t cond; /* queue not empty, or quit */
    uv_thread_t *threads;
    int nthreads;
    size_t max_queued;

    /* Under mu. */
    work_list_t queue;
    work_list_t finished;
    size_t running;
    int threads_alive;
    bool quit;

    /* Loop thread only. */
    size_t inflight; /* accepted jobs whose done has not run yet */
    bool closing;
    bool joined;
    bool closed; /* the async handle's close callback ran */
    void (*close_done)(void *arg);
    void *close_arg;
    uint64_t submitted, rejected, completed, canceled;
};

static void list_push(work_list_t *l, lw_work_t *j)
{
    j->next = NULL;
    j->prev = l->tail;
    if (l->tail != NULL)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    l->n++;
}

static void list_remove(work_list_t *l, lw_work_t *j)
{
    if (j->prev != NULL)
        j->prev->next = j->next;
    else
        l->head = j->next;
    if (j->next != NULL)
        j->next->prev = j->prev;
    else
        l->tail = j->prev;
    j->prev = j->next = NULL;
    l->n--;
}

/* ---- pool threads ------------------------------------------------------------------------ */

static void work_thread(void *arg)
{
    lw_work_pool_t *pool = arg;
    uv_mutex_lock(&pool->mu);
    for (;;) {
        while (pool->queue.head == NULL && !pool->quit)
            uv_cond_wait(&pool->cond, &pool->mu);
        if (pool->queue.head == NULL)
            break; /* quit, and close already canceled whatever was queued */
        lw_work_t *j = pool->queue.head;
        list_remove(&pool->queue, j);
        j->state = WORK_RUNNING;
        j->ran = true;
        pool->running++;
        uv_mutex_unlock(&pool->mu);

        j->fn(j->arg);

        uv_mutex_lock(&pool->mu);
        pool->running--;
        j->state = WORK_FINISHED;
        list_push(&pool->finished, j);
        uv_async_send(&pool->async);
    }
    /* The loop joins every thread before it closes the async handle, so this send never
     * meets a closed handle. */
    pool->threads_alive--;
    uv_async_send(&pool->async);
    uv_mutex_unlock(&pool->mu);
}

/* ---- the loop side ----------------------------------------------------------------------- */

static void work_closed(uv_handle_t *h)
{
    lw_work_pool_t *pool = h->data;
    pool->closed = true;
    if (pool->close_done != NULL)
        pool->close_done(pool->close_arg);
}

static void work_join(lw_work_pool_t *pool)
{
    for (int i = 0; i < pool->nthreads; i++)
        uv_thread_join(&pool->threads[i]);
    pool->joined = true;
}

/* Delivers finished jobs, then finishes a close once nothing is left in flight. */
static void work_deliver(uv_async_t *a)
{
    lw_work_pool_t *pool = a->data;
    uv_mutex_lock(&pool->mu);
    lw_work_t *j = pool->finished.head;
    pool->finished = (work_list_t){0};
    int alive = pool->threads_alive;
    uv_mutex_unlock(&pool->mu);

    while (j != NULL) {
        lw_work_t *next = j->next;
        lw_work_status_t status = j->canceled ? LW_WORK_CANCELED : LW_WORK_DONE;
        if (status == LW_WORK_DONE)
            pool->completed++;
        else
            pool->canceled++;
        pool->inflight--;
        j->done(j->arg, status);
        free(j);
        j = next;
    }
    if (pool->closing) {
        if (alive == 0 && pool->inflight == 0 && !pool->joined) {
            work_join(pool);
            uv_close((uv_handle_t *)&pool->async, work_closed);
        }
    } else if (pool->inflight == 0) {
        uv_unref((uv_handle_t *)&pool->async);
    }
}

static void work_free_unstarted(uv_handle_t *h)
{
    lw_work_pool_t *pool = h->data;
    pool->closed = true;
    lw_work_pool_free(pool);
}

static void work_stop_threads(lw_work_pool_t *pool)
{
    uv_mutex_lock(&pool->mu);
    pool->quit = true;
    uv_cond_broadcast(&pool->cond);
    uv_mutex_unlock(&pool->mu);
}

lw_work_pool_t *lw_work_pool_new(uv_loop_t *loop, int threads, size_t max_queued, lw_err_t *err)
{
    if (threads < 1 || threads > LW_WORK_MAX_THREADS || max_queued < 1) {
        lw_err_set(err, &lw_err_invalid_argument,
                   "worker pool needs 1..%d threads and a queue of at least 1 (got %d, %zu)",
                   LW_WORK_MAX_THREADS, threads, max_queued);
        return NULL;
    }
    lw_work_pool_t *pool = lw_calloc(1, sizeof *pool);
    uv_thread_t *tids = lw_calloc((size_t)threads, sizeof *tids);
    pool->loop = loop;
    pool->threads = tids;
    pool->max_queued = max_queued;
    if (uv_mutex_init(&pool->mu) != 0)
        goto fail_mutex;
    if (uv_cond_init(&pool->cond) != 0)
        goto fail_cond;
    if (uv_async_init(loop, &pool->async, work_deliver) != 0)
        goto fail_async;
    pool->async.data = pool;
    uv_unref((uv_handle_t *)&pool->async);
    for (; pool->nthreads < threads; pool->nthreads++) {
        pool->threads_alive++; /* before the thread can exit and decrement it */
        if (uv_thread_create(&pool->threads[pool->nthreads], work_thread, pool) != 0) {
            pool->threads_alive--;
            goto fail_threads;
        }
    }
    return pool;

fail_threads:
    work_stop_threads(pool);
    work_join(pool);
    /* The async handle is already known to the loop: the pool goes in its close callback. */
    uv_close((uv_handle_t *)&pool->async, work_free_unstarted);
    lw_err_set(err, &lw_err_internal, "cannot start worker threads");
    return NULL;
fail_async:
    uv_cond_destroy(&pool->cond);
fail_cond:
    uv_mutex_destroy(&pool->mu);
fail_mutex:
    free(pool->threads);
    free(pool);
    lw_err_set(err, &lw_err_internal, "cannot set up the worker pool");
    return NULL;
}

int lw_work_submit(lw_work_pool_t *pool, lw_work_fn fn, lw_work_done_fn done, void *arg,
                   lw_work_t **job, lw_err_t *err)
{
    if (pool->closing) {
        pool->rejected++;
        return lw_err_set(err, &lw_err_work_pool_closed, NULL);
    }
    lw_work_t *j = lw_calloc(1, sizeof *j);
    *j = (lw_work_t){.pool = pool, .fn = fn, .done = done, .arg = arg};

    uv_mutex_lock(&pool->mu);
    if (pool->queue.n >= pool->max_queued) {
        uv_mutex_unlock(&pool->mu);
        free(j);
        pool->rejected++;
        lw_err_set(err, &lw_err_work_queue_full, "worker queue full (%zu jobs waiting)",
                   pool->max_queued);
        lw_err_attr_num(err, "max_queued", (long long)pool->max_queued);
        return -1;
    }
    list_push(&pool->queue, j);
    uv_cond_signal(&pool->cond);
    uv_mutex_unlock(&pool->mu);

    pool->submitted++;
    if (pool->inflight++ == 0)
        uv_ref((uv_handle_t *)&pool->async);
    if (job != NULL)
        *job = j;
    return 0;
}

int lw_work_cancel(lw_work_t *job)
{
    lw_work_pool_t *pool = job->pool;
    bool moved = false;
    uv_mutex_lock(&pool->mu);
    job->canceled = true;
    if (job->state == WORK_QUEUED) {
        list_remove(&pool->queue, job);
        job->state = WORK_FINISHED;
        list_push(&pool->finished, job);
        moved = true;
    }
    int never_ran = !job->ran; /* also a job that pool close took off the queue */
    uv_mutex_unlock(&pool->mu);
    if (moved)
        uv_async_send(&pool->async); /* done runs on a later turn, never from here */
    return never_ran;
}

void lw_work_pool_close(lw_work_pool_t *pool, void (*done)(void *arg), void *arg)
{
    if (pool->closing)
        return;
    pool->closing = true;
    pool->close_done = done;
    pool->close_arg = arg;
    uv_mutex_lock(&pool->mu);
    while (pool->queue.head != NULL) {
        lw_work_t *j = pool->queue.head;
        list_remove(&pool->queue, j);
        j->canceled = true;
        j->state = WORK_FINISHED;
        list_push(&pool->finished, j);
    }
    pool->quit = true;
    uv_cond_broadcast(&pool->cond);
    uv_mutex_unlock(&pool->mu);
    /* Keeps the loop running until the close completes in work_deliver. */
    uv_ref((uv_handle_t *)&pool->async);
    uv_async_send(&pool->async);
}

void lw_work_pool_free(lw_work_pool_t *pool)
{
    if (pool == NULL)
        return;
    if (!pool->closed)
        abort(); /* threads would outlive their pool: close it first */
    uv_cond_destroy(&pool->cond);
    uv_mutex_destroy(&pool->mu);
    free(pool->threads);
    free(pool);
}

void lw_work_pool_stats(const lw_work_pool_t *pool, lw_work_stats_t *out)
{
    lw_work_pool_t *p = (lw_work_pool_t *)pool; /* the mutex, not the figures, changes */
    uv_mutex_lock(&p->mu);
    out->queued = p->queue.n;
    out->running = p->running;
    uv_mutex_unlock(&p->mu);
    out->threads = p->nthreads;
    out->max_queued = p->max_queued;
    out->submitted = p->submitted;
    out->rejected = p->rejected;
    out->completed = p->completed;
    out->canceled = p->canceled;
}
