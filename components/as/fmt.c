/* The payload formatters as the core sees them (as_fmt_ops_t, as_private.h): JavaScript
 * through the worker pool, CayenneLPP in process (pure, cayenne.c), Device Repository codecs
 * (fmt_repo.c) through the pool. Results are checked as The Things Stack checks them
 * (pkg/messageprocessors/javascript): errors[] fail the call with output_errors, anything
 * but an object as data fails it with output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "as/as_private.h"
#include "as/fmt_private.h"
#include "cluster/log.h"
#include "cluster/mem.h"

/* Device Repository codecs looked up lately (TTS caches them too): the files are read on
 * the loop only on a miss. */
#define REPO_CACHE      128u
#define REPO_TTL_MS     300000u /* a codec found */
#define REPO_ERR_TTL_MS 60000u  /* a codec not found */

typedef struct repo_entry {
    char key[512]; /* brand/model/hw/fw/band/section; "" unused */
    uint64_t expires_ms;
    char *script; /* NULL: err */
    size_t len;
    lw_err_t err;
} repo_entry_t;

struct as_fmt {
    uv_loop_t *loop;
    fmt_pool_t *pool;
    char *repo_path; /* NULL: no Device Repository */
    uint64_t memory_limit;
    repo_entry_t *repo_cache; /* REPO_CACHE entries */
};

const lw_cfg_opt_t fmt_config[] = {
    {.key = "as.formatter.workers",
     .type = LW_CFG_INT,
     .def = "2",
     .min = 1,
     .max = 64,
     .help = "Formatter worker processes (`lwstack formatter-worker`) running payload "
             "formatter scripts, isolated from this process."},
    {.key = "as.formatter.timeout",
     .type = LW_CFG_DURATION,
     .def = "100ms",
     .min = 1,
     .max = 10000,
     .help = "Time limit of one formatter call (TTS: 100 ms). Past it the call fails with "
             "script_timeout; the worker is killed a quarter later if it did not stop."},
    {.key = "as.formatter.memory-limit",
     .type = LW_CFG_INT,
     .def = "268435456",
     .min = 67108864,
     .max = 17179869184LL,
     .help = "Resident memory (bytes) a formatter worker may use; over it the worker exits "
             "and the call fails with script_memory (a worker with nothing loaded takes about "
             "25 MB)."},
    {.key = "as.formatter.pipeline",
     .type = LW_CFG_INT,
     .def = "8",
     .min = 1,
     .max = 256,
     .help = "Calls in flight per worker, run one after the other without a round trip to "
             "this process in between. One application's calls are on one worker at a "
             "time, so they run in order."},
    {.key = "as.formatter.slow-call",
     .type = LW_CFG_DURATION,
     .def = "20ms",
     .min = 1,
     .max = 10000,
     .help = "A call that takes longer (or times out, or runs out of memory) makes its "
             "application slow for a minute: its calls then run only on a worker of their "
             "own, never queued in front of another application's."},
    {.key = "as.formatter.application-queue",
     .type = LW_CFG_INT,
     .def = "256",
     .min = 1,
     .max = 100000,
     .help = "Calls one application may have waiting; beyond, formatter_busy at once."},
    {.key = "as.formatter.scripts-per-worker",
     .type = LW_CFG_INT,
     .def = "64",
     .min = 1,
     .max = 4096,
     .help = "Compiled scripts each worker keeps (least recently used go first)."},
    {.key = "as.device-repository.path",
     .type = LW_CFG_STRING,
     .def = "",
     .help = "A checkout of TheThingsNetwork/lorawan-devices on disk: FORMATTER_REPOSITORY "
             "runs its codecs (vendor/<brand>/<codec>.js), chosen by the device's "
             "version_ids. Empty: no repository."},
};
const size_t fmt_config_len = sizeof fmt_config / sizeof fmt_config[0];

/* ---- helpers --------------------------------------------------------------------------- */

static void script_hash(const char *script, size_t len, uint8_t out[FMT_HASH_LEN])
{
    /* The wrapper is the same text for every script: the script names the compiled code. */
    SHA256((const unsigned char *)script, len, out);
}

static void app_key(char *buf, size_t cap, const char *tenant, const char *app)
{
    snprintf(buf, cap, "%s/%s", tenant != NULL ? tenant : "", app != NULL ? app : "");
}

