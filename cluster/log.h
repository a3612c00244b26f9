/* Structured logging: one line per event, logfmt (default) or JSON lines, on stderr.
 *
 *     lw_log(LW_LOG_INFO, "db", "connection state changed",
 *            "state", "connected", "tenant", tenant_id, NULL);
 *
 * Fields are a NULL-terminated list of key/value string pairs; a NULL value is skipped.
 * Never pass secrets (keys, passwords, tokens) as values. */
#ifndef LW_LOG_H
#define LW_LOG_H

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

/* Process-wide settings, set once at start-up before any other thread runs. */
void lw_log_setup(lw_log_level_t min_level, lw_log_format_t format);
int lw_log_level_parse(const char *s, lw_log_level_t *out);
int lw_log_format_parse(const char *s, lw_log_format_t *out);

void lw_log(lw_log_level_t level, const char *module, const char *msg, ...)
    __attribute__((sentinel));

#endif
