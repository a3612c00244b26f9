#include "cluster/err.h"

#include <stdio.h>
#include <string.h>

#define LW_ERR_DEF(name, ns, http, grpc, fmt) LW_ERR_DEFINE(name, ns, http, grpc, fmt);
#include "cluster/errors.def"
#undef LW_ERR_DEF

void lw_err_clear(lw_err_t *err)
{
    if (err == NULL)
        return;
    err->def = NULL;
    err->message[0] = '\0';
    err->nattrs = 0;
}

int lw_err_vset(lw_err_t *err, const lw_err_def_t *def, const char *fmt, va_list ap)
{
    if (err == NULL)
        return -1;
    err->def = def;
    err->nattrs = 0;
    if (fmt == NULL)
        snprintf(err->message, sizeof err->message, "%s", def->message_format);
    else
        vsnprintf(err->message, sizeof err->message, fmt, ap);
    return -1;
}

int lw_err_set(lw_err_t *err, const lw_err_def_t *def, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lw_err_vset(err, def, fmt, ap);
    va_end(ap);
    return -1;
}

static lw_err_attr_t *err_attr_slot(lw_err_t *err, const char *key)
{
    if (err == NULL)
        return NULL;
    for (int i = 0; i < err->nattrs; i++)
        if (strcmp(err->attrs[i].key, key) == 0)
            return &err->attrs[i];
    if (err->nattrs >= LW_ERR_MAX_ATTRS)
        return NULL;
    lw_err_attr_t *a = &err->attrs[err->nattrs++];
    snprintf(a->key, sizeof a->key, "%s", key);
    return a;
}

void lw_err_attr(lw_err_t *err, const char *key, const char *value)
{
    lw_err_attr_t *a = err_attr_slot(err, key);
    if (a == NULL)
        return;
    snprintf(a->value, sizeof a->value, "%s", value ? value : "");
    a->is_number = 0;
}

void lw_err_attr_num(lw_err_t *err, const char *key, long long value)
{
    lw_err_attr_t *a = err_attr_slot(err, key);
    if (a == NULL)
        return;
    snprintf(a->value, sizeof a->value, "%lld", value);
    a->is_number = 1;
}

void lw_err_prefix(lw_err_t *err, const char *fmt, ...)
{
    if (err == NULL)
        return;
    char prefix[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Shift the message right to make room for "prefix: ", truncating its end. */
    size_t plen = strlen(prefix);
    if (plen + 2 >= sizeof err->message)
        plen = sizeof err->message - 3;
    size_t mlen = strlen(err->message);
    if (plen + 2 + mlen >= sizeof err->message)
        mlen = sizeof err->message - plen - 3;
    memmove(err->message + plen + 2, err->message, mlen);
    err->message[plen + 2 + mlen] = '\0';
    memcpy(err->message, prefix, plen);
    err->message[plen] = ':';
    err->message[plen + 1] = ' ';
}

const char *lw_err_name(const lw_err_t *err)
{
    return err != NULL && err->def != NULL ? err->def->name : "";
}
