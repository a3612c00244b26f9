/* The Network Server's device fields: The Things Stack's EndDevice JSON of the NS part
 * applied under a field mask to the settings and state (ns_dev_apply) and rendered back
 * (ns_dev_render). Shared by the API (api.c) and the device part (devpart.c). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cluster/hex.h"
#include "cluster/mem.h"
#include "ns.pb-c.h"
#include "ns/ns_private.h"

/* ---- rendering --------------------------------------------------------------------------- */

static json_t *hex_json(const uint8_t *b, size_t n)
{
    char h[2 * 64 + 1];
    lw_hex_encode(b, n, h);
    for (char *c = h; *c != '\0'; c++)
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 'a' + 'A');
    return json_string(h);
}

static json_t *b64_json(const uint8_t *b, size_t n)
{
    char out[4 * ((NS_KEY_ID_MAX + 2) / 3) + 1];
    EVP_EncodeBlock((unsigned char *)out, b, (int)n);
    return json_string(out);
}

static json_t *u32s(uint32_t v)
{
    char s[16];
    snprintf(s, sizeof s, "%" PRIu32, v);
    return json_string(s);
}

static json_t *enum_json(const char *prefix, unsigned v)
{
    char s[48];
    snprintf(s, sizeof s, "%s%u", prefix, v);
    return json_string(s);
}

static json_t *time_json(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000ll, .tv_nsec = ns % 1000000000ll};
    char t[LW_API_TIME_LEN];
    lw_api_time_format(&ts, t);
    return json_string(t);
}

static json_t *session_json(const ns_dev_edit_t *op, const ns_session_t *s, const char *base)
{
    char p[96];
    json_t *o = json_object();
#define W(sub) (snprintf(p, sizeof p, "%s." sub, base), lw_api_mask_selects(op->mask, p))
    if (W("dev_addr")) {
        char a[9];
        snprintf(a, sizeof a, "%08" PRIX32, s->dev_addr);
        json_object_set_new(o, "dev_addr", json_string(a));
    }
    if (W("keys")) {
        json_t *k = json_object();
        if (W("keys.session_key_id") && s->key_id_len > 0)
            json_object_set_new(k, "session_key_id", b64_json(s->key_id, s->key_id_len));
        if (op->keys) {
            bool v11 = ns_settings_v11(op->set);
            if (W("keys.f_nwk_s_int_key"))
                json_object_set_new(k, "f_nwk_s_int_key",
                                    json_pack("{so}", "key", hex_json(s->f_nwk_s_int_key, 16)));
            if (v11 && W("keys.s_nwk_s_int_key"))
                json_object_set_new(k, "s_nwk_s_int_key",
                                    json_pack("{so}", "key", hex_json(s->s_nwk_s_int_key, 16)));
            if (v11 && W("keys.nwk_s_enc_key"))
                json_object_set_new(k, "nwk_s_enc_key",
                                    json_pack("{so}", "key", hex_json(s->nwk_s_enc_key, 16)));
        }
        json_object_set_new(o, "keys", k);
    }
    if (W("last_f_cnt_up") && s->has_f_cnt_up)
        json_object_set_new(o, "last_f_cnt_up", json_integer(s->last_f_cnt_up));
    if (W("last_n_f_cnt_down") && s->has_n_f_cnt_down)
        json_object_set_new(o, "last_n_f_cnt_down", json_integer(s->last_n_f_cnt_down));
    if (W("last_a_f_cnt_down") && s->has_a_f_cnt_down)
        json_object_set_new(o, "last_a_f_cnt_down", json_integer(s->last_a_f_cnt_down));
    if (W("started_at") && s->started_at_ns != 0)
        json_object_set_new(o, "started_at", time_json(s->started_at_ns));
#undef W
    return o;
}