/* A status of the pool as an error. */
static void status_err(fmt_status_t st, const char *body, size_t len, uint64_t limit, lw_err_t *err)
{
    char text[256];
    size_t n = len < sizeof text - 1 ? len : sizeof text - 1;
    memcpy(text, body != NULL ? body : "", n);
    text[n] = '\0';
    switch (st) {
    case FMT_ST_SCRIPT:
        lw_err_set(err, &fmt_err_script, "%s", text);
        lw_err_attr(err, "message", text);
        break;
    case FMT_ST_TIMEOUT:
        lw_err_set(err, &fmt_err_script_timeout, "script timeout");
        break;
    case FMT_ST_ENTRYPOINT:
        lw_err_set(err, &fmt_err_entrypoint_not_found, "entrypoint `main` not found");
        lw_err_attr(err, "entrypoint", "main");
        break;
    case FMT_ST_NO_OUTPUT:
        lw_err_set(err, &fmt_err_no_script_output, "no script output");
        break;
    case FMT_ST_INPUT:
        lw_err_set(err, &fmt_err_js_input, "invalid input");
        break;
    case FMT_ST_MEMORY:
        lw_err_set(err, &fmt_err_script_memory, "script exceeded the memory limit of %llu bytes",
                   (unsigned long long)limit);
        lw_err_attr_num(err, "limit", (long long)limit);
        break;
    default:
        lw_err_set(err, &fmt_err_formatter_unavailable, "formatter worker unavailable: %s", text);
        lw_err_attr(err, "message", text);
        break;
    }
}

/* errors[] of a result: -1 with output_errors set when it has items, -1 with output when it
 * is not an array of strings, 0 when absent or empty. */
static int check_errors(const json_t *errors, lw_err_t *err)
{
    if (errors == NULL || json_is_null(errors))
        return 0;
    if (!json_is_array(errors))
        return lw_err_set(err, &fmt_err_js_output, "invalid output");
    if (json_array_size(errors) == 0)
        return 0;
    char joined[256] = "";
    size_t len = 0;
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        if (!json_is_string(e))
            return lw_err_set(err, &fmt_err_js_output, "invalid output");
        int n = snprintf(joined + len, sizeof joined - len, "%s%s", i > 0 ? ", " : "",
                         json_string_value(e));
        if (n > 0)
            len += (size_t)n < sizeof joined - len ? (size_t)n : sizeof joined - len - 1;
    }
    lw_err_set(err, &fmt_err_js_output_errors, "%s", joined);
    lw_err_attr(err, "errors", joined);
    return -1;
}

/* warnings: NULL or an array of strings. */
static int check_warnings(const json_t *w, lw_err_t *err)
{
    if (w == NULL || json_is_null(w))
        return 0;
    if (!json_is_array(w))
        return lw_err_set(err, &fmt_err_js_output, "invalid output");
    size_t i;
    json_t *e;
    json_array_foreach(w, i, e)
    {
        if (!json_is_string(e))
            return lw_err_set(err, &fmt_err_js_output, "invalid output");
    }
    return 0;
}

/* The codec of version_ids' section through the cache. *script stays owned by the cache
 * (valid until the next call). */
static int repo_script(as_fmt_t *f, const json_t *v, const char *section, const char **script,
                       size_t *len, lw_err_t *err)
{
    char key[512];
    const char *const parts[] = {"brand_id", "model_id", "hardware_version", "firmware_version",
                                 "band_id"};
    size_t n = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        const char *p = json_string_value(json_object_get(v, parts[i]));
        int w = snprintf(key + n, sizeof key - n, "%s/", p != NULL ? p : "");
        if (w < 0 || (size_t)w >= sizeof key - n)
            return lw_err_set(err, &fmt_err_no_version_identifiers,
                              "no version identifiers for device");
        n += (size_t)w;
    }
    snprintf(key + n, sizeof key - n, "%s", section);
    uint64_t now = uv_now(f->loop);
    repo_entry_t *slot = &f->repo_cache[0];
    for (size_t i = 0; i < REPO_CACHE; i++) {
        repo_entry_t *e = &f->repo_cache[i];
        if (e->key[0] != '\0' && strcmp(e->key, key) == 0 && e->expires_ms > now) {
            if (e->script == NULL) {
                *err = e->err;
                return -1;
            }
            *script = e->script;
            *len = e->len;
            return 0;
        }
        if (e->expires_ms < slot->expires_ms)
            slot = e; /* the oldest (or unused) one is replaced */
    }
    free(slot->script);
    memset(slot, 0, sizeof *slot);
    snprintf(slot->key, sizeof slot->key, "%s", key);
    char *text = NULL;
    if (fmt_repo_script(f->repo_path, v, section, &text, &slot->len, &slot->err) != 0) {
        slot->expires_ms = now + REPO_ERR_TTL_MS;
        *err = slot->err;
        return -1;
    }
    slot->script = text;
    slot->expires_ms = now + REPO_TTL_MS;
    *script = text;
    *len = slot->len;
    return 0;
}

