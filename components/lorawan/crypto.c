/* LoRaWAN crypto: AES-CMAC MICs, payload / FOpts / join-accept encryption, session-key
 * derivation, RFC 3394 key wrap and frame-counter expansion.
 *
 * The AES primitive is OpenSSL's (EVP AES-128-ECB, which uses AES-NI where the CPU has it).
 * CMAC is the RFC 4493 mode built on that primitive with the subkeys K1/K2 precomputed per
 * key: EVP_MAC would rebuild its state per message, and a cached ECB context costs one
 * dispatch per block, which is what makes millions of MICs per second per core possible
 * (DESIGN.md §9). */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "lorawan/lorawan.h"
#include "lorawan/wire_private.h"

/* RFC 4493 §2.3: Rb for 128-bit blocks. */
#define CMAC_RB 0x87u

static void cmac_double(const uint8_t in[16], uint8_t out[16])
{
    uint8_t carry = in[0] >> 7;
    for (int i = 0; i < 15; i++)
        out[i] = (uint8_t)(in[i] << 1 | in[i + 1] >> 7);
    out[15] = (uint8_t)(in[15] << 1);
    if (carry)
        out[15] ^= CMAC_RB;
}

int lorawan_key_init(lorawan_key_t *k, const uint8_t key[LORAWAN_KEY_LEN])
{
    if (k == NULL || key == NULL)
        return LORAWAN_E_PARAM;
    memset(k, 0, sizeof(*k));
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        return LORAWAN_E_CRYPTO;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, key, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx, 0) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return LORAWAN_E_CRYPTO;
    }
    k->ecb = ctx;
    /* RFC 4493 §2.3: L = AES(K, 0^128), K1 = dbl(L), K2 = dbl(K1). */
    uint8_t l[16] = {0};
    lorawan_aes_encrypt(k, l, l);
    cmac_double(l, k->k1);
    cmac_double(k->k1, k->k2);
    OPENSSL_cleanse(l, sizeof(l));
    return 0;
}

void lorawan_key_destroy(lorawan_key_t *k)
{
    if (k == NULL)
        return;
    EVP_CIPHER_CTX_free(k->ecb);
    OPENSSL_cleanse(k, sizeof(*k));
}

void lorawan_aes_encrypt(const lorawan_key_t *k, const uint8_t in[16], uint8_t out[16])
{
    int outl = 0;
    /* ECB without padding on a full block cannot fail once the context is set up; the
     * context is only read apart from OpenSSL's internal bookkeeping, hence the cast. */
    (void)EVP_EncryptUpdate((EVP_CIPHER_CTX *)k->ecb, out, &outl, in, 16);
}

static inline void xor16(uint8_t *dst, const uint8_t *src)
{
    uint64_t a[2], b[2];
    memcpy(a, dst, 16);
    memcpy(b, src, 16);
    a[0] ^= b[0];
    a[1] ^= b[1];
    memcpy(dst, a, 16);
}

/* Copies n bytes at offset pos of the virtual message head | msg into dst. */
static void gather(const uint8_t *head, size_t head_len, const uint8_t *msg, size_t pos, size_t n,
                   uint8_t *dst)
{
    if (n == 0)
        return; /* msg may be NULL for an empty message */
    if (pos >= head_len) {
        memcpy(dst, msg + (pos - head_len), n);
    } else if (pos + n <= head_len) {
        memcpy(dst, head + pos, n);
    } else {
        size_t h = head_len - pos;
        memcpy(dst, head + pos, h);
        memcpy(dst + h, msg, n - h);
    }
}

