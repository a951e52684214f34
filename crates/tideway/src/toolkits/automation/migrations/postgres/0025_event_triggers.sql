-- Event triggers: a tenant's rules that start a workflow or tool on a change on the
-- support desk. Kept in step with ../sqlite/0025_event_triggers.sql. `cursor` is
-- where the trigger is in the desk's change feed; `lease_owner` and `lease_ms` mark
-- the server reading on from it, until that time (milliseconds since the epoch).
-- `principal` is the principal that made it (JSON): what it starts acts as that
-- principal.
CREATE TABLE automation_event_triggers (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    name         TEXT NOT NULL,
    event        TEXT NOT NULL,
    condition    TEXT,
    target       TEXT NOT NULL,
    principal    TEXT NOT NULL,
    cursor       TEXT NOT NULL,
    paused       BOOLEAN NOT NULL DEFAULT FALSE,
    lease_owner  TEXT,
    lease_ms     BIGINT,
    last_read_ms BIGINT,
    last_error   TEXT,
    description  TEXT,
    created_by   TEXT NOT NULL,
    created_ms   BIGINT NOT NULL,
    updated_ms   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
CREATE INDEX automation_event_triggers_due ON automation_event_triggers (paused, last_read_ms);
