/* Pure helpers of lwcli: growable strings, command-line flag parsing, and the
 * normalisation of rights and states to The Things Stack's enum names. */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lwcli.h"

/* ---- memory ----------------------------------------------------------------------------- */

static _Noreturn void x_fail(size_t n)
{
    fprintf(stderr, "lwcli: out of memory allocating %zu bytes\n", n);
    exit(LC_EXIT_FAIL);
}

void *lc_xmalloc(size_t n)
{
    void *p = malloc(n > 0 ? n : 1);
    if (p == NULL)
        x_fail(n);
    return p;
}

void *lc_xcalloc(size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        x_fail(SIZE_MAX);
    void *p = calloc(n > 0 ? n : 1, size > 0 ? size : 1);
    if (p == NULL)
        x_fail(n * size);
    return p;
}

void *lc_xrealloc(void *p, size_t n)
{
    void *np = realloc(p, n > 0 ? n : 1);
    if (np == NULL)
        x_fail(n);
    return np;
}

char *lc_xstrdup(const char *s)
{
    return lc_xstrndup(s, strlen(s));
}

char *lc_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = lc_xmalloc(len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

/* ---- strings ---------------------------------------------------------------------------- */

static void str_reserve(lc_str_t *s, size_t extra)
{
    if (s->len + extra + 1 <= s->cap)
        return;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < s->len + extra + 1)
        cap *= 2;
    s->buf = lc_xrealloc(s->buf, cap);
    s->cap = cap;
}

void lc_str_appendn(lc_str_t *s, const char *text, size_t n)
{
    str_reserve(s, n);
    memcpy(s->buf + s->len, text, n);
    s->len += n;
    s->buf[s->len] = '\0';
}

void lc_str_append(lc_str_t *s, const char *text)
{
    lc_str_appendn(s, text, strlen(text));
}

void lc_str_appendf(lc_str_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    str_reserve(s, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(s->buf + s->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
}

void lc_str_append_escaped(lc_str_t *s, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~' || *p == ',') {
            lc_str_appendn(s, (const char *)p, 1);
        } else {
            char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            lc_str_appendn(s, enc, 3);
        }
    }
}

const char *lc_str_cstr(const lc_str_t *s)
{
    return s->buf ? s->buf : "";
}

void lc_str_free(lc_str_t *s)
{
    free(s->buf);
    s->buf = NULL;
    s->len = s->cap = 0;
}

/* ---- flags ------------------------------------------------------------------------------ */

static const lc_flag_spec_t *spec_find(const lc_flag_spec_t *const *specs, size_t nspecs,
                                       const char *name, size_t namelen)
{
    for (size_t i = 0; i < nspecs; i++) {
        for (const lc_flag_spec_t *f = specs[i]; f && f->name; f++) {
            size_t fl = strlen(f->name);
            if (f->kind == LC_FLAG_PREFIX) {
                if (namelen > fl && strncmp(name, f->name, fl) == 0)
                    return f;
            } else if (fl == namelen && strncmp(name, f->name, fl) == 0) {
                return f;
            }
        }
    }
    return NULL;
}

static int parse_bool(const char *v, const char **out)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0) {
        *out = "true";
        return 0;
    }
    if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcmp(v, "no") == 0) {
        *out = "false";
        return 0;
    }
    return -1;
}

