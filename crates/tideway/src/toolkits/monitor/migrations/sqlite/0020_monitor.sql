-- The monitor: samples at three resolutions, component state transitions, alert
-- rules, alerts with their history, and silences. Kept in step with
-- ../postgres/0020_monitor.sql. Times are milliseconds since the Unix epoch.

-- One row per metric, subject and period. Raw rows (resolution 0) are single
-- samples; rollups (60 and 3600 seconds) hold the mean, least and greatest of the
-- period's samples and how many there were. Each server writes its own (`replica`).
-- The key leads with what a report asks for (a server's metric at a resolution over
-- a time range), and the table is clustered on it, so a report reads
-- neighbouring rows.
CREATE TABLE monitor_samples (
    replica    TEXT NOT NULL,
    metric     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    resolution BIGINT NOT NULL,
    at_ms      BIGINT NOT NULL,
    value      REAL NOT NULL,
    min_value  REAL NOT NULL,
    max_value  REAL NOT NULL,
    count      BIGINT NOT NULL,
    PRIMARY KEY (replica, metric, resolution, at_ms, subject)
) WITHOUT ROWID;
-- Rollups, deletions and the latest values go by resolution and time.
CREATE INDEX monitor_samples_age ON monitor_samples (resolution, at_ms);

-- How far each server has rolled its samples up, per resolution.
CREATE TABLE monitor_rollups (
    replica    TEXT NOT NULL,
    resolution BIGINT NOT NULL,
    done_ms    BIGINT NOT NULL,
    PRIMARY KEY (replica, resolution)
);

-- A component's state as one server saw it change: availability is read from these.
CREATE TABLE monitor_transitions (
    replica    TEXT NOT NULL,
    component  TEXT NOT NULL,
    at_ms      BIGINT NOT NULL,
    status     TEXT NOT NULL,
    detail     TEXT,
    PRIMARY KEY (replica, component, at_ms)
);

CREATE TABLE monitor_rules (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL,
    definition TEXT NOT NULL,
    principal  TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- Tenants given the default rules once, so a rule an admin deleted stays deleted.
CREATE TABLE monitor_defaults (
    tenant_id    TEXT PRIMARY KEY REFERENCES tenants (id),
    installed_ms BIGINT NOT NULL
);

-- `open_key` is set while an alert fires and cleared when it resolves: one open
-- alert per tenant, rule and subject however many servers evaluate the rule.
CREATE TABLE monitor_alerts (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    rule            TEXT NOT NULL,
    subject         TEXT NOT NULL,
    metric          TEXT NOT NULL,
    severity        TEXT NOT NULL,
    status          TEXT NOT NULL,
    open_key        TEXT UNIQUE,
    value           REAL NOT NULL,
    threshold       REAL NOT NULL,
    summary         TEXT NOT NULL,
    started_ms      BIGINT NOT NULL,
    acknowledged_by TEXT,
    acknowledged_ms BIGINT,
    resolved_by     TEXT,
    resolved_ms     BIGINT
);
CREATE INDEX monitor_alerts_tenant ON monitor_alerts (tenant_id, started_ms);

-- `id` keeps the order events happened in: a fire is recorded with the time its
-- condition began, after events of that time may already exist.
CREATE TABLE monitor_alert_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id  TEXT NOT NULL REFERENCES monitor_alerts (id) ON DELETE CASCADE,
    at_ms     BIGINT NOT NULL,
    event     TEXT NOT NULL,
    actor     TEXT,
    value     REAL,
    notified  TEXT
);
CREATE INDEX monitor_alert_events_alert ON monitor_alert_events (alert_id, id);

-- While a silence lasts, transitions of the alerts it matches are recorded but not
-- notified. No rule or subject matches every one.
CREATE TABLE monitor_silences (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    rule       TEXT,
    subject    TEXT,
    ends_ms    BIGINT NOT NULL,
    comment    TEXT,
    created_by TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX monitor_silences_tenant ON monitor_silences (tenant_id, ends_ms);
