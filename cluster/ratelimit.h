/* Rate limits and concurrency caps keyed by a string (a user, a client address, a tenant, an
 * API key), in bounded memory. Pure: no I/O, no clock (the caller passes now_ms, any
 * monotonic milliseconds), no allocation after _new; loop-thread objects (not thread-safe).
 *
 * A rate is "N/PERIOD[ burst B]": N requests per PERIOD on average, at most B at once (B
 * defaults to N). The limiter is GCRA (the generic cell rate algorithm, a token bucket kept
 * as one timestamp per key): a key's "theoretical arrival time" TAT moves on by PERIOD/N
 * with each request allowed; a request is allowed while TAT - (B-1)*PERIOD/N <= now. A
 * refused request changes nothing, so hammering a limited key does not extend its wait.
 *
 * Memory: a fixed table of max_keys entries. A key whose TAT has passed is idle: it is in
 * exactly the state of a key never seen, so it is dropped whenever its slot is wanted and
 * nothing is lost. Only when every candidate slot holds a key still recovering is one of them
 * evicted: the one closest to idle (the least limited), and the result says so (evicted), so
 * that a flood of new keys loosens the limit of the least-used keys, never of the hottest. */
#ifndef LW_RATELIMIT_H
#define LW_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/err.h"
#include "cluster/metrics.h"

/* Keys are compared on their first LW_RATELIMIT_KEY_MAX - 1 bytes and a hash of all of them. */
#define LW_RATELIMIT_KEY_MAX 112

/* A rate: count requests per period_ms, burst at once. count == 0: no limit ("off"). */
typedef struct lw_rate {
    int64_t count;
    int64_t period_ms;
    int64_t burst;
} lw_rate_t;

/* Parses "10/1m", "100/s burst 200", "5/10s", "0" or "off" (no limit). PERIOD is a whole
 * number with unit ms, s, m or h ("1m"), or a bare unit ("m"). burst defaults to count and
 * may not exceed 1,000,000; PERIOD/N must be at least 1 µs. Returns 0, or -1 with why.
 * Its signature is that of a configuration check (cluster/config.h): pass out == NULL. */
int lw_rate_parse(const char *text, lw_rate_t *out, char *why, size_t why_len);
/* lw_rate_parse as an lw_cfg_opt_t check. */
int lw_rate_check(const char *value, char *why, size_t why_len);
/* True when the rate limits nothing. */
bool lw_rate_off(const lw_rate_t *rate);
/* The rate in requests per minute, rounded up (The Things Stack's `rate` attribute). */
int64_t lw_rate_per_minute(const lw_rate_t *rate);

typedef struct lw_ratelimit lw_ratelimit_t;

/* What one check found. */
typedef struct lw_ratelimit_result {
    bool allowed;
    int64_t limit;          /* the burst */
    int64_t remaining;      /* requests allowed at once after this one */
    int64_t retry_after_ms; /* refused: until one is allowed again; allowed: 0 */
    int64_t reset_after_ms; /* until the key is idle again (full burst available) */
    bool evicted;           /* a key still recovering was dropped to make room */
} lw_ratelimit_result_t;

/* A limiter of `rate` (copied) over at most max_keys keys (>= 1; rounded up to a power of
 * two). seed varies the hash per process, so that keys colliding on purpose are not
 * predictable. An "off" rate makes a limiter that allows everything and holds nothing.
 * Never NULL (allocation failure is fatal, cluster/mem.h). */
lw_ratelimit_t *lw_ratelimit_new(const lw_rate_t *rate, size_t max_keys, uint64_t seed);
void lw_ratelimit_free(lw_ratelimit_t *rl); /* NULL: no-op */

/* One request for key at now_ms: counts it when allowed. Returns out->allowed. out may be
 * NULL. now_ms going backwards is treated as no time passing. */
bool lw_ratelimit_take(lw_ratelimit_t *rl, const char *key, int64_t now_ms,
                       lw_ratelimit_result_t *out);
/* Whether lw_ratelimit_take would allow the request now, changing nothing (use it to check
 * several limits before counting in any). */
bool lw_ratelimit_peek(const lw_ratelimit_t *rl, const char *key, int64_t now_ms,
                       lw_ratelimit_result_t *out);
/* Keys held (idle ones not yet dropped included). */
size_t lw_ratelimit_size(const lw_ratelimit_t *rl);
const lw_rate_t *lw_ratelimit_rate(const lw_ratelimit_t *rl);

/* Retry-After in whole seconds: ms rounded up, at least 1. */
int64_t lw_ratelimit_retry_seconds(int64_t retry_after_ms);

/* Sets err to rate_limit_exceeded (The Things Stack's pkg/ratelimit error: 429, attributes
 * key, rate in accesses per minute and retry_after in seconds) for a request refused on
 * `key` by `rate`, and returns the Retry-After seconds to answer with. */
int64_t lw_ratelimit_err(lw_err_t *err, const char *key, const lw_rate_t *rate,
                         int64_t retry_after_ms);

/* The series of one class of limit ("login_user", "api_tenant") in
 * lwstack_ratelimit_allowed_total, _exceeded_total (429s) and _evicted_total (keys still
 * limited dropped from a full table), resolved once (cluster/metrics.h). m is borrowed. */
typedef struct lw_ratelimit_series {
    lw_metric_series_t *allowed, *exceeded, *evicted;
} lw_ratelimit_series_t;
void lw_ratelimit_series_init(lw_ratelimit_series_t *out, lw_metrics_t *m, const char *cls);
/* Counts one checked request in its series (allowed or exceeded, and evicted). */
void lw_ratelimit_series_count(const lw_ratelimit_series_t *s, const lw_ratelimit_result_t *r);

/* The key of a client address: an IPv4 address as it is, an IPv6 address as its /64
 * ("2001:db8:1:2::/64": one subscriber's block, not one of its 2^64 addresses), an
 * IPv4-mapped IPv6 address as the IPv4 address; anything else copied (truncated). */
void lw_ratelimit_addr_key(const char *ip, char *out, size_t out_len);

/* ---- concurrency per key ---------------------------------------------------------------- */

/* At most max_per_key holders per key at once, over at most max_keys keys (rounded up to a
 * power of two); a key with no holder takes no room. For per-tenant admission to a shared
 * resource (the worker pool): a tenant over its share is refused instead of queueing in
 * front of the others. */
typedef struct lw_gate lw_gate_t;

lw_gate_t *lw_gate_new(int max_per_key, size_t max_keys, uint64_t seed);
void lw_gate_free(lw_gate_t *g); /* NULL: no-op */
/* Takes one place for key. Returns false (nothing taken) when key already has max_per_key
 * holders, or when the table has no room for a new key. max_per_key <= 0: always true. */
bool lw_gate_enter(lw_gate_t *g, const char *key);
/* Gives back a place taken by lw_gate_enter (a key holding none: no-op). */
void lw_gate_leave(lw_gate_t *g, const char *key);
/* Holders of key now. */
int lw_gate_count(const lw_gate_t *g, const char *key);

#endif
