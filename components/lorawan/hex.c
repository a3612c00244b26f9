/* Hex conversion for tools and tests that carry frames and keys as text. */
#include "lorawan/lorawan.h"

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int lorawan_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t cap, size_t *out_len)
{
    if (hex == NULL || out_len == NULL || (out == NULL && hex_len > 0))
        return LORAWAN_E_PARAM;
    if (hex_len % 2 != 0)
        return LORAWAN_E_HEX;
    if (hex_len / 2 > cap)
        return LORAWAN_E_BUF;
    for (size_t i = 0; i < hex_len; i += 2) {
        int hi = hex_nibble(hex[i]);
        int lo = hex_nibble(hex[i + 1]);
        if (hi < 0 || lo < 0)
            return LORAWAN_E_HEX;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    *out_len = hex_len / 2;
    return 0;
}

int lorawan_hex_encode(const uint8_t *buf, size_t len, char *out, size_t cap)
{
    static const char digits[] = "0123456789abcdef";
    if (out == NULL || (buf == NULL && len > 0))
        return LORAWAN_E_PARAM;
    if (cap < 2 * len + 1)
        return LORAWAN_E_BUF;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[buf[i] >> 4];
        out[2 * i + 1] = digits[buf[i] & 0x0f];
    }
    out[2 * len] = '\0';
    return 0;
}