/* A copy of v with every object's keys in byte order, as The Things Stack writes a Struct
 * (Go's protojson sorts map keys); jansson keeps insertion order when it dumps. */
static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static json_t *sorted_copy(json_t *v, int depth)
{
    if (depth > 64)
        return json_incref(v); /* deeper than any payload: left as it is */
    if (json_is_array(v)) {
        json_t *out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) json_array_append_new(out, sorted_copy(e, depth + 1));
        return out;
    }
    if (!json_is_object(v))
        return json_incref(v);
    size_t n = json_object_size(v), i = 0;
    const char **keys = lw_malloc((n > 0 ? n : 1) * sizeof *keys);
    const char *k;
    json_t *e;
    json_object_foreach(v, k, e) keys[i++] = k;
    qsort(keys, n, sizeof *keys, key_cmp);
    json_t *out = json_object();
    for (i = 0; i < n; i++)
        json_object_set_new(out, keys[i], sorted_copy(json_object_get(v, keys[i]), depth + 1));
    free(keys);
    return out;
}

/* ---- uplinks --------------------------------------------------------------------------- */

typedef struct up_call {
    as_fmt_t *f;
    as_fmt_uplink_cb cb;
    void *arg;
} up_call_t;

/* Checks an uplink result ({decoded, normalized}) as TTS's decodeUplink does and answers. */
/* The script a JavaScript or Device Repository formatter runs (section: the repository's
 * codec, "uplinkDecoder", "downlinkEncoder" or "downlinkDecoder"); other types are not
 * supported. *script is borrowed (the formatter or the repository cache). */
static int script_for(as_fmt_t *f, const as_formatter_t *fm, const json_t *version_ids,
                      const char *section, const char **script, size_t *len, lw_err_t *err)
{
    switch (fm->type) {
    case AS_FMT_JAVASCRIPT:
        *script = fm->parameter != NULL ? fm->parameter : "";
        *len = strlen(*script);
        if (*len > FMT_SCRIPT_MAX)
            return lw_err_set(err, &fmt_err_js_input, "invalid input");
        return 0;
    case AS_FMT_REPOSITORY:
        if (f->repo_path == NULL)
            return lw_err_set(err, &fmt_err_repository_unavailable,
                              "the Device Repository is not available (as.device-repository.path "
                              "unset)");
        return repo_script(f, version_ids, section, script, len, err);
    default:
        lw_err_set(err, &fmt_err_formatter_not_supported, "payload formatter `%s` is not supported",
                   as_fmt_type_name(fm->type));
        lw_err_attr(err, "formatter", as_fmt_type_name(fm->type));
        return -1;
    }
}

