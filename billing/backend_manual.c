/* The manual payment backend: no outbound call at all. A usage_reports row becomes `sent`
 * locally with no Stripe id; the operator bills from the ledger (its CSV export). */
#include <stdlib.h>

#include "billing/backend.h"
#include "cluster/mem.h"

typedef struct manual_report {
    uv_timer_t timer; /* the callback runs later, on the loop, never inside report() */
    billing_report_cb cb;
    void *arg;
} manual_report_t;

static int backend_manual_start(billing_t *b, lw_err_t *err)
{
    (void)b;
    (void)err;
    return 0;
}

static void manual_freed(uv_handle_t *h)
{
    free(h->data);
}

static void manual_fire(uv_timer_t *t)
{
    manual_report_t *r = t->data;
    billing_report_outcome_t out = {.sent = true};
    r->cb(r->arg, &out);
    uv_close((uv_handle_t *)&r->timer, manual_freed);
}

static int backend_manual_report(billing_t *b, const billing_report_row_t *row,
                                 billing_report_cb cb, void *arg, lw_err_t *err)
{
    (void)row;
    (void)err;
    manual_report_t *r = lw_calloc(1, sizeof *r);
    r->cb = cb;
    r->arg = arg;
    uv_timer_init(b->loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, manual_fire, 0, 0);
    return 0;
}

static void backend_manual_stop(billing_t *b, void (*done)(void *arg), void *arg)
{
    (void)b;
    done(arg); /* reports already accepted still call back on the next turn */
}

static void backend_manual_free(billing_t *b)
{
    (void)b;
}

const billing_backend_t billing_backend_manual = {
    .name = "manual",
    .start = backend_manual_start,
    .report = backend_manual_report,
    .stop = backend_manual_stop,
    .free = backend_manual_free,
};
