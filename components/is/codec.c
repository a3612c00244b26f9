/* Entities as JSON: The Things Stack's field names, per-field validation naming the field,
 * field masks, zero values omitted, EUIs, pagination and ordering. Pure code. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "is/is_private.h"

/* ---- field tables ------------------------------------------------------------------------ */

static const char *const user_states[] = {"STATE_REQUESTED", "STATE_APPROVED",  "STATE_REJECTED",
                                          "STATE_FLAGGED",   "STATE_SUSPENDED", NULL};
static const char *const placements[] = {"PLACEMENT_UNKNOWN", "INDOOR", "OUTDOOR", NULL};
static const char *const loc_sources[] = {"SOURCE_UNKNOWN",
                                          "SOURCE_GPS",
                                          "SOURCE_REGISTRY",
                                          "SOURCE_IP_GEOLOCATION",
                                          "SOURCE_WIFI_RSSI_GEOLOCATION",
                                          "SOURCE_BT_RSSI_GEOLOCATION",
                                          "SOURCE_LORA_RSSI_GEOLOCATION",
                                          "SOURCE_LORA_TDOA_GEOLOCATION",
                                          "SOURCE_COMBINED_GEOLOCATION",
                                          NULL};
static const char *const dl_constraints[] = {"DOWNLINK_PATH_CONSTRAINT_NONE",
                                             "DOWNLINK_PATH_CONSTRAINT_PREFER_OTHER",
                                             "DOWNLINK_PATH_CONSTRAINT_NEVER", NULL};
static const char *const mac_versions[] = {"MAC_UNKNOWN", "MAC_V1_0",   "MAC_V1_0_1", "MAC_V1_0_2",
                                           "MAC_V1_1",    "MAC_V1_0_3", "MAC_V1_0_4", NULL};
static const char *const phy_versions[] = {
    "PHY_UNKNOWN",      "PHY_V1_0",         "TS001_V1_0",
    "PHY_V1_0_1",       "TS001_V1_0_1",     "PHY_V1_0_2_REV_A",
    "RP001_V1_0_2",     "PHY_V1_0_2_REV_B", "RP001_V1_0_2_REV_B",
    "PHY_V1_1_REV_A",   "RP001_V1_1_REV_A", "PHY_V1_1_REV_B",
    "RP001_V1_1_REV_B", "PHY_V1_0_3_REV_A", "RP001_V1_0_3_REV_A",
    "RP002_V1_0_0",     "RP002_V1_0_1",     "RP002_V1_0_2",
    "RP002_V1_0_3",     "RP002_V1_0_4",     NULL};

#define F_STR(n, len)                                                                              \
    {                                                                                              \
        .name = n, .type = IS_FT_STRING, .max = len                                                \
    }
#define F_BOOL(n)                                                                                  \
    {                                                                                              \
        .name = n, .type = IS_FT_BOOL                                                              \
    }
#define F_ATTRS(n)                                                                                 \
    {                                                                                              \
        .name = n, .type = IS_FT_ATTRS, .max = 10                                                  \
    }
#define F_ENUM(n, c)                                                                               \
    {                                                                                              \
        .name = n, .type = IS_FT_ENUM, .choices = c                                                \
    }
#define F_ADDR(n)                                                                                  \
    {                                                                                              \
        .name = n, .type = IS_FT_ADDRESS, .max = 256                                               \
    }
#define F_OBJ(n, s)                                                                                \
    {                                                                                              \
        .name = n, .type = IS_FT_OBJECT, .sub = s, .nsub = sizeof s / sizeof s[0]                  \
    }
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const is_field_t location_fields[] = {
    {.name = "latitude", .type = IS_FT_NUMBER, .min = -90, .max = 90},
    {.name = "longitude", .type = IS_FT_NUMBER, .min = -180, .max = 180},
    {.name = "altitude", .type = IS_FT_NUMBER, .min = -100000, .max = 100000},
    {.name = "accuracy", .type = IS_FT_NUMBER, .min = 0, .max = 100000000},
    F_ENUM("source", loc_sources),
};

