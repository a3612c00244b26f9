/* Unit tests of cluster/work.c on a real loop: results on the loop thread, every job done
 * exactly once, cancellation, the queue bound, close with jobs pending. Blocking jobs wait
 * on a gate (a condition variable) that the test opens, so nothing depends on timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "cluster/work.h"

/* ---- a gate that blocking jobs wait on -------------------------------------------------- */

typedef struct gate {
    uv_mutex_t mu;
    uv_cond_t cond;
    bool open;
    int started; /* blocking jobs that have begun waiting */
} gate_t;

static void gate_init(gate_t *g)
{
    uv_mutex_init(&g->mu);
    uv_cond_init(&g->cond);
    g->open = false;
    g->started = 0;
}

static void gate_destroy(gate_t *g)
{
    uv_cond_destroy(&g->cond);
    uv_mutex_destroy(&g->mu);
}

/* Waits until n blocking jobs are inside their work function. */
static void gate_wait_started(gate_t *g, int n)
{
    uv_mutex_lock(&g->mu);
    while (g->started < n)
        uv_cond_wait(&g->cond, &g->mu);
    uv_mutex_unlock(&g->mu);
}

static void gate_open(gate_t *g)
{
    uv_mutex_lock(&g->mu);
    g->open = true;
    uv_cond_broadcast(&g->cond);
    uv_mutex_unlock(&g->mu);
}

/* ---- jobs ------------------------------------------------------------------------------- */

typedef struct job {
    gate_t *gate; /* NULL: does not block */
    uv_barrier_t *barrier;
    int ran;
    int done;
    lw_work_status_t status;
    uv_thread_t work_thread;
    uv_thread_t done_thread;
    int done_order; /* value of the global counter when done ran */
} job_t;

static int done_counter;

static void job_work(void *arg)
{
    job_t *j = arg;
    j->work_thread = uv_thread_self();
    j->ran++;
    if (j->barrier != NULL)
        uv_barrier_wait(j->barrier);
    if (j->gate != NULL) {
        uv_mutex_lock(&j->gate->mu);
        j->gate->started++;
        uv_cond_broadcast(&j->gate->cond);
        while (!j->gate->open)
            uv_cond_wait(&j->gate->cond, &j->gate->mu);
        uv_mutex_unlock(&j->gate->mu);
    }
}

static void job_done(void *arg, lw_work_status_t status)
{
    job_t *j = arg;
    j->done_thread = uv_thread_self();
    j->done++;
    j->status = status;
    j->done_order = ++done_counter;
}

typedef struct closed {
    int calls;
    int order;
} closed_t;

static void pool_closed(void *arg)
{
    closed_t *c = arg;
    c->calls++;
    c->order = ++done_counter;
}

static void close_and_free(uv_loop_t *loop, lw_work_pool_t *pool)
{
    closed_t c = {0};
    lw_work_pool_close(pool, pool_closed, &c);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(c.calls, 1);
    lw_work_pool_free(pool);
}

static lw_work_pool_t *pool_new(uv_loop_t *loop, int threads, size_t queue)
{
    lw_err_t err;
    lw_err_clear(&err);
    lw_work_pool_t *pool = lw_work_pool_new(loop, threads, queue, &err);
    assert_non_null(pool);
    return pool;
}

static int setup(void **state)
{
    uv_loop_t *loop = malloc(sizeof *loop);
    assert_int_equal(uv_loop_init(loop), 0);
    done_counter = 0;
    *state = loop;
    return 0;
}

