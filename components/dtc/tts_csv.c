/* the-things-stack-csv: The Things Stack's CSV columns (pkg/devicetemplates/ttscsv.go).
 * Each known column sets one field and names its paths in the field mask, whether or not
 * the value is zero; unknown columns are ignored; a header without any known column is
 * csv_header. A value that does not parse fails the record with parse_csv_field, whose line
 * is the record's number after the header (1 for the first device) and column the field's
 * 1-based index, as The Things Stack counts them; file_line adds the physical line.
 * Without an id column the device ID is eui-<dev_eui in lower case>. app_s_key and
 * f_nwk_s_int_key give the session a new session_key_id (a ULID's 16 bytes; not in the
 * mask). end_device_version_ids of the request are the version_ids every record starts
 * from (not in the mask: The Things Stack uses them only to ask its Device Repository). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "dtc/conv_private.h"
#include "dtc/dtc_private.h"

typedef struct row {
    json_t *dev;
    dtc_paths_t *paths;
} row_t;

typedef int (*setter_fn)(row_t *r, const char *v, size_t n);

static void set(row_t *r, const char *path, json_t *v)
{
    if (v != NULL)
        dtc_json_set_path(r->dev, path, v);
}

static void mark(row_t *r, const char *path)
{
    dtc_paths_add(r->paths, path);
}

static json_t *hex_json(const char *v, size_t n, size_t len)
{
    uint8_t b[16];
    char h[33];
    if (dtc_hex_parse(v, n, b, len) != 0)
        return NULL;
    dtc_hex_upper(b, len, h);
    return json_string(h);
}

/* strconv.ParseUint(v, base, 32) */
static int parse_u32(const char *v, size_t n, int base, uint32_t *out)
{
    char buf[24];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, v, n);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        bool ok = base == 16
                      ? ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
                      : (c >= '0' && c <= '9');
        if (!ok)
            return -1;
    }
    errno = 0;
    unsigned long long x = strtoull(buf, NULL, base);
    if (errno != 0 || x > 0xFFFFFFFFull)
        return -1;
    *out = (uint32_t)x;
    return 0;
}

static bool eq(const char *v, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(v, s, n) == 0;
}

static json_t *str_json(const char *v, size_t n)
{
    return n == 0 ? NULL : dtc_json_stringn_lossy((const uint8_t *)v, n);
}

static int s_id(row_t *r, const char *v, size_t n)
{
    set(r, "ids.device_id", str_json(v, n));
    mark(r, "ids.device_id");
    return 0;
}

static int eui(row_t *r, const char *path, const char *v, size_t n)
{
    json_t *j = hex_json(v, n, 8);
    if (j == NULL)
        return -1;
    set(r, path, j);
    mark(r, path);
    return 0;
}

static int s_dev_eui(row_t *r, const char *v, size_t n)
{
    return eui(r, "ids.dev_eui", v, n);
}

static int s_join_eui(row_t *r, const char *v, size_t n)
{
    return eui(r, "ids.join_eui", v, n);
}

#define STRING_SETTER(fn, path)                                                                    \
    static int fn(row_t *r, const char *v, size_t n)                                               \
    {                                                                                              \
        set(r, path, str_json(v, n));                                                              \
        mark(r, path);                                                                             \
        return 0;                                                                                  \
    }
STRING_SETTER(s_name, "name")
STRING_SETTER(s_description, "description")
STRING_SETTER(s_frequency_plan_id, "frequency_plan_id")
STRING_SETTER(s_brand_id, "version_ids.brand_id")
STRING_SETTER(s_model_id, "version_ids.model_id")
STRING_SETTER(s_hardware_version, "version_ids.hardware_version")
STRING_SETTER(s_firmware_version, "version_ids.firmware_version")
STRING_SETTER(s_band_id, "version_ids.band_id")

static int enum_setter(row_t *r, const char *path, const dtc_enum_t *e, bool keep_zero,
                       const char *v, size_t n)
{
    char buf[64];
    int x = 0;
    if (n >= sizeof buf)
        return -1;
    memcpy(buf, v, n);
    buf[n] = '\0';
    if (dtc_enum_parse(e, buf, &x) != 0)
        return -1;
    if (x != 0 || keep_zero)
        set(r, path, dtc_enum_json(e, x));
    mark(r, path);
    return 0;
}

static int s_lorawan_version(row_t *r, const char *v, size_t n)
{
    return enum_setter(r, "lorawan_version", &dtc_enum_mac_version, false, v, n);
}