static bool is_uint(const char *v)
{
    if (*v == '\0' || strlen(v) > 19)
        return false;
    for (const char *p = v; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    return true;
}

int lc_args_parse(int argc, char **argv, int *idx, const lc_flag_spec_t *const *specs,
                  size_t nspecs, bool stop_at_word, lc_args_t *out, char *errbuf, size_t errlen)
{
    bool flags_done = false;
    while (*idx < argc) {
        char *tok = argv[*idx];
        if (flags_done || tok[0] != '-' || tok[1] == '\0') {
            if (stop_at_word)
                return 0;
            if (out->npos == LC_ARGS_MAX) {
                snprintf(errbuf, errlen, "too many arguments");
                return -1;
            }
            out->pos[out->npos++] = tok;
            (*idx)++;
            continue;
        }
        if (strcmp(tok, "--") == 0) {
            flags_done = true;
            (*idx)++;
            continue;
        }
        if (strcmp(tok, "-h") == 0 || strcmp(tok, "--help") == 0) {
            out->help = true;
            (*idx)++;
            continue;
        }
        if (tok[1] != '-') {
            snprintf(errbuf, errlen, "unknown flag %s", tok);
            return -1;
        }
        const char *name = tok + 2;
        const char *eq = strchr(name, '=');
        size_t namelen = eq ? (size_t)(eq - name) : strlen(name);
        const lc_flag_spec_t *spec = spec_find(specs, nspecs, name, namelen);
        if (spec == NULL) {
            snprintf(errbuf, errlen, "unknown flag --%.*s", (int)namelen, name);
            return -1;
        }
        if (out->nflags == LC_ARGS_MAX) {
            snprintf(errbuf, errlen, "too many flags");
            return -1;
        }
        lc_arg_t *a = &out->flags[out->nflags];
        a->spec = spec;
        a->name = spec->kind == LC_FLAG_PREFIX ? NULL : spec->name;
        (*idx)++;
        if (spec->kind == LC_FLAG_BOOL || spec->kind == LC_FLAG_PREFIX) {
            a->value = "true";
            if (spec->kind == LC_FLAG_PREFIX) {
                /* The full flag name is the value that matters ("right-application-all"). */
                if (eq) {
                    snprintf(errbuf, errlen, "--%.*s takes no value", (int)namelen, name);
                    return -1;
                }
                a->name = name;
            } else if (eq && parse_bool(eq + 1, &a->value) != 0) {
                snprintf(errbuf, errlen, "invalid value `%s` for --%.*s: want true or false",
                         eq + 1, (int)namelen, name);
                return -1;
            }
        } else {
            const char *v;
            if (eq) {
                v = eq + 1;
            } else if (*idx < argc) {
                v = argv[(*idx)++];
            } else {
                snprintf(errbuf, errlen, "flag --%s needs a value", spec->name);
                return -1;
            }
            if (spec->kind == LC_FLAG_UINT && !is_uint(v)) {
                snprintf(errbuf, errlen, "invalid value `%s` for --%s: want an unsigned integer", v,
                         spec->name);
                return -1;
            }
            a->value = v;
        }
        out->nflags++;
    }
    return 0;
}

const char *lc_args_get(const lc_args_t *a, const char *name)
{
    for (size_t i = a->nflags; i-- > 0;)
        if (a->flags[i].name && strcmp(a->flags[i].name, name) == 0)
            return a->flags[i].value;
    return NULL;
}

bool lc_args_has(const lc_args_t *a, const char *name)
{
    return lc_args_get(a, name) != NULL;
}

bool lc_args_bool(const lc_args_t *a, const char *name)
{
    const char *v = lc_args_get(a, name);
    return v != NULL && strcmp(v, "true") == 0;
}

/* ---- enums ------------------------------------------------------------------------------ */

int lc_right_normalize(const char *in, char *out, size_t outlen)
{
    const char *p = in;
    if (strncasecmp(p, "right-", 6) == 0 || strncasecmp(p, "right_", 6) == 0)
        p += 6;
    if (*p == '\0' || strlen(p) + 7 > outlen)
        return -1;
    size_t n = 0;
    memcpy(out, "RIGHT_", 6);
    n = 6;
    for (; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '-' || c == '_')
            out[n++] = '_';
        else if (isalnum(c))
            out[n++] = (char)toupper(c);
        else
            return -1;
    }
    out[n] = '\0';
    return 0;
}

int lc_state_normalize(const char *in, char *out, size_t outlen)
{
    static const char *const states[] = {"REQUESTED", "APPROVED", "REJECTED", "FLAGGED",
                                         "SUSPENDED"};
    const char *p = in;
    if (strncasecmp(p, "state_", 6) == 0)
        p += 6;
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        if (strcasecmp(p, states[i]) == 0) {
            if ((size_t)snprintf(out, outlen, "STATE_%s", states[i]) >= outlen)
                return -1;
            return 0;
        }
    }
    return -1;
}

int lc_version_normalize(const char *prefix, const char *in, char *out, size_t outlen)
{
    /* Enum names pass through upper-cased: "MAC_V1_0_3", "PHY_V1_0_3_REV_A",
     * "RP002_V1_0_3", "TS001_V1_0". */
    bool enum_name = isalpha((unsigned char)in[0]) && strstr(in, "_") != NULL;
    for (const char *q = in; enum_name && *q; q++)
        enum_name = isalnum((unsigned char)*q) || *q == '_';
    if (enum_name) {
        size_t n = strlen(in);
        if (n + 1 > outlen)
            return -1;
        for (size_t i = 0; i <= n; i++)
            out[i] = (char)toupper((unsigned char)in[i]);
        return 0;
    }
    /* Versions as people write them: "1.0.3" → "<prefix>_V1_0_3", "1.0.3-a" →
     * "<prefix>_V1_0_3_REV_A", "rp002-1.0.3" → "RP002_V1_0_3". */
    lc_str_t s = {0};
    const char *p = in;
    if ((strncasecmp(p, "rp00", 4) == 0 || strncasecmp(p, "ts00", 4) == 0) && p[4] >= '0' &&
        p[4] <= '9' && p[5] == '-') {
        lc_str_appendf(&s, "%c%c00%c_V", toupper((unsigned char)p[0]), toupper((unsigned char)p[1]),
                       p[4]);
        p += 6;
    } else {
        lc_str_appendf(&s, "%s_V", prefix);
    }
    if (!(*p >= '0' && *p <= '9')) {
        lc_str_free(&s);
        return -1;
    }
    bool rev = false;
    for (; *p; p++) {
        if (*p >= '0' && *p <= '9' && !rev) {
            lc_str_appendn(&s, p, 1);
        } else if (*p == '.' && !rev && p[1] >= '0' && p[1] <= '9') {
            lc_str_append(&s, "_");
        } else if (*p == '-' && !rev && p[1] != '\0' && p[2] == '\0' &&
                   ((p[1] >= 'a' && p[1] <= 'z') || (p[1] >= 'A' && p[1] <= 'Z'))) {
            lc_str_appendf(&s, "_REV_%c", toupper((unsigned char)p[1]));
            rev = true;
            p++;
        } else {
            lc_str_free(&s);
            return -1;
        }
    }
    int rc = s.len + 1 <= outlen ? 0 : -1;
    if (rc == 0)
        memcpy(out, s.buf, s.len + 1);
    lc_str_free(&s);
    return rc;
}
