-- The agents over A2A. Runs are grouped by conversation: the context a run belongs
-- to (A2A's contextId; a run started without one is its own, and older runs count
-- as their own). Remote A2A agents a tenant registers: the card fetched once and
-- kept, the endpoint read from it, and the credential sealed under the master key.
-- Kept in step with ../sqlite/0022_a2a.sql. Times are milliseconds since the epoch.
ALTER TABLE agent_runs ADD COLUMN context_id TEXT;
CREATE INDEX agent_runs_by_context ON agent_runs (tenant_id, context_id, created_at);

CREATE TABLE remote_agents (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    name            TEXT NOT NULL,
    card_url        TEXT NOT NULL,
    endpoint        TEXT NOT NULL,
    card            TEXT NOT NULL,
    credential_kind TEXT NOT NULL,
    credential_header TEXT,
    secret          TEXT,
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