static json_t *params_json(const ns_mac_state_t *st, const ns_mac_params_t *p)
{
    json_t *o = json_object();
    json_object_set_new(o, "max_eirp", json_real(p->max_eirp));
    json_object_set_new(o, "adr_data_rate_index", enum_json("DATA_RATE_", p->adr_data_rate_index));
    json_object_set_new(o, "adr_tx_power_index", json_integer(p->adr_tx_power_index));
    json_object_set_new(o, "adr_nb_trans", json_integer(p->adr_nb_trans));
    json_object_set_new(
        o, "adr_ack_limit_exponent",
        json_pack("{so}", "value", enum_json("ADR_ACK_LIMIT_", 1u << p->adr_ack_limit_exponent)));
    json_object_set_new(
        o, "adr_ack_delay_exponent",
        json_pack("{so}", "value", enum_json("ADR_ACK_DELAY_", 1u << p->adr_ack_delay_exponent)));
    json_object_set_new(o, "rx1_delay", enum_json("RX_DELAY_", p->rx1_delay));
    json_object_set_new(o, "rx1_data_rate_offset",
                        enum_json("DATA_RATE_OFFSET_", p->rx1_data_rate_offset));
    json_object_set_new(o, "rx2_data_rate_index", enum_json("DATA_RATE_", p->rx2_data_rate_index));
    json_object_set_new(o, "rx2_frequency", u32s(p->rx2_frequency));
    json_object_set_new(o, "max_duty_cycle", enum_json("DUTY_CYCLE_", 1u << p->max_duty_cycle));
    json_object_set_new(o, "rejoin_time_periodicity",
                        enum_json("REJOIN_TIME_", p->rejoin_time_periodicity));
    json_object_set_new(o, "rejoin_count_periodicity",
                        enum_json("REJOIN_COUNT_", 16u << p->rejoin_count_periodicity));
    if (p->ping_slot_frequency != 0)
        json_object_set_new(o, "ping_slot_frequency", u32s(p->ping_slot_frequency));
    if (p->beacon_frequency != 0)
        json_object_set_new(o, "beacon_frequency", u32s(p->beacon_frequency));
    json_t *chs = json_array();
    unsigned n = ns_mac_channel_count(st, p);
    for (unsigned i = 0; i < n; i++) {
        ns_mac_channel_t c;
        if (ns_mac_channel_get(st, p, i, &c) != 0)
            continue;
        json_array_append_new(
            chs, json_pack("{so so so so sb}", "uplink_frequency", u32s(c.uplink_frequency),
                           "downlink_frequency", u32s(c.downlink_frequency), "min_data_rate_index",
                           enum_json("DATA_RATE_", c.min_data_rate_index), "max_data_rate_index",
                           enum_json("DATA_RATE_", c.max_data_rate_index), "enable_uplink",
                           c.enable_uplink));
    }
    json_object_set_new(o, "channels", chs);
    json_object_set_new(o, "uplink_dwell_time", json_pack("{sb}", "value", p->uplink_dwell_time));
    json_object_set_new(o, "downlink_dwell_time",
                        json_pack("{sb}", "value", p->downlink_dwell_time));
    return o;
}

static json_t *mac_state_json(const ns_mac_state_t *st)
{
    static const char *const classes[] = {"CLASS_A", "CLASS_B", "CLASS_C"};
    json_t *o = json_object();
    json_object_set_new(o, "current_parameters", params_json(st, &st->current_parameters));
    json_object_set_new(o, "desired_parameters", params_json(st, &st->desired_parameters));
    json_object_set_new(o, "device_class",
                        json_string(st->device_class < 3 ? classes[st->device_class] : "CLASS_A"));
    json_object_set_new(o, "lorawan_version",
                        json_string(ns_mac_version_name((ns_mac_version_t)st->lorawan_version)));
    if (st->dev_status_received) {
        json_object_set_new(o, "last_dev_status_f_cnt_up",
                            json_integer(st->last_dev_status_f_cnt_up));
    }
    json_object_set_new(o, "last_adr_change_f_cnt_up", json_integer(st->last_adr_change_f_cnt_up));
    json_t *rec = json_array();
    for (unsigned i = 0; i < st->n_recent_uplinks; i++) {
        const ns_mac_recent_uplink_t *r = ns_mac_recent_uplink_at(st, i);
        if (r != NULL)
            json_array_append_new(rec, json_pack("{sI sf}", "f_cnt", (json_int_t)r->f_cnt,
                                                 "max_snr", (double)r->max_snr));
    }
    json_object_set_new(o, "recent_uplinks", rec);
    return o;
}