void lorawan_cmac(const lorawan_key_t *k, const uint8_t *head, size_t head_len, const uint8_t *msg,
                  size_t len, uint8_t out[16])
{
    /* RFC 4493 §2.4: CBC-MAC over all blocks, the last one XORed with K1 when complete or
     * padded with 10* and XORed with K2 otherwise (also for the empty message). */
    size_t total = head_len + len;
    size_t nblocks = total == 0 ? 1 : (total + 15) / 16;
    uint8_t x[16] = {0};
    uint8_t blk[16];
    size_t pos = 0;
    for (size_t b = 0; b + 1 < nblocks; b++, pos += 16) {
        gather(head, head_len, msg, pos, 16, blk);
        xor16(x, blk);
        lorawan_aes_encrypt(k, x, x);
    }
    size_t rest = total - pos;
    memset(blk, 0, sizeof(blk));
    gather(head, head_len, msg, pos, rest, blk);
    if (total != 0 && rest == 16) {
        xor16(blk, k->k1);
    } else {
        blk[rest] = 0x80;
        xor16(blk, k->k2);
    }
    xor16(x, blk);
    lorawan_aes_encrypt(k, x, out);
}

/* LoRaWAN 1.1 §4.4: B0 / B1 blocks (1.0.4 §4.4 B0 is the 1.1 B0 with zeroed ConfFCnt). */
static void mic_block(uint8_t b[16], uint16_t conf_fcnt, uint8_t tx_dr, uint8_t tx_ch, uint8_t dir,
                      const uint8_t dev_addr_wire[4], uint32_t fcnt, size_t msg_len)
{
    b[0] = 0x49;
    lorawan__put_le(b + 1, conf_fcnt, 2);
    b[3] = tx_dr;
    b[4] = tx_ch;
    b[5] = dir;
    memcpy(b + 6, dev_addr_wire, 4);
    lorawan__put_le(b + 10, fcnt, 4);
    b[14] = 0;
    b[15] = (uint8_t)msg_len;
}

static int check_data_msg(const void *key, const uint8_t *msg, size_t len, const uint8_t *mic)
{
    if (key == NULL || msg == NULL || mic == NULL)
        return LORAWAN_E_PARAM;
    if (len < LORAWAN_DATA_MIN_LEN - LORAWAN_MIC_LEN)
        return LORAWAN_E_SHORT;
    if (len > LORAWAN_PHY_MAX_LEN - LORAWAN_MIC_LEN)
        return LORAWAN_E_LONG;
    return 0;
}

int lorawan_mic_data_up_10(const lorawan_key_t *nwk_s_key, const uint8_t *msg, size_t len,
                           uint32_t fcnt, uint8_t mic[LORAWAN_MIC_LEN])
{
    int rc = check_data_msg(nwk_s_key, msg, len, mic);
    if (rc != 0)
        return rc;
    uint8_t b0[16], t[16];
    mic_block(b0, 0, 0, 0, 0, msg + 1, fcnt, len);
    lorawan_cmac(nwk_s_key, b0, 16, msg, len, t);
    memcpy(mic, t, LORAWAN_MIC_LEN);
    return 0;
}

int lorawan_mic_data_up_11(const lorawan_key_t *f_nwk_s_int_key,
                           const lorawan_key_t *s_nwk_s_int_key, const uint8_t *msg, size_t len,
                           uint32_t fcnt, uint32_t conf_fcnt, uint8_t tx_dr, uint8_t tx_ch,
                           uint8_t mic[LORAWAN_MIC_LEN])
{
    int rc = check_data_msg(f_nwk_s_int_key, msg, len, mic);
    if (rc != 0)
        return rc;
    if (s_nwk_s_int_key == NULL)
        return LORAWAN_E_PARAM;
    /* LoRaWAN 1.1 §4.4: ConfFCnt is the acknowledged downlink's counter only when ACK is
     * set, 0 otherwise. */
    uint16_t cf = (msg[5] & LORAWAN_FCTRL_ACK) ? (uint16_t)conf_fcnt : 0;
    uint8_t b0[16], b1[16], ts[16], tf[16];
    mic_block(b0, 0, 0, 0, 0, msg + 1, fcnt, len);
    mic_block(b1, cf, tx_dr, tx_ch, 0, msg + 1, fcnt, len);
    lorawan_cmac(s_nwk_s_int_key, b1, 16, msg, len, ts);
    lorawan_cmac(f_nwk_s_int_key, b0, 16, msg, len, tf);
    mic[0] = ts[0];
    mic[1] = ts[1];
    mic[2] = tf[0];
    mic[3] = tf[1];
    return 0;
}

