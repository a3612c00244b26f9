-- Usage reports (billing/report.c, issue 11 item 5): one row per closed usage period and
-- metered subscription item, made once from the ledger and sent to the payment backend once.
-- The idempotency key is the same on every attempt and on `lwstack billing reconcile --fix`:
-- lw-usage-<tenant_id>-<item_id>-<meter>-<period_start unix seconds>.
-- state: pending (not sent yet: Stripe unreachable or rate-limiting, tried again from
-- next_attempt_at), sent, failed (refused or past the idempotency window; reconcile decides).
-- first_attempt_at (beyond tbs_contracts.md): when the key was first sent; Stripe keeps keys
-- 24 h, so a row still pending 23 h later is failed rather than resent under a key Stripe may
-- have forgotten.
CREATE TABLE lw_control.usage_reports (
    tenant_id text NOT NULL,
    period_start timestamptz NOT NULL,
    item_id text NOT NULL,
    meter text NOT NULL,
    quantity bigint NOT NULL,
    action text NOT NULL CHECK (action IN ('set', 'increment')),
    idempotency_key text NOT NULL UNIQUE,
    state text NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    last_error text,
    stripe_id text,
    sent_at timestamptz,
    first_attempt_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, period_start, item_id)
);
CREATE INDEX usage_reports_due ON lw_control.usage_reports (next_attempt_at)
    WHERE state = 'pending';