static int teardown(void **state)
{
    uv_loop_t *loop = *state;
    assert_int_equal(uv_loop_close(loop), 0); /* every handle closed */
    free(loop);
    return 0;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_lw_work_submit__done_on_loop_thread(void **state)
{
    uv_loop_t *loop = *state;
    lw_work_pool_t *pool = pool_new(loop, 2, 8);
    job_t j = {0};
    lw_err_t err;
    assert_int_equal(lw_work_submit(pool, job_work, job_done, &j, NULL, &err), 0);
    uv_run(loop, UV_RUN_DEFAULT); /* returns once the job is delivered */
    uv_thread_t self = uv_thread_self();
    assert_int_equal(j.ran, 1);
    assert_int_equal(j.done, 1);
    assert_int_equal(j.status, LW_WORK_DONE);
    assert_true(uv_thread_equal(&j.done_thread, &self));
    assert_false(uv_thread_equal(&j.work_thread, &self));
    close_and_free(loop, pool);
}

static void test_lw_work_pool_new__idle_pool_does_not_hold_the_loop(void **state)
{
    uv_loop_t *loop = *state;
    lw_work_pool_t *pool = pool_new(loop, 1, 1);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    close_and_free(loop, pool);
}

static void test_lw_work_pool_new__invalid_sizes(void **state)
{
    uv_loop_t *loop = *state;
    lw_err_t err;
    assert_null(lw_work_pool_new(loop, 0, 8, &err));
    assert_string_equal(lw_err_name(&err), "invalid_argument");
    assert_null(lw_work_pool_new(loop, LW_WORK_MAX_THREADS + 1, 8, &err));
    assert_string_equal(lw_err_name(&err), "invalid_argument");
    assert_null(lw_work_pool_new(loop, 1, 0, &err));
    assert_string_equal(lw_err_name(&err), "invalid_argument");
}

static void test_lw_work_submit__threads_run_concurrently(void **state)
{
    /* Four jobs meet at a barrier of four: they finish only if four threads run them at
     * once. */
    uv_loop_t *loop = *state;
    lw_work_pool_t *pool = pool_new(loop, 4, 8);
    uv_barrier_t barrier;
    uv_barrier_init(&barrier, 4);
    job_t j[4] = {0};
    for (int i = 0; i < 4; i++) {
        j[i].barrier = &barrier;
        assert_int_equal(lw_work_submit(pool, job_work, job_done, &j[i], NULL, NULL), 0);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(j[i].done, 1);
        for (int k = 0; k < i; k++)
            assert_false(uv_thread_equal(&j[i].work_thread, &j[k].work_thread));
    }
    uv_barrier_destroy(&barrier);
    close_and_free(loop, pool);
}

static void test_lw_work_submit__many_jobs_exactly_once(void **state)
{
    uv_loop_t *loop = *state;
    enum { N = 2000 };
    lw_work_pool_t *pool = pool_new(loop, 4, N);
    job_t *j = calloc(N, sizeof *j);
    for (int i = 0; i < N; i++)
        assert_int_equal(lw_work_submit(pool, job_work, job_done, &j[i], NULL, NULL), 0);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_thread_t self = uv_thread_self();
    for (int i = 0; i < N; i++) {
        assert_int_equal(j[i].ran, 1);
        assert_int_equal(j[i].done, 1);
        assert_int_equal(j[i].status, LW_WORK_DONE);
        assert_true(uv_thread_equal(&j[i].done_thread, &self));
    }
    lw_work_stats_t st;
    lw_work_pool_stats(pool, &st);
    assert_int_equal(st.submitted, N);
    assert_int_equal(st.completed, N);
    assert_int_equal(st.canceled, 0);
    assert_int_equal(st.rejected, 0);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.running, 0);
    free(j);
    close_and_free(loop, pool);
}

static void test_lw_work_cancel__queued_job_never_runs(void **state)
{
    uv_loop_t *loop = *state;
    lw_work_pool_t *pool = pool_new(loop, 1, 8);
    gate_t g;
    gate_init(&g);
    job_t blocker = {.gate = &g}, queued = {0};
    lw_work_t *h = NULL;
    assert_int_equal(lw_work_submit(pool, job_work, job_done, &blocker, NULL, NULL), 0);
    gate_wait_started(&g, 1); /* the only thread is busy: the next job stays queued */
    assert_int_equal(lw_work_submit(pool, job_work, job_done, &queued, &h, NULL), 0);
    assert_int_equal(lw_work_cancel(h), 1);
    assert_int_equal(lw_work_cancel(h), 1); /* twice: still one done */
    assert_int_equal(queued.done, 0);       /* never from inside lw_work_cancel */
    uv_run(loop, UV_RUN_NOWAIT);
    gate_open(&g);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(queued.ran, 0);
    assert_int_equal(queued.done, 1);
    assert_int_equal(queued.status, LW_WORK_CANCELED);
    assert_int_equal(blocker.done, 1);
    assert_int_equal(blocker.status, LW_WORK_DONE);
    lw_work_stats_t st;
    lw_work_pool_stats(pool, &st);
    assert_int_equal(st.completed, 1);
    assert_int_equal(st.canceled, 1);
    close_and_free(loop, pool);
    gate_destroy(&g);
}

static void test_lw_work_cancel__running_job_delivered_as_canceled(void **state)
{
    uv_loop_t *loop = *state;
    lw_work_pool_t *pool = pool_new(loop, 1, 8);
    gate_t g;
    gate_init(&g);
    job_t running = {.gate = &g};
    lw_work_t *h = NULL;
    assert_int_equal(lw_work_submit(pool, job_work, job_done, &running, &h, NULL), 0);
    gate_wait_started(&g, 1);
    assert_int_equal(lw_work_cancel(h), 0);
    gate_open(&g);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(running.ran, 1);
    assert_int_equal(running.done, 1);
    assert_int_equal(running.status, LW_WORK_CANCELED);
    close_and_free(loop, pool);
    gate_destroy(&g);
}

