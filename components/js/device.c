/* The Join Server's device API (The Things Stack's JsEndDeviceRegistry), tenant-scoped on the
 * main listener:
 *
 *   GET    /api/v3/js/applications/{application_id}/devices/{device_id}?field_mask=...
 *   PUT    /api/v3/js/applications/{application_id}/devices/{device_id}
 *   POST   /api/v3/js/applications/{application_id}/devices
 *          {"end_device":{...},"field_mask":{"paths":[...]}}
 *   DELETE /api/v3/js/applications/{application_id}/devices/{device_id}
 *
 * The device must exist in the Identity Server (its EUIs come from there, and its JS part
 * is deleted with it). Root keys are stored wrapped under js.key-encryption-key and shown
 * only to a caller with RIGHT_APPLICATION_DEVICES_READ_KEYS who asks for root_keys; writing
 * them needs RIGHT_APPLICATION_DEVICES_WRITE_KEYS. DevNonces are reset as in The Things
 * Stack, by writing last_dev_nonce / used_dev_nonces (e.g. 0 and []): that publishes
 * js.dev_nonce.reset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "js/js_private.h"
#include "cluster/log.h"
#include "tenant/access.h"

#define RIGHT_READ       "RIGHT_APPLICATION_DEVICES_READ"
#define RIGHT_READ_KEYS  "RIGHT_APPLICATION_DEVICES_READ_KEYS"
#define RIGHT_WRITE      "RIGHT_APPLICATION_DEVICES_WRITE"
#define RIGHT_WRITE_KEYS "RIGHT_APPLICATION_DEVICES_WRITE_KEYS"

/* The writable fields: mask path → column. Key fields are wrapped; "root_keys" and
 * "root_keys.<x>_key" name their parts. */
typedef enum col_kind { C_KEY = 0, C_TEXT, C_BOOL, C_NET_ID, C_UINT, C_NONCES, C_JSON } col_kind_t;

typedef struct col {
    const char *path;
    const char *column;
    col_kind_t kind;
    long long max; /* C_UINT */
} col_t;

static const col_t cols[] = {
    {"root_keys.app_key.key", "app_key", C_KEY, 0},
    {"root_keys.nwk_key.key", "nwk_key", C_KEY, 0},
    {"root_keys.root_key_id", "root_key_id", C_TEXT, 2048},
    {"resets_join_nonces", "resets_join_nonces", C_BOOL, 0},
    {"net_id", "net_id", C_NET_ID, 0},
    {"application_server_address", "application_server_address", C_TEXT, 256},
    {"application_server_id", "application_server_id", C_TEXT, 100},
    {"application_server_kek_label", "application_server_kek_label", C_TEXT, JS_LABEL_MAX},
    {"network_server_address", "network_server_address", C_TEXT, 256},
    {"network_server_kek_label", "network_server_kek_label", C_TEXT, JS_LABEL_MAX},
    {"provisioner_id", "provisioner_id", C_TEXT, 36},
    {"provisioning_data", "provisioning_data", C_JSON, 0},
    {"last_dev_nonce", "last_dev_nonce", C_UINT, 0xffff},
    {"used_dev_nonces", "used_dev_nonces", C_NONCES, 0},
    {"last_join_nonce", "last_join_nonce", C_UINT, JS_JOIN_NONCE_MAX},
    {"last_rj_count_0", "last_rj_count_0", C_UINT, 0xffff},
    {"last_rj_count_1", "last_rj_count_1", C_UINT, 0xffff},
};
#define N_COLS (sizeof cols / sizeof cols[0])

