/* Private to the billing module: the component state and the interfaces between its files.
 *
 * Each part keeps its state behind one pointer in struct billing and has a start/stop pair
 * called from component.c (start in this order, stop in reverse):
 *
 *   component.c     the tbs.* table, lifecycle, the shared state below
 *   plans.c         plans: billing_plans from configuration and the operator API (tbs)
 *   stripe_sig.c    pure: Stripe-Signature parsing and verification (tbs)
 *   webhook.c       POST /api/v3/tbs/stripe, the subscription → tenant state machine (tbs)
 *   registry.c      the tenant registry through its HTTP API on this node (tbs)
 *   grace.c         the grace policy: flagged for tbs.grace-period, then suspended (tbs)
 *   api.c           tenant and operator billing APIs (tbs)
 *   ledger.c        lw.usage consumer, ledger, period closing (meter)
 *   backend.h, backend_stripe.c, backend_manual.c, stripe_api.c, report.c (stripe)
 *
 * ## Plans (item 1)
 * A plan is a Stripe price or plan ID that billing manages: lw_control.billing_plans, one row
 * per ID, kind `recurring` (fixed price) or `metered` (usage reported per period). Its rows
 * come from two places:
 *  - configuration: every ID of tbs.stripe.recurring-plan-ids and tbs.stripe.metered-plan-ids
 *    is written at start (source `config`, kind from the list it is in); an ID in both lists
 *    is a configuration error;
 *  - the operator API (POST/PUT /api/v3/tbs/plans, source `api`), which also sets a plan's
 *    limits, meter and action.
 * A subscription's first item whose price ID (else plan ID) is a plan is the plan of the
 * tenant; a subscription with none is ignored (no_managed_plan, logged, 200).
 *
 * Limits a plan grants (max_applications, max_clients, max_end_devices, max_gateways,
 * max_organizations, max_users), as The Things Stack does, come from the Stripe plan's
 * metadata `max-applications`, ... (decimal; absent: unlimited). They are read from the
 * subscription item in the webhook's event body: `items.data[].price.metadata`, then
 * `items.data[].plan.metadata` (a key in the price's metadata wins). The plan's row overrides
 * them per limit (billing_plans.limits, JSON {"max_end_devices":"100",...}; a key present
 * there wins over the metadata; JSON null there = unlimited), set by the operator API or by
 * configuration `tbs.plans.<plan-id>.max-end-devices: 100` (a map, applied at start).
 *
 * A metered plan's item is recorded in billing_subscription_items with its meter and action:
 * price metadata `lw-meter` (`end_devices` → action `set`; `active_end_devices`, `uplinks`,
 * `downlinks`, `join_accepts`, `gateways`, `applications` → `increment`, except the
 * registered counts end_devices/gateways/applications which are `set`), overridden by the
 * plan's row (billing_plans.meter/action, from the API or `tbs.plans.<plan-id>.meter`);
 * default `end_devices`/`set` (The Things Stack's quantity). meter_event_name: price
 * metadata `lw-meter-event-name`, else the plan's row, else "lw_<meter>". */
#ifndef BILLING_BILLING_PRIVATE_H
#define BILLING_BILLING_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "billing/billing.h"
#include "cluster/bus.h"
#include "cluster/db.h"
#include "cluster/http.h"
#include "cluster/http_client.h"
#include "cluster/metrics.h"
#include "cluster/runtime.h"
#include "tenant/tenant.h"

/* What tbs.* configures (component.c reads it at init). Strings and lists are borrowed from
 * the configuration, which outlives the component. */
typedef struct billing_config {
    const char *backend;         /* tbs.backend: "stripe" | "manual" */
    const char *stripe_api_key;  /* tbs.stripe.api-key (secret); NULL when unset */
    const char *endpoint_secret; /* tbs.stripe.endpoint-secret-key (secret); NULL when unset */
    const char *api_base;        /* tbs.stripe.api-base, without a trailing '/' kept as given */
    const char *const *recurring_plan_ids;
    size_t n_recurring_plan_ids;
    const char *const *metered_plan_ids;
    size_t n_metered_plan_ids;
    long long grace_period_ms;         /* tbs.grace-period; 0: flagged until Stripe says */
    long long metering_period_ms;      /* tbs.metering.period */
    long long metering_close_delay_ms; /* tbs.metering.close-delay */
    long long reporting_interval_ms;   /* tbs.reporting.interval */
    const char *reporting_mode;        /* tbs.reporting.mode: "usage-records" | "meter-events" */
    long long signature_tolerance_ms;  /* tbs.signature-tolerance */
    long long grace_check_interval_ms; /* tbs.grace-check-interval */
    const char *tenant_admin_key;      /* tbs.tenant-admin-key (secret), else the first
                                        * tenancy.admin-keys; NULL: none */
    const char *tenant_registry_uri;   /* tbs.tenant-registry-uri; NULL: this node's listener */
} billing_config_t;

/* The parts' states (each part's own file defines its struct). */
struct billing_plans;
struct billing_webhook;
struct billing_registry;
struct billing_grace;
struct billing_api;
struct billing_ledger; /* meter helper: ledger.c */
struct billing_report; /* stripe helper: report.c */
struct billing_stripe; /* stripe helper: stripe_api.c */
struct billing_backend;

typedef struct billing billing_t;

struct billing {
    lw_rt_t *rt;
    uv_loop_t *loop;
    lw_db_t *db;
    lw_bus_t *bus;
    tn_t *tn;
    lw_http_t *http;
    lw_metrics_t *metrics;
    billing_config_t cfg;

    struct billing_plans *plans;
    struct billing_webhook *webhook;
    struct billing_registry *registry;
    struct billing_grace *grace;
    struct billing_api *api;
    struct billing_ledger *ledger;
    struct billing_report *report;
    struct billing_stripe *stripe;
    const struct billing_backend *backend;

    bool stopping;
};

#endif
