/* Hexadecimal text of bytes, the cluster layer's one copy (components/lorawan keeps its own
 * pure hex.c: lorawan depends on nothing of ours and cluster never on a component, so the
 * two layers cannot share one). */
#ifndef LW_HEX_H
#define LW_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes the lowercase hex of in[0..n) and a NUL to out, which holds 2 * n + 1 bytes. */
void lw_hex_encode(const uint8_t *in, size_t n, char *out);

/* The value of one hex digit (either case), or -1 when c is not one (URL %-escapes). */
int lw_hex_digit(char c);

/* Decodes the NUL-terminated hex (either case) into out. Returns the number of bytes
 * written, or -1 when hex has an odd length, a non-hex character or more than cap bytes
 * (out is then unspecified). */
int lw_hex_decode(const char *hex, uint8_t *out, size_t cap);

#endif
