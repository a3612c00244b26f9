/* The Application Server's device fields: The Things Stack's EndDevice JSON of the AS part
 * applied under a field mask (as_dev_apply: the AppSKey wrapped as at rest) and rendered
 * (as_dev_render), and the NsUp.as_device_changed that tells the device's worker. Shared by
 * the API (device.c) and the device part (devpart.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "as/as_private.h"
#include "cluster/uid.h"
#include "tenant/devparts.h"

/* TTS as.formatters.max-parameter-length default. */
#define AS_FORMATTER_PARAMETER_MAX 40960u

bool as_mask_names_session(const lw_api_mask_t *m)
{
    for (int i = 0; i < m->n; i++)
        if (strncmp(m->paths[i], "session", 7) == 0)
            return true;
    return false;
}

static json_t *session_render(const as_dev_view_t *op, const json_t *stored, const char *base)
{
    as_session_t s;
    lw_err_t e;
    if (as_session_from_json(op->as, stored, base, &s, &e) != 0)
        return NULL;
    char p[64];
    json_t *o = json_object();
#define W(sub) (snprintf(p, sizeof p, "%s." sub, base), lw_api_mask_selects(op->mask, p))
    if (W("dev_addr")) {
        char a[9];
        as_addr_text(s.dev_addr, a);
        json_object_set_new(o, "dev_addr", json_string(a));
    }
    if (W("keys")) {
        json_t *k = json_object();
        if (W("keys.session_key_id") && s.key_id_len > 0)
            json_object_set_new(k, "session_key_id", as_b64_json(s.key_id, s.key_id_len));
        if (op->keys && s.has_key && W("keys.app_s_key.key")) {
            char hex[33];
            static const char digits[] = "0123456789ABCDEF";
            for (int i = 0; i < 16; i++) {
                hex[2 * i] = digits[s.app_s_key[i] >> 4];
                hex[2 * i + 1] = digits[s.app_s_key[i] & 15];
            }
            hex[32] = '\0';
            json_object_set_new(k, "app_s_key", json_pack("{ss}", "key", hex));
            OPENSSL_cleanse(hex, sizeof hex);
        }
        json_object_set_new(o, "keys", k);
    }
    if (W("last_a_f_cnt_down") && s.has_f_cnt)
        json_object_set_new(o, "last_a_f_cnt_down", json_integer(s.last_a_f_cnt_down));
#undef W
    OPENSSL_cleanse(&s, sizeof s);
    return o;
}

/* Copies into out the parts of `from` the mask selects under `top`. */
void as_masked_copy(const lw_api_mask_t *mask, json_t *out, const json_t *from, const char *top)
{
    const json_t *v = json_object_get(from, top);
    if (v == NULL || json_is_null(v) || !lw_api_mask_selects(mask, top))
        return;
    if (!json_is_object(v)) {
        json_object_set(out, top, (json_t *)v);
        return;
    }
    json_t *o = json_object();
    const char *k;
    json_t *x;
    char p[LW_API_PATH_MAX * 2];
    json_object_foreach((json_t *)v, k, x)
    {
        snprintf(p, sizeof p, "%s.%s", top, k);
        if (lw_api_mask_selects(mask, p))
            json_object_set(o, k, x);
    }
    json_object_set_new(out, top, o);
}

json_t *as_dev_render(const as_dev_view_t *op, const PGresult *res, int row)
{
    json_t *device = json_loads(PQgetvalue(res, row, 0), 0, NULL);
    json_t *o = json_object();
    json_t *ids =
        json_pack("{ss s{ss}}", "device_id", op->dev, "application_ids", "application_id", op->app);
    const json_t *sids = json_object_get(device, "ids");
    const char *eui = json_string_value(json_object_get(sids, "dev_eui"));
    if (eui != NULL)
        json_object_set_new(ids, "dev_eui", json_string(eui));
    eui = json_string_value(json_object_get(sids, "join_eui"));
    if (eui != NULL)
        json_object_set_new(ids, "join_eui", json_string(eui));
    json_object_set_new(o, "ids", ids);
    json_object_set_new(o, "created_at", json_string(PQgetvalue(res, row, 3)));
    json_object_set_new(o, "updated_at", json_string(PQgetvalue(res, row, 4)));
    as_masked_copy(op->mask, o, device, "formatters");
    as_masked_copy(op->mask, o, device, "version_ids");
    as_masked_copy(op->mask, o, device, "skip_payload_crypto_override");
    static const char *const sess[2] = {"session", "pending_session"};
    for (int i = 0; i < 2; i++) {
        if (PQgetisnull(res, row, 1 + i) || !lw_api_mask_selects(op->mask, sess[i]))
            continue;
        json_t *s = json_loads(PQgetvalue(res, row, 1 + i), 0, NULL);
        json_t *r = s != NULL ? session_render(op, s, sess[i]) : NULL;
        if (r != NULL)
            json_object_set_new(o, sess[i], r);
        json_decref(s);
    }
    json_decref(device);
    return o;
}

