/* The join-request rules (pure): MIC, DevNonce per LoRaWAN version, JoinNonce, session keys
 * and the join-accept. No I/O, clock or allocation; the only heap use is the OpenSSL
 * context behind lorawan_key_init, released before every return. */
#include <string.h>

#include <openssl/crypto.h>

#include "js/js_private.h"

static const char *const mac_names[] = {"1.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.1"};
static const char *const mac_tts_names[] = {"MAC_V1_0",   "MAC_V1_0_1", "MAC_V1_0_2",
                                            "MAC_V1_0_3", "MAC_V1_0_4", "MAC_V1_1"};
#define N_MAC (sizeof mac_names / sizeof mac_names[0])

int js_mac_version_parse(const char *s, js_mac_version_t *out)
{
    if (s == NULL || out == NULL)
        return -1;
    for (size_t i = 0; i < N_MAC; i++)
        if (strcmp(s, mac_names[i]) == 0 || strcmp(s, mac_tts_names[i]) == 0 ||
            (i == 0 && strcmp(s, "1.0.0") == 0)) {
            *out = (js_mac_version_t)i;
            return 0;
        }
    return -1;
}

const char *js_mac_version_name(js_mac_version_t v)
{
    return (size_t)v < N_MAC ? mac_names[v] : "";
}

bool js_mac_dev_nonce_counts(js_mac_version_t v)
{
    return v >= JS_MAC_V1_0_4;
}

static const struct {
    int code;
    const char *name, *msg;
} join_errs[] = {
    {JS_JOIN_OK, "ok", "success"},
    {JS_JOIN_E_PARAM, "param", "invalid argument"},
    {JS_JOIN_E_PAYLOAD, "decode_payload", "PHYPayload is not a join-request"},
    {JS_JOIN_E_MIC, "mic_mismatch", "MIC mismatch"},
    {JS_JOIN_E_DEV_NONCE_REUSED, "reuse_dev_nonce", "DevNonce has already been used"},
    {JS_JOIN_E_DEV_NONCE_SMALL, "dev_nonce_too_small", "DevNonce is too small"},
    {JS_JOIN_E_JOIN_NONCE_HIGH, "join_nonce_too_high", "JoinNonce is too high"},
    {JS_JOIN_E_NO_APP_KEY, "no_app_key", "no AppKey specified"},
    {JS_JOIN_E_NO_NWK_KEY, "no_nwk_key", "no NwkKey specified"},
    {JS_JOIN_E_NET_ID, "net_id_mismatch", "NetID does not match the device's"},
    {JS_JOIN_E_ENCODE, "encode_payload", "DLSettings, RxDelay or CFList cannot be encoded"},
    {JS_JOIN_E_CRYPTO, "crypto", "cryptographic operation failed"},
};

const char *js_join_strerror(int err)
{
    for (size_t i = 0; i < sizeof join_errs / sizeof join_errs[0]; i++)
        if (join_errs[i].code == err)
            return join_errs[i].name;
    return "unknown";
}

const char *js_join_message(int err)
{
    for (size_t i = 0; i < sizeof join_errs / sizeof join_errs[0]; i++)
        if (join_errs[i].code == err)
            return join_errs[i].msg;
    return "unknown error";
}

int js_join_request_peek(const uint8_t *phy, size_t len, lorawan_join_request_t *out)
{
    lorawan_phy_t p;
    if (phy == NULL || out == NULL || lorawan_phy_decode(phy, len, &p) != 0 ||
        p.mtype != LORAWAN_MTYPE_JOIN_REQUEST)
        return JS_JOIN_E_PAYLOAD;
    *out = p.u.join_request;
    return 0;
}

/* The DevNonce rule of the version (LoRaWAN 1.0.3 §6.2.4: a random value the network keeps a
 * history of; 1.0.4 §6.2.5 and 1.1 §6.2.5: a counter that only increases). As The Things
 * Stack, a device that never joined (no DevNonce, no JoinNonce yet) may start at 0. On
 * success the new state is written to *next (not to *cur). */
static int dev_nonce_check(js_mac_version_t v, const js_dev_t *dev, const js_nonces_t *cur,
                           uint16_t dn, js_nonces_t *next)
{
    *next = *cur;
    if (js_mac_dev_nonce_counts(v)) {
        bool fresh = dn == 0 && cur->last_dev_nonce == 0 && cur->last_join_nonce == 0;
        if (!dev->resets_join_nonces && !fresh && dn <= cur->last_dev_nonce)
            return JS_JOIN_E_DEV_NONCE_SMALL;
        next->last_dev_nonce = dn;
        return 0;
    }
    for (size_t i = 0; i < cur->n_used; i++)
        if (cur->used[i] == dn)
            return dev->resets_join_nonces ? 0 : JS_JOIN_E_DEV_NONCE_REUSED;
    size_t limit = dev->dev_nonce_limit;
    if (next->n_used >= limit) {
        /* Keep the newest limit - 1, then append: the oldest are forgotten first. */
        size_t drop = next->n_used - (limit - 1);
        memmove(next->used, next->used + drop, (next->n_used - drop) * sizeof next->used[0]);
        next->n_used -= drop;
    }
    next->used[next->n_used++] = dn;
    return 0;
}

