-- The cloud toolkit's accounts a tenant's admin stores. Kept in step with
-- ../postgres/0015_cloud_accounts.sql. `secret` is the secret access key sealed with
-- AES-256-GCM under the master key; `buckets`, `functions` and `parameters` are JSON
-- arrays of name patterns (empty: no restriction).
CREATE TABLE cloud_accounts (
    tenant_id          TEXT NOT NULL REFERENCES tenants (id),
    name               TEXT NOT NULL,
    kind               TEXT NOT NULL,
    region             TEXT NOT NULL,
    endpoint           TEXT,
    access_key_id      TEXT,
    secret             TEXT,
    use_provider_chain BOOLEAN NOT NULL DEFAULT FALSE,
    buckets            TEXT NOT NULL,
    functions          TEXT NOT NULL,
    parameters         TEXT NOT NULL,
    description        TEXT,
    created_by         TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