int as_formatters_check(const json_t *f, const char *field, lw_err_t *err)
{
    if (f == NULL || json_is_null(f))
        return 0;
    char fld[96];
    if (!json_is_object(f))
        return lw_api_invalid(err, field, "an object expected");
    static const char *const keys[] = {"up_formatter", "up_formatter_parameter", "down_formatter",
                                       "down_formatter_parameter", NULL};
    if (lw_api_check_keys(f, keys, NULL, err) != 0)
        return -1;
    static const char *const types[2] = {"up_formatter", "down_formatter"};
    for (int i = 0; i < 2; i++) {
        const json_t *v = json_object_get(f, types[i]);
        as_fmt_type_t t;
        snprintf(fld, sizeof fld, "%s.%s", field, types[i]);
        if (v != NULL && !json_is_null(v) &&
            (!json_is_string(v) || as_fmt_type_parse(json_string_value(v), &t) != 0))
            return lw_api_invalid(err, fld,
                                  "FORMATTER_NONE, FORMATTER_REPOSITORY, "
                                  "FORMATTER_GRPC_SERVICE, FORMATTER_JAVASCRIPT or "
                                  "FORMATTER_CAYENNELPP expected");
        snprintf(fld, sizeof fld, "%s.%s_parameter", field, types[i]);
        v = json_object_get(f, strcmp(types[i], "up_formatter") == 0 ? "up_formatter_parameter"
                                                                     : "down_formatter_parameter");
        if (v != NULL && !json_is_null(v) &&
            (!json_is_string(v) || json_string_length(v) > AS_FORMATTER_PARAMETER_MAX))
            return lw_api_invalid(err, fld, "a string of at most %u bytes expected",
                                  AS_FORMATTER_PARAMETER_MAX);
    }
    return 0;
}

int as_dev_apply(const as_dev_view_t *op, json_t *device, json_t **session, bool *session_set,
                 lw_err_t *err)
{
    const json_t *b = op->body;
    uint64_t eui;
    const json_t *ids = json_object_get(b, "ids");
    static const char *const euis[2] = {"dev_eui", "join_eui"};
    for (int i = 0; i < 2; i++) {
        const json_t *v = json_object_get(ids, euis[i]);
        char f[32];
        snprintf(f, sizeof f, "ids.%s", euis[i]);
        if (v != NULL && !json_is_null(v)) {
            if (!json_is_string(v) || as_eui_parse(json_string_value(v), &eui) != 0)
                return lw_api_invalid(err, f, "16 hex digits expected");
            char t[17];
            as_eui_text(eui, t);
            json_t *sids = json_object_get(device, "ids");
            if (!json_is_object(sids)) {
                sids = json_object();
                json_object_set_new(device, "ids", sids);
            }
            json_object_set_new(sids, euis[i], json_string(t));
        }
    }
    if (as_formatters_check(json_object_get(b, "formatters"), "formatters", err) != 0)
        return -1;
    const json_t *vi = json_object_get(b, "version_ids");
    if (vi != NULL && !json_is_null(vi)) {
        static const char *const keys[] = {"brand_id",         "model_id", "hardware_version",
                                           "firmware_version", "band_id",  NULL};
        if (!json_is_object(vi))
            return lw_api_invalid(err, "version_ids", "an object expected");
        if (lw_api_check_keys(vi, keys, NULL, err) != 0)
            return -1;
    }
    const json_t *sk = json_object_get(b, "skip_payload_crypto_override");
    if (sk != NULL && !json_is_null(sk) && !json_is_boolean(sk))
        return lw_api_invalid(err, "skip_payload_crypto_override", "a boolean expected");
    for (int i = 0; i < op->mask->n; i++) {
        const char *p = op->mask->paths[i];
        if (strncmp(p, "formatters", 10) == 0 || strncmp(p, "version_ids", 11) == 0 ||
            strcmp(p, "skip_payload_crypto_override") == 0)
            tn_devpart_copy(device, b, p);
        else if (strncmp(p, "pending_session", 15) == 0)
            return lw_api_invalid(err, "field_mask", "`%s` cannot be set", p);
    }
    if (as_mask_names_session(op->mask)) {
        *session_set = true;
        const json_t *s = json_object_get(b, "session");
        if (s != NULL && !json_is_null(s)) {
            as_session_t as_s;
            if (as_session_from_json(op->as, s, "session", &as_s, err) != 0)
                return -1;
            *session = as_session_to_rest(op->as, &as_s);
            OPENSSL_cleanse(&as_s, sizeof as_s);
        }
    }
    return 0;
}

int as_device_changed_encode(const char *tenant, const char *app, const char *dev, bool deleted,
                             uint8_t *buf, size_t cap, size_t *len)
{
    Lw__Msg__NsUp up = LW__MSG__NS_UP__INIT;
    Lw__Msg__Envelope env;
    uint8_t id[LW_UID_LEN];
    as_envelope_new(&env, id, tenant);
    Lw__Msg__EndDeviceIdentifiers ids = LW__MSG__END_DEVICE_IDENTIFIERS__INIT;
    Lw__Msg__ApplicationIdentifiers a = LW__MSG__APPLICATION_IDENTIFIERS__INIT;
    a.application_id = (char *)app;
    ids.device_id = (char *)dev;
    ids.application_ids = &a;
    Lw__Msg__AsDeviceChanged ch = LW__MSG__AS_DEVICE_CHANGED__INIT;
    ch.deleted = deleted;
    up.envelope = &env;
    up.end_device_ids = &ids;
    up.up_case = LW__MSG__NS_UP__UP_AS_DEVICE_CHANGED;
    up.as_device_changed = &ch;
    return lw_msg_ns_up_encode(&up, buf, cap, len);
}
