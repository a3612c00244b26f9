/* The Storage Integration (TTS's storage-integration application package): every
 * ApplicationUp on lw.as.up kept per tenant in PostgreSQL (as_stored_up,
 * migrations/tenant/as/0004_storage.sql) and served by TTS's ApplicationUpStorage API.
 *
 *   storage.c        consumer group "as.storage" on lw.as.up: rows batched per tenant, one
 *                    multi-row INSERT per tenant per flush, offsets committed once written;
 *                    retention in the background (bounded DELETEs); as.storage.* config
 *   storage_query.c  pure: request parameters, the SQL of a query, field masks applied to an
 *                    ApplicationUp, the `{"result": ...}` lines
 *   storage_api.c    GET /api/v3/as/applications/{app}[/devices/{dev}]/packages/storage/
 *                    {type}[/count], and the package association registry of the
 *                    storage-integration package (.../packages/associations[/{f_port}])
 *
 * Loop thread only, except where said. */
#ifndef AS_STORAGE_PRIVATE_H
#define AS_STORAGE_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "as/as_private.h"
#include "cluster/config.h"
#include "cluster/err.h"

#define AS_STORAGE_PACKAGE "storage-integration" /* TTS's package name */
#define AS_STQ_MASK_MAX    32u                   /* field_mask paths of one query */
#define AS_STQ_PATH_MAX    96u                   /* one field_mask path */
#define AS_STQ_SQL_MAX     1024u                 /* a query's SQL text */

extern const lw_cfg_opt_t as_storage_config[];
extern const size_t as_storage_config_len;

/* ---- the component's part (storage.c) ----------------------------------------------------- */

/* From component.c: init reads as.storage.*, start joins the consumer group and starts the
 * retention timer, stop flushes what is batched (idle tells when nothing is in flight). */
int as_storage_init(as_t *as, lw_err_t *err);
int as_storage_start(as_t *as, lw_err_t *err);
void as_storage_stop(as_t *as);
bool as_storage_idle(const as_t *as);
void as_storage_free(as_t *as);
/* Registers the API routes (storage_api.c). */
int as_storage_routes(as_t *as);

/* What the API needs of the configuration. */
typedef struct as_storage_limits {
    uint32_t default_limit, max_limit;
    uint32_t page_rows; /* rows of one statement of a query (as.storage.query-page) */
} as_storage_limits_t;
const as_storage_limits_t *as_storage_limits(const as_t *as);

/* ---- pure parts (storage_query.c) --------------------------------------------------------- */

/* The ApplicationUp types the storage keeps and the query `{type}` accepts (TTS's names);
 * count excludes uplink_normalized as TTS's GetStoredApplicationUpCountRequest does. */
bool as_stq_type_valid(const char *type, bool count);

/* A Go duration ("10m", "1h30m", "1.5s", "300ms", "600s"; units ns us µs ms s m h) into
 * nanoseconds. Returns 0, or -1 for a malformed, negative or overflowing value. */
int as_stq_duration_parse(const char *s, int64_t *ns);

typedef enum as_stq_order { AS_STQ_ASC = 0, AS_STQ_DESC = 1 } as_stq_order_t;

/* One GetStoredApplicationUp(Count) request. Times are text as given (validated RFC 3339),
 * handed to PostgreSQL as timestamptz; last is turned into `after` by as_stq_resolve. */
typedef struct as_stq {
    bool count;
    char type[32];
    uint32_t limit; /* 0: the default */
    bool has_f_port;
    uint32_t f_port;
    as_stq_order_t order;
    char after[40], before[40]; /* "" when unset */
    int64_t last_ns;            /* 0: unset */
    size_t nmask;
    char mask[AS_STQ_MASK_MAX][AS_STQ_PATH_MAX]; /* JSON paths: "up." dropped */
    /* Paging (as_stq_sql): the last row answered, "" before the first page. */
    char cursor_at[48], cursor_uid[40];
} as_stq_t;

/* Query parameters by name (value NULL when absent), from the HTTP request. */
typedef const char *(*as_stq_param_fn)(void *arg, const char *name);

/* Parses a request: type (the path's {type}), limit (capped to lim->max_limit; absent or 0:
 * lim->default_limit), after, before, last (not with after/before), order ("",
 * "received_at", "-received_at"), field_mask (comma-separated ApplicationUp paths as TTS
 * names them: "up.uplink_message.decoded_payload", "end_device_ids", "received_at"; "up."
 * may be left out), f_port (0..255). Count requests take type, after, before, last, f_port.
 * Errors: invalid_field naming the parameter (type, limit, after, before, last, order,
 * field_mask, f_port). */
int as_stq_parse(as_stq_param_fn param, void *arg, const char *type, bool count,
                 const as_storage_limits_t *lim, as_stq_t *q, lw_err_t *err);

/* Turns `last` into `after` (now_ns minus last, RFC 3339 UTC with microseconds). */
void as_stq_resolve(as_stq_t *q, int64_t now_ns);

/* The SQL text of q for the quoted schema (with_dev: a device's messages), at most `rows` rows
 * (a page: the query's limit is the caller's to spend), after q's cursor when set. Parameters:
 * $1 application_id, $2 device_id (with_dev), then those as_stq_params lists, in order. Rows:
 * up (the JSON text), received_at and uid (the next cursor) for a query; device_id and count
 * for a count. Returns 0 or -1 (too long). */
int as_stq_sql(const as_stq_t *q, const char *schema, bool with_dev, uint32_t rows, char *buf,
               size_t len);
/* The parameters after app (and dev) for as_stq_sql, in order (pointers into q or fport_buf).
 * Returns how many (at most 6). */
int as_stq_params(const as_stq_t *q, char fport_buf[12], const char *out[6]);

/* Applies q's field mask to an ApplicationUp (a new object with only the masked paths,
 * intermediate objects kept; an empty mask: a new reference to up). */
json_t *as_stq_mask_apply(const as_stq_t *q, json_t *up);

/* Appends one line `{"result":<json>}\n` to buf (len used, cap size) as TTS's HTTP gateway
 * streams a server stream. json is one compact JSON object. Returns the new length, or 0
 * when it does not fit (buf untouched). */
size_t as_stq_line(char *buf, size_t len, size_t cap, const char *json, size_t json_len);

#endif
