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

#include <jansson.h>
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

/* ---- ledger.c: the usage ledger (meter) ------------------------------------------------ */

typedef struct billing_ledger billing_ledger_t;

/* Creates the ledger's state and registers the usage routes (usage_api.c), at init. */
int billing_ledger_init(billing_t *b, lw_err_t *err);
/* The HTTP client the usage API asks the Identity Server with. */
lw_http_client_t *billing_ledger_http(billing_t *b);

/* Checks tbs.metering.period (a multiple of usage.interval) and close-delay (above it):
 * invalid_billing_config. Then reads the offsets of lw.usage in usage_offsets and consumes
 * it (group tbs.usage) from them, applying batches and closing periods (ledger.c). */
int billing_ledger_start(billing_t *b, lw_err_t *err);
/* Stops consuming and closing; a transaction in flight ends with the pool. */
void billing_ledger_stop(billing_t *b);
/* After the loop has ended (at the component's free). */
void billing_ledger_free(billing_t *b);

typedef struct billing_ledger_stats {
    uint64_t applied;      /* batches applied */
    uint64_t events;       /* their uplinks + downlinks + join-accepts */
    uint64_t duplicates;   /* skipped: batch id applied before */
    uint64_t replayed;     /* skipped: offset below PostgreSQL's */
    uint64_t late;         /* added to the open period: theirs was closed */
    uint64_t invalid;      /* undecodable, skipped */
    uint64_t closed;       /* periods closed */
    uint64_t transactions; /* committed */
} billing_ledger_stats_t;
void billing_ledger_stats(const billing_t *b, billing_ledger_stats_t *out);

/* ---- usage_api.c: usage for tenants, the ledger for operators (meter) ------------------- */

/* Registers GET /api/v3/tbs/tenants/{tenant_id}/usage and GET /api/v3/tbs/ledger (from
 * billing_ledger_init). */
int billing_usage_api_register(billing_t *b, lw_err_t *err);

/* ---- stripe_sig.c: Stripe-Signature (pure; stripe-billing.md §1.8) --------------------- */

#define BILLING_SIG_LEN        32   /* HMAC-SHA256 */
#define BILLING_SIG_MAX_V1     8    /* v1 entries kept (several during secret rotation) */
#define BILLING_SIG_HEADER_MAX 1024 /* longer headers are refused */

typedef struct billing_sig {
    int64_t t; /* unix seconds */
    uint8_t v1[BILLING_SIG_MAX_V1][BILLING_SIG_LEN];
    size_t n_v1;
} billing_sig_t;

/* Parses a Stripe-Signature value: items separated by ',' (spaces and tabs around an item
 * are dropped, empty items skipped), each `key=value`; exactly one `t` (1 to 12 digits);
 * every `v1` of 64 hex digits is kept (other v1 values, and other schemes such as v0, are
 * skipped). Returns 0, or -1 with invalid_signature whose attribute `reason` says what is
 * wrong (no timestamp, no v1 signature, more than one timestamp, ...). */
int billing_sig_parse(const char *header, size_t len, billing_sig_t *out, lw_err_t *err);
/* HMAC-SHA256 with key `secret` (as given, "whsec_" included) over "<t>." + payload. */
int billing_sig_compute(const char *secret, int64_t t, const void *payload, size_t len,
                        uint8_t mac[BILLING_SIG_LEN]);
/* Verifies a webhook: header (NULL: missing_signature) parsed as above, then any v1 equal
 * to the expected MAC (constant-time, every entry compared; else signature_mismatch), then
 * |now_s - t| <= tolerance_s (else timestamp_out_of_tolerance). A NULL secret matches
 * nothing. Returns 0 or -1 with err. */
int billing_sig_verify(const char *header, size_t header_len, const void *payload, size_t len,
                       const char *secret, int64_t now_s, int64_t tolerance_s, lw_err_t *err);
/* Writes "t=<t>,v1=<hex>" for payload into out (tests and tools). Returns 0, or -1 when
 * cap is too small. */
int billing_sig_header(const char *secret, int64_t t, const void *payload, size_t len, char *out,
                       size_t cap);

/* ---- event.c: Stripe events (pure) ---------------------------------------------------- */

#define BILLING_STRIPE_ID_MAX   255
#define BILLING_MAX_ITEMS       20 /* Stripe's limit of items per subscription */
#define BILLING_EVENT_MAX_BYTES (512u * 1024u)

typedef enum billing_event_kind {
    BILLING_EV_OTHER = 0,    /* answered 200 and recorded as ignored */
    BILLING_EV_SUBSCRIPTION, /* customer.subscription.created|updated|deleted */
    BILLING_EV_INVOICE,      /* invoice.paid, invoice.payment_failed */
} billing_event_kind_t;