static const is_field_t antenna_fields[] = {
    {.name = "gain", .type = IS_FT_NUMBER, .min = -100, .max = 100},
    F_OBJ("location", location_fields),
    F_ATTRS("attributes"),
    F_ENUM("placement", placements),
};

static const is_field_t gw_version_fields[] = {
    F_STR("brand_id", 36), F_STR("model_id", 36), F_STR("hardware_version", 32),
    F_STR("firmware_version", 32), F_STR("runtime_version", 32)};

static const is_field_t dev_version_fields[] = {
    F_STR("brand_id", 36), F_STR("model_id", 36), F_STR("hardware_version", 32),
    F_STR("firmware_version", 32), F_STR("band_id", 32)};

static const is_field_t profile_fields[] = {
    {.name = "vendor_id", .type = IS_FT_UINT, .max = 4294967295.0},
    {.name = "vendor_profile_id", .type = IS_FT_UINT, .max = 4294967295.0},
};

static const is_field_t user_fields[] = {
    F_STR("name", 50),
    F_STR("description", 2000),
    F_ATTRS("attributes"),
    {.name = "primary_email_address", .type = IS_FT_EMAIL, .max = 256},
    {.name = "state", .type = IS_FT_ENUM, .choices = user_states, .flags = IS_F_ADMIN},
    {.name = "state_description", .type = IS_FT_STRING, .max = 128, .flags = IS_F_ADMIN},
    {.name = "admin", .type = IS_FT_BOOL, .flags = IS_F_ADMIN},
    {.name = "password",
     .type = IS_FT_STRING,
     .max = 1000,
     .flags = IS_F_CREATE_ONLY | IS_F_HIDDEN},
    F_BOOL("require_password_update"),
};

static const is_field_t org_fields[] = {
    F_STR("name", 50),
    F_STR("description", 2000),
    F_ATTRS("attributes"),
};

static const is_field_t app_fields[] = {
    F_STR("name", 50),
    F_STR("description", 2000),
    F_ATTRS("attributes"),
    F_ADDR("network_server_address"),
    F_ADDR("application_server_address"),
    F_ADDR("join_server_address"),
};

static const is_field_t gw_fields[] = {
    F_STR("name", 50),
    F_STR("description", 2000),
    F_ATTRS("attributes"),
    F_OBJ("version_ids", gw_version_fields),
    F_ADDR("gateway_server_address"),
    F_BOOL("auto_update"),
    F_STR("update_channel", 128),
    F_STR("frequency_plan_id", 64),
    {.name = "frequency_plan_ids", .type = IS_FT_STRLIST, .max = 8},
    {.name = "antennas",
     .type = IS_FT_OBJLIST,
     .max = 8,
     .sub = antenna_fields,
     .nsub = NELEM(antenna_fields)},
    F_BOOL("status_public"),
    F_BOOL("location_public"),
    F_BOOL("schedule_downlink_late"),
    F_BOOL("enforce_duty_cycle"),
    F_ENUM("downlink_path_constraint", dl_constraints),
    {.name = "schedule_anytime_delay", .type = IS_FT_DURATION},
    F_BOOL("update_location_from_status"),
    F_BOOL("require_authenticated_connection"),
    F_BOOL("disable_packet_broker_forwarding"),
};

static const is_field_t dev_fields[] = {
    F_STR("name", 50),
    F_STR("description", 2000),
    F_ATTRS("attributes"),
    F_OBJ("version_ids", dev_version_fields),
    F_ADDR("network_server_address"),
    F_ADDR("application_server_address"),
    F_ADDR("join_server_address"),
    F_STR("frequency_plan_id", 64),
    F_ENUM("lorawan_version", mac_versions),
    F_ENUM("lorawan_phy_version", phy_versions),
    F_BOOL("supports_class_b"),
    F_BOOL("supports_class_c"),
    F_BOOL("supports_join"),
    F_STR("serial_number", 64),
    {.name = "locations", .type = IS_FT_OBJECT}, /* map of named locations, checked below */
    F_OBJ("lora_alliance_profile_ids", profile_fields),
};