static const char *const mask_paths[] = {"root_keys",
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

static const lw_api_fields_t dev_fields = {.paths = mask_paths, .prefix = "end_device."};

/* Does mask m (already normalised) select column c? A path selects itself, its parents and
 * its children ("root_keys" selects both keys). */
static bool mask_selects(const lw_api_mask_t *m, const col_t *c)
{
    for (int i = 0; i < m->n; i++) {
        const char *p = m->paths[i];
        size_t n = strlen(p);
        if (strncmp(c->path, p, n) == 0 && (c->path[n] == '\0' || c->path[n] == '.'))
            return true;
    }
    return false;
}

static bool mask_selects_keys(const lw_api_mask_t *m)
{
    return mask_selects(m, &cols[0]) || mask_selects(m, &cols[1]);
}

enum { OP_GET = 0, OP_SET, OP_DELETE };

typedef struct dev_op {
    lw_api_op_t api;
    js_t *js;
    int kind;
    tn_tenant_t t;
    char sq[2 * TN_SCHEMA_MAX + 3];
    char app_id[TN_ID_MAX + 1];
    char dev_id[TN_ID_MAX + 1];
    char authorization[1024];
    lw_api_mask_t mask;
    bool keys_visible; /* the caller holds READ_KEYS */
    /* set */
    int nparams;
    char *params[N_COLS + 2];
    bool nonce_reset;
    char sql[8192];
} dev_op_t;

static void dev_destroy(lw_api_op_t *a)
{
    dev_op_t *op = (dev_op_t *)a;
    for (int i = 0; i < op->nparams; i++)
        if (op->params[i] != NULL) {
            OPENSSL_cleanse(op->params[i], strlen(op->params[i]));
            free(op->params[i]);
        }
    js_inflight_add(op->js, -1);
    OPENSSL_cleanse(op->authorization, sizeof op->authorization);
}

/* ---- rendering --------------------------------------------------------------------------- */

#define SEL_COLS                                                                                   \
    "d.app_key, d.nwk_key, d.root_key_id, d.resets_join_nonces, d.net_id, "                        \
    "d.application_server_address, d.application_server_id, d.application_server_kek_label, "      \
    "d.network_server_address, d.network_server_kek_label, d.provisioner_id, "                     \
    "d.provisioning_data::text, d.last_dev_nonce, array_to_json(d.used_dev_nonces)::text, "        \
    "d.last_join_nonce, d.last_rj_count_0, d.last_rj_count_1, " LW_API_SQL_TIME(                   \
        "d.created_at") ", " LW_API_SQL_TIME("d.updated_at") ", e.dev_eui, e.join_eui"
/* Column indexes of SEL_COLS follow cols[] for the first N_COLS. */
#define SEL_CREATED  (int)N_COLS
#define SEL_UPDATED  ((int)N_COLS + 1)
#define SEL_DEV_EUI  ((int)N_COLS + 2)
#define SEL_JOIN_EUI ((int)N_COLS + 3)

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

static json_t *dev_render(dev_op_t *op, const PGresult *res, bool all)
{
    json_t *ids = json_pack("{ss s{ss}}", "device_id", op->dev_id, "application_ids",
                            "application_id", op->app_id);
    if (!PQgetisnull(res, 0, SEL_DEV_EUI))
        json_object_set_new(ids, "dev_eui", eui_json(PQgetvalue(res, 0, SEL_DEV_EUI)));
    if (!PQgetisnull(res, 0, SEL_JOIN_EUI))
        json_object_set_new(ids, "join_eui", eui_json(PQgetvalue(res, 0, SEL_JOIN_EUI)));
    json_t *o = json_pack("{so ss ss}", "ids", ids, "created_at", PQgetvalue(res, 0, SEL_CREATED),
                          "updated_at", PQgetvalue(res, 0, SEL_UPDATED));
    json_t *root = NULL;
    for (size_t i = 0; i < N_COLS; i++) {
        const col_t *c = &cols[i];
        if (!all && !mask_selects(&op->mask, c))
            continue;
        int ci = (int)i;
        bool null = PQgetisnull(res, 0, ci);
        const char *v = PQgetvalue(res, 0, ci);
        json_t *val = NULL;
        switch (c->kind) {
        case C_KEY:
            if (!null && op->keys_visible)
                val = key_json(op->js, v);
            break;
        case C_TEXT:
            /* The Things Stack omits empty strings. */
            if (v[0] != '\0')
                val = json_string(v);
            break;
        case C_BOOL:
            val = json_boolean(strcmp(v, "t") == 0);
            break;
        case C_NET_ID:
            if (!null)
                val = eui_json(v);
            break;
        case C_UINT:
            val = json_integer(strtoll(v, NULL, 10));
            break;
        case C_NONCES:
            val = json_loads(v, 0, NULL);
            if (json_array_size(val) == 0) {
                json_decref(val);
                val = NULL;
            }
            break;
        case C_JSON:
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
            if (c->kind == C_KEY) {
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

/* ---- authorization ----------------------------------------------------------------------- */

typedef void (*dev_next_fn)(dev_op_t *op);

typedef struct auth_wait {
    dev_op_t *op;
    dev_next_fn next;
} auth_wait_t;

static void authorized(void *arg, const tn_rights_t *held, const lw_err_t *err)
{
    auth_wait_t *w = arg;
    dev_op_t *op = w->op;
    dev_next_fn next = w->next;
    free(w);
    if (held == NULL) {
        lw_api_fail(&op->api, err);
        return;
    }
    op->keys_visible = tn_rights_have(held, RIGHT_READ_KEYS);
    next(op);
}

/* Calls next(op) when the caller holds every right of need[] on the application; fails the
 * op otherwise (unauthenticated, permission_denied naming the missing right). */
static void dev_authorize(dev_op_t *op, const char *const *need, size_t n, dev_next_fn next)
{
    tn_access_t *a = tn_access_from_runtime(op->js->rt);
    if (a == NULL) {
        lw_api_fail_with(&op->api, &lw_err_unavailable, "no access checker");
        return;
    }
    auth_wait_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        abort();
    w->op = op;
    w->next = next;
    if (tn_access_check(a, &op->t, op->authorization, "application", op->app_id, need, n,
                        authorized, w) != 0) {
        free(w);
        lw_api_fail_with(&op->api, &lw_err_unavailable, "the access check could not start");
    }
}

/* ---- get --------------------------------------------------------------------------------- */

static void got(lw_api_op_t *a, const PGresult *res)
{
    dev_op_t *op = (dev_op_t *)a;
    if (PQntuples(res) != 1) {
        lw_api_fail_not_found(a, "end device", op->dev_id);
        return;
    }
    lw_api_reply(a, 200, dev_render(op, res, false));
}

static void select_device(dev_op_t *op, lw_api_step_fn next)
{
    const char *p[2] = {op->app_id, op->dev_id};
    snprintf(op->sql, sizeof op->sql,
             "SELECT " SEL_COLS " FROM %s.js_devices d JOIN %s.end_devices e USING "
             "(application_id, device_id) WHERE d.application_id = $1 AND d.device_id = $2",
             op->sq, op->sq);
    lw_api_query(&op->api, op->sql, 2, p, next);
}

static void get_authorized(dev_op_t *op)
{
    if (mask_selects_keys(&op->mask) && !op->keys_visible) {
        lw_err_t e;
        lw_err_set(&e, &lw_err_permission_denied,
                   "reading root keys needs " RIGHT_READ_KEYS " on application `%s`", op->app_id);
        lw_api_fail(&op->api, &e);
        return;
    }
    select_device(op, got);
}

/* ---- delete ------------------------------------------------------------------------------ */

static void deleted(lw_api_op_t *a, const PGresult *res)
{
    dev_op_t *op = (dev_op_t *)a;
    if (strcmp(PQcmdTuples((PGresult *)res), "0") == 0) {
        lw_api_fail_not_found(a, "end device", op->dev_id);
        return;
    }
    lw_log(LW_LOG_INFO, "js", "end device deleted", "tenant", op->t.id, "application", op->app_id,
           "device", op->dev_id, NULL);
    lw_api_reply(a, 200, json_object());
}

static void delete_authorized(dev_op_t *op)
{
    const char *p[2] = {op->app_id, op->dev_id};
    snprintf(op->sql, sizeof op->sql,
             "DELETE FROM %s.js_devices WHERE application_id = $1 AND device_id = $2", op->sq);
    lw_api_query(&op->api, op->sql, 2, p, deleted);
}

/* ---- set --------------------------------------------------------------------------------- */

static int param_add(dev_op_t *op, char *value)
{
    op->params[op->nparams] = value;
    return ++op->nparams;
}

/* The value of field c from end_device as a SQL text parameter (NULL for SQL NULL), or -1
 * with err naming the field. */
static int col_value(dev_op_t *op, const col_t *c, const json_t *dev, char **out, lw_err_t *err)
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
    case C_KEY: {
        const char *s = json_string_value(v);
        if (v == NULL || (s != NULL && s[0] == '\0'))
            return 0;
        uint8_t key[LORAWAN_KEY_LEN], w[JS_WRAPPED_KEY_LEN];
        size_t n = 0;
        if (s == NULL || strlen(s) != 2 * LORAWAN_KEY_LEN ||
            lorawan_hex_decode(s, strlen(s), key, sizeof key, &n) != 0)
            return lw_api_invalid(err, field, "must be 16 bytes of hex");
        if (!op->js->has_root_kek) {
            OPENSSL_cleanse(key, sizeof key);
            return lw_err_set(err, &lw_err_no_key_encryption_key,
                              "root keys cannot be stored: `js.key-encryption-key` is not set");
        }
        int rc = js_key_wrap(op->js->root_kek.key, op->js->root_kek.len, key, w);
        OPENSSL_cleanse(key, sizeof key);
        if (rc != 0)
            return lw_err_set(err, &lw_err_internal, "cannot wrap the key");
        *out = calloc(1, 2 * JS_WRAPPED_KEY_LEN + 1);
        if (*out == NULL)
            abort();
        lorawan_hex_encode(w, sizeof w, *out, 2 * JS_WRAPPED_KEY_LEN + 1);
        return 0;
    }
    case C_TEXT: {
        const char *s = v == NULL ? "" : json_string_value(v);
        if (s == NULL)
            return lw_api_invalid(err, field, "must be a string");
        if ((long long)strlen(s) > c->max)
            return lw_api_invalid(err, field, "at most %lld characters", c->max);
        if (strcmp(c->column, "network_server_kek_label") == 0 ||
            strcmp(c->column, "application_server_kek_label") == 0)
            if (s[0] != '\0' && js_kek_find(op->js, s) == NULL)
                return lw_api_invalid(err, field, "KEK `%s` is not configured (js.keks.%s)", s, s);
        *out = strdup(s);
        break;
    }
    case C_BOOL:
        if (v != NULL && !json_is_boolean(v))
            return lw_api_invalid(err, field, "must be true or false");
        *out = strdup(v != NULL && json_is_true(v) ? "true" : "false");
        break;
    case C_NET_ID: {
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
    case C_UINT: {
        long long n = 0;
        if (v != NULL && lw_api_uint_decode(v, field, c->max, &n, err) != 0)
            return -1;
        char buf[24];
        snprintf(buf, sizeof buf, "%lld", n);
        *out = strdup(buf);
        break;
    }
    case C_NONCES: {
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
    case C_JSON:
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

static void set_event(lw_api_op_t *a)
{
    dev_op_t *op = (dev_op_t *)a;
    if (op->nonce_reset)
        js_event_publish(op->js, op->t.id, "js.dev_nonce.reset", op->app_id, op->dev_id, 0, 0, NULL,
                         lw_http_correlation_id(a->req));
}

static void set_done(lw_api_op_t *a, const PGresult *res)
{
    dev_op_t *op = (dev_op_t *)a;
    (void)res;
    select_device(op, got);
}

static void set_written(lw_api_op_t *a, const PGresult *res)
{
    dev_op_t *op = (dev_op_t *)a;
    if (PQntuples(res) != 1) {
        lw_api_fail_not_found(a, "end device", op->dev_id);
        return;
    }
    lw_log(LW_LOG_INFO, "js", "end device set", "tenant", op->t.id, "application", op->app_id,
           "device", op->dev_id, "nonces_reset", op->nonce_reset ? "true" : "false", NULL);
    op->api.succeeded = set_event;
    set_done(a, res);
}

static void set_authorized(dev_op_t *op);

static void set_began(lw_api_op_t *a, const PGresult *res)
{
    (void)res;
    dev_op_t *op = (dev_op_t *)a;
    /* INSERT ... ON CONFLICT DO UPDATE of the masked columns, only for a device the
     * Identity Server has (else not_found). */
    char names[1024] = "", values[1024] = "", updates[2048] = "";
    size_t nl = 0, vl = 0, ul = 0;
    int pi = 3;
    for (size_t i = 0; i < N_COLS; i++) {
        if (!mask_selects(&op->mask, &cols[i]))
            continue;
        const char *cast = cols[i].kind == C_BOOL     ? "::boolean"
                           : cols[i].kind == C_UINT   ? "::integer"
                           : cols[i].kind == C_NONCES ? "::integer[]"
                           : cols[i].kind == C_JSON   ? "::jsonb"
                                                      : "";
        nl += (size_t)snprintf(names + nl, sizeof names - nl, ", %s", cols[i].column);
        vl += (size_t)snprintf(values + vl, sizeof values - vl, ", $%d%s", pi, cast);
        ul += (size_t)snprintf(updates + ul, sizeof updates - ul, ", %s = EXCLUDED.%s",
                               cols[i].column, cols[i].column);
        pi++;
    }
    snprintf(op->sql, sizeof op->sql,
             "INSERT INTO %s.js_devices (application_id, device_id%s) SELECT $1, $2%s WHERE "
             "EXISTS (SELECT 1 FROM %s.end_devices WHERE application_id = $1 AND device_id = "
             "$2) ON CONFLICT (application_id, device_id) DO UPDATE SET updated_at = now()%s "
             "RETURNING 1",
             op->sq, names, values, op->sq, updates);
    lw_api_query(a, op->sql, op->nparams, (const char *const *)op->params, set_written);
}

static void set_authorized(dev_op_t *op)
{
    lw_api_begin(&op->api, set_began);
}

static void set_start(dev_op_t *op, json_t *body)
{
    static const char *const allowed[] = {"end_device", "field_mask", NULL};
    lw_err_t e;
    if (lw_api_check_keys(body, allowed, NULL, &e) != 0) {
        lw_api_fail(&op->api, &e);
        return;
    }
    json_t *dev = json_object_get(body, "end_device");
    if (!json_is_object(dev)) {
        lw_api_fail_invalid(&op->api, "end_device", "must be an object");
        return;
    }
    const json_t *ids = json_object_get(dev, "ids");
    const char *bid = json_string_value(json_object_get(ids, "device_id"));
    const char *bapp = json_string_value(
        json_object_get(json_object_get(ids, "application_ids"), "application_id"));
    if (op->dev_id[0] == '\0') {
        /* POST .../devices: the device ID comes from the body. */
        if (bid == NULL || tn_id_validate(bid, 3, "end_device.ids.device_id", &e) != 0) {
            if (bid == NULL)
                lw_api_fail_invalid(&op->api, "end_device.ids.device_id", "required");
            else
                lw_api_fail(&op->api, &e);
            return;
        }
        snprintf(op->dev_id, sizeof op->dev_id, "%s", bid);
    } else if (bid != NULL && strcmp(bid, op->dev_id) != 0) {
        lw_api_fail_invalid(&op->api, "end_device.ids.device_id", "does not match the path");
        return;
    }
    if (bapp != NULL && strcmp(bapp, op->app_id) != 0) {
        lw_api_fail_invalid(&op->api, "end_device.ids.application_ids.application_id",
                            "does not match the path");
        return;
    }
    json_t *fm = json_object_get(body, "field_mask");
    if (fm != NULL && !json_is_null(fm)) {
        if (lw_api_mask_parse_json(&dev_fields, fm, "field_mask", &op->mask, &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
    } else {
        /* Without a mask, every field the body carries. */
        op->mask.n = 0;
        const char *k;
        json_t *v;
        json_object_foreach(dev, k, v)
        {
            if (strcmp(k, "ids") == 0 || strcmp(k, "created_at") == 0 ||
                strcmp(k, "updated_at") == 0)
                continue;
            bool known = false;
            for (size_t i = 0; mask_paths[i] != NULL && !known; i++)
                known = strcmp(mask_paths[i], k) == 0;
            if (!known) {
                char f[96];
                snprintf(f, sizeof f, "end_device.%s", k);
                lw_api_unknown(&e, f);
                lw_api_fail(&op->api, &e);
                return;
            }
            if (op->mask.n < LW_API_MASK_MAX)
                snprintf(op->mask.paths[op->mask.n++], LW_API_PATH_MAX, "%s", k);
        }
    }
    op->params[0] = strdup(op->app_id);
    op->params[1] = strdup(op->dev_id);
    op->nparams = 2;
    if (op->params[0] == NULL || op->params[1] == NULL)
        abort();
    for (size_t i = 0; i < N_COLS; i++) {
        if (!mask_selects(&op->mask, &cols[i]))
            continue;
        char *v;
        if (col_value(op, &cols[i], dev, &v, &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
        param_add(op, v);
        if (strcmp(cols[i].column, "last_dev_nonce") == 0 ||
            strcmp(cols[i].column, "used_dev_nonces") == 0)
            op->nonce_reset = true;
    }
    bool keys = mask_selects_keys(&op->mask);
    const char *need[2] = {RIGHT_WRITE, RIGHT_WRITE_KEYS};
    dev_authorize(op, need, keys ? 2 : 1, set_authorized);
}

/* ---- routes ------------------------------------------------------------------------------ */

static void dev_handle(lw_http_req_t *req, const tn_tenant_t *t, js_t *js, int kind)
{
    dev_op_t *op = lw_api_op_new(sizeof *op, &js->env, req);
    op->js = js;
    op->kind = kind;
    op->t = *t;
    op->api.tenant_id = op->t.id;
    op->api.destroy = dev_destroy;
    js_inflight_add(js, 1);
    const char *auth = lw_http_header(req, "Authorization");
    snprintf(op->authorization, sizeof op->authorization, "%s", auth != NULL ? auth : "");
    const char *app = lw_http_param(req, "application_id");
    const char *dev = lw_http_param(req, "device_id");
    lw_err_t e;
    if (tn_id_validate(app, 3, "application_id", &e) != 0 ||
        (dev != NULL && tn_id_validate(dev, 3, "device_id", &e) != 0)) {
        lw_api_fail(&op->api, &e);
        return;
    }
    snprintf(op->app_id, sizeof op->app_id, "%s", app);
    snprintf(op->dev_id, sizeof op->dev_id, "%s", dev != NULL ? dev : "");
    if (lw_db_quote_ident(t->schema, op->sq, sizeof op->sq) != 0) {
        lw_api_fail_with(&op->api, &lw_err_internal, "schema name");
        return;
    }
    if (op->authorization[0] == '\0') {
        lw_api_fail_with(&op->api, &lw_err_unauthenticated, "no Authorization header");
        return;
    }
    if (kind == OP_GET) {
        if (lw_api_mask_parse_csv(&dev_fields, lw_http_query(req, "field_mask"), "field_mask",
                                  &op->mask, &e) != 0) {
            lw_api_fail(&op->api, &e);
            return;
        }
        /* Asking for root_keys needs READ_KEYS (the checker names it when missing). */
        const char *need[2] = {RIGHT_READ, RIGHT_READ_KEYS};
        dev_authorize(op, need, mask_selects_keys(&op->mask) ? 2 : 1, get_authorized);
    } else if (kind == OP_DELETE) {
        const char *need[1] = {RIGHT_WRITE};
        dev_authorize(op, need, 1, delete_authorized);
    } else {
        json_t *body = lw_http_json(req, &e);
        if (body == NULL) {
            lw_api_fail(&op->api, &e);
            return;
        }
        set_start(op, body);
    }
}

static void h_get(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    dev_handle(req, t, arg, OP_GET);
}

static void h_set(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    dev_handle(req, t, arg, OP_SET);
}

static void h_delete(lw_http_req_t *req, const tn_tenant_t *t, void *arg)
{
    dev_handle(req, t, arg, OP_DELETE);
}

int js_device_routes(js_t *js)
{
    static const char *const one = "/api/v3/js/applications/{application_id}/devices/{device_id}";
    if (tn_route(js->tn, "GET", one, h_get, js) != 0 ||
        tn_route(js->tn, "PUT", one, h_set, js) != 0 ||
        tn_route(js->tn, "DELETE", one, h_delete, js) != 0 ||
        tn_route(js->tn, "POST", "/api/v3/js/applications/{application_id}/devices", h_set, js) !=
            0)
        return -1;
    return 0;
}
