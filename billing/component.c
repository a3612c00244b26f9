/* The Tenant Billing Server component: the tbs.* configuration, lifecycle, shared state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/backend.h"
#include "billing/billing_private.h"
#include "cluster/log.h"
#include "cluster/mem.h"

static const char *const billing_backends[] = {"stripe", "manual", NULL};
static const char *const billing_reporting_modes[] = {"usage-records", "meter-events", NULL};

/* The Things Stack's names where it has them (tts-features.md §17.1); the rest are lwstack's
 * (issue 11 item 9). */
static const lw_cfg_opt_t billing_config_opts[] = {
    {.key = "tbs.backend",
     .type = LW_CFG_ENUM,
     .def = "stripe",
     .choices = billing_backends,
     .help = "Payment backend: stripe (webhooks in, usage reported to Stripe) or manual (no "
             "outbound call; usage and invoices exported as CSV)."},
    {.key = "tbs.stripe.api-key",
     .type = LW_CFG_STRING,
     .flags = LW_CFG_SECRET,
     .help = "Stripe secret API key (sk_...)."},
    {.key = "tbs.stripe.endpoint-secret-key",
     .type = LW_CFG_STRING,
     .flags = LW_CFG_SECRET,
     .help = "Signing secret of the Stripe webhook endpoint (whsec_...): every POST "
             "/api/v3/tbs/stripe must carry a valid Stripe-Signature made with it. Unset: "
             "every webhook is refused (400)."},
    {.key = "tbs.stripe.api-base",
     .type = LW_CFG_STRING,
     .def = "https://api.stripe.com",
     .help = "Base URL of the Stripe API (a local Stripe in tests and development)."},
    {.key = "tbs.stripe.recurring-plan-ids",
     .type = LW_CFG_LIST,
     .help = "Stripe price or plan IDs sold as fixed-price plans (managed by billing)."},
    {.key = "tbs.stripe.metered-plan-ids",
     .type = LW_CFG_LIST,
     .help = "Stripe price or plan IDs sold as metered plans (usage reported per period)."},
    {.key = "tbs.plans.*",
     .type = LW_CFG_MAP,
     .help = "Per-plan overrides, applied at start: tbs.plans.<plan-id>.max-end-devices (and "
             "max-applications, max-clients, max-gateways, max-organizations, max-users; a "
             "number or `unlimited`) win over the Stripe plan's metadata; "
             "tbs.plans.<plan-id>.meter and .action name what a metered plan bills."},
    {.key = "tbs.grace-period",
     .type = LW_CFG_DURATION,
     .def = "0s",
     .min = 0,
     .max = 31536000000LL,
     .help = "How long a tenant stays flagged (past_due, failed payment) before billing "
             "suspends it. 0: flagged until Stripe says otherwise (The Things Stack)."},
    {.key = "tbs.grace-check-interval",
     .type = LW_CFG_DURATION,
     .def = "1m",
     .min = 100,
     .max = 86400000,
     .help = "How often flagged tenants are checked against tbs.grace-period."},
    {.key = "tbs.metering.period",
     .type = LW_CFG_DURATION,
     .def = "1h",
     .min = 1000,
     .max = 2678400000LL,
     .help = "Length of a usage period (a multiple of usage.interval)."},
    {.key = "tbs.metering.close-delay",
     .type = LW_CFG_DURATION,
     .def = "5m",
     .min = 0,
     .max = 86400000,
     .help = "How long after its end a usage period is closed (must exceed usage.interval)."},
    {.key = "tbs.reporting.interval",
     .type = LW_CFG_DURATION,
     .def = "10m",
     .min = 100,
     .max = 86400000,
     .help = "How often closed usage periods are reported to the payment backend."},
    {.key = "tbs.reporting.mode",
     .type = LW_CFG_ENUM,
     .def = "usage-records",
     .choices = billing_reporting_modes,
     .help = "How usage reaches Stripe: usage-records (legacy subscription item usage "
             "records, as The Things Stack) or meter-events (billing meter events)."},
    {.key = "tbs.signature-tolerance",
     .type = LW_CFG_DURATION,
     .def = "300s",
     .min = 1000,
     .max = 86400000,
     .help = "How far a webhook's Stripe-Signature timestamp may lie from now (either way)."},
    {.key = "tbs.tenant-admin-key",
     .type = LW_CFG_STRING,
     .flags = LW_CFG_SECRET,
     .help = "Tenant admin key billing uses for the tenant registry (The Things Stack's "
             "tbs.tenant-admin-key); unset: the first of tenancy.admin-keys."},
    {.key = "tbs.tenant-registry-uri",
     .type = LW_CFG_STRING,
     .help = "Base URL of the tenant registry API (http://host:port); unset: this node's own "
             "HTTP listener."},
};

