/* The Tenant Billing Server ("tbs"): plans, Stripe webhooks driving tenant states, metered
 * usage, reporting to a payment backend (issue 11; tts-features.md §17).
 *
 * HTTP API (not tenant-scoped unless said):
 *   POST /api/v3/tbs/stripe                    Stripe webhooks (Stripe-Signature verified)
 *   GET  /api/v3/tbs/tenants/{tenant_id}/billing   the tenant's plan, limits and billing state
 *                                              (its own tenant: rights as the tenant API)
 *   GET  /api/v3/tbs/tenants                   operators (TenantAdminKey): every tenant with
 *                                              its billing state
 *   PUT  /api/v3/tbs/tenants/{tenant_id}/plan  operators: assign or change a tenant's plan
 *   GET|POST /api/v3/tbs/plans, GET|PUT|DELETE /api/v3/tbs/plans/{plan_id}  operators: plans
 * The rest of the module's shape is in billing_private.h. Nothing depends on this module
 * but the composition root. */
#ifndef BILLING_BILLING_H
#define BILLING_BILLING_H

#include "cluster/err.h"
#include "cluster/runtime.h"

/* Errors of the billing module (billing/errors.def). */
#define LW_ERR_DEF(name, ns, http, grpc, fmt) LW_ERR_DECLARE(name);
#include "billing/errors.def"
#undef LW_ERR_DEF

/* The component ("tbs"). Needs the tenant component (registered first by main). */
extern const lw_component_t billing_component;

/* `lwstack billing reconcile [--period YYYY-MM] [--tenant ID] [--fix] [--json]`
 * (billing/reconcile.c): compares the usage ledger and tenant states with Stripe; exit 0
 * clean, 1 differences remain, 2 error. argv[0] is "billing". */
int billing_reconcile_main(lw_config_t *cfg, int argc, char **argv);

#endif