static void test_lw_work_submit__queue_full(void **state)
{
    uv_loop_t *loop = *state;
    enum { THREADS = 2, QUEUE = 3 };
    lw_work_pool_t *pool = pool_new(loop, THREADS, QUEUE);
    gate_t g;
    gate_init(&g);
    job_t j[THREADS + QUEUE + 1];
    memset(j, 0, sizeof j);
    for (int i = 0; i < THREADS + QUEUE + 1; i++)
        j[i].gate = &g;
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(lw_work_submit(pool, job_work, job_done, &j[i], NULL, NULL), 0);
    gate_wait_started(&g, THREADS); /* every thread holds a job; the queue is empty */
    for (int i = THREADS; i < THREADS + QUEUE; i++)
        assert_int_equal(lw_work_submit(pool, job_work, job_done, &j[i], NULL, NULL), 0);

    lw_err_t err;
    lw_err_clear(&err);
    lw_work_t *h = (lw_work_t *)&err; /* must stay untouched */
    assert_int_equal(lw_work_submit(pool, job_work, job_done, &j[THREADS + QUEUE], &h, &err), -1);
    assert_string_equal(lw_err_name(&err), "work_queue_full");
    assert_ptr_equal(h, (lw_work_t *)&err);
    lw_work_stats_t st;
    lw_work_pool_stats(pool, &st);
    assert_int_equal(st.running, THREADS);
    assert_int_equal(st.queued, QUEUE);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.submitted, THREADS + QUEUE);

    gate_open(&g);
    uv_run(loop, UV_RUN_DEFAULT);
    for (int i = 0; i < THREADS + QUEUE; i++) {
        assert_int_equal(j[i].done, 1);
        assert_int_equal(j[i].status, LW_WORK_DONE);
    }
    assert_int_equal(j[THREADS + QUEUE].ran, 0);
    assert_int_equal(j[THREADS + QUEUE].done, 0);
    close_and_free(loop, pool);
    gate_destroy(&g);
}

static void test_lw_work_pool_close__pending_jobs(void **state)
{
    /* One job runs, two wait: close lets the running one finish and deliver, cancels the
     * waiting ones, and calls its own done last. */
    uv_loop_t *loop = *state;
    lw_work_pool_t *pool = pool_new(loop, 1, 8);
    gate_t g;
    gate_init(&g);
    job_t running = {.gate = &g}, waiting[2] = {{0}};
    lw_work_t *h[2];
    assert_int_equal(lw_work_submit(pool, job_work, job_done, &running, NULL, NULL), 0);
    gate_wait_started(&g, 1);
    for (int i = 0; i < 2; i++)
        assert_int_equal(lw_work_submit(pool, job_work, job_done, &waiting[i], &h[i], NULL), 0);

    closed_t c = {0};
    lw_work_pool_close(pool, pool_closed, &c);
    assert_int_equal(c.calls, 0); /* never from inside the call */
    /* The requester going away after close: the job stays canceled, done still once. */
    assert_int_equal(lw_work_cancel(h[0]), 1);
    lw_err_t err;
    job_t late = {0};
    assert_int_equal(lw_work_submit(pool, job_work, job_done, &late, NULL, &err), -1);
    assert_string_equal(lw_err_name(&err), "work_pool_closed");
    gate_open(&g);
    uv_run(loop, UV_RUN_DEFAULT);

    assert_int_equal(running.done, 1);
    assert_int_equal(running.status, LW_WORK_DONE);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(waiting[i].ran, 0);
        assert_int_equal(waiting[i].done, 1);
        assert_int_equal(waiting[i].status, LW_WORK_CANCELED);
        assert_true(waiting[i].done_order < c.order);
    }
    assert_true(running.done_order < c.order);
    assert_int_equal(c.calls, 1);
    assert_int_equal(late.done, 0);
    lw_work_pool_free(pool);
    gate_destroy(&g);
}

/* Closing from a done callback, as a component stopping on its last result would. */
typedef struct close_from_done {
    lw_work_pool_t *pool;
    closed_t closed;
    int done;
} close_from_done_t;

static void nothing(void *arg)
{
    (void)arg;
}

static void done_then_close(void *arg, lw_work_status_t status)
{
    close_from_done_t *t = arg;
    assert_int_equal(status, LW_WORK_DONE);
    t->done++;
    lw_work_pool_close(t->pool, pool_closed, &t->closed);
    lw_work_pool_close(t->pool, pool_closed, &t->closed); /* a second call does nothing */
}

static void test_lw_work_pool_close__from_done_callback(void **state)
{
    uv_loop_t *loop = *state;
    close_from_done_t t = {.pool = pool_new(loop, 2, 4)};
    assert_int_equal(lw_work_submit(t.pool, nothing, done_then_close, &t, NULL, NULL), 0);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(t.done, 1);
    assert_int_equal(t.closed.calls, 1);
    lw_work_pool_free(t.pool);
}

static void test_lw_work_pool_free__null(void **state)
{
    (void)state;
    lw_work_pool_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lw_work_submit__done_on_loop_thread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_work_pool_new__idle_pool_does_not_hold_the_loop,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_work_pool_new__invalid_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_work_submit__threads_run_concurrently, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lw_work_submit__many_jobs_exactly_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lw_work_cancel__queued_job_never_runs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lw_work_cancel__running_job_delivered_as_canceled,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_work_submit__queue_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_work_pool_close__pending_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lw_work_pool_close__from_done_callback, setup,
                                        teardown),
        cmocka_unit_test(test_lw_work_pool_free__null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
