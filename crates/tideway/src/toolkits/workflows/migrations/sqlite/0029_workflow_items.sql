-- The items of a `for_each` step that finished, each with its output, kept as they
-- finish so that a step run again (a retry, a server taking it over after another
-- stopped, a person retrying the run) calls only the items that did not. An item
-- is known by its position and a digest of its value: one whose value changed
-- since is called again. The rows go when their step succeeds, as its output then
-- holds every item's. Kept in step with ../postgres/0029_workflow_items.sql.
CREATE TABLE workflow_items (
    execution_id TEXT NOT NULL REFERENCES workflow_executions (id) ON DELETE CASCADE,
    step_id      TEXT NOT NULL,
    item_index   INTEGER NOT NULL,
    item_digest  TEXT NOT NULL,
    output       TEXT NOT NULL,
    finished_at  TEXT NOT NULL,
    PRIMARY KEY (execution_id, step_id, item_index)
);