/* One subscription item. Strings and objects are borrowed from the event's root. */
typedef struct billing_item {
    const char *item_id;
    const char *price_id; /* NULL when the item has no price (an old plan-only item) */
    const char *plan_id;  /* NULL when absent */
    json_t *price_metadata, *plan_metadata; /* NULL when absent */
} billing_item_t;

/* A decoded event. Every pointer is borrowed from root (owned). */
typedef struct billing_event {
    json_t *root;
    const char *id, *type;
    int64_t created; /* unix seconds, -1 when absent */
    billing_event_kind_t kind;
    const char *customer;      /* subscription's or invoice's customer ID */
    const char *customer_name; /* when the customer is expanded; else NULL */
    const char *customer_email;
    const char *sub_id; /* the subscription (an invoice's may be NULL) */
    /* subscription events */
    const char *status;
    json_t *metadata; /* subscription metadata, NULL when absent */
    billing_item_t items[BILLING_MAX_ITEMS];
    size_t nitems;
    /* invoice events */
    const char *invoice_id, *invoice_status, *currency;
    int64_t amount_due, amount_paid, attempt_count; /* -1 when absent */
} billing_event_t;

/* Decodes an event body (at most BILLING_EVENT_MAX_BYTES). Needs an id, a type and
 * data.object; subscription events need the subscription's id, customer and status, every
 * item an id and a price or plan; invoice events the invoice's id and customer. Other types
 * decode with kind BILLING_EV_OTHER. Returns 0 (destroy it after), or -1 with invalid_event
 * (attribute reason) and nothing to destroy. */
int billing_event_decode(const void *body, size_t len, billing_event_t *out, lw_err_t *err);
void billing_event_destroy(billing_event_t *ev);
/* A non-empty string of the subscription's metadata, or NULL. */
const char *billing_event_meta(const billing_event_t *ev, const char *key);
/* The limits an item's plan grants: price metadata `max-*`, else plan metadata (decimal or
 * "unlimited"; absent: unlimited), then each key of `overrides` (billing_plans.limits:
 * {"max_end_devices": "100" | 100 | null}) wins. it and overrides may be NULL. Returns 0, or
 * -1 with invalid_event (metadata; attribute field) or invalid_billing_config (override). */
int billing_item_limits(const billing_item_t *it, json_t *overrides, int64_t limits[TN_LIMIT_COUNT],
                        lw_err_t *err);

/* What a subscription event does to its tenant. */
typedef enum billing_action {
    BILLING_ACT_NONE = 0,
    BILLING_ACT_IGNORE, /* reason says why; nothing changes */
    BILLING_ACT_CREATE, /* a new approved tenant with an initial user */
    BILLING_ACT_UPDATE, /* state (unless keep_state) and limits */
} billing_action_t;

typedef struct billing_decide_in {
    const char *status;   /* the subscription's */
    bool deleted;         /* customer.subscription.deleted */
    const char *customer; /* the event's */
    const char *subscription;
    bool tenant_exists; /* in the registry, not deleted */
    tn_state_t tenant_state;
    bool account_exists;                                 /* a billing_accounts row */
    const char *account_customer, *account_subscription; /* NULL when unset */
    bool billing_state_known;
    tn_state_t billing_state; /* the state billing last set */
} billing_decide_in_t;

typedef struct billing_decision {
    billing_action_t action;
    tn_state_t state;   /* CREATE/UPDATE: the state to set */
    bool keep_state;    /* UPDATE: the state is the operator's; limits only */
    const char *reason; /* IGNORE (and keep_state): static text */
} billing_decision_t;

/* The Things Stack's state machine (tts-features.md §17.3): active/trialing → approved
 * (created if new), past_due → flagged, unpaid/canceled/deleted → suspended, incomplete* and
 * others ignored; an existing tenant must have a billing account of the same customer
 * (else ignored: tenant_not_managed, customer_id_mismatch); a flag or suspension from a
 * subscription that is not the account's current one is ignored; a tenant suspended,
 * rejected or requested by hand (its state differs from the one billing last set) keeps its
 * state. */
billing_decision_t billing_decide(const billing_decide_in_t *in);

/* ---- registry.c: the tenant registry through its HTTP API ------------------------------ */

typedef struct billing_registry billing_registry_t;

/* status: the HTTP status (0 with err set when the registry could not be reached:
 * tenant_registry_failed); body: the parsed answer or NULL, valid during the call. */
typedef void (*billing_registry_cb)(void *arg, int status, json_t *body, const lw_err_t *err);

