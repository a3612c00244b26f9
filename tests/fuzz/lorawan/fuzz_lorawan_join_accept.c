/* Fuzz target: join-accept decryption and parsing. The input is a join-accept as on the
 * air; it is decrypted with a fixed AppKey, parsed, MIC-checked with both the 1.0 and 1.1
 * formulas, and encrypting the plaintext back must give the input again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lorawan/lorawan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t app_key_raw[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                        0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};

static lorawan_key_t *fuzz_key(void)
{
    static lorawan_key_t key;
    static int ready;
    if (!ready) {
        if (lorawan_key_init(&key, app_key_raw) != 0)
            abort();
        ready = 1;
    }
    return &key;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lorawan_phy_t p;
    int rc = lorawan_phy_decode(data, size, &p);
    uint8_t plain[LORAWAN_JOIN_ACCEPT_CFLIST_LEN], back[LORAWAN_JOIN_ACCEPT_CFLIST_LEN];
    int drc = lorawan_join_accept_decrypt(fuzz_key(), data, size, plain, sizeof(plain));
    if (drc != 0)
        return 0;
    if (rc == 0 && p.mtype == LORAWAN_MTYPE_JOIN_ACCEPT && p.mac_payload_len != size - 1)
        abort();
    if (lorawan_join_accept_encrypt(app_key_raw, plain, size, back, sizeof(back)) != 0 ||
        memcmp(back, data, size) != 0)
        abort();
    lorawan_join_accept_t ja;
    if (lorawan_join_accept_parse(plain, size, &ja) != 0)
        return 0;
    uint8_t mic[4], enc[LORAWAN_JOIN_ACCEPT_CFLIST_LEN];
    size_t enc_len = 0;
    (void)lorawan_mic_join_accept_10(fuzz_key(), plain, size - 4, mic);
    (void)lorawan_mic_check(mic, plain, size);
    (void)lorawan_mic_join_accept_11(fuzz_key(), 0xff, 0x0102030405060708ull, 1, plain, size - 4,
                                     mic);
    if (lorawan_join_accept_encode(&ja, enc, sizeof(enc), &enc_len) != 0 || enc_len != size)
        abort();
    /* Only the RFU bits (MHDR 4..2, RxDelay 7..4) may differ. */
    if (memcmp(enc + 1, plain + 1, 11) != 0 || memcmp(enc + 13, plain + 13, size - 13) != 0)
        abort();
    return 0;
}