json_t *ns_dev_render(const ns_dev_edit_t *op)
{
    json_t *o = json_object();
    json_t *ids =
        json_pack("{ss s{ss}}", "device_id", op->dev, "application_ids", "application_id", op->app);
    if (op->set->has_dev_eui) {
        char e[17];
        snprintf(e, sizeof e, "%016" PRIX64, op->set->dev_eui);
        json_object_set_new(ids, "dev_eui", json_string(e));
    }
    if (op->set->has_join_eui) {
        char e[17];
        snprintf(e, sizeof e, "%016" PRIX64, op->set->join_eui);
        json_object_set_new(ids, "join_eui", json_string(e));
    }
    if (op->st->session.valid) {
        char a[9];
        snprintf(a, sizeof a, "%08" PRIX32, op->st->session.dev_addr);
        json_object_set_new(ids, "dev_addr", json_string(a));
    }
    json_object_set_new(o, "ids", ids);
    if (op->created[0] != '\0')
        json_object_set_new(o, "created_at", json_string(op->created));
    if (op->updated[0] != '\0')
        json_object_set_new(o, "updated_at", json_string(op->updated));
    const lw_api_mask_t *m = op->mask;
    if (lw_api_mask_selects(m, "lorawan_version") && op->set->lorawan_version[0] != '\0')
        json_object_set_new(o, "lorawan_version", json_string(op->set->lorawan_version));
    if (lw_api_mask_selects(m, "lorawan_phy_version") && op->set->phy_version[0] != '\0')
        json_object_set_new(o, "lorawan_phy_version", json_string(op->set->phy_version));
    if (lw_api_mask_selects(m, "frequency_plan_id") && op->set->fp_id[0] != '\0')
        json_object_set_new(o, "frequency_plan_id", json_string(op->set->fp_id));
    if (lw_api_mask_selects(m, "supports_join"))
        json_object_set_new(o, "supports_join", json_boolean(op->set->supports_join));
    if (lw_api_mask_selects(m, "supports_class_c"))
        json_object_set_new(o, "supports_class_c", json_boolean(op->set->supports_class_c));
    if (lw_api_mask_selects(m, "mac_settings") && op->set->mac_json != NULL) {
        json_t *ms = json_loads(op->set->mac_json, 0, NULL);
        if (ms != NULL)
            json_object_set_new(o, "mac_settings", ms);
    }
    if (lw_api_mask_selects(m, "session") && op->st->session.valid)
        json_object_set_new(o, "session", session_json(op, &op->st->session, "session"));
    if (lw_api_mask_selects(m, "pending_session") && ns_state_pending(op->st)->valid)
        json_object_set_new(o, "pending_session",
                            session_json(op, op->st->pending, "pending_session"));
    if (lw_api_mask_selects(m, "mac_state") && op->st->mac != NULL) {
        ns_mac_params_t buf;
        const ns_mac_params_t *des = ns_dev_desired(&(ns_dev_t){.set = op->set}, &buf);
        if (des != NULL) {
            ns_mac_state_t *full = lw_malloc(sizeof *full);
            if (ns_mac_stored_get(op->st->mac, des, full) == 0)
                json_object_set_new(o, "mac_state", mac_state_json(full));
            free(full);
        }
    }
    if (lw_api_mask_selects(m, "pending_mac_state") && op->st->pending_mac != NULL)
        json_object_set_new(o, "pending_mac_state", mac_state_json(op->st->pending_mac));
    if (lw_api_mask_selects(m, "last_seen_at") && op->st->last_seen_at_ns != 0)
        json_object_set_new(o, "last_seen_at", time_json(op->st->last_seen_at_ns));
    return o;
}

static int key_from(const json_t *k, const char *field, uint8_t out[LORAWAN_KEY_LEN], lw_err_t *err)
{
    const char *hex = json_string_value(json_object_get(k, "key"));
    if (hex == NULL || strlen(hex) != 32 || lw_hex_decode(hex, out, LORAWAN_KEY_LEN) != 16)
        return lw_api_invalid(err, field, "a key is 32 hex digits in {\"key\": ...}");
    return 0;
}

static int u32_from(const json_t *v, const char *field, uint32_t *out, lw_err_t *err)
{
    long long x = 0;
    if (lw_api_uint_decode(v, field, 0xffffffffll, &x, err) != 0)
        return -1;
    *out = (uint32_t)x;
    return 0;
}

/* Applies the mask's session paths of body `bs` (may be NULL) to *s. *keys_set tells
 * whether keys were written. */
