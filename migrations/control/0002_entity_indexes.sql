-- Deployment-wide unique indexes of the Identity Server (tts-features.md §15.7, §16): a
-- gateway EUI, and a (JoinEUI, DevEUI) pair, belong to at most one tenant. Rows are written
-- in the same transaction as the tenant's own rows; they go with their tenant.
CREATE TABLE lw_control.gateway_euis (
    eui        text PRIMARY KEY, -- 16 uppercase hex digits
    tenant_id  text NOT NULL REFERENCES lw_control.tenants (tenant_id) ON DELETE CASCADE,
    gateway_id text NOT NULL
);
CREATE INDEX gateway_euis_tenant_idx ON lw_control.gateway_euis (tenant_id);

CREATE TABLE lw_control.end_device_euis (
    join_eui       text NOT NULL,
    dev_eui        text NOT NULL,
    tenant_id      text NOT NULL REFERENCES lw_control.tenants (tenant_id) ON DELETE CASCADE,
    application_id text NOT NULL,
    device_id      text NOT NULL,
    PRIMARY KEY (join_eui, dev_eui)
);
CREATE INDEX end_device_euis_tenant_idx ON lw_control.end_device_euis (tenant_id);
