/* Structured logging: one line per event, logfmt (default) or JSON lines, on stderr.
 *
 * Typed fields, checked by the compiler (a compound-literal array of lw_log_field_t):
 *
 *     lw_log_kv(LW_LOG_INFO, "bus", "assigned", LW_LOG_STR("group", c->group),
 *               LW_LOG_INT("count", n), LW_LOG_DUR_MS("took", elapsed_ms));
 *
 * renders as
 *
 *     time=2026-12-01T08:25:40.123Z level=info module=bus msg=assigned group=g count=3 took=1.5ms
 *     {"time":"...","level":"info","module":"bus","msg":"assigned","group":"g","count":3,
 *      "took":"1.5ms"}   (one line)
 *
 * Strings are quoted in logfmt only when they hold a space, '=', '"', a control character
 * or nothing; in JSON always. Integers and booleans are bare in both. A duration is
 * milliseconds with up to three decimals and the unit, "1.5ms", "1200ms", "0.001ms", a
 * string in JSON too (one format in both, so a grep for `took=` and a JSON reader see the
 * same text). A field whose string value is NULL is skipped.
 *
 * The older form takes key/value string pairs, NULL-terminated; a NULL value is skipped:
 *
 *     lw_log(LW_LOG_INFO, "db", "connection state changed",
 *            "state", "connected", "tenant", tenant_id, NULL);
 *
 * Never pass secrets (keys, passwords, tokens) as values. */
#ifndef LW_LOG_H
#define LW_LOG_H

#include <stdbool.h>

typedef enum lw_log_level {
    LW_LOG_DEBUG = 0,
    LW_LOG_INFO,
    LW_LOG_WARN,
    LW_LOG_ERROR,
} lw_log_level_t;

typedef enum lw_log_format {
    LW_LOG_LOGFMT = 0,
    LW_LOG_JSON,
} lw_log_format_t;

typedef enum lw_log_kind {
    LW_LOG_K_END = 0, /* ends a field array */
    LW_LOG_K_STR,
    LW_LOG_K_INT,
    LW_LOG_K_UINT,
    LW_LOG_K_BOOL,
    LW_LOG_K_DUR_MS,
} lw_log_kind_t;

typedef struct lw_log_field {
    const char *key;
    lw_log_kind_t kind;
    union {
        const char *s;
        long long i;
        unsigned long long u;
        bool b;
        double ms;
    } v;
} lw_log_field_t;

#define LW_LOG_STR(k, val)  ((lw_log_field_t){.key = (k), .kind = LW_LOG_K_STR, .v.s = (val)})
#define LW_LOG_INT(k, val)  ((lw_log_field_t){.key = (k), .kind = LW_LOG_K_INT, .v.i = (val)})
#define LW_LOG_UINT(k, val) ((lw_log_field_t){.key = (k), .kind = LW_LOG_K_UINT, .v.u = (val)})
#define LW_LOG_BOOL(k, val) ((lw_log_field_t){.key = (k), .kind = LW_LOG_K_BOOL, .v.b = (val)})
#define LW_LOG_DUR_MS(k, val)                                                                      \
    ((lw_log_field_t){.key = (k), .kind = LW_LOG_K_DUR_MS, .v.ms = (double)(val)})
#define LW_LOG_END ((lw_log_field_t){.key = 0, .kind = LW_LOG_K_END})

/* Process-wide settings, set once at start-up before any other thread runs. */
void lw_log_setup(lw_log_level_t min_level, lw_log_format_t format);
int lw_log_level_parse(const char *s, lw_log_level_t *out);
int lw_log_format_parse(const char *s, lw_log_format_t *out);

void lw_log(lw_log_level_t level, const char *module, const char *msg, ...)
    __attribute__((sentinel));

/* Logs msg with the fields of an array ended by a field of kind LW_LOG_K_END. */
void lw_log_fields(lw_log_level_t level, const char *module, const char *msg,
                   const lw_log_field_t *fields);

/* lw_log_fields with the fields as arguments (LW_LOG_END is appended). */
#define lw_log_kv(level, module, msg, ...)                                                         \
    lw_log_fields((level), (module), (msg), (const lw_log_field_t[]){__VA_ARGS__, LW_LOG_END})

#endif
