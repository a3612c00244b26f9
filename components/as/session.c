/* Sessions and payload crypto: the AppSKey of a join unwrapped with as.keks.<label> (RFC
 * 3394), kept wrapped at rest with as.key-encryption-key, FRMPayloads encrypted and
 * decrypted with it (LoRaWAN 1.0.4 §4.3.3; 1.1 §4.3.3 uses the same AppSKey scheme, with the
 * AFCntDown for downlinks). */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "as/as_private.h"
#include "cluster/hex.h"

int as_key_unwrap(const as_t *as, const char *label, const uint8_t *in, size_t len,
                  uint8_t out[LORAWAN_KEY_LEN], lw_err_t *err)
{
    if (label == NULL || label[0] == '\0') {
        if (len != LORAWAN_KEY_LEN)
            return lw_err_set(err, &lw_err_as_no_app_s_key,
                              "an AppSKey in clear is 16 bytes, not %zu", len);
        memcpy(out, in, LORAWAN_KEY_LEN);
        return 0;
    }
    const as_kek_t *k = as_kek_find(as, label);
    if (k == NULL) {
        lw_err_set(err, &lw_err_as_unknown_kek_label,
                   "key encryption key with label `%.64s` is not known", label);
        lw_err_attr(err, "label", label);
        return -1;
    }
    uint8_t plain[32];
    size_t n = 0;
    int rc = lorawan_key_unwrap(k->key, k->len, in, len, plain, sizeof plain, &n);
    if (rc != 0 || n != LORAWAN_KEY_LEN) {
        OPENSSL_cleanse(plain, sizeof plain);
        lw_err_set(err, &lw_err_as_unwrap_key,
                   "the AppSKey wrapped with `%.64s` cannot be unwrapped", label);
        lw_err_attr(err, "label", label);
        return -1;
    }
    memcpy(out, plain, LORAWAN_KEY_LEN);
    OPENSSL_cleanse(plain, sizeof plain);
    return 0;
}

json_t *as_session_to_rest(const as_t *as, const as_session_t *s)
{
    json_t *j = json_object();
    char addr[9];
    as_addr_text(s->dev_addr, addr);
    json_object_set_new(j, "dev_addr", json_string(addr));
    json_t *keys = json_object();
    if (s->key_id_len > 0)
        json_object_set_new(keys, "session_key_id", as_b64_json(s->key_id, s->key_id_len));
    if (s->has_key) {
        json_t *env = json_object();
        if (as->at_rest.len > 0) {
            uint8_t w[LORAWAN_KEY_LEN + 8];
            size_t wl = 0;
            if (lorawan_key_wrap(as->at_rest.key, as->at_rest.len, s->app_s_key, LORAWAN_KEY_LEN, w,
                                 sizeof w, &wl) == 0) {
                json_object_set_new(env, "kek_label", json_string(as->at_rest.label));
                json_object_set_new(env, "encrypted_key", as_b64_json(w, wl));
            }
        } else {
            char hex[2 * LORAWAN_KEY_LEN + 1];
            lw_hex_encode(s->app_s_key, LORAWAN_KEY_LEN, hex);
            for (char *c = hex; *c != '\0'; c++)
                if (*c >= 'a' && *c <= 'f')
                    *c = (char)(*c - 'a' + 'A');
            json_object_set_new(env, "key", json_string(hex));
            OPENSSL_cleanse(hex, sizeof hex);
        }
        json_object_set_new(keys, "app_s_key", env);
    }
    json_object_set_new(j, "keys", keys);
    if (s->has_f_cnt)
        json_object_set_new(j, "last_a_f_cnt_down", json_integer(s->last_a_f_cnt_down));
    return j;
}

int as_session_from_json(const as_t *as, const json_t *j, const char *field, as_session_t *s,
                         lw_err_t *err)
{
    memset(s, 0, sizeof *s);
    char f[96];
    if (!json_is_object(j))
        return lw_api_invalid(err, field, "an object expected");
    const char *addr = json_string_value(json_object_get(j, "dev_addr"));
    if (addr == NULL || as_addr_parse(addr, &s->dev_addr) != 0) {
        snprintf(f, sizeof f, "%s.dev_addr", field);
        return lw_api_invalid(err, f, "8 hex digits expected");
    }
    const json_t *keys = json_object_get(j, "keys");
    const char *kid = json_string_value(json_object_get(keys, "session_key_id"));
    if (kid != NULL) {
        int n = as_b64_decode(kid, s->key_id, sizeof s->key_id);
        if (n < 0) {
            snprintf(f, sizeof f, "%s.keys.session_key_id", field);
            return lw_api_invalid(err, f, "base64 of at most 16 bytes expected");
        }
        s->key_id_len = (uint8_t)n;
    }
    const json_t *env = json_object_get(keys, "app_s_key");
    if (env != NULL && !json_is_null(env)) {
        snprintf(f, sizeof f, "%s.keys.app_s_key", field);
        const char *key = json_string_value(json_object_get(env, "key"));
        const char *label = json_string_value(json_object_get(env, "kek_label"));
        const char *wrapped = json_string_value(json_object_get(env, "encrypted_key"));
        if (key != NULL && key[0] != '\0') {
            if (strlen(key) != 32 || lw_hex_decode(key, s->app_s_key, LORAWAN_KEY_LEN) != 16)
                return lw_api_invalid(err, f, "`key`: 32 hex digits expected");
        } else if (wrapped != NULL && wrapped[0] != '\0') {
            uint8_t w[48];
            int n = as_b64_decode(wrapped, w, sizeof w);
            if (n < 0)
                return lw_api_invalid(err, f, "`encrypted_key`: base64 expected");
            if (as_key_unwrap(as, label, w, (size_t)n, s->app_s_key, err) != 0)
                return -1;
        } else {
            return lw_api_invalid(err, f, "`key` or `encrypted_key` expected");
        }
        s->has_key = true;
    }
    const json_t *fc = json_object_get(j, "last_a_f_cnt_down");
    if (fc != NULL && !json_is_null(fc)) {
        long long v = 0;
        snprintf(f, sizeof f, "%s.last_a_f_cnt_down", field);
        if (lw_api_uint_decode(fc, f, UINT32_MAX, &v, err) != 0)
            return -1;
        s->has_f_cnt = true;
        s->last_a_f_cnt_down = (uint32_t)v;
    }
    s->valid = true;
    return 0;
}

int as_frm_crypt(const uint8_t key[LORAWAN_KEY_LEN], bool downlink, uint32_t dev_addr,
                 uint32_t f_cnt, uint8_t *buf, size_t len)
{
    if (len == 0)
        return 0;
    lorawan_key_t k;
    if (lorawan_key_init(&k, key) != 0)
        return -1;
    lorawan_payload_encrypt(&k, downlink, dev_addr, f_cnt, buf, len, buf);
    lorawan_key_destroy(&k);
    return 0;
}
