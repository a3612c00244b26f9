/* The cluster layer's millisecond clocks. On the loop, prefer uv_now(loop) (cached per
 * iteration); these are for code without a loop at hand or that needs the wall clock. */
#ifndef LW_CLOCK_H
#define LW_CLOCK_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC: for intervals and deadlines (never goes back). */
uint64_t lw_clock_mono_ms(void);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME): for expiry times stored or sent. */
int64_t lw_clock_wall_ms(void);

#endif