/* Plaintext join-accept with its MIC, then encrypted into ans->phy. */
static int accept_build(const js_join_req_t *req, const lorawan_join_request_t *jr,
                        const lorawan_key_t *mic_key, bool opt_neg, const uint8_t enc_key[16],
                        js_join_ans_t *ans)
{
    lorawan_join_accept_t ja = {
        .join_nonce = ans->join_nonce,
        .net_id = req->net_id,
        .dev_addr = req->dev_addr,
        .opt_neg = opt_neg,
        .rx1_dr_offset = (uint8_t)((req->dl_settings >> 4) & 0x7u),
        .rx2_data_rate = (uint8_t)(req->dl_settings & 0xfu),
        .rx_delay = req->rx_delay,
        .cflist = req->cflist,
    };
    uint8_t plain[LORAWAN_JOIN_ACCEPT_CFLIST_LEN];
    size_t n;
    if (lorawan_join_accept_encode(&ja, plain, sizeof plain, &n) != 0)
        return JS_JOIN_E_ENCODE;
    int rc = opt_neg ? lorawan_mic_join_accept_11(mic_key, LORAWAN_JOIN_REQ_TYPE_JOIN, jr->join_eui,
                                                  jr->dev_nonce, plain, n - LORAWAN_MIC_LEN,
                                                  plain + n - LORAWAN_MIC_LEN)
                     : lorawan_mic_join_accept_10(mic_key, plain, n - LORAWAN_MIC_LEN,
                                                  plain + n - LORAWAN_MIC_LEN);
    if (rc == 0)
        rc = lorawan_join_accept_encrypt(enc_key, plain, n, ans->phy, sizeof ans->phy);
    OPENSSL_cleanse(plain, sizeof plain);
    if (rc != 0)
        return JS_JOIN_E_CRYPTO;
    ans->phy_len = n;
    return 0;
}

