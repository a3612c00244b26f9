-- The tenant registry (DESIGN.md §4, The Things Stack's Tenant, tts-features.md §15.5).
-- States: 0 requested, 1 approved, 2 rejected, 3 flagged, 4 suspended.
-- Limits: NULL means unlimited.
CREATE TABLE lw_control.tenants (
    tenant_id text PRIMARY KEY
        CHECK (tenant_id ~ '^[a-z0-9](?:-?[a-z0-9]){2,}$' AND length(tenant_id) <= 36),
    name text NOT NULL DEFAULT '' CHECK (length(name) <= 50),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    attributes jsonb NOT NULL DEFAULT '{}'::jsonb,
    state smallint NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 4),
    state_description text NOT NULL DEFAULT '' CHECK (length(state_description) <= 128),
    max_applications bigint CHECK (max_applications >= 0),
    max_clients bigint CHECK (max_clients >= 0),
    max_end_devices bigint CHECK (max_end_devices >= 0),
    max_gateways bigint CHECK (max_gateways >= 0),
    max_organizations bigint CHECK (max_organizations >= 0),
    max_users bigint CHECK (max_users >= 0),
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    deleted_at timestamptz
);

CREATE INDEX tenants_created_at ON lw_control.tenants (created_at);