int lorawan_mic_data_down(const lorawan_key_t *key, const uint8_t *msg, size_t len, uint32_t fcnt,
                          uint32_t conf_fcnt, uint8_t mic[LORAWAN_MIC_LEN])
{
    int rc = check_data_msg(key, msg, len, mic);
    if (rc != 0)
        return rc;
    uint16_t cf = (msg[5] & LORAWAN_FCTRL_ACK) ? (uint16_t)conf_fcnt : 0;
    uint8_t b0[16], t[16];
    mic_block(b0, cf, 0, 0, 1, msg + 1, fcnt, len);
    lorawan_cmac(key, b0, 16, msg, len, t);
    memcpy(mic, t, LORAWAN_MIC_LEN);
    return 0;
}

int lorawan_mic_join_request(const lorawan_key_t *key, const uint8_t *msg, size_t len,
                             uint8_t mic[LORAWAN_MIC_LEN])
{
    if (key == NULL || msg == NULL || mic == NULL)
        return LORAWAN_E_PARAM;
    uint8_t t[16];
    lorawan_cmac(key, NULL, 0, msg, len, t);
    memcpy(mic, t, LORAWAN_MIC_LEN);
    return 0;
}

int lorawan_mic_join_accept_10(const lorawan_key_t *key, const uint8_t *plain, size_t len,
                               uint8_t mic[LORAWAN_MIC_LEN])
{
    return lorawan_mic_join_request(key, plain, len, mic);
}

int lorawan_mic_join_accept_11(const lorawan_key_t *js_int_key, uint8_t join_req_type,
                               uint64_t join_eui, uint16_t dev_nonce, const uint8_t *plain,
                               size_t len, uint8_t mic[LORAWAN_MIC_LEN])
{
    if (js_int_key == NULL || plain == NULL || mic == NULL)
        return LORAWAN_E_PARAM;
    uint8_t head[11], t[16];
    head[0] = join_req_type;
    lorawan__put_le64(head + 1, join_eui);
    lorawan__put_le(head + 9, dev_nonce, 2);
    lorawan_cmac(js_int_key, head, sizeof(head), plain, len, t);
    memcpy(mic, t, LORAWAN_MIC_LEN);
    return 0;
}

int lorawan_mic_check(const uint8_t mic[LORAWAN_MIC_LEN], const uint8_t *phy, size_t len)
{
    if (mic == NULL || phy == NULL)
        return LORAWAN_E_PARAM;
    if (len < LORAWAN_MIC_LEN)
        return LORAWAN_E_SHORT;
    return CRYPTO_memcmp(mic, phy + len - LORAWAN_MIC_LEN, LORAWAN_MIC_LEN) == 0 ? 0
                                                                                 : LORAWAN_E_MIC;
}

static int check_ja_args(const void *key, const uint8_t *in, size_t len, const uint8_t *out,
                         size_t cap)
{
    if (key == NULL || in == NULL || out == NULL)
        return LORAWAN_E_PARAM;
    if (len != LORAWAN_JOIN_ACCEPT_LEN && len != LORAWAN_JOIN_ACCEPT_CFLIST_LEN)
        return LORAWAN_E_JA_LEN;
    if (cap < len)
        return LORAWAN_E_BUF;
    return 0;
}

int lorawan_join_accept_decrypt(const lorawan_key_t *key, const uint8_t *phy, size_t len,
                                uint8_t *out, size_t cap)
{
    int rc = check_ja_args(key, phy, len, out, cap);
    if (rc != 0)
        return rc;
    out[0] = phy[0];
    for (size_t off = 1; off < len; off += 16)
        lorawan_aes_encrypt(key, phy + off, out + off);
    return 0;
}

int lorawan_join_accept_encrypt(const uint8_t key[LORAWAN_KEY_LEN], const uint8_t *plain,
                                size_t len, uint8_t *out, size_t cap)
{
    int rc = check_ja_args(key, plain, len, out, cap);
    if (rc != 0)
        return rc;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        return LORAWAN_E_CRYPTO;
    rc = LORAWAN_E_CRYPTO;
    int outl = 0;
    uint8_t tmp[LORAWAN_JOIN_ACCEPT_CFLIST_LEN];
    /* LoRaWAN 1.0.4 §6.2.5: the network applies AES decrypt so that the device only needs
     * AES encrypt. */
    if (EVP_DecryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, key, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx, 0) != 1 ||
        EVP_DecryptUpdate(ctx, tmp, &outl, plain + 1, (int)(len - 1)) != 1 ||
        (size_t)outl != len - 1)
        goto out;
    out[0] = plain[0];
    memcpy(out + 1, tmp, len - 1);
    rc = 0;
