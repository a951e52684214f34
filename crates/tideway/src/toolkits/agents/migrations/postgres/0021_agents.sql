-- The agents toolkit: tenants' agent definitions (every version kept), runs with the
-- definition they pinned and the principal that started them, and each run's
-- events (model turns, tool calls and their results) in order. Kept in step with
-- ../sqlite/0021_agents.sql. Times are milliseconds since the Unix epoch.
CREATE TABLE agent_definitions (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL,
    version    BIGINT NOT NULL,
    definition TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name, version)
);

CREATE TABLE agent_runs (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    agent         TEXT NOT NULL,
    agent_version BIGINT NOT NULL,
    definition    TEXT NOT NULL,
    task          TEXT NOT NULL,
    chain         TEXT NOT NULL,
    priority      BIGINT NOT NULL,
    status        TEXT NOT NULL,
    starter       TEXT NOT NULL,
    started_by    TEXT NOT NULL,
    call_id       TEXT,
    steps         BIGINT NOT NULL DEFAULT 0,
    input_tokens  BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    answer        TEXT,
    output        TEXT,
    error         TEXT,
    created_at    BIGINT NOT NULL,
    started_at    BIGINT,
    finished_at   BIGINT
);
-- Load per agent (runs queued or running) and the queue's order.
CREATE INDEX agent_runs_by_agent ON agent_runs (tenant_id, agent, status, priority, created_at);
CREATE INDEX agent_runs_by_time ON agent_runs (tenant_id, created_at);

CREATE TABLE agent_run_events (
    run_id TEXT NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
    seq    BIGINT NOT NULL,
    kind   TEXT NOT NULL,
    body   TEXT NOT NULL,
    at     BIGINT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