static int session_apply(const ns_dev_edit_t *op, const json_t *bs, ns_session_t *s,
                         const char *base, bool *changed, lw_err_t *err)
{
    char p[96];
    const lw_api_mask_t *m = op->mask;
#define M(sub) (snprintf(p, sizeof p, "%s." sub, base), lw_api_mask_selects(m, p))
    bool any = false;
    for (int i = 0; i < m->n; i++)
        if (strncmp(m->paths[i], base, strlen(base)) == 0)
            any = true;
    if (!any)
        return 0;
    *changed = true;
    if (bs == NULL || json_is_null(bs)) {
        memset(s, 0, sizeof *s);
        return 0;
    }
    if (!json_is_object(bs))
        return lw_api_invalid(err, base, "an object");
    bool was = s->valid;
    uint8_t old_keys[3][LORAWAN_KEY_LEN];
    memcpy(old_keys[0], s->f_nwk_s_int_key, LORAWAN_KEY_LEN);
    memcpy(old_keys[1], s->s_nwk_s_int_key, LORAWAN_KEY_LEN);
    memcpy(old_keys[2], s->nwk_s_enc_key, LORAWAN_KEY_LEN);
    s->valid = true;
    const json_t *keys = json_object_get(bs, "keys");
    char f[128];
    if (M("dev_addr")) {
        const char *a = json_string_value(json_object_get(bs, "dev_addr"));
        uint8_t b[4];
        snprintf(f, sizeof f, "end_device.%s.dev_addr", base);
        if (a == NULL || strlen(a) != 8 || lw_hex_decode(a, b, 4) != 4)
            return lw_api_invalid(err, f, "a DevAddr is 8 hex digits");
        s->dev_addr = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    }
    bool v11 = ns_settings_v11(op->set);
    bool new_keys = false;
    if (M("keys.f_nwk_s_int_key")) {
        snprintf(f, sizeof f, "end_device.%s.keys.f_nwk_s_int_key.key", base);
        if (key_from(json_object_get(keys, "f_nwk_s_int_key"), f, s->f_nwk_s_int_key, err) != 0)
            return -1;
        new_keys = true;
        if (!v11) { /* LoRaWAN 1.0.x: one NwkSKey */
            memcpy(s->s_nwk_s_int_key, s->f_nwk_s_int_key, LORAWAN_KEY_LEN);
            memcpy(s->nwk_s_enc_key, s->f_nwk_s_int_key, LORAWAN_KEY_LEN);
        }
    }
    if (v11 && M("keys.s_nwk_s_int_key")) {
        snprintf(f, sizeof f, "end_device.%s.keys.s_nwk_s_int_key.key", base);
        if (key_from(json_object_get(keys, "s_nwk_s_int_key"), f, s->s_nwk_s_int_key, err) != 0)
            return -1;
        new_keys = true;
    }
    if (v11 && M("keys.nwk_s_enc_key")) {
        snprintf(f, sizeof f, "end_device.%s.keys.nwk_s_enc_key.key", base);
        if (key_from(json_object_get(keys, "nwk_s_enc_key"), f, s->nwk_s_enc_key, err) != 0)
            return -1;
        new_keys = true;
    }
    /* Keys written again as they are make no new session (an import run twice). */
    if (new_keys && was && op->idempotent &&
        CRYPTO_memcmp(old_keys[0], s->f_nwk_s_int_key, LORAWAN_KEY_LEN) == 0 &&
        CRYPTO_memcmp(old_keys[1], s->s_nwk_s_int_key, LORAWAN_KEY_LEN) == 0 &&
        CRYPTO_memcmp(old_keys[2], s->nwk_s_enc_key, LORAWAN_KEY_LEN) == 0)
        new_keys = false;
    OPENSSL_cleanse(old_keys, sizeof old_keys);
    const char *skid = json_string_value(json_object_get(keys, "session_key_id"));
    if (M("keys.session_key_id") && skid != NULL) {
        unsigned char raw[64];
        int n = EVP_DecodeBlock(raw, (const unsigned char *)skid, (int)strlen(skid));
        size_t pad = strlen(skid) >= 2
                         ? (skid[strlen(skid) - 1] == '=') + (skid[strlen(skid) - 2] == '=')
                         : 0;
        snprintf(f, sizeof f, "end_device.%s.keys.session_key_id", base);
        if (n < 0 || (size_t)n - pad == 0 || (size_t)n - pad > NS_KEY_ID_MAX)
            return lw_api_invalid(err, f, "base64 of 1 to 16 bytes");
        memcpy(s->key_id, raw, (size_t)n - pad);
        s->key_id_len = (uint8_t)((size_t)n - pad);
    } else if (new_keys || !was || s->key_id_len == 0) {
        ns_random_id(s->key_id);
        s->key_id_len = LW_MSG_ID_LEN;
    }
    const ns_session_t old = *s;
    if (M("last_f_cnt_up")) {
        const json_t *v = json_object_get(bs, "last_f_cnt_up");
        snprintf(f, sizeof f, "end_device.%s.last_f_cnt_up", base);
        s->has_f_cnt_up = v != NULL && !json_is_null(v);
        if (s->has_f_cnt_up && u32_from(v, f, &s->last_f_cnt_up, err) != 0)
            return -1;
    }
    if (M("last_n_f_cnt_down")) {
        const json_t *v = json_object_get(bs, "last_n_f_cnt_down");
        snprintf(f, sizeof f, "end_device.%s.last_n_f_cnt_down", base);
        s->has_n_f_cnt_down = v != NULL && !json_is_null(v);
        if (s->has_n_f_cnt_down && u32_from(v, f, &s->last_n_f_cnt_down, err) != 0)
            return -1;
    }
    if (M("last_a_f_cnt_down")) {
        const json_t *v = json_object_get(bs, "last_a_f_cnt_down");
        snprintf(f, sizeof f, "end_device.%s.last_a_f_cnt_down", base);
        s->has_a_f_cnt_down = v != NULL && !json_is_null(v);
        if (s->has_a_f_cnt_down && u32_from(v, f, &s->last_a_f_cnt_down, err) != 0)
            return -1;
    }
    /* Frame counters of a session that stays never go back (an import run again after the
     * device sent uplinks). */
    if (op->idempotent && was && !new_keys && old.dev_addr == s->dev_addr) {
        if (old.has_f_cnt_up && (!s->has_f_cnt_up || old.last_f_cnt_up > s->last_f_cnt_up)) {
            s->has_f_cnt_up = true;
            s->last_f_cnt_up = old.last_f_cnt_up;
        }
        if (old.has_n_f_cnt_down &&
            (!s->has_n_f_cnt_down || old.last_n_f_cnt_down > s->last_n_f_cnt_down)) {
            s->has_n_f_cnt_down = true;
            s->last_n_f_cnt_down = old.last_n_f_cnt_down;
        }
        if (old.has_a_f_cnt_down &&
            (!s->has_a_f_cnt_down || old.last_a_f_cnt_down > s->last_a_f_cnt_down)) {
            s->has_a_f_cnt_down = true;
            s->last_a_f_cnt_down = old.last_a_f_cnt_down;
        }
    }
    if (!was || new_keys)
        s->started_at_ns = ns_now_ns();
    if (!was && !M("dev_addr")) {
        snprintf(f, sizeof f, "end_device.%s.dev_addr", base);
        return lw_api_invalid(err, f, "required for a new session");
    }
    if (!was && !new_keys) {
        snprintf(f, sizeof f, "end_device.%s.keys.f_nwk_s_int_key.key", base);
        return lw_api_invalid(err, f, "required for a new session");
    }
#undef M
    return 0;
}

