-- The messaging toolkit's Kafka clusters a tenant's admin stores. Kept in step with
-- ../sqlite/0019_messaging_clusters.sql. `secret` is the SASL password sealed with
-- AES-256-GCM under the master key; `topics` is a JSON array of name patterns
-- (empty: no restriction).
CREATE TABLE messaging_clusters (
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    name           TEXT NOT NULL,
    bootstrap      TEXT NOT NULL,
    security       TEXT NOT NULL,
    sasl_mechanism TEXT,
    username       TEXT,
    secret         TEXT,
    ca_pem         TEXT,
    client_id      TEXT,
    topics         TEXT NOT NULL,
    description    TEXT,
    created_by     TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