static void up_result(as_fmt_t *f, const char *body, size_t len, as_fmt_uplink_cb cb, void *arg)
{
    lw_err_t err;
    lw_err_clear(&err);
    as_fmt_uplink_result_t r = {0};
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *decoded = root != NULL ? json_object_get(root, "decoded") : NULL;
    json_t *normalized_out = NULL, *sorted = NULL;
    (void)f;
    if (!json_is_object(decoded)) {
        lw_err_set(&err, &fmt_err_js_output, "invalid output");
        goto out;
    }
    json_t *data = json_object_get(decoded, "data");
    json_t *warnings = json_object_get(decoded, "warnings");
    if (check_errors(json_object_get(decoded, "errors"), &err) != 0 ||
        check_warnings(warnings, &err) != 0)
        goto out;
    if (data != NULL && !json_is_null(data) && !json_is_object(data)) {
        lw_err_set(&err, &fmt_err_js_output, "invalid output");
        goto out;
    }
    json_t *normalized = json_object_get(root, "normalized");
    char why[160];
    if (json_is_object(normalized)) {
        /* normalizeUplink's {data, warnings, errors}: data one measurement or an array */
        if (check_errors(json_object_get(normalized, "errors"), &err) != 0)
            goto out;
        json_t *nd = json_object_get(normalized, "data");
        json_t *list = NULL;
        if (json_is_object(nd)) {
            list = json_array();
            json_array_append(list, nd);
        } else if (json_is_array(nd)) {
            list = json_incref(nd);
        } else if (nd != NULL && !json_is_null(nd)) {
            lw_err_set(&err, &fmt_err_js_output, "invalid output");
            goto out;
        }
        if (list != NULL) {
            int rc = fmt_norm_parse(list, &normalized_out, NULL, why, sizeof why);
            json_decref(list);
            if (rc != 0) {
                lw_err_set(&err, &fmt_err_js_output, "invalid output: %s", why);
                goto out;
            }
        }
    } else if (json_is_object(data)) {
        /* No normalizer: TTS tries the decoded payload as a normalized one, best effort. */
        json_t *list = json_array();
        json_array_append(list, data);
        if (fmt_norm_parse(list, &normalized_out, NULL, why, sizeof why) != 0)
            normalized_out = NULL;
        json_decref(list);
    }
    if (normalized_out != NULL && json_array_size(normalized_out) == 0) {
        json_decref(normalized_out);
        normalized_out = NULL;
    }
    sorted = json_is_object(data) ? sorted_copy(data, 0) : NULL;
    r.decoded_payload = sorted;
    r.warnings = json_is_array(warnings) && json_array_size(warnings) > 0 ? warnings : NULL;
    if (normalized_out != NULL) {
        json_t *n = sorted_copy(normalized_out, 0);
        json_decref(normalized_out);
        normalized_out = n;
    }
    r.normalized_payload = normalized_out;
out:
    if (err.def != NULL) {
        memset(&r, 0, sizeof r);
        r.err = &err;
    }
    cb(arg, &r);
    json_decref(sorted);
    json_decref(normalized_out);
    json_decref(root);
}

static void up_done(void *arg, fmt_status_t st, const char *body, size_t len)
{
    up_call_t *c = arg;
    if (st == FMT_ST_OK) {
        up_result(c->f, body, len, c->cb, c->arg);
    } else {
        lw_err_t err;
        status_err(st, body, len, c->f->memory_limit, &err);
        as_fmt_uplink_result_t r = {.err = &err};
        c->cb(c->arg, &r);
    }
    free(c);
}

static void up_fail(as_fmt_uplink_cb cb, void *arg, lw_err_t *err)
{
    as_fmt_uplink_result_t r = {.err = err};
    cb(arg, &r);
}

static void up_cayenne(const as_fmt_uplink_t *in, as_fmt_uplink_cb cb, void *arg)
{
    cayenne_value_t v[CAYENNE_MAX_VALUES];
    int n = cayenne_decode_uplink(in->frm_payload, in->frm_payload_len, v, CAYENNE_MAX_VALUES);
    if (n < 0) {
        lw_err_t err;
        lw_err_set(&err, &fmt_err_lpp_output, "invalid output");
        up_fail(cb, arg, &err);
        return;
    }
    json_t *obj = json_object();
    for (int i = 0; i < n; i++) {
        char key[40];
        if (cayenne_key(v[i].type, v[i].channel, key, sizeof key) == NULL)
            continue;
        json_t *val;
        if (v[i].type == CAYENNE_ACCELEROMETER || v[i].type == CAYENNE_GYROMETER) {
            val = json_pack("{s:f,s:f,s:f}", "x", v[i].v[0], "y", v[i].v[1], "z", v[i].v[2]);
        } else if (v[i].type == CAYENNE_GPS) {
            val = json_pack("{s:f,s:f,s:f}", "latitude", v[i].v[0], "longitude", v[i].v[1],
                            "altitude", v[i].v[2]);
        } else if (v[i].type == CAYENNE_DIGITAL_IN || v[i].type == CAYENNE_DIGITAL_OUT ||
                   v[i].type == CAYENNE_PRESENCE || v[i].type == CAYENNE_LUMINOSITY) {
            val = json_integer((json_int_t)v[i].v[0]);
        } else {
            val = json_real(v[i].v[0]);
        }
        json_object_set_new(obj, key, val);
    }
    json_t *sorted = sorted_copy(obj, 0);
    json_decref(obj);
    as_fmt_uplink_result_t r = {.decoded_payload = sorted};
    cb(arg, &r);
    json_decref(sorted);
}

