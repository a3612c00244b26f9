/* Helpers shared by the components/lorawan unit tests. */
#ifndef LORAWAN_TEST_UTIL_H
#define LORAWAN_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lorawan/lorawan.h"

/* Decodes a hex literal into buf (asserting it is valid) and returns its length. */
static inline size_t unhex(const char *hex, uint8_t *buf, size_t cap)
{
    size_t len = 0;
    assert_int_equal(lorawan_hex_decode(hex, strlen(hex), buf, cap, &len), 0);
    return len;
}

/* Asserts that buf[0..len) is exactly the bytes of the hex literal. */
#define assert_hex_equal(hex, buf, len)                                                            \
    do {                                                                                           \
        uint8_t want_[512];                                                                        \
        size_t want_len_ = unhex((hex), want_, sizeof(want_));                                     \
        assert_int_equal((len), want_len_);                                                        \
        assert_memory_equal((buf), want_, want_len_);                                              \
    } while (0)

static inline void key_from_hex(lorawan_key_t *k, const char *hex)
{
    uint8_t raw[16];
    assert_int_equal(unhex(hex, raw, sizeof(raw)), 16);
    assert_int_equal(lorawan_key_init(k, raw), 0);
}

#endif
