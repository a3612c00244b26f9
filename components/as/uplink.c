/* The AS worker: lw.ns.up -> per-device FIFO -> formatter hook -> lw.as.up. */
#include "as/as_private.h"

int as_worker_start(as_t *as, lw_err_t *err)
{
    (void)as;
    (void)err;
    return 0;
}

void as_worker_stop(as_t *as)
{
    (void)as;
}

void as_worker_free(as_t *as)
{
    (void)as;
}

bool as_worker_idle(const as_t *as)
{
    (void)as;
    return true;
}
