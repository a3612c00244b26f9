/* The uplink token: what the GS needs to route a downlink back to the gateway and antenna
 * that heard the uplink, and to time it. Opaque to every other component (the NS copies it
 * from RxMetadata.uplink_token into GsDown.uplink_token). Pure. Big-endian fields:
 *   version (1) | gateway EUI (8) | antenna (4) | timestamp µs (4) | received_at ns (8) |
 *   front-end xtime (8) | front-end rctx (8) */
#include <string.h>

#include "gs/core_private.h"

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

void gs_token_encode(const gs_token_t *t, uint8_t out[GS_TOKEN_LEN])
{
    out[0] = GS_TOKEN_VERSION;
    put_be(out + 1, t->eui, 8);
    put_be(out + 9, t->antenna_index, 4);
    put_be(out + 13, t->timestamp, 4);
    put_be(out + 17, (uint64_t)t->received_ns, 8);
    put_be(out + 25, (uint64_t)t->fe.xtime, 8);
    put_be(out + 33, (uint64_t)t->fe.rctx, 8);
}

int gs_token_decode(const uint8_t *buf, size_t len, gs_token_t *out)
{
    if (buf == NULL || len != GS_TOKEN_LEN || buf[0] != GS_TOKEN_VERSION)
        return -1;
    out->eui = get_be(buf + 1, 8);
    out->antenna_index = (uint32_t)get_be(buf + 9, 4);
    out->timestamp = (uint32_t)get_be(buf + 13, 4);
    out->received_ns = (int64_t)get_be(buf + 17, 8);
    out->fe.xtime = (int64_t)get_be(buf + 25, 8);
    out->fe.rctx = (int64_t)get_be(buf + 33, 8);
    return 0;
}
