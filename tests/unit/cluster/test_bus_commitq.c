/* In-order offset commits (cluster/bus.h, lw_bus_commitq_*): which offset goes when, per
 * partition, with generations, revokes and entries done out of order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/bus.h"

typedef struct seen {
    int n;
    char topic[8][32];
    int32_t partition[8];
    int64_t offset[8];
} seen_t;

static void on_commit(void *arg, const lw_bus_msg_t *m)
{
    seen_t *s = arg;
    assert_true(s->n < 8);
    snprintf(s->topic[s->n], sizeof s->topic[0], "%s", m->topic);
    s->partition[s->n] = m->partition;
    s->offset[s->n] = m->offset;
    s->n++;
}

static lw_bus_commit_entry_t *add(lw_bus_commitq_t *q, const char *topic, int32_t part,
                                  int64_t offset)
{
    lw_bus_msg_t m = {.topic = topic, .partition = part, .offset = offset, .id = ""};
    return lw_bus_commitq_add(q, &m);
}

static void test_lw_bus_commitq__commits_the_done_prefix_only(void **state)
{
    (void)state;
    seen_t s = {0};
    lw_bus_commitq_t q = {.commit = on_commit, .commit_arg = &s};
    lw_bus_commit_entry_t *e[5];
    for (int i = 0; i < 5; i++)
        e[i] = add(&q, "lw.ns.up", 3, 100 + i);
    lw_bus_commitq_done(e[0], 0);
    lw_bus_commitq_done(e[1], 0);
    lw_bus_commitq_done(e[3], 0); /* 102 not done: holds back 103 */
    lw_bus_commitq_flush(&q, 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.topic[0], "lw.ns.up");
    assert_int_equal(s.partition[0], 3);
    assert_int_equal(s.offset[0], 101);

    lw_bus_commitq_flush(&q, 0); /* nothing new: nothing committed again */
    assert_int_equal(s.n, 1);

    lw_bus_commitq_done(e[2], 0);
    lw_bus_commitq_flush(&q, 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.offset[1], 103); /* 102 and 103 in one commit */
    lw_bus_commitq_free(&q);
}

static void test_lw_bus_commitq__waits_for_the_generation_to_be_durable(void **state)
{
    (void)state;
    seen_t s = {0};
    lw_bus_commitq_t q = {.commit = on_commit, .commit_arg = &s};
    lw_bus_commit_entry_t *a = add(&q, "t", 0, 7);
    lw_bus_commit_entry_t *b = add(&q, "t", 0, 8);
    lw_bus_commitq_done(a, 5);
    lw_bus_commitq_done(b, 9);
    lw_bus_commitq_flush(&q, 4);
    assert_int_equal(s.n, 0);
    lw_bus_commitq_flush(&q, 8);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.offset[0], 7);
    lw_bus_commitq_flush(&q, 9);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.offset[1], 8);
    lw_bus_commitq_free(&q);
}

static void test_lw_bus_commitq__partitions_are_independent(void **state)
{
    (void)state;
    seen_t s = {0};
    lw_bus_commitq_t q = {.commit = on_commit, .commit_arg = &s};
    lw_bus_commit_entry_t *a0 = add(&q, "t", 0, 1);
    lw_bus_commit_entry_t *b0 = add(&q, "t", 1, 50);
    lw_bus_commit_entry_t *b1 = add(&q, "u", 1, 60); /* another topic, same partition number */
    lw_bus_commitq_done(b0, 0);
    lw_bus_commitq_done(b1, 0);
    lw_bus_commitq_flush(&q, 0); /* a0 not done: only partition 1 of t and of u */
    assert_int_equal(s.n, 2);
    int t = strcmp(s.topic[0], "t") == 0 ? 0 : 1;
    assert_string_equal(s.topic[t], "t");
    assert_int_equal(s.partition[t], 1);
    assert_int_equal(s.offset[t], 50);
    assert_string_equal(s.topic[1 - t], "u");
    assert_int_equal(s.offset[1 - t], 60);
    lw_bus_commitq_done(a0, 0);
    lw_bus_commitq_flush(&q, 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.partition[2], 0);
    assert_int_equal(s.offset[2], 1);
    lw_bus_commitq_free(&q);
}

static void test_lw_bus_commitq__a_revoked_partition_commits_nothing_more(void **state)
{
    (void)state;
    seen_t s = {0};
    lw_bus_commitq_t q = {.commit = on_commit, .commit_arg = &s};
    lw_bus_commit_entry_t *a = add(&q, "t", 2, 10);
    lw_bus_commit_entry_t *b = add(&q, "t", 2, 11);
    lw_bus_commitq_done(a, 0);
    const lw_bus_partition_t revoked[] = {{.topic = "t", .partition = 2}};
    lw_bus_commitq_revoke(&q, revoked, 1);
    lw_bus_commitq_flush(&q, 0);
    assert_int_equal(s.n, 0); /* the next owner replays from 10 */

    /* Assigned again: a new queue for the partition, the old entry still finishing. */
    lw_bus_commit_entry_t *c = add(&q, "t", 2, 10);
    lw_bus_commitq_done(b, 0); /* the old one completes late: still not committed */
    lw_bus_commitq_done(c, 0);
    lw_bus_commitq_flush(&q, 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.partition[0], 2);
    assert_int_equal(s.offset[0], 10);
    lw_bus_commitq_free(&q);
    assert_null(q.parts);
}

static void test_lw_bus_commitq__done_null_and_empty_flush(void **state)
{
    (void)state;
    lw_bus_commitq_t q = {0}; /* no consumer, no hook: nothing to commit to */
    lw_bus_commitq_done(NULL, 1);
    lw_bus_commitq_flush(&q, 0);
    lw_bus_commit_entry_t *e = add(&q, "t", 0, 0);
    lw_bus_commitq_done(e, 0);
    lw_bus_commitq_flush(&q, 0); /* freed, nothing committed, no crash */
    lw_bus_commitq_free(&q);
    assert_null(q.parts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lw_bus_commitq__commits_the_done_prefix_only),
        cmocka_unit_test(test_lw_bus_commitq__waits_for_the_generation_to_be_durable),
        cmocka_unit_test(test_lw_bus_commitq__partitions_are_independent),
        cmocka_unit_test(test_lw_bus_commitq__a_revoked_partition_commits_nothing_more),
        cmocka_unit_test(test_lw_bus_commitq__done_null_and_empty_flush),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
