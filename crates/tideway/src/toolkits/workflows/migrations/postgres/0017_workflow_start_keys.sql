-- A key a starter may give a run so that starting it again (a retried request, a
-- schedule firing retried after a crash, a webhook delivered twice) finds the run
-- instead of starting another. Unique per tenant; runs without one are unaffected.
-- Kept in step with ../sqlite/0017_workflow_start_keys.sql.
ALTER TABLE workflow_executions ADD COLUMN start_key TEXT;
CREATE UNIQUE INDEX workflow_executions_start_key ON workflow_executions (tenant_id, start_key);
