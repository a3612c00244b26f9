-- Metered usage (billing/ledger.c, issue 11 item 4): the ledger the Tenant Billing Server
-- keeps from lw.usage. Every batch is applied in one transaction together with the Kafka
-- offset after it (usage_offsets) and its id (usage_batches), so a crash or restart never
-- counts a batch twice or drops it.

-- The counters per tenant, period and meter. Meters: uplinks, downlinks, join_accepts,
-- active_end_devices (distinct devices with traffic in the period), end_devices, gateways,
-- applications (registered, snapshotted when the period is closed). Final once the period's
-- usage_periods.closed_at is set.
CREATE TABLE lw_control.usage_ledger (
    tenant_id text NOT NULL,
    period_start timestamptz NOT NULL,
    meter text NOT NULL,
    value bigint NOT NULL,
    PRIMARY KEY (tenant_id, period_start, meter)
);

-- The distinct devices ("<application_id>/<device_id>") with traffic in an open period;
-- pruned once the period is closed (its count stays in usage_ledger).
CREATE TABLE lw_control.usage_active (
    tenant_id text NOT NULL,
    period_start timestamptz NOT NULL,
    device text NOT NULL,
    PRIMARY KEY (tenant_id, period_start, device)
);

-- A tenant's periods: open until closed_at (tbs.metering.close-delay after period_end).
CREATE TABLE lw_control.usage_periods (
    tenant_id text NOT NULL,
    period_start timestamptz NOT NULL,
    period_end timestamptz NOT NULL,
    closed_at timestamptz,
    PRIMARY KEY (tenant_id, period_start)
);
CREATE INDEX usage_periods_open ON lw_control.usage_periods (period_end) WHERE closed_at IS NULL;

-- The next offset to apply per consumer group and partition, written in the same
-- transaction as the counters it produced. The ledger starts each partition here (Kafka's
-- committed offsets are informational).
CREATE TABLE lw_control.usage_offsets (
    group_id text NOT NULL,
    topic text NOT NULL,
    partition int NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
);

-- The ids of applied batches (hex), so that a batch published twice (a producer's retry)
-- counts once. Rows older than a day go when a period of their tenant is closed.
CREATE TABLE lw_control.usage_batches (
    batch_id text PRIMARY KEY,
    tenant_id text NOT NULL,
    interval_start timestamptz NOT NULL,
    period_start timestamptz NOT NULL, -- the period it was added to
    late boolean NOT NULL DEFAULT false, -- added to the open period: its own was closed
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_batches_tenant ON lw_control.usage_batches (tenant_id, received_at);