static void up_script(as_fmt_t *f, const as_fmt_uplink_t *in, const char *script, size_t len,
                      as_fmt_uplink_cb cb, void *arg)
{
    char input[2048];
    int n = fmt_input_uplink(in->frm_payload, in->frm_payload_len, in->f_port, in->recv_time, input,
                             sizeof input);
    lw_err_t err;
    if (n < 0) {
        lw_err_set(&err, &fmt_err_js_input, "invalid input");
        up_fail(cb, arg, &err);
        return;
    }
    uint8_t hash[FMT_HASH_LEN];
    script_hash(script, len, hash);
    char key[256];
    app_key(key, sizeof key, in->tenant_id, in->app_id);
    up_call_t *c = lw_malloc(sizeof *c);
    *c = (up_call_t){f, cb, arg};
    if (fmt_pool_call(f->pool, key, FMT_OP_DECODE_UPLINK, hash, script, len, input, (size_t)n,
                      up_done, c) != 0) {
        free(c);
        lw_err_set(&err, &fmt_err_formatter_busy, "the formatter queue of application `%s` is full",
                   key);
        lw_err_attr(&err, "application", key);
        up_fail(cb, arg, &err);
    }
}

static void fmt_decode_uplink(void *impl, const as_fmt_uplink_t *in, as_fmt_uplink_cb cb, void *arg)
{
    as_fmt_t *f = impl;
    lw_err_t err;
    if (in->f_port == 0) { /* TTS: MAC-only uplinks are not decoded */
        as_fmt_uplink_result_t r = {0};
        cb(arg, &r);
        return;
    }
    switch (in->formatter.type) {
    case AS_FMT_NONE: {
        as_fmt_uplink_result_t r = {0};
        cb(arg, &r);
        return;
    }
    case AS_FMT_CAYENNELPP:
        up_cayenne(in, cb, arg);
        return;
    default: {
        const char *script = NULL;
        size_t len = 0;
        if (script_for(f, &in->formatter, in->version_ids, "uplinkDecoder", &script, &len, &err) !=
            0) {
            up_fail(cb, arg, &err);
            return;
        }
        up_script(f, in, script, len, cb, arg);
        return;
    }
    }
}

/* ---- downlinks ------------------------------------------------------------------------- */

typedef struct down_call {
    as_fmt_t *f;
    as_fmt_downlink_cb cb;
    void *arg;
} down_call_t;

static void down_fail(as_fmt_downlink_cb cb, void *arg, lw_err_t *err)
{
    as_fmt_downlink_result_t r = {.err = err};
    cb(arg, &r);
}

/* Checks an encodeDownlink result ({bytes, fPort, warnings, errors}) as TTS does. */
static void down_result(const char *body, size_t len, as_fmt_downlink_cb cb, void *arg)
{
    lw_err_t err;
    lw_err_clear(&err);
    uint8_t bytes[FMT_PAYLOAD_MAX];
    as_fmt_downlink_result_t r = {0};
    json_t *root = json_loadb(body, len, 0, NULL);
    if (!json_is_object(root)) {
        lw_err_set(&err, &fmt_err_js_output, "invalid output");
        goto out;
    }
    json_t *warnings = json_object_get(root, "warnings");
    if (check_errors(json_object_get(root, "errors"), &err) != 0 ||
        check_warnings(warnings, &err) != 0)
        goto out;
    json_t *b = json_object_get(root, "bytes");
    size_t n = 0;
    if (b != NULL && !json_is_null(b)) {
        if (!json_is_array(b) || json_array_size(b) > FMT_PAYLOAD_MAX) {
            lw_err_set(&err, &fmt_err_js_output, "invalid output");
            goto out;
        }
        size_t i;
        json_t *e;
        json_array_foreach(b, i, e)
        {
            /* Go's []uint8: integers 0..255 */
            if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > 255) {
                lw_err_set(&err, &fmt_err_js_output, "invalid output");
                goto out;
            }
            bytes[n++] = (uint8_t)json_integer_value(e);
        }
    }
    json_t *port = json_object_get(root, "fPort");
    if (port != NULL && !json_is_null(port)) {
        if (!json_is_integer(port) || json_integer_value(port) < 0 ||
            json_integer_value(port) > 255) {
            lw_err_set(&err, &fmt_err_js_output, "invalid output");
            goto out;
        }
        r.f_port = (uint8_t)json_integer_value(port);
    }
    r.frm_payload = bytes;
    r.frm_payload_len = n;
    r.warnings = json_is_array(warnings) && json_array_size(warnings) > 0 ? warnings : NULL;
