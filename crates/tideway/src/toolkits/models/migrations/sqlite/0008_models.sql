-- Language models. Kept in step with ../postgres/0008_models.sql.
-- Providers a tenant's admin registers; `secret` is the API key sealed with
-- AES-256-GCM under the master key. The one marked `is_default` is the tenant's model.
CREATE TABLE model_providers (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    base_url   TEXT,
    model      TEXT NOT NULL,
    max_tokens BIGINT NOT NULL,
    stream     BOOLEAN NOT NULL,
    secret     TEXT,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- Every generation: what was asked (JSON: system, messages, tools), what came back
-- (JSON), the tokens, the time it took, and who asked.
CREATE TABLE model_generations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    principal  TEXT NOT NULL,
    face       TEXT NOT NULL,
    provider   TEXT NOT NULL,
    model      TEXT,
    request    TEXT NOT NULL,
    response   TEXT,
    outcome    TEXT NOT NULL,
    error      TEXT,
    tokens_in  BIGINT,
    tokens_out BIGINT,
    latency_ms REAL NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX model_generations_by_tenant ON model_generations (tenant_id, created_at);
