/* The grace policy (issue 11 item 2, beyond The Things Stack): a tenant billing flagged
 * (past_due, a failed payment) for tbs.grace-period is suspended. The time it was flagged is
 * billing_accounts.flagged_at, so the policy survives restarts: every
 * tbs.grace-check-interval the accounts flagged longer than the grace period are looked up,
 * and each whose tenant is still in the state billing set (flagged, not changed by hand) is
 * suspended through the tenant registry; then its account records the suspension. 0 (the
 * default): no timer, flagged until Stripe says otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing_private.h"
#include "cluster/log.h"
#include "cluster/mem.h"

struct billing_grace {
    billing_t *b;
    uv_timer_t timer;
    bool busy;   /* a round is running */
    int pending; /* suspensions in flight of this round */
    bool closing;
    bool timer_closed;
};

typedef struct grace_one {
    billing_grace_t *g;
    char tenant_id[TN_ID_MAX + 1];
} grace_one_t;

/* After stop, the state goes once the timer is closed and no round is running. */
static void grace_maybe_free(billing_grace_t *g)
{
    if (g->closing && g->timer_closed && !g->busy)
        free(g);
}

static void grace_round_done(billing_grace_t *g)
{
    if (g->pending == 0)
        g->busy = false;
    grace_maybe_free(g);
}

static void grace_recorded(void *arg, const PGresult *res, const lw_err_t *err)
{
    (void)res;
    grace_one_t *o = arg;
    if (err != NULL)
        lw_log_kv(LW_LOG_ERROR, "tbs", "cannot record a grace suspension",
                  LW_LOG_STR("tenant", o->tenant_id), LW_LOG_STR("error", err->message));
    else
        lw_log_kv(LW_LOG_INFO, "tbs", "tenant suspended after its grace period",
                  LW_LOG_STR("tenant", o->tenant_id));
    o->g->pending--;
    grace_round_done(o->g);
    free(o);
}

static void grace_suspended(void *arg, int status, json_t *body, const lw_err_t *err)
{
    grace_one_t *o = arg;
    billing_grace_t *g = o->g;
    if (err != NULL || status >= 300) {
        lw_err_t e;
        if (err != NULL)
            e = *err;
        else
            billing_registry_error(status, body, &e);
        lw_log_kv(LW_LOG_WARN, "tbs", "cannot suspend a tenant after its grace period",
                  LW_LOG_STR("tenant", o->tenant_id), LW_LOG_STR("error", e.message));
        g->pending--;
        grace_round_done(g);
        free(o);
        return;
    }
    const char *params[] = {o->tenant_id};
    if (lw_db_query(g->b->db,
                    "UPDATE lw_control.billing_accounts SET billing_state = 'STATE_SUSPENDED', "
                    "flagged_at = NULL, updated_at = now() WHERE tenant_id = $1 AND "
                    "billing_state = 'STATE_FLAGGED'",
                    1, params, grace_recorded, o) != 0) {
        g->pending--;
        grace_round_done(g);
        free(o);
    }
}

static void grace_found(void *arg, const PGresult *res, const lw_err_t *err)
{
    billing_grace_t *g = arg;
    if (err != NULL) {
        lw_log_kv(LW_LOG_WARN, "tbs", "cannot look up flagged tenants",
                  LW_LOG_STR("error", err->message));
        g->busy = false;
        grace_maybe_free(g);
        return;
    }
    for (int r = 0; r < PQntuples(res) && !g->closing; r++) {
        const char *id = PQgetvalue(res, r, 0);
        tn_tenant_t t;
        /* Only a tenant still flagged, as billing left it, is billing's to suspend. */
        if (!tn_get(g->b->tn, id, &t) || t.deleted || t.state != TN_STATE_FLAGGED)
            continue;
        grace_one_t *o = lw_calloc(1, sizeof *o);
        o->g = g;
        snprintf(o->tenant_id, sizeof o->tenant_id, "%s", id);
        tn_state_t s = TN_STATE_SUSPENDED;
        lw_err_t e;
        if (billing_registry_update(g->b, id, &s, "billing: grace period over", NULL,
                                    grace_suspended, o, &e) != 0) {
            free(o);
            continue;
        }
        g->pending++;
    }
    grace_round_done(g);
}

static void grace_tick(uv_timer_t *timer)
{
    billing_grace_t *g = timer->data;
    if (g->busy || g->closing)
        return;
    g->busy = true;
    char grace[24];
    snprintf(grace, sizeof grace, "%lld", g->b->cfg.grace_period_ms);
    const char *params[] = {grace};
    if (lw_db_query(g->b->db,
                    "SELECT tenant_id FROM lw_control.billing_accounts WHERE billing_state = "
                    "'STATE_FLAGGED' AND flagged_at IS NOT NULL AND flagged_at <= now() - "
                    "($1::bigint * interval '1 millisecond') ORDER BY flagged_at LIMIT 1000",
                    1, params, grace_found, g) != 0)
        g->busy = false;
}

int billing_grace_start(billing_t *b, lw_err_t *err)
{
    (void)err;
    if (b->cfg.grace_period_ms <= 0)
        return 0;
    billing_grace_t *g = lw_calloc(1, sizeof *g);
    g->b = b;
    uv_timer_init(b->loop, &g->timer);
    g->timer.data = g;
    uint64_t every = (uint64_t)b->cfg.grace_check_interval_ms;
    uv_timer_start(&g->timer, grace_tick, every, every);
    b->grace = g;
    return 0;
}

static void grace_closed(uv_handle_t *h)
{
    billing_grace_t *g = h->data;
    g->timer_closed = true;
    grace_maybe_free(g);
}

void billing_grace_stop(billing_t *b)
{
    billing_grace_t *g = b->grace;
    if (g == NULL)
        return;
    b->grace = NULL;
    g->closing = true;
    /* A round in flight finishes on its own (the registry's stop cancels its calls). */
    uv_close((uv_handle_t *)&g->timer, grace_closed);
}