const is_kind_t is_kind_user = {
    IS_ENT_USER, false,     "user",         "user",      "users",
    "users",     "user_id", TN_LIMIT_USERS, user_fields, NELEM(user_fields)};
const is_kind_t is_kind_org = {IS_ENT_ORG,        false,
                               "organization",    "organization",
                               "organizations",   "organizations",
                               "organization_id", TN_LIMIT_ORGANIZATIONS,
                               org_fields,        NELEM(org_fields)};
const is_kind_t is_kind_app = {IS_ENT_APP,       false,
                               "application",    "application",
                               "applications",   "applications",
                               "application_id", TN_LIMIT_APPLICATIONS,
                               app_fields,       NELEM(app_fields)};
const is_kind_t is_kind_gw = {IS_ENT_GW,  false,           "gateway",    "gateway",
                              "gateways", "gateways",      "gateway_id", TN_LIMIT_GATEWAYS,
                              gw_fields,  NELEM(gw_fields)};
const is_kind_t is_kind_dev = {
    IS_ENT_APP,    true,        "end device",         "end_device", "devices",
    "end_devices", "device_id", TN_LIMIT_END_DEVICES, dev_fields,   NELEM(dev_fields)};

/* ---- EUIs -------------------------------------------------------------------------------- */

int is_eui_parse(const char *s, uint64_t *out)
{
    if (s == NULL || strlen(s) != 16)
        return -1;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = (v << 4) | (uint64_t)d;
    }
    *out = v;
    return 0;
}

void is_eui_format(uint64_t eui, char out[17])
{
    snprintf(out, 17, "%016llX", (unsigned long long)eui);
}

/* ---- values ------------------------------------------------------------------------------ */

static bool id_like(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 36)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static bool address_ok(const char *s)
{
    if (*s == '\0')
        return true;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!(isalnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_'))
            return false;
    }
    return true;
}

static bool email_ok(const char *s)
{
    const char *at = strchr(s, '@');
    if (at == NULL || at == s || strchr(at + 1, '@') != NULL || strchr(at, '.') == NULL)
        return false;
    for (const char *p = s; *p; p++)
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
            return false;
    return at[1] != '.' && s[strlen(s) - 1] != '.';
}

static bool duration_ok(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    return end != s && strcmp(end, "s") == 0 && v >= 0 && isfinite(v);
}

/* Is v the zero value of field f (omitted in output, cleared in storage)? */
static bool value_zero(const is_field_t *f, const json_t *v)
{
    if (v == NULL || json_is_null(v))
        return true;
    switch (f->type) {
    case IS_FT_BOOL:
        return json_is_false(v);
    case IS_FT_ENUM:
        return json_is_string(v) && strcmp(json_string_value(v), f->choices[0]) == 0;
    case IS_FT_NUMBER:
    case IS_FT_UINT:
        return json_is_number(v) && json_number_value(v) == 0;
    case IS_FT_ATTRS:
    case IS_FT_OBJECT:
        return json_is_object(v) && json_object_size(v) == 0;
    case IS_FT_STRLIST:
    case IS_FT_OBJLIST:
        return json_is_array(v) && json_array_size(v) == 0;
    default:
        return json_is_string(v) && json_string_length(v) == 0;
    }
}

static int check_fields(const is_field_t *fields, size_t n, json_t *obj, const char *prefix,
                        bool create, json_t *out, lw_err_t *err);

