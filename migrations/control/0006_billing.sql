-- The Tenant Billing Server's tables (billing/, issue 11). A tenant's billing linkage is kept
-- here rather than on the tenant row: the tenant module does not know billing.

-- One row per tenant billing manages: its Stripe customer, subscription and plan, and the
-- tenant state billing last set (so that a state set by hand is told apart: billing never
-- reactivates a tenant whose current state differs from billing_state).
CREATE TABLE lw_control.billing_accounts (
    tenant_id text PRIMARY KEY,
    backend text NOT NULL,
    customer_id text,
    subscription_id text,
    subscription_status text,
    plan_id text,
    billing_state text,
    flagged_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX billing_accounts_customer ON lw_control.billing_accounts (customer_id);
CREATE INDEX billing_accounts_flagged ON lw_control.billing_accounts (flagged_at)
    WHERE flagged_at IS NOT NULL;

-- The items of managed subscriptions: what each metered item reports (meter, action).
CREATE TABLE lw_control.billing_subscription_items (
    item_id text PRIMARY KEY,
    tenant_id text NOT NULL,
    subscription_id text NOT NULL,
    price_id text NOT NULL,
    meter text,
    action text CHECK (action IN ('set', 'increment')),
    meter_event_name text,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX billing_subscription_items_tenant ON lw_control.billing_subscription_items (tenant_id);

-- Every webhook event handled (or ignored), by Stripe's event ID: a replayed ID changes
-- nothing.
CREATE TABLE lw_control.billing_events (
    event_id text PRIMARY KEY,
    type text NOT NULL,
    created timestamptz,
    received_at timestamptz NOT NULL DEFAULT now(),
    tenant_id text,
    outcome text NOT NULL,
    reason text
);

CREATE TABLE lw_control.billing_invoices (
    invoice_id text PRIMARY KEY,
    tenant_id text,
    customer_id text,
    subscription_id text,
    status text,
    amount_due bigint,
    amount_paid bigint,
    currency text,
    attempt_count int,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The plans billing manages (billing_private.h, "Plans"): a Stripe price or plan ID, its
-- kind, what a metered one bills, and limits overriding the Stripe plan's metadata max-*
-- (JSON {"max_end_devices":"100","max_gateways":null,...}; a key absent: the metadata's).
CREATE TABLE lw_control.billing_plans (
    plan_id text PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('recurring', 'metered')),
    name text NOT NULL DEFAULT '',
    meter text,
    action text CHECK (action IN ('set', 'increment')),
    meter_event_name text,
    limits jsonb NOT NULL DEFAULT '{}'::jsonb,
    source text NOT NULL CHECK (source IN ('config', 'api')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
