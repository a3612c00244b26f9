#include "cluster/uid.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "cluster/log.h"

static _Atomic uint64_t uid_counter;
static uint8_t uid_prefix[8];
static _Atomic int uid_ready; /* 0: not drawn, 1: drawing, 2: drawn */

static void uid_init(void)
{
    int expect = 0;
    if (atomic_compare_exchange_strong(&uid_ready, &expect, 1)) {
        uint8_t r[16];
        if (RAND_bytes(r, sizeof r) != 1) {
            /* Without a random prefix, ids of two processes could collide. */
            lw_log(LW_LOG_ERROR, "uid", "no random bytes for the id prefix", NULL);
            abort();
        }
        memcpy(uid_prefix, r, sizeof uid_prefix);
        uint64_t c;
        memcpy(&c, r + 8, sizeof c);
        /* The counter starts at a random point too: ids look alike less often in logs. */
        atomic_store(&uid_counter, c);
        atomic_store(&uid_ready, 2);
        return;
    }
    while (atomic_load(&uid_ready) != 2)
        ;
}

void lw_uid(uint8_t out[LW_UID_LEN])
{
    if (atomic_load_explicit(&uid_ready, memory_order_acquire) != 2)
        uid_init();
    uint64_t c = atomic_fetch_add_explicit(&uid_counter, 1, memory_order_relaxed);
    memcpy(out, uid_prefix, 8);
    for (int i = 0; i < 8; i++)
        out[8 + i] = (uint8_t)(c >> (56 - 8 * i));
}
