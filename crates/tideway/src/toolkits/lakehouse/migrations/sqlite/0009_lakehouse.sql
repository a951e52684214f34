-- Lakehouse lineage. Kept in step with ../postgres/0009_lakehouse.sql.
-- One row per run that wrote a lakehouse table (a sync, an upload, a transform, a
-- Gold table): the table written (`layer.name`), what it read (JSON array: source
-- tables as `datasource://{id}/{table}`, files as `file://{name}`, lakehouse tables as
-- `layer.name`), how (JSON), the outcome, rows and the Delta version it made.
CREATE TABLE lake_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    target        TEXT NOT NULL,
    kind          TEXT NOT NULL,
    sources       TEXT NOT NULL,
    detail        TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    error         TEXT,
    rows_written  BIGINT NOT NULL,
    table_version BIGINT,
    principal     TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT NOT NULL
);
CREATE INDEX lake_runs_by_target ON lake_runs (tenant_id, target, id);
