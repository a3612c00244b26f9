/* The pure rules of an import: a template merged with the import's application and
 * fallbacks into a row, base64 parts, and a row's result as JSON. No I/O, no clock. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "cluster/hex.h"
#include "cluster/http.h"
#include "cluster/mem.h"
#include "dtc/import_private.h"

const char *const dtc_import_fallback_keys[] = {
    "frequency_plan_id",
    "lorawan_version",
    "lorawan_phy_version",
    "network_server_address",
    "application_server_address",
    "join_server_address",
    NULL,
};

int dtc_import_fallbacks_check(const json_t *fallbacks, lw_err_t *err)
{
    if (fallbacks == NULL || json_is_null(fallbacks))
        return 0;
    if (!json_is_object(fallbacks))
        return lw_api_invalid(err, "fallbacks", "an object expected");
    if (lw_api_check_keys(fallbacks, dtc_import_fallback_keys, NULL, err) != 0) {
        lw_err_prefix(err, "fallbacks");
        return -1;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)fallbacks, k, v)
    {
        if (!json_is_string(v)) {
            char field[64];
            snprintf(field, sizeof field, "fallbacks.%s", k);
            return lw_api_invalid(err, field, "a string expected");
        }
    }
    return 0;
}

static int path_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_path(char *const *paths, size_t n, const char *p)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(paths[i], p) == 0)
            return true;
    return false;
}

/* A value the template leaves unset: absent, null or "" (proto3's zero string). */
static bool unset(const json_t *v)
{
    return v == NULL || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0);
}

/* A session given without its session_key_id gets one, the same for the NS and the AS part
 * (they match uplinks to the AS's session by it) and the same on every import of the file
 * (so that a second run finds the device unchanged): "dtc1", the DevAddr, then FNV-1a-64 of
 * the device ID (not a secret: an identifier). True when one was set. */