static int str_field(const json_t *v, const char *field, char *out, size_t cap, lw_err_t *err)
{
    if (v == NULL || json_is_null(v)) {
        out[0] = '\0';
        return 0;
    }
    if (!json_is_string(v) || strlen(json_string_value(v)) >= cap)
        return lw_api_invalid(err, field, "a string");
    snprintf(out, cap, "%s", json_string_value(v));
    return 0;
}

static int eui_field(const json_t *v, const char *field, uint64_t *out, bool *has, lw_err_t *err)
{
    if (v == NULL || json_is_null(v))
        return 0;
    const char *s = json_string_value(v);
    uint8_t b[8];
    if (s == NULL || strlen(s) != 16 || lw_hex_decode(s, b, 8) != 8)
        return lw_api_invalid(err, field, "an EUI is 16 hex digits");
    *out = 0;
    for (int i = 0; i < 8; i++)
        *out = *out << 8 | b[i];
    *has = true;
    return 0;
}

/* Applies the body to op->set / op->st under the mask. *state_written: the state changed. */
/* The MAC state starts again from the settings (a new session, or a reset). */
static void api_mac_reset(const ns_dev_edit_t *op)
{
    free(op->st->mac);
    op->st->mac = NULL;
    ns_mac_state_t *full =
        op->st->session.valid ? ns_dev_mac_new(&(ns_dev_t){.set = op->set}) : NULL;
    if (full != NULL) {
        op->st->mac = ns_mac_stored_put(NULL, full);
        free(full);
    }
}

