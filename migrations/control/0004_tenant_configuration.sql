-- A tenant's configuration (The Things Stack Enterprise's Tenant.configuration,
-- tts-features.md §15.5): overrides of the deployment's settings for this tenant, as JSON in
-- the API's shape, e.g. {"default_cluster":{"is":{"user_registration":{"enabled":true,
-- "admin_approval":{"required":false}}}}}. A setting absent here is the deployment's.
ALTER TABLE lw_control.tenants ADD COLUMN configuration jsonb NOT NULL DEFAULT '{}'::jsonb;
