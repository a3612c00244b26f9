/* Heap allocation, the one rule for every module on the cluster layer.
 *
 * Allocation failure is fatal, as in h2o and Redis: call these, never check for NULL; jansson's
 * own allocations are set to these with json_set_alloc_funcs at start-up so that a NULL from
 * json_* means bad input, not memory. The process could not survive running out anyway: h2o
 * aborts inside h2o_mem_alloc when malloc fails, and Linux overcommits, so a NULL from malloc
 * is rare and late. On failure each function writes one line to stderr, `lwstack: out of
 * memory allocating N bytes` (not through lw_log, which may allocate), and calls abort().
 * libpq, librdkafka, libcurl and libuv allocate internally with their own handling. */
#ifndef LW_MEM_H
#define LW_MEM_H

#include <stddef.h>

/* malloc(n); never NULL (n == 0 allocates one byte). */
void *lw_malloc(size_t n);

/* calloc(n, size): zeroed; never NULL. n * size overflowing size_t is fatal too. */
void *lw_calloc(size_t n, size_t size);

/* realloc(p, n); never NULL (n == 0 keeps one byte). */
void *lw_realloc(void *p, size_t n);

/* A copy of the NUL-terminated s; never NULL. */
char *lw_strdup(const char *s);

/* A NUL-terminated copy of at most n bytes of s (fewer when s ends first); never NULL. */
char *lw_strndup(const char *s, size_t n);

#endif
