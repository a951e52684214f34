-- Child runs: a workflow step starts another template as a run of its own, which
-- names the run and step waiting for it, so that its end completes that step in the
-- same transaction. Kept in step with ../postgres/0013_workflow_children.sql.
ALTER TABLE workflow_executions ADD COLUMN parent_id TEXT;
ALTER TABLE workflow_executions ADD COLUMN parent_step TEXT;
ALTER TABLE workflow_executions ADD COLUMN depth BIGINT NOT NULL DEFAULT 0;
CREATE INDEX workflow_executions_parent ON workflow_executions (parent_id);
