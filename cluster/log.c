#include "cluster/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static lw_log_level_t log_min_level = LW_LOG_INFO;
static lw_log_format_t log_format = LW_LOG_LOGFMT;

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

void lw_log_setup(lw_log_level_t min_level, lw_log_format_t format)
{
    log_min_level = min_level;
    log_format = format;
}

int lw_log_level_parse(const char *s, lw_log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, log_level_names[i]) == 0) {
            *out = (lw_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

int lw_log_format_parse(const char *s, lw_log_format_t *out)
{
    if (strcmp(s, "logfmt") == 0)
        *out = LW_LOG_LOGFMT;
    else if (strcmp(s, "json") == 0)
        *out = LW_LOG_JSON;
    else
        return -1;
    return 0;
}

/* Appends src to buf[*pos..cap) escaped for logfmt (quoted when needed) or JSON. */
static void log_put_value(char *buf, size_t cap, size_t *pos, const char *src, int json)
{
    int quote = json;
    if (!json) {
        if (*src == '\0')
            quote = 1;
        for (const char *p = src; *p && !quote; p++)
            if (*p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20)
                quote = 1;
    }
    if (quote && *pos < cap)
        buf[(*pos)++] = '"';
    for (const unsigned char *p = (const unsigned char *)src; *p && *pos + 7 < cap; p++) {
        if (*p == '"' || *p == '\\') {
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = (char)*p;
        } else if (*p == '\n') {
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = 'n';
        } else if (*p < 0x20) {
            *pos += (size_t)snprintf(buf + *pos, cap - *pos, "\\u%04x", *p);
        } else {
            buf[(*pos)++] = (char)*p;
        }
    }
    if (quote && *pos < cap)
        buf[(*pos)++] = '"';
}

static void log_put_raw(char *buf, size_t cap, size_t *pos, const char *s)
{
    while (*s && *pos < cap)
        buf[(*pos)++] = *s++;
}

static void log_put_key(char *buf, size_t cap, size_t *pos, const char *key, int first)
{
    if (log_format == LW_LOG_JSON) {
        log_put_raw(buf, cap, pos, first ? "{" : ",");
        log_put_value(buf, cap, pos, key, 1);
        log_put_raw(buf, cap, pos, ":");
    } else {
        if (!first)
            log_put_raw(buf, cap, pos, " ");
        log_put_raw(buf, cap, pos, key);
        log_put_raw(buf, cap, pos, "=");
    }
}

static void log_put_field(char *buf, size_t cap, size_t *pos, const char *key, const char *value,
                          int first)
{
    log_put_key(buf, cap, pos, key, first);
    log_put_value(buf, cap, pos, value, log_format == LW_LOG_JSON);
}

/* Milliseconds with up to three decimals, trailing zeros dropped: "1.5ms", "1200ms".
 * Beyond ±1e15 ms (about 30,000 years), and for NaN: "%g" ("1e+20ms", "nanms"). */
static void log_format_ms(char *out, size_t len, double ms)
{
    if (!(ms > -1e15 && ms < 1e15)) {
        snprintf(out, len, "%gms", ms);
        return;
    }
    int n = snprintf(out, len, "%.3f", ms);
    if (n <= 0 || (size_t)n >= len)
        return;
    while (n > 0 && out[n - 1] == '0')
        out[--n] = '\0';
    if (n > 0 && out[n - 1] == '.')
        out[--n] = '\0';
    if (strcmp(out, "-0") == 0)
        snprintf(out, len, "0");
    strncat(out, "ms", len - strlen(out) - 1);
}

static void log_put_typed(char *buf, size_t cap, size_t *pos, const lw_log_field_t *f)
{
    char num[48];
    switch (f->kind) {
    case LW_LOG_K_STR:
        if (f->v.s != NULL)
            log_put_field(buf, cap, pos, f->key, f->v.s, 0);
        return;
    case LW_LOG_K_INT:
        snprintf(num, sizeof num, "%lld", f->v.i);
        break;
    case LW_LOG_K_UINT:
        snprintf(num, sizeof num, "%llu", f->v.u);
        break;
    case LW_LOG_K_BOOL:
        snprintf(num, sizeof num, "%s", f->v.b ? "true" : "false");
        break;
    case LW_LOG_K_DUR_MS:
        log_format_ms(num, sizeof num, f->v.ms);
        log_put_field(buf, cap, pos, f->key, num, 0);
        return;
    case LW_LOG_K_END:
    default:
        return;
    }
    log_put_key(buf, cap, pos, f->key, 0);
    log_put_raw(buf, cap, pos, num);
}

typedef struct log_line {
    char buf[4096];
    size_t pos, cap;
} log_line_t;

static void log_line_begin(log_line_t *l, lw_log_level_t level, const char *module, const char *msg)
{
    l->pos = 0;
    l->cap = sizeof l->buf - 2; /* room for "}" and "\n" */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof when - n, ".%03ldZ", ts.tv_nsec / 1000000);

    log_put_field(l->buf, l->cap, &l->pos, "time", when, 1);
    log_put_field(l->buf, l->cap, &l->pos, "level", log_level_names[level], 0);
    log_put_field(l->buf, l->cap, &l->pos, "module", module, 0);
    log_put_field(l->buf, l->cap, &l->pos, "msg", msg, 0);
}

static void log_line_end(log_line_t *l)
{
    if (log_format == LW_LOG_JSON)
        log_put_raw(l->buf, l->cap + 1, &l->pos, "}");
    l->buf[l->pos++] = '\n';
    /* One write per line so concurrent processes sharing stderr do not interleave. */
    fwrite(l->buf, 1, l->pos, stderr);
    fflush(stderr);
}

void lw_log(lw_log_level_t level, const char *module, const char *msg, ...)
{
    if (level < log_min_level)
        return;
    log_line_t l;
    log_line_begin(&l, level, module, msg);
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (key == NULL)
            break;
        const char *value = va_arg(ap, const char *);
        if (value != NULL)
            log_put_field(l.buf, l.cap, &l.pos, key, value, 0);
    }
    va_end(ap);
    log_line_end(&l);
}

void lw_log_fields(lw_log_level_t level, const char *module, const char *msg,
                   const lw_log_field_t *fields)
{
    if (level < log_min_level)
        return;
    log_line_t l;
    log_line_begin(&l, level, module, msg);
    for (const lw_log_field_t *f = fields; f != NULL && f->kind != LW_LOG_K_END; f++)
        log_put_typed(l.buf, l.cap, &l.pos, f);
    log_line_end(&l);
}
