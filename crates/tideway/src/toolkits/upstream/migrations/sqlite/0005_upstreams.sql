-- MCP servers federated at runtime (REST, CLI). Kept in step with ../postgres/0005_upstreams.sql.
-- Upstreams declared in the configuration file are not stored here. `spec` is the
-- JSON definition without secret values; `secret` is the child's environment, the
-- HTTP headers and the bearer token, sealed with AES-256-GCM under the master key.
CREATE TABLE upstreams (
    name       TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,
    secret     TEXT,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- The last catalog each upstream served (tools, prompts, resource templates), so a
-- lazily started upstream is listed before its process runs.
CREATE TABLE upstream_catalogs (
    name       TEXT PRIMARY KEY,
    catalog    TEXT NOT NULL,
    fetched_at TEXT NOT NULL
);