static int billing_config_register(lw_config_t *cfg)
{
    return lw_config_register(cfg, "tbs", billing_config_opts,
                              sizeof billing_config_opts / sizeof billing_config_opts[0]);
}

static const char *billing_config_str(const lw_config_t *cfg, const char *key)
{
    const char *s = lw_config_str(cfg, key);
    return s != NULL && s[0] != '\0' ? s : NULL;
}

static void billing_config_read(billing_config_t *c, const lw_config_t *cfg)
{
    c->backend = lw_config_str(cfg, "tbs.backend");
    c->stripe_api_key = billing_config_str(cfg, "tbs.stripe.api-key");
    c->endpoint_secret = billing_config_str(cfg, "tbs.stripe.endpoint-secret-key");
    c->api_base = lw_config_str(cfg, "tbs.stripe.api-base");
    c->recurring_plan_ids =
        lw_config_list(cfg, "tbs.stripe.recurring-plan-ids", &c->n_recurring_plan_ids);
    c->metered_plan_ids =
        lw_config_list(cfg, "tbs.stripe.metered-plan-ids", &c->n_metered_plan_ids);
    c->grace_period_ms = lw_config_duration_ms(cfg, "tbs.grace-period");
    c->grace_check_interval_ms = lw_config_duration_ms(cfg, "tbs.grace-check-interval");
    c->metering_period_ms = lw_config_duration_ms(cfg, "tbs.metering.period");
    c->metering_close_delay_ms = lw_config_duration_ms(cfg, "tbs.metering.close-delay");
    c->reporting_interval_ms = lw_config_duration_ms(cfg, "tbs.reporting.interval");
    c->reporting_mode = lw_config_str(cfg, "tbs.reporting.mode");
    c->signature_tolerance_ms = lw_config_duration_ms(cfg, "tbs.signature-tolerance");
    c->tenant_admin_key = billing_config_str(cfg, "tbs.tenant-admin-key");
    if (c->tenant_admin_key == NULL) {
        size_t n = 0;
        const char *const *keys = lw_config_list(cfg, "tenancy.admin-keys", &n);
        c->tenant_admin_key = n > 0 ? keys[0] : NULL;
    }
    c->tenant_registry_uri = billing_config_str(cfg, "tbs.tenant-registry-uri");
}

/* Checks what the table alone cannot: a plan ID in both lists; a usage period made of
 * whole usage.interval batches (a batch never spans two periods), closed only after the
 * last batch of the period has been published. */
static int billing_config_check(const billing_config_t *c, const lw_config_t *cfg, lw_err_t *err)
{
    if (lw_config_known(cfg, "usage.interval")) {
        long long usage_ms = lw_config_duration_ms(cfg, "usage.interval");
        if (usage_ms > 0 && c->metering_period_ms % usage_ms != 0)
            return lw_err_set(err, &lw_err_config_invalid,
                              "tbs.metering.period (%lld ms) must be a multiple of usage.interval "
                              "(%lld ms)",
                              c->metering_period_ms, usage_ms);
        if (c->metering_close_delay_ms <= usage_ms)
            return lw_err_set(err, &lw_err_config_invalid,
                              "tbs.metering.close-delay (%lld ms) must exceed usage.interval "
                              "(%lld ms)",
                              c->metering_close_delay_ms, usage_ms);
    }
    for (size_t i = 0; i < c->n_recurring_plan_ids; i++)
        for (size_t j = 0; j < c->n_metered_plan_ids; j++)
            if (strcmp(c->recurring_plan_ids[i], c->metered_plan_ids[j]) == 0) {
                lw_err_set(err, &lw_err_config_invalid,
                           "tbs.stripe.recurring-plan-ids and tbs.stripe.metered-plan-ids both "
                           "name plan `%s`",
                           c->metered_plan_ids[j]);
                return -1;
            }
    return 0;
}

