-- One row that readiness checks rewrite, so /ready fails when the store cannot write
-- (a full disk, a read-only file) and not only when it cannot answer a SELECT.
-- Kept in step with ../postgres/0014_store_probe.sql.
CREATE TABLE store_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    checked_at TEXT NOT NULL
);
