/* Unit tests of cluster/mem.c: the allocation wrappers copy, zero, grow, and make failure
 * fatal with one line on stderr. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster/mem.h"

/* Under AddressSanitizer an impossible size would end in ASan's own report; with this its
 * malloc returns NULL like glibc's, so the child reaches lw_malloc's failure path. Options
 * from ASAN_OPTIONS still apply on top. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

static void test_lw_strndup__copies_and_terminates(void **state)
{
    (void)state;
    char *s = lw_strndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(s);
    /* n past the end: the whole string. */
    s = lw_strndup("ab", 10);
    assert_string_equal(s, "ab");
    free(s);
    /* Not NUL-terminated within n: reads only n bytes. */
    const char raw[4] = {'w', 'x', 'y', 'z'};
    s = lw_strndup(raw, sizeof raw);
    assert_string_equal(s, "wxyz");
    free(s);
    s = lw_strndup("abc", 0);
    assert_string_equal(s, "");
    free(s);
}

static void test_lw_strdup__copies(void **state)
{
    (void)state;
    const char *in = "lwstack";
    char *s = lw_strdup(in);
    assert_ptr_not_equal(s, in);
    assert_string_equal(s, in);
    free(s);
}

static void test_lw_calloc__zeroes(void **state)
{
    (void)state;
    unsigned char *p = lw_calloc(100, 3);
    for (size_t i = 0; i < 300; i++)
        assert_int_equal(p[i], 0);
    free(p);
    /* Zero sizes still give a pointer that free accepts. */
    p = lw_calloc(0, 8);
    assert_non_null(p);
    free(p);
}

static void test_lw_malloc_realloc__keep_contents(void **state)
{
    (void)state;
    char *p = lw_malloc(4);
    memcpy(p, "abc", 4);
    p = lw_realloc(p, 1 << 20);
    assert_string_equal(p, "abc");
    p[(1 << 20) - 1] = 'z';
    p = lw_realloc(p, 2);
    assert_memory_equal(p, "ab", 2);
    free(p);
    p = lw_realloc(NULL, 8);
    assert_non_null(p);
    free(p);
}

/* Runs fn in a child whose stderr goes to a pipe; returns the child's wait status and what
 * it wrote in out. */
static int run_child(void (*fn)(void), char *out, size_t cap)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        fn();
        _exit(0); /* not reached when fn aborts */
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && (n = read(fds[0], out + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

/* The child's last line is ours (AddressSanitizer may warn before it, glibc does not). */
static void assert_last_line(const char *out, const char *want)
{
    size_t n = strlen(out), w = strlen(want);
    assert_true(n >= w);
    assert_string_equal(out + n - w, want);
    assert_true(n == w || out[n - w - 1] == '\n');
}

static void child_malloc_huge(void)
{
    void *volatile p = lw_malloc(SIZE_MAX / 2);
    (void)p;
}

static void child_calloc_overflow(void)
{
    void *volatile p = lw_calloc(SIZE_MAX / 2, 4);
    (void)p;
}

static void child_realloc_huge(void)
{
    void *volatile p = lw_realloc(NULL, SIZE_MAX / 2);
    (void)p;
}

static void test_lw_malloc__failure_aborts_with_message(void **state)
{
    (void)state;
    char out[512], want[128];
    int status = run_child(child_malloc_huge, out, sizeof out);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    snprintf(want, sizeof want, "lwstack: out of memory allocating %zu bytes\n", SIZE_MAX / 2);
    assert_last_line(out, want);

    status = run_child(child_realloc_huge, out, sizeof out);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_last_line(out, want);
}

static void test_lw_calloc__overflow_aborts_with_message(void **state)
{
    (void)state;
    char out[512], want[128];
    int status = run_child(child_calloc_overflow, out, sizeof out);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    snprintf(want, sizeof want, "lwstack: out of memory allocating %zu bytes\n", SIZE_MAX);
    assert_last_line(out, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lw_strndup__copies_and_terminates),
        cmocka_unit_test(test_lw_strdup__copies),
        cmocka_unit_test(test_lw_calloc__zeroes),
        cmocka_unit_test(test_lw_malloc_realloc__keep_contents),
        cmocka_unit_test(test_lw_malloc__failure_aborts_with_message),
        cmocka_unit_test(test_lw_calloc__overflow_aborts_with_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