int js_join(const js_join_req_t *req, const js_dev_t *dev, js_nonces_t *nonces, js_join_ans_t *ans)
{
    if (req == NULL || dev == NULL || nonces == NULL || ans == NULL || req->phy == NULL ||
        (size_t)req->mac_version >= N_MAC || dev->dev_nonce_limit == 0 ||
        dev->dev_nonce_limit > JS_DEV_NONCE_LIMIT_MAX || nonces->n_used > JS_DEV_NONCE_LIMIT_MAX)
        return JS_JOIN_E_PARAM;
    lorawan_join_request_t jr;
    if (js_join_request_peek(req->phy, req->phy_len, &jr) != 0)
        return JS_JOIN_E_PAYLOAD;
    if (dev->has_net_id && dev->net_id != req->net_id)
        return JS_JOIN_E_NET_ID;
    if (req->rx_delay > 15)
        return JS_JOIN_E_ENCODE;

    /* LoRaWAN 1.1 §6.2.2: the join-request MIC is under NwkKey; a 1.0.x device's under
     * AppKey, except that a 1.1 device joining a 1.0 network uses its NwkKey for what a 1.0
     * device does with AppKey (1.1 §6.1.1.3), which is why a NwkKey, when present, wins. */
    bool v11 = req->mac_version == JS_MAC_V1_1;
    const uint8_t *root;
    if (v11) {
        if (!dev->has_nwk_key)
            return JS_JOIN_E_NO_NWK_KEY;
        if (!dev->has_app_key)
            return JS_JOIN_E_NO_APP_KEY;
        root = dev->nwk_key;
    } else if (dev->has_nwk_key) {
        root = dev->nwk_key;
    } else if (dev->has_app_key) {
        root = dev->app_key;
    } else {
        return JS_JOIN_E_NO_APP_KEY;
    }

    lorawan_key_t root_k = {0}, app_k = {0}, js_int_k = {0};
    /* The new nonce state is built aside and copied back only once everything succeeded. */
    js_nonces_t next_state;
    js_nonces_t *next = &next_state;
    uint8_t mic[LORAWAN_MIC_LEN];
    int rc = JS_JOIN_E_CRYPTO;
    if (lorawan_key_init(&root_k, root) != 0)
        goto out;
    if (lorawan_mic_join_request(&root_k, req->phy, req->phy_len - LORAWAN_MIC_LEN, mic) != 0)
        goto out;
    if (lorawan_mic_check(mic, req->phy, req->phy_len) != 0) {
        rc = JS_JOIN_E_MIC;
        goto out;
    }
    rc = dev_nonce_check(req->mac_version, dev, nonces, jr.dev_nonce, next);
    if (rc != 0)
        goto out;
    if (nonces->last_join_nonce >= JS_JOIN_NONCE_MAX) {
        rc = JS_JOIN_E_JOIN_NONCE_HIGH;
        goto out;
    }
    memset(ans, 0, sizeof *ans);
    ans->join_eui = jr.join_eui;
    ans->dev_eui = jr.dev_eui;
    ans->dev_nonce = jr.dev_nonce;
    ans->join_nonce = nonces->last_join_nonce + 1;
    next->last_join_nonce = ans->join_nonce;

    rc = JS_JOIN_E_CRYPTO;
    if (v11) {
        /* LoRaWAN 1.1 §6.2.3: OptNeg set; keys from JoinNonce | JoinEUI | DevNonce; the
         * join-accept MIC under JSIntKey, encrypted with NwkKey. */
        lorawan_keys_11_t k;
        uint8_t js_int[LORAWAN_KEY_LEN];
        if (lorawan_key_init(&app_k, dev->app_key) != 0 ||
            lorawan_derive_keys_11(&root_k, &app_k, ans->join_nonce, jr.join_eui, jr.dev_nonce,
                                   &k) != 0 ||
            lorawan_derive_js_keys(&root_k, jr.dev_eui, js_int, NULL) != 0 ||
            lorawan_key_init(&js_int_k, js_int) != 0) {
            OPENSSL_cleanse(&k, sizeof k);
            OPENSSL_cleanse(js_int, sizeof js_int);
            goto out;
        }
        OPENSSL_cleanse(js_int, sizeof js_int);
        ans->lorawan_11 = true;
        memcpy(ans->f_nwk_s_int_key, k.f_nwk_s_int_key, LORAWAN_KEY_LEN);
        memcpy(ans->s_nwk_s_int_key, k.s_nwk_s_int_key, LORAWAN_KEY_LEN);
        memcpy(ans->nwk_s_enc_key, k.nwk_s_enc_key, LORAWAN_KEY_LEN);
        memcpy(ans->app_s_key, k.app_s_key, LORAWAN_KEY_LEN);
        OPENSSL_cleanse(&k, sizeof k);
        rc = accept_build(req, &jr, &js_int_k, true, root, ans);
    } else {
        /* LoRaWAN 1.0.4 §6.2.5: NwkSKey and AppSKey from JoinNonce | NetID | DevNonce; the
         * join-accept MIC and encryption under the same root key; DLSettings bit 7 is RFU. */
        if (lorawan_derive_keys_10(&root_k, ans->join_nonce, req->net_id, jr.dev_nonce,
                                   ans->f_nwk_s_int_key, ans->app_s_key) != 0)
            goto out;
        rc = accept_build(req, &jr, &root_k, false, root, ans);
    }
    if (rc == 0)
        *nonces = *next;
    else
        OPENSSL_cleanse(ans, sizeof *ans);
out:
    lorawan_key_destroy(&root_k);
    lorawan_key_destroy(&app_k);
    lorawan_key_destroy(&js_int_k);
    return rc;
}

int js_key_wrap(const uint8_t *kek, size_t kek_len, const uint8_t key[LORAWAN_KEY_LEN],
                uint8_t out[JS_WRAPPED_KEY_LEN])
{
    size_t n = 0;
    if (kek == NULL || key == NULL || out == NULL ||
        lorawan_key_wrap(kek, kek_len, key, LORAWAN_KEY_LEN, out, JS_WRAPPED_KEY_LEN, &n) != 0 ||
        n != JS_WRAPPED_KEY_LEN)
        return JS_JOIN_E_CRYPTO;
    return 0;
}

int js_key_unwrap(const uint8_t *kek, size_t kek_len, const uint8_t in[JS_WRAPPED_KEY_LEN],
                  uint8_t key[LORAWAN_KEY_LEN])
{
    size_t n = 0;
    if (kek == NULL || in == NULL || key == NULL ||
        lorawan_key_unwrap(kek, kek_len, in, JS_WRAPPED_KEY_LEN, key, LORAWAN_KEY_LEN, &n) != 0 ||
        n != LORAWAN_KEY_LEN)
        return JS_JOIN_E_PARAM;
    return 0;
}