static void billing_free(void *state)
{
    billing_t *b = state;
    if (b == NULL)
        return;
    billing_ledger_free(b);
    billing_report_free(b);
    if (b->backend != NULL)
        b->backend->free(b);
    billing_webhook_free(b);
    billing_plans_free(b);
    free(b);
}

static int billing_init(lw_rt_t *rt, void **state, lw_err_t *err)
{
    tn_t *tn = tn_from_runtime(rt);
    if (tn == NULL)
        return lw_err_set(err, &lw_err_internal, "the billing server needs the tenant module");
    billing_t *b = lw_calloc(1, sizeof *b);
    b->rt = rt;
    b->loop = lw_rt_loop(rt);
    b->db = lw_rt_db(rt);
    b->bus = lw_rt_bus(rt);
    b->http = lw_rt_http(rt);
    b->metrics = lw_rt_metrics(rt);
    b->tn = tn;
    billing_config_read(&b->cfg, lw_rt_config(rt));
    if (billing_config_check(&b->cfg, lw_rt_config(rt), err) != 0 ||
        billing_plans_init(b, lw_rt_config(rt), err) != 0 || billing_webhook_init(b, err) != 0 ||
        billing_api_init(b, err) != 0) {
        billing_free(b);
        return -1;
    }
    if (b->cfg.endpoint_secret == NULL)
        lw_log(LW_LOG_WARN, "tbs",
               "tbs.stripe.endpoint-secret-key is not set: every Stripe webhook is refused", NULL);
    *state = b;
    return billing_ledger_init(b, err);
}

static int billing_start(void *state, lw_err_t *err)
{
    billing_t *b = state;
    if (billing_ledger_start(b, err) != 0)
        return -1;
    b->backend = billing_backend_find(b->cfg.backend);
    if (b->backend == NULL)
        return lw_err_set(err, &lw_err_config_invalid, "tbs.backend `%s` is unknown",
                          b->cfg.backend);
    if (billing_plans_start(b, err) != 0 || billing_registry_start(b, err) != 0 ||
        billing_grace_start(b, err) != 0 || b->backend->start(b, err) != 0 ||
        billing_report_start(b, err) != 0)
        return -1;
    char plans[24];
    snprintf(plans, sizeof plans, "%zu", b->cfg.n_recurring_plan_ids + b->cfg.n_metered_plan_ids);
    lw_log(LW_LOG_INFO, "tbs", "tenant billing server started", "backend", b->cfg.backend,
           "configured_plans", plans, NULL);
    return 0;
}

/* Reporting stops first (its pass ends, the backend's calls with it), then the registry. */
typedef struct billing_stop_ctx {
    billing_t *b;
    void (*done)(void *arg);
    void *done_arg;
} billing_stop_ctx_t;

static void billing_report_stopped(void *arg)
{
    billing_stop_ctx_t *c = arg;
    billing_t *b = c->b;
    void (*done)(void *) = c->done;
    void *done_arg = c->done_arg;
    free(c);
    billing_registry_stop(b, done, done_arg);
}

static void billing_stop(void *state, void (*done)(void *arg), void *done_arg)
{
    billing_t *b = state;
    b->stopping = true;
    billing_plans_stop(b);
    billing_grace_stop(b);
    billing_ledger_stop(b);
    billing_stop_ctx_t *c = lw_malloc(sizeof *c);
    c->b = b;
    c->done = done;
    c->done_arg = done_arg;
    billing_report_stop(b, billing_report_stopped, c);
}

static bool billing_ready(const void *state)
{
    return billing_plans_ready(state);
}

const lw_component_t billing_component = {
    .name = "tbs",
    .help = "Tenant Billing Server: plans, Stripe webhooks, tenant states, metered usage",
    .config_register = billing_config_register,
    .init = billing_init,
    .start = billing_start,
    .stop = billing_stop,
    .free = billing_free,
    .ready = billing_ready,
};
