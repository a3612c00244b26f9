/* Unit tests of cluster/uid.c: ids are unique, share the process's 8-byte prefix, and count up
 * by one in their last 8 bytes (big-endian); two threads drawing at once get no duplicate. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/uid.h"

#define N_IDS 100000u

static uint64_t counter_of(const uint8_t id[LW_UID_LEN])
{
    uint64_t c = 0;
    for (int i = 8; i < LW_UID_LEN; i++)
        c = (c << 8) | id[i];
    return c;
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, LW_UID_LEN);
}

/* How many ids of ids[n] (sorted here) equal their neighbour. */
static size_t duplicates(uint8_t (*ids)[LW_UID_LEN], size_t n)
{
    qsort(ids, n, LW_UID_LEN, cmp_id);
    size_t dup = 0;
    for (size_t i = 1; i < n; i++)
        if (memcmp(ids[i - 1], ids[i], LW_UID_LEN) == 0)
            dup++;
    return dup;
}

static void test_lw_uid__unique_prefix_and_counter(void **state)
{
    (void)state;
    uint8_t(*ids)[LW_UID_LEN] = malloc(N_IDS * LW_UID_LEN);
    assert_non_null(ids);
    for (size_t i = 0; i < N_IDS; i++)
        lw_uid(ids[i]);
    for (size_t i = 1; i < N_IDS; i++) {
        assert_memory_equal(ids[i], ids[0], 8);                        /* one prefix per process */
        assert_true(counter_of(ids[i]) == counter_of(ids[i - 1]) + 1); /* wraps like uint64_t */
    }
    assert_int_equal(duplicates(ids, N_IDS), 0);
    free(ids);
}

static void test_lw_uid__prefix_is_not_zero(void **state)
{
    (void)state;
    /* 8 random bytes are all zero with probability 2^-64: a prefix that was never drawn. */
    static const uint8_t zero[8];
    uint8_t a[LW_UID_LEN], b[LW_UID_LEN];
    lw_uid(a);
    lw_uid(b);
    assert_memory_not_equal(a, zero, 8);
    assert_memory_equal(a, b, 8);
    assert_true(counter_of(b) == counter_of(a) + 1);
}

typedef struct drawer {
    uint8_t (*ids)[LW_UID_LEN];
    size_t n;
    pthread_barrier_t *go;
} drawer_t;

static void *draw(void *arg)
{
    drawer_t *d = arg;
    pthread_barrier_wait(d->go);
    for (size_t i = 0; i < d->n; i++)
        lw_uid(d->ids[i]);
    return NULL;
}

static void test_lw_uid__two_threads_no_duplicate(void **state)
{
    (void)state;
    uint8_t(*ids)[LW_UID_LEN] = malloc(2 * N_IDS * LW_UID_LEN);
    assert_non_null(ids);
    pthread_barrier_t go;
    assert_int_equal(pthread_barrier_init(&go, NULL, 3), 0);
    drawer_t d[2] = {{ids, N_IDS, &go}, {ids + N_IDS, N_IDS, &go}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, draw, &d[i]), 0);
    pthread_barrier_wait(&go);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    pthread_barrier_destroy(&go);
    /* Each thread's own ids count up; the prefix is the process's. */
    uint8_t mine[LW_UID_LEN];
    lw_uid(mine);
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < N_IDS; i++) {
            assert_memory_equal(d[k].ids[i], mine, 8);
            if (i > 0)
                assert_true(counter_of(d[k].ids[i]) - counter_of(d[k].ids[i - 1]) >= 1 &&
                            counter_of(d[k].ids[i]) - counter_of(d[k].ids[i - 1]) <= N_IDS + 1);
        }
    /* 2 * N_IDS draws took 2 * N_IDS counter values: the next is just past them all. */
    uint64_t lo = counter_of(mine) - 2 * N_IDS;
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < N_IDS; i++)
            assert_true(counter_of(d[k].ids[i]) - lo < 2 * N_IDS);
    assert_int_equal(duplicates(ids, 2 * N_IDS), 0);
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lw_uid__unique_prefix_and_counter),
        cmocka_unit_test(test_lw_uid__prefix_is_not_zero),
        cmocka_unit_test(test_lw_uid__two_threads_no_duplicate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