static int s_lorawan_phy_version(row_t *r, const char *v, size_t n)
{
    return enum_setter(r, "lorawan_phy_version", &dtc_enum_phy_version, false, v, n);
}

static int s_rx1_delay(row_t *r, const char *v, size_t n)
{
    return enum_setter(r, "mac_settings.rx1_delay", &dtc_enum_rx_delay, true, v, n);
}

static int profile_id(row_t *r, const char *path, const char *v, size_t n)
{
    uint32_t x = 0;
    if (parse_u32(v, n, 16, &x) != 0)
        return -1;
    if (x != 0)
        set(r, path, json_integer(x));
    mark(r, path);
    return 0;
}

static int s_vendor_id(row_t *r, const char *v, size_t n)
{
    return profile_id(r, "lora_alliance_profile_ids.vendor_id", v, n);
}

static int s_vendor_profile_id(row_t *r, const char *v, size_t n)
{
    return profile_id(r, "lora_alliance_profile_ids.vendor_profile_id", v, n);
}

static int root_key(row_t *r, const char *path, const char *v, size_t n)
{
    json_t *j = hex_json(v, n, 16);
    if (j == NULL)
        return -1;
    set(r, path, j);
    set(r, "supports_join", json_true());
    mark(r, path);
    mark(r, "supports_join");
    return 0;
}

static int s_app_key(row_t *r, const char *v, size_t n)
{
    return root_key(r, "root_keys.app_key.key", v, n);
}

static int s_nwk_key(row_t *r, const char *v, size_t n)
{
    return root_key(r, "root_keys.nwk_key.key", v, n);
}

static int s_supports_32_bit_f_cnt(row_t *r, const char *v, size_t n)
{
    /* ttnpb.BoolValue's UnmarshalText: exactly "true" or "false" */
    if (!eq(v, n, "true") && !eq(v, n, "false"))
        return -1;
    set(r, "mac_settings.supports_32_bit_f_cnt", json_boolean(eq(v, n, "true")));
    mark(r, "mac_settings.supports_32_bit_f_cnt");
    return 0;
}

static int s_supports_class_c(row_t *r, const char *v, size_t n)
{
    /* strconv.ParseBool */
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (eq(v, n, t[i])) {
            set(r, "supports_class_c", json_true());
            mark(r, "supports_class_c");
            return 0;
        }
        if (eq(v, n, f[i])) {
            mark(r, "supports_class_c");
            return 0;
        }
    }
    return -1;
}

static int s_dev_addr(row_t *r, const char *v, size_t n)
{
    json_t *j = hex_json(v, n, 4);
    if (j == NULL)
        return -1;
    set(r, "session.dev_addr", j);
    mark(r, "session.dev_addr");
    return 0;
}

/* A ULID: 48 bits of milliseconds since the epoch, 80 random bits. */
json_t *dtc_session_key_id_new(void)
{
    uint8_t id[16];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    for (int i = 0; i < 6; i++)
        id[i] = (uint8_t)(ms >> (8 * (5 - i)));
    if (RAND_bytes(id + 6, 10) != 1)
        return NULL;
    char b64[32];
    EVP_EncodeBlock((unsigned char *)b64, id, sizeof id);
    return json_string(b64);
}

static int session_key(row_t *r, const char *path, const char *v, size_t n)
{
    json_t *j = hex_json(v, n, 16);
    if (j == NULL)
        return -1;
    json_t *keys = json_object_get(json_object_get(r->dev, "session"), "keys");
    if (keys == NULL) {
        json_t *id = dtc_session_key_id_new();
        if (id == NULL) {
            json_decref(j);
            return -1;
        }
        set(r, "session.keys.session_key_id", id);
    }
    set(r, path, j);
    mark(r, path);
    return 0;
}

static int s_app_s_key(row_t *r, const char *v, size_t n)
{
    return session_key(r, "session.keys.app_s_key.key", v, n);
}

static int s_f_nwk_s_int_key(row_t *r, const char *v, size_t n)
{
    return session_key(r, "session.keys.f_nwk_s_int_key.key", v, n);
}

static int counter(row_t *r, const char *path, const char *v, size_t n)
{
    uint32_t x = 0;
    if (parse_u32(v, n, 10, &x) != 0)
        return -1;
    if (json_object_get(r->dev, "session") == NULL)
        set(r, "session", json_object());
    if (x != 0)
        set(r, path, json_integer(x));
    mark(r, path);
    return 0;
}

static int s_last_f_cnt_up(row_t *r, const char *v, size_t n)
{
    return counter(r, "session.last_f_cnt_up", v, n);
}