static bool session_key_id(json_t *dev)
{
    json_t *s = json_object_get(dev, "session");
    const char *addr = json_string_value(json_object_get(s, "dev_addr"));
    const char *id = json_string_value(json_object_get(json_object_get(dev, "ids"), "device_id"));
    if (addr == NULL || strlen(addr) != 8 || id == NULL)
        return false;
    json_t *keys = json_object_get(s, "keys");
    if (!unset(json_object_get(keys, "session_key_id")))
        return false;
    unsigned char b[16] = {'d', 't', 'c', '1'};
    for (int i = 0; i < 4; i++) {
        int hi = lw_hex_digit(addr[2 * i]), lo = lw_hex_digit(addr[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        b[4 + i] = (unsigned char)(hi << 4 | lo);
    }
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
    for (const char *c = id; *c != '\0'; c++)
        h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
    for (int i = 0; i < 8; i++)
        b[8 + i] = (unsigned char)(h >> (56 - 8 * i));
    char b64[25];
    EVP_EncodeBlock((unsigned char *)b64, b, sizeof b);
    if (!json_is_object(keys)) {
        keys = json_object();
        json_object_set_new(s, "keys", keys);
    }
    json_object_set_new(keys, "session_key_id", json_string(b64));
    return true;
}

void dtc_import_merge(const json_t *end_device, const char *const *paths, size_t npaths,
                      uint64_t line, const char *app, const json_t *fallbacks, dtc_pend_t *out)
{
    memset(out, 0, sizeof *out);
    out->line = line;
    lw_err_clear(&out->err);
    json_t *dev = json_is_object(end_device) ? json_deep_copy(end_device) : json_object();
    size_t nf = 0;
    while (dtc_import_fallback_keys[nf] != NULL)
        nf++;
    char **p = lw_malloc((npaths + nf + 2) * sizeof *p);
    size_t n = 0;
    for (size_t i = 0; i < npaths; i++)
        p[n++] = lw_strdup(paths[i]);

    json_t *ids = json_object_get(dev, "ids");
    if (!json_is_object(ids)) {
        ids = json_object();
        json_object_set_new(dev, "ids", ids);
    }
    json_object_set_new(ids, "application_ids", json_pack("{ss}", "application_id", app));
    static const char app_path[] = "ids.application_ids.application_id";
    if (!has_path(p, n, app_path))
        p[n++] = lw_strdup(app_path);

    for (size_t i = 0; i < nf && json_is_object(fallbacks); i++) {
        const char *k = dtc_import_fallback_keys[i];
        const json_t *fb = json_object_get(fallbacks, k);
        if (unset(fb) || !unset(json_object_get(dev, k)))
            continue;
        json_object_set(dev, k, (json_t *)fb);
        if (!has_path(p, n, k))
            p[n++] = lw_strdup(k);
    }
    if (session_key_id(dev) && !has_path(p, n, "session.keys.session_key_id"))
        p[n++] = lw_strdup("session.keys.session_key_id");
    qsort(p, n, sizeof *p, path_cmp);
    out->end_device = dev;
    out->paths = p;
    out->npaths = n;

    const char *id = json_string_value(json_object_get(ids, "device_id"));
    if (id == NULL || id[0] == '\0') {
        lw_api_invalid(&out->err, "ids.device_id", "required");
        return;
    }
    if (tn_id_validate(id, 3, "ids.device_id", &out->err) != 0)
        return;
    snprintf(out->device_id, sizeof out->device_id, "%s", id);
}

void dtc_pend_destroy(dtc_pend_t *p)
{
    if (p == NULL)
        return;
    json_decref(p->end_device);
    for (size_t i = 0; i < p->npaths; i++)
        free(p->paths[i]);
    free(p->paths);
    p->end_device = NULL;
    p->paths = NULL;
    p->npaths = 0;
}

/* ---- base64 ------------------------------------------------------------------------------ */

long long dtc_base64_decoded_len(const char *text, size_t len)
{
    if (len % 4 != 0)
        return -1;
    long long n = (long long)(len / 4) * 3;
    if (len > 0 && text[len - 1] == '=')
        n--;
    if (len > 1 && text[len - 2] == '=')
        n--;
    return n;
}

long long dtc_base64_decode(const char *text, size_t len, unsigned char *out)
{
    long long n = dtc_base64_decoded_len(text, len);
    if (n < 0 || len > INT_MAX)
        return -1;
    /* '=' only as the last one or two characters (OpenSSL's decoder is laxer) */
    size_t pad = (size_t)((long long)(len / 4) * 3 - n);
    for (size_t i = 0; i + pad < len; i++)
        if (text[i] == '=')
            return -1;
    if (len == 0)
        return 0;
    int got = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len);
    return got < 0 ? -1 : n;
}

/* ---- results ------------------------------------------------------------------------------- */

const char *dtc_import_outcome_name(tn_devpart_outcome_t o)
{
    switch (o) {
    case TN_DEVPART_CREATED:
        return "CREATED";
    case TN_DEVPART_UPDATED:
        return "UPDATED";
    case TN_DEVPART_UNCHANGED:
        return "UNCHANGED";
    default:
        return "FAILED";
    }
}

int dtc_import_outcome_parse(const char *s)
{
    for (int o = TN_DEVPART_CREATED; o <= TN_DEVPART_FAILED; o++)
        if (s != NULL && strcasecmp(s, dtc_import_outcome_name((tn_devpart_outcome_t)o)) == 0)
            return o;
    return -1;
}

const char *dtc_job_state_name(dtc_job_state_t s)
{
    static const char *const names[] = {"RUNNING", "WAITING", "DONE", "FAILED", "CANCELED"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "FAILED";
}

static const char *err_attr(const lw_err_t *err, const char *key)
{
    for (int i = 0; i < err->nattrs && i < LW_ERR_MAX_ATTRS; i++)
        if (strcmp(err->attrs[i].key, key) == 0)
            return err->attrs[i].value;
    return NULL;
}

json_t *dtc_import_row_json(uint64_t index, uint64_t line, const char *device_id,
                            tn_devpart_outcome_t outcome, const lw_err_t *err)
{
    json_t *o = json_pack("{sIsI}", "index", (json_int_t)index, "line", (json_int_t)line);
    bool failed = outcome == TN_DEVPART_FAILED && err != NULL && err->def != NULL;
    if (failed) {
        const char *col = err_attr(err, "column");
        if (col != NULL)
            json_object_set_new(o, "column", json_integer(strtoll(col, NULL, 10)));
        const char *field = err_attr(err, "field");
        if (field != NULL)
            json_object_set_new(o, "field", json_string(field));
    }
    if (device_id != NULL && device_id[0] != '\0')
        json_object_set_new(o, "device_id", json_string(device_id));
    json_object_set_new(o, "result", json_string(dtc_import_outcome_name(outcome)));
    if (failed)
        json_object_set_new(o, "error", lw_http_err_json(err, NULL));
    return o;
}
