-- The fetch toolkit's named HTTP connections. Kept in step with
-- ../sqlite/0011_http_connections.sql. `secret` is the credential's header value
-- sealed with AES-256-GCM under the master key; `headers` is a JSON object of the
-- headers sent with every request (not secret).
CREATE TABLE http_connections (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    base_url    TEXT NOT NULL,
    auth_header TEXT,
    headers     TEXT NOT NULL,
    secret      TEXT,
    description TEXT,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
