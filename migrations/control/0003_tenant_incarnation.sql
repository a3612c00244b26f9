-- A tenant's incarnation: one number per creation of a tenant ID, never reused (a sequence
-- hands out each value once, rolled-back creates included). A purged ID created again is a
-- new incarnation, so whatever was bound to the old one (cached credentials, tenant/tenant.h)
-- is told apart from the new tenant even though the ID and the schema name are the same.
-- Existing rows get distinct values when the column is added.
ALTER TABLE lw_control.tenants ADD COLUMN incarnation bigserial NOT NULL;
ALTER TABLE lw_control.tenants ADD CONSTRAINT tenants_incarnation_key UNIQUE (incarnation);
