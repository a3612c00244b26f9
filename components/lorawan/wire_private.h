/* Private helpers of components/lorawan: little-endian wire integers (LoRaWAN 1.0.4 §4:
 * every multi-byte field is sent least significant byte first). */
#ifndef LORAWAN_WIRE_H
#define LORAWAN_WIRE_H

#include <stdint.h>

static inline uint32_t lorawan__get_le(const uint8_t *p, unsigned n)
{
    uint32_t v = 0;
    for (unsigned i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

static inline uint64_t lorawan__get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 8; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

static inline void lorawan__put_le(uint8_t *p, uint32_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

static inline void lorawan__put_le64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++, v >>= 8)
        p[i] = (uint8_t)v;
}

#endif