out:
    if (err.def != NULL) {
        memset(&r, 0, sizeof r);
        r.err = &err;
    }
    cb(arg, &r);
    json_decref(root);
}

static void down_done(void *arg, fmt_status_t st, const char *body, size_t len)
{
    down_call_t *c = arg;
    if (st == FMT_ST_OK) {
        down_result(body, len, c->cb, c->arg);
    } else {
        lw_err_t err;
        status_err(st, body, len, c->f->memory_limit, &err);
        down_fail(c->cb, c->arg, &err);
    }
    free(c);
}

static void down_cayenne(const as_fmt_downlink_t *in, as_fmt_downlink_cb cb, void *arg)
{
    cayenne_value_t v[CAYENNE_MAX_VALUES];
    size_t n = 0;
    const char *name;
    json_t *val;
    /* TTS: every "value_<channel>" number; other keys are ignored */
    json_object_foreach((json_t *)in->decoded_payload, name, val)
    {
        size_t key_len;
        uint8_t channel;
        if (cayenne_parse_name(name, &key_len, &channel) != 0)
            continue;
        if (key_len != 5 || strncmp(name, "value", 5) != 0 || !json_is_number(val))
            continue;
        if (n == CAYENNE_MAX_VALUES)
            break;
        v[n++] = (cayenne_value_t){.channel = channel, .n = 1, .v = {json_number_value(val)}};
    }
    uint8_t bytes[3 * CAYENNE_MAX_VALUES];
    int len = cayenne_encode_downlink(v, n, bytes, sizeof bytes);
    if (len < 0 || (size_t)len > FMT_PAYLOAD_MAX) {
        lw_err_t err;
        lw_err_set(&err, &fmt_err_lpp_input, "invalid input");
        down_fail(cb, arg, &err);
        return;
    }
    as_fmt_downlink_result_t r = {.frm_payload = bytes, .frm_payload_len = (size_t)len};
    cb(arg, &r);
}

static void down_script(as_fmt_t *f, const as_fmt_downlink_t *in, const char *script, size_t len,
                        as_fmt_downlink_cb cb, void *arg)
{
    lw_err_t err;
    char *data = json_dumps(in->decoded_payload, JSON_COMPACT | JSON_ENCODE_ANY);
    if (data == NULL) {
        lw_err_set(&err, &fmt_err_js_input, "invalid input");
        down_fail(cb, arg, &err);
        return;
    }
    size_t dlen = strlen(data);
    size_t cap = dlen + 64;
    char *input = lw_malloc(cap);
    int n = fmt_input_downlink_encode(data, dlen, in->f_port, input, cap);
    free(data);
    if (n < 0) {
        free(input);
        lw_err_set(&err, &fmt_err_js_input, "invalid input");
        down_fail(cb, arg, &err);
        return;
    }
    uint8_t hash[FMT_HASH_LEN];
    script_hash(script, len, hash);
    char key[256];
    app_key(key, sizeof key, in->tenant_id, in->app_id);
    down_call_t *c = lw_malloc(sizeof *c);
    *c = (down_call_t){f, cb, arg};
    int rc = fmt_pool_call(f->pool, key, FMT_OP_ENCODE_DOWNLINK, hash, script, len, input,
                           (size_t)n, down_done, c);
    free(input);
    if (rc != 0) {
        free(c);
        lw_err_set(&err, &fmt_err_formatter_busy, "the formatter queue of application `%s` is full",
                   key);
        lw_err_attr(&err, "application", key);
        down_fail(cb, arg, &err);
    }
}

static void fmt_encode_downlink(void *impl, const as_fmt_downlink_t *in, as_fmt_downlink_cb cb,
                                void *arg)
{
    as_fmt_t *f = impl;
    lw_err_t err;
    if (!json_is_object(in->decoded_payload)) {
        lw_err_set(&err, &fmt_err_js_input, "invalid input");
        down_fail(cb, arg, &err);
        return;
    }
    switch (in->formatter.type) {
    case AS_FMT_CAYENNELPP:
        down_cayenne(in, cb, arg);
        return;
    default: {
        const char *script = NULL;
        size_t len = 0;
        if (script_for(f, &in->formatter, in->version_ids, "downlinkEncoder", &script, &len,
                       &err) != 0) {
            down_fail(cb, arg, &err);
            return;
        }
        down_script(f, in, script, len, cb, arg);
        return;
    }
    }
}