/* Strings, e-mail addresses, host[:port] addresses, durations and RFC 3339 times. */
static int check_string(const is_field_t *f, json_t *v, const char *path, lw_err_t *err)
{
    if (!json_is_string(v))
        return lw_api_invalid(err, path, "must be a string");
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (strlen(s) != len)
        return lw_api_invalid(err, path, "contains NUL");
    if (f->max > 0 && (double)len > f->max)
        return lw_api_invalid(err, path, "longer than %.0f characters", f->max);
    if (f->type == IS_FT_EMAIL && len > 0 && !email_ok(s))
        return lw_api_invalid(err, path, "not an email address");
    if (f->type == IS_FT_ADDRESS && !address_ok(s))
        return lw_api_invalid(err, path, "not a host[:port] address");
    if (f->type == IS_FT_DURATION && len > 0 && !duration_ok(s))
        return lw_api_invalid(err, path, "not a duration like \"1.5s\"");
    if (f->type == IS_FT_TIME && len > 0 && !lw_api_time_valid(s))
        return lw_api_invalid(err, path, "not an RFC 3339 timestamp");
    return 0;
}

static int check_enum(const is_field_t *f, json_t *v, const char *path, lw_err_t *err)
{
    if (json_is_string(v))
        for (const char *const *c = f->choices; *c != NULL; c++)
            if (strcmp(*c, json_string_value(v)) == 0)
                return 0;
    return lw_api_invalid(err, path, "unknown value");
}

static int check_number(const is_field_t *f, json_t *v, const char *path, lw_err_t *err)
{
    if (!json_is_number(v))
        return lw_api_invalid(err, path, "must be a number");
    double d = json_number_value(v);
    double lo = f->type == IS_FT_UINT ? 0 : f->min;
    if (!isfinite(d) || d < lo || d > f->max || (f->type == IS_FT_UINT && !json_is_integer(v)))
        return lw_api_invalid(err, path, "out of range");
    return 0;
}

/* Attributes: ID-like keys, strings of at most 200 characters. */
static int check_attrs(const is_field_t *f, json_t *v, const char *path, lw_err_t *err)
{
    if (!json_is_object(v))
        return lw_api_invalid(err, path, "must be an object");
    if ((double)json_object_size(v) > f->max)
        return lw_api_invalid(err, path, "more than %.0f attributes", f->max);
    const char *k;
    json_t *av;
    json_object_foreach(v, k, av)
    {
        char sub[160];
        snprintf(sub, sizeof sub, "%.120s.%s", path, k);
        if (!id_like(k))
            return lw_api_invalid(err, path, "invalid key `%.36s`", k);
        if (!json_is_string(av) || json_string_length(av) > 200)
            return lw_api_invalid(err, sub, "must be a string of at most 200 characters");
    }
    return 0;
}

static int check_strlist(const is_field_t *f, json_t *v, const char *path, lw_err_t *err)
{
    if (!json_is_array(v))
        return lw_api_invalid(err, path, "must be an array");
    if ((double)json_array_size(v) > f->max)
        return lw_api_invalid(err, path, "more than %.0f items", f->max);
    size_t i;
    json_t *iv;
    json_array_foreach(v, i, iv)
    {
        if (!json_is_string(iv) || json_string_length(iv) == 0 || json_string_length(iv) > 64) {
            char sub[160];
            snprintf(sub, sizeof sub, "%.120s[%zu]", path, i);
            return lw_api_invalid(err, sub, "must be a non-empty string");
        }
    }
    return 0;
}

