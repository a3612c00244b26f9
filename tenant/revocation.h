/* lw.is.revocations (tenant/revocation.proto): credentials an Identity Server process ended
 * (an API key or access token deleted or narrowed, an entity deleted, a user changed). The
 * IS publishes them after their commit and forgets its own cached credentials by them; the
 * access checkers of the other servers (tenant/access.h) drop their cached answers. The
 * message is tenant's so that both read it without one including the other. Pure: no I/O. */
#ifndef TN_REVOCATION_H
#define TN_REVOCATION_H

#include <stddef.h>
#include <stdint.h>

#include "tenant/ids.h"

/* The topic's name as given to lw_bus_* (the bus adds its prefix: lw.is.revocations). */
#define TN_REVOCATIONS_TOPIC "is.revocations"

#define TN_REVOCATION_KEY_ID_MAX 64
#define TN_REVOCATION_MAX_BYTES  256 /* an encoded message is never longer */

typedef struct tn_revocation {
    char tenant_id[TN_ID_MAX + 1];
    char key_id[TN_REVOCATION_KEY_ID_MAX + 1]; /* one key or token; "": every credential of */
    char entity_type[16];                      /* ... this entity ("user", "application", ...);
                                                * all three "": rights in the tenant changed */
    char entity_id[TN_ID_MAX + 1];
    int64_t at_ms;      /* the publisher's wall clock at the commit */
    uint8_t origin[16]; /* the publishing process (it skips its own) */
    size_t origin_len;  /* 16, or 0 when absent */
} tn_revocation_t;

/* Encodes r into buf (TN_REVOCATION_MAX_BYTES suffice); returns the length, or 0 when buf
 * is too small. */
size_t tn_revocation_encode(const tn_revocation_t *r, uint8_t *buf, size_t cap);

/* Decodes a message into out. Returns 0, or -1 when it is not one or a field is longer than
 * out holds (nothing a revocation can name is). */
int tn_revocation_decode(const void *buf, size_t len, tn_revocation_t *out);

#endif
