-- Finds a run's unfinished steps without visiting its finished ones: after each step
-- ends, the engine asks whether any of the run's own steps is still unfinished, and
-- in a 1,000-step run most of them have finished.
-- Kept in step with ../postgres/0027_workflow_step_status.sql.
CREATE INDEX workflow_steps_run_status ON workflow_steps (execution_id, status);
