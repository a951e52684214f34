-- The automation toolkit: schedules, inbound webhooks, notification channels, the
-- firings that started runs, and outbound deliveries. Kept in step with
-- ../sqlite/0018_automation.sql. Times are milliseconds since the Unix epoch,
-- compared in SQL on both stores. `principal` is the principal that made a schedule
-- or webhook (JSON): what it starts acts as that principal. `secret` columns are
-- sealed with AES-256-GCM under the master key.
CREATE TABLE automation_schedules (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    timing      TEXT NOT NULL,
    target      TEXT NOT NULL,
    misfire     TEXT NOT NULL,
    paused      BOOLEAN NOT NULL DEFAULT FALSE,
    next_due_ms BIGINT,
    principal   TEXT NOT NULL,
    description TEXT,
    created_by  TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
CREATE INDEX automation_schedules_due ON automation_schedules (paused, next_due_ms);

CREATE TABLE automation_webhooks (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    token       TEXT NOT NULL UNIQUE,
    target      TEXT NOT NULL,
    signing     TEXT NOT NULL,
    secret      TEXT,
    principal   TEXT NOT NULL,
    description TEXT,
    created_by  TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- One row per start a schedule or webhook made (or will make: `pending` until the
-- run is recorded). `start_key` is also the run's start key, so a firing retried
-- after a crash, or a delivery made twice, starts one run; `fingerprint` is a
-- delivery's signature, so a replay under another delivery id is found too.
CREATE TABLE automation_firings (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    start_key    TEXT NOT NULL,
    source       TEXT NOT NULL,
    name         TEXT NOT NULL,
    due_ms       BIGINT NOT NULL,
    status       TEXT NOT NULL,
    fingerprint  TEXT,
    execution_id TEXT,
    error        TEXT,
    attempts     BIGINT NOT NULL DEFAULT 0,
    created_ms   BIGINT NOT NULL,
    started_ms   BIGINT,
    PRIMARY KEY (tenant_id, start_key)
);
CREATE INDEX automation_firings_fingerprint ON automation_firings (tenant_id, name, fingerprint);
CREATE INDEX automation_firings_pending ON automation_firings (status, created_ms);
CREATE INDEX automation_firings_by ON automation_firings (tenant_id, source, name, due_ms);

CREATE TABLE automation_channels (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    shown_url   TEXT NOT NULL,
    secret      TEXT NOT NULL,
    description TEXT,
    created_by  TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- The outbox: a notification is recorded here before `notify` answers, and the
-- background loop delivers it with retries and backoff, under a lease.
CREATE TABLE automation_deliveries (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    channel      TEXT NOT NULL,
    payload      TEXT NOT NULL,
    status       TEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    due_ms       BIGINT NOT NULL,
    lease_owner  TEXT,
    lease_ms     BIGINT,
    last_status  BIGINT,
    last_error   TEXT,
    created_ms   BIGINT NOT NULL,
    finished_ms  BIGINT
);
CREATE INDEX automation_deliveries_due ON automation_deliveries (status, due_ms);
CREATE INDEX automation_deliveries_tenant ON automation_deliveries (tenant_id, created_ms);
