/* Unique identifiers for messages and events, cheap enough for the data path.
 *
 * An id is 16 bytes: 8 drawn from OpenSSL's generator once per process, then a 64-bit
 * counter. Two processes share a prefix with probability 2^-64 per pair, so ids are unique
 * across a deployment; within a process they never repeat. They are not secrets and not
 * unpredictable: use RAND_bytes for anything an attacker must not guess (keys, tokens,
 * nonces). The data path asks for several per uplink, and RAND_bytes takes a lock and runs
 * a DRBG each time, which showed as 8% of the stack's time in ops/bench.
 *
 * Safe from any thread. */
#ifndef LW_UID_H
#define LW_UID_H

#include <stdint.h>

#define LW_UID_LEN 16

/* Writes a new id to out. */
void lw_uid(uint8_t out[LW_UID_LEN]);

#endif
