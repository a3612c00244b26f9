/* The Join Server's device fields (js_devices): the mask paths and columns, their decoding
 * from The Things Stack's EndDevice JSON (root keys wrapped with js.key-encryption-key) and
 * their rendering. Shared by the API (device.c) and the device part (devpart.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "js/js_private.h"

/* The writable fields: mask path → column. Key fields are wrapped; "root_keys" and
 * "root_keys.<x>_key" name their parts. */

const js_col_t js_cols[JS_N_COLS] = {
    {"root_keys.app_key.key", "app_key", JS_C_KEY, 0},
    {"root_keys.nwk_key.key", "nwk_key", JS_C_KEY, 0},
    {"root_keys.root_key_id", "root_key_id", JS_C_TEXT, 2048},
    {"resets_join_nonces", "resets_join_nonces", JS_C_BOOL, 0},
    {"net_id", "net_id", JS_C_NET_ID, 0},
    {"application_server_address", "application_server_address", JS_C_TEXT, 256},
    {"application_server_id", "application_server_id", JS_C_TEXT, 100},
    {"application_server_kek_label", "application_server_kek_label", JS_C_TEXT, JS_LABEL_MAX},
    {"network_server_address", "network_server_address", JS_C_TEXT, 256},
    {"network_server_kek_label", "network_server_kek_label", JS_C_TEXT, JS_LABEL_MAX},
    {"provisioner_id", "provisioner_id", JS_C_TEXT, 36},
    {"provisioning_data", "provisioning_data", JS_C_JSON, 0},
    {"last_dev_nonce", "last_dev_nonce", JS_C_UINT, 0xffff},
    {"used_dev_nonces", "used_dev_nonces", JS_C_NONCES, 0},
    {"last_join_nonce", "last_join_nonce", JS_C_UINT, JS_JOIN_NONCE_MAX},
    {"last_rj_count_0", "last_rj_count_0", JS_C_UINT, 0xffff},
    {"last_rj_count_1", "last_rj_count_1", JS_C_UINT, 0xffff},
};

const char *const js_mask_paths[] = {"root_keys",
                                     "root_keys.app_key",
                                     "root_keys.nwk_key",
                                     "root_keys.app_key.key",
                                     "root_keys.nwk_key.key",
                                     "root_keys.root_key_id",
                                     "resets_join_nonces",
                                     "net_id",
                                     "application_server_address",
                                     "application_server_id",
                                     "application_server_kek_label",
                                     "network_server_address",
                                     "network_server_kek_label",
                                     "provisioner_id",
                                     "provisioning_data",
                                     "last_dev_nonce",
                                     "used_dev_nonces",
                                     "last_join_nonce",
                                     "last_rj_count_0",
                                     "last_rj_count_1",
                                     NULL};

/* Does mask m (already normalised) select column c? A path selects itself, its parents and
 * its children ("root_keys" selects both keys). */
bool js_mask_selects(const lw_api_mask_t *m, const js_col_t *c)
{
    for (int i = 0; i < m->n; i++) {
        const char *p = m->paths[i];
        size_t n = strlen(p);
        if (strncmp(c->path, p, n) == 0 && (c->path[n] == '\0' || c->path[n] == '.'))
            return true;
    }
    return false;
}

bool js_mask_selects_keys(const lw_api_mask_t *m)
{
    return js_mask_selects(m, &js_cols[0]) || js_mask_selects(m, &js_cols[1]);
}

/* ---- rendering --------------------------------------------------------------------------- */

static json_t *eui_json(const char *lower)
{
    char up[17];
    size_t i = 0;
    for (; lower[i] != '\0' && i < 16; i++)
        up[i] = (char)(lower[i] >= 'a' && lower[i] <= 'f' ? lower[i] - 32 : lower[i]);
    up[i] = '\0';
    return json_string(up);
}

/* A stored (wrapped) key as {"key": HEX} for a caller allowed to see it. */
static json_t *key_json(const js_t *js, const char *hex)
{
    uint8_t w[JS_WRAPPED_KEY_LEN], key[LORAWAN_KEY_LEN];
    size_t n = 0;
    if (!js->has_root_kek || strlen(hex) != 2 * JS_WRAPPED_KEY_LEN ||
        lorawan_hex_decode(hex, strlen(hex), w, sizeof w, &n) != 0 ||
        js_key_unwrap(js->root_kek.key, js->root_kek.len, w, key) != 0)
        return NULL;
    char out[2 * LORAWAN_KEY_LEN + 1];
    js_hex_upper(key, sizeof key, out);
    json_t *o = json_pack("{ss}", "key", out);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(out, sizeof out);
    return o;
}