int ns_dev_apply(const ns_dev_edit_t *op, bool *state_written, lw_err_t *err)
{
    const json_t *b = op->body;
    const lw_api_mask_t *m = op->mask;
    const json_t *ids = json_object_get(b, "ids");
    if (eui_field(json_object_get(ids, "dev_eui"), "end_device.ids.dev_eui", &op->set->dev_eui,
                  &op->set->has_dev_eui, err) != 0 ||
        eui_field(json_object_get(ids, "join_eui"), "end_device.ids.join_eui", &op->set->join_eui,
                  &op->set->has_join_eui, err) != 0)
        return -1;
    if (lw_api_mask_has(m, "lorawan_version")) {
        if (str_field(json_object_get(b, "lorawan_version"), "end_device.lorawan_version",
                      op->set->lorawan_version, sizeof op->set->lorawan_version, err) != 0)
            return -1;
        if (ns_version_parse(op->set->lorawan_version, NULL, NULL) != 0)
            return lw_api_invalid(err, "end_device.lorawan_version",
                                  "one of MAC_V1_0, MAC_V1_0_1 .. MAC_V1_0_4, MAC_V1_1");
    }
    if (lw_api_mask_has(m, "lorawan_phy_version")) {
        if (str_field(json_object_get(b, "lorawan_phy_version"), "end_device.lorawan_phy_version",
                      op->set->phy_version, sizeof op->set->phy_version, err) != 0)
            return -1;
        if (ns_phy_version_parse(op->set->phy_version, NULL) != 0)
            return lw_api_invalid(err, "end_device.lorawan_phy_version",
                                  "a regional parameters version (RP001_V1_0_3_REV_A, ...)");
    }
    if (lw_api_mask_has(m, "frequency_plan_id")) {
        if (str_field(json_object_get(b, "frequency_plan_id"), "end_device.frequency_plan_id",
                      op->set->fp_id, sizeof op->set->fp_id, err) != 0)
            return -1;
        if (lorawan_freqplan_find(op->set->fp_id) == NULL) {
            lw_err_set(err, &lw_err_ns_unknown_frequency_plan, "frequency plan `%s` is not known",
                       op->set->fp_id);
            lw_err_attr(err, "frequency_plan_id", op->set->fp_id);
            return -1;
        }
    }
#define BOOLF(name, dst)                                                                           \
    if (lw_api_mask_has(m, name)) {                                                                \
        const json_t *v = json_object_get(b, name);                                                \
        if (v != NULL && !json_is_boolean(v))                                                      \
            return lw_api_invalid(err, "end_device." name, "a boolean");                           \
        op->set->dst = json_is_true(v);                                                            \
    }
    BOOLF("supports_join", supports_join)
    BOOLF("supports_class_c", supports_class_c)
#undef BOOLF
    /* mac_settings: the whole object, or the named keys of it. */
    bool mac_all = lw_api_mask_has(m, "mac_settings");
    bool mac_some = false;
    for (int i = 0; i < m->n; i++)
        if (strncmp(m->paths[i], "mac_settings.", 13) == 0)
            mac_some = true;
    if (mac_all || mac_some) {
        const json_t *bm = json_object_get(b, "mac_settings");
        json_t *cur = NULL;
        if (mac_all) {
            cur = bm != NULL && !json_is_null(bm) ? json_deep_copy(bm) : json_object();
        } else {
            cur = op->set->mac_json != NULL ? json_loads(op->set->mac_json, 0, NULL) : NULL;
            if (cur == NULL)
                cur = json_object();
            for (int i = 0; i < m->n; i++) {
                if (strncmp(m->paths[i], "mac_settings.", 13) != 0)
                    continue;
                char k[LW_API_PATH_MAX];
                snprintf(k, sizeof k, "%s", m->paths[i] + 13);
                char *dot = strchr(k, '.');
                if (dot != NULL)
                    *dot = '\0';
                const json_t *v = json_object_get(bm, k);
                if (v != NULL && !json_is_null(v))
                    json_object_set_new(cur, k, json_deep_copy(v));
                else
                    json_object_del(cur, k);
            }
        }
        if (ns_mac_settings_parse(cur, "end_device.mac_settings", op->set, err) != 0) {
            json_decref(cur);
            return -1;
        }
        free(op->set->mac_json);
        op->set->mac_json = json_object_size(cur) > 0 ? json_dumps(cur, JSON_COMPACT) : NULL;
        json_decref(cur);
    }
    if (ns_version_parse(op->set->lorawan_version, NULL, NULL) != 0 ||
        ns_phy_version_parse(op->set->phy_version, NULL) != 0 || op->set->fp_id[0] == '\0') {
        const char *missing = op->set->fp_id[0] == '\0' ? "end_device.frequency_plan_id"
                              : ns_version_parse(op->set->lorawan_version, NULL, NULL) != 0
                                  ? "end_device.lorawan_version"
                                  : "end_device.lorawan_phy_version";
        return lw_api_invalid(err, missing, "required");
    }
    bool changed = false;
    ns_session_t before = op->st->session;
    if (session_apply(op, json_object_get(b, "session"), &op->st->session, "session", &changed,
                      err) != 0)
        return -1;
    if (changed) {
        *state_written = true;
        bool same = before.valid && op->st->session.valid &&
                    before.key_id_len == op->st->session.key_id_len &&
                    memcmp(before.key_id, op->st->session.key_id, before.key_id_len) == 0 &&
                    before.dev_addr == op->st->session.dev_addr;
        if (!same) {
            /* A new session: its MAC state starts from the settings; the queue was for the
             * old one (the worker hands it back to the AS when it reloads). */
            api_mac_reset(op);
            free(op->st->queue);
            op->st->queue = NULL;
            op->st->nqueue = 0;
        }
    }
    if (lw_api_mask_has(m, "pending_session")) {
        const json_t *p = json_object_get(b, "pending_session");
        if (p != NULL && !json_is_null(p))
            return lw_api_invalid(err, "end_device.pending_session", "may only be cleared");
        ns_state_clear_pending(op->st);
        free(op->st->pending_mac);
        op->st->pending_mac = NULL;
        *state_written = true;
    }
    if (lw_api_mask_has(m, "mac_state")) {
        const json_t *p = json_object_get(b, "mac_state");
        if (p != NULL && !json_is_null(p))
            return lw_api_invalid(err, "end_device.mac_state",
                                  "may only be reset (null): it starts again from mac_settings");
        api_mac_reset(op);
        *state_written = true;
    }
    return 0;
}