/* ---- lifecycle ------------------------------------------------------------------------- */

as_fmt_t *as_fmt_new(uv_loop_t *loop, const fmt_pool_cfg_t *pool_cfg, const char *repo_path,
                     lw_err_t *err)
{
    as_fmt_t *f = lw_calloc(1, sizeof *f);
    f->loop = loop;
    f->memory_limit = pool_cfg->memory_limit;
    f->repo_path = repo_path != NULL && repo_path[0] != '\0' ? lw_strdup(repo_path) : NULL;
    f->repo_cache = lw_calloc(REPO_CACHE, sizeof *f->repo_cache);
    f->pool = fmt_pool_new(loop, pool_cfg, err);
    if (f->pool == NULL) {
        free(f->repo_cache);
        free(f->repo_path);
        free(f);
        return NULL;
    }
    return f;
}

fmt_pool_t *as_fmt_pool(as_fmt_t *f)
{
    return f->pool;
}

typedef struct free_ctx {
    as_fmt_t *f;
    void (*done)(void *arg);
    void *arg;
} free_ctx_t;

static void fmt_pool_gone(void *arg)
{
    free_ctx_t *c = arg;
    for (size_t i = 0; i < REPO_CACHE; i++)
        free(c->f->repo_cache[i].script);
    free(c->f->repo_cache);
    free(c->f->repo_path);
    free(c->f);
    if (c->done != NULL)
        c->done(c->arg);
    free(c);
}

void as_fmt_free(as_fmt_t *f, void (*done)(void *arg), void *arg)
{
    if (f == NULL) {
        if (done != NULL)
            done(arg);
        return;
    }
    free_ctx_t *c = lw_malloc(sizeof *c);
    *c = (free_ctx_t){f, done, arg};
    fmt_pool_close(f->pool, fmt_pool_gone, c);
}

int as_fmt_start(struct as *as, const lw_config_t *cfg, lw_err_t *err)
{
    fmt_pool_cfg_t pc = {
        .argv = NULL,
        .workers = (unsigned)lw_config_int(cfg, "as.formatter.workers"),
        .timeout_ms = (uint32_t)lw_config_duration_ms(cfg, "as.formatter.timeout"),
        .memory_limit = (uint64_t)lw_config_int(cfg, "as.formatter.memory-limit"),
        .depth = (unsigned)lw_config_int(cfg, "as.formatter.pipeline"),
        .slow_ms = (uint32_t)lw_config_duration_ms(cfg, "as.formatter.slow-call"),
        .queue_per_app = (unsigned)lw_config_int(cfg, "as.formatter.application-queue"),
        .scripts_cached = (unsigned)lw_config_int(cfg, "as.formatter.scripts-per-worker"),
    };
    as_fmt_t *f = as_fmt_new(as->loop, &pc, lw_config_str(cfg, "as.device-repository.path"), err);
    if (f == NULL)
        return -1;
    as->fmt = f;
    as_fmt_ops_t ops = {
        .impl = f,
        .decode_uplink = fmt_decode_uplink,
        .encode_downlink = fmt_encode_downlink,
    };
    as_fmt_install(as, &ops);
    return 0;
}

void as_fmt_stop(struct as *as, void (*done)(void *arg), void *arg)
{
    as_fmt_install(as, NULL);
    as_fmt_t *f = as->fmt;
    as->fmt = NULL;
    as_fmt_free(f, done, arg);
}

void as_fmt_get_ops(as_fmt_t *f, as_fmt_ops_t *out)
{
    *out = (as_fmt_ops_t){
        .impl = f, .decode_uplink = fmt_decode_uplink, .encode_downlink = fmt_encode_downlink};
}

void as_fmt_decode_uplink(as_fmt_t *f, const as_fmt_uplink_t *in, as_fmt_uplink_cb cb, void *arg)
{
    fmt_decode_uplink(f, in, cb, arg);
}

void as_fmt_encode_downlink(as_fmt_t *f, const as_fmt_downlink_t *in, as_fmt_downlink_cb cb,
                            void *arg)
{
    fmt_encode_downlink(f, in, cb, arg);
}

/* ---- decodeDownlink -------------------------------------------------------------------- */