json_t *js_device_render(const js_t *js, const PGresult *res, int row, const char *app_id,
                         const char *dev_id, const lw_api_mask_t *mask, bool keys)
{
    json_t *ids =
        json_pack("{ss s{ss}}", "device_id", dev_id, "application_ids", "application_id", app_id);
    if (!PQgetisnull(res, row, JS_SEL_DEV_EUI))
        json_object_set_new(ids, "dev_eui", eui_json(PQgetvalue(res, row, JS_SEL_DEV_EUI)));
    if (!PQgetisnull(res, row, JS_SEL_JOIN_EUI))
        json_object_set_new(ids, "join_eui", eui_json(PQgetvalue(res, row, JS_SEL_JOIN_EUI)));
    json_t *o =
        json_pack("{so ss ss}", "ids", ids, "created_at", PQgetvalue(res, row, JS_SEL_CREATED),
                  "updated_at", PQgetvalue(res, row, JS_SEL_UPDATED));
    json_t *root = NULL;
    for (size_t i = 0; i < JS_N_COLS; i++) {
        const js_col_t *c = &js_cols[i];
        if (mask != NULL && !js_mask_selects(mask, c))
            continue;
        int ci = (int)i;
        bool null = PQgetisnull(res, row, ci);
        const char *v = PQgetvalue(res, row, ci);
        json_t *val = NULL;
        switch (c->kind) {
        case JS_C_KEY:
            if (!null && keys)
                val = key_json(js, v);
            break;
        case JS_C_TEXT:
            /* The Things Stack omits empty strings. */
            if (v[0] != '\0')
                val = json_string(v);
            break;
        case JS_C_BOOL:
            val = json_boolean(strcmp(v, "t") == 0);
            break;
        case JS_C_NET_ID:
            if (!null)
                val = eui_json(v);
            break;
        case JS_C_UINT:
            val = json_integer(strtoll(v, NULL, 10));
            break;
        case JS_C_NONCES:
            val = json_loads(v, 0, NULL);
            if (json_array_size(val) == 0) {
                json_decref(val);
                val = NULL;
            }
            break;
        case JS_C_JSON:
            if (!null)
                val = json_loads(v, 0, NULL);
            break;
        }
        if (val == NULL)
            continue;
        if (strncmp(c->path, "root_keys.", 10) == 0) {
            if (root == NULL)
                root = json_object();
            const char *leaf = c->path + 10;
            if (c->kind == JS_C_KEY) {
                char part[16];
                snprintf(part, sizeof part, "%.*s", (int)(strchr(leaf, '.') - leaf), leaf);
                json_object_set_new(root, part, val);
            } else {
                json_object_set_new(root, leaf, val);
            }
        } else {
            json_object_set_new(o, c->path, val);
        }
    }
    if (root != NULL)
        json_object_set_new(o, "root_keys", root);
    return o;
}

/* The value of field c from end_device as a SQL text parameter (NULL for SQL NULL), or -1
 * with err naming the field. */