/* ---- notifications ---------------------------------------------------------------------- */

int ns_dev_control_encode(const char *tenant, const char *app, const char *dev,
                          Lw__Msg__NsDevControl control, const char *correlation_id, uint8_t *buf,
                          size_t cap, size_t *len)
{
    Lw__Msg__NsDev d = LW__MSG__NS_DEV__INIT;
    Lw__Msg__Envelope env = LW__MSG__ENVELOPE__INIT;
    uint8_t id[LW_MSG_ID_LEN];
    ns_random_id(id);
    env.id.data = id;
    env.id.len = sizeof id;
    env.tenant_id = (char *)tenant;
    env.schema_version = LW_MSG_SCHEMA_VERSION;
    char *cids[1] = {(char *)correlation_id};
    if (correlation_id != NULL) {
        env.correlation_ids = cids;
        env.n_correlation_ids = 1;
    }
    d.envelope = &env;
    Lw__Msg__EndDeviceIdentifiers ids = LW__MSG__END_DEVICE_IDENTIFIERS__INIT;
    Lw__Msg__ApplicationIdentifiers a = LW__MSG__APPLICATION_IDENTIFIERS__INIT;
    a.application_id = (char *)app;
    ids.device_id = (char *)dev;
    ids.application_ids = &a;
    d.end_device_ids = &ids;
    d.control = control;
    return lw_msg_ns_dev_encode(&d, buf, cap, len);
}

int ns_session_change_encode(const char *tenant, const char *app, const char *dev, uint8_t *buf,
                             size_t cap, size_t *len)
{
    Lw__Ns__NsSessionChange c = LW__NS__NS_SESSION_CHANGE__INIT;
    c.tenant_id = (char *)tenant;
    c.application_id = (char *)app;
    c.device_id = (char *)dev;
    size_t n = lw__ns__ns_session_change__get_packed_size(&c);
    if (n > cap)
        return -1;
    lw__ns__ns_session_change__pack(&c, buf);
    *len = n;
    return 0;
}