/* Checks a decodeDownlink result ({data, warnings, errors}) as TTS does and answers. */
static void dd_result(const char *body, size_t len, as_fmt_uplink_cb cb, void *arg)
{
    lw_err_t err;
    lw_err_clear(&err);
    as_fmt_uplink_result_t r = {0};
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *sorted = NULL;
    json_t *data = json_object_get(root, "data");
    json_t *warnings = json_object_get(root, "warnings");
    if (!json_is_object(root)) {
        lw_err_set(&err, &fmt_err_js_output, "invalid output");
    } else if (check_errors(json_object_get(root, "errors"), &err) != 0 ||
               check_warnings(warnings, &err) != 0) {
        /* err set */
    } else if (data != NULL && !json_is_null(data) && !json_is_object(data)) {
        lw_err_set(&err, &fmt_err_js_output, "invalid output");
    } else {
        sorted = json_is_object(data) ? sorted_copy(data, 0) : NULL;
        r.decoded_payload = sorted;
        r.warnings = json_is_array(warnings) && json_array_size(warnings) > 0 ? warnings : NULL;
    }
    if (err.def != NULL) {
        memset(&r, 0, sizeof r);
        r.err = &err;
    }
    cb(arg, &r);
    json_decref(sorted);
    json_decref(root);
}

static void dd_done(void *arg, fmt_status_t st, const char *body, size_t len)
{
    up_call_t *c = arg;
    if (st == FMT_ST_OK) {
        dd_result(body, len, c->cb, c->arg);
    } else {
        lw_err_t err;
        status_err(st, body, len, c->f->memory_limit, &err);
        up_fail(c->cb, c->arg, &err);
    }
    free(c);
}

static void dd_script(as_fmt_t *f, const fmt_downlink_decode_t *in, const char *script, size_t len,
                      as_fmt_uplink_cb cb, void *arg)
{
    char input[2048];
    lw_err_t err;
    int n = fmt_input_downlink_decode(in->frm_payload, in->frm_payload_len, in->f_port, input,
                                      sizeof input);
    if (n < 0) {
        lw_err_set(&err, &fmt_err_js_input, "invalid input");
        up_fail(cb, arg, &err);
        return;
    }
    uint8_t hash[FMT_HASH_LEN];
    script_hash(script, len, hash);
    char key[256];
    app_key(key, sizeof key, in->tenant_id, in->app_id);
    up_call_t *c = lw_malloc(sizeof *c);
    *c = (up_call_t){f, cb, arg};
    if (fmt_pool_call(f->pool, key, FMT_OP_DECODE_DOWNLINK, hash, script, len, input, (size_t)n,
                      dd_done, c) != 0) {
        free(c);
        lw_err_set(&err, &fmt_err_formatter_busy, "the formatter queue of application `%s` is full",
                   key);
        lw_err_attr(&err, "application", key);
        up_fail(cb, arg, &err);
    }
}

void as_fmt_decode_downlink(as_fmt_t *f, const fmt_downlink_decode_t *in, as_fmt_uplink_cb cb,
                            void *arg)
{
    lw_err_t err;
    switch (in->formatter.type) {
    case AS_FMT_NONE: {
        as_fmt_uplink_result_t r = {0};
        cb(arg, &r);
        return;
    }
    case AS_FMT_CAYENNELPP: {
        cayenne_value_t v[CAYENNE_MAX_VALUES];
        int n =
            cayenne_decode_downlink(in->frm_payload, in->frm_payload_len, v, CAYENNE_MAX_VALUES);
        if (n < 0) {
            lw_err_set(&err, &fmt_err_lpp_output, "invalid output");
            up_fail(cb, arg, &err);
            return;
        }
        json_t *obj = json_object();
        for (int i = 0; i < n; i++) {
            char key[32];
            snprintf(key, sizeof key, "value_%u", v[i].channel);
            json_object_set_new(obj, key, json_real(v[i].v[0]));
        }
        json_t *sorted = sorted_copy(obj, 0);
        json_decref(obj);
        as_fmt_uplink_result_t r = {.decoded_payload = sorted};
        cb(arg, &r);
        json_decref(sorted);
        return;
    }
    default: {
        const char *script = NULL;
        size_t len = 0;
        if (script_for(f, &in->formatter, in->version_ids, "downlinkDecoder", &script, &len,
                       &err) != 0) {
            up_fail(cb, arg, &err);
            return;
        }
        dd_script(f, in, script, len, cb, arg);
        return;
    }
    }
}
