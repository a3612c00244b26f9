/* The extent of each end device of a JSON stream as The Things Stack's JSON decoder
 * (pkg/util/io NewJSONDecoder) takes them: objects separated by white space, or one array
 * of objects (its elements may be null: an empty device). Anything else where a value starts
 * (a bare word, a number, a second array, a trailing comma, an empty array) is a token error;
 * the end of the input inside a value or an array is one too. Brackets inside strings are
 * skipped; the value's own syntax is jansson's to check. Pure: the caller owns the buffer. */
#include <string.h>

#include "dtc/conv_private.h"

enum {
    S_TOP = 0,   /* between top-level values */
    S_ARR_FIRST, /* after '[' */
    S_ARR_SEP,   /* after an element */
    S_ARR_ELEM,  /* after ',' */
    S_ARR_DONE,  /* after ']' */
    S_VALUE,     /* inside an object */
    S_NULL,      /* inside a null element */
};

void dtc_json_init(dtc_json_scan_t *s, uint8_t *buf, size_t cap)
{
    memset(s, 0, sizeof *s);
    s->buf = buf;
    s->cap = cap;
    s->line = 1;
    s->col = 1;
}

static int fail(dtc_json_scan_t *s, dtc_json_errkind_t k)
{
    s->err = k;
    s->err_line = s->line;
    s->err_col = s->col;
    return -1;
}

static bool ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int put(dtc_json_scan_t *s, uint8_t c)
{
    if (s->len >= s->cap)
        return fail(s, DTC_JSON_TOO_LONG);
    s->buf[s->len++] = c;
    return 0;
}

static int emit(dtc_json_scan_t *s, dtc_json_value_fn fn, void *arg)
{
    dtc_json_value_t v = {.b = s->buf, .n = s->len, .line = s->vline, .column = s->vcol};
    s->len = 0;
    s->values++;
    s->state = s->in_array ? S_ARR_SEP : S_TOP;
    return fn(arg, &v) != 0 ? -1 : 0;
}

static int start(dtc_json_scan_t *s, uint8_t c)
{
    s->vline = s->line;
    s->vcol = s->col;
    s->len = 0;
    if (c == '{') {
        s->state = S_VALUE;
        s->depth = 1;
        s->in_string = false;
        s->escape = false;
        return put(s, c);
    }
    if (c == 'n' && s->in_array) {
        s->state = S_NULL;
        return put(s, c);
    }
    return fail(s, DTC_JSON_TOKEN);
}

static int byte_in(dtc_json_scan_t *s, uint8_t c, dtc_json_value_fn fn, void *arg)
{
    switch (s->state) {
    case S_TOP:
        if (ws(c))
            return 0;
        if (c == '[') {
            s->in_array = true;
            s->state = S_ARR_FIRST;
            return 0;
        }
        return start(s, c);
    case S_ARR_FIRST:
    case S_ARR_ELEM:
        if (ws(c))
            return 0;
        return start(s, c);
    case S_ARR_SEP:
        if (ws(c))
            return 0;
        if (c == ',') {
            s->state = S_ARR_ELEM;
            return 0;
        }
        if (c == ']') {
            s->state = S_ARR_DONE;
            return 0;
        }
        return fail(s, DTC_JSON_TOKEN);
    case S_ARR_DONE:
        if (ws(c))
            return 0;
        return fail(s, DTC_JSON_TOKEN);
    case S_NULL:
        if (s->len < 4) {
            if (c != (uint8_t) "null"[s->len])
                return fail(s, DTC_JSON_TOKEN);
            if (put(s, c) != 0)
                return -1;
            return 0;
        }
        /* "null" complete: this byte belongs to what follows */
        if (emit(s, fn, arg) != 0)
            return -1;
        return byte_in(s, c, fn, arg);
    case S_VALUE:
        if (put(s, c) != 0)
            return -1;
        if (s->in_string) {
            if (s->escape)
                s->escape = false;
            else if (c == '\\')
                s->escape = true;
            else if (c == '"')
                s->in_string = false;
            return 0;
        }
        if (c == '"')
            s->in_string = true;
        else if (c == '{' || c == '[')
            s->depth++;
        else if (c == '}' || c == ']') {
            if (--s->depth == 0)
                return emit(s, fn, arg);
        }
        return 0;
    }
    return fail(s, DTC_JSON_TOKEN);
}

int dtc_json_feed(dtc_json_scan_t *s, const uint8_t *b, size_t n, dtc_json_value_fn fn, void *arg)
{
    if (s->err != DTC_JSON_OK)
        return -1;
    for (size_t i = 0; i < n; i++) {
        /* inside an object, bytes that change nothing are copied in runs: the common case */
        if (s->state == S_VALUE && !s->escape) {
            size_t j = i;
            if (s->in_string)
                while (j < n && b[j] != '"' && b[j] != '\\' && b[j] != '\n')
                    j++;
            else
                while (j < n && b[j] != '"' && b[j] != '{' && b[j] != '[' && b[j] != '}' &&
                       b[j] != ']' && b[j] != '\n')
                    j++;
            if (j > i && j - i <= s->cap - s->len) {
                memcpy(s->buf + s->len, b + i, j - i);
                s->len += j - i;
                s->col += j - i;
                i = j - 1;
                continue;
            }
        }
        if (byte_in(s, b[i], fn, arg) != 0)
            return -1;
        if (b[i] == '\n') {
            s->line++;
            s->col = 1;
        } else {
            s->col++;
        }
    }
    return 0;
}

int dtc_json_finish(dtc_json_scan_t *s, dtc_json_value_fn fn, void *arg)
{
    if (s->err != DTC_JSON_OK)
        return -1;
    switch (s->state) {
    case S_TOP:
    case S_ARR_DONE:
        return 0;
    case S_NULL:
        if (s->len == 4) {
            if (emit(s, fn, arg) != 0)
                return -1;
            return fail(s, DTC_JSON_EOF); /* the array is not closed */
        }
        return fail(s, DTC_JSON_EOF);
    default:
        return fail(s, DTC_JSON_EOF);
    }
}