static int s_last_n_f_cnt_down(row_t *r, const char *v, size_t n)
{
    return counter(r, "session.last_n_f_cnt_down", v, n);
}

static int s_last_a_f_cnt_down(row_t *r, const char *v, size_t n)
{
    return counter(r, "session.last_a_f_cnt_down", v, n);
}

static const struct {
    const char *column;
    setter_fn fn;
} setters[] = {
    {"id", s_id},
    {"dev_eui", s_dev_eui},
    {"join_eui", s_join_eui},
    {"app_eui", s_join_eui},
    {"name", s_name},
    {"description", s_description},
    {"frequency_plan_id", s_frequency_plan_id},
    {"lorawan_version", s_lorawan_version},
    {"lorawan_phy_version", s_lorawan_phy_version},
    {"brand_id", s_brand_id},
    {"model_id", s_model_id},
    {"hardware_version", s_hardware_version},
    {"firmware_version", s_firmware_version},
    {"band_id", s_band_id},
    {"vendor_id", s_vendor_id},
    {"vendor_profile_id", s_vendor_profile_id},
    {"app_key", s_app_key},
    {"nwk_key", s_nwk_key},
    {"rx1_delay", s_rx1_delay},
    {"supports_32_bit_f_cnt", s_supports_32_bit_f_cnt},
    {"dev_addr", s_dev_addr},
    {"app_s_key", s_app_s_key},
    {"f_nwk_s_int_key", s_f_nwk_s_int_key},
    {"last_f_cnt_up", s_last_f_cnt_up},
    {"last_n_f_cnt_down", s_last_n_f_cnt_down},
    {"last_a_f_cnt_down", s_last_a_f_cnt_down},
    {"supports_class_c", s_supports_class_c},
};

int dtc_tts_csv_header(dtc_tts_csv_t *t, const dtc_csv_record_t *r, lw_err_t *err)
{
    size_t known = 0;
    t->ncols = r->nfields;
    for (size_t i = 0; i < r->nfields; i++) {
        const char *v = (const char *)r->rec + r->off[i];
        size_t n = r->off[i + 1] - r->off[i];
        t->setter[i] = -1;
        for (size_t k = 0; k < sizeof setters / sizeof setters[0]; k++)
            if (eq(v, n, setters[k].column)) {
                t->setter[i] = (int)k;
                known++;
                break;
            }
    }
    t->header_done = true;
    if (known == 0)
        return lw_err_set(err, &lw_err_csv_header, "no known columns in CSV header");
    return 0;
}

json_t *dtc_tts_csv_record(const dtc_tts_csv_t *t, const dtc_csv_record_t *rec,
                           const json_t *version_ids, dtc_paths_t *paths, lw_err_t *err)
{
    row_t r = {.dev = json_object(), .paths = paths};
    json_object_set_new(r.dev, "ids", json_object());
    if (json_is_object(version_ids) && json_object_size(version_ids) > 0)
        json_object_set_new(r.dev, "version_ids", json_deep_copy(version_ids));
    for (size_t i = 0; i < rec->nfields && i < t->ncols; i++) {
        if (t->setter[i] < 0)
            continue;
        const char *v = (const char *)rec->rec + rec->off[i];
        size_t n = rec->off[i + 1] - rec->off[i];
        if (setters[t->setter[i]].fn(&r, v, n) != 0) {
            lw_err_set(err, &lw_err_parse_csv_field, "parse CSV field at line `%llu` column `%zu`",
                       (unsigned long long)rec->index, i + 1);
            lw_err_attr_num(err, "line", (long long)rec->index);
            lw_err_attr_num(err, "column", (long long)(i + 1));
            lw_err_attr(err, "field", setters[t->setter[i]].column);
            lw_err_attr_num(err, "file_line", (long long)rec->line);
            json_decref(r.dev);
            return NULL;
        }
    }
    if (!dtc_paths_has(paths, "ids.device_id") && dtc_paths_has(paths, "ids.dev_eui")) {
        const char *h =
            json_string_value(json_object_get(json_object_get(r.dev, "ids"), "dev_eui"));
        char id[24] = "eui-";
        for (size_t i = 0; h != NULL && h[i] != '\0' && i < 16; i++)
            id[4 + i] = (char)(h[i] >= 'A' && h[i] <= 'F' ? h[i] - 'A' + 'a' : h[i]);
        dtc_json_set_path(r.dev, "ids.device_id", json_string(id));
        dtc_paths_add(paths, "ids.device_id");
    }
    dtc_paths_sort(paths);
    return r.dev;
}