out:
    OPENSSL_cleanse(tmp, sizeof(tmp));
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

void lorawan_payload_encrypt(const lorawan_key_t *key, bool downlink, uint32_t dev_addr,
                             uint32_t fcnt, const uint8_t *in, size_t len, uint8_t *out)
{
    /* LoRaWAN 1.0.4 §4.3.3.1: A_i = 01 | 00*4 | Dir | DevAddr | FCnt | 00 | i. */
    uint8_t a[16] = {0x01}, s[16];
    a[5] = downlink ? 1 : 0;
    lorawan__put_le(a + 6, dev_addr, 4);
    lorawan__put_le(a + 10, fcnt, 4);
    for (size_t off = 0, i = 1; off < len; off += 16, i++) {
        a[15] = (uint8_t)i;
        lorawan_aes_encrypt(key, a, s);
        size_t n = len - off < 16 ? len - off : 16;
        for (size_t j = 0; j < n; j++)
            out[off + j] = in[off + j] ^ s[j];
    }
}

int lorawan_fopts_encrypt(const lorawan_key_t *nwk_s_enc_key, bool downlink, bool a_fcnt_down,
                          uint32_t dev_addr, uint32_t fcnt, const uint8_t *in, size_t len,
                          uint8_t *out)
{
    if (nwk_s_enc_key == NULL || (len > 0 && (in == NULL || out == NULL)))
        return LORAWAN_E_PARAM;
    if (len > LORAWAN_FOPTS_MAX_LEN)
        return LORAWAN_E_LONG;
    /* LoRaWAN 1.1 errata on FOpts encryption (2018): byte 4 tells which downlink counter
     * was used and the block counter is 1. */
    uint8_t a[16] = {0x01}, s[16];
    a[4] = a_fcnt_down ? 0x02 : 0x01;
    a[5] = downlink ? 1 : 0;
    lorawan__put_le(a + 6, dev_addr, 4);
    lorawan__put_le(a + 10, fcnt, 4);
    a[15] = 0x01;
    lorawan_aes_encrypt(nwk_s_enc_key, a, s);
    for (size_t j = 0; j < len; j++)
        out[j] = in[j] ^ s[j];
    return 0;
}

static void derive(const lorawan_key_t *key, uint8_t prefix, const uint8_t *x, size_t x_len,
                   uint8_t *out)
{
    uint8_t b[16] = {0};
    b[0] = prefix;
    memcpy(b + 1, x, x_len);
    lorawan_aes_encrypt(key, b, out);
}

int lorawan_derive_keys_10(const lorawan_key_t *app_key, uint32_t join_nonce, uint32_t net_id,
                           uint16_t dev_nonce, uint8_t nwk_s_key[LORAWAN_KEY_LEN],
                           uint8_t app_s_key[LORAWAN_KEY_LEN])
{
    if (app_key == NULL)
        return LORAWAN_E_PARAM;
    uint8_t x[8];
    lorawan__put_le(x, join_nonce, 3);
    lorawan__put_le(x + 3, net_id, 3);
    lorawan__put_le(x + 6, dev_nonce, 2);
    if (nwk_s_key != NULL)
        derive(app_key, 0x01, x, sizeof(x), nwk_s_key);
    if (app_s_key != NULL)
        derive(app_key, 0x02, x, sizeof(x), app_s_key);
    return 0;
}

