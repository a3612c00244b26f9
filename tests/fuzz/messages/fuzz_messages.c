/* Fuzz target: the bus message decoders (lw_msg_<kind>_decode). The first input byte selects
 * the message kind (modulo the number of kinds); the rest is the encoded message. Whatever
 * decodes must pass protobuf-c's own check, encode again, and that encoding must decode and
 * encode to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "messages/messages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_KIND(kind, Kind, desc)                                                                \
    static void fuzz_##kind(const uint8_t *buf, size_t len)                                        \
    {                                                                                              \
        Kind *m = NULL;                                                                            \
        int rc = lw_msg_##kind##_decode(buf, len, &m);                                             \
        if (rc != 0) {                                                                             \
            if (m != NULL || lw_msg_strerror(rc)[0] == 'u')                                        \
                abort();                                                                           \
            return;                                                                                \
        }                                                                                          \
        if (m == NULL || !protobuf_c_message_check(&m->base))                                      \
            abort();                                                                               \
        uint8_t *out = malloc(LW_MSG_MAX_LEN), *out2 = malloc(LW_MSG_MAX_LEN);                     \
        size_t n = 0, n2 = 0;                                                                      \
        if (out == NULL || out2 == NULL)                                                           \
            abort();                                                                               \
        rc = lw_msg_##kind##_encode(m, out, LW_MSG_MAX_LEN, &n);                                   \
        if (rc == 0) {                                                                             \
            Kind *again = NULL;                                                                    \
            if (lw_msg_##kind##_decode(out, n, &again) != 0 ||                                     \
                lw_msg_##kind##_encode(again, out2, LW_MSG_MAX_LEN, &n2) != 0 || n2 != n ||        \
                memcmp(out, out2, n) != 0)                                                         \
                abort();                                                                           \
            lw_msg_##kind##_free(again);                                                           \
        } else if (rc != LW_MSG_E_TOO_LARGE) {                                                     \
            abort();                                                                               \
        }                                                                                          \
        free(out);                                                                                 \
        free(out2);                                                                                \
        lw_msg_##kind##_free(m);                                                                   \
    }
LW_MSG_KINDS(FUZZ_KIND)
#undef FUZZ_KIND

typedef void (*fuzz_fn)(const uint8_t *buf, size_t len);

static const fuzz_fn kinds[] = {
#define FUZZ_ENTRY(kind, Kind, desc) fuzz_##kind,
    LW_MSG_KINDS(FUZZ_ENTRY)
#undef FUZZ_ENTRY
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    kinds[data[0] % (sizeof(kinds) / sizeof(kinds[0]))](data + 1, size - 1);
    return 0;
}
