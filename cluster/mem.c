#include "cluster/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* fprintf to an unbuffered stderr does not allocate; lw_log might. */
static _Noreturn void mem_fail(size_t n)
{
    fprintf(stderr, "lwstack: out of memory allocating %zu bytes\n", n);
    abort();
}

void *lw_malloc(size_t n)
{
    void *p = malloc(n > 0 ? n : 1);
    if (p == NULL)
        mem_fail(n);
    return p;
}

void *lw_calloc(size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        mem_fail(SIZE_MAX);
    void *p = calloc(n > 0 ? n : 1, size > 0 ? size : 1);
    if (p == NULL)
        mem_fail(n * size);
    return p;
}

void *lw_realloc(void *p, size_t n)
{
    void *np = realloc(p, n > 0 ? n : 1);
    if (np == NULL)
        mem_fail(n);
    return np;
}

char *lw_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = lw_malloc(n);
    memcpy(d, s, n);
    return d;
}

char *lw_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = lw_malloc(len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}