int lorawan_derive_keys_11(const lorawan_key_t *nwk_key, const lorawan_key_t *app_key,
                           uint32_t join_nonce, uint64_t join_eui, uint16_t dev_nonce,
                           lorawan_keys_11_t *out)
{
    if (nwk_key == NULL || app_key == NULL || out == NULL)
        return LORAWAN_E_PARAM;
    uint8_t x[13];
    lorawan__put_le(x, join_nonce, 3);
    lorawan__put_le64(x + 3, join_eui);
    lorawan__put_le(x + 11, dev_nonce, 2);
    derive(nwk_key, 0x01, x, sizeof(x), out->f_nwk_s_int_key);
    derive(app_key, 0x02, x, sizeof(x), out->app_s_key);
    derive(nwk_key, 0x03, x, sizeof(x), out->s_nwk_s_int_key);
    derive(nwk_key, 0x04, x, sizeof(x), out->nwk_s_enc_key);
    return 0;
}

int lorawan_derive_js_keys(const lorawan_key_t *nwk_key, uint64_t dev_eui,
                           uint8_t js_int_key[LORAWAN_KEY_LEN], uint8_t js_enc_key[LORAWAN_KEY_LEN])
{
    if (nwk_key == NULL)
        return LORAWAN_E_PARAM;
    uint8_t x[8];
    lorawan__put_le64(x, dev_eui);
    if (js_int_key != NULL)
        derive(nwk_key, 0x06, x, sizeof(x), js_int_key);
    if (js_enc_key != NULL)
        derive(nwk_key, 0x05, x, sizeof(x), js_enc_key);
    return 0;
}

static const EVP_CIPHER *wrap_cipher(size_t kek_len)
{
    switch (kek_len) {
    case 16:
        return EVP_aes_128_wrap();
    case 24:
        return EVP_aes_192_wrap();
    case 32:
        return EVP_aes_256_wrap();
    default:
        return NULL;
    }
}

static int key_wrap_op(bool wrap, const uint8_t *kek, size_t kek_len, const uint8_t *in, size_t len,
                       uint8_t *out, size_t cap, size_t *out_len)
{
    const EVP_CIPHER *cipher = wrap_cipher(kek_len);
    /* RFC 3394 §2: at least two 64-bit blocks of key data (plus the integrity block when
     * unwrapping); capped well above any key so the int casts below are safe. */
    size_t min = wrap ? 16 : 24;
    if (cipher == NULL || kek == NULL || in == NULL || out == NULL || out_len == NULL ||
        len % 8 != 0 || len < min || len > 4096)
        return LORAWAN_E_PARAM;
    size_t need = wrap ? len + 8 : len - 8;
    if (cap < need)
        return LORAWAN_E_BUF;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        return LORAWAN_E_CRYPTO;
    int rc = LORAWAN_E_CRYPTO;
    int n = 0, fin = 0;
    EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    if (EVP_CipherInit_ex(ctx, cipher, NULL, kek, NULL, wrap ? 1 : 0) != 1)
        goto out;
    if (EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1) {
        rc = wrap ? LORAWAN_E_CRYPTO : LORAWAN_E_UNWRAP;
        goto out;
    }
    if (EVP_CipherFinal_ex(ctx, out + n, &fin) != 1)
        goto out;
    if ((size_t)(n + fin) != need)
        goto out;
    *out_len = need;
    rc = 0;
out:
    if (rc != 0)
        OPENSSL_cleanse(out, need);
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int lorawan_key_wrap(const uint8_t *kek, size_t kek_len, const uint8_t *in, size_t len,
                     uint8_t *out, size_t cap, size_t *out_len)
{
    return key_wrap_op(true, kek, kek_len, in, len, out, cap, out_len);
}

int lorawan_key_unwrap(const uint8_t *kek, size_t kek_len, const uint8_t *in, size_t len,
                       uint8_t *out, size_t cap, size_t *out_len)
{
    return key_wrap_op(false, kek, kek_len, in, len, out, cap, out_len);
}

int lorawan_fcnt_expand(uint32_t last, uint16_t fcnt16, uint32_t *out)
{
    if (out == NULL)
        return LORAWAN_E_PARAM;
    uint64_t v = (uint64_t)(last & 0xffff0000u) | fcnt16;
    if (v < last)
        v += 0x10000u;
    if (v > UINT32_MAX)
        return LORAWAN_E_FCNT;
    *out = (uint32_t)v;
    return 0;
}
