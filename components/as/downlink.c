/* The one downlink entry point (API, MQTT, webhooks): validate, encode, encrypt, lw.as.down. */
#include <stdlib.h>

#include "as/as_private.h"
#include "cluster/mem.h"

typedef struct down_defer {
    uv_timer_t timer;
    as_t *as;
    as_down_cb cb;
    void *arg;
} down_defer_t;

static void defer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void defer_fire(uv_timer_t *t)
{
    down_defer_t *d = t->data;
    lw_err_t e;
    lw_err_set(&e, &lw_err_unavailable, "downlinks are not available yet");
    d->as->inflight--;
    d->cb(d->arg, &e, NULL);
    uv_close((uv_handle_t *)t, defer_closed);
}

void as_downlink_request(as_t *as, const as_down_req_t *req, as_down_cb cb, void *arg)
{
    (void)req;
    down_defer_t *d = lw_calloc(1, sizeof *d);
    d->as = as;
    d->cb = cb;
    d->arg = arg;
    as->inflight++;
    uv_timer_init(as->loop, &d->timer);
    d->timer.data = d;
    uv_timer_start(&d->timer, defer_fire, 0, 0);
}
