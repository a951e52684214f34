-- Database sources a tenant registers. Kept in step with ../sqlite/0004_sources.sql.
-- `settings` is JSON (host, port, database, user, ssl mode, path) and never holds the
-- password; `secret` is the password sealed with AES-256-GCM under the master key.
CREATE TABLE sources (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    settings   TEXT NOT NULL,
    secret     TEXT,
    read_write BOOLEAN NOT NULL DEFAULT FALSE,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
