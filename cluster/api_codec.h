/* The pure part of every API: request parameters as The Things Stack's APIs take them —
 * field masks, paging, ordering, RFC 3339 times, body keys — and the errors they answer.
 * Values in, values out: no I/O, no clock, no allocation, so that a codec (is/codec.c)
 * can use them without pulling in the runtime. The operation pipeline is in api.h. */
#ifndef LW_API_CODEC_H
#define LW_API_CODEC_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "cluster/err.h"

/* ---- errors ------------------------------------------------------------------------------ */

/* invalid_field with the message "invalid `<field>`: <why>" and attribute "field".
 * Returns -1. */
int lw_api_invalid(lw_err_t *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* unknown_field "unknown field `<field>`" with attribute "field". Returns -1. */
int lw_api_unknown(lw_err_t *err, const char *field);
/* Checks that every key of the JSON object `obj` is in `allowed` or `extra` (both
 * NULL-terminated; extra may be NULL). Returns 0, or -1 with unknown_field. */
int lw_api_check_keys(const json_t *obj, const char *const *allowed, const char *const *extra,
                      lw_err_t *err);

/* ---- field masks ------------------------------------------------------------------------- */

#define LW_API_MASK_MAX 48
#define LW_API_PATH_MAX 64

/* Validated, de-duplicated paths ("name", "version_ids.brand_id"). */
typedef struct lw_api_mask {
    int n;
    char paths[LW_API_MASK_MAX][LW_API_PATH_MAX];
} lw_api_mask_t;

/* The paths a mask may name: those in `paths` (NULL-terminated), or those `known` accepts
 * (arg passed through). Read-only paths ("ids", "ids.*", "created_at", "updated_at",
 * "deleted_at") are always accepted and left out of the mask. `prefix` ("tenant."), when
 * set, may precede any path (some clients prefix the message name). `subpaths`: a path
 * under one of `paths` ("session.keys.app_s_key" under "session") is accepted too. */
typedef struct lw_api_fields {
    const char *const *paths;
    bool subpaths;
    bool (*known)(const void *arg, const char *path);
    const void *arg;
    const char *prefix;
} lw_api_fields_t;

/* From `?field_mask=a,b` (NULL or "": an empty mask). Errors: invalid_field naming `field`
 * ("invalid `field_mask`: unknown path `colour`", attributes field and path). */
int lw_api_mask_parse_csv(const lw_api_fields_t *f, const char *csv, const char *field,
                          lw_api_mask_t *m, lw_err_t *err);
/* From a body's {"paths":[...]} (NULL or null: an empty mask). Other keys of the object
 * are unknown_field "<field>.<key>". */
int lw_api_mask_parse_json(const lw_api_fields_t *f, const json_t *fm, const char *field,
                           lw_api_mask_t *m, lw_err_t *err);
bool lw_api_mask_has(const lw_api_mask_t *m, const char *path);
/* Whether the mask selects `path` for rendering: the path itself, one of its parents
 * ("session" selects "session.dev_addr"), or one of its children ("session.keys" selects
 * "session": the object is rendered with that child). */
bool lw_api_mask_selects(const lw_api_mask_t *m, const char *path);

/* ---- numbers ----------------------------------------------------------------------------- */

/* An unsigned count from a JSON body, as The Things Stack's uint64 and UInt64Value fields
 * arrive: a JSON integer, or a string of decimal digits (no sign, blanks or exponent). A
 * value above max is refused, never clamped. Errors: invalid_field naming `field` ("must be
 * an integer from 0 to <max>"). */
int lw_api_uint_decode(const json_t *v, const char *field, long long max, long long *out,
                       lw_err_t *err);

/* ---- paging and order -------------------------------------------------------------------- */

#define LW_API_LIMIT_MAX 1000
#define LW_API_PAGE_MAX  1000000000L

/* `limit` 0..max_limit (absent or 0: max_limit) and 1-based `page` 0..LW_API_PAGE_MAX
 * (absent or 0: 1). */
typedef struct lw_api_page {
    long limit;
    long page;
} lw_api_page_t;

/* Parses the query values (NULL: absent). Errors: invalid_field naming limit or page. */
int lw_api_page_parse(const char *limit, const char *page, long max_limit, lw_api_page_t *p,
                      lw_err_t *err);
/* Rows skipped before the page: (page - 1) * limit. */
long lw_api_page_offset(const lw_api_page_t *p);
/* Writes into buf one statement answering the total (column 0) and the rows of the page
 * (columns from 1, all NULL when the page is empty) of `SELECT cols FROM from_where ORDER
 * BY order`. from_where and order are trusted SQL text (never request text). Returns 0, or
 * -1 when buf is too small. */
int lw_api_page_sql(char *buf, size_t len, const char *cols, const char *from_where,
                    const char *order, const lw_api_page_t *p);

/* An ordering a list accepts: `order=name` selects asc, `order=-name` desc. Both are SQL
 * text from the table, so request text never reaches SQL. */
typedef struct lw_api_order {
    const char *name;
    const char *asc;
    const char *desc;
} lw_api_order_t;

/* order NULL or "": table[0].asc. Otherwise "[-]<name>" must name an entry; else
 * invalid_field "order" listing the choices. */
int lw_api_order_parse(const char *order, const lw_api_order_t *table, size_t n, const char **sql,
                       lw_err_t *err);

/* ---- RFC 3339 times ---------------------------------------------------------------------- */

/* A timestamptz column rendered in SQL as RFC 3339 UTC with microseconds. */
#define LW_API_SQL_TIME(col)                                                                       \
    "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

#define LW_API_TIME_LEN 32
/* "2026-01-02T03:04:05.123456Z" (UTC, microseconds) into out. */
void lw_api_time_format(const struct timespec *ts, char out[LW_API_TIME_LEN]);
/* "YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)"? */
bool lw_api_time_valid(const char *s);
/* The same syntax into nanoseconds since the epoch (fraction digits beyond 9 ignored, the
 * offset applied); -1 when malformed, before 1970 or after 2262. */
int64_t lw_api_time_parse(const char *s);

/* ---- unique violations ------------------------------------------------------------------- */

#define LW_API_CONFLICTS 2

/* What a unique violation means for an operation: already_exists with `message` (and
 * attribute "id" when id is not empty); with `constraint` set, only when the violated
 * constraint's name contains it. */
typedef struct lw_api_conflict {
    char constraint[32];
    char message[200];
    char id[64];
} lw_api_conflict_t;

/* Maps a statement error: a unique violation to the first matching conflict (those with a
 * constraint first), anything else unchanged. */
void lw_api_conflict_map(const lw_api_conflict_t *c, int n, const lw_err_t *in, lw_err_t *out);

#endif
