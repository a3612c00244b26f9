/* Fuzz target for the Storage Integration's pure part (components/as/storage_query.c): the
 * input up to its first NUL is a request, its first line the path's {type} and each further
 * line a query parameter "name=value"; after the NUL an ApplicationUp JSON. A request that
 * parses must keep its bounds, build SQL whose parameters match its placeholders, and its
 * field mask must turn the JSON into an object without reading past it; lines fit or are
 * refused whole. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "as/storage_private.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

#define PARAMS_MAX 16

typedef struct params {
    size_t n;
    char *kv[PARAMS_MAX];
} params_t;

static const char *param(void *arg, const char *name)
{
    params_t *p = arg;
    size_t l = strlen(name);
    for (size_t i = 0; i < p->n; i++)
        if (strncmp(p->kv[i], name, l) == 0 && p->kv[i][l] == '=')
            return p->kv[i] + l + 1;
    return NULL;
}

/* The highest $n placeholder of sql. */
static int placeholders(const char *sql)
{
    int max = 0;
    for (const char *c = sql; (c = strchr(c, '$')) != NULL; c++)
        max = atoi(c + 1) > max ? atoi(c + 1) : max;
    return max;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t rlen = nul ? (size_t)(nul - data) : size;
    char *req = malloc(rlen + 1);
    memcpy(req, data, rlen);
    req[rlen] = '\0';
    params_t p = {0};
    char *save = NULL, *type = strtok_r(req, "\n", &save);
    for (char *line; p.n < PARAMS_MAX && (line = strtok_r(NULL, "\n", &save)) != NULL;)
        p.kv[p.n++] = line;

    static const as_storage_limits_t lim = {
        .default_limit = 100, .max_limit = 1000, .page_rows = 7};
    for (int count = 0; count < 2; count++) {
        as_stq_t q;
        lw_err_t err;
        lw_err_clear(&err);
        if (as_stq_parse(param, &p, type != NULL ? type : "", count, &lim, &q, &err) != 0) {
            CHECK(err.def != NULL);
            continue;
        }
        CHECK(as_stq_type_valid(q.type, count));
        CHECK(count || (q.limit >= 1 && q.limit <= lim.max_limit));
        CHECK(q.nmask <= AS_STQ_MASK_MAX && q.f_port <= 255);
        as_stq_resolve(&q, 1798000000000000000ll);
        CHECK(q.last_ns == 0);
        if (!count) {
            snprintf(q.cursor_at, sizeof q.cursor_at, "2026-12-01 21:00:00.123456+00");
            snprintf(q.cursor_uid, sizeof q.cursor_uid, "00112233-4455-6677-8899-aabbccddeeff");
        }
        char sql[AS_STQ_SQL_MAX], fp[12];
        const char *out[6];
        for (int dev = 0; dev < 2; dev++) {
            CHECK(as_stq_sql(&q, "\"t_acme\"", dev, 7, sql, sizeof sql) == 0);
            int n = as_stq_params(&q, fp, out);
            CHECK(n >= 1 && n <= 6);
            CHECK(placeholders(sql) == 1 + dev + n);
        }
        if (nul != NULL && !count) {
            json_t *up = json_loadb((const char *)nul + 1, size - rlen - 1, 0, NULL);
            if (up != NULL) {
                json_t *m = as_stq_mask_apply(&q, up);
                CHECK(m != NULL && (!json_is_object(up) || json_is_object(m)));
                char *text = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
                if (text != NULL) {
                    size_t tl = strlen(text), cap = tl + 12;
                    char *buf = malloc(cap);
                    CHECK(as_stq_line(buf, 0, cap, text, tl) == cap);
                    CHECK(as_stq_line(buf, 0, cap - 1, text, tl) == 0);
                    CHECK(memcmp(buf, "{\"result\":", 10) == 0 && buf[cap - 1] == '\n');
                    free(buf);
                }
                free(text);
                json_decref(m);
                json_decref(up);
            }
        }
    }
    free(req);
    return 0;
}