int js_col_value(const js_t *js, const js_col_t *c, const json_t *dev, char **out, lw_err_t *err)
{
    *out = NULL;
    char field[96];
    snprintf(field, sizeof field, "end_device.%s", c->path);
    const json_t *v = dev;
    /* Walk "a.b.c" into the body; a missing part is the zero value (clears the field). */
    char path[64];
    snprintf(path, sizeof path, "%s", c->path);
    char *save = NULL;
    for (char *tok = strtok_r(path, ".", &save); tok != NULL && v != NULL;
         tok = strtok_r(NULL, ".", &save))
        v = json_is_object(v) ? json_object_get(v, tok) : NULL;
    if (v != NULL && json_is_null(v))
        v = NULL;
    switch (c->kind) {
    case JS_C_KEY: {
        const char *s = json_string_value(v);
        if (v == NULL || (s != NULL && s[0] == '\0'))
            return 0;
        uint8_t key[LORAWAN_KEY_LEN], w[JS_WRAPPED_KEY_LEN];
        size_t n = 0;
        if (s == NULL || strlen(s) != 2 * LORAWAN_KEY_LEN ||
            lorawan_hex_decode(s, strlen(s), key, sizeof key, &n) != 0)
            return lw_api_invalid(err, field, "must be 16 bytes of hex");
        if (!js->has_root_kek) {
            OPENSSL_cleanse(key, sizeof key);
            return lw_err_set(err, &lw_err_no_key_encryption_key,
                              "root keys cannot be stored: `js.key-encryption-key` is not set");
        }
        int rc = js_key_wrap(js->root_kek.key, js->root_kek.len, key, w);
        OPENSSL_cleanse(key, sizeof key);
        if (rc != 0)
            return lw_err_set(err, &lw_err_internal, "cannot wrap the key");
        *out = calloc(1, 2 * JS_WRAPPED_KEY_LEN + 1);
        if (*out == NULL)
            abort();
        lorawan_hex_encode(w, sizeof w, *out, 2 * JS_WRAPPED_KEY_LEN + 1);
        return 0;
    }
    case JS_C_TEXT: {
        const char *s = v == NULL ? "" : json_string_value(v);
        if (s == NULL)
            return lw_api_invalid(err, field, "must be a string");
        if ((long long)strlen(s) > c->max)
            return lw_api_invalid(err, field, "at most %lld characters", c->max);
        if (strcmp(c->column, "network_server_kek_label") == 0 ||
            strcmp(c->column, "application_server_kek_label") == 0)
            if (s[0] != '\0' && js_kek_find(js, s) == NULL)
                return lw_api_invalid(err, field, "KEK `%s` is not configured (js.keks.%s)", s, s);
        *out = strdup(s);
        break;
    }
    case JS_C_BOOL:
        if (v != NULL && !json_is_boolean(v))
            return lw_api_invalid(err, field, "must be true or false");
        *out = strdup(v != NULL && json_is_true(v) ? "true" : "false");
        break;
    case JS_C_NET_ID: {
        if (v == NULL)
            return 0;
        const char *s = json_string_value(v);
        uint8_t b[3];
        size_t n = 0;
        if (s == NULL || strlen(s) != 6 || lorawan_hex_decode(s, 6, b, sizeof b, &n) != 0)
            return lw_api_invalid(err, field, "must be a NetID of 3 bytes hex");
        char hex[7];
        lorawan_hex_encode(b, 3, hex, sizeof hex);
        *out = strdup(hex);
        break;
    }
    case JS_C_UINT: {
        long long n = 0;
        if (v != NULL && lw_api_uint_decode(v, field, c->max, &n, err) != 0)
            return -1;
        char buf[24];
        snprintf(buf, sizeof buf, "%lld", n);
        *out = strdup(buf);
        break;
    }
    case JS_C_NONCES: {
        if (v != NULL && (!json_is_array(v) || json_array_size(v) > JS_DEV_NONCE_LIMIT_MAX))
            return lw_api_invalid(err, field, "must be a list of at most %u DevNonces",
                                  JS_DEV_NONCE_LIMIT_MAX);
        size_t cap = 8 + 6 * json_array_size(v), len = 0;
        char *s = malloc(cap);
        if (s == NULL)
            abort();
        s[len++] = '{';
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            long long n;
            if (lw_api_uint_decode(e, field, 0xffff, &n, err) != 0) {
                free(s);
                return -1;
            }
            len += (size_t)snprintf(s + len, cap - len, "%s%lld", i ? "," : "", n);
        }
        s[len++] = '}';
        s[len] = '\0';
        *out = s;
        break;
    }
    case JS_C_JSON:
        if (v == NULL)
            return 0;
        if (!json_is_object(v))
            return lw_api_invalid(err, field, "must be an object");
        *out = json_dumps(v, JSON_COMPACT);
        break;
    }
    if (*out == NULL)
        abort();
    return 0;
}

const char *js_col_cast(const js_col_t *c)
{
    return c->kind == JS_C_BOOL     ? "::boolean"
           : c->kind == JS_C_UINT   ? "::integer"
           : c->kind == JS_C_NONCES ? "::integer[]"
           : c->kind == JS_C_JSON   ? "::jsonb"
                                    : "";
}