/* A free-form map of named locations (end device locations). Nothing is normalised. */
static int check_locations(json_t *v, const char *path, bool create, lw_err_t *err)
{
    const char *k;
    json_t *lv;
    json_object_foreach(v, k, lv)
    {
        char sub[160];
        snprintf(sub, sizeof sub, "%.120s.%s", path, k);
        if (!id_like(k))
            return lw_api_invalid(err, path, "invalid key");
        json_t *tmp = json_object();
        int rc = check_fields(location_fields, NELEM(location_fields), lv, sub, create, tmp, err);
        json_decref(tmp);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* An object with sub-fields: *norm gets its non-zero sub-fields (NULL when none). */
static int check_object(const is_field_t *f, json_t *v, const char *path, bool create,
                        json_t **norm, lw_err_t *err)
{
    if (!json_is_object(v))
        return lw_api_invalid(err, path, "must be an object");
    if (f->sub == NULL) {
        if (check_locations(v, path, create, err) != 0)
            return -1;
        if (!value_zero(f, v))
            *norm = json_incref(v);
        return 0;
    }
    json_t *o = json_object();
    if (check_fields(f->sub, f->nsub, v, path, create, o, err) != 0) {
        json_decref(o);
        return -1;
    }
    if (json_object_size(o) > 0)
        *norm = o;
    else
        json_decref(o);
    return 0;
}

/* An array of objects with sub-fields: *norm gets them normalised (NULL when empty). */
static int check_objlist(const is_field_t *f, json_t *v, const char *path, bool create,
                         json_t **norm, lw_err_t *err)
{
    if (!json_is_array(v))
        return lw_api_invalid(err, path, "must be an array");
    if ((double)json_array_size(v) > f->max)
        return lw_api_invalid(err, path, "more than %.0f items", f->max);
    json_t *arr = json_array();
    size_t i;
    json_t *iv;
    json_array_foreach(v, i, iv)
    {
        char sub[160];
        snprintf(sub, sizeof sub, "%.120s[%zu]", path, i);
        json_t *o = json_object();
        if (check_fields(f->sub, f->nsub, iv, sub, create, o, err) != 0) {
            json_decref(o);
            json_decref(arr);
            return -1;
        }
        json_array_append_new(arr, o);
    }
    if (json_array_size(arr) > 0)
        *norm = arr;
    else
        json_decref(arr);
    return 0;
}

/* Validates v as field f at `path`; *norm receives the value to store (new reference, NULL
 * for zero). */
static int check_value(const is_field_t *f, json_t *v, const char *path, bool create, json_t **norm,
                       lw_err_t *err)
{
    *norm = NULL;
    if (json_is_null(v))
        return 0;
    int rc;
    switch (f->type) {
    case IS_FT_OBJECT:
        return check_object(f, v, path, create, norm, err);
    case IS_FT_OBJLIST:
        return check_objlist(f, v, path, create, norm, err);
    case IS_FT_BOOL:
        rc = json_is_boolean(v) ? 0 : lw_api_invalid(err, path, "must be true or false");
        break;
    case IS_FT_ENUM:
        rc = check_enum(f, v, path, err);
        break;
    case IS_FT_NUMBER:
    case IS_FT_UINT:
        rc = check_number(f, v, path, err);
        break;
    case IS_FT_ATTRS:
        rc = check_attrs(f, v, path, err);
        break;
    case IS_FT_STRLIST:
        rc = check_strlist(f, v, path, err);
        break;
    default: /* strings, e-mail, addresses, durations, times */
        rc = check_string(f, v, path, err);
        break;
    }
    if (rc == 0 && !value_zero(f, v))
        *norm = json_incref(v);
    return rc;
}

static const is_field_t *field_find(const is_field_t *fields, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

static int check_fields(const is_field_t *fields, size_t n, json_t *obj, const char *prefix,
                        bool create, json_t *out, lw_err_t *err)
{
    if (!json_is_object(obj))
        return lw_api_invalid(err, prefix, "must be an object");
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        char path[192];
        snprintf(path, sizeof path, "%.120s.%s", prefix, k);
        const is_field_t *f = field_find(fields, n, k);
        if (f == NULL)
            return lw_api_unknown(err, path);
        if ((f->flags & IS_F_CREATE_ONLY) && !create)
            return lw_api_invalid(err, path, "can only be set at creation");
        json_t *norm;
        if (check_value(f, v, path, create, &norm, err) != 0)
            return -1;
        if (norm != NULL)
            json_object_set_new(out, k, norm);
    }
    return 0;
}

/* ---- identifiers ------------------------------------------------------------------------- */

static int ids_eui(json_t *ids, const char *key, const char *path, bool *has, uint64_t *out,
                   lw_err_t *err)
{
    json_t *v = json_object_get(ids, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v) || is_eui_parse(json_string_value(v), out) != 0)
        return lw_api_invalid(err, path, "must be 16 hexadecimal digits");
    *has = true;
    return 0;
}

static int ids_id(json_t *ids, const char *key, const char *path, size_t min_len, char *out,
                  lw_err_t *err)
{
    json_t *v = json_object_get(ids, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return lw_api_invalid(err, path, "must be a string");
    if (tn_id_validate(json_string_value(v), min_len, path, err) != 0)
        return -1;
    snprintf(out, TN_ID_MAX + 1, "%s", json_string_value(v));
    return 0;
}

static int decode_ids(const is_kind_t *k, json_t *ids, const char *prefix, is_ids_t *out,
                      lw_err_t *err)
{
    char path[192];
    if (!json_is_object(ids))
        return lw_api_invalid(err, prefix, "must be an object");
    const char *key;
    json_t *v;
    json_object_foreach(ids, key, v)
    {
        snprintf(path, sizeof path, "%.120s.%s", prefix, key);
        bool known = strcmp(key, k->id_field) == 0;
        if (k == &is_kind_gw && strcmp(key, "eui") == 0)
            known = true;
        if (k == &is_kind_user && strcmp(key, "email") == 0)
            known = true;
        if (k->device && (strcmp(key, "application_ids") == 0 || strcmp(key, "dev_eui") == 0 ||
                          strcmp(key, "join_eui") == 0 || strcmp(key, "dev_addr") == 0))
            known = true;
        if (!known)
            return lw_api_unknown(err, path);
    }
    snprintf(path, sizeof path, "%.120s.%s", prefix, k->id_field);
    if (ids_id(ids, k->id_field, path, k == &is_kind_user ? 2 : 3, out->id, err) != 0)
        return -1;
    if (k == &is_kind_gw) {
        snprintf(path, sizeof path, "%.120s.eui", prefix);
        if (ids_eui(ids, "eui", path, &out->has_eui, &out->eui, err) != 0)
            return -1;
    }
    if (k->device) {
        snprintf(path, sizeof path, "%.120s.dev_eui", prefix);
        if (ids_eui(ids, "dev_eui", path, &out->has_dev_eui, &out->dev_eui, err) != 0)
            return -1;
        snprintf(path, sizeof path, "%.120s.join_eui", prefix);
        if (ids_eui(ids, "join_eui", path, &out->has_join_eui, &out->join_eui, err) != 0)
            return -1;
        json_t *da = json_object_get(ids, "dev_addr");
        snprintf(path, sizeof path, "%.120s.dev_addr", prefix);
        if (da != NULL && !json_is_null(da)) {
            const char *s = json_string_value(da);
            bool ok = s != NULL && strlen(s) == 8 && strspn(s, "0123456789abcdefABCDEF") == 8;
            if (!ok)
                return lw_api_invalid(err, path, "must be 8 hexadecimal digits");
        }
        json_t *app = json_object_get(ids, "application_ids");
        if (app != NULL && !json_is_null(app)) {
            snprintf(path, sizeof path, "%.120s.application_ids", prefix);
            if (!json_is_object(app))
                return lw_api_invalid(err, path, "must be an object");
            json_object_foreach(app, key, v)
            {
                if (strcmp(key, "application_id") != 0) {
                    snprintf(path, sizeof path, "%.120s.application_ids.%s", prefix, key);
                    return lw_api_unknown(err, path);
                }
            }
            snprintf(path, sizeof path, "%.120s.application_ids.application_id", prefix);
            if (ids_id(app, "application_id", path, 3, out->app_id, err) != 0)
                return -1;
        }
    }
    return 0;
}

int is_entity_decode(const is_kind_t *k, json_t *obj, const char *prefix, bool create,
                     is_ids_t *ids, json_t **data, lw_err_t *err)
{
    memset(ids, 0, sizeof *ids);
    *data = NULL;
    if (obj == NULL || !json_is_object(obj))
        return lw_api_invalid(err, prefix, "must be an object");
    json_t *out = json_object();
    const char *key;
    json_t *v;
    char path[192];
    json_object_foreach(obj, key, v)
    {
        snprintf(path, sizeof path, "%.120s.%s", prefix, key);
        if (strcmp(key, "ids") == 0) {
            if (decode_ids(k, v, path, ids, err) != 0)
                goto fail;
            continue;
        }
        /* Read-only fields a client may echo back; ignored as The Things Stack does. */
        if (strcmp(key, "created_at") == 0 || strcmp(key, "updated_at") == 0 ||
            strcmp(key, "deleted_at") == 0)
            continue;
        const is_field_t *f = field_find(k->fields, k->nfields, key);
        if (f == NULL) {
            lw_api_unknown(err, path);
            goto fail;
        }
        if ((f->flags & IS_F_CREATE_ONLY) && !create) {
            lw_api_invalid(err, path, "can only be set at creation");
            goto fail;
        }
        json_t *norm;
        if (check_value(f, v, path, create, &norm, err) != 0)
            goto fail;
        if (norm != NULL)
            json_object_set_new(out, key, norm);
    }
    if (create && ids->id[0] == '\0') {
        snprintf(path, sizeof path, "%.120s.ids.%s", prefix, k->id_field);
        lw_api_invalid(err, path, "missing");
        goto fail;
    }
    *data = out;
    return 0;
fail:
    json_decref(out);
    return -1;
}

/* ---- field masks ------------------------------------------------------------------------- */

/* A path a mask may name: a renderable field of the kind, or one sub-field of an object
 * field ("version_ids.brand_id"). */
static bool mask_path_known(const void *arg, const char *path);

bool is_mask_path_known(const is_kind_t *k, const char *path)
{
    return mask_path_known(k, path);
}

static bool mask_path_known(const void *arg, const char *path)
{
    const is_kind_t *k = arg;
    char top[LW_API_PATH_MAX];
    const char *dot = strchr(path, '.');
    size_t tl = dot != NULL ? (size_t)(dot - path) : strlen(path);
    if (tl >= sizeof top)
        return false;
    memcpy(top, path, tl);
    top[tl] = '\0';
    const is_field_t *f = field_find(k->fields, k->nfields, top);
    if (f == NULL || (f->flags & IS_F_HIDDEN))
        return false;
    return dot == NULL ||
           (f->type == IS_FT_OBJECT && f->sub != NULL && field_find(f->sub, f->nsub, dot + 1));
}

int is_mask_parse_csv(const is_kind_t *k, const char *csv, const char *field, is_mask_t *m,
                      lw_err_t *err)
{
    const lw_api_fields_t f = {.known = mask_path_known, .arg = k};
    return lw_api_mask_parse_csv(&f, csv, field, m, err);
}

int is_mask_parse_json(const is_kind_t *k, const json_t *fm, const char *field, is_mask_t *m,
                       lw_err_t *err)
{
    const lw_api_fields_t f = {.known = mask_path_known, .arg = k};
    return lw_api_mask_parse_json(&f, fm, field, m, err);
}

void is_mask_all(const is_kind_t *k, is_mask_t *m)
{
    m->n = 0;
    for (size_t i = 0; i < k->nfields && m->n < IS_MASK_MAX; i++)
        if (!(k->fields[i].flags & IS_F_HIDDEN))
            snprintf(m->paths[m->n++], sizeof m->paths[0], "%s", k->fields[i].name);
}

bool is_mask_has(const is_mask_t *m, const char *path)
{
    return lw_api_mask_has(m, path);
}

/* ---- rendering and updates --------------------------------------------------------------- */

json_t *is_entity_render(const is_kind_t *k, json_t *ids, const char *created_at,
                         const char *updated_at, const char *deleted_at, const json_t *full,
                         const is_mask_t *mask)
{
    json_t *o = json_object();
    json_object_set_new(o, "ids", ids);
    if (created_at != NULL && *created_at)
        json_object_set_new(o, "created_at", json_string(created_at));
    if (updated_at != NULL && *updated_at)
        json_object_set_new(o, "updated_at", json_string(updated_at));
    if (deleted_at != NULL && *deleted_at)
        json_object_set_new(o, "deleted_at", json_string(deleted_at));
    if (full == NULL || mask == NULL)
        return o;
    for (int i = 0; i < mask->n; i++) {
        const char *path = mask->paths[i];
        const char *dot = strchr(path, '.');
        if (dot == NULL) {
            const is_field_t *f = field_find(k->fields, k->nfields, path);
            json_t *v = json_object_get(full, path);
            if (f != NULL && !(f->flags & IS_F_HIDDEN) && v != NULL && !value_zero(f, v))
                json_object_set(o, path, v);
            continue;
        }
        char top[64];
        size_t tl = (size_t)(dot - path);
        memcpy(top, path, tl);
        top[tl] = '\0';
        json_t *parent = json_object_get(full, top);
        json_t *v = parent ? json_object_get(parent, dot + 1) : NULL;
        if (v == NULL || json_is_null(v))
            continue;
        json_t *dst = json_object_get(o, top);
        if (dst == NULL) {
            dst = json_object();
            json_object_set_new(o, top, dst);
        }
        json_object_set(dst, dot + 1, v);
    }
    return o;
}

int is_entity_apply(const is_kind_t *k, json_t *dst, const json_t *src, const is_mask_t *mask,
                    lw_err_t *err)
{
    for (int i = 0; i < mask->n; i++) {
        const char *path = mask->paths[i];
        const char *dot = strchr(path, '.');
        char top[64];
        size_t tl = dot ? (size_t)(dot - path) : strlen(path);
        memcpy(top, path, tl);
        top[tl] = '\0';
        const is_field_t *f = field_find(k->fields, k->nfields, top);
        if (f == NULL)
            continue;
        if (f->flags & IS_F_CREATE_ONLY) {
            lw_err_set(err, &lw_err_invalid_field,
                       "invalid `field_mask`: `%s` can only be set at creation", top);
            lw_err_attr(err, "field", "field_mask");
            return -1;
        }
        json_t *sv = json_object_get(src, top);
        if (dot == NULL) {
            if (sv == NULL)
                json_object_del(dst, top);
            else
                json_object_set(dst, top, sv);
            continue;
        }
        json_t *leaf = sv ? json_object_get(sv, dot + 1) : NULL;
        json_t *dparent = json_object_get(dst, top);
        if (leaf == NULL) {
            if (dparent != NULL) {
                json_object_del(dparent, dot + 1);
                if (json_object_size(dparent) == 0)
                    json_object_del(dst, top);
            }
            continue;
        }
        if (dparent == NULL || !json_is_object(dparent)) {
            dparent = json_object();
            json_object_set_new(dst, top, dparent);
        }
        json_object_set(dparent, dot + 1, leaf);
    }
    return 0;
}

/* ---- pagination -------------------------------------------------------------------------- */

int is_page_parse(const is_kind_t *k, const char *limit, const char *page, const char *order,
                  is_page_t *p, lw_err_t *err)
{
    lw_api_page_t pg;
    if (lw_api_page_parse(limit, page, IS_PAGE_MAX, &pg, err) != 0)
        return -1;
    p->limit = pg.limit;
    p->page = pg.page;
    char id_asc[64], id_desc[64];
    snprintf(id_asc, sizeof id_asc, "%s ASC", k->id_field);
    snprintf(id_desc, sizeof id_desc, "%s DESC", k->id_field);
    const lw_api_order_t orders[] = {
        {k->id_field, id_asc, id_desc},
        {"created_at", "created_at ASC", "created_at DESC"},
        {"updated_at", "updated_at ASC", "updated_at DESC"},
        {"name", "data->>'name' ASC NULLS FIRST", "data->>'name' DESC NULLS FIRST"},
    };
    const char *sql;
    if (lw_api_order_parse(order, orders, sizeof orders / sizeof orders[0], &sql, err) != 0)
        return -1;
    snprintf(p->order_sql, sizeof p->order_sql, "%s", sql);
    return 0;
}
