-- API keys and the audit log. Kept in step with ../postgres/0003_security.sql.

-- A key is shown once at creation: `tw_{prefix}_{secret}`. Only the prefix (the
-- lookup handle) and the SHA-256 of the secret are kept.
CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    prefix        TEXT NOT NULL UNIQUE,
    secret_sha256 BLOB NOT NULL,
    rules         TEXT NOT NULL DEFAULT '{}',
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT,
    revoked_at    TEXT,
    last_used_at  TEXT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);

-- One row per tool call and per management action. No foreign key to tenants: the
-- log must accept a record even for a tenant that is being removed.
CREATE TABLE audit_log (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    at               TEXT NOT NULL,
    tenant_id        TEXT NOT NULL,
    principal        TEXT NOT NULL,
    face             TEXT NOT NULL,
    request_id       TEXT NOT NULL,
    toolkit          TEXT NOT NULL,
    tool             TEXT NOT NULL,
    arguments        TEXT NOT NULL,
    arguments_sha256 TEXT NOT NULL,
    outcome          TEXT NOT NULL,
    error_kind       TEXT,
    latency_ms       REAL NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);
CREATE INDEX audit_log_tenant_tool ON audit_log (tenant_id, toolkit, tool, id);
