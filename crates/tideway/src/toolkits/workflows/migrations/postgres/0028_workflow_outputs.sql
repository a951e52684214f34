-- Step outputs larger than the preview a step row keeps (`max_output_bytes`), kept
-- whole beside it, so that later steps, a background call's caller and a download
-- get every byte while listing a run's steps stays cheap. A step row's
-- `output_bytes` is the whole output's size when the whole is here; a row here
-- whose step says NULL is stale (the step ran again) and is never read.
-- Kept in step with ../sqlite/0028_workflow_outputs.sql.
CREATE TABLE workflow_outputs (
    execution_id TEXT NOT NULL REFERENCES workflow_executions (id) ON DELETE CASCADE,
    step_id      TEXT NOT NULL,
    output       TEXT NOT NULL,
    PRIMARY KEY (execution_id, step_id)
);
ALTER TABLE workflow_steps ADD COLUMN output_bytes BIGINT;
