/* Reading jsmn tokens in place, shared by the Gateway Server's pure codecs (udp_codec.c,
 * bs_codec.c): jsmn (Debian's header-only libjsmn-dev, strict mode, each codec's own static
 * copy) tokenises into an array the caller keeps on the stack; these helpers read a token's
 * text without copying it out, except numbers, which go through strtod/strtoll on a small
 * local copy. Pure: no allocation, no I/O. */
#ifndef GS_JSON_TOK_PRIVATE_H
#define GS_JSON_TOK_PRIVATE_H

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_STRICT
#include <jsmn.h>

/* A tokenised document: the text and its n tokens. */
typedef struct gs_json {
    const char *js;
    const jsmntok_t *t;
    int n;
} gs_json_t;

/* True when token i is the string `key` (no escapes). */
static inline bool gs_json_key_is(const gs_json_t *j, int i, const char *key)
{
    const jsmntok_t *k = &j->t[i];
    size_t len = strlen(key);
    return k->type == JSMN_STRING && (size_t)(k->end - k->start) == len &&
           memcmp(j->js + k->start, key, len) == 0;
}

/* Index of the token after the value starting at i (skips the whole subtree). */
static inline int gs_json_skip(const gs_json_t *j, int i)
{
    int pending = 1;
    while (pending > 0 && i < j->n) {
        const jsmntok_t *t = &j->t[i];
        pending--;
        if (t->type == JSMN_OBJECT)
            pending += 2 * t->size;
        else if (t->type == JSMN_ARRAY)
            pending += t->size;
        i++;
    }
    return i;
}

/* Copies a numeric primitive token into tmp (NUL-terminated); false when it is not one or
 * does not fit. */
static inline bool gs_json_numeric_text(const gs_json_t *j, int i, char *tmp, size_t cap)
{
    const jsmntok_t *t = &j->t[i];
    size_t len = (size_t)(t->end - t->start);
    const char *s = j->js + t->start;
    if (t->type != JSMN_PRIMITIVE || len == 0 || len >= cap ||
        !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
        return false;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    return true;
}

/* A finite number. */
static inline bool gs_json_double(const gs_json_t *j, int i, double *out)
{
    char tmp[40];
    if (!gs_json_numeric_text(j, i, tmp, sizeof tmp))
        return false;
    char *end = NULL;
    errno = 0;
    double v = strtod(tmp, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* An integer in [lo, hi]; a number with a fraction or exponent is not one. */
static inline bool gs_json_int(const gs_json_t *j, int i, long long lo, long long hi,
                               long long *out)
{
    char tmp[24];
    if (!gs_json_numeric_text(j, i, tmp, sizeof tmp))
        return false;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

#endif
