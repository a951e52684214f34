-- An upstream a tenant's admin added belongs to that tenant: only its principals see
-- it. NULL means every tenant may use it (those the operator adds). Kept in step with
-- ../postgres/0006_upstream_tenants.sql.
ALTER TABLE upstreams ADD COLUMN tenant_id TEXT REFERENCES tenants (id);
