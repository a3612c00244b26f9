/* Errors as values with a name (STYLE.md "Errors are values with a name").
 *
 * Each module declares its errors once in an X-macro table (`<module>/errors.def`):
 *
 *     LW_ERR_DEF(tenant_not_found, "pkg/tenant", 404, 5, "tenant `{tenant_id}` not found")
 *
 * and instantiates them with LW_ERR_DECLARE / LW_ERR_DEFINE. The same definition drives the
 * API's error JSON (The Things Stack's shape), log lines and tests. */
#ifndef LW_ERR_H
#define LW_ERR_H

#include <stdarg.h>
#include <stddef.h>

typedef struct lw_err_def {
    const char *ns;             /* "pkg/tenant" */
    const char *name;           /* stable: "tenant_not_found" */
    int http_status;            /* 404 */
    int grpc_code;              /* 5 (NotFound); The Things Stack's "code" field */
    const char *message_format; /* "tenant `{tenant_id}` not found" */
} lw_err_def_t;

#define LW_ERR_MAX_ATTRS 6

typedef struct lw_err_attr {
    char key[32];
    char value[96];
    int is_number; /* rendered as a JSON number */
} lw_err_attr_t;

typedef struct lw_err {
    const lw_err_def_t *def; /* NULL: no error */
    char message[256];       /* for people; never contains secrets */
    int nattrs;
    lw_err_attr_t attrs[LW_ERR_MAX_ATTRS];
} lw_err_t;

#define LW_ERR_DECLARE(name) extern const lw_err_def_t lw_err_##name
#define LW_ERR_DEFINE(name, ns, http, grpc, fmt)                                                   \
    const lw_err_def_t lw_err_##name = {ns, #name, http, grpc, fmt}

/* Errors of the cluster module (cluster/errors.def). */
#define LW_ERR_DEF(name, ns, http, grpc, fmt) LW_ERR_DECLARE(name);
#include "cluster/errors.def"
#undef LW_ERR_DEF

/* Clears *err (err may be NULL). */
void lw_err_clear(lw_err_t *err);

/* Sets *err to def with a printf-style message (err may be NULL: then nothing happens).
 * Attributes are cleared. Returns -1 so that callers can `return lw_err_set(...)`. */
int lw_err_set(lw_err_t *err, const lw_err_def_t *def, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int lw_err_vset(lw_err_t *err, const lw_err_def_t *def, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Adds a string attribute ("entity_type": "applications") or a numeric one. */
void lw_err_attr(lw_err_t *err, const char *key, const char *value);
void lw_err_attr_num(lw_err_t *err, const char *key, long long value);

/* Prefixes err's message with "what: " (context for log lines and CLI output). */
void lw_err_prefix(lw_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Name of the error, "" when none. */
const char *lw_err_name(const lw_err_t *err);

#endif
