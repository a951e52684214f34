-- The workflows toolkit: tenants' saved templates (every version kept), executions
-- with the template version they pinned and the principal that started them, one
-- row per step with its status and lease, and one row per step attempt. Kept in step
-- with ../postgres/0012_workflows.sql. Due times and leases are milliseconds since
-- the Unix epoch, compared in SQL on both stores.
CREATE TABLE workflow_templates (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    id         TEXT NOT NULL,
    version    INTEGER NOT NULL,
    definition TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id, version)
);

CREATE TABLE workflow_executions (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    template_id      TEXT NOT NULL,
    template_version INTEGER NOT NULL,
    definition       TEXT NOT NULL,
    input            TEXT NOT NULL,
    status           TEXT NOT NULL,
    starter          TEXT NOT NULL,
    started_by       TEXT NOT NULL,
    error            TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    finished_at      TEXT
);
CREATE INDEX workflow_executions_tenant ON workflow_executions (tenant_id, created_at);

CREATE TABLE workflow_steps (
    execution_id TEXT NOT NULL REFERENCES workflow_executions (id) ON DELETE CASCADE,
    step_id      TEXT NOT NULL,
    position     INTEGER NOT NULL,
    status       TEXT NOT NULL,
    attempt      INTEGER NOT NULL DEFAULT 0,
    due_ms       INTEGER NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_ms     INTEGER,
    output       TEXT,
    error        TEXT,
    started_at   TEXT,
    finished_at  TEXT,
    PRIMARY KEY (execution_id, step_id)
);
CREATE INDEX workflow_steps_due ON workflow_steps (status, due_ms);

CREATE TABLE workflow_attempts (
    execution_id TEXT NOT NULL REFERENCES workflow_executions (id) ON DELETE CASCADE,
    step_id      TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    status       TEXT NOT NULL,
    owner        TEXT NOT NULL,
    error        TEXT,
    started_at   TEXT,
    finished_at  TEXT NOT NULL,
    PRIMARY KEY (execution_id, step_id, attempt)
);