int billing_registry_start(billing_t *b, lw_err_t *err);
/* Cancels what is in flight (callbacks run with an error), then done(arg). */
void billing_registry_stop(billing_t *b, void (*done)(void *arg), void *arg);
/* `method` path (e.g. "/api/v3/tenants/acme") with body (serialised at once; NULL: none),
 * Authorization: TenantAdminKey tbs.tenant-admin-key. Returns 0 (cb exactly once, later), or
 * -1 with err and no callback. */
int billing_registry_send(billing_t *b, const char *method, const char *path, json_t *body,
                          billing_registry_cb cb, void *arg, lw_err_t *err);
/* The same with the caller's own Authorization value and X-Tenant-ID (NULL: none). */
int billing_registry_send_as(billing_t *b, const char *method, const char *path,
                             const char *authorization, const char *tenant_id, json_t *body,
                             billing_registry_cb cb, void *arg, lw_err_t *err);
/* PUT /api/v3/tenants/{id}: the state (NULL: kept) with its description, and every limit
 * (NULL: kept; TN_UNLIMITED: null). */
int billing_registry_update(billing_t *b, const char *tenant_id, const tn_state_t *state,
                            const char *state_description, const int64_t *limits,
                            billing_registry_cb cb, void *arg, lw_err_t *err);
/* POST /api/v3/tenants: an approved tenant with the limits, and initial_user (the Identity
 * Server's creation hook; NULL: none; reference not taken). */
int billing_registry_create(billing_t *b, const char *tenant_id, const char *name,
                            const char *description, const int64_t *limits, json_t *initial_user,
                            billing_registry_cb cb, void *arg, lw_err_t *err);
/* err (tenant_registry_failed, attribute reason = the registry's error name) from a 4xx/5xx
 * answer. */
void billing_registry_error(int status, json_t *body, lw_err_t *err);

/* ---- webhook.c: POST /api/v3/tbs/stripe --------------------------------------------------- */

typedef struct billing_webhook billing_webhook_t;
/* Registers the route and the metrics (at init). */
int billing_webhook_init(billing_t *b, lw_err_t *err);
void billing_webhook_free(billing_t *b);

/* ---- plans.c: plans from configuration and the operator API ------------------------------ */

/* The action a meter is reported with by default: `set` for the registered counts
 * (end_devices, gateways, applications), `increment` for traffic (uplinks, downlinks,
 * join_accepts, active_end_devices). */
const char *billing_meter_default_action(const char *meter);
/* True for a meter billing knows. */
bool billing_meter_known(const char *meter);

typedef struct billing_plans billing_plans_t;
/* Reads the plan lists and tbs.plans.* (config_invalid naming the key on a bad one). */
int billing_plans_init(billing_t *b, const lw_config_t *cfg, lw_err_t *err);
/* Writes the configured plans to billing_plans (async, tried again every second until it
 * succeeds; billing_plans_ready once done). */
int billing_plans_start(billing_t *b, lw_err_t *err);
void billing_plans_stop(billing_t *b);
bool billing_plans_ready(const billing_t *b);
void billing_plans_free(billing_t *b);
/* Registers the operator's plan routes (api.c). */
int billing_plans_routes(billing_t *b, lw_err_t *err);

/* ---- grace.c: flagged for tbs.grace-period, then suspended ------------------------------- */

typedef struct billing_grace billing_grace_t;
int billing_grace_start(billing_t *b, lw_err_t *err);
void billing_grace_stop(billing_t *b);

/* ---- api.c: the tenant's and the operator's billing APIs --------------------------------- */

typedef struct billing_api billing_api_t;
/* Registers the routes of api.c and plans.c (at init). */
int billing_api_init(billing_t *b, lw_err_t *err);

/* Who may read tenant_id's billing (its plan, limits, state; the meter helper's usage):
 * `TenantAdminKey` (any tenant), or a credential of the tenant itself (Bearer API key or
 * access token, X-Tenant-ID or host naming tenant_id) whose holder is an admin of the tenant
 * (the Identity Server's GET /api/v3/auth_info: is_admin). cb(arg, NULL) when allowed, else
 * cb(arg, err) with unauthenticated / no_admin (the IS's names) / tenant_not_active / ...;
 * exactly once, later. Returns 0 when allowed at once (a valid TenantAdminKey; no callback),
 * 1 when cb follows, or -1 with err (no callback). */
typedef void (*billing_authorize_cb)(void *arg, const lw_err_t *err);
int billing_authorize_tenant(billing_t *b, lw_http_req_t *req, const char *tenant_id,
                             billing_authorize_cb cb, void *arg, lw_err_t *err);

#endif
